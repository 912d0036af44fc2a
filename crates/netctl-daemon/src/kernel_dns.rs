//! The resolver's kernel fast path (crate netctl-ebpf) in the daemon: probed
//! and loaded at start (`[dns] kernel_fast_path`; off, or refused by the kernel:
//! logged once, userspace serves everything), its maps kept equal to the zone by
//! an observer the resolver calls with every zone it answers from, and its
//! program attached to `lo` of each container namespace where the container's
//! listener is prepared (so that it overlaps the endpoint's creation), its view
//! written as the listener is served. Programs and maps stay attached and pinned under
//! /sys/fs/bpf/netctl while no daemon runs, so names keep answering; a daemon
//! starting takes the pinned maps over, removes every view of the last one
//! (their network numbering may differ from its own) and writes each container's
//! again as its listener is restored, before READY.

use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use netctl_dns::Resolver;
use netctl_ebpf::{KernelResolver, Mirror, ProgramSize};

use crate::daemon::Daemon;

pub struct KernelDns {
    mirror: Mutex<Mirror>,
    size: Option<ProgramSize>,
}

/// Which path answers: the kernel's in front of userspace's, or userspace's alone (why).
pub enum KernelDnsState {
    On(Arc<KernelDns>),
    Off(String),
}

impl KernelDnsState {
    /// Loads the program unless configured off; never fails: what cannot load
    /// is said once in the log, and the userspace resolver answers everything.
    /// NETCTL_KERNEL_FAST_PATH=0 turns it off as the configuration does (CI
    /// runs the resolver's tests both ways).
    pub fn start(enabled: bool, ttl: u32, resolver: &Resolver, data_root: &Path) -> Self {
        let env_off = std::env::var("NETCTL_KERNEL_FAST_PATH").is_ok_and(|v| v == "0" || v == "false");
        if env_off {
            tracing::info!("resolver: kernel fast path off (NETCTL_KERNEL_FAST_PATH)");
            return Self::Off("off by NETCTL_KERNEL_FAST_PATH=0".into());
        }
        if !enabled {
            tracing::info!("resolver: kernel fast path off ([dns] kernel_fast_path = false)");
            return Self::Off("off in netctl.toml ([dns] kernel_fast_path = false)".into());
        }
        let load = || -> Result<KernelDns, String> {
            netctl_ebpf::ensure_bpffs().map_err(|e| format!("no bpffs at /sys/fs/bpf ({e})"))?;
            let pins = PIN.get_or_init(|| pin_dir_for(data_root));
            let kernel = KernelResolver::load(Some(pins), ttl).map_err(|e| e.to_string())?;
            let size = kernel.size().ok();
            let mirror = Mirror::adopt(kernel).map_err(|e| e.to_string())?;
            Ok(KernelDns { mirror: Mutex::new(mirror), size })
        };
        match load() {
            Ok(k) => {
                let k = Arc::new(k);
                let observer = k.clone();
                resolver.set_observer(Box::new(move |zone| {
                    observer.mirror.lock().expect("not poisoned").observe(zone)
                }));
                ATTACHING.store(true, Ordering::Release);
                tracing::info!(size = ?k.size, pins = %pin_dir().display(), "resolver: kernel fast path on");
                Self::On(k)
            }
            Err(e) => {
                tracing::warn!(error = %e, "resolver: kernel fast path unavailable, userspace answers everything");
                Self::Off(format!("unavailable: {e}"))
            }
        }
    }

    /// For `netctl info`.
    pub fn status_line(&self) -> String {
        match self {
            Self::Off(why) => format!("userspace ({why})"),
            Self::On(k) => {
                let mut m = k.mirror.lock().expect("not poisoned");
                let (hits, passed) = m.kernel().counters().unwrap_or((0, 0));
                let size =
                    k.size.map(|s| format!(", program {} instructions", s.instructions)).unwrap_or_default();
                format!(
                    "kernel fast path on ({hits} answered in the kernel, {passed} left to userspace, {} namespaces{size})",
                    m.registered()
                )
            }
        }
    }
}

