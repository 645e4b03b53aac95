//! Timestamp parsers and platform-prefix stripping on arbitrary bytes: no panic, consumed
//! lengths within the input, and one line in, one line counted.
#![no_main]

use faultline::framing::{frame_chunk, Limits, Record, TimeParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut tp = TimeParser::new();
    if let Some((_, n)) = tp.parse_iso(data) {
        assert!(n <= data.len());
    }
    if let Some((_, n)) = tp.parse_clf(data) {
        assert!(n <= data.len());
    }
    if let Some((_, n)) = tp.parse_syslog(data, 2025) {
        assert!(n <= data.len());
    }
    let _ = tp.parse_json_value(data);
    // One line (newlines removed) through prefix stripping and line classification.
    let line: Vec<u8> = data.iter().copied().filter(|&c| c != b'\n').collect();
    let mut records = 0;
    let out = frame_chunk(&line, &[], &Limits::default(), &mut |_: &Record<'_>| {
        records += 1
    });
    assert_eq!(out.stats.lines, u64::from(!line.is_empty()));
});
