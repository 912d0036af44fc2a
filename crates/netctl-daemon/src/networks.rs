//! Network operations: create, remove, list, prune. Each one checks everything it
//! can before touching the kernel, and undoes its kernel work if a later step fails.

use std::collections::BTreeMap;

use chrono::Utc;
use ipnetwork::IpNetwork;
use netctl_kernel::BridgeSpec;
use netctl_model::api::{NetworkCreateRequest, NetworkInspect};
use netctl_model::filter::NetworkFilters;
use netctl_model::network::{NetworkSpec, DEFAULT_NETWORK};
use netctl_model::{id, ipam, Network, SubnetConfig};

use crate::daemon::Daemon;
use crate::error::{conflict, DaemonError, Result};
use crate::host;
use crate::registry::Registry;
use crate::views::network_containers;

impl Daemon {
    pub async fn create_network(&self, req: &NetworkCreateRequest) -> Result<Network> {
        let mut spec = NetworkSpec::from_request(req)?;
        let mut registry = self.registry.lock().await;
        if registry.network_by_name(&spec.name).is_some() {
            return Err(conflict(format!("network with name {} already exists", spec.name)));
        }
        if spec.driver == netctl_model::network::OVERLAY_DRIVER {
            return self.create_overlay_network(&mut registry, spec).await;
        }
        check_subnets_free(&registry, &spec.subnets)?;
        if let Some(bridge) = &spec.bridge_options.bridge_name {
            self.check_bridge_name_free(&registry, bridge).await?;
        }
        if spec.needs_ipv4_subnet() {
            let subnet = self.pick_free_subnet(&registry).await?;
            let valid = ipam::validate_subnet(subnet, None, None)?;
            spec.subnets.push(SubnetConfig { automatic: true, ..SubnetConfig::from(valid) });
        }
        if spec.needs_ipv6_subnet() {
            let subnet = self.pick_free_ipv6_subnet(&registry).await?;
            let valid = ipam::validate_subnet(subnet, None, None)?;
            spec.subnets.push(SubnetConfig { automatic: true, ..SubnetConfig::from(valid) });
        }
        let net_id = loop {
            let candidate = id::new_id();
            if registry.find_network(id::short_id(&candidate)).is_err() {
                break candidate;
            }
        };
        let net = spec.into_network(net_id, Utc::now(), self.config.network.mtu);
        self.install_network(&net).await?;
        tracing::info!(network = %net.name, id = %net.short_id(), bridge = %net.bridge, subnet = %net.subnets[0].subnet, "network created");
        registry.insert_network(net.clone());
        let firewall = async {
            crate::step!("network.firewall");
            self.sync_firewall(&registry).await
        };
        if let Err(e) = firewall.await {
            registry.remove_network(&net.id);
            match self.uninstall_network(&net).await {
                Ok(None) => {}
                Ok(Some(undo)) | Err(undo) => {
                    tracing::error!(network = %net.name, error = %undo, "cannot remove network after failed firewall update")
                }
            }
            return Err(e);
        }
        self.events.network("create", &net, None);
        Ok(net)
    }

    /// Bridge, then state file; the bridge goes again if the state can't be written.
    pub(crate) async fn install_network(&self, net: &Network) -> Result<()> {
        let addresses = bridge_addresses(net);
        let spec = BridgeSpec { name: &net.bridge, mtu: net.mtu, addresses: &addresses, network_id: &net.id };
        self.netlink.create_bridge(&spec).await.map_err(|e| {
            if e.is_exists() {
                conflict(format!("bridge name {} is already in use by a device on this host", net.bridge))
            } else {
                DaemonError::Kernel(e)
            }
        })?;
        // A crash from here on leaves a marked bridge no record claims: reconcile
        // removes it.
        let saved = (|| -> Result<()> {
            crate::step!("network.bridge");
            Ok(self.networks_store.save(&net.id, net)?)
        })();
        if let Err(e) = saved {
            if let Err(undo) = self.netlink.delete_link(&net.bridge).await {
                tracing::error!(bridge = %net.bridge, error = %undo, "could not remove bridge after failed state write");
            }
            return Err(e);
        }
        Ok(())
    }

    async fn check_bridge_name_free(&self, registry: &Registry, bridge: &str) -> Result<()> {
        if let Some(other) = registry.networks().find(|n| n.bridge == bridge) {
            return Err(conflict(format!("bridge name {bridge} is already used by network {}", other.name)));
        }
        if self.netlink.link_by_name(bridge).await?.is_some() {
            return Err(conflict(format!("bridge name {bridge} is already in use by a device on this host")));
        }
        Ok(())
    }

