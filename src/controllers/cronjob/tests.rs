//! The CronJob controller against a real in-process registry, its clock set by hand.

use super::*;
use crate::controllers::job::tests::settle;
use crate::controllers::runtime::Context;
use k8s_openapi::api::core::v1::{Event, Namespace};
use serde_json::json;
use tokio_util::sync::CancellationToken;

struct Harness {
    client: Client,
    cc: CronJobController,
    clock: Clock,
    jobs: Reader<Job>,
    cronjobs: Reader<CronJob>,
    _stop: tokio_util::sync::DropGuard,
}

async fn harness() -> Harness {
    let opts = crate::store::StoreOptions { history_revisions: 1_000_000, compaction_interval: Duration::from_secs(3600) };
    let store = crate::store::Store::open_with_backend(Arc::new(crate::store::recording::RecordingBackend::default()), opts)
        .expect("store over the recording backend");
    let client = Client::new(crate::registry::generic::Registry::new(store), "kube-controller-manager");
    let ns = Namespace { metadata: ObjectMeta { name: Some("default".into()), ..Default::default() }, ..Default::default() };
    client.api::<Namespace>(None).unwrap().create(&ns).await.expect("namespace default");
    let stop = CancellationToken::new();
    let ctx = Context::new(client.clone(), stop.clone());
    let cronjobs = ctx.informers.synced_reader::<CronJob>().await.unwrap();
    let jobs = ctx.informers.synced_reader::<Job>().await.unwrap();
    // Creation timestamps come from the real clock; the controller's starts there.
    let clock = Clock::manual(Timestamp::now());
    let cc = CronJobController::new(client.clone(), ctx.recorder.clone(), cronjobs.clone(), jobs.clone(), clock.clone(), TimeZone::UTC);
    Harness { client, cc, clock, jobs, cronjobs, _stop: stop.drop_guard() }
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new(Some("default"), name)
}

impl Harness {
    async fn create(&self, name: &str, spec: serde_json::Value) {
        let mut spec = spec;
        spec["jobTemplate"] = json!({"spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox"}]}}}});
        let cj: CronJob = serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})).unwrap();
        self.client.api::<CronJob>(Some("default")).unwrap().create(&cj).await.unwrap();
        settle().await;
    }

    async fn sync(&self, name: &str) -> Action {
        let a = self.cc.sync(key(name)).await.expect("sync");
        settle().await;
        a
    }

    /// Moves the clock to just after the next whole minute.
    fn next_minute(&self) -> Timestamp {
        let now = self.clock.now();
        let to = 60 - now.as_second().rem_euclid(60);
        self.clock.advance(Duration::from_secs(to as u64) + Duration::from_millis(500));
        Timestamp::from_second(self.clock.now().as_second() - self.clock.now().as_second().rem_euclid(60)).unwrap()
    }

    fn jobs_named(&self, prefix: &str) -> Vec<Arc<Job>> {
        let mut v: Vec<Arc<Job>> =
            self.jobs.list().into_iter().filter(|j| j.metadata.name.as_deref().is_some_and(|n| n.starts_with(prefix))).collect();
        v.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        v
    }

    fn status(&self, name: &str) -> CronJobStatus {
        self.cronjobs.get(Some("default"), name).unwrap().status.clone().unwrap_or_default()
    }

    /// Marks a Job finished as the Job controller would.
    async fn finish(&self, job: &Job, type_: &str) {
        let now = Time(self.clock.now());
        let interim = if type_ == "Complete" { "SuccessCriteriaMet" } else { "FailureTarget" };
        let cond = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now, "reason": "X", "message": "x"});
        let mut status = json!({"startTime": now, "conditions": [cond(interim), cond(type_)], "uncountedTerminatedPods": {}});
        if type_ == "Complete" {
            status["completionTime"] = json!(now);
            status["succeeded"] = json!(1);
        } else {
            status["failed"] = json!(1);
        }
        let mut j = job.clone();
        j.status = Some(serde_json::from_value(status).unwrap());
        self.client.api::<Job>(Some("default")).unwrap().replace_status(j.metadata.name.as_deref().unwrap(), &j).await.unwrap();
        settle().await;
    }

    async fn events(&self, want: &[&str]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for _ in 0..200 {
            settle().await;
            let (evs, _) = self.client.api::<Event>(Some("default")).unwrap().list(None).await.unwrap();
            out = evs.into_iter().map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default())).collect();
            if want.iter().all(|w| out.iter().any(|(r, _)| r == w)) {
                break;
            }
        }
        out
    }
}

