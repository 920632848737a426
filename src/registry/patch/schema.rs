//! The shape a strategic merge patch needs to know: for each field of a type, how its list is
//! merged (by a key, as a set of primitives, or replaced) and whether it is a `retainKeys`
//! union. Types form a graph of statics, so a nested type used by many kinds is written once.

/// How a field's value is patched, as the `patchStrategy` struct tag says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// No tag: objects merge field by field, lists are replaced whole (atomic).
    Default,
    /// `merge`: a list merged by `merge_key`, or as a set of primitives when there is no key.
    Merge,
    /// `replace`: the value is replaced whole, even an object.
    Replace,
}

/// One field of a type that has patch metadata (or leads to a type that has some).
#[derive(Debug)]
pub struct Field {
    /// The JSON name.
    pub name: &'static str,
    pub strategy: Strategy,
    /// `patchMergeKey`: the item field that identifies a list item (only with `Merge`).
    pub merge_key: Option<&'static str>,
    /// `retainKeys`: a union whose unlisted members a `$retainKeys` directive clears (on a
    /// list, the directive applies inside each item).
    pub retain_keys: bool,
    /// The type of the value (of each item, for a list), when it has patch metadata itself.
    pub child: Option<&'static Schema>,
}

impl Field {
    /// The `x-kubernetes-patch-strategy` value: "merge", "retainKeys", "merge,retainKeys" or
    /// "replace"; None for a field without a strategy.
    pub fn patch_strategy(&self) -> Option<&'static str> {
        match (self.strategy, self.retain_keys) {
            (Strategy::Default, false) => None,
            (Strategy::Default, true) => Some("retainKeys"),
            (Strategy::Merge, false) => Some("merge"),
            (Strategy::Merge, true) => Some("merge,retainKeys"),
            (Strategy::Replace, false) => Some("replace"),
            (Strategy::Replace, true) => Some("replace,retainKeys"),
        }
    }
}

/// One API type: its fields that carry patch metadata. Fields not listed patch by default.
#[derive(Debug)]
pub struct Schema {
    /// The OpenAPI definition name, e.g. "io.k8s.api.core.v1.PodSpec".
    pub name: &'static str,
    pub fields: &'static [Field],
}

impl Schema {
    /// A type with no patch metadata at all: objects merge, every list is atomic. What kinds
    /// without a table entry (custom resources) get.
    pub const UNKNOWN: Schema = Schema {
        name: "unknown",
        fields: &[],
    };

    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The field at a dotted path below this type, list items traversed implicitly:
    /// `spec.template.spec.containers.env` on a Deployment.
    pub fn field_at(&self, path: &str) -> Option<&'static Field> {
        let mut parts = path.split('.');
        let mut field = self.field(parts.next()?)?;
        for part in parts {
            field = field.child?.field(part)?;
        }
        Some(field)
    }
}
