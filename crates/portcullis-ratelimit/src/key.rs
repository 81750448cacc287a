//! What a limit counts by: the parts of a request that form its key. Keys
//! are hashed with a per-process random key, so hostile or huge values take
//! constant space and cannot be chosen to collide.

use std::hash::{BuildHasher, DefaultHasher, Hasher, RandomState};
use std::net::IpAddr;

use http::HeaderName;
use http::request::Parts;
use portcullis_core::Ctx;
use sha2::{Digest, Sha256};

/// One part of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPart {
    /// The client address (a trusted proxy's report, never a forged header),
    /// reduced to its network by the spec's prefixes.
    ClientIp,
    /// The matched route.
    Route,
    /// The request method (GET and POST counted apart).
    Method,
    /// The value of a request header (absent counts as empty).
    Header(HeaderName),
    /// The authenticated consumer (anonymous requests: their client address).
    Consumer,
    /// The authenticated app (anonymous requests: their client address).
    App,
    /// The authenticated subject, e.g. a token's `sub` (anonymous: the client address).
    Subject,
    /// A claim of the caller's token (absent or anonymous: the client address).
    Claim(Box<str>),
}

/// The parts of a key and the network prefixes applied to client addresses.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// The parts, in order.
    pub parts: Vec<KeyPart>,
    /// IPv4 prefix length (32: each address on its own).
    pub ipv4_prefix: u8,
    /// IPv6 prefix length (64: one customer network).
    pub ipv6_prefix: u8,
}

fn network(ip: IpAddr, v4: u8, v6: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(v4.min(32))).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(v6.min(128))).unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    }
}

impl KeySpec {
    /// The parts as written in the configuration, e.g. `["client_ip/24", "header:x-tenant"]`.
    pub fn describe(&self) -> Vec<String> {
        self.parts
            .iter()
            .map(|part| match part {
                KeyPart::ClientIp => format!("client_ip/{}/{}", self.ipv4_prefix, self.ipv6_prefix),
                KeyPart::Route => "route".into(),
                KeyPart::Method => "method".into(),
                KeyPart::Header(name) => format!("header:{name}"),
                KeyPart::Consumer => "consumer".into(),
                KeyPart::App => "app".into(),
                KeyPart::Subject => "subject".into(),
                KeyPart::Claim(name) => format!("claim:{name}"),
            })
            .collect()
    }

    /// The key of this request for the limit `seed` was made for, in this process.
    pub(crate) fn hash(&self, seed: &LimitSeed, req: &Parts, cx: &Ctx) -> u64 {
        let mut h = Gather::new(seed.0.clone());
        self.feed(req, cx, &mut |bytes| h.write(bytes));
        h.finish()
    }

    /// The key of this request for the limit identified by `limit`, the same
    /// in every gateway sharing a counter store: 128 bits of SHA-256.
    pub fn shared(&self, limit: &str, req: &Parts, cx: &Ctx) -> SharedKey {
        let mut sha = Sha256::new();
        let mut out = |bytes: &[u8]| sha.update(bytes);
        put(&mut out, b'L', limit.as_bytes());
        self.feed(req, cx, &mut out);
        let digest = sha.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        SharedKey(key)
    }

    /// Writes the key's parts after the limit's own, each tagged and
    /// length-prefixed so that no two different keys write the same bytes.
    fn feed(&self, req: &Parts, cx: &Ctx, out: &mut impl FnMut(&[u8])) {
        let mut put = |tag: u8, bytes: &[u8]| put(out, tag, bytes);
        let client = || network(cx.client_ip, self.ipv4_prefix, self.ipv6_prefix);
        for part in &self.parts {
            match part {
                KeyPart::ClientIp => put_ip(&mut put, client()),
                KeyPart::Route => put(b'R', cx.route.as_deref().unwrap_or("").as_bytes()),
                KeyPart::Method => put(b'M', req.method.as_str().as_bytes()),
                KeyPart::Header(name) => put(b'H', req.headers.get(name).map_or(&b""[..], |v| v.as_bytes())),
                KeyPart::Consumer | KeyPart::App | KeyPart::Subject | KeyPart::Claim(_) => {
                    let identity = cx.identity.as_deref();
                    let claim;
                    let value = match part {
                        KeyPart::Consumer => identity.and_then(|i| i.consumer.as_deref()),
                        KeyPart::App => identity.and_then(|i| i.app.as_deref()),
                        KeyPart::Claim(name) => {
                            claim = identity.and_then(|i| i.value(name));
                            claim.as_deref()
                        }
                        _ => identity.map(|i| &*i.subject),
                    };
                    match value {
                        Some(value) => put(b'I', value.as_bytes()),
                        // Anonymous callers are counted by address, never in one shared bucket.
                        None => put_ip(&mut put, client()),
                    }
                }
            }
        }
    }
}

/// Writes one tagged, length-prefixed part.
fn put(out: &mut impl FnMut(&[u8]), tag: u8, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out(&[tag]);
    out(&len.to_le_bytes());
    out(bytes);
}

fn put_ip(put: &mut impl FnMut(u8, &[u8]), ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => put(b'4', &a.octets()),
        IpAddr::V6(a) => put(b'6', &a.octets()),
    }
}

/// One limit's local key hasher: a store's secret seed with the limit's
/// identity already written, so each request hashes only its own parts.
#[derive(Debug, Clone)]
pub(crate) struct LimitSeed(DefaultHasher);

