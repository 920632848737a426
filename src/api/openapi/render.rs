//! Writes the operation model and the definitions as documents: one Swagger 2.0 document
//! (`#/definitions/…` refs) and OpenAPI 3.0 documents (`#/components/schemas/…` refs, a
//! `$ref` with siblings wrapped in `allOf` as kube-openapi does), keys sorted as upstream
//! writes them. Definitions are converted once and borrowed by every document that reaches
//! them, so building all documents stays cheap.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::operations::{Op, Param, PathItem, Payload, Type};
use super::schemas::{self, Definitions, V2_PREFIX};
use crate::api::KUBERNETES_VERSION;

pub const V3_PREFIX: &str = "#/components/schemas/";

fn type_name(t: Type) -> &'static str {
    match t {
        Type::String => "string",
        Type::Integer => "integer",
        Type::Boolean => "boolean",
    }
}

fn bearer() -> Value {
    json!({"BearerToken": {"description": "Bearer Token authentication", "in": "header", "name": "authorization", "type": "apiKey"}})
}

/// The definitions an operation names directly.
fn op_refs(op: &Op) -> Vec<String> {
    let mut out = Vec::new();
    if let Payload::Ref(r) = &op.payload {
        out.push(r.clone());
    }
    if let Some((Payload::Ref(r), _)) = &op.body {
        out.push(r.clone());
    }
    out
}

fn paths_refs(paths: &[PathItem]) -> Vec<String> {
    paths.iter().flat_map(|p| p.ops.iter().flat_map(op_refs)).collect()
}

fn extensions(op: &Op, m: &mut Map<String, Value>) {
    if let Some(a) = op.action {
        m.insert("x-kubernetes-action".into(), json!(a));
    }
    if let Some(g) = op.gvk {
        m.insert("x-kubernetes-group-version-kind".into(), g.to_json());
    }
}

// ---- Swagger 2.0 ----

fn v2_param(p: &Param) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), json!(p.description));
    m.insert("in".into(), json!(p.location));
    m.insert("name".into(), json!(p.name));
    if p.required {
        m.insert("required".into(), json!(true));
    }
    m.insert("type".into(), json!(type_name(p.ty)));
    m.insert("uniqueItems".into(), json!(true));
    Value::Object(m)
}

fn v2_payload(p: &Payload) -> Value {
    match p {
        Payload::Ref(r) => json!({"$ref": format!("{V2_PREFIX}{r}")}),
        Payload::Text => json!({"type": "string"}),
    }
}

fn v2_op(op: &Op) -> Value {
    let mut params: Vec<Value> = Vec::new();
    if let Some((payload, required)) = &op.body {
        let mut b = Map::new();
        b.insert("in".into(), json!("body"));
        b.insert("name".into(), json!("body"));
        if *required {
            b.insert("required".into(), json!(true));
        }
        b.insert("schema".into(), v2_payload(payload));
        params.push(Value::Object(b));
    }
    params.extend(op.params.iter().map(v2_param));
    let mut responses = Map::new();
    for (code, description) in &op.responses {
        responses.insert(code.to_string(), json!({"description": description, "schema": v2_payload(&op.payload)}));
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    let mut m = Map::new();
    m.insert("consumes".into(), json!(op.consumes));
    m.insert("description".into(), json!(op.description));
    m.insert("operationId".into(), json!(op.id));
    if !params.is_empty() {
        m.insert("parameters".into(), Value::Array(params));
    }
    m.insert("produces".into(), json!(op.produces));
    m.insert("responses".into(), Value::Object(responses));
    m.insert("schemes".into(), json!(["https"]));
    m.insert("tags".into(), json!([op.tag]));
    extensions(op, &mut m);
    Value::Object(m)
}

/// A path item: its operations by method and its shared parameters, keys sorted.
fn path_item(item: &PathItem, op: impl Fn(&Op) -> Value, param: impl Fn(&Param) -> Value) -> Value {
    let mut m: BTreeMap<&str, Value> = item.ops.iter().map(|o| (o.method, op(o))).collect();
    if !item.params.is_empty() {
        m.insert("parameters", Value::Array(item.params.iter().map(param).collect()));
    }
    Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// The paths object, sorted by path.
fn paths_object(paths: &[PathItem], item: impl Fn(&PathItem) -> Value) -> Map<String, Value> {
    let sorted: BTreeMap<&str, &PathItem> = paths.iter().map(|p| (p.path.as_str(), p)).collect();
    sorted.into_iter().map(|(k, p)| (k.to_string(), item(p))).collect()
}

/// The definitions `paths` reach, borrowed from `table`, by name.
fn reached<'a>(defs: &Definitions, table: &'a Map<String, Value>, paths: &[PathItem]) -> BTreeMap<&'a str, &'a Value> {
    let names = schemas::closure(&defs.defs, paths_refs(paths));
    names.iter().filter_map(|n| table.get_key_value(n.as_str())).map(|(k, v)| (k.as_str(), v)).collect()
}

#[derive(Serialize)]
struct V2Document<'a> {
    definitions: &'a BTreeMap<&'a str, &'a Value>,
    info: Value,
    paths: Map<String, Value>,
    security: Value,
    #[serde(rename = "securityDefinitions")]
    security_definitions: Value,
    swagger: &'static str,
}

