//! Timestamp recognition and parsing on raw bytes.
//!
//! Log timestamps come in a handful of fixed layouts. Each is parsed by hand from bytes (no
//! allocation, no UTF-8 validation), and the calendar part is cached per minute: consecutive
//! lines almost always share `YYYY-MM-DD HH:MM`, so the civil-date-to-epoch conversion (done by
//! `jiff`, which also validates the date) runs once a minute of log instead of once a line.
//! Times are nanoseconds since the Unix epoch, UTC; a layout without a zone is taken as UTC.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Nanoseconds since the Unix epoch, UTC.
pub type Nanos = i64;

const NS_PER_SEC: i64 = 1_000_000_000;

/// Parses timestamps, remembering the last calendar minute it converted.
///
/// By default a timestamp without a zone is UTC.
#[derive(Debug, Default, Clone)]
pub struct TimeParser {
    /// `(year, month, day, hour, minute, local)` of the cached minute.
    cached_key: Option<(u16, u8, u8, u8, u8, bool)>,
    cached_secs: i64,
    /// The zone of timestamps that carry none; UTC when `None`.
    zone: Option<TimeZone>,
    /// The first 19 bytes (`YYYY-MM-DD HH:MM:SS`) of the last ISO time read, whether it was
    /// read in the local zone, and its seconds: consecutive lines share their second, and
    /// comparing 19 bytes replaced parsing six numbers and the minute cache lookup (the ISO
    /// parser was 12% of a one-thread `--no-requests` run, perf).
    iso_second: Option<(SecondKey, bool, i64)>,
}

/// The 19 bytes `YYYY-MM-DD HH:MM:SS` as three words, read straight from the line: copying
/// them into a 19-byte array first made each comparison wait on a store-to-load forwarding
/// stall (70% of the parser's samples, perf annotate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SecondKey(u64, u64, u32);

impl SecondKey {
    #[inline]
    fn of(b: &[u8]) -> Option<SecondKey> {
        let b = b.get(..19)?;
        let w = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let t = u32::from_le_bytes(b[15..19].try_into().expect("4 bytes"));
        Some(SecondKey(w(0), w(8), t))
    }
}

#[inline]
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn month_from_abbrev(b: &[u8]) -> Option<u8> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let m = b.get(..3)?;
    MONTHS.iter().position(|x| x[..] == *m).map(|i| i as u8 + 1)
}

impl TimeParser {
    /// Creates a parser with an empty cache; timestamps without a zone are UTC.
    pub fn new() -> TimeParser {
        TimeParser::default()
    }

    /// Creates a parser that reads timestamps without a zone in `zone`.
    pub fn with_zone(zone: Option<TimeZone>) -> TimeParser {
        TimeParser {
            zone,
            ..TimeParser::default()
        }
    }

    /// Seconds since the epoch of a civil minute, from the cache when it is the same minute.
    /// `local` minutes (the timestamp had no zone) are in the parser's zone.
    fn minute_secs(
        &mut self,
        y: u32,
        mo: u32,
        d: u32,
        h: u32,
        mi: u32,
        local: bool,
    ) -> Option<i64> {
        let local = local && self.zone.is_some();
        let key = (y as u16, mo as u8, d as u8, h as u8, mi as u8, local);
        if self.cached_key == Some(key) {
            return Some(self.cached_secs);
        }
        if h > 23 || mi > 59 {
            return None;
        }
        let dt = DateTime::new(y as i16, mo as i8, d as i8, h as i8, mi as i8, 0, 0).ok()?;
        let tz = match (&self.zone, local) {
            (Some(z), true) => z.clone(),
            _ => TimeZone::UTC,
        };
        let secs = dt.to_zoned(tz).ok()?.timestamp().as_second();
        self.cached_key = Some(key);
        self.cached_secs = secs;
        Some(secs)
    }

