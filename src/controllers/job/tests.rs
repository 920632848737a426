//! The Job controller against a real in-process registry, under paused (virtual) time.

use super::*;
use crate::controllers::runtime::Context;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, Event, Namespace};
use tokio_util::sync::CancellationToken;

pub(crate) struct Harness {
    pub client: Client,
    pub jc: JobController,
    pub ttl: TtlController,
    pub clock: Clock,
    pub jobs: Reader<Job>,
    pub pods: Reader<Pod>,
    _stop: tokio_util::sync::DropGuard,
}

pub(crate) async fn harness() -> Harness {
    let opts = crate::store::StoreOptions { history_revisions: 1_000_000, compaction_interval: Duration::from_secs(3600) };
    let store = crate::store::Store::open_with_backend(Arc::new(crate::store::recording::RecordingBackend::default()), opts)
        .expect("store over the recording backend");
    let registry = crate::registry::generic::Registry::new(store);
    let client = Client::new(registry, "kube-controller-manager");
    let ns = Namespace { metadata: ObjectMeta { name: Some("default".into()), ..Default::default() }, ..Default::default() };
    client.api::<Namespace>(None).unwrap().create(&ns).await.expect("namespace default");
    let stop = CancellationToken::new();
    let ctx = Context::new(client.clone(), stop.clone());
    let jobs = ctx.informers.synced_reader::<Job>().await.unwrap();
    let pods = ctx.informers.synced_reader::<Pod>().await.unwrap();
    let clock = Clock::manual("2025-06-01T12:00:00Z".parse().unwrap());
    let jc = JobController::new(client.clone(), ctx.recorder.clone(), jobs.clone(), pods.clone(), clock.clone());
    let ttl = TtlController::new(client.clone(), jobs.clone(), clock.clone());
    Harness { client, jc, ttl, clock, jobs, pods, _stop: stop.drop_guard() }
}

/// Lets the informers catch up with the writes so far. The store's writer is a thread of its
/// own, so this waits in real time (and yields) rather than on tokio's paused clock.
pub(crate) async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
    tokio::task::yield_now().await;
}

/// Settles until `done` holds, for at most 20 s of real time (under load the informers can
/// lag the store's writer thread by more than one `settle`); whether it came to hold.
pub(crate) async fn settle_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        settle().await;
    }
    true
}

fn key(name: &str) -> ObjectKey {
    ObjectKey::new(Some("default"), name)
}

impl Harness {
    pub(crate) async fn create_job(&self, name: &str, spec: serde_json::Value) -> Job {
        let mut spec = spec;
        spec["template"] = json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}});
        let job: Job = serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})).unwrap();
        let created = self.client.api::<Job>(Some("default")).unwrap().create(&job).await.unwrap();
        settle().await;
        created
    }

    /// Syncs until the Job's state stops changing; returns the last outcome.
    async fn sync(&self, name: &str) -> Action {
        let mut last = Action::Done;
        for _ in 0..6 {
            last = self.jc.sync(key(name)).await.expect("sync");
            settle().await;
        }
        last
    }

    fn job(&self, name: &str) -> Arc<Job> {
        self.jobs.get(Some("default"), name).expect("job in cache")
    }

    fn status(&self, name: &str) -> JobStatus {
        self.job(name).status.clone().unwrap_or_default()
    }

    fn pods_of(&self, name: &str) -> Vec<Arc<Pod>> {
        let mut v: Vec<Arc<Pod>> = self
            .pods
            .list()
            .into_iter()
            .filter(|p| p.metadata.labels.as_ref().and_then(|l| l.get("job-name")).map(String::as_str) == Some(name))
            .collect();
        v.sort_by_key(|p| p.metadata.name.clone());
        v
    }

    fn active_pods(&self, name: &str) -> Vec<Arc<Pod>> {
        self.pods_of(name).into_iter().filter(|p| is_active(p)).collect()
    }

    /// Marks a pod finished as the kubelet would (phase, terminated container, Ready False).
    pub(crate) async fn finish(&self, pod: &Pod, phase: &str) {
        self.finish_with(pod, phase, if phase == "Succeeded" { 0 } else { 1 }, None).await
    }

    /// Finishes a pod with an exit code and, optionally, an extra True condition.
    pub(crate) async fn finish_with(&self, pod: &Pod, phase: &str, code: i32, condition: Option<&str>) {
        let now = Time(self.clock.now());
        let mut p = pod.clone();
        let st = p.status.get_or_insert_with(Default::default);
        st.phase = Some(phase.into());
        st.container_statuses = Some(vec![ContainerStatus {
            name: "c".into(),
            image: "busybox".into(),
            image_id: String::new(),
            ready: false,
            restart_count: 0,
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated { exit_code: code, finished_at: Some(now.clone()), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        }]);
        if let Some(c) = condition {
            st.conditions.get_or_insert_with(Vec::new).push(k8s_openapi::api::core::v1::PodCondition {
                type_: c.into(),
                status: "True".into(),
                last_transition_time: Some(now.clone()),
                ..Default::default()
            });
        }
        self.client.api::<Pod>(Some("default")).unwrap().replace_status(pod_name(pod), &p).await.unwrap();
        settle().await;
    }

    /// The events recorded so far, once every wanted reason is among them (or after a while).
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

fn conds(st: &JobStatus) -> Vec<(String, String, String)> {
    st.conditions
        .iter()
        .flatten()
        .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone().unwrap_or_default()))
        .collect()
}

