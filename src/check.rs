//! The catalog's accuracy on a corpus of cases: `faultline signatures --check DIR`.
//!
//! A case is one TOML file: a log excerpt (`input`) and what `analyze` must make of it: the
//! signatures with their counts, variants and locations (`[[expect]]`), and optionally the
//! request and record counts and the unknown-exception groups. A signature reported that no
//! `[[expect]]` names is a false positive, so a case without `[[expect]]` must match nothing;
//! `not = [...]` names the signatures a look-alike case is meant for. Each case runs through
//! the whole pipeline, as a log file would.
//!
//! ```toml
//! description = "Python 3.11 adds a suggestion after the attribute"
//! input = """
//! AttributeError: 'Settings' object has no attribute 'REDIS_URI'. Did you mean: 'REDIS_URL'?
//! """
//! [[expect]]
//! id = "missing-settings-attribute"
//! variant = "REDIS_URI"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::framing::Layout;
use crate::input::InputSpec;
use crate::report::Report;
use crate::Config;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    /// What the case shows (not checked).
    #[allow(dead_code)]
    description: String,
    input: String,
    /// `text`, `docker`, `cri`, `compose` or `journald`; detected when absent.
    #[serde(default)]
    input_format: Option<String>,
    #[serde(default)]
    expect: Vec<Expect>,
    /// Signatures this case is a look-alike of: they must not match it.
    #[serde(default, rename = "not")]
    not: Vec<String>,
    /// Request lines that must be read.
    #[serde(default)]
    requests: Option<u64>,
    /// Records that must be framed.
    #[serde(default)]
    records: Option<u64>,
    /// Unknown-exception groups that must be reported (others may be too).
    #[serde(default)]
    exceptions: Vec<ExpectException>,
    /// The number of unknown-exception groups, when it matters.
    #[serde(default)]
    exception_groups: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    id: String,
    #[serde(default = "one")]
    count: u64,
    /// A variant that must be reported, with any count.
    #[serde(default)]
    variant: Option<String>,
    /// `FILE:LINE` of a location that must be reported.
    #[serde(default)]
    location: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectException {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default = "one")]
    count: u64,
    #[serde(default)]
    message: Option<String>,
    /// `FILE:LINE`.
    #[serde(default)]
    location: Option<String>,
}

fn one() -> u64 {
    1
}

/// Per-signature tallies over a corpus.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Cases that expect it and got it right.
    pub hits: u64,
    /// Cases that expect it and did not get it (or with another count, variant or location).
    pub misses: u64,
    /// Cases that do not expect it and got it.
    pub false_positives: u64,
    /// Look-alike cases (`not = [...]`) it rightly did not match.
    pub negatives: u64,
}

/// The result of a corpus run.
#[derive(Debug, Default)]
pub struct CheckResult {
    /// Cases run.
    pub cases: usize,
    /// By signature id, in id order; every signature of the catalog is listed.
    pub by_signature: BTreeMap<String, Tally>,
    /// `(case file, what went wrong)`, in file order.
    pub failures: Vec<(PathBuf, String)>,
}

impl CheckResult {
    /// Whether every case passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// An error that stops a corpus run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The directory cannot be listed.
    #[error("{path}: cannot read the case directory: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No case file in it.
    #[error("{0}: no *.toml case file")]
    Empty(PathBuf),
}

/// Runs every `*.toml` case file of `dir` (recursively, in path order) with `config`.
pub fn check_dir(dir: &Path, config: &Config) -> Result<CheckResult, CheckError> {
    let mut files = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.map_err(|e| CheckError::Dir {
            path: dir.into(),
            source: e.into(),
        })?;
        if e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "toml") {
            files.push(e.into_path());
        }
    }
    if files.is_empty() {
        return Err(CheckError::Empty(dir.into()));
    }
    let mut res = CheckResult::default();
    for s in &config.classifier.catalog().signatures {
        res.by_signature.insert(s.id.clone(), Tally::default());
    }
    for f in files {
        res.cases += 1;
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                res.failures.push((f, format!("cannot read: {e}")));
                continue;
            }
        };
        let case: CaseFile = match toml::from_str(&text) {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string().trim().to_string();
                res.failures.push((f, format!("invalid case file: {msg}")));
                continue;
            }
        };
        let problems = run_case(&f, &case, config, &mut res.by_signature);
        res.failures
            .extend(problems.into_iter().map(|p| (f.clone(), p)));
    }
    Ok(res)
}

