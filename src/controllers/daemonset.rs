//! The DaemonSet controller, as kube-controller-manager 1.33 runs it: one pod per eligible node
//! (nodeSelector, required node affinity, taints against the pod's tolerations plus the
//! standard daemon tolerations), each pinned to its node by a required node affinity on
//! `metadata.name` so that the default scheduler binds it; ControllerRevisions named
//! `<ds>-<hash>`; RollingUpdate (maxUnavailable, maxSurge) and OnDelete; the status that
//! `kubectl get ds` and `kubectl rollout status` read; SuccessfulCreate/SuccessfulDelete events.

use crate::client::{Client, Reader};
use crate::controllers::events::Recorder;
use crate::controllers::history::{self, HASH_LABEL};
use crate::controllers::pods::{self, claim_pods, controller_of, controller_ref, is_ready, selector_matches};
use crate::controllers::runtime::{self, Action, Context, ObjectKey, Queue};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodTemplateSpec, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The pod label carrying the DaemonSet's template generation.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// Where apps/v1 keeps the template generation.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";
const COMPONENT: &str = "daemonset-controller";
/// How long unobserved creates and deletes hold a DaemonSet back (client-go's expectations TTL).
const EXPECTATIONS_TTL: Duration = Duration::from_secs(300);

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
            tracing::error!(error = %e, "daemonset controller cannot start");
            return;
        }
    };
    let c = ctl.clone();
    runtime::run("daemonset", ctl.queue.clone(), 2, ctx.stop.clone(), move |key| {
        let c = c.clone();
        async move { c.reconcile(&key).await }
    })
    .await;
}

/// Creates and deletes a DaemonSet made that its cache has not shown yet.
#[derive(Default)]
struct Expectations {
    created: HashSet<String>,
    deleted: HashSet<String>,
    at: Option<tokio::time::Instant>,
}

struct Controller {
    client: Client,
    recorder: Recorder,
    queue: Queue,
    sets: Reader<DaemonSet>,
    pods: Reader<Pod>,
    nodes: Reader<Node>,
    revisions: Reader<ControllerRevision>,
    expectations: Mutex<HashMap<ObjectKey, Expectations>>,
}

/// What about a node decides where daemons run (labels, taints, name).
fn node_fingerprint(n: &Node) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    n.metadata.labels.hash(&mut h);
    if let Some(s) = &n.spec {
        for t in s.taints.iter().flatten() {
            (&t.key, &t.value, &t.effect).hash(&mut h);
        }
    }
    h.finish()
}

