//! Keys fetched over HTTPS from an in-process server: discovery, rotation, unknown-kid floods, outages, limits.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use portcullis_jwt::{Algorithm, FetchError, Issuer, IssuerConfig, JwtError, KeySource, RefreshOutcome, TrustRoots};
use serde_json::json;

const JWKS: &str = "/jwks";

async fn server_with(keys: &[serde_json::Value]) -> KeyServer {
    let server = KeyServer::start().await;
    server.set(JWKS, Canned::ok(jwks(keys)));
    server
}

#[tokio::test]
async fn keys_load_over_verified_https() {
    let rsa = Signer::rsa_a();
    let server = server_with(&[rsa.jwk("a")]).await;
    let issuer = Issuer::new(server.jwks_config(JWKS, vec![Algorithm::RS256])).unwrap();
    let token = rsa.token(Algorithm::RS256, "a", &good_claims());
    assert!(!issuer.has_keys());
    assert_eq!(issuer.verify(&token, now()).unwrap_err(), JwtError::KeysUnavailable);
    issuer.refresh().await.unwrap();
    assert!(issuer.has_keys());
    assert_eq!(issuer.verify(&token, now()).unwrap().sub(), Some("alice"));
    assert_eq!(server.hits(JWKS), 1);
}

#[tokio::test]
async fn discovery_finds_the_jwks() {
    let ec = Signer::ec(Algorithm::ES256);
    let server = server_with(&[ec.jwk("e")]).await;
    let base = server.base();
    server.set(
        "/.well-known/openid-configuration",
        Canned::ok(
            json!({"issuer": base, "jwks_uri": server.url(JWKS), "id_token_signing_alg_values_supported": ["ES256"]})
                .to_string(),
        ),
    );
    let mut config = IssuerConfig::new(
        base.clone(),
        vec![AUDIENCE.into()],
        vec![Algorithm::ES256],
        KeySource::oidc_discovery(&base),
    );
    config.trust = TrustRoots::CaPem(server.ca_pem.clone());
    let issuer = Issuer::new(config).unwrap();
    issuer.refresh().await.unwrap();
    let mut claims = good_claims();
    claims["iss"] = json!(base);
    issuer.verify(&ec.token(Algorithm::ES256, "e", &claims), now()).unwrap();

    // A document naming another issuer, or an http jwks_uri, is refused.
    server.set(
        "/.well-known/openid-configuration",
        Canned::ok(json!({"issuer": "https://evil", "jwks_uri": server.url(JWKS)}).to_string()),
    );
    assert!(matches!(issuer.refresh().await, Err(FetchError::Discovery { .. })));
    let http_jwks = format!("http://127.0.0.1:{}/jwks", server.addr.port());
    server.set(
        "/.well-known/openid-configuration",
        Canned::ok(json!({"issuer": base, "jwks_uri": http_jwks}).to_string()),
    );
    assert!(matches!(issuer.refresh().await, Err(FetchError::Discovery { .. })));
    // The keys loaded before stay in use.
    issuer.verify(&ec.token(Algorithm::ES256, "e", &claims), now()).unwrap();
}

