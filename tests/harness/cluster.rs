//! Several hosts on one machine, for the multi-host tests (issue 16).
//!
//! The "machine" is one [`Sandbox`]; everything below lives inside it and goes
//! with it (its PID 1 dies, and with it every process and namespace made here).
//!
//! - The underlay: namespace `underlay` with the bridge `ul0` (192.168.77.254/24,
//!   where [`EtcdCluster::ctl`] runs etcdctl from), one veth port per host and per
//!   etcd member; the LAN the hosts share.
//! - A **host** is what a separate machine is to netctl: its own network namespace
//!   `host-<x>` (loopback and `eth0` at 192.168.77.<i> on the underlay), its own
//!   mount namespace with empty tmpfs on /run, /var/lib/netctl, /etc/netctl and
//!   /etc/netns (so its netctld, socket, state, container namespaces and their pins
//!   are its own), its own PID namespace (with an init that reaps orphans) and UTS
//!   namespace (hostname `host-<x>`), a cgroup `host-<x>` of the machine that holds
//!   its processes, and `cgroup_parent = "netctl-<x>"` in its netctl.toml so that
//!   its containers' cgroups are its own too. Hosts are a, b, c… (index 0, 1, 2…),
//!   at 192.168.77.1, .2, .3…
//! - etcd members: each in its own network namespace `etcd-<i>` at
//!   192.168.77.<100+i>, with its data in the machine's /run/etcd/m<i>, kept across
//!   stops so a restarted member comes back with its state.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{daemon, Out, Sandbox};

/// The underlay's /24.
pub const UNDERLAY: &str = "192.168.77";

/// A machine with `hosts` hosts (a, b, c…) and an etcd cluster of `etcd_members`
/// members, all on one underlay. No daemon is started.
pub struct Machine {
    pub hosts: Vec<Host>,
    pub etcd: EtcdCluster,
    pub sandbox: Arc<Sandbox>,
}

impl Machine {
    pub fn with_hosts(hosts: usize, etcd_members: usize) -> Self {
        let sandbox = Arc::new(Sandbox::new());
        let etcd = EtcdCluster::start(&sandbox, etcd_members);
        let hosts = (0..hosts).map(|i| Host::add(&sandbox, i)).collect();
        Machine { hosts, etcd, sandbox }
    }

    /// Starts every host's netctld (with the netctl.toml each has), in parallel.
    pub fn start_daemons(&self) {
        std::thread::scope(|s| {
            for h in &self.hosts {
                s.spawn(|| h.start_daemon());
            }
        });
    }

    /// The host named `name` ("a", "b"…).
    #[track_caller]
    pub fn host(&self, name: &str) -> &Host {
        self.hosts.iter().find(|h| h.name == name).unwrap_or_else(|| panic!("no host {name}"))
    }
}

/// `[cluster]` of netctl.toml: the etcd endpoints, the host's underlay address and,
/// if given, the lease TTL in seconds.
pub fn cluster_toml(endpoints: &[String], advertise: &str, ttl: Option<u32>) -> String {
    let etcd: Vec<String> = endpoints.iter().map(|e| format!("{e:?}")).collect();
    let mut text = format!("[cluster]\netcd = [{}]\nadvertise = {advertise:?}\n", etcd.join(", "));
    if let Some(ttl) = ttl {
        text.push_str(&format!("ttl = {ttl}\n"));
    }
    text
}

/// Makes the underlay namespace and its bridge, once per machine.
fn ensure_underlay(machine: &Sandbox) {
    machine
        .sh(&format!(
            "[ -e /run/netns/underlay ] && exit 0
             ip netns add underlay && ip -n underlay link set lo up
             ip -n underlay link add ul0 address 02:4d:77:00:00:fe type bridge && ip -n underlay link set ul0 up
             ip -n underlay addr add {UNDERLAY}.254/24 dev ul0"
        ))
        .ok();
}

