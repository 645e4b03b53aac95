//! The order of the prefilter's literals, chosen for the SIMD search (Teddy).
//!
//! Teddy puts the literals into 16 buckets (8 for 32 literals or fewer) by their order: the
//! `i`-th literal with a new low-nybble prefix goes to bucket `15 - i % 16`. Each bucket
//! searches for the union of its literals' nybbles at the first four positions, so a bucket
//! of unlike literals (`Timeout` with `onnect`) fires on far more bytes than a bucket of alike
//! ones, and every false candidate is verified. Choosing which literals share a bucket, and
//! then listing them in the order that puts them there, is the one lever a caller has: in
//! catalog order the prefilter's time doubled or not with small changes to the catalog.

/// Where a literal stands in Teddy's fingerprint: the bytes it is told apart by.
const MASK: usize = 4;

/// How often a byte is seen in log text, roughly (a weight, not a probability): space and
/// the commonest letters first, uppercase and rare punctuation last.
fn weight(b: u8) -> f64 {
    match b {
        b' ' => 15.0,
        b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' => 6.0,
        b'h' | b'l' | b'd' | b'c' | b'u' | b'm' | b'p' | b'g' => 3.0,
        b'a'..=b'z' => 1.0,
        b'0'..=b'9' => 1.5,
        b'.' | b',' | b':' | b'-' | b'/' | b'=' | b'_' | b'"' => 1.5,
        b'A'..=b'Z' => 0.4,
        b'\n' | b'\t' | b'\'' | b'(' | b')' | b'[' | b']' | b'{' | b'}' => 0.5,
        _ => 0.05,
    }
}

/// A bucket's fingerprint: the low and high nybbles its literals have at each position.
#[derive(Clone, Copy, Default)]
struct Print {
    lo: [u16; MASK],
    hi: [u16; MASK],
}

impl Print {
    fn with(mut self, lit: &[u8], m: usize) -> Print {
        for (i, &b) in lit.iter().take(m).enumerate() {
            self.lo[i] |= 1 << (b & 0xf);
            self.hi[i] |= 1 << (b >> 4);
        }
        self
    }

    /// The share of positions in text where the bucket fires (before verification).
    fn cost(&self, m: usize, table: &[f64; 256]) -> f64 {
        if self.lo[0] == 0 {
            return 0.0;
        }
        (0..m)
            .map(|i| {
                (0..=255u8)
                    .filter(|b| self.lo[i] >> (b & 0xf) & 1 == 1 && self.hi[i] >> (b >> 4) & 1 == 1)
                    .map(|b| table[usize::from(b)])
                    .sum::<f64>()
            })
            .product()
    }
}

/// Orders `lits` (the first stays first) so that Teddy's buckets hold alike literals.
/// Deterministic: the same literals give the same order.
pub(crate) fn order<'a>(lits: &[&'a str]) -> Vec<&'a str> {
    let buckets = if lits.len() > 32 { 16 } else { 8 };
    let m = lits
        .iter()
        .map(|l| l.len())
        .min()
        .unwrap_or(1)
        .clamp(1, MASK);
    let total: f64 = (0..=255u8).map(weight).sum();
    let mut table = [0.0; 256];
    for b in 0..=255u8 {
        table[usize::from(b)] = weight(b) / total;
    }
    let prefix = |l: &str| -> Vec<u8> { l.bytes().take(m).map(|b| b & 0xf).collect() };
    // Literals whose low-nybble prefix another one already has go where that one goes, and
    // need no place of their own: they are listed last.
    let mut fresh: Vec<&str> = Vec::new();
    let mut twins: Vec<&str> = Vec::new();
    for l in lits {
        if fresh.iter().any(|f| prefix(f) == prefix(l)) {
            twins.push(l);
        } else {
            fresh.push(l);
        }
    }
    let n = fresh.len();
    // Bucket `b` takes the literals at positions `i` with `buckets - 1 - i % buckets == b`.
    let capacity = |b: usize| {
        let r = buckets - 1 - b;
        n / buckets + usize::from(r < n % buckets)
    };
    let mut members: Vec<Vec<&str>> = vec![Vec::new(); buckets];
    let mut prints = vec![Print::default(); buckets];
    members[buckets - 1].push(fresh[0]);
    prints[buckets - 1] = prints[buckets - 1].with(fresh[0].as_bytes(), m);
    // The most distinctive literals (cheapest alone) are placed last, where the choice of
    // bucket matters least.
    let mut rest: Vec<&str> = fresh[1..].to_vec();
    rest.sort_by(|a, b| {
        let ca = Print::default().with(a.as_bytes(), m).cost(m, &table);
        let cb = Print::default().with(b.as_bytes(), m).cost(m, &table);
        cb.total_cmp(&ca).then(a.cmp(b))
    });
    for l in rest {
        let best = (0..buckets)
            .filter(|&b| members[b].len() < capacity(b))
            .min_by(|&x, &y| {
                let dx =
                    prints[x].with(l.as_bytes(), m).cost(m, &table) - prints[x].cost(m, &table);
                let dy =
                    prints[y].with(l.as_bytes(), m).cost(m, &table) - prints[y].cost(m, &table);
                dx.total_cmp(&dy).then(x.cmp(&y))
            })
            .expect("capacities add up to the literals");
        prints[best] = prints[best].with(l.as_bytes(), m);
        members[best].push(l);
    }
    let mut out = Vec::with_capacity(lits.len());
    for i in 0..n {
        let b = buckets - 1 - i % buckets;
        out.push(members[b][i / buckets]);
    }
    out.extend(twins);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_and_every_literal() {
        let lits: Vec<String> = (0..50).map(|i| format!("lit{i:03}x")).collect();
        let mut refs: Vec<&str> = lits.iter().map(String::as_str).collect();
        refs.insert(0, "Traceback (most recent call last)");
        let out = order(&refs);
        assert_eq!(out[0], refs[0]);
        let mut a = out.clone();
        let mut b = refs.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        assert_eq!(order(&refs), out, "deterministic");
    }
}
