//! faultline: a log-mining incident analyzer.
//!
//! faultline reads application logs (plain text, `kubectl logs` output, JSON lines, gzip),
//! frames them into records (a Python traceback is one record), classifies each record against
//! a catalog of known failure signatures, and reports how often each failure happened, when,
//! with which variant, at which line of the application, and how to fix it.
//!
//! The pipeline, one module per stage, data flowing one way:
//!
//! 1. [`input`]: find the inputs, map files, stream stdin and gzip in bounded blocks;
//! 2. [`framing`]: strip platform prefixes, parse times, join multi-line records;
//! 3. [`classify`]: prefilter with aho-corasick, confirm with the signature's regex, read the
//!    variant, the exception and the innermost application frame;
//! 4. [`aggregate`]: count, merge per-chunk partials deterministically, then build the
//!    `events` and `requests` polars frames: timeline, endpoint latency, incidents;
//! 5. [`report`]: a plain serializable [`report::Report`], rendered as a table or JSON.
//!
//! [`check`] runs a corpus of case files through [`analyze`] and tallies each signature's
//! hits, misses and false positives (`faultline signatures --check`).
//!
//! [`analyze`] runs them all:
//!
//! ```
//! use faultline::{analyze, Config};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let log = dir.path().join("app.log");
//! std::fs::write(&log, "\
//! 2025-01-10 10:31:22,123 - uvicorn.error - ERROR - Exception in ASGI application
//! Traceback (most recent call last):
//!   File \"/app/api/observability.py\", line 58, in get_status
//!     if settings.AGENTOPS_API_KEY:
//! AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'
//! ").unwrap();
//! let config = Config::new().unwrap();
//! let out = analyze(&[faultline::InputSpec::Path(log)], &config).unwrap();
//! let sig = &out.report.signatures[0];
//! assert_eq!(sig.id, "missing-settings-attribute");
//! assert_eq!(sig.variants[0].value, "AGENTOPS_API_KEY");
//! assert_eq!(sig.locations[0].line, 58);
//! ```
#![deny(missing_docs)]

pub mod aggregate;
pub mod check;
pub mod classify;
pub mod config;
pub mod error;
pub mod framing;
pub mod input;
pub mod pipeline;
pub mod report;

pub use config::Config;
pub use input::InputSpec;

use report::{InputErrorReport, Report};

/// The result of [`analyze`]: the report, and the inputs that failed (also listed in
/// `report.errors`).
pub struct Outcome {
    /// The report.
    pub report: Report,
    /// Inputs that could not be read, or only partly.
    pub errors: Vec<error::InputError>,
    /// The `events` and `requests` frames, for CSV or Parquet output.
    pub trends: aggregate::Trends,
}

/// Analyses the inputs with the given configuration.
///
/// Inputs that cannot be read are reported in [`Outcome::errors`]; the others are still
/// analysed. Runs on a thread pool of `config.threads` threads.
pub fn analyze(specs: &[InputSpec], config: &Config) -> Result<Outcome, error::AggregateError> {
    let run = || {
        let mut errors = Vec::new();
        let sources = input::discover(specs, &mut errors);
        let (summary, mut scan_errors) =
            pipeline::scan_all(&sources, &config.classifier, &config.scan);
        errors.append(&mut scan_errors);
        release_free_memory();
        let (mut report, trends) =
            summary.into_report(config.classifier.catalog(), &config.trends)?;
        report.errors = errors
            .iter()
            .map(|e| InputErrorReport {
                path: e.path().to_string(),
                message: e.to_string(),
            })
            .collect();
        Ok(Outcome {
            report,
            errors,
            trends,
        })
    };
    match rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
    {
        Ok(pool) => pool.install(run),
        Err(_) => run(),
    }
}

/// Hands the memory the allocator holds free back to the system: after the scan that is the
/// stream's read-ahead blocks and the chunks' scratch, which glibc keeps in its heap (a
/// 1 GiB log read from stdin: 23 MB), while the aggregation's peak is still to come.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free pages to the system; it takes no pointer.
    unsafe {
        libc::malloc_trim(0);
    }
}
