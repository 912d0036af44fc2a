//! This host in a cluster (`[cluster]` in netctl.toml): what it publishes of its
//! own containers in etcd and what it applies of the others'. The crate
//! `netctl-cluster` does the talking to etcd; this module turns what it reads into
//! kernel state (VXLAN forwarding and neighbour entries, overlay bridges) and
//! resolver names, and keeps what this host published true.
//!
//! One loop (`agent`) owns the other hosts' endpoints: each time etcd is reachable
//! again it re-publishes this host's endpoints, reads a whole snapshot, applies the
//! difference and then follows the watch until it breaks. So an event missed while
//! etcd was away, a compacted history or a restarted daemon all end in the same
//! place: the kernel and the zone as etcd says, this host's keys as its registry says.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use netctl_cluster::{
    ClaimOutcome, ClusterOptions, EndpointRecord, HostRecord, PublishedEndpoint, Session, Snapshot, TlsFiles,
    WatchEvent,
};
use netctl_dns::zone::{EndpointNames, Zone};
use netctl_model::container::{parse_mac, Container, Endpoint};
use netctl_model::Network;

use crate::config::ClusterConfig;
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::registry::Registry;

/// (network id, host id, endpoint id)
type RemoteKey = (String, String, String);

pub struct ClusterService {
    pub session: Arc<Session>,
    pub host_id: String,
    pub config: ClusterConfig,
    /// Other hosts' endpoints as this host has applied them (kernel and zone).
    remote: std::sync::Mutex<BTreeMap<RemoteKey, EndpointRecord>>,
    /// Addresses of overlay networks freed lately (network id, address): a
    /// container that takes one on another host is announced to this host's
    /// containers, which may still have the old holder's MAC cached.
    freed: std::sync::Mutex<BTreeMap<(String, IpAddr), std::time::Instant>>,
}

/// How long a freed address is remembered: longer than a neighbour entry stays
/// cached without use (base_reachable_time 30 s, ×1.5, plus gc_stale_time 60 s).
const FREED_MEMORY: Duration = Duration::from_secs(120);

impl ClusterService {
    /// The host's identity (made once, kept in the state) and a session with etcd,
    /// resuming the lease of the last run if etcd still holds it.
    pub async fn connect(config: &ClusterConfig, data_root: &std::path::Path) -> anyhow::Result<Arc<Self>> {
        let dir = data_root.join("cluster");
        crate::store::create_private_dir(&dir)?;
        let id_file = dir.join("host-id");
        let host_id = match std::fs::read_to_string(&id_file) {
            Ok(t) if t.trim().len() == 16 => t.trim().to_string(),
            _ => {
                let id = hex::encode(rand::random::<[u8; 8]>());
                crate::store::write_private(&id_file, format!("{id}\n").as_bytes())?;
                id
            }
        };
        let previous = std::fs::read_to_string(dir.join("lease"))
            .ok()
            .and_then(|t| i64::from_str_radix(t.trim(), 16).ok());
        let tls = config.ca.as_ref().map(|ca| TlsFiles {
            ca: ca.clone(),
            cert: config.cert.clone(),
            key: config.key.clone(),
        });
        let options = ClusterOptions {
            endpoints: config.etcd.clone(),
            ttl: config.ttl,
            request_timeout: Duration::from_secs(2),
            tls,
        };
        let session = Session::start(options, previous).await?;
        // The lease's id is written down at every change, for the next run.
        let mut status = session.subscribe();
        let lease_file = dir.join("lease");
        tokio::spawn(async move {
            while status.changed().await.is_ok() {
                let lease = status.borrow().lease;
                if let Some(l) = lease {
                    let _ = crate::store::write_private(&lease_file, format!("{l:x}\n").as_bytes());
                }
            }
        });
        tracing::info!(host = %host_id, etcd = %config.etcd.join(","), advertise = %config.advertise, "cluster configured");
        Ok(Arc::new(Self {
            session,
            host_id,
            config: config.clone(),
            remote: Default::default(),
            freed: Default::default(),
        }))
    }

    /// The record this host's endpoint is published with.
    pub(crate) fn record_of(&self, c: &Container, ep: &Endpoint) -> EndpointRecord {
        EndpointRecord {
            container_id: c.id.clone(),
            container_name: c.name.clone(),
            short_id: c.short_id().to_string(),
            hostname: c.hostname.clone(),
            aliases: ep.aliases.clone(),
            ipv4: ep.ipv4.map(|a| a.ip()),
            ipv6: ep.ipv6.map(|a| a.ip()),
            mac: ep.mac.clone(),
            underlay: self.config.advertise,
        }
    }

