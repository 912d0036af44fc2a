//! The host's nftables rules, derived whole from the registry: per network
//! (isolation, internal, icc, masquerade) and per published port (DNAT). The table
//! is replaced only when what it should say changed, so containers without
//! published ports never cost an nft run.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
            subnets: n.subnets.iter().map(|s| s.subnet).collect(),
            internal: n.internal,
            icc: n.enable_icc,
            masquerade: n.enable_ip_masquerade,
        })
        .collect();
    networks.sort_by(|a, b| a.bridge.cmp(&b.bridge));
    let mut ports = Vec::new();
    for c in registry.containers() {
        let Some(target) = publish_target_on(registry, c) else { continue };
        // Loopback (127.0.0.1, ::1) is served by the relay alone: no DNAT rule sees it.
        for b in c.ports.iter().filter(|b| !b.host_ip.is_some_and(|ip| ip.is_loopback())) {
            // A rule per family the binding listens on and the container has an
            // address of; the relay serves the other (IPv6 host port, IPv4-only container).
            for ip in [target.v4.map(IpAddr::V4), target.v6.map(IpAddr::V6)].into_iter().flatten() {
                if b.on_family(ip.is_ipv6()) {
                    ports.push(PublishedPort {
                        proto: b.container.proto,
                        host_ip: b.host_ip,
                        host_port: b.host_port,
                        container_ip: ip,
                        container_port: b.container.port,
                        bridge: target.bridge.clone(),
                    });
                }
            }
        }
    }
    ports.sort_by_key(|p| (p.host_port, p.proto, p.container_ip.is_ipv6(), p.host_ip));
    FirewallSpec { networks, ports }
}

/// Where a container's published ports lead: its addresses on its first network
/// that is not internal (Docker publishes nothing on internal networks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PublishTarget {
    pub v4: Option<Ipv4Addr>,
    pub v6: Option<Ipv6Addr>,
}

pub(crate) fn publish_target(registry: &Registry, c: &Container) -> PublishTarget {
    publish_target_on(registry, c).map(|t| PublishTarget { v4: t.v4, v6: t.v6 }).unwrap_or_default()
}

struct TargetOn {
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
    bridge: String,
}

fn publish_target_on(registry: &Registry, c: &Container) -> Option<TargetOn> {
    c.endpoints.iter().find_map(|e| {
        let net = registry.network(&e.network_id).filter(|n| !n.internal)?;
        let v4 = match e.ipv4.map(|a| a.ip()) {
            Some(IpAddr::V4(ip)) => Some(ip),
            _ => None,
        };
        let v6 = match e.ipv6.map(|a| a.ip()) {
            Some(IpAddr::V6(ip)) => Some(ip),
            _ => None,
        };
        (v4.is_some() || v6.is_some()).then(|| TargetOn { v4, v6, bridge: net.bridge.clone() })
    })
}
