//! `netctl ps`, `inspect`, `logs`, `stop`, `start`, `rm`, `container attach|detach`.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use chrono::{DateTime, Utc};
use netctl_model::api_containers::{ContainerAttachRequest, ContainerCreateResponse, ContainerInspect};
use serde_json::{json, Value};

use super::network::{each, print_inspected};
use crate::cli::{AttachArgs, ContainerCommand, InspectArgs, LogsArgs, NamesArgs, PsArgs, RmArgs, StopArgs};
use crate::client::{seg, Client};
use crate::output::format::Listing;
use crate::output::template::{Missing, Template};

pub async fn container(client: &Client, cmd: ContainerCommand) -> Result<i32> {
    match cmd {
        ContainerCommand::Attach(args) => attach(client, args).await,
        ContainerCommand::Detach(args) => {
            each(
                &args.containers,
                |c| async move { client.delete(&format!("/v1/containers/{}", seg(&c))).await },
            )
            .await
        }
    }
}

async fn attach(client: &Client, args: AttachArgs) -> Result<i32> {
    let req = ContainerAttachRequest {
        name: args.name,
        netns_path: args.netns.map(|p| p.display().to_string()),
        pid: args.pid,
        network: args.network,
        aliases: args.alias,
        hostname: args.hostname,
        ip_address: args.ip,
        mac_address: args.mac_address,
        port_bindings: args.publish,
        ..Default::default()
    };
    let resp: ContainerCreateResponse = client.post("/v1/containers/attach", &req).await?;
    outln!("{}", resp.id);
    Ok(0)
}

/// netctl's `ps` columns: Docker's, less IMAGE (netctl runs none), plus NETWORKS.
const PS_TABLE: &str =
    "table {{.ID}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Networks}}";
const PS_HEADERS: [(&str, &str); 14] = [
    ("ID", "CONTAINER ID"),
    ("Names", "NAMES"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Networks", "NETWORKS"),
];

pub async fn ps(client: &Client, args: PsArgs) -> Result<i32> {
    // As docker's: a --format is checked before anything is asked, against an
    // empty row; with -q, only ids are printed whatever the format.
    if let Some(f) = args.format.as_deref().filter(|f| !f.is_empty()) {
        Template::parse(f, Missing::Error).map_err(|e| anyhow!("failed to parse template: {e}"))?;
        let listing = Listing::new(Some(f), PS_TABLE)?;
        let empty: Value = PS_HEADERS.iter().map(|(k, _)| (k.to_string(), Value::from(""))).collect();
        listing.render(&[empty], &BTreeMap::new()).map_err(|e| anyhow!("failed to execute template: {e}"))?;
        if args.quiet {
            eprintln!("WARNING: Ignoring custom format, because both --format and --quiet are set.");
        }
    }
    let format = if args.quiet { Some("{{.ID}}") } else { args.format.as_deref() };
    let listing = Listing::new(format, PS_TABLE)?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    if args.all {
        query.append_pair("all", "1");
    }
    let filters = ps_filters(&args.filter)?;
    if !filters.is_empty() {
        query.append_pair("filters", &serde_json::to_string(&filters)?);
    }
    let list: Vec<ContainerInspect> = client.get(&format!("/v1/containers?{}", query.finish())).await?;
    let now = Utc::now();
    let rows: Vec<Value> = list.iter().map(|c| ps_row(c, args.no_trunc, now)).collect();
    out!("{}", listing.render(&rows, &PS_HEADERS.into())?);
    Ok(0)
}

/// `-f key=value` as docker's CLI reads it (key lower-cased, spaces trimmed),
/// values of one key gathered; the daemon applies them as Docker's does.
pub fn ps_filters(args: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in args {
        let (k, v) =
            f.split_once('=').ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        let key = k.trim().to_lowercase();
        if key == "ancestor" {
            bail!("the 'ancestor' filter does not apply: netctl runs no images");
        }
        filters.entry(key).or_default().push(v.trim().to_string());
    }
    Ok(filters)
}

/// One container as docker's `ps` formatter sees it (the fields that apply; Image,
/// Mounts and Size are those of a container without an image or volumes).
fn ps_row(c: &ContainerInspect, no_trunc: bool, now: DateTime<Utc>) -> Value {
    let mut command = c.config.cmd.join(" ");
    if !no_trunc && command.chars().count() > 20 {
        command = command.chars().take(19).collect::<String>() + "…";
    }
    let networks: Vec<&str> = c.network_settings.networks.keys().map(String::as_str).collect();
    json!({
        "ID": if no_trunc { c.id.clone() } else { c.id.chars().take(12).collect() },
        "Names": c.name.trim_start_matches('/'),
        "Image": "<no image>",
        "Command": serde_json::to_string(&command).unwrap_or_default(),
        "CreatedAt": c.created.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        "RunningFor": format!("{} ago", human(now - c.created)),
        "State": c.state.status,
        "Status": status_text(c, now),
        "Networks": networks.join(","),
        "Ports": ports_text(c),
        "Labels": "",
        "Mounts": "",
        "LocalVolumes": "0",
        "Size": "0B",
    })
}

/// Docker's PORTS column: `0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 53/udp`
/// (published ones first, then those only exposed).
fn ports_text(c: &ContainerInspect) -> String {
    let mut out: Vec<String> = super::ports::mappings(c)
        .iter()
        .map(|(port, host)| match host.rsplit_once(':') {
            Some((ip, p)) if ip.contains(':') => format!("[{ip}]:{p}->{port}"),
            _ => format!("{host}->{port}"),
        })
        .collect();
    for (port, hosts) in &c.network_settings.ports {
        if hosts.as_ref().is_none_or(Vec::is_empty) {
            out.push(port.clone());
        }
    }
    out.join(", ")
}

/// Docker's STATUS column: "Up 5 seconds", "Exited (0) 2 minutes ago", "Created".
pub fn status_text(c: &ContainerInspect, now: DateTime<Utc>) -> String {
    match c.state.status.as_str() {
        "running" => format!("Up {}", human(now - c.state.started_at.unwrap_or(c.created))),
        "exited" => format!(
            "Exited ({}) {} ago",
            c.state.exit_code,
            human(now - c.state.finished_at.unwrap_or(c.created))
        ),
        _ => "Created".into(),
    }
}

/// Go's units.HumanDuration, as docker prints ages.
pub fn human(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        _ if s < 3600 => format!("{} minutes", s / 60),
        _ if s < 7200 => "About an hour".into(),
        _ if s < 48 * 3600 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86400),
    }
}

