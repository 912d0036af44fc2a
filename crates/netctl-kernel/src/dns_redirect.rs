//! Inside a container's namespace, 127.0.0.11:53 is redirected to the ports the
//! daemon's resolver bound there, as Docker does: the container keeps port 53 free
//! for its own servers. Unlike Docker's DNAT, the rewrite is stateless: every packet
//! of a query and of its answer goes through the `output` hook (it is all loopback),
//! so rewriting the port both ways there, untracked, does what DNAT+SNAT did without
//! a conntrack entry and NAT lookup per query. One nftables table of our own per
//! namespace.

use std::os::fd::AsFd;

use crate::error::{KernelError, Result};
use crate::netns::run_in_netns;
use crate::nft_netlink::{Batch, Expr};

pub const DNS_TABLE: &str = "netctl_dns";
pub const RESOLVER_IP: &str = "127.0.0.11";

/// The rules, in nft's words (what `nft list table ip netctl_dns` shows):
///   ip daddr 127.0.0.11 udp dport 53 notrack udp dport set UDP_PORT
///   ip daddr 127.0.0.11 tcp dport 53 notrack tcp dport set TCP_PORT
///   ip saddr 127.0.0.11 udp sport UDP_PORT notrack udp sport set 53
///   ip saddr 127.0.0.11 tcp sport TCP_PORT notrack tcp sport set 53
/// in a filter chain `output` on the output hook at raw priority (-300), so that
/// conntrack never sees these packets.
fn rules(udp_port: u16, tcp_port: u16) -> Vec<Vec<Expr>> {
    let resolver = [127, 0, 0, 11].to_vec();
    let rule = |addr_offset: u32, proto: u8, port_offset: u32, from: u16, to: u16| {
        let csum_offset = if proto == libc::IPPROTO_UDP as u8 { 6 } else { 16 };
        vec![
            Expr::Load { transport: false, offset: addr_offset, len: 4 },
            Expr::Equals(resolver.clone()),
            Expr::L4Proto,
            Expr::Equals(vec![proto]),
            Expr::Load { transport: true, offset: port_offset, len: 2 },
            Expr::Equals(from.to_be_bytes().to_vec()),
            Expr::Notrack,
            Expr::Immediate(to.to_be_bytes().to_vec()),
            Expr::StoreTransport { offset: port_offset, len: 2, csum_offset },
        ]
    };
    let (udp, tcp) = (libc::IPPROTO_UDP as u8, libc::IPPROTO_TCP as u8);
    // daddr is at 16 in the IPv4 header, saddr at 12; dport at 2 of the L4 header, sport at 0.
    vec![
        rule(16, udp, 2, 53, udp_port),
        rule(16, tcp, 2, 53, tcp_port),
        rule(12, udp, 0, udp_port, 53),
        rule(12, tcp, 0, tcp_port, 53),
    ]
}

fn table(replace: bool, udp_port: u16, tcp_port: u16) -> Batch {
    let mut b = Batch::new(DNS_TABLE);
    if replace {
        // Deleting waits an RCU grace period (~15 ms): only a restart re-pointing
        // an existing table pays it.
        b.add_table(false);
        b.delete_table();
    }
    b.add_table(true);
    b.add_output_chain("output", -300);
    for r in rules(udp_port, tcp_port) {
        b.add_rule("output", &r);
    }
    b
}

fn op(what: &str, e: std::io::Error) -> KernelError {
    KernelError::io(format!("{what} nftables table ip {DNS_TABLE} in the container's namespace"), e)
}

/// Sends 127.0.0.11:53 to the resolver's ports inside the namespace `ns`.
pub fn install_dns_redirect(ns: &impl AsFd, udp_port: u16, tcp_port: u16) -> Result<()> {
    run_in_netns(ns, move || match table(false, udp_port, tcp_port).commit() {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            table(true, udp_port, tcp_port).commit().map_err(|e| op("replace", e))
        }
        other => other.map_err(|e| op("create", e)),
    })
}

/// Creates the redirect to these ports unless the namespace has a table of ours
/// already, which is left as it is (true then). For a restart that kept its
/// sockets' ports: no table replaced, no RCU grace period waited.
/// Asked first with a get: a `create` that fails on an existing table would be
/// aborted, and an abort waits an RCU grace period too.
pub fn ensure_dns_redirect(ns: &impl AsFd, udp_port: u16, tcp_port: u16) -> Result<bool> {
    run_in_netns(ns, move || {
        if Batch::table_exists(DNS_TABLE).map_err(|e| op("look up", e))? {
            return Ok(true);
        }
        match table(false, udp_port, tcp_port).commit() {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(true),
            other => other.map(|_| false).map_err(|e| op("create", e)),
        }
    })
}

pub fn remove_dns_redirect(ns: &impl AsFd) -> Result<()> {
    run_in_netns(ns, || {
        let mut b = Batch::new(DNS_TABLE);
        b.delete_table();
        match b.commit() {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            other => other.map_err(|e| op("remove", e)),
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn rules_rewrite_both_ways() {
        let r = super::rules(40001, 40002);
        assert_eq!(r.len(), 4);
        assert!(r.iter().all(|rule| rule.len() == 9));
    }
}
