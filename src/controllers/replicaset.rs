//! The ReplicaSet and ReplicationController controllers: one engine, two kinds, as
//! kube-controller-manager's replicaset controller runs them. Each keeps as many active pods
//! as `spec.replicas` asks for: it adopts matching orphans and releases pods that stopped
//! matching, creates the missing pods in slow-start batches (1, 2, 4, …) capped at a burst per
//! sync, deletes the surplus in Kubernetes' victim order, and writes status (replicas,
//! fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration, the
//! ReplicaFailure condition). Expectations keep a sync from acting again before the pod
//! informer has seen its own creations and deletions.
//!
//! Pods are read from an index built from the shared pod informer's events: pods by
//! controller uid, and orphans by namespace, so a sync touches its own pods only.

use crate::client::{Client, Event, Reader};
use crate::controllers::events::Recorder;
use crate::controllers::pods::{self, claim_pods, controller_of, controller_ref, pod_from_template};
use crate::controllers::runtime::{enqueue_from, run as run_queue, Action, Context, ObjectKey, Queue};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Most pods one sync creates or deletes (upstream's BurstReplicas).
pub const BURST_REPLICAS: usize = 500;
/// The first slow-start batch (upstream's SlowStartInitialBatchSize).
pub const SLOW_START_INITIAL_BATCH: usize = 1;
/// Expectations older than this are given up on (upstream's ExpectationsTimeout).
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Concurrent syncs per kind (upstream runs 5 for ReplicaSets).
const WORKERS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Client(#[from] crate::client::Error),
    /// A pod could not be created or deleted; the message is the API's.
    #[error("{0}")]
    Manage(String),
}

/// The message a Go client's `err.Error()` shows for an API error.
pub fn api_message(e: &crate::client::Error) -> String {
    match e {
        crate::client::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

/// A kind the engine manages: ReplicaSet (apps/v1) or ReplicationController (v1).
pub trait Replicated:
    k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned + Clone + Send + Sync + 'static
{
    /// Who records the events.
    const COMPONENT: &'static str;
    fn replicas(&self) -> i32;
    fn min_ready_seconds(&self) -> i32;
    /// The selector as a typed label selector (an RC's map becomes matchLabels).
    fn selector(&self) -> LabelSelector;
    fn template(&self) -> Option<&PodTemplateSpec>;
    fn status_view(&self) -> StatusView;
}

impl Replicated for ReplicaSet {
    const COMPONENT: &'static str = "replicaset-controller";
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }
    fn selector(&self) -> LabelSelector {
        self.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default()
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn status_view(&self) -> StatusView {
        let Some(s) = &self.status else { return StatusView::default() };
        StatusView {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas.unwrap_or(0),
            ready_replicas: s.ready_replicas.unwrap_or(0),
            available_replicas: s.available_replicas.unwrap_or(0),
            observed_generation: s.observed_generation.unwrap_or(0),
            conditions: s
                .conditions
                .iter()
                .flatten()
                .map(|c| Condition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                    last_transition_time: c.last_transition_time.as_ref().map(|t| t.0),
                })
                .collect(),
        }
    }
}

impl Replicated for ReplicationController {
    const COMPONENT: &'static str = "replication-controller";
    fn replicas(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
    }
    fn min_ready_seconds(&self) -> i32 {
        self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
    }
    fn selector(&self) -> LabelSelector {
        let labels = self.spec.as_ref().and_then(|s| s.selector.clone()).filter(|m| !m.is_empty());
        LabelSelector { match_labels: labels, match_expressions: None }
    }
    fn template(&self) -> Option<&PodTemplateSpec> {
        self.spec.as_ref()?.template.as_ref()
    }
    fn status_view(&self) -> StatusView {
        let Some(s) = &self.status else { return StatusView::default() };
        StatusView {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas.unwrap_or(0),
            ready_replicas: s.ready_replicas.unwrap_or(0),
            available_replicas: s.available_replicas.unwrap_or(0),
            observed_generation: s.observed_generation.unwrap_or(0),
            conditions: s
                .conditions
                .iter()
                .flatten()
                .map(|c| Condition {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                    last_transition_time: c.last_transition_time.as_ref().map(|t| t.0),
                })
                .collect(),
        }
    }
}

/// The status both kinds share, as the engine computes and compares it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusView {
    pub replicas: i32,
    pub fully_labeled_replicas: i32,
    pub ready_replicas: i32,
    pub available_replicas: i32,
    pub observed_generation: i64,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub last_transition_time: Option<jiff::Timestamp>,
}

impl StatusView {
    /// The status as JSON for a merge patch: zero counts and empty lists are removed, as
    /// Kubernetes' omitempty drops them (replicas is always written).
    pub fn to_patch(&self) -> Value {
        let nz = |n: i32| if n == 0 { Value::Null } else { json!(n) };
        let conditions: Value = if self.conditions.is_empty() {
            Value::Null
        } else {
            Value::Array(
                self.conditions
                    .iter()
                    .map(|c| {
                        let mut o = serde_json::Map::new();
                        o.insert("type".into(), json!(c.type_));
                        o.insert("status".into(), json!(c.status));
                        if let Some(t) = c.last_transition_time {
                            o.insert("lastTransitionTime".into(), json!(t.round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()));
                        }
                        if let Some(r) = &c.reason {
                            o.insert("reason".into(), json!(r));
                        }
                        if let Some(m) = &c.message {
                            o.insert("message".into(), json!(m));
                        }
                        Value::Object(o)
                    })
                    .collect(),
            )
        };
        json!({"status": {
            "replicas": self.replicas,
            "fullyLabeledReplicas": nz(self.fully_labeled_replicas),
            "readyReplicas": nz(self.ready_replicas),
            "availableReplicas": nz(self.available_replicas),
            "observedGeneration": if self.observed_generation == 0 { Value::Null } else { json!(self.observed_generation) },
            "conditions": conditions,
        }})
    }
}

/// What status is computed against: the owner's generation and spec.
#[derive(Debug, Clone, Copy)]
pub struct SpecView<'a> {
    pub generation: i64,
    pub replicas: i32,
    pub min_ready_seconds: i32,
    pub template_labels: Option<&'a BTreeMap<String, String>>,
}

