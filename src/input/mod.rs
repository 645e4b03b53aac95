//! Input: finding the inputs, and reading each one the cheapest way that is correct.
//!
//! A regular file is memory-mapped (guarded against truncation while mapped, see `guard.rs`)
//! and later split into chunks at line boundaries. Everything
//! else (stdin, pipes, FIFOs, gzip) is read as a stream in bounded blocks that end on a line
//! boundary, so memory does not grow with the input. Compression is detected by magic bytes,
//! not by the file name (gzip, zstd, bzip2, xz). A binary file is reported and skipped. Rotated
//! files of one log are gathered into one source, read oldest first as one stream. A
//! directory walk skips what is not a log, as ripgrep does: hidden files and directories,
//! faultline's own reports, and what `--glob`/`--exclude` leave out.

mod guard;
mod readahead;
mod stream;

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::error::InputError;

pub(crate) use readahead::ReadAhead;
pub use stream::{BlockReader, CountingBufReader};

/// Installs the SIGBUS guard of mapped files (see `guard.rs`); whether it is in place.
pub fn install_guard() -> bool {
    guard::install()
}

/// An input as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    /// A file or a directory (read recursively).
    Path(PathBuf),
    /// Standard input.
    Stdin,
    /// Bytes held in memory, under a name (read as a stream: a compressed buffer is
    /// decompressed).
    Bytes {
        /// The name used in messages and as the source.
        name: String,
        /// The bytes.
        data: std::sync::Arc<[u8]>,
    },
    /// A reader, read once to its end as a stream (see [`InputSpec::reader`]).
    Reader(NamedReader),
}

impl InputSpec {
    /// An input read from `reader` (a socket, a child's pipe, a decoder), named `name`.
    pub fn reader(name: impl Into<String>, reader: impl Read + Send + 'static) -> InputSpec {
        InputSpec::Reader(NamedReader::new(name, reader))
    }
}

/// A reader under a name, read once, by whichever copy of the input is opened first.
#[derive(Clone)]
pub struct NamedReader {
    /// The name used in messages and as the source.
    pub name: String,
    reader: std::sync::Arc<std::sync::Mutex<Option<Box<dyn Read + Send>>>>,
}

impl NamedReader {
    fn new(name: impl Into<String>, reader: impl Read + Send + 'static) -> NamedReader {
        let reader: Box<dyn Read + Send> = Box::new(reader);
        NamedReader {
            name: name.into(),
            reader: std::sync::Arc::new(std::sync::Mutex::new(Some(reader))),
        }
    }

    fn take(&self) -> Option<Box<dyn Read + Send>> {
        self.reader.lock().ok()?.take()
    }
}

impl std::fmt::Debug for NamedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamedReader({:?})", self.name)
    }
}

impl PartialEq for NamedReader {
    fn eq(&self, o: &NamedReader) -> bool {
        std::sync::Arc::ptr_eq(&self.reader, &o.reader)
    }
}

impl Eq for NamedReader {}

/// One concrete input to analyse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One file, stdin, bytes or a reader.
    One(Part),
    /// Rotated files of one log (`app.log.2.gz`, `app.log.1`, `app.log`), oldest first, read
    /// as one continuous stream: a traceback cut by the rotation is still one record.
    Rotated {
        /// The current file's path (`app.log`), the name of the whole.
        base: PathBuf,
        /// The files, oldest first.
        parts: Vec<PathBuf>,
    },
}

impl Source {
    /// The name used in messages: the path, or `-` for stdin.
    pub fn name(&self) -> String {
        match self {
            Source::One(p) => p.name(),
            Source::Rotated { base, .. } => base.display().to_string(),
        }
    }

    /// The parts read one after the other: the input itself, or the rotated files.
    pub fn parts(&self) -> Vec<Part> {
        match self {
            Source::Rotated { parts, .. } => parts.iter().cloned().map(Part::File).collect(),
            Source::One(p) => vec![p.clone()],
        }
    }
}

/// What is opened and read to its end: a file, stdin, or a reader (bytes in memory are read
/// through one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A file (regular file, FIFO, device).
    File(PathBuf),
    /// Standard input.
    Stdin,
    /// A reader.
    Reader(NamedReader),
}

impl Part {
    /// The name used in messages: the path, or `-` for stdin.
    pub fn name(&self) -> String {
        match self {
            Part::File(p) => p.display().to_string(),
            Part::Stdin => "-".to_string(),
            Part::Reader(r) => r.name.clone(),
        }
    }