/// Runs one case; returns what went wrong, and counts into `tally`.
fn run_case(
    path: &Path,
    case: &CaseFile,
    config: &Config,
    tally: &mut BTreeMap<String, Tally>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut config = config.clone();
    if let Some(f) = &case.input_format {
        match Layout::from_name(f) {
            Some(l) => config.scan.layout = Some(l),
            None => return vec![format!("unknown input_format {f:?}")],
        }
    }
    let name = path.display().to_string();
    let spec = InputSpec::Bytes {
        name,
        data: Arc::from(case.input.as_bytes()),
    };
    let report = match crate::analyze(&[spec], &config) {
        Ok(o) => o.report,
        Err(e) => return vec![format!("analysis failed: {e}")],
    };
    check_signatures(case, &report, tally, &mut problems);
    if let Some(n) = case.requests {
        if report.requests.count != n {
            problems.push(format!("{} requests read, want {n}", report.requests.count));
        }
    }
    if let Some(n) = case.records {
        if report.input.records != n {
            problems.push(format!("{} records framed, want {n}", report.input.records));
        }
    }
    for want in &case.exceptions {
        let found = report.exceptions.iter().find(|g| {
            g.r#type == want.ty
                && want.message.as_ref().is_none_or(|m| &g.message == m)
                && want.location.as_ref().is_none_or(|l| {
                    g.location
                        .as_ref()
                        .is_some_and(|x| format!("{}:{}", x.file, x.line) == *l)
                })
        });
        match found {
            Some(g) if g.count == want.count => {}
            Some(g) => problems.push(format!(
                "exception group {} has {} records, want {}",
                want.ty, g.count, want.count
            )),
            None => problems.push(format!(
                "no exception group {} (message {:?}, location {:?}); got {:?}",
                want.ty,
                want.message,
                want.location,
                report
                    .exceptions
                    .iter()
                    .map(|g| format!("{}: {}", g.r#type, g.message))
                    .collect::<Vec<_>>()
            )),
        }
    }
    if let Some(n) = case.exception_groups {
        if report.exceptions.len() != n {
            problems.push(format!(
                "{} exception groups, want {n}",
                report.exceptions.len()
            ));
        }
    }
    problems
}

fn check_signatures(
    case: &CaseFile,
    report: &Report,
    tally: &mut BTreeMap<String, Tally>,
    problems: &mut Vec<String>,
) {
    for want in &case.expect {
        let got = report.signatures.iter().find(|s| s.id == want.id);
        let mut why = Vec::new();
        match got {
            None => why.push("not found".to_string()),
            Some(s) => {
                if s.count != want.count {
                    why.push(format!("count {}, want {}", s.count, want.count));
                }
                if let Some(v) = &want.variant {
                    if !s.variants.iter().any(|x| &x.value == v) {
                        let have: Vec<&str> = s.variants.iter().map(|x| x.value.as_str()).collect();
                        why.push(format!("no variant {v:?} (have {have:?})"));
                    }
                }
                if let Some(l) = &want.location {
                    let have: Vec<String> = s
                        .locations
                        .iter()
                        .map(|x| format!("{}:{}", x.file, x.line))
                        .collect();
                    if !have.contains(l) {
                        why.push(format!("no location {l} (have {have:?})"));
                    }
                }
            }
        }
        let t = tally.entry(want.id.clone()).or_default();
        if why.is_empty() {
            t.hits += 1;
        } else {
            t.misses += 1;
            problems.push(format!("{}: {}", want.id, why.join(", ")));
        }
    }
    for s in &report.signatures {
        if !case.expect.iter().any(|e| e.id == s.id) {
            tally.entry(s.id.clone()).or_default().false_positives += 1;
            problems.push(format!("{}: false positive ({} records)", s.id, s.count));
        }
    }
    for id in &case.not {
        if case.expect.iter().any(|e| &e.id == id) {
            problems.push(format!("{id}: both expected and listed in `not`"));
        } else if !report.signatures.iter().any(|s| &s.id == id) {
            tally.entry(id.clone()).or_default().negatives += 1;
        }
    }
}

/// Renders a result as text: one row per signature, then each failing case.
pub fn render(res: &CheckResult) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let w = res
        .by_signature
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(9)
        .max(9);
    let _ = writeln!(
        o,
        "{:<w$}  {:>5}  {:>6}  {:>15}  {:>9}",
        "signature", "hits", "misses", "false positives", "negatives"
    );
    for (id, t) in &res.by_signature {
        let _ = writeln!(
            o,
            "{id:<w$}  {:>5}  {:>6}  {:>15}  {:>9}",
            t.hits, t.misses, t.false_positives, t.negatives
        );
    }
    let _ = writeln!(
        o,
        "\n{} case(s), {} failure(s)",
        res.cases,
        res.failures.len()
    );
    for (f, why) in &res.failures {
        let _ = writeln!(o, "FAIL {}: {why}", f.display());
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corpus summary: a line a signature (hits, misses, false positives, look-alikes),
    /// then each failure with its case file, then the totals.
    #[test]
    fn render_snapshot() {
        let tally = |hits, misses, false_positives, negatives| Tally {
            hits,
            misses,
            false_positives,
            negatives,
        };
        let res = CheckResult {
            cases: 3,
            by_signature: BTreeMap::from([
                ("missing-settings-attribute".to_string(), tally(2, 0, 0, 1)),
                ("websocket-not-accepted".to_string(), tally(0, 1, 1, 0)),
            ]),
            failures: vec![(
                PathBuf::from("tests/corpus/websocket/quoted.toml"),
                "expected websocket-not-accepted, got none".to_string(),
            )],
        };
        assert!(!res.passed());
        insta::assert_snapshot!(render(&res));
    }
}
