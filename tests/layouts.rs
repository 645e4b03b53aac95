//! Container and platform layouts, archives and rotated sets: every wrapping of a log must give
//! the same findings as the plain text it wraps.

use crate::common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

use faultline::{analyze, Config, InputSpec};

/// The incident log every wrapper wraps: Python tracebacks (chained ones too), bare
/// exceptions, request lines with latency.
fn incident_log() -> String {
    let mut s = String::new();
    for name in ["render-incident.log", "uvicorn-bare.log"] {
        s.push_str(&std::fs::read_to_string(samples().join(name)).unwrap());
    }
    s
}

/// Request lines go to stdout, everything else to stderr, as uvicorn and Python logging do.
fn stream_of(line: &str) -> &'static str {
    if line.contains("request method=") || line.contains("\" 200") {
        "stdout"
    } else {
        "stderr"
    }
}

fn time_of(i: usize) -> String {
    format!("2025-01-10T08:{:02}:{:02}.{:09}Z", i / 60 % 60, i % 60, i)
}

/// Docker json-file: one object per line, lines longer than 60 bytes cut into pieces without
/// a newline (as Docker cuts at 16 KiB), every third line ending in CRLF.
fn docker_json_file(log: &str) -> String {
    let mut out = String::new();
    for (i, line) in log.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let pieces: Vec<String> = chars.chunks(60).map(|c| c.iter().collect()).collect();
        let pieces = if pieces.is_empty() {
            vec![String::new()]
        } else {
            pieces
        };
        for (k, p) in pieces.iter().enumerate() {
            let log = if k + 1 == pieces.len() {
                format!("{p}\n")
            } else {
                p.clone()
            };
            let obj = json!({"log": log, "stream": stream_of(line), "time": time_of(i)});
            out.push_str(&obj.to_string());
            out.push_str(if i % 3 == 0 { "\r\n" } else { "\n" });
        }
    }
    out
}

/// CRI: `TIME STREAM P|F piece`, lines cut into 25-byte `P` pieces closed by an `F`.
fn cri_file(log: &str) -> String {
    let mut out = String::new();
    for (i, line) in log.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let pieces: Vec<String> = chars.chunks(25).map(|c| c.iter().collect()).collect();
        let n = pieces.len().max(1);
        for k in 0..n {
            let p = pieces.get(k).map_or("", String::as_str);
            let tag = if k + 1 == n { "F" } else { "P" };
            out.push_str(&format!("{} {} {tag} {p}\n", time_of(i), stream_of(line)));
        }
    }
    out
}

/// What must not change with the wrapping: signature counts, variants, locations, other
/// exceptions, request counts per endpoint.
fn findings(r: &Value) -> Value {
    let sigs: Vec<Value> = r["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            json!({
                "id": s["id"], "count": s["count"], "variants": s["variants"],
                "locations": s["locations"], "types": s["exception_types"],
            })
        })
        .collect();
    let endpoints: Vec<Value> = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json!({"endpoint": e["endpoint"], "count": e["count"], "5xx": e["errors_5xx"]}))
        .collect();
    json!({
        "signatures": sigs,
        "exceptions": r["exceptions"].as_array().unwrap().iter()
            .map(|e| json!([e["type"], e["message"], e["count"]])).collect::<Vec<_>>(),
        "requests": r["requests"]["count"],
        "endpoints": endpoints,
    })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(data).unwrap();
    bz.finish().unwrap()
}

