//! The controller against a real in-process registry under virtual time. The ReplicaSet
//! controller is played by the test: it writes ReplicaSet status as a scenario needs.

use super::util::*;
use super::*;
use crate::client::Client;
use crate::controllers::runtime::Context;
use crate::registry::generic::Registry;
use crate::store::{Store, StoreOptions};
use k8s_openapi::api::apps::v1::ReplicaSetStatus;
use k8s_openapi::api::core::v1::{Event, Namespace};
use serde_json::Value;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio_util::sync::CancellationToken;

struct Env {
    ctrl: Controller,
    client: Client,
    offset: Arc<AtomicI64>,
    _stop: tokio_util::sync::DropGuard,
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new(Some("default"), name)
}

async fn env() -> Env {
    let opts = StoreOptions { history_revisions: 1_000_000, compaction_interval: Duration::from_secs(3600) };
    let store = Store::open_with_backend(Arc::new(crate::store::recording::RecordingBackend::default()), opts).unwrap();
    let client = Client::new(Registry::new(store), "kube-controller-manager");
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
    client.api::<Namespace>(None).unwrap().create(&ns).await.unwrap();
    let stop = CancellationToken::new();
    let ctx = Context::new(client.clone(), stop.clone());
    let offset = Arc::new(AtomicI64::new(0));
    let o = offset.clone();
    let clock: Clock = Arc::new(move || {
        let now = jiff::Timestamp::now();
        jiff::Timestamp::from_second(now.as_second() + o.load(Ordering::SeqCst)).unwrap_or(now)
    });
    let mut readers = (
        ctx.informers.synced_reader::<Deployment>().await.unwrap(),
        ctx.informers.synced_reader::<ReplicaSet>().await.unwrap(),
        ctx.informers.synced_reader::<Pod>().await.unwrap(),
    );
    readers.0.wait_synced().await;
    let ctrl = Controller::new(client.clone(), ctx.recorder.for_component("deployment-controller", None), readers.0, readers.1, readers.2, clock);
    Env { ctrl, client, offset, _stop: stop.drop_guard() }
}

fn deployment(name: &str, replicas: i32, image: &str, extra: Value) -> Deployment {
    let mut v = json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": image}]}}
        }
    });
    json_merge(&mut v, extra);
    serde_json::from_value(v).unwrap()
}

fn json_merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                json_merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

impl Env {
    fn dapi(&self) -> Api<Deployment> {
        self.client.api(Some("default")).unwrap()
    }
    fn rsapi(&self) -> Api<ReplicaSet> {
        self.client.api(Some("default")).unwrap()
    }

