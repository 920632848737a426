//! The node agent with real containers: pods run through runc in their own network
//! namespaces and cgroups, driven by the real kubectl. Runs as root (CI does).

mod common;

use common::{eventually, json, pod, root, wait, wait_running, Server};
use std::time::{Duration, Instant};

fn phase(s: &Server, name: &str) -> String {
    pod(s, name)["status"]["phase"].as_str().unwrap_or("").to_string()
}

/// The pod's cgroup directory in the memory hierarchy (v1) or the unified tree (v2).
fn pod_cgroup(uid: &str, qos: &str) -> Option<std::path::PathBuf> {
    let sub = if qos.is_empty() { format!("kubepods/pod{uid}") } else { format!("kubepods/{qos}/pod{uid}") };
    for root in ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"] {
        let Ok(dir) = std::fs::read_dir(root) else { continue };
        for e in dir.flatten() {
            let p = e.path().join(&sub);
            if p.is_dir() {
                return Some(p);
            }
        }
    }
    None
}

#[test]
fn node_registers_like_a_kubelet() {
    if !root() {
        return;
    }
    let s = Server::start();
    let node = eventually("node Ready", || {
        let nodes = json(&s, &["get", "nodes"]);
        let n = nodes["items"].as_array()?.first()?.clone();
        n["status"]["conditions"].as_array()?.iter().any(|c| c["type"] == "Ready" && c["status"] == "True").then_some(n)
    });
    let labels = &node["metadata"]["labels"];
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert!(labels.get("node-role.kubernetes.io/control-plane").is_some());
    assert_eq!(node["status"]["capacity"]["pods"], "110");
    assert!(node["status"]["nodeInfo"]["containerRuntimeVersion"].as_str().unwrap().starts_with("runc://"));
    let wide = s.ok(&["get", "nodes", "-o", "wide"]);
    let row: Vec<&str> = wide.lines().nth(1).unwrap().split_whitespace().collect();
    // NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE ... CONTAINER-RUNTIME
    assert_eq!(row[1], "Ready", "{wide}");
    assert_eq!(row[2], "control-plane", "{wide}");
    assert_eq!(row[4], "v1.33.5", "{wide}");
    assert!(row[5].starts_with("10.200."), "{wide}");
    let lease = json(&s, &["get", "lease", "-n", "kube-node-lease", node["metadata"]["name"].as_str().unwrap()]);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
}

#[test]
fn guaranteed_and_burstable_pods_get_the_kubelet_cgroups() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: guaranteed}
spec:
  containers:
  - name: web
    image: busybox
    command: ["sleep", "3600"]
    resources: {limits: {cpu: 200m, memory: 128Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: burstable}
spec:
  containers:
  - name: web
    image: busybox
    command: ["sleep", "3600"]
    resources: {requests: {cpu: 100m, memory: 32Mi}}
"#,
    );
    let g = wait_running(&s, "guaranteed");
    assert_eq!(g["status"]["qosClass"], "Guaranteed");
    let uid = g["metadata"]["uid"].as_str().unwrap();
    let dir = pod_cgroup(uid, "").expect("the Guaranteed pod's cgroup at kubepods/pod<uid>");
    let limit = std::fs::read_to_string(dir.join("memory.limit_in_bytes")).or_else(|_| std::fs::read_to_string(dir.join("memory.max"))).unwrap();
    assert_eq!(limit.trim(), "134217728");
    let cpu_dir = std::path::PathBuf::from(dir.to_string_lossy().replace("/sys/fs/cgroup/memory/", "/sys/fs/cgroup/cpu/"));
    if cpu_dir.join("cpu.cfs_quota_us").exists() {
        assert_eq!(std::fs::read_to_string(cpu_dir.join("cpu.cfs_quota_us")).unwrap().trim(), "20000");
        assert_eq!(std::fs::read_to_string(cpu_dir.join("cpu.cfs_period_us")).unwrap().trim(), "100000");
    } else {
        assert_eq!(std::fs::read_to_string(dir.join("cpu.max")).unwrap().trim(), "20000 100000");
    }
    let b = wait_running(&s, "burstable");
    assert_eq!(b["status"]["qosClass"], "Burstable");
    assert!(pod_cgroup(b["metadata"]["uid"].as_str().unwrap(), "burstable").is_some(), "Burstable pod not under kubepods/burstable");
    // The container status carries what kubectl shows.
    let cs = &g["status"]["containerStatuses"][0];
    assert_eq!(cs["restartCount"], 0);
    assert!(cs["containerID"].as_str().unwrap().starts_with("runc://"));
    assert!(cs["imageID"].as_str().unwrap().contains("sha256:"));
    let ip = g["status"]["podIP"].as_str().unwrap();
    assert!(ip.starts_with("10.42.0."), "{ip}");
    // Deleting the pod removes its cgroup.
    s.ok(&["delete", "pod", "guaranteed", "--grace-period=1"]);
    eventually("cgroup removed", || pod_cgroup(uid, "").is_none().then_some(()));
}

