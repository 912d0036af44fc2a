//! Network namespaces: created and pinned by a bind mount at /run/netns/<name> (as
//! `ip netns add` does, so `ip netns exec` works), and netlink connections opened
//! inside one. Everything that changes a thread's namespace runs on a short-lived
//! dedicated thread: a tokio worker must never switch namespaces.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{KernelError, Result};
use crate::Netlink;

pub const NETNS_RUN_DIR: &str = "/run/netns";

fn errno(op: impl Into<String>) -> impl FnOnce(Errno) -> KernelError {
    let op = op.into();
    move |e| KernelError::io(op, std::io::Error::from_raw_os_error(e as i32))
}

/// Runs `f` on a fresh thread that first joins the namespace `ns` (a namespace
/// file such as /run/netns/x or /proc/PID/ns/net).
pub fn run_in_netns<T: Send + 'static>(
    ns: &impl AsFd,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let fd: OwnedFd = ns.as_fd().try_clone_to_owned().map_err(|e| KernelError::io("dup netns fd", e))?;
    std::thread::spawn(move || {
        setns(&fd, CloneFlags::CLONE_NEWNET).map_err(errno("enter network namespace"))?;
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(KernelError::Other { op: "netns thread".into(), message: "panicked".into() }))
}

/// [`run_in_netns`] for async callers: the thread is waited for without holding a
/// worker of the runtime (a change holds the registry lock meanwhile, and other
/// requests' tasks must go on).
pub async fn run_in_netns_async<T: Send + 'static>(
    ns: &impl AsFd,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let fd: OwnedFd = ns.as_fd().try_clone_to_owned().map_err(|e| KernelError::io("dup netns fd", e))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let result =
            setns(&fd, CloneFlags::CLONE_NEWNET).map_err(errno("enter network namespace")).and_then(|()| f());
        let _ = tx.send(result);
    });
    rx.await
        .unwrap_or_else(|_| Err(KernelError::Other { op: "netns thread".into(), message: "panicked".into() }))
}

// NS_GET_NSTYPE, from linux/nsfs.h: _IO(0xb7, 0x3).
nix::ioctl_none!(ns_get_nstype, 0xb7, 3);

/// Opens a network namespace file (/run/netns/x, /proc/PID/ns/net), checking that
/// it is one: any other file would be accepted by open() and fail later, at setns,
/// halfway through a change. The path is first opened with O_PATH, which opens
/// nothing (a FIFO would block, a device such as /dev/watchdog would act), and only
/// a file of nsfs is then opened for real, through that same descriptor. A file of
/// the wrong kind is an error of kind `InvalidInput`.
pub fn open_netns(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let op = || format!("open network namespace {}", path.display());
    let not = |what: &str| {
        KernelError::io(op(), std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_string()))
    };
    let handle = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| KernelError::io(op(), e))?;
    let fs_type = nix::sys::statfs::fstatfs(&handle).map_err(errno(op()))?.filesystem_type();
    if fs_type != nix::sys::statfs::NSFS_MAGIC {
        return Err(not("not a namespace file"));
    }
    let file =
        File::open(format!("/proc/self/fd/{}", handle.as_raw_fd())).map_err(|e| KernelError::io(op(), e))?;
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor, which
    // `file` keeps open for the duration of the call.
    match unsafe { ns_get_nstype(file.as_raw_fd()) } {
        Ok(kind) if kind == CloneFlags::CLONE_NEWNET.bits() => Ok(file),
        Ok(_) => Err(not("a namespace of another kind")),
        Err(e) => Err(errno(op())(e)),
    }
}

/// Makes /run/netns a shared mount point, as iproute2 does, so that pins made here
/// show in every mount namespace that later copies it.
fn prepare_run_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| KernelError::io(format!("create {}", dir.display()), e))?;
    let flags = MsFlags::MS_SHARED | MsFlags::MS_REC;
    match mount(None::<&str>, dir, Some("none"), flags, None::<&str>) {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) => {
            // Not a mount point yet: bind it onto itself, then share it.
            mount(Some(dir), dir, Some("none"), MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
                .map_err(errno(format!("bind {}", dir.display())))?;
            mount(None::<&str>, dir, Some("none"), flags, None::<&str>)
                .map_err(errno(format!("share {}", dir.display())))
        }
        Err(e) => Err(errno(format!("share {}", dir.display()))(e)),
    }
}

/// Creates a new network namespace pinned at `/run/netns/<name>`, with `lo` left
/// for the caller to bring up. Fails if the pin exists.
pub async fn create_pinned_netns(name: &str) -> Result<PathBuf> {
    let dir = Path::new(NETNS_RUN_DIR);
    prepare_run_dir(dir)?;
    let pin = dir.join(name);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&pin)
        .map_err(|e| KernelError::io(format!("create {}", pin.display()), e))?;
    let target = pin.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(make_and_pin(&target));
    });
    let made = rx.await.unwrap_or_else(|_| {
        Err(KernelError::Other { op: "netns thread".into(), message: "panicked".into() })
    });
    match made {
        Ok(switch) => {
            if let (Some(switch), Some(key)) = (switch, File::open(&pin).ok().and_then(|f| netns_key(&f))) {
                IPV6_SWITCHES.lock().expect("not poisoned").insert(key, switch);
            }
            Ok(pin)
        }
        Err(e) => {
            let _ = fs::remove_file(&pin);
            Err(e)
        }
    }
}

