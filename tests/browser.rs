//! The HTML report in a real browser (headless Chromium): a log carrying script payloads and
//! secrets gives a page where no script runs, the charts are drawn and no secret is shown.
//!
//! Chromium is found as `$CHROMIUM`, `chromium` or `chromium-browser`. Where there is none the
//! test says so and passes, unless `FAULTLINE_BROWSER_TEST=required` (set by `.ci/run`,
//! which installs Debian's chromium when it is missing).

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    let mut names: Vec<String> = std::env::var("CHROMIUM").into_iter().collect();
    names.extend(["chromium".into(), "chromium-browser".into()]);
    names.into_iter().find_map(|n| {
        let ok = Command::new(&n)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| PathBuf::from(n))
    })
}

/// Runs headless Chromium on `page` with `args` (no network, no GPU, no sandbox: a CI
/// container has none); returns stdout.
fn headless(bin: &Path, page: &Path, args: &[&str], profile: &Path) -> Vec<u8> {
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A marker a payload would set if it ran: the test reads it from the DOM.
const MARK: &str = "document.documentElement.dataset.pwned=1";

/// An incident log whose unknown exceptions carry script payloads and secrets, beside the
/// four signatures and an incident (5xx and slow requests from 08:30).
fn hostile_log() -> String {
    let payloads = [
        format!("<script>{MARK}</script>"),
        format!("\"><img src=x onerror={MARK}>"),
        format!("<a href=javascript:{MARK}>click</a>"),
        format!("</style><svg onload={MARK}>"),
        format!("</script><script>{MARK}</script>"),
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 for postgresql://app:hunter2pw@db/app"
            .into(),
    ];
    let mut s = String::new();
    for m in 0..60u32 {
        let hot = (30..36).contains(&m);
        for i in 0..20u32 {
            let (status, ms) = if hot && i % 2 == 0 {
                (500, 8000.0)
            } else {
                (200, 12.0 + i as f64)
            };
            s.push_str(&format!(
                "2025-01-10 08:{m:02}:{:02},000 - app.middleware.timing - INFO - request method=GET path=/api/v1/health status={status} duration_ms={ms}\n",
                i * 3
            ));
        }
        if hot {
            for (k, p) in payloads.iter().enumerate() {
                s.push_str(&format!(
                    "2025-01-10 08:{m:02}:30,000 - uvicorn.error - ERROR - Exception in ASGI application\n\
                     Traceback (most recent call last):\n  File \"/srv/app/api/x.py\", line {k}, in handler\n    run()\n\
                     Payload{k}Error: {p}\n"
                ));
            }
            // A signature's record carries them too: its example is shown on the page.
            s.push_str(&format!(
                "2025-01-10 08:{m:02}:31,000 - uvicorn.error - ERROR - Exception in ASGI application\n\
                 Traceback (most recent call last):\n"
            ));
            for (k, p) in payloads.iter().enumerate() {
                s.push_str(&format!(
                    "  File \"/srv/app/api/step.py\", line {k}, in step\n    log({p:?})\n"
                ));
            }
            s.push_str(
                "  File \"/srv/app/api/status.py\", line 41, in get_status\n    if settings.AGENTOPS_API_KEY:\n\
                 AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'\n",
            );
        }
    }
    s
}

/// Runs `faultline ARGS -f html -o PAGE LOG`.
fn write_page(args: &[&str], log: &Path, page: &Path) {
    succeed(
        faultline()
            .args(args)
            .args(["-f", "html", "-o"])
            .arg(page)
            .arg(log),
    );
}

#[test]
fn the_html_report_runs_no_script_from_the_log_draws_its_charts_and_shows_no_secret() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("hostile.log");
    std::fs::write(&log, hostile_log()).unwrap();
    let page = d.path().join("report.html");
    write_page(&["analyze"], &log, &page);
    let html = std::fs::read_to_string(&page).unwrap();
    // The file itself: no secret, no live payload, nothing to fetch.
    for secret in ["ghp_abcdefghijklmnopqrstuvwxyz0123456789", "hunter2pw"] {
        assert!(!html.contains(secret), "{secret} in the page");
    }
    assert!(
        html.contains("[REDACTED:github_token]"),
        "the marker says what was there"
    );
    // The payloads are on the page as text (escaped), never as markup.
    for live in ["<script", "<img", "<a href", "<svg onload", "</style><"] {
        assert!(!html.to_lowercase().contains(live), "{live} in the page");
    }
    assert!(
        html.contains("&lt;img src=x onerror="),
        "a payload shows as escaped text"
    );
    for fetch in [" src=\"http", " href=\"http", "@import", "url(http"] {
        assert!(!html.contains(fetch), "{fetch}: the page fetches something");
    }
    assert_eq!(html.matches("<svg").count(), 3, "three charts");
    assert!(
        html.contains("<pre>2025-01-10 08:30:31,000 - uvicorn.error"),
        "the signature's first record is shown"
    );
    assert!(
        html.contains("Payload0Error"),
        "the payloads' groups are listed, as text"
    );

    let Some(bin) = chromium() else {
        let required = std::env::var("FAULTLINE_BROWSER_TEST").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "FAULTLINE_BROWSER_TEST=required and no chromium found"
        );
        eprintln!("browser test skipped: no chromium (set CHROMIUM or install it)");
        return;
    };
    let profile = d.path().join("profile");
    let dom = String::from_utf8(headless(&bin, &page, &["--dump-dom"], &profile)).unwrap();
    assert!(
        dom.contains("Incident report"),
        "the page loaded: {}",
        &dom[..dom.len().min(500)]
    );
    assert!(!dom.contains("data-pwned"), "a script from the log ran");
    for secret in ["ghp_abcdefghijklmnopqrstuvwxyz0123456789", "hunter2pw"] {
        assert!(!dom.contains(secret), "{secret} in the page");
    }
    assert!(
        dom.contains("document.documentElement.dataset.pwned"),
        "the payload shows as text"
    );
    // The charts are drawn: a screenshot of the page is far from one colour.
    let shot = d.path().join("shot.png");
    headless(
        &bin,
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1100,1400",
        ],
        &profile,
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let mut colours = std::collections::BTreeSet::new();
    let mut not_white = 0usize;
    for p in pixels.chunks(px) {
        colours.insert(p[..3].to_vec());
        if p[..3] != [255, 255, 255] {
            not_white += 1;
        }
    }
    let total = pixels.len() / px;
    assert!(
        colours.len() > 50,
        "{} colours: a blank page",
        colours.len()
    );
    assert!(
        not_white * 50 > total,
        "{not_white} of {total} pixels drawn"
    );
    // The incident shade and the 5xx bars are on the page.
    assert!(
        colours.contains(&vec![0xff, 0xd6, 0xd6]),
        "no incident shade in the screenshot"
    );

    // The before/after page of the same log: no script runs there either.
    let cmp = d.path().join("compare.html");
    write_page(&["compare", "--split", "2025-01-10T08:33:00Z"], &log, &cmp);
    let dom = String::from_utf8(headless(&bin, &cmp, &["--dump-dom"], &profile)).unwrap();
    assert!(dom.contains("Before / after"), "the page loaded");
    assert!(!dom.contains("data-pwned"), "a script from the log ran");
    assert!(dom.contains("document.documentElement.dataset.pwned"));
    for secret in ["ghp_abcdefghijklmnopqrstuvwxyz0123456789", "hunter2pw"] {
        assert!(!dom.contains(secret), "{secret} in the page");
    }
}
