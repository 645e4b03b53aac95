//! Container and platform layouts: the wrapping a log collector puts around each line.
//!
//! Text logs, with or without the per-line prefixes of `kubectl logs --prefix/--timestamps`,
//! Render and Heroku, are framed as they are (the framer strips those prefixes line by line).
//! The layouts here need more than a prefix strip, so an [`Unwrapper`] rewrites them, before
//! framing, into *canonical lines* that carry the stream and the time in front of the
//! application's own line:
//!
//! ```text
//! \x1e STREAM \x1f TIME-AS-16-HEX-DIGITS (or nothing) \x1e MESSAGE \n
//! ```
//!
//! - Docker json-file: `{"log":"...\n","stream":"stderr","time":"..."}`; the `log` string is
//!   unescaped, a `log` without a final newline is a partial line (Docker cuts lines at
//!   16 KiB) that continues in the next object of the same stream.
//! - CRI (`/var/log/pods`): `TIME stdout|stderr P|F MESSAGE`; `P` pieces are joined up to the
//!   closing `F`.
//! - docker compose: `service   | MESSAGE`.
//! - journald / syslog `short`: `Jul 05 09:13:44 host unit[pid]: MESSAGE` (the year comes from
//!   `--year` or the file's time), and `short-iso` (`2024-07-05T09:13:44+0000 host unit: `).
//!
//! The unwrapper runs sequentially over a source (its state is the open partial lines of
//! each stream), so its output is the same whatever the block size; the framing after it is
//! parallel as for any text. A line that does not have its input's layout (compose's
//! `Attaching to ...`, a stray line in a JSON file) is kept as a plain line and counted.

use std::borrow::Cow;

use memchr::memchr;

use super::time::{Nanos, TimeParser};

/// Marks a canonical line and separates its message; cannot start a line of text.
pub(crate) const CANON: u8 = 0x1e;
/// Separates a canonical line's stream from its time.
pub(crate) const CANON_TIME: u8 = 0x1f;

/// How the lines of an input are wrapped.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Text lines (kubectl, Render and Heroku prefixes are read line by line).
    Text,
    /// Docker's json-file logging driver.
    Docker,
    /// The CRI format the kubelet writes under `/var/log/pods`.
    Cri,
    /// `docker compose logs` / `docker compose up`.
    Compose,
    /// journald or syslog `short` (and `short-iso`) output.
    Journald,
}

impl Layout {
    /// Every layout.
    pub const ALL: [Layout; 5] = [
        Layout::Text,
        Layout::Docker,
        Layout::Cri,
        Layout::Compose,
        Layout::Journald,
    ];

    /// The layout of this [`Layout::name`].
    pub fn from_name(name: &str) -> Option<Layout> {
        Layout::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The name used by `--input-format` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Text => "text",
            Layout::Docker => "docker",
            Layout::Cri => "cri",
            Layout::Compose => "compose",
            Layout::Journald => "journald",
        }
    }

    /// Whether the lines go through an [`Unwrapper`].
    pub fn is_wrapped(self) -> bool {
        self != Layout::Text
    }
}

/// Lines sampled by [`detect`] and [`learn_prefix`].
const SAMPLE_LINES: usize = 20;

/// The first non-blank whole lines of `head` (a line cut at its end is left out), at most
/// [`SAMPLE_LINES`], without their `\r`.
fn sample(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let complete = match memchr::memrchr(b'\n', head) {
        Some(i) => &head[..=i],
        None => head,
    };
    // Lines found with memchr: a split that tests every byte was most of the time that
    // detection took, a tenth of the time of a directory of small files.
    let mut rest = Some(complete);
    std::iter::from_fn(move || {
        let r = rest?;
        Some(match memchr::memchr(b'\n', r) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                &r[..i]
            }
            None => {
                rest = None;
                r
            }
        })
    })
    .map(trim_cr)
    .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
    .take(SAMPLE_LINES)
}

/// Guesses an input's layout from its first bytes (a few KiB are enough).
///
/// Up to 20 non-blank lines are looked at (a line cut at the end of `head` is left out).
/// Docker, CRI and journald need a majority of them; compose, whose prefix is the loosest,
/// needs four in five. Anything else is text.
pub fn detect(head: &[u8]) -> Layout {
    let mut tp = TimeParser::new();
    let (mut n, mut docker, mut cri, mut journald, mut compose) = (0, 0, 0, 0, 0);
    for line in sample(head) {
        n += 1;
        docker += usize::from(docker_line(line).is_some());
        cri += usize::from(cri_line(line).is_some());
        journald += usize::from(line.starts_with(b"-- ") || journald_line(line, &mut tp).is_some());
        compose += usize::from(compose_line(line).is_some());
    }
    if n == 0 {
        Layout::Text
    } else if docker * 2 > n {
        Layout::Docker
    } else if cri * 2 > n {
        Layout::Cri
    } else if journald * 2 > n {
        Layout::Journald
    } else if compose * 5 >= n * 4 {
        Layout::Compose
    } else {
        Layout::Text
    }
}

