//! Containers through an OCI runtime binary (runc by default, crun supported): the overlay
//! rootfs and config.json of a bundle, a detached per-container monitor that runs and watches
//! the container (so containers outlive the server), and state, exec, signals and removal.
//!
//! Each container's bundle dir is `<profile.containers_dir()>/<id>`: config.json, meta.json
//! (labels, for re-adoption), rootfs (the overlay mount) with its upper and work dirs, and the
//! monitor's status.json (started or not) and exit.json (how it ended).

pub mod logs;
pub mod monitor;
pub mod record;
pub mod spec;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::node::cgroups::{self, Cgroups};
use crate::node::profile::NodeProfile;

/// How long start waits for the monitor to report.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long remove waits for a monitor to finish after its container died.
const MONITOR_EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// A bind mount into a container: what volumes, /etc/hosts, resolv.conf and friends become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Path inside the container.
    pub destination: PathBuf,
    /// Path on the host.
    pub source: PathBuf,
    pub read_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the OCI runtime {binary:?} was not found: install it: apt-get install {package}")]
    BinaryMissing { binary: String, package: String },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("OCI runtime config: {0}")]
    Spec(String),
    #[error("container {id} already exists")]
    Exists { id: String },
    #[error("container {id} not found")]
    NotFound { id: String },
    #[error("container {id} is not running")]
    NotRunning { id: String },
    #[error("mounting the rootfs of {id} at {path}: {source}")]
    Mount {
        id: String,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    /// The runtime refused to start the container; the message is its own.
    #[error("{message}")]
    StartFailed { id: String, message: String },
    #[error("the monitor of {id} died without reporting: {log}")]
    MonitorDied { id: String, log: String },
    #[error("container {id} did not start within {timeout:?}")]
    StartTimeout { id: String, timeout: Duration },
    #[error("{binary} {args}: {message}")]
    Command { binary: String, args: String, message: String },
    #[error("exec in {id} timed out after {timeout:?}")]
    ExecTimeout { id: String, timeout: Duration },
    #[error("signal {signal} to container {id}: {source}")]
    Signal {
        id: String,
        signal: Signal,
        #[source]
        source: nix::Error,
    },
    #[error("a blocking task failed: {0}")]
    Join(String),
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io { action, path: path.to_path_buf(), source }
}

/// Everything the runtime needs to create a container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerSpec {
    /// Unique container id (64 hex characters, like containerd's).
    pub id: String,
    /// Persisted with the container (pod uid/namespace/name, container name, restart count,
    /// image, ...) for re-adoption.
    pub labels: BTreeMap<String, String>,
    /// Unpacked layer dirs, bottom first.
    pub image_layers: Vec<PathBuf>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// Only for a container that creates its uts namespace (the pause container).
    pub hostname: Option<String>,
    /// Network namespace to join (the pod's); None = a new one.
    pub net_ns: Option<PathBuf>,
    /// ipc and uts namespaces to join (the pause container's /proc/<pid>/ns/..); None = new.
    pub ipc_ns: Option<PathBuf>,
    pub uts_ns: Option<PathBuf>,
    pub mounts: Vec<Mount>,
    /// Kubernetes capability names ("NET_ADMIN", "ALL").
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub read_only_rootfs: bool,
    pub no_new_privileges: bool,
    /// The pod cgroup; the container goes to `<cgroup_parent>/<id>`.
    pub cgroup_parent: String,
    pub resources: cgroups::Resources,
    /// What Kubernetes wants; raised to the server's own value when the kernel won't lower it.
    pub oom_score_adj: Option<i32>,
    /// CRI-format log file of this attempt.
    pub log_path: PathBuf,
}

/// A container's state.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    /// The bundle exists; the monitor has not reported yet.
    Created,
    Running {
        pid: i32,
        started_at: SystemTime,
    },
    Exited {
        exit_code: i32,
        signal: Option<i32>,
        oom_killed: bool,
        started_at: SystemTime,
        finished_at: SystemTime,
        /// "OOMKilled", "StartError", ...
        reason: Option<String>,
        message: Option<String>,
    },
    /// No such container, or its monitor vanished without a word.
    Unknown,
}

