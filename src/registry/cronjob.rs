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
    validate,
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

use super::validation::{
    bool_of, dedup, field, go, int_of, invalid, nonnegative, not_supported, obj_of, required, str_of, Path,
};

/// ValidateCronJobCreate / ValidateCronJobUpdate.
fn validate(cj: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let spec = obj_of(cj, "spec");
    let sp = Path::new("spec");
    let old_spec = old.map(|o| obj_of(o, "spec"));
    let mut errs = Vec::new();
    let schedule = str_of(spec, "schedule");
    let tz = spec.get("timeZone").and_then(Value::as_str);
    if schedule.is_empty() {
        errs.push(required(&sp.child("schedule"), ""));
    } else {
        let allow_tz = old_spec.is_some_and(|o| str_of(o, "schedule").contains("TZ"));
        if let Err(e) = parse_schedule(schedule) {
            errs.push(invalid(&sp.child("schedule"), go::str(schedule), &e));
        }
        if allow_tz && schedule.contains("TZ") && tz.is_some() {
            errs.push(invalid(
                &sp.child("schedule"),
                go::str(schedule),
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            ));
        } else if !allow_tz && schedule.contains("TZ") {
            errs.push(invalid(
                &sp.child("schedule"),
                go::str(schedule),
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ));
        }
    }
    errs.extend(nonnegative(int_of(spec, "startingDeadlineSeconds"), &sp.child("startingDeadlineSeconds")));
    if old_spec.is_none_or(|o| o.get("timeZone").and_then(Value::as_str) != tz) {
        errs.extend(time_zone(tz, &sp.child("timeZone")));
    }
    let policy = str_of(spec, "concurrencyPolicy");
    if !policy.is_empty() && !["Allow", "Forbid", "Replace"].contains(&policy) {
        errs.push(not_supported(&sp.child("concurrencyPolicy"), go::str(policy), &["Allow", "Forbid", "Replace"]));
    }
    // ValidateJobTemplateSpec: the job spec, with a selector the controller generates.
    let jt = obj_of(spec, "jobTemplate");
    let jp = sp.child("jobTemplate").child("spec");
    let js = obj_of(jt, "spec");
    errs.extend(super::job::job_spec(js, &jp));
    if let Some(sel) = field(js, "selector") {
        errs.push(invalid(&jp.child("selector"), go::label_selector(Some(sel)), "`selector` will be auto-generated"));
    }
    if bool_of(js, "manualSelector") {
        errs.push(not_supported(&jp.child("manualSelector"), "true", &["nil", "false"]));
    }
    errs.extend(nonnegative(int_of(spec, "successfulJobsHistoryLimit"), &sp.child("successfulJobsHistoryLimit")));
    errs.extend(nonnegative(int_of(spec, "failedJobsHistoryLimit"), &sp.child("failedJobsHistoryLimit")));
    let name = str_of(obj_of(cj, "metadata"), "name");
    if old.is_none() && name.len() > 52 {
        errs.push(invalid(&Path::new("metadata").child("name"), go::str(name), "must be no more than 52 characters"));
    }
    dedup(errs)
}

/// validateTimeZone: an IANA name the zone database knows.
fn time_zone(tz: Option<&str>, path: &Path) -> Vec<super::FieldError> {
    let Some(tz) = tz else { return Vec::new() };
    if tz.is_empty() {
        return vec![invalid(path, go::str(tz), "timeZone must be nil or non-empty string")];
    }
    let part_ok = |p: &str| {
        p != "."
            && p != ".."
            && !p.starts_with('-')
            && (1..=14).contains(&p.len())
            && p.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'+'))
    };
    if !tz.split('/').all(part_ok) {
        return vec![invalid(path, go::str(tz), &format!("unknown time zone {tz}"))];
    }
    let mut errs = Vec::new();
    if tz.eq_ignore_ascii_case("Local") {
        errs.push(invalid(
            path,
            go::str(tz),
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
        ));
    }
    if let Err(e) = load_location(tz) {
        errs.push(invalid(path, go::str(tz), &e));
    }
    errs
}

/// time.LoadLocation against the system zone database (any name when there is none).
fn load_location(name: &str) -> Result<(), String> {
    const ZONEINFO: &str = "/usr/share/zoneinfo";
    if name.is_empty() || name == "UTC" || name == "Local" || !std::path::Path::new(ZONEINFO).is_dir() {
        return Ok(());
    }
    if std::path::Path::new(ZONEINFO).join(name).is_file() {
        Ok(())
    } else {
        Err(format!("unknown time zone {name}"))
    }
}

/// cron.ParseStandard (robfig/cron v3): five fields or a descriptor, with its error texts.
pub(super) fn parse_schedule(spec: &str) -> Result<(), String> {
    let mut spec = spec;
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let eq = spec.find('=').unwrap_or(0);
        let Some(sp) = spec.find(' ') else {
            return Err(format!("provided bad location {}: unknown time zone {}", &spec[eq + 1..], &spec[eq + 1..]));
        };
        let loc = &spec[eq + 1..sp];
        load_location(loc).map_err(|e| format!("provided bad location {loc}: {e}"))?;
        spec = spec[sp..].trim();
    }
    if spec.starts_with('@') {
        return match spec {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly" => Ok(()),
            s => match s.strip_prefix("@every ") {
                Some(d) => go_parse_duration(d).map_err(|e| format!("failed to parse duration {s}: {e}")),
                None => Err(format!("unrecognized descriptor: {s}")),
            },
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}: [{}]", fields.len(), fields.join(" ")));
    }
    const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let bounds: [(u64, u64, &[&str], u64); 5] =
        [(0, 59, &[], 0), (0, 23, &[], 0), (1, 31, &[], 0), (1, 12, MONTHS, 1), (0, 6, DAYS, 0)];
    for (f, (min, max, names, base)) in fields.iter().zip(bounds) {
        for expr in f.split(',').filter(|e| !e.is_empty()) {
            cron_range(expr, min, max, names, base)?;
        }
    }
    Ok(())
}

