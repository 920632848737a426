//! Sets of field paths as server-side apply records them in `managedFields[].fieldsV1`
//! (`f:` fields, `k:{…}` keyed list items, `v:` set items, `i:` indices, `.` for the node
//! itself), with the path-wise set algebra structured-merge-diff does on them.

use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One step of a path into an object.
#[derive(Debug, Clone)]
pub enum PathElement {
    /// A field of an object (a struct field or a map key).
    Field(String),
    /// An item of an associative list, by its key fields (sorted by name).
    Key(Vec<(String, Value)>),
    /// An item of a set (a list of distinct scalars).
    Value(Value),
    /// An item of a list by position (only read, never produced here).
    Index(usize),
}

pub type Path = Vec<PathElement>;

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The `fieldsV1` key: `f:name`, `k:{"name":"nginx"}`, `v:"x"`, `i:0`.
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(fields) => {
                let mut s = String::from("k:{");
                for (i, (name, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    go_json_string(name, &mut s);
                    s.push(':');
                    go_json(v, &mut s);
                }
                s.push('}');
                s
            }
            PathElement::Value(v) => {
                let mut s = String::from("v:");
                go_json(v, &mut s);
                s
            }
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `fieldsV1` key; Ok(None) for an element type this version does not know
    /// (skipped, as upstream skips them).
    pub fn decode(s: &str) -> Result<Option<PathElement>, String> {
        let b = s.as_bytes();
        if b.len() < 2 {
            return Err("key must be 2 characters long:".into());
        }
        if b[1] != b':' {
            return Err(format!("missing colon: {s}"));
        }
        let rest = &s[2..];
        Ok(Some(match b[0] {
            b'f' => PathElement::Field(rest.to_string()),
            b'v' => PathElement::Value(serde_json::from_str(rest).map_err(|e| e.to_string())?),
            b'k' => {
                let v: Map<String, Value> = serde_json::from_str(rest).map_err(|e| e.to_string())?;
                let mut fields: Vec<(String, Value)> = v.into_iter().collect();
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                PathElement::Key(fields)
            }
            b'i' => PathElement::Index(rest.parse().map_err(|e: std::num::ParseIntError| e.to_string())?),
            _ => return Ok(None),
        }))
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.as_bytes().cmp(b.as_bytes()),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((an, av), (bn, bv)) in a.iter().zip(b.iter()) {
                    let c = an.as_bytes().cmp(bn.as_bytes()).then_with(|| compare_values(av, bv));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

/// As upstream prints a path element in conflict messages: `.spec`, `[name="nginx"]`,
/// `[="x"]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", value_to_string(v))).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={}]", value_to_string(v)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path as upstream prints it: `.spec.template.spec.containers[name="nginx"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// Upstream's `value.ToString`: strings quoted as Go's %q does.
fn value_to_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => go_quote(s),
        Value::Array(items) => format!("[{}]", items.iter().map(value_to_string).collect::<Vec<_>>().join(",")),
        Value::Object(m) => m.iter().map(|(k, v)| format!("{k}={}", value_to_string(v))).collect(),
    }
}

/// Go's `%q` of a string.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A total order over JSON values, as structured-merge-diff sorts them: numbers (floats and
/// ints compared numerically), then strings, booleans, lists, maps, null.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn class(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i.cmp(&j),
            _ => {
                let (f, g) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
                f.partial_cmp(&g).unwrap_or(Ordering::Equal)
            }
        },
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (i, j) in x.iter().zip(y.iter()) {
                let c = compare_values(i, j);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<_> = x.iter().collect();
            let mut ys: Vec<_> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            for ((xk, xv), (yk, yv)) in xs.iter().zip(ys.iter()) {
                let c = xk.as_bytes().cmp(yk.as_bytes()).then_with(|| compare_values(xv, yv));
                if c != Ordering::Equal {
                    return c;
                }
            }
            xs.len().cmp(&ys.len())
        }
        _ => class(a).cmp(&class(b)),
    }
}

/// JSON equality with ints and floats compared by value (`1` equals `1.0`), as upstream's
/// `value.Equals` does.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => compare_values(a, b) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(i, j)| values_equal(i, j)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Writes `v` as Go's encoding/json does: object keys sorted, `<`, `>`, `&`, U+2028 and
/// U+2029 escaped.
pub fn go_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json_string(k, out);
                out.push(':');
                go_json(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, out);
            }
            out.push(']');
        }
        Value::String(s) => go_json_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

