//! What the resolver's fuzz targets share: a zone built once, with every kind of
//! asker (plain, on two networks, internal-only, with link aliases, unknown), and
//! the invariants an answer must hold whatever the packet was.

use std::net::IpAddr;
use std::sync::OnceLock;

use hickory_proto::op::Message;
use netctl_dns::zone::{EndpointNames, View, Zone, ZoneBuilder};

/// The askers: on `net`; on `net` and `other`; on the internal `priv` only; on
/// `net` with a link alias; one the zone does not know; and one on `net` whose
/// single labels no container holds go upstream (`dns.forward_single_label`).
pub const ASKERS: [&str; 6] = ["plain", "both", "internal", "linker", "stranger", "lan"];

/// The subnets of the zone's networks, as the daemon gives them.
pub const SUBNETS: [(&str, u8); 4] = [("10.0.0.0", 24), ("10.1.0.0", 24), ("fd00:1::", 64), ("10.2.0.0", 24)];

fn ip(s: &str) -> IpAddr {
    s.parse().expect("valid address")
}

pub fn zone() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(build)
}

fn build() -> Zone {
    let mut b = ZoneBuilder::default();
    let subnet = |i: usize| [(ip(SUBNETS[i].0), SUBNETS[i].1)];
    b.add_network("n-net", "net", &subnet(0));
    b.add_network("n-other", "other", &[subnet(1)[0], subnet(2)[0]]);
    b.add_network("n-priv", "priv", &subnet(3));
    let mut add = |net: &str, netname: &str, name: &str, aliases: &[String], addrs: &[IpAddr]| {
        b.add_endpoint(&EndpointNames {
            network_id: net,
            network_name: netname,
            container_name: name,
            short_id: name,
            hostname: name,
            aliases,
            addresses: addrs,
        });
    };
    add("n-net", "net", "redis", &[], &[ip("10.0.0.2"), ip("fd00::2")]);
    add("n-net", "net", "Web", &["www".into()], &[ip("10.0.0.3")]);
    // One alias with 40 holders (the general path, truncation) and one with 16
    // holders of a long name (the fast path's limit, truncation there).
    for i in 0..40 {
        add("n-net", "net", &format!("b{i}"), &["big".into()], &[ip(&format!("10.0.0.{}", 10 + i))]);
    }
    let long = [format!("web-{}", "x".repeat(56))];
    for i in 0..16 {
        add("n-net", "net", &format!("l{i}"), &long, &[ip(&format!("fd00::{:x}", 0x100 + i))]);
    }
    add("n-other", "other", "db", &["redis".into()], &[ip("10.1.0.2"), ip("fd00:1::2")]);
    add("n-priv", "priv", "secret", &[], &[ip("10.2.0.2")]);
    let view =
        |nets: &[&str]| View { networks: nets.iter().map(|n| n.to_string()).collect(), ..Default::default() };
    b.add_view("plain", view(&["n-net"]));
    b.add_view("both", view(&["n-net", "n-other"]));
    b.add_view("internal", View { internal_only: true, ..view(&["n-priv"]) });
    let links = [("cache".to_string(), vec![ip("10.0.0.2")])].into_iter().collect();
    b.add_view("linker", View { links, ..view(&["n-net"]) });
    b.add_view("lan", View { forward_single_label: true, ..view(&["n-net"]) });
    b.build()
}

/// What the client may take over UDP: 512, or its EDNS size if larger.
pub fn udp_limit(req: &Message) -> usize {
    (req.max_payload() as usize).max(512)
}

/// The address a reverse name stands for, if it is a whole one (as the zone reads them).
fn reverse_addr(name: &str) -> Option<IpAddr> {
    let mut name = hickory_proto::rr::Name::from_ascii(name).ok()?;
    name.set_fqdn(true);
    let net = name.parse_arpa_name().ok()?;
    (net.prefix_len() == net.max_prefix_len()).then(|| net.addr())
}

fn in_subnet(a: IpAddr, (net, prefix): (&str, u8)) -> bool {
    match (a, ip(net)) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) ^ u32::from(n)) >> (32 - prefix) == 0,
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a) ^ u128::from(n)) >> (128 - prefix) == 0,
        _ => false,
    }
}

/// Whether `host` (lowercase) is a name of a container on network `net` in `zone()`.
fn held_on(host: &str, net: &str) -> bool {
    let numbered = |prefix: &str, n: u32| (0..n).any(|i| host == format!("{prefix}{i}"));
    match net {
        "net" => {
            ["redis", "web", "www", "big"].contains(&host)
                || host == format!("web-{}", "x".repeat(56))
                || numbered("b", 40)
                || numbered("l", 16)
        }
        "other" => host == "db" || host == "redis",
        "priv" => host == "secret",
        _ => false,
    }
}

/// A question the general path wants to forward must not give away anything of
/// ours: no single label (but those no container holds, for `lan`), no
/// internal-only asker, no `<container>.<network>` of ours, no reverse name of an
/// address of ours.
pub fn check_forwardable(asker: &str, req: &Message) {
    assert!(asker != "internal" && asker != "stranger", "{asker} may not forward");
    let q = &req.queries[0];
    let name = q.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
    if asker == "lan" {
        let held = ["net", "other", "priv"].iter().any(|net| held_on(&name, net));
        assert!(name.contains('.') || !held, "a container's name is forwarded: {name:?}");
    } else {
        assert!(name.contains('.'), "a single label is forwarded: {name:?}");
    }
    if let Some((host, net)) = name.split_once('.') {
        assert!(!held_on(host, net), "a container's name.network is forwarded: {name:?}");
    }
    if let Some(addr) = reverse_addr(&name) {
        assert!(
            !SUBNETS.iter().any(|s| in_subnet(addr, *s)),
            "a reverse name of ours is forwarded: {name:?}"
        );
    }
}
