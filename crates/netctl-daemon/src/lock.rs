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
        let mut lock = match lock_unless_alive(file) {
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

/// How long a lock whose daemon is gone may stay held: a child the dead daemon
/// forked holds its descriptors until it execs (the shim's child first joins its
/// cgroup, which can take a while on a busy host), and the lock goes with them.
const DEAD_HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes the lock; if it is held while the pid written in it is no process, waits
/// for it a little instead of failing (a daemon killed a moment ago).
fn lock_unless_alive(file: File) -> Result<Flock<File>, (File, Errno)> {
    let deadline = std::time::Instant::now() + DEAD_HOLDER_WAIT;
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Err((f, Errno::EWOULDBLOCK)) if std::time::Instant::now() < deadline && !holder_alive(&f) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                file = f;
            }
            other => return other,
        }
    }
}

fn holder_alive(file: &File) -> bool {
    let mut text = String::new();
    let mut reader = file;
    let _ = reader.rewind();
    let _ = reader.read_to_string(&mut text);
    let _ = reader.rewind();
    match text.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) != Err(Errno::ESRCH)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held_by(dir: &Path, pid: u32) -> Flock<File> {
        let path = dir.join("netctld.lock");
        std::fs::write(&path, format!("{pid}\n")).unwrap();
        let other = OpenOptions::new().read(true).write(true).open(&path).unwrap();
        Flock::lock(other, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e).unwrap()
    }

    #[test]
    fn a_live_holder_is_refused_at_once_and_a_dead_ones_lock_is_waited_for() {
        let dir = std::env::temp_dir().join(format!("netctl-lock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A live daemon (this process's pid): refused, naming it, without waiting.
        let held = held_by(&dir, std::process::id());
        let start = std::time::Instant::now();
        let err = DirLock::acquire(&dir).err().expect("refused").to_string();
        assert!(err.contains(&format!("(pid {})", std::process::id())), "{err}");
        assert!(start.elapsed() < std::time::Duration::from_millis(500));
        drop(held);
        // A dead daemon's lock, still held a moment by what it forked: taken once freed.
        let dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        let _ = { dead }.wait();
        let held = held_by(&dir, dead_pid);
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(held);
        });
        DirLock::acquire(&dir).expect("taken after the dead holder's child let go");
        release.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
