//! EndpointSlices (discovery.k8s.io/v1): address type, ports and up to three addresses.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, VERBS_ALL};

pub static ENDPOINTSLICES: ResourceDef = ResourceDef {
    group: "discovery.k8s.io",
    version: "v1",
    kind: "EndpointSlice",
    plural: "endpointslices",
    singular: "endpointslice",
    namespaced: true,
    short_names: &[],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/endpointslices",
    storage_version: "discovery.k8s.io/v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: ENDPOINTSLICE_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate: no_validation,
};

static ENDPOINTSLICE_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "AddressType", type_: "string", format: "", description: "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.", priority: 0 },
    Column { name: "Ports", type_: "string", format: "", description: "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates \"all ports\". Each slice may include a maximum of 100 ports.", priority: 0 },
    Column { name: "Endpoints", type_: "string", format: "", description: "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

/// `listWithMoreString`: at most three items, "<unset>" when none.
fn list_with_more(items: Vec<String>) -> String {
    const MAX: usize = 3;
    let count = items.len();
    if count > MAX {
        return format!("{} + {} more...", items[..MAX].join(","), count - MAX);
    }
    if items.is_empty() {
        return "<unset>".into();
    }
    items.join(",")
}

fn row(slice: &Value, now: Timestamp) -> Vec<Value> {
    let ports = arr_at(slice, "/ports")
        .iter()
        .map(|p| match (opt_i64_at(p, "/port"), opt_str_at(p, "/name")) {
            (Some(port), _) => port.to_string(),
            (None, Some(n)) => n.to_string(),
            (None, None) => "*".to_string(),
        })
        .collect();
    let addresses = arr_at(slice, "/endpoints")
        .iter()
        .flat_map(|e| arr_at(e, "/addresses").iter().map(|a| a.as_str().unwrap_or("").to_string()))
        .collect();
    vec![
        name(slice),
        s(str_at(slice, "/addressType")),
        s(list_with_more(ports)),
        s(list_with_more(addresses)),
        age(slice, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slice_cells() {
        let slice = json!({"addressType": "IPv4", "ports": [{"port": 80}, {"name": "https"}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3"]}, {"addresses": ["10.0.0.4"]}]});
        let c = row(&slice, Timestamp::UNIX_EPOCH);
        assert_eq!(c[1..4], [json!("IPv4"), json!("80,https"), json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...")]);
        assert_eq!(row(&json!({}), Timestamp::UNIX_EPOCH)[2], json!("<unset>"));
    }
}

/// SetDefaults_EndpointPort (name "", protocol TCP); `endpoints` and `ports` are lists Go
/// writes as null when empty.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    let Some(root) = root(obj) else { return };
    for port in items(root, "ports") {
        default_ptr(port, "name", serde_json::json!(""));
        default_ptr(port, "protocol", serde_json::json!("TCP"));
    }
    go_zero(root, &[("endpoints", Value::Null), ("ports", Value::Null)]);
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_get_a_name_and_protocol() {
        let mut s = json!({"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]});
        default(&mut s);
        assert_eq!(s["ports"], json!([{"port": 80, "name": "", "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]));
        let mut s = json!({"addressType": "IPv4"});
        default(&mut s);
        assert_eq!(s, json!({"addressType": "IPv4", "endpoints": null, "ports": null}));
    }
}
