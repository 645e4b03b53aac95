//! `faultline templates`: the templates of a text log, and each line's.

use crate::common::*;

fn log() -> String {
    let mut s = String::new();
    for i in 0..30 {
        s.push_str(&format!(
            "2025-01-10 08:{:02}:00,000 ERROR payment provider returned 502 for order {}\n",
            i,
            1000 + i
        ));
        if i % 3 == 0 {
            s.push_str(&format!(
                "2025-01-10 08:{i:02}:30,000 [INFO] worker {} restarted\n",
                // Ten names: a variable (three would be three templates).
                [
                    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
                    "kappa"
                ][i / 3]
            ));
        }
    }
    s.push_str("2025-01-10 09:00:00,000 login with password=hunter2pw refused\n");
    s
}

#[test]
fn templates_are_listed_and_each_line_has_one() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("app.log");
    std::fs::write(&p, log()).unwrap();
    let out = succeed(faultline().args(["templates", "-f", "json"]).arg(&p));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(
        list[0]["template"],
        "ERROR payment provider returned <*> for order <*>"
    );
    assert_eq!(list[0]["count"], 30);
    assert_eq!(list[0]["levels"], serde_json::json!({"error": 30}));
    assert_eq!(list[0]["first_seen"], "2025-01-10T08:00:00.000Z");
    assert_eq!(list[0]["last_seen"], "2025-01-10T08:29:00.000Z");
    assert_eq!(list[1]["template"], "[INFO] worker <*> restarted");
    assert_eq!(list[1]["count"], 10);
    assert_eq!(list[1]["levels"], serde_json::json!({"info": 10}));
    // A constant token that is a secret is redacted, in the template and its example.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("hunter2pw"), "{text}");
    assert!(text.contains("[REDACTED:secret]"), "{text}");

    let out = faultline()
        .args(["templates", "--per-line"])
        .arg(&p)
        .output()
        .unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "line,template_id,template");
    assert_eq!(rows.len(), 1 + log().lines().count());
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(
        rows[1],
        format!("1,{id},ERROR payment provider returned <*> for order <*>")
    );
    // The same ids from stdin, and with every line's time kept the time is masked too.
    let out = faultline()
        .args(["templates", "--per-line", "-"])
        .write_stdin(log())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), csv);
    let out = faultline()
        .args(["templates", "--keep-time", "-f", "csv"])
        .arg(&p)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("<*> <*>:<*>:<*>,<*> ERROR payment provider returned"),
        "{text}"
    );
}

#[test]
fn an_unreadable_input_is_named_and_the_rest_is_mined() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("app.log");
    std::fs::write(&p, log()).unwrap();
    let out = faultline()
        .args(["templates"])
        .arg(d.path().join("missing.log"))
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.log"), "{err}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("payment provider returned <*> for order <*>"),
        "{table}"
    );
    // Levels and times in the table.
    assert!(table.contains("error 30  "), "{table}");
    assert!(
        table.contains("2025-01-10 08:00:00  2025-01-10 08:29:00"),
        "{table}"
    );
    assert!(table.contains("over 41 line(s)"), "{table}");
    // A compressed input is read as analyze reads it.
    let gz = d.path().join("app.log.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, log().as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let out = faultline()
        .args(["templates", "--per-line"])
        .arg(&gz)
        .output()
        .unwrap();
    let plain = faultline()
        .args(["templates", "--per-line"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, plain.stdout);
}

/// The report's templates of `log` with `args`.
fn report_templates(log: &str, args: &[&str]) -> (serde_json::Value, Vec<serde_json::Value>) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("app.log");
    std::fs::write(&p, log).unwrap();
    let out = succeed(
        faultline()
            .args(["analyze", "-f", "json"])
            .args(args)
            .arg(&p),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v["templates"].as_array().unwrap().clone();
    (v, list)
}

#[test]
fn a_new_error_and_a_surging_one_are_named_with_their_times() {
    let (v, list) = report_templates(&shifting_log(true), &[]);
    let t: Vec<&str> = list
        .iter()
        .map(|t| t["template"].as_str().unwrap())
        .collect();
    assert_eq!(list.len(), 3, "{t:?}");
    let new = &list[0];
    assert_eq!(
        new["template"],
        "- app.payments - ERROR - payment provider returned <*> for order <*>"
    );
    assert_eq!(new["change"], "new");
    assert_eq!(new["since"], "2025-03-04T07:30:00.000Z");
    assert_eq!(new["count"], 30);
    assert_eq!(new["level"], "error");
    let surge = &list[1];
    assert_eq!(
        surge["template"],
        "- app.db - ERROR - connection pool exhausted after <*> ms waiting"
    );
    assert_eq!(surge["change"], "surging");
    assert_eq!(surge["since"], "2025-03-04T07:40:00.000Z");
    assert_eq!(surge["before_per_minute"], 0.2);
    assert_eq!(surge["after_per_minute"], 30.0);
    assert_eq!(surge["ratio"], 150.0);
    assert!(surge["example"]
        .as_str()
        .unwrap()
        .starts_with("2025-03-04 07:00:00,500 - app.db - ERROR"));
    // Latency rose with it: the incident from 07:40 is the surge's.
    assert_eq!(v["incidents"][0]["start"], "2025-03-04T07:40:00.000Z");
    assert_eq!(surge["incident"], 0);
    assert_eq!(new["incident"], serde_json::Value::Null);
    let steady = &list[2];
    assert_eq!(steady["change"], "steady");
    assert_eq!(steady["level"], "warning");
    assert_eq!(steady["since"], serde_json::Value::Null);

    // The Markdown report and the table name both, with their times.
    for format in ["markdown", "table"] {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("app.log");
        std::fs::write(&p, shifting_log(true)).unwrap();
        let out = succeed(faultline().args(["analyze", "-f", format]).arg(&p));
        let text = String::from_utf8_lossy(&out.stdout);
        for want in [
            "payment provider returned",
            "connection pool exhausted",
            "07:30",
            "07:40",
            "surging 150x (incident 1)",
        ] {
            assert!(text.contains(want), "{format} lacks {want:?}:\n{text}");
        }
    }
}

#[test]
fn steady_errors_are_neither_new_nor_surging() {
    let (_, list) = report_templates(&shifting_log(false), &[]);
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|t| t["change"] == "steady"), "{list:?}");
    // Errors before warnings.
    assert_eq!(list[0]["level"], "error");
}

