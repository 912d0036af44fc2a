//! IP address management for networks: the pools subnets are carved from, overlap
//! checks, and validation of user-given subnets, ranges and gateways.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// A pool of address space split into subnets of one size, as Docker's
/// `default-address-pools` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    pub base: IpNetwork,
    pub size: u8,
}

impl AddressPool {
    pub fn new(base: &str, size: u8) -> Self {
        Self { base: base.parse().expect("static pool"), size }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        if let Some(why) = reserved_overlap(&self.base) {
            return Err(ModelError::invalid(format!("address pool {}: {why}", self.base)));
        }
        let max = max_prefix(&self.base);
        if self.size < self.base.prefix() || self.size > max {
            return Err(ModelError::invalid(format!(
                "address pool {}: size {} must be between {} and {max}",
                self.base,
                self.size,
                self.base.prefix()
            )));
        }
        if self.base.network() != self.base.ip() {
            return Err(ModelError::invalid(format!(
                "address pool {}: base must be a network address ({})",
                self.base,
                canonical(&self.base)
            )));
        }
        Ok(())
    }

    /// The pool's subnets in address order.
    pub fn subnets(&self) -> impl Iterator<Item = IpNetwork> + '_ {
        let bits = max_prefix(&self.base);
        let count: u128 = 1u128 << (self.size - self.base.prefix()).min(127);
        let step: u128 = 1u128 << (bits - self.size);
        let start = to_u128(self.base.network());
        let v4 = self.base.is_ipv4();
        (0..count).map(move |i| {
            let addr = from_u128(start + i * step, v4);
            IpNetwork::new(addr, self.size).expect("prefix within family")
        })
    }
}

/// Docker's default local pools. 172.17.0.0/16 comes first and is the default
/// network's, so user networks start at 172.18.0.0/16.
pub fn default_pools() -> Vec<AddressPool> {
    vec![
        AddressPool::new("172.17.0.0/16", 16),
        AddressPool::new("172.18.0.0/16", 16),
        AddressPool::new("172.19.0.0/16", 16),
        AddressPool::new("172.20.0.0/14", 16),
        AddressPool::new("172.24.0.0/14", 16),
        AddressPool::new("172.28.0.0/14", 16),
        AddressPool::new("192.168.0.0/16", 20),
    ]
}

pub fn overlaps(a: &IpNetwork, b: &IpNetwork) -> bool {
    a.is_ipv4() == b.is_ipv4() && (a.contains(b.network()) || b.contains(a.network()))
}

/// The first subnet of the first pool that overlaps nothing in `avoid`.
pub fn pick_subnet(pools: &[AddressPool], ipv4: bool, avoid: &[IpNetwork]) -> Option<IpNetwork> {
    pools
        .iter()
        .filter(|p| p.base.is_ipv4() == ipv4)
        .flat_map(|p| p.subnets())
        .find(|candidate| !avoid.iter().any(|taken| overlaps(candidate, taken)))
}

/// The address right after the network address: Docker's default gateway.
pub fn first_host(subnet: &IpNetwork) -> IpAddr {
    from_u128(to_u128(subnet.network()) + 1, subnet.is_ipv4())
}

pub fn max_prefix(net: &IpNetwork) -> u8 {
    if net.is_ipv4() {
        32
    } else {
        128
    }
}

/// The network written with its host bits cleared, e.g. 172.18.0.0/16 for 172.18.0.5/16.
pub fn canonical(net: &IpNetwork) -> IpNetwork {
    IpNetwork::new(net.network(), net.prefix()).expect("same prefix")
}

pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

