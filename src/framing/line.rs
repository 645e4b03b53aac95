//! What one physical line is, before it is joined into a record.
//!
//! A line first loses its platform prefix (`kubectl logs --prefix` stream names, the
//! `--timestamps`/Render RFC 3339 time), then its message is given a [`Kind`]. Only a
//! `Header` (a line that announces itself as a new log event: a leading timestamp, a level
//! word, a JSON object, an access-log line) starts a record whatever came before it; every other
//! kind is interpreted by the framer's state.

use memchr::memmem;
use std::sync::LazyLock;

use super::layout::{parse_canonical, section_line, Prefix, YearHint, CANON};
use super::time::{Nanos, TimeParser};

/// A line after platform-prefix stripping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stripped<'a> {
    /// The `pod/NAME/CONTAINER` of a `kubectl logs --prefix` line, empty otherwise.
    pub stream: &'a [u8],
    /// The time the platform put in front of the line, if any.
    pub platform_time: Option<Nanos>,
    /// The application's own line.
    pub msg: &'a [u8],
}

/// The role a line can play in framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Announces a new log event. `json` marks a JSON object line.
    Header { json: bool },
    /// `Traceback (most recent call last):` or an exception-group traceback header.
    TbStart,
    /// `During handling of the above exception...` / `The above exception was the direct cause...`
    Chain,
    /// Empty or whitespace only.
    Blank,
    /// Starts with a space or a tab (traceback frames, code, continuation text).
    Indented,
    /// Anything else: an exception line, or a bare line without a header.
    Text,
}

/// Reads a canonical line's stream and time, or strips `[pod/NAME/CONTAINER] ` and then an
/// RFC 3339 time with a zone followed by a space, or the input's learned `prefix`; a line of
/// a compose or journald section inside a text input is read as that layout's line.
pub(crate) fn strip_platform<'a>(
    line: &'a [u8],
    tp: &mut TimeParser,
    prefix: Option<Prefix>,
    year: &YearHint,
) -> Stripped<'a> {
    let mut rest = line;
    let mut stream: &[u8] = &[];
    if let Some(p) = prefix {
        if let Some((t, n)) = p.strip(line, tp) {
            return Stripped {
                stream,
                platform_time: Some(t),
                msg: &line[n..],
            };
        }
    }
    if line.first().is_some_and(u8::is_ascii_alphabetic)
        || line.first().is_some_and(u8::is_ascii_digit) && line.get(4) != Some(&b'-')
    {
        if let Some((s, t, msg)) = section_line(line, tp, year) {
            return Stripped {
                stream: s,
                platform_time: t,
                msg,
            };
        }
    }
    // A canonical line from the unwrapping stage (Docker, CRI, compose, journald).
    if line.first() == Some(&CANON) {
        if let Some((s, t, msg)) = parse_canonical(line) {
            if t.is_some() {
                return Stripped {
                    stream: s,
                    platform_time: t,
                    msg,
                };
            }
            // No time in the wrapping (compose): the line may still carry a platform time.
            stream = s;
            rest = msg;
        }
    }
    if stream.is_empty() && rest.starts_with(b"[pod/") {
        if let Some(close) = memchr::memchr(b']', rest) {
            if rest.get(close + 1) == Some(&b' ') {
                stream = &rest[1..close];
                rest = &rest[close + 2..];
            }
        }
    }
    let mut platform_time = None;
    // kubectl --timestamps, docker logs -t and Render: `2024-07-16T17:02:20.640278510Z `.
    // A zone is required, and a `T`, so a Python logging time (space, no zone) stays in the
    // message where it belongs.
    if rest.len() > 20 && rest[10] == b'T' && rest[0].is_ascii_digit() {
        if let Some((t, n, zoned)) = tp.parse_iso_zoned(rest) {
            if zoned && rest.get(n) == Some(&b' ') {
                platform_time = Some(t);
                rest = &rest[n + 1..];
                // A CRI line inside a text input (a section of a kubelet file pasted after
                // plain lines): its stream and `F` tag (a `P` piece cannot be joined here).
                if let Some(after) = rest
                    .strip_prefix(b"stdout ")
                    .or_else(|| rest.strip_prefix(b"stderr "))
                {
                    if let Some(msg) = after
                        .strip_prefix(b"F ")
                        .or_else(|| after.strip_prefix(b"P "))
                    {
                        rest = msg;
                    }
                }
                // Heroku: `2024-12-08T16:23:33.457957+00:00 app[web.1]: <line>`; the dyno
                // (`app[web.1]`, `heroku[router]`) is the stream.
                if stream.is_empty() {
                    if let Some(n) = heroku_source(rest) {
                        stream = &rest[..n - 2];
                        rest = &rest[n..];
                    }
                }
            }
        }
    }
    Stripped {
        stream,
        platform_time,
        msg: rest,
    }
}

