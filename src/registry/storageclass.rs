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
