//! The in-process client: the registry's admission, validation and store path without the wire,
//! typed with k8s-openapi; and informers that list and watch one kind into a local read-only
//! cache and hand typed events to controllers over channels. Nothing in-process calls HTTP.

pub use crate::registry::generic::DeleteOptions;
use crate::registry::generic::{ Deleted, ListOptions, PatchType, Registry, WatchEvent, WatchOptions, WriteOptions,
};
use crate::registry::status::StatusError;
use crate::registry::{self, ResourceDef};
use k8s_openapi::serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Api(#[from] StatusError),
    #[error("decoding {kind}: {source}")]
    Decode { kind: &'static str, #[source] source: serde_json::Error },
    #[error("encoding {kind}: {source}")]
    Encode { kind: &'static str, #[source] source: serde_json::Error },
    #[error("{0} is not served by this API server")]
    UnknownKind(String),
}

impl Error {
    /// The HTTP status code a request would have got (0 for client-side errors).
    pub fn code(&self) -> u16 {
        match self {
            Error::Api(s) => s.code,
            _ => 0,
        }
    }
    pub fn is_not_found(&self) -> bool {
        self.code() == 404
    }
    pub fn is_conflict(&self) -> bool {
        self.code() == 409
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Handle to the API for in-process components; cheap to clone.
#[derive(Clone)]
pub struct Client {
    registry: Registry,
    /// Who this component is, for the fieldManager of its writes.
    manager: Arc<str>,
}

impl Client {
    pub fn new(registry: Registry, manager: &str) -> Client {
        Client { registry, manager: Arc::from(manager) }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    fn def_of<K: k8s_openapi::Resource>() -> Result<&'static ResourceDef> {
        registry::find(K::GROUP, K::VERSION, K::URL_PATH_SEGMENT)
            .ok_or_else(|| Error::UnknownKind(format!("{}/{} {}", K::GROUP, K::VERSION, K::KIND)))
    }

    /// A typed API for kind `K` in `namespace` (None: cluster-scoped, or all namespaces for lists).
    pub fn api<K: k8s_openapi::Resource>(&self, namespace: Option<&str>) -> Result<Api<K>> {
        Ok(Api { client: self.clone(), def: Self::def_of::<K>()?, ns: namespace.map(str::to_string), _k: PhantomData })
    }

    fn write_opts(&self) -> WriteOptions {
        WriteOptions { dry_run: false, field_manager: Some(self.manager.to_string()), ..Default::default() }
    }
}

/// Typed operations on one kind, as kube-rs' `Api<K>` offers them.
pub struct Api<K> {
    client: Client,
    def: &'static ResourceDef,
    ns: Option<String>,
    _k: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Api { client: self.client.clone(), def: self.def, ns: self.ns.clone(), _k: PhantomData }
    }
}

fn decode<K: DeserializeOwned + k8s_openapi::Resource>(v: Value) -> Result<K> {
    serde_json::from_value(v).map_err(|source| Error::Decode { kind: K::KIND, source })
}

impl<K> Api<K>
where
    K: k8s_openapi::Resource + Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    fn ns(&self) -> Option<&str> {
        self.ns.as_deref()
    }

    fn encode(&self, obj: &K) -> Result<Value> {
        serde_json::to_value(obj).map_err(|source| Error::Encode { kind: K::KIND, source })
    }

    pub async fn get(&self, name: &str) -> Result<K> {
        decode(self.client.registry.get(self.def, self.ns(), name).await?)
    }

    pub async fn get_opt(&self, name: &str) -> Result<Option<K>> {
        match self.get(name).await {
            Ok(k) => Ok(Some(k)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists objects matching a label selector (None: all); returns them with the list's revision.
    pub async fn list(&self, label_selector: Option<&str>) -> Result<(Vec<K>, i64)> {
        let out = self
            .client
            .registry
            .list(self.def, self.ns(), &ListOptions { label_selector: label_selector.map(str::to_string), ..Default::default() })
            .await?;
        let items = out.items.into_iter().map(decode).collect::<Result<Vec<K>>>()?;
        Ok((items, out.resource_version))
    }

    pub async fn create(&self, obj: &K) -> Result<K> {
        let v = self.encode(obj)?;
        decode(self.client.registry.create(self.def, self.ns(), v, &self.client.write_opts()).await?)
    }

    pub async fn replace(&self, name: &str, obj: &K) -> Result<K> {
        let v = self.encode(obj)?;
        decode(self.client.registry.update(self.def, self.ns(), name, v, None, &self.client.write_opts()).await?)
    }

    pub async fn replace_status(&self, name: &str, obj: &K) -> Result<K> {
        let v = self.encode(obj)?;
        decode(self.client.registry.update(self.def, self.ns(), name, v, Some("status"), &self.client.write_opts()).await?)
    }

    /// JSON merge patch of the object.
    pub async fn patch_merge(&self, name: &str, patch: &Value) -> Result<K> {
        decode(self.client.registry.patch(self.def, self.ns(), name, PatchType::Merge, patch, None, &self.client.write_opts()).await?)
    }

    /// Strategic merge patch of the object (`$deleteFromPrimitiveList/finalizers` and friends).
    pub async fn patch_strategic(&self, name: &str, patch: &Value) -> Result<K> {
        decode(self.client.registry.patch(self.def, self.ns(), name, PatchType::Strategic, patch, None, &self.client.write_opts()).await?)
    }

    /// JSON merge patch of the status subresource.
    pub async fn patch_status(&self, name: &str, patch: &Value) -> Result<K> {
        decode(
            self.client
                .registry
                .patch(self.def, self.ns(), name, PatchType::Merge, patch, Some("status"), &self.client.write_opts())
                .await?,
        )
    }

    /// Deletes; Ok(None) when the object is gone, Ok(Some) while finalizers hold it.
    pub async fn delete(&self, name: &str) -> Result<Option<K>> {
        self.delete_with(name, &DeleteOptions::default()).await
    }

    /// Deletes with options (propagation policy, grace period, preconditions).
    pub async fn delete_with(&self, name: &str, opts: &DeleteOptions) -> Result<Option<K>> {
        match self.client.registry.delete(self.def, self.ns(), name, opts).await? {
            Deleted::Gone(_) => Ok(None),
            Deleted::Pending(v) => Ok(Some(decode(v)?)),
        }
    }
}

impl Api<k8s_openapi::api::core::v1::Pod> {
    /// Binds the pod to a node (the binding subresource), as the scheduler does.
    pub async fn bind(&self, name: &str, node: &str) -> Result<()> {
        crate::registry::pod::bind(&self.client.registry, self.ns(), name, node, None, &self.client.write_opts()).await?;
        Ok(())
    }
}

/// A change seen by an informer.
#[derive(Debug, Clone)]
pub enum Event<K> {
    Applied(Arc<K>),
    Deleted(Arc<K>),
    /// The cache was rebuilt from a fresh list (after start or a watch expiry).
    Restarted,
}

type Cache<K> = Arc<RwLock<HashMap<String, Arc<K>>>>;

/// Read-only view of an informer's cache; cloneable; never held across an await.
pub struct Reader<K> {
    cache: Cache<K>,
    synced: watch::Receiver<bool>,
}

impl<K> Clone for Reader<K> {
    fn clone(&self) -> Self {
        Reader { cache: self.cache.clone(), synced: self.synced.clone() }
    }
}

fn cache_key(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

impl<K: k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>> Reader<K> {
    pub fn get(&self, ns: Option<&str>, name: &str) -> Option<Arc<K>> {
        self.cache.read().ok()?.get(&cache_key(ns, name)).cloned()
    }
    pub fn list(&self) -> Vec<Arc<K>> {
        self.cache.read().map(|c| c.values().cloned().collect()).unwrap_or_default()
    }
    pub fn len(&self) -> usize {
        self.cache.read().map(|c| c.len()).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Waits until the first list has filled the cache.
    pub async fn wait_synced(&mut self) {
        let _ = self.synced.wait_for(|s| *s).await;
    }
}

/// Lists and watches one kind (optionally one namespace) into a cache; the only writer of it.
pub struct Informer<K> {
    reader: Reader<K>,
    events: broadcast::Sender<Event<K>>,
}

impl<K> Informer<K>
where
    K: k8s_openapi::Resource
        + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>
        + Serialize
        + DeserializeOwned
        + Clone
        + Send
        + Sync
        + 'static,
{
    /// Starts the informer task; it runs until `stop` is cancelled.
    pub fn start(client: &Client, namespace: Option<&str>, stop: CancellationToken) -> Result<Informer<K>> {
        let def = Client::def_of::<K>()?;
        let cache: Cache<K> = Arc::new(RwLock::new(HashMap::new()));
        let (synced_tx, synced_rx) = watch::channel(false);
        let (events, _) = broadcast::channel(4096);
        let task_cache = cache.clone();
        let task_events = events.clone();
        let registry = client.registry.clone();
        let ns = namespace.map(str::to_string);
        tokio::spawn(async move {
            loop {
                if stop.is_cancelled() {
                    return;
                }
                let opts = WatchOptions { send_initial_events: Some(true), allow_bookmarks: true, ..Default::default() };
                let mut w = match registry.watch(def, ns.as_deref(), &opts).await {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::warn!(kind = K::KIND, error = %e, "informer watch failed; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        continue;
                    }
                };
                // Initial events rebuild the cache; the initial-events-end bookmark closes them.
                let mut fresh: HashMap<String, Arc<K>> = HashMap::new();
                let mut in_initial = true;
                loop {
                    let next = tokio::select! {
                        _ = stop.cancelled() => return,
                        ev = w.next() => ev,
                    };
                    let Some(ev) = next else { break };
                    match ev {
                        WatchEvent::Added(mut v) | WatchEvent::Modified(mut v) => {
                            // Controllers never read managedFields; like kube-controller-manager's
                            // and kube-scheduler's informers, the cache drops them (most of a pod's size).
                            if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                                m.remove("managedFields");
                            }
                            let Ok(obj) = serde_json::from_value::<K>(v) else { continue };
                            let key = cache_key(obj.metadata().namespace.as_deref(), obj.metadata().name.as_deref().unwrap_or(""));
                            let obj = Arc::new(obj);
                            if in_initial {
                                fresh.insert(key, obj);
                            } else {
                                if let Ok(mut c) = task_cache.write() {
                                    c.insert(key, obj.clone());
                                }
                                let _ = task_events.send(Event::Applied(obj));
                            }
                        }
                        WatchEvent::Deleted(v) => {
                            let Ok(obj) = serde_json::from_value::<K>(v) else { continue };
                            let key = cache_key(obj.metadata().namespace.as_deref(), obj.metadata().name.as_deref().unwrap_or(""));
                            if let Ok(mut c) = task_cache.write() {
                                c.remove(&key);
                            }
                            let _ = task_events.send(Event::Deleted(Arc::new(obj)));
                        }
                        WatchEvent::Bookmark { initial_end: true, .. } if in_initial => {
                            Self::replace_cache(&task_cache, std::mem::take(&mut fresh), &task_events);
                            in_initial = false;
                            let _ = synced_tx.send(true);
                        }
                        WatchEvent::Bookmark { .. } => {}
                        WatchEvent::Error(e) => {
                            tracing::info!(kind = K::KIND, error = %e, "informer watch expired; relisting");
                            break;
                        }
                    }
                }
            }
        });
        Ok(Informer { reader: Reader { cache, synced: synced_rx }, events })
    }

    fn replace_cache(cache: &Cache<K>, fresh: HashMap<String, Arc<K>>, events: &broadcast::Sender<Event<K>>) {
        let old = match cache.write() {
            Ok(mut c) => std::mem::replace(&mut *c, fresh.clone()),
            Err(_) => return,
        };
        for (k, v) in &old {
            if !fresh.contains_key(k) {
                let _ = events.send(Event::Deleted(v.clone()));
            }
        }
        for v in fresh.values() {
            let _ = events.send(Event::Applied(v.clone()));
        }
        let _ = events.send(Event::Restarted);
    }

    pub fn reader(&self) -> Reader<K> {
        self.reader.clone()
    }

    /// Typed change events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event<K>> {
        self.events.subscribe()
    }
}
