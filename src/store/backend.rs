//! The narrow, synchronous key-value interface the store is built on, and its sled
//! implementation. Only the store's writer, readers and compactor call it.

use super::{Error, Result};
use std::path::Path;

/// One change in an atomic batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// Called for each entry of a scan with its key and value; `Ok(false)` stops the scan.
pub type Visit<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'a;

/// An ordered byte-keyed map with atomic batches and an explicit durability barrier.
pub trait Backend: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Visits entries with `start <= key < end` (`end` None: to the last key) in ascending
    /// key order until `visit` returns `Ok(false)` or an error.
    fn scan(&self, start: &[u8], end: Option<&[u8]>, visit: &mut Visit<'_>) -> Result<()>;
    /// Applies every op or none of them; concurrent readers must still be excluded by the
    /// caller if they need to see batches whole.
    fn apply(&self, ops: &[Op]) -> Result<()>;
    /// Returns once everything applied so far is on stable storage.
    fn sync(&self) -> Result<()>;
}

/// The store's data in one sled tree, so that one batch is one atomic write.
pub struct SledBackend {
    db: sled::Db,
}

impl SledBackend {
    pub fn open(dir: &Path) -> Result<SledBackend> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(16 << 20)
            .mode(sled::Mode::HighThroughput)
            // Durability comes from our explicit flush after every batch, never from a timer.
            .flush_every_ms(None)
            .open()
            .map_err(|e| Error::Backend(format!("opening sled at {}: {e}", dir.display())))?;
        Ok(SledBackend { db })
    }
}

fn sled_err(what: &str) -> impl Fn(sled::Error) -> Error + '_ {
    move |e| Error::Backend(format!("{what}: {e}"))
}

impl Backend for SledBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let v = self.db.get(key).map_err(sled_err("reading from sled"))?;
        Ok(v.map(|v| v.to_vec()))
    }

    fn scan(&self, start: &[u8], end: Option<&[u8]>, visit: &mut Visit<'_>) -> Result<()> {
        let iter = match end {
            // sled, like BTreeMap, panics on an inverted range.
            Some(end) if end <= start => return Ok(()),
            Some(end) => self.db.range(start..end),
            None => self.db.range(start..),
        };
        for entry in iter {
            let (k, v) = entry.map_err(sled_err("scanning sled"))?;
            if !visit(&k, &v)? {
                break;
            }
        }
        Ok(())
    }

    fn apply(&self, ops: &[Op]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for op in ops {
            match op {
                Op::Put(k, v) => batch.insert(k.as_slice(), v.as_slice()),
                Op::Delete(k) => batch.remove(k.as_slice()),
            }
        }
        self.db.apply_batch(batch).map_err(sled_err("applying a batch to sled"))
    }

    fn sync(&self) -> Result<()> {
        self.db.flush().map(|_| ()).map_err(sled_err("flushing sled to disk"))
    }
}
