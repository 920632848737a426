//! The embedded MVCC key-value store: bytes, keys and revisions over sled, with a watch hub,
//! group commit and compaction. It knows nothing of Kubernetes; the registry is its only user.

pub mod backend;
mod codec;
mod compactor;
#[cfg(test)]
pub(crate) mod recording;
#[cfg(test)]
mod tests;
mod watch;
mod writer;

use backend::{Backend, SledBackend};
use bytes::Bytes;
use codec::{
    check_log_format, data_key, decode_kv, decode_log_key, decode_revision, event_key, log_key, prefix_end,
    state_before, KEY_PREFIX, LOG_END, LOG_PREFIX,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
pub use watch::WatchStream;
use writer::{Request, WriteOp};

/// Writes waiting for the writer before callers are held back.
const REQUEST_QUEUE: usize = 8192;
/// Live events buffered per watcher before it lags and catches up from the log.
const EVENT_BUFFER: usize = 4096;

/// One global, monotonically increasing revision, as etcd's.
pub type Revision = i64;

/// A key with its current value and revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    pub create_revision: Revision,
    pub mod_revision: Revision,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Updated,
    Deleted,
}

/// One change, as delivered to watchers.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: EventKind,
    pub key: String,
    /// The revision of this change (for Deleted: the revision of the delete).
    pub revision: Revision,
    /// The new value; for Deleted the last value the key had.
    pub value: Bytes,
    /// The value before this change (None for Created).
    pub prev_value: Option<Bytes>,
}

/// The result of a (possibly paginated) range read: a consistent snapshot at `revision`.
#[derive(Clone, Debug)]
pub struct ListResult {
    pub items: Vec<KeyValue>,
    pub revision: Revision,
    /// True when `limit` cut the listing short.
    pub more: bool,
    /// Number of keys after the last returned one (only meaningful when `more`).
    pub remaining: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("key {0:?} already exists")]
    AlreadyExists(String),
    #[error("key {0:?} not found")]
    NotFound(String),
    #[error("conflict on {key:?}: expected mod revision {expected}, found {actual}")]
    Conflict { key: String, expected: Revision, actual: Revision },
    #[error("required revision {requested} has been compacted (oldest available {oldest})")]
    Compacted { requested: Revision, oldest: Revision },
    /// A read at a revision the store has not reached (etcd's "required revision is a future
    /// revision"), e.g. a continue token from before a crash lost unsynced writes.
    #[error("required revision {requested} is a future revision (current {current})")]
    FutureRevision { requested: Revision, current: Revision },
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("the store is closed")]
    Closed,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How many revisions of history are kept for watch resumption.
    pub history_revisions: i64,
    /// How often the background compactor runs.
    pub compaction_interval: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { history_revisions: 100_000, compaction_interval: std::time::Duration::from_secs(60) }
    }
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// What the writer thread, the readers, the compactor and the watchers share.
pub(crate) struct Shared {
    backend: Arc<dyn Backend>,
    /// Readers that need a consistent view (list, count) hold the read side; the
    /// writer holds the write side only while applying a batch, never while syncing.
    snapshot: RwLock<()>,
    /// The revision of the last applied batch: what reads see.
    revision: AtomicI64,
    /// The revision of the last synced batch: what watchers may see.
    durable: AtomicI64,
    /// Log entries at or below this revision may be gone.
    compacted: AtomicI64,
    /// Events, published by the writer in revision order once durable.
    events: broadcast::Sender<Arc<Event>>,
    compaction: tokio::sync::Mutex<()>,
    /// Cancelled on close or when the last handle goes: ends watches and the compactor.
    closed: CancellationToken,
}

struct Inner {
    shared: Arc<Shared>,
    requests: mpsc::Sender<Request>,
    writer_stopped: tokio::sync::watch::Receiver<bool>,
    compactor: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer stops by itself once `requests` is dropped, after draining the queue.
        self.shared.closed.cancel();
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, recovering its revision, and starts the
    /// writer thread and the compactor. Must be called inside a tokio runtime.
    pub fn open(dir: &std::path::Path, opts: StoreOptions) -> Result<Store> {
        Store::open_with_backend(Arc::new(SledBackend::open(dir)?), opts)
    }

