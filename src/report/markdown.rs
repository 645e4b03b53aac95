//! The post-incident report in Markdown: summary, timeline, signatures with their fixes,
//! endpoints, latency before/during/after. Ready to paste into a postmortem.

use std::fmt::Write;

use super::sections::{self, latency as ms, short_time as short, Cell, Section};
use super::{Report, SignatureReport};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Text from the log as Markdown shows it verbatim: the characters Markdown would read as
/// markup (`<str>` as an HTML tag, `*` as emphasis, `[x](y)` as a link) backslash-escaped.
/// Pipes are escaped by [`cell`] in tables (and mean nothing elsewhere).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '~' | '#' | '!' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

/// `s` as a code span: fenced by more backticks than it holds in a row (a backtick in a name
/// does not end the span), spaced when it starts or ends with one.
pub(crate) fn code(s: &str) -> String {
    let s = s.replace(['\n', '\r'], " ");
    let (mut run, mut longest) = (0, 0);
    for ch in s.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// `s` as a fenced code block: its lines shown verbatim, the fence longer than any run of
/// backticks in them.
pub(crate) fn code_block(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{}\n{fence}", s.trim_end_matches('\n'))
}

/// A cell as Markdown shows it: names in backticks, latencies with their unit, paths whole.
fn text(c: &Cell) -> String {
    match c {
        Cell::Text(s) | Cell::Message(s) => escape(s),
        Cell::Code(s) => code(s),
        Cell::Count(n) => n.to_string(),
        Cell::Time(v) => t(v),
        Cell::Ms(v) => ms(*v),
        Cell::Rate(v) => sections::percent(*v),
        Cell::Ratio(v) => sections::times(*v),
        Cell::Location(l) => l.as_ref().map_or("-".to_string(), |l| {
            format!(
                "{} in {}",
                code(&format!("{}:{}", l.file, l.line)),
                code(&l.function)
            )
        }),
    }
}

/// The first `limit` rows of a section as a Markdown table.
pub(crate) fn table(out: &mut String, s: &Section, limit: usize) {
    let _ = writeln!(out, "| {} |", s.header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        s.header.iter().map(|_| "---|").collect::<String>()
    );
    for r in s.rows.iter().take(limit) {
        let cells: Vec<String> = r.iter().map(|c| cell(&text(c))).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

fn t(s: &Option<String>) -> String {
    s.as_deref().map_or("-".into(), short)
}

fn pct(n: u64, d: u64) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / d as f64)
    }
}

/// Renders the report as Markdown.
pub fn render_markdown(r: &Report) -> String {
    render_markdown_with_charts(r, &[])
}

/// Renders the report as Markdown, its timeline showing the chart images at `charts`
/// (`(caption, link)`, links as the reader of the file finds them: see
/// [`crate::report::write_charts`]).
pub fn render_markdown_with_charts(r: &Report, charts: &[(String, String)]) -> String {
    let mut o = String::new();
    let range = format!("{} to {} UTC", t(&r.time_range.start), t(&r.time_range.end));
    let _ = writeln!(
        o,
        "# Post-incident report\n\nLogs from {range}, analysed by faultline.\n"
    );
    summary(&mut o, r);
    timeline(&mut o, r, charts);
    let _ = writeln!(o, "## Failure signatures and fixes\n");
    for (n, s) in r.signatures.iter().enumerate() {
        signature(&mut o, n + 1, s);
    }
    if !r.exceptions.is_empty() {
        let _ = writeln!(o, "## Other exceptions\n");
        table(&mut o, &sections::exceptions(r), 30);
    }
    if !r.templates.is_empty() {
        let _ = writeln!(o, "## Warnings and errors by template\n");
        let _ = writeln!(
            o,
            "Records at warning level or above that no signature matched, grouped by message \
             template (`<*>` marks a value that varies). *New*: absent before *since*; \
             *surging*: its rate rose that many times from *since* on.\n"
        );
        table(&mut o, &sections::templates(r), 30);
    }
    if !r.by_source.is_empty() {
        let _ = writeln!(o, "## By source\n");
        table(&mut o, &sections::by_source(r), usize::MAX);
    }
    if !r.endpoints.is_empty() {
        let _ = writeln!(o, "## Endpoints\n");
        table(&mut o, &sections::endpoints(r), usize::MAX);
    }
    if let Some(i) = r.incidents.first() {
        let _ = writeln!(o, "## Latency before, during and after\n");
        table(&mut o, &sections::phases(i), usize::MAX);
    }
    let inp = &r.input;
    let _ = writeln!(
        o,
        "---\n{} inputs, {} bytes, {} lines, {} records, {} request lines.",
        inp.files, inp.bytes, inp.lines, inp.records, r.requests.count
    );
    o
}

