//! Following a live input (`faultline watch`): bytes are fed as they come, whole lines are
//! analysed at once, and a report of everything so far can be taken at any time.
//!
//! Latency always goes to sketches here (the input has no end to size a budget by), so
//! memory grows with the number of endpoints, time buckets and distinct failures, not with
//! the requests.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::aggregate::{Budget, Summary};
use crate::config::Config;
use crate::error::AggregateError;
use crate::pipeline::SourceScan;
use crate::report::{self, Report};
use crate::Outcome;

/// A live input being analysed.
pub struct Follow<'c> {
    cfg: &'c Config,
    scan: SourceScan<'c>,
    name: String,
    /// The tail of the bytes fed that does not end in a newline yet.
    partial: Vec<u8>,
    started: bool,
    /// Signature ids seen so far, to tell the new ones.
    seen: BTreeSet<String>,
    /// What was counted since [`Follow::take_window`] was last called.
    window: Summary,
    bytes: u64,
}

/// What one interval counted: records by signature, requests, 5xx.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Window {
    /// Signature ids and their records in the interval, by count then id.
    pub signatures: Vec<(String, u64)>,
    /// Records of exceptions no signature matched.
    pub exceptions: u64,
    /// Request lines.
    pub requests: u64,
    /// Of which 5xx.
    pub errors_5xx: u64,
    /// 99th percentile latency of the interval's requests (an estimate, see the sketches).
    pub p99_ms: Option<f64>,
}

impl<'c> Follow<'c> {
    /// Starts following an input named `name`.
    pub fn new(name: &str, cfg: &'c Config) -> Follow<'c> {
        let budget = Arc::new(Budget::new(Some(0), cfg.trends.bucket_ns));
        Follow {
            cfg,
            scan: SourceScan::new(cfg, budget),
            name: name.to_string(),
            partial: Vec::new(),
            started: false,
            seen: BTreeSet::new(),
            window: Summary::new(),
            bytes: 0,
        }
    }

    /// Analyses the whole lines of `bytes` (after what was left of the last call); keeps an
    /// unfinished last line for the next call. Returns the signature ids seen for the first
    /// time.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.bytes += bytes.len() as u64;
        let Some(end) = memchr::memrchr(b'\n', bytes) else {
            self.partial.extend_from_slice(bytes);
            return Vec::new();
        };
        let (lines, rest) = bytes.split_at(end + 1);
        let block = match self.partial.is_empty() {
            true => self.scan_lines(lines),
            false => {
                let mut joined = std::mem::take(&mut self.partial);
                joined.extend_from_slice(lines);
                self.scan_lines(&joined)
            }
        };
        self.partial.extend_from_slice(rest);
        self.absorb(block)
    }

    fn scan_lines(&mut self, lines: &[u8]) -> Summary {
        if !self.started {
            self.scan.start(lines);
            self.started = true;
        }
        self.scan.feed(lines)
    }

    /// Ends the records still open, and an unfinished last line: call it when the input has
    /// been quiet for a while (a traceback's last line is then known to be its last).
    pub fn close_open(&mut self) -> Vec<String> {
        let mut new = Vec::new();
        if !self.partial.is_empty() {
            let mut line = std::mem::take(&mut self.partial);
            line.push(b'\n');
            let block = self.scan_lines(&line);
            new = self.absorb(block);
        }
        let rest = self.scan.close_open();
        new.extend(self.absorb(rest));
        new
    }

    fn absorb(&mut self, block: Summary) -> Vec<String> {
        let catalog = self.cfg.catalog();
        let mut new: Vec<String> = block
            .sigs
            .keys()
            .map(|&i| catalog.signatures[i].id.clone())
            .filter(|id| !self.seen.contains(id))
            .collect();
        new.sort();
        self.seen.extend(new.iter().cloned());
        self.window.merge(block);
        new
    }

    /// What was counted since the last call, and a fresh interval.
    pub fn take_window(&mut self) -> Window {
        let cfg = self.cfg;
        take_window(std::slice::from_mut(self), cfg)
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// A quick report of everything so far (signatures, exceptions, requests and
    /// endpoints from the sketches; no timeline or incidents), for thresholds and the
    /// interval lines.
    pub fn live_report(&self) -> Report {
        live_report(std::slice::from_ref(self), self.cfg)
    }

    /// The full report of everything read (records still open are ended first).
    pub fn finish(self) -> Result<Outcome, AggregateError> {
        let cfg = self.cfg;
        finish(vec![self], cfg)
    }

    /// Everything counted, as one input's summary (records still open are ended first).
    fn into_summary(mut self) -> Summary {
        self.close_open();
        let mut total = self.scan.total().clone();
        total.files = 1;
        total.bytes = self.bytes;
        if !self.started {
            *total.layouts.entry("empty").or_insert(0) += 1;
        }
        total.set_source(&self.name);
        total
    }
}

/// What several inputs followed together counted since the last call, and a fresh interval
/// for each.
pub fn take_window(follows: &mut [Follow<'_>], cfg: &Config) -> Window {
    let mut w = Summary::new();
    for f in follows {
        w.merge(std::mem::take(&mut f.window));
    }
    let catalog = cfg.catalog();
    let mut signatures: Vec<(String, u64)> = w
        .sigs
        .iter()
        .map(|(&i, s)| (catalog.signatures[i].id.clone(), s.seen.count))
        .collect();
    signatures.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let overall = w.sketches.overall();
    Window {
        signatures,
        exceptions: w.exceptions.values().map(|s| s.count).sum(),
        requests: overall.requests,
        errors_5xx: overall.errors_5xx,
        p99_ms: overall.p99_ms,
    }
}

/// A quick report of several inputs followed together (see [`Follow::live_report`]).
pub fn live_report(follows: &[Follow<'_>], cfg: &Config) -> Report {
    let mut all = Summary::new();
    for f in follows {
        let mut counts = f.scan.total().counts_only();
        counts.sketches = f.scan.total().sketches.clone();
        all.merge(counts);
    }
    report::live(&all, cfg.catalog(), &cfg.trends)
}

/// The full report of several inputs followed together.
pub fn finish(follows: Vec<Follow<'_>>, cfg: &Config) -> Result<Outcome, AggregateError> {
    let mut all = Summary::new();
    for f in follows {
        all.merge(f.into_summary());
    }
    let (report, trends) = report::build(all, cfg)?;
    Ok(Outcome {
        report,
        errors: Vec::new(),
        trends,
    })
}
