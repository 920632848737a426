//! Protobuf → JSON, driven by the schema: decodes a message as gogo-protobuf fills a Go
//! struct, then writes the JSON that Go's encoding/json writes for that struct.

use super::schema::{self, Field, Label, Message, Special, Ty, INLINE, OMITEMPTY, POINTER};
use super::special::{format_duration, format_time, GO_ZERO_SECONDS};
use super::wire::{self, Reader};
use super::Error;
use base64::Engine;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Nested messages deeper than this are refused (no built-in type comes close).
const MAX_DEPTH: usize = 64;

/// What one field collected while its message was read.
enum Slot<'a> {
    Absent,
    Scalar(Value),
    Bytes(&'a [u8]),
    /// A singular message: every occurrence, merged as protobuf merges them.
    Msg(Vec<&'a [u8]>),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// Decodes a message into its JSON object (for a non-special message).
pub(super) fn object(m: &'static Message, bytes: &[u8], depth: usize) -> Result<Map<String, Value>, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::malformed(m.short_name(), "nesting too deep"));
    }
    let mut slots: Vec<Slot> = m.fields.iter().map(|_| Slot::Absent).collect();
    let mut r = Reader::new(bytes);
    while let Some((num, v)) = r.field().map_err(|e| Error::malformed(m.short_name(), e))? {
        let Some((i, f)) = m.field(num) else { continue }; // unknown fields are skipped, as upstream
        read_field(f, v, &mut slots[i], depth).map_err(|e| e.within(m.short_name(), name(f)))?;
    }
    let mut out = Map::new();
    for (f, slot) in m.fields.iter().zip(slots) {
        if f.is(INLINE) {
            let Ty::Msg(sub) = f.ty else { continue };
            let bytes = match slot {
                Slot::Msg(pieces) => pieces.concat(),
                _ => Vec::new(),
            };
            let inner =
                object(schema::message(sub), &bytes, depth + 1).map_err(|e| e.within(m.short_name(), name(f)))?;
            out.extend(inner);
            continue;
        }
        if let Some(v) = json_of(f, slot, depth).map_err(|e| e.within(m.short_name(), name(f)))? {
            out.insert(f.json.to_string(), v);
        }
    }
    Ok(out)
}

fn name(f: &Field) -> &'static str {
    if f.json.is_empty() {
        "(inline)"
    } else {
        f.json
    }
}

fn wrong_type(v: &wire::Value) -> Error {
    Error::malformed_here(format!("wrong wireType = {}", v.wire_type()))
}

fn read_field<'a>(f: &Field, v: wire::Value<'a>, slot: &mut Slot<'a>, depth: usize) -> Result<(), Error> {
    match f.label {
        Label::One => match (f.ty, v) {
            (Ty::Msg(_), wire::Value::Bytes(b)) => match slot {
                Slot::Msg(pieces) => pieces.push(b),
                _ => *slot = Slot::Msg(vec![b]),
            },
            (Ty::Bytes, wire::Value::Bytes(b)) => *slot = Slot::Bytes(b),
            (ty, v) => *slot = Slot::Scalar(scalar(ty, v)?),
        },
        Label::Repeated => {
            if !matches!(slot, Slot::List(_)) {
                *slot = Slot::List(Vec::new());
            }
            let Slot::List(list) = slot else { return Ok(()) };
            match (f.ty, v) {
                (Ty::Msg(i), wire::Value::Bytes(b)) => list.push(value_of(schema::message(i), b, depth + 1)?),
                (Ty::String | Ty::Bytes, _) => list.push(scalar(f.ty, v)?),
                // Packed repeated numbers, which upstream's decoder also accepts.
                (Ty::Int32 | Ty::Int64 | Ty::Bool, wire::Value::Bytes(b)) => {
                    let mut r = Reader::new(b);
                    while !r.at_end() {
                        let n = r.varint().map_err(Error::malformed_here)?;
                        list.push(scalar(f.ty, wire::Value::Varint(n))?);
                    }
                }
                (_, v) => list.push(scalar(f.ty, v)?),
            }
        }
        Label::Map => {
            let wire::Value::Bytes(entry) = v else { return Err(wrong_type(&v)) };
            let (mut key, mut value) = (String::new(), None);
            let mut r = Reader::new(entry);
            while let Some((num, ev)) = r.field().map_err(Error::malformed_here)? {
                match num {
                    1 => key = string(ev)?,
                    2 => {
                        value = Some(match (f.ty, ev) {
                            (Ty::Msg(i), wire::Value::Bytes(b)) => value_of(schema::message(i), b, depth + 1)?,
                            (ty, ev) => scalar(ty, ev)?,
                        })
                    }
                    _ => {}
                }
            }
            let value = match value {
                Some(v) => v,
                None => match f.ty {
                    Ty::Msg(i) => value_of(schema::message(i), &[], depth + 1)?,
                    ty => zero(ty),
                },
            };
            match slot {
                Slot::Map(m) => {
                    m.insert(key, value);
                }
                _ => *slot = Slot::Map(BTreeMap::from([(key, value)])),
            }
        }
    }
    Ok(())
}

