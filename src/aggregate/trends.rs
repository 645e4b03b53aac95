//! Frequency and latency trends with polars: the `events` and `requests` frames, per-bucket
//! timeline, per-endpoint latency, and the statistics of incident windows.
//!
//! polars stays in this module. The frames are built column by column from the summary's
//! vectors (never row by row), aggregated lazily, and turned into plain report structs.
//! Request latencies stay compact in the frame (see [`Frames::latency_scale`]); the
//! quantiles of buckets, endpoints and windows are taken on one buffer of stored values each
//! ([`linear_quantiles`], polars' `linear` to the bit). Buckets and windows are read from the
//! timed requests in time order ([`Frames::timed`]): runs and slices.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::requests::{decode_latency, Packed, RequestRows, MS, NO_LATENCY, NO_OFFSET, NO_TIME};
use super::rows::{EndpointReport, SourceReport, TimelineBucket};
use super::EventRow;
use crate::classify::{Catalog, Classification};
use crate::error::{AggregateError, BoxError};
use crate::extract::Unit;
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

/// The two frames of a run.
pub struct Frames {
    /// One row per classified record: time, class_id, source_id.
    pub events: DataFrame,
    /// One row per distinct classification: class_id, kind, name, variant, location.
    pub classes: DataFrame,
    /// One row per source: source_id, source.
    pub sources: DataFrame,
    /// One row per request: `time` (see [`Frames::time_base`]), `endpoint_id`, `is_5xx`,
    /// `latency` (see [`Frames::latency_scale`]).
    pub requests: DataFrame,
    /// The requests that have a time, in time order: `time`, `is_5xx`, `latency`. Time
    /// buckets are runs of it and a time window is a slice. A log read front to back has
    /// its requests in order, and this is `requests` itself; others are sorted once.
    pub timed: DataFrame,
    /// `Some(base)`: `time` is Int32, milliseconds after `base` (nanoseconds since the
    /// epoch); `None`: Int64 nanoseconds since the epoch.
    pub time_base: Option<i64>,
    /// `Some((unit, k))`: `latency` is UInt32 digits, `unit.to_ms(n / 10^k)` milliseconds
    /// each; `None`: Float64 milliseconds.
    pub latency_scale: Option<(Unit, u8)>,
    /// The HTTP statuses, block by block in the frame's order, for writing the frame out
    /// (the aggregation needs `is_5xx` only).
    status: Vec<Vec<u16>>,
}

/// A validity bitmap for `values` (`false` where `missing`), or `None` when nothing is.
fn validity<T>(values: &[T], missing: impl Fn(&T) -> bool) -> Option<Bitmap> {
    values
        .iter()
        .any(&missing)
        .then(|| values.iter().map(|v| !missing(v)).collect())
}

