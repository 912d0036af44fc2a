//! The API's request parsing: any body as each JSON request type, then the
//! validation the daemon runs on it before touching anything (netctl-model's pure
//! functions: NetworkSpec::from_request, ports, MAC, hostname, names, DNS
//! settings, links), and any query string as `filters`. No panic, and what is
//! accepted holds together.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use netctl_model::api::{NetworkCreateRequest, NetworkInspect};
use netctl_model::api_containers::{
    ContainerAttachRequest, ContainerCreateRequest, NetworkConnectRequest, NetworkDisconnectRequest,
};
use netctl_model::container::{parse_mac, validate_hostname, DnsSettings};
use netctl_model::filter::NetworkFilters;
use netctl_model::ipam;
use netctl_model::links::parse_link;
use netctl_model::name::validate_name;
use netctl_model::network::NetworkSpec;
use netctl_model::ports::{parse_expose, parse_publish};

fn network(req: &NetworkCreateRequest) {
    let Ok(spec) = NetworkSpec::from_request(req) else { return };
    for (i, a) in spec.subnets.iter().enumerate() {
        assert!(a.subnet.contains(a.gateway), "gateway {} outside {}", a.gateway, a.subnet);
        for b in &spec.subnets[i + 1..] {
            assert!(!ipam::overlaps(&a.subnet, &b.subnet));
        }
    }
    let net = spec.into_network(format!("{:0>64}", 1), chrono::Utc::now(), 1500);
    let inspect = net.inspect(BTreeMap::new());
    serde_json::to_vec(&inspect).expect("an accepted network serializes");
}

fn container(req: &ContainerCreateRequest) {
    if let Some(name) = &req.name {
        let _ = validate_name("container", name);
    }
    if let Some(h) = &req.hostname {
        if validate_hostname(h).is_ok() {
            assert!(h.len() <= 64 && !h.is_empty());
        }
    }
    if let Some(mac) = &req.mac_address {
        let _ = parse_mac(mac);
    }
    for a in &req.aliases {
        let _ = validate_name("alias", a);
    }
    if let Some(ip) = &req.ip_address {
        let _ = ip.parse::<std::net::Ipv4Addr>();
    }
    let _ = DnsSettings::parse(&req.dns, &req.dns_search, &req.dns_options);
    for e in &req.exposed_ports {
        if let Ok(ports) = parse_expose(e) {
            assert!(!ports.is_empty() && ports.iter().all(|p| p.port > 0));
        }
    }
    for p in &req.port_bindings {
        if let Ok(bindings) = parse_publish(p) {
            assert!(!bindings.is_empty() && bindings.iter().all(|b| b.container.port > 0));
        }
    }
    for l in &req.links {
        if let Ok((name, alias)) = parse_link(l) {
            assert!(!name.is_empty() && validate_name("alias", &alias).is_ok());
        }
    }
}

fn inspects() -> &'static [NetworkInspect] {
    static NETS: OnceLock<Vec<NetworkInspect>> = OnceLock::new();
    NETS.get_or_init(|| {
        let req = NetworkCreateRequest {
            name: "backend".into(),
            labels: [("env".to_string(), "prod".to_string())].into_iter().collect(),
            ..Default::default()
        };
        let net = NetworkSpec::from_request(&req).unwrap().into_network(
            format!("{:a>64}", 1),
            chrono::Utc::now(),
            1500,
        );
        vec![net.inspect(BTreeMap::new())]
    })
}

/// `?filters=...` as the daemon reads it, and `-f key=value` lines as the CLI does.
fn filters(data: &[u8]) {
    for (key, value) in form_urlencoded::parse(data) {
        if key == "filters" {
            if let Ok(map) = serde_json::from_str::<BTreeMap<String, Vec<String>>>(&value) {
                if let Ok(f) = NetworkFilters::from_map(map) {
                    for n in inspects() {
                        let _ = f.matches(n, false);
                        let _ = f.matches(n, true);
                    }
                }
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(f) = NetworkFilters::parse_args(text.lines()) {
            for n in inspects() {
                let _ = f.matches(n, false);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<NetworkCreateRequest>(data) {
        network(&req);
    }
    if let Ok(req) = serde_json::from_slice::<ContainerCreateRequest>(data) {
        container(&req);
    }
    if let Ok(req) = serde_json::from_slice::<ContainerAttachRequest>(data) {
        let _ = validate_name("container", &req.name);
        if let Some(h) = &req.hostname {
            let _ = validate_hostname(h);
        }
        req.aliases.iter().for_each(|a| drop(validate_name("alias", a)));
    }
    if let Ok(req) = serde_json::from_slice::<NetworkConnectRequest>(data) {
        let aliases = req.endpoint_config.map(|e| e.aliases).unwrap_or_default();
        aliases.iter().for_each(|a| drop(validate_name("alias", a)));
    }
    let _ = serde_json::from_slice::<NetworkDisconnectRequest>(data);
    filters(data);
});
