//! The node agent: the kubelet of minikube-rs. Registers the Node and renews its Lease,
//! watches the pods bound to the node through the shared informer and makes them real
//! (sandbox, images, containers, probes, status), re-adopts what is already running after a
//! restart of the server, and cleans up after pods that are gone. It writes only through the
//! in-process client, like any kubelet.
//!
//! - `worker`: one pod's sync (sandbox, init and regular containers, restarts, termination).
//! - `status`: the PodStatus computed from what was observed.
//! - `probes`: liveness, readiness and startup probes.
//! - `pulls`: pull policies and pull back-off.
//! - `spec`: a container's OCI spec from the pod, the container and its image.
//! - `env`, `volumes`, `etc_files`: what the pod spec becomes on disk.

pub mod env;
pub mod etc_files;
pub mod logs;
pub mod pulls;
pub mod probes;
mod spec;
pub mod status;
pub mod volumes;
mod worker;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;

use crate::client::{Client, Reader};
use crate::controllers::events::Recorder;
use crate::controllers::runtime::{self, Context, ObjectKey, Queue};
use crate::node::cgroups::Cgroups;
use crate::node::images::ImageStore;
use crate::node::network::NodeNetwork;
use crate::node::profile::NodeProfile;
use crate::node::registration::{self, HostInfo, NodeFacts, LEASE_RENEW_INTERVAL, STATUS_REPORT_FREQUENCY};
use crate::node::runtime::Runtime;

pub use pulls::PullConfig;
pub use worker::PodRuntime;

/// The cluster's DNS service address and domain (k3s defaults, DESIGN.md).
pub const CLUSTER_DNS: &str = "10.43.0.10";
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The pause image every pod sandbox runs.
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// Pod workers: each may wait on a grace period or a pull, so there are several.
const WORKERS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("node {node}: {source}")]
    Client { node: String, #[source] source: crate::client::Error },
}

/// Everything the kubelet works with, shared by its tasks.
pub struct Agent {
    pub client: Client,
    pub recorder: Recorder,
    pub node_name: String,
    pub profile: NodeProfile,
    pub network: NodeNetwork,
    pub cgroups: Cgroups,
    pub runtime: Runtime,
    pub images: ImageStore,
    pub pull: pulls::PullConfig,
    pub facts: NodeFacts,
    pub host: HostInfo,
    pub pods: Reader<Pod>,
    pub queue: Queue,
    pub probes: probes::Table,
    /// What the agent knows of each pod it runs, by uid.
    pub state: Mutex<HashMap<String, (ObjectKey, Arc<tokio::sync::Mutex<PodRuntime>>)>>,
    pub stop: tokio_util::sync::CancellationToken,
}

/// The parts of the node the supervisor sets up before the API server starts (the network
/// must exist first: the API server also listens on the host end of the node veth).
pub struct NodeParts {
    pub profile: NodeProfile,
    pub network: NodeNetwork,
    pub cgroups: Cgroups,
    pub runtime: Runtime,
    pub images: ImageStore,
}

impl Agent {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (ObjectKey, Arc<tokio::sync::Mutex<PodRuntime>>)>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The runtime record of a pod, created empty the first time.
    pub fn pod_runtime(&self, uid: &str, key: &ObjectKey) -> Arc<tokio::sync::Mutex<PodRuntime>> {
        self.lock()
            .entry(uid.to_string())
            .or_insert_with(|| (key.clone(), Arc::new(tokio::sync::Mutex::new(PodRuntime::new(uid, key.clone())))))
            .1
            .clone()
    }

    pub fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    /// Every pod the agent holds something for: (uid, key).
    fn known_uids(&self) -> Vec<(String, ObjectKey)> {
        self.lock().iter().map(|(uid, (key, _))| (uid.clone(), key.clone())).collect()
    }

    /// Events about a pod, from the kubelet of this node.
    pub fn events(&self) -> Recorder {
        self.recorder.for_component("kubelet", Some(&self.node_name))
    }

    fn is_ours(&self, pod: &Pod) -> bool {
        pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(self.node_name.as_str())
    }
}

