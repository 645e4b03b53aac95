//! Redaction of secrets in what a report shows of the log.
//!
//! A log is untrusted input, and a report is shared. Every string taken from a log (variants,
//! locations, exception messages, endpoints, sources, notes, example records) goes through
//! [`Redactor::redact`] before it is rendered, in every format. Each secret is replaced by a
//! marker that names its kind (`[REDACTED:jwt]`), so a reader still sees what was there.
//! Redaction runs on what is reported (a few thousand strings), not on every byte read.
//!
//! What is a secret: a bearer token, a JWT, the key shapes of OpenAI/Anthropic (`sk-...`), AWS
//! (`AKIA...`/`ASIA...`), GitHub (`ghp_...` and its kin) and Slack (`xoxb-...`), the password
//! of a URL (`postgresql://app:PASSWORD@db`), and the value of a key named like `*_KEY`,
//! `*_SECRET`, `*_TOKEN`, `SECRET`, `TOKEN` or `PASSWORD` in logfmt, JSON or `KEY=value` text.
//! A setting's name alone (`AGENTOPS_API_KEY`, as a variant) is not a secret and stays.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::{Captures, Regex};

/// A secret shape: its kind (in the marker), its pattern, and the capture group that is the
/// secret (0: the whole match).
struct Rule {
    kind: &'static str,
    re: Regex,
    group: usize,
}

/// The compiled rules.
pub struct Redactor {
    rules: Vec<Rule>,
    cut: Regex,
}

/// The start of a secret at the end of a string cut short (`... ghp_ab…`: an exception
/// message is cut at 200 characters, maybe inside a secret the rules no longer recognize).
const CUT: &str = r#"(?i)(?:\beyJ[A-Za-z0-9_.-]*|\bsk-[A-Za-z0-9_-]*|\bgh[pousr]_[A-Za-z0-9_]*|\bgithub_pat_[A-Za-z0-9_]*|\b(?:AKIA|ASIA)[0-9A-Z]*|\bxox[abposr]-[A-Za-z0-9-]*|\bbearer\s+[^\s\[]*|://[^\s:/@]+:[^\s@/]*|[a-z0-9_.-]*(?:[_.-](?:key|secret|token)|apikey|secret|token|password|passwd|pwd)["']?\s*[:=]\s*["']?[^\s"'\[]*)…$"#;

/// The shapes, most specific first: a JWT inside `Authorization: Bearer eyJ...` is a JWT.
const RULES: &[(&str, &str, usize)] = &[
    (
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}",
        0,
    ),
    ("bearer", r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{8,}=*)", 1),
    ("api_key", r"\bsk-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_]{20,}", 0),
    ("aws_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", 0),
    (
        "github_token",
        r"\b(?:gh[pousr]|github_pat)_[A-Za-z0-9_]{30,}",
        0,
    ),
    ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", 0),
    (
        "password",
        r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@",
        1,
    ),
    // `"api_token": "a b"` and `password='x y'`: the quoted value, whatever it holds; also
    // with its quotes escaped, as JSON logged inside a string is (`{\"api_token\": \"x\"}`).
    (
        "secret",
        r#"(?i)\b[a-z0-9_.-]*(?:[_.-](?:key|secret|token)|apikey|secret|token|password|passwd|pwd)\\?["']?\s*[:=]\s*\\?["']([^"'\n\\]+)\\?["']"#,
        1,
    ),
    // `password=hunter2`, `AGENTOPS_API_KEY=abc`, `token: abc`: up to a space or separator.
    (
        "secret",
        r#"(?i)\b[a-z0-9_.-]*(?:[_.-](?:key|secret|token)|apikey|secret|token|password|passwd|pwd)\s*[:=]\s*([^\s"',;&)}\]\[…]+)"#,
        1,
    ),
];

