//! The framing state machine and the chunk/stitch protocol that makes it parallel.
//!
//! Each stream (a `kubectl --prefix` pod/container, or the whole input) is framed on its own.
//! The state after a line depends only on the state before it and the line's [`Kind`], and a
//! *reset line* (a header that carries a time) leaves the same state whatever came before.
//! That is what lets a file be split into chunks anywhere on a line boundary:
//!
//! - a chunk worker holds back, per stream, the lines before that stream's first reset line
//!   (its *orphans*), and frames everything after it exactly as a sequential run would;
//! - at the end of the chunk each stream's open record is handed over as an owned [`Carry`];
//! - [`Stitcher::absorb`], run in chunk order, replays the orphans on top of the carry from the
//!   previous chunk. A record that straddles a boundary is thus emitted exactly once, with the
//!   same lines, whatever the chunk size or thread count.

use std::collections::{BTreeMap, HashMap};

use super::line::{classify_line, strip_platform, Kind};
use super::time::{Nanos, TimeParser};
use super::{FrameStats, Hit, Limits, LineRef, Record};

/// Where a stream is in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Phase {
    /// No open record.
    Idle,
    /// An open record started by a header line, without a traceback yet.
    Header,
    /// An open record started by a bare line (no header), without a traceback yet.
    Message,
    /// Inside `Traceback (most recent call last):`, before the exception line.
    Traceback,
    /// After the exception line of a traceback.
    Exception,
    /// After a chaining sentence, waiting for the next `Traceback`.
    Chain,
    /// Inside a Go goroutine dump (`goroutine 1 [running]:`), whose function lines are not
    /// indented.
    Goroutine,
}

/// What a line does to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The line starts a new record (the open one, if any, is emitted).
    Start(Phase),
    /// The line joins the open record.
    Join(Phase),
    /// A blank line outside any record: counted, not framed.
    SkipBlank,
}

/// The transition function. `validation` is true when the open record's exception line is a
/// pydantic validation error, whose message continues on unindented field-name lines.
/// `stamped` is true when the platform put a time on the line (CRI, Docker, journald,
/// `kubectl --timestamps`): such a line is an event of its own unless it continues a
/// traceback (or is asyncio's context under its message), so an app that prints no header
/// the framer knows (a clock time and logfmt keys) still gets a record, and a request, per
/// line.
fn step(phase: Phase, kind: Kind, line: &[u8], validation: bool, stamped: bool) -> Step {
    use Phase::*;
    match (kind, phase) {
        (Kind::Header { .. }, _) => Step::Start(Header),
        (Kind::TbStart, Header | Message | Chain) => Step::Join(Traceback),
        (Kind::TbStart, _) => Step::Start(Traceback),
        (Kind::Chain, Exception) => Step::Join(Chain),
        (Kind::Chain, Idle) => Step::Start(Message),
        (Kind::Chain, p) => Step::Join(p),
        (Kind::Blank, Idle) => Step::SkipBlank,
        (Kind::Blank, p) => Step::Join(p),
        (Kind::Indented, Idle) => Step::Start(Message),
        (Kind::Indented, p) => Step::Join(p),
        (Kind::Text, Traceback) => Step::Join(Exception),
        // A JVM exception's cause goes on its record: `Caused by: ...` under its frames.
        (Kind::Text, Message | Exception) if line.starts_with(b"Caused by: ") => Step::Join(phase),
        // A Go panic's goroutines, and their function lines, go on its record.
        (Kind::Text, Message | Exception | Goroutine) if is_goroutine_header(line) => {
            Step::Join(Goroutine)
        }
        (Kind::Text, Goroutine) if is_go_call(line) => Step::Join(Goroutine),
        (Kind::Text, Exception) if validation && is_field_path(line) => Step::Join(Exception),
        // A header's message may go on over unindented lines (asyncio's `future: <Task ...>`
        // under `Task exception was never retrieved`, multi-line log messages), but a bare
        // exception line is an event of its own.
        (Kind::Text, Header)
            if (!stamped || is_context_line(line)) && !looks_like_exception_line(line) =>
        {
            Step::Join(Header)
        }
        (Kind::Text, _) => Step::Start(Message),
    }
}

