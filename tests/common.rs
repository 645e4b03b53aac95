//! Helpers shared by the integration tests.

use assert_cmd::Command;
use faultline::report::{render, Format};
use faultline::{analyze, analyze_reader, Config, InputSpec};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The repository's `samples/` directory.
pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// The `faultline` binary.
pub fn faultline() -> Command {
    Command::cargo_bin("faultline").unwrap()
}

/// Runs `cmd`, which must succeed (its stderr shown when it does not); its output.
pub fn succeed(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `faultline analyze --format json ARGS...` and returns (exit code, report, stderr).
pub fn analyze_json(args: &[&str]) -> (i32, Value, String) {
    let out = faultline()
        .arg("analyze")
        .arg("--format")
        .arg("json")
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let code = out.status.code().expect("exited, not killed by a signal");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (code, report, stderr)
}

/// The signature with this id in a report.
pub fn sig<'a>(report: &'a Value, id: &str) -> Option<&'a Value> {
    report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
}

/// `{value: count}` of a signature's variants.
pub fn variants(s: &Value) -> Vec<(String, u64)> {
    s["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_string(),
                v["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The JSON report of `path` read as the binary reads a file: mapped. Every input must be
/// read without an error.
pub fn mapped(path: &Path, config: &Config) -> Vec<u8> {
    static SETUP: std::sync::Once = std::sync::Once::new();
    // Files are mapped only once the process has the binary's SIGBUS guard.
    SETUP.call_once(|| faultline::setup_process(2));
    json_of(analyze(&[InputSpec::Path(path.to_path_buf())], config).unwrap())
}

/// The JSON report of `path` streamed in blocks, as stdin, a pipe or an archive is (through
/// [`analyze_reader`]).
pub fn streamed(path: &Path, config: &Config) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap();
    json_of(analyze_reader("-", file, config).unwrap())
}

/// The JSON report of `path` read both ways: [`mapped`] and [`streamed`].
pub fn mapped_and_streamed(path: &Path, config: &Config) -> [Vec<u8>; 2] {
    [mapped(path, config), streamed(path, config)]
}

fn json_of(out: faultline::Outcome) -> Vec<u8> {
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    render(&out.report, Format::Json)
}

/// An hour of a service's log (20 requests a minute from 08:00) with an incident from 08:30
/// to 08:35: half the requests 5xx at 8 s, and two signatures' tracebacks each minute.
pub fn incident_log() -> String {
    let mut s = String::new();
    for m in 0..60u32 {
        let hot = (30..36).contains(&m);
        for i in 0..20u32 {
            let (status, ms) = match hot && i % 2 == 0 {
                true => (500, 8000.0),
                false => (200, 12.0 + i as f64),
            };
            s.push_str(&format!(
                "2025-01-10 08:{m:02}:{:02},000 - app.middleware.timing - INFO - request method=GET path=/api/v1/health status={status} duration_ms={ms}\n",
                i * 3
            ));
        }
        if hot {
            s.push_str(&format!(
                "2025-01-10 08:{m:02}:31,000 - uvicorn.error - ERROR - Exception in ASGI application\n\
                 Traceback (most recent call last):\n  File \"/srv/app/api/status.py\", line 41, in get_status\n    if settings.AGENTOPS_API_KEY:\n\
                 AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'\n\
                 2025-01-10 08:{m:02}:32,000 - uvicorn.error - ERROR - Exception in ASGI application\n\
                 Traceback (most recent call last):\n  File \"/srv/app/api/pam.py\", line 412, in websocket_endpoint\n    await websocket.send_json(message)\n\
                 RuntimeError: WebSocket is not connected. Need to call \"accept\" first.\n"
            ));
        }
    }
    s
}

/// An hour of a service log (Python logging's default layout with a timing middleware)
/// that changes behaviour mid-way: a payment error that did not exist before 07:30, a
/// database error that was rare until 07:40 and then 30 a minute (with latency up tenfold),
/// and a cache warning every four minutes throughout. `surge` false keeps the database error
/// rare to the end.
pub fn shifting_log(surge: bool) -> String {
    let mut s = String::new();
    for m in 0..60u32 {
        for k in 0..20u32 {
            let slow = surge && m >= 40;
            s.push_str(&format!(
                "2025-03-04 07:{m:02}:{:02},{:03} - app.middleware.timing - INFO - request \
                 method=GET path=/api/v1/orders/{} status=200 duration_ms={}\n",
                k * 3,
                k * 7,
                100 + k,
                if slow { 2000 + k * 10 } else { 12 + k % 4 }
            ));
        }
        if m % 4 == 0 {
            s.push_str(&format!(
                "2025-03-04 07:{m:02}:05,000 - app.cache - WARNING - cache miss ratio high \
                 ratio=0.{}\n",
                10 + m
            ));
        }
        if surge && m >= 30 {
            s.push_str(&format!(
                "2025-03-04 07:{m:02}:07,000 - app.payments - ERROR - payment provider \
                 returned 502 for order {}\n",
                4000 + m * 7
            ));
        }
        let db = if surge && m >= 40 {
            30
        } else {
            u32::from(m % 5 == 0)
        };
        for k in 0..db {
            s.push_str(&format!(
                "2025-03-04 07:{m:02}:{k:02},500 - app.db - ERROR - connection pool exhausted \
                 after {} ms waiting\n",
                100 + (m * 31 + k * 17) % 900
            ));
        }
    }
    s
}
