//! Aggregation: classified records in, counts out.
//!
//! A [`Summary`] is built per chunk and merged; every operation is commutative (sums, minima,
//! maxima, map unions), so the merged result does not depend on how the input was split or on
//! which thread finished first. [`Summary::trends`] turns the rows into polars frames and
//! computes the timeline, endpoint latency and incidents; the report is built from both.

mod frames;
mod incident;
mod messages;
mod pairing;
mod requests;
mod rows;
mod saved;
mod sketch;
mod trends;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::classify::{Catalog, Classification, Location};
use crate::error::AggregateError;
use crate::framing::{format_rfc3339, FrameStats, Nanos, UnwrapStats};

pub use incident::IncidentOptions;
pub(crate) use messages::{MessageAgg, Messages, MINUTE_NS};
pub use pairing::{PairLog, Pairer, LOOKBACK, WINDOW_NS};
pub use requests::RequestRows;
pub use rows::{EndpointReport, IncidentReport, SourceReport, TimelineBucket};
pub use saved::SavedSummary;
pub use sketch::{Budget, RequestSketches, ALPHA};
pub(crate) use trends::{round3, round6, Timeline};
pub use write::FrameFormat;

/// Variants and locations of one signature listed in the report at most.
pub const MAX_KEPT: usize = 100;
/// Groups of other exceptions listed in the report at most.
pub const MAX_EXCEPTION_GROUPS: usize = 1000;

/// One classified record, kept for the `events` frame and the timeline.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// Record time.
    pub time: Option<Nanos>,
    /// What it was.
    pub class: Arc<Classification>,
    /// The stream (`pod/NAME/CONTAINER`) or the input it came from.
    pub source: Arc<str>,
}

/// How trends are aggregated.
#[derive(Debug, Clone)]
pub struct TrendOptions {
    /// Timeline bucket, in nanoseconds. By default one minute.
    pub bucket_ns: i64,
    /// Incident detection.
    pub incident: IncidentOptions,
    /// Split the findings by source (`--by source`).
    pub by_source: bool,
    /// Replace secrets in what is reported of the log by `[REDACTED:KIND]` (on by default;
    /// `--no-redact`).
    pub redact: bool,
}

impl Default for TrendOptions {
    fn default() -> Self {
        TrendOptions {
            bucket_ns: 60_000_000_000,
            incident: IncidentOptions::default(),
            by_source: false,
            redact: true,
        }
    }
}

/// The trends of a run, and their frames for writing as CSV or Parquet. Opaque: polars
/// stays here.
pub struct Trends {
    frames: frames::Frames,
    names: Vec<String>,
    pub(crate) timeline: Vec<TimelineBucket>,
    pub(crate) endpoints: Vec<EndpointReport>,
    pub(crate) incidents: Vec<IncidentReport>,
    /// Incidents one-minute buckets show that the chosen bucket does not: start, end.
    pub(crate) hidden_incidents: Vec<(Nanos, Nanos)>,
    pub(crate) by_source: Vec<SourceReport>,
    pub(crate) requests: RequestCounts,
}

/// Request lines read, and what their latency fields held.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestCounts {
    pub count: u64,
    pub with_latency: u64,
    pub unparsed_latency: u64,
    pub missing_latency: u64,
    /// Access lines not counted: the second line of a request.
    pub paired: u64,
    /// Every request's 5xx count and latency quantiles, with a time or without.
    pub overall: trends::WindowStats,
    /// The latency quantiles are estimates from sketches (the rows passed the budget).
    pub sketched: bool,
}

impl Trends {
    /// Writes `events`, `requests`, `timeline` and `endpoints` into `dir`, one file each.
    pub fn write(&self, dir: &Path, format: FrameFormat) -> Result<Vec<PathBuf>, AggregateError> {
        self.write_some(dir, format, false)
    }

    /// Writes the row frames only, `events` and `requests`, to `dir` (what `faultline
    /// extract` gives a distributed engine to aggregate).
    pub fn write_rows(
        &self,
        dir: &Path,
        format: FrameFormat,
    ) -> Result<Vec<PathBuf>, AggregateError> {
        self.write_some(dir, format, true)
    }

    fn write_some(
        &self,
        dir: &Path,
        format: FrameFormat,
        rows_only: bool,
    ) -> Result<Vec<PathBuf>, AggregateError> {
        write::write_frames(
            &self.frames,
            &self.names,
            &self.timeline,
            &self.endpoints,
            dir,
            format,
            rows_only,
        )
    }

