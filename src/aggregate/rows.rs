//! The rows the trends produce: per endpoint, per time bucket, per incident, per source.
//!
//! They are plain serializable values: the report lists them as they are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The findings of one source (`--by source`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceReport {
    /// The pod/container, dyno, compose service, journald unit, or the file.
    pub source: String,
    /// Classified records (signatures and other exceptions).
    pub records: u64,
    /// Signature counts by id.
    pub signatures: BTreeMap<String, u64>,
    /// Exceptions no signature matched.
    pub exceptions: u64,
    /// First classified record.
    pub first_seen: Option<String>,
    /// Last classified record.
    pub last_seen: Option<String>,
}

/// One endpoint's traffic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointReport {
    /// `METHOD /path`, ids replaced by `{id}`, query string dropped.
    pub endpoint: String,
    /// Requests.
    pub count: u64,
    /// Responses with status 500-599.
    pub errors_5xx: u64,
    /// Median latency, linear interpolation.
    pub p50_ms: Option<f64>,
    /// 95th percentile latency.
    pub p95_ms: Option<f64>,
    /// 99th percentile latency.
    pub p99_ms: Option<f64>,
    /// Slowest request.
    pub max_ms: Option<f64>,
}

/// One time bucket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimelineBucket {
    /// Bucket start, RFC 3339 UTC.
    pub bucket: String,
    /// Requests in the bucket.
    pub requests: u64,
    /// Of which 5xx.
    pub errors_5xx: u64,
    /// 5xx / requests.
    pub error_rate: Option<f64>,
    /// Median latency.
    pub p50_ms: Option<f64>,
    /// 95th percentile latency.
    pub p95_ms: Option<f64>,
    /// 99th percentile latency.
    pub p99_ms: Option<f64>,
    /// Records per signature id.
    pub signatures: BTreeMap<String, u64>,
}

/// An incident window.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IncidentReport {
    /// Start of the first anomalous bucket.
    pub start: String,
    /// Start of the bucket with the highest p99.
    pub peak: String,
    /// End of the last anomalous bucket.
    pub end: String,
    /// `end - start`, in seconds.
    pub duration_seconds: u64,
    /// Signature records inside the window, by id.
    pub signatures: BTreeMap<String, u64>,
    /// Requests inside the window.
    pub requests: u64,
    /// Of which 5xx.
    pub errors_5xx: u64,
    /// Median latency inside the window.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency inside the window.
    pub p99_ms: Option<f64>,
    /// 99th percentile latency of the baseline window just before it.
    pub baseline_p99_ms: Option<f64>,
    /// Median latency of the baseline window just before it.
    pub baseline_p50_ms: Option<f64>,
    /// `p99_ms / baseline_p99_ms`.
    pub latency_ratio: Option<f64>,
    /// Median and p99 latency after the incident, to the end of the log.
    pub after_p50_ms: Option<f64>,
    /// 99th percentile latency after the incident.
    pub after_p99_ms: Option<f64>,
    /// 5xx after the incident.
    pub after_errors_5xx: u64,
    /// Requests after the incident.
    pub after_requests: u64,
}
