//! The configuration file as written: serde shapes with no logic. Unknown
//! keys are errors everywhere. List entries carry their source position so
//! that later checks can point at them.

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::units::{HumanDuration, HumanSize, KeepFor, SecretRef, SecretValue};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// Worker threads (one runtime each); default: the number of CPUs. Restart-only.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Where clients connect.
    pub listeners: Vec<Spanned<ListenerSpec>>,
    /// Connection and request-head limits.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Peers whose forwarding headers are believed (CIDRs).
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Hosts and CIDRs upstream targets may point at. Required.
    #[serde(default)]
    pub upstream_allowlist: Vec<String>,
    /// Named upstreams.
    pub upstreams: Vec<Spanned<UpstreamSpec>>,
    /// Routes, matched by host, path and method.
    pub routes: Vec<Spanned<RouteSpec>>,
    /// Security response headers for every route (routes may override).
    #[serde(default)]
    pub security_headers: SecurityHeadersSpec,
    /// The access log.
    #[serde(default)]
    pub access_log: AccessLogSpec,
    /// The ops listener (Prometheus metrics, health).
    #[serde(default)]
    pub metrics: Option<MetricsSpec>,
    /// Operational logging.
    #[serde(default)]
    pub logging: LoggingSpec,
    /// Configuration reload.
    #[serde(default)]
    pub reload: ReloadSpec,
    /// Graceful shutdown.
    #[serde(default)]
    pub shutdown: ShutdownSpec,
    /// Lockout after authentication failures at the gateway.
    #[serde(default)]
    pub brute_force: BruteForceSpec,
    /// Where the store, the audit signing key and other state live (created
    /// owner-only); relative to this file. Default `data` beside this file.
    /// Restart-only.
    #[serde(default)]
    pub data_dir: Option<Spanned<String>>,
    /// The runtime-data store (default: SQLite in `data_dir`). Restart-only.
    #[serde(default)]
    pub store: StoreSpec,
    /// Where rate limits count: in this process (default) or in Redis, shared by every gateway.
    #[serde(default)]
    pub counters: CountersSpec,
    /// The master passphrase for `enc:v1:` values. Restart-only.
    #[serde(default)]
    pub secrets: SecretsSpec,
    /// The audit log's checkpoints and forwarding. Restart-only.
    #[serde(default)]
    pub audit: AuditSpec,
    /// How long runtime data is kept. Restart-only.
    #[serde(default)]
    pub retention: RetentionSpec,
    /// The admin API (default: on, `127.0.0.1:9180`). Restart-only.
    #[serde(default)]
    pub admin: Option<AdminSpec>,
}

/// A listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSpec {
    /// Name for logs and metrics.
    pub name: String,
    /// `ip:port`.
    pub listen: String,
    /// Makes this an HTTPS listener.
    #[serde(default)]
    pub tls: Option<TlsSpec>,
    /// Accept HTTP/2 (default true).
    #[serde(default = "yes")]
    pub http2: bool,
    /// Redirect every request to HTTPS (plain listeners only).
    #[serde(default)]
    pub redirect_https: Option<RedirectSpec>,
}

fn yes() -> bool {
    true
}

/// Redirect target.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectSpec {
    /// The HTTPS port to send clients to (default 443).
    #[serde(default = "https_port")]
    pub port: u16,
}

fn https_port() -> u16 {
    443
}

/// Server TLS.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// Certificates; chosen by SNI from their names, the first is the default.
    pub certificates: Vec<CertificateSpec>,
    /// Mutual TLS.
    #[serde(default)]
    pub client_auth: Option<ClientAuthSpec>,
    /// `"1.2"` (default) or `"1.3"`.
    #[serde(default)]
    pub min_version: Option<String>,
}

/// A certificate chain and its key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSpec {
    /// PEM chain path, leaf first.
    pub cert: String,
    /// PEM key: a path, `file:PATH` or `env:NAME`.
    pub key: SecretRef,
}

/// Client-certificate requirements.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthSpec {
    /// PEM bundle of accepted client CAs.
    pub ca: String,
    /// Refuse connections without a certificate (default true).
    #[serde(default = "yes")]
    pub required: bool,
}

