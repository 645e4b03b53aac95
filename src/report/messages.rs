//! The templates section: the warnings and errors no signature matched, their message shapes
//! grouped into templates over the whole run, and when each appeared or surged.

use std::collections::BTreeMap;

use crate::aggregate::{round3, Messages, Seen, MINUTE_NS};
use crate::framing::{format_rfc3339, Nanos};
use crate::templates::{group, rise, template_id, LEVELS};

use super::{IncidentReport, TemplateReport};

/// Templates the report lists at most.
pub const MAX_TEMPLATES: usize = 100;

/// The templates of `messages` in a log whose records span `range`, new and surging ones
/// first (then by level and count), and a note when the list was cut.
pub(crate) fn templates(messages: Messages, range: &Seen) -> (Vec<TemplateReport>, Option<String>) {
    let mut shapes: Vec<_> = messages.into_iter().collect();
    shapes.sort_by(|a, b| a.0.cmp(&b.0));
    let g = group(
        &shapes
            .iter()
            .map(|(text, m)| (text.as_str(), m.seen.count))
            .collect::<Vec<_>>(),
    );
    struct Acc {
        seen: Seen,
        severity: u8,
        minutes: BTreeMap<i64, u64>,
        example: Option<crate::aggregate::Example>,
    }
    let mut acc: Vec<Acc> = (0..g.templates.len())
        .map(|_| Acc {
            seen: Seen::default(),
            severity: 0,
            minutes: BTreeMap::new(),
            example: None,
        })
        .collect();
    for (i, (_, m)) in shapes.into_iter().enumerate() {
        let a = &mut acc[g.of[i] as usize];
        a.seen.merge(&m.seen);
        a.severity = a.severity.max(m.severity);
        for (k, n) in m.minutes {
            *a.minutes.entry(k).or_insert(0) += n;
        }
        crate::aggregate::Example::merge(&mut a.example, m.example);
    }
    let span = range
        .first
        .zip(range.last)
        .map(|(f, l)| (f.div_euclid(MINUTE_NS), l.div_euclid(MINUTE_NS)));
    let at = |m: i64| format_rfc3339(m * MINUTE_NS);
    let mut list: Vec<TemplateReport> = acc
        .into_iter()
        .zip(g.templates)
        .map(|(a, text)| {
            let minutes: Vec<(i64, u64)> = a.minutes.into_iter().collect();
            let up = span.and_then(|(f, l)| rise(&minutes, f, l));
            let time = |t: Option<Nanos>| t.map(format_rfc3339);
            TemplateReport {
                id: template_id(&text),
                template: text,
                level: LEVELS[(a.severity as usize).clamp(1, LEVELS.len()) - 1].to_string(),
                count: a.seen.count,
                first_seen: time(a.seen.first),
                last_seen: time(a.seen.last),
                change: match up {
                    Some(r) if r.is_new() => "new",
                    Some(_) => "surging",
                    None => "steady",
                }
                .to_string(),
                since: up.map(|r| at(r.at)),
                before_per_minute: up.map(|r| round3(r.before)),
                after_per_minute: up.map(|r| round3(r.after)),
                ratio: up
                    .filter(|r| !r.is_new())
                    .map(|r| round3(r.after / r.before)),
                incident: None,
                example: a.example.map(|e| e.text),
            }
        })
        .collect();
    let rank = |c: &str| match c {
        "new" => 0,
        "surging" => 1,
        _ => 2,
    };
    let severity = |l: &str| std::cmp::Reverse(crate::templates::severity(l));
    list.sort_by(|a, b| {
        (
            rank(&a.change),
            severity(&a.level),
            std::cmp::Reverse(a.count),
        )
            .cmp(&(
                rank(&b.change),
                severity(&b.level),
                std::cmp::Reverse(b.count),
            ))
            .then_with(|| a.since.cmp(&b.since))
            .then_with(|| a.template.cmp(&b.template))
    });
    let note = (list.len() > MAX_TEMPLATES).then(|| {
        format!(
            "{} message templates of warnings and errors no signature matched; the report lists \
             {MAX_TEMPLATES}, new and surging ones first",
            list.len()
        )
    });
    list.truncate(MAX_TEMPLATES);
    (list, note)
}

/// Points each new or surging template to the incident whose window its change falls in
/// (from a minute before the incident's start, as the change is read by the minute).
pub(crate) fn link_incidents(list: &mut [TemplateReport], incidents: &[IncidentReport]) {
    let parse = |s: &str| s.parse::<jiff::Timestamp>().ok();
    let windows: Vec<Option<(jiff::Timestamp, jiff::Timestamp)>> = incidents
        .iter()
        .map(|i| Some((parse(&i.start)?, parse(&i.end)?)))
        .collect();
    for t in list {
        let Some(since) = t.since.as_deref().and_then(parse) else {
            continue;
        };
        t.incident = windows.iter().position(|w| {
            w.is_some_and(|(s, e)| since >= s - jiff::SignedDuration::from_secs(60) && since < e)
        });
    }
}
