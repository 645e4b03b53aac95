//! Request rows, stored column by column, and the endpoint key.
//!
//! A request costs 14 bytes here when its time is in whole milliseconds and its latency a
//! decimal in one unit (the usual case): a millisecond offset (i32), endpoint id (u32), status
//! (u16) and the latency's digits (u32). Otherwise the time takes 8 bytes (nanoseconds) and
//! the latency 8 (f64), 22 in all. Either way no value is lost: a compact column reads back
//! the exact `i64` and `f64` that were pushed, and turns wide the moment one does not fit.
//! Endpoint names are interned per summary and remapped when summaries merge.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::extract::request::same_bytes;
use crate::extract::{endpoint_key, Latency, Request, Unit};
use crate::framing::Nanos;

/// `i64::MIN` marks a request without a time in a wide [`Times`] column.
pub const NO_TIME: i64 = i64::MIN;
/// Marks a request without a time in a compact [`Times`] column.
pub const NO_OFFSET: i32 = i32::MIN;
/// Marks a request without a latency in a compact [`Latencies`] column.
pub const NO_LATENCY: u32 = u32::MAX;
/// Nanoseconds in a millisecond.
pub const MS: i64 = 1_000_000;

/// Blocks with fewer rows are appended to the block before them when summaries are
/// concatenated (a small chunk's or a chunk boundary's few rows), so the blocks stay few and
/// large.
const SMALL_BLOCK: usize = 1 << 14;

