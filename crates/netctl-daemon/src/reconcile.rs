//! At start, make the kernel match the stored state: every network's bridge
//! exists with its addresses and up; bridges we marked that no network claims go.

use std::collections::HashSet;

use netctl_kernel::BridgeSpec;

use crate::daemon::Daemon;
use crate::error::Result;
use crate::networks::bridge_addresses;

impl Daemon {
    pub async fn reconcile(&self) -> Result<()> {
        self.ensure_default_network().await?;
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
