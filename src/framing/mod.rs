//! Framing: physical lines in, log records out.
//!
//! A record is one log event: a single line, or a header line with the multi-line Python
//! traceback that follows it (chained tracebacks included). Platform prefixes are stripped first
//! (`kubectl logs --prefix/--timestamps`, Render), each record gets a time (its own, or the last
//! one seen in its stream), and `kubectl --prefix` streams are framed separately because their
//! lines interleave. [`frame_chunk`] and [`Stitcher`] make the framing of a chunked input equal
//! to the framing of the whole input; see `framer.rs` for how.

mod escape;
mod framer;
mod json;
mod layout;
mod line;
pub mod time;

pub use escape::{printable, strip_escapes};
pub(crate) use framer::pairs;
pub use framer::{frame_chunk, Carry, ChunkOutput, Stitcher};
pub use json::{expand_json, expand_json_with, JsonRecord};
pub use layout::{detect, learn_prefix, Layout, Prefix, UnwrapStats, Unwrapper, YearHint};
pub use time::{
    format_rfc3339, split_leading_time, strip_leading_time, Nanos, TimeParser, TimeWindow,
};

/// A prefilter match in a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Start offset in the chunk.
    pub offset: usize,
    /// The match is a traceback header (`Traceback (most recent call last)`), found in raw
    /// bytes so that JSON lines with an embedded traceback are read; not a signature anchor.
    pub traceback: bool,
    /// The match is a level word (`ERROR`, `warn`, `"level":50`): the line may be a warning
    /// or an error no signature knows; not a signature anchor.
    pub level: bool,
}

/// One line of a record: the message after platform-prefix stripping.
#[derive(Debug, Clone, Copy)]
pub struct LineRef<'a> {
    /// The line's bytes, without its prefix and line ending; not necessarily UTF-8.
    pub text: &'a [u8],
    /// Whether the prefilter found a signature anchor in this line.
    pub hit: bool,
}

/// One log event, borrowed from the framer.
#[derive(Debug)]
pub struct Record<'r> {
    /// The record's lines, in order.
    pub lines: &'r [LineRef<'r>],
    /// The stream it came from (`pod/NAME/CONTAINER`), empty for a plain input.
    pub stream: &'r [u8],
    /// The time of its first line, or the last time seen in its stream before it.
    pub time: Option<Nanos>,
    /// Whether it holds a Python traceback (framed, or inside a JSON string).
    pub traceback: bool,
    /// Whether any of its lines holds a signature anchor.
    pub hit: bool,
    /// Whether it is a JSON object line.
    pub json: bool,
    /// Whether it starts with a bare exception line such as `KeyError: 'x'` (no header).
    pub bare_exception: bool,
    /// Whether the prefilter found a level word in its first line.
    pub level: bool,
}

/// How lines are read: the limits that keep memory bounded whatever the input, and what
/// is known of the current input (its zone, learned prefix and journald year).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Bytes of a line that are kept; the rest of a longer line is ignored and the line is
    /// counted in [`FrameStats::truncated_lines`]. By default 1 MiB.
    pub max_line_len: usize,
    /// Lines a record may hold before it is cut in two ([`FrameStats::split_records`]).
    /// By default 10,000 (a deep recursion traceback is about 3,000).
    pub max_record_lines: usize,
    /// The zone of timestamps written without one. By default UTC.
    pub zone: Option<jiff::tz::TimeZone>,
    /// A platform prefix learned from the input's first lines ([`learn_prefix`]), stripped
    /// from every line that has it: set by the driver for each input, not an option.
    pub(crate) prefix: Option<Prefix>,
    /// The year of journald `short` lines met in a text input (a section after plain
    /// lines): set by the driver for each input, not an option.
    pub(crate) year: YearHint,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_len: 1 << 20,
            max_record_lines: 10_000,
            zone: None,
            prefix: None,
            year: YearHint::default(),
        }
    }
}

impl Limits {
    /// These limits for one part of an input: with its learned platform prefix (a text
    /// layout's) and the year of its journald lines.
    pub(crate) fn for_part(&self, layout: Layout, head: &[u8], year: YearHint) -> Limits {
        Limits {
            prefix: (layout == Layout::Text)
                .then(|| learn_prefix(head))
                .flatten(),
            year,
            ..self.clone()
        }
    }
}

/// Line and record counters; they add up across chunks.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FrameStats {
    /// Physical lines seen (a final line without a newline counts).
    pub lines: u64,
    /// Records emitted.
    pub records: u64,
    /// Lines in the records emitted.
    pub record_lines: u64,
    /// Blank lines outside any record.
    pub blank: u64,
    /// Lines longer than [`Limits::max_line_len`], kept truncated.
    pub truncated_lines: u64,
    /// Records cut at [`Limits::max_record_lines`].
    pub split_records: u64,
}

impl FrameStats {
    /// Adds `o` to `self`.
    pub fn add(&mut self, o: &FrameStats) {
        self.lines += o.lines;
        self.records += o.records;
        self.record_lines += o.record_lines;
        self.blank += o.blank;
        self.truncated_lines += o.truncated_lines;
        self.split_records += o.split_records;
    }
}
