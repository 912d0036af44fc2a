//! Container addresses within one subnet: handed out in order after the last one
//! given (so a just-released address is not reused at once, as Docker does),
//! never the network, broadcast or gateway address, and only inside the ip-range.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::ipam::{from_u128, to_u128};
use crate::{ModelError, SubnetConfig};

#[derive(Debug, Clone, Default)]
pub struct AddressBook {
    used: BTreeSet<u128>,
    /// The last address handed out, per family (IPv4, IPv6): the next search
    /// starts after it, so a released address is not given again at once.
    cursor: [Option<u128>; 2],
}

impl AddressBook {
    /// First and last assignable address of the subnet's pool (the ip-range if set).
    fn bounds(cfg: &SubnetConfig) -> (u128, u128) {
        let pool = cfg.ip_range.unwrap_or(cfg.subnet);
        let bits = if pool.is_ipv4() { 32 } else { 128 };
        let first = to_u128(pool.network());
        let size: u128 =
            if pool.prefix() == 0 { u128::MAX } else { (1u128 << (bits - pool.prefix() as u32)) - 1 };
        let mut lo = first;
        let mut hi = first.saturating_add(size);
        let subnet_first = to_u128(cfg.subnet.network());
        let subnet_last = subnet_first + ((1u128 << (bits - cfg.subnet.prefix() as u32)) - 1);
        if lo == subnet_first {
            lo += 1;
        }
        if cfg.subnet.is_ipv4() && hi == subnet_last {
            hi -= 1;
        }
        (lo, hi)
    }

    /// True once an address of the family was handed out since the book was made:
    /// the next one then comes after it and was held by no one a moment ago.
    pub fn allocated_since_start(&self, v6: bool) -> bool {
        self.cursor[usize::from(v6)].is_some()
    }

    pub fn mark_used(&mut self, ip: IpAddr) {
        self.used.insert(to_u128(ip));
    }

    pub fn release(&mut self, ip: IpAddr) {
        self.used.remove(&to_u128(ip));
    }

    pub fn is_used(&self, ip: IpAddr) -> bool {
        self.used.contains(&to_u128(ip))
    }

    /// Reserves exactly `ip` (a user's `--ip`), or says why not.
    pub fn reserve(&mut self, cfg: &SubnetConfig, ip: IpAddr) -> Result<(), ModelError> {
        if !cfg.subnet.contains(ip) {
            return Err(ModelError::invalid(format!("address {ip} is not in subnet {}", cfg.subnet)));
        }
        let n = to_u128(ip);
        let subnet_first = to_u128(cfg.subnet.network());
        if n == subnet_first || (cfg.subnet.is_ipv4() && ip == cfg.subnet.broadcast()) || ip == cfg.gateway {
            return Err(ModelError::invalid(format!(
                "address {ip} is the network, broadcast or gateway address of {}",
                cfg.subnet
            )));
        }
        if self.used.contains(&n) {
            return Err(ModelError::conflict(format!("address {ip} is already in use")));
        }
        self.used.insert(n);
        Ok(())
    }

    /// The next free address after the cursor, wrapping around once.
    pub fn allocate(&mut self, cfg: &SubnetConfig) -> Result<IpAddr, ModelError> {
        let (lo, hi) = Self::bounds(cfg);
        let gateway = to_u128(cfg.gateway);
        let v4 = cfg.subnet.is_ipv4();
        let family = usize::from(!v4);
        let start = match self.cursor[family] {
            Some(c) if c >= lo && c < hi => c + 1,
            _ => lo,
        };
        let found = first_free(start, hi, &self.used, gateway)
            .or_else(|| first_free(lo, start.saturating_sub(1), &self.used, gateway));
        match found {
            Some(n) => {
                self.used.insert(n);
                self.cursor[family] = Some(n);
                Ok(from_u128(n, v4))
            }
            None => Err(ModelError::conflict(format!(
                "no free address left in {}",
                cfg.ip_range.unwrap_or(cfg.subnet)
            ))),
        }
    }
}

