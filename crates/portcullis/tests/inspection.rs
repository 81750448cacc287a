//! Threat protection from the attacker's side: wrong media types, oversized
//! bodies, JSON and XML bombs, mass assignment of hidden fields, malware
//! uploads, and responses that would expose too much. Nothing refused
//! reaches the upstream.

mod common;

use std::time::Duration;

use common::{BIN, Gateway, TestUpstream, config, json, raw};
use portcullis_test_support::clamd::{Clamd, EICAR};

fn post(path: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: api.test\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

const GUARDED: &str = "  - name: guarded
    prefix: /
    upstream: app
    policies:
      - type: content_type
        request: [application/json, application/xml, text/plain]
        response: [application/json]
      - type: body_size
        max: 4KiB
      - type: json_threat
        max_depth: 5
        max_string_len: 100
      - type: xml_threat
        max_depth: 5
";

async fn reason(gw: &Gateway, n: usize) -> String {
    let lines = gw.access_log(n, Duration::from_secs(5));
    json(&lines[n - 1])["reason"].as_str().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_types_are_enforced() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, GUARDED));
    let addr = gw.addr();
    assert_eq!(raw::request(addr, &post("/a", "application/json", "{\"ok\":1}")).await.status, 200);
    assert_eq!(raw::request(addr, &post("/a", "application/x-www-form-urlencoded", "a=1")).await.status, 415);
    assert_eq!(reason(&gw, 2).await, "inspect.content_type.unsupported");
    let missing = "POST /a HTTP/1.1\r\nHost: api.test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    assert_eq!(raw::request(addr, missing).await.status, 415);
    let not_acceptable = "GET /a HTTP/1.1\r\nHost: api.test\r\nAccept: text/html\r\nConnection: close\r\n\r\n";
    assert_eq!(raw::request(addr, not_acceptable).await.status, 406);
    let acceptable =
        "GET /a HTTP/1.1\r\nHost: api.test\r\nAccept: text/html, application/*;q=0.5\r\nConnection: close\r\n\r\n";
    assert_eq!(raw::request(addr, acceptable).await.status, 200);
    assert_eq!(upstream.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_must_be_what_they_declare_and_within_limits() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, GUARDED));
    let addr = gw.addr();
    let cases = [
        (post("/a", "application/json", "{\"a\":"), 400, "inspect.json.syntax"),
        (post("/a", "application/json", &format!("{}1{}", "[".repeat(6), "]".repeat(6))), 400, "inspect.json.depth"),
        (post("/a", "application/json", "{\"role\":\"user\",\"role\":\"admin\"}"), 400, "inspect.json.duplicate_key"),
        (
            post("/a", "application/json", &format!("{{\"a\":\"{}\"}}", "x".repeat(200))),
            400,
            "inspect.json.string_length",
        ),
        (post("/a", "application/json", "{\"a\":\"\\ud800\"}"), 400, "inspect.json.utf8"),
        (post("/a", "application/xml", "<a>unclosed"), 400, "inspect.xml.syntax"),
        (post("/a", "text/plain", &"x".repeat(5000)), 413, "inspect.body.too_large"),
    ];
    for (i, (request, status, expected)) in cases.iter().enumerate() {
        let resp = raw::request(addr, request).await;
        assert_eq!(resp.status, *status, "{request}");
        assert!(json(&resp.text())["error"].is_string());
        assert_eq!(reason(&gw, i + 1).await, *expected, "{request}");
    }
    // A chunked body over the limit is cut off while streaming.
    let chunk = "x".repeat(1000);
    let chunked: String = (0..6).map(|_| format!("3e8\r\n{chunk}\r\n")).collect();
    let req = format!(
        "POST /a HTTP/1.1\r\nHost: api.test\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunked}0\r\n\r\n"
    );
    assert_eq!(raw::request(addr, &req).await.status, 413);
    assert!(upstream.seen().iter().all(|s| s.body.len() <= 4096), "nothing over the limit arrived whole");
    assert!(upstream.seen().iter().all(|s| !s.body.starts_with(b"[")), "no refused JSON reached the upstream");
}

