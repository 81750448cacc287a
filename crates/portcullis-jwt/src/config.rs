//! How an issuer is configured, with the defaults and the combinations refused at build time.

use std::fmt;
use std::time::Duration;

use crate::algorithm::Algorithm;

/// Default largest token accepted: 8 KiB.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default scheduled key refresh: every 10 minutes.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(600);
/// Default shortest time between two fetches triggered by unknown `kid`s: 30 seconds.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Default deadline for one HTTPS fetch (connect, TLS, request, body): 5 seconds.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default clock-skew allowance for `exp`, `nbf` and `iat`: 30 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// One trusted token issuer. Build an [`Issuer`](crate::Issuer) from it with
/// [`Issuer::new`](crate::Issuer::new); [`IssuerConfig::new`] fills in the defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// The exact `iss` value tokens must carry (and a discovery document must name).
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one. Must not be empty (RFC 8725 §3.9).
    pub audiences: Vec<String>,
    /// Algorithms accepted from this issuer. Must not be empty; HMAC ones only with [`KeySource::Secret`], and
    /// then only HMAC ones.
    pub algorithms: Vec<Algorithm>,
    /// Where the verification keys come from.
    pub keys: KeySource,
    /// Clock-skew allowance for `exp`, `nbf` and `iat`. Default 30 s.
    pub leeway: Duration,
    /// When set, tokens must carry `iat` and be at most this old (plus leeway). Default none.
    pub max_age: Option<Duration>,
    /// Claims that must be present and not null, besides `iss`, `aud` and `exp` which are always required.
    pub required_claims: Vec<String>,
    /// When set, the `typ` header must equal it (case-insensitive, `application/` optional), e.g. `at+jwt`.
    pub typ: Option<String>,
    /// Tokens longer than this are refused before any decoding. Default 8 KiB.
    pub max_token_bytes: usize,
    /// How often [`Issuer::spawn_refresher`](crate::Issuer::spawn_refresher) refetches keys. Default 10 min.
    pub refresh_interval: Duration,
    /// Shortest time between fetches triggered by unknown `kid`s (and the first retry delay of the background
    /// refresher). Default 30 s. Zero removes the limit: only for tests.
    pub min_refresh_interval: Duration,
    /// Deadline for each HTTPS fetch. Default 5 s.
    pub fetch_timeout: Duration,
    /// Which certificate authorities a key URL's server certificate must chain to. Default: the Mozilla roots.
    pub trust: TrustRoots,
}

impl IssuerConfig {
    /// A configuration with every optional setting at its default.
    #[must_use]
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>, algorithms: Vec<Algorithm>, keys: KeySource) -> Self {
        Self {
            issuer: issuer.into(),
            audiences,
            algorithms,
            keys,
            leeway: DEFAULT_LEEWAY,
            max_age: None,
            required_claims: Vec::new(),
            typ: None,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            min_refresh_interval: DEFAULT_MIN_REFRESH_INTERVAL,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            trust: TrustRoots::WebPki,
        }
    }
}

/// Where an issuer's verification keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// An OpenID Connect discovery document URL (https); its `jwks_uri` is then fetched.
    /// [`KeySource::oidc_discovery`] builds the standard URL from the issuer.
    Discovery(String),
    /// A JWK Set URL (https).
    Jwks(String),
    /// Public keys given in configuration.
    Static(Vec<StaticKey>),
    /// A shared secret for the HS* algorithms, at least as long as the longest allowed hash (32/48/64 bytes).
    Secret(Vec<u8>),
}

impl KeySource {
    /// Discovery at `{issuer}/.well-known/openid-configuration` (trailing `/` of the issuer removed).
    #[must_use]
    pub fn oidc_discovery(issuer: &str) -> Self {
        Self::Discovery(crate::discovery::well_known_url(issuer))
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Discovery(url) => f.debug_tuple("Discovery").field(url).finish(),
            Self::Jwks(url) => f.debug_tuple("Jwks").field(url).finish(),
            Self::Static(keys) => f.debug_tuple("Static").field(keys).finish(),
            Self::Secret(secret) => write!(f, "Secret(<{} bytes>)", secret.len()),
        }
    }
}

/// One public key given in configuration.
#[derive(Debug, Clone)]
pub enum StaticKey {
    /// One JWK, as JSON text (RSA, EC P-256/P-384 or OKP Ed25519; never `oct`).
    Jwk(String),
    /// A JWK Set, as JSON text.
    Jwks(String),
    /// A `PUBLIC KEY` (SubjectPublicKeyInfo) or `RSA PUBLIC KEY` (PKCS #1) PEM block, with an optional `kid`.
    Pem {
        /// The PEM text.
        pem: String,
        /// The `kid` tokens use to name this key, if any.
        kid: Option<String>,
    },
}

/// The certificate authorities that key URLs' servers must chain to.
#[derive(Debug, Clone, Default)]
pub enum TrustRoots {
    /// The Mozilla root program (webpki-roots).
    #[default]
    WebPki,
    /// Only the certificates of this PEM bundle (a private PKI, or tests).
    CaPem(String),
}

/// Why an [`IssuerConfig`] is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `issuer` is empty.
    #[error("issuer is empty")]
    EmptyIssuer,
    /// `audiences` is empty: every token must be checked against an audience.
    #[error("no audience configured")]
    NoAudience,
    /// `algorithms` is empty.
    #[error("no algorithm allowed")]
    NoAlgorithms,
    /// An HS* algorithm is allowed but keys are public keys (or come from a URL): key confusion.
    #[error("{0} needs a shared secret and cannot be combined with public keys")]
    HmacWithPublicKeys(Algorithm),
    /// A secret is configured together with a non-HMAC algorithm.
    #[error("{0} cannot be verified with a shared secret")]
    AsymmetricWithSecret(Algorithm),
    /// The secret is shorter than the hash output of an allowed HS* algorithm (RFC 7518 §3.2).
    #[error("the secret must be at least {min} bytes for {alg}")]
    SecretTooShort {
        /// The algorithm.
        alg: Algorithm,
        /// Its minimum length in bytes.
        min: usize,
    },
    /// A key URL is not a usable https URL.
    #[error("{url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// A static key cannot be used.
    #[error("static key {index}: {reason}")]
    StaticKey {
        /// Its position in the list.
        index: usize,
        /// Why.
        reason: String,
    },
    /// [`KeySource::Static`] yields no key.
    #[error("no static key configured")]
    NoStaticKeys,
    /// The trust roots are unusable.
    #[error("trust roots: {0}")]
    TrustRoots(String),
    /// `max_token_bytes`, `refresh_interval` or `fetch_timeout` is zero.
    #[error("{0} must not be zero")]
    Zero(&'static str),
}
