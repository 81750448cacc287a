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
            }
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
