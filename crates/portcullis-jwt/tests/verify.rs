//! Verification with configured keys: every algorithm, and the attacks of RFC 8725 each refused with its reason.

mod common;

use std::time::Duration;

use common::*;
use portcullis_jwt::{Algorithm, ConfigError, Issuer, IssuerConfig, JwtError, KeySource, StaticKey};
use serde_json::{Value, json};

fn issuer_for(signer: &Signer, kid: &str, algorithms: Vec<Algorithm>) -> Issuer {
    let jwk = signer.jwk(kid).to_string();
    Issuer::new(static_config(algorithms, vec![StaticKey::Jwk(jwk)])).unwrap()
}

fn rsa_issuer() -> (Signer, Issuer) {
    let signer = Signer::rsa_a();
    let issuer = issuer_for(&signer, "a", vec![Algorithm::RS256]);
    (signer, issuer)
}

fn reason(issuer: &Issuer, token: &str) -> &'static str {
    issuer.verify(token, now()).unwrap_err().reason()
}

#[test]
fn every_algorithm_verifies() {
    let rsa = Signer::rsa_a();
    for alg in
        [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512]
    {
        let issuer = issuer_for(&rsa, "r", vec![alg]);
        let claims = issuer.verify(&rsa.token(alg, "r", &good_claims()), now()).unwrap();
        assert_eq!(claims.sub(), Some("alice"), "{alg}");
    }
    for alg in [Algorithm::ES256, Algorithm::ES384] {
        let ec = Signer::ec(alg);
        let issuer = issuer_for(&ec, "e", vec![alg]);
        issuer.verify(&ec.token(alg, "e", &good_claims()), now()).unwrap();
    }
    let ed = Signer::ed25519();
    issuer_for(&ed, "d", vec![Algorithm::EdDSA])
        .verify(&ed.token(Algorithm::EdDSA, "d", &good_claims()), now())
        .unwrap();

    let secret = [0x5au8; 64];
    let hs = Signer::hmac(&secret);
    let config = IssuerConfig::new(
        ISSUER,
        vec![AUDIENCE.into()],
        vec![Algorithm::HS256, Algorithm::HS512],
        KeySource::Secret(secret.to_vec()),
    );
    let issuer = Issuer::new(config).unwrap();
    issuer.verify(&hs.token(Algorithm::HS256, "ignored", &good_claims()), now()).unwrap();
    issuer.verify(&hs.token(Algorithm::HS512, "ignored", &good_claims()), now()).unwrap();
    assert_eq!(reason(&issuer, &hs.token(Algorithm::HS384, "x", &good_claims())), "auth.jwt.alg");
    assert_eq!(
        reason(&issuer, &Signer::hmac(&[1; 64]).token(Algorithm::HS256, "x", &good_claims())),
        "auth.jwt.signature"
    );
}

#[test]
fn pem_and_jwks_static_keys() {
    let rsa = Signer::rsa_a();
    let ec = Signer::ec(Algorithm::ES256);
    let config = static_config(
        vec![Algorithm::RS256, Algorithm::ES256],
        vec![
            StaticKey::Pem { pem: RSA_A_PUB_PEM.to_owned(), kid: Some("pem".into()) },
            StaticKey::Jwks(jwks(&[ec.jwk("ec")])),
        ],
    );
    let issuer = Issuer::new(config).unwrap();
    issuer.verify(&rsa.token(Algorithm::RS256, "pem", &good_claims()), now()).unwrap();
    issuer.verify(&ec.token(Algorithm::ES256, "ec", &good_claims()), now()).unwrap();
    // Two keys: the token must name one.
    let no_kid = rsa.sign(Algorithm::RS256, &json!({"alg":"RS256"}), &good_claims());
    assert_eq!(issuer.verify(&no_kid, now()).unwrap_err(), JwtError::UnknownKey { kid: None });
    // The kid of the RSA key with an EC alg: the key type decides.
    assert_eq!(reason(&issuer, &ec.token(Algorithm::ES256, "pem", &good_claims())), "auth.jwt.alg");
    assert_eq!(reason(&issuer, &rsa.token(Algorithm::RS256, "other", &good_claims())), "auth.jwt.unknown_key");
}

