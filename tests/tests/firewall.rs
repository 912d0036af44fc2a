//! The nftables table netctl owns, and what it lets through (issue 5): rules per
//! network option, isolation checked with ping between namespaces, published
//! ports from another host, from loopback, from the host's own address and from
//! containers (hairpin), and the table coming back after `nft flush ruleset`.
//! What other hosts may reach, and internal networks the host, is in isolation.rs.

use netctl_tests::Sandbox;

fn ip_of(sb: &Sandbox, container: &str, net: &str) -> String {
    // `index`, as Docker's templates need for names with a dash (net-a).
    sb.netctl(&format!(
        r#"inspect --format '{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}' {container}"#
    ))
    .ok()
    .trimmed()
    .to_string()
}

fn bridge_of(sb: &Sandbox, net: &str) -> String {
    let v = sb.netctl(&format!("network inspect {net}")).ok().json();
    format!("br-{}", &v[0]["Id"].as_str().expect("Id")[..12])
}

fn subnet_of(sb: &Sandbox, net: &str) -> String {
    let v = sb.netctl(&format!("network inspect {net}")).ok().json();
    v[0]["IPAM"]["Config"][0]["Subnet"].as_str().expect("Subnet").to_string()
}

/// `nft list table inet netctl` with each network's bridge and subnet written as
/// its name, so the expected text does not depend on generated ids.
fn table_text(sb: &Sandbox, nets: &[&str]) -> String {
    let mut text = sb.sh("nft list table inet netctl").ok().stdout;
    for net in nets {
        let bridge = if *net == "bridge" { "netctl0".to_string() } else { bridge_of(sb, net) };
        text = text
            .replace(&bridge, &format!("<{net}>"))
            .replace(&subnet_of(sb, net), &format!("<{net}-subnet>"));
    }
    text
}

/// `{ "b", "a" }` → `{ "a", "b" }`: set elements follow bridge names, which are random.
fn sorted_sets(line: &str) -> String {
    match (line.find('{'), line.find('}')) {
        (Some(a), Some(b)) if a < b => {
            let mut items: Vec<&str> = line[a + 1..b].split(',').map(str::trim).collect();
            items.sort();
            format!("{}{{ {} }}{}", &line[..a], items.join(", "), &line[b + 1..])
        }
        _ => line.to_string(),
    }
}

