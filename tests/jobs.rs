//! Jobs and CronJobs driven by the real kubectl against a simulated node: a Job runs to
//! Complete, a failing one stops at its backoff limit, parallel and Indexed Jobs count their
//! completions, a finished Job with a TTL disappears; `kubectl create cronjob`, `kubectl get
//! cronjobs`, `kubectl create job --from=cronjob/...`, a CronJob firing on schedule;
//! deleting a running Job and one past its deadline.
mod common;
use common::*;

use serde_json::Value;

fn conditions(job: &Value) -> Vec<(String, String, String)> {
    job["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let f = |k: &str| c[k].as_str().unwrap_or("").to_string();
            (f("type"), f("status"), f("reason"))
        })
        .collect()
}

fn cond(t: &str, s: &str, r: &str) -> (String, String, String) {
    (t.into(), s.into(), r.into())
}

/// `kubectl get jobs` row cells for one job: NAME STATUS COMPLETIONS DURATION AGE.
fn job_row(s: &Server, name: &str) -> Vec<String> {
    let out = s.ok(&["get", "jobs"]);
    let r = rows(&out);
    assert_eq!(r[0], vec!["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"], "{out}");
    r.into_iter().find(|r| r[0] == name).unwrap_or_else(|| panic!("no row for {name}: {out}"))
}

const FAILING: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: fails}
spec:
  backoffLimit: 0
  template:
    metadata:
      annotations: {sim.minikube-rs.io/exit-code: "1"}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["false"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: par}
spec:
  completions: 3
  parallelism: 3
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["true"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: idx}
spec:
  completionMode: Indexed
  completions: 2
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["true"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: ttl}
spec:
  ttlSecondsAfterFinished: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["true"]}]
"#;

#[test]
fn jobs_complete_fail_count_and_expire() {
    let s = Server::start_simulated(1);
    s.ok(&["create", "job", "pi", "--image=busybox", "--", "true"]);
    s.ok_stdin(&["apply", "-f", "-"], FAILING);

    s.ok(&["wait", "--for=condition=Complete", "job/pi", "--timeout=30s"]);
    let row = job_row(&s, "pi");
    assert_eq!(row[1..3], ["Complete", "1/1"], "{row:?}");
    assert!(row[3].ends_with('s'), "duration {row:?}");
    let pi = json(&s, &["get", "job", "pi"]);
    assert_eq!(conditions(&pi), vec![
        cond("SuccessCriteriaMet", "True", "CompletionsReached"),
        cond("Complete", "True", "CompletionsReached")
    ]);
    assert_eq!(pi["status"]["succeeded"], 1);
    assert_eq!(pi["status"]["uncountedTerminatedPods"], serde_json::json!({}));
    assert!(pi["status"]["completionTime"].is_string());
    let pods = json(&s, &["get", "pods", "-l", "job-name=pi"]);
    let pod = &pods["items"][0];
    let pod_name = pod["metadata"]["name"].as_str().unwrap().to_string();
    assert!(pod_name.starts_with("pi-"), "{pod_name}");
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert!(pod["metadata"]["finalizers"].is_null(), "tracking finalizer removed: {pod}");
    let describe = eventually("the Completed event", || {
        let d = s.ok(&["describe", "job", "pi"]);
        d.contains("Job completed").then_some(d)
    });
    assert!(describe.contains(&format!("Created pod: {pod_name}")), "{describe}");
    assert!(describe.contains("SuccessfulCreate") && describe.contains("job-controller"), "{describe}");

    s.ok(&["wait", "--for=condition=Failed", "job/fails", "--timeout=30s"]);
    let fails = json(&s, &["get", "job", "fails"]);
    assert_eq!(conditions(&fails), vec![
        cond("FailureTarget", "True", "BackoffLimitExceeded"),
        cond("Failed", "True", "BackoffLimitExceeded")
    ]);
    assert_eq!(fails["status"]["failed"], 1);
    assert_eq!(job_row(&s, "fails")[1..3], ["Failed", "0/1"]);

    s.ok(&["wait", "--for=condition=Complete", "job/par", "job/idx", "--timeout=30s"]);
    assert_eq!(job_row(&s, "par")[1..3], ["Complete", "3/3"]);
    let idx = json(&s, &["get", "job", "idx"]);
    assert_eq!(idx["status"]["completedIndexes"], "0-1");
    let ipods = json(&s, &["get", "pods", "-l", "job-name=idx"]);
    let mut hosts: Vec<String> = ipods["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let ix = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"].as_str().unwrap();
            assert!(p["metadata"]["name"].as_str().unwrap().starts_with(&format!("idx-{ix}-")));
            p["spec"]["hostname"].as_str().unwrap().to_string()
        })
        .collect();
    hosts.sort();
    assert_eq!(hosts, vec!["idx-0", "idx-1"]);

    eventually("the TTL controller to delete job/ttl", || {
        s.ok(&["get", "jobs", "-o", "name"]).lines().all(|l| l != "job.batch/ttl").then_some(())
    });
}

