//! The README holds: every command of its Examples section runs, against logs written here,
//! and gives what it says; the quick start prints what the README shows; the reports follow
//! the JSON Schemas under `docs/schema/`.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The first fenced block after the heading `## {section}`.
fn block(text: &str, section: &str) -> String {
    let at = text.find(&format!("## {section}\n")).expect("section");
    let rest = &text[at..];
    let start = rest.find("```").unwrap();
    let body = &rest[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

/// A directory with the files the examples name, and stand-ins for `kubectl` that print a
/// sample in its shape.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    let s = samples();
    std::fs::copy(s.join("render-incident.log"), d.path().join("app.log")).unwrap();
    let logs = d.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::copy(s.join("render-incident.log"), logs.join("app.log")).unwrap();
    std::fs::copy(s.join("uvicorn-bare.log"), logs.join("app.log.1")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&std::fs::read(s.join("render-incident.log")).unwrap())
        .unwrap();
    std::fs::write(logs.join("app.log.2.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(
        d.path().join("my-signatures.toml"),
        r#"
[[signature]]
id = "pool-exhausted"
title = "Connection pool exhausted"
severity = "error"
anchors = ["QueuePool limit"]
pattern = 'QueuePool limit of size (?P<variant>\d+)'
remediation = "Raise the pool size or release connections sooner."
"#,
    )
    .unwrap();
    let bin = d.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let kubectl = bin.join("kubectl");
    std::fs::write(
        &kubectl,
        format!(
            "#!/bin/sh\ncat '{}'\n",
            s.join("kubectl-prefix.log").display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kubectl, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (d, bin)
}

/// What each example must give: its exit code and a check of its output (stdout, stderr,
/// the workspace).
type Check = fn(&str, &str, &Path) -> bool;

fn expected(cmd: &str) -> Option<(i32, Check)> {
    let table: &[(&str, i32, Check)] = &[
        ("faultline analyze app.log", 0, |o, _, _| {
            o.contains("websocket-not-accepted")
        }),
        ("faultline analyze logs/", 0, |o, _, _| {
            o.contains("3 input(s)") && o.contains("url-not-string")
        }),
        ("faultline analyze -g '!*.gz' logs/", 0, |o, _, _| {
            o.contains("left out by --glob/--exclude")
        }),
        ("faultline analyze --glob '*.log' logs/", 0, |o, _, _| {
            o.contains("1 input(s)")
        }),
        ("faultline analyze --since 2h app.log", 0, |o, _, _| {
            o.contains("no record in the time window")
        }),
        (
            "faultline analyze --since 2025-01-10T08:30:00Z",
            0,
            |o, _, _| {
                o.contains("records, 2025-01-10 08:30")
                    && !o.contains("no record in the time window")
            },
        ),
        ("kubectl logs", 0, |o, _, _| o.contains("by source")),
        ("faultline analyze -f json -o report.json", 0, |o, _, d| {
            o.is_empty()
                && std::fs::read_to_string(d.join("report.json"))
                    .unwrap()
                    .contains("faultline.report/v1")
        }),
        (
            "faultline analyze -f markdown -o postmortem.md",
            0,
            |_, _, d| {
                std::fs::read_to_string(d.join("postmortem.md"))
                    .unwrap()
                    .starts_with("# Post-incident report")
            },
        ),
        ("faultline analyze -f html -o report.html", 0, |_, _, d| {
            let page = std::fs::read_to_string(d.join("report.html")).unwrap();
            page.starts_with("<!doctype html>") && page.matches("<svg").count() == 3
        }),
        (
            "faultline analyze -f markdown -o postmortem.md --charts charts/",
            0,
            |_, _, d| {
                let md = std::fs::read_to_string(d.join("postmortem.md")).unwrap();
                md.contains("](<charts/latency.svg>)") && d.join("charts/latency.svg").is_file()
            },
        ),
        ("faultline analyze -f parquet -o frames/", 0, |_, _, d| {
            d.join("frames/events.parquet").is_file()
        }),
        ("faultline compare --split", 0, |o, _, _| {
            o.contains("resolved") || o.contains("new")
        }),
        (
            "faultline compare --split 2025-01-10T08:40:00Z -f html -o fix.html",
            0,
            |_, _, d| {
                let page = std::fs::read_to_string(d.join("fix.html")).unwrap();
                page.contains("<title>Before / after") && page.contains("<svg")
            },
        ),
        ("faultline analyze --fail-on", 3, |_, e, _| {
            e.contains("websocket-not-accepted")
        }),
        ("faultline analyze --state app.state", 0, |o, _, d| {
            o.contains("records") && d.join("app.state").is_file()
        }),
        ("faultline watch", 0, |o, _, _| {
            o.contains("websocket-not-accepted")
        }),
        (
            "faultline signatures websocket-not-accepted",
            0,
            |o, _, _| o.contains("anchors:"),
        ),
        ("faultline render -f markdown report.json", 0, |o, _, _| {
            o.starts_with("# Post-incident report")
        }),
        ("faultline extract -o rows/", 0, |_, _, d| {
            let input = std::fs::read_to_string(d.join("rows/input.json")).unwrap();
            d.join("rows/events.parquet").is_file()
                && d.join("rows/requests.parquet").is_file()
                && input.contains("\"files\": 3")
        }),
        ("faultline templates app.log", 0, |o, _, _| {
            o.contains("template(s) over") && o.contains("<*>")
        }),
        ("faultline templates --per-line app.log", 0, |o, _, _| {
            o.starts_with("line,template_id,template\n1,")
        }),
        ("faultline signatures", 0, |o, _, _| {
            o.contains("signature(s)")
        }),
        (
            "faultline analyze --patterns my-signatures.toml",
            0,
            |o, _, _| o.contains("websocket-not-accepted") && !o.contains("worker-killed"),
        ),
    ];
    // The longest prefix that matches decides (`signatures ID` before `signatures`).
    table
        .iter()
        .filter(|(p, _, _)| cmd.starts_with(p))
        .max_by_key(|(p, _, _)| p.len())
        .map(|(_, code, check)| (*code, *check))
}

#[test]
fn every_example_runs_and_gives_what_it_says() {
    let text = block(&readme(), "Examples");
    let commands: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(commands.len() >= 15, "{commands:?}");
    let (dir, shims) = workspace();
    let exe = assert_cmd::cargo::cargo_bin("faultline");
    let path = format!(
        "{}:{}:{}",
        exe.parent().unwrap().display(),
        shims.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for cmd in commands {
        let Some((code, check)) = expected(cmd) else {
            panic!("README example without a check in tests/readme.rs: {cmd}");
        };
        let out = Command::new("sh")
            .args(["-c", cmd])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env_remove("COLUMNS")
            .output()
            .unwrap();
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(code), "{cmd}\n{e}");
        assert!(
            check(&o, &e, dir.path()),
            "{cmd}\nstdout:\n{o}\nstderr:\n{e}"
        );
    }
}

/// The quick start's output, as the README shows it: its lines appear in the real output in
/// the same order; `...` stands for lines left out.
#[test]
fn quick_start_output_is_the_real_output() {
    let text = readme();
    let at = text.find("The first command prints").unwrap();
    let fence = at + text[at..].find("```\n").unwrap() + 4;
    let shown = &text[fence..fence + text[fence..].find("```").unwrap()];
    let width: usize = text[at..]
        .split("columns wide")
        .next()
        .and_then(|s| s.split_whitespace().last())
        .and_then(|w| w.parse().ok())
        .expect("the README says the width");
    let out = faultline()
        .args(["analyze", "samples/"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("COLUMNS", width.to_string())
        .output()
        .unwrap();
    let real = String::from_utf8(out.stdout).unwrap();
    let mut lines = real.lines();
    for want in shown.lines().filter(|l| *l != "...") {
        assert!(
            lines.any(|l| l == want),
            "README line not in the output (in this order): {want}\n--- real output:\n{real}"
        );
    }
}

fn validator(name: &str) -> jsonschema::Validator {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schema")
        .join(name);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(v: &jsonschema::Validator, doc: &serde_json::Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn reports_of_every_sample_follow_the_schema() {
    let v = validator("report.schema.json");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(samples())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    inputs.push(samples());
    for input in &inputs {
        for extra in [&[][..], &["--by", "source"][..], &["--no-requests"][..]] {
            let mut args = vec![input.to_str().unwrap()];
            args.extend_from_slice(extra);
            let (_, r, _) = analyze_json(&args);
            assert_valid(&v, &r, &format!("{} {extra:?}", input.display()));
        }
    }
    // The schema is not a rubber stamp: a report with a wrong type or a missing part fails.
    let (_, mut r, _) = analyze_json(&[samples().to_str().unwrap()]);
    r["signatures"][0]["count"] = serde_json::json!("nine");
    assert!(!v.is_valid(&r));
    let (_, mut r, _) = analyze_json(&[samples().to_str().unwrap()]);
    r.as_object_mut().unwrap().remove("input");
    assert!(!v.is_valid(&r));

    let c = validator("compare.schema.json");
    let out = faultline()
        .args(["compare", "-f", "json", "--split", "2025-01-10T08:35:00Z"])
        .arg(samples())
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&c, &doc, "compare");
    assert!(!c.is_valid(&r), "a report is not a comparison");
}
