//! The scheduler, modelled on kube-scheduler 1.33 with its default profile: pending pods of
//! `default-scheduler` wait in a priority queue; each scheduling cycle filters every node,
//! scores the feasible ones and assumes the pod onto the best, and binders write the binding
//! subresource concurrently. A pod that fits nowhere gets PodScheduled=False (Unschedulable)
//! with FitError's message and a FailedScheduling event, and is retried when the cluster
//! changes. Reads come from the shared informers; writes go through the in-process client.

pub mod cache;
pub mod filters;
pub mod queue;
pub mod scoring;

use crate::client::{Client, Event, Reader};
use crate::controllers::events::Recorder;
use crate::controllers::runtime::Context;
use cache::{pod_key, Cache, PodInfo};
use filters::{plugin, NamespaceLabels, PodCtx, Status};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use queue::SchedulingQueue;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
#[cfg(test)]
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio::time::Instant;

pub const SCHEDULER_NAME: &str = "default-scheduler";
/// Bindings and status writes in flight at once.
const BINDERS: usize = 256;
/// How often unschedulable pods are checked for the five-minute retry.
const FLUSH_INTERVAL: Duration = Duration::from_secs(30);

/// The outcome of one scheduling cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Assumed onto this node; bind it.
    Bind(String),
    /// Fits nowhere: the PodScheduled=False message, and the plugins that rejected it.
    Unschedulable { message: String, plugins: u8 },
}

/// Whether this scheduler is responsible for the pod while it is pending.
pub fn responsible_for(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return false };
    spec.scheduler_name.as_deref().is_none_or(|n| n.is_empty() || n == SCHEDULER_NAME)
        && spec.node_name.as_deref().is_none_or(str::is_empty)
        && spec.scheduling_gates.as_ref().is_none_or(|g| g.is_empty())
        && pod.metadata.deletion_timestamp.is_none()
        && !matches!(crate::controllers::pods::phase(pod), "Succeeded" | "Failed")
}

fn node_name_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref().filter(|n| !n.is_empty())
}

/// The scheduler's state: its cache of nodes and placed pods, and its queue of pending pods.
#[derive(Default)]
pub struct Scheduler {
    pub cache: Cache,
    pub queue: SchedulingQueue,
}

impl Scheduler {
    pub fn new() -> Scheduler {
        Scheduler::default()
    }

    /// A pod was added or updated. Returns the plugins whose rejections the change may undo
    /// (a placed pod finished, appeared or changed its labels), as `filters::plugin` bits.
    pub fn on_pod(&mut self, pod: Arc<Pod>, now: Instant) -> u8 {
        let key = pod_key(&pod);
        if let Some(node) = node_name_of(&pod) {
            self.queue.remove(&key);
            if matches!(crate::controllers::pods::phase(&pod), "Succeeded" | "Failed") {
                return if self.cache.unplace(&key).is_some() { plugin::POD_REMOVED } else { 0 };
            }
            let old_labels = self.cache.placed_pod(&key).map(|p| p.pod.metadata.labels.clone());
            let known = old_labels.is_some();
            let labels_changed = old_labels.is_some_and(|l| l != pod.metadata.labels);
            let node = node.to_string();
            self.cache.place(Arc::new(PodInfo::new(pod)), &node, false);
            return if labels_changed || !known { plugin::POD_LABELS } else { 0 };
        }
        if self.cache.placement(&key).is_some_and(|(_, assumed)| assumed) {
            if self.cache.placed_pod(&key).is_some_and(|p| p.pod.metadata.uid == pod.metadata.uid) {
                // Bound by us; the informer has not caught up yet.
                return 0;
            }
            // A new pod of the same name: the assumed one is gone.
            self.cache.unplace(&key);
        }
        if !responsible_for(&pod) {
            self.queue.remove(&key);
            return 0;
        }
        let changed = self.queue.pod(&key).is_some_and(|old| old.spec != pod.spec || old.metadata.labels != pod.metadata.labels);
        self.queue.add(pod, changed, now);
        0
    }

    /// A pod was deleted; returns the plugins whose rejections that may undo.
    pub fn on_pod_deleted(&mut self, pod: &Pod) -> u8 {
        let key = pod_key(pod);
        self.queue.remove(&key);
        if self.cache.unplace(&key).is_some() { plugin::POD_REMOVED } else { 0 }
    }

