//! Template mining: every message gets a template, its constant tokens kept and its variable
//! ones masked as `<*>`.
//!
//! Two stages. **Masking**, per line and in parallel: tokens are split on whitespace, and
//! within a token every alphanumeric run holding a digit (a number, an id, a hex hash, an IP's
//! octet) becomes `<*>`; runs joined by `.`, `_` or `-` become one (`appattempt_<*>`,
//! `/<*>:<*>` for an address and port). Lines with the same masked form are one *shape*.
//! **Clustering**, once over the distinct shapes: shapes of the same length whose first
//! token agrees are merged, Drain-style, when at least half their tokens agree; the tokens
//! where they differ become `<*>` (user names, host names, words that vary).
//!
//! The shapes are clustered in an order that depends only on their counts and text, so the
//! templates, and their ids (a hash of the template's text), are the same for any thread
//! count or chunk size.

use std::collections::BTreeMap;

mod change;
mod records;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::framing::Nanos;

pub use change::{rise, Rise};
pub(crate) use records::Shaper;

/// The mask of a variable token.
pub const WILDCARD: &str = "<*>";

/// Fraction of a shape's tokens that must agree with a cluster's for it to join.
const SIMILARITY: f64 = 0.5;

/// Distinct words at one position, the templates otherwise alike, that make it a variable
/// (user names); fewer are kept apart (states: `VM Started`, `VM Paused`).
const MANY_WORDS: usize = 10;

/// Byte classes of [`mask`]: a space, a byte of a compound word (letters, `.`, `-`, `_`), a
/// digit, anything else (punctuation and every byte of a non-ASCII character).
const SPACE: u8 = 0;
const OTHER: u8 = 1;
const WORD: u8 = 2;
const DIGIT: u8 = 3;

static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c => SPACE,
            b'0'..=b'9' => DIGIT,
            b'a'..=b'z' | b'A'..=b'Z' | b'.' | b'-' | b'_' => WORD,
            _ => OTHER,
        };
        b += 1;
    }
    t
};

/// Appends the masked form of `msg` to `out` (see the module's documentation).
///
/// One pass over the bytes with a class table: words are ASCII, so every cut falls on a
/// character boundary, and the rest of the text (punctuation, any non-ASCII character) is
/// copied as it is.
pub fn mask(msg: &str, out: &mut String) {
    let b = msg.as_bytes();
    let (mut i, mut started, mut space) = (0, false, false);
    while i < b.len() {
        let start = i;
        let class = CLASS[b[i] as usize];
        if class == SPACE {
            space = started;
            i += 1;
            continue;
        }
        let mut digit = false;
        if class == OTHER {
            while i < b.len() && CLASS[b[i] as usize] == OTHER {
                i += 1;
            }
        } else {
            while i < b.len() && CLASS[b[i] as usize] >= WORD {
                digit |= CLASS[b[i] as usize] == DIGIT;
                i += 1;
            }
            // A sentence's `.` (or a trailing `-`, `_`) is punctuation, not the word's: it is
            // read again as a word of its own.
            while i > start + 1 && matches!(b[i - 1], b'.' | b'-' | b'_') {
                i -= 1;
            }
        }
        if space {
            out.push(' ');
            space = false;
        }
        started = true;
        let word = &msg[start..i];
        if class != OTHER && b[i..].starts_with(b"://") {
            i += url_rest(word, &b[i..], out);
            continue;
        }
        if class == OTHER || (!digit && !host_before_port(word, &b[i..])) || numbered_name(word) {
            out.push_str(word);
            continue;
        }
        if digit {
            mask_word(word, out);
            i += magnitude_unit(word, &b[i..]);
        } else {
            push_wildcard(out);
        }
    }
}

/// Appends a URL (`word` its scheme, `rest` from its `://` on) and returns the bytes of
/// `rest` it took: up to a space, a quote or a bracket, without the punctuation that ends a
/// sentence. One with a digit in it (an address, a port, an id) is `scheme://<*>`; one
/// without is kept (`https://example.com/health`).
fn url_rest(word: &str, rest: &[u8], out: &mut String) -> usize {
    let mut end = rest
        .iter()
        .position(|c| c.is_ascii_whitespace() || b"\"'<>()[]{}".contains(c))
        .unwrap_or(rest.len());
    while end > 3 && b".,;:".contains(&rest[end - 1]) {
        end -= 1;
    }
    out.push_str(word);
    match rest[..end].iter().any(u8::is_ascii_digit) {
        true => {
            out.push_str("://");
            out.push_str(WILDCARD);
        }
        // `rest` is ASCII up to `end` or cut before a multi-byte character's first byte.
        false => out.push_str(&String::from_utf8_lossy(&rest[..end])),
    }
    end
}

/// Whether a word with a digit is a name with a short number (`en0`, `wl0`, `IPv6`,
/// `SOCKS5`, `NAT64`): at least two letters, then one or two digits, and nothing else.
/// Such a word is kept; where it varies ([`digits_apart`]) clustering makes it `<*>`.
fn numbered_name(word: &str) -> bool {
    let b = word.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let digits = b.len() - letters;
    letters >= 2 && (1..=2).contains(&digits) && b[letters..].iter().all(u8::is_ascii_digit)
}

