//! The pod status a kubelet reports, computed from what the agent observed of the pod's
//! containers: container statuses, the phase (kubelet's getPhase), and the conditions
//! PodReadyToStartContainers, Initialized, ContainersReady and Ready (PodScheduled is the
//! scheduler's and kept as it is).

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, Pod,
    PodCondition, PodIP, PodStatus, HostIP,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// One container's state as the agent saw it.
#[derive(Clone, Debug, PartialEq)]
pub enum Observed {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: jiff::Timestamp },
    Terminated(Terminated),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Terminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<jiff::Timestamp>,
    pub finished_at: jiff::Timestamp,
    pub container_id: String,
}

impl Terminated {
    /// The kubelet's reason for an exit: Completed (0), OOMKilled, else Error.
    pub fn reason_for(exit_code: i32, oom_killed: bool) -> &'static str {
        if oom_killed {
            "OOMKilled"
        } else if exit_code == 0 {
            "Completed"
        } else {
            "Error"
        }
    }
}

/// What the agent knows of one container of the pod.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub image_id: String,
    /// "<runtime>://<id>" of the current (or last) container.
    pub container_id: Option<String>,
    pub restart_count: i32,
    pub state: Observed,
    pub last: Option<Terminated>,
    pub ready: bool,
    pub started: bool,
}

fn time(t: jiff::Timestamp) -> Time {
    Time(t)
}

fn to_status(v: &ContainerView, runtime: &str) -> ContainerStatus {
    let terminated = |t: &Terminated| ContainerStateTerminated {
        exit_code: t.exit_code,
        signal: t.signal,
        reason: Some(t.reason.clone()),
        message: t.message.clone(),
        started_at: t.started_at.map(time),
        finished_at: Some(time(t.finished_at)),
        container_id: Some(format!("{runtime}://{}", t.container_id)),
    };
    let state = match &v.state {
        Observed::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.clone()), message: message.clone() }),
            ..Default::default()
        },
        Observed::Running { started_at } => ContainerState {
            running: Some(ContainerStateRunning { started_at: Some(time(*started_at)) }),
            ..Default::default()
        },
        Observed::Terminated(t) => ContainerState { terminated: Some(terminated(t)), ..Default::default() },
    };
    ContainerStatus {
        name: v.name.clone(),
        image: v.image.clone(),
        image_id: v.image_id.clone(),
        container_id: v.container_id.as_ref().map(|id| format!("{runtime}://{id}")),
        restart_count: v.restart_count,
        ready: v.ready,
        started: Some(v.started),
        state: Some(state),
        last_state: Some(v.last.as_ref().map(|t| ContainerState { terminated: Some(terminated(t)), ..Default::default() }).unwrap_or_default()),
        ..Default::default()
    }
}

/// The kubelet's getPhase over the regular containers, given whether initialization is done.
pub fn phase(pod: &Pod, init: &[ContainerView], containers: &[ContainerView]) -> &'static str {
    let policy = pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()).unwrap_or("Always");
    let spec_init = pod.spec.as_ref().and_then(|s| s.init_containers.as_ref());
    let is_sidecar = |name: &str| {
        spec_init
            .and_then(|cs| cs.iter().find(|c| c.name == name))
            .is_some_and(|c| c.restart_policy.as_deref() == Some("Always"))
    };
    // An init container that failed for good fails the pod; one still to finish keeps it Pending.
    let mut pending_init = false;
    for v in init {
        if is_sidecar(&v.name) {
            if !v.started {
                pending_init = true;
            }
            continue;
        }
        match &v.state {
            Observed::Terminated(t) if t.exit_code == 0 => {}
            Observed::Terminated(_) if policy == "Never" => return "Failed",
            Observed::Waiting { .. } if policy == "Never" && v.last.as_ref().is_some_and(|t| t.exit_code != 0) => {
                return "Failed"
            }
            _ => pending_init = true,
        }
    }
    if pending_init {
        return "Pending";
    }
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for v in containers {
        match &v.state {
            Observed::Running { .. } => running += 1,
            Observed::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            Observed::Waiting { .. } => match &v.last {
                Some(t) => {
                    stopped += 1;
                    if t.exit_code == 0 {
                        succeeded += 1;
                    }
                }
                None => waiting += 1,
            },
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

fn go_list(names: &[&str]) -> String {
    format!("[{}]", names.join(" "))
}

fn condition(type_: &str, ok: bool, reason: Option<&str>, message: Option<String>, old: Option<&PodStatus>, now: jiff::Timestamp) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let since = old
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
        .filter(|c| c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| time(now));
    PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: if ok { None } else { reason.map(str::to_string) },
        message: if ok { None } else { message },
        last_transition_time: Some(since),
        last_probe_time: None,
        observed_generation: None,
    }
}