    /// Waits until the caches hold exactly what the store holds.
    async fn settle(&self) {
        for _ in 0..2000 {
            let (ds, _) = self.dapi().list(None).await.unwrap();
            let (rss, _) = self.rsapi().list(None).await.unwrap();
            let d_ok = ds.len() == self.ctrl.deployments.len()
                && ds.iter().all(|d| {
                    self.ctrl.deployments.get(Some("default"), d.metadata.name.as_deref().unwrap()).map(|c| c.metadata.resource_version.clone())
                        == Some(d.metadata.resource_version.clone())
                });
            let rs_ok = rss.len() == self.ctrl.replica_sets.len()
                && rss.iter().all(|r| {
                    self.ctrl.replica_sets.get(Some("default"), r.metadata.name.as_deref().unwrap()).map(|c| c.metadata.resource_version.clone())
                        == Some(r.metadata.resource_version.clone())
                });
            if d_ok && rs_ok {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("caches did not settle");
    }

    async fn reconcile(&self, name: &str) -> Action {
        self.settle().await;
        let a = self.ctrl.reconcile(&key(name)).await.unwrap_or_else(|e| panic!("reconcile: {e}"));
        self.settle().await;
        a
    }

    async fn get(&self, name: &str) -> Deployment {
        self.dapi().get(name).await.unwrap()
    }

    /// ReplicaSets, lowest revision first (creation times tie within a second).
    async fn rss(&self) -> Vec<ReplicaSet> {
        let (mut v, _) = self.rsapi().list(None).await.unwrap();
        v.sort_by(by_revision);
        v
    }

    async fn rs_sizes(&self) -> Vec<(String, i32)> {
        self.rss().await.iter().map(|r| (r.metadata.name.clone().unwrap(), rs_replicas(r))).collect()
    }

    /// Plays the ReplicaSet controller: status follows spec, `available` of them available.
    async fn rs_status(&self, name: &str, replicas: i32, available: i32) {
        let rs = self.rsapi().get(name).await.unwrap();
        let st = ReplicaSetStatus {
            replicas,
            fully_labeled_replicas: Some(replicas),
            ready_replicas: Some(available),
            available_replicas: Some(available),
            observed_generation: rs.metadata.generation,
            conditions: None,
            terminating_replicas: None,
        };
        let patch = json!({"status": serde_json::to_value(&st).unwrap()});
        self.rsapi().patch_status(name, &patch).await.unwrap();
    }

    /// Every ReplicaSet's status catches up with its spec, all available.
    async fn all_ready(&self) {
        for rs in self.rss().await {
            let n = rs_replicas(&rs);
            self.rs_status(rs.metadata.name.as_deref().unwrap(), n, n).await;
        }
    }

    /// Reconciles with every ReplicaSet instantly ready until nothing changes.
    async fn roll_to_end(&self, name: &str) {
        for _ in 0..50 {
            let before = self.fingerprint().await;
            self.reconcile(name).await;
            self.all_ready().await;
            if self.fingerprint().await == before {
                return;
            }
        }
        panic!("rollout did not converge");
    }

    async fn fingerprint(&self) -> Vec<Option<String>> {
        let mut v: Vec<Option<String>> = self.rss().await.into_iter().map(|r| r.metadata.resource_version).collect();
        v.push(self.dapi().list(None).await.unwrap().0.into_iter().map(|d| d.metadata.resource_version).next().flatten());
        v
    }

    async fn events(&self) -> Vec<(String, String)> {
        // The recorder writes asynchronously.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (mut evs, _) = self.client.api::<Event>(Some("default")).unwrap().list(None).await.unwrap();
        evs.sort_by_key(|e| e.metadata.resource_version.as_ref().and_then(|r| r.parse::<i64>().ok()));
        evs.into_iter().map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default())).collect()
    }

    async fn set_image(&self, name: &str, image: &str) {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
        self.dapi().patch_merge(name, &patch).await.unwrap();
    }
}

fn cond(d: &Deployment, t: &str) -> (String, String, String) {
    let c = condition(d.status.as_ref().unwrap(), t).unwrap_or_else(|| panic!("no {t} condition"));
    (c.status.clone(), c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default())
}

fn ann<'a>(meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, k: &str) -> &'a str {
    meta.annotations.as_ref().and_then(|a| a.get(k)).map(String::as_str).unwrap_or("")
}

