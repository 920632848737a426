//! Building blocks for Table cells, shared by the kind modules: Kubernetes' HumanDuration,
//! ages, forgiving JSON accessors and the label/selector formats users read in `kubectl get`.
//! Everything here is total: any JSON shape yields a cell, never a panic.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::Column;

/// Kubernetes' `duration.HumanDuration`: a succinct duration with ~2-3 significant figures
/// ("59s", "2m3s", "90m", "5h10m", "2d3h", "400d", "3y20d").
pub fn human_duration(d: Duration) -> String {
    human_duration_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// HumanDuration of a signed duration in nanoseconds: a little clock skew (down to -2s,
/// excluded) reads "0s", anything earlier "<invalid>".
pub fn human_duration_nanos(nanos: i64) -> String {
    const SECOND: i64 = 1_000_000_000;
    const MINUTE: i64 = 60 * SECOND;
    const HOUR: i64 = 60 * MINUTE;
    // Go truncates d.Seconds() toward zero.
    let seconds = nanos / SECOND;
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = nanos / MINUTE;
    if minutes < 10 {
        let s = (nanos / SECOND) % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = nanos / HOUR;
    if hours < 8 {
        let m = (nanos / MINUTE) % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        format!("{hours}h{m}m")
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        format!("{}d{}h", hours / 24, h)
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        format!("{}y{}d", hours / 24 / 365, dy)
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// Parses an RFC 3339 timestamp (metav1.Time or MicroTime) as served in JSON.
pub fn timestamp(v: Option<&Value>) -> Option<Timestamp> {
    v?.as_str()?.parse::<Timestamp>().ok()
}

/// Nanoseconds from `from` to `to` (negative when `to` is earlier).
pub fn nanos_between(from: Timestamp, to: Timestamp) -> i64 {
    let d = to.as_nanosecond() - from.as_nanosecond();
    d.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// `translateTimestampSince`: HumanDuration since the timestamp, "<unknown>" when unset.
pub fn since(v: Option<&Value>, now: Timestamp) -> String {
    match timestamp(v) {
        Some(t) => human_duration_nanos(nanos_between(t, now)),
        None => "<unknown>".into(),
    }
}

/// The Age cell: time since metadata.creationTimestamp.
pub fn age(obj: &Value, now: Timestamp) -> Value {
    Value::String(since(obj.pointer("/metadata/creationTimestamp"), now))
}

/// The value at a JSON pointer, if any.
pub fn at<'a>(obj: &'a Value, ptr: &str) -> Option<&'a Value> {
    obj.pointer(ptr).filter(|v| !v.is_null())
}

/// The string at a JSON pointer, or "" (a Go zero value).
pub fn str_at<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The string at a JSON pointer if it is set (a Go `*string`).
pub fn opt_str_at<'a>(obj: &'a Value, ptr: &str) -> Option<&'a str> {
    obj.pointer(ptr).and_then(Value::as_str)
}

/// The integer at a JSON pointer if it is set (a Go `*int32`).
pub fn opt_i64_at(obj: &Value, ptr: &str) -> Option<i64> {
    let v = obj.pointer(ptr)?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

/// The integer at a JSON pointer, or 0.
pub fn i64_at(obj: &Value, ptr: &str) -> i64 {
    opt_i64_at(obj, ptr).unwrap_or(0)
}

/// The boolean at a JSON pointer if it is set.
pub fn opt_bool_at(obj: &Value, ptr: &str) -> Option<bool> {
    obj.pointer(ptr).and_then(Value::as_bool)
}

/// The boolean at a JSON pointer, or false.
pub fn bool_at(obj: &Value, ptr: &str) -> bool {
    opt_bool_at(obj, ptr).unwrap_or(false)
}

/// The array at a JSON pointer, or an empty slice.
pub fn arr_at<'a>(obj: &'a Value, ptr: &str) -> &'a [Value] {
    obj.pointer(ptr).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The object at a JSON pointer, if any.
pub fn map_at<'a>(obj: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    obj.pointer(ptr).and_then(Value::as_object)
}

