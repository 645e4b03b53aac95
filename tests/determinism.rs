//! The same input gives byte-identical JSON whatever the thread count, chunk size or read path.

use crate::common::*;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

use faultline::Config;

/// A log mixing every sample layout, repeated so it spans many chunks.
fn corpus(dir: &Path) -> PathBuf {
    corpus_of(dir, 20)
}

fn corpus_of(dir: &Path, copies: usize) -> PathBuf {
    let mut data = Vec::new();
    for _ in 0..copies {
        for name in [
            "render-incident.log",
            "kubectl-prefix.log",
            "structlog.jsonl",
            "uvicorn-bare.log",
        ] {
            data.extend(std::fs::read(samples().join(name)).unwrap());
        }
    }
    // Warnings and errors no signature knows, new and surging: the templates section and
    // its ids are compared too.
    data.extend(shifting_log(true).into_bytes());
    let p = dir.join("mixed.log");
    std::fs::write(&p, data).unwrap();
    p
}

/// The JSON report of `path` (mapped, or streamed as stdin is) with these threads, chunk
/// and block sizes.
fn json(
    path: &Path,
    threads: usize,
    chunk: Option<usize>,
    block: Option<usize>,
    stream: bool,
) -> Vec<u8> {
    let mut c = Config::new().unwrap();
    c.threads = threads;
    c.scan.chunk_size = chunk;
    if let Some(b) = block {
        c.scan.block_size = b;
    }
    if stream {
        streamed(path, &c)
    } else {
        mapped(path, &c)
    }
}

#[test]
fn threads_and_chunk_sizes_give_identical_json_cli() {
    let dir = tempfile::tempdir().unwrap();
    let p = corpus(dir.path());
    let run = |args: &[&str]| {
        let out = faultline()
            .arg("analyze")
            .arg("--format")
            .arg("json")
            .args(args)
            .arg(&p)
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    };
    let base = run(&["--threads", "1"]);
    let v: serde_json::Value = serde_json::from_slice(&base).unwrap();
    let changes: Vec<&str> = v["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["change"].as_str().unwrap())
        .collect();
    // The samples come first, days before: the hour's templates are new after them.
    assert_eq!(changes, ["new", "new", "new", "steady"]);
    assert_eq!(run(&["--threads", "2"]), base);
    assert_eq!(run(&["--threads", "2", "--chunk-size", "4K"]), base);
    assert_eq!(run(&["--threads", "8", "--chunk-size", "1000"]), base);
    assert_eq!(run(&["--chunk-size", "64M"]), base);
}

#[test]
fn csv_and_parquet_frames_do_not_depend_on_chunking() {
    let dir = tempfile::tempdir().unwrap();
    let p = corpus(dir.path());
    for format in ["csv", "parquet"] {
        let write = |out: &str, args: &[&str]| {
            let o = dir.path().join(out);
            faultline()
                .args(["analyze", "--format", format, "-o"])
                .arg(&o)
                .args(args)
                .arg(&p)
                .assert()
                .success();
            o
        };
        let a = write(&format!("a-{format}"), &["--threads", "1"]);
        let b = write(
            &format!("b-{format}"),
            &["--threads", "3", "--chunk-size", "1K"],
        );
        for frame in ["events", "requests", "timeline", "endpoints"] {
            let name = format!("{frame}.{format}");
            let (x, y) = (
                std::fs::read(a.join(&name)).unwrap(),
                std::fs::read(b.join(&name)).unwrap(),
            );
            assert!(x == y, "{name} differs");
        }
    }
}

#[test]
fn mapped_and_streamed_reads_agree() {
    let dir = tempfile::tempdir().unwrap();
    let p = corpus(dir.path());
    let [mapped, streamed] = mapped_and_streamed(&p, &Config::new().unwrap());
    assert_eq!(streamed, mapped);
    assert_eq!(json(&p, 1, Some(512), Some(777), true), mapped);
    assert_eq!(json(&p, 3, Some(1), Some(1), true), mapped);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn framing_and_counts_do_not_depend_on_chunking(threads in 1usize..=8, chunk in 1usize..20_000) {
        let dir = tempfile::tempdir().unwrap();
        let p = corpus(dir.path());
        let base = json(&p, 1, Some(64 << 20), None, false);
        prop_assert_eq!(json(&p, threads, Some(chunk), None, false), base);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// Issue 5's property: 1..8 threads and chunks from 4 KiB to 64 MiB (log-uniform), on a
    /// corpus of a few MB, give byte-identical JSON.
    #[test]
    fn threads_1_to_8_and_chunks_4k_to_64m_give_identical_json(
        threads in 1usize..=8,
        exp in 12u32..26,
        frac in 0.0f64..1.0,
    ) {
        let chunk = ((1u64 << exp) as f64 * (1.0 + frac)) as usize;
        let dir = tempfile::tempdir().unwrap();
        let p = corpus_of(dir.path(), 200);
        let base = json(&p, 1, Some(64 << 20), None, false);
        prop_assert_eq!(json(&p, threads, Some(chunk), None, false), base);
    }
}

/// Past the memory budget the quantiles come from sketches: the report is still the same
/// whatever the threads, chunks or read path, its counts are the exact run's, and its
/// quantiles are within the sketch's stated error of the exact ones.
#[test]
fn sketched_reports_do_not_depend_on_chunking_and_stay_within_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = corpus_of(dir.path(), 200);
    let run = |threads: usize, chunk: Option<usize>, memory: Option<u64>, stream: bool| {
        let mut c = Config::new().unwrap();
        c.threads = threads;
        c.scan.chunk_size = chunk;
        c.scan.memory = memory;
        c.scan.block_size = 64 << 10;
        let out = if stream {
            streamed(&p, &c)
        } else {
            mapped(&p, &c)
        };
        serde_json::from_slice::<serde_json::Value>(&out).unwrap()
    };
    // A third of 660 bytes: ten rows, then sketches.
    let small = Some(660);
    let base = run(1, Some(64 << 20), small, false);
    let note = base["notes"].to_string();
    assert!(note.contains("memory budget"), "{note}");
    assert_eq!(run(2, Some(4096), small, false), base);
    assert_eq!(run(3, Some(777), small, true), base);
    let exact = run(2, None, None, false);
    assert!(!exact["notes"].to_string().contains("memory budget"));
    for key in ["signatures", "exceptions", "input"] {
        assert_eq!(base[key], exact[key], "{key}");
    }
    assert_eq!(base["requests"]["count"], exact["requests"]["count"]);
    assert_eq!(
        base["requests"]["errors_5xx"],
        exact["requests"]["errors_5xx"]
    );
    let close =
        |a: &serde_json::Value, b: &serde_json::Value, what: &str| match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => assert!(
                (x - y).abs() <= faultline::aggregate::ALPHA * y + 1e-9,
                "{what}: {x} vs exact {y}"
            ),
            _ => assert_eq!(a, b, "{what}"),
        };
    close(
        &base["requests"]["p99_ms"],
        &exact["requests"]["p99_ms"],
        "p99",
    );
    let (e, x) = (
        base["endpoints"].as_array().unwrap(),
        exact["endpoints"].as_array().unwrap(),
    );
    assert_eq!(e.len(), x.len());
    for (e, x) in e.iter().zip(x) {
        assert_eq!(e["endpoint"], x["endpoint"]);
        assert_eq!(e["count"], x["count"]);
        assert_eq!(e["max_ms"], x["max_ms"]);
        for q in ["p50_ms", "p95_ms", "p99_ms"] {
            close(&e[q], &x[q], q);
        }
    }
    let (t, x) = (
        base["timeline"].as_array().unwrap(),
        exact["timeline"].as_array().unwrap(),
    );
    assert_eq!(t.len(), x.len());
    for (t, x) in t.iter().zip(x) {
        assert_eq!(t["requests"], x["requests"]);
        assert_eq!(t["signatures"], x["signatures"]);
        close(&t["p99_ms"], &x["p99_ms"], "bucket p99");
    }
}

