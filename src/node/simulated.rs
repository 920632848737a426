//! Simulated nodes, kwok-style: registers `sim-node-<i>` Nodes, renews their Leases and
//! reports their status as a kubelet does, and runs the pods bound to them without
//! containers (Pending → Running, run-to-completion pods → Succeeded/Failed, graceful
//! deletions finished). Reads the shared pod and node informers; writes through the client.
//!
//! Test hooks (annotations): on a Node, `sim.minikube-rs.io/stopped: "true"` stops its
//! heartbeats and its pod handling (the node goes silent, as when its kubelet dies); on a
//! Pod, `sim.minikube-rs.io/run-seconds` and `sim.minikube-rs.io/exit-code` shape how a
//! restartPolicy Never/OnFailure pod ends, `sim.minikube-rs.io/ready: "false"` keeps its
//! containers unready. Kubelet events for pods (Pulled/Created/Started) are not recorded:
//! at 10,000 pods they would triple the writes; node events (Starting, NodeReady) are.

use crate::client::{Client, DeleteOptions, Reader};
use crate::controllers::events::Recorder;
use crate::controllers::runtime::{self, Action, Context, ObjectKey, Queue};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const NODE_PREFIX: &str = "sim-node-";
/// Marks a Node as simulated (our counterpart of kwok's `kwok.x-k8s.io/node: fake`).
pub const SIMULATED_ANNOTATION: &str = "minikube-rs.io/simulated";
/// On a Node: "true" stops its heartbeats and pod handling.
pub const STOPPED_ANNOTATION: &str = "sim.minikube-rs.io/stopped";
/// On a Pod: how long a restartPolicy Never/OnFailure pod runs (seconds, default 1).
pub const RUN_SECONDS_ANNOTATION: &str = "sim.minikube-rs.io/run-seconds";
/// On a Pod: the exit code its containers end with (default 0).
pub const EXIT_CODE_ANNOTATION: &str = "sim.minikube-rs.io/exit-code";
/// On a Pod: "false" keeps its containers unready.
pub const READY_ANNOTATION: &str = "sim.minikube-rs.io/ready";

pub use super::registration::{HostInfo, KUBELET_VERSION, NODE_LEASE_NAMESPACE};
use super::registration::{hex_digest, node_status_changed, rfc3339, NodeFacts, LEASE_RENEW_INTERVAL, STATUS_REPORT_FREQUENCY};
#[cfg(test)]
use super::registration::{micro_time, node_status};
pub const CONTAINER_RUNTIME_VERSION: &str = "simulated://1.0";
/// The pod CIDRs 10.42.<i>.0/24 leave room for this many nodes.
pub const MAX_NODES: u32 = 256;
const WORKERS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing the status of pod {pod}: {source}")]
    PodStatus { pod: ObjectKey, #[source] source: crate::client::Error },
    #[error("deleting pod {pod}: {source}")]
    PodDelete { pod: ObjectKey, #[source] source: crate::client::Error },
    #[error("pod {pod}: no free address in {cidr}")]
    NoAddress { pod: ObjectKey, cidr: String },
    #[error("{0}")]
    Client(#[from] crate::client::Error),
}

/// One simulated node's fixed facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimNode {
    pub index: u32,
    pub name: String,
    pub internal_ip: Ipv4Addr,
}

impl SimNode {
    pub fn new(index: u32) -> SimNode {
        let ip = Ipv4Addr::new(172, 31, (index / 250) as u8, (index % 250 + 1) as u8);
        SimNode { index, name: format!("{NODE_PREFIX}{index}"), internal_ip: ip }
    }
    pub fn pod_cidr(&self) -> String {
        format!("10.42.{}.0/24", self.index)
    }
    /// What the node reports: a roomy machine (32 cpus, 256 GiB) running no real runtime.
    pub fn facts(&self) -> NodeFacts {
        let resources = json!({
            "cpu": "32",
            "ephemeral-storage": "1073741824Ki",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
            "memory": "268435456Ki",
            "pods": "110",
        });
        NodeFacts {
            name: self.name.clone(),
            internal_ip: self.internal_ip.to_string(),
            pod_cidr: self.pod_cidr(),
            runtime_version: CONTAINER_RUNTIME_VERSION.to_string(),
            labels: BTreeMap::new(),
            annotations: [
                ("node.alpha.kubernetes.io/ttl", "0"),
                ("volumes.kubernetes.io/controller-managed-attach-detach", "true"),
                (SIMULATED_ANNOTATION, "true"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            capacity: resources.clone(),
            allocatable: resources,
        }
    }
    /// The pod address with host part `host` (2..=254; .1 is the bridge).
    pub fn pod_ip(&self, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 42, self.index as u8, host)
    }
    fn host_part(&self, ip: &str) -> Option<u8> {
        let ip: Ipv4Addr = ip.parse().ok()?;
        let o = ip.octets();
        (o[0] == 10 && o[1] == 42 && u32::from(o[2]) == self.index && (2..=254).contains(&o[3])).then_some(o[3])
    }
}

fn random_hex64() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

pub fn is_stopped(node: Option<&Node>) -> bool {
    node.and_then(|n| n.metadata.annotations.as_ref())
        .and_then(|a| a.get(STOPPED_ANNOTATION))
        .is_some_and(|v| v == "true")
}

// ---------------------------------------------------------------------------------------
// Pods: what to do next (pure), and the status the kubelet would write.

/// The next step for a pod on a simulated node.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Nothing to do (terminal, or already as it should be).
    Nothing,
    /// Finish a graceful deletion: delete with grace 0.
    Delete,
    /// Start it: Pending → Running.
    Start,
    /// Its containers' readiness should change.
    SetReady(bool),
    /// Its containers exit with this code now.
    Exit(i32),
    /// Look again after this long (a run-to-completion pod still running).
    Wait(Duration),
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always")
}

/// How long a run-to-completion pod's containers run.
pub fn run_duration(pod: &Pod) -> Duration {
    annotation(pod, RUN_SECONDS_ANNOTATION)
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(1))
}

