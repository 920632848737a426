//! The on-disk layout of the store's single tree: key prefixes and the byte encodings of
//! current values (`k/`), the event log (`l/`) and metadata (`m/`). Only the store uses it.
//!
//! ```text
//! k/<key>                  -> create_rev:i64be  mod_rev:i64be  value
//! l/<revision:u64be>       -> head:u8  create_rev:i64be  prev_mod_rev:i64be
//!                             key_len:u32be  key  [prev_len:u32be prev]  value
//! m/rev                    -> i64be, the revision of the last applied write
//! m/compacted              -> i64be, log entries at or below it may be gone
//! ```
//! A log entry's `head` is `LOG_FORMAT << 4 | kind`: format 1 (the first layout, without the
//! two revisions) had a bare kind byte, which now reads as an unsupported format.
//! `create_rev` is the key's create revision (the entry's own revision for `Created`; a key
//! keeps its create revision until it is deleted, so it is also the previous value's).
//! `prev_mod_rev` is the mod revision of the value the entry replaced or deleted (0 for
//! `Created`). With these, the entry tells the key's whole state just before it, which is what
//! reads at a past revision need.
//! For `Updated` log entries the previous value is stored; for `Deleted` the value *is* the
//! previous value, so it is stored once.

use super::{Error, Event, EventKind, KeyValue, Result, Revision};
use bytes::Bytes;

pub(crate) const KEY_PREFIX: &[u8] = b"k/";
pub(crate) const LOG_PREFIX: &[u8] = b"l/";
/// The first key after every `l/…` key (`'0'` follows `'/'`).
pub(crate) const LOG_END: &[u8] = b"l0";
pub(crate) const META_REVISION: &[u8] = b"m/rev";
pub(crate) const META_COMPACTED: &[u8] = b"m/compacted";

/// The event log entry layout version, the high nibble of an entry's first byte.
const LOG_FORMAT: u8 = 2;
const KIND_CREATED: u8 = 1;
const KIND_UPDATED: u8 = 2;
const KIND_DELETED: u8 = 3;
/// head, create_rev, prev_mod_rev, key_len.
const LOG_HEAD_LEN: usize = 1 + 8 + 8 + 4;

