//! Endpoints: a container joining or leaving a network. Address first (IPAM),
//! then the veth pair, then the record; each step undone if a later one fails.

use std::net::IpAddr;
use std::os::fd::OwnedFd;

use ipnetwork::IpNetwork;
use netctl_kernel::{EndpointSpec, Netlink};
use netctl_model::api_containers::{NetworkConnectRequest, NetworkDisconnectRequest};
use netctl_model::container::{format_mac, parse_mac, random_mac, Container, Endpoint};
use netctl_model::name::validate_name;
use netctl_model::{id, ModelError, Network};

use crate::daemon::Daemon;
use crate::error::{conflict, DaemonError, Result};
use crate::journal::Direction;
use crate::registry::Registry;
use crate::sandbox_files::SandboxFiles;

/// Written into the host end's alias, so reconcile can find veths we left behind.
pub const VETH_MARKER_PREFIX: &str = "netctl-ep:";

/// What a container asks for on one network.
#[derive(Debug, Default, Clone)]
pub struct JoinRequest {
    pub aliases: Vec<String>,
    pub ip: Option<IpAddr>,
    pub ip6: Option<IpAddr>,
    pub mac: Option<[u8; 6]>,
    /// The interface's name inside (CNI_IFNAME); default the next free ethN.
    pub ifname: Option<String>,
}

impl JoinRequest {
    pub fn parse(aliases: &[String], ip: Option<&str>, net: &Network) -> Result<Self> {
        if net.builtin && !aliases.is_empty() {
            return Err(ModelError::invalid(
                "network-scoped alias is supported only for containers in user defined networks",
            )
            .into());
        }
        for a in aliases {
            validate_name("alias", a)?;
        }
        let ip = parse_address(ip, net, false)?;
        Ok(Self { aliases: aliases.to_vec(), ip, ip6: None, mac: None, ifname: None })
    }

    /// The same with `--ip6`: `run` and `network connect`, where Docker's rule
    /// holds that a fixed address needs a subnet the user configured (an attached
    /// runtime's own choice, CNI's `ips`, is taken on any subnet).
    pub fn parse_dual(
        aliases: &[String],
        ip: Option<&str>,
        ip6: Option<&str>,
        net: &Network,
    ) -> Result<Self> {
        let req = Self { ip6: parse_address(ip6, net, true)?, ..Self::parse(aliases, ip, net)? };
        for (given, v6) in [(req.ip, false), (req.ip6, true)] {
            let automatic =
                net.subnets.iter().find(|s| s.subnet.is_ipv6() == v6).is_some_and(|s| s.automatic);
            if given.is_some() && automatic {
                return Err(ModelError::invalid(
                    "user specified IP address is supported only when connecting to networks with user configured subnets",
                )
                .into());
            }
        }
        Ok(req)
    }
}

/// `--ip` (IPv4) or `--ip6` (IPv6) for `net`.
fn parse_address(text: Option<&str>, net: &Network, v6: bool) -> Result<Option<IpAddr>> {
    let Some(text) = text else { return Ok(None) };
    if net.builtin {
        return Err(ModelError::invalid(
            "user specified IP address is supported on user defined networks only",
        )
        .into());
    }
    let ip = text
        .trim()
        .parse::<IpAddr>()
        .map_err(|_| ModelError::invalid(format!("invalid IP address {text:?}")))?;
    if ip.is_ipv6() != v6 {
        let (flag, family) = if v6 { ("--ip6", "IPv6") } else { ("--ip", "IPv4") };
        return Err(ModelError::invalid(format!("{flag} {ip}: not an {family} address")).into());
    }
    Ok(Some(ip))
}

/// A Linux interface name: 1 to 15 bytes, no '/', ':' or whitespace, not . or ..
fn validate_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.chars().any(|ch| ch == '/' || ch == ':' || ch.is_whitespace() || ch.is_control());
    if ok {
        Ok(())
    } else {
        Err(ModelError::invalid(format!(
            "invalid interface name {name:?}: 1 to 15 characters, no '/', ':' or spaces"
        ))
        .into())
    }
}

