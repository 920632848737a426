//! Strategic merge patch for the built-in kinds: the merge algorithm (`strategic`) and the
//! table of patch merge keys and strategies it follows (`merge_keys`, generated from the Go
//! API types' struct tags by `gen_merge_keys.py`). The registry's patch handler calls
//! `strategic_merge` with the schema `schema_for` finds for the object's kind.

#[rustfmt::skip]
pub mod list_types;
pub mod merge_keys;
pub mod schema;
pub mod strategic;

pub use schema::{Field, Schema, Strategy};
pub use strategic::{strategic_merge, PatchError};

/// The patch schema of a built-in kind, by API group ("" for core), version and kind;
/// None for kinds without one (apply those with `Schema::UNKNOWN`, every list atomic).
pub fn schema_for(group: &str, version: &str, kind: &str) -> Option<&'static Schema> {
    merge_keys::kind(group, version, kind)
}

#[cfg(test)]
mod tests;
