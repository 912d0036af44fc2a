//! cluster-sim: many simulated hosts in one process against one real etcd, to
//! measure what the control plane costs as a cluster grows (docs/scaling.md is
//! built on its figures).
//!
//! Each simulated host is what a netctld is to the cluster: its own `Session`
//! (its own etcd connection and lease, kept alive), its own watch of networks and
//! endpoints from the revision of its own snapshot, and its own copy of the remote
//! endpoints in a HashMap, kept up to date from the watch. Hosts publish and
//! remove endpoints with the crate's `claim_endpoint` / `release_endpoint`, each
//! picking a free address from its own view and trying the next on `Taken`, as a
//! daemon does. Nothing is mocked: the keys, values, transactions and watches are
//! the ones the daemon uses.
//!
//! Phases: fill (every host publishes its containers, as fast as etcd takes them),
//! churn (claims and releases at `--rate` changes/s in total, on random hosts),
//! idle (keep-alives only), join (one more host starts, snapshots everything and
//! builds its copy). Measured: watch latency per (change, other host) pair, etcd's
//! CPU (utime+stime from /proc) and RSS, the process's own CPU, the bytes of a
//! host's remote-endpoint copy (a counting allocator), snapshot time and size,
//! watch events per host per change, etcd's database size.
//!
//! Without `--etcd`, it moves itself into a new network namespace (root needed)
//! and starts `etcd` there on loopback, as the crate's tests do.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use netctl_cluster::{ClaimOutcome, ClusterOptions, EndpointRecord, Session, WatchEvent};
use netctl_model::api::{IpamConfigRequest, IpamRequest, NetworkCreateRequest};
use netctl_model::network::NetworkSpec;
use rand::Rng;
use tokio::sync::mpsc;

/// Counts live heap bytes, to weigh a host's copy of the remote endpoints.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on unchanged to the system allocator; the counter
// is only arithmetic on the sizes it was given.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same layout as given to us, as GlobalAlloc requires.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: ptr came from System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: ptr came from System with this layout; new_size is non-zero as the caller guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[derive(Parser, Debug, Clone)]
#[command(about = "Simulated netctl hosts publishing and watching endpoints in one etcd")]
struct Args {
    /// Simulated hosts (each its own Session, lease, connection and watch).
    #[arg(long, default_value_t = 50)]
    hosts: usize,
    /// Endpoints each host publishes in the fill phase (and keeps about that many in churn).
    #[arg(long, default_value_t = 100)]
    containers_per_host: usize,
    /// Changes per second in the churn phase, over all hosts (a change: one claim or one release).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of churn.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Overlay networks (a /16 each, 10.200.0.0/16 on); endpoints are spread over them.
    #[arg(long, default_value_t = 4)]
    networks: usize,
    /// Lease TTL of every host (keep-alive every TTL/3).
    #[arg(long, default_value_t = 10)]
    ttl: u64,
    /// Seconds with keep-alives only, to weigh them.
    #[arg(long, default_value_t = 10)]
    idle: u64,
    /// Use this etcd instead of starting one (then --etcd-pid for its CPU figures).
    #[arg(long)]
    etcd: Option<String>,
    #[arg(long)]
    etcd_pid: Option<u32>,
    /// etcd's data directory when it is started here (default: a temporary directory).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Print one Markdown table row of the results at the end (after "ROW ").
    #[arg(long)]
    row: bool,
}

/// Nanoseconds since the process started: a clock shared by all simulated hosts.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ns() -> u64 {
    EPOCH.elapsed().as_nanos() as u64
}

/// Per endpoint serial: when its claim was sent and returned, when its release
/// was sent and returned (ns since EPOCH; 0 = not yet). The serial is written in
/// the first 16 hex digits of the endpoint id, so a watcher finds it.
struct Times {
    claim_sent: Vec<AtomicU64>,
    claim_done: Vec<AtomicU64>,
    release_sent: Vec<AtomicU64>,
    release_done: Vec<AtomicU64>,
}

impl Times {
    fn new(n: usize) -> Self {
        let v = || (0..n).map(|_| AtomicU64::new(0)).collect();
        Self { claim_sent: v(), claim_done: v(), release_sent: v(), release_done: v() }
    }
    fn set(v: &[AtomicU64], serial: u64) {
        if let Some(a) = v.get(serial as usize) {
            a.store(now_ns(), Ordering::Relaxed);
        }
    }
    fn get(v: &[AtomicU64], serial: u64) -> u64 {
        v.get(serial as usize).map_or(0, |a| a.load(Ordering::Relaxed))
    }
}

