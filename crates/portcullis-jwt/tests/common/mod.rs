//! Test helpers: signing keys and tokens, and an in-process HTTPS server for JWKS and discovery documents.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use portcullis_jwt::{Algorithm, IssuerConfig, KeySource, StaticKey};
use portcullis_test_support::https::HttpsServer;
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Value, json};

pub(crate) const ISSUER: &str = "https://idp.example.com";
pub(crate) const AUDIENCE: &str = "api://portcullis";
pub(crate) const RSA_A_PEM: &str = include_str!("../fixtures/rsa_a.pem");
pub(crate) const RSA_A_PUB_PEM: &str = include_str!("../fixtures/rsa_a.pub.pem");
pub(crate) const RSA_B_PEM: &str = include_str!("../fixtures/rsa_b.pem");

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Claims that pass the default checks.
pub(crate) fn good_claims() -> Value {
    let now = unix_now();
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300, "scope": "read write"})
}

/// A private key that signs test tokens.
pub(crate) enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, Algorithm),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

impl Signer {
    pub(crate) fn rsa(pem: &str) -> Self {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).unwrap();
        Self::Rsa(RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap())
    }

    pub(crate) fn rsa_a() -> Self {
        Self::rsa(RSA_A_PEM)
    }

    pub(crate) fn rsa_b() -> Self {
        Self::rsa(RSA_B_PEM)
    }

    pub(crate) fn ec(alg: Algorithm) -> Self {
        let signing = match alg {
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            _ => panic!("not an EC alg"),
        };
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
        Self::Ec(EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap(), alg)
    }

    pub(crate) fn ed25519() -> Self {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Self::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    pub(crate) fn hmac(secret: &[u8]) -> Self {
        Self::Hmac(secret.to_vec())
    }

    /// The public JWK, with `kid`.
    pub(crate) fn jwk(&self, kid: &str) -> Value {
        match self {
            Self::Rsa(k) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(k.public());
                json!({"kty":"RSA","kid":kid,"use":"sig","n":b64(&c.n),"e":b64(&c.e)})
            }
            Self::Ec(k, alg) => {
                let p = k.public_key().as_ref();
                let size = (p.len() - 1) / 2;
                let crv = if *alg == Algorithm::ES256 { "P-256" } else { "P-384" };
                json!({"kty":"EC","kid":kid,"crv":crv,"x":b64(&p[1..=size]),"y":b64(&p[1 + size..])})
            }
            Self::Ed(k) => json!({"kty":"OKP","kid":kid,"crv":"Ed25519","x":b64(k.public_key().as_ref())}),
            Self::Hmac(_) => panic!("no public JWK for a secret"),
        }
    }

    /// Signs `signing_input` with `alg` (which must suit the key).
    pub(crate) fn sign_raw(&self, alg: Algorithm, signing_input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Self::Rsa(k) => {
                let encoding: &dyn signature::RsaEncoding = match alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                    _ => panic!("not an RSA alg"),
                };
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(encoding, &rng, signing_input, &mut sig).unwrap();
                sig
            }
            Self::Ec(k, _) => k.sign(&rng, signing_input).unwrap().as_ref().to_vec(),
            Self::Ed(k) => k.sign(signing_input).as_ref().to_vec(),
            Self::Hmac(secret) => {
                let h = match alg {
                    Algorithm::HS256 => hmac::HMAC_SHA256,
                    Algorithm::HS384 => hmac::HMAC_SHA384,
                    _ => hmac::HMAC_SHA512,
                };
                hmac::sign(&hmac::Key::new(h, secret), signing_input).as_ref().to_vec()
            }
        }
    }

    /// A compact JWS of `header` and `claims`, signed with `alg`.
    pub(crate) fn sign(&self, alg: Algorithm, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig = self.sign_raw(alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A token with header `{"alg", "kid", "typ": "JWT"}`.
    pub(crate) fn token(&self, alg: Algorithm, kid: &str, claims: &Value) -> String {
        self.sign(alg, &json!({"alg": alg.name(), "kid": kid, "typ": "JWT"}), claims)
    }
}

pub(crate) fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

/// An issuer config with static keys.
pub(crate) fn static_config(algorithms: Vec<Algorithm>, keys: Vec<StaticKey>) -> IssuerConfig {
    IssuerConfig::new(ISSUER, vec![AUDIENCE.to_owned()], algorithms, KeySource::Static(keys))
}

/// A test CA and a leaf for 127.0.0.1 / localhost.
pub(crate) struct TestPki {
    pub(crate) ca_pem: String,
    pub(crate) leaf_cert_pem: String,
    pub(crate) leaf_key_pem: String,
}

impl TestPki {
    pub(crate) fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.distinguished_name.push(DnType::CommonName, "portcullis-jwt test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, "localhost");
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
        Self { ca_pem: ca_cert.pem(), leaf_cert_pem: leaf_cert.pem(), leaf_key_pem: leaf_key.serialize_pem() }
    }
}

/// One canned answer of the test server.
#[derive(Clone)]
pub(crate) struct Canned {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) delay: Duration,
}