/// The status a sync leaves, as upstream's calculateStatus: counts over the controlled
/// active pods, and the ReplicaFailure condition set on a create/delete error (kept as it
/// was while errors continue) and removed after a clean sync.
pub fn calculate_status(current: &StatusView, spec: &SpecView<'_>, pods: &[Arc<Pod>], manage_error: Option<&str>, now: jiff::Timestamp) -> StatusView {
    let SpecView { generation, replicas: spec_replicas, min_ready_seconds, template_labels } = *spec;
    let mut fully = 0;
    let mut ready = 0;
    let mut available = 0;
    for p in pods {
        let labels = p.metadata.labels.as_ref();
        if template_labels.into_iter().flatten().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)) {
            fully += 1;
        }
        if pods::is_ready(p) {
            ready += 1;
            if pods::is_available(p, min_ready_seconds, now) {
                available += 1;
            }
        }
    }
    let mut conditions = current.conditions.clone();
    let has_failure = conditions.iter().any(|c| c.type_ == "ReplicaFailure");
    match manage_error {
        Some(msg) if !has_failure => {
            let diff = pods.len() as i64 - i64::from(spec_replicas);
            let reason = match diff.cmp(&0) {
                Ordering::Less => "FailedCreate",
                Ordering::Greater => "FailedDelete",
                Ordering::Equal => "",
            };
            conditions.push(Condition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some(reason.to_string()).filter(|r| !r.is_empty()),
                message: Some(msg.to_string()),
                last_transition_time: Some(now),
            });
        }
        None if has_failure => conditions.retain(|c| c.type_ != "ReplicaFailure"),
        _ => {}
    }
    StatusView {
        replicas: pods.len() as i32,
        fully_labeled_replicas: fully,
        ready_replicas: ready,
        available_replicas: available,
        observed_generation: generation,
        conditions,
    }
}

/// Runs `count` calls of `f` in batches of 1, 2, 4, … (starting at `initial`), each batch
/// concurrently, stopping after the first batch with a failure. Returns how many succeeded
/// and the first error, as upstream's slowStartBatch.
pub async fn slow_start_batch<F, Fut, T, E>(count: usize, initial: usize, f: F) -> (Vec<T>, Option<E>)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut remaining = count;
    let mut done = Vec::with_capacity(count);
    let mut batch = remaining.min(initial.max(1));
    while batch > 0 {
        let results = futures::future::join_all((0..batch).map(|_| f())).await;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(t) => done.push(t),
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        if first_err.is_some() {
            return (done, first_err);
        }
        remaining -= batch;
        batch = remaining.min(2 * batch);
    }
    (done, None)
}

// ---- victims ----

fn phase_ordinal(pod: &Pod) -> u8 {
    match pods::phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("controller.kubernetes.io/pod-deletion-cost"))
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0)
}

fn max_restarts(pod: &Pod) -> i32 {
    pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).into_iter().flatten().map(|c| c.restart_count).max().unwrap_or(0)
}

/// floor(log2(now - t)) in nanoseconds, -1 for t at or after now (upstream's logarithmic
/// scale-down buckets).
fn log_rank(t: jiff::Timestamp, now: jiff::Timestamp) -> i64 {
    let d = now.as_nanosecond() - t.as_nanosecond();
    if d <= 0 {
        -1
    } else {
        (d as f64).log2() as i64
    }
}