#[test]
fn deployment_pods_get_distinct_ips_and_answer_each_other() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok(&["create", "deployment", "web", "--image=busybox", "--replicas=3", "--", "httpd", "-f", "-p", "8080", "-h", "/etc"]);
    s.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let pods = json(&s, &["get", "pods", "-l", "app=web"]);
    let ips: Vec<String> = pods["items"].as_array().unwrap().iter().map(|p| p["status"]["podIP"].as_str().unwrap().to_string()).collect();
    assert_eq!(ips.len(), 3);
    let mut uniq = ips.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 3, "{ips:?}");
    // A client pod fetches a page from each of them.
    let script = ips.iter().map(|ip| format!("timeout 5 wget -q -O - http://{ip}:8080/hostname")).collect::<Vec<_>>().join(" && ");
    s.ok(&["run", "client", "--image=busybox", "--restart=Never", "--", "sh", "-c", &script]);
    eventually("client finished", || {
        let p = phase(&s, "client");
        (p == "Succeeded" || p == "Failed").then_some(p)
    });
    assert_eq!(phase(&s, "client"), "Succeeded", "{:#}", pod(&s, "client")["status"]);
}

#[test]
fn crashing_pods_back_off_and_oom_kills_are_reported() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok(&["run", "crash", "--image=busybox", "--", "sh", "-c", "echo bye; exit 3"]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  containers:
  - name: hog
    image: busybox
    command: ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); sleep 3600"]
    resources: {limits: {memory: 32Mi}}
"#,
    );
    let started = Instant::now();
    // The first restart is at once, then 10 s, then 20 s: the waiting message says so.
    let msg = wait(&s, "CrashLoopBackOff with back-off 20s", Duration::from_secs(60), || {
        let p = pod(&s, "crash");
        let cs = &p["status"]["containerStatuses"][0];
        let m = cs["state"]["waiting"]["message"].as_str().unwrap_or("").to_string();
        (cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" && m.starts_with("back-off 20s")).then_some((m, cs.clone()))
    });
    assert!(started.elapsed() >= Duration::from_secs(9), "the back-off did not wait: {:?}", started.elapsed());
    assert!(msg.0.contains("restarting failed container=crash pod=crash_default("), "{}", msg.0);
    assert_eq!(msg.1["lastState"]["terminated"]["exitCode"], 3);
    assert_eq!(msg.1["lastState"]["terminated"]["reason"], "Error");
    assert!(msg.1["restartCount"].as_i64().unwrap() >= 2);
    let get = s.ok(&["get", "pod", "crash"]);
    assert!(get.contains("CrashLoopBackOff"), "{get}");
    let hog = wait(&s, "OOMKilled", Duration::from_secs(60), || {
        let p = pod(&s, "hog");
        let cs = p["status"]["containerStatuses"][0].clone();
        let oom = cs["lastState"]["terminated"]["reason"] == "OOMKilled" || cs["state"]["terminated"]["reason"] == "OOMKilled";
        oom.then_some(cs)
    });
    assert_eq!(hog["lastState"]["terminated"]["exitCode"], 137, "{hog:#}");
    assert!(hog["restartCount"].as_i64().unwrap() >= 1);
}

#[test]
fn readiness_probes_gate_ready_and_pods_survive_a_kill_9() {
    if !root() {
        return;
    }
    let mut s = Server::start();
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: slow}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "sleep 4; touch /tmp/ready; exec sleep 3600"]
    readinessProbe:
      exec: {command: ["cat", "/tmp/ready"]}
      periodSeconds: 1
"#,
    );
    eventually("Running but not Ready", || {
        let p = pod(&s, "slow");
        let running = p["status"]["containerStatuses"][0]["state"]["running"].is_object();
        let ready = p["status"]["containerStatuses"][0]["ready"].as_bool().unwrap_or(true);
        (running && !ready).then_some(())
    });
    let p = wait_running(&s, "slow");
    let id = p["status"]["containerStatuses"][0]["containerID"].as_str().unwrap().to_string();
    let events = s.ok(&["get", "events", "--field-selector", "involvedObject.name=slow"]);
    assert!(events.contains("Readiness probe failed"), "{events}");

    // kill -9 of the server: the container keeps running and is adopted after the restart.
    s.kill9();
    std::thread::sleep(Duration::from_secs(1));
    s.spawn();
    std::thread::sleep(Duration::from_secs(3));
    let p = wait_running(&s, "slow");
    let cs = &p["status"]["containerStatuses"][0];
    assert_eq!(cs["containerID"].as_str().unwrap(), id, "the container was replaced: {cs:#}");
    assert_eq!(cs["restartCount"], 0);

    // SIGTERM (minikube-rs stop) leaves it running too.
    s.stop();
    s.spawn();
    std::thread::sleep(Duration::from_secs(2));
    let p = wait_running(&s, "slow");
    let cs = &p["status"]["containerStatuses"][0];
    assert_eq!(cs["containerID"].as_str().unwrap(), id, "the container was replaced after SIGTERM: {cs:#}");
    assert_eq!(cs["restartCount"], 0);
}

#[test]
fn a_missing_runtime_is_named_at_start() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::binary())
        .args(["server", "--api-port", "0", "--offline", "--runtime", "no-such-runc", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("apt-get install no-such-runc"), "{err}");
    let _ = std::process::Command::new(common::binary()).args(["delete", "--data-dir"]).arg(dir.path()).output();
}
