//! The Job controller, as kube-controller-manager 1.33 runs it: pods carry the
//! `batch.kubernetes.io/job-tracking` finalizer until their outcome is recorded, first in
//! `status.uncountedTerminatedPods`, then in the counters; interim SuccessCriteriaMet /
//! FailureTarget conditions precede Complete / Failed; failed pods are replaced after an
//! exponential backoff. Also the TTL-after-finished controller that deletes finished Jobs.

use super::events::Recorder;
use super::pods::{claim_pods, controller_of, controller_ref, is_ready, phase, selector_matches};
use super::runtime::{enqueue_from, run as run_queue, Action, Context, ObjectKey, Queue};
use crate::client::{Client, DeleteOptions, Reader};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
pub const COMPLETION_INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";
const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";
/// DefaultJobPodFailureBackOff and MaxJobPodFailureBackOff.
pub const POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
pub const MAX_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(360);
/// MaxUncountedPods and MaxPodCreateDeletePerSync.
const MAX_UNCOUNTED_PODS: usize = 500;
const MAX_POD_CREATE_DELETE_PER_SYNC: usize = 500;
/// ExpectationsTimeout: a write never observed stops blocking the Job after this long.
const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(300);
/// syncJobBatchPeriod: the shortest delayed resync.
const SYNC_BATCH_PERIOD: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} for job {job}: {source}")]
    Api { action: &'static str, job: ObjectKey, #[source] source: crate::client::Error },
}

fn api_err<'a>(action: &'static str, job: &'a ObjectKey) -> impl FnOnce(crate::client::Error) -> Error + 'a {
    move |source| Error::Api { action, job: job.clone(), source }
}

/// The controllers' wall clock: the system's, or a manual one that tests set and advance
/// (decisions about deadlines, backoffs and schedules are then exact, whatever tokio's
/// paused clock does while the store's writer thread works).
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<Arc<Mutex<jiff::Timestamp>>>);

impl Clock {
    pub fn system() -> Clock {
        Clock(None)
    }
    pub fn manual(start: jiff::Timestamp) -> Clock {
        Clock(Some(Arc::new(Mutex::new(start))))
    }
    pub fn now(&self) -> jiff::Timestamp {
        match &self.0 {
            None => jiff::Timestamp::now(),
            Some(t) => *t.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }
    /// Moves a manual clock forward (a no-op on the system clock).
    pub fn advance(&self, d: Duration) {
        if let Some(t) = &self.0 {
            let mut t = t.lock().unwrap_or_else(|e| e.into_inner());
            if let Ok(sd) = jiff::SignedDuration::try_from(d) {
                *t = t.checked_add(sd).unwrap_or(*t);
            }
        }
    }
}

fn since(now: jiff::Timestamp, t: jiff::Timestamp) -> Duration {
    Duration::try_from(now.duration_since(t)).unwrap_or(Duration::ZERO)
}

// ---- job facts ----

fn spec_i32(v: Option<i32>, d: i32) -> i32 {
    v.unwrap_or(d)
}

fn suspended(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false)
}

fn indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

fn completions(job: &Job) -> Option<i32> {
    job.spec.as_ref().and_then(|s| s.completions)
}

fn parallelism(job: &Job) -> i32 {
    spec_i32(job.spec.as_ref().and_then(|s| s.parallelism), 1)
}

fn backoff_limit(job: &Job) -> i32 {
    spec_i32(job.spec.as_ref().and_then(|s| s.backoff_limit), 6)
}

/// podReplacementPolicy Failed: terminating pods are neither failures nor replaced yet.
fn only_replace_failed(job: &Job) -> bool {
    let spec = job.spec.as_ref();
    spec.and_then(|s| s.pod_replacement_policy.as_deref()) == Some("Failed")
        || spec.is_some_and(|s| s.pod_failure_policy.is_some())
}

fn condition<'a>(job: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

/// IsJobFinished: a Complete or Failed condition is True.
pub fn is_finished(job: &Job) -> bool {
    job.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| {
        cs.iter().any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
    })
}

/// The time the Job finished (its terminal condition's transition), if it has.
pub fn finish_time(job: &Job) -> Option<jiff::Timestamp> {
    job.status.as_ref()?.conditions.as_ref()?.iter().find_map(|c| {
        ((c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
            .then(|| c.last_transition_time.as_ref().map(|t| t.0))
            .flatten()
    })
}

fn new_condition(type_: &str, status: &str, reason: &str, message: &str, now: jiff::Timestamp) -> JobCondition {
    JobCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// ensureJobConditionStatus: sets a condition, never adding one that would be False.
fn ensure_condition(list: &mut Vec<JobCondition>, c: JobCondition) -> bool {
    if let Some(old) = list.iter_mut().find(|o| o.type_ == c.type_) {
        if old.status != c.status || old.reason != c.reason || old.message != c.message {
            *old = c;
            return true;
        }
        return false;
    }
    if c.status != "False" {
        list.push(c);
        return true;
    }
    false
}

// ---- pod facts ----

fn has_finalizer(pod: &Pod) -> bool {
    pod.metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER))
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or("")
}

fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

/// FilterActivePods: not finished and not being deleted.
fn is_active(pod: &Pod) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && pod.metadata.deletion_timestamp.is_none()
}

/// Being deleted and not finished.
fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some() && !matches!(phase(pod), "Succeeded" | "Failed")
}

/// isPodFailed: Failed, or (unless only failed pods are replaced) deleted before it succeeded.
fn is_pod_failed(pod: &Pod, job: &Job) -> bool {
    pod_failed(pod, only_replace_failed(job))
}

fn pod_failed(pod: &Pod, only_replace_failed: bool) -> bool {
    if phase(pod) == "Failed" {
        return true;
    }
    if only_replace_failed {
        return false;
    }
    pod.metadata.deletion_timestamp.is_some() && phase(pod) != "Succeeded"
}

/// The pod's completion index, None when missing or malformed.
pub fn completion_index(pod: &Pod) -> Option<i32> {
    let v = pod.metadata.annotations.as_ref()?.get(COMPLETION_INDEX_KEY)?;
    v.parse::<i32>().ok().filter(|i| *i >= 0)
}

fn valid_index(pod: &Pod, completions: i32) -> Option<i32> {
    completion_index(pod).filter(|i| *i < completions)
}