/// The whole status the kubelet writes for `pod`.
pub struct Inputs<'a> {
    pub sandbox_ready: bool,
    pub host_ip: &'a str,
    pub pod_ip: Option<&'a str>,
    pub init: &'a [ContainerView],
    pub containers: &'a [ContainerView],
    pub runtime: &'a str,
    pub qos: &'a str,
    pub now: jiff::Timestamp,
    /// Set when the kubelet ends the pod itself (activeDeadlineSeconds): phase Failed.
    pub failed: Option<(&'a str, String)>,
}

pub fn pod_status(pod: &Pod, inp: &Inputs) -> PodStatus {
    let old = pod.status.as_ref();
    let mut phase = phase(pod, inp.init, inp.containers).to_string();
    let (mut reason, mut message) = (None, None);
    if let Some((r, m)) = &inp.failed {
        phase = "Failed".to_string();
        reason = Some(r.to_string());
        message = Some(m.clone());
    }
    let terminal = phase == "Succeeded" || phase == "Failed";
    let spec_init = pod.spec.as_ref().and_then(|s| s.init_containers.clone()).unwrap_or_default();
    let incomplete: Vec<&str> = inp
        .init
        .iter()
        .filter(|v| {
            let sidecar = spec_init.iter().any(|c| c.name == v.name && c.restart_policy.as_deref() == Some("Always"));
            if sidecar {
                !v.started
            } else {
                !matches!(&v.state, Observed::Terminated(t) if t.exit_code == 0)
            }
        })
        .map(|v| v.name.as_str())
        .collect();
    let initialized = incomplete.is_empty() || (terminal && inp.init.iter().all(|v| matches!(v.state, Observed::Terminated(_))));
    let sidecars_unready = inp.init.iter().filter(|v| spec_init.iter().any(|c| c.name == v.name && c.restart_policy.as_deref() == Some("Always")) && !v.ready);
    let unready: Vec<&str> = sidecars_unready.map(|v| v.name.as_str()).chain(inp.containers.iter().filter(|v| !v.ready).map(|v| v.name.as_str())).collect();
    let (ready_reason, ready_message) = if terminal {
        ("PodCompleted", None)
    } else if !initialized {
        ("ContainersNotInitialized", Some(format!("containers with incomplete status: {}", go_list(&incomplete))))
    } else {
        ("ContainersNotReady", Some(format!("containers with unready status: {}", go_list(&unready))))
    };
    let containers_ready = unready.is_empty() && !terminal && initialized;
    let gates_ok = pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_ref())
        .map(|gates| {
            gates.iter().all(|g| {
                old.and_then(|s| s.conditions.as_ref())
                    .and_then(|cs| cs.iter().find(|c| c.type_ == g.condition_type))
                    .is_some_and(|c| c.status == "True")
            })
        })
        .unwrap_or(true);
    let mut conditions = vec![
        condition("PodReadyToStartContainers", inp.sandbox_ready && !terminal, None, None, old, inp.now),
        condition(
            "Initialized",
            initialized,
            Some(if terminal { "PodCompleted" } else { "ContainersNotInitialized" }),
            (!terminal).then(|| format!("containers with incomplete status: {}", go_list(&incomplete))),
            old,
            inp.now,
        ),
        condition("Ready", containers_ready && gates_ok, Some(ready_reason), ready_message.clone(), old, inp.now),
        condition("ContainersReady", containers_ready, Some(ready_reason), ready_message, old, inp.now),
    ];
    // A pod that ran no sandbox when it ended (or whose sandbox is gone) shows False there.
    if terminal {
        conditions[0].status = "False".into();
    }
    // The scheduler's condition and readiness-gate conditions are kept as they are.
    if let Some(cs) = old.and_then(|s| s.conditions.as_ref()) {
        for c in cs {
            if !conditions.iter().any(|n| n.type_ == c.type_) {
                conditions.push(c.clone());
            }
        }
    }
    let order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"];
    conditions.sort_by_key(|c| order.iter().position(|o| *o == c.type_).unwrap_or(order.len()));
    let pod_ips = inp.pod_ip.map(|ip| vec![PodIP { ip: ip.to_string() }]);
    PodStatus {
        phase: Some(phase),
        reason,
        message,
        conditions: Some(conditions),
        host_ip: Some(inp.host_ip.to_string()),
        host_ips: Some(vec![HostIP { ip: inp.host_ip.to_string() }]),
        pod_ip: inp.pod_ip.map(str::to_string),
        pod_ips,
        start_time: old.and_then(|s| s.start_time.clone()).or_else(|| Some(time(inp.now))),
        init_container_statuses: (!inp.init.is_empty()).then(|| inp.init.iter().map(|v| to_status(v, inp.runtime)).collect()),
        container_statuses: Some(inp.containers.iter().map(|v| to_status(v, inp.runtime)).collect()),
        qos_class: Some(inp.qos.to_string()),
        nominated_node_name: old.and_then(|s| s.nominated_node_name.clone()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(policy: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"restartPolicy": policy, "containers": [{"name": "a", "image": "busybox"}]},
            "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]},
        }))
        .unwrap()
    }

    fn view(state: Observed, last: Option<Terminated>) -> ContainerView {
        ContainerView {
            name: "a".into(),
            image: "busybox".into(),
            image_id: String::new(),
            container_id: None,
            restart_count: 0,
            ready: matches!(state, Observed::Running { .. }),
            started: matches!(state, Observed::Running { .. }),
            state,
            last,
        }
    }

    fn exited(code: i32) -> Terminated {
        Terminated {
            exit_code: code,
            signal: None,
            reason: Terminated::reason_for(code, false).into(),
            message: None,
            started_at: None,
            finished_at: jiff::Timestamp::UNIX_EPOCH,
            container_id: "c".into(),
        }
    }

    #[test]
    fn phases_follow_the_kubelet() {
        let waiting = Observed::Waiting { reason: "ContainerCreating".into(), message: None };
        assert_eq!(phase(&pod("Always"), &[], &[view(waiting.clone(), None)]), "Pending");
        let running = Observed::Running { started_at: jiff::Timestamp::UNIX_EPOCH };
        assert_eq!(phase(&pod("Always"), &[], &[view(running, None)]), "Running");
        let backoff = Observed::Waiting { reason: "CrashLoopBackOff".into(), message: None };
        assert_eq!(phase(&pod("Always"), &[], &[view(backoff, Some(exited(1)))]), "Running");
        assert_eq!(phase(&pod("Never"), &[], &[view(Observed::Terminated(exited(0)), None)]), "Succeeded");
        assert_eq!(phase(&pod("Never"), &[], &[view(Observed::Terminated(exited(2)), None)]), "Failed");
        assert_eq!(phase(&pod("OnFailure"), &[], &[view(Observed::Terminated(exited(0)), None)]), "Succeeded");
    }

    #[test]
    fn conditions_name_unready_containers() {
        let p = pod("Always");
        let waiting = Observed::Waiting { reason: "ContainerCreating".into(), message: None };
        let views = [view(waiting, None)];
        let s = pod_status(&p, &Inputs {
            sandbox_ready: true,
            host_ip: "10.200.0.2",
            pod_ip: Some("10.42.0.5"),
            init: &[],
            containers: &views,
            runtime: "runc",
            qos: "BestEffort",
            now: jiff::Timestamp::UNIX_EPOCH,
            failed: None,
        });
        let conds = s.conditions.unwrap();
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "False");
        assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
        assert_eq!(ready.message.as_deref(), Some("containers with unready status: [a]"));
        assert_eq!(conds.iter().map(|c| c.type_.as_str()).collect::<Vec<_>>(), ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]);
        assert_eq!(s.phase.as_deref(), Some("Pending"));
    }
}
