//! The gateway proxies real traffic, routes strictly and answers every
//! refusal with a small generic JSON error.

mod common;

use std::time::Duration;

use common::{BIN, CATCH_ALL, Gateway, TestUpstream, config, json, raw};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_and_rewrites_forwarding_headers() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, CATCH_ALL));
    let resp = raw::request(
        gw.addr(),
        "GET /v1/items?id=7 HTTP/1.1\r\nHost: api.test\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n\
         X-Request-Id: forged\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\nProxy-Authorization: Basic eA==\r\n\r\n",
    )
    .await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    assert_eq!(seen[0].target, "/v1/items?id=7");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "forged XFF from an untrusted peer is replaced");
    assert_eq!(h["forwarded"], "for=127.0.0.1;proto=http;host=\"api.test\"");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "api.test");
    assert!(h.get("x-hop").is_none() && h.get("proxy-authorization").is_none(), "hop-by-hop headers removed");
    let id = resp.header("x-request-id").unwrap();
    assert_ne!(id, "forged", "client cannot choose the request id");
    assert_eq!(h["x-request-id"], id);
    assert_eq!(h["host"], upstream.addr.to_string(), "upstream sees its own authority, not the client's Host");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_hardened() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, CATCH_ALL));
    let resp = raw::get(gw.addr(), "api.test", "/banner").await;
    assert_eq!(resp.status, 200);
    assert!(resp.header("server").is_none() && resp.header("x-powered-by").is_none(), "{resp:?}");
    assert_eq!(resp.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(resp.header("x-frame-options"), Some("DENY"));
    assert_eq!(resp.header("referrer-policy"), Some("no-referrer"));
    assert!(resp.header("strict-transport-security").is_none(), "no HSTS over plain HTTP");
    let cookie = raw::get(gw.addr(), "api.test", "/cookie").await;
    assert_eq!(cookie.header("set-cookie"), Some("sid=abc; Path=/; HttpOnly; SameSite=Lax"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_error_pages_are_replaced_with_the_generic_error() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, CATCH_ALL));
    let resp = raw::get(gw.addr(), "api.test", "/status/500").await;
    assert_eq!(resp.status, 500);
    let body = resp.text();
    assert!(!body.contains("Traceback") && !body.contains("10.0.0.5"), "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["error"], "server_error");
    assert_eq!(value["request_id"], resp.header("x-request-id").unwrap());
    // 4xx bodies belong to the API and pass through.
    assert!(raw::get(gw.addr(), "api.test", "/status/404").await.text().contains("Traceback"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_by_host_path_and_method() {
    let upstream = TestUpstream::start().await;
    let routes = "  - name: users
    hosts: [api.test, \"*.api.test\"]
    path: /v1/users/{id}
    methods: [GET, PUT]
    upstream: app
  - name: old
    hosts: [api.test]
    prefix: /v0
    upstream: app
    deprecated: { since: 2026-01-01, sunset: 2027-01-01, link: \"https://docs.test/v0\" }
  - name: gone
    hosts: [api.test]
    prefix: /beta
    upstream: app
    retired: true
";
    let gw = Gateway::start(BIN, &config(&upstream, routes));
    let addr = gw.addr();
    assert_eq!(raw::get(addr, "api.test", "/v1/users/42").await.status, 200);
    assert_eq!(raw::get(addr, "eu.api.test", "/v1/users/42").await.status, 200);
    assert_eq!(raw::get(addr, "API.TEST:443", "/v1/users/42").await.status, 200);
    let not_found = raw::get(addr, "api.test", "/v1/users/42/keys").await;
    assert_eq!(not_found.status, 404);
    assert_eq!(json(&not_found.text())["error"], "not_found");
    let unknown_host = raw::get(addr, "evil.test", "/v1/users/42").await;
    assert_eq!(unknown_host.status, 421);
    let delete =
        raw::request(addr, "DELETE /v1/users/42 HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n").await;
    assert_eq!(delete.status, 405);
    assert_eq!(delete.header("allow"), Some("GET, HEAD, PUT"));
    for method in ["TRACE", "CONNECT"] {
        let target = if method == "CONNECT" { "api.test:443" } else { "/v1/users/42" };
        let resp =
            raw::request(addr, &format!("{method} {target} HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n"))
                .await;
        assert_eq!(resp.status, 405, "{method} is never served");
    }
    let deprecated = raw::get(addr, "api.test", "/v0/things").await;
    assert_eq!(deprecated.status, 200);
    assert_eq!(deprecated.header("deprecation"), Some("@1767225600"));
    assert_eq!(deprecated.header("sunset"), Some("Fri, 01 Jan 2027 00:00:00 GMT"));
    assert_eq!(deprecated.header("link"), Some("<https://docs.test/v0>; rel=\"deprecation\""));
    assert_eq!(raw::get(addr, "api.test", "/beta/x").await.status, 410);
    let count = upstream.count();
    assert_eq!(count, 4, "only the four served requests reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_is_normalized_before_routing_and_traversal_refused() {
    let upstream = TestUpstream::start().await;
    let routes = "  - name: public
    prefix: /public
    upstream: app
";
    let gw = Gateway::start(BIN, &config(&upstream, routes));
    let addr = gw.addr();
    let resp = raw::get(addr, "api.test", "/public/./a/../%62//c").await;
    assert_eq!(resp.status, 200);
    assert_eq!(upstream.seen()[0].target, "/public/b/c", "the upstream receives the normalized path");
    for evil in [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/../etc/passwd",
        "/public%2f..%2fadmin",
        "/public/%252e%252e/x",
        "/public/%00",
    ] {
        let status = raw::get(addr, "api.test", evil).await.status;
        assert!(status == 400 || status == 404, "{evil} got {status}");
    }
    assert_eq!(upstream.count(), 1, "no evasion reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_is_json_and_masks_secrets() {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream, CATCH_ALL);
    cfg.push_str("  headers: [authorization, user-agent]\n  mask_patterns: ['\\b\\d{16}\\b']\n");
    let gw = Gateway::start(BIN, &cfg);
    raw::request(
        gw.addr(),
        "GET /pay/4111111111111111?api_key=SECRETKEY&page=2 HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer SECRETTOKEN\r\n\
         User-Agent: test-agent\r\nConnection: close\r\n\r\n",
    )
    .await;
    raw::get(gw.addr(), "api.test", "/../x").await;
    let lines = gw.access_log(2, Duration::from_secs(5));
    assert_eq!(lines.len(), 2, "{lines:?}");
    let all = lines.join("\n");
    for secret in ["SECRETKEY", "SECRETTOKEN", "4111111111111111"] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
    let ok = json(&lines[0]);
    assert_eq!(ok["target"], "/pay/***?api_key=***&page=2");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["route"], "all");
    assert_eq!(ok["headers"]["authorization"], "***");
    assert_eq!(ok["headers"]["user-agent"], "test-agent");
    assert!(ok["upstream_ms"].is_number() && ok["total_ms"].is_number());
    let refused = json(&lines[1]);
    assert_eq!(refused["status"], 400);
    assert_eq!(refused["reason"], "request.path.traversal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_may_report_the_client() {
    let upstream = TestUpstream::start().await;
    let mut cfg = config(&upstream, CATCH_ALL);
    cfg.push_str("trusted_proxies: [127.0.0.1/32]\n");
    let gw = Gateway::start(BIN, &cfg);
    let resp = raw::request(
        gw.addr(),
        "GET / HTTP/1.1\r\nHost: api.test\r\nX-Forwarded-For: 203.0.113.9\r\nX-Request-Id: edge-123\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(resp.header("x-request-id"), Some("edge-123"));
    let h = &upstream.seen()[0].headers;
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    let line = json(&gw.access_log(1, Duration::from_secs(5))[0]);
    assert_eq!(line["client_ip"], "203.0.113.9");
}
