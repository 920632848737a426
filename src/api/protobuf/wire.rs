//! The protobuf wire format: varints, tags and length-delimited fields, read without
//! trusting a single length and written as gogo-protobuf writes them.

/// One field as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl Value<'_> {
    pub fn wire_type(&self) -> u8 {
        match self {
            Value::Varint(_) => 0,
            Value::Fixed64(_) => 1,
            Value::Bytes(_) => 2,
            Value::Fixed32(_) => 5,
        }
    }
}

/// Reads fields from a message's bytes.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn varint(&mut self) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos).ok_or("unexpected EOF in a varint")?;
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err("integer overflow in a varint".into());
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("integer overflow in a varint".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or("unexpected EOF")?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next field as (number, value), None at the end of the message.
    pub fn field(&mut self) -> Result<Option<(u32, Value<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let num = tag >> 3;
        if num == 0 || num > u64::from(u32::MAX >> 3) {
            return Err(format!("illegal tag {num}"));
        }
        let v = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| "unexpected EOF")?)),
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| "negative length".to_string())?;
                Value::Bytes(self.take(len)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| "unexpected EOF")?)),
            w => return Err(format!("illegal wireType {w} for field {num}")),
        };
        Ok(Some((num as u32, v)))
    }
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn put_tag(out: &mut Vec<u8>, num: u32, wire_type: u8) {
    put_varint(out, (u64::from(num) << 3) | u64::from(wire_type));
}

pub(super) fn put_bytes(out: &mut Vec<u8>, num: u32, bytes: &[u8]) {
    put_tag(out, num, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, (-1i64) as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(Reader::new(&out).varint().unwrap(), v);
        }
        assert!(Reader::new(&[0xff; 11]).varint().is_err());
        assert!(Reader::new(&[0x80]).varint().is_err());
    }

    #[test]
    fn fields_and_truncation() {
        let mut out = Vec::new();
        put_bytes(&mut out, 2, b"abc");
        put_tag(&mut out, 3, 0);
        put_varint(&mut out, 7);
        let mut r = Reader::new(&out);
        assert_eq!(r.field().unwrap(), Some((2, Value::Bytes(b"abc"))));
        assert_eq!(r.field().unwrap(), Some((3, Value::Varint(7))));
        assert_eq!(r.field().unwrap(), None);
        assert!(Reader::new(&out[..3]).field().is_err());
        assert!(Reader::new(&[0x00]).field().is_err());
        assert!(Reader::new(&[0x0b]).field().is_err());
    }
}
