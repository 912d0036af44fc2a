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
    pub network: NetworkConfig,
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
            network: NetworkConfig::default(),
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
