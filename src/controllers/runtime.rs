//! The shared reconcile runtime, after kube-runtime: shared informers (watcher + reflector),
//! a de-duplicating work queue with delayed requeue and per-key backoff (scheduler), and the
//! worker loop that drives a reconcile function and acts on its typed outcome (controller).
//! Time is tokio's, so unit tests run it under paused, virtual time.

use crate::client::{Client, Event, Informer, Reader};
use crate::controllers::events::Recorder;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::serde::{de::DeserializeOwned, Serialize};
use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use futures::FutureExt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Names one object: namespace (None for cluster-scoped kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey { namespace: namespace.filter(|n| !n.is_empty()).map(str::to_string), name: name.to_string() }
    }
    pub fn of(meta: &ObjectMeta) -> ObjectKey {
        ObjectKey::new(meta.namespace.as_deref(), meta.name.as_deref().unwrap_or(""))
    }
    pub fn ns(&self) -> Option<&str> {
        self.namespace.as_deref()
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}/{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// What a reconcile asks the runtime to do next with its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the next watch event touches the key.
    Done,
    /// Reconcile again after this long (a deadline, a progress check), even without events.
    RequeueAfter(Duration),
}

/// The client-go default controller backoff: 5 ms doubling per consecutive failure, capped.
pub const BACKOFF_BASE: Duration = Duration::from_millis(5);
pub const BACKOFF_MAX: Duration = Duration::from_secs(1000);

#[derive(Default)]
struct QueueState {
    ready: VecDeque<ObjectKey>,
    /// Keys in `ready` (de-duplication).
    queued: HashSet<ObjectKey>,
    /// Keys a worker holds; a key is never processed by two workers at once.
    processing: HashSet<ObjectKey>,
    /// Keys added while being processed: queued again when the worker is done.
    dirty: HashSet<ObjectKey>,
    delayed: BTreeMap<(Instant, u64), ObjectKey>,
    delayed_at: HashMap<ObjectKey, (Instant, u64)>,
    failures: HashMap<ObjectKey, u32>,
    seq: u64,
    shut: bool,
}

/// A de-duplicating work queue of object keys with delayed adds; cheap to clone.
#[derive(Clone, Default)]
pub struct Queue {
    state: Arc<Mutex<QueueState>>,
    notify: Arc<Notify>,
}

