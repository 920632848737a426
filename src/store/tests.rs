//! Unit tests of the store's contract: etcd semantics, listing, watching, compaction,
//! restart, and that nothing is acknowledged before it is durable.

use super::recording::{Record, RecordingBackend};
use super::*;
use std::time::{Duration, Instant};
use tokio::time::timeout;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn opts() -> StoreOptions {
    StoreOptions { history_revisions: 1_000_000, compaction_interval: Duration::from_secs(3600) }
}

fn recording() -> (Arc<RecordingBackend>, Store) {
    let backend = Arc::new(RecordingBackend::default());
    let store = Store::open_with_backend(backend.clone(), opts()).expect("open over the recording backend");
    (backend, store)
}

async fn next(w: &mut WatchStream) -> Arc<Event> {
    match timeout(Duration::from_secs(10), w.next()).await {
        Ok(Some(Ok(ev))) => ev,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn create_get_update_delete_follow_etcd_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.current_revision(), 0);
    assert_eq!(store.get("/a").unwrap(), None);

    let a = store.create("/a", b("1")).await.unwrap();
    assert_eq!((a.create_revision, a.mod_revision, &a.value[..]), (1, 1, &b"1"[..]));
    assert!(matches!(store.create("/a", b("again")).await, Err(Error::AlreadyExists(k)) if k == "/a"));
    let bkv = store.create("/b", b("x")).await.unwrap();
    assert_eq!(bkv.mod_revision, 2);

    let a2 = store.update("/a", b("2"), None).await.unwrap();
    assert_eq!((a2.create_revision, a2.mod_revision), (1, 3));
    assert_eq!(store.get("/a").unwrap(), Some(a2.clone()));
    assert!(matches!(store.update("/nope", b("x"), None).await, Err(Error::NotFound(k)) if k == "/nope"));

    let gone = store.delete("/a", None).await.unwrap();
    assert_eq!((gone.create_revision, gone.mod_revision, &gone.value[..]), (1, 4, &b"2"[..]));
    assert_eq!(store.get("/a").unwrap(), None);
    assert!(matches!(store.delete("/a", None).await, Err(Error::NotFound(_))));
    // Failed writes take no revision.
    assert_eq!(store.current_revision(), 4);

    // A key can be created again after its delete, with a new create revision.
    let again = store.create("/a", b("3")).await.unwrap();
    assert_eq!((again.create_revision, again.mod_revision), (5, 5));
    store.close().await;
}

#[tokio::test]
async fn update_and_delete_with_a_stale_revision_conflict() {
    let (_, store) = recording();
    let kv = store.create("/pod", b("v1")).await.unwrap();
    let kv2 = store.update("/pod", b("v2"), Some(kv.mod_revision)).await.unwrap();
    match store.update("/pod", b("v3"), Some(kv.mod_revision)).await {
        Err(Error::Conflict { key, expected, actual }) => assert_eq!((key.as_str(), expected, actual), ("/pod", 1, 2)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(store.delete("/pod", Some(kv.mod_revision)).await, Err(Error::Conflict { .. })));
    assert_eq!(store.get("/pod").unwrap().unwrap().value, b("v2"));
    let deleted = store.delete("/pod", Some(kv2.mod_revision)).await.unwrap();
    assert_eq!(deleted.mod_revision, 3);
}

#[tokio::test]
async fn checks_in_one_batch_see_the_earlier_writes_of_that_batch() {
    let (backend, store) = recording();
    backend.hold_syncs();
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.create("/first", b("1")).await }
    });
    assert!(tokio::task::spawn_blocking({
        let backend = backend.clone();
        move || backend.wait_for_sync_start(Duration::from_secs(10))
    })
    .await
    .unwrap());

    // While revision 1 is being synced, queue these in this order: they form the next batch.
    let mut create = Box::pin(store.create("/x", b("a")));
    let mut update = Box::pin(store.update("/x", b("b"), Some(2)));
    let mut stale = Box::pin(store.delete("/x", Some(2)));
    let mut dup = Box::pin(store.create("/x", b("c")));
    let mut delete = Box::pin(store.delete("/x", Some(3)));
    let mut recreate = Box::pin(store.create("/x", b("d")));
    assert!(futures::poll!(&mut create).is_pending());
    assert!(futures::poll!(&mut update).is_pending());
    assert!(futures::poll!(&mut stale).is_pending());
    assert!(futures::poll!(&mut dup).is_pending());
    assert!(futures::poll!(&mut delete).is_pending());
    assert!(futures::poll!(&mut recreate).is_pending());
    backend.release_syncs();

    assert_eq!(first.await.unwrap().unwrap().mod_revision, 1);
    assert_eq!(create.await.unwrap().mod_revision, 2);
    assert_eq!(update.await.unwrap().mod_revision, 3);
    assert!(matches!(stale.await, Err(Error::Conflict { expected: 2, actual: 3, .. })));
    assert!(matches!(dup.await, Err(Error::AlreadyExists(_))));
    let deleted = delete.await.unwrap();
    assert_eq!((deleted.mod_revision, &deleted.value[..]), (4, &b"b"[..]));
    assert_eq!(recreate.await.unwrap().create_revision, 5);
    // Two groups: revision 1 alone, then revisions 2..=5 in one batch and one sync.
    assert_eq!(backend.syncs(), 2);
    let applies: Vec<_> = backend.records().into_iter().filter(|r| matches!(r, Record::Apply(_))).collect();
    assert_eq!(applies.len(), 2);
}

