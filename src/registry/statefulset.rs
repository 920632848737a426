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
    validate: no_validation,
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
