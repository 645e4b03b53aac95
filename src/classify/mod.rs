//! Classification: which known failure a record is, its variant, code location and exception.
//!
//! Two steps, as in ripgrep: one aho-corasick pass over the raw bytes finds the lines that hold
//! an anchor of some signature ([`Classifier::prefilter`]); only records with such a line, or
//! with a traceback, are read further. Then each candidate signature's regex confirms the match,
//! first against the raised exception's text, then against the record's other message lines, in
//! catalog order. Skipping the regex for records without an anchor is valid because every
//! signature's anchors are literals its pattern cannot match without (checked by the tests of
//! the shipped catalog).

pub mod catalog;
mod normalize;
mod step;
mod teddy;
pub mod traceback;

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::framing::Hit;

pub use catalog::{Catalog, Severity, Signature};
pub use normalize::normalize_message;
pub(crate) use step::RecordStep;
pub use traceback::{shape, Frame, Shape};

/// A literal that marks a record worth reading even when no signature's anchor is in it:
/// records with a traceback are always read, so unknown exceptions are still reported.
const TRACEBACK_ANCHOR: &str = "Traceback (most recent call last)";

/// Level words, for the records no signature knows (the report's templates section): where
/// one is found, the record's level is read ([`crate::templates::line_level`]). Upper case as
/// most loggers print them, lower case as logfmt (`level=error`), JSON (`"level":"error"`),
/// nginx (`[error]`) and zap print them, and pino's numbers for warn, error and fatal.
pub const LEVEL_LITERALS: [&str; 13] = [
    "ERROR",
    "WARN",
    "CRIT",
    "FATAL",
    "SEVERE",
    "error",
    "warn",
    "crit",
    "fatal",
    "fail: ",
    "\"level\":4",
    "\"level\":5",
    "\"level\":6",
];

/// Colour resets: coloured output ends each coloured span with one (`ESC[0m` from colorama,
/// click, uvicorn, rich and docker compose; `ESC[39m` from chalk-like libraries). A chunk
/// holding one is read without its escape sequences. Four bytes at least, so that the
/// prefilter keeps its 4-byte fingerprints (a 2-byte `ESC[` would make it verify far more
/// candidates on every log).
const ESCAPES: [&str; 2] = ["\x1b[0m", "\x1b[39m"];

/// A code location: the innermost application frame.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Location {
    /// File path as printed in the traceback.
    pub file: String,
    /// Line number.
    pub line: u32,
    /// Function name.
    pub function: String,
}

/// What a record turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Classification {
    /// Index into the catalog of the matching signature; `None` for an unknown exception.
    pub signature: Option<usize>,
    /// The variant (e.g. the missing attribute's name), when the signature defines one.
    pub variant: Option<String>,
    /// The raised exception's type as printed, when the record names one.
    pub exception_type: Option<String>,
    /// For an unknown exception: its message with numbers, ids, hex and quoted data masked
    /// (quoted names kept; see [`normalize_message`]).
    pub message: Option<String>,
    /// The innermost application frame, when the record has a traceback.
    pub location: Option<Location>,
}

/// The compiled catalog plus its prefilter.
#[derive(Debug, Clone)]
pub struct Classifier {
    catalog: Catalog,
    /// Redact secrets in exception messages before they are normalized (a secret is cut
    /// up by the masks otherwise: `xoxb-123-abc` would become `xoxb<num>-abc`).
    pub(crate) redact: bool,
    /// Every signature's pattern, in catalog order: one pass finds which match a text.
    /// Compiled on the first record that needs it, by the worker that meets it (compiling it
    /// before the scan was 7-10 ms of start-up on one core while the other waited; each
    /// pattern was already compiled, so validated, on its own).
    set: OnceLock<Option<regex::RegexSet>>,
    /// The smallest set of literals that covers every anchor (an anchor that contains another
    /// is dropped), for the pass over all bytes. Fewer literals mean fewer false candidates in
    /// the SIMD (Teddy) search, whose cost dominates a run.
    prefilter: Literals,
    prefilter_lits: Vec<String>,
    /// The prefilter pattern id of [`TRACEBACK_ANCHOR`].
    traceback_id: usize,
    /// The pattern id of the first of [`LEVEL_LITERALS`] (the rest follow).
    level_id: usize,
    /// The pattern id of the first of [`ESCAPES`] (the rest follow).
    escape_id: usize,
    /// Prefilter literals that can overlap the traceback literal: where the traceback
    /// literal matches, they are looked for around it (a non-overlapping search reports one).
    tb_overlaps: Vec<String>,
    /// Per level literal, the anchor literals that can start inside it, with where: a
    /// non-overlapping search resumes after the level word and would miss them.
    level_overlaps: Vec<Vec<(usize, String)>>,
    /// Tells classifiers apart (a clone keeps it: it classifies alike), for the memo that
    /// outlives a chunk (`step.rs`).
    id: u64,
}