/// getFinishedTime: latest container finish, then Ready=False, then deletion, then creation.
fn finished_time(pod: &Pod) -> jiff::Timestamp {
    let st = pod.status.as_ref();
    if let Some(cs) = st.and_then(|s| s.container_statuses.as_ref()).filter(|c| !c.is_empty()) {
        let mut latest: Option<jiff::Timestamp> = None;
        let mut all = true;
        for c in cs {
            match c.state.as_ref().and_then(|s| s.terminated.as_ref()).and_then(|t| t.finished_at.as_ref()) {
                Some(t) => latest = Some(latest.map_or(t.0, |l| l.max(t.0))),
                None => all = false,
            }
        }
        if all {
            if let Some(t) = latest {
                return t;
            }
        }
    }
    if let Some(c) = st.and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == "Ready")) {
        if c.status == "False" {
            if let Some(t) = &c.last_transition_time {
                return t.0;
            }
        }
    }
    if let Some(d) = &pod.metadata.deletion_timestamp {
        let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
        return d.0.checked_sub(jiff::SignedDuration::from_secs(grace)).unwrap_or(d.0);
    }
    pod.metadata.creation_timestamp.as_ref().map(|t| t.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// controller.ActivePods ordering: the pods to delete first sort first (unscheduled,
/// pending, not ready, more restarts, newer).
fn removal_order(a: &Pod, b: &Pod) -> std::cmp::Ordering {
    let assigned = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
    let rank = |p: &Pod| match phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    };
    let restarts = |p: &Pod| {
        p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).map_or(0, |cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
    };
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    assigned(a)
        .cmp(&assigned(b))
        .then(rank(a).cmp(&rank(b)))
        .then(is_ready(a).cmp(&is_ready(b)))
        .then(restarts(b).cmp(&restarts(a)))
        .then(created(b).cmp(&created(a)))
}

// ---- completed indexes ----

/// A set of indexes printed as Kubernetes prints completedIndexes: "1,3-5,7".
pub fn format_indexes(set: &BTreeSet<i32>) -> String {
    let mut out = String::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last = iter.next().unwrap_or(last);
        }
        if !out.is_empty() {
            out.push(',');
        }
        if first == last {
            out.push_str(&first.to_string());
        } else {
            out.push_str(&format!("{first}-{last}"));
        }
    }
    out
}

/// parseIndexesFromString, keeping indexes below `completions`.
pub fn parse_indexes(s: &str, completions: i32) -> BTreeSet<i32> {
    let mut set = BTreeSet::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        let (Ok(a), Ok(b)) = (a, b) else { continue };
        for i in a.max(0)..=b.min(completions - 1) {
            set.insert(i);
        }
    }
    set
}

// ---- backoff ----

/// How many pods failed since the last success and when the last one failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackoffRecord {
    pub failures_after_last_success: u32,
    pub last_failure: Option<jiff::Timestamp>,
}

impl BackoffRecord {
    /// newBackoffRecord: the record after these newly finished pods.
    fn next(&self, new_succeeded: &[&Pod], new_failed: &[&Pod]) -> BackoffRecord {
        let mut failed: Vec<jiff::Timestamp> = new_failed.iter().map(|p| finished_time(p)).collect();
        failed.sort();
        if new_succeeded.is_empty() {
            if failed.is_empty() {
                return self.clone();
            }
            return BackoffRecord {
                failures_after_last_success: self.failures_after_last_success + failed.len() as u32,
                last_failure: failed.last().copied(),
            };
        }
        let last_success = new_succeeded.iter().map(|p| finished_time(p)).max();
        let mut rec = BackoffRecord::default();
        for t in failed.iter().rev() {
            if Some(*t) <= last_success {
                break;
            }
            if rec.last_failure.is_none() {
                rec.last_failure = Some(*t);
            }
            rec.failures_after_last_success += 1;
        }
        rec
    }

    /// How long to wait before creating replacement pods.
    pub fn remaining(&self, now: jiff::Timestamp) -> Duration {
        let Some(last) = self.last_failure else { return Duration::ZERO };
        if self.failures_after_last_success == 0 {
            return Duration::ZERO;
        }
        let mut backoff = POD_FAILURE_BACKOFF;
        for _ in 1..self.failures_after_last_success {
            backoff *= 2;
            if backoff >= MAX_POD_FAILURE_BACKOFF {
                backoff = MAX_POD_FAILURE_BACKOFF;
                break;
            }
        }
        backoff.saturating_sub(since(now, last))
    }
}

// ---- expectations ----

/// Writes the informer has not shown yet (client-go's ControllerExpectations and the job
/// controller's finalizer expectations), keyed by Job.
#[derive(Default)]
struct Expectations {
    creates: HashSet<String>,
    deletes: HashSet<String>,
    rm_finalizers: HashSet<String>,
    since: Option<Instant>,
}

// ---- the controller ----

/// The Job controller's shared state.
#[derive(Clone)]
pub struct JobController {
    client: Client,
    recorder: Recorder,
    jobs: Reader<Job>,
    pods: Reader<Pod>,
    clock: Clock,
    expectations: Arc<Mutex<HashMap<ObjectKey, Expectations>>>,
    backoff: Arc<Mutex<HashMap<ObjectKey, BackoffRecord>>>,
}

/// What a sync found and decided, kept across its steps.
struct SyncCtx {
    key: ObjectKey,
    job: Job,
    pods: Vec<Arc<Pod>>,
    expected_rm: HashSet<String>,
    finished: Option<JobCondition>,
    terminating: i32,
    prev_indexes: BTreeSet<i32>,
    succeeded_indexes: BTreeSet<i32>,
    new_backoff: BackoffRecord,
}

impl JobController {
    pub fn new(client: Client, recorder: Recorder, jobs: Reader<Job>, pods: Reader<Pod>, clock: Clock) -> JobController {
        JobController {
            client,
            recorder: recorder.for_component("job-controller", None),
            jobs,
            pods,
            clock,
            expectations: Arc::default(),
            backoff: Arc::default(),
        }
    }

