//! The terminal table: what an engineer reads first in an incident.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};

use super::sections::{self, short_time, Cell, Section};
use super::Report;
use crate::classify::Signature;

/// How the terminal table is drawn: the library's default is as wide as its content and
/// without colour, the same bytes wherever it goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStyle {
    /// The terminal's width in columns: tables fit in it (cells cut with `…`, the least
    /// needed columns left out). `None`: as wide as the content.
    pub width: Option<usize>,
    /// Severity, incidents and notes in colour (ANSI escapes).
    pub color: bool,
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    t.force_no_tty();
    t.set_header(header.to_vec());
    t
}

pub(crate) fn time(t: &Option<String>) -> String {
    t.as_deref().map_or_else(|| "-".to_string(), short_time)
}

/// A cell as the terminal shows it: latencies as bare numbers (the header has the unit),
/// paths shortened, messages cut at 60 characters; times without their date when `day_only`
/// says every time of the report is on one day (the summary line gives it).
fn text(c: &Cell, day_only: bool) -> String {
    let shown = |s: &str| crate::framing::printable(s).into_owned();
    match c {
        Cell::Text(s) | Cell::Code(s) => shown(s),
        Cell::Message(s) => shown(s).chars().take(60).collect(),
        Cell::Count(n) => n.to_string(),
        Cell::Time(t) if day_only => t.as_deref().map_or_else(
            || "-".to_string(),
            |t| short_time(t).get(11..).unwrap_or("-").to_string(),
        ),
        // The year is in the summary line; a table keeps month, day and time.
        Cell::Time(t) => time(t).get(5..).unwrap_or("-").to_string(),
        Cell::Ms(v) => v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}")),
        Cell::Rate(v) => sections::percent(*v),
        Cell::Ratio(v) => sections::times(*v),
        Cell::Location(l) => l.as_ref().map_or_else(
            || "-".to_string(),
            |l| {
                shown(&format!(
                    "{}:{} in {}",
                    short_path(&l.file),
                    l.line,
                    l.function
                ))
            },
        ),
    }
}

/// The columns a narrow terminal leaves out first, most expendable first.
const DROP_ORDER: &[&str] = &[
    "first seen",
    "p95",
    "max",
    "severity",
    "other exceptions",
    "top variant",
    "p50",
    "per hour",
    "p50 before",
    "p50 after",
    "last seen",
    "error rate",
    "requests",
];

/// How narrow a column that may be cut can get: an id or endpoint keeps enough to be
/// recognised (the lines under the table give signature ids whole), a path its file name.
fn min_width(header: &str, natural: usize) -> usize {
    let floor = match header {
        "signature" | "endpoint" | "source" => 22,
        "top location" | "location" | "type" => 16,
        "message" => 14,
        _ => 10,
    };
    natural.min(floor.max(header.chars().count()))
}

/// Which columns to show and how wide, to fit `width`: expendable columns go first, then
/// the cells that may be cut share what is left, the narrowest first served.
fn fit(header: &[&str], natural: &[usize], cuttable: &[bool], width: usize) -> Vec<Option<usize>> {
    let n = header.len();
    let mut keep = vec![true; n];
    let overhead = |k: &[bool]| 3 * k.iter().filter(|x| **x).count() + 1;
    let mins: Vec<usize> = (0..n)
        .map(|i| match cuttable[i] {
            true => min_width(header[i], natural[i]),
            false => natural[i],
        })
        .collect();
    let need = |k: &[bool], w: &[usize]| -> usize {
        (0..n).filter(|&i| k[i]).map(|i| w[i]).sum::<usize>() + overhead(k)
    };
    if need(&keep, natural) <= width {
        return natural.iter().map(|w| Some(*w)).collect();
    }
    for d in DROP_ORDER {
        for i in (0..n).filter(|&i| header[i] == *d) {
            if need(&keep, &mins) > width && keep.iter().filter(|x| **x).count() > 2 {
                keep[i] = false;
            }
        }
    }
    let mut w = mins.clone();
    let mut spare = width.saturating_sub(need(&keep, &w));
    while spare > 0 {
        // The cut column furthest from its natural width gets one more (first on a tie).
        let Some(i) = (0..n)
            .filter(|&i| keep[i] && w[i] < natural[i])
            .max_by_key(|&i| (natural[i] - w[i], std::cmp::Reverse(i)))
        else {
            break;
        };
        w[i] += 1;
        spare -= 1;
    }
    (0..n).map(|i| keep[i].then_some(w[i])).collect()
}

/// `s` in at most `w` columns: cut with `…` at the end, or at the start for a code location
/// (its file name and line are at the end).
fn cut(s: &str, w: usize, keep_end: bool) -> String {
    let len = s.chars().count();
    if len <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    match keep_end {
        true => format!("…{}", s.chars().skip(len - (w - 1)).collect::<String>()),
        false => format!("{}…", s.chars().take(w - 1).collect::<String>()),
    }
}