impl Controller {
    async fn new(ctx: &Context) -> crate::client::Result<Controller> {
        let queue = Queue::new();
        let sets_inf = ctx.informers.get::<DaemonSet>()?;
        let pods_inf = ctx.informers.get::<Pod>()?;
        let nodes_inf = ctx.informers.get::<Node>()?;
        let revs_inf = ctx.informers.get::<ControllerRevision>()?;
        let sets = sets_inf.reader();
        runtime::enqueue_from(&sets_inf, queue.clone(), ctx.stop.clone(), runtime::self_key);
        let s = sets.clone();
        runtime::enqueue_from(&pods_inf, queue.clone(), ctx.stop.clone(), move |p: &Pod| match controller_of(&p.metadata) {
            Some(r) if r.kind == "DaemonSet" => vec![ObjectKey::new(p.metadata.namespace.as_deref(), &r.name)],
            Some(_) => vec![],
            None => s
                .list()
                .iter()
                .filter(|d| d.metadata.namespace == p.metadata.namespace)
                .filter(|d| {
                    let sel = d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
                    !pods::is_empty_selector(&sel) && selector_matches(&sel, p.metadata.labels.as_ref())
                })
                .map(|d| ObjectKey::of(&d.metadata))
                .collect(),
        });
        // Node changes concern every DaemonSet, but only when labels or taints change (or the
        // node comes or goes): status heartbeats are ignored.
        let s = sets.clone();
        let seen: Mutex<HashMap<String, Option<u64>>> = Mutex::default();
        let node_reader = nodes_inf.reader();
        runtime::enqueue_from(&nodes_inf, queue.clone(), ctx.stop.clone(), move |n: &Node| {
            let name = n.metadata.name.clone().unwrap_or_default();
            let now = node_reader.get(None, &name).map(|n| node_fingerprint(&n));
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get(&name) == Some(&now) {
                return vec![];
            }
            seen.insert(name, now);
            s.list().iter().map(|d| ObjectKey::of(&d.metadata)).collect()
        });
        runtime::enqueue_from(&revs_inf, queue.clone(), ctx.stop.clone(), |r: &ControllerRevision| match controller_of(&r.metadata) {
            Some(o) if o.kind == "DaemonSet" => vec![ObjectKey::new(r.metadata.namespace.as_deref(), &o.name)],
            _ => vec![],
        });
        let ctl = Controller {
            client: ctx.client.clone(),
            recorder: ctx.recorder.for_component(COMPONENT, None),
            queue,
            sets,
            pods: ctx.informers.synced_reader::<Pod>().await?,
            nodes: ctx.informers.synced_reader::<Node>().await?,
            revisions: ctx.informers.synced_reader::<ControllerRevision>().await?,
            expectations: Mutex::default(),
        };
        let mut r = ctl.sets.clone();
        r.wait_synced().await;
        for s in ctl.sets.list() {
            ctl.queue.add(ObjectKey::of(&s.metadata));
        }
        Ok(ctl)
    }

    /// Whether the cache shows every create and delete made for `key` (or they expired).
    fn satisfied(&self, key: &ObjectKey) -> bool {
        let mut all = self.expectations.lock().unwrap_or_else(|e| e.into_inner());
        let Some(e) = all.get_mut(key) else { return true };
        let ns = key.ns();
        e.created.retain(|n| self.pods.get(ns, n).is_none());
        e.deleted.retain(|n| self.pods.get(ns, n).is_some_and(|p| p.metadata.deletion_timestamp.is_none()));
        let expired = e.at.is_some_and(|at| at.elapsed() > EXPECTATIONS_TTL);
        if (e.created.is_empty() && e.deleted.is_empty()) || expired {
            all.remove(key);
            return true;
        }
        false
    }

    fn expect(&self, key: &ObjectKey, created: Option<String>, deleted: Option<String>) {
        let mut all = self.expectations.lock().unwrap_or_else(|e| e.into_inner());
        let e = all.entry(key.clone()).or_default();
        e.created.extend(created);
        e.deleted.extend(deleted);
        e.at = Some(tokio::time::Instant::now());
    }

    #[tracing::instrument(skip(self), fields(namespace = key.ns().unwrap_or(""), name = %key.name))]
    async fn reconcile(&self, key: &ObjectKey) -> Result<Action, Error> {
        let Some(ds) = self.sets.get(key.ns(), &key.name) else {
            self.expectations.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
            return Ok(Action::Done);
        };
        let ds = (*ds).clone();
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(Action::Done);
        }
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let spec = ds.spec.clone().unwrap_or_default();
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
        let owned = claim_pods(&self.client, &ds, &spec.selector, candidates).await?;

