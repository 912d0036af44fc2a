//! Networks as a user sees them: the CLI's output, `ip -j`, and the API with curl.

use netctl_tests::Sandbox;
use serde_json::Value;

fn id_of(sb: &Sandbox, name: &str) -> String {
    sb.netctl(&format!("network inspect -f '{{{{.Id}}}}' {name}")).ok().trimmed().to_string()
}

fn bridge_of(sb: &Sandbox, name: &str) -> String {
    format!("br-{}", &id_of(sb, name)[..12])
}

#[test]
fn three_networks_survive_restart_and_a_deleted_bridge_comes_back() {
    let sb = Sandbox::new();
    sb.start_daemon();
    let mut bridges = Vec::new();
    for name in ["backend-network", "frontend-network", "frontend-network2"] {
        let id = sb.netctl(&format!("network create {name}")).ok().trimmed().to_string();
        assert_eq!(id.len(), 64, "create prints the 64-hex id: {id}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        bridges.push(format!("br-{}", &id[..12]));
    }
    let subnets: Vec<Vec<String>> = bridges.iter().map(|b| sb.ipv4_of(b)).collect();
    assert_eq!(subnets, vec![vec!["172.18.0.1/16"], vec!["172.19.0.1/16"], vec!["172.20.0.1/16"]]);
    for b in &bridges {
        let link = sb.link(b).expect("bridge exists");
        assert_eq!(link["linkinfo"]["info_kind"], "bridge");
        assert_eq!(link["mtu"], 1500);
        assert!(link["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{b} is up");
    }
    assert_eq!(sb.ipv4_of("netctl0"), vec!["172.17.0.1/16"], "the default network's bridge");

    let ls = sb.netctl("network ls").ok();
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NETWORK ID")
            && lines[0].contains("NAME")
            && lines[0].contains("DRIVER")
            && lines[0].contains("SCOPE")
    );
    let names: Vec<&str> = lines[1..].iter().map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(names, vec!["backend-network", "bridge", "frontend-network", "frontend-network2"]);

    let before = sb.netctl("network inspect backend-network frontend-network frontend-network2").ok().json();
    sb.restart_daemon();
    let after = sb.netctl("network inspect backend-network frontend-network frontend-network2").ok().json();
    assert_eq!(before, after, "a restart changes nothing");
    assert_eq!(bridges.iter().map(|b| sb.ipv4_of(b)).collect::<Vec<_>>(), subnets);

    sb.sh(&format!("ip link del {}", bridges[0])).ok();
    assert!(sb.link(&bridges[0]).is_none());
    sb.restart_daemon();
    assert_eq!(sb.ipv4_of(&bridges[0]), vec!["172.18.0.1/16"], "reconcile recreated the bridge");

    sb.netctl("network rm frontend-network2").ok();
    assert!(sb.link(&bridges[2]).is_none(), "rm deletes the bridge");
    assert!(sb
        .netctl("network inspect frontend-network2")
        .fail()
        .stderr
        .contains("No such network: frontend-network2"));
    sb.restart_daemon();
    assert!(sb.link(&bridges[2]).is_none(), "a removed network stays removed");
}

#[test]
fn inspect_has_dockers_shape_and_api_answers_curl() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create --subnet 10.30.0.0/16 --gateway 10.30.0.254 --ip-range 10.30.5.0/24 --internal --attachable --label env=prod --label team=x -o com.docker.network.bridge.name=front2 -o com.docker.network.driver.mtu=1400 fe").ok();
    let v = sb.netctl("network inspect fe").ok().json();
    let n = &v[0];
    for key in [
        "Name",
        "Id",
        "Created",
        "Scope",
        "Driver",
        "EnableIPv4",
        "EnableIPv6",
        "IPAM",
        "Internal",
        "Attachable",
        "Containers",
        "Options",
        "Labels",
    ] {
        assert!(n.get(key).is_some(), "inspect lacks {key}: {n}");
    }
    assert_eq!(n["Scope"], "local");
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Internal"], true);
    assert_eq!(n["Attachable"], true);
    assert_eq!(
        n["IPAM"]["Config"][0],
        serde_json::json!({"Subnet": "10.30.0.0/16", "IPRange": "10.30.5.0/24", "Gateway": "10.30.0.254"})
    );
    assert_eq!(n["Labels"]["env"], "prod");
    assert_eq!(n["Options"]["com.docker.network.bridge.name"], "front2");
    assert!(chrono_like(&n["Created"]));
    let link = sb.link("front2").expect("the bridge takes the name given");
    assert_eq!(link["mtu"], 1400);
    assert_eq!(sb.ipv4_of("front2"), vec!["10.30.0.254/16"]);

    let curl =
        sb.sh("curl -s --unix-socket /run/netctl/netctl.sock http://localhost/v1/networks").ok().json();
    assert!(curl.as_array().unwrap().iter().any(|x| x["Name"] == "fe"));
    let mode = sb.sh("stat -c %a /run/netctl/netctl.sock").ok();
    assert_eq!(mode.trimmed(), "600");
    let err = sb.sh("curl -s -w ' %{http_code}' --unix-socket /run/netctl/netctl.sock http://localhost/v1/networks/nope").ok();
    assert_eq!(err.stdout, r#"{"message":"network nope not found"} 404"#);
    let bad = sb.sh(r#"curl -s -w ' %{http_code}' -XPOST --unix-socket /run/netctl/netctl.sock http://localhost/v1/networks -d '{"Name":"x","IPAM":{"Config":[{"Subnet":"banana"}]}}'"#).ok();
    assert!(bad.stdout.ends_with(" 400") && bad.stdout.contains("banana"), "{}", bad.stdout);
}

fn chrono_like(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() >= 20 && s.as_bytes()[4] == b'-' && s.contains('T'))
}

#[test]
fn ls_filters_quiet_and_formats() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create --label env=prod backend-network").ok();
    sb.netctl("network create --label env=dev frontend-network").ok();
    let names = |args: &str| -> Vec<String> {
        sb.netctl(&format!("network ls {args} --format '{{{{.Name}}}}'"))
            .ok()
            .stdout
            .lines()
            .map(String::from)
            .collect()
    };
    assert_eq!(names("-f name=back"), vec!["backend-network"]);
    assert_eq!(names("-f name=back -f name=front"), vec!["backend-network", "frontend-network"]);
    assert_eq!(names("-f label=env=dev"), vec!["frontend-network"]);
    assert_eq!(names("-f label=env"), vec!["backend-network", "frontend-network"]);
    assert_eq!(names("-f type=builtin"), vec!["bridge"]);
    assert_eq!(names("-f type=custom"), vec!["backend-network", "frontend-network"]);
    assert_eq!(names("-f driver=bridge").len(), 3);
    assert_eq!(names("-f dangling=true"), vec!["backend-network", "frontend-network"]);
    let id = id_of(&sb, "backend-network");
    assert_eq!(names(&format!("-f id={}", &id[..5])), vec!["backend-network"]);
    assert!(sb.netctl("network ls -f color=red").fail().stderr.contains("color"));

    let quiet = sb.netctl("network ls -q").ok();
    assert!(quiet.stdout.lines().all(|l| l.len() == 12));
    assert!(sb.netctl("network ls -q --no-trunc").ok().stdout.lines().all(|l| l.len() == 64));
    for line in sb.netctl("network ls --format json").ok().stdout.lines() {
        let v: Value = serde_json::from_str(line).expect("one JSON object per line");
        assert_eq!(v["Driver"], "bridge");
        assert_eq!(v["Scope"], "local");
    }
    assert_eq!(
        sb.netctl(&format!("network inspect -f '{{{{.Name}}}}' {}", &id[..6])).ok().trimmed(),
        "backend-network",
        "unique id prefix"
    );
    let table = sb.netctl("network ls --format 'table {{.Name}}\\t{{.Driver}}'").ok();
    assert!(table.stdout.starts_with("NAME"), "{}", table.stdout);
}

