//! `netctl ps`, `inspect`, `logs`, `stop`, `start`, `rm`, `container attach|detach`.

use anyhow::Result;
use chrono::{DateTime, Utc};
use netctl_model::api_containers::{ContainerAttachRequest, ContainerCreateResponse, ContainerInspect};
use serde_json::{json, Value};

use super::network::{each, print_inspected};
use crate::cli::{AttachArgs, ContainerCommand, InspectArgs, LogsArgs, NamesArgs, PsArgs, RmArgs, StopArgs};
use crate::client::{seg, Client};
use crate::output::table;

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

pub async fn ps(client: &Client, args: PsArgs) -> Result<i32> {
    let list: Vec<ContainerInspect> =
        client.get(&format!("/v1/containers{}", if args.all { "?all=1" } else { "" })).await?;
    let now = Utc::now();
    let rows: Vec<Value> = list.iter().map(|c| ps_row(c, args.no_trunc, now)).collect();
    if args.quiet {
        rows.iter().for_each(|r| outln!("{}", r["ID"].as_str().unwrap_or_default()));
        return Ok(0);
    }
    match args.format.as_deref() {
        Some("json") => rows.iter().for_each(|r| outln!("{r}")),
        None | Some("table") => {
            let fields = ["ID", "Names", "Command", "Status", "Ports", "Networks"];
            let mut out = vec![vec![
                "CONTAINER ID".into(),
                "NAME".into(),
                "COMMAND".into(),
                "STATUS".into(),
                "PORTS".into(),
                "NETWORKS".into(),
            ]];
            for r in &rows {
                out.push(fields.iter().map(|f| r[*f].as_str().unwrap_or_default().to_string()).collect());
            }
            out!("{}", table::render(&out));
        }
        Some(t) => {
            for r in &rows {
                outln!("{}", crate::output::template::render(t, r)?);
            }
        }
    }
    Ok(0)
}

fn ps_row(c: &ContainerInspect, no_trunc: bool, now: DateTime<Utc>) -> Value {
    let mut command = c.config.cmd.join(" ");
    if !no_trunc && command.chars().count() > 20 {
        command = command.chars().take(19).collect::<String>() + "…";
    }
    let networks: Vec<&str> = c.network_settings.networks.keys().map(String::as_str).collect();
    json!({
        "ID": if no_trunc { c.id.clone() } else { c.id.chars().take(12).collect() },
        "Names": c.name.trim_start_matches('/'),
        "Command": format!("\"{command}\""),
        "CreatedAt": c.created.to_rfc3339(),
        "State": c.state.status,
        "Status": status_text(c, now),
        "Networks": networks.join(","),
        "Ports": super::ports::mappings(c).iter().map(|(c, h)| format!("{h}->{c}")).collect::<Vec<_>>().join(", "),
    })
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
    fn human_durations() {
        let d = chrono::TimeDelta::seconds;
        assert_eq!(human(d(0)), "Less than a second");
        assert_eq!(human(d(5)), "5 seconds");
        assert_eq!(human(d(90)), "About a minute");
        assert_eq!(human(d(600)), "10 minutes");
        assert_eq!(human(d(3 * 3600)), "3 hours");
    }
}