    /// Rows of the `events` and `requests` frames.
    pub fn heights(&self) -> (usize, usize) {
        (self.frames.events.height(), self.frames.requests.height())
    }
}

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Seen {
    pub count: u64,
    pub first: Option<Nanos>,
    pub last: Option<Nanos>,
}

impl Seen {
    fn add(&mut self, t: Option<Nanos>) {
        self.count += 1;
        self.widen(t, t);
    }

    fn widen(&mut self, first: Option<Nanos>, last: Option<Nanos>) {
        if let Some(f) = first {
            self.first = Some(self.first.map_or(f, |x| x.min(f)));
        }
        if let Some(l) = last {
            self.last = Some(self.last.map_or(l, |x| x.max(l)));
        }
    }

    pub(crate) fn merge(&mut self, o: &Seen) {
        self.count += o.count;
        self.widen(o.first, o.last);
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct SigAgg {
    pub seen: Seen,
    pub types: FxHashMap<String, u64>,
    pub variants: FxHashMap<String, u64>,
    pub locations: FxHashMap<Location, u64>,
    pub example: Option<Example>,
}

/// Lines of a record an example keeps: its first [`EXAMPLE_HEAD`], a line saying how many
/// were left out, and its last ones (where a traceback names the exception).
pub const EXAMPLE_LINES: usize = 40;
const EXAMPLE_HEAD: usize = 12;
/// Characters of one line an example keeps.
pub const EXAMPLE_LINE_CHARS: usize = 400;

/// One record shown for its signature: the earliest one, and of records at the same time the
/// least text, so the choice is the same however the input was cut (untimed records come
/// after timed ones).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Example {
    pub time: Option<Nanos>,
    pub text: String,
}

impl Example {
    /// Its rank without the text: lower is kept.
    fn when(time: Option<Nanos>) -> (bool, Nanos) {
        (time.is_none(), time.unwrap_or(0))
    }

    /// The record's lines as an example: printable text, long lines and long records cut.
    fn of<L: AsRef<str>>(time: Option<Nanos>, lines: &[L]) -> Example {
        let mut text = String::new();
        let mut push = |l: &str| {
            let l = crate::framing::printable(l);
            match l.char_indices().nth(EXAMPLE_LINE_CHARS) {
                Some((at, _)) => {
                    text.push_str(&l[..at]);
                    text.push('…');
                }
                None => text.push_str(&l),
            }
            text.push('\n');
        };
        if lines.len() <= EXAMPLE_LINES {
            lines.iter().for_each(|l| push(l.as_ref()));
        } else {
            let tail = EXAMPLE_LINES - EXAMPLE_HEAD - 1;
            lines[..EXAMPLE_HEAD].iter().for_each(|l| push(l.as_ref()));
            let left = lines.len() - EXAMPLE_HEAD - tail;
            push(&format!("… {left} lines left out …"));
            lines[lines.len() - tail..]
                .iter()
                .for_each(|l| push(l.as_ref()));
        }
        text.pop();
        Example { time, text }
    }

    fn better_than(&self, o: &Example) -> bool {
        (Example::when(self.time), &self.text) < (Example::when(o.time), &o.text)
    }

    /// Keeps the better of `slot`'s example and `o`.
    pub(crate) fn merge(slot: &mut Option<Example>, o: Option<Example>) {
        if let Some(o) = o {
            if slot.as_ref().is_none_or(|e| o.better_than(e)) {
                *slot = Some(o);
            }
        }
    }
}

fn merge_counts<K: std::hash::Hash + Eq + Clone>(a: &mut FxHashMap<K, u64>, b: &FxHashMap<K, u64>) {
    for (k, v) in b {
        *a.entry(k.clone()).or_insert(0) += v;
    }
}

/// The records a `--since`/`--until` window did not keep, by side, and those it kept
/// because they have no time.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WindowMiss {
    /// Records before the window's start.
    pub before: u64,
    /// Records at or after its end.
    pub after: u64,
    /// Records without a time, kept.
    pub untimed: u64,
}

