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
    validate,
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

use super::validation::{
    config_key_errors, field, forbidden, go, invalid, invalid_each, map_of, obj_of, required, semantic_eq, sorted_keys,
    str_of, too_long, Path, FIELD_IMMUTABLE,
};

/// ValidateSecret, and on update ValidateSecretUpdate: `type` never changes and
/// `immutable: true` freezes the data.
fn validate(secret: &Value, old: Option<&Value>) -> Vec<super::FieldError> {
    let mut errs = Vec::new();
    if let Some(old) = old {
        let type_of = |s: &Value| match str_of(s, "type") {
            "" => "Opaque".to_string(),
            t => t.to_string(),
        };
        if type_of(secret) != type_of(old) {
            errs.push(invalid(&Path::new("type"), go::str(str_of(secret, "type")), FIELD_IMMUTABLE));
        }
        if old.get("immutable").and_then(Value::as_bool) == Some(true) {
            if secret.get("immutable").and_then(Value::as_bool) != Some(true) {
                errs.push(forbidden(&Path::new("immutable"), "field is immutable when `immutable` is set"));
            }
            if !semantic_eq(field(secret, "data"), field(old, "data")) {
                errs.push(forbidden(&Path::new("data"), "field is immutable when `immutable` is set"));
            }
        }
    }
    let data = map_of(secret, "data");
    let data_path = Path::new("data");
    let mut total = 0usize;
    for key in sorted_keys(data) {
        errs.extend(invalid_each(&data_path.key(key), key, &config_key_errors(key)));
        total += decoded(&data[key]).len();
    }
    if total > super::configmap::MAX_DATA_SIZE {
        errs.push(too_long(&data_path, super::configmap::MAX_DATA_SIZE));
    }
    let has = |k: &str| data.contains_key(k);
    match str_of(secret, "type") {
        "kubernetes.io/service-account-token" => {
            let ann = str_of(obj_of(obj_of(secret, "metadata"), "annotations"), "kubernetes.io/service-account.name");
            if ann.is_empty() {
                errs.push(required(
                    &Path::new("metadata").child("annotations").key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        t @ ("kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson") => {
            let key = if t == "kubernetes.io/dockercfg" { ".dockercfg" } else { ".dockerconfigjson" };
            match data.get(key) {
                None => errs.push(required(&data_path.key(key), "")),
                Some(v) => {
                    if let Err(e) = json_object(&decoded(v)) {
                        errs.push(invalid(&data_path.key(key), go::str("<secret contents redacted>"), &e));
                    }
                }
            }
        }
        "kubernetes.io/basic-auth" => {
            if !has("username") && !has("password") {
                errs.push(required(&data_path.key("username"), ""));
                errs.push(required(&data_path.key("password"), ""));
            }
        }
        "kubernetes.io/ssh-auth" => {
            if data.get("ssh-privatekey").is_none_or(|v| decoded(v).is_empty()) {
                errs.push(required(&data_path.key("ssh-privatekey"), ""));
            }
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.push(required(&data_path.key(key), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

/// A data value's bytes (data is base64 in JSON).
fn decoded(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    let s = v.as_str().unwrap_or("");
    base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_else(|_| vec![0; s.len() * 3 / 4])
}

/// json.Unmarshal into map[string]interface{}, with Go's error texts for the usual mistakes.
fn json_object(bytes: &[u8]) -> Result<(), String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("unexpected end of JSON input".into());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_)) | Ok(Value::Null) => Ok(()),
        Ok(other) => {
            let kind = match other {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                _ => "array",
            };
            Err(format!("json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"))
        }
        Err(e) if e.is_eof() => Err("unexpected end of JSON input".into()),
        Err(e) => {
            let first = bytes.iter().find(|c| !c.is_ascii_whitespace()).copied().unwrap_or(b' ');
            if !matches!(first, b'{' | b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9') {
                Err(format!("invalid character {} looking for beginning of value", go_char(first)))
            } else {
                Err(e.to_string())
            }
        }
    }
}

/// Go's quoteChar for a byte in JSON syntax errors: 'x'.
fn go_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        c if c.is_ascii_graphic() || c == b' ' => format!("'{}'", c as char),
        c => format!("'\\x{c:02x}'"),
    }
}

#[cfg(test)]
mod validation_tests {
    use super::*;
    use crate::registry::validation::render;
    use serde_json::json;

    #[test]
    fn type_specific_keys() {
        let tls = json!({"type": "kubernetes.io/tls", "data": {}});
        assert_eq!(
            render(&validate(&tls, None)),
            vec!["data[tls.crt]: Required value", "data[tls.key]: Required value"]
        );
        let docker = json!({"type": "kubernetes.io/dockerconfigjson", "data": {}});
        assert_eq!(render(&validate(&docker, None)), vec!["data[.dockerconfigjson]: Required value"]);
        let not_json = json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "eA=="}});
        assert_eq!(render(&validate(&not_json, None)), vec![
            "data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character 'x' looking for beginning of value",
        ]);
        let sa = json!({"type": "kubernetes.io/service-account-token"});
        assert_eq!(
            render(&validate(&sa, None)),
            vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
        let basic = json!({"type": "kubernetes.io/basic-auth", "data": {"password": ""}});
        assert!(validate(&basic, None).is_empty());
        let bad_key = json!({"data": {"a/b": "eA=="}});
        assert_eq!(validate(&bad_key, None)[0].field, "data[a/b]");
    }

    #[test]
    fn type_and_frozen_data_never_change() {
        let old = json!({"type": "Opaque", "immutable": true, "data": {"a": "eA=="}});
        let new = json!({"type": "kubernetes.io/tls", "immutable": true, "data": {"a": "eQ==", "tls.crt": "", "tls.key": ""}});
        assert_eq!(
            render(&validate(&new, Some(&old))),
            vec![
                "type: Invalid value: \"kubernetes.io/tls\": field is immutable",
                "data: Forbidden: field is immutable when `immutable` is set",
            ]
        );
        assert!(validate(&json!({"data": {"a": "eA=="}}), Some(&json!({"type": "Opaque"}))).is_empty());
    }
}