/// Builds the frames from the summary's columns.
///
/// The request columns move into the frame without a copy (`from_vec_validity`): building
/// them through `Vec<Option<_>>` cost 210 ms and 16 bytes a request at the memory peak for
/// the 4.9 M requests of a 1 GiB log (measured); this costs a few ms.
pub fn frames(
    req: RequestRows,
    events: &[Vec<EventRow>],
    catalog: &Catalog,
) -> PolarsResult<Frames> {
    // The two are independent: built side by side.
    let (requests, events) = rayon::join(|| request_frame(req), || event_frames(events, catalog));
    let requests = requests?;
    let (events, classes, sources) = events?;
    let timed = match requests.in_order {
        true => requests.df.clone(),
        false => requests
            .df
            .clone()
            .lazy()
            .select([col("time"), col("is_5xx"), col("latency")])
            .filter(col("time").is_not_null())
            .sort(
                ["time"],
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .collect()?,
    };
    Ok(Frames {
        events,
        classes,
        sources,
        timed,
        requests: requests.df,
        time_base: requests.time_base,
        latency_scale: requests.latency_scale,
        status: requests.status,
    })
}

struct RequestFrame {
    df: DataFrame,
    in_order: bool,
    time_base: Option<i64>,
    latency_scale: Option<(Unit, u8)>,
    status: Vec<Vec<u16>>,
}

/// The `requests` frame, and whether its times are all present and in order.
///
/// Every column takes the request blocks as its chunks, without a copy: the compact
/// columns stay compact (milliseconds as i32, latencies as their digits), and the status
/// becomes a bit a request (`is_5xx`), the statuses themselves kept aside for writing the
/// frame out. A 1 GiB log's 4.9 M requests take 70 MB here, against 118 MB as i64
/// nanoseconds, f64 milliseconds and a u32 status: that is what keeps a stream of it under
/// 200 MB. Latencies are read back as f64 milliseconds (the values the request reader
/// computed) batch by batch, group by group, where quantiles are taken.
fn request_frame(mut req: RequestRows) -> PolarsResult<RequestFrame> {
    let (time_base, latency_scale) = req.unify();
    let blocks: Vec<_> = req
        .blocks
        .into_par_iter()
        .map(|b| {
            // The first and last time (in the column's own kind), when all are present
            // and in order.
            let (time, ordered) = match b.time {
                Packed::Compact { v, .. } => {
                    let valid = validity(&v, |x| *x == NO_OFFSET);
                    let ordered = (valid.is_none() && v.is_sorted()).then(|| {
                        (
                            v.first().map(|&x| i64::from(x)),
                            v.last().map(|&x| i64::from(x)),
                        )
                    });
                    let t = Int32Chunked::from_vec_validity("time".into(), v, valid);
                    (t.into_series(), ordered)
                }
                Packed::Wide(v) => {
                    let valid = validity(&v, |x| *x == NO_TIME);
                    let ordered = (valid.is_none() && v.is_sorted())
                        .then(|| (v.first().copied(), v.last().copied()));
                    let t = Int64Chunked::from_vec_validity("time".into(), v, valid);
                    (t.into_series(), ordered)
                }
            };
            let is_5xx: Bitmap = b.status.iter().map(|&s| s >= 500).collect();
            let latency = match b.latency {
                Packed::Compact { v, .. } => {
                    let valid = validity(&v, |x| *x == NO_LATENCY);
                    UInt32Chunked::from_vec_validity("latency".into(), v, valid).into_series()
                }
                Packed::Wide(v) => {
                    let valid = validity(&v, |x| x.is_nan());
                    Float64Chunked::from_vec_validity("latency".into(), v, valid).into_series()
                }
            };
            (time, ordered, b.endpoint, is_5xx, latency, b.status)
        })
        .collect();
    let mut in_order = true;
    let mut prev = i64::MIN;
    let kind = |compact: bool, narrow, wide| if compact { narrow } else { wide };
    let time_type = kind(time_base.is_some(), DataType::Int32, DataType::Int64);
    let latency_type = kind(latency_scale.is_some(), DataType::UInt32, DataType::Float64);
    let mut time = Series::new_empty("time".into(), &time_type);
    let mut latency = Series::new_empty("latency".into(), &latency_type);
    let mut endpoint = UInt32Chunked::from_vec("endpoint_id".into(), Vec::new());
    let mut is_5xx = BooleanChunked::from_bitmap("is_5xx".into(), Bitmap::new());
    let mut status = Vec::new();
    for (t, ordered, e, x, l, s) in blocks {
        match ordered {
            Some((first, last)) => {
                in_order &= first.is_none_or(|f| f >= prev);
                prev = last.unwrap_or(prev);
            }
            None => in_order = false,
        }
        time.append_owned(t)?;
        endpoint.append_owned(UInt32Chunked::from_vec("endpoint_id".into(), e))?;
        is_5xx.append_owned(BooleanChunked::from_bitmap("is_5xx".into(), x))?;
        latency.append_owned(l)?;
        status.push(s);
    }
    if in_order {
        time.set_sorted_flag(polars::series::IsSorted::Ascending);
    }
    let df = DataFrame::new_infer_height(vec![
        time.into_column(),
        endpoint.into_column(),
        is_5xx.into_column(),
        latency.into_column(),
    ])?;
    Ok(RequestFrame {
        df,
        in_order,
        time_base,
        latency_scale,
        status,
    })
}

impl Frames {
    /// The `requests` frame as it is written out: `time` in nanoseconds, `endpoint_id`,
    /// `status` and `latency_ms`.
    fn requests_ms(&self) -> PolarsResult<DataFrame> {
        let status: Vec<u32> = self
            .status
            .iter()
            .flatten()
            .map(|&s| u32::from(s))
            .collect();
        DataFrame::new_infer_height(vec![
            self.requests.column("time")?.clone(),
            self.requests.column("endpoint_id")?.clone(),
            Column::new("status".into(), status),
            self.latency_ms(self.requests.column("latency")?)?,
        ])?
        .lazy()
        .with_column(self.time_ns().alias("time"))
        .collect()
    }

    /// `latency`, or a slice of it, as Float64 milliseconds in one chunk (a quantile of a
    /// multi-chunk column sorts it instead of selecting).
    fn latency_ms(&self, latency: &Column) -> PolarsResult<Column> {
        let Some((unit, k)) = self.latency_scale else {
            return Ok(latency.rechunk().with_name("latency_ms".into()));
        };
        let digits = latency.u32()?;
        let mut values = Vec::with_capacity(digits.len());
        for c in digits.downcast_iter() {
            values.extend(c.values().iter().map(|&n| decode_latency(n, k, unit)));
        }
        let valid = (digits.null_count() > 0).then(|| {
            digits
                .downcast_iter()
                .flat_map(|c| (0..c.len()).map(move |i| c.validity().is_none_or(|v| v.get_bit(i))))
                .collect::<Bitmap>()
        });
        Ok(Float64Chunked::from_vec_validity("latency_ms".into(), values, valid).into_column())
    }

    /// The `time` column as an Int64 nanoseconds expression.
    fn time_ns(&self) -> Expr {
        match self.time_base {
            Some(g) => col("time").cast(DataType::Int64) * lit(MS) + lit(g),
            None => col("time"),
        }
    }

    /// The `time` value of the first request at or after `ns` nanoseconds (a value of the
    /// column's own kind, as an i64).
    fn time_key(&self, ns: i64) -> i64 {
        match self.time_base {
            Some(g) => {
                let d = i128::from(ns) - i128::from(g);
                let ms = i128::from(MS);
                let o = d.div_euclid(ms) + i128::from(d.rem_euclid(ms) != 0);
                o.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
            }
            None => ns,
        }
    }

    /// Calls `each` with every timed request's time in nanoseconds, in order.
    fn each_time(&self, mut each: impl FnMut(i64) -> PolarsResult<()>) -> PolarsResult<()> {
        let t = self.timed.column("time")?;
        match self.time_base {
            Some(g) => {
                for c in t.i32()?.downcast_iter() {
                    for &o in c.values().iter() {
                        each(g + i64::from(o) * MS)?;
                    }
                }
            }
            None => {
                for c in t.i64()?.downcast_iter() {
                    for &x in c.values().iter() {
                        each(x)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The `events`, `classes` and `sources` frames.
fn event_frames(
    events: &[Vec<EventRow>],
    catalog: &Catalog,
) -> PolarsResult<(DataFrame, DataFrame, DataFrame)> {
    let n = events.iter().map(Vec::len).sum();
    // Events are dictionary-encoded: an incident repeats a handful of distinct
    // classifications hundreds of thousands of times, and building one string per row and
    // column cost 240 ms for the 280 k events of a 1 GiB log (measured), against a few ms here.
    let mut class_ids: FxHashMap<&Classification, u32> = FxHashMap::default();
    // Rows share their classification's allocation (one per distinct record a worker saw):
    // the pointer finds the id without hashing the classification's strings again.
    let mut by_ptr: FxHashMap<*const Classification, u32> = FxHashMap::default();
    let mut source_ids: FxHashMap<&str, u32> = FxHashMap::default();
    let (mut kinds, mut names, mut variants, mut locations) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut sources: Vec<String> = Vec::new();
    let mut time = Vec::with_capacity(n);
    let mut class_col = Vec::with_capacity(n);
    let mut source_col = Vec::with_capacity(n);
    for e in events.iter().flatten() {
        time.push(e.time);
        let c: &Classification = &e.class;
        let id = *by_ptr.entry(Arc::as_ptr(&e.class)).or_insert_with(|| {
            let next = class_ids.len() as u32;
            *class_ids.entry(c).or_insert_with(|| {
                match c.signature {
                    Some(i) => {
                        kinds.push("signature");
                        names.push(catalog.signatures[i].id.clone());
                    }
                    None => {
                        kinds.push("exception");
                        names.push(c.exception_type.clone().unwrap_or_default());
                    }
                }
                variants.push(c.variant.clone());
                locations.push(
                    c.location
                        .as_ref()
                        .map(|l| format!("{}:{}", l.file, l.line)),
                );
                next
            })
        });
        class_col.push(id);
        let next = source_ids.len() as u32;
        let sid = *source_ids.entry(&e.source).or_insert_with(|| {
            sources.push(e.source.to_string());
            next
        });
        source_col.push(sid);
    }
    let events = DataFrame::new_infer_height(vec![
        Column::new("time".into(), time),
        Column::new("class_id".into(), class_col),
        Column::new("source_id".into(), source_col),
    ])?;
    let classes = DataFrame::new_infer_height(vec![
        Column::new(
            "class_id".into(),
            (0..kinds.len() as u32).collect::<Vec<_>>(),
        ),
        Column::new("kind".into(), kinds),
        Column::new("name".into(), names),
        Column::new("variant".into(), variants),
        Column::new("location".into(), locations),
    ])?;
    let sources = DataFrame::new_infer_height(vec![
        Column::new(
            "source_id".into(),
            (0..sources.len() as u32).collect::<Vec<_>>(),
        ),
        Column::new("source".into(), sources),
    ])?;
    Ok((events, classes, sources))
}

impl Frames {
    /// The events with their class columns and their `source` name.
    fn events_sourced(&self) -> LazyFrame {
        self.events_named().join(
            self.sources.clone().lazy(),
            [col("source_id")],
            [col("source_id")],
            JoinArgs::new(JoinType::Left),
        )
    }

    /// Signature counts by `name` (`count`), grouped by `keys` and `name`: the events are
    /// counted by class id first and only the few groups are joined with their class
    /// (joining the 280 k events of a 1 GiB log to their class strings first took 40 ms of
    /// the timeline; this takes a few).
    fn signature_counts(&self, events: LazyFrame, keys: &[&str]) -> LazyFrame {
        let by_class: Vec<Expr> = keys.iter().chain(&["class_id"]).map(|k| col(*k)).collect();
        let by_name: Vec<Expr> = keys.iter().chain(&["name"]).map(|k| col(*k)).collect();
        let signatures = self
            .classes
            .clone()
            .lazy()
            .filter(col("kind").eq(lit("signature")))
            .select([col("class_id"), col("name")]);
        events
            .group_by(by_class)
            .agg([len().cast(DataType::UInt64).alias("count")])
            .join(
                signatures,
                [col("class_id")],
                [col("class_id")],
                JoinArgs::new(JoinType::Inner),
            )
            .group_by(by_name)
            .agg([col("count").sum()])
    }

    /// The events with their class columns (kind, name, variant, location).
    fn events_named(&self) -> LazyFrame {
        self.events.clone().lazy().join(
            self.classes.clone().lazy(),
            [col("class_id")],
            [col("class_id")],
            JoinArgs::new(JoinType::Left),
        )
    }
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
struct BucketRow {
    start: i64,
    requests: u64,
    errors_5xx: u64,
    quantiles: Vec<Option<f64>>,
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
    let req = sorted_buckets(f, bucket_ns)?;
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

fn round6(v: f64) -> f64 {
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
    let qs = [0.5, 0.99];
    let (q, _) = with_latency!(f, latency, |c, cmp, ms| linear_quantiles(
        &mut present_values(c),
        &qs,
        cmp,
        ms
    ));
    Ok(WindowStats {
        requests: is_5xx.len() as u64,
        errors_5xx: is_5xx.bool()?.sum().unwrap_or(0) as u64,
        p50_ms: q[0].map(round3),
        p99_ms: q[1].map(round3),
    })
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
#[derive(Debug, Clone, Copy, PartialEq)]
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

/// A column made of one field of each row.
fn column<T, V>(name: &str, rows: &[T], field: impl Fn(&T) -> V) -> Column
where
    Series: NamedFrom<Vec<V>, [V]>,
{
    Column::new(name.into(), rows.iter().map(field).collect::<Vec<V>>())
}

/// The `time` column as `Datetime(ns, UTC)`, so pandas, DuckDB and polars read real times.
fn with_datetime(df: DataFrame) -> PolarsResult<DataFrame> {
    df.lazy()
        .with_column(col("time").cast(DataType::Datetime(
            TimeUnit::Nanoseconds,
            Some(TimeZone::UTC),
        )))
        .collect()
}

/// File formats for the frames written by [`crate::Trends::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFormat {
    /// Comma-separated, with a header.
    Csv,
    /// Apache Parquet.
    Parquet,
}

/// Writes `events`, `requests` (with endpoint names), `timeline` and `endpoints` to `dir`,
/// one file each (`events.csv`, ...). Times are RFC 3339 strings in the timeline and
/// `Datetime(ns, UTC)` in the row frames.
pub fn write_frames(
    f: &Frames,
    names: &[String],
    timeline: &[TimelineBucket],
    endpoints: &[EndpointReport],
    dir: &Path,
    format: FrameFormat,
) -> Result<Vec<std::path::PathBuf>, AggregateError> {
    std::fs::create_dir_all(dir).map_err(|source| AggregateError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let (mut events, mut requests, mut tl, mut ep) =
        output_frames(f, names, timeline, endpoints)
            .map_err(AggregateError::query("preparing the frames for writing"))?;
    let (ext, label) = match format {
        FrameFormat::Csv => ("csv", "CSV"),
        FrameFormat::Parquet => ("parquet", "Parquet"),
    };
    let mut written = Vec::new();
    for (name, df) in [
        ("events", &mut events),
        ("requests", &mut requests),
        ("timeline", &mut tl),
        ("endpoints", &mut ep),
    ] {
        let path = dir.join(format!("{name}.{ext}"));
        let result = std::fs::File::create(&path)
            .map_err(BoxError::from)
            .and_then(|file| {
                match format {
                    FrameFormat::Csv => CsvWriter::new(file).include_header(true).finish(df)?,
                    FrameFormat::Parquet => {
                        ParquetWriter::new(file).finish(df)?;
                    }
                }
                Ok(())
            });
        result.map_err(|source| AggregateError::Write {
            path: path.clone(),
            frame: name,
            format: label,
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// The four frames as written: rows sorted, times as datetimes.
fn output_frames(
    f: &Frames,
    names: &[String],
    timeline: &[TimelineBucket],
    endpoints: &[EndpointReport],
) -> PolarsResult<(DataFrame, DataFrame, DataFrame, DataFrame)> {
    let ids: Vec<u32> = (0..names.len() as u32).collect();
    let names_df = DataFrame::new_infer_height(vec![
        Column::new("endpoint_id".into(), ids),
        Column::new("endpoint".into(), names.to_vec()),
    ])?;
    let mut requests = f
        .requests_ms()?
        .lazy()
        .join(
            names_df.lazy(),
            [col("endpoint_id")],
            [col("endpoint_id")],
            JoinArgs::new(JoinType::Left),
        )
        .select([
            col("time"),
            col("endpoint"),
            col("status"),
            col("latency_ms"),
        ])
        // Rows arrive in chunk order; sorted on every column, the files are byte-identical
        // whatever the chunking and thread count.
        .sort(
            ["time", "endpoint", "status", "latency_ms"],
            SortMultipleOptions::default(),
        )
        .collect()?;
    let events = f
        .events_sourced()
        .select([
            col("time"),
            col("kind"),
            col("name"),
            col("variant"),
            col("location"),
            col("source"),
        ])
        .sort(
            ["time", "source", "kind", "name", "variant", "location"],
            SortMultipleOptions::default(),
        )
        .collect()?;
    let events = with_datetime(events)?;
    requests = with_datetime(requests)?;
    let tl = timeline;
    let tl = DataFrame::new_infer_height(vec![
        column("bucket", tl, |b| b.bucket.clone()),
        column("requests", tl, |b| b.requests),
        column("errors_5xx", tl, |b| b.errors_5xx),
        column("error_rate", tl, |b| b.error_rate),
        column("p50_ms", tl, |b| b.p50_ms),
        column("p95_ms", tl, |b| b.p95_ms),
        column("p99_ms", tl, |b| b.p99_ms),
        column("signatures", tl, |b| b.signatures.values().sum::<u64>()),
    ])?;
    let ep = DataFrame::new_infer_height(vec![
        column("endpoint", endpoints, |e| e.endpoint.clone()),
        column("count", endpoints, |e| e.count),
        column("errors_5xx", endpoints, |e| e.errors_5xx),
        column("p50_ms", endpoints, |e| e.p50_ms),
        column("p95_ms", endpoints, |e| e.p95_ms),
        column("p99_ms", endpoints, |e| e.p99_ms),
        column("max_ms", endpoints, |e| e.max_ms),
    ])?;
    Ok((events, requests, tl, ep))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            proptest::prop_assert_eq!(max_ms.map(f64::to_bits), max.map(f64::to_bits));
        }
    }
}
