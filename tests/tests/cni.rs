//! The CNI plugin driven as a runtime drives it (issue 14): CNI_* environment,
//! the network config on stdin, the result or CNI's error JSON on stdout; all six
//! commands, chained after by Debian's tuning, bandwidth and firewall plugins.

use netctl_tests::{Out, Sandbox};
use serde_json::{json, Value};

/// Runs `netctl-cni` with `command`, `env` (`K=V ...`) and `config` on stdin.
fn cni(sb: &Sandbox, command: &str, env: &str, config: &Value) -> Out {
    cni_plugin(sb, "netctl-cni", command, env, config)
}

fn cni_plugin(sb: &Sandbox, plugin: &str, command: &str, env: &str, config: &Value) -> Out {
    let text = config.to_string().replace('\'', "'\\''");
    sb.sh(&format!(
        "printf '%s' '{text}' | env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND={command} CNI_PATH=/usr/lib/cni {env} $(command -v {plugin} || echo /usr/lib/cni/{plugin})"
    ))
}

fn conf(name: &str, runtime: Value) -> Value {
    json!({"cniVersion": "1.0.0", "name": name, "type": "netctl-cni", "runtimeConfig": runtime})
}

fn dig_in(sb: &Sandbox, ns: &str, name: &str) -> String {
    sb.sh(&format!("ip netns exec {ns} dig +short +tries=1 +time=2 @127.0.0.11 {name}"))
        .stdout
        .trim()
        .to_string()
}

const C1: &str =
    "CNI_CONTAINERID=abc123 CNI_NETNS=/run/netns/c1 CNI_ARGS='IgnoreUnknown=1;K8S_POD_NAME=redis'";

