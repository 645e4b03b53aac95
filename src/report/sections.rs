//! The report's tables, built once: a header and rows of typed cells. Each renderer (the
//! terminal table, Markdown, and later HTML) chooses how a kind of cell looks (a latency with
//! or without its unit, a path shortened or whole, code in backticks) and how many rows it
//! shows; which columns a section has, and what is in them, is decided here only.

use super::{CodeLocation, IncidentReport, Report, SignatureReport, TimelineBucket};

/// One cell, typed so that each renderer can format it its own way.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Plain text.
    Text(String),
    /// A name from the code or the log (an exception type, an endpoint, a variant): code.
    Code(String),
    /// A log message: long, shortened by the terminal table.
    Message(String),
    /// A count.
    Count(u64),
    /// An RFC 3339 time, or none.
    Time(Option<String>),
    /// A latency in milliseconds, or none.
    Ms(Option<f64>),
    /// A code location, or none.
    Location(Option<CodeLocation>),
    /// A fraction shown as a percentage (an error rate), or none.
    Rate(Option<f64>),
    /// A ratio of two values (after / before), or none.
    Ratio(Option<f64>),
}

/// A latency with its unit: `12.8 ms`, `15.00 s` from a second on, `-` for none.
pub fn latency(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x >= 1000.0 => format!("{:.2} s", x / 1000.0),
        Some(x) => format!("{x:.1} ms"),
    }
}

/// A fraction as a percentage: `0.0123` -> `1.23%`.
pub fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{:.2}%", x * 100.0))
}

/// A ratio: `0.0016` -> `0.0016x`, `400` -> `400x`; three significant digits below 100.
pub fn times(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x >= 100.0 => format!("{x:.0}x"),
        Some(x) if x >= 1.0 => format!("{x:.2}x"),
        Some(x) => format!("{x:.3}x"),
    }
}

/// A table of the report: its header and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Column names.
    pub header: &'static [&'static str],
    /// Rows, each with one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

fn code_location(file: &str, line: u32, function: &str) -> Cell {
    Cell::Location(Some(CodeLocation {
        file: file.to_string(),
        line,
        function: function.to_string(),
    }))
}

/// The known signatures, one row each: the overview of the terminal table.
pub fn signatures(r: &Report) -> Section {
    let rows = r
        .signatures
        .iter()
        .map(|s| {
            vec![
                Cell::Text(s.id.clone()),
                Cell::Text(s.severity.clone()),
                Cell::Count(s.count),
                Cell::Time(s.first_seen.clone()),
                Cell::Time(s.last_seen.clone()),
                Cell::Text(
                    s.variants
                        .first()
                        .map_or_else(|| "-".into(), |v| format!("{} ({})", v.value, v.count)),
                ),
                s.locations.first().map_or(Cell::Location(None), |l| {
                    code_location(&l.file, l.line, &l.function)
                }),
            ]
        })
        .collect();
    Section {
        header: &[
            "signature",
            "severity",
            "count",
            "first seen",
            "last seen",
            "top variant",
            "top location",
        ],
        rows,
    }
}

/// One signature's variants.
pub fn variants(s: &SignatureReport) -> Section {
    let rows = s
        .variants
        .iter()
        .map(|v| vec![Cell::Code(v.value.clone()), Cell::Count(v.count)])
        .collect();
    Section {
        header: &["variant", "count"],
        rows,
    }
}

/// One signature's code locations.
pub fn locations(s: &SignatureReport) -> Section {
    let rows = s
        .locations
        .iter()
        .map(|l| {
            vec![
                Cell::Code(format!("{}:{}", l.file, l.line)),
                Cell::Code(l.function.clone()),
                Cell::Count(l.count),
            ]
        })
        .collect();
    Section {
        header: &["code location", "function", "count"],
        rows,
    }
}

