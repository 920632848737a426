//! Kind-specific steps of the write path that need the store (allocating and releasing
//! cluster IPs and node ports, …). Each kind's logic lives in its own module; this only
//! dispatches by kind.

use super::generic::Registry;
use super::service;
use super::status::Result;
use super::ResourceDef;
use serde_json::Value;

fn is_service(def: &ResourceDef) -> bool {
    std::ptr::eq(def, &service::SERVICES)
}

/// Runs after defaulting and validation, just before a new object is stored.
pub async fn before_create(registry: &Registry, def: &'static ResourceDef, obj: &mut Value) -> Result<()> {
    if is_service(def) {
        return service::before_create(registry.store(), obj).await;
    }
    if std::ptr::eq(def, &super::daemonset::DAEMONSETS) {
        super::daemonset::prepare_for_create(obj);
    }
    Ok(())
}

/// Admission that only reads the cluster (Priority, DefaultStorageClass): runs on every create,
/// dry runs included, after defaulting and before validation.
pub async fn admit_create(registry: &Registry, def: &'static ResourceDef, obj: &mut Value) -> Result<()> {
    if std::ptr::eq(def, &super::pod::PODS) {
        return super::priorityclass::admit_pod(registry, obj).await;
    }
    if std::ptr::eq(def, &super::persistentvolumeclaim::PERSISTENTVOLUMECLAIMS) {
        return super::storageclass::admit_claim(registry, obj).await;
    }
    Ok(())
}

/// The grace period of a graceful delete (CheckGracefulDelete), for kinds that have one.
pub fn delete_grace_period(def: &'static ResourceDef, obj: &Value, requested: Option<i64>) -> Option<i64> {
    if std::ptr::eq(def, &super::pod::PODS) {
        return Some(super::pod::delete_grace_period(obj, requested));
    }
    None
}

/// Runs just before an update is stored.
pub async fn before_update(registry: &Registry, def: &'static ResourceDef, old: &Value, new: &mut Value) -> Result<()> {
    if is_service(def) {
        return service::before_update(registry.store(), old, new).await;
    }
    if std::ptr::eq(def, &super::daemonset::DAEMONSETS) {
        super::daemonset::prepare_for_update(old, new);
    }
    Ok(())
}

/// Runs after an update was stored: releases what the old object held and the new one does not.
pub async fn after_update(registry: &Registry, def: &'static ResourceDef, old: &Value, new: &Value) {
    if is_service(def) {
        service::after_update(registry.store(), old, new).await;
    }
}

/// Runs after an object is gone (or a create failed): releases what it held.
pub async fn after_delete(registry: &Registry, def: &'static ResourceDef, obj: &Value) {
    if is_service(def) {
        service::after_delete(registry.store(), obj).await;
    }
}