#[test]
fn a_single_key_without_kid_serves_tokens_without_kid() {
    let rsa = Signer::rsa_a();
    let issuer = Issuer::new(static_config(
        vec![Algorithm::RS256],
        vec![StaticKey::Pem { pem: RSA_A_PUB_PEM.to_owned(), kid: None }],
    ))
    .unwrap();
    issuer.verify(&rsa.sign(Algorithm::RS256, &json!({"alg":"RS256"}), &good_claims()), now()).unwrap();
}

#[test]
fn alg_none_in_any_casing_is_refused() {
    let (_, issuer) = rsa_issuer();
    let payload = b64(good_claims().to_string().as_bytes());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({"alg": alg, "kid": "a"}).to_string().as_bytes());
        for token in [format!("{header}.{payload}."), format!("{header}.{payload}.c2ln")] {
            assert_eq!(reason(&issuer, &token), "auth.jwt.alg", "{alg}");
        }
    }
}

#[test]
fn hmac_with_the_public_key_as_secret_is_refused() {
    let (_, issuer) = rsa_issuer();
    for secret in [RSA_A_PUB_PEM.as_bytes().to_vec(), Signer::rsa_a().jwk("a").to_string().into_bytes()] {
        let forged = Signer::hmac(&secret).token(Algorithm::HS256, "a", &good_claims());
        assert_eq!(reason(&issuer, &forged), "auth.jwt.alg");
    }
    // And an issuer that would allow it cannot be built.
    let mixed = static_config(
        vec![Algorithm::RS256, Algorithm::HS256],
        vec![StaticKey::Pem { pem: RSA_A_PUB_PEM.to_owned(), kid: None }],
    );
    assert_eq!(Issuer::new(mixed).unwrap_err(), ConfigError::HmacWithPublicKeys(Algorithm::HS256));
}

#[test]
fn alg_outside_the_issuer_list_is_refused() {
    let (rsa, issuer) = rsa_issuer();
    assert_eq!(reason(&issuer, &rsa.token(Algorithm::PS256, "a", &good_claims())), "auth.jwt.alg");
    assert_eq!(reason(&issuer, &rsa.token(Algorithm::RS512, "a", &good_claims())), "auth.jwt.alg");
}

#[test]
fn a_jwk_alg_binds_the_key() {
    let rsa = Signer::rsa_a();
    let mut jwk = rsa.jwk("a");
    jwk["alg"] = json!("PS256");
    let issuer =
        Issuer::new(static_config(vec![Algorithm::RS256, Algorithm::PS256], vec![StaticKey::Jwk(jwk.to_string())]))
            .unwrap();
    issuer.verify(&rsa.token(Algorithm::PS256, "a", &good_claims()), now()).unwrap();
    assert_eq!(reason(&issuer, &rsa.token(Algorithm::RS256, "a", &good_claims())), "auth.jwt.alg");
}

#[test]
fn a_signature_from_another_key_is_refused() {
    let (_, issuer) = rsa_issuer();
    let token = Signer::rsa_b().token(Algorithm::RS256, "a", &good_claims());
    assert_eq!(reason(&issuer, &token), "auth.jwt.signature");
    // A valid token whose payload was swapped.
    let (rsa, _) = rsa_issuer();
    let good = rsa.token(Algorithm::RS256, "a", &good_claims());
    let mut claims = good_claims();
    claims["sub"] = json!("admin");
    let parts: Vec<&str> = good.split('.').collect();
    let swapped = format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2]);
    assert_eq!(reason(&issuer, &swapped), "auth.jwt.signature");
    // Truncated and empty signatures.
    assert_eq!(reason(&issuer, &format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20])), "auth.jwt.signature");
    assert_eq!(reason(&issuer, &format!("{}.{}.", parts[0], parts[1])), "auth.jwt.signature");
}

