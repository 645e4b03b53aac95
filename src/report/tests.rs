//! Snapshot tests of every renderer, from one hand-made report that has every section: two
//! signatures (variants, locations, references), other exceptions (a `|` in a message, a long
//! one, one without a location), sources, endpoints, a timeline around an incident, notes and
//! an input error. A change to any output shows as a diff of `src/report/snapshots/`
//! (`cargo insta review`, or `INSTA_UPDATE=always cargo test` and read the diff).

use std::collections::BTreeMap;

use super::*;

fn time(m: u32, s: u32) -> Option<String> {
    Some(format!("2025-01-10T10:{m:02}:{s:02}.250Z"))
}

fn bucket(
    m: u32,
    requests: u64,
    errors: u64,
    p50: f64,
    p99: f64,
    sigs: &[(&str, u64)],
) -> TimelineBucket {
    TimelineBucket {
        bucket: format!("2025-01-10T10:{m:02}:00.000Z"),
        requests,
        errors_5xx: errors,
        error_rate: Some(errors as f64 / requests as f64),
        p50_ms: Some(p50),
        p95_ms: Some(p99 * 0.9),
        p99_ms: Some(p99),
        signatures: sigs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    }
}

fn report() -> Report {
    let mut timeline = Vec::new();
    for m in 0..12 {
        let incident = (4..8).contains(&m);
        let (e, p50, p99) = if incident {
            (40, 6100.0, 9800.5)
        } else {
            (0, 12.5, 14.75)
        };
        let sigs: &[(&str, u64)] = if incident {
            &[
                ("missing-settings-attribute", 30),
                ("websocket-not-accepted", 9),
            ]
        } else {
            &[]
        };
        timeline.push(bucket(m, 120, e, p50, p99, sigs));
    }
    Report {
        schema: SCHEMA.into(),
        input: InputSummary {
            files: 2,
            bytes: 123_456,
            lines: 2_000,
            records: 1_500,
            record_lines: 1_990,
            skipped: BTreeMap::from([("blank".to_string(), 10)]),
            truncated_lines: 1,
            layouts: BTreeMap::from([("cri".to_string(), 1), ("text".to_string(), 1)]),
            ..InputSummary::default()
        },
        time_range: TimeRange {
            start: time(0, 1),
            end: time(11, 59),
        },
        signatures: vec![
            SignatureReport {
                id: "missing-settings-attribute".into(),
                title: "Optional setting read directly from the settings object".into(),
                severity: "error".into(),
                count: 120,
                first_seen: time(4, 2),
                last_seen: time(7, 58),
                exception_types: vec![Count {
                    r#type: "AttributeError".into(),
                    count: 120,
                }],
                variants: vec![
                    VariantCount {
                        value: "AGENTOPS_API_KEY".into(),
                        count: 100,
                    },
                    VariantCount {
                        value: "LANGFUSE_HOST".into(),
                        count: 20,
                    },
                ],
                locations: vec![LocationCount {
                    file: "/opt/render/project/src/backend/app/api/v1/observability.py".into(),
                    line: 58,
                    function: "get_status".into(),
                    count: 120,
                }],
                remediation: "Read optional settings with a default.\n".into(),
                references: vec!["https://docs.pydantic.dev/latest/".into()],
                example: Some(
                    "2025-01-10 04:02:11,120 ERROR app: status failed\nTraceback (most recent call last):\n  File \"/app/observability.py\", line 58, in get_status\nAttributeError: 'Settings' object has no attribute 'AGENTOPS_API_KEY'".into(),
                ),
            },
            SignatureReport {
                id: "websocket-not-accepted".into(),
                title: "WebSocket used before accept()".into(),
                severity: "critical".into(),
                count: 36,
                first_seen: time(4, 30),
                last_seen: time(7, 1),
                exception_types: vec![],
                variants: vec![],
                locations: vec![],
                remediation: "Compare the state with WebSocketState.CONNECTED.".into(),
                references: vec![],
                example: None,
            },
        ],
        exceptions: vec![
            ExceptionGroup {
                r#type: "KeyError".into(),
                message: "'user_id' | <num>".into(),
                location: Some(CodeLocation {
                    file: "app/db.py".into(),
                    line: 7,
                    function: "load".into(),
                }),
                count: 3,
                first_seen: time(5, 0),
                last_seen: time(6, 0),
            },
            ExceptionGroup {
                r#type: "ValueError".into(),
                message:
                    "a message much longer than the sixty characters the terminal table keeps of it"
                        .into(),
                location: None,
                count: 1,
                first_seen: None,
                last_seen: None,
            },
        ],
        templates: vec![
            TemplateReport {
                id: "95476e22".into(),
                template: "- app.payments - ERROR - payment provider returned <*> for order <*>"
                    .into(),
                level: "error".into(),
                count: 30,
                first_seen: time(30, 7),
                last_seen: time(59, 7),
                change: "new".into(),
                since: time(30, 0),
                before_per_minute: Some(0.0),
                after_per_minute: Some(1.0),
                ratio: None,
                incident: Some(0),
                example: Some(
                    "2025-01-10 06:30:07,000 - app.payments - ERROR - payment provider returned 502 for order 1234"
                        .into(),
                ),
            },
            TemplateReport {
                id: "38249ce9".into(),
                template: "- app.cache - WARNING - cache miss ratio high ratio=<*>".into(),
                level: "warning".into(),
                count: 15,
                first_seen: time(0, 5),
                last_seen: time(56, 5),
                change: "steady".into(),
                since: None,
                before_per_minute: None,
                after_per_minute: None,
                ratio: None,
                incident: None,
                example: None,
            },
        ],
        errors: vec![InputErrorReport {
            path: "old.log.gz".into(),
            message: "old.log.gz: corrupt gzip stream at compressed byte offset 10: eof".into(),
        }],
        requests: RequestSummary {
            count: 1_440,
            with_latency: 1_440,
            bucket_seconds: 60,
            ..RequestSummary::default()
        },
        endpoints: vec![
            EndpointReport {
                endpoint: "GET /api/v1/health".into(),
                count: 1_000,
                errors_5xx: 150,
                p50_ms: Some(13.0),
                p95_ms: Some(8200.0),
                p99_ms: Some(15000.0),
                max_ms: Some(15001.25),
            },
            EndpointReport {
                endpoint: "POST /api/v1/pam/{id}".into(),
                count: 440,
                errors_5xx: 10,
                p50_ms: None,
                p95_ms: None,
                p99_ms: None,
                max_ms: None,
            },
        ],
        incidents: vec![IncidentReport {
            start: "2025-01-10T10:04:00.000Z".into(),
            peak: "2025-01-10T10:05:00.000Z".into(),
            end: "2025-01-10T10:08:00.000Z".into(),
            duration_seconds: 240,
            signatures: BTreeMap::from([("missing-settings-attribute".to_string(), 120)]),
            requests: 480,
            errors_5xx: 160,
            p50_ms: Some(6100.0),
            p99_ms: Some(9800.5),
            baseline_p99_ms: Some(14.75),
            baseline_p50_ms: Some(12.5),
            latency_ratio: Some(664.4),
            after_p50_ms: Some(12.5),
            after_p99_ms: Some(14.75),
            after_errors_5xx: 0,
            after_requests: 480,
        }],
        timeline,
        notes: vec!["request lines have no latency in a known unit: see --latency-field".into()],
        by_source: vec![SourceReport {
            source: "pod/api-7d9/api".into(),
            records: 159,
            signatures: BTreeMap::from([
                ("missing-settings-attribute".to_string(), 120),
                ("websocket-not-accepted".to_string(), 36),
            ]),
            exceptions: 3,
            first_seen: time(4, 2),
            last_seen: time(7, 58),
        }],
    }
}

