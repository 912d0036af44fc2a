//! Forwarding names that are not ours to upstream servers, from the host's
//! namespace: servers tried in order with a short timeout each, a dead server
//! skipped for a while, answers cached by their TTL (negative ones by the SOA
//! minimum), and a bound on queries in flight (REFUSED beyond it).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use crate::respond::response_to;

pub const PER_SERVER_TIMEOUT: Duration = Duration::from_millis(1500);
pub const DEAD_FOR: Duration = Duration::from_secs(30);
pub const MAX_IN_FLIGHT: usize = 512;
pub const MAX_CACHE_ENTRIES: usize = 10_000;
/// Cache at most this long, whatever the TTL says.
pub const MAX_CACHE_TTL: u32 = 3600;

type CacheKey = (String, RecordType);

struct Cached {
    response: Message,
    stored: Instant,
    ttl: u32,
}

pub struct Forwarder {
    cache: Mutex<HashMap<CacheKey, Cached>>,
    dead_until: Mutex<HashMap<SocketAddr, Instant>>,
    in_flight: Semaphore,
}

impl Default for Forwarder {
    fn default() -> Self {
        Self {
            cache: Mutex::new(HashMap::new()),
            dead_until: Mutex::new(HashMap::new()),
            in_flight: Semaphore::new(MAX_IN_FLIGHT),
        }
    }
}

impl Forwarder {
    /// The answer for `req` from the cache or the first upstream that answers;
    /// SERVFAIL when none does, REFUSED when too many queries are already waiting.
    pub async fn forward(&self, req: &Message, upstreams: &[SocketAddr]) -> Message {
        let Some(query) = req.queries.first() else { return response_to(req, ResponseCode::FormErr) };
        let key = (query.name().to_ascii().to_ascii_lowercase(), query.query_type());
        if let Some(hit) = self.cached(&key, req) {
            return hit;
        }
        if upstreams.is_empty() {
            return response_to(req, ResponseCode::ServFail);
        }
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return response_to(req, ResponseCode::Refused);
        };
        for server in self.order(upstreams) {
            match ask(server, req).await {
                Some(resp) => {
                    self.dead_until.lock().expect("not poisoned").remove(&server);
                    self.store(key, &resp);
                    return resp;
                }
                None => {
                    tracing::debug!(%server, "upstream did not answer; skipping it for a while");
                    self.dead_until.lock().expect("not poisoned").insert(server, Instant::now() + DEAD_FOR);
                }
            }
        }
        response_to(req, ResponseCode::ServFail)
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

/// One query to one server over UDP, with a fresh id; None on timeout or error.
async fn ask(server: SocketAddr, req: &Message) -> Option<Message> {
    let bind: SocketAddr =
        if server.is_ipv4() { "0.0.0.0:0".parse().ok()? } else { "[::]:0".parse().ok()? };
    let sock = UdpSocket::bind(bind).await.ok()?;
    sock.connect(server).await.ok()?;
    let mut out = req.clone();
    let id: u16 = rand::random();
    out.metadata.id = id;
    let bytes = out.to_vec().ok()?;
    sock.send(&bytes).await.ok()?;
    let mut buf = vec![0u8; 65535];
    let deadline = tokio::time::Instant::now() + PER_SERVER_TIMEOUT;
    loop {
        let n = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await.ok()?.ok()?;
        let Ok(mut resp) = Message::from_vec(&buf[..n]) else { continue };
        if resp.metadata.id != id {
            continue;
        }
        resp.metadata.id = req.metadata.id;
        return Some(resp);
    }
}