    /// Parses an ISO 8601 / RFC 3339 style timestamp at the start of `b`.
    ///
    /// Accepts `YYYY-MM-DD` then `T` or a space, `HH:MM:SS`, an optional fraction of 1 to 9
    /// digits after `.` or `,` (Python logging uses a comma), and an optional zone: `Z`,
    /// `+HH:MM`, `+HHMM`, or ` +HHMM` after a space (gunicorn). Returns the time and the number
    /// of bytes consumed, or `None` when `b` does not start with such a timestamp.
    pub fn parse_iso(&mut self, b: &[u8]) -> Option<(Nanos, usize)> {
        self.parse_iso_zoned(b).map(|(t, n, _)| (t, n))
    }

    /// Like [`TimeParser::parse_iso`], and also tells whether the timestamp carried a zone.
    pub fn parse_iso_zoned(&mut self, b: &[u8]) -> Option<(Nanos, usize, bool)> {
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        if b[10] != b'T' && b[10] != b' ' && b[10] != b't' {
            return None;
        }
        let second = SecondKey::of(b)?;
        if let Some((k, local, secs)) = self.iso_second {
            if k == second {
                let (frac, i, offset_secs, zoned) = iso_tail(b)?;
                if local == (!zoned && self.zone.is_some()) {
                    let secs = secs - offset_secs;
                    return Some((secs.checked_mul(NS_PER_SEC)?.checked_add(frac)?, i, zoned));
                }
            }
        }
        let y = digits(b, 0, 4)?;
        let mo = digits(b, 5, 2)?;
        let d = digits(b, 8, 2)?;
        let h = digits(b, 11, 2)?;
        let mi = digits(b, 14, 2)?;
        let s = digits(b, 17, 2)?;
        if s > 60 {
            return None;
        }
        let (frac, i, offset_secs, zoned) = iso_tail(b)?;
        let base = self.minute_secs(y, mo, d, h, mi, !zoned)?;
        let local_secs = base + i64::from(s);
        self.iso_second = Some((second, !zoned && self.zone.is_some(), local_secs));
        let secs = local_secs - offset_secs;
        Some((secs.checked_mul(NS_PER_SEC)?.checked_add(frac)?, i, zoned))
    }

