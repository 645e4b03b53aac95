//! A log is untrusted input: secrets in it are redacted in every output (unless
//! `--no-redact`), its text is escaped for Markdown and stripped of terminal escapes, and
//! coloured lines are read like plain ones.

use crate::common::*;
use std::path::Path;

/// Each secret kind, in a log line as apps print them, and the text that must not survive.
const SECRETS: &[(&str, &str)] = &[
    (
        "connect postgresql://app:hunter2pw@db:5432/app refused",
        "hunter2pw",
    ),
    (
        "upstream said Authorization: Bearer abcDEF123456ghiJKL",
        "abcDEF123456ghiJKL",
    ),
    ("AWS id AKIAIOSFODNN7EXAMPLE denied", "AKIAIOSFODNN7EXAMPLE"),
    (
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU expired",
        "c2lnbmF0dXJlX2hlcmU",
    ),
    (
        "openai rejected sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12",
        "Ab12Cd34Ef56Gh78Ij90Kl12",
    ),
    (
        "clone ghp_abcdefghijklmnopqrstuvwxyz0123456789 failed",
        "abcdefghijklmnopqrstuvwxyz0123456789",
    ),
    (
        "slack xoxb-1234567890-abcdefghij denied",
        "xoxb-1234567890-abcdefghij",
    ),
    ("login failed user=bob password=hunter3pw", "hunter3pw"),
    (
        "settings AGENTOPS_API_KEY=ao-secret-value loaded",
        "ao-secret-value",
    ),
    (
        r#"payload {"api_token": "tok-secret-value"} refused"#,
        "tok-secret-value",
    ),
];

/// One unknown exception per secret (each its own type, so each is its own group), and a
/// signature whose variant is a setting's name.
fn secret_log() -> String {
    let mut s = String::new();
    for (i, (msg, _)) in SECRETS.iter().enumerate() {
        s.push_str(&format!(
            "2025-01-10 08:3{i}:50,744 - uvicorn.error - ERROR - Exception in ASGI application\n\
             Traceback (most recent call last):\n  \
             File \"/srv/app/api/login.py\", line 4{i}, in login\n    connect(url)\n\
             Secret{i}Error: {msg}\n"
        ));
    }
    // The signature's record (its example in the reports) carries every secret, one a frame.
    s.push_str(
        "2025-01-10 08:40:01,000 - uvicorn.error - ERROR - Exception in ASGI application\n\
         Traceback (most recent call last):\n",
    );
    for (i, (msg, _)) in SECRETS.iter().enumerate() {
        s.push_str(&format!(
            "  File \"/srv/app/api/step.py\", line {i}, in step\n    log({msg:?})\n"
        ));
    }
    s.push_str(
        "  File \"/srv/app/api/status.py\", line 41, in get_status\n    if settings.AGENTOPS_API_KEY:\n\
         AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'\n\
         2025-01-10 08:40:02,000 - app.middleware.timing - INFO - request method=POST path=/hooks/xoxb-1234567890-abcdefghij status=500 duration_ms=12.0\n",
    );
    s
}

fn run(args: &[&str]) -> Vec<u8> {
    let out = faultline()
        .args(args)
        .env_remove("COLUMNS")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    out.stdout
}

/// Everything a run writes: stdout, and the files of an output directory.
fn outputs(log: &Path, dir: &Path, redact: bool) -> Vec<(String, String)> {
    let log = log.to_str().unwrap();
    let flag: &[&str] = if redact { &[] } else { &["--no-redact"] };
    let mut all = Vec::new();
    for f in ["table", "json", "markdown", "html"] {
        let mut args = vec!["analyze", "-f", f, log];
        args.extend(flag);
        all.push((
            f.to_string(),
            String::from_utf8_lossy(&run(&args)).into_owned(),
        ));
    }
    for f in ["csv", "parquet"] {
        let out = dir.join(format!("{f}-{redact}"));
        let mut args = vec!["analyze", "-f", f, "-o", out.to_str().unwrap(), log];
        args.extend(flag);
        run(&args);
        for entry in std::fs::read_dir(&out).unwrap() {
            let p = entry.unwrap().path();
            let text = match f {
                "csv" => std::fs::read_to_string(&p).unwrap(),
                _ => parquet_text(&p),
            };
            all.push((p.display().to_string(), text));
        }
    }
    all
}

