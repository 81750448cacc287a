//! Any upstream body: response masking never panics, refuses only what is
//! not JSON, and what it writes is JSON again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_inspect::{MaskAction, MaskRules};
use regex::Regex;
use serde::de::IgnoredAny;

fn is_json(text: &str) -> bool {
    serde_json::from_str::<IgnoredAny>(text).is_ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else { return };
    let Ok(body) = std::str::from_utf8(body) else { return };
    let rules = MaskRules {
        fields: vec!["a".into(), "password".into()],
        pointers: vec!["/0".into(), "/b/1".into()],
        patterns: if choice & 2 == 0 { vec![Regex::new(r"\d{3}").unwrap()] } else { Vec::new() },
        action: if choice & 1 == 0 { MaskAction::Mask } else { MaskAction::Remove },
    };
    match rules.apply(body) {
        Ok(Some(out)) => {
            assert!(is_json(body), "accepted what is not JSON: {body:?}");
            assert!(is_json(&out), "wrote what is not JSON: {body:?} -> {out:?}");
        }
        Ok(None) => assert!(is_json(body), "accepted what is not JSON: {body:?}"),
        Err(_) => {}
    }
});