/// `SomeError: ...`, `pkg.mod.SomeException`, `KeyboardInterrupt`: a Python (or JVM, Node,
/// .NET) exception line; Go's `panic: ...` and `fatal error: ...`; or Ruby's
/// `app.rb:3:in 'f': message (SomeError)`.
fn looks_like_exception_line(line: &[u8]) -> bool {
    let name_len = line
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'.')
        .count();
    let name = &line[..name_len];
    let rest = &line[name_len..];
    let python = (rest.is_empty() || rest.starts_with(b":")) && exception_suffix(name);
    python
        || line.starts_with(b"panic: ")
        || line.starts_with(b"fatal error: ")
        || line.starts_with(b"Exception in thread \"")
        || is_ruby_exception_line(line)
}

/// `goroutine 7 [running]:`, the head of one goroutine's stack in a Go panic.
fn is_goroutine_header(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"goroutine ") else {
        return false;
    };
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    digits > 0 && rest[digits..].starts_with(b" [") && rest.trim_ascii_end().ends_with(b"]:")
}

/// A function line of a goroutine's stack: `main.handler(0xc000012345, 0x3)`,
/// `net/http.(*conn).serve(...)`, `created by net/http.(*Server).Serve in goroutine 1`.
fn is_go_call(line: &[u8]) -> bool {
    if line.starts_with(b"created by ") {
        return true;
    }
    let Some(open) = memchr::memchr(b'(', line) else {
        return false;
    };
    open > 0 && !line[..open].contains(&b' ') && line.trim_ascii_end().ends_with(b")")
}

/// Ruby's uncaught exception line: `FILE:LINE:in 'FUNC': MESSAGE (TYPE)`.
fn is_ruby_exception_line(line: &[u8]) -> bool {
    let Some(inner) = line.trim_ascii_end().strip_suffix(b")") else {
        return false;
    };
    let Some(open) = inner.windows(2).rposition(|w| w == b" (") else {
        return false;
    };
    let name = &inner[open + 2..];
    let ruby_name = name.first().is_some_and(u8::is_ascii_uppercase)
        && name
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b':' || *c == b'_');
    ruby_name && exception_suffix(name) && memchr::memmem::find(&inner[..open], b":in ").is_some()
}

/// Whether a type name ends like an exception's (`Error`, `Exception`, ...).
fn exception_suffix(name: &[u8]) -> bool {
    const SUFFIXES: [&[u8]; 9] = [
        b"Error",
        b"Exception",
        b"Warning",
        b"Exit",
        b"Interrupt",
        b"Timeout",
        b"Disconnect",
        b"Group",
        b"Cancelled",
    ];
    SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// A line of the context asyncio prints under an exception handler's message
/// (`Task exception was never retrieved`, `Exception in callback ...`): `future: <Task ...>`,
/// `handle: <Handle ...>`, `transport: ...`. It continues its header even where the platform
/// stamps every line.
fn is_context_line(line: &[u8]) -> bool {
    const KEYS: [&[u8]; 9] = [
        b"future: ",
        b"task: ",
        b"handle: ",
        b"protocol: ",
        b"transport: ",
        b"socket: ",
        b"asyncgen: ",
        b"source_traceback: ",
        b"handle_traceback: ",
    ];
    KEYS.iter().any(|k| line.starts_with(k))
}

/// The last dotted part of an exception line's type name (`KeyError` of
/// `builtins.KeyError: 'x'`).
fn exception_name(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.'))
        .unwrap_or(line.len());
    let name = &line[..end];
    match memchr::memrchr(b'.', name) {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// A pydantic error location such as `DATABASE_URL` or `items.0.name`.
fn is_field_path(line: &[u8]) -> bool {
    !line.is_empty()
        && line.len() < 200
        && line
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'[' | b']' | b'-'))
}

/// A line after prefix stripping and classification, ready for the state machine.
#[derive(Debug, Clone, Copy)]
struct Classified<'a> {
    line: LineRef<'a>,
    /// The prefilter found a traceback header in the raw line (JSON).
    tb_hit: bool,
    /// The prefilter found a level word in the line.
    level_hit: bool,
    kind: Kind,
    /// The line's own time: the platform's, else the header's.
    time: Option<Nanos>,
    /// The platform put a time on the line.
    stamped: bool,
}

