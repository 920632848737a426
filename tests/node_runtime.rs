//! The OCI runtime layer against real runc, overlayfs and cgroups (as root): containers from a
//! busybox layer, exit codes and CRI logs, OOM kills, shared namespaces, exec, re-adoption by a
//! new Runtime, removal and runc's own start errors. Each test uses its own profile (temp data
//! dir → its own cgroup parent and runtime dir) and tears it down.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use minikube_rs::node::cgroups::{Cgroups, QosClass, Resources};
use minikube_rs::node::profile::NodeProfile;
use minikube_rs::node::runtime::{ContainerSpec, Error, Runtime, State};

const MONITOR_EXE: &str = env!("CARGO_BIN_EXE_minikube-rs");

struct Fixture {
    _dir: tempfile::TempDir,
    profile: NodeProfile,
    cgroups: Cgroups,
    runtime: Runtime,
    layer: PathBuf,
}

/// None (with the reason printed) when not root or runc is missing, unless CI is set.
fn fixture() -> Option<Fixture> {
    let why = if !nix::unistd::geteuid().is_root() {
        Some("needs root")
    } else if !Path::new("/bin/busybox").exists() {
        Some("needs /bin/busybox (busybox-static)")
    } else {
        None
    };
    if let Some(why) = why {
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("skipping: {why}");
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let profile = NodeProfile::new(dir.path(), false);
    let cgroups = Cgroups::new(&profile.kubepods()).expect("cgroups");
    let runtime = match Runtime::new("runc", &profile, cgroups.clone()) {
        Ok(rt) => rt.with_monitor_exe(MONITOR_EXE),
        Err(err) => {
            assert!(std::env::var_os("CI").is_none(), "{err}");
            eprintln!("skipping: {err}");
            let _ = Cgroups::teardown(&profile.kubepods());
            return None;
        }
    };
    let layer = dir.path().join("layer");
    busybox_layer(&layer);
    Some(Fixture { _dir: dir, profile, cgroups, runtime, layer })
}

/// A one-layer rootfs: the static busybox and a link per applet.
fn busybox_layer(layer: &Path) {
    let bin = layer.join("bin");
    fs::create_dir_all(&bin).expect("layer bin");
    for d in ["proc", "sys", "dev", "etc", "tmp"] {
        fs::create_dir_all(layer.join(d)).expect("layer dir");
    }
    fs::copy("/bin/busybox", bin.join("busybox")).expect("copy busybox");
    let out = std::process::Command::new("/bin/busybox").arg("--list").output().expect("busybox --list");
    for applet in String::from_utf8_lossy(&out.stdout).lines().filter(|a| *a != "busybox") {
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
}

impl Fixture {
    fn spec(&self, name: &str, cgroup_parent: &str, script: &str) -> ContainerSpec {
        let id = format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>())[..64].to_string();
        ContainerSpec {
            id,
            labels: BTreeMap::from([("io.kubernetes.container.name".to_string(), name.to_string())]),
            image_layers: vec![self.layer.clone()],
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            cgroup_parent: cgroup_parent.to_string(),
            resources: Resources { cpu_shares: 2, cpu_period: 100_000, ..Default::default() },
            oom_score_adj: Some(1000),
            log_path: self.profile.pod_log_dir.join(format!("ns_pod_uid/{name}/0.log")),
            ..Default::default()
        }
    }

    fn pod(&self, uid: &str) -> String {
        self.cgroups.ensure_pod(QosClass::BestEffort, uid, &Resources::default()).expect("pod cgroup")
    }

    /// Tears the profile down (also on panic, through Drop).
    async fn cleanup(self) {
        Runtime::teardown(&self.profile, "runc").await.expect("runtime teardown");
        Cgroups::teardown(&self.profile.kubepods()).expect("cgroup teardown");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let profile = self.profile.clone();
        // A thread of its own: Drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                let _ = rt.block_on(Runtime::teardown(&profile, "runc"));
            }
            let _ = Cgroups::teardown(&profile.kubepods());
            let _ = fs::remove_dir_all(&profile.run_dir);
        })
        .join();
    }
}

