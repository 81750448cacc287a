//! Limits shared through a real `redis-server`: three gateway processes
//! enforce one limit together (not three times it), and when Redis dies
//! mid-load each limit does what its configuration says, with no request
//! hanging past its timeout, then counts together again once Redis is back.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::plane::{admin_session, bootstrap};
use common::{BIN, Gateway, TestUpstream, config, raw};
use portcullis_test_support::TempDir;
use portcullis_test_support::redis::Redis;

fn shared_config(upstream: &TestUpstream, redis: &Redis, gateways: u64, routes: &str) -> String {
    let mut cfg = config(upstream, routes);
    cfg.push_str(&format!(
        "counters:\n  redis: {}\n  gateways: {gateways}\n  timeout: 250ms\n  retry_after: 200ms\n",
        redis.url()
    ));
    cfg
}

/// One route per `(path, limit YAML)`.
fn routes(limits: &[(&str, &str)]) -> String {
    limits
        .iter()
        .map(|(path, limit)| {
            format!(
                "  - name: r{name}\n    path: {path}\n    upstream: app\n    policies:\n      - type: rate_limit\n        limits:\n{limit}",
                name = path.trim_start_matches('/')
            )
        })
        .collect()
}

async fn status(addr: SocketAddr, path: &str) -> u16 {
    raw::get(addr, "api.test", path).await.status
}