#[tokio::test]
async fn list_paginates_in_key_order_and_isolates_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    for key in ["/registry/pods/ns/c", "/registry/pods/ns/a", "/registry/pods/ns/b", "/registry/pods/other/d"] {
        store.create(key, b(key)).await.unwrap();
    }
    store.create("/registry/podsecurity/x", b("x")).await.unwrap();
    store.create("/registry/pod", b("y")).await.unwrap();

    let all = store.list("/registry/pods/", None, 0).unwrap();
    let keys: Vec<_> = all.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/registry/pods/ns/a", "/registry/pods/ns/b", "/registry/pods/ns/c", "/registry/pods/other/d"]);
    assert_eq!((all.revision, all.more, all.remaining), (6, false, 0));
    assert_eq!(all.items[0].value, b("/registry/pods/ns/a"));
    assert_eq!(all.items[0].mod_revision, 2);
    assert_eq!(store.count("/registry/pods/").unwrap(), 4);
    assert_eq!(store.count("/registry/pods/ns/").unwrap(), 3);
    assert_eq!(store.count("/registry/").unwrap(), 6);

    let page1 = store.list("/registry/pods/", None, 2).unwrap();
    assert_eq!(page1.items.len(), 2);
    assert_eq!((page1.more, page1.remaining), (true, 2));
    let page2 = store.list("/registry/pods/", Some(&page1.items[1].key), 2).unwrap();
    let keys: Vec<_> = page2.items.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["/registry/pods/ns/c", "/registry/pods/other/d"]);
    assert_eq!((page2.more, page2.remaining), (false, 0));
    let page3 = store.list("/registry/pods/", Some(&page2.items[1].key), 2).unwrap();
    assert!(page3.items.is_empty() && !page3.more);

    // start_after outside the prefix on either side.
    assert_eq!(store.list("/registry/pods/", Some("/a"), 0).unwrap().items.len(), 4);
    assert!(store.list("/registry/pods/", Some("/z"), 0).unwrap().items.is_empty());
    assert!(store.list("/registry/services/", None, 0).unwrap().items.is_empty());
    store.close().await;
}

#[tokio::test]
async fn watch_from_a_past_revision_replays_then_follows_live() {
    let (_, store) = recording();
    store.create("/pods/a", b("a1")).await.unwrap(); // 1
    store.create("/other/x", b("x")).await.unwrap(); // 2
    store.update("/pods/a", b("a2"), None).await.unwrap(); // 3
    store.create("/pods/b", b("b1")).await.unwrap(); // 4

    let mut w = store.watch("/pods/", 1).unwrap();
    let ev = next(&mut w).await;
    assert_eq!((ev.kind, ev.key.as_str(), ev.revision), (EventKind::Updated, "/pods/a", 3));
    assert_eq!((&ev.value[..], ev.prev_value.as_deref()), (&b"a2"[..], Some(&b"a1"[..])));
    let ev = next(&mut w).await;
    assert_eq!((ev.kind, ev.revision, ev.prev_value.clone()), (EventKind::Created, 4, None));

    store.create("/other/y", b("y")).await.unwrap(); // 5
    store.delete("/pods/a", None).await.unwrap(); // 6
    let ev = next(&mut w).await;
    assert_eq!((ev.kind, ev.key.as_str(), ev.revision), (EventKind::Deleted, "/pods/a", 6));
    assert_eq!((&ev.value[..], ev.prev_value.as_deref()), (&b"a2"[..], Some(&b"a2"[..])));

    // From the current revision: only what comes next.
    let mut w2 = store.watch("/", store.current_revision()).unwrap();
    store.create("/pods/c", b("c")).await.unwrap(); // 7
    assert_eq!(next(&mut w2).await.revision, 7);
    assert_eq!(next(&mut w).await.revision, 7);

    store.close().await;
    assert!(timeout(Duration::from_secs(5), w.next()).await.unwrap().is_none());
    assert!(matches!(store.watch("/", 0), Err(Error::Closed)));
}

