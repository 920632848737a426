//! Bad input and faults on a real node, through the real kubectl: what `kubectl get pods`
//! (the STATUS column), `describe` and the events show, compared with what a Kubernetes 1.33
//! kubelet shows for the same fault. Runs as root (CI does).

mod common;

use common::{json, pod, root, rows, wait, wait_running, Server};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The STATUS column of `kubectl get pod NAME`.
fn status_column(s: &Server, name: &str) -> String {
    let out = s.ok(&["get", "pod", name, "--no-headers"]);
    rows(&out).first().and_then(|r| r.get(2).cloned()).unwrap_or_default()
}

/// Waits until the STATUS column shows `want`.
fn wait_status(s: &Server, name: &str, want: &str, limit: Duration) {
    let mut last = String::new();
    wait(s, &format!("pod {name} STATUS {want}"), limit, || {
        last = status_column(s, name);
        (last == want).then_some(())
    });
}

/// The pod's events as (type, reason, message).
fn events(s: &Server, name: &str) -> Vec<(String, String, String)> {
    let list = json(s, &["get", "events", "--field-selector", &format!("involvedObject.name={name}")]);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let f = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (f("type"), f("reason"), f("message"))
        })
        .collect()
}

fn wait_event(s: &Server, name: &str, reason: &str, message_part: &str) -> String {
    wait(s, &format!("event {reason} ({message_part}) on {name}"), Duration::from_secs(60), || {
        events(s, name).into_iter().find(|(_, r, m)| r == reason && m.contains(message_part)).map(|(_, _, m)| m)
    })
}

fn node_ready(s: &Server) -> bool {
    let nodes = json(s, &["get", "nodes"]);
    nodes["items"].as_array().into_iter().flatten().all(|n| {
        n["status"]["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn container_id(p: &serde_json::Value, i: usize) -> String {
    let id = p["status"]["containerStatuses"][i]["containerID"].as_str().unwrap_or("");
    id.trim_start_matches("runc://").to_string()
}

/// The container's init pid, from `runc --root <run_dir>/runc state <id>`.
fn container_pid(s: &Server, id: &str) -> i32 {
    let profile = minikube_rs::node::profile::NodeProfile::new(s.data_dir(), false);
    let out = std::process::Command::new("runc").arg("--root").arg(profile.runtime_root()).args(["state", id]).output().expect("run runc state");
    assert!(out.status.success(), "runc state {id}: {}", String::from_utf8_lossy(&out.stderr));
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).expect("runc state json");
    state["pid"].as_i64().expect("pid") as i32
}

/// The log file of a container's attempt, as the kubelet lays it out.
fn log_file(s: &Server, p: &serde_json::Value, container: &str, restart: u32) -> PathBuf {
    let m = &p["metadata"];
    let dir = format!("{}_{}_{}", m["namespace"].as_str().unwrap_or(""), m["name"].as_str().unwrap_or(""), m["uid"].as_str().unwrap_or(""));
    s.data_dir().join("logs/pods").join(dir).join(container).join(format!("{restart}.log"))
}

/// The log lines' payloads (the CRI format's fourth field).
fn log_lines(s: &Server, p: &serde_json::Value, container: &str) -> Vec<String> {
    let text = std::fs::read_to_string(log_file(s, p, container, 0)).unwrap_or_default();
    text.lines().map(|l| l.splitn(4, ' ').nth(3).unwrap_or("").to_string()).collect()
}

#[test]
fn missing_and_invalid_images() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: ghost}
spec:
  containers:
  - {name: app, image: "registry.example.invalid/ghost:1.0"}
---
apiVersion: v1
kind: Pod
metadata: {name: never}
spec:
  containers:
  - {name: app, image: "nothere:1", imagePullPolicy: Never}
---
apiVersion: v1
kind: Pod
metadata: {name: bad}
spec:
  containers:
  - {name: app, image: "Bad:Name"}
"#,
    );
    // kubectl run checks the name itself; the API server accepts it and the kubelet says no.
    let err = s.fails(&["run", "bad2", "--image=Bad:Name"]);
    assert!(err.contains("Invalid image name \"Bad:Name\": invalid reference format"), "{err}");

    // ErrImagePull first, then ImagePullBackOff, as `kubectl get pods` shows them.
    let mut seen = Vec::new();
    wait(&s, "ErrImagePull then ImagePullBackOff", Duration::from_secs(40), || {
        let st = status_column(&s, "ghost");
        if seen.last() != Some(&st) {
            seen.push(st.clone());
        }
        (st == "ImagePullBackOff").then_some(())
    });
    assert!(seen.iter().any(|x| x == "ErrImagePull"), "statuses seen: {seen:?}");
    let p = pod(&s, "ghost");
    let w = &p["status"]["containerStatuses"][0]["state"]["waiting"];
    assert_eq!(w["reason"], "ImagePullBackOff");
    assert!(w["message"].as_str().unwrap_or("").starts_with("Back-off pulling image \"registry.example.invalid/ghost:1.0\""), "{w:#}");
    assert_eq!(p["status"]["phase"], "Pending");
    wait_event(&s, "ghost", "Pulling", "Pulling image \"registry.example.invalid/ghost:1.0\"");
    wait_event(&s, "ghost", "Failed", "Failed to pull image \"registry.example.invalid/ghost:1.0\"");
    wait_event(&s, "ghost", "Failed", "Error: ErrImagePull");
    wait_event(&s, "ghost", "BackOff", "Back-off pulling image \"registry.example.invalid/ghost:1.0\"");
    wait_event(&s, "ghost", "Failed", "Error: ImagePullBackOff");

    wait_status(&s, "never", "ErrImageNeverPull", Duration::from_secs(30));
    let msg = wait_event(&s, "never", "ErrImageNeverPull", "");
    assert_eq!(msg, "Container image \"nothere:1\" is not present with pull policy of Never");
    wait_event(&s, "never", "Failed", "Error: ErrImageNeverPull");
    let w = &pod(&s, "never")["status"]["containerStatuses"][0]["state"]["waiting"];
    assert_eq!(w["message"], "Container image \"nothere:1\" is not present with pull policy of Never");

    wait_status(&s, "bad", "InvalidImageName", Duration::from_secs(30));
    let msg = wait_event(&s, "bad", "InspectFailed", "");
    assert!(msg.starts_with("Failed to apply default image tag \"Bad:Name\": couldn't parse image name \"Bad:Name\""), "{msg}");
    wait_event(&s, "bad", "Failed", "Error: InvalidImageName");
    let describe = s.ok(&["describe", "pod", "bad"]);
    assert!(describe.contains("Reason:       InvalidImageName"), "{describe}");

    // The node stays healthy.
    assert!(node_ready(&s), "the node is no longer Ready");
    let ok = s.ok(&["run", "fine", "--image=busybox", "--", "sleep", "3600"]);
    assert!(ok.contains("created"));
    wait_running(&s, "fine");
}