/// The Swagger 2.0 document (every path, every definition they reach) as JSON and as
/// gnostic protobuf.
pub fn v2_document(defs: &Definitions, paths: &[PathItem]) -> (Vec<u8>, Vec<u8>) {
    let definitions = reached(defs, &defs.defs, paths);
    let doc = V2Document {
        definitions: &definitions,
        info: json!({"title": "Kubernetes", "version": KUBERNETES_VERSION}),
        paths: paths_object(paths, |p| path_item(p, v2_op, v2_param)),
        security: json!([{"BearerToken": []}]),
        security_definitions: bearer(),
        swagger: "2.0",
    };
    let json = serde_json::to_vec(&doc).unwrap_or_default();
    let head = json!({
        "info": doc.info,
        "paths": doc.paths,
        "security": doc.security,
        "securityDefinitions": doc.security_definitions,
        "swagger": doc.swagger,
    });
    let protobuf = super::proto::encode_v2(&head, definitions.iter().map(|(k, v)| (*k, *v)));
    (json, protobuf)
}

// ---- OpenAPI 3.0 ----

/// A Swagger 2.0 schema in OpenAPI 3.0 form: refs under components, and a `$ref` with
/// siblings (a description, say) wrapped in `allOf`, since 3.0 ignores a ref's siblings.
pub fn schema_to_v3(v: &Value) -> Value {
    let Value::Object(m) = v else { return v.clone() };
    let mut out = Map::new();
    let mut reference = None;
    for (k, x) in m {
        let converted = match (k.as_str(), x) {
            ("$ref", _) => {
                let r = x.as_str().unwrap_or_default();
                reference =
                    Some(r.strip_prefix(V2_PREFIX).map(|n| format!("{V3_PREFIX}{n}")).unwrap_or_else(|| r.to_string()));
                continue;
            }
            ("properties" | "patternProperties" | "definitions", Value::Object(props)) => {
                Value::Object(props.iter().map(|(n, s)| (n.clone(), schema_to_v3(s))).collect())
            }
            ("items" | "additionalProperties" | "not", Value::Object(_)) => schema_to_v3(x),
            ("allOf" | "anyOf" | "oneOf" | "items", Value::Array(a)) => {
                Value::Array(a.iter().map(schema_to_v3).collect())
            }
            _ => x.clone(),
        };
        out.insert(k.clone(), converted);
    }
    match reference {
        Some(r) if out.is_empty() => json!({"$ref": r}),
        Some(r) => {
            out.insert("allOf".into(), json!([{"$ref": r}]));
            Value::Object(out)
        }
        None => Value::Object(out),
    }
}