    /// Zone id of a remote endpoint: never a container id (those are hex).
    fn zone_id(key: &RemoteKey) -> String {
        format!("remote:{}:{}", key.1, key.2)
    }

    /// Puts every remote endpoint into a zone being built (`refresh_dns`).
    pub(crate) fn put_all(&self, zone: &mut Zone, registry: &Registry) {
        for (key, rec) in self.remote.lock().expect("not poisoned").iter() {
            put_remote(zone, registry, key, Some(rec));
        }
    }

    /// Remembers that these addresses were just given up.
    pub(crate) fn note_freed(&self, network_id: &str, addresses: impl IntoIterator<Item = IpAddr>) {
        let mut freed = self.freed.lock().expect("not poisoned");
        let now = std::time::Instant::now();
        freed.retain(|_, at| now.duration_since(*at) < FREED_MEMORY);
        for ip in addresses {
            freed.insert((network_id.to_string(), ip), now);
        }
    }

    /// True if the address was given up lately (and forgets it: one announcement).
    fn take_freed(&self, network_id: &str, ip: IpAddr) -> bool {
        let mut freed = self.freed.lock().expect("not poisoned");
        freed.remove(&(network_id.to_string(), ip)).is_some_and(|at| at.elapsed() < FREED_MEMORY)
    }

    pub(crate) fn status_line(&self) -> String {
        let s = self.session.status();
        let remote = self.remote.lock().expect("not poisoned").len();
        format!(
            "host {} advertising {}, etcd {} ({}), {remote} endpoints of other hosts known",
            self.host_id,
            self.config.advertise,
            self.session.endpoints(),
            if s.connected { "connected" } else { "unreachable" }
        )
    }
}

fn put_remote(zone: &mut Zone, registry: &Registry, key: &RemoteKey, rec: Option<&EndpointRecord>) {
    let id = ClusterService::zone_id(key);
    let Some((rec, net)) = rec.and_then(|r| registry.network(&key.0).map(|n| (r, n))) else {
        zone.set_container(&id, &[], None);
        return;
    };
    let addresses: Vec<IpAddr> = rec.addresses().collect();
    let names = EndpointNames {
        network_id: &net.id,
        network_name: &net.name,
        container_name: &rec.container_name,
        short_id: &rec.short_id,
        hostname: &rec.hostname,
        aliases: &rec.aliases,
        addresses: &addresses,
    };
    zone.set_container(&id, &[names], None);
}

/// The cluster's view of an error: etcd away is the user's to know about, clearly.
impl From<netctl_cluster::ClusterError> for DaemonError {
    fn from(e: netctl_cluster::ClusterError) -> Self {
        use netctl_cluster::ClusterError as E;
        match e {
            E::Conflict(m) => crate::error::conflict(m),
            E::NotFound(m) => DaemonError::Model(netctl_model::ModelError::not_found(m)),
            E::Unreachable { .. } => DaemonError::Unavailable(format!(
                "{e}; overlay networks cannot change until it answers (bridge networks and names already known keep working)"
            )),
            other => DaemonError::Unavailable(other.to_string()),
        }
    }
}

impl Daemon {
    pub(crate) fn cluster(&self) -> Result<&Arc<ClusterService>> {
        self.cluster.as_ref().ok_or_else(|| {
            DaemonError::Model(netctl_model::ModelError::invalid(
                "overlay networks need a cluster: set [cluster] etcd and advertise in netctl.toml (README: Several hosts)",
            ))
        })
    }

