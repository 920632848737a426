//! One pod's sync, the kubelet's SyncPod: the sandbox (pod cgroup, network namespace and IP,
//! /etc files, the pause container), volumes, init containers one after another, regular
//! containers with restarts and CrashLoopBackOff, liveness kills, graceful termination, the
//! status write, and the teardown of everything a pod had on the node.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Pod, PodStatus};
use serde_json::json;

use super::status::{self, ContainerView, Observed, Terminated};
use super::{env, etc_files, pulls, probes, spec, volumes, Agent, CLUSTER_DNS, CLUSTER_DOMAIN, PAUSE_IMAGE};
use crate::client::DeleteOptions;
use crate::controllers::events::EventType;
use crate::controllers::runtime::{Action, ObjectKey};
use crate::node::cgroups;
use crate::node::runtime::{ContainerInfo, ContainerSpec, State};

pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";
pub const LABEL_RESTART_COUNT: &str = "io.kubernetes.container.restartCount";
pub const LABEL_IMAGE: &str = "io.kubernetes.container.image";
pub const LABEL_IMAGE_ID: &str = "minikube-rs.io/image-id";
/// The container name of the sandbox (pause) container, as the kubelet's dockershim named it.
pub const SANDBOX: &str = "POD";

/// CrashLoopBackOff: 10 s doubling to 5 min; reset after 10 min of running.
const CRASH_BACKOFF_INITIAL: Duration = Duration::from_secs(10);
const CRASH_BACKOFF_MAX: Duration = Duration::from_secs(300);
const CRASH_BACKOFF_RESET: Duration = Duration::from_secs(600);
/// How often a pod is looked at even when nothing happened.
const RESYNC: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("pod {pod}: {source}")]
    Client { pod: ObjectKey, #[source] source: crate::client::Error },
}

/// The running sandbox of a pod.
#[derive(Clone, Debug)]
pub struct Sandbox {
    pub id: String,
    pub pid: i32,
    pub ip: Ipv4Addr,
    pub netns: PathBuf,
    pub cgroup: String,
}

/// The current attempt of one container.
#[derive(Debug)]
pub struct Attempt {
    pub id: String,
    pub restart_count: i32,
    pub image: String,
    pub image_id: String,
    pub started_at: Option<jiff::Timestamp>,
    pub exited: Option<Terminated>,
    pub probes_stop: tokio_util::sync::CancellationToken,
}

/// What the agent knows and holds of one pod.
pub struct PodRuntime {
    pub key: ObjectKey,
    pub uid: String,
    sandbox: Option<Sandbox>,
    attempts: HashMap<String, Attempt>,
    last: HashMap<String, Terminated>,
    waiting: HashMap<String, (String, Option<String>)>,
    crash_backoff: HashMap<String, (Duration, Instant)>,
    pull_backoff: HashMap<String, Option<pulls::Backoff>>,
    volumes: Option<volumes::PreparedVolumes>,
    etc: Option<etc_files::EtcFiles>,
    last_written: Option<serde_json::Value>,
    torn_down: bool,
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn new_id() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

fn restart_policy(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always")
}

fn grace_period(pod: &Pod) -> Duration {
    let secs = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
        .unwrap_or(30)
        .max(0);
    Duration::from_secs(secs as u64)
}

fn field(c: &Container, init: bool) -> String {
    if init {
        format!("spec.initContainers{{{}}}", c.name)
    } else {
        format!("spec.containers{{{}}}", c.name)
    }
}

fn host_network(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false)
}

fn ts(t: std::time::SystemTime) -> jiff::Timestamp {
    jiff::Timestamp::try_from(t).unwrap_or_else(|_| now())
}

/// What the runtime reports of an exited container, in the kubelet's terms.
fn terminated_of(state: &State, id: &str, started: Option<jiff::Timestamp>) -> Option<Terminated> {
    match state {
        State::Exited { exit_code, signal, oom_killed, started_at, finished_at, reason, message } => Some(Terminated {
            exit_code: *exit_code,
            signal: *signal,
            reason: reason.clone().unwrap_or_else(|| Terminated::reason_for(*exit_code, *oom_killed).to_string()),
            message: message.clone(),
            started_at: Some(ts(*started_at)).filter(|t| t.as_second() > 0).or(started),
            finished_at: ts(*finished_at),
            container_id: id.to_string(),
        }),
        State::Unknown => Some(Terminated {
            exit_code: 137,
            signal: None,
            reason: "Error".into(),
            message: Some("the container is gone".into()),
            started_at: started,
            finished_at: now(),
            container_id: id.to_string(),
        }),
        _ => None,
    }
}

impl PodRuntime {
    pub fn new(uid: &str, key: ObjectKey) -> PodRuntime {
        PodRuntime {
            key,
            uid: uid.to_string(),
            sandbox: None,
            attempts: HashMap::new(),
            last: HashMap::new(),
            waiting: HashMap::new(),
            crash_backoff: HashMap::new(),
            pull_backoff: HashMap::new(),
            volumes: None,
            etc: None,
            last_written: None,
            torn_down: false,
        }
    }

