//! The driver: input -> framing -> classify -> aggregate, chunks in parallel.
//!
//! Each source is opened with its read strategy. A mapped file is split into chunks at line
//! boundaries; each chunk is prefiltered, framed, classified and counted on a rayon worker into
//! its own [`Summary`]; the chunk outputs are then stitched in order (records that straddle a
//! boundary) and the summaries merged. A stream is read in bounded blocks, each block going
//! through the same path, with the stitcher carried from block to block.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::aggregate::Summary;
use crate::classify::{Classification, Classifier, Latency};
use crate::error::InputError;
use crate::framing::{
    detect, expand_json_with, frame_chunk, learn_prefix, Layout, Limits, Nanos, Record, Stitcher,
    TimeParser, Unwrapper, YearHint,
};
use crate::input::{self, BlockReader, Mapped, Opened, Part, Source};

/// How a run reads and splits its inputs.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Chunk size for splitting a buffer across threads; `None` picks one from the size and
    /// the thread count. The result never depends on it.
    pub chunk_size: Option<usize>,
    /// Block size for streams (stdin, pipes, gzip). By default 8 MiB.
    pub block_size: usize,
    /// Line and record limits, and the zone of zone-less timestamps.
    pub limits: Limits,
    /// Only records in this time window are analysed.
    pub window: TimeWindow,
    /// The layout of every input; `None` detects it per input.
    pub layout: Option<Layout>,
    /// The year of journald/syslog times; `None` takes each file's modification year.
    pub year: Option<i32>,
    /// Decompressed bytes read from one compressed input at most (a decompression bomb
    /// stops there with an error). By default 64 GiB.
    pub max_decompressed: u64,
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
    /// Whether `t` is inside.
    pub fn contains(&self, t: Nanos) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            chunk_size: None,
            block_size: 8 << 20,
            limits: Limits::default(),
            window: TimeWindow::default(),
            layout: None,
            year: None,
            max_decompressed: 64 << 30,
        }
    }
}

/// Records classified at most once per worker: a memo keyed by the record's text.
///
/// An incident repeats the same traceback thousands of times with only the header's time
/// changing, so the key leaves out the first line's leading timestamp, and so does the text
/// the classifier reads (the classification stays a pure function of the key, whatever the
/// chunking). Measured on 200 MB from the incident part of a 1 GiB `genlog.py` log, one
/// thread: 0.93 s without the memo, 0.30 s with it.
pub(crate) struct Memo {
    map: FxHashMap<Vec<u8>, Option<Arc<Classification>>>,
    key: Vec<u8>,
    tp: TimeParser,
    /// The last stream name seen, shared by the event rows of that stream.
    source: (Vec<u8>, Arc<str>),
}

/// Entries kept before the memo is emptied, to bound memory on logs with no repetition.
const MEMO_CAP: usize = 4096;

impl Memo {
    fn source(&mut self, stream: &[u8]) -> Arc<str> {
        if self.source.0 != stream {
            self.source = (
                stream.to_vec(),
                Arc::from(String::from_utf8_lossy(stream).as_ref()),
            );
        }
        Arc::clone(&self.source.1)
    }

    /// The classification of the record whose key is in `self.key`; `lines` gives its text
    /// when it is not memoized yet.
    fn classify<'l>(
        &mut self,
        cl: &Classifier,
        hit: bool,
        lines: impl FnOnce() -> Vec<Cow<'l, str>>,
    ) -> Option<Arc<Classification>> {
        if let Some(c) = self.map.get(&self.key) {
            return c.clone();
        }
        let c = cl.classify_record(&lines(), hit).map(Arc::new);
        if self.map.len() >= MEMO_CAP {
            self.map.clear();
        }
        self.map.insert(self.key.clone(), c.clone());
        c
    }

    pub(crate) fn new() -> Memo {
        Memo {
            map: FxHashMap::default(),
            key: Vec::new(),
            tp: TimeParser::new(),
            source: (Vec::new(), Arc::from("")),
        }
    }
}

