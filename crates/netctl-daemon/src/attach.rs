//! Other runtimes' containers: `netctl container attach`, the CNI plugin
//! (netctl-cni) and the OCI hook (`netctl oci-hook`) all come here. The runtime
//! owns the namespace and the processes; netctl gives it endpoints on networks,
//! names, aliases and published ports, journaled like any container change.
//! An attachment may carry the runtime's own key (CNI's container id, the OCI
//! state's id), so that DEL, CHECK and GC find it again and a second ADD for
//! the same namespace adds a network instead of failing.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use chrono::Utc;
use netctl_kernel::netns;
use netctl_model::api_containers::{
    AttachedDns, AttachedEndpoint, Attachment, AttachmentDetachRequest, ContainerAttachRequest,
    NetworkDisconnectRequest,
};
use netctl_model::container::{
    parse_mac, validate_hostname, Container, DnsSettings, NetworkMode, Origin, ProcessConfig, RunState,
    Status,
};
use netctl_model::network::DEFAULT_NETWORK;
use netctl_model::ports::{parse_publish, PortBinding};
use netctl_model::{id, ModelError, Network};

use crate::containers::new_unique_id;
use crate::daemon::Daemon;
use crate::endpoints::JoinRequest;
use crate::error::{conflict, DaemonError, Result};
use crate::journal::Direction;
use crate::port_proxy;
use crate::registry::Registry;

/// One network of an attach request, before it is looked up.
struct WantedNetwork<'a> {
    name: &'a str,
    aliases: &'a [String],
    ip: Option<&'a str>,
    mac: Option<&'a str>,
    ifname: Option<&'a str>,
}

fn wanted_networks(req: &ContainerAttachRequest) -> Vec<WantedNetwork<'_>> {
    let mut out = Vec::new();
    if req.network.is_some() || req.networks.is_empty() {
        out.push(WantedNetwork {
            name: req.network.as_deref().unwrap_or(DEFAULT_NETWORK),
            aliases: &req.aliases,
            ip: req.ip_address.as_deref(),
            mac: req.mac_address.as_deref(),
            ifname: req.ifname.as_deref(),
        });
    }
    out.extend(req.networks.iter().map(|n| WantedNetwork {
        name: &n.name,
        aliases: &n.aliases,
        ip: n.ip_address.as_deref(),
        mac: n.mac_address.as_deref(),
        ifname: n.ifname.as_deref(),
    }));
    out
}

fn attachment_id_of(c: &Container) -> Option<&str> {
    match &c.origin {
        Origin::Attached { attachment_id, .. } => attachment_id.as_deref(),
        Origin::Netctl => None,
    }
}

