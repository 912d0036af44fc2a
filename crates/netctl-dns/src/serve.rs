//! Serving one container's listener sockets. Common UDP questions are answered on
//! the resolver's own thread (`udp_loop`); the rest get a task of their own, so a
//! slow upstream never delays anyone else. Each TCP connection is its own task
//! with an idle timeout, and a container may hold only so many connections at
//! once: a slow or idle TCP client cannot stall the resolver (aardvark-dns's
//! CVE-2024-8418 came from that).

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::forward::Forwarder;
use crate::respond::{encode_for_udp, formerr, local_response, response_to};
use crate::udp_loop;
use crate::zone::{Answer, Zone};

pub const TCP_IDLE: Duration = Duration::from_secs(10);
pub const TCP_CONNECTIONS_PER_CONTAINER: usize = 32;
/// Questions are small; answers larger than this go over TCP anyway.
pub(crate) const MAX_UDP: usize = 1500;

enum Handled {
    Answered(Message),
    Forward { req: Box<Message>, upstreams: Vec<SocketAddr> },
}

pub struct Resolver {
    zone: RwLock<Arc<Zone>>,
    upstreams: RwLock<Arc<Vec<SocketAddr>>>,
    pub forwarder: Forwarder,
    pub ttl: u32,
}

impl Resolver {
    pub fn new(ttl: u32) -> Self {
        Self {
            zone: RwLock::new(Arc::new(Zone::default())),
            upstreams: RwLock::new(Arc::new(Vec::new())),
            forwarder: Forwarder::default(),
            ttl,
        }
    }

    /// Swaps in a new zone; queries in progress finish with the old one.
    pub fn set_zone(&self, zone: Zone) {
        *self.zone.write().expect("not poisoned") = Arc::new(zone);
    }

    /// Changes the zone in place under the write lock, so a query sees the change
    /// whole or not at all. The zone is copied only if a batch still holds the old
    /// one at that moment.
    pub fn update_zone(&self, change: impl FnOnce(&mut Zone)) {
        let mut zone = self.zone.write().expect("not poisoned");
        change(Arc::make_mut(&mut zone));
    }

    pub fn set_upstreams(&self, upstreams: Vec<SocketAddr>) {
        *self.upstreams.write().expect("not poisoned") = Arc::new(upstreams);
    }

    pub fn upstreams(&self) -> Arc<Vec<SocketAddr>> {
        self.upstreams.read().expect("not poisoned").clone()
    }

    pub(crate) fn zone(&self) -> Arc<Zone> {
        self.zone.read().expect("not poisoned").clone()
    }

    /// The local answer, or the question with the servers to forward it to.
    fn answer_locally(&self, container: &str, req: Message) -> Handled {
        if req.metadata.message_type != MessageType::Query || req.queries.len() != 1 {
            return Handled::Answered(response_to(&req, ResponseCode::FormErr));
        }
        let zone = self.zone();
        let q = &req.queries[0];
        let answer = zone.lookup(container, &q.name().to_ascii(), q.query_type());
        match local_response(&req, &answer, self.ttl) {
            Some(resp) => Handled::Answered(resp),
            None => {
                debug_assert_eq!(answer, Answer::Forward);
                let own = zone.view(container).map(|v| v.upstreams.clone()).unwrap_or_default();
                let upstreams = if own.is_empty() { self.upstreams().to_vec() } else { own };
                Handled::Forward { req: Box::new(req), upstreams }
            }
        }
    }

    /// Any answer for a raw question, forwarding if needed (TCP path).
    async fn answer(&self, container: &str, raw: &[u8]) -> Option<Message> {
        let req = Message::from_vec(raw).ok()?;
        match self.answer_locally(container, req) {
            Handled::Answered(resp) => Some(resp),
            Handled::Forward { req, upstreams } => Some(self.forwarder.forward(&req, &upstreams).await),
        }
    }
}

/// Serves a container's UDP listener until the returned task is aborted. The fast
/// path runs on the resolver's own thread (see `udp_loop`); the task holds the
/// socket's place there, and aborting it removes the socket before the fd closes.
pub fn serve_udp(
    resolver: Arc<Resolver>,
    container: Arc<str>,
    socket: std::net::UdpSocket,
) -> std::io::Result<JoinHandle<()>> {
    socket.set_nonblocking(true)?;
    let registration = udp_loop::get()?.register(Arc::new(socket), resolver, container)?;
    Ok(tokio::spawn(async move {
        let _registration = registration;
        std::future::pending::<()>().await;
    }))
}

/// A question the fast path left: parsed by hickory-proto, answered locally or
/// forwarded. The socket is non-blocking; an answer it will not take is dropped.
pub(crate) async fn answer_general_udp(
    resolver: &Resolver,
    container: &str,
    socket: &std::net::UdpSocket,
    raw: &[u8],
    peer: SocketAddr,
) {
    let Ok(req) = Message::from_vec(raw) else {
        if let Some(out) = formerr(raw) {
            let _ = socket.send_to(&out, peer);
        }
        return;
    };
    let resp = match resolver.answer_locally(container, req.clone()) {
        Handled::Answered(resp) => resp,
        Handled::Forward { req, upstreams } => resolver.forwarder.forward(&req, &upstreams).await,
    };
    let _ = socket.send_to(&encode_for_udp(&req, resp), peer);
}

pub fn serve_tcp(
    resolver: Arc<Resolver>,
    container: Arc<str>,
    listener: std::net::TcpListener,
) -> std::io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let slots = Arc::new(Semaphore::new(TCP_CONNECTIONS_PER_CONTAINER));
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            // Over the bound, the newcomer is closed at once; the others go on.
            let Ok(permit) = slots.clone().try_acquire_owned() else { continue };
            let (resolver, container) = (resolver.clone(), container.clone());
            tokio::spawn(async move {
                let _ = serve_connection(&resolver, &container, stream).await;
                drop(permit);
            });
        }
    }))
}

/// Queries on one connection, answered in order; closed when idle or when the
/// client stops reading.
async fn serve_connection(
    resolver: &Resolver,
    container: &str,
    mut stream: TcpStream,
) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        if tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut msg)).await.is_err() {
            return Ok(());
        }
        let out = match resolver.answer(container, &msg).await {
            Some(resp) => resp.to_vec().unwrap_or_default(),
            None => formerr(&msg).unwrap_or_default(),
        };
        if out.is_empty() {
            return Ok(());
        }
        let mut frame = (out.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(&out);
        if tokio::time::timeout(TCP_IDLE, stream.write_all(&frame)).await.is_err() {
            return Ok(());
        }
    }
}