    /// Takes over the containers of this pod found at start: the sandbox and the newest
    /// attempt of each container, with the restart counts they carry.
    pub async fn adopt(&mut self, agent: &Arc<Agent>, pod: &Pod, containers: Vec<ContainerInfo>) {
        let mut newest: HashMap<String, ContainerInfo> = HashMap::new();
        for c in containers {
            let name = c.labels.get(LABEL_CONTAINER_NAME).cloned().unwrap_or_default();
            let rc = |c: &ContainerInfo| c.labels.get(LABEL_RESTART_COUNT).and_then(|r| r.parse::<i32>().ok()).unwrap_or(0);
            match newest.get(&name) {
                Some(old) if rc(old) > rc(&c) => {
                    let _ = agent.runtime.remove(&c.id).await;
                }
                Some(old) => {
                    let _ = agent.runtime.remove(&old.id).await;
                    newest.insert(name, c);
                }
                None => {
                    newest.insert(name, c);
                }
            }
        }
        // lastState comes back from the pod's status.
        let st = pod.status.as_ref();
        for cs in st.iter().flat_map(|s| s.container_statuses.iter().flatten().chain(s.init_container_statuses.iter().flatten())) {
            if let Some(t) = cs.last_state.as_ref().and_then(|l| l.terminated.as_ref()) {
                self.last.insert(
                    cs.name.clone(),
                    Terminated {
                        exit_code: t.exit_code,
                        signal: t.signal,
                        reason: t.reason.clone().unwrap_or_default(),
                        message: t.message.clone(),
                        started_at: t.started_at.as_ref().map(|t| t.0),
                        finished_at: t.finished_at.as_ref().map(|t| t.0).unwrap_or_else(now),
                        container_id: t.container_id.clone().unwrap_or_default().rsplit("://").next().unwrap_or("").to_string(),
                    },
                );
            }
        }
        for (name, c) in newest {
            if name == SANDBOX {
                if let State::Running { pid, .. } = c.state {
                    let ip = if host_network(pod) { Some(agent.profile.node_ip) } else { agent.network.pod_ip(&self.uid) };
                    if let Some(ip) = ip {
                        let qos = cgroups::qos_class(pod.spec.as_ref().map(|s| s as _).unwrap_or(&Default::default()));
                        self.sandbox = Some(Sandbox {
                            id: c.id.clone(),
                            pid,
                            ip,
                            netns: if host_network(pod) { agent.profile.netns_path() } else { agent.profile.pod_netns_dir().join(&self.uid) },
                            cgroup: agent.cgroups.pod_path(qos, &self.uid),
                        });
                        continue;
                    }
                }
                let _ = agent.runtime.remove(&c.id).await;
                continue;
            }
            let restart_count = c.labels.get(LABEL_RESTART_COUNT).and_then(|r| r.parse().ok()).unwrap_or(0);
            let started_at = match &c.state {
                State::Running { started_at, .. } | State::Exited { started_at, .. } => Some(ts(*started_at)),
                _ => None,
            };
            let attempt = Attempt {
                id: c.id.clone(),
                restart_count,
                image: c.labels.get(LABEL_IMAGE).cloned().unwrap_or_default(),
                image_id: c.labels.get(LABEL_IMAGE_ID).cloned().unwrap_or_default(),
                started_at,
                exited: terminated_of(&c.state, &c.id, started_at),
                probes_stop: tokio_util::sync::CancellationToken::new(),
            };
            if attempt.exited.is_none() {
                self.watch(agent, &attempt.id);
                if let Some(container) = find_container(pod, &name).map(|(c, _)| c.clone()) {
                    self.start_probes(agent, pod, &container, &attempt);
                }
            }
            self.attempts.insert(name, attempt);
        }
    }

