//! ADD's result in the config's `cniVersion`: the bridge, the veth's host end
//! (so `bandwidth` after us finds it) and the container's interface; its
//! address, default route and netctl's resolver. A `prevResult` (we follow
//! another plugin) is kept and ours appended, interface indexes shifted.

use netctl_model::api_containers::{AttachedDns, AttachedEndpoint};
use serde_json::{json, Value};

use crate::args::CniError;

pub fn build(
    version: &str,
    ep: &AttachedEndpoint,
    dns: &AttachedDns,
    netns: &str,
    prev: Option<&Value>,
) -> Result<Value, CniError> {
    let mut interfaces: Vec<Value> = Vec::new();
    let mut ips: Vec<Value> = Vec::new();
    let mut routes: Vec<Value> = Vec::new();
    if let Some(prev) = prev {
        let list = |k: &str| prev[k].as_array().cloned().unwrap_or_default();
        interfaces = list("interfaces");
        ips = list("ips");
        routes = list("routes");
    }
    let base = interfaces.len();
    interfaces.push(json!({"name": ep.bridge}));
    interfaces.push(json!({"name": ep.host_ifname}));
    interfaces.push(json!({"name": ep.ifname, "mac": ep.mac_address, "sandbox": netns}));
    let mut ip = json!({"address": ep.ip_address, "interface": base + 2});
    if !ep.gateway.is_empty() {
        ip["gateway"] = json!(ep.gateway);
    }
    if version == "0.4.0" {
        ip["version"] = json!("4");
    }
    ips.push(ip);
    if ep.default_route && !ep.gateway.is_empty() {
        routes.push(json!({"dst": "0.0.0.0/0", "gw": ep.gateway}));
    }
    if ep.ip_address.is_empty() {
        return Err(CniError::new(100, "netctld gave the endpoint no address", ep.endpoint_id.clone()));
    }
    let mut dns_json = json!({"nameservers": dns.nameservers});
    if !dns.search.is_empty() {
        dns_json["search"] = json!(dns.search);
    }
    if !dns.options.is_empty() {
        dns_json["options"] = json!(dns.options);
    }
    Ok(json!({
        "cniVersion": version,
        "interfaces": interfaces,
        "ips": ips,
        "routes": routes,
        "dns": dns_json,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep() -> AttachedEndpoint {
        AttachedEndpoint {
            network: "n".into(),
            ifname: "eth0".into(),
            host_ifname: "veth1234567".into(),
            bridge: "br-abc".into(),
            mac_address: "02:42:ac:12:00:02".into(),
            ip_address: "172.18.0.2/16".into(),
            gateway: "172.18.0.1".into(),
            default_route: true,
            ..Default::default()
        }
    }

    fn dns() -> AttachedDns {
        AttachedDns {
            nameservers: vec!["127.0.0.11".into()],
            search: vec!["example.org".into()],
            options: vec![],
        }
    }

    #[test]
    fn result_1_0_0_and_0_4_0() {
        let r = build("1.0.0", &ep(), &dns(), "/run/netns/x", None).unwrap();
        assert_eq!(r["interfaces"][2]["sandbox"], "/run/netns/x");
        assert_eq!(r["ips"][0], json!({"address": "172.18.0.2/16", "gateway": "172.18.0.1", "interface": 2}));
        assert_eq!(r["routes"][0]["gw"], "172.18.0.1");
        assert_eq!(r["dns"], json!({"nameservers": ["127.0.0.11"], "search": ["example.org"]}));
        let old = build("0.4.0", &ep(), &dns(), "/run/netns/x", None).unwrap();
        assert_eq!(old["ips"][0]["version"], "4");
    }

    #[test]
    fn prev_result_is_kept() {
        let prev = json!({"cniVersion": "1.0.0", "interfaces": [{"name": "lo0"}],
            "ips": [{"address": "10.9.0.2/24", "interface": 0}], "routes": []});
        let r = build("1.0.0", &ep(), &dns(), "/run/netns/x", Some(&prev)).unwrap();
        assert_eq!(r["interfaces"].as_array().unwrap().len(), 4);
        assert_eq!(r["ips"][0]["address"], "10.9.0.2/24");
        assert_eq!(r["ips"][1]["interface"], 3);
    }
}
