//! Serving one container's listener sockets. Common UDP questions are answered on
//! the resolver's own thread (`udp_loop`); the rest get a task of their own, so a
//! slow upstream never delays anyone else. Each TCP connection is its own task
//! with an idle timeout, and a container may hold only so many connections at
//! once: past the bound the connection idle the longest is closed, not the
//! newcomer (RFC 7766 §6.2.3), so neither a slow nor an idle TCP client can stall
//! the resolver or shut its container out of TCP (aardvark-dns's CVE-2024-8418
//! came from the first; closing newcomers was the second).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

use crate::forward::{Budget, Forwarder, Transport};
use crate::respond::{encode_for_udp, general, General};
use crate::udp_loop;
use crate::zone::Zone;

pub const TCP_IDLE: Duration = Duration::from_secs(10);
pub const TCP_CONNECTIONS_PER_CONTAINER: usize = 32;
/// Questions are small; answers larger than this go over TCP anyway.
pub(crate) const MAX_UDP: usize = 1500;

/// Told of every zone the resolver answers from, under the zone's lock, before
/// the change returns (the kernel's fast path mirrors the zone this way).
pub type ZoneObserver = Box<dyn Fn(&mut Zone) + Send + Sync>;

pub struct Resolver {
    zone: RwLock<Arc<Zone>>,
    observer: RwLock<Option<ZoneObserver>>,
    upstreams: RwLock<Arc<Vec<SocketAddr>>>,
    pub forwarder: Forwarder,
    pub ttl: u32,
}

impl Resolver {
    pub fn new(ttl: u32) -> Self {
        Self {
            zone: RwLock::new(Arc::new(Zone::default())),
            observer: RwLock::new(None),
            upstreams: RwLock::new(Arc::new(Vec::new())),
            forwarder: Forwarder::default(),
            ttl,
        }
    }

    /// Swaps in a new zone; queries in progress finish with the old one.
    pub fn set_zone(&self, zone: Zone) {
        let mut current = self.zone.write().expect("not poisoned");
        *current = Arc::new(zone);
        self.notify(Arc::make_mut(&mut current));
    }

    /// `observer` sees the current zone now and every zone after it.
    pub fn set_observer(&self, observer: ZoneObserver) {
        let mut zone = self.zone.write().expect("not poisoned");
        observer(Arc::make_mut(&mut zone));
        *self.observer.write().expect("not poisoned") = Some(observer);
    }

    /// Runs `f` with the current zone, no change running meanwhile.
    pub fn with_zone<R>(&self, f: impl FnOnce(&Zone) -> R) -> R {
        f(&self.zone.read().expect("not poisoned"))
    }

    fn notify(&self, zone: &mut Zone) {
        if let Some(observer) = self.observer.read().expect("not poisoned").as_ref() {
            observer(zone);
        }
    }

