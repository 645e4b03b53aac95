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

/// Replaces quoted values with `<str>`, UUIDs with `<id>`, hex with `<hex>` and numbers with
/// `<num>`, and cuts the result at 200 characters.
///
/// Hex means `0x...` or a word mixing digits and the letters a-f of at least 8 characters;
/// shorter mixed words (`e2e`, `b64`) stay as they are.
pub fn normalize_message(msg: &str) -> String {
    let out = VOLATILE.replace_all(msg.trim(), |c: &regex::Captures<'_>| {
        if c.name("q").is_some() {
            "<str>".to_string()
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

#[cfg(test)]
mod tests {
    use super::normalize_message as n;

    #[test]
    fn replaces_volatile_parts() {
        assert_eq!(n("'user_id'"), "<str>");
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
