//! An in-memory backend for tests that records every apply and sync in order and can hold
//! syncs until the test releases them, to prove that nothing is acknowledged before its sync.

use super::backend::{Backend, Op, Visit};
use super::Result;
use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// A batch was applied; the number of ops in it.
    Apply(usize),
    SyncStarted,
    Synced,
}

#[derive(Default)]
struct State {
    data: BTreeMap<Vec<u8>, Vec<u8>>,
    records: Vec<Record>,
    hold_syncs: bool,
}

#[derive(Default)]
pub(crate) struct RecordingBackend {
    state: Mutex<State>,
    changed: Condvar,
}

impl RecordingBackend {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn records(&self) -> Vec<Record> {
        self.lock().records.clone()
    }

    pub(crate) fn syncs(&self) -> usize {
        self.lock().records.iter().filter(|r| **r == Record::Synced).count()
    }

    /// Makes every later sync() block until `release_syncs`.
    pub(crate) fn hold_syncs(&self) {
        self.lock().hold_syncs = true;
    }

    pub(crate) fn release_syncs(&self) {
        self.lock().hold_syncs = false;
        self.changed.notify_all();
    }

    /// Blocks until a sync has started (and is being held), up to `timeout`.
    pub(crate) fn wait_for_sync_start(&self, timeout: Duration) -> bool {
        let guard = self.lock();
        let (_guard, res) = self
            .changed
            .wait_timeout_while(guard, timeout, |s| !s.records.contains(&Record::SyncStarted))
            .unwrap_or_else(|e| e.into_inner());
        !res.timed_out()
    }

    /// Writes raw bytes behind the store's back, e.g. to simulate corruption.
    pub(crate) fn put_raw(&self, key: &[u8], value: &[u8]) {
        self.lock().data.insert(key.to_vec(), value.to_vec());
    }
}

impl Backend for RecordingBackend {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.lock().data.get(key).cloned())
    }

    fn scan(&self, start: &[u8], end: Option<&[u8]>, visit: &mut Visit<'_>) -> Result<()> {
        // Copy out so `visit` runs without the lock, as it would with sled.
        let entries: Vec<(Vec<u8>, Vec<u8>)> = {
            let state = self.lock();
            let range = state.data.range(start.to_vec()..);
            range
                .take_while(|(k, _)| end.is_none_or(|end| k.as_slice() < end))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        for (k, v) in entries {
            if !visit(&k, &v)? {
                break;
            }
        }
        Ok(())
    }

    fn apply(&self, ops: &[Op]) -> Result<()> {
        let mut state = self.lock();
        for op in ops {
            match op {
                Op::Put(k, v) => state.data.insert(k.clone(), v.clone()),
                Op::Delete(k) => state.data.remove(k),
            };
        }
        state.records.push(Record::Apply(ops.len()));
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        let mut state = self.lock();
        state.records.push(Record::SyncStarted);
        self.changed.notify_all();
        let mut state = self.changed.wait_while(state, |s| s.hold_syncs).unwrap_or_else(|e| e.into_inner());
        state.records.push(Record::Synced);
        Ok(())
    }
}