    fn exp(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, Expectations>> {
        self.expectations.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether every pod write of the last sync has been seen in the cache.
    fn satisfied(&self, key: &ObjectKey) -> bool {
        let mut all = self.exp();
        let Some(e) = all.get_mut(key) else { return true };
        let ns = key.ns();
        e.creates.retain(|n| self.pods.get(ns, n).is_none());
        e.deletes.retain(|n| self.pods.get(ns, n).is_some_and(|p| p.metadata.deletion_timestamp.is_none()));
        let ok = e.creates.is_empty() && e.deletes.is_empty();
        if !ok && e.since.is_some_and(|s| s.elapsed() > EXPECTATIONS_TIMEOUT) {
            e.creates.clear();
            e.deletes.clear();
            return true;
        }
        ok
    }

    /// UIDs whose finalizer removal the cache has not shown yet.
    fn expected_rm(&self, key: &ObjectKey, pods: &[Arc<Pod>]) -> HashSet<String> {
        let mut all = self.exp();
        let Some(e) = all.get_mut(key) else { return HashSet::new() };
        let with_finalizer: HashSet<&str> = pods.iter().filter(|p| has_finalizer(p)).map(|p| uid(p)).collect();
        e.rm_finalizers.retain(|u| with_finalizer.contains(u.as_str()));
        e.rm_finalizers.clone()
    }

    fn expect(&self, key: &ObjectKey, f: impl FnOnce(&mut Expectations)) {
        let mut all = self.exp();
        let e = all.entry(key.clone()).or_default();
        e.since = Some(Instant::now());
        f(e);
    }

    /// The keys of the Jobs a pod event concerns; also queues orphaned finalizers.
    fn pod_keys(&self, pod: &Pod, orphans: &Queue) -> Vec<ObjectKey> {
        let ns = pod.metadata.namespace.as_deref();
        match controller_of(&pod.metadata) {
            Some(r) if r.kind == "Job" && r.api_version == "batch/v1" => {
                // Any event for a pod we created or deleted is its observation.
                if let Some(e) = self.exp().get_mut(&ObjectKey::new(ns, &r.name)) {
                    let name = pod_name(pod);
                    e.creates.remove(name);
                    if pod.metadata.deletion_timestamp.is_some() {
                        e.deletes.remove(name);
                    }
                }
                let job = self.jobs.get(ns, &r.name).filter(|j| j.metadata.uid.as_deref() == Some(r.uid.as_str()));
                if has_finalizer(pod) && job.as_ref().is_none_or(|j| is_finished(j)) {
                    orphans.add(ObjectKey::of(&pod.metadata));
                }
                vec![ObjectKey::new(ns, &r.name)]
            }
            Some(_) => Vec::new(),
            None => {
                if has_finalizer(pod) {
                    orphans.add(ObjectKey::of(&pod.metadata));
                }
                if pod.metadata.deletion_timestamp.is_some() {
                    return Vec::new();
                }
                self.jobs
                    .list()
                    .into_iter()
                    .filter(|j| j.metadata.namespace.as_deref() == ns)
                    .filter(|j| {
                        j.spec.as_ref().and_then(|s| s.selector.as_ref()).is_some_and(|sel| {
                            !super::pods::is_empty_selector(sel) && selector_matches(sel, pod.metadata.labels.as_ref())
                        })
                    })
                    .map(|j| ObjectKey::of(&j.metadata))
                    .collect()
            }
        }
    }

    /// syncOrphanPod: drops the tracking finalizer of a pod whose Job is gone or finished.
    pub async fn sync_orphan(&self, key: ObjectKey) -> Result<Action, Error> {
        let Some(pod) = self.pods.get(key.ns(), &key.name) else { return Ok(Action::Done) };
        if !has_finalizer(&pod) {
            return Ok(Action::Done);
        }
        if let Some(r) = controller_of(&pod.metadata) {
            if r.kind != "Job" || r.api_version != "batch/v1" {
                return Ok(Action::Done);
            }
            let job = self.jobs.get(key.ns(), &r.name).filter(|j| j.metadata.uid.as_deref() == Some(r.uid.as_str()));
            let external = |j: &Job| {
                j.spec.as_ref().and_then(|s| s.managed_by.as_deref()).is_some_and(|m| m != "kubernetes.io/job-controller")
            };
            if job.is_some_and(|j| !is_finished(&j) || external(&j)) {
                return Ok(Action::Done);
            }
        }
        self.remove_finalizer(&pod).await.map_err(api_err("removing the tracking finalizer of an orphan pod", &key))?;
        Ok(Action::Done)
    }

    async fn remove_finalizer(&self, pod: &Pod) -> crate::client::Result<bool> {
        let api = self.client.api::<Pod>(pod.metadata.namespace.as_deref())?;
        let only_ours = pod.metadata.finalizers.as_ref().is_some_and(|f| f.iter().all(|f| f == TRACKING_FINALIZER));
        if only_ours {
            // The last finalizer: drop the field (as the API server's encoding does), unless
            // the pod changed meanwhile.
            let patch = json!({"metadata": {"finalizers": null, "resourceVersion": pod.metadata.resource_version}});
            match api.patch_merge(pod_name(pod), &patch).await {
                Ok(_) => return Ok(true),
                Err(e) if e.is_not_found() => return Ok(true),
                Err(e) if e.is_conflict() => {}
                Err(e) => return Err(e),
            }
        }
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER]}});
        match api.patch_strategic(pod_name(pod), &patch).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// The pods the Job owns (adopting orphans its selector matches), from the cache.
    async fn pods_for(&self, key: &ObjectKey, job: &Job) -> Result<Vec<Arc<Pod>>, Error> {
        let uid = job.metadata.uid.as_deref().unwrap_or("");
        let sel = job.spec.as_ref().and_then(|s| s.selector.clone()).unwrap_or_default();
        let mut owned = Vec::new();
        let mut orphans = Vec::new();
        for p in self.pods.list() {
            if p.metadata.namespace.as_deref() != key.ns() {
                continue;
            }
            match controller_of(&p.metadata) {
                Some(r) if r.uid == uid => owned.push(p),
                Some(_) => {}
                None => {
                    if p.metadata.deletion_timestamp.is_none() && selector_matches(&sel, p.metadata.labels.as_ref()) {
                        orphans.push(p)
                    }
                }
            }
        }
        let needs_claim = !orphans.is_empty()
            || owned.iter().any(|p| !selector_matches(&sel, p.metadata.labels.as_ref()) && p.metadata.deletion_timestamp.is_none());
        if !needs_claim || job.metadata.deletion_timestamp.is_some() {
            return Ok(owned);
        }
        owned.extend(orphans);
        claim_pods(&self.client, job, &sel, owned).await.map_err(api_err("claiming pods", key))
    }

    /// syncJob.
    pub async fn sync(&self, key: ObjectKey) -> Result<Action, Error> {
        let Some(cached) = self.jobs.get(key.ns(), &key.name) else {
            self.exp().remove(&key);
            self.backoff.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
            return Ok(Action::Done);
        };
        // Jobs managed by another controller (spec.managedBy) are theirs alone.
        let managed_by = cached.spec.as_ref().and_then(|s| s.managed_by.as_deref());
        if managed_by.is_some_and(|m| m != "kubernetes.io/job-controller") {
            return Ok(Action::Done);
        }
        if is_finished(&cached) {
            self.backoff.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
            return Ok(Action::Done);
        }
        let mode = cached.spec.as_ref().and_then(|s| s.completion_mode.as_deref()).unwrap_or("NonIndexed");
        if mode != "NonIndexed" && mode != "Indexed" {
            self.recorder.warning(&*cached, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown");
            return Ok(Action::Done);
        }
        let now = self.clock.now();
        let mut job = (*cached).clone();
        let status = job.status.get_or_insert_with(JobStatus::default);
        let uncounted = status.uncounted_terminated_pods.get_or_insert_with(UncountedTerminatedPods::default).clone();
        let unc_succ: HashSet<String> = uncounted.succeeded.iter().flatten().cloned().collect();
        let unc_fail: HashSet<String> = uncounted.failed.iter().flatten().cloned().collect();

        // Checked before the pods are listed, as upstream: a pod that lands in between would
        // otherwise be missing from the list of a sync that thinks all writes are seen.
        let creates_seen = self.satisfied(&key);
        let pods = self.pods_for(&key, &job).await?;
        let expected_rm = self.expected_rm(&key, &pods);
        // Pods are created or deleted only once every earlier write has been seen, finalizer
        // removals included: a finished pod whose finalizer removal is still in flight is
        // neither active nor counted, and its index would look missing.
        let satisfied = creates_seen && expected_rm.is_empty();
        let active_pods: Vec<Arc<Pod>> = pods.iter().filter(|p| is_active(p)).cloned().collect();
        let mut ready = active_pods.iter().filter(|p| is_ready(p)).count() as i32;
        let mut terminating = pods.iter().filter(|p| is_terminating(p)).count() as i32;
        let mut active = active_pods.len() as i32;
        let is_indexed = indexed(&job);
        let completions_n = completions(&job);
        let countable = |p: &&Arc<Pod>, unc: &HashSet<String>| {
            has_finalizer(p)
                && !unc.contains(uid(p))
                && !expected_rm.contains(uid(p))
                && (!is_indexed || valid_index(p, completions_n.unwrap_or(0)).is_some())
        };
        let new_succeeded: Vec<&Pod> =
            pods.iter().filter(|p| countable(p, &unc_succ) && phase(p) == "Succeeded").map(|p| &**p).collect();
        let new_failed: Vec<&Pod> =
            pods.iter().filter(|p| countable(p, &unc_fail) && is_pod_failed(p, &job)).map(|p| &**p).collect();
        let counted_failures = new_failed.iter().filter(|p| match_pod_failure_policy(&job, p).1).count();
        let status = job.status.get_or_insert_with(JobStatus::default);
        let mut succeeded = status.succeeded.unwrap_or(0) + new_succeeded.len() as i32 + unc_succ.len() as i32;
        let failed = status.failed.unwrap_or(0) + counted_failures as i32 + unc_fail.len() as i32;

        if status.start_time.is_none() && !suspended(&cached) {
            status.start_time = Some(Time(now));
        }
        let start_time = status.start_time.as_ref().map(|t| t.0);
        let new_backoff = {
            let b = self.backoff.lock().unwrap_or_else(|e| e.into_inner());
            b.get(&key).cloned().unwrap_or_default().next(&new_succeeded, &new_failed)
        };
        let mut requeue: Option<Duration> = None;

        let mut finished: Option<JobCondition> = condition(&job, "SuccessCriteriaMet").filter(|c| c.status == "True").cloned();
        if finished.is_none() {
            if let Some(ft) = condition(&job, "FailureTarget").filter(|c| c.status == "True") {
                finished = Some(new_condition(
                    "Failed",
                    "True",
                    ft.reason.as_deref().unwrap_or(""),
                    ft.message.as_deref().unwrap_or(""),
                    now,
                ));
            } else if let Some(msg) = fail_job_message(&job, &pods) {
                // The interim FailureTarget records the message before any finalizer goes.
                finished = Some(new_condition("FailureTarget", "True", "PodFailurePolicy", &msg, now));
            }
        }
        let ads = job.spec.as_ref().and_then(|s| s.active_deadline_seconds);
        if finished.is_none() {
            if failed > backoff_limit(&job) || past_backoff_limit_on_failure(&job, &pods) {
                finished = Some(new_condition(
                    "FailureTarget",
                    "True",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                    now,
                ));
            } else if let (Some(ads), Some(start), false) = (ads, start_time, suspended(&job)) {
                let allowed = Duration::from_secs(ads.max(0) as u64);
                let elapsed = since(now, start);
                if elapsed >= allowed {
                    finished = Some(new_condition(
                        "FailureTarget",
                        "True",
                        "DeadlineExceeded",
                        "Job was active longer than specified deadline",
                        now,
                    ));
                } else {
                    requeue = Some(allowed - elapsed);
                }
            }
        }
        let mut prev_indexes = BTreeSet::new();
        let mut succeeded_indexes = BTreeSet::new();
        if is_indexed {
            let c = completions_n.unwrap_or(0);
            prev_indexes = parse_indexes(job.status.as_ref().and_then(|s| s.completed_indexes.as_deref()).unwrap_or(""), c);
            succeeded_indexes = prev_indexes.clone();
            for p in &pods {
                if phase(p) == "Succeeded" && has_finalizer(p) {
                    if let Some(ix) = valid_index(p, c) {
                        succeeded_indexes.insert(ix);
                    }
                }
            }
            succeeded = succeeded_indexes.len() as i32;
        }

        let mut sctx = SyncCtx {
            key: key.clone(),
            job,
            pods,
            expected_rm,
            finished,
            terminating,
            prev_indexes,
            succeeded_indexes,
            new_backoff,
        };
        let mut suspend_changed = false;
        let mut manage_err: Option<Error> = None;
        if sctx.finished.is_some() {
            let (deleted_ready, deleted, err) = self.delete_active_pods(&sctx, &active_pods, false).await;
            if deleted != active || !satisfied {
                sctx.finished = None;
            }
            active -= deleted;
            terminating += deleted;
            ready -= deleted_ready;
            manage_err = err;
        } else {
            let mut manage_called = false;
            if satisfied && sctx.job.metadata.deletion_timestamp.is_none() {
                let out = self.manage(&mut sctx, &active_pods, succeeded, &mut terminating, &mut ready, now).await;
                active = out.0;
                if let Some(d) = out.1 {
                    requeue = Some(requeue.map_or(d, |r| r.min(d)));
                }
                manage_err = out.2;
                manage_called = true;
            }
            let complete = match completions_n {
                None => succeeded > 0 && active == 0,
                Some(c) => succeeded >= c && active == 0,
            };
            if complete {
                sctx.finished = Some(new_condition(
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    now,
                ));
            } else if manage_called {
                let susp = suspended(&sctx.job);
                let st = sctx.job.status.get_or_insert_with(JobStatus::default);
                let conds = st.conditions.get_or_insert_with(Vec::new);
                if susp {
                    if ensure_condition(conds, new_condition("Suspended", "True", "JobSuspended", "Job suspended", now)) {
                        suspend_changed = true;
                        self.recorder.normal(&sctx.job, "Suspended", "Job suspended");
                    }
                } else if ensure_condition(conds, new_condition("Suspended", "False", "JobResumed", "Job resumed", now)) {
                    // A resumed Job's activeDeadlineSeconds counts from now.
                    st.start_time = Some(Time(now));
                    suspend_changed = true;
                    self.recorder.normal(&sctx.job, "Resumed", "Job resumed");
                }
            }
        }
        let _ = suspend_changed;
        sctx.terminating = terminating;
        let st = sctx.job.status.get_or_insert_with(JobStatus::default);
        st.active = Some(active);
        st.ready = Some(ready.max(0));
        st.terminating = Some(terminating);
        let written = cached.status.clone().unwrap_or_default();
        self.track_and_remove_finalizers(sctx, written, now).await?;
        if let Some(e) = manage_err {
            return Err(e);
        }
        Ok(match requeue {
            Some(d) => Action::RequeueAfter(d.max(SYNC_BATCH_PERIOD)),
            None => Action::Done,
        })
    }

    /// manageJob: deletes surplus pods or creates missing ones (after the failure backoff).
    /// Returns the active count, an optional resync delay and the first error.
    async fn manage(
        &self,
        sctx: &mut SyncCtx,
        active_pods: &[Arc<Pod>],
        succeeded: i32,
        terminating: &mut i32,
        ready: &mut i32,
        now: jiff::Timestamp,
    ) -> (i32, Option<Duration>, Option<Error>) {
        let job = &sctx.job;
        let mut active = active_pods.len() as i32;
        if suspended(job) {
            let to_delete = active_pods_for_removal(job, active_pods, active_pods.len());
            let (rr, removed, err) = self.delete_active_pods(sctx, &to_delete, true).await;
            *terminating += removed;
            *ready -= rr;
            return (active - removed, None, err);
        }
        let par = parallelism(job);
        let want = match completions(job) {
            None => {
                if succeeded > 0 {
                    active
                } else {
                    par
                }
            }
            Some(c) => (c - succeeded).min(par).max(0),
        };
        let rm = (active - want).max(0) as usize;
        let mut to_delete = active_pods_for_removal(job, active_pods, rm);
        to_delete.truncate(MAX_POD_CREATE_DELETE_PER_SYNC);
        if !to_delete.is_empty() {
            let (rr, removed, err) = self.delete_active_pods(sctx, &to_delete, true).await;
            *terminating += removed;
            *ready -= rr;
            return (active - removed, None, err);
        }
        let term = if only_replace_failed(job) { *terminating } else { 0 };
        let mut diff = want - term - active;
        if diff <= 0 {
            return (active, None, None);
        }
        let remaining = sctx.new_backoff.remaining(now);
        if !remaining.is_zero() {
            return (active, Some(remaining), None);
        }
        diff = diff.min(MAX_POD_CREATE_DELETE_PER_SYNC as i32);
        let mut indexes: Vec<Option<i32>> = vec![None; diff as usize];
        if indexed(job) {
            indexes = first_pending_indexes(job, active_pods, &sctx.succeeded_indexes, diff as usize)
                .into_iter()
                .map(Some)
                .collect();
        }
        let mut template = job.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
        if indexed(job) {
            add_completion_index_env(&mut template);
        }
        let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
        let fins = meta.finalizers.get_or_insert_with(Vec::new);
        if !fins.iter().any(|f| f == TRACKING_FINALIZER) {
            fins.push(TRACKING_FINALIZER.to_string());
        }
        let name = job.metadata.name.clone().unwrap_or_default();
        let ns = sctx.key.namespace.clone().unwrap_or_default();
        let Ok(api) = self.client.api::<Pod>(Some(&ns)) else { return (active, None, None) };
        let owner = controller_ref(job);
        let mut first_err = None;
        let mut batch = 1usize;
        let mut queue = indexes.into_iter();
        loop {
            let chunk: Vec<Option<i32>> = queue.by_ref().take(batch).collect();
            if chunk.is_empty() {
                break;
            }
            let pods: Vec<Pod> = chunk.iter().map(|ix| pod_for(&template, &owner, &ns, &name, *ix)).collect();
            let results = futures::future::join_all(pods.iter().map(|p| api.create(p))).await;
            let mut failed = false;
            for r in results {
                match r {
                    Ok(p) => {
                        let pn = p.metadata.name.clone().unwrap_or_default();
                        self.expect(&sctx.key, |e| {
                            e.creates.insert(pn.clone());
                        });
                        self.recorder.normal(job, "SuccessfulCreate", format!("Created pod: {pn}"));
                        active += 1;
                    }
                    Err(e) => {
                        if !super::replicaset::namespace_terminating(&e) {
                            self.recorder.warning(job, "FailedCreate", format!("Error creating: {e}"));
                            failed = true;
                            if first_err.is_none() {
                                first_err = Some(Error::Api { action: "creating a pod", job: sctx.key.clone(), source: e });
                            }
                        }
                    }
                }
            }
            if failed {
                break;
            }
            batch *= 2;
        }
        (active, None, first_err)
    }

    /// deleteActivePods (keep the finalizer: the pods count as failed) or deleteJobPods
    /// (`drop_finalizer`: removed first, the pods are not counted). Returns (ready deleted,
    /// deleted, first error).
    async fn delete_active_pods(&self, sctx: &SyncCtx, pods: &[Arc<Pod>], drop_finalizer: bool) -> (i32, i32, Option<Error>) {
        if pods.is_empty() {
            return (0, 0, None);
        }
        let Ok(api) = self.client.api::<Pod>(sctx.key.ns()) else { return (0, 0, None) };
        self.expect(&sctx.key, |e| e.deletes.extend(pods.iter().map(|p| pod_name(p).to_string())));
        let results = futures::future::join_all(pods.iter().map(|p| {
            let api = api.clone();
            async move {
                if drop_finalizer && has_finalizer(p) {
                    self.remove_finalizer(p).await?;
                }
                let opts = DeleteOptions { precondition_uid: p.metadata.uid.clone(), ..Default::default() };
                match api.delete_with(pod_name(p), &opts).await {
                    Ok(_) => Ok(true),
                    Err(e) if e.is_not_found() => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }))
        .await;
        let (mut rr, mut n, mut err) = (0, 0, None);
        for (p, r) in pods.iter().zip(results) {
            match r {
                Ok(deleted) => {
                    n += 1;
                    if is_ready(p) {
                        rr += 1;
                    }
                    if deleted {
                        self.recorder.normal(&sctx.job, "SuccessfulDelete", format!("Deleted pod: {}", pod_name(p)));
                    }
                }
                Err(e) => {
                    self.exp().get_mut(&sctx.key).map(|x| x.deletes.remove(pod_name(p)));
                    self.recorder.warning(&sctx.job, "FailedDelete", format!("Error deleting: {e}"));
                    if err.is_none() {
                        err = Some(Error::Api { action: "deleting a pod", job: sctx.key.clone(), source: e });
                    }
                }
            }
        }
        (rr, n, err)
    }

    /// trackJobStatusAndRemoveFinalizers: records finished pods in uncountedTerminatedPods,
    /// removes their finalizers, moves them to the counters, and finishes the Job.
    async fn track_and_remove_finalizers(&self, mut sctx: SyncCtx, mut written: JobStatus, now: jiff::Timestamp) -> Result<(), Error> {
        let is_indexed = indexed(&sctx.job);
        let c = completions(&sctx.job).unwrap_or(0);
        if is_indexed {
            sctx.pods.sort_by_key(|p| completion_index(p).unwrap_or(i32::MAX));
        }
        let mut with_finalizer: HashSet<String> = sctx
            .pods
            .iter()
            .filter(|p| has_finalizer(p) && !sctx.expected_rm.contains(uid(p)))
            .map(|p| uid(p).to_string())
            .collect();
        let orf = only_replace_failed(&sctx.job);
        let job_view = Job { metadata: ObjectMeta::default(), spec: sctx.job.spec.clone(), status: None };
        let job_deleting = sctx.job.metadata.deletion_timestamp.is_some();
        let status = sctx.job.status.get_or_insert_with(JobStatus::default);
        clean_uncounted(status, &with_finalizer);
        let unc = status.uncounted_terminated_pods.get_or_insert_with(UncountedTerminatedPods::default);
        let unc_succ: HashSet<String> = unc.succeeded.iter().flatten().cloned().collect();
        let unc_fail: HashSet<String> = unc.failed.iter().flatten().cloned().collect();
        let mut new_succ_uids: Vec<String> = Vec::new();
        let mut new_fail_uids: Vec<String> = Vec::new();
        let mut new_indexes: Vec<i32> = Vec::new();
        let mut to_remove: Vec<Arc<Pod>> = Vec::new();
        let mut reached_max = false;
        let finishing_failed = sctx.finished.as_ref().is_some_and(|f| f.type_ != "SuccessCriteriaMet");
        for pod in &sctx.pods {
            if !has_finalizer(pod) || sctx.expected_rm.contains(uid(pod)) {
                continue;
            }
            let considered_failed = pod_failed(pod, orf);
            let can_remove = job_deleting
                || sctx.finished.is_some()
                || phase(pod) == "Succeeded"
                || considered_failed;
            if !can_remove {
                continue;
            }
            to_remove.push(pod.clone());
            let u = uid(pod).to_string();
            if phase(pod) == "Succeeded" && !unc_fail.contains(&u) {
                if is_indexed {
                    if let Some(ix) = valid_index(pod, c) {
                        if !sctx.prev_indexes.contains(&ix) {
                            new_indexes.push(ix);
                        }
                    }
                } else if !unc_succ.contains(&u) {
                    new_succ_uids.push(u);
                }
            } else if (considered_failed || finishing_failed)
                && !unc_fail.contains(&u)
                && (!is_indexed || valid_index(pod, c).is_some())
                && match_pod_failure_policy(&job_view, pod).1
            {
                new_fail_uids.push(u);
            }
            if new_indexes.len() + unc_succ.len() + new_succ_uids.len() + unc_fail.len() + new_fail_uids.len() >= MAX_UNCOUNTED_PODS {
                reached_max = true;
                break;
            }
        }
        unc.succeeded.get_or_insert_with(Vec::new).extend(new_succ_uids);
        unc.failed.get_or_insert_with(Vec::new).extend(new_fail_uids);
        if is_indexed {
            sctx.succeeded_indexes.extend(new_indexes);
            status.succeeded = Some(sctx.succeeded_indexes.len() as i32);
            // Go omits an empty completedIndexes.
            status.completed_indexes = Some(format_indexes(&sctx.succeeded_indexes)).filter(|s| !s.is_empty());
        }
        let conds = status.conditions.get_or_insert_with(Vec::new);
        if let Some(f) = sctx.finished.take() {
            if f.type_ == "FailureTarget" {
                conds.push(f.clone());
                sctx.finished = Some(new_condition("Failed", "True", f.reason.as_deref().unwrap_or(""), f.message.as_deref().unwrap_or(""), now));
            } else if f.type_ == "SuccessCriteriaMet" {
                if !conds.iter().any(|c| c.type_ == "SuccessCriteriaMet" && c.status == "True") {
                    conds.push(f.clone());
                }
                sctx.finished =
                    Some(new_condition("Complete", "True", f.reason.as_deref().unwrap_or(""), f.message.as_deref().unwrap_or(""), now));
            } else {
                sctx.finished = Some(f);
            }
        }
        normalize(status);
        normalize(&mut written);
        // Flush the uncounted pods (and interim conditions) before touching any finalizer.
        if sctx.job.status.as_ref() != Some(&written) {
            let updated = self.write_status(&sctx.key, &sctx.job).await?;
            sctx.job.metadata.resource_version = updated.metadata.resource_version.clone();
            written = sctx.job.status.clone().unwrap_or_default();
            self.backoff.lock().unwrap_or_else(|e| e.into_inner()).insert(sctx.key.clone(), sctx.new_backoff.clone());
        }
        let mut rm_err = None;
        if !to_remove.is_empty() {
            self.expect(&sctx.key, |e| e.rm_finalizers.extend(to_remove.iter().map(|p| uid(p).to_string())));
            let results = futures::future::join_all(to_remove.iter().map(|p| self.remove_finalizer(p))).await;
            for (p, r) in to_remove.iter().zip(results) {
                match r {
                    Ok(_) => {
                        with_finalizer.remove(uid(p));
                    }
                    Err(e) => {
                        self.exp().get_mut(&sctx.key).map(|x| x.rm_finalizers.remove(uid(p)));
                        if rm_err.is_none() {
                            rm_err = Some(Error::Api { action: "removing a pod's tracking finalizer", job: sctx.key.clone(), source: e });
                        }
                    }
                }
            }
        }
        let status = sctx.job.status.get_or_insert_with(JobStatus::default);
        clean_uncounted(status, &with_finalizer);
        if let Some(e) = rm_err {
            normalize(status);
            if sctx.job.status.as_ref() != Some(&written) {
                self.write_status(&sctx.key, &sctx.job).await?;
            }
            return Err(e);
        }
        // enactJobFinished: the terminal condition waits for every pod to be counted and gone.
        let mut finished_now = None;
        if let (false, Some(f)) = (reached_max, sctx.finished.clone()) {
            let unc = status.uncounted_terminated_pods.as_ref();
            let uncounted = unc.map_or(0, |u| u.succeeded.as_ref().map_or(0, Vec::len) + u.failed.as_ref().map_or(0, Vec::len));
            if uncounted == 0 && sctx.terminating == 0 {
                let conds = status.conditions.get_or_insert_with(Vec::new);
                ensure_condition(conds, f.clone());
                if f.type_ == "Complete" {
                    status.completion_time = f.last_transition_time.clone();
                }
                finished_now = Some(f);
            }
        }
        normalize(status);
        if sctx.job.status.as_ref() != Some(&written) {
            self.write_status(&sctx.key, &sctx.job).await?;
            if let Some(f) = finished_now {
                if f.type_ == "Complete" {
                    let st = sctx.job.status.as_ref();
                    if let (Some(c), Some(s)) = (completions(&sctx.job), st.and_then(|s| s.succeeded)) {
                        if s > c {
                            self.recorder.warning(&sctx.job, "TooManySucceededPods", "Too many succeeded pods running after completion count reached");
                        }
                    }
                    self.recorder.normal(&sctx.job, "Completed", "Job completed");
                } else {
                    self.recorder.warning(&sctx.job, f.reason.as_deref().unwrap_or(""), f.message.clone().unwrap_or_default());
                }
            }
        }
        Ok(())
    }

    async fn write_status(&self, key: &ObjectKey, job: &Job) -> Result<Job, Error> {
        let api = self.client.api::<Job>(key.ns()).map_err(api_err("updating the status", key))?;
        api.replace_status(&key.name, job).await.map_err(api_err("updating the status", key))
    }
}

/// Empty uncounted lists are written as `{}`, as the API server returns them.
fn normalize(status: &mut JobStatus) {
    let unc = status.uncounted_terminated_pods.get_or_insert_with(UncountedTerminatedPods::default);
    if unc.succeeded.as_ref().is_some_and(Vec::is_empty) {
        unc.succeeded = None;
    }
    if unc.failed.as_ref().is_some_and(Vec::is_empty) {
        unc.failed = None;
    }
    if status.conditions.as_ref().is_some_and(Vec::is_empty) {
        status.conditions = None;
    }
    for f in [&mut status.succeeded, &mut status.failed] {
        if *f == Some(0) {
            *f = None;
        }
    }
    if status.active == Some(0) {
        status.active = None;
    }
}

/// cleanUncountedPodsWithoutFinalizers: uncounted pods whose finalizer is gone move to the
/// counters.
fn clean_uncounted(status: &mut JobStatus, with_finalizer: &HashSet<String>) -> bool {
    let mut changed = false;
    let unc = status.uncounted_terminated_pods.get_or_insert_with(UncountedTerminatedPods::default);
    let mut moved_s = 0;
    if let Some(list) = unc.succeeded.as_mut() {
        let before = list.len();
        list.retain(|u| with_finalizer.contains(u));
        moved_s = (before - list.len()) as i32;
    }
    let mut moved_f = 0;
    if let Some(list) = unc.failed.as_mut() {
        let before = list.len();
        list.retain(|u| with_finalizer.contains(u));
        moved_f = (before - list.len()) as i32;
    }
    if moved_s > 0 {
        status.succeeded = Some(status.succeeded.unwrap_or(0) + moved_s);
        changed = true;
    }
    if moved_f > 0 {
        status.failed = Some(status.failed.unwrap_or(0) + moved_f);
        changed = true;
    }
    changed
}

/// matchPodFailurePolicy: the first rule a failed pod matches decides; returns the FailJob
/// message (if that is the action) and whether the failure counts towards the backoff limit.
fn match_pod_failure_policy(job: &Job, pod: &Pod) -> (Option<String>, bool) {
    let Some(policy) = job.spec.as_ref().and_then(|s| s.pod_failure_policy.as_ref()) else { return (None, true) };
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod_name(pod);
    let st = pod.status.as_ref();
    for (index, rule) in policy.rules.iter().enumerate() {
        let matched: Option<String> = if let Some(req) = &rule.on_exit_codes {
            let lists = [st.and_then(|s| s.container_statuses.as_ref()), st.and_then(|s| s.init_container_statuses.as_ref())];
            lists.into_iter().flatten().flatten().find_map(|cs| {
                let code = cs.state.as_ref()?.terminated.as_ref()?.exit_code;
                if code == 0 || req.container_name.as_ref().is_some_and(|n| *n != cs.name) {
                    return None;
                }
                let listed = req.values.contains(&code);
                let hit = if req.operator == "NotIn" { !listed } else { listed };
                hit.then(|| {
                    format!(
                        "Container {} for pod {ns}/{name} failed with exit code {code} matching {} rule at index {index}",
                        cs.name, rule.action
                    )
                })
            })
        } else if let Some(patterns) = &rule.on_pod_conditions {
            st.and_then(|s| s.conditions.as_ref()).into_iter().flatten().find_map(|c| {
                patterns.iter().any(|p| p.type_ == c.type_ && p.status == c.status).then(|| {
                    format!("Pod {ns}/{name} has condition {} matching {} rule at index {index}", c.type_, rule.action)
                })
            })
        } else {
            None
        };
        let Some(msg) = matched else { continue };
        match rule.action.as_str() {
            "Ignore" => return (None, false),
            "Count" | "FailIndex" => return (None, true),
            "FailJob" => return (Some(msg), true),
            _ => {}
        }
    }
    (None, true)
}

/// getFailJobMessage: the FailJob message of the first failed pod a rule fails the Job for.
fn fail_job_message(job: &Job, pods: &[Arc<Pod>]) -> Option<String> {
    job.spec.as_ref()?.pod_failure_policy.as_ref()?;
    pods.iter().filter(|p| is_pod_failed(p, job)).find_map(|p| match_pod_failure_policy(job, p).0)
}

/// pastBackoffLimitOnFailure: container restarts of running pods, for restartPolicy OnFailure.
fn past_backoff_limit_on_failure(job: &Job, pods: &[Arc<Pod>]) -> bool {
    let policy = job.spec.as_ref().and_then(|s| s.template.spec.as_ref()).and_then(|s| s.restart_policy.as_deref());
    if policy != Some("OnFailure") {
        return false;
    }
    let mut restarts = 0;
    for p in pods {
        if matches!(phase(p), "Running" | "Pending") {
            let st = p.status.as_ref();
            for cs in st.and_then(|s| s.init_container_statuses.as_ref()).into_iter().chain(st.and_then(|s| s.container_statuses.as_ref())) {
                restarts += cs.iter().map(|c| c.restart_count).sum::<i32>();
            }
        }
    }
    let limit = backoff_limit(job);
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

/// activePodsForRemoval: for Indexed Jobs first the pods with a bad or repeated index, then
/// the earliest in their lifecycle.
fn active_pods_for_removal(job: &Job, pods: &[Arc<Pod>], at_least: usize) -> Vec<Arc<Pod>> {
    let mut rm: Vec<Arc<Pod>> = Vec::new();
    let mut left: Vec<Arc<Pod>> = Vec::new();
    if indexed(job) {
        let c = completions(job).unwrap_or(0);
        let mut by_index: HashMap<i32, Vec<Arc<Pod>>> = HashMap::new();
        for p in pods {
            match valid_index(p, c) {
                None => rm.push(p.clone()),
                Some(ix) => by_index.entry(ix).or_default().push(p.clone()),
            }
        }
        let mut ixs: Vec<i32> = by_index.keys().copied().collect();
        ixs.sort();
        for ix in ixs {
            let mut group = by_index.remove(&ix).unwrap_or_default();
            group.sort_by(|a, b| removal_order(a, b));
            let keep = group.pop();
            rm.extend(group);
            left.extend(keep);
        }
    } else {
        left = pods.to_vec();
    }
    if rm.len() < at_least {
        left.sort_by(|a, b| removal_order(a, b));
        let n = (at_least - rm.len()).min(left.len());
        rm.extend(left.into_iter().take(n));
    }
    rm
}

/// firstPendingIndexes: the lowest indexes neither succeeded nor held by an active pod.
fn first_pending_indexes(job: &Job, active: &[Arc<Pod>], succeeded: &BTreeSet<i32>, count: usize) -> Vec<i32> {
    let c = completions(job).unwrap_or(0);
    let held: HashSet<i32> = active.iter().filter_map(|p| valid_index(p, c)).collect();
    (0..c).filter(|i| !succeeded.contains(i) && !held.contains(i)).take(count).collect()
}

/// addCompletionIndexEnvVariables: JOB_COMPLETION_INDEX from the pod's annotation.
fn add_completion_index_env(template: &mut PodTemplateSpec) {
    let Some(spec) = template.spec.as_mut() else { return };
    let var = EnvVar {
        name: COMPLETION_INDEX_ENV.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: format!("metadata.annotations['{COMPLETION_INDEX_KEY}']"),
            }),
            ..Default::default()
        }),
    };
    for c in spec.init_containers.iter_mut().flatten().chain(spec.containers.iter_mut()) {
        let env = c.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.name == COMPLETION_INDEX_ENV) {
            env.push(var.clone());
        }
    }
}

