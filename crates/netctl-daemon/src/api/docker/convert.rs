//! netctl's records in Docker's shapes: a network's inspect, a container's
//! summary and inspect document, its endpoints as `EndpointSettings`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use netctl_model::container::{Container, NetworkMode, Status};
use netctl_model::docker::container::{
    human_duration, Config, HostConfig, Inspect, Port, RestartPolicy, State, Summary, SummaryHostConfig,
    SummaryNetworkSettings,
};
use netctl_model::docker::network::{EndpointResource, EndpointSettings, Inspect as NetworkInspect};
use netctl_model::docker::{go_time, ZERO_TIME};
use netctl_model::Network;

use crate::daemon::Daemon;
use crate::registry::Registry;

pub fn network(registry: &Registry, net: &Network, with_containers: bool) -> NetworkInspect {
    let containers = if with_containers {
        registry
            .containers_on(&net.id)
            .filter_map(|c| {
                let ep = c.endpoint_on(&net.id)?;
                Some((
                    c.id.clone(),
                    EndpointResource {
                        name: c.name.clone(),
                        endpoint_id: ep.id.clone(),
                        mac_address: ep.mac.clone(),
                        ipv4_address: ep.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                        ipv6_address: ep.ipv6.map(|a| a.to_string()).unwrap_or_default(),
                    },
                ))
            })
            .collect()
    } else {
        BTreeMap::new()
    };
    NetworkInspect::of(net, containers)
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(go_time).unwrap_or_else(|| ZERO_TIME.into())
}

/// Each endpoint under its network's name.
fn endpoints(registry: &Registry, c: &Container) -> BTreeMap<String, EndpointSettings> {
    c.endpoints.iter().map(|ep| crate::views::endpoint_settings(registry, c, ep)).collect()
}

fn network_mode(registry: &Registry, c: &Container) -> String {
    match c.network_mode {
        NetworkMode::Host => "host".into(),
        NetworkMode::None => "none".into(),
        NetworkMode::Networks => c
            .endpoints
            .first()
            .and_then(|ep| registry.network(&ep.network_id))
            .map(|n| if n.builtin { "bridge".to_string() } else { n.name.clone() })
            .unwrap_or_else(|| "none".into()),
    }
}

/// `Up 5 minutes`, `Exited (0) 3 seconds ago`, `Created`: Docker's Status column.
fn status_text(c: &Container, now: DateTime<Utc>) -> String {
    let since = |t: Option<DateTime<Utc>>| human_duration(t.map(|t| (now - t).num_seconds()).unwrap_or(0));
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Running => format!("Up {}", since(c.state.started_at)),
        Status::Exited => format!("Exited ({}) {} ago", c.state.exit_code, since(c.state.finished_at)),
    }
}

fn ports(c: &Container) -> Vec<Port> {
    let mut out = Vec::new();
    for p in &c.exposed {
        let bound: Vec<_> = c.ports.iter().filter(|b| b.container == *p).collect();
        let (port, proto) = split_port(&p.to_string());
        if bound.is_empty() {
            out.push(Port { ip: String::new(), private_port: port, public_port: None, kind: proto.clone() });
        }
        for b in bound {
            out.push(Port {
                ip: b.host_ip_or_any().to_string(),
                private_port: port,
                public_port: Some(b.host_port),
                kind: proto.clone(),
            });
        }
    }
    out
}

/// `6379/tcp` → (6379, "tcp").
fn split_port(text: &str) -> (u16, String) {
    let (port, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    (port.parse().unwrap_or(0), proto.to_string())
}

pub fn summary(registry: &Registry, c: &Container) -> Summary {
    Summary {
        id: c.id.clone(),
        names: vec![format!("/{}", c.name)],
        image: String::new(),
        image_id: String::new(),
        command: c.process.cmd.join(" "),
        created: c.created.timestamp(),
        ports: ports(c),
        labels: c.labels.clone(),
        state: c.state.status.as_str().into(),
        status: status_text(c, Utc::now()),
        host_config: SummaryHostConfig { network_mode: network_mode(registry, c) },
        network_settings: SummaryNetworkSettings { networks: endpoints(registry, c) },
        mounts: Vec::new(),
    }
}

pub fn inspect(d: &Daemon, registry: &Registry, c: &Container) -> Inspect {
    // netctl's own view has the paths, ports and links already.
    let view = d.container_view(registry, c);
    Inspect {
        id: c.id.clone(),
        created: time(Some(c.created)),
        path: view.path,
        args: view.args,
        state: State {
            status: c.state.status.as_str().into(),
            running: c.is_running(),
            paused: false,
            restarting: false,
            oom_killed: false,
            dead: false,
            pid: c.state.pid,
            exit_code: c.state.exit_code,
            error: String::new(),
            started_at: time(c.state.started_at),
            finished_at: time(c.state.finished_at),
        },
        image: String::new(),
        resolv_conf_path: view.resolv_conf_path,
        hostname_path: view.hostname_path,
        hosts_path: view.hosts_path,
        log_path: view.log_path,
        name: format!("/{}", c.name),
        restart_count: 0,
        driver: String::new(),
        platform: "linux".into(),
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: None,
        host_config: HostConfig {
            network_mode: network_mode(registry, c),
            port_bindings: view.host_config.port_bindings,
            restart_policy: RestartPolicy { name: "no".into(), maximum_retry_count: 0 },
            auto_remove: c.process.auto_remove,
            dns: view.host_config.dns,
            dns_options: view.host_config.dns_options,
            dns_search: view.host_config.dns_search,
            links: view.host_config.links,
            publish_all_ports: false,
        },
        mounts: Vec::new(),
        config: Config {
            hostname: c.hostname.clone(),
            domainname: String::new(),
            user: String::new(),
            attach_stdin: c.process.interactive && !c.process.detach,
            attach_stdout: !c.process.detach,
            attach_stderr: !c.process.detach,
            exposed_ports: view.config.exposed_ports,
            tty: c.process.tty,
            open_stdin: c.process.interactive,
            stdin_once: false,
            env: c.process.env.clone(),
            cmd: c.process.cmd.clone(),
            image: String::new(),
            volumes: None,
            working_dir: c.process.workdir.clone().unwrap_or_default(),
            entrypoint: None,
            labels: c.labels.clone(),
        },
        // The same settings as netctl's own inspect, without its interface names.
        network_settings: view.network_settings.map_networks(|ep| ep.docker),
    }
}