#[test]
fn table() {
    insta::assert_snapshot!(render_table(&report()));
}

#[test]
fn markdown() {
    insta::assert_snapshot!(render_markdown(&report()));
}

#[test]
fn json() {
    let out = render(&report(), Format::Json);
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}

#[test]
fn json_reads_back() {
    let r = report();
    let back: Report = serde_json::from_slice(&render(&r, Format::Json)).unwrap();
    assert_eq!(back, r);
}

/// An empty report: no signatures, no requests, no times.
#[test]
fn empty_table_and_markdown() {
    let r = Report {
        schema: SCHEMA.into(),
        ..Report::default()
    };
    insta::assert_snapshot!("empty_table", render_table(&r));
    insta::assert_snapshot!("empty_markdown", render_markdown(&r));
}

#[test]
fn catalog() {
    let mut c = crate::classify::Catalog::default();
    let toml = r#"
[[signature]]
id = "demo-timeout"
title = "Upstream timed out"
severity = "warning"
anchors = ["timed out"]
pattern = 'upstream (?P<variant>\w+) timed out'
remediation = "Raise the timeout, or make the upstream faster."
references = ["https://example.com/timeouts"]
"#;
    c.add_str(std::path::Path::new("demo.toml"), toml).unwrap();
    let all: Vec<&crate::classify::Signature> = c.signatures.iter().collect();
    insta::assert_snapshot!("catalog_table", render_catalog(&all));
    insta::assert_snapshot!("catalog_detail", render_signatures(&all[1..]));
    insta::assert_snapshot!("catalog_markdown", catalog_markdown(&all));
    insta::assert_snapshot!(
        "catalog_json",
        String::from_utf8(catalog_json(&all)).unwrap()
    );
}
