//! Helpers shared by the integration tests.

use assert_cmd::Command;
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
