//! One connection to the cluster's etcd and this host's lease, kept alive in the
//! background. Everything a host publishes about itself is attached to the lease,
//! so a host that dies (or is cut off for longer than the TTL) disappears from
//! every other host without anyone having to notice it.
//!
//! The lease survives a daemon restart: its id is given back to `start`, and if
//! etcd still knows it (a restart shorter than the TTL) the host's keys never
//! vanished and other hosts saw nothing.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use tokio::sync::watch;

use crate::{ClusterError, Result};

#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// `http://IP:2379` or `https://…` (with `tls`).
    pub endpoints: Vec<String>,
    /// Seconds a host's keys outlive its last keep-alive.
    pub ttl: u64,
    /// How long one request may take before etcd counts as unreachable.
    pub request_timeout: Duration,
    pub tls: Option<TlsFiles>,
}

/// PEM files for etcd's client TLS (`--trusted-ca-file`, `--client-cert-auth`).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// What the keep-alive loop knows now. `generation` changes whenever the host
/// (re)gains a live lease after having none or after etcd was unreachable: what
/// it published may be missing or stale then, and must be reconciled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Status {
    pub connected: bool,
    pub lease: Option<i64>,
    pub generation: u64,
    /// The lease is a new one: nothing published under an earlier one remains.
    pub fresh_lease: bool,
}

pub struct Session {
    pub(crate) client: Client,
    pub(crate) options: ClusterOptions,
    status: watch::Receiver<Status>,
    status_tx: Arc<watch::Sender<Status>>,
    /// Mod revision of each network's record as last read: a connect's
    /// transaction requires it unchanged (not being removed since).
    pub(crate) network_revisions: Mutex<std::collections::HashMap<String, i64>>,
    keeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Session {
    /// Connects (lazily: an unreachable etcd is not an error yet) and starts keeping
    /// a lease alive, `previous` first if it is still alive.
    pub async fn start(options: ClusterOptions, previous: Option<i64>) -> Result<Arc<Self>> {
        if options.endpoints.is_empty() {
            return Err(ClusterError::Config("[cluster] etcd names no endpoint".into()));
        }
        if options.ttl < 2 {
            return Err(ClusterError::Config("[cluster] ttl must be at least 2 seconds".into()));
        }
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(options.request_timeout)
            .with_timeout(options.request_timeout)
            .with_keep_alive(Duration::from_secs(2), options.request_timeout);
        if let Some(tls) = &options.tls {
            connect = connect.with_tls(tls_options(tls)?);
        }
        let client = Client::connect(&options.endpoints, Some(connect.clone()))
            .await
            .map_err(|e| unreachable(&options, &e))?;
        // The lease's keep-alives on a connection of their own: behind a busy
        // watch or a large snapshot on the shared one they were seen late enough
        // for a host to lose its lease (once in 44 simulated runs at 200 hosts).
        let keeper_client = Client::connect(&options.endpoints, Some(connect))
            .await
            .map_err(|e| unreachable(&options, &e))?;
        let (tx, rx) = watch::channel(Status::default());
        let session = Arc::new(Self {
            client,
            options,
            status: rx,
            status_tx: Arc::new(tx),
            network_revisions: Mutex::default(),
            keeper: Mutex::default(),
        });
        let task = tokio::spawn(keep_alive(
            keeper_client,
            session.options.clone(),
            session.status_tx.clone(),
            previous,
        ));
        *session.keeper.lock().expect("not poisoned") = Some(task);
        Ok(session)
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Changes of the status, for the daemon's reconcile loop.
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// The live lease, or why there is none.
    pub fn lease(&self) -> Result<i64> {
        let s = self.status();
        match (s.connected, s.lease) {
            (true, Some(l)) => Ok(l),
            _ => Err(ClusterError::Unreachable {
                endpoints: self.options.endpoints.join(", "),
                message: "no live lease (etcd did not answer the last keep-alive)".into(),
            }),
        }
    }

    pub fn endpoints(&self) -> String {
        self.options.endpoints.join(", ")
    }

    pub(crate) fn unreachable(&self, e: &etcd_client::Error) -> ClusterError {
        unreachable(&self.options, e)
    }

    pub(crate) fn client(&self) -> Client {
        self.client.clone()
    }

    /// Stops renewing the lease (the daemon stops): the host's keys stay until the
    /// TTL runs out, so a restart within it goes unseen by the other hosts.
    pub fn stop(&self) {
        if let Some(task) = self.keeper.lock().expect("not poisoned").take() {
            task.abort();
        }
        self.status_tx.send_replace(Status { connected: false, ..self.status() });
    }

    /// The host is going away for good (not a restart): its keys go at once.
    pub async fn revoke(&self) -> Result<()> {
        if let Some(lease) = self.status().lease {
            self.client().lease_revoke(lease).await.map_err(|e| self.unreachable(&e))?;
        }
        Ok(())
    }
}

fn unreachable(options: &ClusterOptions, e: &etcd_client::Error) -> ClusterError {
    let message = match e {
        etcd_client::Error::GRpcStatus(s) if s.message().contains("Timeout") => {
            format!("no answer within {} s", options.request_timeout.as_secs_f32())
        }
        etcd_client::Error::GRpcStatus(s) => s.message().to_string(),
        other => other.to_string(),
    };
    ClusterError::Unreachable { endpoints: options.endpoints.join(", "), message }
}

fn tls_options(tls: &TlsFiles) -> Result<TlsOptions> {
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| ClusterError::Config(format!("cannot read {}: {e}", p.display())))
    };
    let mut out = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&tls.ca)?));
    match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => out = out.identity(Identity::from_pem(read(cert)?, read(key)?)),
        (None, None) => {}
        _ => return Err(ClusterError::Config("[cluster] cert and key go together".into())),
    }
    Ok(out)
}

