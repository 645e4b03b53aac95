//! Reports: the plain, serializable result of a run, and its renderers.
//!
//! Renderers never see framing or aggregation types: they get a [`Report`] and return bytes.

mod build;
mod charts;
pub(crate) mod html;
pub(crate) mod markdown;
mod messages;
pub mod sections;
pub(crate) mod table;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub(crate) use build::{build, live};
pub use charts::{chart_captions, charts, compare_charts, write_charts, Charts};
pub use html::render_html;
pub use markdown::{catalog_markdown, render_markdown, render_markdown_with_charts};
pub use table::{render_catalog, render_signatures, render_table, render_table_styled, TableStyle};

pub(crate) use crate::aggregate::round3;
pub use crate::aggregate::{EndpointReport, IncidentReport, SourceReport, TimelineBucket};

/// The JSON schema name and version.
pub const SCHEMA: &str = "faultline.report/v1";

/// A whole run's result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// What was read.
    pub input: InputSummary,
    /// First and last record time.
    pub time_range: TimeRange,
    /// Known signatures seen, by count descending then id.
    pub signatures: Vec<SignatureReport>,
    /// Exceptions no signature matched, grouped by type and normalized message.
    pub exceptions: Vec<ExceptionGroup>,
    /// Warnings and errors no signature matched and without a traceback, by message
    /// template: new and surging ones first, then by level and count.
    #[serde(default)]
    pub templates: Vec<TemplateReport>,
    /// Inputs that could not be read (fully), `path: reason`.
    pub errors: Vec<InputErrorReport>,
    /// Request lines found, and what their latency fields held.
    pub requests: RequestSummary,
    /// Per endpoint (`METHOD /path/{id}`): count, 5xx, latency quantiles. By count, then name.
    pub endpoints: Vec<EndpointReport>,
    /// Per time bucket: requests, 5xx, latency, signatures. Empty buckets are left out.
    pub timeline: Vec<TimelineBucket>,
    /// Windows where latency or the error rate rose well above the baseline.
    pub incidents: Vec<IncidentReport>,
    /// What the trends could not be computed from (no request lines, no timestamps).
    pub notes: Vec<String>,
    /// With `--by source`: the findings of each source, by record count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_source: Vec<SourceReport>,
}

/// How many request lines were read.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestSummary {
    /// Request lines.
    pub count: u64,
    /// With a latency in a known unit.
    pub with_latency: u64,
    /// With a latency field that had no unit (and none configured) or was not a number.
    pub unparsed_latency: u64,
    /// Without a latency field.
    pub missing_latency: u64,
    /// Responses with status 500-599, of every request line.
    #[serde(default)]
    pub errors_5xx: u64,
    /// `errors_5xx / count`.
    #[serde(default)]
    pub error_rate: Option<f64>,
    /// Median latency of every request, linear interpolation.
    #[serde(default)]
    pub p50_ms: Option<f64>,
    /// 99th percentile latency of every request.
    #[serde(default)]
    pub p99_ms: Option<f64>,
    /// The time bucket of the timeline, in seconds.
    pub bucket_seconds: u64,
}

/// Accounting of the input: every line is in a record or skipped with a reason.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InputSummary {
    /// Inputs analysed (files, stdin).
    pub files: u64,
    /// Bytes read, decompressed.
    pub bytes: u64,
    /// Lines read; a last line without a newline counts.
    pub lines: u64,
    /// Log records framed.
    pub records: u64,
    /// Lines in the records analysed (inside the time window). `lines` is always
    /// `record_lines` plus the sum of `skipped`.
    pub record_lines: u64,
    /// Of which outside the `--since`/`--until` window (their lines are in `skipped`).
    pub records_outside_window: u64,
    /// Lines in no record, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Lines longer than the line limit, analysed up to it.
    pub truncated_lines: u64,
    /// Records cut in two at the record-length limit.
    pub split_records: u64,
    /// Inputs by layout (`text`, `docker`, `cri`, `compose`, `journald`, and `empty` for an
    /// input without a byte); a rotated file counts once per file.
    pub layouts: BTreeMap<String, u64>,
    /// Partial pieces (CRI `P`, Docker's 16 KiB cuts) joined into the line they continue.
    pub joined_lines: u64,
    /// Lines without their input's layout (compose's `Attaching to`), read as plain lines.
    pub foreign_lines: u64,
}

