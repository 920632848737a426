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
    validate,
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

use super::validation::{
    as_selector, bool_of, dedup, field, go, immutable, int_of, invalid, label_selector, list_of, map_of, nonnegative,
    not_supported, obj_of, pod_template_spec, required, selector_matches, selector_mismatch, str_of, Path, PodOpts,
};

/// The template labels the job strategy generates, and must find again when the selector is
/// not manual: (legacy key, prefixed key, value source).
const GENERATED_LABELS: &[&str] =
    &["controller-uid", "job-name", "batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name"];

/// ValidateJob, and on update ValidateJobUpdate (most of a Job's spec is fixed once created).
fn validate(job: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let spec = obj_of(job, "spec");
    let sp = Path::new("spec");
    let mut errs = generated_selector(job);
    errs.extend(job_spec_with_selector(spec, &sp));
    let name = str_of(obj_of(job, "metadata"), "name");
    if str_of(spec, "completionMode") == "Indexed" {
        if let Some(c) = int_of(spec, "completions").filter(|&c| c > 0) {
            let hostname = format!("{}-{}", name, c - 1);
            if !super::names::is_dns1123_label(&hostname).is_empty() {
                errs.push(invalid(
                    &Path::new("metadata").child("name"),
                    go::str(name),
                    &format!("will not able to create pod with invalid DNS label: {hostname}"),
                ));
            }
        }
    }
    if let Some(old) = old {
        errs.extend(job_spec_update(spec, obj_of(old, "spec"), old, &sp));
    }
    dedup(errs)
}

/// validateGeneratedSelector: without manualSelector, the selector and the template's
/// labels are the ones the job strategy generates from the Job's uid and name.
fn generated_selector(job: &Value) -> Vec<super::FieldError> {
    let spec = obj_of(job, "spec");
    if bool_of(spec, "manualSelector") {
        return Vec::new();
    }
    let Some(sel) = field(spec, "selector") else { return Vec::new() };
    let meta = obj_of(job, "metadata");
    let uid = str_of(meta, "uid");
    let name = str_of(meta, "name");
    let mut errs = Vec::new();
    if uid.is_empty() {
        errs.push(required(&Path::new("metadata").child("uid"), ""));
    }
    let tmeta = obj_of(obj_of(spec, "template"), "metadata");
    let labels = map_of(tmeta, "labels");
    let mp = Path::new("spec").child("template").child("metadata");
    let mut expected = serde_json::Map::new();
    for key in GENERATED_LABELS {
        let want = if key.ends_with("controller-uid") { uid } else { name };
        expected.insert(key.to_string(), Value::String(want.to_string()));
        match labels.get(*key).and_then(Value::as_str) {
            None => errs.push(required(&mp.child("labels").key(key), &format!("must be '{want}'"))),
            Some(v) if v != want => errs.push(invalid(
                &mp.child("labels").key(key),
                go::string_map(field(tmeta, "labels")),
                &format!("must be '{want}'"),
            )),
            Some(_) => {}
        }
    }
    if let Some(selector) = as_selector(Some(sel)) {
        if !selector.matches(&expected) {
            errs.push(invalid(
                &Path::new("spec").child("selector"),
                go::label_selector(Some(sel)),
                "`selector` not auto-generated",
            ));
        }
    }
    errs
}

/// ValidateJobSpec: the spec, a selector (generated unless manual) matching the template.
fn job_spec_with_selector(spec: &Value, sp: &Path) -> Vec<super::FieldError> {
    let mut errs = job_spec(spec, sp);
    let sel = field(spec, "selector");
    let manual = bool_of(spec, "manualSelector");
    match sel {
        None if manual => errs.push(required(&sp.child("selector"), "")),
        None => return errs, // generated by the job strategy, matching the template
        Some(s) => errs.extend(label_selector(Some(s), &sp.child("selector"))),
    }
    if let Some(selector) = as_selector(sel) {
        let tpl_labels = field(obj_of(obj_of(spec, "template"), "metadata"), "labels");
        if !selector_matches(&selector, tpl_labels) {
            errs.push(selector_mismatch(tpl_labels, &sp.child("template").child("metadata").child("labels")));
        }
    }
    errs
}