/// kube-openapi writes the scalar unions as `oneOf` in OpenAPI 3 (their
/// `OpenAPIV3OneOfTypes`), where Swagger 2.0 has a plain string: so `kubectl explain` names
/// them (`targetPort <IntOrString>`, `limits <map[string]Quantity>`).
fn scalar_union_v3(name: &str, schema: Value) -> Value {
    let one_of = match name {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString" => json!([{"type": "integer"}, {"type": "string"}]),
        "io.k8s.apimachinery.pkg.api.resource.Quantity" => json!([{"type": "string"}, {"type": "number"}]),
        _ => return schema,
    };
    let Value::Object(mut m) = schema else { return schema };
    m.remove("type");
    m.insert("oneOf".into(), one_of);
    Value::Object(m)
}

fn v3_param(p: &Param) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), json!(p.description));
    m.insert("in".into(), json!(p.location));
    m.insert("name".into(), json!(p.name));
    if p.required {
        m.insert("required".into(), json!(true));
    }
    m.insert("schema".into(), json!({"type": type_name(p.ty), "uniqueItems": true}));
    Value::Object(m)
}

fn v3_payload(p: &Payload) -> Value {
    match p {
        Payload::Ref(r) => json!({"$ref": format!("{V3_PREFIX}{r}")}),
        Payload::Text => json!({"type": "string"}),
    }
}

fn v3_content(types: &[&str], payload: &Payload) -> Value {
    let mut sorted = types.to_vec();
    sorted.sort_unstable();
    Value::Object(sorted.into_iter().map(|t| (t.to_string(), json!({"schema": v3_payload(payload)}))).collect())
}

fn v3_op(op: &Op) -> Value {
    let mut m = Map::new();
    m.insert("description".into(), json!(op.description));
    m.insert("operationId".into(), json!(op.id));
    if !op.params.is_empty() {
        m.insert("parameters".into(), Value::Array(op.params.iter().map(v3_param).collect()));
    }
    if let Some((payload, required)) = &op.body {
        let mut b = json!({"content": v3_content(op.consumes, payload)});
        if *required {
            b["required"] = json!(true);
        }
        m.insert("requestBody".into(), b);
    }
    let mut responses = Map::new();
    for (code, description) in &op.responses {
        responses.insert(
            code.to_string(),
            json!({"content": v3_content(op.produces, &op.payload), "description": description}),
        );
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    m.insert("responses".into(), Value::Object(responses));
    m.insert("tags".into(), json!([op.tag]));
    extensions(op, &mut m);
    Value::Object(m)
}

/// Every definition in OpenAPI 3.0 form, keys sorted: converted once for all documents.
pub fn v3_definitions(defs: &Definitions) -> Map<String, Value> {
    defs.defs.iter().map(|(n, s)| (n.clone(), schemas::sort_keys(scalar_union_v3(n, schema_to_v3(s))))).collect()
}

#[derive(Serialize)]
struct V3Document<'a> {
    components: V3Components<'a>,
    info: Value,
    openapi: &'static str,
    paths: Map<String, Value>,
    security: Value,
}

#[derive(Serialize)]
struct V3Components<'a> {
    schemas: BTreeMap<&'a str, &'a Value>,
    #[serde(rename = "securitySchemes")]
    security_schemes: Value,
}

/// One OpenAPI 3.0 document: the given paths and the schemas (from `v3_defs`) they reach.
pub fn v3_document(defs: &Definitions, v3_defs: &Map<String, Value>, paths: &[PathItem]) -> Vec<u8> {
    let doc = V3Document {
        components: V3Components { schemas: reached(defs, v3_defs, paths), security_schemes: bearer() },
        info: json!({"title": "Kubernetes", "version": "unversioned"}),
        openapi: "3.0.0",
        paths: paths_object(paths, |p| path_item(p, v3_op, v3_param)),
        security: json!([{"BearerToken": []}]),
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_with_siblings_become_all_of() {
        let v2 = json!({"properties": {
            "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec", "description": "d"},
            "items": {"type": "array", "items": {"$ref": "#/definitions/X"}},
            "required": {"$ref": "#/definitions/Y", "description": "a property named required"},
        }, "required": ["spec"]});
        assert_eq!(
            schema_to_v3(&v2),
            json!({"properties": {
                "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}], "description": "d"},
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/X"}},
                "required": {"allOf": [{"$ref": "#/components/schemas/Y"}], "description": "a property named required"},
            }, "required": ["spec"]})
        );
    }
}
