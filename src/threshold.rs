//! Alert thresholds (`--fail-on`): a small expression list, checked against a report or a
//! comparison; a breach is a finding, reported with the value that crossed the line.
//!
//! ```text
//! websocket-not-accepted>0     a signature's records
//! any-signature>10             any one signature's records
//! exceptions>0                 records of exceptions no signature matched
//! 5xx>100                      responses with status 500-599
//! error-rate>1%                5xx / requests (1% or 0.01)
//! p50>500ms   p99>2s           latency of every request (us, ms, s)
//! endpoint:GET /api/v1/health:p99>1s     one endpoint: count, 5xx, error-rate, p50, p99
//! new   regressed              a comparison's signature status (compare only)
//! ```
//!
//! Expressions are separated by commas; `>=` may be used for `>`.

use std::fmt;

use crate::compare::{Comparison, Status};
use crate::report::Report;

/// A parsed `--fail-on` list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Thresholds {
    /// The expressions, in the order given.
    pub rules: Vec<Rule>,
}

/// One expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The expression as written, for the breach message.
    pub text: String,
    /// What it checks.
    pub check: Check,
}

/// What a rule checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// A value compared with a limit.
    Compare {
        /// The value.
        metric: Metric,
        /// `>=` rather than `>`.
        or_equal: bool,
        /// The limit, in the metric's unit (records, a fraction, milliseconds).
        limit: f64,
    },
    /// A signature or exception whose status in a comparison is `new`.
    New,
    /// One whose status is `regressed`.
    Regressed,
}

/// A value of a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// One signature's records, by id.
    Signature(String),
    /// The largest signature count.
    AnySignature,
    /// Records of exceptions no signature matched.
    Exceptions,
    /// Responses with status 500-599.
    Errors5xx,
    /// `5xx / requests`.
    ErrorRate,
    /// Median latency of every request, milliseconds.
    P50,
    /// 99th percentile latency, milliseconds.
    P99,
    /// One endpoint's value.
    Endpoint(String, EndpointMetric),
}

/// A value of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EndpointMetric {
    /// Requests.
    Count,
    /// 5xx responses.
    Errors5xx,
    /// `5xx / requests`.
    ErrorRate,
    /// Median latency, milliseconds.
    P50,
    /// 99th percentile latency, milliseconds.
    P99,
}

/// A bad expression: what is wrong, and where (a byte offset in the text given).
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// The whole text given.
    pub text: String,
    /// Byte offset of the bad part.
    pub at: usize,
    /// Its length (at least one caret is drawn).
    pub len: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    /// The message, then the text with carets under the bad part.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pad = self.text[..self.at.min(self.text.len())].chars().count();
        let carets = self.text[self.at.min(self.text.len())..]
            .chars()
            .take(self.len)
            .count()
            .max(1);
        write!(
            f,
            "{} (at column {})\n  {}\n  {}{}",
            self.message,
            pad + 1,
            self.text,
            " ".repeat(pad),
            "^".repeat(carets)
        )
    }
}

impl std::error::Error for ParseError {}

/// A rule that a report crossed: the rule, and the value found.
#[derive(Debug, Clone, PartialEq)]
pub struct Breach {
    /// The expression as written.
    pub rule: String,
    /// What was found, e.g. `p99 is 15004.0 ms`.
    pub found: String,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "threshold breached: {} ({})", self.rule, self.found)
    }
}

impl Thresholds {
    /// Parses comma-separated expressions. `known` tells whether a signature id exists (a
    /// typo in an id would otherwise never fire).
    pub fn parse(text: &str, known: impl Fn(&str) -> bool) -> Result<Thresholds, ParseError> {
        let mut rules = Vec::new();
        let mut at = 0;
        for part in text.split(',') {
            let start = at + (part.len() - part.trim_start().len());
            at += part.len() + 1;
            let expr = part.trim();
            if expr.is_empty() {
                return Err(ParseError {
                    text: text.to_string(),
                    at: start,
                    len: 1,
                    message: "empty expression".into(),
                });
            }
            let rule = parse_rule(expr, &known).map_err(|(off, len, message)| ParseError {
                text: text.to_string(),
                at: start + off,
                len,
                message,
            })?;
            rules.push(rule);
        }
        Ok(Thresholds { rules })
    }

