//! A comparison as a terminal table, JSON, or the "Before / After" section of a postmortem
//! in Markdown. The sections are built once; each renderer formats their cells.

use std::fmt::Write;

use super::{Comparison, Side};
use crate::report::markdown;
use crate::report::sections::{self, percent, Cell, Section};
use crate::report::table;
use crate::report::{Format, Report};

/// Totals side by side.
fn overall(c: &Comparison) -> Section {
    let (b, a) = (&c.before, &c.after);
    Section {
        header: &["", "before", "after", "change"],
        rows: vec![
            vec![
                Cell::Text("signature and exception records".into()),
                Cell::Count(b.findings),
                Cell::Count(a.findings),
                Cell::Text("-".into()),
            ],
            vec![
                Cell::Text("requests".into()),
                Cell::Count(b.requests),
                Cell::Count(a.requests),
                Cell::Text("-".into()),
            ],
            vec![
                Cell::Text("5xx".into()),
                Cell::Count(b.errors_5xx),
                Cell::Count(a.errors_5xx),
                Cell::Text("-".into()),
            ],
            vec![
                Cell::Text("error rate".into()),
                Cell::Rate(b.error_rate),
                Cell::Rate(a.error_rate),
                Cell::Text("-".into()),
            ],
            vec![
                Cell::Text("p50 latency".into()),
                Cell::Ms(b.p50_ms),
                Cell::Ms(a.p50_ms),
                Cell::Ratio(super::ratio(a.p50_ms, b.p50_ms)),
            ],
            vec![
                Cell::Text("p99 latency".into()),
                Cell::Ms(b.p99_ms),
                Cell::Ms(a.p99_ms),
                Cell::Ratio(c.p99_ratio),
            ],
        ],
    }
}

fn per_hour(v: Option<f64>) -> Cell {
    Cell::Text(v.map_or_else(|| "-".into(), |x| format!("{x:.1}")))
}

/// Signatures and exception groups, with their status.
fn signatures(c: &Comparison) -> Section {
    Section {
        header: &[
            "signature",
            "status",
            "before",
            "per hour",
            "after",
            "per hour",
            "change",
        ],
        rows: c
            .signatures
            .iter()
            .map(|s| {
                vec![
                    match s.kind.as_str() {
                        "signature" => Cell::Text(s.id.clone()),
                        _ => Cell::Message(s.id.clone()),
                    },
                    Cell::Text(s.status.as_str().into()),
                    Cell::Count(s.before.count),
                    per_hour(s.before.per_hour),
                    Cell::Count(s.after.count),
                    per_hour(s.after.per_hour),
                    Cell::Ratio(s.ratio),
                ]
            })
            .collect(),
    }
}

/// Endpoints: requests, error rate, p50 and p99 on each side.
fn endpoints(c: &Comparison) -> Section {
    Section {
        header: &[
            "endpoint",
            "requests",
            "error rate",
            "p50 before",
            "p50 after",
            "p99 before",
            "p99 after",
            "p99 change",
        ],
        rows: c
            .endpoints
            .iter()
            .map(|e| {
                vec![
                    Cell::Code(e.endpoint.clone()),
                    Cell::Text(format!("{} -> {}", e.before.count, e.after.count)),
                    Cell::Text(format!(
                        "{} -> {}",
                        percent(e.before.error_rate),
                        percent(e.after.error_rate)
                    )),
                    Cell::Ms(e.before.p50_ms),
                    Cell::Ms(e.after.p50_ms),
                    Cell::Ms(e.before.p99_ms),
                    Cell::Ms(e.after.p99_ms),
                    Cell::Ratio(e.p99_ratio),
                ]
            })
            .collect(),
    }
}

fn span(s: &Side) -> String {
    let t = |v: &Option<String>| table::time(v);
    let hours = s.hours.map_or_else(String::new, |h| format!(" ({h:.2} h)"));
    format!("{} to {}{hours}", t(&s.start), t(&s.end))
}

