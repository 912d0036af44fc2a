//! The whole `inet netctl` table, rendered from what networks and published ports
//! need. Rules are per network and per published port, never per container, so
//! their number does not grow with the containers on a network.
//!
//! What gets into a bridge from outside it, as Docker 28 has it: replies
//! (established/related) and DNATed published ports, nothing else; a host that
//! routes a network's subnet through this one reaches no unpublished port.
//! Internal networks reach neither the outside (forward) nor the host (input).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnetwork::IpNetwork;
use nftables::batch::Batch;
use nftables::expr::{
    CTFamily, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload, PayloadField,
    Prefix, SetItem, CT,
};
use nftables::schema::{Chain, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{Match, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use super::spec::{FirewallSpec, PublishedPort};
use crate::PORT_GROUP;

pub const TABLE: &str = "netctl";
const FAMILY: NfFamily = NfFamily::INet;

/// Replaces the table in one transaction: create (so delete cannot fail), delete,
/// then the new contents. Traffic never sees a half-written table.
pub fn render(spec: &FirewallSpec) -> Nftables<'static> {
    let mut b = Batch::new();
    b.add(table());
    b.delete(table());
    b.add(table());
    bridge_table(&mut b, spec);
    for (name, hook, prio, kind) in [
        ("input", NfHook::Input, 0, NfChainType::Filter),
        ("forward", NfHook::Forward, 0, NfChainType::Filter),
        ("prerouting", NfHook::Prerouting, -100, NfChainType::NAT),
        ("output", NfHook::Output, -100, NfChainType::NAT),
        ("postrouting", NfHook::Postrouting, 100, NfChainType::NAT),
    ] {
        b.add(NfListObject::Chain(Chain {
            family: FAMILY,
            table: TABLE.into(),
            name: name.into(),
            _type: Some(kind),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some(NfChainPolicy::Accept),
            ..Chain::default()
        }));
    }
    b.add(NfListObject::Chain(Chain {
        family: FAMILY,
        table: TABLE.into(),
        name: "published".into(),
        ..Chain::default()
    }));
    for r in input_rules(spec) {
        b.add(rule("input", r));
    }
    for r in forward_rules(spec) {
        b.add(rule("forward", r));
    }
    // Traffic for one of the host's own addresses, from outside or from a container
    // (hairpin); loopback is left to the daemon's proxy, as Docker leaves it to
    // docker-proxy, because DNAT of 127.0.0.1 needs route_localnet.
    b.add(rule("prerouting", vec![local_daddr(), jump("published")]));
    b.add(rule(
        "output",
        vec![
            matches(payload("ip", "daddr"), Operator::NEQ, prefix(Ipv4Addr::new(127, 0, 0, 0).into(), 8)),
            local_daddr(),
            jump("published"),
        ],
    ));
    if spec.networks.iter().any(|n| n.subnets.iter().any(IpNetwork::is_ipv6)) {
        b.add(rule(
            "output",
            vec![
                matches(
                    payload("ip6", "daddr"),
                    Operator::NEQ,
                    Expression::String(Ipv6Addr::LOCALHOST.to_string().into()),
                ),
                local_daddr(),
                jump("published"),
            ],
        ));
    }
    for p in &spec.ports {
        b.add(rule("published", published_rule(p)));
    }
    for r in postrouting_rules(spec) {
        b.add(rule("postrouting", r));
    }
    b.to_nftables()
}

/// Deletes the tables (creating them first, so a missing table is no error).
pub fn render_removal() -> Nftables<'static> {
    let mut b = Batch::new();
    b.add(table());
    b.delete(table());
    b.add(table_of(NfFamily::Bridge));
    b.delete(table_of(NfFamily::Bridge));
    b.to_nftables()
}

