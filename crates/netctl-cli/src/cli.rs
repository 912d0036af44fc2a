//! The command line, in Docker's words.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::client::DEFAULT_HOST;

/// netctl — Docker-style container networking without Docker. A client of the
/// netctld daemon: networks on Linux bridges, containers in their own namespaces.
#[derive(Debug, Parser)]
#[command(name = "netctl", version, propagate_version = true)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", env = "NETCTL_HOST", default_value = DEFAULT_HOST, global = true)]
    pub host: String,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage containers of other runtimes (attach, detach)
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Create a container and run a command in it
    Run(RunArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// List containers
    Ps(PsArgs),
    /// Show containers' details as JSON
    Inspect(InspectArgs),
    /// Show the output of a detached container
    Logs(LogsArgs),
    /// Stop running containers (SIGTERM, then SIGKILL)
    Stop(StopArgs),
    /// Start stopped containers again, detached
    Start(NamesArgs),
    /// Remove containers
    Rm(RmArgs),
    /// List a container's published ports, or the host side of one
    Port(PortArgs),
    /// Get real time events from the daemon (Docker's event messages)
    Events(EventsArgs),
    /// The host's firewall rules netctl owns (nftables table inet netctl)
    #[command(subcommand)]
    Firewall(FirewallCommand),
    /// OCI runtime hook (createRuntime, poststop): joins a runc/crun/podman
    /// container to the networks its io.netctl.networks annotation names
    #[command(name = "oci-hook")]
    OciHook(OciHookArgs),
}

