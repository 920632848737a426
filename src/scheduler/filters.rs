//! The filter plugins of kube-scheduler's default profile, in its order (NodeUnschedulable,
//! NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit, PodTopologySpread,
//! InterPodAffinity), the per-attempt state they share (PreFilter), and the messages an
//! unschedulable pod gets: FitError's reason histogram and DefaultPreemption's verdict.

use super::cache::{Cache, NodeInfo, PodInfo};
use crate::controllers::pods::selector_matches;
use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodAffinityTerm, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub const ERR_UNSCHEDULABLE: &str = "node(s) were unschedulable";
pub const ERR_NODE_NAME: &str = "node(s) didn't match the requested node name";
pub const ERR_NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
pub const ERR_NODE_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
pub const ERR_TOO_MANY_PODS: &str = "Too many pods";
pub const ERR_SPREAD: &str = "node(s) didn't match pod topology spread constraints";
pub const ERR_SPREAD_LABEL: &str = "node(s) didn't match pod topology spread constraints (missing required label)";
pub const ERR_POD_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ERR_POD_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const ERR_EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";
pub const NO_NODES: &str = "no nodes available to schedule pods";
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
pub const PREEMPTION_NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const PREEMPT_NEVER: &str = "not eligible due to preemptionPolicy=Never.";

pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Whether preemption could help (Unschedulable) or not (UnschedulableAndUnresolvable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unschedulable,
    Unresolvable,
}

/// The filter plugins, as bits: which ones rejected a pod decides which cluster events may
/// make it schedulable (kube-scheduler's queueing hints, coarsely).
pub mod plugin {
    pub const NODE_UNSCHEDULABLE: u8 = 1;
    pub const NODE_NAME: u8 = 1 << 1;
    pub const TAINT_TOLERATION: u8 = 1 << 2;
    pub const NODE_AFFINITY: u8 = 1 << 3;
    pub const NODE_PORTS: u8 = 1 << 4;
    pub const NODE_RESOURCES_FIT: u8 = 1 << 5;
    pub const POD_TOPOLOGY_SPREAD: u8 = 1 << 6;
    pub const INTER_POD_AFFINITY: u8 = 1 << 7;
    pub const ALL: u8 = u8::MAX;
    /// What a placed pod going away (deleted, finished, binding undone) may help.
    pub const POD_REMOVED: u8 = NODE_PORTS | NODE_RESOURCES_FIT | POD_TOPOLOGY_SPREAD | INTER_POD_AFFINITY;
    /// What a placed pod appearing or changing its labels may help.
    pub const POD_LABELS: u8 = POD_TOPOLOGY_SPREAD | INTER_POD_AFFINITY;
}

/// Why a node was filtered out, and by which plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub reasons: Vec<String>,
    pub plugin: u8,
}

impl Status {
    fn new(plugin: u8, code: Code, reason: impl Into<String>) -> Status {
        Status { code, reasons: vec![reason.into()], plugin }
    }
}

/// Namespace labels, for namespace selectors in pod affinity terms.
pub type NamespaceLabels<'a> = &'a dyn Fn(&str) -> Option<BTreeMap<String, String>>;

/// A pod (anti-)affinity term, resolved for matching.
#[derive(Debug, Clone)]
pub struct Term {
    pub namespaces: Vec<String>,
    pub namespace_selector: Option<LabelSelector>,
    pub selector: Option<LabelSelector>,
    pub topology_key: String,
    pub weight: i64,
}

impl Term {
    fn new(owner_ns: &str, t: &PodAffinityTerm, weight: i64) -> Term {
        let mut namespaces = t.namespaces.clone().unwrap_or_default();
        if namespaces.is_empty() && t.namespace_selector.is_none() {
            namespaces.push(owner_ns.to_string());
        }
        Term {
            namespaces,
            namespace_selector: t.namespace_selector.clone(),
            selector: t.label_selector.clone(),
            topology_key: t.topology_key.clone(),
            weight,
        }
    }

