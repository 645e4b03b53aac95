//! Request rows, stored column by column, and the endpoint key.
//!
//! A request costs 22 bytes here: time (i64), endpoint id (u32), status (u16), latency (f64).
//! Endpoint names are interned per summary and remapped when summaries merge.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::framing::Nanos;

/// `i64::MIN` marks a request without a time in [`RequestBlock::time`].
pub const NO_TIME: i64 = i64::MIN;

/// Blocks with fewer rows are appended to the block before them when summaries are
/// concatenated (a small chunk's or a chunk boundary's few rows), so the blocks stay few and
/// large.
const SMALL_BLOCK: usize = 1 << 14;

/// A block of request columns.
#[derive(Debug, Default, Clone)]
pub struct RequestBlock {
    /// Nanoseconds since the epoch, or [`NO_TIME`].
    pub time: Vec<i64>,
    /// Index into [`RequestRows::endpoints`].
    pub endpoint: Vec<u32>,
    /// HTTP status.
    pub status: Vec<u16>,
    /// Milliseconds, NaN when missing or unparsed.
    pub latency: Vec<f64>,
}

impl RequestBlock {
    /// Number of requests.
    pub fn len(&self) -> usize {
        self.time.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// Renumbers the endpoint ids: `remap[old]` is the new id.
    fn renumber(&mut self, remap: &[u32]) {
        for e in &mut self.endpoint {
            *e = remap[*e as usize];
        }
    }

    fn with_capacity(n: usize) -> RequestBlock {
        RequestBlock {
            time: Vec::with_capacity(n),
            endpoint: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            latency: Vec::with_capacity(n),
        }
    }

    fn append(&mut self, o: &RequestBlock) {
        self.time.extend_from_slice(&o.time);
        self.endpoint.extend_from_slice(&o.endpoint);
        self.status.extend_from_slice(&o.status);
        self.latency.extend_from_slice(&o.latency);
    }
}

/// Request columns, block after block in input order.
///
/// A chunk's rows stay in the block its worker wrote: concatenating the chunks' summaries
/// moves blocks and renumbers endpoint ids in place, and the polars frame takes the blocks as
/// its columns' chunks. Copying the 4.9 M rows of a 1 GiB log into one set of
/// columns took 35-55 ms on two cores, most of it faulting in 108 MB of fresh pages, then
/// unmapping the blocks (a full run: 1.14 s -> 1.06 s, medians of 9).
#[derive(Debug, Default, Clone)]
pub struct RequestRows {
    /// The blocks; `push` appends to the last.
    pub blocks: Vec<RequestBlock>,
    /// Endpoint names, `METHOD /path/{id}`.
    pub endpoints: Vec<String>,
    // FxHash: SipHash of the keys was 3% of a one-thread run (perf, 200 MB log).
    index: FxHashMap<Vec<u8>, u32>,
    scratch: Vec<u8>,
    /// Requests whose latency field had no unit and no configured unit (or was not a number).
    pub unparsed_latency: u64,
    /// Requests without a latency field.
    pub missing_latency: u64,
    /// Rows the first block is made room for (see [`RequestRows::expect`]).
    expected: usize,
}

impl RequestRows {
    /// Makes room for `rows` requests in the first block, when the first request comes: a
    /// chunk's columns then do not grow by doubling. Growing them, `realloc` copied each
    /// into fresh pages: those copies were 23% of the page faults of a 1 GiB log (`perf
    /// record -e page-faults`). With the room made up front the rows are written once: the
    /// scan's page faults 53.6 k -> 50.0 k (~1.7 us each on this VM), and no copies. Room
    /// that is not used is never touched, so it costs address space, not memory.
    pub fn expect(&mut self, rows: usize) {
        self.expected = rows;
    }

