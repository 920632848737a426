//! The scheduling queue, after kube-scheduler's PriorityQueue: an active queue ordered by pod
//! priority (highest first) then age, a backoff queue for pods whose attempt failed (1 s
//! doubling to 10 s), and the unschedulable pods, which wait for a cluster change or at most
//! five minutes (podMaxInUnschedulablePodsDuration). Time is tokio's, for virtual-time tests.

use k8s_openapi::api::core::v1::Pod;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
pub const MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, PartialEq, Eq)]
struct Entry {
    priority: i32,
    created: i64,
    seq: u64,
    key: String,
}

impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        self.priority.cmp(&o.priority).then(o.created.cmp(&self.created)).then(o.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Where a pending pod is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Active,
    Backoff,
    Unschedulable,
    InFlight,
}

#[derive(Default)]
pub struct SchedulingQueue {
    active: BinaryHeap<Entry>,
    /// key → seq of its live heap entry (older entries are skipped).
    active_seq: HashMap<String, u64>,
    backoff: BTreeMap<(Instant, u64), String>,
    backoff_at: HashMap<String, (Instant, u64)>,
    /// Unschedulable pods: since when, and the plugins that rejected them.
    unschedulable: HashMap<String, (Instant, u8)>,
    in_flight: HashMap<String, u64>,
    /// The latest object of every pending pod the queue holds.
    pods: HashMap<String, Arc<Pod>>,
    /// Failed attempts and when the last one failed.
    attempts: HashMap<String, (u32, Instant)>,
    move_cycle: u64,
    seq: u64,
}

/// How long a pod waits after `attempts` failures: 1 s doubling, at most 10 s.
pub fn backoff_duration(attempts: u32) -> Duration {
    let mut d = INITIAL_BACKOFF;
    for _ in 1..attempts {
        d *= 2;
        if d > MAX_BACKOFF {
            return MAX_BACKOFF;
        }
    }
    d
}

impl SchedulingQueue {
    pub fn new() -> SchedulingQueue {
        SchedulingQueue::default()
    }

    pub fn place(&self, key: &str) -> Option<Place> {
        if self.in_flight.contains_key(key) {
            Some(Place::InFlight)
        } else if self.active_seq.contains_key(key) {
            Some(Place::Active)
        } else if self.backoff_at.contains_key(key) {
            Some(Place::Backoff)
        } else if self.unschedulable.contains_key(key) {
            Some(Place::Unschedulable)
        } else {
            None
        }
    }