    /// Queues the pod when the container exits.
    fn watch(&self, agent: &Arc<Agent>, id: &str) {
        let (agent, id, key) = (agent.clone(), id.to_string(), self.key.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = agent.stop.cancelled() => {}
                _ = agent.runtime.wait(&id) => agent.queue.add(key),
            }
        });
    }

    fn start_probes(&self, agent: &Arc<Agent>, pod: &Pod, c: &Container, attempt: &Attempt) {
        let Some(sandbox) = &self.sandbox else { return };
        let target = probes::Target {
            runtime: agent.runtime.clone(),
            network: agent.network.clone(),
            container_id: attempt.id.clone(),
            pod_ip: Some(IpAddr::V4(sandbox.ip)),
        };
        let events = agent.events();
        let pod_ref = crate::controllers::events::reference(pod, Some(&format!("spec.containers{{{}}}", c.name)));
        probes::start(
            c,
            target,
            &agent.probes,
            self.key.clone(),
            agent.queue.clone(),
            move |kind, msg| {
                events.record_ref(pod_ref.clone(), EventType::Warning, "Unhealthy", format!("{} probe failed: {msg}", kind.label()));
            },
            attempt.probes_stop.clone(),
        );
    }

    /// Refreshes the state of running attempts from the runtime.
    async fn refresh(&mut self, agent: &Arc<Agent>) {
        for attempt in self.attempts.values_mut() {
            if attempt.exited.is_some() {
                continue;
            }
            let state = agent.runtime.state(&attempt.id).await;
            if let Some(t) = terminated_of(&state, &attempt.id, attempt.started_at) {
                attempt.exited = Some(t);
                attempt.probes_stop.cancel();
                agent.probes.remove(&attempt.id);
            }
        }
        if let Some(sb) = &self.sandbox {
            if !matches!(agent.runtime.state(&sb.id).await, State::Running { .. }) {
                tracing::warn!(pod = %self.key, "the pod sandbox is gone; recreating it");
                self.sandbox = None;
            }
        }
    }

    /// The sandbox: pod cgroup, network namespace and IP, /etc files, pause container.
    async fn ensure_sandbox(&mut self, agent: &Arc<Agent>, pod: &Pod) -> Result<(), String> {
        if self.sandbox.is_some() {
            return Ok(());
        }
        let spec_ = pod.spec.clone().unwrap_or_default();
        let qos = cgroups::qos_class(&spec_);
        let cgroup = agent
            .cgroups
            .ensure_pod(qos, &self.uid, &cgroups::pod_resources(&spec_))
            .map_err(|e| format!("failed to create the pod cgroup: {e}"))?;
        let (ip, netns) = if host_network(pod) {
            (agent.profile.node_ip, agent.profile.netns_path())
        } else {
            let net = agent.network.add_pod(&self.uid).await.map_err(|e| format!("failed to set up the pod network: {e}"))?;
            (net.ip, net.netns_path)
        };
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let etc = etc_files::write(&agent.profile.pods_dir(), pod, &ip.to_string(), CLUSTER_DNS, CLUSTER_DOMAIN, &host_resolv)
            .map_err(|e| format!("failed to write the pod's /etc files: {e}"))?;
        let pause = agent
            .images
            .get(PAUSE_IMAGE)
            .ok()
            .flatten()
            .ok_or_else(|| format!("the sandbox image {PAUSE_IMAGE} is missing"))?;
        let id = new_id();
        let hostname = std::fs::read_to_string(&etc.hostname).map(|h| h.trim().to_string()).ok();
        let log = agent.profile.pods_dir().join(&self.uid).join("sandbox.log");
        let sandbox_spec = ContainerSpec {
            id: id.clone(),
            labels: self.labels(pod, SANDBOX, 0, PAUSE_IMAGE, &pause.id),
            image_layers: pause.layers.clone(),
            args: vec!["/pause".into()],
            env: vec![],
            cwd: "/".into(),
            uid: 65535,
            gid: 65535,
            additional_gids: vec![],
            hostname: if host_network(pod) { None } else { hostname },
            net_ns: Some(netns.clone()),
            ipc_ns: None,
            uts_ns: if host_network(pod) { Some(PathBuf::from("/proc/1/ns/uts")) } else { None },
            mounts: vec![],
            cap_add: vec![],
            cap_drop: vec![],
            privileged: false,
            read_only_rootfs: true,
            no_new_privileges: true,
            cgroup_parent: cgroup.clone(),
            resources: Default::default(),
            oom_score_adj: Some(-998),
            log_path: log,
        };
        let pid = agent.runtime.start(&sandbox_spec).await.map_err(|e| format!("failed to start the sandbox container: {e}"))?;
        self.sandbox = Some(Sandbox { id, pid, ip, netns, cgroup });
        self.etc = Some(etc);
        Ok(())
    }

    fn labels(&self, pod: &Pod, container: &str, restart: i32, image: &str, image_id: &str) -> std::collections::BTreeMap<String, String> {
        [
            (LABEL_POD_UID, self.uid.as_str()),
            (LABEL_POD_NAME, pod.metadata.name.as_deref().unwrap_or("")),
            (LABEL_POD_NAMESPACE, pod.metadata.namespace.as_deref().unwrap_or("default")),
            (LABEL_CONTAINER_NAME, container),
            (LABEL_RESTART_COUNT, &restart.to_string()),
            (LABEL_IMAGE, image),
            (LABEL_IMAGE_ID, image_id),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn env_context(&self, agent: &Agent) -> env::EnvContext {
        let cpus = cgroups::machine_cpus();
        env::EnvContext {
            pod_ip: self.sandbox.as_ref().map(|s| s.ip.to_string()),
            host_ip: agent.profile.node_ip.to_string(),
            node_allocatable_cpu_milli: cpus * 1000,
            node_allocatable_memory: cgroups::machine_memory(),
        }
    }

    /// Creates and starts one attempt of a container. Errors are (waiting reason, message).
    async fn start_container(&mut self, agent: &Arc<Agent>, pod: &Pod, c: &Container, init: bool) -> Result<(), (String, String)> {
        let Some(sandbox) = self.sandbox.clone() else { return Err(("ContainerCreating".into(), String::new())) };
        let events = agent.events();
        let fieldpath = field(c, init);
        let backoff = self.pull_backoff.entry(c.name.clone()).or_default();
        let image = pulls::ensure(agent, pod, c, backoff).await?;
        let ctx = self.env_context(agent);
        let config_error = |msg: String| {
            events.record_field(pod, &fieldpath, EventType::Warning, "Failed", format!("Error: {msg}"));
            ("CreateContainerConfigError".to_string(), msg)
        };
        let env = env::container_env(&agent.client, pod, c, &ctx).await.map_err(|e| config_error(e.to_string()))?;
        let (uid, gid, groups) = spec::user(pod, c, &image).map_err(config_error)?;
        let Some(prepared) = self.volumes.as_ref() else { return Err(("ContainerCreating".into(), String::new())) };
        if self.etc.is_none() {
            // Adopted after a restart: the files are written again (same content).
            let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let etc = etc_files::write(&agent.profile.pods_dir(), pod, &sandbox.ip.to_string(), CLUSTER_DNS, CLUSTER_DOMAIN, &host_resolv)
                .map_err(|e| ("ContainerCreating".to_string(), format!("failed to write the pod's /etc files: {e}")))?;
            self.etc = Some(etc);
        }
        let Some(etc) = self.etc.clone() else { return Err(("ContainerCreating".into(), String::new())) };
        let id = new_id();
        let termination_log = agent.profile.pods_dir().join(&self.uid).join("containers").join(&c.name).join(&id[..12]);
        if let Some(dir) = termination_log.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(&termination_log, b"");
        let mounts = volumes::container_mounts(pod, c, prepared, &etc, &env, &termination_log).map_err(|e| config_error(e.to_string()))?;
        let restart_count = self.attempts.get(&c.name).map(|a| a.restart_count + 1).unwrap_or(0);
        let sec = spec::security(c);
        let qos = cgroups::qos_class(pod.spec.as_ref().map(|s| s as _).unwrap_or(&Default::default()));
        let resources = cgroups::container_resources(c);
        let oom = cgroups::oom_score_adj(qos, resources.memory_request.unwrap_or(0), cgroups::machine_memory());
        let image_name = image.names.first().cloned().unwrap_or_else(|| c.image.clone().unwrap_or_default());
        let image_id = image.repo_digests.first().cloned().unwrap_or_else(|| image.id.clone());
        let container_spec = ContainerSpec {
            id: id.clone(),
            labels: self.labels(pod, &c.name, restart_count, &image_name, &image_id),
            image_layers: image.layers.clone(),
            args: spec::argv(c, &image, &env),
            env: spec::environment(&image, &env),
            cwd: spec::working_dir(c, &image),
            uid,
            gid,
            additional_gids: groups,
            hostname: None,
            net_ns: Some(sandbox.netns.clone()),
            ipc_ns: Some(PathBuf::from(format!("/proc/{}/ns/ipc", sandbox.pid))),
            uts_ns: Some(PathBuf::from(format!("/proc/{}/ns/uts", sandbox.pid))),
            mounts,
            cap_add: sec.cap_add,
            cap_drop: sec.cap_drop,
            privileged: sec.privileged,
            read_only_rootfs: sec.read_only_rootfs,
            no_new_privileges: sec.no_new_privileges,
            cgroup_parent: sandbox.cgroup.clone(),
            resources,
            oom_score_adj: Some(oom),
            log_path: spec::log_path(&agent.profile.pod_log_dir, pod, &c.name, restart_count),
        };
        events.record_field(pod, &fieldpath, EventType::Normal, "Created", format!("Created container: {}", c.name));
        if let Some(old) = self.attempts.remove(&c.name) {
            if let Some(t) = old.exited.clone() {
                self.last.insert(c.name.clone(), t);
            }
            old.probes_stop.cancel();
            agent.probes.remove(&old.id);
            if let Err(e) = agent.runtime.remove(&old.id).await {
                tracing::warn!(pod = %self.key, container = %old.id, error = %e, "removing the previous container failed");
            }
        }
        let started = agent.runtime.start(&container_spec).await;
        let mut attempt = Attempt {
            id: id.clone(),
            restart_count,
            image: image_name,
            image_id,
            started_at: Some(now()),
            exited: None,
            probes_stop: tokio_util::sync::CancellationToken::new(),
        };
        match started {
            Ok(_pid) => {
                events.record_field(pod, &fieldpath, EventType::Normal, "Started", format!("Started container {}", c.name));
                self.waiting.remove(&c.name);
                self.watch(agent, &id);
                if !init || c.restart_policy.as_deref() == Some("Always") {
                    self.start_probes(agent, pod, c, &attempt);
                }
                if let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
                    if let Err(msg) = run_hook(agent, &id, sandbox.ip, hook, grace_period(pod)).await {
                        events.record_field(pod, &fieldpath, EventType::Warning, "FailedPostStartHook", msg.clone());
                        let _ = agent.runtime.signal(&id, nix::sys::signal::Signal::SIGKILL).await;
                    }
                }
                self.attempts.insert(c.name.clone(), attempt);
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                events.record_field(pod, &fieldpath, EventType::Warning, "Failed", format!("Error: {msg}"));
                attempt.exited = Some(Terminated {
                    exit_code: 128,
                    signal: None,
                    reason: "StartError".into(),
                    message: Some(msg),
                    started_at: None,
                    finished_at: now(),
                    container_id: id,
                });
                self.attempts.insert(c.name.clone(), attempt);
                Ok(())
            }
        }
    }

    /// Whether a container that exited is to run again, and when: None = not at all.
    fn restart_at(&mut self, pod: &Pod, c: &Container, t: &Terminated, init: bool) -> Option<Instant> {
        let policy = if init && c.restart_policy.as_deref() == Some("Always") { "Always" } else { restart_policy(pod) };
        let again = match policy {
            "Always" => true,
            "OnFailure" => t.exit_code != 0,
            _ => false,
        };
        if !again {
            return None;
        }
        let ran_long = t.started_at.is_some_and(|s| (t.finished_at.as_second() - s.as_second()) as u64 >= CRASH_BACKOFF_RESET.as_secs());
        if ran_long {
            self.crash_backoff.remove(&c.name);
        }
        Some(self.crash_backoff.get(&c.name).map(|(_, until)| *until).unwrap_or_else(Instant::now))
    }

    fn note_restart(&mut self, name: &str) {
        let delay = self.crash_backoff.get(name).map(|(d, _)| (*d * 2).min(CRASH_BACKOFF_MAX)).unwrap_or(CRASH_BACKOFF_INITIAL);
        self.crash_backoff.insert(name.to_string(), (delay, Instant::now() + delay));
    }

    /// Runs the pod towards its spec; returns when to look again.
    async fn run(&mut self, agent: &Arc<Agent>, pod: &Pod) -> Result<Action, Error> {
        self.torn_down = false;
        self.refresh(agent).await;
        let mut next: Option<Instant> = None;
        let mut failed: Option<(&str, String)> = None;
        let names_all: Vec<String> = all_containers(pod).map(|(c, _)| c.name.clone()).collect();

        // activeDeadlineSeconds: the kubelet ends the pod itself.
        if let (Some(deadline), Some(start)) = (
            pod.spec.as_ref().and_then(|s| s.active_deadline_seconds),
            pod.status.as_ref().and_then(|s| s.start_time.as_ref()),
        ) {
            if now().as_second() - start.0.as_second() >= deadline {
                self.kill_all(agent, pod, Duration::ZERO).await;
                failed = Some(("DeadlineExceeded", "Pod was active on the node longer than the specified deadline".to_string()));
            } else {
                let left = Duration::from_secs((deadline - (now().as_second() - start.0.as_second())).max(0) as u64);
                next = Some(Instant::now() + left);
            }
        }

        if failed.is_none() {
            if let Err(msg) = self.ensure_sandbox(agent, pod).await {
                tracing::warn!(pod = %self.key, error = %msg, "creating the pod sandbox failed");
                agent.events().warning(pod, "FailedCreatePodSandBox", format!("Failed to create pod sandbox: {msg}"));
                for n in &names_all {
                    self.waiting.entry(n.clone()).or_insert(("ContainerCreating".into(), None));
                }
                self.write_status(agent, pod, None).await?;
                return Ok(Action::RequeueAfter(Duration::from_secs(5)));
            }
            if self.volumes.is_none() {
                let ctx = self.env_context(agent);
                match volumes::prepare(&agent.client, &agent.profile.pods_dir(), pod, &ctx).await {
                    Ok(v) => self.volumes = Some(v),
                    Err(e) => {
                        agent.events().warning(pod, "FailedMount", e.to_string());
                        self.write_status(agent, pod, None).await?;
                        return Ok(Action::RequeueAfter(Duration::from_secs(5)));
                    }
                }
            }
            self.run_containers(agent, pod, &mut next).await;
        }
        let written = self.write_status(agent, pod, failed.clone()).await?;
        if let Some(status) = written {
            if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
                self.teardown(agent).await;
                return Ok(Action::Done);
            }
        }
        let wait = next.map(|t| t.saturating_duration_since(Instant::now())).unwrap_or(RESYNC).min(RESYNC);
        Ok(Action::RequeueAfter(wait.max(Duration::from_millis(50))))
    }

    /// Init containers one after another, then the regular containers.
    async fn run_containers(&mut self, agent: &Arc<Agent>, pod: &Pod, next: &mut Option<Instant>) {
        let spec_ = pod.spec.clone().unwrap_or_default();
        let mut soonest = |t: Instant| *next = Some(next.map_or(t, |n| n.min(t)));
        for c in spec_.init_containers.iter().flatten() {
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            let state = self.attempts.get(&c.name).map(|a| a.exited.clone());
            match state {
                Some(None) => {
                    if sidecar {
                        continue;
                    }
                    return; // running: wait for it
                }
                Some(Some(t)) if t.exit_code == 0 && !sidecar => continue,
                Some(Some(t)) => match self.restart_at(pod, c, &t, true) {
                    None => {
                        if restart_policy(pod) == "Never" {
                            return;
                        }
                        return;
                    }
                    Some(at) if at > Instant::now() => {
                        self.crash_loop(agent, pod, c, at);
                        soonest(at);
                        return;
                    }
                    Some(_) => {
                        self.note_restart(&c.name);
                        self.start_or_wait(agent, pod, c, true, &mut soonest).await;
                        if !sidecar {
                            return;
                        }
                    }
                },
                None => {
                    self.start_or_wait(agent, pod, c, true, &mut soonest).await;
                    if !sidecar {
                        return;
                    }
                }
            }
        }
        for c in &spec_.containers {
            let state = self.attempts.get(&c.name).map(|a| (a.id.clone(), a.exited.clone()));
            match state {
                Some((id, None)) => {
                    if let Some(reason) = agent.probes.get(&id).and_then(|s| s.failed) {
                        let fieldpath = field(c, false);
                        agent.events().record_field(pod, &fieldpath, EventType::Normal, "Killing", reason);
                        self.stop_container(agent, pod, c, &id, grace_period(pod)).await;
                        agent.queue.add(self.key.clone());
                    }
                }
                Some((_, Some(t))) => match self.restart_at(pod, c, &t, false) {
                    None => {}
                    Some(at) if at > Instant::now() => {
                        self.crash_loop(agent, pod, c, at);
                        soonest(at);
                    }
                    Some(_) => {
                        self.note_restart(&c.name);
                        self.start_or_wait(agent, pod, c, false, &mut soonest).await;
                    }
                },
                None => self.start_or_wait(agent, pod, c, false, &mut soonest).await,
            }
        }
    }

    fn crash_loop(&mut self, agent: &Arc<Agent>, pod: &Pod, c: &Container, at: Instant) {
        let delay = self.crash_backoff.get(&c.name).map(|(d, _)| *d).unwrap_or(CRASH_BACKOFF_INITIAL);
        let who = format!(
            "{}_{}({})",
            pod.metadata.name.as_deref().unwrap_or(""),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
            self.uid
        );
        let fresh = !matches!(self.waiting.get(&c.name), Some((r, _)) if r == "CrashLoopBackOff");
        self.waiting.insert(
            c.name.clone(),
            ("CrashLoopBackOff".into(), Some(format!("back-off {} restarting failed container={} pod={who}", go_duration(delay), c.name))),
        );
        if fresh {
            let init = pod.spec.as_ref().and_then(|s| s.init_containers.as_ref()).is_some_and(|cs| cs.iter().any(|i| i.name == c.name));
            agent.events().record_field(pod, &field(c, init), EventType::Warning, "BackOff", format!("Back-off restarting failed container {} in pod {who}", c.name));
        }
        let _ = at;
    }

    async fn start_or_wait(&mut self, agent: &Arc<Agent>, pod: &Pod, c: &Container, init: bool, soonest: &mut impl FnMut(Instant)) {
        if let Err((reason, message)) = self.start_container(agent, pod, c, init).await {
            if reason == "ImagePullBackOff" || reason == "ErrImagePull" {
                if let Some(Some(b)) = self.pull_backoff.get(&c.name) {
                    soonest(b.next_look());
                }
            } else {
                soonest(Instant::now() + Duration::from_secs(10));
            }
            self.waiting.insert(c.name.clone(), (reason, (!message.is_empty()).then_some(message)));
        }
    }

    /// Stops one container (see `stop`) and records how it ended.
    async fn stop_container(&mut self, agent: &Arc<Agent>, pod: &Pod, c: &Container, id: &str, grace: Duration) {
        stop(agent, pod, c, id, self.sandbox.as_ref().map(|s| s.ip), grace).await;
        if let Some(a) = self.attempts.values_mut().find(|a| a.id == id) {
            let state = agent.runtime.state(id).await;
            a.exited = terminated_of(&state, id, a.started_at).or(a.exited.take());
            a.probes_stop.cancel();
        }
        agent.probes.remove(id);
    }

    /// Stops every running container of the pod within `grace`, all at once.
    async fn kill_all(&mut self, agent: &Arc<Agent>, pod: &Pod, grace: Duration) {
        let running: Vec<(String, String)> = self.attempts.iter().filter(|(_, a)| a.exited.is_none()).map(|(n, a)| (n.clone(), a.id.clone())).collect();
        let mut futs = Vec::new();
        for (name, id) in &running {
            agent.events().record_field(pod, &format!("spec.containers{{{name}}}"), EventType::Normal, "Killing", format!("Stopping container {name}"));
            let c = find_container(pod, name).map(|(c, _)| c.clone()).unwrap_or_default();
            let (agent, pod, id, sb_ip) = (agent.clone(), pod.clone(), id.clone(), self.sandbox.as_ref().map(|s| s.ip));
            futs.push(async move { stop(&agent, &pod, &c, &id, sb_ip, grace).await });
        }
        futures::future::join_all(futs).await;
        self.refresh(agent).await;
    }

    /// Removes everything the pod has on the node: containers, sandbox, network, cgroup,
    /// volumes. Logs stay until the pod object is gone.
    async fn teardown(&mut self, agent: &Arc<Agent>) {
        if self.torn_down {
            return;
        }
        for a in self.attempts.values() {
            a.probes_stop.cancel();
            agent.probes.remove(&a.id);
            if let Err(e) = agent.runtime.remove(&a.id).await {
                tracing::warn!(pod = %self.key, container = %a.id, error = %e, "removing a container failed");
            }
        }
        if let Some(sb) = self.sandbox.take() {
            if let Err(e) = agent.runtime.remove(&sb.id).await {
                tracing::warn!(pod = %self.key, error = %e, "removing the sandbox failed");
            }
            let (cgroups, path) = (agent.cgroups.clone(), sb.cgroup.clone());
            match tokio::task::spawn_blocking(move || cgroups.remove_pod(&path)).await {
                Ok(Err(e)) => tracing::warn!(pod = %self.key, error = %e, "removing the pod cgroup failed"),
                Err(e) => tracing::warn!(pod = %self.key, error = %e, "removing the pod cgroup panicked"),
                Ok(Ok(())) => {}
            }
        }
        if let Err(e) = agent.network.remove_pod(&self.uid).await {
            tracing::warn!(pod = %self.key, error = %e, "removing the pod network failed");
        }
        for (_uid, path) in agent.cgroups.list_pods().into_iter().filter(|(u, _)| *u == self.uid) {
            let cgroups = agent.cgroups.clone();
            let _ = tokio::task::spawn_blocking(move || cgroups.remove_pod(&path)).await;
        }
        if let Err(e) = volumes::cleanup(&agent.profile.pods_dir(), &self.uid) {
            tracing::warn!(pod = %self.key, error = %e, "removing the pod's volumes failed");
        }
        self.volumes = None;
        self.etc = None;
        self.torn_down = true;
    }

    fn views(&self, pod: &Pod, table: &probes::Table) -> (Vec<ContainerView>, Vec<ContainerView>) {
        let spec_ = pod.spec.clone().unwrap_or_default();
        let view = |c: &Container, init: bool| -> ContainerView {
            let attempt = self.attempts.get(&c.name);
            let waiting = self.waiting.get(&c.name).cloned();
            let image = attempt.map(|a| a.image.clone()).filter(|i| !i.is_empty()).unwrap_or_else(|| c.image.clone().unwrap_or_default());
            let (state, last, ready, started) = match attempt {
                Some(a) => match &a.exited {
                    None => {
                        // A container without probe state (no probes) is started and ready.
                        let probe = table.get(&a.id).unwrap_or(probes::State { started: true, ready: true, failed: None });
                        let sidecar = init && c.restart_policy.as_deref() == Some("Always");
                        let ready = if init && !sidecar { false } else { probe.ready };
                        (Observed::Running { started_at: a.started_at.unwrap_or_else(now) }, self.last.get(&c.name).cloned(), ready, probe.started)
                    }
                    Some(t) => match waiting {
                        Some((reason, message)) => (Observed::Waiting { reason, message }, Some(t.clone()), false, false),
                        None => (Observed::Terminated(t.clone()), self.last.get(&c.name).cloned(), false, false),
                    },
                },
                None => {
                    let (reason, message) = waiting.unwrap_or(("ContainerCreating".into(), None));
                    (Observed::Waiting { reason, message }, self.last.get(&c.name).cloned(), false, false)
                }
            };
            ContainerView {
                name: c.name.clone(),
                image,
                image_id: attempt.map(|a| a.image_id.clone()).unwrap_or_default(),
                container_id: attempt.map(|a| a.id.clone()),
                restart_count: attempt.map(|a| a.restart_count).unwrap_or(0),
                state,
                last,
                ready,
                started,
            }
        };
        (
            spec_.init_containers.iter().flatten().map(|c| view(c, true)).collect(),
            spec_.containers.iter().map(|c| view(c, false)).collect(),
        )
    }


    /// Writes the pod's status when it changed; returns it.
    async fn write_status(&mut self, agent: &Arc<Agent>, pod: &Pod, failed: Option<(&str, String)>) -> Result<Option<PodStatus>, Error> {
        let (init, containers) = self.views(pod, &agent.probes);
        let qos = cgroups::qos_class(pod.spec.as_ref().map(|s| s as _).unwrap_or(&Default::default()));
        let ip = self.sandbox.as_ref().map(|s| s.ip.to_string()).or_else(|| pod.status.as_ref().and_then(|s| s.pod_ip.clone()));
        let host_ip = agent.profile.node_ip.to_string();
        let st = status::pod_status(
            pod,
            &status::Inputs {
                sandbox_ready: self.sandbox.is_some(),
                host_ip: &host_ip,
                pod_ip: ip.as_deref(),
                init: &init,
                containers: &containers,
                runtime: agent.runtime.name_version().0.as_str(),
                qos: qos.as_str(),
                now: now(),
                failed,
            },
        );
        let value = serde_json::to_value(&st).unwrap_or_default();
        let current = pod.status.as_ref().and_then(|s| serde_json::to_value(s).ok());
        if self.last_written.as_ref() == Some(&value) && current.as_ref() == Some(&value) {
            return Ok(Some(st));
        }
        if current.as_ref() == Some(&value) {
            self.last_written = Some(value);
            return Ok(Some(st));
        }
        let api = agent.client.api::<Pod>(self.key.ns()).map_err(|source| Error::Client { pod: self.key.clone(), source })?;
        let patch = json!({"metadata": {"uid": self.uid}, "status": value});
        match api.patch_status(&self.key.name, &patch).await {
            Ok(_) => {
                self.last_written = Some(patch["status"].clone());
                Ok(Some(st))
            }
            Err(e) if e.is_not_found() || e.is_conflict() => Ok(None),
            Err(source) => Err(Error::Client { pod: self.key.clone(), source }),
        }
    }
}