fn go_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A set of paths, as a tree: `members` are paths ending here, `children` lead deeper. No
/// child is ever empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    pub fn new() -> Set {
        Set::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// Adds a path; the empty path (the whole object) is not tracked.
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((last, init)) = path.split_last() else { return };
        let mut node = self;
        for pe in init {
            node = node.children.entry(pe.clone()).or_default();
        }
        node.members.insert(last.clone());
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        let Some((last, init)) = path.split_last() else { return false };
        let mut node = self;
        for pe in init {
            match node.children.get(pe) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.members.contains(last)
    }

    /// The paths below `pe`, with `pe` taken off.
    pub fn with_prefix(&self, pe: &PathElement) -> Set {
        self.children.get(pe).cloned().unwrap_or_default()
    }

    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    pub fn intersection(&self, other: &Set) -> Set {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    children.insert(pe.clone(), both);
                }
            }
        }
        Set { members, children }
    }

    /// The paths of `self` that are not paths of `other`.
    pub fn difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            let rest = match other.children.get(pe) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                children.insert(pe.clone(), rest);
            }
        }
        Set { members, children }
    }

    /// The paths of `self` that neither are nor lie below a path of `other`.
    pub fn recursive_difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            let rest = match other.children.get(pe) {
                Some(theirs) => child.recursive_difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                children.insert(pe.clone(), rest);
            }
        }
        Set { members, children }
    }

    /// Every field that leads to a member becomes a member itself (upstream's
    /// `EnsureNamedFieldsAreMembers`, with every field name taken as a named field).
    pub fn with_fields_as_members(&self) -> Set {
        let mut members = self.members.clone();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if matches!(pe, PathElement::Field(_)) {
                members.insert(pe.clone());
            }
            children.insert(pe.clone(), child.with_fields_as_members());
        }
        Set { members, children }
    }

    /// Drops the top-level fields `drop` names, with everything below them.
    pub fn without_top_fields(&self, drop: impl Fn(&str) -> bool) -> Set {
        let keep = |pe: &PathElement| !matches!(pe, PathElement::Field(f) if drop(f));
        Set {
            members: self.members.iter().filter(|pe| keep(pe)).cloned().collect(),
            children: self.children.iter().filter(|(pe, _)| keep(pe)).map(|(pe, c)| (pe.clone(), c.clone())).collect(),
        }
    }

    /// Visits every path, members of a node before the paths below its children, each level
    /// in order (as upstream iterates a set).
    pub fn for_each(&self, mut f: impl FnMut(&[PathElement])) {
        fn walk(s: &Set, prefix: &mut Path, f: &mut dyn FnMut(&[PathElement])) {
            for pe in &s.members {
                prefix.push(pe.clone());
                f(prefix);
                prefix.pop();
            }
            for (pe, child) in &s.children {
                prefix.push(pe.clone());
                walk(child, prefix, f);
                prefix.pop();
            }
        }
        walk(self, &mut Vec::new(), &mut f);
    }

    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.for_each(|p| out.push(p.to_vec()));
        out
    }

    /// The `fieldsV1` form: `{"f:metadata":{"f:labels":{"f:app":{}}}}`.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        let mut members = self.members.iter().peekable();
        let mut children = self.children.iter().peekable();
        loop {
            let order = match (members.peek(), children.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some(m), Some((c, _))) => (*m).cmp(*c),
            };
            match order {
                Ordering::Less => {
                    let m = members.next().expect("peeked");
                    out.insert(m.encode(), Value::Object(Map::new()));
                }
                Ordering::Greater => {
                    let (pe, child) = children.next().expect("peeked");
                    out.insert(pe.encode(), Value::Object(child.emit(false)));
                }
                Ordering::Equal => {
                    members.next();
                    let (pe, child) = children.next().expect("peeked");
                    out.insert(pe.encode(), Value::Object(child.emit(true)));
                }
            }
        }
        out
    }

    /// Reads the `fieldsV1` form.
    pub fn from_fields_v1(v: &Value) -> Result<Set, String> {
        let (set, _) = read(v)?;
        Ok(set)
    }
}