/// What a stream's open record is so far, apart from its lines: the same whether the lines
/// are borrowed from a chunk ([`StreamFramer`]) or owned across a chunk boundary ([`Carry`]).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct OpenRecord {
    phase: Phase,
    time: Option<Nanos>,
    traceback: bool,
    hit: bool,
    json: bool,
    validation: bool,
    bare_exception: bool,
    /// Its first line holds a level word (absent from state saved before templates).
    #[serde(default)]
    level: bool,
    /// The index of the raised exception's line, after a traceback.
    exc_at: Option<usize>,
    last_time: Option<Nanos>,
}

/// One stream's open record and time context.
#[derive(Debug)]
struct StreamFramer<'a> {
    lines: Vec<LineRef<'a>>,
    st: OpenRecord,
}

impl<'a> StreamFramer<'a> {
    fn new() -> Self {
        StreamFramer {
            lines: Vec::new(),
            st: OpenRecord {
                phase: Phase::Idle,
                time: None,
                traceback: false,
                hit: false,
                json: false,
                validation: false,
                bare_exception: false,
                level: false,
                exc_at: None,
                last_time: None,
            },
        }
    }

    fn from_carry(c: &'a Carry) -> Self {
        StreamFramer {
            lines: c
                .lines
                .iter()
                .map(|(t, hit)| LineRef { text: t, hit: *hit })
                .collect(),
            st: c.st,
        }
    }

    fn to_carry(&self) -> Carry {
        Carry {
            lines: self
                .lines
                .iter()
                .map(|l| (l.text.to_vec(), l.hit))
                .collect(),
            st: self.st,
        }
    }

    fn emit<F: FnMut(&Record<'_>)>(&mut self, stream: &[u8], stats: &mut FrameStats, sink: &mut F) {
        if self.lines.is_empty() {
            return;
        }
        // A bare exception line followed by the traceback of another exception (a one-line
        // error, then a different failure) is two events; followed by its own traceback
        // (Sentry and Django pastes print the message first) it is one.
        let split = match self.st.exc_at {
            Some(i) if self.st.bare_exception && i > 0 && i < self.lines.len() => {
                exception_name(self.lines[0].text) != exception_name(self.lines[i].text)
            }
            _ => false,
        };
        let (time, json) = (self.st.time, self.st.json);
        let level = self.st.level;
        let mut out = |lines: &[LineRef<'_>], traceback, hit, bare_exception, level| {
            stats.records += 1;
            stats.record_lines += lines.len() as u64;
            sink(&Record {
                lines,
                stream,
                time,
                traceback,
                hit,
                json,
                bare_exception,
                level,
            });
        };
        if split {
            let rest = &self.lines[1..];
            out(&self.lines[..1], false, self.lines[0].hit, true, level);
            out(
                rest,
                self.st.traceback,
                rest.iter().any(|l| l.hit),
                false,
                false,
            );
        } else {
            out(
                &self.lines,
                self.st.traceback,
                self.st.hit,
                self.st.bare_exception,
                level,
            );
        }
        self.lines.clear();
        self.st.phase = Phase::Idle;
        self.st.exc_at = None;
    }

