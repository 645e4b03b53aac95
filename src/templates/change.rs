//! When a template's rate rose: the change point of its per-minute counts that best explains
//! them as two Poisson rates, one before and one after (the likelihood-ratio test of a single
//! change in a Poisson rate), or the minute it first appeared.

/// Minutes of log a template must be absent from, or at its old rate in, before a rise
/// counts: a template first seen in the log's first minutes is not new, only early.
pub const MIN_BASELINE_MINUTES: i64 = 5;
/// How many times its baseline rate a template's rate must rise to to have surged.
pub const SURGE_RATIO: f64 = 5.0;
/// Records at the raised rate a surge needs at least.
pub const MIN_SURGE_RECORDS: u64 = 10;
/// The log-likelihood ratio a surge needs (a one-in-many-thousands chance under a steady
/// rate): a handful of records in a quiet template is no surge.
const MIN_LOG_LIKELIHOOD: f64 = 10.0;

/// A rise in a template's rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rise {
    /// The first minute of the raised rate, in minutes since the epoch.
    pub at: i64,
    /// Records per minute before it, from the log's first minute.
    pub before: f64,
    /// Records per minute from it to the log's last minute.
    pub after: f64,
}

impl Rise {
    /// No record before it: the template is new.
    pub fn is_new(&self) -> bool {
        self.before == 0.0
    }
}

/// The rise of a template whose records per minute are `minutes` (ascending, minutes since
/// the epoch) in a log from minute `first` to minute `last`: the minute it appeared, if at
/// least [`MIN_BASELINE_MINUTES`] after the log's start; else the split with the highest
/// likelihood among those where the rate rose [`SURGE_RATIO`] times or more.
pub fn rise(minutes: &[(i64, u64)], first: i64, last: i64) -> Option<Rise> {
    let &(start, _) = minutes.first()?;
    let total: u64 = minutes.iter().map(|m| m.1).sum();
    let span = (last - first + 1).max(1) as f64;
    if start - first >= MIN_BASELINE_MINUTES {
        return Some(Rise {
            at: start,
            before: 0.0,
            after: total as f64 / (last - start + 1).max(1) as f64,
        });
    }
    let xlx = |c: f64, n: f64| if c > 0.0 { c * (c / n).ln() } else { 0.0 };
    let whole = xlx(total as f64, span);
    let mut best: Option<(f64, Rise)> = None;
    let mut before = 0u64;
    for &(m, c) in minutes {
        let (n1, after) = ((m - first) as f64, total - before);
        if m - first >= MIN_BASELINE_MINUTES && before > 0 && after >= MIN_SURGE_RECORDS {
            let n2 = span - n1;
            let (r1, r2) = (before as f64 / n1, after as f64 / n2);
            let llr = xlx(before as f64, n1) + xlx(after as f64, n2) - whole;
            let better = best.as_ref().is_none_or(|(b, _)| llr > *b);
            if r2 >= SURGE_RATIO * r1 && llr >= MIN_LOG_LIKELIHOOD && better {
                let r = Rise {
                    at: m,
                    before: r1,
                    after: r2,
                };
                best = Some((llr, r));
            }
        }
        before += c;
    }
    best.map(|b| b.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(f: impl Fn(i64) -> u64) -> Vec<(i64, u64)> {
        (0..60).map(|m| (m, f(m))).filter(|p| p.1 > 0).collect()
    }

    #[test]
    fn a_template_absent_from_the_baseline_is_new_from_its_first_minute() {
        let s = series(|m| u64::from(m >= 30) * 3);
        let r = rise(&s, 0, 59).unwrap();
        assert!(r.is_new());
        assert_eq!(r.at, 30);
        assert_eq!(r.after, 3.0);
        // Seen from the log's start: early, not new, and steady.
        assert_eq!(rise(&series(|m| u64::from(m >= 2)), 0, 59), None);
    }

    #[test]
    fn a_surge_is_found_where_it_starts_and_noise_is_not_one() {
        let s = series(|m| if m >= 40 { 50 } else { u64::from(m % 4 == 0) });
        let r = rise(&s, 0, 59).unwrap();
        assert!(!r.is_new());
        assert_eq!(r.at, 40);
        assert!(r.after / r.before >= 100.0, "{r:?}");
        // A steady rate, and a small bump, are no surge.
        assert_eq!(rise(&series(|m| 5 + (m % 3) as u64), 0, 59), None);
        assert_eq!(rise(&series(|m| 1 + u64::from(m == 50) * 4), 0, 59), None);
    }
}
