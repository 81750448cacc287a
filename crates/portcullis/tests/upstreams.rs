//! Upstream behaviour: round robin, passive health, timeouts, and failures
//! answered with generic 502/504 errors.

mod common;

use std::time::Duration;

use common::{BIN, Gateway, TestUpstream, json, raw};

fn two_target_config(a: &TestUpstream, b_url: &str, extra: &str) -> String {
    format!(
        "workers: 1
listeners: [{{ name: public, listen: 127.0.0.1:0 }}]
upstream_allowlist: [127.0.0.1]
upstreams:
  - name: app
    targets: [{a}, {b_url}]
    timeouts: {{ connect: 500ms, read: 1s, total: 2s }}
    health: {{ max_fails: 1, cooldown: 30s }}
{extra}routes: [{{ name: all, prefix: /, upstream: app }}]
access_log: {{ path: '{{dir}}/access.log' }}
",
        a = a.url()
    )
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