/// Whether a word without digits is a host name before a port (`proxy.example.com:5070`):
/// three or more dotted labels, then `:` and a digit. A host is a value; a dotted name
/// before anything else (`com.apple.xpc:`, `org.example.Main`) is not.
fn host_before_port(word: &str, rest: &[u8]) -> bool {
    rest.len() >= 2
        && rest[0] == b':'
        && rest[1].is_ascii_digit()
        && word.split('.').filter(|l| !l.is_empty()).count() >= 3
}

/// The bytes of a magnitude unit that follows a number (`877.0 B`, `4.4 KB)`) and is part of
/// its value: the unit changes with the magnitude, so it is masked with the number. Units
/// that do not (`bytes`, `ms`, `seconds`) stay words.
fn magnitude_unit(number: &str, rest: &[u8]) -> usize {
    const UNITS: [&[u8]; 10] = [
        b"B", b"KB", b"MB", b"GB", b"TB", b"KiB", b"MiB", b"GiB", b"TiB", b"kB",
    ];
    if !number.bytes().all(|c| c.is_ascii_digit() || c == b'.') || rest.first() != Some(&b' ') {
        return 0;
    }
    let word = rest[1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    match UNITS.contains(&&rest[1..1 + word]) {
        true => 1 + word,
        false => 0,
    }
}

/// Whether two different words are names in one dotted namespace (`com.apple.CacheDelete:`
/// and `com.apple.Safari.Update:`): they share two or more leading labels.
fn dotted_kin(a: &str, b: &str) -> bool {
    let same = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    !a.contains(WILDCARD) && !b.contains(WILDCARD) && a[..same].matches('.').count() >= 2
}

/// Whether two different words are one name with different numbers (`en0` and `en1`).
fn digits_apart(a: &str, b: &str) -> bool {
    // What follows the number (`en0:`) must agree too.
    let end = |w: &str| {
        w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
            .len()
    };
    let (ea, eb) = (end(a), end(b));
    if a[ea..] != b[eb..] {
        return false;
    }
    let stem = |w: &str| w.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (sa, sb) = (stem(&a[..ea]), stem(&b[..eb]));
    sa < ea && sb < eb && a[..sa] == b[..sb] && sa > 0 && !a.contains(WILDCARD)
}

/// Appends a compound word that holds a digit, masked: its leading `name_` parts kept
/// (`attempt_<*>`, `blk_<*>`), the rest one `<*>` (a number, an address, a host name with a
/// number, an id).
fn mask_word(word: &str, out: &mut String) {
    let b = word.as_bytes();
    // Numbers joined by dashes (a date) keep their dashes: `<*>-<*>-<*>`. (A UUID, or a
    // host name with a number, is one value.)
    let (mut dashes, mut dated) = (0, b[0].is_ascii_digit());
    for (k, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' | b'_' | b'.' => {}
            b'-' => {
                dashes += 1;
                dated &= b.get(k + 1).is_some_and(u8::is_ascii_digit);
            }
            _ => {
                dated = false;
                break;
            }
        }
    }
    if dated && dashes > 0 {
        push_wildcard(out);
        for _ in 0..dashes {
            out.push('-');
            out.push_str(WILDCARD);
        }
        return;
    }
    // Leading `name_` parts.
    let (mut keep, mut k) = (0, 0);
    while k < b.len() {
        let run = b[k..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        if run == 0 || b.get(k + run) != Some(&b'_') {
            break;
        }
        k += run + 1;
        keep = k;
    }
    out.push_str(&word[..keep]);
    push_wildcard(out);
}

/// Appends `<*>`, or extends the `<*>` that `out` ends with when only a `.`, `_` or `-`
/// separates them.
fn push_wildcard(out: &mut String) {
    let joined = out.len() > WILDCARD.len()
        && out.ends_with(['.', '_', '-'])
        && out[..out.len() - 1].ends_with(WILDCARD);
    if joined {
        out.pop();
    } else if !out.ends_with(WILDCARD) {
        out.push_str(WILDCARD);
    }
}

/// A stable id of a template: 8 hex digits of its text's FNV-1a hash.
pub fn template_id(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", (h >> 32) as u32 ^ h as u32)
}

/// One mined template.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Template {
    /// [`template_id`] of its text.
    pub id: String,
    /// Its tokens joined by spaces, variable ones `<*>`.
    pub template: String,
    /// Lines it covers.
    pub count: u64,
    /// Its lines by level (`-`: none found in the line's first tokens).
    pub levels: BTreeMap<String, u64>,
    /// Its earliest line's time, RFC 3339 UTC (lines without a leading time have none).
    pub first_seen: Option<String>,
    /// Its latest line's time.
    pub last_seen: Option<String>,
    /// Its first line in the input, as written.
    pub example: String,
}

/// The lines of some text mined: the templates, most frequent first, and each line's.
#[derive(Debug, Clone, Default)]
pub struct Mined {
    /// The templates, by count (most first), then text.
    pub templates: Vec<Template>,
    /// Each line's template: an index into `templates`.
    pub lines: Vec<u32>,
}

/// One distinct masked line: how many lines, its first line, their first and last time.
struct Shape {
    text: String,
    count: u64,
    example: String,
    first: Option<Nanos>,
    last: Option<Nanos>,
}