#[test]
fn rm_prune_and_the_default_network() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create a").ok();
    sb.netctl("network create b").ok();
    let dup = sb.netctl("network create a").fail();
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);
    assert!(sb.netctl("network rm bridge").fail().stderr.contains("pre-defined"));
    let rm = sb.netctl("network rm a nope").fail();
    assert_eq!(rm.stdout.trim(), "a");
    assert!(rm.stderr.contains("network nope not found"), "{}", rm.stderr);
    let prune = sb.netctl("network prune -f").ok();
    assert_eq!(prune.stdout, "Deleted Networks:\nb\n");
    assert_eq!(sb.netctl("network ls --format '{{.Name}}'").ok().trimmed(), "bridge");
    assert!(sb.link("netctl0").is_some());
}

#[test]
fn bad_input_changes_nothing() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create --subnet 10.40.0.0/16 taken").ok();
    sb.sh("ip link add hostbr type bridge").ok();
    let links_before = sb.link_names();
    let ls_before = sb.netctl("network ls").ok().stdout;
    let cases = [
        ("--subnet banana n", "banana"),
        ("--subnet 10.50.0.1/16 n", "10.50.0.0/16"),
        ("--subnet 10.50.0.0/16 --gateway 10.60.0.1 n", "10.60.0.1"),
        ("--subnet 10.50.0.0/16 --ip-range 10.60.0.0/24 n", "10.60.0.0/24"),
        ("--subnet 10.40.5.0/24 n", "taken"),
        ("-o com.docker.network.bridge.name=hostbr n", "hostbr"),
        ("-o com.docker.network.driver.mtu=20 n", "MTU"),
        ("-o com.docker.network.driver.mtu=70000 n", "MTU"),
        ("--label =novalue n", "=novalue"),
        ("-d overlay n", "overlay"),
        ("'bad/name'", "bad/name"),
        ("-o com.example.unknown=1 n", "com.example.unknown"),
    ];
    for (args, needle) in cases {
        let out = sb.netctl(&format!("network create {args}")).fail();
        let err = out.stderr.trim();
        assert_eq!(out.code, 1);
        assert!(
            err.starts_with("Error: ") && err.lines().count() == 1,
            "{args}: not a one-line error: {err}"
        );
        assert!(err.contains(needle), "{args}: error should name {needle:?}: {err}");
    }
    assert_eq!(sb.link_names(), links_before, "no link left behind");
    assert_eq!(sb.netctl("network ls").ok().stdout, ls_before, "no network left behind");
    assert_eq!(sb.sh("ls /var/lib/netctl/networks | wc -l").ok().trimmed(), "2");
}

