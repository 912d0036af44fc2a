//! The daemon's shared core: configuration, the kernel connection, the store and
//! the registry behind one lock. Operations live in their own modules.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use netctl_kernel::Netlink;
use tokio::sync::{Mutex, Notify};

use crate::config::Config;
use crate::error::Result;
use crate::registry::Registry;
use crate::store::Collection;

pub struct Daemon {
    pub config: Config,
    pub(crate) netlink: Netlink,
    pub(crate) networks_store: Collection,
    pub(crate) containers_store: Collection,
    /// Intents of changes under way (see journal.rs).
    pub(crate) journal: crate::journal::Journal,
    /// A cgroup per container: every process it started.
    pub(crate) cgroups: crate::cgroups::Cgroups,
    /// Wakes the monitor at once (a shim ended) instead of at its next poll.
    pub(crate) monitor_wakeup: Arc<Notify>,
    /// Netlink connections inside recently used containers' namespaces.
    pub(crate) netns_links: std::sync::Mutex<crate::netns_links::NetnsLinks>,
    pub(crate) resolver: Arc<netctl_dns::Resolver>,
    /// The resolver's kernel fast path, or why there is none.
    pub(crate) kernel_dns: crate::kernel_dns::KernelDnsState,
    pub(crate) listeners: crate::dns::Listeners,
    /// Relays of published ports, per container.
    pub(crate) relays: crate::port_proxy::RelayTable,
    /// What the `inet netctl` table says now, to skip rewriting it unchanged.
    pub(crate) firewall_applied: std::sync::Mutex<Option<netctl_kernel::firewall::FirewallSpec>>,
    /// Held for the whole of every change, kernel work included, so the kernel and
    /// the store change in the same order as the registry.
    pub(crate) registry: Mutex<Registry>,
    /// Docker event messages of committed changes (`GET /events`).
    pub(crate) events: crate::events::Events,
    /// This host's part in a cluster (`[cluster]`), if any.
    pub(crate) cluster: Option<Arc<crate::cluster::ClusterService>>,
}

impl Daemon {
    /// Loads the stored state. Nothing in the kernel is touched yet: see `reconcile`.
    pub fn load(
        config: Config,
        netlink: Netlink,
        cluster: Option<Arc<crate::cluster::ClusterService>>,
    ) -> Result<Self> {
        for root in [&config.data_root, &config.exec_root] {
            crate::store::tighten_permissions(root).map_err(|e| {
                crate::error::DaemonError::Io(format!("make {} root's alone (0700/0600)", root.display()), e)
            })?;
        }
        let networks_store = Collection::open(&config.data_root, "networks")?;
        let containers_store = Collection::open(&config.data_root, "containers")?;
        let journal = crate::journal::Journal::open(&config.data_root)?;
        let mut registry = Registry::default();
        for net in networks_store.load_all()? {
            registry.insert_network(net);
        }
        for c in containers_store.load_all()? {
            registry.insert_container(c);
        }
        let resolver = Arc::new(netctl_dns::Resolver::new(config.dns.ttl));
        let kernel_dns = crate::kernel_dns::KernelDnsState::start(
            config.dns.kernel_fast_path,
            config.dns.ttl,
            &resolver,
            &config.data_root,
        );
        Ok(Self {
            config: config.clone(),
            netlink,
            networks_store,
            containers_store,
            journal,
            cgroups: crate::cgroups::Cgroups::open(&config.cgroup_parent),
            monitor_wakeup: Arc::new(Notify::new()),
            netns_links: std::sync::Mutex::default(),
            resolver,
            kernel_dns,
            listeners: std::sync::Mutex::default(),
            relays: std::sync::Mutex::new(HashMap::new()),
            firewall_applied: std::sync::Mutex::new(None),
            registry: Mutex::new(registry),
            events: crate::events::Events::default(),
            cluster,
        })
    }

    pub fn resolv_conf(&self) -> &Path {
        Path::new("/etc/resolv.conf")
    }
}
