//! OpenAPI validation from the attacker's side: undeclared paths and
//! methods, malformed parameters and mass assignment are refused by the
//! gateway, and only requests the document declares reach the upstream.

mod common;

use std::time::Duration;

use common::{BIN, Gateway, TestUpstream, config, json, raw};
use portcullis_test_support::TempDir;

const DOCUMENT: &str = include_str!("fixtures/openapi/users.yaml");

const ROUTES: &str = "  - name: users
    prefix: /v1
    upstream: app
    policies:
      - type: open_api
        document: users.yaml
        base_path: /v1
";

const USER: &str = "/v1/users/9b2d0c52-4c43-4f0b-9c61-3e1f5b8a8f0e";

/// The gateway with the document beside its configuration.
fn gateway(upstream: &TestUpstream, routes: &str) -> Gateway {
    let dir = TempDir::new();
    dir.write("users.yaml", DOCUMENT);
    Gateway::start_in(BIN, dir, &config(upstream, routes))
}

fn request(method: &str, target: &str, headers: &str, body: &str) -> String {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: api.test\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn post_json(body: &str) -> String {
    request("POST", "/v1/users", "Content-Type: application/json\r\n", body)
}

/// The reason code of the `n`th access-log line (1-based).
fn reason(gw: &Gateway, n: usize) -> String {
    let lines = gw.access_log(n, Duration::from_secs(5));
    lines.get(n - 1).map(|line| json(line)["reason"].as_str().unwrap_or("").to_owned()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeclared_operations_are_refused() {
    let upstream = TestUpstream::start().await;
    let gw = gateway(&upstream, ROUTES);
    let addr = gw.addr();

    let hidden = raw::get(addr, "api.test", "/v1/admin/users").await;
    assert_eq!(hidden.status, 404);
    assert_eq!(json(&hidden.text())["error"], "not_found", "the generic error, no detail");
    assert_eq!(reason(&gw, 1), "inspect.openapi.path");

    let keys = raw::get(addr, "api.test", &format!("{USER}/keys")).await;
    assert_eq!(keys.status, 404);

    let put = raw::request(addr, &request("PUT", USER, "Content-Type: application/json\r\n", "{}")).await;
    assert_eq!(put.status, 405);
    assert_eq!(put.header("allow"), Some("GET, HEAD, DELETE"));
    assert_eq!(reason(&gw, 3), "inspect.openapi.method");

    assert_eq!(upstream.count(), 0, "nothing undeclared reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_parameters_are_refused() {
    let upstream = TestUpstream::start().await;
    let gw = gateway(&upstream, ROUTES);
    let addr = gw.addr();
    let cases = [
        "/v1/users?limit=abc",
        "/v1/users?limit=0",
        "/v1/users?limit=1000",
        "/v1/users?limit=1&limit=2",
        "/v1/users?status=admin",
        "/v1/users/42",
        "/v1/users/1%27OR%271%27=%271",
    ];
    for (i, target) in cases.iter().enumerate() {
        let resp = raw::get(addr, "api.test", target).await;
        assert_eq!(resp.status, 400, "{target}");
        assert_eq!(reason(&gw, i + 1), "inspect.openapi.parameter", "{target}");
    }
    assert_eq!(upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mass_assignment_and_bad_bodies_are_refused() {
    let upstream = TestUpstream::start().await;
    let gw = gateway(&upstream, ROUTES);
    let addr = gw.addr();
    let cases = [
        (post_json(r#"{"name":"x","is_admin":true}"#), 400),
        (post_json(r#"{"name":"x","role":"admin"}"#), 400),
        (post_json(r#"{"email":"x@example.com"}"#), 400),
        (post_json(r#"{"name":"x","email":"not-an-address"}"#), 400),
        (post_json(r#"{"name":"x","name":"admin"}"#), 400),
        (post_json(""), 400),
        (request("POST", "/v1/users", "Content-Type: text/plain\r\n", "name=x"), 415),
        (request("DELETE", USER, "Content-Type: application/json\r\n", "{}"), 400),
    ];
    for (i, (req, status)) in cases.iter().enumerate() {
        let resp = raw::request(addr, req).await;
        assert_eq!(resp.status, *status, "{req}");
        assert_eq!(reason(&gw, i + 1), "inspect.openapi.body", "{req}");
    }
    // Chunked: the body is checked once it is complete.
    let body = r#"{"name":"x","is_admin":true}"#;
    let chunked = format!(
        "POST /v1/users HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    assert_eq!(raw::request(addr, &chunked).await.status, 400);
    assert_eq!(upstream.count(), 0, "no refused body reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_requests_reach_the_upstream() {
    let upstream = TestUpstream::start().await;
    let gw = gateway(&upstream, ROUTES);
    let addr = gw.addr();
    assert_eq!(raw::get(addr, "api.test", "/v1/users?limit=10&status=active&extra=1").await.status, 200);
    assert_eq!(raw::get(addr, "api.test", "/v1/users/me").await.status, 200, "concrete path before {{id}}");
    assert_eq!(raw::get(addr, "api.test", USER).await.status, 200);
    let body = r#"{"name":"Ada","email":"ada@example.com"}"#;
    assert_eq!(raw::request(addr, &post_json(body)).await.status, 200);
    let seen = upstream.seen();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(targets, ["/v1/users?limit=10&status=active&extra=1", "/v1/users/me", USER, "/v1/users"]);
    assert_eq!(&seen[3].body[..], body.as_bytes(), "the body is forwarded intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_query_parameters_can_be_refused() {
    let upstream = TestUpstream::start().await;
    let strict = format!("{ROUTES}        reject_unknown_query: true\n");
    let gw = gateway(&upstream, &strict);
    let resp = raw::get(gw.addr(), "api.test", "/v1/users?limit=10&debug=true").await;
    assert_eq!(resp.status, 400);
    assert_eq!(reason(&gw, 1), "inspect.openapi.parameter");
    assert_eq!(raw::get(gw.addr(), "api.test", "/v1/users?limit=10").await.status, 200);
    assert_eq!(upstream.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_that_do_not_match_are_reported_and_sent_unchanged() {
    let upstream = TestUpstream::start().await;
    let checking = format!("{ROUTES}        validate_responses: true\n");
    let gw = gateway(&upstream, &checking);
    let addr = gw.addr();

    // The upstream's `{"ok":true}` is what the document declares for /users/me.
    let conforming = raw::get(addr, "api.test", "/v1/users/me").await;
    assert_eq!((conforming.status, conforming.text().as_str()), (200, r#"{"ok":true}"#));
    let conforming_id = conforming.header("x-request-id").expect("a request id").to_owned();

    // DELETE declares `ok` as a word: the answer does not match, and still reaches the client.
    let deleted = raw::request(addr, &request("DELETE", USER, "", "")).await;
    assert_eq!((deleted.status, deleted.text().as_str()), (200, r#"{"ok":true}"#), "sent unchanged");
    let deleted_id = deleted.header("x-request-id").expect("a request id").to_owned();
    assert!(
        gw.wait_for_log(&format!("request_id={deleted_id}"), Duration::from_secs(5)),
        "the mismatch is logged: {:?}",
        gw.stderr()
    );
    let stderr = gw.stderr();
    let warning = stderr.iter().find(|line| line.contains(&deleted_id)).unwrap();
    assert!(warning.contains("WARN") && warning.contains("Response does not match the OpenAPI document."), "{warning}");
    for field in ["operation=DELETE /users/{id}", "status=200", r#"instance_path="/ok""#] {
        assert!(warning.contains(field), "{field} in {warning}");
    }
    // Lines are read in order: the conforming answer, logged first if at all, was not.
    assert!(!stderr.iter().any(|line| line.contains(&conforming_id)), "{stderr:?}");
    assert_eq!(upstream.count(), 2);
    assert_eq!(reason(&gw, 2), "", "the access log records no refusal");
}