/// The first line of a record without its leading timestamp (`2025-01-10 10:31:22,123`,
/// RFC 3339, `[2025-01-10 10:31:22 +0000]`).
fn strip_leading_time<'a>(text: &'a [u8], tp: &mut TimeParser) -> &'a [u8] {
    if let Some((_, n)) = tp.parse_iso(text) {
        return &text[n..];
    }
    if text.first() == Some(&b'[') {
        if let Some((_, n)) = tp.parse_iso(&text[1..]) {
            if text.get(n + 1) == Some(&b']') {
                return &text[n + 2..];
            }
        }
    }
    text
}

/// Classifies one record into `sum`.
fn handle(
    r: &Record<'_>,
    cl: &Classifier,
    window: &TimeWindow,
    sum: &mut Summary,
    memo: &mut Memo,
) {
    if let Some(t) = r.time {
        if !window.contains(t) {
            sum.outside_window.0 += 1;
            sum.outside_window.1 += r.lines.len() as u64;
            return;
        }
    }
    sum.see_time(r.time);
    if let (Some(reader), false) = (cl.requests(), r.traceback) {
        if let Some(q) = reader.read(r.lines[0].text, r.json) {
            let latency = match q.latency {
                Latency::Ms(v) => Some(v),
                Latency::Unparsed => {
                    sum.requests.unparsed_latency += 1;
                    None
                }
                Latency::Missing => {
                    sum.requests.missing_latency += 1;
                    None
                }
            };
            sum.requests
                .push(r.time, q.method, q.path, q.status, latency);
        }
    }
    if !r.hit && !r.traceback && !r.bare_exception {
        // No anchor of any signature, no traceback, no bare exception line: nothing to read.
        return;
    }
    let json = if r.json {
        expand_json_with(r.lines[0].text, &cl.catalog().json_trace_fields)
    } else {
        None
    };
    let c = match json {
        // A JSON object: its message and traceback fields (the time fields are left out).
        Some(j) => {
            let mut lines: Vec<Cow<'_, str>> = Vec::with_capacity(r.lines.len());
            lines.extend(j.lines.into_iter().map(Cow::Owned));
            lines.extend(r.lines[1..].iter().map(|l| String::from_utf8_lossy(l.text)));
            memo.key.clear();
            memo.key.push(u8::from(r.hit) | 2);
            for l in &lines {
                memo.key.extend_from_slice(l.as_bytes());
                memo.key.push(b'\n');
            }
            memo.classify(cl, r.hit, || lines)
        }
        // Text (or a line that starts with `{` but is not JSON): the key is the raw bytes,
        // and the lines are converted to text only when the memo misses (the conversion of
        // every line of every repeated traceback was 1.5% of a one-thread run, perf).
        None => {
            memo.key.clear();
            memo.key.push(u8::from(r.hit));
            let first = strip_leading_time(r.lines[0].text, &mut memo.tp);
            memo.key.extend_from_slice(first);
            memo.key.push(b'\n');
            for l in &r.lines[1..] {
                memo.key.extend_from_slice(l.text);
                memo.key.push(b'\n');
            }
            memo.classify(cl, r.hit, || {
                std::iter::once(first)
                    .chain(r.lines[1..].iter().map(|l| l.text))
                    .map(String::from_utf8_lossy)
                    .collect()
            })
        }
    };
    if let Some(c) = &c {
        let src = memo.source(r.stream);
        sum.add_event(r.time, c, &src);
    }
}

/// Splits `buf` into pieces of about `size` bytes that end on a newline (the last may not).
pub fn split_lines(buf: &[u8], size: usize) -> Vec<&[u8]> {
    let size = size.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < buf.len() {
        let mut end = (start + size).min(buf.len());
        if end < buf.len() {
            end = memchr::memchr(b'\n', &buf[end - 1..]).map_or(buf.len(), |i| end + i);
        }
        out.push(&buf[start..end]);
        start = end;
    }
    out
}

fn auto_chunk(len: usize, opts: &ScanOptions) -> usize {
    opts.chunk_size.unwrap_or_else(|| {
        let threads = rayon::current_num_threads().max(1);
        (len / (threads * 8)).clamp(256 << 10, 16 << 20)
    })
}

