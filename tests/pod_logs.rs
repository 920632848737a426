//! `kubectl logs` against real containers: the pods/log subresource served from the node's
//! CRI log files, with kubectl's options and the apiserver's and kubelet's error messages.
//! Runs as root (CI does).

mod common;

use common::{eventually, json, root, tail, Server};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Waits until the pod's containers all run (or, with `any_phase`, until it left Pending).
fn wait_phase(s: &Server, name: &str, phases: &[&str]) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let p = json(s, &["get", "pod", name]);
        if phases.iter().any(|ph| p["status"]["phase"] == *ph) {
            return p;
        }
        assert!(Instant::now() < deadline, "pod {name} not in {phases:?}: {:#}\nlog:\n{}", p["status"], tail(&s.log()));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// kubectl's (stdout, stderr, success).
fn run(s: &Server, args: &[&str]) -> (String, String, bool) {
    let out = s.kubectl(args);
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), out.status.success())
}

/// Starts kubectl in the background with its stdout piped.
fn spawn_kubectl(s: &Server, args: &[&str]) -> std::process::Child {
    Command::new(common::KUBECTL)
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args(args)
        .env("KUBECACHEDIR", s.data_dir().join("kube-cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl")
}

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: multi}
spec:
  initContainers:
  - name: init
    image: busybox
    command: ["sh", "-c", "echo init done"]
  containers:
  - name: a
    image: busybox
    command: ["sh", "-c", "echo a1; sleep 0.3; echo a2 >&2; sleep 0.3; echo a3; sleep 3600"]
  - name: b
    image: busybox
    command: ["sh", "-c", "echo b1; sleep 3600"]
---
apiVersion: v1
kind: Pod
metadata: {name: count}
spec:
  restartPolicy: Never
  containers:
  - name: count
    image: busybox
    command: ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 1; done"]
---
apiVersion: v1
kind: Pod
metadata: {name: pending}
spec:
  containers:
  - name: c
    image: example.invalid/nothing:1
"#;