    fn push<F: FnMut(&Record<'_>)>(
        &mut self,
        c: Classified<'a>,
        stream: &[u8],
        limits: &Limits,
        stats: &mut FrameStats,
        sink: &mut F,
    ) {
        if c.time.is_some() {
            self.st.last_time = c.time;
        }
        if self.lines.len() >= limits.max_record_lines {
            // A record that never ends (a runaway traceback, a binary blob of indented lines)
            // is cut so memory stays bounded; the cut depends only on the record's own lines,
            // so it is the same for every chunking.
            stats.split_records += 1;
            self.emit(stream, stats, sink);
        }
        let st = step(
            self.st.phase,
            c.kind,
            c.line.text,
            self.st.validation,
            c.stamped,
        );
        match st {
            Step::SkipBlank => stats.blank += 1,
            Step::Start(p) => {
                self.emit(stream, stats, sink);
                self.st.phase = p;
                self.st.time = self.st.last_time;
                self.st.traceback = p == Phase::Traceback || c.tb_hit;
                self.st.hit = c.line.hit;
                self.st.level = c.level_hit;
                self.st.json = matches!(c.kind, Kind::Header { json: true });
                self.st.validation = false;
                self.st.exc_at = None;
                self.st.bare_exception =
                    c.kind == Kind::Text && looks_like_exception_line(c.line.text);
                self.lines.push(c.line);
            }
            Step::Join(p) => {
                if p == Phase::Exception && self.st.phase == Phase::Traceback {
                    static VALIDATION: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
                        std::sync::LazyLock::new(|| {
                            memchr::memmem::Finder::new("validation error")
                        });
                    self.st.validation = VALIDATION.find(c.line.text).is_some();
                    self.st.exc_at = Some(self.lines.len());
                }
                if p == Phase::Traceback || c.tb_hit {
                    self.st.traceback = true;
                }
                self.st.phase = p;
                self.st.hit |= c.line.hit;
                self.lines.push(c.line);
            }
        }
    }
}

/// The owned state of one stream at a chunk boundary.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Carry {
    lines: Vec<(Vec<u8>, bool)>,
    st: OpenRecord,
}

/// What a chunk worker hands to the [`Stitcher`].
#[derive(Debug, Default)]
pub struct ChunkOutput<'a> {
    /// Per stream, in first-seen order: the lines before the stream's first reset line.
    orphans: Vec<(&'a [u8], Vec<Classified<'a>>)>,
    /// Per stream that saw a reset line: its state at the end of the chunk.
    ends: Vec<(Vec<u8>, Carry)>,
    /// Counters for the lines framed inside the chunk.
    pub stats: FrameStats,
}

struct Slot<'a> {
    key: &'a [u8],
    synced: bool,
    orphans: Vec<Classified<'a>>,
    framer: StreamFramer<'a>,
}

