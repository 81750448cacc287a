//! TLS listeners: versions and suites, SNI, HTTP/2 by ALPN, mutual TLS,
//! redirects, and verified TLS to upstreams.

mod common;

use common::{BIN, Gateway, TestUpstream, raw};
use portcullis_test_support::TempDir;
use portcullis_test_support::certs::TestCa;
use portcullis_test_support::tls::TlsClient;

const GET: &str = "GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";

struct Setup {
    ca: TestCa,
    gw: Gateway,
    _upstream: TestUpstream,
}

/// A gateway with an HTTPS listener (certificates for a.test and b.test),
/// an mTLS listener and a redirecting plain listener.
async fn setup() -> Setup {
    let upstream = TestUpstream::start().await;
    let ca = TestCa::new("Test CA");
    let clients = TestCa::new("Client CA");
    let dir = TempDir::new();
    for (name, pem) in [("a", ca.leaf(&["a.test"])), ("b", ca.leaf(&["b.test", "*.b.test"]))] {
        dir.write(&format!("{name}.pem"), &pem.cert);
        dir.write(&format!("{name}.key"), &pem.key);
    }
    dir.write("clients.pem", &clients.cert_pem);
    let client = clients.leaf(&["partner-1"]);
    dir.write("client.pem", &client.cert);
    dir.write("client.key", &client.key);
    let config = format!(
        "workers: 1
listeners:
  - name: https
    listen: 127.0.0.1:0
    tls:
      certificates:
        - {{ cert: a.pem, key: file:a.key }}
        - {{ cert: b.pem, key: b.key }}
  - name: mtls
    listen: 127.0.0.1:0
    tls:
      certificates: [{{ cert: a.pem, key: a.key }}]
      client_auth: {{ ca: clients.pem, required: true }}
  - name: redirect
    listen: 127.0.0.1:0
    redirect_https: {{ port: 8443 }}
upstream_allowlist: [127.0.0.1]
upstreams:
  - name: app
    targets: [{}]
routes:
  - name: all
    hosts: [a.test, b.test, \"*.b.test\"]
    prefix: /
    upstream: app
access_log: {{ enabled: false }}
",
        upstream.url()
    );
    let gw = Gateway::start_in(BIN, dir, &config);
    Setup { ca, gw, _upstream: upstream }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls13_and_tls12_with_aead_suites_and_hsts() {
    let s = setup().await;
    let addr = s.gw.listener("https");
    let mut client = TlsClient::new(&s.ca.cert_pem, "a.test");
    let out = client.exchange(addr, Some(GET)).await.unwrap();
    assert_eq!(out.version, "TLSv1_3");
    let resp = out.response.unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("strict-transport-security"), Some("max-age=31536000; includeSubDomains"));
    client.tls12_only = true;
    let out = client.exchange(addr, Some(GET)).await.unwrap();
    assert_eq!(out.version, "TLSv1_2");
    assert!(
        out.suite.starts_with("TLS_ECDHE_") && (out.suite.contains("GCM") || out.suite.contains("CHACHA20")),
        "{}",
        out.suite
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_is_chosen_by_sni() {
    let s = setup().await;
    let addr = s.gw.listener("https");
    let a = TlsClient::new(&s.ca.cert_pem, "a.test").exchange(addr, None).await.unwrap();
    let b = TlsClient::new(&s.ca.cert_pem, "b.test").exchange(addr, None).await.unwrap();
    let wild = TlsClient::new(&s.ca.cert_pem, "x.b.test").exchange(addr, None).await.unwrap();
    assert_ne!(a.server_cert, b.server_cert);
    assert_eq!(b.server_cert, wild.server_cert);
    // An unknown name gets the default certificate, which then fails verification.
    assert!(TlsClient::new(&s.ca.cert_pem, "c.test").exchange(addr, None).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_negotiated_by_alpn() {
    let s = setup().await;
    let mut client = TlsClient::new(&s.ca.cert_pem, "a.test");
    client.alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let out = client.exchange(s.gw.listener("https"), None).await.unwrap();
    assert_eq!(out.alpn.as_deref(), Some(&b"h2"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_certificate_from_the_client_ca() {
    let s = setup().await;
    let addr = s.gw.listener("mtls");
    let mut client = TlsClient::new(&s.ca.cert_pem, "a.test");
    let anonymous = client.exchange(addr, Some(GET)).await;
    assert!(anonymous.is_err() || anonymous.unwrap().response.is_none(), "no client certificate, no answer");
    client.client_cert = Some(s.ca.leaf(&["intruder"]));
    let wrong_ca = client.exchange(addr, Some(GET)).await;
    assert!(wrong_ca.is_err() || wrong_ca.unwrap().response.is_none(), "a certificate from another CA is refused");
    client.client_cert = Some(portcullis_test_support::certs::Pem {
        cert: std::fs::read_to_string(s.gw.dir.path().join("client.pem")).unwrap(),
        key: std::fs::read_to_string(s.gw.dir.path().join("client.key")).unwrap(),
    });
    let ok = client.exchange(addr, Some(GET)).await.unwrap();
    assert_eq!(ok.response.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_listener_redirects_known_hosts_to_https() {
    let s = setup().await;
    let addr = s.gw.listener("redirect");
    let resp = raw::get(addr, "a.test", "/v1/x?y=1").await;
    assert_eq!(resp.status, 308);
    assert_eq!(resp.header("location"), Some("https://a.test:8443/v1/x?y=1"));
    assert_eq!(raw::get(addr, "evil.test", "/").await.status, 421, "no open redirect to foreign hosts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_tls_is_verified() {
    let ca = TestCa::new("Internal CA");
    let other = TestCa::new("Other CA");
    let upstream = TestUpstream::start_tls(&ca.leaf(&["localhost"])).await;
    let dir = TempDir::new();
    dir.write("internal-ca.pem", &ca.cert_pem);
    dir.write("other-ca.pem", &other.cert_pem);
    let config = |ca_file: &str| {
        format!(
            "workers: 1
listeners: [{{ name: public, listen: 127.0.0.1:0 }}]
upstream_allowlist: [localhost]
upstreams:
  - name: secure
    targets: [https://localhost:{port}]
    tls: {{ ca: {ca_file} }}
routes: [{{ name: all, prefix: /, upstream: secure }}]
access_log: {{ enabled: false }}
",
            port = upstream.addr.port()
        )
    };
    let trusted = Gateway::start_in(BIN, dir, &config("internal-ca.pem"));
    assert_eq!(raw::get(trusted.addr(), "api.test", "/ok").await.status, 200);
    assert_eq!(upstream.count(), 1);
    assert_eq!(upstream.seen()[0].version, http::Version::HTTP_11);
    assert_eq!(upstream.seen()[0].headers["host"], format!("localhost:{}", upstream.addr.port()));
    // HTTP/2 to the upstream when it is offered and negotiated.
    trusted.rewrite_config(&config("internal-ca.pem").replace("tls: {", "http2: true\n    tls: {"));
    trusted.signal("HUP");
    assert!(trusted.wait_for_log("generation=2", std::time::Duration::from_secs(5)));
    for _ in 0..2 {
        assert_eq!(raw::get(trusted.addr(), "api.test", "/h2").await.status, 200);
    }
    let seen = upstream.seen();
    assert_eq!((seen[1].version, seen[2].version), (http::Version::HTTP_2, http::Version::HTTP_2));
    assert_eq!(seen[1].target, "/h2");
    trusted.rewrite_config(&config("other-ca.pem"));
    trusted.signal("HUP");
    assert!(trusted.wait_for_log("generation=3", std::time::Duration::from_secs(5)));
    let resp = raw::get(trusted.addr(), "api.test", "/ok").await;
    assert_eq!(resp.status, 502, "an upstream certificate from an untrusted CA is refused");
    assert_eq!(upstream.count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_requests_are_proxied() {
    use http_body_util::{BodyExt, Empty};
    let s = setup().await;
    let mut client = TlsClient::new(&s.ca.cert_pem, "a.test");
    client.alpn = vec![b"h2".to_vec()];
    let stream = client.connect(s.gw.listener("https")).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    for path in ["/one", "/two"] {
        let req = http::Request::get(format!("https://a.test{path}")).body(Empty::<bytes::Bytes>::new()).unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert!(resp.headers().contains_key("strict-transport-security"));
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"{\"ok\":true}");
    }
    let seen = s._upstream.seen();
    assert_eq!(seen.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(), ["/one", "/two"]);
    assert_eq!(seen[0].headers["x-forwarded-proto"], "https");
}