pub fn exit_code(pod: &Pod) -> i32 {
    annotation(pod, EXIT_CODE_ANNOTATION).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

fn wants_ready(pod: &Pod) -> bool {
    annotation(pod, READY_ANNOTATION) != Some("false")
}

fn condition_status<'a>(pod: &'a Pod, type_: &str) -> Option<&'a str> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_).map(|c| c.status.as_str())
}

/// When the current run of the pod's containers started.
fn run_started(pod: &Pod) -> Option<jiff::Timestamp> {
    let st = pod.status.as_ref()?;
    st.container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref().map(|t| t.0))
        .max()
        .or_else(|| st.start_time.as_ref().map(|t| t.0))
}

/// Decides the next step for `pod` at `now`; `started` is when this process started its
/// containers, if it did (more precise than the whole seconds of the stored status).
pub fn plan(pod: &Pod, now: jiff::Timestamp, started: Option<jiff::Timestamp>) -> Plan {
    if pod.metadata.deletion_timestamp.is_some() {
        return Plan::Delete;
    }
    let phase = crate::controllers::pods::phase(pod);
    if matches!(phase, "Succeeded" | "Failed") {
        return Plan::Nothing;
    }
    let has_statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some_and(|c| !c.is_empty());
    if phase != "Running" || !has_statuses {
        return Plan::Start;
    }
    if restart_policy(pod) != "Always" {
        let started = started.or_else(|| run_started(pod)).unwrap_or(now);
        let ends = started.as_millisecond() as i128 + run_duration(pod).as_millis() as i128;
        let left = ends - now.as_millisecond() as i128;
        if left <= 0 {
            return Plan::Exit(exit_code(pod));
        }
        return Plan::Wait(Duration::from_millis(left as u64));
    }
    // Readiness as the kubelet reports it (also after the node controller marked it False).
    let want = wants_ready(pod);
    let is = |t: &str| condition_status(pod, t) == Some("True");
    if is("ContainersReady") != want || is("Ready") != want {
        return Plan::SetReady(want);
    }
    Plan::Nothing
}

/// `docker.io/library/nginx:latest` for `nginx`, as containerd reports image names.
pub fn normalize_image(image: &str) -> String {
    let (name, tag) = match image.rsplit_once('@') {
        Some(_) => (image.to_string(), String::new()),
        None => {
            let last = image.rsplit('/').next().unwrap_or(image);
            if last.contains(':') {
                (image.to_string(), String::new())
            } else {
                (image.to_string(), ":latest".to_string())
            }
        }
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}{tag}")
}

fn image_id(image: &str) -> String {
    let normalized = normalize_image(image);
    let repo = match normalized.rsplit_once('@') {
        Some((repo, _)) => repo.to_string(),
        None => {
            let slash = normalized.rfind('/').unwrap_or(0);
            match normalized[slash..].rfind(':') {
                Some(i) => normalized[..slash + i].to_string(),
                None => normalized.clone(),
            }
        }
    };
    format!("{repo}@sha256:{}", hex_digest(&normalized))
}

fn container_id(old: Option<&Value>) -> String {
    old.and_then(|o| o.get("containerID")).and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| format!("simulated://{}", random_hex64()))
}

