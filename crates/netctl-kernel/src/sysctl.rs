//! Writes of /proc/sys/net settings.
//!
//! Why descriptors: every namespace has its own `/proc/sys/net`, and the kernel's
//! dentry cache keeps them all in one hash chain (same parent, same name, told
//! apart by `proc_sys_compare`), so resolving a path costs more the more
//! namespaces there are: at 1,000 containers a write to the host end's
//! `disable_ipv6` took 350 µs, and one inside a container 400 µs. So paths are
//! resolved as rarely as possible: each key of a change relative to one directory,
//! the host's `conf` directory once per daemon ([`host_conf`]), and a container
//! namespace's `default/disable_ipv6` once, when netctl creates it
//! (netns::create_pinned_netns), kept open.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;

use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::Mode;

use crate::error::{KernelError, Result};

fn errno(op: String) -> impl FnOnce(nix::errno::Errno) -> KernelError {
    move |e| KernelError::io(op, std::io::Error::from_raw_os_error(e as i32))
}

/// Opens directory `dir` (O_PATH), in the calling thread's namespace.
pub fn open_dir(dir: &str) -> Result<OwnedFd> {
    open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(errno(format!("open {dir}")))
}

/// IPv6 on an interface without what each join would flood to every other port
/// of its bridge: duplicate address detection (the daemon's addresses are unique),
/// router solicitations, autoconfiguration from router advertisements. Written on
/// an interface, or as a namespace's defaults (netns::create_pinned_netns).
pub const QUIET_IPV6: [(&str, &str); 5] = [
    ("accept_dad", "0"),
    ("dad_transmits", "0"),
    ("router_solicitations", "0"),
    ("accept_ra", "0"),
    ("autoconf", "0"),
];

/// Opens `key` (a file; it may have a directory, `veth1/disable_ipv6`) relative to
/// the open directory `dirfd`, for writing.
pub fn open_at(dirfd: &impl AsFd, key: &str) -> nix::Result<std::fs::File> {
    openat(dirfd.as_fd(), key, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty()).map(std::fs::File::from)
}

/// Writes each `(key, value)` relative to the open directory `dirfd`, named `dir`
/// in errors.
pub fn write_all_at(dirfd: &impl AsFd, dir: &str, settings: &[(&str, &str)]) -> Result<()> {
    for (key, value) in settings {
        let op = || format!("set {dir}/{key} = {value}");
        let mut file = open_at(dirfd, key).map_err(errno(op()))?;
        file.write_all(value.as_bytes()).map_err(|e| KernelError::io(op(), e))?;
    }
    Ok(())
}

/// The daemon's own namespace's `/proc/sys/net/ipv6/conf`, opened on first use.
/// Called only from the runtime's threads, which never leave that namespace.
/// None on a kernel without IPv6.
pub fn host_conf() -> Option<&'static OwnedFd> {
    static CONF: OnceLock<Option<OwnedFd>> = OnceLock::new();
    CONF.get_or_init(|| open_dir("/proc/sys/net/ipv6/conf").ok()).as_ref()
}
