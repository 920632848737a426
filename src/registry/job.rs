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
    default: no_defaults,
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
