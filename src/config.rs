//! The validated run configuration, built once from the command line (or by a library user).

use std::path::Path;

use crate::aggregate::TrendOptions;
use crate::classify::catalog::read_patterns;
use crate::classify::{Catalog, Classifier};
use crate::error::CatalogError;
use crate::extract::{RequestReader, Unit};
use crate::framing::{Layout, Limits, TimeWindow};

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The compiled catalog and prefilter.
    pub(crate) classifier: Classifier,
    /// Reads request lines; `None` when request analysis is off (signatures only).
    pub(crate) requests: Option<RequestReader>,
    /// Worker threads; by default the number of CPUs.
    pub threads: usize,
    /// Read and split options.
    pub scan: ScanOptions,
    /// Timeline bucket and incident detection.
    pub trends: TrendOptions,
}

impl Config {
    /// The built-in catalog, all CPUs, default limits.
    pub fn new() -> Result<Config, CatalogError> {
        Config::with_patterns::<&Path>(&[])
    }

    /// The built-in catalog plus the pattern files (a file, or the `*.toml` files of a
    /// directory) at each path.
    pub fn with_patterns<P: AsRef<Path>>(paths: &[P]) -> Result<Config, CatalogError> {
        Config::with_catalog(paths, &[])
    }

    /// [`Config::with_patterns`], without the signatures whose ids are in `disable`.
    pub fn with_catalog<P: AsRef<Path>>(
        paths: &[P],
        disable: &[String],
    ) -> Result<Config, CatalogError> {
        let mut catalog = Catalog::builtin()?;
        let mut requests = RequestReader::builtin()?;
        for p in paths {
            for (f, text) in read_patterns(p.as_ref())? {
                catalog.add_str(&f, &text)?;
                requests.add_str(&f, &text)?;
            }
        }
        catalog.disable(disable)?;
        Ok(Config {
            classifier: Classifier::new(catalog),
            requests: Some(requests),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            scan: ScanOptions::default(),
            trends: TrendOptions::default(),
        })
    }

    /// The signature catalog: the built-in signatures, then those of the pattern directories.
    pub fn catalog(&self) -> &Catalog {
        self.classifier.catalog()
    }

    /// Turns request analysis off: signatures only, faster; no endpoints, timeline latency or
    /// incidents.
    pub fn without_requests(&mut self) {
        self.requests = None;
    }

    /// Turns the redaction of secrets on (the default) or off, in every output (see
    /// [`crate::redact`]).
    pub fn set_redact(&mut self, on: bool) {
        self.trends.redact = on;
        self.classifier.redact = on;
    }

    /// Reads `key` as a latency in `unit` in logfmt and JSON request lines (`@last` reads
    /// the last number of an access line).
    pub fn add_latency_field(&mut self, key: &str, unit: Unit) {
        if let Some(r) = &mut self.requests {
            r.add_latency_field(key, unit);
        }
    }
}

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
    /// The memory a run aims to stay within, in bytes: request rows are kept (exact
    /// quantiles) up to a third of it, then folded into sketches (quantiles within 0.5%).
    /// `None` keeps every row. By default 1 GiB.
    pub memory: Option<u64>,
    /// Where a run counts its progress, for a progress bar.
    pub progress: Option<std::sync::Arc<Progress>>,
    /// Which files directory walks read (hidden files, `--glob`, `--exclude`).
    pub walk: crate::input::WalkFilter,
    /// The least severe level ([`crate::templates::severity`]) of the records no signature
    /// matched that the templates section mines; `None` mines none. By default warning.
    pub templates: Option<u8>,
}

/// A run's progress: bytes of input read (compressed bytes for a compressed input) of the
/// total size of the input files (zero while unknown, and for stdin).
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes read so far.
    pub done: std::sync::atomic::AtomicU64,
    /// The inputs' total size, once they are found.
    pub total: std::sync::atomic::AtomicU64,
}

impl Progress {
    pub(crate) fn add(&self, n: usize) {
        self.done
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The default of [`ScanOptions::memory`]: 1 GiB.
pub const DEFAULT_MEMORY: u64 = 1 << 30;

impl ScanOptions {
    /// The bytes of request rows kept before they are folded into sketches: a third of the
    /// memory budget (the frames and the quantiles' buffers take about as much again at the
    /// aggregation's peak).
    pub fn rows_budget(&self) -> Option<u64> {
        self.memory.map(|m| m / 3)
    }

    /// The size of the chunks a buffer of `len` bytes is split into: the option, or eight a
    /// thread, within 256 KiB and 16 MiB.
    pub fn chunk_for(&self, len: usize) -> usize {
        self.chunk_size.unwrap_or_else(|| {
            let threads = rayon::current_num_threads().max(1);
            (len / (threads * 8)).clamp(256 << 10, 16 << 20)
        })
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
            memory: Some(DEFAULT_MEMORY),
            progress: None,
            walk: crate::input::WalkFilter::default(),
            templates: Some(crate::templates::severity("warning") as u8),
        }
    }
}