    /// The file's modification time, nanoseconds since the epoch; now for stdin, bytes,
    /// readers and a file without one.
    pub fn modified_ns(&self) -> i64 {
        let mtime = match self {
            Part::File(p) => std::fs::metadata(p).and_then(|m| m.modified()).ok(),
            _ => None,
        };
        let t = mtime.unwrap_or_else(std::time::SystemTime::now);
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
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

/// Where a file sits in a rotation: the older, the smaller.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Rotation {
    /// `app.log-20250110`, `0.log.20240716-170220` (kubelet): older dates first.
    Dated(String),
    /// `app.log.3`: higher numbers are older, so the key is the negated number.
    Numbered(i64),
    /// `app.log`: the live file, newest.
    Current,
}

/// Splits a file name into the name of its log and its place in the rotation, e.g.
/// `app.log.2.gz` -> (`app.log`, `Numbered(-2)`). Names without a rotation suffix are
/// `Current`; a compressed name without one (`app.log.gz`) is not part of a rotation.
fn rotation(name: &str) -> Option<(&str, Rotation)> {
    let (stem, compressed) = [".gz", ".zst", ".bz2", ".xz"]
        .iter()
        .find_map(|e| name.strip_suffix(e).map(|s| (s, true)))
        .unwrap_or((name, false));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if let Some((base, n)) = stem.rsplit_once('.') {
        if all_digits(n) && n.len() <= 4 && !base.is_empty() {
            return Some((base, Rotation::Numbered(-n.parse::<i64>().ok()?)));
        }
        // kubelet: `0.log.20240716-170220`.
        if let Some((d, t)) = n.split_once('-') {
            if d.len() == 8 && all_digits(d) && all_digits(t) && !base.is_empty() {
                return Some((base, Rotation::Dated(n.to_string())));
            }
        }
    }
    // logrotate `dateext`: `app.log-20250110`, `app.log-2025011013`.
    if let Some((base, d)) = stem.rsplit_once('-') {
        if (8..=10).contains(&d.len()) && all_digits(d) && !base.is_empty() {
            return Some((base, Rotation::Dated(d.to_string())));
        }
    }
    (!compressed).then_some((name, Rotation::Current))
}

/// Gathers the rotated files of one log into one [`Source::Rotated`], placed where its
/// first file was. A name that is alone keeps being a plain file.
fn group_rotations(files: Vec<Source>) -> Vec<Source> {
    use std::collections::HashMap;
    let mut groups: HashMap<(PathBuf, String), Vec<(Rotation, PathBuf)>> = HashMap::new();
    let mut keys = Vec::with_capacity(files.len());
    for s in &files {
        let key = match s {
            Source::One(Part::File(p)) => p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(rotation)
                .map(|(base, r)| {
                    let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
                    let k = (dir, base.to_string());
                    groups.entry(k.clone()).or_default().push((r, p.clone()));
                    k
                }),
            _ => None,
        };
        keys.push(key);
    }
    let mut out = Vec::with_capacity(files.len());
    for (s, key) in files.into_iter().zip(keys) {
        let Some(key) = key else {
            out.push(s);
            continue;
        };
        let Some(group) = groups.get_mut(&key) else {
            continue; // already placed with its group
        };
        if group.len() < 2 {
            out.push(s);
            continue;
        }
        let mut group = groups.remove(&key).unwrap_or_default();
        group.sort();
        group.dedup_by(|a, b| a.1 == b.1);
        out.push(Source::Rotated {
            base: key.0.join(&key.1),
            parts: group.into_iter().map(|(_, p)| p).collect(),
        });
    }
    out
}

/// The total size of the regular files among `sources` (stdin and readers count nothing).
pub fn total_size(sources: &[Source]) -> u64 {
    sources
        .iter()
        .flat_map(Source::parts)
        .filter_map(|p| match p {
            Part::File(path) => std::fs::metadata(path).ok().filter(|m| m.is_file()),
            _ => None,
        })
        .map(|m| m.len())
        .sum()
}

/// Expands directories (recursively, following symlinks, in name order) into files, and
/// gathers rotated files of one log (`app.log`, `app.log.1`, `app.log.2.gz`, `app.log-20250110`)
/// into one [`Source::Rotated`], oldest first.
///
/// Problems (a missing path, an unreadable directory, a symlink loop) are pushed to `errors`
/// and the rest is still returned.
pub fn discover(
    specs: &[InputSpec],
    filter: &WalkFilter,
    errors: &mut Vec<InputError>,
) -> Discovered {
    let mut skipped = Skipped::default();
    let files = discover_files(specs, filter, &mut skipped, errors);
    Discovered {
        sources: group_rotations(files),
        skipped,
    }
}

/// The sources a run reads, and what directory walks left out.
#[derive(Debug, Default)]
pub struct Discovered {
    /// The sources, in the order given (a directory's files in name order).
    pub sources: Vec<Source>,
    /// Files the walks skipped.
    pub skipped: Skipped,
}

/// Files a directory walk skipped, by reason. A file named on the command line is always
/// read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// Hidden files, and the files in hidden directories (without `--hidden`).
    pub hidden: u64,
    /// faultline's own outputs: reports, frames, state files.
    pub own_outputs: u64,
    /// Files left out by `--glob`/`--exclude`.
    pub globs: u64,
}