        // The current revision: the one recording this template (renumbered newest), else a new one.
        let mut collision_count = ds.status.as_ref().and_then(|s| s.collision_count);
        let revisions = history::owned(&self.revisions, &ns, &uid);
        let data = history::template_patch(&spec.template);
        let next = history::next_revision(&revisions);
        let cur = match revisions.iter().rev().find(|r| history::same_data(r, &data)) {
            Some(r) if r.revision == next - 1 => (**r).clone(),
            Some(r) => history::update_revision(&self.client, r, next).await?,
            None => {
                let cr = history::new_revision(&ds, spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref()), data.clone(), next);
                let mut cc = collision_count.unwrap_or(0);
                let template = spec.template.clone();
                let had = collision_count.is_some();
                let cr = history::create(&self.client, ds.metadata.name.as_deref().unwrap_or(""), cr, &mut cc, |c| {
                    template_hash(&template, if had || c > 0 { Some(c) } else { None })
                })
                .await?;
                if cc > 0 || had {
                    collision_count = Some(cc);
                }
                cr
            }
        };
        let hash = cur.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).cloned().unwrap_or_default();
        let generation = template_generation(&ds);

        let nodes = self.nodes.list();
        let mut by_node: BTreeMap<String, Vec<Arc<Pod>>> = BTreeMap::new();
        let mut orphaned: Vec<Arc<Pod>> = Vec::new();
        let node_names: HashSet<&str> = nodes.iter().filter_map(|n| n.metadata.name.as_deref()).collect();
        for p in &owned {
            match target_node(p) {
                Some(n) if p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_none() && !node_names.contains(n.as_str()) => {
                    orphaned.push(p.clone())
                }
                Some(n) => by_node.entry(n).or_default().push(p.clone()),
                None => {}
            }
        }
        for pods in by_node.values_mut() {
            pods.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
        }

        let now = jiff::Timestamp::now();
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let eligibility: BTreeMap<String, (bool, bool)> =
            nodes.iter().map(|n| (n.metadata.name.clone().unwrap_or_default(), should_run(n, &spec.template))).collect();
        let desired = eligibility.values().filter(|(run, _)| *run).count() as i32;
        let (max_surge, max_unavailable) = surge_and_unavailable(&ds, desired);

        let satisfied = self.satisfied(key);
        if satisfied {
            let (creates, mut deletes, failed) = manage(&eligibility, &by_node, &hash, generation.as_deref(), max_surge, min_ready, now);
            for (node, pod) in &failed {
                self.recorder.warning(
                    &ds,
                    "FailedDaemonPod",
                    format!("Found failed daemon pod {ns}/{pod} on node {node}, will try to kill it"),
                );
            }
            deletes.extend(orphaned.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).filter_map(|p| p.metadata.name.clone()));
            let mut creates = creates;
            if creates.is_empty() && deletes.is_empty() && is_rolling(&ds) {
                let (d, c) = rolling_update(&eligibility, &by_node, &hash, generation.as_deref(), max_surge, max_unavailable, min_ready, now);
                deletes = d;
                creates = c;
            }
            for node in &creates {
                let pod = new_pod(&ds, &spec.template, node, &hash, generation.as_deref());
                match self.client.api::<Pod>(Some(&ns))?.create(&pod).await {
                    Ok(p) => {
                        let name = p.metadata.name.clone().unwrap_or_default();
                        self.expect(key, Some(name.clone()), None);
                        self.recorder.normal(&ds, "SuccessfulCreate", format!("Created pod: {name}"));
                    }
                    Err(e) => {
                        self.recorder.warning(&ds, "FailedCreate", format!("Error creating: {e}"));
                        return Err(e.into());
                    }
                }
            }
            for name in &deletes {
                match self.client.api::<Pod>(Some(&ns))?.delete(name).await {
                    Ok(_) => {
                        self.expect(key, None, Some(name.clone()));
                        self.recorder.normal(&ds, "SuccessfulDelete", format!("Deleted pod: {name}"));
                    }
                    Err(e) if e.is_not_found() => {}
                    Err(e) => {
                        self.recorder.warning(&ds, "FailedDelete", format!("Error deleting: {e}"));
                        return Err(e.into());
                    }
                }
            }
            // Old revisions no pod runs are kept up to revisionHistoryLimit.
            let mut live: HashSet<String> = owned
                .iter()
                .filter_map(|p| p.metadata.labels.as_ref()?.get(HASH_LABEL).map(|h| history::revision_name(&key.name, h)))
                .collect();
            live.insert(cur.metadata.name.clone().unwrap_or_default());
            let mut all = history::owned(&self.revisions, &ns, &uid);
            all.retain(|r| r.metadata.name != cur.metadata.name);
            history::truncate(&self.client, &all, &live, spec.revision_history_limit.unwrap_or(10)).await?;
        }

        let status = compute_status(&eligibility, &by_node, &hash, generation.as_deref(), min_ready, now);
        self.write_status(&ds, &status, satisfied, collision_count).await?;
        if min_ready > 0 && status.number_ready > status.number_available {
            return Ok(Action::RequeueAfter(Duration::from_secs(u64::try_from(min_ready).unwrap_or(0))));
        }
        Ok(Action::Done)
    }

    async fn write_status(&self, ds: &DaemonSet, st: &Status, observed: bool, collision_count: Option<i32>) -> Result<(), Error> {
        let have = ds.status.clone().unwrap_or_default();
        let observed_generation = if observed { ds.metadata.generation } else { have.observed_generation };
        let unavailable = st.desired - st.number_available;
        let same = have.desired_number_scheduled == st.desired
            && have.current_number_scheduled == st.current
            && have.number_misscheduled == st.misscheduled
            && have.number_ready == st.number_ready
            && have.number_available.unwrap_or(0) == st.number_available
            && have.updated_number_scheduled.unwrap_or(0) == st.updated
            && have.number_unavailable.unwrap_or(0) == unavailable
            && have.observed_generation == observed_generation
            && have.collision_count == collision_count;
        if same {
            return Ok(());
        }
        let mut status = json!({
            "desiredNumberScheduled": st.desired,
            "currentNumberScheduled": st.current,
            "numberMisscheduled": st.misscheduled,
            "numberReady": st.number_ready,
            "numberAvailable": if st.number_available > 0 { json!(st.number_available) } else { Value::Null },
            "updatedNumberScheduled": if st.updated > 0 { json!(st.updated) } else { Value::Null },
            "numberUnavailable": if unavailable > 0 { json!(unavailable) } else { Value::Null },
            "observedGeneration": observed_generation,
        });
        if let Some(c) = collision_count {
            status["collisionCount"] = json!(c);
        }
        let ns = ds.metadata.namespace.clone().unwrap_or_default();
        let name = ds.metadata.name.clone().unwrap_or_default();
        match self.client.api::<DaemonSet>(Some(&ns))?.patch_status(&name, &json!({"status": status})).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// `ComputeHash`: FNV-1a of the template (and the collision count), safe-encoded.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut bytes = history::data_bytes(&history::sorted(&serde_json::to_value(template).unwrap_or(Value::Null)));
    if let Some(c) = collision_count {
        bytes.extend_from_slice(&(c as u32).to_le_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0]);
    }
    history::safe_encode(&history::fnv32a(&bytes).to_string())
}

