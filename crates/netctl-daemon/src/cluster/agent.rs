//! The loop that keeps this host and etcd in agreement: each time etcd is
//! reachable again it re-publishes this host's endpoints, reads a whole snapshot,
//! applies the difference, then follows the watch until it breaks. So an event
//! missed while etcd was away, a compacted history or a restarted daemon all end in
//! the same place: the kernel and the zone as etcd says, this host's keys as its
//! registry says.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use netctl_cluster::{ClaimOutcome, EndpointRecord, HostRecord, PublishedEndpoint, Snapshot, WatchEvent};
use netctl_model::container::parse_mac;
use netctl_model::Network;

use super::{put_remote, ClusterService, RemoteKey};
use crate::daemon::Daemon;
use crate::error::Result;
use crate::registry::Registry;

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
            // Already there, as it is and under the live lease: nothing to do.
            let lease = session.status().lease.unwrap_or_default();
            if published
                .get(&(ep.network_id.as_str(), ep.id.as_str()))
                .is_some_and(|p| p.record == rec && p.lease == lease)
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
