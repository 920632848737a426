//! The scheduler's view of the cluster, like kube-scheduler's cache: every node with what its
//! pods request, the host ports they hold and who owns them. Pods the scheduler has bound are
//! assumed onto their node at once, so the next decision counts them before the informer
//! reports the binding. Only the scheduler loop and its event handler write it.

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The requests kube-scheduler assumes for scoring when a container requests nothing
/// (DefaultMilliCPURequest, DefaultMemoryRequest).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// An amount of each resource: cpu in millicores, the rest in base units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Extended and hugepage resources.
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Resources {
        let mut r = Resources::default();
        for (name, q) in list.into_iter().flatten() {
            r.set(name, q);
        }
        r
    }

    fn set(&mut self, name: &str, q: &Quantity) {
        let Some(v) = crate::registry::pod::parse_quantity(&q.0) else { return };
        match name {
            "cpu" => self.milli_cpu = (v * 1000.0).ceil() as i64,
            "memory" => self.memory = v.ceil() as i64,
            "ephemeral-storage" => self.ephemeral_storage = v.ceil() as i64,
            "pods" => {}
            other => {
                self.scalar.insert(other.to_string(), v.ceil() as i64);
            }
        }
    }

    pub fn add(&mut self, o: &Resources) {
        self.milli_cpu += o.milli_cpu;
        self.memory += o.memory;
        self.ephemeral_storage += o.ephemeral_storage;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) += v;
        }
    }

    pub fn sub(&mut self, o: &Resources) {
        self.milli_cpu -= o.milli_cpu;
        self.memory -= o.memory;
        self.ephemeral_storage -= o.ephemeral_storage;
        for (k, v) in &o.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) -= v;
        }
    }

    /// Each resource the larger of the two.
    pub fn max_with(&mut self, o: &Resources) {
        self.milli_cpu = self.milli_cpu.max(o.milli_cpu);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
        for (k, v) in &o.scalar {
            let e = self.scalar.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0 && self.memory == 0 && self.ephemeral_storage == 0 && self.scalar.values().all(|v| *v == 0)
    }
}

fn container_requests(c: &Container) -> Resources {
    let res = c.resources.as_ref();
    // Requests default to limits (the API defaults them so; be safe with older objects).
    let mut r = Resources::from_list(res.and_then(|r| r.limits.as_ref()));
    let req = Resources::from_list(res.and_then(|r| r.requests.as_ref()));
    if let Some(reqs) = res.and_then(|r| r.requests.as_ref()) {
        for name in reqs.keys() {
            match name.as_str() {
                "cpu" => r.milli_cpu = req.milli_cpu,
                "memory" => r.memory = req.memory,
                "ephemeral-storage" => r.ephemeral_storage = req.ephemeral_storage,
                other => {
                    if let Some(v) = req.scalar.get(other) {
                        r.scalar.insert(other.to_string(), *v);
                    }
                }
            }
        }
    }
    r
}

/// What the pod requests, as resource.PodRequests computes it: the sum of its containers and
/// sidecars, at least each init container (plus the sidecars started before it), plus overhead.
pub fn pod_requests(pod: &Pod) -> Resources {
    let mut total = Resources::default();
    let Some(spec) = pod.spec.as_ref() else { return total };
    for c in &spec.containers {
        total.add(&container_requests(c));
    }
    let mut sidecars = Resources::default();
    let mut init_max = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let r = container_requests(c);
        if c.restart_policy.as_deref() == Some("Always") {
            sidecars.add(&r);
            total.add(&r);
            init_max.max_with(&sidecars);
        } else {
            let mut with = r;
            with.add(&sidecars);
            init_max.max_with(&with);
        }
    }
    total.max_with(&init_max);
    if let Some(o) = spec.overhead.as_ref() {
        total.add(&Resources::from_list(Some(o)));
    }
    total
}

/// cpu and memory requests with kube-scheduler's non-zero defaults, for scoring.
pub fn non_zero_requests(pod: &Pod) -> (i64, i64) {
    let Some(spec) = pod.spec.as_ref() else { return (0, 0) };
    let (mut cpu, mut mem) = (0i64, 0i64);
    for c in &spec.containers {
        let r = container_requests(c);
        cpu += if r.milli_cpu == 0 { DEFAULT_MILLI_CPU_REQUEST } else { r.milli_cpu };
        mem += if r.memory == 0 { DEFAULT_MEMORY_REQUEST } else { r.memory };
    }
    if let Some(o) = spec.overhead.as_ref() {
        let o = Resources::from_list(Some(o));
        cpu += o.milli_cpu;
        mem += o.memory;
    }
    (cpu, mem)
}

/// A host port a pod asks for: protocol, host IP ("0.0.0.0" when unset) and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub protocol: String,
    pub ip: String,
    pub port: i32,
}

