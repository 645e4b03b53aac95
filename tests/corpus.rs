//! The case corpus (`tests/corpus/**.toml`): real-log shapes written for this project, each
//! with the signatures, variants, locations and counts `analyze` must give
//! (issue 16). `faultline signatures --check DIR` runs the same cases for a user's patterns.

use std::path::Path;

use crate::common::faultline;

fn corpus() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

#[test]
fn every_case_of_the_corpus_passes() {
    let config = faultline::Config::new().unwrap();
    let res = faultline::check::check_dir(&corpus(), &config).unwrap();
    assert!(res.passed(), "{}", faultline::check::render(&res));
    // The four failures faultline exists for: at least 15 shapes each, and 10 look-alikes.
    for id in [
        "missing-settings-attribute",
        "websocket-not-accepted",
        "url-not-string",
        "datetime-float-mismatch",
    ] {
        let t = &res.by_signature[id];
        assert!(t.hits >= 15, "{id}: {t:?}");
        assert!(t.negatives >= 10, "{id}: {t:?}");
    }
    // Every signature of the catalog has a case that finds it and a look-alike it leaves.
    for (id, t) in &res.by_signature {
        assert!(t.hits >= 1 && t.negatives >= 1, "{id}: {t:?}");
    }
}

#[test]
fn check_reports_misses_and_false_positives_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("miss.toml"),
        "description = \"a case that expects the wrong signature\"\n\
         input = '''\nAttributeError: 'Settings' object has no attribute 'X'\n'''\n\
         [[expect]]\nid = \"url-not-string\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ok.toml"),
        "description = \"fine\"\nnot = [\"url-not-string\"]\ninput = '''\nhello\n'''\n",
    )
    .unwrap();
    let out = faultline()
        .args(["signatures", "--check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |id: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .unwrap()
    };
    // hits misses false-positives negatives
    assert_eq!(row("url-not-string"), "0 1 0 1", "{text}");
    assert_eq!(row("missing-settings-attribute"), "0 0 1 0", "{text}");
    assert!(text.contains("2 case(s), 2 failure(s)"), "{text}");
    assert!(
        text.contains("miss.toml: url-not-string: not found"),
        "{text}"
    );

    // A broken case file is named, and a missing directory is an error (exit 2).
    std::fs::write(dir.path().join("bad.toml"), "input = 3\n").unwrap();
    let out = faultline()
        .args(["signatures", "--check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("bad.toml: invalid case file"));
    let out = faultline()
        .args(["signatures", "--check", "no/such/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// Issue 16: a user's anchor inside the traceback literal made start-up panic (exit 101).
#[test]
fn an_anchor_inside_the_traceback_literal_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tb.toml"),
        "[[signature]]\nid = \"any-traceback\"\ntitle = \"t\"\nseverity = \"info\"\n\
         anchors = [\"Traceback\"]\npattern = 'Traceback'\nremediation = \"r\"\n",
    )
    .unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(
        &log,
        "Traceback (most recent call last):\n  File \"/a.py\", line 1, in f\nKeyError: 'x'\n\
         2025-01-10 10:00:00,000 - app - ERROR - Traceback written to /tmp/tb.txt\n",
    )
    .unwrap();
    let out = faultline()
        .args(["analyze", "--format", "json", "--patterns"])
        .arg(dir.path())
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["signatures"][0]["id"], "any-traceback");
    assert_eq!(r["signatures"][0]["count"], 1);
    assert_eq!(r["exceptions"][0]["type"], "KeyError");
}
