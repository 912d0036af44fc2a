//! netctld's configuration: `/etc/netctl/netctl.toml` (or `--config`), then flags.
//! `config/netctl.toml` in the repository documents every key with its default.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ipnetwork::IpNetwork;
use netctl_model::ipam::{self, AddressPool};
use netctl_model::network::DEFAULT_MTU;
use netctl_model::options::parse_mtu;
use serde::Deserialize;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/netctl/netctl.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The API's unix socket.
    pub socket: PathBuf,
    /// What must survive a reboot: networks (and later containers' settings).
    pub data_root: PathBuf,
    /// What exists only while the host is up.
    pub exec_root: PathBuf,
    /// tracing filter, e.g. "info" or "netctl_daemon=debug".
    pub log_level: String,
    /// cgroup (under the cgroup2 mount) that holds one cgroup per container.
    pub cgroup_parent: String,
    pub network: NetworkConfig,
    pub dns: DnsConfig,
    /// Hosts naming the same etcd form a cluster with overlay networks.
    pub cluster: Option<ClusterConfig>,
}

/// `[cluster]`: the etcd this host shares with the others, and the address its
/// VXLAN traffic comes from. Absent: a host of its own (bridge networks only).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// etcd's client URLs, e.g. ["http://10.0.0.5:2379"] (https:// with `ca`).
    pub etcd: Vec<String>,
    /// This host's underlay address: other hosts send its containers' VXLAN
    /// packets there.
    pub advertise: std::net::IpAddr,
    /// Seconds this host's endpoints outlive it in the cluster when it dies.
    #[serde(default = "default_ttl")]
    pub ttl: u64,
    /// VXLAN's UDP port on every host.
    #[serde(default = "default_vxlan_port")]
    pub vxlan_port: u16,
    /// Where overlay networks' subnets come from when `--subnet` is not given.
    #[serde(default = "default_overlay_pools")]
    pub overlay_address_pools: Vec<AddressPool>,
    /// etcd's CA (PEM), for https:// endpoints.
    pub ca: Option<PathBuf>,
    /// A client certificate and its key (PEM), for etcd's `--client-cert-auth`.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

fn default_ttl() -> u64 {
    10
}

fn default_vxlan_port() -> u16 {
    4789
}

fn default_overlay_pools() -> Vec<AddressPool> {
    vec![AddressPool { base: "10.200.0.0/14".parse().expect("static"), size: 24 }]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// Servers for names that are not containers'; empty: the host's resolv.conf.
    #[serde(deserialize_with = "de_upstreams")]
    pub upstream: Vec<std::net::SocketAddr>,
    /// TTL of the records of containers' names.
    pub ttl: u32,
    /// Single-label names that are no container's go to the upstream servers, as
    /// Docker sends them (LAN names such as `nas`); false: NXDOMAIN at once.
    pub forward_single_label: bool,
    /// Known names answered in the kernel (netctl-ebpf) where it can load.
    pub kernel_fast_path: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self { upstream: Vec::new(), ttl: 600, forward_single_label: true, kernel_fast_path: true }
    }
}

/// "ip" or "ip:port" (port 53 by default), "[v6]:port" for IPv6 with a port.
fn de_upstreams<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<std::net::SocketAddr>, D::Error> {
    let items: Vec<String> = Vec::deserialize(d)?;
    items
        .iter()
        .map(|s| {
            s.parse::<std::net::SocketAddr>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(|ip| std::net::SocketAddr::new(ip, 53)))
                .map_err(|_| {
                    serde::de::Error::custom(format!("invalid upstream {s:?}: expected ip or ip:port"))
                })
        })
        .collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Device name of the default network `bridge` (Docker's docker0).
    pub default_bridge: String,
    /// Subnet of the default network.
    pub default_subnet: IpNetwork,
    /// MTU of new networks without `-o com.docker.network.driver.mtu`.
    pub mtu: u32,
    /// Where subnets of networks created without `--subnet` come from, in order.
    pub default_address_pools: Vec<AddressPool>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            socket: "/run/netctl/netctl.sock".into(),
            data_root: "/var/lib/netctl".into(),
            exec_root: "/run/netctl".into(),
            log_level: "info".into(),
            cgroup_parent: "netctl".into(),
            network: NetworkConfig::default(),
            dns: DnsConfig::default(),
            cluster: None,
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        Self {
            default_bridge: "netctl0".into(),
            default_subnet: "172.17.0.0/16".parse().expect("static"),
            mtu: DEFAULT_MTU,
            default_address_pools: ipam::default_pools(),
        }
    }
}

