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
    default: no_defaults,
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