    pub fn matches(&self, pod: &Pod, ns_labels: NamespaceLabels) -> bool {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let ns_ok = self.namespaces.iter().any(|n| n == ns)
            || self.namespace_selector.as_ref().is_some_and(|s| selector_matches(s, ns_labels(ns).as_ref()));
        ns_ok && self.selector.as_ref().is_some_and(|s| selector_matches(s, pod.metadata.labels.as_ref()))
    }
}

fn required_terms(pod: &Pod, anti: bool) -> Vec<Term> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let a = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
    let terms = if anti {
        a.and_then(|a| a.pod_anti_affinity.as_ref()).and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
    } else {
        a.and_then(|a| a.pod_affinity.as_ref()).and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())
    };
    terms.into_iter().flatten().map(|t| Term::new(ns, t, 1)).collect()
}

fn preferred_terms(pod: &Pod, anti: bool) -> Vec<Term> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let a = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
    let terms = if anti {
        a.and_then(|a| a.pod_anti_affinity.as_ref()).and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
    } else {
        a.and_then(|a| a.pod_affinity.as_ref()).and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())
    };
    terms.into_iter().flatten().map(|t| Term::new(ns, &t.pod_affinity_term, i64::from(t.weight))).collect()
}

/// A topology spread constraint with its domain counts.
#[derive(Debug, Clone)]
pub struct Spread {
    pub max_skew: i64,
    pub key: String,
    pub selector: LabelSelector,
    pub hard: bool,
    pub self_match: i64,
    pub counts: HashMap<String, i64>,
    pub min: i64,
    has_selector: bool,
    /// Count only nodes that match the pod's node affinity (nodeAffinityPolicy Honor).
    honor_affinity: bool,
    honor_taints: bool,
    min_domains: Option<i64>,
}

/// Everything computed once per scheduling attempt (the PreFilter and PreScore state).
pub struct PodCtx<'a> {
    pub pod: &'a Pod,
    pub info: PodInfo,
    pub priority: i32,
    pub tolerations: &'a [Toleration],
    pub affinity: Vec<Term>,
    pub anti_affinity: Vec<Term>,
    /// (topology key, value) → existing pods matching the pod's affinity terms.
    affinity_counts: HashMap<(String, String), i64>,
    self_matches_affinity: bool,
    anti_counts: HashMap<(String, String), i64>,
    existing_anti_counts: HashMap<(String, String), i64>,
    pub spreads: Vec<Spread>,
    pub preferred_affinity: Vec<Term>,
    pub preferred_anti_affinity: Vec<Term>,
}

fn node_selector_of(pod: &Pod) -> Option<&NodeSelector> {
    pod.spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
}

fn topo(node: &NodeInfo, key: &str) -> Option<(String, String)> {
    node.label(key).map(|v| (key.to_string(), v.to_string()))
}

fn is_terminating(p: &PodInfo) -> bool {
    p.pod.metadata.deletion_timestamp.is_some()
}