/// Decimals a compact [`Latencies`] column keeps at most.
const MAX_DECIMALS: u8 = 9;
const POW10: [f64; MAX_DECIMALS as usize + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// How a compact column stores its values in half the bits of the wide ones, and reads them
/// back exactly.
pub trait Encoding: Clone + Default + std::fmt::Debug {
    /// A stored value.
    type Narrow: Copy + PartialEq + std::fmt::Debug;
    /// A value as pushed and read back.
    type Wide: Copy + std::fmt::Debug;
    /// The stored value of a missing one.
    const NONE: Self::Narrow;
    /// The read-back value of a missing one.
    const NONE_WIDE: Self::Wide;
    /// A stored value read back (never [`Encoding::NONE`]).
    fn decode(&self, n: Self::Narrow) -> Self::Wide;
    /// Stores `x` in `v`, changing the encoding (and re-encoding `v`) if it must; false when
    /// it cannot be stored exactly.
    fn push(&mut self, v: &mut Vec<Self::Narrow>, x: Self::Wide) -> bool;
    /// Appends `ov`, stored with `o`, to `v`; false when they cannot share one encoding.
    fn append(&mut self, v: &mut Vec<Self::Narrow>, o: &Self, ov: &[Self::Narrow]) -> bool;
}

/// A column of one block: compact while every value fits its encoding, wide from the first
/// one that does not.
#[derive(Debug, Clone)]
pub enum Packed<E: Encoding> {
    /// Stored values, [`Encoding::NONE`] for none.
    Compact {
        /// How they are stored.
        enc: E,
        /// The values.
        v: Vec<E::Narrow>,
    },
    /// Plain values, [`Encoding::NONE_WIDE`] for none.
    Wide(Vec<E::Wide>),
}

impl<E: Encoding> Default for Packed<E> {
    fn default() -> Self {
        Packed::with_capacity(0)
    }
}

impl<E: Encoding> Packed<E> {
    fn with_capacity(n: usize) -> Self {
        Packed::Compact {
            enc: E::default(),
            v: Vec::with_capacity(n),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Packed::Compact { v, .. } => v.len(),
            Packed::Wide(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`'s value.
    pub fn get(&self, i: usize) -> E::Wide {
        match self {
            Packed::Compact { enc, v } => match v[i] {
                n if n == E::NONE => E::NONE_WIDE,
                n => enc.decode(n),
            },
            Packed::Wide(v) => v[i],
        }
    }

    #[inline]
    fn push(&mut self, x: Option<E::Wide>) {
        if let Packed::Compact { enc, v } = self {
            match x {
                None => return v.push(E::NONE),
                Some(x) if enc.push(v, x) => return,
                Some(_) => {}
            }
        }
        self.widen();
        if let Packed::Wide(v) = self {
            v.push(x.unwrap_or(E::NONE_WIDE));
        }
    }

    /// Turns into [`Packed::Wide`].
    pub(crate) fn widen(&mut self) {
        if let Packed::Compact { .. } = self {
            *self = Packed::Wide((0..self.len()).map(|i| self.get(i)).collect());
        }
    }

    fn append(&mut self, o: &Packed<E>) {
        let done = match (&mut *self, o) {
            (Packed::Compact { enc, v }, Packed::Compact { enc: oe, v: ov }) => {
                enc.append(v, oe, ov)
            }
            (Packed::Wide(v), Packed::Wide(ov)) => {
                v.extend_from_slice(ov);
                true
            }
            _ => false,
        };
        if done {
            return;
        }
        self.widen();
        if let Packed::Wide(v) = self {
            v.extend((0..o.len()).map(|i| o.get(i)));
        }
    }
}

/// Request times of a block, in nanoseconds since the epoch.
///
/// Times in whole milliseconds (Python logging's, nginx's, most ISO times) are kept as 32-bit
/// offsets from the block's first time: half the memory of nanoseconds, which is what lets
/// a 1 GiB log read from stdin (4.9 M requests) stay under its memory budget.
pub type Times = Packed<TimeBase>;

/// Compact times: milliseconds after `base`, within +-24 days of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeBase {
    /// The first time pushed, nanoseconds since the epoch; `None` before one.
    pub base: Option<i64>,
}

/// `o` milliseconds after `base`, when that is a compact offset.
fn offset(base: i64, t: i64) -> Option<i32> {
    let d = t.checked_sub(base)?;
    if d % MS != 0 {
        return None;
    }
    i32::try_from(d / MS).ok().filter(|&o| o != NO_OFFSET)
}

impl Encoding for TimeBase {
    type Narrow = i32;
    type Wide = i64;
    const NONE: i32 = NO_OFFSET;
    const NONE_WIDE: i64 = NO_TIME;

    fn decode(&self, o: i32) -> i64 {
        self.base.unwrap_or(0) + i64::from(o) * MS
    }

    #[inline]
    fn push(&mut self, v: &mut Vec<i32>, t: i64) -> bool {
        match offset(*self.base.get_or_insert(t), t) {
            Some(o) => {
                v.push(o);
                true
            }
            None => false,
        }
    }

    fn append(&mut self, v: &mut Vec<i32>, o: &TimeBase, ov: &[i32]) -> bool {
        let Some(ob) = o.base else {
            // `o` has no time.
            v.extend_from_slice(ov);
            return true;
        };
        let b = *self.base.get_or_insert(ob);
        let shift = offset(b, ob).map(i64::from);
        let shifted = |x: i32| match x {
            NO_OFFSET => Some(NO_OFFSET),
            x => shift
                .and_then(|d| i32::try_from(i64::from(x) + d).ok())
                .filter(|&y| y != NO_OFFSET),
        };
        if !ov.iter().all(|&x| shifted(x).is_some()) {
            return false;
        }
        v.extend(ov.iter().map(|&x| shifted(x).unwrap_or(NO_OFFSET)));
        true
    }
}

impl Times {
    /// The base of compact times, when there is one.
    pub fn base(&self) -> Option<i64> {
        match self {
            Packed::Compact { enc, .. } => enc.base,
            Packed::Wide(_) => None,
        }
    }

    /// Makes the offsets count from `g`, unless one would not fit.
    fn rebase(&mut self, g: i64) -> bool {
        let Packed::Compact { enc, v } = self else {
            return false;
        };
        let Some(b) = enc.base else {
            return true;
        };
        let Some(d) = offset(g, b).map(i64::from) else {
            return false;
        };
        let shifted = |x: i32| i32::try_from(i64::from(x) + d).ok();
        let fits = |x: i32| x == NO_OFFSET || shifted(x).is_some_and(|y| y != NO_OFFSET);
        if !v.iter().all(|&x| fits(x)) {
            return false;
        }
        for x in v.iter_mut().filter(|x| **x != NO_OFFSET) {
            *x = shifted(*x).unwrap_or(NO_OFFSET);
        }
        enc.base = Some(g);
        true
    }
}

/// Request latencies of a block, in milliseconds, NaN for none.
///
/// A latency is read as a decimal (`duration_ms=13.66`, `0.012` seconds): kept as its digits
/// (a u32) and the block's decimals and unit, it reads back as the same `f64` the request
/// reader computed (the same division, then the same unit conversion; each push checks it).
/// Half the memory of an `f64`.
pub type Latencies = Packed<LatencyScale>;

/// Compact latencies: `unit.to_ms(n / 10^k)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyScale {
    /// Decimals.
    pub k: u8,
    /// The unit; `None` before the first latency.
    pub unit: Option<Unit>,
    /// Whether the unit changed once already (it may change once: see `push_slow`).
    switched: bool,
}

/// The latency `n` stands for with `k` decimals in `unit`.
#[inline]
pub fn decode_latency(n: u32, k: u8, unit: Unit) -> f64 {
    if n == NO_LATENCY {
        return f64::NAN;
    }
    unit.to_ms(f64::from(n) / POW10[usize::from(k)])
        .unwrap_or(f64::NAN)
}

/// The digits that read back as exactly `x` with `k` decimals in `unit`.
#[inline]
fn encode_latency(x: f64, k: u8, unit: Unit) -> Option<u32> {
    let p = POW10[usize::from(k)];
    let raw = match unit {
        Unit::Ms => x * p,
        Unit::S => x / 1000.0 * p,
        Unit::Us => x * 1000.0 * p,
        Unit::Ns => x * 1e6 * p,
        Unit::Value => return None,
    }
    .round();
    if !(0.0..f64::from(NO_LATENCY)).contains(&raw) {
        return None;
    }
    let n = raw as u32;
    (decode_latency(n, k, unit).to_bits() == x.to_bits()).then_some(n)
}

/// The fewest decimals, in `prefer` or else the first unit that can, that hold `x` exactly.
fn latency_encoding(x: f64, prefer: Option<Unit>) -> Option<(u8, Unit, u32)> {
    let units = [Unit::Ms, Unit::S, Unit::Us, Unit::Ns];
    let one;
    let units = match prefer {
        Some(u) => {
            one = [u];
            &one[..]
        }
        None => &units[..],
    };
    units
        .iter()
        .find_map(|&u| (0..=MAX_DECIMALS).find_map(|k| encode_latency(x, k, u).map(|n| (k, u, n))))
}

/// Whether every digit times `10^by` fits, and that factor.
fn fits(v: &[u32], by: u8) -> (bool, u32) {
    let f = 10u64.pow(u32::from(by));
    let ok = by == 0
        || v.iter()
            .all(|&n| n == NO_LATENCY || u64::from(n) * f < u64::from(NO_LATENCY));
    (ok, f as u32)
}

/// Multiplies the digits by `10^by`, unless one would not fit.
fn rescale(v: &mut [u32], by: u8) -> bool {
    let (ok, f) = fits(v, by);
    if ok && by > 0 {
        for n in v.iter_mut().filter(|n| **n != NO_LATENCY) {
            *n *= f;
        }
    }
    ok
}

impl Encoding for LatencyScale {
    type Narrow = u32;
    type Wide = f64;
    const NONE: u32 = NO_LATENCY;
    const NONE_WIDE: f64 = f64::NAN;

    fn decode(&self, n: u32) -> f64 {
        self.unit.map_or(f64::NAN, |u| decode_latency(n, self.k, u))
    }

    #[inline]
    fn push(&mut self, v: &mut Vec<u32>, x: f64) -> bool {
        if let Some(n) = self.unit.and_then(|u| encode_latency(x, self.k, u)) {
            v.push(n);
            return true;
        }
        self.push_slow(v, x)
    }

    fn append(&mut self, v: &mut Vec<u32>, o: &LatencyScale, ov: &[u32]) -> bool {
        let (u1, u2) = (self.unit, o.unit);
        if !(u1.is_none() || u2.is_none() || u1 == u2) {
            return false;
        }
        let k = self.k.max(o.k);
        let (ok, f) = fits(ov, k - o.k);
        if !ok || !rescale(v, k - self.k) {
            return false;
        }
        self.k = k;
        self.unit = u1.or(u2);
        match f {
            1 => v.extend_from_slice(ov),
            f => v.extend(ov.iter().map(|&n| if n == NO_LATENCY { n } else { n * f })),
        }
        true
    }
}

impl LatencyScale {
    /// A push that changes the encoding: the first latency sets the unit and decimals; one
    /// that needs more decimals or another unit (`0.000` seconds read as 0 ms first, then
    /// `0.013`) re-encodes the digits when they all read back the same; else the column
    /// widens. A block changes its encoding a few times at most.
    #[cold]
    fn push_slow(&mut self, v: &mut Vec<u32>, x: f64) -> bool {
        if self.unit.is_none() {
            if let Some((k, u, n)) = latency_encoding(x, None) {
                (self.k, self.unit) = (k, Some(u));
                v.push(n);
                return true;
            }
        } else if let Some((k, _, n)) = latency_encoding(x, self.unit).filter(|e| e.0 > self.k) {
            // More decimals in the same unit: the digits scale exactly.
            if rescale(v, k - self.k) {
                self.k = k;
                v.push(n);
                return true;
            }
        } else if let Some((k2, u2, n)) =
            latency_encoding(x, None).filter(|e| !self.switched && Some(e.1) != self.unit)
        {
            let (k1, u1) = (self.k, self.unit.unwrap_or(u2));
            let again: Option<Vec<u32>> = v
                .iter()
                .map(|&d| match d {
                    NO_LATENCY => Some(d),
                    d => encode_latency(decode_latency(d, k1, u1), k2, u2),
                })
                .collect();
            if let Some(again) = again {
                (self.k, self.unit, *v, self.switched) = (k2, Some(u2), again, true);
                v.push(n);
                return true;
            }
        }
        false
    }
}

impl Latencies {
    /// Makes the digits have `to` decimals (more than now), unless one would not fit.
    fn rescale_to(&mut self, to: u8) -> bool {
        match self {
            Packed::Compact { enc, v } if enc.k <= to => {
                let ok = rescale(v, to - enc.k);
                if ok {
                    enc.k = to;
                }
                ok
            }
            _ => false,
        }
    }

    /// The unit and decimals, when the column is compact.
    pub fn scale(&self) -> Option<(Option<Unit>, u8)> {
        match self {
            Packed::Compact { enc, .. } => Some((enc.unit, enc.k)),
            Packed::Wide(_) => None,
        }
    }
}

/// A block of request columns.
#[derive(Debug, Default, Clone)]
pub struct RequestBlock {
    /// Times.
    pub time: Times,
    /// Index into [`RequestRows::endpoints`].
    pub endpoint: Vec<u32>,
    /// HTTP status.
    pub status: Vec<u16>,
    /// Latencies.
    pub latency: Latencies,
}

impl RequestBlock {
    /// Number of requests.
    pub fn len(&self) -> usize {
        self.endpoint.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.endpoint.is_empty()
    }

    /// Renumbers the endpoint ids: `remap[old]` is the new id.
    fn renumber(&mut self, remap: &[u32]) {
        for e in &mut self.endpoint {
            *e = remap[*e as usize];
        }
    }

    fn with_capacity(n: usize) -> RequestBlock {
        RequestBlock {
            time: Times::with_capacity(n),
            endpoint: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            latency: Latencies::with_capacity(n),
        }
    }

    /// Removes the rows at `rows` (ascending, distinct).
    fn remove_rows(&mut self, rows: impl Iterator<Item = usize>) {
        let mut keep = vec![true; self.len()];
        rows.for_each(|r| keep[r] = false);
        fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        fn packed<E: Encoding>(p: &mut Packed<E>, keep: &[bool]) {
            match p {
                Packed::Compact { v, .. } => retain(v, keep),
                Packed::Wide(v) => retain(v, keep),
            }
        }
        retain(&mut self.endpoint, &keep);
        retain(&mut self.status, &keep);
        packed(&mut self.time, &keep);
        packed(&mut self.latency, &keep);
    }

    fn append(&mut self, o: &RequestBlock) {
        self.time.append(&o.time);
        self.endpoint.extend_from_slice(&o.endpoint);
        self.status.extend_from_slice(&o.status);
        self.latency.append(&o.latency);
    }
}

/// Request columns, block after block in input order.
///
/// A chunk's rows stay in the block its worker wrote: concatenating the chunks' summaries
/// moves blocks and renumbers endpoint ids in place, and the polars frame takes the blocks as
/// its columns' chunks: copying the rows of a 1 GiB log into one set of columns faulted in
/// 108 MB of fresh pages for nothing.
#[derive(Debug, Default, Clone)]
pub struct RequestRows {
    /// The blocks; `push` appends to the last.
    pub blocks: Vec<RequestBlock>,
    /// Endpoint names, `METHOD /path/{id}`.
    pub endpoints: Vec<String>,
    // FxHash: SipHash of the keys was 3% of a one-thread run (perf, 200 MB log).
    index: FxHashMap<Vec<u8>, u32>,
    scratch: Vec<u8>,
    /// Endpoints whose path is its own key (no id, no query), by a hash of the raw method
    /// and path: the id of `METHOD /path`, whose name is those bytes, or `u32::MAX`. See
    /// [`RequestRows::push`]. Ids only: a table of owned keys was a tenth of the time of a
    /// directory of small files, each filling and dropping its own.
    canonical: Vec<u32>,
    /// Requests whose latency field had no unit and no configured unit (or was not a number).
    pub unparsed_latency: u64,
    /// Requests without a latency field.
    pub missing_latency: u64,
    /// Access lines not counted: the second line of a request counted once (see
    /// [`super::pairing`]).
    pub paired: u64,
    /// Rows the first block is made room for (see [`RequestRows::expect`]).
    expected: usize,
}

impl RequestRows {
    /// Makes room for `rows` requests in the first block, when the first request comes: a
    /// chunk's columns then do not grow by doubling, each `realloc` copying them into fresh
    /// pages (23% of a 1 GiB log's page faults). Room that is not used is never touched, so
    /// it costs address space, not memory.
    pub fn expect(&mut self, rows: usize) {
        self.expected = rows;
    }

    /// Makes room for the requests of `bytes` bytes of log, at most one every 96 bytes (an
    /// access line with a short path and no latency is about 90 bytes).
    pub fn expect_bytes(&mut self, bytes: usize) {
        self.expect(bytes / 96);
    }

    /// Adds a request as the reader read it; a latency it could not read is counted.
    /// Returns its endpoint id.
    pub fn push_request(&mut self, t: Option<Nanos>, q: &Request<'_>) -> u32 {
        let latency = match q.latency {
            Latency::Ms(v) => Some(v),
            Latency::Unparsed => {
                self.unparsed_latency += 1;
                None
            }
            Latency::Missing => {
                self.missing_latency += 1;
                None
            }
        };
        self.push(t, q.method, q.path, q.status, latency)
    }

    /// Adds one request; returns its endpoint id.
    pub fn push(
        &mut self,
        t: Option<Nanos>,
        method: &[u8],
        path: &[u8],
        status: u16,
        latency: Option<f64>,
    ) -> u32 {
        // Most requests go to a few endpoints whose path has no id (`/api/v1/health`,
        // `/api/v1/pam/chat`: 69% of a `genlog.py` log's requests): their raw method and
        // path are the key, found in a small direct-mapped table by a hash of the raw bytes
        // without building the key and hashing it again. Paths that are not their own key
        // (ids, queries) never enter it, so they cannot evict the usual endpoints. A hit costs
        // about a tenth of building and looking up the key.
        let m = method.len();
        let slot = canonical_slot(method, path);
        if let Some(&id) = self.canonical.get(slot) {
            if let Some(raw) = self.endpoints.get(id as usize).map(String::as_bytes) {
                if raw.len() == m + 1 + path.len()
                    && same_bytes(&raw[m + 1..], path)
                    && same_bytes(&raw[..m], method)
                {
                    self.push_row(t, id, status, latency);
                    return id;
                }
            }
        }
        endpoint_key(method, path, &mut self.scratch);
        let id = match self.index.get(self.scratch.as_slice()) {
            Some(&id) => id,
            None => {
                let id = self.endpoints.len() as u32;
                self.endpoints
                    .push(String::from_utf8_lossy(&self.scratch).into_owned());
                self.index.insert(self.scratch.clone(), id);
                id
            }
        };
        // The name is the raw bytes (not a lossy copy of bytes that are not UTF-8).
        if self.scratch.len() == m + 1 + path.len()
            && self.scratch[m + 1..] == *path
            && self.endpoints[id as usize].as_bytes() == self.scratch.as_slice()
        {
            if self.canonical.is_empty() {
                self.canonical.resize(CANONICAL_SLOTS, u32::MAX);
            }
            self.canonical[slot] = id;
        }
        self.push_row(t, id, status, latency);
        id
    }

    /// Adds one request of the endpoint named `name` (a key as [`endpoint_key`] writes it).
    pub(crate) fn push_named(
        &mut self,
        t: Option<Nanos>,
        name: &str,
        status: u16,
        latency: Option<f64>,
    ) -> u32 {
        let id = self.intern(name);
        self.push_row(t, id, status, latency);
        id
    }

    /// Row `i`'s time ([`NO_TIME`] for none), endpoint id and status.
    pub(crate) fn row(&self, mut i: usize) -> (i64, u32, u16) {
        for b in &self.blocks {
            if i < b.len() {
                return (b.time.get(i), b.endpoint[i], b.status[i]);
            }
            i -= b.len();
        }
        panic!("row {i} past the end")
    }

    /// Removes the rows at `rows` (ascending, distinct); counters are left as they are.
    pub(crate) fn remove_rows(&mut self, rows: &[u32]) {
        let mut start = 0usize;
        let mut rest = rows;
        for b in &mut self.blocks {
            let n = b.len();
            let cut = rest.partition_point(|&r| (r as usize) < start + n);
            let (mine, after) = rest.split_at(cut);
            if !mine.is_empty() {
                b.remove_rows(mine.iter().map(|&r| r as usize - start));
            }
            rest = after;
            start += n;
        }
    }

    #[inline]
    fn push_row(&mut self, t: Option<Nanos>, id: u32, status: u16, latency: Option<f64>) {
        if self.blocks.is_empty() {
            self.blocks.push(RequestBlock::with_capacity(self.expected));
        }
        let b = self.blocks.last_mut().expect("one block at least");
        b.time.push(t);
        b.endpoint.push(id);
        b.status.push(status);
        b.latency.push(latency);
    }

    /// Number of requests.
    pub fn len(&self) -> usize {
        self.blocks.iter().map(RequestBlock::len).sum()
    }

    /// Gives every block's times one base and every block's latencies one unit and number of
    /// decimals, or makes the column wide in every block, so the frame's columns read one
    /// way. Returns the base when times are [`Times::Ms`] offsets from it, and the unit and
    /// decimals when latencies are [`Latencies::Scaled`].
    pub fn unify(&mut self) -> (Option<i64>, Option<(Unit, u8)>) {
        let blocks = &mut self.blocks;
        let base = blocks.iter().find_map(|b| b.time.base());
        let g = base.unwrap_or(0);
        let time_ok = blocks
            .par_iter_mut()
            .map(|b| b.time.rebase(g))
            .collect::<Vec<bool>>()
            .into_iter()
            .all(|ok| ok);
        if !time_ok {
            blocks.par_iter_mut().for_each(|b| b.time.widen());
        }
        let scales: Vec<_> = blocks.iter().map(|b| b.latency.scale()).collect();
        let unit = scales.iter().flatten().find_map(|(u, _)| *u);
        let k = scales.iter().flatten().map(|(_, k)| *k).max().unwrap_or(0);
        let same_unit = scales
            .iter()
            .all(|s| matches!(s, Some((u, _)) if u.is_none() || *u == unit));
        let latency_ok = same_unit
            && blocks
                .par_iter_mut()
                .map(|b| b.latency.rescale_to(k))
                .collect::<Vec<bool>>()
                .into_iter()
                .all(|ok| ok);
        if !latency_ok {
            blocks.par_iter_mut().for_each(|b| b.latency.widen());
        }
        (
            time_ok.then_some(g),
            latency_ok.then(|| (unit.unwrap_or(Unit::Ms), k)),
        )
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.blocks.iter().all(RequestBlock::is_empty)
    }

    /// Whether nothing was pushed or counted, and no endpoint is known.
    pub(crate) fn is_blank(&self) -> bool {
        self.is_empty()
            && self.endpoints.is_empty()
            && self.unparsed_latency == 0
            && self.missing_latency == 0
            && self.paired == 0
    }

    /// Appends `o`, remapping its endpoint ids: into an empty summary its blocks move, else
    /// its rows are copied onto the end of the last block (a stream merges one block's rows
    /// at a time: they grow one set of columns in place, as they would be read into one).
    pub fn merge(&mut self, mut o: RequestRows) {
        if self.is_empty() && self.endpoints.is_empty() {
            RequestRows::concat_into(self, vec![o]);
            return;
        }
        let remap: Vec<u32> = o.endpoints.iter().map(|name| self.intern(name)).collect();
        self.unparsed_latency += o.unparsed_latency;
        self.missing_latency += o.missing_latency;
        self.paired += o.paired;
        for b in &mut o.blocks {
            b.renumber(&remap);
            match self.blocks.last_mut() {
                Some(last) => last.append(b),
                None => self.blocks.push(std::mem::take(b)),
            }
        }
    }

    /// Concatenates `parts` in order, remapping endpoint ids, as successive [`merge`]s would.
    ///
    /// [`merge`]: RequestRows::merge
    pub fn concat(parts: Vec<RequestRows>) -> RequestRows {
        let mut out = RequestRows::default();
        RequestRows::concat_into(&mut out, parts);
        out
    }

    /// Appends `parts` to `out`: endpoint ids renumbered in place (in parallel), blocks moved;
    /// a small block is copied onto the end of the block before it.
    fn concat_into(out: &mut RequestRows, parts: Vec<RequestRows>) {
        let mut parts: Vec<RequestRows> = parts.into_iter().filter(|p| !p.is_blank()).collect();
        // Into nothing, the first part moves: its ids are the ones interning would give.
        if out.is_blank() && !parts.is_empty() {
            let expected = out.expected;
            *out = parts.remove(0);
            out.blocks.retain(|b| !b.is_empty());
            out.expected = out.expected.max(expected);
        }
        let remaps: Vec<Vec<u32>> = parts
            .iter()
            .map(|p| {
                out.unparsed_latency += p.unparsed_latency;
                out.missing_latency += p.missing_latency;
                out.paired += p.paired;
                p.endpoints.iter().map(|name| out.intern(name)).collect()
            })
            .collect();
        let renumber = |(p, remap): (&mut RequestRows, &Vec<u32>)| {
            if remap.iter().enumerate().any(|(i, &j)| i as u32 != j) {
                p.blocks.iter_mut().for_each(|b| b.renumber(remap));
            }
        };
        // A rayon task per part only pays where there are rows to renumber.
        if parts.iter().map(RequestRows::len).sum::<usize>() >= PARALLEL_ROWS {
            parts
                .par_iter_mut()
                .zip(remaps.par_iter())
                .for_each(renumber);
        } else {
            parts.iter_mut().zip(remaps.iter()).for_each(renumber);
        }
        for p in parts {
            for b in p.blocks {
                match out.blocks.last_mut() {
                    _ if b.is_empty() => {}
                    Some(last) if b.len() < SMALL_BLOCK => last.append(&b),
                    _ => out.blocks.push(b),
                }
            }
        }
    }

    fn intern(&mut self, name: &str) -> u32 {
        match self.index.get(name.as_bytes()) {
            Some(&id) => id,
            None => {
                let id = self.endpoints.len() as u32;
                self.endpoints.push(name.to_string());
                self.index.insert(name.as_bytes().to_vec(), id);
                id
            }
        }
    }
}

/// Rows past which renumbering the parts of a concatenation is spread over the threads.
const PARALLEL_ROWS: usize = 1 << 16;

/// Slots of [`RequestRows`]'s table of endpoints that are their own key.
const CANONICAL_SLOTS: usize = 256;

/// The slot of a raw method and path in that table: their lengths, the method's first byte
/// and the path's last eight bytes (paths often share their first bytes, `/api/v1/`).
#[inline]
fn canonical_slot(method: &[u8], path: &[u8]) -> usize {
    let n = path.len();
    let tail = if n >= 8 {
        u64::from_le_bytes(path[n - 8..].try_into().expect("8 bytes"))
    } else {
        path.iter().fold(0u64, |h, &c| h << 8 | u64::from(c))
    };
    let h = tail
        ^ (n as u64) << 40
        ^ (method.len() as u64) << 48
        ^ u64::from(method.first().copied().unwrap_or(0)) << 56;
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % CANONICAL_SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::endpoint::tests::reference_key;

    proptest::proptest! {
        /// Every row's endpoint is its method and path's key, whether the table of
        /// canonical endpoints found it or not: paths that are their own key, ids and
        /// queries, methods of other lengths or the same, far more paths than slots (so
        /// they collide), repeated in any order.
        #[test]
        fn canonical_table_gives_each_row_its_key(
            picks in proptest::collection::vec((0usize..4, 0usize..600, 0usize..3), 1..3000)
        ) {
            // PATCH and PURGE: the same length and first byte, so the same slot.
            let methods: [&[u8]; 4] = [b"GET", b"PATCH", b"PURGE", b"G"];
            let path = |i: usize, form: usize| match form {
                0 => format!("/api/v1/r{i}/x"),
                1 => format!("/api/v1/r/{i}"),
                _ => format!("/a{}?q={i}", i % 7),
            };
            let mut rows = RequestRows::default();
            let mut want = Vec::new();
            for &(m, i, form) in &picks {
                let p = path(i, form);
                rows.push(None, methods[m], p.as_bytes(), 200, Some(1.0));
                want.push(String::from_utf8(reference_key(methods[m], p.as_bytes())).unwrap());
            }
            let got: Vec<&str> = rows
                .blocks
                .iter()
                .flat_map(|b| b.endpoint.iter().map(|&e| rows.endpoints[e as usize].as_str()))
                .collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn canonical_table_keeps_raw_bytes_apart_from_their_lossy_name() {
        let mut rows = RequestRows::default();
        let raw: &[u8] = b"/caf\xe9";
        let lossy = "/caf\u{fffd}";
        for p in [raw, lossy.as_bytes(), raw, lossy.as_bytes(), b"/ok", b"/ok"] {
            rows.push(None, b"GET", p, 200, None);
        }
        let ids: Vec<u32> = rows
            .blocks
            .iter()
            .flat_map(|b| b.endpoint.clone())
            .collect();
        // Two keys with one printed name stay two endpoints, each row with its own.
        assert_eq!(ids, vec![0, 1, 0, 1, 2, 2]);
        assert_eq!(rows.endpoints[0], rows.endpoints[1]);
        // After a merge the table still points at the right names.
        let mut other = RequestRows::default();
        other.push(None, b"GET", b"/new", 200, None);
        rows.merge(other);
        rows.push(None, b"GET", b"/ok", 200, None);
        rows.push(None, b"GET", b"/new", 200, None);
        let ids: Vec<u32> = rows
            .blocks
            .iter()
            .flat_map(|b| b.endpoint.clone())
            .collect();
        assert_eq!(&ids[6..], &[3, 2, 3]);
    }

    #[test]
    fn merge_remaps_endpoints() {
        let mut a = RequestRows::default();
        a.push(Some(1), b"GET", b"/a", 200, Some(1.0));
        let mut b = RequestRows::default();
        b.push(Some(2), b"GET", b"/b", 500, None);
        b.push(Some(3), b"GET", b"/a", 200, Some(2.0));
        a.merge(b);
        assert_eq!(a.endpoints, vec!["GET /a", "GET /b"]);
        let ids: Vec<u32> = a.blocks.iter().flat_map(|b| b.endpoint.clone()).collect();
        assert_eq!(ids, vec![0, 1, 0]);
        let latency: Vec<f64> = a
            .blocks
            .iter()
            .flat_map(|b| (0..b.len()).map(|i| b.latency.get(i)))
            .collect();
        assert_eq!(latency[0], 1.0);
        assert!(latency[1].is_nan());
        assert_eq!(latency[2], 2.0);
    }

    /// A latency as the request reader computes it: `digits` with `frac` decimals in `unit`.
    fn parsed(digits: u64, frac: usize, unit: Unit) -> f64 {
        unit.to_ms(digits as f64 / 10f64.powi(frac as i32)).unwrap()
    }

    /// Python logging's times (whole milliseconds) and `duration_ms=13.66`, or nginx's
    /// seconds (`0.012`): the compact columns, 14 bytes a request.
    #[test]
    fn usual_logs_stay_compact() {
        let mut ms = RequestRows::default();
        let mut s = RequestRows::default();
        for i in 0..10_000u64 {
            let t = 1_736_488_800_000_000_000 + (i as i64) * 7 * MS;
            // 13.6, 13.66 and 13 are all 2 decimals' digits.
            ms.push(
                Some(t),
                b"GET",
                b"/a",
                200,
                Some(parsed(1300 + i % 77, 2, Unit::Ms)),
            );
            s.push(
                Some(t),
                b"GET",
                b"/a",
                200,
                Some(parsed(i % 20_000, 3, Unit::S)),
            );
        }
        for rows in [&ms, &s] {
            let b = &rows.blocks[0];
            assert!(matches!(b.time, Packed::Compact { .. }));
            assert!(matches!(b.latency, Packed::Compact { .. }));
        }
        assert_eq!(ms.blocks[0].latency.scale(), Some((Some(Unit::Ms), 2)));
        assert_eq!(s.blocks[0].latency.scale(), Some((Some(Unit::S), 3)));
        // A time with microseconds, and a latency that is no decimal, widen their column.
        ms.push(
            Some(1_736_488_800_000_001_000),
            b"GET",
            b"/a",
            200,
            Some(1.0 / 3.0),
        );
        let b = &ms.blocks[0];
        assert!(matches!(b.time, Packed::Wide(_)));
        assert!(matches!(b.latency, Packed::Wide(_)));
        assert_eq!(b.time.get(10_000), 1_736_488_800_000_001_000);
        assert_eq!(b.latency.get(10_000), 1.0 / 3.0);
        assert_eq!(b.latency.get(1), 13.01);
    }

    /// A pushed time or latency, from the usual kinds and the unusual.
    fn value() -> impl proptest::strategy::Strategy<Value = (Option<i64>, Option<f64>)> {
        use proptest::prelude::*;
        let base = 1_736_488_800_000_000_000i64;
        let time = prop_oneof![
            Just(None),
            (0i64..5_000_000).prop_map(move |ms| Some(base + ms * MS)),
            (-3_000_000_000i64..3_000_000_000).prop_map(move |ms| Some(base + ms * MS)),
            (0i64..5_000_000_000).prop_map(move |us| Some(base + us * 1000)),
            (0i64..5_000_000_000).prop_map(move |ns| Some(base + ns)),
            any::<i64>()
                .prop_filter("a time", |t| *t != NO_TIME)
                .prop_map(Some),
        ];
        let unit = prop_oneof![
            Just(Unit::Ms),
            Just(Unit::S),
            Just(Unit::Us),
            Just(Unit::Ns)
        ];
        let latency = prop_oneof![
            Just(None),
            (0u64..2_000_000, 0usize..4).prop_map(|(d, f)| Some(parsed(d, f, Unit::Ms))),
            (0u64..20_000, 0usize..7, unit).prop_map(|(d, f, u)| Some(parsed(d, f, u))),
            (0u64..u64::MAX, 0usize..12).prop_map(|(d, f)| Some(parsed(d, f, Unit::Ms))),
            (0f64..1e12).prop_map(Some),
        ];
        (time, latency)
    }

    fn pushed(values: &[(Option<i64>, Option<f64>)]) -> RequestRows {
        let mut r = RequestRows::default();
        for &(t, l) in values {
            r.push(t, b"GET", b"/", 200, l);
        }
        r
    }

    /// Every row of `rows` as pushed: times in nanoseconds, latencies' bits.
    fn read_back(rows: &RequestRows) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        for b in &rows.blocks {
            for i in 0..b.len() {
                out.push((b.time.get(i), b.latency.get(i).to_bits()));
            }
        }
        out
    }

    fn expected(values: &[(Option<i64>, Option<f64>)]) -> Vec<(i64, u64)> {
        values
            .iter()
            .map(|(t, l)| (t.unwrap_or(NO_TIME), l.unwrap_or(f64::NAN).to_bits()))
            .collect()
    }

    proptest::proptest! {
        /// Whatever is pushed reads back bit for bit: pushed into one block, appended block
        /// to block (as a stream merges), and after the blocks are given one base and scale.
        #[test]
        fn compact_columns_lose_nothing(
            parts in proptest::collection::vec(proptest::collection::vec(value(), 0..40), 1..5)
        ) {
            let all: Vec<_> = parts.concat();
            let one = pushed(&all);
            proptest::prop_assert_eq!(read_back(&one), expected(&all));
            let mut merged = RequestRows::default();
            for p in &parts {
                merged.merge(pushed(p));
            }
            proptest::prop_assert_eq!(read_back(&merged), expected(&all));
            let mut blocks = RequestRows::concat(parts.iter().map(|p| pushed(p)).collect());
            let (base, scale) = blocks.unify();
            proptest::prop_assert_eq!(read_back(&blocks), expected(&all));
            for b in &blocks.blocks {
                match &b.time {
                    Packed::Compact { enc, .. } => {
                        let b = enc.base;
                        proptest::prop_assert!(base.is_some() && b.is_none_or(|b| Some(b) == base))
                    }
                    Packed::Wide(_) => proptest::prop_assert!(base.is_none()),
                }
                match (b.latency.scale(), scale) {
                    (Some((u, k)), Some((unit, k2))) => {
                        proptest::prop_assert!(k == k2 && u.is_none_or(|u| u == unit))
                    }
                    (None, None) => {}
                    (a, b) => proptest::prop_assert!(false, "{a:?} {b:?}"),
                }
            }
        }
    }
}
