//! Nodes (core/v1): cluster-scoped, stored under /registry/minions, printed with Ready /
//! SchedulingDisabled status and roles from node-role.kubernetes.io labels.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static NODES: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "Node",
    plural: "nodes",
    singular: "node",
    namespaced: false,
    short_names: &["no"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[
        Subresource {
            name: "proxy",
            group: "",
            version: "v1",
            kind: "NodeProxyOptions",
            verbs: &["create", "delete", "get", "patch", "update"],
        },
        Subresource { name: "status", group: "", version: "v1", kind: "Node", verbs: VERBS_GET_PATCH_UPDATE },
    ],
    storage_prefix: "/registry/minions",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: NODE_COLUMNS,
    row,
    field_labels: &["spec.unschedulable"],
    field_value,
    default,
    validate: no_validation,
};

static NODE_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Status", type_: "string", format: "", description: "The status of the node", priority: 0 },
    Column { name: "Roles", type_: "string", format: "", description: "The roles of the node", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "Version", type_: "string", format: "", description: "Kubelet Version reported by the node.", priority: 0 },
    Column { name: "Internal-IP", type_: "string", format: "", description: "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).", priority: 1 },
    Column { name: "External-IP", type_: "string", format: "", description: "List of addresses reachable to the node. Queried from cloud provider, if available. More info: https://kubernetes.io/docs/reference/node/node-status/#addresses Note: This field is declared as mergeable, but the merge key is not sufficiently unique, which can cause data corruption when it is merged. Callers should instead use a full-replacement patch. See https://pr.k8s.io/79391 for an example. Consumers should assume that addresses can change during the lifetime of a Node. However, there are some exceptions where this may not be possible, such as Pods that inherit a Node's address in its own status or consumers of the downward API (status.hostIP).", priority: 1 },
    Column { name: "OS-Image", type_: "string", format: "", description: "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", priority: 1 },
    Column { name: "Kernel-Version", type_: "string", format: "", description: "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", priority: 1 },
    Column { name: "Container-Runtime", type_: "string", format: "", description: "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", priority: 1 },
];

fn field_value(node: &Value, label: &str) -> Option<String> {
    match label {
        "spec.unschedulable" => Some(bool_at(node, "/spec/unschedulable").to_string()),
        _ => meta_field(node, label),
    }
}

/// `findNodeRoles`: node-role.kubernetes.io/<role> keys and the kubernetes.io/role value,
/// sorted and de-duplicated.
fn roles(node: &Value) -> String {
    let mut roles: Vec<&str> = Vec::new();
    if let Some(labels) = map_at(node, "/metadata/labels") {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role);
                }
            } else if k == "kubernetes.io/role" {
                let v = v.as_str().unwrap_or("");
                if !v.is_empty() {
                    roles.push(v);
                }
            }
        }
    }
    roles.sort_unstable();
    roles.dedup();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

fn address(node: &Value, type_: &str) -> String {
    arr_at(node, "/status/addresses")
        .iter()
        .find(|a| str_at(a, "/type") == type_)
        .map(|a| str_at(a, "/address").to_string())
        .unwrap_or_else(|| "<none>".into())
}

/// `printNode`: Name, Status, Roles, Age, Version, Internal-IP, External-IP, OS-Image,
/// Kernel-Version, Container-Runtime.
fn row(node: &Value, now: Timestamp) -> Vec<Value> {
    // The last Ready condition wins, as the upstream map does.
    let ready = arr_at(node, "/status/conditions").iter().rev().find(|c| str_at(c, "/type") == "Ready");
    let mut status: Vec<&str> = match ready {
        Some(c) if str_at(c, "/status") == "True" => vec!["Ready"],
        Some(_) => vec!["NotReady"],
        None => vec!["Unknown"],
    };
    if bool_at(node, "/spec/unschedulable") {
        status.push("SchedulingDisabled");
    }
    let or_unknown = |ptr: &str| {
        let v = str_at(node, ptr);
        if v.is_empty() {
            "<unknown>".to_string()
        } else {
            v.to_string()
        }
    };
    vec![
        name(node),
        s(status.join(",")),
        s(roles(node)),
        age(node, now),
        s(str_at(node, "/status/nodeInfo/kubeletVersion")),
        s(address(node, "InternalIP")),
        s(address(node, "ExternalIP")),
        s(or_unknown("/status/nodeInfo/osImage")),
        s(or_unknown("/status/nodeInfo/kernelVersion")),
        s(or_unknown("/status/nodeInfo/containerRuntimeVersion")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_cordoned_control_plane() {
        let node = json!({
            "metadata": {"name": "minikube", "creationTimestamp": "2024-05-01T11:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "",
                                    "kubernetes.io/hostname": "minikube"}},
            "spec": {"unschedulable": true},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "192.168.49.2"}, {"type": "Hostname", "address": "minikube"}],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Ubuntu 24.04", "kernelVersion": "6.8.0",
                             "containerRuntimeVersion": "runc://1.2.0"}
            }
        });
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            row(&node, now),
            vec![
                json!("minikube"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,master"),
                json!("60m"),
                json!("v1.33.0"),
                json!("192.168.49.2"),
                json!("<none>"),
                json!("Ubuntu 24.04"),
                json!("6.8.0"),
                json!("runc://1.2.0")
            ]
        );
        assert_eq!(field_value(&node, "spec.unschedulable").as_deref(), Some("true"));
    }

    #[test]
    fn not_ready_and_unknown() {
        let nr = json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(row(&nr, Timestamp::UNIX_EPOCH)[1], json!("NotReady"));
        let c = row(&json!({}), Timestamp::UNIX_EPOCH);
        assert_eq!(c[1], json!("Unknown"));
        assert_eq!(c[2], json!("<none>"));
        assert_eq!(c[7], json!("<unknown>"));
    }
}

/// SetDefaults_NodeStatus (allocatable defaults to capacity); a new node drops
/// spec.configSource, as the node strategy's PrepareForCreate does.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    let create = is_create(obj);
    let Some(root) = root(obj) else { return };
    if create {
        if let Some(spec) = existing(root, "spec") {
            spec.remove("configSource");
        }
    }
    let Some(status) = existing(root, "status") else { return };
    if unset(status.get("allocatable")) {
        if let Some(capacity) = status.get("capacity").filter(|c| c.is_object()).cloned() {
            status.insert("allocatable".into(), capacity);
        }
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn allocatable_from_capacity() {
        let mut n = json!({"spec": {"configSource": {}}, "status": {"capacity": {"cpu": "2", "pods": "110"}}});
        default(&mut n);
        assert_eq!(n["status"]["allocatable"], json!({"cpu": "2", "pods": "110"}));
        assert!(n["spec"].get("configSource").is_none());
        let mut n = json!({"status": {"capacity": {"cpu": "2"}, "allocatable": {"cpu": "1900m"}}});
        default(&mut n);
        assert_eq!(n["status"]["allocatable"], json!({"cpu": "1900m"}));
    }
}
