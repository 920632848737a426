//! Deployments driven by the real kubectl against simulated nodes: create and roll out, rolling
//! updates with surge, history with change causes, undo (also to a revision), pause and resume,
//! restart, scale, wait, describe; Recreate; a rollout past its progress deadline; and the
//! rollout commands of every kubectl 1.27–1.33.
mod common;
use common::*;

use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// The Deployment's ReplicaSets as (name, revision, spec.replicas), by revision.
fn replica_sets(s: &Server, app: &str) -> Vec<(String, i64, i64)> {
    let sel = format!("app={app}");
    let mut v: Vec<(String, i64, i64)> = json(s, &["get", "rs", "-l", &sel])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|rs| {
            let rev = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str().and_then(|r| r.parse().ok()).unwrap_or(0);
            (rs["metadata"]["name"].as_str().unwrap_or("").to_string(), rev, rs["spec"]["replicas"].as_i64().unwrap_or(-1))
        })
        .collect();
    v.sort_by_key(|r| r.1);
    v
}

fn running_pods(s: &Server, app: &str) -> usize {
    let sel = format!("app={app}");
    s.ok(&["get", "pods", "-l", &sel, "--field-selector=status.phase=Running", "-o", "name"]).lines().count()
}

fn condition(d: &Value, t: &str) -> (String, String, String) {
    let c = d["status"]["conditions"].as_array().and_then(|cs| cs.iter().find(|c| c["type"] == t)).cloned().unwrap_or_default();
    let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
    (s("status"), s("reason"), s("message"))
}

/// `kubectl rollout history deployment/web` as rows, after its "deployment.apps/web" title.
fn history(s: &Server) -> Vec<Vec<String>> {
    let out = s.ok(&["rollout", "history", "deployment/web"]);
    assert_eq!(out.lines().next(), Some("deployment.apps/web "), "{out}");
    rows(&out.lines().skip(1).collect::<Vec<_>>().join("\n"))
}

fn deployment_events(s: &Server, name: &str) -> String {
    s.ok(&["get", "events", "--field-selector", &format!("involvedObject.kind=Deployment,involvedObject.name={name}")])
}

