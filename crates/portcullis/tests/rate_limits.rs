//! Rate limits from the attacker's side: a flood is cut off with 429 and
//! honest headers, a forged X-Forwarded-For changes nothing, keys are kept
//! apart, and delayed requests wait instead of failing.

mod common;

use std::time::{Duration, Instant};

use common::{BIN, Gateway, TestUpstream, config, raw};

fn route(policy: &str) -> String {
    format!("  - name: api\n    prefix: /\n    upstream: app\n    policies:\n{policy}")
}

async fn get_with(addr: std::net::SocketAddr, extra: &str) -> raw::RawResponse {
    raw::request(addr, &format!("GET /x HTTP/1.1\r\nHost: api.test\r\n{extra}Connection: close\r\n\r\n")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_cut_off_and_forged_addresses_do_not_help() {
    let upstream = TestUpstream::start().await;
    let policy = "      - type: rate_limit
        limits:
          - name: per-ip
            key: [client_ip]
            rate: 6/m
            burst: 3
        headers: both
";
    let mut cfg = config(&upstream, &route(policy));
    cfg.push_str("metrics: { listen: 127.0.0.1:0 }\n");
    let gw = Gateway::start(BIN, &cfg);
    let mut statuses = Vec::new();
    for i in 0..6 {
        let resp = get_with(gw.addr(), &format!("X-Forwarded-For: 198.51.100.{i}\r\n")).await;
        statuses.push(resp.status);
        if i == 0 {
            assert_eq!(resp.header("ratelimit-policy"), Some("\"per-ip\";q=6;w=60"));
            assert_eq!(resp.header("ratelimit"), Some("\"per-ip\";r=2;t=10"));
            assert_eq!(resp.header("x-ratelimit-remaining"), Some("2"));
        }
        if i == 5 {
            assert_eq!(resp.header("retry-after"), Some("10"), "{resp:?}");
            assert_eq!(resp.header("ratelimit"), Some("\"per-ip\";r=0;t=30"));
            assert_eq!(common::json(&resp.text())["error"], "too_many_requests");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429], "forged X-Forwarded-For did not reset the key");
    assert_eq!(upstream.count(), 3);
    let ops = gw.metrics_addr();
    let metrics = raw::get(ops, "localhost", "/metrics").await.text();
    assert!(
        metrics
            .contains("portcullis_ratelimit_decisions_total{route=\"api\",limit=\"per-ip\",decision=\"rejected\"} 3"),
        "{metrics}"
    );
    assert!(gw.wait_for_log("Rate limit exceeded.", Duration::from_secs(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_counted_apart_and_quotas_hold() {
    let upstream = TestUpstream::start().await;
    let policy = "      - type: rate_limit
        limits:
          - name: per-tenant
            key: [header:x-tenant, method]
            algorithm: sliding_window
            rate: 2/m
          - name: daily
            key: [route]
            algorithm: quota
            quota: 5
            period: day
            time_zone: Europe/Berlin
";
    let gw = Gateway::start(BIN, &config(&upstream, &route(policy)));
    let mut statuses = Vec::new();
    for tenant in ["a", "a", "a", "b", "b", "c", "c"] {
        statuses.push(get_with(gw.addr(), &format!("X-Tenant: {tenant}\r\n")).await.status);
    }
    // Tenant a gets two; b two; then the daily quota of five is spent.
    assert_eq!(statuses, [200, 200, 429, 200, 200, 200, 429]);
    assert_eq!(upstream.count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_mode_waits_instead_of_refusing() {
    let upstream = TestUpstream::start().await;
    let policy = "      - type: rate_limit
        limits:
          - name: spike-arrest
            key: [route]
            rate: 2/s
            burst: 1
        on_limit: delay
        max_delay: 2s
";
    let gw = Gateway::start(BIN, &config(&upstream, &route(policy)));
    let started = Instant::now();
    assert_eq!(get_with(gw.addr(), "").await.status, 200);
    assert_eq!(get_with(gw.addr(), "").await.status, 200, "the second request waited for its turn");
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    assert_eq!(upstream.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_caps_requests_in_flight() {
    let upstream = TestUpstream::start().await;
    let policy = "      - type: concurrency
        name: backend
        key: [route]
        max: 2
";
    let gw = Gateway::start(BIN, &config(&upstream, &route(policy)));
    let addr = gw.addr();
    let slow: Vec<_> =
        (0..2).map(|_| tokio::spawn(async move { raw::get(addr, "api.test", "/slow/600").await.status })).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = get_with(addr, "").await;
    assert_eq!(third.status, 429, "a third request while two are in flight");
    assert_eq!(third.header("retry-after"), Some("1"));
    for s in slow {
        assert_eq!(s.await.unwrap(), 200);
    }
    assert_eq!(get_with(addr, "").await.status, 200, "slots are freed when responses end");
}
