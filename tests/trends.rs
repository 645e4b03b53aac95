//! Latency and trends: request lines, endpoints, timeline, incidents, frames, Markdown.

use crate::common::*;
use std::fmt::Write as _;

/// A deterministic log: `healthy` minutes at ~13 ms, `incident` minutes at ~7 s with 5xx and
/// tracebacks, `fixed` minutes at ~13 ms again; 20 requests a minute on 3 endpoints.
fn story(healthy: u32, incident: u32, fixed: u32) -> String {
    let mut s = String::new();
    let mut x: u64 = 7;
    let mut rnd = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) as f64 / (1u64 << 31) as f64
    };
    for m in 0..healthy + incident + fixed {
        let bad = m >= healthy && m < healthy + incident;
        for k in 0..20u32 {
            let (h, mi) = (6 + m / 60, m % 60);
            let sec = k * 3;
            let ts = format!("2025-01-10 {h:02}:{mi:02}:{sec:02},{:03}", k * 7);
            let (path, method) = match k % 3 {
                0 => ("/api/v1/health".to_string(), "GET"),
                1 => (format!("/api/v1/trips/{}", 1000 + k), "GET"),
                _ => ("/api/v1/pam/chat?session=abc".to_string(), "POST"),
            };
            let ms = if bad {
                6000.0 + 2000.0 * rnd()
            } else {
                10.0 + 6.0 * rnd()
            };
            let status = if bad && k % 4 == 0 { 500 } else { 200 };
            let _ = writeln!(s, "{ts} - app.middleware.timing - INFO - request method={method} path={path} status={status} duration_ms={ms:.2} client=10.0.0.{k}");
            if bad && k % 5 == 0 {
                let _ = writeln!(s, "{ts} - uvicorn.error - ERROR - Exception in ASGI application\nTraceback (most recent call last):\n  File \"/srv/app/config.py\", line 73, in init_agentops\n    if settings.AGENTOPS_API_KEY:\nAttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'");
            }
        }
    }
    s
}

fn write_story(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("story.log");
    std::fs::write(&p, story(60, 20, 30)).unwrap();
    p
}

#[test]
fn endpoints_and_minutes_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_story(dir.path());
    let (code, r, _) = analyze_json(&[p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(r["requests"]["count"], 110 * 20);
    let eps = r["endpoints"].as_array().unwrap();
    let names: Vec<&str> = eps
        .iter()
        .map(|e| e["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "GET /api/v1/health",
            "GET /api/v1/trips/{id}",
            "POST /api/v1/pam/chat"
        ]
    );
    // health: k = 0, 3, ..., 18 -> 7 a minute; 500 when k % 4 == 0 during the incident (k = 0, 12)
    assert_eq!(eps[0]["count"], 7 * 110);
    assert_eq!(eps[0]["errors_5xx"], 2 * 20);
    let tl = r["timeline"].as_array().unwrap();
    assert_eq!(tl.len(), 110);
    assert_eq!(tl[0]["bucket"], "2025-01-10T06:00:00.000Z");
    assert_eq!(tl[0]["requests"], 20);
    assert_eq!(tl[60]["signatures"]["missing-settings-attribute"], 4);
    assert!(tl[60]["p99_ms"].as_f64().unwrap() > 5000.0);
    assert!(tl[59]["p99_ms"].as_f64().unwrap() < 20.0);
}

#[test]
fn one_incident_with_start_end_and_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_story(dir.path());
    let (_, r, _) = analyze_json(&[p.to_str().unwrap()]);
    let inc = r["incidents"].as_array().unwrap();
    assert_eq!(inc.len(), 1, "{inc:#?}");
    assert_eq!(inc[0]["start"], "2025-01-10T07:00:00.000Z");
    assert_eq!(inc[0]["end"], "2025-01-10T07:20:00.000Z");
    assert_eq!(inc[0]["signatures"]["missing-settings-attribute"], 80);
    let ratio = inc[0]["latency_ratio"].as_f64().unwrap();
    assert!(ratio > 300.0 && ratio < 1000.0, "{ratio}");
    assert!(inc[0]["after_p99_ms"].as_f64().unwrap() < 20.0);
}

#[test]
fn bucket_flag_changes_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_story(dir.path());
    let (_, r, _) = analyze_json(&["--bucket", "10m", p.to_str().unwrap()]);
    let tl = r["timeline"].as_array().unwrap();
    assert_eq!(tl.len(), 11);
    assert_eq!(tl[1]["bucket"], "2025-01-10T06:10:00.000Z");
    assert_eq!(tl[1]["requests"], 200);
    assert_eq!(r["requests"]["bucket_seconds"], 600);
}

