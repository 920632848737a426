//! The node lifecycle controller and the NoExecute taint manager. Every 5 s it checks each
//! node's heartbeats (Lease renewals and status reports, timed locally as upstream does):
//! silent for the node-monitor grace period (50 s) means the kubelet's conditions go Unknown
//! and the node's pods NotReady. Conditions become taints (`node.kubernetes.io/unreachable`,
//! `not-ready`, `unschedulable`, NoSchedule always; NoExecute unless the zone is disrupted),
//! and the taint manager deletes pods that do not tolerate a NoExecute taint, at once or when
//! their tolerationSeconds run out.

use super::runtime::{self, Action, Context, ObjectKey, Queue};
use crate::client::Reader;
use crate::scheduler::filters::tolerates;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// --node-monitor-grace-period (1.32+ default).
pub const NODE_MONITOR_GRACE_PERIOD: Duration = Duration::from_secs(50);
/// --node-startup-grace-period.
pub const NODE_STARTUP_GRACE_PERIOD: Duration = Duration::from_secs(60);
/// --node-monitor-period.
pub const NODE_MONITOR_PERIOD: Duration = Duration::from_secs(5);
/// --unhealthy-zone-threshold and --large-cluster-size-threshold.
const UNHEALTHY_ZONE_THRESHOLD: f64 = 0.55;
const LARGE_CLUSTER_THRESHOLD: usize = 50;

pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const TAINT_NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// The kubelet's conditions the controller turns Unknown.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Client(#[from] crate::client::Error),
}

// ---------------------------------------------------------------------------------------
// Health: when did we last hear from each node?

/// What the controller last observed of a node, with the local time it changed.
#[derive(Debug, Clone)]
pub struct Observed {
    pub probe: Instant,
    heartbeat: Option<String>,
    renew: Option<String>,
}

/// Updates the probe time when the node's status heartbeat or its lease renewal changed.
pub fn observe(prev: Option<&Observed>, node: &Node, lease: Option<&Lease>, now: Instant) -> Observed {
    let heartbeat = ready_condition(node).and_then(|c| c.last_heartbeat_time.as_ref()).map(|t| t.0.to_string());
    let renew = lease.and_then(|l| l.spec.as_ref()?.renew_time.as_ref()).map(|t| t.0.to_string());
    match prev {
        Some(p) if p.heartbeat == heartbeat && p.renew == renew => p.clone(),
        Some(_) => Observed { probe: now, heartbeat, renew },
        None => Observed { probe: now, heartbeat, renew },
    }
}

pub fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

fn ready_status(node: &Node) -> &str {
    ready_condition(node).map(|c| c.status.as_str()).unwrap_or("Unknown")
}