#[test]
fn the_level_floor_and_off() {
    let (_, list) = report_templates(&shifting_log(true), &["--templates", "error"]);
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|t| t["level"] == "error"));
    let (_, list) = report_templates(&shifting_log(true), &["--templates", "off"]);
    assert!(list.is_empty());
}

#[test]
fn signatures_and_tracebacks_are_not_templates() {
    let mut log = String::new();
    for m in 0..10 {
        // A known signature's line, and an unknown exception's traceback: reported as such.
        log.push_str(&format!(
            "2025-03-04 07:{m:02}:01,000 - app.ws - ERROR - RuntimeError: WebSocket is not \
             connected. Need to call \"accept\" first.\n"
        ));
        log.push_str(&format!(
            "2025-03-04 07:{m:02}:02,000 - uvicorn.error - ERROR - Exception in ASGI application\n\
             Traceback (most recent call last):\n  File \"/app/main.py\", line 9, in handler\n    \
             raise KeyError(k)\nKeyError: 'k{m}'\n"
        ));
        log.push_str(&format!(
            "2025-03-04 07:{m:02}:03,000 - app.api - INFO - served error page {m}\n"
        ));
        log.push_str(&format!(
            "2025-03-04 07:{m:02}:04,000 - app.api - ERROR - upstream timed out after {} ms\n",
            3000 + m
        ));
    }
    let (v, list) = report_templates(&log, &[]);
    let t: Vec<&str> = list
        .iter()
        .map(|t| t["template"].as_str().unwrap())
        .collect();
    assert_eq!(t, ["- app.api - ERROR - upstream timed out after <*> ms"]);
    assert_eq!(v["signatures"][0]["count"], 10);
    assert_eq!(v["exceptions"][0]["count"], 10);
}

#[test]
fn levels_are_read_in_json_logfmt_and_nginx_layouts() {
    type Line = fn(u32) -> String;
    let layouts: [(Line, &str, &str); 5] = [
        // pino's numbers, a JSON level name, logfmt, nginx's error log.
        (
            |m| {
                format!("{{\"level\":50,\"time\":\"2025-03-04T07:{m:02}:03Z\",\"msg\":\"upstream timed out after {} ms\"}}", 3000 + m)
            },
            "upstream timed out after <*> ms",
            "error",
        ),
        (
            |m| {
                format!("{{\"severity\":\"WARNING\",\"timestamp\":\"2025-03-04T07:{m:02}:04Z\",\"message\":\"retrying job {m}\"}}")
            },
            "retrying job <*>",
            "warning",
        ),
        (
            |m| format!("time=2025-03-04T07:{m:02}:05Z level=error msg=\"disk /dev/sd{m} full\""),
            "level=error msg=\"disk /dev/<*> full\"",
            "error",
        ),
        (
            |m| {
                format!("2025/03/04 07:{m:02}:06 [crit] 31#31: *{m} connect() failed (111: Connection refused)")
            },
            "[crit] <*>#<*>: *<*> connect() failed (<*>: Connection refused)",
            "critical",
        ),
        (
            |m| {
                format!(
                    "{{\"level\":30,\"time\":\"2025-03-04T07:{m:02}:03Z\",\"msg\":\"served {m}\"}}"
                )
            },
            "",
            "",
        ),
    ];
    for (line, want, level) in layouts {
        let log: String = (0..10).map(|m| line(m) + "\n").collect();
        let (_, list) = report_templates(&log, &[]);
        if want.is_empty() {
            assert!(list.is_empty(), "an info line is no template: {list:?}");
            continue;
        }
        assert_eq!(list.len(), 1, "{log}{list:?}");
        let t = list[0]["template"].as_str().unwrap();
        assert!(t.ends_with(want), "{t} / {want}");
        assert_eq!(list[0]["level"], level);
        assert_eq!(list[0]["count"], 10);
    }
}

#[test]
fn compare_matches_templates_by_text() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("app.log");
    std::fs::write(&p, shifting_log(true)).unwrap();
    let out = succeed(
        faultline()
            .args(["compare", "-f", "json", "--split", "2025-03-04T07:30:00Z"])
            .arg(&p),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = |text: &str| {
        v["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == "template" && c["id"].as_str().unwrap().contains(text))
            .map(|c| c["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("payment provider").as_deref(), Some("new"));
    assert_eq!(status("connection pool").as_deref(), Some("regressed"));
    assert_eq!(status("cache miss").as_deref(), Some("persisting"));
}
