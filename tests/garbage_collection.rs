//! Cascading deletion as kubectl drives it: background (the default) removes a ReplicaSet's
//! pods, `--cascade=orphan` leaves them without their ownerReference, `--cascade=foreground`
//! keeps the ReplicaSet (deletionTimestamp, foregroundDeletion) until its pods are gone; an
//! owner recreated under the same name does not save the old dependents; namespaces with
//! workloads inside are deleted completely.
mod common;
use common::*;

use serde_json::Value;
use std::time::Duration;

fn rs(name: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: c
        image: nginx
"#
    )
}

fn pods(s: &Server, app: &str) -> Vec<Value> {
    let sel = format!("app={app}");
    json(s, &["get", "pods", "-l", &sel])["items"].as_array().cloned().unwrap_or_default()
}

fn start_rs(s: &Server, name: &str, n: usize) {
    s.ok_stdin(&["apply", "-f", "-"], &rs(name, n as u32));
    eventually("pods", || (pods(s, name).len() == n).then_some(()));
}

#[test]
fn background_deletion_removes_the_pods() {
    let s = Server::start_simulated(1);
    start_rs(&s, "bg", 3);
    let out = s.ok(&["delete", "rs", "bg"]);
    assert_eq!(out.trim(), "replicaset.apps \"bg\" deleted");
    eventually("pods gone", || pods(&s, "bg").is_empty().then_some(()));
}

#[test]
fn orphan_deletion_leaves_the_pods_without_owner() {
    let s = Server::start_simulated(1);
    start_rs(&s, "orph", 2);
    let out = s.ok(&["delete", "rs", "orph", "--cascade=orphan"]);
    assert_eq!(out.trim(), "replicaset.apps \"orph\" deleted");
    assert!(s.fails(&["get", "rs", "orph"]).contains("NotFound"));
    let left = pods(&s, "orph");
    assert_eq!(left.len(), 2);
    for p in &left {
        assert!(p["metadata"]["ownerReferences"].is_null(), "{p}");
        assert!(p["metadata"]["deletionTimestamp"].is_null());
    }
    // A new ReplicaSet with the same selector adopts them instead of creating pods.
    start_rs(&s, "orph", 2);
    let rs_uid = json(&s, &["get", "rs", "orph"])["metadata"]["uid"].clone();
    eventually("adopted", || pods(&s, "orph").iter().all(|p| p["metadata"]["ownerReferences"][0]["uid"] == rs_uid).then_some(()));
}

