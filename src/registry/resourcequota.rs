//! ResourceQuotas (core/v1): printed as "resource: used/hard" lists split into requests
//! and limits.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static RESOURCEQUOTAS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "ResourceQuota",
    plural: "resourcequotas",
    singular: "resourcequota",
    namespaced: true,
    short_names: &["quota"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[Subresource {
        name: "status",
        group: "",
        version: "v1",
        kind: "ResourceQuota",
        verbs: VERBS_GET_PATCH_UPDATE,
    }],
    storage_prefix: "/registry/resourcequotas",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: RESOURCEQUOTA_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate,
};

static RESOURCEQUOTA_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Request", type_: "string", format: "", description: "Request represents a minimum amount of cpu/memory that a container may consume.", priority: 0 },
    Column { name: "Limit", type_: "string", format: "", description: "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

/// `printResourceQuota`: hard resources sorted by name; "limits.*" go to the Limit column.
fn row(rq: &Value, now: Timestamp) -> Vec<Value> {
    let mut requests: Vec<String> = Vec::new();
    let mut limits: Vec<String> = Vec::new();
    if let Some(hard) = map_at(rq, "/status/hard") {
        let mut names: Vec<&String> = hard.keys().collect();
        names.sort();
        for res in names {
            let used = quantity(rq.pointer("/status/used").and_then(|u| u.get(res.as_str())));
            let text = format!("{}: {}/{}", res, used, quantity(hard.get(res.as_str())));
            let mut pieces = res.split('.');
            let first = pieces.next();
            if first == Some("limits") && pieces.next().is_some() {
                limits.push(text);
            } else {
                requests.push(text);
            }
        }
    }
    vec![name(rq), s(requests.join(", ")), s(limits.join(", ")), age(rq, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_and_limits() {
        let rq = json!({"metadata": {"name": "q"}, "status": {
            "hard": {"pods": "10", "limits.cpu": "2", "requests.cpu": "1"},
            "used": {"pods": "3", "limits.cpu": "500m"}}});
        let cells = row(&rq, Timestamp::UNIX_EPOCH);
        assert_eq!(cells[1], json!("pods: 3/10, requests.cpu: 0/1"));
        assert_eq!(cells[2], json!("limits.cpu: 500m/2"));
    }
}

/// Resource quotas have no v1 defaults; the status is reset on create, as PrepareForCreate
/// does (the quota controller fills it).
fn default(obj: &mut Value) {
    use super::defaulting::*;
    if is_create(obj) {
        reset_status(obj, serde_json::json!({}));
    }
    status_with_zero(obj, &[]);
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_is_reset_on_create() {
        let mut q = json!({"spec": {"hard": {"pods": "2"}}, "status": {"used": {"pods": "9"}}});
        default(&mut q);
        assert_eq!(q["status"], json!({}));
        let mut q = json!({"metadata": {"resourceVersion": "1"}, "status": {"used": {"pods": "1"}}});
        default(&mut q);
        assert_eq!(q["status"], json!({"used": {"pods": "1"}}));
    }
}

use super::validation::{
    go, invalid, map_of, obj_of, quantity_at, resource_name, resource_quantity_value, sorted_keys, Path,
};

/// Resource names a quota may count without a domain prefix.
const STANDARD_QUOTA_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
];

/// ValidateResourceQuotaSpec: standard (or qualified) names and non-negative amounts.
fn validate(rq: &Value, _old: Option<&Value>) -> Vec<super::FieldError> {
    let hard = map_of(obj_of(rq, "spec"), "hard");
    let hp = Path::new("spec").child("hard");
    let mut errs = Vec::new();
    for name in sorted_keys(hard) {
        let p = hp.key(name);
        let name_errs = resource_name(name, &p);
        let standard = STANDARD_QUOTA_RESOURCES.contains(&name.as_str())
            || name.starts_with("hugepages-")
            || name.starts_with("requests.hugepages-");
        errs.extend(name_errs);
        if !name.contains('/') && !standard {
            errs.push(invalid(&p, go::str(name), "must be a standard resource for quota"));
        }
        match quantity_at(&hard[name], &p) {
            Ok(q) => errs.extend(resource_quantity_value(name, &q, &p)),
            Err(e) => errs.push(e),
        }
    }
    errs
}