#[test]
fn time_claims_with_leeway() {
    let (rsa, issuer) = rsa_issuer();
    let t = unix_now();
    let with = |name: &str, value: u64| {
        let mut c = good_claims();
        c[name] = json!(value);
        rsa.token(Algorithm::RS256, "a", &c)
    };
    assert_eq!(reason(&issuer, &with("exp", t - 120)), "auth.jwt.expired");
    issuer.verify(&with("exp", t - 10), now()).unwrap();
    assert_eq!(reason(&issuer, &with("nbf", t + 120)), "auth.jwt.not_yet_valid");
    issuer.verify(&with("nbf", t + 10), now()).unwrap();
    assert_eq!(reason(&issuer, &with("iat", t + 3600)), "auth.jwt.iat");
    let mut no_exp = good_claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_eq!(reason(&issuer, &rsa.token(Algorithm::RS256, "a", &no_exp)), "auth.jwt.missing_claim");
    // The caller's clock is what counts.
    let token = with("exp", t + 60);
    assert_eq!(issuer.verify(&token, now() + Duration::from_secs(600)).unwrap_err(), JwtError::Expired);
}

#[test]
fn issuer_and_audience() {
    let (rsa, issuer) = rsa_issuer();
    let with = |name: &str, value: Value| {
        let mut c = good_claims();
        c[name] = value;
        rsa.token(Algorithm::RS256, "a", &c)
    };
    assert_eq!(reason(&issuer, &with("iss", json!("https://evil.example.com"))), "auth.jwt.issuer");
    assert_eq!(reason(&issuer, &with("iss", json!(["https://idp.example.com"]))), "auth.jwt.issuer");
    assert_eq!(reason(&issuer, &with("aud", json!("api://other"))), "auth.jwt.audience");
    assert_eq!(reason(&issuer, &with("aud", json!(["api://other", "api://x"]))), "auth.jwt.audience");
    issuer.verify(&with("aud", json!(["api://other", AUDIENCE])), now()).unwrap();
}

#[test]
fn required_claims_and_typ() {
    let rsa = Signer::rsa_a();
    let mut config = static_config(vec![Algorithm::RS256], vec![StaticKey::Jwk(rsa.jwk("a").to_string())]);
    config.required_claims = vec!["sub".into(), "tenant".into()];
    config.typ = Some("at+jwt".into());
    let issuer = Issuer::new(config).unwrap();
    let mut claims = good_claims();
    claims["tenant"] = json!("t1");
    let at = |typ: Option<&str>, claims: &Value| {
        let mut header = json!({"alg":"RS256","kid":"a"});
        if let Some(typ) = typ {
            header["typ"] = json!(typ);
        }
        rsa.sign(Algorithm::RS256, &header, claims)
    };
    issuer.verify(&at(Some("at+jwt"), &claims), now()).unwrap();
    issuer.verify(&at(Some("application/AT+JWT"), &claims), now()).unwrap();
    assert_eq!(reason(&issuer, &at(Some("JWT"), &claims)), "auth.jwt.typ");
    assert_eq!(reason(&issuer, &at(None, &claims)), "auth.jwt.typ");
    assert_eq!(
        issuer.verify(&at(Some("at+jwt"), &good_claims()), now()).unwrap_err(),
        JwtError::MissingClaim { claim: "tenant".into() }
    );
}

#[test]
fn crit_with_unknown_extensions_is_refused() {
    let (rsa, issuer) = rsa_issuer();
    for crit in [json!(["exp"]), json!(["http://example.com/ext"]), json!([]), json!("b64")] {
        let token = rsa.sign(
            Algorithm::RS256,
            &json!({"alg":"RS256","kid":"a","crit":crit,"http://example.com/ext":true}),
            &good_claims(),
        );
        assert_eq!(reason(&issuer, &token), "auth.jwt.crit");
    }
}

#[test]
fn key_carrying_headers_are_ignored() {
    let (rsa, issuer) = rsa_issuer();
    let attacker = Signer::rsa_b();
    let header = json!({
        "alg": "RS256",
        "kid": "a",
        "jku": "https://evil.example.com/jwks",
        "x5u": "https://evil.example.com/cert.pem",
        "jwk": attacker.jwk("a"),
        "x5c": ["MIIB"],
    });
    // The attacker's own key, embedded: refused, since only configured keys verify.
    assert_eq!(reason(&issuer, &attacker.sign(Algorithm::RS256, &header, &good_claims())), "auth.jwt.signature");
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    assert_eq!(reason(&issuer, &attacker.sign(Algorithm::RS256, &no_kid, &good_claims())), "auth.jwt.signature");
    // The same headers on a genuine token change nothing.
    issuer.verify(&rsa.sign(Algorithm::RS256, &header, &good_claims()), now()).unwrap();
}