impl Shape {
    fn see(&mut self, count: u64, first: Option<Nanos>, last: Option<Nanos>) {
        self.count += count;
        self.first = min_time(self.first, first);
        self.last = self.last.max(last);
    }
}

/// The earlier of two times, either missing.
fn min_time(a: Option<Nanos>, b: Option<Nanos>) -> Option<Nanos> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        _ => a.or(b),
    }
}

/// One chunk's lines masked: its distinct shapes in order of first appearance, and each
/// line's shape.
struct Shapes {
    index: FxHashMap<String, u32>,
    shapes: Vec<Shape>,
    lines: Vec<u32>,
}

fn shapes_of(chunk: &str, strip_time: bool) -> Shapes {
    let mut s = Shapes {
        index: FxHashMap::default(),
        shapes: Vec::new(),
        lines: Vec::new(),
    };
    let mut buf = String::new();
    let mut tp = crate::framing::TimeParser::new();
    for line in chunk.lines() {
        buf.clear();
        let (time, rest) = crate::framing::split_leading_time(line.as_bytes(), &mut tp);
        let msg = match strip_time {
            // The time ends at an ASCII byte, so the rest starts at a character.
            true => &line[line.len() - rest.len()..],
            false => line,
        };
        mask(msg, &mut buf);
        let i = match s.index.get(buf.as_str()) {
            Some(&i) => i,
            None => {
                let i = s.shapes.len() as u32;
                s.index.insert(buf.clone(), i);
                s.shapes.push(Shape {
                    text: buf.clone(),
                    count: 0,
                    example: line.to_string(),
                    first: None,
                    last: None,
                });
                i
            }
        };
        s.shapes[i as usize].see(1, time, time);
        s.lines.push(i);
    }
    s
}

/// Whether a token may be cut between `a` (the text before) and `b` (the text after): at
/// punctuation or a wildcard, never inside an alphanumeric run.
fn boundary(before: &str, after: &str) -> bool {
    let end = before.chars().next_back();
    let start = after.chars().next();
    match (end, start) {
        (None, _) | (_, None) => true,
        (Some(e), Some(s)) => !(e.is_ascii_alphanumeric() && s.is_ascii_alphanumeric()),
    }
}

/// Two different tokens at one position, as one: what they share at the start and at the
/// end (cut at punctuation) kept, the middle `<*>` (`host-a:<*>` and `b.example:<*>` give
/// `<*>:<*>`).
fn merge_token(a: &str, b: &str) -> String {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let mut p = ab.iter().zip(bb).take_while(|(x, y)| x == y).count();
    while p > 0
        && !(a.is_char_boundary(p) && boundary(&a[..p], &a[p..]) && boundary(&b[..p], &b[p..]))
    {
        p -= 1;
    }
    let room = ab.len().min(bb.len()) - p;
    let mut q = ab
        .iter()
        .rev()
        .zip(bb.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
        .min(room);
    let cut = |s: &str, q: usize| s.len() - q;
    while q > 0
        && !(a.is_char_boundary(cut(a, q))
            && boundary(&a[..cut(a, q)], &a[cut(a, q)..])
            && boundary(&b[..cut(b, q)], &b[cut(b, q)..]))
    {
        q -= 1;
    }
    let mut out = a[..p].to_string();
    push_wildcard(&mut out);
    let tail = &a[cut(a, q)..];
    // A wildcard on both sides of the cut is one.
    match (out.ends_with(WILDCARD), tail.strip_prefix(WILDCARD)) {
        (true, Some(rest)) => out.push_str(rest),
        _ => out.push_str(tail),
    }
    out
}

/// A cluster of shapes: its tokens so far, and the lines of its shapes.
struct Cluster {
    tokens: Vec<String>,
    count: u64,
}

/// Level names, least severe first.
pub const LEVELS: [&str; 5] = ["debug", "info", "warning", "error", "critical"];

/// How severe a level of [`LEVELS`] is: its index plus one (anything else is 0).
pub fn severity(level: &str) -> usize {
    LEVELS.iter().position(|l| *l == level).map_or(0, |i| i + 1)
}

/// The level a level word names, any case.
fn level_word(word: &str) -> Option<&'static str> {
    const WORDS: [(&str, usize); 15] = [
        ("TRACE", 0),
        ("DEBUG", 0),
        ("INFO", 1),
        ("NOTICE", 1),
        ("WARN", 2),
        ("WARNING", 2),
        ("ERROR", 3),
        ("ERR", 3),
        ("SEVERE", 3),
        ("CRITICAL", 4),
        ("CRIT", 4),
        ("FATAL", 4),
        ("ALERT", 4),
        ("EMERG", 4),
        ("PANIC", 4),
    ];
    WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word))
        .map(|&(_, l)| LEVELS[l])
}

/// The level a line's leading tokens name: an upper-case level word (`ERROR`, `[WARN]`,
/// `- INFO -`), a bracketed one in any case (nginx's `[error]`, Apache's `[core:warn]`),
/// `level=...` (any case), or a lower-case one that starts the line (`error: ...`, zap's
/// `error` after the time).
pub fn line_level(line: &str) -> Option<&'static str> {
    for (i, t) in line.split_ascii_whitespace().take(8).enumerate() {
        let (word, any_case) = match t.strip_prefix("level=") {
            Some(v) => (v, true),
            None => (t, i == 0 || t.starts_with('[') && t.ends_with(']')),
        };
        let word = word.trim_matches(|c: char| !c.is_ascii_alphabetic());
        // Apache: `[core:error]`.
        let word = word.rsplit(':').next().unwrap_or(word);
        if !any_case && !word.bytes().all(|b| b.is_ascii_uppercase()) {
            continue;
        }
        if let Some(l) = level_word(word) {
            return Some(l);
        }
    }
    None
}

