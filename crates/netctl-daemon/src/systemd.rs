//! What netctld tells systemd, and what it gets back from it (sd-notify's
//! protocol, through the `sd-notify` crate with its `fdstore` feature):
//!
//! - READY=1 once every listener serves the whole zone and the API accepts;
//! - WATCHDOG=1 only while a check of the API (a request to our own socket) and of
//!   the resolver's UDP loop (a question to a probe socket it serves) both pass;
//! - each container's resolver sockets in systemd's file-descriptor store
//!   (FDSTORE=1, FDNAME=<container id>), taken back at start (LISTEN_FDS,
//!   LISTEN_FDNAMES): across `systemctl restart` and kill -9 the sockets stay open,
//!   the namespaces' redirect keeps pointing at them, and queries sent meanwhile
//!   wait in them for the next daemon instead of failing.
//!
//! Without NOTIFY_SOCKET every call here is a no-op.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sd_notify::NotifyState;

/// Sockets systemd handed back at start, by name (a container id), until the
/// listener code claims them. Filled once, in `main`, before any thread exists.
static STORED: OnceLock<Mutex<HashMap<String, Vec<OwnedFd>>>> = OnceLock::new();

/// Takes the descriptors systemd passed (LISTEN_FDS) and clears the variables, so
/// that the shims and containers we start do not inherit them. Call before any
/// thread is started.
pub fn take_listen_fds() {
    // SAFETY: called from main before the runtime or any other thread exists (the
    // function's precondition: it removes environment variables).
    let fds = unsafe { sd_notify::listen_fds_with_names_and_unset_env() };
    let mut by_name: HashMap<String, Vec<OwnedFd>> = HashMap::new();
    match fds {
        Ok(fds) => {
            for (fd, name) in fds {
                // SAFETY: systemd passed this descriptor to us alone (LISTEN_PID is
                // ours); nothing else in the process knows or owns it.
                by_name.entry(name).or_default().push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        Err(e) => eprintln!("netctld: ignoring the descriptors systemd passed: {e}"),
    }
    let _ = STORED.set(Mutex::new(by_name));
}

/// True if a service manager listens for our notifications.
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// The stored UDP and TCP sockets of a container, if systemd handed them back.
pub fn take_stored(container_id: &str) -> Option<(UdpSocket, std::net::TcpListener)> {
    let fds = STORED.get()?.lock().expect("not poisoned").remove(container_id)?;
    let (mut udp, mut tcp) = (None, None);
    for fd in fds {
        match socket_type(&fd) {
            Some(libc::SOCK_DGRAM) => udp = Some(UdpSocket::from(fd)),
            Some(libc::SOCK_STREAM) => tcp = Some(std::net::TcpListener::from(fd)),
            _ => {}
        }
    }
    match (udp, tcp) {
        (Some(u), Some(t)) => Some((u, t)),
        _ => {
            forget(container_id);
            None
        }
    }
}

/// Names of stored sockets nobody claimed at start (containers that are gone):
/// dropped from systemd's store and closed.
pub fn release_unclaimed() -> usize {
    let Some(stored) = STORED.get() else { return 0 };
    let left: Vec<String> = stored.lock().expect("not poisoned").drain().map(|(name, _)| name).collect();
    for name in &left {
        forget(name);
    }
    left.len()
}

fn socket_type(fd: &OwnedFd) -> Option<libc::c_int> {
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: fd is open; ty and len are valid for the sizes given.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut ty as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(ty)
}

/// Puts a container's resolver sockets in systemd's store under its id.
/// FDPOLL=0: systemd must not drop them on an error condition of a UDP socket.
pub fn store(container_id: &str, udp: &UdpSocket, tcp: &std::net::TcpListener) {
    if !enabled() {
        return;
    }
    let state = [NotifyState::FdStore, NotifyState::FdName(container_id), NotifyState::Custom("FDPOLL=0")];
    if let Err(e) = sd_notify::notify_with_fds(&state, &[udp.as_fd(), tcp.as_fd()]) {
        tracing::warn!(container = container_id, error = %e, "cannot put the resolver's sockets in systemd's store");
    }
}

/// Removes a container's sockets from systemd's store (its listener is gone).
pub fn forget(container_id: &str) {
    if !enabled() {
        return;
    }
    if let Err(e) = sd_notify::notify(&[NotifyState::FdStoreRemove, NotifyState::FdName(container_id)]) {
        tracing::warn!(container = container_id, error = %e, "cannot remove sockets from systemd's store");
    }
}

pub fn ready(status: &str) {
    if let Err(e) = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status(status)]) {
        tracing::warn!(error = %e, "sd_notify READY failed");
    }
}

