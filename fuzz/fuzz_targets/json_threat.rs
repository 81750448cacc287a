//! Any bytes, any chunking: the streaming JSON scanner never panics, gives
//! the same answer however the body is split, and agrees with serde_json on
//! what is JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_inspect::json::{JsonError, JsonLimits, JsonScanner, scan};

fuzz_target!(|data: &[u8]| {
    let whole = scan(data, JsonLimits::default());
    let split = data.first().map_or(0, |b| usize::from(*b)) % (data.len() + 1);
    let mut scanner = JsonScanner::new(JsonLimits::default());
    let chunked = scanner.feed(&data[..split]).and_then(|()| scanner.feed(&data[split..])).and_then(|()| scanner.finish());
    assert_eq!(whole, chunked, "chunking changed the verdict");

    // Differential: with only syntax checked, we accept exactly what serde_json's
    // grammar accepts (IgnoredAny checks the grammar without converting numbers,
    // so 5e322 is JSON here as in RFC 8259), below its recursion limit of 128.
    let syntax = scan(data, JsonLimits { max_depth: 100, ..JsonLimits::syntax_only() });
    let reference = serde_json::from_slice::<serde::de::IgnoredAny>(data);
    match (&syntax, &reference) {
        (Ok(()), Err(e)) => panic!("accepted what serde_json refuses: {e}"),
        // (IgnoredAny skips string bytes without checking UTF-8, so only syntax is compared.)
        (Err(JsonError::Syntax), Ok(_)) => panic!("refused what serde_json accepts"),
        _ => {}
    }
});
