//! Incident detection on the timeline.
//!
//! A bucket is *anomalous* when its p99 latency is more than `factor` times the baseline p99,
//! or its 5xx rate is above both `min_error_rate` and `factor` times the baseline rate. The
//! baseline is the median over the last `window` normal buckets (anomalous buckets never enter
//! it, so a long incident does not become its own baseline). Anomalous buckets separated by at
//! most `max_gap` buckets form one incident; incidents shorter than `min_buckets` are dropped.
//! Buckets with fewer than `min_requests` requests carry too little signal and are skipped.

use super::Timeline;

/// Detection parameters. The defaults suit 1-minute buckets.
#[derive(Debug, Clone)]
pub struct IncidentOptions {
    /// How many times the baseline counts as "well above". By default 5.
    pub factor: f64,
    /// A 5xx rate below this is never anomalous. By default 0.05.
    pub min_error_rate: f64,
    /// Normal buckets in the rolling baseline. By default 30.
    pub window: usize,
    /// Normal buckets needed before anything can be anomalous. By default 5.
    pub warmup: usize,
    /// Buckets with fewer requests are ignored. By default 5.
    pub min_requests: u64,
    /// Quiet buckets allowed inside one incident. By default 2.
    pub max_gap: usize,
    /// Shortest incident, in anomalous-to-anomalous buckets. By default 3.
    pub min_buckets: usize,
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
            min_buckets: 3,
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
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Finds incidents on a timeline sorted by bucket.
pub fn detect(timeline: &Timeline, o: &IncidentOptions) -> Vec<Window> {
    let (tl, starts) = (&timeline.buckets, &timeline.starts);
    let mut normal: std::collections::VecDeque<(f64, f64)> = Default::default();
    let mut anomalous: Vec<usize> = Vec::new();
    for (i, b) in tl.iter().enumerate() {
        let (Some(p99), Some(rate)) = (b.p99_ms, b.error_rate) else {
            continue;
        };
        if b.requests < o.min_requests {
            continue;
        }
        let is_anomalous = normal.len() >= o.warmup && {
            let mut p: Vec<f64> = normal.iter().map(|x| x.0).collect();
            let mut e: Vec<f64> = normal.iter().map(|x| x.1).collect();
            let (bp, be) = (median(&mut p), median(&mut e));
            p99 > o.factor * bp || (rate > o.min_error_rate && rate > o.factor * be)
        };
        if is_anomalous {
            anomalous.push(i);
        } else {
            normal.push_back((p99, rate));
            if normal.len() > o.window {
                normal.pop_front();
            }
        }
    }
    let mut out = Vec::new();
    let mut run: Vec<usize> = Vec::new();
    let flush = |run: &mut Vec<usize>, out: &mut Vec<Window>| {
        if run.len() >= o.min_buckets {
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
            let step = bucket_step(starts);
            let gap = (starts[i] - starts[prev]) / step.max(1) - 1;
            if gap > o.max_gap as i64 {
                flush(&mut run, &mut out);
            }
        }
        run.push(i);
    }
    flush(&mut run, &mut out);
    out
}

/// The bucket size: the smallest distance between consecutive buckets.
fn bucket_step(starts: &[i64]) -> i64 {
    starts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0)
        .min()
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

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
        let w = detect(&tl(&p), &IncidentOptions::default());
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
        assert!(detect(&tl(&p), &IncidentOptions::default()).is_empty());
    }

    #[test]
    fn error_rate_alone_is_enough() {
        let mut t = tl(&[20.0; 50]);
        for b in &mut t.buckets[20..30] {
            b.errors_5xx = 40;
            b.error_rate = Some(0.4);
        }
        let w = detect(&t, &IncidentOptions::default());
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].first, w[0].last), (20, 29));
    }
}