/// Grants (or resumes) the lease and renews it every TTL/3; on a failure it says
/// so in the status and tries again every second, on the same lease while etcd
/// may still hold it, on a new one once etcd says it expired.
async fn keep_alive(
    client: Client,
    options: ClusterOptions,
    status: Arc<watch::Sender<Status>>,
    mut lease: Option<i64>,
) {
    let period = Duration::from_millis(options.ttl * 1000 / 3);
    let mut generation = 0;
    let mut fresh = false;
    let set = |connected: bool, lease: Option<i64>, generation: u64, fresh: bool| {
        status.send_if_modified(|s| {
            let new = Status { connected, lease, generation, fresh_lease: fresh };
            let changed = *s != new;
            *s = new;
            changed
        });
    };
    loop {
        let id = match lease {
            Some(id) => id,
            None => match client.clone().lease_grant(options.ttl as i64, None).await {
                Ok(granted) => {
                    fresh = true;
                    lease = Some(granted.id());
                    granted.id()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: cannot get a lease from etcd; retrying");
                    set(false, None, generation, fresh);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let (mut keeper, mut answers) = match client.clone().lease_keep_alive(id).await {
            Ok(pair) => pair,
            // The first keep-alive's answer: etcd has no such lease (it expired).
            Err(etcd_client::Error::LeaseKeepAliveError(m)) if m.contains("not found") => {
                tracing::info!(
                    lease = format!("{id:x}"),
                    "cluster: the last lease expired; a new one is taken"
                );
                lease = None;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster: etcd unreachable; retrying");
                set(false, lease, generation, fresh);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut announced = false;
        loop {
            let answer = async {
                keeper.keep_alive().await?;
                answers.message().await
            };
            match tokio::time::timeout(options.request_timeout, answer).await {
                Ok(Ok(Some(a))) if a.ttl() > 0 => {
                    if !announced {
                        generation += 1;
                        announced = true;
                        tracing::info!(lease = format!("{id:x}"), fresh, "cluster: lease alive");
                        set(true, lease, generation, fresh);
                    }
                }
                Ok(Ok(Some(_))) => {
                    tracing::warn!(
                        lease = format!("{id:x}"),
                        "cluster: the lease expired; a new one is taken"
                    );
                    lease = None;
                    set(false, None, generation, fresh);
                    break;
                }
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
                    tracing::warn!("cluster: etcd did not answer the keep-alive; retrying");
                    set(false, lease, generation, fresh);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
            }
            tokio::time::sleep(period).await;
        }
    }
}