/// The exceptions no signature matched, by group.
pub fn exceptions(r: &Report) -> Section {
    let rows = r
        .exceptions
        .iter()
        .map(|e| {
            vec![
                Cell::Code(e.r#type.clone()),
                Cell::Message(e.message.clone()),
                Cell::Location(e.location.clone()),
                Cell::Count(e.count),
                Cell::Time(e.first_seen.clone()),
                Cell::Time(e.last_seen.clone()),
            ]
        })
        .collect();
    Section {
        header: &[
            "type",
            "message",
            "location",
            "count",
            "first seen",
            "last seen",
        ],
        rows,
    }
}

/// The warnings and errors no signature matched, by template: what changed first.
pub fn templates(r: &Report) -> Section {
    let rows = r
        .templates
        .iter()
        .map(|t| {
            let change = match (t.change.as_str(), t.ratio) {
                ("surging", Some(x)) => format!("surging {x:.0}x"),
                ("steady", _) => "-".to_string(),
                (c, _) => c.to_string(),
            };
            let change = match t.incident {
                Some(i) => format!("{change} (incident {})", i + 1),
                None => change,
            };
            vec![
                Cell::Text(change),
                Cell::Time(t.since.clone()),
                Cell::Text(t.level.clone()),
                Cell::Message(t.template.clone()),
                Cell::Count(t.count),
                Cell::Time(t.first_seen.clone()),
                Cell::Time(t.last_seen.clone()),
            ]
        })
        .collect();
    Section {
        header: &[
            "change",
            "since",
            "level",
            "template",
            "count",
            "first seen",
            "last seen",
        ],
        rows,
    }
}

/// The findings of each source (`--by source`).
pub fn by_source(r: &Report) -> Section {
    let rows = r
        .by_source
        .iter()
        .map(|s| {
            let mut sigs: Vec<(&String, &u64)> = s.signatures.iter().collect();
            sigs.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            let sigs: Vec<String> = sigs.iter().map(|(k, n)| format!("{k} ({n})")).collect();
            vec![
                Cell::Text(s.source.clone()),
                Cell::Count(s.records),
                Cell::Text(if sigs.is_empty() {
                    "-".to_string()
                } else {
                    sigs.join(", ")
                }),
                Cell::Count(s.exceptions),
                Cell::Time(s.first_seen.clone()),
                Cell::Time(s.last_seen.clone()),
            ]
        })
        .collect();
    Section {
        header: &[
            "source",
            "records",
            "signatures",
            "other exceptions",
            "first seen",
            "last seen",
        ],
        rows,
    }
}

/// Traffic and latency per endpoint.
pub fn endpoints(r: &Report) -> Section {
    let rows = r
        .endpoints
        .iter()
        .map(|e| {
            vec![
                Cell::Code(e.endpoint.clone()),
                Cell::Count(e.count),
                Cell::Count(e.errors_5xx),
                Cell::Ms(e.p50_ms),
                Cell::Ms(e.p95_ms),
                Cell::Ms(e.p99_ms),
                Cell::Ms(e.max_ms),
            ]
        })
        .collect();
    Section {
        header: &["endpoint", "requests", "5xx", "p50", "p95", "p99", "max"],
        rows,
    }
}

/// One timeline bucket's row.
fn bucket_row(b: &TimelineBucket) -> Vec<Cell> {
    let sigs: Vec<String> = b
        .signatures
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    vec![
        Cell::Time(Some(b.bucket.clone())),
        Cell::Count(b.requests),
        Cell::Count(b.errors_5xx),
        Cell::Ms(b.p50_ms),
        Cell::Ms(b.p99_ms),
        Cell::Text(if sigs.is_empty() {
            "-".into()
        } else {
            sigs.join(", ")
        }),
    ]
}

/// The timeline around the first incident (3 buckets before and after it, every n-th bucket
/// of a long one, at most about 40 rows), or its first 30 buckets without one; with the step
/// between the buckets shown.
pub fn timeline(r: &Report) -> (Section, usize) {
    let mut rows = Vec::new();
    let mut step = 1;
    let tl = &r.timeline;
    if let Some(i) = r.incidents.first() {
        let first = tl.iter().position(|b| b.bucket >= i.start).unwrap_or(0);
        let last = tl
            .iter()
            .rposition(|b| b.bucket < i.end)
            .unwrap_or(tl.len().saturating_sub(1));
        let from = first.saturating_sub(3);
        let to = (last + 3).min(tl.len().saturating_sub(1));
        // Long incidents: the first and last buckets, and every n-th in between.
        let span = to.saturating_sub(from) + 1;
        step = span.div_ceil(40).max(1);
        for (k, b) in tl[from..=to.max(from).min(tl.len().saturating_sub(1))]
            .iter()
            .enumerate()
        {
            if k % step == 0 || from + k == first || from + k == last {
                rows.push(bucket_row(b));
            }
        }
    } else {
        rows.extend(tl.iter().take(30).map(bucket_row));
    }
    let section = Section {
        header: &[
            "bucket (UTC)",
            "requests",
            "5xx",
            "p50",
            "p99",
            "signatures",
        ],
        rows,
    };
    (section, step)
}

/// Latency and errors before, during and after an incident.
pub fn phases(i: &IncidentReport) -> Section {
    let ratio = |n: u64, d: u64| Cell::Text(format!("{n} / {d}"));
    Section {
        header: &["phase", "5xx / requests", "p50", "p99"],
        rows: vec![
            vec![
                Cell::Text("before (baseline)".into()),
                Cell::Text("-".into()),
                Cell::Ms(i.baseline_p50_ms),
                Cell::Ms(i.baseline_p99_ms),
            ],
            vec![
                Cell::Text("during".into()),
                ratio(i.errors_5xx, i.requests),
                Cell::Ms(i.p50_ms),
                Cell::Ms(i.p99_ms),
            ],
            vec![
                Cell::Text("after".into()),
                ratio(i.after_errors_5xx, i.after_requests),
                Cell::Ms(i.after_p50_ms),
                Cell::Ms(i.after_p99_ms),
            ],
        ],
    }
}

/// A time as the renderers show it: `2025-01-10T10:31:22.123Z` -> `2025-01-10 10:31:22`.
pub fn short_time(s: &str) -> String {
    s.get(..19).unwrap_or(s).replacen('T', " ", 1)
}
