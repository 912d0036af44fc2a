//! The daemon's side of the resolver: which containers get a listener at
//! 127.0.0.11 (those on at least one user-defined network), the zone rebuilt from
//! the registry on every change before the API answers, and resolv.conf.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use netctl_dns::serve::{serve_tcp, serve_udp};
use netctl_dns::zone::{EndpointNames, View, Zone};
use netctl_dns::ZoneBuilder;
use netctl_kernel::dns_redirect::{install_dns_redirect, remove_dns_redirect, RESOLVER_IP};
use netctl_kernel::netns::{open_netns, run_in_netns};
use netctl_model::container::Container;
use netctl_model::Network;
use tokio::task::JoinHandle;

use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::registry::Registry;

/// Resolver sockets bound inside a container's namespace with 127.0.0.11:53
/// redirected to them, not served yet.
pub(crate) struct PreparedListener {
    udp: UdpSocket,
    tcp: TcpListener,
    udp_port: u16,
    tcp_port: u16,
    netns: PathBuf,
}

pub(crate) type EarlyListener = JoinHandle<Result<PreparedListener>>;

/// Sockets made inside the container's namespace by a thread that entered it,
/// served by the daemon: it knows which container asks without guessing. Blocking.
fn prepare_listener(path: &Path) -> Result<PreparedListener> {
    let ns = open_netns(path)?;
    let (udp, tcp) = run_in_netns(&ns, || {
        let io =
            |e| netctl_kernel::KernelError::Other { op: "bind resolver".into(), message: format!("{e}") };
        let udp = UdpSocket::bind((RESOLVER_IP, 0)).map_err(io)?;
        let tcp = TcpListener::bind((RESOLVER_IP, 0)).map_err(io)?;
        Ok((udp, tcp))
    })?;
    let port = |a: std::io::Result<SocketAddr>| {
        a.map(|a| a.port()).map_err(|e| DaemonError::Io("resolver port".into(), e))
    };
    let (udp_port, tcp_port) = (port(udp.local_addr())?, port(tcp.local_addr())?);
    install_dns_redirect(&ns, udp_port, tcp_port)?;
    Ok(PreparedListener { udp, tcp, udp_port, tcp_port, netns: path.to_path_buf() })
}

/// A container's resolver sockets, served by the daemon's runtime.
pub struct Listener {
    udp: JoinHandle<()>,
    tcp: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.udp.abort();
        self.tcp.abort();
    }
}

impl Daemon {
    /// True if the container is on a user-defined network: Docker gives the
    /// embedded resolver only there, not on the default `bridge`.
    pub(crate) fn uses_resolver(registry: &Registry, c: &Container) -> bool {
        c.netns_path.is_some()
            && c.endpoints.iter().any(|e| registry.network(&e.network_id).is_some_and(|n| !n.builtin))
    }

    /// Rebuilds what the resolver answers from the registry and swaps it in (at
    /// start and when networks change; one container's change uses `refresh_dns_for`).
    pub(crate) fn refresh_dns(&self, registry: &Registry) {
        let mut b = ZoneBuilder::default();
        for net in registry.networks().filter(|n| !n.builtin) {
            b.add_network(&net.id, &net.name, &subnets(net));
        }
        let mut zone = b.build();
        for c in registry.containers() {
            self.put_container(&mut zone, registry, c);
        }
        self.resolver.set_zone(zone);
    }

    /// One container joined, left, or changed: its names and view, and the views of
    /// the containers linking to it, are replaced in place; the zone's work does not
    /// grow with the number of containers.
    pub(crate) fn refresh_dns_for(&self, registry: &Registry, container_id: &str) {
        let linkers: Vec<&Container> = registry
            .containers()
            .filter(|c| c.links.iter().any(|l| l.container_id == container_id))
            .collect();
        let changed = registry.container(container_id);
        self.resolver.update_zone(|zone| {
            if changed.is_none() {
                zone.set_container(container_id, &[], None);
            }
            for c in changed.into_iter().chain(linkers) {
                self.put_container(zone, registry, c);
            }
        });
    }

