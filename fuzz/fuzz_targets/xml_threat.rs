//! Any bytes: the XML checker never panics and never accepts a DTD.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_inspect::xml::{XmlLimits, scan};

fuzz_target!(|data: &[u8]| {
    if scan(data, &XmlLimits::default()).is_ok() {
        assert!(!data.windows(9).any(|w| w.eq_ignore_ascii_case(b"<!DOCTYPE")), "accepted a DTD");
    }
    let _ = scan(data, &XmlLimits::syntax_only());
});
