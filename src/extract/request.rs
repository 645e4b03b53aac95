//! Request records: method, path, status and latency from access and request lines.
//!
//! Three readers, configured by `patterns/requests.toml` (and user files): logfmt keys
//! (`method=GET path=/x status=200 duration_ms=12.4`), the same keys in JSON lines, and regex
//! layouts for fixed formats (ingress-nginx, OpenStack, `Request completed: ...`, access logs).
//! A latency's unit comes from the value (`14ms`, `0.0124s`) or from the configuration; a bare
//! number with neither is counted as unparsed, never guessed.

use std::path::Path;

use memchr::memmem;
use regex::bytes::Regex;
use serde::Deserialize;

use super::ingress::{ingress_nginx, Fast, Groups};
use crate::classify::Literals;
use crate::error::CatalogError;

/// The built-in request layouts.
pub const BUILTIN_REQUESTS: (&str, &str) = (
    "patterns/requests.toml",
    include_str!("../../patterns/requests.toml"),
);

/// A latency unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
    /// Microseconds.
    Us,
    /// Nanoseconds.
    Ns,
    /// The value carries its unit (`14ms`); without one it is unparsed.
    Value,
}

impl Unit {
    /// Parses `ms`, `s`, `us`/`µs`, `ns`.
    pub fn parse(s: &str) -> Option<Unit> {
        match s {
            "ms" => Some(Unit::Ms),
            "s" | "sec" => Some(Unit::S),
            "us" | "µs" => Some(Unit::Us),
            "ns" => Some(Unit::Ns),
            "value" => Some(Unit::Value),
            _ => None,
        }
    }