/// What failed, when, the impact and the recovery, and the notes.
fn summary(o: &mut String, r: &Report) {
    let _ = writeln!(o, "## Summary\n");
    let total: u64 = r.signatures.iter().map(|s| s.count).sum();
    let top: Vec<String> = r
        .signatures
        .iter()
        .take(4)
        .map(|s| format!("`{}` ({})", s.id, s.count))
        .collect();
    if r.signatures.is_empty() {
        let _ = writeln!(o, "- **What:** no known failure signature was found.");
    } else {
        let _ = writeln!(
            o,
            "- **What:** {total} records matched {} known failure signatures: {}.",
            r.signatures.len(),
            top.join(", ")
        );
    }
    if !r.exceptions.is_empty() {
        let n: u64 = r.exceptions.iter().map(|e| e.count).sum();
        let _ = writeln!(
            o,
            "- **Other exceptions:** {n} in {} groups (see below).",
            r.exceptions.len()
        );
    }
    let changed: Vec<&super::TemplateReport> = r
        .templates
        .iter()
        .filter(|t| t.change != "steady")
        .collect();
    if !changed.is_empty() {
        let new = changed.iter().filter(|t| t.change == "new").count();
        let first = changed
            .iter()
            .filter_map(|t| t.since.as_deref())
            .min()
            .unwrap_or("-");
        let _ = writeln!(
            o,
            "- **New messages:** {new} message template(s) new and {} surging, the first from \
             {first} (see below).",
            changed.len() - new
        );
    }
    let q = &r.requests;
    if q.count > 0 {
        let _ = writeln!(
            o,
            "- **Traffic:** {} requests, {} with 5xx ({}); p50 {}, p99 {} over the whole log.",
            q.count,
            q.errors_5xx,
            pct(q.errors_5xx, q.count),
            ms(q.p50_ms),
            ms(q.p99_ms)
        );
    }
    match r.incidents.first() {
        Some(i) => {
            let _ = writeln!(
                o,
                "- **When:** incident from {} to {} UTC ({} min), peak at {}.",
                short(&i.start),
                short(&i.end),
                i.duration_seconds / 60,
                short(&i.peak)
            );
            let ratio = i.latency_ratio.map_or("-".into(), |x| format!("{x:.0}x"));
            let _ = writeln!(
                o,
                "- **Impact:** {} requests during the incident, {} failed with 5xx ({}); p99 latency {} against {} before ({ratio}).",
                i.requests,
                i.errors_5xx,
                pct(i.errors_5xx, i.requests),
                ms(i.p99_ms),
                ms(i.baseline_p99_ms)
            );
            let _ = writeln!(
                o,
                "- **Recovery:** after the incident p99 was {} with {} 5xx in {} requests.",
                ms(i.after_p99_ms),
                i.after_errors_5xx,
                i.after_requests
            );
            if r.incidents.len() > 1 {
                let _ = writeln!(
                    o,
                    "- {} more incident windows are listed below.",
                    r.incidents.len() - 1
                );
            }
        }
        None => {
            let _ = writeln!(
                o,
                "- **When:** no incident window was detected in latency or error rate."
            );
        }
    }
    for n in &r.notes {
        let _ = writeln!(o, "- **Note:** {}.", escape(n));
    }
    o.push('\n');
}