/// Severity colours: ANSI foreground codes.
fn severity_color(s: &str) -> Option<comfy_table::Color> {
    use comfy_table::Color;
    match s {
        "critical" => Some(Color::Magenta),
        "error" => Some(Color::Red),
        "warning" => Some(Color::Yellow),
        "info" => Some(Color::Blue),
        _ => None,
    }
}

/// Whether every time the report shows is on the day of its first one.
fn one_day(r: &Report) -> bool {
    let day = |t: &Option<String>| t.as_deref().and_then(|t| t.get(..10)).map(str::to_string);
    let start = day(&r.time_range.start);
    start.is_some() && start == day(&r.time_range.end)
}

/// The first `limit` rows of a section as a table, after its title, in `style`; a latency
/// column's header says its unit, and times show only the time of day when `day_only`.
pub(crate) fn push_styled(
    out: &mut String,
    title: Option<&str>,
    s: &Section,
    limit: usize,
    style: &TableStyle,
    day_only: bool,
) {
    if let Some(title) = title {
        out.push_str(&format!("\n{title}\n"));
    }
    let first = s.rows.first();
    let header: Vec<String> = s
        .header
        .iter()
        .enumerate()
        .map(|(i, h)| match first.map(|r| &r[i]) {
            Some(Cell::Ms(_)) => format!("{h} ms"),
            _ => h.to_string(),
        })
        .collect();
    let rows: Vec<Vec<String>> = s
        .rows
        .iter()
        .take(limit)
        .map(|r| r.iter().map(|c| text(c, day_only)).collect())
        .collect();
    let cuttable: Vec<bool> = (0..header.len())
        .map(|i| {
            matches!(
                first.map(|r| &r[i]),
                Some(Cell::Text(_) | Cell::Code(_) | Cell::Message(_) | Cell::Location(_))
            )
        })
        .collect();
    let natural: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let widths = match style.width {
        Some(w) => fit(s.header, &natural, &cuttable, w),
        None => natural.iter().map(|w| Some(*w)).collect(),
    };
    let shown: Vec<usize> = (0..header.len()).filter(|&i| widths[i].is_some()).collect();
    let keep_end = |i: usize| matches!(first.map(|r| &r[i]), Some(Cell::Location(_)));
    let head: Vec<String> = shown
        .iter()
        .map(|&i| cut(&header[i], widths[i].unwrap_or(0), false))
        .collect();
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = new_table(&head);
    if style.color {
        t.enforce_styling();
    }
    for r in &rows {
        t.add_row(shown.iter().map(|&i| {
            let c = comfy_table::Cell::new(cut(&r[i], widths[i].unwrap_or(0), keep_end(i)));
            match (
                style.color && header[i] == "severity",
                severity_color(&r[i]),
            ) {
                (true, Some(color)) => c.fg(color),
                _ => c,
            }
        }));
    }
    out.push_str(&t.to_string());
    out.push('\n');
    let hidden: Vec<&str> = (0..header.len())
        .filter(|&i| widths[i].is_none())
        .map(|i| header[i].as_str())
        .collect();
    if !hidden.is_empty() {
        let line = format!(
            "({} left out to fit {} columns; --format json has everything)",
            hidden.join(", "),
            style.width.unwrap_or(0)
        );
        out.push_str(&wrap(&line, style.width));
        out.push('\n');
    }
}

/// The first sentence of a remediation, on one line (a colon that introduces an example
/// ends it too).
fn first_sentence(s: &str) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let b = flat.as_bytes();
    let end = (0..b.len())
        .find(|&i| matches!(b[i], b'.' | b':') && b.get(i + 1).is_none_or(|c| *c == b' '));
    match end {
        Some(i) => format!("{}.", &flat[..i]),
        None => flat,
    }
}