/// A platform prefix that is not in the built-in list, learned from an input's first lines: a
/// time with a zone (`2025-01-10 12:29:41.720912988 +0000`), then maybe a zone name (`UTC`)
/// and a `[source]` tag, then a space. An application's own header (Python logging's time
/// has no zone) is not learned; a prefix is learned only when at least three lines in four
/// of the sample carry it the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    zone_word: bool,
    tag: bool,
}

impl Prefix {
    /// The time and the length of the prefix when `line` has it.
    pub(crate) fn strip(self, line: &[u8], tp: &mut TimeParser) -> Option<(Nanos, usize)> {
        match prefix_shape(line, tp) {
            Some((t, n, shape)) if shape == self => Some((t, n)),
            _ => None,
        }
    }
}

/// Reads a learnable prefix: (time, length with the space after it, its shape).
fn prefix_shape(line: &[u8], tp: &mut TimeParser) -> Option<(Nanos, usize, Prefix)> {
    if !line.first()?.is_ascii_digit() {
        return None;
    }
    let (t, mut i, zoned) = tp.parse_iso_zoned(line)?;
    let mut shape = Prefix {
        zone_word: false,
        tag: false,
    };
    if [&b" UTC"[..], b" GMT"]
        .iter()
        .any(|w| line[i..].starts_with(w))
    {
        i += 4;
        shape.zone_word = true;
    }
    if !(zoned || shape.zone_word) {
        return None;
    }
    if line[i..].starts_with(b" [") {
        let end = (i + 66).min(line.len());
        let close = memchr(b']', &line[i + 2..end])?;
        i += close + 3;
        shape.tag = true;
    }
    (line.get(i) == Some(&b' ')).then_some((t, i + 1, shape))
}

/// Learns the platform prefix of an input from its first bytes; see [`Prefix`].
pub fn learn_prefix(head: &[u8]) -> Option<Prefix> {
    let mut tp = TimeParser::new();
    let mut n = 0;
    let mut shapes: Vec<(Prefix, usize)> = Vec::new();
    for line in sample(head) {
        n += 1;
        if let Some((_, _, shape)) = prefix_shape(line, &mut tp) {
            match shapes.iter_mut().find(|(s, _)| *s == shape) {
                Some((_, c)) => *c += 1,
                None => shapes.push((shape, 1)),
            }
        }
    }
    let (shape, count) = shapes.into_iter().max_by_key(|(_, c)| *c)?;
    // The built-in ISO-and-space prefix (`kubectl --timestamps`) needs no learning.
    let builtin = !shape.zone_word && !shape.tag;
    (n >= 2 && count * 4 >= n * 3 && !builtin).then_some(shape)
}

/// A line of a wrapped layout met inside a text input (a compose or journald section after
/// plain lines): `(stream, time, message)`.
pub(crate) fn section_line<'a>(
    line: &'a [u8],
    tp: &mut TimeParser,
    year: &YearHint,
) -> Option<(&'a [u8], Option<Nanos>, &'a [u8])> {
    let first = *line.first()?;
    if first.is_ascii_uppercase() {
        // journald `short`: a month name first.
        if !line.get(..3).is_some_and(|m| MONTHS.contains(&m)) {
            return None;
        }
        let (t, stream, msg) = journald_line_in(line, tp, year)?;
        return Some((stream, Some(t), msg));
    }
    if first.is_ascii_lowercase() || first.is_ascii_digit() {
        let (service, msg) = compose_line(line)?;
        return Some((service, None, msg));
    }
    None
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One parsed line of a wrapped layout.
#[derive(Debug, PartialEq, Eq)]
struct Piece<'a> {
    stream: Cow<'a, [u8]>,
    /// The time as written (RFC 3339 for Docker and CRI).
    time: &'a [u8],
    /// The message, unescaped.
    msg: Cow<'a, [u8]>,
    /// A partial line, continued by the next piece of the same stream.
    partial: bool,
}

/// Parses a CRI line: `2024-07-16T17:02:20.640278510Z stdout F message`.
fn cri_line(line: &[u8]) -> Option<Piece<'_>> {
    if line.len() < 20 || !line[0].is_ascii_digit() || line[10] != b'T' {
        return None;
    }
    let t_end = memchr(b' ', line)?;
    let rest = &line[t_end + 1..];
    let s_end = memchr(b' ', rest)?;
    let stream = &rest[..s_end];
    if stream != b"stdout" && stream != b"stderr" {
        return None;
    }
    let rest = &rest[s_end + 1..];
    // The tag is `P` or `F`, possibly followed by more `:`-separated flags.
    let tag_end = memchr(b' ', rest).unwrap_or(rest.len());
    let tag = &rest[..tag_end];
    let partial = match tag.first() {
        Some(b'P') => true,
        Some(b'F') => false,
        _ => return None,
    };
    if tag.len() > 1 && tag[1] != b':' {
        return None;
    }
    let msg = rest.get(tag_end + 1..).unwrap_or(&[]);
    Some(Piece {
        stream: Cow::Borrowed(stream),
        time: &line[..t_end],
        msg: Cow::Borrowed(msg),
        partial,
    })
}

