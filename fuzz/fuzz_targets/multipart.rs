//! Any body: multipart splitting never panics and every part lies inside the body.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use portcullis_inspect::multipart::{boundary, parts};

fuzz_target!(|data: &[u8]| {
    let Some((header, body)) = data.iter().position(|&b| b == b'\n').map(|i| data.split_at(i)) else { return };
    let Ok(header) = std::str::from_utf8(header) else { return };
    let body = Bytes::copy_from_slice(body);
    if let Some(b) = boundary(header)
        && let Some(found) = parts(&body, b)
    {
        let total: usize = found.iter().map(Bytes::len).sum();
        assert!(total <= body.len());
    }
});