fn template_generation(ds: &DaemonSet) -> Option<String> {
    ds.metadata.annotations.as_ref()?.get(TEMPLATE_GENERATION_ANNOTATION).cloned()
}

fn is_rolling(ds: &DaemonSet) -> bool {
    ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.type_.as_deref()).unwrap_or("RollingUpdate") == "RollingUpdate"
}

fn scaled(v: Option<&IntOrString>, total: i32) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(i)) => (*i).max(0),
        Some(IntOrString::String(s)) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            // Rounded up, as GetScaledValueFromIntOrPercent(..., true).
            ((pct * i64::from(total) + 99) / 100).clamp(0, i64::from(i32::MAX)) as i32
        }
    }
}

/// maxSurge and maxUnavailable resolved against the desired count (`updatedDesiredNodeCounts`).
pub fn surge_and_unavailable(ds: &DaemonSet, desired: i32) -> (i32, i32) {
    let ru = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|u| u.rolling_update.as_ref());
    let surge = scaled(ru.and_then(|r| r.max_surge.as_ref()), desired);
    let mut unavailable = scaled(ru.and_then(|r| r.max_unavailable.as_ref()), desired);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// The node a daemon pod runs on or is meant for (its required `metadata.name` affinity).
pub fn target_node(p: &Pod) -> Option<String> {
    let spec = p.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    let terms = &spec.affinity.as_ref()?.node_affinity.as_ref()?.required_during_scheduling_ignored_during_execution.as_ref()?.node_selector_terms;
    terms.iter().flat_map(|t| t.match_fields.iter().flatten()).find_map(|r| {
        (r.key == "metadata.name" && r.operator == "In" && r.values.as_ref().is_some_and(|v| v.len() == 1))
            .then(|| r.values.as_ref().and_then(|v| v.first().cloned()))
            .flatten()
    })
}