impl Skipped {
    /// What was skipped, one phrase per reason (`2 hidden (--hidden reads them)`).
    pub fn phrases(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if self.hidden > 0 {
            parts.push(format!("{} hidden (--hidden reads them)", self.hidden));
        }
        if self.own_outputs > 0 {
            parts.push(format!(
                "{} faultline report or frame file(s)",
                self.own_outputs
            ));
        }
        if self.globs > 0 {
            parts.push(format!("{} left out by --glob/--exclude", self.globs));
        }
        parts
    }
}

/// Which files a directory walk reads: ripgrep's defaults (no hidden files) and globs.
#[derive(Debug, Clone, Default)]
pub struct WalkFilter {
    /// Read hidden files and directories too.
    pub hidden: bool,
    include: Option<globset::GlobSet>,
    exclude: Option<globset::GlobSet>,
}

impl WalkFilter {
    /// A filter from `--glob` patterns (`*.log`; a leading `!` excludes) and `--exclude`
    /// patterns. A pattern without a `/` matches a file's name at any depth, one with a `/`
    /// the path under the walked directory. With any including glob, only the files that
    /// match one are read; an excluding one always wins.
    pub fn new(hidden: bool, globs: &[String], excludes: &[String]) -> Result<WalkFilter, String> {
        let mut inc = globset::GlobSetBuilder::new();
        let mut exc = globset::GlobSetBuilder::new();
        let (mut n_inc, mut n_exc) = (0, 0);
        let add = |b: &mut globset::GlobSetBuilder, p: &str| -> Result<(), String> {
            let pat = if p.contains('/') {
                p.trim_start_matches('/').to_string()
            } else {
                format!("**/{p}")
            };
            let g = globset::GlobBuilder::new(&pat)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("'{p}': {e}"))?;
            b.add(g);
            Ok(())
        };
        for g in globs {
            match g.strip_prefix('!') {
                Some(e) => {
                    add(&mut exc, e)?;
                    n_exc += 1;
                }
                None => {
                    add(&mut inc, g)?;
                    n_inc += 1;
                }
            }
        }
        for e in excludes {
            add(&mut exc, e)?;
            n_exc += 1;
        }
        let build = |b: globset::GlobSetBuilder, n: usize| -> Result<_, String> {
            (n > 0)
                .then(|| b.build().map_err(|e| e.to_string()))
                .transpose()
        };
        Ok(WalkFilter {
            hidden,
            include: build(inc, n_inc)?,
            exclude: build(exc, n_exc)?,
        })
    }

    /// Whether the globs keep `rel`, a path under the walked directory.
    fn keeps(&self, rel: &Path) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(rel))
            && !self.exclude.as_ref().is_some_and(|g| g.is_match(rel))
    }
}

fn discover_files(
    specs: &[InputSpec],
    filter: &WalkFilter,
    skipped: &mut Skipped,
    errors: &mut Vec<InputError>,
) -> Vec<Source> {
    let mut out = Vec::new();
    for spec in specs {
        match spec {
            InputSpec::Stdin => out.push(Source::One(Part::Stdin)),
            InputSpec::Bytes { name, data } => out.push(Source::One(Part::Reader(
                NamedReader::new(name.clone(), io::Cursor::new(data.clone())),
            ))),
            InputSpec::Reader(r) => out.push(Source::One(Part::Reader(r.clone()))),
            InputSpec::Path(p) => match std::fs::metadata(p) {
                Ok(m) if m.is_dir() => {
                    let mut here = Skipped::default();
                    let before = out.len();
                    walk(p, filter, &mut out, &mut here, errors);
                    if out.len() == before {
                        errors.push(InputError::NoLogs {
                            path: p.display().to_string(),
                            skipped: here,
                        });
                    }
                    skipped.hidden += here.hidden;
                    skipped.own_outputs += here.own_outputs;
                    skipped.globs += here.globs;
                }
                Ok(_) => out.push(Source::One(Part::File(p.clone()))),
                Err(source) => errors.push(InputError::Io {
                    path: p.display().to_string(),
                    source,
                }),
            },
        }
    }
    out
}

