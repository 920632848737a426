//! Namespaces (core/v1): cluster-scoped, RFC 1123 label names, no deletecollection, the
//! `finalize` and `status` subresources, and the four namespaces every cluster starts with.

use jiff::Timestamp;
use serde_json::{json, Value};

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_GET_PATCH_UPDATE};

pub static NAMESPACES: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    namespaced: false,
    short_names: &["ns"],
    categories: &[],
    verbs: &["create", "delete", "get", "list", "patch", "update", "watch"],
    subresources: &[
        Subresource { name: "finalize", group: "", version: "v1", kind: "Namespace", verbs: &["update"] },
        Subresource { name: "status", group: "", version: "v1", kind: "Namespace", verbs: VERBS_GET_PATCH_UPDATE },
    ],
    storage_prefix: "/registry/namespaces",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: false,
    name_rule: NameRule::Label,
    columns: NAMESPACE_COLUMNS,
    row,
    field_labels: &["status.phase"],
    field_value,
    default,
    validate,
};

static NAMESPACE_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Status", type_: "string", format: "", description: "The status of the namespace", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

fn row(ns: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(ns), s(str_at(ns, "/status/phase")), age(ns, now)]
}

fn field_value(ns: &Value, label: &str) -> Option<String> {
    match label {
        "status.phase" => Some(str_at(ns, "/status/phase").to_string()),
        _ => meta_field(ns, label),
    }
}

/// The namespaces a fresh cluster has, as the apiserver's system-namespaces controller
/// creates them (metadata such as uid and timestamps is the caller's to fill).
pub fn builtin() -> Vec<Value> {
    ["default", "kube-system", "kube-public", "kube-node-lease"]
        .iter()
        .map(|n| {
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"}
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_and_fields() {
        let ns = json!({"metadata": {"name": "default", "creationTimestamp": "2024-05-01T11:00:00Z"},
                        "status": {"phase": "Active"}});
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        assert_eq!(row(&ns, now), vec![json!("default"), json!("Active"), json!("60m")]);
        assert_eq!(field_value(&ns, "status.phase").as_deref(), Some("Active"));
        assert_eq!(field_value(&ns, "metadata.name").as_deref(), Some("default"));
    }
}

/// Defaults as the namespace strategy and SetDefaults_Namespace apply them: phase Active, the
/// `kubernetes` finalizer, and the `kubernetes.io/metadata.name` label.
fn default(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else { return };
    let name = map.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        if !name.is_empty() {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
    }
    let spec = map.entry("spec").or_insert_with(|| json!({}));
    if !spec.is_object() {
        *spec = json!({});
    }
    if let Some(spec) = spec.as_object_mut() {
        if spec.get("finalizers").is_none_or(Value::is_null) {
            spec.insert("finalizers".into(), json!(["kubernetes"]));
        }
    }
    let status = map.entry("status").or_insert_with(|| json!({}));
    if !status.is_object() {
        *status = json!({});
    }
    if let Some(st) = status.as_object_mut() {
        if st.get("phase").and_then(Value::as_str).is_none_or(str::is_empty) {
            st.insert("phase".into(), json!("Active"));
        }
    }
}

use super::validation::{go, invalid, list_of, obj_of, qualified_name, str_of, Path};

/// ValidateNamespace (spec.finalizers) and, on update, the name that never changes.
fn validate(ns: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    let fp = Path::new("spec").child("finalizers");
    for f in list_of(obj_of(ns, "spec"), "finalizers") {
        let f = f.as_str().unwrap_or("");
        errs.extend(qualified_name(f, &fp));
        if !f.contains('/') && !["kubernetes", "orphan", "foregroundDeletion"].contains(&f) {
            errs.push(invalid(&fp, go::str(f), "name is neither a standard finalizer name nor is it fully qualified"));
        }
    }
    if let Some(old) = old {
        let (name, old_name) = (str_of(obj_of(ns, "metadata"), "name"), str_of(obj_of(old, "metadata"), "name"));
        if name != old_name {
            errs.push(invalid(&Path::new("metadata").child("name"), go::str(name), "field is immutable"));
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
    fn finalizers_must_be_standard_or_qualified() {
        assert!(validate(&json!({"spec": {"finalizers": ["kubernetes", "example.com/x"]}}), None).is_empty());
        assert_eq!(render(&validate(&json!({"spec": {"finalizers": ["mine"]}}), None)), vec![
            "spec.finalizers: Invalid value: \"mine\": name is neither a standard finalizer name nor is it fully qualified",
        ]);
    }
}
