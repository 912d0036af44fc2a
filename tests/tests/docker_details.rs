//! Docker's details a Docker user meets in the first hour (issue 13), each as the
//! user sees it: `run` without `--`, /sys/class/net inside a container, and a
//! hostname with a domain in /etc/hosts.

use netctl_tests::{assert_key_order, Out, Sandbox, DOCKER_ENDPOINT_KEYS};
use serde_json::Value;

#[test]
fn run_takes_the_command_without_a_double_dash() {
    let sb = Sandbox::new();
    sb.start_daemon();
    // The first word that is not an option starts the command; its options are its own.
    assert_eq!(sb.netctl("run --rm -e A=1 sh -c 'echo $A $0' x").ok().trimmed(), "1 x");
    assert_eq!(sb.netctl("run --rm echo -n -e 'a\\tb'").ok().stdout, "a\tb");
    assert_eq!(sb.netctl("run --rm -- echo dashed").ok().trimmed(), "dashed");
    let none = sb.netctl("run --rm").fail();
    assert!(none.stderr.contains("CMD"), "{}", none.stderr);
}

#[test]
fn a_container_sees_its_own_interfaces_and_its_hostname_with_its_domain() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n1").ok();
    let own = sb.netctl("run --rm --net n1 ls /sys/class/net").ok();
    let mut names: Vec<&str> = own.stdout.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["eth0", "lo"], "the host's bridges must not show: {}", own.stdout);
    // exec enters the same view.
    sb.netctl("run -d --name web1 --net n1 --hostname h1.example.org sleep 600").ok();
    let exec = sb.netctl("exec web1 -- ls /sys/class/net").ok();
    assert!(!exec.stdout.contains("n1") && exec.stdout.contains("eth0"), "{}", exec.stdout);
    let inspect = sb.netctl("inspect web1").ok().json();
    let ip = inspect[0]["NetworkSettings"]["Networks"]["n1"]["IPAddress"].as_str().unwrap().to_string();
    let hosts = sb.netctl("exec web1 -- cat /etc/hosts").ok();
    assert!(hosts.stdout.contains(&format!("{ip}\th1.example.org h1\n")), "{}", hosts.stdout);
    assert_eq!(sb.netctl("exec web1 -- hostname").ok().trimmed(), "h1.example.org");
}

const DOCKER: &str = "/usr/local/bin/docker";

/// `docker ARGS` inside the sandbox, pointed at netctld (the docker CLI evaluates
/// `-f` templates itself, on the daemon's JSON).
fn docker(sb: &Sandbox, args: &str) -> Out {
    assert!(std::path::Path::new(DOCKER).exists(), "{DOCKER} is missing (docker-ce-cli 28, a client only)");
    sb.sh(&format!("DOCKER_HOST=unix:///run/netctl/netctl.sock {DOCKER} {args}"))
}

/// GET on netctld's socket: the daemon's own bytes, before any client reorders them.
fn raw(sb: &Sandbox, path: &str) -> String {
    sb.sh(&format!("curl -s --unix-socket /run/netctl/netctl.sock http://localhost{path}")).ok().stdout
}

