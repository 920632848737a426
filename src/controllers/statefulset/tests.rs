use super::*;

fn pod(name: &str, phase: &str, ready: bool, revision: &str) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "uid": format!("uid-{name}"), "labels": {HASH_LABEL: revision}},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap(),
    )
}

fn params(replicas: i32, monotonic: bool, partition: Option<i32>) -> Params {
    Params { replicas, start: 0, monotonic, rolling: partition, min_ready_seconds: 0, delete_when_deleted: false, delete_when_scaled: false }
}

fn pods(list: &[(i32, &str, bool, &str)]) -> BTreeMap<i32, Arc<Pod>> {
    list.iter().map(|(o, phase, ready, rev)| (*o, pod(&format!("web-{o}"), phase, *ready, rev))).collect()
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

#[test]
fn ordinals_parse_only_members() {
    assert_eq!(ordinal_of("web", "web-0"), Some(0));
    assert_eq!(ordinal_of("web", "web-12"), Some(12));
    assert_eq!(ordinal_of("web", "web-01"), None);
    assert_eq!(ordinal_of("web", "web-x"), None);
    assert_eq!(ordinal_of("web", "webby-1"), None);
    assert_eq!(ordinal_of("web", "web-"), None);
}

#[test]
fn ordered_ready_creates_one_pod_at_a_time() {
    let p = params(3, true, Some(0));
    assert_eq!(plan(&p, &pods(&[]), "r1", "r1", now()), vec![Step::Create { ordinal: 0, update: true }]);
    // web-0 exists but is not ready yet: wait.
    assert_eq!(plan(&p, &pods(&[(0, "Pending", false, "r1")]), "r1", "r1", now()), vec![]);
    assert_eq!(plan(&p, &pods(&[(0, "Running", false, "r1")]), "r1", "r1", now()), vec![]);
    assert_eq!(
        plan(&p, &pods(&[(0, "Running", true, "r1")]), "r1", "r1", now()),
        vec![Step::Create { ordinal: 1, update: true }]
    );
    assert_eq!(
        plan(&p, &pods(&[(0, "Running", true, "r1"), (1, "Running", true, "r1")]), "r1", "r1", now()),
        vec![Step::Create { ordinal: 2, update: true }]
    );
}

#[test]
fn parallel_creates_every_missing_pod_at_once() {
    let p = params(3, false, Some(0));
    assert_eq!(
        plan(&p, &pods(&[(1, "Pending", false, "r1")]), "r1", "r1", now()),
        vec![Step::Create { ordinal: 0, update: true }, Step::Create { ordinal: 2, update: true }]
    );
}

#[test]
fn scale_down_removes_the_highest_ordinal_first_one_at_a_time() {
    let p = params(1, true, Some(0));
    let all = pods(&[(0, "Running", true, "r1"), (1, "Running", true, "r1"), (2, "Running", true, "r1")]);
    assert_eq!(plan(&p, &all, "r1", "r1", now()), vec![Step::Delete { ordinal: 2, condemned: true }]);
    // web-2 terminating: wait for it before web-1.
    let mut terminating = all.clone();
    let mut p2 = (*terminating[&2]).clone();
    p2.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
    terminating.insert(2, Arc::new(p2));
    assert_eq!(plan(&p, &terminating, "r1", "r1", now()), vec![]);
    // Parallel deletes all condemned pods at once.
    let p = params(1, false, Some(0));
    assert_eq!(
        plan(&p, &all, "r1", "r1", now()),
        vec![Step::Delete { ordinal: 2, condemned: true }, Step::Delete { ordinal: 1, condemned: true }]
    );
}

#[test]
fn rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
    let p = params(3, true, Some(0));
    let old = pods(&[(0, "Running", true, "r1"), (1, "Running", true, "r1"), (2, "Running", true, "r1")]);
    assert_eq!(plan(&p, &old, "r1", "r2", now()), vec![Step::Delete { ordinal: 2, condemned: false }]);
    // web-2 recreated at r2 but not ready: wait.
    let mut mid = old.clone();
    mid.insert(2, pod("web-2", "Running", false, "r2"));
    assert_eq!(plan(&p, &mid, "r1", "r2", now()), vec![]);
    mid.insert(2, pod("web-2", "Running", true, "r2"));
    assert_eq!(plan(&p, &mid, "r1", "r2", now()), vec![Step::Delete { ordinal: 1, condemned: false }]);
    // A missing pod below the partition comes back at the current revision, above it at the update one.
    let p = params(3, false, Some(2));
    assert_eq!(
        plan(&p, &pods(&[(1, "Running", true, "r1")]), "r1", "r2", now()),
        vec![Step::Create { ordinal: 0, update: false }, Step::Create { ordinal: 2, update: true }]
    );
    // With partition 2 only web-2 is updated.
    assert_eq!(plan(&p, &old, "r1", "r2", now()), vec![Step::Delete { ordinal: 2, condemned: false }]);
    let mut done = old.clone();
    done.insert(2, pod("web-2", "Running", true, "r2"));
    assert_eq!(plan(&p, &done, "r1", "r2", now()), vec![]);
    // OnDelete never deletes for an update.
    let p = params(3, true, None);
    assert_eq!(plan(&p, &old, "r1", "r2", now()), vec![]);
}