    /// Parses the common log format time `DD/Mon/YYYY:HH:MM:SS +ZZZZ` (nginx, Apache) at the
    /// start of `b`, without the brackets. Returns the time and the bytes consumed.
    pub fn parse_clf(&mut self, b: &[u8]) -> Option<(Nanos, usize)> {
        if b.len() < 20 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' {
            return None;
        }
        let d = digits(b, 0, 2)?;
        let mo = u32::from(month_from_abbrev(&b[3..6])?);
        let y = digits(b, 7, 4)?;
        let h = digits(b, 12, 2)?;
        let mi = digits(b, 15, 2)?;
        let s = digits(b, 18, 2)?;
        if b[14] != b':' || b[17] != b':' || s > 60 {
            return None;
        }
        let mut i = 20;
        let mut offset_secs = 0;
        if b.get(i) == Some(&b' ') {
            if let Some((off, n)) = parse_offset(&b[i + 1..]) {
                offset_secs = off;
                i += 1 + n;
            }
        }
        let base = self.minute_secs(y, mo, d, h, mi, false)?;
        let secs = base + i64::from(s) - offset_secs;
        Some((secs.checked_mul(NS_PER_SEC)?, i))
    }

    /// Parses the syslog / journald `short` time `Mon DD HH:MM:SS` (day space- or
    /// zero-padded, an optional fraction as in `short-precise`) at the start of `b`. The line
    /// has no year: `year` is given by the caller. It has no zone either: it is in the
    /// parser's zone (UTC by default). Returns the time and the bytes consumed.
    pub fn parse_syslog(&mut self, b: &[u8], year: i32) -> Option<(Nanos, usize)> {
        if b.len() < 15 || b[3] != b' ' || b[9] != b':' || b[12] != b':' {
            return None;
        }
        let mo = u32::from(month_from_abbrev(&b[..3])?);
        let d = match b[4] {
            b' ' => digits(b, 5, 1)?,
            _ => digits(b, 4, 2)?,
        };
        let h = digits(b, 7, 2)?;
        let mi = digits(b, 10, 2)?;
        let s = digits(b, 13, 2)?;
        if s > 60 || b[6] != b' ' || !(1..=9999).contains(&year) {
            return None;
        }
        let (frac, i) = fraction(b, 15, b".");
        let base = self.minute_secs(year as u32, mo, d, h, mi, true)?;
        let secs = base + i64::from(s);
        Some((secs.checked_mul(NS_PER_SEC)? + frac, i))
    }

    /// Parses a JSON time value: an RFC 3339 string, or a number of seconds (or milliseconds,
    /// when it is larger than any plausible number of seconds) since the epoch.
    pub fn parse_json_value(&mut self, raw: &[u8]) -> Option<Nanos> {
        match raw.first()? {
            b'"' => self.parse_iso(&raw[1..]).map(|(t, _)| t),
            c if c.is_ascii_digit() => {
                // Parse the decimal exactly (a float would turn .317 into .316999...).
                let int_len = raw.iter().take_while(|c| c.is_ascii_digit()).count();
                if int_len > 16 {
                    return None;
                }
                let int = std::str::from_utf8(&raw[..int_len])
                    .ok()?
                    .parse::<i64>()
                    .ok()?;
                let mut frac_ns: i64 = 0;
                if raw.get(int_len) == Some(&b'.') {
                    let digits = raw[int_len + 1..].iter().take_while(|c| c.is_ascii_digit());
                    let mut scale = 100_000_000i64;
                    for d in digits.take(9) {
                        frac_ns += i64::from(d - b'0') * scale;
                        scale /= 10;
                    }
                }
                // 1e11 seconds is the year 5138: anything larger is milliseconds.
                if int > 100_000_000_000 {
                    Some(int.checked_mul(1_000_000)? + frac_ns / 1000)
                } else {
                    Some(int.checked_mul(NS_PER_SEC)? + frac_ns)
                }
            }
            _ => None,
        }
    }
}

/// Reads an optional fraction of a second at `b[i]`: one of `seps`, then digits (the first 9
/// count). Returns the nanoseconds and the index after it (`i` when there is none).
#[inline]
fn fraction(b: &[u8], mut i: usize, seps: &[u8]) -> (i64, usize) {
    // The scale of a fraction of n digits (n <= 9), from a table: `10i64.pow` with a run-time
    // exponent is a loop of multiplications, on every line's time.
    const SCALE: [i64; 10] = [
        1_000_000_000,
        100_000_000,
        10_000_000,
        1_000_000,
        100_000,
        10_000,
        1_000,
        100,
        10,
        1,
    ];
    let mut frac: i64 = 0;
    if b.get(i).is_some_and(|c| seps.contains(c)) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                frac = frac * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        frac *= SCALE[(i - start).min(9)];
    }
    (frac, i)
}

/// The fraction and zone after `YYYY-MM-DD HH:MM:SS`: nanoseconds, the end, the offset in
/// seconds east of UTC, and whether a zone was given.
fn iso_tail(b: &[u8]) -> Option<(i64, usize, i64, bool)> {
    // Python logging's `,123 ` (milliseconds, then a space and no offset), read at fixed
    // places. The general path below tries an offset in every ` - ` that follows such a
    // time: ~105 instructions a line.
    if let Some(&[sep, d0, d1, d2, b' ']) = b.get(19..24) {
        let digit = |c: u8| c.is_ascii_digit();
        // An offset after the space (` +01:00`) is for the general path; ` - ` is not one.
        let offset = matches!(b.get(24), Some(b'+' | b'-')) && b.get(25).is_some_and(|c| digit(*c));
        if (sep == b',' || sep == b'.') && digit(d0) && digit(d1) && digit(d2) && !offset {
            let ms = i64::from(d0 - b'0') * 100 + i64::from(d1 - b'0') * 10 + i64::from(d2 - b'0');
            return Some((ms * 1_000_000, 23, 0, false));
        }
    }
    iso_tail_general(b)
}

