//! Simulated nodes with the real kubectl: nodes registered Ready with leases, bare pods
//! bound to them go Running with addresses, run-to-completion pods finish, and pod deletion
//! is graceful yet prompt.
mod common;
use common::*;

use std::time::{Duration, Instant};

/// Polls `check` until it returns Some, or fails after `secs`.
fn wait_for<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pod_manifest(name: &str, node: &str, restart: &str, annotations: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  annotations: {{{annotations}}}
spec:
  nodeName: {node}
  restartPolicy: {restart}
  containers:
  - name: app
    image: nginx
"#
    )
}

fn phase(s: &Server, name: &str) -> String {
    s.ok(&["get", "pod", name, "-o", "jsonpath={.status.phase}"])
}

#[test]
fn nodes_register_ready_with_leases() {
    let s = Server::start_simulated(3);
    let out = wait_for(20, "3 Ready nodes", || {
        let out = s.ok(&["get", "nodes"]);
        let r = rows(&out);
        (r.len() == 4 && r[1..].iter().all(|row| row[1] == "Ready")).then_some(out)
    });
    let r = rows(&out);
    assert_eq!(r[0], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    let names: Vec<&str> = r[1..].iter().map(|row| row[0].as_str()).collect();
    assert_eq!(names, ["sim-node-0", "sim-node-1", "sim-node-2"]);
    for row in &r[1..] {
        assert_eq!(row[2], "<none>");
        assert_eq!(row[4], "v1.33.5");
    }
    let wide = rows(&s.ok(&["get", "node", "sim-node-1", "-o", "wide"]));
    assert_eq!(wide[1][5], "172.31.0.2");
    assert_eq!(wide[1].last().unwrap(), "simulated://1.0");

    let node = json(&s, &["get", "node", "sim-node-2"]);
    assert_eq!(node["spec"]["podCIDR"], "10.42.2.0/24");
    assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], "sim-node-2");
    assert_eq!(node["metadata"]["labels"]["kubernetes.io/os"], "linux");
    assert_eq!(node["metadata"]["annotations"]["node.alpha.kubernetes.io/ttl"], "0");
    assert_eq!(node["status"]["capacity"]["pods"], "110");
    assert_eq!(node["status"]["allocatable"]["cpu"], "32");
    let ready = node["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
    assert_eq!(ready["reason"], "KubeletReady");
    assert_eq!(ready["message"], "kubelet is posting ready status");

    let leases = wait_for(20, "node leases", || {
        let out = s.ok(&["get", "leases", "-n", "kube-node-lease"]);
        (rows(&out).len() == 4).then_some(out)
    });
    assert!(leases.contains("sim-node-0"), "{leases}");
    let lease = json(&s, &["get", "lease", "-n", "kube-node-lease", "sim-node-0"]);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    assert_eq!(lease["spec"]["holderIdentity"], "sim-node-0");
    assert_eq!(lease["metadata"]["ownerReferences"][0]["kind"], "Node");

    // A restart re-registers the same nodes, never duplicates.
    let mut s = s;
    s.stop();
    s.spawn();
    wait_for(20, "nodes after restart", || {
        let r = rows(&s.ok(&["get", "nodes"]));
        (r.len() == 4 && r[1..].iter().all(|row| row[1] == "Ready")).then_some(())
    });
}