#[derive(Debug, Args)]
pub struct OciHookArgs {
    /// createRuntime or poststop [default: poststop if the state's status is
    /// stopped, else createRuntime]
    pub stage: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum FirewallCommand {
    /// Write netctl's nftables table again, e.g. after `nft flush ruleset`
    Reload,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// Only this container port, e.g. 3000 or 53/udp
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network (a Linux bridge with a subnet); prints its id
    Create(NetworkCreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(NetworkLsArgs),
    /// Show networks' details as JSON
    Inspect(NetworkInspectArgs),
    /// Remove networks
    #[command(visible_alias = "remove")]
    Rm(NetworkRmArgs),
    /// Remove every custom network no container uses
    Prune(NetworkPruneArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Driver to manage the network (only "bridge")
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR notation, e.g. 172.30.0.0/16 (repeatable)
    #[arg(long, value_name = "CIDR")]
    pub subnet: Vec<String>,
    /// Gateway of the subnet that contains it (repeatable)
    #[arg(long, value_name = "IP")]
    pub gateway: Vec<String>,
    /// Allocate container addresses from this sub-range of a subnet (repeatable)
    #[arg(long = "ip-range", value_name = "CIDR")]
    pub ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Accepted for Docker compatibility: every netctl network is attachable
    #[arg(long)]
    pub attachable: bool,
    /// Enable IPv6: with an IPv6 --subnet, or a /64 of this host's unique local prefix
    #[arg(long)]
    pub ipv6: bool,
    /// IPv4 on the network; --ipv4=false with --ipv6 makes an IPv6-only network
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub ipv4: Option<bool>,
    /// Set a label, KEY=VALUE (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Driver option, KEY=VALUE: com.docker.network.bridge.name, com.docker.network.driver.mtu,
    /// com.docker.network.bridge.enable_icc, com.docker.network.bridge.enable_ip_masquerade
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// Name of the network
    pub name: String,
}

#[derive(Debug, Args)]
pub struct NetworkLsArgs {
    /// Only show network ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate ids
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter, e.g. name=back, id=, driver=, label=k[=v], type=custom|builtin, dangling=true
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// "table", "json" (one object per line), or a template like '{{.ID}}\t{{.Name}}'
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct NetworkInspectArgs {
    /// "json" (one object per line) or a template like '{{.Id}}'
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkRmArgs {
    #[arg(required = true, value_name = "NETWORK")]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkPruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Only networks matching, e.g. label=env=test
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Network-scoped alias for the container (repeatable)
    #[arg(long, value_name = "ALIAS")]
    pub alias: Vec<String>,
    /// Fixed IPv4 address on this network
    #[arg(long)]
    pub ip: Option<String>,
    /// Fixed IPv6 address on this network
    #[arg(long)]
    pub ip6: Option<String>,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Remove the record even if the container's namespace is gone
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Register another runtime's network namespace as a container and join a network
    Attach(AttachArgs),
    /// Undo everything netctl did in an attached container (never kills it)
    Detach(NamesArgs),
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("ns").required(true).args(["netns", "pid"]))]
pub struct AttachArgs {
    /// The namespace file, e.g. /run/netns/x or /proc/PID/ns/net
    #[arg(long, value_name = "PATH")]
    pub netns: Option<PathBuf>,
    /// A process in the container
    #[arg(long)]
    pub pid: Option<u32>,
    /// Network to join [default: bridge]
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Network-scoped alias (repeatable)
    #[arg(long, value_name = "ALIAS")]
    pub alias: Vec<String>,
    /// Hostname the container is known by [default: its short id]
    #[arg(long)]
    pub hostname: Option<String>,
    /// A fixed IPv4 address on the network
    #[arg(long)]
    pub ip: Option<String>,
    /// A fixed MAC address on the network
    #[arg(long)]
    pub mac_address: Option<String>,
    /// Publish a port: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO] (repeatable)
    #[arg(short, long, value_name = "PORT")]
    pub publish: Vec<String>,
    /// Name for the container in netctl
    pub name: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Name of the container [default: a generated one]
    #[arg(long)]
    pub name: Option<String>,
    /// Run in the background and print the container's id
    #[arg(short, long)]
    pub detach: bool,
    /// Remove the container when its command exits
    #[arg(long)]
    pub rm: bool,
    /// Keep stdin attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the command the caller's terminal (stdin must be one)
    #[arg(short, long)]
    pub tty: bool,
    /// Network: "bridge" (default), "none", "host", or a network's name
    #[arg(long = "network", visible_alias = "net", value_name = "NETWORK")]
    pub network: Option<String>,
    /// Network-scoped alias on the first network (repeatable)
    #[arg(long = "network-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// Fixed IPv4 address (user-defined networks only)
    #[arg(long)]
    pub ip: Option<String>,
    /// Fixed IPv6 address (user-defined networks with IPv6 only)
    #[arg(long)]
    pub ip6: Option<String>,
    /// Hostname [default: the 12-hex short id]
    #[arg(long)]
    pub hostname: Option<String>,
    /// Set an environment variable, KEY=VALUE, or KEY to pass the caller's value (repeatable)
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read environment variables from a file of KEY=VALUE lines (repeatable)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory of the command
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// MAC address of the first endpoint, e.g. 02:42:ac:11:00:02
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// DNS server for this container's names that are not containers' (repeatable)
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// DNS search domain, replacing the host's (repeatable)
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// resolv.conf option, e.g. ndots:2 (repeatable)
    #[arg(long = "dns-option", value_name = "OPTION")]
    pub dns_option: Vec<String>,
    /// Link to another running container, NAME[:ALIAS]: on the default network its
    /// address in /etc/hosts and ALIAS_* environment variables; on a user-defined
    /// network ALIAS resolves for this container (repeatable)
    #[arg(long, value_name = "NAME[:ALIAS]")]
    pub link: Vec<String>,
    /// Set a label, KEY[=VALUE] (repeatable)
    #[arg(short = 'l', long, value_name = "KEY[=VALUE]")]
    pub label: Vec<String>,
    /// Declare a port the command listens on, PORT[/tcp|/udp] or a range, for links and -P (repeatable)
    #[arg(long, value_name = "PORT[/PROTO]")]
    pub expose: Vec<String>,
    /// Publish a port on the host: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp];
    /// without HOST_PORT a free one is picked (repeatable)
    #[arg(short = 'p', long = "publish", value_name = "[IP:][HOST_PORT:]PORT")]
    pub publish: Vec<String>,
    /// Publish every exposed port on a free host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// The command and its arguments: the first word that is not an option starts
    /// it, as Docker's IMAGE does (`--` before it works too)
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Give the command the caller's terminal
    #[arg(short, long)]
    pub tty: bool,
    /// Set an environment variable (repeatable)
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory of the command
    #[arg(short, long)]
    pub workdir: Option<String>,
    pub container: String,
    #[arg(required = true, last = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers, not only running ones
    #[arg(short, long)]
    pub all: bool,
    /// Only show ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate ids and commands
    #[arg(long)]
    pub no_trunc: bool,
    /// "table" or "json" (one object per line)
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// "json" (one object per line) or a template like '{{.State.Pid}}'
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep following the output until the container stops
    #[arg(short, long)]
    pub follow: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait after SIGTERM before SIGKILL
    #[arg(short, long, default_value_t = 10)]
    pub time: u64,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill a running container first
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show events created since this time (Unix seconds, RFC 3339, or a duration back from now like 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this time (same forms as --since)
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided (type=, event=, container=, network=, label=, scope=)
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// "json", or a template like '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'
    #[arg(long)]
    pub format: Option<String>,
}