fn go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        if s % 60 == 0 {
            format!("{}m0s", s / 60)
        } else {
            format!("{}m{}s", s / 60, s % 60)
        }
    } else {
        format!("{s}s")
    }
}

fn all_containers(pod: &Pod) -> impl Iterator<Item = (&Container, bool)> {
    let spec = pod.spec.as_ref();
    spec.into_iter()
        .flat_map(|s| s.init_containers.iter().flatten().map(|c| (c, true)).chain(s.containers.iter().map(|c| (c, false))))
}

fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<(&'a Container, bool)> {
    all_containers(pod).find(|(c, _)| c.name == name)
}

/// The kubelet's container stop: the preStop hook, SIGTERM, what is left of the grace period,
/// then SIGKILL.
async fn stop(agent: &Arc<Agent>, pod: &Pod, c: &Container, id: &str, ip: Option<Ipv4Addr>, grace: Duration) {
    let deadline = Instant::now() + grace;
    if let (Some(hook), Some(ip)) = (c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()), ip) {
        if !grace.is_zero() {
            if let Err(msg) = run_hook(agent, id, ip, hook, grace).await {
                agent.events().record_field(pod, &field(c, false), EventType::Warning, "FailedPreStopHook", msg);
            }
        }
    }
    let _ = agent.runtime.signal(id, nix::sys::signal::Signal::SIGTERM).await;
    let left = deadline.saturating_duration_since(Instant::now());
    if tokio::time::timeout(left, agent.runtime.wait(id)).await.is_err() {
        let _ = agent.runtime.signal(id, nix::sys::signal::Signal::SIGKILL).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), agent.runtime.wait(id)).await;
    }
}

