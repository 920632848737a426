//! Cron schedules as the CronJob controller reads them (robfig/cron v3's standard parser):
//! five fields with ranges, steps, lists and month/day names, the `@hourly`-style
//! descriptors and `@every <duration>`, an optional `TZ=`/`CRON_TZ=` prefix, and `next`
//! evaluated in a time zone (jiff's tzdb).

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Set when a field was `*` or `?` (day-of-month and day-of-week then combine with AND).
const STAR: u64 = 1 << 63;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    Spec(Spec),
    /// `@every <duration>`: a constant delay, in whole seconds.
    Every(SignedDuration),
}

#[derive(Debug, Clone)]
pub struct Spec {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    tz: Option<TimeZone>,
}

const MONTHS: &[&str] = &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn bits(min: u64, max: u64, step: u64) -> u64 {
    if step == 1 {
        return (!0u64 >> (63 - max)) & !((1u64 << min) - 1);
    }
    let mut b = 0;
    let mut i = min;
    while i <= max {
        b |= 1 << i;
        i += step;
    }
    b
}

fn parse_int(s: &str) -> Result<u64, ParseError> {
    let n: i64 = s.parse().map_err(|_| ParseError(format!("failed to parse int from {s}")))?;
    if n < 0 {
        return Err(ParseError(format!("negative number ({n}) not allowed: {s}")));
    }
    Ok(n as u64)
}

fn range(expr: &str, min: u64, max: u64, names: &[&str], base: u64) -> Result<u64, ParseError> {
    let rs: Vec<&str> = expr.split('/').collect();
    let lh: Vec<&str> = rs[0].split('-').collect();
    let single = lh.len() == 1;
    let name_or_int = |s: &str| -> Result<u64, ParseError> {
        match names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            Some(i) => Ok(i as u64 + base),
            None => parse_int(s),
        }
    };
    let mut extra = 0;
    let (start, mut end) = if lh[0] == "*" || lh[0] == "?" {
        extra = STAR;
        (min, max)
    } else {
        let start = name_or_int(lh[0])?;
        match lh.len() {
            1 => (start, start),
            2 => (start, name_or_int(lh[1])?),
            _ => return Err(ParseError(format!("too many hyphens: {expr}"))),
        }
    };
    let step = match rs.len() {
        1 => 1,
        2 => {
            let s = parse_int(rs[1])?;
            if single {
                end = max;
            }
            if s > 1 {
                extra = 0;
            }
            s
        }
        _ => return Err(ParseError(format!("too many slashes: {expr}"))),
    };
    if start < min {
        return Err(ParseError(format!("beginning of range ({start}) below minimum ({min}): {expr}")));
    }
    if end > max {
        return Err(ParseError(format!("end of range ({end}) above maximum ({max}): {expr}")));
    }
    if start > end {
        return Err(ParseError(format!("beginning of range ({start}) beyond end of range ({end}): {expr}")));
    }
    if step == 0 {
        return Err(ParseError(format!("step of range should be a positive number: {expr}")));
    }
    Ok(bits(start, end, step) | extra)
}

fn field(f: &str, min: u64, max: u64, names: &[&str], base: u64) -> Result<u64, ParseError> {
    let mut b = 0;
    for expr in f.split(',') {
        b |= range(expr, min, max, names, base)?;
    }
    Ok(b)
}

/// A time zone by IANA name ("" and "UTC" are UTC, "Local" the system's).
pub fn load_location(name: &str) -> Result<TimeZone, ParseError> {
    match name {
        "" | "UTC" => Ok(TimeZone::UTC),
        "Local" => Ok(TimeZone::system()),
        n => TimeZone::get(n).map_err(|_| ParseError(format!("unknown time zone {n}"))),
    }
}