#[test]
fn an_endpoint_has_dockers_keys_in_dockers_order_with_ipam_config_links_and_dns_names() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create --subnet 10.41.0.0/24 app").ok();
    sb.netctl("run -d --name db1 --net app sleep 600").ok();
    sb.netctl(
        "run -d --name web1 --net app --ip 10.41.0.50 --network-alias front --link db1:database \
         --hostname web-host sleep 600",
    )
    .ok();
    let id = sb.netctl("inspect -f '{{.Id}}' web1").ok().trimmed().to_string();
    let short = &id[..12];

    // netctl's own API, its CLI and Docker's API: the same keys in the same order.
    let native = raw(&sb, "/v1/containers/web1");
    assert_key_order(&native, "\"app\":{", &DOCKER_ENDPOINT_KEYS);
    assert_key_order(&native, "\"DNSNames\":", &["Interface"]);
    let cli = sb.netctl("inspect web1").ok();
    assert_key_order(&cli.stdout, "\"app\": {", &DOCKER_ENDPOINT_KEYS);
    let docker_text = docker(&sb, "inspect web1").ok();
    assert_key_order(&docker_text.stdout, "\"app\": {", &DOCKER_ENDPOINT_KEYS);
    assert!(!docker_text.stdout.contains("\"Interface\""), "netctl's own key stays out of Docker's API");

    for (who, doc) in [("netctl", cli.json()), ("docker", docker_text.json())] {
        let ep = &doc[0]["NetworkSettings"]["Networks"]["app"];
        assert_eq!(ep["IPAMConfig"], serde_json::json!({"IPv4Address": "10.41.0.50"}), "{who}: {ep}");
        assert_eq!(ep["Links"], serde_json::json!(["db1:database"]), "{who}: {ep}");
        assert_eq!(ep["Aliases"], serde_json::json!(["front"]), "{who}: {ep}");
        assert_eq!(ep["DNSNames"], serde_json::json!(["web1", "front", short, "web-host"]), "{who}: {ep}");
        assert_eq!(ep["DriverOpts"], Value::Null, "{who}");
        assert_eq!(ep["GwPriority"], 0, "{who}");
        assert_eq!(ep["IPAddress"], "10.41.0.50", "{who}");
        assert_eq!(ep["IPPrefixLen"], 24, "{who}");
        assert_eq!(ep["Gateway"], "10.41.0.1", "{who}");
        // Links on a user-defined network are the endpoint's, not legacy ones.
        assert_eq!(doc[0]["HostConfig"]["Links"], Value::Null, "{who}");
        // The top-level copy is the default bridge's only.
        assert_eq!(doc[0]["NetworkSettings"]["IPAddress"], "", "{who}");
    }
    let db = sb.netctl("inspect db1").ok().json();
    let db_ep = &db[0]["NetworkSettings"]["Networks"]["app"];
    assert_eq!(db_ep["IPAMConfig"], Value::Null, "no --ip: {db_ep}");
    assert_eq!(db_ep["Links"], Value::Null);
    assert_eq!(db_ep["Aliases"], Value::Null);
    let f = docker(&sb, "inspect -f '{{json .NetworkSettings.Networks.app.IPAMConfig}} {{json .NetworkSettings.Networks.app.DNSNames}}' web1").ok();
    assert_eq!(
        f.trimmed(),
        format!(r#"{{"IPv4Address":"10.41.0.50"}} ["web1","front","{short}","web-host"]"#)
    );
    // Every DNS name answers for the network's other containers.
    for name in ["web1", "front", short, "web-host"] {
        let ip = sb.netctl(&format!("exec db1 -- dig +short +tries=1 +time=3 {name}")).ok();
        assert_eq!(ip.trimmed(), "10.41.0.50", "{name}");
    }
    // The link alias is web1's own.
    assert_eq!(sb.netctl("exec web1 -- dig +short +tries=1 +time=3 database").ok().trimmed(), "10.41.0.2");

    // network connect --ip: IPAMConfig of that endpoint too.
    sb.netctl("network create --subnet 10.42.0.0/24 side").ok();
    sb.netctl("network connect --ip 10.42.0.9 side db1").ok();
    let side = docker(&sb, "inspect -f '{{json .NetworkSettings.Networks.side.IPAMConfig}} {{json .NetworkSettings.Networks.side.Links}}' db1").ok();
    assert_eq!(side.trimmed(), r#"{"IPv4Address":"10.42.0.9"} null"#);
}

#[test]
fn a_container_on_the_default_bridge_has_its_address_at_the_top_of_network_settings() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("run -d --name base1 sleep 600").ok();
    sb.netctl("run -d --name leg1 --link base1:b sleep 600").ok();
    let kernel = sb.sh("ip -n leg1 -j -4 addr show dev eth0").ok().json();
    let ip = kernel[0]["addr_info"][0]["local"].as_str().unwrap().to_string();
    let mac =
        sb.sh("ip -n leg1 -j link show dev eth0").ok().json()[0]["address"].as_str().unwrap().to_string();
    let want = format!("{ip} 172.17.0.1 16 {mac}");
    let template = "'{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.IPPrefixLen}} {{.NetworkSettings.MacAddress}}'";
    assert_eq!(sb.netctl(&format!("inspect -f {template} leg1")).ok().trimmed(), want);
    assert_eq!(docker(&sb, &format!("inspect -f {template} leg1")).ok().trimmed(), want);
    for (who, doc) in [
        ("netctl", sb.netctl("inspect leg1").ok().json()),
        ("docker", docker(&sb, "inspect leg1").ok().json()),
    ] {
        let ns = &doc[0]["NetworkSettings"];
        assert_eq!(ns["EndpointID"], ns["Networks"]["bridge"]["EndpointID"], "{who}");
        // Legacy links: HostConfig's, in Docker's form; no DNS names on the default bridge.
        assert_eq!(doc[0]["HostConfig"]["Links"], serde_json::json!(["/base1:/leg1/b"]), "{who}");
        assert_eq!(ns["Networks"]["bridge"]["Links"], Value::Null, "{who}");
        assert_eq!(ns["Networks"]["bridge"]["DNSNames"], Value::Null, "{who}");
    }
}

