//! Starts a process inside a container: joins its network namespace and gives it
//! fresh mount and UTS namespaces with the container's /etc files bound over the
//! host's and its hostname set, or joins a running container's namespaces (exec).
//! No netlink here: the CLI uses this too, and the CLI never touches netlink.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

/// A file of the container bound over a host path (e.g. its hosts over /etc/hosts).
#[derive(Debug, Clone)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
}

#[derive(Debug, Clone)]
pub enum Entry {
    /// A container's main process: the network namespace (None: the host's), then
    /// new mount and UTS namespaces with `binds` mounted and `hostname` set.
    New { netns: Option<PathBuf>, hostname: String, binds: Vec<Bind> },
    /// Another process in a running container: joins `pid`'s network, UTS and
    /// mount namespaces.
    Join { pid: u32 },
    /// Only a network namespace (containers of other runtimes).
    JoinNetns { netns: PathBuf },
}

#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub cmd: Vec<String>,
    /// The whole environment, `KEY=VALUE`.
    pub env: Vec<String>,
    pub workdir: Option<PathBuf>,
    pub entry: Entry,
    /// The container's cgroup (a directory of the cgroup v2 hierarchy): the
    /// process joins it before anything else, so every process it starts is the
    /// container's too, and stop, kill and rm reach them all.
    pub cgroup: Option<PathBuf>,
}

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path with NUL"))
}

fn open_ns(path: &Path) -> io::Result<File> {
    File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open namespace {}: {e}", path.display())))
}

/// A `Command` that enters the container between fork and exec. The caller sets
/// stdio and spawns it. Everything the child needs is opened and allocated here,
/// before the fork: the child may only make system calls.
pub fn command(spec: &ProcessSpec) -> io::Result<Command> {
    let program =
        spec.cmd.first().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no command given"))?;
    let mut cmd = Command::new(program);
    cmd.args(&spec.cmd[1..]);
    cmd.env_clear();
    for kv in &spec.env {
        match kv.split_once('=') {
            Some((k, v)) => cmd.env(k, v),
            None => cmd.env(kv, ""),
        };
    }
    let workdir = cstr(spec.workdir.as_deref().unwrap_or(Path::new("/")))?;
    if let Some(dir) = &spec.cgroup {
        let procs = std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs")).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot join the container's cgroup {}: {e}", dir.display()))
        })?;
        // SAFETY: the closure runs between fork and exec and only calls write(2)
        // on a descriptor opened above; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                // "0" moves the writing process itself.
                if libc::write(std::os::fd::AsRawFd::as_raw_fd(&procs), b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    match &spec.entry {
        Entry::New { netns, hostname, binds } => {
            let netns = netns.as_deref().map(open_ns).transpose()?;
            let binds: Vec<(CString, CString)> = binds
                .iter()
                .filter(|b| b.target.exists())
                .map(|b| Ok((cstr(&b.source)?, cstr(&b.target)?)))
                .collect::<io::Result<_>>()?;
            let hostname = hostname.clone();
            unsafe {
                cmd.pre_exec(move || {
                    if let Some(ns) = &netns {
                        setns(ns, CloneFlags::CLONE_NEWNET)?;
                    }
                    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)?;
                    // Our binds must not leak back into the host's mount namespace.
                    mount(
                        None::<&str>,
                        "/",
                        None::<&str>,
                        MsFlags::MS_REC | MsFlags::MS_SLAVE,
                        None::<&str>,
                    )?;
                    for (source, target) in &binds {
                        mount(
                            Some(source.as_c_str()),
                            target.as_c_str(),
                            None::<&str>,
                            MsFlags::MS_BIND,
                            None::<&str>,
                        )?;
                    }
                    // A sysfs of the container's own network namespace, read-only as
                    // in Docker: /sys/class/net lists its interfaces, not the host's.
                    if netns.is_some() {
                        mount(
                            Some("sysfs"),
                            "/sys",
                            Some("sysfs"),
                            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                            None::<&str>,
                        )?;
                    }
                    nix::unistd::sethostname(&hostname)?;
                    nix::unistd::chdir(workdir.as_c_str())?;
                    Ok(())
                });
            }
        }
        Entry::Join { pid } => {
            let base = PathBuf::from(format!("/proc/{pid}/ns"));
            let net = open_ns(&base.join("net"))?;
            let uts = open_ns(&base.join("uts"))?;
            let mnt = open_ns(&base.join("mnt"))?;
            unsafe {
                cmd.pre_exec(move || {
                    setns(&net, CloneFlags::CLONE_NEWNET)?;
                    setns(&uts, CloneFlags::CLONE_NEWUTS)?;
                    setns(&mnt, CloneFlags::CLONE_NEWNS)?;
                    nix::unistd::chdir(workdir.as_c_str())?;
                    Ok(())
                });
            }
        }
        Entry::JoinNetns { netns } => {
            let net = open_ns(netns)?;
            unsafe {
                cmd.pre_exec(move || {
                    setns(&net, CloneFlags::CLONE_NEWNET)?;
                    nix::unistd::chdir(workdir.as_c_str())?;
                    Ok(())
                });
            }
        }
    }
    Ok(cmd)
}

/// Docker's exit status for a process killed by a signal: 128 + the signal.
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Docker's exit status when the command could not be started: 127 when it was
/// not found, 126 when it could not be executed.
pub fn spawn_error_code(err: &io::Error) -> i32 {
    match err.kind() {
        io::ErrorKind::NotFound => 127,
        _ => 126,
    }
}
