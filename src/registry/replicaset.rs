//! ReplicaSets (apps/v1): Desired/Current/Ready counts; selectable by status.replicas.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static REPLICASETS: ResourceDef = ResourceDef {
    group: "apps",
    version: "v1",
    kind: "ReplicaSet",
    plural: "replicasets",
    singular: "replicaset",
    namespaced: true,
    short_names: &["rs"],
    categories: &["all"],
    verbs: VERBS_ALL,
    subresources: &[
        Subresource {
            name: "scale",
            group: "autoscaling",
            version: "v1",
            kind: "Scale",
            verbs: VERBS_GET_PATCH_UPDATE,
        },
        Subresource { name: "status", group: "apps", version: "v1", kind: "ReplicaSet", verbs: VERBS_GET_PATCH_UPDATE },
    ],
    storage_prefix: "/registry/replicasets",
    storage_version: "apps/v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: RS_COLUMNS,
    row,
    field_labels: &["status.replicas"],
    field_value,
    default,
    validate,
};

static RS_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Desired", type_: "integer", format: "", description: "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset", priority: 0 },
    Column { name: "Current", type_: "integer", format: "", description: "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset", priority: 0 },
    Column { name: "Ready", type_: "integer", format: "", description: "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "Containers", type_: "string", format: "", description: "Names of each container in the template.", priority: 1 },
    Column { name: "Images", type_: "string", format: "", description: "Images referenced by each container in the template.", priority: 1 },
    Column { name: "Selector", type_: "string", format: "", description: "Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors", priority: 1 },
];

fn field_value(rs: &Value, label: &str) -> Option<String> {
    match label {
        "status.replicas" => Some(i64_at(rs, "/status/replicas").to_string()),
        _ => meta_field(rs, label),
    }
}

fn row(rs: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(arr_at(rs, "/spec/template/spec/containers"));
    vec![
        name(rs),
        Value::from(opt_i64_at(rs, "/spec/replicas").unwrap_or(1)),
        Value::from(i64_at(rs, "/status/replicas")),
        Value::from(i64_at(rs, "/status/readyReplicas")),
        age(rs, now),
        names,
        images,
        s(format_label_selector(rs.pointer("/spec/selector"))),
    ]
}

/// SetDefaults_ReplicaSet (replicas 1) and the template's PodSpec defaults; the status is Go's
/// zero ReplicaSetStatus (`replicas: 0`), reset on create as PrepareForCreate does.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    if is_create(obj) {
        reset_status(obj, json!({"replicas": 0}));
    }
    status_with_zero(obj, &[("replicas", json!(0))]);
    let Some(spec) = root(obj).and_then(|r| child(r, "spec")) else { return };
    default_ptr(spec, "replicas", json!(1));
    if let Some(t) = existing(spec, "template") {
        super::podspec::default_template(t);
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replica_set_defaults() {
        let mut rs = json!({"metadata": {"name": "r"}, "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:1"}]}}},
                            "status": {"readyReplicas": 3}});
        default(&mut rs);
        assert_eq!(rs["spec"]["replicas"], 1);
        assert_eq!(rs["spec"]["template"]["metadata"], json!({"creationTimestamp": null}));
        assert_eq!(rs["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(rs["status"], json!({"replicas": 0}));
        let mut rs = json!({"metadata": {"resourceVersion": "3"}, "spec": {"replicas": 2}, "status": {"readyReplicas": 1}});
        default(&mut rs);
        assert_eq!(rs["status"], json!({"readyReplicas": 1, "replicas": 0}));
    }
}

use super::validation::{dedup, field, go, immutable, int_of, nonnegative, obj_of, selector_and_template, Path};

/// ValidateReplicaSet / ValidateReplicaSetUpdate, then the strategy's check that
/// `spec.selector` never changes (apps/v1).
fn validate(rs: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let spec = obj_of(rs, "spec");
    let sp = Path::new("spec");
    let mut errs = nonnegative(int_of(spec, "replicas"), &sp.child("replicas"));
    errs.extend(nonnegative(int_of(spec, "minReadySeconds"), &sp.child("minReadySeconds")));
    let sel = field(spec, "selector");
    errs.extend(selector_and_template(spec, &sp));
    if let Some(old) = old {
        errs.extend(immutable(sel, field(obj_of(old, "spec"), "selector"), &sp.child("selector"), go::label_selector));
    }
    dedup(errs)
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    #[test]
    fn replicaset_rules() {
        let rs = json!({"metadata": {"name": "rs"}, "spec": {"replicas": 1, "selector": {"matchExpressions": [{"key": "app", "operator": "In"}]},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "a", "image": "a"}]}}}});
        assert_eq!(render(&validate(&rs, None)), vec![
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:\"app\", Operator:\"In\", Values:[]string(nil)}}}: invalid label selector",
        ]);
    }
}
