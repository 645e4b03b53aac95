//! The shareable report: one self-contained HTML file (no script, no font, nothing fetched
//! when it is opened; a Content-Security-Policy forbids them anyway) with the charts inline
//! as SVG. The page comes from a minijinja template that escapes every value by default:
//! text from the log cannot become markup.

use minijinja::{context, Environment, Value};

use super::charts::charts;
use super::sections::{latency, percent, times};
use super::Report;

/// The page templates, their notes and footer, and their style sheet. A `.html` name turns HTML auto-escaping on for
/// every `{{ }}`.
const TEMPLATES: [(&str, &str); 4] = [
    ("report.html", include_str!("templates/report.html")),
    ("compare.html", include_str!("templates/compare.html")),
    ("footer.html", include_str!("templates/footer.html")),
    ("style.css", include_str!("templates/style.css")),
];

/// The templates, with the number formats the text renderers use.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .expect("the built-in templates parse");
    }
    env.add_function("ms", |v: Option<f64>| latency(v));
    env.add_function("pct", |v: Option<f64>| percent(v));
    env.add_function("times", |v: Option<f64>| times(v));
    env.add_function("rate", |v: Option<f64>| {
        v.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"))
    });
    env
}

/// Renders `name` with `ctx`; the built-in templates render every report.
pub(crate) fn page(name: &str, ctx: Value) -> String {
    environment()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .expect("the built-in templates render every report")
}

/// The three charts as the templates take them.
pub(crate) fn chart_values(c: super::Charts) -> Value {
    context! {
        signatures => c.signatures,
        requests => c.requests,
        latency => c.latency,
    }
}

/// The report as an HTML page.
pub fn render_html(r: &Report) -> String {
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
    page(
        "report.html",
        context! {
            r => Value::from_serialize(r),
            title,
            range,
            bucket,
            records,
            error_rate => r.requests.error_rate.map(|e| percent(Some(e))),
            p50 => latency(r.requests.p50_ms),
            p99 => latency(r.requests.p99_ms),
            charts => chart_values(c),
            version => env!("CARGO_PKG_VERSION"),
        },
    )
}
