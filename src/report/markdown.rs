//! The post-incident report in Markdown: summary, timeline, signatures with their fixes,
//! endpoints, latency before/during/after. Ready to paste into a postmortem.

use std::fmt::Write;

use super::{Report, TimelineBucket};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        header.iter().map(|_| "---|").collect::<String>()
    );
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x >= 1000.0 => format!("{:.2} s", x / 1000.0),
        Some(x) => format!("{x:.1} ms"),
    }
}

fn t(s: &Option<String>) -> String {
    s.as_deref().map_or("-".into(), short)
}

fn short(s: &str) -> String {
    s.get(..19).unwrap_or(s).replacen('T', " ", 1)
}

fn pct(n: u64, d: u64) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / d as f64)
    }
}

fn bucket_row(b: &TimelineBucket) -> Vec<String> {
    let sigs: Vec<String> = b
        .signatures
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    vec![
        short(&b.bucket),
        b.requests.to_string(),
        b.errors_5xx.to_string(),
        ms(b.p50_ms),
        ms(b.p99_ms),
        if sigs.is_empty() {
            "-".into()
        } else {
            sigs.join(", ")
        },
    ]
}

/// Renders the report as Markdown.
pub fn render_markdown(r: &Report) -> String {
    let mut o = String::new();
    let range = format!("{} to {} UTC", t(&r.time_range.start), t(&r.time_range.end));
    let _ = writeln!(
        o,
        "# Post-incident report\n\nLogs from {range}, analysed by faultline.\n"
    );

    // Summary
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
        let _ = writeln!(o, "- **Note:** {n}.");
    }
    o.push('\n');

    // Timeline
    let _ = writeln!(o, "## Timeline\n");
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
    let header = [
        "bucket (UTC)",
        "requests",
        "5xx",
        "p50",
        "p99",
        "signatures",
    ];
    let mut rows = Vec::new();
    if let Some(i) = r.incidents.first() {
        let first = r
            .timeline
            .iter()
            .position(|b| b.bucket >= i.start)
            .unwrap_or(0);
        let last = r
            .timeline
            .iter()
            .rposition(|b| b.bucket < i.end)
            .unwrap_or(r.timeline.len().saturating_sub(1));
        let from = first.saturating_sub(3);
        let to = (last + 3).min(r.timeline.len().saturating_sub(1));
        // Long incidents: the first and last buckets, and every n-th in between.
        let span = to.saturating_sub(from) + 1;
        let step = span.div_ceil(40).max(1);
        for (k, b) in r.timeline[from..=to.max(from).min(r.timeline.len().saturating_sub(1))]
            .iter()
            .enumerate()
        {
            if k % step == 0 || from + k == first || from + k == last {
                rows.push(bucket_row(b));
            }
        }
        if step > 1 {
            let _ = writeln!(
                o,
                "Every {step}th bucket of the incident, with 3 before and after:\n"
            );
        }
    } else {
        rows.extend(r.timeline.iter().take(30).map(bucket_row));
    }
    if rows.is_empty() {
        let _ = writeln!(o, "No timed records.\n");
    } else {
        table(&mut o, &header, &rows);
    }

    // Signatures
    let _ = writeln!(o, "## Failure signatures and fixes\n");
    for (n, s) in r.signatures.iter().enumerate() {
        let _ = writeln!(o, "### {}. `{}`: {}\n", n + 1, s.id, s.title);
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
                .map(|e| format!("`{}` ({})", e.r#type, e.count))
                .collect();
            let _ = writeln!(o, "Exceptions: {}.\n", ty.join(", "));
        }
        if !s.variants.is_empty() {
            let rows: Vec<Vec<String>> = s
                .variants
                .iter()
                .take(20)
                .map(|v| vec![format!("`{}`", v.value), v.count.to_string()])
                .collect();
            table(&mut o, &["variant", "count"], &rows);
        }
        if !s.locations.is_empty() {
            let rows: Vec<Vec<String>> = s
                .locations
                .iter()
                .take(20)
                .map(|l| {
                    vec![
                        format!("`{}:{}`", l.file, l.line),
                        format!("`{}`", l.function),
                        l.count.to_string(),
                    ]
                })
                .collect();
            table(&mut o, &["code location", "function", "count"], &rows);
        }
        let _ = writeln!(o, "**Fix.** {}\n", s.remediation.trim());
        for link in &s.references {
            let _ = writeln!(o, "- <{link}>");
        }
        if !s.references.is_empty() {
            o.push('\n');
        }
    }
    if !r.exceptions.is_empty() {
        let _ = writeln!(o, "## Other exceptions\n");
        let rows: Vec<Vec<String>> = r
            .exceptions
            .iter()
            .take(30)
            .map(|e| {
                vec![
                    format!("`{}`", e.r#type),
                    e.message.clone(),
                    e.location.as_ref().map_or("-".to_string(), |l| {
                        format!("`{}:{}` in `{}`", l.file, l.line, l.function)
                    }),
                    e.count.to_string(),
                    t(&e.first_seen),
                    t(&e.last_seen),
                ]
            })
            .collect();
        table(
            &mut o,
            &[
                "type",
                "message",
                "location",
                "count",
                "first seen",
                "last seen",
            ],
            &rows,
        );
    }

    if !r.by_source.is_empty() {
        let _ = writeln!(o, "## By source\n");
        let (header, rows) = super::source_rows(r, t);
        table(&mut o, header, &rows);
    }

    // Endpoints
    if !r.endpoints.is_empty() {
        let _ = writeln!(o, "## Endpoints\n");
        let rows: Vec<Vec<String>> = r
            .endpoints
            .iter()
            .map(|e| {
                vec![
                    format!("`{}`", e.endpoint),
                    e.count.to_string(),
                    e.errors_5xx.to_string(),
                    ms(e.p50_ms),
                    ms(e.p95_ms),
                    ms(e.p99_ms),
                    ms(e.max_ms),
                ]
            })
            .collect();
        table(
            &mut o,
            &["endpoint", "requests", "5xx", "p50", "p95", "p99", "max"],
            &rows,
        );
    }

    // Before / during / after
    if let Some(i) = r.incidents.first() {
        let _ = writeln!(o, "## Latency before, during and after\n");
        let rows = vec![
            vec![
                "before (baseline)".into(),
                "-".into(),
                ms(i.baseline_p50_ms),
                ms(i.baseline_p99_ms),
            ],
            vec![
                "during".into(),
                format!("{} / {}", i.errors_5xx, i.requests),
                ms(i.p50_ms),
                ms(i.p99_ms),
            ],
            vec![
                "after".into(),
                format!("{} / {}", i.after_errors_5xx, i.after_requests),
                ms(i.after_p50_ms),
                ms(i.after_p99_ms),
            ],
        ];
        table(&mut o, &["phase", "5xx / requests", "p50", "p99"], &rows);
    }

    let inp = &r.input;
    let _ = writeln!(
        o,
        "---\n{} inputs, {} bytes, {} lines, {} records, {} request lines.",
        inp.files, inp.bytes, inp.lines, inp.records, r.requests.count
    );
    o
}