    /// Adds the rules of `other`.
    pub fn extend(&mut self, other: Thresholds) {
        self.rules.extend(other.rules);
    }

    /// Whether any rule needs a comparison (`new`, `regressed`).
    pub fn needs_comparison(&self) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| matches!(r.check, Check::New | Check::Regressed))
            .map(|r| r.text.as_str())
    }

    /// The rules `report` crosses, in the order given. `new` and `regressed` never fire
    /// here (a report has no before).
    pub fn check_report(&self, report: &Report) -> Vec<Breach> {
        self.rules
            .iter()
            .filter_map(|r| match &r.check {
                Check::Compare {
                    metric,
                    or_equal,
                    limit,
                } => compare_metric(r, report, metric, *or_equal, *limit),
                Check::New | Check::Regressed => None,
            })
            .collect()
    }

    /// The rules a comparison crosses: `new` and `regressed` on the statuses, every other
    /// rule on the after side.
    pub fn check_comparison(&self, c: &Comparison, after: &Report) -> Vec<Breach> {
        let mut out = Vec::new();
        for r in &self.rules {
            let status = match r.check {
                Check::New => Status::New,
                Check::Regressed => Status::Regressed,
                Check::Compare {
                    ref metric,
                    or_equal,
                    limit,
                } => {
                    out.extend(compare_metric(r, after, metric, or_equal, limit));
                    continue;
                }
            };
            let hits: Vec<&str> = c
                .signatures
                .iter()
                .filter(|s| s.status == status)
                .map(|s| s.id.as_str())
                .collect();
            if !hits.is_empty() {
                out.push(Breach {
                    rule: r.text.clone(),
                    found: format!("{} {}: {}", hits.len(), status.as_str(), hits.join(", ")),
                });
            }
        }
        out
    }
}

fn compare_metric(
    r: &Rule,
    report: &Report,
    metric: &Metric,
    or_equal: bool,
    limit: f64,
) -> Option<Breach> {
    let crosses = |v: f64| if or_equal { v >= limit } else { v > limit };
    let count = |what: &str, n: u64| format!("{what} {n}");
    let ms = |what: &str, v: f64| format!("{what} is {v:.1} ms");
    let rate = |what: &str, v: f64| format!("{what} is {:.3}%", v * 100.0);
    let found = match metric {
        Metric::Signature(id) => {
            let n = report
                .signatures
                .iter()
                .find(|s| &s.id == id)
                .map_or(0, |s| s.count);
            crosses(n as f64).then(|| count(&format!("{id}: records"), n))
        }
        Metric::AnySignature => {
            let over: Vec<String> = report
                .signatures
                .iter()
                .filter(|s| crosses(s.count as f64))
                .map(|s| format!("{} {}", s.id, s.count))
                .collect();
            (!over.is_empty()).then(|| over.join(", "))
        }
        Metric::Exceptions => {
            let n: u64 = report.exceptions.iter().map(|e| e.count).sum();
            crosses(n as f64).then(|| count("other exceptions:", n))
        }
        Metric::Errors5xx => {
            let n = report.requests.errors_5xx;
            crosses(n as f64).then(|| count("5xx responses:", n))
        }
        Metric::ErrorRate => report
            .requests
            .error_rate
            .filter(|&v| crosses(v))
            .map(|v| rate("error rate", v)),
        Metric::P50 => report
            .requests
            .p50_ms
            .filter(|&v| crosses(v))
            .map(|v| ms("p50", v)),
        Metric::P99 => report
            .requests
            .p99_ms
            .filter(|&v| crosses(v))
            .map(|v| ms("p99", v)),
        Metric::Endpoint(name, m) => {
            let e = report.endpoints.iter().find(|e| &e.endpoint == name)?;
            let error_rate = (e.count > 0).then(|| e.errors_5xx as f64 / e.count as f64);
            match m {
                EndpointMetric::Count => {
                    crosses(e.count as f64).then(|| count(&format!("{name}: requests"), e.count))
                }
                EndpointMetric::Errors5xx => crosses(e.errors_5xx as f64)
                    .then(|| count(&format!("{name}: 5xx"), e.errors_5xx)),
                EndpointMetric::ErrorRate => error_rate
                    .filter(|&v| crosses(v))
                    .map(|v| rate(&format!("{name}: error rate"), v)),
                EndpointMetric::P50 => e
                    .p50_ms
                    .filter(|&v| crosses(v))
                    .map(|v| ms(&format!("{name}: p50"), v)),
                EndpointMetric::P99 => e
                    .p99_ms
                    .filter(|&v| crosses(v))
                    .map(|v| ms(&format!("{name}: p99"), v)),
            }
        }
    }?;
    Some(Breach {
        rule: r.text.clone(),
        found,
    })
}