/// Time span of the records.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TimeRange {
    /// Earliest record time, RFC 3339 UTC.
    pub start: Option<String>,
    /// Latest record time, RFC 3339 UTC.
    pub end: Option<String>,
}

/// One signature's findings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignatureReport {
    /// Catalog id.
    pub id: String,
    /// Title.
    pub title: String,
    /// `critical`, `error`, `warning` or `info`.
    pub severity: String,
    /// Records matched.
    pub count: u64,
    /// Earliest match.
    pub first_seen: Option<String>,
    /// Latest match.
    pub last_seen: Option<String>,
    /// Exception types of the matches, as printed.
    pub exception_types: Vec<Count>,
    /// Variants (e.g. the missing attribute).
    pub variants: Vec<VariantCount>,
    /// Innermost application frames.
    pub locations: Vec<LocationCount>,
    /// How to fix it.
    pub remediation: String,
    /// Further reading.
    pub references: Vec<String>,
    /// One record of it as logged: the earliest (long records and lines cut, secrets
    /// redacted).
    #[serde(default)]
    pub example: Option<String>,
}

#[cfg(test)]
impl SignatureReport {
    /// A signature with only an id and a count, for tests.
    pub(crate) fn named(id: &str, count: u64) -> SignatureReport {
        SignatureReport {
            id: id.into(),
            title: format!("title of {id}"),
            severity: "error".into(),
            count,
            first_seen: None,
            last_seen: None,
            exception_types: vec![],
            variants: vec![],
            locations: vec![],
            remediation: String::new(),
            references: vec![],
            example: None,
        }
    }
}

/// An exception type and its count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Count {
    /// Type as printed, e.g. `asyncpg.exceptions.ConnectionDoesNotExistError`.
    #[serde(rename = "type")]
    pub r#type: String,
    /// Records.
    pub count: u64,
}

/// A variant and its count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VariantCount {
    /// The variant.
    pub value: String,
    /// Records.
    pub count: u64,
}

/// A code location and its count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LocationCount {
    /// File path as printed.
    pub file: String,
    /// Line number.
    pub line: u32,
    /// Function.
    pub function: String,
    /// Records.
    pub count: u64,
}

/// A line of application code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CodeLocation {
    /// File path as printed.
    pub file: String,
    /// Line number.
    pub line: u32,
    /// Function.
    pub function: String,
}

/// Unclassified exceptions of one type and message shape.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExceptionGroup {
    /// Type as printed.
    #[serde(rename = "type")]
    pub r#type: String,
    /// Normalized message.
    pub message: String,
    /// The innermost application frame the group was raised from, when it has a traceback
    /// (the same error raised from two places is two groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<CodeLocation>,
    /// Records.
    pub count: u64,
    /// Earliest.
    pub first_seen: Option<String>,
    /// Latest.
    pub last_seen: Option<String>,
}

impl ExceptionGroup {
    /// The location as a sort key.
    pub fn location_key(&self) -> (&str, u32, &str) {
        self.location.as_ref().map_or(("", 0, ""), |l| {
            (l.file.as_str(), l.line, l.function.as_str())
        })
    }
}

/// The records of one message template (warnings and errors no signature matched).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TemplateReport {
    /// A stable id: a hash of the template's text.
    pub id: String,
    /// The message, variable tokens `<*>`.
    pub template: String,
    /// The most severe level of its records: `warning`, `error` or `critical`.
    pub level: String,
    /// Records.
    pub count: u64,
    /// Earliest.
    pub first_seen: Option<String>,
    /// Latest.
    pub last_seen: Option<String>,
    /// `new` (absent before `since`), `surging` (its rate rose from `since` on) or
    /// `steady`.
    pub change: String,
    /// The first minute of the new or raised rate.
    pub since: Option<String>,
    /// Records per minute before `since`, from the log's start.
    pub before_per_minute: Option<f64>,
    /// Records per minute from `since` to the log's end.
    pub after_per_minute: Option<f64>,
    /// `after_per_minute / before_per_minute` (none for a new template).
    pub ratio: Option<f64>,
    /// The incident (an index into `incidents`) whose window `since` falls in.
    pub incident: Option<usize>,
    /// Its earliest record, as logged.
    pub example: Option<String>,
}

