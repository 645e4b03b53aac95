//! The driver: input -> framing -> classify -> aggregate, chunks in parallel.
//!
//! Each source is opened with its read strategy. A mapped file is split into chunks at line
//! boundaries; each chunk is prefiltered, framed, classified and counted on a rayon worker into
//! its own [`Summary`]; the chunk outputs are then stitched in order (records that straddle a
//! boundary) and the summaries merged. A stream is read in bounded blocks, each block going
//! through the same path, with the stitcher carried from block to block.

use std::sync::Arc;

use rayon::prelude::*;

use crate::aggregate::{Budget, Pairer, Summary};
use crate::classify::RecordStep;
use crate::config::Config;
use crate::error::InputError;
use crate::framing::{
    detect, expand_json_with, frame_chunk, strip_escapes, ChunkOutput, Hit, Limits, Record,
    Stitcher, Unwrapper, YearHint,
};
use crate::input::{self, split_lines, Mapped, Opened, Part, ReadAhead, Source};
use crate::templates::Shaper;

/// The per-record steps of one worker: classification, and the message shapes of records
/// no signature matched.
struct Steps<'c> {
    class: RecordStep<'c>,
    shape: Shaper,
}

impl<'c> Steps<'c> {
    fn new(cfg: &'c Config) -> Steps<'c> {
        Steps {
            class: RecordStep::new(&cfg.classifier),
            shape: Shaper::new(),
        }
    }
}

/// Reads one record into `sum`: its request line, and what it is.
fn handle(r: &Record<'_>, cfg: &Config, sum: &mut Summary, steps: &mut Steps<'_>) {
    match r.time {
        Some(t) if !cfg.scan.window.contains(t) => {
            let before = cfg.scan.window.since.is_some_and(|s| t < s);
            return sum.skip_outside(r.lines.len(), before);
        }
        None if cfg.scan.window.is_set() => sum.keep_untimed(),
        _ => {}
    }
    sum.see_time(r.time);
    if let (Some(reader), false) = (&cfg.requests, r.traceback) {
        if let Some(q) = reader.read(r.lines[0].text, r.json) {
            sum.requests.push_request(r.time, &q);
            sum.pairs.note(r.stream, &q.latency);
        }
    }
    match steps.class.classify(r) {
        Some((c, source)) => {
            sum.add_event(r.time, &c, &source);
            if let Some(i) = c.signature {
                sum.offer_example(i, r.time, || example_lines(r, cfg));
            }
        }
        // A warning or an error no signature knows (an exception is grouped as one).
        None if r.level && !r.traceback => {
            let Some(floor) = cfg.scan.templates else {
                return;
            };
            let fields = &cfg.classifier.catalog().json_trace_fields;
            if let Some((severity, shape)) = steps.shape.shape(r, floor, fields) {
                sum.add_message(shape, severity, r.time, || example_lines(r, cfg));
            }
        }
        None => {}
    }
}

/// A record's lines as its example shows them: a JSON object as its message and traceback,
/// as it was classified; text as logged.
fn example_lines<'r>(r: &Record<'r>, cfg: &Config) -> Vec<std::borrow::Cow<'r, str>> {
    let json = match r.json {
        true => expand_json_with(r.lines[0].text, &cfg.classifier.catalog().json_trace_fields),
        false => None,
    };
    let rest = match json {
        Some(_) => &r.lines[1..],
        None => r.lines,
    };
    let mut lines: Vec<std::borrow::Cow<'r, str>> = json
        .map(|j| j.lines.into_iter().map(Into::into).collect())
        .unwrap_or_default();
    lines.extend(rest.iter().map(|l| String::from_utf8_lossy(l.text)));
    lines
}

/// A chunk framed: what it counted, the records it left open, and whether its rows were
/// charged to the budget.
type Framed<'a> = (Summary, ChunkOutput<'a>, bool);

