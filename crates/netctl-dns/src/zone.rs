//! Names per network and per-container views: pure data and lookup, no sockets.

// Names come from the daemon (container names, aliases), never from askers, so a
// fast non-keyed hash cannot be flooded; SipHash cost ~0.3 µs per query here.
use rustc_hash::FxHashMap as HashMap;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::RecordType;
use rand::seq::SliceRandom;

#[derive(Debug, Default, Clone)]
struct NetRecords {
    /// Lowercase name → addresses (several holders of one alias: several).
    names: HashMap<String, Vec<IpAddr>>,
    /// Address → `name.network`.
    ptr: HashMap<IpAddr, String>,
}

/// Link aliases of one container: lowercase alias → addresses.
pub type LinkNames = HashMap<String, Vec<IpAddr>>;

/// What one container may resolve.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Ids of the networks it is on (user-defined ones: the default has no DNS).
    pub networks: Vec<String>,
    /// All its networks are internal: nothing is forwarded.
    pub internal_only: bool,
    /// `--dns` servers of this container, used instead of the daemon's.
    pub upstreams: Vec<SocketAddr>,
    /// `--link NAME:ALIAS` on a user-defined network: lowercase alias → the linked
    /// container's addresses. Seen by this container only, as Docker's link aliases.
    pub links: LinkNames,
}

/// Everything the resolver knows, rebuilt by the daemon on each change and swapped
/// in whole, so a query never sees half an update.
#[derive(Debug, Default, Clone)]
pub struct Zone {
    networks: HashMap<String, NetRecords>,
    /// Lowercase network name → id, for `name.network`.
    network_ids: HashMap<String, String>,
    views: HashMap<String, View>,
    /// What each container put into the network records, so that one container's
    /// change is undone and redone without rebuilding everything.
    placed: HashMap<String, Vec<Placed>>,
}

#[derive(Debug, Clone)]
struct Placed {
    network_id: String,
    /// Lowercase.
    names: Vec<String>,
    addresses: Vec<IpAddr>,
}

/// One container's endpoint on one network, as the resolver needs it.
#[derive(Debug, Clone)]
pub struct EndpointNames<'a> {
    pub network_id: &'a str,
    pub network_name: &'a str,
    pub container_name: &'a str,
    pub short_id: &'a str,
    pub hostname: &'a str,
    pub aliases: &'a [String],
    pub addresses: &'a [IpAddr],
}

#[derive(Debug, Default)]
pub struct ZoneBuilder {
    zone: Zone,
}

impl ZoneBuilder {
    pub fn add_network(&mut self, id: &str, name: &str) {
        self.zone.network_ids.insert(name.to_ascii_lowercase(), id.to_string());
        self.zone.networks.entry(id.to_string()).or_default();
    }

    pub fn add_endpoint(&mut self, ep: &EndpointNames<'_>) {
        self.zone.place(ep);
    }

    pub fn add_view(&mut self, container_id: &str, view: View) {
        self.zone.views.insert(container_id.to_string(), view);
    }

    /// A container's endpoints and view, remembered so `Zone::set_container` can
    /// replace them later.
    pub fn add_container(&mut self, container_id: &str, endpoints: &[EndpointNames<'_>], view: View) {
        self.zone.set_container(container_id, endpoints, Some(view));
    }

    pub fn build(self) -> Zone {
        self.zone
    }
}

/// What the resolver does with a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The name is known; the addresses of the asked family (none: NODATA).
    Addrs(Vec<IpAddr>),
    Ptr(String),
    NxDomain,
    /// Not ours: ask the upstream servers.
    Forward,
    /// Not ours, and this container may not reach outside (internal networks only).
    Refused,
}