/// A pod for the Job: `<job>-` (Indexed: `<job>-<index>-`) plus a random suffix, the
/// completion index annotation, label and hostname for Indexed Jobs.
fn pod_for(template: &PodTemplateSpec, owner: &k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference, ns: &str, job: &str, index: Option<i32>) -> Pod {
    let generate = match index {
        Some(ix) => format!("{job}-{ix}-"),
        None => format!("{job}-"),
    };
    let mut pod = super::pods::pod_from_template(template, owner.clone(), ns, &generate);
    if let Some(ix) = index {
        pod.metadata.annotations.get_or_insert_with(Default::default).insert(COMPLETION_INDEX_KEY.to_string(), ix.to_string());
        pod.metadata.labels.get_or_insert_with(Default::default).insert(COMPLETION_INDEX_KEY.to_string(), ix.to_string());
        if let Some(spec) = pod.spec.as_mut() {
            spec.hostname = Some(format!("{job}-{ix}"));
        }
    }
    pod
}

// ---- TTL after finished ----

/// The TTL-after-finished controller: deletes finished Jobs `ttlSecondsAfterFinished` after
/// they finished, in the background (their pods go with the garbage collector).
#[derive(Clone)]
pub struct TtlController {
    client: Client,
    jobs: Reader<Job>,
    clock: Clock,
}

