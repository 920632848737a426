//! Watch streams: replay the persisted event log after a revision, then follow the writer's
//! live broadcast, falling back to the log whenever the broadcast lags.

use super::codec::{decode_event, decode_log_key, event_key, log_key};
use super::{Error, Event, Result, Revision, Shared};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

/// Most log entries read per replay step, so one step never holds readers for long.
pub(super) const REPLAY_CHUNK: usize = 1024;

/// A stream of events for keys under one prefix, in revision order.
pub struct WatchStream {
    shared: Weak<Shared>,
    closed: CancellationToken,
    live: broadcast::Receiver<Arc<Event>>,
    prefix: String,
    /// Every revision up to and including this one has been delivered or filtered out.
    seen: Revision,
    /// True while revisions after `seen` must come from the log rather than `live`.
    replaying: bool,
    ready: VecDeque<Arc<Event>>,
    /// Delivered once `ready` is drained; the stream ends after it.
    failure: Option<Error>,
    done: bool,
}

impl WatchStream {
    /// `live` must have been subscribed before anything is replayed, so that every revision
    /// after the replay's end reaches it.
    pub(crate) fn new(
        shared: &Arc<Shared>,
        live: broadcast::Receiver<Arc<Event>>,
        prefix: &str,
        after: Revision,
    ) -> WatchStream {
        WatchStream {
            shared: Arc::downgrade(shared),
            closed: shared.closed.clone(),
            live,
            prefix: prefix.to_owned(),
            seen: after,
            replaying: true,
            ready: VecDeque::new(),
            failure: None,
            done: false,
        }
    }

    /// The next event; `Some(Err(Compacted))` if this watcher fell behind compaction;
    /// `None` when the store closes.
    pub async fn next(&mut self) -> Option<Result<Arc<Event>>> {
        loop {
            if self.done || self.closed.is_cancelled() {
                self.done = true;
                return None;
            }
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            if let Some(e) = self.failure.take() {
                self.done = true;
                return Some(Err(e));
            }
            if self.replaying {
                let Some(shared) = self.shared.upgrade() else {
                    self.done = true;
                    return None;
                };
                self.replaying = !self.replay_chunk(&shared);
                drop(shared);
                if self.replaying && self.ready.is_empty() && self.failure.is_none() {
                    // A long replay of other prefixes' history: let other tasks run between chunks.
                    tokio::task::yield_now().await;
                }
                continue;
            }
            let received = tokio::select! {
                biased;
                _ = self.closed.cancelled() => continue,
                received = self.live.recv() => received,
            };
            match received {
                Ok(event) if event.revision <= self.seen => {}
                Ok(event) if event.revision == self.seen + 1 => {
                    self.seen = event.revision;
                    if event.key.starts_with(&self.prefix) {
                        return Some(Ok(event));
                    }
                }
                // A gap (events that were never published) or a lag: the durable log has them all.
                Ok(_) | Err(RecvError::Lagged(_)) => self.replaying = true,
                Err(RecvError::Closed) => {
                    self.done = true;
                    return None;
                }
            }
        }
    }

    /// Reads one chunk of the log after `seen` into `ready`; true when it reached the durable
    /// end of the log, so that live events can take over (or when it failed).
    fn replay_chunk(&mut self, shared: &Shared) -> bool {
        let oldest = shared.compacted.load(Ordering::Acquire);
        if self.seen < oldest {
            self.failure = Some(Error::Compacted { requested: self.seen, oldest });
            return true;
        }
        // Only what is durable: events must never run ahead of acknowledgements. Entries up to
        // `durable` are complete and unchanging, except for compaction deleting old ones.
        let durable = shared.durable.load(Ordering::Acquire);
        if self.seen >= durable {
            return true;
        }
        let mut next = self.seen + 1;
        let mut gap = None;
        let mut scanned = 0;
        let prefix = self.prefix.as_bytes();
        let ready = &mut self.ready;
        let scan = shared.backend.scan(&log_key(next), Some(&log_key(durable + 1)), &mut |k, v| {
            let revision = decode_log_key(k)?;
            if revision != next {
                gap = Some(revision);
                return Ok(false);
            }
            if event_key(revision, v)?.starts_with(prefix) {
                ready.push_back(Arc::new(decode_event(revision, v)?));
            }
            next += 1;
            scanned += 1;
            Ok(scanned < REPLAY_CHUNK)
        });
        self.seen = next - 1;
        if let Err(e) = scan {
            self.failure = Some(e);
            return true;
        }
        // Every revision up to `durable` has exactly one log entry, so a hole, or a log that
        // ends before `durable`, means compaction deleted entries while this scan ran.
        let finished = gap.is_some() || self.seen >= durable;
        if gap.is_some() || (scanned < REPLAY_CHUNK && self.seen < durable) {
            let oldest = shared.compacted.load(Ordering::Acquire).max(gap.map_or(0, |g| g - 1));
            self.failure = Some(Error::Compacted { requested: self.seen, oldest });
            return true;
        }
        finished
    }
}
