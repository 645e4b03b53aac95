//! Before and after: two reports side by side, to prove a fix (errors to zero, latency back)
//! and that nothing new came with it.
//!
//! Every signature and exception group seen on either side gets a status from its rate per
//! hour on each side: `new` (none before), `resolved` (none after), `regressed` (the rate
//! rose more than [`CompareOptions::regressed_factor`] times) or `persisting`. Each side's
//! span is its window when one was given (`--split`, `--before-window`), else the span of its
//! records; without times the counts are compared as they are.

mod render;

use serde::{Deserialize, Serialize};

use crate::framing::{format_rfc3339, Nanos};
use crate::report::{round3, ExceptionGroup, Report};

pub use render::{
    render_compare, render_compare_html, render_compare_markdown, render_compare_table,
    render_compare_table_styled,
};

/// The JSON schema name and version of a comparison.
pub const SCHEMA: &str = "faultline.compare/v1";

/// How a comparison decides.
#[derive(Debug, Clone, Copy)]
pub struct CompareOptions {
    /// A finding seen on both sides is `regressed` when its rate per hour after is more than
    /// this many times its rate before. By default 2.
    pub regressed_factor: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            regressed_factor: 2.0,
        }
    }
}

/// A side's time bounds as given (nanoseconds; `[start, end)`), either open.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Span {
    /// First instant, or none.
    pub start: Option<Nanos>,
    /// First instant after, or none.
    pub end: Option<Nanos>,
}

/// Two reports compared.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Comparison {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The factor above which a rate that rose is `regressed`.
    pub regressed_factor: f64,
    /// The side before the change.
    pub before: Side,
    /// The side after it.
    pub after: Side,
    /// `p99_ms` after divided by before.
    pub p99_ratio: Option<f64>,
    /// Signatures, exception groups and message templates: new, regressed, persisting, then
    /// resolved; by count
    /// after, then before, then id.
    pub signatures: Vec<Change>,
    /// Endpoints seen on either side, by requests on both sides, then name.
    pub endpoints: Vec<EndpointChange>,
    /// What could not be compared, and each side's notes.
    pub notes: Vec<String>,
}

/// One side: its span and totals.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Side {
    /// Start of the span its rates are per hour of, RFC 3339 UTC.
    pub start: Option<String>,
    /// End of the span.
    pub end: Option<String>,
    /// Its length in hours.
    pub hours: Option<f64>,
    /// Log records framed.
    pub records: u64,
    /// Records of signatures and of other exceptions.
    pub findings: u64,
    /// Request lines.
    pub requests: u64,
    /// Of which 5xx.
    pub errors_5xx: u64,
    /// `errors_5xx / requests`.
    pub error_rate: Option<f64>,
    /// Median latency of every request.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency of every request.
    pub p99_ms: Option<f64>,
    /// Inputs that could not be read, or only partly.
    pub input_errors: u64,
}

/// A count on one side, and its rate per hour of the side's span.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Tally {
    /// Records.
    pub count: u64,
    /// Records per hour, when the side has a span.
    pub per_hour: Option<f64>,
}

/// What became of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Not seen before, seen after.
    New,
    /// Seen on both sides, its rate up more than the factor.
    Regressed,
    /// Seen on both sides.
    Persisting,
    /// Seen before, not after.
    Resolved,
}

impl Status {
    /// The status as written in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Regressed => "regressed",
            Status::Persisting => "persisting",
            Status::Resolved => "resolved",
        }
    }
}

/// One signature or exception group, before and after.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    /// The signature id, `Type: message` (and its location) for an exception group, the
    /// template's text for a message template.
    pub id: String,
    /// `signature`, `exception` or `template`.
    pub kind: String,
    /// The signature's title (empty for exceptions).
    pub title: String,
    /// `critical`, `error`, `warning` or `info` (`error` for exceptions).
    pub severity: String,
    /// Before.
    pub before: Tally,
    /// After.
    pub after: Tally,
    /// Rate per hour after divided by before (counts without spans).
    pub ratio: Option<f64>,
    /// What became of it.
    pub status: Status,
}