fn c3(t: &str, s: &str, r: &str) -> (String, String, String) {
    (t.into(), s.into(), r.into())
}

#[tokio::test(start_paused = true)]
async fn a_job_runs_one_pod_to_complete() {
    let h = harness().await;
    h.create_job("pi", json!({})).await;
    h.sync("pi").await;
    let pods = h.pods_of("pi");
    assert_eq!(pods.len(), 1);
    let pod = &pods[0];
    let name = pod_name(pod);
    assert!(name.starts_with("pi-") && name.len() == "pi-".len() + 5, "{name}");
    assert!(has_finalizer(pod));
    let labels = pod.metadata.labels.clone().unwrap();
    assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
    assert_eq!(labels["batch.kubernetes.io/controller-uid"], h.job("pi").metadata.uid.clone().unwrap());
    let owner = controller_of(&pod.metadata).unwrap();
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.block_owner_deletion), ("Job", "pi", Some(true)));
    let st = h.status("pi");
    assert_eq!((st.active, st.ready, st.terminating), (Some(1), Some(0), Some(0)));
    assert!(st.start_time.is_some());
    assert_eq!(st.uncounted_terminated_pods, Some(UncountedTerminatedPods::default()));

    h.finish(pod, "Succeeded").await;
    h.sync("pi").await;
    let st = h.status("pi");
    assert_eq!(conds(&st), vec![
        c3("SuccessCriteriaMet", "True", "CompletionsReached"),
        c3("Complete", "True", "CompletionsReached")
    ]);
    assert_eq!(st.conditions.as_ref().unwrap()[1].message.as_deref(), Some("Reached expected number of succeeded pods"));
    assert_eq!((st.succeeded, st.failed, st.active), (Some(1), None, None));
    assert!(st.completion_time.is_some());
    assert_eq!(st.uncounted_terminated_pods, Some(UncountedTerminatedPods::default()));
    assert!(!has_finalizer(&h.pods_of("pi")[0]), "the finalizer is removed once counted");
    let events = h.events(&["SuccessfulCreate", "Completed"]).await;
    assert!(events.contains(&("SuccessfulCreate".into(), format!("Created pod: {name}"))), "{events:?}");
    assert!(events.contains(&("Completed".into(), "Job completed".into())), "{events:?}");
}