/// Everything counted so far. Cheap to create; merge partial summaries with [`Summary::merge`].
#[derive(Debug, Default, Clone)]
pub struct Summary {
    /// Per signature (its catalog index): times, exception types, variants, locations.
    pub(crate) sigs: FxHashMap<usize, SigAgg>,
    /// Unknown exceptions by type, normalized message and innermost application frame.
    pub(crate) exceptions: FxHashMap<(String, String, Option<Location>), Seen>,
    /// Records no signature matched, at warning level or above, by message shape.
    pub(crate) messages: Messages,
    /// The first and last record time.
    pub(crate) range: Seen,
    /// Bytes read (decompressed for compressed inputs).
    pub bytes: u64,
    /// Line and record counters from framing.
    pub frame: FrameStats,
    /// Inputs analysed.
    pub files: u64,
    /// Request rows.
    pub requests: RequestRows,
    /// Requests folded into sketches once the rows passed the memory budget.
    pub sketches: RequestSketches,
    /// Classified records, one row each, block after block in input order: a chunk's rows
    /// stay in its block when summaries merge (appending the 280 k events of a 1 GiB log into
    /// one vector took 8-10 ms while the other core waited).
    pub events: Vec<Vec<EventRow>>,
    /// Records and lines outside the `--since`/`--until` window.
    pub outside_window: (u64, u64),
    /// Where the records a window did not keep were, and the records it could not place.
    pub window_miss: WindowMiss,
    /// Inputs by layout name.
    pub layouts: BTreeMap<&'static str, u64>,
    /// Counters of the unwrapping of container layouts.
    pub unwrap: UnwrapStats,
    /// The request lines that may pair, until a [`Pairer`] pairs them.
    pub pairs: PairLog,
}

impl Summary {
    /// Creates an empty summary.
    pub fn new() -> Summary {
        Summary::default()
    }

    /// A copy of the counts: everything but the event and request rows and the sketches.
    pub fn counts_only(&self) -> Summary {
        Summary {
            sigs: self.sigs.clone(),
            exceptions: self.exceptions.clone(),
            messages: self.messages.clone(),
            range: self.range.clone(),
            bytes: self.bytes,
            frame: self.frame.clone(),
            files: self.files,
            requests: RequestRows::default(),
            sketches: RequestSketches::default(),
            events: Vec::new(),
            outside_window: self.outside_window,
            window_miss: self.window_miss,
            layouts: self.layouts.clone(),
            unwrap: self.unwrap.clone(),
            pairs: PairLog::default(),
        }
    }

    /// Counts a record outside the time window, of `lines` lines, `before` its start or not.
    pub fn skip_outside(&mut self, lines: usize, before: bool) {
        self.outside_window.0 += 1;
        self.outside_window.1 += lines as u64;
        match before {
            true => self.window_miss.before += 1,
            false => self.window_miss.after += 1,
        }
    }

    /// Counts a record kept by a time window because it has no time to place it by.
    pub fn keep_untimed(&mut self) {
        self.window_miss.untimed += 1;
    }

    /// Notes a record's time in the overall time range.
    pub fn see_time(&mut self, t: Option<Nanos>) {
        self.range.widen(t, t);
    }

    /// Counts one classified record and keeps its event row.
    pub fn add_event(&mut self, t: Option<Nanos>, c: &Arc<Classification>, source: &Arc<str>) {
        self.add(t, c);
        if self.events.is_empty() {
            self.events.push(Vec::new());
        }
        let block = self.events.last_mut().expect("one block at least");
        block.push(EventRow {
            time: t,
            class: Arc::clone(c),
            source: Arc::clone(source),
        });
    }

    /// Offers a record of signature `sig` (counted already) as its example; `lines` gives
    /// its text only when it may be kept (a later record is turned down by its time).
    pub fn offer_example<L: AsRef<str>>(
        &mut self,
        sig: usize,
        time: Option<Nanos>,
        lines: impl FnOnce() -> Vec<L>,
    ) {
        let Some(s) = self.sigs.get_mut(&sig) else {
            return;
        };
        if let Some(e) = &s.example {
            if Example::when(time) > Example::when(e.time) {
                return;
            }
        }
        Example::merge(&mut s.example, Some(Example::of(time, &lines())));
    }

    /// Counts one classified record.
    pub fn add(&mut self, t: Option<Nanos>, c: &Classification) {
        fn bump<K: std::hash::Hash + Eq + Clone>(m: &mut FxHashMap<K, u64>, k: &K) {
            match m.get_mut(k) {
                Some(n) => *n += 1,
                None => {
                    m.insert(k.clone(), 1);
                }
            }
        }
        match c.signature {
            Some(i) => {
                let s = self.sigs.entry(i).or_default();
                s.seen.add(t);
                if let Some(ty) = &c.exception_type {
                    bump(&mut s.types, ty);
                }
                if let Some(v) = &c.variant {
                    bump(&mut s.variants, v);
                }
                if let Some(l) = &c.location {
                    bump(&mut s.locations, l);
                }
            }
            None => {
                let key = (
                    c.exception_type.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                    c.location.clone(),
                );
                self.exceptions.entry(key).or_default().add(t);
            }
        }
    }

