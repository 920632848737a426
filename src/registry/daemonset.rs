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
    validate,
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

/// Where apps/v1 keeps the DaemonSet's template generation (internal `spec.templateGeneration`).
pub const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

fn set_template_generation(obj: &mut Value, generation: i64) {
    if let Some(m) = obj.as_object_mut().and_then(|o| o.entry("metadata").or_insert_with(|| Value::Object(Default::default())).as_object_mut()) {
        if let Some(a) = m.entry("annotations").or_insert_with(|| Value::Object(Default::default())).as_object_mut() {
            a.insert(TEMPLATE_GENERATION.into(), Value::from(generation.to_string()));
        }
    }
}

/// PrepareForCreate: the template generation starts at 1.
pub fn prepare_for_create(obj: &mut Value) {
    set_template_generation(obj, 1);
}

/// PrepareForUpdate: the template generation is kept, and bumped when the template changes.
pub fn prepare_for_update(old: &Value, new: &mut Value) {
    let path = "/metadata/annotations/deprecated.daemonset.template.generation";
    let old_gen = old.pointer(path).and_then(Value::as_str).and_then(|s| s.parse::<i64>().ok());
    let changed = old.pointer("/spec/template") != new.pointer("/spec/template");
    match (old_gen, changed) {
        (Some(g), false) => set_template_generation(new, g),
        (g, true) => set_template_generation(new, g.unwrap_or(0) + 1),
        (None, false) => {
            if let Some(a) = new.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
                a.remove(TEMPLATE_GENERATION);
            }
        }
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
        let mut created = json!({"metadata": {"name": "agent"}});
        prepare_for_create(&mut created);
        assert_eq!(created["metadata"]["annotations"][TEMPLATE_GENERATION], "1");
        let mut same = created.clone();
        same["metadata"]["annotations"][TEMPLATE_GENERATION] = json!("7");
        prepare_for_update(&created, &mut same);
        assert_eq!(same["metadata"]["annotations"][TEMPLATE_GENERATION], "1");
        let mut changed = created.clone();
        changed["spec"] = json!({"template": {"metadata": {"labels": {"a": "b"}}}});
        prepare_for_update(&created, &mut changed);
        assert_eq!(changed["metadata"]["annotations"][TEMPLATE_GENERATION], "2");
        let mut ds = json!({"spec": {"updateStrategy": {"type": "OnDelete"}}});
        default(&mut ds);
        assert_eq!(ds["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    }
}

use super::validation::{
    as_selector, dedup, field, forbidden, go, immutable, int_of, int_or_percent_value, invalid, label_selector,
    nonnegative, not_more_than_100_percent, not_supported, obj_of, pod_template_spec, positive_int_or_percent,
    required, restart_always, selector_is_empty, selector_matches, selector_mismatch, str_of, Path, PodOpts,
};

/// ValidateDaemonSet / ValidateDaemonSetUpdate, then the strategy's check that
/// `spec.selector` never changes (apps/v1).
fn validate(ds: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let spec = obj_of(ds, "spec");
    let sp = Path::new("spec");
    let tpl = obj_of(spec, "template");
    let tp = sp.child("template");
    let sel = field(spec, "selector");
    let mut errs = label_selector(sel, &sp.child("selector"));
    if let Some(selector) = as_selector(sel) {
        let tpl_labels = field(obj_of(tpl, "metadata"), "labels");
        if !selector_matches(&selector, tpl_labels) {
            errs.push(selector_mismatch(tpl_labels, &tp.child("metadata").child("labels")));
        }
    }
    if sel.is_some_and(selector_is_empty) {
        errs.push(invalid(&sp.child("selector"), go::label_selector(sel), "empty selector is invalid for daemonset"));
    }
    errs.extend(pod_template_spec(tpl, &tp, &PodOpts::default()));
    errs.extend(restart_always(tpl, &tp));
    if field(obj_of(tpl, "spec"), "activeDeadlineSeconds").is_some() {
        errs.push(forbidden(
            &tp.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    errs.extend(nonnegative(int_of(spec, "minReadySeconds"), &sp.child("minReadySeconds")));
    errs.extend(nonnegative(int_of(spec, "templateGeneration"), &sp.child("templateGeneration")));
    errs.extend(update_strategy(field(spec, "updateStrategy"), &sp.child("updateStrategy")));
    errs.extend(nonnegative(int_of(spec, "revisionHistoryLimit"), &sp.child("revisionHistoryLimit")));
    if let Some(old) = old {
        errs.extend(immutable(sel, field(obj_of(old, "spec"), "selector"), &sp.child("selector"), go::label_selector));
    }
    dedup(errs)
}

/// ValidateDaemonSetUpdateStrategy (unset: RollingUpdate, maxUnavailable 1, maxSurge 0).
fn update_strategy(st: Option<&Value>, path: &Path) -> Vec<super::FieldError> {
    let st = st.unwrap_or(&Value::Null);
    match str_of(st, "type") {
        "OnDelete" => Vec::new(),
        "RollingUpdate" | "" => {
            let ru = obj_of(st, "rollingUpdate");
            let (one, zero) = (Value::from(1), Value::from(0));
            let mu = field(ru, "maxUnavailable").or(Some(&one));
            let ms = field(ru, "maxSurge").or(Some(&zero));
            let rp = path.child("rollingUpdate");
            let mut errs = positive_int_or_percent(mu, &rp.child("maxUnavailable"));
            errs.extend(positive_int_or_percent(ms, &rp.child("maxSurge")));
            errs.extend(not_more_than_100_percent(mu, &rp.child("maxUnavailable")));
            errs.extend(not_more_than_100_percent(ms, &rp.child("maxSurge")));
            match (int_or_percent_value(mu) != 0, int_or_percent_value(ms) != 0) {
                (true, true) => errs.push(invalid(
                    &rp.child("maxSurge"),
                    go::int_or_string(ms),
                    "may not be set when maxUnavailable is non-zero",
                )),
                (false, false) => errs.push(required(&rp.child("maxUnavailable"), "cannot be 0 when maxSurge is 0")),
                _ => {}
            }
            errs
        }
        other => {
            let shown = format!(
                "apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:{}}}",
                go::str(other),
                match field(st, "rollingUpdate") {
                    Some(ru) => go::structure("&apps.RollingUpdateDaemonSet", Some(ru)),
                    None => "(*apps.RollingUpdateDaemonSet)(nil)".into(),
                }
            );
            vec![not_supported(path, shown, &["RollingUpdate", "OnDelete"])]
        }
    }
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    fn ds(spec: Value) -> Value {
        json!({"metadata": {"name": "agent"}, "spec": spec})
    }

    #[test]
    fn daemonset_rules() {
        let ok = ds(json!({"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "a", "image": "a"}]}}}));
        assert!(validate(&ok, None).is_empty());
        let bad = ds(json!({"selector": {"matchLabels": {"app": "a"}},
            "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "a", "image": "a"}], "activeDeadlineSeconds": 5}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}));
        assert_eq!(render(&validate(&bad, None)), vec![
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"b\"}: `selector` does not match template `labels`",
            "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in DaemonSet is not Supported",
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0",
        ]);
        let mut moved = ok.clone();
        moved["spec"]["selector"] = json!({"matchLabels": {"app": "a", "tier": "x"}});
        moved["spec"]["template"]["metadata"]["labels"] = json!({"app": "a", "tier": "x"});
        assert_eq!(render(&validate(&moved, Some(&ok))), vec![
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"a\", \"tier\":\"x\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable",
        ]);
    }
}
