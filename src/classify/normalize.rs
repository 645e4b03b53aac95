//! Normalizing exception messages so that unknown failures group by shape, not by value.

use regex::Regex;
use std::sync::LazyLock;

static VOLATILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r#"(?P<q>'[^']*'|"[^"]*")"#,
        r"|(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)",
        r"|(?P<hex>\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]*[0-9][0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b|\b[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*[0-9][0-9a-fA-F]*\b)",
        r"|(?P<num>-?\b\d+(?:\.\d+)?)",
    ))
    .unwrap()
});

/// Masks the variable parts of a message, as Sentry groups: quoted data with `<str>`, UUIDs
/// with `<id>`, hex with `<hex>` and numbers with `<num>`; cuts the result at 200 characters.
///
/// A quoted name (a type, attribute, key or module: `'datetime.datetime'`, `'AGENTOPS_API_KEY'`)
/// and a quoted operator (`'<'`) are kept: they tell one failure from another, where a quoted
/// sentence, path or number is data.
///
/// Hex means `0x...` or a word mixing digits and the letters a-f of at least 8 characters;
/// shorter mixed words (`e2e`, `b64`) stay as they are.
pub fn normalize_message(msg: &str) -> String {
    let out = VOLATILE.replace_all(msg.trim(), |c: &regex::Captures<'_>| {
        if let Some(q) = c.name("q") {
            let inner = &q.as_str()[1..q.as_str().len() - 1];
            if is_name(inner) || is_operator(inner) {
                q.as_str().to_string()
            } else {
                "<str>".to_string()
            }
        } else if c.name("uuid").is_some() {
            "<id>".to_string()
        } else if let Some(h) = c.name("hex") {
            if h.as_str().starts_with("0x") || h.as_str().len() >= 8 {
                "<hex>".to_string()
            } else {
                h.as_str().to_string()
            }
        } else {
            "<num>".to_string()
        }
    });
    let mut s = out.into_owned();
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// A dotted identifier of at most 64 bytes whose parts do not start with a digit and that is
/// not hex (`'user_id'`, `'pydantic_core._pydantic_core.Url'`).
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|p| {
            p.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && p.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
        && !(s.len() >= 8 && s.chars().all(|c| c.is_ascii_hexdigit()))
        && s.chars().filter(char::is_ascii_digit).count() * 2 < s.len()
}

/// An operator such as `'-'`, `'<='` or `'**'`.
fn is_operator(s: &str) -> bool {
    !s.is_empty() && s.len() <= 3 && s.chars().all(|c| "+-*/%<>=!&|^@~".contains(c))
}

#[cfg(test)]
mod tests {
    use super::normalize_message as n;

    #[test]
    fn replaces_volatile_parts() {
        assert_eq!(n("'user_id'"), "'user_id'");
        assert_eq!(n("'hello world'"), "<str>");
        assert_eq!(n("'/tmp/x.txt'"), "<str>");
        assert_eq!(n("'12345'"), "<str>");
        assert_eq!(n("'a1b2c3d4e5'"), "<str>");
        assert_eq!(
            n("unsupported operand type(s) for -: 'datetime.datetime' and 'int'"),
            "unsupported operand type(s) for -: 'datetime.datetime' and 'int'"
        );
        assert_eq!(
            n("'<' not supported between instances of 'str' and 'int'"),
            "'<' not supported between instances of 'str' and 'int'"
        );
        assert_eq!(
            n("connection 42 closed after 1.5s"),
            "connection <num> closed after <num>s"
        );
        assert_eq!(n("object at 0x7f3a2b1c"), "object at <hex>");
        assert_eq!(n("request 3f2a9c1e8b7d6a5f failed"), "request <hex> failed");
        assert_eq!(n("id 123e4567-e89b-12d3-a456-426614174000"), "id <id>");
        assert_eq!(n("timed out"), "timed out");
        assert_eq!(n("e2e test"), "e2e test");
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let s = n(&"é".repeat(300));
        assert!(s.len() <= 204 && s.ends_with('…'));
    }
}