/// Frames one chunk of whole lines.
///
/// `hits` are the prefilter matches, sorted by offset; a line containing a signature anchor is
/// marked, and so is its record; a traceback header in a raw (JSON) line marks the record as
/// holding a traceback. Records complete inside the chunk go to `sink`; the
/// rest is returned for [`Stitcher::absorb`].
pub fn frame_chunk<'a, F: FnMut(&Record<'_>)>(
    buf: &'a [u8],
    hits: &[Hit],
    limits: &Limits,
    sink: &mut F,
) -> ChunkOutput<'a> {
    let mut tp = TimeParser::with_zone(limits.zone.clone());
    let mut stats = FrameStats::default();
    let mut slots: Vec<Slot<'a>> = Vec::new();
    let mut index: HashMap<&'a [u8], usize> = HashMap::new();
    let mut last_slot = usize::MAX;
    let mut hit_i = 0;
    let mut pos = 0;
    while pos < buf.len() {
        let end = memchr::memchr(b'\n', &buf[pos..]).map_or(buf.len(), |i| pos + i);
        let next = if end < buf.len() { end + 1 } else { end };
        let mut line = &buf[pos..end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line.len() > limits.max_line_len {
            line = &line[..limits.max_line_len];
            stats.truncated_lines += 1;
        }
        let line_end = pos + line.len();
        while hit_i < hits.len() && hits[hit_i].offset < pos {
            hit_i += 1;
        }
        let (mut hit, mut tb_hit, mut level_hit) = (false, false, false);
        while hit_i < hits.len() && hits[hit_i].offset < line_end {
            if hits[hit_i].traceback {
                tb_hit = true;
            } else if hits[hit_i].level {
                level_hit = true;
            } else {
                hit = true;
            }
            hit_i += 1;
        }
        stats.lines += 1;
        pos = next;

        let s = strip_platform(line, &mut tp, limits.prefix, &limits.year);
        let (kind, header_time) = classify_line(s.msg, &mut tp);
        let c = Classified {
            line: LineRef { text: s.msg, hit },
            tb_hit,
            level_hit,
            kind,
            time: s.platform_time.or(header_time),
            stamped: s.platform_time.is_some(),
        };
        // Most inputs have one stream, and interleaved ones come in runs: check the last
        // stream first, without a memcmp call for the empty key (that call alone took a third
        // of the time of a plain 200 MB log before this check, measured with perf).
        let same_as_last = last_slot < slots.len() && {
            let k = slots[last_slot].key;
            k.len() == s.stream.len() && (k.is_empty() || k == s.stream)
        };
        let si = if same_as_last {
            last_slot
        } else {
            *index.entry(s.stream).or_insert_with(|| {
                slots.push(Slot {
                    key: s.stream,
                    synced: false,
                    orphans: Vec::new(),
                    framer: StreamFramer::new(),
                });
                slots.len() - 1
            })
        };
        last_slot = si;
        let slot = &mut slots[si];
        if !slot.synced {
            if matches!(kind, Kind::Header { .. }) && c.time.is_some() {
                slot.synced = true;
            } else {
                slot.orphans.push(c);
                continue;
            }
        }
        slot.framer.push(c, slot.key, limits, &mut stats, sink);
    }
    let mut out = ChunkOutput {
        stats,
        ..ChunkOutput::default()
    };
    for slot in slots {
        if slot.synced {
            out.ends.push((slot.key.to_vec(), slot.framer.to_carry()));
        }
        if !slot.orphans.is_empty() || slot.synced {
            out.orphans.push((slot.key, slot.orphans));
        }
    }
    out
}

/// Joins chunk outputs, in order, into the sequential framing of a whole input. It
/// serializes (`--state`), so a later run continues the records left open.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Stitcher {
    /// Per stream key (bytes, not always UTF-8): a list of pairs in JSON, whose map keys
    /// must be strings.
    #[serde(with = "pairs")]
    carries: BTreeMap<Vec<u8>, Carry>,
    /// Counters for lines framed while stitching (orphans).
    pub stats: FrameStats,
}

impl Stitcher {
    /// Creates a stitcher for a new input: every stream starts empty.
    pub fn new() -> Stitcher {
        Stitcher::default()
    }

    /// Replays `out`'s orphans on the carried state, then takes over its end state.
    pub fn absorb<F: FnMut(&Record<'_>)>(
        &mut self,
        out: ChunkOutput<'_>,
        limits: &Limits,
        sink: &mut F,
    ) {
        let ChunkOutput {
            orphans,
            ends,
            stats,
        } = out;
        self.stats.add(&stats);
        let synced: HashMap<&[u8], Carry> = ends
            .iter()
            .map(|(k, c)| (k.as_slice(), c.clone()))
            .collect();
        for (key, lines) in orphans {
            let old = self.carries.remove(key);
            let mut fr = match &old {
                Some(c) => StreamFramer::from_carry(c),
                None => StreamFramer::new(),
            };
            for c in lines {
                fr.push(c, key, limits, &mut self.stats, sink);
            }
            if let Some(end) = synced.get(key) {
                // The chunk's first reset line for this stream closes what came before it.
                fr.emit(key, &mut self.stats, sink);
                self.carries.insert(key.to_vec(), end.clone());
            } else {
                self.carries.insert(key.to_vec(), fr.to_carry());
            }
        }
    }