impl Daemon {
    /// Chooses everything about the container's endpoint on `net` (address, MAC,
    /// names) and reserves its address; nothing in the kernel yet. The endpoint goes
    /// into the change's intent before `make_endpoint` creates it.
    pub(crate) fn plan_endpoint(
        &self,
        registry: &mut Registry,
        c: &Container,
        net: &Network,
        req: JoinRequest,
    ) -> Result<Endpoint> {
        if c.endpoint_on(&net.id).is_some() {
            return Err(conflict(format!(
                "endpoint with name {} already exists in network {}",
                c.name, net.name
            )));
        }
        if c.netns_path.is_none() {
            return Err(DaemonError::Model(ModelError::invalid(format!(
                "container {} uses the host's network and cannot join networks",
                c.name
            ))));
        }
        if let Some(name) = &req.ifname {
            validate_ifname(name)?;
            if c.endpoints.iter().any(|e| &e.ifname == name) {
                return Err(conflict(format!("container {} has an interface {name} already", c.name)));
            }
        }
        let v4 = net.subnets.iter().find(|s| s.subnet.is_ipv4()).cloned();
        let v6 = net.subnets.iter().find(|s| !s.subnet.is_ipv4()).filter(|_| net.enable_ipv6).cloned();
        if v4.is_none() && v6.is_none() {
            return Err(conflict(format!("network {} has no subnet to give an address from", net.name)));
        }
        for (given, have, flag) in [(req.ip, &v4, "--ip"), (req.ip6, &v6, "--ip6")] {
            if given.is_some() && have.is_none() {
                return Err(ModelError::invalid(format!(
                    "{flag}: network {} has no {} subnet",
                    net.name,
                    if flag == "--ip" { "IPv4" } else { "IPv6" }
                ))
                .into());
            }
        }
        // After a restart the search starts over and may hand out an address just freed.
        let v6_may_be_reused =
            req.ip6.is_some() || !registry.address_book(&net.id).allocated_since_start(true);
        let (ipv4, ipv6) = allocate_addresses(registry, net, req.ip, req.ip6)?;
        let endpoint_id = id::new_id();
        let mac = req.mac.unwrap_or_else(random_mac);
        let default_route = !net.internal && !c.endpoints.iter().any(|e| e.default_route);
        Ok(Endpoint {
            host_ifname: format!("veth{}", &endpoint_id[..7]),
            id: endpoint_id,
            network_id: net.id.clone(),
            ifname: req.ifname.clone().unwrap_or_else(|| c.next_ifname()),
            mac: format_mac(&mac),
            ipv4,
            ipv6,
            gateway: v4.map(|s| s.gateway),
            gateway6: v6.map(|s| s.gateway),
            announce_ipv6: v6_may_be_reused,
            default_route,
            aliases: req.aliases,
            requested_ipv4: req.ip,
            requested_ipv6: req.ip6,
        })
    }

    /// `plan_endpoint`, and on an overlay network the claim of its addresses in the
    /// cluster (published under this host's lease): every path that adds an
    /// endpoint plans it here.
    pub(crate) async fn plan_endpoint_claimed(
        &self,
        registry: &mut Registry,
        c: &Container,
        net: &Network,
        req: JoinRequest,
    ) -> Result<Endpoint> {
        let ep = self.plan_endpoint(registry, c, net, req)?;
        if net.is_overlay() {
            return self.claim_in_cluster(registry, c, net, ep).await;
        }
        Ok(ep)
    }

    /// New addresses for a planned endpoint whose earlier ones another host holds.
    pub(crate) fn plan_addresses(
        &self,
        registry: &mut Registry,
        net: &Network,
        ep: &Endpoint,
    ) -> Result<(Option<IpNetwork>, Option<IpNetwork>)> {
        allocate_addresses(registry, net, ep.requested_ipv4, ep.requested_ipv6)
    }