/// A Parquet file's every string cell, read back (compressed pages hide plain text).
fn parquet_text(p: &Path) -> String {
    use polars::prelude::*;
    let df = ParquetReader::new(std::fs::File::open(p).unwrap())
        .finish()
        .unwrap();
    let mut out = String::new();
    for c in df.columns() {
        if let Ok(s) = c.str() {
            for i in 0..s.len() {
                out.push_str(s.get(i).unwrap_or(""));
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn every_secret_kind_is_redacted_in_every_output_and_shown_with_no_redact() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("secrets.log");
    std::fs::write(&log, secret_log()).unwrap();
    let redacted = outputs(&log, d.path(), true);
    assert!(
        redacted.len() >= 3 + 4 + 4,
        "{:?}",
        redacted.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    for (what, text) in &redacted {
        for (_, secret) in SECRETS {
            assert!(!text.contains(secret), "{secret} in {what}:\n{text}");
        }
    }
    // The markers say what was there; a setting's name is no secret.
    let json = &redacted[1].1;
    for kind in [
        "password",
        "bearer",
        "aws_key",
        "jwt",
        "api_key",
        "github_token",
        "slack_token",
        "secret",
    ] {
        assert!(
            json.contains(&format!("[REDACTED:{kind}]")),
            "{kind}: {json}"
        );
    }
    for (what, text) in &redacted[..4] {
        assert!(
            text.contains("AGENTOPS_API_KEY") || text.contains("AGENTOPS\\_API\\_KEY"),
            "{what}"
        );
    }
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    let example = report["signatures"][0]["example"].as_str().unwrap();
    assert!(example.contains("[REDACTED:slack_token]"), "{example}");
    assert!(example.contains("AGENTOPS_API_KEY"), "{example}");
    // --no-redact shows them, in the reports and the frames.
    let shown = outputs(&log, d.path(), false);
    let json = &shown[1].1;
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    let example = report["signatures"][0]["example"].as_str().unwrap();
    for (_, secret) in SECRETS {
        // The example is the record as logged: every secret verbatim.
        assert!(example.contains(secret), "{secret} not in {example}");
    }
    for (msg, secret) in SECRETS {
        // Unredacted, the message is normalized as ever: a quoted value is `<str>` and
        // `-1234567890` a number there.
        if msg.contains(&format!("\"{secret}\"")) {
            continue;
        }
        let shown = secret.replace("xoxb-1234567890", "xoxb<num>");
        assert!(json.contains(&shown), "{shown} not shown with --no-redact");
    }
    let events: String = shown
        .iter()
        .filter(|(w, _)| w.contains("events"))
        .map(|(_, t)| t.clone())
        .collect();
    assert!(events.contains("Secret0Error"), "{events}");
}

#[test]
fn markdown_cells_read_as_their_text_in_a_commonmark_renderer() {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("markup.log");
    let messages = [
        "bad value <b>bold</b> for 'user_id' | piped",
        "cannot parse `code` *stars* _under_ [link](http://x) #7",
        "limit 3 < 5 && 7 > 2 ~ ok\\path",
    ];
    let mut text = String::new();
    for (i, m) in messages.iter().enumerate() {
        text.push_str(&format!(
            "2025-01-10 08:3{i}:50,744 - uvicorn.error - ERROR - Exception in ASGI application\n\
             Traceback (most recent call last):\n  \
             File \"/srv/app/a|b`c.py\", line 4{i}, in f_{i}\n    x()\n\
             Markup{i}Error: {m}\n"
        ));
    }
    // A signature's record whose code holds a fence, markup and a placeholder: its example
    // is a code block.
    text.push_str(
        "2025-01-10 08:39:50,744 - uvicorn.error - ERROR - Exception in ASGI application\n\
         Traceback (most recent call last):\n  \
         File \"/srv/app/api/status.py\", line 41, in get_status\n    \
         fence = \"```\\n<b>bold</b> | <str>\"; settings.AGENTOPS_API_KEY\n\
         AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'\n",
    );
    std::fs::write(&log, text).unwrap();
    let log = log.to_str().unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&run(&["analyze", "-f", "json", log])).unwrap();
    let md = String::from_utf8(run(&["analyze", "-f", "markdown", log])).unwrap();
    // The table cells, as a CommonMark (GFM) renderer reads them: text and code, no HTML.
    let mut cells: Vec<String> = Vec::new();
    let mut cell: Option<String> = None;
    let mut html = Vec::new();
    let mut blocks: Vec<String> = Vec::new();
    let mut block: Option<String> = None;
    for ev in Parser::new_ext(&md, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => cells.extend(cell.take()),
            Event::Start(Tag::CodeBlock(_)) => block = Some(String::new()),
            Event::End(TagEnd::CodeBlock) => blocks.extend(block.take()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = cell.as_mut().or(block.as_mut()) {
                    c.push_str(&t);
                }
            }
            Event::Html(h) | Event::InlineHtml(h) => html.push(h.to_string()),
            _ => {}
        }
    }
    assert!(html.is_empty(), "log text read as HTML: {html:?}");
    // The example shows verbatim, fence and all.
    let example = report["signatures"][0]["example"].as_str().unwrap();
    assert!(example.contains("```\\n<b>bold</b> | <str>"), "{example}");
    assert!(
        blocks.iter().any(|b| b.trim_end() == example),
        "{example:?} not a code block: {blocks:#?}"
    );
    // Every exception group's message and location shows whole in some cell.
    let groups = report["exceptions"].as_array().unwrap();
    assert_eq!(groups.len(), 3);
    for g in groups {
        let msg = g["message"].as_str().unwrap();
        assert!(
            cells.iter().any(|c| c == msg),
            "{msg:?} not a cell: {cells:#?}"
        );
        let file = g["location"]["file"].as_str().unwrap();
        assert!(cells.iter().any(|c| c.contains(file)), "{file}: {cells:#?}");
    }
    assert!(
        cells
            .iter()
            .any(|c| c.contains("<str>") || c.contains("<num>")),
        "{cells:#?}"
    );
}

#[test]
fn coloured_output_is_read_like_plain_output() {
    let d = tempfile::tempdir().unwrap();
    let plain = "\
2025-01-10 08:31:50,744 - uvicorn.error - ERROR - Exception in ASGI application
Traceback (most recent call last):
  File \"/srv/app/api/status.py\", line 41, in get_status
    if settings.AGENTOPS_API_KEY:
AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'
2025-01-10 08:31:51,002 - app.middleware.timing - INFO - request method=GET path=/api/v1/status status=500 duration_ms=6021.50
";
    // As a coloured console handler prints it: the level and logger in colour, each line reset.
    let coloured: String = plain
        .lines()
        .map(|l| {
            let l = l.replacen("ERROR", "\x1b[31mERROR\x1b[0m", 1).replacen(
                "INFO",
                "\x1b[32mINFO\x1b[39m",
                1,
            );
            format!("{l}\x1b[0m\n")
        })
        .collect();
    let (p, c) = (d.path().join("plain.log"), d.path().join("coloured.log"));
    std::fs::write(&p, plain).unwrap();
    std::fs::write(&c, &coloured).unwrap();
    let (_, a, _) = analyze_json(&[p.to_str().unwrap()]);
    let (_, b, _) = analyze_json(&[c.to_str().unwrap()]);
    for key in [
        "signatures",
        "exceptions",
        "requests",
        "endpoints",
        "timeline",
    ] {
        assert_eq!(a[key], b[key], "{key}");
    }
    assert_eq!(a["signatures"][0]["count"], 1);
    // Escapes in the text the table prints (a log that retitles the terminal or hides
    // itself) are removed.
    let evil = d.path().join("evil.log");
    std::fs::write(
        &evil,
        plain.replace(
            "AGENTOPS_API_KEY'",
            "AGENTOPS_API_KEY'\x1b]0;pwned\x07\x1b[8m",
        ),
    )
    .unwrap();
    let table = run(&[
        "analyze",
        "-f",
        "table",
        "--color",
        "never",
        evil.to_str().unwrap(),
    ]);
    assert!(
        !table.contains(&0x1b) && !table.contains(&0x07),
        "{}",
        String::from_utf8_lossy(&table)
    );
}