/// Frames and classifies one chunk of whole lines whose prefilter `hits` are found.
fn frame_one<'a>(
    chunk: &'a [u8],
    hits: &[Hit],
    cfg: &Config,
    limits: &Limits,
    budget: &Budget,
) -> Framed<'a> {
    let mut sum = Summary::new();
    sum.requests.expect_bytes(chunk.len());
    let mut step = Steps::new(cfg);
    let out = frame_chunk(chunk, hits, limits, &mut |r: &Record<'_>| {
        handle(r, cfg, &mut sum, &mut step)
    });
    // Rows pairing may remove are charged once it has run (a folded row is gone).
    let charged = !sum.pairs.may_remove();
    sum.pairs.seal(&sum.requests);
    if charged {
        budget.charge(&mut sum);
    }
    (sum, out, charged)
}

/// Frames and classifies a buffer of whole lines, continuing `st`'s streams and `pair`'s
/// pairing; `map` is the file mapping `buf` lies in, whose pages are released as each chunk
/// is done.
fn scan_buffer(
    buf: &[u8],
    map: Option<&Mapped>,
    (st, pair): (&mut Stitcher, &mut Pairer),
    cfg: &Config,
    limits: &Limits,
    budget: &Budget,
) -> Summary {
    let chunks = split_lines(buf, cfg.scan.chunk_for(buf.len()));
    let release = |chunk: &[u8]| {
        if let Some(m) = map {
            m.release(chunk);
            if let Some(p) = &cfg.scan.progress {
                p.add(chunk.len());
            }
        }
    };
    // A chunk with terminal escapes (coloured output: docker compose, uvicorn's coloured
    // levels) is framed from a copy without them, so it reads like plain output. The
    // prefilter finds them on its way (`ESC [` is one of its literals): a log without any
    // pays nothing more.
    let first: Vec<Result<Framed<'_>, Vec<u8>>> = chunks
        .par_iter()
        .map(|chunk| {
            let (hits, escapes) = cfg.classifier.prefilter_escapes(chunk);
            let done = match escapes {
                true => Err(strip_escapes(chunk)),
                false => Ok(frame_one(chunk, &hits, cfg, limits, budget)),
            };
            release(chunk);
            done
        })
        .collect();
    let mut cleaned = Vec::new();
    let first: Vec<Option<Framed<'_>>> = first
        .into_iter()
        .map(|r| r.map_err(|buf| cleaned.push(buf)).ok())
        .collect();
    let mut redone = cleaned
        .par_iter()
        .map(|chunk| {
            let hits = cfg.classifier.prefilter(chunk);
            frame_one(chunk, &hits, cfg, limits, budget)
        })
        .collect::<Vec<_>>()
        .into_iter();
    let outs = first
        .into_iter()
        .map(|f| f.unwrap_or_else(|| redone.next().expect("a chunk framed again")));
    // Absorbing a chunk completes the records cut at its start (the previous chunk's last
    // record, lines before its first header): they go before the chunk's own, so the rows
    // keep the input's order and a time-ordered log gives time-ordered requests.
    let mut parts = Vec::with_capacity(chunks.len() * 2);
    let mut charged = Vec::with_capacity(chunks.len() * 2);
    let mut step = Steps::new(cfg);
    for (sum, out, done) in outs {
        let mut stitched = Summary::new();
        st.absorb(out, limits, &mut |r: &Record<'_>| {
            handle(r, cfg, &mut stitched, &mut step)
        });
        parts.push(stitched);
        parts.push(sum);
        charged.extend([false, done]);
    }
    pair.resolve(&mut parts);
    // Every row is charged once, so whether the run goes to sketches depends on the number
    // of requests only, not on where the chunks were cut.
    parts
        .par_iter_mut()
        .zip(charged)
        .filter(|(_, done)| !done)
        .for_each(|(p, _)| budget.charge(p));
    Summary::merge_all(parts)
}

/// The running scan of one source: its framing state carried from buffer to buffer (and from
/// file to file of a rotated set), its unwrapper, and what it counted.
pub(crate) struct SourceScan<'c> {
    cfg: &'c Config,
    budget: Arc<Budget>,
    /// The options' limits with the current part's learned prefix and year.
    limits: Limits,
    st: Stitcher,
    pair: Pairer,
    unwrap: Option<Unwrapper>,
    total: Summary,
}

