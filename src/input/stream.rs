//! Bounded block reading for streams.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A buffered reader that counts the bytes its consumer has consumed, so a decoder error can
/// be reported at the compressed byte offset where it happened.
pub struct CountingBufReader<R> {
    inner: BufReader<R>,
    consumed: Arc<AtomicU64>,
}

impl<R: Read> CountingBufReader<R> {
    /// Wraps `r` with a 64 KiB buffer.
    pub fn new(r: R) -> Self {
        CountingBufReader {
            inner: BufReader::with_capacity(64 * 1024, r),
            consumed: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A shared handle on the count.
    pub fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.consumed)
    }
}

impl<R: Read> Read for CountingBufReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Read> BufRead for CountingBufReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.consumed.fetch_add(amt as u64, Ordering::Relaxed);
        self.inner.consume(amt);
    }
}

/// Reads a stream in blocks of whole lines.
///
/// Each block holds at least `block` bytes (unless the stream ends) and ends with a newline,
/// except the stream's last block when the stream has no final newline. A line longer than
/// `max_line` is cut: its first `max_line + 1` bytes are kept (so the framer sees it as
/// over-long and counts it) and the rest is read and dropped. Memory is thus bounded by
/// `block + max_line` whatever the input.
pub struct BlockReader<R> {
    r: R,
    block: usize,
    max_line: usize,
    pending: Vec<u8>,
    skipping: bool,
    eof: bool,
    /// Bytes read from the stream so far (decompressed).
    pub bytes: u64,
}

impl<R: Read> BlockReader<R> {
    /// Creates a reader; by default faultline uses 8 MiB blocks.
    pub fn new(r: R, block: usize, max_line: usize) -> Self {
        BlockReader {
            r,
            block: block.max(1),
            max_line,
            pending: Vec::new(),
            skipping: false,
            eof: false,
            bytes: 0,
        }
    }

    /// Fills `out` with the next block. Returns `Ok(false)` at the end of the stream.
    ///
    /// On an error, what was read before it is left in `out` (whole lines only, plus the
    /// partial last line) so the caller can still analyse it.
    pub fn next_block(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        out.clear();
        out.append(&mut self.pending);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if self.eof {
                return Ok(!out.is_empty());
            }
            // Enough data and a line boundary: cut there.
            if out.len() >= self.block {
                if let Some(nl) = memchr::memrchr(b'\n', out) {
                    self.pending.extend_from_slice(&out[nl + 1..]);
                    out.truncate(nl + 1);
                    return Ok(true);
                }
            }
            let n = match self.r.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    continue;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.eof = true;
                    return Err(e);
                }
            };
            self.bytes += n as u64;
            let mut data = &chunk[..n];
            if self.skipping {
                match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        self.skipping = false;
                        out.push(b'\n');
                        data = &data[i + 1..];
                    }
                    None => continue,
                }
            }
            out.extend_from_slice(data);
            // The line being read (after the last newline) must not exceed the limit.
            let line_start = memchr::memrchr(b'\n', out).map_or(0, |i| i + 1);
            if out.len() - line_start > self.max_line + 1 {
                // The cut line stays at the end of `out` (bounded), and is closed with the
                // newline found while skipping; the block cut above hands out the lines before.
                out.truncate(line_start + self.max_line + 1);
                self.skipping = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(input: &[u8], block: usize, max_line: usize) -> Vec<Vec<u8>> {
        let mut r = BlockReader::new(input, block, max_line);
        let mut out = Vec::new();
        let mut all = Vec::new();
        while r.next_block(&mut out).unwrap() {
            all.push(out.clone());
        }
        assert_eq!(r.bytes, input.len() as u64);
        all
    }

    #[test]
    fn blocks_end_on_line_boundaries_and_keep_every_byte() {
        let input = b"one\ntwo\nthree\nfour\nfive";
        for block in 1..30 {
            let bs = blocks(input, block, 1 << 20);
            assert_eq!(bs.concat(), input.to_vec(), "block {block}");
            for b in &bs[..bs.len() - 1] {
                assert_eq!(b.last(), Some(&b'\n'));
            }
        }
    }

    #[test]
    fn long_lines_are_cut_and_the_rest_dropped() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 300_000));
        input.extend(b"\nafter\n");
        let bs = blocks(&input, 1000, 100);
        let joined = bs.concat();
        let lines: Vec<&[u8]> = joined.split(|c| *c == b'\n').collect();
        assert_eq!(lines[0], b"short");
        assert_eq!(lines[1].len(), 101);
        assert_eq!(lines[2], b"after");
    }
}