/// The output of an exec (stdout and stderr together).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub output: Vec<u8>,
}

/// A container found on disk.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerInfo {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    pub log_path: PathBuf,
    pub state: State,
}

/// The OCI runtime of one profile.
#[derive(Clone, Debug)]
pub struct Runtime {
    binary: PathBuf,
    name: String,
    version: String,
    root: PathBuf,
    containers: PathBuf,
    cgroups: Cgroups,
    monitor_exe: PathBuf,
}

/// Finds a binary by path or in PATH.
fn find_binary(binary: &str) -> Option<PathBuf> {
    if binary.contains('/') {
        let p = PathBuf::from(binary);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(binary)).find(|p| p.is_file())
}

fn binary_missing(binary: &str) -> Error {
    let base = Path::new(binary).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let package = if base.is_empty() { "runc".to_string() } else { base };
    Error::BinaryMissing { binary: binary.to_string(), package }
}

/// Runs a command to completion, returning stdout or an error with its stderr.
fn run_command(binary: &Path, args: &[&str]) -> Result<String, Error> {
    let out = Command::new(binary).args(args).stdin(Stdio::null()).output().map_err(|e| Error::Command {
        binary: binary.display().to_string(),
        args: args.join(" "),
        message: e.to_string(),
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            binary: binary.display().to_string(),
            args: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Runs blocking work off the async runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Join(e.to_string()))
}

impl Runtime {
    /// Finds the binary (a name in PATH or a path) and reads its version. A missing binary
    /// gives an error naming the Debian package to install.
    pub fn new(binary: &str, profile: &NodeProfile, cgroups: Cgroups) -> Result<Runtime, Error> {
        let path = find_binary(binary).ok_or_else(|| binary_missing(binary))?;
        let out = run_command(&path, &["--version"])?;
        let (name, version) = parse_version(&out, &path);
        let monitor_exe = std::env::current_exe().map_err(io_err("finding", Path::new("/proc/self/exe")))?;
        let rt = Runtime {
            binary: path,
            name,
            version,
            root: profile.runtime_root(),
            containers: profile.containers_dir(),
            cgroups,
            monitor_exe,
        };
        for dir in [&rt.root, &rt.containers] {
            fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        }
        tracing::info!(runtime = %rt.binary.display(), version = %rt.version, "OCI runtime ready");
        Ok(rt)
    }

    /// Uses another executable as the monitor (`<exe> monitor ...`): tests, whose own
    /// executable is the test harness, point it at the minikube-rs binary.
    pub fn with_monitor_exe(mut self, exe: impl Into<PathBuf>) -> Runtime {
        self.monitor_exe = exe.into();
        self
    }

    /// ("runc", "1.1.5"), for nodeInfo.containerRuntimeVersion "runc://1.1.5".
    pub fn name_version(&self) -> (String, String) {
        (self.name.clone(), self.version.clone())
    }

    /// The cgroups this runtime puts containers in.
    pub fn cgroups(&self) -> &Cgroups {
        &self.cgroups
    }

    /// A container's bundle dir.
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.containers.join(id)
    }

    /// Mounts the overlay rootfs, writes config.json and starts the monitor, which runs the
    /// container. Returns the container's pid once it runs, or runc's message when it fails to
    /// start (the bundle stays for `remove`).
    pub async fn start(&self, spec: &ContainerSpec) -> Result<i32, Error> {
        let started = Instant::now();
        let this = self.clone();
        let owned = spec.clone();
        blocking(move || this.prepare(&owned)).await??;
        self.spawn_monitor(spec).await?;
        let pid = self.await_start(&spec.id).await?;
        tracing::debug!(id = %spec.id, pid, elapsed = ?started.elapsed(), "container started");
        Ok(pid)
    }

    /// The bundle: dirs, overlay mount, config.json, meta.json.
    fn prepare(&self, spec: &ContainerSpec) -> Result<(), Error> {
        if spec.id.is_empty() || spec.id.contains('/') || spec.id.starts_with('.') {
            return Err(Error::Spec(format!("bad container id {:?}", spec.id)));
        }
        let bundle = self.bundle(&spec.id);
        if bundle.exists() {
            return Err(Error::Exists { id: spec.id.clone() });
        }
        for sub in [record::ROOTFS, record::UPPER, record::WORK] {
            let dir = bundle.join(sub);
            fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        }
        mount_rootfs(&spec.id, &bundle, &spec.image_layers)?;
        let config = spec::build(
            spec,
            &bundle.join(record::ROOTFS),
            self.cgroups.version() == "v2",
            self.cgroups.swap_accounting(),
        )?;
        let config_path = bundle.join(record::CONFIG);
        config.save(&config_path).map_err(|e| Error::Spec(format!("writing {}: {e}", config_path.display())))?;
        let meta = record::Meta {
            id: spec.id.clone(),
            labels: spec.labels.clone(),
            log_path: spec.log_path.clone(),
            cgroup: container_cgroup(spec),
            created_unix_nanos: record::now_nanos(),
        };
        record::write(&bundle, record::META, &meta).map_err(io_err("writing", &bundle.join(record::META)))?;
        if let Some(dir) = spec.log_path.parent() {
            fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        }
        Ok(())
    }

    /// Starts `<exe> monitor ...`; it forks into a new session at once, so this returns fast.
    async fn spawn_monitor(&self, spec: &ContainerSpec) -> Result<(), Error> {
        let bundle = self.bundle(&spec.id);
        let log = monitor::log_file(&bundle).map_err(io_err("opening", &bundle.join(record::MONITOR_LOG)))?;
        let mut cmd = Command::new(&self.monitor_exe);
        cmd.arg("monitor")
            .arg("--bundle")
            .arg(&bundle)
            .arg("--id")
            .arg(&spec.id)
            .arg("--runtime")
            .arg(&self.binary)
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&spec.log_path)
            .arg("--cgroup")
            .arg(container_cgroup(spec))
            .current_dir(&bundle)
            // mimalloc's eager arena commit meets transparent huge pages: 6 MiB more resident
            // per monitor. Lazy commit keeps a monitor near 2 MiB of private memory.
            .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        // Out of the server's process group: a Ctrl-C at the server's terminal must not reach it.
        cmd.process_group(0);
        let exe = self.monitor_exe.clone();
        let status = blocking(move || cmd.status()).await?.map_err(io_err("running", &exe))?;
        if !status.success() {
            return Err(Error::MonitorDied { id: spec.id.clone(), log: read_tail(&bundle.join(record::MONITOR_LOG)) });
        }
        Ok(())
    }

    /// Polls for the monitor's status record.
    async fn await_start(&self, id: &str) -> Result<i32, Error> {
        let bundle = self.bundle(id);
        let deadline = Instant::now() + START_TIMEOUT;
        let mut delay = Duration::from_millis(1);
        loop {
            if let Some(status) = record::read::<record::Status>(&bundle, record::STATUS) {
                return if status.started {
                    Ok(status.pid)
                } else {
                    Err(Error::StartFailed { id: id.to_string(), message: status.error.unwrap_or_default() })
                };
            }
            if let Some(pid) = record::read_pid(&bundle.join(record::MONITOR_PID)) {
                if !record::alive(pid) && record::read::<record::Status>(&bundle, record::STATUS).is_none() {
                    return Err(Error::MonitorDied { id: id.to_string(), log: read_tail(&bundle.join(record::MONITOR_LOG)) });
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::StartTimeout { id: id.to_string(), timeout: START_TIMEOUT });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(20));
        }
    }

    /// The container's state from its bundle's records.
    pub async fn state(&self, id: &str) -> State {
        state_of(&self.bundle(id))
    }

    /// Resolves when the container has exited (or is unknown).
    pub async fn wait(&self, id: &str) -> State {
        let bundle = self.bundle(id);
        loop {
            let state = state_of(&bundle);
            match state {
                State::Exited { .. } | State::Unknown => return state,
                State::Running { .. } => {
                    if let Some(pid) = record::read_pid(&bundle.join(record::MONITOR_PID)) {
                        wait_pid_exit(pid, Duration::from_secs(5)).await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                State::Created => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Sends a signal to the container's process.
    pub async fn signal(&self, id: &str, signal: Signal) -> Result<(), Error> {
        match self.state(id).await {
            State::Running { pid, .. } => kill(Pid::from_raw(pid), signal).map_err(|source| Error::Signal {
                id: id.to_string(),
                signal,
                source,
            }),
            State::Unknown => Err(Error::NotFound { id: id.to_string() }),
            _ => Err(Error::NotRunning { id: id.to_string() }),
        }
    }

    /// Kills the container if it runs, deletes it from the runtime, unmounts the rootfs and
    /// removes the bundle. Idempotent.
    pub async fn remove(&self, id: &str) -> Result<(), Error> {
        let bundle = self.bundle(id);
        if let State::Running { pid, .. } = state_of(&bundle) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let this = self.clone();
        let id_owned = id.to_string();
        blocking(move || this.runtime_delete(&id_owned)).await?;
        if let Some(pid) = record::read_pid(&bundle.join(record::MONITOR_PID)) {
            if !wait_pid_exit(pid, MONITOR_EXIT_TIMEOUT).await && record::alive(pid) && is_monitor_of(pid, id) {
                tracing::warn!(id, pid, "monitor did not exit after its container: killing it");
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        blocking(move || remove_bundle(&bundle)).await??;
        tracing::debug!(id, "container removed");
        Ok(())
    }

    fn runtime_delete(&self, id: &str) {
        if !self.root.join(id).exists() {
            return;
        }
        let root = self.root.to_string_lossy().into_owned();
        if let Err(err) = run_command(&self.binary, &["--root", &root, "delete", "--force", id]) {
            tracing::debug!(id, %err, "runtime delete");
        }
    }

    /// `runc exec` of argv in the container, stdout and stderr together, killed after `timeout`.
    pub async fn exec(&self, id: &str, argv: &[String], timeout: Duration) -> Result<ExecOutput, Error> {
        if !matches!(self.state(id).await, State::Running { .. }) {
            return Err(Error::NotRunning { id: id.to_string() });
        }
        let this = self.clone();
        let id = id.to_string();
        let argv = argv.to_vec();
        blocking(move || this.exec_blocking(&id, &argv, timeout)).await?
    }

    fn exec_blocking(&self, id: &str, argv: &[String], timeout: Duration) -> Result<ExecOutput, Error> {
        let bundle = self.bundle(id);
        let pid_file = bundle.join(format!("exec-{:016x}.pid", rand::random::<u64>()));
        let (reader, writer) = nix::unistd::pipe().map_err(|e| Error::Command {
            binary: self.binary.display().to_string(),
            args: "exec".into(),
            message: e.to_string(),
        })?;
        let writer2 = writer.try_clone().map_err(io_err("duplicating a pipe for", &bundle))?;
        let mut child = Command::new(&self.binary)
            .arg("--root")
            .arg(&self.root)
            .arg("exec")
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .args(argv)
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::from(writer2))
            .spawn()
            .map_err(io_err("running", &self.binary))?;
        // Our copies of the write end went to the child; reading ends when every holder is gone.
        let reader_thread = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut file = fs::File::from(reader);
            let _ = file.read_to_end(&mut out);
            out
        });
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => break None,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(io_err("waiting for", &self.binary)(e)),
            }
        };
        let Some(status) = status else {
            if let Some(pid) = record::read_pid(&pid_file) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = fs::remove_file(&pid_file);
            return Err(Error::ExecTimeout { id: id.to_string(), timeout });
        };
        let _ = fs::remove_file(&pid_file);
        let output = reader_thread.join().unwrap_or_default();
        let exit_code = status.code().unwrap_or_else(|| 128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0));
        Ok(ExecOutput { exit_code, output })
    }

    /// Every container of the profile with its labels and state.
    pub async fn list(&self) -> Vec<ContainerInfo> {
        let containers = self.containers.clone();
        blocking(move || list_dir(&containers)).await.unwrap_or_default()
    }

    /// Stops and removes every container and monitor of the profile.
    pub async fn teardown(profile: &NodeProfile, binary: &str) -> Result<(), Error> {
        let containers = profile.containers_dir();
        let root = profile.runtime_root();
        let binary = find_binary(binary);
        blocking(move || teardown_blocking(&containers, &root, binary.as_deref())).await?
    }
}