/// A directory of many small files (read into pooled buffers, not mapped; the classification
/// memo carried from file to file on a thread) gives the same JSON whatever the thread count
/// and chunk size.
#[test]
fn many_small_files_give_identical_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(corpus_of(dir.path(), 20)).unwrap();
    let logs = dir.path().join("pods");
    std::fs::create_dir(&logs).unwrap();
    // Cut at line ends into files of 1-40 lines, named so that none is a rotation of another.
    let (mut start, mut n) = (0, 0);
    while start < data.len() {
        let lines = 1 + (n * 7) % 23;
        let mut end = start;
        for _ in 0..lines {
            end = memchr::memchr(b'\n', &data[end..]).map_or(data.len(), |i| end + i + 1);
        }
        std::fs::write(logs.join(format!("pod-{n:04}-x.log")), &data[start..end]).unwrap();
        (start, n) = (end, n + 1);
    }
    assert!(n > 100, "{n} files");
    let run = |args: &[&str]| {
        succeed(
            faultline()
                .args(["analyze", "--format", "json"])
                .args(args)
                .arg(&logs),
        )
        .stdout
    };
    let base = run(&["--threads", "1"]);
    assert_eq!(run(&["--threads", "2"]), base);
    assert_eq!(run(&["--threads", "2", "--chunk-size", "1000"]), base);
    assert_eq!(run(&["--threads", "8"]), base);
    let report: serde_json::Value = serde_json::from_slice(&base).unwrap();
    assert_eq!(report["input"]["files"], n);
    assert!(sig(&report, "websocket-not-accepted").is_some());
}

#[test]
fn templates_and_their_ids_do_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    // Enough copies of the samples that the input is cut into several chunks.
    let p = corpus_of(dir.path(), 400);
    let run = |threads: &str| {
        succeed(
            faultline()
                .args(["templates", "--per-line", "-j", threads])
                .arg(&p),
        )
        .stdout
    };
    let one = run("1");
    assert!(one.len() > 1 << 20, "{} bytes", one.len());
    for threads in ["2", "3", "8"] {
        assert!(run(threads) == one, "-j {threads} differs from -j 1");
    }
}