impl<'a> PodCtx<'a> {
    pub fn new(pod: &'a Arc<Pod>, cache: &Cache, ns_labels: NamespaceLabels) -> PodCtx<'a> {
        let info = PodInfo::new(pod.clone());
        let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or(&[]);
        let affinity = required_terms(pod, false);
        let anti_affinity = required_terms(pod, true);
        let mut ctx = PodCtx {
            pod,
            priority: super::cache::priority(pod),
            tolerations,
            self_matches_affinity: !affinity.is_empty() && affinity.iter().all(|t| t.matches(pod, ns_labels)),
            affinity,
            anti_affinity,
            affinity_counts: HashMap::new(),
            anti_counts: HashMap::new(),
            existing_anti_counts: HashMap::new(),
            spreads: Vec::new(),
            preferred_affinity: preferred_terms(pod, false),
            preferred_anti_affinity: preferred_terms(pod, true),
            info,
        };
        // Existing pods' anti-affinity against this pod.
        for (existing, node) in cache.anti_affinity_pods() {
            for t in required_terms(&existing.pod, true) {
                if t.matches(pod, ns_labels) {
                    if let Some(k) = topo(node, &t.topology_key) {
                        *ctx.existing_anti_counts.entry(k).or_insert(0) += 1;
                    }
                }
            }
        }
        if !ctx.affinity.is_empty() || !ctx.anti_affinity.is_empty() {
            for node in cache.nodes() {
                for p in node.pods.values() {
                    for t in &ctx.affinity {
                        if t.matches(&p.pod, ns_labels) {
                            if let Some(k) = topo(node, &t.topology_key) {
                                *ctx.affinity_counts.entry(k).or_insert(0) += 1;
                            }
                        }
                    }
                    for t in &ctx.anti_affinity {
                        if t.matches(&p.pod, ns_labels) {
                            if let Some(k) = topo(node, &t.topology_key) {
                                *ctx.anti_counts.entry(k).or_insert(0) += 1;
                            }
                        }
                    }
                }
            }
        }
        ctx.spreads = ctx.spread_constraints(cache);
        ctx
    }

    fn spread_constraints(&self, cache: &Cache) -> Vec<Spread> {
        let pod = self.pod;
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let labels = pod.metadata.labels.as_ref();
        let mut out = Vec::new();
        for c in pod.spec.as_ref().and_then(|s| s.topology_spread_constraints.as_ref()).into_iter().flatten() {
            let mut selector = c.label_selector.clone().unwrap_or_default();
            for k in c.match_label_keys.iter().flatten() {
                if let Some(v) = labels.and_then(|l| l.get(k)) {
                    selector.match_expressions.get_or_insert_with(Vec::new).push(LabelSelectorRequirement {
                        key: k.clone(),
                        operator: "In".into(),
                        values: Some(vec![v.clone()]),
                    });
                }
            }
            let self_match = i64::from(c.label_selector.is_some() && selector_matches(&selector, labels));
            out.push(Spread {
                max_skew: i64::from(c.max_skew),
                key: c.topology_key.clone(),
                hard: c.when_unsatisfiable == "DoNotSchedule",
                self_match,
                counts: HashMap::new(),
                min: 0,
                honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
                min_domains: c.min_domains.map(i64::from),
                has_selector: c.label_selector.is_some(),
                selector,
            });
        }
        if out.is_empty() {
            return out;
        }
        let keys: Vec<String> = out.iter().map(|s| s.key.clone()).collect();
        for s in out.iter_mut() {
            for node in cache.nodes() {
                let Some(value) = node.label(&s.key) else { continue };
                if s.hard && !keys.iter().all(|k| node.label(k).is_some()) {
                    continue;
                }
                if s.honor_affinity && !node_affinity_matches(pod, node) {
                    continue;
                }
                if s.honor_taints && untolerated_taint(node, self.tolerations).is_some() {
                    continue;
                }
                let n = if s.has_selector {
                    node.pods
                        .values()
                        .filter(|p| !is_terminating(p) && p.namespace() == ns && selector_matches(&s.selector, p.labels()))
                        .count() as i64
                } else {
                    0
                };
                *s.counts.entry(value.to_string()).or_insert(0) += n;
            }
            s.min = s.counts.values().copied().min().unwrap_or(0);
            if s.min_domains.is_some_and(|m| (s.counts.len() as i64) < m) {
                s.min = 0;
            }
        }
        out
    }
}

/// v1helper.TolerationsTolerateTaint for one toleration.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if e != taint.effect {
            return false;
        }
    }
    let key = t.key.as_deref().unwrap_or("");
    let op = t.operator.as_deref().unwrap_or("Equal");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    if key.is_empty() && op != "Exists" {
        return false;
    }
    match op {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

fn untolerated_taint<'n>(node: &'n NodeInfo, tolerations: &[Toleration]) -> Option<&'n Taint> {
    let taints = node.node.as_ref()?.spec.as_ref()?.taints.as_ref()?;
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (value.and_then(|v| v.parse::<i64>().ok()), values.first().and_then(|b| b.parse::<i64>().ok())) else {
                return false;
            };
            if r.operator == "Gt" { v > bound } else { v < bound }
        }
        _ => false,
    }
}

/// Whether a node selector term matches the node (an empty term matches nothing).
pub fn term_matches(t: &NodeSelectorTerm, node: &NodeInfo) -> bool {
    let exprs = t.match_expressions.as_deref().unwrap_or(&[]);
    let fields = t.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|r| requirement_matches(r, node.label(&r.key)))
        && fields.iter().all(|r| r.key == "metadata.name" && requirement_matches(r, Some(node.name())))
}

