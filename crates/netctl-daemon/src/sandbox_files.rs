//! The files a container sees as /etc/hosts, /etc/resolv.conf and /etc/hostname.
//! They are bind-mounted into the container, so every update rewrites the same
//! inode in place (truncate and write): a rename would leave the mount on the old file.
//! Their directory, with the container's process spec, is root's alone (0700); the
//! three files are 0644, as every user inside the container must read them.
//!
//! A user may edit them from inside, and the edit survives later changes (connect,
//! disconnect, links, a daemon restart), as in Docker:
//! - resolv.conf: `resolv.conf.hash` holds the digest of what netctl wrote (Docker's
//!   `sha256:…` format and file name); a file that no longer matches is the user's
//!   and is left alone from then on.
//! - hosts: `hosts.written` holds what netctl wrote. An unchanged file is replaced;
//!   an edited one keeps the user's lines, loses netctl's lines that are no longer
//!   wanted and gains the new ones (what Docker's etchosts Add/Delete do, by line).
//!
//! Both survive a crash between their steps: what is about to be written is
//! recorded first (`resolv.conf.hash` lists both digests meanwhile, `hosts.next`
//! the coming text), so a file left in either state is still recognised as ours.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use netctl_model::container::{Container, NetworkMode};
use sha2::{Digest, Sha256};

/// Where `ip netns exec NAME` looks for a namespace's own /etc files.
pub const ETC_NETNS: &str = "/etc/netns";

#[derive(Debug, Clone)]
pub struct SandboxFiles {
    pub dir: PathBuf,
}