const FILL: u8 = 0;
const CHURN: u8 = 1;
const AFTER: u8 = 2;
static PHASE: AtomicU8 = AtomicU8::new(FILL);
static SERIAL: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
struct Samples {
    /// Microseconds from the claim's txn returning to the put event at another
    /// host (0 when the event came first), from the txn being sent, and the same
    /// for releases → delete events.
    put_from_done: Vec<u32>,
    put_from_sent: Vec<u32>,
    del_from_done: Vec<u32>,
    del_from_sent: Vec<u32>,
    /// Events that arrived before the writer had its txn's answer.
    early: u64,
    events: u64,
    batches: u64,
}

/// A simulated host's view of the cluster: what a netctld keeps from the watch.
#[derive(Default)]
struct View {
    /// Endpoints of other hosts (the daemon's copy: FDB, neighbours, names come from it).
    remote: HashMap<EpKey, EndpointRecord>,
    /// Addresses known to be held, per network (own and remote), for the address search.
    used: HashMap<String, HashSet<IpAddr>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EpKey {
    network_id: String,
    host_id: String,
    endpoint_id: String,
}

struct Net {
    id: String,
    base: u32,
    size: u32,
}

struct Host {
    idx: usize,
    id: String,
    session: Arc<Session>,
    view: Arc<Mutex<View>>,
}

#[derive(Default)]
struct ActorStats {
    claim_us: Vec<u32>,
    release_us: Vec<u32>,
    taken_retries: u64,
    claims: u64,
    releases: u64,
    errors: u64,
}

enum Op {
    Churn,
    Stop,
}

fn options(url: &str, ttl: u64) -> ClusterOptions {
    ClusterOptions { endpoints: vec![url.into()], ttl, request_timeout: Duration::from_secs(10), tls: None }
}

async fn live(url: &str, ttl: u64) -> Arc<Session> {
    let s = Session::start(options(url, ttl), None).await.expect("session");
    let mut st = s.subscribe();
    tokio::time::timeout(Duration::from_secs(30), st.wait_for(|s| s.connected))
        .await
        .expect("lease within 30 s")
        .expect("status");
    s
}

fn random_hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap()).collect()
}

fn serial_of(endpoint_id: &str) -> Option<u64> {
    u64::from_str_radix(endpoint_id.get(..16)?, 16).ok()
}

/// A record of the size a real one has: ids of Docker's length, one alias.
fn record(host_idx: usize, serial: u64, ip: IpAddr) -> EndpointRecord {
    let container_id = random_hex(64);
    let mut rng = rand::rng();
    EndpointRecord {
        short_id: container_id[..12].to_string(),
        hostname: container_id[..12].to_string(),
        container_id,
        container_name: format!("app{}-web-{serial}", host_idx % 50),
        aliases: vec![format!("web{}", serial % 20)],
        ipv4: Some(ip),
        ipv6: None,
        mac: format!(
            "02:42:{:02x}:{:02x}:{:02x}:{:02x}",
            rng.random::<u8>(),
            rng.random::<u8>(),
            rng.random::<u8>(),
            rng.random::<u8>()
        ),
        underlay: IpAddr::V4(Ipv4Addr::new(192, 168, (host_idx / 250) as u8, (host_idx % 250 + 1) as u8)),
    }
}