#[tokio::test(start_paused = true)]
async fn failed_pods_are_replaced_after_a_doubling_backoff_until_the_limit() {
    let h = harness().await;
    h.create_job("f", json!({"backoffLimit": 2})).await;
    h.sync("f").await;
    let first = h.active_pods("f");
    assert_eq!(first.len(), 1);
    h.finish(&first[0], "Failed").await;
    let action = h.sync("f").await;
    assert!(h.active_pods("f").is_empty(), "no replacement before the backoff");
    assert!(matches!(action, Action::RequeueAfter(d) if d <= POD_FAILURE_BACKOFF && d > Duration::from_secs(9)), "{action:?}");
    assert_eq!(h.status("f").failed, Some(1));
    h.clock.advance(Duration::from_secs(10));
    h.sync("f").await;
    let second = h.active_pods("f");
    assert_eq!(second.len(), 1, "replaced after 10 s");
    h.finish(&second[0], "Failed").await;
    let action = h.sync("f").await;
    assert!(matches!(action, Action::RequeueAfter(d) if d > Duration::from_secs(19)), "second failure waits 20 s: {action:?}");
    h.clock.advance(Duration::from_secs(20));
    h.sync("f").await;
    let third = h.active_pods("f");
    assert_eq!(third.len(), 1);
    h.finish(&third[0], "Failed").await;
    h.sync("f").await;
    let st = h.status("f");
    assert_eq!(conds(&st), vec![
        c3("FailureTarget", "True", "BackoffLimitExceeded"),
        c3("Failed", "True", "BackoffLimitExceeded")
    ]);
    assert_eq!(st.conditions.as_ref().unwrap()[1].message.as_deref(), Some("Job has reached the specified backoff limit"));
    assert_eq!((st.failed, st.succeeded, st.active), (Some(3), None, None));
    assert!(st.completion_time.is_none());
    let events = h.events(&["BackoffLimitExceeded"]).await;
    assert!(events.contains(&("BackoffLimitExceeded".into(), "Job has reached the specified backoff limit".into())), "{events:?}");
}

#[tokio::test(start_paused = true)]
async fn the_active_deadline_fails_the_job_and_deletes_its_pods() {
    let h = harness().await;
    h.create_job("d", json!({"activeDeadlineSeconds": 30, "parallelism": 2, "completions": 4})).await;
    let action = h.sync("d").await;
    assert_eq!(h.active_pods("d").len(), 2);
    assert!(matches!(action, Action::RequeueAfter(d) if d <= Duration::from_secs(30)), "{action:?}");
    h.clock.advance(Duration::from_secs(30));
    h.sync("d").await;
    let st = h.status("d");
    assert_eq!(conds(&st), vec![c3("FailureTarget", "True", "DeadlineExceeded"), c3("Failed", "True", "DeadlineExceeded")]);
    assert_eq!(st.conditions.as_ref().unwrap()[1].message.as_deref(), Some("Job was active longer than specified deadline"));
    assert_eq!((st.failed, st.active, st.terminating), (Some(2), None, Some(0)));
    assert!(h.pods_of("d").is_empty(), "active pods deleted");
}

#[tokio::test(start_paused = true)]
async fn parallelism_and_completions_bound_the_active_pods() {
    let h = harness().await;
    h.create_job("p", json!({"parallelism": 2, "completions": 3})).await;
    h.sync("p").await;
    let pods = h.active_pods("p");
    assert_eq!(pods.len(), 2);
    h.finish(&pods[0], "Succeeded").await;
    h.finish(&pods[1], "Succeeded").await;
    h.sync("p").await;
    let st = h.status("p");
    assert_eq!((st.succeeded, st.active), (Some(2), Some(1)), "only one completion left");
    let last = h.active_pods("p");
    h.finish(&last[0], "Succeeded").await;
    h.sync("p").await;
    let st = h.status("p");
    assert_eq!((st.succeeded, st.active), (Some(3), None));
    assert!(is_finished(&h.job("p")));
    // Scaling parallelism down deletes the surplus without counting failures.
    h.create_job("q", json!({"parallelism": 3, "completions": 10})).await;
    h.sync("q").await;
    assert_eq!(h.active_pods("q").len(), 3);
    let api = h.client.api::<Job>(Some("default")).unwrap();
    api.patch_merge("q", &json!({"spec": {"parallelism": 1}})).await.unwrap();
    settle().await;
    h.sync("q").await;
    assert_eq!(h.active_pods("q").len(), 1);
    assert_eq!(h.status("q").failed, None);
}

