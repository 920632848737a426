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
    validate: no_validation,
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
