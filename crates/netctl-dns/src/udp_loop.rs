//! The UDP fast path of every container's listener on one OS thread. A tokio task
//! per socket cost a reactor wakeup, a task poll and two syscalls per query; here a
//! level-triggered epoll over all listeners wakes the thread once per burst, and
//! each ready socket is drained with recvmmsg and answered with one sendmmsg.
//! What the fast path cannot answer is handed to the socket's tokio runtime.
//!
//! Buffers belong to the thread, not to sockets: a thousand idle listeners cost an
//! epoll entry and a map entry each.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use rustc_hash::FxHashMap as HashMap;
use tokio::runtime::Handle;

use crate::fastpath;
use crate::forward::Budget;
use crate::serve::{answer_general_udp, Resolver, MAX_UDP};

/// Datagrams taken per recvmmsg. Enough to amortise the syscalls under load; the
/// buffers for them are the thread's only sizeable memory (about 100 KiB).
const VLEN: usize = 32;
const MAX_EVENTS: usize = 64;
/// Questions of one listener waiting for the general path at once; beyond that
/// they are dropped (the client asks again), so a flood of odd packets cannot pile
/// up tasks. Per listener, so that one container's flood (or silent upstream)
/// drops its own questions only; above the forwarder's per-container budget, so
/// that local general answers still get through while it is full.
const MAX_GENERAL_IN_FLIGHT_PER_LISTENER: usize = 256;
/// And of all listeners, bounding the memory such tasks can take.
const MAX_GENERAL_IN_FLIGHT: usize = 16384;

/// One listener: its socket and who answers what the fast path cannot.
struct Entry {
    /// `socket`'s, kept here so that serving it reads no other cache line.
    fd: libc::c_int,
    socket: Arc<UdpSocket>,
    resolver: Arc<Resolver>,
    container: Arc<str>,
    budget: Arc<Budget>,
    /// This listener's questions on the general path.
    in_flight: Arc<AtomicUsize>,
    runtime: Handle,
}

pub struct UdpLoop {
    epoll: OwnedFd,
    /// Held by the loop thread while it serves the sockets of one epoll_wait, so
    /// that a socket removed here is never touched by the thread again.
    entries: Mutex<HashMap<u64, Entry>>,
    /// Tokens are never reused: an event already returned for a removed socket
    /// finds nothing rather than its successor.
    next_token: AtomicU64,
    general_in_flight: Arc<AtomicUsize>,
}

/// While alive, the socket is served by the loop; dropping it removes the socket
/// from the loop before returning (the fd closes once nothing else holds it).
pub struct Registration {
    lp: Arc<UdpLoop>,
    token: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = self.lp.entries().remove(&self.token);
        if let Some(entry) = &removed {
            // Removing from the map is what stops the thread; the fd is still open here.
            let _ = self.lp.ctl(libc::EPOLL_CTL_DEL, entry.socket.as_raw_fd(), self.token);
        }
    }
}

/// The process's loop, started on first use.
pub fn get() -> io::Result<Arc<UdpLoop>> {
    static LOOP: OnceLock<Arc<UdpLoop>> = OnceLock::new();
    static START: Mutex<()> = Mutex::new(());
    if let Some(lp) = LOOP.get() {
        return Ok(lp.clone());
    }
    // OnceLock::get_or_try_init is unstable; a failed start must be retryable.
    let _start = START.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(lp) = LOOP.get() {
        return Ok(lp.clone());
    }
    let lp = UdpLoop::start()?;
    Ok(LOOP.get_or_init(|| lp).clone())
}