#[test]
fn malformed_tokens_are_refused_without_panic() {
    let (rsa, issuer) = rsa_issuer();
    let good = rsa.token(Algorithm::RS256, "a", &good_claims());
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let not_json = b64(b"{not json");
    let array = b64(b"[1,2]");
    let cases = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        "a.b".into(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}."),
        format!("{h}.{p}.{s}.{s}.{s}"),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}.{p}.{s}!"),
        format!("!{h}.{p}.{s}"),
        format!("{not_json}.{p}.{s}"),
        format!("{array}.{p}.{s}"),
        format!(" {good}"),
        format!("{good}\n"),
        format!("{h}.{p}.{}", s.replace(['-', '_'], "+")),
    ];
    for token in cases {
        let err = issuer.verify(&token, now()).unwrap_err();
        assert!(matches!(err.reason(), "auth.jwt.malformed" | "auth.jwt.signature"), "{token:?}: {err}");
    }
    // A correctly signed payload that is not a JSON object is malformed.
    let header = json!({"alg":"RS256","kid":"a"});
    for payload in [b"{not json".as_slice(), b"[1]", b"{\"sub\":\"a\",\"sub\":\"b\"}", b""] {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload));
        let token = format!("{input}.{}", b64(&rsa.sign_raw(Algorithm::RS256, input.as_bytes())));
        assert_eq!(reason(&issuer, &token), "auth.jwt.malformed", "{payload:?}");
    }
}

#[test]
fn oversized_tokens_are_refused_before_decoding() {
    let (_, issuer) = rsa_issuer();
    let huge = "A".repeat(1024 * 1024);
    assert_eq!(issuer.verify(&huge, now()).unwrap_err(), JwtError::TooLarge { limit: 8192 });
    assert_eq!(reason(&issuer, &format!("{huge}.{huge}.{huge}")), "auth.jwt.too_large");
    // A huge header just under the limit is decoded and refused on its merits.
    let header = json!({"alg":"RS256","kid":"a","pad":"x".repeat(5000)});
    let token = format!("{}.{}.AAAA", b64(header.to_string().as_bytes()), b64(b"{}"));
    assert!(token.len() < 8192);
    assert_eq!(reason(&issuer, &token), "auth.jwt.signature");
}

#[test]
fn mutated_tokens_never_panic_and_never_verify() {
    let (rsa, issuer) = rsa_issuer();
    let good = rsa.token(Algorithm::RS256, "a", &good_claims());
    let bytes = good.as_bytes();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x00";
    for _ in 0..3000 {
        let mut mutated = bytes.to_vec();
        for _ in 0..1 + next() % 4 {
            let pos = usize::try_from(next() % mutated.len() as u64).unwrap();
            let with = alphabet[usize::try_from(next() % alphabet.len() as u64).unwrap()];
            match next() % 3 {
                0 => mutated[pos] = with,
                1 => mutated.insert(pos, with),
                _ => {
                    mutated.remove(pos);
                }
            }
        }
        let token = String::from_utf8(mutated).unwrap();
        if token != good {
            // base64url has no unused decoding freedom except in the last char of a segment, so a mutation that
            // still verifies must decode to the same bytes; anything else must fail.
            if let Ok(claims) = issuer.verify(&token, now()) {
                assert_eq!(claims.sub(), Some("alice"));
            }
        }
    }
}

