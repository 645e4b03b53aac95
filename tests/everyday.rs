//! Everyday use: output files, the catalog commands, directories with more than logs,
//! windows that keep nothing, xz, completions, the man page, a table that fits.

use crate::common::*;
use std::path::Path;

/// A short incident log in the Render shape: a traceback, an access line, a timing line.
const LOG: &str = "\
2025-01-10 08:31:50,744 - uvicorn.error - ERROR - Exception in ASGI application
Traceback (most recent call last):
  File \"/srv/app/api/status.py\", line 41, in get_status
    if settings.SENTRY_DSN:
AttributeError: 'Settings' object has no attribute 'SENTRY_DSN'
2025-01-10 08:31:51,002 - app.middleware.timing - INFO - request method=GET path=/api/v1/status status=500 duration_ms=6021.50
2025-01-10 08:32:10,100 - app.services.cache - INFO - cache warm keys=12
";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = faultline()
        .args(args)
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        err,
    )
}

#[test]
fn output_file_for_every_report_format() {
    let d = tempfile::tempdir().unwrap();
    let log = write(d.path(), "app.log", LOG);
    for (fmt, marker) in [
        ("json", "\"schema\": \"faultline.report/v1\""),
        ("table", "missing-settings-attribute"),
        ("markdown", "# Post-incident report"),
    ] {
        let out = d.path().join(format!("out.{fmt}"));
        let (code, stdout, err) = run(&[
            "analyze",
            "-f",
            fmt,
            "-o",
            out.to_str().unwrap(),
            log.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{fmt}: {err}");
        assert_eq!(stdout, "", "{fmt}: nothing on stdout when -o is given");
        let written = std::fs::read_to_string(&out).unwrap();
        assert!(written.contains(marker), "{fmt}: {written}");
    }
    // A directory is not a file for a single report.
    let (code, _, err) = run(&[
        "analyze",
        "-f",
        "json",
        "-o",
        d.path().to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("is a directory"), "{err}");
    // compare writes its table to a file too.
    let out = d.path().join("cmp.txt");
    let (code, stdout, err) = run(&[
        "compare",
        "--split",
        "2025-01-10T08:31:55Z",
        "-o",
        out.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(stdout, "");
    assert!(std::fs::read_to_string(&out).unwrap().contains("resolved"));
}

#[test]
fn signatures_by_id_in_every_format() {
    let (code, out, _) = run(&["signatures", "websocket-not-accepted"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("websocket-not-accepted (error)"), "{out}");
    assert!(out.contains("anchors:") && out.contains("see: "), "{out}");
    // The list is short and says how to see one fix; the fixes are not all printed.
    let (_, list, _) = run(&["signatures"]);
    assert!(list.contains("faultline signatures ID"));
    assert!(list.lines().count() < 80, "{} lines", list.lines().count());
    let (_, md, _) = run(&["signatures", "-f", "markdown", "url-not-string"]);
    assert!(
        md.contains("## `url-not-string`:") && md.contains("**Fix.**"),
        "{md}"
    );
    assert!(!md.contains("websocket-not-accepted"));
    let (_, json, _) = run(&[
        "signatures",
        "-f",
        "json",
        "url-not-string",
        "worker-killed",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["url-not-string", "worker-killed"]);
    let (code, _, err) = run(&["signatures", "websocket-not-acepted"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no signature 'websocket-not-acepted'"),
        "{err}"
    );
    assert!(
        err.contains("did you mean 'websocket-not-accepted'"),
        "{err}"
    );
    let (code, _, err) = run(&["signatures", "-f", "csv"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn patterns_file_disable_and_override() {
    let d = tempfile::tempdir().unwrap();
    let log = write(d.path(), "app.log", LOG);
    let mine = write(
        d.path(),
        "mine.toml",
        r#"
[[signature]]
id = "cache-warm"
title = "Cache warmed"
severity = "info"
anchors = ["cache warm"]
pattern = 'cache warm keys=(?P<variant>\d+)'
remediation = "Nothing to do."
"#,
    );
    let (code, r, err) =
        analyze_json(&["--patterns", mine.to_str().unwrap(), log.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(sig(&r, "cache-warm").unwrap()["count"], 1);
    // A path that is neither is reported once.
    let (code, _, err) = run(&[
        "analyze",
        "--patterns",
        "/no/such/patterns",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert_eq!(err.matches("/no/such/patterns").count(), 1, "{err}");

    let (_, r, _) = analyze_json(&[
        "--disable",
        "missing-settings-attribute",
        log.to_str().unwrap(),
    ]);
    assert!(sig(&r, "missing-settings-attribute").is_none());
    assert_eq!(
        r["exceptions"][0]["type"], "AttributeError",
        "the record is still counted"
    );
    let (code, _, err) = run(&[
        "analyze",
        "--disable",
        "missing-setting",
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("did you mean 'missing-settings-attribute'"),
        "{err}"
    );

    let replace = |over: &str| {
        format!(
            r#"
[[signature]]
id = "missing-settings-attribute"
title = "Our own title"
severity = "critical"
anchors = ["has no attribute"]
pattern = '''Settings' object has no attribute '(?P<variant>\w+)'''
remediation = "Use getattr with a default."
{over}
"#
        )
    };
    let dup = write(d.path(), "dup/x.toml", &replace(""));
    let (code, _, err) = run(&[
        "analyze",
        "--patterns",
        dup.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("duplicate id") && err.contains("override = true"),
        "{err}"
    );
    let over = write(d.path(), "over/x.toml", &replace("override = true"));
    let (code, r, err) =
        analyze_json(&["--patterns", over.to_str().unwrap(), log.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let s = sig(&r, "missing-settings-attribute").unwrap();
    assert_eq!(s["title"], "Our own title");
    assert_eq!(s["severity"], "critical");
    let (_, list, _) = run(&[
        "signatures",
        "--patterns",
        over.to_str().unwrap(),
        "-f",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let n = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["id"] == "missing-settings-attribute")
        .count();
    assert_eq!(n, 1, "replaced, not added");
    let stray = write(
        d.path(),
        "stray/x.toml",
        &replace("override = true").replace("missing-settings-attribute", "no-such-builtin"),
    );
    let (code, _, err) = run(&[
        "analyze",
        "--patterns",
        stray.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no earlier signature has this id"), "{err}");
}

#[test]
fn windows_that_keep_nothing_and_logs_without_times_say_so() {
    let d = tempfile::tempdir().unwrap();
    let log = write(d.path(), "app.log", LOG);
    let (code, r, _) = analyze_json(&["--since", "2025-01-11", log.to_str().unwrap()]);
    assert_eq!(code, 0);
    let notes: Vec<&str> = r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(
        notes,
        ["no record in the time window (--since 2025-01-11T00:00:00.000Z): all 3 record(s) are before it"]
    );
    let (_, r, _) = analyze_json(&["--until", "2025-01-10T08:00:00Z", log.to_str().unwrap()]);
    assert!(r["notes"][0]
        .as_str()
        .unwrap()
        .ends_with("all 3 record(s) are at or after its end"));
    // Relative times read as people write them.
    let (code, _, err) = run(&["analyze", "--until", "30m ago", log.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // A log without times cannot be cut: it is kept, and the report says why.
    let bare = write(
        d.path(),
        "bare.log",
        "ERROR payment provider returned 502\nINFO retry ok\n",
    );
    let (_, r, _) = analyze_json(&["--since", "2h", bare.to_str().unwrap()]);
    assert_eq!(r["input"]["records"], 2);
    let notes = r["notes"].to_string();
    assert!(
        notes.contains(
            "no timestamps found: --since/--until cannot place the 2 record(s), so all are kept"
        ),
        "{notes}"
    );
    // Without a window, the plain note.
    let (_, r, _) = analyze_json(&[bare.to_str().unwrap()]);
    assert!(r["notes"]
        .to_string()
        .contains("no timestamps found: no timeline"));
}

#[test]
fn directories_skip_hidden_files_and_own_reports_and_follow_globs() {
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    let log = write(&logs, "app.log", LOG);
    write(&logs, ".old/app.log", LOG);
    write(&logs, ".app.log.swp", LOG);
    write(&logs, "notes.txt", LOG);
    // Reports and frames of an earlier run, written beside the logs.
    for fmt in ["json", "markdown"] {
        let out = logs.join(format!("report.{fmt}"));
        let (code, _, _) = run(&[
            "analyze",
            "-f",
            fmt,
            "-o",
            out.to_str().unwrap(),
            log.to_str().unwrap(),
        ]);
        assert_eq!(code, 0);
    }
    let (code, _, _) = run(&[
        "analyze",
        "-f",
        "csv",
        "-o",
        logs.join("frames").to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    // A JSON log is still a log.
    write(
        &logs,
        "events.json",
        "{\"timestamp\": \"2025-01-10T08:33:00Z\", \"level\": \"error\", \"event\": \"boom\"}\n",
    );

    let (code, r, err) = analyze_json(&[logs.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(r["input"]["files"], 3, "app.log, notes.txt, events.json");
    let notes = r["notes"].to_string();
    assert!(notes.contains("skipped in directories: 2 hidden (--hidden reads them), 6 faultline report or frame file(s)"), "{notes}");
    let (_, r, _) = analyze_json(&["--hidden", logs.to_str().unwrap()]);
    assert_eq!(r["input"]["files"], 5);
    let (_, r, _) = analyze_json(&["-g", "*.log", logs.to_str().unwrap()]);
    assert_eq!(r["input"]["files"], 1);
    let (_, r, _) = analyze_json(&[
        "-g",
        "!*.txt",
        "--exclude",
        "*.json",
        logs.to_str().unwrap(),
    ]);
    assert_eq!(r["input"]["files"], 1);
    // A file named on the command line is read whatever its name.
    let (_, r, _) = analyze_json(&["-g", "*.nothing", log.to_str().unwrap()]);
    assert_eq!(r["input"]["files"], 1);
    let (code, _, err) = run(&["analyze", "-g", "a{b", logs.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("--glob"), "{err}");

    // An empty directory, and one where everything was skipped, are errors that name it.
    let empty = d.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = run(&["analyze", empty.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("empty: no log files in this directory"),
        "{err}"
    );
    let (code, _, err) = run(&["analyze", "-g", "*.gz", logs.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("left out by --glob/--exclude"), "{err}");
}

#[test]
fn xz_archives_are_read_like_plain_files() {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    let plain = write(d.path(), "plain/app.log", LOG);
    let xz = d.path().join("xz/app.log.1.xz");
    std::fs::create_dir_all(xz.parent().unwrap()).unwrap();
    // Two streams back to back, as `xz -c a >> b` writes them.
    let (a, b) = LOG.split_at(LOG.find("2025-01-10 08:31:51").unwrap());
    let mut bytes = Vec::new();
    for part in [a, b] {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
        e.write_all(part.as_bytes()).unwrap();
        bytes.extend(e.finish().unwrap());
    }
    std::fs::write(&xz, &bytes).unwrap();
    let (code, p, _) = analyze_json(&[plain.to_str().unwrap()]);
    assert_eq!(code, 0);
    let (code, x, err) = analyze_json(&[xz.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(x["signatures"], p["signatures"]);
    assert_eq!(x["input"]["bytes"], p["input"]["bytes"]);
    // A cut archive: what came before the cut is read, the error names the file and format.
    let cut = d.path().join("cut.log.xz");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let (code, _, err) = analyze_json(&[cut.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("cut.log.xz: corrupt xz stream"), "{err}");
}

#[test]
fn completions_and_man_pages() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, _) = run(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        assert!(
            out.contains("faultline") && out.contains("analyze"),
            "{shell}"
        );
        assert!(out.contains("no-requests"), "{shell}: flags are completed");
    }
    let (code, _, _) = run(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    let (code, man, _) = run(&["man"]);
    assert_eq!(code, 0);
    assert!(
        man.starts_with(".ie") || man.contains(".TH faultline"),
        "{}",
        &man[..200]
    );
    assert!(man.contains("analyze"));
    let (code, man, _) = run(&["man", "analyze"]);
    assert_eq!(code, 0);
    assert!(man.contains(".TH faultline-analyze"));
    assert!(man.contains("no\\-requests"), "the subcommand's flags");
    let (code, _, err) = run(&["man", "analyse"]);
    assert_eq!(code, 2);
    assert!(err.contains("one of analyze"), "{err}");
}

/// Every line of the table of every sample fits 80 columns; colour only when asked or on a
/// terminal, and never with `NO_COLOR` unless forced.
#[test]
fn table_fits_80_columns_and_colours_on_request() {
    let mut inputs: Vec<std::path::PathBuf> = std::fs::read_dir(samples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.push(samples());
    inputs.sort();
    for input in &inputs {
        let out = faultline()
            .args(["analyze", input.to_str().unwrap()])
            .env("COLUMNS", "80")
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("records"), "{}", input.display());
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{}: {} wide: {line}",
                input.display(),
                line.chars().count()
            );
        }
        assert!(!text.contains('\x1b'), "no colour into a pipe");
    }
    let cmp = faultline()
        .args([
            "compare",
            "--split",
            "2025-01-10T08:35:00Z",
            samples().to_str().unwrap(),
        ])
        .env("COLUMNS", "80")
        .output()
        .unwrap();
    let text = String::from_utf8(cmp.stdout).unwrap();
    assert!(text.contains("signatures"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "compare: {line}");
    }
    let wide = faultline()
        .args(["analyze", samples().to_str().unwrap()])
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    let wide = String::from_utf8(wide.stdout).unwrap();
    assert!(wide.contains("top variant"), "a pipe gets every column");
    let color = |extra: &[&str], no_color: bool| {
        let mut c = faultline();
        c.args([
            "analyze",
            samples().join("render-incident.log").to_str().unwrap(),
        ])
        .args(extra);
        if no_color {
            c.env("NO_COLOR", "1");
        }
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    };
    assert!(color(&["--color", "always"], false).contains("\x1b[38;5;9m error"));
    assert!(
        color(&["--color", "always"], true).contains('\x1b'),
        "always wins over NO_COLOR"
    );
    assert!(!color(&["--color", "never"], false).contains('\x1b'));
    assert!(!color(&[], false).contains('\x1b'));
    // What to do, under the table: each signature's first sentence of the fix.
    let t = color(&[], false);
    assert!(t.contains("what to do (the whole fix: faultline signatures ID)"));
    assert!(t.contains("  url-not-string: Since pydantic 2"), "{t}");
}

/// An access-line log of one request a second, 08:00 to 09:00: every tenth request a 500,
/// and from `incident.0` for `incident.1` minutes every second one.
fn steady_log(incident: Option<(u32, u32)>) -> String {
    let mut s = String::new();
    for m in 0..60u32 {
        let hot = incident.is_some_and(|(a, n)| (a..a + n).contains(&m));
        for i in 0..60u32 {
            let status = match (hot, i % 10 == 0, i % 2 == 0) {
                (false, true, _) | (true, _, true) => 500,
                _ => 200,
            };
            s.push_str(&format!(
                "2025-01-10 08:{m:02}:{i:02},000 - app.middleware.timing - INFO - request method=GET path=/api/v1/trips status={status} duration_ms=12.0\n"
            ));
        }
    }
    s
}

#[test]
fn a_steady_error_rate_is_not_an_incident_and_a_coarse_bucket_says_what_it_hides() {
    let d = tempfile::tempdir().unwrap();
    let steady = write(d.path(), "steady.log", &steady_log(None));
    let (_, r, _) = analyze_json(&[steady.to_str().unwrap()]);
    assert_eq!(r["requests"]["count"], 3600);
    assert_eq!(r["requests"]["errors_5xx"], 360);
    assert_eq!(
        r["incidents"],
        serde_json::json!([]),
        "10% all along is the baseline"
    );

    let spike = write(d.path(), "spike.log", &steady_log(Some((33, 4))));
    let (_, r, _) = analyze_json(&[spike.to_str().unwrap()]);
    assert_eq!(r["requests"]["count"], 3600);
    assert_eq!(r["requests"]["errors_5xx"], 56 * 6 + 4 * 30);
    let inc = r["incidents"].as_array().unwrap();
    assert_eq!(inc.len(), 1, "{inc:?}");
    assert_eq!(inc[0]["start"], "2025-01-10T08:33:00.000Z");
    assert_eq!(inc[0]["end"], "2025-01-10T08:37:00.000Z");
    assert_eq!(inc[0]["requests"], 240);
    assert_eq!(inc[0]["errors_5xx"], 120);
    // Five-minute buckets average the four minutes away; the report says so.
    let (_, r, _) = analyze_json(&["--bucket", "5m", spike.to_str().unwrap()]);
    assert_eq!(r["incidents"], serde_json::json!([]));
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("an incident from 2025-01-10T08:33:00.000Z to 2025-01-10T08:37:00.000Z shows at 1-minute buckets but not at --bucket 300s"),
        "{notes}"
    );
    // A longer one is found at 5 minutes too, and no note is needed.
    let long = write(d.path(), "long.log", &steady_log(Some((30, 10))));
    let (_, r, _) = analyze_json(&["--bucket", "5m", long.to_str().unwrap()]);
    assert_eq!(r["incidents"].as_array().unwrap().len(), 1);
    assert!(!r["notes"].to_string().contains("1-minute buckets"));
}

/// An app that logs each request twice, in one stream: its own timing line and uvicorn's
/// access line (no latency). `access_first`: uvicorn's line comes first (logged when the
/// response starts, the timing line when the middleware returns). Every fourth request
/// overlaps the next (both timing lines, then both access lines); every tenth fails.
fn double_logged(requests: u32, access_first: bool) -> String {
    let mut s = String::new();
    let line = |i: u32, timing: bool| {
        let (ms, sec) = (i * 250 % 1000, i / 4);
        let status = if i % 10 == 3 { 500 } else { 200 };
        let when = format!("2025-01-10 08:{:02}:{:02},{ms:03}", sec / 60, sec % 60);
        if timing {
            format!("{when} - app.middleware.timing - INFO - request method=GET path=/api/v1/trips/{i} status={status} duration_ms={}.5\n", 10 + i % 7)
        } else {
            format!("{when} - uvicorn.access - INFO - 10.0.3.{}:5{i:04} - \"GET /api/v1/trips/{i} HTTP/1.1\" {status}\n", i % 200)
        }
    };
    let mut i = 0;
    while i < requests {
        let group: Vec<u32> = if i % 4 == 0 && i + 1 < requests {
            vec![i, i + 1]
        } else {
            vec![i]
        };
        for timing in [!access_first, access_first] {
            for &j in &group {
                s.push_str(&line(j, timing));
            }
        }
        i += group.len() as u32;
    }
    s
}

#[test]
fn a_request_logged_twice_is_counted_once() {
    let d = tempfile::tempdir().unwrap();
    for access_first in [false, true] {
        let p = write(d.path(), "double.log", &double_logged(110, access_first));
        let p = p.to_str().unwrap();
        let (_, r, _) = analyze_json(&[p]);
        let q = &r["requests"];
        assert_eq!(q["count"], 110, "access first: {access_first}");
        assert_eq!(q["errors_5xx"], 11);
        assert_eq!(q["with_latency"], 110);
        assert_eq!(q["missing_latency"], 0);
        let ep = &r["endpoints"][0];
        assert_eq!(
            (&ep["endpoint"], &ep["count"]),
            (&"GET /api/v1/trips/{id}".into(), &110.into())
        );
        let notes = r["notes"].to_string();
        assert!(
            notes.contains("110 access line(s) without a latency were the second line"),
            "{notes}"
        );
        // Wherever the chunks are cut and however many threads read them.
        for args in [
            ["--chunk-size", "300", "--threads", "2"],
            ["--chunk-size", "1K", "--threads", "1"],
        ] {
            let (_, again, _) = analyze_json(&[args[0], args[1], args[2], args[3], p]);
            assert_eq!(again, r, "{args:?}");
        }
        // From a pipe, in blocks.
        let out = faultline()
            .args(["analyze", "--format", "json", "-"])
            .write_stdin(double_logged(110, access_first))
            .output()
            .unwrap();
        let piped: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(piped["requests"], r["requests"]);
    }
}

#[test]
fn lines_that_are_not_one_request_are_all_counted() {
    let d = tempfile::tempdir().unwrap();
    let log = double_logged(40, false);
    // Only access lines (no timing middleware): 40 requests, none paired.
    let access: String = log
        .lines()
        .filter(|l| l.contains("uvicorn.access"))
        .map(|l| format!("{l}\n"))
        .collect();
    let p = write(d.path(), "access.log", &access);
    let (_, r, _) = analyze_json(&[p.to_str().unwrap()]);
    assert_eq!(r["requests"]["count"], 40);
    assert_eq!(r["requests"]["missing_latency"], 40);
    assert!(!r["notes"].to_string().contains("second line"));
    // Access lines whose status differs from the timing line's are other requests.
    let shifted = log.replace("HTTP/1.1\" 200", "HTTP/1.1\" 404");
    let p = write(d.path(), "shifted.log", &shifted);
    let (_, r, _) = analyze_json(&[p.to_str().unwrap()]);
    assert_eq!(
        r["requests"]["count"],
        40 + 36,
        "the 4 failed requests pair, the 36 others do not"
    );
    // Two seconds later, the access line is another request.
    let late: String = log
        .lines()
        .map(|l| match l.contains("uvicorn.access") {
            true => format!("2025-01-10 09{}\n", &l[13..]),
            false => format!("{l}\n"),
        })
        .collect();
    let p = write(d.path(), "late.log", &late);
    let (_, r, _) = analyze_json(&[p.to_str().unwrap()]);
    assert_eq!(r["requests"]["count"], 80);
    // Containers of a kubectl log are separate streams: an access line in one and a timing
    // line in another are two requests.
    let kube: String = log
        .lines()
        .map(|l| match l.contains("uvicorn.access") {
            true => format!("[pod/api-1/uvicorn] {l}\n"),
            false => format!("[pod/api-1/app] {l}\n"),
        })
        .collect();
    let p = write(d.path(), "kube.log", &kube);
    let (_, r, _) = analyze_json(&[p.to_str().unwrap()]);
    assert_eq!(r["requests"]["count"], 80);
}

/// Exceptions of four runtimes, as their loggers print them after a header line, a Go panic
/// and the JVM's uncaught exceptions: each is grouped by type, message shape and its
/// innermost application frame.
#[test]
fn other_runtimes_exceptions_are_grouped_with_their_application_frame() {
    let d = tempfile::tempdir().unwrap();
    let mut log = String::new();
    for i in 0..3 {
        log.push_str(&format!(
            "2025-01-10 08:3{i}:40,117 ERROR [http-nio-8080-exec-{i}] c.e.OrderController - request failed\n\
             java.lang.IllegalStateException: order {i} has no lines\n\
             \tat java.util.Objects.requireNonNull(Objects.java:233)\n\
             \tat com.example.orders.OrderService.total(OrderService.java:88)\n\
             \tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)\n\
             Caused by: java.lang.NullPointerException: lines is null\n\
             \tat com.example.orders.Order.lines(Order.java:12)\n\
             \t... 3 more\n\
             2025-01-10 08:3{i}:41,000 ERROR node request failed\n\
             TypeError: Cannot read properties of undefined (reading 'id')\n    \
             at getUser (/app/src/users.js:14:22)\n    \
             at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)\n\
             2025-01-10 08:3{i}:42,000 fail: Shop.Api[0] request failed\n\
             System.InvalidOperationException: Sequence contains no elements\n   \
             at System.Linq.ThrowHelper.ThrowNoElementsException()\n   \
             at Shop.Orders.OrderService.Total(Int32 id) in /src/Shop/Orders/OrderService.cs:line 42\n\
             2025-01-10 08:3{i}:43,000 ERROR ruby worker failed\n\
             /app/lib/orders.rb:12:in 'total': undefined method 'sum' for nil (NoMethodError)\n\
             \tfrom /usr/local/bundle/gems/rack-3.0.8/lib/rack/builder.rb:4:in 'call'\n\
             2025-01-10 08:3{i}:44,000 INFO ok\n\
             panic: runtime error: index out of range [{i}] with length 3\n\
             \n\
             goroutine 1 [running]:\n\
             main.lookup(...)\n\
             \t/app/cmd/server/main.go:12\n\
             net/http.HandlerFunc.ServeHTTP(0x0?, {{0x6c6f50?, 0xc0000a0000?}}, 0x0?)\n\
             \t/usr/local/go/src/net/http/server.go:2136 +0x29\n\
             2025-01-10 08:3{i}:45,000 INFO restarted\n\
             Exception in thread \"worker-{i}\" java.lang.IllegalArgumentException: Required value was null.\n\
             \tat kotlin.collections.CollectionsKt___CollectionsKt.first(_Collections.kt:196)\n\
             \tat com.example.billing.InvoiceKt.total(Invoice.kt:31)\n\
             \tat java.base/java.lang.Thread.run(Thread.java:833)\n\
             2025-01-10 08:3{i}:46,000 INFO Exception in thread pool shutdown: none\n\
             Exception in thread \"main\" java.lang.NullPointerException\n\
             \tat com.example.billing.Cart.add(Cart.kt:7)\n\
             \tat com.example.billing.MainKt.main(Main.kt:5)\n"
        ));
    }
    let p = write(d.path(), "polyglot.log", &log);
    let (code, report, err) = analyze_json(&[p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let groups: Vec<(String, u64, String)> = report["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let l = &e["location"];
            (
                e["type"].as_str().unwrap().to_string(),
                e["count"].as_u64().unwrap(),
                format!(
                    "{}:{} in {}",
                    l["file"].as_str().unwrap_or("-"),
                    l["line"],
                    l["function"].as_str().unwrap_or("-")
                ),
            )
        })
        .collect();
    let want = [
        (
            "java.lang.IllegalStateException",
            "OrderService.java:88 in com.example.orders.OrderService.total",
        ),
        ("TypeError", "/app/src/users.js:14 in getUser"),
        (
            "System.InvalidOperationException",
            "/src/Shop/Orders/OrderService.cs:42 in Shop.Orders.OrderService.Total(Int32 id)",
        ),
        ("NoMethodError", "/app/lib/orders.rb:12 in total"),
        ("panic", "/app/cmd/server/main.go:12 in main.lookup"),
        // The JVM's own uncaught-exception line, from a Kotlin program, with and without a
        // message.
        (
            "java.lang.IllegalArgumentException",
            "Invoice.kt:31 in com.example.billing.InvoiceKt.total",
        ),
        (
            "java.lang.NullPointerException",
            "Cart.kt:7 in com.example.billing.Cart.add",
        ),
    ];
    for (ty, at) in want {
        assert!(
            groups.iter().any(|(t, n, l)| t == ty && *n == 3 && l == at),
            "{ty} x3 at {at}: {groups:#?}"
        );
    }
    assert_eq!(groups.len(), 7, "{groups:#?}");
}
