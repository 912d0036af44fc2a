//! The command line, in Docker's words.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::client::DEFAULT_HOST;

/// Docker-style container networking without Docker (the client of netctld)
#[derive(Debug, Parser)]
#[command(
    name = "netctl",
    version,
    propagate_version = true,
    override_usage = "netctl [OPTIONS] COMMAND",
    max_term_width = 80,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", env = "NETCTL_HOST", default_value = DEFAULT_HOST, global = true)]
    pub host: String,
    #[command(subcommand)]
    pub command: Command,
}

/// `netctl --help`'s groups, in Docker's order and words; a command in none of
/// them falls under "Commands".
const HELP_GROUPS: [(&str, &[&str]); 2] = [
    ("Common Commands", &["run", "exec", "ps", "version", "info"]),
    ("Management Commands", &["container", "network", "firewall"]),
];

/// The command line with `--help` grouped as `docker --help` is (Common
/// Commands, Management Commands, Commands), each line within 80 columns. clap
/// has no groups of subcommands, so the list is written into the help template,
/// from the subcommands' own `about`s.
pub fn command() -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    let line = |c: &clap::Command| {
        format!("  {:<11} {}\n", c.get_name(), c.get_about().map(|a| a.to_string()).unwrap_or_default())
    };
    let visible: Vec<&clap::Command> = cmd.get_subcommands().filter(|c| !c.is_hide_set()).collect();
    let mut groups = String::new();
    for (title, names) in HELP_GROUPS {
        groups.push_str(&format!("{title}:\n"));
        for name in names {
            if let Some(c) = visible.iter().find(|c| c.get_name() == *name) {
                groups.push_str(&line(c));
            }
        }
        groups.push('\n');
    }
    groups.push_str("Commands:\n");
    let mut rest: Vec<&&clap::Command> =
        visible.iter().filter(|c| !HELP_GROUPS.iter().any(|(_, n)| n.contains(&c.get_name()))).collect();
    rest.sort_by_key(|c| c.get_name());
    for c in rest {
        groups.push_str(&line(c));
    }
    let template = format!(
        "{{usage-heading}}  {{usage}}\n\n{{about}}\n\n{groups}\nGlobal Options:\n{{options}}\n\n\
         Run 'netctl COMMAND --help' for more information on a command.\n"
    );
    cmd.help_template(template)
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Create a container and run a command in it
    Run(RunArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// List containers
    Ps(PsArgs),
    /// Return low-level information on containers (JSON)
    Inspect(InspectArgs),
    /// Fetch the logs of a detached container
    Logs(LogsArgs),
    /// Stop one or more running containers (SIGTERM, then SIGKILL)
    Stop(StopArgs),
    /// Start one or more stopped containers, detached
    Start(NamesArgs),
    /// Restart one or more containers
    Restart(RestartArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Get real time events from the daemon
    Events(EventsArgs),
    /// Show the netctl version information
    Version(FormatArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Manage the host's firewall rules netctl owns
    #[command(subcommand)]
    Firewall(FirewallCommand),
    /// Generate the autocompletion script for the specified shell
    Completion(CompletionArgs),
    /// Write netctl's man pages (netctl.1 and one per subcommand) into DIR
    #[command(hide = true)]
    Man(ManArgs),
    /// OCI runtime hook joining runc/crun/podman containers to networks
    ///
    /// Run by the runtime at createRuntime and poststop: joins the container to
    /// the networks its io.netctl.networks annotation names, and undoes it.
    #[command(name = "oci-hook")]
    OciHook(OciHookArgs),
}

/// `netctl container …`: Docker's `container` management command (the same
/// commands as the top-level ones), plus attach/detach of other runtimes'
/// namespaces.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum ContainerCmd {
    /// Register another runtime's network namespace as a container and join a network
    Attach(AttachArgs),
    /// Undo everything netctl did in an attached container (never kills it)
    Detach(NamesArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Return low-level information on one or more containers (JSON)
    Inspect(InspectArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Fetch the logs of a detached container
    Logs(LogsArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Restart one or more containers
    Restart(RestartArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Create a container and run a command in it
    Run(RunArgs),
    /// Start one or more stopped containers, detached
    Start(NamesArgs),
    /// Stop one or more running containers (SIGTERM, then SIGKILL)
    Stop(StopArgs),
    /// Display the running processes of a container
    Top(TopArgs),
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait for the container to stop before killing it [default: 10]
    #[arg(short = 't', long = "timeout", visible_alias = "time", value_name = "SECS")]
    pub timeout: Option<i64>,
    /// The containers: names, ids or unique id prefixes
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container, by name (KILL, SIGTERM, HUP) or number [default: KILL]
    #[arg(short, long, value_name = "SIGNAL")]
    pub signal: Option<String>,
    /// The containers: names, ids or unique id prefixes
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container to rename (name, id or id prefix)
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Its new name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, not taken by another container
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The container: its name, id or a unique id prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options for ps(1) [default: -ef], e.g. `-o pid,comm` or `aux`
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ps OPTIONS")]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Format the output: "json", or a template over Docker's fields, e.g.
    /// '{{.Server.Version}}' (version), '{{.ContainersRunning}}' (info)
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete in (source the output, or install it where the
    /// shell looks: install.sh does)
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages into (made if missing)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
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
    // Their about and long help are the argument structs' own.
    Connect(ConnectArgs),
    Disconnect(DisconnectArgs),
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Driver to manage the network: "bridge" (this host) or "overlay" (every host of
    /// the cluster, [cluster] in netctl.toml; README: Several hosts)
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

/// Connect a container to a network
///
/// The container gets an interface on NETWORK (eth1, eth2, … in the order it
/// joins), an address from the network's subnet (or --ip), and on a user-defined
/// network it resolves the other containers there by name, and they it, by its
/// name and each --alias. It may join several networks; a running container
/// joins at once.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  netctl network connect backend web\n  \
    netctl network connect --alias db --ip 172.18.0.10 backend postgres")]
pub struct ConnectArgs {
    /// Add a network-scoped alias for the container (repeatable)
    #[arg(long, value_name = "ALIAS")]
    pub alias: Vec<String>,
    /// IPv4 address on this network (e.g., "172.30.100.104"); the network needs a --subnet of its own
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// IPv6 address on this network (e.g., "2001:db8::33")
    #[arg(long, value_name = "IP")]
    pub ip6: Option<String>,
    /// The network to connect to: its name, id or a unique id prefix
    #[arg(value_name = "NETWORK")]
    pub network: String,
    /// The container to connect: its name, id or a unique id prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// Disconnect a container from a network
///
/// The container's interface on NETWORK goes, with its address and its names
/// there; its other networks stay.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  netctl network disconnect backend web")]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network: remove the record even if
    /// the container's namespace is gone
    #[arg(short, long)]
    pub force: bool,
    /// The network to disconnect from: its name, id or a unique id prefix
    #[arg(value_name = "NETWORK")]
    pub network: String,
    /// The container to disconnect: its name, id or a unique id prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// What `containers::container` serves of `netctl container` (the other
/// subcommands share the top-level commands' code).
#[derive(Debug)]
pub enum ContainerCommand {
    Attach(AttachArgs),
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
    /// Filter, e.g. name=web, id=, status=running|exited|created, network=, label=k[=v], exited=CODE, before=
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// "table", "json" (one object per line), or a Go template like
    /// 'table {{.ID}}\t{{.Names}}' (fields: ID, Names, Command, Status, State, Networks,
    /// Ports, Labels, CreatedAt, RunningFor, Image, Mounts, LocalVolumes, Size)
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
    #[arg(short = 't', long = "time", visible_alias = "timeout", default_value_t = 10, value_name = "SECS")]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent_and_its_help_fits_80_columns() {
        command().debug_assert();
        let help = command().render_help().to_string();
        assert!(help.lines().all(|l| l.chars().count() <= 80), "{help}");
        assert!(help.contains("Management Commands:\n  container   Manage containers\n"), "{help}");
    }
}
