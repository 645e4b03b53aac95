//! Incremental runs (`analyze --state FILE`): each run reads only the bytes added since the
//! last one and merges them into what the state file kept.
//!
//! The state file remembers, per file, its identity (device, inode, and a hash of its first
//! bytes, up to 64 KiB, decompressed), the offset read up to (always a line end), and the
//! year its syslog times were read with; per source (a log and its rotated files), the
//! records still open at its end; and the mergeable aggregates of everything read, request
//! latency in sketches. A file is recognised by the hash of its first bytes, the same inode
//! preferred: renamed by rotation (`app.log` -> `app.log.1`), compressed after it
//! (`app.log.1.gz`, matched by its decompressed head), or copied away before a truncation
//! (`copytruncate`). A file whose head no longer matches, or that is shorter than the offset,
//! is a new file, read from its start.
//!
//! The report of a run is the saved aggregates plus what is still open at the end of each
//! source (records waiting for a next line, a live file's last line without its newline),
//! counted on a copy: the saved state keeps them open for the next run, so a record that
//! grows across runs is counted once, whole. Totals after any number of runs equal one run
//! over all the bytes (quantiles within the sketches' relative error).

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Budget, SavedSummary, Summary};
use crate::config::Config;
use crate::error::{AggregateError, InputError};
use crate::framing::YearHint;
use crate::input::{self, InputSpec, Part, ReadAhead};
use crate::pipeline::{Carried, SourceScan, HEAD};
use crate::report;
use crate::Outcome;

/// The schema of the state file; it changes whenever what is saved changes shape.
pub const SCHEMA: &str = "faultline.state/v1";

/// Why a state file cannot be used (or written).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but cannot be read.
    #[error("state file {path}: {source}")]
    Read {
        /// The state file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a state file, or a damaged one.
    #[error("state file {path} is corrupt ({detail}); remove it to start over")]
    Corrupt {
        /// The state file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// The file was written by a faultline whose state has another shape.
    #[error(
        "state file {path} was written by faultline {version} (schema {schema}); this \
         faultline {ours} reads {SCHEMA}: remove it to start over"
    )]
    Version {
        /// The state file.
        path: String,
        /// Its schema.
        schema: String,
        /// The faultline that wrote it.
        version: String,
        /// This faultline.
        ours: &'static str,
    },
    /// The file was written with other settings (its aggregates mean something else).
    #[error("state file {path} was written with {detail}; remove it to start over")]
    Settings {
        /// The state file.
        path: String,
        /// Which setting differs, and how.
        detail: String,
    },
    /// An input that incremental runs cannot follow.
    #[error("--state reads files and directories, not {0}")]
    Input(String),
    /// The new state cannot be written.
    #[error("cannot write state file {path}: {source}")]
    Write {
        /// The state file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The aggregation failed.
    #[error(transparent)]
    Aggregate(#[from] AggregateError),
}

/// The settings the saved aggregates depend on: a later run must use the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Settings {
    bucket_ns: i64,
    requests: bool,
    input_format: Option<String>,
    year: Option<i32>,
    since: Option<i64>,
    until: Option<i64>,
    zone: Option<String>,
}

impl Settings {
    fn of(cfg: &Config) -> Settings {
        Settings {
            bucket_ns: cfg.trends.bucket_ns,
            requests: cfg.requests.is_some(),
            input_format: cfg.scan.layout.map(|l| l.name().to_string()),
            year: cfg.scan.year,
            since: cfg.scan.window.since,
            until: cfg.scan.window.until,
            zone: cfg.scan.limits.zone.as_ref().map(|z| {
                z.iana_name()
                    .map_or_else(|| format!("{z:?}"), str::to_string)
            }),
        }
    }