    /// Adds one request.
    pub fn push(
        &mut self,
        t: Option<Nanos>,
        method: &[u8],
        path: &[u8],
        status: u16,
        latency: Option<f64>,
    ) {
        endpoint_key(method, path, &mut self.scratch);
        let id = match self.index.get(self.scratch.as_slice()) {
            Some(&id) => id,
            None => {
                let id = self.endpoints.len() as u32;
                self.endpoints
                    .push(String::from_utf8_lossy(&self.scratch).into_owned());
                self.index.insert(self.scratch.clone(), id);
                id
            }
        };
        if self.blocks.is_empty() {
            self.blocks.push(RequestBlock::with_capacity(self.expected));
        }
        let b = self.blocks.last_mut().expect("one block at least");
        b.time.push(t.unwrap_or(NO_TIME));
        b.endpoint.push(id);
        b.status.push(status);
        b.latency.push(latency.unwrap_or(f64::NAN));
    }

    /// Number of requests.
    pub fn len(&self) -> usize {
        self.blocks.iter().map(RequestBlock::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.blocks.iter().all(RequestBlock::is_empty)
    }

    /// Appends `o`, remapping its endpoint ids: into an empty summary its blocks move, else
    /// its rows are copied onto the end of the last block (a stream merges one block's rows
    /// at a time: they grow one set of columns in place, as they would be read into one).
    pub fn merge(&mut self, mut o: RequestRows) {
        if self.is_empty() && self.endpoints.is_empty() {
            RequestRows::concat_into(self, vec![o]);
            return;
        }
        let remap: Vec<u32> = o.endpoints.iter().map(|name| self.intern(name)).collect();
        self.unparsed_latency += o.unparsed_latency;
        self.missing_latency += o.missing_latency;
        for b in &mut o.blocks {
            b.renumber(&remap);
            match self.blocks.last_mut() {
                Some(last) => last.append(b),
                None => self.blocks.push(std::mem::take(b)),
            }
        }
    }

    /// Concatenates `parts` in order, remapping endpoint ids, as successive [`merge`]s would.
    ///
    /// [`merge`]: RequestRows::merge
    pub fn concat(parts: Vec<RequestRows>) -> RequestRows {
        let mut out = RequestRows::default();
        RequestRows::concat_into(&mut out, parts);
        out
    }

    /// Appends `parts` to `out`: endpoint ids renumbered in place (in parallel), blocks moved;
    /// a small block is copied onto the end of the block before it.
    fn concat_into(out: &mut RequestRows, mut parts: Vec<RequestRows>) {
        let remaps: Vec<Vec<u32>> = parts
            .iter()
            .map(|p| {
                out.unparsed_latency += p.unparsed_latency;
                out.missing_latency += p.missing_latency;
                p.endpoints.iter().map(|name| out.intern(name)).collect()
            })
            .collect();
        parts
            .par_iter_mut()
            .zip(remaps.par_iter())
            .filter(|(_, remap)| remap.iter().enumerate().any(|(i, &j)| i as u32 != j))
            .for_each(|(p, remap)| p.blocks.iter_mut().for_each(|b| b.renumber(remap)));
        for p in parts {
            for b in p.blocks {
                match out.blocks.last_mut() {
                    _ if b.is_empty() => {}
                    Some(last) if b.len() < SMALL_BLOCK => last.append(&b),
                    _ => out.blocks.push(b),
                }
            }
        }
    }

    fn intern(&mut self, name: &str) -> u32 {
        match self.index.get(name.as_bytes()) {
            Some(&id) => id,
            None => {
                let id = self.endpoints.len() as u32;
                self.endpoints.push(name.to_string());
                self.index.insert(name.as_bytes().to_vec(), id);
                id
            }
        }
    }
}

/// Character classes of path bytes, for [`endpoint_key`]'s one pass.
const DIGIT: u8 = 1;
/// `a-f`, `A-F`.
const HEX: u8 = 2;
/// Other ASCII letters.
const ALPHA: u8 = 4;
/// `-`, `_`, `=`, `+`.
const TOKEN: u8 = 8;
const OTHER: u8 = 16;

static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'0'..=b'9' => DIGIT,
            b'a'..=b'f' | b'A'..=b'F' => HEX,
            b'g'..=b'z' | b'G'..=b'Z' => ALPHA,
            b'-' | b'_' | b'=' | b'+' => TOKEN,
            _ => OTHER,
        };
        c += 1;
    }
    t
};