#[tokio::test(start_paused = true)]
async fn indexed_jobs_give_each_pod_an_index_and_track_completed_indexes() {
    let h = harness().await;
    h.create_job("ix", json!({"completionMode": "Indexed", "completions": 3, "parallelism": 3})).await;
    h.sync("ix").await;
    let pods = h.active_pods("ix");
    assert_eq!(pods.len(), 3);
    let mut seen = Vec::new();
    for p in &pods {
        let ix = completion_index(p).unwrap();
        seen.push(ix);
        assert!(pod_name(p).starts_with(&format!("ix-{ix}-")), "{}", pod_name(p));
        assert_eq!(p.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX_KEY], ix.to_string());
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(format!("ix-{ix}").as_str()));
        let env = spec.containers[0].env.as_ref().unwrap();
        let var = env.iter().find(|e| e.name == "JOB_COMPLETION_INDEX").unwrap();
        assert_eq!(
            var.value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path,
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        );
    }
    seen.sort();
    assert_eq!(seen, vec![0, 1, 2]);
    assert_eq!(h.status("ix").completed_indexes, None, "omitted while empty");
    let by_ix = |i: i32| pods.iter().find(|p| completion_index(p) == Some(i)).unwrap().clone();
    h.finish(&by_ix(1), "Succeeded").await;
    h.sync("ix").await;
    assert_eq!(h.status("ix").completed_indexes.as_deref(), Some("1"));
    h.finish(&by_ix(0), "Failed").await;
    h.sync("ix").await;
    h.clock.advance(Duration::from_secs(10));
    h.sync("ix").await;
    let replacement = h.active_pods("ix").into_iter().find(|p| completion_index(p) == Some(0)).expect("index 0 recreated");
    h.finish(&replacement, "Succeeded").await;
    h.finish(&by_ix(2), "Succeeded").await;
    h.sync("ix").await;
    let st = h.status("ix");
    assert_eq!(st.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!((st.succeeded, st.failed), (Some(3), Some(1)));
    assert!(is_finished(&h.job("ix")));
}