    /// What differs from `now`, in words.
    fn differences(&self, now: &Settings) -> Vec<String> {
        let mut d = Vec::new();
        let mut check = |name: &str, was: String, is: String| {
            if was != is {
                d.push(format!("{name} {was} (now {is})"));
            }
        };
        check(
            "--bucket",
            format!("{}s", self.bucket_ns as f64 / 1e9),
            format!("{}s", now.bucket_ns as f64 / 1e9),
        );
        let onoff = |b: bool| if b { "on" } else { "off" }.to_string();
        check("requests", onoff(self.requests), onoff(now.requests));
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "auto".into());
        check(
            "--input-format",
            opt(&self.input_format),
            opt(&now.input_format),
        );
        let num = |o: Option<i64>| o.map_or("none".into(), |n| n.to_string());
        check(
            "--year",
            num(self.year.map(i64::from)),
            num(now.year.map(i64::from)),
        );
        check("--since", num(self.since), num(now.since));
        check("--until", num(self.until), num(now.until));
        let zone = |z: &Option<String>| z.clone().unwrap_or_else(|| "UTC".into());
        check("--tz", zone(&self.zone), zone(&now.zone));
        d
    }
}

/// One file read before.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileEntry {
    /// Where it was last seen.
    path: PathBuf,
    dev: u64,
    ino: u64,
    /// Bytes of its (decompressed) head that were hashed, and their hash (FNV-1a): its
    /// identity, grown with the file up to 64 KiB.
    head_len: usize,
    head_hash: u64,
    /// Bytes of its head its layout and prefix were learned from, when it was first read:
    /// they are learned again from the same bytes.
    detect_len: usize,
    /// (Decompressed) bytes read, up to a line end.
    offset: u64,
    /// Its size on disk and modification time when it was read to its end (no line left
    /// unfinished): unchanged since, it has nothing new (a rotated archive is not
    /// decompressed again to find that out).
    done_at: Option<(u64, i64)>,
    /// The year of its syslog times.
    year: YearHint,
}

/// One source (a log and its rotated files): its files and what its scan carries on with.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedSource {
    name: String,
    files: Vec<FileEntry>,
    carried: Carried,
}

/// The state file.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    schema: String,
    faultline: String,
    settings: Settings,
    sources: Vec<SavedSource>,
    summary: SavedSummary,
}

/// FNV-1a, 64 bits: a stable hash (the same in every version of faultline and Rust).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Reads the state file at `path`; `None` when there is none yet.
fn load(path: &Path, cfg: &Config) -> Result<Option<(Vec<SavedSource>, Summary)>, StateError> {
    let name = path.display().to_string();
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Read { path: name, source }),
    };
    let corrupt = |detail: String| StateError::Corrupt {
        path: name.clone(),
        detail,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    let schema = value
        .get("schema")
        .and_then(|s| s.as_str())
        .ok_or_else(|| corrupt("no `schema` field: not a faultline state file".into()))?;
    if schema != SCHEMA {
        let version = value.get("faultline").and_then(|v| v.as_str());
        return Err(StateError::Version {
            path: name,
            schema: schema.to_string(),
            version: version.unwrap_or("unknown").to_string(),
            ours: env!("CARGO_PKG_VERSION"),
        });
    }
    let state: StateFile = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
    let diff = state.settings.differences(&Settings::of(cfg));
    if !diff.is_empty() {
        return Err(StateError::Settings {
            path: name,
            detail: diff.join(", "),
        });
    }
    let summary = state.summary.restore(cfg.catalog()).map_err(corrupt)?;
    Ok(Some((state.sources, summary)))
}

/// The directory a state file is written in.
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Writes the state next to `path` and renames it over `path`: a run stopped half-way
/// leaves the old state whole.
fn save(path: &Path, state: &StateFile) -> Result<(), StateError> {
    let err = |source| StateError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".faultline-state")
        .tempfile_in(directory_of(path))
        .map_err(err)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        serde_json::to_writer(&mut w, state).map_err(|e| err(e.into()))?;
        w.flush().map_err(err)?;
    }
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// A file of this run and what the state knew of it.
struct Identified {
    path: PathBuf,
    entry: FileEntry,
    /// Its head as read now (up to [`HEAD`] bytes).
    head: Vec<u8>,
    /// The state knew it.
    known: bool,
    /// Known, and unchanged since it was read to its end (its head is not read).
    unchanged: bool,
}