/// The events in time order, then the timeline's buckets around the first incident.
fn timeline(o: &mut String, r: &Report, charts: &[(String, String)]) {
    let _ = writeln!(o, "## Timeline\n");
    for (caption, link) in charts {
        // A link with spaces or parentheses stays one link inside `<...>`.
        let _ = writeln!(
            o,
            "![{}](<{}>)\n",
            escape(caption),
            link.replace(['<', '>'], "")
        );
    }
    let mut events: Vec<(String, String)> = r
        .signatures
        .iter()
        .filter_map(|s| {
            s.first_seen
                .as_ref()
                .map(|f| (f.clone(), format!("first `{}`", s.id)))
        })
        .collect();
    for i in &r.incidents {
        events.push((
            i.start.clone(),
            "incident starts: latency or 5xx rate well above the baseline".into(),
        ));
        events.push((i.peak.clone(), format!("peak, p99 {}", ms(i.p99_ms))));
        events.push((i.end.clone(), "incident ends: back to the baseline".into()));
    }
    for s in &r.signatures {
        if let (Some(l), Some(i)) = (&s.last_seen, r.incidents.first()) {
            if l.as_str() <= i.end.as_str() && l.as_str() >= i.start.as_str() {
                events.push((l.clone(), format!("last `{}`", s.id)));
            }
        }
    }
    events.sort();
    for (when, what) in &events {
        let _ = writeln!(o, "- {} UTC: {what}", short(when));
    }
    o.push('\n');
    let (section, step) = sections::timeline(r);
    if step > 1 {
        let _ = writeln!(
            o,
            "Every {step}th bucket of the incident, with 3 before and after:\n"
        );
    }
    if section.rows.is_empty() {
        let _ = writeln!(o, "No timed records.\n");
    } else {
        table(o, &section, usize::MAX);
    }
}

/// Signatures as Markdown: a section each, with what it matches and the whole fix.
pub fn catalog_markdown(sigs: &[&crate::classify::Signature]) -> String {
    let mut o = String::from(
        "# faultline signatures

",
    );
    for s in sigs {
        let _ = writeln!(
            o,
            "## `{}`: {}
",
            s.id, s.title
        );
        let anchors: Vec<String> = s.anchors.iter().map(|a| format!("`{a}`")).collect();
        let _ = writeln!(
            o,
            "Severity {}. Anchors: {}. From `{}`.
",
            s.severity.as_str(),
            anchors.join(", "),
            s.source.display()
        );
        let _ = writeln!(
            o,
            "**Fix.** {}
",
            s.remediation.trim()
        );
        for link in &s.references {
            let _ = writeln!(o, "- <{link}>");
        }
        if !s.references.is_empty() {
            o.push('\n');
        }
    }
    o
}

/// One signature: what, how often, its exceptions, variants, code locations and the fix.
fn signature(o: &mut String, n: usize, s: &SignatureReport) {
    let _ = writeln!(o, "### {n}. `{}`: {}\n", s.id, s.title);
    let _ = writeln!(
        o,
        "Severity {}, {} records, first seen {} UTC, last seen {} UTC.\n",
        s.severity,
        s.count,
        t(&s.first_seen),
        t(&s.last_seen)
    );
    if !s.exception_types.is_empty() {
        let ty: Vec<String> = s
            .exception_types
            .iter()
            .map(|e| format!("{} ({})", code(&e.r#type), e.count))
            .collect();
        let _ = writeln!(o, "Exceptions: {}.\n", ty.join(", "));
    }
    if !s.variants.is_empty() {
        table(o, &sections::variants(s), 20);
    }
    if !s.locations.is_empty() {
        table(o, &sections::locations(s), 20);
    }
    if let Some(x) = &s.example {
        let _ = writeln!(o, "The first record:\n\n{}\n", code_block(x));
    }
    let _ = writeln!(o, "**Fix.** {}\n", s.remediation.trim());
    for link in &s.references {
        let _ = writeln!(o, "- <{link}>");
    }
    if !s.references.is_empty() {
        o.push('\n');
    }
}
