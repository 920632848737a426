//! JSON → protobuf, driven by the schema: reads the JSON as Go's encoding/json fills a Go
//! struct, then writes the bytes gogo-protobuf writes for it (fields in number order, value
//! fields always, pointers and byte slices when set, map keys sorted).

use super::schema::{self, Field, Label, Message, Special, Ty, INLINE, POINTER};
use super::special::{parse_duration, parse_time, GO_ZERO_SECONDS};
use super::wire::{put_bytes, put_tag, put_varint};
use super::Error;
use base64::Engine;
use serde_json::{Map, Value};

const MAX_DEPTH: usize = 64;

/// Encodes a JSON object (absent: the zero struct) as a message of type `m`.
pub(super) fn object(
    m: &'static Message,
    obj: Option<&Map<String, Value>>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::encode(m.short_name(), "nesting too deep"));
    }
    let mut fields: Vec<&Field> = m.fields.iter().collect();
    fields.sort_by_key(|f| f.num);
    for f in fields {
        if f.is(INLINE) {
            let Ty::Msg(i) = f.ty else { continue };
            let mut buf = Vec::new();
            object(schema::message(i), obj, &mut buf, depth + 1).map_err(|e| e.within(m.short_name(), "(inline)"))?;
            put_bytes(out, f.num, &buf);
            continue;
        }
        let v = obj.and_then(|o| o.get(f.json)).filter(|v| !v.is_null());
        field(f, v, out, depth).map_err(|e| e.within(m.short_name(), f.json))?;
    }
    Ok(())
}

fn field(f: &Field, v: Option<&Value>, out: &mut Vec<u8>, depth: usize) -> Result<(), Error> {
    match f.label {
        Label::Repeated => {
            let Some(v) = v else { return Ok(()) };
            let items = v.as_array().ok_or_else(|| mismatch("an array", v))?;
            for item in items {
                let item = Some(item).filter(|v| !v.is_null());
                match f.ty {
                    Ty::Msg(i) => message_field(f.num, schema::message(i), item, out, depth)?,
                    ty => scalar(f.num, ty, item, out)?,
                }
            }
        }
        Label::Map => {
            let Some(v) = v else { return Ok(()) };
            let map = v.as_object().ok_or_else(|| mismatch("an object", v))?;
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for k in keys {
                let value = Some(&map[k]).filter(|v| !v.is_null());
                let mut entry = Vec::new();
                put_bytes(&mut entry, 1, k.as_bytes());
                match f.ty {
                    Ty::Msg(i) => message_field(2, schema::message(i), value, &mut entry, depth)?,
                    // A nil []byte value is not written; every other value is.
                    Ty::Bytes if value.is_none() => {}
                    ty => scalar(2, ty, value, &mut entry)?,
                }
                put_bytes(out, f.num, &entry);
            }
        }
        Label::One => match f.ty {
            Ty::Msg(i) => {
                let m = schema::message(i);
                // Pointers and named slices only when set; struct values always.
                if v.is_some() || (!f.is(POINTER) && m.special != Special::List) {
                    message_field(f.num, m, v, out, depth)?;
                }
            }
            Ty::Bytes => {
                if v.is_some() {
                    scalar(f.num, Ty::Bytes, v, out)?;
                }
            }
            ty => {
                if v.is_some() || !f.is(POINTER) {
                    scalar(f.num, ty, v, out)?;
                }
            }
        },
    }
    Ok(())
}

fn mismatch(want: &str, got: &Value) -> Error {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    Error::encode_here(format!("expected {want}, got {got}"))
}