/// Runs a lifecycle hook (exec or httpGet); Err carries the kubelet's event message.
async fn run_hook(agent: &Arc<Agent>, id: &str, ip: Ipv4Addr, hook: &k8s_openapi::api::core::v1::LifecycleHandler, timeout: Duration) -> Result<(), String> {
    if let Some(exec) = &hook.exec {
        let argv = exec.command.clone().unwrap_or_default();
        return match agent.runtime.exec(id, &argv, timeout).await {
            Ok(out) if out.exit_code == 0 => Ok(()),
            Ok(out) => Err(format!(
                "Exec lifecycle hook ({argv:?}) for Container in Pod failed - error: command '{}' exited with {}: {}",
                argv.join(" "),
                out.exit_code,
                String::from_utf8_lossy(&out.output).trim_end()
            )),
            Err(e) => Err(format!("Exec lifecycle hook ({argv:?}) for Container in Pod failed - error: {e}")),
        };
    }
    if let Some(http) = &hook.http_get {
        let probe = k8s_openapi::api::core::v1::Probe { http_get: Some(http.clone()), ..Default::default() };
        let target = probes::Target { runtime: agent.runtime.clone(), network: agent.network.clone(), container_id: id.to_string(), pod_ip: Some(IpAddr::V4(ip)) };
        return match probes::run(&probe, &target, &[], timeout).await {
            probes::Outcome::Success => Ok(()),
            probes::Outcome::Failure(msg) => Err(format!("HTTP lifecycle hook ({}) for Container in Pod failed - error: {msg}", http.path.as_deref().unwrap_or("/"))),
        };
    }
    if let Some(sleep) = &hook.sleep {
        tokio::time::sleep(Duration::from_secs(sleep.seconds.max(0) as u64).min(timeout)).await;
    }
    Ok(())
}

