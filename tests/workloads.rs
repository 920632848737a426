//! DaemonSets, StatefulSets and PersistentVolume binding driven by the real kubectl against
//! two simulated nodes: one daemon pod per node and rollouts (status, history, undo); a
//! StatefulSet's ordered pods, claims per template, scale-down keeping claims and rollout
//! status; a volume and a claim binding as `kubectl get pv,pvc` shows.
mod common;
use common::*;

use serde_json::Value;

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

fn events_of(s: &Server, kind: &str, name: &str) -> Vec<(String, String)> {
    let sel = format!("involvedObject.kind={kind},involvedObject.name={name}");
    let mut ev = items(&json(s, &["get", "events", "--field-selector", &sel]));
    ev.sort_by_key(|e| e["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_string());
    ev.iter()
        .map(|e| (e["reason"].as_str().unwrap_or("").to_string(), e["message"].as_str().unwrap_or("").to_string()))
        .collect()
}

const DAEMONSET: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: busybox
"#;

/// (pod name, node, image) of the running daemon pods, by node.
fn daemon_pods(s: &Server) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = items(&json(s, &["get", "pods", "-l", "app=agent"]))
        .iter()
        .filter(|p| p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                p["spec"]["containers"][0]["image"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

#[test]
fn daemonset_runs_one_pod_per_node_and_rolls() {
    let s = Server::start_simulated(2);
    assert_eq!(s.ok_stdin(&["apply", "-f", "-"], DAEMONSET).trim(), "daemonset.apps/agent created");
    let out = s.ok(&["rollout", "status", "daemonset/agent", "--timeout=30s"]);
    assert!(out.trim_end().ends_with("daemon set \"agent\" successfully rolled out"), "{out}");
    let pods = eventually("a running pod on each node", || {
        let p = daemon_pods(&s);
        (p.len() == 2).then_some(p)
    });
    assert_ne!(pods[0].1, pods[1].1, "one pod per node: {pods:?}");
    assert!(pods.iter().all(|p| p.0.starts_with("agent-") && p.2 == "busybox"));
    let pod = json(&s, &["get", "pod", &pods[0].0]);
    assert_eq!(
        pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchFields"][0]["values"][0],
        pods[0].1.as_str()
    );
    assert_eq!(pod["metadata"]["labels"]["pod-template-generation"], "1");
    let r = rows(&s.ok(&["get", "ds", "agent"]));
    assert_eq!(r[0], ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE", "SELECTOR", "AGE"]);
    assert_eq!(&r[1][..7], ["agent", "2", "2", "2", "2", "2", "<none>"]);
    let created: Vec<(String, String)> = events_of(&s, "DaemonSet", "agent");
    assert_eq!(created.iter().filter(|(r, m)| r == "SuccessfulCreate" && m.starts_with("Created pod: agent-")).count(), 2, "{created:?}");

    // A new image rolls node by node.
    s.ok(&["set", "image", "daemonset/agent", "agent=busybox:1.36"]);
    let out = s.ok(&["rollout", "status", "daemonset/agent", "--timeout=30s"]);
    assert!(out.trim_end().ends_with("daemon set \"agent\" successfully rolled out"), "{out}");
    eventually("both pods replaced", || {
        let p = daemon_pods(&s);
        (p.len() == 2 && p.iter().all(|p| p.2 == "busybox:1.36")).then_some(())
    });
    let ev = events_of(&s, "DaemonSet", "agent");
    assert_eq!(ev.iter().filter(|(r, _)| r == "SuccessfulDelete").count(), 2, "{ev:?}");
    let hist = s.ok(&["rollout", "history", "daemonset/agent"]);
    let h = rows(&hist.lines().skip(1).collect::<Vec<_>>().join("\n"));
    assert_eq!(h[0], ["REVISION", "CHANGE-CAUSE"]);
    assert_eq!(h[1..].iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), ["1", "2"], "{hist}");
    let revs = items(&json(&s, &["get", "controllerrevisions", "-l", "app=agent"]));
    assert_eq!(revs.len(), 2);

    // Undo goes back to revision 1's template (as revision 3).
    assert_eq!(s.ok(&["rollout", "undo", "daemonset/agent"]).trim(), "daemonset.apps/agent rolled back");
    s.ok(&["rollout", "status", "daemonset/agent", "--timeout=30s"]);
    eventually("pods back on busybox", || {
        let p = daemon_pods(&s);
        (p.len() == 2 && p.iter().all(|p| p.2 == "busybox")).then_some(())
    });
    let hist = s.ok(&["rollout", "history", "daemonset/agent"]);
    let h = rows(&hist.lines().skip(1).collect::<Vec<_>>().join("\n"));
    assert_eq!(h[1..].iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), ["2", "3"], "{hist}");

    // Every kubectl 1.27-1.33 reads the rollout the same way.
    for (version, bin) in kubectls() {
        let out = s.kubectl_at(&bin, &["rollout", "status", "daemonset/agent", "--timeout=20s"], None);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("daemon set \"agent\" successfully rolled out"), "kubectl {version}: {text}{}", String::from_utf8_lossy(&out.stderr));
        let out = s.kubectl_at(&bin, &["rollout", "history", "daemonset/agent", "--revision=2"], None);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("busybox:1.36"), "kubectl {version}: {text}{}", String::from_utf8_lossy(&out.stderr));
        let out = s.kubectl_at(&bin, &["rollout", "undo", "daemonset/agent", "--to-revision=2", "--dry-run=server"], None);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.trim(), "daemonset.apps/agent rolled back (server dry run)", "kubectl {version}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

const STATEFULSET: &str = r#"
apiVersion: v1
kind: Service
metadata:
  name: nginx
spec:
  clusterIP: None
  selector: {app: nginx}
  ports:
  - port: 80
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: nginx
  replicas: 3
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
      - name: nginx
        image: nginx
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
"#;

#[test]
fn statefulset_creates_ordered_pods_with_claims_and_scales_down_keeping_them() {
    let s = Server::start_simulated(2);
    s.ok_stdin(&["apply", "-f", "-"], STATEFULSET);
    let out = s.ok(&["rollout", "status", "statefulset/web", "--timeout=40s"]);
    assert!(out.trim_end().ends_with("partitioned roll out complete: 3 new pods have been updated..."), "{out}");
    let r = rows(&s.ok(&["get", "sts", "web"]));
    assert_eq!(r[0], ["NAME", "READY", "AGE"]);
    assert_eq!(&r[1][..2], ["web", "3/3"]);

    // Created in order, each once the previous one was ready.
    let ev: Vec<String> = events_of(&s, "StatefulSet", "web").into_iter().filter(|(r, _)| r == "SuccessfulCreate").map(|(_, m)| m).collect();
    let pods: Vec<&String> = ev.iter().filter(|m| m.starts_with("create Pod")).collect();
    assert_eq!(
        pods,
        [
            "create Pod web-0 in StatefulSet web successful",
            "create Pod web-1 in StatefulSet web successful",
            "create Pod web-2 in StatefulSet web successful"
        ],
        "{ev:?}"
    );
    assert!(ev.contains(&"create Claim www-web-0 Pod web-0 in StatefulSet web success".to_string()), "{ev:?}");
    let pods = items(&json(&s, &["get", "pods", "-l", "app=nginx"]));
    let mut by_name: Vec<(String, String, String, String)> = pods
        .iter()
        .map(|p| {
            let started = p["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
                .and_then(|c| c["lastTransitionTime"].as_str())
                .unwrap_or("")
                .to_string();
            (
                p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                p["metadata"]["creationTimestamp"].as_str().unwrap_or("").to_string(),
                started,
                p["spec"]["hostname"].as_str().unwrap_or("").to_string() + "." + p["spec"]["subdomain"].as_str().unwrap_or(""),
            )
        })
        .collect();
    by_name.sort();
    assert_eq!(by_name.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), ["web-0", "web-1", "web-2"]);
    for w in by_name.windows(2) {
        assert!(w[1].1 >= w[0].2, "{} created before {} was ready: {by_name:?}", w[1].0, w[0].0);
    }
    assert_eq!(by_name[1].3, "web-1.nginx");
    let p0 = json(&s, &["get", "pod", "web-0"]);
    assert_eq!(p0["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"], "web-0");
    assert_eq!(p0["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "0");
    let sts = json(&s, &["get", "sts", "web"]);
    assert_eq!(p0["metadata"]["labels"]["controller-revision-hash"], sts["status"]["updateRevision"]);
    assert_eq!(p0["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "www-web-0");
    let claims = || {
        let mut c: Vec<String> = s.ok(&["get", "pvc", "-o", "name"]).lines().map(str::to_string).collect();
        c.sort();
        c
    };
    assert_eq!(claims(), ["persistentvolumeclaim/www-web-0", "persistentvolumeclaim/www-web-1", "persistentvolumeclaim/www-web-2"]);

    // Scale down from the highest ordinal; the claims stay (whenScaled: Retain).
    s.ok(&["scale", "statefulset/web", "--replicas=1"]);
    eventually("one pod left", || {
        let names: Vec<String> = s.ok(&["get", "pods", "-l", "app=nginx", "-o", "name"]).lines().map(str::to_string).collect();
        (names == ["pod/web-0"]).then_some(())
    });
    let deletes: Vec<String> = events_of(&s, "StatefulSet", "web").into_iter().filter(|(r, _)| r == "SuccessfulDelete").map(|(_, m)| m).collect();
    assert_eq!(deletes, ["delete Pod web-2 in StatefulSet web successful", "delete Pod web-1 in StatefulSet web successful"]);
    assert_eq!(claims().len(), 3);
    eventually("status of one replica", || {
        let r = rows(&s.ok(&["get", "sts", "web"]));
        (r[1][1] == "1/1").then_some(())
    });

    // A template change rolls the remaining pod; rollout status waits for it.
    s.ok(&["set", "image", "statefulset/web", "nginx=nginx:1.27"]);
    let out = s.ok(&["rollout", "status", "statefulset/web", "--timeout=40s"]);
    assert!(out.trim_end().ends_with("partitioned roll out complete: 1 new pods have been updated..."), "{out}");
    eventually("web-0 on the new image", || {
        let p = json(&s, &["get", "pod", "web-0"]);
        (p["spec"]["containers"][0]["image"] == "nginx:1.27" && p["status"]["phase"] == "Running").then_some(())
    });
    let revs = items(&json(&s, &["get", "controllerrevisions", "-l", "app=nginx"]));
    assert_eq!(revs.len(), 2);
    let hist = s.ok(&["rollout", "history", "statefulset/web"]);
    assert_eq!(hist.lines().next(), Some("statefulset.apps/web "), "{hist}");
    let h = rows(&hist.lines().skip(1).collect::<Vec<_>>().join("\n"));
    assert_eq!(h[1..].iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), ["1", "2"], "{hist}");
    assert_eq!(s.ok(&["rollout", "undo", "statefulset/web"]).trim(), "statefulset.apps/web rolled back");
    eventually("web-0 back on nginx", || {
        let p = json(&s, &["get", "pod", "web-0"]);
        (p["spec"]["containers"][0]["image"] == "nginx" && p["status"]["phase"] == "Running").then_some(())
    });
    s.ok(&["rollout", "status", "statefulset/web", "--timeout=30s"]);
}

#[test]
fn a_volume_and_a_claim_bind() {
    let s = Server::start_simulated(1);
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: PersistentVolume
metadata:
  name: task-pv
spec:
  storageClassName: manual
  capacity:
    storage: 10Gi
  accessModes: [ReadWriteOnce]
  hostPath:
    path: /mnt/data
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: task-pvc
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 3Gi
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: orphan
spec:
  storageClassName: ""
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
"#,
    );
    let (pv, pvc) = eventually("bound", || {
        let out = s.ok(&["get", "pv,pvc"]);
        let r = rows(&out);
        let pv = r.iter().find(|r| r[0] == "persistentvolume/task-pv")?.clone();
        let pvc = r.iter().find(|r| r[0] == "persistentvolumeclaim/task-pvc")?.clone();
        (pv[4] == "Bound" && pvc[1] == "Bound").then_some((pv, pvc))
    });
    assert_eq!(&pv[1..7], ["10Gi", "RWO", "Retain", "Bound", "default/task-pvc", "manual"], "{pv:?}");
    assert_eq!(&pvc[1..6], ["Bound", "task-pv", "10Gi", "RWO", "manual"], "{pvc:?}");
    eventually("FailedBinding", || {
        events_of(&s, "PersistentVolumeClaim", "orphan")
            .iter()
            .any(|(r, m)| r == "FailedBinding" && m == "no persistent volumes available for this claim and no storage class is set")
            .then_some(())
    });
    assert_eq!(rows(&s.ok(&["get", "pvc", "orphan"]))[1][1], "Pending");

    // A claim of a class with a provisioner waits for it.
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
provisioner: rancher.io/local-path
volumeBindingMode: Immediate
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: provisioned
spec:
  storageClassName: local
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
"#,
    );
    eventually("ExternalProvisioning", || {
        events_of(&s, "PersistentVolumeClaim", "provisioned")
            .iter()
            .any(|(r, m)| {
                r == "ExternalProvisioning"
                    && m == "Waiting for a volume to be created either by the external provisioner 'rancher.io/local-path' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
            })
            .then_some(())
    });
    let claim = json(&s, &["get", "pvc", "provisioned"]);
    assert_eq!(claim["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"], "rancher.io/local-path");
    assert_eq!(claim["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-provisioner"], "rancher.io/local-path");

    // Deleting the claim releases the volume (Retain).
    s.ok(&["delete", "pvc", "task-pvc"]);
    eventually("released", || (rows(&s.ok(&["get", "pv", "task-pv"]))[1][4] == "Released").then_some(()));
}