/// The kind of limit a metric takes.
#[derive(Clone, Copy)]
enum Kind {
    Count,
    Rate,
    Latency,
}

fn kind(m: &Metric) -> Kind {
    match m {
        Metric::ErrorRate | Metric::Endpoint(_, EndpointMetric::ErrorRate) => Kind::Rate,
        Metric::P50
        | Metric::P99
        | Metric::Endpoint(_, EndpointMetric::P50 | EndpointMetric::P99) => Kind::Latency,
        _ => Kind::Count,
    }
}

/// An error inside one expression: offset, length, message.
type RuleError = (usize, usize, String);

fn parse_rule(expr: &str, known: &impl Fn(&str) -> bool) -> Result<Rule, RuleError> {
    let rule = |check| Rule {
        text: expr.to_string(),
        check,
    };
    match expr {
        "new" => return Ok(rule(Check::New)),
        "regressed" => return Ok(rule(Check::Regressed)),
        _ => {}
    }
    // The operator is the last `>` (an endpoint's path has none, but keep to the last).
    let Some(op) = expr.rfind('>') else {
        return Err((
            0,
            expr.len(),
            format!("'{expr}' has no comparison: write METRIC>VALUE (p99>2s), new or regressed"),
        ));
    };
    let (name, value_at, or_equal) = match expr[op + 1..].starts_with('=') {
        true => (&expr[..op], op + 2, true),
        false => (&expr[..op], op + 1, false),
    };
    let name = name.trim_end();
    let metric = parse_metric(name, known)?;
    let value = expr[value_at..].trim();
    let value_at = value_at + (expr[value_at..].len() - expr[value_at..].trim_start().len());
    let bad_value = |m: String| (value_at, value.len().max(1), m);
    let limit = match kind(&metric) {
        Kind::Count => value
            .parse::<u64>()
            .map(|n| n as f64)
            .map_err(|_| bad_value(format!("'{value}' is not a count: write a whole number")))?,
        Kind::Rate => parse_rate(value).ok_or_else(|| {
            bad_value(format!(
                "'{value}' is not a rate: write a percentage (1%) or a fraction (0.01)"
            ))
        })?,
        Kind::Latency => parse_latency(value).ok_or_else(|| {
            bad_value(format!(
                "'{value}' is not a latency: write a number and a unit (2s, 500ms, 250us)"
            ))
        })?,
    };
    Ok(rule(Check::Compare {
        metric,
        or_equal,
        limit,
    }))
}