/// The host's watch loop: applies every event to its view, as the daemon does,
/// and times the ones written by other hosts.
async fn watcher(
    session: Arc<Session>,
    host_id: String,
    view: Arc<Mutex<View>>,
    revision: i64,
    times: Arc<Times>,
    samples: Arc<Mutex<[Samples; 3]>>,
    last_event: Arc<AtomicU64>,
) {
    let mut watch = session.watch(revision).await.expect("watch");
    loop {
        let batch = match watch.next().await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("host {host_id}: watch ended: {e}");
                return;
            }
        };
        let now = now_ns();
        last_event.fetch_max(now, Ordering::Relaxed);
        let phase = PHASE.load(Ordering::Relaxed) as usize;
        let mut s = samples.lock().unwrap();
        let s = &mut s[phase];
        s.batches += 1;
        s.events += batch.len() as u64;
        let mut v = view.lock().unwrap();
        for ev in batch {
            match ev {
                WatchEvent::EndpointPut(p) if p.host_id != host_id => {
                    if let Some(serial) = serial_of(&p.endpoint_id) {
                        let (sent, done) =
                            (Times::get(&times.claim_sent, serial), Times::get(&times.claim_done, serial));
                        record_latency(
                            &mut s.put_from_sent,
                            &mut s.put_from_done,
                            &mut s.early,
                            now,
                            sent,
                            done,
                        );
                    }
                    let ips: Vec<IpAddr> = p.record.addresses().collect();
                    v.used.entry(p.network_id.clone()).or_default().extend(ips);
                    let key =
                        EpKey { network_id: p.network_id, host_id: p.host_id, endpoint_id: p.endpoint_id };
                    v.remote.insert(key, p.record);
                }
                WatchEvent::EndpointDeleted { network_id, host_id: h, endpoint_id } if h != host_id => {
                    if let Some(serial) = serial_of(&endpoint_id) {
                        let (sent, done) = (
                            Times::get(&times.release_sent, serial),
                            Times::get(&times.release_done, serial),
                        );
                        record_latency(
                            &mut s.del_from_sent,
                            &mut s.del_from_done,
                            &mut s.early,
                            now,
                            sent,
                            done,
                        );
                    }
                    let key = EpKey { network_id, host_id: h, endpoint_id };
                    if let Some(rec) = v.remote.remove(&key) {
                        if let Some(set) = v.used.get_mut(&key.network_id) {
                            for ip in rec.addresses() {
                                set.remove(&ip);
                            }
                        }
                    }
                }
                _ => {} // own endpoints: the host knows them already; networks: made before the hosts start
            }
        }
    }
}

fn record_latency(
    from_sent: &mut Vec<u32>,
    from_done: &mut Vec<u32>,
    early: &mut u64,
    now: u64,
    sent: u64,
    done: u64,
) {
    if sent > 0 {
        from_sent.push((now.saturating_sub(sent) / 1000) as u32);
    }
    if done == 0 || done > now {
        *early += 1;
        from_done.push(0);
    } else {
        from_done.push(((now - done) / 1000) as u32);
    }
}

/// Claims one endpoint on a random network: a free address from the host's view,
/// the next one on `Taken`, as the daemon's connect does.
async fn claim(
    host: &Host,
    nets: &[Net],
    times: &Times,
    own: &mut Vec<(u64, EpKey, IpAddr)>,
    st: &mut ActorStats,
) {
    let net = &nets[rand::rng().random_range(0..nets.len())];
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
    let endpoint_id = format!("{serial:016x}{}", random_hex(48));
    for _ in 0..100 {
        let ip = {
            let v = host.view.lock().unwrap();
            let used = v.used.get(&net.id);
            let mut rng = rand::rng();
            loop {
                let ip = IpAddr::V4(Ipv4Addr::from(net.base + rng.random_range(2..net.size - 1)));
                if used.is_none_or(|u| !u.contains(&ip)) {
                    break ip;
                }
            }
        };
        let rec = record(host.idx, serial, ip);
        let t = Instant::now();
        Times::set(&times.claim_sent, serial);
        match host.session.claim_endpoint(&host.id, &endpoint_id, &net.id, &rec).await {
            Ok(ClaimOutcome::Claimed) => {
                Times::set(&times.claim_done, serial);
                st.claim_us.push(t.elapsed().as_micros() as u32);
                st.claims += 1;
                host.view.lock().unwrap().used.entry(net.id.clone()).or_default().insert(ip);
                let key = EpKey { network_id: net.id.clone(), host_id: host.id.clone(), endpoint_id };
                own.push((serial, key, ip));
                return;
            }
            Ok(ClaimOutcome::Taken(ips)) => {
                st.taken_retries += 1;
                host.view.lock().unwrap().used.entry(net.id.clone()).or_default().extend(ips);
            }
            Err(e) => {
                st.errors += 1;
                eprintln!("host {}: claim: {e}", host.idx);
                return;
            }
        }
    }
    st.errors += 1;
}

