//! What every kubelet tells the API about its node, real or simulated: the Node object
//! (labels, addresses, capacity, nodeInfo, the four conditions) and the Lease in
//! kube-node-lease, with upstream's timing (lease renewed every 10 s, status reported when
//! it changes or every 5 min).

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::client::Client;
use crate::controllers::events::Recorder;

pub const KUBELET_VERSION: &str = "v1.33.5";
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The kubelet's node lease duration and renew interval (upstream defaults).
pub const LEASE_DURATION_SECONDS: i32 = 40;
pub const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// The kubelet computes node status every 10 s and reports it when it changed, or every
/// 5 minutes otherwise (nodeStatusUpdateFrequency / nodeStatusReportFrequency).
pub const STATUS_UPDATE_FREQUENCY: Duration = Duration::from_secs(10);
pub const STATUS_REPORT_FREQUENCY: Duration = Duration::from_secs(300);

/// What one node reports about itself, beyond the host facts.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFacts {
    pub name: String,
    pub internal_ip: String,
    pub pod_cidr: String,
    /// "<runtime>://<version>", as nodeInfo.containerRuntimeVersion.
    pub runtime_version: String,
    /// Labels beyond the kubelet's well-known ones (arch, os, hostname).
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub capacity: Value,
    pub allocatable: Value,
}

/// What the host tells a kubelet about itself.
#[derive(Debug, Clone)]
pub struct HostInfo {
    pub kernel_version: String,
    pub os_image: String,
    pub architecture: String,
    pub boot_id: String,
}

impl HostInfo {
    pub fn detect() -> HostInfo {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        }
        .to_string();
        let os_image = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
            })
            .unwrap_or_else(|| "Linux".to_string());
        HostInfo { kernel_version: kernel_release(), os_image, architecture, boot_id: uuid::Uuid::new_v4().to_string() }
    }
}

fn kernel_release() -> String {
    // SAFETY: uname fills a caller-owned, zeroed struct; the release field is NUL-terminated.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return String::new();
        }
        std::ffi::CStr::from_ptr(u.release.as_ptr()).to_string_lossy().into_owned()
    }
}

// ---------------------------------------------------------------------------------------
// Nodes

/// The Node as the kubelet registers it (metadata and spec; status is written separately).
pub fn node_object(node: &NodeFacts, host: &HostInfo) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": node_labels(node, host),
            "annotations": node.annotations,
        },
        "spec": {"podCIDR": node.pod_cidr, "podCIDRs": [node.pod_cidr]},
    })
}

fn node_labels(node: &NodeFacts, host: &HostInfo) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = [
        ("beta.kubernetes.io/arch", host.architecture.as_str()),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", host.architecture.as_str()),
        ("kubernetes.io/hostname", node.name.as_str()),
        ("kubernetes.io/os", "linux"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    labels.extend(node.labels.clone());
    labels
}

/// The kubelet's four node conditions: (type, status, reason, message).
const NODE_CONDITIONS: [(&str, &str, &str, &str); 4] = [
    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
];

/// Whether the node's reported conditions differ from what the kubelet would report
/// (a restart, or the node lifecycle controller marked them Unknown).
pub fn node_status_changed(current: Option<&Node>, node: &NodeFacts) -> bool {
    let Some(current) = current else { return true };
    let status = current.status.as_ref();
    let conds = status.and_then(|s| s.conditions.as_ref());
    let cond_ok = NODE_CONDITIONS.iter().all(|(t, st, r, _)| {
        conds
            .and_then(|cs| cs.iter().find(|c| c.type_ == *t))
            .is_some_and(|c| c.status == *st && c.reason.as_deref() == Some(*r))
    });
    let info_ok = status
        .and_then(|s| s.node_info.as_ref())
        .is_some_and(|i| i.kubelet_version == KUBELET_VERSION && i.container_runtime_version == node.runtime_version);
    let addr_ok = status
        .and_then(|s| s.addresses.as_ref())
        .is_some_and(|a| a.iter().any(|a| a.type_ == "InternalIP" && a.address == node.internal_ip));
    !(cond_ok && info_ok && addr_ok)
}

/// The status the kubelet reports at `now`; transition times are kept from `current` for
/// conditions whose status did not change.
pub fn node_status(node: &NodeFacts, host: &HostInfo, current: Option<&Node>, now: jiff::Timestamp) -> Value {
    let old = current.and_then(|n| n.status.as_ref()).and_then(|s| s.conditions.as_ref());
    let now_s = rfc3339(now);
    let conditions: Vec<Value> = NODE_CONDITIONS
        .iter()
        .map(|(t, st, reason, message)| {
            let since = old
                .and_then(|cs| cs.iter().find(|c| c.type_ == *t))
                .filter(|c| c.status == *st)
                .and_then(|c| c.last_transition_time.as_ref())
                .map(|t| rfc3339(t.0))
                .unwrap_or_else(|| now_s.clone());
            json!({"type": t, "status": st, "reason": reason, "message": message,
                   "lastHeartbeatTime": now_s, "lastTransitionTime": since})
        })
        .collect();
    let id = hex_digest(&node.name);
    json!({
        "addresses": [
            {"type": "InternalIP", "address": node.internal_ip},
            {"type": "Hostname", "address": node.name},
        ],
        "allocatable": node.allocatable,
        "capacity": node.capacity,
        "conditions": conditions,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "architecture": host.architecture,
            "bootID": host.boot_id,
            "containerRuntimeVersion": node.runtime_version,
            "kernelVersion": host.kernel_version,
            "kubeProxyVersion": "",
            "kubeletVersion": KUBELET_VERSION,
            "machineID": &id[..32],
            "operatingSystem": "linux",
            "osImage": host.os_image,
            "systemUUID": format!("{}-{}-{}-{}-{}", &id[32..40], &id[40..44], &id[44..48], &id[48..52], &id[52..64]),
        },
    })
}