/// The level of a JSON log object: its `level`, `severity`, `levelname`, `log.level` or `lvl`
/// string (any case), or a pino/bunyan number (`"level":50` is an error).
pub fn json_level(line: &[u8]) -> Option<&'static str> {
    const KEYS: [&[u8]; 5] = [
        b"\"level\":",
        b"\"severity\":",
        b"\"levelname\":",
        b"\"log.level\":",
        b"\"lvl\":",
    ];
    for key in KEYS {
        let Some(at) = memchr::memmem::find(line, key) else {
            continue;
        };
        let v = &line[at + key.len()..];
        let v = &v[v.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
        if let Some(rest) = v.strip_prefix(b"\"") {
            let end = memchr::memchr(b'"', rest)?;
            return level_word(std::str::from_utf8(&rest[..end]).ok()?);
        }
        let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
        let n: u32 = std::str::from_utf8(&v[..digits]).ok()?.parse().ok()?;
        return Some(match n {
            0..=29 => "debug",
            30..=39 => "info",
            40..=49 => "warning",
            50..=59 => "error",
            _ => "critical",
        });
    }
    None
}

/// Whether `shape` may join the cluster: where they differ, one side holds a value (a word
/// that differs is another template, until [`MANY_WORDS`] make it a variable), and the word
/// on the other side is not elsewhere in the first (then the two are one message shifted by
/// an optional part, which [`merge_lengths`] aligns).
fn mergeable(cluster: &[String], shape: &[&str]) -> bool {
    let shifted = |c: &str, s: &str| {
        (!c.contains(WILDCARD) && shape.contains(&c))
            || (!s.contains(WILDCARD) && cluster.iter().any(|t| t == s))
    };
    cluster.iter().zip(shape).all(|(c, s)| {
        let value = match (c.contains(WILDCARD), s.contains(WILDCARD)) {
            (true, true) => true,
            (true, false) => fits(c, s),
            (false, true) => fits(s, c),
            (false, false) => false,
        };
        c == s || digits_apart(c, s) || dotted_kin(c, s) || (value && !shifted(c, s))
    })
}

/// Whether a word could be a value of `pattern`: it starts with what the pattern has before
/// its first `<*>` and ends with what it has after its last (`com.apple.<*>:` takes
/// `com.apple.Safari:`, not `org.example.Main:`).
fn fits(pattern: &str, word: &str) -> bool {
    let first = pattern.find(WILDCARD).unwrap_or(0);
    let last = pattern
        .rfind(WILDCARD)
        .map_or(pattern.len(), |i| i + WILDCARD.len());
    let (head, tail) = (&pattern[..first], &pattern[last..]);
    word.len() >= head.len() + tail.len() && word.starts_with(head) && word.ends_with(tail)
}

/// How many of `shape`'s tokens equal the cluster's (a wildcard in the cluster agrees with
/// nothing: Drain's rule, so a cluster that has lost most tokens takes no more).
fn agreeing(cluster: &[String], shape: &[&str]) -> usize {
    cluster
        .iter()
        .zip(shape)
        .filter(|(c, s)| c.as_str() != WILDCARD && c.as_str() == **s)
        .count()
}

/// [`mine`] on `threads` threads, in chunks sized from the input (as `analyze` sizes them):
/// the result is the same for any thread count.
pub fn mine_on(texts: &[&[u8]], threads: usize, strip_time: bool) -> Mined {
    let len: usize = texts.iter().map(|t| t.len()).sum();
    let chunk = (len / (threads.max(1) * 8)).clamp(256 << 10, 16 << 20);
    crate::on_pool(threads, || mine(texts, chunk, strip_time))
}

