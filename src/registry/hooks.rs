//! Kind-specific steps of the write path that need the store (allocating and releasing
//! cluster IPs and node ports, …). Each kind's logic lives in its own module; this only
//! dispatches by kind.

use super::generic::Registry;
use super::status::Result;
use super::ResourceDef;
use serde_json::Value;

/// Runs after defaulting and validation, just before a new object is stored.
pub async fn before_create(_registry: &Registry, _def: &'static ResourceDef, _obj: &mut Value) -> Result<()> {
    Ok(())
}

/// Runs just before an update is stored.
pub async fn before_update(_registry: &Registry, _def: &'static ResourceDef, _old: &Value, _new: &mut Value) -> Result<()> {
    Ok(())
}

/// Runs after an update was stored: releases what the old object held and the new one does not.
pub async fn after_update(_registry: &Registry, _def: &'static ResourceDef, _old: &Value, _new: &Value) {}

/// Runs after an object is gone (or a create failed): releases what it held.
pub async fn after_delete(_registry: &Registry, _def: &'static ResourceDef, _obj: &Value) {}
