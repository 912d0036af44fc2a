//! netctl-cni: a CNI plugin (spec 1.1.0; results also in 0.4.0 and 1.0.0) whose
//! backend is netctld. It never touches the kernel itself: ADD attaches the
//! runtime's namespace to a netctl network through the daemon's socket, so the
//! container gets netctl's names, aliases, published ports and isolation like
//! any other, and DEL/CHECK/GC find it again by the runtime's container id.
//!
//! Network config (`type` is this binary's name):
//! `{"cniVersion": "1.0.0", "name": "backend-network", "type": "netctl-cni",
//!   "network": "backend-network", "socket": "/run/netctl/netctl.sock",
//!   "capabilities": {"aliases": true, "portMappings": true, "ips": true, "mac": true}}`
//! (`network` defaults to `name`, `socket` to netctl's default).

mod args;
mod result;

use std::io::{Read, Write};

use netctl_client::Client;
use netctl_model::api_containers::{Attachment, AttachmentDetachRequest, ContainerAttachRequest};
use serde_json::{json, Value};

use args::{CniError, Config, Env};

/// What this plugin can answer in; results come in the config's version.
pub const SUPPORTED_VERSIONS: [&str; 3] = ["0.4.0", "1.0.0", "1.1.0"];

/// Attachment ids of CNI's attachments, apart from the OCI hook's (`oci/…`).
const KEY_PREFIX: &str = "cni/";

fn main() -> std::process::ExitCode {
    let env = Env::from_process();
    let mut stdin = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let version = serde_json::from_slice::<Value>(&stdin)
        .ok()
        .and_then(|v| v["cniVersion"].as_str().map(String::from))
        .unwrap_or_else(|| "1.1.0".into());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(&env, &stdin)) {
        Ok(Some(out)) => {
            let _ = writeln!(std::io::stdout(), "{out}");
            std::process::ExitCode::SUCCESS
        }
        Ok(None) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stdout(), "{}", e.to_json(&version));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(env: &Env, stdin: &[u8]) -> Result<Option<Value>, CniError> {
    let command = env.command.as_deref().ok_or_else(|| CniError::env("CNI_COMMAND is not set"))?;
    if command == "VERSION" {
        return Ok(Some(version_info(stdin)));
    }
    let config = Config::parse(stdin)?;
    let client = Client::new(&config.host())
        .map_err(|e| CniError::new(7, "invalid socket in the network config", e.to_string()))?;
    match command {
        "ADD" => add(env, &config, &client).await.map(Some),
        "DEL" => del(env, &config, &client).await.map(|()| None),
        "CHECK" => check(env, &config, &client).await.map(|()| None),
        "STATUS" => status(&config, &client).await.map(|()| None),
        "GC" => gc(&config, &client).await.map(|()| None),
        other => Err(CniError::env(format!("unknown CNI_COMMAND {other:?}"))),
    }
}

fn version_info(stdin: &[u8]) -> Value {
    let asked =
        serde_json::from_slice::<Value>(stdin).ok().and_then(|v| v["cniVersion"].as_str().map(String::from));
    let answer = asked.filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str())).unwrap_or_else(|| "1.1.0".into());
    json!({"cniVersion": answer, "supportedVersions": SUPPORTED_VERSIONS})
}

fn key(container_id: &str) -> String {
    format!("{KEY_PREFIX}{container_id}")
}

/// A daemon error as CNI's: unreachable is "try again later" (11), a missing
/// thing 3 (unknown container) or 7 (network config), the rest plugin-specific (100).
fn daemon_error(what: &str, e: anyhow::Error) -> CniError {
    let msg = format!("{e:#}");
    if let Some(api) = e.downcast_ref::<netctl_client::ApiError>() {
        let code = match api.status.as_u16() {
            404 => 3,
            400 => 7,
            _ => 100,
        };
        return CniError::new(code, what, api.message.clone());
    }
    if msg.contains("cannot connect to netctld") {
        return CniError::new(11, "netctld is not reachable", msg);
    }
    CniError::new(100, what, msg)
}

