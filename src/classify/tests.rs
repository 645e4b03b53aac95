//! One case per shipped signature, and one per look-alike that must not match it.

use super::*;

fn classifier() -> Classifier {
    Classifier::new(Catalog::builtin().unwrap())
}

fn tb(exc: &str) -> Vec<String> {
    vec![
        "Exception in ASGI application".into(),
        "Traceback (most recent call last):".into(),
        "  File \"/srv/app/main.py\", line 10, in handler".into(),
        "    do()".into(),
        exc.into(),
    ]
}

/// `(record lines, expected signature id or None, expected variant)`
fn cases() -> Vec<(Vec<String>, Option<&'static str>, Option<&'static str>)> {
    let one = |s: &str| vec![s.to_string()];
    vec![
        (tb("AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'"), Some("missing-settings-attribute"), Some("AGENTOPS_API_KEY")),
        (tb("AttributeError: 'AppSettings' object has no attribute 'LANGFUSE_SECRET_KEY'"), Some("missing-settings-attribute"), Some("LANGFUSE_SECRET_KEY")),
        (one("AttributeError: 'Config' object has no attribute 'DEBUG'"), Some("missing-settings-attribute"), Some("DEBUG")),
        (tb("AttributeError: type object 'ToolCapability' has no attribute 'ACTION'"), None, None),
        (tb("AttributeError: 'str' object has no attribute 'value'"), None, None),
        (tb("AttributeError: type object 'Settings' has no attribute 'X'"), None, None),
        (tb("RuntimeError: WebSocket is not connected. Need to call \"accept\" first."), Some("websocket-not-accepted"), None),
        (one("RuntimeError: WebSocket is not connected. Need to call 'accept' first"), Some("websocket-not-accepted"), None),
        (tb("RuntimeError: Cannot call \"send\" once a close message has been sent."), Some("websocket-send-after-close"), Some("send")),
        (tb("RuntimeError: Cannot call \"receive\" once a disconnect message has been received."), Some("websocket-receive-after-disconnect"), Some("receive")),
        (tb("RuntimeError: Unexpected ASGI message 'websocket.send', after sending 'websocket.close'."), Some("asgi-unexpected-message"), Some("websocket.send")),
        (tb("RuntimeError: Unexpected ASGI message 'websocket.close', after sending 'websocket.close' or response already completed."), Some("asgi-unexpected-message"), Some("websocket.close")),
        (tb("RuntimeError: Expected ASGI message 'websocket.send' or 'websocket.close', but got 'websocket.accept'."), Some("asgi-unexpected-message"), Some("websocket.accept")),
        (tb("starlette.websockets.WebSocketDisconnect: 1006"), Some("websocket-disconnect"), Some("1006")),
        (tb("starlette.websockets.WebSocketDisconnect: (1012, None)"), Some("websocket-disconnect"), Some("1012")),
        (tb("starlette.websockets.WebSocketDisconnect: (<CloseCode.ABNORMAL_CLOSURE: 1006>, None)"), Some("websocket-disconnect"), Some("1006")),
        (tb("starlette.websockets.WebSocketDisconnect"), Some("websocket-disconnect"), None),
        (tb("AttributeError: 'pydantic_core._pydantic_core.Url' object has no attribute 'rstrip'"), Some("url-not-string"), Some("rstrip")),
        (tb("AttributeError: 'pydantic_core._pydantic_core.MultiHostUrl' object has no attribute 'split'"), Some("url-not-string"), Some("split")),
        (tb("AttributeError: 'AnyHttpUrl' object has no attribute 'startswith'"), Some("url-not-string"), Some("startswith")),
        (tb("AttributeError: 'HttpUrl' object has no attribute 'endswith'"), Some("url-not-string"), Some("endswith")),
        (tb("AttributeError: 'AnyUrl' object has no attribute 'decode'"), Some("url-not-string"), Some("decode")),
        (tb("TypeError: unsupported operand type(s) for -: 'datetime.datetime' and 'float'"), Some("datetime-float-mismatch"), Some("-")),
        (tb("TypeError: unsupported operand type(s) for +: 'float' and 'datetime.datetime'"), Some("datetime-float-mismatch"), Some("+")),
        (tb("TypeError: unsupported operand type(s) for -: 'int' and 'str'"), None, None),
        (tb("TypeError: can't subtract offset-naive and offset-aware datetimes"), Some("datetime-naive-aware"), Some("subtract")),
        (tb("TypeError: can't compare offset-naive and offset-aware datetimes"), Some("datetime-naive-aware"), Some("compare")),
        (
            vec![
                "Traceback (most recent call last):".into(),
                "  File \"/app/config.py\", line 9, in <module>".into(),
                "pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings".into(),
                "DATABASE_URL".into(),
                "  Field required [type=missing, input_value={}, input_type=dict]".into(),
            ],
            Some("settings-validation-error"),
            Some("DATABASE_URL"),
        ),
        (one("[2024-01-09 13:24:39 +0000] [1637] [CRITICAL] WORKER TIMEOUT (pid:7214)"), Some("gunicorn-worker-timeout"), None),
        (one("[2024-01-09 13:24:40 +0000] [1637] [ERROR] Worker (pid:17) was sent SIGKILL! Perhaps out of memory?"), Some("worker-killed"), Some("SIGKILL")),
        (one("[2024-01-09 13:24:40 +0000] [1637] [ERROR] Worker with pid 7214 was terminated due to signal 6"), Some("worker-killed"), Some("signal 6")),
        (
            vec![
                "Task exception was never retrieved".into(),
                "future: <Task finished name='Task-12' coro=<refresh() done, defined at /app/jobs.py:3> exception=TypeError('x')>".into(),
            ],
            Some("asyncio-task-exception-never-retrieved"),
            Some("TypeError"),
        ),
        (tb("asyncpg.exceptions.ConnectionDoesNotExistError: connection was closed in the middle of operation"), Some("database-connection-lost"), Some("asyncpg")),
        (tb("sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) server closed the connection unexpectedly"), Some("database-connection-lost"), Some("sqlalchemy")),
        (tb("sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00"), Some("database-pool-exhausted"), Some("5")),
        (tb("redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. Connection refused."), Some("redis-connection-error"), Some("ConnectionError")),
        (tb("httpx.ReadTimeout: timed out"), Some("upstream-http-timeout"), Some("httpx.ReadTimeout")),
        (tb("requests.exceptions.ConnectTimeout: HTTPSConnectionPool(host='x', port=443): Max retries exceeded"), Some("upstream-http-timeout"), Some("requests.exceptions.ConnectTimeout")),
        (tb("httpx.ConnectError: [Errno 111] Connection refused"), Some("connection-refused"), Some("httpx.ConnectError")),
        (one("RuntimeWarning: coroutine 'send_email' was never awaited"), Some("coroutine-never-awaited"), Some("send_email")),
        (tb("RuntimeError: Event loop is closed"), Some("event-loop-closed"), None),
        (tb("ModuleNotFoundError: No module named 'agentops'"), Some("module-not-found"), Some("agentops")),
        (tb("AttributeError: 'NoneType' object has no attribute 'id'"), Some("none-attribute"), Some("id")),
        (tb("OSError: [Errno 24] Too many open files"), Some("too-many-open-files"), None),
        (one("ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): address already in use"), None, None),
        (one("OSError: [Errno 98] Address already in use"), Some("address-in-use"), None),
    ]
}

