//! One daemon per state directory: an exclusive flock held for the daemon's life.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

use anyhow::{bail, Context};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

pub struct DirLock {
    _lock: Flock<File>,
}

impl DirLock {
    /// Takes `dir/netctld.lock`, writing our pid into it. Fails at once, naming the
    /// holder's pid, if another daemon holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("netctld.lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() { String::new() } else { format!(" (pid {holder})") };
                bail!(
                    "another netctld is already running with {}{who}: only one daemon may use a state directory",
                    dir.display()
                );
            }
            Err((_, errno)) => bail!("cannot lock {}: {errno}", path.display()),
        };
        lock.set_len(0)?;
        lock.rewind()?;
        writeln!(lock, "{}", std::process::id())?;
        lock.sync_all()?;
        Ok(Self { _lock: lock })
    }
}
