//! Frequency and latency trends: per-bucket timeline, per-endpoint latency, the statistics
//! of incident windows and the findings by source, queried from the [`Frames`].
//!
//! The quantiles of buckets, endpoints and windows are taken on one buffer of stored values
//! each ([`linear_quantiles`], polars' `linear` to the bit).

use std::collections::BTreeMap;

use polars::prelude::*;

use super::frames::Frames;
use super::requests::decode_latency;
use super::rows::{EndpointReport, SourceReport, TimelineBucket};
use crate::framing::format_rfc3339;

/// Runs `$body` with `$c` bound to the latency column `$latency` (a Series) as stored, `$cmp`
/// its order and `$ms` its reading in milliseconds: compact digits or f64 milliseconds (see
/// [`Frames::latency_scale`]). The one place that choice is made for the quantiles, which
/// are taken on the values as stored.
macro_rules! with_latency {
    ($f:expr, $latency:expr, |$c:ident, $cmp:ident, $ms:ident| $body:expr) => {
        match $f.latency_scale {
            Some((unit, k)) => {
                let $c = $latency.u32()?;
                let $cmp = <u32 as Ord>::cmp;
                let $ms = move |d: u32| decode_latency(d, k, unit);
                $body
            }
            None => {
                let $c = $latency.f64()?;
                let $cmp = f64::total_cmp;
                let $ms = |x: f64| x;
                $body
            }
        }
    };
}

fn u64_at(df: &DataFrame, name: &str, i: usize) -> PolarsResult<u64> {
    Ok(df
        .column(name)?
        .cast(&DataType::UInt64)?
        .u64()?
        .get(i)
        .unwrap_or(0))
}

fn i64_at(df: &DataFrame, name: &str, i: usize) -> PolarsResult<Option<i64>> {
    Ok(df.column(name)?.cast(&DataType::Int64)?.i64()?.get(i))
}

/// Latencies gathered at once for the endpoints' quantiles, at most: endpoints go in
/// batches (one endpoint at least), one pass over the requests a batch, so the memory the
/// quantiles take is bounded whatever the number of requests (8 M digits are 32 MB). Each
/// endpoint's latencies are gathered into a buffer of their own, as stored, and the
/// quantiles are taken there without another copy (polars copies its input for each
/// quantile). A 1 GiB log's requests fit one batch: smaller batches cost a pass each.
const ENDPOINT_BATCH: usize = 1 << 23;

/// The linear quantiles `qs` (between the closest ranks: polars' `linear`, numpy's default)
/// and the maximum of `values`, which are reordered, as milliseconds.
///
/// `ms` reads a value as milliseconds and must not decrease when the value increases (the
/// latency digits and f64 milliseconds both qualify): the order statistics are then taken
/// on the values as stored and only they are read back. One buffer serves every quantile,
/// where polars' quantile copies its input for each, and digits are half the size of f64:
/// for the incident window and the time after it (1.6 M requests each in a 1 GiB log) that
/// is 6 MB at the memory peak against 26 MB each. The interpolation is polars' to the bit
/// (`quantiles_are_polars_linear_to_the_bit`), so the report does not change.
fn linear_quantiles<T: Copy>(
    values: &mut [T],
    qs: &[f64],
    cmp: impl Fn(&T, &T) -> std::cmp::Ordering,
    ms: impl Fn(T) -> f64,
) -> (Vec<Option<f64>>, Option<f64>) {
    let n = values.len();
    // Everything before `from` is at most everything from it on: after the order statistic
    // at `lo` is selected, the next, higher rank is selected among the values above it only
    // (qs in increasing order: p95 among half the values, p99 among 5%, the maximum among
    // 1%), not among all the values again for each quantile.
    let mut from = 0;
    let mut quantile = |values: &mut [T], q: f64| {
        if n <= 1 {
            return values.first().map(|&v| ms(v));
        }
        let at = (n - 1) as f64 * q;
        let (lo, hi) = ((at as usize).min(n - 1), at.ceil() as usize);
        if lo < from {
            from = 0;
        }
        let (_, lower, rest) = values[from..].select_nth_unstable_by(lo - from, &cmp);
        from = lo;
        let lower = ms(*lower);
        if lo == hi {
            return Some(lower);
        }
        let upper = ms(*rest.iter().min_by(|a, b| cmp(a, b))?);
        Some(if lower == upper {
            lower
        } else {
            (at - lo as f64) * (upper - lower) + lower
        })
    };
    let out = qs.iter().map(|&q| quantile(values, q)).collect();
    let max = values[from..]
        .iter()
        .max_by(|a, b| cmp(a, b))
        .map(|&v| ms(v));
    (out, max)
}

