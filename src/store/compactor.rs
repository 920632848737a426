//! Compaction of the event log: drops entries older than the history window in small
//! batches, off the async workers, so that writes and reads are never stalled for long.

use super::backend::Op;
use super::codec::{encode_revision, log_key, LOG_PREFIX, META_COMPACTED};
use super::{Error, Result, Revision, Shared, StoreOptions};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Log entries deleted per batch.
const DELETE_BATCH: usize = 1000;

/// Every `compaction_interval`, compacts all but the last `history_revisions` revisions.
pub(crate) fn spawn(
    runtime: &tokio::runtime::Handle,
    shared: Weak<Shared>,
    closed: CancellationToken,
    opts: &StoreOptions,
) -> JoinHandle<()> {
    let period = opts.compaction_interval.max(Duration::from_millis(10));
    let history = opts.history_revisions.max(0);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = closed.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let Some(shared) = shared.upgrade() else { return };
            let target = shared.durable.load(Ordering::Acquire) - history;
            if let Err(e) = compact(&shared, target).await {
                tracing::warn!(error = %e, target, "compacting the store's event log");
            }
        }
    })
}

/// Makes `upto` (clamped to the last durable revision) the oldest revision a watch can start
/// after, then deletes the log entries at or below it.
pub(crate) async fn compact(shared: &Arc<Shared>, upto: Revision) -> Result<()> {
    let _one_at_a_time = shared.compaction.lock().await;
    // Never past what watchers may have been sent: they can still need the log up to there.
    let target = upto.min(shared.durable.load(Ordering::Acquire));
    if target <= shared.compacted.load(Ordering::Acquire) {
        return Ok(());
    }
    // Raise the watermark before deleting anything: new watches are refused from here on and
    // replaying watches notice the hole instead of silently skipping it.
    shared.compacted.fetch_max(target, Ordering::AcqRel);
    let backend = shared.clone();
    blocking(move || backend.backend.apply(&[Op::Put(META_COMPACTED.to_vec(), encode_revision(target))])).await?;

    let end = log_key(target + 1);
    while !shared.closed.is_cancelled() {
        let (backend, end) = (shared.clone(), end.clone());
        let deleted = blocking(move || {
            let mut batch = Vec::with_capacity(DELETE_BATCH);
            backend.backend.scan(LOG_PREFIX, Some(&end), &mut |k, _| {
                batch.push(Op::Delete(k.to_vec()));
                Ok(batch.len() < DELETE_BATCH)
            })?;
            if !batch.is_empty() {
                backend.backend.apply(&batch)?;
            }
            Ok(batch.len())
        })
        .await?;
        if deleted < DELETE_BATCH {
            break;
        }
        tokio::task::yield_now().await;
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Backend(format!("compaction task failed: {e}")))?
}
