//! faultline: a log-mining incident analyzer.
//!
//! faultline reads application logs (plain text, `kubectl logs` output, JSON lines, gzip),
//! frames them into records (a Python traceback is one record), classifies each record against
//! a catalog of known failure signatures, and reports how often each failure happened, when,
//! with which variant, at which line of the application, and how to fix it.
//!
//! The front door is small: a [`Config`] (the built-in catalog, or with extra pattern
//! directories), one of [`analyze`] (paths, stdin), [`analyze_reader`] or [`analyze_bytes`],
//! and the [`report::Report`] in the [`Outcome`], which [`report::render`] turns into a table,
//! JSON or Markdown.
//!
//! ```
//! use faultline::{analyze_bytes, Config};
//!
//! let log = b"\
//! 2025-01-10 10:31:22,123 - uvicorn.error - ERROR - Exception in ASGI application
//! Traceback (most recent call last):
//!   File \"/app/api/observability.py\", line 58, in get_status
//!     if settings.AGENTOPS_API_KEY:
//! AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'
//! ";
//! let config = Config::new().unwrap();
//! let out = analyze_bytes(log, &config).unwrap();
//! let sig = &out.report.signatures[0];
//! assert_eq!(sig.id, "missing-settings-attribute");
//! assert_eq!(sig.variants[0].value, "AGENTOPS_API_KEY");
//! assert_eq!(sig.locations[0].line, 58);
//! ```
//!
//! A program that analyses files should call [`setup_process`] once first: it lets files be
//! memory-mapped (safely, see its documentation) and sizes polars' thread pool. Without it
//! files are read as streams, with the same results.
//!
//! Inside, one module per stage, data flowing one way: `input` (find, map, stream,
//! decompress), `framing` (prefixes, times, multi-line records), `classify` (prefilter, the
//! signatures' regexes, exceptions and code locations), `extract` (request lines and their
//! endpoints), `aggregate` (mergeable counts, then polars frames: timeline, endpoint latency,
//! incidents) and [`report`] (the serializable report, built once, and its renderers);
//! `pipeline` drives them over chunks in parallel.

#![deny(missing_docs)]

#[doc(hidden)]
pub mod aggregate;
pub mod check;
#[doc(hidden)]
pub mod classify;
pub mod compare;
mod config;
pub mod error;
#[doc(hidden)]
pub mod extract;
pub mod follow;
#[doc(hidden)]
pub mod framing;
#[doc(hidden)]
pub mod input;
#[doc(hidden)]
pub mod pipeline;
pub mod redact;
pub mod report;
pub mod state;
pub mod templates;
pub mod threshold;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use aggregate::{FrameFormat, IncidentOptions, TrendOptions, Trends};
pub use classify::{Catalog, Severity, Signature};
pub use config::{Config, Progress, ScanOptions};
pub use error::{AggregateError, CatalogError, InputError};
pub use extract::Unit;
pub use framing::{Layout, Limits, TimeWindow};
pub use input::{InputSpec, NamedReader};

use report::{InputErrorReport, Report};

/// The result of an analysis: the report, and the inputs that failed (also listed in
/// `report.errors`).
pub struct Outcome {
    /// The report.
    pub report: Report,
    /// Inputs that could not be read, or only partly.
    pub errors: Vec<InputError>,
    /// The `events` and `requests` frames, for CSV or Parquet output.
    pub trends: Trends,
}

/// Analyses the inputs (files, directories read recursively, stdin, bytes, readers) with
/// the given configuration.
///
/// Inputs that cannot be read are reported in [`Outcome::errors`]; the others are still
/// analysed. Runs on a thread pool of `config.threads` threads.
pub fn analyze(specs: &[InputSpec], config: &Config) -> Result<Outcome, AggregateError> {
    let run = || {
        let mut errors = Vec::new();
        let found = input::discover(specs, &config.scan.walk, &mut errors);
        let sources = found.sources;
        if let Some(p) = &config.scan.progress {
            p.total
                .store(input::total_size(&sources), Ordering::Relaxed);
        }
        let (summary, mut scan_errors) = pipeline::scan_all(&sources, config);
        errors.append(&mut scan_errors);
        if TRIM.load(Ordering::Relaxed) {
            release_free_memory();
        }
        let (mut report, trends) = report::build(summary, config)?;
        report.notes.extend(skipped_note(found.skipped));
        Ok(Outcome::new(report, errors, trends))
    };
    on_pool(config.threads, run)
}

/// Says what directory walks skipped, when they skipped anything.
pub(crate) fn skipped_note(s: input::Skipped) -> Option<String> {
    let parts = s.phrases();
    (!parts.is_empty()).then(|| format!("skipped in directories: {}", parts.join(", ")))
}

impl Outcome {
    /// The outcome of a run, its input errors also listed in the report.
    pub(crate) fn new(mut report: Report, errors: Vec<InputError>, trends: Trends) -> Outcome {
        report.errors = errors
            .iter()
            .map(|e| InputErrorReport {
                path: e.path().to_string(),
                message: e.to_string(),
            })
            .collect();
        Outcome {
            report,
            errors,
            trends,
        }
    }
}

/// Runs `f` on a thread pool of `threads` threads (on the current one when none can be
/// built).
pub(crate) fn on_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

/// Analyses what `reader` yields, to its end (decompressed when it is gzip, zstd or bzip2),
/// as one input named `name`.
pub fn analyze_reader(
    name: &str,
    reader: impl Read + Send + 'static,
    config: &Config,
) -> Result<Outcome, AggregateError> {
    analyze(&[InputSpec::reader(name, reader)], config)
}

/// Analyses a log held in memory (decompressed when it is gzip, zstd or bzip2), as one
/// input named `bytes`. The bytes are copied once (the stream reader runs on a thread of its
/// own); a caller that holds them in an `Arc<[u8]>` can pass `InputSpec::Bytes` to [`analyze`]
/// instead.
pub fn analyze_bytes(bytes: &[u8], config: &Config) -> Result<Outcome, AggregateError> {
    let spec = InputSpec::Bytes {
        name: "bytes".to_string(),
        data: Arc::from(bytes),
    };
    analyze(&[spec], config)
}

/// Whether a run hands the memory the allocator holds free back to the system after the
/// scan (set by [`setup_process`]).
static TRIM: AtomicBool = AtomicBool::new(false);

/// Sets up what is process-wide, for a program whose main job is analysing logs (the
/// `faultline` binary calls it first):
///
/// - installs a SIGBUS handler, so that regular files are memory-mapped: a file truncated
///   while mapped (logrotate's `copytruncate`) then reads as zeros past its new end and is
///   reported as an input error, instead of ending the process. A SIGBUS at any other
///   address gets the disposition that was there before. Without this call files are read
///   as streams;
/// - bounds polars' own thread pool to `threads`, unless `POLARS_MAX_THREADS` is set (it
///   must come before polars' first use);
/// - after each scan, hands the memory the allocator holds free back to the system before
///   the aggregation's peak (glibc keeps a stream's read-ahead blocks: 23 MB for a 1 GiB
///   log read from stdin).
pub fn setup_process(threads: usize) {
    input::install_guard();
    if std::env::var_os("POLARS_MAX_THREADS").is_none() {
        std::env::set_var("POLARS_MAX_THREADS", threads.to_string());
    }
    TRIM.store(true, Ordering::Relaxed);
}

fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free pages to the system; it takes no pointer.
    unsafe {
        libc::malloc_trim(0);
    }
}
