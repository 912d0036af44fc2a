//! What the firewall must do, as plain data the daemon derives from its state.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use netctl_model::ports::Protocol;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallSpec {
    pub networks: Vec<NetworkRules>,
    pub ports: Vec<PublishedPort>,
}

/// One network's bridge and the options that decide its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    pub bridge: String,
    /// IPv4 and IPv6.
    pub subnets: Vec<IpNetwork>,
    /// `--internal`: nothing in or out but through the bridge itself.
    pub internal: bool,
    /// `com.docker.network.bridge.enable_icc`: containers of the network may talk.
    pub icc: bool,
    /// `com.docker.network.bridge.enable_ip_masquerade`.
    pub masquerade: bool,
}

/// One published port: host side to container side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub proto: Protocol,
    /// None, 0.0.0.0 or ::: every address of the host of the container address's family.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    /// The family of the rule (`dnat ip` or `dnat ip6`).
    pub container_ip: IpAddr,
    pub container_port: u16,
    /// The bridge the container is reached by. Traffic coming from it is left to
    /// the daemon's relay, as Docker leaves it to docker-proxy: DNAT back out of
    /// the port a frame came in by would need hairpin mode on every bridge port.
    pub bridge: String,
}
