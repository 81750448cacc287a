//! Spec → compiled [`Snapshot`] and management settings: every check runs
//! and every problem is collected, so one `check` run lists them all.

mod counters;
mod identity;
mod management;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use http::uri::{Authority, Scheme, Uri};
use ipnet::IpNet;
use portcullis_core::ip::IpSet;
use portcullis_core::{Lifecycle, MatchKind, MethodSet, Policy, Route, RouteTableBuilder, normalize_path};
use portcullis_inspect::json::JsonLimits;
use portcullis_inspect::media::MediaType;
use portcullis_inspect::xml::XmlLimits;
use portcullis_inspect::{
    BodySizePolicy, ClamdAddress, ContentTypePolicy, JsonThreatPolicy, MalwareScanPolicy, MaskAction, MaskRules,
    OpenApiOptions, OpenApiPolicy, ResponseMaskPolicy, ResponseSizePolicy, ScanFailure, SyntaxChecks, XmlThreatPolicy,
};
use portcullis_proxy::access_log::{LogDestination, LogMasking};
use portcullis_proxy::metrics::Metrics;
use portcullis_proxy::policy::{CookieFlags, IpFilterPolicy, SecurityHeadersPolicy};
use portcullis_proxy::upstream::{Health, Timeouts, Upstream, UpstreamSettings};
use portcullis_proxy::{HttpLimits, ListenerSettings, Snapshot};
use portcullis_ratelimit::{
    Algorithm, ConcurrencyPolicy, Counting, HeaderStyle, KeyPart, KeySpec, Limit, OnBackendFailure, OnLimit, Quota,
    QuotaPeriod, Rate, RateLimitPolicy, Store,
};
use portcullis_secrets::Decrypter;
use portcullis_tls::{CertificateFiles, ClientAuth, ServerTls, UpstreamTls};
use serde_saphyr::{Location, Spanned};

use crate::spec::{
    CertificateSpec, ConfigSpec, HeaderSetting, JsonThreatSpec, LimitSpec, ListenerSpec, MalwareScanSpec, OpenApiSpec,
    PolicySpec, RateLimitSpec, ResponseMaskSpec, RouteSpec, SecurityHeadersSpec, TlsSpec, UpstreamSpec, XmlThreatSpec,
};
use crate::units::SecretRef;
use crate::{ConfigError, Loaded, RuntimeSettings};

/// Collects errors while compiling.
pub(crate) struct Compiler<'a> {
    base: &'a Path,
    now_unix: i64,
    /// Opens `enc:v1:` values; loaded once, first.
    master: Master,
    /// What authentication policies lock after failures.
    brute_force: portcullis_ratelimit::LockoutRule,
    /// Where rate limits count.
    counting: Counting,
    /// Whether any listener asks clients for a certificate (`tls.client_auth`).
    client_certificates: bool,
    pub(crate) errors: Vec<ConfigError>,
}

/// The master passphrase, as far as it could be loaded.
enum Master {
    /// `secrets.master_passphrase` is not set.
    Unset,
    /// It is set but could not be loaded (already reported).
    Failed,
    /// Loaded.
    Ready(Decrypter),
}

impl Master {
    fn decrypter(&self) -> Option<&Decrypter> {
        match self {
            Self::Ready(d) => Some(d),
            Self::Unset | Self::Failed => None,
        }
    }
}

/// What an upstream target may point at.
struct Allowlist {
    nets: Vec<IpNet>,
    hosts: Vec<String>,
}

