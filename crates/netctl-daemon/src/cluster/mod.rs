//! This host in a cluster (`[cluster]` in netctl.toml): what it publishes of its
//! own containers in etcd and what it applies of the others'. The crate
//! `netctl-cluster` does the talking to etcd; this module turns what it reads into
//! kernel state (VXLAN forwarding and neighbour entries, overlay bridges) and
//! resolver names, and keeps what this host published true.
//!
//! One loop (`agent.rs`) owns the other hosts' endpoints and keeps this host's
//! published ones true.

mod agent;

pub(crate) use agent::{agent, sync_once};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use netctl_cluster::{ClaimOutcome, ClusterOptions, EndpointRecord, Session, TlsFiles};
use netctl_dns::zone::{EndpointNames, Zone};
use netctl_model::container::{Container, Endpoint};
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