/// Reads one `fieldsV1` node: what lies below it and whether it is a member itself (an
/// empty object, or one with a `.` key).
fn read(v: &Value) -> Result<(Set, bool), String> {
    let Value::Object(m) = v else {
        return Err(format!("expected an object in fieldsV1, got {v}"));
    };
    let mut set = Set::new();
    let mut is_member = false;
    for (key, child) in m {
        if key == "." {
            is_member = true;
            continue;
        }
        let Some(pe) = PathElement::decode(key).map_err(|e| format!("parsing key as path element: {e}"))? else {
            continue;
        };
        let (grandchildren, child_is_member) = read(child)?;
        if child_is_member {
            set.members.insert(pe.clone());
        }
        if !grandchildren.is_empty() {
            let merged = match set.children.remove(&pe) {
                Some(existing) => existing.union(&grandchildren),
                None => grandchildren,
            };
            set.children.insert(pe, merged);
        }
    }
    if set.is_empty() {
        is_member = true;
    }
    Ok((set, is_member))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(s: &str) -> PathElement {
        PathElement::Field(s.into())
    }

    #[test]
    fn fields_v1_round_trips_upstream_documents() {
        let docs = [
            r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{}}}}}"#,
            r#"{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}},"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"f:replicas":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:ports":{".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}}}}}}}}"#,
            r#"{"f:metadata":{"f:finalizers":{".":{},"v:\"example.com/a\"":{},"v:\"example.com/b\"":{}}}}"#,
            r#"{"f:spec":{"f:args":{"i:0":{},"i:1":{}}}}"#,
        ];
        for doc in docs {
            let v: Value = serde_json::from_str(doc).unwrap();
            let set = Set::from_fields_v1(&v).unwrap();
            assert_eq!(serde_json::to_string(&set.to_fields_v1()).unwrap(), doc);
        }
    }

    #[test]
    fn decoding_sorts_keys_and_encoding_sorts_elements() {
        let v = json!({"f:spec": {"f:b": {}, "f:a": {}}, "f:metadata": {}});
        let set = Set::from_fields_v1(&v).unwrap();
        assert_eq!(
            serde_json::to_string(&set.to_fields_v1()).unwrap(),
            r#"{"f:metadata":{},"f:spec":{"f:a":{},"f:b":{}}}"#
        );
        let key = PathElement::decode(r#"k:{"protocol":"TCP","containerPort":80}"#).unwrap().unwrap();
        assert_eq!(key.encode(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        assert_eq!(key.to_string(), r#"[containerPort=80,protocol="TCP"]"#);
        assert!(PathElement::decode("x:1").unwrap().is_none());
        assert!(PathElement::decode("f").is_err());
        assert!(PathElement::decode("fx").is_err());
    }

    #[test]
    fn membership_and_algebra_are_path_wise() {
        let spec_replicas = vec![field("spec"), field("replicas")];
        let image = vec![field("spec"), PathElement::Key(vec![("name".into(), json!("nginx"))]), field("image")];
        let mut a = Set::new();
        a.insert(&spec_replicas);
        a.insert(&image);
        let mut b = Set::new();
        b.insert(&image);
        assert!(a.has(&spec_replicas) && !a.has(&[field("spec")]));
        assert_eq!(a.difference(&b).paths(), vec![spec_replicas.clone()]);
        assert_eq!(a.intersection(&b).paths(), vec![image.clone()]);
        assert_eq!(b.union(&a), a);
        let mut spec = Set::new();
        spec.insert(&[field("spec")]);
        assert!(a.recursive_difference(&spec).is_empty());
        assert_eq!(a.difference(&spec), a);
        assert!(a.with_fields_as_members().has(&[field("spec")]));
        assert_eq!(path_string(&image), r#".spec[name="nginx"].image"#);
        assert!(a.without_top_fields(|f| f == "spec").is_empty());
    }

    #[test]
    fn members_come_before_deeper_paths_when_iterating() {
        let mut s = Set::new();
        s.insert(&[field("a"), field("x")]);
        s.insert(&[field("b")]);
        let printed: Vec<String> = s.paths().iter().map(|p| path_string(p)).collect();
        assert_eq!(printed, vec![".b", ".a.x"]);
    }

    #[test]
    fn go_quoting_and_json_match_go() {
        assert_eq!(go_quote("a\"b\n"), r#""a\"b\n""#);
        let mut s = String::new();
        go_json(&json!({"b": "<&>", "a": 1}), &mut s);
        assert_eq!(s, r#"{"a":1,"b":"\u003c\u0026\u003e"}"#);
    }
}