async fn add(env: &Env, config: &Config, client: &Client) -> Result<Value, CniError> {
    let container_id = env.require("CNI_CONTAINERID", &env.container_id)?;
    let netns = env.require("CNI_NETNS", &env.netns)?;
    let ifname = env.require("CNI_IFNAME", &env.ifname)?;
    let rc = config.runtime(env)?;
    let req = ContainerAttachRequest {
        name: env.container_name(),
        netns_path: Some(netns.to_string()),
        network: Some(config.network().to_string()),
        aliases: rc.aliases,
        ip_address: rc.ip,
        mac_address: rc.mac,
        ifname: Some(ifname.to_string()),
        port_bindings: rc.ports,
        attachment_id: Some(key(container_id)),
        ..Default::default()
    };
    let a: Attachment = client
        .post("/v1/containers/attach", &req)
        .await
        .map_err(|e| daemon_error(&format!("cannot attach to netctl network {}", config.network()), e))?;
    let ep = a
        .endpoints
        .iter()
        .find(|e| e.network == config.network() || e.network_id == config.network())
        .ok_or_else(|| {
        CniError::new(100, "netctld answered without the endpoint", config.network().to_string())
    })?;
    result::build(&config.cni_version, ep, &a.dns, netns, config.prev_result.as_ref())
}

async fn del(env: &Env, config: &Config, client: &Client) -> Result<(), CniError> {
    let container_id = env.require("CNI_CONTAINERID", &env.container_id)?;
    let req =
        AttachmentDetachRequest { attachment_id: key(container_id), network: Some(config.network().into()) };
    client
        .post_unit("/v1/attachments/detach", &req)
        .await
        .map_err(|e| daemon_error(&format!("cannot detach from netctl network {}", config.network()), e))
}

async fn check(env: &Env, config: &Config, client: &Client) -> Result<(), CniError> {
    let container_id = env.require("CNI_CONTAINERID", &env.container_id)?;
    env.require("CNI_NETNS", &env.netns)?;
    let ifname = env.require("CNI_IFNAME", &env.ifname)?;
    let path = format!(
        "/v1/attachments/check?id={}&network={}",
        netctl_client::seg(&key(container_id)),
        netctl_client::seg(config.network())
    );
    client.get_unit(&path).await.map_err(|e| daemon_error("check failed", e))?;
    let list: Vec<Attachment> = client
        .get(&format!("/v1/attachments?id={}", netctl_client::seg(&key(container_id))))
        .await
        .map_err(|e| daemon_error("check failed", e))?;
    let on_net = list.iter().flat_map(|a| &a.endpoints).find(|e| e.network == config.network());
    match on_net {
        Some(e) if e.ifname == ifname => Ok(()),
        Some(e) => {
            Err(CniError::new(100, "interface name differs", format!("{} is {} here", ifname, e.ifname)))
        }
        None => Err(CniError::new(
            3,
            "container unknown",
            format!("{container_id} is not on {}", config.network()),
        )),
    }
}

async fn status(config: &Config, client: &Client) -> Result<(), CniError> {
    let unavailable = |e: anyhow::Error| CniError::new(50, "netctld is not available", format!("{e:#}"));
    client.get_value("/v1/version").await.map_err(unavailable)?;
    client.get_value(&format!("/v1/networks/{}", netctl_client::seg(config.network()))).await.map_err(
        |e| {
            CniError::new(
                50,
                format!("netctl network {} is not available", config.network()),
                format!("{e:#}"),
            )
        },
    )?;
    Ok(())
}

async fn gc(config: &Config, client: &Client) -> Result<(), CniError> {
    let valid: Vec<(String, String)> =
        config.valid_attachments.iter().map(|a| (key(&a.container_id), a.ifname.clone())).collect();
    let list: Vec<Attachment> =
        client.get("/v1/attachments").await.map_err(|e| daemon_error("cannot list attachments", e))?;
    let mut failed = Vec::new();
    for a in &list {
        let Some(k) = a.attachment_id.as_deref().filter(|k| k.starts_with(KEY_PREFIX)) else { continue };
        for ep in a.endpoints.iter().filter(|e| e.network == config.network()) {
            if valid.iter().any(|(vk, vi)| vk == k && *vi == ep.ifname) {
                continue;
            }
            let req =
                AttachmentDetachRequest { attachment_id: k.to_string(), network: Some(ep.network.clone()) };
            if let Err(e) = client.post_unit("/v1/attachments/detach", &req).await {
                failed.push(format!("{k}: {e:#}"));
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CniError::new(100, "some stale attachments could not be removed", failed.join("; ")))
    }
}