/// The present latencies of `latency` (a slice of the column, or all of it), as stored.
fn present_values<T: PolarsNumericType>(latency: &ChunkedArray<T>) -> Vec<T::Native> {
    let mut out = Vec::with_capacity(latency.len() - latency.null_count());
    extend_present(&mut out, latency);
    out
}

/// Appends the present latencies of `latency` to `out`, as stored.
fn extend_present<T: PolarsNumericType>(out: &mut Vec<T::Native>, latency: &ChunkedArray<T>) {
    for c in latency.downcast_iter() {
        match c.validity() {
            None => out.extend_from_slice(c.values()),
            Some(v) => out.extend(
                c.values()
                    .iter()
                    .zip(v.iter())
                    .filter(|p| p.1)
                    .map(|p| *p.0),
            ),
        }
    }
}

/// p50/p95/p99 and max of each endpoint's latencies, endpoints in batches of about `batch`
/// latencies (see [`ENDPOINT_BATCH`]); `present[e]` is endpoint `e`'s number of latencies.
fn endpoint_latency<T: PolarsNumericType>(
    ids: &UInt32Chunked,
    latency: &ChunkedArray<T>,
    present: &[usize],
    batch: usize,
    cmp: impl Fn(&T::Native, &T::Native) -> std::cmp::Ordering + Copy,
    ms: impl Fn(T::Native) -> f64 + Copy,
) -> Vec<[Option<f64>; 4]> {
    let n = present.len();
    let mut stats = vec![[None; 4]; n];
    let mut first = 0;
    while first < n {
        let (mut end, mut size) = (first + 1, present[first]);
        while end < n && size + present[end] <= batch {
            size += present[end];
            end += 1;
        }
        let mut groups: Vec<Vec<T::Native>> = (first..end)
            .map(|e| Vec::with_capacity(present[e]))
            .collect();
        for (ids, latency) in ids.downcast_iter().zip(latency.downcast_iter()) {
            let (values, valid) = (latency.values(), latency.validity());
            for (row, &e) in ids.values().iter().enumerate() {
                let e = e as usize;
                if (first..end).contains(&e) && valid.is_none_or(|v| v.get_bit(row)) {
                    groups[e - first].push(values[row]);
                }
            }
        }
        for (e, mut g) in (first..end).zip(groups) {
            let (q, max) = linear_quantiles(&mut g, &[0.5, 0.95, 0.99], cmp, ms);
            stats[e] = [q[0], q[1], q[2], max];
        }
        first = end;
    }
    stats
}

/// Per endpoint: count, 5xx, p50/p95/p99/max latency. Sorted by count descending, then name.
pub fn endpoints(f: &Frames, names: &[String]) -> PolarsResult<Vec<EndpointReport>> {
    endpoints_in_batches(f, names, ENDPOINT_BATCH)
}

