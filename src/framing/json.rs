//! JSON log lines: the message and an embedded traceback, as lines.
//!
//! structlog, python-json-logger and loguru's `serialize=True` put the traceback in a string
//! field (`exception`, `exc_info`, `stack`, `error`). Expanding it into lines lets the classifier
//! read a JSON record exactly as it reads a plain-text one. Only records that need it (a
//! prefilter hit or a traceback) are parsed; the framer finds a JSON line's time without parsing.

use serde_json::Value;

/// The parts of a JSON log line the classifier reads.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JsonRecord {
    /// The event text (`event`, `message`, `msg`, `log`), then the traceback's lines.
    pub lines: Vec<String>,
    /// Whether a traceback was found in a string field.
    pub traceback: bool,
}

const MESSAGE_KEYS: [&str; 4] = ["event", "message", "msg", "log"];
/// The fields loggers put a traceback in: structlog and python-json-logger (`exception`,
/// `exc_info`, `exc_text`), loguru, Django and custom formatters (`exc`, `traceback`, `stack`,
/// `err`), ECS (`error.stack_trace`) and OpenTelemetry (`exception.stacktrace`). A dotted
/// name is looked up as one key, then as a path; an object under a name is searched for the
/// same names one level down. Pattern files add names with `[json] trace_fields`.
const TRACE_KEYS: [&str; 13] = [
    "exception",
    "exc_info",
    "exc_text",
    "exc",
    "traceback",
    "stack",
    "stack_trace",
    "stacktrace",
    "err",
    "error",
    "error.stack_trace",
    "exception.stacktrace",
    "error.stack",
];

/// Parses a JSON line. Returns `None` when it is not a JSON object.
pub fn expand_json(line: &[u8]) -> Option<JsonRecord> {
    expand_json_with(line, &[])
}

/// Like [`expand_json`], also reading a traceback from the fields named in `extra`.
pub fn expand_json_with(line: &[u8], extra: &[String]) -> Option<JsonRecord> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let obj = v.as_object()?;
    let mut rec = JsonRecord::default();
    for k in MESSAGE_KEYS {
        if let Some(Value::String(s)) = obj.get(k) {
            rec.lines.extend(s.lines().map(str::to_owned));
            break;
        }
    }
    let mut detail = false;
    let keys: Vec<&str> = TRACE_KEYS
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect();
    for k in &keys {
        // A dotted path under a name that is itself read (`error.stack` under `error`) was
        // read with it.
        let under_read = !obj.contains_key(*k)
            && k.split_once('.')
                .is_some_and(|(head, _)| keys.contains(&head) && obj.contains_key(head));
        if under_read {
            continue;
        }
        if let Some(v) = lookup(obj, k) {
            detail |= take_trace(v, &mut rec, true);
        }
    }
    if !detail && rec.lines.is_empty() {
        // No known field: keep the raw line, so a signature that lives in another field can
        // still be found.
        rec.lines.push(String::from_utf8_lossy(line).into_owned());
    }
    Some(rec)
}

/// The value under `key`: the key itself, else its dotted path.
fn lookup<'v>(obj: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    if let Some(v) = obj.get(key) {
        return Some(v);
    }
    let (head, rest) = key.split_once('.')?;
    match obj.get(head)? {
        Value::Object(o) => lookup(o, rest),
        _ => None,
    }
}

/// Adds a traceback field's lines to `rec`; an object is searched one level down.
fn take_trace(v: &Value, rec: &mut JsonRecord, nested: bool) -> bool {
    match v {
        Value::String(s) if !s.is_empty() => {
            rec.traceback |= s.contains("Traceback (most recent call last):");
            rec.lines.extend(s.lines().map(str::to_owned));
            true
        }
        Value::Array(a) => {
            // loguru-style lists of lines
            let mut any = false;
            for item in a.iter().filter_map(Value::as_str) {
                rec.traceback |= item.contains("Traceback (most recent call last):");
                rec.lines.extend(item.lines().map(str::to_owned));
                any = true;
            }
            any
        }
        Value::Object(o) if nested => {
            // `{"type": "KeyError", "message": "'x'", "stack_trace": "..."}`: the trace if
            // there is one, else `type: message` as an exception line.
            let mut any = false;
            for k in TRACE_KEYS.iter().filter(|k| !k.contains('.')) {
                if let Some(inner) = o.get(*k) {
                    any |= take_trace(inner, rec, false);
                }
            }
            if !any {
                let ty = o.get("type").and_then(Value::as_str);
                let msg = o.get("message").and_then(Value::as_str);
                if let (Some(ty), Some(msg)) = (ty, msg) {
                    rec.lines.push(format!("{ty}: {msg}"));
                    any = true;
                }
            }
            any
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceback_in_exception_field() {
        let line = br#"{"timestamp":"2025-01-10T06:05:07.317Z","event":"Exception in ASGI application","exception":"Traceback (most recent call last):\n  File \"/app/a.py\", line 45, in f\n    g()\nhttpx.ReadTimeout: timed out"}"#;
        let r = expand_json(line).unwrap();
        assert!(r.traceback);
        assert_eq!(r.lines[0], "Exception in ASGI application");
        assert_eq!(r.lines[1], "Traceback (most recent call last):");
        assert_eq!(r.lines.last().unwrap(), "httpx.ReadTimeout: timed out");
    }

    /// Issue 16: loggers name the traceback field in many ways.
    #[test]
    fn traceback_fields_by_other_names_nested_and_configured() {
        let tb = "Traceback (most recent call last):\\n  File \\\"/a.py\\\", line 3, in f\\nKeyError: 'x'";
        for key in [
            "exc",
            "traceback",
            "stack_trace",
            "err",
            "exc_text",
            "stacktrace",
        ] {
            let line = format!(r#"{{"msg":"boom","{key}":"{tb}"}}"#);
            let r = expand_json(line.as_bytes()).unwrap();
            assert!(r.traceback, "{key}");
            assert_eq!(r.lines.last().unwrap(), "KeyError: 'x'", "{key}");
        }
        // ECS, nested and flattened; read once.
        let nested =
            format!(r#"{{"message":"boom","error":{{"type":"KeyError","stack_trace":"{tb}"}}}}"#);
        let r = expand_json(nested.as_bytes()).unwrap();
        assert!(r.traceback);
        assert_eq!(
            r.lines
                .iter()
                .filter(|l| l.starts_with("Traceback"))
                .count(),
            1
        );
        let flat = format!(r#"{{"message":"boom","error.stack_trace":"{tb}"}}"#);
        assert!(expand_json(flat.as_bytes()).unwrap().traceback);
        // A field only a pattern file names, as a path.
        let custom = format!(r#"{{"msg":"boom","details":{{"trace":"{tb}"}}}}"#);
        assert!(!expand_json(custom.as_bytes()).unwrap().traceback);
        let r = expand_json_with(custom.as_bytes(), &["details.trace".to_string()]).unwrap();
        assert!(r.traceback);
    }

    #[test]
    fn not_json() {
        assert!(expand_json(b"{not json").is_none());
        assert!(expand_json(b"[1,2]").is_none());
    }

    #[test]
    fn no_message_field_keeps_raw_line() {
        let r = expand_json(br#"{"a":"WORKER TIMEOUT"}"#).unwrap();
        assert_eq!(r.lines, vec![r#"{"a":"WORKER TIMEOUT"}"#.to_string()]);
    }
}