    pub(crate) fn to_ms(self, v: f64) -> Option<f64> {
        match self {
            Unit::Ms => Some(v),
            Unit::S => Some(v * 1000.0),
            Unit::Us => Some(v / 1000.0),
            Unit::Ns => Some(v / 1e6),
            Unit::Value => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyKey {
    key: String,
    unit: Unit,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    #[serde(default)]
    method: Vec<String>,
    #[serde(default)]
    path: Vec<String>,
    #[serde(default)]
    status: Vec<String>,
    #[serde(default)]
    latency: Vec<LatencyKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayout {
    id: String,
    anchors: Vec<String>,
    pattern: String,
    #[serde(default)]
    unit: Option<Unit>,
    /// A hand-written reader that gives the pattern's answer faster (`ingress-nginx`).
    #[serde(default)]
    reader: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    fields: Option<Fields>,
    #[serde(default)]
    layout: Vec<RawLayout>,
    /// Signatures may share a file with request layouts; the catalog reads them.
    #[serde(default, rename = "signature")]
    _signature: Option<toml::Value>,
}

impl Layout {
    /// The pattern's groups on `line`, from the hand-written reader when it decides.
    fn groups(&self, line: &[u8]) -> Option<Groups> {
        if let Some(read) = self.reader {
            match read(line) {
                Fast::Match(g) => return Some(g),
                Fast::NoMatch => return None,
                Fast::Unsure => {}
            }
        }
        Groups::from_captures(&self.pattern.captures(line)?)
    }
}

#[derive(Debug, Clone, Default)]
struct JsonKeys {
    method: Vec<memmem::Finder<'static>>,
    path: Vec<memmem::Finder<'static>>,
    status: Vec<memmem::Finder<'static>>,
    latency: Vec<(memmem::Finder<'static>, Unit)>,
}

#[derive(Debug, Clone)]
struct Layout {
    id: String,
    /// The anchor strings; `anchor_bits` marks them in the reader's anchor automaton.
    anchors: Vec<String>,
    anchor_bits: u64,
    pattern: Regex,
    /// Tried before the regex; the regex decides what it leaves undecided.
    reader: Option<fn(&[u8]) -> Fast>,
    unit: Option<Unit>,
}

/// Latency as read from a line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// In milliseconds.
    Ms(f64),
    /// Present but without a unit (or not a number): counted, not used.
    Unparsed,
    /// The line has no latency.
    Missing,
}

/// A request read from a line; the strings borrow from the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a [u8],
    /// The path as printed (query string included).
    pub path: &'a [u8],
    /// The HTTP status.
    pub status: u16,
    /// The latency.
    pub latency: Latency,
}

/// What a logfmt key is to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Method,
    Path,
    Status,
    /// A latency key and its rank in the configuration (lower wins).
    Latency(usize),
}

/// The compiled request readers.
#[derive(Debug, Clone)]
pub struct RequestReader {
    fields: Fields,
    /// Every configured key with its role (the first role when a key has several), rebuilt
    /// when the fields change. Matching a logfmt key against this flat list, length and
    /// first byte first, replaced four list scans of `memcmp` calls per pair.
    keys: Vec<(Box<[u8]>, Role)>,
    /// Per first byte of a key, a bit per key length (31 for 31 and longer): a logfmt key
    /// that is no configured key (`client=`, `ratio=`) is rejected with one load.
    key_lens: Box<[u32; 256]>,
    /// An open-addressed table of `keys` (index + 1; 0 is empty), hashed on the first byte,
    /// the last byte and the length, a power of two at least four times the keys. Many
    /// keys share a first byte (`status`, `status_code`, `service`; `request_method`,
    /// `route`, `response_time`, ...): walking those candidates, a length compare and a byte
    /// loop each, was a fifth of the reader's own time; one probe almost always lands on
    /// the only candidate.
    key_slots: Box<[u16]>,
    /// `"key":` finders of the JSON reader, per role, in configuration order.
    json_keys: JsonKeys,
    layouts: Vec<Layout>,
    /// Every distinct layout anchor in one automaton: a line without any (most lines) skips
    /// the layouts after one search instead of one `memmem` per layout and anchor.
    anchors: Option<Literals>,
    /// The same anchors, one finder each.
    anchor_finders: Vec<memmem::Finder<'static>>,
    /// `@last=UNIT`: the last number of an access line is the latency.
    last_number: Option<Unit>,
}

impl RequestReader {
    /// The built-in layouts.
    pub fn builtin() -> Result<RequestReader, CatalogError> {
        let mut r = RequestReader {
            fields: Fields::default(),
            keys: Vec::new(),
            key_lens: Box::new([0; 256]),
            key_slots: Box::new([]),
            json_keys: JsonKeys::default(),
            layouts: Vec::new(),
            anchors: None,
            anchor_finders: Vec::new(),
            last_number: None,
        };
        r.add_str(Path::new(BUILTIN_REQUESTS.0), BUILTIN_REQUESTS.1)?;
        Ok(r)
    }

    /// Adds a request pattern file: its fields extend the built-in ones, its layouts are tried
    /// before the built-in ones.
    pub fn add_str(&mut self, path: &Path, text: &str) -> Result<(), CatalogError> {
        let file: File = toml::from_str(text).map_err(|e| CatalogError::Syntax {
            path: path.into(),
            reason: e.to_string().trim().to_string(),
        })?;
        if let Some(f) = file.fields {
            self.fields.method.extend(f.method);
            self.fields.path.extend(f.path);
            self.fields.status.extend(f.status);
            // User keys first: they override a built-in key of the same name.
            let mut lat = f.latency;
            lat.append(&mut self.fields.latency);
            self.fields.latency = lat;
        }
        let mut new = Vec::new();
        for raw in file.layout {
            let bad = |reason: String| CatalogError::Signature {
                path: path.into(),
                id: raw.id.clone(),
                reason,
            };
            let pattern =
                Regex::new(&raw.pattern).map_err(|e| bad(format!("bad pattern regex: {e}")))?;
            for g in ["method", "path", "status"] {
                if !pattern.capture_names().any(|n| n == Some(g)) {
                    return Err(bad(format!("layout pattern needs a (?P<{g}>...) group")));
                }
            }
            if raw.anchors.is_empty() {
                return Err(bad("needs at least one anchor".into()));
            }
            let reader = match raw.reader.as_deref() {
                None => None,
                Some("ingress-nginx") => Some(ingress_nginx as fn(&[u8]) -> Fast),
                Some(other) => {
                    return Err(bad(format!(
                        "unknown reader {other:?} (known: \"ingress-nginx\")"
                    )))
                }
            };
            new.push(Layout {
                id: raw.id,
                anchors: raw.anchors,
                anchor_bits: 0,
                reader,
                pattern,
                unit: raw.unit,
            });
        }
        new.append(&mut self.layouts);
        self.layouts = new;
        self.rebuild_anchors(path)?;
        self.rebuild_keys();
        Ok(())
    }

    fn rebuild_anchors(&mut self, path: &Path) -> Result<(), CatalogError> {
        let mut distinct: Vec<&str> = Vec::new();
        let mut bits = Vec::with_capacity(self.layouts.len());
        for l in &self.layouts {
            let mut b = 0u64;
            for a in &l.anchors {
                let i = match distinct.iter().position(|d| d == a) {
                    Some(i) => i,
                    None => {
                        distinct.push(a);
                        distinct.len() - 1
                    }
                };
                if i >= 64 {
                    return Err(CatalogError::Signature {
                        path: path.into(),
                        id: l.id.clone(),
                        reason: "more than 64 distinct request layout anchors".into(),
                    });
                }
                b |= 1 << i;
            }
            bits.push(b);
        }
        self.anchors = if distinct.is_empty() {
            None
        } else {
            let lits = Literals::new(&distinct).map_err(|e| CatalogError::Syntax {
                path: path.into(),
                reason: format!("request layout anchors: {e}"),
            })?;
            Some(lits)
        };
        self.anchor_finders = distinct
            .iter()
            .map(|a| memmem::Finder::new(a.as_bytes()).into_owned())
            .collect();
        for (l, b) in self.layouts.iter_mut().zip(bits) {
            l.anchor_bits = b;
        }
        Ok(())
    }

    fn rebuild_keys(&mut self) {
        let f = &self.fields;
        let mut keys: Vec<(Box<[u8]>, Role)> = Vec::new();
        let roles = f
            .method
            .iter()
            .map(|k| (k.as_str(), Role::Method))
            .chain(f.path.iter().map(|k| (k.as_str(), Role::Path)))
            .chain(f.status.iter().map(|k| (k.as_str(), Role::Status)))
            .chain(
                f.latency
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (l.key.as_str(), Role::Latency(i))),
            );
        for (k, role) in roles {
            if !k.is_empty() && !keys.iter().any(|(x, _)| **x == *k.as_bytes()) {
                keys.push((k.as_bytes().into(), role));
            }
        }
        // More keys than a slot index holds are not read (a configuration of 65 535 keys).
        keys.truncate(usize::from(u16::MAX) - 1);
        let mut lens = Box::new([0u32; 256]);
        let mut slots = vec![0u16; (keys.len() * 4).next_power_of_two().max(64)];
        let mask = slots.len() - 1;
        for (i, (k, _)) in keys.iter().enumerate() {
            lens[usize::from(k[0])] |= 1 << k.len().min(31);
            let mut h = key_hash(k) & mask;
            while slots[h] != 0 {
                h = (h + 1) & mask;
            }
            slots[h] = u16::try_from(i + 1).expect("truncated above");
        }
        let finder = |k: &String| memmem::Finder::new(format!("\"{k}\":").as_bytes()).into_owned();
        self.json_keys = JsonKeys {
            method: f.method.iter().map(finder).collect(),
            path: f.path.iter().map(finder).collect(),
            status: f.status.iter().map(finder).collect(),
            latency: f.latency.iter().map(|l| (finder(&l.key), l.unit)).collect(),
        };
        self.keys = keys;
        self.key_lens = lens;
        self.key_slots = slots.into_boxed_slice();
    }

    #[inline]
    fn role(&self, k: &[u8]) -> Option<Role> {
        let first = *k.first()?;
        if self.key_lens[usize::from(first)] & (1 << k.len().min(31)) == 0 {
            return None;
        }
        let mask = self.key_slots.len() - 1;
        let mut h = key_hash(k) & mask;
        loop {
            let slot = usize::from(self.key_slots[h]);
            let (x, role) = self.keys.get(slot.checked_sub(1)?)?;
            if same_bytes(x, k) {
                return Some(*role);
            }
            h = (h + 1) & mask;
        }
    }

    /// Adds a latency key (`duration=ms`); `@last=UNIT` reads the last number of an access
    /// line (gunicorn `%(M)s`, `%(D)s`, `%(L)s` at the end of `access_log_format`).
    pub fn add_latency_field(&mut self, key: &str, unit: Unit) {
        if key == "@last" {
            self.last_number = Some(unit);
        } else {
            self.fields.latency.insert(
                0,
                LatencyKey {
                    key: key.to_string(),
                    unit,
                },
            );
            self.rebuild_keys();
        }
    }

    /// The layout ids, in the order they are tried.
    pub fn layout_ids(&self) -> Vec<&str> {
        self.layouts.iter().map(|l| l.id.as_str()).collect()
    }

    /// Reads a request from a line (prefix already stripped), if it is one.
    pub fn read<'a>(&self, line: &'a [u8], json: bool) -> Option<Request<'a>> {
        if json {
            return self.read_json(line);
        }
        if let Some(r) = self.read_logfmt(line) {
            return Some(r);
        }
        self.read_layouts(line)
    }

    fn read_layouts<'a>(&self, line: &'a [u8]) -> Option<Request<'a>> {
        // Lines with an anchor are few: they look for the other anchors one by one.
        let first = self.anchors.as_ref()?.find(line)?;
        let mut present = 1u64 << first.pattern().as_usize();
        for (i, f) in self.anchor_finders.iter().enumerate() {
            if present & (1 << i) == 0 && f.find(&line[first.start()..]).is_some() {
                present |= 1 << i;
            }
        }
        for l in &self.layouts {
            if l.anchor_bits & present == 0 {
                continue;
            }
            let Some(g) = l.groups(line) else {
                continue;
            };
            let status = parse_status(&line[g.status])?;
            let mut latency = match g.latency {
                None => Latency::Missing,
                Some(v) => {
                    let unit = g
                        .unit
                        .and_then(|u| std::str::from_utf8(&line[u]).ok().and_then(Unit::parse));
                    match unit.or(l.unit) {
                        Some(u) => number(&line[v])
                            .and_then(|x| u.to_ms(x))
                            .map_or(Latency::Unparsed, Latency::Ms),
                        None => Latency::Unparsed,
                    }
                }
            };
            if latency == Latency::Missing {
                if let Some(u) = self.last_number {
                    let last = line
                        .rsplit(|c| *c == b' ')
                        .find(|t| !t.is_empty())
                        .unwrap_or(b"");
                    latency = number(last)
                        .and_then(|x| u.to_ms(x))
                        .map_or(Latency::Unparsed, Latency::Ms);
                }
            }
            return Some(Request {
                method: &line[g.method],
                path: &line[g.path],
                status,
                latency,
            });
        }
        None
    }

    fn read_logfmt<'a>(&self, line: &'a [u8]) -> Option<Request<'a>> {
        let mut method: Option<&[u8]> = None;
        let mut path: Option<&[u8]> = None;
        let mut status: Option<u16> = None;
        // The latency key that ranks first in the configuration wins.
        let mut latency: Option<(usize, Latency)> = None;
        // The first key is found with `memchr` (the line's prefix can be long); the pairs
        // after it with byte loops: keys and values are a few bytes, and a `memchr` call per
        // key and value cost more than it scanned (a third of the reader's time, perf).
        let n = line.len();
        let mut eq = memchr::memchr(b'=', line)?;
        let mut ks = memchr::memrchr(b' ', &line[..eq]).map_or(0, |s| s + 1);
        loop {
            let key = &line[ks..eq];
            let vs = eq + 1;
            let (val, mut j) = if line.get(vs) == Some(&b'"') {
                match memchr::memchr(b'"', &line[vs + 1..]) {
                    Some(q) => (&line[vs + 1..vs + 1 + q], vs + q + 2),
                    None => (&line[vs..], n),
                }
            } else {
                let e = find2(line, vs, b' ', b' ');
                (&line[vs..e], e)
            };
            match self.role(key) {
                Some(Role::Method) if method.is_none() => method = Some(val),
                Some(Role::Path) if path.is_none() => path = Some(val),
                Some(Role::Status) if status.is_none() => status = parse_status(val),
                Some(Role::Latency(rank)) if latency.is_none_or(|(r, _)| rank < r) => {
                    let unit = self.fields.latency[rank].unit;
                    latency = Some((rank, latency_value(val, unit)));
                }
                _ => {}
            }
            // Every role found, the latency of the first-ranked key: the rest cannot change
            // the request (`client=...` and later pairs are not read).
            if method.is_some()
                && path.is_some()
                && status.is_some()
                && matches!(latency, Some((0, _)))
            {
                break;
            }
            // The next key: the word that ends with `=` (words without one are skipped).
            loop {
                while j < n && line[j] == b' ' {
                    j += 1;
                }
                ks = j;
                j = find2(line, j, b'=', b' ');
                if j >= n || line[j] == b'=' {
                    break;
                }
            }
            if j >= n {
                break;
            }
            eq = j;
        }
        Some(Request {
            method: method?,
            path: path?,
            status: status?,
            latency: latency.map_or(Latency::Missing, |(_, l)| l),
        })
    }

    fn read_json<'a>(&self, line: &'a [u8]) -> Option<Request<'a>> {
        let k = &self.json_keys;
        let find = |keys: &[memmem::Finder<'_>]| keys.iter().find_map(|f| json_value(line, f));
        let status = parse_status(trim_quotes(find(&k.status)?))?;
        let method = trim_quotes(find(&k.method)?);
        let path = trim_quotes(find(&k.path)?);
        let latency = k
            .latency
            .iter()
            .find_map(|(f, unit)| json_value(line, f).map(|v| latency_value(trim_quotes(v), *unit)))
            .unwrap_or(Latency::Missing);
        Some(Request {
            method,
            path,
            status,
            latency,
        })
    }
}