/// Writes `METHOD /path` into `out`: the query string and fragment dropped, and id-like
/// segments replaced by `{id}`: all digits, a UUID, hex of 8 or more characters, or a
/// base64/base64url-like token of 16 or more characters that mixes letters and digits.
///
/// One pass over the path collects each segment's character classes in a bit set, so a
/// segment is judged without reading it again: this took the function from 8-10% of a
/// one-thread run (per-segment `all`/`any` scans, `split`, a `memmem` for `://` on every
/// path) to about 3% (perf, 100 MiB of `genlog.py` output).
pub fn endpoint_key(method: &[u8], path: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(method);
    out.push(b' ');
    let end = crate::classify::request::find2(path, 0, b'?', b'#');
    let mut path = &path[..end];
    // Absolute URLs (`http://host/x`) keep only the path.
    if path.first() != Some(&b'/') {
        if let Some(i) = memchr::memmem::find(path, b"://") {
            let rest = &path[i + 3..];
            path = rest
                .iter()
                .position(|c| *c == b'/')
                .map_or(&b"/"[..], |j| &rest[j..]);
        }
    }
    if path.is_empty() {
        out.push(b'/');
        return;
    }
    // The path is copied in runs between id segments, not segment by segment (a `memmove`
    // call per short segment was a third of this function, perf).
    let (mut start, mut flags, mut copied) = (0, 0u8, 0);
    for (i, &c) in path.iter().enumerate() {
        if c == b'/' {
            if is_id(&path[start..i], flags) {
                out.extend_from_slice(&path[copied..start]);
                out.extend_from_slice(b"{id}");
                copied = i;
            }
            (start, flags) = (i + 1, 0);
        } else {
            flags |= CLASS[usize::from(c)];
        }
    }
    if is_id(&path[start..], flags) {
        out.extend_from_slice(&path[copied..start]);
        out.extend_from_slice(b"{id}");
        copied = path.len();
    }
    out.extend_from_slice(&path[copied..]);
}

/// Whether a segment with these character classes is an id.
fn is_id(seg: &[u8], flags: u8) -> bool {
    let n = seg.len();
    if n == 0 {
        return false;
    }
    let has_digit = flags & DIGIT != 0;
    if flags == DIGIT {
        return true;
    }
    if n == 36 && flags & (OTHER | ALPHA) == 0 && is_uuid(seg) {
        return true;
    }
    if n >= 8 && flags & !(DIGIT | HEX) == 0 && has_digit {
        return true;
    }
    n >= 16 && flags & OTHER == 0 && has_digit && flags & (HEX | ALPHA) != 0
}