#[test]
fn every_wrapping_of_one_log_gives_the_same_findings() {
    let d = tempfile::tempdir().unwrap();
    let log = incident_log();
    let w = |name: &str, data: &[u8]| {
        let p = d.path().join(name);
        std::fs::write(&p, data).unwrap();
        p.to_str().unwrap().to_string()
    };
    let plain = w("plain.log", log.as_bytes());
    let (code, base, _) = analyze_json(&[&plain]);
    assert_eq!(code, 0);
    let want = findings(&base);
    // The log is worth comparing: tracebacks with locations, and requests.
    assert!(sig(&base, "websocket-not-accepted").unwrap()["count"].as_u64() >= Some(3));
    assert!(base["requests"]["count"].as_u64() > Some(5));
    assert!(!sig(&base, "datetime-float-mismatch").unwrap()["locations"]
        .as_array()
        .unwrap()
        .is_empty());

    let docker = docker_json_file(&log);
    let cri = cri_file(&log);
    assert!(cri.contains(" P "), "the CRI wrapper must split lines");
    let inputs = [
        ("gzip", w("plain.log.gz", &gzip(log.as_bytes())), "text"),
        (
            "zstd",
            w("plain.zst", &zstd::encode_all(log.as_bytes(), 3).unwrap()),
            "text",
        ),
        ("bzip2", w("plain.bz2", &bzip2(log.as_bytes())), "text"),
        (
            "docker",
            w("container-json.log", docker.as_bytes()),
            "docker",
        ),
        ("cri", w("0.log", cri.as_bytes()), "cri"),
        ("cri.gz", w("1.log.gz", &gzip(cri.as_bytes())), "cri"),
    ];
    for (what, path, layout) in &inputs {
        for chunk in ["1M", "700"] {
            let (code, r, err) = analyze_json(&["--chunk-size", chunk, path]);
            assert_eq!(code, 0, "{what}: {err}");
            assert_eq!(findings(&r), want, "{what}, chunk {chunk}");
            assert_eq!(r["input"]["layouts"][layout], 1, "{what}");
        }
    }
    // stdin, plain and wrapped.
    for (what, data) in [("stdin", log.as_bytes()), ("stdin cri", cri.as_bytes())] {
        let out = faultline()
            .args(["analyze", "--format", "json", "-"])
            .write_stdin(data)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{what}");
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(findings(&r), want, "{what}");
    }
    // Physical lines are counted, pieces joined are reported.
    let (_, r, _) = analyze_json(&[&inputs[4].1]);
    assert_eq!(r["input"]["lines"], cri.lines().count());
    assert_eq!(
        r["input"]["joined_lines"].as_u64().unwrap(),
        (cri.lines().count() - log.lines().count()) as u64
    );
    assert_eq!(r["input"]["foreign_lines"], 0);
}

/// The library on a wrapped file, with blocks so small that partial lines and tracebacks
/// cross every block boundary: the same JSON for every block size and thread count.
#[test]
fn wrapped_layouts_do_not_depend_on_block_size() {
    let d = tempfile::tempdir().unwrap();
    let log = incident_log();
    for (name, data) in [
        ("docker.log", docker_json_file(&log)),
        ("cri.log", cri_file(&log)),
    ] {
        let p = d.path().join(name);
        std::fs::write(&p, data).unwrap();
        let run = |block: usize, threads: usize| {
            let mut c = Config::new().unwrap();
            c.scan.block_size = block;
            c.threads = threads;
            let out = analyze(&[InputSpec::Path(p.clone())], &c).unwrap();
            serde_json::to_string(&out.report).unwrap()
        };
        let want = run(8 << 20, 2);
        for (block, threads) in [(1, 1), (97, 2), (4096, 3)] {
            assert_eq!(run(block, threads), want, "{name} block {block}");
        }
    }
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn docker_streams_are_framed_separately() {
    // A traceback on stderr interleaved with access lines on stdout.
    let lines = [
        ("stderr", "ERROR:    Exception in ASGI application\n"),
        (
            "stdout",
            "INFO:     10.0.0.1:5 - \"GET /api/v1/health HTTP/1.1\" 200 OK\n",
        ),
        ("stderr", "Traceback (most recent call last):\n"),
        (
            "stdout",
            "INFO:     10.0.0.1:6 - \"GET /api/v1/health HTTP/1.1\" 200 OK\n",
        ),
        (
            "stderr",
            "  File \"/app/app/api/v1/voice.py\", line 121, in synthesize\n",
        ),
        ("stderr", "    base = settings.TTS_URL.rstrip('/')\n"),
        (
            "stderr",
            "AttributeError: 'AnyHttpUrl' object has no attribute 'rstrip'\n",
        ),
    ];
    let mut data = String::new();
    for (i, (stream, log)) in lines.iter().enumerate() {
        let o = json!({"log": log, "stream": stream, "time": time_of(i)});
        data.push_str(&format!("{o}\n"));
    }
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "abc-json.log", data.as_bytes());
    let (code, r, _) = analyze_json(&["--by", "source", &p]);
    assert_eq!(code, 0);
    let s = sig(&r, "url-not-string").unwrap();
    assert_eq!(s["count"], 1);
    assert_eq!(s["locations"][0]["line"], 121);
    assert_eq!(s["first_seen"], "2025-01-10T08:00:00.000Z");
    assert_eq!(r["input"]["records"], 3);
    assert_eq!(r["by_source"][0]["source"], format!("{p} (stderr)"));
}

