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
