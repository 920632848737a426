//! The StatefulSet controller, as kube-controller-manager 1.33 runs it: pods named
//! `<set>-<ordinal>` with a stable identity (hostname, subdomain, `statefulset.kubernetes.io/pod-name`
//! and `apps.kubernetes.io/pod-index` labels), created in order and only once the previous one is
//! Running and Ready (OrderedReady) or all at once (Parallel), removed from the highest ordinal;
//! a PersistentVolumeClaim per volumeClaimTemplate and ordinal, owned per the retention policy;
//! ControllerRevisions for rolling updates (highest ordinal first, down to the partition) and
//! OnDelete; the status `kubectl get` and `kubectl rollout status` read.

use crate::client::{Client, Reader};
use crate::controllers::events::Recorder;
use crate::controllers::history::{self, HASH_LABEL};
use crate::controllers::pods::{self, claim_pods, controller_of, controller_ref, is_ready, selector_matches};
use crate::controllers::runtime::{self, Action, Context, ObjectKey, Queue};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
const COMPONENT: &str = "statefulset-controller";

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
            tracing::error!(error = %e, "statefulset controller cannot start");
            return;
        }
    };
    let c = ctl.clone();
    runtime::run("statefulset", ctl.queue.clone(), 2, ctx.stop.clone(), move |key| {
        let c = c.clone();
        async move { c.reconcile(&key).await }
    })
    .await;
}

struct Controller {
    client: Client,
    recorder: Recorder,
    queue: Queue,
    sets: Reader<StatefulSet>,
    pods: Reader<Pod>,
    revisions: Reader<ControllerRevision>,
    claims: Reader<PersistentVolumeClaim>,
}

/// The keys of the sets a pod (or revision) concerns: its controller if that is a
/// StatefulSet, else (an orphan) every set in its namespace whose selector matches it.
fn owner_keys(meta: &ObjectMeta, sets: &Reader<StatefulSet>) -> Vec<ObjectKey> {
    match controller_of(meta) {
        Some(r) if r.kind == "StatefulSet" => vec![ObjectKey::new(meta.namespace.as_deref(), &r.name)],
        Some(_) => vec![],
        None => sets
            .list()
            .iter()
            .filter(|s| s.metadata.namespace == meta.namespace && selector_matches(&s.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default(), meta.labels.as_ref()))
            .filter(|s| !pods::is_empty_selector(&s.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default()))
            .map(|s| ObjectKey::of(&s.metadata))
            .collect(),
    }
}

impl Controller {
    async fn new(ctx: &Context) -> crate::client::Result<Controller> {
        let queue = Queue::new();
        let sets_inf = ctx.informers.get::<StatefulSet>()?;
        let pods_inf = ctx.informers.get::<Pod>()?;
        let revs_inf = ctx.informers.get::<ControllerRevision>()?;
        let sets = sets_inf.reader();
        runtime::enqueue_from(&sets_inf, queue.clone(), ctx.stop.clone(), runtime::self_key);
        let s = sets.clone();
        runtime::enqueue_from(&pods_inf, queue.clone(), ctx.stop.clone(), move |p: &Pod| owner_keys(&p.metadata, &s));
        runtime::enqueue_from(&revs_inf, queue.clone(), ctx.stop.clone(), |r: &ControllerRevision| match controller_of(&r.metadata) {
            Some(o) if o.kind == "StatefulSet" => vec![ObjectKey::new(r.metadata.namespace.as_deref(), &o.name)],
            _ => vec![],
        });
        let ctl = Controller {
            client: ctx.client.clone(),
            recorder: ctx.recorder.for_component(COMPONENT, None),
            queue,
            sets,
            pods: ctx.informers.synced_reader::<Pod>().await?,
            revisions: ctx.informers.synced_reader::<ControllerRevision>().await?,
            claims: ctx.informers.synced_reader::<PersistentVolumeClaim>().await?,
        };
        let mut r = ctl.sets.clone();
        r.wait_synced().await;
        for s in ctl.sets.list() {
            ctl.queue.add(ObjectKey::of(&s.metadata));
        }
        Ok(ctl)
    }

