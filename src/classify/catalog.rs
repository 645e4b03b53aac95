//! The signature catalog: TOML pattern files, validated and compiled.
//!
//! The built-in files in `patterns/` are compiled into the binary; `--patterns PATH` adds a
//! pattern file, or the `*.toml` files of a directory, read in name order. A user's signature
//! replaces a built-in one of the same id only when it says `override = true`; `--disable ID`
//! drops one. Every mistake (bad TOML, bad regex, an anchor the regex can never need, a
//! duplicate id) is reported at start-up with the file and the signature, never later on
//! some input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

use crate::error::CatalogError;

/// The pattern files shipped in `patterns/`, compiled in.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "patterns/incident.toml",
        include_str!("../../patterns/incident.toml"),
    ),
    (
        "patterns/websocket.toml",
        include_str!("../../patterns/websocket.toml"),
    ),
    (
        "patterns/python.toml",
        include_str!("../../patterns/python.toml"),
    ),
    (
        "patterns/server.toml",
        include_str!("../../patterns/server.toml"),
    ),
    (
        "patterns/database.toml",
        include_str!("../../patterns/database.toml"),
    ),
    (
        "patterns/network.toml",
        include_str!("../../patterns/network.toml"),
    ),
    (
        "patterns/fastapi.toml",
        include_str!("../../patterns/fastapi.toml"),
    ),
    (
        "patterns/celery.toml",
        include_str!("../../patterns/celery.toml"),
    ),
    (
        "patterns/runtime.toml",
        include_str!("../../patterns/runtime.toml"),
    ),
];

/// How bad a signature is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The service is down or losing work.
    Critical,
    /// Requests fail.
    Error,
    /// Degraded, or a failure that is often harmless.
    Warning,
    /// Worth knowing.
    Info,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    signature: Vec<RawSignature>,
    /// Request layouts may share a file with signatures; they are read by `RequestReader`.
    #[serde(default, rename = "layout")]
    _layout: Option<toml::Value>,
    #[serde(default, rename = "fields")]
    _fields: Option<toml::Value>,
    #[serde(default)]
    json: Option<JsonSection>,
}

/// `[json]` in a pattern file: more fields of JSON log lines to read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonSection {
    /// Fields that hold a traceback (a dotted name is also a path).
    #[serde(default)]
    trace_fields: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature {
    id: String,
    title: String,
    severity: Severity,
    anchors: Vec<String>,
    pattern: String,
    #[serde(default)]
    variant_from_code: Option<String>,
    #[serde(default)]
    variant_from_frame: Option<String>,
    remediation: String,
    #[serde(default)]
    references: Vec<String>,
    /// Replaces the earlier signature of the same id (a built-in one), in its place.
    #[serde(default, rename = "override")]
    replaces: bool,
}

/// One known failure: how to find it and how to fix it.
#[derive(Debug, Clone)]
pub struct Signature {
    /// Stable kebab-case id, e.g. `websocket-not-accepted`.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// How bad it is.
    pub severity: Severity,
    /// Literals, one of which every matching record contains (the prefilter).
    pub anchors: Vec<String>,
    /// Confirms the match; the first matching capture group whose name starts with `variant`
    /// (`variant`, `variant_signal`, ...) names the variant.
    pub pattern: Pattern,
    /// Applied to the code lines of application frames, innermost first: its `variant` group
    /// names the variant (e.g. the WebSocket method the application called).
    pub variant_from_code: Option<Regex>,
    /// A file path fragment: the function of the outermost frame in such a file is the variant.
    pub variant_from_frame: Option<String>,
    /// The fix, with a short code example.
    pub remediation: String,
    /// Links to upstream documentation or issues.
    pub references: Vec<String>,
    /// The pattern file it came from.
    pub source: PathBuf,
}

/// A signature's regex. A user's pattern is compiled when its file is loaded, so that every
/// mistake shows at start-up; a built-in one (checked by the tests) on first use: compiling
/// all 55 up front was 128 M instructions, three quarters of a small run's start-up
/// (callgrind), while a log usually needs a few of them.
#[derive(Debug, Clone)]
pub struct Pattern {
    src: String,
    re: OnceLock<Regex>,
}

