//! `netctl oci-hook [createRuntime|poststop]`: the OCI runtime spec's hooks, for
//! runc, crun, podman and CRI-O. The runtime runs them in its own namespaces
//! with only the environment the hook entry lists, and the container's state
//! JSON (`id`, `pid`, `bundle`, `annotations`) on stdin.
//!
//! createRuntime joins `/proc/PID/ns/net` to the networks of the annotation
//! `io.netctl.networks` and writes resolv.conf and hosts into the root file
//! system as the container will see it (through `/proc/PID/root`, so a file the
//! runtime bind-mounted there is the one written). Without the annotation it
//! does nothing. poststop removes the attachment; it is idempotent and never
//! fails the runtime. Without a stage argument the state's `status` decides
//! (`stopped` is poststop), so one hooks.d file serves both stages.
//!
//! Annotations:
//! - `io.netctl.networks=backend-network,frontend-network` (required)
//! - `io.netctl.aliases=db,cache` (first network) or `net:alias,...` entries
//! - `io.netctl.ports=8080:80,5353:53/udp` (`-p` syntax, comma-separated)
//! - `io.netctl.name=NAME` (default: the state's id), `io.netctl.hostname=H`
//!   (default: config.json's `hostname`, else the short id)
//! - `io.netctl.ip=ADDR` (first network) or `net:ADDR` entries

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use netctl_model::api_containers::{
    AttachNetwork, Attachment, AttachmentDetachRequest, ContainerAttachRequest,
};
use serde::Deserialize;

use crate::cli::OciHookArgs;
use crate::client::Client;

pub const NETWORKS: &str = "io.netctl.networks";
const ALIASES: &str = "io.netctl.aliases";
const PORTS: &str = "io.netctl.ports";
const NAME: &str = "io.netctl.name";
const HOSTNAME: &str = "io.netctl.hostname";
const IP: &str = "io.netctl.ip";

/// Attachment ids of the hook's attachments, apart from CNI's (`cni/…`).
const KEY_PREFIX: &str = "oci/";

#[derive(Debug, Deserialize)]
struct State {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    bundle: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

pub async fn oci_hook(client: &Client, args: OciHookArgs) -> Result<i32> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("read the container state from stdin")?;
    let state: State =
        serde_json::from_str(&text).context("the container state on stdin is not OCI state JSON")?;
    let stage = match args.stage.as_deref() {
        Some(s) => s.to_string(),
        None if state.status == "stopped" || state.pid == 0 => "poststop".into(),
        None => "createRuntime".into(),
    };
    match stage.as_str() {
        // prestart is createRuntime's deprecated predecessor, called at the same point.
        "createRuntime" | "prestart" => create_runtime(client, &state).await,
        "poststop" => {
            // Never fails the runtime: the container is gone either way, and the
            // daemon's monitor removes what is left when the namespace goes.
            if let Err(e) = poststop(client, &state).await {
                eprintln!("netctl oci-hook poststop: {e:#}");
            }
            Ok(0)
        }
        other => bail!("unknown hook stage {other:?}: createRuntime or poststop"),
    }
}

fn key(id: &str) -> String {
    format!("{KEY_PREFIX}{id}")
}

async fn poststop(client: &Client, state: &State) -> Result<()> {
    if !state.annotations.contains_key(NETWORKS) {
        return Ok(());
    }
    client
        .post_unit(
            "/v1/attachments/detach",
            &AttachmentDetachRequest { attachment_id: key(&state.id), network: None },
        )
        .await
}

/// `a,b` → entries; `net:value` entries go to that network, the rest to the first.
fn per_network(list: &str, networks: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (net, value) = match item.split_once(':') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (networks[0].clone(), item.to_string()),
        };
        if !networks.contains(&net) {
            bail!("{item:?} names network {net}, which is not in {NETWORKS}");
        }
        out.entry(net).or_default().push(value);
    }
    Ok(out)
}