/// nodeSelector and required node affinity.
pub fn node_affinity_matches(pod: &Pod, node: &NodeInfo) -> bool {
    if let Some(sel) = pod.spec.as_ref().and_then(|s| s.node_selector.as_ref()) {
        if sel.iter().any(|(k, v)| node.label(k) != Some(v.as_str())) {
            return false;
        }
    }
    match node_selector_of(pod) {
        Some(ns) => ns.node_selector_terms.iter().any(|t| term_matches(t, node)),
        None => true,
    }
}

/// Runs the filters on one node; the first failing plugin decides, as in the framework.
pub fn run_filters(ctx: &PodCtx, node: &NodeInfo) -> Result<(), Status> {
    let n = node.node.as_ref().ok_or_else(|| Status::new(plugin::NODE_UNSCHEDULABLE, Code::Unresolvable, ERR_UNSCHEDULABLE))?;
    // NodeUnschedulable
    if n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false) {
        let taint = Taint { key: TAINT_UNSCHEDULABLE.into(), effect: "NoSchedule".into(), ..Default::default() };
        if !ctx.tolerations.iter().any(|t| tolerates(t, &taint)) {
            return Err(Status::new(plugin::NODE_UNSCHEDULABLE, Code::Unresolvable, ERR_UNSCHEDULABLE));
        }
    }
    // NodeName
    if let Some(want) = ctx.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|s| !s.is_empty()) {
        if want != node.name() {
            return Err(Status::new(plugin::NODE_NAME, Code::Unresolvable, ERR_NODE_NAME));
        }
    }
    // TaintToleration
    if let Some(t) = untolerated_taint(node, ctx.tolerations) {
        let msg = format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value.as_deref().unwrap_or(""));
        return Err(Status::new(plugin::TAINT_TOLERATION, Code::Unresolvable, msg));
    }
    // NodeAffinity
    if !node_affinity_matches(ctx.pod, node) {
        return Err(Status::new(plugin::NODE_AFFINITY, Code::Unresolvable, ERR_NODE_AFFINITY));
    }
    // NodePorts
    if ctx.info.ports.iter().any(|p| node.ports.iter().any(|u| u.conflicts(p))) {
        return Err(Status::new(plugin::NODE_PORTS, Code::Unschedulable, ERR_NODE_PORTS));
    }
    // NodeResourcesFit
    let reasons = insufficient_resources(&ctx.info, node);
    if !reasons.is_empty() {
        return Err(Status { code: Code::Unschedulable, reasons, plugin: plugin::NODE_RESOURCES_FIT });
    }
    // PodTopologySpread
    for s in ctx.spreads.iter().filter(|s| s.hard) {
        let Some(value) = node.label(&s.key) else {
            return Err(Status::new(plugin::POD_TOPOLOGY_SPREAD, Code::Unresolvable, ERR_SPREAD_LABEL));
        };
        let count = s.counts.get(value).copied().unwrap_or(0);
        if count + s.self_match - s.min > s.max_skew {
            return Err(Status::new(plugin::POD_TOPOLOGY_SPREAD, Code::Unschedulable, ERR_SPREAD));
        }
    }
    // InterPodAffinity
    if !ctx.affinity.is_empty() {
        let satisfied = ctx.affinity.iter().all(|t| {
            topo(node, &t.topology_key).is_some_and(|k| ctx.affinity_counts.get(&k).copied().unwrap_or(0) > 0)
        });
        // The first pod of a group that matches its own terms may go anywhere with the keys.
        let first_of_group = ctx.affinity_counts.is_empty()
            && ctx.self_matches_affinity
            && ctx.affinity.iter().all(|t| node.label(&t.topology_key).is_some());
        if !satisfied && !first_of_group {
            return Err(Status::new(plugin::INTER_POD_AFFINITY, Code::Unresolvable, ERR_POD_AFFINITY));
        }
    }
    if ctx
        .anti_affinity
        .iter()
        .any(|t| topo(node, &t.topology_key).is_some_and(|k| ctx.anti_counts.get(&k).copied().unwrap_or(0) > 0))
    {
        return Err(Status::new(plugin::INTER_POD_AFFINITY, Code::Unschedulable, ERR_POD_ANTI_AFFINITY));
    }
    if !ctx.existing_anti_counts.is_empty() {
        let labels = node.labels();
        if labels.into_iter().flatten().any(|(k, v)| ctx.existing_anti_counts.get(&(k.clone(), v.clone())).copied().unwrap_or(0) > 0) {
            return Err(Status::new(plugin::INTER_POD_AFFINITY, Code::Unschedulable, ERR_EXISTING_ANTI_AFFINITY));
        }
    }
    Ok(())
}

