//! Jobs (batch/v1): Status, Completions and Duration cells; selectable by status.successful.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static JOBS: ResourceDef = ResourceDef {
    group: "batch",
    version: "v1",
    kind: "Job",
    plural: "jobs",
    singular: "job",
    namespaced: true,
    short_names: &[],
    categories: &["all"],
    verbs: VERBS_ALL,
    subresources: &[Subresource {
        name: "status",
        group: "batch",
        version: "v1",
        kind: "Job",
        verbs: VERBS_GET_PATCH_UPDATE,
    }],
    storage_prefix: "/registry/jobs",
    storage_version: "batch/v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: JOB_COLUMNS,
    row,
    field_labels: &["status.successful"],
    field_value,
    default,
    validate: no_validation,
};

static JOB_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Status", type_: "string", format: "", description: "Status of the job.", priority: 0 },
    Column { name: "Completions", type_: "string", format: "", description: "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.", priority: 0 },
    Column { name: "Duration", type_: "string", format: "", description: "Time required to complete the job.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "Containers", type_: "string", format: "", description: "Names of each container in the template.", priority: 1 },
    Column { name: "Images", type_: "string", format: "", description: "Images referenced by each container in the template.", priority: 1 },
    Column { name: "Selector", type_: "string", format: "", description: "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors", priority: 1 },
];

fn field_value(job: &Value, label: &str) -> Option<String> {
    match label {
        "status.successful" => Some(i64_at(job, "/status/succeeded").to_string()),
        _ => meta_field(job, label),
    }
}

/// `hasJobCondition`: the first condition of the type decides.
fn has_condition(job: &Value, type_: &str) -> bool {
    arr_at(job, "/status/conditions")
        .iter()
        .find(|c| str_at(c, "/type") == type_)
        .map(|c| str_at(c, "/status") == "True")
        .unwrap_or(false)
}

