//! Routes and the route table: host (exact, `*.` wildcard, or any), then path
//! (exact, prefix or template, by a radix tree), then method.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderValue, Method};

use crate::{Lifecycle, Policy};

/// The methods a route serves, as a bit set. TRACE and CONNECT are never in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MethodSet(u8);

const METHODS: [Method; 7] =
    [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS];

impl MethodSet {
    /// Every method a route may serve.
    pub const ALL: Self = Self(0x7f);

    fn bit(method: &Method) -> u8 {
        METHODS.iter().position(|m| m == method).map_or(0, |i| 1 << i)
    }

    /// Parses a method name; `None` for TRACE, CONNECT and unknown methods.
    pub fn parse(name: &str) -> Option<Self> {
        let method = Method::from_bytes(name.as_bytes()).ok()?;
        let bit = Self::bit(&method);
        (bit != 0).then_some(Self(bit))
    }

    /// The union of two sets; a set with GET also serves HEAD.
    #[must_use]
    pub fn with(self, other: Self) -> Self {
        let mut bits = self.0 | other.0;
        if bits & 1 != 0 {
            bits |= 2;
        }
        Self(bits)
    }

    /// Whether `method` is in the set.
    pub fn contains(self, method: &Method) -> bool {
        self.0 & Self::bit(method) != 0
    }

    fn overlaps(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// `GET, HEAD, POST` for the `Allow` header.
    fn allow_header(self) -> String {
        let names: Vec<&str> =
            METHODS.iter().enumerate().filter(|(i, _)| self.0 & (1 << i) != 0).map(|(_, m)| m.as_str()).collect();
        names.join(", ")
    }
}

/// How a route's path is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// The path exactly, or a template such as `/v1/users/{id}`.
    Exact,
    /// The path and everything below it, segment-wise (`/api` matches `/api/x`, not `/apix`).
    Prefix,
}

/// A compiled route: what the data path needs to serve a matched request.
#[derive(Debug)]
pub struct Route {
    /// The route's name, used in logs and metrics.
    pub id: Arc<str>,
    /// Position in the table, set by [`RouteTableBuilder::add`]; indexes
    /// per-route data kept beside the table.
    pub index: usize,
    /// Index of the upstream in the snapshot's upstream list.
    pub upstream: usize,
    /// The methods served.
    pub methods: MethodSet,
    /// Active, deprecated or retired.
    pub lifecycle: Lifecycle,
    /// The policy chain, in phase order.
    pub policies: Arc<[Arc<dyn Policy>]>,
    /// Replace upstream 5xx bodies with the gateway's generic error.
    pub replace_upstream_errors: bool,
    /// The smallest request body limit of the route's policies.
    pub max_request_body: Option<u64>,
    /// The smallest response body limit of the route's policies.
    pub max_response_body: Option<u64>,
    /// Some policy rewrites response bodies: they are buffered, and the
    /// upstream is asked for an uncompressed body.
    pub rewrites_responses: bool,
}

/// Why a route table cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum RouteTableError {
    /// The path pattern is not a valid template, or clashes with another.
    #[error("path {path:?} cannot be routed: {detail}")]
    Pattern {
        /// The route's path.
        path: String,
        /// What the radix tree said.
        detail: String,
    },
    /// Two routes serve the same method on the same host and path.
    #[error("route {route:?} serves the same host, path and method as route {other:?}")]
    Overlap {
        /// The later route.
        route: String,
        /// The earlier route.
        other: String,
    },
}

/// The result of routing a request.
#[derive(Debug)]
pub enum Lookup<'r, 'p> {
    /// A route serves this request.
    Found {
        /// The route.
        route: &'r Route,
        /// Template parameters (`{id}`) from the path.
        params: matchit::Params<'r, 'p>,
    },
    /// No route is configured for this host: 421.
    UnknownHost,
    /// The host is known but no route matches the path: 404.
    NotFound,
    /// A route matches the path but not the method: 405 with this `Allow`.
    MethodNotAllowed(&'r HeaderValue),
}

#[derive(Debug)]
struct PathEntry {
    routes: Vec<usize>,
    allow: HeaderValue,
}

#[derive(Debug, Default)]
struct HostRoutes {
    router: matchit::Router<PathEntry>,
}

/// Routes by host, path and method.
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    exact: HashMap<Box<str>, HostRoutes>,
    /// `(".example.com", routes)`, longest suffix first.
    wildcard: Vec<(Box<str>, HostRoutes)>,
    any: Option<HostRoutes>,
}

