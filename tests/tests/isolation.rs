//! Isolation that holds (issue 12, section 2), each as the issue found it broken:
//! a host routing a network's subnet through this one reaches only published ports;
//! an internal network reaches nothing beyond its bridge, the host included; state
//! and logs are root's alone however their directories came to exist; input that
//! cannot work is refused with a 400 that says why; the CLI ends quietly on a
//! closed pipe.

use netctl_tests::{Out, Sandbox};

fn ip_of(sb: &Sandbox, container: &str, net: &str) -> String {
    sb.netctl(&format!("inspect --format '{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}' {container}"))
        .ok()
        .trimmed()
        .to_string()
}

fn ipam_of(sb: &Sandbox, net: &str, field: &str) -> String {
    let v = sb.netctl(&format!("network inspect {net}")).ok().json();
    v[0]["IPAM"]["Config"][0][field].as_str().expect("IPAM field").to_string()
}

/// One fetch, no retries: for what must not answer.
fn curl_once(sb: &Sandbox, prefix: &str, url: &str) -> Out {
    sb.sh(&format!("{prefix} curl -sS --max-time 2 {url}"))
}

#[test]
fn from_another_host_only_published_ports_get_in() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.add_outside_host();
    sb.netctl("network create plain").ok();
    sb.netctl("run -d --name web -p 8080:80 -- python3 -m http.server 80").ok();
    sb.netctl("run -d --name closed -- python3 -m http.server 8080").ok();
    sb.netctl("run -d --name other --net plain -- python3 -m http.server 8080").ok();
    let (web, closed, other) =
        (ip_of(&sb, "web", "bridge"), ip_of(&sb, "closed", "bridge"), ip_of(&sb, "other", "plain"));
    // The outside host routes both subnets through this one, as a LAN router would.
    for net in ["bridge", "plain"] {
        sb.sh(&format!("ip -n outside route add {} via 198.51.100.1", ipam_of(&sb, net, "Subnet"))).ok();
    }
    // The servers are up: the host itself reaches them.
    sb.curl("", &format!("http://{closed}:8080/")).ok();
    sb.curl("", &format!("http://{other}:8080/")).ok();
    // The published port, through the host's address (DNAT), from the outside host.
    let published = sb.curl("ip netns exec outside", "http://198.51.100.1:8080/");
    assert!(published.code == 0 && published.stdout.contains("Directory listing"), "{published:?}");
    // Straight to the containers' addresses: nothing, not even the published
    // container port without going through its host port.
    for url in
        [format!("http://{closed}:8080/"), format!("http://{other}:8080/"), format!("http://{web}:80/")]
    {
        let out = curl_once(&sb, "ip netns exec outside", &url);
        assert!(out.code != 0, "{url} answered from outside: {out:?}");
    }
    for ip in [&closed, &other] {
        let ping = sb.sh(&format!("ip netns exec outside ping -c 2 -i 0.2 -W 1 {ip}"));
        assert!(ping.code != 0, "{ip} answered a ping from outside: {ping:?}");
    }
    // What the containers open themselves still works both ways, and containers
    // on one bridge still talk to each other.
    sb.netctl("exec closed -- ping -c 1 -W 2 198.51.100.2").ok();
    sb.curl("netctl exec closed --", &format!("http://{web}:80/")).ok();
    // And the published port still answers from outside after all that.
    sb.curl("ip netns exec outside", "http://198.51.100.1:8080/").ok();
}

#[test]
fn internal_networks_reach_nothing_beyond_their_bridge() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.add_outside_host();
    sb.netctl("network create --internal sealed").ok();
    sb.netctl("run -d --name s1 --net sealed -- sleep 1000").ok();
    sb.netctl("run -d --name s2 --net sealed -- python3 -m http.server 8080").ok();
    // A service of the host's own, on every address.
    sb.sh("setsid python3 -m http.server 7778 >/dev/null 2>&1 </dev/null &").ok();
    sb.curl("", "http://127.0.0.1:7778/").ok();
    let gateway = ipam_of(&sb, "sealed", "Gateway");
    let s2 = ip_of(&sb, "s2", "sealed");
    sb.curl("", &format!("http://{s2}:8080/")).ok();

    let no_route = curl_once(&sb, "netctl exec s1 --", &format!("http://{gateway}:7778/"));
    assert!(no_route.code != 0, "the host's service answered through the gateway: {no_route:?}");
    assert!(sb.netctl(&format!("exec s1 -- ping -c 2 -i 0.2 -W 1 {gateway}")).code != 0);
    // With a default route of its own, no address of the host nor beyond it.
    sb.netctl(&format!("exec s1 -- ip route add default via {gateway}")).ok();
    for url in ["http://198.51.100.1:7778/", &format!("http://{gateway}:7778/")] {
        let out = curl_once(&sb, "netctl exec s1 --", url);
        assert!(out.code != 0, "{url} answered an internal container: {out:?}");
    }
    assert!(sb.netctl("exec s1 -- ping -c 2 -i 0.2 -W 1 198.51.100.2").code != 0);
    // Inside the bridge everything works, names included (the resolver is in the
    // container's own namespace).
    let names = sb.netctl("exec s1 -- dig +short +tries=1 +time=2 s2").ok();
    assert_eq!(names.trimmed(), s2);
    sb.curl("netctl exec s1 --", "http://s2:8080/").ok();
    // The host still reaches its internal containers: replies come back in.
    sb.curl("", &format!("http://{s2}:8080/")).ok();
}