#[test]
fn claims_map_to_header_values() {
    let (rsa, issuer) = rsa_issuer();
    let mut c = good_claims();
    c["tenant"] = json!("acme");
    c["evil"] = json!("x\r\nX-Admin: true");
    c["scp"] = json!(["ignored"]);
    c["cnf"] = json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"});
    let claims = issuer.verify(&rsa.token(Algorithm::RS256, "a", &c), now()).unwrap();
    assert_eq!(claims.claim_as_header_value("tenant").as_deref(), Some("acme"));
    assert_eq!(claims.claim_as_header_value("exp"), Some(c["exp"].to_string()));
    assert_eq!(claims.claim_as_header_value("evil"), None);
    assert_eq!(claims.scopes(), ["read", "write"]);
    assert_eq!(claims.cnf_x5t_s256(), Some("bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"));
    assert_eq!(claims.audiences(), [AUDIENCE]);
    assert!(claims.iat().is_some() && claims.exp().is_some());
}

#[test]
fn refused_configurations() {
    let rsa_key = || vec![StaticKey::Pem { pem: RSA_A_PUB_PEM.to_owned(), kid: None }];
    let err = |c: IssuerConfig| Issuer::new(c).unwrap_err();
    assert_eq!(err(static_config(vec![], rsa_key())), ConfigError::NoAlgorithms);
    let mut no_aud = static_config(vec![Algorithm::RS256], rsa_key());
    no_aud.audiences.clear();
    assert_eq!(err(no_aud), ConfigError::NoAudience);
    let mut no_iss = static_config(vec![Algorithm::RS256], rsa_key());
    no_iss.issuer.clear();
    assert_eq!(err(no_iss), ConfigError::EmptyIssuer);
    assert_eq!(err(static_config(vec![Algorithm::RS256], vec![])), ConfigError::NoStaticKeys);
    assert!(matches!(err(static_config(vec![Algorithm::ES256], rsa_key())), ConfigError::StaticKey { index: 0, .. }));
    assert!(matches!(
        err(static_config(vec![Algorithm::RS256], vec![StaticKey::Jwk(r#"{"kty":"oct","k":"c2VjcmV0"}"#.into())])),
        ConfigError::StaticKey { .. }
    ));
    assert!(matches!(
        err(static_config(vec![Algorithm::RS256], vec![StaticKey::Pem { pem: RSA_A_PEM.into(), kid: None }])),
        ConfigError::StaticKey { .. }
    ));
    let cfg = |algs: Vec<Algorithm>, keys: KeySource| IssuerConfig::new(ISSUER, vec![AUDIENCE.into()], algs, keys);
    for source in [KeySource::Jwks("https://idp.example.com/jwks".into()), KeySource::oidc_discovery(ISSUER)] {
        assert_eq!(err(cfg(vec![Algorithm::HS256], source)), ConfigError::HmacWithPublicKeys(Algorithm::HS256));
    }
    assert_eq!(
        err(cfg(vec![Algorithm::HS256, Algorithm::RS256], KeySource::Secret(vec![0; 64]))),
        ConfigError::AsymmetricWithSecret(Algorithm::RS256)
    );
    assert_eq!(
        err(cfg(vec![Algorithm::HS256], KeySource::Secret(vec![0; 31]))),
        ConfigError::SecretTooShort { alg: Algorithm::HS256, min: 32 }
    );
    assert_eq!(
        err(cfg(vec![Algorithm::HS512], KeySource::Secret(vec![0; 48]))),
        ConfigError::SecretTooShort { alg: Algorithm::HS512, min: 64 }
    );
    for url in ["http://idp.example.com/jwks", "https://user@idp.example.com/jwks", "jwks.json"] {
        assert!(
            matches!(err(cfg(vec![Algorithm::RS256], KeySource::Jwks(url.into()))), ConfigError::Url { .. }),
            "{url}"
        );
    }
    let mut bad_ca = cfg(vec![Algorithm::RS256], KeySource::Jwks("https://idp.example.com/jwks".into()));
    bad_ca.trust = portcullis_jwt::TrustRoots::CaPem("not a pem".into());
    assert!(matches!(err(bad_ca), ConfigError::TrustRoots(_)));
    let mut zero = static_config(vec![Algorithm::RS256], rsa_key());
    zero.max_token_bytes = 0;
    assert_eq!(err(zero), ConfigError::Zero("max_token_bytes"));
    assert!(format!("{:?}", KeySource::Secret(vec![1; 40])).contains("40 bytes"));
}