/// The length of a Heroku source prefix `name[dyno]: `, if `b` starts with one.
fn heroku_source(b: &[u8]) -> Option<usize> {
    let name = b.iter().take_while(|c| c.is_ascii_lowercase()).count();
    if name == 0 || b.get(name) != Some(&b'[') {
        return None;
    }
    let close = name
        + 1
        + b[name + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
            .count();
    (b.get(close) == Some(&b']') && b[close + 1..].starts_with(b": ")).then_some(close + 3)
}

const LEVELS: [&[u8]; 8] = [
    b"INFO:",
    b"ERROR:",
    b"WARNING:",
    b"DEBUG:",
    b"CRITICAL:",
    b"TRACE:",
    b"WARN:",
    b"FATAL:",
];

/// Classifies a message and, for a header, returns the time it carries.
pub(crate) fn classify_line(msg: &[u8], tp: &mut TimeParser) -> (Kind, Option<Nanos>) {
    let Some(&first) = msg.first() else {
        return (Kind::Blank, None);
    };
    match first {
        b' ' | b'\t' => {
            let t = trim_start(msg);
            if t.is_empty() {
                (Kind::Blank, None)
            } else if t.starts_with(b"+ Exception Group Traceback (most recent call last):") {
                (Kind::TbStart, None)
            } else {
                (Kind::Indented, None)
            }
        }
        b'{' => (Kind::Header { json: true }, json_time(msg, tp)),
        b'0'..=b'9' => {
            if let Some((t, _)) = tp.parse_iso(msg) {
                return (Kind::Header { json: false }, Some(t));
            }
            if let Some(t) = access_line_time(msg, tp) {
                return (Kind::Header { json: false }, t);
            }
            (Kind::Text, None)
        }
        b'[' => {
            let inner = &msg[1..];
            if let Some((t, _)) = tp.parse_iso(inner).or_else(|| tp.parse_clf(inner)) {
                return (Kind::Header { json: false }, Some(t));
            }
            (Kind::Text, None)
        }
        b'T' if msg.starts_with(b"Traceback (most recent call last):") => (Kind::TbStart, None),
        b'D' if msg.starts_with(b"During handling of the above exception") => (Kind::Chain, None),
        b'T' if msg.starts_with(b"The above exception was the direct cause") => (Kind::Chain, None),
        b'=' if msg.starts_with(b"==> ") => (Kind::Header { json: false }, None),
        b'A'..=b'Z' if LEVELS.iter().any(|l| msg.starts_with(l)) => {
            (Kind::Header { json: false }, None)
        }
        b'\r' | b'\x0b' | b'\x0c' if trim_start(msg).is_empty() => (Kind::Blank, None),
        _ => (Kind::Text, None),
    }
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// An access-log line: an IPv4/IPv6 client address, ` - `, then a `[CLF time]` somewhere.
/// Returns `None` when it is not one, `Some(time)` when it is (the time may be missing).
fn access_line_time(msg: &[u8], tp: &mut TimeParser) -> Option<Option<Nanos>> {
    let addr = msg
        .iter()
        .take_while(|c| c.is_ascii_hexdigit() || **c == b'.' || **c == b':')
        .count();
    if addr < 3 || !msg[addr..].starts_with(b" - ") {
        return None;
    }
    let head = &msg[..msg.len().min(addr + 300)];
    let open = memchr::memchr(b'[', head)?;
    Some(tp.parse_clf(&msg[open + 1..]).map(|(t, _)| t))
}

static JSON_TIME_KEYS: LazyLock<[memmem::Finder<'static>; 4]> = LazyLock::new(|| {
    [
        memmem::Finder::new(b"\"timestamp\":"),
        memmem::Finder::new(b"\"time\":"),
        memmem::Finder::new(b"\"ts\":"),
        memmem::Finder::new(b"\"@timestamp\":"),
    ]
});

/// Finds the time of a JSON line from its `timestamp`, `time`, `ts` or `@timestamp` key
/// without parsing the whole object: a key inside a string value is escaped (`\"time\"`), so
/// the unescaped pattern only meets real keys.
pub(crate) fn json_time(msg: &[u8], tp: &mut TimeParser) -> Option<Nanos> {
    for f in JSON_TIME_KEYS.iter() {
        if let Some(at) = f.find(msg) {
            let v = trim_start(&msg[at + f.needle().len()..]);
            if let Some(t) = tp.parse_json_value(v) {
                return Some(t);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Kind {
        classify_line(s.as_bytes(), &mut TimeParser::new()).0
    }

    #[test]
    fn kubectl_prefix_and_timestamp() {
        let mut tp = TimeParser::new();
        let s = strip_platform(
            b"[pod/backend-7d9f/api] 2025-01-10T06:01:09.109004123Z ERROR:    Exception",
            &mut tp,
            None,
            &YearHint::default(),
        );
        assert_eq!(s.stream, b"pod/backend-7d9f/api");
        assert!(s.platform_time.is_some());
        assert_eq!(s.msg, b"ERROR:    Exception");
    }

    #[test]
    fn heroku_dyno_is_the_stream() {
        let mut tp = TimeParser::new();
        let s = strip_platform(
            b"2024-12-08T16:23:33.457957+00:00 app[web.1]: Traceback (most recent call last):",
            &mut tp,
            None,
            &YearHint::default(),
        );
        assert_eq!(s.stream, b"app[web.1]");
        assert_eq!(s.msg, b"Traceback (most recent call last):");
        assert_eq!(
            crate::framing::time::format_rfc3339(s.platform_time.unwrap()),
            "2024-12-08T16:23:33.457Z"
        );
        let s = strip_platform(
            b"2024-12-08T16:23:33+00:00 heroku[router]: at=info method=GET",
            &mut tp,
            None,
            &YearHint::default(),
        );
        assert_eq!(s.stream, b"heroku[router]");
        assert_eq!(s.msg, b"at=info method=GET");
        let s = strip_platform(
            b"2024-12-08T16:23:33Z app[web.1] no colon",
            &mut tp,
            None,
            &YearHint::default(),
        );
        assert_eq!(s.stream, b"");
    }

    #[test]
    fn render_timestamp_with_short_fraction() {
        let mut tp = TimeParser::new();
        let s = strip_platform(
            b"2025-08-09T08:50:25.0Z ==> Deploy failed",
            &mut tp,
            None,
            &YearHint::default(),
        );
        assert_eq!(s.msg, b"==> Deploy failed");
        assert!(s.platform_time.is_some());
    }

    #[test]
    fn python_logging_time_is_not_a_platform_prefix() {
        let mut tp = TimeParser::new();
        let line = b"2025-01-10 06:05:07,317 - uvicorn.error - ERROR - Exception";
        let s = strip_platform(line, &mut tp, None, &YearHint::default());
        assert_eq!(s.msg, &line[..]);
        assert!(s.platform_time.is_none());
        assert_eq!(
            kind(std::str::from_utf8(line).unwrap()),
            Kind::Header { json: false }
        );
    }

    #[test]
    fn kinds() {
        assert_eq!(kind("Traceback (most recent call last):"), Kind::TbStart);
        assert_eq!(
            kind("  + Exception Group Traceback (most recent call last):"),
            Kind::TbStart
        );
        assert_eq!(kind("  File \"/app/x.py\", line 3, in f"), Kind::Indented);
        assert_eq!(
            kind("During handling of the above exception, another exception occurred:"),
            Kind::Chain
        );
        assert_eq!(
            kind("The above exception was the direct cause of the following exception:"),
            Kind::Chain
        );
        assert_eq!(kind(""), Kind::Blank);
        assert_eq!(kind("   "), Kind::Blank);
        assert_eq!(kind("KeyError: 'x'"), Kind::Text);
        assert_eq!(
            kind("INFO:     127.0.0.1:4 - \"GET / HTTP/1.1\" 200 OK"),
            Kind::Header { json: false }
        );
        assert_eq!(
            kind("[2024-01-09 13:24:39 +0000] [1637] [CRITICAL] WORKER TIMEOUT (pid:7214)"),
            Kind::Header { json: false }
        );
        assert_eq!(kind("{\"event\":\"x\"}"), Kind::Header { json: true });
        assert_eq!(kind("2025 was a good year"), Kind::Text);
    }

    #[test]
    fn access_line_is_a_header_with_its_time() {
        let mut tp = TimeParser::new();
        let (k, t) = classify_line(
            b"10.1.2.3 - - [10/Jan/2025:06:01:11 +0000] \"GET /api/v1/health HTTP/1.1\" 200 4223",
            &mut tp,
        );
        assert_eq!(k, Kind::Header { json: false });
        assert_eq!(
            crate::framing::time::format_rfc3339(t.unwrap()),
            "2025-01-10T06:01:11.000Z"
        );
    }

    #[test]
    fn json_time_keys() {
        let mut tp = TimeParser::new();
        let t = json_time(
            br#"{"level":"info","timestamp":"2025-01-10T06:05:07.317Z"}"#,
            &mut tp,
        );
        assert_eq!(
            crate::framing::time::format_rfc3339(t.unwrap()),
            "2025-01-10T06:05:07.317Z"
        );
        let t = json_time(br#"{"msg":"a \"time\": 5","ts": 1736489107.317}"#, &mut tp);
        assert_eq!(
            crate::framing::time::format_rfc3339(t.unwrap()),
            "2025-01-10T06:05:07.317Z"
        );
        assert!(json_time(br#"{"msg":"none"}"#, &mut tp).is_none());
    }
}