impl SandboxFiles {
    pub fn new(exec_root: &Path, container_id: &str) -> Self {
        Self { dir: exec_root.join("containers").join(container_id) }
    }
    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }
    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }
    pub fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }

    /// Digests of the resolv.conf netctl wrote (one; two while a write is under way).
    pub fn resolv_conf_hash(&self) -> PathBuf {
        self.dir.join("resolv.conf.hash")
    }
    /// The hosts file as netctl last wrote it, before any edit of the user's.
    pub fn hosts_written(&self) -> PathBuf {
        self.dir.join("hosts.written")
    }
    /// The hosts file netctl is writing, while it writes it.
    fn hosts_next(&self) -> PathBuf {
        self.dir.join("hosts.next")
    }

    /// Writes all three files, and the copies `ip netns exec` uses.
    pub fn write_all(&self, c: &Container, resolv_conf: &str, hosts: &str) -> std::io::Result<()> {
        crate::store::create_private_dir(&self.dir)?;
        if c.netns_path.is_some() {
            fs::create_dir_all(Path::new(ETC_NETNS).join(&c.name))?;
        }
        write_in_place(&self.hostname(), &format!("{}\n", c.hostname))?;
        self.write_hosts(c, hosts)?;
        self.write_resolv_conf(c, resolv_conf)
    }

    /// Puts `text` in the container's hosts file, keeping what the user changed
    /// there (see the module's header).
    pub fn write_hosts(&self, c: &Container, text: &str) -> std::io::Result<()> {
        let out = self.put_hosts(text)?;
        self.mirror(c, "hosts", &out)
    }

    /// `write_hosts` short of the copy for `ip netns exec`; what the file now says.
    fn put_hosts(&self, text: &str) -> std::io::Result<String> {
        let path = self.hosts();
        let current = read_text(&path);
        let next = read_text(&self.hosts_next());
        // A write cut short left the file as it was, truncated, or written.
        let cut_short = next.is_some();
        let mut bases: Vec<String> = read_text(&self.hosts_written()).into_iter().chain(next).collect();
        let out = match &current {
            Some(cur) if !(bases.is_empty() || bases.contains(cur) || cut_short && cur.is_empty()) => {
                bases.dedup();
                merge_hosts(cur, &bases, text)
            }
            _ => text.to_string(),
        };
        if current.as_deref() != Some(out.as_str())
            || read_text(&self.hosts_written()).as_deref() != Some(text)
        {
            replace_private(&self.hosts_next(), text.as_bytes())?;
            write_in_place(&path, &out)?;
            fs::rename(self.hosts_next(), self.hosts_written())?;
        }
        Ok(out)
    }

    /// Puts `text` in the container's resolv.conf unless the user changed the file
    /// since netctl last wrote it (then it is theirs, as in Docker).
    pub fn write_resolv_conf(&self, c: &Container, text: &str) -> std::io::Result<()> {
        let out = self.put_resolv_conf(text)?;
        self.mirror(c, "resolv.conf", &out)
    }

    /// `write_resolv_conf` short of the copy for `ip netns exec`; what the file now says.
    fn put_resolv_conf(&self, text: &str) -> std::io::Result<String> {
        let path = self.resolv_conf();
        let current = fs::read(&path).ok();
        let ours = read_text(&self.resolv_conf_hash()).unwrap_or_default();
        let ours: Vec<&str> = ours.lines().filter(|l| !l.is_empty()).collect();
        let wanted = digest(text.as_bytes());
        if let Some(cur) = &current {
            if !ours.is_empty() && !ours.contains(&digest(cur).as_str()) {
                tracing::debug!(file = %path.display(), "edited in the container: left alone");
                return Ok(String::from_utf8_lossy(cur).into_owned());
            }
            if cur == text.as_bytes() && ours == [wanted.as_str()] {
                return Ok(text.to_string());
            }
        }
        // Meanwhile any of the three states the file can be left in is ours:
        // as it was, truncated, or written.
        let old = current.as_deref().map(digest);
        let during: Vec<String> = old.into_iter().chain([digest(b""), wanted.clone()]).collect();
        replace_private(&self.resolv_conf_hash(), format!("{}\n", during.join("\n")).as_bytes())?;
        write_in_place(&path, text)?;
        replace_private(&self.resolv_conf_hash(), format!("{wanted}\n").as_bytes())?;
        Ok(text.to_string())
    }

    /// The copy `ip netns exec NAME` sees of the container's file `name`.
    fn mirror(&self, c: &Container, name: &str, text: &str) -> std::io::Result<()> {
        if c.netns_path.is_some() {
            let etc = Path::new(ETC_NETNS).join(&c.name);
            if etc.is_dir() {
                write_in_place(&etc.join(name), text)?;
            }
        }
        Ok(())
    }

    pub fn remove(&self, container_name: &str) {
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_dir_all(Path::new(ETC_NETNS).join(container_name));
    }
}

/// Rewrites the file in place, unless it already says `text` (at start, every
/// container's files are checked; a write with its fsync would cost each one ~0.5 ms).
fn write_in_place(path: &Path, text: &str) -> std::io::Result<()> {
    if fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(());
    }
    let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o644).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_data()
}

fn read_text(path: &Path) -> Option<String> {
    fs::read(path).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Docker's digest format: `sha256:` and the hex of the SHA-256.
fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Replaces a file of root's (0600) by rename: never half written.
fn replace_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    crate::store::write_private(&tmp, bytes)?;
    fs::rename(&tmp, path)
}

/// The user's edited hosts file `current` after netctl's lines changed from what
/// it wrote (`bases`: one text, or two if a write was cut short) to `wanted`:
/// every line of the user's stays where it is; netctl's lines that are no longer
/// wanted go; wanted lines it did not write before are appended (a wanted line the
/// user deleted stays deleted).
fn merge_hosts(current: &str, bases: &[String], wanted: &str) -> String {
    let wanted_lines: Vec<&str> = wanted.lines().collect();
    let in_any = |l: &str| bases.iter().any(|b| b.lines().any(|x| x == l));
    let in_all = |l: &str| bases.iter().all(|b| b.lines().any(|x| x == l));
    let mut out: Vec<&str> = current.lines().filter(|l| !in_any(l) || wanted_lines.contains(l)).collect();
    for l in &wanted_lines {
        if !in_all(l) && !out.contains(l) {
            out.push(l);
        }
    }
    let mut text = out.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    text
}