impl UdpLoop {
    fn start() -> io::Result<Arc<Self>> {
        // SAFETY: plain syscall; the fd is owned from here on.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(with_context(io::Error::last_os_error(), "resolver UDP loop: epoll_create1"));
        }
        let lp = Arc::new(Self {
            // SAFETY: fd is a fresh descriptor nobody else owns.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            entries: Mutex::new(HashMap::default()),
            next_token: AtomicU64::new(0),
            general_in_flight: Arc::new(AtomicUsize::new(0)),
        });
        let thread_lp = lp.clone();
        std::thread::Builder::new()
            .name("dns-udp".into())
            .spawn(move || thread_lp.run())
            .map_err(|e| with_context(e, "resolver UDP loop: spawn thread"))?;
        Ok(lp)
    }

    /// Serves `socket` (non-blocking) for `container` until the registration is dropped.
    /// General-path answers run on the current tokio runtime.
    pub fn register(
        self: &Arc<Self>,
        socket: Arc<UdpSocket>,
        resolver: Arc<Resolver>,
        container: Arc<str>,
        budget: Arc<Budget>,
    ) -> io::Result<Registration> {
        let runtime = Handle::try_current().map_err(io::Error::other)?;
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let fd = socket.as_raw_fd();
        let mut entries = self.entries();
        let in_flight = Arc::default();
        entries.insert(token, Entry { fd, socket, resolver, container, budget, in_flight, runtime });
        if let Err(e) = self.ctl(libc::EPOLL_CTL_ADD, fd, token) {
            entries.remove(&token);
            return Err(with_context(e, "resolver UDP loop: add socket to epoll"));
        }
        Ok(Registration { lp: self.clone(), token })
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<u64, Entry>> {
        // The map stays consistent whatever panicked while holding it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ctl(&self, op: libc::c_int, fd: libc::c_int, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
        // SAFETY: both fds are open; ev outlives the call.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn run(&self) {
        let mut batch = Batch::new();
        loop {
            // A bug answering one packet must not end DNS for every container.
            let served = std::panic::catch_unwind(AssertUnwindSafe(|| self.serve(&mut batch)));
            if served.is_err() {
                tracing::error!("resolver UDP loop panicked; serving on");
                batch = Batch::new();
            }
        }
    }

    fn serve(&self, batch: &mut Batch) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        loop {
            // SAFETY: events is valid for MAX_EVENTS entries.
            let n = unsafe {
                libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), MAX_EVENTS as libc::c_int, -1)
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(error = %e, "resolver UDP loop: epoll_wait failed");
                    std::thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
            let entries = self.entries();
            for ev in &events[..n as usize] {
                let token = ev.u64;
                if let Some(entry) = entries.get(&token) {
                    self.drain(entry, batch);
                }
            }
        }
    }

    /// Answers what is queued on one socket. Level-triggered epoll reports the
    /// socket again if a full batch left more behind, which also keeps one busy
    /// container from starving the others.
    fn drain(&self, entry: &Entry, batch: &mut Batch) {
        let fd = entry.fd;
        let got = match batch.recv(fd) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => return receive_failed(entry, e),
        };
        let zone = entry.resolver.zone();
        let view = zone.placed_view(&entry.container);
        let mut answers = 0;
        for slot in 0..got {
            // Fields, not batch.query(): the answer buffer is borrowed mutably alongside.
            let query = &batch.bufs[slot][..batch.lens[slot]];
            if fastpath::answer(&zone, view, entry.resolver.ttl, query, &mut batch.outs[answers]) {
                batch.answer_to[answers] = slot;
                answers += 1;
            } else {
                self.hand_over(entry, batch, slot);
            }
        }
        if let Err(e) = batch.send(fd, answers) {
            send_failed(entry, e);
        }
    }

    // Cold, like the logging: the common question's code then stays together in a
    // few cache lines, which matters because it runs right after a wakeup.
    #[cold]
    #[inline(never)]
    fn hand_over(&self, entry: &Entry, batch: &Batch, slot: usize) {
        let Some(peer) = batch.peer(slot) else { return };
        let query = batch.query(slot).to_vec();
        let Some(mine) = InFlight::enter(&entry.in_flight, MAX_GENERAL_IN_FLIGHT_PER_LISTENER) else {
            return;
        };
        let Some(all) = InFlight::enter(&self.general_in_flight, MAX_GENERAL_IN_FLIGHT) else { return };
        let (resolver, container, socket, budget) =
            (entry.resolver.clone(), entry.container.clone(), entry.socket.clone(), entry.budget.clone());
        entry.runtime.spawn(async move {
            answer_general_udp(&resolver, &container, &budget, &socket, &query, peer).await;
            drop((mine, all));
        });
    }
}

#[cold]
#[inline(never)]
fn receive_failed(entry: &Entry, e: io::Error) {
    tracing::warn!(container = %entry.container, error = %e, "resolver UDP receive failed");
}

/// A full send buffer drops an answer (the client asks again): not worth a warning.
#[cold]
#[inline(never)]
fn send_failed(entry: &Entry, e: io::Error) {
    tracing::debug!(container = %entry.container, error = %e, "resolver UDP send failed");
}