    /// Publishes the endpoint with its addresses; when another host holds one of
    /// them, the next free address is planned and tried. Only for overlay networks.
    pub(crate) async fn claim_in_cluster(
        &self,
        registry: &mut Registry,
        c: &Container,
        net: &Network,
        mut ep: Endpoint,
    ) -> Result<Endpoint> {
        let cluster = self.cluster()?.clone();
        for _ in 0..64 {
            let rec = cluster.record_of(c, &ep);
            let outcome = cluster.session.claim_endpoint(&cluster.host_id, &ep.id, &net.id, &rec).await;
            let taken = match outcome {
                Ok(ClaimOutcome::Claimed) => return Ok(ep),
                Ok(ClaimOutcome::Taken(taken)) => taken,
                Err(e) => {
                    self.release_planned(registry, &ep);
                    return Err(e.into());
                }
            };
            let given: Vec<IpAddr> = [ep.requested_ipv4, ep.requested_ipv6].into_iter().flatten().collect();
            if let Some(ip) = taken.iter().find(|ip| given.contains(ip)) {
                self.release_planned(registry, &ep);
                return Err(crate::error::conflict(format!(
                    "Address already in use: {ip} is held on another host"
                )));
            }
            // Keep the taken ones marked used; give back the others and plan again.
            let book = registry.address_book(&net.id);
            for a in ep.ipv4.iter().chain(ep.ipv6.iter()).filter(|a| !taken.contains(&a.ip())) {
                book.release(a.ip());
            }
            let replanned = self.plan_addresses(registry, net, &ep)?;
            ep.ipv4 = replanned.0;
            ep.ipv6 = replanned.1;
        }
        self.release_planned(registry, &ep);
        Err(crate::error::conflict(format!("no free address found on network {} after 64 tries", net.name)))
    }

    /// Gives back a planned endpoint's addresses (it was never made).
    pub(crate) fn release_planned(&self, registry: &mut Registry, ep: &Endpoint) {
        for a in ep.ipv4.iter().chain(ep.ipv6.iter()) {
            registry.address_book(&ep.network_id).release(a.ip());
        }
    }

    /// Unpublishes an endpoint of this host. etcd away: the key stays until it is
    /// back (the agent then removes what the registry no longer has) or until the
    /// lease runs out.
    pub(crate) async fn release_in_cluster(&self, ep: &Endpoint) {
        let Some(cluster) = &self.cluster else { return };
        let addresses: Vec<IpAddr> = ep.ipv4.iter().chain(ep.ipv6.iter()).map(|a| a.ip()).collect();
        cluster.note_freed(&ep.network_id, addresses.iter().copied());
        if let Err(e) =
            cluster.session.release_endpoint(&cluster.host_id, &ep.id, &ep.network_id, &addresses).await
        {
            tracing::warn!(endpoint = %ep.id, error = %e, "cluster: endpoint left published until etcd answers");
        }
    }
}

