//! The on-disk layout of the store's single tree: key prefixes and the byte encodings of
//! current values (`k/`), the event log (`l/`) and metadata (`m/`). Only the store uses it.
//!
//! ```text
//! k/<key>                  -> create_rev:i64be  mod_rev:i64be  value
//! l/<revision:u64be>       -> kind:u8  key_len:u32be  key  [prev_len:u32be prev]  value
//! m/rev                    -> i64be, the revision of the last applied write
//! m/compacted              -> i64be, log entries at or below it may be gone
//! ```
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

const KIND_CREATED: u8 = 1;
const KIND_UPDATED: u8 = 2;
const KIND_DELETED: u8 = 3;

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

/// A log entry for `event` (its revision is the log key, not part of the value).
pub(crate) fn encode_event(kind: EventKind, key: &str, value: &[u8], prev_value: Option<&[u8]>) -> Vec<u8> {
    let prev = match kind {
        EventKind::Updated => prev_value,
        EventKind::Created | EventKind::Deleted => None,
    };
    let len = 1 + 4 + key.len() + prev.map_or(0, |p| 4 + p.len()) + value.len();
    let mut v = Vec::with_capacity(len);
    v.push(match kind {
        EventKind::Created => KIND_CREATED,
        EventKind::Updated => KIND_UPDATED,
        EventKind::Deleted => KIND_DELETED,
    });
    v.extend_from_slice(&(key.len() as u32).to_be_bytes());
    v.extend_from_slice(key.as_bytes());
    if let Some(p) = prev {
        v.extend_from_slice(&(p.len() as u32).to_be_bytes());
        v.extend_from_slice(p);
    }
    v.extend_from_slice(value);
    v
}

/// The key of a log entry without decoding the rest, for cheap prefix filtering.
pub(crate) fn event_key(rev: Revision, raw: &[u8]) -> Result<&[u8]> {
    let (_, key, _) = split_event_head(raw).ok_or_else(|| corrupt_event(rev))?;
    Ok(key)
}

pub(crate) fn decode_event(rev: Revision, raw: &[u8]) -> Result<Event> {
    let (kind, key, rest) = split_event_head(raw).ok_or_else(|| corrupt_event(rev))?;
    let key = std::str::from_utf8(key).map_err(|_| corrupt_event(rev))?.to_owned();
    let (value, prev_value) = match kind {
        EventKind::Created => (Bytes::copy_from_slice(rest), None),
        EventKind::Deleted => {
            let v = Bytes::copy_from_slice(rest);
            (v.clone(), Some(v))
        }
        EventKind::Updated => {
            let len = rest.get(0..4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
            let len = len.ok_or_else(|| corrupt_event(rev))? as usize;
            let prev = rest.get(4..4 + len).ok_or_else(|| corrupt_event(rev))?;
            (Bytes::copy_from_slice(&rest[4 + len..]), Some(Bytes::copy_from_slice(prev)))
        }
    };
    Ok(Event { kind, key, revision: rev, value, prev_value })
}

fn split_event_head(raw: &[u8]) -> Option<(EventKind, &[u8], &[u8])> {
    let kind = match *raw.first()? {
        KIND_CREATED => EventKind::Created,
        KIND_UPDATED => EventKind::Updated,
        KIND_DELETED => EventKind::Deleted,
        _ => return None,
    };
    let len = u32::from_be_bytes(raw.get(1..5)?.try_into().ok()?) as usize;
    let key = raw.get(5..5 + len)?;
    Some((kind, key, &raw[5 + len..]))
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

    #[test]
    fn events_round_trip() {
        for (kind, prev) in
            [(EventKind::Created, None), (EventKind::Updated, Some(&b"old"[..])), (EventKind::Deleted, None)]
        {
            let raw = encode_event(kind, "/a/b", b"new", prev);
            let ev = decode_event(7, &raw).expect("decodes");
            assert_eq!((ev.kind, ev.key.as_str(), ev.revision, &ev.value[..]), (kind, "/a/b", 7, &b"new"[..]));
            match kind {
                EventKind::Created => assert_eq!(ev.prev_value, None),
                EventKind::Updated => assert_eq!(ev.prev_value.as_deref(), Some(&b"old"[..])),
                EventKind::Deleted => assert_eq!(ev.prev_value.as_deref(), Some(&b"new"[..])),
            }
            assert_eq!(event_key(7, &raw).ok(), Some(&b"/a/b"[..]));
        }
    }

    #[test]
    fn corrupt_entries_are_backend_errors_not_panics() {
        assert!(matches!(decode_event(3, &[KIND_UPDATED, 0, 0, 0, 9, b'x']), Err(Error::Backend(_))));
        assert!(matches!(decode_event(3, &[]), Err(Error::Backend(_))));
        assert!(matches!(decode_kv(b"k/x", &[0; 7]), Err(Error::Backend(_))));
        assert!(matches!(decode_kv(b"k/\xff", &encode_value(1, 1, b"")), Err(Error::Backend(_))));
        assert!(matches!(decode_revision(&[1, 2], "m/rev"), Err(Error::Backend(_))));
    }

    #[test]
    fn prefix_end_handles_carry() {
        assert_eq!(prefix_end(b"k/a/"), Some(b"k/a0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }
}