/// NodeResourcesFit's reasons, in its order (pods, cpu, memory, ephemeral storage, others).
pub fn insufficient_resources(pod: &PodInfo, node: &NodeInfo) -> Vec<String> {
    let mut out = Vec::new();
    if node.pods.len() as i64 + 1 > node.allowed_pods {
        out.push(ERR_TOO_MANY_PODS.to_string());
    }
    let r = &pod.requests;
    if r.is_zero() {
        return out;
    }
    let (a, u) = (&node.allocatable, &node.requested);
    if r.milli_cpu > 0 && r.milli_cpu > a.milli_cpu - u.milli_cpu {
        out.push("Insufficient cpu".into());
    }
    if r.memory > 0 && r.memory > a.memory - u.memory {
        out.push("Insufficient memory".into());
    }
    if r.ephemeral_storage > 0 && r.ephemeral_storage > a.ephemeral_storage - u.ephemeral_storage {
        out.push("Insufficient ephemeral-storage".into());
    }
    for (name, q) in &r.scalar {
        if *q == 0 {
            continue;
        }
        let free = a.scalar.get(name).copied().unwrap_or(0) - u.scalar.get(name).copied().unwrap_or(0);
        if *q > free {
            out.push(format!("Insufficient {name}"));
        }
    }
    out
}

/// FitError's histogram: "<n> <reason>" sorted as strings, joined by ", ". Nodes without a
/// status of their own count under `absent`.
fn histogram<'s>(num_nodes: usize, statuses: impl Iterator<Item = &'s Status>, absent: Option<&str>) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut seen = 0usize;
    for s in statuses {
        seen += 1;
        for r in &s.reasons {
            *counts.entry(r.as_str()).or_insert(0) += 1;
        }
    }
    if let Some(a) = absent {
        if seen < num_nodes {
            *counts.entry(a).or_insert(0) += num_nodes - seen;
        }
    }
    let mut parts: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    parts.join(", ")
}

/// `0/N nodes are available: <histogram>.` followed by the PostFilter (preemption) message.
pub fn fit_error_message(num_nodes: usize, statuses: &[(String, Status)], post_filter: Option<&str>) -> String {
    let mut msg = format!("0/{num_nodes} nodes are available:");
    let h = histogram(num_nodes, statuses.iter().map(|(_, s)| s), None);
    if !h.is_empty() {
        msg.push_str(&format!(" {h}."));
    }
    if let Some(p) = post_filter.filter(|p| !p.is_empty()) {
        msg.push(' ');
        msg.push_str(p);
    }
    msg
}