impl Zone {
    fn place(&mut self, ep: &EndpointNames<'_>) -> Placed {
        if !self.networks.contains_key(ep.network_id) {
            self.network_ids.insert(ep.network_name.to_ascii_lowercase(), ep.network_id.to_string());
        }
        let recs = self.networks.entry(ep.network_id.to_string()).or_default();
        let mut names: Vec<String> = [ep.container_name, ep.short_id, ep.hostname]
            .into_iter()
            .chain(ep.aliases.iter().map(String::as_str))
            .map(str::to_ascii_lowercase)
            .collect();
        names.sort();
        names.dedup();
        for name in &names {
            let addrs = recs.names.entry(name.clone()).or_default();
            for ip in ep.addresses {
                if !addrs.contains(ip) {
                    addrs.push(*ip);
                }
            }
        }
        for ip in ep.addresses {
            recs.ptr.insert(*ip, format!("{}.{}.", ep.container_name, ep.network_name));
        }
        Placed { network_id: ep.network_id.to_string(), names, addresses: ep.addresses.to_vec() }
    }

    /// Replaces one container's names and view (None: the container is gone), in
    /// time proportional to its own names, not to the zone.
    pub fn set_container(&mut self, container_id: &str, endpoints: &[EndpointNames<'_>], view: Option<View>) {
        for p in self.placed.remove(container_id).unwrap_or_default() {
            let Some(recs) = self.networks.get_mut(&p.network_id) else { continue };
            for name in &p.names {
                if let Some(addrs) = recs.names.get_mut(name) {
                    addrs.retain(|ip| !p.addresses.contains(ip));
                    if addrs.is_empty() {
                        recs.names.remove(name);
                    }
                }
            }
            for ip in &p.addresses {
                recs.ptr.remove(ip);
            }
        }
        let placed: Vec<Placed> = endpoints.iter().map(|ep| self.place(ep)).collect();
        if !placed.is_empty() {
            self.placed.insert(container_id.to_string(), placed);
        }
        match view {
            Some(v) => {
                self.views.insert(container_id.to_string(), v);
            }
            None => {
                self.views.remove(container_id);
            }
        }
    }

    pub fn view(&self, container_id: &str) -> Option<&View> {
        self.views.get(container_id)
    }

    pub fn lookup(&self, container_id: &str, qname: &str, qtype: RecordType) -> Answer {
        let Some(view) = self.views.get(container_id) else { return Answer::Refused };
        let name = qname.trim_end_matches('.').to_ascii_lowercase();
        if qtype == RecordType::PTR || name.ends_with(".in-addr.arpa") || name.ends_with(".ip6.arpa") {
            if let Some(ip) = parse_reverse(&name) {
                for net in &view.networks {
                    if let Some(target) = self.networks.get(net).and_then(|r| r.ptr.get(&ip)) {
                        return if qtype == RecordType::PTR {
                            Answer::Ptr(target.clone())
                        } else {
                            Answer::Addrs(vec![])
                        };
                    }
                }
            }
            return self.not_found(view, &name);
        }
        let mut found: Option<Vec<IpAddr>> = None;
        let mut collect = |addrs: &Vec<IpAddr>| {
            let all = found.get_or_insert_with(Vec::new);
            all.extend(addrs.iter().filter(|ip| !all_contains(all, ip)).copied().collect::<Vec<_>>());
        };
        if let Some(addrs) = view.links.get(&name) {
            collect(addrs);
        }
        for net in &view.networks {
            if let Some(addrs) = self.networks.get(net).and_then(|r| r.names.get(&name)) {
                collect(addrs);
            }
        }
        // `name.network`: only within that network, and only if the asker is on it.
        if let Some((host, netname)) = name.split_once('.') {
            if let Some(net) = self.network_ids.get(netname).filter(|id| view.networks.contains(id)) {
                if let Some(addrs) = self.networks.get(net).and_then(|r| r.names.get(host)) {
                    collect(addrs);
                }
            }
        }
        match found {
            Some(mut addrs) => {
                addrs.retain(|ip| match qtype {
                    RecordType::A => ip.is_ipv4(),
                    RecordType::AAAA => ip.is_ipv6(),
                    _ => false,
                });
                addrs.shuffle(&mut rand::rng());
                Answer::Addrs(addrs)
            }
            None => self.not_found(view, &name),
        }
    }

    fn not_found(&self, view: &View, name: &str) -> Answer {
        if view.internal_only {
            Answer::Refused
        } else if !name.contains('.') {
            // A single label can only be a container's name: asking the Internet
            // for it would leak it and wait for nothing.
            Answer::NxDomain
        } else {
            Answer::Forward
        }
    }
}

/// A local answer of the fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// This many addresses were written (0: NODATA).
    Found(usize),
    NxDomain,
    Refused,
}