fn parse_metric(name: &str, known: &impl Fn(&str) -> bool) -> Result<Metric, RuleError> {
    if let Some(rest) = name.strip_prefix("endpoint:") {
        let Some(colon) = rest.rfind(':') else {
            return Err((
                0,
                name.len(),
                "write endpoint:METHOD /path:METRIC (count, 5xx, error-rate, p50, p99)".into(),
            ));
        };
        let endpoint = rest[..colon].trim();
        let m = match &rest[colon + 1..] {
            "count" | "requests" => EndpointMetric::Count,
            "5xx" => EndpointMetric::Errors5xx,
            "error-rate" => EndpointMetric::ErrorRate,
            "p50" => EndpointMetric::P50,
            "p99" => EndpointMetric::P99,
            other => {
                return Err((
                    "endpoint:".len() + colon + 1,
                    other.len().max(1),
                    format!(
                        "unknown endpoint metric '{other}': use count, 5xx, error-rate, p50 or p99"
                    ),
                ))
            }
        };
        if endpoint.is_empty() {
            return Err((
                "endpoint:".len(),
                1,
                "no endpoint: write endpoint:METHOD /path:METRIC".into(),
            ));
        }
        return Ok(Metric::Endpoint(endpoint.to_string(), m));
    }
    Ok(match name {
        "any-signature" => Metric::AnySignature,
        "exceptions" => Metric::Exceptions,
        "5xx" => Metric::Errors5xx,
        "error-rate" => Metric::ErrorRate,
        "p50" => Metric::P50,
        "p99" => Metric::P99,
        id if known(id) => Metric::Signature(id.to_string()),
        other => {
            return Err((
                0,
                other.len().max(1),
                format!(
                    "unknown metric '{other}': use a signature id (faultline signatures), \
                     any-signature, exceptions, 5xx, error-rate, p50, p99 or endpoint:..."
                ),
            ))
        }
    })
}

fn parse_rate(v: &str) -> Option<f64> {
    let x = match v.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => v.parse::<f64>().ok()?,
    };
    (x.is_finite() && (0.0..=1.0).contains(&x)).then_some(x)
}

