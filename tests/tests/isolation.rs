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

fn id_of(sb: &Sandbox, name: &str) -> String {
    sb.netctl(&format!("inspect --format '{{{{.Id}}}}' {name}")).ok().trimmed().to_string()
}

/// POSTs `body` to the API and gives the status code and the body.
fn post(sb: &Sandbox, path: &str, body: &str) -> (u16, String) {
    let out = sb
        .sh(&format!(
            "curl -sS --unix-socket /run/netctl/netctl.sock -X POST -H 'Content-Type: application/json' \
             -d '{body}' -w '\\n%{{http_code}}' http://localhost{path}"
        ))
        .ok();
    let (text, code) = out.stdout.trim_end().rsplit_once('\n').expect("body and status");
    (code.parse().expect("status"), text.to_string())
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

#[test]
fn state_and_logs_are_root_s_alone_however_the_directories_came_to_exist() {
    let sb = Sandbox::new();
    // Made beforehand and open to all, as `mkdir -p`, a package or an older netctl leaves them.
    sb.sh(
        "mkdir -p /var/lib/netctl/containers /var/lib/netctl/networks /var/lib/netctl/logs /run/netctl/containers \
         && chmod 755 /var/lib/netctl /var/lib/netctl/* /run/netctl /run/netctl/containers",
    )
    .ok();
    sb.start_daemon();
    sb.netctl("network create plain").ok();
    sb.netctl("run -d --name s1 --net plain -e SECRET=hunter2 -- sh -c 'echo $SECRET; sleep 1000'").ok();
    let id = id_of(&sb, "s1");
    let secrets = [
        format!("/var/lib/netctl/containers/{id}.json"),
        format!("/run/netctl/containers/{id}/process.json"),
        format!("/var/lib/netctl/logs/{id}.log"),
    ];
    let nobody =
        |path: &str| sb.sh(&format!("setpriv --reuid=65534 --regid=65534 --clear-groups cat {path}"));
    let check = |when: &str| {
        for path in &secrets {
            let root = sb.sh(&format!(
                "for i in $(seq 50); do grep -q hunter2 {path} && exit 0; sleep 0.1; done; exit 1"
            ));
            assert!(root.code == 0, "{when}: {path} should hold the secret for root");
            let out = nobody(path);
            assert!(out.code != 0 && !out.stdout.contains("hunter2"), "{when}: nobody read {path}: {out:?}");
        }
        let modes = sb.sh("find /var/lib/netctl /run/netctl -type d -printf '%m %p\\n'").ok();
        assert!(modes.stdout.lines().count() >= 6, "{modes:?}");
        for line in modes.stdout.lines() {
            assert!(line.starts_with("700 "), "{when}: {line}");
        }
    };
    check("first start");
    assert_eq!(sb.sh(&format!("stat -c %a {}", secrets[0])).ok().trimmed(), "600");
    // Whoever loosened them while the daemon was down, the next start tightens them.
    sb.stop_daemon();
    sb.sh("chmod -R a+rX /var/lib/netctl /run/netctl").ok();
    sb.start_daemon();
    check("after a restart");
    let files = sb.sh("find /var/lib/netctl /run/netctl -type f -printf '%m %p\\n'").ok();
    assert!(files.stdout.contains(&format!("{id}.log")), "{files:?}");
    for line in files.stdout.lines() {
        let shared = ["/hosts", "/resolv.conf", "/hostname"].iter().any(|f| line.ends_with(f));
        assert!(line.starts_with(if shared { "644 " } else { "600 " }), "{line}");
    }
    // The files the container itself reads stay readable to every user inside it.
    let inside = sb
        .netctl(
            "exec s1 -- setpriv --reuid=65534 --regid=65534 --clear-groups cat /etc/hosts /etc/resolv.conf",
        )
        .ok();
    assert!(inside.stdout.contains("localhost"), "{inside:?}");
}

#[test]
fn what_cannot_work_is_refused_with_a_400_that_says_why() {
    let sb = Sandbox::new();
    sb.start_daemon();
    let links_before = sb.link_names();
    for (subnet, why) in [
        ("127.0.0.0/8", "loopback"),
        ("0.0.0.0/8", "this network"),
        ("224.0.0.0/24", "multicast"),
        ("169.254.0.0/16", "link-local"),
        ("255.255.255.0/24", "broadcast"),
    ] {
        let (code, body) = post(
            &sb,
            "/v1/networks",
            &format!(r#"{{"Name":"n","IPAM":{{"Config":[{{"Subnet":"{subnet}"}}]}}}}"#),
        );
        assert_eq!(code, 400, "{subnet}: {body}");
        assert!(body.contains(why), "{subnet}: {body}");
    }
    let (code, body) = post(
        &sb,
        "/v1/networks",
        r#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.8.0.1"}]}}"#,
    );
    assert!(
        code == 400
            && body
                .contains("invalid gateway 10.8.0.1: parent subnet 10.9.0.0/24 doesn't contain this address"),
        "{code} {body}"
    );
    let err = sb.netctl("network create --subnet 127.0.0.0/8 lo8").fail();
    assert!(err.stderr.contains("loopback"), "{err:?}");
    assert_eq!(sb.link_names(), links_before, "nothing made");
    assert!(sb.netctl("network inspect n").code != 0);

    // A file that is not a network namespace.
    for path in ["/etc/passwd", "/proc/self/ns/mnt", "/run"] {
        let (code, body) =
            post(&sb, "/v1/containers/attach", &format!(r#"{{"Name":"x1","NetnsPath":"{path}"}}"#));
        assert_eq!(code, 400, "{path}: {body}");
        assert!(body.contains("not a network namespace"), "{path}: {body}");
    }
    let err = sb.netctl("container attach x1 --netns /etc/passwd").fail();
    assert!(err.stderr.contains("not a namespace file"), "{err:?}");
    assert!(sb.netctl("inspect x1").code != 0);
    // A real one still attaches.
    sb.sh("ip netns add real").ok();
    sb.netctl("container attach real --netns /run/netns/real").ok();

    // Too many published ports for one container: refused before one is bound.
    let err = sb.netctl("run -d --name many -p 1-65535:1-65535 -- sleep 1000").fail();
    assert!(err.stderr.contains("at most 1024"), "{err:?}");
    let err = sb.netctl("run -d --name many --expose 1-65535 -P -- sleep 1000").fail();
    assert!(err.stderr.contains("at most 1024"), "{err:?}");
    let err = sb.netctl("run -d --name many -p 224.0.0.1:80:80 -- sleep 1000").fail();
    assert!(err.stderr.contains("multicast"), "{err:?}");
    assert!(sb.netctl("inspect many").code != 0);
    // The daemon holds no more descriptors than before, and still serves.
    sb.netctl("run -d --name fine -p 20000-21023:20000-21023 -- sleep 1000").ok();
    sb.netctl("rm -f fine").ok();
    sb.netctl("network ls -q").ok();
}

#[test]
fn the_cli_ends_quietly_when_its_reader_goes_away() {
    let sb = Sandbox::new();
    sb.start_daemon();
    for i in 0..3 {
        sb.netctl(&format!("run -d --name c{i} -- sleep 1000")).ok();
    }
    // The reader has gone before netctl writes a byte: every write fails with EPIPE.
    for cmd in ["ps --format json", "ps", "network ls", "network inspect bridge", "inspect c0"] {
        let out = sb.sh(&format!(
            "{{ sleep 0.3; netctl {cmd}; }} | {{ exec 0<&-; sleep 0.6; }}; echo \"status ${{PIPESTATUS[0]}}\""
        ));
        assert!(out.stderr.trim().is_empty(), "{cmd}: {out:?}");
        // Killed by SIGPIPE, as `cat` would be (128 + 13).
        assert_eq!(out.trimmed(), "status 141", "{cmd}: {out:?}");
    }
    let out = sb.sh("netctl ps --format json | head -c 600 >/dev/null; echo \"status ${PIPESTATUS[0]}\"");
    assert!(out.stderr.trim().is_empty(), "{out:?}");
}
