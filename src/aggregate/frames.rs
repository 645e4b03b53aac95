//! The trend frames: the `events` and `requests` polars frames, built column by column from
//! the summary's vectors (never row by row), and the lazy queries the trends share.
//!
//! polars stays in the aggregation stage. Request latencies stay compact in the frame (see
//! [`Frames::latency_scale`]); buckets and windows are read from the timed requests in time
//! order ([`Frames::timed`]): runs and slices.

use std::sync::Arc;

use polars::prelude::*;
use polars_arrow::bitmap::Bitmap;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::requests::{decode_latency, Packed, RequestRows, MS, NO_LATENCY, NO_OFFSET, NO_TIME};
use super::EventRow;
use crate::classify::{Catalog, Classification};
use crate::extract::Unit;

/// The classes' columns of text from the log (redacted; written with each event row).
pub(super) const CLASS_TEXT: [&str; 6] = [
    "name",
    "variant",
    "location",
    "function",
    "exception_type",
    "message",
];

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
    pub(super) status: Vec<Vec<u16>>,
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
    /// Redacts the strings taken from the log: the classes' names, variants, locations,
    /// exception types and messages, and the sources (small tables the event rows point into).
    pub(super) fn redact(&mut self, r: &crate::redact::Redactor) -> PolarsResult<()> {
        let tables: [(&mut DataFrame, &[&str]); 2] = [
            (&mut self.classes, &CLASS_TEXT),
            (&mut self.sources, &["source"]),
        ];
        for (df, cols) in tables {
            for &c in cols {
                let col = df.column(c)?.str()?.clone();
                let values: Vec<Option<String>> = (0..col.len())
                    .map(|i| col.get(i).map(|v| r.redact(v).into_owned()))
                    .collect();
                df.with_column(Column::new(c.into(), values))?;
            }
        }
        Ok(())
    }

    /// The `requests` frame as it is written out: `time` in nanoseconds, `endpoint_id`,
    /// `status` and `latency_ms`.
    pub(super) fn requests_ms(&self) -> PolarsResult<DataFrame> {
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
    pub(super) fn latency_ms(&self, latency: &Column) -> PolarsResult<Column> {
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
    pub(super) fn time_ns(&self) -> Expr {
        match self.time_base {
            Some(g) => col("time").cast(DataType::Int64) * lit(MS) + lit(g),
            None => col("time"),
        }
    }

    /// The `time` value of the first request at or after `ns` nanoseconds (a value of the
    /// column's own kind, as an i64).
    pub(super) fn time_key(&self, ns: i64) -> i64 {
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
    pub(super) fn each_time(
        &self,
        mut each: impl FnMut(i64) -> PolarsResult<()>,
    ) -> PolarsResult<()> {
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
    let (mut functions, mut types, mut messages) = (Vec::new(), Vec::new(), Vec::new());
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
                functions.push(c.location.as_ref().map(|l| l.function.clone()));
                types.push(c.exception_type.clone());
                messages.push(c.message.clone());
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
        Column::new("function".into(), functions),
        Column::new("exception_type".into(), types),
        Column::new("message".into(), messages),
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
    pub(super) fn events_sourced(&self) -> LazyFrame {
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
    pub(super) fn signature_counts(&self, events: LazyFrame, keys: &[&str]) -> LazyFrame {
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
    pub(super) fn events_named(&self) -> LazyFrame {
        self.events.clone().lazy().join(
            self.classes.clone().lazy(),
            [col("class_id")],
            [col("class_id")],
            JoinArgs::new(JoinType::Left),
        )
    }
}
