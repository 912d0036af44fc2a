//! Forwarding names that are not ours to upstream servers, from the host's
//! namespace: servers tried in order with a short timeout each, a dead server
//! skipped for a while, a REFUSED or SERVFAIL answer a reason to try the next
//! server (as Docker does), answers cached by their TTL (negative ones by the SOA
//! minimum) per set of upstream servers, and a bound on queries in flight per
//! container (REFUSED beyond it), so that a container whose upstream is silent
//! uses up its own budget and nobody else's.
//!
//! Questions that came over TCP go upstream over TCP; a UDP answer with TC set is
//! asked again over TCP, so a client never gets a truncated answer that a larger
//! transport would have held.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::respond::{response_to, OUR_UDP_SIZE};

pub const PER_SERVER_TIMEOUT: Duration = Duration::from_millis(1500);
pub const DEAD_FOR: Duration = Duration::from_secs(30);
/// Forwarded questions of one container waiting for upstream servers at once.
pub const MAX_IN_FLIGHT_PER_CONTAINER: usize = 128;
/// And of all containers: each holds a socket, and descriptors are finite. Far
/// above what any one container may hold, so only many saturated containers at
/// once reach it.
pub const MAX_IN_FLIGHT: usize = 8192;
pub const MAX_CACHE_ENTRIES: usize = 10_000;
/// Cache at most this long, whatever the TTL says.
pub const MAX_CACHE_TTL: u32 = 3600;

/// Which upstream servers answered, then the question: a container with its own
/// `--dns` servers never gets what the daemon's servers said, nor the reverse.
type CacheKey = (Vec<SocketAddr>, String, RecordType);

/// How the question reached us: how it goes upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

struct Cached {
    response: Message,
    stored: Instant,
    ttl: u32,
}

/// One container's share of the forwarding: its questions in flight.
#[derive(Debug)]
pub struct Budget(Semaphore);

impl Default for Budget {
    fn default() -> Self {
        Self(Semaphore::new(MAX_IN_FLIGHT_PER_CONTAINER))
    }
}

pub struct Forwarder {
    cache: Mutex<HashMap<CacheKey, Cached>>,
    dead_until: Mutex<HashMap<SocketAddr, Instant>>,
    in_flight: Semaphore,
    /// Container → its budget, held strongly by its listeners only: a removed
    /// container's entry dies with them and is swept on a later insert.
    budgets: Mutex<HashMap<Arc<str>, Weak<Budget>>>,
}

impl Default for Forwarder {
    fn default() -> Self {
        Self {
            cache: Mutex::new(HashMap::new()),
            dead_until: Mutex::new(HashMap::new()),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
            budgets: Mutex::new(HashMap::new()),
        }
    }
}

impl Forwarder {
    /// The container's budget, shared by its UDP and TCP listeners.
    pub fn budget(&self, container: &Arc<str>) -> Arc<Budget> {
        let mut budgets = self.budgets.lock().expect("not poisoned");
        if let Some(b) = budgets.get(container).and_then(Weak::upgrade) {
            return b;
        }
        if budgets.len() >= 64 && budgets.len().is_power_of_two() {
            budgets.retain(|_, b| b.strong_count() > 0);
        }
        let b = Arc::new(Budget::default());
        budgets.insert(container.clone(), Arc::downgrade(&b));
        b
    }