impl TtlController {
    pub fn new(client: Client, jobs: Reader<Job>, clock: Clock) -> TtlController {
        TtlController { client, jobs, clock }
    }

    /// When the Job expires, if it has a TTL and has finished.
    fn expires_at(job: &Job) -> Option<jiff::Timestamp> {
        let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
        if job.metadata.deletion_timestamp.is_some() {
            return None;
        }
        let done = finish_time(job)?;
        done.checked_add(jiff::SignedDuration::from_secs(i64::from(ttl))).ok()
    }

    pub async fn sync(&self, key: ObjectKey) -> Result<Action, Error> {
        let Some(job) = self.jobs.get(key.ns(), &key.name) else { return Ok(Action::Done) };
        let Some(at) = Self::expires_at(&job) else { return Ok(Action::Done) };
        let now = self.clock.now();
        if at > now {
            return Ok(Action::RequeueAfter(since(at, now).max(Duration::from_millis(1))));
        }
        // Check the live object, not the cache, before deleting.
        let api = self.client.api::<Job>(key.ns()).map_err(api_err("reading", &key))?;
        let Some(fresh) = api.get_opt(&key.name).await.map_err(api_err("reading", &key))? else { return Ok(Action::Done) };
        match Self::expires_at(&fresh) {
            Some(at) if at <= now => {}
            Some(at) => return Ok(Action::RequeueAfter(since(at, now).max(Duration::from_millis(1)))),
            None => return Ok(Action::Done),
        }
        let opts = DeleteOptions {
            precondition_uid: fresh.metadata.uid.clone(),
            propagation_policy: Some("Background".into()),
            ..Default::default()
        };
        tracing::info!(namespace = key.ns().unwrap_or(""), name = %key.name, "deleting a finished job past its TTL");
        match api.delete_with(&key.name, &opts).await {
            Ok(_) => Ok(Action::Done),
            Err(e) if e.is_not_found() => Ok(Action::Done),
            Err(e) => Err(Error::Api { action: "deleting", job: key, source: e }),
        }
    }
}