/// `table bridge netctl`: MLD reports and dones that containers send are dropped
/// as they enter a bridge from a port of netctl's (link group [`PORT_GROUP`], set
/// when the veth is made; `meta ibrname` would name the bridges, but kernels
/// without nft_meta_bridge refuse it). A bridge without a multicast querier
/// (netctl's have none, and their snooping is off) floods them to every port, so
/// each dual-stack join cost every container of the network a few packets to
/// receive and discard, and joins grew slower with the network (docs/decisions.md,
/// "Dual stack"). Nothing on the bridge listens to them: the bridge floods
/// multicast either way, and the host routes no multicast to containers.
fn bridge_table(b: &mut Batch<'static>, spec: &FirewallSpec) {
    b.add(table_of(NfFamily::Bridge));
    b.delete(table_of(NfFamily::Bridge));
    b.add(table_of(NfFamily::Bridge));
    b.add(NfListObject::Chain(Chain {
        family: NfFamily::Bridge,
        table: TABLE.into(),
        name: "prerouting".into(),
        _type: Some(NfChainType::Filter),
        hook: Some(NfHook::Prerouting),
        prio: Some(0),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    }));
    if !spec.networks.iter().any(|n| n.subnets.iter().any(IpNetwork::is_ipv6)) {
        return;
    }
    let mld = ["mld-listener-report", "mld-listener-done", "mld2-listener-report"];
    b.add(NfListObject::Rule(Rule {
        family: NfFamily::Bridge,
        table: TABLE.into(),
        chain: "prerouting".into(),
        expr: Cow::Owned(vec![
            matches(meta(MetaKey::Iifgroup), Operator::EQ, Expression::Number(PORT_GROUP)),
            matches(payload("icmpv6", "type"), Operator::EQ, set_of(&mld)),
            drop(),
        ]),
        ..Rule::default()
    }));
}

/// Internal networks reach nothing beyond their bridge, the host's own addresses
/// (the gateway's included) neither; replies to what the host itself opened still
/// come back. The resolver lives in each container's own namespace, so names work.
fn input_rules(spec: &FirewallSpec) -> Vec<Vec<Statement<'static>>> {
    let internal: Vec<&str> =
        spec.networks.iter().filter(|n| n.internal).map(|n| n.bridge.as_str()).collect();
    if internal.is_empty() {
        return Vec::new();
    }
    let mut rules = vec![vec![established_or_related(), accept()]];
    for bridge in internal {
        rules.push(vec![ifname(MetaKey::Iifname, bridge, true), drop()]);
    }
    rules
}

fn forward_rules(spec: &FirewallSpec) -> Vec<Vec<Statement<'static>>> {
    let mut rules = Vec::new();
    for n in spec.networks.iter().filter(|n| n.internal) {
        rules.push(vec![
            ifname(MetaKey::Iifname, &n.bridge, true),
            ifname(MetaKey::Oifname, &n.bridge, false),
            drop(),
        ]);
        rules.push(vec![
            ifname(MetaKey::Oifname, &n.bridge, true),
            ifname(MetaKey::Iifname, &n.bridge, false),
            drop(),
        ]);
    }
    for n in spec.networks.iter().filter(|n| !n.icc) {
        rules.push(vec![
            ifname(MetaKey::Iifname, &n.bridge, true),
            ifname(MetaKey::Oifname, &n.bridge, true),
            drop(),
        ]);
    }
    // Published ports are meant to be reached from anywhere, other networks included.
    rules.push(vec![matches(ct("status"), Operator::IN, Expression::String("dnat".into())), accept()]);
    let bridges: Vec<&str> = spec.networks.iter().map(|n| n.bridge.as_str()).collect();
    if bridges.len() > 1 {
        for n in &spec.networks {
            rules.push(vec![
                ifname(MetaKey::Iifname, &n.bridge, true),
                ifname(MetaKey::Oifname, &n.bridge, false),
                matches(meta(MetaKey::Oifname), Operator::EQ, set_of(&bridges)),
                drop(),
            ]);
        }
    }
    // From anywhere else into a bridge: replies to what its containers opened, and
    // (above) published ports. A route to the subnet through this host is not a
    // way in, as in Docker 28: unpublished ports and pings are dropped.
    let open: Vec<&str> = spec.networks.iter().filter(|n| !n.internal).map(|n| n.bridge.as_str()).collect();
    if !open.is_empty() {
        rules.push(vec![established_or_related(), accept()]);
        for bridge in open {
            rules.push(vec![
                ifname(MetaKey::Oifname, bridge, true),
                ifname(MetaKey::Iifname, bridge, false),
                drop(),
            ]);
        }
    }
    rules
}

