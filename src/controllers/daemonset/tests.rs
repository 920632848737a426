use super::*;

fn node(name: &str, labels: Value, taints: Value) -> Node {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}})).unwrap()
}

fn template(spec: Value) -> PodTemplateSpec {
    serde_json::from_value(json!({"metadata": {"labels": {"app": "agent"}}, "spec": spec})).unwrap()
}

fn pod(name: &str, node: &str, hash: &str, ready: bool, created: i64) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {HASH_LABEL: hash}, "creationTimestamp": jiff::Timestamp::from_second(created).unwrap().to_string()},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap(),
    )
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

#[test]
fn eligibility_follows_selectors_affinity_and_taints() {
    let plain = template(json!({"containers": [{"name": "c", "image": "i"}]}));
    assert_eq!(should_run(&node("n1", json!({}), json!([])), &plain), (true, true));
    // NoSchedule taint not tolerated: no new pod, but a running one stays.
    let tainted = node("n1", json!({}), json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]));
    assert_eq!(should_run(&tainted, &plain), (false, true));
    let evicting = node("n1", json!({}), json!([{"key": "dedicated", "value": "db", "effect": "NoExecute"}]));
    assert_eq!(should_run(&evicting, &plain), (false, false));
    let tolerant = template(json!({"containers": [{"name": "c", "image": "i"}], "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db"}]}));
    assert_eq!(should_run(&evicting, &tolerant), (true, true));
    // The standard daemon tolerations: cordoned and not-ready nodes still run daemons.
    let cordoned = node("n1", json!({}), json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}, {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]));
    assert_eq!(should_run(&cordoned, &plain), (true, true));
    let net = node("n1", json!({}), json!([{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]));
    assert_eq!(should_run(&net, &plain), (false, true));
    let host = template(json!({"containers": [{"name": "c", "image": "i"}], "hostNetwork": true}));
    assert_eq!(should_run(&net, &host), (true, true));
    // nodeSelector and required node affinity.
    let sel = template(json!({"containers": [{"name": "c", "image": "i"}], "nodeSelector": {"disk": "ssd"}}));
    assert_eq!(should_run(&node("n1", json!({"disk": "ssd"}), json!([])), &sel), (true, true));
    assert_eq!(should_run(&node("n1", json!({"disk": "hdd"}), json!([])), &sel), (false, false));
    let aff = template(json!({"containers": [{"name": "c", "image": "i"}], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n9"]}]}]}}}}));
    assert_eq!(should_run(&node("n1", json!({"zone": "a"}), json!([])), &aff), (true, true));
    assert_eq!(should_run(&node("n9", json!({}), json!([])), &aff), (true, true));
    assert_eq!(should_run(&node("n2", json!({"zone": "b"}), json!([])), &aff), (false, false));
}

#[test]
fn daemon_pods_are_pinned_to_their_node_and_tolerate_node_conditions() {
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent", "namespace": "kube-system", "uid": "u1"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    }))
    .unwrap();
    let p = new_pod(&ds, &ds.spec.as_ref().unwrap().template, "n1", "h1", Some("1"));
    assert_eq!(p.metadata.generate_name.as_deref(), Some("agent-"));
    let l = p.metadata.labels.clone().unwrap();
    assert_eq!((l[HASH_LABEL].as_str(), l[TEMPLATE_GENERATION_LABEL].as_str(), l["app"].as_str()), ("h1", "1", "agent"));
    let v = serde_json::to_value(p.spec.as_ref().unwrap()).unwrap();
    assert_eq!(
        v["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
        json!({"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]})
    );
    let keys: Vec<&str> = v["tolerations"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), 6);
    assert!(keys.contains(&"node.kubernetes.io/unreachable"));
    assert_eq!(target_node(&p).as_deref(), Some("n1"));
    let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.controller), ("DaemonSet", Some(true)));
}

fn elig(nodes: &[&str]) -> BTreeMap<String, (bool, bool)> {
    nodes.iter().map(|n| (n.to_string(), (true, true))).collect()
}

#[test]
fn manage_creates_missing_and_removes_extra_pods() {
    let mut e = elig(&["n1", "n2", "n3"]);
    e.insert("n4".into(), (false, false));
    let by_node: BTreeMap<String, Vec<Arc<Pod>>> = [
        ("n1".to_string(), vec![pod("a", "n1", "h", true, 1), pod("b", "n1", "h", true, 2)]),
        ("n4".to_string(), vec![pod("c", "n4", "h", true, 1)]),
    ]
    .into_iter()
    .collect();
    let (creates, deletes, failed) = manage(&e, &by_node, "h", None, 0, 0, now());
    assert_eq!(creates, vec!["n2", "n3"]);
    assert_eq!(deletes, vec!["b", "c"], "the newer duplicate and the pod on the ineligible node");
    assert!(failed.is_empty());
    let st = compute_status(&e, &by_node, "h", None, 0, now());
    assert_eq!(st, Status { desired: 3, current: 1, misscheduled: 1, number_ready: 1, number_available: 1, updated: 1 });
}

#[test]
fn rolling_update_respects_max_unavailable() {
    let e = elig(&["n1", "n2", "n3"]);
    let old: BTreeMap<String, Vec<Arc<Pod>>> =
        ["n1", "n2", "n3"].iter().map(|n| (n.to_string(), vec![pod(&format!("p-{n}"), n, "old", true, 1)])).collect();
    let (deletes, creates) = rolling_update(&e, &old, "new", None, 0, 1, 0, now());
    assert_eq!((deletes.len(), creates.len()), (1, 0));
    // One node replaced but its new pod is not ready yet: nothing else goes.
    let mut mid = old.clone();
    mid.insert("n1".into(), vec![pod("q-n1", "n1", "new", false, 2)]);
    assert_eq!(rolling_update(&e, &mid, "new", None, 0, 1, 0, now()), (vec![], vec![]));
    mid.insert("n1".into(), vec![pod("q-n1", "n1", "new", true, 2)]);
    assert_eq!(rolling_update(&e, &mid, "new", None, 0, 1, 0, now()).0, vec!["p-n2"]);
    // maxUnavailable 2 takes two at once.
    assert_eq!(rolling_update(&e, &old, "new", None, 0, 2, 0, now()).0.len(), 2);
}

#[test]
fn rolling_update_with_surge_starts_new_pods_before_removing_old_ones() {
    let e = elig(&["n1", "n2"]);
    let old: BTreeMap<String, Vec<Arc<Pod>>> =
        ["n1", "n2"].iter().map(|n| (n.to_string(), vec![pod(&format!("p-{n}"), n, "old", true, 1)])).collect();
    assert_eq!(rolling_update(&e, &old, "new", None, 1, 0, 0, now()), (vec![], vec!["n1".to_string()]));
    let mut mid = old.clone();
    mid.insert("n1".into(), vec![pod("p-n1", "n1", "old", true, 1), pod("q-n1", "n1", "new", true, 2)]);
    assert_eq!(rolling_update(&e, &mid, "new", None, 1, 0, 0, now()), (vec!["p-n1".to_string()], vec!["n2".to_string()]));
    // manage keeps both while surging, and drops the old one once the new one is available.
    let (_, deletes, _) = manage(&e, &mid, "new", None, 1, 0, now());
    assert_eq!(deletes, vec!["p-n1"]);
    mid.insert("n1".into(), vec![pod("p-n1", "n1", "old", true, 1), pod("q-n1", "n1", "new", false, 2)]);
    let (_, deletes, _) = manage(&e, &mid, "new", None, 1, 0, now());
    assert!(deletes.is_empty());
}

#[test]
fn max_values_scale_with_the_desired_count() {
    let ds: DaemonSet = serde_json::from_value(json!({"spec": {"selector": {}, "template": {}, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%", "maxSurge": 0}}}})).unwrap();
    assert_eq!(surge_and_unavailable(&ds, 25), (0, 3));
    let ds: DaemonSet = serde_json::from_value(json!({"spec": {"selector": {}, "template": {}, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}})).unwrap();
    assert_eq!(surge_and_unavailable(&ds, 25), (0, 1));
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
    /// time runs ahead while it works). The real wait is a blocking task: the other tasks run
    /// meanwhile, and tokio does not auto-advance its paused clock while one is running.
    async fn pause() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(2))).await;
    }

    async fn client() -> Client {
        let opts = StoreOptions { history_revisions: 1_000_000, compaction_interval: Duration::from_secs(3600) };
        let store = Store::open_with_backend(Arc::new(RecordingBackend::default()), opts).unwrap();
        let client = Client::new(Registry::new(store), "test");
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
        client.api::<Namespace>(None).unwrap().create(&ns).await.unwrap();
        client
    }

    /// Plays the scheduler and kubelet: daemon pods land on their target node, Running and
    /// Ready; deleted pods go away. Returns (pod, node, image) of the live pods by node.
    async fn cluster(client: &Client) -> Vec<(String, String, String)> {
        let api = client.api::<Pod>(Some("default")).unwrap();
        for p in api.list(None).await.unwrap().0 {
            let name = p.metadata.name.clone().unwrap();
            if p.metadata.deletion_timestamp.is_some() {
                let _ = api.delete_with(&name, &DeleteOptions { grace_period_seconds: Some(0), ..Default::default() }).await;
            } else if pods::phase(&p) == "Pending" {
                if p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_none() {
                    let _ = api.bind(&name, &target_node(&p).unwrap()).await;
                }
                let now = jiff::Timestamp::now().to_string();
                let _ = api
                    .patch_status(&name, &json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}}))
                    .await;
            }
        }
        let mut v: Vec<(String, String, String)> = api
            .list(None)
            .await
            .unwrap()
            .0
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .map(|p| {
                let s = p.spec.clone().unwrap_or_default();
                (p.metadata.name.clone().unwrap_or_default(), s.node_name.unwrap_or_default(), s.containers[0].image.clone().unwrap_or_default())
            })
            .collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    }

    #[tokio::test(start_paused = true)]
    async fn follows_nodes_and_taints_and_rolls_one_node_at_a_time() {
        let client = client().await;
        let nodes = client.api::<Node>(None).unwrap();
        for n in ["n1", "n2"] {
            nodes.create(&serde_json::from_value(json!({"metadata": {"name": n}})).unwrap()).await.unwrap();
        }
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(Context::new(client.clone(), stop.clone())));
        let sets = client.api::<DaemonSet>(Some("default")).unwrap();
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}}}
        }))
        .unwrap();
        sets.create(&ds).await.unwrap();
        let mut pods = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            pods = cluster(&client).await;
            if pods.len() == 2 && pods.iter().all(|p| !p.1.is_empty()) {
                break;
            }
            pause().await;
        }
        assert_eq!(pods.iter().map(|p| p.1.as_str()).collect::<Vec<_>>(), ["n1", "n2"]);
        let revs = client.api::<ControllerRevision>(Some("default")).unwrap().list(None).await.unwrap().0;
        assert_eq!(revs.len(), 1);
        assert_eq!(revs[0].revision, 1);
        assert!(revs[0].metadata.name.as_deref().unwrap().starts_with("agent-"));

        // A third node gets a pod; a NoExecute taint takes it away again.
        nodes.create(&serde_json::from_value(json!({"metadata": {"name": "n3"}})).unwrap()).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            pods = cluster(&client).await;
            if pods.len() == 3 && pods.iter().all(|p| !p.1.is_empty()) {
                break;
            }
            pause().await;
        }
        assert_eq!(pods.len(), 3);
        nodes.patch_merge("n3", &json!({"spec": {"taints": [{"key": "gpu", "effect": "NoExecute"}]}})).await.unwrap();
        // The status follows the pods: wait for both.
        let scheduled = |st: k8s_openapi::api::apps::v1::DaemonSetStatus| (st.desired_number_scheduled, st.current_number_scheduled, st.number_ready);
        let mut counts = (0, 0, 0);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            pods = cluster(&client).await;
            counts = scheduled(sets.get("agent").await.unwrap().status.unwrap_or_default());
            if pods.len() == 2 && pods.iter().all(|p| !p.1.is_empty()) && counts == (2, 2, 2) {
                break;
            }
            pause().await;
        }
        assert_eq!(pods.iter().map(|p| p.1.as_str()).collect::<Vec<_>>(), ["n1", "n2"]);
        assert_eq!(counts, (2, 2, 2));

        // An update never has more than maxUnavailable (1) node without a ready pod.
        sets.patch_merge("agent", &json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "v2"}]}}}})).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            pods = cluster(&client).await;
            assert!(!pods.is_empty(), "two nodes unavailable at once");
            if pods.len() == 2 && pods.iter().all(|p| p.2 == "v2") {
                break;
            }
            pause().await;
        }
        assert!(pods.iter().all(|p| p.2 == "v2"), "{pods:?}");
        let ds = sets.get("agent").await.unwrap();
        assert_eq!(ds.metadata.annotations.as_ref().unwrap()[TEMPLATE_GENERATION_ANNOTATION], "2");
        let revs = client.api::<ControllerRevision>(Some("default")).unwrap().list(None).await.unwrap().0;
        assert_eq!(revs.iter().map(|r| r.revision).max(), Some(2));
        stop.cancel();
        let _ = task.await;
    }
}