/// Mines the templates of the lines of `texts` (one after the other; invalid UTF-8 read
/// lossily), each line without its leading time when `strip_time`. Chunks of `chunk_size`
/// bytes are masked in parallel.
pub fn mine(texts: &[&[u8]], chunk_size: usize, strip_time: bool) -> Mined {
    let chunks: Vec<&[u8]> = texts
        .iter()
        .flat_map(|t| crate::input::split_lines(t, chunk_size))
        .collect();
    let parts: Vec<Shapes> = chunks
        .par_iter()
        .map(|c| match std::str::from_utf8(c) {
            Ok(text) => shapes_of(text, strip_time),
            Err(_) => shapes_of(&String::from_utf8_lossy(c), strip_time),
        })
        .collect();
    // The shapes of the whole input, in order of first appearance.
    let mut index: FxHashMap<&str, u32> = FxHashMap::default();
    let mut shapes: Vec<Shape> = Vec::new();
    let mut lines: Vec<u32> = Vec::with_capacity(parts.iter().map(|p| p.lines.len()).sum());
    for p in &parts {
        let global: Vec<u32> = p
            .shapes
            .iter()
            .map(|s| {
                let i = *index.entry(s.text.as_str()).or_insert_with(|| {
                    shapes.push(Shape {
                        text: s.text.clone(),
                        count: 0,
                        example: s.example.clone(),
                        first: None,
                        last: None,
                    });
                    shapes.len() as u32 - 1
                });
                shapes[i as usize].see(s.count, s.first, s.last);
                i
            })
            .collect();
        lines.extend(p.lines.iter().map(|&l| global[l as usize]));
    }
    let g = group(
        &shapes
            .iter()
            .map(|s| (s.text.as_str(), s.count))
            .collect::<Vec<_>>(),
    );
    // Each template's lines; its example is the first line of its earliest shape.
    let mut stats: Vec<Stats> = (0..g.templates.len()).map(|_| Stats::default()).collect();
    for (si, s) in shapes.iter().enumerate() {
        let t = &mut stats[g.of[si] as usize];
        t.count += s.count;
        t.first = min_time(t.first, s.first);
        t.last = t.last.max(s.last);
        *t.levels
            .entry(line_level(&s.text).unwrap_or("-"))
            .or_insert(0) += s.count;
        t.example.get_or_insert(si);
    }
    // Templates by count, then text; each line's template.
    let mut rank: Vec<usize> = (0..g.templates.len()).collect();
    rank.sort_by(|&a, &b| {
        stats[b]
            .count
            .cmp(&stats[a].count)
            .then_with(|| g.templates[a].cmp(&g.templates[b]))
    });
    let mut position = vec![0u32; rank.len()];
    for (p, &c) in rank.iter().enumerate() {
        position[c] = p as u32;
    }
    let templates = rank
        .iter()
        .map(|&c| Template {
            id: template_id(&g.templates[c]),
            template: g.templates[c].clone(),
            count: stats[c].count,
            levels: stats[c]
                .levels
                .iter()
                .map(|(l, n)| (l.to_string(), *n))
                .collect(),
            first_seen: stats[c].first.map(crate::framing::format_rfc3339),
            last_seen: stats[c].last.map(crate::framing::format_rfc3339),
            example: stats[c]
                .example
                .map(|si| shapes[si].example.clone())
                .unwrap_or_default(),
        })
        .collect();
    let lines = lines
        .into_iter()
        .map(|s| position[g.of[s as usize] as usize])
        .collect();
    Mined { templates, lines }
}

/// One template's lines, as [`mine`] counts them.
#[derive(Default)]
struct Stats {
    count: u64,
    first: Option<Nanos>,
    last: Option<Nanos>,
    levels: BTreeMap<&'static str, u64>,
    /// Its earliest shape.
    example: Option<usize>,
}

/// Distinct shapes grouped into templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// The templates' texts.
    pub templates: Vec<String>,
    /// Each shape's template: an index into `templates`.
    pub of: Vec<u32>,
}

/// Groups distinct shapes (masked text, lines) into templates.
///
/// The shapes are clustered most frequent first (ties by text): the grouping depends on the
/// set of shapes and their counts only, not on their order or on how the input was cut.
pub fn group(shapes: &[(&str, u64)]) -> Grouping {
    let mut order: Vec<u32> = (0..shapes.len() as u32).collect();
    order.sort_by(|&a, &b| {
        let (sa, sb) = (shapes[a as usize], shapes[b as usize]);
        sb.1.cmp(&sa.1).then_with(|| sa.0.cmp(sb.0))
    });
    let mut clusters: Vec<Cluster> = Vec::new();
    // Clusters by token count.
    let mut by_len: FxHashMap<usize, Vec<usize>> = FxHashMap::default();
    let mut cluster_of = vec![0u32; shapes.len()];
    for &si in &order {
        let (text, count) = shapes[si as usize];
        let tokens: Vec<&str> = text.split(' ').collect();
        let best = by_len.get(&tokens.len()).and_then(|cands| {
            cands
                .iter()
                .filter(|&&c| mergeable(&clusters[c].tokens, &tokens))
                .map(|&c| (agreeing(&clusters[c].tokens, &tokens), c))
                .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
        });
        let joined = best.filter(|&(n, _)| n as f64 >= SIMILARITY * tokens.len() as f64);
        let c = match joined {
            Some((_, c)) => {
                let cl = &mut clusters[c];
                for (t, s) in cl.tokens.iter_mut().zip(&tokens) {
                    if t != s {
                        *t = merge_token(t, s);
                    }
                }
                cl.count += count;
                c
            }
            None => {
                let tokens = tokens.iter().map(|t| t.to_string()).collect();
                clusters.push(Cluster { tokens, count });
                by_len
                    .entry(text.split(' ').count())
                    .or_default()
                    .push(clusters.len() - 1);
                clusters.len() - 1
            }
        };
        cluster_of[si as usize] = c as u32;
    }
    let mut alias = merge_words(&mut clusters);
    merge_lengths(&mut clusters, &mut alias);
    let mut live = vec![u32::MAX; clusters.len()];
    let mut templates = Vec::new();
    for (c, cl) in clusters.iter().enumerate() {
        if alias[c] == c {
            live[c] = templates.len() as u32;
            templates.push(render(&cl.tokens));
        }
    }
    let of = cluster_of
        .into_iter()
        .map(|c| live[alias[c as usize]])
        .collect();
    Grouping { templates, of }
}