/// Parses a Docker json-file line. The driver always writes `log`, `stream`, `time` in that
/// order, which a hand-written path reads without building a JSON tree; any other object with
/// a string `log` goes through `serde_json`.
fn docker_line(line: &[u8]) -> Option<Piece<'_>> {
    const HEAD: &[u8] = b"{\"log\":\"";
    if let Some(body) = line.strip_prefix(HEAD) {
        let mut msg = Vec::new();
        if let Some(n) = json_string(body, &mut msg) {
            let rest = &body[n..];
            if let Some(rest) = rest.strip_prefix(b",\"stream\":\"") {
                let s_end = memchr(b'"', rest)?;
                let stream = &rest[..s_end];
                if let Some(rest) = rest[s_end + 1..].strip_prefix(b",\"time\":\"") {
                    let t_end = memchr(b'"', rest)?;
                    if rest[t_end + 1..].starts_with(b"}") {
                        return Some(docker_piece(Cow::Borrowed(stream), &rest[..t_end], msg));
                    }
                }
            }
        }
    }
    if line.first() != Some(&b'{') {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Obj {
        log: String,
        #[serde(default)]
        stream: String,
    }
    let o: Obj = serde_json::from_slice(line).ok()?;
    // The time is read from the raw bytes so that the piece can borrow it.
    let time = raw_string_field(line, b"\"time\":\"").unwrap_or(&[]);
    Some(docker_piece(
        Cow::Owned(o.stream.into_bytes()),
        time,
        o.log.into_bytes(),
    ))
}

fn docker_piece<'a>(stream: Cow<'a, [u8]>, time: &'a [u8], mut msg: Vec<u8>) -> Piece<'a> {
    let partial = msg.last() != Some(&b'\n');
    if !partial {
        msg.pop();
    }
    Piece {
        stream,
        time,
        msg: Cow::Owned(msg),
        partial,
    }
}

/// The raw value of a string field without escapes, found by its `"key":"` bytes.
fn raw_string_field<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = memchr::memmem::find(line, key)? + key.len();
    let end = memchr(b'"', &line[at..])?;
    Some(&line[at..at + end])
}

/// Decodes a JSON string body (after the opening quote) into `out`; returns the bytes
/// consumed including the closing quote. Invalid escapes and lone surrogates become U+FFFD.
pub(crate) fn json_string(b: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let mut pos = 0;
    loop {
        let i = memchr::memchr2(b'"', b'\\', &b[pos..])?;
        out.extend_from_slice(&b[pos..pos + i]);
        pos += i;
        if b[pos] == b'"' {
            return Some(pos + 1);
        }
        let esc = *b.get(pos + 1)?;
        pos += 2;
        match esc {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'"' | b'\\' | b'/' => out.push(esc),
            b'u' => {
                let hi = hex4(b.get(pos..pos + 4)?);
                pos += 4;
                let c = match hi {
                    Some(h @ 0xd800..=0xdbff) => {
                        let lo = b
                            .get(pos..pos + 6)
                            .filter(|s| s.starts_with(b"\\u"))
                            .and_then(|s| hex4(&s[2..]))
                            .filter(|l| (0xdc00..=0xdfff).contains(l));
                        match lo {
                            Some(l) => {
                                pos += 6;
                                char::from_u32(0x10000 + ((h - 0xd800) << 10) + (l - 0xdc00))
                            }
                            None => None,
                        }
                    }
                    Some(h) => char::from_u32(h),
                    None => None,
                };
                let mut tmp = [0u8; 4];
                out.extend_from_slice(
                    c.unwrap_or(char::REPLACEMENT_CHARACTER)
                        .encode_utf8(&mut tmp)
                        .as_bytes(),
                );
            }
            _ => out.extend_from_slice("\u{fffd}".as_bytes()),
        }
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(b).ok()?;
    u32::from_str_radix(s, 16).ok()
}

/// Level words that look like a compose service name in `INFO | message` logs.
const LEVEL_WORDS: [&[u8]; 8] = [
    b"INFO",
    b"ERROR",
    b"WARNING",
    b"WARN",
    b"DEBUG",
    b"CRITICAL",
    b"TRACE",
    b"FATAL",
];

/// Parses a docker compose line: `backend_app    | message` (v1) or `api-1  | message` (v2).
fn compose_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let name = line
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
        .count();
    if name == 0 || LEVEL_WORDS.contains(&&line[..name]) {
        return None;
    }
    let pad = line[name..].iter().take_while(|&&c| c == b' ').count();
    if pad == 0 || line.get(name + pad) != Some(&b'|') {
        return None;
    }
    let rest = &line[name + pad + 1..];
    let msg = match rest.first() {
        None => rest,
        Some(b' ') => &rest[1..],
        Some(_) => return None,
    };
    Some((&line[..name], msg))
}