/// A scalar wire value as JSON (bytes as base64, as encoding/json writes []byte).
fn scalar(ty: Ty, v: wire::Value) -> Result<Value, Error> {
    Ok(match (ty, v) {
        (Ty::Bool, wire::Value::Varint(n)) => Value::Bool(n != 0),
        (Ty::Int32, wire::Value::Varint(n)) => Value::from(n as i32),
        (Ty::Int64, wire::Value::Varint(n)) => Value::from(n as i64),
        (Ty::String, v) => Value::String(string(v)?),
        (Ty::Bytes, wire::Value::Bytes(b)) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        (_, v) => return Err(wrong_type(&v)),
    })
}

/// A protobuf string. Go keeps invalid UTF-8 as is and encoding/json writes it as U+FFFD,
/// which is what the lossy conversion gives.
fn string(v: wire::Value) -> Result<String, Error> {
    match v {
        wire::Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
        v => Err(wrong_type(&v)),
    }
}

fn zero(ty: Ty) -> Value {
    match ty {
        Ty::Bool => Value::Bool(false),
        Ty::Int32 | Ty::Int64 => Value::from(0),
        Ty::String | Ty::Bytes => Value::String(String::new()),
        Ty::Msg(_) => Value::Null,
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Null => true,
    }
}

/// The JSON of one field after its message was read, None when Go leaves it out.
fn json_of(f: &Field, slot: Slot, depth: usize) -> Result<Option<Value>, Error> {
    let omitempty = f.is(OMITEMPTY);
    // Absent pointers, nil slices, maps and byte slices: left out with omitempty, else null.
    let nil = || if omitempty { None } else { Some(Value::Null) };
    Ok(match (f.label, f.ty, slot) {
        (Label::Repeated, _, Slot::List(l)) if !l.is_empty() => Some(Value::Array(l)),
        (Label::Map, _, Slot::Map(m)) if !m.is_empty() => Some(Value::Object(m.into_iter().collect())),
        (Label::Repeated | Label::Map, _, _) => nil(),
        (Label::One, Ty::Bytes, Slot::Bytes(b)) => {
            if omitempty && b.is_empty() {
                None
            } else {
                Some(scalar(Ty::Bytes, wire::Value::Bytes(b))?)
            }
        }
        (Label::One, Ty::Msg(i), slot) => {
            let m = schema::message(i);
            match slot {
                Slot::Msg(pieces) => {
                    let v = value_of(m, &pieces.concat(), depth + 1)?;
                    // A named slice is still a slice: omitempty drops it when empty.
                    if m.special == Special::List && omitempty && is_zero(&v) {
                        None
                    } else {
                        Some(v)
                    }
                }
                // Pointers and named slices are nil when absent.
                _ if f.is(POINTER) || m.special == Special::List => nil(),
                // A struct value is always written, even empty (omitempty never drops a struct).
                _ => Some(value_of(m, &[], depth + 1)?),
            }
        }
        (Label::One, Ty::Bytes, _) => nil(),
        (Label::One, ty, slot) => {
            let present = match slot {
                Slot::Scalar(v) => Some(v),
                _ => None,
            };
            match present {
                Some(v) if f.is(POINTER) => Some(v),
                None if f.is(POINTER) => nil(),
                v => {
                    let v = v.unwrap_or_else(|| zero(ty));
                    if omitempty && is_zero(&v) {
                        None
                    } else {
                        Some(v)
                    }
                }
            }
        }
    })
}