#[test]
fn command_not_found_is_a_start_error_then_crash_loop() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok(&["run", "nocmd", "--image=busybox", "--command", "--", "/no/such/binary"]);
    let mut seen = Vec::new();
    let cs = wait(&s, "lastState StartError", Duration::from_secs(40), || {
        let st = status_column(&s, "nocmd");
        if seen.last() != Some(&st) {
            seen.push(st);
        }
        let p = pod(&s, "nocmd");
        let cs = p["status"]["containerStatuses"][0].clone();
        (cs["lastState"]["terminated"]["reason"] == "StartError" && cs["state"]["waiting"]["reason"] == "CrashLoopBackOff").then_some(cs)
    });
    let t = &cs["lastState"]["terminated"];
    assert_eq!(t["exitCode"], 128, "{cs:#}");
    let msg = t["message"].as_str().unwrap_or("");
    assert!(msg.contains("/no/such/binary") && msg.contains("no such file or directory"), "runc's message: {msg}");
    // kubectl shows the start failure, then the back-off.
    wait_status(&s, "nocmd", "CrashLoopBackOff", Duration::from_secs(30));
    assert!(seen.iter().all(|x| ["Pending", "ContainerCreating", "StartError", "RunContainerError", "CrashLoopBackOff"].contains(&x.as_str())), "{seen:?}");
    let m = wait_event(&s, "nocmd", "Failed", "Error: ");
    assert!(m.contains("/no/such/binary"), "{m}");
    wait_event(&s, "nocmd", "BackOff", "Back-off restarting failed container nocmd in pod nocmd_default(");
    // A command not in $PATH says so, as runc does.
    s.ok(&["run", "nopath", "--image=busybox", "--command", "--", "no-such-command"]);
    let cs = wait(&s, "lastState StartError", Duration::from_secs(40), || {
        let cs = pod(&s, "nopath")["status"]["containerStatuses"][0].clone();
        (cs["lastState"]["terminated"]["reason"] == "StartError" || cs["state"]["terminated"]["reason"] == "StartError").then_some(cs)
    });
    let text = cs.to_string();
    assert!(text.contains("executable file not found in $PATH"), "{cs:#}");
    assert!(node_ready(&s));
}