#[tokio::test]
async fn rotation_follows_the_jwks() {
    let (old, new) = (Signer::rsa_a(), Signer::rsa_b());
    let server = server_with(&[old.jwk("old")]).await;
    let mut config = server.jwks_config(JWKS, vec![Algorithm::RS256]);
    config.min_refresh_interval = Duration::ZERO;
    let issuer = Issuer::new(config).unwrap();
    issuer.refresh().await.unwrap();
    let old_token = old.token(Algorithm::RS256, "old", &good_claims());
    let new_token = new.token(Algorithm::RS256, "new", &good_claims());
    issuer.verify(&old_token, now()).unwrap();

    server.set(JWKS, Canned::ok(jwks(&[new.jwk("new")])));
    assert_eq!(issuer.verify(&new_token, now()).unwrap_err(), JwtError::UnknownKey { kid: Some("new".into()) });
    issuer.verify_or_refresh(&new_token, now()).await.unwrap();
    assert_eq!(server.hits(JWKS), 2);
    // The removed key's tokens fail now that the set no longer has it.
    assert_eq!(issuer.verify(&old_token, now()).unwrap_err().reason(), "auth.jwt.unknown_key");
    // A refetch does not bring it back either.
    assert_eq!(issuer.verify_or_refresh(&old_token, now()).await.unwrap_err().reason(), "auth.jwt.unknown_key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_flood_fetches_at_most_once_per_interval() {
    let (real, attacker) = (Signer::rsa_a(), Signer::ec(Algorithm::ES256));
    let server = server_with(&[real.jwk("a")]).await;
    server.set(JWKS, Canned { delay: Duration::from_millis(100), ..Canned::ok(jwks(&[real.jwk("a")])) });
    let min_interval = Duration::from_millis(1500);
    let mut config = server.jwks_config(JWKS, vec![Algorithm::RS256, Algorithm::ES256]);
    config.min_refresh_interval = min_interval;
    let issuer = Issuer::new(config).unwrap();
    issuer.refresh().await.unwrap();
    tokio::time::sleep(min_interval).await;

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000u32 {
        let token =
            attacker.token(Algorithm::ES256, &format!("kid-{i}-{}", i.wrapping_mul(2_654_435_761)), &good_claims());
        let issuer = issuer.clone();
        tasks.spawn(async move { issuer.verify_or_refresh(&token, now()).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert_eq!(result.unwrap().unwrap_err().reason(), "auth.jwt.unknown_key");
    }
    let elapsed = started.elapsed();
    let fetches = server.hits(JWKS) - 1;
    let allowed = 1 + usize::try_from(elapsed.as_millis() / min_interval.as_millis()).unwrap();
    assert!(fetches >= 1 && fetches <= allowed, "{fetches} fetches in {elapsed:?}");

    // Right after, more unknown kids are rate-limited without a fetch.
    let before = server.hits(JWKS);
    let token = attacker.token(Algorithm::ES256, "another", &good_claims());
    issuer.verify_or_refresh(&token, now()).await.unwrap_err();
    if started.elapsed() < min_interval {
        assert_eq!(server.hits(JWKS), before);
    }
    assert_eq!(issuer.refresh_for_unknown_kid().await, RefreshOutcome::RateLimited);
    // The real key kept working throughout.
    issuer.verify(&real.token(Algorithm::RS256, "a", &good_claims()), now()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_fetch() {
    let rsa = Signer::rsa_a();
    let server = KeyServer::start().await;
    server.set(JWKS, Canned { delay: Duration::from_millis(200), ..Canned::ok(jwks(&[rsa.jwk("a")])) });
    let issuer = Issuer::new(server.jwks_config(JWKS, vec![Algorithm::RS256])).unwrap();
    let token = Arc::new(rsa.token(Algorithm::RS256, "a", &good_claims()));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (issuer, token) = (issuer.clone(), token.clone());
        tasks.spawn(async move { issuer.verify_or_refresh(&token, now()).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(server.hits(JWKS), 1);
}

#[tokio::test]
async fn an_outage_fails_closed_only_without_keys() {
    let rsa = Signer::rsa_a();
    let server = KeyServer::start().await;
    server.set(JWKS, Canned::status(500));
    let mut config = server.jwks_config(JWKS, vec![Algorithm::RS256]);
    config.min_refresh_interval = Duration::ZERO;
    let issuer = Issuer::new(config).unwrap();
    let token = rsa.token(Algorithm::RS256, "a", &good_claims());

    assert!(matches!(issuer.refresh().await, Err(FetchError::Status { status: 500, .. })));
    assert_eq!(issuer.verify(&token, now()).unwrap_err(), JwtError::KeysUnavailable);
    assert_eq!(issuer.verify_or_refresh(&token, now()).await.unwrap_err().reason(), "auth.jwt.keys_unavailable");
    assert!(matches!(issuer.refresh_for_unknown_kid().await, RefreshOutcome::Failed(FetchError::Status { .. })));

    server.set(JWKS, Canned::ok(jwks(&[rsa.jwk("a")])));
    issuer.refresh().await.unwrap();
    issuer.verify(&token, now()).unwrap();

    // Errors and a dead server keep the last good keys in use.
    server.set(JWKS, Canned::status(503));
    assert!(issuer.refresh().await.is_err());
    server.set(JWKS, Canned::ok("{\"keys\": []}"));
    assert!(matches!(issuer.refresh().await, Err(FetchError::Jwks { .. })));
    server.stop();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(issuer.refresh().await.is_err());
    issuer.verify(&token, now()).unwrap();
}

#[tokio::test]
async fn fetch_limits() {
    let rsa = Signer::rsa_a();
    let server = KeyServer::start().await;
    let mut config = server.jwks_config(JWKS, vec![Algorithm::RS256]);
    config.fetch_timeout = Duration::from_millis(300);
    let issuer = Issuer::new(config).unwrap();

    // Redirects are not followed.
    server.set(JWKS, Canned { headers: vec![("location", server.url("/elsewhere"))], ..Canned::status(302) });
    server.set("/elsewhere", Canned::ok(jwks(&[rsa.jwk("a")])));
    assert!(matches!(issuer.refresh().await, Err(FetchError::Status { status: 302, .. })));
    assert_eq!(server.hits("/elsewhere"), 0);

    // Bodies over 64 KiB, declared or streamed.
    let padding = "x".repeat(70 * 1024);
    server.set(JWKS, Canned::ok(format!(r#"{{"keys":[{}],"pad":"{padding}"}}"#, rsa.jwk("a"))));
    assert!(matches!(issuer.refresh().await, Err(FetchError::TooLarge { .. })));

    // Slow servers hit the deadline.
    server.set(JWKS, Canned { delay: Duration::from_secs(3), ..Canned::ok(jwks(&[rsa.jwk("a")])) });
    let started = Instant::now();
    assert!(matches!(issuer.refresh().await, Err(FetchError::Timeout { .. })));
    assert!(started.elapsed() < Duration::from_secs(2));

    // Too many keys.
    let many: Vec<_> = (0..101).map(|i| rsa.jwk(&format!("k{i}"))).collect();
    server.set(JWKS, Canned::ok(jwks(&many)));
    assert!(matches!(issuer.refresh().await, Err(FetchError::Jwks { .. })));
    assert!(!issuer.has_keys());
}

#[tokio::test]
async fn tls_is_verified() {
    let rsa = Signer::rsa_a();
    let server = server_with(&[rsa.jwk("a")]).await;
    // Trusting another CA: the handshake fails.
    let mut config = server.jwks_config(JWKS, vec![Algorithm::RS256]);
    config.trust = TrustRoots::CaPem(TestPki::new().ca_pem);
    let issuer = Issuer::new(config).unwrap();
    let err = issuer.refresh().await.unwrap_err();
    assert!(matches!(&err, FetchError::Transport { detail, .. } if detail.starts_with("tls")), "{err}");
    // The public roots do not trust a test CA either.
    let mut config = server.jwks_config(JWKS, vec![Algorithm::RS256]);
    config.trust = TrustRoots::WebPki;
    assert!(Issuer::new(config).unwrap().refresh().await.is_err());
    assert_eq!(server.hits(JWKS), 0);
}

#[tokio::test]
async fn the_background_refresher_follows_rotation() {
    let (old, new) = (Signer::rsa_a(), Signer::rsa_b());
    let server = server_with(&[old.jwk("old")]).await;
    let mut config = server.jwks_config(JWKS, vec![Algorithm::RS256]);
    config.refresh_interval = Duration::from_millis(100);
    let issuer = Issuer::new(config).unwrap();
    let handle = issuer.spawn_refresher();
    let new_token = new.token(Algorithm::RS256, "new", &good_claims());
    let old_token = old.token(Algorithm::RS256, "old", &good_claims());

    wait_until(|| issuer.verify(&old_token, now()).is_ok()).await;
    server.set(JWKS, Canned::ok(jwks(&[new.jwk("new")])));
    wait_until(|| issuer.verify(&new_token, now()).is_ok()).await;
    assert_eq!(issuer.verify(&old_token, now()).unwrap_err().reason(), "auth.jwt.unknown_key");

    handle.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hits = server.hits(JWKS);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.hits(JWKS), hits);
}

async fn wait_until(mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
