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
