//! The shareable report: one self-contained HTML file (no script, no font, nothing fetched
//! when it is opened; a Content-Security-Policy forbids them anyway) with the charts inline
//! as SVG. The page comes from a minijinja template that escapes every value by default:
//! text from the log cannot become markup.

use minijinja::{context, Environment, Value};

use super::charts::charts;
use super::sections::{latency, percent};
use super::Report;

const TEMPLATE: &str = include_str!("templates/report.html");

/// The report as an HTML page.
pub fn render_html(r: &Report) -> String {
    let mut env = Environment::new();
    // The `.html` name turns HTML auto-escaping on for every `{{ }}`.
    env.add_template("report.html", TEMPLATE)
        .expect("the built-in template parses");
    env.add_function("ms", |v: Option<f64>| latency(v));
    let c = charts(r);
    let range = match (&r.time_range.start, &r.time_range.end) {
        (Some(a), Some(b)) => format!("{a} to {b}"),
        _ => "no time range".to_string(),
    };
    let bucket = match r.requests.bucket_seconds {
        60 => "minute".to_string(),
        3600 => "hour".to_string(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} s"),
    };
    let title = match r.incidents.first() {
        Some(i) => format!("Incident report: {} to {}", i.start, i.end),
        None => "Log report".to_string(),
    };
    let records: u64 = r.signatures.iter().map(|s| s.count).sum();
    env.get_template("report.html")
        .and_then(|t| {
            t.render(context! {
                r => Value::from_serialize(r),
                title,
                range,
                bucket,
                records,
                error_rate => r.requests.error_rate.map(|e| percent(Some(e))),
                p50 => latency(r.requests.p50_ms),
                p99 => latency(r.requests.p99_ms),
                charts => context! {
                    signatures => c.signatures,
                    requests => c.requests,
                    latency => c.latency,
                },
                version => env!("CARGO_PKG_VERSION"),
            })
        })
        .expect("the built-in template renders every report")
}