/// A search for a set of literals: aho-corasick's packed (Teddy, SIMD) searcher when the CPU
/// has it, leftmost-first like it otherwise. Used by the byte-level prefilter and by the
/// request layouts' anchors.
///
/// `AhoCorasick` itself decides against Teddy for this many literals and falls back to a DFA
/// with a weaker prefilter, about ten times slower on the same literals; for the request
/// anchors it chose a rare-byte prefilter that fired on most lines.
#[derive(Debug, Clone)]
pub(crate) enum Literals {
    Packed(aho_corasick::packed::Searcher),
    Automaton(AhoCorasick),
}

impl Literals {
    /// The searcher for `lits` (not empty).
    pub(crate) fn new(lits: &[&str]) -> Result<Literals, aho_corasick::BuildError> {
        // Past 64 literals Teddy still beats the automaton it would fall back to (a user's
        // catalog may hold more than `coarsen` can merge).
        let packed = aho_corasick::packed::Config::new()
            .heuristic_pattern_limits(false)
            .builder()
            .extend(lits)
            .build();
        Ok(match packed {
            Some(p) => Literals::Packed(p),
            // A DFA too large to build (a catalog of thousands of anchors) falls back to
            // the automaton aho-corasick picks for itself.
            None => Literals::Automaton(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(lits)
                    .or_else(|_| {
                        AhoCorasick::builder()
                            .match_kind(MatchKind::LeftmostFirst)
                            .build(lits)
                    })?,
            ),
        })
    }

    /// The leftmost match in `hay`.
    pub(crate) fn find(&self, hay: &[u8]) -> Option<aho_corasick::Match> {
        match self {
            Literals::Packed(p) => p.find(hay),
            Literals::Automaton(a) => a.find(hay),
        }
    }

    /// Every match in `hay`, left to right, not overlapping: (start, literal index).
    fn for_each(&self, hay: &[u8], mut f: impl FnMut(usize, usize)) {
        match self {
            Literals::Packed(p) => p
                .find_iter(hay)
                .for_each(|m| f(m.start(), m.pattern().as_usize())),
            Literals::Automaton(a) => a
                .find_iter(hay)
                .for_each(|m| f(m.start(), m.pattern().as_usize())),
        }
    }
}