/// [`endpoints`], latencies gathered `batch` at a time (or one endpoint's, if more).
pub(crate) fn endpoints_in_batches(
    f: &Frames,
    names: &[String],
    batch: usize,
) -> PolarsResult<Vec<EndpointReport>> {
    let n = names.len();
    // One chunk per request block, in each column (the same blocks: the chunks line up).
    let mut ids = f.requests.column("endpoint_id")?.u32()?.clone();
    let mut is_5xx = f.requests.column("is_5xx")?.bool()?.clone();
    let mut latency = f
        .requests
        .column("latency")?
        .as_materialized_series()
        .clone();
    let aligned = ids.chunk_lengths().eq(is_5xx.chunk_lengths())
        && ids.chunk_lengths().eq(latency.chunk_lengths());
    if !aligned {
        ids = ids.rechunk().into_owned();
        is_5xx = is_5xx.rechunk().into_owned();
        latency = latency.rechunk();
    }
    let (mut requests, mut errors_5xx, mut present) = (vec![0u64; n], vec![0u64; n], vec![0; n]);
    for ((ids, is_5xx), latency) in ids
        .downcast_iter()
        .zip(is_5xx.downcast_iter())
        .zip(latency.chunks())
    {
        let (bits, valid) = (is_5xx.values(), latency.validity());
        for (row, &e) in ids.values().iter().enumerate() {
            let e = e as usize;
            requests[e] += 1;
            errors_5xx[e] += u64::from(bits.get_bit(row));
            present[e] += usize::from(valid.is_none_or(|v| v.get_bit(row)));
        }
    }
    let stats = with_latency!(f, latency, |c, cmp, ms| endpoint_latency(
        &ids, c, &present, batch, cmp, ms
    ));
    let mut out: Vec<EndpointReport> = (0..n)
        .filter(|&e| requests[e] > 0)
        .map(|e| {
            let [p50, p95, p99, max] = stats[e];
            EndpointReport {
                endpoint: names[e].clone(),
                count: requests[e],
                errors_5xx: errors_5xx[e],
                p50_ms: p50.map(round3),
                p95_ms: p95.map(round3),
                p99_ms: p99.map(round3),
                max_ms: max.map(round3),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.endpoint.cmp(&b.endpoint))
    });
    Ok(out)
}

/// Rounds to 3 decimals (microseconds), so the JSON does not show float noise.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `lf` with `time` as the nanoseconds `time`, without the rows that have none, and each
/// row's `bucket`.
fn bucketed(lf: LazyFrame, time: Expr, bucket_ns: i64) -> LazyFrame {
    lf.with_column(time.alias("time"))
        .filter(col("time").is_not_null())
        // Times are after 1970, so `t - t % b` is the floor.
        .with_column((col("time") - col("time") % lit(bucket_ns)).alias("bucket"))
}

/// One time bucket's requests: its start (nanoseconds), requests, 5xx and p50/p95/p99.
pub(crate) struct BucketRow {
    pub start: i64,
    pub requests: u64,
    pub errors_5xx: u64,
    pub quantiles: Vec<Option<f64>>,
}

/// The timeline's request rows.
///
/// The buckets of the timed requests (in time order) are runs of rows. One pass over the
/// times finds where each run ends (comparing each time with the next boundary, not dividing
/// each); then each run's latencies, as stored (digits or f64), are copied into one buffer
/// that every bucket reuses, and [`linear_quantiles`] takes the three quantiles there: about
/// half the time of polars' group-by on the runs.
fn sorted_buckets(f: &Frames, bucket_ns: i64) -> PolarsResult<Vec<BucketRow>> {
    if bucket_ns <= 0 {
        return Ok(Vec::new());
    }
    let n = f.timed.height();
    // Each run: its bucket's start, its first row and its end.
    let mut runs: Vec<(i64, usize, usize)> = Vec::new();
    let (mut next, mut row) = (i64::MIN, 0);
    f.each_time(|t| {
        if t >= next {
            let start = t - t.rem_euclid(bucket_ns);
            if let Some(last) = runs.last_mut() {
                last.2 = row;
            }
            runs.push((start, row, n));
            next = start.saturating_add(bucket_ns);
        }
        row += 1;
        Ok(())
    })?;
    let is_5xx = f.timed.column("is_5xx")?.bool()?;
    let latency = f.timed.column("latency")?.as_materialized_series();
    Ok(with_latency!(f, latency, |c, cmp, ms| bucket_rows(
        &runs, is_5xx, c, cmp, ms
    )))
}