/// Parses a journald/syslog line into (time, `host unit`, message). `year` supplies the year
/// of `short` times.
fn journald_line<'a>(line: &'a [u8], tp: &mut TimeParser) -> Option<(Nanos, &'a [u8], &'a [u8])> {
    journald_line_in(line, tp, &YearHint::default())
}

/// Where the year of a `short` journald time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct YearHint {
    /// The year.
    pub year: i32,
    /// When the year came from the file's time: its month. A line dated in a later month
    /// was written the year before (a file modified in January holding December lines).
    pub until_month: Option<u8>,
}

impl Default for YearHint {
    fn default() -> Self {
        YearHint {
            year: 1970,
            until_month: None,
        }
    }
}

impl YearHint {
    /// The year of an input's journald/syslog times: `year` when the user gave one, else
    /// the one its modification time (nanoseconds since the epoch) gives, asked only then.
    pub fn for_part(year: Option<i32>, modified_ns: impl FnOnce() -> i64) -> YearHint {
        match year {
            Some(year) => YearHint {
                year,
                until_month: None,
            },
            None => YearHint::from_file_time(modified_ns()),
        }
    }

    /// The year of the file time `t` (nanoseconds), with the month rule.
    pub fn from_file_time(t: Nanos) -> YearHint {
        let ts = jiff::Timestamp::from_nanosecond(i128::from(t)).unwrap_or_default();
        let d = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
        YearHint {
            year: i32::from(d.year()),
            until_month: Some(d.month() as u8),
        }
    }

    pub(crate) fn year_of(&self, line: &[u8]) -> i32 {
        let month = line
            .get(..3)
            .and_then(|m| MONTHS.iter().position(|x| x == &m))
            .map(|i| i as u8 + 1);
        match (self.until_month, month) {
            (Some(limit), Some(m)) if m > limit => self.year - 1,
            _ => self.year,
        }
    }
}

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn journald_line_in<'a>(
    line: &'a [u8],
    tp: &mut TimeParser,
    year: &YearHint,
) -> Option<(Nanos, &'a [u8], &'a [u8])> {
    let (t, n) = if line.first()?.is_ascii_digit() {
        let (t, n, zoned) = tp.parse_iso_zoned(line)?;
        if !zoned {
            return None;
        }
        (t, n)
    } else {
        tp.parse_syslog(line, year.year_of(line))?
    };
    let start = n + 1;
    let rest = line[n..].strip_prefix(b" ")?;
    let host_end = memchr(b' ', rest)?;
    let host = &rest[..host_end];
    let rest = &rest[host_end + 1..];
    // The identifier runs to the first `: ` and holds no space (`python3[3129704]`, `kernel`).
    let colon = memchr::memmem::find(rest, b": ")
        .or_else(|| (rest.last() == Some(&b':')).then(|| rest.len() - 1))?;
    let ident = &rest[..colon];
    if host.is_empty() || ident.is_empty() || ident.contains(&b' ') {
        return None;
    }
    let unit = match memchr(b'[', ident) {
        Some(i) if ident.ends_with(b"]") => i,
        _ => ident.len(),
    };
    // `host unit`: host and identifier are one space apart in the line.
    let stream = &line[start..start + host_end + 1 + unit];
    let msg = rest.get(colon + 2..).unwrap_or(&[]);
    Some((t, stream, msg))
}

/// Counters of the unwrapping stage.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnwrapStats {
    /// Physical lines read.
    pub lines: u64,
    /// Partial pieces joined into the line they continue (CRI `P`, Docker's 16 KiB cuts).
    pub joined: u64,
    /// Lines without the input's layout, kept as plain lines.
    pub foreign: u64,
    /// Joined lines cut at the line limit.
    pub truncated: u64,
    /// Canonical lines written (a physical line gives one, a joined line one for all its
    /// pieces).
    pub emitted: u64,
}

impl UnwrapStats {
    /// Adds `o` to `self`.
    pub fn add(&mut self, o: &UnwrapStats) {
        self.lines += o.lines;
        self.joined += o.joined;
        self.foreign += o.foreign;
        self.truncated += o.truncated;
        self.emitted += o.emitted;
    }
}

/// A partial line waiting for its end.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Open {
    stream: Vec<u8>,
    time: Option<Nanos>,
    text: Vec<u8>,
}

