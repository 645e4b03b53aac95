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
pub mod traceback;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

pub use catalog::{Catalog, Severity, Signature};
pub use normalize::normalize_message;
pub use traceback::{shape, Frame, Shape};

/// Literals that mark a record worth reading even when no signature's anchor is in it.
const GENERIC_ANCHORS: [&str; 7] = [
    "Traceback (most recent call last)",
    "Error: ",
    "Exception: ",
    "Timeout: ",
    "Exit: ",
    "Interrupt: ",
    "Disconnect",
];

/// A code location: the innermost application frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// File path as printed in the traceback.
    pub file: String,
    /// Line number.
    pub line: u32,
    /// Function name.
    pub function: String,
}

/// What a record turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// Index into the catalog of the matching signature; `None` for an unknown exception.
    pub signature: Option<usize>,
    /// The variant (e.g. the missing attribute's name), when the signature defines one.
    pub variant: Option<String>,
    /// The raised exception's type as printed, when the record names one.
    pub exception_type: Option<String>,
    /// For an unknown exception: its message with numbers, quoted values, hex and ids replaced.
    pub message: Option<String>,
    /// The innermost application frame, when the record has a traceback.
    pub location: Option<Location>,
}

/// The compiled catalog plus its prefilter.
#[derive(Debug, Clone)]
pub struct Classifier {
    catalog: Catalog,
    ac: AhoCorasick,
    /// For each anchor (aho-corasick pattern id), the signature it belongs to.
    anchor_sig: Vec<usize>,
}

impl Classifier {
    /// Builds the prefilter over every signature's anchors.
    pub fn new(catalog: Catalog) -> Classifier {
        let mut anchors = Vec::new();
        let mut anchor_sig = Vec::new();
        for (i, s) in catalog.signatures.iter().enumerate() {
            for a in &s.anchors {
                anchors.push(a.as_str());
                anchor_sig.push(i);
            }
        }
        // The traceback header and the `Type: message` shape of exception lines are anchors
        // too: records with a traceback or a bare exception line are always read, so unknown
        // exceptions are still reported.
        for generic in GENERIC_ANCHORS {
            anchors.push(generic);
            anchor_sig.push(usize::MAX);
        }
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&anchors)
            .expect("anchors are validated literals");
        Classifier {
            catalog,
            ac,
            anchor_sig,
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Start offsets of anchor matches in `buf`, sorted; overlapping matches may be omitted,
    /// which is fine since one hit marks the whole line.
    pub fn prefilter(&self, buf: &[u8]) -> Vec<usize> {
        self.ac.find_iter(buf).map(|m| m.start()).collect()
    }

    /// Classifies a record given as lines (lossy UTF-8 is fine). Returns `None` when it is
    /// neither a known signature nor an exception.
    pub fn classify<S: AsRef<str>>(&self, lines: &[S]) -> Option<Classification> {
        let mut cands: Vec<usize> = Vec::new();
        for l in lines {
            for m in self.ac.find_overlapping_iter(l.as_ref()) {
                let s = self.anchor_sig[m.pattern().as_usize()];
                if s != usize::MAX && !cands.contains(&s) {
                    cands.push(s);
                }
            }
        }
        cands.sort_unstable();
        let sh = shape(lines);
        let location = sh.app_frame().map(|f| Location {
            file: f.file.clone(),
            line: f.line,
            function: f.function.clone(),
        });
        if !cands.is_empty() {
            let exc = sh.exception.join("\n");
            let msg = sh.message.join("\n");
            for text in [&exc, &msg] {
                if text.is_empty() {
                    continue;
                }
                for &i in &cands {
                    let sig = &self.catalog.signatures[i];
                    if let Some(c) = sig.pattern.captures(text) {
                        let from_group = sig
                            .pattern
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
            .map(normalize_message)
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
