//! The terminal table: what an engineer reads first in an incident.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use super::sections::{self, short_time, Cell, Section};
use super::Report;
use crate::classify::Catalog;

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(header.to_vec());
    t
}

pub(crate) fn time(t: &Option<String>) -> String {
    t.as_deref().map_or_else(|| "-".to_string(), short_time)
}

/// A cell as the terminal shows it: latencies as bare numbers (the header has the unit),
/// paths shortened, messages cut at 60 characters.
fn text(c: &Cell) -> String {
    match c {
        Cell::Text(s) | Cell::Code(s) => s.clone(),
        Cell::Message(s) => s.chars().take(60).collect(),
        Cell::Count(n) => n.to_string(),
        Cell::Time(t) => time(t),
        Cell::Ms(v) => v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}")),
        Cell::Rate(v) => sections::percent(*v),
        Cell::Ratio(v) => sections::times(*v),
        Cell::Location(l) => l.as_ref().map_or_else(
            || "-".to_string(),
            |l| format!("{}:{} in {}", short_path(&l.file), l.line, l.function),
        ),
    }
}

/// The first `limit` rows of a section as a table, after its title; a latency column's
/// header says its unit.
pub(crate) fn push_section(out: &mut String, title: Option<&str>, s: &Section, limit: usize) {
    if let Some(title) = title {
        out.push_str(&format!("\n{title}\n"));
    }
    let header: Vec<String> = s
        .header
        .iter()
        .enumerate()
        .map(|(i, h)| match s.rows.first().map(|r| &r[i]) {
            Some(Cell::Ms(_)) => format!("{h} ms"),
            _ => h.to_string(),
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut t = new_table(&header);
    for row in s.rows.iter().take(limit) {
        t.add_row(row.iter().map(text).collect::<Vec<_>>());
    }
    out.push_str(&t.to_string());
    out.push('\n');
}

/// Renders the report as tables: signatures, other exceptions, sources, endpoints, then the
/// incidents, notes and a summary line.
pub fn render_table(r: &Report) -> String {
    let mut out = String::new();
    if r.signatures.is_empty() {
        out.push_str("no known signatures found\n");
    } else {
        push_section(&mut out, None, &sections::signatures(r), usize::MAX);
    }
    if !r.exceptions.is_empty() {
        push_section(
            &mut out,
            Some("other exceptions"),
            &sections::exceptions(r),
            20,
        );
        if r.exceptions.len() > 20 {
            out.push_str(&format!(
                "... and {} more groups (see --format json)\n",
                r.exceptions.len() - 20
            ));
        }
    }
    if !r.by_source.is_empty() {
        push_section(
            &mut out,
            Some("by source"),
            &sections::by_source(r),
            usize::MAX,
        );
    }
    if !r.endpoints.is_empty() {
        push_section(&mut out, Some("endpoints"), &sections::endpoints(r), 15);
    }
    for i in &r.incidents {
        let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1} ms"));
        out.push_str(&format!(
            "\nincident {} to {} (peak {}): {} requests, {} 5xx, p99 {} vs baseline {}{}\n",
            short_time(&i.start),
            short_time(&i.end),
            short_time(&i.peak),
            i.requests,
            i.errors_5xx,
            f(i.p99_ms),
            f(i.baseline_p99_ms),
            i.latency_ratio
                .map_or_else(String::new, |x| format!(" ({x:.0}x)")),
        ));
    }
    for n in &r.notes {
        out.push_str(&format!("\nnote: {n}\n"));
    }
    let q = &r.requests;
    if q.count > 0 {
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1} ms"));
        out.push_str(&format!(
            "\n{} requests, {} 5xx ({}), p50 {}, p99 {}",
            q.count,
            q.errors_5xx,
            sections::percent(Some(q.errors_5xx as f64 / q.count as f64)),
            ms(q.p50_ms),
            ms(q.p99_ms)
        ));
    }
    let i = &r.input;
    out.push_str(&format!(
        "\n{} input(s), {} bytes, {} lines, {} records, {} to {}",
        i.files,
        i.bytes,
        i.lines,
        i.records,
        time(&r.time_range.start),
        time(&r.time_range.end)
    ));
    let skipped: u64 = i.skipped.values().sum();
    if skipped > 0 {
        out.push_str(&format!(", {skipped} lines skipped"));
    }
    if i.truncated_lines > 0 {
        out.push_str(&format!(", {} lines truncated", i.truncated_lines));
    }
    if !r.errors.is_empty() {
        out.push_str(&format!(", {} input error(s)", r.errors.len()));
    }
    out.push('\n');
    out
}

/// The last three components of a path: enough to find the file, short enough for a table.
fn short_path(p: &str) -> String {
    let parts: Vec<&str> = p.split('/').collect();
    if parts.len() <= 4 {
        p.to_string()
    } else {
        format!(".../{}", parts[parts.len() - 3..].join("/"))
    }
}

/// Renders the catalog for `faultline signatures`: id, severity, title, then each fix.
pub fn render_catalog(c: &Catalog, with_remediation: bool) -> String {
    let mut t = new_table(&["id", "severity", "title", "source"]);
    for s in &c.signatures {
        t.add_row(vec![
            s.id.clone(),
            s.severity.as_str().to_string(),
            s.title.clone(),
            s.source.display().to_string(),
        ]);
    }
    let mut out = t.to_string();
    out.push('\n');
    if with_remediation {
        for s in &c.signatures {
            out.push_str(&format!(
                "\n## {} — {}\n\n{}\n",
                s.id, s.title, s.remediation
            ));
            for r in &s.references {
                out.push_str(&format!("  see: {r}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::*;

    #[test]
    fn table_lists_signatures_and_totals() {
        let r = Report {
            schema: SCHEMA.into(),
            input: InputSummary {
                files: 1,
                bytes: 10,
                lines: 3,
                records: 2,
                ..InputSummary::default()
            },
            time_range: TimeRange {
                start: Some("2025-01-10T06:00:00.000Z".into()),
                end: None,
            },
            signatures: vec![SignatureReport {
                id: "websocket-not-accepted".into(),
                title: "t".into(),
                severity: "error".into(),
                count: 267,
                first_seen: Some("2025-01-10T08:35:37.149Z".into()),
                last_seen: None,
                exception_types: vec![],
                variants: vec![VariantCount {
                    value: "send_json".into(),
                    count: 267,
                }],
                locations: vec![LocationCount {
                    file: "/opt/render/project/src/backend/app/api/v1/pam.py".into(),
                    line: 412,
                    function: "websocket_endpoint".into(),
                    count: 267,
                }],
                remediation: "r".into(),
                references: vec![],
            }],
            ..Report::default()
        };
        let s = render_table(&r);
        assert!(s.contains("websocket-not-accepted"));
        assert!(s.contains("send_json (267)"));
        assert!(s.contains(".../api/v1/pam.py:412 in websocket_endpoint"));
        assert!(s.contains("2025-01-10 08:35:37"));
        assert!(s.contains("1 input(s), 10 bytes, 3 lines, 2 records"));
    }
}
