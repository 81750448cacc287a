//! Any body: multipart splitting never panics, every part lies inside the
//! body, and the form fields are the same parts, named.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use portcullis_inspect::multipart::{boundary, fields, parts};

fuzz_target!(|data: &[u8]| {
    let Some((header, body)) = data.iter().position(|&b| b == b'\n').map(|i| data.split_at(i)) else { return };
    let Ok(header) = std::str::from_utf8(header) else { return };
    let body = Bytes::copy_from_slice(body);
    let Some(b) = boundary(header) else { return };
    let found = parts(&body, b);
    if let Some(found) = &found {
        let total: usize = found.iter().map(Bytes::len).sum();
        assert!(total <= body.len());
    }
    if let Some(named) = fields(&body, b) {
        let contents: Vec<&[u8]> = named.iter().map(|f| f.content).collect();
        let parts: Vec<&[u8]> =
            found.as_ref().expect("fields of a body that does not split").iter().map(|p| &p[..]).collect();
        assert_eq!(contents, parts);
    }
});
