//! Test harness: starts the real `minikube-rs server` binary in a profile of its own (temp
//! data dir, ephemeral API port) and drives it with the real kubectl and with kube-rs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const KUBECTL: &str = "/usr/bin/kubectl";

pub struct Server {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub kubeconfig: PathBuf,
    pub url: String,
    /// Extra `server` flags, kept across restarts (e.g. `--simulated-nodes 2`).
    pub extra_args: Vec<String>,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_minikube-rs")
}

impl Server {
    /// Starts a fresh server and waits until it is ready.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a fresh server with extra `server` flags.
    pub fn start_with(args: &[&str]) -> Server {
        let dir = tempfile::Builder::new().prefix("mkrs-test-").tempdir().expect("temp dir");
        let mut s = Server {
            kubeconfig: dir.path().join("kubeconfig.yaml"),
            dir,
            child: None,
            url: String::new(),
            extra_args: args.iter().map(|a| a.to_string()).collect(),
        };
        s.spawn();
        s
    }

    /// Starts a fresh server with `n` simulated nodes (pods run without containers).
    pub fn start_simulated(n: u32) -> Server {
        Server::start_with(&["--simulated-nodes", &n.to_string()])
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// (Re)starts the server process on the same data dir.
    pub fn spawn(&mut self) {
        let _ = std::fs::remove_file(&self.kubeconfig);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .expect("log file");
        // A restart keeps the port, as a real apiserver would, so the `kubernetes` Service and
        // Endpoints stay as they were.
        let port = self.url.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).unwrap_or(0).to_string();
        // Tests never reach a registry on the internet: offline unless a test brings its own
        // registries file (a loopback registry).
        // With a registries file, mirrored registries are reached through their (loopback)
        // mirrors only: never a fallback to the registry's own host.
        let offline: &[&str] =
            if self.extra_args.iter().any(|a| a == "--registries") { &["--disable-default-registry-endpoint"] } else { &["--offline"] };
        let child = Command::new(binary())
            .args(["server", "--api-port", port.as_str(), "--data-dir"])
            .arg(self.dir.path())
            .args(offline)
            .args(&self.extra_args)
            .env("MINIKUBE_RS_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn minikube-rs server");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.kubeconfig) {
                if let Some(line) = text.lines().find(|l| l.trim_start().starts_with("server:")) {
                    self.url = line.trim_start().trim_start_matches("server:").trim().to_string();
                    let out = self.kubectl(&["get", "--raw", "/readyz"]);
                    if out.status.success() {
                        return;
                    }
                }
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("server exited early with {status}; log:\n{}", self.log());
                }
            }
            assert!(Instant::now() < deadline, "server not ready in 30 s; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs kubectl (1.32 unless `kubectl_at` is used) against this server.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_at(KUBECTL, args, None)
    }

    pub fn kubectl_at(&self, bin: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(bin);
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        cmd.env("KUBECACHEDIR", self.dir.path().join("kube-cache"));
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        } else {
            cmd.stdin(Stdio::null());
        }
        let mut child = cmd.spawn().expect("run kubectl");
        if let Some(input) = stdin {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// kubectl that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {:?} failed ({}):\nstdout: {}\nstderr: {}",
            args,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl with a manifest on stdin (`-f -`); must succeed.
    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let out = self.kubectl_at(KUBECTL, args, Some(stdin));
        assert!(
            out.status.success(),
            "kubectl {:?} failed:\nstdout: {}\nstderr: {}",
            args,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl that must fail; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {:?} unexpectedly succeeded: {}",
            args,
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// A kube-rs client using the written kubeconfig.
    pub async fn kube_client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await.expect("kube config");
        kube::Client::try_from(cfg).expect("kube client")
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// kill -9 and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Server {
    /// `minikube-rs delete` of the profile: containers, mounts, cgroups, network namespace.
    pub fn delete(&mut self) {
        self.stop();
        let out = Command::new(binary()).args(["delete", "--data-dir"]).arg(self.dir.path()).output();
        if let Ok(out) = out {
            if !out.status.success() {
                eprintln!("minikube-rs delete: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.delete();
    }
}

/// Splits `kubectl get` output into rows of whitespace-separated cells.
pub fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .filter(|r: &Vec<String>| !r.is_empty())
        .collect()
}

/// Polls `f` until it returns Some, for up to 30 s.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `kubectl <args> -o json`, parsed.
pub fn json(s: &Server, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    serde_json::from_str(&s.ok(&a)).expect("kubectl json")
}

/// Every kubectl on the machine to test with: 1.27–1.33 from the Cloud SDK, then /usr/bin's
/// 1.32, as (label, path).
pub fn kubectls() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for minor in 27..=33 {
        let bin = format!("/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}");
        if std::path::Path::new(&bin).exists() {
            v.push((format!("1.{minor}"), bin));
        }
    }
    v.push(("1.32 (/usr/bin)".into(), KUBECTL.into()));
    v
}

// ---------------------------------------------------------------------------------------
// Real-node tests

/// Whether tests that need the real node (root: namespaces, cgroups, mounts) can run. Without
/// root they are skipped with a message, except under CI, where they must run (and fail).
pub fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && std::env::var("CI").is_err() {
        eprintln!("skipping: the node agent needs root");
    }
    root || std::env::var("CI").is_ok()
}

/// The last 60 lines of a server log, for failure messages.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Polls `f` until it returns Some, for up to `limit`; a timeout shows the server's log.
pub fn wait<T>(s: &Server, what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; log:\n{}", tail(&s.log()));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `kubectl get pod NAME -o json`.
pub fn pod(s: &Server, name: &str) -> serde_json::Value {
    json(s, &["get", "pod", name])
}

/// Waits (60 s) until the pod is Running with its Ready condition True.
pub fn wait_running(s: &Server, name: &str) -> serde_json::Value {
    wait(s, &format!("pod {name} Running and Ready"), Duration::from_secs(60), || {
        let p = pod(s, name);
        let ready = p["status"]["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True");
        (p["status"]["phase"] == "Running" && ready).then_some(p)
    })
}
