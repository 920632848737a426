//! The scheduler seen through kubectl on two simulated nodes: a pod too big for any node stays
//! Pending with 1.33's FailedScheduling message, nodeSelector and taints steer pods, a
//! cluster change retries pending pods, and a higher-priority pod goes first.
mod common;
use common::*;

use std::time::{Duration, Instant};

fn jsonpath(s: &Server, pod: &str, path: &str) -> String {
    s.ok(&["get", "pod", pod, "-o", &format!("jsonpath={path}")])
}

fn scheduled_condition(s: &Server, pod: &str) -> String {
    jsonpath(s, pod, r#"{.status.conditions[?(@.type=="PodScheduled")].reason}: {.status.conditions[?(@.type=="PodScheduled")].message}"#)
}

/// Polls until `f` returns Some, for at most `secs` seconds.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_condition(s: &Server, pod: &str, want: &str) {
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        last = scheduled_condition(s, pod);
        if last == want {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("pod {pod}: PodScheduled is {last:?}, want {want:?}");
}

fn wait_node(s: &Server, pod: &str) -> String {
    wait_for(15, &format!("{pod} to be bound"), || Some(jsonpath(s, pod, "{.spec.nodeName}")).filter(|n| !n.is_empty()))
}

fn pod_yaml(name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{extra_spec}  containers:\n  - name: c\n    image: nginx\n"
    )
}

#[test]
fn pods_are_scheduled_filtered_and_retried_as_kube_scheduler_does() {
    let s = Server::start_simulated(2);
    wait_for(15, "two nodes", || Some(()).filter(|_| rows(&s.ok(&["get", "nodes"])).len() == 3));

    // Too big for every node: Pending, with the condition and the event upstream writes.
    s.ok_stdin(
        &["apply", "-f", "-"],
        &pod_yaml("big", "").replace("image: nginx\n", "image: nginx\n    resources:\n      requests:\n        cpu: \"1000\"\n"),
    );
    let msg = "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.";
    wait_condition(&s, "big", &format!("Unschedulable: {msg}"));
    assert_eq!(jsonpath(&s, "big", "{.status.phase}"), "Pending");
    let describe = wait_for(10, "the FailedScheduling event", || {
        Some(s.ok(&["describe", "pod", "big"])).filter(|d| d.contains("FailedScheduling"))
    });
    let line = describe.lines().find(|l| l.contains("FailedScheduling")).unwrap();
    assert!(line.contains("Warning") && line.contains("default-scheduler") && line.ends_with(msg), "{line}");

    // nodeSelector to a labelled node; the Scheduled event names it.
    s.ok(&["label", "node", "sim-node-1", "disk=ssd"]);
    s.ok_stdin(&["apply", "-f", "-"], &pod_yaml("ssd", "  nodeSelector:\n    disk: ssd\n"));
    assert_eq!(wait_node(&s, "ssd"), "sim-node-1");
    wait_for(10, "the Scheduled event", || {
        Some(()).filter(|_| s.ok(&["describe", "pod", "ssd"]).contains("Successfully assigned default/ssd to sim-node-1"))
    });
    wait_for(15, "ssd Running", || Some(()).filter(|_| jsonpath(&s, "ssd", "{.status.phase}") == "Running"));

    // Taints keep pods off until tolerated or removed; removing them retries the pod.
    s.ok(&["taint", "nodes", "--all", "dedicated=gpu:NoSchedule"]);
    s.ok_stdin(&["apply", "-f", "-"], &pod_yaml("plain", ""));
    wait_condition(
        &s,
        "plain",
        "Unschedulable: 0/2 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
    );
    s.ok_stdin(
        &["apply", "-f", "-"],
        &pod_yaml("tolerant", "  tolerations:\n  - key: dedicated\n    operator: Equal\n    value: gpu\n    effect: NoSchedule\n"),
    );
    wait_node(&s, "tolerant");
    s.ok(&["taint", "nodes", "--all", "dedicated-"]);
    wait_node(&s, "plain");
    assert_eq!(jsonpath(&s, "plain", r#"{.status.conditions[?(@.type=="PodScheduled")].status}"#), "True");

    // Priority: with room for one of them, the higher-priority pod goes first.
    s.ok(&["create", "priorityclass", "high", "--value=1000"]);
    s.ok(&["cordon", "sim-node-0"]);
    let half = |name: &str, class: &str| {
        pod_yaml(name, &format!("  nodeSelector:\n    kubernetes.io/hostname: sim-node-0\n{class}"))
            .replace("image: nginx\n", "image: nginx\n    resources:\n      requests:\n        cpu: \"20\"\n")
    };
    s.ok_stdin(&["apply", "-f", "-"], &half("low", ""));
    s.ok_stdin(&["apply", "-f", "-"], &half("high", "  priorityClassName: high\n"));
    for p in ["low", "high"] {
        wait_condition(
            &s,
            p,
            "Unschedulable: 0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were unschedulable. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
        );
    }
    // Let both backoffs expire so that both are ready when the node comes back.
    std::thread::sleep(Duration::from_secs(3));
    s.ok(&["uncordon", "sim-node-0"]);
    assert_eq!(wait_node(&s, "high"), "sim-node-0");
    wait_condition(
        &s,
        "low",
        "Unschedulable: 0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.",
    );
    // Deleting the high-priority pod makes room for the other.
    s.ok(&["delete", "pod", "high", "--wait=false"]);
    assert_eq!(wait_node(&s, "low"), "sim-node-0");
}