/// Go's time.ParseDuration for `@every` (units ns, us, µs, ms, s, m, h).
fn parse_go_duration(s: &str) -> Option<SignedDuration> {
    let mut rest = s;
    let neg = rest.starts_with('-');
    rest = rest.strip_prefix(['-', '+']).unwrap_or(rest);
    if rest == "0" {
        return Some(SignedDuration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let nanos = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += n * nanos;
    }
    let d = SignedDuration::from_nanos(total as i64);
    Some(if neg { -d } else { d })
}

impl Schedule {
    /// cron.ParseStandard, with `default_tz` for schedules without a `TZ=` prefix.
    pub fn parse(spec: &str, default_tz: Option<TimeZone>) -> Result<Schedule, ParseError> {
        let mut spec = spec.trim();
        if spec.is_empty() {
            return Err(ParseError("empty spec string".into()));
        }
        let mut tz = default_tz;
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let eq = spec.find('=').unwrap_or(0);
            let sp = spec.find(' ').ok_or_else(|| ParseError(format!("provided bad location {}", &spec[eq + 1..])))?;
            let loc = &spec[eq + 1..sp];
            tz = Some(load_location(loc).map_err(|e| ParseError(format!("provided bad location {loc}: {e}")))?);
            spec = spec[sp..].trim();
        }
        if let Some(d) = spec.strip_prefix('@') {
            let fields = match d {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                other => {
                    if let Some(dur) = other.strip_prefix("every ") {
                        let d = parse_go_duration(dur)
                            .ok_or_else(|| ParseError(format!("failed to parse duration {spec}")))?;
                        // Every: at least a second, whole seconds.
                        let secs = d.as_secs().max(1);
                        return Ok(Schedule::Every(SignedDuration::from_secs(secs)));
                    }
                    return Err(ParseError(format!("unrecognized descriptor: {spec}")));
                }
            };
            return Self::parse(fields, tz);
        }
        let f: Vec<&str> = spec.split_whitespace().collect();
        if f.len() != 5 {
            return Err(ParseError(format!("expected exactly 5 fields, found {}: [{}]", f.len(), f.join(" "))));
        }
        Ok(Schedule::Spec(Spec {
            minute: field(f[0], 0, 59, &[], 0)?,
            hour: field(f[1], 0, 23, &[], 0)?,
            dom: field(f[2], 1, 31, &[], 0)?,
            month: field(f[3], 1, 12, MONTHS, 1)?,
            dow: field(f[4], 0, 6, DAYS, 0)?,
            tz,
        }))
    }

    /// The first activation strictly after `t`, or None if there is none within five years.
    pub fn next(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Every(d) => {
                // ConstantDelaySchedule: t + delay, rounded down to the second.
                let n = t.checked_add(*d).ok()?;
                Timestamp::from_second(n.as_second()).ok()
            }
            Schedule::Spec(s) => s.next(t),
        }
    }
}

impl Spec {
    fn day_matches(&self, d: Date) -> bool {
        let dom = (1u64 << d.day()) & self.dom != 0;
        let dow = (1u64 << d.weekday().to_sunday_zero_offset()) & self.dow != 0;
        if self.dom & STAR != 0 || self.dow & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }

