//! What a host reads and writes in etcd: each operation is one transaction (or an
//! optimistic loop of them), so that hosts acting at once never both win.

use std::collections::HashMap;
use std::net::IpAddr;

use etcd_client::{
    Compare, CompareOp, EventType, GetOptions, KeyValue, PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use netctl_model::Network;

use crate::keys;
use crate::records::{decode, encode, EndpointRecord, HostRecord, NetworkRecord};
use crate::{ClusterError, Result, Session};

/// VNIs below this are left to hand-made VXLANs.
pub const FIRST_VNI: u32 = 4096;
/// Keys per range request when reading a whole prefix.
const PAGE: i64 = 2000;

/// Networks and endpoints as of one revision; watching from `revision + 1` misses nothing.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub revision: i64,
    pub networks: Vec<NetworkRecord>,
    pub endpoints: Vec<PublishedEndpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedEndpoint {
    pub network_id: String,
    pub host_id: String,
    pub endpoint_id: String,
    pub record: EndpointRecord,
    /// The lease it is published under (0: none).
    pub lease: i64,
}

#[derive(Debug, Clone)]
pub enum WatchEvent {
    NetworkPut(NetworkRecord),
    NetworkDeleted(String),
    EndpointPut(PublishedEndpoint),
    EndpointDeleted { network_id: String, host_id: String, endpoint_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// These addresses are held by other endpoints (of any host).
    Taken(Vec<IpAddr>),
}

fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().expect("non-empty prefix") += 1;
    end
}

impl Session {
    /// Every key under `prefix` as of `revision` (0: now), page by page, and the
    /// revision read.
    async fn range(&self, prefix: &str, revision: i64) -> Result<(i64, Vec<KeyValue>)> {
        let end = prefix_end(prefix);
        let mut start = prefix.as_bytes().to_vec();
        let mut revision = revision;
        let mut out = Vec::new();
        loop {
            let mut opts = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
            if revision > 0 {
                opts = opts.with_revision(revision);
            }
            let mut resp =
                self.client().get(start.clone(), Some(opts)).await.map_err(|e| self.unreachable(&e))?;
            if revision == 0 {
                revision = resp.header().map_or(0, |h| h.revision());
            }
            let more = resp.more();
            let kvs = resp.take_kvs();
            if let Some(last) = kvs.last() {
                start = last.key().to_vec();
                start.push(0);
            }
            out.extend(kvs);
            if !more {
                return Ok((revision, out));
            }
        }
    }

    /// This host's record, under its lease.
    pub async fn register_host(&self, host_id: &str, record: &HostRecord) -> Result<()> {
        let lease = self.lease()?;
        self.client()
            .put(keys::host(host_id), encode(record), Some(PutOptions::new().with_lease(lease)))
            .await
            .map_err(|e| self.unreachable(&e))?;
        Ok(())
    }

    pub async fn hosts(&self) -> Result<Vec<(String, HostRecord)>> {
        let (_, kvs) = self.range(keys::HOSTS, 0).await?;
        kvs.iter()
            .map(|kv| {
                let id = String::from_utf8_lossy(kv.key()).trim_start_matches(keys::HOSTS).to_string();
                Ok((id, decode(kv.key(), kv.value())?))
            })
            .collect()
    }

    /// All networks and endpoints, as of one revision.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let (revision, nets) = self.range(keys::NETWORKS, 0).await?;
        let (_, eps) = self.range(keys::ENDPOINTS, revision).await?;
        let mut snap = Snapshot { revision, ..Default::default() };
        let mut revisions = HashMap::new();
        for kv in &nets {
            match decode::<NetworkRecord>(kv.key(), kv.value()) {
                Ok(n) => {
                    revisions.insert(n.network.id.clone(), kv.mod_revision());
                    snap.networks.push(n);
                }
                Err(e) => tracing::warn!(error = %e, "cluster: skipped"),
            }
        }
        *self.network_revisions.lock().expect("not poisoned") = revisions;
        for kv in &eps {
            match published(kv) {
                Ok(Some(p)) => snap.endpoints.push(p),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cluster: skipped"),
            }
        }
        Ok(snap)
    }

    /// Creates an overlay network. `build` gets the networks that exist and the
    /// VNI to use, and returns the network or why not (a name taken, a subnet
    /// overlapping); it runs again if another host created or removed a network
    /// in between.
    pub async fn create_network(
        &self,
        mut build: impl FnMut(&[NetworkRecord], u32) -> Result<Network>,
    ) -> Result<Network> {
        for _ in 0..20 {
            let mut resp = self.client().get(keys::CATALOG, None).await.map_err(|e| self.unreachable(&e))?;
            let revision = resp.header().map_or(0, |h| h.revision());
            let catalog = resp.take_kvs().into_iter().next();
            let (catalog_rev, count) = match &catalog {
                Some(kv) => (
                    kv.mod_revision(),
                    String::from_utf8_lossy(kv.value()).trim().parse::<u32>().unwrap_or(0),
                ),
                None => (0, 0),
            };
            let (_, kvs) = self.range(keys::NETWORKS, revision).await?;
            let existing: Vec<NetworkRecord> =
                kvs.iter().filter_map(|kv| decode(kv.key(), kv.value()).ok()).collect();
            let vni = FIRST_VNI + count + 1;
            if vni >= 1 << 24 {
                return Err(ClusterError::Conflict("no VXLAN network identifier left".into()));
            }
            let mut network = build(&existing, vni)?;
            network.vni = Some(vni);
            let record = NetworkRecord { network: network.clone(), removing: false };
            let txn = Txn::new()
                .when([Compare::mod_revision(keys::CATALOG, CompareOp::Equal, catalog_rev)])
                .and_then([
                    TxnOp::put(keys::CATALOG, (count + 1).to_string(), None),
                    TxnOp::put(keys::network(&network.id), encode(&record), None),
                ]);
            let resp = self.client().txn(txn).await.map_err(|e| self.unreachable(&e))?;
            if resp.succeeded() {
                let rev = resp.header().map_or(0, |h| h.revision());
                self.network_revisions.lock().expect("not poisoned").insert(network.id.clone(), rev);
                return Ok(network);
            }
        }
        Err(ClusterError::Conflict("networks are being created too fast on other hosts; try again".into()))
    }

    /// Removes an overlay network if no host has an endpoint on it: it is marked
    /// as being removed first, so that a connect racing the check fails.
    pub async fn remove_network(&self, network_id: &str) -> Result<()> {
        let key = keys::network(network_id);
        let mut resp = self.client().get(key.clone(), None).await.map_err(|e| self.unreachable(&e))?;
        let Some(kv) = resp.take_kvs().into_iter().next() else {
            return Err(ClusterError::NotFound(format!("network {network_id} not found in the cluster")));
        };
        let mut record: NetworkRecord = decode(kv.key(), kv.value())?;
        record.removing = true;
        let marked = Txn::new()
            .when([Compare::mod_revision(key.clone(), CompareOp::Equal, kv.mod_revision())])
            .and_then([TxnOp::put(key.clone(), encode(&record), None)]);
        let resp = self.client().txn(marked).await.map_err(|e| self.unreachable(&e))?;
        if !resp.succeeded() {
            return Err(ClusterError::Conflict(format!(
                "network {} changed meanwhile; try again",
                record.network.name
            )));
        }
        let marked_rev = resp.header().map_or(0, |h| h.revision());
        let (_, eps) = self.range(&keys::endpoints_of_network(network_id), 0).await?;
        if !eps.is_empty() {
            let names: Vec<String> = eps
                .iter()
                .filter_map(|kv| published(kv).ok().flatten())
                .map(|p| format!("name:{:?} host:{:?}", p.record.container_name, p.host_id))
                .collect();
            record.removing = false;
            let back = Txn::new()
                .when([Compare::mod_revision(key.clone(), CompareOp::Equal, marked_rev)])
                .and_then([TxnOp::put(key, encode(&record), None)]);
            self.client().txn(back).await.map_err(|e| self.unreachable(&e))?;
            return Err(ClusterError::Conflict(format!(
                "error while removing network: network {} has active endpoints ({})",
                record.network.name,
                names.join(", ")
            )));
        }
        let gone = Txn::new().and_then([
            TxnOp::delete(key, None),
            TxnOp::delete(
                keys::addresses_of_network(network_id),
                Some(etcd_client::DeleteOptions::new().with_prefix()),
            ),
        ]);
        self.client().txn(gone).await.map_err(|e| self.unreachable(&e))?;
        self.network_revisions.lock().expect("not poisoned").remove(network_id);
        Ok(())
    }

    /// Takes the endpoint's addresses and publishes it, in one transaction under
    /// this host's lease: either both happen or neither. Fails if the network is
    /// gone or being removed.
    pub async fn claim_endpoint(
        &self,
        host_id: &str,
        endpoint_id: &str,
        network_id: &str,
        record: &EndpointRecord,
    ) -> Result<ClaimOutcome> {
        let lease = self.lease()?;
        let net_key = keys::network(network_id);
        for _ in 0..3 {
            let known = self.network_revisions.lock().expect("not poisoned").get(network_id).copied();
            let net_rev = match known {
                Some(r) => r,
                None => self.network_revision(network_id).await?,
            };
            let owner = format!("{host_id}/{endpoint_id}");
            let mut when = vec![Compare::mod_revision(net_key.clone(), CompareOp::Equal, net_rev)];
            let mut then = vec![TxnOp::put(
                keys::endpoint(network_id, host_id, endpoint_id),
                encode(record),
                Some(PutOptions::new().with_lease(lease)),
            )];
            let mut otherwise = vec![TxnOp::get(net_key.clone(), None)];
            for ip in record.addresses() {
                let k = keys::address(network_id, ip);
                when.push(Compare::create_revision(k.clone(), CompareOp::Equal, 0));
                then.push(TxnOp::put(k.clone(), owner.clone(), Some(PutOptions::new().with_lease(lease))));
                otherwise.push(TxnOp::get(k, None));
            }
            let txn = Txn::new().when(when).and_then(then).or_else(otherwise);
            let resp = self.client().txn(txn).await.map_err(|e| self.unreachable(&e))?;
            if resp.succeeded() {
                return Ok(ClaimOutcome::Claimed);
            }
            let mut answers = resp.op_responses().into_iter().map(|r| match r {
                TxnOpResponse::Get(g) => g.kvs().first().cloned(),
                _ => None,
            });
            let net = answers.next().flatten();
            let taken: Vec<IpAddr> = record
                .addresses()
                .zip(answers)
                .filter(|(_, kv)| kv.as_ref().is_some_and(|kv| kv.value() != owner.as_bytes()))
                .map(|(ip, _)| ip)
                .collect();
            match net {
                None => {
                    return Err(ClusterError::NotFound(format!(
                        "network {network_id} no longer exists in the cluster"
                    )))
                }
                Some(kv) => {
                    let rec: NetworkRecord = decode(kv.key(), kv.value())?;
                    if rec.removing {
                        return Err(ClusterError::Conflict(format!(
                            "network {} is being removed",
                            rec.network.name
                        )));
                    }
                    self.network_revisions
                        .lock()
                        .expect("not poisoned")
                        .insert(network_id.to_string(), kv.mod_revision());
                }
            }
            if !taken.is_empty() {
                return Ok(ClaimOutcome::Taken(taken));
            }
        }
        Err(ClusterError::Conflict(format!("network {network_id} keeps changing; try again")))
    }

    async fn network_revision(&self, network_id: &str) -> Result<i64> {
        let mut resp =
            self.client().get(keys::network(network_id), None).await.map_err(|e| self.unreachable(&e))?;
        let kv = resp.take_kvs().into_iter().next().ok_or_else(|| {
            ClusterError::NotFound(format!("network {network_id} no longer exists in the cluster"))
        })?;
        self.network_revisions
            .lock()
            .expect("not poisoned")
            .insert(network_id.to_string(), kv.mod_revision());
        Ok(kv.mod_revision())
    }

    /// Publishes (again) an endpoint this host already holds the addresses of, as
    /// after etcd was away: the addresses are taken back if free, and the
    /// endpoint is put under the current lease. Taken: another host got them.
    pub async fn republish_endpoint(
        &self,
        host_id: &str,
        endpoint_id: &str,
        network_id: &str,
        record: &EndpointRecord,
    ) -> Result<ClaimOutcome> {
        let lease = self.lease()?;
        let owner = format!("{host_id}/{endpoint_id}");
        let mut when = Vec::new();
        let mut then = vec![TxnOp::put(
            keys::endpoint(network_id, host_id, endpoint_id),
            encode(record),
            Some(PutOptions::new().with_lease(lease)),
        )];
        let mut otherwise = Vec::new();
        for ip in record.addresses() {
            let k = keys::address(network_id, ip);
            when.push(Compare::value(k.clone(), CompareOp::Equal, owner.clone()));
            then.push(TxnOp::put(k.clone(), owner.clone(), Some(PutOptions::new().with_lease(lease))));
            otherwise.push(TxnOp::get(k, None));
        }
        let resp = self
            .client()
            .txn(Txn::new().when(when).and_then(then.clone()).or_else(otherwise))
            .await
            .map_err(|e| self.unreachable(&e))?;
        if resp.succeeded() {
            return Ok(ClaimOutcome::Claimed);
        }
        // Some address is not ours: free ones are taken back, others are lost.
        let held: Vec<Option<KeyValue>> = resp
            .op_responses()
            .into_iter()
            .map(|r| match r {
                TxnOpResponse::Get(g) => g.kvs().first().cloned(),
                _ => None,
            })
            .collect();
        let taken: Vec<IpAddr> = record
            .addresses()
            .zip(held.iter())
            .filter(|(_, kv)| kv.as_ref().is_some_and(|kv| kv.value() != owner.as_bytes()))
            .map(|(ip, _)| ip)
            .collect();
        if !taken.is_empty() {
            return Ok(ClaimOutcome::Taken(taken));
        }
        let when: Vec<Compare> = record
            .addresses()
            .zip(held.iter())
            .map(|(ip, kv)| {
                let k = keys::address(network_id, ip);
                match kv {
                    None => Compare::create_revision(k, CompareOp::Equal, 0),
                    Some(_) => Compare::value(k, CompareOp::Equal, owner.clone()),
                }
            })
            .collect();
        let resp = self
            .client()
            .txn(Txn::new().when(when).and_then(then))
            .await
            .map_err(|e| self.unreachable(&e))?;
        Ok(if resp.succeeded() {
            ClaimOutcome::Claimed
        } else {
            ClaimOutcome::Taken(record.addresses().collect())
        })
    }

    /// Unpublishes the endpoint and frees its addresses (those it holds).
    pub async fn release_endpoint(
        &self,
        host_id: &str,
        endpoint_id: &str,
        network_id: &str,
        addresses: &[IpAddr],
    ) -> Result<()> {
        let owner = format!("{host_id}/{endpoint_id}");
        let mut ops = vec![TxnOp::delete(keys::endpoint(network_id, host_id, endpoint_id), None)];
        for ip in addresses {
            let k = keys::address(network_id, *ip);
            ops.push(TxnOp::txn(
                Txn::new()
                    .when([Compare::value(k.clone(), CompareOp::Equal, owner.clone())])
                    .and_then([TxnOp::delete(k, None)]),
            ));
        }
        self.client().txn(Txn::new().and_then(ops)).await.map_err(|e| self.unreachable(&e))?;
        Ok(())
    }

    /// The endpoints this host has published on a network.
    pub async fn own_endpoints(&self, network_id: &str, host_id: &str) -> Result<Vec<PublishedEndpoint>> {
        let (_, kvs) = self.range(&keys::endpoints_of_host(network_id, host_id), 0).await?;
        Ok(kvs.iter().filter_map(|kv| published(kv).ok().flatten()).collect())
    }

    /// Addresses held on a network, by anyone.
    pub async fn used_addresses(&self, network_id: &str) -> Result<Vec<IpAddr>> {
        let prefix = keys::addresses_of_network(network_id);
        let (_, kvs) = self.range(&prefix, 0).await?;
        Ok(kvs
            .iter()
            .filter_map(|kv| String::from_utf8_lossy(kv.key()).strip_prefix(&prefix)?.parse().ok())
            .collect())
    }

    /// Changes to networks and endpoints after `revision`.
    pub async fn watch(&self, revision: i64) -> Result<Watch<'_>> {
        let opts = |p: &str| WatchOptions::new().with_range(prefix_end(p)).with_start_revision(revision + 1);
        let mut stream = self
            .client()
            .watch(keys::NETWORKS, Some(opts(keys::NETWORKS)))
            .await
            .map_err(|e| self.unreachable(&e))?;
        stream.watch(keys::ENDPOINTS, Some(opts(keys::ENDPOINTS))).await.map_err(|e| self.unreachable(&e))?;
        Ok(Watch { stream, session: self })
    }
}

