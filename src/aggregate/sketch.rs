//! Request aggregates of a fixed size, for inputs whose request rows do not fit the memory
//! budget: per endpoint, per time bucket and overall, the counts (exact) and the latency in a
//! DDSketch (relative error [`ALPHA`]). They merge by addition, so the result does not depend
//! on how the input was split.
//!
//! A quantile is interpolated between the sketch's values at the two ranks the exact linear
//! quantile lies between; each is within [`ALPHA`] of the exact value at its rank, so the
//! interpolation is within [`ALPHA`] of the exact quantile (for latencies, which are not
//! negative).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustc_hash::FxHashMap;
use sketches_ddsketch::{Config as SketchConfig, DDSketch};

use super::requests::{RequestRows, NO_TIME};
use super::rows::EndpointReport;
use super::trends::{round3, BucketRow, WindowStats};

/// Relative accuracy of the latency sketches: 0.5%.
pub const ALPHA: f64 = 0.005;

fn sketch() -> DDSketch {
    // 4096 bins of 1% each span 1 ns to far beyond a day: no bin is ever collapsed.
    DDSketch::new(SketchConfig::new(ALPHA, 4096, 1e-9))
}

/// Requests, 5xx and the latency sketch of a group of requests.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// Requests.
    pub requests: u64,
    /// Of which 5xx.
    pub errors_5xx: u64,
    /// Their latencies (those that have one).
    pub latency: DDSketch,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            requests: 0,
            errors_5xx: 0,
            latency: sketch(),
        }
    }
}

impl std::fmt::Debug for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tally")
            .field("requests", &self.requests)
            .field("errors_5xx", &self.errors_5xx)
            .field("latencies", &self.latency.count())
            .finish()
    }
}

impl Tally {
    #[inline]
    fn add(&mut self, status: u16, latency: f64) {
        self.requests += 1;
        self.errors_5xx += u64::from((500..600).contains(&status));
        if !latency.is_nan() {
            self.latency.add(latency.max(0.0));
        }
    }

    fn merge(&mut self, o: &Tally) {
        self.requests += o.requests;
        self.errors_5xx += o.errors_5xx;
        self.latency
            .merge(&o.latency)
            .expect("every sketch has the one configuration");
    }

    /// The linear quantiles `qs` (see the module), rounded as the exact ones are.
    pub fn quantiles(&self, qs: &[f64]) -> Vec<Option<f64>> {
        qs.iter()
            .map(|&q| quantile(&self.latency, q).map(round3))
            .collect()
    }

    /// The slowest latency (exact).
    pub fn max(&self) -> Option<f64> {
        self.latency.max().map(round3)
    }
}

/// The sketch's value at rank `r` (0-based) of `n`.
fn at_rank(s: &DDSketch, r: u64, n: u64) -> Option<f64> {
    if r == 0 {
        return s.min();
    }
    if r + 1 >= n {
        return s.max();
    }
    // The crate takes the rank as `floor(q * (n - 1))`: aim at the middle of rank r so that
    // rounding cannot land on r - 1.
    s.quantile((r as f64 + 0.5) / (n - 1) as f64).ok().flatten()
}

/// The linear quantile `q` of the sketch's values.
fn quantile(s: &DDSketch, q: f64) -> Option<f64> {
    let n = s.count() as u64;
    if n == 0 {
        return None;
    }
    let at = (n - 1) as f64 * q;
    let lo = at.floor() as u64;
    let lower = at_rank(s, lo, n)?;
    if at == lo as f64 {
        return Some(lower);
    }
    let upper = at_rank(s, lo + 1, n)?;
    Some(lower + (at - lo as f64) * (upper - lower))
}

/// Bytes a request row takes at most (a wide time and latency, endpoint id, status).
const ROW_BYTES: u64 = 22;

/// The memory a run's request rows may take: past it, rows are folded into sketches.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    bucket_ns: i64,
    used: AtomicU64,
    over: AtomicBool,
}

impl Budget {
    /// A budget of `limit` bytes of rows (none: rows are always kept), for a timeline of
    /// `bucket_ns` buckets.
    pub fn new(limit: Option<u64>, bucket_ns: i64) -> Budget {
        Budget {
            limit: limit.unwrap_or(u64::MAX),
            bucket_ns,
            used: AtomicU64::new(0),
            over: AtomicBool::new(false),
        }
    }

    /// Counts the rows `sum` holds; once the run's rows pass the limit, folds them (and
    /// every later chunk's) into `sum`'s sketches.
    pub fn charge(&self, sum: &mut super::Summary) {
        let rows = sum.requests.len() as u64;
        if rows == 0 {
            return;
        }
        let used = self.used.fetch_add(rows * ROW_BYTES, Ordering::Relaxed) + rows * ROW_BYTES;
        if used > self.limit || self.over.load(Ordering::Relaxed) {
            self.over.store(true, Ordering::Relaxed);
            sum.fold_requests(self.bucket_ns);
        }
    }
}