impl Allowlist {
    fn allows(&self, host: &str) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return self.nets.iter().any(|n| n.contains(&ip));
        }
        let host = host.to_ascii_lowercase();
        self.hosts.iter().any(|allowed| match allowed.strip_prefix("*.") {
            Some(parent) => host.strip_suffix(parent).is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
            None => *allowed == host,
        })
    }
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(base: &'a Path, now_unix: i64) -> Self {
        Self {
            base,
            now_unix,
            master: Master::Unset,
            brute_force: portcullis_ratelimit::LockoutRule::default(),
            counting: Counting::Local(Store::global()),
            client_certificates: false,
            errors: Vec::new(),
        }
    }

    fn error(&mut self, at: Option<Location>, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::new(at, path.into(), message.into()));
    }

    fn read(&mut self, at: Option<Location>, path: &str, file: &str) -> Option<Vec<u8>> {
        let full = self.base.join(file);
        std::fs::read(&full).map_err(|e| self.error(at, path, format!("cannot read {}: {e}", full.display()))).ok()
    }

    fn duration(value: Option<crate::units::HumanDuration>, default: Duration) -> Duration {
        value.map_or(default, |d| d.0)
    }

    /// Reads a secret, decrypting `enc:v1:` values; errors name `path`, never the value.
    fn secret(&mut self, at: Option<Location>, path: &str, secret: &SecretRef) -> Option<Vec<u8>> {
        if secret.is_encrypted() && matches!(self.master, Master::Failed) {
            self.error(at, path, "cannot be decrypted: secrets.master_passphrase could not be loaded");
            return None;
        }
        secret.resolve_with(self.base, self.master.decrypter()).map_err(|e| self.error(at, path, e)).ok()
    }

    /// Compiles the whole file.
    pub(crate) fn compile(&mut self, spec: &ConfigSpec, generation: u64, metrics: &Metrics) -> Option<Loaded> {
        // First: every `enc:v1:` value below needs it.
        let master_passphrase = self.master_passphrase(spec);
        self.brute_force = self.lockout_rule(&spec.brute_force);
        if let Some(counting) = self.counting(&spec.counters) {
            self.counting = counting;
        }
        self.client_certificates =
            spec.listeners.iter().any(|l| l.value.tls.as_ref().is_some_and(|tls| tls.client_auth.is_some()));
        let allowlist = self.allowlist(&spec.upstream_allowlist);
        let trusted_proxies = IpSet::new(self.nets("trusted_proxies", &spec.trusted_proxies));
        let limits = self.limits(spec);

        let workers = spec.workers.unwrap_or_else(default_workers);
        let mut upstreams = Vec::new();
        let mut upstream_index = HashMap::new();
        for (i, entry) in spec.upstreams.iter().enumerate() {
            let at = Some(entry.referenced);
            if upstream_index.insert(entry.value.name.clone(), upstreams.len()).is_some() {
                self.error(
                    at,
                    format!("upstreams[{i}].name"),
                    format!("upstream {:?} is defined twice", entry.value.name),
                );
            }
            if let Some(upstream) = self.upstream(i, entry, &allowlist, workers) {
                upstreams.push(Arc::new(upstream));
            }
        }

        let global_headers =
            self.security_headers(None, "security_headers", &spec.security_headers, &SecurityHeadersSpec::default());
        let mut builder = RouteTableBuilder::default();
        let mut route_metrics = Vec::new();
        let mut names = HashMap::new();
        for (i, entry) in spec.routes.iter().enumerate() {
            let at = Some(entry.referenced);
            if names.insert(entry.value.name.clone(), ()).is_some() {
                self.error(at, format!("routes[{i}].name"), format!("route {:?} is defined twice", entry.value.name));
            }
            let Some((route, path, kind)) = self.route(i, entry, &upstream_index, &spec.security_headers) else {
                continue;
            };
            let name = route.id.clone();
            match builder.add(&entry.value.hosts, &path, kind, route) {
                Ok(()) => route_metrics.push(metrics.route(&name)),
                Err(e) => self.error(at, format!("routes[{i}]"), e.to_string()),
            }
        }
        let routes = builder.build().map_err(|e| self.error(None, "routes", e.to_string())).ok();

        let mut listeners = Vec::new();
        for (i, entry) in spec.listeners.iter().enumerate() {
            if let Some(listener) = self.listener(i, entry) {
                listeners.push(listener);
            }
        }
        if spec.listeners.is_empty() {
            self.error(None, "listeners", "at least one listener is required");
        }
        let masking = self.masking(spec);
        let runtime = self.runtime(spec);
        let management = self.management(spec, master_passphrase);
        let (Some(routes), Some(global_headers), Some(masking), Some(mut runtime), Some((management, fingerprint))) =
            (routes, global_headers, masking, runtime, management)
        else {
            return None;
        };
        if !self.errors.is_empty() {
            return None;
        }
        let snapshot = Snapshot {
            generation,
            routes,
            upstreams,
            listeners,
            limits,
            trusted_proxies,
            default_policies: Arc::new([Arc::new(global_headers) as Arc<dyn Policy>]),
            masking: Arc::new(masking),
            route_metrics,
            unrouted_metrics: metrics.route("_unrouted"),
        };
        runtime.management = fingerprint;
        let shared_counters = match &self.counting {
            Counting::Shared(counters) => Some(counters.clone()),
            Counting::Local(_) => None,
        };
        Some(Loaded { snapshot, runtime, management, shared_counters })
    }

    fn nets(&mut self, path: &str, entries: &[String]) -> Vec<IpNet> {
        entries
            .iter()
            .enumerate()
            .filter_map(|(i, text)| {
                parse_net(text).or_else(|| {
                    self.error(None, format!("{path}[{i}]"), format!("{text:?} is not an IP address or CIDR"));
                    None
                })
            })
            .collect()
    }

    fn allowlist(&mut self, entries: &[String]) -> Allowlist {
        let mut list = Allowlist { nets: Vec::new(), hosts: Vec::new() };
        if entries.is_empty() {
            self.error(None, "upstream_allowlist", "is required: list the hosts and CIDRs upstreams may point at");
        }
        for (i, text) in entries.iter().enumerate() {
            if let Some(net) = parse_net(text) {
                list.nets.push(net);
            } else if is_host_pattern(text) {
                list.hosts.push(text.to_ascii_lowercase());
            } else {
                self.error(
                    None,
                    format!("upstream_allowlist[{i}]"),
                    format!("{text:?} is not a host, *.domain, IP or CIDR"),
                );
            }
        }
        list
    }

    fn limits(&mut self, spec: &ConfigSpec) -> HttpLimits {
        let l = &spec.limits;
        let max_header_bytes = l.max_header_bytes.map_or(32 * 1024, |s| s.0);
        if max_header_bytes < 8192 {
            self.error(None, "limits.max_header_bytes", "must be at least 8KiB");
        }
        let idle_timeout = Self::duration(l.idle_timeout, Duration::from_secs(60));
        let header_read_timeout = Self::duration(l.header_read_timeout, Duration::from_secs(10));
        for (name, value) in [("idle_timeout", idle_timeout), ("header_read_timeout", header_read_timeout)] {
            if value.is_zero() {
                self.error(None, format!("limits.{name}"), "must be more than zero");
            }
        }
        HttpLimits {
            body_read_timeout: Self::duration(l.body_read_timeout, Duration::from_secs(30)),
            max_uri_bytes: usize::try_from(l.max_uri.map_or(8192, |s| s.0)).unwrap_or(usize::MAX),
            max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
            max_headers: l.max_headers.unwrap_or(100),
            header_read_timeout,
            idle_timeout,
            max_connections: l.max_connections.unwrap_or(10_000),
            max_concurrent_streams: l.max_concurrent_streams.unwrap_or(100),
        }
    }

    fn certificate(&mut self, at: Option<Location>, path: &str, spec: &CertificateSpec) -> Option<CertificateFiles> {
        let cert_pem = self.read(at, &format!("{path}.cert"), &spec.cert);
        let key_pem = self.secret(at, &format!("{path}.key"), &spec.key);
        Some(CertificateFiles { label: spec.cert.clone(), cert_pem: cert_pem?, key_pem: key_pem? })
    }

    fn upstream(
        &mut self,
        i: usize,
        entry: &Spanned<UpstreamSpec>,
        allowlist: &Allowlist,
        workers: usize,
    ) -> Option<Upstream> {
        let (at, spec) = (Some(entry.referenced), &entry.value);
        let path = format!("upstreams[{i}]");
        let mut targets = Vec::new();
        if spec.targets.is_empty() {
            self.error(at, format!("{path}.targets"), "at least one target is required");
        }
        for (j, text) in spec.targets.iter().enumerate() {
            let at_path = format!("{path}.targets[{j}]");
            let Some((scheme, authority)) = parse_target(text) else {
                self.error(at, at_path, format!("{text:?} must be http://host:port or https://host:port with no path"));
                continue;
            };
            if !allowlist.allows(authority.host()) {
                self.error(at, at_path, format!("{:?} is not in upstream_allowlist", authority.host()));
                continue;
            }
            targets.push((scheme, authority));
        }
        let tls = spec.tls.as_ref();
        let ca_pem = tls.and_then(|t| t.ca.as_ref()).and_then(|ca| self.read(at, &format!("{path}.tls.ca"), ca));
        let client_certificate = match tls.and_then(|t| t.client_certificate.as_ref()) {
            Some(c) => Some(self.certificate(at, &format!("{path}.tls.client_certificate"), c)?),
            None => None,
        };
        let upstream_tls = UpstreamTls { ca_pem, client_certificate };
        let tls = portcullis_tls::client_config(&upstream_tls, self.now_unix)
            .map_err(|e| self.error(at, format!("{path}.tls"), e.to_string()))
            .ok()?;
        let t = &spec.timeouts;
        let timeouts = Timeouts {
            connect: Self::duration(t.connect, Duration::from_secs(5)),
            read: Self::duration(t.read, Duration::from_secs(30)),
            total: Self::duration(t.total, Duration::from_secs(60)),
        };
        if [timeouts.connect, timeouts.read, timeouts.total].iter().any(Duration::is_zero) {
            self.error(at, format!("{path}.timeouts"), "timeouts must be more than zero");
        }
        if spec.max_in_flight == Some(0) {
            self.error(at, format!("{path}.max_in_flight"), "must be more than zero (leave it out for no cap)");
        }
        let health = Health {
            max_fails: spec.health.max_fails.unwrap_or(1).max(1),
            cooldown: Self::duration(spec.health.cooldown, Duration::from_secs(10)),
        };
        (!targets.is_empty()).then(|| {
            Upstream::new(UpstreamSettings {
                name: spec.name.clone(),
                targets,
                timeouts,
                health,
                preserve_host: spec.preserve_host,
                tls,
                http2: spec.http2,
                max_idle_per_target: spec.max_idle_connections.unwrap_or(64),
                max_in_flight: spec.max_in_flight,
                workers,
            })
        })
    }

    fn route(
        &mut self,
        i: usize,
        entry: &Spanned<RouteSpec>,
        upstreams: &HashMap<String, usize>,
        global: &SecurityHeadersSpec,
    ) -> Option<(Route, String, MatchKind)> {
        let (at, spec) = (Some(entry.referenced), &entry.value);
        let path = format!("routes[{i}]");
        let (route_path, kind) = match (&spec.path, &spec.prefix) {
            (Some(p), None) => (p.clone(), MatchKind::Exact),
            (None, Some(p)) => (p.clone(), MatchKind::Prefix),
            _ => {
                self.error(at, path, "give exactly one of `path` and `prefix`");
                return None;
            }
        };
        let field = if kind == MatchKind::Exact { "path" } else { "prefix" };
        let plain = route_path.replace(['{', '}'], "");
        if normalize_path(&plain).map_or(true, |n| n != plain) {
            self.error(at, format!("{path}.{field}"), format!("{route_path:?} must be an absolute, normalized path"));
        }
        if kind == MatchKind::Prefix && plain != route_path {
            self.error(at, format!("{path}.prefix"), "a prefix cannot hold {template} parameters");
        }
        for (j, host) in spec.hosts.iter().enumerate() {
            if !is_host_pattern(host) {
                self.error(at, format!("{path}.hosts[{j}]"), format!("{host:?} is not a host name or *.domain"));
            }
        }
        let mut methods = if spec.methods.is_empty() { MethodSet::ALL } else { MethodSet::default() };
        for (j, name) in spec.methods.iter().enumerate() {
            match MethodSet::parse(name) {
                Some(m) => methods = methods.with(m),
                None => self.error(
                    at,
                    format!("{path}.methods[{j}]"),
                    format!("{name:?} cannot be served (TRACE and CONNECT never are)"),
                ),
            }
        }
        let upstream = upstreams.get(&spec.upstream).copied();
        if upstream.is_none() {
            self.error(at, format!("{path}.upstream"), format!("no upstream is named {:?}", spec.upstream));
        }
        let lifecycle = self.lifecycle(at, &path, spec)?;
        let template = spec.path.as_deref().or(spec.prefix.as_deref()).unwrap_or("");
        let compiled = self.policies(at, &path, &spec.name, template, &spec.policies);
        let headers = self.security_headers(at, &format!("{path}.security_headers"), &spec.security_headers, global)?;
        let mut policies = compiled.policies;
        policies.push(Arc::new(headers));
        let route = Route {
            id: spec.name.as_str().into(),
            index: 0,
            upstream: upstream?,
            methods,
            lifecycle,
            policies: policies.into(),
            replace_upstream_errors: spec.replace_upstream_errors,
            max_request_body: compiled.max_request_body,
            max_response_body: compiled.max_response_body,
            rewrites_responses: compiled.rewrites_responses,
        };
        Some((route, route_path, kind))
    }

    /// Compiles a route's policy list, in order.
    fn policies(
        &mut self,
        at: Option<Location>,
        path: &str,
        route: &str,
        template: &str,
        specs: &[PolicySpec],
    ) -> CompiledPolicies {
        let has_json = specs.iter().any(|p| matches!(p, PolicySpec::JsonThreat(_)));
        let has_xml = specs.iter().any(|p| matches!(p, PolicySpec::XmlThreat(_)));
        let mut out = CompiledPolicies::default();
        for (j, policy) in specs.iter().enumerate() {
            let here = format!("{path}.policies[{j}]");
            let compiled: Arc<dyn Policy> = match policy {
                PolicySpec::IpFilter(s) => {
                    let allow = IpSet::new(self.nets(&format!("{here}.allow"), &s.allow));
                    let deny = IpSet::new(self.nets(&format!("{here}.deny"), &s.deny));
                    Arc::new(IpFilterPolicy::new(allow, deny))
                }
                PolicySpec::ContentType(s) => {
                    let request = self.media_types(at, &format!("{here}.request"), &s.request);
                    let response = self.media_types(at, &format!("{here}.response"), &s.response);
                    let syntax = SyntaxChecks { json: s.check_syntax && !has_json, xml: s.check_syntax && !has_xml };
                    Arc::new(ContentTypePolicy::new(request, response, syntax))
                }
                PolicySpec::BodySize(s) => {
                    out.max_request_body = Some(out.max_request_body.map_or(s.max.0, |m: u64| m.min(s.max.0)));
                    Arc::new(BodySizePolicy::new(s.max.0))
                }
                PolicySpec::JsonThreat(s) => Arc::new(JsonThreatPolicy::new(json_limits(s))),
                PolicySpec::XmlThreat(s) => Arc::new(XmlThreatPolicy::new(xml_limits(s))),
                PolicySpec::ResponseMask(s) => {
                    out.rewrites_responses = true;
                    let Some(rules) = self.mask_rules(at, &here, s) else { continue };
                    Arc::new(ResponseMaskPolicy::new(rules))
                }
                PolicySpec::MalwareScan(s) => {
                    let Some(policy) = self.malware_scan(at, &here, s) else { continue };
                    Arc::new(policy)
                }
                PolicySpec::OpenApi(s) => {
                    // Response checks need the buffered response body.
                    out.rewrites_responses |= s.validate_responses;
                    let Some(policy) = self.open_api(at, &here, s) else { continue };
                    Arc::new(policy)
                }
                PolicySpec::Concurrency(s) => {
                    let Some(key) = self.key_spec(at, &here, &s.key, None, None) else { continue };
                    if s.max == 0 {
                        self.error(at, format!("{here}.max"), "must be at least 1");
                    }
                    Arc::new(ConcurrencyPolicy::new(route, &s.name, key, s.max))
                }
                PolicySpec::RateLimit(s) => {
                    let Some(policy) = self.rate_limit(at, &here, route, s) else { continue };
                    Arc::new(policy)
                }
                PolicySpec::ResponseSize(s) => {
                    out.max_response_body = Some(out.max_response_body.map_or(s.max.0, |m: u64| m.min(s.max.0)));
                    Arc::new(ResponseSizePolicy::new(s.max.0))
                }
                PolicySpec::ApiKey(s) => {
                    let Some(policy) = self.api_key(at, &here, s) else { continue };
                    Arc::new(policy)
                }
                PolicySpec::Basic(s) => Arc::new(
                    portcullis_auth::BasicPolicy::new(
                        portcullis_auth::CredentialSource::process(),
                        s.forward_credentials,
                    )
                    .with_brute_force(self.brute_force),
                ),
                PolicySpec::Jwt(s) => {
                    let Some(policy) = self.jwt(at, &here, s) else { continue };
                    Arc::new(policy)
                }
                PolicySpec::Introspection(s) => {
                    let Some(policy) = self.introspection(at, &here, s) else { continue };
                    Arc::new(policy)
                }
                PolicySpec::MtlsIdentity(s) => Arc::new(self.mtls_identity(at, &here, s)),
                PolicySpec::AnyOf(s) => {
                    let nested = s.policies.iter().any(|p| matches!(p, PolicySpec::AnyOf(_)));
                    if s.policies.len() < 2 || nested || !s.policies.iter().all(identity::authenticates) {
                        self.error(at, format!("{here}.policies"), "any_of takes two or more authentication policies");
                        continue;
                    }
                    let inner = self.policies(at, &format!("{here}.any_of"), route, template, &s.policies);
                    Arc::new(portcullis_auth::AnyOfPolicy::new(inner.policies))
                }
                PolicySpec::Authorize(s) => {
                    let authenticated = specs[..j].iter().any(identity::authenticates);
                    let Some(policy) = self.authorize(at, &here, template, authenticated, s) else { continue };
                    Arc::new(policy)
                }
            };
            out.policies.push(compiled);
        }
        out
    }

    fn media_types(&mut self, at: Option<Location>, path: &str, texts: &[String]) -> Vec<MediaType> {
        texts
            .iter()
            .enumerate()
            .filter_map(|(i, text)| {
                MediaType::parse(text).or_else(|| {
                    self.error(
                        at,
                        format!("{path}[{i}]"),
                        format!("{text:?} is not a media type such as application/json"),
                    );
                    None
                })
            })
            .collect()
    }

    fn rate_limit(
        &mut self,
        at: Option<Location>,
        path: &str,
        route: &str,
        spec: &RateLimitSpec,
    ) -> Option<RateLimitPolicy> {
        if spec.limits.is_empty() {
            self.error(at, format!("{path}.limits"), "at least one limit is required");
        }
        let mut limits = Vec::new();
        let mut names = Vec::new();
        for (i, l) in spec.limits.iter().enumerate() {
            let here = format!("{path}.limits[{i}]");
            if names.contains(&l.name) {
                self.error(at, format!("{here}.name"), format!("limit {:?} is defined twice", l.name));
            }
            names.push(l.name.clone());
            if let Some(limit) = self.limit(at, &here, route, l) {
                limits.push(limit);
            }
        }
        let on_limit = match self.choice(
            at,
            &format!("{path}.on_limit"),
            spec.on_limit.as_deref(),
            &[("reject", false), ("delay", true)],
        )? {
            false => OnLimit::Reject,
            true => OnLimit::Delay { max: Self::duration(spec.max_delay, Duration::from_secs(1)) },
        };
        let headers = self.choice(
            at,
            &format!("{path}.headers"),
            spec.headers.as_deref(),
            &[
                ("draft", HeaderStyle::Draft),
                ("legacy", HeaderStyle::Legacy),
                ("both", HeaderStyle::Both),
                ("none", HeaderStyle::None),
            ],
        )?;
        (limits.len() == spec.limits.len())
            .then(|| RateLimitPolicy::new(limits, on_limit, headers, self.counting.clone()))
    }

    fn limit(&mut self, at: Option<Location>, path: &str, route: &str, spec: &LimitSpec) -> Option<Limit> {
        let key = self.key_spec(at, path, &spec.key, spec.ipv4_prefix, spec.ipv6_prefix)?;
        let kind = self.choice(
            at,
            &format!("{path}.algorithm"),
            spec.algorithm.as_deref(),
            &[("gcra", 0u8), ("sliding_window", 1), ("quota", 2)],
        )?;
        let algorithm = if kind == 2 {
            let period = self.choice(
                at,
                &format!("{path}.period"),
                spec.period.as_deref(),
                &[("day", QuotaPeriod::Day), ("month", QuotaPeriod::Month)],
            )?;
            let zone = spec.time_zone.as_deref().unwrap_or("UTC");
            let time_zone = jiff_zone(zone).map_err(|e| self.error(at, format!("{path}.time_zone"), e)).ok()?;
            let Some(limit) = spec.quota.filter(|&q| q > 0) else {
                self.error(at, format!("{path}.quota"), "a quota needs `quota: N` (N > 0)");
                return None;
            };
            Algorithm::Quota(Quota { limit, period, time_zone })
        } else {
            let Some(rate) = spec.rate.as_deref().and_then(parse_rate) else {
                self.error(at, format!("{path}.rate"), "needs `rate: N/s` (or /m, /h, /d) with N > 0");
                return None;
            };
            if kind == 0 {
                Algorithm::Gcra { rate, burst: spec.burst.unwrap_or(rate.count).max(1) }
            } else {
                Algorithm::SlidingWindow(rate)
            }
        };
        let on_failure = self.choice(
            at,
            &format!("{path}.on_backend_failure"),
            spec.on_backend_failure.as_deref(),
            &[("local", OnBackendFailure::Local), ("fail_closed", OnBackendFailure::FailClosed)],
        )?;
        Some(Limit::new(route, &spec.name, key, algorithm, on_failure))
    }

    /// `[client_ip, route, method, header:NAME]` and the address prefixes.
    fn key_spec(
        &mut self,
        at: Option<Location>,
        path: &str,
        parts: &[String],
        v4: Option<u8>,
        v6: Option<u8>,
    ) -> Option<KeySpec> {
        let mut parsed = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let one = match part.as_str() {
                "client_ip" => Some(KeyPart::ClientIp),
                "route" => Some(KeyPart::Route),
                "method" => Some(KeyPart::Method),
                "consumer" => Some(KeyPart::Consumer),
                "app" => Some(KeyPart::App),
                "subject" => Some(KeyPart::Subject),
                other => match other.split_once(':') {
                    Some(("header", h)) => HeaderName::from_bytes(h.as_bytes()).ok().map(KeyPart::Header),
                    Some(("claim", c)) if !c.is_empty() => Some(KeyPart::Claim(c.into())),
                    _ => None,
                },
            };
            match one {
                Some(p) => parsed.push(p),
                None => self.error(
                    at,
                    format!("{path}.key[{i}]"),
                    format!(
                        "{part:?} is not client_ip, route, method, consumer, app, subject, header:NAME or claim:NAME"
                    ),
                ),
            }
        }
        let (v4, v6) = (v4.unwrap_or(32), v6.unwrap_or(64));
        if v4 > 32 || v6 > 128 {
            self.error(at, path, "ipv4_prefix is at most 32 and ipv6_prefix at most 128");
            return None;
        }
        (parsed.len() == parts.len()).then_some(KeySpec { parts: parsed, ipv4_prefix: v4, ipv6_prefix: v6 })
    }

    /// Reads and compiles an OpenAPI document (relative to the config file).
    fn open_api(&mut self, at: Option<Location>, path: &str, spec: &OpenApiSpec) -> Option<OpenApiPolicy> {
        if spec.base_path.as_deref().is_some_and(|p| !p.starts_with('/')) {
            self.error(at, format!("{path}.base_path"), "must be an absolute path such as /v1");
            return None;
        }
        let file = self.base.join(&spec.document);
        let text = std::fs::read_to_string(&file)
            .map_err(|e| self.error(at, format!("{path}.document"), format!("cannot read {}: {e}", file.display())))
            .ok()?;
        let options = OpenApiOptions {
            base_path: spec.base_path.clone(),
            reject_unknown_query: spec.reject_unknown_query,
            validate_responses: spec.validate_responses,
        };
        OpenApiPolicy::compile(&text, options)
            .map_err(|e| self.error(at, format!("{path}.document"), format!("{}: {e}", spec.document)))
            .ok()
    }

    /// One of a fixed set of words; absent means the first.
    fn choice<T: Copy>(
        &mut self,
        at: Option<Location>,
        path: &str,
        value: Option<&str>,
        options: &[(&str, T)],
    ) -> Option<T> {
        let Some(value) = value else { return options.first().map(|(_, t)| *t) };
        let found = options.iter().find(|(word, _)| *word == value).map(|(_, t)| *t);
        if found.is_none() {
            let words: Vec<&str> = options.iter().map(|(w, _)| *w).collect();
            self.error(at, path, format!("{value:?} is not one of {}", words.join(", ")));
        }
        found
    }

    fn malware_scan(&mut self, at: Option<Location>, path: &str, spec: &MalwareScanSpec) -> Option<MalwareScanPolicy> {
        let clamd = if let Some(addr) = spec.clamd.strip_prefix("tcp://") {
            ClamdAddress::Tcp(addr.to_owned())
        } else if let Some(socket) = spec.clamd.strip_prefix("unix:") {
            ClamdAddress::Unix(self.base.join(socket))
        } else {
            self.error(at, format!("{path}.clamd"), format!("{:?} is not tcp://host:port or unix:/path", spec.clamd));
            return None;
        };
        let on_failure = self.choice(
            at,
            &format!("{path}.on_failure"),
            spec.on_failure.as_deref(),
            &[("fail_closed", ScanFailure::FailClosed), ("fail_open", ScanFailure::FailOpen)],
        )?;
        let content_types = self.media_types(at, &format!("{path}.content_types"), &spec.content_types);
        let timeout = Self::duration(spec.timeout, Duration::from_secs(10));
        Some(MalwareScanPolicy::new(clamd, content_types, timeout, on_failure))
    }

    fn mask_rules(&mut self, at: Option<Location>, path: &str, spec: &ResponseMaskSpec) -> Option<MaskRules> {
        let action = self.choice(
            at,
            &format!("{path}.action"),
            spec.action.as_deref(),
            &[("mask", MaskAction::Mask), ("remove", MaskAction::Remove)],
        )?;
        for (i, pointer) in spec.pointers.iter().enumerate() {
            if !pointer.starts_with('/') {
                self.error(
                    at,
                    format!("{path}.pointers[{i}]"),
                    format!("{pointer:?} is not a JSON pointer (it starts with /)"),
                );
            }
        }
        let mut patterns = Vec::new();
        for (i, pattern) in spec.patterns.iter().enumerate() {
            match regex::Regex::new(pattern) {
                Ok(re) => patterns.push(re),
                Err(e) => self.error(at, format!("{path}.patterns[{i}]"), format!("invalid regular expression: {e}")),
            }
        }
        Some(MaskRules { fields: spec.fields.clone(), pointers: spec.pointers.clone(), patterns, action })
    }

    fn lifecycle(&mut self, at: Option<Location>, path: &str, spec: &RouteSpec) -> Option<Lifecycle> {
        if spec.retired {
            return Some(Lifecycle::Retired);
        }
        let Some(dep) = &spec.deprecated else { return Some(Lifecycle::Active) };
        let mut date = |field: &str, text: &str| {
            portcullis_core::time::parse_date(text)
                .ok_or_else(|| {
                    self.error(at, format!("{path}.deprecated.{field}"), format!("{text:?} is not a YYYY-MM-DD date"))
                })
                .ok()
        };
        let since = date("since", &dep.since)?;
        let sunset = match &dep.sunset {
            Some(s) => Some(date("sunset", s)?),
            None => None,
        };
        let link = match &dep.link {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                HeaderValue::try_from(format!("<{url}>; rel=\"deprecation\"")).ok()
            }
            Some(url) => {
                self.error(at, format!("{path}.deprecated.link"), format!("{url:?} is not an http(s) URL"));
                return None;
            }
            None => None,
        };
        Some(Lifecycle::Deprecated {
            deprecation: HeaderValue::try_from(format!("@{since}")).ok()?,
            sunset: sunset.and_then(|s| HeaderValue::try_from(portcullis_core::time::http_date(s)).ok()),
            link,
        })
    }

    /// Merges route over global over built-in defaults and compiles the policy.
    fn security_headers(
        &mut self,
        at: Option<Location>,
        path: &str,
        spec: &SecurityHeadersSpec,
        global: &SecurityHeadersSpec,
    ) -> Option<SecurityHeadersPolicy> {
        let pick = |route: &Option<HeaderSetting>, global: &Option<HeaderSetting>, default: Option<&str>| match route
            .clone()
            .or_else(|| global.clone())
        {
            Some(HeaderSetting::Switch(false)) => None,
            Some(HeaderSetting::Value(v)) => Some(v),
            Some(HeaderSetting::Switch(true)) | None => default.map(str::to_owned),
        };
        let mut value = |field: &str, text: Option<String>| -> Option<Option<HeaderValue>> {
            match text.map(HeaderValue::try_from).transpose() {
                Ok(v) => Some(v),
                Err(_) => {
                    self.error(at, format!("{path}.{field}"), "is not a valid header value");
                    None
                }
            }
        };
        let hsts = value("hsts", pick(&spec.hsts, &global.hsts, Some("max-age=31536000; includeSubDomains")))?;
        let frame = value("frame_options", pick(&spec.frame_options, &global.frame_options, Some("DENY")))?;
        let csp = value(
            "content_security_policy",
            pick(&spec.content_security_policy, &global.content_security_policy, Some("frame-ancestors 'none'")),
        )?;
        let referrer =
            value("referrer_policy", pick(&spec.referrer_policy, &global.referrer_policy, Some("no-referrer")))?;
        let cache = value("cache_control", pick(&spec.cache_control, &global.cache_control, None))?;
        let mut enforced = Vec::new();
        if spec.content_type_options.or(global.content_type_options).unwrap_or(true) {
            enforced.push((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
        }
        if let Some(v) = frame {
            enforced.push((header::X_FRAME_OPTIONS, v));
        }
        let mut defaults = Vec::new();
        for (name, v) in [
            (header::CONTENT_SECURITY_POLICY, csp),
            (header::REFERRER_POLICY, referrer),
            (header::CACHE_CONTROL, cache),
        ] {
            if let Some(v) = v {
                defaults.push((name, v));
            }
        }
        let cookies = match spec.cookies.as_ref().or(global.cookies.as_ref()) {
            None => Some(CookieFlags { http_only: true, secure: true, same_site: Some("Lax") }),
            Some(c) => {
                let same_site = match &c.same_site {
                    None | Some(HeaderSetting::Switch(true)) => Some("Lax"),
                    Some(HeaderSetting::Switch(false)) => None,
                    Some(HeaderSetting::Value(v)) => match v.to_ascii_lowercase().as_str() {
                        "strict" => Some("Strict"),
                        "lax" => Some("Lax"),
                        "none" => Some("None"),
                        _ => {
                            self.error(at, format!("{path}.cookies.same_site"), "must be Strict, Lax, None or false");
                            return None;
                        }
                    },
                };
                Some(CookieFlags { http_only: c.http_only, secure: c.secure, same_site })
            }
        };
        Some(SecurityHeadersPolicy::new(hsts, enforced, defaults, cookies))
    }

    fn listener(&mut self, i: usize, entry: &Spanned<ListenerSpec>) -> Option<ListenerSettings> {
        let (at, spec) = (Some(entry.referenced), &entry.value);
        let path = format!("listeners[{i}]");
        let addr = spec
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| self.error(at, format!("{path}.listen"), format!("{:?} is not ip:port", spec.listen)))
            .ok();
        let tls = match &spec.tls {
            None => None,
            Some(tls) => {
                if spec.redirect_https.is_some() {
                    self.error(at, format!("{path}.redirect_https"), "only plain HTTP listeners redirect");
                }
                Some(self.server_tls(at, &format!("{path}.tls"), tls, spec.http2)?)
            }
        };
        Some(ListenerSettings {
            name: spec.name.clone(),
            addr: addr?,
            tls,
            redirect_https: spec.redirect_https.as_ref().map(|r| r.port),
            http2: spec.http2,
        })
    }

    /// Builds a server TLS configuration: listeners and the admin API share it.
    fn server_tls(
        &mut self,
        at: Option<Location>,
        path: &str,
        tls: &TlsSpec,
        http2: bool,
    ) -> Option<Arc<rustls::ServerConfig>> {
        let certificates: Vec<CertificateFiles> = tls
            .certificates
            .iter()
            .enumerate()
            .filter_map(|(j, c)| self.certificate(at, &format!("{path}.certificates[{j}]"), c))
            .collect();
        let client_auth = match &tls.client_auth {
            Some(auth) => Some(ClientAuth {
                ca_pem: self.read(at, &format!("{path}.client_auth.ca"), &auth.ca)?,
                required: auth.required,
            }),
            None => None,
        };
        let tls13_only = match tls.min_version.as_deref() {
            None | Some("1.2") => false,
            Some("1.3") => true,
            Some(other) => {
                self.error(at, format!("{path}.min_version"), format!("{other:?} is not \"1.2\" or \"1.3\""));
                false
            }
        };
        if certificates.len() != tls.certificates.len() {
            return None;
        }
        let server = ServerTls { certificates, client_auth, http2, tls13_only };
        portcullis_tls::server_config(&server, self.now_unix).map_err(|e| self.error(at, path, e.to_string())).ok()
    }

    fn masking(&mut self, spec: &ConfigSpec) -> Option<LogMasking> {
        let mut masking = LogMasking::default();
        let mut ok = true;
        for (i, name) in spec.access_log.headers.iter().enumerate() {
            match HeaderName::from_bytes(name.as_bytes()) {
                Ok(h) => masking.headers.push(h),
                Err(_) => {
                    self.error(None, format!("access_log.headers[{i}]"), format!("{name:?} is not a header name"));
                    ok = false;
                }
            }
        }
        for (i, pattern) in spec.access_log.mask_patterns.iter().enumerate() {
            match regex::Regex::new(pattern) {
                Ok(re) => masking.patterns.push(re),
                Err(e) => {
                    self.error(
                        None,
                        format!("access_log.mask_patterns[{i}]"),
                        format!("invalid regular expression: {e}"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(masking)
    }

    fn runtime(&mut self, spec: &ConfigSpec) -> Option<RuntimeSettings> {
        let metrics_listen = match &spec.metrics {
            None => None,
            Some(m) => {
                let text = m.listen.as_deref().unwrap_or("127.0.0.1:9901");
                match text.parse::<SocketAddr>() {
                    Ok(addr) => Some(addr),
                    Err(_) => {
                        self.error(None, "metrics.listen", format!("{text:?} is not ip:port"));
                        return None;
                    }
                }
            }
        };
        let level = spec.logging.level.clone().unwrap_or_else(|| "info".into());
        if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
            self.error(None, "logging.level", format!("{level:?} is not error, warn, info, debug or trace"));
        }
        let json = match spec.logging.format.as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                self.error(None, "logging.format", format!("{other:?} is not text or json"));
                false
            }
        };
        if spec.workers == Some(0) {
            self.error(None, "workers", "must be at least 1");
        }
        let access_log = spec.access_log.enabled.then(|| match spec.access_log.path.as_deref() {
            None | Some("stdout") => LogDestination::Stdout,
            Some(p) => LogDestination::File(self.base.join(p)),
        });
        Some(RuntimeSettings {
            workers: spec.workers.unwrap_or_else(default_workers),
            metrics_listen,
            access_log,
            log_level: level,
            log_json: json,
            watch: spec.reload.watch.then(|| Self::duration(spec.reload.interval, Duration::from_secs(2))),
            drain_timeout: Self::duration(spec.shutdown.drain_timeout, Duration::from_secs(30)),
            max_connections: spec.limits.max_connections.unwrap_or(10_000),
            management: crate::ManagementFingerprint::default(),
        })
    }
}

/// One worker per CPU.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// A route's compiled policies and what they ask of the pipeline.
#[derive(Default)]
struct CompiledPolicies {
    policies: Vec<Arc<dyn Policy>>,
    max_request_body: Option<u64>,
    max_response_body: Option<u64>,
    rewrites_responses: bool,
}

fn small(size: Option<crate::units::HumanSize>, default: u32) -> u32 {
    size.map_or(default, |s| u32::try_from(s.0).unwrap_or(u32::MAX))
}

fn json_limits(s: &JsonThreatSpec) -> JsonLimits {
    let d = JsonLimits::default();
    JsonLimits {
        max_depth: s.max_depth.unwrap_or(d.max_depth),
        max_object_entries: s.max_object_entries.unwrap_or(d.max_object_entries),
        max_array_len: s.max_array_len.unwrap_or(d.max_array_len),
        max_string_len: small(s.max_string_len, d.max_string_len),
        max_key_len: small(s.max_key_len, d.max_key_len),
        max_number_len: s.max_number_len.unwrap_or(d.max_number_len),
        max_numbers: s.max_numbers.unwrap_or(d.max_numbers),
        reject_duplicate_keys: !s.allow_duplicate_keys,
    }
}

fn xml_limits(s: &XmlThreatSpec) -> XmlLimits {
    let d = XmlLimits::default();
    XmlLimits {
        max_depth: s.max_depth.unwrap_or(d.max_depth),
        max_elements: s.max_elements.unwrap_or(d.max_elements),
        max_attributes: s.max_attributes.unwrap_or(d.max_attributes),
        max_attribute_len: small(s.max_attribute_len, d.max_attribute_len),
        max_text_len: small(s.max_text_len, d.max_text_len),
        max_name_len: s.max_name_len.unwrap_or(d.max_name_len),
        max_namespaces: s.max_namespaces.unwrap_or(d.max_namespaces),
    }
}

/// `100/s`, `6000/m`, `10/h`, `1000/d`.
fn parse_rate(text: &str) -> Option<Rate> {
    let (count, unit) = text.split_once('/')?;
    let count: u64 = count.trim().parse().ok().filter(|&c| c > 0)?;
    let secs = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(Rate { count, period: Duration::from_secs(secs) })
}

/// An IANA time zone from the system's zoneinfo.
fn jiff_zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::TimeZone::get(name).map_err(|e| format!("{name:?} is not a known time zone: {e}"))
}

fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

fn is_host_pattern(text: &str) -> bool {
    let name = text.strip_prefix("*.").unwrap_or(text);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `https://host:port` → (scheme, authority with explicit port).
fn parse_target(text: &str) -> Option<(Scheme, Authority)> {
    let uri: Uri = text.parse().ok()?;
    let scheme = uri.scheme()?.clone();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return None;
    }
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let port = authority.port_u16().unwrap_or(default_port);
    let authority = Authority::try_from(format!("{}:{port}", authority.host())).ok()?;
    Some((scheme, authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_hosts_and_networks() {
        let list = Allowlist {
            nets: vec!["10.0.0.0/8".parse().unwrap()],
            hosts: vec!["*.internal".into(), "api.example.com".into()],
        };
        assert!(list.allows("10.1.2.3"));
        assert!(!list.allows("11.1.2.3"));
        assert!(list.allows("users.internal"));
        assert!(!list.allows("internal"));
        assert!(!list.allows("evilinternal"));
        assert!(list.allows("API.example.com"));
        assert!(!list.allows("api.example.com.evil"));
    }

    #[test]
    fn targets_are_strict() {
        assert_eq!(parse_target("http://127.0.0.1:8080").map(|(_, a)| a.to_string()), Some("127.0.0.1:8080".into()));
        assert_eq!(parse_target("https://api.internal").map(|(_, a)| a.to_string()), Some("api.internal:443".into()));
        assert!(parse_target("http://a/path").is_none());
        assert!(parse_target("ftp://a").is_none());
        assert!(parse_target("http://user@a").is_none());
    }
}