/// The kubelet's sync of one pod.
pub async fn sync(agent: &Arc<Agent>, key: ObjectKey) -> Result<Action, Error> {
    let pod = agent.pods.get(key.ns(), &key.name);
    // Runtimes of this key whose uid is not the current object's: the object is gone.
    let current_uid = pod.as_ref().filter(|p| agent.is_ours(p)).and_then(|p| p.metadata.uid.clone());
    for (uid, rt_key) in agent.known_uids() {
        if rt_key == key && Some(&uid) != current_uid.as_ref() {
            let rt = agent.pod_runtime(&uid, &key);
            let mut rt = rt.lock().await;
            let dummy = Pod { metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta { name: Some(key.name.clone()), namespace: key.ns().map(str::to_string), uid: Some(uid.clone()), ..Default::default() }, ..Default::default() };
            rt.kill_all(agent, &dummy, Duration::ZERO).await;
            rt.teardown(agent).await;
            drop(rt);
            agent.forget(&uid);
            let logs = agent.profile.pod_log_dir.join(format!("{}_{}_{}", key.ns().unwrap_or("default"), key.name, uid));
            let _ = std::fs::remove_dir_all(logs);
        }
    }
    let Some(pod) = pod else { return Ok(Action::Done) };
    if !agent.is_ours(&pod) {
        return Ok(Action::Done);
    }
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let rt = agent.pod_runtime(&uid, &key);
    let mut rt = rt.lock().await;
    if pod.metadata.deletion_timestamp.is_some() {
        let grace = grace_period(&pod);
        rt.kill_all(agent, &pod, grace).await;
        let _ = rt.write_status(agent, &pod, None).await;
        rt.teardown(agent).await;
        let api = agent.client.api::<Pod>(key.ns()).map_err(|source| Error::Client { pod: key.clone(), source })?;
        let opts = DeleteOptions { grace_period_seconds: Some(0), precondition_uid: Some(uid.clone()), ..Default::default() };
        match api.delete_with(&key.name, &opts).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.is_conflict() => {}
            Err(source) => return Err(Error::Client { pod: key, source }),
        }
        return Ok(Action::Done);
    }
    let phase = crate::controllers::pods::phase(&pod);
    if matches!(phase, "Succeeded" | "Failed") {
        rt.kill_all(agent, &pod, Duration::ZERO).await;
        rt.teardown(agent).await;
        return Ok(Action::Done);
    }
    rt.run(agent, &pod).await
}
