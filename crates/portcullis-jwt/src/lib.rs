//! JWT bearer verification for Portcullis: compact JWS tokens (RFC 7515/7519) checked the way RFC 8725 asks.
//!
//! An [`Issuer`] is built from an [`IssuerConfig`]: the exact `iss`, the accepted audiences, the algorithms
//! allowed for that issuer, and where its keys come from ([`KeySource`]): an OpenID Connect discovery URL, a
//! JWKS URL, static public keys (JWK, JWKS or PEM), or a shared secret for HS*. [`Issuer::verify`] is
//! synchronous and checks, in order: token size (before any decoding), three base64url segments, the header
//! (`alg` allowed, never `none`; `crit` refused; `typ` when configured), the key picked by `kid` and bound to the
//! algorithm's key type, the signature, and then the claims (`iss`, `aud`, `exp`, `nbf`, `iat` with leeway,
//! required claims). Each refusal is a [`JwtError`] with a stable reason code (`auth.jwt.expired` …).
//! [`Claims`] gives typed accessors and [`Claims::claim_as_header_value`] for mapping claims to upstream headers.
//!
//! Keys from a URL are fetched over HTTPS only, with verified certificates (the Mozilla roots, or a configured CA
//! bundle), a deadline, a 64 KiB body cap and no redirects; a key set holds at most 100 keys, and RSA keys under
//! 2048 bits, symmetric JWKs and keys not meant for signatures are dropped. The set is parsed once per fetch and
//! swapped in atomically, so verification never waits for the network. [`Issuer::spawn_refresher`] refetches on
//! a schedule; a token with an unknown `kid` may trigger [`Issuer::refresh_for_unknown_kid`] (or use
//! [`Issuer::verify_or_refresh`]), which fetches at most once per `min_refresh_interval` however many tokens
//! ask, with concurrent callers sharing one fetch. When fetching fails, the last good keys stay in use (an
//! outage at the identity provider does not take the gateway down); only an issuer that never loaded keys
//! answers [`JwtError::KeysUnavailable`], on which the caller fails closed.
//!
//! Opaque tokens are checked by OAuth 2.0 token introspection (RFC 7662) instead: an [`Introspector`] asks the
//! authorization server over the same verified HTTPS (a form POST with `client_secret_basic`), reads its answer
//! strictly, remembers active answers (never past `exp`) and inactive ones for their TTLs under the token's
//! SHA-256, shares one call among concurrent requests for the same token, and reports an endpoint that is down,
//! slow or answers garbage as an [`IntrospectionError`] (never remembered), on which the caller fails closed.
//!
//! What it does not do: JWE (encrypted tokens), nested JWTs, unencoded payloads (RFC 7797), `jku`/`x5u`/`jwk`/
//! `x5c` header keys (always ignored: keys come from configuration only), P-521 and Ed448, token revocation,
//! replay (`jti`) tracking, certificate-bound token enforcement (it exposes `cnf.x5t#S256` for
//! the caller), and policy wiring into the gateway (the caller maps [`JwtError::reason`] to deny responses).
//!
//! The one design decision: the JOSE layer is written here, on `ring` (already built for rustls), instead of
//! using the `jsonwebtoken` crate. The RFC 8725 checks are then explicit code rather than options: `crit` is
//! refused, `typ` is compared per RFC 7515, each key is bound to its key type and to its JWK `alg`, HMAC keys
//! can only come from a configured secret (so a public key can never be used as an HMAC secret), and
//! duplicate header or top-level claim names are refused. It also keeps verification cheap: the token is
//! split once, small segments decode into stack buffers, the header is parsed borrowing from them, the payload
//! is parsed only after the signature verified, and keys are decoded and checked once at load (EC points are
//! validated then, HMAC keys prepared then), so a verify with a cached key is essentially the signature check.
//!
//! ```no_run
//! use std::time::SystemTime;
//! use portcullis_jwt::{Algorithm, Issuer, IssuerConfig, KeySource};
//!
//! # async fn example(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let config = IssuerConfig::new(
//!     "https://login.example.com",
//!     vec!["api://orders".to_owned()],
//!     vec![Algorithm::RS256, Algorithm::ES256],
//!     KeySource::oidc_discovery("https://login.example.com"),
//! );
//! let issuer = Issuer::new(config)?;
//! let _refresher = issuer.spawn_refresher();
//! match issuer.verify_or_refresh(token, SystemTime::now()).await {
//!     Ok(claims) => println!("subject {:?}, scopes {:?}", claims.sub(), claims.scopes()),
//!     Err(e) => println!("denied: {}", e.reason()),
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod algorithm;
mod base64url;
mod claims;
mod config;
mod der;
mod discovery;
mod error;
mod fetch;
mod header;
mod introspection;
mod issuer;
mod jwk;
mod key;
mod keyset;
mod pem;
mod refresh;
mod remote;
mod url;
mod validate;

pub use algorithm::{Algorithm, AlgorithmParseError};
pub use claims::Claims;
pub use config::{
    ConfigError, DEFAULT_FETCH_TIMEOUT, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_BYTES, DEFAULT_MIN_REFRESH_INTERVAL,
    DEFAULT_REFRESH_INTERVAL, IssuerConfig, KeySource, StaticKey, TrustRoots,
};
pub use error::JwtError;
pub use fetch::FetchError;
pub use introspection::{
    ActiveToken, DEFAULT_INTROSPECTION_TIMEOUT, DEFAULT_MAX_CACHED_TOKENS, DEFAULT_MAX_CONCURRENT_CALLS,
    DEFAULT_NEGATIVE_TTL, DEFAULT_POSITIVE_TTL, Introspection, IntrospectionConfig, IntrospectionConfigError,
    IntrospectionError, Introspector, Refusal,
};
pub use issuer::Issuer;
pub use refresh::{RefreshOutcome, RefresherHandle};