/// One endpoint on one side.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EndpointSide {
    /// Requests.
    pub count: u64,
    /// Of which 5xx.
    pub errors_5xx: u64,
    /// `errors_5xx / count`.
    pub error_rate: Option<f64>,
    /// Median latency.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency.
    pub p99_ms: Option<f64>,
}

/// One endpoint, before and after.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointChange {
    /// `METHOD /path`.
    pub endpoint: String,
    /// Before.
    pub before: EndpointSide,
    /// After.
    pub after: EndpointSide,
    /// p50 after / before.
    pub p50_ratio: Option<f64>,
    /// p99 after / before.
    pub p99_ratio: Option<f64>,
}

fn parse_time(s: &Option<String>) -> Option<Nanos> {
    let t: jiff::Timestamp = s.as_deref()?.parse().ok()?;
    i64::try_from(t.as_nanosecond()).ok()
}

/// A side's totals, over `span` (its open ends closed by the report's time range).
fn side(r: &Report, span: Span) -> Side {
    let start = span.start.or_else(|| parse_time(&r.time_range.start));
    // A record at the range's end is inside it: the span ends just after.
    let end = span
        .end
        .or_else(|| parse_time(&r.time_range.end).map(|t| t + 1));
    let hours = match (start, end) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 3.6e12),
        _ => None,
    };
    let findings = r.signatures.iter().map(|s| s.count).sum::<u64>()
        + r.exceptions.iter().map(|e| e.count).sum::<u64>();
    Side {
        start: start.map(format_rfc3339),
        end: end.map(format_rfc3339),
        hours: hours.map(|h| (h * 1e6).round() / 1e6),
        records: r.input.records,
        findings,
        requests: r.requests.count,
        errors_5xx: r.requests.errors_5xx,
        error_rate: r.requests.error_rate,
        p50_ms: r.requests.p50_ms,
        p99_ms: r.requests.p99_ms,
        input_errors: r.errors.len() as u64,
    }
}

fn ratio(after: Option<f64>, before: Option<f64>) -> Option<f64> {
    match (after, before) {
        (Some(a), Some(b)) if b > 0.0 => Some(round3(a / b)),
        _ => None,
    }
}