/// [`iso_tail`] without its fast path.
fn iso_tail_general(b: &[u8]) -> Option<(i64, usize, i64, bool)> {
    let (frac, mut i) = fraction(b, 19, b",.");
    let mut offset_secs: i64 = 0;
    let mut zoned = false;
    match b.get(i) {
        Some(b'Z') | Some(b'z') => {
            i += 1;
            zoned = true;
        }
        Some(b'+') | Some(b'-') => {
            if let Some((off, n)) = parse_offset(&b[i..]) {
                offset_secs = off;
                i += n;
                zoned = true;
            }
        }
        Some(b' ') if matches!(b.get(i + 1), Some(b'+') | Some(b'-')) => {
            if let Some((off, n)) = parse_offset(&b[i + 1..]) {
                offset_secs = off;
                i += 1 + n;
                zoned = true;
            }
        }
        _ => {}
    }
    Some((frac, i, offset_secs, zoned))
}

/// Parses `+HH:MM`, `+HHMM` or `+HH` into seconds east of UTC and bytes consumed.
fn parse_offset(b: &[u8]) -> Option<(i64, usize)> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let h = i64::from(digits(b, 1, 2)?);
    let (m, n) = if b.get(3) == Some(&b':') {
        (i64::from(digits(b, 4, 2)?), 6)
    } else if let Some(m) = digits(b, 3, 2) {
        (i64::from(m), 5)
    } else {
        (0, 3)
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some((sign * (h * 3600 + m * 60), n))
}

/// Formats a time as RFC 3339 UTC with millisecond precision, e.g. `2025-01-10T10:31:22.123Z`.
pub fn format_rfc3339(t: Nanos) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(t)) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => String::from("invalid-time"),
    }
}

/// The first line of a record without its leading timestamp (`2025-01-10 10:31:22,123`,
/// RFC 3339, `[2025-01-10 10:31:22 +0000]`).
pub fn strip_leading_time<'a>(text: &'a [u8], tp: &mut TimeParser) -> &'a [u8] {
    split_leading_time(text, tp).1
}

/// The leading timestamp of a line (as [`strip_leading_time`] reads it), and the rest.
pub fn split_leading_time<'a>(text: &'a [u8], tp: &mut TimeParser) -> (Option<Nanos>, &'a [u8]) {
    if let Some((t, n)) = tp.parse_iso(text) {
        return (Some(t), &text[n..]);
    }
    if text.first() == Some(&b'[') {
        if let Some((t, n)) = tp.parse_iso(&text[1..]) {
            if text.get(n + 1) == Some(&b']') {
                return (Some(t), &text[n + 2..]);
            }
        }
    }
    (None, text)
}

/// A half-open time window `[since, until)`; an open end is `None`.
///
/// Records outside it are counted and skipped before any classification work. A record
/// without a time cannot be placed and is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    /// First instant inside, nanoseconds since the epoch.
    pub since: Option<Nanos>,
    /// First instant after, nanoseconds since the epoch.
    pub until: Option<Nanos>,
}

impl TimeWindow {
    /// Whether either end is set.
    pub fn is_set(&self) -> bool {
        self.since.is_some() || self.until.is_some()
    }

    /// Whether `t` is inside.
    pub fn contains(&self, t: Nanos) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> Option<String> {
        TimeParser::new()
            .parse_iso(s.as_bytes())
            .map(|(t, _)| format_rfc3339(t))
    }

