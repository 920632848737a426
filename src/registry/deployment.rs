//! Deployments (apps/v1): `kubectl get deploy` shows Ready "ready/desired", Up-to-date and
//! Available; `scale` and `status` subresources.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static DEPLOYMENTS: ResourceDef = ResourceDef {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    singular: "deployment",
    namespaced: true,
    short_names: &["deploy"],
    categories: &["all"],
    verbs: VERBS_ALL,
    subresources: &[
        Subresource {
            name: "scale",
            group: "autoscaling",
            version: "v1",
            kind: "Scale",
            verbs: VERBS_GET_PATCH_UPDATE,
        },
        Subresource { name: "status", group: "apps", version: "v1", kind: "Deployment", verbs: VERBS_GET_PATCH_UPDATE },
    ],
    storage_prefix: "/registry/deployments",
    storage_version: "apps/v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: DEPLOYMENT_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate,
};

static DEPLOYMENT_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Ready", type_: "string", format: "", description: "Number of the pod with ready state", priority: 0 },
    Column { name: "Up-to-date", type_: "string", format: "", description: "Total number of non-terminating pods targeted by this deployment that have the desired template spec.", priority: 0 },
    Column { name: "Available", type_: "string", format: "", description: "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "Containers", type_: "string", format: "", description: "Names of each container in the template.", priority: 1 },
    Column { name: "Images", type_: "string", format: "", description: "Images referenced by each container in the template.", priority: 1 },
    Column { name: "Selector", type_: "string", format: "", description: "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.", priority: 1 },
];

/// `printDeployment`: Name, Ready, Up-to-date, Available, Age, Containers, Images, Selector.
fn row(d: &Value, now: Timestamp) -> Vec<Value> {
    let desired = opt_i64_at(d, "/spec/replicas").unwrap_or(1);
    let (names, images) = container_cells(arr_at(d, "/spec/template/spec/containers"));
    let selector = label_selector_string(d.pointer("/spec/selector")).unwrap_or_else(|| "<invalid>".into());
    vec![
        name(d),
        s(format!("{}/{}", i64_at(d, "/status/readyReplicas"), desired)),
        Value::from(i64_at(d, "/status/updatedReplicas")),
        Value::from(i64_at(d, "/status/availableReplicas")),
        age(d, now),
        names,
        images,
        s(selector),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_up_to_date_available() {
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": "2024-05-01T11:00:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"},
                                                          {"name": "side", "image": "busybox"}]}}},
            "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        });
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            row(&d, now),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("60m"),
                json!("nginx,side"),
                json!("nginx:1.27,busybox"),
                json!("app=web")
            ]
        );
        let fresh = json!({"metadata": {"name": "x"}, "spec": {"replicas": 3}});
        assert_eq!(row(&fresh, now)[1], json!("0/3"));
    }
}