/// Namespace `ns` joined to the underlay by a veth (`port` on the bridge, `eth0`
/// inside) with address 192.168.77.`octet` and a MAC address made of it: as a real
/// machine's NIC, a host made again at the same address has the same MAC (else the
/// others' neighbour entries for it stay stale for half a minute).
fn plug(machine: &Sandbox, ns: &str, port: &str, octet: u32) {
    ensure_underlay(machine);
    machine
        .sh(&format!(
            "set -e
             [ -e /run/netns/{ns} ] || ip netns add {ns}
             ip -n {ns} link set lo up
             ip -n underlay link add {port} type veth peer name eth0 netns {ns}
             ip -n underlay link set {port} master ul0 up
             ip -n {ns} link set eth0 address 02:4d:77:00:00:{octet:02x}
             ip -n {ns} addr add {UNDERLAY}.{octet}/24 dev eth0
             ip -n {ns} link set eth0 up"
        ))
        .ok();
}

/// Polls `f` every 50 ms until it is true or `secs` pass; whether it became true.
fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// etcd 3.4 members on the underlay, each in its own network namespace.
pub struct EtcdCluster {
    machine: Arc<Sandbox>,
    members: usize,
    /// `--initial-cluster-token`, unique per machine: finds this cluster's
    /// processes from the host (none must outlive the machine).
    pub token: String,
}

impl EtcdCluster {
    /// Starts `members` members (1 or 3; 0: none, for tests without etcd) and
    /// waits until all are healthy.
    pub fn start(machine: &Arc<Sandbox>, members: usize) -> Self {
        assert!(members <= 100, "etcd members: {members}");
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let token = format!("netctl-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let etcd = EtcdCluster { machine: machine.clone(), members, token };
        for i in 0..members {
            plug(machine, &format!("etcd-{i}"), &format!("ul-e{i}"), 100 + i as u32);
        }
        if members > 0 {
            etcd.start_all();
        }
        etcd
    }

    pub fn member_ip(&self, i: usize) -> String {
        format!("{UNDERLAY}.{}", 100 + i)
    }

    pub fn endpoint(&self, i: usize) -> String {
        format!("http://{}:2379", self.member_ip(i))
    }

    /// Client URLs of all members, running or not.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members).map(|i| self.endpoint(i)).collect()
    }

    fn launch(&self, i: usize) {
        let ip = self.member_ip(i);
        let initial: Vec<String> =
            (0..self.members).map(|m| format!("m{m}=http://{}:2380", self.member_ip(m))).collect();
        // --initial-* only matter on the first start: later ones read the data dir.
        self.machine
            .sh(&format!(
                "mkdir -p /run/etcd\n nsenter --net=/run/netns/etcd-{i} etcd --name m{i} --data-dir /run/etcd/m{i} \
                 --listen-client-urls http://{ip}:2379 --advertise-client-urls http://{ip}:2379 \
                 --listen-peer-urls http://{ip}:2380 --initial-advertise-peer-urls http://{ip}:2380 \
                 --initial-cluster {} --initial-cluster-state new --initial-cluster-token {} \
                 >>/run/etcd/m{i}.log 2>&1 </dev/null & echo $! > /run/etcd/m{i}.pid",
                initial.join(","),
                self.token
            ))
            .ok();
    }

    /// Starts member `i` again (with its data) and waits until it is healthy, which
    /// needs a quorum with it.
    pub fn start_member(&self, i: usize) {
        self.launch(i);
        self.wait_healthy(&[i]);
    }

    /// Starts every member (after [`stop_all`](Self::stop_all), with its data) and
    /// waits until all are healthy.
    pub fn start_all(&self) {
        for i in 0..self.members {
            self.launch(i);
        }
        self.wait_healthy(&(0..self.members).collect::<Vec<_>>());
    }

    /// SIGTERM to member `i`, and wait until it is gone.
    pub fn stop_member(&self, i: usize) {
        self.signal(i, "TERM");
    }

    /// kill -9 member `i`, and wait until it is gone.
    pub fn kill_member(&self, i: usize) {
        self.signal(i, "KILL");
    }

    pub fn stop_all(&self) {
        for i in 0..self.members {
            self.stop_member(i);
        }
    }

    fn signal(&self, i: usize, sig: &str) {
        self.machine
            .sh(&format!(
                "pid=$(cat /run/etcd/m{i}.pid); kill -{sig} $pid 2>/dev/null
                 for n in $(seq 200); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.05; done; kill -9 $pid"
            ))
            .ok();
    }

