//! The daemon's life: lock the state, load it, reconcile the kernel, open the
//! socket, tell systemd we're ready, serve until SIGTERM/SIGINT.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use netctl_kernel::Netlink;
use tokio::net::UnixListener;
use tokio::signal::unix::{signal, SignalKind};

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
    let _data_lock = DirLock::acquire(&config.data_root)?;
    let _exec_lock =
        if config.exec_root != config.data_root { Some(DirLock::acquire(&config.exec_root)?) } else { None };

    let netlink = Netlink::connect().context("cannot talk to the kernel over netlink")?;
    let daemon = Arc::new(Daemon::load(config.clone(), netlink).context("cannot load state")?);
    daemon.load_upstreams();
    daemon.reconcile().await.context("reconcile at start failed")?;

    let listener = bind_socket(&config.socket)?;
    tracing::info!(socket = %config.socket.display(), data_root = %config.data_root.display(), "netctld ready");
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!(error = %e, "sd_notify READY failed");
    }

    tokio::spawn(crate::monitor::run(daemon.clone()));
    let app = crate::api::router(daemon.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Open `GET /events` streams end, or the shutdown would wait for them.
            daemon.events.close();
        })
        .await
        .context("API server failed")?;

    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = fs::remove_file(&config.socket);
    tracing::info!("netctld stopped; networks stay in place");
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