/// The shortest request line expected, in bytes, to make room for a chunk's request rows
/// ahead (an access line with a short path and no latency is about 90 bytes; a plain
/// `genlog.py` log averages 219 bytes a request, counting the other lines).
const BYTES_PER_REQUEST: usize = 96;

/// Frames and classifies a buffer of whole lines, continuing `st`'s streams; `map` is the
/// file mapping `buf` lies in, whose pages are released as each chunk is done.
fn scan_buffer(
    buf: &[u8],
    map: Option<&Mapped>,
    st: &mut Stitcher,
    cl: &Classifier,
    opts: &ScanOptions,
    limits: &Limits,
) -> Summary {
    let chunks = split_lines(buf, auto_chunk(buf.len(), opts));
    let outs: Vec<_> = chunks
        .par_iter()
        .map(|chunk| {
            let hits = cl.prefilter(chunk);
            let mut sum = Summary::new();
            sum.requests.expect(chunk.len() / BYTES_PER_REQUEST);
            let mut memo = Memo::new();
            let out = frame_chunk(chunk, &hits, limits, &mut |r: &Record<'_>| {
                handle(r, cl, &opts.window, &mut sum, &mut memo)
            });
            if let Some(m) = map {
                m.release(chunk);
            }
            (sum, out)
        })
        .collect();
    // Absorbing a chunk completes the records cut at its start (the previous chunk's last
    // record, lines before its first header): they go before the chunk's own, so the rows
    // keep the input's order and a time-ordered log gives time-ordered requests.
    let mut parts = Vec::with_capacity(outs.len() * 2);
    let mut memo = Memo::new();
    for (sum, out) in outs {
        let mut stitched = Summary::new();
        st.absorb(out, limits, &mut |r: &Record<'_>| {
            handle(r, cl, &opts.window, &mut stitched, &mut memo)
        });
        parts.push(stitched);
        parts.push(sum);
    }
    Summary::merge_all(parts)
}

/// The running scan of one source: its framing state carried from buffer to buffer (and from
/// file to file of a rotated set), its unwrapper, and what it counted.
struct SourceScan<'c> {
    cl: &'c Classifier,
    opts: &'c ScanOptions,
    /// The options' limits with the current part's learned prefix and year.
    limits: Limits,
    st: Stitcher,
    unwrap: Option<Unwrapper>,
    total: Summary,
}