impl Daemon {
    pub async fn attach_container(&self, req: &ContainerAttachRequest) -> Result<Attachment> {
        let path = match (&req.netns_path, req.pid) {
            (Some(p), None) => PathBuf::from(p),
            (None, Some(pid)) => PathBuf::from(format!("/proc/{pid}/ns/net")),
            _ => return Err(ModelError::invalid("give exactly one of --netns PATH or --pid PID").into()),
        };
        let meta = std::fs::metadata(&path).map_err(|e| {
            ModelError::invalid(format!("cannot use network namespace {}: {e}", path.display()))
        })?;
        let own = std::fs::metadata("/proc/self/ns/net")
            .map_err(|e| DaemonError::Io("stat own netns".into(), e))?;
        if meta.dev() == own.dev() && meta.ino() == own.ino() {
            return Err(ModelError::invalid(format!(
                "{} is the host's own network namespace; netctl attaches only a container's",
                path.display()
            ))
            .into());
        }
        netns::open_netns(&path).map_err(|e| ModelError::invalid(format!("not a network namespace: {e}")))?;
        if let Some(a) = &req.attachment_id {
            if a.is_empty() || a.len() > 256 || a.chars().any(|ch| ch.is_control()) {
                return Err(
                    ModelError::invalid("invalid attachment id: 1 to 256 printable characters").into()
                );
            }
        }
        let mut registry = self.registry.lock().await;
        let same_ns = registry
            .containers()
            .find(|c| {
                matches!(&c.origin, Origin::Attached { dev, ino, .. } if *dev == meta.dev() && *ino == meta.ino())
            })
            .cloned();
        if let Some(before) = same_ns {
            if req.attachment_id.is_none() || attachment_id_of(&before) != req.attachment_id.as_deref() {
                return Err(conflict(format!("network namespace {} is already attached", path.display())));
            }
            return self.attach_more(&mut registry, before, req).await;
        }
        let name = self.pick_container_name(&registry, Some(&req.name))?;
        let mut joins = Vec::new();
        for w in wanted_networks(req) {
            let net = registry.find_network(w.name)?.clone();
            if joins.iter().any(|(n, _): &(Network, JoinRequest)| n.id == net.id) {
                return Err(ModelError::invalid(format!("network {} is named twice", net.name)).into());
            }
            let join = join_request(&w, &net)?;
            joins.push((net, join));
        }
        let mut ports = parse_bindings(&req.port_bindings, &joins[0].0)?;
        // Bound before anything is made: a port in use fails the attach cleanly.
        let sockets = port_proxy::bind_all(&mut ports)
            .map_err(|e| conflict(format!("driver failed programming external connectivity: {e}")))?;
        let id = new_unique_id(&registry);
        let hostname = req.hostname.clone().unwrap_or_else(|| id::short_id(&id).to_string());
        validate_hostname(&hostname)?;
        let mut exposed = Vec::new();
        for b in &ports {
            if !exposed.contains(&b.container) {
                exposed.push(b.container);
            }
        }
        let mut c = Container {
            id,
            name,
            created: Utc::now(),
            hostname,
            origin: Origin::Attached {
                netns_path: path.clone(),
                dev: meta.dev(),
                ino: meta.ino(),
                attachment_id: req.attachment_id.clone(),
            },
            network_mode: NetworkMode::Networks,
            process: ProcessConfig {
                cmd: Vec::new(),
                env: Vec::new(),
                user_env: Vec::new(),
                workdir: None,
                tty: false,
                interactive: false,
                detach: false,
                auto_remove: false,
            },
            state: RunState { status: Status::Running, started_at: Some(Utc::now()), ..RunState::created() },
            netns_path: Some(path),
            endpoints: Vec::new(),
            mac_address: None,
            dns: DnsSettings::default(),
            exposed,
            ports,
            links: Vec::new(),
            labels: Default::default(),
            generation: 0,
        };
        // Every address is reserved and every name in the record before the intent.
        for (net, join) in &joins {
            match self.plan_endpoint_claimed(&mut registry, &c, net, join.clone()).await {
                Ok(ep) => c.endpoints.push(ep),
                Err(e) => {
                    for ep in &c.endpoints {
                        self.release_planned(&mut registry, ep);
                        if registry.network(&ep.network_id).is_some_and(|n| n.is_overlay()) {
                            self.release_in_cluster(ep).await;
                        }
                    }
                    return Err(e);
                }
            }
        }
        let intent = match self.journal.begin("attach", Direction::Adds, None, Some(&mut c)) {
            Ok(i) => i,
            Err(e) => {
                self.settle(&mut registry, &c, None).await;
                return Err(e.into());
            }
        };
        let made = async {
            let inside = self.netlink_in(&c).await?;
            // The resolver listens on 127.0.0.11, which needs loopback up; a fresh
            // namespace (ip netns add, runc without a network) has it down.
            inside.loopback_up().await?;
            crate::step!("attach.endpoint");
            for ((net, _), ep) in joins.iter().zip(c.endpoints.clone()) {
                self.make_endpoint(&c, &inside, net, &ep).await?;
            }
            registry.insert_container(c.clone());
            self.sync_listener(&registry, &c)?;
            crate::step!("attach.publish");
            self.publish_ports(&registry, &c, sockets).await?;
            crate::step!("attach.commit");
            self.commit(&intent, &c)
        }
        .await;
        if let Err(e) = made {
            self.undo(&mut registry, &intent, &c).await;
            return Err(e);
        }
        tracing::info!(container = %c.name, netns = ?c.netns_path, attachment = ?req.attachment_id,
            "attached another runtime's namespace");
        self.events.container_created(&c, None);
        for (net, _) in &joins {
            self.events.network("connect", net, Some(&c));
        }
        self.refresh_dns_for(&registry, &c.id);
        Ok(self.attachment_view(&registry, &c))
    }