pub async fn inspect(client: &Client, args: InspectArgs) -> Result<i32> {
    print_inspected(client, "container", "/v1/containers/", &args.containers, args.format.as_deref()).await
}

pub async fn logs(client: &Client, args: LogsArgs) -> Result<i32> {
    let q = if args.follow { "?follow=1" } else { "" };
    client
        .stream(&format!("/v1/containers/{}/logs{q}", seg(&args.container)), &mut std::io::stdout())
        .await?;
    Ok(0)
}

pub async fn stop(client: &Client, args: StopArgs) -> Result<i32> {
    let t = args.time;
    each(&args.containers, |c| async move {
        client.post_unit(&format!("/v1/containers/{}/stop?t={t}", seg(&c)), &json!({})).await
    })
    .await
}

pub async fn start(client: &Client, args: NamesArgs) -> Result<i32> {
    each(&args.containers, |c| async move {
        client.post_unit(&format!("/v1/containers/{}/start", seg(&c)), &json!({})).await
    })
    .await
}

pub async fn rm(client: &Client, args: RmArgs) -> Result<i32> {
    let q = if args.force { "?force=1" } else { "" };
    each(&args.containers, |c| async move { client.delete(&format!("/v1/containers/{}{q}", seg(&c))).await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_filters_are_read_as_dockers_cli_reads_them() {
        let f = ps_filters(&[" Name = web".into(), "name=db".into(), "status=exited".into()]).unwrap();
        assert_eq!(f["name"], ["web", "db"]);
        assert_eq!(f["status"], ["exited"]);
        assert!(ps_filters(&["name".into()]).unwrap_err().to_string().contains("expected name=value"));
        assert!(ps_filters(&["ancestor=busybox".into()])
            .unwrap_err()
            .to_string()
            .contains("netctl runs no images"));
    }

    #[test]
    fn human_durations() {
        let d = chrono::TimeDelta::seconds;
        assert_eq!(human(d(0)), "Less than a second");
        assert_eq!(human(d(5)), "5 seconds");
        assert_eq!(human(d(90)), "About a minute");
        assert_eq!(human(d(600)), "10 minutes");
        assert_eq!(human(d(3 * 3600)), "3 hours");
    }
}
