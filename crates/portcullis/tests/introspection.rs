//! Opaque bearer tokens at the gateway, checked by OAuth 2.0 token
//! introspection (RFC 7662) against an HTTPS authorization server run by
//! the test: active, inactive and mismatched tokens, an endpoint that
//! answers garbage, hangs or is down, and a burst of requests with one new
//! token.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use common::mtls::{self, Mtls};
use common::{BIN, Gateway, TestUpstream, raw};
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use portcullis_test_support::TempDir;
use portcullis_test_support::certs::TestCa;
use portcullis_test_support::https::HttpsServer;
use serde_json::{Value, json};

const CLIENT_ID: &str = "gateway";
const CLIENT_SECRET: &str = "a client secret";
const ISSUER: &str = "https://as.test";

/// One answer of the authorization server.
#[derive(Clone)]
struct Answer {
    body: String,
    delay: Duration,
}

impl Answer {
    fn json(value: &Value) -> Self {
        Self { body: value.to_string(), delay: Duration::ZERO }
    }
}

#[derive(Default)]
struct State {
    /// Answers by token; others are inactive.
    answers: HashMap<String, Answer>,
    /// Calls by token.
    calls: HashMap<String, usize>,
}

/// An HTTPS introspection endpoint with a certificate from a test CA,
/// accepting only the gateway's client credentials.
struct AuthServer {
    addr: SocketAddr,
    ca_pem: String,
    state: Arc<Mutex<State>>,
    _https: HttpsServer,
}

impl AuthServer {
    async fn start() -> Self {
        let ca = TestCa::new("authorization server test CA");
        let leaf = ca.leaf(&["127.0.0.1"]);
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let any = "127.0.0.1:0".parse().unwrap();
        let https = HttpsServer::start(any, &leaf.cert, &leaf.key, move |req| introspect(req, shared.clone())).await;
        Self { addr: https.addr, ca_pem: ca.cert_pem, state, _https: https }
    }

    fn answer(&self, token: &str, answer: Answer) {
        self.state.lock().unwrap().answers.insert(token.to_owned(), answer);
    }

    fn calls(&self, token: &str) -> usize {
        self.state.lock().unwrap().calls.get(token).copied().unwrap_or(0)
    }
}

async fn introspect(req: Request<Incoming>, state: Arc<Mutex<State>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{}", CLIENT_SECRET.replace(' ', "+")))
    );
    let authorized = req.headers().get("authorization").is_some_and(|v| v.as_bytes() == expected.as_bytes());
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8(body.to_vec()).unwrap();
    let token = body.split('&').find_map(|pair| pair.strip_prefix("token=")).unwrap_or_default().to_owned();
    let answer = {
        let mut state = state.lock().unwrap();
        *state.calls.entry(token.clone()).or_default() += 1;
        state.answers.get(&token).cloned().unwrap_or_else(|| Answer::json(&json!({ "active": false })))
    };
    if !authorized {
        return Ok(Response::builder().status(401).body(Full::new(Bytes::from_static(b"{}"))).unwrap());
    }
    tokio::time::sleep(answer.delay).await;
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(answer.body)))
        .unwrap())
}