/// The tolerations every daemon pod gets (`AddOrUpdateDaemonPodTolerations`).
pub fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let t = |key: &str, effect: &str| Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Default::default()
    };
    let mut v = vec![
        t("node.kubernetes.io/not-ready", "NoExecute"),
        t("node.kubernetes.io/unreachable", "NoExecute"),
        t("node.kubernetes.io/disk-pressure", "NoSchedule"),
        t("node.kubernetes.io/memory-pressure", "NoSchedule"),
        t("node.kubernetes.io/pid-pressure", "NoSchedule"),
        t("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        v.push(t("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    v
}

fn add_tolerations(list: &mut Vec<Toleration>, extra: Vec<Toleration>) {
    for t in extra {
        if !list.iter().any(|o| o.key == t.key && o.effect == t.effect && o.operator == t.operator && o.value == t.value) {
            list.push(t);
        }
    }
}

/// `ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect.as_deref().is_some_and(|e| !e.is_empty() && e != taint.effect) {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (value.and_then(|v| v.parse::<i64>().ok()), values.first().and_then(|b| b.parse::<i64>().ok()))
            else {
                return false;
            };
            if r.operator == "Gt" { v > bound } else { v < bound }
        }
        _ => false,
    }
}

/// Whether a node satisfies one node selector term (expressions on labels, fields on the name).
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    exprs.iter().all(|r| requirement_matches(r, labels.and_then(|l| l.get(&r.key)).map(String::as_str)))
        && fields.iter().all(|r| r.key == "metadata.name" && requirement_matches(r, node.metadata.name.as_deref()))
}

/// `NodeShouldRunDaemonPod`: (should run a daemon pod, should keep one that runs).
pub fn should_run(node: &Node, template: &PodTemplateSpec) -> (bool, bool) {
    let spec = template.spec.clone().unwrap_or_default();
    let name = node.metadata.name.as_deref().unwrap_or("");
    if spec.node_name.as_deref().is_some_and(|n| !n.is_empty() && n != name) {
        return (false, false);
    }
    let labels = node.metadata.labels.clone().unwrap_or_default();
    if spec.node_selector.iter().flatten().any(|(k, v)| labels.get(k) != Some(v)) {
        return (false, false);
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref());
    if let Some(sel) = required {
        if !sel.node_selector_terms.iter().any(|t| term_matches(t, node)) {
            return (false, false);
        }
    }
    let mut tolerations = spec.tolerations.clone().unwrap_or_default();
    add_tolerations(&mut tolerations, daemon_tolerations(spec.host_network == Some(true)));
    let untolerated = |effects: &[&str]| {
        node.spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .into_iter()
            .flatten()
            .filter(|t| effects.contains(&t.effect.as_str()))
            .any(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
    };
    if untolerated(&["NoSchedule", "NoExecute"]) {
        return (false, !untolerated(&["NoExecute"]));
    }
    (true, true)
}

/// The daemon pod for `node`.
pub fn new_pod(ds: &DaemonSet, template: &PodTemplateSpec, node: &str, hash: &str, generation: Option<&str>) -> Pod {
    let name = ds.metadata.name.clone().unwrap_or_default();
    let ns = ds.metadata.namespace.clone().unwrap_or_default();
    let mut pod = pods::pod_from_template(template, controller_ref(ds), &ns, &format!("{name}-"));
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    if let Some(g) = generation {
        labels.insert(TEMPLATE_GENERATION_LABEL.into(), g.to_string());
    }
    if !hash.is_empty() {
        labels.insert(HASH_LABEL.into(), hash.to_string());
    }
    let spec = pod.spec.get_or_insert_with(Default::default);
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.to_string()]),
        }]),
        match_expressions: None,
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let na = affinity.node_affinity.get_or_insert_with(NodeAffinity::default);
    match na.required_during_scheduling_ignored_during_execution.as_mut() {
        Some(sel) => sel.node_selector_terms = vec![term],
        None => na.required_during_scheduling_ignored_during_execution = Some(NodeSelector { node_selector_terms: vec![term] }),
    }
    let host_network = spec.host_network == Some(true);
    add_tolerations(spec.tolerations.get_or_insert_with(Vec::new), daemon_tolerations(host_network));
    pod
}

