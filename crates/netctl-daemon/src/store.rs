//! Persistent state: one JSON file per object under `<data-root>/<kind>/<id>.json`,
//! each replaced atomically (temp file, fsync, rename, fsync of the directory), so
//! a crash leaves either the old or the new version, never a torn one.
//!
//! State holds what users put in containers' environments (`-e SECRET=…`), so it is
//! root's alone: directories 0700, files 0600, made so from the start (not through
//! the umask) and tightened at every start, however they came to exist.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("state file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("state file {path} is corrupt: {source}")]
    Corrupt { path: PathBuf, source: serde_json::Error },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// A directory of objects of one kind.
#[derive(Debug, Clone)]
pub struct Collection {
    dir: PathBuf,
}

impl Collection {
    pub fn open(root: &Path, kind: &str) -> Result<Self, StoreError> {
        let dir = root.join(kind);
        create_private_dir(&dir).map_err(io_err(&dir))?;
        Ok(Self { dir })
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    pub fn save<T: Serialize>(&self, id: &str, value: &T) -> Result<(), StoreError> {
        let path = self.path_of(id);
        let tmp = self.dir.join(format!(".{id}.json.tmp"));
        let text = serde_json::to_vec_pretty(value).expect("state types always serialize");
        let write = || -> std::io::Result<()> {
            let mut f = create_private(&tmp, true)?;
            f.write_all(&text)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        };
        write().map_err(io_err(&path))
    }

    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        let path = self.path_of(id);
        match fs::remove_file(&path) {
            Ok(()) => File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io_err(&self.dir)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Every object, with leftovers of interrupted writes removed. A file that
    /// does not parse is an error: dropping it silently would lose a network.
    pub fn load_all<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let entries = fs::read_dir(&self.dir).map_err(io_err(&self.dir))?;
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let text = fs::read(&path).map_err(io_err(&path))?;
            let value = serde_json::from_slice(&text)
                .map_err(|source| StoreError::Corrupt { path: path.clone(), source })?;
            out.push(value);
        }
        Ok(out)
    }
}

/// Mode of state directories.
pub const DIR_MODE: u32 = 0o700;
/// Mode of state files.
pub const FILE_MODE: u32 = 0o600;
/// Files the container itself reads (bind-mounted as its /etc/hosts,
/// /etc/resolv.conf, /etc/hostname), by any of its users: they stay 0644, in
/// directories of mode 0700 (a bind mount does not pass through its source's
/// directories). Nothing secret is in them.
pub const CONTAINER_READABLE: [&str; 3] = ["hosts", "resolv.conf", "hostname"];
const CONTAINER_READABLE_MODE: u32 = 0o644;

/// Creates `dir` and its missing parents with mode 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Opens `path` for writing (truncated, or appended to), created with mode 0600.
/// A file that exists keeps its mode: `tighten_permissions` fixes those at start.
pub fn create_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).mode(FILE_MODE);
    if truncate {
        o.truncate(true);
    } else {
        o.append(true);
    }
    o.open(path)
}

/// Writes a whole file created with mode 0600 (process specs, exit codes).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    create_private(path, true)?.write_all(bytes)
}

/// Makes `root` and everything below it root's alone: directories 0700, regular
/// files 0600 (the files of `CONTAINER_READABLE` 0644). Meant for the data and exec
/// roots at every start, before anything is read: a directory made earlier by
/// someone else (a package, `mkdir -p`, an older netctl, a tmpfs at 1777) must not
/// leave a container's environment readable by every user. Symlinks, sockets and
/// other filesystems below (mount points) are left alone. Returns how many
/// entries were changed.
pub fn tighten_permissions(root: &Path) -> std::io::Result<usize> {
    let meta = fs::symlink_metadata(root)?;
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a directory", root.display()),
        ));
    }
    let mut changed = 0;
    tighten(root, &meta, meta.dev(), &mut changed)?;
    Ok(changed)
}