/// The container's /etc/hosts. With `--net host`, a copy of the host's own
/// /etc/hosts (as Docker makes it: the container shares the host's names as it
/// shares its network). Else Docker's layout: localhost lines, the links' lines,
/// then one line per address of the container with its hostname.
pub fn hosts_file(c: &Container, links: &str) -> String {
    if c.network_mode == NetworkMode::Host {
        return fs::read_to_string("/etc/hosts").unwrap_or_default();
    }
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    out.push_str(links);
    // `h1.example.org h1` for a hostname with a domain, as Docker writes it.
    let names = match c.hostname.split_once('.') {
        Some((short, _)) if !short.is_empty() => format!("{} {short}", c.hostname),
        _ => c.hostname.clone(),
    };
    for ep in &c.endpoints {
        for addr in ep.ipv4.iter().chain(ep.ipv6.iter()) {
            out.push_str(&format!("{}\t{names}\n", addr.ip()));
        }
    }
    out
}

/// The host's resolv.conf as a container on the default network gets it: loopback
/// nameservers dropped (they mean nothing in another namespace), as Docker does.
/// A host on systemd-resolved (127.0.0.53) is read through its real upstream file.
pub fn host_resolv_conf() -> String {
    filter_loopback(&host_resolv_conf_raw())
}

/// The host's resolv.conf, or systemd-resolved's file of real servers when the
/// host's only names the local stub (127.0.0.53), as Docker reads it.
pub fn host_resolv_conf_raw() -> String {
    let text = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let servers = nameservers(&text);
    if !servers.is_empty() && servers.iter().all(IpAddr::is_loopback) {
        if let Ok(real) = fs::read_to_string("/run/systemd/resolve/resolv.conf") {
            return real;
        }
    }
    text
}

pub fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "nameserver").then(|| w.next()?.split('%').next()?.parse().ok())?
        })
        .collect()
}

