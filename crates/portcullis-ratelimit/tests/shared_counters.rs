//! Limits counting in a real `redis-server` (and a real three-node Redis
//! Cluster): exact counts, refunds, the local pre-check, both failure modes
//! and recovery.

#![allow(clippy::unwrap_used, missing_docs)]

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::request::Parts;
use portcullis_core::{Ctx, Policy, Verdict};
use portcullis_ratelimit::{
    Algorithm, Counting, HeaderStyle, KeyPart, KeySpec, Limit, OnBackendFailure, OnLimit, Quota, QuotaPeriod, Rate,
    RateLimitPolicy, SharedCounters, SharedSettings,
};
use portcullis_test_support::certs::TestCa;
use portcullis_test_support::redis::{Redis, RedisCluster};

fn settings(urls: Vec<String>) -> SharedSettings {
    SharedSettings {
        urls,
        cluster: false,
        ca_pem: None,
        gateways: 1,
        timeout: Duration::from_millis(200),
        retry_after: Duration::from_millis(100),
        local_precheck: false,
    }
}

fn per_minute(count: u64) -> Algorithm {
    Algorithm::Gcra { rate: Rate { count, period: Duration::from_secs(60) }, burst: count }
}

fn by_ip() -> KeySpec {
    KeySpec { parts: vec![KeyPart::ClientIp], ipv4_prefix: 32, ipv6_prefix: 64 }
}

fn policy(route: &str, limits: &[(&str, Algorithm, OnBackendFailure)], counting: Counting) -> RateLimitPolicy {
    let limits = limits
        .iter()
        .map(|(name, alg, on_failure)| Limit::new(route, name, by_ip(), alg.clone(), *on_failure))
        .collect();
    RateLimitPolicy::new(limits, OnLimit::Reject, HeaderStyle::Draft, counting)
}

fn shared(settings: SharedSettings) -> Counting {
    Counting::Shared(SharedCounters::shared(settings))
}

/// One request from `ip`: `Ok(Some(remaining))` if admitted, `Ok(None)` if refused (429), `Err(reason)` for 503.
async fn hit(policy: &RateLimitPolicy, ip: &str) -> Result<Option<u64>, &'static str> {
    let ip: IpAddr = ip.parse().unwrap();
    let mut parts: Parts = http::Request::new(()).into_parts().0;
    let mut cx = Ctx::new(Arc::from("req"), ip, ip, false);
    match policy.on_request(&mut parts, &mut cx).resolve().await {
        Ok(Verdict::Continue) => {
            let header = cx.response_headers.iter().find(|(n, _)| n == "ratelimit").map(|(_, v)| v.to_str().unwrap());
            let remaining = header.and_then(|h| h.split(";r=").nth(1)).and_then(|r| r.split(';').next());
            Ok(Some(remaining.unwrap().parse().unwrap()))
        }
        Ok(Verdict::Deny(deny)) => {
            assert_eq!(deny.status, 429);
            assert!(deny.headers.iter().any(|(n, _)| n == "retry-after"));
            Ok(None)
        }
        Err(e) => Err(e.reason),
    }
}

async fn admitted(policy: &RateLimitPolicy, ip: &str, n: usize) -> usize {
    let mut count = 0;
    for _ in 0..n {
        if hit(policy, ip).await.unwrap().is_some() {
            count += 1;
        }
    }
    count
}

fn counter_keys(redis: &Redis) -> usize {
    redis.cli(&["--scan", "--pattern", "portcullis:rl:*"]).lines().count()
}

#[tokio::test]
async fn limits_count_in_redis_exactly() {
    let redis = Redis::start();
    let p = policy(
        "r1",
        &[
            ("gcra", per_minute(5), OnBackendFailure::FailClosed),
            (
                "window",
                Algorithm::SlidingWindow(Rate { count: 7, period: Duration::from_secs(60) }),
                OnBackendFailure::FailClosed,
            ),
        ],
        shared(settings(vec![redis.url()])),
    );
    assert_eq!(admitted(&p, "192.0.2.1", 8).await, 5);
    assert_eq!(admitted(&p, "192.0.2.2", 3).await, 3, "another client has its own budget");
    assert_eq!(counter_keys(&redis), 4, "two limits × two clients, hashed");
    let quota = Algorithm::Quota(Quota { limit: 3, period: QuotaPeriod::Day, time_zone: jiff::tz::TimeZone::UTC });
    let q = policy("r1q", &[("quota", quota, OnBackendFailure::FailClosed)], shared(settings(vec![redis.url()])));
    assert_eq!(admitted(&q, "192.0.2.1", 5).await, 3);
}