#[tokio::test]
async fn a_watcher_that_lags_catches_up_from_the_log_without_gaps() {
    let (_, store) = recording();
    let mut w = store.watch("/k/", 0).unwrap();
    let n = EVENT_BUFFER + 1500;
    let writes = (0..n).map(|i| {
        let store = store.clone();
        async move { store.create(&format!("/k/{i:05}"), b("v")).await }
    });
    for r in futures::future::join_all(writes).await {
        r.unwrap();
    }
    // The broadcast kept only the last EVENT_BUFFER events; the rest come from the log.
    for rev in 1..=n as Revision {
        assert_eq!(next(&mut w).await.revision, rev);
    }
    store.create("/k/live", b("v")).await.unwrap();
    assert_eq!(next(&mut w).await.key, "/k/live");
}

#[tokio::test]
async fn watch_from_a_compacted_revision_is_refused() {
    let (_, store) = recording();
    for i in 0..10 {
        store.create(&format!("/k/{i}"), b("v")).await.unwrap();
    }
    store.compact(6).await.unwrap();
    assert_eq!(store.oldest_revision(), 6);
    match store.watch("/k/", 5) {
        Err(Error::Compacted { requested, oldest }) => assert_eq!((requested, oldest), (5, 6)),
        other => panic!("expected Compacted, got {:?}", other.map(|_| ())),
    }
    let mut w = store.watch("/k/", 6).unwrap();
    assert_eq!(next(&mut w).await.revision, 7);

    // Compacting beyond the current revision stops at it; compacting backwards does nothing.
    store.compact(1_000).await.unwrap();
    assert_eq!(store.oldest_revision(), 10);
    store.compact(3).await.unwrap();
    assert_eq!(store.oldest_revision(), 10);

    let mut after_all = store.watch("/k/", 10).unwrap();
    store.create("/k/new", b("v")).await.unwrap();
    assert_eq!(next(&mut after_all).await.revision, 11);
}

#[tokio::test]
async fn a_replaying_watcher_overtaken_by_compaction_gets_compacted() {
    let (_, store) = recording();
    let n = super::watch::REPLAY_CHUNK as i64 * 3;
    let writes = (0..n).map(|i| {
        let store = store.clone();
        async move { store.create(&format!("/k/{i:05}"), b("v")).await }
    });
    futures::future::join_all(writes).await;
    let mut w = store.watch("/k/", 0).unwrap();
    assert_eq!(next(&mut w).await.revision, 1); // one chunk replayed
    store.compact(n - 10).await.unwrap();
    let mut delivered = 1;
    let err = loop {
        match timeout(Duration::from_secs(5), w.next()).await.unwrap() {
            Some(Ok(ev)) => {
                delivered += 1;
                assert_eq!(ev.revision, delivered);
            }
            Some(Err(e)) => break e,
            None => panic!("ended without an error"),
        }
    };
    assert!(
        matches!(err, Error::Compacted { requested, oldest } if requested == delivered && oldest == n - 10),
        "{err:?}"
    );
    assert!(w.next().await.is_none());
}

#[tokio::test]
async fn background_compaction_keeps_the_history_window() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions { history_revisions: 5, compaction_interval: Duration::from_millis(20) };
    let store = Store::open(dir.path(), opts).unwrap();
    for i in 0..20 {
        store.create(&format!("/k/{i}"), b("v")).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.oldest_revision() < 15 {
        assert!(Instant::now() < deadline, "compactor did not run");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(store.oldest_revision(), 15);
    assert!(matches!(store.watch("/k/", 0), Err(Error::Compacted { oldest: 15, .. })));
    let mut w = store.watch("/k/", 15).unwrap();
    assert_eq!(next(&mut w).await.revision, 16);
    // The data itself is never compacted.
    assert_eq!(store.count("/k/").unwrap(), 20);
    store.close().await;
}

#[tokio::test]
async fn restart_recovers_revisions_data_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let (a, bkv) = {
        let store = Store::open(dir.path(), opts()).unwrap();
        store.create("/a", b("1")).await.unwrap();
        store.create("/b", b("1")).await.unwrap();
        let a = store.update("/a", b("2"), Some(1)).await.unwrap();
        store.create("/c", b("1")).await.unwrap();
        store.delete("/c", None).await.unwrap();
        let bkv = store.get("/b").unwrap().unwrap();
        store.compact(2).await.unwrap();
        store.close().await;
        assert!(matches!(store.create("/late", b("x")).await, Err(Error::Closed)));
        (a, bkv)
    };

    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.current_revision(), 5);
    assert_eq!(store.oldest_revision(), 2);
    assert_eq!(store.get("/a").unwrap(), Some(a));
    assert_eq!(store.get("/b").unwrap(), Some(bkv));
    assert_eq!(store.get("/c").unwrap(), None);
    let mut w = store.watch("/", 2).unwrap();
    let replayed: Vec<_> =
        [next(&mut w).await, next(&mut w).await, next(&mut w).await].iter().map(|e| (e.revision, e.kind)).collect();
    assert_eq!(replayed, [(3, EventKind::Updated), (4, EventKind::Created), (5, EventKind::Deleted)]);
    assert_eq!(store.create("/d", b("1")).await.unwrap().mod_revision, 6);
    assert_eq!(next(&mut w).await.revision, 6);
    store.close().await;
}

