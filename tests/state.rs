//! Incremental runs (`analyze --state FILE`): a log read in pieces, across rotations, gives
//! the totals of one run over all of it; a state file that cannot be trusted is an error.

use crate::common::*;
use faultline::state::analyze_incremental;
use faultline::Config;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

/// A log with tracebacks, bare exception lines and request lines: the incident sample four
/// times, each copy a day later (so each copy has buckets of its own in the timeline).
fn log() -> Vec<u8> {
    let one = std::fs::read_to_string(samples().join("render-incident.log")).unwrap();
    let mut all = String::new();
    for day in 0..4 {
        all.push_str(&one.replace("2025-01-10", &format!("2025-01-1{day}")));
    }
    all.into_bytes()
}

/// The JSON report of `path` in one run.
fn one_run(path: &Path) -> Value {
    let (code, report, err) = analyze_json(&[path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    report
}

/// Runs `faultline analyze --state STATE --format json PATHS`; (exit code, report, stderr).
fn state_run(state: &Path, paths: &[&Path]) -> (i32, Value, String) {
    let mut args = vec!["--state", state.to_str().unwrap()];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    analyze_json(&args)
}

/// Latency figures, which incremental runs take from sketches: compared within the
/// sketches' error (0.5%), plus the rounding to 3 decimals.
const ESTIMATES: [&str; 8] = [
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "baseline_p50_ms",
    "baseline_p99_ms",
    "after_p50_ms",
    "after_p99_ms",
    "latency_ratio",
];

/// Asserts `got` equals `want`, estimates within 1%; `notes` (which say the quantiles are
/// estimates) and the input's file and layout counts (one file against a rotated set) are
/// left out.
fn assert_same(got: &Value, want: &Value, at: &str) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let keys = |m: &serde_json::Map<String, Value>| {
                m.keys()
                    .filter(|k| !["notes", "files", "layouts"].contains(&k.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(keys(g), keys(w), "keys at {at}");
            for k in keys(w) {
                let here = format!("{at}.{k}");
                if ESTIMATES.contains(&k.as_str()) {
                    match (g[&k].as_f64(), w[&k].as_f64()) {
                        (Some(a), Some(b)) => assert!(
                            (a - b).abs() <= b.abs() * 0.01 + 1e-3,
                            "{here}: {a} against {b}"
                        ),
                        _ => assert_eq!(g[&k], w[&k], "{here}"),
                    }
                } else {
                    assert_same(&g[&k], &w[&k], &here);
                }
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "length at {at}");
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                assert_same(a, b, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(got, want, "at {at}"),
    }
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// Cut points of `len` bytes into 5 pieces, anywhere (inside lines and tracebacks).
fn cuts(len: usize, seed: u64) -> Vec<usize> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut c: Vec<usize> = (0..4)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % len as u64) as usize
        })
        .collect();
    c.push(0);
    c.push(len);
    c.sort();
    c
}

/// The log appended in 5 pieces, `--state` after each: every run reports what one run over
/// the bytes so far reports, and the last one the totals of the whole log.
#[test]
fn five_appended_pieces_total_one_run() {
    let data = log();
    let dir = tempfile::tempdir().unwrap();
    let (path, state, whole) = (
        dir.path().join("app.log"),
        dir.path().join("s.json"),
        dir.path().join("whole.log"),
    );
    let c = cuts(data.len(), 7);
    for w in c.windows(2) {
        append(&path, &data[w[0]..w[1]]);
        let (code, got, err) = state_run(&state, &[&path]);
        assert_eq!(code, 0, "{err}");
        std::fs::write(&whole, &data[..w[1]]).unwrap();
        assert_same(&got, &one_run(&whole), &format!("after {} bytes", w[1]));
    }
    let report = one_run(&whole);
    assert!(sig(&report, "websocket-not-accepted").is_some());
    // No temporary file is left beside the state.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    // A run with nothing new reports the same again.
    let (_, again, _) = state_run(&state, &[&path]);
    assert_same(&again, &report, "a run with nothing new");
}

/// The same through the library, for many ways of cutting the log: whole lines or not, a
/// traceback cut anywhere.
#[test]
fn any_cuts_total_one_run() {
    pieces_total_one_run(&log(), 1..12);
}

/// For each seed, appends `data` in 5 pieces cut anywhere, with an incremental run (through
/// the library) after each, and asserts the last report equals one run over `data`, which
/// it returns.
fn pieces_total_one_run(data: &[u8], seeds: std::ops::Range<u64>) -> faultline::Outcome {
    let cfg = Config::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.log");
    std::fs::write(&whole, data).unwrap();
    let one = faultline::analyze(&[faultline::InputSpec::Path(whole)], &cfg).unwrap();
    let want = serde_json::to_value(&one.report).unwrap();
    for seed in seeds {
        let (path, state) = (dir.path().join("0.log"), dir.path().join("s.json"));
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&state);
        let mut last = None;
        for w in cuts(data.len(), seed).windows(2) {
            append(&path, &data[w[0]..w[1]]);
            last = Some(analyze_incremental(std::slice::from_ref(&path), &state, &cfg).unwrap());
        }
        let got = serde_json::to_value(&last.unwrap().report).unwrap();
        assert_same(&got, &want, &format!("seed {seed}"));
    }
    one
}

fn gzip(path: &Path) -> PathBuf {
    let st = StdCommand::new("gzip").arg(path).status().unwrap();
    assert!(st.success());
    PathBuf::from(format!("{}.gz", path.display()))
}

