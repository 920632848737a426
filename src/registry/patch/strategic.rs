//! Applies a strategic merge patch (`application/strategic-merge-patch+json`) to an object,
//! the way kube-apiserver does: lists merged by their patch merge key, the `$patch`,
//! `$retainKeys`, `$setElementOrder/` and `$deleteFromPrimitiveList/` directives, and none of
//! them left in the result. Error messages are upstream's, word for word.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::schema::{Field, Schema, Strategy};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Why a patch could not be applied. `Display` is the message kube-apiserver gives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch body is not a JSON object (a JSON `null` is an empty patch).
    #[error("json: cannot unmarshal {0} into Go value of type map[string]interface {{}}")]
    NotAnObject(&'static str),
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    #[error("unknown patch type: {value} in map: {map}")]
    UnknownPatchType { value: String, map: String },
    #[error("merging lists cannot yet be specified in the patch")]
    MergeDirectiveInList,
    #[error("invalid patch format of primitive list")]
    BadPrimitiveList,
    #[error("invalid patch format of retainKeys")]
    BadRetainKeys,
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrder,
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    OrderMismatch { patch: String, order: String },
    #[error("lists of lists are not supported")]
    ListOfLists,
    #[error("list element types are not identical: {0}")]
    MixedElementTypes(String),
    #[error("expected a {expected}, but received a {actual}")]
    BadArgType {
        expected: &'static str,
        actual: &'static str,
    },
    #[error("cannot merge lists without merge key for {0}")]
    MergeListWithoutKey(String),
}

impl PatchError {
    /// The HTTP status to answer with. kube-apiserver answers 400 for a malformed body or
    /// directive and 422 for lists of lists; the other errors reach its clients as a 500 with
    /// an empty reason ("Error from server: map: ... does not contain declared merge key").
    /// Those are the patch's fault, not the server's, so this answers 422 for them.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::NotAnObject(_)
            | PatchError::BadPrimitiveList
            | PatchError::BadRetainKeys
            | PatchError::BadSetElementOrder => 400,
            _ => 422,
        }
    }
}

type Result<T> = std::result::Result<T, PatchError>;

/// Applies `patch` to `original` (an object) under `schema`, the kind's type (use
/// `Schema::UNKNOWN` for a kind without patch metadata: its lists are then all atomic, as in a
/// JSON merge patch). Neither input is changed.
pub fn strategic_merge(original: &Value, patch: &Value, schema: &Schema) -> Result<Value> {
    let patch = match patch {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        other => return Err(PatchError::NotAnObject(json_type(other))),
    };
    let original = match original {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    merge_map(original, patch, Some(schema)).map(Value::Object)
}

/// Merges a patch map into an original map (upstream's mergeMap).
fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    schema: Option<&Schema>,
) -> Result<Map<String, Value>> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.shift_remove(DIRECTIVE);
                clean_map(patch)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(unknown_patch_type(directive, &patch)),
        };
    }

    apply_retain_keys(&mut original, &mut patch)?;
    apply_set_element_order(&mut original, &mut patch, schema)?;

    // Deletions from primitive lists first, so that an item both deleted and added stays.
    let (deletions, rest): (Vec<_>, Vec<_>) = patch
        .into_iter()
        .partition(|(k, _)| k.starts_with(DELETE_FROM_PRIMITIVE_LIST));
    for (key, patch_value) in deletions.into_iter().chain(rest) {
        let (key, is_delete_list) = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            Some(_) => (
                directive_target(&key, DELETE_FROM_PRIMITIVE_LIST, PatchError::BadPrimitiveList)?,
                true,
            ),
            None => (key, false),
        };
        if patch_value.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let field = schema.and_then(|s| s.field(&key));
        let Some(original_value) = original.get_mut(&key) else {
            if !is_delete_list {
                if let Some(v) = clean(patch_value)? {
                    original.insert(key, v);
                }
            }
            continue;
        };
        match (original_value, patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                let o = std::mem::take(o);
                let merged = match field {
                    Some(f) if f.strategy == Strategy::Replace => clean_map(p)?,
                    _ => merge_map(o, p, field.and_then(|f| f.child))?,
                };
                original.insert(key, Value::Object(merged));
            }
            (Value::Array(o), Value::Array(p)) => {
                let o = std::mem::take(o);
                let merged = merge_list_field(o, p, field, is_delete_list)?;
                original.insert(key, Value::Array(merged.list));
            }
            (_, patch_value) => {
                if is_delete_list && !same_json_type(&original[&key], &patch_value) {
                    continue;
                }
                match clean(patch_value)? {
                    Some(v) => {
                        original.insert(key, v);
                    }
                    None => {
                        original.shift_remove(&key);
                    }
                }
            }
        }
    }
    Ok(original)
}