/// `s` wrapped at spaces to lines of at most `width` columns (a longer word stays whole),
/// the lines after the first indented by two.
pub(crate) fn wrap(s: &str, width: Option<usize>) -> String {
    let Some(w) = width else {
        return s.to_string();
    };
    let mut out = String::new();
    let mut line = 0;
    for word in s.split(' ') {
        let n = word.chars().count();
        if line > 0 && line + 1 + n > w {
            out.push_str("\n  ");
            line = 2;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += n;
    }
    out
}

fn paint(s: &str, code: &str, on: bool) -> String {
    match on {
        true => format!("\x1b[{code}m{s}\x1b[0m"),
        false => s.to_string(),
    }
}

/// Renders the report as tables: signatures, other exceptions, sources, endpoints, then the
/// incidents, notes and a summary line.
pub fn render_table(r: &Report) -> String {
    render_table_styled(r, &TableStyle::default())
}

/// [`render_table`] for a terminal: fitted to its width, in colour.
pub fn render_table_styled(r: &Report, style: &TableStyle) -> String {
    let mut out = String::new();
    let day = one_day(r);
    if r.signatures.is_empty() {
        out.push_str("no known signatures found\n");
    } else {
        push_styled(
            &mut out,
            None,
            &sections::signatures(r),
            usize::MAX,
            style,
            day,
        );
        out.push_str("\nwhat to do (the whole fix: faultline signatures ID)\n");
        for s in &r.signatures {
            let line = format!("  {}: {}", s.id, first_sentence(&s.remediation));
            let line = match style.width {
                Some(w) => cut(&line, w, false),
                None => line,
            };
            out.push_str(&line);
            out.push('\n');
        }
    }
    for (title, section, what) in [
        ("other exceptions", sections::exceptions(r), "groups"),
        (
            "warnings and errors by template",
            sections::templates(r),
            "templates",
        ),
    ] {
        if section.rows.is_empty() {
            continue;
        }
        push_styled(&mut out, Some(title), &section, 20, style, day);
        if section.rows.len() > 20 {
            out.push_str(&format!(
                "... and {} more {what} (see --format json)\n",
                section.rows.len() - 20
            ));
        }
    }
    if !r.by_source.is_empty() {
        push_styled(
            &mut out,
            Some("by source"),
            &sections::by_source(r),
            usize::MAX,
            style,
            day,
        );
    }
    if !r.endpoints.is_empty() {
        push_styled(
            &mut out,
            Some("endpoints"),
            &sections::endpoints(r),
            15,
            style,
            day,
        );
    }
    for i in &r.incidents {
        let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.1} ms"));
        out.push_str(&format!(
            "\n{} {} to {} (peak {}): {} requests, {} 5xx, p99 {} vs baseline {}{}\n",
            paint("incident", "1;31", style.color),
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
        let text = wrap(
            &format!("note: {}", crate::framing::printable(n)),
            style.width,
        );
        let text = text.strip_prefix("note:").unwrap_or(&text);
        out.push_str(&format!("\n{}{text}\n", paint("note:", "33", style.color)));
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
    let utc = if r.time_range.start.is_some() {
        " UTC"
    } else {
        ""
    };
    let mut last = format!(
        "{} input(s), {} bytes, {} lines, {} records, {} to {}{utc}",
        i.files,
        i.bytes,
        i.lines,
        i.records,
        time(&r.time_range.start),
        time(&r.time_range.end)
    );
    let skipped: u64 = i.skipped.values().sum();
    if skipped > 0 {
        last.push_str(&format!(", {skipped} lines skipped"));
    }
    if i.truncated_lines > 0 {
        last.push_str(&format!(", {} lines truncated", i.truncated_lines));
    }
    if !r.errors.is_empty() {
        last.push_str(&format!(", {} input error(s)", r.errors.len()));
    }
    out.push('\n');
    out.push_str(&wrap(&last, style.width));
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
pub fn render_catalog(sigs: &[&Signature]) -> String {
    let mut t = new_table(&["id", "severity", "title", "source"]);
    for s in sigs {
        t.add_row(vec![
            s.id.clone(),
            s.severity.as_str().to_string(),
            s.title.clone(),
            s.source.display().to_string(),
        ]);
    }
    let mut out = t.to_string();
    out.push_str(&format!(
        "\n{} signature(s). The whole fix of one: faultline signatures ID\n",
        sigs.len()
    ));
    out
}

/// Signatures in full, for a terminal: what they match and the whole fix.
pub fn render_signatures(sigs: &[&Signature]) -> String {
    let mut out = String::new();
    for (i, s) in sigs.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "{} ({})\n{}\n\n",
            s.id,
            s.severity.as_str(),
            s.title
        ));
        out.push_str(&format!("anchors: {}\n", s.anchors.join(", ")));
        out.push_str(&format!("pattern: {}\n", s.pattern.as_str()));
        out.push_str(&format!("source:  {}\n\n", s.source.display()));
        out.push_str(s.remediation.trim_end());
        out.push('\n');
        for r in &s.references {
            out.push_str(&format!("see: {r}\n"));
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
                example: None,
                references: vec![],
            }],
            ..Report::default()
        };
        let s = render_table(&r);
        assert!(s.contains("websocket-not-accepted"));
        assert!(s.contains("send_json (267)"));
        assert!(s.contains(".../api/v1/pam.py:412 in websocket_endpoint"));
        assert!(s.contains("01-10 08:35:37"));
        assert!(s.contains("1 input(s), 10 bytes, 3 lines, 2 records"));
    }
}