impl<'c> SourceScan<'c> {
    /// A scan of one source, nothing read yet.
    pub(crate) fn new(cfg: &'c Config, budget: Arc<Budget>) -> SourceScan<'c> {
        SourceScan {
            cfg,
            budget,
            limits: cfg.scan.limits.clone(),
            st: Stitcher::new(),
            pair: Pairer::new(),
            unwrap: None,
            total: Summary::new(),
        }
    }

    /// Starts the source's (only) part from its first bytes: the layout, prefix and year.
    pub(crate) fn start(&mut self, head: &[u8]) {
        let now = || jiff::Timestamp::now().as_nanosecond() as i64;
        self.start_part(
            &head[..head.len().min(HEAD)],
            YearHint::for_part(self.cfg.scan.year, now),
            true,
        );
    }

    /// Reads a buffer of whole lines; returns what it counted (also added to the total).
    pub(crate) fn feed(&mut self, buf: &[u8]) -> Summary {
        let before = std::mem::take(&mut self.total);
        self.lines(buf, None);
        let block = std::mem::replace(&mut self.total, before);
        self.total.merge(block.clone());
        block
    }

    /// Ends the records still open (a traceback waiting for its next line): the input is
    /// quiet, so they are complete. Returns what they counted (also added to the total).
    pub(crate) fn close_open(&mut self) -> Summary {
        let st = std::mem::replace(&mut self.st, Stitcher::new());
        let (cfg, mut rest) = (self.cfg, Summary::new());
        let mut step = Steps::new(cfg);
        let stats = st.finish(&mut |r: &Record<'_>| handle(r, cfg, &mut rest, &mut step));
        end_pairing(&mut self.pair, &mut rest);
        self.budget.charge(&mut rest);
        rest.frame = stats;
        self.total.merge(rest.clone());
        rest
    }

    /// What was counted so far.
    pub(crate) fn total(&self) -> &Summary {
        &self.total
    }

    /// A scan that continues from `carried`, the state another scan of this source ended
    /// with (`--state`), nothing counted yet.
    pub(crate) fn resume(cfg: &'c Config, budget: Arc<Budget>, carried: Carried) -> Self {
        let mut scan = SourceScan::new(cfg, budget);
        scan.st = carried.stitcher;
        scan.pair = carried.pairer;
        scan.unwrap = carried.unwrap.map(|mut u| {
            u.set_zone(cfg.scan.limits.zone.clone());
            u
        });
        scan
    }

    /// Starts reading a file (again) from its first bytes `head` and its `year`; `new` when
    /// its layout is to be counted (a file read for the first time).
    pub(crate) fn begin_part(&mut self, head: &[u8], year: YearHint, new: bool) {
        self.start_part(&head[..head.len().min(HEAD)], year, new);
    }

    /// Reads a buffer of whole lines of the current part (the last may lack its newline).
    pub(crate) fn read_lines(&mut self, buf: &[u8], bytes: u64) {
        self.total.bytes += bytes;
        self.lines(buf, None);
    }

    /// A copy of the state carried to the next bytes, counting nothing yet: what ends
    /// there (records still open) can be counted on the copy without touching this scan.
    pub(crate) fn fork(&self) -> SourceScan<'c> {
        SourceScan {
            cfg: self.cfg,
            budget: Arc::clone(&self.budget),
            limits: self.limits.clone(),
            st: self.st.clone(),
            pair: self.pair.clone(),
            unwrap: self.unwrap.clone(),
            total: Summary::new(),
        }
    }

    /// What was counted, and the state the next bytes continue from.
    pub(crate) fn into_parts(self) -> (Summary, Carried) {
        let carried = Carried {
            stitcher: self.st,
            pairer: self.pair,
            unwrap: self.unwrap,
        };
        (self.total, carried)
    }

    /// Ends the input: the partial lines and records still open are counted. Returns
    /// everything counted, with the framing counters of the whole stream.
    pub(crate) fn finish(mut self) -> Summary {
        self.finish_unwrap();
        let SourceScan {
            cfg,
            budget,
            st,
            mut pair,
            mut total,
            ..
        } = self;
        let mut rest = Summary::new();
        let mut step = Steps::new(cfg);
        let stats = st.finish(&mut |r: &Record<'_>| handle(r, cfg, &mut rest, &mut step));
        end_pairing(&mut pair, &mut rest);
        budget.charge(&mut rest);
        total.merge(rest);
        total.frame = stats;
        total
    }

    /// Chooses the layout of a part from its first bytes (or `--input-format`); a part whose
    /// layout differs from the previous part's ends that one's partial lines first. `count`:
    /// the part is counted among the layouts (not when it is resumed by `--state`).
    fn start_part(&mut self, head: &[u8], year: YearHint, count: bool) {
        let opts = &self.cfg.scan;
        let layout = opts.layout.unwrap_or_else(|| detect(head));
        if count {
            *self.total.layouts.entry(layout.name()).or_insert(0) += 1;
        }
        self.limits = opts.limits.for_part(layout, head, year);
        if self.unwrap.as_ref().map(Unwrapper::layout) == Some(layout) {
            return;
        }
        self.finish_unwrap();
        if layout.is_wrapped() {
            let (zone, max) = (opts.limits.zone.clone(), opts.limits.max_line_len);
            self.unwrap = Some(Unwrapper::new(layout, zone, self.limits.year, max));
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
        let state = (&mut self.st, &mut self.pair);
        let s = scan_buffer(buf, map, state, self.cfg, &self.limits, &self.budget);
        self.total.merge(s);
    }

    /// Reads a buffer of whole lines in the part's layout (in `map`, when mapped).
    fn lines(&mut self, buf: &[u8], map: Option<&Mapped>) {
        let Some(u) = self.unwrap.as_mut() else {
            return self.text(buf, map);
        };
        // Unwrapping is sequential; overlap it with the parallel framing of the previous
        // block (`rayon::join`), so a wrapped file costs about one extra pass on one core.
        let blocks = split_lines(buf, self.cfg.scan.block_size);
        let mut cur = Vec::new();
        if let Some(first) = blocks.first() {
            u.feed(first, &mut cur);
            if let Some(m) = map {
                m.release(first);
                if let Some(p) = &self.cfg.scan.progress {
                    p.add(first.len());
                }
            }
        }
        for i in 1..=blocks.len() {
            let mut next = Vec::new();
            let (cfg, limits, budget) = (self.cfg, &self.limits, &*self.budget);
            let state = (&mut self.st, &mut self.pair);
            let ((), s) = rayon::join(
                || {
                    if let Some(b) = blocks.get(i) {
                        u.feed(b, &mut next);
                        if let Some(m) = map {
                            m.release(b);
                            if let Some(p) = &cfg.scan.progress {
                                p.add(b.len());
                            }
                        }
                    }
                },
                || scan_buffer(&cur, None, state, cfg, limits, budget),
            );
            self.total.merge(s);
            cur = next;
        }
    }

    /// Counts an input without a byte (an empty file, stream or archive) among the layouts,
    /// so that `input.layouts` adds up to `input.files`.
    fn count_empty(&mut self) {
        *self.total.layouts.entry("empty").or_insert(0) += 1;
    }

    /// Reads one file (or stdin) to its end; returns the error that stopped it early.
    fn part(&mut self, src: &Part) -> Option<InputError> {
        let (opened, mtime) = match input::open_timed(src) {
            Err(e) => return Some(e),
            Ok(o) => o,
        };
        let year = YearHint::for_part(self.cfg.scan.year, || {
            mtime.unwrap_or_else(|| src.modified_ns())
        });
        let stream = match opened {
            Opened::Empty => {
                self.count_empty();
                return None;
            }
            Opened::Read(buf) => {
                self.total.bytes += buf.len() as u64;
                self.start_part(&buf[..buf.len().min(HEAD)], year, true);
                self.lines(&buf, None);
                if let Some(p) = &self.cfg.scan.progress {
                    p.add(buf.len());
                }
                input::recycle(buf);
                return None;
            }
            Opened::Mapped(m) => {
                self.total.bytes += m.len() as u64;
                self.start_part(&m[..m.len().min(HEAD)], year, true);
                self.lines(&m, Some(&m));
                return m
                    .truncated()
                    .then(|| InputError::Truncated { path: src.name() });
            }
            Opened::Stream(s) => s,
        };
        let o = &self.cfg.scan;
        let (max, block, line) = (o.max_decompressed, o.block_size, o.limits.max_line_len);
        let blocks = ReadAhead::start(stream, src.name(), max, block, line);
        let (mut first, mut err, mut bytes, mut raw) = (true, None, 0, 0);
        for block in blocks.iter() {
            bytes = block.read;
            if let Some(p) = &self.cfg.scan.progress {
                p.add(block.raw.saturating_sub(raw) as usize);
            }
            raw = block.raw;
            err = err.or(block.error);
            if !block.more {
                break;
            }
            if first {
                self.start_part(&block.data[..block.data.len().min(HEAD)], year, true);
                first = false;
            }
            self.lines(&block.data, None);
            blocks.recycle(block.data);
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

/// What a source's scan carries from one input's end to the next: the records still open
/// and the container lines still partial. `--state` saves it between runs.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Carried {
    pub stitcher: Stitcher,
    #[serde(default)]
    pub pairer: Pairer,
    pub unwrap: Option<Unwrapper>,
}

/// Pairs the request lines of the records the input's end completed (in `rest`), then
/// counts the access rows still held: nothing comes to pair with them.
fn end_pairing(pair: &mut Pairer, rest: &mut Summary) {
    pair.resolve(std::slice::from_mut(rest));
    pair.finish(rest);
}

/// Bytes looked at to detect a layout.
pub(crate) const HEAD: usize = 64 << 10;

/// Analyses one source (a rotated set as one stream). Returns what could be counted, and the
/// errors that stopped a part early or skipped it.
pub fn scan_source(src: &Source, cfg: &Config) -> (Summary, Vec<InputError>) {
    scan_source_within(src, cfg, &Arc::new(budget(cfg)))
}

/// The run's memory budget for request rows.
fn budget(cfg: &Config) -> Budget {
    Budget::new(cfg.scan.rows_budget(), cfg.trends.bucket_ns)
}

/// [`scan_source`], its request rows charged to `budget`.
fn scan_source_within(
    src: &Source,
    cfg: &Config,
    budget: &Arc<Budget>,
) -> (Summary, Vec<InputError>) {
    let mut scan = SourceScan::new(cfg, Arc::clone(budget));
    let mut errors = Vec::new();
    for part in src.parts() {
        errors.extend(scan.part(&part));
    }
    let mut total = scan.finish();
    total.files = src.parts().len() as u64;
    total.set_source(&src.name());
    (total, errors)
}

/// Analyses every source in parallel and merges the results in source order.
///
/// Sources are handed to the workers in batches of neighbours, each read one after the other
/// into one summary: a directory of small files is a few hundred parallel tasks and as many
/// merges, not one task and one merge on the calling thread per file (20,000 files of 27
/// lines: 1.26 s -> 1.07 s). A large file in a batch is still split into chunks that the
/// other workers take.
pub fn scan_all(sources: &[Source], cfg: &Config) -> (Summary, Vec<InputError>) {
    let budget = Arc::new(budget(cfg));
    let per = batch_len(sources.len(), rayon::current_num_threads());
    let results: Vec<_> = sources
        .par_chunks(per)
        .map(|batch| gather(batch.iter().map(|s| scan_source_within(s, cfg, &budget))))
        .collect();
    gather(results)
}

/// Merges scan results in order: the summaries into one, the errors into one list.
fn gather(
    results: impl IntoIterator<Item = (Summary, Vec<InputError>)>,
) -> (Summary, Vec<InputError>) {
    let mut total = Summary::new();
    let mut errors = Vec::new();
    for (s, e) in results {
        total.merge(s);
        errors.extend(e);
    }
    (total, errors)
}

/// Sources a batch holds: eight batches a thread at least, so that a batch slower than the
/// others (a large file among small ones) leaves the rest to be shared; at most 64, past
/// which a task's overhead no longer shows.
fn batch_len(sources: usize, threads: usize) -> usize {
    (sources / (threads.max(1) * 8)).clamp(1, 64)
}
