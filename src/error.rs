//! Error types of the library.
//!
//! Messages are lowercase, say what failed and then why, and name the file (and signature, for
//! a pattern file) so the user can go straight to it.

use std::path::PathBuf;

/// A problem with the signature catalog, found when it is loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The pattern file could not be read.
    #[error("{}: cannot read pattern file: {source}", path.display())]
    Read {
        /// The pattern file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The pattern file is not valid TOML or does not have the catalog's shape.
    #[error("{}: invalid pattern file: {reason}", path.display())]
    Syntax {
        /// The pattern file.
        path: PathBuf,
        /// The TOML parser's message, with the line.
        reason: String,
    },
    /// One signature in the file is wrong.
    #[error("{}: signature '{id}': {reason}", path.display())]
    Signature {
        /// The pattern file.
        path: PathBuf,
        /// The signature's id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two signatures share an id.
    #[error("{}: signature '{id}': duplicate id, already defined in {} (to replace it, say override = true)", path.display(), first.display())]
    Duplicate {
        /// The file with the second definition.
        path: PathBuf,
        /// The id.
        id: String,
        /// The file with the first definition.
        first: PathBuf,
    },
    /// `--disable` (or `signatures ID`) names an id the catalog does not have.
    #[error("no signature '{id}'{}; faultline signatures lists them", hint.as_ref().map(|h| format!(" (did you mean '{h}'?)")).unwrap_or_default())]
    Unknown {
        /// The id asked for.
        id: String,
        /// The nearest id the catalog has.
        hint: Option<String>,
    },
    /// A `--patterns` path could not be read or listed.
    #[error("{}: cannot read pattern file or directory: {source}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A problem with one input; the run goes on with the others.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Opening, mapping, reading or listing failed.
    #[error("{path}: {source}")]
    Io {
        /// The input as the user named it (`-` for stdin).
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A compressed stream is corrupt or truncated; what came before `offset` was analysed.
    #[error("{path}: corrupt {format} stream at compressed byte offset {offset}: {reason}")]
    Corrupt {
        /// The input.
        path: String,
        /// `gzip`, `zstd`, `bzip2` or `xz`.
        format: &'static str,
        /// Byte offset in the compressed file where reading failed.
        offset: u64,
        /// The decoder's message.
        reason: String,
    },
    /// Not a log: a binary file (NUL bytes in its first block, no compression magic).
    #[error("{path}: binary file, skipped")]
    Binary {
        /// The input.
        path: String,
    },
    /// The file shrank while it was mapped (truncated by another process); the bytes past its
    /// new end were read as zeros.
    #[error("{path}: truncated while it was read (by log rotation?); the bytes past its new end were read as zeros, the report for it is incomplete")]
    Truncated {
        /// The input.
        path: String,
    },
    /// A directory holds no file to read: empty, or every file in it was skipped.
    #[error("{path}: no log files in this directory{}", no_logs_detail(skipped))]
    NoLogs {
        /// The directory.
        path: String,
        /// What its walk skipped.
        skipped: crate::input::Skipped,
    },
    /// A compressed input decompressed to more than the limit (a decompression bomb?); what
    /// came before the limit was analysed.
    #[error("{path}: decompressed size limit of {limit} bytes reached (see --max-decompressed); the rest was not read")]
    TooLarge {
        /// The input.
        path: String,
        /// The limit, in decompressed bytes.
        limit: u64,
    },
}

impl InputError {
    /// The input the error is about.
    pub fn path(&self) -> &str {
        match self {
            InputError::Io { path, .. }
            | InputError::Corrupt { path, .. }
            | InputError::Binary { path }
            | InputError::Truncated { path }
            | InputError::TooLarge { path, .. }
            | InputError::NoLogs { path, .. } => path,
        }
    }
}

/// What a walk of an empty-looking directory skipped, for [`InputError::NoLogs`].
fn no_logs_detail(s: &crate::input::Skipped) -> String {
    let parts = s.phrases();
    match parts.is_empty() {
        true => String::new(),
        false => format!(" (skipped: {})", parts.join(", ")),
    }
}

/// A boxed error of a library faultline uses (polars).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Aggregating the trends or writing the frames failed.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// A query on the frames failed (a bug, not an input problem).
    #[error("aggregation failed while {op}: {source}")]
    Query {
        /// What was being computed (`building the frames`, `the timeline`, ...).
        op: &'static str,
        /// polars' error.
        source: BoxError,
    },
    /// The output directory could not be created.
    #[error("{}: cannot create the output directory: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A frame file could not be written.
    #[error("{}: cannot write the {frame} frame as {format}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// `events`, `requests`, `timeline` or `endpoints`.
        frame: &'static str,
        /// `CSV` or `Parquet`.
        format: &'static str,
        /// Why.
        source: BoxError,
    },
}

impl AggregateError {
    /// A failed query, for `map_err`.
    pub(crate) fn query<E: Into<BoxError>>(op: &'static str) -> impl FnOnce(E) -> AggregateError {
        move |e| AggregateError::Query {
            op,
            source: e.into(),
        }
    }
}
