//! Upstream behaviour: round robin, passive health, timeouts, and failures
//! answered with generic 502/504 errors.

mod common;

use std::time::Duration;

use common::{BIN, Gateway, TestUpstream, json, raw};

/// One route to the upstream `app` with `targets` and `timeouts`; `extra`
/// goes into the upstream's entry (indented four spaces) or after it.
fn app_config(targets: &str, timeouts: &str, extra: &str) -> String {
    format!(
        "workers: 1
listeners: [{{ name: public, listen: 127.0.0.1:0 }}]
upstream_allowlist: [127.0.0.1]
upstreams:
  - name: app
    targets: [{targets}]
    timeouts: {{ {timeouts} }}
{extra}routes: [{{ name: all, prefix: /, upstream: app }}]
access_log: {{ path: '{{dir}}/access.log' }}
"
    )
}

fn two_target_config(a: &TestUpstream, b_url: &str, extra: &str) -> String {
    let health = format!("    health: {{ max_fails: 1, cooldown: 30s }}\n{extra}");
    app_config(&format!("{}, {b_url}", a.url()), "connect: 500ms, read: 1s, total: 2s", &health)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_requests() {
    let (a, b) = (TestUpstream::start().await, TestUpstream::start().await);
    let gw = Gateway::start(BIN, &two_target_config(&a, &b.url(), ""));
    for _ in 0..10 {
        assert_eq!(raw::get(gw.addr(), "api.test", "/").await.status, 200);
    }
    assert_eq!((a.count(), b.count()), (5, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_target_is_skipped_after_failing() {
    let a = TestUpstream::start().await;
    // A port that refuses connections.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let gw = Gateway::start(BIN, &two_target_config(&a, &dead_url, ""));
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..8 {
            v.push(raw::get(gw.addr(), "api.test", "/").await.status);
        }
        v
    };
    let failures = statuses.iter().filter(|&&s| s == 502).count();
    assert!(failures <= 1, "the dead target is tried at most once before cooldown: {statuses:?}");
    assert_eq!(a.count(), 8 - failures);
    let bad = raw::get(gw.addr(), "api.test", "/").await;
    assert_eq!(bad.status, 200);
    if failures == 1 {
        let lines = gw.access_log(9, Duration::from_secs(5));
        let refused: Vec<_> = lines.iter().map(|l| json(l)).filter(|l| l["status"] == 502).collect();
        assert_eq!(refused[0]["reason"], "upstream.connect");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstreams_time_out_with_504() {
    let a = TestUpstream::start().await;
    let cfg = format!(
        "workers: 1
listeners: [{{ name: public, listen: 127.0.0.1:0 }}]
upstream_allowlist: [127.0.0.1]
upstreams:
  - name: app
    targets: [{}]
    timeouts: {{ connect: 500ms, read: 300ms, total: 2s }}
routes: [{{ name: all, prefix: /, upstream: app }}]
access_log: {{ path: '{{dir}}/access.log' }}
",
        a.url()
    );
    let gw = Gateway::start(BIN, &cfg);
    let started = std::time::Instant::now();
    let resp = raw::get(gw.addr(), "api.test", "/slow/3000").await;
    assert_eq!(resp.status, 504);
    assert!(started.elapsed() < Duration::from_secs(2), "answered at the read timeout");
    let body = json(&resp.text());
    assert_eq!(body["error"], "gateway_timeout");
    assert_eq!(json(&gw.access_log(1, Duration::from_secs(5))[0])["reason"], "upstream.timeout");
    assert_eq!(raw::get(gw.addr(), "api.test", "/slow/10").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_both_ways() {
    let a = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &common::config(&a, common::CATCH_ALL));
    let resp = raw::get(gw.addr(), "api.test", "/big/3000000").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), 3_000_000);
    let body = "y".repeat(2_000_000);
    let req = format!(
        "POST /upload HTTP/1.1\r\nHost: api.test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(raw::request(gw.addr(), &req).await.status, 200);
    assert_eq!(a.seen().last().unwrap().body.len(), 2_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstreams_in_flight_cap_holds_across_its_routes() {
    let upstream = TestUpstream::start().await;
    let config = format!(
        "workers: 1
listeners: [{{ name: public, listen: 127.0.0.1:0 }}]
upstream_allowlist: [127.0.0.1]
upstreams:
  - name: app
    targets: [{url}]
    max_in_flight: 2
routes:
  - {{ name: one, prefix: /slow, upstream: app }}
  - {{ name: two, prefix: /, upstream: app }}
access_log: {{ path: '{{dir}}/access.log' }}
",
        url = upstream.url()
    );
    let gw = Gateway::start(BIN, &config);
    let addr = gw.addr();
    let slow: Vec<_> =
        (0..2).map(|_| tokio::spawn(async move { raw::get(addr, "api.test", "/slow/600").await.status })).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = raw::get(addr, "api.test", "/other").await;
    assert_eq!(third.status, 503, "a third request to the upstream, through another route");
    assert_eq!(third.header("retry-after"), Some("1"));
    assert_eq!(json(&third.text())["error"], "service_unavailable");
    for s in slow {
        assert_eq!(s.await.unwrap(), 200);
    }
    assert_eq!(raw::get(addr, "api.test", "/other").await.status, 200, "places are freed when responses end");
    assert_eq!(upstream.count(), 3, "the refused request never reached the upstream");
    let log = gw.access_log(4, Duration::from_secs(2)).join("\n");
    assert!(log.contains("upstream.busy"), "{log}");
}

/// A raw HTTP/1.1 upstream that answers each connection's first request
/// with a chunked body: one chunk per entry of `gaps` (the pause before it),
/// then, unless `stall` is set, the last chunk. A stalled body never ends.
async fn dripping_upstream(gaps: Vec<Duration>, stall: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            let gaps = gaps.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await;
                for (i, gap) in gaps.iter().enumerate() {
                    tokio::time::sleep(*gap).await;
                    let _ = stream.write_all(format!("7\r\nchunk-{i}\r\n").as_bytes()).await;
                }
                if stall {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                } else {
                    let _ = stream.write_all(b"0\r\n\r\n").await;
                    let _ = stream.read(&mut buf).await;
                }
            });
        }
    });
    url
}

fn read_timeout_config(upstream: &str) -> String {
    app_config(upstream, "connect: 500ms, read: 600ms, total: 5s", "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_keeps_coming_within_the_read_timeout_is_not_cut() {
    // Six chunks 150 ms apart: 0.9 s in all, longer than the 600 ms read
    // timeout, which must restart with every chunk.
    let upstream = dripping_upstream(vec![Duration::from_millis(150); 6], false).await;
    let gw = Gateway::start(BIN, &read_timeout_config(&upstream));
    let request = "GET /drip HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n";
    let bytes = raw::exchange(gw.addr(), request.as_bytes(), Duration::from_secs(3)).await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!((0..6).all(|i| text.contains(&format!("chunk-{i}"))), "{text}");
    assert!(text.ends_with("0\r\n\r\n"), "the body ended properly: {text}");
    let line = json(&gw.access_log(1, Duration::from_secs(5))[0]);
    assert!(line["reason"].is_null(), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_is_cut_at_the_read_timeout() {
    let upstream = dripping_upstream(vec![Duration::ZERO], true).await;
    let gw = Gateway::start(BIN, &read_timeout_config(&upstream));
    let started = std::time::Instant::now();
    let request = "GET /stall HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n";
    let bytes = raw::exchange(gw.addr(), request.as_bytes(), Duration::from_secs(4)).await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(started.elapsed() < Duration::from_secs(3), "cut at the read timeout, not at the upstream's pace");
    assert!(text.starts_with("HTTP/1.1 200") && text.contains("chunk-0"), "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "a cut body must not look complete: {text}");
    let line = json(&gw.access_log(1, Duration::from_secs(5))[0]);
    assert_eq!(line["reason"], "upstream.timeout.body");
}