/// The old file entries, claimed as this run's files are recognised.
struct Known {
    /// `(source index, entry)`, unclaimed ones.
    entries: Vec<(usize, FileEntry)>,
}

impl Known {
    /// The entry `head` and `(dev, ino)` match: the head hash must match, the same inode
    /// is preferred among matches.
    fn claim(&mut self, head: &[u8], dev: u64, ino: u64) -> Option<(usize, FileEntry)> {
        let matches =
            |e: &FileEntry| e.head_len <= head.len() && fnv1a(&head[..e.head_len]) == e.head_hash;
        let i = self
            .entries
            .iter()
            .position(|(_, e)| matches(e) && e.dev == dev && e.ino == ino)
            .or_else(|| self.entries.iter().position(|(_, e)| matches(e)))?;
        Some(self.entries.swap_remove(i))
    }

    /// The entries last seen at `path`.
    fn take_path(&mut self, path: &Path) -> Vec<FileEntry> {
        let (taken, rest) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|(_, e)| e.path == path);
        self.entries = rest;
        taken.into_iter().map(|(_, e)| e).collect()
    }
}

/// Identifies one file: known to the state (and from which saved source), or new.
fn identify(
    path: &Path,
    known: &mut Known,
    cfg: &Config,
) -> Result<(Identified, Option<usize>), InputError> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|source| InputError::Io {
        path: name.clone(),
        source,
    })?;
    let (dev, ino) = (meta.dev(), meta.ino());
    let stamp = (meta.len(), meta.mtime() * 1_000_000_000 + meta.mtime_nsec());
    // Unchanged since it was read to its end: the same file, nothing to read.
    if let Some(i) = known
        .entries
        .iter()
        .position(|(_, e)| e.dev == dev && e.ino == ino && e.done_at == Some(stamp))
    {
        let (src, mut entry) = known.entries.swap_remove(i);
        entry.path = path.to_path_buf();
        let id = Identified {
            path: path.to_path_buf(),
            entry,
            head: Vec::new(),
            known: true,
            unchanged: true,
        };
        return Ok((id, Some(src)));
    }
    let head = input::read_head(path, HEAD)?;
    if let Some((src, mut entry)) = known.claim(&head, dev, ino) {
        entry.path = path.to_path_buf();
        entry.dev = dev;
        entry.ino = ino;
        // A longer head tells this file from others that start the same way.
        entry.head_len = head.len();
        entry.head_hash = fnv1a(&head);
        let id = Identified {
            path: path.to_path_buf(),
            entry,
            head,
            known: true,
            unchanged: false,
        };
        return Ok((id, Some(src)));
    }
    let part = Part::File(path.to_path_buf());
    let entry = FileEntry {
        path: path.to_path_buf(),
        dev,
        ino,
        head_len: head.len(),
        head_hash: fnv1a(&head),
        detect_len: head.len(),
        offset: 0,
        done_at: None,
        year: YearHint::for_part(cfg.scan.year, || part.modified_ns()),
    };
    let id = Identified {
        path: path.to_path_buf(),
        entry,
        head,
        known: false,
        unchanged: false,
    };
    Ok((id, None))
}

