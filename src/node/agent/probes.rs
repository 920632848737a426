//! Liveness, readiness and startup probes (exec, httpGet, tcpSocket) with Kubernetes'
//! defaults and thresholds. One task per probe of a running container; results land in a
//! shared table and a change queues the pod for a sync.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::controllers::runtime::{ObjectKey, Queue};
use crate::node::network::NodeNetwork;
use crate::node::runtime::Runtime;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// The outcome of one probe run.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Success,
    Failure(String),
}

/// Where a probe runs: the container (exec) and the pod's address (network probes).
#[derive(Clone)]
pub struct Target {
    pub runtime: Runtime,
    pub network: NodeNetwork,
    pub container_id: String,
    pub pod_ip: Option<IpAddr>,
}

/// The settled state of a container's probes, as the sync reads it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// Startup probe passed (or none).
    pub started: bool,
    /// Readiness probe passed (or none, once started).
    pub ready: bool,
    /// Liveness (or startup) probe failed past its threshold: restart the container.
    pub failed: Option<String>,
}

/// Probe state per container id, shared by the probe tasks and the pod workers.
#[derive(Clone, Default)]
pub struct Table {
    inner: Arc<Mutex<HashMap<String, State>>>,
}

impl Table {
    pub fn get(&self, container_id: &str) -> Option<State> {
        self.lock().get(container_id).cloned()
    }
    pub fn remove(&self, container_id: &str) {
        self.lock().remove(container_id);
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, State>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Applies `f` and says whether the state changed.
    fn update(&self, id: &str, f: impl FnOnce(&mut State)) -> bool {
        let mut map = self.lock();
        let Some(s) = map.get_mut(id) else { return false };
        let before = s.clone();
        f(s);
        *s != before
    }
}

/// Kubernetes' defaults: timeout 1 s, period 10 s, success 1, failure 3.
fn settings(p: &Probe) -> (Duration, Duration, Duration, i32, i32) {
    let secs = |v: Option<i32>, d: i32| Duration::from_secs(v.filter(|v| *v > 0).unwrap_or(d) as u64);
    (
        Duration::from_secs(p.initial_delay_seconds.unwrap_or(0).max(0) as u64),
        secs(p.period_seconds, 10),
        secs(p.timeout_seconds, 1),
        p.success_threshold.filter(|v| *v > 0).unwrap_or(1),
        p.failure_threshold.filter(|v| *v > 0).unwrap_or(3),
    )
}

/// Starts the probe tasks of a container that just started; they stop with `stop`.
/// Registers the container in `table` with its initial state.
#[allow(clippy::too_many_arguments)]
pub fn start(
    container: &Container,
    target: Target,
    table: &Table,
    key: ObjectKey,
    queue: Queue,
    events: impl Fn(Kind, &str) + Send + Sync + 'static,
    stop: tokio_util::sync::CancellationToken,
) {
    let has_startup = container.startup_probe.is_some();
    table.lock().insert(
        target.container_id.clone(),
        State { started: !has_startup, ready: !has_startup && container.readiness_probe.is_none(), failed: None },
    );
    let events = Arc::new(events);
    for (kind, probe) in [
        (Kind::Startup, &container.startup_probe),
        (Kind::Liveness, &container.liveness_probe),
        (Kind::Readiness, &container.readiness_probe),
    ] {
        let Some(probe) = probe.clone() else { continue };
        let (target, table, key, queue, events, stop) = (target.clone(), table.clone(), key.clone(), queue.clone(), events.clone(), stop.clone());
        let name = container.name.clone();
        let has_readiness = container.readiness_probe.is_some();
        let ports: Vec<(String, i32)> = container
            .ports
            .iter()
            .flatten()
            .filter_map(|p| Some((p.name.clone()?, p.container_port)))
            .collect();
        tokio::spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = worker(kind, probe, Spec { container: name, has_readiness, ports }, target, table, key, queue, events) => {}
            }
        });
    }
}

/// What a probe task knows of its container.
struct Spec {
    container: String,
    has_readiness: bool,
    ports: Vec<(String, i32)>,
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    kind: Kind,
    probe: Probe,
    spec: Spec,
    target: Target,
    table: Table,
    key: ObjectKey,
    queue: Queue,
    events: Arc<impl Fn(Kind, &str) + Send + Sync>,
) {
    let (delay, period, timeout, success_threshold, failure_threshold) = settings(&probe);
    let container = spec.container;
    tokio::time::sleep(delay).await;
    let (mut successes, mut failures) = (0, 0);
    loop {
        let state = table.get(&target.container_id);
        let Some(state) = state else { return };
        if kind != Kind::Startup && !state.started {
            tokio::time::sleep(Duration::from_millis(500).min(period)).await;
            continue;
        }
        if kind == Kind::Startup && state.started {
            return;
        }
        let outcome = run(&probe, &target, &spec.ports, timeout).await;
        let changed = match &outcome {
            Outcome::Success => {
                failures = 0;
                successes += 1;
                let threshold = if kind == Kind::Readiness { success_threshold } else { 1 };
                if successes >= threshold {
                    table.update(&target.container_id, |s| match kind {
                        Kind::Startup => {
                            s.started = true;
                            // Without a readiness probe the container is ready once started.
                            if !spec.has_readiness {
                                s.ready = true;
                            }
                        }
                        Kind::Readiness => s.ready = true,
                        Kind::Liveness => {}
                    })
                } else {
                    false
                }
            }
            Outcome::Failure(msg) => {
                successes = 0;
                failures += 1;
                tracing::debug!(pod = %key, container = %container, probe = kind.label(), message = %msg, "probe failed");
                events(kind, msg);
                if failures >= failure_threshold {
                    table.update(&target.container_id, |s| match kind {
                        Kind::Readiness => s.ready = false,
                        Kind::Liveness | Kind::Startup => {
                            s.failed = Some(format!("Container {container} failed {} probe, will be restarted", kind.label().to_lowercase()))
                        }
                    })
                } else {
                    false
                }
            }
        };
        if changed {
            queue.add(key.clone());
        }
        tokio::time::sleep(period).await;
    }
}

