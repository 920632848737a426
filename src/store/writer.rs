//! The single writer: a dedicated thread that group-commits queued writes (check, assign
//! revisions, one atomic batch, one sync) and only then acknowledges and publishes them.

use super::backend::Op;
use super::codec::{data_key, decode_kv, encode_event, encode_revision, encode_value, log_key, META_REVISION};
use super::{Error, Event, EventKind, KeyValue, Result, Revision, Shared};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// Most writes committed by one batch (one sync).
const MAX_BATCH: usize = 1024;

pub(crate) enum WriteOp {
    Create { key: String, value: Bytes },
    Update { key: String, value: Bytes, expected: Option<Revision> },
    Delete { key: String, expected: Option<Revision> },
}

impl WriteOp {
    fn key(&self) -> &str {
        match self {
            WriteOp::Create { key, .. } | WriteOp::Update { key, .. } | WriteOp::Delete { key, .. } => key,
        }
    }
}

pub(crate) type Reply = oneshot::Sender<Result<KeyValue>>;

pub(crate) enum Request {
    Write(WriteOp, Reply),
    /// Finish what is queued, refuse anything later, then stop.
    Close,
}

struct Writer {
    shared: Arc<Shared>,
    requests: mpsc::Receiver<Request>,
    /// Set after a failed sync: nothing is known to be durable any more, so refuse writes.
    broken: Option<String>,
}

/// Starts the writer thread; `stopped` turns true once it has exited and let go of `shared`.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    requests: mpsc::Receiver<Request>,
    stopped: watch::Sender<bool>,
) -> Result<()> {
    let writer = Writer { shared, requests, broken: None };
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            writer.run();
            stopped.send_replace(true);
        })
        .map(|_| ())
        .map_err(|e| Error::Backend(format!("spawning the store writer thread: {e}")))
}

impl Writer {
    fn run(mut self) {
        let mut queue = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = self.requests.blocking_recv() {
            queue.push(first);
            while queue.len() < MAX_BATCH {
                match self.requests.try_recv() {
                    Ok(r) => queue.push(r),
                    Err(_) => break,
                }
            }
            let mut writes = Vec::with_capacity(queue.len());
            for request in queue.drain(..) {
                match request {
                    Request::Write(op, reply) => writes.push((op, reply)),
                    // Later sends fail; whatever is already queued is still drained and committed.
                    Request::Close => self.requests.close(),
                }
            }
            if !writes.is_empty() {
                self.commit(writes);
            }
        }
        // Compaction deletes are not synced on their own; make them durable on the way out.
        if self.broken.is_none() {
            if let Err(e) = self.shared.backend.sync() {
                tracing::error!(error = %e, "final sync of the store failed");
            }
        }
    }

    /// Commits one group: every acknowledgement and event waits for the batch's sync.
    fn commit(&mut self, writes: Vec<(WriteOp, Reply)>) {
        if let Some(reason) = &self.broken {
            for (_, reply) in writes {
                let _ = reply.send(Err(Error::Backend(reason.clone())));
            }
            return;
        }
        let base = self.shared.revision.load(Ordering::Acquire);
        let mut batch = Batch { revision: base, overlay: HashMap::new(), ops: Vec::new(), events: Vec::new() };
        let mut outcomes = Vec::with_capacity(writes.len());
        for (op, reply) in writes {
            let outcome = self.stage(op, &mut batch);
            outcomes.push((reply, outcome));
        }

        if batch.revision != base {
            batch.ops.push(Op::Put(META_REVISION.to_vec(), encode_revision(batch.revision)));
            if let Err(e) = self.persist(&batch.ops, batch.revision) {
                let what = format!("committing revisions {}..={}: {e}", base + 1, batch.revision);
                tracing::error!("{what}");
                for (_, outcome) in outcomes.iter_mut() {
                    if outcome.is_ok() {
                        *outcome = Err(Error::Backend(what.clone()));
                    }
                }
                batch.events.clear();
            }
        }

        for event in batch.events {
            // No receivers is fine: nobody is watching.
            let _ = self.shared.events.send(event);
        }
        for (reply, outcome) in outcomes {
            // The caller may have gone away; the write stands regardless.
            let _ = reply.send(outcome);
        }
    }