    fn next(&self, t: Timestamp) -> Option<Timestamp> {
        let tz = self.tz.clone().unwrap_or(TimeZone::UTC);
        // Start at the next whole minute after t (the standard parser's seconds are 0).
        let start = t.checked_add(SignedDuration::from_secs(60 - t.as_second().rem_euclid(60))).ok()?;
        let mut dt: DateTime = tz.to_datetime(start);
        dt = dt.with().second(0).subsec_nanosecond(0).build().ok()?;
        let limit = dt.year() + 5;
        while dt.year() <= limit {
            if (1u64 << dt.month()) & self.month == 0 {
                let first = dt.date().first_of_month().checked_add(1.month()).ok()?;
                dt = first.to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if !self.day_matches(dt.date()) {
                dt = dt.date().checked_add(1.day()).ok()?.to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if (1u64 << dt.hour()) & self.hour == 0 {
                dt = dt.with().minute(0).build().ok()?.checked_add(1.hour()).ok()?;
                continue;
            }
            if (1u64 << dt.minute()) & self.minute == 0 {
                dt = dt.checked_add(1.minute()).ok()?;
                continue;
            }
            let ts = tz.to_ambiguous_zoned(dt).compatible().ok()?.timestamp();
            if ts > t {
                return Some(ts);
            }
            dt = dt.checked_add(1.minute()).ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(spec: &str, from: &str) -> String {
        Schedule::parse(spec, None).unwrap().next(ts(from)).unwrap().to_string()
    }

    #[test]
    fn fields_ranges_steps_lists_and_names() {
        assert_eq!(next("*/1 * * * *", "2025-06-01T12:00:00Z"), "2025-06-01T12:01:00Z");
        assert_eq!(next("*/1 * * * *", "2025-06-01T12:00:30Z"), "2025-06-01T12:01:00Z");
        assert_eq!(next("*/15 * * * *", "2025-06-01T12:01:00Z"), "2025-06-01T12:15:00Z");
        assert_eq!(next("5,35 9-17/4 * * *", "2025-06-01T12:00:00Z"), "2025-06-01T13:05:00Z");
        assert_eq!(next("0 0 * * mon", "2025-06-01T12:00:00Z"), "2025-06-02T00:00:00Z");
        assert_eq!(next("0 0 1 feb-mar *", "2025-06-01T12:00:00Z"), "2026-02-01T00:00:00Z");
        assert_eq!(next("0 0 29 2 *", "2025-03-01T00:00:00Z"), "2028-02-29T00:00:00Z");
        // Day of month and day of week restricted: either matches.
        assert_eq!(next("0 0 13 * 5", "2025-06-01T00:00:00Z"), "2025-06-06T00:00:00Z");
        assert_eq!(next("30 6-16/4 * * 1-5", "2025-06-01T00:00:00Z"), "2025-06-02T06:30:00Z");
    }

    #[test]
    fn descriptors_and_every() {
        assert_eq!(next("@hourly", "2025-06-01T12:00:00Z"), "2025-06-01T13:00:00Z");
        assert_eq!(next("@daily", "2025-06-01T12:00:00Z"), "2025-06-02T00:00:00Z");
        assert_eq!(next("@weekly", "2025-06-01T12:00:00Z"), "2025-06-08T00:00:00Z");
        assert_eq!(next("@monthly", "2025-06-01T12:00:00Z"), "2025-07-01T00:00:00Z");
        assert_eq!(next("@yearly", "2025-06-01T12:00:00Z"), "2026-01-01T00:00:00Z");
        assert_eq!(next("@every 90s", "2025-06-01T12:00:00Z"), "2025-06-01T12:01:30Z");
        assert!(Schedule::parse("@fortnightly", None).is_err());
    }

    #[test]
    fn time_zones() {
        let berlin = load_location("Europe/Berlin").unwrap();
        let s = Schedule::parse("0 9 * * *", Some(berlin)).unwrap();
        assert_eq!(s.next(ts("2025-06-01T12:00:00Z")).unwrap().to_string(), "2025-06-02T07:00:00Z");
        assert_eq!(s.next(ts("2025-01-10T12:00:00Z")).unwrap().to_string(), "2025-01-11T08:00:00Z");
        assert_eq!(next("TZ=America/New_York 0 9 * * *", "2025-06-01T12:00:00Z"), "2025-06-01T13:00:00Z");
        assert!(load_location("Mars/Olympus").is_err());
    }

    #[test]
    fn errors_match_robfig() {
        let e = |s: &str| Schedule::parse(s, None).unwrap_err().0;
        assert_eq!(e("* * *"), "expected exactly 5 fields, found 3: [* * *]");
        assert_eq!(e("60 * * * *"), "end of range (60) above maximum (59): 60");
        assert_eq!(e("*/0 * * * *"), "step of range should be a positive number: */0");
        assert!(Schedule::parse("0 0 31 2 *", None).unwrap().next(ts("2025-01-01T00:00:00Z")).is_none());
    }
}
