//! The Swagger 2.0 document in gnostic's protobuf encoding (`openapi.v2.Document`, media
//! type `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`), the only form
//! client-go's `OpenAPISchema()` reads: kubectl 1.27 and 1.28 validate `apply` and run
//! `explain` from it. Written straight from the JSON document, covering the parts of the
//! schema our documents use; vendor extensions travel as YAML (JSON is YAML) in `Any.yaml`.

use serde_json::{Map, Value};

/// A protobuf message being written (proto3: default values are left out).
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire_type));
    }
    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }
    /// A string from a JSON value, if it is one.
    fn str_of(&mut self, field: u32, v: Option<&Value>) {
        if let Some(s) = v.and_then(Value::as_str) {
            self.string(field, s);
        }
    }
    fn strings(&mut self, field: u32, v: Option<&Value>) {
        for s in v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            self.bytes(field, s.as_bytes());
        }
    }
    fn boolean(&mut self, field: u32, v: Option<&Value>) {
        if v.and_then(Value::as_bool) == Some(true) {
            self.key(field, 0);
            self.varint(1);
        }
    }
    fn int64(&mut self, field: u32, v: Option<&Value>) {
        if let Some(n) = v.and_then(Value::as_i64).filter(|n| *n != 0) {
            self.key(field, 0);
            self.varint(n as u64);
        }
    }
    fn double(&mut self, field: u32, v: Option<&Value>) {
        if let Some(n) = v.and_then(Value::as_f64).filter(|n| *n != 0.0) {
            self.key(field, 1);
            self.0.extend_from_slice(&n.to_le_bytes());
        }
    }
    /// An embedded message, written even when empty (presence matters for messages).
    fn msg(&mut self, field: u32, f: impl FnOnce(&mut Msg)) {
        let mut inner = Msg::default();
        f(&mut inner);
        self.bytes(field, &inner.0);
    }
}

fn obj(v: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    v.as_object().unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// `Any { yaml }`.
fn any(m: &mut Msg, field: u32, v: &Value) {
    let yaml = serde_json::to_string(v).unwrap_or_default();
    m.msg(field, |a| a.string(2, &yaml));
}

/// `repeated NamedAny vendor_extension` from the `x-` keys of an object.
fn extensions(m: &mut Msg, field: u32, o: &Map<String, Value>) {
    for (k, v) in o.iter().filter(|(k, _)| k.starts_with("x-")) {
        m.msg(field, |n| {
            n.string(1, k);
            any(n, 2, v);
        });
    }
}

fn schema(m: &mut Msg, v: &Value) {
    let o = obj(v);
    m.str_of(1, o.get("$ref"));
    m.str_of(2, o.get("format"));
    m.str_of(3, o.get("title"));
    m.str_of(4, o.get("description"));
    if let Some(d) = o.get("default") {
        any(m, 5, d);
    }
    m.double(6, o.get("multipleOf"));
    m.double(7, o.get("maximum"));
    m.boolean(8, o.get("exclusiveMaximum"));
    m.double(9, o.get("minimum"));
    m.boolean(10, o.get("exclusiveMinimum"));
    m.int64(11, o.get("maxLength"));
    m.int64(12, o.get("minLength"));
    m.str_of(13, o.get("pattern"));
    m.int64(14, o.get("maxItems"));
    m.int64(15, o.get("minItems"));
    m.boolean(16, o.get("uniqueItems"));
    m.int64(17, o.get("maxProperties"));
    m.int64(18, o.get("minProperties"));
    m.strings(19, o.get("required"));
    for e in o.get("enum").and_then(Value::as_array).into_iter().flatten() {
        any(m, 20, e);
    }
    match o.get("additionalProperties") {
        Some(Value::Bool(b)) => m.msg(21, |a| a.boolean(2, Some(&Value::Bool(*b)))),
        Some(s @ Value::Object(_)) => m.msg(21, |a| a.msg(1, |x| schema(x, s))),
        _ => {}
    }
    match o.get("type") {
        Some(Value::String(t)) => m.msg(22, |t_| t_.string(1, t)),
        Some(ts @ Value::Array(_)) => m.msg(22, |t_| t_.strings(1, Some(ts))),
        _ => {}
    }
    match o.get("items") {
        Some(s @ Value::Object(_)) => m.msg(23, |i| i.msg(1, |x| schema(x, s))),
        Some(Value::Array(a)) => m.msg(23, |i| a.iter().for_each(|s| i.msg(1, |x| schema(x, s)))),
        _ => {}
    }
    for s in o.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        m.msg(24, |x| schema(x, s));
    }
    if let Some(Value::Object(props)) = o.get("properties") {
        m.msg(25, |p| {
            for (name, s) in props {
                p.msg(1, |n| {
                    n.string(1, name);
                    n.msg(2, |x| schema(x, s));
                });
            }
        });
    }
    m.boolean(27, o.get("readOnly"));
    if let Some(e) = o.get("example") {
        any(m, 30, e);
    }
    extensions(m, 31, o);
}

