//! Record framing: arbitrary text framed whole and framed in two chunks stitched together
//! must give the same records (the property the parallel scan relies on), and every line
//! must be counted.
#![no_main]

use faultline::framing::{expand_json, frame_chunk, Limits, Record, Stitcher};
use libfuzzer_sys::fuzz_target;

fn frame(parts: &[&[u8]], limits: &Limits) -> (Vec<String>, u64) {
    let mut recs = Vec::new();
    let mut sink = |r: &Record<'_>| {
        if r.json {
            let _ = expand_json(r.lines[0].text);
        }
        let text: Vec<String> = r
            .lines
            .iter()
            .map(|l| String::from_utf8_lossy(l.text).into_owned())
            .collect();
        recs.push(format!(
            "{}|{:?}|{}|{}",
            String::from_utf8_lossy(r.stream),
            r.time,
            r.traceback,
            text.join("\n")
        ));
    };
    let mut st = Stitcher::new();
    for p in parts {
        let out = frame_chunk(p, &[], limits, &mut sink);
        st.absorb(out, limits, &mut sink);
    }
    let stats = st.finish(&mut sink);
    recs.sort();
    (recs, stats.lines)
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    // Small limits so that the cuts are reached too.
    let mut limits = Limits::default();
    limits.max_line_len = 64 + usize::from(data[0]);
    limits.max_record_lines = 3 + usize::from(data[0] % 16);
    let text = &data[1..];
    let (whole, lines) = frame(&[text], &limits);
    let expected = text.iter().filter(|&&c| c == b'\n').count() as u64
        + u64::from(text.last().is_some_and(|&c| c != b'\n'));
    assert_eq!(lines, expected);
    // Split after a newline chosen by the first byte.
    let newlines: Vec<usize> = text
        .iter()
        .enumerate()
        .filter(|(_, &c)| c == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    if !newlines.is_empty() {
        let cut = newlines[usize::from(data[0]) % newlines.len()];
        let (split, lines2) = frame(&[&text[..cut], &text[cut..]], &limits);
        assert_eq!(lines2, lines);
        assert_eq!(split, whole);
    }
});
