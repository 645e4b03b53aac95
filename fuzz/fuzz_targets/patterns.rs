//! Pattern-file loading: arbitrary TOML is accepted or rejected with an error, never a
//! panic, for signature files and request-layout files.
#![no_main]

use std::path::Path;

use faultline::classify::{Catalog, Classifier};
use faultline::extract::RequestReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut c = Catalog::default();
    if c.add_str(Path::new("fuzz.toml"), &text).is_ok() {
        let cl = Classifier::new(c);
        let _ = cl.classify(&["Traceback (most recent call last):", "KeyError: 'x'"]);
    }
    if let Ok(mut r) = RequestReader::builtin() {
        let _ = r.add_str(Path::new("requests.toml"), &text);
    }
});
