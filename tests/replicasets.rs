//! ReplicaSets and ReplicationControllers driven by the real kubectl: pods created to match
//! replicas with the controller's events, scale down, adoption of a matching bare pod, and
//! status counts as `kubectl get rs` shows them.
mod common;
use common::*;

use serde_json::Value;

const RS: &str = r#"apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: c
        image: nginx
"#;

const RC: &str = r#"apiVersion: v1
kind: ReplicationController
metadata:
  name: legacy
spec:
  replicas: 2
  selector:
    app: legacy
  template:
    metadata:
      labels:
        app: legacy
    spec:
      containers:
      - name: c
        image: nginx
"#;

/// Names of the pods with label app=`app` that are not being deleted.
fn live_pods(s: &Server, app: &str) -> Vec<Value> {
    let sel = format!("app={app}");
    json(s, &["get", "pods", "-l", &sel])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect()
}

#[test]
fn replicaset_creates_scales_adopts_and_reports() {
    let s = Server::start_simulated(1);
    // A bare pod matching the selector, there first: adopted and counted, so only two are created.
    s.ok(&["run", "stray", "--image=nginx", "--labels=app=web"]);
    s.ok_stdin(&["apply", "-f", "-"], RS);
    let pods = eventually("3 pods", || Some(live_pods(&s, "web")).filter(|p| p.len() == 3));
    assert!(pods.iter().any(|p| p["metadata"]["name"] == "stray"));
    let rs = json(&s, &["get", "rs", "web"]);
    for p in &pods {
        let name = p["metadata"]["name"].as_str().unwrap();
        if name != "stray" {
            assert!(name.starts_with("web-") && name.len() == "web-".len() + 5, "{name}");
            assert_eq!(p["metadata"]["generateName"], "web-");
        }
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "ReplicaSet");
        assert_eq!(owner["apiVersion"], "apps/v1");
        assert_eq!(owner["name"], "web");
        assert_eq!(owner["uid"], rs["metadata"]["uid"]);
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["blockOwnerDeletion"], true);
    }
    let rs = eventually("status", || {
        let rs = json(&s, &["get", "rs", "web"]);
        (rs["status"]["replicas"] == 3 && rs["status"]["observedGeneration"] == 1).then_some(rs)
    });
    assert_eq!(rs["status"]["fullyLabeledReplicas"], 3);
    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=web"]);
    assert_eq!(events.matches("SuccessfulCreate").count(), 2, "{events}");
    assert!(events.contains("Created pod: web-"), "{events}");
    let describe = s.ok(&["describe", "rs", "web"]);
    assert!(describe.contains("replicaset-controller"), "{describe}");

    // Scale down: two pods go, with SuccessfulDelete events.
    s.ok(&["scale", "rs", "web", "--replicas=1"]);
    eventually("1 pod", || Some(live_pods(&s, "web")).filter(|p| p.len() == 1));
    eventually("2 deletions", || {
        let ev = s.ok(&["get", "events", "--field-selector", "involvedObject.name=web,reason=SuccessfulDelete"]);
        (ev.matches("Deleted pod: ").count() == 2).then_some(())
    });
    eventually("rs status 1", || {
        let rs = json(&s, &["get", "rs", "web"]);
        (rs["status"]["replicas"] == 1 && rs["status"]["observedGeneration"] == 2).then_some(())
    });

    s.ok(&["scale", "rs", "web", "--replicas=2"]);
    eventually("2 pods", || Some(live_pods(&s, "web")).filter(|p| p.len() == 2));

    // A pod whose labels stop matching is released (its ownerReference removed) and replaced.
    let victim = live_pods(&s, "web")[0]["metadata"]["name"].as_str().unwrap().to_string();
    s.ok(&["label", "pod", &victim, "app=other", "--overwrite"]);
    eventually("released", || {
        let p = json(&s, &["get", "pod", &victim]);
        p["metadata"]["ownerReferences"].as_array().is_none_or(|a| a.is_empty()).then_some(())
    });
    eventually("replacement", || Some(live_pods(&s, "web")).filter(|p| p.len() == 2));

    let out = s.ok(&["get", "rs", "web"]);
    let r = rows(&out);
    assert_eq!(r[0], ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]);
    assert_eq!(&r[1][..3], ["web", "2", "2"]);
}

#[test]
fn replication_controller_manages_pods_with_its_map_selector() {
    let s = Server::start_simulated(1);
    s.ok_stdin(&["apply", "-f", "-"], RC);
    let pods = eventually("2 pods", || Some(live_pods(&s, "legacy")).filter(|p| p.len() == 2));
    for p in &pods {
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicationController");
        assert_eq!(p["metadata"]["ownerReferences"][0]["apiVersion"], "v1");
    }
    s.ok(&["scale", "rc", "legacy", "--replicas=0"]);
    eventually("0 pods", || Some(live_pods(&s, "legacy")).filter(|p| p.is_empty()));
    let ev = s.ok(&["get", "events", "--field-selector", "involvedObject.kind=ReplicationController"]);
    assert!(ev.contains("replication-controller") || ev.contains("SuccessfulDelete"), "{ev}");
    eventually("rc status 0", || {
        let rc = json(&s, &["get", "rc", "legacy"]);
        (rc["status"]["replicas"] == 0 && rc["status"]["observedGeneration"] == 2).then_some(())
    });
}

/// A pod the API refuses (here: an unknown PriorityClass) gives a FailedCreate event and the
/// ReplicaFailure condition, which goes once pods can be created again.
#[test]
fn refused_pods_give_failed_create_and_replica_failure() {
    let s = Server::start_simulated(1);
    let bad = RS.replace("      containers:", "      priorityClassName: nope\n      containers:");
    s.ok_stdin(&["apply", "-f", "-"], &bad);
    let rs = eventually("ReplicaFailure", || {
        let rs = json(&s, &["get", "rs", "web"]);
        rs["status"]["conditions"].as_array().is_some_and(|c| !c.is_empty()).then_some(rs)
    });
    let c = &rs["status"]["conditions"][0];
    assert_eq!(c["type"], "ReplicaFailure");
    assert_eq!(c["status"], "True");
    assert_eq!(c["reason"], "FailedCreate");
    let msg = c["message"].as_str().unwrap();
    assert!(msg.starts_with("pods \"web-") && msg.ends_with("is forbidden: no PriorityClass with name nope was found"), "{msg}");
    let ev = s.ok(&["get", "events", "--field-selector", "involvedObject.name=web,reason=FailedCreate"]);
    assert!(ev.contains("Warning") && ev.contains("Error creating: pods \"web-"), "{ev}");
    // Fixed: pods are created and the condition is removed.
    s.ok_stdin(&["apply", "-f", "-"], RS);
    eventually("3 pods", || Some(live_pods(&s, "web")).filter(|p| p.len() == 3));
    eventually("condition gone", || {
        let rs = json(&s, &["get", "rs", "web"]);
        rs["status"]["conditions"].is_null().then_some(())
    });
}
