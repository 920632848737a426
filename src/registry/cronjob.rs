//! CronJobs (batch/v1): schedule, time zone, suspend, active jobs and last schedule.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static CRONJOBS: ResourceDef = ResourceDef {
    group: "batch",
    version: "v1",
    kind: "CronJob",
    plural: "cronjobs",
    singular: "cronjob",
    namespaced: true,
    short_names: &["cj"],
    categories: &["all"],
    verbs: VERBS_ALL,
    subresources: &[Subresource {
        name: "status",
        group: "batch",
        version: "v1",
        kind: "CronJob",
        verbs: VERBS_GET_PATCH_UPDATE,
    }],
    storage_prefix: "/registry/cronjobs",
    storage_version: "batch/v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: CRONJOB_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate: no_validation,
};

static CRONJOB_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Schedule", type_: "string", format: "", description: "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.", priority: 0 },
    Column { name: "Timezone", type_: "string", format: "", description: "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones", priority: 0 },
    Column { name: "Suspend", type_: "boolean", format: "", description: "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.", priority: 0 },
    Column { name: "Active", type_: "integer", format: "", description: "A list of pointers to currently running jobs.", priority: 0 },
    Column { name: "Last Schedule", type_: "string", format: "", description: "Information when was the last time the job was successfully scheduled.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "Containers", type_: "string", format: "", description: "Names of each container in the template.", priority: 1 },
    Column { name: "Images", type_: "string", format: "", description: "Images referenced by each container in the template.", priority: 1 },
    Column { name: "Selector", type_: "string", format: "", description: "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors", priority: 1 },
];

fn row(cj: &Value, now: Timestamp) -> Vec<Value> {
    let last_schedule = match at(cj, "/status/lastScheduleTime") {
        Some(v) => since(Some(v), now),
        None => "<none>".into(),
    };
    let template = "/spec/jobTemplate/spec";
    let (names, images) = container_cells(arr_at(cj, &format!("{template}/template/spec/containers")));
    vec![
        name(cj),
        s(str_at(cj, "/spec/schedule")),
        s(opt_str_at(cj, "/spec/timeZone").unwrap_or("<none>")),
        bool_ptr(opt_bool_at(cj, "/spec/suspend")),
        Value::from(len_at(cj, "/status/active")),
        s(last_schedule),
        age(cj, now),
        names,
        images,
        s(format_label_selector(cj.pointer(&format!("{template}/selector")))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schedule_cells() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let cj = json!({"metadata": {"name": "hello"}, "spec": {"schedule": "*/1 * * * *", "suspend": false},
                        "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": "2024-05-01T11:59:00Z"}});
        let c = row(&cj, now);
        assert_eq!(c[1..6], [json!("*/1 * * * *"), json!("<none>"), json!("False"), json!(1), json!("60s")]);
        assert_eq!(row(&json!({}), now)[5], json!("<none>"));
    }
}

/// SetDefaults_CronJob (Allow, not suspended, history limits 3 and 1) and the job template's
/// nested defaults (its ObjectMeta as Go writes it, the pod failure policy's condition status,
/// the PodSpec defaults; SetDefaults_Job is not applied to templates). The status is reset on
/// create.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    if is_create(obj) {
        reset_status(obj, json!({}));
    }
    status_with_zero(obj, &[]);
    let Some(spec) = root(obj).and_then(|r| child(r, "spec")) else { return };
    default_str(spec, "concurrencyPolicy", "Allow");
    default_ptr(spec, "suspend", json!(false));
    default_ptr(spec, "successfulJobsHistoryLimit", json!(3));
    default_ptr(spec, "failedJobsHistoryLimit", json!(1));
    let Some(jt) = child(spec, "jobTemplate") else { return };
    template_meta(jt);
    if let Some(js) = child(jt, "spec") {
        super::job::pod_failure_policy_statuses(js);
        if let Some(t) = existing(js, "template") {
            super::podspec::default_template(t);
        }
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cron_job_defaults() {
        let mut cj = json!({"metadata": {"name": "cj"}, "spec": {"schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "OnFailure"}}}}},
            "status": {"active": [{"name": "x"}]}});
        default(&mut cj);
        let s = &cj["spec"];
        assert_eq!((&s["concurrencyPolicy"], &s["suspend"]), (&json!("Allow"), &json!(false)));
        assert_eq!((&s["successfulJobsHistoryLimit"], &s["failedJobsHistoryLimit"]), (&json!(3), &json!(1)));
        let jt = &s["jobTemplate"];
        assert_eq!(jt["metadata"], json!({"creationTimestamp": null}));
        assert!(jt["spec"].get("backoffLimit").is_none(), "SetDefaults_Job is not applied to templates");
        assert_eq!(jt["spec"]["template"]["metadata"], json!({"creationTimestamp": null}));
        assert_eq!(jt["spec"]["template"]["spec"]["restartPolicy"], "OnFailure");
        assert_eq!(jt["spec"]["template"]["spec"]["terminationGracePeriodSeconds"], 30);
        assert_eq!(cj["status"], json!({}));
    }
}
