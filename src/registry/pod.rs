//! Pods (core/v1): discovery facts, etcd layout, the `kubectl get pods` Table (Ready,
//! Status with its reason logic, Restarts) and the pod field selectors.

use jiff::Timestamp;
use serde_json::{json, Value};
use super::status::StatusError;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

const CONNECT_VERBS: &[&str] = &["create", "get"];
const PROXY_VERBS: &[&str] = &["create", "delete", "get", "patch", "update"];
const CREATE: &[&str] = &["create"];

pub static PODS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    singular: "pod",
    namespaced: true,
    short_names: &["po"],
    categories: &["all"],
    verbs: VERBS_ALL,
    subresources: &[
        Subresource { name: "attach", group: "", version: "v1", kind: "PodAttachOptions", verbs: CONNECT_VERBS },
        Subresource { name: "binding", group: "", version: "v1", kind: "Binding", verbs: CREATE },
        Subresource {
            name: "ephemeralcontainers",
            group: "",
            version: "v1",
            kind: "Pod",
            verbs: VERBS_GET_PATCH_UPDATE,
        },
        Subresource { name: "eviction", group: "policy", version: "v1", kind: "Eviction", verbs: CREATE },
        Subresource { name: "exec", group: "", version: "v1", kind: "PodExecOptions", verbs: CONNECT_VERBS },
        Subresource { name: "log", group: "", version: "v1", kind: "Pod", verbs: &["get"] },
        Subresource {
            name: "portforward",
            group: "",
            version: "v1",
            kind: "PodPortForwardOptions",
            verbs: CONNECT_VERBS,
        },
        Subresource { name: "proxy", group: "", version: "v1", kind: "PodProxyOptions", verbs: PROXY_VERBS },
        Subresource { name: "resize", group: "", version: "v1", kind: "Pod", verbs: VERBS_GET_PATCH_UPDATE },
        Subresource { name: "status", group: "", version: "v1", kind: "Pod", verbs: VERBS_GET_PATCH_UPDATE },
    ],
    storage_prefix: "/registry/pods",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    // 1.33 always populates metadata.generation for pods (KEP-5067).
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: POD_COLUMNS,
    row,
    field_labels: &[
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.podIPs",
        "status.nominatedNodeName",
    ],
    field_value,
    default,
    validate,
};

static POD_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Ready", type_: "string", format: "", description: "The aggregate readiness state of this pod for accepting traffic.", priority: 0 },
    Column { name: "Status", type_: "string", format: "", description: "The aggregate status of the containers in this pod.", priority: 0 },
    Column { name: "Restarts", type_: "string", format: "", description: "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "IP", type_: "string", format: "", description: "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", priority: 1 },
    Column { name: "Node", type_: "string", format: "", description: "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename", priority: 1 },
    Column { name: "Nominated Node", type_: "string", format: "", description: "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.", priority: 1 },
    Column { name: "Readiness Gates", type_: "string", format: "", description: "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates", priority: 1 },
];

/// The pod's primary IP as the internal API sees it: status.podIP wins over podIPs[0].
fn primary_ip(pod: &Value) -> &str {
    let ip = str_at(pod, "/status/podIP");
    if !ip.is_empty() {
        return ip;
    }
    arr_at(pod, "/status/podIPs").first().map(|p| str_at(p, "/ip")).unwrap_or("")
}

fn field_value(pod: &Value, label: &str) -> Option<String> {
    let v = match label {
        "spec.nodeName" => str_at(pod, "/spec/nodeName").to_string(),
        "spec.restartPolicy" => str_at(pod, "/spec/restartPolicy").to_string(),
        "spec.schedulerName" => str_at(pod, "/spec/schedulerName").to_string(),
        "spec.serviceAccountName" => str_at(pod, "/spec/serviceAccountName").to_string(),
        "spec.hostNetwork" => bool_at(pod, "/spec/hostNetwork").to_string(),
        "status.phase" => str_at(pod, "/status/phase").to_string(),
        "status.podIP" => primary_ip(pod).to_string(),
        // Accepted by the v1 field label conversion but absent from the pod's selectable
        // field set upstream, so it only ever equals "".
        "status.podIPs" => String::new(),
        "status.nominatedNodeName" => str_at(pod, "/status/nominatedNodeName").to_string(),
        _ => return meta_field(pod, label),
    };
    Some(v)
}

fn has_condition_true(pod: &Value, type_: &str) -> bool {
    arr_at(pod, "/status/conditions").iter().any(|c| str_at(c, "/type") == type_ && str_at(c, "/status") == "True")
}

