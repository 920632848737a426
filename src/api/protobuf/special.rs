//! The few types whose JSON is not their protobuf fields, formatted as Go formats them:
//! metav1.Time and MicroTime (RFC 3339), metav1.Duration (Go's duration string).

/// Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z), which JSON writes as `null`.
pub(super) const GO_ZERO_SECONDS: i64 = -62_135_596_800;

/// `2024-01-02T03:04:05Z` (metav1.Time), or with `.000000` microseconds (metav1.MicroTime).
pub(super) fn format_time(seconds: i64, nanos: i64, micro: bool) -> Result<String, String> {
    let seconds = seconds.checked_add(nanos.div_euclid(1_000_000_000)).ok_or("time out of range")?;
    let nanos = nanos.rem_euclid(1_000_000_000) as i32;
    let ts = jiff::Timestamp::new(seconds, nanos).map_err(|_| format!("time {seconds}s is out of range"))?;
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    if dt.year() < 0 {
        return Err("Time.MarshalJSON: year outside of range [0,9999]".into());
    }
    let mut s = dt.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    if micro {
        s.push_str(&format!(".{:06}", nanos / 1000));
    }
    s.push('Z');
    Ok(s)
}

/// Parses an RFC 3339 time as Go's time.Parse(time.RFC3339) does: (seconds, nanos).
pub(super) fn parse_time(s: &str) -> Result<(i64, i32), String> {
    let ts: jiff::Timestamp = s.parse().map_err(|e| format!("parsing time {s:?} as RFC 3339: {e}"))?;
    Ok((ts.as_second(), ts.subsec_nanosecond()))
}

/// Go's time.Duration.String(): "0s", "1.5s", "1h0m0s", "300ms", "1µs".
pub(super) fn format_duration(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if d < 0 {
        out.push('-');
    }
    let u = d.unsigned_abs();
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        let p = 10u64.pow(prec);
        out.push_str(&(u / p).to_string());
        out.push_str(&fraction(u % p, prec));
        out.push_str(unit);
        return out;
    }
    let (secs, frac) = (u / 1_000_000_000, u % 1_000_000_000);
    let (mins, secs) = (secs / 60, secs % 60);
    let (hours, mins) = (mins / 60, mins % 60);
    if hours > 0 {
        out.push_str(&format!("{hours}h{mins}m"));
    } else if mins > 0 {
        out.push_str(&format!("{mins}m"));
    }
    out.push_str(&format!("{secs}{}s", fraction(frac, 9)));
    out
}

/// ".5" for 500000000 at precision 9; "" for 0.
fn fraction(v: u64, prec: u32) -> String {
    if v == 0 {
        return String::new();
    }
    let digits = format!("{:0width$}", v, width = prec as usize);
    format!(".{}", digits.trim_end_matches('0'))
}

/// Go's time.ParseDuration: "1h30m", "1.5s", "-300ms", "0".
pub(super) fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, r) = rest.split_at(int_len);
        let (frac, r) = match r.strip_prefix('.') {
            Some(r) => {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                r.split_at(n)
            }
            None => ("", r),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let unit_len = r.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(r.len());
        let (unit, r) = r.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        let whole: i128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
        let mut part = whole.checked_mul(scale).ok_or_else(bad)?;
        if !frac.is_empty() {
            let digits = &frac[..frac.len().min(18)];
            let f: i128 = digits.parse().map_err(|_| bad())?;
            part += f * scale / 10i128.pow(digits.len() as u32);
        }
        total = total.checked_add(part).ok_or_else(bad)?;
        if total > i64::MAX as i128 + 1 {
            return Err(bad());
        }
        rest = r;
    }
    let total = if neg { -total } else { total };
    i64::try_from(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_go_writes_them() {
        assert_eq!(format_time(1_704_164_645, 0, false).unwrap(), "2024-01-02T03:04:05Z");
        assert_eq!(format_time(1_704_164_645, 123_456_789, false).unwrap(), "2024-01-02T03:04:05Z");
        assert_eq!(format_time(1_704_164_645, 123_456_789, true).unwrap(), "2024-01-02T03:04:05.123456Z");
        assert_eq!(format_time(0, 0, true).unwrap(), "1970-01-01T00:00:00.000000Z");
        assert_eq!(parse_time("2024-01-02T03:04:05Z").unwrap(), (1_704_164_645, 0));
        assert_eq!(parse_time("2024-01-02T04:04:05.5+01:00").unwrap(), (1_704_164_645, 500_000_000));
        assert!(parse_time("yesterday").is_err());
        assert!(format_time(i64::MAX, 0, false).is_err());
    }

    #[test]
    fn durations_as_go_writes_them() {
        for (ns, s) in [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (5_430_000_000_000, "1h30m30s"),
            (-90_000_000_000, "-1m30s"),
        ] {
            assert_eq!(format_duration(ns), s);
            assert_eq!(parse_duration(s).unwrap(), ns, "{s}");
        }
        assert_eq!(parse_duration("1h").unwrap(), 3_600_000_000_000);
        assert_eq!(parse_duration("0").unwrap(), 0);
        for bad in ["", "1", "h", "1x", "--1s", "1.s.s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
