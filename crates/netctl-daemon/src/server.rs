//! The daemon's life: lock the state, load it, reconcile the kernel (every
//! resolver listener back and serving the whole zone), open the socket, tell
//! systemd we're ready, serve until SIGTERM/SIGINT.
//!
//! The API is served by hyper's HTTP/1 connection builder rather than
//! `axum::serve`, for what a daemon on a shared socket needs: a client has
//! `HEADER_READ_TIMEOUT` to send a request's headers (a client that sends half a
//! request is closed, not held forever), and at most `MAX_CONNECTIONS` are served
//! at once (more wait in the socket's backlog).

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use netctl_kernel::Netlink;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::daemon::Daemon;
use crate::lock::DirLock;

pub async fn run(config: Config) -> anyhow::Result<()> {
    for dir in [&config.data_root, &config.exec_root] {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    raise_fd_limit();
    check_run_time_tools()?;
    let _data_lock = DirLock::acquire(&config.data_root)?;
    let _exec_lock =
        if config.exec_root != config.data_root { Some(DirLock::acquire(&config.exec_root)?) } else { None };

    let started = Instant::now();
    let netlink = Netlink::connect().context("cannot talk to the kernel over netlink")?;
    let cluster = match &config.cluster {
        Some(c) => Some(
            crate::cluster::ClusterService::connect(c, &config.data_root)
                .await
                .context("cannot set up the cluster ([cluster] in netctl.toml)")?,
        ),
        None => None,
    };
    let daemon =
        Arc::new(Daemon::load(config.clone(), netlink, cluster.clone()).context("cannot load state")?);
    daemon.load_upstreams();
    // Returns once every listener serves the whole zone (dns.rs: listeners are
    // bound at start but served only after the first zone is in place).
    daemon.reconcile().await.context("reconcile at start failed")?;

    if let Some(cluster) = &cluster {
        // Other hosts' names before READY when etcd answers soon; else the agent
        // catches up once it does (local names and containers work meanwhile).
        let first = async {
            let mut status = cluster.session.subscribe();
            let generation = status.wait_for(|s| s.connected).await.map(|s| s.generation).unwrap_or_default();
            crate::cluster::sync_once(&daemon, cluster).await.map(|snap| (snap.revision, generation))
        };
        let synced = match tokio::time::timeout(Duration::from_millis(1500), first).await {
            Ok(Ok(synced)) => {
                tracing::info!(revision = synced.0, "cluster: in sync before ready");
                Some(synced)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cluster: not in sync at start; will catch up");
                None
            }
            Err(_) => {
                tracing::warn!(etcd = %cluster.session.endpoints(), "cluster: etcd did not answer at start; will catch up");
                None
            }
        };
        tokio::spawn(crate::cluster::agent(daemon.clone(), synced));
    }

    let listener = bind_socket(&config.socket)?;
    let containers = daemon.registry.lock().await.containers().count();
    tracing::info!(socket = %config.socket.display(), data_root = %config.data_root.display(), containers,
        ms = started.elapsed().as_millis() as u64, "netctld ready");
    crate::systemd::ready(&format!("serving {containers} containers"));

    tokio::spawn(crate::monitor::run(daemon.clone()));
    tokio::spawn(crate::systemd::watchdog(config.socket.clone(), daemon.resolver.clone()));
    let app = crate::api::router(daemon.clone());
    serve_api(listener, app, &daemon.events).await?;

    if let Some(cluster) = &cluster {
        // Not revoked: this host's keys outlive a restart shorter than the TTL.
        cluster.session.stop();
    }
    let _ = fs::remove_file(&config.socket);
    tracing::info!("netctld stopped; networks stay in place");
    Ok(())
}

/// A client must send a request's headers within this (a request line and headers
/// are a few hundred bytes; the CLI sends them in one write).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more wait in the listen backlog. Each costs a
/// task and a descriptor.
pub const MAX_CONNECTIONS: usize = 1024;
/// On SIGTERM, requests in progress get this long to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

async fn serve_api(
    listener: UnixListener,
    app: axum::Router,
    events: &crate::events::Events,
) -> anyhow::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("never closed"),
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "API connection ended");
            }
            drop(permit);
        });
    }
    crate::systemd::stopping();
    drop(listener);
    // Open `GET /events` streams end, or the shutdown would wait out its grace for them.
    events.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running after {}s: stopping anyway", SHUTDOWN_GRACE.as_secs());
    }
    Ok(())
}

/// The programs the daemon runs: without `nft` every network change would fail
/// later ("unable to execute nft"), so a start without it fails at once, naming
/// the package.
fn check_run_time_tools() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let (tool, package) = ("nft", "nftables");
    let found = std::env::split_paths(&path).any(|dir| {
        fs::metadata(dir.join(tool)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    });
    anyhow::ensure!(
        found,
        "{tool} not found in PATH ({}): install the {package} package (install.sh does)",
        path.to_string_lossy()
    );
    Ok(())
}

/// Binds the socket with mode 0600 from the start (umask), never briefly open to all.
fn bind_socket(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(parent) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // We hold the state lock, so a socket file here is a dead daemon's.
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove stale socket {}", path.display())),
    }
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.with_context(|| format!("cannot bind API socket {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

async fn shutdown_signal() {
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
}

/// Each container costs the daemon a few descriptors (its netlink socket, later its
/// resolver's sockets): lift the soft limit to the hard one, as systemd's
/// LimitNOFILE would.
fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(error = %e, "cannot raise the open-files limit");
            }
        }
    }
}