/// The conditions after the grace period ran out: each kubelet condition Unknown (kept as
/// they are when already Unknown). None when nothing changes.
pub fn unknown_conditions(node: &Node, now: jiff::Timestamp) -> Option<Vec<NodeCondition>> {
    let mut conds = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let mut changed = false;
    for t in KUBELET_CONDITIONS {
        match conds.iter_mut().find(|c| c.type_ == t) {
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            Some(_) => {}
            None => {
                conds.push(NodeCondition {
                    type_: t.into(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: Some(Time(node_created(node).unwrap_or(now))),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(conds)
}

fn node_created(node: &Node) -> Option<jiff::Timestamp> {
    node.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

// ---------------------------------------------------------------------------------------
// Taints

/// Disruption of the nodes of one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    Normal,
    PartialDisruption,
    FullDisruption,
}

pub fn zone_of(node: &Node) -> String {
    let labels = node.metadata.labels.as_ref();
    let get = |k: &str| labels.and_then(|l| l.get(k)).cloned().unwrap_or_default();
    let region = get("topology.kubernetes.io/region");
    let zone = get("topology.kubernetes.io/zone");
    if region.is_empty() && zone.is_empty() {
        String::new()
    } else {
        format!("{region}:\x00:{zone}")
    }
}

pub fn zone_state(ready: usize, not_ready: usize) -> ZoneState {
    if ready == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && not_ready as f64 / (ready + not_ready) as f64 >= UNHEALTHY_ZONE_THRESHOLD {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

fn is_controller_taint(t: &Taint) -> bool {
    matches!(
        t.key.as_str(),
        TAINT_UNREACHABLE | TAINT_NOT_READY | TAINT_UNSCHEDULABLE | TAINT_MEMORY_PRESSURE | TAINT_DISK_PRESSURE | TAINT_PID_PRESSURE | TAINT_NETWORK_UNAVAILABLE
    )
}

/// The node's taints as the controller wants them: NoSchedule taints from its conditions and
/// spec.unschedulable; the NoExecute unreachable/not-ready taint when `no_execute` allows
/// adding one (an existing one stays unless the node recovered or `clear_no_execute`).
/// Other taints are kept as they are; existing taints keep their timeAdded.
pub fn desired_taints(node: &Node, no_execute: bool, clear_no_execute: bool, now: jiff::Timestamp) -> Vec<Taint> {
    let current: Vec<Taint> = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let cond = |t: &str| node.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == t)).map(|c| c.status.as_str());
    let mut want: Vec<(&str, &str)> = Vec::new();
    match cond("Ready") {
        Some("False") => want.push((TAINT_NOT_READY, "NoSchedule")),
        Some("Unknown") => want.push((TAINT_UNREACHABLE, "NoSchedule")),
        _ => {}
    }
    if cond("MemoryPressure") == Some("True") {
        want.push((TAINT_MEMORY_PRESSURE, "NoSchedule"));
    }
    if cond("DiskPressure") == Some("True") {
        want.push((TAINT_DISK_PRESSURE, "NoSchedule"));
    }
    if cond("PIDPressure") == Some("True") {
        want.push((TAINT_PID_PRESSURE, "NoSchedule"));
    }
    if cond("NetworkUnavailable") == Some("True") {
        want.push((TAINT_NETWORK_UNAVAILABLE, "NoSchedule"));
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        want.push((TAINT_UNSCHEDULABLE, "NoSchedule"));
    }
    let no_execute_key = match cond("Ready") {
        Some("False") => Some(TAINT_NOT_READY),
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        _ => None,
    };
    let has = |key: &str, effect: &str| current.iter().any(|t| t.key == key && t.effect == effect);
    if let Some(key) = no_execute_key {
        if !clear_no_execute && (no_execute || has(key, "NoExecute")) {
            want.push((key, "NoExecute"));
        }
    }
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !is_controller_taint(t) || want.iter().any(|(k, e)| t.key == *k && t.effect == *e))
        .filter(|t| !(t.effect == "NoExecute" && (t.key == TAINT_UNREACHABLE || t.key == TAINT_NOT_READY)) || want.contains(&(t.key.as_str(), "NoExecute")))
        .cloned()
        .collect();
    for (key, effect) in want {
        if !out.iter().any(|t| t.key == key && t.effect == effect) {
            let time_added = (effect == "NoExecute").then_some(Time(now));
            out.push(Taint { key: key.into(), effect: effect.into(), value: None, time_added });
        }
    }
    out
}

fn same_taints(a: &[Taint], b: &[Taint]) -> bool {
    a.len() == b.len() && a.iter().all(|t| b.iter().any(|u| u.key == t.key && u.effect == t.effect && u.value == t.value))
}

// ---------------------------------------------------------------------------------------
// Taint manager

/// What the NoExecute taints of its node mean for a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// Tolerated forever (or no NoExecute taints).
    Never,
    Now,
    /// Tolerated for this long from when the taints were first seen.
    After(Duration),
}

pub fn eviction(pod: &Pod, taints: &[Taint]) -> Eviction {
    let no_execute: Vec<&Taint> = taints.iter().filter(|t| t.effect == "NoExecute").collect();
    if no_execute.is_empty() {
        return Eviction::Never;
    }
    let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or(&[]);
    let mut min: Option<i64> = None;
    for taint in no_execute {
        let used: Vec<_> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if used.is_empty() {
            return Eviction::Now;
        }
        for t in used {
            if let Some(s) = t.toleration_seconds {
                min = Some(min.map_or(s, |m| m.min(s)));
            }
        }
    }
    match min {
        None => Eviction::Never,
        Some(s) if s <= 0 => Eviction::Now,
        Some(s) => Eviction::After(Duration::from_secs(s as u64)),
    }
}

struct Shared {
    ctx: Context,
    nodes: Reader<Node>,
    pods: Reader<Pod>,
    /// Pod key → (uid, when its eviction countdown started).
    scheduled: Mutex<HashMap<ObjectKey, (String, Instant)>>,
    /// Pods on each node, for node events (kept from pod events).
    by_node: Mutex<HashMap<String, BTreeMap<ObjectKey, ()>>>,
}

impl Shared {
    fn pods_on(&self, node: &str) -> Vec<ObjectKey> {
        self.by_node.lock().unwrap_or_else(|e| e.into_inner()).get(node).map(|m| m.keys().cloned().collect()).unwrap_or_default()
    }

    fn track(&self, pod: &Pod, deleted: bool) {
        let key = ObjectKey::of(&pod.metadata);
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        if node.is_empty() {
            return;
        }
        let mut m = self.by_node.lock().unwrap_or_else(|e| e.into_inner());
        if deleted {
            if let Some(set) = m.get_mut(&node) {
                set.remove(&key);
            }
        } else {
            m.entry(node).or_default().insert(key, ());
        }
    }

    async fn reconcile_pod(&self, key: ObjectKey) -> Result<Action, Error> {
        let Some(pod) = self.pods.get(key.ns(), &key.name) else {
            self.scheduled.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
            return Ok(Action::Done);
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let node_name = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("");
        let taints = self.nodes.get(None, node_name).and_then(|n| n.spec.as_ref()?.taints.clone()).unwrap_or_default();
        let done = pod.metadata.deletion_timestamp.is_some() || matches!(super::pods::phase(&pod), "Succeeded" | "Failed");
        let decision = if node_name.is_empty() || done { Eviction::Never } else { eviction(&pod, &taints) };
        let recorder = self.ctx.recorder.for_component("taint-eviction-controller", None);
        let due = match decision {
            Eviction::Never => {
                let was = self.scheduled.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
                if was.is_some_and(|(u, _)| u == uid) && !done {
                    recorder.normal(&*pod, "TaintManagerEviction", format!("Cancelling deletion of Pod {key}"));
                }
                return Ok(Action::Done);
            }
            Eviction::Now => Duration::ZERO,
            Eviction::After(d) => {
                let start = {
                    let mut s = self.scheduled.lock().unwrap_or_else(|e| e.into_inner());
                    match s.get(&key) {
                        Some((u, at)) if *u == uid => *at,
                        _ => {
                            let now = Instant::now();
                            s.insert(key.clone(), (uid.clone(), now));
                            now
                        }
                    }
                };
                (start + d).saturating_duration_since(Instant::now())
            }
        };
        if !due.is_zero() {
            return Ok(Action::RequeueAfter(due));
        }
        recorder.normal(&*pod, "TaintManagerEviction", format!("Marking for deletion Pod {key}"));
        let api = self.ctx.client.api::<Pod>(key.ns())?;
        let condition = json!({"status": {"conditions": [{
            "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint",
            "lastProbeTime": null, "lastTransitionTime": crate::registry::generic::now_rfc3339()}]}});
        // The status patch replaces the conditions list: add ours to the others.
        let mut conds: Vec<serde_json::Value> = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .map(|cs| cs.iter().filter(|c| c.type_ != "DisruptionTarget").filter_map(|c| serde_json::to_value(c).ok()).collect())
            .unwrap_or_default();
        conds.push(condition["status"]["conditions"][0].clone());
        match api.patch_status(&key.name, &json!({"metadata": {"uid": uid}, "status": {"conditions": conds}})).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.is_conflict() => return Ok(Action::Done),
            Err(e) => return Err(e.into()),
        }
        let opts = crate::client::DeleteOptions { precondition_uid: Some(uid), ..Default::default() };
        match api.delete_with(&key.name, &opts).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => return Err(e.into()),
        }
        self.scheduled.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        Ok(Action::Done)
    }
}

// ---------------------------------------------------------------------------------------
// The monitor

struct Monitor {
    ctx: Context,
    nodes: Reader<Node>,
    leases: Reader<Lease>,
    pods: Reader<Pod>,
    observed: HashMap<String, Observed>,
    known: HashMap<String, String>,
    grace: Duration,
}

impl Monitor {
    async fn pass(&mut self, taint_queue: &Queue, shared: &Shared) {
        let now = Instant::now();
        let wall = jiff::Timestamp::now();
        let nodes = self.nodes.list();
        let node_api = match self.ctx.client.api::<Node>(None) {
            Ok(a) => a,
            Err(_) => return,
        };
        let recorder = self.ctx.recorder.for_component("node-controller", None);
        let mut live: HashMap<String, Arc<Node>> = HashMap::new();
        // 1. Health: conditions Unknown after the grace period.
        for node in &nodes {
            let name = node.metadata.name.clone().unwrap_or_default();
            let uid = node.metadata.uid.clone().unwrap_or_default();
            if self.known.get(&name) != Some(&uid) {
                self.known.insert(name.clone(), uid);
                recorder.normal(&**node, "RegisteredNode", format!("Node {name} event: Registered Node {name} in Controller"));
            }
            let lease = self.leases.get(Some(crate::node::simulated::NODE_LEASE_NAMESPACE), &name);
            let obs = observe(self.observed.get(&name), node, lease.as_deref(), now);
            let grace = if ready_condition(node).is_none() { NODE_STARTUP_GRACE_PERIOD } else { self.grace };
            let stale = now.saturating_duration_since(obs.probe) > grace;
            self.observed.insert(name.clone(), obs);
            let mut current = node.clone();
            if stale {
                if let Some(conds) = unknown_conditions(node, wall) {
                    let was_ready = ready_status(node) == "True";
                    let patch = json!({"metadata": {"resourceVersion": node.metadata.resource_version},
                                       "status": {"conditions": conds}});
                    match node_api.patch_status(&name, &patch).await {
                        Ok(n) => {
                            tracing::info!(node = %name, "node stopped posting status; conditions Unknown");
                            current = Arc::new(n);
                            if was_ready {
                                recorder.normal(&*current, "NodeNotReady", format!("Node {name} status is now: NodeNotReady"));
                                self.mark_pods_not_ready(&name).await;
                            }
                        }
                        Err(e) => tracing::debug!(node = %name, error = %e, "marking node conditions Unknown"),
                    }
                }
            }
            live.insert(name, current);
        }
        self.observed.retain(|n, _| live.contains_key(n));
        self.known.retain(|n, _| live.contains_key(n));
        // 2. Zones and taints.
        let mut zones: HashMap<String, (usize, usize)> = HashMap::new();
        for node in live.values() {
            let z = zones.entry(zone_of(node)).or_default();
            if ready_status(node) == "True" {
                z.0 += 1;
            } else {
                z.1 += 1;
            }
        }
        let states: HashMap<&String, ZoneState> = zones.iter().map(|(z, (r, n))| (z, zone_state(*r, *n))).collect();
        let all_full = !states.is_empty() && states.values().all(|s| *s == ZoneState::FullDisruption);
        for (name, node) in &live {
            let zone = zone_of(node);
            let size = zones.get(&zone).map(|(r, n)| r + n).unwrap_or(0);
            let allowed = match states.get(&zone).copied().unwrap_or(ZoneState::Normal) {
                ZoneState::Normal => true,
                ZoneState::FullDisruption => !all_full,
                ZoneState::PartialDisruption => size > LARGE_CLUSTER_THRESHOLD,
            };
            let want = desired_taints(node, allowed, all_full, wall);
            let have = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
            if same_taints(&want, &have) {
                continue;
            }
            let patch = json!({"metadata": {"resourceVersion": node.metadata.resource_version}, "spec": {"taints": want}});
            match node_api.patch_merge(name, &patch).await {
                Ok(_) => {
                    for k in shared.pods_on(name) {
                        taint_queue.add(k);
                    }
                }
                Err(e) => tracing::debug!(node = %name, error = %e, "updating node taints"),
            }
        }
    }

    /// MarkPodsNotReady: the Ready condition of every pod on the node goes False.
    async fn mark_pods_not_ready(&self, node: &str) {
        let recorder = self.ctx.recorder.for_component("node-controller", None);
        for pod in self.pods.list() {
            if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node) {
                continue;
            }
            let Some(conds) = pod.status.as_ref().and_then(|s| s.conditions.clone()) else { continue };
            if !conds.iter().any(|c| c.type_ == "Ready" && c.status == "True") {
                continue;
            }
            let now = Time(jiff::Timestamp::now());
            let conds: Vec<_> = conds
                .into_iter()
                .map(|mut c| {
                    if c.type_ == "Ready" {
                        c.status = "False".into();
                        c.last_transition_time = Some(now.clone());
                    }
                    c
                })
                .collect();
            let key = ObjectKey::of(&pod.metadata);
            let Ok(api) = self.ctx.client.api::<Pod>(key.ns()) else { continue };
            let patch = json!({"metadata": {"resourceVersion": pod.metadata.resource_version}, "status": {"conditions": conds}});
            match api.patch_status(&key.name, &patch).await {
                Ok(_) => recorder.warning(&*pod, "NodeNotReady", "Node is not ready"),
                Err(e) => tracing::debug!(pod = %key, error = %e, "marking pod not ready"),
            }
        }
    }
}

/// Runs until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    run_with(ctx, NODE_MONITOR_GRACE_PERIOD).await
}

/// `run` with another node-monitor grace period (tests).
pub async fn run_with(ctx: Context, grace: Duration) {
    let (nodes, leases, pods) = match (ctx.informers.get::<Node>(), ctx.informers.get::<Lease>(), ctx.informers.get::<Pod>()) {
        (Ok(n), Ok(l), Ok(p)) => (n, l, p),
        _ => {
            tracing::error!("node lifecycle controller: informers unavailable");
            return;
        }
    };
    let shared = Arc::new(Shared {
        ctx: ctx.clone(),
        nodes: nodes.reader(),
        pods: pods.reader(),
        scheduled: Mutex::new(HashMap::new()),
        by_node: Mutex::new(HashMap::new()),
    });
    let taint_queue = Queue::new();
    // Pods: tracked per node, queued for the taint manager when on a node with NoExecute taints.
    {
        let shared = shared.clone();
        let queue = taint_queue.clone();
        let stop = ctx.stop.clone();
        let mut events = pods.subscribe();
        let reader = pods.reader();
        tokio::spawn(async move {
            loop {
                let ev = tokio::select! {
                    _ = stop.cancelled() => return,
                    ev = events.recv() => ev,
                };
                match ev {
                    Ok(crate::client::Event::Applied(p)) => {
                        shared.track(&p, false);
                        queue_if_tainted(&shared, &queue, &p);
                    }
                    Ok(crate::client::Event::Deleted(p)) => {
                        shared.track(&p, true);
                        shared.scheduled.lock().unwrap_or_else(|e| e.into_inner()).remove(&ObjectKey::of(&p.metadata));
                    }
                    Ok(crate::client::Event::Restarted) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        for p in reader.list() {
                            shared.track(&p, false);
                            queue_if_tainted(&shared, &queue, &p);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
    // Node taint changes (ours or anyone's) queue the node's pods.
    {
        let shared2 = shared.clone();
        runtime::enqueue_from(&nodes, taint_queue.clone(), ctx.stop.clone(), move |n: &Node| {
            let name = n.metadata.name.as_deref().unwrap_or("");
            shared2.pods_on(name)
        });
    }
    let mut pods_reader = pods.reader();
    let mut node_reader = nodes.reader();
    let mut lease_reader = leases.reader();
    tokio::select! {
        _ = ctx.stop.cancelled() => return,
        _ = async { pods_reader.wait_synced().await; node_reader.wait_synced().await; lease_reader.wait_synced().await } => {}
    }
    for p in pods_reader.list() {
        shared.track(&p, false);
        queue_if_tainted(&shared, &taint_queue, &p);
    }
    let s = shared.clone();
    let taint_manager = tokio::spawn(runtime::run("taint-eviction-controller", taint_queue.clone(), 4, ctx.stop.clone(), move |key| {
        let s = s.clone();
        async move { s.reconcile_pod(key).await }
    }));
    let mut monitor = Monitor {
        ctx: ctx.clone(),
        nodes: nodes.reader(),
        leases: leases.reader(),
        pods: pods.reader(),
        observed: HashMap::new(),
        known: HashMap::new(),
        grace,
    };
    let mut tick = tokio::time::interval(NODE_MONITOR_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.stop.cancelled() => break,
            _ = tick.tick() => monitor.pass(&taint_queue, &shared).await,
        }
    }
    let _ = taint_manager.await;
}

fn queue_if_tainted(shared: &Shared, queue: &Queue, pod: &Pod) {
    let key = ObjectKey::of(&pod.metadata);
    if shared.scheduled.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&key) {
        queue.add(key);
        return;
    }
    let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else { return };
    let tainted = shared
        .nodes
        .get(None, node)
        .and_then(|n| n.spec.as_ref()?.taints.as_ref().map(|ts| ts.iter().any(|t| t.effect == "NoExecute")))
        .unwrap_or(false);
    if tainted {
        queue.add(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Client;
    use crate::registry::generic::Registry;
    use crate::store::recording::RecordingBackend;
    use crate::store::{Store, StoreOptions};
    use k8s_openapi::api::core::v1::Namespace;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    fn pod_with(tolerations: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "default"},
            "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "i"}], "tolerations": tolerations}}))
        .unwrap()
    }

    fn unreachable_taint() -> Taint {
        Taint { key: TAINT_UNREACHABLE.into(), effect: "NoExecute".into(), value: None, time_added: None }
    }

    #[test]
    fn tolerations_decide_evictions() {
        let taints = vec![unreachable_taint(), Taint { key: TAINT_UNREACHABLE.into(), effect: "NoSchedule".into(), value: None, time_added: None }];
        assert_eq!(eviction(&pod_with(json!([])), &taints), Eviction::Now);
        let defaults = json!([{"key": TAINT_NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                              {"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]);
        assert_eq!(eviction(&pod_with(defaults), &taints), Eviction::After(Duration::from_secs(300)));
        assert_eq!(eviction(&pod_with(json!([{"operator": "Exists"}])), &taints), Eviction::Never);
        let two = json!([{"operator": "Exists", "tolerationSeconds": 30}, {"key": TAINT_UNREACHABLE, "operator": "Exists", "tolerationSeconds": 10}]);
        assert_eq!(eviction(&pod_with(two), &taints), Eviction::After(Duration::from_secs(10)));
        assert_eq!(eviction(&pod_with(json!([])), &taints[1..]), Eviction::Never, "NoSchedule never evicts");
    }

    #[test]
    fn zones_and_taints() {
        assert_eq!(zone_state(1, 1), ZoneState::Normal);
        assert_eq!(zone_state(0, 1), ZoneState::FullDisruption);
        assert_eq!(zone_state(2, 3), ZoneState::PartialDisruption);
        assert_eq!(zone_state(10, 3), ZoneState::Normal);
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let n = node(json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true, "taints": [{"key": "custom", "effect": "NoSchedule"}]},
                            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}));
        let t = desired_taints(&n, true, false, now);
        let keys: Vec<(&str, &str)> = t.iter().map(|t| (t.key.as_str(), t.effect.as_str())).collect();
        assert_eq!(keys, [("custom", "NoSchedule"), (TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNSCHEDULABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")]);
        assert_eq!(t[3].time_added, Some(Time(now)));
        assert!(t[1].time_added.is_none());
        // Disrupted zones add no NoExecute taint; recovery removes them all.
        assert_eq!(desired_taints(&n, false, false, now).len(), 3);
        let recovered = node(json!({"metadata": {"name": "n"}, "spec": {"taints": t},
                                    "status": {"conditions": [{"type": "Ready", "status": "True"}]}}));
        assert_eq!(desired_taints(&recovered, true, false, now).iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["custom"]);
        // Ready False swaps to not-ready.
        let mut not_ready = n.clone();
        not_ready.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "False".into();
        not_ready.spec.as_mut().unwrap().taints = Some(desired_taints(&n, true, false, now));
        let swapped = desired_taints(&not_ready, true, false, now);
        assert!(swapped.iter().any(|t| t.key == TAINT_NOT_READY && t.effect == "NoExecute"));
        assert!(!swapped.iter().any(|t| t.key == TAINT_UNREACHABLE));
    }

    async fn client() -> Client {
        let opts = StoreOptions { history_revisions: 1_000_000, compaction_interval: Duration::from_secs(3600) };
        let store = Store::open_with_backend(Arc::new(RecordingBackend::default()), opts).unwrap();
        let client = Client::new(Registry::new(store), "test");
        for ns in ["default", "kube-node-lease"] {
            let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
            client.api::<Namespace>(None).unwrap().create(&ns).await.unwrap();
        }
        client
    }

    fn ready_node(name: &str) -> Node {
        let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        node(json!({"metadata": {"name": name}, "status": {"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now, "lastTransitionTime": now}]}}))
    }

    /// 100 ms of virtual time, then a moment of real time for the store's writer thread. The
    /// real wait is a blocking task: the controller's tasks run meanwhile, and tokio does not
    /// auto-advance its paused clock while one is running. (While every task waits for the
    /// writer, the paused clock jumps to the next timer: virtual time runs ahead of the
    /// controller's writes, so the test polls rather than sleeping a fixed time and asserting.)
    async fn step() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(1))).await;
    }

    fn no_execute(n: &Node) -> bool {
        n.spec.as_ref().and_then(|s| s.taints.as_ref()).is_some_and(|ts| ts.iter().any(|t| t.key == TAINT_UNREACHABLE && t.effect == "NoExecute"))
    }

    /// Under virtual time: a node silent past the grace period goes Unknown and tainted; a
    /// pod without tolerations goes at once, one tolerating for 30 s after 30 s, one
    /// tolerating forever stays.
    #[tokio::test(start_paused = true)]
    async fn silent_nodes_are_tainted_and_their_pods_evicted() {
        let client = client().await;
        let nodes = client.api::<Node>(None).unwrap();
        for n in ["a", "b"] {
            nodes.create(&ready_node(n)).await.unwrap();
            nodes.patch_status(n, &json!({"status": serde_json::to_value(ready_node(n).status).unwrap()})).await.unwrap();
        }
        let pods = client.api::<Pod>(Some("default")).unwrap();
        let mk = |name: &str, tolerations: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeName": "a", "containers": [{"name": "c", "image": "i"}], "tolerations": tolerations}})).unwrap()
        };
        pods.create(&mk("short", json!([{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]))).await.unwrap();
        pods.create(&mk("forever", json!([{"operator": "Exists"}]))).await.unwrap();
        pods.create(&mk("zero", json!([{"key": TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}]))).await.unwrap();

        let stop = tokio_util::sync::CancellationToken::new();
        let ctx = Context::new(client.clone(), stop.clone());
        // The controller times the grace period from its first look at the node, no earlier.
        // (Virtual time is measured from here: while the test awaits a write with no timer
        // due soon, tokio's paused clock jumps to the next timer, e.g. the store compactor's.)
        let started = Instant::now();
        let task = tokio::spawn(run_with(ctx, NODE_MONITOR_GRACE_PERIOD));
        // Node b keeps heartbeating; node a is silent.
        let beat = {
            let nodes = nodes.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                // Wall time stands still under paused tokio time: count the heartbeats instead.
                for i in 1u64.. {
                    tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(10)) => {} }
                    let at = jiff::Timestamp::from_second(1_700_000_000 + i as i64 * 10).unwrap().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
                    let _ = nodes.patch_status("b", &json!({"status": {"conditions": [
                        {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": at, "lastTransitionTime": at}]}})).await;
                }
            })
        };
        let gone = |p: &Option<Pod>| p.as_ref().is_none_or(|p| p.metadata.deletion_timestamp.is_some());
        let real_deadline = std::time::Instant::now() + Duration::from_secs(60);
        // Node a goes Unknown and tainted after the grace period, never before; no pod goes
        // before the NoExecute taint. `untainted`: the last time a had no NoExecute taint (the
        // pods are read first, so none can have been evicted for a taint added later).
        let mut untainted = Instant::now();
        let a = loop {
            let mut before = Vec::new();
            for p in ["short", "forever", "zero"] {
                before.push((p, pods.get_opt(p).await.unwrap()));
            }
            let a = nodes.get("a").await.unwrap();
            let now = Instant::now();
            if ready_status(&a) != "True" {
                assert!(now - started > NODE_MONITOR_GRACE_PERIOD, "node a {} {:?} after the start, within the grace period", ready_status(&a), now - started);
            }
            if !no_execute(&a) {
                untainted = now;
                for (p, pod) in &before {
                    assert!(!gone(pod), "{p} evicted before the NoExecute taint");
                }
            } else if ready_status(&a) == "Unknown" {
                break a;
            }
            assert!(now - started < Duration::from_secs(120) && std::time::Instant::now() < real_deadline, "node a not Unknown and tainted: {a:?}");
            step().await;
        };
        let ready = ready_condition(&a).unwrap().clone();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(ready.message.as_deref(), Some("Kubelet stopped posting node status."));
        let taints = a.spec.unwrap().taints.unwrap();
        assert!(taints.iter().any(|t| t.key == TAINT_UNREACHABLE && t.effect == "NoExecute" && t.time_added.is_some()));
        assert!(taints.iter().any(|t| t.key == TAINT_UNREACHABLE && t.effect == "NoSchedule"));
        assert_eq!(ready_status(&nodes.get("b").await.unwrap()), "True", "node b keeps heartbeating");

        // tolerationSeconds 0 goes at once; 30 s goes 30 s after the taint, never sooner.
        let short = loop {
            let zero = pods.get_opt("zero").await.unwrap();
            let short = pods.get_opt("short").await.unwrap();
            let since = Instant::now() - untainted;
            if since >= Duration::from_secs(25) {
                // (Read before short: so zero went first.)
                assert!(gone(&zero), "tolerationSeconds 0: evicted at once, not after {since:?}");
            }
            if gone(&short) {
                assert!(since >= Duration::from_secs(30), "short evicted {since:?} after the taint, tolerated for 30 s");
                break short;
            }
            assert!(since < Duration::from_secs(60) && std::time::Instant::now() < real_deadline, "short not evicted {since:?} after the taint");
            step().await;
        };
        if let Some(p) = short {
            let c = p.status.unwrap().conditions.unwrap();
            assert!(c.iter().any(|c| c.type_ == "DisruptionTarget" && c.reason.as_deref() == Some("DeletionByTaintManager")));
        }
        assert!(pods.get_opt("forever").await.unwrap().unwrap().metadata.deletion_timestamp.is_none());
        stop.cancel();
        let _ = task.await;
        let _ = beat.await;
    }
}
