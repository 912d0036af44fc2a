//! The files a container sees as /etc/hosts, /etc/resolv.conf and /etc/hostname.
//! They are bind-mounted into the container, so every update rewrites the same
//! inode in place (truncate and write): a rename would leave the mount on the old file.
//! Their directory, with the container's process spec, is root's alone (0700); the
//! three files are 0644, as every user inside the container must read them.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use netctl_model::container::Container;

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

    /// Writes all three files, and the copies `ip netns exec` uses.
    pub fn write_all(&self, c: &Container, resolv_conf: &str, hosts: &str) -> std::io::Result<()> {
        crate::store::create_private_dir(&self.dir)?;
        if c.netns_path.is_some() {
            let etc = Path::new(ETC_NETNS).join(&c.name);
            fs::create_dir_all(&etc)?;
            write_in_place(&etc.join("resolv.conf"), resolv_conf)?;
        }
        write_in_place(&self.hostname(), &format!("{}\n", c.hostname))?;
        self.write_hosts(c, hosts)?;
        write_in_place(&self.resolv_conf(), resolv_conf)?;
        Ok(())
    }

    pub fn write_hosts(&self, c: &Container, text: &str) -> std::io::Result<()> {
        write_in_place(&self.hosts(), text)?;
        if c.netns_path.is_some() {
            let etc = Path::new(ETC_NETNS).join(&c.name);
            if etc.is_dir() {
                write_in_place(&etc.join("hosts"), text)?;
            }
        }
        Ok(())
    }

    pub fn write_resolv_conf(&self, c: &Container, text: &str) -> std::io::Result<()> {
        write_in_place(&self.resolv_conf(), text)?;
        if c.netns_path.is_some() {
            let etc = Path::new(ETC_NETNS).join(&c.name);
            if etc.is_dir() {
                write_in_place(&etc.join("resolv.conf"), text)?;
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

/// Docker's layout: localhost lines, the links' lines, then one line per address
/// of the container with its hostname.
pub fn hosts_file(c: &Container, links: &str) -> String {
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

    #[test]
    fn loopback_nameservers_are_dropped() {
        let text =
            "search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\noptions edns0\n";
        assert_eq!(filter_loopback(text), "search example.org\nnameserver 10.0.0.2\noptions edns0\n");
        assert_eq!(nameservers(text).len(), 3);
    }
}