    async fn pick_free_subnet(&self, registry: &Registry) -> Result<IpNetwork> {
        let mut avoid: Vec<IpNetwork> =
            registry.networks().flat_map(|n| n.subnets.iter().map(|s| s.subnet)).collect();
        avoid.extend(self.netlink.ipv4_route_destinations().await?);
        avoid.extend(host::nameservers(self.resolv_conf()));
        ipam::pick_subnet(&self.config.network.default_address_pools, true, &avoid).ok_or_else(|| {
            conflict(
                "no free subnet left: every subnet of the address pools overlaps a network or a host route; \
                 remove unused networks (netctl network prune), give --subnet, or add pools under \
                 [network] default_address_pools in netctl.toml",
            )
        })
    }

    /// A /64 of the configured IPv6 pools, else of this host's own unique local
    /// /48 (random, made once and kept in the state, as Docker 27+ does).
    async fn pick_free_ipv6_subnet(&self, registry: &Registry) -> Result<IpNetwork> {
        let mut avoid: Vec<IpNetwork> = registry
            .networks()
            .flat_map(|n| n.subnets.iter().map(|s| s.subnet))
            .filter(|s| !s.is_ipv4())
            .collect();
        avoid.extend(self.netlink.ipv6_route_destinations().await?);
        let mut pools: Vec<_> =
            self.config.network.default_address_pools.iter().filter(|p| !p.base.is_ipv4()).cloned().collect();
        if pools.is_empty() {
            pools.push(ipam::AddressPool { base: self.host_ula_prefix()?, size: 64 });
        }
        ipam::pick_subnet(&pools, false, &avoid).ok_or_else(|| {
            conflict("no free IPv6 subnet left in the address pools: give --subnet or add IPv6 pools under [network] default_address_pools")
        })
    }

