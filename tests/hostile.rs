//! Hostile inputs: each has an asserted outcome (message, exit status, counts), and none may
//! panic or end the process with a signal (`analyze_json` checks both).

use crate::common::*;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

const TB: &str = "\
2025-01-10 08:31:52,120 - uvicorn.error - ERROR - Exception in ASGI application
Traceback (most recent call last):
  File \"/srv/app/observability/config.py\", line 73, in init_agentops
    if settings.AGENTOPS_API_KEY:
AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'
";

fn bin() -> String {
    assert_cmd::cargo::cargo_bin("faultline")
        .to_str()
        .unwrap()
        .to_string()
}

/// Runs the binary with `stdin` from a file; returns (exit code, stdout, peak RSS in KiB).
/// The child is reaped by `wait4`, which also gives its resource usage.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str], stdin: &Path) -> (i32, Vec<u8>, i64) {
    let child = Command::new(bin())
        .args(args)
        .stdin(std::fs::File::open(stdin).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.unwrap(), &mut out).unwrap();
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; rusage is written by the kernel.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid);
    assert!(libc::WIFEXITED(status), "ended by a signal: {status}");
    (libc::WEXITSTATUS(status), out, ru.ru_maxrss)
}

#[test]
fn a_64_mib_line_without_newline_is_bounded_and_its_head_classified() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("huge.log");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        f.write_all(b"AttributeError: 'Settings' object has no attribute 'HUGE' ")
            .unwrap();
        let block = vec![b'x'; 1 << 20];
        for _ in 0..64 {
            f.write_all(&block).unwrap();
        }
    }
    let small = d.path().join("small.log");
    std::fs::write(&small, TB).unwrap();
    let (code, _, base_rss) = run_measured(&["analyze", "--format", "json", "-"], &small);
    assert_eq!(code, 0);
    let (code, out, rss) = run_measured(&["analyze", "--format", "json", "-"], &p);
    assert_eq!(code, 0);
    let r: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(r["input"]["lines"], 1);
    assert_eq!(r["input"]["truncated_lines"], 1);
    assert_eq!(r["input"]["bytes"], std::fs::metadata(&p).unwrap().len());
    assert_eq!(
        sig(&r, "missing-settings-attribute").unwrap()["variants"][0]["value"],
        "HUGE"
    );
    // Streamed, the line costs a few blocks and one line limit, not its 64 MiB.
    assert!(
        rss - base_rss < 48 << 10,
        "peak RSS {rss} KiB against {base_rss} KiB for a small input"
    );
    // Mapped, the same report.
    let (code, mapped, _) = analyze_json(&[p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(mapped["signatures"], r["signatures"]);
    assert_eq!(mapped["input"], r["input"]);
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bomb.log.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(TB.as_bytes()).unwrap();
    let line = b"2025-01-10 08:31:53,000 - app - INFO - ok\n".repeat(1000);
    for _ in 0..1000 {
        gz.write_all(&line).unwrap(); // 43 MB decompressed
    }
    let bytes = gz.finish().unwrap();
    assert!(bytes.len() < 1 << 20, "a bomb: {} bytes", bytes.len());
    std::fs::write(&p, bytes).unwrap();
    let (code, r, stderr) = analyze_json(&["--max-decompressed", "16M", p.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("bomb.log.gz: decompressed size limit of 16777216 bytes reached"),
        "{stderr}"
    );
    // What came before the limit is counted; the read stopped within a block of it.
    assert_eq!(sig(&r, "missing-settings-attribute").unwrap()["count"], 1);
    let read = r["input"]["bytes"].as_u64().unwrap();
    assert!(read > 16 << 20 && read < 26 << 20, "{read}");
    // Without the limit it is read whole.
    let (code, r, _) = analyze_json(&[p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(r["input"]["lines"], 1_000_005);
}

/// chmod 000 stops anyone but root: as root the file is read, otherwise it is reported.
#[test]
fn unreadable_file_and_directory() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("secret.log");
    std::fs::write(&file, TB).unwrap();
    let dir = d.path().join("locked");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("inner.log"), TB).unwrap();
    let good = d.path().join("good.log");
    std::fs::write(&good, TB).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).unwrap();
    let root = std::fs::read(&file).is_ok();
    let (code, r, stderr) = analyze_json(&[d.path().to_str().unwrap()]);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let n = sig(&r, "missing-settings-attribute").unwrap()["count"]
        .as_u64()
        .unwrap();
    if root {
        assert_eq!((code, n), (0, 3), "{stderr}");
    } else {
        assert_eq!((code, n), (1, 1), "{stderr}");
        assert!(stderr.contains("secret.log: Permission denied"), "{stderr}");
        assert!(stderr.contains("locked"), "{stderr}");
        assert_eq!(r["errors"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn a_symlink_loop_is_reported_and_the_rest_read() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("app.log"), TB).unwrap();
    std::os::unix::fs::symlink(d.path(), d.path().join("loop")).unwrap();
    let (code, r, stderr) = analyze_json(&[d.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("loop"), "{stderr}");
    assert_eq!(sig(&r, "missing-settings-attribute").unwrap()["count"], 1);
}

#[test]
fn a_fifo_is_read_as_a_stream() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("pipe");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let f2 = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::write(f2, TB.repeat(3)).unwrap());
    let (code, r, _) = analyze_json(&[fifo.to_str().unwrap()]);
    writer.join().unwrap();
    assert_eq!(code, 0);
    assert_eq!(sig(&r, "missing-settings-attribute").unwrap()["count"], 3);
    assert_eq!(r["input"]["lines"], 15);
}

#[test]
fn a_directory_of_ten_thousand_small_files() {
    let d = tempfile::tempdir().unwrap();
    for i in 0..10_000 {
        std::fs::write(d.path().join(format!("pod-{i:05}.log")), TB).unwrap();
    }
    let (code, r, _) = analyze_json(&[d.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(r["input"]["files"], 10_000);
    assert_eq!(r["input"]["lines"], 50_000);
    assert_eq!(
        sig(&r, "missing-settings-attribute").unwrap()["count"],
        10_000
    );
}

/// A file truncated while faultline has it mapped: no SIGBUS, and either a complete report
/// (the truncation came before the open or after the read) or an error naming the file.
#[test]
fn a_file_truncated_while_mapped_does_not_crash_the_process() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("live.log");
    let mut data = Vec::new();
    let line = b"2025-01-10 08:31:53,000 - app - INFO - request method=GET path=/api/v1/health status=200 duration_ms=12.5\n";
    while data.len() < 96 << 20 {
        data.extend_from_slice(TB.as_bytes());
        for _ in 0..50 {
            data.extend_from_slice(line);
        }
    }
    let mut hit = 0;
    for delay_ms in [0u64, 30, 90, 200] {
        std::fs::write(&p, &data).unwrap();
        let child = Command::new(bin())
            .args(["analyze", "--format", "json", "--threads", "1"])
            .arg(&p)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(4096)
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), None, "killed by a signal: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        match out.status.code() {
            Some(0) => {}
            Some(1) => {
                assert!(
                    stderr.contains("live.log: truncated while it was read"),
                    "{stderr}"
                );
                hit += 1;
            }
            c => panic!("exit {c:?}: {stderr}"),
        }
        // The report is still a report.
        let _: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    }
    assert!(hit > 0, "no run was caught mid-read: the test did not test");
}

/// The `input` section balances: bytes are the files' sizes (decompressed), lines are what
/// `wc -l` counts (plus one for a missing final newline), and every line is in a record, or
/// skipped with a reason.
#[test]
fn the_input_section_balances() {
    let d = tempfile::tempdir().unwrap();
    let mut expect_bytes = 0u64;
    let mut expect_lines = 0u64;
    let mut put = |name: &str, data: &[u8], decompressed: &[u8]| {
        std::fs::write(d.path().join(name), data).unwrap();
        expect_bytes += decompressed.len() as u64;
        expect_lines += decompressed.iter().filter(|&&c| c == b'\n').count() as u64
            + u64::from(decompressed.last().is_some_and(|&c| c != b'\n'));
    };
    let crlf = TB.replace('\n', "\r\n");
    put("a-crlf.log", crlf.as_bytes(), crlf.as_bytes());
    let blanks = format!("\n\n{TB}\n\n   \n{}", TB.trim_end());
    put("b-blanks.log", blanks.as_bytes(), blanks.as_bytes());
    let late = TB.replace("2025-01-10 08:31", "2025-01-11 08:31");
    put("c-late.log", late.as_bytes(), late.as_bytes());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(TB.as_bytes()).unwrap();
    put("d.log.gz", &gz.finish().unwrap(), TB.as_bytes());
    let cri = "2025-01-10T08:31:52.1Z stderr P Traceback (most recent \n\
               2025-01-10T08:31:52.1Z stderr F call last):\n\
               2025-01-10T08:31:52.1Z stderr F   File \"/app/x.py\", line 1, in f\n\
               2025-01-10T08:31:52.1Z stderr F KeyError: 'x'\n\
               2025-01-10T08:31:52.2Z stdout F\n";
    put("e-cri.log", cri.as_bytes(), cri.as_bytes());
    let (code, r, _) = analyze_json(&["--until", "2025-01-11", d.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    let i = &r["input"];
    assert_eq!(i["bytes"], expect_bytes);
    assert_eq!(i["lines"], expect_lines);
    let skipped: u64 = i["skipped"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(i["record_lines"].as_u64().unwrap() + skipped, expect_lines);
    assert_eq!(i["skipped"]["outside_window"], 5);
    assert!(i["skipped"]["blank"].as_u64() >= Some(3), "{i}");
    assert_eq!(i["joined_lines"], 1);
}