#[tokio::test]
async fn no_acknowledgement_or_event_before_its_sync() {
    let (backend, store) = recording();
    let mut w = store.watch("/", 0).unwrap();
    backend.hold_syncs();
    let create = tokio::spawn({
        let store = store.clone();
        async move { store.create("/a", b("1")).await }
    });
    let started = tokio::task::spawn_blocking({
        let backend = backend.clone();
        move || backend.wait_for_sync_start(Duration::from_secs(10))
    });
    assert!(started.await.unwrap(), "the writer never synced");
    // Applied (readable) but not durable: neither the writer nor watchers may hear of it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!create.is_finished(), "acknowledged before the sync completed");
    assert!(timeout(Duration::from_millis(50), w.next()).await.is_err(), "event published before the sync");
    assert_eq!(backend.records(), [Record::Apply(3), Record::SyncStarted]);

    backend.release_syncs();
    let kv = create.await.unwrap().unwrap();
    assert_eq!(kv.mod_revision, 1);
    assert_eq!(next(&mut w).await.revision, 1);
    assert_eq!(backend.records(), [Record::Apply(3), Record::SyncStarted, Record::Synced]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_are_group_committed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let n = 500;
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.create(&format!("/c/{i}"), b("v")).await })
        })
        .collect();
    let mut revisions = Vec::new();
    for t in tasks {
        revisions.push(t.await.unwrap().unwrap().mod_revision);
    }
    revisions.sort();
    assert_eq!(revisions, (1..=n).collect::<Vec<_>>());
    assert_eq!(store.count("/c/").unwrap(), n as usize);
    store.close().await;

    // With a sync that takes a while, writers pile up behind it and share the next one.
    let (backend, store) = recording();
    backend.hold_syncs();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.create(&format!("/c/{i}"), b("v")).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    backend.release_syncs();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let syncs = backend.syncs();
    assert!(syncs < n as usize / 10, "{syncs} syncs for {n} writes");
}

#[tokio::test]
async fn writes_after_close_fail_and_queued_writes_finish() {
    let (_, store) = recording();
    let queued: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.create(&format!("/q/{i}"), b("v")).await })
        })
        .collect();
    tokio::task::yield_now().await;
    store.close().await;
    for t in queued {
        // Each either made it in before close, or was refused: never lost silently.
        match t.await.unwrap() {
            Ok(kv) => assert_eq!(store.get(&kv.key).unwrap(), Some(kv)),
            Err(e) => assert!(matches!(e, Error::Closed), "{e}"),
        }
    }
    assert!(matches!(store.create("/late", b("x")).await, Err(Error::Closed)));
    assert!(matches!(store.update("/late", b("x"), None).await, Err(Error::Closed)));
    store.close().await; // twice is fine
}