impl SourceScan<'_> {
    /// Chooses the layout of a part from its first bytes (or `--input-format`); a part whose
    /// layout differs from the previous part's ends that one's partial lines first.
    fn start_part(&mut self, head: &[u8], year: YearHint) {
        let layout = self.opts.layout.unwrap_or_else(|| detect(head));
        *self.total.layouts.entry(layout.name()).or_insert(0) += 1;
        self.limits.prefix = match layout {
            Layout::Text => learn_prefix(head),
            _ => None,
        };
        self.limits.year = self.opts.year.map_or(year, |y| YearHint {
            year: y,
            until_month: None,
        });
        if self.unwrap.as_ref().map(Unwrapper::layout) == Some(layout) {
            return;
        }
        self.finish_unwrap();
        if layout.is_wrapped() {
            let zone = self.opts.limits.zone.clone();
            self.unwrap = Some(Unwrapper::new(
                layout,
                zone,
                self.limits.year,
                self.opts.limits.max_line_len,
            ));
        }
    }

    fn finish_unwrap(&mut self) {
        if let Some(mut u) = self.unwrap.take() {
            let mut out = Vec::new();
            u.finish(&mut out);
            self.text(&out, None);
            self.total.unwrap.add(&u.stats);
        }
    }

    /// Frames and classifies a buffer of text lines (in `map`, when mapped).
    fn text(&mut self, buf: &[u8], map: Option<&Mapped>) {
        let s = scan_buffer(buf, map, &mut self.st, self.cl, self.opts, &self.limits);
        self.total.merge(s);
    }

    /// Reads a buffer of whole lines in the part's layout (in `map`, when mapped).
    fn lines(&mut self, buf: &[u8], map: Option<&Mapped>) {
        let Some(u) = self.unwrap.as_mut() else {
            return self.text(buf, map);
        };
        // Unwrapping is sequential; overlap it with the parallel framing of the previous
        // block (`rayon::join`), so a wrapped file costs about one extra pass on one core.
        let blocks = split_lines(buf, self.opts.block_size);
        let mut cur = Vec::new();
        if let Some(first) = blocks.first() {
            u.feed(first, &mut cur);
            if let Some(m) = map {
                m.release(first);
            }
        }
        for i in 1..=blocks.len() {
            let mut next = Vec::new();
            let (st, cl, opts, limits) = (&mut self.st, self.cl, self.opts, &self.limits);
            let ((), s) = rayon::join(
                || {
                    if let Some(b) = blocks.get(i) {
                        u.feed(b, &mut next);
                        if let Some(m) = map {
                            m.release(b);
                        }
                    }
                },
                || scan_buffer(&cur, None, st, cl, opts, limits),
            );
            self.total.merge(s);
            cur = next;
        }
    }

    /// Counts an input without a byte (an empty file, stream or archive) among the layouts,
    /// so that `input.layouts` adds up to `input.files`.
    fn count_empty(&mut self) {
        *self.total.layouts.entry(EMPTY_LAYOUT).or_insert(0) += 1;
    }

    /// Reads one file (or stdin) to its end; returns the error that stopped it early.
    fn part(&mut self, src: &Part) -> Option<InputError> {
        let year = year_hint(src);
        match input::open(src) {
            Err(e) => Some(e),
            Ok(Opened::Empty) => {
                self.count_empty();
                None
            }
            Ok(Opened::Mapped(m)) => {
                self.total.bytes += m.len() as u64;
                self.start_part(&m[..m.len().min(HEAD)], year);
                self.lines(&m, Some(&m));
                m.truncated()
                    .then(|| InputError::Truncated { path: src.name() })
            }
            Ok(Opened::Stream {
                reader,
                compressed,
                consumed,
            }) => {
                let limit = compressed.map(|_| self.opts.max_decompressed);
                let blocks = read_ahead(reader, self.opts, limit);
                let mut first = true;
                let mut err = None;
                let mut bytes = 0;
                for Block { data, result, read } in blocks.iter() {
                    bytes = read;
                    let more = match result {
                        Ok(more) => more,
                        Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                            err = Some(InputError::TooLarge {
                                path: src.name(),
                                limit: self.opts.max_decompressed,
                            });
                            !data.is_empty()
                        }
                        Err(e) => {
                            err = Some(match (compressed, &consumed) {
                                (Some(format), Some(c)) => InputError::Corrupt {
                                    path: src.name(),
                                    format,
                                    offset: c.load(Ordering::Relaxed),
                                    reason: e.to_string(),
                                },
                                _ => InputError::Io {
                                    path: src.name(),
                                    source: e,
                                },
                            });
                            !data.is_empty()
                        }
                    };
                    if !more {
                        break;
                    }
                    if first {
                        let head = &data[..data.len().min(HEAD)];
                        if compressed.is_none()
                            && input::looks_binary(&head[..head.len().min(8192)])
                        {
                            err = Some(InputError::Binary { path: src.name() });
                            break;
                        }
                        self.start_part(head, year);
                        first = false;
                    }
                    self.lines(&data, None);
                    blocks.recycle(data);
                    if err.is_some() {
                        break;
                    }
                }
                self.total.bytes += bytes;
                if first && err.is_none() {
                    self.count_empty();
                }
                err
            }
        }
    }
}

/// A block read ahead: whole lines, what the read returned, and the bytes read so far.
struct Block {
    data: Vec<u8>,
    result: std::io::Result<bool>,
    read: u64,
}

/// Blocks read by a thread of their own, one block ahead of the analysis, so that reading
/// (decompressing) a stream and analysing it overlap.
struct ReadAhead {
    blocks: mpsc::Receiver<Block>,
    free: mpsc::Sender<Vec<u8>>,
}

impl ReadAhead {
    fn iter(&self) -> mpsc::Iter<'_, Block> {
        self.blocks.iter()
    }

    /// Hands a block's buffer back to the reader, so that at most three are ever allocated.
    fn recycle(&self, buf: Vec<u8>) {
        let _ = self.free.send(buf);
    }
}