/// Rewrites the lines of a wrapped layout into canonical lines; see the module docs. It
/// serializes (`--state`) without its time parser, whose zone [`Unwrapper::set_zone`] puts
/// back.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Unwrapper {
    layout: Layout,
    #[serde(skip)]
    tp: TimeParser,
    year: YearHint,
    max_line: usize,
    open: Vec<Open>,
    /// The stream of the last line that had the layout: a line without it continues that
    /// stream (a traceback header printed without the prefix its frames carry).
    last: Vec<u8>,
    /// Counters so far.
    pub stats: UnwrapStats,
}

impl Unwrapper {
    /// Creates an unwrapper for `layout`. `zone` is the zone of zone-less times (journald),
    /// `max_line` the longest message kept (longer joined lines are cut and counted).
    pub fn new(
        layout: Layout,
        zone: Option<jiff::tz::TimeZone>,
        year: YearHint,
        max_line: usize,
    ) -> Unwrapper {
        Unwrapper {
            layout,
            tp: TimeParser::with_zone(zone),
            year,
            max_line,
            open: Vec::new(),
            last: Vec::new(),
            stats: UnwrapStats::default(),
        }
    }

    /// Sets the zone of zone-less times (after deserializing: it is not saved).
    pub fn set_zone(&mut self, zone: Option<jiff::tz::TimeZone>) {
        self.tp = TimeParser::with_zone(zone);
    }

    /// The layout it unwraps.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Unwraps `buf`, whole lines (the last one may lack its newline only at the end of the
    /// input), appending canonical lines to `out`. Partial lines still open at the end of
    /// `buf` are kept for the next call.
    pub fn feed(&mut self, buf: &[u8], out: &mut Vec<u8>) {
        out.reserve(buf.len() + buf.len() / 8);
        let mut pos = 0;
        while pos < buf.len() {
            let end = memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i);
            let line = trim_cr(&buf[pos..end]);
            pos = end + 1;
            self.stats.lines += 1;
            self.line(line, out);
        }
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<u8>) {
        match self.layout {
            Layout::Text => {
                out.extend_from_slice(line);
                out.push(b'\n');
                self.stats.emitted += 1;
            }
            Layout::Docker | Layout::Cri => {
                let piece = if self.layout == Layout::Docker {
                    docker_line(line)
                } else {
                    cri_line(line)
                };
                match piece {
                    Some(p) => {
                        set_last(&mut self.last, &p.stream);
                        self.piece(p, out)
                    }
                    None => self.foreign(line, out),
                }
            }
            Layout::Compose => match compose_line(line) {
                Some((service, msg)) => {
                    set_last(&mut self.last, service);
                    self.stats.emitted += emit(out, service, None, msg)
                }
                None => self.foreign(line, out),
            },
            Layout::Journald => match journald_line_in(line, &mut self.tp, &self.year) {
                Some((t, stream, msg)) => {
                    set_last(&mut self.last, stream);
                    self.stats.emitted += emit(out, stream, Some(t), msg)
                }
                None => self.foreign(line, out),
            },
        }
    }

    fn foreign(&mut self, line: &[u8], out: &mut Vec<u8>) {
        if !line.is_empty() {
            self.stats.foreign += 1;
        }
        if self.last.is_empty() || line.is_empty() {
            out.extend_from_slice(line);
            out.push(b'\n');
            self.stats.emitted += 1;
        } else {
            self.stats.emitted += emit(out, &self.last, None, line);
        }
    }

    fn piece(&mut self, p: Piece<'_>, out: &mut Vec<u8>) {
        let idx = self.open.iter().position(|o| o.stream[..] == p.stream[..]);
        match idx {
            Some(i) => {
                self.stats.joined += 1;
                let o = &mut self.open[i];
                let room = (self.max_line + 1).saturating_sub(o.text.len());
                if p.msg.len() > room {
                    o.text.extend_from_slice(&p.msg[..room]);
                } else {
                    o.text.extend_from_slice(&p.msg);
                }
                if !p.partial {
                    let o = self.open.swap_remove(i);
                    self.close(o, out);
                }
            }
            None => {
                let time = self.tp.parse_iso(p.time).map(|(t, _)| t);
                if p.partial {
                    let mut text = p.msg.into_owned();
                    text.truncate(self.max_line + 1);
                    self.open.push(Open {
                        stream: p.stream.into_owned(),
                        time,
                        text,
                    });
                } else {
                    self.stats.emitted += emit(out, &p.stream, time, &p.msg);
                }
            }
        }
    }

    fn close(&mut self, o: Open, out: &mut Vec<u8>) {
        if o.text.len() > self.max_line {
            self.stats.truncated += 1;
        }
        self.stats.emitted += emit(out, &o.stream, o.time, &o.text);
    }

    /// Ends the input: partial lines that never got their end are written as they are.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        // In stream order of name so the output does not depend on arrival order.
        self.open.sort_by(|a, b| a.stream.cmp(&b.stream));
        for o in std::mem::take(&mut self.open) {
            self.close(o, out);
        }
    }
}