    /// Emits every record still open at the end of the input.
    pub fn finish<F: FnMut(&Record<'_>)>(mut self, sink: &mut F) -> FrameStats {
        for (key, c) in std::mem::take(&mut self.carries) {
            let mut fr = StreamFramer::from_carry(&c);
            fr.emit(&key, &mut self.stats, sink);
        }
        self.stats
    }
}

/// A map with non-string keys as a list of `[key, value]` pairs.
pub(crate) mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        m: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames `text` split into chunks at every `chunk` bytes (moved to line boundaries) and
    /// returns the records as joined strings.
    fn frame(text: &str, chunk: usize) -> (Vec<String>, FrameStats) {
        let buf = text.as_bytes();
        let limits = Limits::default();
        let mut recs = Vec::new();
        let mut sink = |r: &Record<'_>| {
            let lines: Vec<String> = r
                .lines
                .iter()
                .map(|l| String::from_utf8_lossy(l.text).into_owned())
                .collect();
            recs.push(format!(
                "{}|{}",
                String::from_utf8_lossy(r.stream),
                lines.join("\n")
            ));
        };
        let mut st = Stitcher::new();
        let mut start = 0;
        while start < buf.len() {
            let mut end = (start + chunk).min(buf.len());
            while end < buf.len() && buf[end - 1] != b'\n' {
                end += 1;
            }
            let out = frame_chunk(&buf[start..end], &[], &limits, &mut sink);
            st.absorb(out, &limits, &mut sink);
            start = end;
        }
        let stats = st.finish(&mut sink);
        recs.sort();
        (recs, stats)
    }

    const PLAIN: &str = "\
2025-01-10 06:05:07,317 - uvicorn.error - ERROR - Exception in ASGI application
Traceback (most recent call last):
  File \"/app/a.py\", line 1, in f
    g()
KeyError: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File \"/app/b.py\", line 2, in g
    h()
RuntimeError: boom
2025-01-10 06:05:08,000 - app - INFO - next
AttributeError: 'Settings' object has no attribute 'X'
AttributeError: 'Settings' object has no attribute 'Y'
Traceback (most recent call last):
  File \"/app/c.py\", line 3, in h
pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings
DATABASE_URL
  Field required [type=missing, input_value={}, input_type=dict]