/// Runs the Job controller, its orphan-pod cleanup and the TTL-after-finished controller
/// until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    let (jobs_inf, pods_inf) = match (ctx.informers.get::<Job>(), ctx.informers.get::<Pod>()) {
        (Ok(j), Ok(p)) => (j, p),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "job controller: informers unavailable");
            return;
        }
    };
    let mut jobs = jobs_inf.reader();
    let mut pods = pods_inf.reader();
    jobs.wait_synced().await;
    pods.wait_synced().await;
    let clock = Clock::system();
    let queue = Queue::new();
    let orphans = Queue::new();
    let ttl_queue = Queue::new();
    let jc = JobController::new(ctx.client.clone(), ctx.recorder.clone(), jobs.clone(), pods.clone(), clock.clone());
    enqueue_from(&jobs_inf, queue.clone(), ctx.stop.clone(), super::runtime::self_key);
    enqueue_from(&jobs_inf, ttl_queue.clone(), ctx.stop.clone(), super::runtime::self_key);
    {
        let jc = jc.clone();
        let orphans = orphans.clone();
        enqueue_from(&pods_inf, queue.clone(), ctx.stop.clone(), move |p: &Pod| jc.pod_keys(p, &orphans));
    }
    let ttl = TtlController::new(ctx.client.clone(), jobs.clone(), clock.clone());
    let j1 = jc.clone();
    let j2 = jc.clone();
    tokio::join!(
        run_queue("job-controller", queue, 4, ctx.stop.clone(), move |k| {
            let j = j1.clone();
            async move { j.sync(k).await }
        }),
        run_queue("job-orphan-pods", orphans, 1, ctx.stop.clone(), move |k| {
            let j = j2.clone();
            async move { j.sync_orphan(k).await }
        }),
        run_queue("ttl-after-finished-controller", ttl_queue, 2, ctx.stop.clone(), move |k| {
            let t = ttl.clone();
            async move { t.sync(k).await }
        }),
    );
}

#[cfg(test)]
pub(crate) mod tests;