#[tokio::test(start_paused = true)]
async fn an_every_minute_cronjob_creates_a_job_each_minute() {
    let h = harness().await;
    h.create("hello", json!({"schedule": "*/1 * * * *"})).await;
    let first = h.sync("hello").await;
    assert!(h.jobs_named("hello-").is_empty(), "nothing before the first minute");
    assert!(matches!(first, Action::RequeueAfter(d) if d <= Duration::from_millis(60_100)), "{first:?}");

    let at = h.next_minute();
    h.sync("hello").await;
    let jobs = h.jobs_named("hello-");
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    let name = format!("hello-{}", at.as_second() / 60);
    assert_eq!(job.metadata.name.as_deref(), Some(name.as_str()));
    let ann = job.metadata.annotations.clone().unwrap();
    assert_eq!(ann[SCHEDULED_TIMESTAMP_ANNOTATION], at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
    let owner = controller_of(&job.metadata).unwrap();
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("CronJob", "hello"));
    let st = h.status("hello");
    assert_eq!(st.active.as_ref().map(Vec::len), Some(1));
    assert_eq!(st.last_schedule_time.as_ref().map(|t| t.0), Some(at));

    // A second sync in the same minute creates nothing more.
    h.sync("hello").await;
    assert_eq!(h.jobs_named("hello-").len(), 1);

    h.finish(job, "Complete").await;
    h.sync("hello").await;
    // As upstream: the finished job leaves the active list first, then sets lastSuccessfulTime.
    h.sync("hello").await;
    let st = h.status("hello");
    assert!(st.active.is_none());
    assert!(st.last_successful_time.is_some());
    h.next_minute();
    h.sync("hello").await;
    assert_eq!(h.jobs_named("hello-").len(), 2);
    let events = h.events(&["SuccessfulCreate", "SawCompletedJob"]).await;
    assert!(events.contains(&("SuccessfulCreate".into(), format!("Created job {name}"))), "{events:?}");
    assert!(events.contains(&("SawCompletedJob".into(), format!("Saw completed job: {name}, status: Complete"))), "{events:?}");
}

#[tokio::test(start_paused = true)]
async fn forbid_skips_and_replace_deletes_the_running_job() {
    let h = harness().await;
    h.create("fb", json!({"schedule": "* * * * *", "concurrencyPolicy": "Forbid"})).await;
    h.create("rp", json!({"schedule": "* * * * *", "concurrencyPolicy": "Replace"})).await;
    h.next_minute();
    h.sync("fb").await;
    h.sync("rp").await;
    let rp_first = h.jobs_named("rp-")[0].metadata.name.clone();
    h.next_minute();
    h.sync("fb").await;
    h.sync("rp").await;
    assert_eq!(h.jobs_named("fb-").len(), 1, "Forbid: no second job while one runs");
    let rp = h.jobs_named("rp-");
    assert_eq!(rp.len(), 1, "Replace: the old job is gone");
    assert_ne!(rp[0].metadata.name, rp_first);
    assert_eq!(h.status("rp").active.as_ref().map(Vec::len), Some(1));
    let events = h.events(&["JobAlreadyActive", "SuccessfulDelete"]).await;
    assert!(events.iter().any(|(r, m)| r == "SuccessfulDelete" && *m == format!("Deleted job {}", rp_first.clone().unwrap())), "{events:?}");
}

#[tokio::test(start_paused = true)]
async fn history_limits_delete_the_oldest_finished_jobs() {
    let h = harness().await;
    h.create("hl", json!({"schedule": "* * * * *", "successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1})).await;
    for outcome in ["Complete", "Complete", "Failed", "Failed"] {
        h.next_minute();
        h.sync("hl").await;
        let newest = h.jobs_named("hl-").last().unwrap().clone();
        h.finish(&newest, outcome).await;
        h.sync("hl").await;
    }
    h.sync("hl").await;
    let left: Vec<Option<&str>> = h.jobs_named("hl-").iter().map(|j| finished_type(j)).collect();
    assert_eq!(left, vec![Some("Complete"), Some("Failed")]);
}

#[tokio::test(start_paused = true)]
async fn suspended_cronjobs_start_nothing_and_many_missed_times_warn() {
    let h = harness().await;
    h.create("sus", json!({"schedule": "* * * * *", "suspend": true})).await;
    h.next_minute();
    assert_eq!(h.sync("sus").await, Action::Done);
    assert!(h.jobs_named("sus-").is_empty());

    h.create("late", json!({"schedule": "* * * * *"})).await;
    h.clock.advance(Duration::from_secs(200 * 60));
    h.sync("late").await;
    let jobs = h.jobs_named("late-");
    assert_eq!(jobs.len(), 1, "only the most recent missed time runs");
    let now = h.clock.now().as_second();
    assert_eq!(jobs[0].metadata.name.clone().unwrap(), format!("late-{}", now / 60));
    let events = h.events(&["TooManyMissedTimes"]).await;
    assert!(events.iter().any(|(r, m)| r == "TooManyMissedTimes"
        && m == "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"));
}

#[tokio::test(start_paused = true)]
async fn the_scheduled_timestamp_is_written_in_the_cronjobs_time_zone() {
    let h = harness().await;
    h.create("tz", json!({"schedule": "* * * * *", "timeZone": "Asia/Kolkata"})).await;
    h.next_minute();
    h.sync("tz").await;
    let job = &h.jobs_named("tz-")[0];
    let ann = &job.metadata.annotations.as_ref().unwrap()[SCHEDULED_TIMESTAMP_ANNOTATION];
    assert!(ann.ends_with("+05:30"), "{ann}");
}