/// One question counted in a bound while it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>, bound: usize) -> Option<Self> {
        if count.fetch_add(1, Ordering::Relaxed) >= bound {
            count.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(Self(count.clone()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn with_context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// The thread's buffers for one recvmmsg and the sendmmsg of its answers. Boxed
/// and never moved, so the kernel headers point into it for good: they are set up
/// once, and only the fields the kernel overwrites are reset before each call
/// (writing 32 headers per wakeup was a cache line each, with cold caches).
struct Batch {
    bufs: [[u8; MAX_UDP]; VLEN],
    /// Peer addresses; a sockaddr_in6 holds a sockaddr_in too, at a quarter of the
    /// size of sockaddr_storage.
    names: [libc::sockaddr_in6; VLEN],
    iovs: [libc::iovec; VLEN],
    msgs: [libc::mmsghdr; VLEN],
    lens: [usize; VLEN],
    /// Headers the last recvmmsg filled in, to be reset before the next.
    used: usize,
    outs: Vec<Vec<u8>>,
    out_iovs: [libc::iovec; VLEN],
    out_msgs: [libc::mmsghdr; VLEN],
    /// The slot (and so the peer address) each answer goes to.
    answer_to: [usize; VLEN],
}

const NAME_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;

impl Batch {
    fn new() -> Box<Self> {
        // SAFETY: every field is an array of bytes, integers or plain C structs (with
        // null pointers), for which all-zero bytes are a valid value; `outs` is
        // written before the box is used.
        // (Box::new_zeroed is newer than our MSRV.)
        let mut b: Box<Self> = unsafe {
            let layout = std::alloc::Layout::new::<Self>();
            let p = std::alloc::alloc_zeroed(layout).cast::<Self>();
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            std::ptr::addr_of_mut!((*p).outs).write((0..VLEN).map(|_| Vec::with_capacity(512)).collect());
            Box::from_raw(p)
        };
        for i in 0..VLEN {
            b.iovs[i] = libc::iovec { iov_base: b.bufs[i].as_mut_ptr().cast(), iov_len: MAX_UDP };
            let iov: *mut libc::iovec = &mut b.iovs[i];
            let name: *mut libc::sockaddr_in6 = &mut b.names[i];
            let hdr = &mut b.msgs[i].msg_hdr;
            hdr.msg_name = name.cast();
            hdr.msg_namelen = NAME_LEN;
            hdr.msg_iov = iov;
            hdr.msg_iovlen = 1;
            let out_iov: *mut libc::iovec = &mut b.out_iovs[i];
            b.out_msgs[i].msg_hdr.msg_iov = out_iov;
            b.out_msgs[i].msg_hdr.msg_iovlen = 1;
        }
        b
    }

    /// Receives up to VLEN datagrams without waiting; WouldBlock if there were none.
    fn recv(&mut self, fd: libc::c_int) -> io::Result<usize> {
        for msg in &mut self.msgs[..self.used] {
            msg.msg_hdr.msg_namelen = NAME_LEN;
        }
        self.used = 0;
        loop {
            // SAFETY: every header points at live buffers of the stated sizes.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.msgs.as_mut_ptr(),
                    VLEN as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                let n = n as usize;
                self.used = n;
                for i in 0..n {
                    // Longer datagrams are cut at MAX_UDP, as a plain recv_from would.
                    self.lens[i] = (self.msgs[i].msg_len as usize).min(MAX_UDP);
                }
                return Ok(n);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    fn query(&self, slot: usize) -> &[u8] {
        &self.bufs[slot][..self.lens[slot]]
    }

    fn peer(&self, slot: usize) -> Option<SocketAddr> {
        sockaddr_to_std(&self.names[slot], self.msgs[slot].msg_hdr.msg_namelen)
    }

    /// Sends `outs[..count]`, each to the peer of its slot; what the socket will
    /// not take without waiting is dropped (the client asks again).
    fn send(&mut self, fd: libc::c_int, count: usize) -> io::Result<()> {
        for i in 0..count {
            let slot = self.answer_to[i];
            let out = &mut self.outs[i];
            self.out_iovs[i] = libc::iovec { iov_base: out.as_mut_ptr().cast(), iov_len: out.len() };
            let name: *mut libc::sockaddr_in6 = &mut self.names[slot];
            let hdr = &mut self.out_msgs[i].msg_hdr;
            hdr.msg_name = name.cast();
            hdr.msg_namelen = self.msgs[slot].msg_hdr.msg_namelen;
        }
        let mut sent = 0;
        while sent < count {
            // SAFETY: headers sent..count point at live answers and peer addresses.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.out_msgs[sent..].as_mut_ptr(),
                    (count - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            sent += n as usize;
        }
        Ok(())
    }
}

fn sockaddr_to_std(sa: &libc::sockaddr_in6, len: libc::socklen_t) -> Option<SocketAddr> {
    match sa.sin6_family as libc::c_int {
        libc::AF_INET if len as usize >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, which is smaller.
            let a = unsafe { &*(sa as *const libc::sockaddr_in6).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 if len == NAME_LEN => Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(sa.sin6_addr.s6_addr),
            u16::from_be(sa.sin6_port),
            sa.sin6_flowinfo,
            sa.sin6_scope_id,
        ))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Message, Query, ResponseCode};
    use hickory_proto::rr::{Name, RData, RecordType};

    use crate::serve::serve_udp;
    use crate::test_support::one_network_zone;
    use crate::zone::{EndpointNames, View};
    use crate::Resolver;

    use super::*;

    fn resolver() -> Arc<Resolver> {
        let r = Resolver::new(600);
        r.set_zone(one_network_zone(&[("redis", &[], "172.18.0.2".parse().unwrap())]));
        Arc::new(r)
    }

    fn ask(client: &UdpSocket, server: SocketAddr, id: u16, name: &str, t: RecordType) -> Option<Message> {
        let mut m = Message::query();
        m.metadata.id = id;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        client.send_to(&m.to_vec().unwrap(), server).unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = client.recv_from(&mut buf).ok()?;
        Some(Message::from_vec(&buf[..n]).unwrap())
    }

    /// Both paths answer on the socket, in bursts too; once the task is aborted the
    /// socket is out of the loop and closed (its port can be bound again).
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn serves_until_aborted_then_closes() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = socket.local_addr().unwrap();
        let task = serve_udp(resolver(), Arc::from("c"), socket).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();

        let fast = tokio::task::block_in_place(|| ask(&client, server, 1, "redis.", RecordType::A)).unwrap();
        assert_eq!(fast.metadata.id, 1);
        assert_eq!(fast.answers[0].data, RData::A("172.18.0.2".parse::<Ipv4Addr>().unwrap().into()));
        let general = tokio::task::block_in_place(|| {
            ask(&client, server, 2, "2.0.18.172.in-addr.arpa.", RecordType::PTR)
        })
        .unwrap();
        assert_eq!(general.metadata.id, 2);
        assert_eq!(general.metadata.response_code, ResponseCode::NoError);
        assert!(matches!(general.answers[0].data, RData::PTR(_)));

        // More than one recvmmsg batch at once: every question gets its own answer.
        let burst = 3 * VLEN as u16;
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii("redis.").unwrap(), RecordType::A));
        for id in 0..burst {
            q.metadata.id = 100 + id;
            client.send_to(&q.to_vec().unwrap(), server).unwrap();
        }
        let mut ids: Vec<u16> = tokio::task::block_in_place(|| {
            let mut buf = [0u8; 1500];
            let mut next_id = || {
                let n = client.recv(&mut buf).unwrap();
                Message::from_vec(&buf[..n]).unwrap().metadata.id
            };
            (0..burst).map(|_| next_id()).collect()
        });
        ids.sort();
        assert_eq!(ids, (100..100 + burst).collect::<Vec<_>>());

        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        client.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        assert!(tokio::task::block_in_place(|| ask(&client, server, 3, "redis.", RecordType::A)).is_none());
        UdpSocket::bind(server).expect("the listener's fd is closed");
    }

    /// A change of the zone reaches the next question on a served socket: here `c`
    /// moves to network `m`, where `db` is, and leaves `redis`'s network.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn zone_changes_reach_the_next_question() {
        let resolver = resolver();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = socket.local_addr().unwrap();
        let task = serve_udp(resolver.clone(), Arc::from("c"), socket).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let a =
            |id, name| tokio::task::block_in_place(|| ask(&client, server, id, name, RecordType::A)).unwrap();
        assert_eq!(a(1, "redis.").answers.len(), 1);
        resolver.update_zone(|z| {
            let db = EndpointNames {
                network_id: "m",
                network_name: "other",
                container_name: "db",
                short_id: "db",
                hostname: "db",
                aliases: &[],
                addresses: &["172.19.0.2".parse().unwrap()],
            };
            z.set_container("db", &[db], None);
            z.set_container("c", &[], Some(View { networks: vec!["m".into()], ..Default::default() }));
        });
        let db = a(2, "db.");
        assert_eq!(db.answers[0].data, RData::A("172.19.0.2".parse::<Ipv4Addr>().unwrap().into()));
        assert!(a(3, "redis.").answers.is_empty(), "redis is on a network c has left");
        task.abort();
    }
}