impl Zone {
    /// `lookup` for an already lowercased name without the trailing dot, writing
    /// the addresses of one family into `out` (rotated by a random offset: round
    /// robin) without allocating. None when the general path must answer (the
    /// name is to be forwarded, or there are more holders than `out` holds).
    pub fn lookup_fast(&self, container_id: &str, name: &str, v6: bool, out: &mut [IpAddr]) -> Option<Local> {
        let Some(view) = self.views.get(container_id) else { return Some(Local::Refused) };
        let mut n = 0;
        let mut found = false;
        let mut take = |addrs: &Vec<IpAddr>| -> Option<()> {
            found = true;
            for ip in addrs.iter().filter(|ip| ip.is_ipv6() == v6) {
                if out[..n].contains(ip) {
                    continue;
                }
                *out.get_mut(n)? = *ip;
                n += 1;
            }
            Some(())
        };
        if let Some(addrs) = view.links.get(name) {
            take(addrs)?;
        }
        for net in &view.networks {
            if let Some(addrs) = self.networks.get(net).and_then(|r| r.names.get(name)) {
                take(addrs)?;
            }
        }
        if let Some((host, netname)) = name.split_once('.') {
            if let Some(net) = self.network_ids.get(netname).filter(|id| view.networks.contains(id)) {
                if let Some(addrs) = self.networks.get(net).and_then(|r| r.names.get(host)) {
                    take(addrs)?;
                }
            }
        }
        if found {
            if n > 1 {
                out[..n].rotate_left(rand::random_range(0..n));
            }
            return Some(Local::Found(n));
        }
        match self.not_found(view, name) {
            Answer::NxDomain => Some(Local::NxDomain),
            Answer::Refused => Some(Local::Refused),
            _ => None,
        }
    }
}

fn all_contains(all: &[IpAddr], ip: &IpAddr) -> bool {
    all.contains(ip)
}