    /// The answer for `req` from the cache or the first upstream that answers it
    /// (REFUSED and SERVFAIL count as not answering while other servers remain);
    /// SERVFAIL when none does, REFUSED when too many of this container's
    /// questions are already waiting. Its EDNS record is what `req` calls for.
    pub async fn forward(
        &self,
        req: &Message,
        upstreams: &[SocketAddr],
        budget: &Budget,
        transport: Transport,
    ) -> Message {
        let Some(query) = req.queries.first() else { return response_to(req, ResponseCode::FormErr) };
        let key = (upstreams.to_vec(), query.name().to_ascii().to_ascii_lowercase(), query.query_type());
        if let Some(hit) = self.cached(&key, req) {
            return for_client(req, hit);
        }
        if upstreams.is_empty() {
            return response_to(req, ResponseCode::ServFail);
        }
        let (Ok(_mine), Ok(_all)) = (budget.0.try_acquire(), self.in_flight.try_acquire()) else {
            return response_to(req, ResponseCode::Refused);
        };
        let mut refused: Option<Message> = None;
        for server in self.order(upstreams) {
            let resp = match transport {
                Transport::Tcp => ask_tcp(server, req).await,
                Transport::Udp => match ask_udp(server, req).await {
                    // Too big for UDP: the whole answer over TCP, else the part we have.
                    Some(resp) if resp.metadata.truncation => ask_tcp(server, req).await.or(Some(resp)),
                    other => other,
                },
            };
            let Some(resp) = resp else {
                tracing::debug!(%server, "upstream did not answer; skipping it for a while");
                self.dead_until.lock().expect("not poisoned").insert(server, Instant::now() + DEAD_FOR);
                continue;
            };
            self.dead_until.lock().expect("not poisoned").remove(&server);
            if matches!(resp.metadata.response_code, ResponseCode::Refused | ResponseCode::ServFail) {
                tracing::debug!(%server, code = %resp.metadata.response_code, "upstream declined; asking the next");
                refused.get_or_insert(resp);
                continue;
            }
            self.store(key, &resp);
            return for_client(req, resp);
        }
        // Every server declined: the first one's answer (what a lone server says).
        match refused {
            Some(resp) => for_client(req, resp),
            None => response_to(req, ResponseCode::ServFail),
        }
    }

    /// Live servers first, in the configured order, then dead ones (a last try
    /// beats failing for certain).
    fn order(&self, upstreams: &[SocketAddr]) -> Vec<SocketAddr> {
        let now = Instant::now();
        let dead = self.dead_until.lock().expect("not poisoned");
        let is_dead = |s: &SocketAddr| dead.get(s).is_some_and(|t| *t > now);
        let mut out: Vec<SocketAddr> = upstreams.iter().filter(|s| !is_dead(s)).copied().collect();
        out.extend(upstreams.iter().filter(|s| is_dead(s)).copied());
        out
    }

    fn cached(&self, key: &CacheKey, req: &Message) -> Option<Message> {
        let mut cache = self.cache.lock().expect("not poisoned");
        let entry = cache.get(key)?;
        let age = entry.stored.elapsed().as_secs() as u32;
        if age >= entry.ttl {
            cache.remove(key);
            return None;
        }
        let mut resp = entry.response.clone();
        resp.metadata.id = req.metadata.id;
        resp.metadata.recursion_desired = req.metadata.recursion_desired;
        for r in resp.answers.iter_mut().chain(resp.authorities.iter_mut()) {
            r.ttl = r.ttl.saturating_sub(age);
        }
        Some(resp)
    }

    fn store(&self, key: CacheKey, resp: &Message) {
        let Some(ttl) = cache_ttl(resp) else { return };
        let mut cache = self.cache.lock().expect("not poisoned");
        if cache.len() >= MAX_CACHE_ENTRIES {
            let now = Instant::now();
            cache.retain(|_, c| now.duration_since(c.stored).as_secs() < c.ttl as u64);
            if cache.len() >= MAX_CACHE_ENTRIES {
                return;
            }
        }
        let mut response = resp.clone();
        response.edns = None;
        cache.insert(key, Cached { response, stored: Instant::now(), ttl });
    }

    pub fn cache_len(&self) -> usize {
        self.cache.lock().expect("not poisoned").len()
    }
}

/// An upstream's answer as `req`'s asker gets it: its id, and an OPT record only
/// if it sent one (we may have offered the upstream more than the client did).
fn for_client(req: &Message, mut resp: Message) -> Message {
    resp.metadata.id = req.metadata.id;
    resp.edns = req.edns.as_ref().map(|_| {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_UDP_SIZE);
        if let Some(up) = &resp.edns {
            edns.set_dnssec_ok(up.flags().dnssec_ok);
        }
        edns
    });
    resp
}