fn exception_id(e: &ExceptionGroup) -> String {
    let mut id = match e.message.is_empty() {
        true => e.r#type.clone(),
        false => format!("{}: {}", e.r#type, e.message),
    };
    if let Some(l) = &e.location {
        id.push_str(&format!(" (at {}:{} in {})", l.file, l.line, l.function));
    }
    id
}

/// Compares `before` with `after`; `spans` are the windows each side was cut to.
pub fn compare(
    before: &Report,
    after: &Report,
    spans: (Span, Span),
    opts: &CompareOptions,
) -> Comparison {
    let (b, a) = (side(before, spans.0), side(after, spans.1));
    let per_hour = |n: u64, s: &Side| s.hours.map(|h| (n as f64 / h * 1000.0).round() / 1000.0);
    // id -> (kind, title, severity, before count, after count)
    let mut found: std::collections::BTreeMap<String, (&str, String, String, u64, u64)> =
        Default::default();
    for (r, after_side) in [(before, false), (after, true)] {
        for s in &r.signatures {
            let e = found
                .entry(s.id.clone())
                .or_insert_with(|| ("signature", s.title.clone(), s.severity.clone(), 0, 0));
            *if after_side { &mut e.4 } else { &mut e.3 } += s.count;
        }
        for x in &r.exceptions {
            let e = found
                .entry(exception_id(x))
                .or_insert_with(|| ("exception", String::new(), "error".into(), 0, 0));
            *if after_side { &mut e.4 } else { &mut e.3 } += x.count;
        }
        // Message templates by text: each side mined its own, and the same text is the
        // same template.
        for t in &r.templates {
            let e = found
                .entry(t.template.clone())
                .or_insert_with(|| ("template", String::new(), t.level.clone(), 0, 0));
            *if after_side { &mut e.4 } else { &mut e.3 } += t.count;
        }
    }
    let timed = b.hours.is_some() && a.hours.is_some();
    let mut signatures: Vec<Change> = found
        .into_iter()
        .map(|(id, (kind, title, severity, nb, na))| {
            let (before, after) = (
                Tally {
                    count: nb,
                    per_hour: per_hour(nb, &b),
                },
                Tally {
                    count: na,
                    per_hour: per_hour(na, &a),
                },
            );
            // Rates when both sides have a span, else the counts.
            let (rb, ra) = match timed {
                true => (
                    nb as f64 / b.hours.unwrap_or(1.0),
                    na as f64 / a.hours.unwrap_or(1.0),
                ),
                false => (nb as f64, na as f64),
            };
            let status = match (nb, na) {
                (0, _) => Status::New,
                (_, 0) => Status::Resolved,
                _ if ra > opts.regressed_factor * rb => Status::Regressed,
                _ => Status::Persisting,
            };
            Change {
                id,
                kind: kind.to_string(),
                title,
                severity,
                before,
                after,
                ratio: ratio(Some(ra), Some(rb)),
                status,
            }
        })
        .collect();
    signatures.sort_by(|x, y| {
        x.status
            .cmp(&y.status)
            .then(y.after.count.cmp(&x.after.count))
            .then(y.before.count.cmp(&x.before.count))
            .then_with(|| x.id.cmp(&y.id))
    });
    let endpoint_side = |r: &Report, name: &str| {
        r.endpoints
            .iter()
            .find(|e| e.endpoint == name)
            .map_or_else(EndpointSide::default, |e| EndpointSide {
                count: e.count,
                errors_5xx: e.errors_5xx,
                error_rate: (e.count > 0)
                    .then(|| (e.errors_5xx as f64 / e.count as f64 * 1e6).round() / 1e6),
                p50_ms: e.p50_ms,
                p99_ms: e.p99_ms,
            })
    };
    let mut names: Vec<&str> = before
        .endpoints
        .iter()
        .chain(&after.endpoints)
        .map(|e| e.endpoint.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut endpoints: Vec<EndpointChange> = names
        .into_iter()
        .map(|n| {
            let (eb, ea) = (endpoint_side(before, n), endpoint_side(after, n));
            EndpointChange {
                endpoint: n.to_string(),
                p50_ratio: ratio(ea.p50_ms, eb.p50_ms),
                p99_ratio: ratio(ea.p99_ms, eb.p99_ms),
                before: eb,
                after: ea,
            }
        })
        .collect();
    endpoints.sort_by(|x, y| {
        (y.before.count + y.after.count)
            .cmp(&(x.before.count + x.after.count))
            .then_with(|| x.endpoint.cmp(&y.endpoint))
    });
    let mut notes = Vec::new();
    for (name, s) in [("before", &b), ("after", &a)] {
        if s.records == 0 {
            notes.push(format!(
                "the {name} side has no records: check the paths or the time given"
            ));
        }
    }
    if !timed {
        notes.push(
            "a side has no time span: statuses compare counts, not rates per hour".to_string(),
        );
    }
    for (name, r) in [("before", before), ("after", after)] {
        notes.extend(r.notes.iter().map(|n| format!("{name}: {n}")));
    }
    Comparison {
        schema: SCHEMA.to_string(),
        regressed_factor: opts.regressed_factor,
        p99_ratio: ratio(a.p99_ms, b.p99_ms),
        before: b,
        after: a,
        signatures,
        endpoints,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::EndpointReport;
    use crate::report::{RequestSummary, SignatureReport, TimeRange};

    fn report(range: (&str, &str), sigs: &[(&str, u64)], p99: f64) -> Report {
        Report {
            time_range: TimeRange {
                start: Some(range.0.into()),
                end: Some(range.1.into()),
            },
            signatures: sigs
                .iter()
                .map(|&(id, count)| SignatureReport::named(id, count))
                .collect(),
            requests: RequestSummary {
                count: 100,
                p99_ms: Some(p99),
                ..Default::default()
            },
            endpoints: vec![EndpointReport {
                endpoint: "GET /api/v1/health".into(),
                count: 100,
                errors_5xx: 10,
                p50_ms: Some(10.0),
                p95_ms: None,
                p99_ms: Some(p99),
                max_ms: None,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn statuses_follow_the_rate_per_hour() {
        // One hour before, two hours after.
        let before = report(
            ("2025-01-10T10:00:00.000Z", "2025-01-10T10:59:59.999Z"),
            &[("gone", 5), ("same", 10), ("doubled", 10), ("tripled", 10)],
            9000.0,
        );
        let after = report(
            ("2025-01-10T11:00:00.000Z", "2025-01-10T12:59:59.999Z"),
            &[("same", 20), ("doubled", 40), ("tripled", 61), ("fresh", 1)],
            14.0,
        );
        let c = compare(
            &before,
            &after,
            Default::default(),
            &CompareOptions::default(),
        );
        let got: Vec<(&str, Status)> = c
            .signatures
            .iter()
            .map(|s| (s.id.as_str(), s.status))
            .collect();
        assert_eq!(
            got,
            [
                ("fresh", Status::New),
                ("tripled", Status::Regressed),
                // Twice the rate is not more than twice: persisting.
                ("doubled", Status::Persisting),
                ("same", Status::Persisting),
                ("gone", Status::Resolved),
            ]
        );
        assert_eq!(c.before.hours, Some(1.0));
        assert_eq!(c.after.hours, Some(2.0));
        let same = &c.signatures[3];
        assert_eq!(same.before.per_hour, Some(10.0));
        assert_eq!(same.after.per_hour, Some(10.0));
        assert_eq!(same.ratio, Some(1.0));
        assert_eq!(c.p99_ratio, Some(round3(14.0 / 9000.0)));
        assert_eq!(c.endpoints[0].p99_ratio, Some(round3(14.0 / 9000.0)));
        assert_eq!(c.endpoints[0].after.error_rate, Some(0.1));
        // A lower factor makes `doubled` regressed.
        let c = compare(
            &before,
            &after,
            Default::default(),
            &CompareOptions {
                regressed_factor: 1.5,
            },
        );
        assert_eq!(c.signatures[2].status, Status::Regressed);
    }

    #[test]
    fn a_given_span_sets_the_rate_and_no_times_compares_counts() {
        let before = report(
            ("2025-01-10T10:00:00.000Z", "2025-01-10T10:30:00.000Z"),
            &[("x", 10)],
            1.0,
        );
        let after = report(
            ("2025-01-10T11:00:00.000Z", "2025-01-10T11:30:00.000Z"),
            &[("x", 10)],
            1.0,
        );
        let t = |s: &str| parse_time(&Some(s.into()));
        let spans = (
            Span {
                start: t("2025-01-10T09:00:00Z"),
                end: t("2025-01-10T11:00:00Z"),
            },
            Span {
                start: t("2025-01-10T11:00:00Z"),
                end: t("2025-01-10T11:30:00Z"),
            },
        );
        let c = compare(&before, &after, spans, &CompareOptions::default());
        assert_eq!(c.before.hours, Some(2.0));
        assert_eq!(c.after.hours, Some(0.5));
        assert_eq!(c.signatures[0].status, Status::Regressed);
        assert_eq!(c.signatures[0].ratio, Some(4.0));
        let mut untimed = before.clone();
        untimed.time_range = TimeRange::default();
        let c = compare(&untimed, &after, Default::default(), &Default::default());
        assert_eq!(c.signatures[0].status, Status::Persisting);
        assert_eq!(c.signatures[0].before.per_hour, None);
        assert!(
            c.notes.iter().any(|n| n.contains("counts")),
            "{:?}",
            c.notes
        );
    }
}