fn teardown_blocking(containers: &Path, root: &Path, binary: Option<&Path>) -> Result<(), Error> {
    let root_s = root.to_string_lossy().into_owned();
    for info in list_dir(containers) {
        let bundle = containers.join(&info.id);
        if let State::Running { pid, .. } = info.state {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if let Some(bin) = binary {
            let _ = run_command(bin, &["--root", &root_s, "delete", "--force", &info.id]);
        }
        if let Some(pid) = record::read_pid(&bundle.join(record::MONITOR_PID)) {
            if record::alive(pid) && is_monitor_of(pid, &info.id) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        remove_bundle(&bundle)?;
    }
    // Containers the runtime knows but no bundle describes.
    if let Some(bin) = binary {
        if root.exists() {
            if let Ok(ids) = run_command(bin, &["--root", &root_s, "list", "-q"]) {
                for id in ids.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    let _ = run_command(bin, &["--root", &root_s, "delete", "--force", id]);
                }
            }
        }
    }
    if root.exists() {
        fs::remove_dir_all(root).map_err(io_err("removing", root))?;
    }
    Ok(())
}

fn container_cgroup(spec: &ContainerSpec) -> String {
    format!("{}/{}", spec.cgroup_parent.trim_end_matches('/'), spec.id)
}

/// The runtime's name and version from `<binary> --version` ("runc version 1.1.5+ds1").
fn parse_version(out: &str, path: &Path) -> (String, String) {
    let fallback = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "runc".into());
    let first = out.lines().next().unwrap_or("");
    let mut words = first.split_whitespace();
    let name = words.next().unwrap_or(&fallback).to_string();
    let version = first
        .split_once("version")
        .map(|(_, v)| v.trim())
        .unwrap_or("")
        .split(['+', ' '])
        .next()
        .unwrap_or("")
        .to_string();
    (name, version)
}

