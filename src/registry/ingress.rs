//! Ingresses and IngressClasses (networking.k8s.io/v1). Ingresses are stored under
//! /registry/ingress (singular, as Kubernetes keys them).

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::service::load_balancer_ingress;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static INGRESSES: ResourceDef = ResourceDef {
    group: "networking.k8s.io",
    version: "v1",
    kind: "Ingress",
    plural: "ingresses",
    singular: "ingress",
    namespaced: true,
    short_names: &["ing"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[Subresource {
        name: "status",
        group: "networking.k8s.io",
        version: "v1",
        kind: "Ingress",
        verbs: VERBS_GET_PATCH_UPDATE,
    }],
    storage_prefix: "/registry/ingress",
    storage_version: "networking.k8s.io/v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: INGRESS_COLUMNS,
    row: ingress_row,
    field_labels: &[],
    field_value: meta_field_value,
    default: default_ingress,
    validate: no_validation,
};

pub static INGRESSCLASSES: ResourceDef = ResourceDef {
    group: "networking.k8s.io",
    version: "v1",
    kind: "IngressClass",
    plural: "ingressclasses",
    singular: "ingressclass",
    namespaced: false,
    short_names: &[],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/ingressclasses",
    storage_version: "networking.k8s.io/v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: INGRESSCLASS_COLUMNS,
    row: ingress_class_row,
    field_labels: &[],
    field_value: meta_field_value,
    default: default_ingress_class,
    validate: no_validation,
};

static INGRESS_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column {
        name: "Class",
        type_: "string",
        format: "",
        description: "The name of the IngressClass resource that should be used for additional configuration",
        priority: 0,
    },
    Column {
        name: "Hosts",
        type_: "string",
        format: "",
        description: "Hosts that incoming requests are matched against before the ingress rule",
        priority: 0,
    },
    Column {
        name: "Address",
        type_: "string",
        format: "",
        description: "Address is a list containing ingress points for the load-balancer",
        priority: 0,
    },
    Column {
        name: "Ports",
        type_: "string",
        format: "",
        description: "Ports of TLS configurations that open",
        priority: 0,
    },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

static INGRESSCLASS_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column {
        name: "Controller",
        type_: "string",
        format: "",
        description: "Controller that is responsible for handling this class",
        priority: 0,
    },
    Column {
        name: "Parameters",
        type_: "string",
        format: "",
        description: "A reference to a resource with additional parameters",
        priority: 0,
    },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

/// `formatHosts`: up to three rule hosts, "*" when none.
fn hosts(ing: &Value) -> String {
    let rules = arr_at(ing, "/spec/rules");
    const MAX: usize = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = str_at(rule, "/host");
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".into();
    }
    let ret = list.join(",");
    if more {
        format!("{} + {} more...", ret, rules.len() - MAX)
    } else {
        ret
    }
}

fn ingress_row(ing: &Value, now: Timestamp) -> Vec<Value> {
    let ports = if arr_at(ing, "/spec/tls").is_empty() { "80" } else { "80, 443" };
    vec![
        name(ing),
        s(opt_str_at(ing, "/spec/ingressClassName").unwrap_or("<none>")),
        s(hosts(ing)),
        s(load_balancer_ingress(ing, "/status/loadBalancer/ingress")),
        s(ports),
        age(ing, now),
    ]
}

fn ingress_class_row(class: &Value, now: Timestamp) -> Vec<Value> {
    let parameters = match map_at(class, "/spec/parameters") {
        None => "<none>".to_string(),
        Some(_) => {
            let mut p = str_at(class, "/spec/parameters/kind").to_string();
            if let Some(group) = opt_str_at(class, "/spec/parameters/apiGroup") {
                p = format!("{p}.{group}");
            }
            format!("{}/{}", p, str_at(class, "/spec/parameters/name"))
        }
    };
    vec![name(class), s(str_at(class, "/spec/controller")), s(parameters), age(class, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ingress_cells() {
        let ing = json!({"metadata": {"name": "web"}, "spec": {"ingressClassName": "nginx",
            "rules": [{"host": "a.example"}, {}, {"host": "b.example"}, {"host": "c.example"}, {"host": "d.example"}],
            "tls": [{"hosts": ["a.example"]}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.168.49.2"}]}}});
        let c = ingress_row(&ing, Timestamp::UNIX_EPOCH);
        assert_eq!(
            c[1..5],
            [
                json!("nginx"),
                json!("a.example,b.example,c.example + 2 more..."),
                json!("192.168.49.2"),
                json!("80, 443")
            ]
        );
        let bare = ingress_row(&json!({}), Timestamp::UNIX_EPOCH);
        assert_eq!(bare[1..5], [json!("<none>"), json!("*"), json!(""), json!("80")]);
        let class = json!({"spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
        assert_eq!(
            ingress_class_row(&class, Timestamp::UNIX_EPOCH)[2],
            json!("IngressParameters.k8s.example.com/external-lb")
        );
    }
}

/// Ingresses have no v1 defaults; the status is Go's zero IngressStatus
/// (`loadBalancer: {}`), reset on create as PrepareForCreate does.
fn default_ingress(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    if is_create(obj) {
        reset_status(obj, json!({"loadBalancer": {}}));
    }
    status_with_zero(obj, &[("loadBalancer", json!({}))]);
}

/// SetDefaults_IngressClass: parameters are cluster-scoped unless told otherwise.
fn default_ingress_class(obj: &mut Value) {
    use super::defaulting::*;
    let Some(params) = root(obj).and_then(|r| existing(r, "spec")).and_then(|s| existing(s, "parameters")) else { return };
    default_ptr(params, "scope", serde_json::json!("Cluster"));
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ingress_and_class_defaults() {
        let mut ing = json!({"metadata": {"name": "i"}, "spec": {"rules": [{"host": "a"}]}, "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}});
        default_ingress(&mut ing);
        assert_eq!(ing["status"], json!({"loadBalancer": {}}));
        let mut class = json!({"spec": {"controller": "x/y", "parameters": {"kind": "K", "name": "n"}}});
        default_ingress_class(&mut class);
        assert_eq!(class["spec"]["parameters"]["scope"], "Cluster");
        let mut class = json!({"spec": {"controller": "x/y"}});
        default_ingress_class(&mut class);
        assert_eq!(class, json!({"spec": {"controller": "x/y"}}));
    }
}