#[test]
fn failed_pods_are_replaced() {
    let p = params(2, true, Some(0));
    assert_eq!(
        plan(&p, &pods(&[(0, "Failed", false, "r1"), (1, "Running", true, "r1")]), "r1", "r1", now()),
        vec![Step::Delete { ordinal: 0, condemned: false }]
    );
}

#[test]
fn status_counts_revisions_and_readiness() {
    let p = params(3, true, Some(0));
    let st = compute_status(&p, &pods(&[(0, "Running", true, "r1"), (1, "Running", true, "r2"), (2, "Pending", false, "r2")]), "r1", "r2", now());
    assert_eq!((st.replicas, st.ready_replicas, st.available_replicas, st.current_replicas, st.updated_replicas), (3, 2, 2, 1, 2));
}

#[test]
fn pods_get_identity_volumes_and_revision() {
    let set: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {
            "serviceName": "nginx", "replicas": 3,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }
    }))
    .unwrap();
    let spec = set.spec.clone().unwrap();
    let pod = new_pod(&set, &spec.template, 1, "web-abc");
    assert_eq!(pod.metadata.name.as_deref(), Some("web-1"));
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-"));
    let l = pod.metadata.labels.clone().unwrap();
    assert_eq!(l[POD_NAME_LABEL], "web-1");
    assert_eq!(l[POD_INDEX_LABEL], "1");
    assert_eq!(l[HASH_LABEL], "web-abc");
    assert_eq!(l["app"], "nginx");
    let ps = pod.spec.unwrap();
    assert_eq!((ps.hostname.as_deref(), ps.subdomain.as_deref()), (Some("web-1"), Some("nginx")));
    let v = &ps.volumes.unwrap()[0];
    assert_eq!((v.name.as_str(), v.persistent_volume_claim.as_ref().unwrap().claim_name.as_str()), ("www", "www-web-1"));
    let claims = claims_for(&set, 1);
    assert_eq!(claims[0].metadata.name.as_deref(), Some("www-web-1"));
    assert_eq!(claims[0].metadata.labels.as_ref().unwrap()["app"], "nginx");
}

mod live {
    use super::super::*;
    use crate::client::DeleteOptions;
    use crate::registry::generic::Registry;
    use crate::store::recording::RecordingBackend;
    use crate::store::{Store, StoreOptions};
    use k8s_openapi::api::core::v1::Namespace;
    use tokio_util::sync::CancellationToken;

