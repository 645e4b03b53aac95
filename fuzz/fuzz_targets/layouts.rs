//! Container layouts (Docker json-file, CRI partials, compose, journald): arbitrary bytes
//! unwrapped whole and fed in two blocks give the same canonical lines, joined lines stay
//! within the line limit, and the result frames without a panic.
#![no_main]

use faultline::framing::{detect, frame_chunk, Layout, Limits, Record, Unwrapper, YearHint};
use libfuzzer_sys::fuzz_target;

const LAYOUTS: [Layout; 5] = [
    Layout::Text,
    Layout::Docker,
    Layout::Cri,
    Layout::Compose,
    Layout::Journald,
];

fn unwrap(layout: Layout, parts: &[&[u8]], max_line: usize) -> Vec<u8> {
    let mut u = Unwrapper::new(layout, None, YearHint::default(), max_line);
    let mut out = Vec::new();
    for p in parts {
        u.feed(p, &mut out);
    }
    u.finish(&mut out);
    assert!(u.stats.emitted >= u.stats.lines - u.stats.joined || u.stats.lines == 0);
    out
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let _ = detect(data);
    let layout = LAYOUTS[usize::from(data[0]) % LAYOUTS.len()];
    let max_line = 32 + usize::from(data[0]);
    let text = &data[1..];
    let whole = unwrap(layout, &[text], max_line);
    if let Some(nl) = text.iter().position(|&c| c == b'\n') {
        let split = unwrap(layout, &[&text[..=nl], &text[nl + 1..]], max_line);
        assert_eq!(split, whole);
    }
    let _ = frame_chunk(&whole, &[], &Limits::default(), &mut |_: &Record<'_>| {});
});
