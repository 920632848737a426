//! What a created object looks like: minimal manifests go in through the real kubectl and
//! come back with every default Kubernetes 1.33 applies, compared with the golden YAML files in
//! tests/golden (each field there is annotated with the upstream code that sets it).
mod common;
use common::*;

use serde_json::Value;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: web
    image: nginx
    ports: [{containerPort: 80}]
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    readinessProbe: {httpGet: {port: 80}}
    resources: {limits: {cpu: 500m, memory: 128Mi}}
  volumes:
  - name: scratch
  - name: config
    configMap: {name: web-config}
"#;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: "nginx:1.27"}]
"#;

const JOB: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    spec:
      containers: [{name: pi, image: busybox, command: [sh, -c, echo hi]}]
      restartPolicy: Never
"#;

const CRONJOB: &str = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: tick, image: "busybox:1.36", command: [date]}]
          restartPolicy: OnFailure
"#;

/// The golden object for `kind` (tests/golden/<kind>.yaml).
fn golden(kind: &str) -> Value {
    let path = format!("{}/tests/golden/{kind}.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// The object without what differs on every run (uid, creationTimestamp, resourceVersion,
/// managedFields), the uid written as "UID" wherever it was copied.
fn comparable(mut obj: Value) -> Value {
    let uid = obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in ["uid", "creationTimestamp", "resourceVersion", "managedFields"] {
            meta.remove(f);
        }
        // Written by the Deployment controller, whenever it gets to it.
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("deployment.kubernetes.io/revision");
        }
        if meta.get("annotations").and_then(Value::as_object).is_some_and(|a| a.is_empty()) {
            meta.remove("annotations");
        }
    }
    without_controller_status(&mut obj);
    // The scheduler binds pods to the node whenever it gets to them.
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("nodeName");
    }
    if uid.is_empty() {
        return obj;
    }
    let text = obj.to_string().replace(&uid, "UID");
    serde_json::from_str(&text).expect("json")
}

/// Controllers and the scheduler write the status of these kinds concurrently with the test;
/// their defaults are what is compared, so their status is left out on both sides.
fn without_controller_status(obj: &mut Value) {
    const CONTROLLED: [&str; 8] = ["Deployment", "ReplicaSet", "ReplicationController", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"];
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    if CONTROLLED.contains(&kind.as_str()) {
        if let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
    }
}

/// Every path where two values differ, so a failure names the field.
fn differences(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => differences(&format!("{path}.{k}"), wv, gv, out),
                    None => out.push(format!("{path}.{k}: missing, want {wv}")),
                }
            }
            for (k, gv) in g {
                if !w.contains_key(k) {
                    out.push(format!("{path}.{k}: unexpected {gv}"));
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                differences(&format!("{path}[{i}]"), wv, gv, out);
            }
        }
        _ if want != got => out.push(format!("{path}: got {got}, want {want}")),
        _ => {}
    }
}

fn assert_golden(kind: &str, created: &str) {
    let got = comparable(serde_json::from_str(created).unwrap_or_else(|e| panic!("{kind} output is not JSON ({e}): {created}")));
    let mut want = golden(kind);
    without_controller_status(&mut want);
    let mut diffs = Vec::new();
    differences("", &want, &got, &mut diffs);
    assert!(diffs.is_empty(), "{kind} differs from tests/golden/{kind}.yaml:\n  {}\nfull object: {got:#}", diffs.join("\n  "));
}

fn create(s: &Server, manifest: &str) -> String {
    s.ok_stdin(&["create", "-f", "-", "--validate=false", "-o", "json"], manifest)
}

#[test]
fn created_objects_carry_kubernetes_defaults() {
    let s = Server::start();
    assert_golden("pod", &create(&s, POD));
    assert_golden("deployment", &create(&s, DEPLOYMENT));
    assert_golden("job", &create(&s, JOB));
    assert_golden("cronjob", &create(&s, CRONJOB));

    // Reads return what was stored.
    assert_golden("deployment", &s.ok(&["get", "deployment", "web", "-o", "json"]));
    assert_golden("job", &s.ok(&["get", "job", "pi", "-o", "json"]));
}

#[test]
fn updates_are_defaulted_too() {
    let s = Server::start();
    create(&s, DEPLOYMENT);
    // Replacing with the minimal manifest again defaults it the same way: nothing changes,
    // so the generation stays 1.
    let replaced = s.ok_stdin(&["replace", "-f", "-", "--validate=false", "-o", "json"], DEPLOYMENT);
    assert_golden("deployment", &replaced);

    // A changed field is kept, the others are defaulted again; the status (which the
    // Deployment controller has written by then) survives.
    s.ok(&["wait", "--for=jsonpath={.status.observedGeneration}=1", "deploy/web", "--timeout=30s"]);
    let changed = DEPLOYMENT.replace("containers: [{name: nginx, image: \"nginx:1.27\"}]", "containers: [{name: nginx, image: nginx}]\n      restartPolicy: Always\n  replicas: 3");
    let out: Value = serde_json::from_str(&s.ok_stdin(&["replace", "-f", "-", "--validate=false", "-o", "json"], &changed)).unwrap();
    assert_eq!(out["spec"]["replicas"], 3);
    assert_eq!(out["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always");
    assert_eq!(out["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(out["metadata"]["generation"], 2);
    assert_eq!(out["status"]["observedGeneration"], 1, "{out:#}");

    // A pod's admission-time fields are not re-derived on update, but tolerations are.
    let pod: Value = serde_json::from_str(&create(&s, POD)).unwrap();
    assert_eq!(pod["spec"]["tolerations"].as_array().map(Vec::len), Some(2));
    let labelled: Value =
        serde_json::from_str(&s.ok(&["label", "pod", "web", "tier=fe", "-o", "json"])).unwrap();
    assert_eq!(comparable(labelled.clone())["spec"], golden("pod")["spec"]);
    assert_eq!(labelled["status"]["phase"], "Pending");
}