/// `ParametersItem { parameter: Parameter { body_parameter | non_body_parameter } }`.
fn parameter(m: &mut Msg, v: &Value) {
    let o = obj(v);
    if let Some(r) = o.get("$ref").and_then(Value::as_str) {
        m.msg(2, |j| j.string(1, r));
        return;
    }
    m.msg(1, |p| {
        if o.get("in").and_then(Value::as_str) == Some("body") {
            p.msg(1, |b| {
                b.str_of(1, o.get("description"));
                b.str_of(2, o.get("name"));
                b.str_of(3, o.get("in"));
                b.boolean(4, o.get("required"));
                if let Some(s) = o.get("schema") {
                    b.msg(5, |x| schema(x, s));
                }
                extensions(b, 6, o);
            });
            return;
        }
        // Query and form-data sub-schemas number their fields one way (with
        // allow_empty_value), header and path sub-schemas another.
        let (which, with_allow_empty) = match o.get("in").and_then(Value::as_str) {
            Some("header") => (1, false),
            Some("formData") => (2, true),
            Some("path") => (4, false),
            _ => (3, true),
        };
        let shift = u32::from(with_allow_empty);
        p.msg(2, |nb| {
            nb.msg(which, |q| {
                q.boolean(1, o.get("required"));
                q.str_of(2, o.get("in"));
                q.str_of(3, o.get("description"));
                q.str_of(4, o.get("name"));
                q.boolean(5, o.get("allowEmptyValue").filter(|_| with_allow_empty));
                q.str_of(5 + shift, o.get("type"));
                q.str_of(6 + shift, o.get("format"));
                q.str_of(8 + shift, o.get("collectionFormat"));
                if let Some(d) = o.get("default") {
                    any(q, 9 + shift, d);
                }
                q.boolean(19 + shift, o.get("uniqueItems"));
                for e in o.get("enum").and_then(Value::as_array).into_iter().flatten() {
                    any(q, 20 + shift, e);
                }
                extensions(q, 22 + shift, o);
            });
        });
    });
}

fn operation(m: &mut Msg, v: &Value) {
    let o = obj(v);
    m.strings(1, o.get("tags"));
    m.str_of(2, o.get("summary"));
    m.str_of(3, o.get("description"));
    m.str_of(5, o.get("operationId"));
    m.strings(6, o.get("produces"));
    m.strings(7, o.get("consumes"));
    for p in o.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        m.msg(8, |x| parameter(x, p));
    }
    if let Some(Value::Object(responses)) = o.get("responses") {
        m.msg(9, |rs| {
            for (code, r) in responses {
                rs.msg(1, |named| {
                    named.string(1, code);
                    named.msg(2, |value| {
                        value.msg(1, |resp| {
                            let ro = obj(r);
                            resp.str_of(1, ro.get("description"));
                            if let Some(s) = ro.get("schema") {
                                resp.msg(2, |item| item.msg(1, |x| schema(x, s)));
                            }
                            extensions(resp, 5, ro);
                        });
                    });
                });
            }
            extensions(rs, 2, responses);
        });
    }
    m.strings(10, o.get("schemes"));
    m.boolean(11, o.get("deprecated"));
    extensions(m, 13, o);
}