    /// Like `open`, over any backend (tests use a recording one).
    pub fn open_with_backend(backend: Arc<dyn Backend>, opts: StoreOptions) -> Result<Store> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Backend("the store must be opened inside a tokio runtime".into()))?;
        let (revision, compacted) = recover(backend.as_ref())?;
        let shared = Arc::new(Shared {
            backend,
            snapshot: RwLock::new(()),
            revision: AtomicI64::new(revision),
            durable: AtomicI64::new(revision),
            compacted: AtomicI64::new(compacted),
            events: broadcast::channel(EVENT_BUFFER).0,
            compaction: tokio::sync::Mutex::new(()),
            closed: CancellationToken::new(),
        });
        let (requests, queue) = mpsc::channel(REQUEST_QUEUE);
        let (stopped_tx, writer_stopped) = tokio::sync::watch::channel(false);
        writer::spawn(shared.clone(), queue, stopped_tx)?;
        let compactor = compactor::spawn(&runtime, Arc::downgrade(&shared), shared.closed.clone(), &opts);
        tracing::debug!(revision, compacted, "store opened");
        Ok(Store {
            inner: Arc::new(Inner { shared, requests, writer_stopped, compactor: Mutex::new(Some(compactor)) }),
        })
    }

    pub fn current_revision(&self) -> Revision {
        self.inner.shared.revision.load(Ordering::Acquire)
    }

    /// Oldest revision a watch can still start after.
    pub fn oldest_revision(&self) -> Revision {
        self.inner.shared.compacted.load(Ordering::Acquire)
    }

    pub fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let dkey = data_key(key);
        match self.inner.shared.backend.get(&dkey)? {
            Some(raw) => decode_kv(&dkey, &raw).map(Some),
            None => Ok(None),
        }
    }

    /// Keys starting with `prefix`, in key order, strictly after `start_after` when given;
    /// `limit` 0 means no limit.
    pub fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<ListResult> {
        let shared = &self.inner.shared;
        let _snapshot = shared.snapshot.read().unwrap_or_else(|e| e.into_inner());
        let revision = shared.revision.load(Ordering::Acquire);
        let page = scan_range(shared, prefix, start_after, limit, BTreeMap::new())?;
        Ok(page.into_result(revision))
    }

    /// Like `list`, but as the keys were at `revision` (etcd's range at a revision): keys created
    /// after it are left out, keys changed or deleted after it come with the value,
    /// `create_revision` and `mod_revision` they had then, and `more`/`remaining` count keys as
    /// of then. The result's `revision` is `revision`. As in etcd, `revision <= 0` reads the
    /// current revision. Err(Compacted) when `revision < oldest_revision()` (the log needed to
    /// go back has gone); Err(FutureRevision) when it is beyond `current_revision()`.
    ///
    /// Costs a `list` plus a scan of the log written since `revision`; only the part of that
    /// scan written during the call itself holds writes back.
    pub fn list_at(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
        revision: Revision,
    ) -> Result<ListResult> {
        let shared = &self.inner.shared;
        // Log entries up to an applied revision never change (compaction only deletes, after
        // raising its watermark, which `finish` checks), so read the bulk of the log first,
        // without holding writes back, then only what was written meanwhile under the lock.
        let mut past = PastStates::new(revision);
        let early = shared.revision.load(Ordering::Acquire);
        if revision > 0 && revision < early && revision >= shared.compacted.load(Ordering::Acquire) {
            past.read_log(shared, prefix, start_after, early)?;
        }
        let _snapshot = shared.snapshot.read().unwrap_or_else(|e| e.into_inner());
        let current = shared.revision.load(Ordering::Acquire);
        let at = if revision <= 0 { current } else { revision };
        if at > current {
            return Err(Error::FutureRevision { requested: revision, current });
        }
        let oldest = shared.compacted.load(Ordering::Acquire);
        if at < oldest {
            return Err(Error::Compacted { requested: revision, oldest });
        }
        let before = if at < current {
            past.read_log(shared, prefix, start_after, current)?;
            past.finish(shared, current)?
        } else {
            BTreeMap::new()
        };
        let page = scan_range(shared, prefix, start_after, limit, before)?;
        Ok(page.into_result(at))
    }

    /// Count of keys under a prefix.
    pub fn count(&self, prefix: &str) -> Result<usize> {
        let (start, end) = key_range(prefix, None);
        let mut count = 0;
        let shared = &self.inner.shared;
        let _snapshot = shared.snapshot.read().unwrap_or_else(|e| e.into_inner());
        shared.backend.scan(&start, Some(&end), &mut |_, _| {
            count += 1;
            Ok(true)
        })?;
        Ok(count)
    }

    /// Creates `key`; fails with AlreadyExists. Resolves only once durable (fsync'd).
    pub async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        self.write(WriteOp::Create { key: key.to_owned(), value }).await
    }

    /// Replaces `key`'s value; NotFound if absent; Conflict if `expected` is given and differs
    /// from the current mod revision. Resolves only once durable.
    pub async fn update(&self, key: &str, value: Bytes, expected: Option<Revision>) -> Result<KeyValue> {
        self.write(WriteOp::Update { key: key.to_owned(), value, expected }).await
    }

    /// Deletes `key`, returning its last value with `mod_revision` = the delete's revision.
    pub async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        self.write(WriteOp::Delete { key: key.to_owned(), expected }).await
    }

    /// Hands one write to the writer thread. Once queued it is committed even if this future
    /// is dropped.
    async fn write(&self, op: WriteOp) -> Result<KeyValue> {
        let (reply, outcome) = oneshot::channel();
        self.inner.requests.send(Request::Write(op, reply)).await.map_err(|_| Error::Closed)?;
        outcome.await.map_err(|_| Error::Closed)?
    }

    /// Events for keys under `prefix` with revision > `after`. Err(Compacted) when `after` is
    /// older than `oldest_revision()`.
    pub fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let shared = &self.inner.shared;
        if shared.closed.is_cancelled() {
            return Err(Error::Closed);
        }
        // Revisions start at 1: anything below 0 asks for the same as 0.
        let after = after.max(0);
        // Subscribe before the stream replays anything, so no revision falls between the two.
        let live = shared.events.subscribe();
        let oldest = shared.compacted.load(Ordering::Acquire);
        if after < oldest {
            return Err(Error::Compacted { requested: after, oldest });
        }
        Ok(WatchStream::new(shared, live, prefix, after))
    }

    /// Makes `revision` (clamped to the last durable revision) the oldest revision a watch can start
    /// after and deletes the older event log, in small batches. The background compactor does
    /// this with `current_revision() - history_revisions`.
    pub async fn compact(&self, revision: Revision) -> Result<()> {
        compactor::compact(&self.inner.shared, revision).await
    }

    /// Stops the writer after flushing; later writes fail with Closed.
    pub async fn close(&self) {
        // Fails only if the writer already stopped, which is what we want anyway.
        let _ = self.inner.requests.send(Request::Close).await;
        let mut stopped = self.inner.writer_stopped.clone();
        let _ = stopped.wait_for(|stopped| *stopped).await;
        self.inner.shared.closed.cancel();
        let compactor = self.inner.compactor.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(compactor) = compactor {
            let _ = compactor.await;
        }
    }
}