/// Merges the clusters alike but for one word into one, that word `<*>`, where at least
/// [`MANY_WORDS`] of them are; returns each cluster's surviving cluster.
fn merge_words(clusters: &mut [Cluster]) -> Vec<usize> {
    let mut alias: Vec<usize> = (0..clusters.len()).collect();
    let longest = clusters.iter().map(|c| c.tokens.len()).max().unwrap_or(0);
    for p in 0..longest {
        // Live clusters by length and every token but the p-th, in cluster order.
        let mut alike: std::collections::BTreeMap<(usize, String), Vec<usize>> =
            std::collections::BTreeMap::new();
        for (i, c) in clusters.iter().enumerate() {
            let word = c.tokens.get(p).is_some_and(|t| !t.contains(WILDCARD));
            if alias[i] != i || !word {
                continue;
            }
            let mut key = String::new();
            for (k, t) in c.tokens.iter().enumerate() {
                if k != p {
                    key.push_str(t);
                }
                key.push(' ');
            }
            alike.entry((c.tokens.len(), key)).or_default().push(i);
        }
        for group in alike.into_values().filter(|g| g.len() >= MANY_WORDS) {
            let target = group[0];
            clusters[target].tokens[p] = WILDCARD.to_string();
            for &o in &group[1..] {
                alias[o] = target;
                // A group lists its clusters in order: the target comes first.
                let (a, b) = clusters.split_at_mut(o);
                a[target].count += b[0].count;
            }
        }
    }
    resolve(&mut alias);
    alias
}

/// Points every cluster at the one it finally merged into (a cluster merged into one that
/// was merged later ends at the last).
fn resolve(alias: &mut [usize]) {
    for i in 0..alias.len() {
        let mut a = alias[i];
        while alias[a] != a {
            a = alias[a];
        }
        alias[i] = a;
    }
}

/// A variable that may be empty, from [`merge_lengths`]: written without the spaces around
/// it (`bytes<*>sent` covers `bytes sent` and `bytes (4.4 KB) sent`).
const GAP: &str = "<*>\u{0}";

/// Longest template [`merge_lengths`] aligns, in tokens; longer ones are left as they are.
const ALIGN_TOKENS: usize = 64;

/// Live clusters of one first token that [`merge_lengths`] compares pairwise; past that
/// many, the rest are left as they are (the pass is quadratic in them).
const ALIGN_CLUSTERS: usize = 256;

/// Merges clusters of different lengths that are one message with an optional or
/// variable-length part (`3 bytes sent` and `4552 bytes (4.4 KB) sent`, `lifetime 00:17`
/// and `lifetime <1 sec`), which same-length clustering keeps apart.
///
/// Two clusters with the same first token (or both a value first) are aligned on their longest common token
/// subsequence. They merge when it covers at least [`SIMILARITY`] of the longer, and every
/// stretch between aligned tokens is a variable: a substitution of one value for another
/// (a `<*>`, and at most one word after it, on each side), or an insertion of `<*>` tokens
/// only. A substitution becomes one `<*>`, an insertion a
/// [`GAP`] (or nothing, beside an aligned `<*>` that can hold it). Each cluster is compared
/// with the earlier ones in cluster order and joins the first that fits.
fn merge_lengths(clusters: &mut [Cluster], alias: &mut [usize]) {
    let mut by_first: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in clusters.iter().enumerate() {
        if alias[i] == i && c.tokens.len() <= ALIGN_TOKENS {
            // Values first (`<*>:<*>`, `host.example:<*>`) are compared together.
            let first = &c.tokens[0];
            let key = match first.contains(WILDCARD) {
                true => WILDCARD,
                false => first,
            };
            by_first.entry(key.to_string()).or_default().push(i);
        }
    }
    for group in by_first.into_values() {
        let group = &group[..group.len().min(ALIGN_CLUSTERS)];
        for (k, &j) in group.iter().enumerate() {
            for &i in &group[..k] {
                if alias[i] != i {
                    continue;
                }
                if let Some(tokens) = align(&clusters[i].tokens, &clusters[j].tokens) {
                    clusters[i].tokens = tokens;
                    clusters[i].count += clusters[j].count;
                    alias[j] = i;
                    break;
                }
            }
        }
    }
    resolve(alias);
}

