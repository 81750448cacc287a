//! Any bytes: the XML checker never panics, never accepts a DTD, and never
//! accepts what is not UTF-8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_inspect::xml::{XmlLimits, scan};

fuzz_target!(|data: &[u8]| {
    if scan(data, &XmlLimits::default()).is_ok() {
        assert!(!data.windows(9).any(|w| w.eq_ignore_ascii_case(b"<!DOCTYPE")), "accepted a DTD");
    }
    if scan(data, &XmlLimits::syntax_only()).is_ok() {
        assert!(std::str::from_utf8(data).is_ok(), "accepted bytes that are not UTF-8");
    }
});