/// An input that failed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputErrorReport {
    /// The input.
    pub path: String,
    /// Why.
    pub message: String,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A terminal table.
    Table,
    /// The JSON report, pretty-printed.
    Json,
    /// A post-incident report in Markdown.
    Markdown,
    /// A self-contained HTML page with charts.
    Html,
}

/// The catalog as JSON: id, title, severity, anchors, pattern, remediation, references.
pub fn catalog_json(sigs: &[&crate::classify::Signature]) -> Vec<u8> {
    let list: Vec<serde_json::Value> = sigs
        .iter()
        .map(|s| {
            serde_json::json!({
                "id": s.id,
                "title": s.title,
                "severity": s.severity.as_str(),
                "anchors": s.anchors,
                "pattern": s.pattern.as_str(),
                "remediation": s.remediation,
                "references": s.references,
                "source": s.source.display().to_string(),
            })
        })
        .collect();
    let mut v = serde_json::to_vec_pretty(&list).expect("catalog serializes");
    v.push(b'\n');
    v
}

impl Report {
    /// Replaces the secrets in every string taken from the log (see [`crate::redact`]).
    pub fn redact(&mut self, r: &crate::redact::Redactor) {
        for s in &mut self.signatures {
            s.exception_types
                .iter_mut()
                .for_each(|c| r.apply(&mut c.r#type));
            s.variants.iter_mut().for_each(|v| r.apply(&mut v.value));
            for l in &mut s.locations {
                r.apply(&mut l.file);
                r.apply(&mut l.function);
            }
            if let Some(x) = &mut s.example {
                r.apply(x);
            }
        }
        for e in &mut self.exceptions {
            r.apply(&mut e.r#type);
            r.apply(&mut e.message);
            if let Some(l) = &mut e.location {
                r.apply(&mut l.file);
                r.apply(&mut l.function);
            }
        }
        for t in &mut self.templates {
            r.apply(&mut t.template);
            if let Some(x) = &mut t.example {
                r.apply(x);
            }
        }
        for e in &mut self.errors {
            r.apply(&mut e.path);
            r.apply(&mut e.message);
        }
        self.endpoints
            .iter_mut()
            .for_each(|e| r.apply(&mut e.endpoint));
        self.by_source
            .iter_mut()
            .for_each(|s| r.apply(&mut s.source));
        self.notes.iter_mut().for_each(|n| r.apply(n));
    }
}

/// The input accounting `faultline extract` writes beside its rows (`input.json`, schema
/// `faultline.extract/v1`): what was read and skipped, the time range, and the request
/// counts the rows cannot give (lines whose latency was missing or unreadable).
pub fn extract_accounting(report: &Report) -> Vec<u8> {
    /// Fields in this order: the schema first, where a directory walk looks for it.
    #[derive(Serialize)]
    struct Accounting<'a> {
        schema: &'a str,
        input: &'a InputSummary,
        time_range: &'a TimeRange,
        requests: serde_json::Value,
        notes: &'a [String],
    }
    let doc = Accounting {
        schema: "faultline.extract/v1",
        input: &report.input,
        time_range: &report.time_range,
        requests: serde_json::json!({
            "count": report.requests.count,
            "unparsed_latency": report.requests.unparsed_latency,
            "missing_latency": report.requests.missing_latency,
        }),
        notes: &report.notes,
    };
    let mut v = serde_json::to_vec_pretty(&doc).expect("accounting serializes");
    v.push(b'\n');
    v
}

/// Renders a report.
pub fn render(report: &Report, format: Format) -> Vec<u8> {
    match format {
        Format::Table => render_table(report).into_bytes(),
        Format::Markdown => render_markdown(report).into_bytes(),
        Format::Html => render_html(report).into_bytes(),
        Format::Json => {
            let mut v = serde_json::to_vec_pretty(report).expect("report serializes");
            v.push(b'\n');
            v
        }
    }
}

#[cfg(test)]
mod tests;
