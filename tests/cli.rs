//! The binary on the bundled samples: what a user sees.

use crate::common::*;
use predicates::prelude::*;

#[test]
fn samples_report_the_four_incident_signatures() {
    let (code, r, _) = analyze_json(&[samples().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(r["schema"], "faultline.report/v1");
    assert_eq!(r["input"]["files"], 5);
    let ws = sig(&r, "websocket-not-accepted").unwrap();
    assert_eq!(ws["count"], 9);
    assert_eq!(
        variants(ws),
        vec![
            ("send_json".into(), 4),
            ("close".into(), 1),
            ("send_text".into(), 1)
        ]
    );
    let ms = sig(&r, "missing-settings-attribute").unwrap();
    assert_eq!(ms["count"], 3);
    assert_eq!(ms["first_seen"], "2025-01-10T08:31:50.744Z");
    let url = sig(&r, "url-not-string").unwrap();
    assert_eq!(url["count"], 4);
    assert_eq!(variants(url), vec![("rstrip".into(), 4)]);
    let dt = sig(&r, "datetime-float-mismatch").unwrap();
    assert_eq!(dt["count"], 2);
    assert_eq!(dt["locations"][0]["line"], 1136);
    assert_eq!(dt["locations"][0]["function"], "process_message");
    // Look-alikes land in `exceptions`, not in a signature.
    let other: Vec<&str> = r["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    // Class and attribute names are kept (issue 16): they tell one failure from another.
    assert!(
        other.contains(&"type object 'ToolCapability' has no attribute 'ACTION'"),
        "{other:?}"
    );
}

#[test]
fn locations_are_the_innermost_application_frame() {
    let (_, r, _) = analyze_json(&[samples().join("render-incident.log").to_str().unwrap()]);
    let ms = sig(&r, "missing-settings-attribute").unwrap();
    let locs: Vec<(String, u64)> = ms["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                format!(
                    "{}:{}",
                    l["file"].as_str().unwrap().rsplit("/src/").next().unwrap(),
                    l["line"]
                ),
                l["count"].as_u64().unwrap(),
            )
        })
        .collect();
    // pydantic/main.py's __getattr__ is the innermost frame, but it is not the application's.
    assert_eq!(
        locs,
        vec![
            ("backend/app/observability/config.py:41".to_string(), 1),
            ("backend/app/observability/config.py:73".to_string(), 1)
        ]
    );
    let db = sig(&r, "database-connection-lost").unwrap();
    assert_eq!(
        db["exception_types"][0]["type"],
        "asyncpg.exceptions.ConnectionDoesNotExistError"
    );
}

#[test]
fn table_output_names_signatures_and_totals() {
    faultline()
        .args([
            "analyze",
            samples().join("render-incident.log").to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("websocket-not-accepted"))
        .stdout(predicate::str::contains("send_json (2)"))
        .stdout(predicate::str::contains("1 input(s)"));
}

#[test]
fn stdin_pipe_gives_the_same_report_as_the_file() {
    let path = samples().join("kubectl-prefix.log");
    let (_, from_file, _) = analyze_json(&[path.to_str().unwrap()]);
    let out = faultline()
        .args(["analyze", "--format", "json", "-"])
        .pipe_stdin(&path)
        .unwrap()
        .output()
        .unwrap();
    assert!(out.status.success());
    let from_stdin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_stdin["signatures"], from_file["signatures"]);
    assert_eq!(from_stdin["input"], from_file["input"]);
    // And without `-`: stdin is read when it is not a terminal.
    let out = faultline()
        .args(["analyze", "--format", "json"])
        .pipe_stdin(&path)
        .unwrap()
        .output()
        .unwrap();
    let implicit: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(implicit["signatures"], from_file["signatures"]);
}

