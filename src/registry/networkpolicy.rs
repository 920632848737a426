//! NetworkPolicies (networking.k8s.io/v1), printed with their pod selector.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, VERBS_ALL};

pub static NETWORKPOLICIES: ResourceDef = ResourceDef {
    group: "networking.k8s.io",
    version: "v1",
    kind: "NetworkPolicy",
    plural: "networkpolicies",
    singular: "networkpolicy",
    namespaced: true,
    short_names: &["netpol"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/networkpolicies",
    storage_version: "networking.k8s.io/v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: true,
    name_rule: NameRule::Subdomain,
    columns: NETPOL_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate: no_validation,
};

static NETPOL_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Pod-Selector", type_: "string", format: "", description: "Selects the pods to which this NetworkPolicy object applies.  The array of ingress rules is applied to any pods selected by this field. Multiple network policies can select the same set of pods.  In this case, the ingress rules for each are combined additively. This field is NOT optional and follows standard label selector semantics. An empty podSelector matches all pods in this namespace.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

fn row(np: &Value, now: Timestamp) -> Vec<Value> {
    // The pod selector is a struct, never nil: an absent one is the empty selector.
    let selector = np.pointer("/spec/podSelector").cloned().unwrap_or(Value::Object(Default::default()));
    vec![name(np), s(format_label_selector(Some(&selector))), age(np, now)]
}

/// SetDefaults_NetworkPolicy (policyTypes Ingress, plus Egress when there are egress rules)
/// and SetDefaults_NetworkPolicyPort (TCP).
fn default(obj: &mut Value) {
    use super::defaulting::*;
    use serde_json::json;
    let Some(spec) = root(obj).and_then(|r| child(r, "spec")) else { return };
    for direction in ["ingress", "egress"] {
        for rule in items(spec, direction) {
            for port in items(rule, "ports") {
                default_ptr(port, "protocol", json!("TCP"));
            }
        }
    }
    if empty_collection(spec.get("policyTypes")) {
        let types = if empty_collection(spec.get("egress")) { json!(["Ingress"]) } else { json!(["Ingress", "Egress"]) };
        spec.insert("policyTypes".into(), types);
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policy_types_and_ports() {
        let mut np = json!({"spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}});
        default(&mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));
        assert_eq!(np["spec"]["ingress"][0]["ports"][0], json!({"port": 80, "protocol": "TCP"}));
        let mut np = json!({"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]}});
        default(&mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "UDP");
        let mut np = json!({"spec": {"podSelector": {}, "policyTypes": ["Egress"]}});
        default(&mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Egress"]));
    }
}