impl HostPort {
    /// Two host ports conflict on the same protocol and port when either binds all addresses.
    pub fn conflicts(&self, o: &HostPort) -> bool {
        self.port == o.port && self.protocol == o.protocol && (self.ip == o.ip || self.ip == "0.0.0.0" || o.ip == "0.0.0.0")
    }
}

pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else { return Vec::new() };
    let mut out = Vec::new();
    let inits = spec.init_containers.iter().flatten().filter(|c| c.restart_policy.as_deref() == Some("Always"));
    for c in spec.containers.iter().chain(inits) {
        for p in c.ports.iter().flatten() {
            let Some(hp) = p.host_port.filter(|p| *p > 0) else { continue };
            let ip = p.host_ip.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "0.0.0.0".into());
            out.push(HostPort { protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()), ip, port: hp });
        }
    }
    out
}

pub fn pod_key(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""))
}

pub fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// What the scheduler keeps about a pod placed on a node.
#[derive(Debug)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    pub key: String,
    pub requests: Resources,
    pub non_zero: (i64, i64),
    pub ports: Vec<HostPort>,
    pub owner: Option<String>,
    /// The pod carries required pod anti-affinity (checked against every incoming pod).
    pub has_required_anti_affinity: bool,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let owner = crate::controllers::pods::controller_of(&pod.metadata).map(|r| r.uid.clone());
        let has_required_anti_affinity = pod
            .spec
            .as_ref()
            .and_then(|s| s.affinity.as_ref())
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
            .is_some_and(|t| !t.is_empty());
        PodInfo {
            key: pod_key(&pod),
            requests: pod_requests(&pod),
            non_zero: non_zero_requests(&pod),
            ports: host_ports(&pod),
            owner,
            has_required_anti_affinity,
            pod,
        }
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.pod.metadata.labels.as_ref()
    }

    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or("")
    }
}

/// One node and the pods placed on it.
#[derive(Debug, Default)]
pub struct NodeInfo {
    /// None while pods name a node the scheduler has not seen (or that was deleted).
    pub node: Option<Arc<Node>>,
    pub allocatable: Resources,
    pub allowed_pods: i64,
    pub requested: Resources,
    pub non_zero_requested: (i64, i64),
    pub pods: BTreeMap<String, Arc<PodInfo>>,
    pub ports: Vec<HostPort>,
    /// Pods per controller uid, for the default spreading of a workload's replicas.
    pub owners: HashMap<String, u32>,
    /// Pods per priority, so preemption finds out cheaply whether any could be a victim.
    pub priorities: BTreeMap<i32, u32>,
}

impl NodeInfo {
    pub fn name(&self) -> &str {
        self.node.as_ref().and_then(|n| n.metadata.name.as_deref()).unwrap_or("")
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.node.as_ref()?.metadata.labels.as_ref()
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels()?.get(key).map(String::as_str)
    }

    fn set_node(&mut self, node: Arc<Node>) {
        let alloc = node.status.as_ref().and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()));
        self.allocatable = Resources::from_list(alloc);
        self.allowed_pods = alloc
            .and_then(|a| a.get("pods"))
            .and_then(|q| crate::registry::pod::parse_quantity(&q.0))
            .map(|v| v as i64)
            .unwrap_or(0);
        self.node = Some(node);
    }

    fn add_pod(&mut self, p: Arc<PodInfo>) {
        self.requested.add(&p.requests);
        self.non_zero_requested.0 += p.non_zero.0;
        self.non_zero_requested.1 += p.non_zero.1;
        self.ports.extend(p.ports.iter().cloned());
        if let Some(o) = &p.owner {
            *self.owners.entry(o.clone()).or_insert(0) += 1;
        }
        *self.priorities.entry(priority(&p.pod)).or_insert(0) += 1;
        self.pods.insert(p.key.clone(), p);
    }

    fn remove_pod(&mut self, key: &str) -> Option<Arc<PodInfo>> {
        let p = self.pods.remove(key)?;
        self.requested.sub(&p.requests);
        self.non_zero_requested.0 -= p.non_zero.0;
        self.non_zero_requested.1 -= p.non_zero.1;
        for hp in &p.ports {
            if let Some(i) = self.ports.iter().position(|x| x == hp) {
                self.ports.swap_remove(i);
            }
        }
        if let Some(o) = &p.owner {
            if let Some(n) = self.owners.get_mut(o) {
                *n -= 1;
                if *n == 0 {
                    self.owners.remove(o);
                }
            }
        }
        let prio = priority(&p.pod);
        if let Some(n) = self.priorities.get_mut(&prio) {
            *n -= 1;
            if *n == 0 {
                self.priorities.remove(&prio);
            }
        }
        Some(p)
    }

    /// The lowest priority of a pod on the node.
    pub fn min_priority(&self) -> Option<i32> {
        self.priorities.keys().next().copied()
    }

    /// A copy without the given pods (what preemption would leave).
    pub fn without(&self, victims: &[String]) -> NodeInfo {
        let mut n = NodeInfo { node: self.node.clone(), allocatable: self.allocatable.clone(), allowed_pods: self.allowed_pods, ..Default::default() };
        for (k, p) in &self.pods {
            if !victims.contains(k) {
                n.add_pod(p.clone());
            }
        }
        n
    }
}