/// Limits; every field has a safe default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Open connections, all listeners together (default 10000). Restart-only.
    pub max_connections: Option<usize>,
    /// Request target length (default 8KiB).
    pub max_uri: Option<HumanSize>,
    /// Request line plus headers (default 32KiB, at least 8KiB).
    pub max_header_bytes: Option<HumanSize>,
    /// Number of headers (default 100).
    pub max_headers: Option<usize>,
    /// TLS handshake and request head (default 10s).
    pub header_read_timeout: Option<HumanDuration>,
    /// Idle connection (default 60s).
    pub idle_timeout: Option<HumanDuration>,
    /// Wait for each chunk of a request body the gateway inspects (default 30s).
    pub body_read_timeout: Option<HumanDuration>,
    /// Concurrent HTTP/2 streams per connection (default 100).
    pub max_concurrent_streams: Option<u32>,
}

/// An upstream.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Name routes refer to.
    pub name: String,
    /// `http://host:port` or `https://host:port` targets.
    pub targets: Vec<String>,
    /// Timeouts.
    #[serde(default)]
    pub timeouts: UpstreamTimeoutsSpec,
    /// Passive health.
    #[serde(default)]
    pub health: HealthSpec,
    /// TLS to `https` targets.
    #[serde(default)]
    pub tls: Option<UpstreamTlsSpec>,
    /// Send the client's Host header (default false: the target's).
    #[serde(default)]
    pub preserve_host: bool,
    /// Offer HTTP/2 to `https` targets (default false).
    #[serde(default)]
    pub http2: bool,
    /// Idle keep-alive connections kept per target (default 64).
    #[serde(default)]
    pub max_idle_connections: Option<usize>,
    /// Requests in flight to this upstream at most, from all its routes
    /// (per gateway process); more are answered 503 `upstream.busy` at once.
    #[serde(default)]
    pub max_in_flight: Option<usize>,
}

/// Upstream timeouts.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTimeoutsSpec {
    /// Default 5s.
    pub connect: Option<HumanDuration>,
    /// Response head and each body chunk; default 30s.
    pub read: Option<HumanDuration>,
    /// Whole exchange; default 60s.
    pub total: Option<HumanDuration>,
}

/// Passive health.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// Consecutive failures before a target is skipped (default 1).
    pub max_fails: Option<u32>,
    /// How long it is skipped (default 10s).
    pub cooldown: Option<HumanDuration>,
}

/// Upstream TLS.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsSpec {
    /// PEM CA bundle (default: public web PKI roots).
    pub ca: Option<String>,
    /// Client certificate for mutual TLS.
    pub client_certificate: Option<CertificateSpec>,
}

/// A route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Name for logs and metrics.
    pub name: String,
    /// Hosts served (exact or `*.domain`); empty: any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// An exact path or template (`/v1/users/{id}`).
    #[serde(default)]
    pub path: Option<String>,
    /// A path prefix, matched segment-wise.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Methods served (default: all but TRACE and CONNECT).
    #[serde(default)]
    pub methods: Vec<String>,
    /// The upstream's name.
    pub upstream: String,
    /// Mark this API version deprecated.
    #[serde(default)]
    pub deprecated: Option<DeprecatedSpec>,
    /// Answer 410 Gone.
    #[serde(default)]
    pub retired: bool,
    /// Replace upstream 5xx bodies with the generic error (default true).
    #[serde(default = "yes")]
    pub replace_upstream_errors: bool,
    /// Overrides of the global security headers.
    #[serde(default)]
    pub security_headers: SecurityHeadersSpec,
    /// The route's policies, in order.
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
}

/// Deprecation of an API version.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeprecatedSpec {
    /// `YYYY-MM-DD` the deprecation took effect.
    pub since: String,
    /// `YYYY-MM-DD` the route stops working.
    #[serde(default)]
    pub sunset: Option<String>,
    /// URL documenting the deprecation.
    #[serde(default)]
    pub link: Option<String>,
}

