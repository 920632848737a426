//! ServiceCIDRs (networking.k8s.io/v1): the ranges cluster IPs come from. Every cluster has the
//! `kubernetes` one (10.43.0.0/16), written by `allocator` with the first Service. Cluster-scoped,
//! with a status subresource, stored under /registry/servicecidrs.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, FieldError, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static SERVICECIDRS: ResourceDef = ResourceDef {
    group: "networking.k8s.io",
    version: "v1",
    kind: "ServiceCIDR",
    plural: "servicecidrs",
    singular: "servicecidr",
    namespaced: false,
    short_names: &[],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[Subresource {
        name: "status",
        group: "networking.k8s.io",
        version: "v1",
        kind: "ServiceCIDR",
        verbs: VERBS_GET_PATCH_UPDATE,
    }],
    storage_prefix: "/registry/servicecidrs",
    storage_version: "networking.k8s.io/v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: SERVICECIDR_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default: no_defaults,
    validate,
};

static SERVICECIDR_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column {
        name: "CIDRs",
        type_: "string",
        format: "",
        description: "CIDRs defines the IP blocks in CIDR notation (e.g. \"192.168.0.0/24\" or \"2001:db8::/64\") from which to assign service cluster IPs. Max of two CIDRs is allowed, one of each IP family. This field is immutable.",
        priority: 0,
    },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

/// `printServiceCIDR`: Name, the CIDRs joined with ",", Age.
fn row(cidr: &Value, now: Timestamp) -> Vec<Value> {
    let cidrs: Vec<&str> = arr_at(cidr, "/spec/cidrs").iter().filter_map(Value::as_str).collect();
    vec![name(cidr), s(cidrs.join(",")), age(cidr, now)]
}

/// The spec's CIDRs may not change (ValidateServiceCIDRUpdate).
fn validate(cidr: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(old) = old {
        if cidr.pointer("/spec/cidrs") != old.pointer("/spec/cidrs") {
            let new: Vec<String> =
                arr_at(cidr, "/spec/cidrs").iter().map(|v| super::names::quote(v.as_str().unwrap_or(""))).collect();
            errs.push(FieldError {
                field: "spec.cidrs".into(),
                reason: "FieldValueInvalid",
                message: format!("Invalid value: []string{{{}}}: field is immutable", new.join(", ")),
            });
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_default_cidr_prints_its_range() {
        let cidr = super::super::allocator::default_service_cidr();
        let now: Timestamp = "2030-01-01T00:00:00Z".parse().unwrap();
        let cells = row(&cidr, now);
        assert_eq!(cells[..2], [json!("kubernetes"), json!("10.43.0.0/16")]);
        let mut changed = cidr.clone();
        changed["spec"]["cidrs"] = json!(["10.44.0.0/16"]);
        assert_eq!(
            validate(&changed, Some(&cidr))[0].message,
            r#"Invalid value: []string{"10.44.0.0/16"}: field is immutable"#
        );
    }
}