/// Number of entries of the map (or array) at a JSON pointer.
pub fn len_at(obj: &Value, ptr: &str) -> i64 {
    match obj.pointer(ptr) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

/// The Name cell.
pub fn name(obj: &Value) -> Value {
    Value::String(str_at(obj, "/metadata/name").to_string())
}

/// A string cell.
pub fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// `resource.Quantity.String()` of a serialized quantity; an unset quantity prints "0".
/// Quantities are printed as stored (the server does not re-canonicalize them here).
pub fn quantity(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(q)) => q.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".into(),
    }
}

/// `intstr.IntOrString.String()`.
pub fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// `labels.Set(m).String()`: "k1=v1,k2=v2", keys sorted.
pub fn labels_string(m: Option<&Value>) -> String {
    let Some(m) = m.and_then(Value::as_object) else { return String::new() };
    let mut pairs: Vec<String> = m.iter().map(|(k, v)| format!("{}={}", k, v.as_str().unwrap_or(""))).collect();
    pairs.sort();
    pairs.join(",")
}

/// `labels.FormatLabels`: like [`labels_string`], "<none>" when empty.
pub fn format_labels(m: Option<&Value>) -> String {
    let l = labels_string(m);
    if l.is_empty() {
        "<none>".into()
    } else {
        l
    }
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: "" for a nil or empty selector, None
/// for a requirement Kubernetes would reject.
pub fn label_selector_string(sel: Option<&Value>) -> Option<String> {
    let Some(sel) = sel.filter(|v| !v.is_null()) else { return Some(String::new()) };
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(ml) = sel.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in ml {
            reqs.push((k.clone(), format!("{}={}", k, v.as_str().unwrap_or(""))));
        }
    }
    for expr in sel.get("matchExpressions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
        let mut values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        values.sort_unstable();
        let op = expr.get("operator").and_then(Value::as_str).unwrap_or("");
        let text = match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    return None;
                }
                let word = if op == "In" { "in" } else { "notin" };
                format!("{} {} ({})", key, word, values.join(","))
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    return None;
                }
                if op == "Exists" {
                    key.to_string()
                } else {
                    format!("!{key}")
                }
            }
            _ => return None,
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(reqs.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join(","))
}

/// `metav1.FormatLabelSelector`: the selector string, "<none>" when empty, "<error>" when
/// invalid.
pub fn format_label_selector(sel: Option<&Value>) -> String {
    match label_selector_string(sel) {
        Some(s) if s.is_empty() => "<none>".into(),
        Some(s) => s,
        None => "<error>".into(),
    }
}

/// `layoutContainerCells`: container names and images, comma-separated.
pub fn container_cells(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, "/image")).collect();
    (s(names.join(",")), s(images.join(",")))
}

/// `"True"`, `"False"` or `"<unset>"` (printBoolPtr).
pub fn bool_ptr(v: Option<bool>) -> Value {
    s(match v {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    })
}

/// The first non-empty string.
pub fn first_non_empty<'a>(items: &[&'a str]) -> &'a str {
    items.iter().copied().find(|s| !s.is_empty()).unwrap_or("")
}

/// `metadata.name` and `metadata.namespace`, which every kind answers.
pub fn meta_field(obj: &Value, label: &str) -> Option<String> {
    match label {
        "metadata.name" => Some(str_at(obj, "/metadata/name").to_string()),
        "metadata.namespace" => Some(str_at(obj, "/metadata/namespace").to_string()),
        _ => None,
    }
}

/// field_value for kinds that select on object metadata only.
pub fn meta_field_value(obj: &Value, label: &str) -> Option<String> {
    meta_field(obj, label)
}

/// ObjectMeta's swagger description of `name`, used by every Name column.
pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";

/// ObjectMeta's swagger description of `creationTimestamp`, used by Age and Created At.
pub const CREATION_DESCRIPTION: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The Table the API server builds for kinds without a printer (its default convertor).
pub static DEFAULT_COLUMNS: &[Column] = &[
    Column { name: "Name", type_: "string", format: "name", description: NAME_DESCRIPTION, priority: 0 },
    Column { name: "Created At", type_: "date", format: "", description: CREATION_DESCRIPTION, priority: 0 },
];

