//! The shape of the schema tables (generated into `tables.rs`) and look-ups in them: one
//! `Message` per protobuf message, its fields in Go declaration order (the JSON order).

use super::tables::{KINDS, MESSAGES};

/// Go field is a pointer: on the wire only when set, in JSON only when set (or `null`).
pub(super) const POINTER: u8 = 1;
/// Go `json:",omitempty"`: a zero scalar, empty list or empty map is left out of the JSON.
pub(super) const OMITEMPTY: u8 = 2;
/// Go `json:",inline"` embedded struct: its own message on the wire, flattened in JSON.
pub(super) const INLINE: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Bool,
    Int32,
    Int64,
    String,
    Bytes,
    /// Index into `MESSAGES`.
    Msg(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Label {
    One,
    Repeated,
    /// `map<string, ty>`: entries with the key as field 1 and the value as field 2.
    Map,
}

/// Messages whose JSON is not an object of their fields (a custom MarshalJSON in Go).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Special {
    None,
    /// resource.Quantity: `string` field 1, a JSON string.
    Quantity,
    /// intstr.IntOrString: type 0 → intVal (a number), type 1 → strVal (a string).
    IntOrString,
    /// metav1.Time: seconds (nanos ignored, as upstream); RFC 3339 to the second, zero → null.
    Time,
    /// metav1.MicroTime: seconds and nanos; RFC 3339 with 6 fractional digits, zero → null.
    MicroTime,
    /// metav1.Duration: nanoseconds; Go's duration string ("1m30s").
    Duration,
    /// runtime.RawExtension: raw bytes holding JSON (or a nested `k8s\0` protobuf object).
    RawExtension,
    /// metav1.FieldsV1: raw bytes holding JSON.
    FieldsV1,
    /// A Go named slice (`type Verbs []string`): a message with `repeated items = 1`, a JSON array.
    List,
}

#[derive(Debug)]
pub(super) struct Field {
    /// JSON name; empty for an inline field.
    pub json: &'static str,
    pub num: u32,
    pub ty: Ty,
    pub label: Label,
    pub flags: u8,
}

impl Field {
    pub fn is(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

pub(super) const fn f(json: &'static str, num: u32, ty: Ty, label: Label, flags: u8) -> Field {
    Field { json, num, ty, label, flags }
}

#[derive(Debug)]
pub(super) struct Message {
    /// Full protobuf name, e.g. `k8s.io.api.apps.v1.Deployment`.
    pub name: &'static str,
    pub special: Special,
    pub fields: &'static [Field],
}

impl Message {
    /// The short name (`Deployment`), for error messages.
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }

    pub fn field(&self, num: u32) -> Option<(usize, &'static Field)> {
        self.fields.iter().enumerate().find(|(_, f)| f.num == num)
    }
}

pub(super) fn message(index: u16) -> &'static Message {
    &MESSAGES[index as usize]
}

/// The message of a registered (apiVersion, kind).
pub(super) fn kind(api_version: &str, kind: &str) -> Option<&'static Message> {
    KINDS.binary_search_by(|(a, k, _)| (*a, *k).cmp(&(api_version, kind))).ok().map(|i| message(KINDS[i].2))
}

/// The message by its full protobuf name.
#[cfg(test)]
pub(super) fn by_name(name: &str) -> Option<&'static Message> {
    MESSAGES.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_sorted_and_resolve() {
        assert!(KINDS.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        assert_eq!(kind("apps/v1", "Deployment").unwrap().name, "k8s.io.api.apps.v1.Deployment");
        assert_eq!(kind("v1", "Status").unwrap().name, "k8s.io.apimachinery.pkg.apis.meta.v1.Status");
        assert_eq!(kind("batch/v1", "DeleteOptions").unwrap().short_name(), "DeleteOptions");
        assert!(kind("apps/v1", "Pod").is_none());
    }

    #[test]
    fn every_message_reference_is_in_range() {
        for m in MESSAGES.iter() {
            for f in m.fields {
                if let Ty::Msg(i) = f.ty {
                    assert!((i as usize) < MESSAGES.len(), "{}.{}", m.name, f.json);
                }
            }
        }
    }
}