#[test]
fn network_inspect_has_config_from_config_only_and_the_default_bridges_options() {
    let sb = Sandbox::new();
    sb.sh("printf '[network]\\nmtu = 1450\\ndefault_bridge = \"nbr0\"\\n' > /etc/netctl/netctl.toml").ok();
    sb.start_daemon();
    let link = sb.sh("ip -j link show dev nbr0").ok().json();
    assert_eq!(link[0]["mtu"], 1450);
    let want = serde_json::json!({
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
        "com.docker.network.bridge.name": "nbr0",
        "com.docker.network.driver.mtu": "1450",
    });
    let keys = ["Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels"];
    let native = raw(&sb, "/v1/networks/bridge");
    assert_key_order(&native, "{", &keys);
    let cli = sb.netctl("network inspect bridge").ok();
    assert_key_order(&cli.stdout, "[", &keys);
    let v = cli.json();
    assert_eq!(v[0]["Options"], want);
    assert_eq!(v[0]["ConfigFrom"], serde_json::json!({"Network": ""}));
    assert_eq!(v[0]["ConfigOnly"], false);
    let d = docker(&sb, "network inspect -f '{{json .Options}} {{json .ConfigFrom}} {{.ConfigOnly}}' bridge")
        .ok();
    assert_eq!(d.trimmed(), format!("{} {{\"Network\":\"\"}} false", serde_json::to_string(&want).unwrap()));
    // A user-defined network shows the options it was given, and only those.
    sb.netctl("network create -o com.docker.network.driver.mtu=1400 own").ok();
    let own = sb.netctl("network inspect -f '{{json .Options}} {{json .ConfigFrom}}' own").ok();
    assert_eq!(own.trimmed(), r#"{"com.docker.network.driver.mtu":"1400"} {"Network":""}"#);
}

#[test]
fn a_fixed_address_needs_a_subnet_the_user_configured() {
    let sb = Sandbox::new();
    sb.start_daemon();
    const REFUSED: &str =
        "user specified IP address is supported only when connecting to networks with user configured subnets";
    sb.netctl("network create auto1").ok();
    let subnet = sb.netctl("network inspect -f '{{json .IPAM.Config}}' auto1").ok();
    assert!(subnet.stdout.contains(r#""Subnet":"172.18.0.0/16""#), "{}", subnet.stdout);
    let run = sb.netctl("run -d --net auto1 --ip 172.18.0.9 sleep 600").fail();
    assert!(run.stderr.contains(REFUSED), "{}", run.stderr);
    sb.netctl("run -d --name free1 --net auto1 sleep 600").ok();
    sb.netctl("network create auto2").ok();
    let connect = sb.netctl("network connect --ip 172.19.0.9 auto2 free1").fail();
    assert!(connect.stderr.contains(REFUSED), "{}", connect.stderr);
    let by_docker = docker(&sb, "network connect --ip 172.19.0.9 auto2 free1").fail();
    assert!(by_docker.stderr.contains(REFUSED), "{}", by_docker.stderr);
    sb.netctl("network create --ipv6 auto6").ok();
    let v6 = sb.netctl("run -d --net auto6 --ip6 fd00::9 sleep 600").fail();
    assert!(v6.stderr.contains(REFUSED), "{}", v6.stderr);
    // Nothing of the refused ones is left; without --ip they join.
    assert_eq!(sb.netctl("ps -a -q").ok().stdout.lines().count(), 1);
    sb.netctl("network connect auto2 free1").ok();
    // A subnet the user gave takes a fixed address, also after a restart.
    sb.netctl("network create --subnet 10.43.0.0/24 given").ok();
    sb.restart_daemon();
    sb.netctl("run -d --name fixed1 --net given --ip 10.43.0.9 sleep 600").ok();
    let again = sb.netctl("network connect --ip 172.19.0.10 auto2 fixed1").fail();
    assert!(again.stderr.contains(REFUSED), "after a restart too: {}", again.stderr);
}

#[test]
fn labels_without_a_value_and_names_as_docker_takes_them() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create --label team --label env=prod lab1").ok();
    let labels = sb.netctl("network inspect -f '{{json .Labels}}' lab1").ok();
    assert_eq!(labels.trimmed(), r#"{"env":"prod","team":""}"#);
    docker(&sb, "network create --label team lab2").ok();
    assert_eq!(docker(&sb, "network inspect -f '{{json .Labels}}' lab2").ok().trimmed(), r#"{"team":""}"#);
    sb.netctl("run -d --name labeled1 --label team -l env=prod sleep 600").ok();
    for out in [
        sb.netctl("inspect -f '{{json .Config.Labels}}' labeled1").ok(),
        docker(&sb, "inspect -f '{{json .Config.Labels}}' labeled1").ok(),
    ] {
        assert_eq!(out.trimmed(), r#"{"env":"prod","team":""}"#);
    }
    sb.netctl("rm -f labeled1").ok();
    let empty = sb.netctl("network create --label =x lab3").fail();
    assert!(empty.stderr.contains("invalid label '=x': empty name"), "{}", empty.stderr);

    // Network names: libnetwork takes any but the empty one.
    for name in ["_under", "with space", "Ünïcode", "a"] {
        sb.netctl(&format!("network create '{name}'")).ok();
        assert_eq!(sb.netctl(&format!("network inspect -f '{{{{.Name}}}}' '{name}'")).ok().trimmed(), name);
    }
    assert_eq!(docker(&sb, "network inspect -f '{{.Name}}' 'with space'").ok().trimmed(), "with space");
    sb.netctl("run -d --name spaced1 --net 'with space' sleep 600").ok();
    sb.netctl("rm -f spaced1").ok();
    sb.netctl("network rm 'with space'").ok();
    assert!(sb.netctl("network create 'a/b'").fail().stderr.contains("'/'"));

    // Container names: Docker's pattern, two characters at least, Docker's message.
    for bad in ["c", "a b", "_x", "ä1"] {
        let out = sb.netctl(&format!("run --rm --name '{bad}' true")).fail();
        let want = format!("Invalid container name ({bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed");
        assert!(out.stderr.contains(&want), "{bad}: {}", out.stderr);
    }
    sb.netctl("run --rm --name c1 true").ok();
    sb.netctl("run --rm --name 0_x.y-z true").ok();
    let attach = sb.sh("ip netns add ns1 && netctl container attach x --netns /run/netns/ns1").fail();
    assert!(attach.stderr.contains("Invalid container name (x)"), "{}", attach.stderr);
    assert_eq!(sb.netctl("ps -a -q").ok().trimmed(), "", "nothing left of the refused ones");
}

#[test]
fn dockers_words_for_missing_and_busy_networks_and_bad_ranges_and_gateways() {
    let sb = Sandbox::new();
    sb.start_daemon();
    assert!(sb.netctl("network rm nope").fail().stderr.contains("network nope not found"));
    assert!(sb.netctl("run --rm --net nope true").fail().stderr.contains("network nope not found"));
    sb.netctl("run -d --name holder1 sleep 600").ok();
    assert!(sb.netctl("network connect nope holder1").fail().stderr.contains("network nope not found"));

    // network rm of a network in use: each endpoint by name and short id, 403.
    sb.netctl("network create busy1").ok();
    sb.netctl("network connect busy1 holder1").ok();
    let ep = sb.netctl("inspect -f '{{.NetworkSettings.Networks.busy1.EndpointID}}' holder1").ok();
    let want = format!(
        "error while removing network: network busy1 has active endpoints (name:\"holder1\" id:\"{}\")",
        &ep.trimmed()[..12]
    );
    let rm = sb.netctl("network rm busy1").fail();
    assert!(rm.stderr.contains(&want), "{}", rm.stderr);
    let by_docker = docker(&sb, "network rm busy1").fail();
    assert!(
        by_docker.stderr.contains(&format!("Error response from daemon: {want}")),
        "{}",
        by_docker.stderr
    );
    let code = sb.sh("curl -s -o /dev/null -w '%{http_code}' -XDELETE --unix-socket /run/netctl/netctl.sock http://localhost/networks/busy1").ok();
    assert_eq!(code.trimmed(), "403");

    // Ranges and gateways outside their subnet, through netctl's and Docker's API.
    let post = |path: &str, body: &str| {
        sb.sh(&format!(
            "curl -s -w ' %{{http_code}}' -XPOST -H 'Content-Type: application/json' \
             --unix-socket /run/netctl/netctl.sock http://localhost{path} -d '{body}'"
        ))
        .ok()
        .stdout
    };
    for path in ["/v1/networks", "/v1.50/networks/create"] {
        let range = post(
            path,
            r#"{"Name":"r1","IPAM":{"Config":[{"Subnet":"10.9.0.0/24","IPRange":"10.8.0.0/24"}]}}"#,
        );
        assert_eq!(
            range,
            r#"{"message":"invalid ip-range 10.8.0.0/24: parent subnet 10.9.0.0/24 doesn't contain ip-range"} 400"#
        );
        let gw =
            post(path, r#"{"Name":"g1","IPAM":{"Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.8.0.1"}]}}"#);
        assert_eq!(
            gw,
            r#"{"message":"invalid gateway 10.8.0.1: parent subnet 10.9.0.0/24 doesn't contain this address"} 400"#
        );
    }
    let bigger = sb.netctl("network create --subnet 10.9.0.0/24 --ip-range 10.9.0.0/16 r2").fail();
    assert!(
        bigger.stderr.contains(
            "invalid ip-range 10.9.0.0/16: CIDR block is bigger than its parent subnet 10.9.0.0/24"
        ),
        "{}",
        bigger.stderr
    );
    // Ours where it is clearer: which network's subnet is in the way.
    sb.netctl("network create --subnet 10.9.0.0/24 first").ok();
    let overlap = sb.netctl("network create --subnet 10.9.0.0/16 second").fail();
    assert!(
        overlap.stderr.contains("overlaps with subnet 10.9.0.0/24 of network first"),
        "{}",
        overlap.stderr
    );
    assert!(sb.netctl("network inspect r1").code != 0 && sb.netctl("network inspect g1").code != 0);
}
