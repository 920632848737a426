//! The score plugins of the default profile with their weights: NodeResourcesFit
//! (LeastAllocated, 1), NodeResourcesBalancedAllocation (1), TaintToleration (3), NodeAffinity
//! (2), PodTopologySpread (2, with the system default spreading of a workload's replicas over
//! hostnames) and InterPodAffinity (2). Each normalises to 0..=100 before weighting.

use super::cache::{Cache, NodeInfo};
use super::filters::{term_matches, tolerates, NamespaceLabels, PodCtx};
use std::collections::HashMap;

pub const MAX_NODE_SCORE: i64 = 100;

fn least_allocated(requested: i64, allocatable: i64) -> i64 {
    if allocatable <= 0 || requested > allocatable {
        return 0;
    }
    (allocatable - requested) * MAX_NODE_SCORE / allocatable
}

fn resource_scores(ctx: &PodCtx, node: &NodeInfo) -> (i64, i64) {
    let cpu_req = node.non_zero_requested.0 + ctx.info.non_zero.0;
    let mem_req = node.non_zero_requested.1 + ctx.info.non_zero.1;
    let (cpu_alloc, mem_alloc) = (node.allocatable.milli_cpu, node.allocatable.memory);
    let least = (least_allocated(cpu_req, cpu_alloc) + least_allocated(mem_req, mem_alloc)) / 2;
    let frac = |r: i64, a: i64| if a <= 0 { 1.0 } else { (r as f64 / a as f64).min(1.0) };
    let std = (frac(cpu_req, cpu_alloc) - frac(mem_req, mem_alloc)).abs() / 2.0;
    let balanced = ((1.0 - std) * MAX_NODE_SCORE as f64) as i64;
    (least, balanced)
}

/// DefaultNormalizeScore: scale to 0..=100 by the maximum; `reverse` flips it.
fn normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}

/// The weighted total score of each feasible node.
pub fn score(ctx: &PodCtx, nodes: &[&NodeInfo], cache: &Cache, ns_labels: NamespaceLabels) -> Vec<i64> {
    let n = nodes.len();
    let mut total = vec![0i64; n];
    // NodeResourcesFit and BalancedAllocation.
    for (i, node) in nodes.iter().enumerate() {
        let (least, balanced) = resource_scores(ctx, node);
        total[i] += least + balanced;
    }
    // TaintToleration: fewer untolerated PreferNoSchedule taints is better.
    let prefer: Vec<_> = ctx
        .tolerations
        .iter()
        .filter(|t| t.effect.as_deref().is_none_or(|e| e.is_empty() || e == "PreferNoSchedule"))
        .cloned()
        .collect();
    let mut taints: Vec<i64> = nodes
        .iter()
        .map(|node| {
            node.node
                .as_ref()
                .and_then(|n| n.spec.as_ref())
                .and_then(|s| s.taints.as_ref())
                .into_iter()
                .flatten()
                .filter(|t| t.effect == "PreferNoSchedule" && !prefer.iter().any(|tol| tolerates(tol, t)))
                .count() as i64
        })
        .collect();
    normalize(&mut taints, true);
    // NodeAffinity: preferred terms.
    let preferred = ctx
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref());
    let mut affinity: Vec<i64> = nodes
        .iter()
        .map(|node| {
            preferred
                .into_iter()
                .flatten()
                .filter(|p| p.weight != 0 && term_matches(&p.preference, node))
                .map(|p| i64::from(p.weight))
                .sum()
        })
        .collect();
    normalize(&mut affinity, false);
    let spread = spread_scores(ctx, nodes, cache);
    let inter = inter_pod_scores(ctx, nodes, cache, ns_labels);
    for i in 0..n {
        total[i] += 3 * taints[i] + 2 * affinity[i] + 2 * spread[i] + 2 * inter[i];
    }
    total
}

/// PodTopologySpread's score: fewer matching pods in the node's domain is better.
fn spread_scores(ctx: &PodCtx, nodes: &[&NodeInfo], cache: &Cache) -> Vec<i64> {
    let soft: Vec<_> = ctx.spreads.iter().filter(|s| !s.hard).collect();
    let raw: Vec<Option<f64>> = if !ctx.spreads.is_empty() {
        if soft.is_empty() {
            return vec![0; nodes.len()];
        }
        nodes
            .iter()
            .map(|node| {
                let mut sum = 0.0;
                for s in &soft {
                    let value = node.label(&s.key)?;
                    let weight = ((s.counts.len() + 2) as f64).ln();
                    sum += s.counts.get(value).copied().unwrap_or(0) as f64 * weight + (s.max_skew - 1) as f64;
                }
                Some(sum)
            })
            .collect()
    } else if let Some(owner) = ctx.info.owner.as_deref() {
        // The system default constraint: maxSkew 3 over hostnames, for the pod's workload.
        let weight = ((cache.node_count() + 2) as f64).ln();
        nodes.iter().map(|node| Some(node.owners.get(owner).copied().unwrap_or(0) as f64 * weight + 2.0)).collect()
    } else {
        return vec![0; nodes.len()];
    };
    let valid = raw.iter().flatten();
    let max = valid.clone().fold(f64::MIN, |a, b| a.max(*b));
    let min = valid.fold(f64::MAX, |a, b| a.min(*b));
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max <= 0.0 => MAX_NODE_SCORE,
            Some(s) => (MAX_NODE_SCORE as f64 * (max + min - s) / max) as i64,
        })
        .collect()
}

/// InterPodAffinity's score: preferred (anti-)affinity terms weighed by topology domain.
fn inter_pod_scores(ctx: &PodCtx, nodes: &[&NodeInfo], cache: &Cache, ns_labels: NamespaceLabels) -> Vec<i64> {
    if ctx.preferred_affinity.is_empty() && ctx.preferred_anti_affinity.is_empty() {
        return vec![0; nodes.len()];
    }
    let mut topo: HashMap<(String, String), i64> = HashMap::new();
    for node in cache.nodes() {
        for p in node.pods.values() {
            for (terms, sign) in [(&ctx.preferred_affinity, 1i64), (&ctx.preferred_anti_affinity, -1i64)] {
                for t in terms.iter().filter(|t| t.matches(&p.pod, ns_labels)) {
                    if let Some(v) = node.label(&t.topology_key) {
                        *topo.entry((t.topology_key.clone(), v.to_string())).or_insert(0) += sign * t.weight;
                    }
                }
            }
        }
    }
    let raw: Vec<i64> = nodes
        .iter()
        .map(|node| {
            node.labels().into_iter().flatten().map(|(k, v)| topo.get(&(k.clone(), v.clone())).copied().unwrap_or(0)).sum()
        })
        .collect();
    let max = raw.iter().copied().max().unwrap_or(0);
    let min = raw.iter().copied().min().unwrap_or(0);
    raw.iter()
        .map(|s| if max > min { MAX_NODE_SCORE * (s - min) / (max - min) } else { 0 })
        .collect()
}
