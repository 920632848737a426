//! StorageClasses (storage.k8s.io/v1): cluster-scoped; the default class shows "(default)".

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, VERBS_ALL};

pub static STORAGECLASSES: ResourceDef = ResourceDef {
    group: "storage.k8s.io",
    version: "v1",
    kind: "StorageClass",
    plural: "storageclasses",
    singular: "storageclass",
    namespaced: false,
    short_names: &["sc"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/storageclasses",
    storage_version: "storage.k8s.io/v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: STORAGECLASS_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate: no_validation,
};

static STORAGECLASS_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Provisioner", type_: "string", format: "", description: "provisioner indicates the type of the provisioner.", priority: 0 },
    Column { name: "ReclaimPolicy", type_: "string", format: "", description: "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.", priority: 0 },
    Column { name: "VolumeBindingMode", type_: "string", format: "", description: "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.", priority: 0 },
    Column { name: "AllowVolumeExpansion", type_: "string", format: "", description: "allowVolumeExpansion shows whether the storage class allow volume expand.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

/// `storageutil.IsDefaultAnnotation`: the GA or the beta annotation set to "true".
fn is_default(sc: &Value) -> bool {
    let Some(a) = map_at(sc, "/metadata/annotations") else { return false };
    ["storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"]
        .iter()
        .any(|k| a.get(*k).and_then(Value::as_str) == Some("true"))
}

fn row(sc: &Value, now: Timestamp) -> Vec<Value> {
    let mut n = str_at(sc, "/metadata/name").to_string();
    if is_default(sc) {
        n.push_str(" (default)");
    }
    vec![
        s(n),
        s(str_at(sc, "/provisioner")),
        s(opt_str_at(sc, "/reclaimPolicy").unwrap_or("Delete")),
        s(opt_str_at(sc, "/volumeBindingMode").unwrap_or("Immediate")),
        Value::Bool(bool_at(sc, "/allowVolumeExpansion")),
        age(sc, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_class() {
        let sc = json!({"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
        let c = row(&sc, Timestamp::UNIX_EPOCH);
        assert_eq!(
            c[..5],
            [
                json!("standard (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false)
            ]
        );
    }
}

/// SetDefaults_StorageClass: reclaimPolicy Delete, volumeBindingMode Immediate.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    let Some(root) = root(obj) else { return };
    default_ptr(root, "reclaimPolicy", serde_json::json!("Delete"));
    default_ptr(root, "volumeBindingMode", serde_json::json!("Immediate"));
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn class_defaults() {
        let mut sc = json!({"provisioner": "x"});
        default(&mut sc);
        assert_eq!(sc, json!({"provisioner": "x", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}));
        let mut sc = json!({"provisioner": "x", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"});
        default(&mut sc);
        assert_eq!((&sc["reclaimPolicy"], &sc["volumeBindingMode"]), (&json!("Retain"), &json!("WaitForFirstConsumer")));
    }
}

/// DefaultStorageClass admission: a new claim that names no class (the field absent, not "")
/// gets the default StorageClass, the newest one when several are marked default.
pub async fn admit_claim(registry: &super::generic::Registry, claim: &mut Value) -> super::status::Result<()> {
    if claim.pointer("/spec/storageClassName").is_some_and(|v| !v.is_null()) {
        return Ok(());
    }
    let all = registry.list(&STORAGECLASSES, None, &Default::default()).await?;
    let is_default = |c: &Value| {
        ["storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"]
            .iter()
            .any(|a| c.pointer("/metadata/annotations").and_then(|m| m.get(*a)).and_then(Value::as_str) == Some("true"))
    };
    let newest = all.items.into_iter().filter(is_default).max_by(|a, b| {
        let t = |c: &Value| c.pointer("/metadata/creationTimestamp").and_then(Value::as_str).unwrap_or("").to_string();
        t(a).cmp(&t(b)).then_with(|| {
            let n = |c: &Value| c.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
            n(b).cmp(&n(a))
        })
    });
    if let Some(class) = newest {
        let name = class.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(spec) = claim.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("storageClassName".into(), Value::String(name));
        }
    }
    Ok(())
}