#[test]
fn every_case_classifies_as_expected() {
    let c = classifier();
    for (lines, id, variant) in cases() {
        let got = c.classify(&lines);
        let got_id = got
            .as_ref()
            .and_then(|g| g.signature)
            .map(|i| c.catalog().signatures[i].id.as_str());
        assert_eq!(got_id, id, "{lines:?}");
        if id.is_some() {
            assert_eq!(got.unwrap().variant.as_deref(), variant, "{lines:?}");
        }
    }
}

#[test]
fn every_shipped_signature_has_a_case() {
    let c = classifier();
    let ids: Vec<&str> = cases()
        .iter()
        .filter_map(|(l, _, _)| c.classify(l).and_then(|g| g.signature))
        .map(|i| c.catalog().signatures[i].id.as_str())
        .collect();
    // The case corpus of the integration tests (`tests/corpus`) counts too; it runs each
    // case through the whole pipeline.
    let mut corpus = String::new();
    for e in walkdir::WalkDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus")) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            corpus.push_str(&std::fs::read_to_string(e.path()).unwrap());
        }
    }
    for s in &c.catalog().signatures {
        let in_corpus = corpus.contains(&format!("id = \"{}\"", s.id));
        assert!(
            ids.contains(&s.id.as_str()) || in_corpus,
            "no test case for {}",
            s.id
        );
    }
}

#[test]
fn anchors_are_required_by_their_patterns() {
    // Every case that a signature matches contains one of its anchors, so skipping records
    // without a prefilter hit never loses a match.
    let c = classifier();
    for (lines, _, _) in cases() {
        if let Some(i) = c.classify(&lines).and_then(|g| g.signature) {
            let s = &c.catalog().signatures[i];
            let text = lines.join("\n");
            assert!(
                s.anchors.iter().any(|a| text.contains(a.as_str())),
                "{}: {text}",
                s.id
            );
        }
    }
}