/// One request counted by both limits, five refused by the tight one: the loose one has counted one.
async fn a_refusal_takes_nothing_from_the_other_limits(counting: Counting) {
    let both = policy(
        "r2",
        &[
            ("loose", per_minute(100), OnBackendFailure::FailClosed),
            ("tight", per_minute(1), OnBackendFailure::FailClosed),
        ],
        counting.clone(),
    );
    let loose = policy("r2", &[("loose", per_minute(100), OnBackendFailure::FailClosed)], counting);
    assert!(hit(&both, "192.0.2.1").await.unwrap().is_some());
    for _ in 0..5 {
        assert!(hit(&both, "192.0.2.1").await.unwrap().is_none(), "the tight limit refuses");
    }
    // With a cluster the refused requests' counts are given back by a spawned task.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hit(&loose, "192.0.2.1").await.unwrap(), Some(98), "this is the loose limit's second request");
}

#[tokio::test]
async fn a_refused_request_takes_nothing_from_the_other_limits() {
    let redis = Redis::start();
    a_refusal_takes_nothing_from_the_other_limits(shared(settings(vec![redis.url()]))).await;
}

#[tokio::test]
async fn a_dead_redis_falls_back_per_limit_and_recovers() {
    let mut redis = Redis::start();
    let counting = shared(SharedSettings { gateways: 2, ..settings(vec![redis.url()]) });
    let local = policy("r3", &[("l", per_minute(10), OnBackendFailure::Local)], counting.clone());
    let closed = policy("r3", &[("c", per_minute(10), OnBackendFailure::FailClosed)], counting);
    assert!(hit(&local, "192.0.2.1").await.unwrap().is_some());
    redis.kill();

    let started = Instant::now();
    assert_eq!(hit(&closed, "192.0.2.1").await, Err("ratelimit.unavailable"));
    assert!(started.elapsed() < Duration::from_secs(2), "no request waits past the timeout");
    // Each of the two gateways gets half of the rate while Redis is away.
    assert_eq!(admitted(&local, "192.0.2.9", 8).await, 5);

    redis.restart();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while hit(&closed, "192.0.2.1").await.is_err() {
        assert!(Instant::now() < deadline, "counting in Redis resumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(counter_keys(&redis) >= 1, "counted in Redis again");
}

#[tokio::test]
async fn the_local_precheck_refuses_without_a_round_trip() {
    let mut redis = Redis::start();
    let counting = shared(SharedSettings { local_precheck: true, ..settings(vec![redis.url()]) });
    let p = policy("r4", &[("one", per_minute(1), OnBackendFailure::FailClosed)], counting);
    assert!(hit(&p, "192.0.2.1").await.unwrap().is_some());
    assert!(hit(&p, "192.0.2.1").await.unwrap().is_none());
    redis.kill();
    // Redis is gone, yet the remembered refusal answers: 429, not the fail-closed 503.
    assert_eq!(hit(&p, "192.0.2.1").await, Ok(None));
    assert_eq!(hit(&p, "192.0.2.2").await, Err("ratelimit.unavailable"), "other keys still need Redis");
}

#[tokio::test]
async fn limits_count_in_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let counting = shared(SharedSettings { cluster: true, ..settings(cluster.urls()) });
    let p = policy(
        "r5",
        &[("a", per_minute(4), OnBackendFailure::FailClosed), ("b", per_minute(6), OnBackendFailure::FailClosed)],
        counting,
    );
    for i in 0..20 {
        assert_eq!(admitted(&p, &format!("192.0.2.{i}"), 6).await, 4, "client {i}");
    }
    let per_node: Vec<usize> = cluster.nodes.iter().map(counter_keys).collect();
    assert_eq!(per_node.iter().sum::<usize>(), 40, "{per_node:?}");
    assert!(per_node.iter().all(|&n| n > 0), "keys spread over every node: {per_node:?}");
    a_refusal_takes_nothing_from_the_other_limits(shared(SharedSettings { cluster: true, ..settings(cluster.urls()) }))
        .await;
}

#[tokio::test]
async fn rediss_verifies_the_server_certificate() {
    let ca = TestCa::new("redis test CA");
    let redis = Redis::start_tls(&ca);
    let trusted =
        shared(SharedSettings { ca_pem: Some(ca.cert_pem.clone().into_bytes()), ..settings(vec![redis.url()]) });
    let p = policy("r6", &[("t", per_minute(2), OnBackendFailure::FailClosed)], trusted);
    assert_eq!(admitted(&p, "192.0.2.1", 3).await, 2);
    // The same server without its CA: the connection is refused, and the limit fails closed.
    let untrusted = shared(SharedSettings { timeout: Duration::from_millis(150), ..settings(vec![redis.url()]) });
    let p = policy("r6", &[("t", per_minute(2), OnBackendFailure::FailClosed)], untrusted);
    assert_eq!(hit(&p, "192.0.2.1").await, Err("ratelimit.unavailable"));
}
