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
use netctl_kernel::dns_redirect::{
    ensure_dns_redirect, install_dns_redirect, remove_dns_redirect, RESOLVER_IP,
};
use netctl_kernel::netns::{open_netns, run_in_netns};
use netctl_model::container::{Container, NetworkMode};
use netctl_model::Network;
use tokio::task::JoinHandle;

use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::registry::Registry;

/// Resolver sockets bound inside a container's namespace with 127.0.0.11:53
/// redirected to them, not served yet: queries sent to them wait in the socket.
pub(crate) struct PreparedListener {
    udp: UdpSocket,
    tcp: TcpListener,
    udp_port: u16,
    tcp_port: u16,
    netns: PathBuf,
    container_id: String,
    ports_file: PathBuf,
}

pub(crate) type EarlyListener = JoinHandle<Result<PreparedListener>>;

/// Where the ports of each container's listener are written down (exec root,
/// gone at reboot), once its namespace's redirect points at them.
fn ports_file(exec_root: &Path, container_id: &str) -> PathBuf {
    exec_root.join("resolver-ports").join(container_id)
}

fn read_ports(file: &Path) -> Option<(u16, u16)> {
    let text = std::fs::read_to_string(file).ok()?;
    let mut it = text.split_whitespace().map(|p| p.parse::<u16>().ok());
    Some((it.next()??, it.next()??))
}

fn write_ports(file: &Path, udp: u16, tcp: u16) {
    let write = || -> std::io::Result<()> {
        crate::store::create_private_dir(file.parent().expect("has a parent"))?;
        crate::store::write_private(file, format!("{udp} {tcp}\n").as_bytes())
    };
    if let Err(e) = write() {
        tracing::warn!(file = %file.display(), error = %e, "cannot write down the resolver's ports");
    }
}

/// The container's resolver sockets, inside its namespace, with 127.0.0.11:53
/// redirected to them. Blocking. At a restart it keeps what it can, so that no
/// query is answered wrong and as few as possible go unanswered:
/// - sockets systemd kept in its store for the container are taken back (queries
///   sent while no daemon ran are in them) if they are of this namespace;
/// - else the ports written down last time are bound again, so the namespace's
///   redirect stays right while no daemon runs (a question to a closed port there
///   gets no answer, not an error: the client asks again);
/// - the redirect is replaced only when the ports changed (a replace waits ~15 ms).
///
/// The ports file is removed before a redirect to other ports is made and written
/// after, so a file that exists names the ports the redirect points at.
fn prepare_listener(path: &Path, container_id: &str, exec_root: &Path) -> Result<PreparedListener> {
    let ports_file = ports_file(exec_root, container_id);
    let remembered = read_ports(&ports_file);
    let ns = open_netns(path)?;
    let stored = crate::systemd::take_stored(container_id).filter(|(udp, _)| {
        let same = same_netns(udp, path);
        if !same {
            tracing::info!(
                container = container_id,
                "stored resolver sockets are of another namespace: new ones"
            );
            crate::systemd::forget(container_id);
        }
        same
    });
    let from_store = stored.is_some();
    let (udp, tcp) = match stored {
        Some(sockets) => sockets,
        None => run_in_netns(&ns, move || {
            let io =
                |e| netctl_kernel::KernelError::Other { op: "bind resolver".into(), message: format!("{e}") };
            let again = remembered.and_then(|(u, t)| {
                let udp = UdpSocket::bind((RESOLVER_IP, u)).ok()?;
                let tcp = TcpListener::bind((RESOLVER_IP, t)).ok()?;
                Some((udp, tcp))
            });
            match again {
                Some(sockets) => Ok(sockets),
                None => {
                    let udp = UdpSocket::bind((RESOLVER_IP, 0)).map_err(io)?;
                    let tcp = TcpListener::bind((RESOLVER_IP, 0)).map_err(io)?;
                    Ok((udp, tcp))
                }
            }
        })?,
    };
    let port = |a: std::io::Result<SocketAddr>| {
        a.map(|a| a.port()).map_err(|e| DaemonError::Io("resolver port".into(), e))
    };
    let (udp_port, tcp_port) = (port(udp.local_addr())?, port(tcp.local_addr())?);
    if remembered == Some((udp_port, tcp_port)) {
        ensure_dns_redirect(&ns, udp_port, tcp_port)?;
    } else {
        let _ = std::fs::remove_file(&ports_file);
        install_dns_redirect(&ns, udp_port, tcp_port)?;
        write_ports(&ports_file, udp_port, tcp_port);
    }
    if !from_store {
        crate::systemd::store(container_id, &udp, &tcp);
    }
    crate::kernel_dns::attach_in(&ns, container_id);
    let (netns, container_id) = (path.to_path_buf(), container_id.to_string());
    Ok(PreparedListener { udp, tcp, udp_port, tcp_port, netns, container_id, ports_file })
}

