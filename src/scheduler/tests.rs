//! The scheduler core under virtual time: queue order, assumed pods, spreading, retries.

use super::*;
use rand::SeedableRng;
use serde_json::json;

fn node(name: &str, cpu: &str, extra: serde_json::Value) -> Arc<Node> {
    let mut v = json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}});
    if let (Some(a), Some(b)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in b {
            a.insert(k.clone(), val.clone());
        }
    }
    Arc::new(serde_json::from_value(v).unwrap())
}

fn pod(name: &str, spec: serde_json::Value) -> Arc<Pod> {
    let mut s = json!({"containers": [{"name": "c", "image": "nginx"}]});
    if let (Some(a), Some(b)) = (s.as_object_mut(), spec.as_object()) {
        for (k, val) in b {
            a.insert(k.clone(), val.clone());
        }
    }
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": name},
            "creationTimestamp": "2026-01-01T00:00:00Z", "resourceVersion": "1"}, "spec": s, "status": {"phase": "Pending"}}))
        .unwrap(),
    )
}

fn cpu_pod(name: &str, cpu: &str) -> Arc<Pod> {
    pod(name, json!({"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}]}))
}

fn bound(p: &Pod, node: &str) -> Arc<Pod> {
    let mut p = p.clone();
    p.spec.as_mut().unwrap().node_name = Some(node.into());
    Arc::new(p)
}

fn unschedulable(message: &str, plugins: u8) -> Decision {
    Decision::Unschedulable { message: message.to_string(), plugins }
}

fn no_ns(_: &str) -> Option<BTreeMap<String, String>> {
    None
}

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(7)
}

/// Pops and schedules everything ready; returns (pod, decision).
fn drain(s: &mut Scheduler, now: Instant) -> Vec<(String, Decision)> {
    let mut out = Vec::new();
    let mut r = rng();
    while let Some(p) = s.queue.pop(now) {
        let d = s.schedule(&p, &no_ns, &mut r);
        let key = pod_key(&p);
        match &d {
            Decision::Bind(_) => s.queue.done(&key),
            Decision::Unschedulable { plugins, .. } => s.queue.failed(&key, Some(*plugins), now),
        }
        out.push((p.metadata.name.clone().unwrap(), d));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn assumed_pods_count_before_the_informer_reports_the_binding() {
    let mut s = Scheduler::new();
    let now = Instant::now();
    s.resync(&[], &[node("n1", "1", json!({}))], now);
    s.on_pod(cpu_pod("a", "600m"), now);
    s.on_pod(cpu_pod("b", "600m"), now);
    let out = drain(&mut s, now);
    assert_eq!(out[0].1, Decision::Bind("n1".into()));
    assert_eq!(
        out[1].1,
        unschedulable(
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
            filters::plugin::NODE_RESOURCES_FIT
        )
    );
    // A stale unbound update of the assumed pod does not requeue it; the binding confirms it.
    assert_eq!(s.on_pod(cpu_pod("a", "600m"), now), 0);
    assert!(s.queue.place("default/a").is_none());
    s.on_pod(bound(&cpu_pod("a", "600m"), "n1"), now);
    assert_eq!(s.cache.placement("default/a"), Some(("n1", false)));
    // Deleting the bound pod frees the node and the pending pod fits after its backoff.
    let event = s.on_pod_deleted(&bound(&cpu_pod("a", "600m"), "n1"));
    assert_eq!(event, filters::plugin::POD_REMOVED);
    s.queue.moved(event, now);
    assert!(drain(&mut s, now).is_empty(), "still backing off");
    let out = drain(&mut s, now + Duration::from_secs(1));
    assert_eq!(out, [("b".to_string(), Decision::Bind("n1".into()))]);
}

#[tokio::test(start_paused = true)]
async fn higher_priority_pods_are_scheduled_first() {
    let mut s = Scheduler::new();
    let now = Instant::now();
    s.resync(&[], &[node("n1", "1", json!({}))], now);
    s.on_pod(cpu_pod("low", "800m"), now);
    let mut high = (*cpu_pod("high", "800m")).clone();
    high.spec.as_mut().unwrap().priority = Some(1000);
    s.on_pod(Arc::new(high), now);
    let out = drain(&mut s, now);
    assert_eq!(out[0], ("high".to_string(), Decision::Bind("n1".into())));
    assert_eq!(out[1].0, "low");
    assert!(matches!(out[1].1, Decision::Unschedulable { .. }));
}

#[tokio::test(start_paused = true)]
async fn replicas_spread_over_many_nodes() {
    let mut s = Scheduler::new();
    let now = Instant::now();
    let nodes: Vec<Arc<Node>> = (0..100).map(|i| node(&format!("n{i}"), "32", json!({}))).collect();
    s.resync(&[], &nodes, now);
    let owner = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs-1", "controller": true}]);
    for i in 0..1000 {
        let mut p = (*pod(&format!("web-{i}"), json!({}))).clone();
        p.metadata.owner_references = serde_json::from_value(owner.clone()).unwrap();
        s.on_pod(Arc::new(p), now);
    }
    let started = std::time::Instant::now();
    let out = drain(&mut s, now);
    let elapsed = started.elapsed();
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for (_, d) in &out {
        let Decision::Bind(n) = d else { panic!("{d:?}") };
        *per_node.entry(n.clone()).or_insert(0) += 1;
    }
    assert_eq!(per_node.len(), 100);
    assert!(per_node.values().all(|c| *c == 10), "{per_node:?}");
    println!("1000 scheduling cycles over 100 nodes: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "1000 scheduling cycles took {elapsed:?}");
}

#[tokio::test(start_paused = true)]
async fn node_changes_retry_unschedulable_pods() {
    let mut s = Scheduler::new();
    let now = Instant::now();
    s.resync(&[], &[], now);
    let p = pod("p", json!({"nodeSelector": {"disk": "ssd"}}));
    s.on_pod(p.clone(), now);
    assert_eq!(drain(&mut s, now), [("p".to_string(), unschedulable(filters::NO_NODES, 0))]);
    assert_eq!(s.on_node(node("n1", "1", json!({}))), filters::plugin::ALL);
    s.queue.move_all(now);
    let later = now + Duration::from_secs(1);
    let out = drain(&mut s, later);
    assert_eq!(
        out[0].1,
        unschedulable(
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
            filters::plugin::NODE_AFFINITY
        )
    );
    // A heartbeat-style update changes nothing the filters read.
    let mut same = (*node("n1", "1", json!({}))).clone();
    same.status.as_mut().unwrap().conditions = Some(vec![]);
    assert_eq!(s.on_node(Arc::new(same)), 0);
    let labelled = node("n1", "1", json!({"metadata": {"name": "n1", "labels": {"disk": "ssd"}}}));
    assert_eq!(s.on_node(labelled), filters::plugin::ALL);
    s.queue.move_all(later);
    assert!(drain(&mut s, later + Duration::from_millis(1500)).is_empty(), "two failures: two seconds of backoff");
    assert_eq!(drain(&mut s, later + Duration::from_secs(2)), [("p".to_string(), Decision::Bind("n1".into()))]);
}

#[tokio::test(start_paused = true)]
async fn pods_of_other_schedulers_gated_or_finished_are_left_alone() {
    let mut s = Scheduler::new();
    let now = Instant::now();
    s.resync(&[], &[node("n1", "1", json!({}))], now);
    s.on_pod(pod("other", json!({"schedulerName": "my-scheduler"})), now);
    s.on_pod(pod("gated", json!({"schedulingGates": [{"name": "wait"}]})), now);
    assert!(drain(&mut s, now).is_empty());
    // Removing the gate makes it schedulable.
    s.on_pod(pod("gated", json!({})), now);
    assert_eq!(drain(&mut s, now), [("gated".to_string(), Decision::Bind("n1".into()))]);
    // A finished pod frees its node.
    let mut done = (*bound(&cpu_pod("job", "1"), "n1")).clone();
    s.on_pod(Arc::new(done.clone()), now);
    assert_eq!(s.cache.node("n1").unwrap().requested.milli_cpu, 1000);
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    assert_eq!(s.on_pod(Arc::new(done), now), filters::plugin::POD_REMOVED);
    assert_eq!(s.cache.node("n1").unwrap().requested.milli_cpu, 0);
}

#[test]
fn namespace_selectors_in_affinity_terms_read_namespace_labels() {
    let mut m = BTreeMap::new();
    m.insert("prod".to_string(), BTreeMap::from([("env".to_string(), "prod".to_string())]));
    let labels = ns_map(&m);
    let term = filters::Term {
        namespaces: vec![],
        namespace_selector: Some(serde_json::from_value(json!({"matchLabels": {"env": "prod"}})).unwrap()),
        selector: Some(Default::default()),
        topology_key: "kubernetes.io/hostname".into(),
        weight: 1,
    };
    let mut p = (*pod("x", json!({}))).clone();
    assert!(!term.matches(&p, &labels));
    p.metadata.namespace = Some("prod".into());
    assert!(term.matches(&p, &labels));
}

mod end_to_end {
    //! `run` against a real registry: binding, the Scheduled event, the Unschedulable condition.
    use super::*;
    use crate::registry::generic::Registry;
    use crate::store::{recording::RecordingBackend, Store, StoreOptions};
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use tokio_util::sync::CancellationToken;

    async fn client() -> Client {
        let opts = StoreOptions { history_revisions: 1_000_000, compaction_interval: Duration::from_secs(3600) };
        let store = Store::open_with_backend(Arc::new(RecordingBackend::default()), opts).unwrap();
        let client = Client::new(Registry::new(store), "kube-scheduler");
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
        client.api::<Namespace>(None).unwrap().create(&ns).await.unwrap();
        client
    }

    async fn add_nodes(client: &Client, n: usize, cpu: &str) {
        let api = client.api::<Node>(None).unwrap();
        for i in 0..n {
            let node = node(&format!("n{i}"), cpu, json!({}));
            let created = api.create(&node).await.unwrap();
            let mut with_status = created.clone();
            with_status.status = node.status.clone();
            api.replace_status(&format!("n{i}"), &with_status).await.unwrap();
        }
    }

    fn fresh(p: &Pod) -> Pod {
        let mut p = p.clone();
        p.metadata.creation_timestamp = None;
        p.metadata.resource_version = None;
        p.status = None;
        p
    }

    async fn wait_until<F: std::future::Future<Output = bool>>(mut f: impl FnMut() -> F) {
        for _ in 0..2000 {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("condition not reached");
    }

    #[tokio::test(start_paused = true)]
    async fn binds_records_scheduled_and_marks_unschedulable_pods() {
        let client = client().await;
        add_nodes(&client, 1, "1").await;
        let stop = CancellationToken::new();
        let ctx = Context::new(client.clone(), stop.clone());
        let task = tokio::spawn(run(ctx));
        let pods = client.api::<Pod>(Some("default")).unwrap();
        pods.create(&fresh(&cpu_pod("a", "600m"))).await.unwrap();
        wait_until(|| async { pods.get("a").await.unwrap().spec.unwrap().node_name.as_deref() == Some("n0") }).await;
        pods.create(&fresh(&cpu_pod("b", "600m"))).await.unwrap();
        let msg = "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";
        wait_until(|| async {
            let b = pods.get("b").await.unwrap();
            b.status.and_then(|s| s.conditions).into_iter().flatten().any(|c| {
                c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable") && c.message.as_deref() == Some(msg)
            })
        })
        .await;
        let events = client.api::<CoreEvent>(Some("default")).unwrap();
        wait_until(|| async {
            let (evs, _) = events.list(None).await.unwrap();
            let has = |reason: &str, m: &str| evs.iter().any(|e| e.reason.as_deref() == Some(reason) && e.message.as_deref() == Some(m));
            has("Scheduled", "Successfully assigned default/a to n0") && has("FailedScheduling", msg)
        })
        .await;
        // Deleting the bound pod (at once: no kubelet here to finish a graceful deletion) lets
        // the pending one in.
        let now = crate::client::DeleteOptions { grace_period_seconds: Some(0), ..Default::default() };
        pods.delete_with("a", &now).await.unwrap();
        wait_until(|| async { pods.get("b").await.unwrap().spec.unwrap().node_name.is_some() }).await;
        stop.cancel();
        let _ = task.await;
    }

    /// Throughput of scheduling and binding through the registry (not a timed test):
    /// `cargo test --lib scheduler::tests::end_to_end::throughput -- --ignored --nocapture`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn throughput() {
        let client = client().await;
        add_nodes(&client, 100, "32").await;
        let pods = client.api::<Pod>(Some("default")).unwrap();
        let n = 10_000;
        for i in 0..n {
            pods.create(&fresh(&pod(&format!("p{i}"), json!({})))).await.unwrap();
        }
        let stop = CancellationToken::new();
        let ctx = Context::new(client.clone(), stop.clone());
        let reader = ctx.informers.synced_reader::<Pod>().await.unwrap();
        let started = std::time::Instant::now();
        let task = tokio::spawn(run(ctx));
        loop {
            let bound = reader.list().iter().filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()).count();
            if bound == n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let secs = started.elapsed().as_secs_f64();
        println!("{n} pods bound on 100 nodes in {secs:.2} s: {:.0} binds/s", n as f64 / secs);
        stop.cancel();
        let _ = task.await;
    }
}
