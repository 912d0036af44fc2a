//! Docker's Python SDK (`docker` on PyPI, 7.x) drives netctld through
//! `client.networks` and `client.containers` (tests/docker_sdk/sdk.py); this test
//! checks what the SDK saw and what the kernel has.

use std::process::Command;

use netctl_tests::Sandbox;

/// The interpreter that has the SDK: the tests' own PATH, not the sandbox's.
fn python_with_sdk() -> String {
    let out = Command::new("python3")
        .args(["-c", "import docker, sys; print(sys.executable)"])
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "the Python SDK for Docker is missing: pip install 'docker>=7.1' (.ci/run does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn python_sdk_drives_networks_and_containers() {
    let python = python_with_sdk();
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("run -d --name web -- sleep 1000").ok();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/docker_sdk/sdk.py");
    let out = sb.sh(&format!("DOCKER_HOST=unix:///run/netctl/netctl.sock {python} {script} web")).ok();
    let v = out.json();
    assert_eq!(v["api_version"], "1.50", "the SDK's auto version settles on ours");
    assert_eq!(v["ping"], true);
    let created = &v["created"];
    assert_eq!(created["name"], "pynet");
    assert_eq!(created["ipam"][0]["Subnet"], "10.77.0.0/24");
    assert_eq!(created["ipam"][0]["IPRange"], "10.77.0.128/25");
    assert_eq!(created["ipam"][0]["Gateway"], "10.77.0.254");
    assert_eq!(created["ipam"][0]["AuxiliaryAddresses"]["router"], "10.77.0.129");
    assert_eq!(created["labels"]["team"], "py");
    assert_eq!(created["options"]["com.docker.network.bridge.name"], "pybr0");
    assert_eq!(created["attachable"], true);
    assert_eq!(v["duplicate"]["status"], 409);
    assert!(v["duplicate"]["explanation"]
        .as_str()
        .unwrap()
        .contains("network with name pynet already exists"));
    assert_eq!(v["by_label"], serde_json::json!(["pynet"]));
    assert_eq!(v["all_names"], serde_json::json!(["bridge", "pynet"]));
    assert_eq!(v["by_prefix"], "pynet");
    assert_eq!(v["missing"]["not_found"], true);
    assert_eq!(v["missing"]["explanation"], "network nope not found");
    assert_eq!(v["members"]["web"], "10.77.0.200/24");
    assert_eq!(v["web_networks"]["pynet"]["IPAddress"], "10.77.0.200");
    assert_eq!(v["web_networks"]["pynet"]["Aliases"], serde_json::json!(["pydb"]));
    assert_eq!(v["listed"], serde_json::json!([["web", "running"]]));
    assert_eq!(v["after_stop"], "exited");
    assert_eq!(v["after_start"], "running");
    assert!(v["top"].as_array().unwrap().iter().any(|c| c == "sleep 1000"), "{}", v["top"]);
    assert_eq!(v["after_disconnect"], 0);
    assert_eq!(v["create"]["status"], 501);
    assert!(v["create"]["explanation"].as_str().unwrap().contains("netctl run"));
    assert_eq!(v["after_remove"], serde_json::json!(["bridge"]));
    assert_eq!(v["restarted"], true);
    assert_eq!(v["killed"], serde_json::json!(["exited", 143]));
    assert_eq!(v["logs"], "");
    assert_eq!(v["after_rm"], serde_json::json!([]));
    assert_eq!(v["pruned"], serde_json::json!(["pyprune"]));
    let events: Vec<String> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e[0].as_str().unwrap(), e[1].as_str().unwrap()))
        // `since` is whole seconds: web's own connect to bridge may fall in it.
        .filter(|e| !e.ends_with(" bridge"))
        .collect();
    assert_eq!(
        events,
        [
            "create pynet",
            "connect pynet",
            "disconnect pynet",
            "destroy pynet",
            "create pyprune",
            "create pykeep",
            "destroy pyprune"
        ]
    );
    // The kernel: pynet's bridge went with it, and the removed container's namespace.
    assert!(sb.link("pybr0").is_none(), "the SDK's network rm removed the bridge");
    assert_eq!(sb.sh("ip netns list").ok().trimmed(), "", "container.remove() took the namespace");
    let veths = sb.links().into_iter().filter(|l| l["linkinfo"]["info_kind"] == "veth").count();
    assert_eq!(veths, 0, "and its veths");
}

/// The SDK's network and connect, as the kernel has them: bridge, MTU, address, MAC, routes.
#[test]
fn python_sdk_connect_sets_the_kernel_up() {
    let python = python_with_sdk();
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("run -d --name web -- sleep 1000").ok();
    let code = "import docker; from docker.types import IPAMConfig, IPAMPool; c = docker.from_env(); \
        n = c.networks.create('sdk2', ipam=IPAMConfig(pool_configs=[IPAMPool(subnet='10.78.0.0/24')]), \
        options={'com.docker.network.bridge.name': 'sdk2br', 'com.docker.network.driver.mtu': '1450'}, internal=True); \
        n.connect('web', ipv4_address='10.78.0.9', aliases=['x'], mac_address='02:42:0a:4e:00:09')";
    sb.sh(&format!("DOCKER_HOST=unix:///run/netctl/netctl.sock {python} -c \"{code}\"")).ok();
    assert_eq!(sb.ipv4_of("sdk2br"), vec!["10.78.0.1/24"]);
    assert_eq!(sb.link("sdk2br").unwrap()["mtu"], 1450);
    let eth1 = sb.sh("ip -n web -j -4 addr show dev eth1").ok().json();
    assert_eq!(eth1[0]["addr_info"][0]["local"], "10.78.0.9");
    let link = sb.sh("ip -n web -j link show dev eth1").ok().json();
    assert_eq!(link[0]["address"], "02:42:0a:4e:00:09", "the SDK's MacAddress");
    assert_eq!(link[0]["mtu"], 1450);
    let routes = sb.sh("ip -n web -j route show default").ok().json();
    assert_eq!(routes[0]["dev"], "eth0", "an internal network takes no default route");
}
