//! Names per network and per-container views: pure data and lookup, no sockets.

// Names come from the daemon (container names, aliases), never from askers, so a
// fast non-keyed hash cannot be flooded; SipHash cost ~0.3 µs per query here.
use rustc_hash::FxHashMap as HashMap;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::{Name, RecordType};
use smallvec::SmallVec;

/// A network's place in `Zone::nets`: views hold these instead of ids, so a lookup
/// compares small integers rather than hashing 64-character ids.
type Slot = u32;

#[derive(Debug, Default, Clone)]
struct NetRecords {
    /// Address → `name.network`.
    ptr: HashMap<IpAddr, String>,
    /// The network's subnets (address, prefix length): reverse names inside them
    /// are ours to answer, never asked of the upstream servers.
    subnets: Vec<(IpAddr, u8)>,
}

/// A lowercase name, stored in the map's own bucket when short (as nearly all
/// container names and aliases are).
type NameKey = SmallVec<[u8; 24]>;

/// The holders of one name: per network, its addresses there (several holders of
/// one alias: several).
type Holders = SmallVec<[Holder; 1]>;

/// The usual holder (one network, one address) lives inline in the map's bucket:
/// a question answered while its cache lines are cold (the thread has just woken)
/// then costs the bucket, not three more heap blocks.
#[derive(Debug, Clone)]
struct Holder {
    slot: Slot,
    addrs: SmallVec<[IpAddr; 1]>,
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
    /// A single-label name that no container holds goes to the upstream servers
    /// (as in Docker, so that LAN names such as `nas` resolve); false: NXDOMAIN here.
    pub forward_single_label: bool,
}

/// A view with its networks resolved to slots; looked up once per batch of
/// questions from one container.
#[derive(Debug, Clone)]
pub struct PlacedView {
    view: View,
    slots: Vec<Slot>,
}

/// Everything the resolver knows, built by the daemon at start and changed one
/// container at a time after that.
///
/// Names live in one map for all networks rather than one map per network: a
/// question costs one hash lookup of the name, then a check of the holders'
/// networks against the asker's, however many networks the asker is on.
#[derive(Debug, Default, Clone)]
pub struct Zone {
    /// Network id → slot in `nets`.
    slots: HashMap<String, Slot>,
    nets: Vec<NetRecords>,
    /// Lowercase network name → slot, for `name.network`.
    network_names: HashMap<String, Slot>,
    /// Lowercase name → its holders on every network.
    names: HashMap<NameKey, Holders>,
    views: HashMap<String, PlacedView>,
    /// What each container put into the records, so that one container's change
    /// is undone and redone without rebuilding everything.
    placed: HashMap<String, Vec<Placed>>,
    /// What changed since the kernel's mirror last looked (`kernel::Touched`).
    kernel_touched: Option<kernel::Touched>,
}

#[derive(Debug, Clone)]
struct Placed {
    slot: Slot,
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
    /// A network and its subnets (address, prefix length).
    pub fn add_network(&mut self, id: &str, name: &str, subnets: &[(IpAddr, u8)]) {
        self.zone.set_network(id, name, subnets);
    }

    pub fn add_endpoint(&mut self, ep: &EndpointNames<'_>) {
        self.zone.place(ep);
    }