    /// Waits (up to 30 s) until `etcdctl endpoint health` says the members are healthy.
    #[track_caller]
    pub fn wait_healthy(&self, members: &[usize]) {
        let eps: Vec<String> = members.iter().map(|&i| self.endpoint(i)).collect();
        let mut last = None;
        let healthy = wait_until(30, || {
            let out = self.ctl_on(&eps, "endpoint health");
            let ok = out.code == 0;
            last = Some(out);
            ok
        });
        if !healthy {
            let logs: String = members.iter().map(|&i| format!("--- m{i}:\n{}", self.log(i))).collect();
            panic!("etcd {members:?} not healthy within 30 s: {last:?}\n{logs}");
        }
    }

    /// etcdctl (API v3) against every member, from the underlay's 192.168.77.254.
    pub fn ctl(&self, args: &str) -> Out {
        self.ctl_on(&self.endpoints(), args)
    }

    /// etcdctl against member `i` only.
    pub fn ctl_at(&self, i: usize, args: &str) -> Out {
        self.ctl_on(&[self.endpoint(i)], args)
    }

    fn ctl_on(&self, endpoints: &[String], args: &str) -> Out {
        self.machine.sh(&format!(
            "ETCDCTL_API=3 ip netns exec underlay etcdctl --endpoints={} --dial-timeout=1s --command-timeout=3s {args}",
            endpoints.join(",")
        ))
    }

    /// Member `i`'s log.
    pub fn log(&self, i: usize) -> String {
        self.machine.sh(&format!("tail -n 30 /run/etcd/m{i}.log 2>/dev/null")).stdout
    }
}

/// Run as PID 1 of a host's PID namespace (args: the host's letter), inside its
/// fresh mount and UTS namespaces.
const HOST_SETUP: &str = r#"
set -e
for d in /run /var/lib/netctl /etc/netctl /etc/netns; do mount -t tmpfs tmpfs "$d"; done
mkdir -p /run/netns /run/netctl
# A bpffs of the host's own, as a separate machine has: each netctld pins its kernel
# resolver's program and maps there and takes over what it finds.
mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
hostname "host-$1"
echo "cgroup_parent = \"netctl-$1\"" > /etc/netctl/netctl.toml
echo ready
exec python3 -c '
import os, signal
signal.signal(signal.SIGCHLD, lambda *a: None)
while True:
    try:
        os.wait()
    except ChildProcessError:
        signal.pause()
'
"#;

/// One host of the machine (see the module's header).
pub struct Host {
    machine: Arc<Sandbox>,
    /// "a", "b"…
    pub name: String,
    index: usize,
    /// The host's init, as the machine's PID namespace numbers it.
    init: u32,
    /// The machine's cgroup2 mount, if any: the host's processes are in
    /// `<it>/host-<x>`, its containers' in `<it>/netctl-<x>`.
    cgroup_mount: Option<String>,
    removed: AtomicBool,
}

impl Host {
    /// Host number `index` (0 → "a" at 192.168.77.1), plugged into the underlay.
    pub fn add(machine: &Arc<Sandbox>, index: usize) -> Self {
        assert!(index < 26, "hosts a to z");
        let name = ((b'a' + index as u8) as char).to_string();
        plug(machine, &format!("host-{name}"), &format!("ul-{name}"), index as u32 + 1);
        let cg = machine.sh("findmnt -n -t cgroup2 -o TARGET | head -1").ok().trimmed().to_string();
        let cgroup_mount = (!cg.is_empty()).then_some(cg);
        let join = match &cgroup_mount {
            Some(cg) => format!("mkdir -p {cg}/host-{name} && echo $$ > {cg}/host-{name}/cgroup.procs && "),
            None => String::new(),
        };
        let out = machine
            .sh(&format!(
                "set -e
                 mkdir -p /run/hosts
                 cat > /run/hosts/setup.sh <<'EOF'{HOST_SETUP}EOF
                 sh -c '{join}exec \"$@\"' sh nsenter --net=/run/netns/host-{name} \
                   unshare --mount --uts --pid --fork --kill-child --mount-proc --propagation private \
                   sh /run/hosts/setup.sh {name} >/run/hosts/{name}.log 2>&1 </dev/null &
                 u=$!
                 for i in $(seq 200); do grep -qx ready /run/hosts/{name}.log && break; kill -0 $u || break; sleep 0.05; done
                 grep -qx ready /run/hosts/{name}.log || {{ cat /run/hosts/{name}.log; exit 1; }}
                 cat /proc/$u/task/$u/children"
            ))
            .ok();
        let init = out.trimmed().parse().unwrap_or_else(|_| panic!("host {name}'s init: {out:?}"));
        Host { machine: machine.clone(), name, index, init, cgroup_mount, removed: AtomicBool::new(false) }
    }