/// The rows of the buckets `runs` (see [`sorted_buckets`]).
fn bucket_rows<T: PolarsNumericType>(
    runs: &[(i64, usize, usize)],
    is_5xx: &BooleanChunked,
    latency: &ChunkedArray<T>,
    cmp: impl Fn(&T::Native, &T::Native) -> std::cmp::Ordering + Copy,
    ms: impl Fn(T::Native) -> f64 + Copy,
) -> Vec<BucketRow> {
    let mut values = Vec::new();
    runs.iter()
        .map(|&(start, first, end)| {
            let len = end - first;
            values.clear();
            extend_present(&mut values, &latency.slice(first as i64, len));
            let (quantiles, _) = linear_quantiles(&mut values, &[0.5, 0.95, 0.99], cmp, ms);
            BucketRow {
                start,
                requests: len as u64,
                errors_5xx: is_5xx.slice(first as i64, len).sum().unwrap_or(0) as u64,
                quantiles,
            }
        })
        .collect()
}

/// Per time bucket: requests, 5xx, error rate, p50/p95/p99, and count per signature.
/// Buckets with neither a request nor a signature are left out.
pub fn timeline(f: &Frames, bucket_ns: i64) -> PolarsResult<Timeline> {
    timeline_of(f, sorted_buckets(f, bucket_ns)?, bucket_ns)
}

/// [`timeline`] with the buckets' request rows `req` (in order of start) computed elsewhere.
pub(crate) fn timeline_of(
    f: &Frames,
    req: Vec<BucketRow>,
    bucket_ns: i64,
) -> PolarsResult<Timeline> {
    let sig = f
        .signature_counts(
            bucketed(f.events.clone().lazy(), col("time"), bucket_ns),
            &["bucket"],
        )
        .collect()?;
    let mut rows: BTreeMap<i64, TimelineBucket> = BTreeMap::new();
    let empty = |b: i64| TimelineBucket {
        bucket: format_rfc3339(b),
        requests: 0,
        errors_5xx: 0,
        error_rate: None,
        p50_ms: None,
        p95_ms: None,
        p99_ms: None,
        signatures: BTreeMap::new(),
    };
    for q in req {
        let r = rows.entry(q.start).or_insert_with(|| empty(q.start));
        r.requests = q.requests;
        r.errors_5xx = q.errors_5xx;
        r.error_rate = (r.requests > 0).then(|| round6(r.errors_5xx as f64 / r.requests as f64));
        r.p50_ms = q.quantiles[0].map(round3);
        r.p95_ms = q.quantiles[1].map(round3);
        r.p99_ms = q.quantiles[2].map(round3);
    }
    let names = sig.column("name")?.str()?.clone();
    for i in 0..sig.height() {
        let Some(b) = i64_at(&sig, "bucket", i)? else {
            continue;
        };
        let name = names.get(i).unwrap_or_default().to_string();
        let n = u64_at(&sig, "count", i)?;
        rows.entry(b)
            .or_insert_with(|| empty(b))
            .signatures
            .insert(name, n);
    }
    Ok(Timeline {
        starts: rows.keys().copied().collect(),
        buckets: rows.into_values().collect(),
    })
}

/// The timeline's buckets, and the start of each in nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Bucket starts, nanoseconds since the epoch, ascending.
    pub starts: Vec<i64>,
    /// The buckets, in the same order.
    pub buckets: Vec<TimelineBucket>,
}

/// Rounds to 6 decimals, for rates.
pub fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// The number of values before `x` in `time`, which is in order and without nulls: one
/// binary search in the chunk where `x` falls.
fn lower_bound<T>(time: &ChunkedArray<T>, x: i64) -> usize
where
    T: PolarsNumericType,
    T::Native: Into<i64>,
{
    let mut before = 0;
    for chunk in time.downcast_iter() {
        let v = chunk.values();
        if v.last().is_some_and(|&l| l.into() < x) {
            before += v.len();
        } else {
            return before + v.partition_point(|&t| t.into() < x);
        }
    }
    before
}