/// The files under `dir` in name order, depth first (walkdir's sorted order): sorted once,
/// as whole paths, by [`path_order`]. Walkdir's own sort found each name again from its path
/// at every comparison: 4% of the time of 20,000 files, on the thread every worker waits for.
fn walk(
    dir: &Path,
    filter: &WalkFilter,
    out: &mut Vec<Source>,
    skipped: &mut Skipped,
    errors: &mut Vec<InputError>,
) {
    let mut files = Vec::new();
    let mut failed = Vec::new();
    let hidden = |e: &walkdir::DirEntry| {
        e.depth() > 0 && e.file_name().as_encoded_bytes().first() == Some(&b'.')
    };
    let mut it = walkdir::WalkDir::new(dir).follow_links(true).into_iter();
    while let Some(entry) = it.next() {
        match entry {
            Ok(e) if !filter.hidden && hidden(&e) => {
                if e.file_type().is_dir() {
                    it.skip_current_dir();
                }
                skipped.hidden += 1;
            }
            Ok(e) if e.file_type().is_dir() => {}
            Ok(e) => {
                let rel = e.path().strip_prefix(dir).unwrap_or(e.path());
                if !filter.keeps(rel) {
                    skipped.globs += 1;
                } else if is_own_output(e.path()) {
                    skipped.own_outputs += 1;
                } else {
                    files.push(e.into_path());
                }
            }
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let source = e
                    .into_io_error()
                    .unwrap_or_else(|| io::Error::other("symlink loop"));
                failed.push((path, source));
            }
        }
    }
    files.sort_unstable_by(|a, b| path_order(a, b));
    out.extend(files.into_iter().map(|p| Source::One(Part::File(p))));
    failed.sort_by(|a, b| path_order(&a.0, &b.0));
    errors.extend(failed.into_iter().map(|(p, source)| InputError::Io {
        path: p.display().to_string(),
        source,
    }));
}

/// Whether a file is one of faultline's own outputs: a JSON report, comparison or state
/// (`"schema": "faultline.`), a Markdown report, a frame as CSV (its header) or Parquet.
/// Only names with those extensions are opened to look, so a walk costs no more for logs.
fn is_own_output(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(
        ext.as_deref(),
        Some("json" | "md" | "markdown" | "csv" | "parquet" | "state")
    ) {
        return false;
    }
    let mut head = [0u8; 512];
    let n = File::open(path)
        .and_then(|mut f| read_full(&mut f, &mut head))
        .unwrap_or(0);
    looks_like_own_output(&head[..n])
}

/// The first line of each frame faultline writes as CSV (`--format csv`).
pub(crate) const FRAME_HEADERS: [&[u8]; 5] = [
    b"time,kind,name,variant,location,function,exception_type,message,source",
    // `events` as versions before 0.2 wrote it.
    b"time,kind,name,variant,location,source",
    b"time,endpoint,status,latency_ms",
    b"bucket,requests,errors_5xx,error_rate,p50_ms,p95_ms,p99_ms,signatures",
    b"endpoint,count,errors_5xx,p50_ms,p95_ms,p99_ms,max_ms",
];

fn looks_like_own_output(head: &[u8]) -> bool {
    let first_line = head.split(|&c| c == b'\n').next().unwrap_or(b"");
    let first_line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
    if head.starts_with(b"PAR1")
        || head.starts_with(b"# Post-incident report\n")
        || head.starts_with(b"## Before / After\n")
        || FRAME_HEADERS.contains(&first_line)
    {
        return true;
    }
    let t = head.trim_ascii_start();
    if !t.starts_with(b"{") {
        return false;
    }
    // `"schema"`, a colon, then the value, with any spacing.
    let Some(at) = memchr::memmem::find(t, b"\"schema\"") else {
        return false;
    };
    let rest = t[at + 8..].trim_ascii_start();
    rest.strip_prefix(b":")
        .is_some_and(|r| r.trim_ascii_start().starts_with(b"\"faultline."))
}