const LONG: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: long}
spec:
  template:
    metadata:
      annotations: {sim.minikube-rs.io/run-seconds: "600"}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["sleep", "600"]}]
"#;

const DEADLINE: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: deadline}
spec:
  activeDeadlineSeconds: 2
  template:
    metadata:
      annotations: {sim.minikube-rs.io/run-seconds: "600"}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox, command: ["sleep", "600"]}]
"#;

const TICK: &str = r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "@every 2s"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox, command: ["true"]}]
"#;

#[test]
fn cronjobs_list_and_instantiate_by_hand() {
    let s = Server::start_simulated(1);
    s.ok(&["create", "cronjob", "hello", "--image=busybox", "--schedule=*/1 * * * *", "--", "true"]);
    let out = s.ok(&["get", "cronjobs"]);
    let r = rows(&out);
    assert_eq!(r[0], vec!["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"], "{out}");
    assert_eq!(r[1][..9], ["hello", "*/1", "*", "*", "*", "*", "<none>", "False", "0"], "{out}");
    assert_eq!(r[1][9], "<none>", "{out}");

    s.ok(&["create", "job", "--from=cronjob/hello", "manual"]);
    s.ok(&["wait", "--for=condition=Complete", "job/manual", "--timeout=30s"]);
    let manual = json(&s, &["get", "job", "manual"]);
    assert_eq!(manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"], "manual");
    assert_eq!(manual["metadata"]["ownerReferences"][0]["kind"], "CronJob");
    assert_eq!(job_row(&s, "manual")[1..3], ["Complete", "1/1"]);
    // Deleting a running Job takes its pods along, tracking finalizers and all.
    s.ok_stdin(&["apply", "-f", "-"], LONG);
    eventually("the long job's pod to run", || {
        let out = s.ok(&["get", "pods", "-l", "job-name=long", "--field-selector=status.phase=Running", "-o", "name"]);
        (!out.trim().is_empty()).then_some(())
    });
    assert_eq!(job_row(&s, "long")[1..3], ["Running", "0/1"]);
    s.ok(&["delete", "job", "long"]);
    eventually("the long job's pods to go", || {
        s.ok(&["get", "pods", "-l", "job-name=long", "-o", "name"]).trim().is_empty().then_some(())
    });
    // A Job past its activeDeadlineSeconds fails and its running pod is deleted.
    s.ok_stdin(&["apply", "-f", "-"], DEADLINE);
    s.ok(&["wait", "--for=condition=Failed", "job/deadline", "--timeout=30s"]);
    let deadline = json(&s, &["get", "job", "deadline"]);
    assert_eq!(conditions(&deadline), vec![
        cond("FailureTarget", "True", "DeadlineExceeded"),
        cond("Failed", "True", "DeadlineExceeded")
    ]);
    assert_eq!(deadline["status"]["terminating"], 0);
    assert_eq!(job_row(&s, "deadline")[1..3], ["Failed", "0/1"]);
    eventually("the deadline job's pod to go", || {
        s.ok(&["get", "pods", "-l", "job-name=deadline", "-o", "name"]).trim().is_empty().then_some(())
    });
    // A schedule that fires within seconds: the controller starts a Job on time and records
    // it in the CronJob's status.
    s.ok_stdin(&["apply", "-f", "-"], TICK);
    let job = eventually("the cronjob to start a job", || {
        let jobs = json(&s, &["get", "jobs"]);
        jobs["items"].as_array()?.iter().find_map(|j| {
            let n = j["metadata"]["name"].as_str()?;
            n.starts_with("tick-").then(|| n.to_string())
        })
    });
    let minutes: i64 = job.trim_start_matches("tick-").parse().expect("minutes since the epoch");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now / 60 - minutes).abs() <= 1, "{job}");
    s.ok(&["wait", "--for=condition=Complete", &format!("job/{job}"), "--timeout=30s"]);
    let ann = json(&s, &["get", "job", &job])["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"].clone();
    assert!(ann.as_str().is_some_and(|a| a.ends_with('Z')), "{ann}");
    let cj = eventually("lastSuccessfulTime", || {
        let cj = json(&s, &["get", "cronjob", "tick"]);
        cj["status"]["lastSuccessfulTime"].is_string().then_some(cj)
    });
    assert!(cj["status"]["lastScheduleTime"].is_string());
    let describe = s.ok(&["describe", "cronjob", "tick"]);
    assert!(describe.contains(&format!("Created job {job}")), "{describe}");
    s.ok(&["patch", "cronjob", "tick", "-p", r#"{"spec":{"suspend":true}}"#]);
    // A bad schedule is refused as the API server refuses it.
    let err = s.fails(&["create", "cronjob", "bad", "--image=busybox", "--schedule=TZ=UTC 0 * * * *"]);
    assert!(err.contains("cannot use TZ or CRON_TZ in schedule, use timeZone field instead"), "{err}");
}