/// How long an upstream answer may be reused: the smallest TTL of its answers, or
/// for NXDOMAIN/NODATA the SOA minimum (RFC 2308); None for errors and truncation.
fn cache_ttl(resp: &Message) -> Option<u32> {
    if resp.metadata.truncation {
        return None;
    }
    let negative = || {
        resp.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.minimum.min(r.ttl)),
            _ => None,
        })
    };
    let ttl = match resp.metadata.response_code {
        ResponseCode::NoError if !resp.answers.is_empty() => resp.answers.iter().map(|r| r.ttl).min(),
        ResponseCode::NoError | ResponseCode::NXDomain => negative(),
        _ => None,
    }?;
    (ttl > 0).then_some(ttl.min(MAX_CACHE_TTL))
}

/// `req` with a fresh id, offering our UDP size (an upstream then truncates only
/// what would not fit in 1232 bytes, not in 512).
fn upstream_query(req: &Message) -> (u16, Option<Vec<u8>>) {
    let mut out = req.clone();
    let id: u16 = rand::random();
    out.metadata.id = id;
    out.edns.get_or_insert_with(Edns::new).set_max_payload(OUR_UDP_SIZE);
    (id, out.to_vec().ok())
}

/// One query to one server over UDP; None on timeout or error.
async fn ask_udp(server: SocketAddr, req: &Message) -> Option<Message> {
    let bind: SocketAddr =
        if server.is_ipv4() { "0.0.0.0:0".parse().ok()? } else { "[::]:0".parse().ok()? };
    let sock = UdpSocket::bind(bind).await.ok()?;
    sock.connect(server).await.ok()?;
    let (id, bytes) = upstream_query(req);
    sock.send(&bytes?).await.ok()?;
    let mut buf = vec![0u8; 65535];
    let deadline = tokio::time::Instant::now() + PER_SERVER_TIMEOUT;
    loop {
        let n = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await.ok()?.ok()?;
        let Ok(resp) = Message::from_vec(&buf[..n]) else { continue };
        if resp.metadata.id != id || resp.queries != req.queries {
            continue;
        }
        return Some(resp);
    }
}

