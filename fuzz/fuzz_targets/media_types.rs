//! Any header value: media-type and Accept parsing never panic, and a
//! parsed type always admits itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_inspect::media::{MediaType, accepted};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(media) = MediaType::parse(text) {
        assert!(media.admits(&media) || media.kind == "*" || media.subtype.contains('*'));
    }
    for range in accepted(text) {
        let _ = range.is_json() || range.is_xml();
    }
});
