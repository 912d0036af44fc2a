//! Overlay networks: one record in etcd, and on every host of the cluster a bridge
//! for its local containers with a VXLAN port towards the other hosts. `network
//! create -d overlay` writes the record (etcd decides between hosts creating at
//! once) and installs it here; the other hosts install it from their watch.
//! Every host gives the bridge the network's gateway address, so that each host
//! routes its own containers' traffic out (the same gateway everywhere, as a
//! distributed gateway): ARP for it never crosses, since only containers' entries
//! are programmed on the VXLAN device.

use chrono::Utc;
use ipnetwork::IpNetwork;
use netctl_cluster::NetworkRecord;
use netctl_kernel::{BridgeSpec, VxlanSpec};
use netctl_model::network::NetworkSpec;
use netctl_model::{id, ipam, Network, SubnetConfig};

use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::networks::bridge_addresses;
use crate::registry::Registry;

impl Daemon {
    /// `network create -d overlay`: the record in etcd first (name, subnets and
    /// VNI checked against every host's), then the bridge and VXLAN device here.
    pub(crate) async fn create_overlay_network(
        &self,
        registry: &mut Registry,
        spec: NetworkSpec,
    ) -> Result<Network> {
        let cluster = self.cluster()?.clone();
        let advertise = cluster.config.advertise;
        let underlay_mtu = self.netlink.mtu_for_underlay(advertise).await.map_err(|e| {
            DaemonError::Model(netctl_model::ModelError::invalid(format!(
                "[cluster] advertise {advertise}: {e}; it must be an address of this host"
            )))
        })?;
        // The underlay's MTU less VXLAN's overhead (50 bytes over IPv4, 70 over IPv6).
        if let Some(given) = spec.bridge_options.mtu.filter(|m| *m > underlay_mtu) {
            return Err(DaemonError::Model(netctl_model::ModelError::invalid(format!(
                "mtu {given} is more than VXLAN over this host's underlay allows ({underlay_mtu})"
            ))));
        }
        let mtu = self.config.network.mtu.min(underlay_mtu);
        let local: Vec<(String, Vec<IpNetwork>)> = registry
            .networks()
            .map(|n| (n.name.clone(), n.subnets.iter().map(|s| s.subnet).collect()))
            .collect();
        let mut routes = self.netlink.ipv4_route_destinations().await?;
        routes.extend(self.netlink.ipv6_route_destinations().await?);
        let pools = cluster.config.overlay_address_pools.clone();
        let net = cluster
            .session
            .create_network(|existing: &[NetworkRecord], _vni| {
                let mut spec = spec.clone();
                let name_taken = existing.iter().any(|n| n.network.name == spec.name)
                    || local.iter().any(|(name, _)| *name == spec.name);
                if name_taken {
                    return Err(netctl_cluster::ClusterError::Conflict(format!(
                        "network with name {} already exists",
                        spec.name
                    )));
                }
                let mut taken: Vec<IpNetwork> =
                    existing.iter().flat_map(|n| n.network.subnets.iter().map(|s| s.subnet)).collect();
                taken.extend(local.iter().flat_map(|(_, s)| s.iter().copied()));
                for s in &spec.subnets {
                    if let Some(t) = taken.iter().find(|t| ipam::overlaps(t, &s.subnet)) {
                        return Err(netctl_cluster::ClusterError::Conflict(format!(
                            "subnet {} overlaps with subnet {t} of another network",
                            s.subnet
                        )));
                    }
                }
                if spec.needs_ipv4_subnet() {
                    let mut avoid = taken.clone();
                    avoid.extend(routes.iter().copied());
                    let v4: Vec<_> = pools.iter().filter(|p| p.base.is_ipv4()).cloned().collect();
                    let subnet = ipam::pick_subnet(&v4, true, &avoid).ok_or_else(|| {
                        netctl_cluster::ClusterError::Conflict(
                            "no free subnet left in [cluster] overlay_address_pools: give --subnet".into(),
                        )
                    })?;
                    let valid = ipam::validate_subnet(subnet, None, None)
                        .map_err(|e| netctl_cluster::ClusterError::Conflict(e.to_string()))?;
                    spec.subnets.push(SubnetConfig { automatic: true, ..SubnetConfig::from(valid) });
                }
                if spec.needs_ipv6_subnet() {
                    return Err(netctl_cluster::ClusterError::Conflict(
                        "an IPv6 overlay network needs --subnet (there is no cluster-wide IPv6 pool)".into(),
                    ));
                }
                Ok(spec.into_network(id::new_id(), Utc::now(), mtu))
            })
            .await?;
        self.install_overlay(&net).await?;
        registry.insert_network(net.clone());
        if let Err(e) = self.sync_firewall(registry).await {
            tracing::error!(network = %net.name, error = %e, "cannot update the firewall for the overlay network");
        }
        tracing::info!(network = %net.name, vni = ?net.vni, subnet = %net.subnets[0].subnet, mtu = net.mtu, "overlay network created");
        self.events.network("create", &net, None);
        Ok(net)
    }

    /// The bridge (with the gateway address) and the VXLAN port, and the record in
    /// the local store (read at the next start even if etcd is away then).
    pub(crate) async fn install_overlay(&self, net: &Network) -> Result<()> {
        let cluster = self.cluster()?;
        let addresses = bridge_addresses(net);
        let bridge =
            BridgeSpec { name: &net.bridge, mtu: net.mtu, addresses: &addresses, network_id: &net.id };
        // Made, or (a record installed again: etcd's, at a restart) repaired.
        self.netlink.ensure_bridge(&bridge).await?;
        let dev = net.vxlan_device();
        let made = self.netlink.ensure_vxlan(&self.vxlan_spec(net, &dev, cluster)).await;
        if let Err(e) = made {
            let _ = self.netlink.delete_link(&net.bridge).await;
            return Err(e.into());
        }
        if let Err(e) = self.networks_store.save(&net.id, net) {
            let _ = self.netlink.delete_link(&dev).await;
            let _ = self.netlink.delete_link(&net.bridge).await;
            return Err(e.into());
        }
        Ok(())
    }

