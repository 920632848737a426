//! Objects seen through their type the way structured-merge-diff sees them: which lists are
//! associative (and by which keys), which are sets, which lists and maps are atomic. The walks
//! over JSON objects server-side apply is built from live here: the field set of an object,
//! the comparison of two objects, the merge of an applied configuration into a live object
//! and the removal of a set of fields.
//!
//! Types come from the strategic merge patch table (`registry::patch::schema_for`): a list
//! with a patch merge key is associative by that key, a `merge` list without one is a set,
//! every other list is atomic. Where the Kubernetes OpenAPI says otherwise for a field of
//! that table (a second key such as a port's `protocol`, a list that apply treats as atomic),
//! the list and map facts the server's OpenAPI documents carry win.

use super::fieldset::{path_string, values_equal, Path, PathElement, Set};
use crate::registry::patch::list_types as facts;
use crate::registry::patch::{Schema, Strategy};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// How a list is merged and how its items are named in a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced whole; one leaf.
    Atomic,
    /// Distinct scalars, named by value (`v:`).
    Set,
    /// Objects named by their key fields (`k:`).
    Map(Keys),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    One(&'static str),
    Many(&'static [&'static str]),
}

impl Keys {
    fn names(&self) -> Vec<&'static str> {
        match self {
            Keys::One(k) => vec![k],
            Keys::Many(ks) => ks.to_vec(),
        }
    }
}

/// The type of one node: the object schema (for object values), the list kind (for list
/// values) and whether an object is atomic.
#[derive(Debug, Clone, Copy)]
pub struct Ty {
    schema: &'static Schema,
    list: ListKind,
    atomic_map: bool,
}

type FactIndex = HashMap<(&'static str, &'static str), facts::F>;

fn fact(definition: &str, property: &str) -> Option<facts::F> {
    static INDEX: OnceLock<FactIndex> = OnceLock::new();
    let index = INDEX.get_or_init(|| facts::FACTS.iter().map(|(d, p, f)| ((*d, *p), *f)).collect());
    index.get(&(definition, property)).copied()
}

/// The default a list key takes when an item omits it (upstream's OpenAPI gives the port
/// `protocol` keys the default "TCP").
fn key_default(key: &str) -> Option<Value> {
    (key == "protocol").then(|| Value::String("TCP".into()))
}

impl Ty {
    /// The type of a whole object whose kind has `schema`.
    pub fn root(schema: &'static Schema) -> Ty {
        Ty { schema, list: ListKind::Atomic, atomic_map: false }
    }

    fn unknown() -> Ty {
        Ty::root(&Schema::UNKNOWN)
    }

    /// The type of field `name` of an object of this type.
    fn field(&self, name: &str) -> Ty {
        let f = self.schema.field(name);
        let facts = fact(self.schema.name, name);
        let schema = f.and_then(|f| f.child).unwrap_or(&Schema::UNKNOWN);
        let list = match facts.map(|f| f.list_type).unwrap_or("") {
            "map" => match facts.map(|f| f.map_keys).unwrap_or(&[]) {
                [] => ListKind::Atomic,
                keys => ListKind::Map(Keys::Many(keys)),
            },
            "set" => ListKind::Set,
            "atomic" => ListKind::Atomic,
            _ => match f {
                Some(f) if f.strategy == Strategy::Merge => match f.merge_key {
                    Some(k) => ListKind::Map(Keys::One(k)),
                    None => ListKind::Set,
                },
                _ => ListKind::Atomic,
            },
        };
        let atomic_map = f.is_some_and(|f| f.strategy == Strategy::Replace)
            || facts.is_some_and(|f| f.map_type == "atomic")
            || fact(schema.name, "").is_some_and(|f| f.map_type == "atomic");
        if f.is_none() && facts.is_none() {
            return Ty::unknown();
        }
        Ty { schema, list, atomic_map }
    }

    /// The type of an item of a list of this type.
    fn item(&self) -> Ty {
        Ty {
            schema: self.schema,
            list: ListKind::Atomic,
            atomic_map: fact(self.schema.name, "").is_some_and(|f| f.map_type == "atomic"),
        }
    }
}

/// Errors of one walk, each prefixed with the path where it happened, as upstream's
/// `ValidationErrors` print.
#[derive(Debug, Default)]
pub struct Errors(Vec<String>);