/// Every request aggregate of a run, in sketches. It serializes (`--state`); call
/// [`RequestSketches::reindex`] after deserializing.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RequestSketches {
    /// The timeline's bucket, nanoseconds.
    bucket_ns: i64,
    /// Endpoint names, and their tallies at the same index.
    names: Vec<String>,
    #[serde(skip)]
    index: FxHashMap<String, usize>,
    endpoints: Vec<Tally>,
    /// Tallies of the requests that have a time, by bucket start.
    buckets: BTreeMap<i64, Tally>,
    /// Requests folded in (the overall tally is the endpoints' merged when asked for).
    requests: u64,
    /// Of which with a latency.
    with_latency: u64,
    /// Request rows folded in: the mode is on.
    active: bool,
}

impl RequestSketches {
    /// Rebuilds the endpoint index (not saved).
    pub fn reindex(&mut self) {
        self.index = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
    }

    /// Whether any request went into the sketches (the quantiles are estimates).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The timeline bucket the rows were folded with.
    pub fn bucket_ns(&self) -> i64 {
        self.bucket_ns
    }

    /// Requests folded in.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Requests with a latency.
    pub fn with_latency(&self) -> u64 {
        self.with_latency
    }

    /// Moves the rows of `rows` into the sketches (bucketed by `bucket_ns`); `rows` keeps its
    /// counters of unreadable latencies, and no row.
    pub fn fold(&mut self, rows: &mut RequestRows, bucket_ns: i64) {
        self.active = true;
        self.bucket_ns = bucket_ns;
        let taken = std::mem::take(rows);
        rows.unparsed_latency = taken.unparsed_latency;
        rows.missing_latency = taken.missing_latency;
        rows.paired = taken.paired;
        let ids: Vec<usize> = taken.endpoints.iter().map(|n| self.intern(n)).collect();
        for b in &taken.blocks {
            // Rows come in time order as a rule: the bucket of the row before is kept aside
            // and put back when the bucket changes, not looked up for each row.
            let mut cur: Option<(i64, Tally)> = None;
            for i in 0..b.len() {
                let (e, status, latency) =
                    (ids[b.endpoint[i] as usize], b.status[i], b.latency.get(i));
                self.requests += 1;
                self.with_latency += u64::from(!latency.is_nan());
                self.endpoints[e].add(status, latency);
                let t = b.time.get(i);
                if t == NO_TIME || bucket_ns <= 0 {
                    continue;
                }
                let start = t - t.rem_euclid(bucket_ns);
                match &mut cur {
                    Some((s, tally)) if *s == start => tally.add(status, latency),
                    _ => {
                        if let Some((s, tally)) = cur.take() {
                            self.put_bucket(s, tally);
                        }
                        let mut tally = self.buckets.remove(&start).unwrap_or_default();
                        tally.add(status, latency);
                        cur = Some((start, tally));
                    }
                }
            }
            if let Some((s, tally)) = cur {
                self.put_bucket(s, tally);
            }
        }
    }

    fn put_bucket(&mut self, start: i64, tally: Tally) {
        match self.buckets.get_mut(&start) {
            Some(t) => t.merge(&tally),
            None => {
                self.buckets.insert(start, tally);
            }
        }
    }

    fn intern(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len();
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        self.endpoints.push(Tally::default());
        i
    }

    /// Adds `o` into `self`.
    pub fn merge(&mut self, o: RequestSketches) {
        if !o.active {
            return;
        }
        self.active = true;
        self.bucket_ns = o.bucket_ns;
        for (name, t) in o.names.iter().zip(&o.endpoints) {
            let i = self.intern(name);
            self.endpoints[i].merge(t);
        }
        for (start, t) in &o.buckets {
            self.buckets.entry(*start).or_default().merge(t);
        }
        self.requests += o.requests;
        self.with_latency += o.with_latency;
    }

    /// Per endpoint: count, 5xx, p50/p95/p99 (estimates) and max; by count, then name.
    pub fn endpoint_reports(&self) -> Vec<EndpointReport> {
        let mut out: Vec<EndpointReport> = self
            .names
            .iter()
            .zip(&self.endpoints)
            .filter(|(_, t)| t.requests > 0)
            .map(|(name, t)| {
                let q = t.quantiles(&[0.5, 0.95, 0.99]);
                EndpointReport {
                    endpoint: name.clone(),
                    count: t.requests,
                    errors_5xx: t.errors_5xx,
                    p50_ms: q[0],
                    p95_ms: q[1],
                    p99_ms: q[2],
                    max_ms: t.max(),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.endpoint.cmp(&b.endpoint))
        });
        out
    }

    /// The timeline's request rows, by bucket start.
    pub(crate) fn bucket_rows(&self) -> Vec<BucketRow> {
        self.buckets
            .iter()
            .map(|(&start, t)| BucketRow {
                start,
                requests: t.requests,
                errors_5xx: t.errors_5xx,
                quantiles: t.quantiles(&[0.5, 0.95, 0.99]),
            })
            .collect()
    }

