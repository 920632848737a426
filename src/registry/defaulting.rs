//! Go semantics for the kinds' `default` hooks: when a field counts as unset (a nil pointer,
//! an empty string, a zero number), and the shape Go's encoding/json gives zero values.
//! Only the kind modules' defaulting calls these.

use serde_json::{json, Map, Value};

/// Whether `default` runs for a create: generic create removes metadata.resourceVersion
/// before defaulting, update sets it to the revision being replaced.
pub fn is_create(obj: &Value) -> bool {
    obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).is_none_or(str::is_empty)
}

/// A Go pointer or slice that is nil: the key is missing or null.
pub fn unset(v: Option<&Value>) -> bool {
    v.is_none_or(Value::is_null)
}

/// A Go string at its zero value: missing, null or "".
pub fn empty_str(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        _ => false,
    }
}

/// A Go number at its zero value: missing, null or 0.
pub fn zero_num(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// A Go map or slice with no entries: missing, null, {} or [].
pub fn empty_collection(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// Sets a pointer field that is nil.
pub fn default_ptr(map: &mut Map<String, Value>, key: &str, value: Value) {
    if unset(map.get(key)) {
        map.insert(key.into(), value);
    }
}

/// Sets a string field that is "".
pub fn default_str(map: &mut Map<String, Value>, key: &str, value: &str) {
    if empty_str(map.get(key)) {
        map.insert(key.into(), json!(value));
    }
}

/// Sets a number field that is 0.
pub fn default_num(map: &mut Map<String, Value>, key: &str, value: i64) {
    if zero_num(map.get(key)) {
        map.insert(key.into(), json!(value));
    }
}

/// The object under `key`, made `{}` when missing or null (a nil pointer defaulted to an
/// empty struct, or a struct field Go always writes). None when it holds something else.
pub fn child<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    let v = map.entry(key).or_insert(Value::Null);
    if v.is_null() {
        *v = json!({});
    }
    v.as_object_mut()
}

/// The object under `key` if there is one (a non-nil pointer).
pub fn existing<'a>(map: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    map.get_mut(key).and_then(Value::as_object_mut)
}

/// The objects in the list under `key` (other items are left for validation).
pub fn items<'a>(map: &'a mut Map<String, Value>, key: &str) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    map.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut)
}

/// The top-level object, or None when the body is not an object.
pub fn root(obj: &mut Value) -> Option<&mut Map<String, Value>> {
    obj.as_object_mut()
}

/// Fields Go writes even at their zero value (no `omitempty`): added when missing.
pub fn go_zero(map: &mut Map<String, Value>, fields: &[(&str, Value)]) {
    for (k, v) in fields {
        if !map.contains_key(*k) {
            map.insert((*k).into(), v.clone());
        }
    }
}

/// Replaces the status with the zero status Go writes (what PrepareForCreate's
/// `obj.Status = XStatus{}` stores).
pub fn reset_status(obj: &mut Value, zero: Value) {
    if let Some(map) = obj.as_object_mut() {
        map.insert("status".into(), zero);
    }
}

/// The status, made `{}` when missing or null, with Go's always-written zero fields.
pub fn status_with_zero(obj: &mut Value, fields: &[(&str, Value)]) {
    if let Some(map) = obj.as_object_mut() {
        if let Some(st) = child(map, "status") {
            go_zero(st, fields);
        }
    }
}

/// An embedded ObjectMeta (templates): Go writes `creationTimestamp: null` for its zero time.
pub fn template_meta(map: &mut Map<String, Value>) {
    if let Some(meta) = child(map, "metadata") {
        if !meta.contains_key("creationTimestamp") {
            meta.insert("creationTimestamp".into(), Value::Null);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_zero_values() {
        assert!(unset(None) && unset(Some(&Value::Null)) && !unset(Some(&json!(0))));
        assert!(empty_str(Some(&json!(""))) && !empty_str(Some(&json!("x"))) && !empty_str(Some(&json!(1))));
        assert!(zero_num(Some(&json!(0))) && zero_num(None) && !zero_num(Some(&json!(3))));
        assert!(empty_collection(Some(&json!({}))) && empty_collection(Some(&json!([]))) && !empty_collection(Some(&json!(["a"]))));
        let mut m = Map::new();
        default_str(&mut m, "a", "x");
        default_num(&mut m, "b", 7);
        default_ptr(&mut m, "c", json!(false));
        assert_eq!(Value::Object(m.clone()), json!({"a": "x", "b": 7, "c": false}));
        m.insert("d".into(), json!("keep"));
        assert!(child(&mut m, "d").is_none(), "a non-object is left for validation");
        assert!(child(&mut m, "e").is_some());
        assert_eq!(m["e"], json!({}));
    }

    #[test]
    fn create_is_told_by_the_missing_resource_version() {
        assert!(is_create(&json!({"metadata": {"name": "a"}})));
        assert!(is_create(&json!({"metadata": {"resourceVersion": ""}})));
        assert!(!is_create(&json!({"metadata": {"resourceVersion": "12"}})));
    }

    #[test]
    fn template_meta_writes_a_null_creation_timestamp() {
        let mut t = Map::new();
        template_meta(&mut t);
        assert_eq!(Value::Object(t), json!({"metadata": {"creationTimestamp": null}}));
        let mut t = json!({"metadata": {"labels": {"a": "b"}, "creationTimestamp": null}});
        template_meta(t.as_object_mut().unwrap());
        assert_eq!(t, json!({"metadata": {"labels": {"a": "b"}, "creationTimestamp": null}}));
    }
}