#[tokio::test(start_paused = true)]
async fn a_new_deployment_gets_a_hashed_replica_set_and_becomes_available() {
    let e = env().await;
    e.dapi().create(&deployment("web", 3, "nginx", json!({"metadata": {"annotations": {"kubernetes.io/change-cause": "first"}}}))).await.unwrap();
    e.reconcile("web").await;
    let rss = e.rss().await;
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let name = rs.metadata.name.clone().unwrap();
    let hash = rs.metadata.labels.as_ref().unwrap()[POD_TEMPLATE_HASH].clone();
    assert_eq!(name, format!("web-{hash}"));
    assert!(hash.chars().all(|c| "456789bcdf".contains(c)));
    let spec = rs.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(spec.selector.match_labels.as_ref().unwrap()[POD_TEMPLATE_HASH], hash);
    assert_eq!(spec.template.as_ref().unwrap().metadata.as_ref().unwrap().labels.as_ref().unwrap()[POD_TEMPLATE_HASH], hash);
    let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.controller, owner.block_owner_deletion), ("Deployment", Some(true), Some(true)));
    assert_eq!(ann(&rs.metadata, REVISION), "1");
    assert_eq!(ann(&rs.metadata, DESIRED_REPLICAS), "3");
    assert_eq!(ann(&rs.metadata, MAX_REPLICAS), "4");
    assert_eq!(ann(&rs.metadata, "kubernetes.io/change-cause"), "first");

    let d = e.get("web").await;
    assert_eq!(ann(&d.metadata, REVISION), "1");
    assert_eq!(cond(&d, PROGRESSING), ("True".into(), NEW_RS_CREATED.into(), format!("Created new replica set \"{name}\"")));
    assert_eq!(cond(&d, AVAILABLE), ("False".into(), MIN_REPLICAS_UNAVAILABLE.into(), "Deployment does not have minimum availability.".into()));

    e.rs_status(&name, 3, 3).await;
    e.reconcile("web").await;
    let d = e.get("web").await;
    let st = d.status.clone().unwrap();
    assert_eq!((st.replicas, st.updated_replicas, st.ready_replicas, st.available_replicas), (Some(3), Some(3), Some(3), Some(3)));
    assert_eq!(st.unavailable_replicas, None);
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(cond(&d, AVAILABLE), ("True".into(), MIN_REPLICAS_AVAILABLE.into(), "Deployment has minimum availability.".into()));
    assert_eq!(cond(&d, PROGRESSING), ("True".into(), NEW_RS_AVAILABLE.into(), format!("ReplicaSet \"{name}\" has successfully progressed.")));
    let types: Vec<String> = st.conditions.unwrap().into_iter().map(|c| c.type_).collect();
    assert_eq!(types, vec![AVAILABLE, PROGRESSING]);
    assert_eq!(e.events().await, vec![("ScalingReplicaSet".to_string(), format!("Scaled up replica set {name} from 0 to 3"))]);
    // Nothing to do: no write.
    let rv = e.get("web").await.metadata.resource_version;
    assert_eq!(e.reconcile("web").await, Action::Done);
    assert_eq!(e.get("web").await.metadata.resource_version, rv);
}

#[tokio::test(start_paused = true)]
async fn a_rolling_update_surges_and_scales_the_old_replica_set_down() {
    let e = env().await;
    let strategy = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}}});
    e.dapi().create(&deployment("web", 4, "nginx", strategy)).await.unwrap();
    e.roll_to_end("web").await;
    let old = e.rss().await[0].metadata.name.clone().unwrap();
    e.set_image("web", "nginx:1.25").await;
    e.reconcile("web").await;
    let sizes = e.rs_sizes().await;
    assert_eq!(sizes.len(), 2);
    let new = sizes[1].0.clone();
    // maxSurge 1: the new one starts at 1; maxUnavailable 1: the old one goes to 3.
    assert_eq!(sizes, vec![(old.clone(), 3), (new.clone(), 1)]);
    let d = e.get("web").await;
    assert_eq!(ann(&d.metadata, REVISION), "2");
    assert_eq!(cond(&d, PROGRESSING).1, NEW_RS_CREATED);
    e.roll_to_end("web").await;
    assert_eq!(e.rs_sizes().await, vec![(old.clone(), 0), (new.clone(), 4)]);
    let d = e.get("web").await;
    assert_eq!(cond(&d, PROGRESSING), ("True".into(), NEW_RS_AVAILABLE.into(), format!("ReplicaSet \"{new}\" has successfully progressed.")));
    let evs = e.events().await;
    assert!(evs.contains(&("ScalingReplicaSet".into(), format!("Scaled up replica set {new} from 0 to 1"))), "{evs:?}");
    assert!(evs.contains(&("ScalingReplicaSet".into(), format!("Scaled down replica set {old} from 4 to 3"))), "{evs:?}");
    assert!(evs.contains(&("ScalingReplicaSet".into(), format!("Scaled down replica set {old} from 1 to 0"))), "{evs:?}");
}

