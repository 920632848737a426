//! IPAddresses (networking.k8s.io/v1): one object per allocated cluster IP, named by the IP and
//! pointing at its Service. `allocator` writes them; users may read (and, as upstream allows,
//! write) them. Cluster-scoped, stored under /registry/ipaddresses.

use std::net::IpAddr;

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, FieldError, NameRule, ResourceDef, VERBS_ALL};

pub static IPADDRESSES: ResourceDef = ResourceDef {
    group: "networking.k8s.io",
    version: "v1",
    kind: "IPAddress",
    plural: "ipaddresses",
    singular: "ipaddress",
    namespaced: false,
    short_names: &["ip"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/ipaddresses",
    storage_version: "networking.k8s.io/v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    // The name is an IP address (IPv6 ones have colons); `validate` checks its form.
    name_rule: NameRule::PathSegment,
    columns: IPADDRESS_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default: no_defaults,
    validate,
};

/// printers.go declares Name and ParentRef only (its Age cell has no column, so kubectl never
/// shows it).
static IPADDRESS_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column {
        name: "ParentRef",
        type_: "string",
        format: "",
        description: "ParentRef references the resource that an IPAddress is attached to. An IPAddress must reference a parent object.",
        priority: 0,
    },
];

/// `printIPAddress`'s ParentRef: "<resource>.<group>/<namespace>/<name>", lower-cased group-resource.
fn parent_ref(ip: &Value) -> String {
    let Some(r) = at(ip, "/spec/parentRef") else { return "<none>".into() };
    let (group, resource) = (str_at(r, "/group"), str_at(r, "/resource"));
    let mut out = if group.is_empty() { resource.to_lowercase() } else { format!("{resource}.{group}").to_lowercase() };
    let namespace = str_at(r, "/namespace");
    if !namespace.is_empty() {
        out.push('/');
        out.push_str(namespace);
    }
    out.push('/');
    out.push_str(str_at(r, "/name"));
    out
}

fn row(ip: &Value, _now: Timestamp) -> Vec<Value> {
    vec![name(ip), s(parent_ref(ip))]
}

/// ValidateIPAddress: a canonical IP as name and a parentRef with a resource and a name.
fn validate(ip: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_at(ip, "/metadata/name");
    if !name.is_empty() {
        let detail = match name.parse::<IpAddr>() {
            Err(_) => Some(format!("ParseAddr({}): unable to parse IP", super::names::quote(name))),
            Ok(parsed) if parsed.to_string() != name => Some("must be a canonical format IP address".to_string()),
            Ok(_) => None,
        };
        if let Some(d) = detail {
            errs.push(FieldError {
                field: "metadata.name".into(),
                reason: "FieldValueInvalid",
                message: super::names::invalid_body(name, &d),
            });
        }
    }
    match at(ip, "/spec/parentRef") {
        None => errs.push(FieldError {
            field: "spec.parentRef".into(),
            reason: "FieldValueRequired",
            message: "Required value".into(),
        }),
        Some(r) => {
            for f in ["resource", "name"] {
                if str_at(r, &format!("/{f}")).is_empty() {
                    errs.push(FieldError {
                        field: format!("spec.parentRef.{f}"),
                        reason: "FieldValueRequired",
                        message: "Required value".into(),
                    });
                }
            }
        }
    }
    if let Some(old) = old {
        if ip.pointer("/spec/parentRef") != old.pointer("/spec/parentRef") {
            errs.push(FieldError {
                field: "spec.parentRef".into(),
                reason: "FieldValueInvalid",
                message: "Invalid value: \"object\": field is immutable".into(),
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
    fn parent_ref_prints_as_kubectl_shows_it() {
        let ip = json!({"metadata": {"name": "10.43.0.1"},
                        "spec": {"parentRef": {"resource": "services", "namespace": "default", "name": "kubernetes"}}});
        assert_eq!(row(&ip, Timestamp::UNIX_EPOCH), vec![json!("10.43.0.1"), json!("services/default/kubernetes")]);
        assert!(validate(&ip, None).is_empty());
        let gw = json!({"spec": {"parentRef": {"group": "Gateway.networking.k8s.io", "resource": "Gateways", "name": "gw"}}});
        assert_eq!(parent_ref(&gw), "gateways.gateway.networking.k8s.io/gw");
        assert_eq!(parent_ref(&json!({})), "<none>");
    }

    #[test]
    fn names_are_canonical_ips() {
        let bad =
            json!({"metadata": {"name": "010.43.0.1"}, "spec": {"parentRef": {"resource": "services", "name": "a"}}});
        assert_eq!(
            validate(&bad, None)[0].message,
            r#"Invalid value: "010.43.0.1": ParseAddr("010.43.0.1"): unable to parse IP"#
        );
        let long =
            json!({"metadata": {"name": "fd00:0::1"}, "spec": {"parentRef": {"resource": "services", "name": "a"}}});
        assert_eq!(
            validate(&long, None)[0].message,
            r#"Invalid value: "fd00:0::1": must be a canonical format IP address"#
        );
    }
}