/// One query to one server over TCP (RFC 7766 framing), the whole exchange within
/// the per-server timeout; None on timeout or error.
async fn ask_tcp(server: SocketAddr, req: &Message) -> Option<Message> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await.ok()?;
        let (id, bytes) = upstream_query(req);
        let bytes = bytes?;
        let mut frame = u16::try_from(bytes.len()).ok()?.to_be_bytes().to_vec();
        frame.extend_from_slice(&bytes);
        stream.write_all(&frame).await.ok()?;
        loop {
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await.ok()?;
            let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
            stream.read_exact(&mut msg).await.ok()?;
            let Ok(resp) = Message::from_vec(&msg) else { return None };
            if resp.metadata.id == id && resp.queries == req.queries {
                return Some(resp);
            }
        }
    };
    tokio::time::timeout(PER_SERVER_TIMEOUT, exchange).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::query;
    use hickory_proto::op::MessageType;
    use hickory_proto::rr::rdata::{A, TXT};
    use hickory_proto::rr::Record;
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// What a test server says to a question.
    #[derive(Clone)]
    enum Says {
        Code(ResponseCode),
        A(Ipv4Addr),
        /// This many 200-byte TXT strings (too many for UDP: TC there).
        BigTxt(usize),
        Nothing,
    }

    fn reply(req: &Message, says: &Says, over_tcp: bool) -> Option<Vec<u8>> {
        let mut resp = Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
        resp.queries = req.queries.clone();
        let name = req.queries[0].name().clone();
        match says {
            Says::Nothing => return None,
            Says::Code(code) => resp.metadata.response_code = *code,
            Says::A(ip) => resp.answers.push(Record::from_rdata(name, 300, RData::A(A(*ip)))),
            Says::BigTxt(n) => {
                let strings = (0..*n).map(|i| format!("{i:03}{}", "x".repeat(197))).collect();
                resp.answers.push(Record::from_rdata(name, 300, RData::TXT(TXT::new(strings))));
            }
        }
        let bytes = resp.to_vec().unwrap();
        if !over_tcp && bytes.len() > req.max_payload() as usize {
            resp.answers.clear();
            resp.metadata.truncation = true;
            return Some(resp.to_vec().unwrap());
        }
        Some(bytes)
    }

    /// A server on loopback (UDP and TCP on one port) that answers every question
    /// as `says`, counting the questions by transport: (udp, tcp).
    async fn server(says: Says) -> (SocketAddr, Arc<(AtomicUsize, AtomicUsize)>) {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
        let counts = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let (c, s) = (counts.clone(), says.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let (n, peer) = udp.recv_from(&mut buf).await.unwrap();
                c.0.fetch_add(1, Ordering::SeqCst);
                let req = Message::from_vec(&buf[..n]).unwrap();
                if let Some(out) = reply(&req, &s, false) {
                    udp.send_to(&out, peer).await.unwrap();
                }
            }
        });
        let c = counts.clone();
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = tcp.accept().await.unwrap();
                c.1.fetch_add(1, Ordering::SeqCst);
                let says = says.clone();
                tokio::spawn(async move {
                    let mut len = [0u8; 2];
                    stream.read_exact(&mut len).await?;
                    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
                    stream.read_exact(&mut msg).await?;
                    let req = Message::from_vec(&msg).unwrap();
                    if let Some(out) = reply(&req, &says, true) {
                        let mut frame = (out.len() as u16).to_be_bytes().to_vec();
                        frame.extend_from_slice(&out);
                        stream.write_all(&frame).await?;
                    }
                    std::io::Result::Ok(())
                });
            }
        });
        (addr, counts)
    }

    fn a(resp: &Message) -> Vec<RData> {
        resp.answers.iter().map(|r| r.data.clone()).collect()
    }

    fn rdata_a(ip: Ipv4Addr) -> Vec<RData> {
        vec![RData::A(A(ip))]
    }

    #[tokio::test]
    async fn refused_and_servfail_mean_ask_the_next_server() {
        let (refuses, _) = server(Says::Code(ResponseCode::Refused)).await;
        let (fails, _) = server(Says::Code(ResponseCode::ServFail)).await;
        let (answers, _) = server(Says::A(Ipv4Addr::new(10, 9, 9, 9))).await;
        let f = Forwarder::default();
        let budget = Budget::default();
        let req = query("x.example.test.", RecordType::A, false);
        let resp = f.forward(&req, &[refuses, fails, answers], &budget, Transport::Udp).await;
        assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
        assert_eq!(a(&resp), rdata_a(Ipv4Addr::new(10, 9, 9, 9)));
        assert_eq!(resp.metadata.id, req.metadata.id);
        // All of them decline: the first one's word, not a SERVFAIL of our own.
        let req = query("y.example.test.", RecordType::A, false);
        let resp = f.forward(&req, &[refuses, fails], &budget, Transport::Udp).await;
        assert_eq!(resp.metadata.response_code, ResponseCode::Refused);
        assert!(f.order(&[refuses, fails]) == vec![refuses, fails], "declining servers are not dead");
    }

    #[tokio::test]
    async fn the_cache_is_per_upstream_set() {
        let (one, one_count) = server(Says::A(Ipv4Addr::new(10, 0, 0, 1))).await;
        let (two, _) = server(Says::A(Ipv4Addr::new(10, 0, 0, 2))).await;
        let f = Forwarder::default();
        let budget = Budget::default();
        let req = query("x.example.test.", RecordType::A, false);
        let first = f.forward(&req, &[one], &budget, Transport::Udp).await;
        assert_eq!(a(&first), rdata_a(Ipv4Addr::new(10, 0, 0, 1)));
        let other = f.forward(&req, &[two], &budget, Transport::Udp).await;
        assert_eq!(a(&other), rdata_a(Ipv4Addr::new(10, 0, 0, 2)), "not the other set's cached answer");
        let again = f.forward(&req, &[one], &budget, Transport::Udp).await;
        assert_eq!(a(&again), rdata_a(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(one_count.0.load(Ordering::SeqCst), 1, "the second came from the cache");
        assert_eq!(f.cache_len(), 2);
    }

    #[tokio::test]
    async fn tcp_questions_and_truncated_answers_go_over_tcp() {
        let (big, counts) = server(Says::BigTxt(10)).await;
        let f = Forwarder::default();
        let budget = Budget::default();
        let req = query("big.example.test.", RecordType::TXT, false);
        let resp = f.forward(&req, &[big], &budget, Transport::Tcp).await;
        assert!(!resp.metadata.truncation);
        assert!(matches!(&a(&resp)[..], [RData::TXT(t)] if t.txt_data.len() == 10));
        assert_eq!((counts.0.load(Ordering::SeqCst), counts.1.load(Ordering::SeqCst)), (0, 1));
        assert!(resp.edns.is_none(), "no OPT record for a client that sent none");
        // Over UDP: TC from the server, then the whole answer over TCP.
        let req = query("big2.example.test.", RecordType::TXT, true);
        let resp = f.forward(&req, &[big], &budget, Transport::Udp).await;
        assert!(!resp.metadata.truncation);
        assert!(matches!(&a(&resp)[..], [RData::TXT(t)] if t.txt_data.len() == 10));
        assert_eq!((counts.0.load(Ordering::SeqCst), counts.1.load(Ordering::SeqCst)), (1, 2));
        assert!(resp.edns.is_some());
    }

    /// A container whose upstream is silent fills its own budget; another
    /// container's forwarded questions are answered at once.
    #[tokio::test]
    async fn budgets_are_per_container() {
        let (silent, _) = server(Says::Nothing).await;
        let (answers, _) = server(Says::A(Ipv4Addr::new(10, 9, 9, 9))).await;
        let f = Arc::new(Forwarder::default());
        let (s, o): (Arc<str>, Arc<str>) = (Arc::from("silent"), Arc::from("other"));
        let (sb, ob) = (f.budget(&s), f.budget(&o));
        assert!(Arc::ptr_eq(&sb, &f.budget(&s)), "one budget per container");
        let mut waiting = Vec::new();
        for i in 0..MAX_IN_FLIGHT_PER_CONTAINER + 10 {
            let (f, sb) = (f.clone(), sb.clone());
            waiting.push(tokio::spawn(async move {
                let req = query(&format!("q{i}.example.test."), RecordType::A, false);
                f.forward(&req, &[silent], &sb, Transport::Udp).await.metadata.response_code
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t = Instant::now();
        let req = query("x.example.test.", RecordType::A, false);
        let resp = f.forward(&req, &[answers], &ob, Transport::Udp).await;
        assert_eq!(a(&resp), rdata_a(Ipv4Addr::new(10, 9, 9, 9)));
        assert!(t.elapsed() < Duration::from_millis(200), "{:?}", t.elapsed());
        let mut codes = Vec::new();
        for w in waiting {
            codes.push(w.await.unwrap());
        }
        assert_eq!(codes.iter().filter(|c| **c == ResponseCode::Refused).count(), 10, "over its own budget");
        assert_eq!(
            codes.iter().filter(|c| **c == ResponseCode::ServFail).count(),
            MAX_IN_FLIGHT_PER_CONTAINER
        );
        drop((sb, ob));
        assert!(f.budgets.lock().unwrap().values().all(|b| b.strong_count() == 0));
    }
}