impl LimitSeed {
    /// The seed of the limit identified by `limit` (route and name) under `hasher`.
    pub(crate) fn new(limit: &str, hasher: &RandomState) -> Self {
        let mut h = hasher.build_hasher();
        put(&mut |bytes| h.write(bytes), b'L', limit.as_bytes());
        Self(h)
    }
}

/// A key shared by every gateway counting in the same store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SharedKey(pub(crate) [u8; 16]);

const GATHER: usize = 64;

/// Gathers a key's many short writes (a tag, a length, a value) into
/// blocks: SipHash takes one long write much faster than many short ones.
struct Gather<H> {
    hasher: H,
    buf: [u8; GATHER],
    len: usize,
}

impl<H: Hasher> Gather<H> {
    fn new(hasher: H) -> Self {
        Self { hasher, buf: [0; GATHER], len: 0 }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > GATHER {
            self.hasher.write(&self.buf[..self.len]);
            self.len = 0;
            if bytes.len() > GATHER {
                self.hasher.write(bytes);
                return;
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn finish(mut self) -> u64 {
        self.hasher.write(&self.buf[..self.len]);
        self.hasher.finish()
    }
}

impl SharedKey {
    /// The key in the in-process fallback store: hashed with the store's
    /// secret seed like every local key, since SHA-256 of chosen parts can
    /// be ground by a client to collide in the maps.
    pub(crate) fn local(self, hasher: &RandomState) -> u64 {
        hasher.hash_one(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathered_writes_hash_like_one_write() {
        let seed = RandomState::new();
        let parts: Vec<Vec<u8>> = [1u8, 4, 30, 64, 0, 3, 100, 63, 2].iter().map(|&n| vec![n; usize::from(n)]).collect();
        let mut gathered = Gather::new(seed.build_hasher());
        let mut whole = seed.build_hasher();
        for part in &parts {
            gathered.write(part);
            whole.write(part);
        }
        assert_eq!(gathered.finish(), whole.finish());
        let mut short = Gather::new(seed.build_hasher());
        short.write(&parts[6][..99]);
        let mut other = seed.build_hasher();
        other.write(&parts[6]);
        assert_ne!(short.finish(), other.finish(), "every byte counts");
    }

    #[test]
    fn consumers_are_counted_apart_and_anonymous_callers_by_address() {
        use std::sync::Arc;
        let spec = KeySpec { parts: vec![KeyPart::Consumer], ipv4_prefix: 32, ipv6_prefix: 64 };
        let req = http::Request::new(()).into_parts().0;
        let hasher = RandomState::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let with = |consumer: Option<&str>, ip: IpAddr| {
            let mut cx = Ctx::new(Arc::from("r"), ip, ip, false);
            cx.identity = consumer.map(|c| {
                Arc::new(portcullis_core::Identity {
                    method: "api_key",
                    subject: c.into(),
                    consumer: Some(c.into()),
                    consumer_name: None,
                    app: None,
                    groups: Arc::from([]),
                    scopes: Arc::from([]),
                    claims: None,
                    headers: portcullis_core::HeaderCache::default(),
                })
            });
            spec.hash(&LimitSeed::new("l", &hasher), &req, &cx)
        };
        let other_ip: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(with(Some("con_a"), ip), with(Some("con_a"), other_ip), "one consumer, any address");
        assert_ne!(with(Some("con_a"), ip), with(Some("con_b"), ip));
        assert_ne!(with(None, ip), with(None, other_ip), "anonymous callers are not pooled");
    }

    #[test]
    fn a_claim_keys_tenants_apart_and_its_absence_falls_back_to_the_address() {
        use std::sync::Arc;
        #[derive(Debug)]
        struct Tenant(Option<&'static str>);
        impl portcullis_core::Claims for Tenant {
            fn text(&self, name: &str) -> Option<String> {
                (name == "tenant").then_some(self.0).flatten().map(str::to_owned)
            }
            fn set(&self, _: &str) -> Vec<String> {
                Vec::new()
            }
        }
        let spec = KeySpec { parts: vec![KeyPart::Claim("tenant".into())], ipv4_prefix: 32, ipv6_prefix: 64 };
        let req = http::Request::new(()).into_parts().0;
        let with = |tenant: Option<&'static str>, ip: &str| {
            let ip: IpAddr = ip.parse().unwrap();
            let mut cx = Ctx::new(Arc::from("r"), ip, ip, false);
            cx.identity = Some(Arc::new(portcullis_core::Identity {
                method: "jwt",
                subject: "user-1".into(),
                consumer: None,
                consumer_name: None,
                app: None,
                groups: Arc::from([]),
                scopes: Arc::from([]),
                claims: Some(Arc::new(Tenant(tenant))),
                headers: portcullis_core::HeaderCache::default(),
            }));
            spec.shared("l", &req, &cx)
        };
        assert_eq!(with(Some("acme"), "192.0.2.1"), with(Some("acme"), "198.51.100.1"), "one tenant, any address");
        assert_ne!(with(Some("acme"), "192.0.2.1"), with(Some("globex"), "192.0.2.1"));
        assert_ne!(with(None, "192.0.2.1"), with(None, "198.51.100.1"), "no claim: by address, not one shared bucket");
    }

    #[test]
    fn networks_group_addresses() {
        let a: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(network(a, 24, 64), "192.0.2.0".parse::<IpAddr>().unwrap());
        assert_eq!(network(a, 32, 64), a);
        let b: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(network(b, 32, 64), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        assert_eq!(network(b, 32, 0), "::".parse::<IpAddr>().unwrap());
    }
}