/// The first index at or after `from` of `a` or `b` in `h`, or `h.len()`: eight bytes at a
/// time in a `u64` (the classic zero-byte test), for the short keys and values of logfmt
/// where a `memchr` call costs more than its scan.
#[inline]
pub(crate) fn find2(h: &[u8], from: usize, a: u8, b: u8) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let (ma, mb) = (LO * u64::from(a), LO * u64::from(b));
    let mut i = from;
    while let Some(chunk) = h.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let (xa, xb) = (w ^ ma, w ^ mb);
        let z = (xa.wrapping_sub(LO) & !xa & HI) | (xb.wrapping_sub(LO) & !xb & HI);
        if z != 0 {
            return i + (z.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < h.len() && h[i] != a && h[i] != b {
        i += 1;
    }
    i
}

/// The slot hash of a logfmt key (not empty): its first and last bytes and its length.
#[inline]
fn key_hash(k: &[u8]) -> usize {
    let (f, l) = (usize::from(k[0]), usize::from(k[k.len() - 1]));
    (f.wrapping_mul(31) ^ l.wrapping_mul(7) ^ k.len().wrapping_mul(97)).wrapping_mul(0x9E37) >> 6
}

/// `a == b` for short byte strings, inline: a word from each end when there are eight bytes
/// or more (overlapping), else four, else a byte loop; a `memcmp` call per candidate key cost
/// more than the comparison (perf).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let w8 = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let w4 = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().expect("4 bytes"));
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if w8(a, i) != w8(b, i) {
                return false;
            }
            i += 8;
        }
        w8(a, n - 8) == w8(b, n - 8)
    } else if n >= 4 {
        w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4)
    } else {
        a.iter().zip(b).all(|(p, q)| p == q)
    }
}

