//! The userland half of port publishing. DNAT serves traffic from other hosts,
//! from containers and to the host's own addresses; what it cannot serve is
//! 127.0.0.1 (no DNAT out of loopback without route_localnet), so, as Docker's
//! docker-proxy, the daemon listens on the published address itself and relays.
//! Binding first also reserves the port: a port in use fails before anything is made.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use netctl_model::ports::{PortBinding, Protocol};

use crate::firewall::PublishTarget;
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

/// Binds the host side of `b`: its address, or with none both 0.0.0.0 and [::]
/// (IPv6 only, same port), as Docker listens on both. A host port of 0 gets a free
/// one, written back into `b`. A host without IPv6 gets the IPv4 socket alone.
pub fn bind(b: &mut PortBinding) -> Result<Vec<BoundSocket>, String> {
    let first = bind_one(b, b.host_ip_or_any())?;
    let mut sockets = vec![first];
    if b.host_ip.is_none() {
        match bind_one(b, IpAddr::V6(Ipv6Addr::UNSPECIFIED)) {
            Ok(s) => sockets.push(s),
            Err(e) if e.contains("Address family not supported") || e.contains("Cannot assign") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sockets)
}

fn bind_one(b: &mut PortBinding, ip: IpAddr) -> Result<BoundSocket, String> {
    use socket2::{Domain, Protocol as SockProto, Socket, Type};
    let addr = SocketAddr::new(ip, b.host_port);
    let shown = match ip {
        IpAddr::V6(v6) => format!("[{v6}]:{}", b.host_port),
        v4 => format!("{v4}:{}", b.host_port),
    };
    let fail = |e: std::io::Error| {
        let why = if e.kind() == std::io::ErrorKind::AddrInUse {
            "port is already allocated".to_string()
        } else {
            e.to_string()
        };
        format!("Bind for {shown}/{} failed: {why}", b.container.proto.as_str())
    };
    let (ty, proto) = match b.container.proto {
        Protocol::Tcp => (Type::STREAM, SockProto::TCP),
        Protocol::Udp => (Type::DGRAM, SockProto::UDP),
    };
    let socket = Socket::new(Domain::for_address(addr), ty.cloexec(), Some(proto)).map_err(fail)?;
    if ip.is_ipv6() {
        // [::] beside 0.0.0.0: the IPv4 side is the other socket's.
        socket.set_only_v6(true).map_err(fail)?;
    }
    if b.container.proto == Protocol::Tcp {
        socket.set_reuse_address(true).map_err(fail)?;
    }
    socket.bind(&addr.into()).map_err(fail)?;
    if b.container.proto == Protocol::Tcp {
        socket.listen(1024).map_err(fail)?;
    }
    let local = socket
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or_else(|| format!("published port {shown}: no local address"))?;
    b.host_port = local.port();
    Ok(match b.container.proto {
        Protocol::Tcp => BoundSocket::Tcp(socket.into()),
        Protocol::Udp => BoundSocket::Udp(socket.into()),
    })
}

/// Where a container's published ports lead: its addresses may change (connect,
/// disconnect), the listening sockets stay.
pub type Target = Arc<RwLock<PublishTarget>>;

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
                let v6 = l.local_addr()?.is_ipv6();
                tokio::spawn(relay_tcp(TcpListener::from_std(l)?, target.clone(), port, v6))
            }
            BoundSocket::Udp(s) => {
                s.set_nonblocking(true)?;
                let v6 = s.local_addr()?.is_ipv6();
                tokio::spawn(relay_udp(Arc::new(UdpSocket::from_std(s)?), target.clone(), port, v6))
            }
        });
    }
    Ok(Relays { target, tasks })
}

/// The container's address of the listener's family, else its other one (an
/// IPv6 host port of an IPv4-only container, as docker-proxy relays it).
fn current(target: &Target, port: u16, v6: bool) -> Option<SocketAddr> {
    let t = *target.read().expect("not poisoned");
    let (v4, v6addr) = (t.v4.map(IpAddr::V4), t.v6.map(IpAddr::V6));
    let ip = if v6 { v6addr.or(v4) } else { v4.or(v6addr) };
    ip.map(|ip| SocketAddr::new(ip, port))
}

/// Each relayed connection is a task of this one's set, so aborting the relay
/// (the container went) ends its connections too, not only the listener.
async fn relay_tcp(listener: TcpListener, target: Target, port: u16, v6: bool) {
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
        let Some(to) = current(&target, port, v6) else { continue };
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
async fn relay_udp(socket: Arc<UdpSocket>, target: Target, port: u16, v6: bool) {
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
        let Some(to) = current(&target, port, v6) else { continue };
        let flow = flows.lock().await.get(&client).cloned();
        let flow = match flow {
            Some(f) => f,
            None => {
                let any: IpAddr =
                    if to.is_ipv6() { Ipv6Addr::UNSPECIFIED.into() } else { Ipv4Addr::UNSPECIFIED.into() };
                let Ok(up) = UdpSocket::bind((any, 0)).await else { continue };
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