/// The node's Lease as the kubelet writes it.
pub fn lease_object(node: &NodeFacts, node_uid: &str, now: jiff::Timestamp) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": node.name,
            "namespace": NODE_LEASE_NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": node_uid}],
        },
        "spec": {"holderIdentity": node.name, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": micro_time(now)},
    })
}

/// Registers the node, or re-registers it after a restart (the kubelet owns its labels,
/// annotations and pod CIDR), records the `Starting` event and reports its status.
pub async fn register(client: &Client, recorder: &Recorder, node: &NodeFacts, host: &HostInfo) -> Result<Node, crate::client::Error> {
    let api = client.api::<Node>(None)?;
    let want = node_object(node, host);
    let registered = match api.get_opt(&node.name).await? {
        None => {
            let n: Node = serde_json::from_value(want).map_err(|source| crate::client::Error::Encode { kind: "Node", source })?;
            api.create(&n).await?
        }
        Some(_) => {
            let patch = json!({"metadata": {"labels": want["metadata"]["labels"], "annotations": want["metadata"]["annotations"]},
                               "spec": want["spec"]});
            api.patch_merge(&node.name, &patch).await?
        }
    };
    recorder.for_component("kubelet", Some(&node.name)).normal(&registered, "Starting", "Starting kubelet.");
    Ok(report_status(client, recorder, node, host, Some(&registered)).await.unwrap_or(registered))
}

/// Writes the node's status; records `NodeReady` when the node was not Ready before.
pub async fn report_status(client: &Client, recorder: &Recorder, node: &NodeFacts, host: &HostInfo, current: Option<&Node>) -> Option<Node> {
    let api = client.api::<Node>(None).ok()?;
    let was_ready = current
        .and_then(|n| n.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready").map(|c| c.status == "True"))
        .unwrap_or(false);
    let status = node_status(node, host, current, jiff::Timestamp::now());
    match api.patch_status(&node.name, &json!({"status": status})).await {
        Ok(n) => {
            if !was_ready {
                recorder
                    .for_component("kubelet", Some(&node.name))
                    .normal(&n, "NodeReady", format!("Node {} status is now: NodeReady", node.name));
            }
            Some(n)
        }
        Err(e) => {
            tracing::warn!(node = %node.name, error = %e, "reporting node status failed");
            None
        }
    }
}

/// Renews the node's lease, creating it (owned by the Node `node_uid`) when it is missing.
pub async fn renew_lease(client: &Client, node: &NodeFacts, node_uid: impl std::future::Future<Output = Option<String>>) {
    let Ok(api) = client.api::<Lease>(Some(NODE_LEASE_NAMESPACE)) else { return };
    let now = jiff::Timestamp::now();
    let patch = json!({"spec": {"holderIdentity": node.name, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": micro_time(now)}});
    match api.patch_merge(&node.name, &patch).await {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {
            let Some(uid) = node_uid.await else { return };
            match serde_json::from_value::<Lease>(lease_object(node, &uid, now)) {
                Ok(l) => {
                    if let Err(e) = api.create(&l).await {
                        tracing::warn!(node = %node.name, error = %e, "creating the node lease failed");
                    }
                }
                Err(e) => tracing::warn!(node = %node.name, error = %e, "building the node lease"),
            }
        }
        Err(e) => tracing::warn!(node = %node.name, error = %e, "renewing the node lease failed"),
    }
}

/// A stable 64-hex-digit digest of `s` (image ids, machine ids); not cryptographic.
pub fn hex_digest(s: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut out = String::with_capacity(64);
    for seed in 0u64..4 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        s.hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

pub fn rfc3339(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn micro_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}
