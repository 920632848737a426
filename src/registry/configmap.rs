//! ConfigMaps (core/v1): printed with the number of data and binaryData keys.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, VERBS_ALL};

pub static CONFIGMAPS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    singular: "configmap",
    namespaced: true,
    short_names: &["cm"],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/configmaps",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: CONFIGMAP_COLUMNS,
    row,
    field_labels: &[],
    field_value: meta_field_value,
    default: no_defaults,
    validate,
};

static CONFIGMAP_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Data", type_: "string", format: "", description: "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

fn row(cm: &Value, now: Timestamp) -> Vec<Value> {
    let count = len_at(cm, "/data") + len_at(cm, "/binaryData");
    vec![name(cm), Value::from(count), age(cm, now)]
}

use super::validation::{
    config_key_errors, field, forbidden, go, invalid, invalid_each, map_of, semantic_eq, sorted_keys, too_long, Path,
};

/// The most data a ConfigMap or Secret may hold (core.MaxSecretSize).
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

/// ValidateConfigMap, and on update ValidateConfigMapUpdate (`immutable: true` freezes data).
fn validate(cm: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    if let Some(old) = old {
        if old.get("immutable").and_then(Value::as_bool) == Some(true) {
            if cm.get("immutable").and_then(Value::as_bool) != Some(true) {
                errs.push(forbidden(&Path::new("immutable"), "field is immutable when `immutable` is set"));
            }
            for f in ["data", "binaryData"] {
                if !semantic_eq(field(cm, f), field(old, f)) {
                    errs.push(forbidden(&Path::new(f), "field is immutable when `immutable` is set"));
                }
            }
        }
    }
    let data = map_of(cm, "data");
    let binary = map_of(cm, "binaryData");
    let mut total = 0usize;
    for key in sorted_keys(data) {
        let p = Path::new("data").key(key);
        errs.extend(invalid_each(&p, key, &config_key_errors(key)));
        if binary.contains_key(key.as_str()) {
            errs.push(invalid(&p, go::str(key), "duplicate of key present in binaryData"));
        }
        total += data[key].as_str().map_or(0, str::len);
    }
    for key in sorted_keys(binary) {
        errs.extend(invalid_each(&Path::new("binaryData").key(key), key, &config_key_errors(key)));
        total += binary[key].as_str().map_or(0, base64_len);
    }
    if total > MAX_DATA_SIZE {
        errs.push(too_long(&Path::whole(), MAX_DATA_SIZE));
    }
    errs
}

/// The decoded length of base64 text (how many bytes the value holds).
pub fn base64_len(s: &str) -> usize {
    let s = s.trim_end_matches('=');
    s.len() * 3 / 4
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    #[test]
    fn keys_size_and_immutability() {
        let cm = json!({"metadata": {"name": "c"}, "data": {"ok.key": "v", "a b": "v", "..": "v"}, "binaryData": {"ok.key": "eA=="}});
        assert_eq!(render(&validate(&cm, None)), vec![
            "data[..]: Invalid value: \"..\": must not be '..'",
            "data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            "data[ok.key]: Invalid value: \"ok.key\": duplicate of key present in binaryData",
        ]);
        let big = json!({"data": {"a": "x".repeat(MAX_DATA_SIZE), "b": "y"}});
        assert_eq!(render(&validate(&big, None)), vec!["[]: Too long: may not be more than 1048576 bytes"]);
        let frozen = json!({"immutable": true, "data": {"a": "1"}});
        let changed = json!({"immutable": true, "data": {"a": "2"}});
        assert_eq!(
            render(&validate(&changed, Some(&frozen))),
            vec!["data: Forbidden: field is immutable when `immutable` is set"]
        );
        let thawed = json!({"data": {"a": "1"}});
        assert_eq!(
            render(&validate(&thawed, Some(&frozen))),
            vec!["immutable: Forbidden: field is immutable when `immutable` is set"]
        );
        assert!(validate(&frozen, Some(&frozen)).is_empty());
        assert!(validate(&changed, Some(&thawed)).is_empty());
    }
}