    pub fn add_view(&mut self, container_id: &str, view: View) {
        self.zone.set_view(container_id, view);
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
    /// The slot of a network, made on first mention. Slots are never reused: a
    /// removed network's stays, empty, until the daemon restarts (networks are few).
    fn slot(&mut self, network_id: &str) -> Slot {
        if let Some(slot) = self.slots.get(network_id) {
            return *slot;
        }
        let slot = self.nets.len() as Slot;
        self.nets.push(NetRecords::default());
        self.slots.insert(network_id.to_string(), slot);
        slot
    }

    /// Records a network's name and subnets (address, prefix length); cheap, so the
    /// daemon calls it with every change of a container on it.
    pub fn set_network(&mut self, id: &str, name: &str, subnets: &[(IpAddr, u8)]) {
        let slot = self.slot(id);
        self.network_names.insert(name.to_ascii_lowercase(), slot);
        let recs = &mut self.nets[slot as usize];
        if recs.subnets != subnets {
            recs.subnets = subnets.to_vec();
        }
    }

    fn place(&mut self, ep: &EndpointNames<'_>) -> Placed {
        let slot = self.slot(ep.network_id);
        // Always: a network removed and made again under its name has a new slot.
        self.network_names.insert(ep.network_name.to_ascii_lowercase(), slot);
        let mut names: Vec<String> = [ep.container_name, ep.short_id, ep.hostname]
            .into_iter()
            .chain(ep.aliases.iter().map(String::as_str))
            .map(str::to_ascii_lowercase)
            .collect();
        names.sort();
        names.dedup();
        for name in &names {
            self.touch_name(name.as_bytes());
            let holders = self.names.entry(NameKey::from_slice(name.as_bytes())).or_default();
            let at = match holders.iter().position(|h| h.slot == slot) {
                Some(at) => at,
                None => {
                    holders.push(Holder { slot, addrs: SmallVec::new() });
                    holders.len() - 1
                }
            };
            let addrs = &mut holders[at].addrs;
            for ip in ep.addresses {
                if !addrs.contains(ip) {
                    addrs.push(*ip);
                }
            }
        }
        let recs = &mut self.nets[slot as usize];
        for ip in ep.addresses {
            recs.ptr.insert(*ip, format!("{}.{}.", ep.container_name, ep.network_name));
        }
        Placed { slot, names, addresses: ep.addresses.to_vec() }
    }

    fn unplace(&mut self, p: &Placed) {
        for name in &p.names {
            self.touch_name(name.as_bytes());
            let Some(holders) = self.names.get_mut(name.as_bytes()) else { continue };
            for h in holders.iter_mut() {
                if h.slot == p.slot {
                    h.addrs.retain(|ip| !p.addresses.contains(ip));
                }
            }
            holders.retain(|h| !h.addrs.is_empty());
            if holders.is_empty() {
                self.names.remove(name.as_bytes());
            }
        }
        let recs = &mut self.nets[p.slot as usize];
        for ip in &p.addresses {
            recs.ptr.remove(ip);
        }
    }

    fn set_view(&mut self, container_id: &str, view: View) {
        self.touch_container(container_id);
        let slots = view.networks.iter().map(|id| self.slot(id)).collect();
        self.views.insert(container_id.to_string(), PlacedView { view, slots });
    }

    /// Replaces one container's names and view (None: the container is gone), in
    /// time proportional to its own names, not to the zone.
    pub fn set_container(&mut self, container_id: &str, endpoints: &[EndpointNames<'_>], view: Option<View>) {
        for p in self.placed.remove(container_id).unwrap_or_default() {
            self.unplace(&p);
        }
        let placed: Vec<Placed> = endpoints.iter().map(|ep| self.place(ep)).collect();
        if !placed.is_empty() {
            self.placed.insert(container_id.to_string(), placed);
        }
        match view {
            Some(v) => self.set_view(container_id, v),
            None => {
                self.touch_container(container_id);
                self.views.remove(container_id);
            }
        }
    }

    pub fn view(&self, container_id: &str) -> Option<&View> {
        self.views.get(container_id).map(|v| &v.view)
    }

    /// The container's view for `lookup_fast` (None: not a container we serve).
    pub fn placed_view(&self, container_id: &str) -> Option<&PlacedView> {
        self.views.get(container_id)
    }

    /// Calls `take` with the addresses `name` stands for in this view: its link
    /// aliases, its networks' names, and `host.network` on a network it is on.
    /// False if the name is not known there at all.
    fn for_each_holder(&self, view: &PlacedView, name: &[u8], mut take: impl FnMut(&[IpAddr])) -> bool {
        let mut found = false;
        if let Some(holders) = self.names.get(name) {
            for h in holders {
                if view.slots.contains(&h.slot) {
                    found = true;
                    take(&h.addrs);
                }
            }
        }
        if !view.view.links.is_empty() || name.contains(&b'.') {
            found |= self.for_each_rare_holder(view, name, take);
        }
        found
    }

    /// The uncommon sources of `for_each_holder`, out of line so that the common
    /// question's code stays small.
    #[cold]
    #[inline(never)]
    fn for_each_rare_holder(&self, view: &PlacedView, name: &[u8], mut take: impl FnMut(&[IpAddr])) -> bool {
        let mut found = false;
        let Ok(name) = std::str::from_utf8(name) else { return false };
        if let Some(addrs) = view.view.links.get(name) {
            found = true;
            take(addrs);
        }
        // `name.network`: only within that network, and only if the asker is on it.
        if let Some((host, netname)) = name.split_once('.') {
            if let Some(net) = self.network_names.get(netname).filter(|s| view.slots.contains(s)) {
                for h in self.names.get(host.as_bytes()).into_iter().flatten() {
                    if h.slot == *net {
                        found = true;
                        take(&h.addrs);
                    }
                }
            }
        }
        found
    }

    pub fn lookup(&self, container_id: &str, qname: &str, qtype: RecordType) -> Answer {
        let Some(view) = self.views.get(container_id) else { return Answer::Refused };
        let name = qname.trim_end_matches('.').to_ascii_lowercase();
        if qtype == RecordType::PTR || name.ends_with(".in-addr.arpa") || name.ends_with(".ip6.arpa") {
            if let Some(ip) = parse_reverse(&name) {
                for slot in &view.slots {
                    if let Some(target) = self.nets[*slot as usize].ptr.get(&ip) {
                        return if qtype == RecordType::PTR {
                            Answer::Ptr(target.clone())
                        } else {
                            Answer::Addrs(vec![])
                        };
                    }
                }
                // An address of a network of ours (held or not, seen or not): asking
                // the upstream servers would tell them what is inside.
                if self.is_ours(ip) {
                    return if view.view.internal_only { Answer::Refused } else { Answer::NxDomain };
                }
            }
            return self.not_found(&view.view, name.as_bytes());
        }
        let mut all: Vec<IpAddr> = Vec::new();
        let found = self.for_each_holder(view, name.as_bytes(), |addrs| {
            for ip in addrs {
                if !all.contains(ip) {
                    all.push(*ip);
                }
            }
        });
        if !found {
            return self.not_found(&view.view, name.as_bytes());
        }
        all.retain(|ip| match qtype {
            RecordType::A => ip.is_ipv4(),
            RecordType::AAAA => ip.is_ipv6(),
            _ => false,
        });
        if all.len() > 1 {
            shuffle(&mut all);
        }
        Answer::Addrs(all)
    }

    fn not_found(&self, view: &View, name: &[u8]) -> Answer {
        if view.internal_only {
            Answer::Refused
        } else if self.is_unforwarded_single_label(view, name) || self.is_other_networks_name(name) {
            // `name.network` of a network the asker is not on is a container it may
            // not see: asking the Internet would leak it and wait for nothing.
            Answer::NxDomain
        } else {
            Answer::Forward
        }
    }

    /// A single label that stays here: all of them unless the view forwards them
    /// (as Docker does), and always a name some container holds on a network the
    /// asker is not on (Docker would ask upstream; that would leak the name).
    fn is_unforwarded_single_label(&self, view: &View, name: &[u8]) -> bool {
        !name.contains(&b'.') && (!view.forward_single_label || self.names.contains_key(name))
    }

    /// `host.network` where `host` is held on the netctl network `network` (the
    /// asker's own networks were looked at already).
    #[cold]
    #[inline(never)]
    fn is_other_networks_name(&self, name: &[u8]) -> bool {
        let Some(dot) = name.iter().position(|b| *b == b'.') else { return false };
        let (host, netname) = (&name[..dot], &name[dot + 1..]);
        let Some(net) = std::str::from_utf8(netname).ok().and_then(|n| self.network_names.get(n)) else {
            return false;
        };
        self.names.get(host).is_some_and(|holders| holders.iter().any(|h| h.slot == *net))
    }

    /// Whether `ip` is an address of any of our networks: inside one's subnets or
    /// held by one of its containers.
    fn is_ours(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.ptr.contains_key(&ip) || n.subnets.iter().any(|s| in_subnet(ip, *s)))
    }
}

mod fast;
pub mod kernel;
pub use fast::Local;

/// Fisher–Yates with the thread's own generator (fastrand's wyrand: a few
/// nanoseconds, no lock), as Docker shuffles several holders of one name; every
/// order is equally likely, not only the rotations. Out of line: one holder is the
/// common case and never gets here.
#[cold]
#[inline(never)]
fn shuffle(addrs: &mut [IpAddr]) {
    for i in (1..addrs.len()).rev() {
        addrs.swap(i, fastrand::usize(..=i));
    }
}

fn in_subnet(ip: IpAddr, (net, prefix): (IpAddr, u8)) -> bool {
    ipnetwork::IpNetwork::new(net, prefix).is_ok_and(|n| n.contains(ip))
}

/// The address a reverse name stands for: `4.3.2.1.in-addr.arpa` → 1.2.3.4. A
/// partial name (a whole subnet, `3.2.1.in-addr.arpa`) stands for none.
fn parse_reverse(name: &str) -> Option<IpAddr> {
    let mut name = Name::from_ascii(name).ok()?;
    name.set_fqdn(true);
    let net = name.parse_arpa_name().ok()?;
    (net.prefix_len() == net.max_prefix_len()).then(|| net.addr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// `name`'s endpoint on network `net` (called `netname`); its short id and
    /// hostname are 0123456789ab.
    fn endpoint<'a>(
        net: &'a str,
        netname: &'a str,
        name: &'a str,
        aliases: &'a [String],
        addresses: &'a [IpAddr],
    ) -> EndpointNames<'a> {
        EndpointNames {
            network_id: net,
            network_name: netname,
            container_name: name,
            short_id: "0123456789ab",
            hostname: "0123456789ab",
            aliases,
            addresses,
        }
    }