impl Pattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.src
    }

    /// The compiled regex.
    pub fn regex(&self) -> &Regex {
        self.re.get_or_init(|| {
            // Only a built-in pattern gets here uncompiled; the catalog tests compile each.
            Regex::new(&self.src).expect("built-in patterns compile")
        })
    }
}

/// The compiled catalog, in load order (built-ins first). Order is priority: when two
/// signatures match the same text, the earlier one wins.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The signatures.
    pub signatures: Vec<Signature>,
    /// Fields of JSON lines that hold a traceback, besides the built-in ones.
    pub json_trace_fields: Vec<String>,
}

impl Catalog {
    /// The built-in catalog.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        let mut c = Catalog::default();
        for (name, text) in BUILTIN {
            c.add(Path::new(name), text, false)?;
        }
        Ok(c)
    }

    /// Adds every `*.toml` file of `dir`, in file-name order.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), CatalogError> {
        for (f, text) in read_dir_toml(dir)? {
            self.add_str(&f, &text)?;
        }
        Ok(())
    }

    /// Parses, validates and adds one pattern file.
    pub fn add_str(&mut self, path: &Path, text: &str) -> Result<(), CatalogError> {
        self.add(path, text, true)
    }

    /// Adds one pattern file; `eager` compiles its patterns now.
    fn add(&mut self, path: &Path, text: &str, eager: bool) -> Result<(), CatalogError> {
        let file: File = toml::from_str(text).map_err(|e| CatalogError::Syntax {
            path: path.into(),
            reason: e.to_string().trim().to_string(),
        })?;
        let known: HashMap<String, PathBuf> = self
            .signatures
            .iter()
            .map(|s| (s.id.clone(), s.source.clone()))
            .collect();
        let mut seen: HashMap<String, PathBuf> = known;
        if let Some(j) = file.json {
            for f in j.trace_fields {
                if f.trim().is_empty() {
                    return Err(CatalogError::Syntax {
                        path: path.into(),
                        reason: "[json] trace_fields: a field name is empty".into(),
                    });
                }
                if !self.json_trace_fields.contains(&f) {
                    self.json_trace_fields.push(f);
                }
            }
        }
        let mut replaced: Vec<String> = Vec::new();
        for raw in file.signature {
            let earlier = self.signatures.iter().position(|s| s.id == raw.id);
            match (seen.get(&raw.id), raw.replaces) {
                // An override replaces a signature of an earlier file, once.
                (Some(_), true) if earlier.is_some() && !replaced.contains(&raw.id) => {}
                (Some(first), _) => {
                    return Err(CatalogError::Duplicate {
                        path: path.into(),
                        id: raw.id,
                        first: first.clone(),
                    });
                }
                (None, true) => {
                    return Err(CatalogError::Signature {
                        path: path.into(),
                        id: raw.id,
                        reason: "override = true, but no earlier signature has this id \
                                 (see faultline signatures)"
                            .into(),
                    });
                }
                (None, false) => {}
            }
            let replaces = raw.replaces;
            let sig = compile(path, raw, eager)?;
            seen.insert(sig.id.clone(), path.into());
            match earlier {
                Some(i) if replaces => {
                    replaced.push(sig.id.clone());
                    self.signatures[i] = sig;
                }
                _ => self.signatures.push(sig),
            }
        }
        Ok(())
    }

    /// Drops the signatures with these ids (`--disable`); an id the catalog does not have
    /// is an error, with the nearest id that it has.
    pub fn disable(&mut self, ids: &[String]) -> Result<(), CatalogError> {
        for id in ids {
            self.find(id)?;
        }
        self.signatures.retain(|s| !ids.contains(&s.id));
        Ok(())
    }

    /// The signature with this id, or an error that names the nearest id the catalog has.
    pub fn find(&self, id: &str) -> Result<&Signature, CatalogError> {
        self.get(id).ok_or_else(|| CatalogError::Unknown {
            id: id.to_string(),
            hint: self.nearest(id).map(str::to_string),
        })
    }

    /// The id most like `id` (most shared words, then shortest), if any shares a word.
    pub fn nearest(&self, id: &str) -> Option<&str> {
        let words: Vec<&str> = id.split(['-', '_', ' ']).filter(|w| w.len() > 2).collect();
        self.signatures
            .iter()
            .map(|s| {
                let shared = words.iter().filter(|w| s.id.contains(*w)).count();
                (shared, std::cmp::Reverse(s.id.len()), s.id.as_str())
            })
            .filter(|(n, _, _)| *n > 0)
            .max()
            .map(|(_, _, id)| id)
    }

    /// Looks a signature up by id.
    pub fn get(&self, id: &str) -> Option<&Signature> {
        self.signatures.iter().find(|s| s.id == id)
    }
}