/// Rotation: renamed and replaced, then the old file compressed; and a copy-and-truncate.
/// Nothing is lost or counted twice. The writer writes whole lines (a line cut by a
/// rotation would be two lines in any reading), but a traceback spans the rotations.
#[test]
fn rotation_loses_and_double_counts_nothing() {
    let data = log();
    let mut c = cuts(data.len(), 3);
    for x in &mut c {
        while *x < data.len() && *x > 0 && data[*x - 1] != b'\n' {
            *x += 1;
        }
    }
    let piece = |i: usize| &data[c[i]..c[i + 1]];
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let (live, state, whole) = (
        logs.join("app.log"),
        dir.path().join("s.json"),
        dir.path().join("whole.log"),
    );
    std::fs::write(&whole, &data).unwrap();
    let want = one_run(&whole);
    let run = || {
        let (code, report, err) = state_run(&state, &[&logs]);
        assert_eq!(code, 0, "{err}");
        report
    };
    append(&live, piece(0));
    run();
    append(&live, piece(1));
    run();
    // logrotate's default: renamed, a new file in its place.
    append(&live, piece(2));
    std::fs::rename(&live, logs.join("app.log.1")).unwrap();
    append(&live, piece(3));
    run();
    // `compress`: the rotated file is gzipped (a new inode, the same bytes inside).
    gzip(&logs.join("app.log.1"));
    append(&live, piece(4));
    let got = run();
    assert_same(&got, &want, "renamed, then compressed");
    assert_same(&got, &one_run(&logs), "the rotated set in one run");

    // copytruncate: the file is copied away, then truncated and written again.
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir(&logs).unwrap();
    let _ = std::fs::remove_file(&state);
    append(&live, piece(0));
    append(&live, piece(1));
    run();
    append(&live, piece(2));
    std::fs::copy(&live, logs.join("app.log.1")).unwrap();
    std::fs::write(&live, b"").unwrap();
    append(&live, piece(3));
    run();
    append(&live, piece(4));
    assert_same(&run(), &want, "copied and truncated");
}

/// A corrupt state file, one of another version, or one written with other settings is an
/// error naming it (exit 2), and it is left as it was.
#[test]
fn untrusted_state_is_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (path, state) = (dir.path().join("app.log"), dir.path().join("s.json"));
    std::fs::write(&path, log()).unwrap();
    let state_str = state.to_str().unwrap();
    let check = |content: &[u8], extra: &[&str], want: &str| {
        std::fs::write(&state, content).unwrap();
        let mut args = vec!["analyze", "--state", state_str];
        args.extend(extra);
        args.push(path.to_str().unwrap());
        let out = faultline().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(state_str) && err.contains(want), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            std::fs::read(&state).unwrap(),
            content,
            "the state was changed"
        );
    };
    check(
        b"{\"schema\": \"faultline.state/v1\", \"fau",
        &[],
        "corrupt",
    );
    check(b"", &[], "corrupt");
    check(b"[1, 2, 3]", &[], "not a faultline state file");
    check(b"{\"sources\": []}", &[], "not a faultline state file");
    // A good state, then altered.
    let _ = std::fs::remove_file(&state);
    let (code, _, err) = state_run(&state, &[&path]);
    assert_eq!(code, 0, "{err}");
    let good = std::fs::read_to_string(&state).unwrap();
    let older = good.replace("faultline.state/v1", "faultline.state/v0");
    check(older.as_bytes(), &[], "was written by faultline");
    let mut v: Value = serde_json::from_str(&good).unwrap();
    v["sources"][0]["files"][0]["offset"] = Value::from("many");
    check(v.to_string().as_bytes(), &[], "corrupt");
    check(good.as_bytes(), &["--bucket", "5m"], "--bucket");
    // The good state still works.
    std::fs::write(&state, &good).unwrap();
    let (code, _, err) = state_run(&state, &[&path]);
    assert_eq!(code, 0, "{err}");
    // A state that cannot be written is an error before anything is read.
    let nowhere = dir.path().join("missing").join("s.json");
    let (code, _, err) = {
        let out = faultline()
            .args(["analyze", "--state", nowhere.to_str().unwrap()])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), out.stdout, err)
    };
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot write state file"), "{err}");
    // stdin cannot be followed by a state.
    let out = faultline()
        .args(["analyze", "--state", state_str, "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A container log (CRI, long lines cut into `P` pieces by the runtime) cut anywhere, even
/// between the pieces of one line: the unwrapper's partial lines are carried in the state.
#[test]
fn container_pieces_cut_anywhere_total_one_run() {
    let mut data = Vec::new();
    for (i, line) in String::from_utf8(log()).unwrap().lines().enumerate() {
        let ts = format!(
            "2025-01-10T08:{:02}:{:02}.{:03}000000Z",
            i / 60 % 60,
            i % 60,
            i % 1000
        );
        let chars: Vec<char> = line.chars().collect();
        let pieces: Vec<String> = match chars.is_empty() {
            true => vec![String::new()],
            false => chars.chunks(40).map(|c| c.iter().collect()).collect(),
        };
        for (j, p) in pieces.iter().enumerate() {
            let tag = if j + 1 == pieces.len() { "F" } else { "P" };
            data.extend(format!("{ts} stdout {tag} {p}\n").bytes());
        }
    }
    let one = pieces_total_one_run(&data, 1..6);
    assert_eq!(one.report.input.layouts.get("cri"), Some(&1));
    assert!(one.report.input.joined_lines > 100);
}