#[test]
fn csv_and_parquet_frames_read_back_with_the_same_rows() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let p = write_story(dir.path());
    let (_, r, _) = analyze_json(&[p.to_str().unwrap()]);
    let events: u64 = r["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .sum();
    for fmt in ["csv", "parquet"] {
        let out = dir.path().join(fmt);
        faultline()
            .args([
                "analyze",
                "--format",
                fmt,
                "--output",
                out.to_str().unwrap(),
                p.to_str().unwrap(),
            ])
            .assert()
            .success();
        let read = |name: &str| -> DataFrame {
            let path = out.join(format!("{name}.{fmt}"));
            if fmt == "csv" {
                CsvReadOptions::default()
                    .with_has_header(true)
                    .try_into_reader_with_file_path(Some(path))
                    .unwrap()
                    .finish()
                    .unwrap()
            } else {
                ParquetReader::new(std::fs::File::open(path).unwrap())
                    .finish()
                    .unwrap()
            }
        };
        assert_eq!(
            read("requests").height() as u64,
            r["requests"]["count"].as_u64().unwrap()
        );
        assert_eq!(read("events").height() as u64, events);
        assert_eq!(
            read("timeline").height(),
            r["timeline"].as_array().unwrap().len()
        );
        let ep = read("endpoints");
        assert_eq!(ep.height(), 3);
        assert_eq!(
            ep.column("count")
                .unwrap()
                .cast(&DataType::UInt64)
                .unwrap()
                .u64()
                .unwrap()
                .get(0),
            Some(770)
        );
    }
}