/// The tokens of `a` and `b` merged as [`merge_lengths`] says, or `None` when they differ by
/// more than variables.
fn align(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() == b.len() && a == b {
        return Some(a.to_vec());
    }
    // LCS lengths of every pair of suffixes.
    let (n, m) = (a.len(), b.len());
    let mut l = vec![0u16; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            l[at(i, j)] = match a[i] == b[j] {
                true => l[at(i + 1, j + 1)] + 1,
                false => l[at(i + 1, j)].max(l[at(i, j + 1)]),
            };
        }
    }
    if (l[at(0, 0)] as f64) < SIMILARITY * n.max(m) as f64 {
        return None;
    }
    // A value written one way or another: a `<*>` and at most a word after it (`<*>:<*>`,
    // `<<*> sec`).
    let value = |t: &[String]| t.len() <= 2 && t[0].contains(WILDCARD);
    let all_wild = |t: &[String]| t.iter().all(|t| t.contains(WILDCARD));
    let mut out: Vec<String> = Vec::with_capacity(n.max(m));
    let (mut i, mut j) = (0, 0);
    loop {
        // The stretch up to the next aligned pair.
        let (gi, gj) = (i, j);
        while i < n && j < m && a[i] != b[j] {
            if l[at(i + 1, j)] >= l[at(i, j + 1)] {
                i += 1;
            } else {
                j += 1;
            }
        }
        if i == n || j == m {
            (i, j) = (n, m);
        }
        let (sa, sb) = (&a[gi..i], &b[gj..j]);
        match (sa.is_empty(), sb.is_empty()) {
            (true, true) => {}
            (false, false) if value(sa) && value(sb) => {
                let gap = sa.iter().chain(sb).any(|t| t == GAP);
                out.push(if gap { GAP } else { WILDCARD }.to_string());
            }
            (false, false) => return None,
            (_, _) => {
                let inserted = if sa.is_empty() { sb } else { sa };
                if !all_wild(inserted) {
                    return None;
                }
                let beside =
                    out.last().is_some_and(|t| t == WILDCARD) || (i < n && a[i] == WILDCARD);
                if !beside {
                    out.push(GAP.to_string());
                }
            }
        }
        if i == n {
            return Some(out);
        }
        out.push(a[i].clone());
        i += 1;
        j += 1;
    }
}