    #[tracing::instrument(skip(self), fields(namespace = key.ns().unwrap_or(""), name = %key.name))]
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, Error> {
        let Some(set) = self.sets.get(key.ns(), &key.name) else { return Ok(Action::Done) };
        let set = (*set).clone();
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let uid = set.metadata.uid.clone().unwrap_or_default();
        let spec = set.spec.clone().unwrap_or_default();
        let candidates: Vec<Arc<Pod>> = self
            .pods
            .list()
            .into_iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(ns.as_str()))
            .filter(|p| match controller_of(&p.metadata) {
                Some(r) => r.uid == uid,
                None => selector_matches(&spec.selector, p.metadata.labels.as_ref()),
            })
            .collect();
        let owned = claim_pods(&self.client, &set, &spec.selector, candidates).await?;
        if set.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }

        // Revisions: the update revision records the current template; the current revision is
        // the one the status names (the update revision when there is none).
        let mut revisions = history::owned(&self.revisions, &ns, &uid);
        let mut collision_count = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
        let data = history::template_patch(&spec.template);
        let next = history::next_revision(&revisions);
        let update_rev: ControllerRevision = match revisions.iter().rev().find(|r| history::same_data(r, &data)) {
            Some(r) if r.revision == next - 1 => (**r).clone(),
            Some(r) => history::update_revision(&self.client, r, next).await?,
            None => {
                let cr = history::new_revision(&set, spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref()), data.clone(), next);
                let bytes = history::data_bytes(&data);
                history::create(&self.client, set.metadata.name.as_deref().unwrap_or(""), cr, &mut collision_count, |c| {
                    history::hash_revision(&bytes, Some(c))
                })
                .await?
            }
        };
        let update_name = update_rev.metadata.name.clone().unwrap_or_default();
        if let Some(r) = revisions.iter_mut().find(|r| r.metadata.name == update_rev.metadata.name) {
            *r = Arc::new(update_rev.clone());
        } else {
            revisions.push(Arc::new(update_rev.clone()));
        }
        let status_current = set.status.as_ref().and_then(|s| s.current_revision.clone()).unwrap_or_default();
        let current_rev = revisions.iter().find(|r| r.metadata.name.as_deref() == Some(status_current.as_str())).cloned();
        let current_name = current_rev.as_ref().and_then(|r| r.metadata.name.clone()).unwrap_or_else(|| update_name.clone());
        let current_template = current_rev.as_deref().and_then(history::template_of).unwrap_or_else(|| spec.template.clone());

        // Plan and act.
        let set_name = set.metadata.name.clone().unwrap_or_default();
        let members: BTreeMap<i32, Arc<Pod>> =
            owned.into_iter().filter_map(|p| ordinal_of(&set_name, p.metadata.name.as_deref()?).map(|o| (o, p))).collect();
        let now = jiff::Timestamp::now();
        let params = Params::of(&set);
        let steps = plan(&params, &members, &current_name, &update_name, now);
        let mut status = compute_status(&params, &members, &current_name, &update_name, now);
        for step in &steps {
            match step {
                Step::Create { ordinal, update } => {
                    let (template, revision) =
                        if *update { (&spec.template, update_name.as_str()) } else { (&current_template, current_name.as_str()) };
                    let pod = new_pod(&set, template, *ordinal, revision);
                    self.create_claims(&set, &pod, &params).await?;
                    match self.client.api::<Pod>(Some(&ns))?.create(&pod).await {
                        Ok(_) => {
                            self.recorder.normal(
                                &set,
                                "SuccessfulCreate",
                                format!("create Pod {} in StatefulSet {set_name} successful", pod.metadata.name.as_deref().unwrap_or("")),
                            );
                            status.replicas += 1;
                            if revision == current_name {
                                status.current_replicas += 1;
                            }
                            if revision == update_name {
                                status.updated_replicas += 1;
                            }
                        }
                        Err(e) if e.code() == 409 => {}
                        Err(e) => {
                            self.recorder.warning(
                                &set,
                                "FailedCreate",
                                format!("create Pod {} in StatefulSet {set_name} failed error: {e}", pod.metadata.name.as_deref().unwrap_or("")),
                            );
                            return Err(e.into());
                        }
                    }
                }
                Step::Delete { ordinal, condemned } => {
                    let Some(pod) = members.get(ordinal) else { continue };
                    if *condemned {
                        self.sync_claim_owners(&set, pod, &params, false).await?;
                    }
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    match pods::phase(pod) {
                        "Failed" if !*condemned => self.recorder.warning(
                            &set,
                            "RecreatingFailedPod",
                            format!("StatefulSet {ns}/{set_name} is recreating failed Pod {name}"),
                        ),
                        "Succeeded" if !*condemned => self.recorder.normal(
                            &set,
                            "RecreatingTerminatedPod",
                            format!("StatefulSet {ns}/{set_name} is recreating terminated Pod {name}"),
                        ),
                        _ => {}
                    }
                    match self.client.api::<Pod>(Some(&ns))?.delete(&name).await {
                        Ok(_) => {
                            self.recorder.normal(&set, "SuccessfulDelete", format!("delete Pod {name} in StatefulSet {set_name} successful"));
                            if !*condemned && revision_of(pod) == current_name {
                                status.current_replicas -= 1;
                            }
                        }
                        Err(e) if e.is_not_found() => {}
                        Err(e) => {
                            self.recorder.warning(&set, "FailedDelete", format!("delete Pod {name} in StatefulSet {set_name} failed error: {e}"));
                            return Err(e.into());
                        }
                    }
                }
            }
        }
        // Pods waiting for their claims (created before a claim was deleted) get them back;
        // claims follow the retention policy (it may have changed).
        for (ordinal, pod) in &members {
            if pods::phase(pod) == "Pending" {
                self.create_claims(&set, pod, &params).await?;
            }
            if pod.metadata.deletion_timestamp.is_none() {
                let in_range = *ordinal >= params.start && *ordinal < params.start + params.replicas;
                self.sync_claim_owners(&set, pod, &params, in_range).await?;
            }
        }

        // A finished rolling update makes the update revision current.
        if params.rolling.is_some() && status.updated_replicas == status.replicas && status.ready_replicas == status.replicas {
            status.current_replicas = status.updated_replicas;
            status.current_revision = update_name.clone();
        } else {
            status.current_revision = current_name.clone();
        }
        status.update_revision = update_name.clone();
        status.collision_count = collision_count;
        status.observed_generation = set.metadata.generation.unwrap_or(0);
        self.write_status(&set, &status).await?;

        // Old revisions no pod uses are kept up to revisionHistoryLimit.
        let mut live: HashSet<String> = members.values().map(|p| revision_of(p).to_string()).collect();
        live.insert(status.current_revision.clone());
        live.insert(update_name.clone());
        history::sort(&mut revisions);
        history::truncate(&self.client, &revisions, &live, spec.revision_history_limit.unwrap_or(10)).await?;

        if params.min_ready_seconds > 0 && status.ready_replicas > status.available_replicas {
            return Ok(Action::RequeueAfter(Duration::from_secs(u64::try_from(params.min_ready_seconds).unwrap_or(0))));
        }
        Ok(Action::Done)
    }

    async fn write_status(&self, set: &StatefulSet, st: &Status) -> Result<(), Error> {
        let want = json!({
            "observedGeneration": st.observed_generation,
            "replicas": st.replicas,
            "readyReplicas": st.ready_replicas,
            "currentReplicas": st.current_replicas,
            "updatedReplicas": st.updated_replicas,
            "availableReplicas": st.available_replicas,
            "currentRevision": st.current_revision,
            "updateRevision": st.update_revision,
            "collisionCount": st.collision_count,
        });
        let have = serde_json::to_value(set.status.clone().unwrap_or_default()).unwrap_or(Value::Null);
        let changed = want.as_object().into_iter().flatten().any(|(k, v)| {
            let h = have.get(k).cloned().unwrap_or(Value::Null);
            // Zero counts and the unset field read the same.
            !(h == *v || (h.is_null() && (v == &json!(0) || v == &json!(""))))
        });
        if !changed {
            return Ok(());
        }
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let name = set.metadata.name.clone().unwrap_or_default();
        match self.client.api::<StatefulSet>(Some(&ns))?.patch_status(&name, &json!({"status": want})).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the pod's missing claims, owned as the retention policy says.
    async fn create_claims(&self, set: &StatefulSet, pod: &Pod, params: &Params) -> Result<(), Error> {
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let set_name = set.metadata.name.clone().unwrap_or_default();
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let Some(ordinal) = ordinal_of(&set_name, &pod_name) else { return Ok(()) };
        let api = self.client.api::<PersistentVolumeClaim>(Some(&ns))?;
        for mut claim in claims_for(set, ordinal) {
            let name = claim.metadata.name.clone().unwrap_or_default();
            if self.claims.get(Some(&ns), &name).is_some() {
                continue;
            }
            if params.delete_when_deleted {
                claim.metadata.owner_references.get_or_insert_with(Vec::new).push(plain_ref(set));
            }
            match api.create(&claim).await {
                Ok(_) => self.recorder.normal(
                    set,
                    "SuccessfulCreate",
                    format!("create Claim {name} Pod {pod_name} in StatefulSet {set_name} success"),
                ),
                Err(e) if e.code() == 409 => {}
                Err(e) => {
                    self.recorder.warning(
                        set,
                        "FailedCreate",
                        format!("create Claim {name} for Pod {pod_name} in StatefulSet {set_name} failed error: {e}"),
                    );
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// Keeps the pod's claims owned as the retention policy says (`updateClaimOwnerRefForSetAndPod`):
    /// whenDeleted=Delete makes the set an owner; whenScaled=Delete makes a scaled-down pod the
    /// owner instead, so the garbage collector removes its claims with it.
    async fn sync_claim_owners(&self, set: &StatefulSet, pod: &Pod, params: &Params, in_range: bool) -> Result<(), Error> {
        let ns = set.metadata.namespace.clone().unwrap_or_default();
        let set_name = set.metadata.name.clone().unwrap_or_default();
        let Some(ordinal) = ordinal_of(&set_name, pod.metadata.name.as_deref().unwrap_or("")) else { return Ok(()) };
        let api = self.client.api::<PersistentVolumeClaim>(Some(&ns))?;
        for want in claims_for(set, ordinal) {
            let name = want.metadata.name.clone().unwrap_or_default();
            let Some(claim) = self.claims.get(Some(&ns), &name) else { continue };
            let Some(refs) = claim_owners(claim.metadata.owner_references.as_deref().unwrap_or(&[]), set, pod, params, in_range) else {
                continue;
            };
            match api.patch_merge(&name, &json!({"metadata": {"ownerReferences": refs, "uid": claim.metadata.uid}})).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() || e.is_conflict() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// The owner references a claim should have under the retention policy, None when it has them.
pub fn claim_owners(have: &[OwnerReference], set: &StatefulSet, pod: &Pod, p: &Params, in_range: bool) -> Option<Vec<OwnerReference>> {
    let set_uid = set.metadata.uid.as_deref().unwrap_or("");
    let pod_uid = pod.metadata.uid.as_deref().unwrap_or("");
    let (want_set, want_pod) = match (p.delete_when_scaled, p.delete_when_deleted) {
        (false, false) => (false, false),
        (false, true) => (true, false),
        (true, false) => (false, !in_range),
        (true, true) => (in_range, !in_range),
    };
    let has = |uid: &str| have.iter().any(|r| r.uid == uid);
    if has(set_uid) == want_set && has(pod_uid) == want_pod {
        return None;
    }
    let mut refs: Vec<OwnerReference> = have.iter().filter(|r| r.uid != set_uid && r.uid != pod_uid).cloned().collect();
    if want_set {
        refs.push(have.iter().find(|r| r.uid == set_uid).cloned().unwrap_or_else(|| plain_ref(set)));
    }
    if want_pod {
        refs.push(have.iter().find(|r| r.uid == pod_uid).cloned().unwrap_or_else(|| plain_ref(pod)));
    }
    Some(refs)
}

/// An owner reference that is not a controller reference (claims' owners).
fn plain_ref<K>(owner: &K) -> OwnerReference
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    OwnerReference { controller: None, block_owner_deletion: None, ..controller_ref(owner) }
}

/// The ordinal of a member pod (`<set>-<n>`), None for other names.
pub fn ordinal_of(set_name: &str, pod_name: &str) -> Option<i32> {
    let rest = pod_name.strip_prefix(set_name)?.strip_prefix('-')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) || (rest.len() > 1 && rest.starts_with('0')) {
        return None;
    }
    rest.parse().ok()
}

fn revision_of(pod: &Pod) -> &str {
    pod.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).map(String::as_str).unwrap_or("")
}

/// The set's claims for one ordinal, from its volumeClaimTemplates.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let spec = set.spec.clone().unwrap_or_default();
    let set_name = set.metadata.name.clone().unwrap_or_default();
    spec.volume_claim_templates
        .unwrap_or_default()
        .into_iter()
        .map(|t| {
            let template_name = t.metadata.name.clone().unwrap_or_default();
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            labels.extend(spec.selector.match_labels.clone().unwrap_or_default());
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(format!("{template_name}-{set_name}-{ordinal}")),
                    namespace: set.metadata.namespace.clone(),
                    labels: Some(labels),
                    annotations: t.metadata.annotations.clone(),
                    ..Default::default()
                },
                spec: t.spec.clone(),
                status: None,
            }
        })
        .collect()
}

/// The pod for `ordinal` from `template` at `revision`.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str) -> Pod {
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let name = format!("{set_name}-{ordinal}");
    let mut pod = pods::pod_from_template(template, controller_ref(set), &ns, &format!("{set_name}-"));
    pod.metadata.name = Some(name.clone());
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    labels.insert(HASH_LABEL.into(), revision.to_string());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(name.clone());
    if let Some(svc) = set.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty()) {
        spec.subdomain = Some(svc);
    }
    let templates = set.spec.as_ref().and_then(|s| s.volume_claim_templates.clone()).unwrap_or_default();
    if !templates.is_empty() {
        let volumes = spec.volumes.get_or_insert_with(Vec::new);
        for t in &templates {
            let vname = t.metadata.name.clone().unwrap_or_default();
            let claim = format!("{vname}-{set_name}-{ordinal}");
            let v = Volume {
                name: vname.clone(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim, read_only: None }),
                ..Default::default()
            };
            match volumes.iter_mut().find(|x| x.name == vname) {
                Some(x) => *x = v,
                None => volumes.push(v),
            }
        }
    }
    pod
}

