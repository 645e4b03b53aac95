//! The driver: input -> framing -> classify -> aggregate, chunks in parallel.
//!
//! Each source is opened with its read strategy. A mapped file is split into chunks at line
//! boundaries; each chunk is prefiltered, framed, classified and counted on a rayon worker into
//! its own [`Summary`]; the chunk outputs are then stitched in order (records that straddle a
//! boundary) and the summaries merged. A stream is read in bounded blocks, each block going
//! through the same path, with the stitcher carried from block to block.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use rayon::prelude::*;

use crate::aggregate::Summary;
use crate::classify::Classifier;
use crate::error::InputError;
use crate::framing::{expand_json, frame_chunk, Limits, Record, Stitcher};
use crate::input::{self, BlockReader, Opened, Source};

/// How a run reads and splits its inputs.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Chunk size for splitting a buffer across threads; `None` picks one from the size and
    /// the thread count. The result never depends on it.
    pub chunk_size: Option<usize>,
    /// Block size for streams (stdin, pipes, gzip). By default 8 MiB.
    pub block_size: usize,
    /// Line and record limits.
    pub limits: Limits,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            chunk_size: None,
            block_size: 8 << 20,
            limits: Limits::default(),
        }
    }
}

/// Classifies one record into `sum`.
fn handle(r: &Record<'_>, cl: &Classifier, sum: &mut Summary) {
    sum.see_time(r.time);
    if !r.hit && !r.traceback && !r.bare_exception {
        // No anchor of any signature, no traceback, no bare exception line: nothing to read.
        return;
    }
    let lines: Vec<Cow<'_, str>> = if r.json {
        let Some(j) = expand_json(r.lines[0].text) else {
            // A line that starts with `{` but is not JSON: read it as text.
            return classify_text(r, cl, sum);
        };
        let mut v: Vec<Cow<'_, str>> = j.lines.into_iter().map(Cow::Owned).collect();
        v.extend(r.lines[1..].iter().map(|l| String::from_utf8_lossy(l.text)));
        v
    } else {
        return classify_text(r, cl, sum);
    };
    if let Some(c) = cl.classify(&lines) {
        sum.add(r.time, c);
    }
}

fn classify_text(r: &Record<'_>, cl: &Classifier, sum: &mut Summary) {
    let lines: Vec<Cow<'_, str>> = r
        .lines
        .iter()
        .map(|l| String::from_utf8_lossy(l.text))
        .collect();
    if let Some(c) = cl.classify(&lines) {
        sum.add(r.time, c);
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

/// Frames and classifies a buffer of whole lines, continuing `st`'s streams.
fn scan_buffer(buf: &[u8], st: &mut Stitcher, cl: &Classifier, opts: &ScanOptions) -> Summary {
    let limits = &opts.limits;
    let chunks = split_lines(buf, auto_chunk(buf.len(), opts));
    let outs: Vec<_> = chunks
        .par_iter()
        .map(|chunk| {
            let hits = cl.prefilter(chunk);
            let mut sum = Summary::new();
            let out = frame_chunk(chunk, &hits, limits, &mut |r: &Record<'_>| {
                handle(r, cl, &mut sum)
            });
            (sum, out)
        })
        .collect();
    let mut total = Summary::new();
    for (sum, out) in outs {
        total.merge(sum);
        st.absorb(out, limits, &mut |r: &Record<'_>| handle(r, cl, &mut total));
    }
    total
}

/// Analyses one source. Returns what could be counted, and an error if reading stopped early.
pub fn scan_source(
    src: &Source,
    cl: &Classifier,
    opts: &ScanOptions,
) -> (Summary, Option<InputError>) {
    let mut total = Summary::new();
    let mut st = Stitcher::new();
    let mut err = None;
    match input::open(src) {
        Err(e) => return (total, Some(e)),
        Ok(Opened::Empty) => {}
        Ok(Opened::Mapped(m)) => {
            total.bytes = m.len() as u64;
            let s = scan_buffer(&m, &mut st, cl, opts);
            total.merge(s);
        }
        Ok(Opened::Stream {
            reader,
            compressed,
            consumed,
        }) => {
            let mut br = BlockReader::new(reader, opts.block_size, opts.limits.max_line_len);
            let mut block = Vec::new();
            let mut first = true;
            loop {
                let more = match br.next_block(&mut block) {
                    Ok(more) => more,
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
                        !block.is_empty()
                    }
                };
                if !more {
                    break;
                }
                if first
                    && compressed.is_none()
                    && input::looks_binary(&block[..block.len().min(8192)])
                {
                    err = Some(InputError::Binary { path: src.name() });
                    break;
                }
                first = false;
                let s = scan_buffer(&block, &mut st, cl, opts);
                total.merge(s);
                if err.is_some() {
                    break;
                }
            }
            total.bytes = br.bytes;
        }
    }
    let mut rest = Summary::new();
    let stats = st.finish(&mut |r: &Record<'_>| handle(r, cl, &mut rest));
    total.merge(rest);
    total.frame = stats;
    total.files = 1;
    (total, err)
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
