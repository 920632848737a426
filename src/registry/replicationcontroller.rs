//! ReplicationControllers (core/v1): stored under /registry/controllers, with `scale` and
//! `status`; selectable by status.replicas.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static REPLICATIONCONTROLLERS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "ReplicationController",
    plural: "replicationcontrollers",
    singular: "replicationcontroller",
    namespaced: true,
    short_names: &["rc"],
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
        Subresource {
            name: "status",
            group: "",
            version: "v1",
            kind: "ReplicationController",
            verbs: VERBS_GET_PATCH_UPDATE,
        },
    ],
    storage_prefix: "/registry/controllers",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: RC_COLUMNS,
    row,
    field_labels: &["status.replicas"],
    field_value,
    default,
    validate,
};

static RC_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Desired", type_: "integer", format: "", description: "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller", priority: 0 },
    Column { name: "Current", type_: "integer", format: "", description: "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller", priority: 0 },
    Column { name: "Ready", type_: "integer", format: "", description: "The number of ready replicas for this replication controller.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "Containers", type_: "string", format: "", description: "Names of each container in the template.", priority: 1 },
    Column { name: "Images", type_: "string", format: "", description: "Images referenced by each container in the template.", priority: 1 },
    Column { name: "Selector", type_: "string", format: "", description: "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors", priority: 1 },
];

fn field_value(rc: &Value, label: &str) -> Option<String> {
    match label {
        "status.replicas" => Some(i64_at(rc, "/status/replicas").to_string()),
        _ => meta_field(rc, label),
    }
}

fn row(rc: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(arr_at(rc, "/spec/template/spec/containers"));
    vec![
        name(rc),
        // spec.replicas defaults to 1.
        Value::from(opt_i64_at(rc, "/spec/replicas").unwrap_or(1)),
        Value::from(i64_at(rc, "/status/replicas")),
        Value::from(i64_at(rc, "/status/readyReplicas")),
        age(rc, now),
        names,
        images,
        s(format_labels(rc.pointer("/spec/selector"))),
    ]
}

/// SetDefaults_ReplicationController (selector and labels from the template's labels when
/// unset, replicas 1) and the template's PodSpec defaults. The status is Go's zero
/// ReplicationControllerStatus, reset on create as PrepareForCreate does.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    if is_create(obj) {
        reset_status(obj, json!({"replicas": 0}));
    }
    status_with_zero(obj, &[("replicas", json!(0))]);
    let Some(root) = root(obj) else { return };
    let labels = root
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|m| m.get("labels"))
        .filter(|l| l.is_object())
        .cloned();
    if let Some(labels) = labels {
        if let Some(spec) = child(root, "spec") {
            if empty_collection(spec.get("selector")) {
                spec.insert("selector".into(), labels.clone());
            }
        }
        if let Some(meta) = child(root, "metadata") {
            if empty_collection(meta.get("labels")) {
                meta.insert("labels".into(), labels);
            }
        }
    }
    let Some(spec) = child(root, "spec") else { return };
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
    fn replication_controller_defaults() {
        let mut rc = json!({"metadata": {"name": "rc"}, "spec": {"template": {"metadata": {"labels": {"app": "x"}},
                            "spec": {"containers": [{"name": "a", "image": "a"}]}}}});
        default(&mut rc);
        assert_eq!(rc["spec"]["selector"], json!({"app": "x"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "x"}));
        assert_eq!(rc["spec"]["replicas"], 1);
        assert_eq!(rc["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
        assert_eq!(rc["status"], json!({"replicas": 0}));
        let mut rc = json!({"metadata": {"name": "rc", "labels": {"own": "1"}}, "spec": {"selector": {"app": "y"},
                            "template": {"metadata": {"labels": {"app": "y", "v": "2"}}}}});
        default(&mut rc);
        assert_eq!((&rc["spec"]["selector"], &rc["metadata"]["labels"]), (&json!({"app": "y"}), &json!({"own": "1"})));
    }
}

use super::validation::{
    field, forbidden, int_of, map_of, nonnegative, obj_of, pod_template_spec, required, restart_always,
    selector_mismatch, Path, PodOpts,
};

/// ValidateReplicationController(Update). An unset selector is the template's labels (the
/// defaulting copies one to the other), and the selector is a plain map.
fn validate(rc: &Value, _old: Option<&Value>) -> Vec<super::FieldError> {
    let spec = obj_of(rc, "spec");
    let sp = Path::new("spec");
    let tpl = field(spec, "template");
    let tpl_labels = tpl.and_then(|t| field(obj_of(t, "metadata"), "labels"));
    let selector = match map_of(spec, "selector") {
        s if s.is_empty() => tpl_labels.and_then(Value::as_object).cloned().unwrap_or_default(),
        s => s.clone(),
    };
    let mut errs = nonnegative(int_of(spec, "minReadySeconds"), &sp.child("minReadySeconds"));
    if selector.is_empty() {
        errs.push(required(&sp.child("selector"), ""));
    }
    errs.extend(nonnegative(int_of(spec, "replicas"), &sp.child("replicas")));
    let tp = sp.child("template");
    match tpl {
        None => errs.push(required(&tp, "")),
        Some(tpl) => {
            let labels = tpl_labels.and_then(Value::as_object);
            let matches = selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
            if !selector.is_empty() && !matches {
                errs.push(selector_mismatch(tpl_labels, &tp.child("metadata").child("labels")));
            }
            errs.extend(pod_template_spec(tpl, &tp, &PodOpts::default()));
            errs.extend(restart_always(tpl, &tp));
            if field(obj_of(tpl, "spec"), "activeDeadlineSeconds").is_some() {
                errs.push(forbidden(
                    &tp.child("spec").child("activeDeadlineSeconds"),
                    "activeDeadlineSeconds in ReplicationController is not Supported",
                ));
            }
        }
    }
    errs
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    #[test]
    fn selector_defaults_to_the_template_labels() {
        let rc = json!({"spec": {"template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "a", "image": "a"}]}}}});
        assert!(validate(&rc, None).is_empty());
        let bad = json!({"spec": {"selector": {"app": "b"}, "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "a", "image": "a"}]}}}});
        assert_eq!(render(&validate(&bad, None)), vec![
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"a\"}: `selector` does not match template `labels`",
        ]);
        assert_eq!(
            render(&validate(&json!({"spec": {}}), None)),
            vec!["spec.selector: Required value", "spec.template: Required value"]
        );
    }
}