/// The pattern files at `path`: the file itself, or a directory's `*.toml` files in name
/// order; each with its text.
pub fn read_patterns(path: &Path) -> Result<Vec<(PathBuf, String)>, CatalogError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => read_dir_toml(path),
        Ok(_) => {
            let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
                path: path.into(),
                source,
            })?;
            Ok(vec![(path.into(), text)])
        }
        Err(source) => Err(CatalogError::Dir {
            path: path.into(),
            source,
        }),
    }
}

/// The `*.toml` files of a directory with their text, in file-name order.
pub fn read_dir_toml(dir: &Path) -> Result<Vec<(PathBuf, String)>, CatalogError> {
    let rd = std::fs::read_dir(dir).map_err(|source| CatalogError::Dir {
        path: dir.into(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).map_err(|source| CatalogError::Read {
                path: f.clone(),
                source,
            })?;
            Ok((f, text))
        })
        .collect()
}

/// Whether every match of a pattern contains one of its anchors.
///
/// Sound, not complete: a pattern is accepted when each of its alternatives has a part that
/// always matches one of a few exact strings, each containing an anchor. Exact strings are
/// followed through concatenations, small classes (`['"]`), optional parts and captures.
mod anchored {
    use regex_syntax::hir::{Class, Hir, HirKind};

    /// Exact strings are not enumerated past this many.
    const LIMIT: usize = 256;

    pub(super) fn covered(h: &Hir, anchors: &[String]) -> bool {
        if let Some(set) = exact(h) {
            return !set.is_empty() && set.iter().all(|s| has_anchor(s, anchors));
        }
        match h.kind() {
            HirKind::Capture(c) => covered(&c.sub, anchors),
            HirKind::Repetition(r) => r.min >= 1 && covered(&r.sub, anchors),
            HirKind::Alternation(alts) => alts.iter().all(|a| covered(a, anchors)),
            HirKind::Concat(parts) => {
                let mut run: Option<Vec<Vec<u8>>> = Some(vec![Vec::new()]);
                for p in parts {
                    match (exact(p), run.take()) {
                        (Some(set), Some(r)) => run = product(&r, &set),
                        (Some(set), None) => run = Some(set),
                        (None, r) => {
                            // The run goes on into the exact start of this part.
                            let r = match (r, edge(p, true)) {
                                (Some(r), Some(pre)) => product(&r, &pre),
                                (r, _) => r,
                            };
                            if r.is_some_and(|r| r.iter().all(|s| has_anchor(s, anchors))) {
                                return true;
                            }
                            if covered(p, anchors) {
                                return true;
                            }
                            // A new run starts with the exact end of this part.
                            run = edge(p, false);
                        }
                    }
                    if run
                        .as_ref()
                        .is_some_and(|r| !r.is_empty() && r.iter().all(|s| has_anchor(s, anchors)))
                    {
                        return true;
                    }
                }
                false
            }
            _ => false,
        }
    }

    fn has_anchor(s: &[u8], anchors: &[String]) -> bool {
        anchors
            .iter()
            .any(|a| memchr::memmem::find(s, a.as_bytes()).is_some())
    }

    fn product(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
        if a.len().saturating_mul(b.len()) > LIMIT {
            return None;
        }
        Some(
            a.iter()
                .flat_map(|x| {
                    b.iter().map(move |y| {
                        let mut v = x.clone();
                        v.extend_from_slice(y);
                        v
                    })
                })
                .collect(),
        )
    }

