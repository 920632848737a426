//! Services (core/v1): RFC 1035 names, stored under /registry/services/specs, the
//! `kubectl get svc` Table (Cluster-IP, External-IP, Port(s)) and the service field selectors.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static SERVICES: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    singular: "service",
    namespaced: true,
    short_names: &["svc"],
    categories: &["all"],
    verbs: VERBS_ALL,
    subresources: &[
        Subresource {
            name: "proxy",
            group: "",
            version: "v1",
            kind: "ServiceProxyOptions",
            verbs: &["create", "delete", "get", "patch", "update"],
        },
        Subresource { name: "status", group: "", version: "v1", kind: "Service", verbs: VERBS_GET_PATCH_UPDATE },
    ],
    storage_prefix: "/registry/services/specs",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: false,
    name_rule: NameRule::Label1035,
    columns: SERVICE_COLUMNS,
    row,
    field_labels: &["spec.clusterIP", "spec.type"],
    field_value,
    default: no_defaults,
    validate: no_validation,
};

static SERVICE_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Type", type_: "string", format: "", description: "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a cluster-internal IP address for load-balancing to endpoints. Endpoints are determined by the selector or if that is not specified, by manual construction of an Endpoints object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated and the endpoints are published as a set of endpoints rather than a virtual IP. \"NodePort\" builds on ClusterIP and allocates a port on every node which routes to the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates an external load-balancer (if supported in the current cloud) which routes to the same endpoints as the clusterIP. \"ExternalName\" aliases this service to the specified externalName. Several other fields do not apply to ExternalName services. More info: https://kubernetes.io/docs/concepts/services-networking/service/#publishing-services-service-types", priority: 0 },
    Column { name: "Cluster-IP", type_: "string", format: "", description: "clusterIP is the IP address of the service and is usually assigned randomly. If an address is specified manually, is in-range (as per system configuration), and is not in use, it will be allocated to the service; otherwise creation of the service will fail. This field may not be changed through updates unless the type field is also being changed to ExternalName (which requires this field to be blank) or the type field is being changed from ExternalName (in which case this field may optionally be specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual IP), which is useful when direct endpoint connections are preferred and proxying is not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this field is specified when creating a Service of type ExternalName, creation will fail. This field will be wiped when updating a Service to type ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies", priority: 0 },
    Column { name: "External-IP", type_: "string", format: "", description: "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.  These IPs are not managed by Kubernetes.  The user is responsible for ensuring that traffic arrives at a node with this IP.  A common example is external load-balancers that are not part of the Kubernetes system.", priority: 0 },
    Column { name: "Port(s)", type_: "string", format: "", description: "The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "Selector", type_: "string", format: "", description: "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/", priority: 1 },
];

/// The primary cluster IP as the internal API sees it: spec.clusterIP wins over clusterIPs[0].
fn cluster_ip(svc: &Value) -> &str {
    let ip = str_at(svc, "/spec/clusterIP");
    if !ip.is_empty() {
        return ip;
    }
    arr_at(svc, "/spec/clusterIPs").first().and_then(Value::as_str).unwrap_or("")
}

fn field_value(svc: &Value, label: &str) -> Option<String> {
    match label {
        "spec.clusterIP" => Some(cluster_ip(svc).to_string()),
        "spec.type" => Some(str_at(svc, "/spec/type").to_string()),
        _ => meta_field(svc, label),
    }
}

/// `loadBalancerStatusStringer` (wide, so never clipped): distinct IPs or hostnames, sorted.
pub fn load_balancer_ingress(status: &Value, ptr: &str) -> String {
    let mut out: Vec<&str> = arr_at(status, ptr)
        .iter()
        .map(|i| {
            let ip = str_at(i, "/ip");
            if ip.is_empty() {
                str_at(i, "/hostname")
            } else {
                ip
            }
        })
        .filter(|s| !s.is_empty())
        .collect();
    out.sort_unstable();
    out.dedup();
    out.join(",")
}

