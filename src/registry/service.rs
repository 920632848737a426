//! Services (core/v1): RFC 1035 names, stored under /registry/services/specs; defaulting and
//! validation as kube-apiserver applies them; the write-path steps that allocate and release
//! cluster IPs and node ports (through `allocator`, called from `hooks`); the `kubectl get svc`
//! Table (Cluster-IP, External-IP, Port(s)) and the service field selectors.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::allocator::{self, Owner};
use super::names;
use super::print::*;
use super::status::{Result, StatusError};
use super::{Column, FieldError, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};
use crate::store::Store;

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
    default: default_service,
    validate: validate_service,
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

// ---------------------------------------------------------------------------------------------
// The shape of a Service, as the rest of this module reads it (after defaulting).

const TYPE_CLUSTER_IP: &str = "ClusterIP";
const TYPE_NODE_PORT: &str = "NodePort";
const TYPE_LOAD_BALANCER: &str = "LoadBalancer";
const TYPE_EXTERNAL_NAME: &str = "ExternalName";
const CLUSTER_IP_NONE: &str = "None";
/// v1.DefaultClientIPServiceAffinitySeconds and core.MaxClientIPServiceAffinitySeconds.
const DEFAULT_CLIENT_IP_TIMEOUT: i64 = 10800;
const MAX_CLIENT_IP_TIMEOUT: i64 = 86400;

/// ServiceSpec and ServicePort fields in Go's declaration order, as kube-apiserver writes them.
const SPEC_ORDER: &[&str] = &[
    "ports",
    "selector",
    "clusterIP",
    "clusterIPs",
    "type",
    "externalIPs",
    "sessionAffinity",
    "loadBalancerIP",
    "loadBalancerSourceRanges",
    "externalName",
    "externalTrafficPolicy",
    "healthCheckNodePort",
    "publishNotReadyAddresses",
    "sessionAffinityConfig",
    "ipFamilies",
    "ipFamilyPolicy",
    "allocateLoadBalancerNodePorts",
    "loadBalancerClass",
    "internalTrafficPolicy",
    "trafficDistribution",
];
const PORT_ORDER: &[&str] = &["name", "protocol", "appProtocol", "port", "targetPort", "nodePort"];

fn svc_type(svc: &Value) -> &str {
    str_at(svc, "/spec/type")
}

fn needs_cluster_ip(svc: &Value) -> bool {
    svc_type(svc) != TYPE_EXTERNAL_NAME
}

fn needs_node_port(svc: &Value) -> bool {
    matches!(svc_type(svc), TYPE_NODE_PORT | TYPE_LOAD_BALANCER)
}

/// NodePort always allocates; LoadBalancer unless allocateLoadBalancerNodePorts is false.
fn should_allocate_node_ports(svc: &Value) -> bool {
    match svc_type(svc) {
        TYPE_NODE_PORT => true,
        TYPE_LOAD_BALANCER => opt_bool_at(svc, "/spec/allocateLoadBalancerNodePorts") != Some(false),
        _ => false,
    }
}

/// `ExternallyAccessible`: reachable from outside the cluster, so externalTrafficPolicy applies.
fn externally_accessible(svc: &Value) -> bool {
    match svc_type(svc) {
        TYPE_NODE_PORT | TYPE_LOAD_BALANCER => true,
        TYPE_CLUSTER_IP => !arr_at(svc, "/spec/externalIPs").is_empty(),
        _ => false,
    }
}

/// `NeedsHealthCheck`: a LoadBalancer with externalTrafficPolicy Local gets a healthCheckNodePort.
fn needs_health_check(svc: &Value) -> bool {
    svc_type(svc) == TYPE_LOAD_BALANCER && str_at(svc, "/spec/externalTrafficPolicy") == "Local"
}

fn strings_at(svc: &Value, ptr: &str) -> Vec<String> {
    arr_at(svc, ptr).iter().map(|v| v.as_str().unwrap_or("").to_string()).collect()
}

fn is_headless(svc: &Value) -> bool {
    let ips = arr_at(svc, "/spec/clusterIPs");
    ips.len() == 1 && ips[0].as_str() == Some(CLUSTER_IP_NONE)
}

fn has_selector(svc: &Value) -> bool {
    map_at(svc, "/spec/selector").is_some_and(|m| !m.is_empty())
}

/// The cluster IP a stored Service holds in the allocator, if any.
fn held_ip(svc: &Value) -> Option<Ipv4Addr> {
    if !needs_cluster_ip(svc) || is_headless(svc) {
        return None;
    }
    match parse_ip_sloppy(str_at(svc, "/spec/clusterIP")) {
        Some(IpAddr::V4(ip)) => Some(ip),
        _ => None,
    }
}