#[test]
fn cni_add_check_del_gc_status_version() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create backend-network").ok();
    sb.netctl("network create frontend-network").ok();
    sb.sh("ip netns add c1 && ip netns add c2").ok();

    // VERSION needs no daemon and no network config.
    let v = cni(&sb, "VERSION", "", &json!({"cniVersion": "1.1.0"})).ok().json();
    assert_eq!(v["supportedVersions"], json!(["0.4.0", "1.0.0", "1.1.0"]));

    // ADD as podman 4.3.1 sends it: the aliases map, a port mapping, the pod name.
    let runtime = json!({"aliases": {"backend-network": ["db", "0123456789ab"]},
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""}]});
    let r = cni(&sb, "ADD", &format!("{C1} CNI_IFNAME=eth0"), &conf("backend-network", runtime)).ok().json();
    assert_eq!(r["cniVersion"], "1.0.0");
    assert_eq!(r["ips"][0]["address"], "172.18.0.2/16", "{r}");
    assert_eq!(r["ips"][0]["gateway"], "172.18.0.1");
    assert!(r["ips"][0].get("version").is_none(), "1.0.0 has no ips[].version");
    let idx = r["ips"][0]["interface"].as_u64().unwrap() as usize;
    assert_eq!(r["interfaces"][idx]["name"], "eth0");
    assert_eq!(r["interfaces"][idx]["sandbox"], "/run/netns/c1");
    assert_eq!(r["routes"][0], json!({"dst": "0.0.0.0/0", "gw": "172.18.0.1"}));
    assert_eq!(r["dns"]["nameservers"], json!(["127.0.0.11"]));
    let mac = r["interfaces"][idx]["mac"].as_str().unwrap().to_string();
    let link = sb.sh("ip -n c1 -j addr show eth0").ok().json();
    assert_eq!(link[0]["address"], mac.as_str());
    assert_eq!(link[0]["addr_info"][0]["local"], "172.18.0.2");

    // An attached container of netctl, named after K8S_POD_NAME: ps, names, aliases.
    let ps = sb.netctl("ps --format json").ok().stdout;
    assert!(ps.contains("\"Names\":\"redis\""), "{ps}");
    assert_eq!(sb.netctl("inspect redis").ok().json()[0]["Origin"], "attached");
    let seen = sb.netctl("run --rm --net backend-network -- dig +short +tries=1 redis db").ok().stdout;
    assert_eq!(seen.trim(), "172.18.0.2\n172.18.0.2", "{seen}");
    assert_eq!(dig_in(&sb, "c1", "db"), "172.18.0.2");
    // The port mapping is published by netctl.
    sb.sh("ip netns exec c1 sh -c 'cd /tmp && setsid python3 -m http.server 80 >/dev/null 2>&1 &'").ok();
    assert!(sb.curl("", "http://127.0.0.1:8080/").ok().stdout.contains("Directory listing"));

    // A second ADD for the same container: another network, as eth1; the
    // result's version follows this config's (0.4.0 has ips[].version).
    let mut fe = conf("frontend-network", json!({"aliases": ["web"]}));
    fe["cniVersion"] = json!("0.4.0");
    let r2 = cni(&sb, "ADD", &format!("{C1} CNI_IFNAME=eth1"), &fe).ok().json();
    assert_eq!(r2["cniVersion"], "0.4.0");
    assert_eq!(r2["ips"][0]["address"], "172.19.0.2/16");
    assert_eq!(r2["ips"][0]["version"], "4");
    assert_eq!(r2["routes"], json!([]), "the default route stays on eth0");
    assert!(sb.sh("ip -n c1 -br addr show eth1").ok().stdout.contains("172.19.0.2/16"));
    assert_eq!(dig_in(&sb, "c1", "web"), "172.19.0.2");
    let nets = sb.netctl("inspect redis").ok().json()[0]["NetworkSettings"]["Networks"].clone();
    assert_eq!(nets.as_object().unwrap().len(), 2);

    // Attachments are state like any other: a restart keeps them and their keys.
    sb.restart_daemon();
    assert_eq!(dig_in(&sb, "c1", "web"), "172.19.0.2");

    // CHECK: fine, then not once the address is gone.
    cni(&sb, "CHECK", &format!("{C1} CNI_IFNAME=eth1"), &fe).ok();
    sb.sh("ip -n c1 addr flush dev eth1").ok();
    let bad = cni(&sb, "CHECK", &format!("{C1} CNI_IFNAME=eth1"), &fe).fail().json();
    assert!(bad["code"].as_u64().unwrap() >= 100, "{bad}");
    assert!(bad["details"].as_str().unwrap().contains("lacks its address"), "{bad}");
    let unknown =
        cni(&sb, "CHECK", "CNI_CONTAINERID=nope CNI_NETNS=/run/netns/c1 CNI_IFNAME=eth0", &fe).fail();
    assert_eq!(unknown.json()["code"], 3);

    // DEL of one network leaves the other; twice is fine.
    cni(&sb, "DEL", &format!("{C1} CNI_IFNAME=eth1"), &fe).ok();
    assert!(sb.sh("ip -n c1 link show eth1").code != 0);
    assert_eq!(dig_in(&sb, "c1", "web"), "");
    cni(&sb, "DEL", &format!("{C1} CNI_IFNAME=eth1"), &fe).ok();
    assert_eq!(dig_in(&sb, "c1", "db"), "172.18.0.2");

    // GC: attachments on the network that are not listed as valid go.
    let c2 = "CNI_CONTAINERID=def456 CNI_NETNS=/run/netns/c2 CNI_IFNAME=eth0";
    // (with the ips and mac capabilities)
    let fixed = json!({"ips": ["172.18.0.50/16"], "mac": "02:42:ac:12:00:32"});
    let r3 = cni(&sb, "ADD", c2, &conf("backend-network", fixed)).ok().json();
    assert_eq!(r3["ips"][0]["address"], "172.18.0.50/16");
    assert_eq!(r3["interfaces"][2]["mac"], "02:42:ac:12:00:32");
    let link = sb.sh("ip -n c2 -j addr show eth0").ok().json();
    assert_eq!(link[0]["address"], "02:42:ac:12:00:32");
    assert_eq!(link[0]["addr_info"][0]["local"], "172.18.0.50");
    let def = sb.netctl("inspect def456").ok().json();
    assert_eq!(def[0]["Name"], "/def456", "named after the container id");
    let mut gc = conf("backend-network", json!({}));
    gc["cniVersion"] = json!("1.1.0");
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "abc123", "ifname": "eth0"}]);
    cni(&sb, "GC", "", &gc).ok();
    assert!(sb.netctl("inspect def456").code != 0, "GC removed the stale attachment");
    assert!(sb.sh("ip -n c2 link show eth0").code != 0);
    assert!(sb.netctl("inspect redis").code == 0, "GC kept the valid one");

    // DEL after the namespace is gone succeeds, and so does DEL of something unknown.
    sb.sh("ip netns del c1").ok();
    cni(&sb, "DEL", &format!("{C1} CNI_IFNAME=eth0"), &conf("backend-network", json!({}))).ok();
    cni(&sb, "DEL", "CNI_CONTAINERID=never CNI_IFNAME=eth0", &conf("backend-network", json!({}))).ok();
    assert!(sb.netctl("inspect redis").code != 0);
    assert!(
        sb.sh("curl -sS --max-time 2 http://127.0.0.1:8080/").code != 0,
        "the published port went with it"
    );
    assert_eq!(sb.netctl("ps -aq").ok().trimmed(), "");

    // Errors in CNI's JSON with its codes.
    let mut old = conf("backend-network", json!({}));
    old["cniVersion"] = json!("0.3.1");
    assert_eq!(cni(&sb, "ADD", c2, &old).fail().json()["code"], 1);
    let no_netns = cni(&sb, "ADD", "CNI_CONTAINERID=x CNI_IFNAME=eth0", &conf("backend-network", json!({})));
    assert_eq!(no_netns.fail().json()["code"], 4);
    assert_eq!(cni(&sb, "STATUS", "", &conf("no-such-network", json!({}))).fail().json()["code"], 50);

    // STATUS: fine while netctld runs, 50 when it is down; ADD then says "try again later".
    let mut st = conf("backend-network", json!({}));
    st["cniVersion"] = json!("1.1.0");
    cni(&sb, "STATUS", "", &st).ok();
    sb.stop_daemon();
    let down = cni(&sb, "STATUS", "", &st).fail().json();
    assert_eq!(down["code"], 50, "{down}");
    assert_eq!(down["cniVersion"], "1.1.0");
    assert_eq!(cni(&sb, "ADD", c2, &conf("backend-network", json!({}))).fail().json()["code"], 11);
}