fn is_uuid(seg: &[u8]) -> bool {
    seg.iter().enumerate().all(|(i, c)| {
        if matches!(i, 8 | 13 | 18 | 23) {
            *c == b'-'
        } else {
            c.is_ascii_hexdigit()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(m: &str, p: &str) -> String {
        let mut out = Vec::new();
        endpoint_key(m.as_bytes(), p.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ids_and_queries() {
        assert_eq!(key("GET", "/api/v1/trips/86925"), "GET /api/v1/trips/{id}");
        assert_eq!(
            key("GET", "/api/v1/users/123/profile?x=1"),
            "GET /api/v1/users/{id}/profile"
        );
        assert_eq!(
            key("GET", "/o/123e4567-e89b-12d3-a456-426614174000"),
            "GET /o/{id}"
        );
        assert_eq!(key("GET", "/c/3f2a9c1e8b7d"), "GET /c/{id}");
        assert_eq!(key("GET", "/t/aGVsbG8gd29ybGQ1MjM0NTY"), "GET /t/{id}");
        assert_eq!(
            key("GET", "/api/v1/observability/status"),
            "GET /api/v1/observability/status"
        );
        assert_eq!(key("GET", "/api/v2/health"), "GET /api/v2/health");
        assert_eq!(
            key("GET", "/deadbeefcafe"),
            "GET /deadbeefcafe",
            "hex needs a digit"
        );
        assert_eq!(key("GET", "https://api.example.com/x/42"), "GET /x/{id}");
        assert_eq!(key("GET", ""), "GET /");
        assert_eq!(key("GET", "/r/http://x/1"), "GET /r/http://x/{id}");
    }

    /// The rules of [`endpoint_key`] written plainly, segment by segment.
    fn reference_key(method: &[u8], path: &[u8]) -> Vec<u8> {
        fn is_id(seg: &[u8]) -> bool {
            if seg.is_empty() {
                return false;
            }
            if seg.iter().all(u8::is_ascii_digit) || (seg.len() == 36 && is_uuid(seg)) {
                return true;
            }
            if seg.len() >= 8
                && seg.iter().all(u8::is_ascii_hexdigit)
                && seg.iter().any(u8::is_ascii_digit)
            {
                return true;
            }
            seg.len() >= 16
                && seg
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'=' | b'+'))
                && seg.iter().any(u8::is_ascii_digit)
                && seg.iter().any(u8::is_ascii_alphabetic)
        }
        let mut out = method.to_vec();
        out.push(b' ');
        let end = path
            .iter()
            .position(|c| *c == b'?' || *c == b'#')
            .unwrap_or(path.len());
        let mut path = &path[..end];
        // A path (`/a/http://b`) is not an absolute URL.
        if let (false, Some(i)) = (path.starts_with(b"/"), memchr::memmem::find(path, b"://")) {
            let rest = &path[i + 3..];
            path = rest
                .iter()
                .position(|c| *c == b'/')
                .map_or(&b"/"[..], |j| &rest[j..]);
        }
        if path.is_empty() {
            out.push(b'/');
            return out;
        }
        let segs: Vec<Vec<u8>> = path
            .split(|c| *c == b'/')
            .map(|s| {
                if is_id(s) {
                    b"{id}".to_vec()
                } else {
                    s.to_vec()
                }
            })
            .collect();
        out.extend_from_slice(&segs.join(&b'/'));
        out
    }

    proptest::proptest! {
        #[test]
        fn one_pass_key_equals_reference(
            path in "(/?([0-9a-fA-F]{1,40}|[a-zA-Z0-9_=+-]{1,24}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z:.]{0,6}|\\PC{0,4})){0,6}(\\?[a-z=&0-9/]{0,8})?"
        ) {
            let mut out = Vec::new();
            endpoint_key(b"GET", path.as_bytes(), &mut out);
            proptest::prop_assert_eq!(out, reference_key(b"GET", path.as_bytes()));
        }
    }

    #[test]
    fn merge_remaps_endpoints() {
        let mut a = RequestRows::default();
        a.push(Some(1), b"GET", b"/a", 200, Some(1.0));
        let mut b = RequestRows::default();
        b.push(Some(2), b"GET", b"/b", 500, None);
        b.push(Some(3), b"GET", b"/a", 200, Some(2.0));
        a.merge(b);
        assert_eq!(a.endpoints, vec!["GET /a", "GET /b"]);
        let ids: Vec<u32> = a.blocks.iter().flat_map(|b| b.endpoint.clone()).collect();
        assert_eq!(ids, vec![0, 1, 0]);
        let latency: Vec<f64> = a.blocks.iter().flat_map(|b| b.latency.clone()).collect();
        assert!(latency[1].is_nan());
    }
}