#[test]
fn compose_services_are_streams_and_sources() {
    let data = "\
Attaching to backend_app, worker_1
backend_app    | 2025-01-10 08:31:50,744 - uvicorn.error - ERROR - Exception in ASGI application
worker_1       | 2025-01-10 08:31:50,800 - worker - INFO - tick
backend_app    | Traceback (most recent call last):
worker_1       | 2025-01-10 08:31:51,002 - worker - ERROR - Task exception was never retrieved
backend_app    |   File \"/app/app/observability/config.py\", line 41, in is_enabled
worker_1       | Traceback (most recent call last):
backend_app    |     return bool(settings.AGENTOPS_API_KEY)
worker_1       |   File \"/app/app/workers/scheduler.py\", line 31, in refresh
backend_app    | AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'
worker_1       |     delta = datetime.utcnow() - last_run
worker_1       | TypeError: unsupported operand type(s) for -: 'datetime.datetime' and 'float'
backend_app exited with code 1
";
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "compose.log", data.as_bytes());
    let (code, r, _) = analyze_json(&["--by", "source", &p]);
    assert_eq!(code, 0);
    assert_eq!(r["input"]["layouts"]["compose"], 1);
    assert_eq!(r["input"]["foreign_lines"], 2);
    let ms = sig(&r, "missing-settings-attribute").unwrap();
    assert_eq!(ms["count"], 1);
    assert_eq!(ms["locations"][0]["line"], 41);
    assert_eq!(ms["first_seen"], "2025-01-10T08:31:50.744Z");
    let dt = sig(&r, "datetime-float-mismatch").unwrap();
    assert_eq!(dt["locations"][0]["line"], 31);
    let by: Vec<(&str, &Value)> = r["by_source"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["source"].as_str().unwrap(), &s["signatures"]))
        .collect();
    assert!(by
        .iter()
        .any(|(s, sigs)| *s == "backend_app" && sigs["missing-settings-attribute"] == 1));
    assert!(by
        .iter()
        .any(|(s, sigs)| *s == "worker_1" && sigs["datetime-float-mismatch"] == 1));
    // The table shows the split too.
    faultline()
        .args(["analyze", "--by", "source", &p])
        .assert()
        .success()
        .stdout(predicates::str::contains("by source").and(predicates::str::contains("worker_1")));
}

use predicates::prelude::PredicateBooleanExt;

#[test]
fn journald_lines_take_the_year_from_the_flag_or_the_file() {
    let data = "\
-- Logs begin at Fri 2025-01-10 08:00:00 UTC, end at Fri 2025-01-10 09:00:00 UTC. --
Jan 10 08:31:50 web-1 uvicorn[3129704]: ERROR:    Exception in ASGI application
Jan 10 08:31:50 web-1 uvicorn[3129704]: Traceback (most recent call last):
Jan 10 08:31:50 web-1 systemd[1]: Started Session 12 of user root.
Jan 10 08:31:50 web-1 uvicorn[3129704]:   File \"/srv/app/api/ws.py\", line 88, in chat
Jan 10 08:31:50 web-1 uvicorn[3129704]:     await websocket.send_json(msg)
Jan 10 08:31:50 web-1 uvicorn[3129704]: RuntimeError: WebSocket is not connected. Need to call \"accept\" first.
";
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "journal.txt", data.as_bytes());
    let (code, r, _) = analyze_json(&["--year", "2024", &p]);
    assert_eq!(code, 0);
    assert_eq!(r["input"]["layouts"]["journald"], 1);
    let ws = sig(&r, "websocket-not-accepted").unwrap();
    assert_eq!(ws["count"], 1);
    assert_eq!(ws["first_seen"], "2024-01-10T08:31:50.000Z");
    assert_eq!(ws["locations"][0]["line"], 88);
    // Without --year, the file's modification year (written just now).
    let (_, r, _) = analyze_json(&[&p]);
    let year = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .year();
    let first = sig(&r, "websocket-not-accepted").unwrap()["first_seen"]
        .as_str()
        .unwrap()
        .to_string();
    // January lines in a file written in a later month belong to this year.
    assert!(first.starts_with(&format!("{year}-01-10")), "{first}");
    // --tz applies to journald's zone-less times.
    let (_, r, _) = analyze_json(&["--year", "2024", "--tz", "Europe/Paris", &p]);
    assert_eq!(
        sig(&r, "websocket-not-accepted").unwrap()["first_seen"],
        "2024-01-10T07:31:50.000Z"
    );
}

