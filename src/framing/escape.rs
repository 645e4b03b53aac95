//! Terminal escape sequences in the input: coloured output (docker compose's service prefix,
//! uvicorn's and structlog's coloured levels) carries `ESC [ ... m` around the text. They
//! are removed before framing, so such a line is framed and classified like its plain twin.

/// `buf` without its terminal escape sequences: CSI (`ESC [` parameters, intermediates and
/// a final byte: colours, cursor moves), OSC (`ESC ]` up to BEL or `ESC \`: titles,
/// hyperlinks) and two-byte escapes (`ESC (B`, `ESC =`). A sequence never runs past the end
/// of its line: an unterminated one ends there and the newline is kept.
pub fn strip_escapes(buf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len());
    let mut rest = buf;
    while let Some(i) = memchr::memchr(0x1b, rest) {
        out.extend_from_slice(&rest[..i]);
        rest = &rest[i + escape_len(&rest[i..])..];
    }
    out.extend_from_slice(rest);
    out
}

/// The length of the escape sequence at the start of `s` (which starts with ESC).
fn escape_len(s: &[u8]) -> usize {
    let stop = |i: usize| i >= s.len() || s[i] == b'\n';
    match s.get(1) {
        Some(b'[') => {
            let mut i = 2;
            while !stop(i) && (0x20..=0x3f).contains(&s[i]) {
                i += 1;
            }
            if !stop(i) && (0x40..=0x7e).contains(&s[i]) {
                i += 1;
            }
            i
        }
        Some(b']') => {
            let mut i = 2;
            while !stop(i) {
                match s[i] {
                    0x07 => return i + 1,
                    0x1b if s.get(i + 1) == Some(&b'\\') => return i + 2,
                    _ => i += 1,
                }
            }
            i
        }
        // `ESC (B` selects a character set: three bytes.
        Some(b'(' | b')') if s.len() > 2 && s[2] != b'\n' => 3,
        Some(b'\n') | None => 1,
        Some(_) => 2,
    }
}

/// `s` as a terminal may show it: escape sequences removed, other control characters (but
/// tab) replaced by U+FFFD, so text from a log cannot move the cursor, retitle the window
/// or hide itself.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(s);
    }
    let stripped = String::from_utf8(strip_escapes(s.as_bytes()))
        .expect("removing ASCII sequences keeps UTF-8 valid");
    stripped
        .chars()
        .map(|c| match c {
            '\t' => '\t',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(s: &str) -> String {
        String::from_utf8(strip_escapes(s.as_bytes())).unwrap()
    }

    #[test]
    fn coloured_lines_read_as_plain() {
        let cases = [
            (
                "\x1b[36mapi-1  |\x1b[0m 2025-01-10 08:31:50 ERROR boom\n",
                "api-1  | 2025-01-10 08:31:50 ERROR boom\n",
            ),
            ("\x1b[32mINFO\x1b[0m:     started\n", "INFO:     started\n"),
            ("\x1b[1;31;48;5;236mbold red\x1b[m\n", "bold red\n"),
            (
                "\x1b]8;;http://x\x07link\x1b]8;;\x1b\\ text\n",
                "link text\n",
            ),
            ("\x1b(Bcharset\n", "charset\n"),
            ("no escapes at all\n", "no escapes at all\n"),
        ];
        for (input, want) in cases {
            assert_eq!(strip(input), want, "{input:?}");
        }
    }

    #[test]
    fn an_unterminated_sequence_stops_at_its_line() {
        assert_eq!(strip("a\x1b[31\nnext line\n"), "a\nnext line\n");
        assert_eq!(strip("a\x1b]0;title\nnext\n"), "a\nnext\n");
        assert_eq!(strip("end\x1b"), "end");
        assert_eq!(strip("a\x1b\nb\n"), "a\nb\n");
    }

    #[test]
    fn printable_removes_what_moves_the_terminal() {
        assert_eq!(printable("plain text"), "plain text");
        assert_eq!(printable("red \x1b[31mALERT\x1b[0m"), "red ALERT");
        assert_eq!(printable("bell\x07 cr\r x"), "bell\u{fffd} cr\u{fffd} x");
        assert_eq!(printable("tab\tkept"), "tab\tkept");
    }
}
