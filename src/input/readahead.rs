//! Streams read one block ahead of the analysis, on a thread of their own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use super::{BlockReader, Stream};
use crate::error::InputError;

/// A block read ahead: whole lines, and how the stream goes on.
pub(crate) struct Block {
    /// Whole lines (the last one may lack its newline at the end of the stream).
    pub data: Vec<u8>,
    /// Whether `data` is to be analysed: false at the end of the stream, or at an error
    /// that left nothing to read.
    pub more: bool,
    /// The error that stopped the stream (this block is its last).
    pub error: Option<InputError>,
    /// Bytes read so far (decompressed for a compressed input).
    pub read: u64,
    /// Bytes of the input itself read so far (compressed for a compressed input).
    pub raw: u64,
}

/// A stream being read in blocks, one block ahead of the analysis, so that reading
/// (decompressing) it and analysing it overlap (a gzip log's run is a fifth shorter).
pub(crate) struct ReadAhead {
    blocks: mpsc::Receiver<Block>,
    free: mpsc::Sender<Vec<u8>>,
}

/// What a stream's errors are reported with.
struct StreamInfo {
    /// The input's name.
    pub name: String,
    /// The compression format, when the bytes are decompressed.
    pub compressed: Option<&'static str>,
    /// Compressed bytes consumed so far, for the offset of a corrupt archive.
    pub consumed: Option<Arc<AtomicU64>>,
    /// Bytes read at most (the decompressed size of a compressed input): past it the last
    /// block comes with a [`InputError::TooLarge`].
    pub limit: Option<u64>,
}

impl ReadAhead {
    /// Starts reading the stream of input `name` in blocks of about `block` bytes, lines cut
    /// at `max_line`, a decompressed stream stopped past `max_decompressed` bytes. The thread
    /// stops at the end of the stream, at an error, or when the analysis stops listening: it
    /// is not joined, so a pipe that never ends cannot hold the run.
    pub(crate) fn start(
        stream: Stream,
        name: String,
        max_decompressed: u64,
        block: usize,
        max_line: usize,
    ) -> ReadAhead {
        let Stream {
            reader,
            compressed,
            consumed,
        } = stream;
        let info = StreamInfo {
            name,
            compressed,
            consumed,
            limit: compressed.map(|_| max_decompressed),
        };
        let (tx, rx) = mpsc::sync_channel::<Block>(1);
        let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut br = BlockReader::new(reader, block, max_line);
            let mut first = true;
            loop {
                let mut data = free_rx.try_recv().unwrap_or_default();
                let result = br.next_block(&mut data);
                let (more, error) = match result {
                    Ok(true) if info.limit.is_some_and(|l| br.bytes > l) => {
                        let e = InputError::TooLarge {
                            path: info.name.clone(),
                            limit: info.limit.unwrap_or(0),
                        };
                        (!data.is_empty(), Some(e))
                    }
                    // A binary stream is skipped from its first block.
                    Ok(true)
                        if first
                            && info.compressed.is_none()
                            && super::looks_binary(&data[..data.len().min(8192)]) =>
                    {
                        let e = InputError::Binary {
                            path: info.name.clone(),
                        };
                        (false, Some(e))
                    }
                    Ok(more) => (more, None),
                    Err(e) => (!data.is_empty(), Some(info.error(e))),
                };
                first = false;
                let stop = !more || error.is_some();
                let raw = match &info.consumed {
                    Some(c) => c.load(Ordering::Relaxed),
                    None => br.bytes,
                };
                let b = Block {
                    data,
                    more,
                    error,
                    read: br.bytes,
                    raw,
                };
                if tx.send(b).is_err() || stop {
                    break;
                }
            }
        });
        ReadAhead {
            blocks: rx,
            free: free_tx,
        }
    }

    /// The blocks, in order.
    pub(crate) fn iter(&self) -> mpsc::Iter<'_, Block> {
        self.blocks.iter()
    }

    /// Hands a block's buffer back to the reader, so that at most three are ever allocated.
    pub(crate) fn recycle(&self, buf: Vec<u8>) {
        let _ = self.free.send(buf);
    }
}

impl StreamInfo {
    /// A read error as the input error it is: a corrupt archive (with its offset) or I/O.
    fn error(&self, e: std::io::Error) -> InputError {
        match (self.compressed, &self.consumed) {
            (Some(format), Some(c)) => InputError::Corrupt {
                path: self.name.clone(),
                format,
                offset: c.load(Ordering::Relaxed),
                reason: e.to_string(),
            },
            _ => InputError::Io {
                path: self.name.clone(),
                source: e,
            },
        }
    }
}
