//! The report's chart files beside a Markdown report, and the before/after page of `compare`.

use crate::common::*;
use std::path::Path;

/// The image links of a Markdown document, as a CommonMark renderer reads them.
fn images(md: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Parser, Tag};
    Parser::new(md)
        .filter_map(|e| match e {
            Event::Start(Tag::Image { dest_url, .. }) => Some(dest_url.to_string()),
            _ => None,
        })
        .collect()
}

fn run_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = faultline().current_dir(dir).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    out
}

#[test]
fn charts_are_written_beside_a_markdown_report_that_links_them() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("app.log"), incident_log()).unwrap();
    std::fs::create_dir(d.path().join("out")).unwrap();
    let args = [
        "analyze",
        "-f",
        "markdown",
        "-o",
        "out/report.md",
        "--charts",
        "charts",
        "app.log",
    ];
    let out = run_in(d.path(), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(d.path().join("out/report.md")).unwrap();
    let links = images(&md);
    assert_eq!(
        links,
        [
            "../charts/signatures.svg",
            "../charts/requests.svg",
            "../charts/latency.svg"
        ],
        "{md}"
    );
    for l in &links {
        // Each link leads from the report to an SVG document.
        let svg = std::fs::read_to_string(d.path().join("out").join(l)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{l}"
        );
    }
    // The charts explain themselves: the signatures, the series and the incident's shade.
    let sigs = std::fs::read_to_string(d.path().join("charts/signatures.svg")).unwrap();
    for id in ["missing-settings-attribute", "websocket-not-accepted"] {
        assert!(sigs.contains(id), "{id} not in the legend");
    }
    let latency = std::fs::read_to_string(d.path().join("charts/latency.svg")).unwrap();
    let texts: Vec<&str> = latency
        .split("<text")
        .skip(1)
        .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
        .collect();
    assert!(
        texts.contains(&"p50") && texts.contains(&"p99"),
        "{texts:?}"
    );
    assert!(
        latency.to_uppercase().contains("#FFD6D6"),
        "incident shaded"
    );
    // Without -o, links are as given on the command line.
    let out = run_in(
        d.path(),
        &["analyze", "-f", "markdown", "--charts", "c2", "app.log"],
    );
    let md = String::from_utf8(out.stdout).unwrap();
    assert_eq!(images(&md)[0], "c2/signatures.svg");
    // Other formats write the files too, and link nothing.
    let out = run_in(
        d.path(),
        &["analyze", "-f", "json", "--charts", "c3", "app.log"],
    );
    assert!(out.status.success());
    assert!(d.path().join("c3/latency.svg").is_file());
}

#[test]
fn a_log_without_a_timeline_gets_no_chart_and_an_unwritable_dir_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    // No time on any line: nothing to draw.
    std::fs::write(
        d.path().join("bare.log"),
        "Traceback (most recent call last):\n  File \"/srv/app/a.py\", line 1, in f\n    x()\n\
         AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'\n",
    )
    .unwrap();
    let out = run_in(
        d.path(),
        &["analyze", "-f", "markdown", "--charts", "c", "bare.log"],
    );
    assert!(out.status.success());
    assert!(images(&String::from_utf8(out.stdout).unwrap()).is_empty());
    assert_eq!(std::fs::read_dir(d.path().join("c")).unwrap().count(), 0);
    // A file where the directory should be: the error names it.
    std::fs::write(d.path().join("app.log"), incident_log()).unwrap();
    std::fs::write(d.path().join("taken"), "").unwrap();
    let out = run_in(d.path(), &["analyze", "--charts", "taken", "app.log"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("taken: cannot write the charts"), "{err}");
}

/// The charts of a page, upper-cased.
fn svgs(page: &str) -> String {
    match (page.find("<svg"), page.rfind("</svg>")) {
        (Some(a), Some(b)) => page[a..b].to_uppercase(),
        _ => String::new(),
    }
}

/// `compare -f html` of `args` (run in `dir`): the page.
fn compare_page(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["compare", "-f", "html", "-o", "cmp.html"];
    all.extend(args);
    let out = run_in(dir, &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(dir.join("cmp.html")).unwrap()
}

#[test]
fn compare_writes_a_before_after_page_with_both_sides_charts() {
    let d = tempfile::tempdir().unwrap();
    let mut log = incident_log();
    // An exception from the log whose message is markup: text on the page, never markup.
    log.push_str(
        "2025-01-10 08:33:40,000 - uvicorn.error - ERROR - Exception in ASGI application\n\
         Traceback (most recent call last):\n  File \"/srv/app/api/x.py\", line 3, in h\n    run()\n\
         ValueError: bad <script>alert(1)</script> input\n",
    );
    std::fs::write(d.path().join("app.log"), &log).unwrap();
    let page = compare_page(d.path(), &["app.log", "--split", "2025-01-10T08:40:00Z"]);
    assert!(
        page.contains("<title>Before / after: 3 resolved</title>"),
        "{page}"
    );
    assert_eq!(page.matches("<svg").count(), 3, "three charts");
    assert!(page.contains("Both sides on one time axis"));
    // The after side is shaded, and so is the incident.
    assert!(svgs(&page).contains("#E3F2E1"), "after side shaded");
    assert!(svgs(&page).contains("#FFD6D6"), "incident shaded");
    for id in ["missing-settings-attribute", "websocket-not-accepted"] {
        assert!(page.contains(&format!("<code>{id}</code>")), "{id}");
    }
    assert_eq!(page.matches("badge resolved").count(), 3);
    assert!(!page.contains("<script"), "markup from the log");
    assert!(page.contains("&lt;script&gt;"), "shown as text");
    // p99 fell from 8 s to 31 ms: the card says better.
    assert!(
        page.contains(r#"<div class="card good"><b>31.0 ms</b><span>p99 latency"#),
        "{page}"
    );

    // Two logs two days apart: each side drawn from its own start.
    std::fs::write(
        d.path().join("later.log"),
        log.replace("2025-01-10", "2025-01-12"),
    )
    .unwrap();
    let page = compare_page(d.path(), &["--before", "app.log", "--after", "later.log"]);
    assert!(page.contains("each is drawn from its own start"), "{page}");
    assert_eq!(page.matches("<svg").count(), 3);
    assert!(page.contains("+0 min"), "times from each side's start");
    assert!(!svgs(&page).contains("#E3F2E1"), "nothing shaded");
}

#[test]
fn a_comparison_renders_as_html_from_the_library_without_the_reports() {
    use faultline::compare::{compare, render_compare, CompareOptions};
    use faultline::report::Format;
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("app.log");
    std::fs::write(&p, incident_log()).unwrap();
    let config = faultline::Config::new().unwrap();
    let r = faultline::analyze(&[faultline::InputSpec::Path(p)], &config)
        .unwrap()
        .report;
    let c = compare(&r, &r, Default::default(), &CompareOptions::default());
    let page = String::from_utf8(render_compare(&c, Format::Html)).unwrap();
    assert!(page.starts_with("<!doctype html>"), "{page}");
    assert!(page.contains("badge persisting"));
    assert!(!page.contains("<svg"), "no reports, no charts");
}
