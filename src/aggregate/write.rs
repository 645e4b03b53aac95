//! Writing the frames out: `events`, `requests`, `timeline` and `endpoints` as CSV or
//! Parquet, rows sorted so the files do not depend on the chunking.

use std::path::Path;

use polars::prelude::*;

use super::frames::{Frames, CLASS_TEXT};
use super::rows::{EndpointReport, TimelineBucket};
use crate::error::{AggregateError, BoxError};

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
/// one file each (`events.csv`, ...); the first two only with `rows_only`. Times are RFC 3339 strings in the timeline and
/// `Datetime(ns, UTC)` in the row frames.
pub fn write_frames(
    f: &Frames,
    names: &[String],
    timeline: &[TimelineBucket],
    endpoints: &[EndpointReport],
    dir: &Path,
    format: FrameFormat,
    rows_only: bool,
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
    let frames = [
        ("events", &mut events),
        ("requests", &mut requests),
        ("timeline", &mut tl),
        ("endpoints", &mut ep),
    ];
    let keep = if rows_only { 2 } else { frames.len() };
    for (name, df) in frames.into_iter().take(keep) {
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
    let written: Vec<&str> = ["time", "kind"]
        .into_iter()
        .chain(CLASS_TEXT)
        .chain(["source"])
        .collect();
    let order: Vec<&str> = ["time", "source", "kind"]
        .into_iter()
        .chain(CLASS_TEXT)
        .collect();
    let events = f
        .events_sourced()
        .select(written.iter().map(|c| col(*c)).collect::<Vec<_>>())
        .sort(order, SortMultipleOptions::default())
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