/// A route policy.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PolicySpec {
    /// Client IP allow and deny lists.
    IpFilter(IpFilterSpec),
    /// Accepted request media types (415), producible response types (406),
    /// and a syntax check of JSON and XML bodies (400).
    ContentType(ContentTypeSpec),
    /// Request body size limit (413).
    BodySize(SizeSpec),
    /// JSON threat limits (400).
    JsonThreat(JsonThreatSpec),
    /// XML threat limits (400); DTDs and processing instructions are always refused.
    XmlThreat(XmlThreatSpec),
    /// Remove or mask sensitive fields in JSON responses.
    ResponseMask(ResponseMaskSpec),
    /// Response body size limit (502).
    ResponseSize(SizeSpec),
    /// Malware scanning of uploads with ClamAV (403 when infected).
    MalwareScan(MalwareScanSpec),
    /// Rate limits and quotas, checked together (429).
    RateLimit(RateLimitSpec),
    /// Requests in flight per key (429).
    Concurrency(ConcurrencySpec),
    /// Requests validated against an OpenAPI 3.0/3.1 document: undeclared
    /// paths (404) and methods (405), parameters and JSON bodies (400).
    OpenApi(OpenApiSpec),
    /// API-key authentication from one header (401).
    ApiKey(ApiKeySpec),
    /// HTTP basic authentication against the store (401).
    Basic(BasicSpec),
    /// JWT bearer tokens of one issuer (401; 503 when its keys cannot be had).
    Jwt(JwtSpec),
    /// Opaque bearer tokens checked by OAuth 2.0 token introspection
    /// (RFC 7662) at one endpoint (401; 503 when it cannot answer).
    Introspection(IntrospectionSpec),
    /// Identity from the verified client certificate (401).
    MtlsIdentity(MtlsIdentitySpec),
    /// Authorization of the authenticated caller (403).
    Authorize(AuthorizeSpec),
    /// Several ways to authenticate: the first that admits the caller wins.
    AnyOf(AnyOfSpec),
}

/// `api_key`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySpec {
    /// The header carrying the key (default `X-API-Key`).
    #[serde(default)]
    pub header: Option<String>,
    /// Pass the key on to the upstream (default: removed).
    #[serde(default)]
    pub forward_credentials: bool,
}

/// `basic`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicSpec {
    /// Pass `Authorization` on to the upstream (default: removed).
    #[serde(default)]
    pub forward_credentials: bool,
}

/// `jwt`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSpec {
    /// The issuer (`iss`), exactly as in its tokens.
    pub issuer: String,
    /// Accepted audiences (`aud`); at least one.
    pub audiences: Vec<String>,
    /// Accepted algorithms: RS256/384/512, PS256/384/512, ES256/384, EdDSA,
    /// or HS256/384/512 (only with `secret`).
    pub algorithms: Vec<String>,
    /// A JWK Set URL (https); default: OIDC discovery from the issuer.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Static public keys instead: files with a PEM public key or a JWK (Set).
    #[serde(default)]
    pub keys: Vec<String>,
    /// A shared secret for HS* (never combined with public keys).
    #[serde(default)]
    pub secret: Option<SecretRef>,
    /// A PEM CA bundle to trust for the issuer's HTTPS (default: public roots).
    #[serde(default)]
    pub ca: Option<String>,
    /// Clock leeway for `exp`, `nbf`, `iat` (default 30s).
    #[serde(default)]
    pub leeway: Option<HumanDuration>,
    /// Claims every token must carry (`exp` always is).
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// Required `typ` header, e.g. `at+jwt`.
    #[serde(default)]
    pub typ: Option<String>,
    /// Largest token accepted (default 8KiB).
    #[serde(default)]
    pub max_token_size: Option<HumanSize>,
    /// How often the keys are fetched again (default 10m).
    #[serde(default)]
    pub refresh_interval: Option<HumanDuration>,
    /// The least time between fetches an unknown `kid` may cause (default 30s).
    #[serde(default)]
    pub min_refresh_interval: Option<HumanDuration>,
    /// The claim holding the caller's groups.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Claims copied to upstream headers: claim name → header name.
    #[serde(default)]
    pub claims_to_headers: std::collections::BTreeMap<String, String>,
    /// RFC 8705 certificate binding (`off`, `optional`, `required`; default `optional`).
    #[serde(default)]
    pub certificate_bound: CertificateBoundSpec,
    /// Pass `Authorization` on to the upstream (default: removed).
    #[serde(default)]
    pub forward_credentials: bool,
}

/// RFC 8705 certificate-bound tokens: what a token's `cnf.x5t#S256` means.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CertificateBoundSpec {
    /// `cnf` is not looked at.
    Off,
    /// Bound tokens need their client certificate; unbound ones pass (the default:
    /// a bound token is worth nothing to whoever steals it, at no cost to others).
    #[default]
    Optional,
    /// Every token must be bound and come with its client certificate.
    Required,
}

