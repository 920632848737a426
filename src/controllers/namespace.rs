//! Namespace lifecycle: a namespace being deleted (Terminating) has everything in it deleted,
//! then its `kubernetes` finalizer removed, and then it disappears.

use crate::client::{Client, Event, Informer};
use crate::registry::generic::{DeleteOptions, ListOptions, WriteOptions};
use crate::registry::{self, ResourceDef};
use k8s_openapi::api::core::v1::Namespace;
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs until `stop` is cancelled.
pub async fn run(client: Client, stop: CancellationToken) {
    let informer = match Informer::<Namespace>::start(&client, None, stop.clone()) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "namespace controller cannot start");
            return;
        }
    };
    let mut events = informer.subscribe();
    let mut reader = informer.reader();
    reader.wait_synced().await;
    let mut pending: HashSet<String> = reader
        .list()
        .iter()
        .filter(|ns| ns.metadata.deletion_timestamp.is_some())
        .filter_map(|ns| ns.metadata.name.clone())
        .collect();
    loop {
        for name in std::mem::take(&mut pending) {
            match finalize(&client, &name).await {
                Ok(true) => {}
                Ok(false) => {
                    pending.insert(name);
                }
                Err(e) => {
                    tracing::warn!(namespace = %name, error = %e, "namespace cleanup failed; retrying");
                    pending.insert(name);
                }
            }
        }
        let wait = if pending.is_empty() { Duration::from_secs(3600) } else { Duration::from_millis(500) };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            ev = events.recv() => match ev {
                Ok(Event::Applied(ns)) if ns.metadata.deletion_timestamp.is_some() => {
                    if let Some(n) = ns.metadata.name.clone() { pending.insert(n); }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    pending.extend(reader.list().iter().filter(|ns| ns.metadata.deletion_timestamp.is_some()).filter_map(|ns| ns.metadata.name.clone()));
                }
                Err(_) => return,
            },
        }
    }
}

/// Every namespaced resource once per storage location (HPA v1 and v2 share one).
fn namespaced_resources() -> Vec<&'static ResourceDef> {
    let mut seen = HashSet::new();
    registry::all().iter().copied().filter(|d| d.namespaced && seen.insert(d.storage_prefix)).collect()
}

/// Deletes the namespace's content; when nothing is left, finalizes and removes it.
/// Returns true when the namespace is gone.
async fn finalize(client: &Client, name: &str) -> Result<bool, crate::registry::status::StatusError> {
    let reg = client.registry();
    let mut remaining = 0;
    for def in namespaced_resources() {
        // As the namespace deleter: dependents in the background, never orphaned.
        let opts = DeleteOptions { propagation_policy: Some("Background".into()), ..Default::default() };
        let out = reg.delete_collection(def, Some(name), &ListOptions::default(), &opts).await?;
        // Objects held by finalizers stay until their owners release them.
        remaining += out.items.iter().filter(|o| o.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|a| !a.is_empty())).count();
    }
    if remaining > 0 {
        return Ok(false);
    }
    let ns_def = registry::find("", "v1", "namespaces").ok_or_else(|| crate::registry::status::StatusError::internal("namespaces not served"))?;
    match reg
        .update_with(ns_def, None, name, None, &WriteOptions::default(), |old| {
            let mut new = old.clone();
            if let Some(f) = new.pointer_mut("/spec/finalizers").and_then(Value::as_array_mut) {
                f.retain(|x| x != "kubernetes");
            }
            Ok(new)
        })
        .await
    {
        Ok(_) => {}
        Err(e) if e.code == 404 => return Ok(true),
        Err(e) => return Err(e),
    }
    match reg.delete(ns_def, None, name, &DeleteOptions::default()).await {
        Ok(crate::registry::generic::Deleted::Gone(_)) => Ok(true),
        Ok(crate::registry::generic::Deleted::Pending(_)) => Ok(false),
        Err(e) if e.code == 404 => Ok(true),
        Err(e) => Err(e),
    }
}
