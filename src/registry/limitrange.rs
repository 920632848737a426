//! LimitRanges (core/v1). Kubernetes has no printer for them: the default Table applies.

use super::print::*;
use super::{NameRule, ResourceDef, VERBS_ALL};

pub static LIMITRANGES: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "LimitRange",
    plural: "limitranges",
    singular: "limitrange",
    namespaced: true,
    short_names: &["limits"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/limitranges",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: DEFAULT_COLUMNS,
    row: default_row,
    field_labels: &[],
    field_value: meta_field_value,
    default: no_defaults,
    validate: no_validation,
};