impl Config {
    /// Reads `path`; a missing file is the default configuration only when the
    /// path is the default one (a path given by the user must exist).
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let (path, required) = match path {
            Some(p) => (p, true),
            None => (Path::new(DEFAULT_CONFIG_PATH), false),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read config {}", path.display())),
        };
        let config: Config =
            toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
        config.validate().with_context(|| format!("invalid config {}", path.display()))?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let net = &self.network;
        netctl_model::name::validate_ifname(&net.default_bridge)?;
        parse_mtu(&net.mtu.to_string())?;
        if net.default_subnet.ip() != net.default_subnet.network() || !net.default_subnet.is_ipv4() {
            bail!("network.default_subnet must be an IPv4 network address, e.g. 172.17.0.0/16");
        }
        ipam::validate_subnet(net.default_subnet, None, None)?;
        if net.default_address_pools.is_empty() {
            bail!("network.default_address_pools must not be empty");
        }
        for pool in &net.default_address_pools {
            pool.validate()?;
        }
        if let Some(c) = &self.cluster {
            if c.etcd.is_empty() {
                bail!("cluster.etcd must name at least one etcd endpoint, e.g. [\"http://10.0.0.5:2379\"]");
            }
            for url in &c.etcd {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    bail!("cluster.etcd: {url:?} is not an http:// or https:// URL");
                }
            }
            if c.ttl < 2 {
                bail!("cluster.ttl must be at least 2 seconds");
            }
            if c.advertise.is_unspecified() || c.advertise.is_loopback() {
                bail!(
                    "cluster.advertise must be this host's address on the network between the hosts, not {}",
                    c.advertise
                );
            }
            if c.cert.is_some() != c.key.is_some() {
                bail!("cluster.cert and cluster.key go together");
            }
            if c.overlay_address_pools.is_empty() {
                bail!("cluster.overlay_address_pools must not be empty");
            }
            for pool in &c.overlay_address_pools {
                pool.validate()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_default_file_matches_defaults() {
        let text = include_str!("../../../config/netctl.toml");
        let parsed: Config = toml::from_str(text).unwrap();
        parsed.validate().unwrap();
        let default = Config::default();
        assert_eq!(parsed.socket, default.socket);
        assert_eq!(parsed.data_root, default.data_root);
        assert_eq!(parsed.exec_root, default.exec_root);
        assert_eq!(parsed.log_level, default.log_level);
        assert_eq!(parsed.network.default_bridge, default.network.default_bridge);
        assert_eq!(parsed.network.default_subnet, default.network.default_subnet);
        assert_eq!(parsed.network.mtu, default.network.mtu);
        assert_eq!(parsed.network.default_address_pools, default.network.default_address_pools);
        assert_eq!(parsed.dns.upstream, default.dns.upstream);
        assert_eq!(parsed.dns.ttl, default.dns.ttl);
        assert_eq!(parsed.dns.forward_single_label, default.dns.forward_single_label);
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let c: Config =
            toml::from_str("[network]\ndefault_address_pools = [{ base = \"10.99.0.0/23\", size = 24 }]\n")
                .unwrap();
        c.validate().unwrap();
        assert_eq!(c.network.default_address_pools.len(), 1);
        assert_eq!(c.network.mtu, 1500);
    }

    #[test]
    fn upstreams_with_and_without_port() {
        let c: Config = toml::from_str("[dns]\nupstream = [\"10.0.0.2\", \"10.0.0.3:5353\"]\n").unwrap();
        assert_eq!(c.dns.upstream[0].to_string(), "10.0.0.2:53");
        assert_eq!(c.dns.upstream[1].to_string(), "10.0.0.3:5353");
        assert!(toml::from_str::<Config>("[dns]\nupstream = [\"nope\"]\n").is_err());
    }

    #[test]
    fn single_labels_are_forwarded_unless_turned_off() {
        assert!(Config::default().dns.forward_single_label);
        let c: Config = toml::from_str("[dns]\nforward_single_label = false\n").unwrap();
        assert!(!c.dns.forward_single_label);
        assert!(toml::from_str::<Config>("[dns]\nforward_single_label = \"no\"\n").is_err());
    }

    #[test]
    fn cluster_section() {
        assert!(Config::default().cluster.is_none());
        let c: Config = toml::from_str(
            "[cluster]\netcd = [\"http://192.168.77.100:2379\"]\nadvertise = \"192.168.77.1\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        let cl = c.cluster.unwrap();
        assert_eq!((cl.ttl, cl.vxlan_port), (10, 4789));
        for bad in [
            "[cluster]\netcd = []\nadvertise = \"192.168.77.1\"\n",
            "[cluster]\netcd = [\"192.168.77.100:2379\"]\nadvertise = \"192.168.77.1\"\n",
            "[cluster]\netcd = [\"http://e:2379\"]\nadvertise = \"127.0.0.1\"\n",
            "[cluster]\netcd = [\"http://e:2379\"]\nadvertise = \"192.168.77.1\"\nttl = 1\n",
        ] {
            let c: Config = toml::from_str(bad).unwrap();
            assert!(c.validate().is_err(), "{bad}");
        }
        assert!(
            toml::from_str::<Config>("[cluster]\netcd = [\"http://e:2379\"]\n").is_err(),
            "advertise is required"
        );
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        assert!(toml::from_str::<Config>("sockett = \"/x\"").is_err());
        let c: Config = toml::from_str("[network]\nmtu = 20\n").unwrap();
        assert!(c.validate().is_err());
        let c: Config =
            toml::from_str("[network]\ndefault_address_pools = [{ base = \"10.0.0.0/16\", size = 8 }]\n")
                .unwrap();
        assert!(c.validate().is_err());
    }
}
