//! Records no signature matched, at warning level or above, by message shape: the input of
//! the report's templates section.
//!
//! A shape is the message masked ([`crate::templates::mask`]); shapes are grouped into
//! templates only when the report is built, over the whole run's shapes, so the templates do
//! not depend on how the input was cut. Each shape keeps its records per minute, from which
//! the report finds when a template appeared or surged.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::{Example, Seen};
use crate::framing::Nanos;

/// Nanoseconds in a minute, the step of a shape's series.
pub(crate) const MINUTE_NS: i64 = 60_000_000_000;

/// One message shape's records.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct MessageAgg {
    pub seen: Seen,
    /// The most severe level of its records ([`crate::templates::severity`]).
    pub severity: u8,
    /// Records per minute (minutes since the epoch); untimed records are counted in `seen`
    /// only.
    pub minutes: BTreeMap<i64, u64>,
    pub example: Option<Example>,
}

impl MessageAgg {
    pub(crate) fn merge(&mut self, o: MessageAgg) {
        self.seen.merge(&o.seen);
        self.severity = self.severity.max(o.severity);
        for (m, n) in o.minutes {
            *self.minutes.entry(m).or_insert(0) += n;
        }
        Example::merge(&mut self.example, o.example);
    }
}

/// Message shapes and their records.
pub(crate) type Messages = FxHashMap<String, MessageAgg>;

/// Adds `o` into `a`.
pub(crate) fn merge_messages(a: &mut Messages, o: Messages) {
    for (k, v) in o {
        match a.get_mut(&k) {
            Some(x) => x.merge(v),
            None => {
                a.insert(k, v);
            }
        }
    }
}

impl super::Summary {
    /// Counts one record whose message has shape `shape` and level `severity`; `lines`
    /// gives its text only when it may be kept as the shape's example.
    pub fn add_message<L: AsRef<str>>(
        &mut self,
        shape: &str,
        severity: u8,
        t: Option<Nanos>,
        lines: impl FnOnce() -> Vec<L>,
    ) {
        let m = match self.messages.get_mut(shape) {
            Some(m) => m,
            None => self.messages.entry(shape.to_string()).or_default(),
        };
        m.seen.add(t);
        m.severity = m.severity.max(severity);
        if let Some(t) = t {
            *m.minutes.entry(t.div_euclid(MINUTE_NS)).or_insert(0) += 1;
        }
        let keep = m
            .example
            .as_ref()
            .is_none_or(|e| Example::when(t) <= Example::when(e.time));
        if keep {
            Example::merge(&mut m.example, Some(Example::of(t, &lines())));
        }
    }
}