/// Runs one probe against its target.
pub async fn run(probe: &Probe, target: &Target, ports: &[(String, i32)], timeout: Duration) -> Outcome {
    if let Some(exec) = &probe.exec {
        let argv = exec.command.clone().unwrap_or_default();
        return match target.runtime.exec(&target.container_id, &argv, timeout).await {
            Ok(out) if out.exit_code == 0 => Outcome::Success,
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.output).trim_end().to_string();
                Outcome::Failure(if text.is_empty() {
                    format!("command {:?} exited with {}", argv.join(" "), out.exit_code)
                } else {
                    text
                })
            }
            Err(e) => Outcome::Failure(e.to_string()),
        };
    }
    let port_of = |p: &IntOrString, c_ports: &[(String, i32)]| -> Option<u16> {
        match p {
            IntOrString::Int(n) => u16::try_from(*n).ok(),
            IntOrString::String(name) => c_ports.iter().find(|(n, _)| n == name).and_then(|(_, p)| u16::try_from(*p).ok()),
        }
    };
    if let Some(tcp) = &probe.tcp_socket {
        let Some(ip) = tcp.host.as_deref().and_then(|h| h.parse().ok()).or(target.pod_ip) else {
            return Outcome::Failure("pod has no IP".into());
        };
        let Some(port) = port_of(&tcp.port, ports) else { return Outcome::Failure(format!("invalid port {:?}", tcp.port)) };
        let addr = SocketAddr::new(ip, port);
        return match target.network.connect_tcp(addr, timeout).await {
            Ok(_) => Outcome::Success,
            Err(e) => Outcome::Failure(format!("dial tcp {addr}: {}", dial_error(&e))),
        };
    }
    if let Some(http) = &probe.http_get {
        let Some(ip) = http.host.as_deref().and_then(|h| h.parse().ok()).or(target.pod_ip) else {
            return Outcome::Failure("pod has no IP".into());
        };
        let Some(port) = port_of(&http.port, ports) else { return Outcome::Failure(format!("invalid port {:?}", http.port)) };
        let path = http.path.clone().unwrap_or_else(|| "/".into());
        let path = if path.starts_with('/') { path } else { format!("/{path}") };
        let scheme = http.scheme.as_deref().unwrap_or("HTTP").to_lowercase();
        let addr = SocketAddr::new(ip, port);
        let url = format!("{scheme}://{addr}{path}");
        if scheme == "https" {
            // The kubelet skips verification; a TLS handshake here is future work: a
            // connection that opens counts, as for tcpSocket.
            return match target.network.connect_tcp(addr, timeout).await {
                Ok(_) => Outcome::Success,
                Err(e) => Outcome::Failure(format!("Get \"{url}\": dial tcp {addr}: {}", dial_error(&e))),
            };
        }
        let headers: Vec<(String, String)> =
            http.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect();
        return match tokio::time::timeout(timeout, http_get(target, addr, &path, &headers, timeout)).await {
            Err(_) => Outcome::Failure(format!(
                "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            )),
            Ok(Err(e)) => Outcome::Failure(format!("Get \"{url}\": dial tcp {addr}: {}", dial_error(&e))),
            Ok(Ok(code)) if (200..400).contains(&code) => Outcome::Success,
            Ok(Ok(code)) => Outcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
        };
    }
    Outcome::Failure("probe has no handler (grpc probes are not supported yet)".into())
}

fn dial_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".into(),
        std::io::ErrorKind::TimedOut => "i/o timeout".into(),
        _ => format!("connect: {e}"),
    }
}

async fn http_get(target: &Target, addr: SocketAddr, path: &str, headers: &[(String, String)], timeout: Duration) -> std::io::Result<u16> {
    let mut stream = target.network.connect_tcp(addr, timeout).await?;
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("user-agent")) {
        req.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("accept")) {
        req.push_str("Accept: */*\r\n");
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 8192 {
            break;
        }
    }
    let line = String::from_utf8_lossy(&buf);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kubernetes() {
        let (delay, period, timeout, success, failure) = settings(&Probe::default());
        assert_eq!(delay, Duration::ZERO);
        assert_eq!(period, Duration::from_secs(10));
        assert_eq!(timeout, Duration::from_secs(1));
        assert_eq!((success, failure), (1, 3));
    }
}