async fn release(host: &Host, times: &Times, own: &mut Vec<(u64, EpKey, IpAddr)>, st: &mut ActorStats) {
    if own.is_empty() {
        return;
    }
    let i = rand::rng().random_range(0..own.len());
    let (serial, key, ip) = own.swap_remove(i);
    let t = Instant::now();
    Times::set(&times.release_sent, serial);
    match host.session.release_endpoint(&host.id, &key.endpoint_id, &key.network_id, &[ip]).await {
        Ok(()) => {
            Times::set(&times.release_done, serial);
            st.release_us.push(t.elapsed().as_micros() as u32);
            st.releases += 1;
            if let Some(set) = host.view.lock().unwrap().used.get_mut(&key.network_id) {
                set.remove(&ip);
            }
        }
        Err(e) => {
            st.errors += 1;
            eprintln!("host {}: release: {e}", host.idx);
        }
    }
}

/// A host's publishing side: its fill, then one change per command.
async fn actor(
    host: Arc<Host>,
    nets: Arc<Vec<Net>>,
    times: Arc<Times>,
    target: usize,
    mut ops: mpsc::UnboundedReceiver<Op>,
    go: Arc<tokio::sync::Barrier>,
    filled: Arc<tokio::sync::Barrier>,
) -> [ActorStats; 2] {
    go.wait().await;
    let mut own = Vec::new();
    let mut fill = ActorStats::default();
    for _ in 0..target {
        claim(&host, &nets, &times, &mut own, &mut fill).await;
    }
    filled.wait().await;
    let mut churn = ActorStats::default();
    while let Some(Op::Churn) = ops.recv().await {
        // Keep about `target` endpoints: release when above, claim when below, else either.
        let up = match own.len().cmp(&target) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => rand::rng().random_bool(0.5),
        };
        if up {
            claim(&host, &nets, &times, &mut own, &mut churn).await;
        } else {
            release(&host, &times, &mut own, &mut churn).await;
        }
    }
    [fill, churn]
}

/// utime+stime of a process, in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(14) + ticks(15)) / hz
}

fn rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Etcd {
    child: Child,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new network namespace for this process (loopback up) and an etcd in it.
fn start_etcd(data_dir: Option<&std::path::Path>) -> (Etcd, String) {
    // SAFETY: unshare(2) of this (still the only) thread's network namespace; no memory involved.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "unshare(CLONE_NEWNET) needs root");
    assert!(Command::new("ip").args(["link", "set", "lo", "up"]).status().expect("ip").success());
    let tmp = match data_dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().expect("tempdir")),
    };
    let dir = data_dir.map(|d| d.to_path_buf()).unwrap_or_else(|| tmp.as_ref().unwrap().path().to_path_buf());
    let url = "http://127.0.0.1:2379".to_string();
    #[allow(clippy::zombie_processes)] // waited for in Etcd's Drop
    let child = Command::new("etcd")
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args(["--listen-peer-urls", "http://127.0.0.1:2380", "--log-level", "error"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd (apt install etcd-server)");
    let etcd = Etcd { child, _dir: tmp };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let ok = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &url, "endpoint", "health"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return (etcd, url);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("etcd did not come up");
}

fn pct(v: &mut [u32], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i] as f64 / 1000.0
}

fn summary(name: &str, v: &mut [u32]) -> String {
    format!(
        "{name}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        v.len(),
        pct(v, 0.5),
        pct(v, 0.99),
        pct(v, 1.0)
    )
}

/// Waits until no watch event has arrived for `quiet` (or `max` has passed).
async fn settle(last_event: &AtomicU64, quiet: Duration, max: Duration) -> Duration {
    let start = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let last = last_event.load(Ordering::Relaxed);
        if now_ns().saturating_sub(last) > quiet.as_nanos() as u64 || start.elapsed() > max {
            return start.elapsed();
        }
    }
}

struct Meter {
    etcd_pid: Option<String>,
    t: Instant,
    etcd: f64,
    me: f64,
}

impl Meter {
    fn start(etcd_pid: &Option<String>) -> Self {
        Self {
            etcd_pid: etcd_pid.clone(),
            t: Instant::now(),
            etcd: etcd_pid.as_deref().map_or(0.0, cpu_seconds),
            me: cpu_seconds("self"),
        }
    }
    /// (wall s, etcd cpu s, this process's cpu s)
    fn read(&self) -> (f64, f64, f64) {
        let etcd = self.etcd_pid.as_deref().map_or(0.0, cpu_seconds) - self.etcd;
        (self.t.elapsed().as_secs_f64(), etcd, cpu_seconds("self") - self.me)
    }
}

