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