#[test]
fn cni_result_chains_into_tuning_bandwidth_and_firewall() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create backend-network").ok();
    sb.sh("ip netns add c1").ok();
    let env = "CNI_CONTAINERID=chain1 CNI_NETNS=/run/netns/c1 CNI_IFNAME=eth0";
    let mut result = cni(&sb, "ADD", env, &conf("backend-network", json!({}))).ok().json();
    // As libcni runs a conflist: each next plugin gets the previous result.
    let chain = [
        json!({"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.arp_notify": "1"}}),
        json!({"type": "bandwidth", "ingressRate": 8_000_000, "ingressBurst": 100_000}),
        json!({"type": "firewall", "backend": "iptables"}),
    ];
    for mut p in chain {
        p["cniVersion"] = json!("1.0.0");
        p["name"] = json!("backend-network");
        p["prevResult"] = result.clone();
        let plugin = p["type"].as_str().unwrap().to_string();
        result = cni_plugin(&sb, &plugin, "ADD", env, &p).ok().json();
        assert_eq!(result["ips"][0]["address"], "172.18.0.2/16", "{plugin} passed our result on: {result}");
    }
    let sysctl = sb.sh("ip netns exec c1 cat /proc/sys/net/ipv4/conf/eth0/arp_notify").ok();
    assert_eq!(sysctl.trimmed(), "1", "tuning found our interface");
    let host_veth = result["interfaces"][1]["name"].as_str().unwrap().to_string();
    let tc = sb.sh(&format!("tc qdisc show dev {host_veth}")).ok();
    assert!(tc.stdout.contains("tbf"), "bandwidth shaped the host end: {}", tc.stdout);
    let fw = sb.sh("iptables -S CNI-FORWARD").ok();
    assert!(fw.stdout.contains("172.18.0.2"), "firewall let our address through: {}", fw.stdout);
    let ping = sb.netctl("run --rm --net backend-network -- ping -c1 -W2 chain1").ok();
    assert!(ping.stdout.contains("1 received"), "{}", ping.stdout);
}
