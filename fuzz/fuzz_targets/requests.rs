//! Request-line extraction and classification on arbitrary lines: no panic, and a latency,
//! when read, is a finite non-negative number of milliseconds.
#![no_main]

use std::sync::OnceLock;

use faultline::classify::{Catalog, Classifier};
use faultline::extract::{Latency, RequestReader};
use libfuzzer_sys::fuzz_target;

fn tools() -> &'static (RequestReader, Classifier) {
    static T: OnceLock<(RequestReader, Classifier)> = OnceLock::new();
    T.get_or_init(|| {
        (
            RequestReader::builtin().unwrap(),
            Classifier::new(Catalog::builtin().unwrap()),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (reader, classifier) = tools();
    for line in data.split(|&c| c == b'\n') {
        let json = line.first() == Some(&b'{');
        if let Some(q) = reader.read(line, json) {
            if let Latency::Ms(v) = q.latency {
                assert!(v.is_finite() && v >= 0.0, "{v}");
            }
        }
    }
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let _ = classifier.classify_record(&lines, true);
    let _ = classifier.prefilter(data);
});