#[test]
fn missing_config_map_keys_and_secrets_are_config_errors() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: needs-cm}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "echo greeting=$GREETING; sleep 3600"]
    env:
    - name: GREETING
      valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}
---
apiVersion: v1
kind: Pod
metadata: {name: needs-secret}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
    env:
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: sec, key: password}}
"#,
    );
    wait_status(&s, "needs-cm", "CreateContainerConfigError", Duration::from_secs(30));
    wait_status(&s, "needs-secret", "CreateContainerConfigError", Duration::from_secs(30));
    let describe = s.ok(&["describe", "pod", "needs-cm"]);
    assert!(describe.contains("Reason:       CreateContainerConfigError"), "{describe}");
    wait_event(&s, "needs-cm", "Failed", "Error: configmap \"cfg\" not found");
    wait_event(&s, "needs-secret", "Failed", "Error: secret \"sec\" not found");
    let w = &pod(&s, "needs-secret")["status"]["containerStatuses"][0]["state"]["waiting"];
    assert_eq!(w["message"], "secret \"sec\" not found");

    // The configMap without the key: the kubelet's message names the key.
    s.ok(&["create", "configmap", "cfg", "--from-literal=other=x"]);
    wait_event(&s, "needs-cm", "Failed", "Error: couldn't find key greeting in ConfigMap default/cfg");
    // With the key the pod starts.
    s.ok_stdin(&["apply", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {greeting: hello}\n");
    let p = wait_running(&s, "needs-cm");
    wait(&s, "the env value in the log", Duration::from_secs(10), || log_lines(&s, &p, "app").iter().any(|l| l == "greeting=hello").then_some(()));
    assert_eq!(status_column(&s, "needs-cm"), "Running");
    // The secret arrives as well.
    s.ok(&["create", "secret", "generic", "sec", "--from-literal=password=pw"]);
    wait_running(&s, "needs-secret");
    assert!(node_ready(&s));
}

#[test]
fn a_volume_of_a_missing_config_map_waits_in_container_creating() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: vol}
spec:
  containers:
  - {name: app, image: busybox, command: ["sh", "-c", "cat /cfg/key; echo; sleep 3600"], volumeMounts: [{name: cfg, mountPath: /cfg}]}
  volumes:
  - {name: cfg, configMap: {name: later}}
"#,
    );
    let m = wait_event(&s, "vol", "FailedMount", "");
    assert!(m.contains("configmap \"later\" not found"), "{m}");
    assert!(m.starts_with("MountVolume.SetUp failed for volume \"cfg\" : "), "{m}");
    assert_eq!(status_column(&s, "vol"), "ContainerCreating");
    s.ok(&["create", "configmap", "later", "--from-literal=key=value-from-later"]);
    let p = wait_running(&s, "vol");
    wait(&s, "the file in the log", Duration::from_secs(10), || log_lines(&s, &p, "app").iter().any(|l| l == "value-from-later").then_some(()));
}

#[test]
fn a_memory_request_larger_than_the_node_is_unschedulable() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers:
  - {name: app, image: busybox, command: ["sleep", "3600"], resources: {requests: {memory: 64Ti}}}
"#,
    );
    let m = wait_event(&s, "huge", "FailedScheduling", "");
    assert!(m.starts_with("0/1 nodes are available: 1 Insufficient memory."), "{m}");
    assert_eq!(status_column(&s, "huge"), "Pending");
    assert!(node_ready(&s));
}

#[test]
fn containers_killed_from_outside_restart_per_policy() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok(&["run", "always", "--image=busybox", "--", "sleep", "3600"]);
    s.ok(&["run", "never", "--image=busybox", "--restart=Never", "--", "sleep", "3600"]);
    for (name, want_restart) in [("always", true), ("never", false)] {
        let p = wait_running(&s, name);
        let id = container_id(&p, 0);
        let pid = container_pid(&s, &id);
        // SAFETY: kill has no memory-safety preconditions; the pid is the container's init.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill {pid}");
        if want_restart {
            let cs = wait(&s, "restartCount 1", Duration::from_secs(30), || {
                let cs = pod(&s, name)["status"]["containerStatuses"][0].clone();
                (cs["restartCount"] == 1 && cs["state"]["running"].is_object()).then_some(cs)
            });
            let t = &cs["lastState"]["terminated"];
            assert_eq!(t["exitCode"], 137, "{cs:#}");
            assert_eq!(t["reason"], "Error", "{cs:#}");
            assert_eq!(t["containerID"], format!("runc://{id}"), "{cs:#}");
            assert_ne!(container_id(&pod(&s, name), 0), id, "a new container");
            assert_eq!(status_column(&s, name), "Running");
        } else {
            wait(&s, "pod Failed", Duration::from_secs(30), || (pod(&s, name)["status"]["phase"] == "Failed").then_some(()));
            let cs = pod(&s, name)["status"]["containerStatuses"][0].clone();
            assert_eq!(cs["state"]["terminated"]["exitCode"], 137, "{cs:#}");
            assert_eq!(cs["restartCount"], 0);
            assert_eq!(status_column(&s, name), "Error");
        }
    }
}