impl Errors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn push(&mut self, path: &[PathElement], msg: String) {
        if path.is_empty() {
            self.0.push(msg);
        } else {
            self.0.push(format!("{}: {msg}", path_string(path)));
        }
    }
}

impl std::fmt::Display for Errors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.len() == 1 {
            return f.write_str(&self.0[0]);
        }
        f.write_str("errors:")?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// The name of a list item in a path.
fn item_element(ty: &Ty, item: &Value) -> Result<PathElement, String> {
    match ty.list {
        ListKind::Map(keys) => {
            let m = match item {
                Value::Null => return Err("associative list with keys may not have a null element".into()),
                Value::Object(m) => m,
                _ => return Err("associative list with keys may not have non-map elements".into()),
            };
            let mut fields = Vec::new();
            for key in keys.names() {
                match m.get(key).cloned().or_else(|| key_default(key)) {
                    Some(v) => fields.push((key.to_string(), v)),
                    None => {
                        return Err(format!(
                            "associative list with keys has an element that omits key field {} (and doesn't have default value)",
                            super::fieldset::go_quote(key)
                        ))
                    }
                }
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
        ListKind::Set => match item {
            Value::Object(_) => Err("associative list without keys has an element that's a map type".into()),
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => Err("associative list without keys has an element that's an explicit null".into()),
            v => Ok(PathElement::Value(v.clone())),
        },
        ListKind::Atomic => Err("invalid indexing of non-associative list".into()),
    }
}

fn non_empty_object(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Object(m)) if !m.is_empty())
}

fn non_empty_array(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Array(a)) if !a.is_empty())
}

