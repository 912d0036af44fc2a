//! How containers look through the API (Docker's inspect shape).

use std::collections::BTreeMap;

use netctl_model::api::EndpointInspect;
use netctl_model::api_containers::{
    ContainerConfigInspect, ContainerInspect, ContainerStateInspect, Empty, EndpointSettings,
    HostConfigInspect, HostPortInspect, NetworkSettingsInspect, PortMap,
};
use netctl_model::container::{Container, Endpoint, NetworkMode, Origin};

use crate::daemon::Daemon;
use crate::registry::Registry;
use crate::sandbox_files::SandboxFiles;

impl Daemon {
    pub(crate) fn container_view(&self, registry: &Registry, c: &Container) -> ContainerInspect {
        let files = SandboxFiles::new(&self.config.exec_root, &c.id);
        let own_files = c.origin == Origin::Netctl;
        let path_or_empty =
            |p: std::path::PathBuf| if own_files { p.display().to_string() } else { String::new() };
        let networks = c
            .endpoints
            .iter()
            .map(|ep| {
                let (name, settings) = endpoint_settings(registry, c, ep);
                (name, EndpointSettings { docker: settings, interface: ep.ifname.clone() })
            })
            .collect();
        ContainerInspect {
            id: c.id.clone(),
            name: format!("/{}", c.name),
            created: c.created,
            path: c.process.cmd.first().cloned().unwrap_or_default(),
            args: c.process.cmd.iter().skip(1).cloned().collect(),
            state: ContainerStateInspect {
                status: c.state.status.as_str().into(),
                running: c.is_running(),
                pid: c.state.pid,
                exit_code: c.state.exit_code,
                started_at: c.state.started_at,
                finished_at: c.state.finished_at,
            },
            config: ContainerConfigInspect {
                hostname: c.hostname.clone(),
                env: c.process.env.clone(),
                cmd: c.process.cmd.clone(),
                working_dir: c.process.workdir.clone().unwrap_or_default(),
                tty: c.process.tty,
                open_stdin: c.process.interactive,
                exposed_ports: c.exposed.iter().map(|p| (p.to_string(), Empty {})).collect(),
                labels: c.labels.clone(),
            },
            host_config: HostConfigInspect {
                network_mode: match c.network_mode {
                    NetworkMode::Host => "host".into(),
                    NetworkMode::None => "none".into(),
                    NetworkMode::Networks => c
                        .endpoints
                        .first()
                        .and_then(|ep| registry.network(&ep.network_id))
                        .map(|n| n.name.clone())
                        .unwrap_or_else(|| "none".into()),
                },
                auto_remove: c.process.auto_remove,
                dns: c.dns.servers.iter().map(|s| s.to_string()).collect(),
                dns_search: c.dns.search.clone(),
                dns_options: c.dns.options.clone(),
                port_bindings: port_map(c),
                links: legacy_links(registry, c),
            },
            resolv_conf_path: path_or_empty(files.resolv_conf()),
            hostname_path: path_or_empty(files.hostname()),
            hosts_path: path_or_empty(files.hosts()),
            log_path: if c.process.detach {
                self.log_path(&c.id).display().to_string()
            } else {
                String::new()
            },
            network_settings: NetworkSettingsInspect::of(
                c,
                networks,
                default_bridge(registry, c),
                port_map(c),
            ),
            origin: match c.origin {
                Origin::Netctl => "netctl".into(),
                Origin::Attached { .. } => "attached".into(),
            },
            cgroup_path: match c.origin {
                Origin::Netctl => self
                    .cgroups
                    .leaf(&c.id, crate::cgroups::CONTAINER_LEAF)
                    .filter(|p| p.is_dir())
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                Origin::Attached { .. } => String::new(),
            },
        }
    }
}

/// The container's endpoint on the default `bridge` network.
pub fn default_bridge<'a>(registry: &Registry, c: &'a Container) -> Option<&'a Endpoint> {
    c.endpoints.iter().find(|ep| registry.network(&ep.network_id).is_some_and(|n| n.builtin))
}

/// Whether the container's first network, the one `run --net` named, is the
/// default bridge: its `--link`s are then Docker's legacy links.
fn links_are_legacy(registry: &Registry, c: &Container) -> bool {
    c.endpoints.first().and_then(|ep| registry.network(&ep.network_id)).is_none_or(|n| n.builtin)
}

/// `HostConfig.Links`: `/redis-server:/web/redis` for each legacy link, as
/// Docker lists them; null on a user-defined network (the links are then in
/// that network's `EndpointSettings.Links`).
pub fn legacy_links(registry: &Registry, c: &Container) -> Option<Vec<String>> {
    (links_are_legacy(registry, c) && !c.links.is_empty()).then(|| {
        c.links
            .iter()
            .map(|l| {
                // The linked container's name now, as Docker's inspect has it after a rename.
                let child = registry.container(&l.container_id).map_or(&l.name, |ch| &ch.name);
                format!("/{child}:/{}/{}", c.name, l.alias)
            })
            .collect()
    })
}

/// One endpoint under its network's name, in Docker's shape: the one conversion
/// behind `netctl inspect`, the Engine API's inspect and its container list.
pub fn endpoint_settings(
    registry: &Registry,
    c: &Container,
    ep: &Endpoint,
) -> (String, netctl_model::docker::network::EndpointSettings) {
    let net = registry.network(&ep.network_id);
    let name = net.map(|n| n.name.clone()).unwrap_or_else(|| ep.network_id.clone());
    let first = c.endpoints.first().is_some_and(|f| f.id == ep.id);
    if c.links.iter().any(|l| registry.container(&l.container_id).is_some_and(|ch| ch.name != l.name)) {
        // A linked container renamed since: its name now, as in HostConfig.Links.
        let mut current = c.clone();
        for l in &mut current.links {
            if let Some(ch) = registry.container(&l.container_id) {
                l.name = ch.name.clone();
            }
        }
        return (name, netctl_model::docker::network::EndpointSettings::of(&current, ep, net, first));
    }
    (name, netctl_model::docker::network::EndpointSettings::of(c, ep, net, first))
}

/// Every exposed port, with its host sides if published.
fn port_map(c: &Container) -> PortMap {
    let mut map: PortMap = c.exposed.iter().map(|p| (p.to_string(), None)).collect();
    for b in &c.ports {
        map.entry(b.container.to_string()).or_insert(None).get_or_insert_with(Vec::new).push(
            HostPortInspect { host_ip: b.host_ip_or_any().to_string(), host_port: b.host_port.to_string() },
        );
    }
    map
}

/// `Containers` of `network inspect`.
pub fn network_containers(registry: &Registry, network_id: &str) -> BTreeMap<String, EndpointInspect> {
    registry
        .containers_on(network_id)
        .filter_map(|c| {
            let ep = c.endpoint_on(network_id)?;
            Some((
                c.id.clone(),
                EndpointInspect {
                    name: c.name.clone(),
                    endpoint_id: ep.id.clone(),
                    mac_address: ep.mac.clone(),
                    ipv4_address: ep.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                    ipv6_address: ep.ipv6.map(|a| a.to_string()).unwrap_or_default(),
                },
            ))
        })
        .collect()
}