#[tokio::test(start_paused = true)]
async fn rolling_back_reuses_the_old_replica_set_with_a_new_revision() {
    let e = env().await;
    e.dapi().create(&deployment("web", 2, "nginx", json!({}))).await.unwrap();
    e.roll_to_end("web").await;
    e.set_image("web", "nginx:1.25").await;
    e.roll_to_end("web").await;
    let first = e.rss().await[0].metadata.name.clone().unwrap();
    // What `kubectl rollout undo` does: the old ReplicaSet's template back into the Deployment.
    e.set_image("web", "nginx").await;
    e.roll_to_end("web").await;
    let rss = e.rss().await;
    assert_eq!(rss.len(), 2);
    let back = rss.iter().find(|r| r.metadata.name.as_deref() == Some(first.as_str())).unwrap();
    assert_eq!(rs_replicas(back), 2);
    assert_eq!(ann(&back.metadata, REVISION), "3");
    assert_eq!(ann(&back.metadata, REVISION_HISTORY), "1");
    assert_eq!(ann(&e.get("web").await.metadata, REVISION), "3");
}

#[tokio::test(start_paused = true)]
async fn recreate_waits_for_old_pods_to_go_before_the_new_replica_set() {
    let e = env().await;
    e.dapi().create(&deployment("web", 3, "nginx", json!({"spec": {"strategy": {"type": "Recreate", "rollingUpdate": null}}}))).await.unwrap();
    e.roll_to_end("web").await;
    let old = e.rss().await[0].metadata.name.clone().unwrap();
    e.set_image("web", "nginx:1.25").await;
    e.reconcile("web").await;
    assert_eq!(e.rs_sizes().await, vec![(old.clone(), 0)], "old scaled to zero, no new one yet");
    // The old pods still exist.
    e.rs_status(&old, 3, 0).await;
    e.reconcile("web").await;
    assert_eq!(e.rs_sizes().await.len(), 1);
    e.rs_status(&old, 0, 0).await;
    e.reconcile("web").await;
    let sizes = e.rs_sizes().await;
    assert_eq!(sizes.len(), 2);
    assert_eq!(sizes[1].1, 3, "the new one at full size at once");
}

#[tokio::test(start_paused = true)]
async fn pause_holds_the_rollout_and_resume_continues_it() {
    let e = env().await;
    e.dapi().create(&deployment("web", 2, "nginx", json!({}))).await.unwrap();
    e.roll_to_end("web").await;
    e.dapi().patch_merge("web", &json!({"spec": {"paused": true}})).await.unwrap();
    e.reconcile("web").await;
    assert_eq!(cond(&e.get("web").await, PROGRESSING), ("Unknown".into(), PAUSED.into(), "Deployment is paused".into()));
    e.set_image("web", "nginx:1.25").await;
    e.roll_to_end("web").await;
    assert_eq!(e.rss().await.len(), 1, "no new ReplicaSet while paused");
    // Scaling still works while paused.
    e.dapi().patch_merge("web", &json!({"spec": {"replicas": 3}})).await.unwrap();
    e.roll_to_end("web").await;
    assert_eq!(e.rs_sizes().await[0].1, 3);
    e.dapi().patch_merge("web", &json!({"spec": {"paused": false}})).await.unwrap();
    e.reconcile("web").await;
    let d = e.get("web").await;
    assert_eq!(e.rss().await.len(), 2);
    assert_ne!(cond(&d, PROGRESSING).1, PAUSED);
    e.roll_to_end("web").await;
    assert_eq!(cond(&e.get("web").await, PROGRESSING).1, NEW_RS_AVAILABLE);
}

