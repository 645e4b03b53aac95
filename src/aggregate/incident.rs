//! Incident detection on the timeline.
//!
//! A bucket is *anomalous* when its p99 latency is more than `factor` times the baseline p99,
//! or when its 5xx rate is clearly above what the baseline explains: the lower bound of the
//! rate's 99% confidence interval (Wilson) is above both the baseline rate plus
//! `min_error_rate` and three times the baseline rate. So a steady error rate is the baseline,
//! not an incident, and a few errors among few requests are not enough.
//!
//! The baseline is the median p99 and the pooled 5xx rate of the last `window` normal buckets
//! (anomalous buckets never enter it, so a long incident does not become its own baseline).
//! Until `warmup` normal buckets are seen, buckets are judged against the whole log's median
//! bucket instead, so a log that starts in an incident still shows it. Anomalous buckets
//! separated by at most `max_gap` minutes form one incident; incidents shorter than
//! `min_minutes` are dropped: both are times, so that a coarser `--bucket` does not hide
//! what a finer one finds. Buckets with fewer than `min_requests` requests are skipped.

use super::Timeline;

/// Detection parameters.
#[derive(Debug, Clone)]
pub struct IncidentOptions {
    /// How many times the baseline p99 counts as "well above". By default 5.
    pub factor: f64,
    /// The 5xx rate must be at least this much above the baseline's. By default 0.05.
    pub min_error_rate: f64,
    /// Normal buckets in the rolling baseline. By default 30.
    pub window: usize,
    /// Normal buckets needed before the rolling baseline is used. By default 5.
    pub warmup: usize,
    /// Buckets with fewer requests are ignored. By default 5.
    pub min_requests: u64,
    /// Quiet time allowed inside one incident, in minutes (at least one bucket's worth is
    /// never required). By default 2.
    pub max_gap: usize,
    /// Shortest incident, in minutes from its first anomalous bucket's start to its last
    /// one's end (at least one bucket). By default 3.
    pub min_minutes: usize,
}

impl Default for IncidentOptions {
    fn default() -> Self {
        IncidentOptions {
            factor: 5.0,
            min_error_rate: 0.05,
            window: 30,
            warmup: 5,
            min_requests: 5,
            max_gap: 2,
            min_minutes: 3,
        }
    }
}

/// An incident found on the timeline, as bucket indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First anomalous bucket.
    pub first: usize,
    /// Last anomalous bucket.
    pub last: usize,
    /// The bucket with the highest p99.
    pub peak: usize,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The lower end of the 99% Wilson score interval of `k` successes in `n` trials.
fn wilson_lower(k: u64, n: u64) -> f64 {
    const Z: f64 = 2.576;
    if n == 0 {
        return 0.0;
    }
    let (n, p) = (n as f64, k as f64 / n as f64);
    let z2 = Z * Z;
    let centre = p + z2 / (2.0 * n);
    let spread = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - spread) / (1.0 + z2 / n)).max(0.0)
}

/// A baseline: p99 and 5xx rate.
#[derive(Clone, Copy)]
struct Baseline {
    p99: f64,
    rate: f64,
}

impl Baseline {
    fn flags(&self, p99: f64, errors: u64, requests: u64, o: &IncidentOptions) -> bool {
        let above = (self.rate + o.min_error_rate).max(3.0 * self.rate);
        p99 > o.factor * self.p99 || wilson_lower(errors, requests) > above
    }
}

