//! PodDisruptionBudgets (policy/v1): Min Available, Max Unavailable, Allowed Disruptions.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, Subresource, VERBS_ALL, VERBS_GET_PATCH_UPDATE};

pub static PODDISRUPTIONBUDGETS: ResourceDef = ResourceDef {
    group: "policy",
    version: "v1",
    kind: "PodDisruptionBudget",
    plural: "poddisruptionbudgets",
    singular: "poddisruptionbudget",
    namespaced: true,
    short_names: &["pdb"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[Subresource {
        name: "status",
        group: "policy",
        version: "v1",
        kind: "PodDisruptionBudget",
        verbs: VERBS_GET_PATCH_UPDATE,
    }],
    storage_prefix: "/registry/poddisruptionbudgets",
    storage_version: "policy/v1",
    to_storage: None,
    from_storage: None,
    has_status: true,
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: PDB_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate,
};

static PDB_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column {
        name: "Min Available",
        type_: "string",
        format: "",
        description: "The minimum number of pods that must be available.",
        priority: 0,
    },
    Column {
        name: "Max Unavailable",
        type_: "string",
        format: "",
        description: "The maximum number of pods that may be unavailable.",
        priority: 0,
    },
    Column {
        name: "Allowed Disruptions",
        type_: "integer",
        format: "",
        description: "Calculated number of pods that may be disrupted at this time.",
        priority: 0,
    },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

fn row(pdb: &Value, now: Timestamp) -> Vec<Value> {
    let bound = |ptr: &str| at(pdb, ptr).map(int_or_string).unwrap_or_else(|| "N/A".into());
    vec![
        name(pdb),
        s(bound("/spec/minAvailable")),
        s(bound("/spec/maxUnavailable")),
        Value::from(i64_at(pdb, "/status/disruptionsAllowed")),
        age(pdb, now),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounds() {
        let pdb = json!({"spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
        let c = row(&pdb, Timestamp::UNIX_EPOCH);
        assert_eq!(c[1..4], [json!("50%"), json!("N/A"), json!(1)]);
        let pdb = json!({"spec": {"maxUnavailable": 1}});
        assert_eq!(row(&pdb, Timestamp::UNIX_EPOCH)[1..3], [json!("N/A"), json!("1")]);
    }
}

/// Pod disruption budgets have no v1 defaults; the status is Go's zero
/// PodDisruptionBudgetStatus, reset on create as PrepareForCreate does.
fn default(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    let zero = [
        ("disruptionsAllowed", json!(0)),
        ("currentHealthy", json!(0)),
        ("desiredHealthy", json!(0)),
        ("expectedPods", json!(0)),
    ];
    if is_create(obj) {
        reset_status(obj, json!({}));
    }
    status_with_zero(obj, &zero);
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zero_status() {
        let mut pdb = json!({"spec": {"minAvailable": 1}, "status": {"expectedPods": 5}});
        default(&mut pdb);
        assert_eq!(pdb["status"], json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}));
    }
}

use super::validation::{
    field, go, invalid, label_selector, not_more_than_100_percent, not_supported, obj_of, positive_int_or_percent, Path,
};

/// ValidatePodDisruptionBudgetSpec.
fn validate(pdb: &Value, _old: Option<&Value>) -> Vec<super::FieldError> {
    let spec = obj_of(pdb, "spec");
    let sp = Path::new("spec");
    let mut errs = Vec::new();
    let (min, max) = (field(spec, "minAvailable"), field(spec, "maxUnavailable"));
    if min.is_some() && max.is_some() {
        errs.push(invalid(
            &sp,
            go::structure("policy.PodDisruptionBudgetSpec", Some(spec)),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    for (f, v) in [("minAvailable", min), ("maxUnavailable", max)] {
        if v.is_some() {
            errs.extend(positive_int_or_percent(v, &sp.child(f)));
            errs.extend(not_more_than_100_percent(v, &sp.child(f)));
        }
    }
    errs.extend(label_selector(field(spec, "selector"), &sp.child("selector")));
    if let Some(p) = spec.get("unhealthyPodEvictionPolicy").and_then(Value::as_str) {
        if p != "AlwaysAllow" && p != "IfHealthyBudget" {
            errs.push(not_supported(
                &sp.child("unhealthyPodEvictionPolicy"),
                go::str(p),
                &["AlwaysAllow", "IfHealthyBudget"],
            ));
        }
    }
    errs
}