fn now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn active(sub: &str) -> Value {
    json!({ "active": true, "sub": sub, "client_id": "app-1", "scope": "orders:read", "iss": ISSUER,
            "aud": ["api"], "exp": now() + 300, "groups": ["staff"], "tenant": "t-9" })
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A route `/{name}` whose `introspection` policy asks the endpoint on
/// `port` with the gateway's credentials (`client.secret`, trusting
/// `as-ca.pem`), then `extra` (YAML indented by 8, and further policies).
fn route(name: &str, port: u16, extra: &str) -> String {
    format!(
        "  - name: {name}
    prefix: /{name}
    upstream: app
    policies:
      - type: introspection
        endpoint: https://127.0.0.1:{port}/introspect
        client_id: {CLIENT_ID}
        client_secret: file:client.secret
        ca: as-ca.pem
{extra}"
    )
}

/// A new gateway directory holding the endpoint's CA and the client secret.
fn dir_for(server: &AuthServer) -> TempDir {
    let dir = TempDir::new();
    dir.write("as-ca.pem", &server.ca_pem);
    dir.write("client.secret", format!("{CLIENT_SECRET}\n"));
    dir
}

/// The gateway, with `/api` introspected at `server` and `/down` at a port
/// nothing listens on.
fn start(upstream: &TestUpstream, server: &AuthServer, workers: usize) -> Gateway {
    let dir = dir_for(server);
    let api = format!(
        "        issuer: {ISSUER}
        audiences: [api]
        timeout: 500ms
        groups_claim: groups
        claims_to_headers: {{ tenant: X-Tenant }}
      - type: authorize
        scopes: [orders:read]
"
    );
    let routes = route("api", server.addr.port(), &api) + &route("down", closed_port(), "");
    let config = common::config(upstream, &routes).replace("workers: 1", &format!("workers: {workers}"));
    Gateway::start_in(BIN, dir, &config)
}

async fn get(gw: &Gateway, path: &str, token: Option<&str>) -> raw::RawResponse {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    raw::request(gw.addr(), &format!("GET {path} HTTP/1.1\r\nHost: api\r\n{auth}Connection: close\r\n\r\n")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_tokens_pass_and_the_rest_are_refused() {
    let upstream = TestUpstream::start().await;
    let server = AuthServer::start().await;
    let gw = start(&upstream, &server, 1);
    server.answer("opaque-alice", Answer::json(&active("alice")));
    let mut other_audience = active("bob");
    other_audience["aud"] = json!("another-api");
    server.answer("opaque-audience", Answer::json(&other_audience));
    let mut other_issuer = active("bob");
    other_issuer["iss"] = json!("https://evil.test");
    server.answer("opaque-issuer", Answer::json(&other_issuer));
    let mut no_scope = active("carol");
    no_scope["scope"] = json!("orders:write");
    server.answer("opaque-noscope", Answer::json(&no_scope));

    let answer = get(&gw, "/api/orders", Some("opaque-alice")).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let seen = upstream.seen().pop().unwrap();
    assert_eq!(seen.headers.get("x-subject").unwrap(), "alice");
    assert_eq!(seen.headers.get("x-consumer-groups").unwrap(), "staff");
    assert_eq!(seen.headers.get("x-tenant").unwrap(), "t-9");
    assert_eq!(seen.headers.get("x-authenticated-by").unwrap(), "introspection");
    assert!(seen.headers.get("authorization").is_none(), "the token is not forwarded");
    // Remembered: the second request asks nobody.
    assert_eq!(get(&gw, "/api/orders", Some("opaque-alice")).await.status, 200);
    assert_eq!(server.calls("opaque-alice"), 1);

    for token in ["opaque-unknown", "opaque-audience", "opaque-issuer"] {
        let answer = get(&gw, "/api/orders", Some(token)).await;
        assert_eq!(answer.status, 401, "{token}: {}", answer.text());
        let challenge = answer.header("www-authenticate").unwrap_or_default();
        assert!(challenge.starts_with("Bearer") && challenge.contains("invalid_token"), "{token}: {challenge}");
    }
    // An inactive answer is remembered too.
    assert_eq!(get(&gw, "/api/orders", Some("opaque-unknown")).await.status, 401);
    assert_eq!(server.calls("opaque-unknown"), 1);

    let missing = get(&gw, "/api/orders", None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer realm=\"portcullis\""));
    assert_eq!(get(&gw, "/api/orders", Some("opaque-noscope")).await.status, 403, "active but without the scope");
    let in_url = raw::request(
        gw.addr(),
        "GET /api/orders?access_token=opaque-alice HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer opaque-alice\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(in_url.status, 401);
    assert_eq!(upstream.count(), 2, "only the active token got through");

    let reasons = [
        "auth.introspection.inactive",
        "auth.introspection.audience",
        "auth.introspection.issuer",
        "auth.introspection.missing",
        "auth.introspection.in_url",
        "authz.scope",
    ];
    let log = gw.access_log_with(&reasons, Duration::from_secs(5));
    for reason in reasons {
        assert!(log.contains(reason), "{reason} missing from\n{log}");
    }
    // Refused tokens are known in the log by a short digest, never in clear.
    let inactive = common::credentials_logged(&log, "auth.introspection.inactive");
    assert!(inactive.contains(&common::short_sha256("opaque-unknown")), "{log}");
    let in_url = common::credentials_logged(&log, "auth.introspection.in_url");
    assert_eq!(in_url, [common::short_sha256("opaque-alice")]);
    assert!(common::credentials_logged(&log, "auth.introspection.missing").is_empty(), "nothing was presented");
    for token in ["opaque-unknown", "opaque-audience", "opaque-issuer", "opaque-alice"] {
        assert!(!log.contains(token), "{token} reached the access log");
    }
    assert!(!log.contains("opaque-alice"), "a token reached the access log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_a_hung_endpoint_and_an_outage_fail_closed() {
    let upstream = TestUpstream::start().await;
    let server = AuthServer::start().await;
    let gw = start(&upstream, &server, 1);
    server.answer("opaque-garbage", Answer { body: "<html>oops</html>".to_owned(), delay: Duration::ZERO });
    server
        .answer("opaque-yes", Answer { body: r#"{"active":"yes","sub":"mallory"}"#.to_owned(), delay: Duration::ZERO });
    server.answer("opaque-slow", Answer { delay: Duration::from_secs(3), ..Answer::json(&active("alice")) });

    for token in ["opaque-garbage", "opaque-yes", "opaque-garbage"] {
        let answer = get(&gw, "/api/orders", Some(token)).await;
        assert_eq!(answer.status, 503, "{token}: {}", answer.text());
    }
    assert_eq!(server.calls("opaque-garbage"), 2, "a garbage answer is not remembered as a negative one");

    let started = std::time::Instant::now();
    let slow = get(&gw, "/api/orders", Some("opaque-slow")).await;
    assert_eq!(slow.status, 503, "{}", slow.text());
    assert!(started.elapsed() < Duration::from_millis(2500), "the 500ms timeout held: {:?}", started.elapsed());

    let down = get(&gw, "/down/orders", Some("opaque-alice")).await;
    assert_eq!(down.status, 503, "{}", down.text());
    assert_eq!(upstream.count(), 0, "nothing reached the upstream");

    // Once the endpoint answers properly, the very next request passes.
    server.answer("opaque-garbage", Answer::json(&active("alice")));
    assert_eq!(get(&gw, "/api/orders", Some("opaque-garbage")).await.status, 200);

    let log = gw.access_log(6, Duration::from_secs(5));
    let unavailable = log.iter().filter(|l| l.contains("auth.introspection.unavailable")).count();
    assert_eq!(unavailable, 5, "{log:#?}");
    assert!(!log.iter().any(|l| l.contains("opaque-")), "a token reached the access log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_with_one_new_token_makes_one_call() {
    let upstream = TestUpstream::start().await;
    let server = AuthServer::start().await;
    let gw = start(&upstream, &server, 2);
    server.answer("opaque-burst", Answer { delay: Duration::from_millis(300), ..Answer::json(&active("alice")) });
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let addr = gw.addr();
        requests.spawn(async move {
            raw::request(
                addr,
                "GET /api/orders HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer opaque-burst\r\nConnection: close\r\n\r\n",
            )
            .await
        });
    }
    while let Some(answer) = requests.join_next().await {
        let answer = answer.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    assert_eq!(server.calls("opaque-burst"), 1);
    assert_eq!(upstream.count(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_bound_opaque_token_works_only_with_its_certificate() {
    let upstream = TestUpstream::start().await;
    let server = AuthServer::start().await;
    let dir = dir_for(&server);
    let ca = Mtls::new(&dir);
    let route = route("bound", server.addr.port(), "        certificate_bound: required\n");
    let gw = Gateway::start_in(BIN, dir, &mtls::with_listener(&common::config(&upstream, &route)));
    let (alice, mallory) = (ca.clients.leaf(&["alice"]), ca.clients.leaf(&["mallory"]));
    let mut bound = active("alice");
    bound["cnf"] = json!({ "x5t#S256": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mtls::sha256(&alice)) });
    server.answer("opaque-bound", Answer::json(&bound));
    server.answer("opaque-plain", Answer::json(&active("alice")));
    let bearer = |token: &str| format!("Bearer {token}");
    let (bound, plain) = (bearer("opaque-bound"), bearer("opaque-plain"));
    for _ in 0..2 {
        let ok = ca.get(&gw, Some(&alice), "/bound", &[("Authorization", &bound)]).await.unwrap();
        assert_eq!(ok.status, 200, "{}", ok.text());
    }
    assert_eq!(server.calls("opaque-bound"), 1, "the second answer was remembered, and its binding checked again");
    let replays = [
        ("without a certificate", ca.get(&gw, None, "/bound", &[("Authorization", &bound)]).await),
        (
            "with another client's certificate",
            ca.get(&gw, Some(&mallory), "/bound", &[("Authorization", &bound)]).await,
        ),
        ("unbound", ca.get(&gw, Some(&alice), "/bound", &[("Authorization", &plain)]).await),
    ];
    for (what, answer) in replays {
        let answer = answer.unwrap();
        assert_eq!(answer.status, 401, "{what}: {}", answer.text());
        assert_eq!(answer.header("www-authenticate"), Some("Bearer realm=\"portcullis\", error=\"invalid_token\""));
    }
    assert_eq!(upstream.count(), 2);
    let reasons =
        ["auth.introspection.cnf_no_certificate", "auth.introspection.cnf_mismatch", "auth.introspection.cnf_missing"];
    let log = gw.access_log_with(&reasons, Duration::from_secs(5));
    for reason in reasons {
        assert!(log.contains(reason), "{reason} missing from\n{log}");
    }
}