fn path_item(m: &mut Msg, v: &Value) {
    let o = obj(v);
    m.str_of(1, o.get("$ref"));
    for (method, field) in
        [("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("options", 6), ("head", 7), ("patch", 8)]
    {
        if let Some(op) = o.get(method) {
            m.msg(field, |x| operation(x, op));
        }
    }
    for p in o.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        m.msg(9, |x| parameter(x, p));
    }
    extensions(m, 10, o);
}

/// Encodes a Swagger 2.0 JSON document as `openapi.v2.Document`; `definitions` are written
/// after those of `doc` (the caller may keep them out of `doc` to avoid copying them).
pub fn encode_v2<'a>(doc: &'a Value, definitions: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Vec<u8> {
    let o = obj(doc);
    let mut m = Msg::default();
    m.str_of(1, o.get("swagger"));
    if let Some(info) = o.get("info") {
        m.msg(2, |i| {
            let io = obj(info);
            i.str_of(1, io.get("title"));
            i.str_of(2, io.get("version"));
            i.str_of(3, io.get("description"));
            extensions(i, 7, io);
        });
    }
    m.str_of(3, o.get("host"));
    m.str_of(4, o.get("basePath"));
    m.strings(5, o.get("schemes"));
    m.strings(6, o.get("consumes"));
    m.strings(7, o.get("produces"));
    if let Some(Value::Object(paths)) = o.get("paths") {
        m.msg(8, |ps| {
            extensions(ps, 1, paths);
            for (path, item) in paths.iter().filter(|(k, _)| !k.starts_with("x-")) {
                ps.msg(2, |n| {
                    n.string(1, path);
                    n.msg(2, |x| path_item(x, item));
                });
            }
        });
    }
    let own = o.get("definitions").and_then(Value::as_object).into_iter().flatten().map(|(k, v)| (k.as_str(), v));
    let mut definitions = own.chain(definitions).peekable();
    if definitions.peek().is_some() {
        m.msg(9, |d| {
            for (name, s) in definitions {
                d.msg(1, |n| {
                    n.string(1, name);
                    n.msg(2, |x| schema(x, s));
                });
            }
        });
    }
    for req in o.get("security").and_then(Value::as_array).into_iter().flatten() {
        m.msg(12, |r| {
            for (name, scopes) in obj(req) {
                r.msg(1, |n| {
                    n.string(1, name);
                    n.msg(2, |a| a.strings(1, Some(scopes)));
                });
            }
        });
    }
    if let Some(Value::Object(defs)) = o.get("securityDefinitions") {
        m.msg(13, |sd| {
            for (name, d) in defs {
                let dobj = obj(d);
                // Only apiKey (bearer token) schemes are served.
                if dobj.get("type").and_then(Value::as_str) != Some("apiKey") {
                    continue;
                }
                sd.msg(1, |n| {
                    n.string(1, name);
                    n.msg(2, |item| {
                        item.msg(2, |k| {
                            k.str_of(1, dobj.get("type"));
                            k.str_of(2, dobj.get("name"));
                            k.str_of(3, dobj.get("in"));
                            k.str_of(4, dobj.get("description"));
                            extensions(k, 5, dobj);
                        });
                    });
                });
            }
        });
    }
    extensions(&mut m, 16, o);
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_proto3_wire_format() {
        // Document { swagger: "2.0", info: Info { title: "K", version: "v" } }
        let b = encode_v2(&json!({"swagger": "2.0", "info": {"title": "K", "version": "v"}}), []);
        assert_eq!(b, [0x0a, 3, b'2', b'.', b'0', 0x12, 6, 0x0a, 1, b'K', 0x12, 1, b'v']);
        // Schema { type: TypeItem { value: ["string"] }, vendor_extension: [x-a: "b"] }
        let mut m = Msg::default();
        schema(&mut m, &json!({"type": "string", "x-a": "b"}));
        let mut want = vec![0xb2, 0x01, 8, 0x0a, 6];
        want.extend_from_slice(b"string");
        want.extend_from_slice(&[0xfa, 0x01, 12, 0x0a, 3]);
        want.extend_from_slice(b"x-a");
        want.extend_from_slice(&[0x12, 5, 0x12, 3]);
        want.extend_from_slice(b"\"b\"");
        assert_eq!(m.0, want);
    }
}
