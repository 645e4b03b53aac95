//! Bad input: a clear message, nothing lost, a non-zero exit, never a panic.

use crate::common::*;
use predicates::prelude::*;
use std::io::Write;

const TB: &str = "\
2025-01-10 08:31:52,120 - uvicorn.error - ERROR - Exception in ASGI application
Traceback (most recent call last):
  File \"/srv/app/observability/config.py\", line 73, in init_agentops
    if settings.AGENTOPS_API_KEY:
AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'
";

#[test]
fn unreadable_input_is_reported_and_the_others_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, TB).unwrap();
    let missing = dir.path().join("missing.log");
    let (code, r, stderr) = analyze_json(&[missing.to_str().unwrap(), good.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("missing.log: No such file"), "{stderr}");
    assert_eq!(sig(&r, "missing-settings-attribute").unwrap()["count"], 1);
    assert_eq!(r["errors"][0]["path"], missing.to_str().unwrap());
}

#[test]
fn truncated_gzip_reports_its_offset_and_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for _ in 0..2000 {
        body.push_str(TB);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let cut = &bytes[..bytes.len() / 2];
    let f = dir.path().join("app.log.2.gz");
    std::fs::write(&f, cut).unwrap();
    let (code, r, stderr) = analyze_json(&[f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("app.log.2.gz: corrupt gzip stream at compressed byte offset"),
        "{stderr}"
    );
    let n = sig(&r, "missing-settings-attribute").unwrap()["count"]
        .as_u64()
        .unwrap();
    assert!(n > 100 && n < 2000, "{n}");
}

/// Runs `analyze --patterns DIR samples/` with `file` holding `toml`; it must fail at start-up
/// (exit 2, nothing on stdout) with `message` on stderr.
fn pattern_file_is_rejected(file: &str, toml: &str, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file), toml).unwrap();
    faultline()
        .args([
            "analyze",
            "--patterns",
            dir.path().to_str().unwrap(),
            samples().to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(message));
}

#[test]
fn bad_pattern_file_fails_at_start_naming_file_and_signature() {
    pattern_file_is_rejected(
        "bad.toml",
        "[[signature]]\nid = \"broken\"\ntitle = \"t\"\nseverity = \"error\"\nanchors = [\"boom\"]\npattern = \"(unclosed\"\nremediation = \"r\"\n",
        "bad.toml: signature 'broken': bad pattern regex",
    );
}

#[test]
fn duplicate_signature_id_is_rejected() {
    pattern_file_is_rejected(
        "dup.toml",
        "[[signature]]\nid = \"url-not-string\"\ntitle = \"t\"\nseverity = \"error\"\nanchors = [\"boom\"]\npattern = \"boom\"\nremediation = \"r\"\n",
        "dup.toml: signature 'url-not-string': duplicate id",
    );
}

#[test]
fn crlf_nul_invalid_utf8_and_no_final_newline_are_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = TB.replace('\n', "\r\n").into_bytes();
    // invalid UTF-8 and a NUL in the middle of a traceback
    let mut tb2 = TB
        .replace("    if settings", "    if \u{0}set\u{1}tings")
        .into_bytes();
    let at = tb2.iter().position(|&c| c == b'\x01').unwrap();
    tb2[at] = 0xff;
    data.extend(tb2);
    data.extend(TB.trim_end().as_bytes()); // no final newline
    let f = dir.path().join("mixed.log");
    std::fs::write(&f, &data).unwrap();
    let (code, r, _) = analyze_json(&[f.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(sig(&r, "missing-settings-attribute").unwrap()["count"], 3);
    assert_eq!(r["input"]["lines"], 15);
    assert_eq!(r["input"]["records"], 3);
    assert_eq!(r["input"]["bytes"], data.len() as u64);
}

#[test]
fn empty_and_blank_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "").unwrap();
    let blank = dir.path().join("blank.log");
    std::fs::write(&blank, "\n\n\n").unwrap();
    let (code, r, _) = analyze_json(&[empty.to_str().unwrap(), blank.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(r["input"]["lines"], 3);
    assert_eq!(r["input"]["records"], 0);
    assert_eq!(r["input"]["skipped"]["blank"], 3);
    assert_eq!(r["time_range"]["start"], serde_json::Value::Null);
    // Every input is counted under a layout, the empty one too.
    assert_eq!(r["input"]["files"], 2);
    assert_eq!(r["input"]["layouts"]["empty"], 1);
    assert_eq!(r["input"]["layouts"]["text"], 1);
    // The same from an empty stream.
    let out = faultline()
        .args(["analyze", "--format", "json", "-"])
        .write_stdin(&b""[..])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["input"]["files"], 1);
    assert_eq!(r["input"]["layouts"]["empty"], 1);
}