/// A container's status fields the kubelet always reports (name, image, mounts, resources).
fn base_container_status(c: &Value, old: Option<&Value>) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    m.insert("name".into(), c.get("name").cloned().unwrap_or(json!("")));
    m.insert("image".into(), json!(normalize_image(image)));
    m.insert("imageID".into(), json!(image_id(image)));
    m.insert("containerID".into(), json!(container_id(old)));
    m.insert("restartCount".into(), old.and_then(|o| o.get("restartCount")).cloned().unwrap_or(json!(0)));
    m.insert("lastState".into(), old.and_then(|o| o.get("lastState")).cloned().unwrap_or(json!({})));
    if let Some(req) = c.pointer("/resources/requests").filter(|r| r.as_object().is_some_and(|r| !r.is_empty())) {
        m.insert("allocatedResources".into(), req.clone());
    }
    if let Some(res) = c.get("resources").filter(|r| r.as_object().is_some_and(|r| !r.is_empty())) {
        let mut r = serde_json::Map::new();
        for k in ["limits", "requests"] {
            if let Some(v) = res.get(k).filter(|v| v.as_object().is_some_and(|v| !v.is_empty())) {
                r.insert(k.into(), v.clone());
            }
        }
        m.insert("resources".into(), Value::Object(r));
    }
    let mounts: Vec<Value> = c
        .get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|vm| {
            let ro = vm.get("readOnly").and_then(Value::as_bool).unwrap_or(false);
            let mut s = json!({"name": vm.get("name"), "mountPath": vm.get("mountPath")});
            if ro {
                s["readOnly"] = json!(true);
                let rro = if vm.get("recursiveReadOnly").and_then(Value::as_str) == Some("Enabled") { "Enabled" } else { "Disabled" };
                s["recursiveReadOnly"] = json!(rro);
            }
            s
        })
        .collect();
    if !mounts.is_empty() {
        m.insert("volumeMounts".into(), Value::Array(mounts));
    }
    m
}

fn old_status<'a>(status: &'a Value, list: &str, name: &str) -> Option<&'a Value> {
    status.get(list)?.as_array()?.iter().find(|c| c.get("name").and_then(Value::as_str) == Some(name))
}

fn condition(type_: &str, status: &str, reason: Option<&str>, message: Option<&str>, old: &Value, now: &str) -> Value {
    let since = old
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(type_)))
        .filter(|c| c.get("status").and_then(Value::as_str) == Some(status))
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .filter(|t| !t.is_null())
        .unwrap_or_else(|| json!(now));
    let mut c = json!({"type": type_, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// Names of regular containers (and sidecars) in spec order.
fn regular_and_sidecar_names(spec: &Value) -> Vec<String> {
    let sidecars = spec.get("initContainers").and_then(Value::as_array).into_iter().flatten().filter(|c| is_sidecar(c));
    let regular = spec.get("containers").and_then(Value::as_array).into_iter().flatten();
    sidecars.chain(regular).filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string)).collect()
}

fn is_sidecar(c: &Value) -> bool {
    c.get("restartPolicy").and_then(Value::as_str) == Some("Always")
}

fn go_list(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

/// The status the kubelet writes once the pod's sandbox and containers run: phase Running,
/// addresses, conditions, init containers Completed (sidecars running), containers running.
pub fn running_status(pod: &Value, host_ip: &str, pod_ip: &str, ready: bool, now: jiff::Timestamp) -> Value {
    let now_s = rfc3339(now);
    let empty = json!({});
    let old = pod.get("status").unwrap_or(&empty);
    let spec = pod.get("spec").unwrap_or(&empty);
    let started = old.get("startTime").cloned().filter(|v| !v.is_null()).unwrap_or_else(|| json!(now_s));
    let init: Vec<Value> = spec
        .get("initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            let prev = old_status(old, "initContainerStatuses", name);
            let mut m = base_container_status(c, prev);
            let id = m.get("containerID").cloned().unwrap_or(Value::Null);
            if is_sidecar(c) {
                m.insert("ready".into(), json!(ready));
                m.insert("started".into(), json!(true));
                m.insert("state".into(), json!({"running": {"startedAt": now_s}}));
            } else {
                m.insert("ready".into(), json!(true));
                m.insert("started".into(), json!(false));
                m.insert(
                    "state".into(),
                    json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now_s, "finishedAt": now_s, "containerID": id}}),
                );
            }
            Value::Object(m)
        })
        .collect();
    let containers: Vec<Value> = spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            let prev = old_status(old, "containerStatuses", name);
            let mut m = base_container_status(c, prev);
            let since = prev
                .and_then(|p| p.pointer("/state/running/startedAt"))
                .cloned()
                .filter(|v| !v.is_null())
                .unwrap_or_else(|| json!(now_s));
            m.insert("ready".into(), json!(ready));
            m.insert("started".into(), json!(true));
            m.insert("state".into(), json!({"running": {"startedAt": since}}));
            Value::Object(m)
        })
        .collect();
    let (ready_s, reason, message) = if ready {
        ("True", None, None)
    } else {
        ("False", Some("ContainersNotReady"), Some(format!("containers with unready status: {}", go_list(&regular_and_sidecar_names(spec)))))
    };
    let conditions = vec![
        condition("PodReadyToStartContainers", "True", None, None, old, &now_s),
        condition("Initialized", "True", None, None, old, &now_s),
        condition("Ready", ready_s, reason, message.as_deref(), old, &now_s),
        condition("ContainersReady", ready_s, reason, message.as_deref(), old, &now_s),
        condition("PodScheduled", "True", None, None, old, &now_s),
    ];
    let mut status = json!({
        "phase": "Running",
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": started,
        "qosClass": old.get("qosClass").cloned().unwrap_or_else(|| json!(crate::registry::pod::qos_class(pod))),
        "containerStatuses": containers,
    });
    if !init.is_empty() {
        status["initContainerStatuses"] = Value::Array(init);
    }
    status
}