    /// A further ADD for a namespace attached already under the same key: the
    /// networks it is not on are joined one by one (each a journaled connect);
    /// one it is on already is answered as it is.
    async fn attach_more(
        &self,
        registry: &mut Registry,
        before: Container,
        req: &ContainerAttachRequest,
    ) -> Result<Attachment> {
        let mut c = before;
        for w in wanted_networks(req) {
            let net = registry.find_network(w.name)?.clone();
            if c.endpoint_on(&net.id).is_some() {
                continue;
            }
            let join = join_request(&w, &net)?;
            self.join_network(registry, &net, &c, join).await?;
            c = registry.container(&c.id).expect("joined just now").clone();
        }
        if !req.port_bindings.is_empty() {
            let wanted = parse_bindings(
                &req.port_bindings,
                registry.network(&c.endpoints[0].network_id).expect("joined"),
            )?;
            let same = wanted.len() == c.ports.len()
                && wanted.iter().all(|w| {
                    c.ports.iter().any(|p| {
                        p.container == w.container && (w.host_port == 0 || w.host_port == p.host_port)
                    })
                });
            if !same {
                return Err(ModelError::invalid(format!(
                    "container {} is attached already with other published ports; detach it first",
                    c.name
                ))
                .into());
            }
        }
        Ok(self.attachment_view(registry, &c))
    }

    /// Attachments (attached containers with a runtime's key), or the one with `key`.
    pub async fn list_attachments(&self, key: Option<&str>) -> Vec<Attachment> {
        let registry = self.registry.lock().await;
        let mut list: Vec<&Container> = registry
            .containers()
            .filter(|c| attachment_id_of(c).is_some_and(|a| key.is_none_or(|k| k == a)))
            .collect();
        list.sort_by_key(|c| c.created);
        list.into_iter().map(|c| self.attachment_view(&registry, c)).collect()
    }

    /// CNI's DEL: the attachment leaves `network` (the whole container goes when
    /// that is its last network, or no network is named). Nothing to undo is fine.
    pub async fn detach_attachment(&self, req: &AttachmentDetachRequest) -> Result<()> {
        let mut registry = self.registry.lock().await;
        let Some(c) =
            registry.containers().find(|c| attachment_id_of(c) == Some(req.attachment_id.as_str())).cloned()
        else {
            return Ok(());
        };
        if let Some(name) = &req.network {
            let Ok(net) = registry.find_network(name).cloned() else { return Ok(()) };
            if c.endpoint_on(&net.id).is_none() {
                return Ok(());
            }
            if c.endpoints.len() > 1 {
                drop(registry);
                let disc = NetworkDisconnectRequest { container: c.id.clone(), force: true };
                return match self.disconnect(&net.id, &disc).await {
                    Err(DaemonError::Model(ModelError::NotFound(_))) => Ok(()),
                    other => other,
                };
            }
        }
        self.remove_journaled(&mut registry, &c, "detach").await?;
        tracing::info!(container = %c.name, attachment = %req.attachment_id, "attachment removed");
        Ok(())
    }