    /// Makes a planned endpoint in the kernel: the veth pair (host end marked as
    /// ours), addresses, route, and the announcement of its address.
    pub(crate) async fn make_endpoint(
        &self,
        c: &Container,
        inside: &Netlink,
        net: &Network,
        ep: &Endpoint,
    ) -> Result<()> {
        let netns_path = c.netns_path.as_ref().expect("checked by plan_endpoint");
        let mac = parse_mac(&ep.mac)?;
        let addresses: Vec<IpNetwork> = ep.ipv4.iter().chain(ep.ipv6.iter()).copied().collect();
        let gateways: Vec<IpAddr> = if ep.default_route {
            ep.gateway.iter().chain(ep.gateway6.iter()).copied().collect()
        } else {
            Vec::new()
        };
        let spec = EndpointSpec {
            host_ifname: &ep.host_ifname,
            host_alias: format!("{VETH_MARKER_PREFIX}{}", ep.id),
            container_ifname: &ep.ifname,
            mac,
            mtu: net.mtu,
            bridge: &net.bridge,
            addresses: &addresses,
            gateways: &gateways,
        };
        let ns = netctl_kernel::netns::open_netns(netns_path)?;
        self.netlink.create_endpoint(inside, &ns, &spec).await?;
        for addr in addresses.iter().filter(|a| a.is_ipv4() || ep.announce_ipv6) {
            let ns = ns.try_clone().map_err(|e| DaemonError::Io("dup netns fd".into(), e))?;
            self.announce(ns.into(), ep, mac, addr.ip()).await;
        }
        Ok(())
    }

    /// Tells whoever cached another MAC for `ip` (a container removed a moment ago
    /// held it) about this endpoint's. A failure costs only that, so it is logged.
    async fn announce(&self, ns: OwnedFd, ep: &Endpoint, mac: [u8; 6], ip: IpAddr) {
        let announced = match ip {
            IpAddr::V4(v4) => {
                self.netlink.announce_ipv4(ns, &ep.host_ifname, ep.ifname.clone(), mac, v4).await
            }
            IpAddr::V6(v6) => {
                self.netlink.announce_ipv6(ns, &ep.host_ifname, ep.ifname.clone(), mac, v6).await
            }
        };
        if let Err(e) = announced {
            tracing::warn!(%ip, error = %e, "cannot announce the address");
        }
    }

    /// Removes the veth pair (the kernel takes both ends), then frees the address:
    /// never while a veth may still hold it. A veth already gone is fine.
    pub(crate) async fn leave_network(&self, registry: &mut Registry, ep: &Endpoint) -> Result<()> {
        self.netlink.delete_link(&ep.host_ifname).await?;
        for addr in ep.ipv4.iter().chain(ep.ipv6.iter()) {
            registry.address_book(&ep.network_id).release(addr.ip());
        }
        if registry.network(&ep.network_id).is_some_and(|n| n.is_overlay()) {
            self.release_in_cluster(ep).await;
        }
        Ok(())
    }

    pub async fn connect(&self, net_key: &str, req: &NetworkConnectRequest) -> Result<()> {
        let mut registry = self.registry.lock().await;
        let net = registry.find_network(net_key)?.clone();
        let before = registry.find_container(&req.container)?.clone();
        let cfg = req.endpoint_config.clone().unwrap_or_default();
        let ip = cfg.ipam_config.as_ref().and_then(|i| i.ipv4_address.as_deref());
        let ip6 = cfg.ipam_config.as_ref().and_then(|i| i.ipv6_address.as_deref());
        let join = JoinRequest {
            mac: cfg.mac_address.as_deref().map(parse_mac).transpose()?,
            ..JoinRequest::parse_dual(&cfg.aliases, ip, ip6, &net)?
        };
        self.join_network(&mut registry, &net, &before, join).await
    }