#[test]
fn csv_without_output_dir_is_a_usage_error() {
    faultline()
        .args(["analyze", "--format", "csv", samples().to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--output DIR"));
}

#[test]
fn markdown_report_names_signatures_fixes_and_phases() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_story(dir.path());
    let samples_dir = samples();
    let out = faultline()
        .args([
            "analyze",
            "--format",
            "markdown",
            p.to_str().unwrap(),
            samples_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let md = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "# Post-incident report",
        "## Summary",
        "## Timeline",
        "## Endpoints",
        "## Latency before, during and after",
        "`missing-settings-attribute`",
        "`websocket-not-accepted`",
        "`url-not-string`",
        "`datetime-float-mismatch`",
        "getattr(settings, \"AGENTOPS_API_KEY\", None)",
        "str(settings.SUPABASE_URL).rstrip(\"/\")",
        "WebSocketState.CONNECTED",
        "time.monotonic() - start",
        "incident starts",
    ] {
        assert!(md.contains(needle), "missing {needle:?}");
    }
    // Every table row has as many cells as its header.
    let mut cols = 0;
    for line in md.lines() {
        if line.starts_with("| ") {
            let n = line.matches(" | ").count();
            if cols == 0 {
                cols = n;
            }
            assert_eq!(n, cols, "{line}");
        } else {
            cols = 0;
        }
    }
}

#[test]
fn logs_without_requests_or_times_still_report_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bare.log");
    std::fs::write(&p, "AttributeError: 'Settings' object has no attribute 'X'\nAttributeError: 'Settings' object has no attribute 'X'\n").unwrap();
    let (code, r, _) = analyze_json(&[p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(sig(&r, "missing-settings-attribute").unwrap()["count"], 2);
    assert_eq!(r["endpoints"].as_array().unwrap().len(), 0);
    assert_eq!(r["incidents"].as_array().unwrap().len(), 0);
    let notes: Vec<&str> = r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes.iter().any(|n| n.starts_with("no request lines")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.starts_with("no timestamps")),
        "{notes:?}"
    );
    faultline()
        .args(["analyze", "--format", "markdown", p.to_str().unwrap()])
        .assert()
        .success();
}

#[test]
fn samples_requests_in_every_layout() {
    let (_, r, _) = analyze_json(&[samples().to_str().unwrap()]);
    let ep = |name: &str| {
        r["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["endpoint"] == name)
            .cloned()
    };
    // logfmt (render-incident + archive), JSON (structlog), ingress-nginx (kubectl), uvicorn.
    let health = ep("GET /api/v1/health").unwrap();
    assert_eq!(health["count"], 7, "{health}");
    assert_eq!(health["errors_5xx"], 1);
    assert_eq!(health["max_ms"], 15004.0);
    assert_eq!(ep("GET /api/v1/trips/{id}").unwrap()["count"], 3);
    assert_eq!(ep("POST /api/v1/pam/chat").unwrap()["errors_5xx"], 1);
    assert_eq!(
        r["requests"]["missing_latency"], 3,
        "uvicorn access lines carry no latency"
    );
}

#[test]
fn no_requests_flag_skips_request_lines() {
    let (_, r, _) = analyze_json(&["--no-requests", samples().to_str().unwrap()]);
    assert_eq!(r["requests"]["count"], 0);
    assert_eq!(sig(&r, "websocket-not-accepted").unwrap()["count"], 9);
}

#[test]
fn since_until_keep_only_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_story(dir.path());
    let (_, all, _) = analyze_json(&[p.to_str().unwrap()]);
    let (code, r, _) = analyze_json(&[
        "--since",
        "2025-01-10T07:00:00Z",
        "--until",
        "2025-01-10 07:10:00",
        p.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let tl = r["timeline"].as_array().unwrap();
    assert_eq!(tl.len(), 10);
    assert_eq!(tl[0], all["timeline"][60]);
    assert_eq!(r["requests"]["count"], 200);
    assert_eq!(sig(&r, "missing-settings-attribute").unwrap()["count"], 40);
    assert_eq!(r["time_range"]["start"], "2025-01-10T07:00:00.000Z");
    // Every line is accounted for: in a record inside the window, or skipped outside it.
    let outside = r["input"]["skipped"]["outside_window"].as_u64().unwrap();
    assert_eq!(r["input"]["lines"], all["input"]["lines"]);
    assert_eq!(
        outside,
        all["input"]["lines"].as_u64().unwrap() - (200 + 40 * 5)
    );
    assert_eq!(
        r["input"]["records_outside_window"],
        all["input"]["records"].as_u64().unwrap() - 240
    );
    // A zone-less bound is read in --tz.
    // Log times without a zone are in --tz too: local 07:00 is 06:00 UTC.
    let (_, z, _) = analyze_json(&[
        "--tz",
        "Europe/Paris",
        "--since",
        "2025-01-10 07:00:00",
        "--until",
        "2025-01-10T06:10:00Z",
        p.to_str().unwrap(),
    ]);
    assert_eq!(z["time_range"]["start"], "2025-01-10T06:00:00.000Z");
    assert_eq!(z["requests"]["count"], 200);
    assert_eq!(z["timeline"][0]["p99_ms"], all["timeline"][60]["p99_ms"]);
}

/// The same requests in time order (one file: time buckets are runs, windows are slices) and
/// out of order (the later half as the first input: hashed buckets, filtered windows) give the
/// same timeline, endpoints and incident.
#[test]
fn ordered_and_unordered_requests_aggregate_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let text = story(60, 20, 30);
    let lines: Vec<&str> = text.lines().collect();
    // Cut before a header line so no record is split between the files.
    let mut cut = lines.len() / 2;
    while !lines[cut].starts_with("2025-") {
        cut += 1;
    }
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    std::fs::write(&a, lines[cut..].join("\n") + "\n").unwrap();
    std::fs::write(&b, lines[..cut].join("\n") + "\n").unwrap();
    let whole = write_story(dir.path());
    let (_, ordered, _) = analyze_json(&[whole.to_str().unwrap()]);
    let (_, unordered, _) = analyze_json(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(ordered["incidents"]
        .as_array()
        .is_some_and(|i| i.len() == 1));
    for key in ["timeline", "endpoints", "incidents", "requests"] {
        assert_eq!(ordered[key], unordered[key], "{key}");
    }
}

/// Buckets of ordered times are found by comparing with the next boundary: a request on a
/// boundary, gaps of one bucket and of hours, and a 30 s bucket give the same timeline as the
/// same requests out of order (hashed buckets, computed by division).
#[test]
fn bucket_boundaries_and_gaps_ordered_and_unordered() {
    let dir = tempfile::tempdir().unwrap();
    let times = [
        "2025-01-10 06:00:00,000",
        "2025-01-10 06:00:29,999",
        "2025-01-10 06:00:30,000",
        "2025-01-10 06:01:30,000",
        "2025-01-10 09:17:00,001",
        "2025-01-10 09:17:29,999",
        "2025-01-11 00:00:00,000",
    ];
    let line = |t: &str, i: usize| {
        format!(
            "{t} - app.middleware.timing - INFO - request method=GET path=/api/v1/health status=200 duration_ms={}.5\n",
            10 + i
        )
    };
    let ordered: String = times.iter().enumerate().map(|(i, t)| line(t, i)).collect();
    let reversed: String = times
        .iter()
        .enumerate()
        .rev()
        .map(|(i, t)| line(t, i))
        .collect();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    std::fs::write(&a, ordered).unwrap();
    std::fs::write(&b, reversed).unwrap();
    let (_, x, _) = analyze_json(&["--bucket", "30s", a.to_str().unwrap()]);
    let (_, y, _) = analyze_json(&["--bucket", "30s", b.to_str().unwrap()]);
    assert_eq!(x["timeline"], y["timeline"]);
    let starts: Vec<&str> = x["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2025-01-10T06:00:00.000Z",
            "2025-01-10T06:00:30.000Z",
            "2025-01-10T06:01:30.000Z",
            "2025-01-10T09:17:00.000Z",
            "2025-01-11T00:00:00.000Z"
        ]
    );
    assert_eq!(x["timeline"][0]["requests"], 2);
    assert_eq!(x["timeline"][3]["requests"], 2);
}
