//! A [`Summary`] as it is saved between runs (`--state`): plain data that serializes, with
//! signatures named by their id (catalog indexes change when pattern files change), the
//! classified records as a table of distinct classifications, and the request figures in
//! their sketches (a saved summary keeps no request row).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Example, MessageAgg, RequestSketches, Seen, SigAgg, Summary};
use crate::classify::{Catalog, Classification, Location};
use crate::framing::{FrameStats, Layout, Nanos, UnwrapStats};

/// A signature's counts, by its id.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedSig {
    id: String,
    seen: Seen,
    types: Vec<(String, u64)>,
    variants: Vec<(String, u64)>,
    locations: Vec<(Location, u64)>,
    /// Absent from state files of versions before examples.
    #[serde(default)]
    example: Option<Example>,
}

/// One distinct classification of the saved records.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedClass {
    signature: Option<String>,
    variant: Option<String>,
    exception_type: Option<String>,
    message: Option<String>,
    location: Option<Location>,
}

/// An unknown exception group.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedException {
    exception_type: String,
    message: String,
    location: Option<Location>,
    seen: Seen,
}

/// A [`Summary`] without request rows, ready to serialize.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedSummary {
    signatures: Vec<SavedSig>,
    exceptions: Vec<SavedException>,
    /// Unmatched warning and error messages by shape; absent from state files of versions
    /// before templates.
    #[serde(default)]
    messages: Vec<(String, MessageAgg)>,
    range: Seen,
    bytes: u64,
    frame: FrameStats,
    files: u64,
    unparsed_latency: u64,
    missing_latency: u64,
    #[serde(default)]
    paired: u64,
    sketches: RequestSketches,
    outside_window: (u64, u64),
    layouts: BTreeMap<String, u64>,
    unwrap: UnwrapStats,
    /// The classified records' distinct classifications and sources, then one row per
    /// record: `[time, class, source]`.
    classes: Vec<SavedClass>,
    sources: Vec<String>,
    events: Vec<(Option<Nanos>, u32, u32)>,
}

fn sorted<K: Ord + Clone>(m: impl IntoIterator<Item = (K, u64)>) -> Vec<(K, u64)> {
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort();
    v
}

impl SavedSummary {
    /// The saved form of `sum`; its request rows are folded into the sketches first, with
    /// `bucket_ns` buckets.
    pub fn of(mut sum: Summary, catalog: &Catalog, bucket_ns: i64) -> SavedSummary {
        if !sum.requests.is_empty() {
            sum.fold_requests(bucket_ns);
        }
        let id = |i: usize| catalog.signatures[i].id.clone();
        let mut signatures: Vec<SavedSig> = sum
            .sigs
            .into_iter()
            .map(|(i, s)| SavedSig {
                id: id(i),
                seen: s.seen,
                types: sorted(s.types),
                variants: sorted(s.variants),
                locations: sorted(s.locations),
                example: s.example,
            })
            .collect();
        signatures.sort_by(|a, b| a.id.cmp(&b.id));
        let mut exceptions: Vec<SavedException> = sum
            .exceptions
            .into_iter()
            .map(
                |((exception_type, message, location), seen)| SavedException {
                    exception_type,
                    message,
                    location,
                    seen,
                },
            )
            .collect();
        exceptions.sort_by(|a, b| {
            (&a.exception_type, &a.message, &a.location).cmp(&(
                &b.exception_type,
                &b.message,
                &b.location,
            ))
        });
        let mut messages: Vec<(String, MessageAgg)> = sum.messages.into_iter().collect();
        messages.sort_by(|a, b| a.0.cmp(&b.0));
        let (mut classes, mut sources) = (Vec::new(), Vec::new());
        let mut class_ids: HashMap<Classification, u32> = HashMap::new();
        let mut source_ids: HashMap<Arc<str>, u32> = HashMap::new();
        let mut events = Vec::new();
        for e in sum.events.iter().flatten() {
            let c = *class_ids.entry((*e.class).clone()).or_insert_with(|| {
                classes.push(SavedClass {
                    signature: e.class.signature.map(id),
                    variant: e.class.variant.clone(),
                    exception_type: e.class.exception_type.clone(),
                    message: e.class.message.clone(),
                    location: e.class.location.clone(),
                });
                classes.len() as u32 - 1
            });
            let s = *source_ids.entry(Arc::clone(&e.source)).or_insert_with(|| {
                sources.push(e.source.to_string());
                sources.len() as u32 - 1
            });
            events.push((e.time, c, s));
        }
        SavedSummary {
            signatures,
            exceptions,
            messages,
            range: sum.range,
            bytes: sum.bytes,
            frame: sum.frame,
            files: sum.files,
            unparsed_latency: sum.requests.unparsed_latency,
            missing_latency: sum.requests.missing_latency,
            paired: sum.requests.paired,
            sketches: sum.sketches,
            outside_window: sum.outside_window,
            layouts: sum
                .layouts
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            unwrap: sum.unwrap,
            classes,
            sources,
            events,
        }
    }

    /// The summary again, its signatures found by id in `catalog`. A signature the catalog
    /// no longer has, or a layout this version does not know, is an error naming it.
    pub fn restore(self, catalog: &Catalog) -> Result<Summary, String> {
        let index: HashMap<&str, usize> = catalog
            .signatures
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let find = |id: &str| {
            index
                .get(id)
                .copied()
                .ok_or_else(|| format!("signature `{id}` is not in the catalog"))
        };
        let mut sum = Summary::new();
        for s in self.signatures {
            let agg = SigAgg {
                seen: s.seen,
                types: s.types.into_iter().collect(),
                variants: s.variants.into_iter().collect(),
                locations: s.locations.into_iter().collect(),
                example: s.example,
            };
            sum.sigs.insert(find(&s.id)?, agg);
        }
        for e in self.exceptions {
            sum.exceptions
                .insert((e.exception_type, e.message, e.location), e.seen);
        }
        sum.messages = self.messages.into_iter().collect();
        let classes = self
            .classes
            .into_iter()
            .map(|c| {
                Ok(Arc::new(Classification {
                    signature: c.signature.as_deref().map(find).transpose()?,
                    variant: c.variant,
                    exception_type: c.exception_type,
                    message: c.message,
                    location: c.location,
                }))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let sources: Vec<Arc<str>> = self.sources.into_iter().map(Arc::from).collect();
        let mut rows = Vec::with_capacity(self.events.len());
        for (time, c, s) in self.events {
            let (Some(class), Some(source)) = (classes.get(c as usize), sources.get(s as usize))
            else {
                return Err(format!("a record names class {c} or source {s}, not saved"));
            };
            rows.push(super::EventRow {
                time,
                class: Arc::clone(class),
                source: Arc::clone(source),
            });
        }
        if !rows.is_empty() {
            sum.events.push(rows);
        }
        for (name, n) in self.layouts {
            let name = match name.as_str() {
                "empty" => "empty",
                other => Layout::from_name(other)
                    .ok_or_else(|| format!("unknown layout `{other}`"))?
                    .name(),
            };
            sum.layouts.insert(name, n);
        }
        sum.range = self.range;
        sum.bytes = self.bytes;
        sum.frame = self.frame;
        sum.files = self.files;
        sum.requests.unparsed_latency = self.unparsed_latency;
        sum.requests.missing_latency = self.missing_latency;
        sum.requests.paired = self.paired;
        sum.sketches = self.sketches;
        sum.sketches.reindex();
        sum.outside_window = self.outside_window;
        sum.unwrap = self.unwrap;
        Ok(sum)
    }
}
