//! The CronJob controller (kube-controller-manager's cronjob controller v2): creates a Job
//! named `<cronjob>-<scheduled minutes since the epoch>` at each scheduled time, honours
//! concurrencyPolicy, startingDeadlineSeconds, suspend and the history limits, and keeps
//! status.active, lastScheduleTime and lastSuccessfulTime. Decisions read an injectable clock.

pub mod schedule;

use super::events::Recorder;
use super::job::{is_finished, Clock};
use super::pods::controller_of;
use super::runtime::{enqueue_from, run as run_queue, Action, Context, ObjectKey, Queue};
use crate::client::{Client, DeleteOptions, Reader};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use schedule::Schedule;
use std::sync::Arc;
use std::time::Duration;

pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// nextScheduleDelta: requeues land this long after the scheduled time.
const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);
/// More missed schedules than this are reported as TooManyMissedTimes.
const MANY_MISSED: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} for cronjob {cronjob}: {source}")]
    Api { action: &'static str, cronjob: ObjectKey, #[source] source: Box<crate::client::Error> },
    #[error("could not replace job {job} of cronjob {cronjob}")]
    Replace { cronjob: ObjectKey, job: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Missed {
    None,
    Few,
    Many,
}

fn ts(t: &Option<Time>) -> Option<Timestamp> {
    t.as_ref().map(|t| t.0)
}

fn secs(d: jiff::SignedDuration) -> i64 {
    d.as_secs()
}

fn to_std(d: jiff::SignedDuration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

/// mostRecentScheduleTime: (earliest time considered, the most recent unmet schedule at or
/// before `now`, how many were missed). Err for a schedule that never repeats.
fn most_recent_schedule_time(
    cj: &CronJob,
    now: Timestamp,
    sched: &Schedule,
    include_deadline: bool,
) -> Result<(Timestamp, Option<Timestamp>, Missed), String> {
    let status = cj.status.as_ref();
    let mut earliest = ts(&cj.metadata.creation_timestamp).unwrap_or(now);
    if let Some(last) = status.and_then(|s| ts(&s.last_schedule_time)) {
        earliest = last;
    }
    if include_deadline {
        if let Some(sds) = cj.spec.as_ref().and_then(|s| s.starting_deadline_seconds) {
            let deadline = now.checked_sub(jiff::SignedDuration::from_secs(sds)).unwrap_or(now);
            if deadline > earliest {
                earliest = deadline;
            }
        }
    }
    let Some(t1) = sched.next(earliest) else { return Ok((earliest, None, Missed::None)) };
    if now < t1 {
        return Ok((earliest, None, Missed::None));
    }
    let Some(t2) = sched.next(t1) else { return Ok((earliest, Some(t1), Missed::None)) };
    if now < t2 {
        return Ok((earliest, Some(t1), Missed::None));
    }
    let between = secs(t2.duration_since(t1));
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".into());
    }
    let elapsed = secs(now.duration_since(t1));
    let missed_n = elapsed / between + 1;
    let potential = t1
        .checked_add(jiff::SignedDuration::from_secs((missed_n - 2) * between))
        .unwrap_or(t1);
    let mut most_recent = None;
    let mut t = sched.next(potential);
    while let Some(x) = t {
        if x > now {
            break;
        }
        most_recent = Some(x);
        t = sched.next(x);
    }
    let missed = if missed_n > MANY_MISSED { Missed::Many } else { Missed::Few };
    Ok((earliest, most_recent, missed))
}

/// nextScheduleTimeDuration: how long until the next schedule (plus a small delta).
fn next_schedule_duration(cj: &CronJob, now: Timestamp, sched: &Schedule) -> Duration {
    let base = match most_recent_schedule_time(cj, now, sched, false) {
        Err(_) => now,
        Ok((_, Some(t), _)) => t,
        Ok((earliest, None, Missed::None)) => earliest,
        Ok((_, None, _)) => now,
    };
    match sched.next(base) {
        Some(next) => to_std(next.duration_since(now)) + NEXT_SCHEDULE_DELTA,
        // A schedule that never fires again: look again in a day.
        None => Duration::from_secs(24 * 3600),
    }
}

/// The Job for one scheduled time: the template's labels, annotations and spec, the
/// scheduled-timestamp annotation (in the CronJob's time zone), and the controller reference.
pub fn job_from_template(cj: &CronJob, scheduled: Timestamp, tz: &TimeZone) -> Job {
    let name = cj.metadata.name.clone().unwrap_or_default();
    let template = cj.spec.as_ref().map(|s| s.job_template.clone()).unwrap_or_default();
    let tm = template.metadata.unwrap_or_default();
    let mut annotations = tm.annotations.unwrap_or_default();
    let zoned = scheduled.to_zoned(tz.clone());
    annotations.insert(SCHEDULED_TIMESTAMP_ANNOTATION.to_string(), rfc3339(&zoned));
    Job {
        metadata: ObjectMeta {
            name: Some(format!("{name}-{}", scheduled.as_second().div_euclid(60))),
            namespace: cj.metadata.namespace.clone(),
            labels: tm.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![super::pods::controller_ref(cj)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// Go's time.RFC3339: `2006-01-02T15:04:05Z07:00`.
fn rfc3339(z: &jiff::Zoned) -> String {
    let off = z.offset().seconds();
    let base = z.datetime().strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if off == 0 {
        format!("{base}Z")
    } else {
        let sign = if off < 0 { '-' } else { '+' };
        let a = off.abs();
        format!("{base}{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
    }
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        namespace: job.metadata.namespace.clone(),
        name: job.metadata.name.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        field_path: None,
    }
}

fn finished_type(job: &Job) -> Option<&'static str> {
    let conds = job.status.as_ref()?.conditions.as_ref()?;
    conds.iter().find_map(|c| match (c.type_.as_str(), c.status.as_str()) {
        ("Complete", "True") => Some("Complete"),
        ("Failed", "True") => Some("Failed"),
        _ => None,
    })
}

/// The CronJob controller's shared state.
#[derive(Clone)]
pub struct CronJobController {
    client: Client,
    recorder: Recorder,
    cronjobs: Reader<CronJob>,
    jobs: Reader<Job>,
    clock: Clock,
    /// The zone of schedules without spec.timeZone (the controller manager's own).
    local: TimeZone,
}

impl CronJobController {
    pub fn new(client: Client, recorder: Recorder, cronjobs: Reader<CronJob>, jobs: Reader<Job>, clock: Clock, local: TimeZone) -> Self {
        CronJobController { client, recorder: recorder.for_component("cronjob-controller", None), cronjobs, jobs, clock, local }
    }

    /// The CronJob a Job event concerns.
    fn job_keys(job: &Job) -> Vec<ObjectKey> {
        match controller_of(&job.metadata) {
            Some(r) if r.kind == "CronJob" => vec![ObjectKey::new(job.metadata.namespace.as_deref(), &r.name)],
            _ => Vec::new(),
        }
    }

    fn jobs_of(&self, cj: &CronJob) -> Vec<Arc<Job>> {
        let uid = cj.metadata.uid.as_deref().unwrap_or("");
        let mut v: Vec<Arc<Job>> = self
            .jobs
            .list()
            .into_iter()
            .filter(|j| j.metadata.namespace == cj.metadata.namespace)
            .filter(|j| controller_of(&j.metadata).is_some_and(|r| r.uid == uid))
            .collect();
        v.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        v
    }

    fn api<K: k8s_openapi::Resource>(&self, key: &ObjectKey) -> Result<crate::client::Api<K>, Error> {
        self.client.api::<K>(key.ns()).map_err(|source| Error::Api { action: "opening the API", cronjob: key.clone(), source: Box::new(source) })
    }

    /// Deletes a Job in the background and drops it from the active list.
    async fn delete_job(&self, key: &ObjectKey, cj: &mut CronJob, job: &Job) -> bool {
        let Ok(api) = self.api::<Job>(key) else { return false };
        let name = job.metadata.name.clone().unwrap_or_default();
        let opts = DeleteOptions { propagation_policy: Some("Background".into()), ..Default::default() };
        match api.delete_with(&name, &opts).await {
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                self.recorder.warning(&*cj, "FailedDelete", format!("Deleted job: {e}"));
                return false;
            }
        }
        remove_active(cj, job.metadata.uid.as_deref().unwrap_or(""));
        self.recorder.normal(&*cj, "SuccessfulDelete", format!("Deleted job {name}"));
        true
    }

    /// sync: cleans up finished Jobs past the history limits, then syncCronJob; writes the
    /// status when it changed; returns when to look again.
    pub async fn sync(&self, key: ObjectKey) -> Result<Action, Error> {
        let Some(cached) = self.cronjobs.get(key.ns(), &key.name) else { return Ok(Action::Done) };
        let jobs = self.jobs_of(&cached);
        let mut cj = (*cached).clone();
        self.cleanup_finished_jobs(&key, &mut cj, &jobs).await;
        let outcome = self.sync_cronjob(&key, &mut cj, &jobs).await;
        if cj.status != cached.status {
            let api = self.api::<CronJob>(&key)?;
            api.replace_status(&key.name, &cj)
                .await
                .map_err(|source| Error::Api { action: "updating the status", cronjob: key.clone(), source: Box::new(source) })?;
        }
        match outcome? {
            Some(d) => Ok(Action::RequeueAfter(d)),
            None => Ok(Action::Done),
        }
    }

    /// cleanupFinishedJobs: keeps the newest successfulJobsHistoryLimit / failedJobsHistoryLimit.
    async fn cleanup_finished_jobs(&self, key: &ObjectKey, cj: &mut CronJob, jobs: &[Arc<Job>]) {
        let spec = cj.spec.clone().unwrap_or_default();
        if spec.successful_jobs_history_limit.is_none() && spec.failed_jobs_history_limit.is_none() {
            return;
        }
        let mut ok: Vec<&Arc<Job>> = jobs.iter().filter(|j| finished_type(j) == Some("Complete")).collect();
        let mut failed: Vec<&Arc<Job>> = jobs.iter().filter(|j| finished_type(j) == Some("Failed")).collect();
        for (list, limit) in [(&mut ok, spec.successful_jobs_history_limit), (&mut failed, spec.failed_jobs_history_limit)] {
            let Some(limit) = limit else { continue };
            let excess = list.len() as i64 - i64::from(limit);
            if excess <= 0 {
                continue;
            }
            // byJobStartTime: jobs without a start time last, ties by name.
            list.sort_by(|a, b| {
                let sa = a.status.as_ref().and_then(|s| ts(&s.start_time));
                let sb = b.status.as_ref().and_then(|s| ts(&s.start_time));
                match (sa, sb) {
                    (Some(x), Some(y)) => x.cmp(&y).then(a.metadata.name.cmp(&b.metadata.name)),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => a.metadata.name.cmp(&b.metadata.name),
                }
            });
            for j in list.iter().take(excess as usize) {
                self.delete_job(key, cj, j).await;
            }
        }
    }

    /// syncCronJob: reconciles the active list with the Jobs, then starts the Job of the most
    /// recent unmet schedule if policy allows. Returns when to requeue.
    async fn sync_cronjob(&self, key: &ObjectKey, cj: &mut CronJob, jobs: &[Arc<Job>]) -> Result<Option<Duration>, Error> {
        let now = self.clock.now();
        let mut children = std::collections::HashSet::new();
        for j in jobs {
            let juid = j.metadata.uid.clone().unwrap_or_default();
            children.insert(juid.clone());
            let found = in_active(cj, &juid);
            let jname = j.metadata.name.clone().unwrap_or_default();
            if !found && !is_finished(j) {
                // Maybe our own status update is not in the cache yet.
                if let Ok(Some(fresh)) = self.api::<CronJob>(key)?.get_opt(&key.name).await {
                    if in_active(&fresh, &juid) {
                        *cj = fresh;
                        continue;
                    }
                }
                self.recorder.warning(&*cj, "UnexpectedJob", format!("Saw a job that the controller did not create or forgot: {jname}"));
            } else if found && is_finished(j) {
                let status = finished_type(j).unwrap_or("");
                remove_active(cj, &juid);
                self.recorder.normal(&*cj, "SawCompletedJob", format!("Saw completed job: {jname}, status: {status}"));
            } else if finished_type(j) == Some("Complete") {
                let done = j.status.as_ref().and_then(|s| ts(&s.completion_time));
                let st = cj.status.get_or_insert_with(CronJobStatus::default);
                if let Some(done) = done {
                    if ts(&st.last_successful_time).is_none_or(|l| done > l) {
                        st.last_successful_time = Some(Time(done));
                    }
                }
            }
        }
        // Active references whose Job is gone.
        let active: Vec<ObjectReference> = cj.status.as_ref().and_then(|s| s.active.clone()).unwrap_or_default();
        for r in active {
            let ruid = r.uid.clone().unwrap_or_default();
            if children.contains(&ruid) {
                continue;
            }
            let name = r.name.clone().unwrap_or_default();
            match self.api::<Job>(key)?.get_opt(&name).await {
                Ok(None) => {
                    self.recorder.normal(&*cj, "MissingJob", format!("Active job went missing: {name}"));
                    remove_active(cj, &ruid);
                }
                Ok(Some(_)) => {}
                Err(source) => return Err(Error::Api { action: "reading an active job", cronjob: key.clone(), source: Box::new(source) }),
            }
        }
        if cj.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let spec = cj.spec.clone().unwrap_or_default();
        let tz = match spec.time_zone.as_deref() {
            Some(name) => match schedule::load_location(name) {
                Ok(tz) => tz,
                Err(e) => {
                    self.recorder.warning(&*cj, "UnknownTimeZone", format!("invalid timeZone: {name:?}: {e}"));
                    return Ok(None);
                }
            },
            None => self.local.clone(),
        };
        if spec.suspend == Some(true) {
            return Ok(None);
        }
        if spec.schedule.contains("TZ") {
            self.recorder.warning(
                &*cj,
                "UnsupportedSchedule",
                format!("CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", spec.schedule),
            );
        }
        let sched = match Schedule::parse(&spec.schedule, Some(tz.clone())) {
            Ok(s) => s,
            Err(e) => {
                self.recorder.warning(&*cj, "UnparseableSchedule", format!("unparseable schedule: {:?} : {e}", spec.schedule));
                return Ok(None);
            }
        };
        let scheduled = match most_recent_schedule_time(cj, now, &sched, true) {
            Err(e) => {
                self.recorder.warning(&*cj, "InvalidSchedule", format!("invalid schedule: {} : {e}", spec.schedule));
                return Ok(None);
            }
            Ok((_, None, _)) => return Ok(Some(next_schedule_duration(cj, now, &sched))),
            Ok((_, Some(t), missed)) => {
                if missed == Missed::Many {
                    self.recorder.warning(
                        &*cj,
                        "TooManyMissedTimes",
                        "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
                    );
                }
                t
            }
        };
        if let Some(sds) = spec.starting_deadline_seconds {
            let too_late = scheduled.checked_add(jiff::SignedDuration::from_secs(sds)).is_ok_and(|t| t < now);
            if too_late {
                self.recorder.warning(
                    &*cj,
                    "MissSchedule",
                    format!("Missed scheduled time to start a job: {}", scheduled.strftime("%a, %d %b %Y %H:%M:%S %z")),
                );
                return Ok(Some(next_schedule_duration(cj, now, &sched)));
            }
        }
        let job_req = job_from_template(cj, scheduled, &tz);
        let job_name = job_req.metadata.name.clone().unwrap_or_default();
        let st = cj.status.clone().unwrap_or_default();
        let already = st.active.iter().flatten().any(|r| r.name.as_deref() == Some(job_name.as_str()))
            || ts(&st.last_schedule_time) == Some(scheduled);
        if already {
            return Ok(Some(next_schedule_duration(cj, now, &sched)));
        }
        let policy = spec.concurrency_policy.as_deref().unwrap_or("Allow");
        let active_n = st.active.as_ref().map_or(0, Vec::len);
        if policy == "Forbid" && active_n > 0 {
            self.recorder.normal(&*cj, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid");
            return Ok(Some(next_schedule_duration(cj, now, &sched)));
        }
        if policy == "Replace" {
            for r in st.active.iter().flatten() {
                let name = r.name.clone().unwrap_or_default();
                let job = match self.api::<Job>(key)?.get(&name).await {
                    Ok(j) => j,
                    Err(source) => {
                        self.recorder.warning(&*cj, "FailedGet", format!("Get job: {source}"));
                        return Err(Error::Api { action: "reading an active job", cronjob: key.clone(), source: Box::new(source) });
                    }
                };
                if !self.delete_job(key, cj, &job).await {
                    return Err(Error::Replace { cronjob: key.clone(), job: name });
                }
            }
        }
        let api = self.api::<Job>(key)?;
        let created = match api.create(&job_req).await {
            Ok(j) => {
                self.recorder.normal(&*cj, "SuccessfulCreate", format!("Created job {job_name}"));
                j
            }
            Err(e) if e.code() == 409 => {
                let existing = api
                    .get(&job_name)
                    .await
                    .map_err(|source| Error::Api { action: "reading an existing job", cronjob: key.clone(), source: Box::new(source) })?;
                let ours = controller_of(&existing.metadata).is_some_and(|r| Some(&r.uid) == cj.metadata.uid.as_ref());
                if !ours || in_active(cj, existing.metadata.uid.as_deref().unwrap_or("")) {
                    return Ok(None);
                }
                existing
            }
            Err(e) if super::replicaset::namespace_terminating(&e) => {
                return Err(Error::Api { action: "creating a job", cronjob: key.clone(), source: Box::new(e) });
            }
            Err(e) => {
                self.recorder.warning(&*cj, "FailedCreate", format!("Error creating job: {e}"));
                return Err(Error::Api { action: "creating a job", cronjob: key.clone(), source: Box::new(e) });
            }
        };
        let st = cj.status.get_or_insert_with(CronJobStatus::default);
        st.active.get_or_insert_with(Vec::new).push(job_ref(&created));
        st.last_schedule_time = Some(Time(scheduled));
        Ok(Some(next_schedule_duration(cj, now, &sched)))
    }
}

fn in_active(cj: &CronJob, uid: &str) -> bool {
    cj.status.as_ref().and_then(|s| s.active.as_ref()).is_some_and(|a| a.iter().any(|r| r.uid.as_deref() == Some(uid)))
}

fn remove_active(cj: &mut CronJob, uid: &str) {
    if let Some(status) = cj.status.as_mut() {
        if let Some(active) = status.active.as_mut() {
            active.retain(|r| r.uid.as_deref() != Some(uid));
            if active.is_empty() {
                status.active = None;
            }
        }
    }
}

/// Runs the CronJob controller until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    let (cj_inf, job_inf) = match (ctx.informers.get::<CronJob>(), ctx.informers.get::<Job>()) {
        (Ok(c), Ok(j)) => (c, j),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "cronjob controller: informers unavailable");
            return;
        }
    };
    let mut cronjobs = cj_inf.reader();
    let mut jobs = job_inf.reader();
    cronjobs.wait_synced().await;
    jobs.wait_synced().await;
    let queue = Queue::new();
    enqueue_from(&cj_inf, queue.clone(), ctx.stop.clone(), super::runtime::self_key);
    enqueue_from(&job_inf, queue.clone(), ctx.stop.clone(), CronJobController::job_keys);
    let c = CronJobController::new(ctx.client.clone(), ctx.recorder.clone(), cronjobs, jobs, Clock::system(), TimeZone::system());
    run_queue("cronjob-controller", queue, 2, ctx.stop.clone(), move |k| {
        let c = c.clone();
        async move { c.sync(k).await }
    })
    .await;
}

#[cfg(test)]
mod tests;