/// True if the socket belongs to the network namespace pinned at `path`.
fn same_netns(socket: &UdpSocket, path: &Path) -> bool {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::MetadataExt;
    const SIOCGSKNS: libc::c_ulong = 0x894C;
    // SAFETY: SIOCGSKNS takes no argument and returns a new descriptor (or -1).
    let fd = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSKNS as _) };
    if fd < 0 {
        return false;
    }
    // SAFETY: fd is a fresh descriptor the kernel just gave us.
    let ns = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    match (ns.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
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

/// The listeners being served, and until the daemon's first zone is in place
/// (during the start), the containers whose listener is wanted: they are bound
/// all at once, in parallel, and served only once the zone is whole, so that no
/// listener ever answers from a zone that lacks names (REFUSED, NXDOMAIN).
#[derive(Default)]
pub struct ListenerTable {
    served: HashMap<String, Listener>,
    started: bool,
    wanted: Vec<(String, String, PathBuf)>,
}

impl ListenerTable {
    fn contains(&self, id: &str) -> bool {
        self.served.contains_key(id) || self.wanted.iter().any(|(w, _, _)| w == id)
    }
}

/// Namespaces prepared at once at start: each preparation is mostly waiting on
/// the kernel (setns, nftables commits), so threads overlap well on 2 cores.
const START_THREADS: usize = 16;

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
        if let Some(cluster) = &self.cluster {
            cluster.put_all(&mut zone, registry);
        }
        self.resolver.set_zone(zone);
        self.serve_wanted_listeners();
    }

    /// The first zone is in place: bind (or take back) the listeners wanted at
    /// start, in parallel, and serve them. Until now their sockets (kept across
    /// the restart) held the queries sent to them.
    fn serve_wanted_listeners(&self) {
        let wanted = {
            let mut table = self.listeners.lock().expect("not poisoned");
            if table.started {
                return;
            }
            table.started = true;
            std::mem::take(&mut table.wanted)
        };
        let started = std::time::Instant::now();
        let exec_root = self.config.exec_root.as_path();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let prepared: Vec<(usize, Result<PreparedListener>)> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..START_THREADS.min(wanted.len()))
                .map(|_| {
                    s.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((id, _, path)) = wanted.get(i) else { break };
                            done.push((i, prepare_listener(path, id, exec_root)));
                        }
                        done
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().expect("listener preparation does not panic")).collect()
        });
        let mut served = 0;
        for (i, p) in prepared {
            let (id, name, _) = &wanted[i];
            match p.and_then(|p| self.serve_listener(id, name, p)) {
                Ok(listener) => {
                    self.listeners.lock().expect("not poisoned").served.insert(id.clone(), listener);
                    served += 1;
                }
                Err(e) => {
                    tracing::error!(container = %name, error = %e, "cannot restore the resolver listener")
                }
            }
        }
        self.remove_stale_ports_files();
        let released = crate::systemd::release_unclaimed();
        tracing::info!(
            listeners = served,
            released_stored = released,
            ms = started.elapsed().as_millis() as u64,
            "resolver listeners restored"
        );
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
        // Docker forwards single labels unless the container set ndots itself: its
        // stub then tries the search domains first, and the bare name is not sent.
        view.forward_single_label =
            self.config.dns.forward_single_label && !c.dns.options.iter().any(|o| o.starts_with("ndots:"));
        (addresses, view)
    }

    /// Makes the container's listener exist exactly when it uses the resolver.
    pub(crate) fn sync_listener(&self, registry: &Registry, c: &Container) -> Result<()> {
        let wanted = Self::uses_resolver(registry, c);
        let mut table = self.listeners.lock().expect("not poisoned");
        let present = table.contains(&c.id);
        if wanted && !present && !table.started {
            let path = c.netns_path.clone().expect("checked by uses_resolver");
            table.wanted.push((c.id.clone(), c.name.clone(), path));
            return Ok(());
        }
        drop(table);
        if wanted && !present {
            let listener = self.bind_listener(c)?;
            self.listeners.lock().expect("not poisoned").served.insert(c.id.clone(), listener);
        } else if !wanted && present {
            self.stop_listener(c, true);
        }
        Ok(())
    }

    fn bind_listener(&self, c: &Container) -> Result<Listener> {
        let path = c.netns_path.as_ref().expect("checked by uses_resolver");
        self.serve_listener(&c.id, &c.name, prepare_listener(path, &c.id, &self.config.exec_root)?)
    }

    /// Starts binding the listener a container joining `net` will need, on a
    /// blocking thread, so that the nft run overlaps the endpoint's creation.
    pub(crate) fn start_listener_early(&self, c: &Container, net: &Network) -> Option<EarlyListener> {
        let path = c.netns_path.clone()?;
        let needed = !net.builtin && !self.listeners.lock().expect("not poisoned").contains(&c.id);
        let (id, exec_root) = (c.id.clone(), self.config.exec_root.clone());
        needed.then(|| tokio::task::spawn_blocking(move || prepare_listener(&path, &id, &exec_root)))
    }

    /// Serves what `start_listener_early` bound, once the endpoint exists.
    pub(crate) async fn adopt_listener(&self, c: &Container, early: Option<EarlyListener>) -> Result<()> {
        let Some(early) = early else { return Ok(()) };
        let prepared = early.await.expect("listener preparation does not panic")?;
        let listener = self.serve_listener(&c.id, &c.name, prepared)?;
        self.listeners.lock().expect("not poisoned").served.insert(c.id.clone(), listener);
        Ok(())
    }

    /// The endpoint could not be made: undo the early listener's redirect.
    pub(crate) async fn abandon_listener(early: Option<EarlyListener>) {
        if let Some(Ok(Ok(p))) = match early {
            Some(h) => Some(h.await),
            None => None,
        } {
            crate::systemd::forget(&p.container_id);
            let _ = std::fs::remove_file(&p.ports_file);
            if let Ok(ns) = open_netns(&p.netns) {
                let _ = remove_dns_redirect(&ns);
            }
        }
    }

    /// Ports files of containers that have no listener now (gone while no daemon ran).
    fn remove_stale_ports_files(&self) {
        let dir = self.config.exec_root.join("resolver-ports");
        let Ok(entries) = std::fs::read_dir(&dir) else { return };
        let table = self.listeners.lock().expect("not poisoned");
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !table.served.contains_key(name.to_string_lossy().as_ref()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// The listener's sockets are closed for good: out of systemd's store, and
    /// its ports no longer written down.
    fn forget_listener(&self, container_id: &str) {
        crate::systemd::forget(container_id);
        let _ = std::fs::remove_file(ports_file(&self.config.exec_root, container_id));
    }

    fn serve_listener(&self, id: &str, name: &str, p: PreparedListener) -> Result<Listener> {
        self.kernel_dns_listener(id, &p.udp, p.udp_port);
        let (udp, tcp, udp_port, tcp_port) = (p.udp, p.tcp, p.udp_port, p.tcp_port);
        let who: Arc<str> = Arc::from(id);
        let io = |e| DaemonError::Io("serve resolver".into(), e);
        let udp = serve_udp(self.resolver.clone(), who.clone(), udp).map_err(io)?;
        let tcp = serve_tcp(self.resolver.clone(), who, tcp).map_err(io)?;
        tracing::debug!(container = %name, udp_port, tcp_port, "resolver listening at 127.0.0.11:53");
        Ok(Listener { udp, tcp })
    }

    /// Stops serving the container; `unredirect` also removes the DNAT table in its
    /// namespace (not worth ~15 ms when the namespace is about to go).
    pub(crate) fn stop_listener(&self, c: &Container, unredirect: bool) {
        let removed = {
            let mut table = self.listeners.lock().expect("not poisoned");
            table.wanted.retain(|(id, _, _)| id != &c.id);
            table.served.remove(&c.id)
        };
        if removed.is_some() {
            self.kernel_dns_forget(&c.id);
            self.forget_listener(&c.id);
        }
        if removed.is_some() && unredirect {
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
    /// With `--net host`, the host's own file (loopback servers too: it is the
    /// host's namespace), with those flags applied if given, as Docker does.
    pub(crate) fn resolv_conf_for(&self, registry: &Registry, c: &Container) -> String {
        let resolver = Self::uses_resolver(registry, c);
        let host_net = c.network_mode == NetworkMode::Host;
        if host_net && c.dns == Default::default() {
            return std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        }
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
                .filter(|ip| host_net || !ip.is_loopback())
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

pub type Listeners = std::sync::Mutex<ListenerTable>;

/// A network's subnets as the zone takes them: reverse names inside are answered
/// by the resolver, never forwarded.
pub(crate) fn subnets(net: &Network) -> Vec<(IpAddr, u8)> {
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