/// Checks what upstream's typed conversion checks of an applied configuration: every item
/// of an associative list is named, and no name is used twice.
pub fn validate(ty: Ty, v: &Value, errs: &mut Errors) {
    fn walk(ty: &Ty, v: &Value, path: &mut Path, errs: &mut Errors) {
        match v {
            Value::Object(m) if !ty.atomic_map => {
                for (k, child) in m {
                    path.push(PathElement::Field(k.clone()));
                    walk(&ty.field(k), child, path, errs);
                    path.pop();
                }
            }
            Value::Array(items) if ty.list != ListKind::Atomic => {
                let mut seen = Vec::<PathElement>::new();
                for (i, item) in items.iter().enumerate() {
                    match item_element(ty, item) {
                        Err(e) => errs.push(path, format!("element {i}: {e}")),
                        Ok(pe) if seen.contains(&pe) => errs.push(path, format!("duplicate entries for key {pe}")),
                        Ok(pe) => {
                            path.push(pe.clone());
                            walk(&ty.item(), item, path, errs);
                            path.pop();
                            seen.push(pe);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    walk(&ty, v, &mut Vec::new(), errs);
}

/// The set of fields an object sets (upstream's `ToFieldSet`): every scalar, null, empty
/// object and atomic value, every list item (as `.`) and what it contains.
pub fn to_field_set(ty: Ty, v: &Value) -> Set {
    fn walk(ty: &Ty, v: &Value, path: &mut Path, set: &mut Set) {
        match v {
            Value::Object(m) => {
                if ty.atomic_map {
                    set.insert(path);
                    return;
                }
                for (k, child) in m {
                    path.push(PathElement::Field(k.clone()));
                    walk(&ty.field(k), child, path, set);
                    if child.is_null() || matches!(child, Value::Object(c) if c.is_empty()) {
                        set.insert(path);
                    }
                    path.pop();
                }
            }
            Value::Array(items) => {
                if ty.list == ListKind::Atomic {
                    set.insert(path);
                    return;
                }
                let mut seen = HashSet::new();
                let mut duplicates = Vec::new();
                let pes: Vec<Option<PathElement>> = items.iter().map(|i| item_element(ty, i).ok()).collect();
                for pe in pes.iter().flatten() {
                    let key = pe.encode();
                    if !seen.insert(key.clone()) && !duplicates.contains(&key) {
                        duplicates.push(key);
                        path.push(pe.clone());
                        set.insert(path);
                        path.pop();
                    }
                }
                for (item, pe) in items.iter().zip(pes) {
                    let Some(pe) = pe else { continue };
                    if duplicates.contains(&pe.encode()) {
                        continue;
                    }
                    path.push(pe);
                    walk(&ty.item(), item, path, set);
                    set.insert(path);
                    path.pop();
                }
            }
            _ => set.insert(path),
        }
    }
    let mut set = Set::new();
    walk(&ty, v, &mut Vec::new(), &mut set);
    set
}

/// What changed between two objects, path by path (upstream's `Comparison`).
#[derive(Debug, Default, Clone)]
pub struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

impl Comparison {
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }

    /// Leaves out the top-level fields `drop` names (the fields a subresource resets).
    pub fn without_top_fields(&self, drop: impl Fn(&str) -> bool + Copy) -> Comparison {
        Comparison {
            added: self.added.without_top_fields(drop),
            modified: self.modified.without_top_fields(drop),
            removed: self.removed.without_top_fields(drop),
        }
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Shape {
    Map,
    List,
    Scalar,
}

fn shape(v: &Value) -> Shape {
    match v {
        Value::Object(_) => Shape::Map,
        Value::Array(_) => Shape::List,
        _ => Shape::Scalar,
    }
}

/// The shape both sides are walked as: the non-null side's, or a leaf when they disagree.
fn common_shape(lhs: Option<&Value>, rhs: Option<&Value>) -> Shape {
    let l = lhs.filter(|v| !v.is_null()).map(shape);
    let r = rhs.filter(|v| !v.is_null()).map(shape);
    match (l, r) {
        (Some(a), Some(b)) if a != b => Shape::Scalar,
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => Shape::Scalar,
    }
}

/// Compares `lhs` (before) with `rhs` (after). A missing side is None; a present null is
/// Some(Null), as upstream tells an absent field from a null one.
pub fn compare(ty: Ty, lhs: &Value, rhs: &Value) -> Comparison {
    let mut c = Comparison::default();
    compare_node(&ty, Some(lhs), Some(rhs), &mut Vec::new(), &mut c);
    c
}

fn compare_node(ty: &Ty, lhs: Option<&Value>, rhs: Option<&Value>, path: &mut Path, c: &mut Comparison) {
    let leaf = |c: &mut Comparison, path: &Path| match (lhs, rhs) {
        (None, _) => c.added.insert(path),
        (_, None) => c.removed.insert(path),
        (Some(l), Some(r)) if !values_equal(l, r) => c.modified.insert(path),
        _ => {}
    };
    let in_leaf = match common_shape(lhs, rhs) {
        Shape::Map => {
            let l = lhs.and_then(Value::as_object);
            let r = rhs.and_then(Value::as_object);
            if ty.atomic_map || (!non_empty_object(lhs) && !non_empty_object(rhs)) {
                leaf(c, path);
                true
            } else {
                let empty = Map::new();
                let (l, r) = (l.unwrap_or(&empty), r.unwrap_or(&empty));
                for (k, lv) in l {
                    path.push(PathElement::Field(k.clone()));
                    compare_node(&ty.field(k), Some(lv), r.get(k), path, c);
                    path.pop();
                }
                for (k, rv) in r {
                    if !l.contains_key(k) {
                        path.push(PathElement::Field(k.clone()));
                        compare_node(&ty.field(k), None, Some(rv), path, c);
                        path.pop();
                    }
                }
                false
            }
        }
        Shape::List => {
            if ty.list == ListKind::Atomic || (!non_empty_array(lhs) && !non_empty_array(rhs)) {
                leaf(c, path);
                true
            } else {
                compare_items(ty, lhs.and_then(Value::as_array), rhs.and_then(Value::as_array), path, c);
                false
            }
        }
        Shape::Scalar => {
            leaf(c, path);
            true
        }
    };
    if !in_leaf {
        if lhs.is_none() {
            c.added.insert(path);
        } else if rhs.is_none() {
            c.removed.insert(path);
        }
    }
}

/// Items grouped by their name, in first-seen order; items that cannot be named are skipped.
fn group_items<'a>(ty: &Ty, items: Option<&'a Vec<Value>>) -> Vec<(PathElement, Vec<&'a Value>)> {
    let mut groups: Vec<(PathElement, Vec<&Value>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for item in items.into_iter().flatten() {
        let Ok(pe) = item_element(ty, item) else { continue };
        match index.get(&pe.encode()) {
            Some(&i) => groups[i].1.push(item),
            None => {
                index.insert(pe.encode(), groups.len());
                groups.push((pe, vec![item]));
            }
        }
    }
    groups
}

fn compare_items(ty: &Ty, lhs: Option<&Vec<Value>>, rhs: Option<&Vec<Value>>, path: &mut Path, c: &mut Comparison) {
    let l = group_items(ty, lhs);
    let r = group_items(ty, rhs);
    let mut all: Vec<&PathElement> = l.iter().map(|(pe, _)| pe).collect();
    for (pe, _) in &r {
        if !l.iter().any(|(q, _)| q == pe) {
            all.push(pe);
        }
    }
    let item_ty = ty.item();
    for pe in all {
        let ls: &[&Value] = l.iter().find(|(q, _)| q == pe).map(|(_, v)| v.as_slice()).unwrap_or(&[]);
        let rs: &[&Value] = r.iter().find(|(q, _)| q == pe).map(|(_, v)| v.as_slice()).unwrap_or(&[]);
        path.push(pe.clone());
        match (ls.len(), rs.len()) {
            (a, b) if a <= 1 && b <= 1 => compare_node(&item_ty, ls.first().copied(), rs.first().copied(), path, c),
            (a, b) if a >= 2 && b >= 2 => {
                if !(a == b && ls.iter().zip(rs).all(|(x, y)| values_equal(x, y))) {
                    c.modified.insert(path);
                }
            }
            (a, _) if a >= 2 => {
                if let Some(r0) = rs.first() {
                    compare_node(&item_ty, None, Some(r0), path, c);
                }
                c.removed.insert(path);
            }
            _ => {
                if let Some(l0) = ls.first() {
                    compare_node(&item_ty, Some(l0), None, path, c);
                }
                c.added.insert(path);
            }
        }
        path.pop();
    }
}

/// Merges an applied configuration (`rhs`) into a live object (`lhs`): the configuration's
/// values win, maps merge field by field, associative lists item by item (keeping the live
/// order around the configuration's items), atomic values are replaced. Nulls the
/// configuration sets leave the field out. Errors name items the configuration lists twice
/// or cannot name.
pub fn merge(ty: Ty, lhs: &Value, rhs: &Value) -> Result<Value, Errors> {
    let mut errs = Errors::default();
    let out = merge_node(&ty, Some(lhs), Some(rhs), &mut Vec::new(), &mut errs);
    if !errs.is_empty() {
        return Err(errs);
    }
    Ok(out.unwrap_or(Value::Object(Map::new())))
}

fn merge_node(ty: &Ty, lhs: Option<&Value>, rhs: Option<&Value>, path: &mut Path, errs: &mut Errors) -> Option<Value> {
    let keep_rhs = || rhs.or(lhs).cloned();
    match common_shape(lhs, rhs) {
        Shape::Map => {
            if ty.atomic_map || (!non_empty_object(lhs) && !non_empty_object(rhs)) {
                return keep_rhs();
            }
            let empty = Map::new();
            let l = lhs.and_then(Value::as_object).unwrap_or(&empty);
            let r = rhs.and_then(Value::as_object).unwrap_or(&empty);
            let mut out = Map::new();
            let keys = l.keys().chain(r.keys().filter(|k| !l.contains_key(*k)));
            for k in keys {
                let (lv, rv) = (l.get(k), r.get(k));
                if rv.is_some_and(Value::is_null) {
                    continue;
                }
                path.push(PathElement::Field(k.clone()));
                if let Some(v) = merge_node(&ty.field(k), lv, rv, path, errs) {
                    out.insert(k.clone(), v);
                }
                path.pop();
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Shape::List => {
            if ty.list == ListKind::Atomic || (!non_empty_array(lhs) && !non_empty_array(rhs)) {
                return keep_rhs();
            }
            let out = merge_items(ty, lhs.and_then(Value::as_array), rhs.and_then(Value::as_array), path, errs);
            (!out.is_empty()).then_some(Value::Array(out))
        }
        Shape::Scalar => keep_rhs(),
    }
}

/// Names the items of one side of a merge: (names in order, name -> item). The live side
/// may repeat a name (the item then merges as if absent); the configuration may not.
fn index_items<'a>(
    ty: &Ty,
    items: Option<&'a Vec<Value>>,
    allow_duplicates: bool,
    path: &Path,
    errs: &mut Errors,
) -> (Vec<PathElement>, HashMap<String, Option<&'a Value>>) {
    let mut names = Vec::new();
    let mut observed: HashMap<String, Option<&Value>> = HashMap::new();
    for (i, item) in items.into_iter().flatten().enumerate() {
        let pe = match item_element(ty, item) {
            Ok(pe) => pe,
            Err(e) => {
                errs.push(path, format!("element {i}: {e}"));
                continue;
            }
        };
        match observed.entry(pe.encode()) {
            std::collections::hash_map::Entry::Occupied(_) if !allow_duplicates => {
                errs.push(path, format!("duplicate entries for key {pe}"));
                continue;
            }
            // A repeated live item merges as if it were absent.
            std::collections::hash_map::Entry::Occupied(mut seen) => {
                seen.insert(None);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Some(item));
            }
        }
        names.push(pe);
    }
    (names, observed)
}

fn merge_items(
    ty: &Ty,
    lhs: Option<&Vec<Value>>,
    rhs: Option<&Vec<Value>>,
    path: &mut Path,
    errs: &mut Errors,
) -> Vec<Value> {
    let before = errs.0.len();
    let (rnames, robs) = index_items(ty, rhs, false, path, errs);
    let (lnames, lobs) = index_items(ty, lhs, true, path, errs);
    if errs.0.len() != before {
        return Vec::new();
    }
    let item_ty = ty.item();
    let mut out = Vec::new();
    let mut shared: std::collections::VecDeque<&PathElement> =
        rnames.iter().filter(|pe| lobs.contains_key(&pe.encode())).collect();
    let mut next_shared = shared.pop_front();
    let mut merged_rhs: HashSet<String> = HashSet::new();
    let item = |pe: &PathElement,
                l: Option<&Value>,
                r: Option<&Value>,
                path: &mut Path,
                errs: &mut Errors,
                out: &mut Vec<Value>| {
        path.push(pe.clone());
        if let Some(v) = merge_node(&item_ty, l, r, path, errs) {
            out.push(v);
        }
        path.pop();
    };
    let (mut li, mut ri) = (0, 0);
    while li < lnames.len() || ri < rnames.len() {
        if li < lnames.len() && ri < rnames.len() {
            let pe = &lnames[li];
            if *pe == rnames[ri] {
                let key = pe.encode();
                merged_rhs.insert(key.clone());
                let l = lobs.get(&key).copied().flatten();
                let r = robs.get(&key).copied().flatten();
                item(pe, l, r, path, errs, &mut out);
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if robs.contains_key(&pe.encode()) && next_shared.is_some_and(|s| s != &lnames[li]) {
                li += 1;
                continue;
            }
        }
        if li < lnames.len() {
            let pe = &lnames[li];
            let key = pe.encode();
            if !robs.contains_key(&key) {
                let l = lhs.and_then(|a| a.get(li));
                item(pe, l, None, path, errs, &mut out);
                li += 1;
                continue;
            } else if merged_rhs.contains(&key) {
                li += 1;
            }
        }
        if ri < rnames.len() {
            let pe = &rnames[ri];
            let key = pe.encode();
            merged_rhs.insert(key.clone());
            let l = lobs.get(&key).copied().flatten();
            let r = robs.get(&key).copied().flatten();
            item(pe, l, r, path, errs, &mut out);
            ri += 1;
            if next_shared.is_some_and(|s| s == pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    out
}

/// Removes from `v` every path of `remove` (and what lies below it). A map or list left
/// empty by the removal is removed too.
pub fn remove_items(ty: Ty, v: &Value, remove: &Set) -> Value {
    remove_node(&ty, v, remove).unwrap_or(Value::Object(Map::new()))
}

fn remove_node(ty: &Ty, v: &Value, remove: &Set) -> Option<Value> {
    match v {
        Value::Object(m) if !ty.atomic_map && !m.is_empty() => {
            let mut out = Map::new();
            for (k, child) in m {
                let pe = PathElement::Field(k.clone());
                if remove.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                let below = remove.with_prefix(&pe);
                if below.is_empty() {
                    out.insert(k.clone(), child.clone());
                } else if let Some(c) = remove_node(&ty.field(k), child, &below) {
                    out.insert(k.clone(), c);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) if ty.list != ListKind::Atomic && !items.is_empty() => {
            let mut out = Vec::new();
            for item in items {
                let Ok(pe) = item_element(ty, item) else {
                    out.push(item.clone());
                    continue;
                };
                if remove.has(std::slice::from_ref(&pe)) {
                    continue;
                }
                let below = remove.with_prefix(&pe);
                if below.is_empty() {
                    out.push(item.clone());
                } else {
                    out.push(remove_node(&ty.item(), item, &below).unwrap_or_else(|| Value::Object(Map::new())));
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::patch::schema_for;
    use serde_json::json;

    fn deployment() -> Ty {
        Ty::root(schema_for("apps", "v1", "Deployment").unwrap())
    }

    fn fields(v: &Value) -> Value {
        to_field_set(deployment(), v).to_fields_v1()
    }

    #[test]
    fn field_sets_name_list_items_by_their_keys() {
        let d = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"template": {"spec": {"containers": [
            {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}], "args": ["a"]}
        ]}}}});
        assert_eq!(
            serde_json::to_string(&fields(&d)).unwrap(),
            r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:args":{},"f:image":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{}}}}}}}}}"#
        );
        let finalizers = json!({"metadata": {"finalizers": ["b", "a"]}});
        assert_eq!(
            serde_json::to_string(&fields(&finalizers)).unwrap(),
            r#"{"f:metadata":{"f:finalizers":{"v:\"a\"":{},"v:\"b\"":{}}}}"#
        );
    }

    #[test]
    fn validation_reports_unnamed_and_repeated_items() {
        let bad = json!({"spec": {"template": {"spec": {"containers": [
            {"image": "x"}, {"name": "a", "env": [{"name": "A"}, {"name": "A"}]}
        ]}}}});
        let mut errs = Errors::default();
        validate(deployment(), &bad, &mut errs);
        assert_eq!(
            errs.to_string(),
            "errors:\n  .spec.template.spec.containers: element 0: associative list with keys has an element that omits key field \"name\" (and doesn't have default value)\n  .spec.template.spec.containers[name=\"a\"].env: duplicate entries for key [name=\"A\"]"
        );
    }

    #[test]
    fn comparison_marks_new_maps_and_items_themselves() {
        let old = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
        let new = json!({"metadata": {"labels": {"k": "v"}}, "spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]}
        ]}}}});
        let c = compare(deployment(), &old, &new);
        assert_eq!(serde_json::to_string(&c.modified.to_fields_v1()).unwrap(), r#"{"f:spec":{"f:replicas":{}}}"#);
        assert_eq!(
            serde_json::to_string(&c.added.to_fields_v1()).unwrap(),
            r#"{"f:metadata":{".":{},"f:labels":{".":{},"f:k":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"a\"}":{"f:env":{".":{},"k:{\"name\":\"E\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}"#
        );
        assert!(c.removed.is_empty());
        let back = compare(deployment(), &new, &old);
        assert_eq!(back.removed.paths().len(), c.added.paths().len());
    }

    #[test]
    fn merge_keeps_live_order_and_replaces_atomic_lists() {
        let live = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "args": ["x", "y"]}, {"name": "b", "image": "b:1"}
        ]}}}});
        let config = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "c:1"}, {"name": "a", "args": ["z"]}
        ]}}}});
        let merged = merge(deployment(), &live, &config).unwrap();
        assert_eq!(
            merged,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "c", "image": "c:1"}, {"name": "a", "image": "a:1", "args": ["z"]}, {"name": "b", "image": "b:1"}
            ]}}}})
        );
        let dup = json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}});
        assert_eq!(
            merge(deployment(), &live, &dup).unwrap_err().to_string(),
            ".spec.template.spec.containers: duplicate entries for key [name=\"a\"]"
        );
        let nulled = merge(
            deployment(),
            &json!({"spec": {"replicas": 3, "paused": true}}),
            &json!({"spec": {"replicas": null}}),
        )
        .unwrap();
        assert_eq!(nulled, json!({"spec": {"paused": true}}));
    }

    #[test]
    fn removal_takes_subtrees_and_drops_emptied_parents() {
        let v = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "a", "image": "x"}, {"name": "b", "image": "y"}
        ]}}}});
        let mut remove = Set::new();
        remove.insert(&[
            PathElement::Field("metadata".into()),
            PathElement::Field("labels".into()),
            PathElement::Field("a".into()),
        ]);
        remove.insert(&[
            PathElement::Field("spec".into()),
            PathElement::Field("template".into()),
            PathElement::Field("spec".into()),
            PathElement::Field("containers".into()),
            PathElement::Key(vec![("name".into(), json!("b"))]),
        ]);
        let out = remove_items(deployment(), &v, &remove);
        assert_eq!(
            out,
            json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}})
        );
    }
}