#[test]
fn gzip_is_read_by_magic_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let plain = std::fs::read(samples().join("render-incident.log")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &plain).unwrap();
    let f = dir.path().join("renamed.txt"); // no .gz extension on purpose
    std::fs::write(&f, gz.finish().unwrap()).unwrap();
    let (code, a, _) = analyze_json(&[f.to_str().unwrap()]);
    let (_, b, _) = analyze_json(&[samples().join("render-incident.log").to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(a["signatures"], b["signatures"]);
    assert_eq!(a["input"]["bytes"], plain.len() as u64);
}

#[test]
fn kubectl_streams_are_framed_per_container() {
    let (_, r, _) = analyze_json(&[samples().join("kubectl-prefix.log").to_str().unwrap()]);
    let ws = sig(&r, "websocket-not-accepted").unwrap();
    assert_eq!(ws["count"], 2);
    assert_eq!(
        variants(ws),
        vec![("send_json".into(), 1), ("send_text".into(), 1)]
    );
    assert_eq!(ws["first_seen"], "2025-01-10T08:35:39.514Z");
    assert_eq!(
        sig(&r, "datetime-float-mismatch").unwrap()["variants"][0]["value"],
        "-"
    );
    assert_eq!(r["time_range"]["start"], "2025-01-10T08:35:37.149Z");
}

#[test]
fn signatures_command_lists_the_catalog_with_fixes() {
    faultline()
        .arg("signatures")
        .assert()
        .success()
        .stdout(predicate::str::contains("missing-settings-attribute"));
    faultline()
        .args([
            "signatures",
            "missing-settings-attribute",
            "url-not-string",
            "websocket-not-accepted",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "getattr(settings, \"AGENTOPS_API_KEY\", None)",
        ))
        .stdout(predicate::str::contains(
            "str(settings.SUPABASE_URL).rstrip(\"/\")",
        ))
        .stdout(predicate::str::contains("WebSocketState.CONNECTED"));
    let out = faultline()
        .args(["signatures", "--format", "json"])
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(list.as_array().unwrap().len() >= 16);
}

#[test]
fn user_patterns_extend_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.toml"),
        r#"
[[signature]]
id = "fuel-price-missing"
title = "Fuel price feed returned no price"
severity = "warning"
anchors = ["KeyError: 'price'"]
pattern = "KeyError: '(?P<variant>price)'"
remediation = "Use payload.get('price') and skip the update."
"#,
    )
    .unwrap();
    let (code, r, _) = analyze_json(&[
        "--patterns",
        dir.path().to_str().unwrap(),
        samples().join("render-incident.log").to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    // The task record's raised exception is KeyError('price'): the user's signature sees it
    // before the built-in one, which only matches the record's header.
    assert!(sig(&r, "fuel-price-missing").is_some(), "{r:#}");
}

#[test]
fn readme_commands_work() {
    // The README's quick start: the samples as a table, then as JSON.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("cargo run --release -- analyze samples/"));
    faultline()
        .args(["analyze", samples().to_str().unwrap()])
        .assert()
        .success();
    assert!(readme.contains("cargo test"));
}

#[test]
fn heroku_drain_frames_each_dyno_and_reads_router_latency() {
    let dir = tempfile::tempdir().unwrap();
    let log = "\
2024-12-08T16:23:33.457957+00:00 app[web.1]: ERROR:    Exception in ASGI application
2024-12-08T16:23:33.458001+00:00 heroku[router]: at=info method=GET path=\"/api/v1/trips/42\" host=x.herokuapp.com request_id=8601b555 fwd=\"10.1.1.1\" dyno=web.1 connect=0ms service=6021ms status=500 bytes=0 protocol=https
2024-12-08T16:23:33.457957+00:00 app[web.1]: Traceback (most recent call last):
2024-12-08T16:23:33.457957+00:00 app[web.2]: INFO:     10.0.0.1:4 - \"GET /api/v1/health HTTP/1.1\" 200 OK
2024-12-08T16:23:33.457957+00:00 app[web.1]:   File \"/app/backend/app/core/auth.py\", line 33, in jwks_url
2024-12-08T16:23:33.457957+00:00 app[web.1]:     return settings.SUPABASE_URL.rstrip('/')
2024-12-08T16:23:33.457957+00:00 app[web.1]: AttributeError: 'AnyHttpUrl' object has no attribute 'rstrip'
";
    let f = dir.path().join("heroku.log");
    std::fs::write(&f, log).unwrap();
    let (code, r, _) = analyze_json(&[f.to_str().unwrap()]);
    assert_eq!(code, 0);
    let s = sig(&r, "url-not-string").unwrap();
    assert_eq!(s["locations"][0]["line"], 33);
    assert_eq!(s["first_seen"], "2024-12-08T16:23:33.457Z");
    let trips = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["endpoint"] == "GET /api/v1/trips/{id}")
        .unwrap()
        .clone();
    assert_eq!(trips["max_ms"], 6021.0);
    assert_eq!(trips["errors_5xx"], 1);
}

/// An output directory that cannot be made is named, with its reason once, and nothing is
/// half-written: exit 2.
#[test]
fn unwritable_output_directory_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let out = faultline()
        .args(["analyze", "--format", "csv", "-o"])
        .arg(file.join("frames"))
        .arg(samples().join("render-incident.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a-file/frames: cannot create the output directory"),
        "{err}"
    );
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

/// A missing pattern directory is one line, its reason once.
#[test]
fn missing_pattern_directory_is_reported_once() {
    let out = faultline()
        .args(["analyze", "--patterns", "/nonexistent/patterns"])
        .arg(samples().join("render-incident.log"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("No such file").count(), 1, "{err}");
}