impl Queue {
    pub fn new() -> Queue {
        Queue::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues the key now (a no-op when it is already queued).
    pub fn add(&self, key: ObjectKey) {
        let mut s = self.lock();
        if let Some(at) = s.delayed_at.remove(&key) {
            s.delayed.remove(&at);
        }
        if s.processing.contains(&key) {
            s.dirty.insert(key);
            return;
        }
        if s.queued.insert(key.clone()) {
            s.ready.push_back(key);
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Queues the key after `delay`; an earlier pending add wins.
    pub fn add_after(&self, key: ObjectKey, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let at = Instant::now() + delay;
        let mut s = self.lock();
        if s.queued.contains(&key) {
            return;
        }
        if let Some(&(old, seq)) = s.delayed_at.get(&key) {
            if old <= at {
                return;
            }
            s.delayed.remove(&(old, seq));
        }
        s.seq += 1;
        let seq = s.seq;
        s.delayed.insert((at, seq), key.clone());
        s.delayed_at.insert(key, (at, seq));
        drop(s);
        self.notify.notify_one();
    }

    /// Queues the key after its next backoff step and returns that delay.
    pub fn add_with_backoff(&self, key: ObjectKey) -> Duration {
        let delay = {
            let mut s = self.lock();
            let n = s.failures.entry(key.clone()).or_insert(0);
            let d = BACKOFF_BASE.saturating_mul(1u32.checked_shl(*n).unwrap_or(u32::MAX)).min(BACKOFF_MAX);
            *n = n.saturating_add(1);
            d
        };
        self.add_after(key, delay);
        delay
    }

    /// Clears the key's failure count (its reconcile succeeded).
    pub fn forget(&self, key: &ObjectKey) {
        self.lock().failures.remove(key);
    }

    /// Number of keys queued now or later.
    pub fn len(&self) -> usize {
        let s = self.lock();
        s.ready.len() + s.delayed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes every waiting worker with None.
    pub fn shutdown(&self) {
        self.lock().shut = true;
        self.notify.notify_waiters();
    }

    /// The next key to process; the caller must call `done` with it. None after shutdown.
    pub async fn next(&self) -> Option<ObjectKey> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake_at = {
                let mut s = self.lock();
                if s.shut {
                    return None;
                }
                let now = Instant::now();
                while let Some((&(at, seq), _)) = s.delayed.iter().next() {
                    if at > now {
                        break;
                    }
                    let Some(key) = s.delayed.remove(&(at, seq)) else { break };
                    s.delayed_at.remove(&key);
                    if s.processing.contains(&key) {
                        s.dirty.insert(key);
                    } else if s.queued.insert(key.clone()) {
                        s.ready.push_back(key);
                    }
                }
                if let Some(key) = s.ready.pop_front() {
                    s.queued.remove(&key);
                    s.processing.insert(key.clone());
                    let more = !s.ready.is_empty();
                    drop(s);
                    if more {
                        self.notify.notify_one();
                    }
                    return Some(key);
                }
                s.delayed.keys().next().map(|&(at, _)| at)
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Marks the key processed; if it was added meanwhile, it is queued again.
    pub fn done(&self, key: &ObjectKey) {
        let mut s = self.lock();
        s.processing.remove(key);
        if s.dirty.remove(key) && s.queued.insert(key.clone()) {
            s.ready.push_back(key.clone());
            drop(s);
            self.notify.notify_one();
        }
    }
}

/// Drives `reconcile` over the queue with `workers` concurrent workers until `stop`.
/// Errors requeue the key with backoff; `Action::RequeueAfter` requeues it on schedule.
pub async fn run<F, Fut, E>(name: &'static str, queue: Queue, workers: usize, stop: CancellationToken, reconcile: F)
where
    F: Fn(ObjectKey) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    let mut tasks = Vec::with_capacity(workers.max(1));
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let stop = stop.clone();
        let reconcile = reconcile.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let key = tokio::select! {
                    _ = stop.cancelled() => return,
                    k = queue.next() => match k { Some(k) => k, None => return },
                };
                // A panicking reconcile must not take the worker (and the key it holds) with it.
                let outcome = match std::panic::AssertUnwindSafe(reconcile(key.clone())).catch_unwind().await {
                    Ok(outcome) => outcome,
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        queue.done(&key);
                        let delay = queue.add_with_backoff(key.clone());
                        tracing::error!(controller = name, object = %key, panic = %what, retry_in_ms = delay.as_millis() as u64, "reconcile panicked");
                        continue;
                    }
                };
                match outcome {
                    Ok(Action::Done) => queue.forget(&key),
                    Ok(Action::RequeueAfter(d)) => {
                        queue.forget(&key);
                        queue.done(&key);
                        queue.add_after(key, d);
                        continue;
                    }
                    Err(e) => {
                        queue.done(&key);
                        let delay = queue.add_with_backoff(key.clone());
                        tracing::warn!(controller = name, object = %key, error = %e, retry_in_ms = delay.as_millis() as u64, "reconcile failed");
                        continue;
                    }
                }
                queue.done(&key);
            }
        }));
    }
    stop.cancelled().await;
    queue.shutdown();
    for t in tasks {
        let _ = t.await;
    }
}

