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
    validate: no_validation,
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
