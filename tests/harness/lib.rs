//! A throwaway Linux host per test: a new network, mount and PID namespace with
//! empty /run, /var/lib/netctl, /etc/netctl and /etc/netns, where the test starts
//! its own netctld and runs netctl, ip, curl… as a user would. Dropping the
//! sandbox kills its PID 1, which ends every process in it and frees its
//! namespaces with all bridges, veths and namespaces made inside. If the test
//! runner itself dies, the kernel kills the holder (PR_SET_PDEATHSIG).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod cluster;

const SETUP: &str = r#"
set -e
for d in /run /var/lib/netctl /etc/netctl /etc/netns; do mount -t tmpfs tmpfs "$d"; done
# The sandbox's own cgroup tree (its cgroup namespace's), where netctld puts
# each container's cgroup.
cg=$(findmnt -n -t cgroup2 -o TARGET | head -1)
if [ -n "$cg" ]; then umount -l "$cg"; mount -t cgroup2 cgroup2 "$cg"; fi
mkdir -p /run/netns /run/netctl
# A bpffs of the sandbox's own: the kernel resolver's pins never reach the host's.
mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
ip link set lo up
echo ready
# PID 1 must reap orphans (a daemon started with setsid, a shim whose parent
# left), or they stay zombies and look alive to kill -0.
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

pub struct Sandbox {
    holder: Child,
    /// The sandbox's cgroup on the host (root of its cgroup namespace); removed
    /// with everything under it when the sandbox goes.
    cgroup: Option<PathBuf>,
    /// Host PID of the sandbox's PID 1, for nsenter.
    pid: u32,
    bin: PathBuf,
}

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Out {
    pub cmd: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(
            self.code == 0,
            "command failed ({}): {}\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.cmd,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fail(self) -> Self {
        assert!(
            self.code != 0,
            "command should have failed: {}\nstdout:\n{}\nstderr:\n{}",
            self.cmd,
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}):\n{}", self.cmd, self.stdout))
    }

    pub fn trimmed(&self) -> &str {
        self.stdout.trim()
    }
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NETCTL_BIN_DIR") {
        return dir.into();
    }
    // target/<profile>/deps/<test binary> → target/<profile>
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent().and_then(|p| p.parent()).expect("target dir").to_path_buf()
}