/// What the planner needs to know about a set.
#[derive(Debug, Clone)]
pub struct Params {
    pub replicas: i32,
    pub start: i32,
    /// OrderedReady: one pod at a time, in order.
    pub monotonic: bool,
    /// RollingUpdate's partition; None for OnDelete.
    pub rolling: Option<i32>,
    pub min_ready_seconds: i32,
    pub delete_when_deleted: bool,
    pub delete_when_scaled: bool,
}

impl Params {
    pub fn of(set: &StatefulSet) -> Params {
        let spec = set.spec.clone().unwrap_or_default();
        let strategy = spec.update_strategy.unwrap_or_default();
        let rolling = match strategy.type_.as_deref() {
            Some("OnDelete") => None,
            _ => Some(strategy.rolling_update.and_then(|r| r.partition).unwrap_or(0).max(0)),
        };
        let policy = spec.persistent_volume_claim_retention_policy.unwrap_or_default();
        Params {
            replicas: spec.replicas.unwrap_or(1).max(0),
            start: spec.ordinals.and_then(|o| o.start).unwrap_or(0).max(0),
            monotonic: spec.pod_management_policy.as_deref() != Some("Parallel"),
            rolling,
            min_ready_seconds: spec.min_ready_seconds.unwrap_or(0).max(0),
            delete_when_deleted: policy.when_deleted.as_deref() == Some("Delete"),
            delete_when_scaled: policy.when_scaled.as_deref() == Some("Delete"),
        }
    }
}