#[test]
fn rules_per_network_option() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create plain").ok();
    sb.netctl("network create --internal sealed").ok();
    sb.netctl("network create -o com.docker.network.bridge.enable_icc=false noicc").ok();
    sb.netctl("network create -o com.docker.network.bridge.enable_ip_masquerade=false nomasq").ok();
    sb.netctl("run -d --name web -p 8080:80 -p 127.0.0.1:5353:53/udp -- sleep 1000").ok();
    let web_ip = ip_of(&sb, "web", "bridge");
    let got = table_text(&sb, &["bridge", "plain", "sealed", "noicc", "nomasq"]).replace(&web_ip, "<web>");
    let golden = format!("{}/golden/firewall-options.nft", env!("CARGO_MANIFEST_DIR"));
    // NETCTL_BLESS=1 writes what we got as the new expectation (review its diff).
    if std::env::var_os("NETCTL_BLESS").is_some() {
        std::fs::write(&golden, &got).expect("write golden file");
    }
    let want = std::fs::read_to_string(&golden).expect("golden file");
    // Bridges are ordered by name, and names are random: compare as sets of lines
    // within each chain, which is what decides behaviour here except the order of
    // the forward chain's groups (drops, then the dnat accept, then isolation),
    // checked below.
    let chains = |t: &str| -> Vec<(String, Vec<String>)> {
        t.split("chain ")
            .skip(1)
            .map(|c| {
                let mut lines: Vec<String> = c
                    .lines()
                    .skip(1)
                    .map(|l| sorted_sets(l.trim()))
                    .filter(|l| !l.is_empty() && l != "}")
                    .collect();
                lines.sort();
                (c.lines().next().unwrap_or_default().to_string(), lines)
            })
            .collect()
    };
    assert_eq!(chains(&got), chains(&want), "got:\n{got}");
    let forward: Vec<&str> = got.split("chain forward").nth(1).unwrap().lines().collect();
    let pos = |needle: &str| forward.iter().position(|l| l.contains(needle)).unwrap();
    assert!(
        pos("drop") < pos("ct status dnat accept") && pos("ct status dnat accept") < pos("oifname {"),
        "{got}"
    );
    // Then replies, then nothing else into a bridge from outside it.
    let last = |needle: &str| forward.iter().rposition(|l| l.contains(needle)).unwrap();
    assert!(last("oifname {") < pos("ct state established,related accept"), "{got}");
    assert!(pos("ct state established,related accept") < pos(r#"iifname != "<bridge>" drop"#), "{got}");
    // The JSON form has our two tables only; nobody else's is touched.
    let json = sb.sh("nft -j list ruleset").ok().json();
    let tables: Vec<String> = json["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.get("table"))
        .map(|t| format!("{} {}", t["family"].as_str().unwrap(), t["name"].as_str().unwrap()))
        .collect();
    assert_eq!(tables, vec!["inet netctl", "bridge netctl"]);
    assert_eq!(sb.sh("cat /proc/sys/net/ipv4/ip_forward").ok().trimmed(), "1");

    // Rules go with their network and port.
    sb.netctl("rm -f web").ok();
    sb.netctl("network rm plain sealed noicc nomasq").ok();
    let left = sb.sh("nft list table inet netctl").ok().stdout;
    assert!(!left.contains("dnat ip to") && !left.contains("br-"), "{left}");
    // What stays is the default network's door: replies in, nothing else from outside.
    let drops: Vec<&str> = left.lines().map(str::trim).filter(|l| l.ends_with(" drop")).collect();
    assert_eq!(drops, vec![r#"oifname "netctl0" iifname != "netctl0" drop"#], "{left}");
}

#[test]
fn isolation_internal_and_icc() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.add_outside_host();
    sb.netctl("network create net-a").ok();
    sb.netctl("network create net-b").ok();
    sb.netctl("network create --internal sealed").ok();
    sb.netctl("network create -o com.docker.network.bridge.enable_icc=false noicc").ok();
    for (name, net) in [
        ("a1", "net-a"),
        ("a2", "net-a"),
        ("b1", "net-b"),
        ("s1", "sealed"),
        ("s2", "sealed"),
        ("n1", "noicc"),
        ("n2", "noicc"),
    ] {
        sb.netctl(&format!("run -d --name {name} --net {net} -- sleep 1000")).ok();
    }
    let ping = |from: &str, to: &str| sb.netctl(&format!("exec {from} -- ping -c 1 -W 1 {to}")).code == 0;
    let (a2, b1, s2, n2) = (
        ip_of(&sb, "a2", "net-a"),
        ip_of(&sb, "b1", "net-b"),
        ip_of(&sb, "s2", "sealed"),
        ip_of(&sb, "n2", "noicc"),
    );
    assert!(ping("a1", &a2), "same network");
    assert!(!ping("a1", &b1), "net-a must not reach net-b");
    assert!(!ping("b1", &a2), "net-b must not reach net-a");
    assert!(ping("a1", "198.51.100.2"), "a normal network reaches outside");
    assert!(ping("s1", &s2), "an internal network still talks inside");
    assert!(!ping("s1", "198.51.100.2"), "an internal network reaches nothing outside");
    assert!(!ping("a1", &s2), "nothing reaches into an internal network");
    assert!(!ping("n1", &n2), "icc=false: no container-to-container traffic");
    assert!(ping("n1", "198.51.100.2"), "icc=false still reaches outside");
    // Outbound traffic leaves with the host's address (masquerade): the outside
    // host sees 198.51.100.1, never a container address.
    sb.sh("ip netns exec outside python3 -c \"
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 7000)); s.listen()
c, peer = s.accept(); c.sendall(peer[0].encode()); c.close()\" >/dev/null 2>&1 & sleep 0.3").ok();
    let seen = sb.netctl("exec a1 -- python3 -c \"import socket; print(socket.create_connection(('198.51.100.2', 7000), timeout=3).recv(64).decode())\"").ok();
    assert_eq!(seen.trimmed(), "198.51.100.1");
}

#[test]
fn published_ports_from_everywhere() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.add_outside_host();
    sb.netctl("run -d --name web -p 8080:80 -- python3 -m http.server 80").ok();
    sb.netctl("network create other").ok();
    sb.netctl("run -d --name neighbour -- sleep 1000").ok();
    sb.netctl("run -d --name stranger --net other -- sleep 1000").ok();
    let outside = sb.curl("ip netns exec outside", "http://198.51.100.1:8080/");
    assert!(
        outside.code == 0 && outside.stdout.contains("Directory listing"),
        "from another host: {outside:?}"
    );
    // From outside the kernel's DNAT serves it: the server sees the real client.
    let log = sb.netctl("logs web").ok().stdout;
    assert!(log.contains("198.51.100.2 - -"), "{log}");
    sb.curl("", "http://127.0.0.1:8080/").ok();
    sb.curl("", "http://198.51.100.1:8080/").ok();
    sb.curl("netctl exec neighbour --", "http://198.51.100.1:8080/").ok();
    sb.curl("netctl exec stranger --", "http://198.51.100.1:8080/").ok();
    sb.curl("netctl exec web --", "http://198.51.100.1:8080/").ok();

    // A free host port picked for `-p 80`, and -P for exposed ports.
    sb.netctl("run -d --name any -p 80 -- python3 -m http.server 80").ok();
    let host = sb.netctl("port any 80").ok().trimmed().to_string();
    let port = host.rsplit(':').next().unwrap();
    assert!(host.starts_with("0.0.0.0:") && port.parse::<u16>().unwrap() > 0, "{host}");
    sb.curl("ip netns exec outside", &format!("http://198.51.100.1:{port}/")).ok();
    sb.netctl("run -d --name all --expose 80 -P -- python3 -m http.server 80").ok();
    assert!(sb.netctl("port all").ok().stdout.starts_with("80/tcp -> 0.0.0.0:"));

    // UDP, on one host address only.
    sb.netctl(
        "run -d --name echo -p 127.0.0.1:5300:53/udp -- python3 -c \"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 53))
while True:
    d, a = s.recvfrom(512); s.sendto(d.upper(), a)\"",
    )
    .ok();
    let udp = sb.sh("for i in $(seq 50); do out=$(python3 -c \"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.5); s.sendto(b'hello', ('127.0.0.1', 5300)); print(s.recv(64).decode())\" 2>/dev/null) && break; sleep 0.1; done; echo $out").ok();
    assert_eq!(udp.trimmed(), "HELLO");

    // A port in use: a clear error, and nothing made.
    let before = sb.link_names().len();
    let busy = sb.netctl("run -d --name clash -p 8080:80 -- sleep 1000").fail();
    assert!(busy.stderr.contains("port is already allocated"), "{busy:?}");
    assert!(sb.netctl("inspect clash").code != 0);
    assert_eq!(sb.link_names().len(), before);

    // An admin flushes the ruleset: `firewall reload` puts ours back.
    let stranger = ip_of(&sb, "stranger", "other");
    // Three tries: the first packet across a fresh path may wait for neighbour resolution.
    let isolated = || sb.netctl(&format!("exec neighbour -- ping -c 3 -i 0.2 -W 1 {stranger}")).code != 0;
    assert!(isolated());
    sb.sh("nft flush ruleset").ok();
    assert!(sb.sh("nft list table inet netctl").code != 0, "flushed");
    assert!(!isolated(), "with the rules flushed, networks are not isolated");
    sb.netctl("firewall reload").ok();
    assert!(sb.sh("nft list chain inet netctl published").ok().stdout.contains("dport 8080"));
    assert!(isolated());
    sb.curl("ip netns exec outside", "http://198.51.100.1:8080/").ok();
    // And a daemon restart puts everything back too, the loopback relay included.
    sb.sh("nft flush ruleset").ok();
    sb.restart_daemon();
    assert!(isolated());
    assert!(sb.sh("nft list chain inet netctl published").ok().stdout.contains("dport 8080"));
    sb.curl("ip netns exec outside", "http://198.51.100.1:8080/").ok();
    sb.curl("", "http://127.0.0.1:8080/").ok();

    // The rule and the relay go with the container.
    sb.netctl("rm -f web").ok();
    assert!(!sb.sh("nft list table inet netctl").ok().stdout.contains("dport 8080"));
    assert!(sb.sh("curl -s --max-time 1 http://127.0.0.1:8080/").code != 0);
}