/// Paths component by component, as [`Path`]'s own order, for the paths a walk gives (no
/// `.` or repeated separators): bytewise with the separator below every other byte, which
/// needs no parsing into components.
fn path_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    let (a, b) = (
        a.as_os_str().as_encoded_bytes(),
        b.as_os_str().as_encoded_bytes(),
    );
    let key = |c: u8| {
        if std::path::is_separator(char::from(c)) {
            0
        } else {
            u16::from(c) + 1
        }
    };
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => key(a[i]).cmp(&key(b[i])),
        None => a.len().cmp(&b.len()),
    }
}

/// A mapped file, guarded against truncation while mapped (see `guard.rs`).
pub struct Mapped {
    // Unregistered before the mapping goes away: fields drop in order.
    guard: guard::Guard,
    map: Mmap,
}

impl Mapped {
    /// Whether the file shrank while mapped, so that part of it was read as zeros.
    pub fn truncated(&self) -> bool {
        self.guard.faulted()
    }

    /// Drops the page-table entries of the whole pages of `part`, a slice of this mapping
    /// the scan has read (anything else is ignored). Unmapping a 1 GiB mapping at the end
    /// of a scan took 45 ms on one thread while the other waited; released chunk by chunk
    /// by the threads that read them, that work is spread over the parallel scan (and the
    /// mapped file no longer counts in the process's resident memory).
    pub fn release(&self, part: &[u8]) {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0);
        let base = self.map.as_ptr() as usize;
        let (start, end) = (part.as_ptr() as usize, part.as_ptr() as usize + part.len());
        if page == 0 || start < base || end > base + self.map.len() {
            return;
        }
        let (lo, hi) = (start.next_multiple_of(page), end / page * page);
        if hi > lo {
            // SAFETY: [lo, hi) is whole pages inside this read-only private file mapping.
            // MADV_DONTNEED only drops their page-table entries: the next read of those bytes
            // maps them again from the file (the page cache), with the same content, so the
            // slices that still point there stay valid. Pages the SIGBUS guard replaced are
            // private zero pages, and stay zeros.
            unsafe {
                libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED);
            }
        }
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

/// How an opened input is read.
pub enum Opened {
    /// The whole file, mapped.
    Mapped(Mapped),
    /// A small file, read whole into a pooled buffer (hand it back with [`recycle`]).
    Read(Vec<u8>),
    /// An empty regular file (nothing to map).
    Empty,
    /// A stream.
    Stream(Stream),
}

/// A stream to read in blocks; `compressed` names the format when decompressing.
pub struct Stream {
    /// The reader.
    pub reader: Box<dyn Read + Send>,
    /// `Some("gzip")` when the bytes are decompressed.
    pub compressed: Option<&'static str>,
    /// Compressed bytes consumed so far, for error offsets.
    pub consumed: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

/// Compression formats recognized by their magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    /// `1f 8b`.
    Gzip,
    /// `28 b5 2f fd`.
    Zstd,
    /// `BZh` and a block size digit.
    Bzip2,
    /// `fd 37 7a 58` (`\xfd7zXZ\0`).
    Xz,
}

fn compression(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if head.len() == 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
        Some(Compression::Bzip2)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X']) {
        Some(Compression::Xz)
    } else {
        None
    }
}

/// Grows the pipe on `fd` (when it is one) to the system's limit for unprivileged users:
/// a 64 KiB pipe made `cat 1GiB | faultline analyze -` a context switch per 64 KiB, and the
/// pipe, not the analysis, the bottleneck. Not a pipe, or not allowed: nothing changes.
fn widen_pipe(fd: i32) {
    #[cfg(target_os = "linux")]
    {
        let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .unwrap_or(1 << 20)
            .min(1 << 20);
        // SAFETY: fcntl on a file descriptor number; it reports failure, never UB.
        unsafe {
            libc::fcntl(fd, libc::F_SETPIPE_SZ, max);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

/// Opens a file or stdin (a rotated set is opened part by part) and picks its read strategy.
///
/// By default a regular file is mapped; if mapping fails it is read as a stream. A gzip file
/// (magic `1f 8b`, members concatenated), a zstd file (magic `28 b5 2f fd`, frames
/// concatenated), a bzip2 file (`BZh1`..`BZh9`, streams concatenated) or an xz file
/// (`fd 37 7a 58`, streams concatenated) is decompressed as a stream.
pub fn open(src: &Part) -> Result<Opened, InputError> {
    open_timed(src).map(|(o, _)| o)
}

/// Files up to this size are read into a pooled buffer rather than mapped: for a small file
/// mapping it, registering the guard, faulting its pages in and unmapping it cost more than
/// copying its bytes.
pub const SMALL_FILE: u64 = 256 << 10;

thread_local! {
    /// Each thread's buffers for small files.
    static POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Gives a small file's buffer back to this thread's pool. Its bytes stay: the next file
/// read into it overwrites them, and only the part past them is zeroed first.
pub fn recycle(buf: Vec<u8>) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < 4 {
            p.push(buf);
        }
    });
}

/// [`open`], and the file's modification time (nanoseconds since the epoch) from the same
/// `fstat`: one system call where a separate [`Part::modified_ns`] made two.
pub fn open_timed(src: &Part) -> Result<(Opened, Option<i64>), InputError> {
    let name = src.name();
    let io_err = |source| InputError::Io {
        path: name.clone(),
        source,
    };
    match src {
        Part::Stdin => {
            widen_pipe(0);
            sniff_stream(Box::new(io::stdin()), &name).map(|o| (o, None))
        }
        Part::Reader(r) => match r.take() {
            Some(r) => sniff_stream(r, &name).map(|o| (o, None)),
            None => Err(io_err(io::Error::other("the reader was already read"))),
        },
        Part::File(p) => {
            let file = File::open(p).map_err(io_err)?;
            let meta = file.metadata().map_err(io_err)?;
            let mtime = meta.modified().ok().map(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
            });
            open_file(p, file, &meta, &name).map(|o| (o, mtime))
        }
    }
}