/// Every node and every placed pod.
#[derive(Debug, Default)]
pub struct Cache {
    nodes: BTreeMap<String, NodeInfo>,
    /// pod key → (node, assumed: bound by us, not yet confirmed by the informer)
    placed: HashMap<String, (String, bool)>,
    /// Placed pods with required anti-affinity.
    anti_affinity_pods: HashMap<String, String>,
}

impl Cache {
    pub fn set_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        self.nodes.entry(name).or_default().set_node(node);
    }

    pub fn remove_node(&mut self, name: &str) {
        if let Some(n) = self.nodes.get_mut(name) {
            n.node = None;
            if n.pods.is_empty() {
                self.nodes.remove(name);
            }
        }
    }

    pub fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.nodes.get(name).filter(|n| n.node.is_some())
    }

    /// The nodes that exist, by name.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values().filter(|n| n.node.is_some())
    }

    pub fn node_count(&self) -> usize {
        self.nodes().count()
    }

    /// Places a pod on a node (confirmed: seen bound by the informer; else assumed).
    pub fn place(&mut self, info: Arc<PodInfo>, node: &str, assumed: bool) {
        let key = info.key.clone();
        self.unplace(&key);
        if info.has_required_anti_affinity {
            self.anti_affinity_pods.insert(key.clone(), node.to_string());
        }
        self.nodes.entry(node.to_string()).or_default().add_pod(info);
        self.placed.insert(key, (node.to_string(), assumed));
    }

    /// Removes a pod from its node; returns where it was.
    pub fn unplace(&mut self, key: &str) -> Option<String> {
        let (node, _) = self.placed.remove(key)?;
        self.anti_affinity_pods.remove(key);
        if let Some(n) = self.nodes.get_mut(&node) {
            n.remove_pod(key);
            if n.node.is_none() && n.pods.is_empty() {
                self.nodes.remove(&node);
            }
        }
        Some(node)
    }

    /// Where the pod is placed and whether that is only assumed.
    pub fn placement(&self, key: &str) -> Option<(&str, bool)> {
        self.placed.get(key).map(|(n, a)| (n.as_str(), *a))
    }

    /// The placed pod with this key.
    pub fn placed_pod(&self, key: &str) -> Option<&Arc<PodInfo>> {
        let (node, _) = self.placed.get(key)?;
        self.nodes.get(node)?.pods.get(key)
    }

    pub fn placed_keys(&self) -> Vec<String> {
        self.placed.keys().cloned().collect()
    }

    /// Placed pods with required anti-affinity terms, with their nodes.
    pub fn anti_affinity_pods(&self) -> impl Iterator<Item = (&PodInfo, &NodeInfo)> {
        self.anti_affinity_pods
            .iter()
            .filter_map(|(k, n)| {
                let ni = self.nodes.get(n)?;
                Some((ni.pods.get(k)?.as_ref(), ni))
            })
    }

    pub fn placed_count(&self) -> usize {
        self.placed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn requests_sum_containers_take_the_init_maximum_and_add_overhead() {
        let p = pod(json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                {"name": "b", "resources": {"limits": {"cpu": "200m"}}}],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1", "memory": "16Mi"}}}],
            "overhead": {"cpu": "10m"}}}));
        let r = pod_requests(&p);
        assert_eq!(r.milli_cpu, 1010);
        assert_eq!(r.memory, 64 * 1024 * 1024);
        assert_eq!(non_zero_requests(&p), (310, 64 * 1024 * 1024 + DEFAULT_MEMORY_REQUEST));
    }

    #[test]
    fn placing_and_removing_pods_keeps_node_totals() {
        let mut c = Cache::default();
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1"},
            "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "110"}}}))
        .unwrap();
        c.set_node(Arc::new(node));
        let p = Arc::new(PodInfo::new(Arc::new(pod(json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}},
                "ports": [{"containerPort": 80, "hostPort": 8080}]}]}})))));
        c.place(p.clone(), "n1", true);
        let n = c.node("n1").unwrap();
        assert_eq!((n.allocatable.milli_cpu, n.allowed_pods, n.requested.milli_cpu, n.ports.len()), (2000, 110, 500, 1));
        assert_eq!(c.placement("d/p"), Some(("n1", true)));
        c.place(p, "n1", false);
        assert_eq!(c.node("n1").unwrap().requested.milli_cpu, 500, "confirming does not count twice");
        c.unplace("d/p");
        let n = c.node("n1").unwrap();
        assert_eq!((n.requested.milli_cpu, n.ports.len(), n.pods.len()), (0, 0, 0));
    }
}