/// Compares two timestamps for "newer first" (a missing time first), in logarithmic buckets
/// of age; ties in one bucket fall back to uid order.
fn newer_first(a: Option<jiff::Timestamp>, b: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Option<bool> {
    if a == b {
        return None;
    }
    match (a, b) {
        (None, _) => Some(true),
        (_, None) => Some(false),
        (Some(a), Some(b)) => {
            // Same logarithmic bucket: undecided here, so later criteria (and finally the uid)
            // decide; a uid tie-break here would make the order intransitive, and Rust's sort
            // panics on an inconsistent order where Go's tolerates it.
            let diff = log_rank(a, now) - log_rank(b, now);
            (diff != 0).then_some(diff < 0)
        }
    }
}

/// Whether pod `a` goes before pod `b` as a deletion victim (upstream's ActivePodsWithRanks
/// with LogarithmicScaleDown and PodDeletionCost): unassigned < assigned; Pending < Unknown <
/// Running; not ready < ready; lower deletion cost; more pods of the same owner family on its
/// node; ready for less time; more restarts; newer.
pub fn victim_before(a: &Pod, rank_a: usize, b: &Pod, rank_b: usize, now: jiff::Timestamp) -> bool {
    let node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    let (na, nb) = (node(a), node(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return na.is_empty();
    }
    if phase_ordinal(a) != phase_ordinal(b) {
        return phase_ordinal(a) < phase_ordinal(b);
    }
    let (ra, rb) = (pods::is_ready(a), pods::is_ready(b));
    if ra != rb {
        return !ra;
    }
    if deletion_cost(a) != deletion_cost(b) {
        return deletion_cost(a) < deletion_cost(b);
    }
    if rank_a != rank_b {
        return rank_a > rank_b;
    }
    let ua = a.metadata.uid.as_deref().unwrap_or("");
    let ub = b.metadata.uid.as_deref().unwrap_or("");
    if ra && rb {
        let ready_time = |p: &Pod| {
            p.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")?.last_transition_time.as_ref().map(|t| t.0)
        };
        if let Some(x) = newer_first(ready_time(a), ready_time(b), now) {
            return x;
        }
    }
    if max_restarts(a) != max_restarts(b) {
        return max_restarts(a) > max_restarts(b);
    }
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    newer_first(created(a), created(b), now).unwrap_or(ua < ub)
}

/// The `diff` pods to delete: ranked by how many active related pods (those of the owner's
/// sibling ReplicaSets, itself included) share their node.
pub fn pods_to_delete(pods: &[Arc<Pod>], related: &[Arc<Pod>], diff: usize, now: jiff::Timestamp) -> Vec<Arc<Pod>> {
    if diff >= pods.len() {
        return pods.to_vec();
    }
    let node = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    let mut on_node: HashMap<String, usize> = HashMap::new();
    for p in related.iter().filter(|p| pods::is_active(p)) {
        *on_node.entry(node(p)).or_default() += 1;
    }
    let mut ranked: Vec<(usize, &Arc<Pod>)> = pods.iter().map(|p| (on_node.get(&node(p)).copied().unwrap_or(0), p)).collect();
    ranked.sort_by(|(ra, a), (rb, b)| {
        if victim_before(a, *ra, b, *rb, now) {
            Ordering::Less
        } else if victim_before(b, *rb, a, *ra, now) {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    });
    ranked.into_iter().take(diff).map(|(_, p)| p.clone()).collect()
}

// ---- the pod index ----

fn pod_key(p: &Pod) -> String {
    format!("{}/{}", p.metadata.namespace.as_deref().unwrap_or(""), p.metadata.name.as_deref().unwrap_or(""))
}

fn rv_of(meta: &ObjectMeta) -> u64 {
    meta.resource_version.as_deref().and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// Where a pod is filed: under its ReplicaSet/ReplicationController controller's uid, as an
/// orphan of its namespace, or not at all (another kind controls it).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Owner(String),
    Orphan(String),
    Ignored,
}

fn slot_of(p: &Pod) -> Slot {
    match controller_of(&p.metadata) {
        Some(r) if is_managed_ref(&r.api_version, &r.kind) => Slot::Owner(r.uid.clone()),
        Some(_) => Slot::Ignored,
        None => Slot::Orphan(p.metadata.namespace.clone().unwrap_or_default()),
    }
}

fn is_managed_ref(api_version: &str, kind: &str) -> bool {
    (kind == "ReplicaSet" && api_version.starts_with("apps/")) || (kind == "ReplicationController" && api_version == "v1")
}

/// Pods by controller uid and orphans by namespace, kept from the pod informer's events.
#[derive(Default)]
pub struct PodIndex {
    pods: HashMap<String, Arc<Pod>>,
    by_owner: HashMap<String, HashSet<String>>,
    orphans: HashMap<String, HashSet<String>>,
}

impl PodIndex {
    fn unfile(&mut self, key: &str) -> Option<Arc<Pod>> {
        let old = self.pods.remove(key)?;
        let bucket = match slot_of(&old) {
            Slot::Owner(uid) => self.by_owner.get_mut(&uid).map(|s| (s, uid, true)),
            Slot::Orphan(ns) => self.orphans.get_mut(&ns).map(|s| (s, ns, false)),
            Slot::Ignored => None,
        };
        if let Some((set, k, owner)) = bucket {
            set.remove(key);
            if set.is_empty() {
                if owner {
                    self.by_owner.remove(&k);
                } else {
                    self.orphans.remove(&k);
                }
            }
        }
        Some(old)
    }

    /// Files the pod (replacing its older version); returns the version it replaced.
    /// An older resourceVersion of the same pod than the one filed is ignored.
    pub fn apply(&mut self, pod: Arc<Pod>) -> Option<Arc<Pod>> {
        let key = pod_key(&pod);
        if let Some(old) = self.pods.get(&key) {
            if old.metadata.uid == pod.metadata.uid && rv_of(&old.metadata) > rv_of(&pod.metadata) {
                return None;
            }
        }
        let old = self.unfile(&key);
        match slot_of(&pod) {
            Slot::Owner(uid) => {
                self.by_owner.entry(uid).or_default().insert(key.clone());
            }
            Slot::Orphan(ns) => {
                self.orphans.entry(ns).or_default().insert(key.clone());
            }
            Slot::Ignored => return old,
        }
        self.pods.insert(key, pod);
        old
    }

    pub fn remove(&mut self, pod: &Pod) -> Option<Arc<Pod>> {
        let key = pod_key(pod);
        match self.pods.get(&key) {
            Some(old) if old.metadata.uid == pod.metadata.uid => self.unfile(&key),
            _ => None,
        }
    }

    pub fn rebuild(&mut self, all: Vec<Arc<Pod>>) {
        *self = PodIndex::default();
        for p in all {
            self.apply(p);
        }
    }

    pub fn get(&self, ns: &str, name: &str) -> Option<&Arc<Pod>> {
        self.pods.get(&format!("{ns}/{name}"))
    }

    pub fn owned(&self, uid: &str) -> Vec<Arc<Pod>> {
        self.by_owner.get(uid).into_iter().flatten().filter_map(|k| self.pods.get(k).cloned()).collect()
    }

    pub fn orphans_in(&self, ns: &str) -> Vec<Arc<Pod>> {
        self.orphans.get(ns).into_iter().flatten().filter_map(|k| self.pods.get(k).cloned()).collect()
    }
}

// ---- expectations ----

/// What a sync is waiting to see: pods it created (by namespace/name) and pods it deleted
/// (namespace/name → uid), since when.
#[derive(Debug, Default)]
struct Expectation {
    adds: HashSet<String>,
    dels: HashMap<String, String>,
    since: Option<Instant>,
}

/// Upstream's ControllerExpectations, keyed by controller and tracking the pods themselves:
/// satisfied once the index holds every created pod and no longer holds a live copy of any
/// deleted one, or after EXPECTATIONS_TIMEOUT.
#[derive(Default)]
pub struct Expectations {
    map: Mutex<HashMap<ObjectKey, Expectation>>,
}

impl Expectations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, Expectation>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn expect_creations(&self, key: &ObjectKey, pods: impl IntoIterator<Item = String>) {
        let mut m = self.lock();
        let e = m.entry(key.clone()).or_default();
        e.adds.extend(pods);
        e.since = Some(Instant::now());
    }

    pub fn expect_deletions(&self, key: &ObjectKey, pods: impl IntoIterator<Item = (String, String)>) {
        let mut m = self.lock();
        let e = m.entry(key.clone()).or_default();
        e.dels.extend(pods);
        e.since = Some(Instant::now());
    }

    pub fn forget(&self, key: &ObjectKey) {
        self.lock().remove(key);
    }

    /// Whether the controller may act: everything it expects has been observed.
    pub fn satisfied(&self, key: &ObjectKey, index: &PodIndex) -> bool {
        let mut m = self.lock();
        let Some(e) = m.get_mut(key) else { return true };
        e.adds.retain(|k| !index.pods.contains_key(k));
        e.dels.retain(|k, uid| {
            index.pods.get(k).is_some_and(|p| p.metadata.uid.as_deref() == Some(uid.as_str()) && p.metadata.deletion_timestamp.is_none())
        });
        let expired = e.since.is_some_and(|t| t.elapsed() > EXPECTATIONS_TIMEOUT);
        if (e.adds.is_empty() && e.dels.is_empty()) || expired {
            m.remove(key);
            return true;
        }
        false
    }
}

// ---- the engine ----

/// One controller (one kind) over the shared pod index.
pub struct Engine<K: Replicated> {
    client: Client,
    recorder: Recorder,
    owners: Reader<K>,
    index: Arc<Mutex<PodIndex>>,
    expectations: Expectations,
}

impl<K: Replicated> Engine<K> {
    pub fn new(client: Client, recorder: &Recorder, owners: Reader<K>, index: Arc<Mutex<PodIndex>>) -> Engine<K> {
        Engine { client, recorder: recorder.for_component(K::COMPONENT, None), owners, index, expectations: Expectations::default() }
    }

    fn index(&self) -> std::sync::MutexGuard<'_, PodIndex> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The owner's candidate pods (its own and its namespace's orphans) and whether its
    /// expectations are satisfied.
    fn candidates(&self, key: &ObjectKey, owner: &K) -> (Vec<Arc<Pod>>, Vec<Arc<Pod>>, bool) {
        let uid = owner.metadata().uid.as_deref().unwrap_or("");
        let ns = key.ns().unwrap_or("");
        let index = self.index();
        let satisfied = self.expectations.satisfied(key, &index);
        let mut pods = index.owned(uid);
        pods.extend(index.orphans_in(ns));
        pods.retain(|p| pods::is_active(p));
        // Pods of sibling ReplicaSets (same controller), for victim ranking.
        let mut related = Vec::new();
        if let Some(parent) = controller_of(owner.metadata()) {
            for sib in self.owners.list() {
                if sib.metadata().namespace.as_deref() == Some(ns) && controller_of(sib.metadata()).is_some_and(|r| r.uid == parent.uid) {
                    related.extend(index.owned(sib.metadata().uid.as_deref().unwrap_or("")));
                }
            }
        } else {
            related = index.owned(uid);
        }
        (pods, related, satisfied)
    }

    #[tracing::instrument(skip(self), fields(kind = K::KIND, namespace = key.ns().unwrap_or(""), name = %key.name))]
    pub async fn sync(&self, key: ObjectKey) -> Result<Action, Error> {
        let Some(owner) = self.owners.get(key.ns(), &key.name) else {
            self.expectations.forget(&key);
            return Ok(Action::Done);
        };
        let selector = owner.selector();
        let (candidates, related, satisfied) = self.candidates(&key, &owner);
        let pods = claim_pods(&self.client, owner.as_ref(), &selector, candidates).await?;
        let mut manage_err = None;
        if satisfied && owner.metadata().deletion_timestamp.is_none() {
            if let Err(e) = self.manage(&key, owner.as_ref(), &pods, &related).await {
                manage_err = Some(e);
            }
        }
        let now = jiff::Timestamp::now();
        let current = owner.status_view();
        let template_labels = owner.template().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref());
        let msg = manage_err.as_ref().map(|e| e.to_string());
        let spec = SpecView {
            generation: owner.metadata().generation.unwrap_or(0),
            replicas: owner.replicas(),
            min_ready_seconds: owner.min_ready_seconds(),
            template_labels,
        };
        let status = calculate_status(&current, &spec, &pods, msg.as_deref(), now);
        if status != current {
            let api = self.client.api::<K>(key.ns())?;
            match api.patch_status(&key.name, &status.to_patch()).await {
                Ok(_) => {}
                Err(e) if e.is_not_found() => return Ok(Action::Done),
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(e) = manage_err {
            return Err(e);
        }
        let spec = owner.replicas();
        if owner.min_ready_seconds() > 0 && status.ready_replicas == spec && status.available_replicas != spec {
            return Ok(Action::RequeueAfter(Duration::from_secs(owner.min_ready_seconds() as u64)));
        }
        Ok(Action::Done)
    }

    /// Creates or deletes pods toward spec.replicas (upstream's manageReplicas).
    async fn manage(&self, key: &ObjectKey, owner: &K, pods: &[Arc<Pod>], related: &[Arc<Pod>]) -> Result<(), Error> {
        let want = owner.replicas().max(0) as usize;
        let ns = key.ns().unwrap_or("").to_string();
        if pods.len() < want {
            let diff = (want - pods.len()).min(BURST_REPLICAS);
            let Some(template) = owner.template() else { return Ok(()) };
            if template.metadata.as_ref().and_then(|m| m.labels.as_ref()).is_none_or(|l| l.is_empty()) {
                return Err(Error::Manage("unable to create pods, no labels".into()));
            }
            let prefix = if key.name.len() + 1 > 253 { key.name.clone() } else { format!("{}-", key.name) };
            let pod = pod_from_template(template, controller_ref(owner), &ns, &prefix);
            let api = self.client.api::<Pod>(Some(&ns))?;
            let (created, err) = slow_start_batch(diff, SLOW_START_INITIAL_BATCH, || {
                let api = api.clone();
                let pod = pod.clone();
                async move {
                    match api.create(&pod).await {
                        Ok(p) => {
                            let name = p.metadata.name.unwrap_or_default();
                            self.recorder.normal(owner, "SuccessfulCreate", format!("Created pod: {name}"));
                            Ok(Some(format!("{ns}/{name}", ns = key.ns().unwrap_or(""))))
                        }
                        Err(e) if namespace_terminating(&e) => Ok(None),
                        Err(e) => {
                            let msg = api_message(&e);
                            self.recorder.warning(owner, "FailedCreate", format!("Error creating: {msg}"));
                            Err(msg)
                        }
                    }
                }
            })
            .await;
            self.expectations.expect_creations(key, created.into_iter().flatten());
            if let Some(msg) = err {
                return Err(Error::Manage(msg));
            }
        } else if pods.len() > want {
            let diff = (pods.len() - want).min(BURST_REPLICAS);
            let victims = pods_to_delete(pods, related, diff, jiff::Timestamp::now());
            self.expectations.expect_deletions(
                key,
                victims.iter().map(|p| (pod_key(p), p.metadata.uid.clone().unwrap_or_default())),
            );
            let api = self.client.api::<Pod>(Some(&ns))?;
            let results = futures::future::join_all(victims.iter().map(|p| {
                let api = api.clone();
                async move {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    match api.delete(&name).await {
                        Ok(_) => {
                            self.recorder.normal(owner, "SuccessfulDelete", format!("Deleted pod: {name}"));
                            Ok(())
                        }
                        Err(e) if e.is_not_found() => Ok(()),
                        Err(e) => {
                            let msg = api_message(&e);
                            self.recorder.warning(owner, "FailedDelete", format!("Error deleting: {msg}"));
                            Err(format!("unable to delete pods: {msg}"))
                        }
                    }
                }
            }))
            .await;
            if let Some(Err(msg)) = results.into_iter().find(|r| r.is_err()) {
                // The failed deletions will not be observed; the next sync counts again.
                self.expectations.forget(key);
                return Err(Error::Manage(msg));
            }
        }
        Ok(())
    }
}

/// The create was refused because the namespace is being deleted (the NamespaceTerminating
/// cause): not a failure worth an event.
pub fn namespace_terminating(e: &crate::client::Error) -> bool {
    let crate::client::Error::Api(s) = e else { return false };
    s.details
        .as_ref()
        .and_then(|d| d.get("causes"))
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|c| c.get("reason").and_then(Value::as_str) == Some("NamespaceTerminating")))
}

/// Keys of the owners of kind `K` in `ns` whose selector matches the orphan's labels.
fn matching_owners<K: Replicated>(owners: &Reader<K>, pod: &Pod) -> Vec<ObjectKey> {
    let ns = pod.metadata.namespace.as_deref();
    owners
        .list()
        .iter()
        .filter(|o| o.metadata().namespace.as_deref() == ns)
        .filter(|o| {
            let sel = o.selector();
            !pods::is_empty_selector(&sel) && pods::selector_matches(&sel, pod.metadata.labels.as_ref())
        })
        .map(|o| ObjectKey::of(o.metadata()))
        .collect()
}

/// Routes a pod to the controllers that must look at it: its controller (if it is a live
/// ReplicaSet or ReplicationController with that uid), or every matching one for an orphan.
fn route(pod: &Pod, rs: &Reader<ReplicaSet>, rc: &Reader<ReplicationController>, rsq: &Queue, rcq: &Queue) {
    match controller_of(&pod.metadata) {
        Some(r) if is_managed_ref(&r.api_version, &r.kind) => {
            let ns = pod.metadata.namespace.as_deref();
            if r.kind == "ReplicaSet" {
                if rs.get(ns, &r.name).is_some_and(|o| o.metadata.uid.as_deref() == Some(r.uid.as_str())) {
                    rsq.add(ObjectKey::new(ns, &r.name));
                }
            } else if rc.get(ns, &r.name).is_some_and(|o| o.metadata.uid.as_deref() == Some(r.uid.as_str())) {
                rcq.add(ObjectKey::new(ns, &r.name));
            }
        }
        Some(_) => {}
        None => {
            for k in matching_owners(rs, pod) {
                rsq.add(k);
            }
            for k in matching_owners(rc, pod) {
                rcq.add(k);
            }
        }
    }
}

/// Runs both controllers until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    let (pods_inf, rs_inf, rc_inf) =
        match (ctx.informers.get::<Pod>(), ctx.informers.get::<ReplicaSet>(), ctx.informers.get::<ReplicationController>()) {
            (Ok(p), Ok(s), Ok(c)) => (p, s, c),
            _ => {
                tracing::error!("replicaset controller cannot start its informers");
                return;
            }
        };
    let mut pod_events = pods_inf.subscribe();
    let mut pod_reader = pods_inf.reader();
    let mut rs_reader = rs_inf.reader();
    let mut rc_reader = rc_inf.reader();
    tokio::select! {
        _ = ctx.stop.cancelled() => return,
        _ = async { pod_reader.wait_synced().await; rs_reader.wait_synced().await; rc_reader.wait_synced().await; } => {}
    }
    let index = Arc::new(Mutex::new(PodIndex::default()));
    index.lock().unwrap_or_else(|e| e.into_inner()).rebuild(pod_reader.list());

    let rsq = Queue::new();
    let rcq = Queue::new();
    enqueue_from(&rs_inf, rsq.clone(), ctx.stop.clone(), crate::controllers::runtime::self_key);
    enqueue_from(&rc_inf, rcq.clone(), ctx.stop.clone(), crate::controllers::runtime::self_key);
    for o in rs_reader.list() {
        rsq.add(ObjectKey::of(&o.metadata));
    }
    for o in rc_reader.list() {
        rcq.add(ObjectKey::of(&o.metadata));
    }

    // Pod events: keep the index, route to owners.
    {
        let (index, stop, rsq, rcq, rs_reader, rc_reader) =
            (index.clone(), ctx.stop.clone(), rsq.clone(), rcq.clone(), rs_reader.clone(), rc_reader.clone());
        tokio::spawn(async move {
            loop {
                let ev = tokio::select! {
                    _ = stop.cancelled() => return,
                    ev = pod_events.recv() => ev,
                };
                match ev {
                    Ok(Event::Applied(p)) => {
                        let old = index.lock().unwrap_or_else(|e| e.into_inner()).apply(p.clone());
                        if let Some(old) = old {
                            if controller_of(&old.metadata).map(|r| &r.uid) != controller_of(&p.metadata).map(|r| &r.uid) {
                                route(&old, &rs_reader, &rc_reader, &rsq, &rcq);
                            }
                        }
                        route(&p, &rs_reader, &rc_reader, &rsq, &rcq);
                    }
                    Ok(Event::Deleted(p)) => {
                        index.lock().unwrap_or_else(|e| e.into_inner()).remove(&p);
                        route(&p, &rs_reader, &rc_reader, &rsq, &rcq);
                    }
                    Ok(Event::Restarted) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        index.lock().unwrap_or_else(|e| e.into_inner()).rebuild(pod_reader.list());
                        for o in rs_reader.list() {
                            rsq.add(ObjectKey::of(&o.metadata));
                        }
                        for o in rc_reader.list() {
                            rcq.add(ObjectKey::of(&o.metadata));
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    let rs_engine = Arc::new(Engine::<ReplicaSet>::new(ctx.client.clone(), &ctx.recorder, rs_reader, index.clone()));
    let rc_engine = Arc::new(Engine::<ReplicationController>::new(ctx.client.clone(), &ctx.recorder, rc_reader, index));
    let rs_task = run_queue("replicaset", rsq, WORKERS, ctx.stop.clone(), move |k| {
        let e = rs_engine.clone();
        async move { e.sync(k).await }
    });
    let rc_task = run_queue("replicationcontroller", rcq, WORKERS, ctx.stop.clone(), move |k| {
        let e = rc_engine.clone();
        async move { e.sync(k).await }
    });
    tokio::join!(rs_task, rc_task);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Informer;
    use crate::registry::generic::Registry;
    use crate::store::{recording::RecordingBackend, Store, StoreOptions};
    use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use std::sync::atomic::{AtomicUsize, Ordering as AtOrd};
    use tokio_util::sync::CancellationToken;

    fn ts(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    struct P {
        node: &'static str,
        phase: &'static str,
        ready_at: Option<i64>,
        restarts: i32,
        created: i64,
        uid: &'static str,
    }

    fn pod(p: P) -> Arc<Pod> {
        Arc::new(Pod {
            metadata: ObjectMeta {
                name: Some(p.uid.to_string()),
                namespace: Some("default".into()),
                uid: Some(p.uid.to_string()),
                creation_timestamp: Some(Time(ts(p.created))),
                ..Default::default()
            },
            spec: Some(PodSpec { node_name: Some(p.node.to_string()).filter(|n| !n.is_empty()), ..Default::default() }),
            status: Some(PodStatus {
                phase: Some(p.phase.into()),
                conditions: p.ready_at.map(|t| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: "True".into(),
                        last_transition_time: Some(Time(ts(t))),
                        ..Default::default()
                    }]
                }),
                container_statuses: Some(vec![ContainerStatus { restart_count: p.restarts, ..Default::default() }]),
                ..Default::default()
            }),
        })
    }

    fn base(uid: &'static str) -> P {
        P { node: "n1", phase: "Running", ready_at: Some(1000), restarts: 0, created: 900, uid }
    }

    fn order(pods: &[Arc<Pod>], related: &[Arc<Pod>]) -> Vec<String> {
        pods_to_delete(pods, related, pods.len() - 1, ts(100_000))
            .iter()
            .map(|p| p.metadata.uid.clone().unwrap())
            .collect()
    }

    #[test]
    fn the_victim_order_is_a_total_order() {
        // Ready times in one log bucket but not equal, mixed with restarts and creation times:
        // the mix that made the order intransitive (and `sort_by` panic) before.
        const UIDS: [&str; 12] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
        let pods: Vec<Arc<Pod>> = UIDS
            .iter()
            .enumerate()
            .map(|(i, uid)| {
                let i = i as i64;
                pod(P { ready_at: Some(90_000 + (i % 3) * 100), restarts: (i % 2) as i32, created: 800 + (i % 4) * 50, ..base(uid) })
            })
            .collect();
        let now = ts(100_000);
        let before = |a: &Arc<Pod>, b: &Arc<Pod>| victim_before(a, 1, b, 1, now);
        for a in &pods {
            assert!(!before(a, a));
            for b in &pods {
                for c in &pods {
                    if before(a, b) && before(b, c) {
                        assert!(before(a, c), "{:?} < {:?} < {:?} but not {:?} < {:?}", a.metadata.uid, b.metadata.uid, c.metadata.uid, a.metadata.uid, c.metadata.uid);
                    }
                }
            }
        }
        assert_eq!(pods_to_delete(&pods, &pods, 6, now).len(), 6);
    }

    #[test]
    fn victims_follow_upstream_ranking() {
        let pods = vec![
            pod(base("running-ready")),
            pod(P { node: "", phase: "Pending", ready_at: None, ..base("unassigned") }),
            pod(P { phase: "Pending", ready_at: None, ..base("pending") }),
            pod(P { phase: "Unknown", ready_at: None, ..base("unknown") }),
            pod(P { ready_at: None, ..base("not-ready") }),
            pod(P { restarts: 5, ..base("restarts") }),
        ];
        assert_eq!(order(&pods, &pods), ["unassigned", "pending", "unknown", "not-ready", "restarts"]);

        // Ready for less time goes first; within one log2 bucket of age, the uid decides.
        let pods = vec![pod(P { ready_at: Some(10), ..base("long") }), pod(P { ready_at: Some(99_000), ..base("short") })];
        assert_eq!(order(&pods, &pods), ["short"]);
        // Newer first when everything else ties (ages 1000 and 50000 s: different buckets).
        let pods = vec![pod(P { created: 99_000, ..base("new") }), pod(P { created: 50_000, ..base("old") })];
        assert_eq!(order(&pods, &[]), ["new"]);
        let pods = vec![pod(P { created: 99_000, ..base("b") }), pod(P { created: 99_001, ..base("a") })];
        assert_eq!(order(&pods, &[]), ["a"], "same bucket: uid order");

        // Doubled up on a node (counting the sibling ReplicaSets' pods) goes first.
        let mine = vec![pod(P { node: "n1", ..base("alone") }), pod(P { node: "n2", ..base("crowded") })];
        let related = vec![mine[0].clone(), mine[1].clone(), pod(P { node: "n2", ..base("sibling") })];
        assert_eq!(order(&mine, &related), ["crowded"]);
    }

    #[test]
    fn deletion_cost_annotation_orders_before_rank() {
        let mut cheap = (*pod(base("cheap"))).clone();
        cheap.metadata.annotations = Some([("controller.kubernetes.io/pod-deletion-cost".to_string(), "-5".to_string())].into());
        let pods = vec![pod(base("normal")), Arc::new(cheap)];
        assert_eq!(order(&pods, &pods), ["cheap"]);
    }

    #[tokio::test]
    async fn slow_start_doubles_batches_and_stops_at_the_first_failing_batch() {
        let calls = AtomicUsize::new(0);
        let (ok, err) = slow_start_batch(20, 1, || {
            let n = calls.fetch_add(1, AtOrd::SeqCst);
            async move { if n == 5 { Err("quota") } else { Ok(n) } }
        })
        .await;
        // Batches 1, 2, 4: the third batch (calls 3..6) holds the failure; no fourth batch.
        assert_eq!(calls.load(AtOrd::SeqCst), 7);
        assert_eq!(ok.len(), 6);
        assert_eq!(err, Some("quota"));
        let calls = AtomicUsize::new(0);
        let (ok, err) = slow_start_batch(10, 1, || {
            calls.fetch_add(1, AtOrd::SeqCst);
            async { Ok::<_, ()>(()) }
        })
        .await;
        assert_eq!((ok.len(), err), (10, None));
    }

    fn sv(generation: i64, replicas: i32, min_ready_seconds: i32) -> SpecView<'static> {
        SpecView { generation, replicas, min_ready_seconds, template_labels: None }
    }

    #[test]
    fn replica_failure_is_set_on_errors_and_removed_after_a_clean_sync() {
        let now = ts(5000);
        let pods = vec![pod(base("a"))];
        let s = calculate_status(&StatusView::default(), &sv(3, 2, 0), &pods, Some("pods \"x\" is forbidden: exceeded quota"), now);
        assert_eq!(s.replicas, 1);
        assert_eq!(s.ready_replicas, 1);
        assert_eq!(s.observed_generation, 3);
        assert_eq!(s.conditions.len(), 1);
        assert_eq!(s.conditions[0].reason.as_deref(), Some("FailedCreate"));
        // Still failing: the condition stays as it was.
        let again = calculate_status(&s, &sv(3, 2, 0), &pods, Some("other"), ts(6000));
        assert_eq!(again.conditions, s.conditions);
        let clean = calculate_status(&s, &sv(3, 2, 0), &pods, None, now);
        assert!(clean.conditions.is_empty());
        let patch = clean.to_patch();
        assert_eq!(patch["status"]["conditions"], Value::Null);
        assert_eq!(patch["status"]["replicas"], 1);
        assert_eq!(patch["status"]["fullyLabeledReplicas"], 1);
    }

    #[test]
    fn available_needs_min_ready_seconds() {
        let pods = vec![pod(P { ready_at: Some(1000), ..base("a") }), pod(P { ready_at: Some(1095), ..base("b") })];
        let s = calculate_status(&StatusView::default(), &sv(1, 2, 10), &pods, None, ts(1100));
        assert_eq!((s.ready_replicas, s.available_replicas), (2, 1));
    }

    async fn client() -> Client {
        let opts = StoreOptions { history_revisions: 1_000_000, compaction_interval: Duration::from_secs(3600) };
        let store = Store::open_with_backend(Arc::new(RecordingBackend::default()), opts).unwrap();
        let client = Client::new(Registry::new(store), "test");
        let ns = k8s_openapi::api::core::v1::Namespace {
            metadata: ObjectMeta { name: Some("default".into()), ..Default::default() },
            ..Default::default()
        };
        client.api::<k8s_openapi::api::core::v1::Namespace>(None).unwrap().create(&ns).await.unwrap();
        client
    }

    fn replicaset(replicas: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
        }))
        .unwrap()
    }

    // Real time: under paused time, a wait on the store's writer thread lets tokio jump the
    // clock to the compactor's timer (an hour on), which would expire the expectations.
    #[tokio::test]
    async fn expectations_hold_back_a_second_sync_until_the_creations_are_seen() {
        let client = client().await;
        let stop = CancellationToken::new();
        let rs_api = client.api::<ReplicaSet>(Some("default")).unwrap();
        rs_api.create(&replicaset(3)).await.unwrap();
        let informer = Informer::<ReplicaSet>::start(&client, None, stop.clone()).unwrap();
        let mut reader = informer.reader();
        reader.wait_synced().await;
        let index = Arc::new(Mutex::new(PodIndex::default()));
        let recorder = Recorder::start(client.clone(), stop.clone());
        let engine = Engine::<ReplicaSet>::new(client.clone(), &recorder, reader, index.clone());
        let key = ObjectKey::new(Some("default"), "web");
        let pods_api = client.api::<Pod>(Some("default")).unwrap();

        engine.sync(key.clone()).await.unwrap();
        let (created, _) = pods_api.list(None).await.unwrap();
        assert_eq!(created.len(), 3);
        assert!(created.iter().all(|p| p.metadata.generate_name.as_deref() == Some("web-")));

        // The index has not seen them yet: a second sync must not create more.
        engine.sync(key.clone()).await.unwrap();
        assert_eq!(pods_api.list(None).await.unwrap().0.len(), 3);

        // Seen: satisfied, and nothing more to do.
        for p in &created[..2] {
            index.lock().unwrap().apply(Arc::new(p.clone()));
        }
        engine.sync(key.clone()).await.unwrap();
        assert_eq!(pods_api.list(None).await.unwrap().0.len(), 3, "one creation still unseen");
        index.lock().unwrap().apply(Arc::new(created[2].clone()));
        engine.sync(key.clone()).await.unwrap();
        assert_eq!(pods_api.list(None).await.unwrap().0.len(), 3);

        // The status write of 3 must reach the cache before the next sync compares with it
        // (else a stale cached 2 would make the final status look unchanged).
        let cache = informer.reader();
        for _ in 0..500 {
            if cache.get(Some("default"), "web").and_then(|rs| rs.status.as_ref().map(|s| s.replicas)) == Some(3) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }

        // A pod deleted behind the controller's back is replaced once seen gone.
        pods_api.delete(created[0].metadata.name.as_deref().unwrap()).await.unwrap();
        index.lock().unwrap().remove(&created[0]);
        engine.sync(key.clone()).await.unwrap();
        assert_eq!(pods_api.list(None).await.unwrap().0.len(), 3);

        // Status: written once the informer shows the RS (status is compared with the cache).
        let rs = rs_api.get("web").await.unwrap();
        assert_eq!(rs.status.as_ref().map(|s| s.replicas), Some(2), "the index held 2 when status was computed");
        stop.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn expectations_time_out() {
        let e = Expectations::default();
        let key = ObjectKey::new(Some("default"), "web");
        let index = PodIndex::default();
        e.expect_creations(&key, ["default/web-abcde".to_string()]);
        assert!(!e.satisfied(&key, &index));
        tokio::time::advance(EXPECTATIONS_TIMEOUT + Duration::from_secs(1)).await;
        assert!(e.satisfied(&key, &index));
    }
}