/// Where this daemon pins its program and maps (`pin_dir_for`), set at start.
static PIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn pin_dir() -> &'static Path {
    PIN.get().map(PathBuf::as_path).unwrap_or(Path::new(netctl_ebpf::PIN_DIR))
}

/// /sys/fs/bpf/netctl/v1 for the default state directory. A daemon with a state
/// directory of its own (a second one on the machine, or the hosts of the
/// multi-host tests) pins beside it, under a name made from that directory: a
/// daemon takes over what it finds pinned, and must never take another's maps
/// (their networks are numbered otherwise: its names would answer the other's
/// containers).
pub(crate) fn pin_dir_for(data_root: &Path) -> PathBuf {
    if data_root == Path::new("/var/lib/netctl") {
        return PathBuf::from(netctl_ebpf::PIN_DIR);
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_root.as_os_str().as_encoded_bytes());
    PathBuf::from(format!("{}-{}", netctl_ebpf::PIN_DIR, &hex::encode(digest)[..12]))
}

/// Set once the program is loaded and pinned: listeners' preparations attach it.
static ATTACHING: AtomicBool = AtomicBool::new(false);

/// Puts the program on `lo` of the namespace `ns` (blocking, on a thread of its
/// own in the namespace). Called where the container's listener is prepared, so
/// that it overlaps the endpoint's creation; without the program loaded, nothing.
pub(crate) fn attach_in(ns: &(impl AsFd + Sync), container_id: &str) {
    if !ATTACHING.load(Ordering::Acquire) {
        return;
    }
    let started = std::time::Instant::now();
    let attached = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| format!("enter the namespace: {e}"))?;
            netctl_ebpf::attach_lo_pinned(pin_dir()).map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("attach thread panicked".into()))
    });
    match attached {
        Ok(()) => tracing::debug!(
            container = container_id,
            us = started.elapsed().as_micros() as u64,
            "kernel fast path attached"
        ),
        Err(e) => {
            tracing::warn!(container = container_id, error = %e, "kernel fast path not attached: userspace answers")
        }
    }
}

impl Daemon {
    /// The container's listener is about to be served: its view in the kernel
    /// (the program is on its `lo` since `attach_in`).
    pub(crate) fn kernel_dns_listener(&self, container_id: &str, udp: &UdpSocket, udp_port: u16) {
        let KernelDnsState::On(k) = &self.kernel_dns else { return };
        match netctl_ebpf::netns_cookie(udp) {
            Ok(cookie) => self.resolver.with_zone(|zone| {
                k.mirror.lock().expect("not poisoned").register(container_id, cookie, udp_port, zone)
            }),
            Err(e) => tracing::warn!(container = container_id, error = %e, "netns cookie: userspace answers"),
        }
    }

    /// The container's listener is gone.
    pub(crate) fn kernel_dns_forget(&self, container_id: &str) {
        if let KernelDnsState::On(k) = &self.kernel_dns {
            // The zone's lock first, as the observer takes them.
            self.resolver.with_zone(|_| k.mirror.lock().expect("not poisoned").unregister(container_id));
        }
    }
}

#[cfg(test)]
mod pin_tests {
    use super::*;

    #[test]
    fn a_daemon_with_a_state_directory_of_its_own_pins_apart() {
        assert_eq!(pin_dir_for(Path::new("/var/lib/netctl")), Path::new(netctl_ebpf::PIN_DIR));
        let other = pin_dir_for(Path::new("/srv/netctl-b"));
        assert_ne!(other, Path::new(netctl_ebpf::PIN_DIR));
        assert_eq!(other, pin_dir_for(Path::new("/srv/netctl-b")), "the same directory, the same pins");
        assert!(other.to_string_lossy().starts_with("/sys/fs/bpf/netctl/v1-"), "{}", other.display());
    }
}