/// `$retainKeys: [..]`: checks the patch touches only listed keys and clears the others.
fn apply_retain_keys(original: &mut Map<String, Value>, patch: &mut Map<String, Value>) -> Result<()> {
    let Some(list) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(list) = list else {
        return Err(PatchError::BadRetainKeys);
    };
    let retained: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_FROM_PRIMITIVE_LIST) || k.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if !retained.contains(&k.as_str()) {
            return Err(PatchError::BadRetainKeys);
        }
    }
    original.retain(|k, _| retained.contains(&k.as_str()));
    Ok(())
}

/// `$setElementOrder/<list>`: merges the list (if patched) and orders the result: items named
/// in the directive in its order, the server's other items placed among them as they were.
fn apply_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    schema: Option<&Schema>,
) -> Result<()> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive_key in keys {
        let Some(order) = patch.shift_remove(&directive_key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(bad_arg_type("[]interface {}", &order));
        };
        let key = directive_target(&directive_key, SET_ELEMENT_ORDER, PatchError::BadSetElementOrder)?;
        let original_list = match original.get(&key) {
            None => None,
            Some(Value::Array(l)) => Some(l.clone()),
            Some(other) => return Err(bad_arg_type("[]interface {}", other)),
        };
        let patch_list = match patch.get(&key) {
            None => None,
            Some(Value::Array(l)) => Some(l.clone()),
            Some(other) => return Err(bad_arg_type("[]interface {}", other)),
        };
        let field = schema.and_then(|s| s.field(&key));
        let merge_key = field.and_then(|f| f.merge_key);
        validate_against_order(patch_list.as_deref().unwrap_or(&[]), &order, merge_key)?;
        let kind = element_kind(
            original_list.as_deref().unwrap_or(&[]),
            patch_list.as_deref().unwrap_or(&[]),
        )?;

        let Merged { list: merged, view } = match (original_list, patch_list) {
            (Some(o), None) => Merged {
                list: o.clone(),
                view: o,
            },
            (None, Some(p)) => Merged {
                list: clean_list(p)?,
                view: Vec::new(),
            },
            (Some(o), Some(p)) => merge_list_field(o, p, field, false)?,
            (None, None) => continue,
        };
        patch.shift_remove(&key);
        let ordered = match kind {
            None => merged,
            Some(kind) => {
                let (named, server_only) = partition(merged, &order, merge_key)?;
                normalize_element_order(named, server_only, &order, &view, merge_key, kind)?
            }
        };
        original.insert(key, Value::Array(ordered));
    }
    Ok(())
}