/// One action of a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create the pod of this ordinal, from the update revision (else the current one).
    Create { ordinal: i32, update: bool },
    /// Delete the pod of this ordinal; `condemned`: it is beyond the replica count.
    Delete { ordinal: i32, condemned: bool },
}

fn terminating(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_some()
}
fn running_ready(p: &Pod) -> bool {
    pods::phase(p) == "Running" && is_ready(p)
}
fn available(p: &Pod, min_ready: i32, now: jiff::Timestamp) -> bool {
    pods::phase(p) == "Running" && pods::is_available(p, min_ready, now)
}
fn healthy(p: &Pod) -> bool {
    running_ready(p) && !terminating(p)
}
fn finished(p: &Pod) -> bool {
    matches!(pods::phase(p), "Failed" | "Succeeded")
}

/// The actions of one sync (`updateStatefulSet`): replicas in ordinal order (stopping at the
/// first missing or unready pod when ordered), then condemned pods from the highest ordinal,
/// then the rolling update from the highest ordinal down to the partition, one pod at a time.
pub fn plan(p: &Params, pods: &BTreeMap<i32, Arc<Pod>>, current: &str, update: &str, now: jiff::Timestamp) -> Vec<Step> {
    let _ = current;
    let mut steps = Vec::new();
    let end = p.start + p.replicas;
    let in_range = |o: i32| o >= p.start && o < end;
    let first_unhealthy: Option<i32> = (p.start..end)
        .find(|o| pods.get(o).is_none_or(|x| !healthy(x)))
        .or_else(|| pods.iter().filter(|(o, _)| !in_range(**o)).find(|(_, x)| !healthy(x)).map(|(o, _)| *o));

    for ordinal in p.start..end {
        match pods.get(&ordinal) {
            None => {
                let update = match p.rolling {
                    Some(partition) => ordinal >= p.start + partition,
                    None => true,
                };
                steps.push(Step::Create { ordinal, update });
                if p.monotonic {
                    return steps;
                }
            }
            Some(pod) if finished(pod) => {
                if !terminating(pod) {
                    steps.push(Step::Delete { ordinal, condemned: false });
                }
                if p.monotonic {
                    return steps;
                }
            }
            Some(pod) => {
                if p.monotonic && (terminating(pod) || !running_ready(pod) || !available(pod, p.min_ready_seconds, now)) {
                    return steps;
                }
            }
        }
    }

    for (&ordinal, pod) in pods.iter().rev().filter(|(o, _)| !in_range(**o)) {
        if terminating(pod) {
            if p.monotonic {
                return steps;
            }
            continue;
        }
        if p.monotonic && !running_ready(pod) && first_unhealthy != Some(ordinal) {
            return steps;
        }
        steps.push(Step::Delete { ordinal, condemned: true });
        if p.monotonic {
            return steps;
        }
    }

    if let Some(partition) = p.rolling {
        if steps.iter().any(|s| matches!(s, Step::Create { .. })) {
            return steps;
        }
        for ordinal in (p.start + partition.min(p.replicas)..end).rev() {
            let Some(pod) = pods.get(&ordinal) else { return steps };
            if revision_of(pod) != update && !terminating(pod) {
                steps.push(Step::Delete { ordinal, condemned: false });
                return steps;
            }
            if !healthy(pod) {
                return steps;
            }
        }
    }
    steps
}

/// The counts the status reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub observed_generation: i64,
    pub replicas: i32,
    pub ready_replicas: i32,
    pub available_replicas: i32,
    pub current_replicas: i32,
    pub updated_replicas: i32,
    pub current_revision: String,
    pub update_revision: String,
    pub collision_count: i32,
}

/// `computeReplicaStatus` over the set's pods.
pub fn compute_status(p: &Params, pods: &BTreeMap<i32, Arc<Pod>>, current: &str, update: &str, now: jiff::Timestamp) -> Status {
    let mut st = Status::default();
    for pod in pods.values() {
        let created = !pods::phase(pod).is_empty() || pod.metadata.uid.is_some();
        if created {
            st.replicas += 1;
        }
        if running_ready(pod) {
            st.ready_replicas += 1;
            if available(pod, p.min_ready_seconds, now) {
                st.available_replicas += 1;
            }
        }
        if created && !terminating(pod) {
            let r = revision_of(pod);
            if r == current {
                st.current_replicas += 1;
            }
            if r == update {
                st.updated_replicas += 1;
            }
        }
    }
    st
}

#[cfg(test)]
mod tests;