/// Found by the CRS corpus run (920470-8, 920620-1, 921421-6 and more): many
/// clients send a JSON Content-Type on every request, bodiless ones too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_bodiless_requests_declaring_json_or_xml_pass() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, GUARDED));
    let requests = [
        "GET /a HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "POST /a HTTP/1.1\r\nHost: api.test\r\nContent-Type: text/xml\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        // RFC 9112 §6.3: no Content-Length and no Transfer-Encoding means no body.
        "POST /a HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n",
    ];
    for request in requests {
        assert_eq!(raw::request(gw.addr(), request).await.status, 200, "{request}");
    }
    assert_eq!(upstream.count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_external_entities_and_bombs_never_reach_the_upstream() {
    let upstream = TestUpstream::start().await;
    let gw = Gateway::start(BIN, &config(&upstream, GUARDED));
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
    let laughs = "<!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]><l>&b;</l>";
    let pi = "<?xml-stylesheet href=\"evil.xsl\"?><r/>";
    let deep = format!("{}{}", "<a>".repeat(8), "</a>".repeat(8));
    let cases = [
        (xxe, "inspect.xml.dtd"),
        (laughs, "inspect.xml.dtd"),
        (pi, "inspect.xml.processing_instruction"),
        (&deep, "inspect.xml.depth"),
    ];
    for (i, (body, expected)) in cases.into_iter().enumerate() {
        let resp = raw::request(gw.addr(), &post("/x", "application/xml", body)).await;
        assert_eq!(resp.status, 400, "{body}");
        assert_eq!(reason(&gw, i + 1).await, expected);
    }
    assert_eq!(raw::request(gw.addr(), &post("/x", "application/xml", "<order><id>1</id></order>")).await.status, 200);
    assert_eq!(upstream.count(), 1);
    assert_eq!(&upstream.seen()[0].body[..], b"<order><id>1</id></order>", "the body is forwarded intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_masked_and_capped() {
    let upstream = TestUpstream::start().await;
    let routes = "  - name: masked
    prefix: /
    upstream: app
    policies:
      - type: response_mask
        fields: [ok]
      - type: response_size
        max: 1000
";
    let gw = Gateway::start(BIN, &config(&upstream, routes));
    let resp = raw::request(
        gw.addr(),
        "GET /user HTTP/1.1\r\nHost: api.test\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "{\"ok\":\"***\"}");
    assert_eq!(resp.header("content-length"), Some("12"));
    assert!(
        upstream.seen()[0].headers.get("accept-encoding").is_none(),
        "the upstream is asked for an uncompressed body"
    );
    let big = raw::get(gw.addr(), "api.test", "/big/5000").await;
    assert_eq!(big.status, 502);
    assert_eq!(json(&big.text())["error"], "bad_gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malware_uploads_are_refused_and_scanner_outages_fail_closed() {
    let clamd = Clamd::start();
    let upstream = TestUpstream::start().await;
    let routes = format!(
        "  - name: uploads
    prefix: /
    upstream: app
    policies:
      - type: body_size
        max: 1MiB
      - type: malware_scan
        clamd: tcp://{}
        content_types: [application/octet-stream, multipart/form-data]
        timeout: 5s
",
        clamd.addr
    );
    let gw = Gateway::start(BIN, &config(&upstream, &routes));
    let addr = gw.addr();
    let infected = raw::request(addr, &post("/upload", "application/octet-stream", EICAR)).await;
    assert_eq!(infected.status, 403);
    assert_eq!(reason(&gw, 1).await, "inspect.malware.found");
    let form = format!(
        "--b0und\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--b0und\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.com\"\r\nContent-Type: application/octet-stream\r\n\r\n{EICAR}\r\n--b0und--\r\n"
    );
    let in_form = raw::request(addr, &post("/upload", "multipart/form-data; boundary=b0und", &form)).await;
    assert_eq!(in_form.status, 403, "malware inside a multipart part is found");
    let clean = raw::request(addr, &post("/upload", "application/octet-stream", "just some bytes")).await;
    assert_eq!(clean.status, 200);
    assert_eq!(upstream.count(), 1, "only the clean upload reached the upstream");
    assert_eq!(&upstream.seen()[0].body[..], b"just some bytes");
    drop(clamd);
    let down = raw::request(addr, &post("/upload", "application/octet-stream", "more bytes")).await;
    assert_eq!(down.status, 503, "no scanner, no upload");
    assert_eq!(json(&down.text())["error"], "service_unavailable");
    assert_eq!(upstream.count(), 1);
}