impl Redactor {
    /// The built-in rules.
    pub fn builtin() -> &'static Redactor {
        static R: OnceLock<Redactor> = OnceLock::new();
        R.get_or_init(|| {
            let rules: Vec<Rule> = RULES
                .iter()
                .map(|&(kind, re, group)| Rule {
                    kind,
                    re: Regex::new(re).expect("a built-in redaction pattern"),
                    group,
                })
                .collect();
            let cut = Regex::new(CUT).expect("the built-in cut pattern");
            Redactor { rules, cut }
        })
    }

    /// `s` with every secret replaced by `[REDACTED:KIND]`.
    pub fn redact<'a>(&self, s: &'a str) -> Cow<'a, str> {
        // Each rule is tried on its own: a set of them compiled the patterns twice at
        // start-up, for a handful of reported strings.
        let mut out = Cow::Borrowed(s);
        for rule in &self.rules {
            if !rule.re.is_match(&out) {
                continue;
            }
            let marker = format!("[REDACTED:{}]", rule.kind);
            let replaced = rule
                .re
                .replace_all(&out, |c: &Captures<'_>| {
                    let whole = c.get(0).expect("the match");
                    match c.get(rule.group) {
                        // A marker is not redacted again (`token=[REDACTED:jwt]`).
                        Some(m) if m.as_str().starts_with("[REDACTED:") => whole.as_str().into(),
                        Some(m) => {
                            let (a, b) = (m.start() - whole.start(), m.end() - whole.start());
                            let w = whole.as_str();
                            format!("{}{marker}{}", &w[..a], &w[b..])
                        }
                        None => whole.as_str().to_string(),
                    }
                })
                .into_owned();
            out = Cow::Owned(replaced);
        }
        if out.ends_with('…') && self.cut.is_match(&out) {
            out = Cow::Owned(self.cut.replace(&out, "[REDACTED:cut]…").into_owned());
        }
        out
    }

    /// Redacts `s` in place.
    pub fn apply(&self, s: &mut String) {
        if let Cow::Owned(r) = self.redact(s) {
            *s = r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        Redactor::builtin().redact(s).into_owned()
    }

    #[test]
    fn each_kind_is_replaced_by_its_marker() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU";
        let cases = [
            (
                format!("auth failed for {jwt} at gate"),
                "auth failed for [REDACTED:jwt] at gate",
            ),
            (
                "Authorization: Bearer abcDEF123456ghiJKL".into(),
                "Authorization: Bearer [REDACTED:bearer]",
            ),
            (
                format!("Authorization: Bearer {jwt}"),
                "Authorization: Bearer [REDACTED:jwt]",
            ),
            (
                "openai key sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12 rejected".into(),
                "openai key [REDACTED:api_key] rejected",
            ),
            (
                "id AKIAIOSFODNN7EXAMPLE used".into(),
                "id [REDACTED:aws_key] used",
            ),
            (
                "push with ghp_abcdefghijklmnopqrstuvwxyz0123456789 failed".into(),
                "push with [REDACTED:github_token] failed",
            ),
            (
                "slack xoxb-1234567890-abcdefghij denied".into(),
                "slack [REDACTED:slack_token] denied",
            ),
            (
                "connect postgresql://app:hunter2@db:5432/app refused".into(),
                "connect postgresql://app:[REDACTED:password]@db:5432/app refused",
            ),
            (
                "login user=bob password=hunter2 ok".into(),
                "login user=bob password=[REDACTED:secret] ok",
            ),
            (
                "AGENTOPS_API_KEY=ao-12345 loaded".into(),
                "AGENTOPS_API_KEY=[REDACTED:secret] loaded",
            ),
            (
                r#"{"user":"bob","api_token": "tok en 42","n":1}"#.into(),
                r#"{"user":"bob","api_token": "[REDACTED:secret]","n":1}"#,
            ),
            (
                r#"msg="body {\"api_token\": \"tok en 42\"}""#.into(),
                r#"msg="body {\"api_token\": \"[REDACTED:secret]\"}""#,
            ),
            (
                "DB_PASSWORD: s3cr3t".into(),
                "DB_PASSWORD: [REDACTED:secret]",
            ),
            (
                "client_secret='abc def'".into(),
                "client_secret='[REDACTED:secret]'",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(r(&input), want, "{input}");
        }
    }

    #[test]
    fn names_and_ordinary_text_stay() {
        for s in [
            "AttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'",
            "AGENTOPS_API_KEY",
            "cache key=user:42 miss",
            "max_tokens=512 temperature=0.2",
            "GET /api/v1/trips/{id}",
            "/srv/app/api/status.py",
            "http://example.com/path",
            "postgresql://db:5432/app",
            "skip-worktree flag set",
            "bearer of bad news",
            "token bucket refilled",
        ] {
            assert_eq!(r(s), s);
        }
    }

    #[test]
    fn a_secret_cut_short_is_redacted_too() {
        assert_eq!(r("refused key ghp_ab…"), "refused key [REDACTED:cut]…");
        assert_eq!(
            r("login password=hun…"),
            "login password=[REDACTED:secret]…"
        );
        assert_eq!(r("jwt eyJhbGciOiJIUzI1NiJ9.eyJz…"), "jwt [REDACTED:cut]…");
        // A cut word that is no secret's start stays.
        assert_eq!(r("the user asked for more…"), "the user asked for more…");
        assert_eq!(r("a risk-…"), "a risk-…");
    }

    #[test]
    fn a_marker_is_left_alone() {
        let once = r("token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU");
        assert_eq!(once, "token=[REDACTED:jwt]");
        assert_eq!(r(&once), once);
    }
}