/// The counts of each status, e.g. `4 resolved, 1 new`.
fn verdict(c: &Comparison) -> String {
    use super::Status::*;
    let parts: Vec<String> = [New, Regressed, Persisting, Resolved]
        .iter()
        .filter_map(|&st| {
            let n = c.signatures.iter().filter(|s| s.status == st).count();
            (n > 0).then(|| format!("{n} {}", st.as_str()))
        })
        .collect();
    match parts.is_empty() {
        true => "no signatures or exceptions on either side".into(),
        false => parts.join(", "),
    }
}

/// The comparison as terminal tables (times in UTC).
pub fn render_compare_table(c: &Comparison) -> String {
    render_compare_table_styled(c, &table::TableStyle::default())
}

/// [`render_compare_table`] for a terminal: fitted to its width, in colour.
pub fn render_compare_table_styled(c: &Comparison, style: &table::TableStyle) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "before: {}", span(&c.before));
    let _ = writeln!(out, "after:  {}", span(&c.after));
    let section = |out: &mut String, title: Option<&str>, s: &Section, limit: usize| {
        table::push_styled(out, title, s, limit, style, false);
    };
    section(&mut out, None, &overall(c), usize::MAX);
    if !c.signatures.is_empty() {
        section(&mut out, Some("signatures"), &signatures(c), usize::MAX);
    }
    if !c.endpoints.is_empty() {
        section(&mut out, Some("endpoints"), &endpoints(c), 15);
    }
    for n in &c.notes {
        let _ = writeln!(out, "\n{}", table::wrap(&format!("note: {n}"), style.width));
    }
    let _ = writeln!(out, "\n{}", verdict(c));
    out
}

/// The comparison as the "Before / After" section of a postmortem.
pub fn render_compare_markdown(c: &Comparison) -> String {
    let mut out = String::from("## Before / After\n\n");
    let _ = writeln!(out, "- **Before**: {}", span(&c.before));
    let _ = writeln!(out, "- **After**: {} (times UTC)", span(&c.after));
    let _ = writeln!(
        out,
        "- **Verdict**: {} (regressed: a rate per hour up more than {}x)\n",
        verdict(c),
        c.regressed_factor
    );
    markdown::table(&mut out, &overall(c), usize::MAX);
    if !c.signatures.is_empty() {
        out.push_str("### Signatures and exceptions\n\n");
        markdown::table(&mut out, &signatures(c), usize::MAX);
    }
    if !c.endpoints.is_empty() {
        out.push_str("### Endpoints\n\n");
        markdown::table(&mut out, &endpoints(c), usize::MAX);
    }
    if !c.notes.is_empty() {
        out.push_str("### Notes\n\n");
        for n in &c.notes {
            let _ = writeln!(out, "- {n}");
        }
        out.push('\n');
    }
    out
}

/// A headline figure: after, before, the change, and whether after is better (`None`: no
/// judgement, or no change).
fn card(
    name: &str,
    before: String,
    after: String,
    change: Option<String>,
    better: Option<bool>,
) -> minijinja::Value {
    minijinja::context! { name, before, after, change, better }
}

/// Whether `after` is lower than `before` (fewer errors, less latency): `None` when they are
/// within 5% of each other, or unknown.
fn lower(after: Option<f64>, before: Option<f64>) -> Option<bool> {
    match (after, before) {
        (Some(a), Some(b)) if a < b * 0.95 => Some(true),
        (Some(a), Some(b)) if a > b * 1.05 => Some(false),
        _ => None,
    }
}

