//! The userland half of port publishing. DNAT serves traffic from other hosts,
//! from containers and to the host's own addresses; what it cannot serve is
//! 127.0.0.1 (no DNAT out of loopback without route_localnet), so, as Docker's
//! docker-proxy, the daemon listens on the published address itself and relays.
//! Binding first also reserves the port: a port in use fails before anything is made.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use netctl_model::ports::{PortBinding, Protocol};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const UDP_FLOW_IDLE: Duration = Duration::from_secs(60);
const MAX_UDP: usize = 65535;

/// A published port's socket, bound but not yet served.
pub enum BoundSocket {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

/// Binds the host side of `b`; a host port of 0 gets a free one, written back into `b`.
pub fn bind(b: &mut PortBinding) -> Result<BoundSocket, String> {
    let addr = SocketAddrV4::new(b.host_ip_or_any(), b.host_port);
    let bound = match b.container.proto {
        Protocol::Tcp => std::net::TcpListener::bind(addr).map(BoundSocket::Tcp),
        Protocol::Udp => std::net::UdpSocket::bind(addr).map(BoundSocket::Udp),
    }
    .map_err(|e| {
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            "port is already allocated".to_string()
        } else {
            e.to_string()
        };
        format!("Bind for {addr}/{} failed: {why}", b.container.proto.as_str())
    })?;
    let local = match &bound {
        BoundSocket::Tcp(l) => l.local_addr(),
        BoundSocket::Udp(s) => s.local_addr(),
    }
    .map_err(|e| format!("published port {addr}: {e}"))?;
    b.host_port = local.port();
    Ok(bound)
}

/// Where a container's published ports lead: its address may change (connect,
/// disconnect), the listening sockets stay.
pub type Target = Arc<RwLock<Option<Ipv4Addr>>>;

/// One container's relays; dropping it closes the sockets.
pub struct Relays {
    pub target: Target,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Relays {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub type RelayTable = std::sync::Mutex<HashMap<String, Relays>>;

/// Serves bound sockets, relaying to `target`'s address at each binding's container port.
pub fn serve(sockets: Vec<(BoundSocket, u16)>, target: Target) -> std::io::Result<Relays> {
    let mut tasks = Vec::new();
    for (socket, port) in sockets {
        tasks.push(match socket {
            BoundSocket::Tcp(l) => {
                l.set_nonblocking(true)?;
                tokio::spawn(relay_tcp(TcpListener::from_std(l)?, target.clone(), port))
            }
            BoundSocket::Udp(s) => {
                s.set_nonblocking(true)?;
                tokio::spawn(relay_udp(Arc::new(UdpSocket::from_std(s)?), target.clone(), port))
            }
        });
    }
    Ok(Relays { target, tasks })
}

fn current(target: &Target, port: u16) -> Option<SocketAddr> {
    target.read().expect("not poisoned").map(|ip| SocketAddr::from((ip, port)))
}

/// Each relayed connection is a task of this one's set, so aborting the relay
/// (the container went) ends its connections too, not only the listener.
async fn relay_tcp(listener: TcpListener, target: Target, port: u16) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((mut client, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Some(to) = current(&target, port) else { continue };
        connections.spawn(async move {
            let Ok(Ok(mut upstream)) = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await
            else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
    }
}

/// Each client address gets its own socket towards the container, so answers find
/// their way back; a flow ends after a minute without traffic.
async fn relay_udp(socket: Arc<UdpSocket>, target: Target, port: u16) {
    let flows: Arc<tokio::sync::Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    // As for TCP: the flows' tasks end with the relay.
    let mut tasks = tokio::task::JoinSet::new();
    let mut buf = vec![0u8; MAX_UDP];
    loop {
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let Ok((n, client)) = received else { continue };
        let Some(to) = current(&target, port) else { continue };
        let flow = flows.lock().await.get(&client).cloned();
        let flow = match flow {
            Some(f) => f,
            None => {
                let Ok(up) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await else { continue };
                if up.connect(to).await.is_err() {
                    continue;
                }
                let up = Arc::new(up);
                flows.lock().await.insert(client, up.clone());
                let (socket, flows, up2) = (socket.clone(), flows.clone(), up.clone());
                tasks.spawn(async move {
                    let mut buf = vec![0u8; MAX_UDP];
                    while let Ok(Ok(n)) = tokio::time::timeout(UDP_FLOW_IDLE, up2.recv(&mut buf)).await {
                        let _ = socket.send_to(&buf[..n], client).await;
                    }
                    flows.lock().await.remove(&client);
                });
                up
            }
        };
        let _ = flow.send(&buf[..n]).await;
    }
}