/// The tree keys for `prefix`: from the first key after `start_after` (or the prefix itself)
/// up to, not including, the first key past the prefix.
fn key_range(prefix: &str, start_after: Option<&str>) -> (Vec<u8>, Vec<u8>) {
    let dprefix = data_key(prefix);
    // `k/…` always has a successor (`k0`), whatever the prefix.
    let end = prefix_end(&dprefix).unwrap_or_else(|| b"k0".to_vec());
    let start = match start_after {
        Some(after) if after >= prefix => {
            let mut start = data_key(after);
            start.push(0);
            start
        }
        _ => dprefix,
    };
    (start, end)
}

/// One page of a range read being collected: the first `limit` keys, then only a count.
struct Page {
    limit: usize,
    items: Vec<KeyValue>,
    remaining: usize,
}

impl Page {
    /// Takes one key; `kv` is only called (decoded) if the key falls within the limit.
    fn push(&mut self, kv: impl FnOnce() -> Result<KeyValue>) -> Result<()> {
        if self.limit == 0 || self.items.len() < self.limit {
            self.items.push(kv()?);
        } else {
            self.remaining += 1;
        }
        Ok(())
    }

    fn into_result(self, revision: Revision) -> ListResult {
        ListResult { items: self.items, revision, more: self.remaining > 0, remaining: self.remaining }
    }
}

/// Whether `key` is one that a range read of `prefix` after `start_after` covers.
fn in_range(key: &[u8], prefix: &str, start_after: Option<&str>) -> bool {
    key.starts_with(prefix.as_bytes()) && start_after.is_none_or(|after| key > after.as_bytes())
}