/// A latency in milliseconds: a number with `us`, `ms` or `s`.
fn parse_latency(v: &str) -> Option<f64> {
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = v.split_at(split);
    let x: f64 = num.parse().ok()?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        "m" | "min" => 60e3,
        _ => return None,
    };
    (x.is_finite() && x >= 0.0).then_some(x * scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::EndpointReport;
    use crate::report::{RequestSummary, SignatureReport};

    fn known(id: &str) -> bool {
        matches!(id, "websocket-not-accepted" | "missing-settings-attribute")
    }

    fn parse(s: &str) -> Result<Thresholds, ParseError> {
        Thresholds::parse(s, known)
    }

    #[test]
    fn parses_every_documented_form() {
        let t = parse(
            "websocket-not-accepted>0, any-signature>10,error-rate>1%,p99>2s,\
             endpoint:GET /api/v1/health:p99>1s,new,regressed,5xx>=3,p50>250us,error-rate>0.5",
        )
        .unwrap();
        let limits: Vec<Option<f64>> = t
            .rules
            .iter()
            .map(|r| match r.check {
                Check::Compare { limit, .. } => Some(limit),
                _ => None,
            })
            .collect();
        assert_eq!(
            limits,
            [
                Some(0.0),
                Some(10.0),
                Some(0.01),
                Some(2000.0),
                Some(1000.0),
                None,
                None,
                Some(3.0),
                Some(0.25),
                Some(0.5)
            ]
        );
        assert_eq!(
            t.rules[4].check,
            Check::Compare {
                metric: Metric::Endpoint("GET /api/v1/health".into(), EndpointMetric::P99),
                or_equal: false,
                limit: 1000.0
            }
        );
        assert!(matches!(
            t.rules[7].check,
            Check::Compare { or_equal: true, .. }
        ));
        assert_eq!(t.rules[1].text, "any-signature>10");
        assert_eq!(t.needs_comparison(), Some("new"));
        assert_eq!(parse("p99>2s").unwrap().needs_comparison(), None);
    }

    #[test]
    fn a_bad_expression_points_at_its_position() {
        let e = parse("websocket-not-accepted>0,p98>2s").unwrap_err();
        assert_eq!((e.at, e.len), (25, 3));
        let shown = e.to_string();
        assert!(shown.contains("unknown metric 'p98'"), "{shown}");
        assert!(
            shown.ends_with("  websocket-not-accepted>0,p98>2s\n                           ^^^"),
            "{shown}"
        );
        let e = parse("p99>2 s,p99>fast").unwrap_err();
        assert_eq!((e.at, e.len), (12, 4), "{e}");
        let e = parse("p99>2s, error-rate>five").unwrap_err();
        assert_eq!((e.at, e.len), (19, 4));
        assert!(e.message.contains("not a rate"));
        assert_eq!(parse("p99>2s,,new").unwrap_err().at, 7);
        assert!(parse("error-rate>150%").is_err());
        assert!(parse("any-signature>-1").is_err());
        assert!(parse("any-signature>1.5").is_err());
        assert!(parse("p99").unwrap_err().message.contains("no comparison"));
        assert!(parse("websocket-not-acepted>0")
            .unwrap_err()
            .message
            .contains("unknown metric"));
        let e = parse("endpoint:GET /x:p95>1s").unwrap_err();
        assert_eq!((e.at, e.len), (16, 3));
        assert!(parse("endpoint::p99>1s").is_err());
        assert!(parse("endpoint:GET /x>1s").is_err());
        assert!(parse("p99>2h").is_err());
    }

    proptest::proptest! {
        /// Any text, Unicode included, parses or gives an error whose carets can be drawn.
        #[test]
        fn any_text_parses_or_points_at_an_error(text in "\\PC{0,40}", tail in "[a-z0-9:>=%., /µ-]{0,30}") {
            for t in [text.clone(), format!("{text}>{tail}"), format!("endpoint:{tail}>{text}")] {
                match parse(&t) {
                    Ok(th) => proptest::prop_assert!(!th.rules.is_empty()),
                    Err(e) => {
                        let shown = e.to_string();
                        proptest::prop_assert!(shown.contains('^'), "{}", shown);
                    }
                }
            }
        }
    }

    fn report() -> Report {
        let sig = SignatureReport::named;
        Report {
            signatures: vec![
                sig("websocket-not-accepted", 19),
                sig("missing-settings-attribute", 4),
            ],
            requests: RequestSummary {
                count: 200,
                errors_5xx: 3,
                error_rate: Some(0.015),
                p50_ms: Some(13.0),
                p99_ms: Some(2000.0),
                ..Default::default()
            },
            endpoints: vec![EndpointReport {
                endpoint: "GET /api/v1/health".into(),
                count: 50,
                errors_5xx: 0,
                p50_ms: Some(12.0),
                p95_ms: Some(900.0),
                p99_ms: Some(1500.0),
                max_ms: Some(15004.0),
            }],
            ..Default::default()
        }
    }

    fn breached(s: &str) -> Vec<String> {
        parse(s)
            .unwrap()
            .check_report(&report())
            .into_iter()
            .map(|b| b.to_string())
            .collect()
    }

    #[test]
    fn checks_a_report() {
        assert_eq!(
            breached("websocket-not-accepted>0"),
            ["threshold breached: websocket-not-accepted>0 (websocket-not-accepted: records 19)"]
        );
        assert!(breached("websocket-not-accepted>19").is_empty());
        assert_eq!(breached("websocket-not-accepted>=19").len(), 1);
        assert_eq!(
            breached("any-signature>10"),
            ["threshold breached: any-signature>10 (websocket-not-accepted 19)"]
        );
        assert_eq!(breached("any-signature>3")[0].matches(',').count(), 1);
        assert!(breached("any-signature>19").is_empty());
        assert_eq!(breached("error-rate>1%").len(), 1);
        assert!(breached("error-rate>2%").is_empty());
        // p99 is 2000 ms: not above 2s, at it.
        assert!(breached("p99>2s").is_empty());
        assert_eq!(breached("p99>=2s").len(), 1);
        assert_eq!(breached("p99>1999ms").len(), 1);
        assert_eq!(breached("endpoint:GET /api/v1/health:p99>1s").len(), 1);
        assert!(breached("endpoint:GET /api/v1/health:p99>2s").is_empty());
        assert!(breached("endpoint:GET /api/v1/other:p99>0s").is_empty());
        assert_eq!(breached("5xx>2,exceptions>0,p50>10ms").len(), 2);
        // A report has no before: new and regressed need compare.
        assert!(breached("new,regressed").is_empty());
    }
}