#[test]
fn websocket_variant_comes_from_the_application_frame_or_starlette() {
    let c = classifier();
    let lines = [
        "Traceback (most recent call last):",
        "  File \"/app/api/pam.py\", line 412, in websocket_endpoint",
        "    await websocket.send_json(message)",
        "  File \"/venv/lib/python3.11/site-packages/starlette/websockets.py\", line 198, in send_json",
        "    await self.send({})",
        "  File \"/venv/lib/python3.11/site-packages/starlette/websockets.py\", line 112, in send",
        "    raise RuntimeError('WebSocket is not connected. Need to call \"accept\" first.')",
        "RuntimeError: WebSocket is not connected. Need to call \"accept\" first.",
    ];
    let g = c.classify(&lines).unwrap();
    assert_eq!(g.variant.as_deref(), Some("send_json"));
    let loc = g.location.unwrap();
    assert_eq!(
        (loc.file.as_str(), loc.line, loc.function.as_str()),
        ("/app/api/pam.py", 412, "websocket_endpoint")
    );
    // Without the application's code line, the outermost Starlette frame names the method.
    let mut no_code: Vec<&str> = lines.to_vec();
    no_code[2] = "    await notify(message)";
    assert_eq!(
        c.classify(&no_code).unwrap().variant.as_deref(),
        Some("send_json")
    );
}

#[test]
fn unknown_exceptions_are_grouped_by_type_and_shape() {
    let c = classifier();
    let a = c
        .classify(&tb("KeyError: '8f14e45f-ceea-467a-9575-ab9c4f1b0d3e'"))
        .unwrap();
    let b = c
        .classify(&tb("KeyError: '1c383cd3-0b7c-4d0e-8f5a-6e2b9d1f7a44'"))
        .unwrap();
    assert_eq!(a.signature, None);
    assert_eq!(a.exception_type.as_deref(), Some("KeyError"));
    assert_eq!(a.message, b.message);
    // Names are kept: a missing key `user_id` and a missing key `trip_id` are two failures.
    let k1 = c.classify(&tb("KeyError: 'user_id'")).unwrap();
    let k2 = c.classify(&tb("KeyError: 'trip_id'")).unwrap();
    assert_ne!(k1.message, k2.message);
    assert_eq!(a.location.unwrap().line, 10);
    assert!(c
        .classify(&["2025-01-10 10:00:00,000 - app - INFO - ok"])
        .is_none());
}

#[test]
fn prefilter_finds_anchor_offsets() {
    let c = classifier();
    let buf =
        b"ok line\nRuntimeError: WebSocket is not connected. Need to call \"accept\" first.\n";
    let hits = c.prefilter(buf);
    assert_eq!(hits.len(), 1);
    assert!(hits.iter().all(|h| h.offset > 8 && !h.traceback));
    let tb = c.prefilter(b"x\nTraceback (most recent call last):\n");
    assert_eq!(
        tb,
        vec![Hit {
            offset: 2,
            traceback: true,
            level: false,
        }]
    );
    assert!(c.prefilter(b"2025-01-10 INFO all good\n").is_empty());
    // Level words are found as levels, not anchors.
    let lv = c.prefilter(b"2025-01-10 ERROR payment failed\n{\"level\":\"warn\"}\n");
    assert_eq!(lv.len(), 2, "{lv:?}");
    assert!(lv.iter().all(|h| h.level && !h.traceback));
}

#[test]
fn an_anchor_overlapping_a_level_word_is_still_found() {
    // `ERROR` would hide `RROR: disk` in a non-overlapping search.
    let mut cat = Catalog::builtin().unwrap();
    cat.add_str(
        std::path::Path::new("u.toml"),
        &one_signature(&["RROR: disk"], "RROR: disk full"),
    )
    .unwrap();
    let c = Classifier::new(cat);
    let hits = c.prefilter(b"x\nERROR: disk full\n");
    assert!(hits.iter().any(|h| !h.level && !h.traceback), "{hits:?}");
    assert!(hits.iter().any(|h| h.level), "{hits:?}");
}