/// Sends `total` requests round-robin over `gateways` from `workers` concurrent tasks; returns how many got 200.
async fn drive(gateways: &[SocketAddr], path: &'static str, total: usize, workers: usize) -> usize {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (next, gateways) = (next.clone(), gateways.to_vec());
            tokio::spawn(async move {
                let mut ok = 0;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        return ok;
                    }
                    let s = status(gateways[i % gateways.len()], path).await;
                    assert!(s == 200 || s == 429, "unexpected status {s}");
                    ok += usize::from(s == 200);
                }
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_enforce_one_limit_together() {
    let upstream = TestUpstream::start().await;
    let redis = Redis::start();
    let limits = [
        ("/quota", "          - { name: daily, key: [route], algorithm: quota, quota: 120, period: day }\n"),
        ("/rate", "          - { name: smooth, key: [route], rate: 40/s, burst: 20 }\n"),
    ];
    let cfg = shared_config(&upstream, &redis, 3, &routes(&limits));
    let nodes: Vec<Gateway> = (0..3).map(|_| Gateway::start(BIN, &cfg)).collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(Gateway::addr).collect();

    // A quota is exact: 120 of 300, wherever they arrive.
    assert_eq!(drive(&addrs, "/quota", 300, 6).await, 120);

    // A rate over about three seconds: the burst plus the rate times the time taken, within ±5%.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(3);
    let mut admitted = 0;
    while Instant::now() < deadline {
        admitted += drive(&addrs, "/rate", 60, 6).await;
    }
    let expected = 20.0 + 40.0 * started.elapsed().as_secs_f64();
    let ratio = admitted as f64 / expected;
    eprintln!("3 gateways, 40/s burst 20: admitted {admitted}, expected {expected:.0}, ratio {ratio:.3}");
    assert!((0.95..=1.05).contains(&ratio), "admitted {admitted}, expected {expected:.0} (ratio {ratio:.3})");
    assert!(counter_keys(&redis) >= 2, "counted in Redis");
}

fn counter_keys(redis: &Redis) -> usize {
    redis.cli(&["--scan", "--pattern", "portcullis:rl:*"]).lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_mid_load_follows_each_limits_mode_and_recovers() {
    let upstream = TestUpstream::start().await;
    let mut redis = Redis::start();
    let limits = [
        ("/local", "          - { name: soft, key: [route], algorithm: quota, quota: 100000, period: day }\n"),
        (
            "/closed",
            "          - { name: hard, key: [route], algorithm: quota, quota: 100000, period: day, on_backend_failure: fail_closed }\n",
        ),
    ];
    let cfg = shared_config(&upstream, &redis, 2, &routes(&limits));
    let gw = Gateway::start(BIN, &cfg);
    let addr = gw.addr();
    assert_eq!((status(addr, "/local").await, status(addr, "/closed").await), (200, 200));

    // Load from two tasks for three seconds; Redis dies after 0.5 s and is back after 1.5 s.
    let load = |path: &'static str| {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let until = Instant::now() + Duration::from_secs(3);
            while Instant::now() < until && seen.len() < 20_000 {
                let started = Instant::now();
                let s = status(addr, path).await;
                seen.push((s, started.elapsed()));
            }
            seen
        })
    };
    let (local, closed) = (load("/local"), load("/closed"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart();
    let (local, closed) = (local.await.unwrap(), closed.await.unwrap());

    let slowest = local.iter().chain(&closed).map(|(_, t)| *t).max().unwrap();
    assert!(slowest < Duration::from_secs(1), "no request waited on the dead Redis ({slowest:?})");
    assert!(local.iter().all(|(s, _)| *s == 200), "the local-fallback limit kept counting on this gateway");
    assert!(closed.iter().all(|(s, _)| *s == 200 || *s == 503), "fail closed, nothing else");
    let refused = closed.iter().filter(|(s, _)| *s == 503).count();
    assert!(refused > 0, "the fail-closed limit refused while Redis was down");
    assert_eq!(closed.last().unwrap().0, 200, "and admits again once Redis is back");
    assert!(gw.wait_for_log("limits fall back to their configured mode", Duration::from_secs(2)));
    let log = gw.access_log(1, Duration::from_secs(2)).join("\n");
    assert!(log.contains("ratelimit.unavailable"), "the 503s say why");
    assert!(gw.wait_for_log("reachable again", Duration::from_secs(2)));
    assert_eq!(status(addr, "/local").await, 200);
    assert!(counter_keys(&redis) >= 1, "counting in Redis again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_read_and_reset_a_key_through_the_admin_api() {
    let upstream = TestUpstream::start().await;
    let redis = Redis::start();
    let limits = [("/api", "          - { name: per-ip, key: [client_ip], rate: 3/m }\n")];
    let cfg = shared_config(&upstream, &redis, 1, &routes(&limits));
    let dir = TempDir::new();
    let password = bootstrap(&dir, &cfg);
    let gw = Gateway::start_in(BIN, dir, &cfg);
    let mut admin = admin_session(&gw, &password).await;

    let listed = admin.get("/admin/v1/ratelimits").await;
    let item = &listed.json["items"][0];
    assert_eq!(
        (item["route"].as_str(), item["name"].as_str(), item["counting"].as_str()),
        (Some("rapi"), Some("per-ip"), Some("redis")),
        "{:?}",
        listed.json
    );

    let state_path = "/admin/v1/ratelimits/rapi/per-ip/state?client_ip=127.0.0.1";
    assert_eq!(admin.get(state_path).await.json["remaining"], 3);
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(status(gw.addr(), "/api").await);
    }
    assert_eq!(seen, [200, 200, 200, 429]);
    let state = admin.get(state_path).await;
    assert_eq!(
        (state.json["remaining"].as_u64(), state.json["quota"].as_u64()),
        (Some(0), Some(3)),
        "{:?}",
        state.json
    );
    assert!(state.json["retry_after_seconds"].as_u64().unwrap() >= 1);
    assert_eq!(admin.get(state_path).await.json["remaining"], 0, "reading counts nothing");

    let reset = admin.send("DELETE", state_path, None, &[]).await;
    assert_eq!(reset.status(), 204, "{:?}", reset.json);
    assert_eq!(status(gw.addr(), "/api").await, 200, "the key starts again from a full budget");
    let audit = admin.get("/admin/v1/audit/events?action=ratelimit.reset").await;
    let event = &audit.json["items"][0];
    assert_eq!(
        (event["target"].as_str(), event["details"]["client_ip"].as_str()),
        (Some("rapi/per-ip"), Some("127.0.0.1")),
        "{:?}",
        audit.json
    );

    assert_eq!(admin.get("/admin/v1/ratelimits/rapi/nope/state").await.status(), 404);
    assert_eq!(admin.get("/admin/v1/ratelimits/rapi/per-ip/state?client_ip=not-an-ip").await.status(), 400);
    assert_eq!(admin.get("/admin/v1/ratelimits/rapi/per-ip/state?bogus=1").await.status(), 400);
}

/// An HS256 token for the `/jwt` route, signed with `key`.
fn token(key: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 300;
    let claims = format!(r#"{{"iss":"https://issuer.test","aud":"api","sub":"user-1","exp":{exp}}}"#);
    let input = format!("{}.{}", b64(br#"{"alg":"HS256"}"#), b64(claims.as_bytes()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

async fn with_token(addr: SocketAddr, token: &str) -> u16 {
    let request =
        format!("GET /jwt HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    raw::request(addr, &request).await.status
}

/// Waits until `addr` answers the token with `want`.
async fn until_status(addr: SocketAddr, token: &str, want: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if with_token(addr, token).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_sharing_redis_lock_a_brute_forcing_address_together() {
    const SECRET: &str = "a test secret of at least thirty-two bytes!";
    let upstream = TestUpstream::start().await;
    let redis = Redis::start();
    let route = "  - name: jwt\n    path: /jwt\n    upstream: app\n    policies:\n      - type: jwt\n        issuer: https://issuer.test\n        audiences: [api]\n        algorithms: [HS256]\n        secret: file:jwt.secret\n";
    let mut cfg = shared_config(&upstream, &redis, 2, route);
    cfg.push_str("brute_force: { max_failures: 3, window: 1m, lock_for: 1m }\n");
    let dirs: Vec<TempDir> = (0..2).map(|_| TempDir::new()).collect();
    for dir in &dirs {
        dir.write("jwt.secret", SECRET);
    }
    let mut dirs = dirs.into_iter();
    let first_dir = dirs.next().unwrap();
    let password = bootstrap(&first_dir, &cfg);
    let first = Gateway::start_in(BIN, first_dir, &cfg);
    let second = Gateway::start_in(BIN, dirs.next().unwrap(), &cfg);
    let good = token(SECRET.as_bytes());
    assert_eq!((with_token(first.addr(), &good).await, with_token(second.addr(), &good).await), (200, 200));

    // Two forged tokens on one gateway, one on the other: three failures of one address in the cluster.
    let forged = token(b"not the secret but thirty-two bytes long");
    for addr in [first.addr(), first.addr(), second.addr()] {
        assert_eq!(with_token(addr, &forged).await, 401);
    }
    assert!(until_status(first.addr(), &good, 401).await, "locked on the first gateway");
    assert!(until_status(second.addr(), &good, 401).await, "and on the second");

    let mut admin = admin_session(&first, &password).await;
    let unlocked = admin.post("/admin/v1/lockouts/unlock", &serde_json::json!({ "key": "ip:127.0.0.1" })).await;
    assert_eq!(unlocked.status(), 204, "{:?}", unlocked.json);
    assert!(until_status(second.addr(), &good, 200).await, "an unlock on one gateway reaches the other");
    assert_eq!(with_token(first.addr(), &good).await, 200);
}