#[test]
fn a_failing_liveness_probe_restarts_the_container() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: live}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
    livenessProbe:
      httpGet: {path: /healthz, port: 8080}
      periodSeconds: 1
      failureThreshold: 1
"#,
    );
    let m = wait_event(&s, "live", "Unhealthy", "Liveness probe failed: ");
    assert!(m.contains("Get \"http://10.42.0.") && m.contains(":8080/healthz\"") && m.contains("connection refused"), "{m}");
    let k = wait_event(&s, "live", "Killing", "");
    assert_eq!(k, "Container app failed liveness probe, will be restarted");
    let cs = wait(&s, "a restart", Duration::from_secs(40), || {
        let cs = pod(&s, "live")["status"]["containerStatuses"][0].clone();
        (cs["restartCount"].as_i64().unwrap_or(0) >= 1).then_some(cs)
    });
    // sleep as pid 1 ignores SIGTERM (no handler): killed at the end of the grace period.
    assert_eq!(cs["lastState"]["terminated"]["exitCode"], 137, "{cs:#}");
}

#[test]
fn lifecycle_hooks_run_and_failures_are_reported() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: hooks}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "sleep 1; cat /shared/post; exec sleep 3600"]
    volumeMounts: [{name: shared, mountPath: /shared}]
    lifecycle:
      postStart: {exec: {command: ["sh", "-c", "echo post-start-ran > /shared/post"]}}
      preStop: {exec: {command: ["sh", "-c", "echo pre-stop-ran > /shared/pre"]}}
  - name: watcher
    image: busybox
    command: ["sh", "-c", "until [ -f /shared/pre ]; do sleep 0.1; done; cat /shared/pre; sleep 3600"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  volumes:
  - {name: shared, emptyDir: {}}
---
apiVersion: v1
kind: Pod
metadata: {name: badhook}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sleep", "3600"]
    lifecycle:
      postStart: {exec: {command: ["sh", "-c", "exit 7"]}}
"#,
    );
    let p = wait_running(&s, "hooks");
    wait(&s, "postStart output", Duration::from_secs(10), || log_lines(&s, &p, "app").iter().any(|l| l == "post-start-ran").then_some(()));
    wait_event(&s, "badhook", "FailedPostStartHook", "");
    // The container whose postStart failed is killed and restarted.
    wait(&s, "badhook restarted", Duration::from_secs(40), || {
        (pod(&s, "badhook")["status"]["containerStatuses"][0]["restartCount"].as_i64().unwrap_or(0) >= 1).then_some(())
    });
    // preStop runs before the SIGTERM: the watcher sees its file while the pod terminates.
    let out = s.kubectl(&["delete", "pod", "hooks", "--wait=false"]);
    assert!(out.status.success());
    wait(&s, "preStop output", Duration::from_secs(10), || log_lines(&s, &p, "watcher").iter().any(|l| l == "pre-stop-ran").then_some(()));
}

#[test]
fn graceful_termination_honours_sigterm_and_the_grace_period() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: polite}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
---
apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
"#,
    );
    wait_running(&s, "polite");
    wait_running(&s, "stubborn");
    let started = Instant::now();
    s.ok(&["delete", "pod", "polite"]);
    let polite = started.elapsed();
    assert!(polite < Duration::from_millis(2500), "the SIGTERM-trapping pod took {polite:?} to go");

    let stubborn = s.ok(&["get", "pod", "stubborn", "-o", "jsonpath={.status.containerStatuses[0].containerID}"]);
    let started = Instant::now();
    s.ok(&["delete", "pod", "stubborn"]);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1900), "killed before its grace period: {took:?}");
    assert!(took < Duration::from_secs(6), "not killed after its grace period: {took:?}");
    let id = stubborn.trim_start_matches("runc://").to_string();
    let profile = minikube_rs::node::profile::NodeProfile::new(s.data_dir(), false);
    let out = std::process::Command::new("runc").arg("--root").arg(profile.runtime_root()).args(["state", &id]).output().expect("runc");
    assert!(!out.status.success(), "the container is still known to runc: {}", String::from_utf8_lossy(&out.stdout));
    let kills = events(&s, "stubborn");
    assert!(kills.iter().any(|(_, r, m)| r == "Killing" && m == "Stopping container app"), "{kills:?}");
}

