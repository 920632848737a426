//! LimitRanges (core/v1). Kubernetes has no printer for them: the default Table applies.

use super::print::*;
use super::{NameRule, ResourceDef, VERBS_ALL};

pub static LIMITRANGES: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "LimitRange",
    plural: "limitranges",
    singular: "limitrange",
    namespaced: true,
    short_names: &["limits"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/limitranges",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: DEFAULT_COLUMNS,
    row: default_row,
    field_labels: &[],
    field_value: meta_field_value,
    default,
    validate: no_validation,
};

/// SetDefaults_LimitRangeItem: for Container limits, the default limit falls back to max and
/// the default request to the default limit, then to min.
fn default(obj: &mut serde_json::Value) {
    use super::defaulting::*;
    use serde_json::{Map, Value};
    let Some(spec) = root(obj).and_then(|r| existing(r, "spec")) else { return };
    for item in items(spec, "limits") {
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let list = |item: &Map<String, Value>, k: &str| item.get(k).and_then(Value::as_object).cloned().unwrap_or_default();
        for (from, to) in [("max", "default"), ("default", "defaultRequest"), ("min", "defaultRequest")] {
            let source = list(item, from);
            let mut target = list(item, to);
            let mut added = false;
            for (k, v) in source {
                if !target.contains_key(&k) {
                    target.insert(k, v);
                    added = true;
                }
            }
            if added {
                item.insert(to.into(), Value::Object(target));
            }
        }
    }
}

#[cfg(test)]
mod default_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_limit_defaults() {
        let mut lr = json!({"spec": {"limits": [
            {"type": "Container", "max": {"cpu": "2", "memory": "1Gi"}, "min": {"cpu": "100m", "ephemeral-storage": "1Gi"}, "default": {"cpu": "1"}},
            {"type": "Pod", "max": {"cpu": "4"}}
        ]}});
        default(&mut lr);
        let c = &lr["spec"]["limits"][0];
        assert_eq!(c["default"], json!({"cpu": "1", "memory": "1Gi"}));
        assert_eq!(c["defaultRequest"], json!({"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"}));
        assert!(lr["spec"]["limits"][1].get("default").is_none());
    }
}