/// SetDefaults_Deployment (replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10,
/// progressDeadlineSeconds 600) and the template's PodSpec defaults. A new deployment's status
/// is the zero DeploymentStatus, as PrepareForCreate leaves it.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    if is_create(obj) {
        reset_status(obj, json!({}));
    }
    status_with_zero(obj, &[]);
    let Some(spec) = root(obj).and_then(|r| child(r, "spec")) else { return };
    default_ptr(spec, "replicas", json!(1));
    if let Some(strategy) = child(spec, "strategy") {
        default_str(strategy, "type", "RollingUpdate");
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            if let Some(ru) = child(strategy, "rollingUpdate") {
                default_ptr(ru, "maxUnavailable", json!("25%"));
                default_ptr(ru, "maxSurge", json!("25%"));
            }
        }
    }
    default_ptr(spec, "revisionHistoryLimit", json!(10));
    default_ptr(spec, "progressDeadlineSeconds", json!(600));
    if let Some(t) = existing(spec, "template") {
        super::podspec::default_template(t);
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_defaults() {
        // As kubectl 1.33 sends `create deployment` (protobuf decoded to Go's JSON).
        let mut d = json!({"metadata": {"name": "web", "creationTimestamp": null},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}},
                     "strategy": {}},
            "status": {"replicas": 4}});
        default(&mut d);
        let s = &d["spec"];
        assert_eq!(s["replicas"], 1);
        assert_eq!(s["strategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}));
        assert_eq!((&s["revisionHistoryLimit"], &s["progressDeadlineSeconds"]), (&json!(10), &json!(600)));
        assert_eq!(s["template"]["spec"]["restartPolicy"], "Always");
        assert_eq!(s["template"]["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(d["status"], json!({}), "PrepareForCreate clears the status");

        let mut d = json!({"metadata": {"resourceVersion": "7"}, "spec": {"replicas": 0, "strategy": {"type": "Recreate"}},
                           "status": {"replicas": 2}});
        default(&mut d);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(d["spec"]["replicas"], 0);
        assert_eq!(d["status"], json!({"replicas": 2}), "updates keep the status");
        let mut d = json!({"spec": {"strategy": {"rollingUpdate": {"maxSurge": 0}}}});
        default(&mut d);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"], json!({"maxSurge": 0, "maxUnavailable": "25%"}));
    }
}

use super::validation::{
    dedup, field, forbidden, go, immutable, int_of, int_or_percent_value, invalid, nonnegative,
    not_more_than_100_percent, not_supported, obj_of, positive_int_or_percent, selector_and_template, str_of, Path,
};

/// ValidateDeployment / ValidateDeploymentUpdate, then the strategy's check that
/// `spec.selector` never changes (apps/v1).
fn validate(d: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let spec = obj_of(d, "spec");
    let sp = Path::new("spec");
    let mut errs = nonnegative(Some(int_of(spec, "replicas").unwrap_or(1)), &sp.child("replicas"));
    let sel = field(spec, "selector");
    errs.extend(selector_and_template(spec, &sp));
    errs.extend(strategy(field(spec, "strategy"), &sp.child("strategy")));
    let min_ready = int_of(spec, "minReadySeconds").unwrap_or(0);
    errs.extend(nonnegative(Some(min_ready), &sp.child("minReadySeconds")));
    errs.extend(nonnegative(int_of(spec, "revisionHistoryLimit"), &sp.child("revisionHistoryLimit")));
    let pds = int_of(spec, "progressDeadlineSeconds").unwrap_or(600);
    errs.extend(nonnegative(Some(pds), &sp.child("progressDeadlineSeconds")));
    if pds <= min_ready {
        errs.push(invalid(&sp.child("progressDeadlineSeconds"), go::int(pds), "must be greater than minReadySeconds"));
    }
    if let Some(old) = old {
        errs.extend(immutable(sel, field(obj_of(old, "spec"), "selector"), &sp.child("selector"), go::label_selector));
    }
    dedup(errs)
}

/// ValidateDeploymentStrategy (an unset type is the default RollingUpdate, 25%/25%).
fn strategy(st: Option<&Value>, path: &Path) -> Vec<super::FieldError> {
    let st = st.unwrap_or(&Value::Null);
    let ru = field(st, "rollingUpdate");
    match str_of(st, "type") {
        "Recreate" => match ru {
            Some(_) => {
                vec![forbidden(&path.child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")]
            }
            None => Vec::new(),
        },
        "RollingUpdate" | "" => {
            let ru = ru.unwrap_or(&Value::Null);
            let pct = Value::String("25%".into());
            let max_unavailable = field(ru, "maxUnavailable").or(Some(&pct));
            let max_surge = field(ru, "maxSurge").or(Some(&pct));
            let rp = path.child("rollingUpdate");
            let mut errs = positive_int_or_percent(max_unavailable, &rp.child("maxUnavailable"));
            errs.extend(positive_int_or_percent(max_surge, &rp.child("maxSurge")));
            if int_or_percent_value(max_unavailable) == 0 && int_or_percent_value(max_surge) == 0 {
                errs.push(invalid(
                    &rp.child("maxUnavailable"),
                    go::int_or_string(max_unavailable),
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
            errs.extend(not_more_than_100_percent(max_unavailable, &rp.child("maxUnavailable")));
            errs
        }
        other => {
            let ru_shown = if ru.is_some() {
                go::structure("&apps.RollingUpdateDeployment", ru)
            } else {
                "(*apps.RollingUpdateDeployment)(nil)".to_string()
            };
            let shown = format!("apps.DeploymentStrategy{{Type:{}, RollingUpdate:{}}}", go::str(other), ru_shown);
            vec![not_supported(path, shown, &["Recreate", "RollingUpdate"])]
        }
    }
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::status::StatusError;
    use crate::registry::validation::render;
    use serde_json::json;

    fn deployment(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn web() -> Value {
        deployment(json!({"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}))
    }

    #[test]
    fn a_valid_deployment_passes() {
        assert!(validate(&web(), None).is_empty());
        assert!(validate(&web(), Some(&web())).is_empty());
    }

    #[test]
    fn missing_selector_lists_every_error_as_the_apiserver_does() {
        let d = deployment(json!({"template": {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}));
        let errs = validate(&d, None);
        assert_eq!(
            StatusError::invalid(&DEPLOYMENTS, "web", &errs).message,
            "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`]"
        );
    }

    #[test]
    fn template_problems() {
        let d = deployment(json!({"replicas": -1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [], "restartPolicy": "Never"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}));
        assert_eq!(render(&validate(&d, None)), vec![
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`",
            "spec.template.spec.containers: Required value",
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0",
        ]);
        let empty =
            deployment(json!({"selector": {}, "template": {"spec": {"containers": [{"name": "a", "image": "b"}]}}}));
        assert_eq!(render(&validate(&empty, None)), vec![
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment",
        ]);
        let bad_strategy = deployment(
            json!({"selector": {"matchLabels": {"app": "web"}}, "strategy": {"type": "BlueGreen"},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "b"}]}}}),
        );
        assert_eq!(render(&validate(&bad_strategy, None)), vec![
            "spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:\"BlueGreen\", RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: \"Recreate\", \"RollingUpdate\"",
        ]);
    }

    #[test]
    fn the_selector_is_immutable() {
        let mut changed = web();
        changed["spec"]["selector"] = json!({"matchLabels": {"app": "web2"}});
        changed["spec"]["template"]["metadata"]["labels"] = json!({"app": "web2"});
        assert_eq!(render(&validate(&changed, Some(&web()))), vec![
            "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable",
        ]);
        let mut scaled = web();
        scaled["spec"]["replicas"] = json!(5);
        assert!(validate(&scaled, Some(&web())).is_empty());
    }

    #[test]
    fn requests_may_not_exceed_limits() {
        let mut d = web();
        d["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"limits": {"cpu": "100m"}, "requests": {"cpu": "0.2"}});
        assert_eq!(render(&validate(&d, None)), vec![
            "spec.template.spec.containers[0].resources.requests: Invalid value: \"200m\": must be less than or equal to cpu limit of 100m",
        ]);
    }
}
