//! StatefulSets (apps/v1): RFC 1123 label names, Ready "ready/desired", `scale` and `status`
//! subresources.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static STATEFULSETS: ResourceDef = ResourceDef {
    group: "apps",
    version: "v1",
    kind: "StatefulSet",
    plural: "statefulsets",
    singular: "statefulset",
    namespaced: true,
    short_names: &["sts"],
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
            group: "apps",
            version: "v1",
            kind: "StatefulSet",
            verbs: VERBS_GET_PATCH_UPDATE,
        },
    ],
    storage_prefix: "/registry/statefulsets",
    storage_version: "apps/v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: true,
    // DNS labels since 1.27: the name becomes each pod's hostname.
    name_rule: NameRule::Label,
    columns: STS_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate,
};

static STS_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column {
        name: "Ready",
        type_: "string",
        format: "",
        description: "Number of the pod with ready state",
        priority: 0,
    },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column {
        name: "Containers",
        type_: "string",
        format: "",
        description: "Names of each container in the template.",
        priority: 1,
    },
    Column {
        name: "Images",
        type_: "string",
        format: "",
        description: "Images referenced by each container in the template.",
        priority: 1,
    },
];

fn row(sts: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(arr_at(sts, "/spec/template/spec/containers"));
    let desired = opt_i64_at(sts, "/spec/replicas").unwrap_or(1);
    vec![name(sts), s(format!("{}/{}", i64_at(sts, "/status/readyReplicas"), desired)), age(sts, now), names, images]
}