    pub fn pod(&self, key: &str) -> Option<&Arc<Pod>> {
        self.pods.get(key)
    }

    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    fn push_active(&mut self, key: String) {
        let Some(pod) = self.pods.get(&key) else { return };
        self.seq += 1;
        let e = Entry {
            priority: super::cache::priority(pod),
            created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()).unwrap_or(0),
            seq: self.seq,
            key: key.clone(),
        };
        self.active_seq.insert(key, self.seq);
        self.active.push(e);
    }

    fn push_backoff(&mut self, key: String, at: Instant) {
        self.seq += 1;
        self.backoff.insert((at, self.seq), key.clone());
        self.backoff_at.insert(key, (at, self.seq));
    }

    fn backoff_expiry(&self, key: &str) -> Option<Instant> {
        self.attempts.get(key).map(|(n, last)| *last + backoff_duration(*n))
    }

    /// Active, or backoff while the pod's backoff has not expired.
    fn requeue(&mut self, key: String, now: Instant) {
        match self.backoff_expiry(&key) {
            Some(at) if at > now => self.push_backoff(key, at),
            _ => self.push_active(key),
        }
    }

    fn take(&mut self, key: &str) {
        self.active_seq.remove(key);
        if let Some(at) = self.backoff_at.remove(key) {
            self.backoff.remove(&at);
        }
        self.unschedulable.remove(key);
    }

    /// A pending pod was added or updated; `changed` says its spec or labels changed (an
    /// unschedulable pod then gets another try at once).
    pub fn add(&mut self, pod: Arc<Pod>, changed: bool, now: Instant) {
        let key = super::cache::pod_key(&pod);
        let known = self.pods.insert(key.clone(), pod).is_some();
        match self.place(&key) {
            Some(Place::InFlight) | Some(Place::Active) | Some(Place::Backoff) => {}
            Some(Place::Unschedulable) => {
                if changed {
                    self.unschedulable.remove(&key);
                    self.requeue(key, now);
                }
            }
            None => {
                let _ = known;
                self.push_active(key);
            }
        }
    }

    /// The pod is gone, bound or no longer ours.
    pub fn remove(&mut self, key: &str) {
        self.take(key);
        self.pods.remove(key);
        self.attempts.remove(key);
    }

    /// Moves backoff pods whose time has come to the active queue.
    fn flush_backoff(&mut self, now: Instant) {
        while let Some((&(at, seq), _)) = self.backoff.iter().next() {
            if at > now {
                break;
            }
            let Some(key) = self.backoff.remove(&(at, seq)) else { break };
            self.backoff_at.remove(&key);
            self.push_active(key);
        }
    }

    /// The next pod to schedule, highest priority first; it is in flight until `done` or `failed`.
    pub fn pop(&mut self, now: Instant) -> Option<Arc<Pod>> {
        self.flush_backoff(now);
        while let Some(e) = self.active.pop() {
            if self.active_seq.get(&e.key) != Some(&e.seq) {
                continue;
            }
            self.active_seq.remove(&e.key);
            let Some(pod) = self.pods.get(&e.key).cloned() else { continue };
            self.in_flight.insert(e.key, self.move_cycle);
            return Some(pod);
        }
        None
    }

    /// When the earliest backoff expires.
    pub fn next_backoff(&self) -> Option<Instant> {
        self.backoff.keys().next().map(|(at, _)| *at)
    }

    /// The pod was bound (or handed to the binder for good).
    pub fn done(&mut self, key: &str) {
        self.in_flight.remove(key);
        self.pods.remove(key);
        self.attempts.remove(key);
    }

    /// The attempt failed: `rejected_by` holds the plugins that found it unschedulable (None:
    /// an error). Unschedulable pods wait for a cluster change that may help them, unless one
    /// happened during the attempt; errors retry after backoff.
    pub fn failed(&mut self, key: &str, rejected_by: Option<u8>, now: Instant) {
        let Some(cycle) = self.in_flight.remove(key) else { return };
        if !self.pods.contains_key(key) {
            self.attempts.remove(key);
            return;
        }
        let a = self.attempts.entry(key.to_string()).or_insert((0, now));
        a.0 += 1;
        a.1 = now;
        match rejected_by {
            Some(plugins) if cycle == self.move_cycle => {
                self.unschedulable.insert(key.to_string(), (now, plugins));
            }
            _ => {
                let at = self.backoff_expiry(key).unwrap_or(now);
                self.push_backoff(key.to_string(), at);
            }
        }
    }

    /// A cluster change that may help pods rejected by the plugins in `event`: those get
    /// another try (pods rejected by nothing in particular always do).
    pub fn moved(&mut self, event: u8, now: Instant) {
        if event == 0 {
            return;
        }
        self.move_cycle += 1;
        let keys: Vec<String> =
            self.unschedulable.iter().filter(|(_, (_, p))| *p == 0 || p & event != 0).map(|(k, _)| k.clone()).collect();
        for k in keys {
            self.unschedulable.remove(&k);
            self.requeue(k, now);
        }
    }

    /// Every unschedulable pod gets another try.
    pub fn move_all(&mut self, now: Instant) {
        self.moved(u8::MAX, now);
    }

    /// Pods unschedulable for longer than five minutes get another try.
    pub fn flush_unschedulable(&mut self, now: Instant) {
        let stale: Vec<String> =
            self.unschedulable.iter().filter(|(_, (since, _))| now.duration_since(*since) >= MAX_IN_UNSCHEDULABLE).map(|(k, _)| k.clone()).collect();
        for k in stale {
            self.unschedulable.remove(&k);
            self.requeue(k, now);
        }
    }

    pub fn keys(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, priority: i32, created: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "namespace": "d", "creationTimestamp": created},
                "spec": {"priority": priority, "containers": []}}))
            .unwrap(),
        )
    }

    fn name(p: Option<Arc<Pod>>) -> String {
        p.and_then(|p| p.metadata.name.clone()).unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn pops_by_priority_then_age() {
        let mut q = SchedulingQueue::new();
        let now = Instant::now();
        q.add(pod("low", 0, "2026-01-01T00:00:00Z"), false, now);
        q.add(pod("high", 1000, "2026-01-01T00:00:05Z"), false, now);
        q.add(pod("older", 0, "2025-12-31T00:00:00Z"), false, now);
        q.add(pod("low", 0, "2026-01-01T00:00:00Z"), false, now);
        assert_eq!(name(q.pop(now)), "high");
        assert_eq!(name(q.pop(now)), "older");
        assert_eq!(name(q.pop(now)), "low");
        assert!(q.pop(now).is_none());
    }

    #[test]
    fn backoff_doubles_from_one_second_to_ten() {
        let secs: Vec<u64> = (1..=6).map(|n| backoff_duration(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
    }

    #[tokio::test(start_paused = true)]
    async fn unschedulable_pods_wait_for_a_change_or_five_minutes() {
        let mut q = SchedulingQueue::new();
        let t0 = Instant::now();
        q.add(pod("p", 0, "2026-01-01T00:00:00Z"), false, t0);
        q.pop(t0).unwrap();
        q.failed("d/p", Some(0), t0);
        assert_eq!(q.place("d/p"), Some(Place::Unschedulable));
        // An unrelated status update does not retry it; a cluster change does, after backoff.
        q.add(pod("p", 0, "2026-01-01T00:00:00Z"), false, t0);
        assert!(q.pop(t0).is_none());
        q.move_all(t0);
        assert_eq!(q.place("d/p"), Some(Place::Backoff));
        assert!(q.pop(t0 + Duration::from_millis(999)).is_none());
        assert_eq!(name(q.pop(t0 + Duration::from_secs(1))), "p");
        // Second failure: 2 s of backoff; with no change it waits five minutes.
        let t1 = t0 + Duration::from_secs(1);
        q.failed("d/p", Some(0), t1);
        q.flush_unschedulable(t1 + Duration::from_secs(299));
        assert_eq!(q.place("d/p"), Some(Place::Unschedulable));
        q.flush_unschedulable(t1 + MAX_IN_UNSCHEDULABLE);
        assert_eq!(name(q.pop(t1 + MAX_IN_UNSCHEDULABLE)), "p");
    }

    #[tokio::test(start_paused = true)]
    async fn only_events_that_may_help_move_a_pod() {
        use crate::scheduler::filters::plugin;
        let mut q = SchedulingQueue::new();
        let t0 = Instant::now();
        q.add(pod("p", 0, "2026-01-01T00:00:00Z"), false, t0);
        q.pop(t0).unwrap();
        q.failed("d/p", Some(plugin::NODE_AFFINITY), t0);
        q.moved(plugin::POD_REMOVED, t0);
        assert_eq!(q.place("d/p"), Some(Place::Unschedulable), "a deleted pod does not change node labels");
        q.moved(plugin::ALL, t0);
        assert_eq!(q.place("d/p"), Some(Place::Backoff));
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_during_the_attempt_sends_the_pod_to_backoff() {
        let mut q = SchedulingQueue::new();
        let t0 = Instant::now();
        q.add(pod("p", 0, "2026-01-01T00:00:00Z"), false, t0);
        q.pop(t0).unwrap();
        q.move_all(t0);
        q.failed("d/p", Some(0), t0);
        assert_eq!(q.place("d/p"), Some(Place::Backoff));
        q.remove("d/p");
        assert!(q.pop(t0 + Duration::from_secs(5)).is_none());
    }
}