    fn zone() -> Zone {
        let mut b = ZoneBuilder::default();
        b.add_network("na", "net-a", &[(ip("172.18.0.0"), 16)]);
        b.add_network("nb", "net-b", &[(ip("172.19.0.0"), 16), (ip("fd00:19::"), 64)]);
        let (ra, rb, db) = ([ip("172.18.0.2")], [ip("172.19.0.2")], ["db".to_string()]);
        b.add_endpoint(&endpoint("na", "net-a", "redis", &[], &ra));
        b.add_endpoint(&endpoint("nb", "net-b", "other", &db, &rb));
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
        let ep = |addresses, aliases| endpoint("na", "net-a", "redis", aliases, addresses);
        let view = || View { networks: vec!["na".into()], ..Default::default() };
        let mut z = Zone::default();
        z.set_container("asker", &[], Some(view()));
        z.set_container("r", &[ep(&ips, &aliases)], Some(view()));
        assert_eq!(z.lookup("asker", "db", RecordType::A), Answer::Addrs(vec![ip("172.18.0.2")]));
        // New address, one alias fewer: the old ones are gone, as in a rebuild.
        z.set_container("r", &[ep(&moved, &aliases[..1])], Some(view()));
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
        assert!(z.names.is_empty() && z.nets.iter().all(|n| n.ptr.is_empty()));
    }