#[test]
fn input_format_forces_a_layout() {
    // Mostly lines without the compose prefix: not detected, but forced it is read.
    let data = "\
starting
still starting
api  | Traceback (most recent call last):
db   | ready
api  |   File \"/app/x.py\", line 3, in f
api  | AttributeError: 'pydantic_core._pydantic_core.Url' object has no attribute 'rstrip'
done
";
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "mixed.log", data.as_bytes());
    let (_, r, _) = analyze_json(&[&p]);
    assert_eq!(r["input"]["layouts"]["text"], 1);
    let (code, r, _) = analyze_json(&["--input-format", "compose", &p]);
    assert_eq!(code, 0);
    assert_eq!(r["input"]["layouts"]["compose"], 1);
    let url = sig(&r, "url-not-string").unwrap();
    assert_eq!(url["locations"][0]["line"], 3);
    faultline()
        .args(["analyze", "--input-format", "xml", &p])
        .assert()
        .code(2);
}

#[test]
fn render_platform_lines_are_records_of_their_own() {
    let data = "\
2025-08-09T08:50:20.1Z 2025-08-09 08:50:20,100 - app - ERROR - Exception in ASGI application
2025-08-09T08:50:20.1Z Traceback (most recent call last):
2025-08-09T08:50:20.1Z   File \"/opt/render/project/src/app/main.py\", line 9, in f
2025-08-09T08:50:20.1Z TypeError: unsupported operand type(s) for -: 'datetime.datetime' and 'float'
2025-08-09T08:50:25.033173658Z ==> Application exited with code 1
2025-08-09T08:50:26.5Z ==> Deploy failed
";
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "render.log", data.as_bytes());
    let (_, r, _) = analyze_json(&[&p]);
    assert_eq!(r["input"]["records"], 3);
    let dt = sig(&r, "datetime-float-mismatch").unwrap();
    assert_eq!(dt["count"], 1);
    assert_eq!(dt["locations"][0]["line"], 9);
    assert_eq!(r["time_range"]["end"], "2025-08-09T08:50:26.500Z");
}

#[test]
fn a_rotated_directory_is_read_oldest_first_as_one_stream() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("archive");
    std::fs::create_dir(&dir).unwrap();
    // app.log.2.gz is the oldest, app.log the live file. The traceback that app.log.1 ends
    // with is finished at the top of app.log: read in time order it is one record.
    let oldest = "\
2025-01-10 06:00:00,000 - app - ERROR - boom
Traceback (most recent call last):
  File \"/app/app/config.py\", line 7, in load
AttributeError: 'Settings' object has no attribute 'SENTRY_DSN'
";
    let middle = "\
2025-01-10 07:00:00,000 - app - ERROR - Exception in ASGI application
Traceback (most recent call last):
  File \"/app/app/api/v1/voice.py\", line 121, in synthesize
";
    let live = "    base = settings.TTS_URL.rstrip('/')