/// Starts reading `reader` in blocks on a thread of its own. Measured on a 1 GiB log (2
/// cores, `--no-requests`, hyperfine means): gzip 1.58 s with reading and analysis in turn,
/// 1.27 s overlapped; zstd 1.96 s and 1.24 s. The thread stops at the end of the stream, at an error, or when the
/// analysis stops listening (a binary input): it is not joined, so a pipe that never ends
/// cannot hold the run.
///
/// `limit` bounds the bytes read (the decompressed size of a compressed input): past it the
/// last block is followed by a `FileTooLarge` error.
fn read_ahead(
    reader: Box<dyn std::io::Read + Send>,
    opts: &ScanOptions,
    limit: Option<u64>,
) -> ReadAhead {
    let (tx, rx) = mpsc::sync_channel::<Block>(1);
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    let (block, max_line) = (opts.block_size, opts.limits.max_line_len);
    std::thread::spawn(move || {
        let mut br = BlockReader::new(reader, block, max_line);
        loop {
            let mut data = free_rx.try_recv().unwrap_or_default();
            let mut result = br.next_block(&mut data);
            if limit.is_some_and(|l| br.bytes > l) && matches!(result, Ok(true)) {
                result = Err(std::io::Error::new(
                    std::io::ErrorKind::FileTooLarge,
                    "decompressed size limit reached",
                ));
            }
            let stop = !matches!(result, Ok(true));
            let b = Block {
                data,
                result,
                read: br.bytes,
            };
            if tx.send(b).is_err() || stop {
                break;
            }
        }
    });
    ReadAhead {
        blocks: rx,
        free: free_tx,
    }
}

/// The layout an input without a byte is counted under.
const EMPTY_LAYOUT: &str = "empty";

/// Bytes looked at to detect a layout.
const HEAD: usize = 64 << 10;

/// The year of journald/syslog times without one: from the file's modification time (now for
/// stdin and anything without one).
fn year_hint(src: &Part) -> YearHint {
    let mtime = match src {
        Part::File(p) => std::fs::metadata(p).and_then(|m| m.modified()).ok(),
        _ => None,
    };
    let t = mtime.unwrap_or_else(std::time::SystemTime::now);
    let ns = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64);
    YearHint::from_file_time(ns)
}

/// Analyses one source (a rotated set as one stream). Returns what could be counted, and the
/// errors that stopped a part early or skipped it.
pub fn scan_source(
    src: &Source,
    cl: &Classifier,
    opts: &ScanOptions,
) -> (Summary, Vec<InputError>) {
    let mut scan = SourceScan {
        cl,
        opts,
        limits: opts.limits.clone(),
        st: Stitcher::new(),
        unwrap: None,
        total: Summary::new(),
    };
    let mut errors = Vec::new();
    for part in src.parts() {
        errors.extend(scan.part(&part));
    }
    scan.finish_unwrap();
    let SourceScan { st, mut total, .. } = scan;
    let mut rest = Summary::new();
    let mut memo = Memo::new();
    let stats = st.finish(&mut |r: &Record<'_>| handle(r, cl, &opts.window, &mut rest, &mut memo));
    total.merge(rest);
    total.frame = stats;
    total.files = src.parts().len() as u64;
    total.set_source(&src.name());
    (total, errors)
}

/// Analyses every source in parallel and merges the results in source order.
pub fn scan_all(
    sources: &[Source],
    cl: &Classifier,
    opts: &ScanOptions,
) -> (Summary, Vec<InputError>) {
    let results: Vec<_> = sources
        .par_iter()
        .map(|s| scan_source(s, cl, opts))
        .collect();
    let mut total = Summary::new();
    let mut errors = Vec::new();
    for (s, e) in results {
        total.merge(s);
        errors.extend(e);
    }
    (total, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_lines_covers_the_buffer() {
        let buf = b"a\nbb\nccc\ndddd";
        for size in 1..20 {
            let parts = split_lines(buf, size);
            assert_eq!(parts.concat(), buf.to_vec());
            for p in &parts[..parts.len() - 1] {
                assert_eq!(p.last(), Some(&b'\n'));
            }
        }
    }
}