    /// Sets the container's names (none while it is not answered,
    /// `Container::answers_names`) and its view in `zone`.
    fn put_container(&self, zone: &mut Zone, registry: &Registry, c: &Container) {
        let (addresses, view) = self.container_names(registry, c);
        let endpoints = if c.answers_names() { endpoint_names(registry, c, &addresses) } else { Vec::new() };
        // Networks made since the start are learnt here (name and subnets).
        for net in c.endpoints.iter().filter_map(|ep| registry.network(&ep.network_id)).filter(|n| !n.builtin)
        {
            zone.set_network(&net.id, &net.name, &subnets(net));
        }
        zone.set_container(&c.id, &endpoints, Some(view));
    }

    /// The addresses of each of the container's endpoints on user-defined networks,
    /// and what it may resolve.
    fn container_names(&self, registry: &Registry, c: &Container) -> (Vec<Vec<IpAddr>>, View) {
        let mut view = View::default();
        let mut internal = true;
        let mut addresses = Vec::new();
        for ep in &c.endpoints {
            let Some(net) = registry.network(&ep.network_id).filter(|n| !n.builtin) else { continue };
            addresses.push(ep.ipv4.iter().chain(ep.ipv6.iter()).map(|a| a.ip()).collect());
            view.networks.push(net.id.clone());
            internal &= net.internal;
        }
        view.internal_only = internal && !view.networks.is_empty();
        view.upstreams = c.dns.servers.iter().map(|ip| SocketAddr::new(*ip, 53)).collect();
        view.links = self.link_names(registry, c);
        (addresses, view)
    }

    /// Makes the container's listener exist exactly when it uses the resolver.
    pub(crate) fn sync_listener(&self, registry: &Registry, c: &Container) -> Result<()> {
        let wanted = Self::uses_resolver(registry, c);
        let present = self.listeners.lock().expect("not poisoned").contains_key(&c.id);
        if wanted && !present {
            let listener = self.bind_listener(c)?;
            self.listeners.lock().expect("not poisoned").insert(c.id.clone(), listener);
        } else if !wanted && present {
            self.stop_listener(c, true);
        }
        Ok(())
    }

    fn bind_listener(&self, c: &Container) -> Result<Listener> {
        let path = c.netns_path.as_ref().expect("checked by uses_resolver");
        self.serve_listener(c, prepare_listener(path)?)
    }

    /// Starts binding the listener a container joining `net` will need, on a
    /// blocking thread, so that the nft run overlaps the endpoint's creation.
    pub(crate) fn start_listener_early(&self, c: &Container, net: &Network) -> Option<EarlyListener> {
        let path = c.netns_path.clone()?;
        let needed = !net.builtin && !self.listeners.lock().expect("not poisoned").contains_key(&c.id);
        needed.then(|| tokio::task::spawn_blocking(move || prepare_listener(&path)))
    }

    /// Serves what `start_listener_early` bound, once the endpoint exists.
    pub(crate) async fn adopt_listener(&self, c: &Container, early: Option<EarlyListener>) -> Result<()> {
        let Some(early) = early else { return Ok(()) };
        let prepared = early.await.expect("listener preparation does not panic")?;
        let listener = self.serve_listener(c, prepared)?;
        self.listeners.lock().expect("not poisoned").insert(c.id.clone(), listener);
        Ok(())
    }

    /// The endpoint could not be made: undo the early listener's redirect.
    pub(crate) async fn abandon_listener(early: Option<EarlyListener>) {
        if let Some(Ok(Ok(p))) = match early {
            Some(h) => Some(h.await),
            None => None,
        } {
            if let Ok(ns) = open_netns(&p.netns) {
                let _ = remove_dns_redirect(&ns);
            }
        }
    }

    fn serve_listener(&self, c: &Container, p: PreparedListener) -> Result<Listener> {
        let (udp, tcp, udp_port, tcp_port) = (p.udp, p.tcp, p.udp_port, p.tcp_port);
        let who: Arc<str> = Arc::from(c.id.as_str());
        let io = |e| DaemonError::Io("serve resolver".into(), e);
        let udp = serve_udp(self.resolver.clone(), who.clone(), udp).map_err(io)?;
        let tcp = serve_tcp(self.resolver.clone(), who, tcp).map_err(io)?;
        tracing::debug!(container = %c.name, udp_port, tcp_port, "resolver listening at 127.0.0.11:53");
        Ok(Listener { udp, tcp })
    }