/// Reads `f` from its offset into `scan`. The source's last (live) file is read up to its
/// last newline: the line being written is returned, to count on a copy only. Moves the
/// offset on; returns the held-back line and the error that stopped the read.
fn read_file(
    scan: &mut SourceScan<'_>,
    f: &mut Identified,
    live: bool,
    cfg: &Config,
) -> (Vec<u8>, Option<InputError>) {
    if f.unchanged {
        return (Vec::new(), None);
    }
    let name = f.path.display().to_string();
    // Its size and time before reading: bytes written during the read make it differ.
    let stamp = std::fs::metadata(&f.path)
        .ok()
        .map(|m| (m.len(), m.mtime() * 1_000_000_000 + m.mtime_nsec()));
    let stream = match input::open_at(&f.path, f.entry.offset) {
        Err(e) => return (Vec::new(), Some(e)),
        Ok(Some(s)) => s,
        // Shorter than what was read: truncated and written again. A new file.
        Ok(None) => {
            f.entry.offset = 0;
            f.entry.detect_len = f.head.len();
            f.known = false;
            match input::open_at(&f.path, 0) {
                Ok(Some(s)) => s,
                Ok(None) => return (Vec::new(), None),
                Err(e) => return (Vec::new(), Some(e)),
            }
        }
    };
    let head = &f.head[..f.entry.detect_len.min(f.head.len())];
    let o = &cfg.scan;
    let blocks = ReadAhead::start(
        stream,
        name,
        o.max_decompressed,
        o.block_size,
        o.limits.max_line_len,
    );
    let (mut started, mut fed, mut read, mut error) = (false, 0u64, 0u64, None);
    let mut tail = Vec::new();
    for block in blocks.iter() {
        read = block.read;
        error = error.or(block.error);
        if !block.more {
            break;
        }
        if !started {
            scan.begin_part(head, f.entry.year, !f.known);
            started = true;
        }
        let mut data = &block.data[..];
        // Only a stream's last block can end without a newline.
        if live && data.last() != Some(&b'\n') {
            let end = memchr::memrchr(b'\n', data).map_or(0, |i| i + 1);
            tail = data[end..].to_vec();
            data = &data[..end];
        }
        fed += data.len() as u64;
        scan.read_lines(data, data.len() as u64);
        if let Some(p) = &cfg.scan.progress {
            p.add(block.data.len());
        }
        blocks.recycle(block.data);
        if error.is_some() {
            break;
        }
    }
    // At the end of a stream, `read` is every byte read (a line cut at the length limit
    // counts whole); after an error, only what was fed is done.
    f.entry.offset += match error {
        None => read - tail.len() as u64,
        Some(_) => fed,
    };
    f.entry.done_at = stamp.filter(|_| error.is_none() && tail.is_empty());
    (tail, error)
}

/// Analyses `paths` incrementally with the state file `state`: reads only what was added
/// since the run that wrote it, merges, writes the new state, and reports everything.
pub fn analyze_incremental(
    paths: &[PathBuf],
    state: &Path,
    cfg: &Config,
) -> Result<Outcome, StateError> {
    crate::on_pool(cfg.threads, || incremental(paths, state, cfg))
}