    /// Whether nothing was counted: merging it changes nothing, and merging into it is a move.
    fn is_blank(&self) -> bool {
        self.sigs.is_empty()
            && self.exceptions.is_empty()
            && self.messages.is_empty()
            && self.range.count == 0
            && self.range.first.is_none()
            && self.range.last.is_none()
            && self.bytes == 0
            && self.frame == FrameStats::default()
            && self.files == 0
            && self.requests.is_blank()
            && !self.sketches.is_active()
            && self.events.iter().all(Vec::is_empty)
            && self.outside_window == (0, 0)
            && self.window_miss == WindowMiss::default()
            && self.layouts.is_empty()
            && self.unwrap == UnwrapStats::default()
    }

    /// Adds `o` into `self`.
    ///
    /// A blank side costs nothing: a file of a few lines goes through several summaries on
    /// its way into its batch's, most of them blank (a chunk's stitched records, the part's
    /// total before its first buffer), and re-interning its endpoints into each was a fifth
    /// of the time of 20,000 small files.
    pub fn merge(&mut self, mut o: Summary) {
        if o.is_blank() && !self.sketches.is_active() {
            return;
        }
        if self.is_blank() {
            *self = o;
            self.events.retain(|b| !b.is_empty());
            if self.sketches.is_active() {
                let b = self.sketches.bucket_ns();
                self.fold_requests(b);
            }
            return;
        }
        let rows = std::mem::take(&mut o.requests);
        let sketches = std::mem::take(&mut o.sketches);
        self.merge_counts(o);
        self.requests.merge(rows);
        self.sketches.merge(sketches);
        if self.sketches.is_active() {
            let b = self.sketches.bucket_ns();
            self.fold_requests(b);
        }
    }

    /// Moves the request rows into the sketches, bucketed by `bucket_ns`.
    pub fn fold_requests(&mut self, bucket_ns: i64) {
        self.sketches.fold(&mut self.requests, bucket_ns);
    }

    /// Merges `parts` in order into one summary, as successive [`Summary::merge`]s would; the
    /// request blocks are moved, not copied.
    pub fn merge_all(mut parts: Vec<Summary>) -> Summary {
        parts.retain(|p| !p.is_blank());
        if parts.len() == 1 {
            let mut total = Summary::new();
            total.merge(parts.pop().expect("one part"));
            return total;
        }
        // Past the budget every part's rows go into its sketches, side by side.
        if let Some(b) = parts
            .iter()
            .find(|p| p.sketches.is_active())
            .map(|p| p.sketches.bucket_ns())
        {
            use rayon::prelude::*;
            parts.par_iter_mut().for_each(|p| p.fold_requests(b));
        }
        let mut total = Summary::new();
        let mut rows = Vec::with_capacity(parts.len());
        for mut p in parts {
            rows.push(std::mem::take(&mut p.requests));
            total.sketches.merge(std::mem::take(&mut p.sketches));
            total.merge_counts(p);
        }
        total.requests = RequestRows::concat(rows);
        if total.sketches.is_active() {
            let b = total.sketches.bucket_ns();
            total.fold_requests(b);
        }
        total
    }

    /// Merges everything but the request rows.
    fn merge_counts(&mut self, o: Summary) {
        for (i, s) in o.sigs {
            let a = self.sigs.entry(i).or_default();
            a.seen.merge(&s.seen);
            merge_counts(&mut a.types, &s.types);
            merge_counts(&mut a.variants, &s.variants);
            merge_counts(&mut a.locations, &s.locations);
            Example::merge(&mut a.example, s.example);
        }
        for (k, v) in o.exceptions {
            self.exceptions.entry(k).or_default().merge(&v);
        }
        messages::merge_messages(&mut self.messages, o.messages);
        self.range.widen(o.range.first, o.range.last);
        self.bytes += o.bytes;
        self.frame.add(&o.frame);
        self.files += o.files;
        self.events
            .extend(o.events.into_iter().filter(|b| !b.is_empty()));
        self.outside_window.0 += o.outside_window.0;
        self.outside_window.1 += o.outside_window.1;
        self.window_miss.before += o.window_miss.before;
        self.window_miss.after += o.window_miss.after;
        self.window_miss.untimed += o.window_miss.untimed;
        for (k, v) in o.layouts {
            *self.layouts.entry(k).or_insert(0) += v;
        }
        self.unwrap.add(&o.unwrap);
    }