    /// Changes the zone in place under the write lock, so a query sees the change
    /// whole or not at all. The zone is copied only if a batch still holds the old
    /// one at that moment.
    pub fn update_zone(&self, change: impl FnOnce(&mut Zone)) {
        let mut zone = self.zone.write().expect("not poisoned");
        change(Arc::make_mut(&mut zone));
        self.notify(Arc::make_mut(&mut zone));
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

    /// The answer to one raw message from `container`, encoded for `transport`;
    /// None when it gets none.
    async fn answer(
        &self,
        container: &str,
        budget: &Budget,
        raw: &[u8],
        transport: Transport,
    ) -> Option<Vec<u8>> {
        let zone = self.zone();
        let (req, resp) = match general(&zone, container, self.ttl, raw) {
            General::Drop => return None,
            General::Raw(out) => return Some(out),
            General::Local { req, resp } => (req, *resp),
            General::Forward(req) => {
                // The container's own `--dns` servers, else the daemon's.
                let own = zone.view(container).map(|v| v.upstreams.clone()).unwrap_or_default();
                drop(zone);
                let upstreams = if own.is_empty() { self.upstreams().to_vec() } else { own };
                let resp = self.forwarder.forward(&req, &upstreams, budget, transport).await;
                (req, resp)
            }
        };
        match transport {
            Transport::Udp => Some(encode_for_udp(&req, resp)),
            Transport::Tcp => resp.to_vec().ok(),
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
    let budget = resolver.forwarder.budget(&container);
    let registration = udp_loop::get()?.register(Arc::new(socket), resolver, container, budget)?;
    Ok(tokio::spawn(async move {
        let _registration = registration;
        std::future::pending::<()>().await;
    }))
}

/// A question the fast path left: answered locally or forwarded. The socket is
/// non-blocking; an answer it will not take is dropped.
pub(crate) async fn answer_general_udp(
    resolver: &Resolver,
    container: &str,
    budget: &Budget,
    socket: &std::net::UdpSocket,
    raw: &[u8],
    peer: SocketAddr,
) {
    if let Some(out) = resolver.answer(container, budget, raw, Transport::Udp).await {
        let _ = socket.send_to(&out, peer);
    }
}

/// The open TCP connections of one listener and when each began waiting for its
/// next question (None while it is being answered).
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: HashMap<u64, Connection>,
}

struct Connection {
    idle_since: Option<Instant>,
    /// Set once the connection's task is spawned.
    task: Option<AbortHandle>,
}

impl Connections {
    /// Admits a new connection (idle from `now`) and, past `limit`, takes out the
    /// one idle the longest, which is the newcomer itself only if every other is
    /// being answered. Returns the newcomer's id and the one to close.
    fn admit(&mut self, now: Instant, limit: usize) -> (u64, Option<(u64, Option<AbortHandle>)>) {
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(id, Connection { idle_since: Some(now), task: None });
        if self.open.len() <= limit {
            return (id, None);
        }
        let oldest = self
            .open
            .iter()
            .filter_map(|(id, c)| c.idle_since.map(|t| (t, *id)))
            .min()
            .map(|(_, id)| id)
            .unwrap_or(id);
        let closed = self.open.remove(&oldest).map(|c| (oldest, c.task));
        (id, closed)
    }

    fn set_idle(&mut self, id: u64, idle_since: Option<Instant>) {
        if let Some(c) = self.open.get_mut(&id) {
            c.idle_since = idle_since;
        }
    }
}

type Table = Arc<Mutex<Connections>>;

fn table(t: &Table) -> std::sync::MutexGuard<'_, Connections> {
    t.lock().expect("not poisoned")
}

/// Takes a connection out of the table when its task ends, however it ends.
struct Leaves(Table, u64);

impl Drop for Leaves {
    fn drop(&mut self) {
        table(&self.0).open.remove(&self.1);
    }
}

/// Owned by the listener's task: when it is aborted (the container is gone), its
/// connections are closed too rather than left to their idle timeout.
struct ClosesAll(Table);

impl Drop for ClosesAll {
    fn drop(&mut self) {
        let tasks: Vec<AbortHandle> = table(&self.0).open.drain().filter_map(|(_, c)| c.task).collect();
        tasks.iter().for_each(AbortHandle::abort);
    }
}

pub fn serve_tcp(
    resolver: Arc<Resolver>,
    container: Arc<str>,
    listener: std::net::TcpListener,
) -> std::io::Result<JoinHandle<()>> {
    serve_tcp_bounded(resolver, container, listener, TCP_CONNECTIONS_PER_CONTAINER)
}

fn serve_tcp_bounded(
    resolver: Arc<Resolver>,
    container: Arc<str>,
    listener: std::net::TcpListener,
    limit: usize,
) -> std::io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let budget = resolver.forwarder.budget(&container);
    let conns: Table = Arc::default();
    Ok(tokio::spawn(async move {
        let _closes_all = ClosesAll(conns.clone());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let (id, closed) = table(&conns).admit(Instant::now(), limit);
            if let Some((closed_id, task)) = closed {
                if closed_id == id {
                    continue; // every other connection is mid-answer: the newcomer goes
                }
                tracing::debug!(container = %container, "resolver TCP: closing the connection idle the longest");
                task.inspect(AbortHandle::abort);
            }
            let (resolver, container, budget, conns2) =
                (resolver.clone(), container.clone(), budget.clone(), conns.clone());
            let task = tokio::spawn(async move {
                let leaves = Leaves(conns2, id);
                let _ = serve_connection(&resolver, &container, &budget, stream, &leaves).await;
            });
            // Unless it has ended already (and so left the table).
            if let Some(c) = table(&conns).open.get_mut(&id) {
                c.task = Some(task.abort_handle());
            }
        }
    }))
}