/// Follows etcd for as long as the daemon runs; `synced`: the start's own sync
/// (its revision and the status generation it was made in), followed first.
pub(crate) async fn agent(daemon: Arc<Daemon>, mut synced: Option<(i64, u64)>) {
    let Some(cluster) = daemon.cluster.clone() else { return };
    let mut status = cluster.session.subscribe();
    loop {
        if status.wait_for(|s| s.connected).await.is_err() {
            return;
        }
        let generation = status.borrow().generation;
        let done = match synced.take() {
            Some((revision, g)) if g == generation => Ok(revision),
            _ => sync_once(&daemon, &cluster).await.map(|snapshot| {
                tracing::info!(
                    revision = snapshot.revision,
                    networks = snapshot.networks.len(),
                    endpoints = snapshot.endpoints.len(),
                    "cluster: in sync"
                );
                snapshot.revision
            }),
        };
        match done {
            Ok(revision) => {
                let follow = follow(&daemon, &cluster, revision);
                let lost = status.wait_for(|s| !s.connected || s.generation != generation);
                tokio::select! {
                    r = follow => if let Err(e) = r { tracing::warn!(error = %e, "cluster: watch ended; reading everything again") },
                    _ = lost => tracing::info!("cluster: etcd connection changed; reading everything again"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster: cannot sync with etcd; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Registers the host, makes this host's published endpoints what its registry
/// has, and applies a whole snapshot of the others.
pub(crate) async fn sync_once(daemon: &Daemon, cluster: &ClusterService) -> Result<Snapshot> {
    let session = &cluster.session;
    let me = HostRecord {
        name: hostname(),
        advertise: cluster.config.advertise,
        vxlan_port: cluster.config.vxlan_port,
    };
    session.register_host(&cluster.host_id, &me).await?;
    let snapshot = session.snapshot().await?;
    let mut registry = daemon.registry.lock().await;
    // Networks first: endpoints need them.
    let cluster_nets: BTreeSet<&str> = snapshot.networks.iter().map(|n| n.network.id.as_str()).collect();
    for rec in &snapshot.networks {
        daemon.apply_network(&mut registry, rec).await;
    }
    let gone: Vec<Network> = registry
        .networks()
        .filter(|n| n.is_overlay() && !cluster_nets.contains(n.id.as_str()))
        .cloned()
        .collect();
    for net in gone {
        daemon.drop_overlay_network(&mut registry, &net).await;
    }
    republish_own(cluster, &registry, &snapshot).await?;
    let wanted: BTreeMap<RemoteKey, EndpointRecord> = snapshot
        .endpoints
        .iter()
        .filter(|p| p.host_id != cluster.host_id)
        .map(|p| ((p.network_id.clone(), p.host_id.clone(), p.endpoint_id.clone()), p.record.clone()))
        .collect();
    let have: BTreeMap<RemoteKey, EndpointRecord> = cluster.remote.lock().expect("not poisoned").clone();
    for (key, rec) in &have {
        if wanted.get(key) != Some(rec) {
            daemon.forget_remote(&mut registry, cluster, key).await;
        }
    }
    for (key, rec) in &wanted {
        if have.get(key) != Some(rec) {
            daemon.learn_remote(&mut registry, cluster, key.clone(), rec.clone()).await;
        }
    }
    daemon.sweep_remote_entries(&registry, cluster).await;
    Ok(snapshot)
}

/// This host's endpoints in etcd as its registry has them: missing ones put back
/// (under the current lease), ones of containers gone since removed.
async fn republish_own(cluster: &ClusterService, registry: &Registry, snap: &Snapshot) -> Result<()> {
    let session = &cluster.session;
    let published: BTreeMap<(&str, &str), &PublishedEndpoint> = snap
        .endpoints
        .iter()
        .filter(|p| p.host_id == cluster.host_id)
        .map(|p| ((p.network_id.as_str(), p.endpoint_id.as_str()), p))
        .collect();
    let mut local = BTreeSet::new();
    for c in registry.containers() {
        for ep in
            c.endpoints.iter().filter(|ep| registry.network(&ep.network_id).is_some_and(|n| n.is_overlay()))
        {
            local.insert((ep.network_id.as_str(), ep.id.as_str()));
            let rec = cluster.record_of(c, ep);
            // Re-put every time: a lease made anew leaves none of them alive.
            if published.get(&(ep.network_id.as_str(), ep.id.as_str())).is_some_and(|p| p.record == rec)
                && !session.status().fresh_lease
            {
                continue;
            }
            match session.republish_endpoint(&cluster.host_id, &ep.id, &ep.network_id, &rec).await? {
                ClaimOutcome::Claimed => {}
                ClaimOutcome::Taken(ips) => tracing::error!(
                    container = %c.name, addresses = ?ips,
                    "cluster: another host took this container's address while etcd was away; disconnect and connect it again"
                ),
            }
        }
    }
    for ((net, ep), p) in published {
        if !local.contains(&(net, ep)) {
            let addresses: Vec<IpAddr> = p.record.addresses().collect();
            session.release_endpoint(&cluster.host_id, ep, net, &addresses).await?;
            tracing::info!(container = %p.record.container_name, "cluster: unpublished an endpoint this host no longer has");
        }
    }
    Ok(())
}

async fn follow(daemon: &Daemon, cluster: &ClusterService, revision: i64) -> Result<()> {
    let mut watch = cluster.session.watch(revision).await?;
    loop {
        let events = watch.next().await?;
        let mut registry = daemon.registry.lock().await;
        for ev in events {
            match ev {
                WatchEvent::NetworkPut(rec) => daemon.apply_network(&mut registry, &rec).await,
                WatchEvent::NetworkDeleted(id) => {
                    if let Some(net) = registry.network(&id).filter(|n| n.is_overlay()).cloned() {
                        daemon.drop_overlay_network(&mut registry, &net).await;
                    }
                }
                WatchEvent::EndpointPut(p) if p.host_id != cluster.host_id => {
                    daemon
                        .learn_remote(
                            &mut registry,
                            cluster,
                            (p.network_id, p.host_id, p.endpoint_id),
                            p.record,
                        )
                        .await;
                }
                WatchEvent::EndpointDeleted { network_id, host_id, endpoint_id }
                    if host_id != cluster.host_id =>
                {
                    daemon.forget_remote(&mut registry, cluster, &(network_id, host_id, endpoint_id)).await;
                }
                _ => {}
            }
        }
    }
}

impl Daemon {
    /// Another host's endpoint: forwarding and neighbour entries on the network's
    /// VXLAN device, its addresses marked used here, its names in the zone.
    async fn learn_remote(
        &self,
        registry: &mut Registry,
        cluster: &ClusterService,
        key: RemoteKey,
        rec: EndpointRecord,
    ) {
        let Some(net) = registry.network(&key.0).filter(|n| n.is_overlay()).cloned() else {
            tracing::debug!(network = %key.0, "cluster: endpoint of a network not here (yet)");
            return;
        };
        let old = cluster.remote.lock().expect("not poisoned").get(&key).cloned();
        if let Some(old) = &old {
            self.unprogram(registry, &net, old).await;
        }
        match parse_mac(&rec.mac) {
            Ok(mac) => {
                let ips: Vec<IpAddr> = rec.addresses().collect();
                if let Err(e) =
                    self.netlink.add_remote_endpoint(&net.vxlan_device(), mac, &ips, rec.underlay).await
                {
                    tracing::error!(container = %rec.container_name, error = %e, "cluster: cannot program the remote endpoint");
                }
                for ip in &ips {
                    registry.address_book(&net.id).mark_used(*ip);
                    // Held by another container a moment ago: tell this host's
                    // containers, as a local endpoint's announcement would.
                    if cluster.take_freed(&net.id, *ip) {
                        if let Err(e) = self.netlink.announce_on_bridge(&net.bridge, mac, *ip).await {
                            tracing::debug!(%ip, error = %e, "cluster: cannot announce the address");
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(container = %rec.container_name, error = %e, "cluster: bad MAC in record")
            }
        }
        tracing::debug!(container = %rec.container_name, network = %net.name, host = %key.1, "cluster: learnt endpoint");
        cluster.remote.lock().expect("not poisoned").insert(key.clone(), rec.clone());
        self.resolver.update_zone(|zone| put_remote(zone, registry, &key, Some(&rec)));
    }

    async fn forget_remote(&self, registry: &mut Registry, cluster: &ClusterService, key: &RemoteKey) {
        let Some(rec) = cluster.remote.lock().expect("not poisoned").remove(key) else { return };
        cluster.note_freed(&key.0, rec.addresses());
        self.resolver.update_zone(|zone| put_remote(zone, registry, key, None));
        if let Some(net) = registry.network(&key.0).cloned() {
            self.unprogram(registry, &net, &rec).await;
        }
        tracing::debug!(container = %rec.container_name, host = %key.1, "cluster: forgot endpoint");
    }

    async fn unprogram(&self, registry: &mut Registry, net: &Network, rec: &EndpointRecord) {
        let ips: Vec<IpAddr> = rec.addresses().collect();
        if let Ok(mac) = parse_mac(&rec.mac) {
            if let Err(e) =
                self.netlink.remove_remote_endpoint(&net.vxlan_device(), mac, &ips, rec.underlay).await
            {
                tracing::warn!(container = %rec.container_name, error = %e, "cluster: cannot remove the remote endpoint's entries");
            }
        }
        let local_holds = |ip: &IpAddr| {
            registry.containers_on(&net.id).any(|c| {
                c.endpoint_on(&net.id)
                    .is_some_and(|e| e.ipv4.iter().chain(e.ipv6.iter()).any(|a| a.ip() == *ip))
            })
        };
        let free: Vec<IpAddr> = ips.into_iter().filter(|ip| !local_holds(ip)).collect();
        for ip in free {
            registry.address_book(&net.id).release(ip);
        }
    }

    /// Forwarding entries on VXLAN devices that no known remote endpoint accounts
    /// for (left by a run that died before it could remove them).
    async fn sweep_remote_entries(&self, registry: &Registry, cluster: &ClusterService) {
        let known: BTreeMap<String, BTreeSet<([u8; 6], IpAddr)>> = {
            let remote = cluster.remote.lock().expect("not poisoned");
            let mut m: BTreeMap<String, BTreeSet<_>> = BTreeMap::new();
            for (key, rec) in remote.iter() {
                if let Ok(mac) = parse_mac(&rec.mac) {
                    m.entry(key.0.clone()).or_default().insert((mac, rec.underlay));
                }
            }
            m
        };
        for net in registry.networks().filter(|n| n.is_overlay()) {
            let dev = net.vxlan_device();
            let Ok(entries) = self.netlink.remote_endpoints(&dev).await else { continue };
            for (mac, underlay) in entries {
                if !known.get(&net.id).is_some_and(|s| s.contains(&(mac, underlay))) {
                    let _ = self.netlink.remove_remote_endpoint(&dev, mac, &[], underlay).await;
                }
            }
        }
    }
}

fn hostname() -> String {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default()
}
