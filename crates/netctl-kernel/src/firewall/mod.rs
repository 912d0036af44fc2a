//! The host's firewall: nftables tables of netctl's own (`inet netctl` for
//! filtering and NAT, `bridge netctl` for what bridges need not flood), replaced
//! whole in one transaction on every change, written as nft JSON through
//! the `nftables` crate. netctl never lists, flushes or edits anyone else's tables.

mod rules;
mod spec;

pub use rules::TABLE;
pub use spec::{FirewallSpec, NetworkRules, PublishedPort};

use crate::error::{KernelError, Result};

/// Makes netctl's tables say exactly what `spec` asks for. Blocking: runs nft.
pub fn apply(spec: &FirewallSpec) -> Result<()> {
    run(&rules::render(spec), "apply netctl firewall rules")?;
    if spec.networks.iter().any(|n| !n.internal) {
        enable_forwarding("/proc/sys/net/ipv4/ip_forward", "net.ipv4.ip_forward")?;
    }
    if spec.networks.iter().any(|n| !n.internal && n.subnets.iter().any(|s| s.is_ipv6())) {
        enable_forwarding("/proc/sys/net/ipv6/conf/all/forwarding", "net.ipv6.conf.all.forwarding")?;
    }
    Ok(())
}

/// Removes the tables (nothing happens if it is not there).
pub fn remove() -> Result<()> {
    run(&rules::render_removal(), "remove netctl firewall table")
}

/// The rendered JSON, for `--dry-run`-style inspection and tests.
pub fn render_json(spec: &FirewallSpec) -> String {
    serde_json::to_string_pretty(&rules::render(spec)).expect("serializable")
}

fn run(doc: &nftables::schema::Nftables<'_>, op: &str) -> Result<()> {
    nftables::helper::apply_ruleset(doc).map_err(|e| KernelError::Other {
        op: op.into(),
        message: format!("{e} (is the nftables package installed?)"),
    })
}

/// Routing between the bridges and the outside needs forwarding, as Docker turns it
/// on (IPv6 with the first IPv6 network); it is per network namespace, so tests in
/// their own namespace leave the host's alone.
fn enable_forwarding(path: &str, name: &str) -> Result<()> {
    if std::fs::read_to_string(path).map(|v| v.trim() == "1").unwrap_or(false) {
        return Ok(());
    }
    std::fs::write(path, "1").map_err(|e| KernelError::io(format!("enable forwarding ({name})"), e))
}
