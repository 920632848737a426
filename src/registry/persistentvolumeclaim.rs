//! PersistentVolumeClaims (core/v1): printed with phase, bound volume, capacity and class.

use jiff::Timestamp;
use serde_json::Value;

use super::persistentvolume::{access_modes, storage_class};
use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static PERSISTENTVOLUMECLAIMS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "PersistentVolumeClaim",
    plural: "persistentvolumeclaims",
    singular: "persistentvolumeclaim",
    namespaced: true,
    short_names: &["pvc"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[Subresource {
        name: "status",
        group: "",
        version: "v1",
        kind: "PersistentVolumeClaim",
        verbs: VERBS_GET_PATCH_UPDATE,
    }],
    storage_prefix: "/registry/persistentvolumeclaims",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: PVC_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate,
};

static PVC_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Status", type_: "string", format: "", description: "phase represents the current phase of PersistentVolumeClaim.", priority: 0 },
    Column { name: "Volume", type_: "string", format: "", description: "volumeName is the binding reference to the PersistentVolume backing this claim.", priority: 0 },
    Column { name: "Capacity", type_: "string", format: "", description: "capacity represents the actual resources of the underlying volume.", priority: 0 },
    Column { name: "Access Modes", type_: "string", format: "", description: "accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1", priority: 0 },
    Column { name: "StorageClass", type_: "string", format: "", description: "StorageClass of the pvc", priority: 0 },
    Column { name: "VolumeAttributesClass", type_: "string", format: "", description: "VolumeAttributesClass of the pvc", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "VolumeMode", type_: "string", format: "", description: "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.", priority: 1 },
];

fn row(pvc: &Value, now: Timestamp) -> Vec<Value> {
    let phase =
        if at(pvc, "/metadata/deletionTimestamp").is_some() { "Terminating" } else { str_at(pvc, "/status/phase") };
    let volume = str_at(pvc, "/spec/volumeName");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (quantity(pvc.pointer("/status/capacity/storage")), access_modes(arr_at(pvc, "/status/accessModes")))
    };
    vec![
        name(pvc),
        s(phase),
        s(volume),
        s(capacity),
        s(modes),
        s(storage_class(pvc)),
        s(opt_str_at(pvc, "/spec/volumeAttributesClassName").unwrap_or("<unset>")),
        age(pvc, now),
        s(opt_str_at(pvc, "/spec/volumeMode").unwrap_or("<unset>")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pending_and_bound() {
        let pending = json!({"metadata": {"name": "data"}, "spec": {"storageClassName": "standard"},
                             "status": {"phase": "Pending"}});
        let c = row(&pending, Timestamp::UNIX_EPOCH);
        assert_eq!(c[1..6], [json!("Pending"), json!(""), json!(""), json!(""), json!("standard")]);
        let bound = json!({"metadata": {"name": "data"}, "spec": {"volumeName": "pv1", "volumeMode": "Filesystem"},
                           "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"]}});
        let c = row(&bound, Timestamp::UNIX_EPOCH);
        assert_eq!(c[1..5], [json!("Bound"), json!("pv1"), json!("5Gi"), json!("RWO")]);
        assert_eq!(c[8], json!("Filesystem"));
    }
}