#[test]
fn deployment_rolls_out_updates_rolls_back_pauses_restarts_and_scales() {
    let s = Server::start_simulated(1);
    assert_eq!(s.ok(&["create", "deployment", "web", "--image=nginx", "--replicas=3"]).trim(), "deployment.apps/web created");
    let out = s.ok(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    assert!(out.trim_end().ends_with("deployment \"web\" successfully rolled out"), "{out}");
    eventually("3 running pods", || (running_pods(&s, "web") == 3).then_some(()));
    let r = rows(&s.ok(&["get", "deploy", "web"]));
    assert_eq!(r[0], ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert_eq!(&r[1][..4], ["web", "3/3", "3", "3"]);
    let rss = replica_sets(&s, "web");
    assert_eq!(rss.len(), 1);
    let first = rss[0].0.clone();
    let rs = json(&s, &["get", "rs", &first]);
    let hash = rs["metadata"]["labels"]["pod-template-hash"].as_str().unwrap().to_string();
    assert_eq!(first, format!("web-{hash}"));
    assert_eq!(rs["spec"]["selector"]["matchLabels"]["pod-template-hash"], hash.as_str());
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(rs["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(rs["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], true);
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"], "3");
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"], "4");
    let d = json(&s, &["get", "deploy", "web"]);
    assert_eq!(condition(&d, "Available"), ("True".into(), "MinimumReplicasAvailable".into(), "Deployment has minimum availability.".into()));
    assert_eq!(condition(&d, "Progressing"), ("True".into(), "NewReplicaSetAvailable".into(), format!("ReplicaSet \"{first}\" has successfully progressed.")));
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert!(deployment_events(&s, "web").contains(&format!("Scaled up replica set {first} from 0 to 3")));

    // A rolling update: the new ReplicaSet surges by one while the old one steps down.
    s.ok(&["annotate", "deployment", "web", "kubernetes.io/change-cause=to 1.25"]);
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.25"]);
    let out = s.ok(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let rss = replica_sets(&s, "web");
    assert_eq!(rss.len(), 2);
    let second = rss[1].0.clone();
    assert_eq!((rss[0].2, rss[1].2), (0, 3), "old scaled to zero, new at full size: {rss:?}");
    let ev = deployment_events(&s, "web");
    assert!(ev.contains(&format!("Scaled up replica set {second} from 0 to 1")), "{ev}");
    assert!(ev.contains(&format!("Scaled down replica set {first} from 3 to 2")), "{ev}");
    assert!(ev.contains(&format!("Scaled down replica set {first} from 1 to 0")), "{ev}");
    eventually("3 running pods of the new template", || {
        let sel = format!("pod-template-hash={}", &second["web-".len()..]);
        (s.ok(&["get", "pods", "-l", &sel, "--field-selector=status.phase=Running", "-o", "name"]).lines().count() == 3).then_some(())
    });

    let describe = s.ok(&["describe", "deployment", "web"]);
    assert!(describe.contains(&format!("NewReplicaSet:   {second} (3/3 replicas created)")), "{describe}");
    assert!(describe.contains(&format!("OldReplicaSets:  {first} (0/0 replicas created)")), "{describe}");
    assert!(describe.contains("ScalingReplicaSet") && describe.contains("deployment-controller"), "{describe}");
    assert!(describe.contains("NewReplicaSetAvailable"), "{describe}");

    let hist = history(&s);
    assert_eq!(hist[0], ["REVISION", "CHANGE-CAUSE"]);
    assert_eq!(hist[1], ["1", "to", "1.25"], "the annotation reached the current ReplicaSet before the update");
    assert_eq!(hist[2], ["2", "to", "1.25"]);

    // Undo: back to revision 1's template, which becomes revision 3.
    assert_eq!(s.ok(&["rollout", "undo", "deployment/web"]).trim(), "deployment.apps/web rolled back");
    s.ok(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    let rss = replica_sets(&s, "web");
    assert_eq!(rss, vec![(second.clone(), 2, 0), (first.clone(), 3, 3)]);
    let rs = json(&s, &["get", "rs", &first]);
    assert_eq!(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"], "1");
    let img = s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
    assert_eq!(img, "nginx");
    // To a revision: 2 is the nginx:1.25 template.
    s.ok(&["rollout", "undo", "deployment/web", "--to-revision=2"]);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    assert_eq!(replica_sets(&s, "web"), vec![(first.clone(), 3, 0), (second.clone(), 4, 3)]);
    let revs: Vec<String> = history(&s).into_iter().skip(1).map(|r| r[0].clone()).collect();
    assert_eq!(revs, ["3", "4"]);

    // Pause: template changes wait; resume rolls them out.
    assert_eq!(s.ok(&["rollout", "pause", "deployment/web"]).trim(), "deployment.apps/web paused");
    eventually("DeploymentPaused", || {
        let d = json(&s, &["get", "deploy", "web"]);
        (condition(&d, "Progressing") == ("Unknown".into(), "DeploymentPaused".into(), "Deployment is paused".into())).then_some(())
    });
    s.ok(&["set", "image", "deployment/web", "nginx=nginx:1.26"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(replica_sets(&s, "web").len(), 2, "no new ReplicaSet while paused");
    assert_eq!(s.ok(&["rollout", "resume", "deployment/web"]).trim(), "deployment.apps/web resumed");
    s.ok(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    let rss = replica_sets(&s, "web");
    assert_eq!(rss.len(), 3);
    assert_eq!(rss[2].2, 3);
    let ev = s.ok(&["get", "deploy", "web", "-o", "jsonpath={.status.conditions[?(@.type==\"Progressing\")].reason}"]);
    assert_eq!(ev, "NewReplicaSetAvailable");

    // Restart: a new template (restartedAt), a new ReplicaSet.
    assert_eq!(s.ok(&["rollout", "restart", "deployment/web"]).trim(), "deployment.apps/web restarted");
    s.ok(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    let d = json(&s, &["get", "deploy", "web"]);
    assert!(d["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string());
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "6");
    assert_eq!(replica_sets(&s, "web").last().map(|r| r.2), Some(3));

    // Scale and wait.
    assert_eq!(s.ok(&["scale", "deployment/web", "--replicas=5"]).trim(), "deployment.apps/web scaled");
    let out = s.ok(&["wait", "--for=condition=Available", "deployment/web", "--timeout=30s"]);
    assert_eq!(out.trim(), "deployment.apps/web condition met");
    eventually("5/5", || {
        let r = rows(&s.ok(&["get", "deploy", "web"]));
        (r[1][1..4] == ["5/5", "5", "5"]).then_some(())
    });
    eventually("5 running pods", || (running_pods(&s, "web") == 5).then_some(()));
    let d = json(&s, &["get", "deploy", "web"]);
    assert_eq!(d["status"]["observedGeneration"], d["metadata"]["generation"]);
    assert_eq!((d["status"]["replicas"].as_i64(), d["status"]["updatedReplicas"].as_i64()), (Some(5), Some(5)));
}

const RECREATE: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: db
spec:
  replicas: 2
  strategy:
    type: Recreate
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      containers:
      - name: db
        image: postgres:16
"#;

#[test]
fn recreate_scales_the_old_replica_set_down_before_the_new_one_up() {
    let s = Server::start_simulated(1);
    s.ok_stdin(&["apply", "-f", "-"], RECREATE);
    s.ok(&["rollout", "status", "deployment/db", "--timeout=30s"]);
    s.ok(&["set", "image", "deployment/db", "db=postgres:17"]);
    s.ok(&["rollout", "status", "deployment/db", "--timeout=30s"]);
    let rss = replica_sets(&s, "db");
    assert_eq!(rss.iter().map(|r| r.2).collect::<Vec<_>>(), [0, 2]);
    let ev = deployment_events(&s, "db");
    // Down to zero in one step, then the new one at full size in one step.
    assert!(ev.contains(&format!("Scaled down replica set {} from 2 to 0", rss[0].0)), "{ev}");
    assert!(ev.contains(&format!("Scaled up replica set {} from 0 to 2", rss[1].0)), "{ev}");
    eventually("2 running pods", || (running_pods(&s, "db") == 2).then_some(()));
}

const STUCK: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: stuck
spec:
  replicas: 1
  progressDeadlineSeconds: 2
  selector:
    matchLabels:
      app: stuck
  template:
    metadata:
      labels:
        app: stuck
    spec:
      nodeSelector:
        no-such-node: "true"
      containers:
      - name: c
        image: nginx
"#;

#[test]
fn a_rollout_that_cannot_progress_exceeds_its_deadline() {
    let s = Server::start_simulated(1);
    s.ok_stdin(&["apply", "-f", "-"], STUCK);
    let d = eventually("ProgressDeadlineExceeded", || {
        let d = json(&s, &["get", "deploy", "stuck"]);
        (condition(&d, "Progressing").1 == "ProgressDeadlineExceeded").then_some(d)
    });
    let rs = replica_sets(&s, "stuck")[0].0.clone();
    assert_eq!(condition(&d, "Progressing"), ("False".into(), "ProgressDeadlineExceeded".into(), format!("ReplicaSet \"{rs}\" has timed out progressing.")));
    assert_eq!(condition(&d, "Available").1, "MinimumReplicasUnavailable");
    let err = s.fails(&["rollout", "status", "deployment/stuck", "--timeout=10s"]);
    assert!(err.contains("error: deployment \"stuck\" exceeded its progress deadline"), "{err}");
    let r = rows(&s.ok(&["get", "deploy", "stuck"]));
    assert_eq!(&r[1][..4], ["stuck", "0/1", "1", "0"]);
}

#[test]
fn every_kubectl_version_drives_a_rollout() {
    let s = Server::start_simulated(1);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/rollout_session.sh");
    let mut failures = Vec::new();
    for (i, (version, bin)) in kubectls().iter().enumerate() {
        let work = s.data_dir().join(format!("rollout-{i}"));
        std::fs::create_dir_all(&work).expect("work dir");
        let out = Command::new("bash")
            .arg(script)
            .env("KUBECTL", bin)
            .env("KUBECONFIG", &s.kubeconfig)
            .env("KUBECACHEDIR", work.join("cache"))
            .env("NS", format!("rollout-{i}"))
            .output()
            .expect("run the rollout script");
        if !out.status.success() {
            failures.push(format!("kubectl {version}:\n{}", String::from_utf8_lossy(&out.stderr)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
