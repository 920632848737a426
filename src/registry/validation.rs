//! Field validation as kube-apiserver 1.33 words it, shared by every kind's `validate` hook:
//! field paths, bad values rendered as Go prints them, apimachinery's error constructors,
//! quantities, ports, label selectors, pod templates and PodSpecs, immutable fields. Pure
//! functions over JSON; each kind module composes them in upstream's order. Defaulting runs
//! first but may be partial, so a missing defaulted field is read as its default.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::names::{self, quote};
use super::selector::LabelSelector;
use super::{FieldError, NameRule};

// ---------------------------------------------------------------------------------------
// Field paths (field.Path)
// ---------------------------------------------------------------------------------------

/// A field path as field.Path prints it: `spec.containers[0].ports[1].containerPort`,
/// `spec.resources.limits[cpu]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn new(name: &str) -> Path {
        Path(name.to_string())
    }
    /// field.NewPath(""), which prints as `[]` (the whole object).
    pub fn whole() -> Path {
        Path("[]".to_string())
    }
    pub fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_string())
        } else {
            Path(format!("{}.{}", self.0, name))
        }
    }
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{}]", self.0, i))
    }
    pub fn key(&self, k: &str) -> Path {
        Path(format!("{}[{}]", self.0, k))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------------------------------
// Error constructors (field.Required, field.Invalid, ...) and their ErrorBody
// ---------------------------------------------------------------------------------------

fn with_detail(head: String, detail: &str) -> String {
    if detail.is_empty() {
        head
    } else {
        format!("{head}: {detail}")
    }
}

fn error(path: &Path, reason: &'static str, message: String) -> FieldError {
    FieldError { field: path.0.clone(), reason, message }
}

/// `Required value[: detail]`.
pub fn required(path: &Path, detail: &str) -> FieldError {
    error(path, "FieldValueRequired", with_detail("Required value".into(), detail))
}

/// `Forbidden[: detail]`.
pub fn forbidden(path: &Path, detail: &str) -> FieldError {
    error(path, "FieldValueForbidden", with_detail("Forbidden".into(), detail))
}

/// `Invalid value: <value>[: detail]`; `value` is already rendered (see [`go`]).
pub fn invalid(path: &Path, value: impl Into<String>, detail: &str) -> FieldError {
    error(path, "FieldValueInvalid", with_detail(format!("Invalid value: {}", value.into()), detail))
}

/// `Unsupported value: <value>: supported values: "A", "B"`.
pub fn not_supported(path: &Path, value: impl Into<String>, supported: &[&str]) -> FieldError {
    let detail = if supported.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = supported.iter().map(|s| quote(s)).collect();
        format!("supported values: {}", quoted.join(", "))
    };
    error(path, "FieldValueNotSupported", with_detail(format!("Unsupported value: {}", value.into()), &detail))
}

/// `Duplicate value: <value>`.
pub fn duplicate(path: &Path, value: impl Into<String>) -> FieldError {
    error(path, "FieldValueDuplicate", format!("Duplicate value: {}", value.into()))
}

/// `Not found: <value>`.
pub fn not_found(path: &Path, value: impl Into<String>) -> FieldError {
    error(path, "FieldValueNotFound", format!("Not found: {}", value.into()))
}

/// `Too long: may not be more than N bytes` (field.TooLong as 1.33 words it).
pub fn too_long(path: &Path, max: usize) -> FieldError {
    error(path, "FieldValueTooLong", format!("Too long: may not be more than {max} bytes"))
}

/// `Too many: <n>: must have at most N items`.
pub fn too_many(path: &Path, actual: usize, max: usize) -> FieldError {
    error(path, "FieldValueTooMany", format!("Too many: {actual}: must have at most {max} items"))
}

/// apimachinery's `must be greater than or equal to 0` on a negative number.
pub fn nonnegative(value: Option<i64>, path: &Path) -> Vec<FieldError> {
    match value {
        Some(v) if v < 0 => vec![invalid(path, v.to_string(), IS_NEGATIVE)],
        _ => Vec::new(),
    }
}

pub const IS_NEGATIVE: &str = "must be greater than or equal to 0";
pub const FIELD_IMMUTABLE: &str = "field is immutable";

/// `must be between lo and hi, inclusive` (validation.InclusiveRangeError).
pub fn inclusive_range(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// One Invalid error per message, each with the same rendered value.
pub fn invalid_each(path: &Path, value: &str, msgs: &[String]) -> Vec<FieldError> {
    msgs.iter().map(|m| invalid(path, quote(value), m)).collect()
}

/// Drops exact repeats (the apiserver's aggregate and kubectl both print each error once;
/// several upstream strategies validate the same spec twice on update).
pub fn dedup(errs: Vec<FieldError>) -> Vec<FieldError> {
    let mut out: Vec<FieldError> = Vec::with_capacity(errs.len());
    for e in errs {
        if !out.iter().any(|o| o.field == e.field && o.message == e.message) {
            out.push(e);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Bad values rendered as field.Error.ErrorBody prints them in 1.33 (%v, %q or %#v)
// ---------------------------------------------------------------------------------------

/// Go renderings of bad values. Strings are quoted (%q), numbers bare, nil pointers "null",
/// maps and structs as %#v of the internal Go type.
pub mod go {
    use super::{field, quote};
    use serde_json::Value;

    pub fn str(s: &str) -> String {
        quote(s)
    }
    pub fn int(i: i64) -> String {
        i.to_string()
    }
    /// A nil pointer: ErrorBody substitutes the string "null" (and quotes it).
    pub fn null() -> String {
        quote("null")
    }
    /// A `*int32`/`*int64` field: its number, or "null" when unset.
    pub fn opt_int(v: Option<i64>) -> String {
        v.map(int).unwrap_or_else(null)
    }

    /// `%#v` of a map[string]string: `map[string]string{"a":"b", "c":"d"}` with sorted keys,
    /// `map[string]string(nil)` when unset.
    pub fn string_map(v: Option<&Value>) -> String {
        match v.and_then(Value::as_object) {
            None => "map[string]string(nil)".into(),
            Some(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let parts: Vec<String> =
                    keys.iter().map(|k| format!("{}:{}", quote(k), quote(m[*k].as_str().unwrap_or("")))).collect();
                format!("map[string]string{{{}}}", parts.join(", "))
            }
        }
    }

    /// `%#v` of a []string: `[]string{"a", "b"}`, `[]string(nil)` when unset.
    pub fn string_slice(v: Option<&Value>) -> String {
        match v.and_then(Value::as_array) {
            None => "[]string(nil)".into(),
            Some(a) => {
                let parts: Vec<String> = a.iter().map(|s| quote(s.as_str().unwrap_or(""))).collect();
                format!("[]string{{{}}}", parts.join(", "))
            }
        }
    }

    /// `%#v` of a metav1.LabelSelector reached through a pointer; "null" when nil.
    pub fn label_selector(v: Option<&Value>) -> String {
        let Some(sel) = v.filter(|v| !v.is_null()) else { return null() };
        let exprs = match field(sel, "matchExpressions").and_then(Value::as_array) {
            None => "[]v1.LabelSelectorRequirement(nil)".to_string(),
            Some(a) => {
                let parts: Vec<String> = a
                    .iter()
                    .map(|e| {
                        format!(
                            "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                            quote(e.get("key").and_then(Value::as_str).unwrap_or("")),
                            quote(e.get("operator").and_then(Value::as_str).unwrap_or("")),
                            string_slice(field(e, "values"))
                        )
                    })
                    .collect();
                format!("[]v1.LabelSelectorRequirement{{{}}}", parts.join(", "))
            }
        };
        format!("v1.LabelSelector{{MatchLabels:{}, MatchExpressions:{}}}", string_map(field(sel, "matchLabels")), exprs)
    }

    /// `%#v` of an intstr.IntOrString value.
    pub fn int_or_string(v: Option<&Value>) -> String {
        match v {
            Some(Value::String(s)) => format!("intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}", quote(s)),
            Some(Value::Number(n)) => {
                format!("intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}", n.as_i64().unwrap_or(0))
            }
            _ => "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}".into(),
        }
    }

    /// A struct upstream prints with %#v (pointers as addresses, every zero field spelled
    /// out): not reproducible byte for byte, so the type name and the JSON of the value.
    pub fn structure(type_name: &str, v: Option<&Value>) -> String {
        match v.filter(|v| !v.is_null()) {
            None => format!("{type_name}{{}}"),
            Some(v) => format!("{type_name}{v}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// JSON accessors tolerant of any shape (input is never trusted)
// ---------------------------------------------------------------------------------------

/// The field `k` of an object, None when absent, null or when `v` is not an object.
pub fn field<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k).filter(|x| !x.is_null())
}

/// A string field ("" when absent or not a string).
pub fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A list field (empty when absent or not a list).
pub fn list_of<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// An integer field.
pub fn int_of(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

/// A boolean field (false when absent).
pub fn bool_of(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

fn null() -> &'static Value {
    static NULL: Value = Value::Null;
    &NULL
}

/// The object at `k`, or null (so chained accessors keep working).
pub fn obj_of<'a>(v: &'a Value, k: &str) -> &'a Value {
    field(v, k).unwrap_or(null())
}

fn empty_map() -> &'static Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Map::new)
}

/// The map at `k` (empty when absent or not a map).
pub fn map_of<'a>(v: &'a Value, k: &str) -> &'a Map<String, Value> {
    v.get(k).and_then(Value::as_object).unwrap_or_else(|| empty_map())
}

/// A map's keys in sorted order (Go iterates maps randomly; sorted is stable and readable).
pub fn sorted_keys(m: &Map<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    keys
}

/// apiequality.Semantic.DeepEqual over JSON: null, absent, empty lists and empty maps are
/// the same (Go's nil and empty slices and maps compare equal there).
pub fn semantic_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn empty(v: Option<&Value>) -> bool {
        match v {
            None | Some(Value::Null) => true,
            Some(Value::Array(a)) => a.is_empty(),
            Some(Value::Object(m)) => m.values().all(|x| empty(Some(x))),
            _ => false,
        }
    }
    if empty(a) && empty(b) {
        return true;
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            x.iter().all(|(k, v)| semantic_eq(Some(v), y.get(k)))
                && y.iter().all(|(k, v)| x.contains_key(k) || empty(Some(v)))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| semantic_eq(Some(p), Some(q)))
        }
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// ValidateImmutableField: `Invalid value: <new>: field is immutable` when new != old.
pub fn immutable(
    new: Option<&Value>,
    old: Option<&Value>,
    path: &Path,
    render: impl Fn(Option<&Value>) -> String,
) -> Vec<FieldError> {
    if semantic_eq(new, old) {
        Vec::new()
    } else {
        vec![invalid(path, render(new), FIELD_IMMUTABLE)]
    }
}

// ---------------------------------------------------------------------------------------
// Names, labels, annotations
// ---------------------------------------------------------------------------------------

/// ValidateDNS1123Label: one Invalid error per message.
pub fn dns1123_label(value: &str, path: &Path) -> Vec<FieldError> {
    invalid_each(path, value, &names::is_dns1123_label(value))
}

/// ValidateDNS1123Subdomain.
pub fn dns1123_subdomain(value: &str, path: &Path) -> Vec<FieldError> {
    invalid_each(path, value, &names::is_dns1123_subdomain(value))
}

/// ValidateQualifiedName / ValidateLabelName.
pub fn qualified_name(value: &str, path: &Path) -> Vec<FieldError> {
    invalid_each(path, value, &names::validate_label_key(value))
}

/// metav1 ValidateLabels at `path` (every bad key and value, keys in sorted order).
pub fn labels(v: Option<&Value>, path: &Path) -> Vec<FieldError> {
    match v.and_then(Value::as_object) {
        Some(m) => names::label_errors(m, path.as_str()),
        None => Vec::new(),
    }
}

/// Total annotation size limit (256 KiB).
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * (1 << 10);

/// ValidateAnnotations: keys are qualified names (checked lower-cased), total size bounded.
pub fn annotations(v: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let Some(m) = v.and_then(Value::as_object) else { return Vec::new() };
    let mut errs = Vec::new();
    let mut total = 0usize;
    for k in sorted_keys(m) {
        for msg in names::validate_label_key(&k.to_lowercase()) {
            errs.push(invalid(path, quote(k), &msg));
        }
        total += k.len() + m[k].as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

/// An object name checked with a name rule (`prefix` for names a suffix is appended to).
pub fn name_errors(rule: NameRule, value: &str, prefix: bool) -> Vec<String> {
    if prefix {
        names::validate_prefix(rule, value)
    } else {
        names::validate(rule, value)
    }
}

// ---------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------

/// IsValidPortNum.
pub fn port_num_errors(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range(1, 65535)]
    }
}

/// IsValidPortName (an IANA_SVC_NAME).
pub fn port_name_errors(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push(names::max_len_error(15));
    }
    if port.is_empty() || !port.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-') {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into());
    }
    if !port.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".into());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".into());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".into());
    }
    errs
}

