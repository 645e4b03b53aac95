//! One request per request: an access line and a timing line that describe the same request
//! count once.
//!
//! An app that logs uvicorn's access line (`"GET /x HTTP/1.1" 200`, no latency) and its own
//! timing line (`method=GET path=/x status=200 duration_ms=12`) writes two request lines per
//! request. The rule: in one stream (a file, or one container of `kubectl --prefix` output), a
//! request line without a latency field and one with a latency are the same request when they
//! name the same endpoint and status, are at most [`WINDOW_NS`] apart (or both without a time)
//! and at most [`LOOKBACK`] request lines apart. Lines pair in stream order, each with the
//! oldest unpaired line that fits, each line at most once; the access line of a pair is not
//! counted, the timing line (time, latency) is.
//!
//! Pairing is sequential but chunks are read in parallel, so it runs in two steps. Each chunk
//! notes, per stream, the request lines that can take part ([`PairLog`]): those within
//! [`LOOKBACK`] lines of an access line, and its first and last [`LOOKBACK`] lines (a pair can
//! straddle a chunk boundary). A [`Pairer`] then replays the notes of the chunks in input
//! order, carrying its state from buffer to buffer like the framing's stitcher, and removes the
//! paired access rows. A log without access lines (most) notes its heads and tails and pairs
//! nothing. An access line still unpaired at the end of a buffer may pair with the next
//! buffer's first lines: its row is held here until it cannot, then counted.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHasher;
use serde::{Deserialize, Serialize};

use super::requests::NO_TIME;
use super::{RequestRows, Summary};
use crate::extract::Latency;

/// Request lines of a stream within which two lines may pair.
pub const LOOKBACK: u64 = 32;
/// Nanoseconds between the times of two lines that pair, at most.
pub const WINDOW_NS: i64 = 1_000_000_000;

const K: usize = LOOKBACK as usize;

/// What a request line can pair as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    /// No latency field: an access line.
    Access,
    /// A latency: a timing line.
    Timed,
    /// A latency field that could not be read: it pairs with nothing.
    Other,
}

/// A request line as a chunk noted it: its place and kind; the rest is read from its row
/// when the chunk is sealed.
#[derive(Debug, Clone, Copy)]
struct Event {
    /// Its place among the chunk's request lines of its stream.
    seq: u32,
    /// Its row in the chunk's [`super::RequestRows`].
    row: u32,
    kind: Kind,
    time: i64,
    /// A hash of the endpoint's name.
    hash: u64,
    status: u16,
}

impl Event {
    fn new(seq: u32, slot: u32) -> Event {
        let kind = match slot >> 30 {
            0 => Kind::Access,
            1 => Kind::Timed,
            _ => Kind::Other,
        };
        Event {
            seq,
            row: slot & ROW_MASK,
            kind,
            time: NO_TIME,
            hash: 0,
            status: 0,
        }
    }
}

/// A row index with its kind in the top two bits (0 access, 1 timed, 2 other).
const ROW_MASK: u32 = (1 << 30) - 1;

/// One stream's notes in a chunk.
#[derive(Debug, Clone)]
struct StreamLog {
    key: Vec<u8>,
    /// Request lines seen.
    count: u32,
    /// Lines noted, in order.
    events: Vec<Event>,
    /// The rows (and kinds) of the last [`LOOKBACK`] lines, by `seq % LOOKBACK`: noted when
    /// an access line comes. Four bytes a line: this is all most lines cost.
    ring: [u32; K],
    /// Lines still to note after the last access line.
    follow: u32,
    /// The first line not yet noted or passed over.
    noted_to: u32,
    /// Whether an access line was seen.
    access: bool,
}

impl StreamLog {
    fn new(key: &[u8]) -> StreamLog {
        StreamLog {
            key: key.to_vec(),
            count: 0,
            events: Vec::new(),
            ring: [0; K],
            follow: 0,
            noted_to: 0,
            access: false,
        }
    }