impl CertificateBoundSpec {
    /// Parses `off` (YAML's bare `off` arrives as false), `optional` or `required`.
    fn parse(text: &str) -> Option<Self> {
        match text {
            "off" => Some(Self::Off),
            "optional" => Some(Self::Optional),
            "required" => Some(Self::Required),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for CertificateBoundSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(crate::units::UnitVisitor(Self::parse, "off, optional or required"))
    }
}

/// `introspection`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionSpec {
    /// The introspection endpoint (https).
    pub endpoint: String,
    /// The gateway's client id at the authorization server.
    pub client_id: String,
    /// The gateway's client secret (`env:`, `file:` or `enc:v1:`; one
    /// trailing newline of a file is removed), sent as HTTP basic.
    pub client_secret: SecretRef,
    /// When set, active tokens' `iss` must equal it.
    #[serde(default)]
    pub issuer: Option<String>,
    /// When set, active tokens' `aud` must name at least one of these.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// A PEM CA bundle to trust for the endpoint's HTTPS (default: public roots).
    #[serde(default)]
    pub ca: Option<String>,
    /// Deadline for one call to the endpoint (default 2s).
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// How long an active answer is remembered, never past the token's
    /// `exp` (default 60s; 0s: not remembered).
    #[serde(default)]
    pub positive_ttl: Option<HumanDuration>,
    /// How long an inactive answer is remembered (default 10s; 0s: not remembered).
    #[serde(default)]
    pub negative_ttl: Option<HumanDuration>,
    /// The member holding the caller's groups.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Members copied to upstream headers: member name → header name.
    #[serde(default)]
    pub claims_to_headers: std::collections::BTreeMap<String, String>,
    /// RFC 8705 certificate binding (`off`, `optional`, `required`; default `optional`).
    #[serde(default)]
    pub certificate_bound: CertificateBoundSpec,
    /// Pass `Authorization` on to the upstream (default: removed).
    #[serde(default)]
    pub forward_credentials: bool,
}

/// `any_of`: authentication policies, tried in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnyOfSpec {
    /// Two or more of `api_key`, `basic`, `jwt`, `introspection`, `mtls_identity`.
    pub policies: Vec<PolicySpec>,
}

/// `mtls_identity`: the store's registered fingerprints first, then `rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsIdentitySpec {
    /// Rules mapping certificates to consumers by subject and SANs, tried in
    /// order after the fingerprint look-up; the first that matches wins.
    #[serde(default)]
    pub rules: Vec<MtlsRuleSpec>,
}

/// One `mtls_identity` rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsRuleSpec {
    /// Patterns the certificate must all match.
    #[serde(rename = "match")]
    pub matches: CertMatchSpec,
    /// The consumer's id (`con_…`) the certificate proves.
    pub consumer: String,
    /// The groups the identity carries (the store is not consulted).
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Certificate patterns: exact, or ending in one `*` segment after `/`, `.`, `:` or `@`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertMatchSpec {
    /// The subject's common name (the certificate must have exactly one).
    #[serde(default)]
    pub subject_cn: Option<String>,
    /// The subject's organization (exactly one).
    #[serde(default)]
    pub subject_o: Option<String>,
    /// The subject's organizational unit (exactly one).
    #[serde(default)]
    pub subject_ou: Option<String>,
    /// Any DNS SAN (case-insensitive).
    #[serde(default)]
    pub san_dns: Option<String>,
    /// Any URI SAN, e.g. a SPIFFE ID.
    #[serde(default)]
    pub san_uri: Option<String>,
    /// Any e-mail SAN.
    #[serde(default)]
    pub san_email: Option<String>,
}

/// `authorize`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeSpec {
    /// Only for these methods (default: all).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Every one of these scopes is required.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// At least one of these groups is required.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Consumer ids allowed / denied.
    #[serde(default)]
    pub consumers: AllowDenySpec,
    /// App ids allowed / denied.
    #[serde(default)]
    pub apps: AllowDenySpec,
    /// Path parameters bound to the caller's identity.
    #[serde(default)]
    pub bind: Vec<BindSpec>,
}

/// Allow and deny lists of ids.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowDenySpec {
    /// Only these (empty: any).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Never these.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// `{param}` must equal (or be one of) the identity's `claim`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindSpec {
    /// A template parameter of the route's path.
    pub param: String,
    /// `sub`, `consumer`, `app`, `groups`, `scopes` or a token claim.
    pub claim: String,
}