/// Finds incidents on a timeline sorted by bucket, of buckets `bucket_ns` wide.
pub fn detect(timeline: &Timeline, o: &IncidentOptions, bucket_ns: i64) -> Vec<Window> {
    let (tl, starts) = (&timeline.buckets, &timeline.starts);
    let eligible = |b: &crate::aggregate::TimelineBucket| {
        b.requests >= o.min_requests && b.p99_ms.is_some() && b.error_rate.is_some()
    };
    // The whole log's median bucket: the baseline while the rolling one warms up.
    let (mut p, mut e): (Vec<f64>, Vec<f64>) = tl
        .iter()
        .filter(|b| eligible(b))
        .map(|b| (b.p99_ms.unwrap_or(0.0), b.error_rate.unwrap_or(0.0)))
        .unzip();
    let global = Baseline {
        p99: median(&mut p),
        rate: median(&mut e),
    };
    // (p99, errors, requests) of the last normal buckets.
    let mut normal: std::collections::VecDeque<(f64, u64, u64)> = Default::default();
    let mut anomalous: Vec<usize> = Vec::new();
    for (i, b) in tl.iter().enumerate() {
        if !eligible(b) {
            continue;
        }
        let p99 = b.p99_ms.unwrap_or(0.0);
        let base = if normal.len() >= o.warmup {
            let mut p: Vec<f64> = normal.iter().map(|x| x.0).collect();
            let (errors, requests) = normal
                .iter()
                .fold((0u64, 0u64), |(e, r), x| (e + x.1, r + x.2));
            Baseline {
                p99: median(&mut p),
                rate: errors as f64 / requests.max(1) as f64,
            }
        } else {
            global
        };
        if base.flags(p99, b.errors_5xx, b.requests, o) {
            anomalous.push(i);
        } else {
            normal.push_back((p99, b.errors_5xx, b.requests));
            if normal.len() > o.window {
                normal.pop_front();
            }
        }
    }
    let minute = 60_000_000_000i64;
    let bucket = bucket_ns.max(1);
    let max_gap = (o.max_gap as i64 * minute) / bucket;
    let min_buckets = ((o.min_minutes as i64 * minute + bucket - 1) / bucket).max(1);
    let mut out = Vec::new();
    let mut run: Vec<usize> = Vec::new();
    let flush = |run: &mut Vec<usize>, out: &mut Vec<Window>| {
        let span = match (run.first(), run.last()) {
            (Some(&a), Some(&z)) => (starts[z] - starts[a]) / bucket + 1,
            _ => 0,
        };
        if !run.is_empty() && span >= min_buckets {
            let peak = *run
                .iter()
                .max_by(|a, b| {
                    let (x, y) = (tl[**a].p99_ms.unwrap_or(0.0), tl[**b].p99_ms.unwrap_or(0.0));
                    x.total_cmp(&y).then(b.cmp(a))
                })
                .expect("non-empty");
            out.push(Window {
                first: run[0],
                last: run[run.len() - 1],
                peak,
            });
        }
        run.clear();
    };
    for &i in &anomalous {
        if let Some(&prev) = run.last() {
            // Gap in buckets of the timeline (which skips empty buckets): compare times.
            let gap = (starts[i] - starts[prev]) / bucket - 1;
            if gap > max_gap {
                flush(&mut run, &mut out);
            }
        }
        run.push(i);
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const MIN: i64 = 60_000_000_000;

    fn tl(p99s: &[f64]) -> Timeline {
        let buckets = p99s
            .iter()
            .map(|&p| crate::aggregate::TimelineBucket {
                bucket: String::new(),
                requests: 100,
                errors_5xx: 0,
                error_rate: Some(0.0),
                p50_ms: Some(p / 2.0),
                p95_ms: Some(p),
                p99_ms: Some(p),
                signatures: BTreeMap::new(),
            })
            .collect();
        let starts = (0..p99s.len() as i64).map(|i| i * 60_000_000_000).collect();
        Timeline { starts, buckets }
    }

    #[test]
    fn one_incident_with_a_gap() {
        let mut p = vec![20.0; 40];
        p.extend([7000.0, 8000.0, 20.0, 9000.0, 15000.0, 6000.0]);
        p.extend(vec![21.0; 30]);
        let w = detect(&tl(&p), &IncidentOptions::default(), MIN);
        assert_eq!(
            w,
            vec![Window {
                first: 40,
                last: 45,
                peak: 44
            }]
        );
    }

    #[test]
    fn short_blips_and_noise_are_not_incidents() {
        let mut p: Vec<f64> = (0..60).map(|i| 15.0 + (i % 7) as f64).collect();
        p[30] = 900.0;
        p[31] = 900.0;
        assert!(detect(&tl(&p), &IncidentOptions::default(), MIN).is_empty());
    }

    #[test]
    fn error_rate_alone_is_enough() {
        let mut t = tl(&[20.0; 50]);
        for b in &mut t.buckets[20..30] {
            b.errors_5xx = 40;
            b.error_rate = Some(0.4);
        }
        let w = detect(&t, &IncidentOptions::default(), MIN);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].first, w[0].last), (20, 29));
    }

    /// A timeline of 100-request buckets with these 5xx counts and a flat p99.
    fn errors(counts: &[u64]) -> Timeline {
        let mut t = tl(&vec![20.0; counts.len()]);
        for (b, &k) in t.buckets.iter_mut().zip(counts) {
            b.errors_5xx = k;
            b.error_rate = Some(k as f64 / 100.0);
        }
        t
    }

    #[test]
    fn a_steady_error_rate_is_the_baseline() {
        let counts: Vec<u64> = (0..120).map(|i| [8, 12, 10, 9, 14, 7][i % 6]).collect();
        assert!(detect(&errors(&counts), &IncidentOptions::default(), MIN).is_empty());
        // Well above the steady rate is still an incident.
        let mut c = counts.clone();
        for k in &mut c[60..66] {
            *k = 50;
        }
        let w = detect(&errors(&c), &IncidentOptions::default(), MIN);
        assert_eq!(
            w.iter().map(|w| (w.first, w.last)).collect::<Vec<_>>(),
            [(60, 65)]
        );
    }

    #[test]
    fn a_log_that_starts_in_an_incident_shows_it() {
        let mut c = vec![50u64; 5];
        c.extend(vec![10u64; 40]);
        let w = detect(&errors(&c), &IncidentOptions::default(), MIN);
        assert_eq!(
            w.iter().map(|w| (w.first, w.last)).collect::<Vec<_>>(),
            [(0, 4)]
        );
    }

    #[test]
    fn a_few_errors_among_few_requests_are_not_an_incident() {
        let mut t = errors(&[0; 40]);
        for b in &mut t.buckets[20..26] {
            (b.requests, b.errors_5xx, b.error_rate) = (6, 1, Some(1.0 / 6.0));
        }
        assert!(detect(&t, &IncidentOptions::default(), MIN).is_empty());
    }

    #[test]
    fn durations_are_minutes_whatever_the_bucket() {
        // Two 5-minute buckets: a 10-minute incident, long enough.
        let mut t = tl(&[20.0; 30]);
        let five = 5 * MIN;
        t.starts = (0..30).map(|i| i * five).collect();
        for b in &mut t.buckets[20..22] {
            b.p99_ms = Some(9000.0);
        }
        let w = detect(&t, &IncidentOptions::default(), five);
        assert_eq!(
            w.iter().map(|w| (w.first, w.last)).collect::<Vec<_>>(),
            [(20, 21)]
        );
        // Two one-minute buckets are not.
        let mut t = tl(&[20.0; 30]);
        for b in &mut t.buckets[20..22] {
            b.p99_ms = Some(9000.0);
        }
        assert!(detect(&t, &IncidentOptions::default(), MIN).is_empty());
    }
}