/// Mounts overlayfs at `<bundle>/rootfs`: the layers (top first) under `<bundle>/upper`.
fn mount_rootfs(id: &str, bundle: &Path, layers: &[PathBuf]) -> Result<(), Error> {
    let rootfs = bundle.join(record::ROOTFS);
    let mut lower: Vec<String> = layers.iter().rev().map(|l| l.display().to_string()).collect();
    if lower.is_empty() {
        let empty = bundle.join("empty");
        fs::create_dir_all(&empty).map_err(io_err("creating", &empty))?;
        lower.push(empty.display().to_string());
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        bundle.join(record::UPPER).display(),
        bundle.join(record::WORK).display()
    );
    mount(Some("overlay"), &rootfs, Some("overlay"), MsFlags::empty(), Some(options.as_str()))
        .map_err(|source| Error::Mount { id: id.to_string(), path: rootfs, source })
}

/// Unmounts the rootfs (if mounted) and deletes the bundle dir. Idempotent.
fn remove_bundle(bundle: &Path) -> Result<(), Error> {
    if !bundle.exists() {
        return Ok(());
    }
    let rootfs = bundle.join(record::ROOTFS);
    match umount2(&rootfs, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(source) => return Err(Error::Io { action: "unmounting", path: rootfs, source: source.into() }),
    }
    fs::remove_dir_all(bundle).map_err(io_err("removing", bundle))
}