/// What the node reports: this machine's cpus, memory and disk, the node IP, the runtime.
pub fn node_facts(name: &str, profile: &NodeProfile, runtime: &Runtime) -> NodeFacts {
    let cpus = crate::node::cgroups::machine_cpus();
    let memory_ki = crate::node::cgroups::machine_memory() / 1024;
    let disk_ki = disk_size(&profile.data_dir) / 1024;
    // Allocatable keeps the kubelet's hard eviction thresholds back: memory.available<100Mi
    // and nodefs.available<10%.
    let capacity = json!({
        "cpu": cpus.to_string(),
        "ephemeral-storage": format!("{disk_ki}Ki"),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": format!("{memory_ki}Ki"),
        "pods": "110",
    });
    let allocatable = json!({
        "cpu": cpus.to_string(),
        "ephemeral-storage": (disk_ki * 1024 * 9 / 10).to_string(),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": format!("{}Ki", (memory_ki - 100 * 1024).max(0)),
        "pods": "110",
    });
    let (rt_name, rt_version) = runtime.name_version();
    NodeFacts {
        name: name.to_string(),
        internal_ip: profile.node_ip.to_string(),
        pod_cidr: format!("{}/{}", profile.pod_cidr.0, profile.pod_cidr.1),
        runtime_version: format!("{rt_name}://{rt_version}"),
        labels: BTreeMap::from([
            ("node-role.kubernetes.io/control-plane".to_string(), String::new()),
            ("node.kubernetes.io/instance-type".to_string(), "minikube-rs".to_string()),
        ]),
        annotations: BTreeMap::from([
            ("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string()),
            ("volumes.kubernetes.io/controller-managed-attach-detach".to_string(), "true".to_string()),
        ]),
        capacity,
        allocatable,
    }
}

fn disk_size(path: &std::path::Path) -> i64 {
    nix::sys::statvfs::statvfs(path)
        .map(|s| (s.blocks() as i64) * (s.fragment_size() as i64))
        .unwrap_or(0)
}

/// Runs the kubelet until `ctx.stop` is cancelled. Containers keep running when it stops.
pub async fn run(ctx: Context, node_name: String, parts: NodeParts, pull: pulls::PullConfig) {
    let pod_informer = match ctx.informers.get::<Pod>() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "node agent: pod informer unavailable");
            return;
        }
    };
    let facts = node_facts(&node_name, &parts.profile, &parts.runtime);
    let queue = Queue::new();
    let agent = Arc::new(Agent {
        client: ctx.client.clone(),
        recorder: ctx.recorder.clone(),
        node_name: node_name.clone(),
        profile: parts.profile,
        network: parts.network,
        cgroups: parts.cgroups,
        runtime: parts.runtime,
        images: parts.images,
        pull,
        facts,
        host: HostInfo::detect(),
        pods: pod_informer.reader(),
        queue: queue.clone(),
        probes: probes::Table::default(),
        state: Mutex::new(HashMap::new()),
        stop: ctx.stop.clone(),
    });
    let mut registered = None;
    for attempt in 0..50 {
        match registration::register(&agent.client, &agent.events(), &agent.facts, &agent.host).await {
            Ok(n) => {
                registered = Some(n);
                break;
            }
            Err(e) => {
                tracing::warn!(node = %node_name, attempt, error = %e, "registering the node failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    let Some(node) = registered else { return };
    tracing::info!(node = %node_name, ip = %agent.facts.internal_ip, "node registered");
    tokio::spawn(heartbeat(agent.clone(), node));

    let name = Arc::new(node_name.clone());
    let filter_name = name.clone();
    runtime::enqueue_from(&pod_informer, queue.clone(), ctx.stop.clone(), move |p: &Pod| {
        match p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
            Some(n) if n == filter_name.as_str() => vec![ObjectKey::of(&p.metadata)],
            _ => vec![],
        }
    });
    let mut pods = agent.pods.clone();
    tokio::select! {
        _ = ctx.stop.cancelled() => return,
        _ = pods.wait_synced() => {}
    }
    adopt(&agent).await;
    for p in agent.pods.list() {
        if agent.is_ours(&p) {
            queue.add(ObjectKey::of(&p.metadata));
        }
    }
    tokio::spawn(housekeeping(agent.clone()));
    let a = agent.clone();
    runtime::run("kubelet", queue, WORKERS, ctx.stop.clone(), move |key| {
        let a = a.clone();
        async move { worker::sync(&a, key).await }
    })
    .await;
}

/// Lease renewals every 10 s; status reports when it changed or every 5 minutes.
async fn heartbeat(agent: Arc<Agent>, node: Node) {
    let uid = node.metadata.uid.clone();
    let mut current = Some(node);
    let mut last_report = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(LEASE_RENEW_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = agent.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let uid = uid.clone();
        registration::renew_lease(&agent.client, &agent.facts, async move { uid }).await;
        let fresh = match agent.client.api::<Node>(None) {
            Ok(api) => api.get_opt(&agent.node_name).await.ok().flatten(),
            Err(_) => None,
        };
        if fresh.is_none() {
            // Deleted: register again, as a kubelet does.
            if let Ok(n) = registration::register(&agent.client, &agent.events(), &agent.facts, &agent.host).await {
                current = Some(n);
            }
            continue;
        }
        current = fresh.or(current);
        if registration::node_status_changed(current.as_ref(), &agent.facts) || last_report.elapsed() >= STATUS_REPORT_FREQUENCY {
            last_report = tokio::time::Instant::now();
            if let Some(n) = registration::report_status(&agent.client, &agent.events(), &agent.facts, &agent.host, current.as_ref()).await {
                current = Some(n);
            }
        }
    }
}

/// After a (re)start: takes over the containers that are still there, so running pods keep
/// running with their restart counts; what belongs to no pod of this node is removed.
async fn adopt(agent: &Arc<Agent>) {
    let pods: HashMap<String, Arc<Pod>> = agent
        .pods
        .list()
        .into_iter()
        .filter(|p| agent.is_ours(p))
        .filter_map(|p| Some((p.metadata.uid.clone()?, p)))
        .collect();
    let containers = agent.runtime.list().await;
    let mut adopted = 0;
    let mut by_pod: HashMap<String, Vec<crate::node::runtime::ContainerInfo>> = HashMap::new();
    for c in containers {
        let uid = c.labels.get(worker::LABEL_POD_UID).cloned().unwrap_or_default();
        by_pod.entry(uid).or_default().push(c);
    }
    for (uid, list) in by_pod {
        match pods.get(&uid) {
            Some(pod) => {
                let key = ObjectKey::of(&pod.metadata);
                let rt = agent.pod_runtime(&uid, &key);
                let mut rt = rt.lock().await;
                rt.adopt(agent, pod, list).await;
                adopted += 1;
            }
            None => {
                for c in list {
                    tracing::info!(container = %c.id, pod_uid = %uid, "removing a container whose pod is gone");
                    if let Err(e) = agent.runtime.remove(&c.id).await {
                        tracing::warn!(container = %c.id, error = %e, "removing an orphaned container failed");
                    }
                }
            }
        }
    }
    tracing::info!(pods = adopted, "node agent: re-adopted running pods");
    collect_orphans(agent, &pods.keys().cloned().collect()).await;
}

/// Removes pod networks, cgroups and pod dirs that belong to no pod of this node.
async fn collect_orphans(agent: &Arc<Agent>, live: &HashSet<String>) {
    let known: HashSet<String> = agent.known_uids().into_iter().map(|(u, _)| u).collect();
    let keep = |uid: &str| live.contains(uid) || known.contains(uid);
    for (uid, _ip) in agent.network.allocations() {
        if !keep(&uid) {
            if let Err(e) = agent.network.remove_pod(&uid).await {
                tracing::warn!(pod_uid = %uid, error = %e, "removing an orphaned pod network failed");
            }
        }
    }
    for (uid, path) in agent.cgroups.list_pods() {
        if !keep(&uid) {
            let cgroups = agent.cgroups.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || cgroups.remove_pod(&path)).await {
                tracing::warn!(pod_uid = %uid, error = %e, "removing an orphaned pod cgroup failed");
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir(agent.profile.pods_dir()) {
        for entry in dir.flatten() {
            let uid = entry.file_name().to_string_lossy().into_owned();
            if !keep(&uid) {
                if let Err(e) = volumes::cleanup(&agent.profile.pods_dir(), &uid) {
                    tracing::warn!(pod_uid = %uid, error = %e, "removing an orphaned pod dir failed");
                }
            }
        }
    }
}

/// Every minute: pods the agent knows whose objects are gone are torn down (a missed
/// delete event), and orphans are collected.
async fn housekeeping(agent: Arc<Agent>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = agent.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let live: HashSet<String> = agent.pods.list().iter().filter(|p| agent.is_ours(p)).filter_map(|p| p.metadata.uid.clone()).collect();
        for (uid, key) in agent.known_uids() {
            if !live.contains(&uid) && !key.name.is_empty() {
                agent.queue.add(key);
            }
        }
        collect_orphans(&agent, &live).await;
    }
}
