//! `netctl port` and `netctl firewall`.

use anyhow::{bail, Result};
use netctl_model::api_containers::ContainerInspect;
use serde_json::json;

use crate::cli::PortArgs;
use crate::client::{seg, Client};

/// (`3000/tcp`, `0.0.0.0:3000`) for each published host side, in port order.
pub fn mappings(c: &ContainerInspect) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (port, hosts) in &c.network_settings.ports {
        for h in hosts.iter().flatten() {
            out.push((port.clone(), format!("{}:{}", h.host_ip, h.host_port)));
        }
    }
    out.sort_by_key(|(port, _)| {
        let (n, proto) = port.split_once('/').unwrap_or((port, "tcp"));
        (proto.to_string(), n.parse::<u32>().unwrap_or(0))
    });
    out
}

pub async fn port(client: &Client, args: PortArgs) -> Result<i32> {
    let c: ContainerInspect = client.get(&format!("/v1/containers/{}", seg(&args.container))).await?;
    let all = mappings(&c);
    match args.port {
        None => all.iter().for_each(|(port, host)| outln!("{port} -> {host}")),
        Some(wanted) => {
            let wanted = if wanted.contains('/') { wanted } else { format!("{wanted}/tcp") };
            let hosts: Vec<&String> = all.iter().filter(|(p, _)| *p == wanted).map(|(_, h)| h).collect();
            if hosts.is_empty() {
                bail!("no public port '{wanted}' published for {}", args.container);
            }
            hosts.iter().for_each(|h| outln!("{h}"));
        }
    }
    Ok(0)
}

pub async fn firewall_reload(client: &Client) -> Result<i32> {
    client.post_unit("/v1/firewall/reload", &json!({})).await?;
    Ok(0)
}