    #[test]
    fn syslog_times() {
        let mut tp = TimeParser::new();
        let f = |r: Option<(Nanos, usize)>| r.map(|(t, n)| (format_rfc3339(t), n));
        assert_eq!(
            f(tp.parse_syslog(b"Jul  5 09:13:44 host", 2024)),
            Some(("2024-07-05T09:13:44.000Z".into(), 15))
        );
        assert_eq!(
            f(tp.parse_syslog(b"Jul 05 09:13:44.250 host", 2024)),
            Some(("2024-07-05T09:13:44.250Z".into(), 19))
        );
        assert_eq!(tp.parse_syslog(b"Feb 30 09:13:44 x", 2024), None);
        assert_eq!(tp.parse_syslog(b"Jux 05 09:13:44 x", 2024), None);
        assert_eq!(tp.parse_syslog(b"Jul 05 09:13", 2024), None);
    }

    #[test]
    fn python_logging_comma_fraction() {
        assert_eq!(
            iso("2025-01-10 10:31:22,123 - x").unwrap(),
            "2025-01-10T10:31:22.123Z"
        );
    }

    #[test]
    fn python_logging_fast_path_agrees_with_the_general_path() {
        let tails = [
            ",123 - app - INFO - x",
            ".123 - x",
            ",123 +01:00 x",
            ",123 -0530 x",
            ",123 +0",
            ",123 -x",
            ",123 +",
            ",123 ",
            ",12 - x",
            ",1234 - x",
            ",123Z x",
            ",123+01:00",
            ",12a - x",
            ";123 - x",
            ",123 -99:99 x",
            ",123 +23:59",
            ",123 - ",
            ",123 -1 x",
            ",123 -12 x",
            ",000 - x",
            ",999 --x",
            "",
        ];
        for t in tails {
            let line = format!("2025-01-10 06:00:00{t}");
            let b = line.as_bytes();
            assert_eq!(iso_tail(b), iso_tail_general(b), "{line:?}");
        }
    }

    #[test]
    fn rfc3339_fraction_digits_zero_to_nine() {
        assert_eq!(
            iso("2025-01-10T10:31:22Z").unwrap(),
            "2025-01-10T10:31:22.000Z"
        );
        assert_eq!(
            iso("2025-01-10T10:31:22.1Z").unwrap(),
            "2025-01-10T10:31:22.100Z"
        );
        assert_eq!(
            iso("2025-01-10T10:31:22.123456789Z").unwrap(),
            "2025-01-10T10:31:22.123Z"
        );
        let (t, n) = TimeParser::new()
            .parse_iso(b"2024-07-16T17:02:20.640278510Z x")
            .unwrap();
        assert_eq!(n, 30);
        assert_eq!(t % 1_000_000_000, 640_278_510);
        // Every digit count, in nanoseconds (digits past the ninth are read and dropped).
        let digits = "987654321012";
        for k in 1..=digits.len() {
            let line = format!("2024-07-16T17:02:20.{}Z x", &digits[..k]);
            let (t, n) = TimeParser::new().parse_iso(line.as_bytes()).unwrap();
            assert_eq!(n, 21 + k, "{line}");
            let want = format!("{:0<9}", &digits[..k.min(9)])
                .parse::<i64>()
                .unwrap();
            assert_eq!(t % 1_000_000_000, want, "{line}");
        }
    }

    #[test]
    fn offsets_are_applied() {
        assert_eq!(
            iso("2025-01-10T12:31:22+02:00").unwrap(),
            "2025-01-10T10:31:22.000Z"
        );
        assert_eq!(
            iso("2025-01-10 10:31:22 +0000]").unwrap(),
            "2025-01-10T10:31:22.000Z"
        );
        assert_eq!(
            iso("2024-12-08T16:23:33.457957+00:00 app").unwrap(),
            "2024-12-08T16:23:33.457Z"
        );
        assert_eq!(
            iso("2025-01-10T05:31:22-0500").unwrap(),
            "2025-01-10T10:31:22.000Z"
        );
    }