/// Every node port a Service holds: its ports' nodePorts and its healthCheckNodePort.
fn held_ports(svc: &Value) -> Vec<u16> {
    let mut out: Vec<u16> = arr_at(svc, "/spec/ports")
        .iter()
        .map(|p| i64_at(p, "/nodePort"))
        .chain(std::iter::once(i64_at(svc, "/spec/healthCheckNodePort")))
        .filter_map(|n| u16::try_from(n).ok())
        .filter(|n| *n != 0)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

fn owner_of(svc: &Value) -> Owner {
    Owner { namespace: str_at(svc, "/metadata/namespace").to_string(), name: str_at(svc, "/metadata/name").to_string() }
}

/// Go's netutils.ParseIPSloppy: the standard forms, plus IPv4 octets with leading zeros.
fn parse_ip_sloppy(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (o, p) in octets.iter_mut().zip(&parts) {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = p.parse::<u16>().ok().and_then(|n| u8::try_from(n).ok())?;
    }
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// Sorts an object's keys into `order` (unknown keys last, as they were).
fn reorder(m: &mut Map<String, Value>, order: &[&str]) {
    let mut entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
    entries.sort_by_key(|(k, _)| order.iter().position(|o| o == k).unwrap_or(order.len()));
    m.extend(entries);
}

fn spec_mut(svc: &mut Value) -> Option<&mut Map<String, Value>> {
    svc.get_mut("spec").and_then(Value::as_object_mut)
}

// ---------------------------------------------------------------------------------------------
// Defaulting: SetDefaults_Service, plus what kube-apiserver fills in before allocating
// (clusterIPs from clusterIP, ipFamilies and ipFamilyPolicy) and the empty status.

/// Defaults a Service on create and update. Go zero values a protobuf body carries
/// (`clusterIP: ""`, `nodePort: 0`, `targetPort: 0`) count as unset.
pub fn default_service(svc: &mut Value) {
    let Some(obj) = svc.as_object_mut() else { return };
    let spec = obj.entry("spec").or_insert_with(|| json!({}));
    if spec.is_null() {
        *spec = json!({});
    }
    let mut ty = String::new();
    if let Some(spec) = spec.as_object_mut() {
        default_spec(spec);
        ty = spec.get("type").and_then(Value::as_str).unwrap_or("").to_string();
    }
    // PrepareForCreate: a client does not set the status of a new Service. (Generic create
    // clears metadata.resourceVersion before defaulting; update sets it.)
    let creating =
        obj.get("metadata").and_then(|m| m.get("resourceVersion")).and_then(Value::as_str).is_none_or(str::is_empty);
    let status = obj.entry("status").or_insert_with(|| json!({}));
    if !status.is_object() || creating {
        *status = json!({});
    }
    if let Some(status) = status.as_object_mut() {
        let lb = status.entry("loadBalancer").or_insert_with(|| json!({}));
        if !lb.is_object() {
            *lb = json!({});
        }
        if ty == TYPE_LOAD_BALANCER {
            if let Some(ingress) = lb.get_mut("ingress").and_then(Value::as_array_mut) {
                for ing in ingress.iter_mut().filter_map(Value::as_object_mut) {
                    let has_ip = ing.get("ip").and_then(Value::as_str).is_some_and(|s| !s.is_empty());
                    if has_ip && ing.get("ipMode").is_none_or(Value::is_null) {
                        ing.insert("ipMode".into(), json!("VIP"));
                    }
                }
            }
        }
    }
}

/// Fields Go omits when empty: a JSON null, "" of a plain string, 0, false or an empty list.
fn is_unset_spec_field(key: &str, v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => {
            s.is_empty()
                && matches!(
                    key,
                    "clusterIP"
                        | "type"
                        | "sessionAffinity"
                        | "loadBalancerIP"
                        | "externalName"
                        | "externalTrafficPolicy"
                )
        }
        Value::Number(n) => key == "healthCheckNodePort" && n.as_i64() == Some(0),
        Value::Bool(b) => key == "publishNotReadyAddresses" && !b,
        Value::Array(a) => {
            a.is_empty()
                && matches!(key, "ports" | "clusterIPs" | "externalIPs" | "loadBalancerSourceRanges" | "ipFamilies")
        }
        Value::Object(m) => m.is_empty() && key == "selector",
    }
}

fn default_spec(spec: &mut Map<String, Value>) {
    spec.retain(|k, v| !is_unset_spec_field(k, v));

    let affinity = spec.entry("sessionAffinity").or_insert_with(|| json!("None")).as_str().unwrap_or("").to_string();
    if affinity == "None" {
        spec.remove("sessionAffinityConfig");
    } else if affinity == "ClientIP" {
        let has_timeout = spec
            .get("sessionAffinityConfig")
            .and_then(|c| c.pointer("/clientIP/timeoutSeconds"))
            .is_some_and(|t| !t.is_null());
        if !has_timeout {
            spec.insert(
                "sessionAffinityConfig".into(),
                json!({"clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_TIMEOUT}}),
            );
        }
    }

    let ty = spec.entry("type").or_insert_with(|| json!(TYPE_CLUSTER_IP)).as_str().unwrap_or("").to_string();
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter_map(Value::as_object_mut) {
            default_port(port);
        }
    }

    let external_ips = spec.get("externalIPs").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let accessible = ty == TYPE_NODE_PORT || ty == TYPE_LOAD_BALANCER || (ty == TYPE_CLUSTER_IP && external_ips);
    if accessible && !spec.contains_key("externalTrafficPolicy") {
        spec.insert("externalTrafficPolicy".into(), json!("Cluster"));
    }
    if matches!(ty.as_str(), TYPE_NODE_PORT | TYPE_LOAD_BALANCER | TYPE_CLUSTER_IP)
        && !spec.contains_key("internalTrafficPolicy")
    {
        spec.insert("internalTrafficPolicy".into(), json!("Cluster"));
    }
    if ty == TYPE_LOAD_BALANCER && !spec.contains_key("allocateLoadBalancerNodePorts") {
        spec.insert("allocateLoadBalancerNodePorts".into(), json!(true));
    }

    // NormalizeClusterIPs: a client that sets only the singular field gets the plural one.
    if let Some(ip) = spec.get("clusterIP").and_then(Value::as_str).map(str::to_string) {
        if !spec.contains_key("clusterIPs") {
            spec.insert("clusterIPs".into(), json!([ip]));
        }
    }
    if ty != TYPE_EXTERNAL_NAME {
        default_ip_families(spec);
    }
    reorder(spec, SPEC_ORDER);
}

fn default_port(port: &mut Map<String, Value>) {
    port.retain(|k, v| {
        let zero = match k.as_str() {
            "name" | "protocol" => v.as_str() == Some(""),
            "nodePort" => v.as_i64() == Some(0),
            _ => false,
        };
        !(v.is_null() || zero)
    });
    if !port.contains_key("protocol") {
        port.insert("protocol".into(), json!("TCP"));
    }
    let target_unset = match port.get("targetPort") {
        None => true,
        Some(Value::Number(n)) => n.as_i64() == Some(0),
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    };
    if target_unset {
        let number = port.get("port").cloned().unwrap_or(json!(0));
        port.insert("targetPort".into(), number);
    }
    reorder(port, PORT_ORDER);
}

/// `initIPFamilyFields` on a single-stack IPv4 cluster: the policy is SingleStack (headless
/// services without a selector: RequireDualStack) and the families follow the cluster IPs.
/// IPv6 cluster IPs leave the families unset, for validation to reject.
fn default_ip_families(spec: &mut Map<String, Value>) {
    let ips: Vec<String> = spec
        .get("clusterIPs")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default();
    let headless = ips.len() == 1 && ips[0] == CLUSTER_IP_NONE;
    let selectorless = spec.get("selector").and_then(Value::as_object).is_none_or(|m| m.is_empty());
    if !spec.contains_key("ipFamilyPolicy") {
        let policy = if headless && selectorless { "RequireDualStack" } else { "SingleStack" };
        spec.insert("ipFamilyPolicy".into(), json!(policy));
    }
    if spec.contains_key("ipFamilies") {
        return;
    }
    let families: Vec<&str> = if headless {
        let single = spec.get("ipFamilyPolicy").and_then(Value::as_str) == Some("SingleStack");
        if selectorless && !single {
            vec!["IPv4", "IPv6"]
        } else {
            vec!["IPv4"]
        }
    } else if ips.is_empty() || (ips.len() == 1 && matches!(parse_ip_sloppy(&ips[0]), Some(IpAddr::V4(_)))) {
        vec!["IPv4"]
    } else {
        return;
    };
    spec.insert("ipFamilies".into(), json!(families));
}

// ---------------------------------------------------------------------------------------------
// Update fix-ups kube-apiserver applies before validating an update (patchAllocatedValues,
// NormalizeClusterIPs, dropTypeDependentFields). Validation runs them on a copy; the write
// path (`before_update`) on the object it stores.

fn prepare_update(new: &mut Value, old: &Value) {
    patch_allocated_values(new, old);
    normalize_cluster_ips_on_update(new, old);
    drop_type_dependent_fields(new, old);
    if let Some(spec) = spec_mut(new) {
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                reorder(port, PORT_ORDER);
            }
        }
        reorder(spec, SPEC_ORDER);
    }
}

/// A client that leaves out allocated values (a `kubectl replace` of the original manifest)
/// keeps them.
fn patch_allocated_values(new: &mut Value, old: &Value) {
    let both_ip = needs_cluster_ip(old) && needs_cluster_ip(new);
    let both_node_port = needs_node_port(old) && needs_node_port(new);
    let both_hc = needs_health_check(old) && needs_health_check(new);
    let old_ports = arr_at(old, "/spec/ports").to_vec();
    let old_hc = i64_at(old, "/spec/healthCheckNodePort");
    let Some(spec) = spec_mut(new) else { return };
    if both_ip {
        let old_ip = str_at(old, "/spec/clusterIP");
        if spec.get("clusterIP").and_then(Value::as_str).is_none_or(str::is_empty) && !old_ip.is_empty() {
            spec.insert("clusterIP".into(), json!(old_ip));
        }
        let new_ips_empty = spec.get("clusterIPs").and_then(Value::as_array).is_none_or(|a| a.is_empty());
        if new_ips_empty && !arr_at(old, "/spec/clusterIPs").is_empty() {
            spec.insert("clusterIPs".into(), json!(arr_at(old, "/spec/clusterIPs")));
        }
    }
    if both_node_port {
        let used_by = |ports: &[Value]| -> HashSet<i64> {
            ports.iter().map(|p| i64_at(p, "/nodePort")).filter(|n| *n != 0).collect()
        };
        let new_ports = spec.get("ports").and_then(Value::as_array).cloned().unwrap_or_default();
        let used: HashSet<i64> = used_by(&old_ports).intersection(&used_by(&new_ports)).copied().collect();
        let by_name: HashMap<&str, i64> =
            old_ports.iter().map(|p| (str_at(p, "/name"), i64_at(p, "/nodePort"))).collect();
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                if port.get("nodePort").and_then(Value::as_i64).unwrap_or(0) != 0 {
                    continue;
                }
                let name = port.get("name").and_then(Value::as_str).unwrap_or("");
                let old_value = by_name.get(name).copied().unwrap_or(0);
                if old_value != 0 && !used.contains(&old_value) {
                    port.insert("nodePort".into(), json!(old_value));
                }
            }
        }
    }
    if both_hc && spec.get("healthCheckNodePort").and_then(Value::as_i64).unwrap_or(0) == 0 && old_hc != 0 {
        spec.insert("healthCheckNodePort".into(), json!(old_hc));
    }
}

fn normalize_cluster_ips_on_update(new: &mut Value, old: &Value) {
    let old_ip = str_at(old, "/spec/clusterIP").to_string();
    let old_ips = arr_at(old, "/spec/clusterIPs").to_vec();
    let Some(spec) = spec_mut(new) else { return };
    let new_ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("").to_string();
    let new_ips = spec.get("clusterIPs").and_then(Value::as_array).cloned().unwrap_or_default();
    // An old client patched something else and left out clusterIPs.
    if !old_ips.is_empty() && new_ips.is_empty() && old_ip == new_ip {
        spec.insert("clusterIPs".into(), json!(old_ips));
    }
    if old_ip != new_ip {
        let same = new_ips == old_ips;
        if !old_ip.is_empty() && new_ip.is_empty() && same {
            spec.remove("clusterIPs");
        }
        if !new_ip.is_empty() && same {
            spec.insert("clusterIPs".into(), json!([new_ip]));
        }
    }
}