    /// The VXLAN device `dev` of an overlay network on this host.
    pub(crate) fn vxlan_spec<'a>(
        &self,
        net: &'a Network,
        dev: &'a str,
        cluster: &crate::cluster::ClusterService,
    ) -> VxlanSpec<'a> {
        VxlanSpec {
            name: dev,
            vni: net.vni.unwrap_or_default(),
            local: cluster.config.advertise,
            port: cluster.config.vxlan_port,
            mtu: net.mtu,
            bridge: &net.bridge,
            network_id: &net.id,
        }
    }

    /// A record seen in etcd: installed here if new; a record being removed changes nothing.
    pub(crate) async fn apply_network(&self, registry: &mut Registry, rec: &NetworkRecord) {
        let net = rec.network.clone();
        if registry.network(&net.id).is_some() {
            return;
        }
        if let Some(other) = registry.network_by_name(&net.name) {
            tracing::error!(network = %net.name, local = %other.id, "cluster: an overlay network has the name of a network of this host; it is not available here until that one is removed");
            return;
        }
        if let Some(other) = registry.networks().find(|n| {
            n.subnets.iter().any(|s| net.subnets.iter().any(|o| ipam::overlaps(&s.subnet, &o.subnet)))
        }) {
            tracing::error!(network = %net.name, local = %other.name, "cluster: an overlay network overlaps a network of this host; it is not available here");
            return;
        }
        match self.install_overlay(&net).await {
            Ok(()) => {
                tracing::info!(network = %net.name, vni = ?net.vni, "cluster: overlay network installed");
                registry.insert_network(net.clone());
                self.resolver.update_zone(|z| z.set_network(&net.id, &net.name, &crate::dns::subnets(&net)));
                if let Err(e) = self.sync_firewall(registry).await {
                    tracing::error!(network = %net.name, error = %e, "cannot update the firewall");
                }
                self.events.network("create", &net, None);
            }
            Err(e) => {
                tracing::error!(network = %net.name, error = %e, "cluster: cannot install the overlay network")
            }
        }
    }

    /// The network is gone from the cluster: its bridge and VXLAN device go here,
    /// unless local containers still use it (then it stays until they leave).
    pub(crate) async fn drop_overlay_network(&self, registry: &mut Registry, net: &Network) {
        if registry.containers_on(&net.id).next().is_some() {
            tracing::error!(network = %net.name, "cluster: the overlay network was removed from the cluster but containers here still use it; it stays here until they leave");
            return;
        }
        self.uninstall_overlay(registry, net).await;
    }

    async fn uninstall_overlay(&self, registry: &mut Registry, net: &Network) {
        if let Err(e) = self.networks_store.remove(&net.id) {
            tracing::error!(network = %net.name, error = %e, "cannot remove the network's state file");
            return;
        }
        registry.remove_network(&net.id);
        for dev in [net.vxlan_device(), net.bridge.clone()] {
            if let Err(e) = self.netlink.delete_link(&dev).await {
                tracing::warn!(device = %dev, error = %e, "cannot remove the overlay network's device (the next start does)");
            }
        }
        if let Err(e) = self.sync_firewall(registry).await {
            tracing::warn!(network = %net.name, error = %e, "cannot remove the network's firewall rules");
        }
        tracing::info!(network = %net.name, "overlay network removed here");
        self.events.network("destroy", net, None);
    }

    /// `network rm` of an overlay network: refused while any host has a container
    /// on it (etcd's endpoints, not only this host's), then gone everywhere.
    pub(crate) async fn remove_overlay_network(&self, registry: &mut Registry, net: &Network) -> Result<()> {
        let cluster = self.cluster()?.clone();
        cluster.session.remove_network(&net.id).await.map_err(|e| match e {
            netctl_cluster::ClusterError::Conflict(m) if m.contains("active endpoints") => {
                DaemonError::Forbidden(m)
            }
            netctl_cluster::ClusterError::NotFound(_) => DaemonError::Model(
                netctl_model::ModelError::not_found(format!("network {} not found", net.name)),
            ),
            other => other.into(),
        })?;
        self.uninstall_overlay(registry, net).await;
        Ok(())
    }

    /// At start: each overlay network's devices as its record says (the VXLAN
    /// device may have a new underlay address or port).
    pub(crate) async fn restore_overlays(&self, registry: &Registry) {
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        for net in registry.networks().filter(|n| n.is_overlay()) {
            let dev = net.vxlan_device();
            let spec = self.vxlan_spec(net, &dev, &cluster);
            if let Err(e) = self.netlink.ensure_vxlan(&spec).await {
                tracing::error!(network = %net.name, error = %e, "cannot restore the overlay network's VXLAN device");
            }
        }
    }

    /// VXLAN devices of ours that no network claims (a crash between steps).
    pub(crate) async fn sweep_vxlans(&self, registry: &Registry) {
        let Ok(owned) = self.netlink.owned_vxlans().await else { return };
        for (dev, net_id) in owned {
            if registry.network(&net_id).is_none_or(|n| n.vxlan_device() != dev) {
                match self.netlink.delete_link(&dev).await {
                    Ok(_) => {
                        tracing::info!(device = %dev, "removed a VXLAN device of a network that no longer exists")
                    }
                    Err(e) => {
                        tracing::error!(device = %dev, error = %e, "cannot remove leftover VXLAN device")
                    }
                }
            }
        }
    }
}