/// Checks that the items of a patch list appear in the `$setElementOrder` list, in its order.
fn validate_against_order(patch_list: &[Value], order: &[Value], merge_key: Option<&str>) -> Result<()> {
    if patch_list.is_empty() || order.is_empty() {
        return Ok(());
    }
    let kept: Vec<&Value> = match merge_key {
        Some(_) => {
            let mut kept = Vec::new();
            for item in patch_list {
                let Value::Object(m) = item else {
                    return Err(bad_arg_type("map[string]interface {}", item));
                };
                if m.get(DIRECTIVE).and_then(Value::as_str) != Some("delete") {
                    kept.push(item);
                }
            }
            kept
        }
        None => patch_list.iter().collect(),
    };
    let (mut p, mut o) = (0, 0);
    while p < kept.len() && o < order.len() {
        if has_directive(kept[p]) {
            p += 1;
            continue;
        }
        if merge_key_equal(kept[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() && o >= order.len() {
        return Err(PatchError::OrderMismatch {
            patch: go_fmt(&Value::Array(patch_list.to_vec())),
            order: go_fmt(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

fn merge_key_equal(left: &Value, right: &Value, merge_key: Option<&str>) -> Result<bool> {
    let Some(key) = merge_key else {
        return Ok(go_equal(left, right));
    };
    let l = left
        .as_object()
        .ok_or_else(|| bad_arg_type("map[string]interface {}", left))?;
    let r = right
        .as_object()
        .ok_or_else(|| bad_arg_type("map[string]interface {}", right))?;
    let lv = l.get(key).ok_or_else(|| no_merge_key(l, key))?;
    let rv = r.get(key).ok_or_else(|| no_merge_key(r, key))?;
    Ok(go_equal(lv, rv))
}

/// A merged list, and the original list as upstream's later ordering step sees it.
///
/// Upstream deletes list items by shifting the original slice's backing array in place and
/// appends new items into the room that frees, so a `$setElementOrder` applied after the merge
/// orders the server-only items against that array rather than the original list. `view` is
/// that array: the original's length, deleted items shifted out, the first appended items in
/// the freed slots. Orders that kubectl produces come out the same as from a real apiserver
/// only with it.
struct Merged {
    list: Vec<Value>,
    view: Vec<Value>,
}

/// A list field: merged when its strategy says so (or for a `$deleteFromPrimitiveList`),
/// otherwise replaced by the patch's list.
fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: Option<&Field>,
    is_delete_list: bool,
) -> Result<Merged> {
    let merge = field.is_some_and(|f| f.strategy == Strategy::Merge);
    if merge || is_delete_list {
        let schema = field.and_then(|f| f.child);
        let name = schema.map_or(field.map_or("unknown", |f| f.name), |s| s.name);
        merge_list(
            original,
            patch,
            field.and_then(|f| f.merge_key),
            schema,
            name,
            is_delete_list,
        )
    } else {
        Ok(Merged {
            list: clean_list(patch)?,
            view: original,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Scalar,
}

/// Merges two lists (upstream's mergeSlice).
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: Option<&str>,
    schema: Option<&Schema>,
    name: &str,
    is_delete_list: bool,
) -> Result<Merged> {
    let Some(kind) = element_kind(&original, &patch)? else {
        return Ok(Merged {
            list: original,
            view: Vec::new(),
        });
    };
    let (original, patch, merged, view) = match kind {
        Kind::Scalar => {
            if is_delete_list {
                let list = delete_from_list(original.clone(), &patch);
                return Ok(Merged { list, view: original });
            }
            let mut merged = original.clone();
            merged.extend(patch.iter().cloned());
            let merged = dedupe(merged);
            (original.clone(), patch, merged, original)
        }
        Kind::Map => {
            let Some(key) = merge_key else {
                return Err(PatchError::MergeListWithoutKey(name.to_string()));
            };
            let directives = apply_list_directives(original, patch, key)?;
            if let Some(replacement) = directives.replacement {
                (replacement.clone(), Vec::new(), replacement, directives.view)
            } else {
                let remaining = directives.view[..directives.len].to_vec();
                let merged = merge_items(remaining.clone(), &directives.patch, key, schema)?;
                let mut view = directives.view;
                for (slot, item) in view.iter_mut().zip(&merged) {
                    *slot = item.clone();
                }
                (remaining, directives.patch, merged, view)
            }
        }
    };
    let (patched, server_only) = partition(merged, &patch, merge_key)?;
    let list = normalize_element_order(patched, server_only, &patch, &original, merge_key, kind)?;
    Ok(Merged { list, view })
}

/// What the `$patch` items of a merging list leave to do.
struct ListDirectives {
    /// The original's backing array after the deletions, and how much of it is still the list.
    view: Vec<Value>,
    len: usize,
    /// The items left to merge.
    patch: Vec<Value>,
    /// With `$patch: replace`, the whole new list.
    replacement: Option<Vec<Value>>,
}

/// Handles list items carrying `$patch`: deletes by key, and `replace`, which makes the other
/// items the whole list.
fn apply_list_directives(original: Vec<Value>, patch: Vec<Value>, key: &str) -> Result<ListDirectives> {
    let mut len = original.len();
    let mut view = original;
    let mut plain = Vec::new();
    let mut replace = false;
    for item in patch {
        let Value::Object(m) = &item else {
            plain.push(item);
            continue;
        };
        let Some(directive) = m.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
                // Every match goes, each shifting the rest of the array left by one.
                // The last slot keeps its old item, as Go's append(s[:i], s[i+1:]...) leaves it.
                while let Some(i) = view[..len]
                    .iter()
                    .position(|o| o.get(key).is_some_and(|v| go_equal(v, value)))
                {
                    for j in i..len - 1 {
                        view[j] = view[j + 1].clone();
                    }
                    len -= 1;
                }
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(PatchError::MergeDirectiveInList),
            _ => return Err(unknown_patch_type(directive, m)),
        }
    }
    let (patch, replacement) = if replace {
        (Vec::new(), Some(clean_list(plain)?))
    } else {
        (plain, None)
    };
    Ok(ListDirectives {
        view,
        len,
        patch,
        replacement,
    })
}

/// Merges each patch item into the original item with the same key, or appends it.
fn merge_items(mut original: Vec<Value>, patch: &[Value], key: &str, schema: Option<&Schema>) -> Result<Vec<Value>> {
    for item in patch {
        let Value::Object(p) = item else {
            return Err(bad_arg_type("map[string]interface {}", item));
        };
        let value = p.get(key).ok_or_else(|| no_merge_key(p, key))?;
        let mut found = None;
        for (i, o) in original.iter().enumerate() {
            let Value::Object(o) = o else {
                return Err(PatchError::BadArgType {
                    expected: "map[string]interface {}",
                    actual: json_type_go(o),
                });
            };
            if o.get(key).is_some_and(|v| go_equal(v, value)) {
                found = Some(i);
                break;
            }
        }
        match found {
            Some(i) => {
                let o = match std::mem::take(&mut original[i]) {
                    Value::Object(o) => o,
                    _ => Map::new(),
                };
                original[i] = Value::Object(merge_map(o, p.clone(), schema)?);
            }
            None => original.push(Value::Object(clean_map(p.clone())?)),
        }
    }
    Ok(original)
}

fn delete_from_list(current: Vec<Value>, to_delete: &[Value]) -> Vec<Value> {
    let doomed: std::collections::HashSet<String> = to_delete.iter().map(identity).collect();
    current.into_iter().filter(|v| !doomed.contains(&identity(v))).collect()
}

/// Drops repeated primitives, keeping first occurrences.
fn dedupe(list: Vec<Value>) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    list.into_iter().filter(|v| seen.insert(identity(v))).collect()
}

/// Splits a merged list into the items that the `by` list names (by merge key, or by value for
/// primitives) and the others, each keeping its order.
fn partition(merged: Vec<Value>, by: &[Value], merge_key: Option<&str>) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut named = Vec::with_capacity(merged.len());
    let mut others = Vec::with_capacity(merged.len());
    match merge_key {
        None => {
            let set: std::collections::HashSet<String> = by.iter().map(identity).collect();
            for v in merged {
                if set.contains(&identity(&v)) {
                    named.push(v);
                } else {
                    others.push(v);
                }
            }
        }
        Some(key) => {
            let mut set = std::collections::HashSet::new();
            for b in by {
                let Value::Object(b) = b else {
                    return Err(PatchError::BadArgType {
                        expected: "map[string]interface {}",
                        actual: json_type_go(b),
                    });
                };
                if let Some(v) = b.get(key) {
                    set.insert(identity(v));
                }
            }
            for v in merged {
                let Value::Object(m) = &v else {
                    return Err(bad_arg_type("map[string]interface {}", &v));
                };
                let k = m.get(key).ok_or_else(|| no_merge_key(m, key))?;
                if set.contains(&identity(k)) {
                    named.push(v);
                } else {
                    others.push(v);
                }
            }
        }
    }
    Ok((named, others))
}

/// Orders the patched items by `patch_order`, the server-only items by `server_order`, then
/// interleaves them: a server-only item goes before a patched item only when both were in the
/// original list and it came first there (upstream's normalizeElementOrder).
fn normalize_element_order(
    patched: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
    kind: Kind,
) -> Result<Vec<Value>> {
    let key = if kind == Kind::Map { merge_key } else { None };
    let patched = sort_by_order(patched, patch_order, key, kind)?;
    let server_only = sort_by_order(server_only, server_order, key, kind)?;

    let positions = Positions::new(server_order, key);
    let mut out = Vec::with_capacity(patched.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patched.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!((positions.of(l), positions.of(r)), (Some(li), Some(ri)) if li < ri),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

/// Stable sort of `items` by where their key appears in `order`; items with `$patch: delete`
/// go last.
fn sort_by_order(items: Vec<Value>, order: &[Value], key: Option<&str>, kind: Kind) -> Result<Vec<Value>> {
    let mut deleted = Vec::new();
    let mut items = if kind == Kind::Map {
        let key = key.unwrap_or("");
        for v in items.iter().chain(order) {
            let Value::Object(m) = v else {
                return Err(bad_arg_type("map[string]interface {}", v));
            };
            if !m.contains_key(key) {
                return Err(no_merge_key(m, key));
            }
        }
        let (d, keep): (Vec<_>, Vec<_>) = items
            .into_iter()
            .partition(|v| v.get(DIRECTIVE).and_then(Value::as_str) == Some("delete"));
        deleted = d;
        keep
    } else {
        items
    };
    let positions = Positions::new(order, key);
    // Items absent from the order list sort first, as upstream's comparison puts them.
    items.sort_by_key(|v| positions.of(v).map_or(-1, |p| p as i64));
    items.extend(deleted);
    Ok(items)
}

/// Where each item of a list first appears, by merge key or by value.
struct Positions<'a> {
    key: Option<&'a str>,
    index: HashMap<String, usize>,
}

impl<'a> Positions<'a> {
    fn new(list: &[Value], key: Option<&'a str>) -> Self {
        let mut index = HashMap::new();
        for (i, v) in list.iter().enumerate() {
            if let Some(id) = Self::id(v, key) {
                index.entry(id).or_insert(i);
            }
        }
        Positions { key, index }
    }

    fn id(v: &Value, key: Option<&str>) -> Option<String> {
        match key {
            Some(k) => v
                .as_object()
                .map(|m| m.get(k).map_or_else(|| "<nil>".to_string(), identity)),
            None => Some(identity(v)),
        }
    }

    fn of(&self, v: &Value) -> Option<usize> {
        Self::id(v, self.key).and_then(|id| self.index.get(&id).copied())
    }
}

/// The kind shared by every element of the lists; None when they are all empty.
fn element_kind(a: &[Value], b: &[Value]) -> Result<Option<Kind>> {
    let mut first: Option<&Value> = None;
    for v in a.iter().chain(b) {
        match first {
            None => {
                if v.is_array() {
                    return Err(PatchError::ListOfLists);
                }
                first = Some(v);
            }
            Some(f) if !same_json_type(f, v) => {
                let lists = Value::Array(vec![Value::Array(a.to_vec()), Value::Array(b.to_vec())]);
                return Err(PatchError::MixedElementTypes(go_fmt(&lists)));
            }
            Some(_) => {}
        }
    }
    Ok(first.map(|f| if f.is_object() { Kind::Map } else { Kind::Scalar }))
}

/// A patch value placed where the original has nothing to merge with: directives stripped,
/// nulls dropped from objects. None when the value itself is a `$patch: delete` object.
fn clean(value: Value) -> Result<Option<Value>> {
    match value {
        Value::Object(mut m) => match m.get(DIRECTIVE) {
            None => Ok(Some(Value::Object(clean_map(m)?))),
            Some(d) => match d.as_str() {
                Some("delete") => Ok(None),
                Some("replace") => {
                    m.shift_remove(DIRECTIVE);
                    Ok(Some(Value::Object(clean_map(m)?)))
                }
                _ => Err(unknown_patch_type(d, &m)),
            },
        },
        Value::Array(l) => Ok(Some(Value::Array(clean_list(l)?))),
        other => Ok(Some(other)),
    }
}

fn clean_map(m: Map<String, Value>) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (k, v) in m {
        if v.is_null() || is_directive_key(&k) {
            continue;
        }
        if let Some(v) = clean(v)? {
            out.insert(k, v);
        }
    }
    Ok(out)
}

/// A list from the patch taken whole: items that are directives (`$patch` markers and
/// deletions) are dropped, the others cleaned.
fn clean_list(l: Vec<Value>) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(l.len());
    for v in l {
        if let Value::Object(m) = &v {
            if let Some(d) = m.get(DIRECTIVE) {
                match d.as_str() {
                    Some("delete" | "replace") => continue,
                    Some("merge") => return Err(PatchError::MergeDirectiveInList),
                    _ => return Err(unknown_patch_type(d, m)),
                }
            }
        }
        out.extend(clean(v)?);
    }
    Ok(out)
}

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE || k == RETAIN_KEYS || k.starts_with(SET_ELEMENT_ORDER) || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

fn has_directive(v: &Value) -> bool {
    v.as_object().is_some_and(|m| m.contains_key(DIRECTIVE))
}

/// The list a `$prefix/<list>` directive key names.
fn directive_target(key: &str, prefix: &str, err: PatchError) -> Result<String> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ => Err(err),
    }
}

/// Same JSON type, as Go's decoded types compare (every number is a float64).
fn same_json_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Go's `==` on decoded JSON scalars: numbers compare as float64.
fn go_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A string equal for values `go_equal` finds equal (for hashing).
fn identity(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("n:{}", n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => format!("s:{s}"),
        other => format!("j:{other}"),
    }
}

fn no_merge_key(m: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::NoMergeKey {
        map: go_fmt_map(m),
        key: key.to_string(),
    }
}

fn unknown_patch_type(directive: &Value, m: &Map<String, Value>) -> PatchError {
    let value = match directive {
        Value::String(s) => s.clone(),
        Value::Null => "%!s(<nil>)".to_string(),
        other => format!("%!s({}={})", json_type_go(other), go_fmt(other)),
    };
    PatchError::UnknownPatchType {
        value,
        map: go_fmt_map(m),
    }
}

fn bad_arg_type(expected: &'static str, actual: &Value) -> PatchError {
    PatchError::BadArgType {
        expected,
        actual: json_type_go(actual),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The Go type a JSON value decodes to, as `reflect.TypeOf` prints it.
fn json_type_go(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// A decoded JSON value as Go's `%v` prints it: `map[k:v ...]` with sorted keys, `[a b]`,
/// numbers as float64 (`80`, `1e+06`), `<nil>`.
pub(crate) fn go_fmt(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.clone(),
        Value::Array(l) => format!("[{}]", l.iter().map(go_fmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => go_fmt_map(m),
    }
}

fn go_fmt_map(m: &Map<String, Value>) -> String {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let parts: Vec<String> = keys.iter().map(|k| format!("{k}:{}", go_fmt(&m[k.as_str()]))).collect();
    format!("map[{}]", parts.join(" "))
}

/// A float64 as Go's `%v` prints it: the shortest digits that round-trip, in exponent form
/// below 1e-4 and from 1e6 on (`1e+06`), as strconv's %g does at the shortest precision.
fn go_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".to_string()
        } else {
            "0".to_string()
        };
    }
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".into()
        } else if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sci = format!("{f:e}"); // "1.5e6", "-8e1", "1e-5"
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}
