//! PersistentVolumes (core/v1): cluster-scoped; printed with capacity, access modes,
//! reclaim policy, phase, claim and storage class.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static PERSISTENTVOLUMES: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "PersistentVolume",
    plural: "persistentvolumes",
    singular: "persistentvolume",
    namespaced: false,
    short_names: &["pv"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[Subresource {
        name: "status",
        group: "",
        version: "v1",
        kind: "PersistentVolume",
        verbs: VERBS_GET_PATCH_UPDATE,
    }],
    storage_prefix: "/registry/persistentvolumes",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: PV_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate: no_validation,
};

static PV_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Capacity", type_: "string", format: "", description: "capacity is the description of the persistent volume's resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity", priority: 0 },
    Column { name: "Access Modes", type_: "string", format: "", description: "accessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes", priority: 0 },
    Column { name: "Reclaim Policy", type_: "string", format: "", description: "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming", priority: 0 },
    Column { name: "Status", type_: "string", format: "", description: "phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase", priority: 0 },
    Column { name: "Claim", type_: "string", format: "", description: "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding", priority: 0 },
    Column { name: "StorageClass", type_: "string", format: "", description: "StorageClass of the pv", priority: 0 },
    Column { name: "VolumeAttributesClass", type_: "string", format: "", description: "VolumeAttributesClass of the pv", priority: 0 },
    Column { name: "Reason", type_: "string", format: "", description: "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "VolumeMode", type_: "string", format: "", description: "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec.", priority: 1 },
];

/// `helper.GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order, once each.
pub fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    let mut out = Vec::new();
    for (mode, short) in
        [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
    {
        if has(mode) {
            out.push(short);
        }
    }
    out.join(",")
}

/// The storage class: the beta annotation wins over spec.storageClassName.
pub fn storage_class(obj: &Value) -> String {
    if let Some(class) = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class"))
        .and_then(Value::as_str)
    {
        return class.to_string();
    }
    str_at(obj, "/spec/storageClassName").to_string()
}

fn row(pv: &Value, now: Timestamp) -> Vec<Value> {
    let claim = match map_at(pv, "/spec/claimRef") {
        Some(_) => format!("{}/{}", str_at(pv, "/spec/claimRef/namespace"), str_at(pv, "/spec/claimRef/name")),
        None => String::new(),
    };
    let phase =
        if at(pv, "/metadata/deletionTimestamp").is_some() { "Terminating" } else { str_at(pv, "/status/phase") };
    vec![
        name(pv),
        s(quantity(pv.pointer("/spec/capacity/storage"))),
        s(access_modes(arr_at(pv, "/spec/accessModes"))),
        s(str_at(pv, "/spec/persistentVolumeReclaimPolicy")),
        s(phase),
        s(claim),
        s(storage_class(pv)),
        s(opt_str_at(pv, "/spec/volumeAttributesClassName").unwrap_or("<unset>")),
        s(str_at(pv, "/status/reason")),
        age(pv, now),
        s(opt_str_at(pv, "/spec/volumeMode").unwrap_or("<unset>")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bound_volume() {
        let pv = json!({"metadata": {"name": "pv1"}, "spec": {
            "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "standard",
            "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}});
        let c = row(&pv, Timestamp::UNIX_EPOCH);
        assert_eq!(
            c[1..9],
            [
                json!("1Gi"),
                json!("RWO,RWX"),
                json!("Retain"),
                json!("Bound"),
                json!("default/data"),
                json!("standard"),
                json!("<unset>"),
                json!("")
            ]
        );
        assert_eq!(c[10], json!("Filesystem"));
    }
}

/// SetDefaults_PersistentVolume (Retain, Filesystem, phase Pending) and the volume sources'
/// defaulters. On create the status is reset to Pending with the transition time, as
/// PrepareForCreate does (PersistentVolumeLastPhaseTransitionTime is GA).
fn default(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    if is_create(obj) {
        reset_status(obj, json!({"phase": "Pending", "lastPhaseTransitionTime": super::generic::now_rfc3339()}));
    }
    let Some(root) = root(obj) else { return };
    if let Some(st) = child(root, "status") {
        default_str(st, "phase", "Pending");
    }
    let Some(spec) = child(root, "spec") else { return };
    default_str(spec, "persistentVolumeReclaimPolicy", "Retain");
    default_ptr(spec, "volumeMode", json!("Filesystem"));
    if let Some(s) = existing(spec, "hostPath") {
        default_ptr(s, "type", json!(""));
    }
    if let Some(s) = existing(spec, "rbd") {
        super::podspec::rbd(s);
    }
    if let Some(s) = existing(spec, "iscsi") {
        default_str(s, "iscsiInterface", "default");
    }
    if let Some(s) = existing(spec, "azureDisk") {
        super::podspec::azure_disk(s);
    }
    if let Some(s) = existing(spec, "scaleIO") {
        super::podspec::scale_io(s);
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn persistent_volume_defaults() {
        let mut pv = json!({"metadata": {"name": "pv"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}},
                            "status": {"phase": "Bound"}});
        default(&mut pv);
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pv["spec"]["hostPath"], json!({"path": "/data", "type": ""}));
        assert_eq!(pv["status"]["phase"], "Pending");
        assert!(pv["status"]["lastPhaseTransitionTime"].is_string());
        let mut pv = json!({"metadata": {"resourceVersion": "9"}, "spec": {"persistentVolumeReclaimPolicy": "Delete"}, "status": {"phase": "Bound"}});
        default(&mut pv);
        assert_eq!((&pv["spec"]["persistentVolumeReclaimPolicy"], &pv["status"]["phase"]), (&json!("Delete"), &json!("Bound")));
    }
}