/// The state a bundle's records describe.
fn state_of(bundle: &Path) -> State {
    if let Some(exit) = record::read::<record::Exit>(bundle, record::EXIT) {
        return State::Exited {
            exit_code: exit.exit_code,
            signal: exit.signal,
            oom_killed: exit.oom_killed,
            started_at: record::from_nanos(exit.started_unix_nanos),
            finished_at: record::from_nanos(exit.finished_unix_nanos),
            reason: exit.reason,
            message: exit.message,
        };
    }
    if !bundle.join(record::META).exists() {
        return State::Unknown;
    }
    let monitor_alive = record::read_pid(&bundle.join(record::MONITOR_PID)).is_some_and(record::alive);
    match record::read::<record::Status>(bundle, record::STATUS) {
        Some(status) if status.started => {
            if record::alive(status.pid) || monitor_alive {
                // A dead process whose live monitor has not yet written the record is a
                // moment away from Exited.
                State::Running { pid: status.pid, started_at: record::from_nanos(status.started_unix_nanos) }
            } else {
                State::Unknown
            }
        }
        Some(_) => State::Unknown,
        None if monitor_alive || !bundle.join(record::MONITOR_PID).exists() => State::Created,
        None => State::Unknown,
    }
}

fn list_dir(containers: &Path) -> Vec<ContainerInfo> {
    let Ok(entries) = fs::read_dir(containers) else { return Vec::new() };
    let mut out: Vec<ContainerInfo> = entries
        .flatten()
        .filter_map(|e| {
            let bundle = e.path();
            let meta = record::read::<record::Meta>(&bundle, record::META)?;
            Some(ContainerInfo { state: state_of(&bundle), id: meta.id, labels: meta.labels, log_path: meta.log_path })
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Whether `pid` is the monitor of container `id` (guards against pid reuse).
fn is_monitor_of(pid: i32, id: &str) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| c.split(|b| *b == 0).any(|arg| arg == id.as_bytes()))
        .unwrap_or(false)
}

/// Waits until a process has exited, up to `timeout`; true when it has. Uses a pidfd when the
/// kernel has them, else polls.
async fn wait_pid_exit(pid: i32, timeout: Duration) -> bool {
    if !record::alive(pid) {
        return true;
    }
    // SAFETY: pidfd_open takes integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd >= 0 {
        // SAFETY: the descriptor was just returned to us and is owned by nothing else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: `owned` is a valid open descriptor that the AsyncFd owns until it is dropped.
        let registered = unsafe { tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) };
        if let Ok(async_fd) = registered {
            let _ = tokio::time::timeout(timeout, async_fd.readable()).await;
            return !record::alive(pid);
        }
    }
    let deadline = Instant::now() + timeout;
    while record::alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    !record::alive(pid)
}