/// A watch of networks and endpoints; a failure means: take a new snapshot.
pub struct Watch<'a> {
    stream: etcd_client::WatchStream,
    session: &'a Session,
}

impl Watch<'_> {
    /// The next batch of changes. Err: the watch ended (etcd away, history
    /// compacted); take a new snapshot and watch again.
    pub async fn next(&mut self) -> Result<Vec<WatchEvent>> {
        loop {
            let resp = self.stream.message().await.map_err(|e| self.session.unreachable(&e))?;
            let Some(resp) = resp else {
                return Err(ClusterError::Unreachable {
                    endpoints: self.session.endpoints(),
                    message: "the watch ended".into(),
                });
            };
            if resp.canceled() || resp.compact_revision() > 0 {
                return Err(ClusterError::Unreachable {
                    endpoints: self.session.endpoints(),
                    message: format!("the watch was cancelled ({})", resp.cancel_reason()),
                });
            }
            if resp.events().is_empty() {
                continue;
            }
            let mut out = Vec::new();
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                let put = ev.event_type() == EventType::Put;
                if let Some(id) = keys::parse_network(&key) {
                    if put {
                        match decode::<NetworkRecord>(kv.key(), kv.value()) {
                            Ok(n) => {
                                self.session
                                    .network_revisions
                                    .lock()
                                    .expect("not poisoned")
                                    .insert(id.to_string(), kv.mod_revision());
                                out.push(WatchEvent::NetworkPut(n));
                            }
                            Err(e) => tracing::warn!(error = %e, "cluster: skipped"),
                        }
                    } else {
                        self.session.network_revisions.lock().expect("not poisoned").remove(id);
                        out.push(WatchEvent::NetworkDeleted(id.to_string()));
                    }
                } else if let Some((net, host, ep)) = keys::parse_endpoint(&key) {
                    if put {
                        match published(kv) {
                            Ok(Some(p)) => out.push(WatchEvent::EndpointPut(p)),
                            Ok(None) => {}
                            Err(e) => tracing::warn!(error = %e, "cluster: skipped"),
                        }
                    } else {
                        out.push(WatchEvent::EndpointDeleted {
                            network_id: net.into(),
                            host_id: host.into(),
                            endpoint_id: ep.into(),
                        });
                    }
                }
            }
            return Ok(out);
        }
    }
}

fn published(kv: &KeyValue) -> Result<Option<PublishedEndpoint>> {
    let key = String::from_utf8_lossy(kv.key());
    let Some((net, host, ep)) = keys::parse_endpoint(&key) else { return Ok(None) };
    Ok(Some(PublishedEndpoint {
        network_id: net.into(),
        host_id: host.into(),
        endpoint_id: ep.into(),
        record: decode(kv.key(), kv.value())?,
        lease: kv.lease(),
    }))
}