    /// The exact strings `h` starts (`start`) or ends with, when they are few: the leading
    /// (trailing) exact parts of a concatenation.
    fn edge(h: &Hir, start: bool) -> Option<Vec<Vec<u8>>> {
        match h.kind() {
            HirKind::Capture(c) => edge(&c.sub, start),
            HirKind::Concat(parts) => {
                let mut acc = vec![Vec::new()];
                let take = |p: &Hir, acc: &mut Vec<Vec<u8>>| -> bool {
                    match exact(p).and_then(|set| {
                        if start {
                            product(acc, &set)
                        } else {
                            product(&set, acc)
                        }
                    }) {
                        Some(next) => {
                            *acc = next;
                            true
                        }
                        None => false,
                    }
                };
                if start {
                    for p in parts.iter() {
                        if !take(p, &mut acc) {
                            break;
                        }
                    }
                } else {
                    for p in parts.iter().rev() {
                        if !take(p, &mut acc) {
                            break;
                        }
                    }
                }
                Some(acc)
            }
            _ => exact(h),
        }
    }

    /// The strings `h` can match, when they are few.
    fn exact(h: &Hir) -> Option<Vec<Vec<u8>>> {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => Some(vec![Vec::new()]),
            HirKind::Literal(l) => Some(vec![l.0.to_vec()]),
            HirKind::Class(Class::Unicode(c)) => {
                let n: u32 = c
                    .ranges()
                    .iter()
                    .map(|r| r.end() as u32 - r.start() as u32 + 1)
                    .sum();
                if n > 4 {
                    return None;
                }
                let mut out = Vec::new();
                for r in c.ranges() {
                    for ch in r.start()..=r.end() {
                        out.push(ch.to_string().into_bytes());
                    }
                }
                Some(out)
            }
            HirKind::Class(Class::Bytes(c)) => {
                let n: u32 = c
                    .ranges()
                    .iter()
                    .map(|r| u32::from(r.end() - r.start()) + 1)
                    .sum();
                if n > 4 {
                    return None;
                }
                Some(
                    c.ranges()
                        .iter()
                        .flat_map(|r| (r.start()..=r.end()).map(|b| vec![b]))
                        .collect(),
                )
            }
            HirKind::Capture(c) => exact(&c.sub),
            HirKind::Repetition(r) => {
                let sub = exact(&r.sub)?;
                match (r.min, r.max) {
                    (0, Some(1)) => {
                        let mut v = vec![Vec::new()];
                        v.extend(sub);
                        Some(v)
                    }
                    (m, Some(x)) if m == x && m <= 4 => {
                        let mut acc = vec![Vec::new()];
                        for _ in 0..m {
                            acc = product(&acc, &sub)?;
                        }
                        Some(acc)
                    }
                    _ => None,
                }
            }
            HirKind::Concat(parts) => {
                let mut acc = vec![Vec::new()];
                for p in parts {
                    acc = product(&acc, &exact(p)?)?;
                }
                Some(acc)
            }
            HirKind::Alternation(alts) => {
                let mut out = Vec::new();
                for a in alts {
                    out.extend(exact(a)?);
                    if out.len() > LIMIT {
                        return None;
                    }
                }
                Some(out)
            }
        }
    }
}

