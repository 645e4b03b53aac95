//! Aggregation: classified records in, counts out.
//!
//! A [`Summary`] is built per chunk and merged; every operation is commutative (sums, minima,
//! maxima, map unions), so the merged result does not depend on how the input was split or on
//! which thread finished first. [`Summary::into_report`] sorts everything deterministically and
//! hands the report layer a plain serializable struct.

use std::collections::HashMap;

use crate::classify::{Catalog, Classification, Location};
use crate::framing::{format_rfc3339, FrameStats, Nanos};
use crate::report::{
    Count, ExceptionGroup, InputSummary, LocationCount, Report, SignatureReport, TimeRange,
    VariantCount, SCHEMA,
};

#[derive(Debug, Default, Clone)]
struct Seen {
    count: u64,
    first: Option<Nanos>,
    last: Option<Nanos>,
}

impl Seen {
    fn add(&mut self, t: Option<Nanos>) {
        self.count += 1;
        self.widen(t, t);
    }

    fn widen(&mut self, first: Option<Nanos>, last: Option<Nanos>) {
        if let Some(f) = first {
            self.first = Some(self.first.map_or(f, |x| x.min(f)));
        }
        if let Some(l) = last {
            self.last = Some(self.last.map_or(l, |x| x.max(l)));
        }
    }

    fn merge(&mut self, o: &Seen) {
        self.count += o.count;
        self.widen(o.first, o.last);
    }
}

#[derive(Debug, Default, Clone)]
struct SigAgg {
    seen: Seen,
    types: HashMap<String, u64>,
    variants: HashMap<String, u64>,
    locations: HashMap<Location, u64>,
}

fn merge_counts<K: std::hash::Hash + Eq + Clone>(a: &mut HashMap<K, u64>, b: &HashMap<K, u64>) {
    for (k, v) in b {
        *a.entry(k.clone()).or_insert(0) += v;
    }
}

/// Everything counted so far. Cheap to create; merge partial summaries with [`Summary::merge`].
#[derive(Debug, Default, Clone)]
pub struct Summary {
    sigs: HashMap<usize, SigAgg>,
    exceptions: HashMap<(String, String), Seen>,
    range: Seen,
    /// Bytes read (decompressed for compressed inputs).
    pub bytes: u64,
    /// Line and record counters from framing.
    pub frame: FrameStats,
    /// Inputs analysed.
    pub files: u64,
}

impl Summary {
    /// Creates an empty summary.
    pub fn new() -> Summary {
        Summary::default()
    }

    /// Notes a record's time in the overall time range.
    pub fn see_time(&mut self, t: Option<Nanos>) {
        self.range.widen(t, t);
    }

    /// Counts one classified record.
    pub fn add(&mut self, t: Option<Nanos>, c: &Classification) {
        fn bump<K: std::hash::Hash + Eq + Clone>(m: &mut HashMap<K, u64>, k: &K) {
            match m.get_mut(k) {
                Some(n) => *n += 1,
                None => {
                    m.insert(k.clone(), 1);
                }
            }
        }
        match c.signature {
            Some(i) => {
                let s = self.sigs.entry(i).or_default();
                s.seen.add(t);
                if let Some(ty) = &c.exception_type {
                    bump(&mut s.types, ty);
                }
                if let Some(v) = &c.variant {
                    bump(&mut s.variants, v);
                }
                if let Some(l) = &c.location {
                    bump(&mut s.locations, l);
                }
            }
            None => {
                let key = (
                    c.exception_type.clone().unwrap_or_default(),
                    c.message.clone().unwrap_or_default(),
                );
                self.exceptions.entry(key).or_default().add(t);
            }
        }
    }

    /// Adds `o` into `self`.
    pub fn merge(&mut self, o: Summary) {
        for (i, s) in o.sigs {
            let a = self.sigs.entry(i).or_default();
            a.seen.merge(&s.seen);
            merge_counts(&mut a.types, &s.types);
            merge_counts(&mut a.variants, &s.variants);
            merge_counts(&mut a.locations, &s.locations);
        }
        for (k, v) in o.exceptions {
            self.exceptions.entry(k).or_default().merge(&v);
        }
        self.range.widen(o.range.first, o.range.last);
        self.bytes += o.bytes;
        self.frame.add(&o.frame);
        self.files += o.files;
    }

