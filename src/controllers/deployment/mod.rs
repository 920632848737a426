//! The Deployment controller, as kube-controller-manager 1.33's: a Deployment owns ReplicaSets
//! named `<deployment>-<pod-template-hash>`, one per template it has run; the one whose
//! template is the Deployment's is the new ReplicaSet, the others are old. A rollout scales the
//! new one up and the old ones down within maxSurge/maxUnavailable (RollingUpdate) or all old
//! ones to zero first (Recreate); a change of `replicas` alone scales them proportionally.
//! Revisions, conditions and counts are reported in the Deployment's annotations and status,
//! which `kubectl rollout status|history|undo` read.
//!
//! Reads come from the shared informer caches (Deployments, ReplicaSets, Pods); writes carry the
//! cached resourceVersion, so a stale cache ends in a conflict and a retry, never a wrong write.

mod rollout;
pub mod util;

#[cfg(test)]
mod tests;

use super::events::Recorder;
use super::pods::{controller_of, controller_ref, is_empty_selector, selector_matches};
use super::runtime::{self, enqueue_from, self_key, Action, Context, ObjectKey, Queue};
use crate::client::{Api, Client, Reader};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::HashMap;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// Workers, as kube-controller-manager's --concurrent-deployment-syncs default.
const WORKERS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Client(#[from] crate::client::Error),
    #[error("replica set {name} exists with another template (hash collision); collisionCount is now {count}")]
    HashCollision { name: String, count: i32 },
    #[error("the replica set cache is behind this controller's last write")]
    StaleCache,
    #[error("deployment {0} has no pod template")]
    NoTemplate(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The wall clock the controller stamps conditions with; tests substitute their own.
pub type Clock = Arc<dyn Fn() -> jiff::Timestamp + Send + Sync>;

/// The controller's state: the client it writes with and the caches it reads.
#[derive(Clone)]
pub struct Controller {
    client: Client,
    recorder: Recorder,
    deployments: Reader<Deployment>,
    replica_sets: Reader<ReplicaSet>,
    pods: Reader<Pod>,
    clock: Clock,
    /// resourceVersions this controller wrote, by uid, until the caches have caught up.
    written: Arc<Mutex<HashMap<String, i64>>>,
}

/// Runs until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    let informers = (ctx.informers.get::<Deployment>(), ctx.informers.get::<ReplicaSet>(), ctx.informers.get::<Pod>());
    let (d_inf, rs_inf, pod_inf) = match informers {
        (Ok(d), Ok(r), Ok(p)) => (d, r, p),
        (d, r, p) => {
            let e = [d.err().map(|e| e.to_string()), r.err().map(|e| e.to_string()), p.err().map(|e| e.to_string())];
            tracing::error!(errors = ?e, "deployment controller cannot start");
            return;
        }
    };
    let ctrl = Controller {
        client: ctx.client.clone(),
        recorder: ctx.recorder.for_component("deployment-controller", None),
        deployments: d_inf.reader(),
        replica_sets: rs_inf.reader(),
        pods: pod_inf.reader(),
        clock: Arc::new(jiff::Timestamp::now),
        written: Arc::default(),
    };
    let queue = Queue::new();
    enqueue_from(&d_inf, queue.clone(), ctx.stop.clone(), self_key);
    let c = ctrl.clone();
    enqueue_from(&rs_inf, queue.clone(), ctx.stop.clone(), move |rs: &ReplicaSet| c.deployments_for_rs(rs));
    let c = ctrl.clone();
    enqueue_from(&pod_inf, queue.clone(), ctx.stop.clone(), move |pod: &Pod| c.recreate_deployment_for_pod(pod));
    ctrl.deployments.clone().wait_synced().await;
    ctrl.replica_sets.clone().wait_synced().await;
    ctrl.pods.clone().wait_synced().await;
    for d in ctrl.deployments.list() {
        queue.add(ObjectKey::of(&d.metadata));
    }
    let ctrl = Arc::new(ctrl);
    runtime::run("deployment", queue, WORKERS, ctx.stop.clone(), move |key| {
        let ctrl = ctrl.clone();
        let span = tracing::debug_span!("deployment", namespace = key.ns().unwrap_or(""), name = %key.name);
        async move { ctrl.reconcile(&key).await }.instrument(span)
    })
    .await;
}

impl Controller {
    pub fn new(client: Client, recorder: Recorder, deployments: Reader<Deployment>, replica_sets: Reader<ReplicaSet>, pods: Reader<Pod>, clock: Clock) -> Controller {
        Controller { client, recorder, deployments, replica_sets, pods, clock, written: Arc::default() }
    }

    /// Remembers an object this controller just wrote.
    fn note_written(&self, meta: &ObjectMeta) {
        let (Some(uid), Some(rv)) = (meta.uid.as_ref(), meta.resource_version.as_deref().and_then(|r| r.parse::<i64>().ok())) else { return };
        let mut w = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if w.len() > 100_000 {
            w.clear();
        }
        w.insert(uid.clone(), rv);
    }

    /// Whether the cache still shows an object older than this controller's own last write
    /// of it; the watch event of that write is on its way and will queue the sync again.
    /// Syncing now would only decide from stale counts and fail on a conflict.
    fn is_stale(&self, meta: &ObjectMeta) -> bool {
        let Some(uid) = meta.uid.as_ref() else { return false };
        let mut w = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&wrote) = w.get(uid) else { return false };
        let cached = meta.resource_version.as_deref().and_then(|r| r.parse::<i64>().ok()).unwrap_or(0);
        if cached >= wrote {
            w.remove(uid);
            return false;
        }
        true
    }

    /// The Deployment controlling a ReplicaSet, or for an orphan every Deployment whose
    /// selector matches it (a candidate adopter).
    fn deployments_for_rs(&self, rs: &ReplicaSet) -> Vec<ObjectKey> {
        let ns = rs.metadata.namespace.as_deref();
        if let Some(r) = controller_of(&rs.metadata) {
            if r.kind != "Deployment" {
                return vec![];
            }
            return vec![ObjectKey::new(ns, &r.name)];
        }
        if rs.metadata.deletion_timestamp.is_some() {
            return vec![];
        }
        self.deployments
            .list()
            .into_iter()
            .filter(|d| d.metadata.namespace.as_deref() == ns)
            .filter(|d| {
                d.spec.as_ref().is_some_and(|s| !is_empty_selector(&s.selector) && selector_matches(&s.selector, rs.metadata.labels.as_ref()))
            })
            .map(|d| ObjectKey::of(&d.metadata))
            .collect()
    }

    /// A pod change matters only to a Recreate Deployment waiting for its old pods to go.
    fn recreate_deployment_for_pod(&self, pod: &Pod) -> Vec<ObjectKey> {
        let Some(r) = controller_of(&pod.metadata) else { return vec![] };
        if r.kind != "ReplicaSet" {
            return vec![];
        }
        let ns = pod.metadata.namespace.as_deref();
        let Some(rs) = self.replica_sets.get(ns, &r.name) else { return vec![] };
        let Some(dr) = controller_of(&rs.metadata).filter(|dr| dr.kind == "Deployment") else { return vec![] };
        match self.deployments.get(ns, &dr.name) {
            Some(d) if !util::is_rolling(&d) => vec![ObjectKey::of(&d.metadata)],
            _ => vec![],
        }
    }

    /// Syncs one Deployment (syncDeployment).
    pub async fn reconcile(&self, key: &ObjectKey) -> Result<Action> {
        let Some(cached) = self.deployments.get(key.ns(), &key.name) else { return Ok(Action::Done) };
        if self.is_stale(&cached.metadata) {
            tracing::trace!("deployment cache behind this controller's last write; waiting for its event");
            return Ok(Action::Done);
        }
        let d = (*cached).clone();
        let ns = d.metadata.namespace.clone().unwrap_or_default();
        let mut s = rollout::Rollout {
            ctrl: self,
            d_api: self.client.api::<Deployment>(Some(&ns))?,
            rs_api: self.client.api::<ReplicaSet>(Some(&ns))?,
            now: jiff::Timestamp::from_second((self.clock)().as_second()).unwrap_or_else(|_| (self.clock)()),
            d,
            requeue: None,
        };
        let selector = s.d.spec.as_ref().map(|sp| sp.selector.clone()).unwrap_or_default();
        if is_empty_selector(&selector) {
            self.recorder.warning(&s.d, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.");
            let st = s.d.status.get_or_insert_with(Default::default);
            if st.observed_generation.unwrap_or(0) < s.d.metadata.generation.unwrap_or(0) {
                st.observed_generation = s.d.metadata.generation;
                s.update_status().await?;
            }
            return Ok(Action::Done);
        }
        let mut rs_list = match self.claim_replica_sets(&s.d, &s.rs_api).await {
            // The ReplicaSet's own event queues this Deployment again.
            Err(Error::StaleCache) => return Ok(Action::Done),
            r => r?,
        };
        if s.d.metadata.deletion_timestamp.is_some() {
            s.sync_status_only(&mut rs_list).await?;
            return Ok(Action::Done);
        }
        s.check_paused_conditions().await?;
        // Paused: scaling only, no rollout; a scaling event: scaling first.
        if util::is_paused(&s.d) || s.is_scaling_event(&mut rs_list).await? {
            s.sync(&mut rs_list).await?;
        } else if util::is_rolling(&s.d) {
            s.rollout_rolling(&mut rs_list).await?;
        } else {
            let pods = self.pods_by_rs(&s.d, &rs_list);
            s.rollout_recreate(&mut rs_list, &pods).await?;
        }
        Ok(match s.requeue {
            Some(d) => Action::RequeueAfter(d),
            None => Action::Done,
        })
    }

    /// The ReplicaSets the Deployment controls after adopting matching orphans and releasing
    /// owned ones its selector no longer matches (ClaimReplicaSets).
    async fn claim_replica_sets(&self, d: &Deployment, api: &Api<ReplicaSet>) -> Result<Vec<ReplicaSet>> {
        let ns = d.metadata.namespace.as_deref();
        let uid = d.metadata.uid.clone().unwrap_or_default();
        let selector = d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
        let deleting = d.metadata.deletion_timestamp.is_some();
        let mut claimed = Vec::new();
        for rs in self.replica_sets.list() {
            if rs.metadata.namespace.as_deref() != ns {
                continue;
            }
            if self.is_stale(&rs.metadata) {
                return Err(Error::StaleCache);
            }
            let matches = selector_matches(&selector, rs.metadata.labels.as_ref());
            let name = rs.metadata.name.clone().unwrap_or_default();
            match controller_of(&rs.metadata) {
                Some(r) if r.uid == uid => {
                    if matches {
                        claimed.push((*rs).clone());
                    } else if !deleting && rs.metadata.deletion_timestamp.is_none() {
                        let refs: Vec<&OwnerReference> = rs.metadata.owner_references.iter().flatten().filter(|r| r.uid != uid).collect();
                        let patch = json!({"metadata": {"ownerReferences": refs, "uid": rs.metadata.uid}});
                        match api.patch_merge(&name, &patch).await {
                            Ok(_) => {}
                            Err(e) if e.is_not_found() => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                Some(_) => {}
                None => {
                    if !matches || deleting || rs.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    let mut refs = rs.metadata.owner_references.clone().unwrap_or_default();
                    refs.push(controller_ref(d));
                    let patch = json!({"metadata": {"ownerReferences": refs, "uid": rs.metadata.uid}});
                    match api.patch_merge(&name, &patch).await {
                        Ok(adopted) => {
                            self.note_written(&adopted.metadata);
                            claimed.push(adopted)
                        }
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(claimed)
    }

    /// The Deployment's pods grouped by the ReplicaSet controlling them (for Recreate).
    fn pods_by_rs(&self, d: &Deployment, rss: &[ReplicaSet]) -> Vec<(String, Arc<Pod>)> {
        let ns = d.metadata.namespace.as_deref();
        let selector = d.spec.as_ref().map(|s| s.selector.clone()).unwrap_or_default();
        let uids: Vec<&str> = rss.iter().filter_map(|r| r.metadata.uid.as_deref()).collect();
        self.pods
            .list()
            .into_iter()
            .filter(|p| p.metadata.namespace.as_deref() == ns && selector_matches(&selector, p.metadata.labels.as_ref()))
            .filter_map(|p| {
                let owner = controller_of(&p.metadata)?.uid.clone();
                uids.contains(&owner.as_str()).then_some((owner, p))
            })
            .collect()
    }
}

/// How long until a progressing Deployment must be checked against its deadline.
fn requeue_delay(secs: i64) -> Duration {
    Duration::from_secs(secs.max(1) as u64)
}