/// A message's JSON: its special form, or the object of its fields.
pub(super) fn value_of(m: &'static Message, bytes: &[u8], depth: usize) -> Result<Value, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::malformed(m.short_name(), "nesting too deep"));
    }
    let at = |e: String| Error::malformed(m.short_name(), e);
    let mut fields: BTreeMap<u32, wire::Value> = BTreeMap::new();
    let mut items = Vec::new();
    if m.special != Special::None {
        let mut r = Reader::new(bytes);
        while let Some((num, v)) = r.field().map_err(at)? {
            if m.special == Special::List && num == 1 {
                items.push(v);
            } else {
                fields.insert(num, v);
            }
        }
    }
    let varint = |num: u32| -> Result<u64, Error> {
        match fields.get(&num) {
            None => Ok(0),
            Some(wire::Value::Varint(n)) => Ok(*n),
            Some(v) => Err(wrong_type(v).within(m.short_name(), "")),
        }
    };
    let string = |num: u32| -> Result<String, Error> {
        match fields.get(&num) {
            None => Ok(String::new()),
            Some(v) => string(*v).map_err(|e| e.within(m.short_name(), "")),
        }
    };
    let raw = |num: u32| -> Result<Option<&[u8]>, Error> {
        match fields.get(&num) {
            None => Ok(None),
            Some(wire::Value::Bytes(b)) => Ok(Some(*b)),
            Some(v) => Err(wrong_type(v).within(m.short_name(), "")),
        }
    };
    Ok(match m.special {
        Special::None => Value::Object(object(m, bytes, depth)?),
        Special::Quantity => match fields.get(&1) {
            None => Value::String("0".into()),
            Some(_) => Value::String(string(1)?),
        },
        Special::IntOrString => match varint(1)? {
            0 => Value::from(varint(2)? as i32),
            1 => Value::String(string(3)?),
            t => return Err(at(format!("impossible IntOrString.Type {t}"))),
        },
        Special::Time | Special::MicroTime => {
            let micro = m.special == Special::MicroTime;
            let seconds = varint(1)? as i64;
            let nanos = if micro { i64::from(varint(2)? as i32) } else { 0 };
            if bytes.is_empty() || (seconds == GO_ZERO_SECONDS && nanos == 0) {
                Value::Null
            } else {
                Value::String(format_time(seconds, nanos, micro).map_err(at)?)
            }
        }
        Special::Duration => Value::String(format_duration(varint(1)? as i64)),
        Special::RawExtension | Special::FieldsV1 => match raw(1)? {
            None | Some([]) => Value::Null,
            Some(b) if m.special == Special::RawExtension && b.starts_with(&super::MAGIC) => {
                let (_, _, v) = super::decode_at(b, depth + 1)?;
                v
            }
            Some(b) => serde_json::from_slice(b).map_err(|e| at(format!("raw bytes are not JSON: {e}")))?,
        },
        Special::List => {
            let field = m.fields.first().ok_or_else(|| at("list without items".into()))?;
            let mut out = Vec::with_capacity(items.len());
            for v in items {
                out.push(match (field.ty, v) {
                    (Ty::Msg(i), wire::Value::Bytes(b)) => value_of(schema::message(i), b, depth + 1)?,
                    (ty, v) => scalar(ty, v).map_err(|e| e.within(m.short_name(), "items"))?,
                });
            }
            Value::Array(out)
        }
    })
}