    /// Gives events without a stream the input's name as their source; a bare container
    /// stream (`stdout`, `stderr` of Docker and CRI files) is qualified by the input's name.
    pub fn set_source(&mut self, name: &str) {
        let whole: Arc<str> = Arc::from(name);
        let mut qualified: HashMap<Arc<str>, Arc<str>> = HashMap::new();
        for e in self.events.iter_mut().flatten() {
            if e.source.is_empty() {
                e.source = Arc::clone(&whole);
            } else if matches!(&*e.source, "stdout" | "stderr") {
                let q = qualified
                    .entry(Arc::clone(&e.source))
                    .or_insert_with(|| Arc::from(format!("{name} ({})", e.source)));
                e.source = Arc::clone(q);
            }
        }
    }

    /// Aggregates the trends with polars: the request and event rows are taken out of the
    /// summary into the frames. Past the memory budget the request figures come from the
    /// sketches instead, and the `requests` frame is empty.
    pub fn trends(
        &mut self,
        catalog: &Catalog,
        opts: &TrendOptions,
    ) -> Result<Trends, AggregateError> {
        if self.sketches.is_active() {
            self.fold_requests(opts.bucket_ns);
        }
        let sketches = std::mem::take(&mut self.sketches);
        let requests = std::mem::take(&mut self.requests);
        let events = std::mem::take(&mut self.events);
        let (unparsed_latency, missing_latency, paired) = (
            requests.unparsed_latency,
            requests.missing_latency,
            requests.paired,
        );
        let (count, mut names) = match sketches.is_active() {
            true => (sketches.requests(), Vec::new()),
            false => (requests.len() as u64, requests.endpoints.clone()),
        };
        // The frame takes the request blocks over as its columns' chunks, compact as they
        // are, so memory peaks at the rows plus a bit a request (5xx), not at two copies.
        let mut frames = frames::frames(requests, &events, catalog)
            .map_err(AggregateError::query("building the frames"))?;
        if opts.redact {
            let r = crate::redact::Redactor::builtin();
            names.iter_mut().for_each(|n| r.apply(n));
            frames
                .redact(r)
                .map_err(AggregateError::query("redacting the frames"))?;
        }
        drop(events);
        let source = match sketches.is_active() {
            true => RequestSource::Sketches(&sketches),
            false => RequestSource::Frames(&frames),
        };
        // Missing latencies are the column's nulls (polars counts them as it builds it).
        let with_latency = match source {
            RequestSource::Sketches(s) => s.with_latency(),
            RequestSource::Frames(f) => {
                f.requests
                    .column("latency")
                    .map_or(0, |c| c.len() - c.null_count()) as u64
            }
        };
        // Endpoints on one side, the timeline and then its incidents on the other: each is
        // mostly one thread's work in polars (quantiles group by group), so two cores run
        // them side by side.
        let (endpoints, timed) = rayon::join(
            || -> Result<_, AggregateError> {
                if let RequestSource::Sketches(s) = source {
                    return Ok(s.endpoint_reports());
                }
                trends::endpoints(&frames, &names).map_err(AggregateError::query("the endpoints"))
            },
            || -> Result<_, AggregateError> {
                let timeline = match source {
                    RequestSource::Sketches(s) => {
                        trends::timeline_of(&frames, s.bucket_rows(), opts.bucket_ns)
                    }
                    RequestSource::Frames(f) => trends::timeline(f, opts.bucket_ns),
                }
                .map_err(AggregateError::query("the timeline"))?;
                let mut incidents = Vec::new();
                let windows = incident::detect(&timeline, &opts.incident, opts.bucket_ns);
                let hidden = match source {
                    RequestSource::Frames(f) => finer_incidents(f, &timeline, &windows, opts)?,
                    RequestSource::Sketches(_) => Vec::new(),
                };
                for w in windows {
                    incidents.push(incident_report(&frames, source, &timeline, w, opts)?);
                }
                let by_source = match opts.by_source {
                    true => trends::by_source(&frames)
                        .map_err(AggregateError::query("the findings by source"))?,
                    false => Vec::new(),
                };
                Ok((timeline, (incidents, hidden), by_source))
            },
        );
        let (endpoints, (timeline, (incidents, hidden_incidents), by_source)) =
            (endpoints?, timed?);
        // All requests' quantiles come last, alone: their copy of every latency (20 MB for a
        // 1 GiB log) then does not add to the buffers of the endpoints and windows.
        let overall = match source {
            RequestSource::Sketches(s) => s.overall(),
            RequestSource::Frames(f) => {
                trends::overall(f).map_err(AggregateError::query("all requests"))?
            }
        };
        Ok(Trends {
            frames,
            names,
            timeline: timeline.buckets,
            endpoints,
            incidents,
            hidden_incidents,
            by_source,
            requests: RequestCounts {
                count,
                with_latency,
                unparsed_latency,
                missing_latency,
                paired,
                overall,
                sketched: sketches.is_active(),
            },
        })
    }
}

