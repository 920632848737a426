//! DaemonSets (apps/v1): scheduling counts and the template's node selector.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static DAEMONSETS: ResourceDef = ResourceDef {
    group: "apps",
    version: "v1",
    kind: "DaemonSet",
    plural: "daemonsets",
    singular: "daemonset",
    namespaced: true,
    short_names: &["ds"],
    categories: &["all"],
    verbs: VERBS_ALL,
    subresources: &[Subresource {
        name: "status",
        group: "apps",
        version: "v1",
        kind: "DaemonSet",
        verbs: VERBS_GET_PATCH_UPDATE,
    }],
    storage_prefix: "/registry/daemonsets",
    storage_version: "apps/v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: DS_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate: no_validation,
};

static DS_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Desired", type_: "integer", format: "", description: "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/", priority: 0 },
    Column { name: "Current", type_: "integer", format: "", description: "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/", priority: 0 },
    Column { name: "Ready", type_: "integer", format: "", description: "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.", priority: 0 },
    Column { name: "Up-to-date", type_: "integer", format: "", description: "The total number of nodes that are running updated daemon pod", priority: 0 },
    Column { name: "Available", type_: "integer", format: "", description: "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)", priority: 0 },
    Column { name: "Node Selector", type_: "string", format: "", description: "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "Containers", type_: "string", format: "", description: "Names of each container in the template.", priority: 1 },
    Column { name: "Images", type_: "string", format: "", description: "Images referenced by each container in the template.", priority: 1 },
    Column { name: "Selector", type_: "string", format: "", description: "A label query over pods that are managed by the daemon set. Must match in order to be controlled. If empty, defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors", priority: 1 },
];

fn row(ds: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(arr_at(ds, "/spec/template/spec/containers"));
    vec![
        name(ds),
        Value::from(i64_at(ds, "/status/desiredNumberScheduled")),
        Value::from(i64_at(ds, "/status/currentNumberScheduled")),
        Value::from(i64_at(ds, "/status/numberReady")),
        Value::from(i64_at(ds, "/status/updatedNumberScheduled")),
        Value::from(i64_at(ds, "/status/numberAvailable")),
        s(format_labels(ds.pointer("/spec/template/spec/nodeSelector"))),
        age(ds, now),
        names,
        images,
        s(format_label_selector(ds.pointer("/spec/selector"))),
    ]
}

/// SetDefaults_DaemonSet (RollingUpdate with maxUnavailable 1 and maxSurge 0,
/// revisionHistoryLimit 10) and the template's PodSpec defaults. The status is Go's zero
/// DaemonSetStatus, reset on create as PrepareForCreate does.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    let zero = [
        ("currentNumberScheduled", json!(0)),
        ("numberMisscheduled", json!(0)),
        ("desiredNumberScheduled", json!(0)),
        ("numberReady", json!(0)),
    ];
    if is_create(obj) {
        reset_status(obj, json!({}));
    }
    status_with_zero(obj, &zero);
    let Some(spec) = root(obj).and_then(|r| child(r, "spec")) else { return };
    if let Some(us) = child(spec, "updateStrategy") {
        default_str(us, "type", "RollingUpdate");
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = child(us, "rollingUpdate") {
                default_ptr(ru, "maxUnavailable", json!(1));
                default_ptr(ru, "maxSurge", json!(0));
            }
        }
    }
    default_ptr(spec, "revisionHistoryLimit", json!(10));
    if let Some(t) = existing(spec, "template") {
        super::podspec::default_template(t);
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn daemon_set_defaults() {
        let mut ds = json!({"metadata": {"name": "agent"}, "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "agent"}]}}}});
        default(&mut ds);
        assert_eq!(ds["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}));
        assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(ds["spec"]["template"]["spec"]["schedulerName"], "default-scheduler");
        assert_eq!(
            ds["status"],
            json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0})
        );
        let mut ds = json!({"spec": {"updateStrategy": {"type": "OnDelete"}}});
        default(&mut ds);
        assert_eq!(ds["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    }
}