fn parse_status(v: &[u8]) -> Option<u16> {
    if v.len() != 3 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let s = u16::from(v[0] - b'0') * 100 + u16::from(v[1] - b'0') * 10 + u16::from(v[2] - b'0');
    (100..600).contains(&s).then_some(s)
}

/// A plain decimal number (`12`, `12.5`, `.5`), nothing else.
///
/// Up to 15 digits, the mantissa and the power of ten are exact in an `f64` and one
/// correctly rounded division gives the same value as `str::parse` (which was 4% of a
/// one-thread run: the float parser, its UTF-8 check); longer numbers take `str::parse`.
fn number(v: &[u8]) -> Option<f64> {
    match decimal_prefix(v) {
        Some((x, n)) if n == v.len() => Some(x),
        _ => None,
    }
}

/// The plain decimal number at the start of `v` and its length: digits with at most one `.`.
fn decimal_prefix(v: &[u8]) -> Option<(f64, usize)> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (mut mant, mut digits, mut frac, mut dot) = (0u64, 0usize, 0usize, false);
    let mut n = 0;
    for &c in v {
        match c {
            b'0'..=b'9' => {
                mant = mant.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                digits += 1;
                frac += usize::from(dot);
            }
            b'.' if !dot => dot = true,
            _ => break,
        }
        n += 1;
    }
    if digits == 0 {
        return None;
    }
    if digits <= 15 {
        return Some((mant as f64 / POW10[frac], n));
    }
    Some((std::str::from_utf8(&v[..n]).ok()?.parse().ok()?, n))
}

