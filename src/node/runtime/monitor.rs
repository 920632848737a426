//! The per-container monitor (`minikube-rs monitor`, the role of conmon or containerd's shim):
//! a small detached process, in a session of its own, that outlives the server. It runs
//! `runc run --detach` with stdout/stderr pipes it holds, reports the start (status.json),
//! writes the output to the CRI log, reaps the container as a child subreaper and records how it
//! ended (exit.json), OOM kills included. No tokio: plain threads.

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, setsid, ForkResult, Pid};

use super::logs::{self, CriLog};
use super::record::{self, Exit, Status};
use crate::node::cgroups::Cgroups;

/// The hidden `monitor` subcommand's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct MonitorArgs {
    /// The container's bundle dir (config.json, rootfs)
    #[arg(long)]
    pub bundle: PathBuf,
    /// The container id
    #[arg(long)]
    pub id: String,
    /// The OCI runtime binary (absolute path)
    #[arg(long)]
    pub runtime: PathBuf,
    /// The OCI runtime's state dir (runc --root)
    #[arg(long)]
    pub root: PathBuf,
    /// The CRI log file
    #[arg(long)]
    pub log: PathBuf,
    /// The container's cgroup (for OOM kills)
    #[arg(long)]
    pub cgroup: String,
    /// Stay in the foreground (no fork): for debugging
    #[arg(long)]
    pub foreground: bool,
}

/// Entry point of `minikube-rs monitor`. Forks once so that the caller's child exits at once
/// and the monitor, in a new session, is nobody's child to wait for.
pub fn run(args: MonitorArgs) -> ExitCode {
    if !args.foreground {
        // SAFETY: called from main before any thread exists; the child only continues the
        // single-threaded program.
        match unsafe { fork() } {
            Ok(ForkResult::Parent { .. }) => return ExitCode::SUCCESS,
            Ok(ForkResult::Child) => {}
            Err(err) => {
                eprintln!("monitor {}: fork: {err}", args.id);
                return ExitCode::FAILURE;
            }
        }
        let _ = setsid();
    }
    match monitor(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("monitor {}: {msg}", args.id);
            ExitCode::FAILURE
        }
    }
}

fn monitor(args: &MonitorArgs) -> Result<(), String> {
    let pid = std::process::id();
    fs::write(args.bundle.join(record::MONITOR_PID), pid.to_string())
        .map_err(|e| format!("writing {}: {e}", args.bundle.join(record::MONITOR_PID).display()))?;
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(format!("PR_SET_CHILD_SUBREAPER: {}", std::io::Error::last_os_error()));
    }
    let mut child = spawn_runc(args)?;
    let runc_status = child.wait().map_err(|e| format!("waiting for {}: {e}", args.runtime.display()))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    if !runc_status.success() {
        let message = start_error(args, stderr);
        return report_start_failure(args, &message);
    }
    let container_pid = record::read_pid(&args.bundle.join(record::CONTAINER_PID))
        .ok_or_else(|| format!("{} wrote no pid file", args.runtime.display()))?;
    let started = record::now_nanos();
    let cgroups = Cgroups::open("/").ok();
    let pod_cgroup = args.cgroup.rsplit_once('/').map(|(p, _)| p.to_string()).unwrap_or_default();
    let oom_before = oom_counts(cgroups.as_ref(), &args.cgroup, &pod_cgroup);
    let status = Status { started: true, pid: container_pid, started_unix_nanos: started, error: None };
    record::write(&args.bundle, record::STATUS, &status).map_err(|e| format!("writing status: {e}"))?;

    let done = start_pumps(args, stdout, stderr)?;
    let (exit_code, signal) = reap(container_pid);
    // The pipes close when the last process holding them is gone; don't wait forever for
    // strays that inherited them.
    for _ in 0..2 {
        let _ = done.recv_timeout(Duration::from_secs(2));
    }
    let oom_after = oom_counts(cgroups.as_ref(), &args.cgroup, &pod_cgroup);
    let oom_killed = oom_after.0 > oom_before.0 || (signal == Some(libc::SIGKILL) && oom_after.1 > oom_before.1);
    let exit = Exit {
        exit_code,
        signal,
        oom_killed,
        started_unix_nanos: started,
        finished_unix_nanos: record::now_nanos(),
        reason: oom_killed.then(|| "OOMKilled".to_string()),
        message: None,
    };
    record::write(&args.bundle, record::EXIT, &exit).map_err(|e| format!("writing exit record: {e}"))?;
    Ok(())
}

