//! Renders objects as `meta.k8s.io/v1` Tables (what `kubectl get` prints) and as
//! PartialObjectMetadata, from each kind's columns and row function.

use crate::registry::ResourceDef;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> IncludeObject {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

pub fn column_definitions(def: &ResourceDef) -> Value {
    Value::Array(
        def.columns
            .iter()
            .map(|c| {
                json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})
            })
            .collect(),
    )
}

pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn row(def: &ResourceDef, obj: &Value, include: IncludeObject, now: jiff::Timestamp) -> Value {
    let mut r = Map::new();
    r.insert("cells".into(), Value::Array((def.row)(obj, now)));
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            r.insert("object".into(), partial_metadata(obj));
        }
        IncludeObject::Object => {
            r.insert("object".into(), obj.clone());
        }
    }
    Value::Object(r)
}

/// A Table of `items`; `list_meta` becomes its metadata (resourceVersion, continue, ...).
pub fn table(def: &ResourceDef, items: &[Value], list_meta: Value, include: IncludeObject, headers: bool) -> Value {
    let now = jiff::Timestamp::now();
    let mut t = Map::new();
    t.insert("kind".into(), json!("Table"));
    t.insert("apiVersion".into(), json!("meta.k8s.io/v1"));
    t.insert("metadata".into(), list_meta);
    if headers {
        t.insert("columnDefinitions".into(), column_definitions(def));
    } else {
        t.insert("columnDefinitions".into(), Value::Null);
    }
    t.insert("rows".into(), Value::Array(items.iter().map(|o| row(def, o, include, now)).collect()));
    Value::Object(t)
}