/// Collects routes, then builds the [`RouteTable`].
#[derive(Debug, Default)]
pub struct RouteTableBuilder {
    routes: Vec<Route>,
    /// host key ("" for any host) → pattern → route indexes.
    patterns: HashMap<String, Vec<(String, Vec<usize>)>>,
}

impl RouteTableBuilder {
    /// Adds `route` for `hosts` (empty: any host) at `path`.
    ///
    /// # Errors
    /// When the route serves a method that another route already serves on
    /// the same host and path.
    pub fn add(
        &mut self,
        hosts: &[String],
        path: &str,
        kind: MatchKind,
        mut route: Route,
    ) -> Result<(), RouteTableError> {
        let index = self.routes.len();
        route.index = index;
        let mut tree_paths = vec![path.to_owned()];
        if kind == MatchKind::Prefix {
            let base = path.trim_end_matches('/');
            tree_paths.push(format!("{base}/{{*portcullis_rest}}"));
        }
        let host_keys: Vec<String> =
            if hosts.is_empty() { vec![String::new()] } else { hosts.iter().map(|h| h.to_ascii_lowercase()).collect() };
        for host in host_keys {
            let entries = self.patterns.entry(host).or_default();
            for tree_path in &tree_paths {
                match entries.iter_mut().find(|(p, _)| p == tree_path) {
                    Some((_, indexes)) => {
                        if let Some(&other) = indexes.iter().find(|&&i| self.routes[i].methods.overlaps(route.methods))
                        {
                            return Err(RouteTableError::Overlap {
                                route: route.id.to_string(),
                                other: self.routes[other].id.to_string(),
                            });
                        }
                        indexes.push(index);
                    }
                    None => entries.push((tree_path.clone(), vec![index])),
                }
            }
        }
        self.routes.push(route);
        Ok(())
    }

    /// Builds the table.
    ///
    /// # Errors
    /// When a path is not a valid template or two templates clash.
    pub fn build(self) -> Result<RouteTable, RouteTableError> {
        let mut table = RouteTable { routes: Vec::new(), ..RouteTable::default() };
        for (host, entries) in self.patterns {
            let mut host_routes = HostRoutes::default();
            for (path, indexes) in entries {
                let methods = indexes.iter().fold(MethodSet::default(), |set, &i| set.with(self.routes[i].methods));
                let allow = HeaderValue::try_from(methods.allow_header()).unwrap_or(HeaderValue::from_static(""));
                host_routes
                    .router
                    .insert(path.clone(), PathEntry { routes: indexes, allow })
                    .map_err(|e| RouteTableError::Pattern { path, detail: e.to_string() })?;
            }
            if host.is_empty() {
                table.any = Some(host_routes);
            } else if let Some(suffix) = host.strip_prefix('*') {
                table.wildcard.push((suffix.into(), host_routes));
            } else {
                table.exact.insert(host.into(), host_routes);
            }
        }
        table.wildcard.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        table.routes = self.routes;
        Ok(table)
    }
}

impl RouteTable {
    /// Routes a request. `host` is the `Host` / `:authority` without port,
    /// already lower-cased; `path` is normalized.
    pub fn lookup<'r, 'p>(&'r self, host: &str, path: &'p str, method: &Method) -> Lookup<'r, 'p> {
        let Some(host_routes) = self.host_routes(host) else {
            return Lookup::UnknownHost;
        };
        let Ok(matched) = host_routes.router.at(path) else {
            return Lookup::NotFound;
        };
        let entry = matched.value;
        match entry.routes.iter().map(|&i| &self.routes[i]).find(|r| r.methods.contains(method)) {
            Some(route) => Lookup::Found { route, params: matched.params },
            None => Lookup::MethodNotAllowed(&entry.allow),
        }
    }

