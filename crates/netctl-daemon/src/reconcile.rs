//! At start, make the kernel match the stored state: every network's bridge
//! exists with its addresses and up; bridges we marked that no network claims go.

use std::collections::HashSet;

use netctl_kernel::BridgeSpec;
use netctl_model::container::Container;

use crate::daemon::Daemon;
use crate::endpoints::VETH_MARKER_PREFIX;
use crate::error::Result;
use crate::networks::bridge_addresses;

impl Daemon {
    pub async fn reconcile(&self) -> Result<()> {
        self.ensure_default_network().await?;
        self.settle_intents().await?;
        // Containers whose process ended or whose namespace vanished while we were away.
        self.check_containers().await;
        let registry = self.registry.lock().await;
        self.sweep_untracked(&registry).await;
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
                // The record is as loaded (or as settled above): only the files may
                // be behind, e.g. a linked container's address changed meanwhile.
                if let Err(e) = self.write_files(&registry, c) {
                    tracing::warn!(container = %c.name, error = %e, "cannot rewrite files");
                }
            }
        }
        self.restore_overlays(&registry).await;
        self.sweep_vxlans(&registry).await;
        self.refresh_dns(&registry);
        self.restore_published(&registry);
        // Always written at start: after a reboot or an `nft flush ruleset` the
        // table is gone, and the last applied state is not known.
        if let Err(e) = self.apply_firewall(crate::firewall::firewall_spec(&registry)).await {
            tracing::error!(error = %e, "cannot install the firewall rules");
        }
        let known: HashSet<&str> = registry.networks().map(|n| n.id.as_str()).collect();
        for (device, net_id) in self.netlink.owned_bridges().await? {
            // A network's own bridge is never a leftover, whatever id its marker
            // names (the state may have been made anew beside an older bridge).
            if !known.contains(net_id.as_str()) && !registry.networks().any(|n| n.bridge == device) {
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

    /// Settles every change a crash cut short (journal.rs): additions not
    /// committed are undone, removals finished. Runs before anything else looks
    /// at the containers.
    async fn settle_intents(&self) -> Result<()> {
        let mut registry = self.registry.lock().await;
        for intent in self.journal.pending()? {
            let stored = registry.container(intent.id()).cloned();
            let keep = intent.settle(stored.as_ref());
            // Each version that may exist in part gives up what the kept one lacks.
            let versions: Vec<&Container> = [intent.after.as_ref(), stored.as_ref(), intent.before.as_ref()]
                .into_iter()
                .flatten()
                .collect();
            let errors = self.settle_versions(&mut registry, &versions, keep.clone()).await.0;
            if errors.is_empty() {
                tracing::info!(container = %intent.id(), op = %intent.op,
                    outcome = if keep.as_ref().is_some_and(|k| k.generation == intent.generation) { "finished" } else { "undone" },
                    "settled a change cut short by a crash");
                self.journal.end(&intent)?;
            } else {
                tracing::error!(container = %intent.id(), op = %intent.op, ?errors,
                    "cannot settle a change cut short by a crash; retried at the next start");
            }
        }
        Ok(())
    }

    /// Processes and files of containers no record names: never left running
    /// or lying around, whatever cut their change short.
    async fn sweep_untracked(&self, registry: &crate::registry::Registry) {
        for id in self.cgroups.list() {
            if registry.container(&id).is_some() {
                continue;
            }
            let pids = self.cgroups.pids(&id, None);
            if self.cgroups.kill(&id, None, std::time::Duration::from_secs(5)).await {
                if let Err(e) = self.cgroups.remove(&id) {
                    tracing::error!(container = %id, error = %e, "cannot remove leftover cgroup");
                } else if !pids.is_empty() {
                    tracing::warn!(container = %id, ?pids, "killed processes of a container that no longer exists");
                }
            } else {
                tracing::error!(container = %id, ?pids, "cannot kill processes of a container that no longer exists");
            }
        }
        let dir = self.config.exec_root.join("containers");
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if registry.container(&id).is_none() {
                let _ = std::fs::remove_dir_all(entry.path());
                tracing::info!(container = %id, "removed files of a container that no longer exists");
            }
        }
    }
}