fn set_last(last: &mut Vec<u8>, stream: &[u8]) {
    if last[..] != *stream {
        last.clear();
        last.extend_from_slice(stream);
    }
}

/// Writes one canonical line; a message holding newlines becomes several lines. Returns the
/// lines written.
fn emit(out: &mut Vec<u8>, stream: &[u8], time: Option<Nanos>, msg: &[u8]) -> u64 {
    let mut n = 0;
    for part in msg.split(|&c| c == b'\n') {
        n += 1;
        out.push(CANON);
        out.extend(stream.iter().map(|&c| match c {
            CANON | CANON_TIME | b'\n' => b'?',
            c => c,
        }));
        out.push(CANON_TIME);
        if let Some(t) = time {
            out.extend_from_slice(format!("{:016x}", t as u64).as_bytes());
        }
        out.push(CANON);
        out.extend_from_slice(part);
        out.push(b'\n');
    }
    n
}

/// Reads a canonical line's prefix: `(stream, time, message)`.
pub(crate) fn parse_canonical(line: &[u8]) -> Option<(&[u8], Option<Nanos>, &[u8])> {
    let rest = line.strip_prefix(&[CANON])?;
    let sep = memchr(CANON_TIME, rest)?;
    let after = &rest[sep + 1..];
    let end = memchr(CANON, after)?;
    let hex = &after[..end];
    let time = match hex.len() {
        0 => None,
        16 => Some(u64::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()? as i64),
        _ => return None,
    };
    Some((&rest[..sep], time, &after[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unwrap(layout: Layout, input: &str) -> (Vec<(String, Option<Nanos>, String)>, UnwrapStats) {
        let mut u = Unwrapper::new(layout, None, YearHint::default(), 1 << 20);
        let mut out = Vec::new();
        u.feed(input.as_bytes(), &mut out);
        u.finish(&mut out);
        let lines = out
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| match parse_canonical(l) {
                Some((s, t, m)) => (
                    String::from_utf8_lossy(s).into_owned(),
                    t,
                    String::from_utf8_lossy(m).into_owned(),
                ),
                None => (String::new(), None, String::from_utf8_lossy(l).into_owned()),
            })
            .collect();
        (lines, u.stats)
    }

    #[test]
    fn docker_json_file_lines_are_unescaped_per_stream() {
        let input = concat!(
            r#"{"log":"Traceback (most recent call last):\n","stream":"stderr","time":"2024-07-16T17:02:20.640278510Z"}"#,
            "\n",
            r#"{"log":"INFO:     \"GET / HTTP/1.1\" 200 OK\n","stream":"stdout","time":"2024-07-16T17:02:20.7Z"}"#,
            "\n",
            r#"{"log":"  File \"/app/a.py\", line 1, in f\n","stream":"stderr","time":"2024-07-16T17:02:20.640278510Z"}"#,
            "\r\n",
            r#"{"stream":"stderr","log":"caf\u00e9 \ud83d\ude00\n","time":"2024-07-16T17:02:21Z"}"#,
            "\n",
        );
        let (lines, stats) = unwrap(Layout::Docker, input);
        assert_eq!(stats.lines, 4);
        assert_eq!(stats.foreign, 0);
        assert_eq!(lines[0].0, "stderr");
        assert_eq!(lines[0].2, "Traceback (most recent call last):");
        assert_eq!(
            crate::framing::format_rfc3339(lines[0].1.unwrap()),
            "2024-07-16T17:02:20.640Z"
        );
        assert_eq!(lines[1].0, "stdout");
        assert_eq!(lines[1].2, "INFO:     \"GET / HTTP/1.1\" 200 OK");
        assert_eq!(lines[2].2, "  File \"/app/a.py\", line 1, in f");
        assert_eq!(lines[3].2, "café 😀");
        assert_eq!(
            crate::framing::format_rfc3339(lines[3].1.unwrap()),
            "2024-07-16T17:02:21.000Z"
        );
    }

    #[test]
    fn docker_partial_lines_join_per_stream() {
        let input = concat!(
            r#"{"log":"AttributeError: 'Settings' ","stream":"stderr","time":"2024-07-16T17:02:20Z"}"#,
            "\n",
            r#"{"log":"other\n","stream":"stdout","time":"2024-07-16T17:02:20Z"}"#,
            "\n",
            r#"{"log":"object has no attribute 'X'\n","stream":"stderr","time":"2024-07-16T17:02:21Z"}"#,
            "\n",
        );
        let (lines, stats) = unwrap(Layout::Docker, input);
        assert_eq!(stats.joined, 1);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[1].2,
            "AttributeError: 'Settings' object has no attribute 'X'"
        );
        assert_eq!(
            crate::framing::format_rfc3339(lines[1].1.unwrap()),
            "2024-07-16T17:02:20.000Z"
        );
    }

    #[test]
    fn cri_partials_join_up_to_f() {
        let input = "\
2024-07-16T17:02:20.1Z stderr P RuntimeError: WebSocket is not
2024-07-16T17:02:20.2Z stdout F INFO:     ok
2024-07-16T17:02:20.3Z stderr P  connected. Need to call
2024-07-16T17:02:20.4Z stderr F  \"accept\" first.
2024-07-16T17:02:20.5Z stdout F
not cri at all
";
        let (lines, stats) = unwrap(Layout::Cri, input);
        assert_eq!(stats.lines, 6);
        assert_eq!(stats.joined, 2);
        assert_eq!(stats.foreign, 1);
        assert_eq!(
            lines[0],
            ("stdout".into(), lines[0].1, "INFO:     ok".into())
        );
        assert_eq!(
            lines[1].2,
            "RuntimeError: WebSocket is not connected. Need to call \"accept\" first."
        );
        assert_eq!(lines[2].2, "");
        // A line without the layout continues the stream before it.
        assert_eq!(lines[3], ("stdout".into(), None, "not cri at all".into()));
    }

    #[test]
    fn an_unterminated_partial_is_flushed_at_the_end() {
        let (lines, _) = unwrap(Layout::Cri, "2024-07-16T17:02:20.1Z stderr P tail");
        assert_eq!(lines[0].2, "tail");
    }

    #[test]
    fn joined_lines_are_bounded() {
        let mut u = Unwrapper::new(Layout::Cri, None, YearHint::default(), 10);
        let mut out = Vec::new();
        for _ in 0..100 {
            u.feed(b"2024-07-16T17:02:20.1Z stdout P 0123456789\n", &mut out);
        }
        u.feed(b"2024-07-16T17:02:20.1Z stdout F end\n", &mut out);
        assert_eq!(u.stats.truncated, 1);
        let (_, _, msg) = parse_canonical(out.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(msg.len(), 11);
    }

    #[test]
    fn compose_service_is_the_stream() {
        let input = "\
Attaching to backend_app, db_1
backend_app    | Traceback (most recent call last):
db_1           | LOG:  checkpoint starting
backend_app    |   File \"/app/main.py\", line 3, in <module>
backend_app    |
api-1  | KeyError: 'x'
";
        let (lines, stats) = unwrap(Layout::Compose, input);
        assert_eq!(stats.foreign, 1);
        assert_eq!(lines[1].0, "backend_app");
        assert_eq!(lines[1].2, "Traceback (most recent call last):");
        assert_eq!(lines[2].0, "db_1");
        assert_eq!(lines[3].2, "  File \"/app/main.py\", line 3, in <module>");
        assert_eq!(lines[4].2, "");
        assert_eq!(lines[5].0, "api-1");
        assert!(compose_line(b"INFO     | app | started").is_none());
        assert!(compose_line(b"a|b").is_none());
    }

    #[test]
    fn journald_short_and_iso() {
        let mut u = Unwrapper::new(
            Layout::Journald,
            None,
            YearHint {
                year: 2025,
                until_month: Some(3),
            },
            1 << 20,
        );
        let mut out = Vec::new();
        u.feed(
            b"-- Logs begin at Mon 2024-12-30 10:00:00 UTC. --\n\
Dec 31 23:59:59 web-1 app[3129704]: Traceback (most recent call last):\n\
Jan  5 09:13:44 web-1 app[3129704]:   File \"/app/x.py\", line 1, in f\n\
2025-01-05T09:13:45+0000 web-1 systemd[1]: app.service: Main process exited\n",
            &mut out,
        );
        let lines: Vec<_> = out
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert!(parse_canonical(lines[0]).is_none());
        let (s, t, m) = parse_canonical(lines[1]).unwrap();
        assert_eq!(s, b"web-1 app");
        assert_eq!(m, b"Traceback (most recent call last):");
        assert_eq!(
            crate::framing::format_rfc3339(t.unwrap()),
            "2024-12-31T23:59:59.000Z"
        );
        let (_, t, m) = parse_canonical(lines[2]).unwrap();
        assert_eq!(m, b"  File \"/app/x.py\", line 1, in f");
        assert_eq!(
            crate::framing::format_rfc3339(t.unwrap()),
            "2025-01-05T09:13:44.000Z"
        );
        let (s, _, _) = parse_canonical(lines[3]).unwrap();
        assert_eq!(s, b"web-1 systemd");
        assert_eq!(u.stats.foreign, 1);
    }

    #[test]
    fn detection() {
        assert_eq!(
            detect(br#"{"log":"x\n","stream":"stdout","time":"2024-07-16T17:02:20Z"}"#),
            Layout::Docker
        );
        assert_eq!(
            detect(b"2024-07-16T17:02:20.640278510Z stdout F hello\n"),
            Layout::Cri
        );
        assert_eq!(
            detect(b"2024-07-16T17:02:20.640278510Z hello\n"),
            Layout::Text
        );
        assert_eq!(detect(b"web_1  | hello\nweb_1  | again\n"), Layout::Compose);
        assert_eq!(
            detect(b"-- Boot 1 --\nJul 05 09:13:44 host app[1]: hi\n"),
            Layout::Journald
        );
        assert_eq!(
            detect(b"2025-01-10 06:05:07,317 - app - ERROR - boom\n  File \"x\"\n"),
            Layout::Text
        );
        assert_eq!(detect(b"INFO | a\nINFO | b\n"), Layout::Text);
        assert_eq!(detect(b""), Layout::Text);
    }

    /// Issue 16: a platform prefix not in the list is learned from the first lines; an
    /// application's own header is not.
    #[test]
    fn platform_prefixes_are_learned_and_app_headers_are_not() {
        let head = b"2025-01-10 12:29:41.720912988 +0000 UTC [worker-1] INFO: started\n\
2025-01-10 12:29:41.720912989 +0000 UTC [worker-1] Traceback (most recent call last):\n\
2025-01-10 12:29:41.720912990 +0000 UTC [worker-1]   File \"/a.py\", line 1, in f\n\
2025-01-10 12:29:41.720912991 +0000 UTC [worker-1] KeyError: 'x'\n";
        let p = learn_prefix(head).expect("learned");
        let mut tp = TimeParser::new();
        let line =
            b"2025-01-10 12:29:42.000000000 +0000 UTC [worker-2]   File \"/b.py\", line 2, in g";
        let (_, n) = p.strip(line, &mut tp).unwrap();
        assert_eq!(&line[n..], b"  File \"/b.py\", line 2, in g");
        assert!(p
            .strip(b"2025-01-10 12:29:42 - app - INFO - x", &mut tp)
            .is_none());
        // Python logging: no zone; kubectl --timestamps: built in, nothing to learn.
        let app = b"2025-01-10 12:29:41,123 [MainThread] INFO x\n2025-01-10 12:29:42,123 [MainThread] INFO y\n";
        assert_eq!(learn_prefix(app), None);
        let k = b"2025-01-10T12:29:41.1Z INFO: x\n2025-01-10T12:29:42.1Z INFO: y\n";
        assert_eq!(learn_prefix(k), None);
        // Fewer than three lines in four: not a prefix.
        let mixed =
            b"2025-01-10 12:29:41 +0000 [w] a\nplain\nplain\n2025-01-10 12:29:41 +0000 [w] b\n";
        assert_eq!(learn_prefix(mixed), None);
    }

    /// Issue 16: compose and journald sections inside a text input are read line by line.
    #[test]
    fn sections_of_other_layouts_in_text() {
        let mut tp = TimeParser::new();
        let y = YearHint {
            year: 2025,
            until_month: None,
        };
        let (s, t, m) = section_line(b"api-1  | KeyError: 'x'", &mut tp, &y).unwrap();
        assert_eq!((s, t, m), (&b"api-1"[..], None, &b"KeyError: 'x'"[..]));
        let (s, t, m) = section_line(b"Mar 04 10:05:00 web-2 app[7]: boom", &mut tp, &y).unwrap();
        assert_eq!(s, b"web-2 app");
        assert_eq!(m, b"boom");
        assert_eq!(
            crate::framing::format_rfc3339(t.unwrap()),
            "2025-03-04T10:05:00.000Z"
        );
        for not in [
            &b"INFO | started"[..],
            b"Total | 3",
            b"March 4 was a good day",
            b"a|b",
            b"2025-01-10 12:00:00,000 - app - INFO - x",
        ] {
            assert!(
                section_line(not, &mut tp, &y).is_none(),
                "{}",
                String::from_utf8_lossy(not)
            );
        }
    }

    #[test]
    fn json_string_matches_serde() {
        for s in [
            "plain",
            "quote \" backslash \\ slash / tab \t nl \n",
            "\u{1f600} é \u{0}",
        ] {
            let enc = serde_json::to_string(s).unwrap();
            let mut out = Vec::new();
            let n = json_string(&enc.as_bytes()[1..], &mut out).unwrap();
            assert_eq!(n, enc.len() - 1);
            assert_eq!(out, s.as_bytes());
        }
        let mut out = Vec::new();
        assert!(json_string(br#"lone \ud800 x""#, &mut out).is_some());
        assert_eq!(String::from_utf8(out).unwrap(), "lone \u{fffd} x");
        assert!(json_string(br#"unterminated"#, &mut Vec::new()).is_none());
        assert!(json_string(br#"bad \"#, &mut Vec::new()).is_none());
    }
}