    /// Sorts everything (count descending, then name) into the report.
    pub fn into_report(self, catalog: &Catalog) -> Report {
        let time = |t: Option<Nanos>| t.map(format_rfc3339);
        let mut signatures: Vec<SignatureReport> = self
            .sigs
            .into_iter()
            .map(|(i, s)| {
                let sig = &catalog.signatures[i];
                SignatureReport {
                    id: sig.id.clone(),
                    title: sig.title.clone(),
                    severity: sig.severity.as_str().to_string(),
                    count: s.seen.count,
                    first_seen: time(s.seen.first),
                    last_seen: time(s.seen.last),
                    exception_types: sorted(s.types, |k, n| Count {
                        r#type: k,
                        count: n,
                    }),
                    variants: sorted(s.variants, |k, n| VariantCount { value: k, count: n }),
                    locations: sorted_by(s.locations, |l, n| LocationCount {
                        file: l.file,
                        line: l.line,
                        function: l.function,
                        count: n,
                    }),
                    remediation: sig.remediation.clone(),
                    references: sig.references.clone(),
                }
            })
            .collect();
        signatures.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.id.cmp(&b.id)));
        let mut exceptions: Vec<ExceptionGroup> = self
            .exceptions
            .into_iter()
            .map(|((ty, msg), s)| ExceptionGroup {
                r#type: ty,
                message: msg,
                count: s.count,
                first_seen: time(s.first),
                last_seen: time(s.last),
            })
            .collect();
        exceptions.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.r#type.cmp(&b.r#type))
                .then_with(|| a.message.cmp(&b.message))
        });
        let mut skipped = std::collections::BTreeMap::new();
        if self.frame.blank > 0 {
            skipped.insert("blank".to_string(), self.frame.blank);
        }
        Report {
            schema: SCHEMA.to_string(),
            input: InputSummary {
                files: self.files,
                bytes: self.bytes,
                lines: self.frame.lines,
                records: self.frame.records,
                skipped,
                truncated_lines: self.frame.truncated_lines,
                split_records: self.frame.split_records,
            },
            time_range: TimeRange {
                start: time(self.range.first),
                end: time(self.range.last),
            },
            signatures,
            exceptions,
            errors: Vec::new(),
        }
    }
}

fn sorted<T>(m: HashMap<String, u64>, f: impl Fn(String, u64) -> T) -> Vec<T> {
    let mut v: Vec<(String, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter().map(|(k, n)| f(k, n)).collect()
}

fn sorted_by<K: Ord, T>(m: HashMap<K, u64>, f: impl Fn(K, u64) -> T) -> Vec<T> {
    let mut v: Vec<(K, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter().map(|(k, n)| f(k, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Classifier;

    #[test]
    fn merge_is_order_independent() {
        let cl = Classifier::new(Catalog::builtin().unwrap());
        let recs = [
            (
                Some(5),
                "AttributeError: 'Settings' object has no attribute 'A'",
            ),
            (
                Some(1),
                "AttributeError: 'Settings' object has no attribute 'B'",
            ),
            (Some(9), "KeyError: 'x'"),
            (
                None,
                "AttributeError: 'Settings' object has no attribute 'A'",
            ),
        ];
        let mut parts: Vec<Summary> = recs
            .iter()
            .map(|(t, l)| {
                let mut s = Summary::new();
                s.see_time(*t);
                s.add(*t, &cl.classify(&[*l]).unwrap());
                s
            })
            .collect();
        let mut fwd = Summary::new();
        for p in parts.clone() {
            fwd.merge(p);
        }
        parts.reverse();
        let mut rev = Summary::new();
        for p in parts {
            rev.merge(p);
        }
        let a = serde_json::to_string(&fwd.into_report(cl.catalog())).unwrap();
        let b = serde_json::to_string(&rev.into_report(cl.catalog())).unwrap();
        assert_eq!(a, b);
        let r: serde_json::Value = serde_json::from_str(&a).unwrap();
        assert_eq!(r["signatures"][0]["count"], 3);
        assert_eq!(r["signatures"][0]["variants"][0]["value"], "A");
        assert_eq!(r["signatures"][0]["first_seen"], "1970-01-01T00:00:00.000Z");
        assert_eq!(r["exceptions"][0]["type"], "KeyError");
        assert_eq!(r["time_range"]["end"], "1970-01-01T00:00:00.000Z");
    }
}
