//! The report built from what the aggregation counted: everything sorted (count descending,
//! then name), the long lists cut, the notes that say what could not be computed.

use crate::aggregate::{
    round6, Summary, TrendOptions, Trends, WindowMiss, MAX_EXCEPTION_GROUPS, MAX_KEPT,
};
use crate::classify::Catalog;
use crate::config::Config;
use crate::error::AggregateError;
use crate::framing::{format_rfc3339, Nanos, TimeWindow};

use super::{
    CodeLocation, Count, ExceptionGroup, InputSummary, LocationCount, Report, RequestSummary,
    SignatureReport, TimeRange, VariantCount, SCHEMA,
};
use rustc_hash::FxHashMap;

/// Builds the report of a run's summary, with its trends (computed here with polars).
pub(crate) fn build(
    mut summary: Summary,
    cfg: &Config,
) -> Result<(Report, Trends), AggregateError> {
    let (catalog, opts) = (cfg.catalog(), &cfg.trends);
    let miss = summary.window_miss;
    let mut trends = summary.trends(catalog, opts)?;
    let mut report = counts_report(summary, catalog);
    let q = trends.requests;
    report.requests = RequestSummary {
        count: q.count,
        with_latency: q.with_latency,
        unparsed_latency: q.unparsed_latency,
        missing_latency: q.missing_latency,
        errors_5xx: q.overall.errors_5xx,
        error_rate: (q.count > 0).then(|| round6(q.overall.errors_5xx as f64 / q.count as f64)),
        p50_ms: q.overall.p50_ms,
        p99_ms: q.overall.p99_ms,
        bucket_seconds: (opts.bucket_ns / 1_000_000_000).max(0) as u64,
    };
    if q.sketched {
        report.notes.push(format!(
            "latency quantiles are estimates from sketches, within {}% of the exact values \
             (counts are exact): the request rows passed the memory budget (--memory), or \
             the input was followed live (watch) or incrementally (--state)",
            crate::aggregate::ALPHA * 100.0
        ));
    }
    if q.paired > 0 {
        report.notes.push(format!(
            "{} access line(s) without a latency were the second line of a request already \
             counted from its timing line (same stream, endpoint and status, within {} s and {} \
             request lines): each request is counted once",
            q.paired,
            crate::aggregate::WINDOW_NS / 1_000_000_000,
            crate::aggregate::LOOKBACK
        ));
    }
    let window = cfg.scan.window;
    let input = &report.input;
    let emptied = input.records > 0 && input.records == input.records_outside_window;
    if emptied {
        // What a user must hear first: the window, not the empty trends it leaves.
        report.notes.push(empty_window_note(window, miss));
    } else if q.count == 0 {
        report.notes.push(
            "no request lines found: endpoints, latency and incidents need access or request lines"
                .into(),
        );
    } else if q.with_latency == 0 {
        report
            .notes
            .push("request lines have no latency in a known unit: see --latency-field".into());
    }
    if miss.untimed > 0 {
        let kept = report.input.records - report.input.records_outside_window;
        report.notes.push(
            if report.time_range.start.is_none() && miss.untimed == kept {
                format!(
                    "no timestamps found: --since/--until cannot place the {kept} record(s), so \
                 all are kept"
                )
            } else {
                format!(
                    "{} record(s) have no timestamp: --since/--until cannot place them, so they \
                 are kept",
                    miss.untimed
                )
            },
        );
    } else if report.time_range.start.is_none() && !emptied {
        report
            .notes
            .push("no timestamps found: no timeline and no incident detection".into());
    }
    for (start, end) in &trends.hidden_incidents {
        report.notes.push(format!(
            "an incident from {} to {} shows at 1-minute buckets but not at --bucket {}s: \
             a bucket that long averages it away",
            format_rfc3339(*start),
            format_rfc3339(*end),
            opts.bucket_ns / 1_000_000_000
        ));
    }
    if opts.redact {
        let r = crate::redact::Redactor::builtin();
        for e in &mut trends.endpoints {
            r.apply(&mut e.endpoint);
        }
        report.redact(r);
    }
    // The frame writers need the timeline and endpoints again; the rest moves.
    report.by_source = std::mem::take(&mut trends.by_source);
    report.incidents = std::mem::take(&mut trends.incidents);
    super::messages::link_incidents(&mut report.templates, &report.incidents);
    report.endpoints = trends.endpoints.clone();
    report.timeline = trends.timeline.clone();
    Ok((report, trends))
}

