//! Secrets (core/v1): printed with their type and number of keys; selectable by `type`.

use jiff::Timestamp;
use serde_json::Value;

use super::print::*;
use super::{Column, NameRule, ResourceDef, VERBS_ALL};

pub static SECRETS: ResourceDef = ResourceDef {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    singular: "secret",
    namespaced: true,
    short_names: &[],
    categories: &[],
    verbs: VERBS_ALL,
    subresources: &[],
    storage_prefix: "/registry/secrets",
    storage_version: "v1",
    to_storage: None,
    from_storage: None,
    has_status: false,
    tracks_generation: false,
    name_rule: NameRule::Subdomain,
    columns: SECRET_COLUMNS,
    row,
    field_labels: &["type"],
    field_value,
    default,
    validate: no_validation,
};

static SECRET_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Type", type_: "string", format: "", description: "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types", priority: 0 },
    Column { name: "Data", type_: "string", format: "", description: "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4", priority: 0 },
    Column { name: "Age", type_: "string", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

fn row(secret: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(secret), s(str_at(secret, "/type")), Value::from(len_at(secret, "/data")), age(secret, now)]
}

fn field_value(secret: &Value, label: &str) -> Option<String> {
    match label {
        "type" => Some(str_at(secret, "/type").to_string()),
        _ => meta_field(secret, label),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_count_and_type() {
        let secret = json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "eA==", "b": "eQ=="}});
        let cells = row(&secret, Timestamp::UNIX_EPOCH);
        assert_eq!(cells[..3], [json!("s"), json!("Opaque"), json!(2)]);
        assert_eq!(field_value(&secret, "type").as_deref(), Some("Opaque"));
    }
}

/// `stringData` is write-only: its entries are merged into `data` (base64), overriding keys
/// there, and it is never stored (as the v1 conversion does); `type` defaults to Opaque.
fn default(obj: &mut Value) {
    use base64::Engine as _;
    let Some(map) = obj.as_object_mut() else { return };
    if let Some(Value::Object(sd)) = map.remove("stringData") {
        let data = map.entry("data").or_insert_with(|| Value::Object(Default::default()));
        if !data.is_object() {
            *data = Value::Object(Default::default());
        }
        if let Some(d) = data.as_object_mut() {
            for (k, v) in sd {
                if let Some(text) = v.as_str() {
                    d.insert(k, Value::String(base64::engine::general_purpose::STANDARD.encode(text)));
                }
            }
        }
    }
    if map.get("type").and_then(Value::as_str).is_none_or(str::is_empty) {
        map.insert("type".into(), Value::String("Opaque".into()));
    }
}
