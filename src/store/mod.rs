//! The embedded MVCC key-value store: bytes, keys and revisions over sled, with a watch hub,
//! group commit and compaction. It knows nothing of Kubernetes; the registry is its only user.
//!
//! CONTRACT (implementation pending): the public API below is fixed; internals are free.

use bytes::Bytes;
use std::sync::Arc;

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
    _inner: Arc<()>,
}

/// A stream of events for keys under one prefix, in revision order.
pub struct WatchStream {
    _p: (),
}

impl WatchStream {
    /// The next event; `Some(Err(Compacted))` if this watcher fell behind compaction;
    /// `None` when the store closes.
    pub async fn next(&mut self) -> Option<Result<Arc<Event>>> {
        unimplemented!()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, recovering its revision, and starts the
    /// writer thread and the compactor. Must be called inside a tokio runtime.
    pub fn open(_dir: &std::path::Path, _opts: StoreOptions) -> Result<Store> {
        unimplemented!()
    }
    pub fn current_revision(&self) -> Revision {
        unimplemented!()
    }
    /// Oldest revision a watch can still start after.
    pub fn oldest_revision(&self) -> Revision {
        unimplemented!()
    }
    pub fn get(&self, _key: &str) -> Result<Option<KeyValue>> {
        unimplemented!()
    }
    /// Keys starting with `prefix`, in key order, strictly after `start_after` when given;
    /// `limit` 0 means no limit.
    pub fn list(&self, _prefix: &str, _start_after: Option<&str>, _limit: usize) -> Result<ListResult> {
        unimplemented!()
    }
    /// Count of keys under a prefix.
    pub fn count(&self, _prefix: &str) -> Result<usize> {
        unimplemented!()
    }
    /// Creates `key`; fails with AlreadyExists. Resolves only once durable (fsync'd).
    pub async fn create(&self, _key: &str, _value: Bytes) -> Result<KeyValue> {
        unimplemented!()
    }
    /// Replaces `key`'s value; NotFound if absent; Conflict if `expected` is given and differs
    /// from the current mod revision. Resolves only once durable.
    pub async fn update(&self, _key: &str, _value: Bytes, _expected: Option<Revision>) -> Result<KeyValue> {
        unimplemented!()
    }
    /// Deletes `key`, returning its last value with `mod_revision` = the delete's revision.
    pub async fn delete(&self, _key: &str, _expected: Option<Revision>) -> Result<KeyValue> {
        unimplemented!()
    }
    /// Events for keys under `prefix` with revision > `after`. Err(Compacted) when `after` is
    /// older than `oldest_revision()`.
    pub fn watch(&self, _prefix: &str, _after: Revision) -> Result<WatchStream> {
        unimplemented!()
    }
    /// Stops the writer after flushing; later writes fail with Closed.
    pub async fn close(&self) {
        unimplemented!()
    }
}
