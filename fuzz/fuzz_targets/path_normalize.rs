//! Any path: normalization never panics, is idempotent, and its output
//! never climbs or hides a separator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::normalize_path;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else { return };
    if let Ok(normal) = normalize_path(path) {
        let again = normalize_path(&normal).expect("normal form is accepted");
        assert_eq!(again, normal, "not idempotent");
        assert!(normal.starts_with('/'));
        assert!(!normal.split('/').any(|s| s == ".." || s == "."), "dot segment survived: {normal}");
        assert!(!normal.contains("//"), "empty segment survived: {normal}");
        let lower = normal.to_ascii_lowercase();
        assert!(!lower.contains("%2f") && !lower.contains("%5c") && !lower.contains('\\'), "hidden separator: {normal}");
    }
});