/// Opens a file whose metadata is `meta` (see [`open`]).
fn open_file(
    p: &Path,
    file: File,
    meta: &std::fs::Metadata,
    name: &str,
) -> Result<Opened, InputError> {
    let io_err = |source| InputError::Io {
        path: name.to_string(),
        source,
    };
    if !meta.is_file() {
        return sniff_stream(Box::new(file), name);
    }
    if meta.len() == 0 {
        return Ok(Opened::Empty);
    }
    if meta.len() <= SMALL_FILE {
        let mut buf = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
        buf.resize(meta.len() as usize, 0);
        let n = read_full(&mut (&file), &mut buf).map_err(io_err)?;
        buf.truncate(n);
        let compressed = compression(&buf[..n.min(4)]);
        let binary = compressed.is_none() && looks_binary(&buf[..n.min(8192)]);
        if n == 0 || compressed.is_some() || binary {
            recycle(buf);
        } else {
            return Ok(Opened::Read(buf));
        }
        if let Some(c) = compressed {
            let file = File::open(p).map_err(io_err)?;
            return decompress(c, Box::new(file), name);
        }
        if binary {
            return Err(InputError::Binary {
                path: name.to_string(),
            });
        }
        // It shrank to nothing since its size was read.
        return Ok(Opened::Empty);
    }
    let mut magic = [0u8; 4];
    let n = read_full(&mut (&file), &mut magic).map_err(io_err)?;
    if let Some(c) = compression(&magic[..n]) {
        let file = File::open(p).map_err(io_err)?;
        return decompress(c, Box::new(file), name);
    }
    // A file that grows while it is read is analysed up to the size seen here.
    let len = meta.len();
    let stream = |name: &str| -> Result<Opened, InputError> {
        let f = File::open(p).map_err(|source| InputError::Io {
            path: name.to_string(),
            source,
        })?;
        sniff_stream(Box::new(f.take(len)), name)
    };
    // SAFETY: the mapping is read-only. If another process truncates the file while it is
    // mapped, reading past the new end raises SIGBUS: the guard registered right below turns
    // that into zeros and an error (see `guard.rs`); no mapping is used without a guard.
    match unsafe { Mmap::map(&file) } {
        Ok(map) => {
            let Some(guard) = guard::Guard::register(map.as_ptr(), map.len()) else {
                drop(map);
                return stream(name);
            };
            if looks_binary(&map[..map.len().min(8192)]) {
                return Err(InputError::Binary {
                    path: name.to_string(),
                });
            }
            Ok(Opened::Mapped(Mapped { guard, map }))
        }
        Err(_) => stream(name),
    }
}

/// The first `n` bytes of a file, decompressed when it is compressed (fewer when it is
/// shorter).
pub(crate) fn read_head(path: &Path, n: usize) -> Result<Vec<u8>, InputError> {
    let name = path.display().to_string();
    let io_err = |source| InputError::Io {
        path: name.clone(),
        source,
    };
    let mut r = open_at(path, 0)?.ok_or_else(|| io_err(io::Error::other("file vanished")))?;
    let mut head = vec![0; n];
    let got = read_full(&mut r.reader, &mut head).map_err(io_err)?;
    head.truncate(got);
    Ok(head)
}

