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
const TRACE_KEYS: [&str; 5] = ["exception", "exc_info", "stack", "error", "stack_trace"];

/// Parses a JSON line. Returns `None` when it is not a JSON object.
pub fn expand_json(line: &[u8]) -> Option<JsonRecord> {
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
    for k in TRACE_KEYS {
        match obj.get(k) {
            Some(Value::String(s)) if !s.is_empty() => {
                rec.traceback |= s.contains("Traceback (most recent call last):");
                rec.lines.extend(s.lines().map(str::to_owned));
                detail = true;
            }
            Some(Value::Array(a)) => {
                // loguru-style lists of lines
                for item in a.iter().filter_map(Value::as_str) {
                    rec.traceback |= item.contains("Traceback (most recent call last):");
                    rec.lines.extend(item.lines().map(str::to_owned));
                    detail = true;
                }
            }
            _ => {}
        }
    }
    if !detail && rec.lines.is_empty() {
        // No known field: keep the raw line, so a signature that lives in another field can
        // still be found.
        rec.lines.push(String::from_utf8_lossy(line).into_owned());
    }
    Some(rec)
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