pub fn stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

/// Every quarter of WatchdogSec (if systemd set one), checks the API and the
/// resolver's loop, and sends WATCHDOG=1 only if both answered in time. A hung
/// daemon (a deadlock, a stopped process) stops the pings and systemd restarts it.
pub async fn watchdog(api_socket: PathBuf, resolver: std::sync::Arc<netctl_dns::Resolver>) {
    let Some(period) = sd_notify::watchdog_enabled().filter(|p| !p.is_zero()) else { return };
    let every = period / 4;
    let probe = match ResolverProbe::start(resolver) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "watchdog: cannot start the resolver probe; no watchdog pings");
            return;
        }
    };
    tracing::info!(period_ms = period.as_millis() as u64, "watchdog enabled");
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let api = tokio::time::timeout(every, api_answers(&api_socket)).await;
        let dns = probe.check(every).await;
        match (api, dns) {
            (Ok(Ok(())), Ok(())) => {
                let _ = sd_notify::notify(&[NotifyState::Watchdog]);
            }
            (api, dns) => {
                let api = match api {
                    Ok(Ok(())) => "ok".to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "timed out".to_string(),
                };
                let dns = dns.err().map(|e| e.to_string()).unwrap_or_else(|| "ok".into());
                tracing::error!(%api, resolver = %dns, "health check failed: no watchdog ping");
            }
        }
    }
}

/// GET /v1/networks on our own socket: the API accepts, routes, and takes the
/// registry's lock.
async fn api_answers(socket: &std::path::Path) -> anyhow::Result<()> {
    use http_body_util::{BodyExt, Empty};
    let stream = tokio::net::UnixStream::connect(socket).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    let conn = tokio::spawn(conn);
    let req = hyper::Request::get("/v1/networks")
        .header("host", "netctld")
        .body(Empty::<hyper::body::Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    resp.into_body().collect().await?;
    conn.abort();
    anyhow::ensure!(status.is_success(), "GET /v1/networks answered {status}");
    Ok(())
}

/// A socket on the host's loopback served by the resolver's UDP loop like a
/// container's listener (for no container: the answer is REFUSED), and a client
/// asking it: an answer means the loop turns.
struct ResolverProbe {
    client: tokio::net::UdpSocket,
    _served: tokio::task::JoinHandle<()>,
}

impl ResolverProbe {
    fn start(resolver: std::sync::Arc<netctl_dns::Resolver>) -> std::io::Result<Self> {
        let server = UdpSocket::bind("127.0.0.1:0")?;
        let addr = server.local_addr()?;
        let served =
            netctl_dns::serve::serve_udp(resolver, std::sync::Arc::from("netctld-watchdog"), server)?;
        let client = std::net::UdpSocket::bind("127.0.0.1:0")?;
        client.connect(addr)?;
        client.set_nonblocking(true)?;
        Ok(Self { client: tokio::net::UdpSocket::from_std(client)?, _served: served })
    }

    async fn check(&self, within: Duration) -> std::io::Result<()> {
        let id: u16 = rand_id();
        // A query for "watchdog." IN A with the given id.
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        q.extend_from_slice(b"\x08watchdog\x00\x00\x01\x00\x01");
        self.client.send(&q).await?;
        let mut buf = [0u8; 512];
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.client.recv(&mut buf)).await {
                Err(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the UDP loop did not answer",
                    ))
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(n)) if n >= 2 && buf[..2] == id.to_be_bytes() => return Ok(()),
                Ok(Ok(_)) => continue,
            }
        }
    }
}

fn rand_id() -> u16 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos() as u16).unwrap_or(0)
}