    #[test]
    fn a_network_made_again_under_its_name_answers_name_dot_network() {
        let addrs = [ip("172.30.0.2")];
        let ep = |network_id| endpoint(network_id, "net", "redis", &[], &addrs);
        let mut z = ZoneBuilder::default().build();
        z.set_container("r", &[ep("old")], Some(View { networks: vec!["old".into()], ..Default::default() }));
        z.set_container("r", &[], None);
        let view = || View { networks: vec!["new".into()], ..Default::default() };
        z.set_container("r", &[ep("new")], Some(view()));
        z.set_container("asker", &[], Some(view()));
        assert_eq!(z.lookup("asker", "redis.net", RecordType::A), Answer::Addrs(vec![ip("172.30.0.2")]));
    }

    #[test]
    fn link_aliases_only_for_the_linker() {
        let z = zone();
        assert_eq!(z.lookup("cl", "cache", RecordType::A), Answer::Addrs(vec![ip("172.18.0.2")]));
        assert_eq!(z.lookup("ca", "cache", RecordType::A), Answer::NxDomain);
        let mut out = [ip("0.0.0.0"); 4];
        assert_eq!(z.lookup_fast(z.placed_view("cl"), b"cache", false, &mut out), Some(Local::Found(1)));
        assert_eq!(z.lookup_fast(z.placed_view("ca"), b"cache", false, &mut out), Some(Local::NxDomain));
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
            Answer::NxDomain,
            "not on net-a: not seen, and not asked of the upstream servers either"
        );
        assert_eq!(z.lookup("cb", "nobody.net-a", RecordType::A), Answer::Forward, "no such container");
        let mut out = [ip("0.0.0.0"); 4];
        assert_eq!(
            z.lookup_fast(z.placed_view("cb"), b"redis.net-a", false, &mut out),
            Some(Local::NxDomain)
        );
        let Answer::Addrs(mut both) = z.lookup("cab", "0123456789ab", RecordType::A) else { panic!() };
        both.sort();
        assert_eq!(both, vec![ip("172.18.0.2"), ip("172.19.0.2")]);
        // One name held on two networks: `name.network` picks that network's holder.
        assert_eq!(
            z.lookup("cab", "0123456789ab.net-b", RecordType::A),
            Answer::Addrs(vec![ip("172.19.0.2")])
        );
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
        // Another network's addresses, held or not, are answered here, never forwarded.
        assert_eq!(z.lookup("cb", "2.0.18.172.in-addr.arpa", RecordType::PTR), Answer::NxDomain);
        assert_eq!(z.lookup("cb", "77.0.18.172.in-addr.arpa", RecordType::PTR), Answer::NxDomain);
        assert_eq!(z.lookup("ca", "77.0.18.172.in-addr.arpa", RecordType::PTR), Answer::NxDomain);
        let v6 = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.1.0.0.0.0.d.f.ip6.arpa";
        assert_eq!(z.lookup("ca", v6, RecordType::PTR), Answer::NxDomain);
        assert_eq!(z.lookup("ca", "8.8.8.8.in-addr.arpa", RecordType::PTR), Answer::Forward);
        assert_eq!(z.lookup("ci", "77.0.18.172.in-addr.arpa", RecordType::PTR), Answer::Refused);
        assert_eq!(z.lookup("ca", "example.com", RecordType::A), Answer::Forward);
        assert_eq!(z.lookup("ci", "example.com", RecordType::A), Answer::Refused);
        assert_eq!(z.lookup("ci", "redis", RecordType::A), Answer::Addrs(vec![ip("172.18.0.2")]));
    }

    /// Docker shuffles several holders of one name: every order comes up, on both
    /// paths, not only the three rotations of one order.
    #[test]
    fn holders_of_one_alias_are_shuffled_not_rotated() {
        let web = ["web".to_string()];
        let z = crate::test_support::one_network_zone(&[
            ("w0", &web, ip("10.0.0.2")),
            ("w1", &web, ip("10.0.0.3")),
            ("w2", &web, ip("10.0.0.4")),
        ]);
        let mut general = std::collections::HashMap::new();
        let mut fast = std::collections::HashMap::new();
        for _ in 0..600 {
            let Answer::Addrs(a) = z.lookup("c", "web", RecordType::A) else { panic!() };
            assert_eq!(a.len(), 3);
            *general.entry(a).or_insert(0) += 1;
            let mut out = [ip("0.0.0.0"); 4];
            assert_eq!(z.lookup_fast(z.placed_view("c"), b"web", false, &mut out), Some(Local::Found(3)));
            *fast.entry(out[..3].to_vec()).or_insert(0) += 1;
        }
        for (path, orders) in [("general", &general), ("fast", &fast)] {
            // 100 of each expected; a rotation would show 3 orders of 200.
            assert_eq!(orders.len(), 6, "{path}: {orders:?}");
            assert!(orders.values().all(|n| *n >= 50), "{path}: {orders:?}");
            for order in orders.keys() {
                let mut sorted = order.clone();
                sorted.sort();
                assert_eq!(sorted, [ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.4")]);
            }
        }
    }

    /// One holder: its address, and no random number drawn for it (the fast path's
    /// common question stays as cheap as it was).
    #[test]
    fn one_holder_is_answered_as_before_without_drawing() {
        let z = crate::test_support::one_network_zone(&[("solo", &[], ip("10.0.0.2"))]);
        fastrand::seed(7);
        let mut out = [ip("0.0.0.0"); 4];
        for _ in 0..10 {
            assert_eq!(z.lookup_fast(z.placed_view("c"), b"solo", false, &mut out), Some(Local::Found(1)));
            assert_eq!(out[0], ip("10.0.0.2"));
            assert_eq!(z.lookup("c", "solo", RecordType::A), Answer::Addrs(vec![ip("10.0.0.2")]));
        }
        let drawn = fastrand::u64(..);
        fastrand::seed(7);
        assert_eq!(drawn, fastrand::u64(..), "a single holder drew from the generator");
    }

    /// Single labels no container holds go upstream where the view says so (the
    /// daemon's `dns.forward_single_label`, as Docker does), else NXDOMAIN here; a
    /// name held on a network the asker is not on never leaves, either way.
    #[test]
    fn single_labels_forwarded_when_the_view_says_so() {
        let mut z = zone();
        z.set_container(
            "fw",
            &[],
            Some(View { networks: vec!["na".into()], forward_single_label: true, ..Default::default() }),
        );
        let fwi = View {
            networks: vec!["na".into()],
            forward_single_label: true,
            internal_only: true,
            ..Default::default()
        };
        z.set_container("fwi", &[], Some(fwi));
        let mut out = [ip("0.0.0.0"); 4];
        assert_eq!(z.lookup("fw", "nas", RecordType::A), Answer::Forward);
        assert_eq!(z.lookup("fw", "NAS.", RecordType::AAAA), Answer::Forward);
        assert_eq!(z.lookup_fast(z.placed_view("fw"), b"nas", false, &mut out), None, "to the general path");
        assert_eq!(z.lookup("ca", "nas", RecordType::A), Answer::NxDomain);
        assert_eq!(z.lookup_fast(z.placed_view("ca"), b"nas", false, &mut out), Some(Local::NxDomain));
        // `other` is on net-b only: not seen from net-a, and not asked of anyone.
        assert_eq!(z.lookup("fw", "other", RecordType::A), Answer::NxDomain);
        assert_eq!(z.lookup("fw", "db", RecordType::A), Answer::NxDomain);
        assert_eq!(z.lookup_fast(z.placed_view("fw"), b"db", false, &mut out), Some(Local::NxDomain));
        assert_eq!(z.lookup("fw", "redis", RecordType::A), Answer::Addrs(vec![ip("172.18.0.2")]));
        assert_eq!(z.lookup("fwi", "nas", RecordType::A), Answer::Refused, "internal: nothing leaves");
    }

    #[test]
    fn subnets() {
        assert!(in_subnet(ip("172.18.3.4"), (ip("172.18.0.0"), 16)));
        assert!(!in_subnet(ip("172.19.0.1"), (ip("172.18.0.0"), 16)));
        assert!(in_subnet(ip("1.2.3.4"), (ip("0.0.0.0"), 0)));
        assert!(in_subnet(ip("10.0.0.1"), (ip("10.0.0.1"), 32)));
        assert!(!in_subnet(ip("fd00::1"), (ip("172.18.0.0"), 16)), "families differ");
        assert!(in_subnet(ip("fd00:19::7"), (ip("fd00:19::"), 64)));
        assert!(!in_subnet(ip("fd00:1a::7"), (ip("fd00:19::"), 64)));
        assert!(!in_subnet(ip("10.0.0.1"), (ip("10.0.0.0"), 33)), "a bad prefix holds nothing");
    }

    #[test]
    fn reverse_names() {
        assert_eq!(parse_reverse("4.3.2.1.in-addr.arpa"), Some(ip("1.2.3.4")));
        assert_eq!(parse_reverse("3.2.1.in-addr.arpa"), None);
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa";
        assert_eq!(parse_reverse(v6), Some(ip("fd00::1")));
    }
}