/// A cluster's tokens as a template: joined by spaces, a [`GAP`] without them.
fn render(tokens: &[String]) -> String {
    let mut out = String::new();
    let mut glue = true;
    for t in tokens {
        if t == GAP {
            out.push_str(WILDCARD);
            glue = true;
            continue;
        }
        if !glue {
            out.push(' ');
        }
        out.push_str(t);
        glue = false;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(s: &str) -> String {
        let mut out = String::new();
        mask(s, &mut out);
        out
    }

    #[test]
    fn values_are_masked_and_words_kept() {
        let cases = [
            ("Notification time out: 3200", "Notification time out: <*>"),
            (
                "Received connection request /10.10.34.11:45307",
                "Received connection request /<*>:<*>",
            ),
            (
                "Created MRAppMaster for application appattempt_1445144423722_0020_000001",
                "Created MRAppMaster for application appattempt_<*>",
            ),
            ("route = 0x0 port = 11", "route = <*> port = <*>"),
            ("Switch<0>(0x0)::cb", "Switch<<*>>(<*>)::cb"),
            ("  spaced   out\ttext ", "spaced out text"),
            ("héllo wörld 42", "héllo wörld <*>"),
        ];
        for (input, want) in cases {
            assert_eq!(masked(input), want, "{input}");
        }
        // Tokens that differ keep what they share at either end.
        assert_eq!(
            merge_token("proxy.cuhk.hk:<*>", "www.google.com:<*>"),
            "<*>:<*>"
        );
        assert_eq!(merge_token("alice", "bob"), "<*>");
        assert_eq!(merge_token("user=alice,", "user=bob,"), "user=<*>,");
        assert_eq!(merge_token("<*>", "abc"), "<*>");
        assert_eq!(merge_token("ab12x", "ab34y"), "<*>", "no cut inside a run");
        // A word with no digit is no value, whatever its shape.
        assert_eq!(masked("GET /api/users ERROR"), "GET /api/users ERROR");
        assert_eq!(masked("a,b: c"), "a,b: c");
    }

    #[test]
    fn hosts_urls_units_and_dates_are_values_and_names_with_a_number_are_not() {
        let cases = [
            // A host before a port is a value; a file and line, or a namespace, are not.
            (
                "q1.example.com:80 open through proxy proxy.cs.example.edu:5070 HTTPS",
                "<*>:<*> open through proxy <*>:<*> HTTPS",
            ),
            ("at Main.java:42", "at Main.java:<*>"),
            (
                "com.apple.xpc.launchd: started",
                "com.apple.xpc.launchd: started",
            ),
            // A URL with a number in it is one value; one without is kept.
            (
                "Input split: hdfs://10.0.0.1:9000/logs/a.log:0+7303",
                "Input split: hdfs://<*>",
            ),
            (
                "probe https://example.com/health.",
                "probe https://example.com/health.",
            ),
            // A unit that scales with the number is part of it; a fixed one is a word.
            (
                "(estimated size 877.0 B, free 4.4 KB)",
                "(estimated size <*>, free <*>)",
            ),
            ("sent 4552 bytes in 12 ms", "sent <*> bytes in <*> ms"),
            ("BACKUP 12 Bytes", "BACKUP <*> Bytes"),
            // A name with a short number is a name; an id is not.
            ("wl0: MDNS: IPV6 via SOCKS5", "wl0: MDNS: IPV6 via SOCKS5"),
            ("session tc25995 from q1", "session <*> from <*>"),
            // A date keeps its dashes; a UUID is one value.
            ("from 2017-05-16 05:00:00", "from <*>-<*>-<*> <*>:<*>:<*>"),
            (
                "instance faf974ea-cba5-4e1b-93f4-3a3bc606006f",
                "instance <*>",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(masked(input), want, "{input}");
        }
    }

    fn templates_of(lines: &[&str]) -> Vec<String> {
        let mut text = lines.join("\n");
        text.push('\n');
        let mut t: Vec<String> = mined(&text, 1 << 20)
            .templates
            .into_iter()
            .map(|t| t.template)
            .collect();
        t.sort();
        t
    }

    #[test]
    fn one_message_with_an_optional_or_reworded_value_is_one_template() {
        let t = templates_of(&[
            "a.cdn.example:80 close, 0 bytes sent, 0 bytes received, lifetime 00:17",
            "b.cdn.example:443 close, 4552 bytes (4.44 KB) sent, 1616 bytes received, lifetime 04:00",
            "c.cdn.example:80 close, 733 bytes sent, 229 bytes (2.2 KB) received, lifetime <1 sec",
        ]);
        assert_eq!(
            t,
            ["<*>:<*> close, <*> bytes<*>sent, <*> bytes<*>received, lifetime <*>"]
        );
        // Words that differ are other messages, whatever their length.
        let t = templates_of(&[
            "x:1 error : Could not resolve proxy error 11001",
            "x:2 error : connection attempt failed with error 10061",
            "10.0.0.1 \"GET /v2/abc1/servers HTTP/1.1\" status: 200",
            "10.0.0.1 \"POST /v2/abc1 HTTP/1.1\" status: 200",
            "Connection from 10.0.0.1 closed",
            "Connection from 10.0.0.2 port 22 closed",
        ]);
        assert_eq!(t.len(), 6, "{t:?}");
    }

    #[test]
    fn names_that_differ_in_a_number_or_a_namespace_leaf_are_a_variable() {
        let t = templates_of(&[
            "en0: link up on channel 6",
            "en1: link up on channel 11",
            "com.apple.CacheDelete.daily: told me to run this job in 56 seconds",
            "com.apple.Safari.Update: told me to run this job in 2889 seconds",
            "open through proxy p:1 HTTPS",
            "open through proxy p:2 SOCKS5",
            "org.example.Main: told me to run this job in 3 seconds",
        ]);
        assert_eq!(
            t,
            [
                "<*>: link up on channel <*>",
                "com.apple.<*>: told me to run this job in <*> seconds",
                "open through proxy p:<*> HTTPS",
                "open through proxy p:<*> SOCKS5",
                "org.example.Main: told me to run this job in <*> seconds",
            ]
        );
    }

    #[test]
    fn a_level_is_an_upper_case_word_or_a_level_field() {
        let level = line_level;
        assert_eq!(level("- uvicorn.error - ERROR - Exception"), Some("error"));
        assert_eq!(level("[WARN] disk almost full"), Some("warning"));
        assert_eq!(level("level=info msg=started"), Some("info"));
        assert_eq!(level("FATAL: out of memory"), Some("critical"));
        // A word in a sentence is no level; nor is one far into the line.
        assert_eq!(level("connection error while reading"), None);
        assert_eq!(level("a b c d e f g h ERROR"), None);
        assert_eq!(level("INFORMATION follows"), None);
    }

    fn mined(text: &str, chunk: usize) -> Mined {
        mine(&[text.as_bytes()], chunk, false)
    }

    #[test]
    fn shapes_that_differ_in_a_word_merge_and_others_do_not() {
        let users = [
            "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
        ];
        let mut text = String::new();
        for u in users {
            text.push_str(&format!("user {u} logged in from web\n"));
        }
        for state in ["Started", "Paused", "Stopped"] {
            text.push_str(&format!("VM {state} (Lifecycle Event)\n"));
        }
        text.push_str(
            "disk sda1 is full\n\
             disk nvme0n1 is full\n\
             connection refused by upstream\n",
        );
        let m = mined(&text, 1 << 20);
        let t: Vec<&str> = m.templates.iter().map(|t| t.template.as_str()).collect();
        assert_eq!(
            t[0], "user <*> logged in from web",
            "ten names at one place are a variable: {t:?}"
        );
        assert_eq!(m.templates[0].count, 10);
        assert_eq!(m.templates[0].example, "user alice logged in from web");
        assert!(t.contains(&"disk <*> is full"), "values merge: {t:?}");
        for state in ["Started", "Paused", "Stopped"] {
            let want = format!("VM {state} (Lifecycle Event)");
            assert!(
                t.contains(&want.as_str()),
                "a few words are templates of their own: {t:?}"
            );
        }
        assert!(t.contains(&"connection refused by upstream"), "{t:?}");
        assert_eq!(m.templates.len(), 6, "{t:?}");
        assert_eq!(m.lines.len(), 16);
        assert_eq!(&m.lines[..10], &[0; 10]);
    }

    #[test]
    fn templates_and_ids_do_not_depend_on_the_chunking() {
        let mut text = String::new();
        for i in 0..500 {
            text.push_str(&format!("job {i} of user u{} took {}ms\n", i % 7, i * 3));
            if i % 3 == 0 {
                text.push_str(&format!(
                    "worker w{} {} restarted\n",
                    i % 5,
                    ["alpha", "beta"][i % 2]
                ));
            }
        }
        let whole = mined(&text, 1 << 20);
        for chunk in [1, 17, 100, 4096] {
            let m = mined(&text, chunk);
            assert_eq!(m.templates, whole.templates, "chunk {chunk}");
            assert_eq!(m.lines, whole.lines, "chunk {chunk}");
        }
        assert_eq!(
            whole.templates[0].id,
            template_id(&whole.templates[0].template)
        );
    }
}