fn tighten(path: &Path, meta: &fs::Metadata, dev: u64, changed: &mut usize) -> std::io::Result<()> {
    let want = if meta.is_dir() {
        DIR_MODE
    } else if meta.is_file() {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if CONTAINER_READABLE.contains(&name) {
            CONTAINER_READABLE_MODE
        } else {
            FILE_MODE
        }
    } else {
        return Ok(());
    };
    if meta.mode() & 0o7777 != want {
        fs::set_permissions(path, fs::Permissions::from_mode(want))?;
        *changed += 1;
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            let child = entry.path();
            let m = match fs::symlink_metadata(&child) {
                Ok(m) => m,
                // Removed meanwhile (a shim's exit file, say): nothing to tighten.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if m.dev() == dev {
                tighten(&child, &m, dev, changed)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use netctl_model::api::NetworkCreateRequest;
    use netctl_model::network::{Network, NetworkSpec};

    fn network(name: &str) -> Network {
        let req = NetworkCreateRequest { name: name.into(), ..Default::default() };
        let mut spec = NetworkSpec::from_request(&req).unwrap();
        spec.subnets.push(netctl_model::SubnetConfig {
            subnet: "172.18.0.0/16".parse().unwrap(),
            gateway: "172.18.0.1".parse().unwrap(),
            ip_range: None,
            aux_addresses: Default::default(),
            automatic: false,
        });
        spec.into_network(netctl_model::id::new_id(), Utc::now(), 1500)
    }

    #[test]
    fn save_load_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let c = Collection::open(dir.path(), "networks").unwrap();
        let a = network("a");
        let b = network("b");
        c.save(&a.id, &a).unwrap();
        c.save(&b.id, &b).unwrap();
        let mut loaded: Vec<Network> = c.load_all().unwrap();
        loaded.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(loaded, vec![a.clone(), b.clone()]);
        c.remove(&a.id).unwrap();
        c.remove(&a.id).unwrap();
        let loaded: Vec<Network> = c.load_all().unwrap();
        assert_eq!(loaded, vec![b]);
    }

    #[test]
    fn overwrite_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = Collection::open(dir.path(), "networks").unwrap();
        let mut a = network("a");
        c.save(&a.id, &a).unwrap();
        a.labels.insert("k".into(), "v".into());
        c.save(&a.id, &a).unwrap();
        let loaded: Vec<Network> = c.load_all().unwrap();
        assert_eq!(loaded, vec![a]);
    }

    #[test]
    fn leftover_temp_files_are_dropped_and_corrupt_files_reported() {
        let dir = tempfile::tempdir().unwrap();
        let c = Collection::open(dir.path(), "networks").unwrap();
        fs::write(c.dir().join(".abc.json.tmp"), b"{half").unwrap();
        let loaded: Vec<Network> = c.load_all().unwrap();
        assert!(loaded.is_empty());
        assert!(!c.dir().join(".abc.json.tmp").exists());
        fs::write(c.dir().join("abc.json"), b"{half").unwrap();
        let err = c.load_all::<Network>().unwrap_err().to_string();
        assert!(err.contains("abc.json") && err.contains("corrupt"), "{err}");
    }

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn new_state_is_private_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let c = Collection::open(&dir.path().join("deep/er"), "networks").unwrap();
        let a = network("a");
        c.save(&a.id, &a).unwrap();
        assert_eq!(mode(c.dir()), 0o700);
        assert_eq!(mode(&dir.path().join("deep")), 0o700);
        assert_eq!(mode(&c.path_of(&a.id)), 0o600);
        let log = dir.path().join("x.log");
        create_private(&log, false).unwrap().write_all(b"a").unwrap();
        create_private(&log, false).unwrap().write_all(b"b").unwrap();
        assert_eq!(fs::read(&log).unwrap(), b"ab");
        assert_eq!(mode(&log), 0o600);
    }

    #[test]
    fn tightening_fixes_what_was_made_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let sandbox = root.join("containers/abc");
        fs::create_dir_all(&sandbox).unwrap();
        for (p, m) in [(&root, 0o1777), (&root.join("containers"), 0o755), (&sandbox, 0o755)] {
            fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        }
        for name in ["process.json", "hosts", "resolv.conf"] {
            fs::write(sandbox.join(name), "x").unwrap();
            fs::set_permissions(sandbox.join(name), fs::Permissions::from_mode(0o666)).unwrap();
        }
        std::os::unix::fs::symlink("/etc/passwd", sandbox.join("link")).unwrap();
        let passwd = mode(Path::new("/etc/passwd"));
        assert_eq!(tighten_permissions(&root).unwrap(), 6);
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("containers")), 0o700);
        assert_eq!(mode(&sandbox), 0o700);
        assert_eq!(mode(&sandbox.join("process.json")), 0o600);
        assert_eq!(mode(&sandbox.join("hosts")), 0o644);
        assert_eq!(mode(Path::new("/etc/passwd")), passwd, "symlinks are not followed");
        assert_eq!(tighten_permissions(&root).unwrap(), 0, "nothing left to change");
    }
}