    /// Whether any route serves `host`.
    pub fn knows_host(&self, host: &str) -> bool {
        self.host_routes(host).is_some()
    }

    fn host_routes(&self, host: &str) -> Option<&HostRoutes> {
        self.exact
            .get(host)
            .or_else(|| {
                self.wildcard
                    .iter()
                    .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(&**suffix))
                    .map(|(_, routes)| routes)
            })
            .or(self.any.as_ref())
    }

    /// All routes, in configuration order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str, methods: &[&str]) -> Route {
        Route {
            id: id.into(),
            index: 0,
            upstream: 0,
            methods: methods.iter().fold(MethodSet::default(), |s, m| s.with(MethodSet::parse(m).unwrap())),
            lifecycle: Lifecycle::Active,
            policies: Arc::new([]),
            replace_upstream_errors: false,
            max_request_body: None,
            max_response_body: None,
            rewrites_responses: false,
        }
    }

    fn found<'a>(table: &'a RouteTable, host: &str, path: &str, method: &Method) -> Option<&'a str> {
        match table.lookup(host, path, method) {
            Lookup::Found { route, .. } => Some(&route.id),
            _ => None,
        }
    }

    #[test]
    fn hosts_paths_and_methods_route() {
        let mut b = RouteTableBuilder::default();
        b.add(&["api.example.com".into()], "/v1/users/{id}", MatchKind::Exact, route("user", &["GET"])).unwrap();
        b.add(&["api.example.com".into()], "/v1/users/{id}", MatchKind::Exact, route("user-w", &["PUT"])).unwrap();
        b.add(&["*.example.com".into()], "/", MatchKind::Prefix, route("wild", &["GET"])).unwrap();
        b.add(&[], "/static", MatchKind::Prefix, route("any", &["GET"])).unwrap();
        let t = b.build().unwrap();
        assert_eq!(found(&t, "api.example.com", "/v1/users/7", &Method::GET), Some("user"));
        assert_eq!(found(&t, "api.example.com", "/v1/users/7", &Method::HEAD), Some("user"));
        assert_eq!(found(&t, "api.example.com", "/v1/users/7", &Method::PUT), Some("user-w"));
        match t.lookup("api.example.com", "/v1/users/7", &Method::DELETE) {
            Lookup::MethodNotAllowed(allow) => assert_eq!(allow, "GET, HEAD, PUT"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(t.lookup("api.example.com", "/v2", &Method::GET), Lookup::NotFound));
        assert_eq!(found(&t, "www.example.com", "/x/y", &Method::GET), Some("wild"));
        assert_eq!(found(&t, "other.org", "/static/a.css", &Method::GET), Some("any"));
        assert_eq!(found(&t, "other.org", "/static", &Method::GET), Some("any"));
        assert_eq!(found(&t, "other.org", "/staticx", &Method::GET), None);
        assert!(matches!(t.lookup("example.com.evil", "/", &Method::GET), Lookup::NotFound));
    }

    #[test]
    fn unknown_host_without_catch_all() {
        let mut b = RouteTableBuilder::default();
        b.add(&["a.test".into()], "/", MatchKind::Prefix, route("a", &["GET"])).unwrap();
        let t = b.build().unwrap();
        assert!(matches!(t.lookup("b.test", "/", &Method::GET), Lookup::UnknownHost));
        assert!(matches!(t.lookup("x.a.test", "/", &Method::GET), Lookup::UnknownHost));
    }

    #[test]
    fn overlapping_routes_are_refused() {
        let mut b = RouteTableBuilder::default();
        b.add(&[], "/a", MatchKind::Exact, route("one", &["GET", "POST"])).unwrap();
        assert!(b.add(&[], "/a", MatchKind::Exact, route("two", &["POST"])).is_err());
    }

    #[test]
    fn trace_and_connect_cannot_be_served() {
        assert!(MethodSet::parse("TRACE").is_none());
        assert!(MethodSet::parse("CONNECT").is_none());
        assert!(!MethodSet::ALL.contains(&Method::TRACE));
    }
}