    /// A node was added or updated; returns the plugins whose rejections that may undo (all
    /// of them when anything the filters read changed).
    pub fn on_node(&mut self, node: Arc<Node>) -> u8 {
        let name = node.metadata.name.clone().unwrap_or_default();
        let changed = match self.cache.node(&name).and_then(|n| n.node.as_ref()) {
            None => true,
            Some(old) => {
                old.metadata.labels != node.metadata.labels
                    || old.spec != node.spec
                    || old.status.as_ref().and_then(|s| s.allocatable.as_ref()) != node.status.as_ref().and_then(|s| s.allocatable.as_ref())
            }
        };
        self.cache.set_node(node);
        if changed { plugin::ALL } else { 0 }
    }

    pub fn on_node_deleted(&mut self, name: &str) {
        self.cache.remove_node(name);
    }

    /// Rebuilds from full lists (start, or after missing events), keeping assumed pods whose
    /// bindings the lists do not show yet.
    pub fn resync(&mut self, pods: &[Arc<Pod>], nodes: &[Arc<Node>], now: Instant) {
        let names: HashSet<&str> = nodes.iter().filter_map(|n| n.metadata.name.as_deref()).collect();
        let stale: Vec<String> = self.cache.nodes().map(|n| n.name().to_string()).filter(|n| !names.contains(n.as_str())).collect();
        for n in stale {
            self.cache.remove_node(&n);
        }
        for n in nodes {
            self.on_node(n.clone());
        }
        let keys: HashSet<String> = pods.iter().map(|p| pod_key(p)).collect();
        for k in self.cache.placed_keys() {
            if !keys.contains(&k) {
                self.cache.unplace(&k);
            }
        }
        for k in self.queue.keys() {
            if !keys.contains(&k) {
                self.queue.remove(&k);
            }
        }
        // Oldest first, so that pods of equal priority keep their order in the queue.
        let mut ordered: Vec<&Arc<Pod>> = pods.iter().collect();
        ordered.sort_by_key(|p| (p.metadata.creation_timestamp.as_ref().map(|t| t.0), p.metadata.name.clone()));
        for p in ordered {
            self.on_pod(p.clone(), now);
        }
        self.queue.move_all(now);
    }

    /// One scheduling cycle for `pod`: filter, score, pick; a chosen node is assumed at once.
    pub fn schedule(&mut self, pod: &Arc<Pod>, ns_labels: NamespaceLabels, rng: &mut impl Rng) -> Decision {
        let decision = self.decide(pod, ns_labels, rng);
        if let Decision::Bind(node) = &decision {
            self.cache.place(Arc::new(PodInfo::new(pod.clone())), node, true);
        }
        decision
    }

    fn decide(&self, pod: &Arc<Pod>, ns_labels: NamespaceLabels, rng: &mut impl Rng) -> Decision {
        let num_nodes = self.cache.node_count();
        if num_nodes == 0 {
            return Decision::Unschedulable { message: filters::NO_NODES.to_string(), plugins: 0 };
        }
        let ctx = PodCtx::new(pod, &self.cache, ns_labels);
        let mut feasible = Vec::new();
        let mut statuses: Vec<(String, Status)> = Vec::new();
        for node in self.cache.nodes() {
            match filters::run_filters(&ctx, node) {
                Ok(()) => feasible.push(node),
                Err(s) => statuses.push((node.name().to_string(), s)),
            }
        }
        if feasible.is_empty() {
            let post = filters::preemption_message(&ctx, &self.cache, &statuses);
            let plugins = statuses.iter().fold(0, |acc, (_, s)| acc | s.plugin);
            let message = filters::fit_error_message(num_nodes, &statuses, post.as_deref());
            return Decision::Unschedulable { message, plugins };
        }
        if feasible.len() == 1 {
            return Decision::Bind(feasible[0].name().to_string());
        }
        let scores = scoring::score(&ctx, &feasible, &self.cache, ns_labels);
        // The best score; ties broken at random (reservoir sampling, as selectHost does).
        let mut best = 0usize;
        let mut ties = 0u32;
        for (i, s) in scores.iter().enumerate() {
            if *s > scores[best] {
                best = i;
                ties = 1;
            } else if *s == scores[best] {
                ties += 1;
                if rng.random_range(0..ties) == 0 {
                    best = i;
                }
            }
        }
        Decision::Bind(feasible[best].name().to_string())
    }
}