    #[inline]
    fn note(&mut self, slot: u32) {
        let seq = self.count;
        self.count += 1;
        if slot >> 30 == 0 {
            self.access = true;
            // The lines before it that it may pair with (the ring still holds the one
            // LOOKBACK lines back, whose slot this line takes), then itself.
            let from = self.noted_to.max(seq.saturating_sub(LOOKBACK as u32));
            self.flush(from, seq);
            self.events.push(Event::new(seq, slot));
            self.noted_to = seq + 1;
            self.follow = LOOKBACK as u32;
        } else if seq < LOOKBACK as u32 || self.follow > 0 {
            self.follow = self.follow.saturating_sub(1);
            self.noted_to = seq + 1;
            self.events.push(Event::new(seq, slot));
        }
        self.ring[seq as usize % K] = slot;
    }

    /// Notes the lines `from..to` from the ring.
    fn flush(&mut self, from: u32, to: u32) {
        for s in from..to {
            self.events.push(Event::new(s, self.ring[s as usize % K]));
        }
        self.noted_to = to;
    }

    /// Notes the last lines (a pair may join them to the next chunk's).
    fn close(&mut self) {
        let from = self
            .noted_to
            .max(self.count.saturating_sub(LOOKBACK as u32));
        self.flush(from, self.count);
    }
}

/// The request lines of one chunk that may pair, per stream.
#[derive(Debug, Clone, Default)]
pub struct PairLog {
    streams: Vec<StreamLog>,
    /// The stream of the last line (most chunks have one stream, or runs of one).
    last: usize,
    /// Rows noted: the next row's index.
    rows: u32,
    /// Whether the lines were read from their rows.
    sealed: bool,
}

impl PairLog {
    /// Notes the request just pushed as the next row, in `stream`.
    #[inline]
    pub(crate) fn note(&mut self, stream: &[u8], latency: &Latency) {
        let kind = match latency {
            Latency::Missing => 0,
            Latency::Ms(_) => 1,
            Latency::Unparsed => 2,
        };
        let slot = self.rows | kind << 30;
        self.rows += 1;
        if let Some(s) = self.streams.get_mut(self.last) {
            if s.key == stream {
                return s.note(slot);
            }
        }
        let i = match self.streams.iter().position(|s| s.key == stream) {
            Some(i) => i,
            None => {
                self.streams.push(StreamLog::new(stream));
                self.streams.len() - 1
            }
        };
        self.last = i;
        self.streams[i].note(slot);
    }

    /// Whether a row of this chunk may be removed by pairing: it saw an access line.
    pub(crate) fn may_remove(&self) -> bool {
        self.streams.iter().any(|s| s.access)
    }

    /// Ends the chunk's notes: its last lines are noted, and each noted line reads its time,
    /// status and endpoint name (as a hash) from its row in `rows`, the chunk's rows, before
    /// they may be folded into sketches.
    pub(crate) fn seal(&mut self, rows: &RequestRows) {
        if self.sealed {
            return;
        }
        self.sealed = true;
        debug_assert_eq!(self.rows as usize, rows.len(), "every row noted");
        let mut hashes: Vec<Option<u64>> = vec![None; rows.endpoints.len()];
        for s in &mut self.streams {
            s.close();
            for e in &mut s.events {
                let (time, endpoint, status) = rows.row(e.row as usize);
                let i = endpoint as usize;
                e.hash = *hashes[i].get_or_insert_with(|| name_hash(&rows.endpoints[i]));
                (e.time, e.status) = (time, status);
            }
        }
    }
}

/// A line that may still pair.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Open {
    /// Its place among its stream's request lines.
    seq: u64,
    time: i64,
    /// A hash of its endpoint name, and the name while its row is held.
    hash: u64,
    name: Option<String>,
    status: u16,
    kind: Kind,
    /// The part and row its row is in, in the current buffer; none when held (an access
    /// line's row) or not needed (a timing line's row is never removed).
    #[serde(skip)]
    at: Option<(usize, u32)>,
}

/// One stream's pairing state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StreamState {
    /// Request lines seen.
    next: u64,
    /// Lines that may still pair, oldest first.
    open: VecDeque<Open>,
}

/// Pairs the request lines of a whole input, part after part; see the module. It serializes
/// (`--state`): a later run continues the pairing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pairer {
    #[serde(with = "crate::framing::pairs")]
    streams: BTreeMap<Vec<u8>, StreamState>,
}