/// The status after the containers of a run-to-completion pod exited with `code`: Succeeded
/// (Completed) or Failed (Error), as the kubelet reports it. With restartPolicy OnFailure a
/// failed container restarts instead (restartCount and lastState record the run).
pub fn exited_status(pod: &Value, code: i32, now: jiff::Timestamp) -> Value {
    let now_s = rfc3339(now);
    let empty = json!({});
    let old = pod.get("status").unwrap_or(&empty);
    let mut status = old.clone();
    let reason = if code == 0 { "Completed" } else { "Error" };
    let restart = code != 0 && pod.pointer("/spec/restartPolicy").and_then(Value::as_str) == Some("OnFailure");
    let containers: Vec<Value> = old
        .get("containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let mut c = c.clone();
            let started = c.pointer("/state/running/startedAt").cloned().unwrap_or_else(|| json!(now_s));
            let id = c.get("containerID").cloned().unwrap_or(Value::Null);
            let terminated = json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": now_s, "containerID": id}});
            if restart {
                let n = c.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
                c["restartCount"] = json!(n + 1);
                c["lastState"] = terminated;
                c["state"] = json!({"running": {"startedAt": now_s}});
                c["containerID"] = json!(format!("simulated://{}", random_hex64()));
            } else {
                c["state"] = terminated;
                c["ready"] = json!(false);
                c["started"] = json!(false);
            }
            c
        })
        .collect();
    status["containerStatuses"] = Value::Array(containers);
    if restart {
        return status;
    }
    let (phase, cond_reason) = if code == 0 { ("Succeeded", "PodCompleted") } else { ("Failed", "PodFailed") };
    status["phase"] = json!(phase);
    let init_reason = (code == 0).then_some("PodCompleted");
    status["conditions"] = json!([
        condition("PodReadyToStartContainers", "False", None, None, old, &now_s),
        condition("Initialized", "True", init_reason, None, old, &now_s),
        condition("Ready", "False", Some(cond_reason), None, old, &now_s),
        condition("ContainersReady", "False", Some(cond_reason), None, old, &now_s),
        condition("PodScheduled", "True", None, None, old, &now_s),
    ]);
    status
}

/// The status with the containers' readiness changed.
pub fn readiness_status(pod: &Value, ready: bool, now: jiff::Timestamp) -> Value {
    let host_ip = pod.pointer("/status/hostIP").and_then(Value::as_str).unwrap_or("");
    let pod_ip = pod.pointer("/status/podIP").and_then(Value::as_str).unwrap_or("");
    running_status(pod, host_ip, pod_ip, ready, now)
}

// ---------------------------------------------------------------------------------------
// Pod addresses: host-local style, one /24 per node, round robin, released when the pod ends.

#[derive(Default)]
struct Ipam {
    next: u8,
    used: HashMap<u8, String>,
}

impl Ipam {
    fn allocate(&mut self, uid: &str) -> Option<u8> {
        if let Some((&h, _)) = self.used.iter().find(|(_, u)| u.as_str() == uid) {
            return Some(h);
        }
        for step in 0..253u16 {
            let h = ((u16::from(self.next.max(2) - 2) + step) % 253 + 2) as u8;
            if !self.used.contains_key(&h) {
                self.used.insert(h, uid.to_string());
                self.next = if h == 254 { 2 } else { h + 1 };
                return Some(h);
            }
        }
        None
    }
    fn reserve(&mut self, host: u8, uid: &str) {
        self.used.insert(host, uid.to_string());
    }
    fn release(&mut self, uid: &str) {
        self.used.retain(|_, u| u != uid);
    }
}

#[derive(Clone)]
struct Tracked {
    uid: String,
    node: usize,
    /// When this process started the pod's current container run.
    started: Option<jiff::Timestamp>,
}

#[derive(Default)]
struct State {
    pods: HashMap<ObjectKey, Tracked>,
    ipam: Vec<Ipam>,
}

/// The simulated kubelets of every node: shared by the heartbeat task and the pod workers.
struct Kubelets {
    client: Client,
    recorder: Recorder,
    nodes: Vec<SimNode>,
    by_name: HashMap<String, usize>,
    host: HostInfo,
    pods: Reader<Pod>,
    node_reader: Reader<Node>,
    state: Mutex<State>,
}

