//! Endpoints: a request's method and path as the key its latency is grouped under.

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
    let end = super::request::find2(path, 0, b'?', b'#');
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
pub(crate) mod tests {
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
    pub(crate) fn reference_key(method: &[u8], path: &[u8]) -> Vec<u8> {
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
        let path = &path[..end];
        // An absolute URL keeps its path (`/` when it has none); a path (`/a/http://b`) is
        // not an absolute URL.
        let scheme = path.windows(3).position(|w| w == b"://");
        let path = match scheme.filter(|_| path.first() != Some(&b'/')) {
            None => path,
            Some(i) => match path[i + 3..].iter().position(|c| *c == b'/') {
                Some(j) => &path[i + 3 + j..],
                None => b"/",
            },
        };
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
}