/// `open_api`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenApiSpec {
    /// The OpenAPI 3.0/3.1 document, YAML or JSON, relative to this file.
    pub document: String,
    /// A prefix removed from request paths before they are matched against
    /// the document's paths (e.g. `/v1`).
    #[serde(default)]
    pub base_path: Option<String>,
    /// Refuse query parameters the operation does not declare (default false).
    #[serde(default)]
    pub reject_unknown_query: bool,
    /// Check JSON responses against the schema the operation declares for
    /// their status and log a warning when one does not match; report-only,
    /// the response is sent unchanged (default false).
    #[serde(default)]
    pub validate_responses: bool,
}

/// `concurrency`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConcurrencySpec {
    /// Name for metrics.
    pub name: String,
    /// What is counted together (as for rate limits); `[route]` protects the backend.
    pub key: Vec<String>,
    /// Requests in flight at most.
    pub max: u32,
}

/// `rate_limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// The limits; a request must fit all of them.
    pub limits: Vec<LimitSpec>,
    /// `reject` (default: 429 at once) or `delay` (wait up to `max_delay`).
    #[serde(default)]
    pub on_limit: Option<String>,
    /// Longest wait in `delay` mode (default 1s).
    #[serde(default)]
    pub max_delay: Option<HumanDuration>,
    /// `draft` (default: RateLimit-Policy and RateLimit), `legacy` (X-RateLimit-*), `both` or `none`.
    #[serde(default)]
    pub headers: Option<String>,
}

/// One limit.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// Name for headers, metrics and logs.
    pub name: String,
    /// What is counted together: `client_ip`, `route`, `method`, `header:NAME`,
    /// `consumer`, `app`, `subject`, `claim:NAME`.
    pub key: Vec<String>,
    /// Group client addresses by this IPv4 prefix (default 32).
    #[serde(default)]
    pub ipv4_prefix: Option<u8>,
    /// Group client addresses by this IPv6 prefix (default 64).
    #[serde(default)]
    pub ipv6_prefix: Option<u8>,
    /// `gcra` (default), `sliding_window` or `quota`.
    #[serde(default)]
    pub algorithm: Option<String>,
    /// `N/s`, `N/m`, `N/h` or `N/d` (gcra and sliding_window).
    #[serde(default)]
    pub rate: Option<String>,
    /// Requests that may come at once (gcra; default: the rate's count).
    #[serde(default)]
    pub burst: Option<u64>,
    /// Requests per period (quota).
    #[serde(default)]
    pub quota: Option<u64>,
    /// `day` or `month` (quota).
    #[serde(default)]
    pub period: Option<String>,
    /// IANA time zone whose calendar resets the quota (default UTC).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// While shared counters are unreachable: `local` (default: count on this
    /// gateway with the limit divided by `counters.gateways`) or `fail_closed` (503).
    #[serde(default)]
    pub on_backend_failure: Option<String>,
}

/// `malware_scan`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MalwareScanSpec {
    /// `tcp://host:port` or `unix:/path/to/clamd.sock`.
    pub clamd: String,
    /// Media ranges to scan (default: every body); multipart parts are scanned one by one.
    #[serde(default)]
    pub content_types: Vec<String>,
    /// Longest wait for the scanner (default 10s).
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    /// `fail_closed` (default: 503 when the scanner cannot answer) or `fail_open`.
    #[serde(default)]
    pub on_failure: Option<String>,
}

/// `ip_filter`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpFilterSpec {
    /// CIDRs allowed (empty: all).
    #[serde(default)]
    pub allow: Vec<String>,
    /// CIDRs denied.
    #[serde(default)]
    pub deny: Vec<String>,
}

/// `content_type`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentTypeSpec {
    /// Media ranges a request body may declare (`application/json`, `application/*+json`).
    #[serde(default)]
    pub request: Vec<String>,
    /// Media types the route answers with; `Accept` must admit one.
    #[serde(default)]
    pub response: Vec<String>,
    /// Check that JSON and XML bodies parse as what they declare (default true).
    #[serde(default = "yes")]
    pub check_syntax: bool,
}

/// `body_size` and `response_size`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeSpec {
    /// The limit.
    pub max: HumanSize,
}