fn filter_loopback(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut w = line.split_whitespace();
        let is_loopback_ns = w.next() == Some("nameserver")
            && w.next()
                .and_then(|a| a.split('%').next()?.parse::<IpAddr>().ok())
                .is_some_and(|ip| ip.is_loopback());
        if !is_loopback_ns {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINE: &str = "127.0.0.1\tlocalhost\n172.18.0.2\tweb\n";

    fn files() -> (tempfile::TempDir, SandboxFiles) {
        let tmp = tempfile::tempdir().unwrap();
        let files = SandboxFiles { dir: tmp.path().to_path_buf() };
        (tmp, files)
    }

    #[test]
    fn an_edited_resolv_conf_is_left_alone_from_then_on() {
        let (_tmp, f) = files();
        assert_eq!(f.put_resolv_conf("nameserver 10.0.0.1\n").unwrap(), "nameserver 10.0.0.1\n");
        let hash = fs::read_to_string(f.resolv_conf_hash()).unwrap();
        assert!(hash.starts_with("sha256:") && hash.lines().count() == 1, "{hash}");
        // Unedited: rewritten.
        assert_eq!(f.put_resolv_conf("nameserver 127.0.0.11\n").unwrap(), "nameserver 127.0.0.11\n");
        fs::write(f.resolv_conf(), "nameserver 9.9.9.9\n").unwrap();
        for next in ["nameserver 10.0.0.1\n", "nameserver 127.0.0.11\n"] {
            assert_eq!(f.put_resolv_conf(next).unwrap(), "nameserver 9.9.9.9\n");
            assert_eq!(fs::read_to_string(f.resolv_conf()).unwrap(), "nameserver 9.9.9.9\n");
        }
        // Edited back to exactly what netctl wrote last: ours again.
        fs::write(f.resolv_conf(), "nameserver 127.0.0.11\n").unwrap();
        assert_eq!(f.put_resolv_conf("nameserver 10.0.0.1\n").unwrap(), "nameserver 10.0.0.1\n");
    }

    /// A write cut short (the daemon killed between its steps) leaves the file as
    /// it was, truncated, or written, and each is still netctl's to rewrite.
    #[test]
    fn a_resolv_conf_write_cut_short_is_still_ours() {
        for left in ["nameserver 10.0.0.1\n", "", "nameserver 127.0.0.11\n"] {
            let (_tmp, f) = files();
            f.put_resolv_conf("nameserver 10.0.0.1\n").unwrap();
            let during = [digest(b"nameserver 10.0.0.1\n"), digest(b""), digest(b"nameserver 127.0.0.11\n")];
            fs::write(f.resolv_conf_hash(), during.join("\n")).unwrap();
            fs::write(f.resolv_conf(), left).unwrap();
            assert_eq!(f.put_resolv_conf("search x\n").unwrap(), "search x\n", "left {left:?}");
        }
    }

    #[test]
    fn an_edited_hosts_file_keeps_the_users_lines_and_follows_netctls() {
        let (_tmp, f) = files();
        f.put_hosts(MINE).unwrap();
        assert_eq!(fs::read_to_string(f.hosts_written()).unwrap(), MINE);
        assert!(!f.hosts_next().exists());
        // The user adds a line and deletes netctl's localhost line.
        fs::write(f.hosts(), "172.18.0.2\tweb\n10.1.2.3\tnas\n").unwrap();
        // Connected to a second network: its line comes, the user's stays, the
        // deleted line stays deleted.
        let two = format!("{MINE}172.19.0.2\tweb\n");
        assert_eq!(f.put_hosts(&two).unwrap(), "172.18.0.2\tweb\n10.1.2.3\tnas\n172.19.0.2\tweb\n");
        // Disconnected from the first: its line goes.
        let second_only = "127.0.0.1\tlocalhost\n172.19.0.2\tweb\n";
        assert_eq!(f.put_hosts(second_only).unwrap(), "10.1.2.3\tnas\n172.19.0.2\tweb\n");
        assert_eq!(fs::read_to_string(f.hosts()).unwrap(), "10.1.2.3\tnas\n172.19.0.2\tweb\n");
        assert_eq!(fs::read_to_string(f.hosts_written()).unwrap(), second_only);
        // Nothing changed: nothing written, the same answer.
        assert_eq!(f.put_hosts(second_only).unwrap(), "10.1.2.3\tnas\n172.19.0.2\tweb\n");
    }

    #[test]
    fn an_unedited_hosts_file_is_replaced_and_a_write_cut_short_is_ours() {
        let (_tmp, f) = files();
        f.put_hosts(MINE).unwrap();
        assert_eq!(f.put_hosts("127.0.0.1\tlocalhost\n").unwrap(), "127.0.0.1\tlocalhost\n");
        // Killed after recording the next text, with the file in each state it can be left in.
        let next = format!("{MINE}172.19.0.2\tweb\n");
        for left in ["127.0.0.1\tlocalhost\n", "", next.as_str()] {
            fs::write(f.hosts_next(), &next).unwrap();
            fs::write(f.hosts(), left).unwrap();
            assert_eq!(f.put_hosts(MINE).unwrap(), MINE, "left {left:?}");
            assert!(!f.hosts_next().exists());
            f.put_hosts("127.0.0.1\tlocalhost\n").unwrap();
        }
    }

    #[test]
    fn loopback_nameservers_are_dropped() {
        let text =
            "search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\noptions edns0\n";
        assert_eq!(filter_loopback(text), "search example.org\nnameserver 10.0.0.2\noptions edns0\n");
        assert_eq!(nameservers(text).len(), 3);
    }
}
