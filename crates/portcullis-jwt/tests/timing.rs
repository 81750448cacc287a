//! A rough cost per verification with a cached key. Ignored by default; run it in release mode:
//! `cargo test --release -p portcullis-jwt -- --ignored timing --nocapture`.

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::*;
use portcullis_jwt::{Algorithm, Issuer, IssuerConfig, KeySource, StaticKey};

fn per_op(issuer: &Issuer, token: &str, rounds: u32) -> u128 {
    let now = now();
    for _ in 0..rounds / 10 {
        issuer.verify(black_box(token), now).unwrap();
    }
    let started = Instant::now();
    for _ in 0..rounds {
        black_box(issuer.verify(black_box(token), now).unwrap());
    }
    started.elapsed().as_nanos() / u128::from(rounds)
}

#[test]
#[ignore = "timing; run in release mode"]
fn timing_verify_per_algorithm() {
    let mut results = Vec::new();
    let rsa = Signer::rsa_a();
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let issuer = Issuer::new(static_config(vec![alg], vec![StaticKey::Jwk(rsa.jwk("a").to_string())])).unwrap();
        results.push((alg, per_op(&issuer, &rsa.token(alg, "a", &good_claims()), 5000)));
    }
    for alg in [Algorithm::ES256, Algorithm::ES384] {
        let ec = Signer::ec(alg);
        let issuer = Issuer::new(static_config(vec![alg], vec![StaticKey::Jwk(ec.jwk("e").to_string())])).unwrap();
        results.push((alg, per_op(&issuer, &ec.token(alg, "e", &good_claims()), 5000)));
    }
    let ed = Signer::ed25519();
    let issuer =
        Issuer::new(static_config(vec![Algorithm::EdDSA], vec![StaticKey::Jwk(ed.jwk("d").to_string())])).unwrap();
    results.push((Algorithm::EdDSA, per_op(&issuer, &ed.token(Algorithm::EdDSA, "d", &good_claims()), 5000)));
    let secret = [3u8; 32];
    let config =
        IssuerConfig::new(ISSUER, vec![AUDIENCE.into()], vec![Algorithm::HS256], KeySource::Secret(secret.to_vec()));
    let issuer = Issuer::new(config).unwrap();
    let token = Signer::hmac(&secret).token(Algorithm::HS256, "h", &good_claims());
    results.push((Algorithm::HS256, per_op(&issuer, &token, 50_000)));
    for (alg, ns) in results {
        println!("timing: {alg} verify {ns} ns/op");
    }
}