2025-01-10 06:05:09,000 - app - INFO - last
";

    #[test]
    fn tracebacks_chains_and_bare_lines() {
        let (recs, stats) = frame(PLAIN, 1 << 20);
        // A traceback right after a bare line joins it, as it joins a header such as
        // `Exception in ASGI application` printed without a timestamp, when it raises the
        // same exception; the traceback of another one is an event of its own.
        assert_eq!(recs.len(), 6, "{recs:#?}");
        assert!(recs
            .iter()
            .any(|r| r.contains("Exception in ASGI") && r.ends_with("RuntimeError: boom")));
        assert!(recs
            .iter()
            .any(|r| r.ends_with("input_type=dict]") && r.starts_with("|Traceback")));
        assert_eq!(stats.lines, 21);
        assert_eq!(stats.blank, 0);
    }

    #[test]
    fn exception_lines_of_python_and_ruby() {
        for yes in [
            "KeyError: 'x'",
            "java.lang.IllegalStateException: no lines",
            "/app/lib/orders.rb:12:in 'total': undefined method 'sum' for nil (NoMethodError)",
            "app.rb:3:in `<main>': boom (Foo::BarError)",
        ] {
            assert!(looks_like_exception_line(yes.as_bytes()), "{yes}");
        }
        for no in [
            "see the docs (Error)",
            "request took 3s (slow)",
            "/app/x.rb:3:in 'f': done (ok)",
            "Caused by: a sentence",
        ] {
            assert!(!looks_like_exception_line(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn a_go_panic_is_one_record_with_its_goroutines() {
        let text = "\
2025-01-10T08:31:40.117Z INFO server started
panic: runtime error: index out of range [3] with length 3

goroutine 1 [running]:
main.handler(0xc000012345, 0x3)
\t/app/cmd/server/main.go:25 +0x1d
created by net/http.(*Server).Serve in goroutine 6
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4

goroutine 7 [IO wait]:
internal/poll.runtime_pollWait(0x7f, 0x72)
\t/usr/local/go/src/runtime/netpoll.go:343 +0x85
exit status 2
main.handler(0xc000012345, 0x3)
";
        let (recs, _) = frame(text, 1 << 20);
        // The panic with both goroutines; the lines after it are records of their own (a
        // call-like line outside a goroutine dump is no frame).
        assert_eq!(recs.len(), 4, "{recs:#?}");
        assert!(recs.iter().any(|r| r.starts_with("|panic: runtime error")
            && r.contains("goroutine 7 [IO wait]:")
            && r.ends_with("netpoll.go:343 +0x85")));
        assert!(recs.iter().any(|r| r == "|exit status 2"));
        assert!(recs.iter().any(|r| r == "|main.handler(0xc000012345, 0x3)"));
        for chunk in 1..text.len() {
            assert_eq!(frame(text, chunk).0, recs, "chunk {chunk}");
        }
        assert!(is_goroutine_header(
            b"goroutine 12 [chan receive, 3 minutes]:"
        ));
        assert!(!is_goroutine_header(b"goroutine leak suspected [warn]:"));
        assert!(is_go_call(
            b"net/http.(*conn).serve(0xc0000b2000, {0x6c7f50, 0xc000094000})"
        ));
        assert!(!is_go_call(b"retry in 3s (attempt 2)"));
    }

    #[test]
    fn a_jvm_exception_keeps_its_causes() {
        let text = "\
2025-01-10 08:31:40,117 ERROR [main] c.e.OrderService - request failed
java.lang.IllegalStateException: order 42 has no lines
\tat com.example.orders.OrderService.total(OrderService.java:88)
Caused by: java.lang.NullPointerException: lines is null
\tat com.example.orders.Order.lines(Order.java:12)
\t... 3 more
Caused by: a plain sentence after a record's end
2025-01-10 08:31:41,000 INFO [main] c.e.OrderService - ok
Caused by: this line starts no exception
";
        let (recs, _) = frame(text, 1 << 20);
        // Header, the exception with its causes, the next header (whose message goes on over
        // the unindented line under it, as any header's does).
        assert_eq!(recs.len(), 3, "{recs:#?}");
        assert!(recs
            .iter()
            .any(|r| r.starts_with("|java.lang.IllegalStateException")
                && r.contains("Caused by: java.lang.NullPointerException")
                && r.contains("\t... 3 more")));
        assert!(recs
            .iter()
            .any(|r| r.starts_with("|2025-01-10 08:31:41,000 INFO")
                && r.ends_with("Caused by: this line starts no exception")));
        for chunk in 1..text.len() {
            assert_eq!(frame(text, chunk).0, recs, "chunk {chunk}");
        }
    }

    #[test]
    fn every_chunk_size_gives_the_same_records() {
        let (want, ws) = frame(PLAIN, 1 << 20);
        for chunk in 1..PLAIN.len() {
            let (got, gs) = frame(PLAIN, chunk);
            assert_eq!(got, want, "chunk {chunk}");
            assert_eq!(gs, ws, "chunk {chunk}");
        }
    }

    #[test]
    fn kubectl_prefix_streams_are_framed_separately() {
        let text = "\
[pod/p/api] 2025-01-10T06:01:09.1Z ERROR:    Exception in ASGI application
[pod/p/nginx] 2025-01-10T06:01:09.2Z 10.0.0.1 - - [10/Jan/2025:06:01:09 +0000] \"GET / HTTP/1.1\" 200 1
[pod/p/api] 2025-01-10T06:01:09.1Z Traceback (most recent call last):
[pod/p/nginx] 2025-01-10T06:01:09.3Z 10.0.0.1 - - [10/Jan/2025:06:01:09 +0000] \"GET / HTTP/1.1\" 200 1
[pod/p/api] 2025-01-10T06:01:09.1Z   File \"/app/a.py\", line 1, in f
[pod/p/api] 2025-01-10T06:01:09.1Z KeyError: 'x'
[pod/p/api] 2025-01-10T06:01:10.1Z INFO:     done
";
        let (want, _) = frame(text, 1 << 20);
        assert_eq!(want.len(), 4, "{want:#?}");
        assert!(want
            .iter()
            .any(|r| r.starts_with("pod/p/api|ERROR:") && r.ends_with("KeyError: 'x'")));
        for chunk in 1..text.len() {
            assert_eq!(frame(text, chunk).0, want, "chunk {chunk}");
        }
    }

    /// Issue 16: a CRI log whose app prints no header the framer knows (a clock time, then
    /// logfmt keys) lost every request line to the header record before it.
    #[test]
    fn stamped_lines_are_events_of_their_own() {
        let mut text = String::from("\x1estdout\x1f0000000000000001\x1eINFO:     started\n");
        for i in 0..4 {
            text.push_str(&format!(
                "\x1estdout\x1f000000000000000{}\x1e09:15:0{i} access method=GET path=/x status=200\n",
                i + 2
            ));
        }
        let (recs, _) = frame(&text, 1 << 20);
        assert_eq!(recs.len(), 5, "{recs:#?}");
        // Without the platform's time the same lines join the header, as a multi-line message.
        let plain = "INFO:     started\nmore text\nand more\n";
        assert_eq!(frame(plain, 1 << 20).0.len(), 1);
        // A stamped traceback still joins, exception line included.
        let tb = "\x1eerr\x1f0000000000000001\x1eERROR:    boom\n\x1eerr\x1f0000000000000001\x1eTraceback (most recent call last):\n\x1eerr\x1f0000000000000001\x1e  File \"/a.py\", line 1, in f\n\x1eerr\x1f0000000000000001\x1ePaymentDeclined: card\n";
        let (recs, _) = frame(tb, 1 << 20);
        assert_eq!(recs.len(), 1, "{recs:#?}");
        for chunk in 1..text.len() {
            assert_eq!(frame(&text, chunk).0.len(), 5, "chunk {chunk}");
        }
    }

    /// Issue 16: a bare exception line right before the traceback of a different exception
    /// was merged into it (and lost); before its own traceback it stays one record.
    #[test]
    fn bare_line_before_another_traceback_is_its_own_record() {
        let other = "KeyError: 'x'\nTraceback (most recent call last):\n  File \"/a.py\", line 1, in f\nValueError: y\n";
        let (recs, stats) = frame(other, 1 << 20);
        assert_eq!(recs.len(), 2, "{recs:#?}");
        assert_eq!(stats.records, 2);
        assert_eq!(stats.record_lines, 4);
        let own = "ValueError: y\nTraceback (most recent call last):\n  File \"/a.py\", line 1, in f\nbuiltins.ValueError: y\n";
        assert_eq!(frame(own, 1 << 20).0.len(), 1);
        for chunk in 1..other.len() {
            assert_eq!(frame(other, chunk).0.len(), 2, "chunk {chunk}");
        }
    }

    #[test]
    fn blank_lines_outside_records_are_counted() {
        let (recs, stats) = frame("\n\nhello\n", 1 << 20);
        assert_eq!(recs, vec!["|hello".to_string()]);
        assert_eq!(stats.blank, 2);
        assert_eq!(stats.lines, 3);
    }
}