fn postrouting_rules(spec: &FirewallSpec) -> Vec<Vec<Statement<'static>>> {
    let mut rules = Vec::new();
    for n in spec.networks.iter().filter(|n| n.masquerade && !n.internal) {
        for s in &n.subnets {
            rules.push(vec![saddr(*s), ifname(MetaKey::Oifname, &n.bridge, false), masquerade()]);
        }
    }
    rules
}

fn published_rule(p: &PublishedPort) -> Vec<Statement<'static>> {
    let mut r = vec![ifname(MetaKey::Iifname, &p.bridge, false)];
    let (l3, family) = match p.container_ip {
        IpAddr::V4(_) => ("ip", nftables::stmt::NATFamily::IP),
        IpAddr::V6(_) => ("ip6", nftables::stmt::NATFamily::IP6),
    };
    match p.host_ip.filter(|ip| !ip.is_unspecified()) {
        Some(ip) => {
            r.push(matches(payload(l3, "daddr"), Operator::EQ, Expression::String(ip.to_string().into())))
        }
        // An IPv6 rule says so; IPv4 rules are as they were (a `dnat ip` never
        // applies to an IPv6 packet in an inet table).
        None if l3 == "ip6" => {
            r.push(matches(meta(MetaKey::Nfproto), Operator::EQ, Expression::String("ipv6".into())))
        }
        None => {}
    }
    r.push(matches(payload(p.proto.as_str(), "dport"), Operator::EQ, Expression::Number(p.host_port.into())));
    r.push(Statement::DNAT(Some(NAT {
        addr: Some(Expression::String(p.container_ip.to_string().into())),
        family: Some(family),
        port: Some(Expression::Number(p.container_port.into())),
        flags: None,
    })));
    r
}

fn table() -> NfListObject<'static> {
    table_of(FAMILY)
}

fn table_of(family: NfFamily) -> NfListObject<'static> {
    NfListObject::Table(Table { family, name: TABLE.into(), handle: None })
}

fn rule(chain: &str, expr: Vec<Statement<'static>>) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family: FAMILY,
        table: TABLE.into(),
        chain: Cow::Owned(chain.to_string()),
        expr: Cow::Owned(expr),
        ..Rule::default()
    })
}

fn matches(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn ifname(key: MetaKey, name: &str, equal: bool) -> Statement<'static> {
    let op = if equal { Operator::EQ } else { Operator::NEQ };
    matches(meta(key), op, Expression::String(name.to_string().into()))
}

fn set_of(names: &[&str]) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(
        names.iter().map(|n| SetItem::Element(Expression::String(n.to_string().into()))).collect(),
    ))
}

fn payload(protocol: &str, field: &str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: protocol.to_string().into(),
        field: field.to_string().into(),
    })))
}

fn prefix(addr: IpAddr, len: u32) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(Expression::String(addr.to_string().into())),
        len,
    }))
}

fn saddr(s: IpNetwork) -> Statement<'static> {
    let l3 = if s.is_ipv4() { "ip" } else { "ip6" };
    matches(payload(l3, "saddr"), Operator::EQ, prefix(s.network(), s.prefix().into()))
}

fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT { key: key.into(), family: None::<CTFamily>, dir: None }))
}

fn established_or_related() -> Statement<'static> {
    matches(
        ct("state"),
        Operator::IN,
        Expression::List(vec![
            Expression::String("established".into()),
            Expression::String("related".into()),
        ]),
    )
}

fn local_daddr() -> Statement<'static> {
    matches(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags: [FibFlag::Daddr].into_iter().collect(),
        })),
        Operator::EQ,
        Expression::String("local".into()),
    )
}

fn jump(target: &str) -> Statement<'static> {
    Statement::Jump(nftables::stmt::JumpTarget { target: target.to_string().into() })
}

fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

fn drop() -> Statement<'static> {
    Statement::Drop(None)
}