    /// `connect` of a container already looked up, under the state lock: the
    /// journaled add of one endpoint.
    pub(crate) async fn join_network(
        &self,
        registry: &mut Registry,
        net: &Network,
        before: &Container,
        join: JoinRequest,
    ) -> Result<()> {
        let inside = self.netlink_in(before).await?;
        let ep = self.plan_endpoint_claimed(registry, before, net, join).await?;
        let mut c = before.clone();
        c.endpoints.push(ep.clone());
        let intent = match self.journal.begin("connect", Direction::Adds, Some(before), Some(&mut c)) {
            Ok(i) => i,
            Err(e) => {
                self.release_planned(registry, &ep);
                if net.is_overlay() {
                    self.release_in_cluster(&ep).await;
                }
                return Err(e.into());
            }
        };
        let made = async {
            let early = self.start_listener_early(&c, net);
            crate::step!("connect.endpoint");
            if let Err(e) = self.make_endpoint(&c, &inside, net, &ep).await {
                Self::abandon_listener(early).await;
                return Err(e);
            }
            registry.update_container(c.clone());
            self.adopt_listener(&c, early).await?;
            self.sync_listener(registry, &c)?;
            crate::step!("connect.files");
            self.write_files(registry, &c)?;
            crate::step!("connect.commit");
            self.commit(&intent, &c)
        }
        .await;
        if let Err(e) = made {
            self.undo(registry, &intent, &c).await;
            return Err(e);
        }
        tracing::info!(container = %c.name, network = %net.name, ip = ?ep.ipv4, ifname = %ep.ifname, "connected");
        self.events.network("connect", net, Some(&c));
        // Resolvable before the API answers.
        self.refresh_dns_for(registry, &c.id);
        self.refresh_linkers(registry, &c.id);
        self.retarget_ports(registry, &c).await;
        Ok(())
    }

    /// Journaled as a removal: the record without the endpoint is what stays, so a
    /// failure or a crash after this begins is finished, never half undone; the
    /// address is free again only once its veth is gone.
    pub async fn disconnect(&self, net_key: &str, req: &NetworkDisconnectRequest) -> Result<()> {
        let mut registry = self.registry.lock().await;
        let net = registry.find_network(net_key)?.clone();
        let before = registry.find_container(&req.container)?.clone();
        let Some(pos) = before.endpoints.iter().position(|e| e.network_id == net.id) else {
            return Err(ModelError::not_found(format!(
                "container {} is not connected to network {}",
                before.name, net.name
            ))
            .into());
        };
        let mut c = before.clone();
        let ep = c.endpoints.remove(pos);
        let intent = self.journal.begin("disconnect", Direction::Removes, Some(&before), Some(&mut c))?;
        crate::step!("disconnect.teardown");
        let errors = self.settle(&mut registry, &before, Some(c.clone())).await;
        if ep.default_route {
            let internal: Vec<String> =
                registry.networks().filter(|n| n.internal).map(|n| n.id.clone()).collect();
            self.move_default_route(&mut c, &internal).await;
            registry.update_container(c.clone());
            self.containers_store.save(&c.id, &c)?;
        }
        if !errors.0.is_empty() && !req.force {
            // The record says disconnected; the next start retries what is left.
            return errors.into_result(&c.name);
        }
        if !errors.0.is_empty() {
            tracing::warn!(container = %c.name, errors = ?errors.0, "forced disconnect: kernel cleanup failed");
        }
        self.journal.end(&intent)?;
        tracing::info!(container = %c.name, network = %net.name, "disconnected");
        self.events.network("disconnect", &net, Some(&c));
        Ok(())
    }