/// A file as a stream from (decompressed) byte `offset` on: a plain file is read up to the
/// size it has now, a compressed one is decompressed and its first `offset` bytes dropped.
/// `None` when the file (decompressed) is shorter than `offset`.
pub(crate) fn open_at(path: &Path, offset: u64) -> Result<Option<Stream>, InputError> {
    let name = path.display().to_string();
    let io_err = |source| InputError::Io {
        path: name.clone(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let mut magic = [0u8; 4];
    let n = read_full(&mut file, &mut magic).map_err(io_err)?;
    if let Some(c) = compression(&magic[..n]) {
        let file = File::open(path).map_err(io_err)?;
        let Opened::Stream(mut s) = decompress(c, Box::new(file), &name)? else {
            unreachable!("decompress gives a stream");
        };
        let skipped =
            io::copy(&mut (&mut s.reader).take(offset), &mut io::sink()).map_err(|e| {
                InputError::Corrupt {
                    path: name.clone(),
                    format: s.compressed.unwrap_or("compressed"),
                    offset: s
                        .consumed
                        .as_ref()
                        .map_or(0, |c| c.load(std::sync::atomic::Ordering::Relaxed)),
                    reason: e.to_string(),
                }
            })?;
        return Ok((skipped == offset).then_some(s));
    }
    if len < offset {
        return Ok(None);
    }
    file.seek(io::SeekFrom::Start(offset)).map_err(io_err)?;
    Ok(Some(Stream {
        reader: Box::new(file.take(len - offset)),
        compressed: None,
        consumed: None,
    }))
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn decompress(c: Compression, r: Box<dyn Read + Send>, name: &str) -> Result<Opened, InputError> {
    let counting = CountingBufReader::new(r);
    let consumed = counting.counter();
    let (reader, format): (Box<dyn Read + Send>, &'static str) = match c {
        Compression::Gzip => (
            Box::new(flate2::bufread::MultiGzDecoder::new(counting)),
            "gzip",
        ),
        Compression::Zstd => {
            let d = zstd::stream::read::Decoder::with_buffer(counting).map_err(|source| {
                InputError::Io {
                    path: name.to_string(),
                    source,
                }
            })?;
            (Box::new(d), "zstd")
        }
        Compression::Bzip2 => (
            Box::new(bzip2::bufread::MultiBzDecoder::new(counting)),
            "bzip2",
        ),
        // Streams concatenated (`xz -c a >> b`) are read one after the other, as gzip members.
        Compression::Xz => (
            Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(counting)),
            "xz",
        ),
    };
    Ok(Opened::Stream(Stream {
        reader,
        compressed: Some(format),
        consumed: Some(consumed),
    }))
}

/// Peeks at the first bytes of a stream to detect compression, then hands back a reader that
/// still yields those bytes.
fn sniff_stream(mut r: Box<dyn Read + Send>, name: &str) -> Result<Opened, InputError> {
    let mut head = [0u8; 4];
    let n = read_full(&mut r, &mut head).map_err(|source| InputError::Io {
        path: name.to_string(),
        source,
    })?;
    let chained: Box<dyn Read + Send> = Box::new(io::Cursor::new(head[..n].to_vec()).chain(r));
    if let Some(c) = compression(&head[..n]) {
        return decompress(c, chained, name);
    }
    Ok(Opened::Stream(Stream {
        reader: chained,
        compressed: None,
        consumed: None,
    }))
}

/// Whether a block looks like binary data rather than text: more than 10% of its bytes are
/// NUL or control characters other than tab, newline, carriage return, form feed and escape.
/// A log with a few NUL bytes (a crash, a pre-allocated file) is still text.
pub fn looks_binary(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    // Control characters but tab, newline, form feed, carriage return and escape, and DEL:
    // counted with compares and byte sums only, in blocks whose count fits a byte, so that it
    // runs on vectors (read whole, a small file is checked through, and the loop with
    // branches was 5% of the time of 20,000 small files).
    let is_bad = |c: u8| {
        let text = (c == b'\t') | (c == b'\n') | (c == 0x0c) | (c == b'\r') | (c == 0x1b);
        u8::from(((c < 0x20) & !text) | (c == 0x7f))
    };
    let bad: usize = head
        .chunks(255)
        .map(|b| usize::from(b.iter().fold(0u8, |n, &c| n.wrapping_add(is_bad(c)))))
        .sum();
    bad * 10 > head.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_order_is_component_order() {
        let mut names: Vec<PathBuf> = [
            "d/a-b/x.log",
            "d/a/x.log",
            "d/a/x.log.1",
            "d/a.log",
            "d/a/b/c.log",
            "d/ab.log",
            "d/A.log",
            "d/a/x-1.log",
            "d/a0/y.log",
            "d/é.log",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let mut expected = names.clone();
        expected.sort(); // Path's order: component by component
        names.sort_by(|a, b| path_order(a, b));
        assert_eq!(names, expected);
        // A plain bytewise sort puts `d/a-b/...` first, which component order does not.
        let mut bytewise = expected.clone();
        bytewise.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        assert_ne!(bytewise, expected);
    }

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

    /// Released pages read back the same bytes; memory outside the mapping (a `Vec`, which
    /// MADV_DONTNEED would zero) is left alone.
    #[test]
    fn released_pages_read_back_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|i| {
                if i % 97 == 96 {
                    b'\n'
                } else {
                    b'a' + (i % 26) as u8
                }
            })
            .collect();
        std::fs::write(&path, &data).unwrap();
        assert!(install_guard());
        let Ok(Opened::Mapped(m)) = open(&Part::File(path)) else {
            panic!("a regular file is mapped");
        };
        assert_eq!(&m[..], &data[..]);
        m.release(&m[1000..2_500_000]);
        m.release(&m[..]);
        assert_eq!(&m[..], &data[..]);
        let other = vec![7u8; 1 << 20];
        m.release(&other);
        assert!(other.iter().all(|&b| b == 7));
    }

    #[test]
    fn binary_detection() {
        assert!(!looks_binary(b"2025-01-10 INFO hello\n"));
        assert!(!looks_binary(
            b"hello\0 world, a stray NUL in a long enough line of text\n"
        ));
        assert!(looks_binary(&[0u8, 1, 2, 3, 4, 5, 0, 0, 0, 7]));
        // Tabs, form feeds, carriage returns and ANSI escapes are text; a tenth of other
        // control bytes is not, in any block of the 255-byte count.
        let colored = b"\x1b[31mERROR\x1b[0m\tfailed\r\n\x0c".repeat(100);
        assert!(!looks_binary(&colored));
        let mut mixed = vec![b'a'; 1000];
        for i in (0..1000).step_by(9) {
            mixed[i] = 0x01;
        }
        assert!(looks_binary(&mixed));
        for i in (0..1000).step_by(18) {
            mixed[i] = 0x7f;
            mixed[i + 9] = b'a';
        }
        assert!(!looks_binary(&mixed), "56 of 1000 bytes");
    }

    #[test]
    fn rotation_names() {
        assert_eq!(rotation("app.log"), Some(("app.log", Rotation::Current)));
        assert_eq!(
            rotation("app.log.2.gz"),
            Some(("app.log", Rotation::Numbered(-2)))
        );
        assert_eq!(
            rotation("app.log-20250110.zst"),
            Some(("app.log", Rotation::Dated("20250110".into())))
        );
        assert_eq!(
            rotation("0.log.20240716-170220"),
            Some(("0.log", Rotation::Dated("20240716-170220".into())))
        );
        assert_eq!(rotation("app.log.gz"), None);
        let files: Vec<Source> = [
            "d/app.log",
            "d/app.log.1",
            "d/app.log.10.gz",
            "d/app.log.2.gz",
            "d/db.log",
            "d/solo.log.1",
        ]
        .iter()
        .map(|p| Source::One(Part::File(p.into())))
        .collect();
        let got = group_rotations(files);
        assert_eq!(
            got,
            vec![
                Source::Rotated {
                    base: "d/app.log".into(),
                    parts: vec![
                        "d/app.log.10.gz".into(),
                        "d/app.log.2.gz".into(),
                        "d/app.log.1".into(),
                        "d/app.log".into()
                    ],
                },
                Source::One(Part::File("d/db.log".into())),
                Source::One(Part::File("d/solo.log.1".into())),
            ]
        );
    }

    #[test]
    fn discover_walks_directories_in_name_order() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("b.log"), "x\n").unwrap();
        std::fs::write(d.path().join("a.log"), "x\n").unwrap();
        std::fs::write(d.path().join("sub/c.log"), "x\n").unwrap();
        let mut errs = Vec::new();
        let got = discover(
            &[
                InputSpec::Path(d.path().into()),
                InputSpec::Path(d.path().join("nope")),
            ],
            &WalkFilter::default(),
            &mut errs,
        )
        .sources;
        let names: Vec<String> = got
            .iter()
            .map(|s| s.name().rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a.log", "b.log", "c.log"]);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().contains("nope"));
    }
}
