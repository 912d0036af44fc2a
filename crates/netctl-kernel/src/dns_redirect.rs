//! Inside a container's namespace, 127.0.0.11:53 is redirected to the ports the
//! daemon's resolver bound there, as Docker does: the container keeps port 53 free
//! for its own servers. Unlike Docker's DNAT, the rewrite is stateless: every packet
//! of a query and of its answer goes through the `output` hook (it is all loopback),
//! so rewriting the port both ways there, untracked, does what DNAT+SNAT did without
//! a conntrack entry and NAT lookup per query. One nftables table of our own per
//! namespace.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::sched::{setns, CloneFlags};

use crate::error::{KernelError, Result};

pub const DNS_TABLE: &str = "netctl_dns";
pub const RESOLVER_IP: &str = "127.0.0.11";

/// The table's contents, after `prefix`: `create table` for a namespace that has
/// none yet, or a replacement (`table`+`delete table`) of an existing one. Deleting a
/// table waits for an RCU grace period (~15 ms), so only restarts pay for it.
fn ruleset(prefix: &str, udp_port: u16, tcp_port: u16) -> String {
    format!(
        "{prefix}
table ip {DNS_TABLE} {{
  chain output {{
    type filter hook output priority raw; policy accept;
    ip daddr {RESOLVER_IP} udp dport 53 notrack udp dport set {udp_port}
    ip daddr {RESOLVER_IP} tcp dport 53 notrack tcp dport set {tcp_port}
    ip saddr {RESOLVER_IP} udp sport {udp_port} notrack udp sport set 53
    ip saddr {RESOLVER_IP} tcp sport {tcp_port} notrack tcp sport set 53
  }}
}}
"
    )
}

/// Runs `nft -f -` with `script` inside the namespace `ns`.
fn nft_in(ns: &impl AsFd, script: &str) -> Result<()> {
    let fd = ns.as_fd().try_clone_to_owned().map_err(|e| KernelError::io("dup netns fd", e))?;
    let mut cmd = Command::new("nft");
    cmd.args(["-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    unsafe {
        cmd.pre_exec(move || setns(&fd, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from));
    }
    let mut child =
        cmd.spawn().map_err(|e| KernelError::io("run nft (is the nftables package installed?)", e))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .map_err(|e| KernelError::io("write to nft", e))?;
    let out = child.wait_with_output().map_err(|e| KernelError::io("wait for nft", e))?;
    if !out.status.success() {
        return Err(KernelError::Other {
            op: "nft in container namespace".into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

pub fn install_dns_redirect(ns: &impl AsFd, udp_port: u16, tcp_port: u16) -> Result<()> {
    let create = format!("create table ip {DNS_TABLE}");
    if nft_in(ns, &ruleset(&create, udp_port, tcp_port)).is_ok() {
        return Ok(());
    }
    let replace = format!("table ip {DNS_TABLE}\ndelete table ip {DNS_TABLE}");
    nft_in(ns, &ruleset(&replace, udp_port, tcp_port))
}

pub fn remove_dns_redirect(ns: &impl AsFd) -> Result<()> {
    nft_in(ns, &format!("table ip {DNS_TABLE}\ndelete table ip {DNS_TABLE}\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ruleset_names_both_ports() {
        let r = super::ruleset("", 40001, 40002);
        assert!(r.contains("udp dport 53 notrack udp dport set 40001"));
        assert!(r.contains("tcp sport 40002 notrack tcp sport set 53"));
    }
}