impl Sandbox {
    pub fn new() -> Self {
        assert!(
            unsafe { libc::geteuid() } == 0,
            "the end-to-end tests need root: they make namespaces, bridges and veths"
        );
        let bin = bin_dir();
        for b in ["netctl", "netctld"] {
            assert!(
                bin.join(b).exists(),
                "{} missing: build the binaries first: cargo build --workspace --bins",
                bin.join(b).display()
            );
        }
        for d in ["/var/lib/netctl", "/etc/netctl", "/etc/netns"] {
            std::fs::create_dir_all(d).expect("mount point");
        }
        let cgroup = new_test_cgroup();
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--cgroup",
            "--net",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--propagation",
            "private",
            "sh",
            "-c",
            SETUP,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        let procs = join_cgroup_file(cgroup.as_deref());
        // SAFETY: between fork and exec: prctl(2) and write(2) on a descriptor
        // opened before the fork, no allocation.
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                join_cgroup(procs.as_ref())
            });
        }
        let mut holder = cmd.spawn().expect("unshare (util-linux) must be installed");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().expect("piped")).read_line(&mut line).expect("sandbox setup");
        assert_eq!(line.trim(), "ready", "sandbox setup failed");
        let pid = child_of(holder.id()).expect("sandbox PID 1");
        Sandbox { holder, cgroup, pid, bin }
    }

    /// Runs a shell script inside, with netctl and netctld on PATH.
    pub fn sh(&self, script: &str) -> Out {
        self.sh_via(&[], script)
    }

    /// As `sh`, with the shell started by `via` (a command that runs its
    /// arguments, e.g. an nsenter into a namespace made inside).
    pub fn sh_via(&self, via: &[&str], script: &str) -> Out {
        let path =
            format!("{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", self.bin.display());
        let mut cmd = Command::new("nsenter");
        let procs = join_cgroup_file(self.cgroup.as_deref());
        // SAFETY: between fork and exec: write(2) on a descriptor opened before
        // the fork, no allocation. Inside the sandbox's cgroup first, so that its
        // cgroup namespace is the sandbox's view too.
        unsafe {
            cmd.pre_exec(move || join_cgroup(procs.as_ref()));
        }
        let output = cmd
            .args(["--target", &self.pid.to_string(), "--cgroup", "--net", "--mount", "--pid", "--"])
            .args(via)
            .args(["env", &format!("PATH={path}"), "bash", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("nsenter");
        Out {
            cmd: script.to_string(),
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The sandbox's network namespace, for a thread of the test to setns into
    /// (to run netctl-kernel's API there).
    pub fn netns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid))
    }

    /// The namespace that `ip netns add NAME` made inside the sandbox, seen from
    /// outside through the sandbox's mount namespace.
    pub fn inner_netns_path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root/run/netns/{name}", self.pid))
    }

    /// A machine "outside": namespace `outside` at 198.51.100.2, routed to this
    /// host at 198.51.100.1, as another host on the LAN would be.
    pub fn add_outside_host(&self) {
        self.sh("ip netns add outside && ip link add lanhost type veth peer name lan0 netns outside \
             && ip addr add 198.51.100.1/24 dev lanhost && ip link set lanhost up \
             && ip -n outside addr add 198.51.100.2/24 dev lan0 && ip -n outside link set lan0 up \
             && ip -n outside link set lo up && ip -n outside route add default via 198.51.100.1")
            .ok();
    }

    /// Fetches `url` with curl (from `prefix`, e.g. `ip netns exec outside`), retrying
    /// for up to 10 s while the server starts; the body, or the last failure.
    pub fn curl(&self, prefix: &str, url: &str) -> Out {
        self.sh(&format!(
            "for i in $(seq 100); do out=$({prefix} curl -sS --max-time 2 {url} 2>&1) && {{ echo \"$out\"; exit 0; }}; sleep 0.1; done; echo \"$out\"; exit 1"
        ))
    }

    pub fn netctl(&self, args: &str) -> Out {
        self.sh(&format!("netctl {args}"))
    }

    /// Starts netctld inside with default paths and waits until it answers.
    pub fn start_daemon(&self) {
        self.start_daemon_with("");
    }

    pub fn start_daemon_with(&self, flags: &str) {
        self.start_daemon_env("", flags);
    }

    /// Starts netctld with `env` (e.g. `FAILPOINTS=create.netns=return`) and waits
    /// until it answers.
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

    /// The sandbox's cgroup on the host, if the host has cgroup v2.
    pub fn cgroup(&self) -> Option<&std::path::Path> {
        self.cgroup.as_deref()
    }

    /// `ip -j link show` inside.
    pub fn links(&self) -> Vec<Value> {
        self.sh("ip -j -d link show").ok().json().as_array().cloned().unwrap_or_default()
    }

    pub fn link(&self, name: &str) -> Option<Value> {
        self.links().into_iter().find(|l| l["ifname"] == name)
    }

    pub fn link_names(&self) -> Vec<String> {
        self.links().iter().filter_map(|l| l["ifname"].as_str().map(String::from)).collect()
    }

    /// IPv4 addresses of a device inside, as "a.b.c.d/len".
    pub fn ipv4_of(&self, dev: &str) -> Vec<String> {
        let out = self.sh(&format!("ip -j -4 addr show dev {dev}")).ok().json();
        out.as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
            .collect()
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- netctld log of the failed test ----\n{}", self.daemon_log());
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        if let Some(dir) = &self.cgroup {
            remove_cgroup_tree(dir);
        }
    }
}

/// netctld's life cycle, the same in a sandbox and in a cluster host (the same
/// paths, each in its own /run): `sh` runs a script where the daemon lives.
pub(crate) mod daemon {
    use super::Out;
    use std::time::{Duration, Instant};

    pub type Sh<'a> = &'a dyn Fn(&str) -> Out;

    pub fn start(sh: Sh, env: &str, flags: &str) {
        sh(&format!(
            "setsid env {env} netctld {flags} >>/run/netctld.log 2>&1 < /dev/null & echo $! > /run/netctld.pid"
        ))
        .ok();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if sh("netctl network ls -q").code == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("netctld did not come up within 10 s; its log:\n{}", log(sh));
    }