/// A latency value: a number with a unit suffix, or a bare number in the configured unit.
fn latency_value(v: &[u8], unit: Unit) -> Latency {
    let Some((x, n)) = decimal_prefix(v) else {
        return Latency::Unparsed;
    };
    let suffix = &v[n..];
    let u = if suffix.is_empty() {
        unit
    } else {
        match std::str::from_utf8(suffix).ok().and_then(Unit::parse) {
            Some(u) if u != Unit::Value => u,
            _ => return Latency::Unparsed,
        }
    };
    u.to_ms(x).map_or(Latency::Unparsed, Latency::Ms)
}

fn trim_quotes(v: &[u8]) -> &[u8] {
    if v.len() >= 2 && (v[0] == b'"' || v[0] == b'\'') && v[v.len() - 1] == v[0] {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// The raw value of `"key":` in a JSON line: a string with its quotes, or a scalar.
fn json_value<'a>(line: &'a [u8], key: &memmem::Finder<'_>) -> Option<&'a [u8]> {
    let at = key.find(line)? + key.needle().len();
    let rest = &line[at..];
    let start = rest.iter().take_while(|c| c.is_ascii_whitespace()).count();
    let rest = &rest[start..];
    if rest.first() == Some(&b'"') {
        let mut j = 1;
        while j < rest.len() {
            match rest[j] {
                b'\\' => j += 2,
                b'"' => return Some(&rest[..=j]),
                _ => j += 1,
            }
        }
        None
    } else {
        let end = rest
            .iter()
            .position(|c| matches!(c, b',' | b'}' | b' '))
            .unwrap_or(rest.len());
        Some(&rest[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `patterns/` is compiled in: the signature files and the request layouts.
    #[test]
    fn every_pattern_file_is_built_in() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/patterns");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| format!("patterns/{}", e.unwrap().file_name().to_string_lossy()))
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let signatures = crate::classify::catalog::BUILTIN.iter().map(|(n, _)| *n);
        let mut built: Vec<String> = signatures
            .chain([BUILTIN_REQUESTS.0])
            .map(str::to_string)
            .collect();
        built.sort();
        assert_eq!(on_disk, built, "a file in patterns/ is not compiled in");
    }

    fn read(line: &str) -> Option<(String, String, u16, Latency)> {
        let r = RequestReader::builtin().unwrap();
        let json = line.starts_with('{');
        r.read(line.as_bytes(), json).map(|q| {
            (
                String::from_utf8_lossy(q.method).into_owned(),
                String::from_utf8_lossy(q.path).into_owned(),
                q.status,
                q.latency,
            )
        })
    }

    #[test]
    fn fast_number_equals_str_parse() {
        let mut x: u64 = 88172645463325252;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let int = x % 10u64.pow((x >> 60) as u32 % 10);
            let frac_len = (x >> 40) as usize % 8;
            let s = if frac_len == 0 {
                int.to_string()
            } else {
                format!(
                    "{int}.{:0w$}",
                    (x >> 8) % 10u64.pow(frac_len as u32),
                    w = frac_len
                )
            };
            let want: f64 = s.parse().unwrap();
            assert_eq!(number(s.as_bytes()), Some(want), "{s}");
        }
        for (s, want) in [
            ("12", Some(12.0)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            ("0.0256", Some(0.0256)),
            ("1234567890.1234567", Some(1234567890.1234567)),
            ("1.2.3", None),
            (".", None),
            ("", None),
            ("1e3", None),
            ("-1", None),
        ] {
            assert_eq!(number(s.as_bytes()), want, "{s}");
        }
    }

    /// The logfmt pairs, found the plain way: from each `=`, the key back to a space (not into
    /// the previous value), the value to a space or its closing quote.
    fn reference_pairs(line: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(p) = line[i..].iter().position(|c| *c == b'=') {
            let eq = i + p;
            let ks = line[i..eq]
                .iter()
                .rposition(|c| *c == b' ')
                .map_or(i, |s| i + s + 1);
            let vs = eq + 1;
            let (val, next) = if line.get(vs) == Some(&b'"') {
                match line[vs + 1..].iter().position(|c| *c == b'"') {
                    Some(q) => (&line[vs + 1..vs + 1 + q], vs + q + 2),
                    None => (&line[vs..], line.len()),
                }
            } else {
                let e = line[vs..]
                    .iter()
                    .position(|c| *c == b' ')
                    .map_or(line.len(), |p| vs + p);
                (&line[vs..e], e)
            };
            out.push((line[ks..eq].to_vec(), val.to_vec()));
            i = next.min(line.len());
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn logfmt_reader_equals_reference(
            words in proptest::collection::vec(
                "(method|path|status|duration_ms|duration|latency|x|[a-z]{1,3})?=?(GET|/a/1|\"[a-z =]{0,6}\"?|[0-9]{1,4}(\\.[0-9]{1,2})?(ms|s)?|[a-z=]{0,4})",
                0..10,
            ),
            seps in proptest::collection::vec("( {1,2}|)", 10),
        ) {
            let mut line = String::new();
            for (w, s) in words.iter().zip(&seps) {
                line.push_str(w);
                line.push_str(s);
            }
            let r = RequestReader::builtin().unwrap();
            // What the reference pairs give, by the reader's rules.
            let mut method = None;
            let mut path = None;
            let mut status = None;
            let mut latency: Option<(usize, Latency)> = None;
            for (k, v) in reference_pairs(line.as_bytes()) {
                match r.role(&k) {
                    Some(Role::Method) if method.is_none() => method = Some(v),
                    Some(Role::Path) if path.is_none() => path = Some(v),
                    Some(Role::Status) if status.is_none() => status = parse_status(&v),
                    Some(Role::Latency(rank)) if latency.is_none_or(|(x, _)| rank < x) => {
                        latency = Some((rank, latency_value(&v, r.fields.latency[rank].unit)));
                    }
                    _ => {}
                }
            }
            let want = match (method, path, status) {
                (Some(m), Some(p), Some(s)) => {
                    Some((m, p, s, latency.map_or(Latency::Missing, |(_, l)| l)))
                }
                _ => None,
            };
            let got = r
                .read_logfmt(line.as_bytes())
                .map(|q| (q.method.to_vec(), q.path.to_vec(), q.status, q.latency));
            proptest::prop_assert_eq!(got, want, "{}", line);
        }
    }

    proptest::proptest! {
        #[test]
        fn find2_is_the_first_of_either_byte(
            h in proptest::collection::vec(
                proptest::sample::select(vec![b' ', b'=', b'a', 0x80, 0xff, 0xa0, 0xbd]),
                0..40,
            ),
            from in 0usize..40,
        ) {
            let from = from.min(h.len());
            let want = (from..h.len())
                .find(|&i| h[i] == b' ' || h[i] == b'=')
                .unwrap_or(h.len());
            proptest::prop_assert_eq!(find2(&h, from, b'=', b' '), want);
        }
    }

    #[test]
    fn logfmt_keys_and_units() {
        let r = read("2025-01-10 06:00:01,444 - app.middleware.timing - INFO - request method=GET path=/api/v1/health status=200 duration_ms=12.84 client=10.0.0.1").unwrap();
        assert_eq!(
            r,
            (
                "GET".into(),
                "/api/v1/health".into(),
                200,
                Latency::Ms(12.84)
            )
        );
        assert_eq!(
            read("method=GET path=/x status=404 duration=14ms")
                .unwrap()
                .3,
            Latency::Ms(14.0)
        );
        assert_eq!(
            read("method=GET path=/x status=200 elapsed=0.0124s")
                .unwrap()
                .3,
            Latency::Ms(12.4)
        );
        assert_eq!(
            read("method=GET path=/x status=200 request_time=0.012")
                .unwrap()
                .3,
            Latency::Ms(12.0)
        );
        assert_eq!(
            read("method=GET path=/x status=200 latency_ms=7")
                .unwrap()
                .3,
            Latency::Ms(7.0)
        );
        assert_eq!(
            read("method=GET path=/x status=200 duration=105")
                .unwrap()
                .3,
            Latency::Unparsed
        );
        assert_eq!(
            read("method=GET path=/x status=200").unwrap().3,
            Latency::Missing
        );
        assert!(
            read("method=GET status=200 duration_ms=1").is_none(),
            "no path, not a request"
        );
    }

    #[test]
    fn heroku_router_line() {
        let r = read(r#"at=info method=GET path="/api/trips?x=1" host=app.herokuapp.com request_id=8601b555 fwd="10.1.1.1" dyno=web.1 connect=0ms service=14ms status=200 bytes=1548 protocol=https"#).unwrap();
        assert_eq!(
            r,
            (
                "GET".into(),
                "/api/trips?x=1".into(),
                200,
                Latency::Ms(14.0)
            )
        );
    }

    #[test]
    fn json_keys() {
        let r = read(r#"{"timestamp":"2025-01-10T06:00:01.444Z","event":"request","method":"POST","path":"/api/v1/pam/chat","status":200,"duration_ms":9.84}"#).unwrap();
        assert_eq!(
            r,
            (
                "POST".into(),
                "/api/v1/pam/chat".into(),
                200,
                Latency::Ms(9.84)
            )
        );
        let r = read(r#"{"method":"GET","url":"/x","status_code":"503","duration":105}"#).unwrap();
        assert_eq!((r.2, r.3), (503, Latency::Unparsed));
    }

    #[test]
    fn ingress_nginx_seconds() {
        let r = read(r#"10.82.212.177 - - [10/Jan/2025:06:01:14 +0000] "GET /api/v1/users/49195/profile HTTP/1.1" 200 8552 "-" "Mozilla/5.0 (X11; Linux x86_64)" 695 0.007 [default-backend-8000] [] 10.0.3.17:8000 2638 0.007 200 ac81d075946f69ebc190d1df9182fbfa"#).unwrap();
        assert_eq!(
            r,
            (
                "GET".into(),
                "/api/v1/users/49195/profile".into(),
                200,
                Latency::Ms(7.0)
            )
        );
    }

    #[test]
    fn openstack_and_request_completed_and_uvicorn() {
        let r = read(r#"nova.osapi_compute.wsgi.server [req-x] 10.11.10.1 "GET /v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail HTTP/1.1" status: 200 len: 1893 time: 0.2477829"#).unwrap();
        assert_eq!((r.2, r.3), (200, Latency::Ms(247.7829)));
        let r = read("Request completed: GET /api/x - 401 - 0.0221s").unwrap();
        assert_eq!(r, ("GET".into(), "/api/x".into(), 401, Latency::Ms(22.1)));
        let r = read(
            r#"INFO:     127.0.0.1:49927 - "POST /visits HTTP/1.1" 500 Internal Server Error"#,
        )
        .unwrap();
        assert_eq!(r, ("POST".into(), "/visits".into(), 500, Latency::Missing));
    }

    #[test]
    fn ingress_layout_is_read_by_hand_and_readers_are_checked() {
        let r = RequestReader::builtin().unwrap();
        let l = r.layouts.iter().find(|l| l.id == "ingress-nginx").unwrap();
        assert!(
            l.reader.is_some(),
            "the built-in ingress-nginx layout names its reader"
        );
        let mut r = RequestReader::builtin().unwrap();
        let bad = "[[layout]]\nid = \"x\"\nanchors = [\" \"]\npattern = '(?P<method>A)(?P<path>B)(?P<status>C)'\nreader = \"nope\"\n";
        let e = r.add_str(Path::new("u.toml"), bad).unwrap_err().to_string();
        assert!(e.contains("unknown reader"), "{e}");
    }

    #[test]
    fn every_configured_key_and_only_those_have_a_role() {
        let mut r = RequestReader::builtin().unwrap();
        // Many keys sharing first bytes, lengths and last bytes: the slot table collides.
        let extra: Vec<String> = (0..300).map(|i| format!("s{i:03}x_ms")).collect();
        let toml = format!(
            "[fields]\nlatency = [{}]\n",
            extra
                .iter()
                .map(|k| format!("{{ key = \"{k}\", unit = \"ms\" }}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        r.add_str(Path::new("u.toml"), &toml).unwrap();
        assert_eq!(r.role(b"method"), Some(Role::Method));
        assert_eq!(r.role(b"request_path"), Some(Role::Path));
        assert_eq!(r.role(b"status"), Some(Role::Status));
        assert_eq!(r.role(b"status_code"), Some(Role::Status));
        assert_eq!(r.role(b"s"), None);
        for (rank, k) in r.fields.latency.iter().map(|l| l.key.clone()).enumerate() {
            // The first rank of a key wins (`duration_ms` is built in and not repeated).
            assert_eq!(r.role(k.as_bytes()), Some(Role::Latency(rank)), "{k}");
            let mut near = k.clone().into_bytes();
            let last = near.len() - 1;
            near[last] ^= 1;
            assert_eq!(r.role(&near), None, "{}", String::from_utf8_lossy(&near));
            near[last] ^= 1;
            near.push(b'x');
            assert_eq!(r.role(&near), None);
            near.truncate(last);
            assert_eq!(
                r.role(&near).is_some(),
                r.keys.iter().any(|(x, _)| **x == *near)
            );
        }
        for k in ["client", "ratio", "keys", "statuS", "paths", "pat", ""] {
            assert_eq!(r.role(k.as_bytes()), None, "{k}");
        }
    }

    #[test]
    fn configured_last_number_for_gunicorn() {
        let mut rr = RequestReader::builtin().unwrap();
        rr.add_latency_field("@last", Unit::Us);
        let q = rr.read(br#"10.0.0.1 - - [10/Jan/2025:06:01:14 +0000] "GET /x HTTP/1.1" 200 12 "-" "curl/8" 12840"#, false).unwrap();
        assert_eq!(q.latency, Latency::Ms(12.84));
    }

    #[test]
    fn not_requests() {
        assert!(
            read("2025-01-10 06:00:01,444 - app - INFO - cache hit ratio=0.93 keys=12").is_none()
        );
        assert!(read("plain text").is_none());
    }
}