    /// CNI's CHECK: the attachment is on `network` and its interface is there,
    /// up, with its address. An error says what is missing.
    pub async fn check_attachment(&self, key: &str, network: &str) -> Result<()> {
        let registry = self.registry.lock().await;
        let c = registry
            .containers()
            .find(|c| attachment_id_of(c) == Some(key))
            .cloned()
            .ok_or_else(|| ModelError::not_found(format!("no attachment {key}")))?;
        let net = registry.find_network(network)?.clone();
        drop(registry);
        let ep = c.endpoint_on(&net.id).ok_or_else(|| {
            ModelError::not_found(format!("container {} is not on network {}", c.name, net.name))
        })?;
        let inside = self.netlink_in(&c).await?;
        let link = inside
            .link_by_name(&ep.ifname)
            .await?
            .ok_or_else(|| conflict(format!("interface {} of container {} is gone", ep.ifname, c.name)))?;
        let addrs = inside.addresses(link.index).await?;
        let want = ep.ipv4.expect("IPv4 endpoint");
        if !addrs.contains(&want) {
            return Err(conflict(format!(
                "interface {} of container {} lacks its address {want}",
                ep.ifname, c.name
            )));
        }
        if self.netlink.link_by_name(&ep.host_ifname).await?.is_none() {
            return Err(conflict(format!(
                "the host end {} of container {}'s veth is gone",
                ep.host_ifname, c.name
            )));
        }
        Ok(())
    }

    pub(crate) fn attachment_view(&self, registry: &Registry, c: &Container) -> Attachment {
        let resolv_conf = self.resolv_conf_for(registry, c);
        let mut dns = AttachedDns::default();
        for line in resolv_conf.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => dns.nameservers.extend(words.map(String::from)),
                Some("search") => dns.search.extend(words.map(String::from)),
                Some("options") => dns.options.extend(words.map(String::from)),
                _ => {}
            }
        }
        Attachment {
            id: c.id.clone(),
            name: c.name.clone(),
            warnings: Vec::new(),
            attachment_id: attachment_id_of(c).map(String::from),
            netns_path: c.netns_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            endpoints: c
                .endpoints
                .iter()
                .map(|ep| {
                    let net = registry.network(&ep.network_id);
                    AttachedEndpoint {
                        network: net.map(|n| n.name.clone()).unwrap_or_default(),
                        network_id: ep.network_id.clone(),
                        endpoint_id: ep.id.clone(),
                        ifname: ep.ifname.clone(),
                        host_ifname: ep.host_ifname.clone(),
                        bridge: net.map(|n| n.bridge.clone()).unwrap_or_default(),
                        mac_address: ep.mac.clone(),
                        ip_address: ep.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                        gateway: ep.gateway.map(|g| g.to_string()).unwrap_or_default(),
                        default_route: ep.default_route,
                        aliases: ep.aliases.clone(),
                    }
                })
                .collect(),
            ports: c
                .ports
                .iter()
                .map(|b| format!("{} -> {}:{}", b.container, b.host_ip_or_any(), b.host_port))
                .collect(),
            hosts: self.hosts_for(registry, c),
            resolv_conf,
            dns,
        }
    }
}

fn join_request(w: &WantedNetwork<'_>, net: &Network) -> Result<JoinRequest> {
    Ok(JoinRequest {
        mac: w.mac.map(parse_mac).transpose()?,
        ifname: w.ifname.map(String::from),
        ..JoinRequest::parse(w.aliases, w.ip, net)?
    })
}

/// `-p`-style bindings of an attach; they need a first network that is not internal.
fn parse_bindings(specs: &[String], first: &Network) -> Result<Vec<PortBinding>> {
    let mut bindings = Vec::new();
    for p in specs {
        bindings.extend(parse_publish(p)?);
    }
    netctl_model::ports::check_published_count(&bindings)?;
    if !bindings.is_empty() && first.internal {
        return Err(ModelError::invalid(format!(
            "network {} is internal: its containers cannot publish ports",
            first.name
        ))
        .into());
    }
    Ok(bindings)
}
