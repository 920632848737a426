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