/// `json_threat`; unset limits take the defaults shown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonThreatSpec {
    /// Default 32.
    pub max_depth: Option<u32>,
    /// Default 1000.
    pub max_object_entries: Option<u32>,
    /// Default 10000.
    pub max_array_len: Option<u32>,
    /// Default 64KiB.
    pub max_string_len: Option<HumanSize>,
    /// Default 256.
    pub max_key_len: Option<HumanSize>,
    /// Default 64.
    pub max_number_len: Option<u32>,
    /// Default 100000.
    pub max_numbers: Option<u32>,
    /// Default false: a repeated key is refused.
    #[serde(default)]
    pub allow_duplicate_keys: bool,
}

/// `xml_threat`; unset limits take the defaults shown.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XmlThreatSpec {
    /// Default 32.
    pub max_depth: Option<u32>,
    /// Default 10000.
    pub max_elements: Option<u32>,
    /// Default 32.
    pub max_attributes: Option<u32>,
    /// Default 4KiB.
    pub max_attribute_len: Option<HumanSize>,
    /// Default 64KiB.
    pub max_text_len: Option<HumanSize>,
    /// Default 256.
    pub max_name_len: Option<u32>,
    /// Default 16.
    pub max_namespaces: Option<u32>,
}

/// `response_mask`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseMaskSpec {
    /// Field names, case-insensitive, at any depth.
    #[serde(default)]
    pub fields: Vec<String>,
    /// JSON pointers (`/account/iban`).
    #[serde(default)]
    pub pointers: Vec<String>,
    /// Regular expressions masked inside string values.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// `mask` (default) or `remove`.
    #[serde(default)]
    pub action: Option<String>,
}

/// A header value, or `false` to send none.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum HeaderSetting {
    /// `false` switches the header off.
    Switch(bool),
    /// The value to send.
    Value(String),
}

/// Security headers; unset fields inherit (route → global → built-in default).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityHeadersSpec {
    /// `Strict-Transport-Security` on TLS (default `max-age=31536000; includeSubDomains`).
    pub hsts: Option<HeaderSetting>,
    /// `X-Content-Type-Options: nosniff` (default on).
    pub content_type_options: Option<bool>,
    /// `X-Frame-Options` (default `DENY`).
    pub frame_options: Option<HeaderSetting>,
    /// `Content-Security-Policy` when the upstream sends none (default `frame-ancestors 'none'`).
    pub content_security_policy: Option<HeaderSetting>,
    /// `Referrer-Policy` (default `no-referrer`).
    pub referrer_policy: Option<HeaderSetting>,
    /// `Cache-Control` when the upstream sends none (default off; `no-store` for authenticated routes).
    pub cache_control: Option<HeaderSetting>,
    /// Upstream cookie hardening.
    pub cookies: Option<CookiesSpec>,
}

/// Flags added to upstream cookies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookiesSpec {
    /// Add `HttpOnly` (default true).
    #[serde(default = "yes")]
    pub http_only: bool,
    /// Add `Secure` on TLS (default true).
    #[serde(default = "yes")]
    pub secure: bool,
    /// `Strict`, `Lax` (default) or `None`; `false` adds none.
    #[serde(default)]
    pub same_site: Option<HeaderSetting>,
}

/// The access log.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogSpec {
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `stdout` (default) or a file path. Restart-only.
    #[serde(default)]
    pub path: Option<String>,
    /// Request headers to log (secrets among them are masked).
    #[serde(default)]
    pub headers: Vec<String>,
    /// Regular expressions whose matches are masked (e.g. card numbers).
    #[serde(default)]
    pub mask_patterns: Vec<String>,
}

impl Default for AccessLogSpec {
    fn default() -> Self {
        Self { enabled: true, path: None, headers: Vec::new(), mask_patterns: Vec::new() }
    }
}

/// The ops listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSpec {
    /// `ip:port` (default `127.0.0.1:9901`). Restart-only.
    #[serde(default)]
    pub listen: Option<String>,
}

/// Operational logging (stderr).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingSpec {
    /// `error`, `warn`, `info` (default), `debug`, `trace`.
    #[serde(default)]
    pub level: Option<String>,
    /// `text` (default) or `json`.
    #[serde(default)]
    pub format: Option<String>,
}

/// Reload behaviour.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadSpec {
    /// Reload when the file changes (default false; SIGHUP always works).
    #[serde(default)]
    pub watch: bool,
    /// How often the file is checked (default 2s).
    #[serde(default)]
    pub interval: Option<HumanDuration>,
}