    /// 192.168.77.<i>.
    pub fn underlay_ip(&self) -> String {
        format!("{UNDERLAY}.{}", self.index + 1)
    }

    /// Runs a shell script on this host (its namespaces and cgroup), with netctl,
    /// netctld on PATH and ETCDCTL_API=3.
    pub fn sh(&self, script: &str) -> Out {
        let init = self.init.to_string();
        let procs = self.cgroup_mount.as_ref().map(|cg| format!("{cg}/host-{}/cgroup.procs", self.name));
        let mut via = vec!["nsenter", "--target", &init, "--net", "--mount", "--uts", "--pid", "--"];
        if let Some(procs) = &procs {
            via.extend(["sh", "-c", "echo $$ > \"$0\" && exec \"$@\"", procs]);
        }
        via.extend(["env", "ETCDCTL_API=3"]);
        self.machine.sh_via(&via, script)
    }

    pub fn netctl(&self, args: &str) -> Out {
        self.sh(&format!("netctl {args}"))
    }

    /// Writes the host's /etc/netctl/netctl.toml: its `cgroup_parent` line, then
    /// `toml` (e.g. [`cluster_section`](Self::cluster_section)'s). Read at netctld's start.
    pub fn write_config(&self, toml: &str) {
        self.sh(&format!(
            "cat > /etc/netctl/netctl.toml <<'EOF'\ncgroup_parent = \"netctl-{}\"\n{toml}\nEOF",
            self.name
        ))
        .ok();
    }

    /// `[cluster]` for this host: `etcd`'s endpoints, this host's underlay address.
    pub fn cluster_section(&self, etcd: &EtcdCluster, ttl: Option<u32>) -> String {
        cluster_toml(&etcd.endpoints(), &self.underlay_ip(), ttl)
    }

    /// Starts this host's netctld and waits until it answers.
    pub fn start_daemon(&self) {
        self.start_daemon_env("", "");
    }

    pub fn start_daemon_env(&self, env: &str, flags: &str) {
        daemon::start(&|s| self.sh(s), env, flags)
    }

    /// SIGTERM and wait; asserts a clean exit.
    pub fn stop_daemon(&self) {
        daemon::stop(&|s| self.sh(s))
    }

    /// kill -9, and wait until the process is gone.
    pub fn kill_daemon(&self) {
        daemon::kill(&|s| self.sh(s))
    }

    pub fn restart_daemon(&self) {
        self.stop_daemon();
        self.start_daemon();
    }

    pub fn daemon_log(&self) -> String {
        daemon::log(&|s| self.sh(s))
    }

    /// "Host B dies": every process of the host (netctld, containers, shells) is
    /// killed at once, its underlay port and namespace are deleted, its cgroups
    /// removed. Its underlay address is unreachable from then on.
    pub fn remove(&self) {
        self.removed.store(true, Ordering::Relaxed);
        let x = &self.name;
        let cgroups = match &self.cgroup_mount {
            Some(cg) => format!("{cg}/host-{x} {cg}/netctl-{x}"),
            None => String::new(),
        };
        // Killing the host's init ends its PID namespace, which holds every process
        // of the host (containers included: they share it); the cgroups are waited
        // for so that the namespaces those processes held are gone too.
        self.machine
            .sh(&format!(
                "kill -9 {init}; while kill -0 {init} 2>/dev/null; do sleep 0.01; done
                 for cg in {cgroups}; do
                   [ -d $cg ] || continue
                   echo 1 > $cg/cgroup.kill 2>/dev/null || true
                   for i in $(seq 200); do grep -q 'populated 0' $cg/cgroup.events && break; sleep 0.02; done
                   find $cg -depth -type d -exec rmdir {{}} +
                 done
                 ip -n underlay link del ul-{x} 2>/dev/null || true
                 ip netns del host-{x}",
                init = self.init
            ))
            .ok();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.removed.load(Ordering::Relaxed) {
            eprintln!("---- netctld log of host {} ----\n{}", self.name, self.daemon_log());
        }
    }
}