fn cron_range(expr: &str, min: u64, max: u64, names: &[&str], base: u64) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let name_or_int = |s: &str| -> Result<u64, String> {
        match names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            Some(i) => Ok(i as u64 + base),
            None => cron_int(s),
        }
    };
    let (start, mut end) = if low_high[0] == "*" || low_high[0] == "?" {
        (min, max)
    } else {
        let start = name_or_int(low_high[0])?;
        match low_high.len() {
            1 => (start, start),
            2 => (start, name_or_int(low_high[1])?),
            _ => return Err(format!("too many hyphens: {expr}")),
        }
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let s = cron_int(range_and_step[1])?;
            if single {
                end = max;
            }
            s
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < min {
        return Err(format!("beginning of range ({start}) below minimum ({min}): {expr}"));
    }
    if end > max {
        return Err(format!("end of range ({end}) above maximum ({max}): {expr}"));
    }
    if start > end {
        return Err(format!("beginning of range ({start}) beyond end of range ({end}): {expr}"));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

/// mustParseInt: strconv.Atoi, then no negatives.
fn cron_int(s: &str) -> Result<u64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("failed to parse int from {s}: strconv.Atoi: parsing {}: invalid syntax", go::str(s)));
    }
    let n: i64 = s.parse().map_err(|_| {
        format!("failed to parse int from {s}: strconv.Atoi: parsing {}: value out of range", go::str(s))
    })?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {s}"));
    }
    Ok(n as u64)
}

/// time.ParseDuration's acceptance and error texts.
fn go_parse_duration(s: &str) -> Result<(), String> {
    let orig = s;
    let bad = || format!("time: invalid duration {}", go::str(orig));
    let mut s = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s == "0" {
        return Ok(());
    }
    if s.is_empty() {
        return Err(bad());
    }
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut rest = &s[int_len..];
        let mut frac_len = 0;
        if let Some(r) = rest.strip_prefix('.') {
            frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            rest = &r[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(bad());
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", go::str(orig)));
        }
        let unit = &rest[..unit_len];
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit) {
            return Err(format!("time: unknown unit {} in duration {}", go::str(unit), go::str(orig)));
        }
        s = &rest[unit_len..];
    }
    Ok(())
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    fn cronjob(schedule: &str) -> Value {
        json!({"metadata": {"name": "hello", "namespace": "default"}, "spec": {"schedule": schedule,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "OnFailure"}}}}}})
    }

    #[test]
    fn schedules_parse_as_robfig_cron_does() {
        for ok in ["*/5 * * * *", "0 0 1 jan mon", "@hourly", "@every 1h30m", "0-59/15 1,2 * * SUN-SAT", "? * * * *"] {
            assert_eq!(parse_schedule(ok), Ok(()), "{ok}");
        }
        for (bad, msg) in [
            ("x", "expected exactly 5 fields, found 1: [x]"),
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            ("61 * * * *", "end of range (61) above maximum (59): 61"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("5-2 * * * *", "beginning of range (5) beyond end of range (2): 5-2"),
            ("*/0 * * * *", "step of range should be a positive number: */0"),
            ("a * * * *", "failed to parse int from a: strconv.Atoi: parsing \"a\": invalid syntax"),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("@sometimes", "unrecognized descriptor: @sometimes"),
            ("@every 5", "failed to parse duration @every 5: time: missing unit in duration \"5\""),
        ] {
            assert_eq!(parse_schedule(bad), Err(msg.to_string()), "{bad}");
        }
    }

    #[test]
    fn cronjob_errors() {
        assert!(validate(&cronjob("*/1 * * * *"), None).is_empty());
        assert_eq!(render(&validate(&cronjob(""), None)), vec!["spec.schedule: Required value"]);
        assert_eq!(
            render(&validate(&cronjob("every minute"), None)),
            vec!["spec.schedule: Invalid value: \"every minute\": expected exactly 5 fields, found 2: [every minute]",]
        );
        assert_eq!(render(&validate(&cronjob("TZ=UTC 0 * * * *"), None)), vec![
            "spec.schedule: Invalid value: \"TZ=UTC 0 * * * *\": cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
        ]);
        let mut cj = cronjob("@daily");
        cj["spec"]["concurrencyPolicy"] = json!("Sometimes");
        cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        cj["spec"]["timeZone"] = json!("Mars/Olympus");
        assert_eq!(render(&validate(&cj, None)), vec![
            "spec.timeZone: Invalid value: \"Mars/Olympus\": unknown time zone Mars/Olympus",
            "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
            "spec.jobTemplate.spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
        ]);
    }
}