fn name_hash(name: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = FxHasher::default();
    h.write(name.as_bytes());
    h.finish()
}

fn fits(a: &Open, time: i64, hash: u64, status: u16, kind: Kind) -> bool {
    let opposite = matches!(
        (a.kind, kind),
        (Kind::Access, Kind::Timed) | (Kind::Timed, Kind::Access)
    );
    let close = match (a.time, time) {
        (NO_TIME, NO_TIME) => true,
        (NO_TIME, _) | (_, NO_TIME) => false,
        (x, y) => x.abs_diff(y) <= WINDOW_NS as u64,
    };
    opposite && close && a.hash == hash && a.status == status
}

impl Pairer {
    /// A pairer for a new input.
    pub fn new() -> Pairer {
        Pairer::default()
    }

    /// Pairs the lines `parts` noted (in input order) after the lines already seen, removes
    /// the rows of the access lines that paired and holds the rows of those that may still
    /// pair with the next buffer's lines. Held rows that can no longer pair are counted in the
    /// part where that became known.
    pub fn resolve(&mut self, parts: &mut [Summary]) {
        let mut drop: Vec<Vec<u32>> = vec![Vec::new(); parts.len()];
        for pi in 0..parts.len() {
            let mut log = std::mem::take(&mut parts[pi].pairs);
            log.seal(&parts[pi].requests);
            for s in log.streams {
                let st = self.streams.entry(s.key).or_default();
                let base = st.next;
                for e in &s.events {
                    let seq = base + e.seq as u64;
                    expire(st, seq, &mut parts[pi]);
                    let hash = e.hash;
                    let found = st
                        .open
                        .iter()
                        .position(|a| fits(a, e.time, hash, e.status, e.kind));
                    match found {
                        Some(i) => {
                            let a = st.open.remove(i).expect("a found line");
                            let removed = match e.kind {
                                Kind::Access => Some((pi, e.row)),
                                _ => a.at,
                            };
                            // A held row was taken off its count when it was held.
                            if let Some((p, row)) = removed {
                                drop[p].push(row);
                                parts[p].requests.missing_latency -= 1;
                            }
                            parts[pi].requests.paired += 1;
                        }
                        None if e.kind != Kind::Other => st.open.push_back(Open {
                            seq,
                            time: e.time,
                            hash,
                            name: None,
                            status: e.status,
                            kind: e.kind,
                            at: (e.kind == Kind::Access).then_some((pi, e.row)),
                        }),
                        None => {}
                    }
                }
                st.next = base + s.count as u64;
                expire(st, st.next, &mut parts[pi]);
            }
        }
        // Access rows that may still pair are held until they cannot.
        for st in self.streams.values_mut() {
            for a in st.open.iter_mut() {
                if let Some((p, row)) = a.at.take() {
                    let rows = &parts[p].requests;
                    let (_, endpoint, _) = rows.row(row as usize);
                    a.name = Some(rows.endpoints[endpoint as usize].clone());
                    drop[p].push(row);
                    parts[p].requests.missing_latency -= 1;
                }
            }
        }
        for (p, mut rows) in drop.into_iter().enumerate() {
            if !rows.is_empty() {
                rows.sort_unstable();
                parts[p].requests.remove_rows(&rows);
            }
        }
    }

    /// Counts the held rows into `sum`: the input ended (or is quiet), nothing pairs with
    /// them any more.
    pub fn finish(&mut self, sum: &mut Summary) {
        for st in self.streams.values_mut() {
            for a in std::mem::take(&mut st.open) {
                count_held(a, sum);
            }
        }
        self.streams.clear();
    }
}

/// Ends the lines of `st` that a line at `seq` (and any after) cannot pair with.
fn expire(st: &mut StreamState, seq: u64, part: &mut Summary) {
    while let Some(a) = st.open.front() {
        if a.seq + LOOKBACK >= seq {
            break;
        }
        let a = st.open.pop_front().expect("a front line");
        count_held(a, part);
    }
}