/// Writes a scalar field; None writes the zero value.
fn scalar(num: u32, ty: Ty, v: Option<&Value>, out: &mut Vec<u8>) -> Result<(), Error> {
    match ty {
        Ty::Bool => {
            let b = match v {
                None => false,
                Some(v) => v.as_bool().ok_or_else(|| mismatch("a boolean", v))?,
            };
            put_tag(out, num, 0);
            put_varint(out, u64::from(b));
        }
        Ty::Int32 | Ty::Int64 => {
            let n = match v {
                None => 0,
                Some(v) => v.as_i64().ok_or_else(|| mismatch("an integer", v))?,
            };
            if ty == Ty::Int32 && i32::try_from(n).is_err() {
                return Err(Error::encode_here(format!("{n} overflows int32")));
            }
            put_tag(out, num, 0);
            put_varint(out, n as u64);
        }
        Ty::String => {
            let s = match v {
                None => "",
                Some(v) => v.as_str().ok_or_else(|| mismatch("a string", v))?,
            };
            put_bytes(out, num, s.as_bytes());
        }
        Ty::Bytes => {
            let b = match v {
                None => Vec::new(),
                Some(v) => {
                    let s = v.as_str().ok_or_else(|| mismatch("a base64 string", v))?;
                    base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map_err(|e| Error::encode_here(format!("illegal base64 data: {e}")))?
                }
            };
            put_bytes(out, num, &b);
        }
        Ty::Msg(_) => return Err(Error::encode_here("a message where a scalar was expected")),
    }
    Ok(())
}

/// Writes a length-delimited message field from its JSON (None: the zero value).
fn message_field(
    num: u32,
    m: &'static Message,
    v: Option<&Value>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), Error> {
    let mut buf = Vec::new();
    value(m, v, &mut buf, depth + 1)?;
    put_bytes(out, num, &buf);
    Ok(())
}

/// A message's bytes from its JSON: the special form, or the object of its fields.
pub(super) fn value(m: &'static Message, v: Option<&Value>, out: &mut Vec<u8>, depth: usize) -> Result<(), Error> {
    let at = |e: String| Error::encode(m.short_name(), e);
    match m.special {
        Special::None => {
            let obj = match v {
                None => None,
                Some(Value::Object(o)) => Some(o),
                Some(v) => return Err(mismatch("an object", v).within(m.short_name(), "")),
            };
            object(m, obj, out, depth)?;
        }
        Special::Quantity => {
            let s = match v {
                None => "0".to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(v) => return Err(mismatch("a quantity string", v).within(m.short_name(), "")),
            };
            put_bytes(out, 1, s.as_bytes());
        }
        Special::IntOrString => {
            let (ty, int, s) = match v {
                None => (0, 0, ""),
                Some(Value::String(s)) => (1, 0, s.as_str()),
                Some(Value::Number(n)) => {
                    let n = n
                        .as_i64()
                        .and_then(|n| i32::try_from(n).ok())
                        .ok_or_else(|| at(format!("{n} is not an int32")))?;
                    (0, n, "")
                }
                Some(v) => return Err(mismatch("an integer or a string", v).within(m.short_name(), "")),
            };
            put_tag(out, 1, 0);
            put_varint(out, ty);
            put_tag(out, 2, 0);
            put_varint(out, int as i64 as u64);
            put_bytes(out, 3, s.as_bytes());
        }
        Special::Time | Special::MicroTime => {
            let Some(v) = v else { return Ok(()) }; // the zero time is an empty message
            let s = v.as_str().ok_or_else(|| mismatch("an RFC 3339 time", v).within(m.short_name(), ""))?;
            let (seconds, nanos) = parse_time(s).map_err(at)?;
            if seconds == GO_ZERO_SECONDS && nanos == 0 {
                return Ok(());
            }
            // metav1.Time keeps whole seconds on the wire; MicroTime keeps the nanoseconds.
            let nanos = if m.special == Special::MicroTime { nanos } else { 0 };
            put_tag(out, 1, 0);
            put_varint(out, seconds as u64);
            put_tag(out, 2, 0);
            put_varint(out, i64::from(nanos) as u64);
        }
        Special::Duration => {
            let d = match v {
                None => 0,
                Some(Value::String(s)) => parse_duration(s).map_err(at)?,
                Some(v) => return Err(mismatch("a duration string", v).within(m.short_name(), "")),
            };
            put_tag(out, 1, 0);
            put_varint(out, d as u64);
        }
        Special::RawExtension | Special::FieldsV1 => {
            if let Some(v) = v {
                let raw = serde_json::to_vec(v).map_err(|e| at(e.to_string()))?;
                put_bytes(out, 1, &raw);
            }
        }
        Special::List => {
            let item = m.fields.first().ok_or_else(|| at("list without items".into()))?;
            field(item, v, out, depth).map_err(|e| e.within(m.short_name(), "items"))?;
        }
    }
    Ok(())
}