/// `isPodInitializedConditionTrue`: the first Initialized condition decides.
fn initialized(pod: &Value) -> bool {
    arr_at(pod, "/status/conditions")
        .iter()
        .find(|c| str_at(c, "/type") == "Initialized")
        .map(|c| str_at(c, "/status") == "True")
        .unwrap_or(false)
}

fn later(current: Option<Timestamp>, candidate: Option<Timestamp>) -> Option<Timestamp> {
    match (current, candidate) {
        (Some(c), Some(n)) if n > c => Some(n),
        (None, Some(n)) => Some(n),
        (c, _) => c,
    }
}

fn last_termination(status: &Value) -> Option<Timestamp> {
    timestamp(status.pointer("/lastState/terminated/finishedAt"))
}

fn terminated_reason(t: &Value, prefix: &str) -> String {
    let reason = str_at(t, "/reason");
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = i64_at(t, "/signal");
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!("{prefix}ExitCode:{}", i64_at(t, "/exitCode"))
    }
}

/// `printPod`: Name, Ready, Status, Restarts, Age, IP, Node, Nominated Node, Readiness Gates.
pub fn row(pod: &Value, now: Timestamp) -> Vec<Value> {
    let init_specs = arr_at(pod, "/spec/initContainers");
    let restartable = |name: &str| {
        init_specs
            .iter()
            .rev()
            .find(|c| str_at(c, "/name") == name)
            .map(|c| str_at(c, "/restartPolicy") == "Always")
            .unwrap_or(false)
    };
    let mut total = arr_at(pod, "/spec/containers").len();
    total += init_specs.iter().filter(|c| str_at(c, "/restartPolicy") == "Always").count();
    let mut ready = 0usize;
    let mut restarts: i64 = 0;
    let mut restartable_restarts: i64 = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_restartable_restart: Option<Timestamp> = None;

    let phase = str_at(pod, "/status/phase");
    let status_reason = str_at(pod, "/status/reason");
    let mut reason = if status_reason.is_empty() { phase.to_string() } else { status_reason.to_string() };
    if arr_at(pod, "/status/conditions")
        .iter()
        .any(|c| str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".into();
    }

    let mut initializing = false;
    for (i, c) in arr_at(pod, "/status/initContainerStatuses").iter().enumerate() {
        let count = i64_at(c, "/restartCount");
        restarts += count;
        last_restart = later(last_restart, last_termination(c));
        let is_restartable = restartable(str_at(c, "/name"));
        if is_restartable {
            restartable_restarts += count;
            last_restartable_restart = later(last_restartable_restart, last_termination(c));
        }
        let terminated = map_at(c, "/state/terminated").map(|_| &c["state"]["terminated"]);
        let waiting_reason = str_at(c, "/state/waiting/reason");
        match terminated {
            Some(t) if i64_at(t, "/exitCode") == 0 => continue,
            _ if is_restartable && opt_bool_at(c, "/started") == Some(true) => {
                if bool_at(c, "/ready") {
                    ready += 1;
                }
                continue;
            }
            Some(t) => reason = terminated_reason(t, "Init:"),
            None if map_at(c, "/state/waiting").is_some()
                && !waiting_reason.is_empty()
                && waiting_reason != "PodInitializing" =>
            {
                reason = format!("Init:{waiting_reason}")
            }
            None => reason = format!("Init:{}/{}", i, init_specs.len()),
        }
        initializing = true;
        break;
    }

    if !initializing || initialized(pod) {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut has_running = false;
        for c in arr_at(pod, "/status/containerStatuses").iter().rev() {
            restarts += i64_at(c, "/restartCount");
            last_restart = later(last_restart, last_termination(c));
            let waiting_reason = str_at(c, "/state/waiting/reason");
            let terminated = map_at(c, "/state/terminated").map(|_| &c["state"]["terminated"]);
            if map_at(c, "/state/waiting").is_some() && !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = terminated_reason(t, "");
            } else if bool_at(c, "/ready") && map_at(c, "/state/running").is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_condition_true(pod, "Ready") { "Running".into() } else { "NotReady".into() };
        }
    }

    let deleting = at(pod, "/metadata/deletionTimestamp").is_some();
    if deleting && status_reason == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".into();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => {
            format!("{} ({} ago)", restarts, human_duration_nanos(nanos_between(t, now)))
        }
        _ => restarts.to_string(),
    };

    let or_none = |v: &str| if v.is_empty() { "<none>".to_string() } else { v.to_string() };
    let gates = arr_at(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr_at(pod, "/status/conditions");
        let true_count = gates
            .iter()
            .filter(|g| {
                let t = str_at(g, "/conditionType");
                conditions
                    .iter()
                    .find(|c| str_at(c, "/type") == t)
                    .map(|c| str_at(c, "/status") == "True")
                    .unwrap_or(false)
            })
            .count();
        format!("{}/{}", true_count, gates.len())
    };

    vec![
        name(pod),
        s(format!("{ready}/{total}")),
        s(reason),
        s(restarts_cell),
        age(pod, now),
        s(or_none(primary_ip(pod))),
        s(or_none(str_at(pod, "/spec/nodeName"))),
        s(or_none(str_at(pod, "/status/nominatedNodeName"))),
        s(readiness_gates),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn cells(pod: Value) -> Vec<Value> {
        row(&pod, now())
    }

    #[test]
    fn running_pod() {
        let pod = json!({
            "metadata": {"name": "web-1", "creationTimestamp": "2024-05-01T11:55:00Z"},
            "spec": {"nodeName": "node1", "containers": [{"name": "nginx", "image": "nginx"}]},
            "status": {
                "phase": "Running", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0,
                    "state": {"running": {"startedAt": "2024-05-01T11:55:03Z"}}}]
            }
        });
        assert_eq!(
            cells(pod),
            vec![
                json!("web-1"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("5m"),
                json!("10.42.0.5"),
                json!("node1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn pending_container_creating() {
        let pod = json!({
            "metadata": {"name": "p", "creationTimestamp": "2024-05-01T11:59:30Z"},
            "spec": {"nodeName": "node1", "containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Pending", "containerStatuses": [
                {"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}},
                {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
            ]}
        });
        let c = cells(pod);
        assert_eq!(c[1], json!("0/2"));
        assert_eq!(c[2], json!("ContainerCreating"));
        assert_eq!(c[3], json!("0"));
        assert_eq!(c[4], json!("30s"));
        assert_eq!(c[5], json!("<none>"));
    }

    #[test]
    fn crash_loop_back_off_shows_last_restart() {
        let pod = json!({
            "metadata": {"name": "p", "creationTimestamp": "2024-05-01T10:00:00Z"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "a", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2024-05-01T11:58:00Z"}}
            }]}
        });
        let c = cells(pod);
        assert_eq!(c[1], json!("0/1"));
        assert_eq!(c[2], json!("CrashLoopBackOff"));
        assert_eq!(c[3], json!("4 (2m ago)"));
        // Under three hours HumanDuration still counts minutes.
        assert_eq!(c[4], json!("120m"));
    }

    #[test]
    fn completed_pod() {
        let pod = json!({
            "metadata": {"name": "job-x", "creationTimestamp": "2024-05-01T11:00:00Z"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [{
                "name": "a", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
            }]}
        });
        let c = cells(pod);
        assert_eq!(c[1], json!("0/1"));
        assert_eq!(c[2], json!("Completed"));
    }

    #[test]
    fn terminating_pod() {
        let pod = json!({
            "metadata": {"name": "p", "creationTimestamp": "2024-05-01T11:00:00Z",
                         "deletionTimestamp": "2024-05-01T12:00:30Z"},
            "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}
            }]}
        });
        let c = cells(pod);
        assert_eq!(c[1], json!("1/1"));
        assert_eq!(c[2], json!("Terminating"));
    }

    #[test]
    fn init_containers() {
        let base = |statuses: Value| {
            json!({
                "metadata": {"name": "p"},
                "spec": {"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]},
                "status": {"phase": "Pending", "initContainerStatuses": statuses,
                           "containerStatuses": [{"name": "a", "state": {"waiting": {"reason": "PodInitializing"}}}]}
            })
        };
        let c = cells(base(json!([
            {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
            {"name": "i2", "state": {"running": {}}}
        ])));
        assert_eq!(c[2], json!("Init:1/2"));
        let c = cells(base(json!([
            {"name": "i1", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            {"name": "i2", "state": {"waiting": {"reason": "PodInitializing"}}}
        ])));
        assert_eq!(c[2], json!("Init:CrashLoopBackOff"));
        assert_eq!(c[3], json!("3"));
        let c = cells(base(json!([{"name": "i1", "state": {"terminated": {"exitCode": 2}}}])));
        assert_eq!(c[2], json!("Init:ExitCode:2"));
    }

    #[test]
    fn sidecar_counts_as_container() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {"initContainers": [{"name": "side", "restartPolicy": "Always"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Running",
                "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                "initContainerStatuses": [{"name": "side", "started": true, "ready": true, "restartCount": 1, "state": {"running": {}}}],
                "containerStatuses": [{"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}}]}
        });
        let c = cells(pod);
        assert_eq!(c[1], json!("2/2"));
        assert_eq!(c[2], json!("Running"));
        assert_eq!(c[3], json!("1"));
    }

    #[test]
    fn field_selectors() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "n1", "hostNetwork": true},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]}});
        assert_eq!(field_value(&pod, "spec.nodeName").as_deref(), Some("n1"));
        assert_eq!(field_value(&pod, "spec.hostNetwork").as_deref(), Some("true"));
        assert_eq!(field_value(&pod, "status.podIP").as_deref(), Some("10.0.0.1"));
        assert_eq!(field_value(&pod, "metadata.namespace").as_deref(), Some("ns"));
        assert_eq!(field_value(&pod, "spec.bogus"), None);
        assert_eq!(field_value(&json!({}), "spec.hostNetwork").as_deref(), Some("false"));
    }
}