/// Says where the records went when a time window kept none of them.
fn empty_window_note(w: TimeWindow, miss: WindowMiss) -> String {
    let bound = |flag: &str, t: Option<Nanos>| t.map(|t| format!("{flag} {}", format_rfc3339(t)));
    let shown = [bound("--since", w.since), bound("--until", w.until)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let (b, a) = (miss.before, miss.after);
    let side = match (b, a) {
        (_, 0) => format!("all {b} record(s) are before it"),
        (0, _) => format!("all {a} record(s) are at or after its end"),
        _ => format!("{b} record(s) are before it and {a} at or after its end"),
    };
    format!("no record in the time window ({shown}): {side}")
}

/// A quick report of a summary whose requests are in sketches: the counts, the requests and
/// the endpoints; no timeline or incidents (no polars, no copy of the events).
pub(crate) fn live(s: &Summary, catalog: &Catalog, opts: &TrendOptions) -> Report {
    let mut report = counts_report(s.counts_only(), catalog);
    let (sk, rows) = (&s.sketches, &s.requests);
    let overall = sk.overall();
    let count = overall.requests;
    report.requests = RequestSummary {
        count,
        with_latency: sk.with_latency(),
        unparsed_latency: rows.unparsed_latency,
        missing_latency: rows.missing_latency,
        errors_5xx: overall.errors_5xx,
        error_rate: (count > 0).then(|| round6(overall.errors_5xx as f64 / count as f64)),
        p50_ms: overall.p50_ms,
        p99_ms: overall.p99_ms,
        bucket_seconds: (opts.bucket_ns / 1_000_000_000).max(0) as u64,
    };
    report.endpoints = sk.endpoint_reports();
    if opts.redact {
        report.redact(crate::redact::Redactor::builtin());
    }
    report
}

fn counts_report(s: Summary, catalog: &Catalog) -> Report {
    let time = |t: Option<Nanos>| t.map(format_rfc3339);
    let mut signatures: Vec<SignatureReport> = s
        .sigs
        .into_iter()
        .map(|(i, s)| {
            let sig = &catalog.signatures[i];
            SignatureReport {
                id: sig.id.clone(),
                title: sig.title.clone(),
                severity: sig.severity.as_str().to_string(),
                count: s.seen.count,
                first_seen: time(s.seen.first),
                last_seen: time(s.seen.last),
                exception_types: sorted(s.types, |k, n| Count {
                    r#type: k,
                    count: n,
                }),
                variants: sorted(s.variants, |k, n| VariantCount { value: k, count: n }),
                locations: sorted_by(s.locations, |l, n| LocationCount {
                    file: l.file,
                    line: l.line,
                    function: l.function,
                    count: n,
                }),
                remediation: sig.remediation.clone(),
                references: sig.references.clone(),
                example: s.example.map(|e| e.text),
            }
        })
        .collect();
    signatures.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.id.cmp(&b.id)));
    // Distinct values are all counted while scanning (so the top ones are exact whatever
    // the chunking); the report keeps the most frequent and says what it left out.
    let mut notes = Vec::new();
    for s in &mut signatures {
        for (what, len) in [
            ("variants", s.variants.len()),
            ("locations", s.locations.len()),
        ] {
            if len > MAX_KEPT {
                notes.push(format!(
                    "{}: {len} distinct {what}; the report lists the {MAX_KEPT} most frequent",
                    s.id
                ));
            }
        }
        s.variants.truncate(MAX_KEPT);
        s.locations.truncate(MAX_KEPT);
    }
    let mut exceptions: Vec<ExceptionGroup> = s
        .exceptions
        .into_iter()
        .map(|((ty, msg, loc), s)| ExceptionGroup {
            r#type: ty,
            message: msg,
            location: loc.map(|l| CodeLocation {
                file: l.file,
                line: l.line,
                function: l.function,
            }),
            count: s.count,
            first_seen: time(s.first),
            last_seen: time(s.last),
        })
        .collect();
    exceptions.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.r#type.cmp(&b.r#type))
            .then_with(|| a.message.cmp(&b.message))
            .then_with(|| a.location_key().cmp(&b.location_key()))
    });
    if exceptions.len() > MAX_EXCEPTION_GROUPS {
        notes.push(format!(
            "{} groups of other exceptions; the report lists the {MAX_EXCEPTION_GROUPS} most frequent",
            exceptions.len()
        ));
        exceptions.truncate(MAX_EXCEPTION_GROUPS);
    }
    let (templates, cut) = super::messages::templates(s.messages, &s.range);
    notes.extend(cut);
    // The framer counted unwrapped lines: a joined line stands for all its pieces.
    let (pieces, emitted) = (s.unwrap.lines, s.unwrap.emitted);
    let physical = |n: u64| (n + pieces).saturating_sub(emitted);
    let mut skipped = std::collections::BTreeMap::new();
    if s.frame.blank > 0 {
        skipped.insert("blank".to_string(), s.frame.blank);
    }
    if s.outside_window.1 > 0 {
        skipped.insert("outside_window".to_string(), s.outside_window.1);
    }
    Report {
        schema: SCHEMA.to_string(),
        input: InputSummary {
            files: s.files,
            bytes: s.bytes,
            // Physical lines: the framer saw the unwrapped ones.
            lines: physical(s.frame.lines),
            records: s.frame.records,
            // Joined pieces (CRI `P`) are in the line they continue, hence in its record.
            record_lines: physical(s.frame.record_lines - s.outside_window.1),
            records_outside_window: s.outside_window.0,
            skipped,
            truncated_lines: s.frame.truncated_lines + s.unwrap.truncated,
            split_records: s.frame.split_records,
            layouts: s.layouts.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            joined_lines: s.unwrap.joined,
            foreign_lines: s.unwrap.foreign,
        },
        time_range: TimeRange {
            start: time(s.range.first),
            end: time(s.range.last),
        },
        signatures,
        exceptions,
        templates,
        errors: Vec::new(),
        requests: RequestSummary::default(),
        endpoints: Vec::new(),
        timeline: Vec::new(),
        incidents: Vec::new(),
        notes,
        by_source: Vec::new(),
    }
}

