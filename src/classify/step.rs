//! The per-record classification step, with its memo of records already classified.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{Classification, Classifier};
use crate::framing::{expand_json_with, strip_leading_time, Record, TimeParser};

/// Classifies records one by one, each distinct record at most once per step: a memo keyed
/// by the record's text.
///
/// An incident repeats the same traceback thousands of times with only the header's time
/// changing, so the key leaves out the first line's leading timestamp, and so does the text
/// the classifier reads (the classification stays a pure function of the key, whatever the
/// chunking). On the incident part of a `genlog.py` log the memo makes a thread 3x faster.
pub(crate) struct RecordStep<'c> {
    cl: &'c Classifier,
    memo: Memo,
    key: Vec<u8>,
    tp: TimeParser,
    /// The last stream name seen, shared by the event rows of that stream.
    source: (Vec<u8>, Arc<str>),
}

/// Entries kept before the memo is emptied, to bound memory on logs with no repetition.
const MEMO_CAP: usize = 4096;

type Memo = FxHashMap<Vec<u8>, Option<Arc<Classification>>>;

thread_local! {
    /// The memo of the last step that ended on this thread, with its classifier's id: the
    /// next step of that classifier goes on from it. A small file is a chunk of its own, and
    /// each one classified its records afresh (a tenth of a run over 20,000 small files).
    static MEMO: RefCell<Option<(u64, Memo)>> = const { RefCell::new(None) };
}

impl Drop for RecordStep<'_> {
    fn drop(&mut self) {
        let (id, memo) = (self.cl.id(), std::mem::take(&mut self.memo));
        let _ = MEMO.try_with(|m| {
            let mut m = m.borrow_mut();
            // Steps alive side by side on one thread: the larger memo stays.
            if m.as_ref().is_none_or(|(_, old)| old.len() <= memo.len()) {
                *m = Some((id, memo));
            }
        });
    }
}

impl<'c> RecordStep<'c> {
    pub(crate) fn new(cl: &'c Classifier) -> RecordStep<'c> {
        RecordStep {
            cl,
            memo: MEMO
                .try_with(|m| match m.borrow_mut().take() {
                    Some((id, memo)) if id == cl.id() => memo,
                    _ => Memo::default(),
                })
                .unwrap_or_default(),
            key: Vec::new(),
            tp: TimeParser::new(),
            source: (Vec::new(), Arc::from("")),
        }
    }

    /// What the record is, and the stream it came from; `None` when it is neither a known
    /// signature nor an exception.
    pub(crate) fn classify(&mut self, r: &Record<'_>) -> Option<(Arc<Classification>, Arc<str>)> {
        if !r.hit && !r.traceback && !r.bare_exception {
            // No anchor of any signature, no traceback, no bare exception line: nothing to read.
            return None;
        }
        let cl = self.cl;
        let json = if r.json {
            expand_json_with(r.lines[0].text, &cl.catalog().json_trace_fields)
        } else {
            None
        };
        let c = match json {
            // A JSON object: its message and traceback fields (the time fields are left out).
            Some(j) => {
                let mut lines: Vec<Cow<'_, str>> = Vec::with_capacity(r.lines.len());
                lines.extend(j.lines.into_iter().map(Cow::Owned));
                lines.extend(r.lines[1..].iter().map(|l| String::from_utf8_lossy(l.text)));
                self.key.clear();
                self.key.push(u8::from(r.hit) | 2);
                for l in &lines {
                    self.key.extend_from_slice(l.as_bytes());
                    self.key.push(b'\n');
                }
                self.memoized(r.hit, || lines)
            }
            // Text (or a line that starts with `{` but is not JSON): the key is the raw bytes,
            // and the lines are converted to text only when the memo misses.
            None => {
                self.key.clear();
                self.key.push(u8::from(r.hit));
                let first = strip_leading_time(r.lines[0].text, &mut self.tp);
                self.key.extend_from_slice(first);
                self.key.push(b'\n');
                for l in &r.lines[1..] {
                    self.key.extend_from_slice(l.text);
                    self.key.push(b'\n');
                }
                self.memoized(r.hit, || {
                    std::iter::once(first)
                        .chain(r.lines[1..].iter().map(|l| l.text))
                        .map(String::from_utf8_lossy)
                        .collect()
                })
            }
        }?;
        Some((c, self.source(r.stream)))
    }

    fn source(&mut self, stream: &[u8]) -> Arc<str> {
        if self.source.0 != stream {
            self.source = (
                stream.to_vec(),
                Arc::from(String::from_utf8_lossy(stream).as_ref()),
            );
        }
        Arc::clone(&self.source.1)
    }

    /// The classification of the record whose key is in `self.key`; `lines` gives its text
    /// when it is not memoized yet.
    fn memoized<'l>(
        &mut self,
        hit: bool,
        lines: impl FnOnce() -> Vec<Cow<'l, str>>,
    ) -> Option<Arc<Classification>> {
        if let Some(c) = self.memo.get(&self.key) {
            return c.clone();
        }
        let c = self.cl.classify_record(&lines(), hit).map(Arc::new);
        if self.memo.len() >= MEMO_CAP {
            self.memo.clear();
        }
        self.memo.insert(self.key.clone(), c.clone());
        c
    }
}