/// `brute_force`: failures (bad keys, passwords, tokens) per client address
/// (and per user name for basic) that lock it, with doubling locks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BruteForceSpec {
    /// Failures within `window` that lock (default 10; 0 turns locking off).
    #[serde(default)]
    pub max_failures: Option<u32>,
    /// The window failures are counted in (default 5m).
    #[serde(default)]
    pub window: Option<HumanDuration>,
    /// The first lock (default 15m); each further lock doubles it.
    #[serde(default)]
    pub lock_for: Option<HumanDuration>,
    /// The longest lock (default 24h).
    #[serde(default)]
    pub max_lock: Option<HumanDuration>,
}

/// Shutdown behaviour.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSpec {
    /// How long SIGTERM waits for open requests (default 30s).
    #[serde(default)]
    pub drain_timeout: Option<HumanDuration>,
}

/// The runtime-data store.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSpec {
    /// A `postgres://` URL, written literally or as `env:NAME`, `file:PATH`
    /// or `enc:v1:…`; absent selects SQLite in `data_dir`. Never printed.
    #[serde(default)]
    pub url: Option<Spanned<SecretValue>>,
}

/// Where rate limits count.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountersSpec {
    /// A `redis://` or `rediss://` URL of one Redis server, written literally or
    /// as `env:NAME`, `file:PATH` or `enc:v1:…` (it may hold a password). Never printed.
    #[serde(default)]
    pub redis: Option<Spanned<SecretValue>>,
    /// The seed nodes of a Redis Cluster (instead of `redis`), written the same ways.
    #[serde(default)]
    pub redis_cluster: Vec<Spanned<SecretValue>>,
    /// PEM file of CA certificates trusted for `rediss://` besides the system's.
    #[serde(default)]
    pub ca: Option<Spanned<String>>,
    /// Gateways sharing the counters (default 1): a limit falling back to local
    /// counting allows each gateway this share of its rate.
    #[serde(default)]
    pub gateways: Option<Spanned<u64>>,
    /// Longest wait for Redis per request (default 50ms).
    #[serde(default)]
    pub timeout: Option<Spanned<HumanDuration>>,
    /// After a failure, Redis is not asked again for this long (default 1s).
    #[serde(default)]
    pub retry_after: Option<Spanned<HumanDuration>>,
    /// Remember refusals locally, so a key over its limit costs no round trip
    /// until its `Retry-After` has passed (default true).
    #[serde(default)]
    pub local_precheck: Option<bool>,
}

/// Secrets at rest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSpec {
    /// Where the master passphrase comes from: `env:NAME`, `file:PATH`
    /// (owner-only, relative to this file) or `cmd:PROGRAM ARG…` (no shell).
    /// Needed by `enc:v1:` values anywhere in this file.
    #[serde(default)]
    pub master_passphrase: Option<Spanned<String>>,
}

/// The audit log.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSpec {
    /// How often the chain's head is signed (default 10s, at least 1s).
    #[serde(default)]
    pub checkpoint_interval: Option<Spanned<HumanDuration>>,
    /// Other nodes' public keys (`ed25519:…`) whose checkpoints are trusted.
    #[serde(default)]
    pub trusted_keys: Vec<Spanned<String>>,
    /// Forward every event to `udp://IP:PORT` or `tcp://IP:PORT` (default off).
    #[serde(default)]
    pub syslog: Option<Spanned<String>>,
}

/// Retention of runtime data: each period is a duration or `forever`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSpec {
    /// How often retention runs (default 1h, at least 1s).
    #[serde(default)]
    pub interval: Option<Spanned<HumanDuration>>,
    /// Audit events (default 400d; pruned only up to a signed checkpoint).
    #[serde(default)]
    pub audit_events: Option<Spanned<KeepFor>>,
    /// Ended or expired admin sessions (default 30d).
    #[serde(default)]
    pub sessions: Option<Spanned<KeepFor>>,
    /// Revoked token ids, counted from the token's own expiry (default 7d).
    #[serde(default)]
    pub revoked_tokens: Option<Spanned<KeepFor>>,
    /// Expired or revoked API tokens and credentials (default 90d).
    #[serde(default)]
    pub expired_credentials: Option<Spanned<KeepFor>>,
}