/// `printJob`: Name, Status, Completions, Duration, Age, Containers, Images, Selector.
fn row(job: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = i64_at(job, "/status/succeeded");
    let completions = match opt_i64_at(job, "/spec/completions") {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = opt_i64_at(job, "/spec/parallelism").unwrap_or(0);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let duration = match (timestamp(job.pointer("/status/startTime")), timestamp(job.pointer("/status/completionTime")))
    {
        (None, _) => String::new(),
        (Some(start), None) => human_duration_nanos(nanos_between(start, now)),
        (Some(start), Some(end)) => human_duration_nanos(nanos_between(start, end)),
    };
    let status = if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if at(job, "/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = container_cells(arr_at(job, "/spec/template/spec/containers"));
    vec![
        name(job),
        s(status),
        s(completions),
        s(duration),
        age(job, now),
        names,
        images,
        s(format_label_selector(job.pointer("/spec/selector"))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn complete_and_running() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let done = json!({"metadata": {"name": "pi", "creationTimestamp": "2024-05-01T11:00:00Z"},
            "spec": {"completions": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                     "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
            "status": {"succeeded": 1, "startTime": "2024-05-01T11:00:00Z", "completionTime": "2024-05-01T11:00:42Z",
                       "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
        assert_eq!(
            row(&done, now),
            vec![
                json!("pi"),
                json!("Complete"),
                json!("1/1"),
                json!("42s"),
                json!("60m"),
                json!("pi"),
                json!("perl"),
                json!("batch.kubernetes.io/controller-uid=u")
            ]
        );
        let running = json!({"spec": {"parallelism": 3}, "status": {"startTime": "2024-05-01T11:57:00Z"}});
        let c = row(&running, now);
        assert_eq!(c[1..4], [json!("Running"), json!("0/1 of 3"), json!("3m")]);
        assert_eq!(field_value(&done, "status.successful").as_deref(), Some("1"));
    }
}

/// SetDefaults_Job (completions and parallelism 1 for a non-parallel job, backoffLimit 6,
/// NonIndexed, not suspended, podReplacementPolicy, manualSelector false, labels from the
/// template), the pod failure policy's condition status, the template's PodSpec defaults, and
/// on create the strategy's generated selector and template labels (from metadata.uid, which
/// generic create sets before defaulting). The status is reset on create.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    let create = is_create(obj);
    if create {
        reset_status(obj, json!({}));
    }
    status_with_zero(obj, &[]);
    let Some(spec) = root(obj).and_then(|r| child(r, "spec")) else { return };
    if unset(spec.get("completions")) && unset(spec.get("parallelism")) {
        spec.insert("completions".into(), json!(1));
        spec.insert("parallelism".into(), json!(1));
    }
    default_ptr(spec, "parallelism", json!(1));
    if unset(spec.get("backoffLimit")) {
        let limit = if unset(spec.get("backoffLimitPerIndex")) { 6 } else { i64::from(i32::MAX) };
        spec.insert("backoffLimit".into(), json!(limit));
    }
    default_ptr(spec, "completionMode", json!("NonIndexed"));
    default_ptr(spec, "suspend", json!(false));
    pod_failure_policy_statuses(spec);
    let replacement = if unset(spec.get("podFailurePolicy")) { "TerminatingOrFailed" } else { "Failed" };
    default_ptr(spec, "podReplacementPolicy", json!(replacement));
    default_ptr(spec, "manualSelector", json!(false));
    if let Some(t) = existing(spec, "template") {
        super::podspec::default_template(t);
    }
    labels_from_template(obj);
    let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool).unwrap_or(false);
    if create && !manual {
        generate_selector(obj);
        // The stored job is defaulted again when read back: the generated labels become the
        // job's own when it had none.
        labels_from_template(obj);
    }
}

/// SetDefaults_PodFailurePolicyOnPodConditionsPattern: status True.
pub(crate) fn pod_failure_policy_statuses(spec: &mut serde_json::Map<String, Value>) {
    use super::defaulting::*;
    let Some(policy) = existing(spec, "podFailurePolicy") else { return };
    for rule in items(policy, "rules") {
        for pattern in items(rule, "onPodConditions") {
            default_str(pattern, "status", "True");
        }
    }
}

/// A job without labels takes its template's (when the template has a label map).
fn labels_from_template(obj: &mut Value) {
    use super::defaulting::*;
    let Some(labels) = obj.pointer("/spec/template/metadata/labels").filter(|l| l.is_object()).cloned() else { return };
    let Some(meta) = root(obj).and_then(|r| child(r, "metadata")) else { return };
    if empty_collection(meta.get("labels")) {
        meta.insert("labels".into(), labels);
    }
}

/// generateSelector: the template is labelled with the job's name and uid (legacy and
/// prefixed keys, unless set) and the selector matches the prefixed uid label.
fn generate_selector(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let uid = obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string();
    let Some(spec) = root(obj).and_then(|r| child(r, "spec")) else { return };
    if let Some(labels) = child(spec, "template").and_then(|t| child(t, "metadata")).and_then(|m| child(m, "labels")) {
        for (key, value) in [
            ("job-name", &name),
            ("batch.kubernetes.io/job-name", &name),
            ("controller-uid", &uid),
            ("batch.kubernetes.io/controller-uid", &uid),
        ] {
            if !labels.contains_key(key) {
                labels.insert(key.into(), json!(value));
            }
        }
    }
    if let Some(ml) = child(spec, "selector").and_then(|s| child(s, "matchLabels")) {
        if !ml.contains_key("batch.kubernetes.io/controller-uid") {
            ml.insert("batch.kubernetes.io/controller-uid".into(), json!(uid));
        }
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_defaults_and_generated_selector() {
        // As kubectl 1.33 sends `create job j --image=busybox -- echo hi`.
        let mut job = json!({"metadata": {"name": "j", "uid": "u-1", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"template": {"metadata": {"creationTimestamp": null},
                     "spec": {"containers": [{"name": "j", "image": "busybox", "command": ["echo", "hi"], "resources": {}}], "restartPolicy": "Never"}}},
            "status": {}});
        default(&mut job);
        let s = &job["spec"];
        assert_eq!((&s["completions"], &s["parallelism"], &s["backoffLimit"]), (&json!(1), &json!(1), &json!(6)));
        assert_eq!((&s["completionMode"], &s["suspend"], &s["manualSelector"]), (&json!("NonIndexed"), &json!(false), &json!(false)));
        assert_eq!(s["podReplacementPolicy"], "TerminatingOrFailed");
        let labels = json!({"batch.kubernetes.io/controller-uid": "u-1", "batch.kubernetes.io/job-name": "j", "controller-uid": "u-1", "job-name": "j"});
        assert_eq!(s["template"]["metadata"]["labels"], labels);
        assert_eq!(s["selector"], json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}));
        assert_eq!(job["metadata"]["labels"], s["template"]["metadata"]["labels"]);
        assert_eq!(s["template"]["spec"]["restartPolicy"], "Never");
        assert_eq!(job["status"], json!({}));
    }

    #[test]
    fn job_details() {
        // Template labels become the job's before the generated ones are added.
        let mut job = json!({"metadata": {"name": "j", "uid": "u"}, "spec": {"parallelism": 3, "backoffLimitPerIndex": 1, "completionMode": "Indexed",
            "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {}}}});
        default(&mut job);
        let s = &job["spec"];
        assert!(s.get("completions").is_none());
        assert_eq!(s["parallelism"], 3);
        assert_eq!(s["backoffLimit"], 2147483647);
        assert_eq!(s["podReplacementPolicy"], "Failed");
        assert_eq!(s["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"], "True");
        assert_eq!(job["metadata"]["labels"], json!({"app": "x"}));
        // A manual selector is left alone; updates generate nothing.
        let mut job = json!({"metadata": {"name": "j", "uid": "u"}, "spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}}}});
        default(&mut job);
        assert_eq!(job["spec"]["selector"], json!({"matchLabels": {"a": "b"}}));
        let mut job = json!({"metadata": {"name": "j", "uid": "u", "resourceVersion": "4"}, "spec": {"template": {"spec": {}}}, "status": {"active": 1}});
        default(&mut job);
        assert!(job["spec"].get("selector").is_none());
        assert_eq!(job["status"], json!({"active": 1}));
    }
}