/// Counts a held access row.
fn count_held(a: Open, sum: &mut Summary) {
    if let (Some(name), None) = (a.name, a.at) {
        let t = (a.time != NO_TIME).then_some(a.time);
        sum.requests.push_named(t, &name, a.status, None);
        sum.requests.missing_latency += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A request line: stream, time (ms), endpoint, status, kind.
    type Line = (u8, Option<i64>, u8, u16, Kind);
    /// A row counted: time (ns), endpoint, status, whether it has a latency.
    type Row = (Option<i64>, String, u16, bool);

    fn latency(k: Kind) -> Latency {
        match k {
            Kind::Access => Latency::Missing,
            Kind::Timed => Latency::Ms(12.5),
            Kind::Other => Latency::Unparsed,
        }
    }

    /// The rule as the module states it, on the whole input at once: the rows kept (time,
    /// endpoint, status, latency) sorted, and the lines paired.
    fn reference(lines: &[Line]) -> (Vec<Row>, u64) {
        let mut seq: BTreeMap<u8, u64> = BTreeMap::new();
        let mut open: BTreeMap<u8, Vec<(u64, usize)>> = BTreeMap::new();
        let mut dropped = vec![false; lines.len()];
        let mut paired = 0;
        for (i, &(s, t, e, status, kind)) in lines.iter().enumerate() {
            let n = seq.entry(s).or_insert(0);
            let at = *n;
            *n += 1;
            let open = open.entry(s).or_default();
            open.retain(|&(o, _)| o + LOOKBACK >= at);
            let found = open.iter().position(|&(_, j)| {
                let (_, tj, ej, sj, kj) = lines[j];
                let close = match (t, tj) {
                    (None, None) => true,
                    (Some(a), Some(b)) => (a - b).abs() * 1_000_000 <= WINDOW_NS,
                    _ => false,
                };
                let opposite = matches!(
                    (kind, kj),
                    (Kind::Access, Kind::Timed) | (Kind::Timed, Kind::Access)
                );
                close && opposite && ej == e && sj == status
            });
            match found {
                Some(k) => {
                    let (_, j) = open.remove(k);
                    dropped[if kind == Kind::Access { i } else { j }] = true;
                    paired += 1;
                }
                None if kind != Kind::Other => open.push((at, i)),
                None => {}
            }
        }
        let mut kept: Vec<_> = lines
            .iter()
            .zip(&dropped)
            .filter(|(_, d)| !**d)
            .map(|(&(_, t, e, st, k), _)| {
                (
                    t.map(|t| t * 1_000_000),
                    format!("GET /e{e}"),
                    st,
                    k == Kind::Timed,
                )
            })
            .collect();
        kept.sort();
        (kept, paired)
    }

    /// The same lines cut into buffers of parts (chunks), paired as the pipeline does.
    fn piecewise(lines: &[Line], cuts: &[usize], buffer_every: usize) -> (Vec<Row>, u64, u64) {
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (lines.len() + 1)).collect();
        bounds.extend([0, lines.len()]);
        bounds.sort_unstable();
        bounds.dedup();
        let parts: Vec<&[Line]> = bounds.windows(2).map(|w| &lines[w[0]..w[1]]).collect();
        let mut pairer = Pairer::new();
        let mut total = Summary::new();
        for buffer in parts.chunks(buffer_every.max(1)) {
            let mut sums: Vec<Summary> = buffer
                .iter()
                .map(|part| {
                    let mut sum = Summary::new();
                    for &(s, t, e, status, kind) in part.iter() {
                        let t = t.map(|t| t * 1_000_000);
                        let lat = latency(kind);
                        let ms = match lat {
                            Latency::Ms(v) => Some(v),
                            _ => None,
                        };
                        sum.requests
                            .push_named(t, &format!("GET /e{e}"), status, ms);
                        match kind {
                            Kind::Access => sum.requests.missing_latency += 1,
                            Kind::Other => sum.requests.unparsed_latency += 1,
                            Kind::Timed => {}
                        }
                        sum.pairs.note(&[b's', s], &lat);
                    }
                    sum
                })
                .collect();
            pairer.resolve(&mut sums);
            for s in sums {
                total.merge(s);
            }
        }
        let mut rest = Summary::new();
        pairer.finish(&mut rest);
        total.merge(rest);
        let r = &total.requests;
        let mut kept = Vec::new();
        for b in &r.blocks {
            for i in 0..b.len() {
                let t = b.time.get(i);
                let lat = b.latency.get(i);
                kept.push((
                    (t != NO_TIME).then_some(t),
                    r.endpoints[b.endpoint[i] as usize].clone(),
                    b.status[i],
                    !lat.is_nan(),
                ));
            }
        }
        kept.sort();
        (kept, r.paired, r.missing_latency)
    }

    /// A line; access lines `access` times in 100.
    fn line(access: u32) -> impl Strategy<Value = Line> {
        (
            0u8..2,
            prop_oneof![9 => (0i64..4000).prop_map(Some), 1 => Just(None)],
            0u8..3,
            prop_oneof![Just(200u16), Just(500u16)],
            prop_oneof![
                access => Just(Kind::Access),
                90 - access => Just(Kind::Timed),
                10 => Just(Kind::Other)
            ],
        )
    }

    /// Lines, sometimes time-ordered, with many or few access lines.
    fn lines() -> impl Strategy<Value = Vec<Line>> {
        (prop_oneof![Just(40u32), Just(2u32)], any::<bool>()).prop_flat_map(|(access, sorted)| {
            proptest::collection::vec(line(access), 0..400).prop_map(move |mut v| {
                if sorted {
                    v.sort_by_key(|l| l.1);
                }
                v
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn pairing_in_pieces_equals_the_rule_on_the_whole(
            lines in lines(),
            cuts in proptest::collection::vec(0usize..400, 0..12),
            every in 1usize..4,
        ) {
            let (want, paired) = reference(&lines);
            let (got, got_paired, missing) = piecewise(&lines, &cuts, every);
            prop_assert_eq!(got_paired, paired);
            let access = lines.iter().filter(|l| l.4 == Kind::Access).count() as u64;
            prop_assert_eq!(missing, access - paired);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn access_then_timing_and_timing_then_access_count_once() {
        use Kind::*;
        // Timing line first (a middleware around the app), then uvicorn's access line.
        let t_first = [(0, Some(0), 0, 200, Timed), (0, Some(1), 0, 200, Access)];
        // Access line first (logged when the response starts), then the timing line.
        let a_first = [(0, Some(0), 1, 500, Access), (0, Some(2), 1, 500, Timed)];
        for lines in [&t_first[..], &a_first[..]] {
            let (kept, paired, _) = piecewise(lines, &[1], 1);
            assert_eq!((kept.len(), paired), (1, 1), "{lines:?}");
            assert!(kept[0].3, "the timing line is kept");
        }
    }

    #[test]
    fn what_does_not_pair() {
        use Kind::*;
        let cases: [[Line; 2]; 6] = [
            // Two access lines: two requests.
            [(0, Some(0), 0, 200, Access), (0, Some(0), 0, 200, Access)],
            // Two timing lines: two requests.
            [(0, Some(0), 0, 200, Timed), (0, Some(0), 0, 200, Timed)],
            // Another status, another endpoint, another stream.
            [(0, Some(0), 0, 200, Timed), (0, Some(0), 0, 500, Access)],
            [(0, Some(0), 0, 200, Timed), (0, Some(0), 1, 200, Access)],
            [(0, Some(0), 0, 200, Timed), (1, Some(0), 0, 200, Access)],
            // More than a second apart.
            [(0, Some(0), 0, 200, Timed), (0, Some(1001), 0, 200, Access)],
        ];
        for lines in cases {
            assert_eq!(piecewise(&lines, &[], 1).1, 0, "{lines:?}");
        }
        // Lines more than LOOKBACK request lines apart.
        let mut far = vec![(0, Some(0), 0, 200, Kind::Timed)];
        far.extend((0..LOOKBACK).map(|_| (0, Some(0), 1, 200, Kind::Timed)));
        far.push((0, Some(0), 0, 200, Kind::Access));
        assert_eq!(piecewise(&far, &[5], 1).1, 0);
        far.remove(1);
        assert_eq!(piecewise(&far, &[5], 1).1, 1);
    }
}