/// Where the request figures come from: the rows' frames (exact), or the sketches.
#[derive(Clone, Copy)]
enum RequestSource<'a> {
    Frames(&'a frames::Frames),
    Sketches(&'a RequestSketches),
}

impl RequestSource<'_> {
    fn window(self, start: i64, end: i64) -> polars::prelude::PolarsResult<trends::WindowStats> {
        match self {
            RequestSource::Frames(f) => trends::window(f, start, end),
            RequestSource::Sketches(s) => Ok(s.window(start, end)),
        }
    }
}

/// The incidents that one-minute buckets show and the chosen, coarser buckets do not (an
/// average over a long bucket can hide a short incident): their start and end.
fn finer_incidents(
    f: &frames::Frames,
    coarse: &Timeline,
    found: &[incident::Window],
    opts: &TrendOptions,
) -> Result<Vec<(i64, i64)>, AggregateError> {
    const MINUTE: i64 = 60_000_000_000;
    if opts.bucket_ns <= MINUTE {
        return Ok(Vec::new());
    }
    let fine = trends::timeline(f, MINUTE).map_err(AggregateError::query("the timeline"))?;
    let spans: Vec<(i64, i64)> = found
        .iter()
        .map(|w| {
            (
                coarse.starts[w.first],
                coarse.starts[w.last] + opts.bucket_ns,
            )
        })
        .collect();
    Ok(incident::detect(&fine, &opts.incident, MINUTE)
        .into_iter()
        .map(|w| (fine.starts[w.first], fine.starts[w.last] + MINUTE))
        .filter(|(s, e)| !spans.iter().any(|(a, z)| s < z && a < e))
        .collect())
}