struct Shared {
    state: Mutex<Scheduler>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Scheduler> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    let (pod_inf, node_inf, ns_inf) = match (ctx.informers.get::<Pod>(), ctx.informers.get::<Node>(), ctx.informers.get::<Namespace>()) {
        (Ok(p), Ok(n), Ok(ns)) => (p, n, ns),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            tracing::error!(error = %e, "scheduler cannot start its informers");
            return;
        }
    };
    let pod_events = pod_inf.subscribe();
    let node_events = node_inf.subscribe();
    let (mut pods, mut nodes, mut namespaces) = (pod_inf.reader(), node_inf.reader(), ns_inf.reader());
    tokio::select! {
        _ = ctx.stop.cancelled() => return,
        _ = async { pods.wait_synced().await; nodes.wait_synced().await; namespaces.wait_synced().await; } => {}
    }
    let shared = Arc::new(Shared { state: Mutex::new(Scheduler::new()), wake: Notify::new() });
    shared.lock().resync(&pods.list(), &nodes.list(), Instant::now());
    tokio::spawn(watch_cluster(shared.clone(), pod_events, node_events, pods.clone(), nodes.clone(), ctx.stop.clone()));
    let flusher = shared.clone();
    let stop = ctx.stop.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    flusher.lock().queue.flush_unschedulable(Instant::now());
                    flusher.wake.notify_one();
                }
            }
        }
    });
    let recorder = ctx.recorder.for_component(SCHEDULER_NAME, None);
    schedule_loop(shared, ctx.client.clone(), recorder, pods, namespaces, ctx.stop.clone()).await;
}

/// Feeds pod and node changes into the cache and queue.
async fn watch_cluster(
    shared: Arc<Shared>,
    mut pod_events: broadcast::Receiver<Event<Pod>>,
    mut node_events: broadcast::Receiver<Event<Node>>,
    pods: Reader<Pod>,
    nodes: Reader<Node>,
    stop: tokio_util::sync::CancellationToken,
) {
    use broadcast::error::RecvError;
    loop {
        let mut resync = false;
        tokio::select! {
            _ = stop.cancelled() => return,
            ev = pod_events.recv() => {
                let now = Instant::now();
                let mut s = shared.lock();
                let moved = match ev {
                    Ok(Event::Applied(p)) => s.on_pod(p, now),
                    Ok(Event::Deleted(p)) => s.on_pod_deleted(&p),
                    Ok(Event::Restarted) | Err(RecvError::Lagged(_)) => { resync = true; 0 }
                    Err(RecvError::Closed) => return,
                };
                s.queue.moved(moved, now);
            }
            ev = node_events.recv() => {
                let now = Instant::now();
                let mut s = shared.lock();
                let moved = match ev {
                    Ok(Event::Applied(n)) => s.on_node(n),
                    Ok(Event::Deleted(n)) => { s.on_node_deleted(n.metadata.name.as_deref().unwrap_or("")); 0 }
                    Ok(Event::Restarted) | Err(RecvError::Lagged(_)) => { resync = true; 0 }
                    Err(RecvError::Closed) => return,
                };
                s.queue.moved(moved, now);
            }
        }
        if resync {
            tracing::debug!("scheduler missed events; resyncing from the informer caches");
            shared.lock().resync(&pods.list(), &nodes.list(), Instant::now());
        }
        shared.wake.notify_one();
    }
}