    /// After the default route's endpoint left, the next endpoint on a network that
    /// is not internal takes it over, as Docker moves the gateway.
    async fn move_default_route(&self, c: &mut Container, internal_networks: &[String]) {
        let Some(i) = c
            .endpoints
            .iter()
            .position(|e| e.gateway.is_some() && !internal_networks.contains(&e.network_id))
        else {
            return;
        };
        let Ok(inside) = self.netlink_in(c).await else { return };
        let (ifname, gw) = (c.endpoints[i].ifname.clone(), c.endpoints[i].gateway.expect("checked"));
        match inside.link_by_name(&ifname).await {
            Ok(Some(link)) => match inside.add_default_route(gw, link.index).await {
                Ok(()) => c.endpoints[i].default_route = true,
                Err(e) => tracing::warn!(container = %c.name, error = %e, "cannot move the default route"),
            },
            _ => {
                tracing::warn!(container = %c.name, ifname, "cannot move the default route: no such interface")
            }
        }
    }

    /// A netlink connection inside the container's namespace (kept for recent containers).
    pub(crate) async fn netlink_in(&self, c: &Container) -> Result<Netlink> {
        if let Some(nl) = self.netns_links.lock().expect("not poisoned").get(&c.id) {
            return Ok(nl);
        }
        let path = c.netns_path.as_ref().ok_or_else(|| {
            DaemonError::Model(ModelError::invalid(format!("container {} uses the host's network", c.name)))
        })?;
        let ns = netctl_kernel::netns::open_netns(path)?;
        let nl = Netlink::connect_in(&ns).await?;
        self.netns_links.lock().expect("not poisoned").insert(c.id.clone(), nl.clone());
        Ok(nl)
    }

    /// Closes the cached connection (its socket keeps nothing alive, but its fd counts).
    pub(crate) fn forget_netlink_in(&self, container_id: &str) {
        self.netns_links.lock().expect("not poisoned").remove(container_id);
    }

    /// Saves the container and rewrites its hosts and resolv.conf in place.
    pub(crate) fn persist_container(&self, registry: &Registry, c: &Container) -> Result<()> {
        self.containers_store.save(&c.id, c)?;
        self.write_files(registry, c)
    }

    /// Rewrites the container's hosts and resolv.conf in place.
    pub(crate) fn write_files(&self, registry: &Registry, c: &Container) -> Result<()> {
        let files = SandboxFiles::new(&self.config.exec_root, &c.id);
        if files.dir.is_dir() {
            files
                .write_hosts(c, &self.hosts_for(registry, c))
                .map_err(|e| DaemonError::Io(format!("write {}", files.hosts().display()), e))?;
            files
                .write_resolv_conf(c, &self.resolv_conf_for(registry, c))
                .map_err(|e| DaemonError::Io(format!("write {}", files.resolv_conf().display()), e))?;
        }
        Ok(())
    }
}

/// Addresses on `net`: the given ones reserved, the others allocated; none kept
/// if either fails.
fn allocate_addresses(
    registry: &mut Registry,
    net: &Network,
    ip: Option<IpAddr>,
    ip6: Option<IpAddr>,
) -> Result<(Option<IpNetwork>, Option<IpNetwork>)> {
    let v4 = net.subnets.iter().find(|s| s.subnet.is_ipv4()).cloned();
    let v6 = net.subnets.iter().find(|s| !s.subnet.is_ipv4()).filter(|_| net.enable_ipv6).cloned();
    let book = registry.address_book(&net.id);
    let mut take = |subnet: &netctl_model::SubnetConfig, given: Option<IpAddr>| -> Result<IpNetwork> {
        let ip = match given {
            Some(ip) => {
                book.reserve(subnet, ip)?;
                ip
            }
            None => book.allocate(subnet)?,
        };
        Ok(IpNetwork::new(ip, subnet.subnet.prefix()).expect("prefix of its subnet"))
    };
    let ipv4 = v4.as_ref().map(|s| take(s, ip)).transpose()?;
    let ipv6 = match v6.as_ref().map(|s| take(s, ip6)).transpose() {
        Ok(a) => a,
        Err(e) => {
            if let Some(a) = ipv4 {
                registry.address_book(&net.id).release(a.ip());
            }
            return Err(e);
        }
    };
    Ok((ipv4, ipv6))
}