#[tokio::test]
async fn corrupt_entries_are_errors_not_panics() {
    let (backend, store) = recording();
    backend.put_raw(b"k//bad", b"short");
    assert!(matches!(store.get("/bad"), Err(Error::Backend(_))));
    assert!(matches!(store.list("/", None, 0), Err(Error::Backend(_))));
    assert!(matches!(store.update("/bad", b("x"), None).await, Err(Error::Backend(_))));
    // The store keeps working for other keys.
    assert_eq!(store.create("/good", b("x")).await.unwrap().mod_revision, 1);

    let corrupt = Arc::new(RecordingBackend::default());
    corrupt.put_raw(codec::META_REVISION, b"\x01");
    assert!(matches!(Store::open_with_backend(corrupt, opts()), Err(Error::Backend(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_watchers_each_see_a_write_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let start = store.current_revision();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..100 {
        let mut w = store.watch("/w/", start).unwrap();
        let tx = tx.clone();
        tokio::spawn(async move {
            if let Some(Ok(ev)) = w.next().await {
                let _ = tx.send((ev.revision, Instant::now()));
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    store.create("/w/x", b("v")).await.unwrap();
    let acked = Instant::now();
    let mut worst = Duration::ZERO;
    for _ in 0..100 {
        let (rev, at) = timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
        assert_eq!(rev, start + 1);
        worst = worst.max(at.saturating_duration_since(acked));
    }
    eprintln!("100 watchers: the slowest saw the event {worst:?} after the ack");
    // Typically well under a millisecond; the bound leaves room for a loaded CI machine.
    assert!(worst < Duration::from_millis(100), "slowest watcher saw the event {worst:?} after the ack");
    store.close().await;
}

#[tokio::test]
async fn listing_ten_thousand_keys_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let value = Bytes::from(vec![b'x'; 500]);
    for chunk in (0..10_000).collect::<Vec<_>>().chunks(1000) {
        let writes = chunk.iter().map(|i| store.create_owned(format!("/registry/pods/ns/pod-{i:05}"), value.clone()));
        for r in futures::future::join_all(writes).await {
            r.unwrap();
        }
    }
    let started = Instant::now();
    let all = store.list("/registry/pods/", None, 0).unwrap();
    let took = started.elapsed();
    assert_eq!(all.items.len(), 10_000);
    assert_eq!(all.revision, 10_000);
    eprintln!("listed 10,000 keys of 500 bytes in {took:?}");
    if !cfg!(debug_assertions) {
        assert!(took < Duration::from_millis(100), "list took {took:?}");
    }
    store.close().await;
}

fn keys(res: &ListResult) -> Vec<&str> {
    res.items.iter().map(|kv| kv.key.as_str()).collect()
}

/// Every page of `list_at(prefix, .., revision)` with `limit`, chained by start_after, checking
/// each page's `more`/`remaining` against what is left of `expected`.
fn paginate_at(store: &Store, prefix: &str, revision: Revision, limit: usize, expected: &[KeyValue]) {
    let mut got: Vec<KeyValue> = Vec::new();
    loop {
        let after = got.last().map(|kv| kv.key.clone());
        let page = store.list_at(prefix, after.as_deref(), limit, revision).unwrap();
        assert_eq!(page.revision, revision);
        assert!(page.items.len() <= limit);
        got.extend(page.items.iter().cloned());
        let left = expected.len() - got.len().min(expected.len());
        assert_eq!((page.more, page.remaining), (left > 0, left), "page after {after:?}, limit {limit}");
        if !page.more {
            break;
        }
    }
    assert_eq!(got, expected, "pages of {limit} at {revision}");
}

#[tokio::test]
async fn list_at_a_past_revision_shows_the_state_then() {
    let (_, store) = recording();
    let letters: Vec<String> = ('a'..='z').map(|c| c.to_string()).collect();
    for l in &letters {
        store.create(&format!("/r/{l}"), b(&format!("{l}1"))).await.unwrap();
    }
    store.update("/r/d", b("d2"), None).await.unwrap();
    store.create("/other/x", b("x")).await.unwrap();
    let r = store.current_revision();
    let then = store.list("/r/", None, 0).unwrap();
    assert_eq!(then.items.len(), 26);

    store.create("/r/zz", b("zz")).await.unwrap();
    store.update("/r/b", b("b2"), None).await.unwrap();
    store.delete("/r/c", None).await.unwrap();
    // Several changes to one key: the first after R tells its state at R.
    store.update("/r/d", b("d3"), None).await.unwrap();
    store.delete("/r/d", None).await.unwrap();
    store.create("/r/d", b("d4")).await.unwrap();
    // Created and gone again after R: never visible at R.
    store.create("/r/new", b("n")).await.unwrap();
    store.delete("/r/new", None).await.unwrap();
    store.update("/other/x", b("x2"), None).await.unwrap();
    store.create("/r0", b("next to the prefix")).await.unwrap();

    let past = store.list_at("/r/", None, 0, r).unwrap();
    assert_eq!((past.revision, past.more, past.remaining), (r, false, 0));
    assert_eq!(past.items, then.items);
    let by_key = |k: &str| past.items.iter().find(|kv| kv.key == k).cloned().unwrap();
    let bkv = by_key("/r/b");
    assert_eq!((&bkv.value[..], bkv.create_revision, bkv.mod_revision), (&b"b1"[..], 2, 2));
    assert_eq!(&by_key("/r/c").value[..], b"c1");
    let d = by_key("/r/d");
    assert_eq!((&d.value[..], d.create_revision, d.mod_revision), (&b"d2"[..], 4, 27));
    assert!(!keys(&past).contains(&"/r/zz") && !keys(&past).contains(&"/r/new"));

    // Now, for contrast: zz and the new d, no c.
    let now = store.list("/r/", None, 0).unwrap();
    assert!(keys(&now).contains(&"/r/zz") && !keys(&now).contains(&"/r/c"));
    assert_eq!(store.get("/r/d").unwrap().unwrap().create_revision, r + 6);

    // Pagination at R, from any point, including a key deleted since and one created since.
    for limit in [1, 2, 5, 25, 26, 27] {
        paginate_at(&store, "/r/", r, limit, &then.items);
    }
    let after_c = store.list_at("/r/", Some("/r/c"), 3, r).unwrap();
    assert_eq!(keys(&after_c), ["/r/d", "/r/e", "/r/f"]);
    assert_eq!((after_c.more, after_c.remaining), (true, 20));
    let after_b = store.list_at("/r/", Some("/r/b"), 1, r).unwrap();
    assert_eq!((keys(&after_b), after_b.remaining), (vec!["/r/c"], 23));
    let after_z = store.list_at("/r/", Some("/r/z"), 0, r).unwrap();
    assert!(after_z.items.is_empty() && !after_z.more);
    assert_eq!(store.list_at("/r/", Some("/a"), 0, r).unwrap().items, then.items);
    assert!(store.list_at("/r/", Some("/s"), 0, r).unwrap().items.is_empty());
    assert_eq!(store.list_at("/other/", None, 0, r).unwrap().items[0].value, b("x"));
    assert!(store.list_at("/nothing/", None, 0, r).unwrap().items.is_empty());

    // At revision 1 only /r/a existed; at each revision, the keys created up to it.
    assert_eq!(keys(&store.list_at("/", None, 0, 1).unwrap()), ["/r/a"]);
    let at10 = store.list_at("/r/", None, 0, 10).unwrap();
    assert_eq!(keys(&at10), letters[..10].iter().map(|l| format!("/r/{l}")).collect::<Vec<_>>());
    let d = &at10.items[3];
    assert_eq!((&d.value[..], d.create_revision, d.mod_revision), (&b"d1"[..], 4, 4));
    store.close().await;
}

#[tokio::test]
async fn list_at_the_current_revision_is_list() {
    let (_, store) = recording();
    for i in 0..20 {
        store.create(&format!("/k/{i:02}"), b("v")).await.unwrap();
    }
    store.update("/k/03", b("w"), None).await.unwrap();
    store.delete("/k/04", None).await.unwrap();
    let current = store.current_revision();
    for (after, limit) in [(None, 0), (None, 5), (Some("/k/04"), 3), (Some("/k/10"), 0), (Some("/k/19"), 2)] {
        let list = store.list("/k/", after, limit).unwrap();
        // 0 and below mean the current revision, as in etcd.
        for rev in [current, 0, -1] {
            let at = store.list_at("/k/", after, limit, rev).unwrap();
            assert_eq!((&at.items, at.revision, at.more, at.remaining), (&list.items, list.revision, list.more, list.remaining));
        }
    }
    match store.list_at("/k/", None, 0, current + 1) {
        Err(Error::FutureRevision { requested, current: c }) => assert_eq!((requested, c), (current + 1, current)),
        other => panic!("expected FutureRevision, got {other:?}"),
    }
    store.close().await;
}

#[tokio::test]
async fn list_at_a_compacted_revision_is_refused() {
    let (_, store) = recording();
    for i in 0..10 {
        store.create(&format!("/k/{i}"), b("v")).await.unwrap();
    }
    store.delete("/k/0", None).await.unwrap(); // 11
    store.compact(6).await.unwrap();
    match store.list_at("/k/", None, 0, 5) {
        Err(Error::Compacted { requested, oldest }) => assert_eq!((requested, oldest), (5, 6)),
        other => panic!("expected Compacted, got {other:?}"),
    }
    // The oldest revision itself is still readable: the log after it is all there.
    let at6 = store.list_at("/k/", None, 0, 6).unwrap();
    assert_eq!(keys(&at6), ["/k/0", "/k/1", "/k/2", "/k/3", "/k/4", "/k/5"]);
    store.compact(11).await.unwrap();
    assert!(matches!(store.list_at("/k/", None, 0, 10), Err(Error::Compacted { oldest: 11, .. })));
    assert_eq!(store.list_at("/k/", None, 0, 11).unwrap().items.len(), 9);
    store.close().await;
}

#[tokio::test]
async fn list_at_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (r, then) = {
        let store = Store::open(dir.path(), opts()).unwrap();
        for k in ["a", "b", "c"] {
            store.create(&format!("/p/{k}"), b(k)).await.unwrap();
        }
        let r = store.current_revision();
        let then = store.list("/p/", None, 0).unwrap();
        store.create("/p/zz", b("zz")).await.unwrap();
        store.update("/p/b", b("b2"), None).await.unwrap();
        store.delete("/p/c", None).await.unwrap();
        assert_eq!(store.list_at("/p/", None, 0, r).unwrap().items, then.items);
        store.close().await;
        (r, then)
    };
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.list_at("/p/", None, 0, r).unwrap().items, then.items);
    paginate_at(&store, "/p/", r, 2, &then.items);
    // Writes after the restart log the same way.
    store.update("/p/a", b("a2"), None).await.unwrap();
    assert_eq!(store.list_at("/p/", None, 0, r).unwrap().items, then.items);
    store.close().await;
}

/// Random writes over a few keys, remembering `list` at every revision; then `list_at` at every
/// revision, with every prefix, start_after and limit, must give back exactly that.
#[tokio::test]
async fn list_at_matches_list_taken_at_every_revision() {
    let (_, store) = recording();
    let names: Vec<String> = ["/a/1", "/a/2", "/a/3", "/a/30", "/b/1", "/b/2", "/ab", "/c"].map(String::from).into();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut rand = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    // Revision 0 is not addressable (0 means "current", as in etcd): start from 1.
    let mut snapshots = Vec::new();
    while snapshots.len() < 300 {
        let key = &names[rand(names.len())];
        let value = b(&format!("v{}", snapshots.len()));
        let done = match (store.get(key).unwrap(), rand(3)) {
            (None, _) => store.create(key, value).await.is_ok(),
            (Some(_), 0) => store.delete(key, None).await.is_ok(),
            (Some(_), _) => store.update(key, value, None).await.is_ok(),
        };
        assert!(done);
        snapshots.push((store.current_revision(), store.list("/", None, 0).unwrap()));
    }
    for (rev, snapshot) in &snapshots {
        for prefix in ["/", "/a/", "/a/3", "/b", "/c", "/d"] {
            let expected: Vec<KeyValue> =
                snapshot.items.iter().filter(|kv| kv.key.starts_with(prefix)).cloned().collect();
            let rev = *rev;
            assert_eq!(store.list_at(prefix, None, 0, rev).unwrap().items, expected, "{prefix} at {rev}");
            for limit in [1, 2, 3] {
                paginate_at(&store, prefix, rev, limit, &expected);
            }
            for after in ["/a/2", "/a/3", "/ab", "/b/0"] {
                let rest: Vec<KeyValue> = expected.iter().filter(|kv| kv.key.as_str() > after).cloned().collect();
                let page = store.list_at(prefix, Some(after), 1, rev).unwrap();
                assert_eq!(page.items, rest[..rest.len().min(1)], "{prefix} after {after} at {rev}");
                assert_eq!(page.remaining, rest.len().saturating_sub(1));
            }
        }
    }
    store.close().await;
}

/// Reads at R while writers and the compactor run: always exactly the state at R, or Compacted
/// once the compactor passes R, never a mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_at_is_consistent_under_concurrent_writes_and_compaction() {
    let (_, store) = recording();
    for i in 0..200 {
        store.create(&format!("/k/{i:03}"), b("v0")).await.unwrap();
    }
    let r = store.current_revision();
    let then = store.list("/k/", None, 0).unwrap();
    // Reads start once the writers are under way; the writers stop after the reads, or after
    // a bounded number of writes (each read scans the whole log since R).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                for i in 0..1000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("/k/{:03}", (i * 7 + w * 50) % 200);
                    let _ = match i % 5 {
                        0 => store.delete(&key, None).await,
                        1 => store.create(&key, b("again")).await,
                        _ => store.update(&key, b(&format!("w{w}-{i}")), None).await,
                    };
                    let _ = store.create(&format!("/k/{w}-{i}"), b("new")).await;
                }
            })
        })
        .collect();
    while store.current_revision() < r + 100 {
        tokio::task::yield_now().await;
    }
    let first_read = store.current_revision();
    for _ in 0..20 {
        paginate_at(&store, "/k/", r, 37, &then.items);
        assert_eq!(store.list_at("/k/", None, 0, r).unwrap().items, then.items);
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    eprintln!("20 reads at {r} while the writers went from {first_read} to {}", store.current_revision());

    let compactor = tokio::spawn({
        let store = store.clone();
        async move {
            for upto in (r - 50..r + 500).step_by(10) {
                store.compact(upto).await.unwrap();
                tokio::task::yield_now().await;
            }
        }
    });
    let mut refused = false;
    while !refused {
        match store.list_at("/k/", None, 0, r) {
            Ok(past) => assert_eq!(past.items, then.items),
            Err(Error::Compacted { requested, oldest }) => {
                assert!(requested == r && oldest > r, "{requested} {oldest}");
                refused = true;
            }
            Err(e) => panic!("{e}"),
        }
        tokio::task::yield_now().await;
    }
    compactor.await.unwrap();
    store.close().await;
}