AttributeError: 'AnyHttpUrl' object has no attribute 'rstrip'
2025-01-10 08:00:00,000 - app - INFO - recovered
";
    std::fs::write(dir.join("app.log.2.gz"), gzip(oldest.as_bytes())).unwrap();
    std::fs::write(dir.join("app.log.1"), middle).unwrap();
    std::fs::write(dir.join("app.log"), live).unwrap();
    std::fs::write(
        dir.join("other.log"),
        "2025-01-10 09:00:00,000 - x - INFO - hi\n",
    )
    .unwrap();
    let (code, r, _) = analyze_json(&["--by", "source", dir.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(r["input"]["files"], 4);
    let url = sig(&r, "url-not-string").unwrap();
    assert_eq!(url["count"], 1);
    assert_eq!(url["locations"][0]["line"], 121);
    assert_eq!(url["first_seen"], "2025-01-10T07:00:00.000Z");
    assert_eq!(
        sig(&r, "missing-settings-attribute").unwrap()["variants"][0]["value"],
        "SENTRY_DSN"
    );
    assert_eq!(r["input"]["lines"], 11);
    assert_eq!(r["time_range"]["start"], "2025-01-10T06:00:00.000Z");
    let base = dir.join("app.log");
    assert_eq!(r["by_source"][0]["source"], base.to_str().unwrap());
    assert_eq!(r["by_source"][0]["records"], 2);
}

#[test]
fn dated_and_kubelet_rotations_are_ordered_by_date() {
    let d = tempfile::tempdir().unwrap();
    // kubelet: 0.log.20250110-070000.gz then 0.log.20250110-080000 then 0.log, all CRI.
    let cri = |t: &str, tag: &str, msg: &str| format!("2025-01-10T{t}Z stderr {tag} {msg}\n");
    let a = cri("06:59:59.0", "F", "Traceback (most recent call last):")
        + &cri(
            "06:59:59.0",
            "F",
            "  File \"/app/app/ws.py\", line 5, in send",
        );
    let b = cri(
        "07:00:00.0",
        "P",
        "RuntimeError: WebSocket is not connected. ",
    );
    let c = cri("08:00:00.0", "F", "Need to call \"accept\" first.")
        + &cri(
            "08:00:01.0",
            "F",
            "2025-01-10 08:00:01,000 - app - INFO - ok",
        );
    std::fs::write(
        d.path().join("0.log.20250110-070000.gz"),
        gzip(a.as_bytes()),
    )
    .unwrap();
    std::fs::write(d.path().join("0.log.20250110-080000"), b).unwrap();
    std::fs::write(d.path().join("0.log"), c).unwrap();
    let (code, r, _) = analyze_json(&[d.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    let ws = sig(&r, "websocket-not-accepted").unwrap();
    assert_eq!(ws["count"], 1);
    assert_eq!(ws["locations"][0]["line"], 5);
    assert_eq!(r["input"]["joined_lines"], 1);
    assert_eq!(r["input"]["layouts"]["cri"], 3);
}

/// Issue 16: in a CRI (or Docker) log whose app prints no header faultline knows (a clock
/// time and logfmt keys), every line after the first header was joined to it, and request
/// lines were read only from a record's first line: none of the requests was counted. The
/// platform stamps each line, so each is an event: one request per request line, one record
/// per single-line error, and a traceback still one record.
#[test]
fn headerless_app_lines_in_cri_and_docker_are_records_of_their_own() {
    let mut app = vec!["INFO:     Application startup complete.".to_string()];
    let (mut requests, mut errors) = (0, 0);
    for i in 0..120 {
        if i % 10 == 7 {
            app.push(format!(
                "10:00:{:02} error upstream returned 502 after {i} ms",
                i % 60
            ));
            errors += 1;
        } else {
            let status = if i % 13 == 0 { 500 } else { 200 };
            app.push(format!(
                "10:00:{:02} access method=GET path=/api/v1/items/{i} status={status} duration={}ms",
                i % 60,
                3 + i % 17
            ));
            requests += 1;
        }
    }
    let tb = [
        "ERROR:    Exception in ASGI application",
        "Traceback (most recent call last):",
        "  File \"/app/api/obs.py\", line 97, in get_metrics",
        "    if settings.AGENTOPS_API_KEY:",
        "AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'",
    ];
    app.extend(tb.iter().map(|s| s.to_string()));
    let log = app.join("\n") + "\n";
    let want_records = (1 + requests + errors + 1) as u64;
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("cri.log", cri_file(&log)),
        ("docker.log", docker_json_file(&log)),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let (code, r, err) = analyze_json(&[p.to_str().unwrap()]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(r["requests"]["count"], requests, "{name}");
        assert_eq!(r["input"]["records"], want_records, "{name}");
        let s = sig(&r, "missing-settings-attribute").unwrap();
        assert_eq!(s["count"], 1, "{name}");
        assert_eq!(s["locations"][0]["line"], 97, "{name}");
    }
}