#[tokio::test(start_paused = true)]
async fn a_suspended_job_starts_nothing_until_resumed() {
    let h = harness().await;
    h.create_job("s", json!({"suspend": true, "parallelism": 2, "completions": 2})).await;
    h.sync("s").await;
    assert!(h.pods_of("s").is_empty());
    let st = h.status("s");
    assert!(st.start_time.is_none());
    assert_eq!(conds(&st), vec![c3("Suspended", "True", "JobSuspended")]);
    let api = h.client.api::<Job>(Some("default")).unwrap();
    api.patch_merge("s", &json!({"spec": {"suspend": false}})).await.unwrap();
    settle().await;
    h.sync("s").await;
    assert_eq!(h.active_pods("s").len(), 2);
    let st = h.status("s");
    assert_eq!(conds(&st), vec![c3("Suspended", "False", "JobResumed")]);
    assert!(st.start_time.is_some());
    // Suspending again deletes the running pods; they do not count as failures.
    api.patch_merge("s", &json!({"spec": {"suspend": true}})).await.unwrap();
    settle().await;
    h.sync("s").await;
    assert!(h.pods_of("s").is_empty());
    let st = h.status("s");
    assert_eq!((st.active, st.failed), (None, None));
    assert_eq!(conds(&st), vec![c3("Suspended", "True", "JobSuspended")]);
    let events = h.events(&["Suspended", "Resumed", "SuccessfulDelete"]).await;
    for reason in ["Suspended", "Resumed", "SuccessfulDelete"] {
        assert!(events.iter().any(|(r, _)| r == reason), "{reason}: {events:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn finished_jobs_are_deleted_after_their_ttl() {
    let h = harness().await;
    h.create_job("t", json!({"ttlSecondsAfterFinished": 100})).await;
    h.sync("t").await;
    assert_eq!(h.ttl.sync(key("t")).await.unwrap(), Action::Done, "not finished yet");
    h.finish(&h.active_pods("t")[0], "Succeeded").await;
    h.sync("t").await;
    assert!(is_finished(&h.job("t")));
    let action = h.ttl.sync(key("t")).await.unwrap();
    assert!(matches!(action, Action::RequeueAfter(d) if d > Duration::from_secs(99) && d <= Duration::from_secs(100)), "{action:?}");
    h.clock.advance(Duration::from_secs(100));
    assert_eq!(h.ttl.sync(key("t")).await.unwrap(), Action::Done);
    settle().await;
    assert!(h.jobs.get(Some("default"), "t").is_none(), "deleted");
}

#[tokio::test(start_paused = true)]
async fn orphaned_pods_lose_the_tracking_finalizer() {
    let h = harness().await;
    h.create_job("o", json!({})).await;
    assert!(settle_until(|| h.jobs.get(Some("default"), "o").is_some()).await, "the Job in the cache");
    h.sync("o").await;
    assert!(settle_until(|| h.active_pods("o").len() == 1).await, "one active pod");
    let pod = h.active_pods("o")[0].clone();
    assert!(has_finalizer(&pod));
    // Deleted in the background; the garbage collector (not running here) has not reached
    // the pod yet, whose owner is gone.
    let opts = DeleteOptions { propagation_policy: Some("Background".into()), ..Default::default() };
    h.client.api::<Job>(Some("default")).unwrap().delete_with("o", &opts).await.unwrap();
    assert!(settle_until(|| h.jobs.get(Some("default"), "o").is_none()).await, "the Job leaves the cache");
    h.jc.sync_orphan(ObjectKey::of(&pod.metadata)).await.unwrap();
    // The store has it at once; the cache once the informer catches up.
    let stored = h.client.api::<Pod>(Some("default")).unwrap().get(pod_name(&pod)).await.unwrap();
    assert!(!has_finalizer(&stored), "{:?}", stored.metadata.finalizers);
    let gone = settle_until(|| h.pods.get(Some("default"), pod_name(&pod)).is_some_and(|p| !has_finalizer(&p))).await;
    assert!(gone, "{:?}", h.pods.get(Some("default"), pod_name(&pod)).map(|p| p.metadata.finalizers.clone()));
}

#[tokio::test(start_paused = true)]
async fn the_pod_failure_policy_ignores_disruptions_and_fails_the_job_on_an_exit_code() {
    let h = harness().await;
    h.create_job("pf", json!({"podFailurePolicy": {"rules": [
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    ]}})).await;
    h.sync("pf").await;
    let first = h.active_pods("pf")[0].clone();
    h.finish_with(&first, "Failed", 1, Some("DisruptionTarget")).await;
    h.sync("pf").await;
    assert_eq!(h.status("pf").failed, None, "an ignored failure is not counted");
    h.clock.advance(Duration::from_secs(10));
    h.sync("pf").await;
    let second = h.active_pods("pf")[0].clone();
    h.finish_with(&second, "Failed", 42, None).await;
    h.sync("pf").await;
    let st = h.status("pf");
    assert_eq!(conds(&st), vec![c3("FailureTarget", "True", "PodFailurePolicy"), c3("Failed", "True", "PodFailurePolicy")]);
    assert_eq!(
        st.conditions.as_ref().unwrap()[1].message.clone().unwrap(),
        format!("Container c for pod default/{} failed with exit code 42 matching FailJob rule at index 0", pod_name(&second))
    );
    assert_eq!(st.failed, Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_work_queue_job_completes_when_its_pods_are_done_after_one_success() {
    let h = harness().await;
    h.create_job("wq", json!({"parallelism": 2})).await;
    h.sync("wq").await;
    let pods = h.active_pods("wq");
    assert_eq!(pods.len(), 2);
    h.finish(&pods[0], "Succeeded").await;
    h.sync("wq").await;
    assert_eq!(h.active_pods("wq").len(), 1, "no new pod after a success");
    assert!(!is_finished(&h.job("wq")), "waits for the other pod");
    h.finish(&pods[1], "Succeeded").await;
    h.sync("wq").await;
    assert_eq!(h.status("wq").succeeded, Some(2));
    assert!(is_finished(&h.job("wq")));
    // A Job another controller manages is left alone.
    h.create_job("ext", json!({"managedBy": "example.com/batch"})).await;
    h.sync("ext").await;
    assert!(h.pods_of("ext").is_empty());
}

#[test]
fn indexes_print_as_ranges() {
    let set: BTreeSet<i32> = [0, 1, 2, 4, 6, 7].into_iter().collect();
    assert_eq!(format_indexes(&set), "0-2,4,6-7");
    assert_eq!(parse_indexes("0-2,4,6-7", 7), [0, 1, 2, 4, 6].into_iter().collect());
    assert_eq!(format_indexes(&BTreeSet::new()), "");
}

#[test]
fn backoff_doubles_from_ten_seconds_to_six_minutes() {
    let t0: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
    let rec = |n| BackoffRecord { failures_after_last_success: n, last_failure: Some(t0) };
    assert_eq!(rec(1).remaining(t0), Duration::from_secs(10));
    assert_eq!(rec(2).remaining(t0), Duration::from_secs(20));
    assert_eq!(rec(4).remaining(t0), Duration::from_secs(80));
    assert_eq!(rec(10).remaining(t0), Duration::from_secs(360));
    let later = t0.checked_add(jiff::SignedDuration::from_secs(15)).unwrap();
    assert_eq!(rec(2).remaining(later), Duration::from_secs(5));
    assert_eq!(rec(0).remaining(t0), Duration::ZERO);
}