/// Clears what the new type no longer uses, when the client left it as it was.
fn drop_type_dependent_fields(new: &mut Value, old: &Value) {
    let same = |new: &Value, ptr: &str| new.pointer(ptr) == old.pointer(ptr);
    let mut remove: Vec<&str> = Vec::new();
    if needs_cluster_ip(old) && !needs_cluster_ip(new) {
        if same(new, "/spec/clusterIPs") {
            remove.extend(["clusterIP", "clusterIPs"]);
        }
        if same(new, "/spec/ipFamilies") {
            remove.push("ipFamilies");
        }
        if same(new, "/spec/ipFamilyPolicy") {
            remove.push("ipFamilyPolicy");
        }
    }
    let old_node_ports: HashSet<u16> = held_node_ports_of_ports(old);
    let clear_node_ports =
        needs_node_port(old) && !needs_node_port(new) && held_node_ports_of_ports(new).is_subset(&old_node_ports);
    if needs_health_check(old) && !needs_health_check(new) && same(new, "/spec/healthCheckNodePort") {
        remove.push("healthCheckNodePort");
    }
    if svc_type(old) == TYPE_LOAD_BALANCER && svc_type(new) != TYPE_LOAD_BALANCER {
        let old_alloc = opt_bool_at(old, "/spec/allocateLoadBalancerNodePorts");
        if old_alloc.is_some() && old_alloc == opt_bool_at(new, "/spec/allocateLoadBalancerNodePorts") {
            remove.push("allocateLoadBalancerNodePorts");
        }
        if same(new, "/spec/loadBalancerClass") {
            remove.push("loadBalancerClass");
        }
    }
    if externally_accessible(old) && !externally_accessible(new) && same(new, "/spec/externalTrafficPolicy") {
        remove.push("externalTrafficPolicy");
    }
    // Upstream clears the load-balancer status of any non-LoadBalancer; only a type change
    // can make it stale here, and status writes (whose spec is the old one) keep theirs.
    let not_lb = svc_type(old) == TYPE_LOAD_BALANCER && svc_type(new) != TYPE_LOAD_BALANCER;
    if let Some(spec) = spec_mut(new) {
        for k in remove {
            spec.remove(k);
        }
        if clear_node_ports {
            if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                    port.remove("nodePort");
                }
            }
        }
    }
    if not_lb {
        if let Some(obj) = new.as_object_mut() {
            let status = obj.entry("status").or_insert_with(|| json!({}));
            if let Some(status) = status.as_object_mut() {
                status.insert("loadBalancer".into(), json!({}));
            }
        }
    }
}

fn held_node_ports_of_ports(svc: &Value) -> HashSet<u16> {
    arr_at(svc, "/spec/ports")
        .iter()
        .filter_map(|p| u16::try_from(i64_at(p, "/nodePort")).ok())
        .filter(|n| *n != 0)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Validation: ValidateService / ValidateServiceUpdate, worded as field.Error prints them.

fn fe(field: impl Into<String>, reason: &'static str, message: String) -> FieldError {
    FieldError { field: field.into(), reason, message }
}

/// `Invalid value: <value>: <detail>`; `value` is already formatted as Go prints it.
fn invalid(field: impl Into<String>, value: &str, detail: &str) -> FieldError {
    fe(field, "FieldValueInvalid", format!("Invalid value: {value}: {detail}"))
}

fn required(field: impl Into<String>, detail: &str) -> FieldError {
    let message = if detail.is_empty() { "Required value".to_string() } else { format!("Required value: {detail}") };
    fe(field, "FieldValueRequired", message)
}

fn forbidden(field: impl Into<String>, detail: &str) -> FieldError {
    fe(field, "FieldValueForbidden", format!("Forbidden: {detail}"))
}

fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> FieldError {
    let list: Vec<String> = supported.iter().map(|s| names::quote(s)).collect();
    fe(field, "FieldValueNotSupported", format!("Unsupported value: {value}: supported values: {}", list.join(", ")))
}

fn duplicate(field: impl Into<String>, value: &str) -> FieldError {
    fe(field, "FieldValueDuplicate", format!("Duplicate value: {value}"))
}

fn q(s: &str) -> String {
    names::quote(s)
}

/// A `[]string` as Go's %#v prints it: `[]string{"a", "b"}`, `[]string(nil)` when empty.
fn go_strings(items: &[String], type_name: &str) -> String {
    if items.is_empty() {
        return format!("[]{type_name}(nil)");
    }
    let quoted: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[]{type_name}{{{}}}", quoted.join(", "))
}

/// A `*string` field's value as field errors print it: the string, or null.
fn go_opt_str(v: Option<&str>) -> String {
    v.map(q).unwrap_or_else(|| "null".into())
}

/// The `core.ServicePort{Protocol, Port}` key of a duplicate port, as %#v prints it.
fn service_port_key(protocol: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}",
        q(protocol)
    )
}

const PORT_RANGE_MSG: &str = "must be between 1 and 65535, inclusive";

fn valid_port_num(n: i64) -> bool {
    (1..=65535).contains(&n)
}

/// IsValidPortName.
fn port_name_errors(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name.len() > 15 {
        errs.push(names::max_len_error(15));
    }
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if name.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if name.starts_with('-') || name.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

const IP_MSG: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
const CIDR_MSG: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

fn valid_cidr(s: &str) -> bool {
    let Some((ip, len)) = s.split_once('/') else { return false };
    let Ok(len) = len.parse::<u8>() else { return false };
    match parse_ip_sloppy(ip) {
        Some(IpAddr::V4(_)) => len <= 32,
        Some(IpAddr::V6(_)) => len <= 128,
        None => false,
    }
}

/// ValidateNonSpecialIP.
fn non_special_ip_errors(field: &str, value: &str, ip: IpAddr) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if ip.is_unspecified() {
        errs.push(invalid(field, &q(value), &format!("may not be unspecified ({value})")));
    }
    if ip.is_loopback() {
        errs.push(invalid(field, &q(value), "may not be in the loopback range (127.0.0.0/8, ::1/128)"));
    }
    let (link_local, link_local_multicast) = match ip {
        IpAddr::V4(v4) => (v4.is_link_local(), v4.octets()[..3] == [224, 0, 0]),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            ((s[0] & 0xffc0) == 0xfe80, (s[0] & 0xff0f) == 0xff02)
        }
    };
    if link_local {
        errs.push(invalid(field, &q(value), "may not be in the link-local range (169.254.0.0/16, fe80::/10)"));
    }
    if link_local_multicast {
        errs.push(invalid(field, &q(value), "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"));
    }
    errs
}

/// The `validate` hook: ValidateService on create; on update ValidateServiceUpdate of the
/// object as kube-apiserver prepares it, then the IP-family checks of its allocator.
pub fn validate_service(new: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let prepared;
    let svc = match old {
        Some(old) => {
            let mut n = new.clone();
            prepare_update(&mut n, old);
            prepared = n;
            &prepared
        }
        None => new,
    };
    let mut errs = Vec::new();
    if let Some(old) = old {
        errs.extend(validate_update(svc, old));
    }
    errs.extend(validate_spec(svc));
    if cluster_ips_related_errors(svc).is_empty() {
        errs.extend(ip_family_errors(svc));
    }
    errs
}

