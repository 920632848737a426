//! PriorityClasses (scheduling.k8s.io/v1), with the two system classes every cluster has.

use jiff::Timestamp;
use serde_json::{json, Value};

use super::print::*;
use super::{Column, NameRule, ResourceDef, VERBS_ALL};

pub static PRIORITYCLASSES: ResourceDef = ResourceDef {
    group: "scheduling.k8s.io",
    version: "v1",
    kind: "PriorityClass",
    plural: "priorityclasses",
    singular: "priorityclass",
    namespaced: false,
    short_names: &["pc"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/priorityclasses",
    storage_version: "scheduling.k8s.io/v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: PRIORITYCLASS_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate,
};

static PRIORITYCLASS_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Value", type_: "integer", format: "", description: "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.", priority: 0 },
    Column { name: "Global-Default", type_: "boolean", format: "", description: "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
    Column { name: "PreemptionPolicy", type_: "string", format: "", description: "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.", priority: 0 },
];

fn row(pc: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(pc),
        Value::from(i64_at(pc, "/value")),
        Value::Bool(bool_at(pc, "/globalDefault")),
        age(pc, now),
        s(str_at(pc, "/preemptionPolicy")),
    ]
}

/// system-cluster-critical and system-node-critical, as the apiserver creates them.
pub fn builtin() -> Vec<Value> {
    [
        (
            "system-node-critical",
            2_000_001_000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ]
    .iter()
    .map(|(n, value, description)| {
        json!({
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": n},
            "value": value,
            "globalDefault": false,
            "description": description,
            "preemptionPolicy": "PreemptLowerPriority"
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_classes() {
        let b = builtin();
        let c = row(&b[1], Timestamp::UNIX_EPOCH);
        assert_eq!(c[..3], [json!("system-cluster-critical"), json!(2000000000), json!(false)]);
        assert_eq!(c[4], json!("PreemptLowerPriority"));
    }
}

/// SetDefaults_PriorityClass: PreemptLowerPriority.
fn default(obj: &mut Value) {
    if let Some(root) = obj.as_object_mut() {
        super::defaulting::default_ptr(root, "preemptionPolicy", json!("PreemptLowerPriority"));
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;

    #[test]
    fn preemption_policy() {
        let mut pc = json!({"value": 10});
        default(&mut pc);
        assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
        let mut pc = json!({"value": 10, "preemptionPolicy": "Never"});
        default(&mut pc);
        assert_eq!(pc["preemptionPolicy"], "Never");
    }
}

use super::validation::{bool_of, forbidden, go, immutable, int_of, not_supported, str_of, Path};

/// The highest value a user-defined PriorityClass may have.
const HIGHEST_USER_DEFINABLE_PRIORITY: i64 = 1_000_000_000;

/// ValidatePriorityClass / ValidatePriorityClassUpdate: `system-` names are reserved, values
/// bounded, and value and preemptionPolicy fixed once created.
fn validate(pc: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    let name = str_of(pc.get("metadata").unwrap_or(&Value::Null), "name");
    let value = int_of(pc, "value").unwrap_or(0);
    if old.is_none() {
        if name.starts_with("system-") {
            let known = match name {
                "system-node-critical" => Some(2_000_001_000),
                "system-cluster-critical" => Some(2_000_000_000),
                _ => None,
            };
            let err = match known {
                None => Some(format!("{name} is not a known system priority class")),
                Some(v) if v != value => Some(format!("value of {name} PriorityClass must be {v}")),
                Some(_) if bool_of(pc, "globalDefault") => {
                    Some(format!("globalDefault of {name} PriorityClass must be false"))
                }
                Some(_) => None,
            };
            if let Some(e) = err {
                errs.push(forbidden(
                    &Path::new("metadata").child("name"),
                    &format!("priority class names with 'system-' prefix are reserved for system use only. error: {e}"),
                ));
            }
        } else if value > HIGHEST_USER_DEFINABLE_PRIORITY {
            errs.push(forbidden(
                &Path::new("value"),
                &format!("maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"),
            ));
        }
    }
    if let Some(p) = pc.get("preemptionPolicy").and_then(Value::as_str) {
        if p != "PreemptLowerPriority" && p != "Never" {
            errs.push(not_supported(&Path::new("preemptionPolicy"), go::str(p), &["PreemptLowerPriority", "Never"]));
        }
    }
    if let Some(old) = old {
        if int_of(old, "value").unwrap_or(0) != value {
            errs.push(forbidden(&Path::new("value"), "may not be changed in an update."));
        }
        let policy = |v: &Value| match str_of(v, "preemptionPolicy") {
            "" => Value::String("PreemptLowerPriority".into()),
            p => Value::String(p.into()),
        };
        errs.extend(immutable(Some(&policy(pc)), Some(&policy(old)), &Path::new("preemptionPolicy"), |v| {
            go::str(v.and_then(Value::as_str).unwrap_or(""))
        }));
    }
    errs
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    #[test]
    fn reserved_names_bounds_and_fixed_values() {
        for pc in builtin() {
            assert!(validate(&pc, None).is_empty(), "{pc}");
        }
        assert_eq!(
            render(&validate(&json!({"metadata": {"name": "high"}, "value": 2_000_000_000}), None)),
            vec!["value: Forbidden: maximum allowed value of a user defined priority is 1000000000",]
        );
        assert_eq!(render(&validate(&json!({"metadata": {"name": "system-mine"}, "value": 1}), None)), vec![
            "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class",
        ]);
        let old = json!({"metadata": {"name": "p"}, "value": 10});
        assert_eq!(
            render(&validate(&json!({"metadata": {"name": "p"}, "value": 11}), Some(&old))),
            vec!["value: Forbidden: may not be changed in an update.",]
        );
    }
}

/// Priority admission for a new pod: a pod naming a class gets that class's value and
/// preemption policy (an unknown class is refused); a pod naming none gets the global
/// default class, if there is one (the lowest-valued, as upstream picks).
pub async fn admit_pod(registry: &super::generic::Registry, pod: &mut Value) -> super::status::Result<()> {
    use serde_json::json;
    let class_name = pod.pointer("/spec/priorityClassName").and_then(Value::as_str).unwrap_or("").to_string();
    let class = if class_name.is_empty() {
        let all = registry.list(&PRIORITYCLASSES, None, &Default::default()).await?;
        all.items
            .into_iter()
            .filter(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true))
            .min_by_key(|c| c.get("value").and_then(Value::as_i64).unwrap_or(0))
    } else {
        match registry.get(&PRIORITYCLASSES, None, &class_name).await {
            Ok(c) => Some(c),
            Err(e) if e.code == 404 => {
                let pod_name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                return Err(super::status::StatusError::forbidden(format!(
                    "pods \"{pod_name}\" is forbidden: no PriorityClass with name {class_name} was found"
                ))
                .with_details(json!({"name": pod_name, "kind": "pods"})));
            }
            Err(e) => return Err(e),
        }
    };
    let Some(class) = class else { return Ok(()) };
    let name = class.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let value = class.get("value").and_then(Value::as_i64).unwrap_or(0);
    let policy = class.get("preemptionPolicy").and_then(Value::as_str).unwrap_or("PreemptLowerPriority").to_string();
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("priorityClassName".into(), json!(name));
        spec.insert("priority".into(), json!(value));
        spec.insert("preemptionPolicy".into(), json!(policy));
    }
    Ok(())
}