    /// Every request's counts and p50/p99.
    pub fn overall(&self) -> WindowStats {
        let mut all = Tally::default();
        for t in &self.endpoints {
            all.merge(t);
        }
        stats(&all)
    }

    /// The requests of the buckets in `[start, end)`: the incident windows are whole
    /// buckets, so this is exact in the counts.
    pub fn window(&self, start: i64, end: i64) -> WindowStats {
        let mut t = Tally::default();
        for (_, b) in self.buckets.range(start..end.max(start)) {
            t.merge(b);
        }
        stats(&t)
    }
}

fn stats(t: &Tally) -> WindowStats {
    let q = t.quantiles(&[0.5, 0.99]);
    WindowStats {
        requests: t.requests,
        errors_5xx: t.errors_5xx,
        p50_ms: q[0],
        p99_ms: q[1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact linear quantile of `v` (sorted).
    fn exact(v: &[f64], q: f64) -> f64 {
        let at = (v.len() - 1) as f64 * q;
        let lo = at.floor() as usize;
        let hi = at.ceil() as usize;
        v[lo] + (at - lo as f64) * (v[hi] - v[lo])
    }

    proptest::proptest! {
        /// Every quantile is within ALPHA of the exact linear quantile, whatever the
        /// distribution, and merging sketches equals sketching everything at once.
        #[test]
        fn quantiles_are_within_the_stated_error(
            values in proptest::collection::vec(
                proptest::prop_oneof![0.01f64..20.0, 5000.0f64..15_000.0, 0.0f64..1e6],
                1..3000,
            ),
            split in 0usize..3000,
        ) {
            let mut all = Tally::default();
            let (mut a, mut b) = (Tally::default(), Tally::default());
            for (i, &v) in values.iter().enumerate() {
                all.add(200, v);
                if i < split { a.add(200, v) } else { b.add(200, v) }
            }
            a.merge(&b);
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            for q in [0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                let want = exact(&sorted, q);
                let got = quantile(&all.latency, q).unwrap();
                let err = (got - want).abs();
                proptest::prop_assert!(
                    err <= ALPHA * want + 1e-9,
                    "q {} got {} want {} (n {})", q, got, want, values.len()
                );
                proptest::prop_assert_eq!(quantile(&a.latency, q), Some(got));
            }
        }
    }

    #[test]
    fn folded_rows_give_exact_counts_and_bucketed_windows() {
        let mut rows = RequestRows::default();
        let minute = 60_000_000_000;
        for i in 0..600i64 {
            let status = if i % 10 == 0 { 503 } else { 200 };
            let path = if i % 2 == 0 { "/a" } else { "/b/17" };
            let t = (i % 7 != 0).then_some(i * 1_000_000_000);
            rows.push(t, b"GET", path.as_bytes(), status, Some(10.0 + i as f64));
        }
        rows.push(Some(5), b"GET", b"/a", 200, None);
        let mut s = RequestSketches::default();
        s.fold(&mut rows, minute);
        assert!(rows.is_empty());
        assert!(s.is_active());
        assert_eq!(s.requests(), 601);
        assert_eq!(s.with_latency(), 600);
        let e = s.endpoint_reports();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].endpoint, "GET /a");
        assert_eq!((e[0].count, e[0].errors_5xx), (301, 60));
        assert_eq!(e[1].endpoint, "GET /b/{id}");
        assert_eq!(e[0].max_ms, Some(608.0));
        // Ten one-minute buckets; the rows without a time are in none.
        let b = s.bucket_rows();
        assert_eq!(b.len(), 10);
        let timed: u64 = b.iter().map(|r| r.requests).sum();
        assert_eq!(timed, 601 - 86);
        let w = s.window(minute, 3 * minute);
        assert_eq!(w.requests, b[1].requests + b[2].requests);
        // Folding in two halves and merging gives the same as one fold.
        let mut again = RequestSketches::default();
        let mut other = RequestSketches::default();
        let (mut r1, mut r2) = (RequestRows::default(), RequestRows::default());
        for i in 0..600i64 {
            let status = if i % 10 == 0 { 503 } else { 200 };
            let path = if i % 2 == 0 { "/a" } else { "/b/17" };
            let t = (i % 7 != 0).then_some(i * 1_000_000_000);
            let r = if i < 250 { &mut r1 } else { &mut r2 };
            r.push(t, b"GET", path.as_bytes(), status, Some(10.0 + i as f64));
        }
        r2.push(Some(5), b"GET", b"/a", 200, None);
        again.fold(&mut r1, minute);
        other.fold(&mut r2, minute);
        again.merge(other);
        assert_eq!(again.endpoint_reports(), e);
        assert_eq!(again.overall(), s.overall());
    }
}