#[test]
fn very_long_line_is_truncated_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = Vec::new();
    data.extend(b"AttributeError: 'Settings' object has no attribute 'HUGE' ");
    data.extend(std::iter::repeat_n(b'x', 3 << 20));
    data.push(b'\n');
    data.extend(TB.as_bytes());
    let f = dir.path().join("long.log");
    std::fs::write(&f, &data).unwrap();
    let (code, r, _) = analyze_json(&[f.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(r["input"]["truncated_lines"], 1);
    let s = sig(&r, "missing-settings-attribute").unwrap();
    assert_eq!(
        s["count"], 2,
        "the head of the long line is still classified"
    );
    // Through stdin (bounded blocks) the result is the same.
    let out = faultline()
        .args(["analyze", "--format", "json", "-"])
        .pipe_stdin(&f)
        .unwrap()
        .output()
        .unwrap();
    let piped: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(piped["signatures"], r["signatures"]);
    assert_eq!(piped["input"], r["input"]);
}

#[test]
fn binary_file_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("core.dump");
    std::fs::write(
        &bin,
        (0..20000u32).map(|i| (i % 7) as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, TB).unwrap();
    let (code, r, stderr) = analyze_json(&[dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("core.dump: binary file, skipped"),
        "{stderr}"
    );
    assert_eq!(sig(&r, "missing-settings-attribute").unwrap()["count"], 1);
}

#[test]
fn unknown_flag_and_no_input_are_usage_errors() {
    faultline()
        .args(["analyze", "--frobnicate"])
        .assert()
        .code(2);
    faultline()
        .args(["analyze", "--threads", "0", "x"])
        .assert()
        .code(2);
}

#[test]
fn zstd_is_read_by_magic_bytes_and_a_truncated_one_reports_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    // Varied records, so the compressed stream spans many blocks.
    let mut body = String::new();
    for i in 0..30000 {
        body.push_str(&TB.replace("AGENTOPS_API_KEY'", &format!("KEY_{}'", i * 7919 % 100_003)));
    }
    let plain = dir.path().join("app.log");
    std::fs::write(&plain, &body).unwrap();
    let z = zstd::encode_all(body.as_bytes(), 3).unwrap();
    let zf = dir.path().join("app.log.3"); // no .zst extension on purpose
    std::fs::write(&zf, &z).unwrap();
    let (code, a, _) = analyze_json(&[zf.to_str().unwrap()]);
    let (_, b, _) = analyze_json(&[plain.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(a["signatures"], b["signatures"]);
    assert_eq!(a["input"], b["input"]);
    let cut = dir.path().join("cut.zst");
    std::fs::write(&cut, &z[..z.len() / 2]).unwrap();
    let (code, r, stderr) = analyze_json(&[cut.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cut.zst: corrupt zstd stream at compressed byte offset"),
        "{stderr}"
    );
    let n = sig(&r, "missing-settings-attribute").unwrap()["count"]
        .as_u64()
        .unwrap();
    assert!(n > 100 && n < 30000, "{n}");
}

/// A stream is checked for binary content on its first block (in the read-ahead thread): a
/// core dump piped in is reported and skipped; a log with a few NUL bytes piped in is read.
#[test]
fn binary_stdin_is_reported_and_a_log_with_a_few_nuls_is_not() {
    let binary: Vec<u8> = (0..20000u32).map(|i| (i % 7) as u8).collect();
    let out = faultline()
        .args(["analyze", "--format", "json", "-"])
        .write_stdin(binary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("-: binary file, skipped"), "{stderr}");

    let mut text = TB.as_bytes().to_vec();
    text.extend_from_slice(b"\0\0 a pre-allocated tail\n");
    let out = faultline()
        .args(["analyze", "--format", "json", "-"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sig(&r, "missing-settings-attribute").unwrap()["count"], 1);
}