/// `IsPodUpdated`: the pod carries the current hash (or template generation).
fn updated(p: &Pod, hash: &str, generation: Option<&str>) -> bool {
    let labels = p.metadata.labels.as_ref();
    let by_hash = labels.and_then(|l| l.get(HASH_LABEL)).is_some_and(|h| h == hash);
    let by_gen = generation.is_some_and(|g| labels.and_then(|l| l.get(TEMPLATE_GENERATION_LABEL)).is_some_and(|x| x == g));
    by_hash || by_gen
}

fn available(p: &Pod, min_ready: i32, now: jiff::Timestamp) -> bool {
    pods::is_available(p, min_ready, now)
}

/// `podsShouldBeOnNode` over every node: nodes needing a pod, pods to delete, and the failed
/// pods found (node, pod) for the FailedDaemonPod event.
#[allow(clippy::type_complexity)]
pub fn manage(
    eligibility: &BTreeMap<String, (bool, bool)>,
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    generation: Option<&str>,
    max_surge: i32,
    min_ready: i32,
    now: jiff::Timestamp,
) -> (Vec<String>, Vec<String>, Vec<(String, String)>) {
    let (mut creates, mut deletes, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    let empty = Vec::new();
    let name = |p: &Arc<Pod>| p.metadata.name.clone().unwrap_or_default();
    for (node, &(run, keep)) in eligibility {
        let pods = by_node.get(node).unwrap_or(&empty);
        if run && pods.is_empty() {
            creates.push(node.clone());
        } else if keep {
            let mut running = Vec::new();
            for p in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
                match pods::phase(p) {
                    "Failed" => {
                        failed.push((node.clone(), name(p)));
                        deletes.push(name(p));
                    }
                    "Succeeded" => deletes.push(name(p)),
                    _ => running.push(p.clone()),
                }
            }
            if max_surge == 0 {
                deletes.extend(running.iter().skip(1).map(name));
                continue;
            }
            if running.is_empty() {
                // Surging keeps at least one live pod on the node.
                if run {
                    creates.push(node.clone());
                }
                continue;
            }
            let (mut oldest_new, mut oldest_old) = (None, None);
            for p in &running {
                if updated(p, hash, generation) {
                    if oldest_new.is_none() {
                        oldest_new = Some(p.clone());
                        continue;
                    }
                } else if oldest_old.is_none() {
                    oldest_old = Some(p.clone());
                    continue;
                }
                deletes.push(name(p));
            }
            if let (Some(n), Some(o)) = (oldest_new, oldest_old) {
                if !is_ready(&o) || available(&n, min_ready, now) {
                    deletes.push(name(&o));
                }
            }
        } else {
            deletes.extend(pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).map(name));
        }
    }
    (creates, deletes, failed)
}

/// A node's updated pod and old pod.
type NewAndOld = (Option<Arc<Pod>>, Option<Arc<Pod>>);

