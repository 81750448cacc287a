//! What a limit counts by: the parts of a request that form its key. Keys
//! are hashed with a per-process random key, so hostile or huge values take
//! constant space and cannot be chosen to collide.

use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::net::IpAddr;

use http::HeaderName;
use http::request::Parts;
use portcullis_core::Ctx;

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
    /// The key of this request for the limit identified by `limit`.
    pub fn hash(&self, limit: &str, req: &Parts, cx: &Ctx, hasher: &RandomState) -> u64 {
        let mut h = hasher.build_hasher();
        limit.hash(&mut h);
        for part in &self.parts {
            match part {
                KeyPart::ClientIp => network(cx.client_ip, self.ipv4_prefix, self.ipv6_prefix).hash(&mut h),
                KeyPart::Route => cx.route.as_deref().unwrap_or("").hash(&mut h),
                KeyPart::Method => req.method.as_str().hash(&mut h),
                KeyPart::Header(name) => req.headers.get(name).map_or(&b""[..], |v| v.as_bytes()).hash(&mut h),
                KeyPart::Consumer | KeyPart::App | KeyPart::Subject => {
                    let identity = cx.identity.as_deref();
                    let value = match part {
                        KeyPart::Consumer => identity.and_then(|i| i.consumer.as_deref()),
                        KeyPart::App => identity.and_then(|i| i.app.as_deref()),
                        _ => identity.map(|i| &*i.subject),
                    };
                    match value {
                        Some(value) => (1u8, value).hash(&mut h),
                        // Anonymous callers are counted by address, never in one shared bucket.
                        None => (0u8, network(cx.client_ip, self.ipv4_prefix, self.ipv6_prefix)).hash(&mut h),
                    }
                }
            }
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                })
            });
            spec.hash("l", &req, &cx, &hasher)
        };
        let other_ip: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(with(Some("con_a"), ip), with(Some("con_a"), other_ip), "one consumer, any address");
        assert_ne!(with(Some("con_a"), ip), with(Some("con_b"), ip));
        assert_ne!(with(None, ip), with(None, other_ip), "anonymous callers are not pooled");
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