#[test]
fn config_map_secret_empty_dir_and_downward_api_volumes() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok(&["create", "configmap", "site", "--from-literal=index.html=hello-from-configmap"]);
    s.ok(&["create", "secret", "generic", "creds", "--from-literal=token=s3cr3t"]);
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: vols, labels: {tier: web}}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "cat /site/index.html; echo; cat /creds/token; echo; cat /info/labels; echo; echo pod=$MY_POD ns=$MY_NS ip=$MY_IP mem=$MY_MEM; echo shared > /data/x; sleep 3600"]
    resources: {limits: {memory: 64Mi}}
    env:
    - {name: MY_POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: MY_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MY_MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    volumeMounts:
    - {name: site, mountPath: /site}
    - {name: creds, mountPath: /creds}
    - {name: info, mountPath: /info}
    - {name: data, mountPath: /data}
  - name: reader
    image: busybox
    command: ["sh", "-c", "until [ -f /data/x ]; do sleep 0.1; done; cat /data/x; sleep 3600"]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - {name: site, configMap: {name: site}}
  - {name: creds, secret: {secretName: creds}}
  - {name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}
  - {name: data, emptyDir: {}}
"#,
    );
    let p = wait_running(&s, "vols");
    let ip = p["status"]["podIP"].as_str().unwrap_or("").to_string();
    let want = ["hello-from-configmap".to_string(), "s3cr3t".into(), "tier=\"web\"".into(), format!("pod=vols ns=default ip={ip} mem=64")];
    wait(&s, "the volumes' content in the log", Duration::from_secs(10), || {
        let lines = log_lines(&s, &p, "app");
        want.iter().all(|w| lines.contains(w)).then_some(())
    });
    wait(&s, "the emptyDir seen by the second container", Duration::from_secs(10), || {
        log_lines(&s, &p, "reader").iter().any(|l| l == "shared").then_some(())
    });
}

#[test]
fn a_local_path_claim_is_provisioned_bound_and_deleted() {
    if !root() {
        return;
    }
    let s = Server::start();
    let sc = s.ok(&["get", "storageclass"]);
    assert!(sc.contains("local-path (default)") && sc.contains("rancher.io/local-path"), "{sc}");
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 128Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: writer}
spec:
  containers:
  - {name: app, image: busybox, command: ["sh", "-c", "echo persisted > /data/file; sleep 3600"], volumeMounts: [{name: data, mountPath: /data}]}
  volumes:
  - {name: data, persistentVolumeClaim: {claimName: data}}
"#,
    );
    wait_running(&s, "writer");
    let pvc = wait(&s, "claim Bound", Duration::from_secs(30), || {
        let c = json(&s, &["get", "pvc", "data"]);
        (c["status"]["phase"] == "Bound").then_some(c)
    });
    let pv_name = pvc["spec"]["volumeName"].as_str().expect("volumeName").to_string();
    let pv = json(&s, &["get", "pv", &pv_name]);
    assert_eq!(pv["status"]["phase"], "Bound");
    assert_eq!(pv["spec"]["storageClassName"], "local-path");
    let path = PathBuf::from(pv["spec"]["hostPath"]["path"].as_str().or(pv["spec"]["local"]["path"].as_str()).expect("the volume's path"));
    assert!(path.starts_with(s.data_dir().join("storage")), "{path:?}");
    wait(&s, "the file in the volume's directory", Duration::from_secs(10), || {
        (std::fs::read_to_string(path.join("file")).ok()?.trim() == "persisted").then_some(())
    });
    s.ok(&["delete", "pod", "writer", "--grace-period=1"]);
    s.ok(&["delete", "pvc", "data"]);
    wait(&s, "the volume deleted", Duration::from_secs(30), || {
        let out = s.kubectl(&["get", "pv", &pv_name]);
        (!out.status.success()).then_some(())
    });
    wait(&s, "the directory removed", Duration::from_secs(10), || (!path.exists()).then_some(()));
}