async fn schedule_loop(
    shared: Arc<Shared>,
    client: Client,
    recorder: Recorder,
    pods: Reader<Pod>,
    namespaces: Reader<Namespace>,
    stop: tokio_util::sync::CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(BINDERS));
    let ns_labels = move |ns: &str| namespaces.get(None, ns).and_then(|n| n.metadata.labels.clone());
    let mut rng = rand::rngs::StdRng::from_os_rng();
    loop {
        let notified = shared.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (next, wake_at) = {
            let mut s = shared.lock();
            match s.queue.pop(Instant::now()) {
                Some(pod) => {
                    let d = s.schedule(&pod, &ns_labels, &mut rng);
                    (Some((pod, d)), None)
                }
                None => (None, s.queue.next_backoff()),
            }
        };
        let Some((pod, decision)) = next else {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = &mut notified => {}
                _ = async { match wake_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {}
            }
            continue;
        };
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let key = pod_key(&pod);
        match decision {
            Decision::Bind(node) => {
                let (shared, client, recorder) = (shared.clone(), client.clone(), recorder.clone());
                tokio::spawn(async move {
                    bind(&shared, &client, &recorder, &pod, &key, &node).await;
                    drop(permit);
                });
            }
            Decision::Unschedulable { message, plugins } => {
                shared.lock().queue.failed(&key, Some(plugins), Instant::now());
                let latest = pods.get(pod.metadata.namespace.as_deref(), pod.metadata.name.as_deref().unwrap_or("")).unwrap_or(pod);
                let (client, recorder) = (client.clone(), recorder.clone());
                tokio::spawn(async move {
                    if let Err(e) = record_unschedulable(&client, &recorder, &latest, &message).await {
                        tracing::debug!(pod = %key, error = %e, "updating the PodScheduled condition failed");
                    }
                    drop(permit);
                });
            }
        }
    }
}

async fn bind(shared: &Shared, client: &Client, recorder: &Recorder, pod: &Arc<Pod>, key: &str, node: &str) {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let result = match client.api::<Pod>(Some(ns)) {
        Ok(api) => api.bind(name, node).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            shared.lock().queue.done(key);
            recorder.normal(pod.as_ref(), "Scheduled", format!("Successfully assigned {ns}/{name} to {node}"));
        }
        Err(e) => {
            let now = Instant::now();
            let mut s = shared.lock();
            if s.cache.placement(key) == Some((node, true)) {
                s.cache.unplace(key);
            }
            if e.is_not_found() || e.is_conflict() {
                // Gone, or bound meanwhile: the informer reports what became of it.
                s.queue.done(key);
            } else {
                tracing::warn!(pod = %key, node, error = %e, "binding failed; retrying after backoff");
                s.queue.failed(key, None, now);
            }
            s.queue.moved(filters::plugin::POD_REMOVED, now);
            drop(s);
            shared.wake.notify_one();
        }
    }
}

/// PodScheduled=False with reason Unschedulable and the message, and a FailedScheduling
/// event, unless the pod already says exactly that.
async fn record_unschedulable(client: &Client, recorder: &Recorder, pod: &Pod, message: &str) -> crate::client::Result<()> {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let current = conditions.iter().find(|c| c.type_ == "PodScheduled");
    if current.is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable") && c.message.as_deref() == Some(message)) {
        return Ok(());
    }
    let since = current.filter(|c| c.status == "False").and_then(|c| c.last_transition_time.clone());
    let cond = PodCondition {
        type_: "PodScheduled".into(),
        status: "False".into(),
        reason: Some("Unschedulable".into()),
        message: Some(message.to_string()),
        last_probe_time: None,
        last_transition_time: Some(since.unwrap_or_else(|| Time(jiff::Timestamp::now()))),
        observed_generation: None,
    };
    let mut list: Vec<PodCondition> = conditions.into_iter().filter(|c| c.type_ != "PodScheduled").collect();
    list.push(cond);
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let api = client.api::<Pod>(Some(ns))?;
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": pod.metadata.resource_version},
        "status": {"conditions": list},
    });
    match api.patch_status(name, &patch).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) if e.is_conflict() => {
            // Changed meanwhile: write against the fresh object if it is still unbound.
            let Some(fresh) = api.get_opt(name).await? else { return Ok(()) };
            if node_name_of(&fresh).is_some() {
                return Ok(());
            }
            let patch = serde_json::json!({"metadata": {"resourceVersion": fresh.metadata.resource_version}, "status": {"conditions": list}});
            api.patch_status(name, &patch).await?;
        }
        Err(e) => return Err(e),
    }
    recorder.warning(pod, "FailedScheduling", message);
    Ok(())
}

/// Labels of a namespace from a fixed map (tests).
#[cfg(test)]
fn ns_map(m: &BTreeMap<String, BTreeMap<String, String>>) -> impl Fn(&str) -> Option<BTreeMap<String, String>> + '_ {
    move |ns: &str| m.get(ns).cloned()
}

#[cfg(test)]
mod tests;
