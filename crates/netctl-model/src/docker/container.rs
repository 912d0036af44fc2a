//! Containers in Docker's words (moby `api/types/container`): the list's
//! summaries and the inspect document, read side only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::network::EndpointSettings;
use crate::api_containers::{Empty, PortMap};
use crate::container::{Container, Endpoint, Origin};

/// One row of `GET /containers/json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary {
    #[serde(rename = "Id")]
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    pub ports: Vec<Port>,
    pub labels: BTreeMap<String, String>,
    pub state: String,
    pub status: String,
    pub host_config: SummaryHostConfig,
    pub network_settings: SummaryNetworkSettings,
    pub mounts: Vec<Empty>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Port {
    #[serde(rename = "IP", default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    pub private_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryHostConfig {
    pub network_mode: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SummaryNetworkSettings {
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inspect {
    #[serde(rename = "Id")]
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: State,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: u32,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: HostConfig,
    pub mounts: Vec<Empty>,
    pub config: Config,
    pub network_settings: NetworkSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct State {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: u32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    pub network_mode: String,
    pub port_bindings: PortMap,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub dns: Vec<String>,
    pub dns_options: Vec<String>,
    pub dns_search: Vec<String>,
    pub links: Option<Vec<String>>,
    pub publish_all_ports: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, Empty>>,
    pub working_dir: String,
    pub entrypoint: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
}

/// Docker's `NetworkSettings`; `E` is what each network's entry holds (netctl's
/// own API adds the interface's name to Docker's `EndpointSettings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings<E = EndpointSettings> {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub sandbox_key: String,
    pub ports: PortMap,
    pub hairpin_mode: bool,
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: u8,
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<String>>,
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<String>>,
    /// The fields below describe the endpoint on the default `bridge` network
    /// only, empty otherwise (Docker's deprecated top-level copy).
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    pub mac_address: String,
    pub networks: BTreeMap<String, E>,
}

impl<E> NetworkSettings<E> {
    /// `default_bridge` is the container's endpoint on the default `bridge`
    /// network, if it has one: Docker fills the top-level address fields from it.
    pub fn of(
        c: &Container,
        networks: BTreeMap<String, E>,
        default_bridge: Option<&Endpoint>,
        ports: PortMap,
    ) -> Self {
        let ep = default_bridge;
        let text = |v: Option<String>| v.unwrap_or_default();
        NetworkSettings {
            bridge: String::new(),
            sandbox_id: if c.origin == Origin::Netctl { c.id.clone() } else { String::new() },
            sandbox_key: text(c.netns_path.as_ref().map(|p| p.display().to_string())),
            ports,
            hairpin_mode: false,
            link_local_ipv6_address: String::new(),
            link_local_ipv6_prefix_len: 0,
            secondary_ip_addresses: None,
            secondary_ipv6_addresses: None,
            endpoint_id: text(ep.map(|e| e.id.clone())),
            gateway: text(ep.and_then(|e| e.gateway).map(|g| g.to_string())),
            global_ipv6_address: text(ep.and_then(|e| e.ipv6).map(|a| a.ip().to_string())),
            global_ipv6_prefix_len: ep.and_then(|e| e.ipv6).map(|a| a.prefix()).unwrap_or(0),
            ip_address: text(ep.and_then(|e| e.ipv4).map(|a| a.ip().to_string())),
            ip_prefix_len: ep.and_then(|e| e.ipv4).map(|a| a.prefix()).unwrap_or(0),
            ipv6_gateway: text(ep.and_then(|e| e.gateway6).map(|g| g.to_string())),
            mac_address: text(ep.map(|e| e.mac.clone())),
            networks,
        }
    }

    /// The same settings with each network's entry turned into another shape.
    pub fn map_networks<F>(self, f: impl Fn(E) -> F) -> NetworkSettings<F> {
        NetworkSettings {
            bridge: self.bridge,
            sandbox_id: self.sandbox_id,
            sandbox_key: self.sandbox_key,
            ports: self.ports,
            hairpin_mode: self.hairpin_mode,
            link_local_ipv6_address: self.link_local_ipv6_address,
            link_local_ipv6_prefix_len: self.link_local_ipv6_prefix_len,
            secondary_ip_addresses: self.secondary_ip_addresses,
            secondary_ipv6_addresses: self.secondary_ipv6_addresses,
            endpoint_id: self.endpoint_id,
            gateway: self.gateway,
            global_ipv6_address: self.global_ipv6_address,
            global_ipv6_prefix_len: self.global_ipv6_prefix_len,
            ip_address: self.ip_address,
            ip_prefix_len: self.ip_prefix_len,
            ipv6_gateway: self.ipv6_gateway,
            mac_address: self.mac_address,
            networks: self.networks.into_iter().map(|(k, v)| (k, f(v))).collect(),
        }
    }
}

/// `GET /containers/{id}/top`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// Go's `units.HumanDuration`, which Docker's `Status` column uses ("Up 5 minutes").
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let minutes = secs / 60;
    let hours = (secs as f64 / 3600.0).round() as i64;
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(70), "About a minute");
        assert_eq!(human_duration(300), "5 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }
}