/// Requests, 5xx and p50/p99 latency of the requests in `[start, end)` (nanoseconds).
pub fn window(f: &Frames, start: i64, end: i64) -> PolarsResult<WindowStats> {
    let (is_5xx, latency) = (f.timed.column("is_5xx")?, f.timed.column("latency")?);
    let time = f.timed.column("time")?;
    let (a, b) = (f.time_key(start), f.time_key(end));
    // The window is a slice found by binary search, not a filter pass over every request.
    let (a, b) = match f.time_base {
        Some(_) => (lower_bound(time.i32()?, a), lower_bound(time.i32()?, b)),
        None => (lower_bound(time.i64()?, a), lower_bound(time.i64()?, b)),
    };
    let len = b.saturating_sub(a);
    let (is_5xx, latency) = (is_5xx.slice(a as i64, len), latency.slice(a as i64, len));
    let latency = latency.as_materialized_series();
    let (q, _) = with_latency!(f, latency, |c, cmp, ms| linear_quantiles(
        &mut present_values(c),
        &[0.5, 0.99],
        cmp,
        ms
    ));
    WindowStats::of(is_5xx.bool()?, &q)
}

/// Requests, 5xx and p50/p99 latency of every request, with a time or without.
pub fn overall(f: &Frames) -> PolarsResult<WindowStats> {
    let is_5xx = f.requests.column("is_5xx")?;
    let latency = f.requests.column("latency")?.as_materialized_series();
    let q = with_latency!(f, latency, |c, cmp, ms| histogram_quantiles(
        c,
        &[0.5, 0.99],
        cmp,
        ms
    ));
    WindowStats::of(is_5xx.bool()?, &q)
}

/// Calls `f` with each present value of `latency`, in order.
#[inline]
fn for_present<T: PolarsNumericType>(latency: &ChunkedArray<T>, f: &mut dyn FnMut(T::Native)) {
    for c in latency.downcast_iter() {
        match c.validity() {
            None => c.values().iter().for_each(|&v| f(v)),
            Some(valid) => c
                .values()
                .iter()
                .zip(valid.iter())
                .filter(|p| p.1)
                .for_each(|p| f(*p.0)),
        }
    }
}

/// A stored latency's place in the order of all of them, as an integer.
trait OrderKey: Copy {
    fn order_key(self) -> u64;
}

impl OrderKey for u32 {
    fn order_key(self) -> u64 {
        u64::from(self)
    }
}

impl OrderKey for f64 {
    /// `f64::total_cmp`'s order.
    fn order_key(self) -> u64 {
        let b = self.to_bits();
        if b >> 63 == 1 {
            !b
        } else {
            b | (1 << 63)
        }
    }
}

/// [`linear_quantiles`] of the present values of `latency`, to the bit, without a copy of
/// them all: a first pass counts the values by the high 16 bits of their order key, the
/// buckets holding the ranks needed are found in the counts, and a second pass gathers only
/// those buckets' values, where the ranks are selected. For all of a 1 GiB log's requests
/// that is a 512 KiB histogram and a few MB of values instead of a 20 MB copy.
fn histogram_quantiles<T>(
    latency: &ChunkedArray<T>,
    qs: &[f64],
    cmp: impl Fn(&T::Native, &T::Native) -> std::cmp::Ordering,
    ms: impl Fn(T::Native) -> f64,
) -> Vec<Option<f64>>
where
    T: PolarsNumericType,
    T::Native: OrderKey,
{
    let present = |f: &mut dyn FnMut(T::Native)| for_present(latency, f);
    let (mut n, mut lo_key, mut hi_key) = (0usize, u64::MAX, 0u64);
    present(&mut |v| {
        let k = v.order_key();
        n += 1;
        lo_key = lo_key.min(k);
        hi_key = hi_key.max(k);
    });
    if n <= 1 {
        let mut first = None;
        present(&mut |v| first = first.or(Some(v)));
        return qs.iter().map(|_| first.map(&ms)).collect();
    }
    // Buckets of the keys' range above the smallest, 2^16 of them at most.
    let span = hi_key - lo_key;
    let shift = (64 - span.leading_zeros()).saturating_sub(16);
    let bucket = |v: T::Native| ((v.order_key() - lo_key) >> shift) as usize;
    let mut counts = vec![0usize; ((span >> shift) + 1) as usize];
    present(&mut |v| counts[bucket(v)] += 1);
    // The ranks each quantile interpolates between, as in `linear_quantiles`.
    let ranks: Vec<(f64, usize, usize)> = qs
        .iter()
        .map(|&q| {
            let at = (n - 1) as f64 * q;
            (
                at,
                (at as usize).min(n - 1),
                (at.ceil() as usize).min(n - 1),
            )
        })
        .collect();
    // Each needed bucket, the rank of its first value, and its values.
    let mut starts = Vec::with_capacity(counts.len());
    let mut before = 0;
    for &c in &counts {
        starts.push(before);
        before += c;
    }
    let bucket_of = |r: usize| starts.partition_point(|&s| s <= r) - 1;
    let mut wanted: Vec<usize> = ranks
        .iter()
        .flat_map(|&(_, lo, hi)| [bucket_of(lo), bucket_of(hi)])
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut gathered: Vec<Vec<T::Native>> = wanted
        .iter()
        .map(|&b| Vec::with_capacity(counts[b]))
        .collect();
    present(&mut |v| {
        if let Ok(i) = wanted.binary_search(&bucket(v)) {
            gathered[i].push(v);
        }
    });
    let mut at_rank = |r: usize| {
        let b = bucket_of(r);
        let i = wanted.binary_search(&b).expect("a wanted bucket");
        let values = &mut gathered[i];
        *values.select_nth_unstable_by(r - starts[b], &cmp).1
    };
    ranks
        .iter()
        .map(|&(at, lo, hi)| {
            let lower = ms(at_rank(lo));
            if lo == hi {
                return Some(lower);
            }
            let upper = ms(at_rank(hi));
            Some(if lower == upper {
                lower
            } else {
                (at - lo as f64) * (upper - lower) + lower
            })
        })
        .collect()
}