/// `k/<key>`.
pub(crate) fn data_key(key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(KEY_PREFIX.len() + key.len());
    k.extend_from_slice(KEY_PREFIX);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The smallest byte string greater than every string starting with `prefix`, or None when
/// no such string exists (prefix empty or all 0xff).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// `l/<revision>`.
pub(crate) fn log_key(rev: Revision) -> Vec<u8> {
    let mut k = Vec::with_capacity(LOG_PREFIX.len() + 8);
    k.extend_from_slice(LOG_PREFIX);
    k.extend_from_slice(&(rev as u64).to_be_bytes());
    k
}

pub(crate) fn decode_log_key(raw: &[u8]) -> Result<Revision> {
    raw.strip_prefix(LOG_PREFIX)
        .and_then(|r| <[u8; 8]>::try_from(r).ok())
        .map(|b| u64::from_be_bytes(b) as Revision)
        .filter(|r| *r > 0)
        .ok_or_else(|| Error::Backend(format!("corrupt event log key {:?}", String::from_utf8_lossy(raw))))
}

pub(crate) fn encode_revision(rev: Revision) -> Vec<u8> {
    rev.to_be_bytes().to_vec()
}

pub(crate) fn decode_revision(raw: &[u8], what: &str) -> Result<Revision> {
    <[u8; 8]>::try_from(raw)
        .map(i64::from_be_bytes)
        .ok()
        .filter(|r| *r >= 0)
        .ok_or_else(|| Error::Backend(format!("corrupt {what}: expected 8 bytes, found {}", raw.len())))
}

/// A current value as stored under `k/<key>`.
pub(crate) fn encode_value(create_revision: Revision, mod_revision: Revision, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + value.len());
    v.extend_from_slice(&create_revision.to_be_bytes());
    v.extend_from_slice(&mod_revision.to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// Decodes a `k/<key>` entry; `raw_key` is the full tree key including the prefix.
pub(crate) fn decode_kv(raw_key: &[u8], raw_value: &[u8]) -> Result<KeyValue> {
    let key = raw_key
        .strip_prefix(KEY_PREFIX)
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or_else(|| Error::Backend(format!("corrupt key {:?}", String::from_utf8_lossy(raw_key))))?;
    let (create_revision, mod_revision, value) = split_value(raw_value)
        .ok_or_else(|| Error::Backend(format!("corrupt value of key {key:?}: {} bytes", raw_value.len())))?;
    Ok(KeyValue { key: key.to_owned(), value: Bytes::copy_from_slice(value), create_revision, mod_revision })
}

fn split_value(raw: &[u8]) -> Option<(Revision, Revision, &[u8])> {
    let create = i64::from_be_bytes(raw.get(0..8)?.try_into().ok()?);
    let modr = i64::from_be_bytes(raw.get(8..16)?.try_into().ok()?);
    (create > 0 && modr >= create).then_some((create, modr, &raw[16..]))
}

/// The log entry for `event` (its revision is the log key, not part of the value).
/// `create_revision` is the key's create revision, `prev_mod_revision` the mod revision of the
/// value it replaces or deletes (ignored for `Created`).
pub(crate) fn encode_event(event: &Event, create_revision: Revision, prev_mod_revision: Revision) -> Vec<u8> {
    let (kind, key, value) = (event.kind, event.key.as_bytes(), &event.value[..]);
    let prev = match kind {
        EventKind::Updated => event.prev_value.as_deref(),
        EventKind::Created | EventKind::Deleted => None,
    };
    let prev_mod_revision = match kind {
        EventKind::Created => 0,
        EventKind::Updated | EventKind::Deleted => prev_mod_revision,
    };
    let len = LOG_HEAD_LEN + key.len() + prev.map_or(0, |p| 4 + p.len()) + value.len();
    let mut v = Vec::with_capacity(len);
    v.push(
        LOG_FORMAT << 4
            | match kind {
                EventKind::Created => KIND_CREATED,
                EventKind::Updated => KIND_UPDATED,
                EventKind::Deleted => KIND_DELETED,
            },
    );
    v.extend_from_slice(&create_revision.to_be_bytes());
    v.extend_from_slice(&prev_mod_revision.to_be_bytes());
    v.extend_from_slice(&(key.len() as u32).to_be_bytes());
    v.extend_from_slice(key);
    if let Some(p) = prev {
        v.extend_from_slice(&(p.len() as u32).to_be_bytes());
        v.extend_from_slice(p);
    }
    v.extend_from_slice(value);
    v
}

/// The key of a log entry without decoding the rest, for cheap prefix filtering.
pub(crate) fn event_key(rev: Revision, raw: &[u8]) -> Result<&[u8]> {
    Ok(split_event(rev, raw)?.key)
}

pub(crate) fn decode_event(rev: Revision, raw: &[u8]) -> Result<Event> {
    let entry = split_event(rev, raw)?;
    let key = entry_key_str(rev, entry.key)?;
    let value = Bytes::copy_from_slice(entry.value);
    let prev_value = match entry.kind {
        EventKind::Created => None,
        EventKind::Deleted => Some(value.clone()),
        EventKind::Updated => entry.prev.map(Bytes::copy_from_slice),
    };
    Ok(Event { kind: entry.kind, key, revision: rev, value, prev_value })
}

/// The state of a log entry's key just before the entry (at revision `rev - 1`): None if the
/// key did not exist (the entry created it), else its value and revisions then.
pub(crate) fn state_before(rev: Revision, raw: &[u8]) -> Result<(String, Option<KeyValue>)> {
    let entry = split_event(rev, raw)?;
    let key = entry_key_str(rev, entry.key)?;
    let value = match entry.kind {
        EventKind::Created => return Ok((key, None)),
        EventKind::Updated => entry.prev.ok_or_else(|| corrupt_event(rev))?,
        EventKind::Deleted => entry.value,
    };
    let kv = KeyValue {
        key: key.clone(),
        value: Bytes::copy_from_slice(value),
        create_revision: entry.create_revision,
        mod_revision: entry.prev_mod_revision,
    };
    Ok((key, Some(kv)))
}

/// Fails unless `raw` is a log entry of the format this build writes (recovery checks one, so
/// that a store written by an incompatible build is refused at open with a clear message).
pub(crate) fn check_log_format(rev: Revision, raw: &[u8]) -> Result<()> {
    match raw.first() {
        Some(head) if head >> 4 == LOG_FORMAT => Ok(()),
        Some(head) => Err(Error::Backend(format!(
            "event log entry at revision {rev} has format {}, this build reads only format {LOG_FORMAT}: \
             the store was written by an incompatible version",
            (head >> 4).max(1)
        ))),
        None => Err(corrupt_event(rev)),
    }
}

/// A log entry's fields, borrowed from its encoding.
struct RawEvent<'a> {
    kind: EventKind,
    create_revision: Revision,
    prev_mod_revision: Revision,
    key: &'a [u8],
    /// Only for `Updated`.
    prev: Option<&'a [u8]>,
    value: &'a [u8],
}

fn split_event(rev: Revision, raw: &[u8]) -> Result<RawEvent<'_>> {
    split_event_parts(rev, raw).ok_or_else(|| corrupt_event(rev))
}