fn mounted(path: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines().any(|l| l.split(' ').nth(4) == Some(path.to_string_lossy().as_ref()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_and_cri_logs() {
    let Some(fx) = fixture() else { return };
    let pod = fx.pod("logs");
    let spec = fx.spec("c", &pod, "echo out; echo err >&2; printf partial; exit 3");
    let pid = fx.runtime.start(&spec).await.expect("start");
    assert!(pid > 0);
    let state = tokio::time::timeout(Duration::from_secs(20), fx.runtime.wait(&spec.id)).await.expect("exits");
    let State::Exited { exit_code, signal, oom_killed, .. } = state else { panic!("{state:?}") };
    assert_eq!((exit_code, signal, oom_killed), (3, None, false));
    let log = fs::read_to_string(&spec.log_path).expect("log file");
    let tails: Vec<String> = log.lines().map(|l| l.splitn(2, ' ').nth(1).unwrap_or("").to_string()).collect();
    assert!(tails.contains(&"stdout F out".to_string()), "{log}");
    assert!(tails.contains(&"stderr F err".to_string()), "{log}");
    assert!(tails.contains(&"stdout F partial".to_string()), "{log}");
    assert!(log.lines().all(|l| l.split(' ').next().is_some_and(|t| t.ends_with('Z') && t.contains('T'))), "{log}");
    fx.runtime.remove(&spec.id).await.expect("remove");
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_oom_kills() {
    let Some(fx) = fixture() else { return };
    let res = Resources { memory_limit: Some(32 << 20), cpu_shares: 2, cpu_period: 100_000, ..Default::default() };
    let pod = fx.cgroups.ensure_pod(QosClass::Burstable, "oom", &res).expect("pod cgroup");
    let mut spec = fx.spec("hog", &pod, "x=$(head -c 64m /dev/zero | tr '\\0' a); sleep 1; echo survived");
    spec.resources = res;
    fx.runtime.start(&spec).await.expect("start");
    let state = tokio::time::timeout(Duration::from_secs(60), fx.runtime.wait(&spec.id)).await.expect("exits");
    let State::Exited { exit_code, oom_killed, reason, .. } = state else { panic!("{state:?}") };
    assert!(oom_killed, "exit {exit_code}, log: {}", fs::read_to_string(&spec.log_path).unwrap_or_default());
    assert_eq!(exit_code, 137);
    assert_eq!(reason.as_deref(), Some("OOMKilled"));
    fx.runtime.remove(&spec.id).await.expect("remove");
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_namespaces_exec_readoption_and_removal() {
    let Some(fx) = fixture() else { return };
    let pod = fx.cgroups.ensure_pod(
        QosClass::Guaranteed,
        "shared",
        &Resources { cpu_shares: 204, cpu_quota: Some(20000), cpu_period: 100_000, memory_limit: Some(128 << 20), ..Default::default() },
    ).expect("pod cgroup");
    let mut sandbox = fx.spec("pause", &pod, "trap 'exit 0' TERM; while true; do sleep 1; done");
    sandbox.hostname = Some("pod-a".into());
    let sandbox_pid = fx.runtime.start(&sandbox).await.expect("start sandbox");
    let mut app = fx.spec("app", &pod, "sleep 1000");
    app.net_ns = Some(format!("/proc/{sandbox_pid}/ns/net").into());
    app.ipc_ns = Some(format!("/proc/{sandbox_pid}/ns/ipc").into());
    app.uts_ns = Some(format!("/proc/{sandbox_pid}/ns/uts").into());
    let app_pid = fx.runtime.start(&app).await.expect("start app");

    let ns = |pid: i32, which: &str| fs::read_link(format!("/proc/{pid}/ns/{which}")).expect("ns link");
    assert_eq!(ns(sandbox_pid, "net"), ns(app_pid, "net"));
    assert_eq!(ns(sandbox_pid, "ipc"), ns(app_pid, "ipc"));
    assert_ne!(ns(sandbox_pid, "pid"), ns(app_pid, "pid"));
    let cgroup = fs::read_to_string(format!("/proc/{app_pid}/cgroup")).expect("cgroup");
    assert!(cgroup.contains(&format!("{pod}/{}", app.id)), "{cgroup}");

    let monitor_pid: i32 = fs::read_to_string(fx.runtime.bundle(&app.id).join("monitor.pid"))
        .expect("monitor pid")
        .trim()
        .parse()
        .expect("pid");
    let rollup = fs::read_to_string(format!("/proc/{monitor_pid}/smaps_rollup")).unwrap_or_default();
    let private: Vec<&str> = rollup.lines().filter(|l| l.starts_with("Pss:") || l.starts_with("Private")).collect();
    eprintln!("monitor memory: {private:?}");

    // exec: output and exit code, from inside the shared uts namespace.
    let out = fx
        .runtime
        .exec(&app.id, &["sh".into(), "-c".into(), "hostname; echo oops >&2; exit 4".into()], Duration::from_secs(10))
        .await
        .expect("exec");
    assert_eq!(out.exit_code, 4);
    let text = String::from_utf8_lossy(&out.output);
    assert!(text.contains("pod-a") && text.contains("oops"), "{text}");
    let err = fx.runtime.exec(&app.id, &["sleep".into(), "30".into()], Duration::from_millis(300)).await;
    assert!(matches!(err, Err(Error::ExecTimeout { .. })), "{err:?}");

    // A new Runtime (the server restarted) finds both still running, labels included.
    let cgroups = fx.cgroups.clone();
    let again = Runtime::new("runc", &fx.profile, cgroups).expect("runtime").with_monitor_exe(MONITOR_EXE);
    let list = again.list().await;
    assert_eq!(list.len(), 2, "{list:?}");
    let found = list.iter().find(|c| c.id == app.id).expect("app listed");
    assert_eq!(found.labels.get("io.kubernetes.container.name").map(String::as_str), Some("app"));
    assert!(matches!(found.state, State::Running { pid, .. } if pid == app_pid), "{:?}", found.state);

    // SIGTERM to the sandbox: trapped, exit 0.
    again.signal(&sandbox.id, nix::sys::signal::Signal::SIGTERM).await.expect("signal");
    let state = tokio::time::timeout(Duration::from_secs(20), again.wait(&sandbox.id)).await.expect("exits");
    assert!(matches!(state, State::Exited { exit_code: 0, .. }), "{state:?}");

    // Removal of a running container: process, mount, bundle and cgroup gone.
    let bundle = again.bundle(&app.id);
    assert!(mounted(&bundle.join("rootfs")));
    again.remove(&app.id).await.expect("remove");
    again.remove(&app.id).await.expect("remove is idempotent");
    assert!(!mounted(&bundle.join("rootfs")));
    assert!(!bundle.exists());
    assert_eq!(again.state(&app.id).await, State::Unknown);
    assert!(!Path::new(&format!("/proc/{app_pid}")).exists() || !is_running(app_pid));
    assert!(!Path::new("/sys/fs/cgroup/memory").join(format!("{}/{}", pod.trim_start_matches('/'), app.id)).exists());
    again.remove(&sandbox.id).await.expect("remove sandbox");
    fx.cgroups.remove_pod(&pod).expect("remove pod");
    fx.cleanup().await;
}

fn is_running(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_command_reports_runc_message() {
    let Some(fx) = fixture() else { return };
    let pod = fx.pod("nope");
    let mut spec = fx.spec("nope", &pod, "");
    spec.args = vec!["nope".into()];
    let err = fx.runtime.start(&spec).await.expect_err("must fail");
    let msg = err.to_string();
    assert!(matches!(err, Error::StartFailed { .. }), "{err:?}");
    assert!(msg.contains("executable file not found"), "{msg}");
    let state = fx.runtime.state(&spec.id).await;
    assert!(
        matches!(&state, State::Exited { exit_code: 128, reason: Some(r), .. } if r == "StartError"),
        "{state:?}"
    );
    fx.runtime.remove(&spec.id).await.expect("remove");
    assert!(!fx.runtime.bundle(&spec.id).exists());
    fx.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_stops_everything() {
    let Some(fx) = fixture() else { return };
    let pod = fx.pod("teardown");
    let spec = fx.spec("c", &pod, "sleep 1000");
    let pid = fx.runtime.start(&spec).await.expect("start");
    let bundle = fx.runtime.bundle(&spec.id);
    Runtime::teardown(&fx.profile, "runc").await.expect("teardown");
    assert!(!bundle.exists());
    assert!(!is_running(pid));
    assert!(!fx.profile.runtime_root().exists());
    fx.cleanup().await;
}