/// The comparison as one self-contained HTML page (see [`crate::report::render_html`]);
/// with `sides`, the two reports compared, it has their charts over time too.
pub fn render_compare_html(c: &Comparison, sides: Option<(&Report, &Report)>) -> String {
    use crate::report::html::{chart_values, page};
    use crate::report::sections::latency as ms;
    let (b, a) = (&c.before, &c.after);
    let count = |v: u64| v.to_string();
    let cards = vec![
        card(
            "signature and exception records",
            count(b.findings),
            count(a.findings),
            None,
            lower(Some(a.findings as f64), Some(b.findings as f64)),
        ),
        card("requests", count(b.requests), count(a.requests), None, None),
        card(
            "5xx",
            count(b.errors_5xx),
            count(a.errors_5xx),
            None,
            lower(a.error_rate, b.error_rate),
        ),
        card(
            "error rate",
            percent(b.error_rate),
            percent(a.error_rate),
            None,
            lower(a.error_rate, b.error_rate),
        ),
        card(
            "p50 latency",
            ms(b.p50_ms),
            ms(a.p50_ms),
            super::ratio(a.p50_ms, b.p50_ms).map(|r| sections::times(Some(r))),
            lower(a.p50_ms, b.p50_ms),
        ),
        card(
            "p99 latency",
            ms(b.p99_ms),
            ms(a.p99_ms),
            c.p99_ratio.map(|r| sections::times(Some(r))),
            lower(a.p99_ms, b.p99_ms),
        ),
    ];
    let charts = sides
        .map(|(before, after)| crate::report::compare_charts(before, after))
        .unwrap_or_default();
    page(
        "compare.html",
        minijinja::context! {
            c => minijinja::Value::from_serialize(c),
            verdict => verdict(c),
            before_span => span(b),
            after_span => span(a),
            cards,
            axis_note => charts.axis_note.clone(),
            charts => chart_values(charts),
            version => env!("CARGO_PKG_VERSION"),
        },
    )
}

/// Renders a comparison (HTML without the charts: [`render_compare_html`] draws them from
/// the two reports).
pub fn render_compare(c: &Comparison, format: Format) -> Vec<u8> {
    match format {
        Format::Table => render_compare_table(c).into_bytes(),
        Format::Markdown => render_compare_markdown(c).into_bytes(),
        Format::Html => render_compare_html(c, None).into_bytes(),
        Format::Json => {
            let mut v = serde_json::to_vec_pretty(c).expect("comparison serializes");
            v.push(b'\n');
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{compare, CompareOptions};
    use crate::report::{Report, SignatureReport, TimeRange};

    #[test]
    fn renders_every_section() {
        let mut before = Report {
            time_range: TimeRange {
                start: Some("2025-01-10T10:00:00.000Z".into()),
                end: Some("2025-01-10T10:59:59.999Z".into()),
            },
            ..Default::default()
        };
        before
            .signatures
            .push(SignatureReport::named("websocket-not-accepted", 120));
        before.input.records = 500;
        let mut after = before.clone();
        after.signatures.clear();
        after.time_range = TimeRange {
            start: Some("2025-01-10T11:00:00.000Z".into()),
            end: Some("2025-01-10T11:59:59.999Z".into()),
        };
        let c = compare(
            &before,
            &after,
            Default::default(),
            &CompareOptions::default(),
        );
        let t = render_compare_table(&c);
        assert!(
            t.contains("before: 2025-01-10 10:00:00 to 2025-01-10 10:59:59 (1.00 h)"),
            "{t}"
        );
        assert!(t.contains("websocket-not-accepted"), "{t}");
        assert!(t.trim_end().ends_with("1 resolved"), "{t}");
        let m = render_compare_markdown(&c);
        assert!(m.starts_with("## Before / After\n"), "{m}");
        assert!(
            m.contains("| websocket-not-accepted | resolved | 120 | 120.0 | 0 | 0.0 | 0.000x |"),
            "{m}"
        );
        let j: serde_json::Value =
            serde_json::from_slice(&render_compare(&c, Format::Json)).unwrap();
        assert_eq!(j["schema"], "faultline.compare/v1");
        assert_eq!(j["signatures"][0]["status"], "resolved");
    }
}