/// What DefaultPreemption reports when it finds no victims: None when preemption would find
/// candidates (it is not carried out here; the message then has no PostFilter part).
pub fn preemption_message(ctx: &PodCtx, cache: &Cache, statuses: &[(String, Status)]) -> Option<String> {
    let policy = ctx.pod.spec.as_ref().and_then(|s| s.preemption_policy.as_deref());
    if policy == Some("Never") {
        return Some(format!("preemption: {PREEMPT_NEVER}"));
    }
    let num_nodes = cache.node_count();
    let mut results: Vec<Status> = Vec::new();
    for (name, status) in statuses.iter().filter(|(_, s)| s.code == Code::Unschedulable) {
        let Some(node) = cache.node(name) else { continue };
        if node.min_priority().is_none_or(|p| p >= ctx.priority) {
            results.push(Status::new(0, Code::Unresolvable, NO_VICTIMS));
            continue;
        }
        let victims: Vec<String> = node
            .pods
            .values()
            .filter(|p| super::cache::priority(&p.pod) < ctx.priority)
            .map(|p| p.key.clone())
            .collect();
        if victims.is_empty() {
            results.push(Status::new(0, Code::Unresolvable, NO_VICTIMS));
            continue;
        }
        match run_filters(ctx, &node.without(&victims)) {
            Ok(()) => return None,
            Err(s) => results.push(s),
        }
        let _ = status;
    }
    let h = histogram(num_nodes, results.iter(), Some(PREEMPTION_NOT_HELPFUL));
    Some(format!("preemption: 0/{num_nodes} nodes are available: {h}."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Node;
    use serde_json::json;

    fn node(name: &str, extra: serde_json::Value) -> Arc<Node> {
        let mut v = json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"}}});
        merge(&mut v, extra);
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn merge(a: &mut serde_json::Value, b: serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b,
        }
    }

    pub(crate) fn pod(name: &str, spec: serde_json::Value) -> Pod {
        let mut v = json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        merge(&mut v, json!({"spec": spec}));
        serde_json::from_value(v).unwrap()
    }

    fn no_ns(_: &str) -> Option<BTreeMap<String, String>> {
        None
    }

    fn check(cache: &Cache, p: &Pod) -> Vec<(String, Result<(), Status>)> {
        let p = Arc::new(p.clone());
        let ctx = PodCtx::new(&p, cache, &no_ns);
        cache.nodes().map(|n| (n.name().to_string(), run_filters(&ctx, n))).collect()
    }

    fn reasons(cache: &Cache, p: &Pod) -> Vec<String> {
        check(cache, p).into_iter().filter_map(|(_, r)| r.err()).flat_map(|s| s.reasons).collect()
    }

    fn place(cache: &mut Cache, p: Pod, node: &str) {
        cache.place(Arc::new(PodInfo::new(Arc::new(p))), node, false);
    }

    #[test]
    fn resources_ports_and_pod_count() {
        let mut c = Cache::default();
        c.set_node(node("n1", json!({"status": {"allocatable": {"pods": "2"}}})));
        let big = pod("big", json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "1000", "memory": "8Gi"}}}]}));
        assert_eq!(reasons(&c, &big), ["Insufficient cpu", "Insufficient memory"]);
        place(&mut c, pod("a", json!({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]})), "n1");
        let same_port = pod("b", json!({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}));
        assert_eq!(reasons(&c, &same_port), [ERR_NODE_PORTS]);
        let udp = pod("b", json!({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80, "protocol": "UDP"}]}]}));
        assert!(reasons(&c, &udp).is_empty());
        place(&mut c, pod("x", json!({})), "n1");
        assert_eq!(reasons(&c, &pod("y", json!({}))), [ERR_TOO_MANY_PODS]);
    }

    #[test]
    fn unschedulable_taints_and_affinity() {
        let mut c = Cache::default();
        c.set_node(node("n1", json!({"spec": {"unschedulable": true}})));
        c.set_node(node("n2", json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}})));
        c.set_node(node("n3", json!({"metadata": {"labels": {"disk": "ssd"}}})));
        let p = pod("p", json!({"nodeSelector": {"disk": "hdd"}}));
        let mut r = reasons(&c, &p);
        r.sort();
        assert_eq!(r, [ERR_NODE_AFFINITY, "node(s) had untolerated taint {dedicated: gpu}", ERR_UNSCHEDULABLE]);
        let tolerant = pod("p", json!({"tolerations": [{"key": "dedicated", "operator": "Exists"},
            {"key": TAINT_UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]}]}}}}));
        let ok: Vec<String> = check(&c, &tolerant).into_iter().filter(|(_, r)| r.is_ok()).map(|(n, _)| n).collect();
        assert_eq!(ok, ["n1", "n2"]);
    }

    #[test]
    fn pod_affinity_anti_affinity_and_spread() {
        let mut c = Cache::default();
        for n in ["n1", "n2"] {
            c.set_node(node(n, json!({"metadata": {"labels": {"zone": if n == "n1" { "a" } else { "b" }}}})));
        }
        place(&mut c, pod("db", json!({})), "n1");
        let near = pod("web", json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}]}}}));
        let ok: Vec<String> = check(&c, &near).into_iter().filter(|(_, r)| r.is_ok()).map(|(n, _)| n).collect();
        assert_eq!(ok, ["n1"]);
        assert_eq!(reasons(&c, &near), [ERR_POD_AFFINITY]);
        let away = pod("web", json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}}));
        assert_eq!(reasons(&c, &away), [ERR_POD_ANTI_AFFINITY]);
        // The first pod of a group that selects itself schedules.
        let first = pod("solo", json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "solo"}}, "topologyKey": "zone"}]}}}));
        assert!(reasons(&c, &first).is_empty());
        // An existing pod's anti-affinity keeps matching pods off its node.
        place(&mut c, pod("loner", json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}})), "n2");
        assert_eq!(reasons(&c, &pod("web", json!({}))), [ERR_EXISTING_ANTI_AFFINITY]);

        let mut c = Cache::default();
        for n in ["n1", "n2"] {
            c.set_node(node(n, json!({"metadata": {"labels": {"zone": n}}})));
        }
        c.set_node(node("n3", json!({})));
        let spread = json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "s"}}}]});
        let mut s = pod("s", spread.clone());
        s.metadata.name = Some("s1".into());
        place(&mut c, s, "n1");
        let r = check(&c, &pod("s", spread));
        assert_eq!(r[0].1.as_ref().unwrap_err().reasons, [ERR_SPREAD]);
        assert!(r[1].1.is_ok());
        assert_eq!(r[2].1.as_ref().unwrap_err().reasons, [ERR_SPREAD_LABEL]);
    }

    #[test]
    fn messages_count_and_sort_reasons_like_fit_error() {
        let st = |r: &[&str], code| Status { code, reasons: r.iter().map(|s| s.to_string()).collect(), plugin: 0 };
        let statuses = vec![
            ("n1".to_string(), st(&["Insufficient cpu", "Insufficient memory"], Code::Unschedulable)),
            ("n2".to_string(), st(&["Insufficient cpu"], Code::Unschedulable)),
            ("n3".to_string(), st(&[ERR_NODE_AFFINITY], Code::Unresolvable)),
        ];
        assert_eq!(
            fit_error_message(3, &statuses, Some("preemption: x.")),
            "0/3 nodes are available: 1 Insufficient memory, 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu. preemption: x."
        );

        let mut c = Cache::default();
        c.set_node(node("n1", json!({})));
        c.set_node(node("n2", json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}})));
        let big = pod("big", json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "1000"}}}]}));
        let big = Arc::new(big);
        let ctx = PodCtx::new(&big, &c, &no_ns);
        let statuses: Vec<(String, Status)> =
            c.nodes().filter_map(|n| run_filters(&ctx, n).err().map(|s| (n.name().to_string(), s))).collect();
        let pf = preemption_message(&ctx, &c, &statuses);
        assert_eq!(
            fit_error_message(2, &statuses, pf.as_deref()),
            "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {k: }. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
        );
        // Lower-priority pods are victims only when removing them would make room.
        let mut c1 = Cache::default();
        c1.set_node(node("n1", json!({})));
        place(&mut c1, pod("low", json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}}}]})), "n1");
        let urgent = |cpu: &str| Arc::new(pod("urgent", json!({"priority": 100, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]})));
        let (too_big, fits_alone) = (urgent("4"), urgent("1800m"));
        for (p, want) in [(&too_big, Some("preemption: 0/1 nodes are available: 1 Insufficient cpu.")), (&fits_alone, None)] {
            let ctx = PodCtx::new(p, &c1, &no_ns);
            let st: Vec<(String, Status)> = c1.nodes().filter_map(|n| run_filters(&ctx, n).err().map(|s| (n.name().to_string(), s))).collect();
            assert_eq!(preemption_message(&ctx, &c1, &st).as_deref(), want);
        }
        let never = pod("big", json!({"preemptionPolicy": "Never", "containers": [{"name": "c", "resources": {"requests": {"cpu": "1000"}}}]}));
        let never = Arc::new(never);
        let ctx = PodCtx::new(&never, &c, &no_ns);
        assert_eq!(preemption_message(&ctx, &c, &statuses).unwrap(), "preemption: not eligible due to preemptionPolicy=Never.");
    }
}
