//! IP address sets (CIDR lists), matched without allocation.

use std::net::IpAddr;

use ipnet::IpNet;

/// A list of networks; `contains` is a linear scan, fine for the short lists
/// that configurations hold.
#[derive(Debug, Clone, Default)]
pub struct IpSet(Vec<IpNet>);

impl IpSet {
    /// A set of the given networks.
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    /// Whether `ip` (IPv4-mapped IPv6 addresses are seen as IPv4) is in the set.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `::ffff:1.2.3.4` is `1.2.3.4`.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_match_v4_networks() {
        let set = IpSet::new(vec!["10.0.0.0/8".parse().unwrap()]);
        assert!(set.contains("10.1.2.3".parse().unwrap()));
        assert!(set.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!set.contains("11.0.0.1".parse().unwrap()));
    }
}