impl Classifier {
    /// Builds the prefilter over every signature's anchors.
    pub fn new(catalog: Catalog) -> Classifier {
        let anchors: Vec<&str> = catalog
            .signatures
            .iter()
            .flat_map(|s| s.anchors.iter().map(String::as_str))
            .collect();
        let mut lits: Vec<&str> = anchors.iter().map(|a| rare_tail(a)).collect();
        lits.sort_unstable();
        lits.dedup();
        // The traceback literal is searched whatever the anchors are, and never dropped for
        // an anchor inside it (`anchors = ["Traceback"]` once made start-up panic): it is
        // listed first, so where both match at one place the traceback wins, and a line with
        // it is then also a candidate for the anchors that overlap it (`tb_overlaps`).
        let mut minimal: Vec<&str> = vec![TRACEBACK_ANCHOR];
        minimal.extend(coarsen(
            TEDDY_LITERALS - LEVEL_LITERALS.len(),
            lits.iter()
                .filter(|a| **a != TRACEBACK_ANCHOR)
                .filter(|a| !lits.iter().any(|b| b != *a && a.contains(b)))
                .copied()
                .collect(),
        ));
        let tb_overlaps: Vec<String> = lits
            .iter()
            .filter(|a| overlaps(a, TRACEBACK_ANCHOR))
            .map(|a| a.to_string())
            .collect();
        let level_overlaps = LEVEL_LITERALS
            .iter()
            .map(|l| {
                let mut v = Vec::new();
                for k in 1..l.len() {
                    for a in &lits {
                        if a.starts_with(&l[k..]) || l[k..].starts_with(a) {
                            v.push((k, a.to_string()));
                        }
                    }
                }
                v
            })
            .collect();
        let minimal = teddy::order(&minimal);
        let prefilter_lits = minimal.iter().map(|s| s.to_string()).collect();
        let traceback_id = 0;
        // Level words and terminal escapes are searched too (see `prefilter_escapes`), after
        // the anchors: an anchor found at the same place wins.
        let mut minimal = minimal;
        let level_id = minimal.len();
        minimal.extend(LEVEL_LITERALS);
        let escape_id = minimal.len();
        minimal.extend(ESCAPES);
        let prefilter = Literals::new(&minimal).expect("anchors are validated literals");
        Classifier {
            catalog,
            redact: true,
            set: OnceLock::new(),
            prefilter,
            prefilter_lits,
            traceback_id,
            level_id,
            escape_id,
            tb_overlaps,
            level_overlaps,
            id: {
                static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
        }
    }

    /// This classifier's identity (shared by its clones).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The literals of the byte-level prefilter (rare tails of the anchors).
    pub fn prefilter_literals(&self) -> &[String] {
        &self.prefilter_lits
    }

    /// The signatures' regex set, compiled on first use; `None` when the patterns together
    /// exceed the regex size limit (each was compiled on its own), and they are then tried
    /// one by one.
    fn set(&self) -> Option<&regex::RegexSet> {
        self.set
            .get_or_init(|| {
                regex::RegexSet::new(self.catalog.signatures.iter().map(|s| s.pattern.as_str()))
                    .ok()
            })
            .as_ref()
    }

    /// The first signature, in catalog order, whose pattern matches `text`.
    fn first_match(&self, text: &str) -> Option<usize> {
        match self.set() {
            Some(set) => set.matches(text).iter().next(),
            None => self
                .catalog
                .signatures
                .iter()
                .position(|s| s.pattern.regex().is_match(text)),
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Start offsets of anchor matches in `buf`, sorted; overlapping matches may be omitted,
    /// which is fine since one hit marks the whole line.
    pub fn prefilter(&self, buf: &[u8]) -> Vec<Hit> {
        self.prefilter_escapes(buf).0
    }

    /// [`Classifier::prefilter`], and whether `buf` holds a terminal escape sequence
    /// (`ESC [`, colours): one search finds both.
    pub fn prefilter_escapes(&self, buf: &[u8]) -> (Vec<Hit>, bool) {
        let mut hits = Vec::new();
        let mut escapes = false;
        self.prefilter.for_each(buf, |at, pid| {
            if pid >= self.escape_id {
                escapes = true;
                return;
            }
            let traceback = pid == self.traceback_id;
            let level = pid >= self.level_id;
            hits.push(Hit {
                offset: at,
                traceback,
                level,
            });
            let overlapping = match (traceback, level) {
                (true, _) => self.overlaps_anchor(buf, at),
                (_, true) => self.level_overlaps[pid - self.level_id]
                    .iter()
                    .any(|(k, a)| buf[at + k..].starts_with(a.as_bytes())),
                _ => false,
            };
            if overlapping {
                hits.push(Hit {
                    offset: at,
                    traceback: false,
                    level: false,
                });
            }
        });
        (hits, escapes)
    }

    /// Whether an anchor literal that overlaps the traceback literal found at `at` is there.
    fn overlaps_anchor(&self, buf: &[u8], at: usize) -> bool {
        self.tb_overlaps.iter().any(|a| {
            let lo = at.saturating_sub(a.len());
            let hi = (at + TRACEBACK_ANCHOR.len() + a.len()).min(buf.len());
            memchr::memmem::find(&buf[lo..hi], a.as_bytes()).is_some()
        })
    }

    /// Classifies a record given as lines (lossy UTF-8 is fine). Returns `None` when it is
    /// neither a known signature nor an exception.
    pub fn classify<S: AsRef<str>>(&self, lines: &[S]) -> Option<Classification> {
        self.classify_record(lines, true)
    }

    /// Like [`Classifier::classify`], trying the signatures only when `any_anchor` is true
    /// (the byte-level prefilter marked a line of the record); otherwise the record can only be
    /// an unknown exception.
    pub fn classify_record<S: AsRef<str>>(
        &self,
        lines: &[S],
        any_anchor: bool,
    ) -> Option<Classification> {
        let sh = shape(lines);
        let location = sh.app_frame().map(|f| Location {
            file: f.file.clone(),
            line: f.line,
            function: f.function.clone(),
        });
        if any_anchor {
            let exc = sh.exception.join("\n");
            let msg = sh.message.join("\n");
            for text in [&exc, &msg] {
                if text.is_empty() {
                    continue;
                }
                // One pass of the set finds every signature that matches; the lowest index
                // (catalog order) wins, and only its regex is run again for the captures.
                if let Some(i) = self.first_match(text) {
                    let sig = &self.catalog.signatures[i];
                    if let Some(c) = sig.pattern.regex().captures(text) {
                        let from_group = sig
                            .pattern
                            .regex()
                            .capture_names()
                            .flatten()
                            .filter(|n| n.starts_with("variant"))
                            .find_map(|n| c.name(n))
                            .map(|m| m.as_str().to_string());
                        return Some(Classification {
                            signature: Some(i),
                            variant: variant_from_frames(sig, &sh).or(from_group),
                            exception_type: sh.exception_type.clone(),
                            message: None,
                            location,
                        });
                    }
                }
            }
        }
        let ty = sh.exception_type.clone()?;
        let msg = sh
            .exception_message
            .as_deref()
            .map(|m| match self.redact {
                true => normalize_message(&crate::redact::Redactor::builtin().redact(m)),
                false => normalize_message(m),
            })
            .unwrap_or_default();
        Some(Classification {
            signature: None,
            variant: None,
            exception_type: Some(ty),
            message: Some(msg),
            location,
        })
    }
}

/// How common a byte is in log text, 0 (rare) to 255 (everywhere). A rough English-and-logs
/// ranking: space and lowercase letters are common, then log punctuation and digits, then
/// uppercase letters, then other punctuation.
fn byte_rank(b: u8) -> u32 {
    match b {
        b' ' => 255,
        b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' => 240,
        b'h' | b'l' | b'd' | b'c' | b'u' | b'm' | b'p' => 220,
        b'a'..=b'z' => 170,
        b'.' | b',' | b':' | b'-' | b'/' | b'=' | b'_' => 200,
        b'0'..=b'9' => 190,
        b'A'..=b'Z' => 90,
        _ => 60,
    }
}

/// The part of an anchor the byte-level prefilter searches for: from the position whose first
/// three bytes are rarest to the end (at least 8 bytes, so the tail stays specific).
///
/// The SIMD search (Teddy) filters on the first bytes of each literal and verifies every
/// candidate, so a literal starting with common bytes (`redis.`, `too many`, `server `) makes
/// candidates on most lines (the whole anchors took 1.6x the time of the rare tails). Any
/// substring of an anchor is correct here:
/// a line with the anchor also has the tail, and the candidate signatures of a record are
/// found again with the whole anchors.
fn rare_tail(anchor: &str) -> &str {
    // Trigrams common in English and in web-service logs (times, requests, levels), which
    // the byte ranks alone rate as rare as any lowercase start: the tail
    // `ing statement due to` met `ing` 111,000 times in 20 MB of `genlog.py` output and
    // doubled the prefilter's time.
    const COMMON_TRIGRAMS: [&[u8]; 48] = [
        b"the", b"and", b"ing", b"ion", b"tio", b"ati", b"ent", b"for", b"ter", b"ers", b"con",
        b"com", b"res", b"pro", b"ted", b"ate", b"est", b"ess", b"end", b"mes", b"tim", b"ime",
        b"sta", b"tat", b"tus", b"req", b"que", b"ues", b"met", b"eth", b"hod", b"pat", b"ath",
        b"dur", b"ura", b"api", b"app", b"cli", b"ser", b"erv", b"lev", b"vel", b"log", b"inf",
        b"nfo", b"err", b"rro", b"war",
    ];
    const MIN: usize = 8;
    let b = anchor.as_bytes();
    if b.len() <= MIN {
        return anchor;
    }
    let score = |i: usize| {
        let w = &b[i..i + 3];
        let common = COMMON_TRIGRAMS.contains(&w);
        w.iter().map(|&c| byte_rank(c)).sum::<u32>() + if common { 100 } else { 0 }
    };
    let mut best = 0;
    for i in 0..=b.len() - MIN {
        if anchor.is_char_boundary(i) && score(i) < score(best) {
            best = i;
        }
    }
    &anchor[best..]
}

/// Whether some match of `a` can share a byte with a match of `b`: one contains the other, or
/// an end of one is the other's start.
fn overlaps(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len().min(b.len());
    memchr::memmem::find(a, b).is_some()
        || memchr::memmem::find(b, a).is_some()
        || (1..n).any(|k| a.ends_with(&b[..k]) || b.ends_with(&a[..k]))
}

/// Literals the SIMD search (Teddy) takes before aho-corasick's heuristics give it up for a
/// slower automaton: 64, the traceback literal included.
const TEDDY_LITERALS: usize = 63;

/// Fewer literals for the byte-level prefilter: while there are more than Teddy takes well,
/// the longest substring shared by the most literals replaces them (`Error` for
/// `ConnectError`, `JSONDecodeError`, ...). Any substring of an anchor is a correct literal
/// (a line with the anchor has it); only substrings with an uppercase letter, a digit or one
/// of `'_()[]` and at least 5 bytes are taken, so the literal stays rare in ordinary lines.
/// Measured on the built-in catalog: 78 literals without this fell back from Teddy to an
/// automaton, which doubled a 64 MiB log's time.
fn coarsen(most: usize, mut lits: Vec<&str>) -> Vec<&str> {
    while lits.len() > most {
        let mut count: std::collections::BTreeMap<&str, usize> = Default::default();
        for l in &lits {
            let mut subs: Vec<&str> = Vec::new();
            for n in 5..=12 {
                for i in 0..=l.len().saturating_sub(n) {
                    if let Some(s) = l.get(i..i + n) {
                        let rare = s.bytes().any(|b| {
                            b.is_ascii_uppercase() || b.is_ascii_digit() || b"'_()[]".contains(&b)
                        });
                        if rare {
                            subs.push(s);
                        }
                    }
                }
            }
            subs.sort_unstable();
            subs.dedup();
            for s in subs {
                *count.entry(s).or_insert(0) += 1;
            }
        }
        // Most literals covered, then the longest, then the first in byte order.
        let best = count.into_iter().filter(|(_, n)| *n >= 2).max_by(|a, b| {
            a.1.cmp(&b.1)
                .then(a.0.len().cmp(&b.0.len()))
                .then(b.0.cmp(a.0))
        });
        let Some((sub, _)) = best else { break };
        lits.retain(|l| !l.contains(sub));
        lits.push(sub);
    }
    lits.sort_unstable();
    lits
}

/// The variant read from the traceback: the `variant_from_code` capture on application code
/// lines, innermost first; else the function of the outermost frame in `variant_from_frame`.
fn variant_from_frames(sig: &Signature, sh: &Shape) -> Option<String> {
    if let Some(re) = &sig.variant_from_code {
        for f in sh.frames.iter().rev().filter(|f| f.is_application()) {
            if let Some(v) = re.captures(&f.code).and_then(|c| c.name("variant")) {
                return Some(v.as_str().to_string());
            }
        }
    }
    if let Some(frag) = &sig.variant_from_frame {
        if let Some(f) = sh
            .frames
            .iter()
            .find(|f| f.file.replace('\\', "/").contains(frag.as_str()))
        {
            return Some(f.function.clone());
        }
    }
    None
}

#[cfg(test)]
mod tests;