fn incremental(paths: &[PathBuf], state_path: &Path, cfg: &Config) -> Result<Outcome, StateError> {
    // A state that could not be written would be known only after reading everything.
    let dir = directory_of(state_path);
    if !dir.is_dir() {
        return Err(StateError::Write {
            path: state_path.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no directory {}", dir.display()),
            ),
        });
    }
    let (old_sources, mut saved) = load(state_path, cfg)?.unwrap_or_default();
    let mut errors = Vec::new();
    let specs: Vec<InputSpec> = paths
        .iter()
        .map(|p| match p.as_os_str() == "-" {
            true => Err(StateError::Input("stdin".into())),
            false => Ok(InputSpec::Path(p.clone())),
        })
        .collect::<Result<_, _>>()?;
    let found = input::discover(&specs, &cfg.scan.walk, &mut errors);
    let sources = found.sources;
    let mut known = Known {
        entries: old_sources
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.files.iter().map(move |f| (i, f.clone())))
            .collect(),
    };
    // Latency always goes to sketches: the state must stay small whatever was read.
    let budget = Arc::new(Budget::new(Some(0), cfg.trends.bucket_ns));
    let mut used: HashSet<usize> = HashSet::new();
    let mut new_sources = Vec::new();
    let mut open = Summary::new();
    for src in &sources {
        let (mut files, mut kept) = (Vec::new(), Vec::new());
        let mut from = None;
        for part in src.parts() {
            let Part::File(path) = part else {
                return Err(StateError::Input(part.name()));
            };
            match identify(&path, &mut known, cfg) {
                Ok((f, old)) if f.unchanged || !f.head.is_empty() => {
                    from = from.or(old);
                    files.push(f);
                }
                // An empty file: nothing to remember until it has bytes.
                Ok(_) => {}
                Err(e) => {
                    // Unreadable now: what was read of it is kept for a later run.
                    kept.extend(known.take_path(&path));
                    errors.push(e);
                }
            }
        }
        let name = src.name();
        // The scan goes on from the saved source of this name, else from the one its
        // files came from (a renamed directory).
        let old = old_sources
            .iter()
            .position(|s| s.name == name)
            .filter(|i| !used.contains(i))
            .or(from.filter(|i| !used.contains(i)));
        let carried = match old {
            Some(i) => {
                used.insert(i);
                old_sources[i].carried.clone()
            }
            None => Carried::default(),
        };
        let mut scan = SourceScan::resume(cfg, Arc::clone(&budget), carried);
        let last = files.len().saturating_sub(1);
        let mut tail = Vec::new();
        let mut new_files = 0;
        for (i, f) in files.iter_mut().enumerate() {
            let (t, e) = read_file(&mut scan, f, i == last, cfg);
            tail = t;
            errors.extend(e);
            new_files += u64::from(!f.known);
        }
        // What ends here is counted on a copy, for this run's report only.
        let mut rest = scan.fork();
        if !tail.is_empty() {
            rest.read_lines(&tail, tail.len() as u64);
        }
        let mut rest = rest.finish();
        rest.set_source(&name);
        open.merge(rest);
        let (mut total, carried) = scan.into_parts();
        total.files = new_files;
        total.set_source(&name);
        saved.merge(total);
        new_sources.push(SavedSource {
            name,
            files: files.into_iter().map(|f| f.entry).chain(kept).collect(),
            carried,
        });
    }
    // A source whose files are all gone: its open records are complete.
    for (i, s) in old_sources.iter().enumerate() {
        if used.contains(&i) {
            continue;
        }
        let mut ended = SourceScan::resume(cfg, Arc::clone(&budget), s.carried.clone()).finish();
        ended.set_source(&s.name);
        saved.merge(ended);
    }
    let gone = known.entries.len();
    // Files read before and no longer among the inputs (deleted by rotation, moved).
    let file = StateFile {
        schema: SCHEMA.to_string(),
        faultline: env!("CARGO_PKG_VERSION").to_string(),
        settings: Settings::of(cfg),
        sources: new_sources,
        summary: SavedSummary::of(saved.clone(), cfg.catalog(), cfg.trends.bucket_ns),
    };
    save(state_path, &file)?;
    let mut all = saved;
    all.merge(open);
    let (mut report, trends) = report::build(all, cfg)?;
    if gone > 0 {
        report.notes.push(format!(
            "{gone} file(s) read by an earlier run are no longer among the inputs \
             (deleted or moved away)"
        ));
    }
    report.notes.extend(crate::skipped_note(found.skipped));
    Ok(Outcome::new(report, errors, trends))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_is_the_published_function() {
        // The reference values of FNV-1a, 64 bits: the hash must not change between
        // versions, or every saved file would look new.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    fn entry(head: &[u8], ino: u64) -> FileEntry {
        FileEntry {
            path: PathBuf::from(format!("f{ino}")),
            dev: 1,
            ino,
            head_len: head.len(),
            head_hash: fnv1a(head),
            detect_len: head.len(),
            offset: 10,
            done_at: None,
            year: YearHint::default(),
        }
    }

    /// A file is its head: the same inode first among files that start alike, any inode
    /// (a compressed copy) otherwise; a changed head is another file.
    #[test]
    fn files_are_claimed_by_head_then_inode() {
        let mut known = Known {
            entries: vec![(0, entry(b"2025 a", 7)), (1, entry(b"2025 a", 8))],
        };
        let (src, e) = known.claim(b"2025 a and more", 1, 8).unwrap();
        assert_eq!((src, e.ino), (1, 8));
        assert!(known.claim(b"2025 b", 1, 7).is_none(), "another head");
        assert!(
            known.claim(b"2025", 1, 7).is_none(),
            "shorter than the head"
        );
        let (src, e) = known.claim(b"2025 a", 1, 99).unwrap();
        assert_eq!((src, e.ino), (0, 7));
        assert!(
            known.claim(b"2025 a", 1, 7).is_none(),
            "each entry claimed once"
        );
    }
}