pub fn from_u128(n: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

/// Parses a CIDR that must be written as a network (host bits zero), as Docker demands.
pub fn parse_cidr(what: &str, text: &str) -> Result<IpNetwork, ModelError> {
    let net: IpNetwork = text.trim().parse().map_err(|_| {
        ModelError::invalid(format!(
            "invalid {what} {text:?}: not an address in CIDR notation (e.g. 172.30.0.0/16)"
        ))
    })?;
    if !text.contains('/') {
        return Err(ModelError::invalid(format!(
            "invalid {what} {text:?}: a prefix length is required (e.g. {text}/24)"
        )));
    }
    if net.ip() != net.network() {
        return Err(ModelError::invalid(format!("invalid {what} {text}: it should be {}", canonical(&net))));
    }
    Ok(net)
}

/// Address space no network may use, with why: the kernel, the resolver or the
/// protocol give these addresses a meaning of their own, so a container handed one
/// would not work (127.0.0.11 is the resolver of every container; a multicast or
/// broadcast address cannot be put on an interface). Docker refuses the same.
const RESERVED: [(&str, &str); 10] = [
    ("0.0.0.0/8", "\"this network\" (RFC 1122): not an address a host can have"),
    ("127.0.0.0/8", "loopback: every container has its own, and its resolver at 127.0.0.11"),
    ("169.254.0.0/16", "link-local (RFC 3927): never routed, not for a network of containers"),
    ("224.0.0.0/4", "multicast: not an address an interface can have"),
    ("240.0.0.0/4", "reserved (RFC 1112) and the broadcast address 255.255.255.255"),
    ("::/128", "the unspecified address"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped addresses (RFC 4291)"),
    ("fe80::/10", "link-local: every interface has its own"),
    ("ff00::/8", "multicast: not an address an interface can have"),
];

/// Why `net` cannot be a network's subnet (or pool), if it overlaps reserved space.
pub fn reserved_overlap(net: &IpNetwork) -> Option<String> {
    RESERVED.iter().find_map(|(range, why)| {
        let range: IpNetwork = range.parse().expect("static range");
        overlaps(net, &range).then(|| format!("overlaps {range}, {why}"))
    })
}

/// One subnet of a network after validation: the gateway is set, the range is inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidSubnet {
    pub subnet: IpNetwork,
    pub gateway: IpAddr,
    pub ip_range: Option<IpNetwork>,
}

/// Checks a subnet with its optional gateway and ip-range, filling in the gateway.
pub fn validate_subnet(
    subnet: IpNetwork,
    gateway: Option<&str>,
    ip_range: Option<&str>,
) -> Result<ValidSubnet, ModelError> {
    if let Some(why) = reserved_overlap(&subnet) {
        return Err(ModelError::invalid(format!("subnet {subnet} cannot be used: it {why}")));
    }
    let usable_min_prefix = if subnet.is_ipv4() { 30 } else { 126 };
    if subnet.prefix() > usable_min_prefix {
        return Err(ModelError::invalid(format!(
            "subnet {subnet} is too small: it needs room for a gateway and containers (at most /{usable_min_prefix})"
        )));
    }
    // Docker's words (moby api/types/network/ipam.go).
    let family = if subnet.is_ipv4() { "IPv4" } else { "IPv6" };
    let ip_range = match ip_range {
        None => None,
        Some(text) => {
            let range = parse_cidr("ip-range", text)?;
            if range.is_ipv4() != subnet.is_ipv4() {
                return Err(ModelError::invalid(format!(
                    "invalid ip-range {range}: parent subnet is an {family} block"
                )));
            }
            if range.prefix() < subnet.prefix() {
                return Err(ModelError::invalid(format!(
                    "invalid ip-range {range}: CIDR block is bigger than its parent subnet {subnet}"
                )));
            }
            if !subnet.contains(range.network()) {
                return Err(ModelError::invalid(format!(
                    "invalid ip-range {range}: parent subnet {subnet} doesn't contain ip-range"
                )));
            }
            Some(range)
        }
    };
    let gateway = match gateway {
        None => first_host(&subnet),
        Some(text) => {
            let gw: IpAddr = text
                .trim()
                .parse()
                .map_err(|_| ModelError::invalid(format!("invalid gateway {text}: invalid address")))?;
            if gw.is_ipv4() != subnet.is_ipv4() {
                return Err(ModelError::invalid(format!(
                    "invalid gateway {gw}: parent subnet is an {family} block"
                )));
            }
            if !subnet.contains(gw) {
                return Err(ModelError::invalid(format!(
                    "invalid gateway {gw}: parent subnet {subnet} doesn't contain this address"
                )));
            }
            if gw == subnet.network() || (subnet.is_ipv4() && gw == subnet.broadcast()) {
                return Err(ModelError::invalid(format!(
                    "invalid gateway {gw}: it is the network or broadcast address of subnet {subnet}"
                )));
            }
            gw
        }
    };
    Ok(ValidSubnet { subnet, gateway, ip_range })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    #[test]
    fn default_pools_in_docker_order() {
        let pools = default_pools();
        let first: Vec<_> = pools.iter().flat_map(|p| p.subnets()).take(5).collect();
        assert_eq!(
            first,
            vec![
                net("172.17.0.0/16"),
                net("172.18.0.0/16"),
                net("172.19.0.0/16"),
                net("172.20.0.0/16"),
                net("172.21.0.0/16")
            ]
        );
        let all: Vec<_> = pools.iter().flat_map(|p| p.subnets()).collect();
        // 3 /16s, 3 /14s of 4 /16s each, and 192.168/16 in 16 /20s
        assert_eq!(all.len(), 3 + 12 + 16);
        assert_eq!(all.last().unwrap(), &net("192.168.240.0/20"));
        for p in &pools {
            p.validate().unwrap();
        }
    }

    #[test]
    fn picks_first_free_subnet() {
        let pools = default_pools();
        let taken = vec![net("172.17.0.0/16"), net("172.18.0.0/16")];
        assert_eq!(pick_subnet(&pools, true, &taken), Some(net("172.19.0.0/16")));
    }

    #[test]
    fn skips_subnets_overlapping_host_routes_and_nameservers() {
        let pools = default_pools();
        // an on-link route inside 172.18/16 and a nameserver inside 172.19/16
        let avoid = vec![net("172.17.0.0/16"), net("172.18.5.0/24"), net("172.19.0.53/32")];
        assert_eq!(pick_subnet(&pools, true, &avoid), Some(net("172.20.0.0/16")));
        // a wide route covering several candidates skips them all
        let avoid = vec![net("172.16.0.0/12")];
        assert_eq!(pick_subnet(&pools, true, &avoid), Some(net("192.168.0.0/20")));
    }

    #[test]
    fn exhaustion_is_none() {
        let pools = vec![AddressPool::new("10.10.0.0/23", 24)];
        let taken = vec![net("10.10.0.0/24"), net("10.10.1.0/24")];
        assert_eq!(pick_subnet(&pools, true, &taken), None);
        assert_eq!(pick_subnet(&pools, true, &taken[..1]), Some(net("10.10.1.0/24")));
        assert_eq!(pick_subnet(&pools, false, &[]), None);
    }

    #[test]
    fn overlap_rules() {
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
        assert!(overlaps(&net("10.1.0.0/16"), &net("10.0.0.0/8")));
        assert!(!overlaps(&net("10.1.0.0/16"), &net("10.2.0.0/16")));
        assert!(!overlaps(&net("10.0.0.0/8"), &net("fd00::/8")));
    }

    #[test]
    fn pool_validation() {
        assert!(AddressPool::new("10.0.0.0/8", 24).validate().is_ok());
        assert!(AddressPool::new("10.0.0.0/16", 8).validate().is_err());
        assert!(AddressPool::new("10.0.0.0/16", 33).validate().is_err());
        assert!(AddressPool { base: net("10.0.0.1/16"), size: 24 }.validate().is_err());
    }

    #[test]
    fn ipv6_pools_split() {
        let p = AddressPool::new("fd00:1::/48", 64);
        let mut it = p.subnets();
        assert_eq!(it.next(), Some(net("fd00:1::/64")));
        assert_eq!(it.next(), Some(net("fd00:1:0:1::/64")));
    }

    #[test]
    fn cidr_parsing() {
        assert_eq!(parse_cidr("subnet", "172.30.0.0/16").unwrap(), net("172.30.0.0/16"));
        let err = parse_cidr("subnet", "172.30.0.1/16").unwrap_err().to_string();
        assert!(err.contains("172.30.0.0/16"), "{err}");
        assert!(parse_cidr("subnet", "172.30.0.0").is_err());
        assert!(parse_cidr("subnet", "300.1.0.0/16").is_err());
        assert!(parse_cidr("subnet", "banana").is_err());
    }

    #[test]
    fn subnet_validation() {
        let s = net("172.30.0.0/16");
        let v = validate_subnet(s, None, None).unwrap();
        assert_eq!(v.gateway, "172.30.0.1".parse::<IpAddr>().unwrap());
        let v = validate_subnet(s, Some("172.30.0.254"), Some("172.30.5.0/24")).unwrap();
        assert_eq!(v.gateway.to_string(), "172.30.0.254");
        assert_eq!(v.ip_range, Some(net("172.30.5.0/24")));
        assert_eq!(
            validate_subnet(s, Some("10.0.0.1"), None).unwrap_err().to_string(),
            "invalid gateway 10.0.0.1: parent subnet 172.30.0.0/16 doesn't contain this address"
        );
        assert!(validate_subnet(s, Some("172.30.0.0"), None).is_err());
        assert!(validate_subnet(s, Some("172.30.255.255"), None).is_err());
        assert!(validate_subnet(s, Some("nope"), None).is_err());
        assert_eq!(
            validate_subnet(s, None, Some("10.0.0.0/24")).unwrap_err().to_string(),
            "invalid ip-range 10.0.0.0/24: parent subnet 172.30.0.0/16 doesn't contain ip-range"
        );
        assert_eq!(
            validate_subnet(s, None, Some("172.0.0.0/8")).unwrap_err().to_string(),
            "invalid ip-range 172.0.0.0/8: CIDR block is bigger than its parent subnet 172.30.0.0/16"
        );
        assert!(validate_subnet(net("10.0.0.0/31"), None, None).is_err());
    }

    #[test]
    fn reserved_space_is_refused_with_a_reason() {
        for (bad, word) in [
            ("127.0.0.0/8", "loopback"),
            ("127.0.0.0/24", "loopback"),
            ("0.0.0.0/8", "this network"),
            ("0.0.0.0/0", "this network"),
            ("224.0.0.0/24", "multicast"),
            ("239.1.0.0/16", "multicast"),
            ("240.0.0.0/24", "reserved"),
            ("255.255.255.252/30", "broadcast"),
            ("169.254.0.0/16", "link-local"),
            ("169.254.10.0/24", "link-local"),
            ("fe80::/64", "link-local"),
            ("ff02::/64", "multicast"),
            ("::ffff:0:0/120", "IPv4-mapped"),
            ("::/64", "unspecified"),
        ] {
            let err = validate_subnet(net(bad), None, None).unwrap_err();
            assert!(matches!(err, ModelError::Invalid(_)), "{bad}");
            assert!(err.to_string().contains(word), "{bad}: {err}");
        }
        for good in
            ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "1.0.0.0/24", "fd00::/64"]
        {
            validate_subnet(net(good), None, None).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        assert!(AddressPool::new("127.0.0.0/8", 16).validate().is_err());
    }
}