#[test]
fn automatic_subnets_avoid_host_routes_and_pools_can_run_out() {
    let sb = Sandbox::new();
    sb.sh("ip link add hostnic type veth peer name hostpeer && ip addr add 172.18.0.5/24 dev hostnic && ip link set hostnic up").ok();
    sb.sh("printf '[network]\\ndefault_address_pools = [{ base = \"172.18.0.0/16\", size = 16 }, { base = \"10.99.0.0/23\", size = 24 }]\\n' > /etc/netctl/netctl.toml").ok();
    sb.start_daemon();
    sb.netctl("network create a").ok();
    assert_eq!(sb.ipv4_of(&bridge_of(&sb, "a")), vec!["10.99.0.1/24"], "172.18/16 overlaps the host's route");
    sb.netctl("network create b").ok();
    assert_eq!(sb.ipv4_of(&bridge_of(&sb, "b")), vec!["10.99.1.1/24"]);
    let out = sb.netctl("network create c").fail();
    assert!(out.stderr.contains("no free subnet"), "{}", out.stderr);
}

#[test]
fn leftover_bridges_are_removed_and_foreign_ones_kept() {
    let sb = Sandbox::new();
    sb.start_daemon();
    let id = sb.netctl("network create orphan").ok().trimmed().to_string();
    sb.sh("ip link add mine type bridge").ok();
    sb.stop_daemon();
    sb.sh(&format!("rm /var/lib/netctl/networks/{id}.json")).ok();
    sb.start_daemon();
    assert!(
        sb.link(&format!("br-{}", &id[..12])).is_none(),
        "a bridge of a network that no longer exists goes"
    );
    assert!(sb.link("mine").is_some(), "a bridge netctl did not make stays");
}

