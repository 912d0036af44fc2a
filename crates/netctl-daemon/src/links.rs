//! Legacy links: resolving `--link NAME[:ALIAS]` when a container is made, the
//! linker's /etc/hosts lines, and keeping them current when the linked container's
//! address changes. On the default network a link is environment variables and a
//! hosts line (there is no DNS there); on a user-defined network it is a name only
//! the linker's resolver answers, as in Docker.

use std::net::IpAddr;

use netctl_dns::zone::LinkNames;
use netctl_model::container::{Container, NetworkMode};
use netctl_model::links::{hosts_line, link_env, parse_link, Link, LinkTarget};
use netctl_model::{ModelError, Network};

use crate::daemon::Daemon;
use crate::error::{conflict, Result};
use crate::registry::Registry;
use crate::sandbox_files::{hosts_file, SandboxFiles};

/// The links of a new container and the variables they give it.
pub(crate) struct ResolvedLinks {
    pub links: Vec<Link>,
    pub env: Vec<String>,
}

pub(crate) fn resolve_links(
    registry: &Registry,
    linker_name: &str,
    mode: &NetworkMode,
    network: Option<&Network>,
    specs: &[String],
) -> Result<ResolvedLinks> {
    let mut out = ResolvedLinks { links: Vec::new(), env: Vec::new() };
    if specs.is_empty() {
        return Ok(out);
    }
    let Some(net) = network.filter(|_| *mode == NetworkMode::Networks) else {
        return Err(ModelError::invalid(
            "conflicting options: --link needs a network (not --net host or none)",
        )
        .into());
    };
    for spec in specs {
        let (name, alias) = parse_link(spec)?;
        let child = registry
            .container_by_name(&name)
            .or_else(|| registry.find_container(&name).ok())
            .ok_or_else(|| ModelError::not_found(format!("could not get container for {name}")))?;
        if !child.is_running() {
            return Err(conflict(format!(
                "Cannot link to a non running container: /{} AS /{linker_name}/{alias}",
                child.name
            )));
        }
        if out.links.iter().any(|l| l.alias == alias) {
            return Err(ModelError::invalid(format!("duplicate link alias {alias:?}")).into());
        }
        if net.builtin {
            let ip = child.endpoint_on(&net.id).and_then(|e| e.ipv4).map(|a| a.ip()).ok_or_else(|| {
                conflict(format!(
                    "Cannot link to /{}, as it does not belong to the default network",
                    child.name
                ))
            })?;
            let mut ports = child.exposed.clone();
            ports.extend(child.ports.iter().map(|b| b.container));
            out.env.extend(link_env(&LinkTarget {
                linker_name,
                alias: &alias,
                ip,
                ports,
                env: &child.process.user_env,
            }));
        }
        out.links.push(Link { container_id: child.id.clone(), name: child.name.clone(), alias });
    }
    Ok(out)
}

/// The addresses of `child` on the networks it shares with `c`.
fn shared_addresses(c: &Container, child: &Container) -> Vec<IpAddr> {
    c.endpoints
        .iter()
        .filter_map(|mine| child.endpoint_on(&mine.network_id))
        .flat_map(|e| e.ipv4.iter().chain(e.ipv6.iter()).map(|a| a.ip()))
        .collect()
}

impl Daemon {
    /// The container's /etc/hosts: localhost lines, its links (on the default
    /// network), its own addresses.
    pub(crate) fn hosts_for(&self, registry: &Registry, c: &Container) -> String {
        let mut lines = String::new();
        for link in &c.links {
            let Some(child) = registry.container(&link.container_id) else { continue };
            let on_default = |e: &&netctl_model::container::Endpoint| {
                registry.network(&e.network_id).is_some_and(|n| n.builtin)
            };
            let shared =
                c.endpoints.iter().filter(on_default).find_map(|mine| child.endpoint_on(&mine.network_id));
            if let Some(ip) = shared.and_then(|e| e.ipv4).map(|a| a.ip()) {
                lines.push_str(&hosts_line(ip, &link.alias, &child.hostname, &child.name));
            }
        }
        hosts_file(c, &lines)
    }

    /// Link aliases of `c` on user-defined networks, for its resolver view.
    pub(crate) fn link_names(&self, registry: &Registry, c: &Container) -> LinkNames {
        let mut names = LinkNames::default();
        for link in &c.links {
            let Some(child) = registry.container(&link.container_id).filter(|ch| ch.answers_names()) else {
                continue;
            };
            let addrs = shared_addresses(c, child);
            if !addrs.is_empty() {
                names.insert(link.alias.to_ascii_lowercase(), addrs);
            }
        }
        names
    }

    /// The linked container `changed` got or lost an address: its linkers' hosts
    /// files are rewritten in place.
    pub(crate) fn refresh_linkers(&self, registry: &Registry, changed: &str) {
        for c in registry.containers().filter(|c| c.links.iter().any(|l| l.container_id == changed)) {
            let files = SandboxFiles::new(&self.config.exec_root, &c.id);
            if files.dir.is_dir() {
                if let Err(e) = files.write_hosts(c, &self.hosts_for(registry, c)) {
                    tracing::warn!(container = %c.name, error = %e, "cannot update the hosts file of a linker");
                }
            }
        }
    }
}