fn one_signature(anchors: &[&str], pattern: &str) -> String {
    let mut s = toml::map::Map::new();
    s.insert("id".into(), "gen".into());
    s.insert("title".into(), "t".into());
    s.insert("severity".into(), "error".into());
    s.insert(
        "anchors".into(),
        toml::Value::Array(anchors.iter().map(|a| (*a).into()).collect()),
    );
    s.insert("pattern".into(), pattern.into());
    s.insert("remediation".into(), "r".into());
    let mut doc = toml::map::Map::new();
    doc.insert(
        "signature".into(),
        toml::Value::Array(vec![toml::Value::Table(s)]),
    );
    toml::to_string(&toml::Value::Table(doc)).unwrap()
}

/// Issue 16: an anchor inside the traceback literal (`Traceback`, `most recent call`) made
/// start-up panic (`expect("kept")`).
#[test]
fn anchors_inside_the_traceback_literal_work() {
    for anchor in [
        "Traceback",
        "most recent call",
        "Traceback (most recent call last):",
        "call last)",
    ] {
        let mut cat = Catalog::builtin().unwrap();
        cat.add_str(
            std::path::Path::new("u.toml"),
            &one_signature(&[anchor], &regex::escape(anchor)),
        )
        .unwrap();
        let c = Classifier::new(cat);
        let hits = c.prefilter(b"x\nTraceback (most recent call last):\n");
        assert!(hits.iter().any(|h| h.traceback), "{anchor}: {hits:?}");
        assert!(hits.iter().any(|h| !h.traceback), "{anchor}: {hits:?}");
        // Signatures read a record's messages (not the traceback header): a log line that
        // holds the anchor is found.
        let line = format!("2025-01-10 10:00:00,000 - app - ERROR - dumped to /tmp: {anchor}");
        let got = c.classify(&[line.as_str()]).unwrap();
        assert_eq!(
            c.catalog().signatures[got.signature.unwrap()].id,
            "gen",
            "{anchor}"
        );
    }
}

#[test]
fn an_anchor_the_pattern_does_not_need_is_rejected() {
    let sig = |anchors: &[&str], pattern: &str| {
        Catalog::default().add_str(
            std::path::Path::new("u.toml"),
            &one_signature(anchors, pattern),
        )
    };
    assert!(sig(&["boom"], r"boom \d+").is_ok());
    assert!(sig(
        &["was sent SIGKILL", "was sent SIGTERM"],
        r"was sent (?:SIGKILL|SIGTERM)"
    )
    .is_ok());
    assert!(sig(&["boom"], r"(?:boom|bang) \d+")
        .unwrap_err()
        .to_string()
        .contains("none of the anchors"));
    assert!(sig(&["boom"], r"(?i)boom").is_err());
    assert!(sig(&["boom"], r"(?:boom)?x").is_err());
    assert!(sig(&["boom"], r"(?:boom)+").is_ok());
    assert!(sig(&["Need to call"], r#"Need to call ["']?accept"#).is_ok());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// No pattern file panics start-up or a scan: it loads, or it is refused with an error.
    #[test]
    fn no_pattern_file_panics(
        anchors in proptest::collection::vec("[ -~]{0,40}", 0..4),
        pattern in "[ -~]{0,60}",
        inside in proptest::bool::ANY,
        text in "[ -~\n]{0,200}",
    ) {
        // Half the cases take the anchors from the pattern, so that more files load.
        let anchors: Vec<String> = if inside && pattern.len() >= 4 {
            vec![pattern.replace(['"', '\\'], "")]
        } else {
            anchors
        };
        let refs: Vec<&str> = anchors.iter().map(String::as_str).collect();
        let file = one_signature(&refs, &pattern);
        let mut cat = Catalog::builtin().unwrap();
        if cat.add_str(std::path::Path::new("gen.toml"), &file).is_ok() {
            let c = Classifier::new(cat);
            let buf = format!("{text}\nTraceback (most recent call last):\n{}\n", anchors.join(" "));
            let _ = c.prefilter(buf.as_bytes());
            let lines: Vec<&str> = buf.lines().collect();
            let _ = c.classify(&lines);
        }
    }

    /// The anchors checked as a literal pattern always load: a literal is its own anchor.
    #[test]
    fn a_literal_pattern_with_itself_as_anchor_loads(lit in "[a-zA-Z0-9 ._:'-]{4,40}") {
        let file = one_signature(&[&lit], &regex::escape(&lit));
        let mut cat = Catalog::builtin().unwrap();
        proptest::prop_assert!(cat.add_str(std::path::Path::new("gen.toml"), &file).is_ok());
        let c = Classifier::new(cat);
        let text = format!("x {lit} y");
        let got = c.classify(&[text.as_str()]);
        proptest::prop_assert!(got.is_some_and(|g| g.signature.is_some()));
    }
}
