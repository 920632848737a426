//! The PersistentVolume binder (kube-controller-manager's persistentvolume-controller, 1.33):
//! binds Pending claims to the smallest matching Available volume (class, access modes,
//! capacity, selector, volume mode), sets `claimRef`/`volumeName` and the
//! `pv.kubernetes.io/bind-completed` and `bound-by-controller` annotations, keeps the phases
//! (Pending, Available, Bound, Released, Lost) as kubectl shows them, hands claims of classes
//! with a provisioner to that provisioner (`storage-provisioner` annotations, ExternalProvisioning
//! event), holds WaitForFirstConsumer claims until a pod using them is scheduled (and then, as
//! the scheduler's volume binder would, binds or selects the node), and reclaims released
//! volumes (Retain keeps them Released, Delete deletes them).

use crate::client::{Client, Reader};
use crate::controllers::daemonset::term_matches;
use crate::controllers::events::Recorder;
use crate::controllers::pods::selector_matches;
use crate::controllers::runtime::{self, Action, Context, ObjectKey, Queue};
use crate::registry::validation::Quantity;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::json;
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
pub const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
pub const ANN_STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
pub const ANN_BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
pub const ANN_DYNAMICALLY_PROVISIONED: &str = "pv.kubernetes.io/provisioned-by";
const ANN_BETA_CLASS: &str = "volume.beta.kubernetes.io/storage-class";
const COMPONENT: &str = "persistentvolume-controller";
/// The controller's periodic resync of unbound claims.
const RESYNC: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Client(#[from] crate::client::Error),
}

/// Runs until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    let ctl = match Controller::new(&ctx).await {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(error = %e, "persistentvolume controller cannot start");
            return;
        }
    };
    let c = ctl.clone();
    runtime::run("persistentvolume-binder", ctl.queue.clone(), 1, ctx.stop.clone(), move |key| {
        let c = c.clone();
        async move {
            match key.ns() {
                None => c.sync_volume(&key.name).await,
                Some(ns) => c.sync_claim(ns, &key.name).await,
            }
        }
    })
    .await;
}

struct Controller {
    client: Client,
    recorder: Recorder,
    queue: Queue,
    volumes: Reader<PersistentVolume>,
    claims: Reader<PersistentVolumeClaim>,
    classes: Reader<StorageClass>,
    pods: Reader<Pod>,
    nodes: Reader<Node>,
}

fn claim_key(c: &PersistentVolumeClaim) -> ObjectKey {
    ObjectKey::of(&c.metadata)
}

fn volume_key(name: &str) -> ObjectKey {
    ObjectKey::new(None, name)
}

fn ann<'a>(meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The claim's class: `spec.storageClassName`, else the beta annotation, else "".
pub fn claim_class(c: &PersistentVolumeClaim) -> String {
    if let Some(a) = ann(&c.metadata, ANN_BETA_CLASS) {
        return a.to_string();
    }
    c.spec.as_ref().and_then(|s| s.storage_class_name.clone()).unwrap_or_default()
}

/// The volume's class, likewise.
pub fn volume_class(v: &PersistentVolume) -> String {
    if let Some(a) = ann(&v.metadata, ANN_BETA_CLASS) {
        return a.to_string();
    }
    v.spec.as_ref().and_then(|s| s.storage_class_name.clone()).unwrap_or_default()
}

