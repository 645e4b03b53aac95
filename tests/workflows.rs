//! The workflows around a report: verify a fix (`compare`), alert (`--fail-on`), and the exit
//! status of each.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

/// The sample's deploy line is at 08:52:00; the incident's last record at 08:40:12.
const DEPLOY: &str = "2025-01-10T08:51:59Z";

fn incident_log() -> String {
    samples()
        .join("render-incident.log")
        .to_str()
        .unwrap()
        .to_string()
}

/// Runs the binary; (exit code, stdout, stderr).
fn run(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut cmd = faultline();
    cmd.args(args);
    if let Some(input) = stdin {
        cmd.write_stdin(input.to_vec());
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        out.status.code().expect("exited, not killed by a signal"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn status_of<'a>(c: &'a Value, id: &str) -> &'a str {
    c["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {c}"))["status"]
        .as_str()
        .unwrap()
}

/// Healthy traffic in the sample's format: requests at ~13 ms, one unrelated warning.
fn healthy_log(dir: &Path) -> String {
    let mut s = String::new();
    for i in 0..40 {
        s.push_str(&format!(
            "2025-01-10 07:{:02}:{:02},{:03} - app.middleware.timing - INFO - request method=GET \
             path=/api/v1/health status=200 duration_ms={}.{:02} client=10.0.0.{}\n",
            i / 2,
            (i * 29) % 60,
            i * 7 % 1000,
            12 + i % 3,
            i * 13 % 100,
            i % 9
        ));
    }
    s.push_str("2025-01-10 07:30:00,000 - app.cache - WARNING - cache miss ratio 0.31\n");
    let p = dir.join("healthy.log");
    std::fs::write(&p, s).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn analyze_exit_status_follows_the_thresholds() {
    let log = incident_log();
    // The sample has 3 WebSocket records.
    let (code, _, err) = run(
        &["analyze", "--fail-on", "websocket-not-accepted>0", &log],
        None,
    );
    assert_eq!(code, 3, "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("faultline: threshold breached:"))
            .count(),
        1,
        "{err}"
    );
    let (code, out, err) = run(
        &[
            "analyze",
            "-f",
            "json",
            "--fail-on",
            "websocket-not-accepted>100, p99>60s",
            &log,
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    // The report is written whatever the thresholds say.
    let r = json(&out);
    assert!(r["requests"]["p99_ms"].as_f64().unwrap() > 1000.0);
    assert!(r["requests"]["errors_5xx"].as_u64().unwrap() > 0);
    // Two breaches, two lines, in the order given.
    let (code, _, err) = run(
        &[
            "analyze",
            "--fail-on",
            "error-rate>1%",
            "--fail-on",
            "p99>2s,endpoint:GET /api/v1/health:p99>60s",
            &log,
        ],
        None,
    );
    assert_eq!(code, 3);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].contains("error-rate>1%"), "{err}");
    assert!(lines[1].contains("p99>2s"), "{err}");
    // A breach outranks an unreadable input; without a breach the input error is 1.
    let (code, _, err) = run(
        &[
            "analyze",
            "--fail-on",
            "any-signature>2",
            &log,
            "/nonexistent/x.log",
        ],
        None,
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("/nonexistent/x.log"), "{err}");
    let (code, _, _) = run(
        &[
            "analyze",
            "--fail-on",
            "any-signature>100",
            &log,
            "/nonexistent/x.log",
        ],
        None,
    );
    assert_eq!(code, 1);
}

#[test]
fn a_bad_threshold_is_a_usage_error_that_points_at_it() {
    let log = incident_log();
    let (code, out, err) = run(
        &[
            "analyze",
            "--fail-on",
            "websocket-not-accepted>0,p98>2s",
            &log,
        ],
        None,
    );
    assert_eq!(code, 2);
    assert!(out.is_empty(), "nothing is analysed: {out}");
    assert!(err.contains("unknown metric 'p98'"), "{err}");
    assert!(err.contains(&format!("\n{}^^^\n", " ".repeat(27))), "{err}");
    let (code, _, err) = run(&["analyze", "--fail-on", "new", &log], None);
    assert_eq!(code, 2);
    assert!(err.contains("faultline compare"), "{err}");
    let (code, _, err) = run(&["analyze", "--fail-on", "websocket>0", &log], None);
    assert_eq!(
        code, 2,
        "an unknown signature id is a typo, not a silent pass"
    );
    assert!(err.contains("'websocket'"), "{err}");
}

#[test]
fn compare_split_after_the_deploy_resolves_the_incident() {
    let log = incident_log();
    let (code, out, err) = run(
        &[
            "compare",
            "--split",
            DEPLOY,
            "-f",
            "json",
            "--fail-on",
            "new,regressed",
            &log,
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let c = json(&out);
    assert_eq!(c["schema"], "faultline.compare/v1");
    for id in [
        "websocket-not-accepted",
        "missing-settings-attribute",
        "url-not-string",
        "datetime-float-mismatch",
    ] {
        assert_eq!(status_of(&c, id), "resolved", "{id}");
    }
    assert_eq!(c["after"]["errors_5xx"], 0);
    assert!(c["before"]["errors_5xx"].as_u64().unwrap() > 0);
    // Each side's figures are those of analyze over the same window.
    let (_, after, _) = run(
        &[
            "analyze",
            "-f",
            "json",
            "--since",
            "2025-01-10T08:52:00Z",
            &log,
        ],
        None,
    );
    let after = json(&after);
    assert_eq!(c["after"]["p99_ms"], after["requests"]["p99_ms"]);
    assert_eq!(c["after"]["requests"], after["requests"]["count"]);
    let (_, before, _) = run(
        &[
            "analyze",
            "-f",
            "json",
            "--until",
            "2025-01-10T08:52:00Z",
            &log,
        ],
        None,
    );
    assert_eq!(c["before"]["p99_ms"], json(&before)["requests"]["p99_ms"]);
    let ratio = c["p99_ratio"].as_f64().unwrap();
    assert!(ratio < 0.01, "p99 fell by more than 100x: {ratio}");
    // The same log through stdin: read once, cut twice.
    let bytes = std::fs::read(&log).unwrap();
    let (code, piped, err) = run(
        &["compare", "--split", DEPLOY, "-f", "json", "-"],
        Some(&bytes),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&piped)["signatures"], c["signatures"]);
    assert_eq!(json(&piped)["endpoints"], c["endpoints"]);
    // Markdown, ready for a postmortem.
    let (_, md, _) = run(
        &["compare", "--split", DEPLOY, "-f", "markdown", &log],
        None,
    );
    assert!(md.starts_with("## Before / After\n"), "{md}");
    assert!(
        md.contains("| websocket-not-accepted | resolved | 3 |"),
        "{md}"
    );
}

#[test]
fn compare_healthy_against_incident_finds_new_failures() {
    let dir = tempfile::tempdir().unwrap();
    let healthy = healthy_log(dir.path());
    let log = incident_log();
    let (code, out, err) = run(
        &[
            "compare",
            "--before",
            &healthy,
            "--after",
            &log,
            "--fail-on",
            "new,regressed",
        ],
        None,
    );
    assert_eq!(code, 3, "{err}");
    let breach: Vec<&str> = err.lines().collect();
    assert_eq!(breach.len(), 1, "{err}");
    assert!(breach[0].contains("threshold breached: new ("), "{err}");
    assert!(breach[0].contains("websocket-not-accepted"), "{err}");
    assert!(out.contains("websocket-not-accepted"), "{out}");
    let exit = |before: &str, after: &str, fail_on: &str| {
        let args = [
            "compare",
            "--before",
            before,
            "--after",
            after,
            "--fail-on",
            fail_on,
        ];
        run(&args, None).0
    };
    // Regressed only: nothing was seen on both sides, so nothing regressed.
    assert_eq!(exit(&healthy, &log, "regressed"), 0);
    // Thresholds other than new/regressed are checked on the after side: the healthy side
    // is fast, the incident's is not.
    assert_eq!(exit(&log, &healthy, "p99>100ms"), 0);
    assert_eq!(exit(&healthy, &log, "p99>100ms"), 3);
}

#[test]
fn compare_usage_errors_exit_2() {
    let log = incident_log();
    for args in [
        vec!["compare", log.as_str()],
        vec!["compare", "--before", log.as_str()],
        vec!["compare", "--split", "yesterday", log.as_str()],
        vec!["compare", "--split", DEPLOY, "-f", "csv", log.as_str()],
        vec![
            "compare",
            "--split",
            DEPLOY,
            "--fail-on",
            "p99>",
            log.as_str(),
        ],
    ] {
        let (code, out, err) = run(&args, None);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(
            err.starts_with("faultline: ") || err.starts_with("error: "),
            "{err}"
        );
    }
    // An unreadable side is an input error (1), the comparison is still printed.
    let (code, out, err) = run(
        &["compare", "--before", "/nonexistent/x.log", "--after", &log],
        None,
    );
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("new"), "{out}");
}

/// The binary with stdin and stdout piped, stdout read line by line on a thread.
struct Live {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Live {
    fn start(args: &[&str]) -> Live {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut child = Command::new(assert_cmd::cargo::cargo_bin!("faultline"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines() {
                if tx.send(l.unwrap()).is_err() {
                    break;
                }
            }
        });
        Live {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let w = self.stdin.as_mut().unwrap();
        w.write_all(bytes).unwrap();
        w.flush().unwrap();
    }

    /// Waits up to `secs` for a stdout line containing `what`.
    fn wait_for(&mut self, what: &str, secs: u64) -> bool {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if self.seen.iter().any(|l| l.contains(what)) {
                return true;
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(_) => return false,
            }
        }
    }

    /// Sends `sig`, keeps stdin open, and returns (exit code, stdout after now, stderr).
    fn signal_and_wait(mut self, sig: libc::c_int) -> (i32, String, String) {
        use std::io::Read;
        // SAFETY: sends a signal to our own child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
        let mut err = String::new();
        let mut stderr = self.child.stderr.take().unwrap();
        let status = self.child.wait().unwrap();
        stderr.read_to_string(&mut err).unwrap();
        let rest: Vec<String> = self.lines.iter().collect();
        drop(self.stdin.take());
        (status.code().unwrap_or(-1), rest.join("\n"), err)
    }
}

fn sample_lines(from: usize, to: usize) -> Vec<u8> {
    let text = std::fs::read_to_string(incident_log()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = lines[from..to].join("\n");
    out.push('\n');
    out.into_bytes()
}

#[test]
fn watch_announces_a_new_signature_within_an_interval_and_reports_at_sigint() {
    let mut w = Live::start(&["watch", "--every", "1s"]);
    // Healthy traffic first: no announcement.
    w.write(&sample_lines(0, 3));
    assert!(w.wait_for("last 1s: 2 requests", 5), "{:?}", w.seen);
    assert!(!w.seen.iter().any(|l| l.contains("new signature")));
    // A burst with a settings error (its traceback ends the burst).
    w.write(&sample_lines(3, 29));
    assert!(
        w.wait_for("new signature: missing-settings-attribute", 2),
        "within one interval: {:?}",
        w.seen
    );
    assert!(w.wait_for("total: 2 signatures", 3), "{:?}", w.seen);
    // The writer is still there; Ctrl-C ends the watch with the full report.
    let (code, rest, err) = w.signal_and_wait(libc::SIGINT);
    assert_eq!(code, 0, "{err}");
    assert!(rest.contains("missing-settings-attribute"), "{rest}");
    assert!(
        rest.contains("input(s)"),
        "the report's summary line: {rest}"
    );
}

#[test]
fn watch_thresholds_fire_at_once_and_set_the_exit_status() {
    let mut w = Live::start(&[
        "watch",
        "--every",
        "10s",
        "-f",
        "json",
        "--fail-on",
        "websocket-not-accepted>0",
    ]);
    w.write(&sample_lines(0, 60));
    let (code, report, err) = {
        // The breach is announced on stderr before the end; stdout carries only the report.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        w.signal_and_wait(libc::SIGTERM)
    };
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("threshold breached: websocket-not-accepted>0"),
        "{err}"
    );
    let r = json(&report);
    assert_eq!(sig(&r, "websocket-not-accepted").unwrap()["count"], 3);
}

#[test]
fn watch_to_the_end_of_a_finite_pipe_equals_analyze_in_counts() {
    let bytes = std::fs::read(incident_log()).unwrap();
    let (code, out, err) = run(&["watch", "-f", "json"], Some(&bytes));
    assert_eq!(code, 0, "{err}");
    let (_, exact, _) = run(&["analyze", "-f", "json", &incident_log()], None);
    let (w, a) = (json(&out), json(&exact));
    for key in ["signatures", "exceptions", "time_range"] {
        assert_eq!(w[key], a[key], "{key}");
    }
    assert_eq!(w["input"]["lines"], a["input"]["lines"]);
    assert_eq!(w["requests"]["count"], a["requests"]["count"]);
    assert_eq!(
        w["endpoints"].as_array().unwrap().len(),
        a["endpoints"].as_array().unwrap().len()
    );
    assert!(
        w["notes"].to_string().contains("sketches"),
        "{}",
        w["notes"]
    );
}

#[test]
fn analyze_of_an_interrupted_pipe_reports_what_it_read() {
    let mut w = Live::start(&["analyze", "-f", "json"]);
    w.write(&sample_lines(0, 29));
    // Time to start and install its handler, even on a loaded machine.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (code, out, err) = w.signal_and_wait(libc::SIGINT);
    assert_eq!(code, 1, "the input was cut: {err}");
    assert!(err.contains("input cut"), "{err}");
    let r = json(&out);
    assert!(sig(&r, "missing-settings-attribute").is_some(), "{out}");
    assert!(r["notes"].to_string().contains("cut by an interrupt"));
}

#[test]
fn watch_follows_a_file_through_rotation_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, sample_lines(0, 30)).unwrap();
    let mut w = Live::start(&["watch", "--every", "1s", log.to_str().unwrap()]);
    assert!(
        w.wait_for("new signature: missing-settings-attribute", 5),
        "{:?}",
        w.seen
    );
    // Appended, then rotated (renamed, a new file in its place), then truncated in place.
    let append = |bytes: &[u8]| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(bytes).unwrap();
    };
    append(&sample_lines(30, 60));
    assert!(
        w.wait_for("new signature: websocket-not-accepted", 5),
        "{:?}",
        w.seen
    );
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    std::fs::write(&log, sample_lines(60, 86)).unwrap();
    assert!(
        w.wait_for("new signature: database-connection-lost", 5),
        "{:?}",
        w.seen
    );
    std::fs::write(&log, b"").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    append(&sample_lines(3, 29));
    assert!(
        w.wait_for("total: 8 signatures (15 records)", 6),
        "{:?}",
        w.seen
    );
    let (code, rest, err) = w.signal_and_wait(libc::SIGINT);
    assert_eq!(code, 0, "{err}");
    // Every line once: the 86 of the sample, then the 26 written again after truncation.
    assert!(rest.contains("112 lines"), "{rest}");
}

