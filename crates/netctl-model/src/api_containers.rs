//! API bodies for containers and endpoints (Docker Engine API field names).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ContainerCreateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub cmd: Vec<String>,
    /// `-e`/`--env-file` values, `KEY=VALUE`; the daemon puts PATH, HOSTNAME, HOME
    /// (and TERM with a TTY) first.
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub open_stdin: bool,
    /// The daemon starts the process and keeps its output (`run -d`). Otherwise the
    /// client starts it itself and reports with `/started` and `/exited`.
    #[serde(default)]
    pub detach: bool,
    #[serde(default)]
    pub auto_remove: bool,
    /// `bridge` (default), `none`, `host`, or a network's name or id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// `--network-alias`, for the first network.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--ip`: a fixed IPv4 address on the first network.
    #[serde(rename = "IPAddress", default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// `--ip6`: a fixed IPv6 address on the first network.
    #[serde(rename = "IPv6Address", default, skip_serializing_if = "Option::is_none")]
    pub ip6_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// `--dns`: this container's own upstream servers.
    #[serde(default)]
    pub dns: Vec<String>,
    /// `--dns-search`: replaces the host's search domains.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// `--dns-option`: resolv.conf options (ndots:0 is added unless ndots is given).
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// `--expose PORT[/PROTO]`.
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    /// `-p [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`.
    #[serde(default)]
    pub port_bindings: Vec<String>,
    /// `-P`: publish every exposed port on a free host port.
    #[serde(default)]
    pub publish_all_ports: bool,
    /// `--link NAME[:ALIAS]`.
    #[serde(default)]
    pub links: Vec<String>,
    /// `--label KEY[=VALUE]`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCreateResponse {
    pub id: String,
    pub warnings: Vec<String>,
}

/// `netctl container attach`, the CNI plugin and the OCI hook: another runtime's
/// namespace joins netctl. With the `AttachmentId` of an attachment that exists
/// already (same namespace), the networks it is not on yet are added to it
/// (CNI calls ADD once per network), and one it is on is answered as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ContainerAttachRequest {
    pub name: String,
    /// A network namespace file (/run/netns/x, /var/run/netns/x, /proc/PID/ns/net).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The first network. Default: `bridge`, unless `Networks` names some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Aliases on `Network`.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A fixed IPv4 address on `Network` (CNI's `ips`).
    #[serde(rename = "IPAddress", default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// A fixed MAC on `Network` (CNI's `mac`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// The interface's name inside (CNI_IFNAME). Default: the next free ethN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifname: Option<String>,
    /// Further networks, joined in this order after `Network`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<AttachNetwork>,
    /// `-p`-style published ports, `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_bindings: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The runtime's own key for this attachment (CNI's container id, the OCI
    /// state's id): how DEL, CHECK and GC find it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_id: Option<String>,
}

/// One further network of an attach request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AttachNetwork {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(rename = "IPAddress", default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifname: Option<String>,
}

/// Answer of `POST /v1/containers/attach` and one entry of `GET /v1/attachments`:
/// what a runtime needs to describe the container's network (a CNI result) and
/// to write its files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Attachment {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub attachment_id: Option<String>,
    #[serde(default)]
    pub netns_path: String,
    pub endpoints: Vec<AttachedEndpoint>,
    /// Published ports, as `docker port` prints them (`80/tcp -> 0.0.0.0:8080`).
    #[serde(default)]
    pub ports: Vec<String>,
    /// The container's resolv.conf and hosts as netctl writes them for its own.
    #[serde(default)]
    pub resolv_conf: String,
    #[serde(default)]
    pub hosts: String,
    pub dns: AttachedDns,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedEndpoint {
    pub network: String,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// Inside the container.
    pub ifname: String,
    /// The veth's host end (a port of the network's bridge).
    pub host_ifname: String,
    pub bridge: String,
    pub mac_address: String,
    /// CIDR, e.g. 172.18.0.2/16.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    pub gateway: String,
    pub default_route: bool,
    pub aliases: Vec<String>,
}

/// resolv.conf's lines, for a CNI result's `dns`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedDns {
    pub nameservers: Vec<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// Body of `POST /v1/attachments/detach`: undoes an attachment's endpoint on
/// one network, or the whole attachment (no `Network`, or its last network).
/// Answers 204 also when there is nothing (left) to undo: CNI's DEL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AttachmentDetachRequest {
    pub attachment_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// Body of `POST /v1/containers/{id}/started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessStarted {
    pub pid: u32,
}

/// Body of `POST /v1/containers/{id}/exited`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessExited {
    pub exit_code: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NetworkConnectRequest {
    pub container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_config: Option<EndpointConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EndpointConfig {
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(rename = "IPAMConfig", default, skip_serializing_if = "Option::is_none")]
    pub ipam_config: Option<EndpointIpamConfig>,
    /// A fixed MAC for this endpoint (`docker network connect` through the Engine API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(rename = "IPv6Address", default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct NetworkDisconnectRequest {
    pub container: String,
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    pub id: String,
    /// With a leading slash, as Docker shows it.
    pub name: String,
    pub created: DateTime<Utc>,
    pub path: String,
    pub args: Vec<String>,
    pub state: ContainerStateInspect,
    pub config: ContainerConfigInspect,
    pub host_config: HostConfigInspect,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub network_settings: NetworkSettingsInspect,
    /// `netctl` for containers netctl started, `attached` for other runtimes'.
    pub origin: String,
    /// The cgroup every process of the container joins (netctl's own containers
    /// on hosts with cgroup v2); `netctl run` and `exec` put their process there.
    #[serde(default)]
    pub cgroup_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerStateInspect {
    pub status: String,
    pub running: bool,
    pub pid: u32,
    pub exit_code: i32,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfigInspect {
    pub hostname: String,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: String,
    pub tty: bool,
    pub open_stdin: bool,
    /// `"6379/tcp": {}` for each exposed port, as Docker shows them.
    #[serde(default)]
    pub exposed_ports: BTreeMap<String, Empty>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// One host side of a published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostPortInspect {
    pub host_ip: String,
    pub host_port: String,
}

/// `"3000/tcp": [{"HostIp": "0.0.0.0", "HostPort": "3000"}]`; null for a port
/// exposed but not published.
pub type PortMap = BTreeMap<String, Option<Vec<HostPortInspect>>>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfigInspect {
    pub network_mode: String,
    pub auto_remove: bool,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    #[serde(default)]
    pub port_bindings: PortMap,
    /// `/redis-server:/web/redis`, as Docker lists legacy links (those of a
    /// container on the default bridge; on a user-defined network they are in
    /// its endpoint's `Links`); null without.
    #[serde(default)]
    pub links: Option<Vec<String>>,
}

/// Docker's `NetworkSettings`, each network's entry with the interface's name.
pub type NetworkSettingsInspect = crate::docker::container::NetworkSettings<EndpointSettings>;

/// Docker's `EndpointSettings` (its keys in its order), then netctl's `Interface`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSettings {
    #[serde(flatten)]
    pub docker: crate::docker::network::EndpointSettings,
    /// The interface name inside the container (eth0, eth1, …).
    #[serde(rename = "Interface")]
    pub interface: String,
}