    /// 50 ms of virtual time, and a moment of real time for the store's own thread (virtual
    /// time runs ahead while it works).
    async fn pause() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        std::thread::sleep(Duration::from_millis(2));
    }

    async fn client() -> Client {
        let opts = StoreOptions { history_revisions: 1_000_000, compaction_interval: Duration::from_secs(3600) };
        let store = Store::open_with_backend(Arc::new(RecordingBackend::default()), opts).unwrap();
        let client = Client::new(Registry::new(store), "test");
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
        client.api::<Namespace>(None).unwrap().create(&ns).await.unwrap();
        client
    }

    /// Plays the kubelet: pending pods go Running and Ready, deleted pods go away.
    async fn kubelet(client: &Client) -> Vec<Pod> {
        let api = client.api::<Pod>(Some("default")).unwrap();
        let (pods, _) = api.list(None).await.unwrap();
        for p in &pods {
            let name = p.metadata.name.clone().unwrap();
            if p.metadata.deletion_timestamp.is_some() {
                let _ = api.delete_with(&name, &DeleteOptions { grace_period_seconds: Some(0), ..Default::default() }).await;
            } else if pods::phase(p) == "Pending" {
                let now = jiff::Timestamp::now().to_string();
                let _ = api
                    .patch_status(&name, &json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}}))
                    .await;
            }
        }
        api.list(None).await.unwrap().0
    }

    fn names(pods: &[Pod]) -> Vec<String> {
        let mut v: Vec<String> = pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).filter_map(|p| p.metadata.name.clone()).collect();
        v.sort();
        v
    }

    fn owners(c: &PersistentVolumeClaim) -> Vec<String> {
        c.metadata.owner_references.iter().flatten().map(|r| format!("{}/{}", r.kind, r.name)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn ordered_creation_and_claim_retention() {
        let client = client().await;
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(Context::new(client.clone(), stop.clone())));
        let sets = client.api::<StatefulSet>(Some("default")).unwrap();
        let set: StatefulSet = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "serviceName": "nginx", "replicas": 3,
                "selector": {"matchLabels": {"app": "nginx"}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"},
                "template": {"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
            }
        }))
        .unwrap();
        sets.create(&set).await.unwrap();
        let pod_api = client.api::<Pod>(Some("default")).unwrap();
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            // Never a pod whose predecessor is not yet ready.
            let pods = pod_api.list(None).await.unwrap().0;
            for p in &pods {
                let o = ordinal_of("web", p.metadata.name.as_deref().unwrap()).unwrap();
                if o > 0 {
                    let prev = pods.iter().find(|q| q.metadata.name.as_deref() == Some(&format!("web-{}", o - 1)));
                    assert!(prev.is_some_and(running_ready), "web-{o} exists before web-{} is ready", o - 1);
                }
                if !seen.contains(&o) {
                    seen.push(o);
                }
            }
            if names(&kubelet(&client).await).len() == 3 && sets.get("web").await.unwrap().status.is_some_and(|s| s.ready_replicas == Some(3)) {
                break;
            }
            pause().await;
        }
        assert_eq!(seen, [0, 1, 2]);
        let claims = client.api::<PersistentVolumeClaim>(Some("default")).unwrap();
        for o in 0..3 {
            let c = claims.get(&format!("www-web-{o}")).await.unwrap();
            assert_eq!(owners(&c), ["StatefulSet/web"], "whenDeleted: Delete makes the set own the claim");
        }

        // whenScaled: Delete hands a scaled-down pod's claim to the pod (the GC deletes it with it).
        sets.patch_merge("web", &json!({"spec": {"replicas": 2}})).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if names(&kubelet(&client).await) == ["web-0", "web-1"] {
                break;
            }
            pause().await;
        }
        assert_eq!(names(&pod_api.list(None).await.unwrap().0), ["web-0", "web-1"]);
        assert_eq!(owners(&claims.get("www-web-2").await.unwrap()), ["Pod/web-2"]);
        assert_eq!(owners(&claims.get("www-web-1").await.unwrap()), ["StatefulSet/web"]);

        // A partitioned update only replaces the pods at or above the partition.
        sets.patch_merge(
            "web",
            &json!({"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}},
                "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:2"}]}}}}),
        )
        .await
        .unwrap();
        let image = |pods: &[Pod], n: &str| {
            pods.iter().find(|p| p.metadata.name.as_deref() == Some(n)).and_then(|p| p.spec.as_ref()).map(|s| s.containers[0].image.clone().unwrap_or_default())
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let pods = kubelet(&client).await;
            if image(&pods, "web-1").as_deref() == Some("nginx:2") && sets.get("web").await.unwrap().status.is_some_and(|s| s.updated_replicas == Some(1) && s.ready_replicas == Some(2)) {
                break;
            }
            pause().await;
        }
        let pods = pod_api.list(None).await.unwrap().0;
        assert_eq!((image(&pods, "web-0").as_deref(), image(&pods, "web-1").as_deref()), (Some("nginx"), Some("nginx:2")));
        let st = sets.get("web").await.unwrap().status.unwrap();
        assert_ne!(st.current_revision, st.update_revision, "not every pod is updated");
        assert_eq!((st.current_replicas, st.updated_replicas), (Some(1), Some(1)));
        stop.cancel();
        let _ = task.await;
    }
}

#[test]
fn claim_owners_follow_the_retention_policy() {
    let set: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "web", "uid": "set-uid"}, "spec": {"selector": {}, "template": {}}})).unwrap();
    let pod = pod("web-1", "Running", true, "r1");
    let uids = |refs: Option<Vec<OwnerReference>>| refs.map(|r| r.into_iter().map(|r| r.uid).collect::<Vec<_>>());
    let mut p = params(1, true, Some(0));
    // Retain/Retain: no owners; an existing set reference is dropped.
    assert_eq!(uids(claim_owners(&[], &set, &pod, &p, true)), None);
    assert_eq!(uids(claim_owners(&[plain_ref(&set)], &set, &pod, &p, true)), Some(vec![]));
    // whenDeleted=Delete: the set owns the claim, scaled down or not.
    p.delete_when_deleted = true;
    assert_eq!(uids(claim_owners(&[], &set, &pod, &p, true)), Some(vec!["set-uid".to_string()]));
    assert_eq!(uids(claim_owners(&[plain_ref(&set)], &set, &pod, &p, false)), None);
    // whenScaled=Delete too: a scaled-down pod takes over.
    p.delete_when_scaled = true;
    assert_eq!(uids(claim_owners(&[plain_ref(&set)], &set, &pod, &p, false)), Some(vec!["uid-web-1".to_string()]));
    // whenScaled=Delete alone: only scaled-down pods own their claims.
    p.delete_when_deleted = false;
    assert_eq!(uids(claim_owners(&[], &set, &pod, &p, true)), None);
    assert_eq!(uids(claim_owners(&[], &set, &pod, &p, false)), Some(vec!["uid-web-1".to_string()]));
}