fn spawn_runc(args: &MonitorArgs) -> Result<Child, String> {
    let bundle = &args.bundle;
    Command::new(&args.runtime)
        .arg("--root")
        .arg(&args.root)
        .arg("--log")
        .arg(bundle.join(record::RUNC_LOG))
        .arg("--log-format")
        .arg("json")
        .arg("run")
        .arg("--detach")
        .arg("--bundle")
        .arg(bundle)
        .arg("--pid-file")
        .arg(bundle.join(record::CONTAINER_PID))
        .arg(&args.id)
        .current_dir(bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {}: {e}", args.runtime.display()))
}

/// runc's message for a failed start: the last error in its JSON log, else what it printed.
fn start_error(args: &MonitorArgs, stderr: Option<std::process::ChildStderr>) -> String {
    let from_log = fs::read_to_string(args.bundle.join(record::RUNC_LOG)).ok().and_then(|text| {
        text.lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["level"] == "error")
            .and_then(|v| v["msg"].as_str().map(str::to_string))
    });
    if let Some(msg) = from_log {
        return msg;
    }
    let mut text = String::new();
    if let Some(mut err) = stderr {
        // Nothing holds the pipe any more (the start failed), so this ends.
        set_nonblocking(&err);
        let _ = err.read_to_string(&mut text);
    }
    let text = text.trim();
    if text.is_empty() { format!("{} run failed", args.runtime.display()) } else { text.to_string() }
}

fn set_nonblocking(fd: &impl AsRawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
}

fn report_start_failure(args: &MonitorArgs, message: &str) -> Result<(), String> {
    let now = record::now_nanos();
    let status = Status { started: false, pid: 0, started_unix_nanos: 0, error: Some(message.to_string()) };
    let exit = Exit {
        exit_code: 128,
        signal: None,
        oom_killed: false,
        started_unix_nanos: now,
        finished_unix_nanos: now,
        reason: Some("StartError".to_string()),
        message: Some(message.to_string()),
    };
    record::write(&args.bundle, record::EXIT, &exit).map_err(|e| format!("writing exit record: {e}"))?;
    record::write(&args.bundle, record::STATUS, &status).map_err(|e| format!("writing status: {e}"))?;
    Ok(())
}

/// Starts a thread per stream copying it into the CRI log; each sends on the channel when done.
fn start_pumps(
    args: &MonitorArgs,
    stdout: Option<std::process::ChildStdout>,
    stderr: Option<std::process::ChildStderr>,
) -> Result<mpsc::Receiver<()>, String> {
    let log = CriLog::open(&args.log, logs::MAX_SIZE).map_err(|e| format!("opening {}: {e}", args.log.display()))?;
    let log = Arc::new(Mutex::new(log));
    let (tx, rx) = mpsc::channel();
    let streams: [(&'static str, Option<Box<dyn Read + Send>>); 2] = [
        ("stdout", stdout.map(|s| Box::new(s) as Box<dyn Read + Send>)),
        ("stderr", stderr.map(|s| Box::new(s) as Box<dyn Read + Send>)),
    ];
    for (name, stream) in streams {
        let (log, tx) = (log.clone(), tx.clone());
        let Some(stream) = stream else {
            let _ = tx.send(());
            continue;
        };
        std::thread::Builder::new()
            .name(name.to_string())
            .stack_size(64 * 1024)
            .spawn(move || {
                logs::pump(stream, name, &log);
                let _ = tx.send(());
            })
            .map_err(|e| format!("starting the {name} thread: {e}"))?;
    }
    Ok(rx)
}

/// Waits for the container's process (reparented to us when runc exited) and returns its exit
/// code (128 + signal when killed) and signal. Other orphans are reaped on the way.
fn reap(container: i32) -> (i32, Option<i32>) {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(pid, code)) if pid.as_raw() == container => return (code, None),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid.as_raw() == container => {
                return (128 + sig as i32, Some(sig as i32));
            }
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(_) => return wait_foreign(container),
        }
    }
}

/// The container is not our child (the runtime kept it): watch it until it is gone. Its exit
/// status is not ours to know.
fn wait_foreign(container: i32) -> (i32, Option<i32>) {
    while record::alive(container) {
        std::thread::sleep(Duration::from_millis(100));
    }
    (255, None)
}

/// OOM kill counts of the container's cgroup and of its parent (the pod's).
fn oom_counts(cgroups: Option<&Cgroups>, container: &str, pod: &str) -> (u64, u64) {
    match cgroups {
        Some(cg) => (cg.oom_kills(container), if pod.is_empty() { 0 } else { cg.oom_kills(pod) }),
        None => (0, 0),
    }
}

/// Where a monitor's diagnostics go: its bundle's monitor.log.
pub fn log_file(bundle: &Path) -> std::io::Result<File> {
    File::options().create(true).append(true).open(bundle.join(record::MONITOR_LOG))
}