fn read_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        let (n, v) = parse_version("runc version 1.1.5+ds1\ncommit: x\n", Path::new("/usr/sbin/runc"));
        assert_eq!((n.as_str(), v.as_str()), ("runc", "1.1.5"));
        let (n, v) = parse_version("crun version 1.8.1\ncommit: y\n", Path::new("/usr/bin/crun"));
        assert_eq!((n.as_str(), v.as_str()), ("crun", "1.8.1"));
    }

    #[test]
    fn a_missing_binary_names_the_package() {
        let profile = NodeProfile::new(Path::new("/tmp/mkrs-missing-runtime"), false);
        let Ok(cg) = Cgroups::open(&profile.kubepods()) else { return };
        let err = Runtime::new("no-such-runtime-binary", &profile, cg).expect_err("missing");
        assert!(err.to_string().contains("apt-get install no-such-runtime-binary"), "{err}");
        let err = binary_missing("/opt/x/runc");
        assert!(err.to_string().contains("apt-get install runc"), "{err}");
    }

    #[test]
    fn a_bundle_without_records_is_unknown() {
        let dir = std::env::temp_dir().join(format!("mkrs-state-{:08x}", rand::random::<u32>()));
        assert_eq!(state_of(&dir), State::Unknown);
        assert!(list_dir(&dir).is_empty());
        remove_bundle(&dir).expect("idempotent");
    }
}
