//! `_ping`, `version`, `info`: what the docker CLI asks before anything else
//! (`_ping` settles the API version) and what `docker version`/`info` print.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use netctl_model::docker::system::{
    AddressPool, Component, ComponentDetails, Info, Platform, Plugins, Swarm, Version,
};
use netctl_model::docker::{version_text, MAX_API_VERSION, MIN_API_VERSION};

use crate::daemon::Daemon;

/// `GET`/`HEAD /_ping`: `OK` and the headers the CLI negotiates with.
pub async fn ping(method: Method) -> Response {
    let body = if method == Method::HEAD { "" } else { "OK" };
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::PRAGMA, "no-cache"),
            (header::HeaderName::from_static("docker-experimental"), "false"),
            (header::HeaderName::from_static("ostype"), "linux"),
            (header::HeaderName::from_static("builder-version"), "1"),
            (header::HeaderName::from_static("swarm"), "inactive"),
        ],
        body,
    )
        .into_response()
}

fn uname() -> (String, String) {
    match nix::sys::utsname::uname() {
        Ok(u) => (u.release().to_string_lossy().into_owned(), u.machine().to_string_lossy().into_owned()),
        Err(_) => (String::new(), String::new()),
    }
}

/// Docker's names for the machine: `amd64`, `arm64`.
fn go_arch(machine: &str) -> String {
    match machine {
        "x86_64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.into(),
    }
}

pub async fn version() -> Json<Version> {
    let (kernel, machine) = uname();
    let arch = go_arch(&machine);
    let api = version_text(MAX_API_VERSION);
    let min = version_text(MIN_API_VERSION);
    let v = env!("CARGO_PKG_VERSION").to_string();
    Json(Version {
        platform: Platform { name: "netctl".into() },
        components: vec![Component {
            name: "Engine".into(),
            version: v.clone(),
            details: ComponentDetails {
                api_version: api.clone(),
                arch: arch.clone(),
                experimental: "false".into(),
                kernel_version: kernel.clone(),
                min_api_version: min.clone(),
                os: "linux".into(),
            },
        }],
        version: v,
        api_version: api,
        min_api_version: min,
        git_commit: String::new(),
        go_version: String::new(),
        os: "linux".into(),
        arch,
        kernel_version: kernel,
        build_time: String::new(),
    })
}

pub async fn info(State(d): State<Arc<Daemon>>) -> Json<Info> {
    let (total, running) = {
        let registry = d.registry.lock().await;
        (registry.containers().count(), registry.containers().filter(|c| c.is_running()).count())
    };
    let (kernel, machine) = uname();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
        })
        .unwrap_or_else(|| "Linux".into());
    let mem_total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
            })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0);
    let name = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    Json(Info {
        id: String::new(),
        containers: total,
        containers_running: running,
        containers_paused: 0,
        containers_stopped: total - running,
        images: 0,
        driver: String::new(),
        plugins: Plugins {
            volume: Vec::new(),
            network: if d.cluster.is_some() {
                vec!["bridge".into(), "host".into(), "null".into(), "overlay".into()]
            } else {
                vec!["bridge".into(), "host".into(), "null".into()]
            },
            authorization: None,
            log: vec!["json-file".into()],
        },
        n_goroutines: 0,
        system_time: netctl_model::docker::go_time(chrono::Utc::now()),
        logging_driver: "json-file".into(),
        cgroup_driver: if d.cgroups.available() { "cgroupfs".into() } else { "none".into() },
        cgroup_version: if d.cgroups.available() { "2".into() } else { String::new() },
        n_events_listener: d.events.listeners(),
        kernel_version: kernel,
        operating_system: os,
        os_type: "linux".into(),
        architecture: machine,
        ncpu: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        mem_total,
        docker_root_dir: d.config.data_root.display().to_string(),
        name,
        labels: Vec::new(),
        experimental_build: false,
        server_version: env!("CARGO_PKG_VERSION").into(),
        swarm: Swarm {
            node_id: String::new(),
            node_addr: String::new(),
            local_node_state: "inactive".into(),
            control_available: false,
            error: String::new(),
            remote_managers: None,
        },
        default_address_pools: d
            .config
            .network
            .default_address_pools
            .iter()
            .map(|p| AddressPool { base: p.base.to_string(), size: p.size })
            .collect(),
        warnings: Vec::new(),
        cluster: d.cluster.as_ref().map(|c| c.status_line()),
        dns: Some(d.kernel_dns.status_line()),
    })
}