/// ValidatePortNumOrName over an IntOrString port.
pub fn port_num_or_name(port: Option<&Value>, path: &Path) -> Vec<FieldError> {
    match port {
        Some(Value::String(s)) => invalid_each(path, s, &port_name_errors(s)),
        other => {
            let n = other.and_then(Value::as_i64).unwrap_or(0);
            port_num_errors(n).iter().map(|m| invalid(path, n.to_string(), m)).collect()
        }
    }
}

// ---------------------------------------------------------------------------------------
// Quantities (resource.Quantity)
// ---------------------------------------------------------------------------------------

pub const QUANTITY_FORMAT_ERR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
pub const QUANTITY_NUMERIC_ERR: &str = "unable to parse numeric part of quantity";
pub const QUANTITY_SUFFIX_ERR: &str = "unable to parse quantity's suffix";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityFormat {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// A parsed quantity: `mantissa × 10^exponent`, with the format its suffix asked for.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    mantissa: i128,
    exponent: i32,
    pub format: QuantityFormat,
}

impl Quantity {
    /// resource.ParseQuantity, with its error texts.
    pub fn parse(s: &str) -> Result<Quantity, &'static str> {
        if s.is_empty() {
            return Err(QUANTITY_FORMAT_ERR);
        }
        if s == "0" {
            return Ok(Quantity { mantissa: 0, exponent: 0, format: QuantityFormat::DecimalSI });
        }
        let (positive, num, denom, suffix) = split_quantity(s)?;
        let (base, exp, mut format) = match suffix {
            "n" => (10, -9, QuantityFormat::DecimalSI),
            "u" => (10, -6, QuantityFormat::DecimalSI),
            "m" => (10, -3, QuantityFormat::DecimalSI),
            "" => (10, 0, QuantityFormat::DecimalSI),
            "k" => (10, 3, QuantityFormat::DecimalSI),
            "M" => (10, 6, QuantityFormat::DecimalSI),
            "G" => (10, 9, QuantityFormat::DecimalSI),
            "T" => (10, 12, QuantityFormat::DecimalSI),
            "P" => (10, 15, QuantityFormat::DecimalSI),
            "E" => (10, 18, QuantityFormat::DecimalSI),
            "Ki" => (2, 10, QuantityFormat::BinarySI),
            "Mi" => (2, 20, QuantityFormat::BinarySI),
            "Gi" => (2, 30, QuantityFormat::BinarySI),
            "Ti" => (2, 40, QuantityFormat::BinarySI),
            "Pi" => (2, 50, QuantityFormat::BinarySI),
            "Ei" => (2, 60, QuantityFormat::BinarySI),
            s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => {
                let e: i64 = go_parse_int(&s[1..]).ok_or(QUANTITY_SUFFIX_ERR)?;
                if e.unsigned_abs() > 1000 {
                    return Err(QUANTITY_NUMERIC_ERR);
                }
                (10, e as i32, QuantityFormat::DecimalExponent)
            }
            _ => return Err(QUANTITY_SUFFIX_ERR),
        };
        // Digits beyond what an i128 holds only lose precision far below anything that matters.
        let mut digits = format!("{num}{denom}");
        let mut exponent = -(denom.len() as i32);
        while digits.len() > 30 {
            digits.pop();
            exponent += 1;
        }
        let mut mantissa: i128 = digits.parse().map_err(|_| QUANTITY_NUMERIC_ERR)?;
        if base == 10 {
            exponent += exp;
        } else {
            for _ in 0..exp {
                mantissa = mantissa.checked_mul(2).ok_or(QUANTITY_NUMERIC_ERR)?;
            }
        }
        // Non-zero values round up to a whole nano (inf.RoundUp).
        if mantissa != 0 && exponent < -9 {
            let shift = (-9 - exponent) as u32;
            let div = 10i128.checked_pow(shift.min(38)).unwrap_or(i128::MAX);
            mantissa = if shift > 38 { 1 } else { (mantissa + div - 1) / div };
            exponent = -9;
        }
        if format == QuantityFormat::BinarySI {
            let one = Quantity { mantissa: 1, exponent: 0, format };
            let q = Quantity { mantissa, exponent, format };
            if mantissa > 0 && q.cmp_q(&one) == Ordering::Less {
                format = QuantityFormat::DecimalSI;
            }
        }
        if !positive {
            mantissa = -mantissa;
        }
        Ok(Quantity { mantissa, exponent, format })
    }

    /// A quantity from its JSON form (a string, or a bare number as YAML writes `cpu: 1`).
    pub fn from_json(v: &Value) -> Result<Quantity, &'static str> {
        match v {
            Value::String(s) => Quantity::parse(s.trim()),
            Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => Err(QUANTITY_FORMAT_ERR),
        }
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }
    pub fn sign(&self) -> i32 {
        self.mantissa.signum() as i32
    }

    /// Whether the value is a whole number (MilliValue() % 1000 == 0).
    pub fn is_integer(&self) -> bool {
        if self.exponent >= 0 || self.mantissa == 0 {
            return true;
        }
        let div = 10i128.checked_pow((-self.exponent) as u32);
        div.is_some_and(|d| self.mantissa % d == 0)
    }

    /// Quantity.Cmp.
    pub fn cmp_q(&self, other: &Quantity) -> Ordering {
        let (a, b) = (self, other);
        let e = a.exponent.min(b.exponent);
        let scale = |q: &Quantity| -> Option<i128> {
            10i128.checked_pow((q.exponent - e) as u32).and_then(|m| q.mantissa.checked_mul(m))
        };
        match (scale(a), scale(b)) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => {
                let f = |q: &Quantity| q.mantissa as f64 * 10f64.powi(q.exponent);
                f(a).partial_cmp(&f(b)).unwrap_or(Ordering::Equal)
            }
        }
    }

    /// Quantity.String(): the canonical form ("100m", "1Gi", "1500M", "1e3").
    pub fn canonical(&self) -> String {
        if self.mantissa == 0 {
            return "0".into();
        }
        let mut format = self.format;
        if format == QuantityFormat::BinarySI {
            let small = self.cmp_q(&Quantity { mantissa: 1024, exponent: 0, format }) == Ordering::Less
                && self.cmp_q(&Quantity { mantissa: -1024, exponent: 0, format }) == Ordering::Greater;
            if small || !self.is_integer() {
                format = QuantityFormat::DecimalSI;
            }
        }
        match format {
            QuantityFormat::BinarySI => {
                let mut v = if self.exponent >= 0 {
                    10i128
                        .checked_pow(self.exponent as u32)
                        .and_then(|m| self.mantissa.checked_mul(m))
                        .unwrap_or(i128::MAX)
                } else {
                    self.mantissa / 10i128.pow((-self.exponent) as u32)
                };
                let mut pow = 0;
                while v != 0 && v % 1024 == 0 {
                    v /= 1024;
                    pow += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].get(pow).copied().unwrap_or("");
                format!("{v}{suffix}")
            }
            _ => {
                let mut m = self.mantissa;
                let mut e = self.exponent;
                while m % 10 == 0 {
                    m /= 10;
                    e += 1;
                }
                match e.rem_euclid(3) {
                    1 => {
                        m *= 10;
                        e -= 1;
                    }
                    2 => {
                        m *= 100;
                        e -= 2;
                    }
                    _ => {}
                }
                let suffix = if format == QuantityFormat::DecimalExponent {
                    if e == 0 {
                        String::new()
                    } else {
                        format!("e{e}")
                    }
                } else {
                    match e {
                        -9 => "n",
                        -6 => "u",
                        -3 => "m",
                        3 => "k",
                        6 => "M",
                        9 => "G",
                        12 => "T",
                        15 => "P",
                        18 => "E",
                        _ => "",
                    }
                    .to_string()
                };
                format!("{m}{suffix}")
            }
        }
    }
}

/// strconv.ParseInt(s, 10, 64) for exponent suffixes (an optional sign, then digits).
fn go_parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('+').or_else(|| s.strip_prefix('-')).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// parseQuantityString: (positive, numerator, denominator, suffix).
fn split_quantity(s: &str) -> Result<(bool, &str, &str, &str), &'static str> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    while pos < end && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Ok((positive, "0", "", ""));
    }
    let start = pos;
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let num = if pos == start { "0" } else { &s[start..pos] };
    let mut denom = "";
    if pos < end && b[pos] == b'.' {
        pos += 1;
        let d = pos;
        while pos < end && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[d..pos];
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < end && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < end && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return Err(QUANTITY_FORMAT_ERR);
    }
    Ok((positive, num, denom, &s[suffix_start..]))
}

// ---------------------------------------------------------------------------------------
// Resource names and requirements
// ---------------------------------------------------------------------------------------

const STANDARD_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
    "storage",
    "requests.storage",
];

const INTEGER_RESOURCES: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

pub fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// IsNativeResource: unprefixed or in the kubernetes.io/ namespace.
pub fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// IsExtendedResourceName: `example.com/gpu` and the like.
pub fn is_extended_resource(name: &str) -> bool {
    if is_native_resource(name) || name.starts_with("requests.") {
        return false;
    }
    names::validate_label_key(&format!("requests.{name}")).is_empty()
}

/// IsOvercommitAllowed: requests may be below limits.
pub fn overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !is_hugepages(name)
}

fn is_standard_resource(name: &str) -> bool {
    STANDARD_RESOURCES.contains(&name) || name.starts_with("hugepages-") || name.starts_with("requests.hugepages-")
}

/// validateResourceName: a qualified name, standard unless fully qualified.
pub fn resource_name(name: &str, path: &Path) -> Vec<FieldError> {
    let errs = qualified_name(name, path);
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') && !is_standard_resource(name) {
        return vec![invalid(path, quote(name), "must be a standard resource type or fully qualified")];
    }
    Vec::new()
}

/// validateContainerResourceName.
pub fn container_resource_name(name: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = resource_name(name, path);
    if !name.contains('/') {
        if !(["cpu", "memory", "ephemeral-storage"].contains(&name) || is_hugepages(name)) {
            errs.push(invalid(path, quote(name), "must be a standard resource for containers"));
        }
    } else if !is_native_resource(name) && !is_extended_resource(name) {
        errs.push(invalid(path, quote(name), "doesn't follow extended resource name standard"));
    }
    errs
}