    /// Applies the batch while holding readers off, then syncs with readers allowed back in.
    fn persist(&mut self, ops: &[Op], revision: Revision) -> Result<()> {
        {
            let _exclusive = self.shared.snapshot.write().unwrap_or_else(|e| e.into_inner());
            self.shared.backend.apply(ops)?;
            self.shared.revision.store(revision, Ordering::Release);
        }
        if let Err(e) = self.shared.backend.sync() {
            self.broken = Some(format!("the store refuses writes after a failed sync: {e}"));
            return Err(e);
        }
        // Before publishing: a watcher that replays up to here gets the rest live.
        self.shared.durable.store(revision, Ordering::Release);
        Ok(())
    }

    /// Checks one write against the state including earlier writes of the same batch and,
    /// if it passes, adds its changes and event to the batch.
    fn stage(&self, op: WriteOp, batch: &mut Batch) -> Result<KeyValue> {
        let current = match batch.overlay.get(op.key()) {
            Some(staged) => staged.clone(),
            None => self.read_current(op.key())?,
        };
        let revision = batch.revision + 1;
        // The third element: the mod revision of the value this write replaces (0 if none).
        let (kv, event, prev_mod_revision) = match (op, current) {
            (WriteOp::Create { key, .. }, Some(_)) => return Err(Error::AlreadyExists(key)),
            (WriteOp::Create { key, value }, None) => {
                let kv = KeyValue { key, value, create_revision: revision, mod_revision: revision };
                let event = event(EventKind::Created, &kv, None);
                (kv, event, 0)
            }
            (WriteOp::Update { key, .. } | WriteOp::Delete { key, .. }, None) => return Err(Error::NotFound(key)),
            (
                WriteOp::Update { key, expected: Some(expected), .. }
                | WriteOp::Delete { key, expected: Some(expected) },
                Some(cur),
            ) if expected != cur.mod_revision => {
                return Err(Error::Conflict { key, expected, actual: cur.mod_revision })
            }
            (WriteOp::Update { key, value, .. }, Some(cur)) => {
                let kv = KeyValue { key, value, create_revision: cur.create_revision, mod_revision: revision };
                let event = event(EventKind::Updated, &kv, Some(cur.value));
                (kv, event, cur.mod_revision)
            }
            (WriteOp::Delete { key, .. }, Some(cur)) => {
                let kv =
                    KeyValue { key, value: cur.value, create_revision: cur.create_revision, mod_revision: revision };
                let event = event(EventKind::Deleted, &kv, Some(kv.value.clone()));
                (kv, event, cur.mod_revision)
            }
        };

        batch.revision = revision;
        let dkey = data_key(&kv.key);
        match event.kind {
            EventKind::Deleted => {
                batch.ops.push(Op::Delete(dkey));
                batch.overlay.insert(kv.key.clone(), None);
            }
            EventKind::Created | EventKind::Updated => {
                batch.ops.push(Op::Put(dkey, encode_value(kv.create_revision, kv.mod_revision, &kv.value)));
                batch.overlay.insert(kv.key.clone(), Some(kv.clone()));
            }
        }
        let logged = encode_event(&event, kv.create_revision, prev_mod_revision);
        batch.ops.push(Op::Put(log_key(revision), logged));
        batch.events.push(Arc::new(event));
        Ok(kv)
    }

    fn read_current(&self, key: &str) -> Result<Option<KeyValue>> {
        let dkey = data_key(key);
        match self.shared.backend.get(&dkey)? {
            Some(raw) => decode_kv(&dkey, &raw).map(Some),
            None => Ok(None),
        }
    }
}

/// One group commit being assembled.
struct Batch {
    /// The revision of the last staged write.
    revision: Revision,
    /// Keys written earlier in this batch: their new value, or None if deleted.
    overlay: HashMap<String, Option<KeyValue>>,
    ops: Vec<Op>,
    events: Vec<Arc<Event>>,
}

fn event(kind: EventKind, kv: &KeyValue, prev_value: Option<Bytes>) -> Event {
    Event { kind, key: kv.key.clone(), revision: kv.mod_revision, value: kv.value.clone(), prev_value }
}