/// Signature counts of the events in `[start, end)`, by id.
pub fn signatures_in(f: &Frames, start: i64, end: i64) -> PolarsResult<BTreeMap<String, u64>> {
    let events = f
        .events
        .clone()
        .lazy()
        .filter(col("time").gt_eq(lit(start)).and(col("time").lt(lit(end))));
    let df = f.signature_counts(events, &[]).collect()?;
    let names = df.column("name")?.str()?.clone();
    let mut out = BTreeMap::new();
    for i in 0..df.height() {
        out.insert(
            names.get(i).unwrap_or_default().to_string(),
            u64_at(&df, "count", i)?,
        );
    }
    Ok(out)
}

/// Per source (pod/container, dyno, service, unit, or file): records classified, signature
/// counts by id, exceptions without a signature, first and last time. Sorted by record count
/// descending, then source.
pub fn by_source(f: &Frames) -> PolarsResult<Vec<SourceReport>> {
    let df = f
        .events_sourced()
        .group_by([col("source"), col("kind"), col("name")])
        .agg([
            len().cast(DataType::UInt64).alias("count"),
            col("time").min().alias("first"),
            col("time").max().alias("last"),
        ])
        .collect()?;
    let sources = df.column("source")?.str()?.clone();
    let kinds = df.column("kind")?.str()?.clone();
    let names = df.column("name")?.str()?.clone();
    let mut rows: BTreeMap<String, SourceReport> = BTreeMap::new();
    let mut range: BTreeMap<String, (Option<i64>, Option<i64>)> = BTreeMap::new();
    for i in 0..df.height() {
        let source = sources.get(i).unwrap_or_default().to_string();
        let n = u64_at(&df, "count", i)?;
        let r = rows.entry(source.clone()).or_insert_with(|| SourceReport {
            source: source.clone(),
            records: 0,
            signatures: BTreeMap::new(),
            exceptions: 0,
            first_seen: None,
            last_seen: None,
        });
        r.records += n;
        if kinds.get(i) == Some("signature") {
            *r.signatures
                .entry(names.get(i).unwrap_or_default().to_string())
                .or_insert(0) += n;
        } else {
            r.exceptions += n;
        }
        let (first, last) = (i64_at(&df, "first", i)?, i64_at(&df, "last", i)?);
        let e = range.entry(source).or_insert((None, None));
        e.0 = match (e.0, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        e.1 = match (e.1, last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let mut out: Vec<SourceReport> = rows
        .into_iter()
        .map(|(k, mut r)| {
            let (first, last) = range[&k];
            r.first_seen = first.map(format_rfc3339);
            r.last_seen = last.map(format_rfc3339);
            r
        })
        .collect();
    out.sort_by(|a, b| {
        b.records
            .cmp(&a.records)
            .then_with(|| a.source.cmp(&b.source))
    });
    Ok(out)
}

/// Request statistics of a time window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowStats {
    /// Requests in the window.
    pub requests: u64,
    /// Of which 5xx.
    pub errors_5xx: u64,
    /// Median latency.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency.
    pub p99_ms: Option<f64>,
}

impl WindowStats {
    /// The statistics of requests whose 5xx flags are `is_5xx` and whose p50 and p99 are `q`.
    fn of(is_5xx: &BooleanChunked, q: &[Option<f64>]) -> PolarsResult<WindowStats> {
        Ok(WindowStats {
            requests: is_5xx.len() as u64,
            errors_5xx: is_5xx.sum().unwrap_or(0) as u64,
            p50_ms: q[0].map(round3),
            p99_ms: q[1].map(round3),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Unit;

    fn polars_linear(values: &[f64], q: f64) -> Option<f64> {
        Float64Chunked::from_slice("v".into(), values)
            .quantile(q, QuantileMethod::Linear)
            .unwrap()
    }

    fn bits(v: &[Option<f64>]) -> Vec<Option<u64>> {
        v.iter().map(|x| x.map(f64::to_bits)).collect()
    }

    proptest::proptest! {
        /// The endpoints' and windows' quantiles are polars' linear quantiles to the bit,
        /// on f64 milliseconds and on latency digits read back as milliseconds alike.
        #[test]
        fn quantiles_are_polars_linear_to_the_bit(
            digits in proptest::collection::vec(
                proptest::prop_oneof![0u32..50, 0u32..2_000_000, 0u32..u32::MAX],
                0..300,
            ),
            k in 0u8..7,
            unit in proptest::prop_oneof![
                proptest::strategy::Just(Unit::Ms),
                proptest::strategy::Just(Unit::S),
                proptest::strategy::Just(Unit::Us),
            ],
            extra in proptest::collection::vec(0f64..1.0, 0..4),
        ) {
            let ms = |d: u32| decode_latency(d, k, unit);
            let values: Vec<f64> = digits.iter().map(|&d| ms(d)).collect();
            let mut qs = vec![0.0, 0.5, 0.95, 0.99, 1.0];
            qs.extend(extra);
            let expected: Vec<Option<f64>> = qs.iter().map(|&q| polars_linear(&values, q)).collect();
            let max = values.iter().copied().reduce(f64::max);
            let (from_digits, max_d) = linear_quantiles(&mut digits.clone(), &qs, Ord::cmp, ms);
            let (from_ms, max_ms) = linear_quantiles(&mut values.clone(), &qs, f64::total_cmp, |x| x);
            proptest::prop_assert_eq!(bits(&from_digits), bits(&expected));
            proptest::prop_assert_eq!(bits(&from_ms), bits(&expected));
            proptest::prop_assert_eq!(max_d.map(f64::to_bits), max.map(f64::to_bits));
            // All requests' quantiles, gathered through the histogram, are the same bits.
            let mut with_nulls: Vec<Option<u32>> = digits.iter().map(|&d| Some(d)).collect();
            with_nulls.insert(with_nulls.len() / 2, None);
            let column = UInt32Chunked::from_iter_options("d".into(), with_nulls.into_iter());
            let from_hist = histogram_quantiles(&column, &qs, Ord::cmp, ms);
            proptest::prop_assert_eq!(bits(&from_hist), bits(&expected));
            let column = Float64Chunked::from_slice("v".into(), &values);
            let from_hist = histogram_quantiles(&column, &qs, f64::total_cmp, |x| x);
            proptest::prop_assert_eq!(bits(&from_hist), bits(&expected));
            proptest::prop_assert_eq!(max_ms.map(f64::to_bits), max.map(f64::to_bits));
        }
    }
}