/// Cells of the default Table: the name and creationTimestamp in UTC RFC 3339 (the zero
/// time when unset, as Go prints it).
pub fn default_row(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let created = match timestamp(obj.pointer("/metadata/creationTimestamp")) {
        Some(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => "0001-01-01T00:00:00Z".to_string(),
    };
    vec![name(obj), s(created)]
}

/// Defaulting placeholder (filled by the kubectl-fidelity work).
pub fn no_defaults(_obj: &mut Value) {}

/// Validation placeholder: kind-specific validation comes later; names are checked
/// generically.
pub fn no_validation(_new: &Value, _old: Option<&Value>) -> Vec<super::FieldError> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn human_duration_matches_upstream_table() {
        // Cases from apimachinery's duration_test.go plus edges around each boundary.
        let m = 60;
        let h = 60 * m;
        let d = 24 * h;
        let y = 365 * d;
        let cases: &[(u64, &str)] = &[
            (0, "0s"),
            (1, "1s"),
            (59, "59s"),
            (60, "60s"),
            (119, "119s"),
            (2 * m, "2m"),
            (2 * m + 3, "2m3s"),
            (9 * m + 59, "9m59s"),
            (10 * m, "10m"),
            (10 * m + 59, "10m"),
            (90 * m, "90m"),
            (3 * h - 1, "179m"),
            (3 * h, "3h"),
            (3 * h + 30 * m, "3h30m"),
            (7 * h + 59 * m, "7h59m"),
            (8 * h, "8h"),
            (47 * h + 59 * m, "47h"),
            (48 * h, "2d"),
            (2 * d + 3 * h, "2d3h"),
            (7 * d + 23 * h, "7d23h"),
            (8 * d, "8d"),
            (367 * d, "367d"),
            (2 * y - 1, "729d"),
            (2 * y, "2y"),
            (2 * y + 20 * d, "2y20d"),
            (8 * y - 1, "7y364d"),
            (8 * y, "8y"),
            (10 * y + 100 * d, "10y"),
        ];
        for (n, want) in cases {
            assert_eq!(human_duration(secs(*n)), *want, "{n}s");
        }
        assert_eq!(human_duration(Duration::from_millis(1500)), "1s");
    }

    #[test]
    fn human_duration_tolerates_small_clock_skew() {
        assert_eq!(human_duration_nanos(-1_500_000_000), "0s");
        assert_eq!(human_duration_nanos(-2_000_000_000), "<invalid>");
    }

    #[test]
    fn age_reads_creation_timestamp() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        let obj = json!({"metadata": {"creationTimestamp": "2024-05-01T11:55:00Z"}});
        assert_eq!(age(&obj, now), json!("5m"));
        assert_eq!(age(&json!({}), now), json!("<unknown>"));
        assert_eq!(age(&json!({"metadata": {"creationTimestamp": 5}}), now), json!("<unknown>"));
    }

    #[test]
    fn selectors_print_like_kubernetes() {
        let sel = json!({
            "matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web", "cache"]},
                {"key": "env", "operator": "NotIn", "values": ["prod"]},
                {"key": "x", "operator": "Exists"},
                {"key": "y", "operator": "DoesNotExist"}
            ]
        });
        assert_eq!(label_selector_string(Some(&sel)).unwrap(), "a=1,b=2,env notin (prod),tier in (cache,web),x,!y");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(
            format_label_selector(Some(&json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]}))),
            "<error>"
        );
        assert_eq!(format_labels(Some(&json!({"z": "1", "app": "web"}))), "app=web,z=1");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn default_row_prints_created_at() {
        let now = Timestamp::UNIX_EPOCH;
        let obj = json!({"metadata": {"name": "a", "creationTimestamp": "2024-01-02T03:04:05Z"}});
        assert_eq!(default_row(&obj, now), vec![json!("a"), json!("2024-01-02T03:04:05Z")]);
        assert_eq!(default_row(&json!({}), now), vec![json!(""), json!("0001-01-01T00:00:00Z")]);
    }
}