    /// Stops serving the container; `unredirect` also removes the DNAT table in its
    /// namespace (not worth ~15 ms when the namespace is about to go).
    pub(crate) fn stop_listener(&self, c: &Container, unredirect: bool) {
        if self.listeners.lock().expect("not poisoned").remove(&c.id).is_some() && unredirect {
            if let Some(Ok(ns)) = c.netns_path.as_ref().map(|p| open_netns(p)) {
                let _ = remove_dns_redirect(&ns);
            }
        }
    }

    /// The container's resolv.conf: the embedded resolver on user-defined networks
    /// (with the host's search line, ndots:0 and the upstreams named in a comment,
    /// as Docker writes it), else the host's file without loopback servers.
    /// `--dns`, `--dns-search` and `--dns-option` replace the host's servers,
    /// search line and options, as in Docker.
    pub(crate) fn resolv_conf_for(&self, registry: &Registry, c: &Container) -> String {
        let resolver = Self::uses_resolver(registry, c);
        if !resolver && c.dns == Default::default() {
            return crate::sandbox_files::host_resolv_conf();
        }
        let host = crate::sandbox_files::host_resolv_conf_raw();
        let host_lines = |key: &str| -> Vec<String> {
            host.lines().filter(|l| l.split_whitespace().next() == Some(key)).map(String::from).collect()
        };
        let mut out = String::from("# Generated by netctl.\n");
        let servers: Vec<String> = if !c.dns.servers.is_empty() {
            c.dns.servers.iter().map(|s| s.to_string()).collect()
        } else if resolver {
            self.resolver.upstreams().iter().map(|s| s.to_string()).collect()
        } else {
            crate::sandbox_files::nameservers(&host)
                .iter()
                .filter(|ip| !ip.is_loopback())
                .map(|ip| ip.to_string())
                .collect()
        };
        if resolver {
            out.push_str("nameserver 127.0.0.11\n");
        } else {
            for s in &servers {
                out.push_str(&format!("nameserver {s}\n"));
            }
        }
        if !c.dns.search.is_empty() {
            out.push_str(&format!("search {}\n", c.dns.search.join(" ")));
        } else {
            host_lines("search").iter().for_each(|l| out.push_str(&format!("{l}\n")));
        }
        let mut options = c.dns.options.clone();
        if resolver && !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".into());
        }
        if !options.is_empty() {
            out.push_str(&format!("options {}\n", options.join(" ")));
        } else {
            host_lines("options").iter().for_each(|l| out.push_str(&format!("{l}\n")));
        }
        if resolver {
            out.push_str(&format!("# ExtServers: [{}]\n", servers.join(" ")));
        }
        out
    }

    /// The servers names that are not containers' go to: `[dns] upstream` if set,
    /// else the host's resolv.conf (systemd-resolved's real servers if it is in use).
    pub(crate) fn load_upstreams(&self) {
        let upstreams: Vec<SocketAddr> = if !self.config.dns.upstream.is_empty() {
            self.config.dns.upstream.clone()
        } else {
            crate::sandbox_files::nameservers(&crate::sandbox_files::host_resolv_conf_raw())
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 53))
                .collect()
        };
        tracing::info!(?upstreams, "resolver upstreams");
        self.resolver.set_upstreams(upstreams);
    }
}

pub type Listeners = std::sync::Mutex<HashMap<String, Listener>>;

/// A network's subnets as the zone takes them: reverse names inside are answered
/// by the resolver, never forwarded.
fn subnets(net: &Network) -> Vec<(IpAddr, u8)> {
    net.subnets.iter().map(|s| (s.subnet.network(), s.subnet.prefix())).collect()
}

/// The container's endpoints on user-defined networks as the zone takes them;
/// `addresses` is `container_names`' list, in the same order.
fn endpoint_names<'a>(
    registry: &'a Registry,
    c: &'a Container,
    addresses: &'a [Vec<IpAddr>],
) -> Vec<EndpointNames<'a>> {
    c.endpoints
        .iter()
        .filter_map(|ep| registry.network(&ep.network_id).filter(|n| !n.builtin).map(|net| (ep, net)))
        .zip(addresses)
        .map(|((ep, net), addresses)| EndpointNames {
            network_id: &net.id,
            network_name: &net.name,
            container_name: &c.name,
            short_id: c.short_id(),
            hostname: &c.hostname,
            aliases: &ep.aliases,
            addresses,
        })
        .collect()
}