fn sorted<T>(m: FxHashMap<String, u64>, f: impl Fn(String, u64) -> T) -> Vec<T> {
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter().map(|(k, n)| f(k, n)).collect()
}

fn sorted_by<K: Ord, T>(m: FxHashMap<K, u64>, f: impl Fn(K, u64) -> T) -> Vec<T> {
    let mut v: Vec<(K, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter().map(|(k, n)| f(k, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Classifier;

    #[test]
    fn merge_is_order_independent() {
        let cfg = Config::new().unwrap();
        let cl = &cfg.classifier;
        let recs = [
            (
                Some(5),
                "AttributeError: 'Settings' object has no attribute 'A'",
            ),
            (
                Some(1),
                "AttributeError: 'Settings' object has no attribute 'B'",
            ),
            (Some(9), "KeyError: 'x'"),
            (
                None,
                "AttributeError: 'Settings' object has no attribute 'A'",
            ),
        ];
        let mut parts: Vec<Summary> = recs
            .iter()
            .map(|(t, l)| {
                let mut s = Summary::new();
                s.see_time(*t);
                s.add(*t, &cl.classify(&[*l]).unwrap());
                s
            })
            .collect();
        let mut fwd = Summary::new();
        for p in parts.clone() {
            fwd.merge(p);
        }
        parts.reverse();
        let mut rev = Summary::new();
        for p in parts {
            rev.merge(p);
        }
        let a = serde_json::to_string(&build(fwd, &cfg).unwrap().0).unwrap();
        let b = serde_json::to_string(&build(rev, &cfg).unwrap().0).unwrap();
        assert_eq!(a, b);
        let r: serde_json::Value = serde_json::from_str(&a).unwrap();
        assert_eq!(r["signatures"][0]["count"], 3);
        assert_eq!(r["signatures"][0]["variants"][0]["value"], "A");
        assert_eq!(r["signatures"][0]["first_seen"], "1970-01-01T00:00:00.000Z");
        assert_eq!(r["exceptions"][0]["type"], "KeyError");
        assert_eq!(r["time_range"]["end"], "1970-01-01T00:00:00.000Z");
    }

    /// A record: a time, a line to classify (or none), and a request (path, status, latency).
    type Rec = (Option<i64>, usize, Option<(usize, u16, u32)>);

    /// One summary of `records`.
    fn summary_of(cl: &Classifier, records: &[Rec]) -> Summary {
        const LINES: [&str; 4] = [
            "AttributeError: 'Settings' object has no attribute 'A'",
            "AttributeError: 'Settings' object has no attribute 'B'",
            "KeyError: 'x'",
            "RuntimeError: WebSocket is not connected. Need to call \"accept\" first.",
        ];
        let mut s = Summary::new();
        for &(t, line, request) in records {
            s.see_time(t);
            if let Some(c) = LINES.get(line).and_then(|l| cl.classify(&[*l])) {
                s.add_event(t, &std::sync::Arc::new(c), &std::sync::Arc::from("src"));
            }
            if let Some((path, status, ms)) = request {
                let path = format!("/api/v1/{}/{path}", ["a", "b"][path % 2]);
                let latency = (ms % 7 != 0).then(|| f64::from(ms) / 100.0);
                s.requests.push(t, b"GET", path.as_bytes(), status, latency);
            }
        }
        s
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// Partial summaries merge associatively: any three consecutive parts of the records,
        /// merged as (a + b) + c or a + (b + c), give the report of all of them in one.
        #[test]
        fn merge_is_associative(
            records in proptest::collection::vec(
                (
                    proptest::option::of(0i64..600_000_000_000),
                    0usize..6,
                    proptest::option::of((0usize..40, 200u16..504, 0u32..100_000)),
                ),
                0..400,
            ),
            cut in (0.0f64..1.0, 0.0f64..1.0),
        ) {
            let cfg = Config::new().unwrap();
            let cl = &cfg.classifier;
            let (mut i, mut j) = (
                (cut.0 * records.len() as f64) as usize,
                (cut.1 * records.len() as f64) as usize,
            );
            if i > j {
                std::mem::swap(&mut i, &mut j);
            }
            let part = |r: &[_]| summary_of(cl, r);
            let (a, b, c) = (&records[..i], &records[i..j], &records[j..]);
            let mut left = part(a);
            left.merge(part(b));
            left.merge(part(c));
            let mut right = part(b);
            right.merge(part(c));
            let mut right_all = part(a);
            right_all.merge(right);
            let json = |s: Summary| serde_json::to_string(&build(s, &cfg).unwrap().0).unwrap();
            let whole = json(part(&records));
            proptest::prop_assert_eq!(json(left), whole.clone());
            proptest::prop_assert_eq!(json(right_all), whole);
        }
    }
}
