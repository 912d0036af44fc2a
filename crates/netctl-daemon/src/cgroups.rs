//! A cgroup per container, so that "the container's processes" means every process
//! it started, however it forked, as in Docker. The container's processes live in
//! `<cgroup2>/netctl/<id>/container`, its shim in `<id>/supervisor`; stop, kill
//! and rm reach the whole group (cgroup.kill), and reconcile finds the processes of
//! a container the registry does not own (a change cut short by a crash) by the
//! directory alone. The cgroup v2 hierarchy is used for tracking only: no
//! controllers are enabled, so it works on hybrid hosts (cgroup2 at
//! /sys/fs/cgroup/unified) as on pure v2 ones.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Leaf of a container's processes.
pub const CONTAINER_LEAF: &str = "container";
/// Leaf of the shim that supervises a detached container's process.
pub const SUPERVISOR_LEAF: &str = "supervisor";

#[derive(Debug, Clone)]
pub struct Cgroups {
    /// `<cgroup2 mount>/<parent>`; None where no cgroup2 is mounted.
    root: Option<PathBuf>,
}

impl Cgroups {
    /// Finds the cgroup2 mount and makes `<mount>/<parent>`.
    pub fn open(parent: &str) -> Self {
        let Some(mount) = cgroup2_mount() else {
            tracing::warn!("no cgroup2 hierarchy mounted: a container's stray processes cannot be tracked");
            return Self { root: None };
        };
        let root = mount.join(parent.trim_matches('/'));
        if let Err(e) = fs::create_dir_all(&root) {
            tracing::warn!(path = %root.display(), error = %e, "cannot create netctl's cgroup");
            return Self { root: None };
        }
        Self { root: Some(root) }
    }

    pub fn available(&self) -> bool {
        self.root.is_some()
    }

    fn dir(&self, id: &str) -> Option<PathBuf> {
        self.root.as_ref().map(|r| r.join(id))
    }

    /// The leaf a process of the container joins (`cgroup.procs` in it).
    pub fn leaf(&self, id: &str, leaf: &str) -> Option<PathBuf> {
        self.dir(id).map(|d| d.join(leaf))
    }

    /// Makes the container's cgroup with both leaves; returns the container leaf.
    pub fn create(&self, id: &str) -> std::io::Result<Option<PathBuf>> {
        let Some(dir) = self.dir(id) else { return Ok(None) };
        for leaf in [CONTAINER_LEAF, SUPERVISOR_LEAF] {
            fs::create_dir_all(dir.join(leaf))?;
        }
        Ok(Some(dir.join(CONTAINER_LEAF)))
    }

    /// Ids of every container cgroup that exists.
    pub fn list(&self) -> Vec<String> {
        let Some(root) = &self.root else { return Vec::new() };
        let Ok(entries) = fs::read_dir(root) else { return Vec::new() };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect()
    }

    /// Pids in one leaf (or the whole container with `leaf` None).
    pub fn pids(&self, id: &str, leaf: Option<&str>) -> Vec<u32> {
        let Some(dir) = self.dir(id) else { return Vec::new() };
        let leaves: Vec<PathBuf> = match leaf {
            Some(l) => vec![dir.join(l)],
            None => vec![dir.clone(), dir.join(CONTAINER_LEAF), dir.join(SUPERVISOR_LEAF)],
        };
        leaves.iter().flat_map(|l| read_pids(&l.join("cgroup.procs"))).collect()
    }

    /// True if `pid` is in the container's cgroup (any leaf).
    pub fn contains(&self, id: &str, pid: u32) -> bool {
        let (Some(root), Ok(text)) = (&self.root, fs::read_to_string(format!("/proc/{pid}/cgroup"))) else {
            return false;
        };
        let Some(path) = text.lines().find_map(|l| l.strip_prefix("0::")) else { return false };
        // The path is relative to the reader's cgroup namespace, the mount to the
        // mounter's: compare the part that is netctl's own.
        let parent = root.file_name().map(Path::new).unwrap_or(Path::new(""));
        let path = Path::new(path.trim());
        [None, Some(CONTAINER_LEAF), Some(SUPERVISOR_LEAF)].iter().any(|leaf| {
            let mut want = parent.join(id);
            if let Some(l) = leaf {
                want.push(l);
            }
            path.ends_with(&want)
        })
    }

    /// Kills every process of the container (or of one leaf) and waits until the
    /// cgroup is empty, at most `timeout`. True if it is.
    pub async fn kill(&self, id: &str, leaf: Option<&str>, timeout: Duration) -> bool {
        let Some(dir) = self.dir(id) else { return true };
        let target = match leaf {
            Some(l) => dir.join(l),
            None => dir,
        };
        if !target.exists() {
            return true;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let pids = self.pids(id, leaf);
            if pids.is_empty() {
                return true;
            }
            // cgroup.kill (Linux 5.14) kills the subtree atomically, forks included;
            // without it, signal each pid until none is left.
            if fs::OpenOptions::new()
                .write(true)
                .open(target.join("cgroup.kill"))
                .and_then(|mut f| f.write_all(b"1"))
                .is_err()
            {
                for pid in pids {
                    // SAFETY: kill(2) with a pid read from this cgroup's procs
                    // file; it has no memory effects on this process.
                    unsafe {
                        libc::kill(pid as i32, libc::SIGKILL);
                    }
                }
            }
            if Instant::now() >= deadline {
                return self.pids(id, leaf).is_empty();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Removes the container's cgroup (its processes must be gone). Ok if absent.
    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        let Some(dir) = self.dir(id) else { return Ok(()) };
        for leaf in [CONTAINER_LEAF, SUPERVISOR_LEAF] {
            rmdir(&dir.join(leaf))?;
        }
        rmdir(&dir)
    }
}

fn rmdir(path: &Path) -> std::io::Result<()> {
    match fs::remove_dir(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn read_pids(path: &Path) -> Vec<u32> {
    fs::read_to_string(path)
        .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or
/// /sys/fs/cgroup/unified on hybrid hosts).
pub fn cgroup2_mount() -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        left.split_whitespace().nth(4).map(PathBuf::from)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_where_there_is_one() {
        if let Some(m) = cgroup2_mount() {
            assert!(m.join("cgroup.procs").exists(), "{}", m.display());
        }
    }
}