/// Queries on one connection, answered in order; closed when idle, when the
/// client stops reading, or when a newer connection needs its place.
async fn serve_connection(
    resolver: &Resolver,
    container: &str,
    budget: &Budget,
    mut stream: TcpStream,
    me: &Leaves,
) -> std::io::Result<()> {
    loop {
        table(&me.0).set_idle(me.1, Some(Instant::now()));
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return Ok(()),
        }
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        if !matches!(tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut msg)).await, Ok(Ok(_))) {
            return Ok(());
        }
        table(&me.0).set_idle(me.1, None);
        // A message that gets no answer (a response) is skipped; the next may.
        let Some(out) = resolver.answer(container, budget, &msg, Transport::Tcp).await else { continue };
        let Ok(out_len) = u16::try_from(out.len()) else { return Ok(()) };
        let mut frame = out_len.to_be_bytes().to_vec();
        frame.extend_from_slice(&out);
        if !matches!(tokio::time::timeout(TCP_IDLE, stream.write_all(&frame)).await, Ok(Ok(_))) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{one_network_zone, query};
    use hickory_proto::op::Message;
    use hickory_proto::rr::RecordType;

    #[test]
    fn the_connection_idle_the_longest_goes() {
        let mut c = Connections::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(c.admit(at(0), 3).0, 0);
        assert_eq!(c.admit(at(1), 3).0, 1);
        assert_eq!(c.admit(at(2), 3).0, 2);
        c.set_idle(0, Some(at(5))); // answered something since: idle since later
        let (id, closed) = c.admit(at(6), 3);
        assert_eq!((id, closed.map(|c| c.0)), (3, Some(1)));
        c.set_idle(2, None); // being answered: never taken
        let (id, closed) = c.admit(at(7), 3);
        assert_eq!((id, closed.map(|c| c.0)), (4, Some(0)));
        c.set_idle(3, None);
        c.set_idle(4, None);
        let (id, closed) = c.admit(at(8), 3);
        assert_eq!((id, closed.map(|c| c.0)), (5, Some(5)), "all busy: the newcomer goes");
        assert_eq!(c.open.len(), 3);
    }

    async fn tcp_ask(stream: &mut TcpStream, name: &str) -> std::io::Result<Message> {
        let bytes = query(name, RecordType::A, false).to_vec().unwrap();
        let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(&bytes);
        stream.write_all(&frame).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut msg).await?;
        Ok(Message::from_vec(&msg).unwrap())
    }

    /// Many idle connections: each newcomer is served, the oldest idle ones are
    /// closed, and the bound holds.
    #[tokio::test]
    async fn idle_connections_never_shut_out_a_new_one() {
        let r = Resolver::new(600);
        r.set_zone(one_network_zone(&[("redis", &[], "172.18.0.2".parse().unwrap())]));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let task = serve_tcp_bounded(Arc::new(r), Arc::from("c"), listener, 4).unwrap();
        let mut idle = Vec::new();
        for _ in 0..20 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        let mut fresh = TcpStream::connect(addr).await.unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(2), tcp_ask(&mut fresh, "redis.")).await.unwrap();
        assert_eq!(resp.unwrap().answers.len(), 1);
        // The first ones were closed (EOF), the last three still are served.
        let mut buf = [0u8; 1];
        let first = tokio::time::timeout(Duration::from_secs(2), idle[0].read(&mut buf)).await.unwrap();
        assert!(matches!(first, Ok(0) | Err(_)), "{first:?}");
        let last = idle.last_mut().unwrap();
        assert_eq!(tcp_ask(last, "redis.").await.unwrap().answers.len(), 1);
        // Gone with the listener.
        task.abort();
        let _ = task.await;
        let closed = tokio::time::timeout(Duration::from_secs(2), fresh.read(&mut buf)).await.unwrap();
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    }

    /// A response (QR=1) on TCP gets no answer; the next question on the
    /// connection still does.
    #[tokio::test]
    async fn responses_on_tcp_are_skipped() {
        let r = Resolver::new(600);
        r.set_zone(one_network_zone(&[("redis", &[], "172.18.0.2".parse().unwrap())]));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let task = serve_tcp(Arc::new(r), Arc::from("c"), listener).unwrap();
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut resp = query("redis.", RecordType::A, false).to_vec().unwrap();
        resp[2] |= 0x80;
        let mut frame = (resp.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(&resp);
        s.write_all(&frame).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(2), tcp_ask(&mut s, "redis.")).await.unwrap();
        assert_eq!(answer.unwrap().answers.len(), 1);
        task.abort();
    }
}