fn phase_of_volume(v: &PersistentVolume) -> &str {
    v.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn phase_of_claim(c: &PersistentVolumeClaim) -> &str {
    c.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// `IsVolumeBoundToClaim`: the volume's claimRef names the claim (and its uid, when set).
pub fn bound_to(v: &PersistentVolume, c: &PersistentVolumeClaim) -> bool {
    let Some(r) = v.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else { return false };
    r.name.as_deref() == c.metadata.name.as_deref()
        && r.namespace.as_deref() == c.metadata.namespace.as_deref()
        && r.uid.as_deref().is_none_or(|u| u.is_empty() || Some(u) == c.metadata.uid.as_deref())
}

fn storage_of(q: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>) -> Option<Quantity> {
    Quantity::parse(&q?.0).ok()
}

fn requested(c: &PersistentVolumeClaim) -> Option<Quantity> {
    storage_of(c.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?.get("storage"))
}

fn capacity(v: &PersistentVolume) -> Option<Quantity> {
    storage_of(v.spec.as_ref()?.capacity.as_ref()?.get("storage"))
}

fn node_affinity_fits(v: &PersistentVolume, node: &Node) -> bool {
    let Some(req) = v.spec.as_ref().and_then(|s| s.node_affinity.as_ref()).and_then(|a| a.required.as_ref()) else { return true };
    req.node_selector_terms.iter().any(|t| term_matches(t, node))
}

/// `findMatchingVolume`: a volume pre-bound to the claim wins; else the smallest Available
/// volume of the claim's class with enough capacity, the claim's access modes and volume mode,
/// and labels its selector matches. `node`: the scheduler's path for delayed binding (the
/// volume must fit the node); without it, delayed-binding claims only take pre-bound volumes.
pub fn find_match(
    claim: &PersistentVolumeClaim,
    volumes: &[Arc<PersistentVolume>],
    delay_binding: bool,
    node: Option<&Node>,
) -> Option<Arc<PersistentVolume>> {
    let spec = claim.spec.clone().unwrap_or_default();
    let want = requested(claim);
    let class = claim_class(claim);
    let claim_mode = spec.volume_mode.clone().unwrap_or_else(|| "Filesystem".into());
    let mut best: Option<(Arc<PersistentVolume>, Quantity)> = None;
    for v in volumes {
        let vs = v.spec.clone().unwrap_or_default();
        if vs.claim_ref.is_some() && !bound_to(v, claim) {
            continue;
        }
        let Some(have) = capacity(v) else { continue };
        if want.as_ref().is_some_and(|w| have.cmp_q(w) == Ordering::Less) {
            continue;
        }
        if vs.volume_mode.clone().unwrap_or_else(|| "Filesystem".into()) != claim_mode {
            continue;
        }
        if v.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let fits_node = node.is_none_or(|n| node_affinity_fits(v, n));
        if bound_to(v, claim) {
            return fits_node.then(|| v.clone());
        }
        if node.is_none() && delay_binding {
            continue;
        }
        if phase_of_volume(v) != "Available" {
            continue;
        }
        if let Some(sel) = &spec.selector {
            if !selector_matches(sel, v.metadata.labels.as_ref()) {
                continue;
            }
        }
        if volume_class(v) != class || !fits_node {
            continue;
        }
        let modes = vs.access_modes.clone().unwrap_or_default();
        if !spec.access_modes.iter().flatten().all(|m| modes.contains(m)) {
            continue;
        }
        if best.as_ref().is_none_or(|(_, q)| q.cmp_q(&have) == Ordering::Greater) {
            best = Some((v.clone(), have));
        }
    }
    best.map(|(v, _)| v)
}

/// The names of the pods in the claim's namespace that use it.
fn pods_using(pods: &Reader<Pod>, claim: &PersistentVolumeClaim) -> Vec<Arc<Pod>> {
    let ns = claim.metadata.namespace.as_deref();
    let name = claim.metadata.name.as_deref().unwrap_or("");
    let mut v: Vec<Arc<Pod>> = pods
        .list()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == ns && p.metadata.deletion_timestamp.is_none())
        .filter(|p| claims_of(p).any(|c| c == name))
        .collect();
    v.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    v
}

fn claims_of(p: &Pod) -> impl Iterator<Item = &str> {
    p.spec.iter().flat_map(|s| s.volumes.iter().flatten()).filter_map(|v| v.persistent_volume_claim.as_ref().map(|c| c.claim_name.as_str()))
}

impl Controller {
    async fn new(ctx: &Context) -> crate::client::Result<Controller> {
        let queue = Queue::new();
        let vols = ctx.informers.get::<PersistentVolume>()?;
        let claims = ctx.informers.get::<PersistentVolumeClaim>()?;
        let classes = ctx.informers.get::<StorageClass>()?;
        let pods = ctx.informers.get::<Pod>()?;
        runtime::enqueue_from(&vols, queue.clone(), ctx.stop.clone(), |v: &PersistentVolume| {
            let mut keys = vec![volume_key(v.metadata.name.as_deref().unwrap_or(""))];
            if let Some(r) = v.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
                keys.push(ObjectKey::new(r.namespace.as_deref(), r.name.as_deref().unwrap_or("")));
            }
            keys
        });
        runtime::enqueue_from(&claims, queue.clone(), ctx.stop.clone(), |c: &PersistentVolumeClaim| {
            let mut keys = vec![claim_key(c)];
            if let Some(v) = c.spec.as_ref().and_then(|s| s.volume_name.as_deref()).filter(|v| !v.is_empty()) {
                keys.push(volume_key(v));
            }
            keys
        });
        let claims_reader = claims.reader();
        runtime::enqueue_from(&classes, queue.clone(), ctx.stop.clone(), move |_c: &StorageClass| {
            claims_reader.list().iter().filter(|c| phase_of_claim(c) == "Pending").map(|c| claim_key(c)).collect()
        });
        // Scheduled pods release WaitForFirstConsumer claims.
        runtime::enqueue_from(&pods, queue.clone(), ctx.stop.clone(), |p: &Pod| {
            if p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_none_or(str::is_empty) {
                return vec![];
            }
            claims_of(p).map(|c| ObjectKey::new(p.metadata.namespace.as_deref(), c)).collect()
        });
        let ctl = Controller {
            client: ctx.client.clone(),
            recorder: ctx.recorder.for_component(COMPONENT, None),
            queue,
            volumes: ctx.informers.synced_reader::<PersistentVolume>().await?,
            claims: ctx.informers.synced_reader::<PersistentVolumeClaim>().await?,
            classes: ctx.informers.synced_reader::<StorageClass>().await?,
            pods: ctx.informers.synced_reader::<Pod>().await?,
            nodes: ctx.informers.synced_reader::<Node>().await?,
        };
        for v in ctl.volumes.list() {
            ctl.queue.add(volume_key(v.metadata.name.as_deref().unwrap_or("")));
        }
        for c in ctl.claims.list() {
            ctl.queue.add(claim_key(&c));
        }
        Ok(ctl)
    }

    #[tracing::instrument(skip(self))]
    async fn sync_claim(&self, ns: &str, name: &str) -> Result<Action, Error> {
        let Some(claim) = self.claims.get(Some(ns), name) else { return Ok(Action::Done) };
        if claim.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        if ann(&claim.metadata, ANN_BIND_COMPLETED).is_none() {
            self.sync_unbound_claim(&claim).await
        } else {
            self.sync_bound_claim(&claim).await?;
            Ok(Action::Done)
        }
    }

    async fn sync_unbound_claim(&self, claim: &PersistentVolumeClaim) -> Result<Action, Error> {
        let volume_name = claim.spec.as_ref().and_then(|s| s.volume_name.clone()).unwrap_or_default();
        if !volume_name.is_empty() {
            // Pre-bound to a named volume.
            let Some(volume) = self.volumes.get(None, &volume_name) else {
                self.claim_phase_with_event(claim, "Pending", None, "Normal", "FailedBinding", &format!("volume \"{volume_name}\" not found"))
                    .await?;
                return Ok(Action::RequeueAfter(RESYNC));
            };
            let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
            if claim_ref.is_none() || bound_to(&volume, claim) {
                if claim_ref.is_none() {
                    if let Some(err) = mismatch(&volume, claim) {
                        self.claim_phase_with_event(claim, "Pending", None, "Warning", "VolumeMismatch", &err).await?;
                        return Ok(Action::RequeueAfter(RESYNC));
                    }
                }
                self.bind(&volume, claim).await?;
                return Ok(Action::Done);
            }
            self.claim_phase_with_event(
                claim,
                "Pending",
                None,
                "Warning",
                "FailedBinding",
                &format!("volume \"{volume_name}\" already bound to a different claim."),
            )
            .await?;
            return Ok(Action::RequeueAfter(RESYNC));
        }

        let class_name = claim_class(claim);
        let class = (!class_name.is_empty()).then(|| self.classes.get(None, &class_name)).flatten();
        let delay = class.as_ref().is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"));
        let volumes = self.volumes.list();
        // The scheduler's side of delayed binding: once a pod using the claim is on a node, a
        // volume fitting that node is bound, else the node is selected for the provisioner.
        let users = if delay { pods_using(&self.pods, claim) } else { Vec::new() };
        let scheduled_node = users.iter().find_map(|p| p.spec.as_ref()?.node_name.clone().filter(|n| !n.is_empty()));
        let node = scheduled_node.as_deref().and_then(|n| self.nodes.get(None, n));
        if let Some(volume) = find_match(claim, &volumes, delay, node.as_deref()) {
            self.bind(&volume, claim).await?;
            return Ok(Action::Done);
        }
        let selected = ann(&claim.metadata, ANN_SELECTED_NODE).is_some();
        if delay && !selected {
            if let (Some(node), Some(class)) = (scheduled_node.as_deref(), class.as_ref()) {
                if class.provisioner != "kubernetes.io/no-provisioner" {
                    self.annotate_claim(claim, &[(ANN_SELECTED_NODE, node)]).await?;
                    return Ok(Action::Done);
                }
            }
            let unscheduled: Vec<String> = users
                .iter()
                .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_none_or(str::is_empty))
                .filter_map(|p| p.metadata.name.clone())
                .collect();
            let (reason, message) = match unscheduled.len() {
                0 => ("WaitForFirstConsumer", "waiting for first consumer to be created before binding".to_string()),
                1 => ("WaitForPodScheduled", format!("waiting for pod {} to be scheduled", unscheduled[0])),
                _ => ("WaitForPodScheduled", format!("waiting for pods {} to be scheduled", unscheduled.join(","))),
            };
            self.recorder.normal(claim, reason, message);
        } else if !class_name.is_empty() {
            self.provision(claim, &class_name, class.as_deref()).await?;
            return Ok(Action::RequeueAfter(RESYNC));
        } else {
            self.recorder.normal(claim, "FailedBinding", "no persistent volumes available for this claim and no storage class is set");
        }
        self.claim_status(claim, "Pending", None).await?;
        Ok(Action::RequeueAfter(RESYNC))
    }

    /// `provisionClaim`: an external provisioner is asked (through the claim's annotations) to
    /// create the volume; in-tree provisioners do not exist here.
    async fn provision(&self, claim: &PersistentVolumeClaim, class_name: &str, class: Option<&StorageClass>) -> Result<(), Error> {
        let Some(class) = class else {
            self.recorder.warning(claim, "ProvisioningFailed", format!("storageclass.storage.k8s.io \"{class_name}\" not found"));
            return Ok(());
        };
        let provisioner = class.provisioner.as_str();
        if provisioner.starts_with("kubernetes.io/") {
            self.recorder.warning(claim, "ProvisioningFailed", format!("no volume plugin matched name: {provisioner}"));
            return Ok(());
        }
        if ann(&claim.metadata, ANN_STORAGE_PROVISIONER) != Some(provisioner) || ann(&claim.metadata, ANN_BETA_STORAGE_PROVISIONER) != Some(provisioner) {
            self.annotate_claim(claim, &[(ANN_BETA_STORAGE_PROVISIONER, provisioner), (ANN_STORAGE_PROVISIONER, provisioner)]).await?;
        }
        self.recorder.normal(
            claim,
            "ExternalProvisioning",
            format!(
                "Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
            ),
        );
        Ok(())
    }

    async fn annotate_claim(&self, claim: &PersistentVolumeClaim, pairs: &[(&str, &str)]) -> Result<(), Error> {
        let ns = claim.metadata.namespace.clone().unwrap_or_default();
        let name = claim.metadata.name.clone().unwrap_or_default();
        let anns: serde_json::Map<String, serde_json::Value> = pairs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        match self.client.api::<PersistentVolumeClaim>(Some(&ns))?.patch_merge(&name, &json!({"metadata": {"annotations": anns}})).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn sync_bound_claim(&self, claim: &PersistentVolumeClaim) -> Result<(), Error> {
        let volume_name = claim.spec.as_ref().and_then(|s| s.volume_name.clone()).unwrap_or_default();
        if volume_name.is_empty() {
            return self
                .claim_phase_with_event(claim, "Lost", None, "Warning", "ClaimLost", "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
                .await;
        }
        let volume = match self.volumes.get(None, &volume_name) {
            Some(v) => v,
            None => match self.client.api::<PersistentVolume>(None)?.get_opt(&volume_name).await? {
                Some(v) => Arc::new(v),
                None => {
                    return self
                        .claim_phase_with_event(claim, "Lost", None, "Warning", "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
                        .await
                }
            },
        };
        let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        if claim_ref.is_none() || claim_ref.and_then(|r| r.uid.as_deref()) == claim.metadata.uid.as_deref() {
            return self.bind(&volume, claim).await;
        }
        self.claim_phase_with_event(claim, "Lost", None, "Warning", "ClaimMisbound", "Two claims are bound to the same volume, this one is bound incorrectly")
            .await
    }

    #[tracing::instrument(skip(self))]
    async fn sync_volume(&self, name: &str) -> Result<Action, Error> {
        let Some(volume) = self.volumes.get(None, name) else { return Ok(Action::Done) };
        let Some(claim_ref) = volume.spec.as_ref().and_then(|s| s.claim_ref.clone()) else {
            self.volume_phase(&volume, "Available").await?;
            return Ok(Action::Done);
        };
        if claim_ref.uid.as_deref().is_none_or(str::is_empty) {
            // Pre-bound by the user: the claim's sync binds it.
            self.volume_phase(&volume, "Available").await?;
            return Ok(Action::Done);
        }
        let ns = claim_ref.namespace.clone().unwrap_or_default();
        let claim_name = claim_ref.name.clone().unwrap_or_default();
        let mut claim = self.claims.get(Some(&ns), &claim_name);
        if claim.is_none() {
            // The cache may lag behind a claim created just now.
            claim = self.client.api::<PersistentVolumeClaim>(Some(&ns))?.get_opt(&claim_name).await?.map(Arc::new);
        }
        let claim = claim.filter(|c| c.metadata.uid == claim_ref.uid);
        let Some(claim) = claim else {
            if !matches!(phase_of_volume(&volume), "Released" | "Failed") {
                self.volume_phase(&volume, "Released").await?;
            }
            self.reclaim(&volume).await?;
            return Ok(Action::Done);
        };
        let claim_volume = claim.spec.as_ref().and_then(|s| s.volume_name.clone()).unwrap_or_default();
        if claim_volume.is_empty() {
            self.queue.add(claim_key(&claim));
        } else if claim_volume == name {
            self.volume_phase(&volume, "Bound").await?;
        } else {
            // Bound to a claim that is bound elsewhere.
            let dynamic = ann(&volume.metadata, ANN_DYNAMICALLY_PROVISIONED).is_some();
            let policy = volume.spec.as_ref().and_then(|s| s.persistent_volume_reclaim_policy.as_deref()).unwrap_or("Retain");
            if dynamic && policy == "Delete" {
                if !matches!(phase_of_volume(&volume), "Released" | "Failed") {
                    self.volume_phase(&volume, "Released").await?;
                }
                self.reclaim(&volume).await?;
            } else {
                self.unbind(&volume).await?;
            }
        }
        Ok(Action::Done)
    }

    /// `reclaimVolume`: Retain keeps a Released volume; Delete deletes it (volumes an external
    /// provisioner created are its to delete).
    async fn reclaim(&self, volume: &PersistentVolume) -> Result<(), Error> {
        let policy = volume.spec.as_ref().and_then(|s| s.persistent_volume_reclaim_policy.as_deref()).unwrap_or("Retain");
        if policy != "Delete" || volume.metadata.deletion_timestamp.is_some() {
            return Ok(());
        }
        if ann(&volume.metadata, ANN_DYNAMICALLY_PROVISIONED).is_some_and(|p| !p.starts_with("kubernetes.io/")) {
            return Ok(());
        }
        let name = volume.metadata.name.clone().unwrap_or_default();
        match self.client.api::<PersistentVolume>(None)?.delete(&name).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// `unbindVolume`: a volume the controller bound loses its claimRef; one the user pre-bound
    /// keeps the name but not the uid.
    async fn unbind(&self, volume: &PersistentVolume) -> Result<(), Error> {
        let name = volume.metadata.name.clone().unwrap_or_default();
        let patch = if ann(&volume.metadata, ANN_BOUND_BY_CONTROLLER).is_some() {
            json!({"metadata": {"annotations": {ANN_BOUND_BY_CONTROLLER: null}}, "spec": {"claimRef": null}})
        } else {
            json!({"spec": {"claimRef": {"uid": null}}})
        };
        let api = self.client.api::<PersistentVolume>(None)?;
        match api.patch_merge(&name, &patch).await {
            Ok(v) => {
                self.volume_phase(&v, "Available").await?;
                Ok(())
            }
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// `bind`: volume → claim (claimRef, bound-by-controller), volume Bound, claim → volume
    /// (volumeName, bind-completed, bound-by-controller), claim Bound with the volume's capacity.
    async fn bind(&self, volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> Result<(), Error> {
        let vname = volume.metadata.name.clone().unwrap_or_default();
        let ns = claim.metadata.namespace.clone().unwrap_or_default();
        let cname = claim.metadata.name.clone().unwrap_or_default();
        let vapi = self.client.api::<PersistentVolume>(None)?;
        let capi = self.client.api::<PersistentVolumeClaim>(Some(&ns))?;

        let claim_ref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        let ref_ok = claim_ref.is_some_and(|r| {
            r.name.as_deref() == Some(cname.as_str())
                && r.namespace.as_deref() == Some(ns.as_str())
                && r.uid.as_deref() == claim.metadata.uid.as_deref()
        });
        let mut volume = volume.clone();
        if !ref_ok {
            let mut patch = json!({"spec": {"claimRef": {
                "kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": ns, "name": cname,
                "uid": claim.metadata.uid, "resourceVersion": claim.metadata.resource_version,
            }}});
            if !bound_to(&volume, claim) {
                patch["metadata"] = json!({"annotations": {ANN_BOUND_BY_CONTROLLER: "yes"}});
            }
            match vapi.patch_merge(&vname, &patch).await {
                Ok(v) => volume = v,
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        self.volume_phase(&volume, "Bound").await?;

        let claim_volume = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()).unwrap_or("");
        let mut anns = serde_json::Map::new();
        if claim_volume != vname && ann(&claim.metadata, ANN_BOUND_BY_CONTROLLER).is_none() {
            anns.insert(ANN_BOUND_BY_CONTROLLER.into(), json!("yes"));
        }
        if ann(&claim.metadata, ANN_BIND_COMPLETED).is_none() {
            anns.insert(ANN_BIND_COMPLETED.into(), json!("yes"));
        }
        let mut claim = claim.clone();
        if claim_volume != vname || !anns.is_empty() {
            let patch = json!({"metadata": {"annotations": anns}, "spec": {"volumeName": vname}});
            match capi.patch_merge(&cname, &patch).await {
                Ok(c) => claim = c,
                Err(e) if e.is_not_found() => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
        self.claim_status(&claim, "Bound", Some(&volume)).await
    }

    async fn volume_phase(&self, volume: &PersistentVolume, phase: &str) -> Result<(), Error> {
        if phase_of_volume(volume) == phase {
            return Ok(());
        }
        let name = volume.metadata.name.clone().unwrap_or_default();
        let patch = json!({"status": {"phase": phase, "lastPhaseTransitionTime": crate::registry::generic::now_rfc3339()}});
        match self.client.api::<PersistentVolume>(None)?.patch_status(&name, &patch).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn claim_phase_with_event(
        &self,
        claim: &PersistentVolumeClaim,
        phase: &str,
        volume: Option<&PersistentVolume>,
        kind: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), Error> {
        if phase_of_claim(claim) == phase {
            return Ok(());
        }
        self.claim_status(claim, phase, volume).await?;
        if kind == "Warning" {
            self.recorder.warning(claim, reason, message);
        } else {
            self.recorder.normal(claim, reason, message);
        }
        Ok(())
    }

    /// `updateClaimStatus`: the phase, and the volume's access modes and capacity (or none).
    async fn claim_status(&self, claim: &PersistentVolumeClaim, phase: &str, volume: Option<&PersistentVolume>) -> Result<(), Error> {
        let st = claim.status.clone().unwrap_or_default();
        let (modes, cap) = match volume {
            Some(v) => (v.spec.as_ref().and_then(|s| s.access_modes.clone()), v.spec.as_ref().and_then(|s| s.capacity.clone())),
            None => (None, None),
        };
        if st.phase.as_deref() == Some(phase) && st.access_modes == modes && st.capacity == cap {
            return Ok(());
        }
        let ns = claim.metadata.namespace.clone().unwrap_or_default();
        let name = claim.metadata.name.clone().unwrap_or_default();
        let patch = json!({"status": {"phase": phase, "accessModes": modes, "capacity": cap}});
        match self.client.api::<PersistentVolumeClaim>(Some(&ns))?.patch_status(&name, &patch).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// `checkVolumeSatisfyClaim`: why a pre-bound volume cannot serve the claim.
fn mismatch(v: &PersistentVolume, c: &PersistentVolumeClaim) -> Option<String> {
    let vname = v.metadata.name.as_deref().unwrap_or("");
    if let (Some(want), Some(have)) = (requested(c), capacity(v)) {
        if have.cmp_q(&want) == Ordering::Less {
            return Some("requested PV is too small".into());
        }
    }
    if volume_class(v) != claim_class(c) {
        return Some("storageClassName does not match".into());
    }
    let cmode = c.spec.as_ref().and_then(|s| s.volume_mode.clone()).unwrap_or_else(|| "Filesystem".into());
    let vmode = v.spec.as_ref().and_then(|s| s.volume_mode.clone()).unwrap_or_else(|| "Filesystem".into());
    if cmode != vmode {
        return Some(format!("Cannot bind PersistentVolume to requested PersistentVolumeClaim {:?} due to incompatible volumeMode.", vname));
    }
    let modes = v.spec.as_ref().and_then(|s| s.access_modes.clone()).unwrap_or_default();
    if !c.spec.as_ref().and_then(|s| s.access_modes.clone()).unwrap_or_default().iter().all(|m| modes.contains(m)) {
        return Some("incompatible accessMode".into());
    }
    None
}

#[cfg(test)]
mod tests;