/// The `conf/default/disable_ipv6` of each namespace netctl created (this run of
/// the daemon), open, by the namespace's identity: an endpoint on an IPv6 network
/// turns it off for the moment its veth is made, so that the interface is born
/// with IPv6 and the quiet defaults, with no path under /proc/sys to resolve
/// (sysctl.rs says why that costs). A namespace of another runtime, or one made
/// before a restart or renamed since, has none here and gets its interface's
/// settings written instead.
static IPV6_SWITCHES: LazyLock<Mutex<HashMap<(u64, u64), File>>> = LazyLock::new(Mutex::default);

/// A namespace's identity: nsfs device and inode of a file of it.
fn netns_key(ns: &impl AsFd) -> Option<(u64, u64)> {
    nix::sys::stat::fstat(ns.as_fd()).ok().map(|st| (st.st_dev, st.st_ino))
}

/// Runs `make` (which makes a veth whose peer is born in `ns`) with the namespace's
/// new interfaces getting IPv6, if netctl holds the namespace's switch; true if it
/// did. The switch is turned back (IPv6 off for later interfaces) whatever `make`
/// returned.
pub async fn with_ipv6_born<T>(ns: &impl AsFd, make: impl std::future::Future<Output = T>) -> (T, bool) {
    let Some(key) = netns_key(ns) else { return (make.await, false) };
    let flip = |on: bool| -> bool {
        let mut switches = IPV6_SWITCHES.lock().expect("not poisoned");
        let Some(file) = switches.get(&key) else { return false };
        // At offset 0: a sysctl ignores writes past it (kernel.sysctl_writes_strict).
        let ok = file.write_at(if on { b"0" } else { b"1" }, 0).is_ok_and(|n| n == 1);
        if !ok {
            // A namespace gone, its identity reused: forget it.
            switches.remove(&key);
        }
        ok
    };
    if !flip(true) {
        return (make.await, false);
    }
    let out = make.await;
    if !flip(false) {
        tracing::warn!("cannot turn IPv6 back off for a namespace's next interfaces");
    }
    (out, true)
}

/// On a thread of its own, which it leaves in the new namespace. Returns the
/// namespace's `default/disable_ipv6`, open (None on a kernel without IPv6).
fn make_and_pin(target: &Path) -> Result<Option<File>> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(errno("create network namespace"))?;
    // Interfaces made in the namespace from now on start without IPv6 (lo keeps
    // ::1): an endpoint gets it only on an IPv6 network (endpoint.rs), as Docker
    // does for containers on IPv4-only networks, because each IPv6-enabled port
    // would flood DAD, router solicitations and MLD to every other port. When it
    // does get it, it is quiet (no DAD, router solicitations or autoconfiguration).
    let switch = crate::sysctl::open_dir("/proc/sys/net/ipv6/conf/default").ok().and_then(|dir| {
        let default = "/proc/sys/net/ipv6/conf/default";
        crate::sysctl::write_all_at(&dir, default, &crate::sysctl::QUIET_IPV6).ok()?;
        crate::sysctl::write_all_at(&dir, default, &[("disable_ipv6", "1")]).ok()?;
        crate::sysctl::open_at(&dir, "disable_ipv6").ok()
    });
    mount(Some("/proc/thread-self/ns/net"), target, Some("none"), MsFlags::MS_BIND, None::<&str>)
        .map_err(errno(format!("pin network namespace at {}", target.display())))?;
    Ok(switch)
}

/// Unpins a namespace; it is freed once no process is left in it. Ok if absent.
pub fn remove_pinned_netns(pin: &Path) -> Result<()> {
    if let Some(key) = File::open(pin).ok().and_then(|f| netns_key(&f)) {
        IPV6_SWITCHES.lock().expect("not poisoned").remove(&key);
    }
    match umount2(pin, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(errno(format!("unpin {}", pin.display()))(e)),
    }
    match fs::remove_file(pin) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(KernelError::io(format!("remove {}", pin.display()), e)),
    }
}

impl Netlink {
    /// A netlink connection whose socket lives in the namespace `ns`, driven on
    /// the current tokio runtime like any other.
    pub async fn connect_in(ns: &impl AsFd) -> Result<Self> {
        let runtime = tokio::runtime::Handle::current();
        let (connection, handle) = run_in_netns_async(ns, move || {
            let _entered = runtime.enter();
            let (connection, handle, _) = rtnetlink::new_connection()
                .map_err(|e| KernelError::io("open netlink socket in netns", e))?;
            Ok((connection, handle))
        })
        .await?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }
}