/// The v1 defaults, the mutating admission plugins and, on a create, the pod strategy's
/// PrepareForCreate (a new pod is Pending with its QoS class): see `podspec`. Updates keep
/// the stored status; a status written without phase or QoS class keeps them filled in.
fn default(obj: &mut Value) {
    let create = super::defaulting::is_create(obj);
    super::podspec::default_pod(obj, create, qos_class);
    let qos = qos_class(obj);
    let Some(map) = obj.as_object_mut() else { return };
    let status = map.entry("status").or_insert_with(|| Value::Object(Default::default()));
    if !status.is_object() {
        *status = Value::Object(Default::default());
    }
    if let Some(st) = status.as_object_mut() {
        if st.get("phase").and_then(Value::as_str).is_none_or(str::is_empty) {
            st.insert("phase".into(), Value::String("Pending".into()));
        }
        if st.get("qosClass").and_then(Value::as_str).is_none_or(str::is_empty) {
            st.insert("qosClass".into(), Value::String(qos.into()));
        }
    }
}

/// A quantity in base units ("200m" → 0.2, "128Mi" → 134217728), for comparisons.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with('e') || s.starts_with('E') => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some(n * mult)
}

/// Kubernetes' QoS class: Guaranteed when every container limits cpu and memory with requests
/// equal to limits, BestEffort when nothing requests or limits them, else Burstable.
pub fn qos_class(pod: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    let lists = ["/spec/containers", "/spec/initContainers"];
    let mut seen_container = false;
    for l in lists {
        for c in pod.pointer(l).and_then(Value::as_array).into_iter().flatten() {
            seen_container = true;
            for res in ["cpu", "memory"] {
                let limit = c.pointer(&format!("/resources/limits/{res}")).and_then(Value::as_str).and_then(parse_quantity);
                let request = c
                    .pointer(&format!("/resources/requests/{res}"))
                    .and_then(Value::as_str)
                    .and_then(parse_quantity)
                    .or(limit);
                if limit.is_some_and(|v| v != 0.0) || request.is_some_and(|v| v != 0.0) {
                    any = true;
                }
                match (request, limit) {
                    (Some(r), Some(l)) if r == l && l != 0.0 => {}
                    _ => guaranteed = false,
                }
            }
        }
    }
    if !any || !seen_container {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod qos_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn qos_classes_follow_kubernetes() {
        let g = json!({"spec": {"containers": [{"name": "n", "resources": {"limits": {"cpu": "200m", "memory": "128Mi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"name": "n", "resources": {"requests": {"cpu": "100m"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
        let e = json!({"spec": {"containers": [{"name": "n"}]}});
        assert_eq!(qos_class(&e), "BestEffort");
        let mixed = json!({"spec": {"containers": [{"name": "n", "resources": {"requests": {"cpu": "0.2", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "134217728"}}}]}});
        assert_eq!(qos_class(&mixed), "Guaranteed");
        assert_eq!(parse_quantity("1Gi"), Some(1073741824.0));
    }
}

use super::validation::{
    forbidden, go, inclusive_range, int_of, invalid, list_of, obj_of, pod_spec, required, semantic_eq, str_of,
    tolerations, Path, PodOpts,
};

/// ValidatePodCreate and ValidatePodUpdate (metadata is checked generically). The binding
/// and ephemeralcontainers subresources write through the same update path, so setting
/// `spec.nodeName` once and adding ephemeral containers pass here.
fn validate(pod: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let spec = obj_of(pod, "spec");
    let sp = Path::new("spec");
    let mut errs = pod_spec(spec, &sp, &PodOpts { is_pod: true, ..Default::default() });
    match old {
        None => {
            if !list_of(spec, "ephemeralContainers").is_empty() {
                errs.push(forbidden(&sp.child("ephemeralContainers"), "cannot be set on create"));
            }
            if !str_of(spec, "nodeName").is_empty() && !list_of(spec, "schedulingGates").is_empty() {
                errs.push(forbidden(
                    &sp.child("nodeName"),
                    "cannot be set until all schedulingGates have been cleared",
                ));
            }
        }
        Some(old) => errs.extend(validate_pod_update(spec, obj_of(old, "spec"), &sp)),
    }
    errs
}

/// The fields ValidatePodUpdate lets change, as its Forbidden message lists them.
const UPDATABLE_POD_SPEC_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// ValidatePodUpdate's spec rules: only images, activeDeadlineSeconds (down), tolerations
/// (additions), scheduling gates (removals) and a negative grace period (to 1) may change.
fn validate_pod_update(new: &Value, old: &Value, sp: &Path) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    for list in ["containers", "initContainers"] {
        let (n, o) = (list_of(new, list), list_of(old, list));
        if n.len() != o.len() {
            errs.push(forbidden(&sp.child(list), "pod updates may not add or remove containers"));
            return errs;
        }
        for (i, c) in n.iter().enumerate() {
            let image = str_of(c, "image");
            if image.is_empty() {
                errs.push(required(&sp.child(list).index(i).child("image"), ""));
            }
            if image.trim() != image {
                errs.push(invalid(
                    &sp.child(list).index(i).child("image"),
                    go::str(image),
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    let ads_path = sp.child("activeDeadlineSeconds");
    match (int_of(new, "activeDeadlineSeconds"), int_of(old, "activeDeadlineSeconds")) {
        (Some(n), o) => {
            if !(0..=i32::MAX as i64).contains(&n) {
                errs.push(invalid(&ads_path, go::int(n), &inclusive_range(0, i32::MAX as i64)));
                return errs;
            }
            if o.is_some_and(|o| o < n) {
                errs.push(invalid(&ads_path, go::int(n), "must be less than or equal to previous value"));
                return errs;
            }
        }
        (None, Some(_)) => {
            errs.push(invalid(&ads_path, go::null(), "must not update from a positive integer to nil value"))
        }
        (None, None) => {}
    }
    // validateOnlyAddedTolerations.
    let (new_tol, old_tol) = (list_of(new, "tolerations"), list_of(old, "tolerations"));
    let same_but_seconds = |a: &Value, b: &Value| {
        let strip = |v: &Value| {
            let mut v = v.clone();
            if let Some(m) = v.as_object_mut() {
                m.remove("tolerationSeconds");
            }
            v
        };
        semantic_eq(Some(&strip(a)), Some(&strip(b)))
    };
    if old_tol.iter().any(|o| !new_tol.iter().any(|n| same_but_seconds(o, n))) {
        errs.push(forbidden(
            &sp.child("tolerations"),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    } else {
        errs.extend(tolerations(new_tol, &sp.child("tolerations")));
    }
    // validateOnlyDeletedSchedulingGates.
    let old_gates: Vec<&str> = list_of(old, "schedulingGates").iter().map(|g| str_of(g, "name")).collect();
    for (i, g) in list_of(new, "schedulingGates").iter().enumerate() {
        let name = str_of(g, "name");
        if !old_gates.contains(&name) {
            errs.push(forbidden(
                &sp.child("schedulingGates").index(i).child("name"),
                &format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            ));
        }
    }
    // Existing ephemeral containers may not change (ValidatePodEphemeralContainersUpdate).
    let new_ec = list_of(new, "ephemeralContainers");
    for o in list_of(old, "ephemeralContainers") {
        let name = str_of(o, "name");
        match new_ec.iter().find(|n| str_of(n, "name") == name) {
            None => errs.push(forbidden(
                &sp.child("ephemeralContainers"),
                &format!("existing ephemeral containers {} may not be removed\n", go::str(name)),
            )),
            Some(n) if !semantic_eq(Some(n), Some(o)) => errs.push(forbidden(
                &sp.child("ephemeralContainers"),
                &format!("existing ephemeral containers {} may not be changed\n", go::str(name)),
            )),
            Some(_) => {}
        }
    }
    if semantic_eq(Some(new), Some(old)) {
        return errs;
    }
    // Take the updatable fields from the old spec; whatever still differs is forbidden.
    let mut munged = new.clone();
    if let Some(m) = munged.as_object_mut() {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = m.get_mut(list) {
                for (c, o) in cs.iter_mut().zip(list_of(old, list)) {
                    if let Some(c) = c.as_object_mut() {
                        match o.get("image") {
                            Some(img) => c.insert("image".into(), img.clone()),
                            None => c.remove("image"),
                        };
                    }
                }
            }
        }
        for f in ["activeDeadlineSeconds", "schedulingGates", "tolerations", "ephemeralContainers"] {
            match old.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        let grace = |v: &Value| int_of(v, "terminationGracePeriodSeconds");
        if grace(old).is_some_and(|g| g < 0) && grace(new) == Some(1) {
            m.insert("terminationGracePeriodSeconds".into(), old["terminationGracePeriodSeconds"].clone());
        }
        // Binding a pod to a node (the binding subresource) sets nodeName once.
        if str_of(old, "nodeName").is_empty() && !str_of(new, "nodeName").is_empty() {
            match old.get("nodeName") {
                Some(v) => m.insert("nodeName".into(), v.clone()),
                None => m.remove("nodeName"),
            };
        }
    }
    if !semantic_eq(Some(&munged), Some(old)) {
        errs.push(forbidden(
            sp,
            &format!(
                "pod updates may not change fields other than {UPDATABLE_POD_SPEC_FIELDS}\n{}",
                spec_diff(old, &munged)
            ),
        ));
    }
    errs
}

/// A short `cmp.Diff`-like rendering of what changed between two PodSpecs: one `-`/`+` pair
/// per top-level field, with Go field names and JSON values.
fn spec_diff(old: &Value, new: &Value) -> String {
    let (om, nm) = (old.as_object(), new.as_object());
    let mut keys: Vec<&String> = om.map(|m| m.keys().collect()).unwrap_or_default();
    for k in nm.map(|m| m.keys().collect::<Vec<_>>()).unwrap_or_default() {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut out = String::from("  core.PodSpec{\n");
    for k in keys {
        let (o, n) = (old.get(k), new.get(k));
        if semantic_eq(o, n) {
            continue;
        }
        let mut name: Vec<char> = k.chars().collect();
        if let Some(c) = name.first_mut() {
            *c = c.to_ascii_uppercase();
        }
        let name: String = name.into_iter().collect();
        let show = |v: Option<&Value>| v.filter(|v| !v.is_null()).map_or_else(|| "nil".to_string(), Value::to_string);
        out.push_str(&format!("- \t{name}: {},\n", show(o)));
        out.push_str(&format!("+ \t{name}: {},\n", show(n)));
    }
    out.push_str("  }\n");
    out
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    }

    fn nginx() -> Value {
        pod(
            json!({"containers": [{"name": "nginx", "image": "nginx", "command": ["nginx"]}], "restartPolicy": "Always",
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]}),
        )
    }

    #[test]
    fn containers_are_required() {
        assert_eq!(render(&validate(&pod(json!({})), None)), vec!["spec.containers: Required value"]);
        assert_eq!(
            render(&validate(&pod(json!({"containers": [{}]})), None)),
            vec!["spec.containers[0].name: Required value", "spec.containers[0].image: Required value",]
        );
        assert_eq!(
            render(&validate(&pod(json!({"containers": [{"name": "a", "image": " nginx"}]})), None)),
            vec!["spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace",]
        );
        assert_eq!(
            render(&validate(
                &pod(
                    json!({"containers": [{"name": "a", "image": "b"}], "ephemeralContainers": [{"name": "e", "image": "b"}]})
                ),
                None
            )),
            vec!["spec.ephemeralContainers: Forbidden: cannot be set on create"]
        );
    }

    #[test]
    fn only_images_deadlines_tolerations_and_binding_may_change() {
        let old = nginx();
        let mut image = old.clone();
        image["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        assert!(validate(&image, Some(&old)).is_empty());
        let mut bound = old.clone();
        bound["spec"]["nodeName"] = json!("node-1");
        assert!(validate(&bound, Some(&old)).is_empty());
        let mut more_tolerations = old.clone();
        more_tolerations["spec"]["tolerations"] = json!([{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}, {"operator": "Exists"}]);
        assert!(validate(&more_tolerations, Some(&old)).is_empty());

        let mut cmd = old.clone();
        cmd["spec"]["containers"][0]["command"] = json!(["sh"]);
        let errs = validate(&cmd, Some(&old));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec");
        assert_eq!(errs[0].reason, "FieldValueForbidden");
        let first_line = errs[0].message.lines().next().unwrap();
        assert_eq!(first_line, "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)");
        assert!(errs[0].message.contains("\n- \tContainers: [{\"name\":\"nginx\",\"image\":\"nginx\",\"command\":[\"nginx\"]}],\n+ \tContainers: "), "{}", errs[0].message);

        let mut removed = old.clone();
        removed["spec"]["tolerations"] = json!([]);
        assert_eq!(
            render(&validate(&removed, Some(&old))),
            vec!["spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds",]
        );
        let mut more = old.clone();
        more["spec"]["containers"] = json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]);
        assert_eq!(
            render(&validate(&more, Some(&old))),
            vec!["spec.containers: Forbidden: pod updates may not add or remove containers"]
        );
        let mut deadline = old.clone();
        deadline["spec"]["activeDeadlineSeconds"] = json!(30);
        assert!(validate(&deadline, Some(&old)).is_empty());
        let mut later = deadline.clone();
        later["spec"]["activeDeadlineSeconds"] = json!(60);
        assert_eq!(
            render(&validate(&later, Some(&deadline))),
            vec!["spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value",]
        );
        assert_eq!(
            render(&validate(&old, Some(&deadline))),
            vec![
            "spec.activeDeadlineSeconds: Invalid value: \"null\": must not update from a positive integer to nil value",
        ]
        );
    }
}

/// The pod strategy's CheckGracefulDelete: the requested grace period, else the pod's
/// terminationGracePeriodSeconds (30 by default); 0 for a pod never scheduled or already
/// terminated; a negative request means 1.
pub fn delete_grace_period(pod: &Value, requested: Option<i64>) -> i64 {
    let mut period = requested
        .or_else(|| pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
        .unwrap_or(30);
    if pod.pointer("/spec/nodeName").and_then(Value::as_str).is_none_or(str::is_empty) {
        period = 0;
    }
    if matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed")) {
        period = 0;
    }
    if period < 0 {
        period = 1;
    }
    period
}

/// Sets (or replaces, when its status changes) one condition in `status.conditions`.
pub fn set_condition(obj: &mut Value, type_: &str, status_: &str, reason: Option<&str>) {
    let Some(map) = obj.as_object_mut() else { return };
    let st = map.entry("status").or_insert_with(|| json!({}));
    let Some(st) = st.as_object_mut() else { return };
    let conds = st.entry("conditions").or_insert_with(|| json!([]));
    let Some(conds) = conds.as_array_mut() else { return };
    let mut c = json!({"type": type_, "status": status_, "lastProbeTime": null, "lastTransitionTime": crate::registry::generic::now_rfc3339()});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(existing) = conds.iter_mut().find(|c| c.get("type").and_then(Value::as_str) == Some(type_)) {
        if existing.get("status").and_then(Value::as_str) != Some(status_) {
            *existing = c;
        }
    } else {
        conds.push(c);
    }
}


/// The binding subresource: assigns an unassigned pod to a node (once) and marks it
/// PodScheduled, as the scheduler's Binding does.
pub async fn bind(
    reg: &super::generic::Registry,
    ns: Option<&str>,
    name: &str,
    node: &str,
    annotations: Option<&serde_json::Map<String, Value>>,
    opts: &super::generic::WriteOptions,
) -> Result<Value, StatusError> {
    let def = super::find("", "v1", "pods").ok_or_else(|| StatusError::internal("pods not served"))?;
    reg.update_with(def, ns, name, None, opts, |old| {
        let current = old.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
        if !current.is_empty() {
            return Err(StatusError::conflict_msg(def, name, &format!("pod {name} is already assigned to node \"{current}\"")));
        }
        let mut new = old.clone();
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), json!(node));
        }
        if let Some(ann) = annotations {
            if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                let a = meta.entry("annotations").or_insert_with(|| json!({}));
                if let Some(a) = a.as_object_mut() {
                    for (k, v) in ann {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        set_condition(&mut new, "PodScheduled", "True", None);
        Ok(new)
    })
    .await
}

#[cfg(test)]
mod graceful_delete_tests {
    use crate::client::{Client, DeleteOptions};
    use crate::registry::generic::Registry;
    use crate::store::recording::RecordingBackend;
    use crate::store::{Store, StoreOptions};
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    use serde_json::json;
    use std::sync::Arc;

    async fn client() -> Client {
        let opts = StoreOptions { history_revisions: 1_000_000, compaction_interval: std::time::Duration::from_secs(3600) };
        let store = Store::open_with_backend(Arc::new(RecordingBackend::default()), opts).unwrap();
        let client = Client::new(Registry::new(store), "test");
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
        client.api::<Namespace>(None).unwrap().create(&ns).await.unwrap();
        client
    }

    fn pod(name: &str, node: Option<&str>, grace: Option<i64>) -> Pod {
        let mut v = json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        if let Some(n) = node {
            v["spec"]["nodeName"] = json!(n);
        }
        if let Some(g) = grace {
            v["spec"]["terminationGracePeriodSeconds"] = json!(g);
        }
        serde_json::from_value(v).unwrap()
    }

    fn grace(p: &Pod) -> Option<i64> {
        p.metadata.deletion_grace_period_seconds
    }

    #[tokio::test]
    async fn bound_pods_are_deleted_gracefully_and_only_shortened() {
        let c = client().await;
        let api = c.api::<Pod>(Some("default")).unwrap();
        api.create(&pod("unbound", None, None)).await.unwrap();
        assert!(api.delete("unbound").await.unwrap().is_none(), "never scheduled: gone at once");

        api.create(&pod("bound", Some("n1"), None)).await.unwrap();
        let marked = api.delete("bound").await.unwrap().expect("graceful: still there");
        assert_eq!(grace(&marked), Some(30));
        let ts = marked.metadata.deletion_timestamp.clone().unwrap().0;
        let expected = jiff::Timestamp::now().as_second() + 30;
        assert!((ts.as_second() - expected).abs() <= 2, "deletionTimestamp is now + grace");

        let longer = DeleteOptions { grace_period_seconds: Some(60), ..Default::default() };
        let same = api.delete_with("bound", &longer).await.unwrap().unwrap();
        assert_eq!(grace(&same), Some(30), "never lengthened");
        assert_eq!(same.metadata.deletion_timestamp.unwrap().0, ts);

        let shorter = DeleteOptions { grace_period_seconds: Some(10), ..Default::default() };
        let short = api.delete_with("bound", &shorter).await.unwrap().unwrap();
        assert_eq!(grace(&short), Some(10));
        assert_eq!(short.metadata.deletion_timestamp.unwrap().0.as_second(), ts.as_second() - 20);

        let wrong_uid = DeleteOptions { grace_period_seconds: Some(0), precondition_uid: Some("x".into()), ..Default::default() };
        assert!(api.delete_with("bound", &wrong_uid).await.unwrap_err().is_conflict());
        let kubelet = DeleteOptions { grace_period_seconds: Some(0), precondition_uid: short.metadata.uid.clone(), ..Default::default() };
        assert!(api.delete_with("bound", &kubelet).await.unwrap().is_none(), "the kubelet's grace 0 finishes it");
        assert!(api.get_opt("bound").await.unwrap().is_none());

        api.create(&pod("forced", Some("n1"), Some(120))).await.unwrap();
        let force = DeleteOptions { grace_period_seconds: Some(0), ..Default::default() };
        assert!(api.delete_with("forced", &force).await.unwrap().is_none(), "--force --grace-period=0");

        api.create(&pod("custom", Some("n1"), Some(5))).await.unwrap();
        assert_eq!(grace(&api.delete("custom").await.unwrap().unwrap()), Some(5), "terminationGracePeriodSeconds");
        api.create(&pod("negative", Some("n1"), None)).await.unwrap();
        let negative = DeleteOptions { grace_period_seconds: Some(-3), ..Default::default() };
        assert_eq!(grace(&api.delete_with("negative", &negative).await.unwrap().unwrap()), Some(1), "negative means 1");
    }

    #[tokio::test]
    async fn finished_pods_and_finalizers() {
        let c = client().await;
        let api = c.api::<Pod>(Some("default")).unwrap();
        api.create(&pod("done", Some("n1"), None)).await.unwrap();
        api.patch_status("done", &json!({"status": {"phase": "Succeeded"}})).await.unwrap();
        assert!(api.delete("done").await.unwrap().is_none(), "terminated pods go at once");

        let mut p = pod("held", Some("n1"), None);
        p.metadata.finalizers = Some(vec!["example.com/hold".into()]);
        api.create(&p).await.unwrap();
        assert_eq!(grace(&api.delete("held").await.unwrap().unwrap()), Some(30));
        let kubelet = DeleteOptions { grace_period_seconds: Some(0), ..Default::default() };
        let held = api.delete_with("held", &kubelet).await.unwrap().expect("finalizer holds it");
        assert_eq!(grace(&held), Some(0));
        api.patch_merge("held", &json!({"metadata": {"finalizers": null}})).await.unwrap();
        assert!(api.get_opt("held").await.unwrap().is_none(), "the last finalizer gone completes the deletion");

        // Writes during a graceful deletion keep the pod; only the kubelet's grace 0 ends it.
        let mut p = pod("graceful", Some("n1"), None);
        p.metadata.finalizers = Some(vec!["example.com/hold".into()]);
        api.create(&p).await.unwrap();
        api.delete("graceful").await.unwrap().unwrap();
        api.patch_merge("graceful", &json!({"metadata": {"finalizers": null}})).await.unwrap();
        api.patch_status("graceful", &json!({"status": {"message": "stopping"}})).await.unwrap();
        assert!(api.get_opt("graceful").await.unwrap().is_some(), "still within its grace period");
        assert!(api.delete_with("graceful", &kubelet).await.unwrap().is_none());
    }
}