impl Canned {
    pub(crate) fn ok(body: impl Into<String>) -> Self {
        Self {
            status: 200,
            body: body.into(),
            headers: vec![("content-type", "application/json".into())],
            delay: Duration::ZERO,
        }
    }

    pub(crate) fn status(status: u16) -> Self {
        Self { status, body: String::new(), headers: Vec::new(), delay: Duration::ZERO }
    }
}

#[derive(Default)]
struct ServerState {
    routes: HashMap<String, Canned>,
    hits: HashMap<String, usize>,
}

/// An HTTPS server on 127.0.0.1:0 answering canned responses by path, counting requests per path.
pub(crate) struct KeyServer {
    pub(crate) addr: SocketAddr,
    pub(crate) ca_pem: String,
    state: Arc<Mutex<ServerState>>,
    https: HttpsServer,
}

impl KeyServer {
    pub(crate) async fn start() -> Self {
        let pki = TestPki::new();
        let state = Arc::new(Mutex::new(ServerState::default()));
        let shared = state.clone();
        let any = "127.0.0.1:0".parse().unwrap();
        let https =
            HttpsServer::start(any, &pki.leaf_cert_pem, &pki.leaf_key_pem, move |req| answer(req, shared.clone()))
                .await;
        Self { addr: https.addr, ca_pem: pki.ca_pem, state, https }
    }

    /// `https://127.0.0.1:PORT`
    pub(crate) fn base(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    pub(crate) fn set(&self, path: &str, canned: Canned) {
        self.state.lock().unwrap().routes.insert(path.to_owned(), canned);
    }

    pub(crate) fn hits(&self, path: &str) -> usize {
        self.state.lock().unwrap().hits.get(path).copied().unwrap_or(0)
    }

    /// An issuer config fetching `path` as a JWKS from this server, trusting only its CA.
    pub(crate) fn jwks_config(&self, path: &str, algorithms: Vec<Algorithm>) -> IssuerConfig {
        let mut config =
            IssuerConfig::new(ISSUER, vec![AUDIENCE.to_owned()], algorithms, KeySource::Jwks(self.url(path)));
        config.trust = portcullis_jwt::TrustRoots::CaPem(self.ca_pem.clone());
        config
    }

    pub(crate) fn stop(&self) {
        self.https.stop();
    }
}

async fn answer(req: Request<Incoming>, state: Arc<Mutex<ServerState>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let canned = {
        let mut s = state.lock().unwrap();
        *s.hits.entry(path.clone()).or_default() += 1;
        s.routes.get(&path).cloned()
    };
    let canned = canned.unwrap_or_else(|| Canned::status(404));
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    let mut response = Response::builder().status(StatusCode::from_u16(canned.status).unwrap());
    for (name, value) in &canned.headers {
        response = response.header(*name, value);
    }
    Ok(response.body(Full::new(Bytes::from(canned.body))).unwrap())
}
