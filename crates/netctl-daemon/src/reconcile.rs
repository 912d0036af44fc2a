//! At start, make the kernel match the stored state: every network's bridge
//! exists with its addresses and up; bridges we marked that no network claims go.

use std::collections::HashSet;

use netctl_kernel::BridgeSpec;

use crate::daemon::Daemon;
use crate::endpoints::VETH_MARKER_PREFIX;
use crate::error::Result;
use crate::networks::bridge_addresses;

impl Daemon {
    pub async fn reconcile(&self) -> Result<()> {
        self.ensure_default_network().await?;
        // Containers whose process ended or whose namespace vanished while we were away.
        self.check_containers().await;
        let registry = self.registry.lock().await;
        for net in registry.networks() {
            if let Some(link) = self.netlink.link_by_name(&net.bridge).await? {
                if link.kind.as_deref() != Some("bridge") {
                    tracing::error!(network = %net.name, device = %net.bridge, kind = ?link.kind,
                        "a device that is not a bridge has taken this network's bridge name; the network is unusable until it is removed");
                    continue;
                }
            }
            let addresses = bridge_addresses(net);
            let spec =
                BridgeSpec { name: &net.bridge, mtu: net.mtu, addresses: &addresses, network_id: &net.id };
            match self.netlink.ensure_bridge(&spec).await {
                Ok(repair) if repair.is_noop() => {}
                Ok(repair) => {
                    tracing::info!(network = %net.name, bridge = %net.bridge, ?repair, "bridge repaired")
                }
                Err(e) => {
                    tracing::error!(network = %net.name, bridge = %net.bridge, error = %e, "cannot restore bridge")
                }
            }
        }
        let endpoints: HashSet<&str> =
            registry.containers().flat_map(|c| c.endpoints.iter().map(|e| e.id.as_str())).collect();
        for link in self.netlink.links().await? {
            let Some(ep) = link.alias.as_deref().and_then(|a| a.strip_prefix(VETH_MARKER_PREFIX)) else {
                continue;
            };
            if !endpoints.contains(ep) {
                match self.netlink.delete_link(&link.name).await {
                    Ok(_) => {
                        tracing::info!(veth = %link.name, "removed a veth of an endpoint that no longer exists")
                    }
                    Err(e) => tracing::error!(veth = %link.name, error = %e, "cannot remove leftover veth"),
                }
            }
        }
        // Every container's resolver is back (its namespace's DNAT re-pointed at the
        // new ports) and its files current before we report ready.
        for c in registry.containers() {
            if c.netns_path.as_ref().is_some_and(|p| p.exists()) {
                if let Err(e) = self.sync_listener(&registry, c) {
                    tracing::error!(container = %c.name, error = %e, "cannot restore the resolver listener");
                }
                if let Err(e) = self.persist_container(&registry, c) {
                    tracing::warn!(container = %c.name, error = %e, "cannot rewrite files");
                }
            }
        }
        self.refresh_dns(&registry);
        self.restore_published(&registry);
        // Always written at start: after a reboot or an `nft flush ruleset` the
        // table is gone, and the last applied state is not known.
        if let Err(e) = self.apply_firewall(crate::firewall::firewall_spec(&registry)).await {
            tracing::error!(error = %e, "cannot install the firewall rules");
        }
        let known: HashSet<&str> = registry.networks().map(|n| n.id.as_str()).collect();
        for (device, net_id) in self.netlink.owned_bridges().await? {
            if !known.contains(net_id.as_str()) {
                match self.netlink.delete_link(&device).await {
                    Ok(_) => {
                        tracing::info!(bridge = %device, "removed a bridge of a network that no longer exists")
                    }
                    Err(e) => tracing::error!(bridge = %device, error = %e, "cannot remove leftover bridge"),
                }
            }
        }
        Ok(())
    }
}