fn external_ip(svc: &Value) -> String {
    let external: Vec<&str> = arr_at(svc, "/spec/externalIPs").iter().filter_map(Value::as_str).collect();
    match str_at(svc, "/spec/type") {
        "ClusterIP" | "NodePort" => {
            if external.is_empty() {
                "<none>".into()
            } else {
                external.join(",")
            }
        }
        "LoadBalancer" => {
            let lb = load_balancer_ingress(svc, "/status/loadBalancer/ingress");
            if !external.is_empty() {
                let mut all: Vec<&str> = if lb.is_empty() { Vec::new() } else { lb.split(',').collect() };
                all.extend(external);
                return all.join(",");
            }
            if lb.is_empty() {
                "<pending>".into()
            } else {
                lb
            }
        }
        "ExternalName" => str_at(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".into(),
    }
}

fn ports(svc: &Value) -> String {
    let pieces: Vec<String> = arr_at(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let port = i64_at(p, "/port");
            let protocol = str_at(p, "/protocol");
            let node_port = i64_at(p, "/nodePort");
            if node_port > 0 {
                format!("{port}:{node_port}/{protocol}")
            } else {
                format!("{port}/{protocol}")
            }
        })
        .collect();
    if pieces.is_empty() {
        "<none>".into()
    } else {
        pieces.join(",")
    }
}

/// `printService`: Name, Type, Cluster-IP, External-IP, Port(s), Age, Selector.
fn row(svc: &Value, now: Timestamp) -> Vec<Value> {
    let ip = cluster_ip(svc);
    vec![
        name(svc),
        s(str_at(svc, "/spec/type")),
        s(if ip.is_empty() { "<none>" } else { ip }),
        s(external_ip(svc)),
        s(ports(svc)),
        age(svc, now),
        s(format_labels(svc.pointer("/spec/selector"))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn cluster_ip_service() {
        let svc = json!({
            "metadata": {"name": "kubernetes", "creationTimestamp": "2024-04-01T12:00:00Z"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1", "clusterIPs": ["10.43.0.1"],
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}
        });
        assert_eq!(
            row(&svc, now()),
            vec![
                json!("kubernetes"),
                json!("ClusterIP"),
                json!("10.43.0.1"),
                json!("<none>"),
                json!("443/TCP"),
                json!("30d"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn node_port_service() {
        let svc = json!({
            "metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:58:00Z"},
            "spec": {"type": "NodePort", "clusterIPs": ["10.43.12.7"], "selector": {"app": "web"},
                     "ports": [{"port": 80, "nodePort": 31945, "protocol": "TCP"},
                               {"port": 443, "nodePort": 30443, "protocol": "TCP"}]}
        });
        assert_eq!(
            row(&svc, now()),
            vec![
                json!("web"),
                json!("NodePort"),
                json!("10.43.12.7"),
                json!("<none>"),
                json!("80:31945/TCP,443:30443/TCP"),
                json!("2m"),
                json!("app=web")
            ]
        );
    }

    #[test]
    fn load_balancer_and_external_name() {
        let pending = json!({"spec": {"type": "LoadBalancer", "clusterIP": "10.43.0.9"}});
        assert_eq!(row(&pending, now())[3], json!("<pending>"));
        let lb = json!({"spec": {"type": "LoadBalancer", "externalIPs": ["1.2.3.4"]},
                        "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example"}]}}});
        assert_eq!(row(&lb, now())[3], json!("5.6.7.8,lb.example,1.2.3.4"));
        let en = json!({"spec": {"type": "ExternalName", "externalName": "example.com"}});
        assert_eq!(row(&en, now())[2], json!("<none>"));
        assert_eq!(row(&en, now())[3], json!("example.com"));
        assert_eq!(field_value(&lb, "spec.type").as_deref(), Some("LoadBalancer"));
    }
}