#[test]
fn foreground_deletion_holds_the_owner_until_its_pods_are_gone() {
    let s = Server::start_simulated(1);
    start_rs(&s, "fg", 2);
    // A finalizer on one pod keeps it (and so the ReplicaSet) around.
    let held = pods(&s, "fg")[0]["metadata"]["name"].as_str().unwrap().to_string();
    s.ok(&["patch", "pod", &held, "--type=merge", "-p", r#"{"metadata":{"finalizers":["example.com/hold"]}}"#]);
    s.ok(&["delete", "rs", "fg", "--cascade=foreground", "--wait=false"]);
    let rs = json(&s, &["get", "rs", "fg"]);
    assert!(rs["metadata"]["deletionTimestamp"].is_string(), "{rs}");
    assert_eq!(rs["metadata"]["finalizers"], serde_json::json!(["foregroundDeletion"]));
    // The other pod goes; the held one is being deleted.
    eventually("held pod deleting", || {
        let p = pods(&s, "fg");
        (p.len() == 1 && p[0]["metadata"]["deletionTimestamp"].is_string()).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    s.ok(&["get", "rs", "fg"]);
    s.ok(&["patch", "pod", &held, "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    eventually("rs gone", || s.kubectl(&["get", "rs", "fg"]).status.success().then_some(()).xor(Some(())));
    assert!(pods(&s, "fg").is_empty());
}

#[test]
fn kubectl_foreground_delete_waits_until_gone() {
    let s = Server::start_simulated(1);
    start_rs(&s, "fgw", 3);
    let out = s.ok(&["delete", "rs", "fgw", "--cascade=foreground"]);
    assert_eq!(out.trim(), "replicaset.apps \"fgw\" deleted");
    assert!(s.fails(&["get", "rs", "fgw"]).contains("NotFound"));
    assert!(pods(&s, "fgw").iter().all(|p| p["metadata"]["deletionTimestamp"].is_string()));
}

#[test]
fn a_recreated_owner_with_the_same_name_is_not_the_owner() {
    let s = Server::start_simulated(1);
    s.ok(&["create", "configmap", "owner"]);
    let uid = json(&s, &["get", "cm", "owner"])["metadata"]["uid"].as_str().unwrap().to_string();
    let dep = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"dep","ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"{uid}"}}]}}}}"#
    );
    s.ok_stdin(&["create", "-f", "-"], &dep);
    std::thread::sleep(Duration::from_millis(300));
    s.ok(&["get", "cm", "dep"]);
    // Replace the owner: same name, another uid. The dependent's owner is gone.
    s.ok(&["delete", "cm", "owner"]);
    s.ok(&["create", "configmap", "owner"]);
    eventually("dependent collected", || (!s.kubectl(&["get", "cm", "dep"]).status.success()).then_some(()));
    s.ok(&["get", "cm", "owner"]);
}

#[test]
fn a_dependent_with_a_missing_owner_is_collected_and_one_with_a_live_owner_is_kept() {
    let s = Server::start_simulated(1);
    s.ok(&["create", "configmap", "alive"]);
    let uid = json(&s, &["get", "cm", "alive"])["metadata"]["uid"].as_str().unwrap().to_string();
    let mk = |name: &str, owners: &str| format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","ownerReferences":[{owners}]}}}}"#);
    let live = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","name":"alive","uid":"{uid}"}}"#);
    let dead = r#"{"apiVersion":"v1","kind":"ConfigMap","name":"ghost","uid":"00000000-0000-0000-0000-000000000001"}"#;
    s.ok_stdin(&["create", "-f", "-"], &mk("kept", &format!("{live},{dead}")));
    s.ok_stdin(&["create", "-f", "-"], &mk("orphaned", dead));
    eventually("collected", || (!s.kubectl(&["get", "cm", "orphaned"]).status.success()).then_some(()));
    // The one with a live owner stays, its dangling reference dropped.
    eventually("dangling ref dropped", || {
        let cm = json(&s, &["get", "cm", "kept"]);
        (cm["metadata"]["ownerReferences"].as_array().map(Vec::len) == Some(1)).then_some(())
    });
}

#[test]
fn deleting_a_namespace_with_workloads_completes() {
    let s = Server::start_simulated(1);
    s.ok(&["create", "namespace", "work"]);
    s.ok(&["create", "deployment", "web", "--image=nginx", "--replicas=2", "-n", "work"]);
    s.ok_stdin(&["apply", "-n", "work", "-f", "-"], &rs("plain", 2));
    eventually("pods", || (json(&s, &["get", "pods", "-n", "work"])["items"].as_array().map(Vec::len) >= Some(2)).then_some(()));
    let out = s.ok(&["delete", "namespace", "work", "--timeout=60s"]);
    assert_eq!(out.trim(), "namespace \"work\" deleted");
    assert!(s.fails(&["get", "namespace", "work"]).contains("NotFound"));
}

#[test]
fn creating_in_a_terminating_namespace_is_refused() {
    let s = Server::start_simulated(1);
    s.ok(&["create", "namespace", "closing"]);
    s.ok(&["create", "configmap", "held", "-n", "closing"]);
    s.ok(&["patch", "configmap", "held", "-n", "closing", "--type=merge", "-p", r#"{"metadata":{"finalizers":["example.com/hold"]}}"#]);
    s.ok(&["delete", "namespace", "closing", "--wait=false"]);
    let err = s.fails(&["create", "configmap", "late", "-n", "closing"]);
    assert_eq!(
        err.trim(),
        "error: failed to create configmap: configmaps \"late\" is forbidden: unable to create new content in namespace closing because it is being terminated"
    );
    s.ok(&["patch", "configmap", "held", "-n", "closing", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    eventually("namespace gone", || (!s.kubectl(&["get", "ns", "closing"]).status.success()).then_some(()));
}

#[test]
fn a_new_namespace_gets_a_default_service_account() {
    let s = Server::start_simulated(1);
    s.ok(&["create", "namespace", "team"]);
    let out = eventually("default sa", || {
        let out = s.ok(&["get", "sa", "-n", "team"]);
        out.contains("default").then_some(out)
    });
    let r = rows(&out);
    assert_eq!(r[0], ["NAME", "SECRETS", "AGE"]);
    assert_eq!(&r[1][..2], ["default", "0"]);
    // Deleted, it comes back; the system namespaces have one too.
    s.ok(&["delete", "sa", "default", "-n", "team"]);
    eventually("recreated", || s.kubectl(&["get", "sa", "default", "-n", "team"]).status.success().then_some(()));
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        eventually("system namespace sa", || s.kubectl(&["get", "sa", "default", "-n", ns]).status.success().then_some(()));
    }
}

#[test]
fn deployments_cascade_in_the_foreground_and_orphan_on_request() {
    let s = Server::start_simulated(1);
    s.ok(&["create", "deployment", "web", "--image=nginx", "--replicas=2"]);
    eventually("pods", || (pods(&s, "web").len() == 2).then_some(()));
    let out = s.ok(&["delete", "deployment", "web", "--cascade=foreground"]);
    assert_eq!(out.trim(), "deployment.apps \"web\" deleted");
    eventually("replicasets and pods gone", || {
        let rs = json(&s, &["get", "rs", "-l", "app=web"]);
        (rs["items"].as_array().is_some_and(Vec::is_empty) && pods(&s, "web").is_empty()).then_some(())
    });

    s.ok(&["create", "deployment", "keep", "--image=nginx", "--replicas=2"]);
    eventually("pods", || (pods(&s, "keep").len() == 2).then_some(()));
    s.ok(&["delete", "deployment", "keep", "--cascade=orphan"]);
    let rs = json(&s, &["get", "rs", "-l", "app=keep"]);
    let items = rs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0]["metadata"]["ownerReferences"].is_null(), "{rs}");
    assert_eq!(pods(&s, "keep").len(), 2, "the ReplicaSet still owns its pods");
}

/// Without a propagation policy (kubectl always sends one; other clients need not), a core/v1
/// ReplicationController orphans its pods, as Kubernetes keeps that legacy default; a
/// ReplicaSet's go in the background.
#[tokio::test(flavor = "multi_thread")]
async fn default_propagation_follows_the_kind() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::ReplicationController;
    use kube::api::{Api, DeleteParams};
    let s = Server::start_simulated(1);
    let rc = r#"{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"old"},"spec":{"replicas":2,"selector":{"app":"old"},"template":{"metadata":{"labels":{"app":"old"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#;
    s.ok_stdin(&["create", "-f", "-"], rc);
    start_rs(&s, "new", 2);
    eventually("rc pods", || (pods(&s, "old").len() == 2).then_some(()));
    let client = s.kube_client().await;
    let rcs: Api<ReplicationController> = Api::namespaced(client.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(client, "default");
    let dp = DeleteParams { propagation_policy: None, ..Default::default() };
    rcs.delete("old", &dp).await.expect("delete rc");
    rss.delete("new", &dp).await.expect("delete rs");
    eventually("rc gone", || (!s.kubectl(&["get", "rc", "old"]).status.success()).then_some(()));
    eventually("rs pods gone", || pods(&s, "new").is_empty().then_some(()));
    let left = pods(&s, "old");
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|p| p["metadata"]["ownerReferences"].is_null()));
}
