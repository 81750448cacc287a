//! The introspector against an in-process HTTPS authorization server that checks client authentication, counts
//! calls, and can answer slowly, with garbage, or not at all.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use portcullis_test_support::https::HttpsServer;
use serde_json::json;

use super::*;

const CLIENT_ID: &str = "gateway:1";
const CLIENT_SECRET: &str = "s3cret +/&=é";

fn unix_now() -> i64 {
    now_unix_ms() / 1000
}

/// A CA and a server certificate for 127.0.0.1.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

impl Pki {
    fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name.push(DnType::CommonName, "introspection test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        let key = KeyPair::generate().unwrap();
        let cert = leaf.signed_by(&key, &issuer).unwrap();
        Self { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() }
    }
}

/// One answer of the server.
#[derive(Clone)]
struct Canned {
    status: u16,
    body: String,
    delay: Duration,
}

impl Canned {
    fn json(value: &serde_json::Value) -> Self {
        Self { status: 200, body: value.to_string(), delay: Duration::ZERO }
    }

    fn raw(body: &str) -> Self {
        Self { status: 200, body: body.to_owned(), delay: Duration::ZERO }
    }

    fn slow(self, delay: Duration) -> Self {
        Self { delay, ..self }
    }
}

/// What the server saw of one call.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    content_type: Option<String>,
    accept: Option<String>,
    body: String,
}

#[derive(Default)]
struct State {
    /// Answers by token; tokens not listed are inactive.
    answers: HashMap<String, Canned>,
    seen: Vec<Seen>,
}

/// An HTTPS introspection endpoint on 127.0.0.1 that accepts only `CLIENT_ID` / `CLIENT_SECRET`.
struct Server {
    https: HttpsServer,
    pki: Arc<Pki>,
    state: Arc<Mutex<State>>,
}

impl Server {
    async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), Arc::new(Pki::new()), Arc::default()).await
    }

    async fn start_on(addr: SocketAddr, pki: Arc<Pki>, state: Arc<Mutex<State>>) -> Self {
        let shared = state.clone();
        let https = HttpsServer::start(addr, &pki.cert_pem, &pki.key_pem, move |req| answer(req, shared.clone())).await;
        Self { https, pki, state }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/introspect", self.https.addr.port())
    }

    fn config(&self) -> IntrospectionConfig {
        let mut config = IntrospectionConfig::new(self.url(), CLIENT_ID, CLIENT_SECRET);
        config.trust = TrustRoots::CaPem(self.pki.ca_pem.clone());
        config
    }

    fn answer(&self, token: &str, canned: Canned) {
        self.state.lock().unwrap().answers.insert(token.to_owned(), canned);
    }

    fn calls(&self) -> usize {
        self.state.lock().unwrap().seen.len()
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Stops listening (and drops every open connection).
    fn stop(&self) {
        self.https.stop();
    }
}

/// The decoded value of `name` in a form body.
fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn expected_authorization() -> String {
    let credentials = format!("{}:{}", percent_encode_for_test(CLIENT_ID), percent_encode_for_test(CLIENT_SECRET));
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
}