#[tokio::test(start_paused = true)]
async fn resuming_reports_deployment_resumed() {
    let e = env().await;
    e.dapi().create(&deployment("web", 1, "nginx", json!({"spec": {"paused": true}}))).await.unwrap();
    e.reconcile("web").await;
    assert!(e.rss().await.is_empty(), "a paused new deployment creates nothing");
    e.dapi().patch_merge("web", &json!({"spec": {"paused": false}})).await.unwrap();
    e.settle().await;
    e.ctrl.reconcile(&key("web")).await.unwrap();
    e.settle().await;
    let d = e.get("web").await;
    // Resumed first, then the rollout's own reason once the new ReplicaSet exists.
    let reason = cond(&d, PROGRESSING).1;
    assert!(reason == RESUMED || reason == NEW_RS_CREATED, "{reason}");
    assert_eq!(e.rss().await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn scaling_mid_rollout_is_proportional() {
    let e = env().await;
    let strategy = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}}});
    e.dapi().create(&deployment("web", 10, "nginx", strategy)).await.unwrap();
    e.roll_to_end("web").await;
    e.set_image("web", "nginx:1.25").await;
    e.reconcile("web").await;
    // new RS 3 (surge), old scaled to 8 (10 - 2 unavailable).
    let sizes = e.rs_sizes().await;
    assert_eq!((sizes[0].1, sizes[1].1), (8, 3));
    // The new pods never become available: the new RS fills the surge and stops.
    e.reconcile("web").await;
    let sizes = e.rs_sizes().await;
    assert_eq!((sizes[0].1, sizes[1].1), (8, 5));
    e.dapi().patch_merge("web", &json!({"spec": {"replicas": 30}})).await.unwrap();
    e.reconcile("web").await;
    let sizes = e.rs_sizes().await;
    // 30 + 3 surge = 33 allowed, 13 running: 8 → round(8*33/13) = 20, 5 → round(5*33/13) = 13.
    assert_eq!((sizes[0].1, sizes[1].1), (20, 13));
    for rs in e.rss().await {
        assert_eq!(ann(&rs.metadata, DESIRED_REPLICAS), "30");
        assert_eq!(ann(&rs.metadata, MAX_REPLICAS), "33");
    }
}

#[tokio::test(start_paused = true)]
async fn old_replica_sets_beyond_the_history_limit_are_deleted() {
    let e = env().await;
    e.dapi().create(&deployment("web", 1, "v1", json!({"spec": {"revisionHistoryLimit": 1}}))).await.unwrap();
    e.roll_to_end("web").await;
    for v in ["v2", "v3", "v4"] {
        e.set_image("web", v).await;
        e.roll_to_end("web").await;
    }
    let rss = e.rss().await;
    let revs: Vec<&str> = rss.iter().map(|r| ann(&r.metadata, REVISION)).collect();
    assert_eq!(revs, vec!["3", "4"]);
}

#[tokio::test(start_paused = true)]
async fn a_stuck_rollout_times_out_after_the_progress_deadline() {
    let e = env().await;
    e.dapi().create(&deployment("web", 2, "nginx", json!({"spec": {"progressDeadlineSeconds": 30}}))).await.unwrap();
    let a = e.reconcile("web").await;
    assert!(matches!(a, Action::RequeueAfter(d) if d <= Duration::from_secs(31) && d >= Duration::from_secs(29)), "{a:?}");
    e.offset.store(31, Ordering::SeqCst);
    e.reconcile("web").await;
    let d = e.get("web").await;
    let name = e.rss().await[0].metadata.name.clone().unwrap();
    assert_eq!(cond(&d, PROGRESSING), ("False".into(), TIMED_OUT.into(), format!("ReplicaSet \"{name}\" has timed out progressing.")));
    // Progress afterwards makes it progress again.
    e.rs_status(&name, 2, 2).await;
    e.reconcile("web").await;
    assert_eq!(cond(&e.get("web").await, PROGRESSING).1, NEW_RS_AVAILABLE);
}

#[tokio::test(start_paused = true)]
async fn orphans_are_adopted_and_non_matching_replica_sets_released() {
    let e = env().await;
    let orphan: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "stray", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "old"}]}}}
    }))
    .unwrap();
    e.rsapi().create(&orphan).await.unwrap();
    e.dapi().create(&deployment("web", 1, "nginx", json!({}))).await.unwrap();
    e.reconcile("web").await;
    let stray = e.rsapi().get("stray").await.unwrap();
    let uid = e.get("web").await.metadata.uid;
    assert_eq!(crate::controllers::pods::controller_of(&stray.metadata).map(|r| Some(r.uid.clone())), Some(uid));
    e.rsapi().patch_merge("stray", &json!({"metadata": {"labels": {"app": "other"}}})).await.unwrap();
    e.reconcile("web").await;
    let stray = e.rsapi().get("stray").await.unwrap();
    assert!(crate::controllers::pods::controller_of(&stray.metadata).is_none(), "released");
}