    /// This host's unique local prefix (RFC 4193: fd00::/8 and 40 random bits),
    /// `<data-root>/ipv6-ula-prefix`, made at the first IPv6 network.
    fn host_ula_prefix(&self) -> Result<IpNetwork> {
        let path = self.config.data_root.join("ipv6-ula-prefix");
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Ok(net) = text.trim().parse::<IpNetwork>() {
                return Ok(net);
            }
            tracing::warn!(path = %path.display(), "unreadable IPv6 prefix file: a new prefix is made");
        }
        let r: [u8; 5] = rand::random();
        let ip = std::net::Ipv6Addr::new(
            0xfd00 | u16::from(r[0]),
            u16::from_be_bytes([r[1], r[2]]),
            u16::from_be_bytes([r[3], r[4]]),
            0,
            0,
            0,
            0,
            0,
        );
        let net = IpNetwork::new(ip.into(), 48).expect("a /48");
        crate::store::write_private(&path, format!("{net}\n").as_bytes())
            .map_err(|e| DaemonError::Io(format!("write {}", path.display()), e))?;
        tracing::info!(prefix = %net, "made this host's IPv6 unique local prefix");
        Ok(net)
    }

    pub async fn remove_network(&self, key: &str) -> Result<()> {
        let mut registry = self.registry.lock().await;
        let net = registry.find_network(key)?.clone();
        self.check_removable(&net)?;
        Self::check_unused(&registry, &net)?;
        if net.is_overlay() {
            return self.remove_overlay_network(&mut registry, &net).await;
        }
        let leftover = self.uninstall_network(&net).await?;
        registry.remove_network(&net.id);
        tracing::info!(network = %net.name, id = %net.short_id(), "network removed");
        self.events.network("destroy", &net, None);
        if let Err(e) = self.sync_firewall(&registry).await {
            tracing::warn!(network = %net.name, error = %e, "cannot remove the network's firewall rules");
        }
        match leftover {
            Some(e) => {
                Err(DaemonError::Teardown(format!("network {}'s bridge {}: {e}", net.name, net.bridge)))
            }
            None => Ok(()),
        }
    }

    fn check_removable(&self, net: &Network) -> Result<()> {
        if net.builtin {
            return Err(DaemonError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                net.name
            )));
        }
        Ok(())
    }

    /// Docker's words and status (403): `error while removing network: network X
    /// has active endpoints (name:"web" id:"0123456789ab")`, each endpoint by its
    /// container's name and the endpoint's short id.
    fn check_unused(registry: &Registry, net: &Network) -> Result<()> {
        let endpoints: Vec<String> = registry
            .containers_on(&net.id)
            .filter_map(|c| {
                c.endpoint_on(&net.id).map(|ep| format!("name:{:?} id:{:?}", c.name, id::short_id(&ep.id)))
            })
            .collect();
        if !endpoints.is_empty() {
            return Err(DaemonError::Forbidden(format!(
                "error while removing network: network {} has active endpoints ({})",
                net.name,
                endpoints.join(", ")
            )));
        }
        Ok(())
    }

    /// The record first: once it is gone the network is, and a bridge left by a
    /// crash or a failed delete carries a marker no record claims, which the next
    /// start removes.
    /// Err while the network still exists; Ok once its record is gone, with what
    /// could not be removed of its bridge.
    async fn uninstall_network(&self, net: &Network) -> Result<Option<DaemonError>> {
        crate::step!("network.rm");
        self.networks_store.remove(&net.id)?;
        let bridge = async {
            crate::step!("network.rm.bridge");
            self.netlink.delete_link(&net.bridge).await?;
            Ok(())
        };
        Ok(bridge.await.err())
    }

    pub async fn inspect_network(&self, key: &str) -> Result<NetworkInspect> {
        let registry = self.registry.lock().await;
        let net = registry.find_network(key)?;
        Ok(net.inspect(network_containers(&registry, &net.id)))
    }

    pub async fn list_networks(&self, filters: &NetworkFilters) -> Vec<NetworkInspect> {
        let registry = self.registry.lock().await;
        let mut out: Vec<NetworkInspect> = registry
            .networks()
            .map(|n| (n.inspect(network_containers(&registry, &n.id)), n.builtin))
            .filter(|(view, builtin)| filters.matches(view, *builtin))
            .map(|(view, _)| view)
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Removes every custom network without endpoints; returns their names.
    pub async fn prune_networks(&self, filters: &NetworkFilters) -> Result<Vec<String>> {
        let mut registry = self.registry.lock().await;
        let candidates: Vec<Network> = registry
            .networks()
            .filter(|n| {
                !n.builtin && filters.matches(&n.inspect(network_containers(&registry, &n.id)), false)
            })
            .cloned()
            .collect();
        let mut deleted = Vec::new();
        for net in candidates {
            if self.check_removable(&net).is_err() || Self::check_unused(&registry, &net).is_err() {
                continue;
            }
            if net.is_overlay() {
                // In use on another host, or etcd away: kept.
                if self.remove_overlay_network(&mut registry, &net).await.is_ok() {
                    deleted.push(net.name);
                }
                continue;
            }
            let leftover = self.uninstall_network(&net).await?;
            registry.remove_network(&net.id);
            tracing::info!(network = %net.name, id = %net.short_id(), "network pruned");
            self.events.network("destroy", &net, None);
            if let Some(e) = leftover {
                tracing::error!(network = %net.name, error = %e, "pruned network's bridge left for the next start");
            }
            deleted.push(net.name);
        }
        if let Err(e) = self.sync_firewall(&registry).await {
            tracing::warn!(error = %e, "cannot remove the pruned networks' firewall rules");
        }
        deleted.sort();
        Ok(deleted)
    }

    /// Makes sure the default network exists in the store (its bridge comes with reconcile).
    pub(crate) async fn ensure_default_network(&self) -> Result<()> {
        let mut registry = self.registry.lock().await;
        if let Some(existing) = registry.network_by_name(DEFAULT_NETWORK) {
            if existing.subnets.first().map(|s| s.subnet) != Some(self.config.network.default_subnet) {
                tracing::warn!(
                    stored = %existing.subnets[0].subnet,
                    configured = %self.config.network.default_subnet,
                    "the default network keeps its stored subnet; remove its state file to apply the configured one"
                );
            }
            return Ok(());
        }
        let subnet = self.config.network.default_subnet;
        if let Some(other) =
            registry.networks().find(|n| n.subnets.iter().any(|s| ipam::overlaps(&s.subnet, &subnet)))
        {
            return Err(conflict(format!(
                "the default network's subnet {subnet} overlaps network {}; change network.default_subnet",
                other.name
            )));
        }
        let valid = ipam::validate_subnet(subnet, None, None)?;
        let net = Network {
            id: id::new_id(),
            name: DEFAULT_NETWORK.into(),
            created: Utc::now(),
            driver: "bridge".into(),
            bridge: self.config.network.default_bridge.clone(),
            mtu: self.config.network.mtu,
            subnets: vec![SubnetConfig::from(valid)],
            internal: false,
            attachable: false,
            enable_ipv6: false,
            enable_icc: true,
            enable_ip_masquerade: true,
            options: BTreeMap::new(),
            labels: BTreeMap::new(),
            builtin: true,
            vni: None,
        };
        self.networks_store.save(&net.id, &net)?;
        tracing::info!(bridge = %net.bridge, subnet = %subnet, "default network created");
        registry.insert_network(net);
        Ok(())
    }
}

pub(crate) fn bridge_addresses(net: &Network) -> Vec<IpNetwork> {
    net.subnets.iter().map(SubnetConfig::gateway_cidr).collect()
}

fn check_subnets_free(registry: &Registry, wanted: &[SubnetConfig]) -> Result<()> {
    for w in wanted {
        for net in registry.networks() {
            if let Some(s) = net.subnets.iter().find(|s| ipam::overlaps(&s.subnet, &w.subnet)) {
                return Err(conflict(format!(
                    "subnet {} overlaps with subnet {} of network {}",
                    w.subnet, s.subnet, net.name
                )));
            }
        }
    }
    Ok(())
}
