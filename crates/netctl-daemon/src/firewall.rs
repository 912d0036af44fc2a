//! The host's nftables rules, derived whole from the registry: per network
//! (isolation, internal, icc, masquerade) and per published port (DNAT). The table
//! is replaced only when what it should say changed, so containers without
//! published ports never cost an nft run.

use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::IpNetwork;
use netctl_kernel::firewall::{self, FirewallSpec, NetworkRules, PublishedPort};
use netctl_model::container::Container;

use crate::daemon::Daemon;
use crate::error::Result;
use crate::registry::Registry;

impl Daemon {
    /// Brings the table in line with the registry if it changed since the last apply.
    pub(crate) async fn sync_firewall(&self, registry: &Registry) -> Result<()> {
        let spec = firewall_spec(registry);
        if self.firewall_applied.lock().expect("not poisoned").as_ref() == Some(&spec) {
            return Ok(());
        }
        self.apply_firewall(spec).await
    }

    /// Rewrites the table even if nothing changed: after `nft flush ruleset`, say.
    pub async fn reload_firewall(&self) -> Result<()> {
        let registry = self.registry.lock().await;
        self.apply_firewall(firewall_spec(&registry)).await
    }

    pub(crate) async fn apply_firewall(&self, spec: FirewallSpec) -> Result<()> {
        let applied = spec.clone();
        tokio::task::spawn_blocking(move || firewall::apply(&spec))
            .await
            .expect("firewall task does not panic")?;
        tracing::debug!(
            networks = applied.networks.len(),
            ports = applied.ports.len(),
            "firewall rules applied"
        );
        *self.firewall_applied.lock().expect("not poisoned") = Some(applied);
        Ok(())
    }
}

pub(crate) fn firewall_spec(registry: &Registry) -> FirewallSpec {
    let mut networks: Vec<NetworkRules> = registry
        .networks()
        .map(|n| NetworkRules {
            bridge: n.bridge.clone(),
            subnets: n
                .subnets
                .iter()
                .filter_map(|s| match s.subnet {
                    IpNetwork::V4(v4) => Some(v4),
                    IpNetwork::V6(_) => None,
                })
                .collect(),
            internal: n.internal,
            icc: n.enable_icc,
            masquerade: n.enable_ip_masquerade,
        })
        .collect();
    networks.sort_by(|a, b| a.bridge.cmp(&b.bridge));
    let mut ports = Vec::new();
    for c in registry.containers() {
        let Some((ip, bridge)) = publish_target_on(registry, c) else { continue };
        // 127.0.0.1 is served by the relay alone: no DNAT rule can see it.
        for b in c.ports.iter().filter(|b| !b.host_ip.is_some_and(|ip| ip.is_loopback())) {
            ports.push(PublishedPort {
                proto: b.container.proto,
                host_ip: b.host_ip,
                host_port: b.host_port,
                container_ip: ip,
                container_port: b.container.port,
                bridge: bridge.clone(),
            });
        }
    }
    ports.sort_by_key(|p| (p.host_port, p.proto, p.host_ip));
    FirewallSpec { networks, ports }
}

/// The address published ports lead to: the container's IPv4 address on its first
/// network that is not internal (Docker publishes nothing on internal networks).
pub(crate) fn publish_target(registry: &Registry, c: &Container) -> Option<Ipv4Addr> {
    publish_target_on(registry, c).map(|(ip, _)| ip)
}

/// The publish target and the bridge it is on.
fn publish_target_on(registry: &Registry, c: &Container) -> Option<(Ipv4Addr, String)> {
    c.endpoints.iter().find_map(|e| {
        let net = registry.network(&e.network_id).filter(|n| !n.internal)?;
        match e.ipv4.map(|a| a.ip()) {
            Some(IpAddr::V4(ip)) => Some((ip, net.bridge.clone())),
            _ => None,
        }
    })
}