fn main() {
    let args = Args::parse();
    LazyLock::force(&EPOCH);
    // The crate's warnings (a keep-alive unanswered, a lease lost) on stderr, with the time.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let started = if args.etcd.is_none() { Some(start_etcd(args.data_dir.as_deref())) } else { None };
    let url = args.etcd.clone().or_else(|| started.as_ref().map(|(_, u)| u.clone())).unwrap();
    let etcd_pid = args
        .etcd_pid
        .map(|p| p.to_string())
        .or_else(|| started.as_ref().map(|(e, _)| e.child.id().to_string()));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let ok = rt.block_on(run(args, url, etcd_pid));
    // The hosts' tasks go before etcd does, so that no watch reports etcd's end.
    drop(rt);
    drop(started);
    if !ok {
        eprintln!("cluster-sim: a claim or release failed, or a host's copy differs from the snapshot");
        std::process::exit(1);
    }
}

/// The run's figures on stdout; false if a change failed or a host's copy is wrong.
async fn run(args: Args, url: String, etcd_pid: Option<String>) -> bool {
    let h = args.hosts;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("cluster-sim: {h} hosts × {} containers, {} networks, churn {} changes/s for {} s, ttl {} s; etcd {url} (pid {}); load before: {}",
        args.containers_per_host, args.networks, args.rate, args.duration, args.ttl, etcd_pid.as_deref().unwrap_or("?"), load.trim());
    let mut admin = etcd_client::Client::connect([url.as_str()], None).await.expect("admin client");

    // Networks first, from one host, as `network create -d overlay` would.
    let creator = live(&url, args.ttl).await;
    let mut nets = Vec::new();
    for i in 0..args.networks {
        let subnet = format!("10.{}.0.0/16", 200 + i);
        let name = format!("mesh{i}");
        let n = creator
            .create_network(|_, _| {
                let req = NetworkCreateRequest {
                    name: name.clone(),
                    driver: Some("overlay".into()),
                    ipam: Some(IpamRequest {
                        driver: None,
                        options: Default::default(),
                        config: vec![IpamConfigRequest {
                            subnet: Some(subnet.clone()),
                            ..Default::default()
                        }],
                    }),
                    ..Default::default()
                };
                Ok(NetworkSpec::from_request(&req).unwrap().into_network(
                    netctl_model::id::new_id(),
                    chrono::Utc::now(),
                    1450,
                ))
            })
            .await
            .expect("create network");
        nets.push(Net {
            id: n.id.clone(),
            base: u32::from(Ipv4Addr::new(10, 200 + i as u8, 0, 0)),
            size: 1 << 16,
        });
    }
    creator.revoke().await.ok();
    creator.stop();
    drop(creator);
    let nets = Arc::new(nets);

    // etcd on its own, no host connected: what the idle phase's figure is measured against.
    let m = Meter::start(&etcd_pid);
    tokio::time::sleep(Duration::from_secs(args.idle.min(5))).await;
    let (base_wall, base_etcd, _) = m.read();
    let base_rate = base_etcd / base_wall;

    // Hosts: a session each, registered, snapshot + watch.
    let t = Instant::now();
    let sessions = futures::future::join_all((0..h).map(|_| live(&url, args.ttl))).await;
    let connect_s = t.elapsed().as_secs_f64();
    let churn_ops = (args.rate * args.duration as f64) as usize;
    let times = Arc::new(Times::new(h * args.containers_per_host + churn_ops * 2 + 1000));
    let last_event = Arc::new(AtomicU64::new(0));
    let go = Arc::new(tokio::sync::Barrier::new(h + 1));
    let filled = Arc::new(tokio::sync::Barrier::new(h + 1));
    let mut hosts = Vec::new();
    let mut samples = Vec::new();
    let mut actors = Vec::new();
    let mut senders = Vec::new();
    for (idx, session) in sessions.into_iter().enumerate() {
        let id = random_hex(16);
        let rec = netctl_cluster::HostRecord {
            name: format!("sim{idx}"),
            advertise: IpAddr::V4(Ipv4Addr::new(192, 168, (idx / 250) as u8, (idx % 250 + 1) as u8)),
            vxlan_port: 4789,
        };
        session.register_host(&id, &rec).await.expect("register");
        let snap = session.snapshot().await.expect("snapshot");
        let host = Arc::new(Host { idx, id: id.clone(), session: session.clone(), view: Arc::default() });
        let s: Arc<Mutex<[Samples; 3]>> = Arc::default();
        tokio::spawn(watcher(
            session,
            id,
            host.view.clone(),
            snap.revision,
            times.clone(),
            s.clone(),
            last_event.clone(),
        ));
        samples.push(s);
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        actors.push(tokio::spawn(actor(
            host.clone(),
            nets.clone(),
            times.clone(),
            args.containers_per_host,
            rx,
            go.clone(),
            filled.clone(),
        )));
        hosts.push(host);
    }
    println!("{h} sessions live in {connect_s:.2} s");
    let db0 = admin.status().await.map(|s| s.db_size()).unwrap_or(0);

    // Fill.
    let m = Meter::start(&etcd_pid);
    go.wait().await;
    filled.wait().await;
    let fill_write = m.read();
    let drained = settle(&last_event, Duration::from_millis(500), Duration::from_secs(60)).await;
    let (fill_wall, fill_etcd, fill_me) = m.read();
    let fill_changes = (h * args.containers_per_host) as f64;
    let db_fill = admin.status().await.map(|s| s.db_size()).unwrap_or(0);
    let etcd_rss_fill = etcd_pid.as_deref().map_or(0.0, rss_mib);
    println!(
        "fill: {fill_changes} claims written in {:.1} s ({:.0}/s), all watches drained {:.1} s later; etcd cpu {:.1} s = {:.3} ms/change; sim cpu {:.1} s; etcd rss {etcd_rss_fill:.0} MiB; db {:.1} MiB",
        fill_write.0, fill_changes / fill_write.0, drained.as_secs_f64() - 0.5, fill_etcd, fill_etcd * 1000.0 / fill_changes, fill_me, db_fill as f64 / 1048576.0
    );
    let _ = fill_wall;

    // Churn at the given rate, on random hosts.
    PHASE.store(CHURN, Ordering::Relaxed);
    let m = Meter::start(&etcd_pid);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for _ in 0..churn_ops {
        tick.tick().await;
        let i = rand::rng().random_range(0..h);
        let _ = senders[i].send(Op::Churn);
    }
    for s in &senders {
        let _ = s.send(Op::Stop);
    }
    let mut fill_stats = ActorStats::default();
    let mut churn_stats = ActorStats::default();
    for a in actors {
        let [f, c] = a.await.expect("actor");
        for (into, from) in [(&mut fill_stats, f), (&mut churn_stats, c)] {
            into.claim_us.extend(from.claim_us);
            into.release_us.extend(from.release_us);
            into.taken_retries += from.taken_retries;
            into.claims += from.claims;
            into.releases += from.releases;
            into.errors += from.errors;
        }
    }
    let churn_write = m.read();
    // The machine's 1-minute load at the end of the churn (this run's own share included).
    let churn_load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_default();
    settle(&last_event, Duration::from_millis(500), Duration::from_secs(30)).await;
    PHASE.store(AFTER, Ordering::Relaxed);
    let (churn_wall, churn_etcd, churn_me) = m.read();
    let churn_changes = (churn_stats.claims + churn_stats.releases) as f64;
    let db_churn = admin.status().await.map(|s| s.db_size()).unwrap_or(0);
    let rev = admin
        .get("/netctl/v1/", Some(etcd_client::GetOptions::new().with_prefix().with_count_only()))
        .await
        .unwrap();
    let keys = rev.count();
    let revision = rev.header().map_or(0, |h| h.revision());
    println!(
        "churn: {churn_changes} changes in {:.1} s ({:.0}/s achieved); etcd cpu {:.2} s = {:.3} ms/change ({:.0}% of one core); sim cpu {:.2} s ({:.0}% of one core)",
        churn_write.0, churn_changes / churn_write.0, churn_etcd, churn_etcd * 1000.0 / churn_changes, churn_etcd * 100.0 / churn_wall, churn_me, churn_me * 100.0 / churn_wall
    );

    // Merge what the watchers saw.
    let mut merged: [Samples; 3] = Default::default();
    let mut per_host_churn_events = Vec::new();
    for s in &samples {
        let mut s = s.lock().unwrap();
        per_host_churn_events.push(s[CHURN as usize].events);
        for (into, from) in merged.iter_mut().zip(s.iter_mut()) {
            into.put_from_done.append(&mut from.put_from_done);
            into.put_from_sent.append(&mut from.put_from_sent);
            into.del_from_done.append(&mut from.del_from_done);
            into.del_from_sent.append(&mut from.del_from_sent);
            into.early += from.early;
            into.events += from.events;
            into.batches += from.batches;
        }
    }
    let [mf, mc, _] = &mut merged;
    println!("fill watch latency (etcd saturated by the fill, so mostly queueing):");
    println!("  {}", summary("put, from claim returned", &mut mf.put_from_done));
    println!("  {}", summary("put, from claim sent    ", &mut mf.put_from_sent));
    println!("  watch events per host per change: {:.3}", mf.events as f64 / h as f64 / fill_changes);
    println!("churn watch latency over (change, other host) pairs:");
    println!("  {}", summary("put, from claim returned", &mut mc.put_from_done));
    println!("  {}", summary("put, from claim sent    ", &mut mc.put_from_sent));
    println!("  {}", summary("del, from release returned", &mut mc.del_from_done));
    println!("  {}", summary("del, from release sent    ", &mut mc.del_from_sent));
    println!(
        "  events seen before the writer had its answer (counted as 0 above): {} of {} ({:.0}%)",
        mc.early,
        mc.put_from_done.len() + mc.del_from_done.len(),
        mc.early as f64 * 100.0 / (mc.put_from_done.len() + mc.del_from_done.len()).max(1) as f64
    );
    println!("  {}", summary("claim txn (incl. Taken retries)", &mut churn_stats.claim_us));
    println!("  {}", summary("release txn", &mut churn_stats.release_us));
    let ev_min = per_host_churn_events.iter().min().copied().unwrap_or(0);
    let ev_max = per_host_churn_events.iter().max().copied().unwrap_or(0);
    let ev_per_change = mc.events as f64 / h as f64 / churn_changes;
    println!(
        "  watch events per host per change: {ev_per_change:.3} (per host: {ev_min}..{ev_max} for {churn_changes} changes); responses per host: {:.0} ({:.2} events each)",
        mc.batches as f64 / h as f64,
        mc.events as f64 / mc.batches.max(1) as f64
    );
    println!(
        "  Taken retries: fill {} / {} claims, churn {} / {} claims; errors {}",
        fill_stats.taken_retries,
        fill_stats.claims,
        churn_stats.taken_retries,
        churn_stats.claims,
        fill_stats.errors + churn_stats.errors
    );
    println!(
        "  etcd db {:.1} MiB after fill, {:.1} MiB after churn (+{:.0} bytes per change, no compaction); {keys} keys, revision {revision}",
        db_fill as f64 / 1048576.0,
        db_churn as f64 / 1048576.0,
        (db_churn - db_fill) as f64 / churn_changes
    );
    let _ = db0;

    // Idle: keep-alives only.
    let m = Meter::start(&etcd_pid);
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    let (idle_wall, idle_etcd, idle_me) = m.read();
    let keepalives = h as f64 * idle_wall / (args.ttl as f64 / 3.0);
    let ka_ms = (idle_etcd - base_rate * idle_wall).max(0.0) * 1000.0 / keepalives;
    println!(
        "idle {idle_wall:.1} s: ~{keepalives:.0} keep-alives; etcd cpu {idle_etcd:.2} s, {:.2} s with no host connected = {ka_ms:.3} ms per keep-alive; sim cpu {idle_me:.2} s",
        base_rate * idle_wall
    );

    // Join: a new host reads everything and builds its copy.
    let joiner = live(&url, args.ttl).await;
    let live0 = LIVE.load(Ordering::Relaxed);
    let m = Meter::start(&etcd_pid);
    let t = Instant::now();
    let snap = joiner.snapshot().await.expect("snapshot");
    let snap_s = t.elapsed().as_secs_f64();
    let (_, snap_etcd, snap_me) = m.read();
    let n_eps = snap.endpoints.len();
    let snap_bytes: usize = snap
        .endpoints
        .iter()
        .map(|p| {
            netctl_cluster::keys::endpoint(&p.network_id, &p.host_id, &p.endpoint_id).len()
                + serde_json::to_vec(&p.record).unwrap().len()
        })
        .sum();
    let mut copy: HashMap<EpKey, EndpointRecord> = HashMap::new();
    for p in snap.endpoints {
        copy.insert(
            EpKey { network_id: p.network_id, host_id: p.host_id, endpoint_id: p.endpoint_id },
            p.record,
        );
    }
    let build_s = t.elapsed().as_secs_f64() - snap_s;
    let copy_bytes = LIVE.load(Ordering::Relaxed).saturating_sub(live0);
    println!(
        "join: etcd cpu {:.0} ms ({:.1} µs per endpoint read), this process {:.0} ms, for the snapshot",
        snap_etcd * 1000.0,
        snap_etcd * 1e6 / n_eps.max(1) as f64,
        snap_me * 1000.0
    );
    println!(
        "join: snapshot of {n_eps} endpoints ({:.1} MiB of keys+values, {} range requests of up to 2000 keys, networks included) in {:.0} ms, copy built in {:.0} ms; copy {:.2} MiB = {:.0} bytes per endpoint",
        snap_bytes as f64 / 1048576.0,
        n_eps.div_ceil(2000) + 1,
        snap_s * 1000.0,
        build_s * 1000.0,
        copy_bytes as f64 / 1048576.0,
        copy_bytes as f64 / n_eps.max(1) as f64
    );
    // Cross-check: the copies every simulated host keeps.
    let remote_total: usize = hosts.iter().map(|h| h.view.lock().unwrap().remote.len()).sum();
    let consistent =
        hosts.iter().all(|x| x.view.lock().unwrap().remote.len() + own_count(&copy, &x.id) == n_eps);
    println!(
        "hosts' copies: {remote_total} remote endpoints in all ({:.0} per host); every host's copy + its own = the snapshot: {consistent}",
        remote_total as f64 / h as f64
    );
    let etcd_rss = etcd_pid.as_deref().map_or(0.0, rss_mib);
    let me_rss = rss_mib("self");
    println!(
        "rss: etcd {etcd_rss:.0} MiB; this process {me_rss:.0} MiB = {:.2} MiB per simulated host (session, watch, copy, runtime)",
        me_rss / h as f64
    );
    drop(copy);
    let errors = fill_stats.errors + churn_stats.errors;
    if args.row {
        // | hosts | endpoints | churn/s | load | claim txn p50 | put p50 | p99 | max (from sent) | put p99 from returned
        // | del p99 from sent | etcd ms/change | etcd % core | sim % core | events/host/change | fill claims/s
        // | fill etcd ms/change | snapshot ms | etcd µs/endpoint read | copy B/endpoint | snapshot MiB
        // | etcd RSS MiB | db MiB | etcd ms per keep-alive |
        println!(
            "ROW | {h} | {n_eps} | {:.0} | {churn_load} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.0}% | {:.0}% | {ev_per_change:.2} | {:.0} | {:.2} | {:.0} | {:.1} | {:.0} | {:.1} | {etcd_rss:.0} | {:.0} | {ka_ms:.2} |",
            churn_changes / churn_write.0,
            pct(&mut churn_stats.claim_us, 0.5),
            pct(&mut mc.put_from_sent, 0.5),
            pct(&mut mc.put_from_sent, 0.99),
            pct(&mut mc.put_from_sent, 1.0),
            pct(&mut mc.put_from_done, 0.99),
            pct(&mut mc.del_from_sent, 0.99),
            churn_etcd * 1000.0 / churn_changes,
            churn_etcd * 100.0 / churn_wall,
            churn_me * 100.0 / churn_wall,
            fill_changes / fill_write.0,
            fill_etcd * 1000.0 / fill_changes,
            snap_s * 1000.0,
            snap_etcd * 1e6 / n_eps.max(1) as f64,
            copy_bytes as f64 / n_eps.max(1) as f64,
            snap_bytes as f64 / 1048576.0,
            db_churn as f64 / 1048576.0,
        );
    }
    consistent && errors == 0
}

fn own_count(copy: &HashMap<EpKey, EndpointRecord>, host_id: &str) -> usize {
    copy.keys().filter(|k| k.host_id == host_id).count()
}