fn split_event_parts(rev: Revision, raw: &[u8]) -> Option<RawEvent<'_>> {
    let head = *raw.first()?;
    if head >> 4 != LOG_FORMAT {
        return None;
    }
    let kind = match head & 0x0f {
        KIND_CREATED => EventKind::Created,
        KIND_UPDATED => EventKind::Updated,
        KIND_DELETED => EventKind::Deleted,
        _ => return None,
    };
    let create_revision = i64::from_be_bytes(raw.get(1..9)?.try_into().ok()?);
    let prev_mod_revision = i64::from_be_bytes(raw.get(9..17)?.try_into().ok()?);
    let ok = match kind {
        EventKind::Created => create_revision == rev && prev_mod_revision == 0,
        EventKind::Updated | EventKind::Deleted => {
            create_revision > 0 && prev_mod_revision >= create_revision && prev_mod_revision < rev
        }
    };
    if !ok {
        return None;
    }
    let len = u32::from_be_bytes(raw.get(17..LOG_HEAD_LEN)?.try_into().ok()?) as usize;
    let key = raw.get(LOG_HEAD_LEN..LOG_HEAD_LEN.checked_add(len)?)?;
    let rest = &raw[LOG_HEAD_LEN + len..];
    let (prev, value) = match kind {
        EventKind::Updated => {
            let len = u32::from_be_bytes(rest.get(0..4)?.try_into().ok()?) as usize;
            (Some(rest.get(4..4usize.checked_add(len)?)?), &rest[4 + len..])
        }
        EventKind::Created | EventKind::Deleted => (None, rest),
    };
    Some(RawEvent { kind, create_revision, prev_mod_revision, key, prev, value })
}

fn entry_key_str(rev: Revision, key: &[u8]) -> Result<String> {
    std::str::from_utf8(key).map(str::to_owned).map_err(|_| corrupt_event(rev))
}

fn corrupt_event(rev: Revision) -> Error {
    Error::Backend(format!("corrupt event log entry at revision {rev}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_sort_by_revision() {
        assert!(log_key(255) < log_key(256));
        assert!(log_key(1) < LOG_END.to_vec());
        assert_eq!(decode_log_key(&log_key(70_000)).ok(), Some(70_000));
    }

    fn event(kind: EventKind, key: &str, value: &[u8], prev_value: Option<&[u8]>) -> Event {
        let prev_value = prev_value.map(Bytes::copy_from_slice);
        Event { kind, key: key.to_owned(), revision: 7, value: Bytes::copy_from_slice(value), prev_value }
    }

    #[test]
    fn events_round_trip() {
        for (kind, prev, create) in [
            (EventKind::Created, None, 7),
            (EventKind::Updated, Some(&b"old"[..]), 2),
            (EventKind::Deleted, Some(&b"new"[..]), 2),
        ] {
            let raw = encode_event(&event(kind, "/a/b", b"new", prev), create, 5);
            let ev = decode_event(7, &raw).expect("decodes");
            assert_eq!((ev.kind, ev.key.as_str(), ev.revision, &ev.value[..]), (kind, "/a/b", 7, &b"new"[..]));
            match kind {
                EventKind::Created => assert_eq!(ev.prev_value, None),
                EventKind::Updated => assert_eq!(ev.prev_value.as_deref(), Some(&b"old"[..])),
                EventKind::Deleted => assert_eq!(ev.prev_value.as_deref(), Some(&b"new"[..])),
            }
            assert_eq!(event_key(7, &raw).ok(), Some(&b"/a/b"[..]));
            check_log_format(7, &raw).expect("current format");

            let (key, before) = state_before(7, &raw).expect("decodes");
            assert_eq!(key, "/a/b");
            let before = before.map(|kv| (kv.value, kv.create_revision, kv.mod_revision));
            match kind {
                EventKind::Created => assert_eq!(before, None),
                EventKind::Updated => assert_eq!(before, Some((Bytes::from_static(b"old"), 2, 5))),
                EventKind::Deleted => assert_eq!(before, Some((Bytes::from_static(b"new"), 2, 5))),
            }
        }
    }

    #[test]
    fn format_1_entries_are_refused_with_a_clear_error() {
        // kind Updated, key "/a", prev "o", value "n", as the first layout wrote it.
        let old = [KIND_UPDATED, 0, 0, 0, 2, b'/', b'a', 0, 0, 0, 1, b'o', b'n'];
        match check_log_format(4, &old) {
            Err(Error::Backend(msg)) => assert!(msg.contains("format 1"), "{msg}"),
            other => panic!("expected a format error, got {other:?}"),
        }
        assert!(matches!(decode_event(4, &old), Err(Error::Backend(_))));
        assert!(matches!(event_key(4, &old), Err(Error::Backend(_))));
    }

    #[test]
    fn prefix_end_handles_carry() {
        assert_eq!(prefix_end(b"k/a/"), Some(b"k/a0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }
}