#[tokio::test(start_paused = true)]
async fn a_hash_collision_bumps_the_collision_count() {
    let e = env().await;
    let d = deployment("web", 1, "nginx", json!({}));
    let created = e.dapi().create(&d).await.unwrap();
    let hash = compute_hash(&created.spec.as_ref().unwrap().template, None);
    let squatter: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": format!("web-{hash}"), "namespace": "default", "labels": {"app": "squat"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "squat"}},
                 "template": {"metadata": {"labels": {"app": "squat"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}
    }))
    .unwrap();
    e.rsapi().create(&squatter).await.unwrap();
    e.settle().await;
    assert!(matches!(e.ctrl.reconcile(&key("web")).await, Err(Error::HashCollision { count: 1, .. })));
    assert_eq!(e.get("web").await.status.unwrap().collision_count, Some(1));
    e.reconcile("web").await;
    let names: Vec<String> = e.rss().await.into_iter().filter_map(|r| r.metadata.name).collect();
    let hash1 = compute_hash(&created.spec.as_ref().unwrap().template, Some(1));
    assert!(names.contains(&format!("web-{hash1}")), "{names:?}");
}

#[tokio::test(start_paused = true)]
async fn min_ready_seconds_reaches_the_replica_set_and_replica_failure_is_mirrored() {
    let e = env().await;
    e.dapi().create(&deployment("web", 2, "nginx", json!({}))).await.unwrap();
    e.roll_to_end("web").await;
    e.dapi().patch_merge("web", &json!({"spec": {"minReadySeconds": 5}})).await.unwrap();
    e.reconcile("web").await;
    let rss = e.rss().await;
    assert_eq!(rss.len(), 1, "minReadySeconds is not a new template");
    assert_eq!(rss[0].spec.as_ref().unwrap().min_ready_seconds, Some(5));
    assert_eq!(ann(&rss[0].metadata, REVISION), "1");
    let name = rss[0].metadata.name.clone().unwrap();
    let failure = json!({"status": {"replicas": 2, "conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
        "message": "pods \"x\" is forbidden: exceeded quota"}]}});
    e.rsapi().patch_status(&name, &failure).await.unwrap();
    e.reconcile("web").await;
    let d = e.get("web").await;
    assert_eq!(cond(&d, REPLICA_FAILURE), ("True".into(), "FailedCreate".into(), "pods \"x\" is forbidden: exceeded quota".into()));
    e.rsapi().patch_status(&name, &json!({"status": {"conditions": null}})).await.unwrap();
    e.reconcile("web").await;
    assert!(condition(e.get("web").await.status.as_ref().unwrap(), REPLICA_FAILURE).is_none());
}

#[tokio::test(start_paused = true)]
async fn scaling_to_zero_and_back_keeps_one_replica_set() {
    let e = env().await;
    e.dapi().create(&deployment("web", 3, "nginx", json!({}))).await.unwrap();
    e.roll_to_end("web").await;
    e.dapi().patch_merge("web", &json!({"spec": {"replicas": 0}})).await.unwrap();
    e.roll_to_end("web").await;
    let rss = e.rss().await;
    assert_eq!((rss.len(), rs_replicas(&rss[0])), (1, 0));
    let d = e.get("web").await;
    assert_eq!(cond(&d, AVAILABLE).0, "True", "zero of zero is minimum availability");
    e.dapi().patch_merge("web", &json!({"spec": {"replicas": 2}})).await.unwrap();
    e.roll_to_end("web").await;
    assert_eq!(e.rs_sizes().await.iter().map(|r| r.1).collect::<Vec<_>>(), [2]);
    let evs = e.events().await;
    let name = &e.rss().await[0].metadata.name.clone().unwrap();
    assert!(evs.contains(&("ScalingReplicaSet".into(), format!("Scaled down replica set {name} from 3 to 0"))), "{evs:?}");
    assert!(evs.contains(&("ScalingReplicaSet".into(), format!("Scaled up replica set {name} from 0 to 2"))), "{evs:?}");
}
