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