/// A quantity at `path`, or the error upstream's decoder gives for it. (The apiserver
/// rejects a malformed quantity while decoding, with 400 "... cannot be handled as a ...";
/// here it is reported as an invalid field, so a bad quantity is never stored.)
pub fn quantity_at(v: &Value, path: &Path) -> Result<Quantity, FieldError> {
    Quantity::from_json(v).map_err(|msg| {
        let shown = match v {
            Value::String(s) => quote(s),
            other => other.to_string(),
        };
        invalid(path, shown, msg)
    })
}

/// ValidateResourceQuantityValue: not negative, whole for integer resources.
pub fn resource_quantity_value(name: &str, q: &Quantity, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if q.sign() < 0 {
        errs.push(invalid(path, quote(&q.canonical()), IS_NEGATIVE));
    }
    if (INTEGER_RESOURCES.contains(&name) || is_extended_resource(name)) && !q.is_integer() {
        errs.push(invalid(path, quote(&q.canonical()), "must be an integer"));
    }
    errs
}

/// ValidateContainerResourceRequirements (limits, then requests checked against them).
pub fn resource_requirements(res: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let limits = map_of(res, "limits");
    let requests = map_of(res, "requests");
    let mut lim_cpu_mem = false;
    let mut req_cpu_mem = false;
    let mut hugepages = false;
    let mut parsed_limits: Vec<(&str, Quantity)> = Vec::new();
    for name in sorted_keys(limits) {
        let p = lim_path.key(name);
        errs.extend(container_resource_name(name, &p));
        match quantity_at(&limits[name], &p) {
            Ok(q) => {
                errs.extend(resource_quantity_value(name, &q, &p));
                parsed_limits.push((name, q));
            }
            Err(e) => errs.push(e),
        }
        hugepages |= is_hugepages(name);
        lim_cpu_mem |= name == "cpu" || name == "memory";
    }
    for name in sorted_keys(requests) {
        let p = req_path.key(name);
        errs.extend(container_resource_name(name, &p));
        let q = match quantity_at(&requests[name], &p) {
            Ok(q) => q,
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        errs.extend(resource_quantity_value(name, &q, &p));
        match parsed_limits.iter().find(|(n, _)| *n == name.as_str()) {
            Some((_, limit)) => {
                let ord = q.cmp_q(limit);
                if ord != Ordering::Equal && !overcommit_allowed(name) {
                    errs.push(invalid(
                        &req_path,
                        quote(&q.canonical()),
                        &format!("must be equal to {name} limit of {}", limit.canonical()),
                    ));
                } else if ord == Ordering::Greater {
                    errs.push(invalid(
                        &req_path,
                        quote(&q.canonical()),
                        &format!("must be less than or equal to {name} limit of {}", limit.canonical()),
                    ));
                }
            }
            None if !overcommit_allowed(name) && !limits.contains_key(name.as_str()) => {
                errs.push(required(&lim_path, "Limit must be set for non overcommitable resources"));
            }
            None => {}
        }
        hugepages |= is_hugepages(name);
        req_cpu_mem |= name == "cpu" || name == "memory";
    }
    if hugepages && !lim_cpu_mem && !req_cpu_mem {
        errs.push(forbidden(path, "HugePages require cpu or memory"));
    }
    errs
}

// ---------------------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------------------

/// metav1 ValidateLabelSelector (strict label values).
pub fn label_selector(sel: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let Some(sel) = sel else { return Vec::new() };
    let mut errs = labels(field(sel, "matchLabels"), &path.child("matchLabels"));
    for (i, expr) in list_of(sel, "matchExpressions").iter().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = list_of(expr, "values");
        let op = str_of(expr, "operator");
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(required(&p.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(forbidden(
                        &p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(invalid(&p.child("operator"), quote(op), "not a valid selector operator")),
        }
        errs.extend(qualified_name(str_of(expr, "key"), &p.child("key")));
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            errs.extend(invalid_each(&p.child("values").index(j), v, &names::validate_label_value(v)));
        }
    }
    errs
}

/// metav1.LabelSelectorAsSelector: None when the selector cannot be turned into one.
pub fn as_selector(sel: Option<&Value>) -> Option<LabelSelector> {
    LabelSelector::from_label_selector_json(sel.unwrap_or(&Value::Null)).ok()
}

/// Whether a selector (None or null: matches nothing) selects the given labels.
pub fn selector_matches(sel: &LabelSelector, labels: Option<&Value>) -> bool {
    sel.matches(labels.and_then(Value::as_object).unwrap_or_else(|| empty_map()))
}

/// The `selector` does not match template `labels` error of workload controllers.
pub fn selector_mismatch(template_labels: Option<&Value>, path: &Path) -> FieldError {
    invalid(path, go::string_map(template_labels), "`selector` does not match template `labels`")
}

/// labels.Selector.Empty(): an empty (match-everything) selector; a nil one is not empty.
pub fn selector_is_everything(sel: &LabelSelector) -> bool {
    sel.is_empty() && !sel.matches_nothing()
}

/// True for a selector with neither matchLabels nor matchExpressions.
pub fn selector_is_empty(sel: &Value) -> bool {
    map_of(sel, "matchLabels").is_empty() && list_of(sel, "matchExpressions").is_empty()
}

// ---------------------------------------------------------------------------------------
// Misc value checks
// ---------------------------------------------------------------------------------------

/// IsValidIP: `must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`.
pub fn ip(value: &str, path: &Path) -> Vec<FieldError> {
    if value.parse::<std::net::IpAddr>().is_ok() {
        Vec::new()
    } else {
        vec![invalid(path, quote(value), "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]
    }
}

/// IsConfigMapKey (also Secret keys).
pub fn config_key_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > 253 {
        errs.push(names::max_len_error(253));
    }
    if key.is_empty() || !key.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')) {
        errs.push(names::regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            "[-._a-zA-Z0-9]+",
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    match key {
        "." => errs.push("must not be '.'".into()),
        ".." => errs.push("must not be '..'".into()),
        k if k.starts_with("..") => errs.push("must not start with '..'".into()),
        _ => {}
    }
    errs
}

/// validatePathNoBacksteps: no `..` element.
fn no_backsteps(p: &str, path: &Path) -> Vec<FieldError> {
    if p.split('/').any(|part| part == "..") {
        vec![invalid(path, quote(p), "must not contain '..'")]
    } else {
        Vec::new()
    }
}

/// validateLocalDescendingPath: relative and without `..`.
fn local_descending_path(p: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if p.starts_with('/') {
        errs.push(invalid(path, quote(p), "must be a relative path"));
    }
    errs.extend(no_backsteps(p, path));
    errs
}

/// ValidateLocalNonReservedPath.
fn local_non_reserved_path(p: &str, path: &Path) -> Vec<FieldError> {
    let mut errs = local_descending_path(p, path);
    if p.starts_with("..") && !p.starts_with("../") {
        errs.push(invalid(path, quote(p), "must not start with '..'"));
    }
    errs
}

const FILE_MODE_ERR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

fn file_mode(v: Option<i64>, path: &Path) -> Vec<FieldError> {
    match v {
        Some(m) if !(0..=0o777).contains(&m) => vec![invalid(path, m.to_string(), FILE_MODE_ERR)],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Volumes
// ---------------------------------------------------------------------------------------

/// Volume source fields in the order ValidateVolumes tries them, with the path segment its
/// "may not specify more than 1 volume type" error uses (upstream's spelling, typos kept).
const VOLUME_SOURCES: &[(&str, &str)] = &[
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

/// What the containers of a pod may refer to: volumes that validated, by name, and whether
/// each is claim-backed (persistentVolumeClaim or ephemeral).
#[derive(Debug, Default)]
pub struct Volumes {
    names: Vec<(String, bool)>,
}

impl Volumes {
    fn has(&self, name: &str) -> bool {
        self.names.iter().any(|(n, _)| n == name)
    }
}

/// ValidateVolumes.
pub fn volumes(vols: &[Value], path: &Path, extra: &[String]) -> (Volumes, Vec<FieldError>) {
    let mut errs = Vec::new();
    let mut known = Volumes::default();
    for n in extra {
        known.names.push((n.clone(), true));
    }
    for (i, vol) in vols.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(vol, "name");
        let mut el = volume_source(vol, &p);
        if name.is_empty() {
            el.push(required(&p.child("name"), ""));
        } else {
            el.extend(dns1123_label(name, &p.child("name")));
        }
        if known.has(name) {
            el.push(duplicate(&p.child("name"), quote(name)));
        }
        if el.is_empty() {
            let claim = field(vol, "persistentVolumeClaim").is_some() || field(vol, "ephemeral").is_some();
            known.names.push((name.to_string(), claim));
        } else {
            errs.extend(el);
        }
    }
    (known, errs)
}

fn volume_source(vol: &Value, p: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut count = 0;
    for (key, err_seg) in VOLUME_SOURCES {
        let Some(src) = field(vol, key) else { continue };
        if count > 0 {
            errs.push(forbidden(&p.child(err_seg), "may not specify more than 1 volume type"));
            continue;
        }
        count += 1;
        let sp = p.child(key);
        match *key {
            "emptyDir" => {
                if let Some(limit) = field(src, "sizeLimit") {
                    match Quantity::from_json(limit) {
                        Ok(q) if q.sign() < 0 => errs.push(forbidden(
                            &sp.child("sizeLimit"),
                            "SizeLimit field must be a valid resource quantity",
                        )),
                        Ok(_) => {}
                        Err(msg) => errs.push(invalid(&sp.child("sizeLimit"), limit.to_string(), msg)),
                    }
                }
            }
            "hostPath" => {
                let hp = str_of(src, "path");
                if hp.is_empty() {
                    errs.push(required(&sp.child("path"), ""));
                } else {
                    errs.extend(no_backsteps(hp, &sp.child("path")));
                    const TYPES: &[&str] = &[
                        "",
                        "BlockDevice",
                        "CharDevice",
                        "Directory",
                        "DirectoryOrCreate",
                        "File",
                        "FileOrCreate",
                        "Socket",
                    ];
                    if let Some(t) = src.get("type").and_then(Value::as_str) {
                        if !TYPES.contains(&t) {
                            errs.push(not_supported(&sp.child("type"), quote(t), TYPES));
                        }
                    }
                }
            }
            "gitRepo" => {
                if str_of(src, "repository").is_empty() {
                    errs.push(required(&sp.child("repository"), ""));
                }
                errs.extend(local_descending_path(str_of(src, "directory"), &sp.child("directory")));
            }
            "secret" => {
                if str_of(src, "secretName").is_empty() {
                    errs.push(required(&sp.child("secretName"), ""));
                }
                errs.extend(file_mode(int_of(src, "defaultMode"), &sp.child("defaultMode")));
                errs.extend(key_to_paths(src, &sp.child("items")));
            }
            "configMap" => {
                if str_of(src, "name").is_empty() {
                    errs.push(required(&sp.child("name"), ""));
                }
                errs.extend(file_mode(int_of(src, "defaultMode"), &sp.child("defaultMode")));
                errs.extend(key_to_paths(src, &sp.child("items")));
            }
            "persistentVolumeClaim" => {
                if str_of(src, "claimName").is_empty() {
                    errs.push(required(&sp.child("claimName"), ""));
                }
            }
            "nfs" => {
                if str_of(src, "server").is_empty() {
                    errs.push(required(&sp.child("server"), ""));
                }
                let np = str_of(src, "path");
                if np.is_empty() {
                    errs.push(required(&sp.child("path"), ""));
                }
                if !np.starts_with('/') {
                    errs.push(invalid(&sp.child("path"), quote(np), "must be an absolute path"));
                }
            }
            "downwardAPI" => {
                errs.extend(file_mode(int_of(src, "defaultMode"), &sp.child("defaultMode")));
                for item in list_of(src, "items") {
                    errs.extend(downward_api_file(item, &sp));
                }
            }
            "projected" => {
                errs.extend(file_mode(int_of(src, "defaultMode"), &sp.child("defaultMode")));
                for (j, s) in list_of(src, "sources").iter().enumerate() {
                    let srcp = sp.child("sources").index(j);
                    let mut n = 0;
                    for kind in ["secret", "configMap", "downwardAPI", "serviceAccountToken", "clusterTrustBundle"] {
                        if let Some(inner) = field(s, kind) {
                            n += 1;
                            let ip = srcp.child(kind);
                            match kind {
                                "secret" | "configMap" => {
                                    if str_of(inner, "name").is_empty() {
                                        errs.push(required(&ip.child("name"), ""));
                                    }
                                    errs.extend(key_to_paths(inner, &ip.child("items")));
                                }
                                "downwardAPI" => {
                                    for item in list_of(inner, "items") {
                                        errs.extend(downward_api_file(item, &ip));
                                    }
                                }
                                "serviceAccountToken" => {
                                    let secs = int_of(inner, "expirationSeconds").unwrap_or(3600);
                                    if secs < 600 {
                                        errs.push(invalid(
                                            &ip.child("expirationSeconds"),
                                            secs.to_string(),
                                            "may not specify a duration less than 10 minutes",
                                        ));
                                    }
                                    if secs > 1 << 32 {
                                        errs.push(invalid(
                                            &ip.child("expirationSeconds"),
                                            secs.to_string(),
                                            "may not specify a duration larger than 2^32 seconds",
                                        ));
                                    }
                                    let tp = str_of(inner, "path");
                                    if tp.is_empty() {
                                        errs.push(required(&sp.child("path"), ""));
                                    } else {
                                        errs.extend(local_non_reserved_path(tp, &sp.child("path")));
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    if n > 1 {
                        errs.push(forbidden(&srcp, "may not specify more than 1 volume type per source"));
                    }
                }
            }
            "csi" => {
                if str_of(src, "driver").is_empty() {
                    errs.push(required(&sp.child("driver"), ""));
                }
            }
            "image" => {
                if str_of(src, "reference").is_empty() {
                    errs.push(required(&sp.child("reference"), ""));
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(required(p, "must specify a volume type"));
    }
    errs
}

/// validateKeyToPath over a source's `items`.
fn key_to_paths(src: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, kp) in list_of(src, "items").iter().enumerate() {
        let p = path.index(i);
        if str_of(kp, "key").is_empty() {
            errs.push(required(&p.child("key"), ""));
        }
        let item_path = str_of(kp, "path");
        if item_path.is_empty() {
            errs.push(required(&p.child("path"), ""));
        }
        errs.extend(local_non_reserved_path(item_path, &p.child("path")));
        errs.extend(file_mode(int_of(kp, "mode"), &p.child("mode")));
    }
    errs
}

fn downward_api_file(item: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let fp = str_of(item, "path");
    if fp.is_empty() {
        errs.push(required(&path.child("path"), ""));
    }
    errs.extend(local_non_reserved_path(fp, &path.child("path")));
    if let Some(fr) = field(item, "fieldRef") {
        errs.extend(object_field_selector(fr, VOLUME_FIELD_PATHS, &path.child("fieldRef")));
        if field(item, "resourceFieldRef").is_some() {
            errs.push(invalid(
                path,
                quote("resource"),
                "fieldRef and resourceFieldRef can not be specified simultaneously",
            ));
        }
    } else if let Some(rf) = field(item, "resourceFieldRef") {
        if str_of(rf, "containerName").is_empty() {
            errs.push(required(&path.child("resourceFieldRef").child("containerName"), ""));
        } else {
            errs.extend(resource_field_selector(rf, &path.child("resourceFieldRef")));
        }
    } else {
        errs.push(required(path, "one of fieldRef and resourceFieldRef is required"));
    }
    errs.extend(file_mode(int_of(item, "mode"), &path.child("mode")));
    errs
}

const VOLUME_FIELD_PATHS: &[&str] =
    &["metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"];
const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
/// Field labels ConvertDownwardAPIFieldLabel knows for v1 pods.
const CONVERTIBLE_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// validateObjectFieldSelector (apiVersion defaults to v1).
fn object_field_selector(fs: &Value, expressions: &[&str], path: &Path) -> Vec<FieldError> {
    let fp = str_of(fs, "fieldPath");
    if fp.is_empty() {
        return vec![required(&path.child("fieldPath"), "")];
    }
    let subscripted = ["metadata.annotations", "metadata.labels"].iter().find_map(|base| {
        fp.strip_prefix(base)
            .and_then(|rest| rest.strip_prefix("['"))
            .and_then(|rest| rest.strip_suffix("']"))
            .map(|s| (*base, s))
    });
    if let Some((base, sub)) = subscripted {
        let key = if base == "metadata.annotations" { sub.to_lowercase() } else { sub.to_string() };
        return qualified_name(&key, path);
    }
    if !CONVERTIBLE_FIELD_PATHS.contains(&fp) {
        return vec![invalid(
            &path.child("fieldPath"),
            quote(fp),
            &format!("error converting fieldPath: field label not supported: {fp}"),
        )];
    }
    if !expressions.contains(&fp) {
        return vec![not_supported(&path.child("fieldPath"), quote(fp), expressions)];
    }
    Vec::new()
}

fn resource_field_selector(rf: &Value, path: &Path) -> Vec<FieldError> {
    let res = str_of(rf, "resource");
    if res.is_empty() {
        vec![required(&path.child("resource"), "")]
    } else if !RESOURCE_FIELD_PATHS.contains(&res)
        && !res.starts_with("requests.hugepages-")
        && !res.starts_with("limits.hugepages-")
    {
        vec![not_supported(&path.child("resource"), quote(res), RESOURCE_FIELD_PATHS)]
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------
// Containers
// ---------------------------------------------------------------------------------------

/// Where a PodSpec sits, which changes a few rules (validatePodHostNetworkDeps and the
/// pod-only checks), plus the claim templates a StatefulSet adds as volumes.
#[derive(Debug, Default, Clone)]
pub struct PodOpts {
    /// The PodSpec is a Pod's own (not a template's).
    pub is_pod: bool,
    /// Volume names provided from elsewhere (a StatefulSet's volumeClaimTemplates).
    pub claim_templates: Vec<String>,
}

/// validateContainerPorts.
fn container_ports(ports: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(port, "name");
        if !name.is_empty() {
            let msgs = port_name_errors(name);
            if !msgs.is_empty() {
                errs.extend(invalid_each(&p.child("name"), name, &msgs));
            } else if names.contains(&name) {
                errs.push(duplicate(&p.child("name"), quote(name)));
            } else {
                names.push(name);
            }
        }
        let cp = int_of(port, "containerPort").unwrap_or(0);
        if cp == 0 {
            errs.push(required(&p.child("containerPort"), ""));
        } else {
            for m in port_num_errors(cp) {
                errs.push(invalid(&p.child("containerPort"), cp.to_string(), &m));
            }
        }
        let hp = int_of(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            for m in port_num_errors(hp) {
                errs.push(invalid(&p.child("hostPort"), hp.to_string(), &m));
            }
        }
        let proto = str_of(port, "protocol");
        if !proto.is_empty() && !["TCP", "UDP", "SCTP"].contains(&proto) {
            errs.push(not_supported(&p.child("protocol"), quote(proto), &["SCTP", "TCP", "UDP"]));
        }
    }
    errs
}

/// IsRelaxedEnvVarName (RelaxedEnvironmentVariableValidation is on in 1.33).
fn env_var_name_errors(name: &str) -> Vec<String> {
    if name.chars().any(|c| !(' '..='~').contains(&c) || c == '=') {
        vec!["a valid environment variable name must consist only of printable ASCII characters other than '='".into()]
    } else {
        Vec::new()
    }
}

/// ValidateEnv.
fn env(vars: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ev) in vars.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(ev, "name");
        if name.is_empty() {
            errs.push(required(&p.child("name"), ""));
        } else {
            errs.extend(invalid_each(&p.child("name"), name, &env_var_name_errors(name)));
        }
        let Some(vf) = field(ev, "valueFrom") else { continue };
        let vp = p.child("valueFrom");
        let mut n = 0;
        if let Some(fr) = field(vf, "fieldRef") {
            n += 1;
            errs.extend(object_field_selector(fr, ENV_FIELD_PATHS, &vp.child("fieldRef")));
        }
        if let Some(rf) = field(vf, "resourceFieldRef") {
            n += 1;
            errs.extend(resource_field_selector(rf, &vp.child("resourceFieldRef")));
        }
        for kind in ["configMapKeyRef", "secretKeyRef"] {
            if let Some(r) = field(vf, kind) {
                n += 1;
                let rp = vp.child(kind);
                let rname = str_of(r, "name");
                errs.extend(invalid_each(&rp.child("name"), rname, &names::is_dns1123_subdomain(rname)));
                let key = str_of(r, "key");
                if key.is_empty() {
                    errs.push(required(&rp.child("key"), ""));
                } else {
                    errs.extend(invalid_each(&rp.child("key"), key, &config_key_errors(key)));
                }
            }
        }
        if n == 0 {
            errs.push(invalid(
                &vp,
                quote(""),
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !str_of(ev, "value").is_empty() {
            errs.push(invalid(&vp, quote(""), "may not be specified when `value` is not empty"));
        } else if n > 1 {
            errs.push(invalid(&vp, quote(""), "may not have more than one field specified at a time"));
        }
    }
    errs
}

/// ValidateEnvFrom.
fn env_from(sources: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ev) in sources.iter().enumerate() {
        let p = path.index(i);
        let prefix = str_of(ev, "prefix");
        if !prefix.is_empty() {
            errs.extend(invalid_each(&p.child("prefix"), prefix, &env_var_name_errors(prefix)));
        }
        let mut n = 0;
        for kind in ["configMapRef", "secretRef"] {
            if let Some(r) = field(ev, kind) {
                n += 1;
                let rname = str_of(r, "name");
                if rname.is_empty() {
                    errs.push(required(&p.child(kind).child("name"), ""));
                } else {
                    errs.extend(invalid_each(
                        &p.child(kind).child("name"),
                        rname,
                        &names::validate_prefix(NameRule::Subdomain, rname),
                    ));
                }
            }
        }
        if n == 0 {
            errs.push(invalid(path, quote(""), "must specify one of: `configMapRef` or `secretRef`"));
        } else if n > 1 {
            errs.push(invalid(path, quote(""), "may not have more than one field specified at a time"));
        }
    }
    errs
}

/// ValidateVolumeMounts.
fn volume_mounts(mounts: &[Value], vols: &Volumes, container: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let devices = list_of(container, "volumeDevices");
    for (i, m) in mounts.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(m, "name");
        let mp = str_of(m, "mountPath");
        if name.is_empty() {
            errs.push(required(&p.child("name"), ""));
        }
        if !vols.has(name) {
            errs.push(not_found(&p.child("name"), quote(name)));
        }
        if mp.is_empty() {
            errs.push(required(&p.child("mountPath"), ""));
        }
        if seen.contains(&mp) {
            errs.push(invalid(&p.child("mountPath"), quote(mp), "must be unique"));
        }
        seen.push(mp);
        if devices.iter().any(|d| str_of(d, "name") == name) {
            errs.push(invalid(&p.child("name"), quote(name), "must not already exist in volumeDevices"));
        }
        if devices.iter().any(|d| str_of(d, "devicePath") == mp) {
            errs.push(invalid(&p.child("mountPath"), quote(mp), "must not already exist as a path in volumeDevices"));
        }
        let sub = str_of(m, "subPath");
        if !sub.is_empty() {
            errs.extend(local_descending_path(sub, &path.child("subPath")));
        }
        let expr = str_of(m, "subPathExpr");
        if !expr.is_empty() {
            if !sub.is_empty() {
                errs.push(invalid(
                    &p.child("subPathExpr"),
                    quote(expr),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(local_descending_path(expr, &path.child("subPathExpr")));
        }
        if let Some(prop) = m.get("mountPropagation").and_then(Value::as_str) {
            let pp = path.child("mountPropagation");
            if !["Bidirectional", "HostToContainer", "None"].contains(&prop) {
                errs.push(not_supported(&pp, quote(prop), &["Bidirectional", "HostToContainer", "None"]));
            }
            let privileged =
                obj_of(container, "securityContext").get("privileged").and_then(Value::as_bool) == Some(true);
            if prop == "Bidirectional" && !privileged {
                errs.push(forbidden(&pp, "Bidirectional mount propagation is available only to privileged containers"));
            }
        }
        if let Some(rro) = m.get("recursiveReadOnly").and_then(Value::as_str) {
            let rp = path.child("recursiveReadOnly");
            match rro {
                "Disabled" => {}
                "Enabled" | "IfPossible" => {
                    if !bool_of(m, "readOnly") {
                        errs.push(forbidden(&rp, "may only be specified when readOnly is true"));
                    }
                    if m.get("mountPropagation").and_then(Value::as_str).is_some_and(|p| p != "None") {
                        errs.push(forbidden(
                            &rp,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errs.push(not_supported(&rp, quote(other), &["Disabled", "Enabled", "IfPossible"])),
            }
        }
    }
    errs
}

/// ValidateVolumeDevices (block devices need a claim-backed volume).
fn volume_devices(devices: &[Value], vols: &Volumes, container: &Value, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    let mut paths: Vec<&str> = Vec::new();
    let mounts = list_of(container, "volumeMounts");
    for (i, d) in devices.iter().enumerate() {
        let p = path.index(i);
        let name = str_of(d, "name");
        let dp = str_of(d, "devicePath");
        let matched = vols.names.iter().find(|(n, _)| n == name);
        if name.is_empty() {
            errs.push(required(&p.child("name"), ""));
        }
        if names.contains(&name) {
            errs.push(invalid(&p.child("name"), quote(name), "must be unique"));
        }
        match matched {
            Some((_, false)) => errs.push(invalid(
                &p.child("name"),
                quote(name),
                "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode",
            )),
            Some(_) => {}
            None => errs.push(not_found(&p.child("name"), quote(name))),
        }
        if dp.is_empty() {
            errs.push(required(&p.child("devicePath"), ""));
        }
        if paths.contains(&dp) {
            errs.push(invalid(&p.child("devicePath"), quote(dp), "must be unique"));
        }
        if !dp.is_empty() && dp.split('/').any(|x| x == "..") {
            errs.push(invalid(&p.child("devicePath"), quote(dp), "can not contain backsteps ('..')"));
        } else {
            paths.push(dp);
        }
        if mounts.iter().any(|m| str_of(m, "name") == name) {
            errs.push(invalid(&p.child("name"), quote(name), "must not already exist in volumeMounts"));
        }
        if mounts.iter().any(|m| str_of(m, "mountPath") == dp) {
            errs.push(invalid(&p.child("devicePath"), quote(dp), "must not already exist as a path in volumeMounts"));
        }
        if !name.is_empty() {
            names.push(name);
        }
    }
    errs
}

/// validateSeccompProfileField.
fn seccomp_profile(sp: Option<&Value>, path: &Path) -> Vec<FieldError> {
    let Some(sp) = sp else { return Vec::new() };
    let mut errs = Vec::new();
    let t = str_of(sp, "type");
    match t {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(required(&path.child("type"), "type is required when seccompProfile is set")),
        other => {
            errs.push(not_supported(&path.child("type"), quote(other), &["Localhost", "RuntimeDefault", "Unconfined"]))
        }
    }
    let local = sp.get("localhostProfile").and_then(Value::as_str);
    if t == "Localhost" {
        match local {
            None => errs.push(required(&path.child("localhostProfile"), "must be set when seccomp type is Localhost")),
            Some(l) => errs.extend(local_descending_path(l, &path.child("localhostProfile"))),
        }
    } else if local.is_some() {
        errs.push(invalid(
            &path.child("localhostProfile"),
            go::structure("core.SeccompProfile", Some(sp)),
            "can only be set when seccomp type is Localhost",
        ));
    }
    errs
}

fn id_range(v: Option<i64>, path: &Path) -> Vec<FieldError> {
    match v {
        Some(id) if !(0..=i32::MAX as i64).contains(&id) => {
            vec![invalid(path, id.to_string(), &inclusive_range(0, i32::MAX as i64))]
        }
        _ => Vec::new(),
    }
}

/// ValidateSecurityContext (container level).
fn security_context(sc: Option<&Value>, path: &Path, host_users: bool) -> Vec<FieldError> {
    let Some(sc) = sc else { return Vec::new() };
    let mut errs = Vec::new();
    errs.extend(id_range(int_of(sc, "runAsUser"), &path.child("runAsUser")));
    errs.extend(id_range(int_of(sc, "runAsGroup"), &path.child("runAsGroup")));
    if let Some(pm) = sc.get("procMount").and_then(Value::as_str) {
        if pm != "Default" && pm != "Unmasked" {
            errs.push(not_supported(&path.child("procMount"), quote(pm), &["Default", "Unmasked"]));
        }
        if host_users && pm == "Unmasked" {
            errs.push(invalid(&path.child("procMount"), quote(pm), "`hostUsers` must be false to use `Unmasked`"));
        }
    }
    errs.extend(seccomp_profile(field(sc, "seccompProfile"), &path.child("seccompProfile")));
    if sc.get("allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false) {
        if sc.get("privileged").and_then(Value::as_bool) == Some(true) {
            errs.push(invalid(
                path,
                go::structure("core.SecurityContext", Some(sc)),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        if list_of(obj_of(sc, "capabilities"), "add").iter().any(|c| c.as_str() == Some("CAP_SYS_ADMIN")) {
            errs.push(invalid(
                path,
                go::structure("core.SecurityContext", Some(sc)),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs
}

/// validateHandler over the handler fields present (probe or lifecycle handler).
fn handler(h: &Value, grace: i64, path: &Path, kinds: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut n = 0;
    for kind in kinds {
        let Some(a) = field(h, kind) else { continue };
        let p = path.child(kind);
        if n > 0 {
            errs.push(forbidden(&p, "may not specify more than 1 handler type"));
            continue;
        }
        n += 1;
        match *kind {
            "exec" => {
                if list_of(a, "command").is_empty() {
                    errs.push(required(&p.child("command"), ""));
                }
            }
            "httpGet" => {
                errs.extend(port_num_or_name(field(a, "port"), &p.child("port")));
                if let Some(s) = a.get("scheme").and_then(Value::as_str) {
                    if s != "HTTP" && s != "HTTPS" {
                        errs.push(not_supported(&p.child("scheme"), quote(s), &["HTTP", "HTTPS"]));
                    }
                }
                for hd in list_of(a, "httpHeaders") {
                    let hn = str_of(hd, "name");
                    if hn.is_empty() || !hn.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
                        errs.push(invalid(
                            &p.child("httpHeaders"),
                            quote(hn),
                            &names::regex_error(
                                "a valid HTTP header must consist of alphanumeric characters or '-'",
                                "[-A-Za-z0-9]+",
                                &["X-Header-Name"],
                            ),
                        ));
                    }
                }
            }
            "tcpSocket" => errs.extend(port_num_or_name(field(a, "port"), &p.child("port"))),
            "grpc" => {
                let port = int_of(a, "port").unwrap_or(0);
                errs.extend(port_num_errors(port).iter().map(|m| invalid(&p.child("port"), port.to_string(), m)));
            }
            "sleep" => {
                let secs = int_of(a, "seconds").unwrap_or(0);
                if secs < 0 || secs > grace {
                    errs.push(invalid(
                        &p,
                        secs.to_string(),
                        &format!("must be non-negative and less than terminationGracePeriodSeconds ({grace})"),
                    ));
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(required(path, "must specify a handler type"));
    }
    errs
}

const PROBE_HANDLERS: &[&str] = &["exec", "httpGet", "tcpSocket", "grpc"];
const LIFECYCLE_HANDLERS: &[&str] = &["exec", "httpGet", "tcpSocket", "sleep"];

#[derive(Clone, Copy, PartialEq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// validateProbe plus the per-kind rules.
fn probe(p: Option<&Value>, grace: i64, path: &Path, kind: ProbeKind) -> Vec<FieldError> {
    let Some(p) = p else { return Vec::new() };
    let mut errs = handler(p, grace, path, PROBE_HANDLERS);
    for f in ["initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"] {
        errs.extend(nonnegative(int_of(p, f), &path.child(f)));
    }
    if let Some(t) = int_of(p, "terminationGracePeriodSeconds") {
        if t <= 0 {
            errs.push(invalid(&path.child("terminationGracePeriodSeconds"), t.to_string(), "must be greater than 0"));
        }
    }
    match kind {
        ProbeKind::Readiness => {
            if let Some(t) = int_of(p, "terminationGracePeriodSeconds") {
                errs.push(invalid(
                    &path.child("terminationGracePeriodSeconds"),
                    t.to_string(),
                    "must not be set for readinessProbes",
                ));
            }
        }
        _ => {
            if let Some(s) = int_of(p, "successThreshold") {
                if s != 1 {
                    errs.push(invalid(&path.child("successThreshold"), s.to_string(), "must be 1"));
                }
            }
        }
    }
    errs
}

fn lifecycle(l: &Value, grace: i64, path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for hook in ["postStart", "preStop"] {
        if let Some(h) = field(l, hook) {
            errs.extend(handler(h, grace, &path.child(hook), LIFECYCLE_HANDLERS));
        }
    }
    errs
}

/// validateContainerCommon.
fn container_common(c: &Value, vols: &Volumes, path: &Path, restart_policy: &str, host_users: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = str_of(c, "name");
    if name.is_empty() {
        errs.push(required(&path.child("name"), ""));
    } else {
        errs.extend(dns1123_label(name, &path.child("name")));
    }
    if str_of(c, "image").is_empty() {
        errs.push(required(&path.child("image"), ""));
    }
    let tmp = str_of(c, "terminationMessagePolicy");
    if !tmp.is_empty() && tmp != "File" && tmp != "FallbackToLogsOnError" {
        errs.push(not_supported(
            &path.child("terminationMessagePolicy"),
            quote(tmp),
            &["File", "FallbackToLogsOnError"],
        ));
    }
    errs.extend(container_ports(list_of(c, "ports"), &path.child("ports")));
    errs.extend(env(list_of(c, "env"), &path.child("env")));
    errs.extend(env_from(list_of(c, "envFrom"), &path.child("envFrom")));
    errs.extend(volume_mounts(list_of(c, "volumeMounts"), vols, c, &path.child("volumeMounts")));
    errs.extend(volume_devices(list_of(c, "volumeDevices"), vols, c, &path.child("volumeDevices")));
    let ipp = str_of(c, "imagePullPolicy");
    if !ipp.is_empty() && !["Always", "IfNotPresent", "Never"].contains(&ipp) {
        errs.push(not_supported(&path.child("imagePullPolicy"), quote(ipp), &["Always", "IfNotPresent", "Never"]));
    }
    errs.extend(resource_requirements(obj_of(c, "resources"), &path.child("resources")));
    errs.extend(resize_policy(list_of(c, "resizePolicy"), &path.child("resizePolicy"), restart_policy));
    errs.extend(security_context(field(c, "securityContext"), &path.child("securityContext"), host_users));
    errs
}

/// validateResizePolicy.
fn resize_policy(policies: &[Value], path: &Path, restart_policy: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (i, p) in policies.iter().enumerate() {
        let rn = str_of(p, "resourceName");
        if seen.contains(&rn) {
            errs.push(duplicate(&path.index(i), quote(rn)));
        }
        seen.push(rn);
        match rn {
            "cpu" | "memory" => {}
            "" => errs.push(required(path, "")),
            other => errs.push(not_supported(path, quote(other), &["cpu", "memory"])),
        }
        let rp = str_of(p, "restartPolicy");
        match rp {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(required(path, "")),
            other => errs.push(not_supported(path, quote(other), &["NotRequired", "RestartContainer"])),
        }
        if restart_policy == "Never" && rp != "NotRequired" {
            errs.push(invalid(path, quote(rp), "must be 'NotRequired' when `restartPolicy` is 'Never'"));
        }
    }
    errs
}

/// checkHostPortConflicts: `<protocol>/<hostIP>/<hostPort>` must be unique.
fn host_port_conflicts(containers: &[&Value], path: &Path, indices: &[usize]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (c, &ci) in containers.iter().zip(indices) {
        for (pi, port) in list_of(c, "ports").iter().enumerate() {
            let hp = int_of(port, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let proto = match str_of(port, "protocol") {
                "" => "TCP",
                p => p,
            };
            let key = format!("{}/{}/{}", proto, str_of(port, "hostIP"), hp);
            if seen.contains(&key) {
                errs.push(duplicate(&path.index(ci).child("ports").index(pi).child("hostPort"), quote(&key)));
            } else {
                seen.push(key);
            }
        }
    }
    errs
}

/// validateContainers (regular containers).
fn containers(
    list: &[Value],
    vols: &Volumes,
    grace: i64,
    path: &Path,
    restart_policy: &str,
    host_users: bool,
) -> Vec<FieldError> {
    if list.is_empty() {
        return vec![required(path, "")];
    }
    let mut errs = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (i, c) in list.iter().enumerate() {
        let p = path.index(i);
        errs.extend(container_common(c, vols, &p, restart_policy, host_users));
        let name = str_of(c, "name");
        if names.contains(&name) {
            errs.push(duplicate(&p.child("name"), quote(name)));
        } else {
            names.push(name);
        }
        if let Some(l) = field(c, "lifecycle") {
            errs.extend(lifecycle(l, grace, &p.child("lifecycle")));
        }
        errs.extend(probe(field(c, "livenessProbe"), grace, &p.child("livenessProbe"), ProbeKind::Liveness));
        errs.extend(probe(field(c, "readinessProbe"), grace, &p.child("readinessProbe"), ProbeKind::Readiness));
        errs.extend(probe(field(c, "startupProbe"), grace, &p.child("startupProbe"), ProbeKind::Startup));
        if field(c, "restartPolicy").is_some() {
            errs.push(forbidden(&p.child("restartPolicy"), "may not be set for non-init containers"));
        }
    }
    let refs: Vec<&Value> = list.iter().collect();
    let idx: Vec<usize> = (0..list.len()).collect();
    errs.extend(host_port_conflicts(&refs, path, &idx));
    errs
}

/// validateInitContainers.
fn init_containers(
    list: &[Value],
    regular: &[Value],
    vols: &Volumes,
    grace: i64,
    path: &Path,
    restart_policy: &str,
    host_users: bool,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names: Vec<&str> = regular.iter().map(|c| str_of(c, "name")).collect();
    for (i, c) in list.iter().enumerate() {
        let p = path.index(i);
        errs.extend(container_common(c, vols, &p, restart_policy, host_users));
        let mut restart_always = false;
        if let Some(rp) = c.get("restartPolicy").and_then(Value::as_str) {
            if rp != "Always" {
                errs.push(not_supported(&p.child("restartPolicy"), quote(rp), &["Always"]));
            }
            restart_always = rp == "Always";
        }
        let name = str_of(c, "name");
        if names.contains(&name) {
            errs.push(duplicate(&p.child("name"), quote(name)));
        } else if !name.is_empty() {
            names.push(name);
        }
        errs.extend(host_port_conflicts(&[c], path, &[i]));
        if restart_always {
            if let Some(l) = field(c, "lifecycle") {
                errs.extend(lifecycle(l, grace, &p.child("lifecycle")));
            }
            errs.extend(probe(field(c, "livenessProbe"), grace, &p.child("livenessProbe"), ProbeKind::Liveness));
            errs.extend(probe(field(c, "readinessProbe"), grace, &p.child("readinessProbe"), ProbeKind::Readiness));
            errs.extend(probe(field(c, "startupProbe"), grace, &p.child("startupProbe"), ProbeKind::Startup));
        } else {
            for f in ["lifecycle", "livenessProbe", "readinessProbe", "startupProbe"] {
                if field(c, f).is_some() {
                    errs.push(forbidden(
                        &p.child(f),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    errs
}

/// Fields an ephemeral container may set (allowedEphemeralContainerFields).
const EPHEMERAL_FORBIDDEN: &[&str] = &[
    "ports",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resizePolicy",
    "restartPolicy",
];

/// validateEphemeralContainers.
fn ephemeral_containers(
    spec: &Value,
    vols: &Volumes,
    path: &Path,
    restart_policy: &str,
    host_users: bool,
) -> Vec<FieldError> {
    let list = list_of(spec, "ephemeralContainers");
    let mut errs = Vec::new();
    let others: Vec<&str> =
        list_of(spec, "containers").iter().chain(list_of(spec, "initContainers")).map(|c| str_of(c, "name")).collect();
    let mut all = others.clone();
    for (i, c) in list.iter().enumerate() {
        let p = path.index(i);
        errs.extend(container_common(c, vols, &p, restart_policy, host_users));
        errs.extend(container_only_for_pod(c, &p));
        let name = str_of(c, "name");
        if all.contains(&name) {
            errs.push(duplicate(&p.child("name"), quote(name)));
        } else {
            all.push(name);
        }
        let target = str_of(c, "targetContainerName");
        if !target.is_empty() && !others.contains(&target) {
            errs.push(not_found(&p.child("targetContainerName"), quote(target)));
        }
        for f in EPHEMERAL_FORBIDDEN {
            if field(c, f).is_some_and(|v| !semantic_eq(Some(v), None)) {
                errs.push(forbidden(&p.child(f), "cannot be set for an Ephemeral Container"));
            }
        }
        for (j, vm) in list_of(c, "volumeMounts").iter().enumerate() {
            for f in ["subPath", "subPathExpr"] {
                if !str_of(vm, f).is_empty() {
                    errs.push(forbidden(
                        &p.child("volumeMounts").index(j).child(f),
                        "cannot be set for an Ephemeral Container",
                    ));
                }
            }
        }
    }
    errs
}

/// validateContainerOnlyForPod: no whitespace around the image.
fn container_only_for_pod(c: &Value, path: &Path) -> Vec<FieldError> {
    let image = str_of(c, "image");
    if image.trim() != image {
        vec![invalid(&path.child("image"), quote(image), "must not have leading or trailing whitespace")]
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------
// PodSpec and pod templates
// ---------------------------------------------------------------------------------------

const MAX_INT32: i64 = i32::MAX as i64;

/// ValidateTolerations.
pub fn tolerations(list: &[Value], path: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let p = path.index(i);
        let key = str_of(t, "key");
        let op = str_of(t, "operator");
        let effect = str_of(t, "effect");
        let value = str_of(t, "value");
        if !key.is_empty() {
            errs.extend(qualified_name(key, &p.child("key")));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(invalid(
                &p.child("operator"),
                quote(op),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if field(t, "tolerationSeconds").is_some() && effect != "NoExecute" {
            errs.push(invalid(
                &p.child("effect"),
                quote(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = names::validate_label_value(value);
                if !msgs.is_empty() {
                    errs.push(invalid(&p.child("operator"), quote(value), &msgs.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(invalid(
                        &p.child("operator"),
                        quote(value),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(not_supported(&p.child("operator"), quote(other), &["Equal", "Exists"])),
        }
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
            errs.push(not_supported(
                &p.child("effect"),
                quote(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

/// validatePodSpecSecurityContext.
fn pod_security_context(sc: Option<&Value>, spec: &Value, path: &Path) -> Vec<FieldError> {
    let Some(sc) = sc else { return Vec::new() };
    let mut errs = Vec::new();
    errs.extend(id_range(int_of(sc, "fsGroup"), &path.child("fsGroup")));
    errs.extend(id_range(int_of(sc, "runAsUser"), &path.child("runAsUser")));
    errs.extend(id_range(int_of(sc, "runAsGroup"), &path.child("runAsGroup")));
    for (i, g) in list_of(sc, "supplementalGroups").iter().enumerate() {
        errs.extend(id_range(g.as_i64(), &path.child("supplementalGroups").index(i)));
    }
    if sc.get("shareProcessNamespace").and_then(Value::as_bool) == Some(true) && bool_of(spec, "hostPID") {
        errs.push(invalid(
            &path.child("shareProcessNamespace"),
            "true",
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    let mut sysctl_names: Vec<&str> = Vec::new();
    for (i, s) in list_of(sc, "sysctls").iter().enumerate() {
        let p = path.child("sysctls").index(i).child("name");
        let name = str_of(s, "name");
        if name.is_empty() {
            errs.push(required(&p, ""));
        } else if !valid_sysctl_name(name) {
            errs.push(invalid(
                &p,
                quote(name),
                "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$",
            ));
        } else if sysctl_names.contains(&name) {
            errs.push(duplicate(&p, quote(name)));
        }
        sysctl_names.push(name);
    }
    if let Some(p) = sc.get("fsGroupChangePolicy").and_then(Value::as_str) {
        if p != "Always" && p != "OnRootMismatch" {
            errs.push(not_supported(&path.child("fsGroupChangePolicy"), quote(p), &["Always", "OnRootMismatch"]));
        }
    }
    errs.extend(seccomp_profile(field(sc, "seccompProfile"), &path.child("seccompProfile")));
    if let Some(p) = sc.get("supplementalGroupsPolicy").and_then(Value::as_str) {
        if p != "Merge" && p != "Strict" {
            errs.push(not_supported(&path.child("supplementalGroupsPolicy"), quote(p), &["Merge", "Strict"]));
        }
    }
    if let Some(p) = sc.get("seLinuxChangePolicy").and_then(Value::as_str) {
        if p != "MountOption" && p != "Recursive" {
            errs.push(not_supported(&path.child("seLinuxChangePolicy"), quote(p), &["MountOption", "Recursive"]));
        }
    }
    errs
}

fn valid_sysctl_name(name: &str) -> bool {
    if name.len() > 253 {
        return false;
    }
    let segment_ok = |s: &str| {
        let b = s.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
            && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
    };
    name.split(['.', '/']).all(segment_ok)
}

/// validatePodDNSConfig.
fn dns_config(spec: &Value, path: &Path) -> Vec<FieldError> {
    let cfg = field(spec, "dnsConfig");
    if str_of(spec, "dnsPolicy") == "None" {
        match cfg {
            None => return vec![required(path, "must provide `dnsConfig` when `dnsPolicy` is None")],
            Some(c) if list_of(c, "nameservers").is_empty() => {
                return vec![required(
                    &path.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )]
            }
            _ => {}
        }
    }
    let Some(cfg) = cfg else { return Vec::new() };
    let mut errs = Vec::new();
    let ns = list_of(cfg, "nameservers");
    if ns.len() > 3 {
        errs.push(invalid(
            &path.child("nameservers"),
            go::string_slice(field(cfg, "nameservers")),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        errs.extend(ip(n.as_str().unwrap_or(""), &path.child("nameservers").index(i)));
    }
    let searches = list_of(cfg, "searches");
    if searches.len() > 32 {
        errs.push(invalid(
            &path.child("searches"),
            go::string_slice(field(cfg, "searches")),
            "must not have more than 32 search paths",
        ));
    }
    let joined: usize =
        searches.iter().map(|s| s.as_str().map_or(0, str::len)).sum::<usize>() + searches.len().saturating_sub(1);
    if joined > 2048 {
        errs.push(invalid(
            &path.child("searches"),
            go::string_slice(field(cfg, "searches")),
            "must not have more than 2048 characters (including spaces) in the search list",
        ));
    }
    for (i, s) in searches.iter().enumerate() {
        let s = s.as_str().unwrap_or("");
        if s == "." {
            continue;
        }
        let s = s.strip_suffix('.').unwrap_or(s);
        // RelaxedDNSSearchValidation (beta in 1.33): underscores are allowed.
        let ok = s.len() <= 253
            && s.split('.').all(|l| {
                let b = l.as_bytes();
                !b.is_empty()
                    && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
                    && b[b.len() - 1].is_ascii_alphanumeric()
                    && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
            });
        if !ok {
            let mut msgs = Vec::new();
            if s.len() > 253 {
                msgs.push(names::max_len_error(253));
            }
            msgs.push(names::regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', and must start and end with an alphanumeric character",
                "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                &["example.com"],
            ));
            errs.extend(invalid_each(&path.child("searches").index(i), s, &msgs));
        }
    }
    for (i, o) in list_of(cfg, "options").iter().enumerate() {
        if str_of(o, "name").is_empty() {
            errs.push(required(&path.child("options").index(i), "must not be empty"));
        }
    }
    errs
}

/// ValidatePodSpec. Fields the defaulting fills (restartPolicy, dnsPolicy, protocols, pull
/// and termination-message policies, terminationGracePeriodSeconds) are checked only when set.
pub fn pod_spec(spec: &Value, path: &Path, opts: &PodOpts) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let grace = int_of(spec, "terminationGracePeriodSeconds").unwrap_or(30);
    let host_users = obj_of(spec, "securityContext").get("hostUsers").and_then(Value::as_bool) != Some(false);
    let restart = str_of(spec, "restartPolicy");
    let (vols, verrs) = volumes(list_of(spec, "volumes"), &path.child("volumes"), &opts.claim_templates);
    errs.extend(verrs);
    let regular = list_of(spec, "containers");
    errs.extend(containers(regular, &vols, grace, &path.child("containers"), restart, host_users));
    errs.extend(init_containers(
        list_of(spec, "initContainers"),
        regular,
        &vols,
        grace,
        &path.child("initContainers"),
        restart,
        host_users,
    ));
    errs.extend(ephemeral_containers(spec, &vols, &path.child("ephemeralContainers"), restart, host_users));
    // validatePodHostNetworkDeps (a pod's hostPort defaults to its containerPort).
    if bool_of(spec, "hostNetwork") {
        for (i, c) in regular.iter().enumerate() {
            for (j, port) in list_of(c, "ports").iter().enumerate() {
                let cp = int_of(port, "containerPort").unwrap_or(0);
                if let Some(hp) = int_of(port, "hostPort").filter(|&h| h != 0) {
                    if hp != cp {
                        errs.push(invalid(
                            &path.child("containers").index(i).child("ports").index(j).child("hostPort"),
                            hp.to_string(),
                            "must match `containerPort` when `hostNetwork` is true",
                        ));
                    }
                }
            }
        }
    }
    if !restart.is_empty() && !["Always", "OnFailure", "Never"].contains(&restart) {
        errs.push(not_supported(&path.child("restartPolicy"), quote(restart), &["Always", "OnFailure", "Never"]));
    }
    let dns = str_of(spec, "dnsPolicy");
    if !dns.is_empty() && !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].contains(&dns) {
        errs.push(not_supported(
            &path.child("dnsPolicy"),
            quote(dns),
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        ));
    }
    errs.extend(labels(field(spec, "nodeSelector"), &path.child("nodeSelector")));
    errs.extend(pod_security_context(field(spec, "securityContext"), spec, &path.child("securityContext")));
    for (i, s) in list_of(spec, "imagePullSecrets").iter().enumerate() {
        if s.as_object().is_some_and(|m| m.keys().any(|k| k != "name")) {
            errs.push(invalid(
                &path.child("imagePullSecrets").index(i),
                go::structure("core.LocalObjectReference", Some(s)),
                "only name may be set",
            ));
        }
    }
    errs.extend(dns_config(spec, &path.child("dnsConfig")));
    for (i, g) in list_of(spec, "readinessGates").iter().enumerate() {
        errs.extend(qualified_name(
            str_of(g, "conditionType"),
            &path.child("readinessGates").index(i).child("conditionType"),
        ));
    }
    let mut gates: Vec<&str> = Vec::new();
    for (i, g) in list_of(spec, "schedulingGates").iter().enumerate() {
        let name = str_of(g, "name");
        let p = path.child("schedulingGates").index(i);
        errs.extend(qualified_name(name, &p));
        if gates.contains(&name) {
            errs.push(duplicate(&p, quote(name)));
        }
        gates.push(name);
    }
    let sa = str_of(spec, "serviceAccountName");
    if !sa.is_empty() {
        errs.extend(dns1123_subdomain(sa, &path.child("serviceAccountName")));
    }
    let node = str_of(spec, "nodeName");
    if !node.is_empty() {
        errs.extend(dns1123_subdomain(node, &path.child("nodeName")));
    }
    if let Some(ads) = int_of(spec, "activeDeadlineSeconds") {
        if !(1..=MAX_INT32).contains(&ads) {
            errs.push(invalid(&path.child("activeDeadlineSeconds"), ads.to_string(), &inclusive_range(1, MAX_INT32)));
        }
    }
    for f in ["hostname", "subdomain"] {
        let v = str_of(spec, f);
        if !v.is_empty() {
            errs.extend(dns1123_label(v, &path.child(f)));
        }
    }
    errs.extend(tolerations(list_of(spec, "tolerations"), &path.child("tolerations")));
    for (i, ha) in list_of(spec, "hostAliases").iter().enumerate() {
        let p = path.child("hostAliases").index(i);
        errs.extend(ip(str_of(ha, "ip"), &p.child("ip")));
        for (j, h) in list_of(ha, "hostnames").iter().enumerate() {
            errs.extend(dns1123_subdomain(h.as_str().unwrap_or(""), &p.child("hostnames").index(j)));
        }
    }
    let pc = str_of(spec, "priorityClassName");
    if !pc.is_empty() {
        errs.extend(dns1123_subdomain(pc, &path.child("priorityClassName")));
    }
    if let Some(rc) = spec.get("runtimeClassName").and_then(Value::as_str) {
        errs.extend(dns1123_subdomain(rc, &path.child("runtimeClassName")));
    }
    if let Some(pp) = spec.get("preemptionPolicy").and_then(Value::as_str) {
        if pp != "PreemptLowerPriority" && pp != "Never" {
            errs.push(not_supported(&path.child("preemptionPolicy"), quote(pp), &["PreemptLowerPriority", "Never"]));
        }
    }
    if let Some(os) = field(spec, "os") {
        let name = str_of(os, "name");
        if name.is_empty() {
            errs.push(required(&path.child("os").child("name"), ""));
        } else if name != "linux" && name != "windows" {
            errs.push(not_supported(&path.child("os").child("name"), quote(name), &["linux", "windows"]));
        }
    }
    if opts.is_pod {
        for list in ["containers", "initContainers"] {
            for (i, c) in list_of(spec, list).iter().enumerate() {
                errs.extend(container_only_for_pod(c, &path.child(list).index(i)));
            }
        }
    }
    errs
}

/// ValidatePodTemplateSpec at `path` (labels are reported at `<path>.labels`, as upstream).
pub fn pod_template_spec(tpl: &Value, path: &Path, opts: &PodOpts) -> Vec<FieldError> {
    let meta = obj_of(tpl, "metadata");
    let mut errs = labels(field(meta, "labels"), &path.child("labels"));
    errs.extend(annotations(field(meta, "annotations"), &path.child("annotations")));
    let spec = obj_of(tpl, "spec");
    errs.extend(pod_spec(spec, &path.child("spec"), opts));
    if !list_of(spec, "ephemeralContainers").is_empty() {
        errs.push(forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// The selector and template of a Deployment or ReplicaSet spec (`spec` at `sp`): the
/// selector is required, valid and non-empty (upstream says "deployment" for both kinds), and
/// the template must carry its labels.
pub fn selector_and_template(spec: &Value, sp: &Path) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let sel = field(spec, "selector");
    match sel {
        None => errs.push(required(&sp.child("selector"), "")),
        Some(s) => {
            errs.extend(label_selector(Some(s), &sp.child("selector")));
            if selector_is_empty(s) {
                errs.push(invalid(
                    &sp.child("selector"),
                    go::label_selector(Some(s)),
                    "empty selector is invalid for deployment",
                ));
            }
        }
    }
    match as_selector(sel) {
        None => errs.push(invalid(&sp.child("selector"), go::label_selector(sel), "invalid label selector")),
        Some(selector) => errs.extend(pod_template_for_replica_set(
            obj_of(spec, "template"),
            &selector,
            &sp.child("template"),
            "ReplicaSet",
        )),
    }
    errs
}

/// ValidatePodTemplateSpecForReplicaSet (Deployments, ReplicaSets): the template must carry
/// the selector's labels and restart Always.
pub fn pod_template_for_replica_set(tpl: &Value, selector: &LabelSelector, path: &Path, kind: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let tpl_labels = obj_of(tpl, "metadata").get("labels");
    if !selector_is_everything(selector) && !selector_matches(selector, tpl_labels) {
        errs.push(selector_mismatch(tpl_labels.filter(|v| !v.is_null()), &path.child("metadata").child("labels")));
    }
    errs.extend(pod_template_spec(tpl, path, &PodOpts::default()));
    errs.extend(restart_always(tpl, path));
    if field(obj_of(tpl, "spec"), "activeDeadlineSeconds").is_some() {
        errs.push(forbidden(
            &path.child("spec").child("activeDeadlineSeconds"),
            &format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    errs
}

/// restartPolicy must be Always (or unset, which defaults to Always).
pub fn restart_always(tpl: &Value, path: &Path) -> Vec<FieldError> {
    let rp = str_of(obj_of(tpl, "spec"), "restartPolicy");
    if !rp.is_empty() && rp != "Always" {
        vec![not_supported(&path.child("spec").child("restartPolicy"), quote(rp), &["Always"])]
    } else {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------
// Int-or-percent fields of rolling updates (apps validation)
// ---------------------------------------------------------------------------------------

/// ValidatePositiveIntOrPercent.
pub fn positive_int_or_percent(v: Option<&Value>, path: &Path) -> Vec<FieldError> {
    match v {
        Some(Value::String(s)) => {
            if is_percent(s) {
                Vec::new()
            } else {
                let msg = names::regex_error(
                    "a valid percent string must be a numeric string followed by an ending '%'",
                    "[0-9]+%",
                    &["1%", "93%"],
                );
                vec![invalid(path, go::int_or_string(v), &msg)]
            }
        }
        Some(Value::Number(n)) => nonnegative(n.as_i64(), path),
        _ => Vec::new(),
    }
}

fn is_percent(s: &str) -> bool {
    s.len() > 1 && s.ends_with('%') && s[..s.len() - 1].bytes().all(|c| c.is_ascii_digit())
}

/// getIntOrPercentValue: the number, or the percentage's number (0 when unparsable).
pub fn int_or_percent_value(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::String(s)) if is_percent(s) => s[..s.len() - 1].parse().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(v) => v.as_i64().unwrap_or(0),
        None => 0,
    }
}

/// IsNotMoreThan100Percent.
pub fn not_more_than_100_percent(v: Option<&Value>, path: &Path) -> Vec<FieldError> {
    match v {
        Some(Value::String(s)) if is_percent(s) && int_or_percent_value(v) > 100 => {
            vec![invalid(path, go::int_or_string(v), "must not be greater than 100%")]
        }
        _ => Vec::new(),
    }
}

/// field.Invalid with an omitted value (field.OmitValueType): `Invalid value: <detail>`.
pub fn invalid_omitted(path: &Path, detail: &str) -> FieldError {
    error(path, "FieldValueInvalid", with_detail("Invalid value".into(), detail))
}

/// Each error as the apiserver prints it: `field: message`.
pub fn render(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(|e| format!("{}: {}", e.field, e.message)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(s: &str) -> String {
        Quantity::parse(s).unwrap().canonical()
    }

    #[test]
    fn quantities_print_canonically_like_resource_quantity() {
        for (input, want) in [
            ("0.1", "100m"),
            ("100m", "100m"),
            ("1000", "1k"),
            ("1500000", "1500k"),
            ("12345", "12345"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Ki", "512"),
            ("1e3", "1e3"),
            ("1000e0", "1e3"),
            ("-0.5", "-500m"),
            ("0.1n", "1n"),
            ("0", "0"),
            ("000", "0"),
            ("+5", "5"),
            (".5", "500m"),
            ("1.", "1"),
            ("5Gi", "5Gi"),
            ("2000m", "2"),
        ] {
            assert_eq!(canon(input), want, "{input}");
        }
    }

    #[test]
    fn malformed_quantities_get_resource_quantity_errors() {
        assert_eq!(Quantity::parse("abc").unwrap_err(), QUANTITY_FORMAT_ERR);
        assert_eq!(Quantity::parse("").unwrap_err(), QUANTITY_FORMAT_ERR);
        assert_eq!(Quantity::parse("1.5.5").unwrap_err(), QUANTITY_FORMAT_ERR);
        assert_eq!(Quantity::parse("5Gb").unwrap_err(), QUANTITY_FORMAT_ERR);
        assert_eq!(Quantity::parse("5Mx").unwrap_err(), QUANTITY_FORMAT_ERR);
        assert_eq!(Quantity::parse("5KB").unwrap_err(), QUANTITY_FORMAT_ERR);
        assert_eq!(Quantity::parse("5mi").unwrap_err(), QUANTITY_SUFFIX_ERR);
        assert_eq!(Quantity::parse("1e").unwrap_err(), QUANTITY_SUFFIX_ERR);
        assert!(Quantity::parse("1E").is_ok());
        let a = Quantity::parse("200m").unwrap();
        let b = Quantity::parse("0.1").unwrap();
        assert_eq!(a.cmp_q(&b), Ordering::Greater);
        assert_eq!(Quantity::parse("1Gi").unwrap().cmp_q(&Quantity::parse("1073741824").unwrap()), Ordering::Equal);
        assert!(Quantity::parse("1.5").is_ok_and(|q| !q.is_integer()));
    }

    #[test]
    fn go_renderings() {
        assert_eq!(go::string_map(Some(&json!({"b": "2", "a": "1"}))), r#"map[string]string{"a":"1", "b":"2"}"#);
        assert_eq!(go::string_map(None), "map[string]string(nil)");
        assert_eq!(go::string_map(Some(&json!({}))), "map[string]string{}");
        assert_eq!(
            go::label_selector(Some(&json!({"matchLabels": {"app": "web2"}}))),
            r#"v1.LabelSelector{MatchLabels:map[string]string{"app":"web2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"#
        );
        assert_eq!(
            go::label_selector(Some(
                &json!({"matchExpressions": [{"key": "a", "operator": "In", "values": ["x", "y"]}]})
            )),
            r#"v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"a", Operator:"In", Values:[]string{"x", "y"}}}}"#
        );
        assert_eq!(go::label_selector(None), "\"null\"");
        assert_eq!(go::int_or_string(Some(&json!("25x"))), r#"intstr.IntOrString{Type:1, IntVal:0, StrVal:"25x"}"#);
        assert_eq!(go::int_or_string(Some(&json!(-1))), r#"intstr.IntOrString{Type:0, IntVal:-1, StrVal:""}"#);
    }

    #[test]
    fn error_bodies() {
        let p = Path::new("spec").child("containers").index(0).child("ports").index(1).child("protocol");
        assert_eq!(p.as_str(), "spec.containers[0].ports[1].protocol");
        assert_eq!(Path::new("spec").child("resources").key("cpu").as_str(), "spec.resources[cpu]");
        assert_eq!(
            not_supported(&p, go::str("HTTP"), &["SCTP", "TCP", "UDP"]).message,
            r#"Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP""#
        );
        assert_eq!(required(&p, "").message, "Required value");
        assert_eq!(required(&p, "must be set").message, "Required value: must be set");
        assert_eq!(forbidden(&p, "nope").message, "Forbidden: nope");
        assert_eq!(
            invalid(&p, go::int(-1), IS_NEGATIVE).message,
            "Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(duplicate(&p, go::str("a")).message, r#"Duplicate value: "a""#);
        assert_eq!(not_found(&p, go::str("a")).message, r#"Not found: "a""#);
        assert_eq!(too_long(&Path::whole(), 1048576).field, "[]");
        assert_eq!(too_long(&Path::whole(), 1048576).message, "Too long: may not be more than 1048576 bytes");
        assert_eq!(invalid_omitted(&p, "x").message, "Invalid value: x");
    }

    #[test]
    fn port_names_follow_iana_svc_name() {
        assert!(port_name_errors("http").is_empty());
        assert!(port_name_errors("http-2").is_empty());
        assert_eq!(
            port_name_errors("HTTP"),
            vec![
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
                "must contain at least one letter (a-z)".to_string()
            ]
        );
        assert_eq!(port_name_errors("a--b"), vec!["must not contain consecutive hyphens".to_string()]);
        assert_eq!(port_name_errors("-ab"), vec!["must not begin or end with a hyphen".to_string()]);
        assert_eq!(port_name_errors("abcdefghijklmnop"), vec!["must be no more than 15 characters".to_string()]);
        assert_eq!(port_num_errors(0), vec!["must be between 1 and 65535, inclusive".to_string()]);
    }

    #[test]
    fn pod_specs() {
        let ok = json!({"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]});
        assert!(pod_spec(&ok, &Path::new("spec"), &PodOpts::default()).is_empty());
        let errs = render(&pod_spec(&json!({}), &Path::new("spec"), &PodOpts::default()));
        assert_eq!(errs, vec!["spec.containers: Required value"]);
        let bad = json!({
            "restartPolicy": "Sometimes",
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}}, {"name": "x"}],
            "containers": [
                {"name": "Web", "ports": [{"containerPort": 70000, "protocol": "HTTP", "name": "HTTP"}],
                 "volumeMounts": [{"name": "missing", "mountPath": "/a"}],
                 "env": [{"name": "A=B"}],
                 "resources": {"limits": {"cpu": "100m", "memory": "abc"}, "requests": {"cpu": "200m"}}},
                {"name": "Web", "image": "x", "imagePullPolicy": "Sometimes"}
            ]
        });
        let errs = render(&pod_spec(&bad, &Path::new("spec"), &PodOpts::default()));
        let label = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
        assert_eq!(errs, vec![
            "spec.volumes[1].name: Duplicate value: \"data\"".to_string(),
            "spec.volumes[2]: Required value: must specify a volume type".into(),
            format!("spec.containers[0].name: Invalid value: \"Web\": {label}"),
            "spec.containers[0].image: Required value".into(),
            "spec.containers[0].ports[0].name: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into(),
            "spec.containers[0].ports[0].name: Invalid value: \"HTTP\": must contain at least one letter (a-z)".into(),
            "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".into(),
            "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".into(),
            "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='".into(),
            "spec.containers[0].volumeMounts[0].name: Not found: \"missing\"".into(),
            format!("spec.containers[0].resources.limits[memory]: Invalid value: \"abc\": {QUANTITY_FORMAT_ERR}"),
            "spec.containers[0].resources.requests: Invalid value: \"200m\": must be less than or equal to cpu limit of 100m".into(),
            format!("spec.containers[1].name: Invalid value: \"Web\": {label}"),
            "spec.containers[1].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"".into(),
            "spec.containers[1].name: Duplicate value: \"Web\"".into(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"".into(),
        ]);
    }

    #[test]
    fn resources_beyond_cpu_and_memory() {
        let res = json!({"limits": {"example.com/gpu": "1", "gpu": "1"}, "requests": {"example.com/gpu": "2", "example.com/fpga": "1", "cpu": "-1"}});
        let errs = render(&resource_requirements(&res, &Path::new("r")));
        assert_eq!(
            errs,
            vec![
                "r.limits[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified"
                    .to_string(),
                "r.limits[gpu]: Invalid value: \"gpu\": must be a standard resource for containers".into(),
                "r.requests[cpu]: Invalid value: \"-1\": must be greater than or equal to 0".into(),
                "r.limits: Required value: Limit must be set for non overcommitable resources".into(),
                "r.requests: Invalid value: \"2\": must be equal to example.com/gpu limit of 1".into(),
            ]
        );
    }

    #[test]
    fn probes_and_handlers() {
        let spec = json!({"containers": [{"name": "c", "image": "i",
            "livenessProbe": {"successThreshold": 2, "periodSeconds": -1},
            "readinessProbe": {"httpGet": {"port": 0}, "tcpSocket": {"port": "http"}}}]});
        let errs = render(&pod_spec(&spec, &Path::new("spec"), &PodOpts::default()));
        assert_eq!(errs, vec![
            "spec.containers[0].livenessProbe: Required value: must specify a handler type".to_string(),
            "spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0".into(),
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1".into(),
            "spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive".into(),
            "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type".into(),
        ]);
    }

    #[test]
    fn semantic_equality_ignores_empty_and_null() {
        assert!(semantic_eq(Some(&json!({"a": [], "b": null})), Some(&json!({}))));
        assert!(semantic_eq(None, Some(&json!({"x": {}}))));
        assert!(!semantic_eq(Some(&json!({"a": 1})), Some(&json!({"a": 2}))));
        assert!(!semantic_eq(Some(&json!([1])), None));
    }

    #[test]
    fn never_panics_on_odd_shapes() {
        for v in [
            json!(null),
            json!(5),
            json!("x"),
            json!([1, {"a": null}]),
            json!({"containers": [null, 1, "x", {"ports": "x"}]}),
            json!({"containers": [{"resources": {"limits": {"cpu": [1]}, "requests": 7}}], "volumes": {"a": 1}}),
        ] {
            let _ = pod_spec(&v, &Path::new("spec"), &PodOpts { is_pod: true, ..Default::default() });
            let _ = pod_template_spec(&v, &Path::new("t"), &PodOpts::default());
            let _ = label_selector(Some(&v), &Path::new("s"));
        }
        for q in ["99999999999999999999999999999999999999999Ei", "1e999", "-", "+", ".", "1e-50", "0.0000000000001"] {
            let _ = Quantity::parse(q).map(|q| q.canonical());
        }
    }
}