/// The admin API. When the section is absent the API is on with every default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSpec {
    /// `false` switches the admin API off (default true); the other keys are
    /// then not checked beyond their names and types.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `ip:port` (default `127.0.0.1:9180`). Off loopback it needs `tls` or `allow`.
    #[serde(default)]
    pub listen: Option<Spanned<String>>,
    /// TLS, as for listeners (HTTP/1.1 only).
    #[serde(default)]
    pub tls: Option<Spanned<TlsSpec>>,
    /// Client CIDRs allowed to connect (default: any that can reach it).
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// Session lifetimes.
    #[serde(default)]
    pub sessions: AdminSessionsSpec,
    /// Rules for new passwords.
    #[serde(default)]
    pub password_policy: PasswordPolicySpec,
    /// argon2id cost of password hashes.
    #[serde(default)]
    pub password_hashing: PasswordHashingSpec,
    /// Locking after failed logins.
    #[serde(default)]
    pub lockout: LockoutSpec,
    /// How long a rotated API key keeps working by default (default 24h).
    #[serde(default)]
    pub key_rotation_overlap: Option<Spanned<HumanDuration>>,
    /// The longest lifetime of an automation token (default 90d).
    #[serde(default)]
    pub api_token_max_lifetime: Option<Spanned<HumanDuration>>,
    /// The largest request body read (default 64KiB, 1KiB to 16MiB).
    #[serde(default)]
    pub max_body: Option<Spanned<HumanSize>>,
}

impl Default for AdminSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
            tls: None,
            allow: Vec::new(),
            sessions: AdminSessionsSpec::default(),
            password_policy: PasswordPolicySpec::default(),
            password_hashing: PasswordHashingSpec::default(),
            lockout: LockoutSpec::default(),
            key_rotation_overlap: None,
            api_token_max_lifetime: None,
            max_body: None,
        }
    }
}

/// Admin session lifetimes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSessionsSpec {
    /// Ends a session after this long without a request (default 30m, at most 120m).
    #[serde(default)]
    pub idle_timeout: Option<Spanned<HumanDuration>>,
    /// Ends a session this long after login (default 8h, at least `idle_timeout`).
    #[serde(default)]
    pub absolute_timeout: Option<Spanned<HumanDuration>>,
}

/// Rules for new admin passwords.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicySpec {
    /// Fewest characters (default 12, at least 8).
    #[serde(default)]
    pub min_length: Option<Spanned<usize>>,
    /// Most characters (default 128, at most 256).
    #[serde(default)]
    pub max_length: Option<Spanned<usize>>,
    /// Character classes that suffice for strength, 1 to 4 (default 3).
    #[serde(default)]
    pub min_classes: Option<Spanned<u8>>,
    /// Estimated entropy in bits that suffices for strength (default 50).
    #[serde(default)]
    pub min_entropy_bits: Option<Spanned<f64>>,
    /// Refuse commonly used passwords (default true).
    #[serde(default)]
    pub reject_common: Option<bool>,
    /// Previous passwords that may not be reused (default 5, at most 24).
    #[serde(default)]
    pub history: Option<Spanned<usize>>,
    /// Passwords older than this must be changed (default: no limit).
    #[serde(default)]
    pub max_age: Option<Spanned<HumanDuration>>,
}

/// argon2id cost of admin password hashes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordHashingSpec {
    /// Memory (default 19MiB; 8MiB to 4GiB, whole KiB).
    #[serde(default)]
    pub memory: Option<Spanned<HumanSize>>,
    /// Passes over memory (default 2; 1 to 100).
    #[serde(default)]
    pub iterations: Option<Spanned<u32>>,
    /// Lanes (default 1; 1 to 16).
    #[serde(default)]
    pub parallelism: Option<Spanned<u32>>,
}

/// Locking after failed logins.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockoutSpec {
    /// Failures in a row that lock the account (default 5, at least 1).
    #[serde(default)]
    pub max_failures: Option<Spanned<u32>>,
    /// The first lock's length; each further lock doubles it (default 15m).
    #[serde(default)]
    pub lock_for: Option<Spanned<HumanDuration>>,
    /// The longest lock (default 24h, at least `lock_for`).
    #[serde(default)]
    pub max_lock: Option<Spanned<HumanDuration>>,
    /// Failures from one address within `source_window` that lock the
    /// address (default 50; 0 turns source locking off).
    #[serde(default)]
    pub source_max_failures: Option<Spanned<u32>>,
    /// The window source failures are counted in (default 15m).
    #[serde(default)]
    pub source_window: Option<Spanned<HumanDuration>>,
}