fn request(state: &State, config_hostname: Option<String>) -> Result<ContainerAttachRequest> {
    let a = &state.annotations;
    let networks: Vec<String> =
        a[NETWORKS].split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    if networks.is_empty() {
        bail!("annotation {NETWORKS} names no network");
    }
    let aliases = per_network(a.get(ALIASES).map(String::as_str).unwrap_or(""), &networks)?;
    let ips = per_network(a.get(IP).map(String::as_str).unwrap_or(""), &networks)?;
    let one_ip = |net: &str| -> Result<Option<String>> {
        match ips.get(net).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([ip]) => Ok(Some(ip.clone())),
            Some(_) => bail!("{IP} gives network {net} more than one address"),
        }
    };
    let nets = networks
        .iter()
        .map(|n| {
            Ok(AttachNetwork {
                name: n.clone(),
                aliases: aliases.get(n).cloned().unwrap_or_default(),
                ip_address: one_ip(n)?,
                ..Default::default()
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ContainerAttachRequest {
        name: a.get(NAME).cloned().unwrap_or_else(|| state.id.clone()),
        pid: Some(state.pid),
        networks: nets,
        port_bindings: a
            .get(PORTS)
            .map(|p| p.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
            .unwrap_or_default(),
        hostname: a.get(HOSTNAME).cloned().or(config_hostname),
        attachment_id: Some(key(&state.id)),
        ..Default::default()
    })
}

#[derive(Debug, Default, Deserialize)]
struct BundleConfig {
    #[serde(default)]
    root: Option<Root>,
    #[serde(default)]
    hostname: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Root {
    path: String,
}

async fn create_runtime(client: &Client, state: &State) -> Result<i32> {
    if !state.annotations.contains_key(NETWORKS) {
        return Ok(0);
    }
    if state.pid == 0 {
        bail!("the state has no pid: is this hook registered for createRuntime?");
    }
    let bundle = PathBuf::from(&state.bundle);
    let config: BundleConfig = match std::fs::read(bundle.join("config.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes).context("parse the bundle's config.json")?,
        Err(_) => BundleConfig::default(),
    };
    let req = request(state, config.hostname.clone().filter(|h| !h.is_empty()))?;
    let attached: Attachment = client.post("/v1/containers/attach", &req).await?;
    let root = config.root.map(|r| bundle.join(r.path)).unwrap_or_else(|| bundle.join("rootfs"));
    if let Err(e) = write_files(state.pid, &root, &attached) {
        // A container that would start without its names is worse than none.
        let undo = AttachmentDetachRequest { attachment_id: key(&state.id), network: None };
        let _ = client.post_unit("/v1/attachments/detach", &undo).await;
        return Err(e);
    }
    Ok(0)
}

/// The root as the container's mount namespace has it: the runtime mounted the
/// rootfs (and maybe its own /etc files) there, and has not pivoted yet.
fn write_files(pid: u32, root: &Path, a: &Attachment) -> Result<()> {
    let seen = PathBuf::from(format!("/proc/{pid}/root")).join(root.strip_prefix("/").unwrap_or(root));
    let base = if seen.is_dir() { seen } else { root.to_path_buf() };
    let etc = base.join("etc");
    std::fs::create_dir_all(&etc).with_context(|| format!("create {}", etc.display()))?;
    for (name, text) in [("resolv.conf", &a.resolv_conf), ("hosts", &a.hosts)] {
        let path = etc.join(name);
        // A symlink would resolve against the host's root here: replace it.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            std::fs::remove_file(&path).with_context(|| format!("remove the symlink {}", path.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| anyhow!("write {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(annotations: &[(&str, &str)]) -> State {
        State {
            id: "c1".into(),
            status: "creating".into(),
            pid: 42,
            bundle: "/b".into(),
            annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn annotations_become_the_attach_request() {
        let s = state(&[
            (NETWORKS, "backend-network, frontend-network"),
            (ALIASES, "db,frontend-network:web"),
            (PORTS, "8080:80,5353:53/udp"),
            (IP, "frontend-network:172.30.0.9"),
        ]);
        let r = request(&s, Some("h".into())).unwrap();
        assert_eq!(r.name, "c1");
        assert_eq!(r.attachment_id.as_deref(), Some("oci/c1"));
        assert_eq!(r.networks.len(), 2);
        assert_eq!(r.networks[0].aliases, ["db"]);
        assert_eq!(r.networks[1].aliases, ["web"]);
        assert_eq!(r.networks[1].ip_address.as_deref(), Some("172.30.0.9"));
        assert_eq!(r.port_bindings, ["8080:80", "5353:53/udp"]);
        assert_eq!(r.hostname.as_deref(), Some("h"));
        assert!(request(&state(&[(NETWORKS, "a"), (ALIASES, "b:x")]), None).is_err());
        assert!(request(&state(&[(NETWORKS, " , ")]), None).is_err());
    }
}