fn masquerade() -> Statement<'static> {
    Statement::Masquerade(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::spec::NetworkRules;
    use netctl_model::ports::Protocol;

    fn spec() -> FirewallSpec {
        FirewallSpec {
            networks: vec![
                NetworkRules {
                    bridge: "netctl0".into(),
                    subnets: vec!["172.17.0.0/16".parse().unwrap()],
                    internal: false,
                    icc: true,
                    masquerade: true,
                },
                NetworkRules {
                    bridge: "br-aaaa".into(),
                    subnets: vec!["172.18.0.0/16".parse().unwrap()],
                    internal: true,
                    icc: false,
                    masquerade: true,
                },
            ],
            ports: vec![PublishedPort {
                proto: Protocol::Tcp,
                host_ip: None,
                host_port: 3000,
                container_ip: "172.17.0.2".parse().unwrap(),
                container_port: 3000,
                bridge: "netctl0".into(),
            }],
        }
    }

    #[test]
    fn renders_what_each_option_asks_for() {
        let json = serde_json::to_string(&render(&spec())).unwrap();
        // masquerade only for the non-internal network
        assert_eq!(json.matches("masquerade").count(), 1, "{json}");
        assert!(json.contains(r#""dnat":{"addr":"172.17.0.2","family":"ip","port":3000}"#), "{json}");
        assert!(json.contains(r#"{"set":["netctl0","br-aaaa"]}"#), "{json}");
        // one delete per table (inet and bridge), before everything that is added
        assert_eq!(json.matches(r#"{"delete""#).count(), 2);
    }

    #[test]
    fn mld_from_containers_is_dropped_at_the_bridges_once_a_network_has_ipv6() {
        let mut s = spec();
        let json = serde_json::to_string(&render(&s)).unwrap();
        assert!(!json.contains("mld"), "no IPv6 network, no rule: {json}");
        s.networks[1].subnets.push("fd00:2::/64".parse().unwrap());
        let json = serde_json::to_string(&render(&s)).unwrap();
        assert!(json.contains(r#""family":"bridge","table":"netctl","chain":"prerouting""#), "{json}");
        assert!(
            json.contains(r#"{"match":{"left":{"meta":{"key":"iifgroup"}},"right":28259,"op":"=="}}"#),
            "{json}"
        );
        assert!(
            json.contains(r#"["mld-listener-report","mld-listener-done","mld2-listener-report"]"#),
            "{json}"
        );
    }

    #[test]
    fn one_network_has_nothing_to_isolate_from() {
        let mut s = spec();
        s.networks.truncate(1);
        let json = serde_json::to_string(&render(&s)).unwrap();
        assert!(!json.contains(r#""set""#), "{json}");
    }

    /// The rules of one chain, as compact JSON each, in order.
    fn chain_rules(spec: &FirewallSpec, chain: &str) -> Vec<String> {
        let doc = serde_json::to_value(render(spec)).unwrap();
        doc["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o.get("add").and_then(|a| a.get("rule")))
            .filter(|r| r["chain"] == chain)
            .map(|r| r["expr"].to_string())
            .collect()
    }

    #[test]
    fn only_replies_and_published_ports_get_into_a_bridge_from_outside() {
        let forward = chain_rules(&spec(), "forward");
        let dnat = forward.iter().position(|r| r.contains(r#""dnat""#)).unwrap();
        let replies = forward.iter().position(|r| r.contains(r#""established""#)).unwrap();
        let closed = forward
            .iter()
            .position(|r| {
                r.starts_with(r#"[{"match":{"left":{"meta":{"key":"oifname"}},"op":"==","right":"netctl0"}}"#)
            })
            .unwrap();
        assert!(dnat < replies && replies < closed, "{forward:#?}");
        assert!(forward[closed].contains(r#""drop""#), "{}", forward[closed]);
        // The internal network has its own, stricter rule of that shape, placed
        // before the replies' accept; it gets no second one.
        let into_internal = r#"[{"match":{"left":{"meta":{"key":"oifname"}},"op":"==","right":"br-aaaa"}}"#;
        let internal: Vec<usize> =
            (0..forward.len()).filter(|&i| forward[i].starts_with(into_internal)).collect();
        assert_eq!(internal.len(), 1, "{forward:#?}");
        assert!(internal[0] < replies);
    }

    #[test]
    fn internal_networks_do_not_reach_the_host() {
        let input = chain_rules(&spec(), "input");
        assert_eq!(input.len(), 2, "{input:#?}");
        assert!(input[0].contains(r#""established""#) && input[0].contains(r#""accept""#), "{}", input[0]);
        assert!(input[1].contains(r#""right":"br-aaaa""#) && input[1].contains(r#""drop""#), "{}", input[1]);
        let mut s = spec();
        s.networks.retain(|n| !n.internal);
        assert!(chain_rules(&s, "input").is_empty());
    }
}