/// Feeds a queue from an informer: every event maps to the keys to reconcile; after a relist
/// (or when the channel lagged) every cached object is mapped again.
pub fn enqueue_from<K, M>(informer: &Informer<K>, queue: Queue, stop: CancellationToken, map: M)
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    M: Fn(&K) -> Vec<ObjectKey> + Send + Sync + 'static,
{
    let mut events = informer.subscribe();
    let reader = informer.reader();
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = stop.cancelled() => return,
                ev = events.recv() => ev,
            };
            match ev {
                Ok(Event::Applied(o)) | Ok(Event::Deleted(o)) => {
                    for k in map(&o) {
                        queue.add(k);
                    }
                }
                Ok(Event::Restarted) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    for o in reader.list() {
                        for k in map(&o) {
                            queue.add(k);
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// The key of the object itself.
pub fn self_key<K: k8s_openapi::Metadata<Ty = ObjectMeta>>(o: &K) -> Vec<ObjectKey> {
    vec![ObjectKey::of(o.metadata())]
}

/// One informer per kind for the whole process, started on first use.
#[derive(Clone)]
pub struct Informers {
    client: Client,
    stop: CancellationToken,
    started: Arc<Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>,
}

impl Informers {
    pub fn new(client: Client, stop: CancellationToken) -> Informers {
        Informers { client, stop, started: Arc::default() }
    }

    /// The shared informer of kind `K` (all namespaces).
    pub fn get<K>(&self) -> crate::client::Result<Arc<Informer<K>>>
    where
        K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = started.get(&TypeId::of::<K>()) {
            if let Ok(i) = i.clone().downcast::<Informer<K>>() {
                return Ok(i);
            }
        }
        let i = Arc::new(Informer::<K>::start(&self.client, None, self.stop.clone())?);
        started.insert(TypeId::of::<K>(), i.clone());
        Ok(i)
    }

    /// The shared informer's cache, once it has synced.
    pub async fn synced_reader<K>(&self) -> crate::client::Result<Reader<K>>
    where
        K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let mut r = self.get::<K>()?.reader();
        r.wait_synced().await;
        Ok(r)
    }
}

/// Everything a controller needs: the client to write with, the shared informers to read
/// from, the event recorder and the stop token.
#[derive(Clone)]
pub struct Context {
    pub client: Client,
    pub informers: Informers,
    pub recorder: Recorder,
    pub stop: CancellationToken,
}

impl Context {
    pub fn new(client: Client, stop: CancellationToken) -> Context {
        let informers = Informers::new(client.clone(), stop.clone());
        let recorder = Recorder::start(client.clone(), stop.clone());
        Context { client, informers, recorder, stop }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> ObjectKey {
        ObjectKey::new(Some("default"), n)
    }

    #[tokio::test(start_paused = true)]
    async fn adds_are_deduplicated_and_ordered() {
        let q = Queue::new();
        q.add(key("a"));
        q.add(key("b"));
        q.add(key("a"));
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, Some(key("a")));
        assert_eq!(q.next().await, Some(key("b")));
        q.done(&key("a"));
        q.done(&key("b"));
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_added_while_processing_comes_back_once_done() {
        let q = Queue::new();
        q.add(key("a"));
        let k = q.next().await.unwrap();
        q.add(key("a"));
        q.add(key("a"));
        assert!(q.is_empty(), "not handed to a second worker while held");
        q.done(&k);
        assert_eq!(q.next().await, Some(key("a")));
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_adds_wait_and_the_earliest_wins() {
        let q = Queue::new();
        let t0 = Instant::now();
        q.add_after(key("a"), Duration::from_secs(10));
        q.add_after(key("a"), Duration::from_secs(3));
        q.add_after(key("a"), Duration::from_secs(20));
        assert_eq!(q.next().await, Some(key("a")));
        assert_eq!(t0.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_doubles_and_forget_resets_it() {
        let q = Queue::new();
        assert_eq!(q.add_with_backoff(key("a")), Duration::from_millis(5));
        assert_eq!(q.add_with_backoff(key("a")), Duration::from_millis(10));
        assert_eq!(q.add_with_backoff(key("a")), Duration::from_millis(20));
        for _ in 0..40 {
            q.add_with_backoff(key("a"));
        }
        assert_eq!(q.add_with_backoff(key("a")), BACKOFF_MAX);
        q.forget(&key("a"));
        assert_eq!(q.add_with_backoff(key("a")), Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_reconcile_is_retried_and_the_worker_survives() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let q = Queue::new();
        let calls = Arc::new(AtomicU32::new(0));
        let stop = CancellationToken::new();
        let c = calls.clone();
        let task = tokio::spawn(run("test", q.clone(), 1, stop.clone(), move |_k| {
            let c = c.clone();
            async move {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("first try panics");
                }
                Ok::<_, String>(Action::Done)
            }
        }));
        q.add(key("a"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "retried after the panic");
        q.add(key("b"));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3, "the one worker still runs");
        stop.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn run_requeues_failures_with_backoff_and_honours_requeue_after() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let q = Queue::new();
        let calls = Arc::new(AtomicU32::new(0));
        let stop = CancellationToken::new();
        let c = calls.clone();
        let task = tokio::spawn(run("test", q.clone(), 2, stop.clone(), move |_k| {
            let c = c.clone();
            async move {
                let n = c.fetch_add(1, Ordering::SeqCst);
                match n {
                    0 | 1 => Err("boom"),
                    2 => Ok(Action::RequeueAfter(Duration::from_secs(60))),
                    _ => Ok(Action::Done),
                }
            }
        }));
        q.add(key("a"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3, "two failures retried within 15 ms of backoff");
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        stop.cancel();
        task.await.unwrap();
    }
}