    #[test]
    fn rejects_non_timestamps_and_invalid_dates() {
        assert!(iso("2025-13-10T10:31:22Z").is_none());
        assert!(iso("2025-02-30T10:31:22Z").is_none());
        assert!(iso("2025-01-10T24:31:22Z").is_none());
        assert!(iso("hello world, this is not a time").is_none());
        assert!(iso("2025-01-10").is_none());
    }

    #[test]
    fn cache_is_per_minute() {
        let mut p = TimeParser::new();
        let (a, _) = p.parse_iso(b"2025-01-10 10:31:22,000").unwrap();
        let (b, _) = p.parse_iso(b"2025-01-10 10:31:59,500").unwrap();
        let (c, _) = p.parse_iso(b"2025-01-10 10:32:00,000").unwrap();
        assert_eq!(b - a, 37_500_000_000);
        assert_eq!(c - b, 500_000_000);
    }

    #[test]
    fn zone_applies_to_zoneless_timestamps_only() {
        let tz = jiff::tz::TimeZone::get("Europe/Paris").ok();
        let mut p = TimeParser::with_zone(tz);
        let (t, _) = p.parse_iso(b"2025-01-10 10:31:22,000").unwrap();
        assert_eq!(format_rfc3339(t), "2025-01-10T09:31:22.000Z");
        let (t, _) = p.parse_iso(b"2025-07-10 10:31:22,000").unwrap();
        assert_eq!(format_rfc3339(t), "2025-07-10T08:31:22.000Z", "summer time");
        let (t, _) = p.parse_iso(b"2025-01-10T10:31:22Z").unwrap();
        assert_eq!(format_rfc3339(t), "2025-01-10T10:31:22.000Z");
    }

    #[test]
    fn repeated_second_reuses_only_what_it_may() {
        // One parser, the same first 19 bytes in every zone form, in turn: each answer must
        // equal a fresh parser's.
        let tz = jiff::tz::TimeZone::get("Europe/Paris").ok();
        let mut p = TimeParser::with_zone(tz.clone());
        for s in [
            "2025-01-10 10:31:22,100",
            "2025-01-10 10:31:22,200Z",
            "2025-01-10 10:31:22.300+02:00",
            "2025-01-10 10:31:22 -0530",
            "2025-01-10 10:31:22",
            "2025-01-10 10:31:22.5Z",
            "2025-01-10 10:31:23,000",
        ] {
            let fresh = TimeParser::with_zone(tz.clone()).parse_iso_zoned(s.as_bytes());
            assert_eq!(p.parse_iso_zoned(s.as_bytes()), fresh, "{s}");
        }
    }

    #[test]
    fn common_log_format() {
        let mut p = TimeParser::new();
        let (t, n) = p.parse_clf(b"10/Jan/2025:10:31:22 +0000] \"GET").unwrap();
        assert_eq!(format_rfc3339(t), "2025-01-10T10:31:22.000Z");
        assert_eq!(n, 26);
        let (t, _) = p.parse_clf(b"10/Jan/2025:11:31:22 +0100]").unwrap();
        assert_eq!(format_rfc3339(t), "2025-01-10T10:31:22.000Z");
        assert!(p.parse_clf(b"10/Foo/2025:10:31:22 +0000]").is_none());
    }

    #[test]
    fn json_values() {
        let mut p = TimeParser::new();
        let t = p.parse_json_value(b"\"2025-01-10T10:31:22.5Z\"").unwrap();
        assert_eq!(format_rfc3339(t), "2025-01-10T10:31:22.500Z");
        let t = p.parse_json_value(b"1736505082.25,").unwrap();
        assert_eq!(format_rfc3339(t), "2025-01-10T10:31:22.250Z");
        let t = p.parse_json_value(b"1736505082250}").unwrap();
        assert_eq!(format_rfc3339(t), "2025-01-10T10:31:22.250Z");
        assert!(p.parse_json_value(b"null").is_none());
    }
}