/// SetDefaults_StatefulSet (OrderedReady, RollingUpdate with partition 0, Retain/Retain claim
/// retention, replicas 1, revisionHistoryLimit 10), the template's PodSpec defaults, and the
/// claim templates as the v1 conversion and SetDefaults_PersistentVolumeClaim write them.
/// The status is Go's zero StatefulSetStatus, reset on create as PrepareForCreate does.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    let zero = [("replicas", json!(0)), ("availableReplicas", json!(0))];
    if is_create(obj) {
        reset_status(obj, json!({"replicas": 0, "availableReplicas": 0}));
    }
    status_with_zero(obj, &zero);
    let Some(spec) = root(obj).and_then(|r| child(r, "spec")) else { return };
    default_str(spec, "podManagementPolicy", "OrderedReady");
    if let Some(us) = child(spec, "updateStrategy") {
        if empty_str(us.get("type")) {
            us.insert("type".into(), json!("RollingUpdate"));
            default_ptr(us, "rollingUpdate", json!({}));
        }
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = existing(us, "rollingUpdate") {
                default_ptr(ru, "partition", json!(0));
            }
        }
    }
    if let Some(p) = child(spec, "persistentVolumeClaimRetentionPolicy") {
        default_str(p, "whenDeleted", "Retain");
        default_str(p, "whenScaled", "Retain");
    }
    default_ptr(spec, "replicas", json!(1));
    default_ptr(spec, "revisionHistoryLimit", json!(10));
    if let Some(t) = existing(spec, "template") {
        super::podspec::default_template(t);
    }
    if let Some(list) = spec.get_mut("volumeClaimTemplates").and_then(Value::as_array_mut) {
        for claim in list.iter_mut().filter(|c| c.is_object()) {
            // Convert_apps_StatefulSetSpec_To_v1_StatefulSetSpec writes the claims' type meta.
            let Some(old) = claim.as_object_mut().map(std::mem::take) else { continue };
            let mut typed = serde_json::Map::with_capacity(old.len() + 2);
            typed.insert("kind".into(), json!("PersistentVolumeClaim"));
            typed.insert("apiVersion".into(), json!("v1"));
            typed.extend(old.into_iter().filter(|(k, _)| k != "kind" && k != "apiVersion"));
            template_meta(&mut typed);
            if let Some(s) = child(&mut typed, "spec") {
                super::podspec::default_claim_spec(s);
            }
            if let Some(st) = child(&mut typed, "status") {
                default_str(st, "phase", "Pending");
            }
            *claim = Value::Object(typed);
        }
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stateful_set_defaults() {
        let mut sts = json!({"metadata": {"name": "db"}, "spec": {
            "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }});
        default(&mut sts);
        let s = &sts["spec"];
        assert_eq!(s["podManagementPolicy"], "OrderedReady");
        assert_eq!(s["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
        assert_eq!(s["persistentVolumeClaimRetentionPolicy"], json!({"whenDeleted": "Retain", "whenScaled": "Retain"}));
        assert_eq!((&s["replicas"], &s["revisionHistoryLimit"]), (&json!(1), &json!(10)));
        assert_eq!(
            s["volumeClaimTemplates"][0],
            json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                   "metadata": {"name": "data", "creationTimestamp": null},
                   "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
                   "status": {"phase": "Pending"}})
        );
        assert_eq!(sts["status"], json!({"replicas": 0, "availableReplicas": 0}));
        // An explicit RollingUpdate without parameters stays without them; OnDelete too.
        let mut sts = json!({"spec": {"updateStrategy": {"type": "RollingUpdate"}}});
        default(&mut sts);
        assert_eq!(sts["spec"]["updateStrategy"], json!({"type": "RollingUpdate"}));
        let mut sts = json!({"spec": {"updateStrategy": {"type": "OnDelete"}}});
        default(&mut sts);
        assert_eq!(sts["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    }
}

use super::validation::{
    as_selector, dedup, field, forbidden, go, int_of, int_or_percent_value, invalid, label_selector, list_of,
    nonnegative, not_more_than_100_percent, not_supported, obj_of, pod_template_spec, positive_int_or_percent,
    required, restart_always, selector_is_empty, selector_is_everything, selector_matches, selector_mismatch,
    semantic_eq, str_of, Path, PodOpts,
};

/// ValidateStatefulSet, and on update ValidateStatefulSetUpdate: outside the fields below,
/// a StatefulSet's spec is fixed at creation.
fn validate(sts: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let spec = obj_of(sts, "spec");
    let sp = Path::new("spec");
    let mut errs = Vec::new();
    match str_of(spec, "podManagementPolicy") {
        "" | "OrderedReady" | "Parallel" => {}
        other => {
            errs.push(invalid(&sp.child("podManagementPolicy"), go::str(other), "must be 'OrderedReady' or 'Parallel'"))
        }
    }
    errs.extend(update_strategy(obj_of(spec, "updateStrategy"), &sp.child("updateStrategy")));
    if let Some(policy) = field(spec, "persistentVolumeClaimRetentionPolicy") {
        for f in ["whenDeleted", "whenScaled"] {
            let v = str_of(policy, f);
            if !v.is_empty() && v != "Retain" && v != "Delete" {
                errs.push(not_supported(
                    &sp.child("persistentVolumeClaimRetentionPolicy").child(f),
                    go::str(v),
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    errs.extend(nonnegative(int_of(spec, "replicas"), &sp.child("replicas")));
    errs.extend(nonnegative(int_of(spec, "minReadySeconds"), &sp.child("minReadySeconds")));
    if let Some(ord) = field(spec, "ordinals") {
        errs.extend(nonnegative(int_of(ord, "start"), &sp.child("ordinals.start")));
    }
    let sel = field(spec, "selector");
    match sel {
        None => errs.push(required(&sp.child("selector"), "")),
        Some(s) => {
            errs.extend(label_selector(Some(s), &sp.child("selector")));
            if selector_is_empty(s) {
                errs.push(invalid(
                    &sp.child("selector"),
                    go::label_selector(Some(s)),
                    "empty selector is invalid for statefulset",
                ));
            }
        }
    }
    let tpl = obj_of(spec, "template");
    let tp = sp.child("template");
    match as_selector(sel) {
        None => errs.push(invalid(&sp.child("selector"), go::label_selector(sel), "")),
        Some(selector) => {
            let tpl_labels = field(obj_of(tpl, "metadata"), "labels");
            if !selector_is_everything(&selector) && !selector_matches(&selector, tpl_labels) {
                errs.push(selector_mismatch(tpl_labels, &tp.child("metadata").child("labels")));
            }
            // The pod template is validated with the claim templates counting as volumes.
            let claims = list_of(spec, "volumeClaimTemplates")
                .iter()
                .map(|c| str_of(obj_of(c, "metadata"), "name").to_string())
                .collect();
            errs.extend(pod_template_spec(tpl, &tp, &PodOpts { is_pod: false, claim_templates: claims }));
        }
    }
    errs.extend(restart_always(tpl, &tp));
    if field(obj_of(tpl, "spec"), "activeDeadlineSeconds").is_some() {
        errs.push(forbidden(
            &tp.child("spec").child("activeDeadlineSeconds"),
            "activeDeadlineSeconds in StatefulSet is not Supported",
        ));
    }
    errs.extend(nonnegative(int_of(spec, "revisionHistoryLimit"), &sp.child("revisionHistoryLimit")));
    if let Some(old) = old {
        if !semantic_eq(Some(&fixed_part(spec)), Some(&fixed_part(obj_of(old, "spec")))) {
            errs.push(forbidden(
                &sp,
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
    dedup(errs)
}

/// The part of a StatefulSet spec no update may change, with defaulted fields filled in so
/// objects stored before and after defaulting compare equal.
fn fixed_part(spec: &Value) -> Value {
    let mut s = spec.clone();
    if let Some(m) = s.as_object_mut() {
        for f in [
            "replicas",
            "template",
            "updateStrategy",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
            "ordinals",
        ] {
            m.remove(f);
        }
        if m.get("podManagementPolicy").and_then(Value::as_str).is_none_or(str::is_empty) {
            m.insert("podManagementPolicy".into(), "OrderedReady".into());
        }
        if m.get("revisionHistoryLimit").is_none_or(Value::is_null) {
            m.insert("revisionHistoryLimit".into(), 10.into());
        }
        if let Some(Value::Array(claims)) = m.get_mut("volumeClaimTemplates") {
            for c in claims.iter_mut().filter_map(Value::as_object_mut) {
                c.remove("status");
                c.remove("apiVersion");
                c.remove("kind");
                if let Some(cs) = c.get_mut("spec").and_then(Value::as_object_mut) {
                    if cs.get("volumeMode").and_then(Value::as_str) == Some("Filesystem") {
                        cs.remove("volumeMode");
                    }
                }
            }
        }
    }
    s
}

/// The StatefulSet updateStrategy rules (unset: RollingUpdate).
fn update_strategy(st: &Value, path: &Path) -> Vec<super::FieldError> {
    let ru = field(st, "rollingUpdate");
    let ru_shown = |ru: Option<&Value>| match ru {
        None => "(*apps.RollingUpdateStatefulSetStrategy)(nil)".to_string(),
        Some(r) => go::structure("&apps.RollingUpdateStatefulSetStrategy", Some(r)),
    };
    match str_of(st, "type") {
        "OnDelete" => match ru {
            Some(r) => {
                let shown = format!(
                    "apps.RollingUpdateStatefulSetStrategy{{Partition:{}, MaxUnavailable:{}}}",
                    int_of(r, "partition").unwrap_or(0),
                    match field(r, "maxUnavailable") {
                        None => "(*intstr.IntOrString)(nil)".to_string(),
                        Some(m) => format!("&{}", go::int_or_string(Some(m))),
                    }
                );
                vec![invalid(&path.child("rollingUpdate"), shown, "only allowed for updateStrategy 'RollingUpdate'")]
            }
            None => Vec::new(),
        },
        "RollingUpdate" | "" => {
            let Some(r) = ru else { return Vec::new() };
            let rp = path.child("rollingUpdate");
            let mut errs = nonnegative(int_of(r, "partition"), &rp.child("partition"));
            if let Some(mu) = field(r, "maxUnavailable") {
                let mp = rp.child("maxUnavailable");
                errs.extend(positive_int_or_percent(Some(mu), &mp));
                if int_or_percent_value(Some(mu)) == 0 {
                    errs.push(invalid(&mp, go::int_or_string(Some(mu)), "cannot be 0"));
                }
                errs.extend(not_more_than_100_percent(Some(mu), &mp));
            }
            errs
        }
        other => {
            let shown =
                format!("apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:{}}}", go::str(other), ru_shown(ru));
            vec![invalid(path, shown, "must be 'RollingUpdate' or 'OnDelete'")]
        }
    }
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    fn web() -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"serviceName": "web", "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx",
                "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
    }

    #[test]
    fn claim_templates_count_as_volumes() {
        assert!(validate(&web(), None).is_empty());
        let mut bad = web();
        bad["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["name"] = json!("data");
        bad["spec"]["podManagementPolicy"] = json!("Random");
        bad["spec"]["updateStrategy"] = json!({"type": "Sometimes"});
        assert_eq!(render(&validate(&bad, None)), vec![
            "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
            "spec.updateStrategy: Invalid value: apps.StatefulSetUpdateStrategy{Type:\"Sometimes\", RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}: must be 'RollingUpdate' or 'OnDelete'",
            "spec.template.spec.containers[0].volumeMounts[0].name: Not found: \"data\"",
        ]);
    }

    #[test]
    fn only_some_fields_may_change() {
        let old = web();
        let mut scaled = web();
        scaled["spec"]["replicas"] = json!(5);
        scaled["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        scaled["spec"]["minReadySeconds"] = json!(3);
        assert!(validate(&scaled, Some(&old)).is_empty());
        let mut renamed = web();
        renamed["spec"]["serviceName"] = json!("other");
        assert_eq!(render(&validate(&renamed, Some(&old))), vec![
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
        ]);
        let mut defaulted = web();
        defaulted["spec"]["podManagementPolicy"] = json!("OrderedReady");
        defaulted["spec"]["revisionHistoryLimit"] = json!(10);
        assert!(validate(&defaulted, Some(&old)).is_empty());
    }
}