#[tokio::test]
async fn a_store_with_an_older_log_format_is_refused_at_open() {
    let old = Arc::new(recording::RecordingBackend::default());
    old.put_raw(codec::META_REVISION, &1i64.to_be_bytes());
    old.put_raw(&codec::data_key("/a"), &codec::encode_value(1, 1, b"v"));
    // Format 1: a bare kind byte (Created), the key, the value.
    old.put_raw(&codec::log_key(1), &[1, 0, 0, 0, 2, b'/', b'a', b'v']);
    match Store::open_with_backend(old, opts()) {
        Err(Error::Backend(msg)) => assert!(msg.contains("format 1"), "{msg}"),
        other => panic!("expected a format error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn list_at_with_ten_thousand_keys_and_a_thousand_writes_since_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let value = Bytes::from(vec![b'x'; 500]);
    let key = |i: usize| format!("/registry/pods/ns/pod-{i:05}");
    for chunk in (0..10_000).collect::<Vec<_>>().chunks(1000) {
        let writes = chunk.iter().map(|i| store.create_owned(key(*i), value.clone()));
        for r in futures::future::join_all(writes).await {
            r.unwrap();
        }
    }
    let r = store.current_revision();
    let then = store.list("/registry/pods/", None, 0).unwrap();
    // 1,000 writes since R: updates, deletes and creates spread over the range.
    for i in 0..1000 {
        match i % 4 {
            0 => store.delete(&key(i * 10), None).await.map(|_| ()),
            1 => store.create_owned(format!("{}-new", key(i * 10)), value.clone()).await.map(|_| ()),
            _ => store.update(&key(i * 10 + 1), value.slice(..400), None).await.map(|_| ()),
        }
        .unwrap();
    }
    assert_eq!(store.current_revision(), r + 1000);

    let started = Instant::now();
    let past = store.list_at("/registry/pods/", None, 0, r).unwrap();
    let took_past = started.elapsed();
    assert_eq!(past.items, then.items);
    let started = Instant::now();
    let page = store.list_at("/registry/pods/", Some(&key(4999)), 500, r).unwrap();
    let took_page = started.elapsed();
    assert_eq!((&page.items[..], page.remaining), (&then.items[5000..5500], 4500));
    let started = Instant::now();
    let list = store.list("/registry/pods/", None, 0).unwrap();
    let took_list = started.elapsed();
    let started = Instant::now();
    let current = store.list_at("/registry/pods/", None, 0, store.current_revision()).unwrap();
    let took_current = started.elapsed();
    assert_eq!(current.items, list.items);
    eprintln!(
        "10,000 keys, 1,000 writes since R: list_at(R) {took_past:?}, a 500-key page at R {took_page:?}, \
         list {took_list:?}, list_at(current) {took_current:?}"
    );
    if !cfg!(debug_assertions) {
        assert!(took_past < Duration::from_millis(100), "list_at took {took_past:?}");
        assert!(took_page < Duration::from_millis(100), "a page at R took {took_page:?}");
        assert!(took_current < Duration::from_millis(100), "list_at(current) took {took_current:?}");
    }
    store.close().await;
}

impl Store {
    /// For tests that build many write futures at once.
    async fn create_owned(&self, key: String, value: Bytes) -> Result<KeyValue> {
        self.create(&key, value).await
    }
}

/// Run by `acknowledged_writes_survive_kill_9` in a child process, which it kills.
#[tokio::test]
#[ignore = "helper for acknowledged_writes_survive_kill_9"]
async fn crash_child() {
    let Some(dir) = std::env::var_os("STORE_CRASH_DIR") else { return };
    let store = Store::open(std::path::Path::new(&dir), opts()).unwrap();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let key = format!("/crash/{w}/{i}");
                    let kv = store.create(&key, b(&key)).await.unwrap();
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "ACK {} {}", kv.key, kv.mod_revision);
                    let _ = out.flush();
                }
            })
        })
        .collect();
    for w in writers {
        let _ = w.await;
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "store::tests::crash_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("STORE_CRASH_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("ACK ") {
                let (key, rev) = rest.split_once(' ').unwrap();
                acks.push((key.to_owned(), rev.parse::<Revision>().unwrap()));
            }
        }
        acks
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let acks = tokio::task::spawn_blocking(move || reader.join().unwrap()).await.unwrap();
    assert!(acks.len() > 50, "the child acknowledged only {} writes", acks.len());

    let store = Store::open(dir.path(), opts()).unwrap();
    let max = acks.iter().map(|(_, r)| *r).max().unwrap();
    assert!(store.current_revision() >= max);
    for (key, rev) in &acks {
        let kv = store.get(key).unwrap().unwrap_or_else(|| panic!("acknowledged {key} at {rev} was lost"));
        assert_eq!(kv.mod_revision, *rev);
    }
    // The log is intact up to the recovered revision: a full replay has no gaps.
    let mut w = store.watch("/", 0).unwrap();
    for rev in 1..=store.current_revision() {
        assert_eq!(next(&mut w).await.revision, rev);
    }
    eprintln!("{} acknowledged writes survived kill -9; recovered revision {}", acks.len(), store.current_revision());
    store.close().await;
}
