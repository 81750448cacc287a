//! Any text as a bearer token, against an HS256 issuer and an RS256 issuer
//! with static keys: verification never panics and refuses everything that
//! is not a token it signed (it signed none of the inputs).

#![no_main]

use std::sync::OnceLock;
use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use portcullis_jwt::{Algorithm, Issuer, IssuerConfig, KeySource, StaticKey};

fn issuers() -> &'static [Issuer; 2] {
    static ISSUERS: OnceLock<[Issuer; 2]> = OnceLock::new();
    ISSUERS.get_or_init(|| {
        let hs = IssuerConfig::new(
            "https://fuzz.test",
            vec!["api".into()],
            vec![Algorithm::HS256],
            KeySource::Secret(b"a fuzzing secret that is at least thirty-two bytes".to_vec()),
        );
        let pem = include_str!("../../crates/portcullis-jwt/tests/fixtures/rsa_a.pub.pem").to_owned();
        let rs = IssuerConfig::new(
            "https://fuzz.test",
            vec!["api".into()],
            vec![Algorithm::RS256, Algorithm::PS256],
            KeySource::Static(vec![StaticKey::Pem { pem, kid: Some("a".into()) }]),
        );
        [Issuer::new(hs).expect("valid issuer"), Issuer::new(rs).expect("valid issuer")]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    for issuer in issuers() {
        assert!(issuer.verify(token, SystemTime::now()).is_err(), "an unsigned input verified");
    }
});