const POD_FAILURE_ACTIONS: &[&str] = &["Count", "FailIndex", "FailJob", "Ignore"];

/// validateJobSpec, shared with CronJob job templates.
pub(super) fn job_spec(spec: &Value, path: &Path) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    for f in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
    ] {
        errs.extend(nonnegative(int_of(spec, f), &path.child(f)));
    }
    let max_failed = int_of(spec, "maxFailedIndexes");
    let per_index = int_of(spec, "backoffLimitPerIndex");
    if max_failed.is_some() {
        errs.extend(nonnegative(max_failed, &path.child("maxFailedIndexes")));
        if per_index.is_none() {
            errs.push(required(&path.child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"));
        }
    }
    let mode = str_of(spec, "completionMode");
    let completions = int_of(spec, "completions");
    let parallelism = int_of(spec, "parallelism");
    if !mode.is_empty() && mode != "NonIndexed" && mode != "Indexed" {
        errs.push(not_supported(&path.child("completionMode"), go::str(mode), &["NonIndexed", "Indexed"]));
    }
    if mode == "Indexed" {
        if completions.is_none() {
            errs.push(required(&path.child("completions"), "when completion mode is Indexed"));
        }
        if let Some(p) = parallelism.filter(|&p| p > 100_000) {
            errs.push(invalid(
                &path.child("parallelism"),
                go::int(p),
                "must be less than or equal to 100000 when completion mode is Indexed",
            ));
        }
        if let (Some(c), Some(m)) = (completions, max_failed) {
            if m > c {
                errs.push(invalid(
                    &path.child("maxFailedIndexes"),
                    go::int(m),
                    "must be less than or equal to completions",
                ));
            }
        }
        if let Some(m) = max_failed.filter(|&m| m > 100_000) {
            errs.push(invalid(&path.child("maxFailedIndexes"), go::int(m), "must be less than or equal to 100000"));
        }
    } else {
        if let Some(b) = per_index {
            errs.push(invalid(&path.child("backoffLimitPerIndex"), go::int(b), "requires indexed completion mode"));
        }
        if let Some(m) = max_failed {
            errs.push(invalid(&path.child("maxFailedIndexes"), go::int(m), "requires indexed completion mode"));
        }
    }
    let pfp = field(spec, "podFailurePolicy");
    if let Some(pfp) = pfp {
        let rules_path = path.child("podFailurePolicy").child("rules");
        let rules = list_of(pfp, "rules");
        if rules.len() > 20 {
            errs.push(super::validation::too_many(&rules_path, rules.len(), 20));
        }
        for (i, rule) in rules.iter().enumerate() {
            let rp = rules_path.index(i);
            match str_of(rule, "action") {
                "" => errs.push(required(
                    &rp.child("action"),
                    "valid values: [\"Count\" \"FailIndex\" \"FailJob\" \"Ignore\"]",
                )),
                "FailIndex" if per_index.is_none() => errs.push(invalid(
                    &rp.child("action"),
                    go::str("FailIndex"),
                    "requires the backoffLimitPerIndex to be set",
                )),
                a if !POD_FAILURE_ACTIONS.contains(&a) => {
                    errs.push(not_supported(&rp.child("action"), go::str(a), POD_FAILURE_ACTIONS))
                }
                _ => {}
            }
            let (codes, conds) = (field(rule, "onExitCodes"), !list_of(rule, "onPodConditions").is_empty());
            if codes.is_some() && conds {
                errs.push(super::validation::invalid_omitted(
                    &rp,
                    "specifying both OnExitCodes and OnPodConditions is not supported",
                ));
            }
            if codes.is_none() && !conds {
                errs.push(super::validation::invalid_omitted(
                    &rp,
                    "specifying one of OnExitCodes and OnPodConditions is required",
                ));
            }
        }
    }
    if field(spec, "successPolicy").is_some() && mode != "Indexed" {
        errs.push(invalid(
            &path.child("successPolicy"),
            go::structure("batch.SuccessPolicy", field(spec, "successPolicy")),
            "requires indexed completion mode",
        ));
    }
    if let Some(prp) = spec.get("podReplacementPolicy").and_then(Value::as_str) {
        if pfp.is_some() {
            if prp != "Failed" {
                errs.push(not_supported(&path.child("podReplacementPolicy"), go::str(prp), &["Failed"]));
            }
        } else if prp != "Failed" && prp != "TerminatingOrFailed" {
            errs.push(not_supported(
                &path.child("podReplacementPolicy"),
                go::str(prp),
                &["Failed", "TerminatingOrFailed"],
            ));
        }
    }
    let tpl = obj_of(spec, "template");
    let tp = path.child("template");
    errs.extend(pod_template_spec(tpl, &tp, &PodOpts::default()));
    // An unset restartPolicy defaults to Always, which a Job cannot use.
    let rpp = tp.child("spec").child("restartPolicy");
    match str_of(obj_of(tpl, "spec"), "restartPolicy") {
        "" | "Always" => errs.push(required(&rpp, "valid values: \"OnFailure\", \"Never\"")),
        "OnFailure" if pfp.is_some() => errs.push(invalid(
            &rpp,
            go::str("OnFailure"),
            "only \"Never\" is supported when podFailurePolicy is specified",
        )),
        "OnFailure" | "Never" => {}
        other => errs.push(not_supported(&rpp, go::str(other), &["OnFailure", "Never"])),
    }
    errs
}

/// ValidateJobSpecUpdate: selector, template, completion mode and failure policies are fixed.
fn job_spec_update(new: &Value, old: &Value, old_job: &Value, sp: &Path) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    let (nc, oc) = (field(new, "completions"), field(old, "completions"));
    if str_of(new, "completionMode") == "Indexed" {
        if !super::validation::semantic_eq(nc, oc)
            && nc.is_some()
            && int_of(new, "completions") != int_of(new, "parallelism")
        {
            errs.push(invalid(
                &sp.child("completions"),
                go::opt_int(int_of(new, "completions")),
                "can only be modified in tandem with spec.parallelism",
            ));
        }
    } else {
        errs.extend(immutable(nc, oc, &sp.child("completions"), |v| go::opt_int(v.and_then(Value::as_i64))));
    }
    errs.extend(immutable(field(new, "selector"), field(old, "selector"), &sp.child("selector"), go::label_selector));
    // Scheduling directives of a suspended Job that never started may change.
    let mut old_tpl = obj_of(old, "template").clone();
    let new_tpl = obj_of(new, "template");
    let suspended = bool_of(old, "suspend") && field(obj_of(old_job, "status"), "startTime").is_none();
    if suspended {
        let copy = |dst: &mut Value, src: &Value, outer: &str, key: &str| {
            let v = src.get(outer).and_then(|o| o.get(key)).cloned();
            if let Some(o) = dst
                .as_object_mut()
                .and_then(|d| d.entry(outer).or_insert_with(|| Value::Object(Default::default())).as_object_mut())
            {
                match v {
                    Some(v) => o.insert(key.to_string(), v),
                    None => o.remove(key),
                };
            }
        };
        for key in ["nodeSelector", "tolerations", "schedulingGates", "affinity"] {
            copy(&mut old_tpl, new_tpl, "spec", key);
        }
        for key in ["annotations", "labels"] {
            copy(&mut old_tpl, new_tpl, "metadata", key);
        }
    }
    errs.extend(immutable(field(new, "template"), Some(&old_tpl), &sp.child("template"), |v| {
        go::structure("core.PodTemplateSpec", v)
    }));
    errs.extend(immutable(
        field(new, "completionMode"),
        field(old, "completionMode"),
        &sp.child("completionMode"),
        |v| v.and_then(Value::as_str).map_or_else(go::null, go::str),
    ));
    for (f, ty) in [
        ("podFailurePolicy", "batch.PodFailurePolicy"),
        ("backoffLimitPerIndex", ""),
        ("managedBy", ""),
        ("successPolicy", "batch.SuccessPolicy"),
    ] {
        errs.extend(immutable(field(new, f), field(old, f), &sp.child(f), |v| match v {
            None => go::null(),
            Some(Value::String(s)) => go::str(s),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => go::structure(ty, Some(other)),
        }));
    }
    errs
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    fn job(spec: Value) -> Value {
        json!({"metadata": {"name": "pi", "namespace": "default", "uid": "u-1"}, "spec": spec})
    }

    fn pi() -> Value {
        job(json!({"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}], "restartPolicy": "Never"}}}))
    }

    #[test]
    fn restart_policy_must_be_on_failure_or_never() {
        assert!(validate(&pi(), None).is_empty());
        let unset = job(json!({"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}}));
        assert_eq!(
            render(&validate(&unset, None)),
            vec!["spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",]
        );
        let odd = job(
            json!({"template": {"spec": {"containers": [{"name": "pi", "image": "perl"}], "restartPolicy": "Sometimes"}}}),
        );
        assert_eq!(render(&validate(&odd, None)), vec![
            "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            "spec.template.spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"OnFailure\", \"Never\"",
        ]);
        assert_eq!(
            render(&validate(&job(json!({})), None)),
            vec![
                "spec.template.spec.containers: Required value",
                "spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\"",
            ]
        );
    }

    #[test]
    fn manual_selectors_must_match_and_generated_ones_must_be_generated() {
        let manual = job(json!({"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}, "parallelism": -1,
            "template": {"metadata": {"labels": {"a": "c"}}, "spec": {"containers": [{"name": "pi", "image": "perl"}], "restartPolicy": "Never"}}}));
        assert_eq!(render(&validate(&manual, None)), vec![
            "spec.parallelism: Invalid value: -1: must be greater than or equal to 0",
            "spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"c\"}: `selector` does not match template `labels`",
        ]);
        let generated = job(json!({"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}},
            "template": {"metadata": {"labels": {"controller-uid": "u-1", "job-name": "pi", "batch.kubernetes.io/controller-uid": "u-1", "batch.kubernetes.io/job-name": "pi"}},
                "spec": {"containers": [{"name": "pi", "image": "perl"}], "restartPolicy": "Never"}}}));
        assert!(validate(&generated, None).is_empty());
        let user = job(json!({"selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "pi", "image": "perl"}], "restartPolicy": "Never"}}}));
        let errs = render(&validate(&user, None));
        assert_eq!(errs[0], "spec.template.metadata.labels[controller-uid]: Required value: must be 'u-1'");
        assert_eq!(errs[4], "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"x\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` not auto-generated");
    }

    #[test]
    fn the_template_is_immutable() {
        let old = pi();
        let mut new = pi();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("perl:5");
        let errs = validate(&new, Some(&old));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.template");
        assert!(errs[0].message.starts_with("Invalid value: core.PodTemplateSpec{"), "{}", errs[0].message);
        assert!(errs[0].message.ends_with(": field is immutable"), "{}", errs[0].message);
        let mut parallel = pi();
        parallel["spec"]["parallelism"] = json!(3);
        assert!(validate(&parallel, Some(&old)).is_empty());
        let mut completions = pi();
        completions["spec"]["completions"] = json!(3);
        assert_eq!(
            render(&validate(&completions, Some(&old))),
            vec!["spec.completions: Invalid value: 3: field is immutable"]
        );
    }
}