/// `rollingUpdate`: old pods to delete and nodes to surge onto, within maxUnavailable/maxSurge.
#[allow(clippy::too_many_arguments)]
pub fn rolling_update(
    eligibility: &BTreeMap<String, (bool, bool)>,
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    generation: Option<&str>,
    max_surge: i32,
    max_unavailable: i32,
    min_ready: i32,
    now: jiff::Timestamp,
) -> (Vec<String>, Vec<String>) {
    let name = |p: &Arc<Pod>| p.metadata.name.clone().unwrap_or_default();
    let split = |pods: &Vec<Arc<Pod>>| -> Option<NewAndOld> {
        let (mut new, mut old) = (None, None);
        for p in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
            let slot = if updated(p, hash, generation) { &mut new } else { &mut old };
            if slot.is_some() {
                return None;
            }
            *slot = Some(p.clone());
        }
        Some((new, old))
    };
    if max_surge == 0 {
        let mut unavailable = 0;
        let (mut replace, mut candidates) = (Vec::new(), Vec::new());
        for pods in by_node.values() {
            let Some((new, old)) = split(pods) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(n), None) => {
                    if !available(&n, min_ready, now) {
                        unavailable += 1;
                    }
                }
                (None, Some(o)) => {
                    if !available(&o, min_ready, now) {
                        replace.push(name(&o));
                    } else if unavailable < max_unavailable {
                        candidates.push(name(&o));
                    }
                }
            }
        }
        let room = (max_unavailable - unavailable).clamp(0, candidates.len() as i32) as usize;
        replace.extend(candidates.into_iter().take(room));
        return (replace, Vec::new());
    }
    let mut surge = 0;
    let (mut deletes, mut should_not_run, mut allowed, mut candidates) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (node, pods) in by_node {
        let Some((new, old)) = split(pods) else {
            surge += 1;
            continue;
        };
        match (new, old) {
            (_, None) => {}
            (None, Some(o)) => {
                if !available(&o, min_ready, now) {
                    if !eligibility.get(node).is_some_and(|(run, _)| *run) {
                        should_not_run.push(name(&o));
                        continue;
                    }
                    allowed.push(node.clone());
                } else if surge < max_surge {
                    candidates.push(node.clone());
                }
            }
            (Some(n), Some(o)) => {
                if !available(&n, min_ready, now) {
                    surge += 1;
                    continue;
                }
                deletes.push(name(&o));
            }
        }
    }
    let room = (max_surge - surge).clamp(0, candidates.len() as i32) as usize;
    allowed.extend(candidates.into_iter().take(room));
    deletes.extend(should_not_run);
    (deletes, allowed)
}

/// The counts the status reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub desired: i32,
    pub current: i32,
    pub misscheduled: i32,
    pub number_ready: i32,
    pub number_available: i32,
    pub updated: i32,
}

/// `updateDaemonSetStatus`: per node, its oldest daemon pod counts.
pub fn compute_status(
    eligibility: &BTreeMap<String, (bool, bool)>,
    by_node: &BTreeMap<String, Vec<Arc<Pod>>>,
    hash: &str,
    generation: Option<&str>,
    min_ready: i32,
    now: jiff::Timestamp,
) -> Status {
    let mut st = Status::default();
    for (node, &(run, _)) in eligibility {
        let pods = by_node.get(node).filter(|p| !p.is_empty());
        if run {
            st.desired += 1;
            if let Some(pods) = pods {
                st.current += 1;
                let p = &pods[0];
                if is_ready(p) {
                    st.number_ready += 1;
                    if available(p, min_ready, now) {
                        st.number_available += 1;
                    }
                }
                if updated(p, hash, generation) {
                    st.updated += 1;
                }
            }
        } else if pods.is_some() {
            st.misscheduled += 1;
        }
    }
    st
}

#[cfg(test)]
mod tests;
