//! A hand-written reader for the ingress-nginx access line, equal to the built-in
//! `ingress-nginx` layout's regex (the specification) on the lines it answers.
//!
//! `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
//! "$http_referer" "$http_user_agent" $request_length $request_time [...` — the regex's
//! onepass DFA was 42% of a one-thread run on `kubectl logs` output where every other line
//! is one of these (perf); this reader walks the same fields once. The regex is onepass (each
//! step has one way to go on), so a greedy left-to-right walk takes the regex's path. Lines
//! with a non-ASCII byte before the latency are left to the regex (Unicode `\S` and `\d`).

use std::ops::Range;

/// The capture groups of a layout match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Groups {
    pub method: Range<usize>,
    pub path: Range<usize>,
    pub status: Range<usize>,
    pub latency: Option<Range<usize>>,
    pub unit: Option<Range<usize>>,
}

impl Groups {
    /// The groups of a layout regex's match (`method`, `path`, `status` are required).
    pub(crate) fn from_captures(c: &regex::bytes::Captures<'_>) -> Option<Groups> {
        Some(Groups {
            method: c.name("method")?.range(),
            path: c.name("path")?.range(),
            status: c.name("status")?.range(),
            latency: c.name("latency").map(|m| m.range()),
            unit: c.name("unit").map(|m| m.range()),
        })
    }
}

/// What a hand-written reader says about a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fast {
    /// The regex matches, with these groups.
    Match(Groups),
    /// The regex does not match.
    NoMatch,
    /// Not decided here (non-ASCII): ask the regex.
    Unsure,
}

/// A walk over an ASCII line; each step fails the match (`None`) when the regex would.
struct Walk<'a> {
    b: &'a [u8],
    i: usize,
    ascii: bool,
}

impl Walk<'_> {
    fn byte(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    fn lit(&mut self, s: &[u8]) -> Option<()> {
        self.b[self.i..].starts_with(s).then(|| self.i += s.len())
    }

    /// The longest run (at least `min`) of bytes that satisfy `f`; a non-ASCII byte ends the
    /// walk as undecided.
    fn run(&mut self, min: usize, f: impl Fn(u8) -> bool) -> Option<Range<usize>> {
        let s = self.i;
        while let Some(&c) = self.b.get(self.i) {
            if c >= 0x80 {
                self.ascii = false;
                return None;
            }
            if !f(c) {
                break;
            }
            self.i += 1;
        }
        (self.i - s >= min).then_some(s..self.i)
    }
}

fn not_space(c: u8) -> bool {
    !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `^\S+ - \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) \d+
/// "[^"]*" "[^"]*" \d+ (?P<latency>\d+(?:\.\d+)?) \[`
pub(crate) fn ingress_nginx(line: &[u8]) -> Fast {
    let mut w = Walk {
        b: line,
        i: 0,
        ascii: true,
    };
    match walk(&mut w) {
        Some(g) => Fast::Match(g),
        None if w.ascii => Fast::NoMatch,
        None => Fast::Unsure,
    }
}

fn walk(w: &mut Walk<'_>) -> Option<Groups> {
    let digit = |c: u8| c.is_ascii_digit();
    w.run(1, not_space)?;
    w.lit(b" - ")?;
    w.run(1, not_space)?;
    w.lit(b" [")?;
    w.run(1, |c| c != b']')?;
    w.lit(b"] \"")?;
    let method = w.run(1, |c| c.is_ascii_uppercase())?;
    w.byte(b' ')?;
    let path = w.run(1, not_space)?;
    w.byte(b' ')?;
    w.run(0, |c| c != b'"')?;
    w.lit(b"\" ")?;
    let status = w.run(3, digit)?;
    if status.len() != 3 {
        return None;
    }
    w.byte(b' ')?;
    w.run(1, digit)?;
    w.lit(b" \"")?;
    w.run(0, |c| c != b'"')?;
    w.lit(b"\" \"")?;
    w.run(0, |c| c != b'"')?;
    w.lit(b"\" ")?;
    w.run(1, digit)?;
    w.byte(b' ')?;
    let int = w.run(1, digit)?;
    let mut latency = int.clone();
    if w.b.get(w.i) == Some(&b'.') {
        match w.b.get(w.i + 1) {
            Some(c) if c.is_ascii_digit() => {
                w.i += 1;
                latency.end = w.run(1, digit)?.end;
            }
            // A Unicode digit would continue the number for the regex.
            Some(c) if *c >= 0x80 => {
                w.ascii = false;
                return None;
            }
            _ => {}
        }
    }
    w.lit(b" [")?;
    Some(Groups {
        method,
        path,
        status,
        latency: Some(latency),
        unit: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::bytes::Regex;

    /// The built-in layout's regex, read from the shipped pattern file.
    fn spec() -> Regex {
        let file: toml::Value =
            toml::from_str(include_str!("../../patterns/requests.toml")).unwrap();
        let layout = file["layout"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"].as_str() == Some("ingress-nginx"))
            .unwrap();
        Regex::new(layout["pattern"].as_str().unwrap()).unwrap()
    }

    fn by_regex(re: &Regex, line: &[u8]) -> Option<Groups> {
        Groups::from_captures(&re.captures(line)?)
    }

    const LINE: &str = r#"10.82.212.177 - - [10/Jan/2025:06:01:14 +0000] "GET /api/v1/users/49195/profile HTTP/1.1" 200 8552 "-" "Mozilla/5.0 (X11; Linux x86_64)" 695 0.007 [default-backend-8000] [] 10.0.3.17:8000 2638 0.007 200 ac81d075946f69ebc190d1df9182fbfa"#;

    #[test]
    fn reads_the_line_like_the_regex() {
        let re = spec();
        let Fast::Match(g) = ingress_nginx(LINE.as_bytes()) else {
            panic!("no match");
        };
        assert_eq!(Some(g.clone()), by_regex(&re, LINE.as_bytes()));
        assert_eq!(&LINE[g.path], "/api/v1/users/49195/profile");
        assert_eq!(&LINE[g.latency.unwrap()], "0.007");
    }

    proptest::proptest! {
        /// Any edit of a real line (bytes replaced, inserted or removed, from an alphabet of
        /// the format's delimiters, digits, letters and a non-ASCII byte): wherever the reader
        /// decides, it decides like the regex.
        #[test]
        fn edits_decide_like_the_regex(
            edits in proptest::collection::vec(
                (0usize..200, 0u8..4, proptest::sample::select(
                    b" -[]\"0123456789.AGETxyz/\t\xc3\xa9:".to_vec(),
                )),
                0..6,
            )
        ) {
            let mut line = LINE.as_bytes().to_vec();
            for (at, op, c) in edits {
                let at = at.min(line.len());
                match op {
                    0 if at < line.len() => line[at] = c,
                    1 => line.insert(at, c),
                    2 if at < line.len() => {
                        line.remove(at);
                    }
                    _ => line.truncate(at),
                }
            }
            let re = spec();
            match ingress_nginx(&line) {
                Fast::Match(g) => proptest::prop_assert_eq!(Some(g), by_regex(&re, &line)),
                Fast::NoMatch => proptest::prop_assert_eq!(None, by_regex(&re, &line)),
                Fast::Unsure => {}
            }
        }
    }
}