#[test]
fn watch_usage_errors_exit_2() {
    for args in [
        vec!["watch", "-f", "csv"],
        vec!["watch", "/nonexistent/app.log"],
        vec!["watch", "-", "/nonexistent/app.log"],
        vec!["watch", "--fail-on", "regressed"],
        vec!["watch", "--every", "0s"],
    ] {
        let (code, out, err) = run(&args, Some(b""));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    // An empty stdin is an empty report, exit 0.
    let (code, out, err) = run(&["watch"], Some(b""));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("0 input(s)") || out.contains("1 input(s)"),
        "{out}"
    );
}

/// `kubectl logs --timestamps` stamps each line in nanoseconds; a split written in
/// milliseconds (as reports print times) takes in that whole millisecond.
#[test]
fn a_split_in_milliseconds_takes_in_nanosecond_stamps_of_that_millisecond() {
    let log = "\
2025-01-10T08:40:11.000000000Z 2025-01-10 08:40:11,000 - app.ws - INFO - session opened
2025-01-10T08:40:12.450120000Z 2025-01-10 08:40:12,450 - uvicorn.error - ERROR - Exception in ASGI application
2025-01-10T08:40:12.450230000Z Traceback (most recent call last):
2025-01-10T08:40:12.450340000Z   File \"/srv/api/ws.py\", line 12, in push
2025-01-10T08:40:12.450450000Z     await ws.send_text(payload)
2025-01-10T08:40:12.450560000Z RuntimeError: WebSocket is not connected. Need to call \"accept\" first.
2025-01-10T08:41:00.100000000Z 2025-01-10 08:41:00,100 - app.main - INFO - deploy live
";
    let status = |split: &str| {
        let (code, out, err) = run(
            &["compare", "--split", split, "-f", "json", "-"],
            Some(log.as_bytes()),
        );
        assert_eq!(code, 0, "{err}");
        status_of(&json(&out), "websocket-not-accepted").to_string()
    };
    assert_eq!(status("2025-01-10T08:40:12.450Z"), "resolved");
    // A millisecond earlier, the failure is after the split.
    assert_eq!(status("2025-01-10T08:40:12.449Z"), "new");
}