#[test]
fn one_daemon_per_state_dir() {
    let sb = Sandbox::new();
    sb.start_daemon();
    let second = sb.sh("timeout 5 netctld 2>&1").fail();
    assert!(second.stdout.contains("already running"), "{}", second.stdout);
    sb.netctl("network ls").ok();
    sb.stop_daemon();
    assert!(sb.link("netctl0").is_some(), "SIGTERM leaves networks in place");
    let bad_config =
        sb.sh("echo 'sockett = 1' > /tmp/bad.toml; timeout 5 netctld --config /tmp/bad.toml 2>&1").fail();
    assert!(bad_config.stdout.contains("/tmp/bad.toml"), "{}", bad_config.stdout);
    let no_daemon = sb.netctl("network ls").fail();
    assert!(no_daemon.stderr.contains("Is the daemon running?"), "{}", no_daemon.stderr);
}

/// The bridge's hardware address never moves. Left to the kernel it would follow
/// the lowest address among the ports, and a container that had cached the old one
/// for its gateway would lose the gateway until its ARP entry expired.
#[test]
fn the_gateway_keeps_its_address_as_containers_come_and_go() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create gw-net").ok();
    let bridge = bridge_of(&sb, "gw-net");
    let address = |b: &str| sb.link(b).expect("bridge exists")["address"].as_str().unwrap().to_string();
    let gateway_mac = address(&bridge);
    let gateway = sb.ipv4_of(&bridge)[0].split('/').next().unwrap().to_string();
    sb.netctl("run -d --name c1 --net gw-net -- sleep 1000").ok();
    sb.netctl(&format!("exec c1 -- ping -c 1 -W 1 {gateway}")).ok();
    // The lowest unicast address there is: the kernel would move the bridge to it.
    sb.netctl("run -d --name c2 --net gw-net --mac-address 02:00:00:00:00:01 -- sleep 1000").ok();
    assert_eq!(address(&bridge), gateway_mac);
    sb.netctl(&format!("exec c1 -- ping -c 1 -W 1 {gateway}")).ok();
    let cached = sb.netctl(&format!("exec c1 -- ip -j neigh show {gateway}")).ok().json();
    assert_eq!(cached[0]["lladdr"], gateway_mac.as_str(), "c1 reaches its gateway at the address it cached");
    sb.netctl("rm -f c2").ok();
    assert_eq!(address(&bridge), gateway_mac);
    sb.restart_daemon();
    assert_eq!(address(&bridge), gateway_mac, "a restart keeps it");

    // A bridge whose address was left to the kernel (an older netctl made it so) is
    // pinned at start to the address it has.
    sb.netctl("network create old-net").ok();
    let old = bridge_of(&sb, "old-net");
    let marker = format!("netctl:{}", id_of(&sb, "old-net"));
    sb.stop_daemon();
    sb.sh(&format!("ip link del {old} && ip link add {old} type bridge && ip link set {old} alias {marker}"))
        .ok();
    sb.start_daemon();
    let pinned = address(&old);
    sb.sh(&format!("ip link add low0 address 02:00:00:00:00:00 type veth peer name low1 && ip link set low0 master {old}")).ok();
    assert_eq!(address(&old), pinned);
    assert!(sb.daemon_log().contains("address_pinned: true"), "{}", sb.daemon_log());
}