fn validate_spec(svc: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ty = svc_type(svc);
    let headless = is_headless(svc);
    let ports = arr_at(svc, "/spec/ports");

    if ports.is_empty() && !headless && ty != TYPE_EXTERNAL_NAME {
        errs.push(required("spec.ports", ""));
    }
    match ty {
        TYPE_LOAD_BALANCER | TYPE_NODE_PORT if headless => {
            errs.push(invalid(
                "spec.clusterIPs[0]",
                &q(CLUSTER_IP_NONE),
                &format!("may not be set to 'None' for {ty} services"),
            ));
        }
        TYPE_EXTERNAL_NAME => {
            if !arr_at(svc, "/spec/clusterIPs").is_empty() {
                errs.push(forbidden("spec.clusterIPs", "may not be set for ExternalName services"));
            }
            if !arr_at(svc, "/spec/ipFamilies").is_empty() {
                errs.push(forbidden("spec.ipFamilies", "may not be set for ExternalName services"));
            }
            if at(svc, "/spec/ipFamilyPolicy").is_some() {
                errs.push(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"));
            }
            let name = str_at(svc, "/spec/externalName");
            let cname = name.strip_suffix('.').unwrap_or(name);
            if cname.is_empty() {
                errs.push(required("spec.externalName", ""));
            } else {
                for m in names::is_dns1123_subdomain(cname) {
                    errs.push(invalid("spec.externalName", &q(cname), &m));
                }
            }
        }
        _ => {}
    }

    let mut port_names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        let name = str_at(p, "/name");
        if ports.len() > 1 && name.is_empty() {
            errs.push(required(format!("{path}.name"), ""));
        } else if !name.is_empty() {
            for m in names::is_dns1123_label(name) {
                errs.push(invalid(format!("{path}.name"), &q(name), &m));
            }
            if !port_names.insert(name) {
                errs.push(duplicate(format!("{path}.name"), &q(name)));
            }
        }
        let port = i64_at(p, "/port");
        if !valid_port_num(port) {
            errs.push(invalid(format!("{path}.port"), &port.to_string(), PORT_RANGE_MSG));
        }
        let protocol = str_at(p, "/protocol");
        if protocol.is_empty() {
            errs.push(required(format!("{path}.protocol"), ""));
        } else if !matches!(protocol, "TCP" | "UDP" | "SCTP") {
            errs.push(not_supported(format!("{path}.protocol"), &q(protocol), &["SCTP", "TCP", "UDP"]));
        }
        match p.get("targetPort") {
            Some(Value::String(s)) => {
                for m in port_name_errors(s) {
                    errs.push(invalid(format!("{path}.targetPort"), &q(s), &m));
                }
            }
            Some(v) => {
                let n = v.as_i64().unwrap_or(0);
                if !valid_port_num(n) {
                    errs.push(invalid(format!("{path}.targetPort"), &n.to_string(), PORT_RANGE_MSG));
                }
            }
            None => {}
        }
        if let Some(app) = opt_str_at(p, "/appProtocol") {
            for m in names::validate_label_key(app) {
                errs.push(invalid(format!("{path}.appProtocol"), &q(app), &m));
            }
        }
    }

    if let Some(selector) = map_at(svc, "/spec/selector") {
        errs.extend(names::label_errors(selector, "spec.selector"));
    }

    match str_at(svc, "/spec/sessionAffinity") {
        "" => errs.push(required("spec.sessionAffinity", "")),
        "ClientIP" => {
            let when = "when session affinity type is ClientIP";
            if at(svc, "/spec/sessionAffinityConfig").is_none() {
                errs.push(required("spec.sessionAffinityConfig", when));
            } else if at(svc, "/spec/sessionAffinityConfig/clientIP").is_none() {
                errs.push(required("spec.sessionAffinityConfig.clientIP", when));
            } else if let Some(t) = opt_i64_at(svc, "/spec/sessionAffinityConfig/clientIP/timeoutSeconds") {
                if t <= 0 || t > MAX_CLIENT_IP_TIMEOUT {
                    errs.push(invalid(
                        "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                        &t.to_string(),
                        &format!("must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT}"),
                    ));
                }
            } else {
                errs.push(required("spec.sessionAffinityConfig.clientIP.timeoutSeconds", when));
            }
        }
        "None" => {
            if at(svc, "/spec/sessionAffinityConfig").is_some() {
                errs.push(forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"));
            }
        }
        other => errs.push(not_supported("spec.sessionAffinity", &q(other), &["ClientIP", "None"])),
    }

    errs.extend(cluster_ips_related_errors(svc));

    for (i, ip) in strings_at(svc, "/spec/externalIPs").iter().enumerate() {
        let field = format!("spec.externalIPs[{i}]");
        match parse_ip_sloppy(ip) {
            None => errs.push(invalid(field, &q(ip), IP_MSG)),
            Some(parsed) => errs.extend(non_special_ip_errors(&field, ip, parsed)),
        }
    }

    match ty {
        "" => errs.push(required("spec.type", "")),
        TYPE_CLUSTER_IP | TYPE_NODE_PORT | TYPE_LOAD_BALANCER | TYPE_EXTERNAL_NAME => {}
        other => {
            errs.push(not_supported("spec.type", &q(other), &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
        }
    }
    if ty == TYPE_CLUSTER_IP {
        for (i, p) in ports.iter().enumerate() {
            if i64_at(p, "/nodePort") != 0 {
                errs.push(forbidden(format!("spec.ports[{i}].nodePort"), "may not be used when `type` is 'ClusterIP'"));
            }
        }
    }
    let mut node_ports = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let np = i64_at(p, "/nodePort");
        if np != 0 && !node_ports.insert((str_at(p, "/protocol"), np)) {
            errs.push(duplicate(format!("spec.ports[{i}].nodePort"), &np.to_string()));
        }
    }
    let mut port_keys = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let (protocol, port) = (str_at(p, "/protocol"), i64_at(p, "/port"));
        if !port_keys.insert((protocol, port)) {
            errs.push(duplicate(format!("spec.ports[{i}]"), &service_port_key(protocol, port)));
        }
    }

    let source_ranges = strings_at(svc, "/spec/loadBalancerSourceRanges");
    if !source_ranges.is_empty() {
        if ty != TYPE_LOAD_BALANCER {
            errs.push(forbidden("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'"));
        }
        for (i, r) in source_ranges.iter().enumerate() {
            let r = r.trim();
            if !valid_cidr(r) {
                errs.push(invalid(format!("spec.LoadBalancerSourceRanges[{i}]"), &q(r), CIDR_MSG));
            }
        }
    }

    let allocate_lb = at(svc, "/spec/allocateLoadBalancerNodePorts");
    if allocate_lb.is_some() && ty != TYPE_LOAD_BALANCER {
        errs.push(forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'"));
    }
    if ty == TYPE_LOAD_BALANCER && allocate_lb.is_none() {
        // Upstream's path really has no "spec." here.
        errs.push(required("allocateLoadBalancerNodePorts", ""));
    }

    match opt_str_at(svc, "/spec/loadBalancerClass") {
        Some(class) if ty == TYPE_LOAD_BALANCER => {
            for m in names::validate_label_key(class) {
                errs.push(invalid("spec.loadBalancerClass", &q(class), &m));
            }
        }
        Some(_) => errs.push(forbidden("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'")),
        None => {}
    }

    let etp = str_at(svc, "/spec/externalTrafficPolicy");
    if !externally_accessible(svc) {
        if !etp.is_empty() {
            errs.push(invalid(
                "spec.externalTrafficPolicy",
                &q(etp),
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(required("spec.externalTrafficPolicy", ""));
    } else if !matches!(etp, "Cluster" | "Local") {
        errs.push(not_supported("spec.externalTrafficPolicy", &q(etp), &["Cluster", "Local"]));
    }
    // A missing healthCheckNodePort is allocated after validation, so only set values are checked.
    let hc = i64_at(svc, "/spec/healthCheckNodePort");
    if hc != 0 {
        if !needs_health_check(svc) {
            errs.push(invalid(
                "spec.healthCheckNodePort",
                &hc.to_string(),
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            ));
        } else if !valid_port_num(hc) {
            errs.push(invalid("spec.healthCheckNodePort", &hc.to_string(), PORT_RANGE_MSG));
        }
    }

    match opt_str_at(svc, "/spec/internalTrafficPolicy") {
        None if matches!(ty, TYPE_NODE_PORT | TYPE_LOAD_BALANCER | TYPE_CLUSTER_IP) => {
            errs.push(required("spec.internalTrafficPolicy", ""));
        }
        Some(itp) if !matches!(itp, "Cluster" | "Local") => {
            errs.push(not_supported("spec.internalTrafficPolicy", &q(itp), &["Cluster", "Local"]));
        }
        _ => {}
    }
    if let Some(td) = opt_str_at(svc, "/spec/trafficDistribution") {
        if td != "PreferClose" {
            errs.push(not_supported("spec.trafficDistribution", &q(td), &["PreferClose"]));
        }
    }
    errs
}

/// ValidateServiceClusterIPsRelatedFields.
fn cluster_ips_related_errors(svc: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if svc_type(svc) == TYPE_EXTERNAL_NAME {
        return errs;
    }
    let cluster_ip = str_at(svc, "/spec/clusterIP");
    let ips = strings_at(svc, "/spec/clusterIPs");
    let ips_value = go_strings(&ips, "string");
    if !cluster_ip.is_empty() {
        if ips.is_empty() {
            errs.push(required("spec.clusterIPs", ""));
        } else if ips[0] != cluster_ip {
            errs.push(invalid("spec.clusterIPs", &ips_value, "first value must match `clusterIP`"));
        }
    } else if !ips.is_empty() {
        errs.push(invalid("spec.clusterIPs", &ips_value, "must be empty when `clusterIP` is not specified"));
    }

    let mut seen = HashSet::new();
    for (i, family) in strings_at(svc, "/spec/ipFamilies").iter().enumerate() {
        if !matches!(family.as_str(), "IPv4" | "IPv6") {
            errs.push(not_supported(format!("spec.ipFamilies[{i}]"), &q(family), &["IPv4", "IPv6"]));
        }
        if !seen.insert(family.clone()) {
            errs.push(duplicate(format!("spec.ipFamilies[{i}]"), &q(family)));
        }
    }
    if let Some(policy) = opt_str_at(svc, "/spec/ipFamilyPolicy") {
        if !matches!(policy, "SingleStack" | "PreferDualStack" | "RequireDualStack") {
            errs.push(not_supported(
                "spec.ipFamilyPolicy",
                &q(policy),
                &["PreferDualStack", "RequireDualStack", "SingleStack"],
            ));
        }
    }

    let mut has_invalid = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == CLUSTER_IP_NONE {
            if ips.len() > 1 {
                has_invalid = true;
                errs.push(invalid("spec.clusterIPs", &ips_value, "'None' must be the first and only value"));
            }
            continue;
        }
        if parse_ip_sloppy(ip).is_none() {
            has_invalid = true;
            errs.push(invalid(format!("spec.clusterIPs[{i}]"), &q(ip), IP_MSG));
        }
    }
    if ips.len() > 2 {
        errs.push(invalid("spec.clusterIPs", &ips_value, "may only hold up to 2 values"));
    }
    if has_invalid {
        return errs;
    }
    if ips.len() > 1 {
        let v6 = ips.iter().filter(|ip| matches!(parse_ip_sloppy(ip), Some(IpAddr::V6(_)))).count();
        if v6 == 0 || v6 == ips.len() {
            errs.push(invalid("spec.clusterIPs", &ips_value, "may specify no more than one IP for each IP family"));
        }
    }
    let families = strings_at(svc, "/spec/ipFamilies");
    if !is_headless(svc) && !ips.is_empty() && !families.is_empty() {
        for (i, (ip, family)) in ips.iter().zip(&families).enumerate() {
            let v6 = matches!(parse_ip_sloppy(ip), Some(IpAddr::V6(_)));
            if family == "IPv4" && v6 {
                errs.push(invalid(
                    format!("spec.clusterIPs[{i}]"),
                    &q(ip),
                    &format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if family == "IPv6" && !v6 {
                errs.push(invalid(
                    format!("spec.clusterIPs[{i}]"),
                    &q(ip),
                    &format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

/// What `initIPFamilyFields` rejects on a single-stack IPv4 cluster.
fn ip_family_errors(svc: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if svc_type(svc) == TYPE_EXTERNAL_NAME {
        return errs;
    }
    let policy = opt_str_at(svc, "/spec/ipFamilyPolicy");
    let ips = strings_at(svc, "/spec/clusterIPs");
    let families = strings_at(svc, "/spec/ipFamilies");
    if policy == Some("SingleStack") {
        if ips.len() == 2 {
            errs.push(invalid(
                "spec.ipFamilyPolicy",
                &q("SingleStack"),
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
            ));
        }
        if families.len() == 2 {
            errs.push(invalid(
                "spec.ipFamilyPolicy",
                &q("SingleStack"),
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
            ));
        }
    }
    for (i, ip) in ips.iter().enumerate() {
        if ip == CLUSTER_IP_NONE {
            break;
        }
        if i >= families.len() && matches!(parse_ip_sloppy(ip), Some(IpAddr::V6(_))) {
            errs.push(invalid(
                format!("spec.clusterIPs[{i}]"),
                &go_strings(&ips, "string"),
                "IPv6 is not configured on this cluster",
            ));
        }
    }
    if !errs.is_empty() || (is_headless(svc) && !has_selector(svc)) {
        return errs;
    }
    if policy == Some("RequireDualStack") {
        errs.push(invalid(
            "spec.ipFamilyPolicy",
            &q("RequireDualStack"),
            "this cluster is not configured for dual-stack services",
        ));
    }
    for (i, family) in families.iter().enumerate() {
        if family != "IPv4" {
            errs.push(invalid(format!("spec.ipFamilies[{i}]"), &q(family), "not configured on this cluster"));
        }
    }
    errs
}

/// The update-only checks of ValidateServiceUpdate.
fn validate_update(svc: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let external_name = svc_type(svc) == TYPE_EXTERNAL_NAME || svc_type(old) == TYPE_EXTERNAL_NAME;
    let policy = go_opt_str(opt_str_at(svc, "/spec/ipFamilyPolicy"));
    let single_stack = opt_str_at(svc, "/spec/ipFamilyPolicy") == Some("SingleStack");

    // validateUpgradeDowngradeClusterIPs
    if !(external_name || (is_headless(old) && is_headless(svc))) {
        let (old_ips, new_ips) = (strings_at(old, "/spec/clusterIPs"), strings_at(svc, "/spec/clusterIPs"));
        let value = go_strings(&new_ips, "string");
        let changed = "may not change once set";
        if old_ips.len() == new_ips.len() {
            for (i, (o, n)) in old_ips.iter().zip(&new_ips).enumerate() {
                if o != n {
                    errs.push(invalid(format!("spec.clusterIPs[{i}]"), &value, changed));
                }
            }
        } else if old_ips.len() > new_ips.len() {
            if new_ips.is_empty() {
                errs.push(invalid("spec.clusterIPs[0]", &value, "primary clusterIP can not be unset"));
            } else if new_ips[0] != old_ips[0] {
                errs.push(invalid("spec.clusterIPs[0]", &value, changed));
            }
            if new_ips.len() == 1 && !single_stack {
                errs.push(invalid(
                    "spec.ipFamilyPolicy",
                    &policy,
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
            errs.push(invalid("spec.clusterIPs[0]", &value, changed));
        }
    }

    // validateUpgradeDowngradeIPFamilies
    if !external_name && is_headless(old) == is_headless(svc) && !is_headless(svc) {
        let (old_f, new_f) = (strings_at(old, "/spec/ipFamilies"), strings_at(svc, "/spec/ipFamilies"));
        let value = go_strings(&new_f, "core.IPFamily");
        let ips_value = go_strings(&strings_at(svc, "/spec/clusterIPs"), "string");
        let changed = "may not change once set";
        if old_f.len() == new_f.len() {
            for (o, n) in old_f.iter().zip(&new_f) {
                if o != n {
                    errs.push(invalid("spec.ipFamilies[0]", &value, changed));
                }
            }
        } else if old_f.len() > new_f.len() {
            if arr_at(svc, "/spec/clusterIPs").is_empty() {
                errs.push(invalid("spec.ipFamilies[0]", &value, "primary ipFamily can not be unset"));
            }
            if !new_f.is_empty() && new_f[0] != old_f[0] {
                errs.push(invalid("spec.ipFamilies[0]", &ips_value, changed));
            }
            if new_f.len() == 1 && !single_stack {
                errs.push(invalid(
                    "spec.ipFamilyPolicy",
                    &policy,
                    "must be set to 'SingleStack' when releasing the secondary ipFamily",
                ));
            }
        } else if !old_f.is_empty() && !new_f.is_empty() && new_f[0] != old_f[0] {
            errs.push(invalid("spec.ipFamilies[0]", &ips_value, changed));
        }
    }

    // validateLoadBalancerClassField (update)
    if svc_type(old) == TYPE_LOAD_BALANCER && svc_type(svc) == TYPE_LOAD_BALANCER {
        let class = opt_str_at(svc, "/spec/loadBalancerClass");
        if class != opt_str_at(old, "/spec/loadBalancerClass") {
            errs.push(invalid("spec.loadBalancerClass", &go_opt_str(class), "may not change once set"));
        }
    }

    // validateServiceExternalTrafficFieldsUpdate
    if needs_health_check(old)
        && needs_health_check(svc)
        && i64_at(svc, "/spec/healthCheckNodePort") != i64_at(old, "/spec/healthCheckNodePort")
    {
        errs.push(forbidden("spec.healthCheckNodePort", "field is immutable"));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// The write path: allocation before a Service is stored, release once it no longer holds a
// value. `hooks` calls these; what one write allocated is given back if that write fails.

/// What one write allocated.
#[derive(Default)]
struct Held {
    ip: Option<Ipv4Addr>,
    ports: Vec<u16>,
}

impl Held {
    async fn give_back(self, store: &Store, owner: &Owner) {
        if let Some(ip) = self.ip {
            allocator::release_ip(store, ip, owner).await;
        }
        for port in self.ports {
            allocator::release_node_port(store, port, owner).await;
        }
    }
}

fn alloc_failure(svc: &Value, field: String, value: String, detail: String) -> StatusError {
    let err = invalid(field, &value, &detail);
    StatusError::invalid(&SERVICES, str_at(svc, "/metadata/name"), &[err])
}

fn store_failure(e: allocator::Error, internal: impl FnOnce(&allocator::Error) -> String) -> StatusError {
    match e {
        allocator::Error::Store(e) => e.into(),
        e => StatusError::internal(internal(&e)),
    }
}

/// Allocates spec.clusterIP (the requested one, or any free one) and sets clusterIP/clusterIPs.
async fn allocate_cluster_ip(store: &Store, svc: &mut Value, owner: &Owner, held: &mut Held) -> Result<()> {
    let requested = str_at(svc, "/spec/clusterIP").to_string();
    let ip = if requested.is_empty() {
        allocator::allocate_ip(store, None, owner)
            .await
            .map_err(|e| store_failure(e, |e| format!("failed to allocate a serviceIP: {e}")))?
    } else {
        let Some(IpAddr::V4(ip)) = parse_ip_sloppy(&requested) else {
            return Err(StatusError::internal(format!("failed to parse service IP {requested:?}")));
        };
        allocator::allocate_ip(store, Some(ip), owner).await.map_err(|e| match e {
            allocator::Error::Store(e) => e.into(),
            e => alloc_failure(
                svc,
                "spec.clusterIPs".into(),
                go_strings(&strings_at(svc, "/spec/clusterIPs"), "string"),
                format!("failed to allocate IP {requested}: {e}"),
            ),
        })?
    };
    held.ip = Some(ip);
    if let Some(spec) = spec_mut(svc) {
        spec.insert("clusterIP".into(), json!(ip.to_string()));
        spec.insert("clusterIPs".into(), json!([ip.to_string()]));
    }
    Ok(())
}

async fn allocate_requested_port(
    store: &Store,
    svc: &Value,
    i: usize,
    port: i64,
    owner: &Owner,
    held: &mut Held,
) -> Result<u16> {
    let p = allocator::allocate_node_port(store, Some(port), owner).await.map_err(|e| match e {
        allocator::Error::Store(e) => e.into(),
        e => alloc_failure(svc, format!("spec.ports[{i}].nodePort"), port.to_string(), e.to_string()),
    })?;
    held.ports.push(p);
    Ok(p)
}

async fn allocate_any_port(store: &Store, owner: &Owner, held: &mut Held) -> Result<u16> {
    let p = allocator::allocate_node_port(store, None, owner)
        .await
        .map_err(|e| store_failure(e, |e| format!("failed to allocate a nodePort: {e}")))?;
    held.ports.push(p);
    Ok(p)
}

fn set_node_ports(svc: &mut Value, node_ports: &[i64]) {
    if let Some(ports) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for (port, np) in ports.iter_mut().zip(node_ports) {
            if let Some(p) = port.as_object_mut() {
                if *np != 0 {
                    p.insert("nodePort".into(), json!(np));
                    reorder(p, PORT_ORDER);
                }
            }
        }
    }
}

/// `initNodePorts`: ports with the same number share a node port; requested ones are claimed.
async fn init_node_ports(store: &Store, svc: &mut Value, owner: &Owner, held: &mut Held) -> Result<()> {
    let should_allocate = should_allocate_node_ports(svc);
    let ports: Vec<i64> = arr_at(svc, "/spec/ports").iter().map(|p| i64_at(p, "/port")).collect();
    let mut node_ports: Vec<i64> = arr_at(svc, "/spec/ports").iter().map(|p| i64_at(p, "/nodePort")).collect();
    let mut by_port: HashMap<i64, i64> = HashMap::new();
    for i in 0..ports.len() {
        if node_ports[i] == 0 && !should_allocate {
            continue;
        }
        match by_port.get(&ports[i]).copied() {
            None => {
                let requested =
                    (0..ports.len()).find(|&j| ports[j] == ports[i] && node_ports[j] != 0).map(|j| node_ports[j]);
                let np = match requested {
                    Some(np) => allocate_requested_port(store, svc, i, np, owner, held).await?,
                    None => allocate_any_port(store, owner, held).await?,
                };
                node_ports[i] = i64::from(np);
                by_port.insert(ports[i], i64::from(np));
            }
            Some(shared) if node_ports[i] == 0 => node_ports[i] = shared,
            Some(shared) if node_ports[i] != shared => {
                allocate_requested_port(store, svc, i, node_ports[i], owner, held).await?;
            }
            Some(_) => {}
        }
    }
    set_node_ports(svc, &node_ports);
    Ok(())
}

/// `updateNodePorts`: claims node ports the old object did not hold and fills missing ones.
async fn update_node_ports(store: &Store, old: &Value, svc: &mut Value, owner: &Owner, held: &mut Held) -> Result<()> {
    let should_allocate = should_allocate_node_ports(svc);
    let old_ports: HashSet<i64> =
        arr_at(old, "/spec/ports").iter().map(|p| i64_at(p, "/nodePort")).filter(|n| *n != 0).collect();
    let mut node_ports: Vec<i64> = arr_at(svc, "/spec/ports").iter().map(|p| i64_at(p, "/nodePort")).collect();
    let mut claimed = HashSet::new();
    for (i, np) in node_ports.iter_mut().enumerate() {
        if *np == 0 && !should_allocate {
            continue;
        }
        if *np != 0 {
            if !old_ports.contains(np) && !claimed.contains(np) {
                allocate_requested_port(store, svc, i, *np, owner, held).await?;
                claimed.insert(*np);
            }
        } else {
            *np = i64::from(allocate_any_port(store, owner, held).await?);
        }
    }
    set_node_ports(svc, &node_ports);
    Ok(())
}

/// Claims spec.healthCheckNodePort (or any free port) for a LoadBalancer with the Local policy.
async fn allocate_health_check_port(store: &Store, svc: &mut Value, owner: &Owner, held: &mut Held) -> Result<()> {
    let requested = i64_at(svc, "/spec/healthCheckNodePort");
    if requested != 0 {
        let p = allocator::allocate_node_port(store, Some(requested), owner).await.map_err(|e| {
            store_failure(e, |e| format!("failed to allocate requested HealthCheck NodePort {requested}: {e}"))
        })?;
        held.ports.push(p);
    } else {
        let p = allocator::allocate_node_port(store, None, owner)
            .await
            .map_err(|e| store_failure(e, |e| format!("failed to allocate a HealthCheck NodePort 0: {e}")))?;
        held.ports.push(p);
        if let Some(spec) = spec_mut(svc) {
            spec.insert("healthCheckNodePort".into(), json!(p));
            reorder(spec, SPEC_ORDER);
        }
    }
    Ok(())
}

async fn allocate_for_create(store: &Store, svc: &mut Value, owner: &Owner, held: &mut Held) -> Result<()> {
    if needs_cluster_ip(svc) && !is_headless(svc) {
        allocate_cluster_ip(store, svc, owner, held).await?;
    }
    if needs_node_port(svc) {
        init_node_ports(store, svc, owner, held).await?;
    }
    if needs_health_check(svc) {
        allocate_health_check_port(store, svc, owner, held).await?;
    }
    Ok(())
}

async fn allocate_for_update(
    store: &Store,
    old: &Value,
    svc: &mut Value,
    owner: &Owner,
    held: &mut Held,
) -> Result<()> {
    if needs_cluster_ip(svc) && !is_headless(svc) {
        let want = str_at(svc, "/spec/clusterIP");
        let already_held = !want.is_empty() && parse_ip_sloppy(want) == held_ip(old).map(IpAddr::V4);
        if !already_held {
            allocate_cluster_ip(store, svc, owner, held).await?;
        }
    }
    if needs_node_port(svc) {
        update_node_ports(store, old, svc, owner, held).await?;
    }
    if !needs_health_check(old) && needs_health_check(svc) {
        allocate_health_check_port(store, svc, owner, held).await?;
    }
    Ok(())
}

/// Before a new Service is stored: clears the status a client sent (PrepareForCreate) and
/// allocates its cluster IP and node ports. On failure nothing stays allocated.
pub async fn before_create(store: &Store, svc: &mut Value) -> Result<()> {
    if let Some(obj) = svc.as_object_mut() {
        obj.insert("status".into(), json!({"loadBalancer": {}}));
    }
    if let Err(e) = allocator::ensure_service_cidr(store).await {
        tracing::warn!(error = %e, "writing the kubernetes ServiceCIDR");
    }
    let owner = owner_of(svc);
    let mut held = Held::default();
    let result = allocate_for_create(store, svc, &owner, &mut held).await;
    if result.is_err() {
        held.give_back(store, &owner).await;
    }
    result
}

/// Before an update is stored: applies the update fix-ups validation assumed, then allocates
/// what the new object needs and the old one did not hold.
pub async fn before_update(store: &Store, old: &Value, new: &mut Value) -> Result<()> {
    prepare_update(new, old);
    let removed =
        new.pointer("/metadata/deletionTimestamp").is_some() && arr_at(new, "/metadata/finalizers").is_empty();
    if removed {
        // This write deletes the object; after_delete releases what it held.
        return Ok(());
    }
    let owner = owner_of(new);
    let mut held = Held::default();
    let result = allocate_for_update(store, old, new, &owner, &mut held).await;
    if result.is_err() {
        held.give_back(store, &owner).await;
    }
    result
}

/// After an update (or, with the roles swapped, a failed one): releases what `old` held and
/// `new` does not.
pub async fn after_update(store: &Store, old: &Value, new: &Value) {
    let owner = owner_of(old);
    if let Some(ip) = held_ip(old) {
        if held_ip(new) != Some(ip) {
            allocator::release_ip(store, ip, &owner).await;
        }
    }
    let kept = held_ports(new);
    for port in held_ports(old) {
        if !kept.contains(&port) {
            allocator::release_node_port(store, port, &owner).await;
        }
    }
}

/// After a Service is gone (or its create failed): releases everything it held.
pub async fn after_delete(store: &Store, svc: &Value) {
    let owner = owner_of(svc);
    if let Some(ip) = held_ip(svc) {
        allocator::release_ip(store, ip, &owner).await;
    }
    for port in held_ports(svc) {
        allocator::release_node_port(store, port, &owner).await;
    }
}

/// Repairs the allocator against every stored Service (see `allocator::repair`): for a data
/// dir written before allocation existed, or after a crash between allocating and storing.
/// Call once at startup, before the API serves.
pub async fn repair_allocations(store: &Store) -> Result<()> {
    let mut holdings = Vec::new();
    for kv in store.list(&format!("{}/", SERVICES.storage_prefix), None, 0)?.items {
        let Ok(svc) = serde_json::from_slice::<Value>(&kv.value) else { continue };
        holdings.push(allocator::Holding { owner: owner_of(&svc), ip: held_ip(&svc), node_ports: held_ports(&svc) });
    }
    allocator::repair(store, &holdings).await.map_err(|e| store_failure(e, |e| format!("repairing allocations: {e}")))
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

    // ---- defaulting ----

    fn defaulted(mut svc: Value) -> Value {
        default_service(&mut svc);
        svc
    }

    fn messages(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(|e| format!("{}: {}", e.field, e.message)).collect()
    }

    #[test]
    fn a_bare_service_gets_upstream_defaults() {
        let svc = defaulted(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
        }));
        assert_eq!(
            svc["spec"],
            json!({
                "ports": [{"protocol": "TCP", "port": 80, "targetPort": 80}],
                "selector": {"app": "web"},
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster"
            })
        );
        assert_eq!(svc["status"], json!({"loadBalancer": {}}));
        // Go's field order.
        let keys: Vec<&String> = svc["spec"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["ports", "selector", "type", "sessionAffinity", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"]
        );
        assert!(validate_service(&svc, None).is_empty(), "{:?}", validate_service(&svc, None));
    }

    #[test]
    fn protobuf_zero_values_count_as_unset() {
        let svc = defaulted(json!({
            "metadata": {"name": "np"},
            "spec": {"type": "NodePort", "clusterIP": "", "clusterIPs": [], "externalName": "", "healthCheckNodePort": 0,
                     "ports": [{"name": "", "protocol": "", "port": 80, "targetPort": 0, "nodePort": 0},
                               {"name": "b", "port": 81, "targetPort": ""}]}
        }));
        assert_eq!(svc["spec"]["ports"][0], json!({"protocol": "TCP", "port": 80, "targetPort": 80}));
        assert_eq!(svc["spec"]["ports"][1], json!({"name": "b", "protocol": "TCP", "port": 81, "targetPort": 81}));
        for gone in ["clusterIP", "clusterIPs", "externalName", "healthCheckNodePort"] {
            assert!(svc["spec"].get(gone).is_none(), "{gone}");
        }
        assert_eq!(svc["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(svc["spec"]["internalTrafficPolicy"], "Cluster");
        // Two ports, one unnamed: upstream asks for a name.
        assert_eq!(messages(&validate_service(&svc, None)), ["spec.ports[0].name: Required value"]);
    }

    #[test]
    fn type_specific_defaults() {
        let status = json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb"}]}});
        let created = defaulted(json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}, "status": status}));
        assert_eq!(created["status"], json!({"loadBalancer": {}}), "a new Service's status is the server's");
        let lb = defaulted(json!({"metadata": {"resourceVersion": "7"},
                                  "spec": {"type": "LoadBalancer", "ports": [{"port": 443, "targetPort": "https"}]},
                                  "status": status}));
        assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
        assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
        assert_eq!(lb["spec"]["ports"][0]["targetPort"], "https");
        assert_eq!(
            lb["status"]["loadBalancer"]["ingress"],
            json!([{"ip": "1.2.3.4", "ipMode": "VIP"}, {"hostname": "lb"}])
        );

        let affinity = defaulted(json!({"spec": {"sessionAffinity": "ClientIP", "ports": [{"port": 1}]}}));
        assert_eq!(affinity["spec"]["sessionAffinityConfig"], json!({"clientIP": {"timeoutSeconds": 10800}}));
        let none = defaulted(json!({"spec": {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}}));
        assert!(none["spec"].get("sessionAffinityConfig").is_none());

        let external = defaulted(json!({"spec": {"type": "ExternalName", "externalName": "example.com"}}));
        for unset in ["ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy", "externalTrafficPolicy", "clusterIPs"] {
            assert!(external["spec"].get(unset).is_none(), "{unset}");
        }
        assert!(validate_service(&external, None).is_empty());

        let with_external_ips = defaulted(json!({"spec": {"externalIPs": ["192.0.2.1"], "ports": [{"port": 1}]}}));
        assert_eq!(with_external_ips["spec"]["externalTrafficPolicy"], "Cluster");
    }

    #[test]
    fn cluster_ips_and_families_follow_the_cluster_ip() {
        let fixed = defaulted(json!({"spec": {"clusterIP": "10.43.0.10", "ports": [{"port": 53, "protocol": "UDP"}]}}));
        assert_eq!(fixed["spec"]["clusterIPs"], json!(["10.43.0.10"]));
        assert_eq!(fixed["spec"]["ipFamilies"], json!(["IPv4"]));

        let headless = defaulted(json!({"spec": {"clusterIP": "None", "selector": {"app": "db"}}}));
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(headless["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(headless["spec"]["ipFamilies"], json!(["IPv4"]));
        assert!(validate_service(&headless, None).is_empty(), "headless services need no ports");

        let selectorless = defaulted(json!({"spec": {"clusterIP": "None"}}));
        assert_eq!(selectorless["spec"]["ipFamilyPolicy"], "RequireDualStack");
        assert_eq!(selectorless["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        assert!(validate_service(&selectorless, None).is_empty());

        let v6 =
            defaulted(json!({"metadata": {"name": "x"}, "spec": {"clusterIP": "fd00::1", "ports": [{"port": 1}]}}));
        assert_eq!(
            messages(&validate_service(&v6, None)),
            [r#"spec.clusterIPs[0]: Invalid value: []string{"fd00::1"}: IPv6 is not configured on this cluster"#]
        );
        let dual = defaulted(json!({"spec": {"ipFamilyPolicy": "RequireDualStack", "ports": [{"port": 1}]}}));
        assert_eq!(
            messages(&validate_service(&dual, None)),
            [
                r#"spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services"#
            ]
        );
    }

    // ---- validation ----

    #[test]
    fn ports_are_validated_as_upstream_words_it() {
        let svc = defaulted(json!({"spec": {"ports": [
            {"name": "http", "port": 0, "protocol": "ICMP", "targetPort": 70000},
            {"name": "http", "port": 80, "targetPort": "Not_A_Name"},
            {"name": "c", "port": 80}
        ]}}));
        assert_eq!(
            messages(&validate_service(&svc, None)),
            [
                "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
                r#"spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP""#,
                "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                r#"spec.ports[1].name: Duplicate value: "http""#,
                r#"spec.ports[1].targetPort: Invalid value: "Not_A_Name": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"#,
                r#"spec.ports[2]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}"#,
            ]
        );
        let none = defaulted(json!({"spec": {"selector": {"a": "b"}}}));
        assert_eq!(messages(&validate_service(&none, None)), ["spec.ports: Required value"]);
        let cip = defaulted(json!({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}}));
        assert_eq!(
            messages(&validate_service(&cip, None)),
            ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]
        );
        let bad_type = defaulted(json!({"spec": {"type": "Magic", "ports": [{"port": 80}]}}));
        assert!(messages(&validate_service(&bad_type, None)).contains(
            &r#"spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort""#.to_string()
        ));
    }

    #[test]
    fn cluster_ip_may_not_change_once_set() {
        let old = defaulted(json!({"metadata": {"name": "web"},
            "spec": {"clusterIP": "10.43.7.7", "ports": [{"port": 80}]}}));
        let mut new = old.clone();
        new["spec"]["clusterIP"] = json!("10.43.8.8");
        default_service(&mut new);
        assert_eq!(
            messages(&validate_service(&new, Some(&old))),
            [r#"spec.clusterIPs[0]: Invalid value: []string{"10.43.8.8"}: may not change once set"#]
        );
        // A client that leaves the allocated values out keeps them (kubectl replace).
        let mut replaced = old.clone();
        replaced["spec"].as_object_mut().unwrap().remove("clusterIP");
        replaced["spec"].as_object_mut().unwrap().remove("clusterIPs");
        default_service(&mut replaced);
        assert!(validate_service(&replaced, Some(&old)).is_empty());
        prepare_update(&mut replaced, &old);
        assert_eq!(replaced["spec"]["clusterIPs"], json!(["10.43.7.7"]));
        assert_eq!(replaced, old);
    }

    #[test]
    fn type_changes_drop_what_the_new_type_does_not_use() {
        let old = json!({"metadata": {"name": "web"}, "spec": {
            "ports": [{"protocol": "TCP", "port": 80, "targetPort": 80, "nodePort": 31000}],
            "clusterIP": "10.43.7.7", "clusterIPs": ["10.43.7.7"], "type": "NodePort", "sessionAffinity": "None",
            "externalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster"}, "status": {"loadBalancer": {}}});
        let mut to_cluster_ip = old.clone();
        to_cluster_ip["spec"]["type"] = json!("ClusterIP");
        default_service(&mut to_cluster_ip);
        assert!(
            validate_service(&to_cluster_ip, Some(&old)).is_empty(),
            "{:?}",
            validate_service(&to_cluster_ip, Some(&old))
        );
        prepare_update(&mut to_cluster_ip, &old);
        assert!(to_cluster_ip["spec"]["ports"][0].get("nodePort").is_none());
        assert!(to_cluster_ip["spec"].get("externalTrafficPolicy").is_none());
        assert_eq!(to_cluster_ip["spec"]["clusterIP"], "10.43.7.7");

        let mut to_external = old.clone();
        to_external["spec"]["type"] = json!("ExternalName");
        to_external["spec"]["externalName"] = json!("example.com");
        default_service(&mut to_external);
        assert!(
            validate_service(&to_external, Some(&old)).is_empty(),
            "{:?}",
            validate_service(&to_external, Some(&old))
        );
        prepare_update(&mut to_external, &old);
        for gone in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "externalTrafficPolicy"] {
            assert!(to_external["spec"].get(gone).is_none(), "{gone}");
        }
        assert!(held_ip(&to_external).is_none());
        assert!(held_ports(&to_external).is_empty());
    }

    // ---- allocation ----

    fn store() -> Store {
        let opts = crate::store::StoreOptions {
            history_revisions: 1_000_000,
            compaction_interval: std::time::Duration::from_secs(3600),
        };
        Store::open_with_backend(std::sync::Arc::new(crate::store::recording::RecordingBackend::default()), opts)
            .unwrap()
    }

    fn service(name: &str, spec: Value) -> Value {
        defaulted(json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec}))
    }

    fn taken(s: &Store, key: &str) -> bool {
        s.get(key).unwrap().is_some()
    }

    #[tokio::test]
    async fn create_allocates_an_ip_and_node_ports_and_delete_frees_them() {
        let s = store();
        let mut svc = service(
            "web",
            json!({"type": "NodePort", "ports": [
            {"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53}]}),
        );
        before_create(&s, &mut svc).await.unwrap();
        let ip = held_ip(&svc).unwrap();
        assert_eq!(svc["spec"]["clusterIPs"], json!([ip.to_string()]));
        assert!(taken(&s, &format!("/registry/ipaddresses/{ip}")));
        assert!(taken(&s, "/registry/servicecidrs/kubernetes"));
        let ports = arr_at(&svc, "/spec/ports");
        let np: Vec<i64> = ports.iter().map(|p| i64_at(p, "/nodePort")).collect();
        assert!(np.iter().all(|p| (30000..=32767).contains(p)), "{np:?}");
        assert_eq!(np[1], np[2], "ports with one number share a node port");
        assert_eq!(held_ports(&svc).len(), 2);
        assert!(validate_service(&svc, None).is_empty());

        after_delete(&s, &svc).await;
        assert!(!taken(&s, &format!("/registry/ipaddresses/{ip}")));
        for p in held_ports(&svc) {
            assert!(!taken(&s, &format!("/registry/servicenodeports/{p}")));
        }
    }

    #[tokio::test]
    async fn requested_values_out_of_range_or_taken_are_422() {
        let s = store();
        let mut far = service("far", json!({"clusterIP": "10.99.0.1", "ports": [{"port": 80}]}));
        let err = before_create(&s, &mut far).await.unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            r#"Service "far" is invalid: spec.clusterIPs: Invalid value: []string{"10.99.0.1"}: failed to allocate IP 10.99.0.1: the provided network does not match the current range"#
        );
        let mut first = service("a", json!({"clusterIP": "10.43.0.50", "ports": [{"port": 80}]}));
        before_create(&s, &mut first).await.unwrap();
        let mut second = service("b", json!({"clusterIP": "10.43.0.50", "ports": [{"port": 80}]}));
        let err = before_create(&s, &mut second).await.unwrap_err();
        assert!(
            err.message.ends_with("failed to allocate IP 10.43.0.50: provided IP is already allocated"),
            "{}",
            err.message
        );

        let mut np = service("np", json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 31000}]}));
        before_create(&s, &mut np).await.unwrap();
        let mut clash = service("clash", json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 31000}]}));
        let err = before_create(&s, &mut clash).await.unwrap_err();
        assert_eq!(
            err.message,
            r#"Service "clash" is invalid: spec.ports[0].nodePort: Invalid value: 31000: provided port is already allocated"#
        );
        // The failed create gave back the IP it had allocated before the port failed.
        assert_eq!(s.count("/registry/ipaddresses/").unwrap(), 2);
        let mut low = service("low", json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}));
        let err = before_create(&s, &mut low).await.unwrap_err();
        assert!(err.message.ends_with(
            "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767"
        ));
    }

    #[tokio::test]
    async fn type_changes_allocate_and_release() {
        let s = store();
        let mut old = service("web", json!({"type": "NodePort", "ports": [{"port": 80}]}));
        before_create(&s, &mut old).await.unwrap();
        let port = held_ports(&old)[0];
        let ip = held_ip(&old).unwrap();

        // NodePort -> ClusterIP keeps the IP and gives the node port back.
        let mut new = old.clone();
        new["spec"]["type"] = json!("ClusterIP");
        default_service(&mut new);
        before_update(&s, &old, &mut new).await.unwrap();
        after_update(&s, &old, &new).await;
        assert_eq!(held_ip(&new), Some(ip));
        assert!(!taken(&s, &format!("/registry/servicenodeports/{port}")));
        assert!(taken(&s, &format!("/registry/ipaddresses/{ip}")));

        // ClusterIP -> ExternalName gives the IP back; and back to ClusterIP gets a new one.
        let mut external = new.clone();
        external["spec"]["type"] = json!("ExternalName");
        external["spec"]["externalName"] = json!("example.com");
        default_service(&mut external);
        before_update(&s, &new, &mut external).await.unwrap();
        after_update(&s, &new, &external).await;
        assert!(!taken(&s, &format!("/registry/ipaddresses/{ip}")));
        let mut back = external.clone();
        back["spec"]["type"] = json!("NodePort");
        back["spec"].as_object_mut().unwrap().remove("externalName");
        default_service(&mut back);
        assert!(validate_service(&back, Some(&external)).is_empty(), "{:?}", validate_service(&back, Some(&external)));
        before_update(&s, &external, &mut back).await.unwrap();
        assert!(held_ip(&back).is_some());
        assert_eq!(held_ports(&back).len(), 1);
        // The write failed: what it allocated goes back.
        after_update(&s, &back, &external).await;
        assert_eq!(s.count("/registry/ipaddresses/").unwrap(), 0);
        assert_eq!(s.count("/registry/servicenodeports/").unwrap(), 0);
    }
}