impl Kubelets {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, key: &ObjectKey) {
        let mut s = self.lock();
        if let Some(t) = s.pods.remove(key) {
            if let Some(ipam) = s.ipam.get_mut(t.node) {
                ipam.release(&t.uid);
            }
        }
    }

    fn release_address(&self, key: &ObjectKey, uid: &str) {
        let mut s = self.lock();
        let node = s.pods.get(key).filter(|t| t.uid == uid).map(|t| t.node);
        if let Some(n) = node {
            if let Some(ipam) = s.ipam.get_mut(n) {
                ipam.release(uid);
            }
        }
    }

    fn node_stopped(&self, idx: usize) -> bool {
        is_stopped(self.node_reader.get(None, &self.nodes[idx].name).as_deref())
    }

    async fn reconcile(&self, key: ObjectKey) -> Result<Action, Error> {
        let Some(pod) = self.pods.get(key.ns(), &key.name) else {
            self.release(&key);
            return Ok(Action::Done);
        };
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let node_name = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("");
        let Some(&idx) = self.by_name.get(node_name) else {
            self.release(&key);
            return Ok(Action::Done);
        };
        if self.node_stopped(idx) {
            return Ok(Action::Done);
        }
        let started = {
            let mut s = self.lock();
            match s.pods.get(&key) {
                Some(t) if t.uid == uid => t.started,
                Some(t) => {
                    let (old_uid, old_node) = (t.uid.clone(), t.node);
                    if let Some(ipam) = s.ipam.get_mut(old_node) {
                        ipam.release(&old_uid);
                    }
                    s.pods.remove(&key);
                    None
                }
                None => None,
            }
        };
        let now = jiff::Timestamp::now();
        let api = self.client.api::<Pod>(key.ns())?;
        let plan = plan(&pod, now, started);
        tracing::trace!(pod = %key, ?plan, "simulated kubelet");
        match plan {
            Plan::Nothing => {
                if matches!(crate::controllers::pods::phase(&pod), "Succeeded" | "Failed") {
                    self.release_address(&key, &uid);
                }
                Ok(Action::Done)
            }
            Plan::Wait(d) => Ok(Action::RequeueAfter(d)),
            Plan::Delete => {
                let opts = DeleteOptions { grace_period_seconds: Some(0), precondition_uid: Some(uid), ..Default::default() };
                match api.delete_with(&key.name, &opts).await {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() || e.is_conflict() => {}
                    Err(source) => return Err(Error::PodDelete { pod: key, source }),
                }
                self.release(&key);
                Ok(Action::Done)
            }
            Plan::Start => {
                let node = &self.nodes[idx];
                let host = {
                    let mut s = self.lock();
                    // An address the pod already reports (after a restart) is kept.
                    let reported = pod.status.as_ref().and_then(|st| st.pod_ip.as_deref()).and_then(|ip| node.host_part(ip));
                    let ipam = &mut s.ipam[idx];
                    let host = match reported {
                        Some(h) if ipam.used.get(&h).is_none_or(|u| *u == uid) => {
                            ipam.reserve(h, &uid);
                            Some(h)
                        }
                        _ => ipam.allocate(&uid),
                    };
                    s.pods.insert(key.clone(), Tracked { uid: uid.clone(), node: idx, started: Some(now) });
                    host
                };
                let Some(host) = host else {
                    return Err(Error::NoAddress { pod: key, cidr: node.pod_cidr() });
                };
                let pod_v = serde_json::to_value(&*pod).map_err(|source| crate::client::Error::Encode { kind: "Pod", source })?;
                let status = running_status(&pod_v, &node.internal_ip.to_string(), &node.pod_ip(host).to_string(), wants_ready(&pod), now);
                self.write_status(&api, &key, &pod, status).await?;
                if restart_policy(&pod) != "Always" {
                    return Ok(Action::RequeueAfter(run_duration(&pod)));
                }
                Ok(Action::Done)
            }
            Plan::SetReady(ready) => {
                let pod_v = serde_json::to_value(&*pod).map_err(|source| crate::client::Error::Encode { kind: "Pod", source })?;
                self.write_status(&api, &key, &pod, readiness_status(&pod_v, ready, now)).await?;
                Ok(Action::Done)
            }
            Plan::Exit(code) => {
                let pod_v = serde_json::to_value(&*pod).map_err(|source| crate::client::Error::Encode { kind: "Pod", source })?;
                let status = exited_status(&pod_v, code, now);
                let restarting = status.get("phase").and_then(Value::as_str) == Some("Running");
                self.write_status(&api, &key, &pod, status).await?;
                if restarting {
                    if let Some(t) = self.lock().pods.get_mut(&key) {
                        t.started = Some(now);
                    }
                    return Ok(Action::RequeueAfter(run_duration(&pod)));
                }
                self.release_address(&key, &pod.metadata.uid.clone().unwrap_or_default());
                Ok(Action::Done)
            }
        }
    }

    /// One status write, conditional on the version read: a conflict means a newer version
    /// is on its way through the informer, which queues the pod again.
    async fn write_status(&self, api: &crate::client::Api<Pod>, key: &ObjectKey, pod: &Pod, status: Value) -> Result<(), Error> {
        let patch = json!({
            "metadata": {"resourceVersion": pod.metadata.resource_version, "uid": pod.metadata.uid},
            "status": status,
        });
        match api.patch_status(&key.name, &patch).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_conflict() || e.is_not_found() => Ok(()),
            Err(source) => Err(Error::PodStatus { pod: key.clone(), source }),
        }
    }

    /// Registers (or re-registers) every node and creates its lease; returns the node uids.
    async fn register(&self) {
        let futs = self.nodes.iter().map(|n| self.register_one(n));
        futures::future::join_all(futs).await;
    }

    async fn register_one(&self, node: &SimNode) {
        let existing = match self.client.api::<Node>(None) {
            Ok(api) => api.get_opt(&node.name).await,
            Err(e) => Err(e),
        };
        if matches!(&existing, Ok(Some(n)) if is_stopped(Some(n))) {
            return;
        }
        if let Err(e) = super::registration::register(&self.client, &self.recorder, &node.facts(), &self.host).await {
            tracing::warn!(node = %node.name, error = %e, "registering the simulated node failed");
        }
    }

    async fn report_status(&self, node: &SimNode, current: Option<&Node>) -> bool {
        super::registration::report_status(&self.client, &self.recorder, &node.facts(), &self.host, current).await.is_some()
    }

    async fn renew_lease(&self, node: &SimNode) {
        let uid = async {
            if let Some(u) = self.node_reader.get(None, &node.name).and_then(|n| n.metadata.uid.clone()) {
                return Some(u);
            }
            match self.client.api::<Node>(None).ok()?.get_opt(&node.name).await {
                Ok(Some(n)) => n.metadata.uid,
                _ => None,
            }
        };
        super::registration::renew_lease(&self.client, &node.facts(), uid).await;
    }

    /// Lease renewals every 10 s and status reports when changed or every 5 min, for every
    /// node that is not stopped; a node coming back beats at once and queues its pods.
    async fn heartbeat(self: Arc<Self>, queue: Queue, mut node_events: tokio::sync::broadcast::Receiver<crate::client::Event<Node>>, stop: tokio_util::sync::CancellationToken) {
        let mut last_report = vec![tokio::time::Instant::now(); self.nodes.len()];
        let mut stopped: Vec<bool> = self.nodes.iter().map(|n| is_stopped(self.node_reader.get(None, &n.name).as_deref())).collect();
        let mut tick = tokio::time::interval(LEASE_RENEW_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // (node, whether it just came back)
            let beat: Vec<(usize, bool)> = tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => (0..self.nodes.len()).map(|i| (i, false)).collect(),
                ev = node_events.recv() => match ev {
                    Ok(crate::client::Event::Applied(n)) => {
                        let Some(&i) = n.metadata.name.as_deref().and_then(|n| self.by_name.get(n)) else { continue };
                        let was = std::mem::replace(&mut stopped[i], is_stopped(Some(&n)));
                        if was && !stopped[i] { vec![(i, true)] } else { continue }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            };
            let mut work = Vec::new();
            for (i, came_back) in beat {
                let node = &self.nodes[i];
                let current = self.node_reader.get(None, &node.name);
                if is_stopped(current.as_deref()) {
                    stopped[i] = true;
                    continue;
                }
                let resumed = came_back || std::mem::replace(&mut stopped[i], false);
                if resumed {
                    for p in self.pods.list() {
                        if p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node.name.as_str()) {
                            queue.add(ObjectKey::of(&p.metadata));
                        }
                    }
                }
                let report = node_status_changed(current.as_deref(), &node.facts()) || last_report[i].elapsed() >= STATUS_REPORT_FREQUENCY;
                if report {
                    last_report[i] = tokio::time::Instant::now();
                }
                let this = self.clone();
                work.push(async move {
                    this.renew_lease(&this.nodes[i]).await;
                    if report {
                        let current = this.node_reader.get(None, &this.nodes[i].name);
                        this.report_status(&this.nodes[i], current.as_deref()).await;
                    }
                });
            }
            futures::future::join_all(work).await;
        }
    }
}