    pub fn stop(sh: Sh) {
        let out = sh(
            "pid=$(cat /run/netctld.pid); kill -TERM $pid; for i in $(seq 100); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.05; done; exit 1",
        );
        assert!(out.code == 0, "netctld did not stop on SIGTERM; log:\n{}", log(sh));
        let log = log(sh);
        assert!(log.contains("netctld stopped"), "netctld did not shut down cleanly; log:\n{log}");
    }

    pub fn kill(sh: Sh) {
        sh("pid=$(cat /run/netctld.pid); kill -9 $pid; while kill -0 $pid 2>/dev/null; do sleep 0.01; done")
            .ok();
    }

    pub fn log(sh: Sh) -> String {
        sh("cat /run/netctld.log 2>/dev/null").stdout
    }
}

/// A fresh cgroup for one sandbox under `<cgroup2>/netctl-tests/`, or None on
/// hosts without cgroup v2.
fn new_test_cgroup() -> Option<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let out = Command::new("findmnt").args(["-n", "-t", "cgroup2", "-o", "TARGET"]).output().ok()?;
    let mount = String::from_utf8_lossy(&out.stdout).lines().next()?.trim().to_string();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(mount).join("netctl-tests").join(format!("{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    Some(dir)
}

fn join_cgroup_file(dir: Option<&std::path::Path>) -> Option<std::fs::File> {
    dir.and_then(|d| std::fs::OpenOptions::new().write(true).open(d.join("cgroup.procs")).ok())
}

fn join_cgroup(procs: Option<&std::fs::File>) -> std::io::Result<()> {
    if let Some(f) = procs {
        // SAFETY: write(2) of a static byte string on an open descriptor.
        if unsafe { libc::write(std::os::fd::AsRawFd::as_raw_fd(f), b"0".as_ptr().cast(), 1) } != 1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Removes a cgroup and everything under it once its processes are gone (the
/// sandbox's PID namespace takes them all with it, a moment after its PID 1).
fn remove_cgroup_tree(dir: &std::path::Path) {
    fn dirs_depth_first(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                dirs_depth_first(&e.path(), out);
            }
        }
        out.push(dir.to_path_buf());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut all = Vec::new();
        dirs_depth_first(dir, &mut all);
        let failed = all.iter().filter(|d| std::fs::remove_dir(d).is_err()).count();
        if failed == 0 || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn child_of(pid: u32) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            if let Some(first) = text.split_whitespace().next() {
                return first.parse().ok();
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// The host's own links, to check a test changed nothing outside its sandbox.
pub fn host_link_names() -> Vec<String> {
    let out = Command::new("ip").args(["-j", "link", "show"]).output().expect("ip");
    let v: Value = serde_json::from_slice(&out.stdout).expect("ip -j");
    v.as_array().into_iter().flatten().filter_map(|l| l["ifname"].as_str().map(String::from)).collect()
}

/// Asserts that `keys` come in this order in `text` after `from` (compact or
/// indented JSON alike): serde_json's maps sort keys, so Docker's order is checked
/// on the text.
#[track_caller]
pub fn assert_key_order(text: &str, from: &str, keys: &[&str]) {
    let mut at = text.find(from).unwrap_or_else(|| panic!("{from} not in {text}"));
    for k in keys {
        let needle = format!("\"{k}\":");
        match text[at..].find(&needle) {
            Some(i) => at += i + needle.len(),
            None => panic!("{k} is missing or out of Docker's order {keys:?} in:\n{text}"),
        }
    }
}

/// Docker 28's `EndpointSettings`, in its order (moby api/types/network/endpoint.go).
pub const DOCKER_ENDPOINT_KEYS: [&str; 15] = [
    "IPAMConfig",
    "Links",
    "Aliases",
    "MacAddress",
    "DriverOpts",
    "GwPriority",
    "NetworkID",
    "EndpointID",
    "Gateway",
    "IPAddress",
    "IPPrefixLen",
    "IPv6Gateway",
    "GlobalIPv6Address",
    "GlobalIPv6PrefixLen",
    "DNSNames",
];