fn compile(path: &Path, raw: RawSignature, eager: bool) -> Result<Signature, CatalogError> {
    let bad = |reason: String| CatalogError::Signature {
        path: path.into(),
        id: raw.id.clone(),
        reason,
    };
    let id_ok = !raw.id.is_empty()
        && raw
            .id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if !id_ok {
        return Err(bad(
            "id must be kebab-case: lowercase letters, digits and '-'".into(),
        ));
    }
    if raw.title.trim().is_empty() {
        return Err(bad("title is empty".into()));
    }
    if raw.remediation.trim().is_empty() {
        return Err(bad("remediation is empty".into()));
    }
    if raw.anchors.is_empty() {
        return Err(bad(
            "needs at least one anchor (a literal every match contains)".into(),
        ));
    }
    for a in &raw.anchors {
        // Anchors are searched in raw bytes, JSON lines included, where `"` and `\` are escaped
        // and non-ASCII may be `\uXXXX`: such an anchor would miss JSON records.
        if a.len() < 4
            || !a
                .bytes()
                .all(|c| (b' '..=b'~').contains(&c) && c != b'"' && c != b'\\')
        {
            return Err(bad(format!(
                "anchor {a:?} must be at least 4 printable ASCII characters without '\"' or '\\'"
            )));
        }
    }
    let re = OnceLock::new();
    if eager {
        let r = Regex::new(&raw.pattern).map_err(|e| bad(format!("bad pattern regex: {e}")))?;
        let _ = re.set(r);
    }
    let hir =
        regex_syntax::parse(&raw.pattern).map_err(|e| bad(format!("bad pattern regex: {e}")))?;
    if !anchored::covered(&hir, &raw.anchors) {
        return Err(bad(format!(
            "the pattern can match text that holds none of the anchors {:?}: lines without an \
             anchor are never read, so such matches would be missed; add an anchor that every \
             match contains",
            raw.anchors
        )));
    }
    let variant_from_code = match &raw.variant_from_code {
        Some(r) => {
            let re = Regex::new(r).map_err(|e| bad(format!("bad variant_from_code regex: {e}")))?;
            if !re.capture_names().any(|n| n == Some("variant")) {
                return Err(bad(
                    "variant_from_code needs a (?P<variant>...) group".into()
                ));
            }
            Some(re)
        }
        None => None,
    };
    Ok(Signature {
        id: raw.id,
        title: raw.title,
        severity: raw.severity,
        anchors: raw.anchors,
        pattern: Pattern {
            src: raw.pattern,
            re,
        },
        variant_from_code,
        variant_from_frame: raw.variant_from_frame,
        remediation: raw.remediation.trim_end().to_string(),
        references: raw.references,
        source: path.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_loads() {
        let c = Catalog::builtin().unwrap();
        assert!(c.signatures.len() >= 40, "{}", c.signatures.len());
        for id in [
            "missing-settings-attribute",
            "websocket-not-accepted",
            "url-not-string",
            "datetime-float-mismatch",
        ] {
            assert!(c.get(id).is_some(), "{id}");
        }
        // Built-in patterns are compiled on first use: each must compile.
        for s in &c.signatures {
            Regex::new(s.pattern.as_str()).unwrap_or_else(|e| panic!("{}: {e}", s.id));
        }
    }

    fn load(text: &str) -> Result<Catalog, CatalogError> {
        let mut c = Catalog::default();
        c.add_str(Path::new("user/x.toml"), text).map(|_| c)
    }

    const OK: &str = r#"
[[signature]]
id = "my-sig"
title = "t"
severity = "error"
anchors = ["boom"]
pattern = 'boom (?P<variant>\w+)'
remediation = "fix it"
"#;

    #[test]
    fn bad_regex_names_file_and_signature() {
        let e = load(&OK.replace(r"(?P<variant>\w+)", "(unclosed"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("user/x.toml: signature 'my-sig': bad pattern regex"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_id_is_rejected() {
        let e = load(&format!("{OK}{OK}")).unwrap_err().to_string();
        assert!(
            e.contains("'my-sig': duplicate id, already defined in user/x.toml"),
            "{e}"
        );
        let mut c = Catalog::builtin().unwrap();
        let e = c
            .add_str(Path::new("u.toml"), &OK.replace("my-sig", "url-not-string"))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("already defined in patterns/incident.toml"),
            "{e}"
        );
    }

    #[test]
    fn bad_toml_and_bad_anchor_and_unknown_field() {
        assert!(load("[[signature]\n")
            .unwrap_err()
            .to_string()
            .starts_with("user/x.toml: invalid pattern file"));
        let e = load(&OK.replace(r#"["boom"]"#, r#"["say \"hi\""]"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("anchor"), "{e}");
        let e = load(&OK.replace("remediation", "remedy"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field"), "{e}");
        let e = load(&OK.replace("my-sig", "My Sig"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("kebab-case"), "{e}");
    }
}
