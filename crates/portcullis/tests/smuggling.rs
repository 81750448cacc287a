//! Request smuggling and malformed framing, sent as raw bytes: each shape is
//! refused with 400, the connection is closed, and the upstream never sees a
//! second, desynchronized request.

mod common;

use std::time::Duration;

use common::{BIN, CATCH_ALL, Gateway, TestUpstream, config, raw};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A request smuggled in the body of the first; it must never reach the upstream.
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: api.test\r\n\r\n";

/// Sends `request` and returns the one status answered; asserts the
/// connection was closed after it and the smuggled request went nowhere.
async fn one_answer_then_close(gw: &Gateway, upstream: &TestUpstream, request: &str) -> u16 {
    let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let bytes = raw::read_all(&mut stream, Duration::from_secs(3)).await;
    let responses = raw::parse_responses(&bytes);
    assert_eq!(responses.len(), 1, "exactly one answer, then close: {}", String::from_utf8_lossy(&bytes));
    assert!(
        upstream.seen().iter().all(|s| s.target != "/smuggled"),
        "the smuggled request reached the upstream: {request:?}"
    );
    responses[0].status
}

async fn assert_refused_and_closed(gw: &Gateway, upstream: &TestUpstream, request: String) {
    assert_eq!(one_answer_then_close(gw, upstream, &request).await, 400, "{request:?}");
}

/// hyper's parser resolves Content-Length + Transfer-Encoding itself (RFC 9112
/// §6.3: chunked wins, and the connection is closed after the answer) before
/// the gateway sees the head. What must hold is that nothing desynchronizes:
/// one answer, the connection closed, the smuggled request nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_with_transfer_encoding_cannot_smuggle() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, CATCH_ALL));
    let body = format!("0\r\n\r\n{SMUGGLED}");
    for (first, second) in
        [("Content-Length: 47", "Transfer-Encoding: chunked"), ("Transfer-Encoding: chunked", "Content-Length: 47")]
    {
        let req = format!("POST / HTTP/1.1\r\nHost: api.test\r\n{first}\r\n{second}\r\n\r\n{body}");
        let status = one_answer_then_close(&gw, &upstream, &req).await;
        assert!(status == 400 || status == 200, "{status}");
    }
    for seen in upstream.seen() {
        assert!(seen.body.is_empty(), "the upstream got the smuggled bytes as a body: {:?}", seen.body);
        assert!(seen.headers.get("content-length").is_none_or(|v| v == "0"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_invalid_content_length_are_refused() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, CATCH_ALL));
    for cl in [
        "Content-Length: 4\r\nContent-Length: 50",
        "Content-Length: +4",
        "Content-Length: 4, 5",
        "Content-Length: 0x4",
        "Content-Length: -4",
    ] {
        let req = format!("POST / HTTP/1.1\r\nHost: api.test\r\n{cl}\r\n\r\nbody{SMUGGLED}");
        assert_refused_and_closed(&gw, &upstream, req).await;
    }
    assert_eq!(upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_transfer_encodings_are_refused() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, CATCH_ALL));
    for te in [
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity",
        "Transfer-Encoding: xchunked",
        "Transfer-Encoding : chunked",
    ] {
        let req = format!("POST / HTTP/1.1\r\nHost: api.test\r\n{te}\r\n\r\n0\r\n\r\n{SMUGGLED}");
        assert_refused_and_closed(&gw, &upstream, req).await;
    }
    assert_eq!(upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obs_folded_headers_are_refused() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, CATCH_ALL));
    let req = format!("GET / HTTP/1.1\r\nHost: api.test\r\nX-Folded: a\r\n b\r\n\r\n{SMUGGLED}");
    assert_refused_and_closed(&gw, &upstream, req).await;
    assert_eq!(upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_chunk_sizes_close_the_connection() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, CATCH_ALL));
    for chunk in ["zz\r\nabc\r\n0\r\n\r\n", "-1\r\nabc\r\n0\r\n\r\n", "fffffffffffffffffff\r\nabc\r\n0\r\n\r\n"] {
        let req =
            format!("POST /upload HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{SMUGGLED}");
        let mut stream = TcpStream::connect(gw.addr()).await.unwrap();
        stream.write_all(req.as_bytes()).await.unwrap();
        let bytes = raw::read_all(&mut stream, Duration::from_secs(3)).await;
        let responses = raw::parse_responses(&bytes);
        assert!(responses.len() <= 1, "{}", String::from_utf8_lossy(&bytes));
        if let Some(first) = responses.first() {
            assert_eq!(first.status, 400, "{chunk:?}");
        }
        assert!(upstream.seen().iter().all(|s| s.target != "/smuggled"), "{chunk:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_header_attacks_are_refused() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, CATCH_ALL));
    for host in ["Host: a.test\r\nHost: b.test", "Host: a.test:99999", "Host: evil.test/x", "Host: user@a.test"] {
        let req = format!("GET / HTTP/1.1\r\n{host}\r\n\r\n{SMUGGLED}");
        assert_refused_and_closed(&gw, &upstream, req).await;
    }
    let absolute = format!("GET http://a.test/ HTTP/1.1\r\nHost: b.test\r\n\r\n{SMUGGLED}");
    assert_refused_and_closed(&gw, &upstream, absolute).await;
    let missing = format!("GET / HTTP/1.1\r\n\r\n{SMUGGLED}");
    assert_refused_and_closed(&gw, &upstream, missing).await;
    assert_eq!(upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_heads_are_refused() {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream, CATCH_ALL);
    cfg.push_str("limits:\n  max_uri: 1KiB\n  max_header_bytes: 8KiB\n  max_headers: 20\n");
    let gw = Gateway::start(BIN, &cfg);
    let long_uri = format!("/{}", "a".repeat(2000));
    assert_eq!(raw::get(gw.addr(), "api.test", &long_uri).await.status, 414);
    let many: String = (0..30).map(|i| format!("X-H{i}: v\r\n")).collect();
    let resp =
        raw::request(gw.addr(), &format!("GET / HTTP/1.1\r\nHost: api.test\r\n{many}Connection: close\r\n\r\n")).await;
    assert_eq!(resp.status, 431);
    let huge = format!("X-Big: {}\r\n", "b".repeat(10_000));
    let resp =
        raw::request(gw.addr(), &format!("GET / HTTP/1.1\r\nHost: api.test\r\n{huge}Connection: close\r\n\r\n")).await;
    assert_eq!(resp.status, 431);
    assert_eq!(upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream, CATCH_ALL);
    cfg.push_str("limits:\n  header_read_timeout: 1s\n  idle_timeout: 1s\n");
    let gw = Gateway::start(BIN, &cfg);
    // Slowloris: a head that never ends.
    let mut slow = TcpStream::connect(gw.addr()).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: api.test\r\nX-A: 1\r\n").await.unwrap();
    assert!(raw::closed_within(&mut slow, Duration::from_secs(4)).await, "slow head not cut off");
    // An idle keep-alive connection.
    let mut idle = TcpStream::connect(gw.addr()).await.unwrap();
    assert!(raw::closed_within(&mut idle, Duration::from_secs(4)).await, "idle connection kept open");
}
