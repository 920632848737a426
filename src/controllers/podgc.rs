//! The pod garbage collector: every 20 s it force-deletes pods bound to nodes that no longer
//! exist (after a 40 s quarantine and a check against the API), terminating pods that were
//! never scheduled, and the oldest terminated pods above the threshold (12,500).

use super::runtime::{Context, ObjectKey};
use crate::client::{DeleteOptions, Reader};
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// --terminated-pod-gc-threshold.
pub const TERMINATED_POD_THRESHOLD: usize = 12500;
const GC_PERIOD: Duration = Duration::from_secs(20);
const QUARANTINE: Duration = Duration::from_secs(40);

fn is_terminated(p: &Pod) -> bool {
    matches!(super::pods::phase(p), "Succeeded" | "Failed")
}

/// The oldest terminated pods beyond `threshold` (by creation time, then name).
pub fn terminated_excess(pods: &[Arc<Pod>], threshold: usize) -> Vec<Arc<Pod>> {
    let mut done: Vec<Arc<Pod>> = pods.iter().filter(|p| is_terminated(p) && p.metadata.deletion_timestamp.is_none()).cloned().collect();
    if threshold == 0 || done.len() <= threshold {
        return vec![];
    }
    done.sort_by(|a, b| {
        let t = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
        t(a).cmp(&t(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let n = done.len() - threshold;
    done.truncate(n);
    done
}

/// Pods bound to a node the cache does not know.
pub fn orphans(pods: &[Arc<Pod>], nodes: &HashSet<String>) -> Vec<Arc<Pod>> {
    pods.iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty() && !nodes.contains(n)))
        .cloned()
        .collect()
}

struct PodGc {
    ctx: Context,
    pods: Reader<Pod>,
    nodes: Reader<Node>,
    threshold: usize,
    /// Nodes missing from the cache, and since when.
    missing: HashMap<String, Instant>,
}

impl PodGc {
    async fn force_delete(&self, pod: &Pod) {
        let key = ObjectKey::of(&pod.metadata);
        let Ok(api) = self.ctx.client.api::<Pod>(key.ns()) else { return };
        let opts = DeleteOptions { grace_period_seconds: Some(0), precondition_uid: pod.metadata.uid.clone(), ..Default::default() };
        match api.delete_with(&key.name, &opts).await {
            Ok(_) => tracing::info!(pod = %key, "pod garbage collector: force-deleted"),
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(e) => tracing::warn!(pod = %key, error = %e, "pod garbage collector: delete failed"),
        }
    }

    /// markFailedAndDeletePod(WithCondition): a pod still running is marked Failed (with a
    /// DisruptionTarget condition when `message` says why) before it goes.
    async fn fail_and_delete(&self, pod: &Pod, message: Option<&str>) {
        if !is_terminated(pod) {
            let key = ObjectKey::of(&pod.metadata);
            if let Ok(api) = self.ctx.client.api::<Pod>(key.ns()) {
                let mut conds: Vec<serde_json::Value> = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .map(|cs| cs.iter().filter(|c| c.type_ != "DisruptionTarget").filter_map(|c| serde_json::to_value(c).ok()).collect())
                    .unwrap_or_default();
                if let Some(message) = message {
                    conds.push(json!({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC", "message": message,
                                      "lastProbeTime": null, "lastTransitionTime": crate::registry::generic::now_rfc3339()}));
                }
                let patch = json!({"metadata": {"uid": pod.metadata.uid}, "status": {"phase": "Failed", "conditions": conds}});
                if let Err(e) = api.patch_status(&key.name, &patch).await {
                    if !e.is_not_found() {
                        tracing::debug!(pod = %key, error = %e, "pod garbage collector: marking failed");
                    }
                }
            }
        }
        self.force_delete(pod).await;
    }

    async fn pass(&mut self) {
        let pods = self.pods.list();
        // Terminated pods above the threshold, oldest first.
        for p in terminated_excess(&pods, self.threshold) {
            self.force_delete(&p).await;
        }
        // Orphans: their node is gone (quarantined, then confirmed by the API).
        let known: HashSet<String> = self.nodes.list().iter().filter_map(|n| n.metadata.name.clone()).collect();
        let now = Instant::now();
        let orphaned = orphans(&pods, &known);
        let mut still_missing = HashMap::new();
        let node_api = self.ctx.client.api::<Node>(None).ok();
        for p in orphaned {
            let node = p.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
            let since = *self.missing.get(&node).unwrap_or(&now);
            still_missing.insert(node.clone(), since);
            if now.saturating_duration_since(since) < QUARANTINE {
                continue;
            }
            let exists = match &node_api {
                Some(api) => !matches!(api.get_opt(&node).await, Ok(None)),
                None => true,
            };
            if !exists {
                self.fail_and_delete(&p, Some("PodGC: node no longer exists")).await;
            }
        }
        self.missing = still_missing;
        // Terminating pods that were never scheduled: nobody else will finish them.
        for p in pods.iter() {
            let unscheduled = p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_none_or(str::is_empty);
            if unscheduled && p.metadata.deletion_timestamp.is_some() {
                self.fail_and_delete(p, None).await;
            }
        }
    }
}

/// Runs until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    let (pods, nodes) = match (ctx.informers.get::<Pod>(), ctx.informers.get::<Node>()) {
        (Ok(p), Ok(n)) => (p.reader(), n.reader()),
        _ => {
            tracing::error!("pod garbage collector: informers unavailable");
            return;
        }
    };
    let mut gc = PodGc { ctx: ctx.clone(), pods, nodes, threshold: TERMINATED_POD_THRESHOLD, missing: HashMap::new() };
    {
        let (mut p, mut n) = (gc.pods.clone(), gc.nodes.clone());
        tokio::select! {
            _ = ctx.stop.cancelled() => return,
            _ = async { p.wait_synced().await; n.wait_synced().await } => {}
        }
    }
    let mut tick = tokio::time::interval(GC_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ctx.stop.cancelled() => return,
            _ = tick.tick() => gc.pass().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node: &str, phase: &str, created: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "creationTimestamp": created},
                "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]}, "status": {"phase": phase}}))
            .unwrap(),
        )
    }

    #[test]
    fn oldest_terminated_pods_above_the_threshold_go() {
        let pods = vec![
            pod("new", "n", "Succeeded", "2025-01-01T00:00:03Z"),
            pod("old", "n", "Failed", "2025-01-01T00:00:01Z"),
            pod("running", "n", "Running", "2025-01-01T00:00:00Z"),
            pod("mid", "n", "Succeeded", "2025-01-01T00:00:02Z"),
        ];
        let names = |v: Vec<Arc<Pod>>| v.iter().map(|p| p.metadata.name.clone().unwrap()).collect::<Vec<_>>();
        assert_eq!(names(terminated_excess(&pods, 1)), ["old", "mid"]);
        assert!(terminated_excess(&pods, 3).is_empty());
        assert!(terminated_excess(&pods, 0).is_empty(), "0 disables it");
        let known: HashSet<String> = ["n".to_string()].into();
        assert!(orphans(&pods, &known).is_empty());
        let orphan = vec![pod("x", "gone", "Running", "2025-01-01T00:00:00Z"), pod("y", "", "Pending", "2025-01-01T00:00:00Z")];
        assert_eq!(names(orphans(&orphan, &known)), ["x"]);
    }
}