/// Registers `count` simulated nodes and runs their pods until `ctx.stop` is cancelled.
pub async fn run(ctx: Context, count: u32) {
    let count = if count > MAX_NODES {
        tracing::warn!(requested = count, max = MAX_NODES, "too many simulated nodes for the 10.42.0.0/16 pod network; capping");
        MAX_NODES
    } else {
        count
    };
    let nodes: Vec<SimNode> = (0..count).map(SimNode::new).collect();
    let by_name: HashMap<String, usize> = nodes.iter().enumerate().map(|(i, n)| (n.name.clone(), i)).collect();
    let (pod_informer, node_informer) = match (ctx.informers.get::<Pod>(), ctx.informers.get::<Node>()) {
        (Ok(p), Ok(n)) => (p, n),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "simulated nodes: informers unavailable");
            return;
        }
    };
    let queue = Queue::new();
    let names = Arc::new(by_name.clone());
    let map_names = names.clone();
    runtime::enqueue_from(&pod_informer, queue.clone(), ctx.stop.clone(), move |p: &Pod| {
        match p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            Some(n) if map_names.contains_key(n) => vec![ObjectKey::of(&p.metadata)],
            _ => vec![],
        }
    });
    let kubelets = Arc::new(Kubelets {
        client: ctx.client.clone(),
        recorder: ctx.recorder.clone(),
        host: HostInfo::detect(),
        pods: pod_informer.reader(),
        node_reader: node_informer.reader(),
        state: Mutex::new(State { pods: HashMap::new(), ipam: (0..nodes.len()).map(|_| Ipam::default()).collect() }),
        nodes,
        by_name,
    });
    kubelets.register().await;
    tracing::info!(nodes = count, "simulated nodes registered");

    let mut pods = kubelets.pods.clone();
    let mut node_reader = kubelets.node_reader.clone();
    tokio::select! {
        _ = ctx.stop.cancelled() => return,
        _ = async { pods.wait_synced().await; node_reader.wait_synced().await } => {}
    }
    // Addresses running pods already hold (a restart) are reserved before anything starts.
    {
        let mut s = kubelets.lock();
        for p in kubelets.pods.list() {
            let Some(&idx) = p.spec.as_ref().and_then(|sp| sp.node_name.as_deref()).and_then(|n| kubelets.by_name.get(n)) else { continue };
            if matches!(crate::controllers::pods::phase(&p), "Succeeded" | "Failed") {
                continue;
            }
            let uid = p.metadata.uid.clone().unwrap_or_default();
            if let Some(h) = p.status.as_ref().and_then(|st| st.pod_ip.as_deref()).and_then(|ip| kubelets.nodes[idx].host_part(ip)) {
                s.ipam[idx].reserve(h, &uid);
                s.pods.insert(ObjectKey::of(&p.metadata), Tracked { uid, node: idx, started: None });
            }
        }
    }
    for p in kubelets.pods.list() {
        if p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| names.contains_key(n)) {
            queue.add(ObjectKey::of(&p.metadata));
        }
    }
    tokio::spawn(kubelets.clone().heartbeat(queue.clone(), node_informer.subscribe(), ctx.stop.clone()));
    let k = kubelets.clone();
    runtime::run("simulated-kubelet", queue, WORKERS, ctx.stop.clone(), move |key| {
        let k = k.clone();
        async move { k.reconcile(key).await }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn host() -> HostInfo {
        HostInfo { kernel_version: "6.8.0".into(), os_image: "Ubuntu".into(), architecture: "amd64".into(), boot_id: "b".into() }
    }

    #[test]
    fn node_facts() {
        let n = SimNode::new(0);
        assert_eq!(n.name, "sim-node-0");
        assert_eq!(n.internal_ip.to_string(), "172.31.0.1");
        assert_eq!(n.pod_cidr(), "10.42.0.0/24");
        let n = SimNode::new(251);
        assert_eq!(n.internal_ip.to_string(), "172.31.1.2");
        assert_eq!(n.host_part("10.42.251.7"), Some(7));
        assert_eq!(n.host_part("10.42.250.7"), None);
        let status = node_status(&n.facts(), &host(), None, t("2025-01-01T00:00:00Z"));
        assert_eq!(status["conditions"][3]["reason"], "KubeletReady");
        assert_eq!(status["nodeInfo"]["kubeletVersion"], KUBELET_VERSION);
        let node: Node = serde_json::from_value(json!({"metadata": {"name": n.name}, "status": status})).unwrap();
        assert!(!node_status_changed(Some(&node), &n.facts()));
        let later = node_status(&n.facts(), &host(), Some(&node), t("2025-01-01T00:05:00Z"));
        assert_eq!(later["conditions"][3]["lastTransitionTime"], "2025-01-01T00:00:00Z");
        assert_eq!(later["conditions"][3]["lastHeartbeatTime"], "2025-01-01T00:05:00Z");
        assert!(node_status_changed(None, &n.facts()));
        assert_eq!(micro_time(t("2025-01-01T00:00:00.5Z")), "2025-01-01T00:00:00.500000Z");
    }

    #[test]
    fn images_are_normalized_as_containerd_reports_them() {
        assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(normalize_image("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(normalize_image("bitnami/redis"), "docker.io/bitnami/redis:latest");
        assert_eq!(normalize_image("registry.k8s.io/pause:3.10"), "registry.k8s.io/pause:3.10");
        assert_eq!(normalize_image("localhost:5000/app"), "localhost:5000/app:latest");
        assert!(image_id("nginx").starts_with("docker.io/library/nginx@sha256:"));
        assert_eq!(image_id("nginx").len(), "docker.io/library/nginx@sha256:".len() + 64);
    }

    #[test]
    fn ipam_round_robin_and_release() {
        let mut ipam = Ipam::default();
        assert_eq!(ipam.allocate("a"), Some(2));
        assert_eq!(ipam.allocate("b"), Some(3));
        assert_eq!(ipam.allocate("a"), Some(2), "same uid, same address");
        ipam.release("a");
        assert_eq!(ipam.allocate("c"), Some(4), "round robin, not lowest free");
        for i in 0..250 {
            ipam.allocate(&format!("x{i}"));
        }
        assert_eq!(ipam.used.len(), 252);
        assert_eq!(ipam.allocate("last"), Some(2), "wraps around to the one free address");
        assert_eq!(ipam.allocate("full"), None);
    }

    #[test]
    fn plans_follow_the_pod() {
        let now = t("2025-01-01T00:00:10Z");
        let pending = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}], "nodeName": "sim-node-0"},
                                 "status": {"phase": "Pending"}}));
        assert_eq!(plan(&pending, now, None), Plan::Start);
        let mut v = serde_json::to_value(&pending).unwrap();
        v["status"] = running_status(&v, "172.31.0.1", "10.42.0.2", true, t("2025-01-01T00:00:09Z"));
        let running: Pod = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(plan(&running, now, None), Plan::Nothing);
        v["metadata"]["annotations"] = json!({READY_ANNOTATION: "false"});
        assert_eq!(plan(&serde_json::from_value(v.clone()).unwrap(), now, None), Plan::SetReady(false));
        v["spec"]["restartPolicy"] = json!("Never");
        v["metadata"]["annotations"] = json!({RUN_SECONDS_ANNOTATION: "5", EXIT_CODE_ANNOTATION: "3"});
        let job: Pod = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(plan(&job, now, None), Plan::Wait(Duration::from_secs(4)));
        assert_eq!(plan(&job, t("2025-01-01T00:00:14Z"), None), Plan::Exit(3));
        let mut deleting = v.clone();
        deleting["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:10Z");
        assert_eq!(plan(&serde_json::from_value(deleting).unwrap(), now, None), Plan::Delete);
    }

    #[test]
    fn running_then_completed_status_as_the_kubelet_reports() {
        let v = json!({"metadata": {"name": "p"},
            "spec": {"restartPolicy": "Never", "nodeName": "sim-node-0",
                     "initContainers": [{"name": "init", "image": "busybox"}],
                     "containers": [{"name": "a", "image": "nginx", "resources": {"requests": {"cpu": "100m"}},
                                     "volumeMounts": [{"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]},
                                    {"name": "b", "image": "nginx"}]},
            "status": {"phase": "Pending", "qosClass": "Burstable",
                       "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2025-01-01T00:00:00Z", "lastProbeTime": null}]}});
        let now = t("2025-01-01T00:00:01Z");
        let mut v2 = v.clone();
        v2["status"] = running_status(&v, "172.31.0.1", "10.42.0.2", false, now);
        let st = &v2["status"];
        assert_eq!(st["phase"], "Running");
        assert_eq!(st["podIPs"], json!([{"ip": "10.42.0.2"}]));
        let types: Vec<&str> = st["conditions"].as_array().unwrap().iter().map(|c| c["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]);
        assert_eq!(st["conditions"][4]["lastTransitionTime"], "2025-01-01T00:00:00Z");
        assert_eq!(st["conditions"][2]["message"], "containers with unready status: [a b]");
        assert_eq!(st["initContainerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
        let a = &st["containerStatuses"][0];
        assert_eq!(a["image"], "docker.io/library/nginx:latest");
        assert!(a["containerID"].as_str().unwrap().starts_with("simulated://"));
        assert_eq!(a["containerID"].as_str().unwrap().len(), "simulated://".len() + 64);
        assert_eq!(a["volumeMounts"][0]["recursiveReadOnly"], "Disabled");
        assert_eq!(a["allocatedResources"], json!({"cpu": "100m"}));
        assert_eq!(a["state"]["running"]["startedAt"], "2025-01-01T00:00:01Z");
        // The typed Pod accepts it.
        let _: Pod = serde_json::from_value(v2.clone()).unwrap();

        let done = exited_status(&v2, 0, t("2025-01-01T00:00:02Z"));
        assert_eq!(done["phase"], "Succeeded");
        assert_eq!(done["conditions"][2]["reason"], "PodCompleted");
        assert_eq!(done["conditions"][1]["reason"], "PodCompleted");
        assert_eq!(done["conditions"][0]["status"], "False");
        assert_eq!(done["containerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
        assert_eq!(done["containerStatuses"][0]["state"]["terminated"]["containerID"], a["containerID"]);
        let failed = exited_status(&v2, 2, t("2025-01-01T00:00:02Z"));
        assert_eq!(failed["phase"], "Failed");
        assert_eq!(failed["conditions"][3]["reason"], "PodFailed");
        assert!(failed["conditions"][1].get("reason").is_none());
        assert_eq!(failed["containerStatuses"][1]["state"]["terminated"]["reason"], "Error");
        assert_eq!(failed["containerStatuses"][1]["state"]["terminated"]["exitCode"], 2);
        let mut on_failure = v2.clone();
        on_failure["spec"]["restartPolicy"] = json!("OnFailure");
        let restarted = exited_status(&on_failure, 1, t("2025-01-01T00:00:02Z"));
        assert_eq!(restarted["phase"], "Running");
        assert_eq!(restarted["containerStatuses"][0]["restartCount"], 1);
        assert_eq!(restarted["containerStatuses"][0]["lastState"]["terminated"]["reason"], "Error");
    }
}
