//! JWT bearer tokens at the gateway: a real OpenID provider rotating its
//! signing key while traffic flows, forged and expired tokens crafted by
//! the test, revocation through the admin API, and an identity provider
//! that cannot be reached.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::mtls::{self, Mtls};
use common::plane::{admin_session, bootstrap};
use common::{BIN, Gateway, TestUpstream, raw};
use hmac::Mac as _;
use portcullis_test_support::TempDir;
use portcullis_test_support::oidc::{AUDIENCE, OidcProvider};
use serde_json::{Value, json};

/// The shared secret of the HS256 route, on which the test mints tokens.
const SECRET: &str = "a test secret of at least thirty-two bytes!";

fn config(upstream: &TestUpstream, oidc: Option<&OidcProvider>) -> String {
    let idp = oidc.map_or_else(String::new, |p| {
        format!(
            "  - name: idp
    prefix: /orders
    upstream: app
    policies:
      - type: jwt
        issuer: \"{issuer}\"
        audiences: [\"{AUDIENCE}\"]
        algorithms: [RS256]
        typ: at+jwt
        ca: {ca}
        refresh_interval: 1s
        min_refresh_interval: 1s
        claims_to_headers: {{ client_id: X-Client }}
",
            issuer = p.issuer(),
            ca = p.ca_path().display(),
        )
    });
    format!(
        "workers: 1
listeners: [{{ name: public, listen: 127.0.0.1:0 }}]
upstream_allowlist: [127.0.0.0/8]
upstreams: [{{ name: app, targets: [{url}] }}]
routes:
{idp}  - name: minted
    prefix: /minted
    upstream: app
    policies:
      - type: jwt
{hs256}        groups_claim: groups
      - type: authorize
        scopes: [orders:read]
  - name: either
    prefix: /either
    upstream: app
    policies:
      - type: any_of
        policies:
          - type: api_key
          - type: jwt
{hs256_nested}  - name: unreachable
    prefix: /unreachable
    upstream: app
    policies:
      - type: jwt
        issuer: https://127.0.0.1:9
        audiences: [api]
        algorithms: [RS256]
        jwks_uri: https://127.0.0.1:9/jwks
access_log: {{ path: \"{{dir}}/access.log\" }}
data_dir: {{dir}}/data
admin:
  listen: 127.0.0.1:0
  password_hashing: {{ memory: 8MiB, iterations: 1, parallelism: 1 }}
",
        url = upstream.url(),
        hs256 = hs256(8),
        hs256_nested = hs256(12),
    )
}

/// The settings of a `jwt` policy taking HS256 tokens minted with
/// [`SECRET`], indented by `indent`.
fn hs256(indent: usize) -> String {
    ["issuer: https://issuer.test", "audiences: [api]", "algorithms: [HS256]", "secret: file:jwt.secret"]
        .iter()
        .map(|line| format!("{:indent$}{line}\n", ""))
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token for the HS256 route, signed with `key`.
fn mint(header: &Value, claims: &Value, key: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

fn now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

fn good_claims() -> Value {
    json!({ "iss": "https://issuer.test", "aud": "api", "sub": "user-1", "jti": "t-1", "exp": now() + 300,
            "iat": now(), "scope": "orders:read", "groups": ["staff"] })
}

async fn get(gw: &Gateway, path: &str, token: Option<&str>) -> raw::RawResponse {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    raw::request(gw.addr(), &format!("GET {path} HTTP/1.1\r\nHost: api\r\n{auth}Connection: close\r\n\r\n")).await
}

/// A directory holding the HS256 route's secret file.
fn with_secret() -> TempDir {
    let dir = TempDir::new();
    dir.write("jwt.secret", SECRET);
    dir
}

fn start(dir: TempDir, config: &str) -> Gateway {
    Gateway::start_in(BIN, dir, config)
}

#[tokio::test]
async fn forged_expired_and_misplaced_tokens_are_refused() {
    let upstream = TestUpstream::start().await;
    let gw = start(with_secret(), &config(&upstream, None));
    let header = json!({ "alg": "HS256", "typ": "JWT" });
    let ok = mint(&header, &good_claims(), SECRET.as_bytes());
    let answer = get(&gw, "/minted", Some(&ok)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let seen = upstream.seen().pop().unwrap();
    assert_eq!(seen.headers.get("x-subject").unwrap(), "user-1");
    assert_eq!(seen.headers.get("x-consumer-groups").unwrap(), "staff");
    assert!(seen.headers.get("authorization").is_none());

    let mut expired = good_claims();
    expired["exp"] = json!(now() - 3600);
    let mut wrong_aud = good_claims();
    wrong_aud["aud"] = json!("other-api");
    let mut no_scope = good_claims();
    no_scope["scope"] = json!("orders:write");
    let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(good_claims().to_string().as_bytes()));
    let attacks = [
        ("wrong key", mint(&header, &good_claims(), b"another secret of at least thirty-two bytes")),
        ("alg none", none),
        ("expired", mint(&header, &expired, SECRET.as_bytes())),
        ("wrong audience", mint(&header, &wrong_aud, SECRET.as_bytes())),
        ("crit", mint(&json!({ "alg": "HS256", "crit": ["exp"] }), &good_claims(), SECRET.as_bytes())),
        ("garbage", "not.a.jwt".to_owned()),
        ("huge", "a".repeat(20_000)),
    ];
    for (what, token) in &attacks {
        let answer = get(&gw, "/minted", Some(token)).await;
        assert_eq!(answer.status, 401, "{what}: {}", answer.text());
        assert!(answer.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")), "{what}");
    }
    let scoped = get(&gw, "/minted", Some(&mint(&header, &no_scope, SECRET.as_bytes()))).await;
    assert_eq!(scoped.status, 403, "a valid token without the scope is forbidden");
    let in_url = raw::request(
        gw.addr(),
        &format!("GET /minted?access_token={ok} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(in_url.status, 401);
    assert_eq!(upstream.count(), 1, "only the valid token got through");
    let reasons = [
        "auth.jwt.signature",
        "auth.jwt.alg",
        "auth.jwt.expired",
        "auth.jwt.audience",
        "auth.jwt.crit",
        "auth.jwt.in_url",
    ];
    let log = gw.access_log_with(&reasons, Duration::from_secs(5));
    for reason in reasons {
        assert!(log.contains(reason), "{reason} missing from\n{log}");
    }
    assert!(!log.contains(&ok[ok.len() - 20..]), "a token reached the access log");
    // Each refusal names the token by a short digest only.
    let forged = common::credentials_logged(&log, "auth.jwt.signature");
    assert_eq!(forged, [common::short_sha256(&attacks[0].1)]);
    assert_eq!(common::credentials_logged(&log, "auth.jwt.in_url"), [common::short_sha256(&ok)]);
    for (what, token) in &attacks[..6] {
        assert!(!log.contains(token.as_str()), "{what}: the token reached the access log");
    }
}

#[tokio::test]
async fn a_revoked_token_id_or_subject_stops_working() {
    let upstream = TestUpstream::start().await;
    let dir = with_secret();
    let config = config(&upstream, None);
    let password = bootstrap(&dir, &config);
    let gw = Gateway::start_in(BIN, dir, &config);
    let mut admin = admin_session(&gw, &password).await;
    let header = json!({ "alg": "HS256" });
    let token = mint(&header, &good_claims(), SECRET.as_bytes());
    assert_eq!(get(&gw, "/minted", Some(&token)).await.status, 200);
    let revoked = admin
        .post(
            "/admin/v1/revocations/tokens",
            &json!({ "issuer": "https://issuer.test", "jti": "t-1", "expires_at": now() + 300 }),
        )
        .await;
    assert_eq!(revoked.status(), 201, "{:?}", revoked.json);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while get(&gw, "/minted", Some(&token)).await.status != 401 {
        assert!(tokio::time::Instant::now() < deadline, "the revoked (and cached) token kept working");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut other = good_claims();
    other["jti"] = json!("t-2");
    other["iat"] = json!(now() - 10);
    let older = mint(&header, &other, SECRET.as_bytes());
    assert_eq!(get(&gw, "/minted", Some(&older)).await.status, 200);
    let subject = admin
        .post("/admin/v1/revocations/subjects", &json!({ "issuer": "https://issuer.test", "subject": "user-1" }))
        .await;
    assert_eq!(subject.status(), 201);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while get(&gw, "/minted", Some(&older)).await.status != 401 {
        assert!(tokio::time::Instant::now() < deadline, "tokens issued before the subject revocation kept working");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_unreachable_identity_provider_fails_closed() {
    let upstream = TestUpstream::start().await;
    let gw = start(with_secret(), &config(&upstream, None));
    let token = format!("{}.{}.{}", b64(br#"{"alg":"RS256","kid":"k1"}"#), b64(b"{}"), b64(b"sig"));
    let answer = get(&gw, "/unreachable", Some(&token)).await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert_eq!(upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_key_rotation_is_followed_without_a_restart() {
    let upstream = TestUpstream::start().await;
    let dir = TempDir::new();
    let mut provider = OidcProvider::start(&dir);
    let gw = start(with_secret(), &config(&upstream, Some(&provider)));
    let first = provider.token().await;
    let answer = get(&gw, "/orders", Some(&first)).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(upstream.seen().pop().unwrap().headers.get("x-client").is_some(), "claims_to_headers");

    // Rotate while traffic flows: the new key signs, the old one is still published.
    tokio::task::block_in_place(|| provider.rotate());
    let second = provider.token().await;
    assert_ne!(
        portcullis_test_support::oidc::jwt_parts(&first).0["kid"],
        portcullis_test_support::oidc::jwt_parts(&second).0["kid"]
    );
    // An unknown kid fetches the keys again (at most once per min_refresh_interval).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while get(&gw, "/orders", Some(&second)).await.status != 200 {
        assert!(tokio::time::Instant::now() < deadline, "the new key's token never worked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(get(&gw, "/orders", Some(&first)).await.status, 200, "the old key is still published");

    // Retire the old key: the gateway's refresher drops it within its interval.
    tokio::task::block_in_place(|| provider.retire_old());
    let third = provider.token().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let old = get(&gw, "/orders", Some(&first)).await;
        if old.status == 401 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the retired key's token kept working");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(get(&gw, "/orders", Some(&third)).await.status, 200);
}

#[tokio::test]
async fn an_address_presenting_forged_tokens_is_locked_out() {
    let upstream = TestUpstream::start().await;
    let config = format!("{}brute_force: {{ max_failures: 3, window: 1m, lock_for: 1m }}\n", config(&upstream, None));
    let gw = start(with_secret(), &config);
    let header = json!({ "alg": "HS256" });
    let good = mint(&header, &good_claims(), SECRET.as_bytes());
    for n in 0..3 {
        let forged = mint(&header, &good_claims(), format!("forged secret number {n} of thirty-two bytes").as_bytes());
        assert_eq!(get(&gw, "/minted", Some(&forged)).await.status, 401);
    }
    let locked = get(&gw, "/minted", Some(&good)).await;
    assert_eq!(locked.status, 401, "a locked address is refused even with a valid token");
    assert!(locked.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")));
    assert_eq!(upstream.count(), 0);
    assert!(gw.access_log_with(&["auth.jwt.locked"], Duration::from_secs(5)).contains("auth.jwt.locked"));
}

#[tokio::test]
async fn any_of_admits_the_first_method_that_works_and_challenges_with_all() {
    let upstream = TestUpstream::start().await;
    let gw = start(with_secret(), &config(&upstream, None));
    let token = mint(&json!({ "alg": "HS256" }), &good_claims(), SECRET.as_bytes());
    let ok = get(&gw, "/either", Some(&token)).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(upstream.seen().pop().unwrap().headers.get("x-authenticated-by").unwrap(), "jwt");
    let none = get(&gw, "/either", None).await;
    assert_eq!(none.status, 401);
    let challenges: Vec<&str> =
        none.headers.iter().filter(|(n, _)| n == "www-authenticate").map(|(_, v)| v.as_str()).collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("ApiKey")) && challenges.iter().any(|c| c.starts_with("Bearer")),
        "{challenges:?}"
    );
    let forged = mint(&json!({ "alg": "HS256" }), &good_claims(), b"not the secret, but thirty-two bytes long");
    assert_eq!(get(&gw, "/either", Some(&forged)).await.status, 401);
    assert_eq!(upstream.count(), 1);
}

/// HS256 routes for certificate-bound tokens (RFC 8705): `/bound` requires
/// the binding, `/maybe` checks it only for bound tokens.
fn bound_routes() -> String {
    let route = |name: &str, mode: &str| {
        format!(
            "  - name: {name}
    prefix: /{name}
    upstream: app
    policies:
      - type: jwt
{hs256}        certificate_bound: {mode}
",
            hs256 = hs256(8)
        )
    };
    route("bound", "required") + &route("maybe", "optional")
}

#[tokio::test]
async fn a_stolen_certificate_bound_token_is_useless_without_its_certificate() {
    let upstream = TestUpstream::start().await;
    let dir = with_secret();
    let ca = Mtls::new(&dir);
    let config = config(&upstream, None).replacen("routes:\n", &format!("routes:\n{}", bound_routes()), 1);
    let gw = start(dir, &mtls::with_listener(&config));
    let (alice, mallory) = (ca.clients.leaf(&["alice"]), ca.clients.leaf(&["mallory"]));
    let mut claims = good_claims();
    claims["cnf"] = json!({ "x5t#S256": b64(&mtls::sha256(&alice)) });
    let bound = format!("Bearer {}", mint(&json!({ "alg": "HS256" }), &claims, SECRET.as_bytes()));
    let unbound = format!("Bearer {}", mint(&json!({ "alg": "HS256" }), &good_claims(), SECRET.as_bytes()));
    let with = |token: &str| [("Authorization", token.to_owned())];
    let call = |cert, path: &'static str, token: &str| {
        let headers = with(token);
        let ca = &ca;
        let gw = &gw;
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            ca.get(gw, cert, path, &headers).await.expect("an answer")
        }
    };
    // The owner, twice: the second time the token comes from the verified-token cache.
    for _ in 0..2 {
        let ok = call(Some(&alice), "/bound", &bound).await;
        assert_eq!(ok.status, 200, "{}", ok.text());
    }
    let replays = [
        ("without a certificate", call(None, "/bound", &bound).await),
        ("with another client's certificate", call(Some(&mallory), "/bound", &bound).await),
        ("on the plain listener", get(&gw, "/bound", Some(&bound["Bearer ".len()..])).await),
        ("where binding is optional", call(None, "/maybe", &bound).await),
        ("unbound where binding is required", call(Some(&alice), "/bound", &unbound).await),
    ];
    for (what, answer) in &replays {
        assert_eq!(answer.status, 401, "{what}: {}", answer.text());
        assert_eq!(answer.header("www-authenticate"), Some("Bearer realm=\"portcullis\", error=\"invalid_token\""));
        let body: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["error"], "unauthorized", "{what}");
    }
    assert_eq!(call(None, "/maybe", &unbound).await.status, 200, "optional: a plain bearer token passes");
    assert_eq!(call(Some(&alice), "/maybe", &bound).await.status, 200);
    assert_eq!(upstream.count(), 4, "no replay reached the upstream");
    let reasons = ["auth.jwt.cnf_no_certificate", "auth.jwt.cnf_mismatch", "auth.jwt.cnf_missing"];
    let log = gw.access_log_with(&reasons, Duration::from_secs(5));
    for reason in reasons {
        assert!(log.contains(reason), "{reason} missing from\n{log}");
    }
}