#[test]
fn kubectl_logs_reads_the_container_logs() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok_stdin(&["apply", "-f", "-"], PODS);
    s.ok(&["create", "deployment", "web", "--image=busybox", "--", "sh", "-c", "echo hello from web; sleep 3600"]);

    // -f on a container that prints 1 2 3 and exits: kubectl ends with it.
    wait_phase(&s, "count", &["Running", "Succeeded"]);
    let mut follow = spawn_kubectl(&s, &["logs", "-f", "count"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = follow.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = follow.kill();
            panic!("kubectl logs -f did not end when the container exited\n{}", tail(&s.log()));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut out = String::new();
    follow.stdout.take().expect("stdout").read_to_string(&mut out).expect("read");
    assert!(status.success(), "kubectl logs -f failed: {status}");
    assert_eq!(out, "1\n2\n3\n");
    // And again once it is done: everything, at once.
    wait_phase(&s, "count", &["Succeeded"]);
    assert_eq!(s.ok(&["logs", "-f", "count"]), "1\n2\n3\n");

    wait_phase(&s, "multi", &["Running"]);
    let a = eventually("a's three lines", || {
        let out = s.ok(&["logs", "multi", "-c", "a"]);
        (out.lines().count() == 3).then_some(out)
    });
    assert_eq!(a, "a1\na2\na3\n", "stdout and stderr in file order");
    // No -c: kubectl picks the first container and says so.
    let (out, err, ok) = run(&s, &["logs", "multi"]);
    assert!(ok, "{err}");
    assert_eq!(out, a);
    assert_eq!(err, "Defaulted container \"a\" out of: a, b, init (init)\n");
    assert_eq!(s.ok(&["logs", "multi", "-c", "init"]), "init done\n");
    assert_eq!(s.ok(&["logs", "pod/multi", "-c", "b"]), "b1\n");
    assert_eq!(s.ok(&["logs", "multi", "-c", "a", "--tail=2"]), "a2\na3\n");
    assert_eq!(s.ok(&["logs", "multi", "-c", "a", "--tail=0"]), "");
    assert_eq!(s.ok(&["logs", "multi", "-c", "a", "--since=1h"]), a);
    assert_eq!(s.ok(&["logs", "multi", "-c", "a", "--since-time=2099-01-01T00:00:00Z"]), "");
    assert_eq!(s.ok(&["logs", "multi", "-c", "a", "--limit-bytes=4"]), "a1\na");
    let stamped = s.ok(&["logs", "multi", "-c", "a", "--timestamps"]);
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 3, "{stamped}");
    for (line, text) in lines.iter().zip(["a1", "a2", "a3"]) {
        let (ts, rest) = line.split_once(' ').expect("timestamp and text");
        assert_eq!(rest, text);
        assert!(ts.ends_with('Z') && ts.len() >= 20 && ts.as_bytes()[10] == b'T', "RFC3339Nano: {ts}");
        assert!(!ts.trim_end_matches('Z').ends_with('0') || !ts.contains('.'), "trailing zeros trimmed: {ts}");
    }
    // kubectl keeps the per-container requests in a map: containers come in any order.
    let all = s.ok(&["logs", "multi", "--all-containers"]);
    assert!(all.contains("init done\n") && all.contains("a1\na2\na3\n") && all.contains("b1\n") && all.len() == 22, "{all}");
    let prefixed = s.ok(&["logs", "multi", "--all-containers", "--prefix", "--tail=1"]);
    let mut lines: Vec<&str> = prefixed.lines().collect();
    lines.sort();
    assert_eq!(lines, ["[pod/multi/a] a3", "[pod/multi/b] b1", "[pod/multi/init] init done"]);

    // -f streams as lines come and stops when the client goes away.
    let mut f = spawn_kubectl(&s, &["logs", "-f", "multi", "-c", "b"]);
    let mut stdout = f.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 3];
        let r = stdout.read_exact(&mut buf).map(|_| buf.to_vec());
        let _ = tx.send(r);
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).expect("kubectl logs -f streamed nothing").expect("read");
    assert_eq!(first, b"b1\n");
    assert!(f.try_wait().expect("wait").is_none(), "-f on a running container keeps going");
    let _ = f.kill();
    let _ = f.wait();

    // A deployment: kubectl picks one of its pods.
    let web = eventually("the deployment's log", || {
        let (out, _, ok) = run(&s, &["logs", "deploy/web"]);
        (ok && !out.is_empty()).then_some(out)
    });
    assert_eq!(web, "hello from web\n");

    // Errors, as kubectl prints them.
    let (_, err, ok) = run(&s, &["logs", "multi", "-c", "nope"]);
    assert!(!ok);
    assert_eq!(err, "error: container nope is not valid for pod multi\n");
    let (_, err, _) = run(&s, &["logs", "nope"]);
    assert_eq!(err, "error: error from server (NotFound): pods \"nope\" not found in namespace \"default\"\n");
    let (_, err, _) = run(&s, &["logs", "multi", "-c", "a", "-p"]);
    assert_eq!(err, "Error from server (BadRequest): previous terminated container \"a\" in pod \"multi\" not found\n");
    let (_, err, _) = run(&s, &["get", "--raw", "/api/v1/namespaces/default/pods/multi/log"]);
    assert_eq!(err, "Error from server (BadRequest): a container name must be specified for pod multi, choose one of: [init a b]\n");
    let (_, err, _) = run(&s, &["get", "--raw", "/api/v1/namespaces/default/pods/multi/log?container=a&tailLines=-1"]);
    assert!(
        err.contains("PodLogOptions \"multi\" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"),
        "{err}"
    );
    let (_, err, _) = run(&s, &["get", "--raw", "/api/v1/namespaces/default/pods/multi/log?container=a&limitBytes=x"]);
    assert_eq!(err, "Error from server (BadRequest): strconv.ParseInt: parsing \"x\": invalid syntax\n");
    eventually("the unpullable image to be waiting", || {
        let p = json(&s, &["get", "pod", "pending"]);
        p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str().filter(|r| r.contains("Pull")).map(str::to_string)
    });
    let (_, err, _) = run(&s, &["logs", "pending"]);
    assert!(
        err == "Error from server (BadRequest): container \"c\" in pod \"pending\" is waiting to start: image can't be pulled\n"
            || err == "Error from server (BadRequest): container \"c\" in pod \"pending\" is waiting to start: trying and failing to pull image\n",
        "{err}"
    );
}

#[test]
fn previous_shows_the_attempt_before_the_restart() {
    if !root() {
        return;
    }
    let s = Server::start();
    s.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: v1
kind: Pod
metadata: {name: again}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "n=$(cat /d/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /d/n; echo run $n; if [ $n -ge 2 ]; then exec sleep 3600; fi; exit 1"]
    volumeMounts: [{name: d, mountPath: /d}]
  volumes: [{name: d, emptyDir: {}}]
"#,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = json(&s, &["get", "pod", "again"]);
        let cs = &p["status"]["containerStatuses"][0];
        if cs["restartCount"] == 1 && cs["state"]["running"].is_object() {
            break;
        }
        assert!(Instant::now() < deadline, "no restart: {:#}\n{}", p["status"], tail(&s.log()));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(s.ok(&["logs", "again"]), "run 2\n");
    assert_eq!(s.ok(&["logs", "again", "-p"]), "run 1\n");
    assert_eq!(s.ok(&["logs", "again", "--previous", "--timestamps"]).split_once(' ').map(|(_, t)| t.to_string()), Some("run 1\n".into()));
    // A previous attempt has exited: following it ends at once.
    assert_eq!(s.ok(&["logs", "again", "-p", "-f"]), "run 1\n");
}
