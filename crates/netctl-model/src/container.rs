//! A container as netctl stores it: a process (or another runtime's namespace)
//! with its own network namespace and endpoints on networks.

use std::net::IpAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::id;
use crate::links::Link;
use crate::ports::{ContainerPort, PortBinding};

/// Environment every netctl container starts with, as Docker's default PATH.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// Who made the network namespace, and so who may end it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// Started by netctl (`run`): netctl owns the process and the namespace.
    Netctl,
    /// Another runtime's namespace registered with `container attach`; netctl never
    /// kills its processes. `dev`/`ino` identify the namespace, to notice when the
    /// path starts naming another one (PID reuse).
    Attached {
        netns_path: PathBuf,
        dev: u64,
        ino: u64,
        /// The runtime's key for it (CNI container id, OCI state id), if it gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachment_id: Option<String>,
    },
}

/// How a container's network is set up: Docker's `--network` values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "network", rename_all = "lowercase")]
pub enum NetworkMode {
    /// Own namespace, endpoints on networks.
    Networks,
    /// Own namespace with only loopback.
    None,
    /// The host's namespace.
    Host,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessConfig {
    pub cmd: Vec<String>,
    /// The complete environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// The user's `-e` variables alone: what links show of this container.
    #[serde(default)]
    pub user_env: Vec<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    /// Started by the daemon, output kept in the log (`run -d`).
    pub detach: bool,
    pub auto_remove: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub status: Status,
    /// 0 when not running.
    pub pid: u32,
    /// Start time of `pid` in clock ticks since boot (/proc/PID/stat field 22):
    /// with the pid it names one process, even after the pid is reused.
    #[serde(default)]
    pub pid_start: u64,
    pub exit_code: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl RunState {
    pub fn created() -> Self {
        Self {
            status: Status::Created,
            pid: 0,
            pid_start: 0,
            exit_code: 0,
            started_at: None,
            finished_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub network_id: String,
    /// Name inside the container: eth0, eth1, … in join order.
    pub ifname: String,
    /// The host end of the veth pair, a port of the network's bridge.
    pub host_ifname: String,
    pub mac: String,
    pub ipv4: Option<IpNetwork>,
    #[serde(default)]
    pub ipv6: Option<IpNetwork>,
    pub gateway: Option<IpAddr>,
    /// The IPv6 gateway, on networks with IPv6.
    #[serde(default)]
    pub gateway6: Option<IpAddr>,
    /// The IPv6 address was given (`--ip6`), or is the first handed out since the
    /// daemon started, so another container may have held it a moment ago: it is
    /// announced. Other addresses IPAM hands out from a /64 come after every one
    /// handed out before and are not (each announcement is flooded to every port).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub announce_ipv6: bool,
    /// This endpoint carries the container's default route (each family it has).
    pub default_route: bool,
    /// Network-scoped aliases (`--network-alias`, `connect --alias`).
    pub aliases: Vec<String>,
    /// The addresses the user asked for (`--ip`, `--ip6`, CNI's `ips`): inspect
    /// shows them as Docker's `IPAMConfig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_ipv4: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_ipv6: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub created: DateTime<Utc>,
    pub hostname: String,
    pub origin: Origin,
    pub network_mode: NetworkMode,
    pub process: ProcessConfig,
    pub state: RunState,
    /// The network namespace: /run/netns/<name> for netctl's own, the given path
    /// for attached ones, none in host mode.
    pub netns_path: Option<PathBuf>,
    pub endpoints: Vec<Endpoint>,
    /// A fixed MAC for the first endpoint (`--mac-address`).
    #[serde(default)]
    pub mac_address: Option<String>,
    #[serde(default)]
    pub dns: DnsSettings,
    /// `--expose`, plus the container ports of `-p`.
    #[serde(default)]
    pub exposed: Vec<ContainerPort>,
    /// `-p`/`-P`, with the host ports the daemon bound.
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    /// `--link`s to other containers.
    #[serde(default)]
    pub links: Vec<Link>,
    /// `--label`s.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Bumped by every change the daemon journals: a change whose intent names
    /// the generation the stored record has was committed (see the daemon's journal).
    #[serde(default)]
    pub generation: u64,
}

/// `--dns`, `--dns-search`, `--dns-option` of `run`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsSettings {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl DnsSettings {
    pub fn parse(
        servers: &[String],
        search: &[String],
        options: &[String],
    ) -> Result<Self, crate::ModelError> {
        let servers = servers
            .iter()
            .map(|s| {
                s.trim().parse().map_err(|_| {
                    crate::ModelError::invalid(format!("invalid --dns {s:?}: not an IP address"))
                })
            })
            .collect::<Result<_, _>>()?;
        for s in search.iter().chain(options) {
            if s.is_empty() || s.chars().any(char::is_whitespace) {
                return Err(crate::ModelError::invalid(format!("invalid DNS search domain or option {s:?}")));
            }
        }
        Ok(Self { servers, search: search.to_vec(), options: options.to_vec() })
    }
}

impl Container {
    pub fn short_id(&self) -> &str {
        id::short_id(&self.id)
    }

    pub fn endpoint_on(&self, network_id: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.network_id == network_id)
    }

    /// The next free `ethN` name inside the container.
    pub fn next_ifname(&self) -> String {
        (0..)
            .map(|n| format!("eth{n}"))
            .find(|name| !self.endpoints.iter().any(|e| &e.ifname == name))
            .expect("unbounded")
    }

    pub fn is_running(&self) -> bool {
        self.state.status == Status::Running
    }

    /// Whether the resolver answers its names and link aliases. Not once it has
    /// exited: Docker's stopped containers leave their networks. A created one not
    /// started yet is answered, so that a name resolves the moment `run` returns.
    pub fn answers_names(&self) -> bool {
        self.state.status != Status::Exited
    }
}

/// A MAC as Docker makes them: locally administered, unicast, random.
pub fn random_mac() -> [u8; 6] {
    use rand::RngCore;
    let mut mac = [0u8; 6];
    rand::rng().fill_bytes(&mut mac);
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

pub fn parse_mac(text: &str) -> Result<[u8; 6], crate::ModelError> {
    let bad = || {
        crate::ModelError::invalid(format!(
            "invalid MAC address {text:?}: expected 6 hex bytes like 02:42:ac:11:00:02"
        ))
    };
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (slot, part) in mac.iter_mut().zip(parts) {
        if part.len() != 2 {
            return Err(bad());
        }
        *slot = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 == 1 {
        return Err(crate::ModelError::invalid(format!("invalid MAC address {text}: a multicast address")));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs() {
        let m = random_mac();
        assert_eq!(m[0] & 0x03, 0x02);
        let s = format_mac(&m);
        assert_eq!(parse_mac(&s).unwrap(), m);
        assert!(parse_mac("02:42:ac:11:00").is_err());
        assert!(parse_mac("01:42:ac:11:00:02").is_err());
        assert!(parse_mac("zz:42:ac:11:00:02").is_err());
    }
}

/// The process environment Docker gives a container: PATH, HOSTNAME, HOME (and
/// TERM with a TTY), each replaced by the user's value of the same key, then the
/// user's other variables in their order.
pub fn container_env(hostname: &str, tty: bool, user: &[String]) -> Vec<String> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOSTNAME".into(), hostname.into()),
        ("HOME".into(), "/root".into()),
    ];
    if tty {
        env.push(("TERM".into(), "xterm".into()));
    }
    for kv in user {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        match env.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.to_string(),
            None => env.push((k.to_string(), v.to_string())),
        }
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// A hostname the kernel takes and resolvers accept: RFC 1123 labels, at most
/// 64 bytes (HOST_NAME_MAX).
pub fn validate_hostname(name: &str) -> Result<(), crate::ModelError> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if name.is_empty() || name.len() > 64 || !name.split('.').all(label_ok) {
        return Err(crate::ModelError::invalid(format!(
            "invalid hostname {name:?}: use letters, digits and '-' in dot-separated labels, at most 64 characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod env_tests {
    use super::*;

    #[test]
    fn env_defaults_and_overrides() {
        let env = container_env("abc", true, &["FOO=bar".into(), "HOME=/srv".into(), "EMPTY".into()]);
        assert_eq!(
            env,
            vec![
                format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=abc".into(),
                "HOME=/srv".into(),
                "TERM=xterm".into(),
                "FOO=bar".into(),
                "EMPTY=".into()
            ]
        );
        assert!(!container_env("abc", false, &[]).iter().any(|e| e.starts_with("TERM=")));
    }

    #[test]
    fn hostnames() {
        validate_hostname("web").unwrap();
        validate_hostname("0123456789ab").unwrap();
        validate_hostname("a.b-c.d").unwrap();
        for bad in ["", "-a", "a-", "a_b", "a..b", &"a".repeat(65)] {
            assert!(validate_hostname(bad).is_err(), "{bad}");
        }
    }
}
