//! The ServiceAccount controller: every active namespace has a `default` ServiceAccount,
//! created when the namespace appears and recreated if it is deleted, as
//! kube-controller-manager's serviceaccount controller keeps it.

use super::runtime::{enqueue_from, run as run_queue, Action, Context, ObjectKey, Queue};
use crate::client::{Client, Reader};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The accounts every namespace gets.
pub const MANAGED: &[&str] = &["default"];

/// Whether the namespace takes new content (exists and is not terminating).
fn is_active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none() && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}

/// The accounts `ns` is missing, from the caches.
pub fn missing(ns: &Namespace, accounts: &Reader<ServiceAccount>) -> Vec<&'static str> {
    if !is_active(ns) {
        return Vec::new();
    }
    let name = ns.metadata.name.as_deref().unwrap_or("");
    MANAGED.iter().copied().filter(|sa| accounts.get(Some(name), sa).is_none()).collect()
}

async fn sync(client: &Client, namespaces: &Reader<Namespace>, accounts: &Reader<ServiceAccount>, key: ObjectKey) -> Result<Action, crate::client::Error> {
    let Some(ns) = namespaces.get(None, &key.name) else { return Ok(Action::Done) };
    for name in missing(&ns, accounts) {
        let sa = ServiceAccount {
            metadata: ObjectMeta { name: Some(name.to_string()), namespace: Some(key.name.clone()), ..Default::default() },
            ..Default::default()
        };
        match client.api::<ServiceAccount>(Some(&key.name))?.create(&sa).await {
            Ok(_) => tracing::debug!(namespace = %key.name, account = name, "created service account"),
            // Already there (the cache lags), or the namespace is going away.
            Err(e) if e.code() == 409 || e.code() == 403 || e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Action::Done)
}

/// Runs until `ctx.stop` is cancelled.
pub async fn run(ctx: Context) {
    let (ns_inf, sa_inf) = match (ctx.informers.get::<Namespace>(), ctx.informers.get::<ServiceAccount>()) {
        (Ok(n), Ok(s)) => (n, s),
        _ => {
            tracing::error!("serviceaccount controller cannot start its informers");
            return;
        }
    };
    let queue = Queue::new();
    enqueue_from(&ns_inf, queue.clone(), ctx.stop.clone(), |ns: &Namespace| vec![ObjectKey::new(None, ns.metadata.name.as_deref().unwrap_or(""))]);
    enqueue_from(&sa_inf, queue.clone(), ctx.stop.clone(), |sa: &ServiceAccount| {
        let name = sa.metadata.name.as_deref().unwrap_or("");
        if MANAGED.contains(&name) {
            vec![ObjectKey::new(None, sa.metadata.namespace.as_deref().unwrap_or(""))]
        } else {
            Vec::new()
        }
    });
    let (mut namespaces, mut accounts) = (ns_inf.reader(), sa_inf.reader());
    tokio::select! {
        _ = ctx.stop.cancelled() => return,
        _ = async { namespaces.wait_synced().await; accounts.wait_synced().await; } => {}
    }
    for ns in namespaces.list() {
        queue.add(ObjectKey::new(None, ns.metadata.name.as_deref().unwrap_or("")));
    }
    let client = ctx.client.clone();
    run_queue("serviceaccount", queue, 2, ctx.stop.clone(), move |key| {
        let (client, namespaces, accounts) = (client.clone(), namespaces.clone(), accounts.clone());
        async move { sync(&client, &namespaces, &accounts, key).await }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Informer;
    use crate::registry::generic::Registry;
    use crate::store::{recording::RecordingBackend, Store, StoreOptions};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    /// The account named "default" once it exists (and is not `not`), polling in 50 ms steps of
    /// virtual time, each with a moment of real time for the store's writer thread (tokio does
    /// not auto-advance the paused clock while a blocking task runs); bound by 30 s of real
    /// time, since under load virtual time runs ahead of the controller's writes.
    async fn default_account(api: &crate::client::Api<ServiceAccount>, not: Option<&str>) -> Option<ServiceAccount> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Some(sa) = api.get_opt("default").await.unwrap() {
                if not.is_none() || sa.metadata.uid.as_deref() != not {
                    return Some(sa);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(1))).await;
        }
        None
    }

    #[tokio::test(start_paused = true)]
    async fn every_active_namespace_gets_a_default_account_again_after_deletion() {
        let opts = StoreOptions { history_revisions: 1_000_000, compaction_interval: Duration::from_secs(3600) };
        let store = Store::open_with_backend(Arc::new(RecordingBackend::default()), opts).unwrap();
        let client = Client::new(Registry::new(store), "test");
        let stop = CancellationToken::new();
        let ns_api = client.api::<Namespace>(None).unwrap();
        ns_api.create(&Namespace { metadata: ObjectMeta { name: Some("team".into()), ..Default::default() }, ..Default::default() }).await.unwrap();
        let ctx = Context::new(client.clone(), stop.clone());
        let task = tokio::spawn(run(ctx));
        let sa_api = client.api::<ServiceAccount>(Some("team")).unwrap();
        let first = default_account(&sa_api, None).await.expect("default account created");
        sa_api.delete("default").await.unwrap();
        let again = default_account(&sa_api, first.metadata.uid.as_deref()).await.expect("recreated");
        assert_ne!(again.metadata.uid, first.metadata.uid);

        // A terminating namespace gets none.
        let informer = Informer::<ServiceAccount>::start(&client, None, stop.clone()).unwrap();
        let mut r = informer.reader();
        r.wait_synced().await;
        let terminating = Namespace {
            metadata: ObjectMeta { name: Some("gone".into()), deletion_timestamp: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())), ..Default::default() },
            ..Default::default()
        };
        assert!(missing(&terminating, &r).is_empty());
        stop.cancel();
        let _ = task.await;
    }
}