/// The address a reverse name stands for: `4.3.2.1.in-addr.arpa` → 1.2.3.4.
fn parse_reverse(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let parts: Vec<&str> = rest.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        let octets: Vec<u8> = parts.iter().rev().map(|p| p.parse().ok()).collect::<Option<_>>()?;
        return Some(IpAddr::from([octets[0], octets[1], octets[2], octets[3]]));
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let nibbles: Vec<u8> =
        rest.split('.').rev().map(|n| u8::from_str_radix(n, 16).ok()).collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, pair) in nibbles.chunks(2).enumerate() {
        bytes[i] = (pair[0] << 4) | pair[1];
    }
    Some(IpAddr::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn zone() -> Zone {
        let mut b = ZoneBuilder::default();
        b.add_network("na", "net-a");
        b.add_network("nb", "net-b");
        let ep = |net: &'static str,
                  netname: &'static str,
                  name: &'static str,
                  aliases: &'static [String],
                  addr: &'static [IpAddr]| EndpointNames {
            network_id: net,
            network_name: netname,
            container_name: name,
            short_id: "0123456789ab",
            hostname: "0123456789ab",
            aliases,
            addresses: addr,
        };
        static RA: std::sync::OnceLock<Vec<IpAddr>> = std::sync::OnceLock::new();
        static RB: std::sync::OnceLock<Vec<IpAddr>> = std::sync::OnceLock::new();
        static DB: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let ra = RA.get_or_init(|| vec![ip("172.18.0.2")]);
        let rb = RB.get_or_init(|| vec![ip("172.19.0.2")]);
        let db = DB.get_or_init(|| vec!["db".to_string()]);
        b.add_endpoint(&ep("na", "net-a", "redis", &[], ra));
        b.add_endpoint(&ep("nb", "net-b", "other", db, rb));
        b.add_view("ca", View { networks: vec!["na".into()], ..Default::default() });
        b.add_view("cb", View { networks: vec!["nb".into()], ..Default::default() });
        b.add_view("cab", View { networks: vec!["na".into(), "nb".into()], ..Default::default() });
        b.add_view("ci", View { networks: vec!["na".into()], internal_only: true, ..Default::default() });
        let links = [("cache".to_string(), vec![ip("172.18.0.2")])].into_iter().collect();
        b.add_view("cl", View { networks: vec!["na".into()], links, ..Default::default() });
        b.build()
    }

    #[test]
    fn one_container_replaced_in_place_answers_as_a_rebuild() {
        let ips = [ip("172.18.0.2")];
        let moved = [ip("172.18.0.9")];
        let aliases = ["db".to_string(), "cache".to_string()];
        let ep = |addresses: &'static [IpAddr], aliases: &'static [String]| EndpointNames {
            network_id: "na",
            network_name: "net-a",
            container_name: "redis",
            short_id: "0123456789ab",
            hostname: "0123456789ab",
            aliases,
            addresses,
        };
        let (ips, moved, aliases): (&'static [IpAddr], &'static [IpAddr], &'static [String]) =
            (Box::leak(Box::new(ips)), Box::leak(Box::new(moved)), Box::leak(Box::new(aliases)));
        let view = || View { networks: vec!["na".into()], ..Default::default() };
        let mut b = ZoneBuilder::default();
        b.add_container("asker", &[], view());
        b.add_container("r", &[ep(ips, aliases)], view());
        let mut z = b.build();
        assert_eq!(z.lookup("asker", "db", RecordType::A), Answer::Addrs(vec![ip("172.18.0.2")]));
        // New address, one alias fewer: the old ones are gone, as in a rebuild.
        z.set_container("r", &[ep(moved, &aliases[..1])], Some(view()));
        assert_eq!(z.lookup("asker", "redis", RecordType::A), Answer::Addrs(vec![ip("172.18.0.9")]));
        assert_eq!(z.lookup("asker", "db", RecordType::A), Answer::Addrs(vec![ip("172.18.0.9")]));
        assert_eq!(z.lookup("asker", "cache", RecordType::A), Answer::NxDomain);
        // Not ours any more: reverse names nobody holds go upstream.
        assert_eq!(z.lookup("asker", "2.0.18.172.in-addr.arpa", RecordType::PTR), Answer::Forward);
        assert_eq!(
            z.lookup("asker", "9.0.18.172.in-addr.arpa", RecordType::PTR),
            Answer::Ptr("redis.net-a.".into())
        );
        z.set_container("r", &[], None);
        assert_eq!(z.lookup("asker", "redis", RecordType::A), Answer::NxDomain);
        assert_eq!(z.lookup("r", "asker", RecordType::A), Answer::Refused);
        assert!(z.networks["na"].names.is_empty() && z.networks["na"].ptr.is_empty());
    }

    #[test]
    fn link_aliases_only_for_the_linker() {
        let z = zone();
        assert_eq!(z.lookup("cl", "cache", RecordType::A), Answer::Addrs(vec![ip("172.18.0.2")]));
        assert_eq!(z.lookup("ca", "cache", RecordType::A), Answer::NxDomain);
        let mut out = [ip("0.0.0.0"); 4];
        assert_eq!(z.lookup_fast("cl", "cache", false, &mut out), Some(Local::Found(1)));
        assert_eq!(z.lookup_fast("ca", "cache", false, &mut out), Some(Local::NxDomain));
    }

    #[test]
    fn names_aliases_ids_case_insensitive() {
        let z = zone();
        assert_eq!(z.lookup("ca", "redis.", RecordType::A), Answer::Addrs(vec![ip("172.18.0.2")]));
        assert_eq!(z.lookup("ca", "REDIS", RecordType::A), Answer::Addrs(vec![ip("172.18.0.2")]));
        assert_eq!(z.lookup("ca", "0123456789ab", RecordType::A), Answer::Addrs(vec![ip("172.18.0.2")]));
        assert_eq!(z.lookup("cb", "db", RecordType::A), Answer::Addrs(vec![ip("172.19.0.2")]));
        assert_eq!(z.lookup("ca", "redis.net-a", RecordType::A), Answer::Addrs(vec![ip("172.18.0.2")]));
    }

    #[test]
    fn views_are_per_network() {
        let z = zone();
        assert_eq!(z.lookup("ca", "db", RecordType::A), Answer::NxDomain);
        assert_eq!(z.lookup("cb", "redis", RecordType::A), Answer::NxDomain);
        assert_eq!(
            z.lookup("cb", "redis.net-a", RecordType::A),
            Answer::Forward,
            "not on net-a: not ours to answer"
        );
        let Answer::Addrs(mut both) = z.lookup("cab", "0123456789ab", RecordType::A) else { panic!() };
        both.sort();
        assert_eq!(both, vec![ip("172.18.0.2"), ip("172.19.0.2")]);
        assert_eq!(z.lookup("unknown", "redis", RecordType::A), Answer::Refused);
    }

    #[test]
    fn nodata_ptr_forward_refused() {
        let z = zone();
        assert_eq!(z.lookup("ca", "redis", RecordType::AAAA), Answer::Addrs(vec![]), "NODATA, not NXDOMAIN");
        assert_eq!(z.lookup("ca", "redis", RecordType::MX), Answer::Addrs(vec![]));
        assert_eq!(
            z.lookup("ca", "2.0.18.172.in-addr.arpa.", RecordType::PTR),
            Answer::Ptr("redis.net-a.".into())
        );
        assert_eq!(z.lookup("cb", "2.0.18.172.in-addr.arpa", RecordType::PTR), Answer::Forward);
        assert_eq!(z.lookup("ca", "example.com", RecordType::A), Answer::Forward);
        assert_eq!(z.lookup("ci", "example.com", RecordType::A), Answer::Refused);
        assert_eq!(z.lookup("ci", "redis", RecordType::A), Answer::Addrs(vec![ip("172.18.0.2")]));
    }

    #[test]
    fn round_robin_over_holders_of_one_alias() {
        let mut b = ZoneBuilder::default();
        b.add_network("n", "net");
        let aliases = vec!["web".to_string()];
        let addrs: Vec<Vec<IpAddr>> = (2..5).map(|i| vec![ip(&format!("10.0.0.{i}"))]).collect();
        for (i, a) in addrs.iter().enumerate() {
            let name = format!("w{i}");
            b.add_endpoint(&EndpointNames {
                network_id: "n",
                network_name: "net",
                container_name: &name,
                short_id: &name,
                hostname: &name,
                aliases: &aliases,
                addresses: a,
            });
        }
        b.add_view("c", View { networks: vec!["n".into()], ..Default::default() });
        let z = b.build();
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..200 {
            let Answer::Addrs(a) = z.lookup("c", "web", RecordType::A) else { panic!() };
            assert_eq!(a.len(), 3);
            firsts.insert(a[0]);
        }
        assert_eq!(firsts.len(), 3, "each holder comes first sometimes");
    }

    #[test]
    fn reverse_names() {
        assert_eq!(parse_reverse("4.3.2.1.in-addr.arpa"), Some(ip("1.2.3.4")));
        assert_eq!(parse_reverse("3.2.1.in-addr.arpa"), None);
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa";
        assert_eq!(parse_reverse(v6), Some(ip("fd00::1")));
    }
}