/// Scans the current keys in range, in key order, except that every key in `past` reads as
/// given there instead (None: absent). `past` holds the keys changed after the revision being
/// read, at that revision. The caller holds the snapshot lock.
fn scan_range(
    shared: &Shared,
    prefix: &str,
    start_after: Option<&str>,
    limit: usize,
    past: BTreeMap<String, Option<KeyValue>>,
) -> Result<Page> {
    let (start, end) = key_range(prefix, start_after);
    let mut page = Page { limit, items: Vec::new(), remaining: 0 };
    let mut past = past.into_iter().peekable();
    if start < end {
        shared.backend.scan(&start, Some(&end), &mut |k, v| {
            // A key without the prefix cannot be in this range; decode_kv reports it.
            let key = k.strip_prefix(KEY_PREFIX).unwrap_or(k);
            while let Some((_, state)) = past.next_if(|(p, _)| p.as_bytes() < key) {
                if let Some(kv) = state {
                    page.push(|| Ok(kv))?;
                }
            }
            match past.next_if(|(p, _)| p.as_bytes() == key) {
                Some((_, Some(kv))) => page.push(|| Ok(kv))?,
                Some((_, None)) => {}
                None => page.push(|| decode_kv(k, v))?,
            }
            Ok(true)
        })?;
    }
    for kv in past.filter_map(|(_, state)| state) {
        page.push(|| Ok(kv))?;
    }
    Ok(page)
}

/// The state at revision `at` of every key in range that changed after it, gathered from the
/// log: the first log entry after `at` for a key tells what the key was just before it.
struct PastStates {
    at: Revision,
    /// The next log revision to read.
    next: Revision,
    /// Set when the log had a hole at `next`: reading stops there and `finish` reports it.
    hole: bool,
    states: BTreeMap<String, Option<KeyValue>>,
}

impl PastStates {
    fn new(at: Revision) -> PastStates {
        PastStates { at, next: at + 1, hole: false, states: BTreeMap::new() }
    }

    /// Reads the log entries from `next` up to `upto`, which must be applied already.
    fn read_log(&mut self, shared: &Shared, prefix: &str, start_after: Option<&str>, upto: Revision) -> Result<()> {
        if self.hole || self.next > upto {
            return Ok(());
        }
        let PastStates { next, hole, states, .. } = self;
        shared.backend.scan(&log_key(*next), Some(&log_key(upto + 1)), &mut |k, v| {
            let revision = decode_log_key(k)?;
            if revision != *next {
                *hole = true;
                return Ok(false);
            }
            *next += 1;
            let key = event_key(revision, v)?;
            if !in_range(key, prefix, start_after) {
                return Ok(true);
            }
            let seen = std::str::from_utf8(key).is_ok_and(|key| states.contains_key(key));
            if !seen {
                let (key, state) = state_before(revision, v)?;
                states.insert(key, state);
            }
            Ok(true)
        })?;
        // A log that ends early has a hole too.
        self.hole |= self.next <= upto;
        Ok(())
    }

    /// The states, once the log has been read up to `current` under the snapshot lock.
    fn finish(self, shared: &Shared, current: Revision) -> Result<BTreeMap<String, Option<KeyValue>>> {
        // The compactor deletes log entries without the snapshot lock, but only after raising the
        // watermark: if it still allows `at`, nothing these scans needed was deleted under them.
        let oldest = shared.compacted.load(Ordering::Acquire);
        if self.at < oldest {
            return Err(Error::Compacted { requested: self.at, oldest });
        }
        if self.hole || self.next != current + 1 {
            return Err(Error::Backend(format!(
                "corrupt store: the event log lacks revision {} (current revision {current})",
                self.next
            )));
        }
        Ok(self.states)
    }
}

/// Reads the revision and the compaction watermark back from the backend.
fn recover(backend: &dyn Backend) -> Result<(Revision, Revision)> {
    let meta = |key: &[u8], what: &str| -> Result<Revision> {
        match backend.get(key)? {
            Some(raw) => decode_revision(&raw, what),
            None => Ok(0),
        }
    };
    let revision = meta(codec::META_REVISION, "store revision (m/rev)")?;
    let recorded = meta(codec::META_COMPACTED, "compacted revision (m/compacted)")?;
    let mut first_logged = None;
    backend.scan(LOG_PREFIX, Some(LOG_END), &mut |k, v| {
        let first = decode_log_key(k)?;
        check_log_format(first, v)?;
        first_logged = Some(first);
        Ok(false)
    })?;
    // Compaction may have deleted more than it recorded before a crash: trust the log itself.
    let compacted = recorded.max(first_logged.map_or(revision, |first| first - 1));
    if compacted > revision {
        return Err(Error::Backend(format!(
            "corrupt store: compacted revision {compacted} is beyond the current revision {revision}"
        )));
    }
    Ok((revision, compacted))
}