#[test]
fn bare_pods_run_finish_and_delete_promptly() {
    let s = Server::start_simulated(2);
    s.ok_stdin(&["apply", "-f", "-"], &pod_manifest("web", "sim-node-1", "Always", ""));
    wait_for(20, "web Running", || (phase(&s, "web") == "Running").then_some(()));
    let pod = json(&s, &["get", "pod", "web"]);
    let st = &pod["status"];
    assert_eq!(st["hostIP"], "172.31.0.2");
    let ip = st["podIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.42.1."), "{ip}");
    assert_eq!(st["podIPs"][0]["ip"], ip.as_str());
    assert_eq!(st["qosClass"], "BestEffort");
    for c in st["conditions"].as_array().unwrap() {
        assert_eq!(c["status"], "True", "{c}");
    }
    let cs = &st["containerStatuses"][0];
    assert_eq!(cs["ready"], true);
    assert_eq!(cs["started"], true);
    assert_eq!(cs["restartCount"], 0);
    assert_eq!(cs["image"], "docker.io/library/nginx:latest");
    assert!(cs["containerID"].as_str().unwrap().starts_with("simulated://"));
    assert!(cs["state"]["running"]["startedAt"].is_string());
    let r = rows(&s.ok(&["get", "pod", "web", "-o", "wide"]));
    assert_eq!(&r[1][1..3], ["1/1", "Running"]);
    assert_eq!(r[1][5], ip);
    assert_eq!(r[1][6], "sim-node-1");

    // A second pod on the same node gets another address.
    s.ok_stdin(&["apply", "-f", "-"], &pod_manifest("web2", "sim-node-1", "Always", ""));
    wait_for(20, "web2 Running", || (phase(&s, "web2") == "Running").then_some(()));
    let ip2 = s.ok(&["get", "pod", "web2", "-o", "jsonpath={.status.podIP}"]);
    assert_ne!(ip, ip2);

    // kubectl delete waits for the pod to go; the simulated kubelet finishes it at once.
    let t0 = Instant::now();
    let out = s.ok(&["delete", "pod", "web"]);
    assert_eq!(out.trim(), "pod \"web\" deleted");
    assert!(t0.elapsed() < Duration::from_secs(10), "delete took {:?}", t0.elapsed());
    s.fails(&["get", "pod", "web"]);

    // Run to completion.
    s.ok_stdin(&["apply", "-f", "-"], &pod_manifest("once", "sim-node-0", "Never", ""));
    wait_for(20, "once Succeeded", || (phase(&s, "once") == "Succeeded").then_some(()));
    let r = rows(&s.ok(&["get", "pod", "once"]));
    assert_eq!(&r[1][1..3], ["0/1", "Completed"]);
    let pod = json(&s, &["get", "pod", "once"]);
    let ready = pod["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "PodCompleted");
    assert_eq!(pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"], 0);

    s.ok_stdin(
        &["apply", "-f", "-"],
        &pod_manifest("fails", "sim-node-0", "Never", "\"sim.minikube-rs.io/exit-code\": \"2\", \"sim.minikube-rs.io/run-seconds\": \"0.2\""),
    );
    wait_for(20, "fails Failed", || (phase(&s, "fails") == "Failed").then_some(()));
    let r = rows(&s.ok(&["get", "pod", "fails"]));
    assert_eq!(&r[1][1..3], ["0/1", "Error"]);
}

#[test]
fn graceful_deletion_waits_for_the_kubelet_and_default_tolerations_show() {
    let s = Server::start_simulated(2);
    wait_for(20, "nodes Ready", || {
        let r = rows(&s.ok(&["get", "nodes"]));
        (r.len() == 3 && r[1..].iter().all(|row| row[1] == "Ready")).then_some(())
    });
    s.ok_stdin(&["apply", "-f", "-"], &pod_manifest("web", "sim-node-0", "Always", ""));
    let tolerations = json(&s, &["get", "pod", "web"])["spec"]["tolerations"].clone();
    assert_eq!(
        tolerations,
        serde_json::json!([
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}
        ])
    );
    wait_for(20, "web Running", || (phase(&s, "web") == "Running").then_some(()));

    // A silent kubelet leaves the pod Terminating for its grace period (and beyond).
    s.ok(&["annotate", "node", "sim-node-0", "sim.minikube-rs.io/stopped=true"]);
    std::thread::sleep(Duration::from_millis(500));
    let out = s.ok(&["delete", "pod", "web", "--wait=false"]);
    assert_eq!(out.trim(), "pod \"web\" deleted");
    let pod = json(&s, &["get", "pod", "web"]);
    assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 30);
    let r = rows(&s.ok(&["get", "pod", "web"]));
    assert_eq!(r[1][2], "Terminating");
    s.ok(&["delete", "pod", "web", "--wait=false", "--grace-period=60"]);
    assert_eq!(json(&s, &["get", "pod", "web"])["metadata"]["deletionGracePeriodSeconds"], 30, "never lengthened");
    s.ok(&["delete", "pod", "web", "--wait=false", "--grace-period=5"]);
    assert_eq!(json(&s, &["get", "pod", "web"])["metadata"]["deletionGracePeriodSeconds"], 5);

    // The kubelet comes back and finishes the deletion.
    s.ok(&["annotate", "node", "sim-node-0", "sim.minikube-rs.io/stopped-"]);
    wait_for(30, "web gone", || (!s.kubectl(&["get", "pod", "web"]).status.success()).then_some(()));

    // --force --grace-period=0 does not wait for anyone.
    s.ok(&["annotate", "node", "sim-node-1", "sim.minikube-rs.io/stopped=true"]);
    s.ok_stdin(&["apply", "-f", "-"], &pod_manifest("stuck", "sim-node-1", "Always", ""));
    let out = s.kubectl(&["delete", "pod", "stuck", "--force", "--grace-period=0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    s.fails(&["get", "pod", "stuck"]);
}

#[test]
fn silent_nodes_go_unknown_are_tainted_and_their_pods_evicted() {
    let s = Server::start_simulated(2);
    wait_for(20, "nodes Ready", || {
        let r = rows(&s.ok(&["get", "nodes"]));
        (r.len() == 3 && r[1..].iter().all(|row| row[1] == "Ready")).then_some(())
    });
    let manifest = r#"apiVersion: v1
kind: Pod
metadata:
  name: brief
spec:
  nodeName: sim-node-0
  tolerations:
  - key: node.kubernetes.io/unreachable
    operator: Exists
    effect: NoExecute
    tolerationSeconds: 5
  containers:
  - name: app
    image: nginx
"#;
    s.ok_stdin(&["apply", "-f", "-"], manifest);
    s.ok_stdin(&["apply", "-f", "-"], &pod_manifest("patient", "sim-node-0", "Always", ""));
    wait_for(20, "pods Running", || (phase(&s, "brief") == "Running" && phase(&s, "patient") == "Running").then_some(()));

    s.ok(&["annotate", "node", "sim-node-0", "sim.minikube-rs.io/stopped=true"]);
    // 50 s of silence, then a 5 s monitor period.
    wait_for(90, "sim-node-0 NotReady", || {
        let r = rows(&s.ok(&["get", "node", "sim-node-0"]));
        (r[1][1] == "NotReady").then_some(())
    });
    let node = json(&s, &["get", "node", "sim-node-0"]);
    let ready = node["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
    assert_eq!(ready["status"], "Unknown");
    assert_eq!(ready["reason"], "NodeStatusUnknown");
    assert_eq!(ready["message"], "Kubelet stopped posting node status.");
    let taints = wait_for(20, "unreachable taints", || {
        let t = json(&s, &["get", "node", "sim-node-0"])["spec"]["taints"].clone();
        (t.as_array().is_some_and(|a| a.len() == 2)).then_some(t)
    });
    assert_eq!(taints[0]["key"], "node.kubernetes.io/unreachable");
    assert_eq!(taints[0]["effect"], "NoSchedule");
    assert_eq!(taints[1]["effect"], "NoExecute");
    assert!(taints[1]["timeAdded"].is_string());
    let other = rows(&s.ok(&["get", "node", "sim-node-1"]));
    assert_eq!(other[1][1], "Ready");

    // The pod tolerating 5 s is evicted (Terminating: its kubelet is silent); the other waits 300 s.
    wait_for(30, "brief evicted", || {
        json(&s, &["get", "pod", "brief"])["metadata"]["deletionTimestamp"].is_string().then_some(())
    });
    let events = s.ok(&["get", "events", "--field-selector", "reason=TaintManagerEviction", "-o", "jsonpath={.items[*].message}"]);
    assert!(events.contains("Marking for deletion Pod default/brief"), "{events}");
    let patient = json(&s, &["get", "pod", "patient"]);
    assert!(patient["metadata"]["deletionTimestamp"].is_null());
    let ready = patient["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap().clone();
    assert_eq!(ready["status"], "False", "pods of an unreachable node are not ready");

    // The kubelet comes back: conditions recover, taints go, the evicted pod is finished.
    s.ok(&["annotate", "node", "sim-node-0", "sim.minikube-rs.io/stopped-"]);
    wait_for(30, "sim-node-0 Ready and untainted", || {
        let n = json(&s, &["get", "node", "sim-node-0"]);
        let ready = n["status"]["conditions"].as_array().unwrap().iter().any(|c| c["type"] == "Ready" && c["status"] == "True");
        (ready && n["spec"]["taints"].as_array().is_none_or(|a| a.is_empty())).then_some(())
    });
    wait_for(30, "brief gone", || (!s.kubectl(&["get", "pod", "brief"]).status.success()).then_some(()));
    wait_for(30, "patient Ready again", || {
        let r = rows(&s.ok(&["get", "pod", "patient"]));
        (r[1][1] == "1/1").then_some(())
    });
}