/// The first n in lo..=hi that is neither used nor the gateway. Walks the used set
/// instead of every address, so a large, nearly empty subnet costs nothing.
fn first_free(lo: u128, hi: u128, used: &BTreeSet<u128>, gateway: u128) -> Option<u128> {
    if lo > hi {
        return None;
    }
    let mut candidate = lo;
    let mut taken = used.range(lo..=hi).copied().peekable();
    loop {
        if candidate > hi {
            return None;
        }
        if candidate == gateway {
            candidate += 1;
            continue;
        }
        match taken.peek() {
            Some(&t) if t < candidate => {
                taken.next();
            }
            Some(&t) if t == candidate => {
                taken.next();
                candidate += 1;
            }
            _ => return Some(candidate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(subnet: &str, gw: &str, range: Option<&str>) -> SubnetConfig {
        SubnetConfig {
            subnet: subnet.parse().unwrap(),
            gateway: gw.parse().unwrap(),
            ip_range: range.map(|r| r.parse().unwrap()),
            aux_addresses: Default::default(),
            automatic: false,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn sequential_skipping_gateway() {
        let c = cfg("172.18.0.0/16", "172.18.0.1", None);
        let mut b = AddressBook::default();
        assert_eq!(b.allocate(&c).unwrap(), ip("172.18.0.2"));
        assert_eq!(b.allocate(&c).unwrap(), ip("172.18.0.3"));
    }

    #[test]
    fn no_immediate_reuse() {
        let c = cfg("10.0.0.0/24", "10.0.0.1", None);
        let mut b = AddressBook::default();
        let a = b.allocate(&c).unwrap();
        b.release(a);
        assert_eq!(b.allocate(&c).unwrap(), ip("10.0.0.3"));
    }

    #[test]
    fn wraps_and_exhausts() {
        let c = cfg("10.0.0.0/29", "10.0.0.1", None);
        let mut b = AddressBook::default();
        let got: Vec<_> = (0..5).map(|_| b.allocate(&c).unwrap()).collect();
        assert_eq!(got.last().unwrap(), &ip("10.0.0.6"));
        assert!(b.allocate(&c).is_err());
        b.release(ip("10.0.0.3"));
        assert_eq!(b.allocate(&c).unwrap(), ip("10.0.0.3"));
    }

    #[test]
    fn stays_in_ip_range() {
        let c = cfg("10.0.0.0/16", "10.0.0.1", Some("10.0.5.0/30"));
        let mut b = AddressBook::default();
        let got: Vec<_> = (0..4).map(|_| b.allocate(&c).unwrap()).collect();
        assert_eq!(got, vec![ip("10.0.5.0"), ip("10.0.5.1"), ip("10.0.5.2"), ip("10.0.5.3")]);
        assert!(b.allocate(&c).is_err());
    }

    #[test]
    fn gateway_in_middle_is_skipped() {
        let c = cfg("10.0.0.0/29", "10.0.0.3", None);
        let mut b = AddressBook::default();
        let got: Vec<_> = (0..3).map(|_| b.allocate(&c).unwrap()).collect();
        assert_eq!(got, vec![ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.4")]);
    }

    #[test]
    fn reserve_rules() {
        let c = cfg("10.0.0.0/24", "10.0.0.1", None);
        let mut b = AddressBook::default();
        b.reserve(&c, ip("10.0.0.50")).unwrap();
        assert!(matches!(b.reserve(&c, ip("10.0.0.50")), Err(ModelError::Conflict(_))));
        assert!(b.reserve(&c, ip("10.0.1.5")).is_err());
        assert!(b.reserve(&c, ip("10.0.0.1")).is_err());
        assert!(b.reserve(&c, ip("10.0.0.255")).is_err());
        assert!(b.reserve(&c, ip("10.0.0.0")).is_err());
    }

    #[test]
    fn thousand_in_order() {
        let c = cfg("172.18.0.0/16", "172.18.0.1", None);
        let mut b = AddressBook::default();
        let mut last = None;
        for _ in 0..1000 {
            last = Some(b.allocate(&c).unwrap());
        }
        assert_eq!(last.unwrap(), ip("172.18.3.233"));
    }
}