/// An independent form encoder for the expected header (every byte but unreserved ones escaped).
fn percent_encode_for_test(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => char::from(b).to_string(),
            b' ' => "+".to_owned(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

async fn answer(req: Request<Incoming>, state: Arc<Mutex<State>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name| req.headers().get(name).and_then(|v: &http::HeaderValue| v.to_str().ok()).map(str::to_owned);
    let (authorization, content_type, accept) =
        (header(header::AUTHORIZATION), header(header::CONTENT_TYPE), header(header::ACCEPT));
    let post = req.method() == http::Method::POST && req.uri().path() == "/introspect";
    let body = String::from_utf8(req.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let token = form_value(&body, "token").unwrap_or_default();
    let canned = {
        let mut state = state.lock().unwrap();
        state.seen.push(Seen { authorization: authorization.clone(), content_type, accept, body });
        if !post {
            Canned { status: 405, ..Canned::raw("") }
        } else if authorization.as_deref() != Some(expected_authorization().as_str()) {
            Canned { status: 401, ..Canned::raw(r#"{"error":"invalid_client"}"#) }
        } else {
            state.answers.get(&token).cloned().unwrap_or_else(|| Canned::json(&json!({ "active": false })))
        }
    };
    tokio::time::sleep(canned.delay).await;
    let response = Response::builder()
        .status(canned.status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(canned.body)))
        .unwrap();
    Ok(response)
}

fn active(sub: &str) -> serde_json::Value {
    json!({ "active": true, "sub": sub, "client_id": "app-1", "scope": "orders:read orders:write",
            "iss": "https://as.example", "aud": ["api", "other"], "exp": unix_now() + 300,
            "iat": unix_now(), "jti": "j-1", "groups": ["staff"], "tenant": "t-9" })
}

fn active_token(outcome: Outcome) -> Arc<ActiveToken> {
    match outcome {
        Ok(Introspection::Active(token)) => token,
        other => panic!("expected an active token, got {other:?}"),
    }
}

fn refusal(outcome: Outcome) -> Refusal {
    match outcome {
        Ok(Introspection::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_active_token_yields_its_claims() {
    let server = Server::start().await;
    server.answer("opaque-1", Canned::json(&active("alice")));
    let introspector = Introspector::new(server.config()).unwrap();
    let token = active_token(introspector.introspect("opaque-1").await);
    assert_eq!(token.sub(), Some("alice"));
    assert_eq!(token.subject(), Some("alice"));
    assert_eq!(token.client_id(), Some("app-1"));
    assert_eq!(token.scopes(), ["orders:read", "orders:write"]);
    assert_eq!(token.audiences(), ["api", "other"]);
    assert_eq!(token.iss(), Some("https://as.example"));
    assert_eq!(token.jti(), Some("j-1"));
    assert!(token.exp().unwrap() > unix_now());
    assert_eq!(token.claim_as_header_value("tenant").as_deref(), Some("t-9"));
    assert_eq!(token.get("groups"), Some(&json!(["staff"])));

    // What went over the wire: client_secret_basic with both parts form-encoded, a form body, JSON accepted.
    let seen = server.seen().pop().unwrap();
    assert_eq!(seen.authorization.as_deref(), Some(expected_authorization().as_str()));
    assert_eq!(seen.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    assert_eq!(seen.accept.as_deref(), Some("application/json"));
    assert_eq!(seen.body, "token=opaque-1&token_type_hint=access_token");

    // Remembered: no second call.
    assert!(matches!(introspector.cached("opaque-1"), Some(Introspection::Active(_))));
    active_token(introspector.introspect("opaque-1").await);
    assert_eq!((server.calls(), introspector.calls()), (1, 1));

    // A client-credentials token without sub speaks for its client.
    server.answer("cc", Canned::json(&json!({ "active": true, "client_id": "svc-7" })));
    assert_eq!(active_token(introspector.introspect("cc").await).subject(), Some("svc-7"));
}

#[tokio::test]
async fn tokens_are_form_encoded_in_the_body() {
    let server = Server::start().await;
    let odd = "a+b/c=d&e f%";
    server.answer(odd, Canned::json(&json!({ "active": true, "sub": "odd" })));
    let introspector = Introspector::new(server.config()).unwrap();
    assert_eq!(active_token(introspector.introspect(odd).await).sub(), Some("odd"));
    assert_eq!(server.seen()[0].body, "token=a%2Bb%2Fc%3Dd%26e+f%25&token_type_hint=access_token");
}

#[tokio::test]
async fn inactive_expired_and_mismatched_tokens_are_refused() {
    let server = Server::start().await;
    let mut config = server.config();
    config.issuer = Some("https://as.example".to_owned());
    config.audiences = vec!["api".to_owned()];
    let introspector = Introspector::new(config).unwrap();

    assert_eq!(refusal(introspector.introspect("unknown").await), Refusal::Inactive);
    let mut expired = active("bob");
    expired["exp"] = json!(unix_now() - 1);
    server.answer("expired", Canned::json(&expired));
    assert_eq!(refusal(introspector.introspect("expired").await), Refusal::Inactive);
    let mut wrong_iss = active("bob");
    wrong_iss["iss"] = json!("https://evil.example");
    server.answer("wrong-iss", Canned::json(&wrong_iss));
    assert_eq!(refusal(introspector.introspect("wrong-iss").await), Refusal::Issuer);
    let mut no_iss = active("bob");
    no_iss.as_object_mut().unwrap().remove("iss");
    server.answer("no-iss", Canned::json(&no_iss));
    assert_eq!(refusal(introspector.introspect("no-iss").await), Refusal::Issuer);
    let mut wrong_aud = active("bob");
    wrong_aud["aud"] = json!("other");
    server.answer("wrong-aud", Canned::json(&wrong_aud));
    assert_eq!(refusal(introspector.introspect("wrong-aud").await), Refusal::Audience);
    server.answer("good", Canned::json(&active("bob")));
    active_token(introspector.introspect("good").await);

    // Too long: refused without a call.
    let calls = server.calls();
    let huge = "x".repeat(crate::config::DEFAULT_MAX_TOKEN_BYTES + 1);
    assert_eq!(refusal(introspector.introspect(&huge).await), Refusal::TooLarge);
    assert_eq!(server.calls(), calls);
    assert_eq!(Refusal::Inactive.reason(), "auth.introspection.inactive");
    assert_eq!(Refusal::Issuer.reason(), "auth.introspection.issuer");
    assert_eq!(Refusal::Audience.reason(), "auth.introspection.audience");
    assert_eq!(Refusal::TooLarge.reason(), "auth.introspection.too_large");
}

#[tokio::test]
async fn a_wrong_client_secret_makes_the_endpoint_unavailable() {
    let server = Server::start().await;
    server.answer("opaque-1", Canned::json(&active("alice")));
    let mut config = server.config();
    config.client_secret = b"not the secret".to_vec();
    let introspector = Introspector::new(config).unwrap();
    let error = introspector.introspect("opaque-1").await.unwrap_err();
    assert!(matches!(error, IntrospectionError::Fetch(FetchError::Status { status: 401, .. })), "{error:?}");
    assert_eq!(error.reason(), "auth.introspection.unavailable");
    // Not remembered as inactive: every request asks again.
    assert!(introspector.cached("opaque-1").is_none());
    introspector.introspect("opaque-1").await.unwrap_err();
    assert_eq!(server.calls(), 2);
}

#[tokio::test]
async fn garbage_answers_are_errors_and_not_remembered() {
    let server = Server::start().await;
    let introspector = Introspector::new(server.config()).unwrap();
    let garbage = [
        "not json",
        "",
        "[]",
        "{}",
        r#"{"active":"yes"}"#,
        r#"{"active":1}"#,
        r#"{"active":null}"#,
        r#"{"active":true,"active":false}"#,
        r#"{"active":true,"exp":"tomorrow"}"#,
        r#"{"active":true,"sub":42}"#,
        r#"{"active":true,"scope":["a","b"]}"#,
        r#"{"active":true,"aud":5}"#,
        r#"{"active":true,"aud":["a",5]}"#,
        r#"{"active":true} trailing"#,
    ];
    for (i, body) in garbage.iter().enumerate() {
        let token = format!("garbage-{i}");
        server.answer(&token, Canned::raw(body));
        let error = introspector.introspect(&token).await.unwrap_err();
        assert!(matches!(error, IntrospectionError::Garbage { .. }), "{body}: {error:?}");
        assert!(introspector.cached(&token).is_none(), "{body}");
    }
    let many: serde_json::Map<String, serde_json::Value> =
        (0..300).map(|i| (format!("m{i}"), json!(i))).chain([("active".to_owned(), json!(true))]).collect();
    server.answer("many", Canned::json(&serde_json::Value::Object(many)));
    assert!(matches!(introspector.introspect("many").await, Err(IntrospectionError::Garbage { .. })));
    // A 5xx, or a body over 64 KiB, fails the same way.
    server.answer("5xx", Canned { status: 500, ..Canned::raw("{}") });
    assert!(matches!(
        introspector.introspect("5xx").await,
        Err(IntrospectionError::Fetch(FetchError::Status { status: 500, .. }))
    ));
    let big = json!({ "active": true, "pad": "x".repeat(70 * 1024) });
    server.answer("big", Canned::json(&big));
    assert!(matches!(
        introspector.introspect("big").await,
        Err(IntrospectionError::Fetch(FetchError::TooLarge { .. }))
    ));
    // Nulls count as absent.
    server.answer("nulls", Canned::raw(r#"{"active":true,"sub":null,"exp":null,"aud":null,"client_id":"c"}"#));
    assert_eq!(active_token(introspector.introspect("nulls").await).subject(), Some("c"));
}

#[tokio::test]
async fn a_slow_endpoint_times_out_within_the_deadline() {
    let server = Server::start().await;
    server.answer("slow", Canned::json(&active("alice")).slow(Duration::from_secs(5)));
    let mut config = server.config();
    config.timeout = Duration::from_millis(300);
    let introspector = Introspector::new(config).unwrap();
    let started = Instant::now();
    let error = introspector.introspect("slow").await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(error, IntrospectionError::Fetch(FetchError::Timeout { .. })), "{error:?}");
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(1500), "{elapsed:?}");
    assert!(introspector.cached("slow").is_none());
}

#[tokio::test]
async fn the_positive_ttl_never_outlives_exp() {
    let server = Server::start().await;
    let mut soon = active("alice");
    soon["exp"] = json!(unix_now() + 2);
    server.answer("soon", Canned::json(&soon));
    server.answer("later", Canned::json(&active("bob")));
    let mut config = server.config();
    config.positive_ttl = Duration::from_secs(60);
    let introspector = Introspector::new(config).unwrap();
    active_token(introspector.introspect("soon").await);
    active_token(introspector.introspect("later").await);
    active_token(introspector.introspect("soon").await);
    assert_eq!(server.calls(), 2, "remembered while unexpired");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(introspector.cached("soon").is_none(), "forgotten at exp");
    assert!(introspector.cached("later").is_some(), "remembered for the positive TTL");
    // Asked again: the server still says active, but exp has passed.
    assert_eq!(refusal(introspector.introspect("soon").await), Refusal::Inactive);
    assert_eq!(server.calls(), 3);
}

#[tokio::test]
async fn the_ttls_bound_how_long_answers_are_remembered() {
    let server = Server::start().await;
    server.answer("good", Canned::json(&active("alice")));
    let mut config = server.config();
    config.positive_ttl = Duration::from_millis(300);
    config.negative_ttl = Duration::from_millis(300);
    let introspector = Introspector::new(config).unwrap();
    assert_eq!(refusal(introspector.introspect("bad").await), Refusal::Inactive);
    active_token(introspector.introspect("good").await);
    assert_eq!(refusal(introspector.introspect("bad").await), Refusal::Inactive);
    active_token(introspector.introspect("good").await);
    assert!(matches!(introspector.cached("bad"), Some(Introspection::Refused(Refusal::Inactive))));
    assert_eq!(server.calls(), 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(introspector.cached("bad").is_none() && introspector.cached("good").is_none());
    // Now active: the negative answer did not outlive its TTL.
    server.answer("bad", Canned::json(&active("carol")));
    assert_eq!(active_token(introspector.introspect("bad").await).sub(), Some("carol"));
    active_token(introspector.introspect("good").await);
    assert_eq!(server.calls(), 4);

    // Zero TTLs remember nothing.
    let mut config = server.config();
    config.positive_ttl = Duration::ZERO;
    config.negative_ttl = Duration::ZERO;
    let forgetful = Introspector::new(config).unwrap();
    active_token(forgetful.introspect("good").await);
    active_token(forgetful.introspect("good").await);
    assert_eq!(forgetful.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_with_one_token_makes_one_call() {
    let server = Server::start().await;
    server.answer("burst", Canned::json(&active("alice")).slow(Duration::from_millis(300)));
    server.answer("other", Canned::json(&active("bob")).slow(Duration::from_millis(300)));
    let introspector = Introspector::new(server.config()).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let introspector = introspector.clone();
        let token = if i % 6 == 5 { "other" } else { "burst" };
        tasks.spawn(async move { (token, introspector.introspect(token).await) });
    }
    let mut answered = HashMap::new();
    while let Some(result) = tasks.join_next().await {
        let (token, outcome) = result.unwrap();
        let expected = if token == "burst" { "alice" } else { "bob" };
        assert_eq!(active_token(outcome).sub(), Some(expected));
        *answered.entry(token).or_insert(0) += 1;
    }
    assert_eq!((answered["burst"], answered["other"]), (50, 10));
    let posts =
        |token: &str| server.seen().iter().filter(|s| form_value(&s.body, "token").as_deref() == Some(token)).count();
    assert_eq!((posts("burst"), posts("other")), (1, 1), "one call per distinct token");
    assert_eq!(introspector.calls(), 2);
    assert!(introspector.inner.in_flight.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_goes_away_does_not_cancel_the_call() {
    let server = Server::start().await;
    server.answer("t", Canned::json(&active("alice")).slow(Duration::from_millis(300)));
    let introspector = Introspector::new(server.config()).unwrap();
    for _ in 0..5 {
        let _ = tokio::time::timeout(Duration::from_millis(20), introspector.introspect("t")).await;
    }
    active_token(introspector.introspect("t").await);
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn calls_in_flight_are_bounded() {
    let server = Server::start().await;
    server.answer("t", Canned::json(&active("alice")));
    let mut config = server.config();
    config.max_concurrent_calls = 2;
    config.timeout = Duration::from_millis(300);
    let introspector = Introspector::new(config).unwrap();
    // Both slots taken (as by two calls to an endpoint that hangs): the next call waits, then gives up.
    let held = introspector.inner.slots.acquire_many(2).await.unwrap();
    let started = Instant::now();
    let error = introspector.introspect("t").await.unwrap_err();
    assert!(matches!(error, IntrospectionError::Busy { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!((server.calls(), introspector.calls()), (0, 0));
    drop(held);
    active_token(introspector.introspect("t").await);
    assert_eq!(server.calls(), 1);
}

#[tokio::test]
async fn an_endpoint_that_is_down_fails_and_recovery_is_immediate() {
    // Reserve a port, and keep nothing listening on it yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let pki = Arc::new(Pki::new());
    let url = format!("https://127.0.0.1:{}/introspect", addr.port());
    let mut config = IntrospectionConfig::new(url, CLIENT_ID, CLIENT_SECRET);
    config.trust = TrustRoots::CaPem(pki.ca_pem.clone());
    let introspector = Introspector::new(config).unwrap();

    let error = introspector.introspect("opaque-1").await.unwrap_err();
    assert!(matches!(error, IntrospectionError::Fetch(FetchError::Transport { .. })), "{error:?}");
    assert!(introspector.cached("opaque-1").is_none());

    let state = Arc::new(Mutex::new(State::default()));
    let server = Server::start_on(addr, pki.clone(), state.clone()).await;
    server.answer("opaque-1", Canned::json(&active("alice")));
    assert_eq!(active_token(introspector.introspect("opaque-1").await).sub(), Some("alice"));

    // Down again: what was remembered keeps working, a new token fails closed.
    server.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    active_token(introspector.introspect("opaque-1").await);
    assert!(introspector.introspect("opaque-2").await.is_err());
    drop(server);
    let server = Server::start_on(addr, pki, state).await;
    server.answer("opaque-2", Canned::json(&active("bob")));
    assert_eq!(active_token(introspector.introspect("opaque-2").await).sub(), Some("bob"));
}

#[test]
fn configuration_is_checked() {
    let ok = || IntrospectionConfig::new("https://as.example/introspect", "gw", "secret");
    Introspector::new(ok()).unwrap();
    let refused = |config: IntrospectionConfig| Introspector::new(config).unwrap_err();
    for url in ["http://as.example/introspect", "https://user:pw@as.example/", "/introspect", ""] {
        assert!(
            matches!(
                refused(IntrospectionConfig { endpoint: url.to_owned(), ..ok() }),
                IntrospectionConfigError::Endpoint { .. }
            ),
            "{url}"
        );
    }
    assert_eq!(
        refused(IntrospectionConfig { client_id: String::new(), ..ok() }),
        IntrospectionConfigError::EmptyClientId
    );
    assert_eq!(
        refused(IntrospectionConfig { client_secret: Vec::new(), ..ok() }),
        IntrospectionConfigError::EmptyClientSecret
    );
    assert_eq!(
        refused(IntrospectionConfig { issuer: Some(String::new()), ..ok() }),
        IntrospectionConfigError::EmptyIssuer
    );
    assert_eq!(
        refused(IntrospectionConfig { audiences: vec![String::new()], ..ok() }),
        IntrospectionConfigError::EmptyAudience
    );
    assert_eq!(
        refused(IntrospectionConfig { timeout: Duration::ZERO, ..ok() }),
        IntrospectionConfigError::Zero("timeout")
    );
    assert_eq!(
        refused(IntrospectionConfig { max_concurrent_calls: 0, ..ok() }),
        IntrospectionConfigError::Zero("max_concurrent_calls")
    );
    assert!(matches!(
        refused(IntrospectionConfig { trust: TrustRoots::CaPem("no cert".into()), ..ok() }),
        IntrospectionConfigError::TrustRoots(_)
    ));
    // The secret never shows in Debug.
    let shown = format!("{:?}", IntrospectionConfig::new("https://as.example/", "gw", "hunter2-secret"));
    assert!(!shown.contains("hunter2") && shown.contains("<14 bytes>"), "{shown}");
    let introspector =
        Introspector::new(IntrospectionConfig::new("https://as.example/", "gw", "hunter2-secret")).unwrap();
    assert!(!format!("{introspector:?}").contains("hunter2"));
}

#[test]
fn form_encoding_and_client_authentication() {
    let mut out = String::new();
    form_encode("aZ09*-._ ~!:/?#[]@%+&=é".as_bytes(), &mut out);
    assert_eq!(out, "aZ09*-._+%7E%21%3A%2F%3F%23%5B%5D%40%25%2B%26%3D%C3%A9");
    let header = basic_authorization("client id", b"p:w");
    assert!(header.is_sensitive());
    // base64("client+id:p%3Aw")
    assert_eq!(header.to_str().unwrap(), "Basic Y2xpZW50K2lkOnAlM0F3");
}

#[test]
fn answers_are_read_strictly() {
    let rules = Rules { issuer: None, audiences: Vec::new() };
    let now_ms = 1_000_000;
    let parse = |body: &str| parse_answer(body.as_bytes(), now_ms, &rules);
    assert!(matches!(
        parse(r#"{"active":false,"sub":5}"#).unwrap().introspection,
        Introspection::Refused(Refusal::Inactive)
    ));
    let answer = parse(r#"{"active":true,"exp":1000.9}"#).unwrap();
    assert!(matches!(answer.introspection, Introspection::Refused(Refusal::Inactive)), "exp == now is expired");
    let answer = parse(r#"{"active":true,"exp":1001}"#).unwrap();
    assert!(matches!(answer.introspection, Introspection::Active(_)));
    assert_eq!(answer.exp_ms, Some(1_001_000));
    assert_eq!(parse(r#"{"active":true}"#).unwrap().exp_ms, None);
    assert!(parse(r#"{"active":true,"exp":1e400}"#).is_err(), "not a JSON number serde accepts");
}