/// SetDefaults_PersistentVolumeClaim (phase Pending) and _PersistentVolumeClaimSpec
/// (Filesystem); `spec.resources` is a struct Go always writes. The status is reset on create,
/// as PrepareForCreate does.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    if is_create(obj) {
        reset_status(obj, json!({}));
    }
    let Some(root) = root(obj) else { return };
    if let Some(st) = child(root, "status") {
        default_str(st, "phase", "Pending");
    }
    if let Some(spec) = child(root, "spec") {
        super::podspec::default_claim_spec(spec);
        child(spec, "resources");
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_defaults() {
        let mut pvc = json!({"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                             "status": {"phase": "Bound"}});
        default(&mut pvc);
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pvc["status"], json!({"phase": "Pending"}));
        let mut pvc = json!({"metadata": {"resourceVersion": "2"}, "spec": {"volumeMode": "Block"}, "status": {"phase": "Bound"}});
        default(&mut pvc);
        assert_eq!((&pvc["spec"]["volumeMode"], &pvc["spec"]["resources"], &pvc["status"]["phase"]), (&json!("Block"), &json!({}), &json!("Bound")));
    }
}

use super::validation::{
    dns1123_subdomain, field, forbidden, go, invalid, label_selector, list_of, map_of, not_supported, obj_of,
    quantity_at, required, resource_quantity_value, semantic_eq, str_of, Path,
};

const ACCESS_MODES: &[&str] = &["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];

/// ValidatePersistentVolumeClaim, and on update the rule that a claim's spec is fixed except
/// its storage request (once bound) and a first volumeName.
fn validate(pvc: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let spec = obj_of(pvc, "spec");
    let sp = Path::new("spec");
    let mut errs = Vec::new();
    let modes = list_of(spec, "accessModes");
    if modes.is_empty() {
        errs.push(required(&sp.child("accessModes"), "at least 1 access mode is required"));
    }
    errs.extend(label_selector(field(spec, "selector"), &sp.child("selector")));
    let (mut rwop, mut other) = (false, false);
    for m in modes {
        let m = m.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&m) {
            errs.push(not_supported(&sp.child("accessModes"), go::str(m), ACCESS_MODES));
        } else if m == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.push(forbidden(&sp.child("accessModes"), "may not use ReadWriteOncePod with other access modes"));
    }
    let storage_path = sp.child("resources").key("storage");
    match map_of(obj_of(spec, "resources"), "requests").get("storage") {
        None => errs.push(required(&storage_path, "")),
        Some(v) => match quantity_at(v, &storage_path) {
            Err(e) => errs.push(e),
            Ok(q) if q.sign() != 1 => {
                errs.push(invalid(&storage_path, go::str(&q.canonical()), "must be greater than zero"))
            }
            Ok(q) => errs.extend(resource_quantity_value("storage", &q, &storage_path)),
        },
    }
    let class = str_of(spec, "storageClassName");
    if !class.is_empty() {
        errs.extend(dns1123_subdomain(class, &sp.child("storageClassName")));
    }
    if let Some(mode) = spec.get("volumeMode").and_then(Value::as_str) {
        if mode != "Block" && mode != "Filesystem" {
            errs.push(not_supported(&sp.child("volumeMode"), go::str(mode), &["Block", "Filesystem"]));
        }
    }
    if let Some(old) = old {
        let old_spec = obj_of(old, "spec");
        let mut new_spec = spec.clone();
        let bound = str_of(obj_of(pvc, "status"), "phase") == "Bound";
        if let Some(m) = new_spec.as_object_mut() {
            if str_of(old_spec, "volumeName").is_empty() {
                match old_spec.get("volumeName") {
                    Some(v) => m.insert("volumeName".into(), v.clone()),
                    None => m.remove("volumeName"),
                };
            }
            if bound {
                let old_storage = old_spec.pointer("/resources/requests/storage").cloned();
                if let Some(req) =
                    m.get_mut("resources").and_then(|r| r.get_mut("requests")).and_then(Value::as_object_mut)
                {
                    match old_storage {
                        Some(v) => req.insert("storage".into(), v),
                        None => req.remove("storage"),
                    };
                }
                match old_spec.get("volumeAttributesClassName") {
                    Some(v) => m.insert("volumeAttributesClassName".into(), v.clone()),
                    None => m.remove("volumeAttributesClassName"),
                };
            }
        }
        if !semantic_eq(Some(&new_spec), Some(old_spec)) {
            errs.push(forbidden(
                &sp,
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ));
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
    fn claims() {
        assert_eq!(
            render(&validate(&json!({"spec": {}}), None)),
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value",
            ]
        );
        let ok = json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        assert!(validate(&ok, None).is_empty());
        let mut bigger = ok.clone();
        bigger["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert_eq!(render(&validate(&bigger, Some(&ok))), vec![
            "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        ]);
        bigger["status"] = json!({"phase": "Bound"});
        assert!(validate(&bigger, Some(&ok)).is_empty());
    }
}
