//! Strategic merge patch for the built-in kinds: the table of patch merge keys and strategies
//! (`merge_keys`, generated from the Go API types' struct tags by `gen_merge_keys.py`) that the
//! registry's patch handler follows, found by `schema_for` for the object's kind.

#[rustfmt::skip]
pub mod merge_keys;
pub mod schema;

pub use schema::{Field, Schema, Strategy};

/// The patch schema of a built-in kind, by API group ("" for core), version and kind;
/// None for kinds without one (apply those with `Schema::UNKNOWN`, every list atomic).
pub fn schema_for(group: &str, version: &str, kind: &str) -> Option<&'static Schema> {
    merge_keys::kind(group, version, kind)
}