fn incident_report(
    f: &frames::Frames,
    req: RequestSource<'_>,
    tl: &Timeline,
    w: incident::Window,
    opts: &TrendOptions,
) -> Result<IncidentReport, AggregateError> {
    let b = opts.bucket_ns;
    let last_bucket = tl.starts.last().copied().unwrap_or(i64::MAX);
    let start = tl.starts[w.first];
    let end = tl.starts[w.last] + b;
    let base_start = start - b * opts.incident.window as i64;
    // Three windows and the signature counts, side by side: each is one thread's work in
    // polars (a slice's quantiles), and they came after the timeline, alone (40 ms of a
    // 1 GiB run on two cores; 25 ms side by side).
    let ((during, before), (after, signatures)) = rayon::join(
        || rayon::join(|| req.window(start, end), || req.window(base_start, start)),
        || {
            rayon::join(
                || req.window(end, last_bucket.saturating_add(b)),
                || trends::signatures_in(f, start, end),
            )
        },
    );
    let q = || AggregateError::query("an incident's windows");
    let (during, before) = (during.map_err(q())?, before.map_err(q())?);
    let (after, signatures) = (after.map_err(q())?, signatures.map_err(q())?);
    let ratio = match (during.p99_ms, before.p99_ms) {
        (Some(d), Some(bp)) if bp > 0.0 => Some(trends::round3(d / bp)),
        _ => None,
    };
    Ok(IncidentReport {
        start: format_rfc3339(start),
        peak: format_rfc3339(tl.starts[w.peak]),
        end: format_rfc3339(end),
        duration_seconds: ((end - start) / 1_000_000_000) as u64,
        signatures,
        requests: during.requests,
        errors_5xx: during.errors_5xx,
        p50_ms: during.p50_ms,
        p99_ms: during.p99_ms,
        baseline_p99_ms: before.p99_ms,
        baseline_p50_ms: before.p50_ms,
        latency_ratio: ratio,
        after_p50_ms: after.p50_ms,
        after_p99_ms: after.p99_ms,
        after_errors_5xx: after.errors_5xx,
        after_requests: after.requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(offers: &[(Option<Nanos>, &[&str])]) -> Summary {
        let mut s = Summary::new();
        let c = Classification {
            signature: Some(0),
            variant: None,
            exception_type: None,
            message: None,
            location: None,
        };
        for (t, lines) in offers {
            s.add(*t, &c);
            s.offer_example(0, *t, || lines.to_vec());
        }
        s
    }

    fn example(s: &Summary) -> Option<&str> {
        s.sigs[&0].example.as_ref().map(|e| e.text.as_str())
    }

    #[test]
    fn the_example_is_the_earliest_record_however_the_records_are_split() {
        let offers: [(Option<Nanos>, &[&str]); 5] = [
            (None, &["untimed"]),
            (Some(30), &["c"]),
            (Some(10), &["b", "traceback"]),
            (Some(10), &["a", "traceback"]),
            (Some(20), &["earlier text, later time"]),
        ];
        let whole = offered(&offers);
        assert_eq!(example(&whole), Some("a\ntraceback"));
        // Every split into two summaries, merged either way round, keeps the same one.
        for cut in 0..=offers.len() {
            for flip in [false, true] {
                let (a, b) = (offered(&offers[..cut]), offered(&offers[cut..]));
                let (mut x, y) = if flip { (b, a) } else { (a, b) };
                x.merge(y);
                assert_eq!(example(&x), Some("a\ntraceback"), "cut {cut}, flip {flip}");
            }
        }
        // Without a timed record, the untimed one is kept.
        assert_eq!(example(&offered(&offers[..1])), Some("untimed"));
    }

    #[test]
    fn an_example_is_cut_to_its_first_and_last_lines_and_made_printable() {
        let long: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
        let refs: Vec<&str> = long.iter().map(String::as_str).collect();
        let s = offered(&[(Some(1), &refs)]);
        let text = example(&s).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), EXAMPLE_LINES);
        assert_eq!(lines[EXAMPLE_HEAD - 1], "line 11");
        assert_eq!(lines[EXAMPLE_HEAD], "… 61 lines left out …");
        assert_eq!(lines[EXAMPLE_HEAD + 1], "line 73");
        assert_eq!(*lines.last().unwrap(), "line 99");
        let wide = "é".repeat(EXAMPLE_LINE_CHARS + 5);
        let s = offered(&[(Some(1), &[wide.as_str(), "\x1b[31mred\x1b[0m\x07"])]);
        let text = example(&s).unwrap();
        let (first, second) = text.split_once('\n').unwrap();
        assert_eq!(first.chars().count(), EXAMPLE_LINE_CHARS + 1);
        assert!(first.ends_with('…'));
        assert_eq!(second, "red\u{fffd}");
        // A short record is kept whole.
        let s = offered(&[(Some(1), &["one", "two"])]);
        assert_eq!(example(&s), Some("one\ntwo"));
    }

    /// 60 000 requests 10 ms apart (ten one-minute buckets) in parts of 20 000: latencies
    /// with 2 decimals, or thirds.
    fn parts_of(decimal: bool) -> Vec<RequestRows> {
        (0..3)
            .map(|p| {
                let mut r = RequestRows::default();
                for i in 0..20_000 {
                    let n = p * 20_000 + i;
                    let path = format!("/api/v1/{}/{n}", ["a", "b", "c"][n % 3]);
                    let status = if n % 97 == 0 { 500 } else { 200 };
                    let latency = match decimal {
                        true => (n % 13 != 0).then(|| (n % 100_003) as f64 / 100.0),
                        false => (n % 13 != 0).then(|| (n % 1000) as f64 / 3.0),
                    };
                    r.push(
                        Some(n as i64 * 10_000_000),
                        b"GET",
                        path.as_bytes(),
                        status,
                        latency,
                    );
                }
                r
            })
            .collect()
    }

    fn request_parts() -> Vec<RequestRows> {
        parts_of(true)
    }

    /// The compact columns (millisecond offsets, latency digits) aggregate exactly as the
    /// wide ones (nanoseconds, f64 milliseconds) do: the same timeline, endpoints and
    /// windows, to the bit.
    #[test]
    fn compact_and_wide_columns_aggregate_alike() {
        let catalog = Catalog::builtin().unwrap();
        let minute = 60_000_000_000;
        for decimal in [true, false] {
            let compact = RequestRows::concat(parts_of(decimal));
            let mut wide = compact.clone();
            for b in &mut wide.blocks {
                b.time.widen();
                b.latency.widen();
            }
            let names = compact.endpoints.clone();
            let fc = frames::frames(compact, &[], &catalog).unwrap();
            let fw = frames::frames(wide, &[], &catalog).unwrap();
            assert!(fc.time_base.is_some() && fw.time_base.is_none());
            assert_eq!(fc.latency_scale.is_some(), decimal);
            assert!(fw.latency_scale.is_none());
            let timeline = trends::timeline(&fc, minute).unwrap();
            assert_eq!(timeline.buckets.len(), 10);
            assert!(timeline.buckets.iter().all(|b| b.p99_ms.is_some()));
            assert_eq!(trends::timeline(&fw, minute).unwrap(), timeline);
            let endpoints = trends::endpoints(&fc, &names).unwrap();
            assert_eq!(endpoints.len(), 3);
            assert!(endpoints.iter().all(|e| e.p50_ms.is_some()));
            assert_eq!(trends::endpoints(&fw, &names).unwrap(), endpoints);
            // Endpoints' latencies gathered a batch at a time: one endpoint (the batch is
            // smaller than any), two, all.
            for batch in [0, 1, 19_000, 40_000, usize::MAX] {
                for f in [&fc, &fw] {
                    let e = trends::endpoints_in_batches(f, &names, batch).unwrap();
                    assert_eq!(e, endpoints, "batch {batch}");
                }
            }
            for (a, b) in [
                (0, 100_000_000_000),
                (123_456_789, 250_000_000_000),
                (0, i64::MAX),
            ] {
                let w = trends::window(&fc, a, b).unwrap();
                assert!(w.requests > 0);
                assert_eq!(trends::window(&fw, a, b).unwrap(), w, "[{a}, {b})");
            }
        }
    }

    /// Request blocks become the frame's chunks: the timeline, endpoints and windows over
    /// three blocks (in order, then out of order) equal those over one column.
    #[test]
    fn blocks_aggregate_as_one_column() {
        let catalog = Catalog::builtin().unwrap();
        let mut one = RequestRows::default();
        for p in request_parts() {
            one.merge(p);
        }
        assert_eq!(one.blocks.len(), 1);
        let blocks = RequestRows::concat(request_parts());
        assert_eq!(blocks.blocks.len(), 3);
        let mut reversed = request_parts();
        reversed.reverse();
        let reversed = RequestRows::concat(reversed);
        let names = one.endpoints.clone();
        let f1 = frames::frames(one, &[], &catalog).unwrap();
        let f3 = frames::frames(blocks, &[], &catalog).unwrap();
        let fr = frames::frames(reversed, &[], &catalog).unwrap();
        // Reversed, the timed requests are sorted: the same rows as in order.
        assert_eq!(fr.timed.height(), f1.timed.height());
        assert_eq!(f3.requests.column("time").unwrap().n_chunks(), 3);
        let minute = 60_000_000_000;
        let timeline = trends::timeline(&f1, minute).unwrap();
        assert_eq!(timeline.buckets.len(), 10);
        assert_eq!(trends::timeline(&f3, minute).unwrap(), timeline);
        assert_eq!(trends::timeline(&fr, minute).unwrap(), timeline);
        // The same timeline, whatever the bucket (runs that end inside a block, a bucket over
        // every block), and whatever the order the requests came in.
        for bucket in [1_000_000_000, 7_000_000_000, 3_600_000_000_000] {
            let t = trends::timeline(&f1, bucket).unwrap();
            assert_eq!(trends::timeline(&f3, bucket).unwrap(), t);
            assert_eq!(trends::timeline(&fr, bucket).unwrap(), t, "bucket {bucket}");
        }
        let endpoints = trends::endpoints(&f1, &names).unwrap();
        assert_eq!(endpoints.len(), 3);
        assert_eq!(trends::endpoints(&f3, &names).unwrap(), endpoints);
        for (a, b) in [
            (0, 100_000_000_000),
            (123_456_789, 250_000_000_000),
            (199_990_000_000, 200_010_000_000),
            (0, i64::MAX),
            (700_000_000_000, i64::MAX),
        ] {
            let w = trends::window(&f1, a, b).unwrap();
            assert_eq!(trends::window(&f3, a, b).unwrap(), w, "[{a}, {b})");
            assert_eq!(trends::window(&fr, a, b).unwrap(), w, "[{a}, {b})");
        }
    }
}
