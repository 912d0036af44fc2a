//! Persistent state: one JSON file per object under `<data-root>/<kind>/<id>.json`,
//! each replaced atomically (temp file, fsync, rename, fsync of the directory), so
//! a crash leaves either the old or the new version, never a torn one.

use std::fs::{self, File};
use std::io::Write;
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
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
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
            let mut f = File::create(&tmp)?;
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
}
