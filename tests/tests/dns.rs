//! The embedded resolver at 127.0.0.11, asked with dig from inside containers (issue 4).

use std::time::Instant;

use netctl_tests::Sandbox;

/// An upstream of our own: dnsmasq in a namespace of the sandbox at 10.250.0.2,
/// answering *.example.test with 10.9.9.9 (TTL 300) and logging every query.
fn start_upstream(sb: &Sandbox) {
    sb.sh(
        "ip netns add up && ip link add upv type veth peer name upp netns up \
         && ip addr add 10.250.0.1/24 dev upv && ip link set upv up \
         && ip -n up addr add 10.250.0.2/24 dev upp && ip -n up link set upp up && ip -n up link set lo up \
         && ip netns exec up dnsmasq --no-resolv --no-hosts --listen-address=10.250.0.2 --bind-interfaces \
            --address=/example.test/10.9.9.9 --local-ttl=300 --log-queries --log-facility=/run/dnsmasq.log --pid-file=/run/dnsmasq.pid",
    )
    .ok();
}

fn upstream_queries(sb: &Sandbox, name: &str) -> usize {
    sb.sh(&format!("grep -c 'query\\[A\\] {name} ' /run/dnsmasq.log || true"))
        .ok()
        .trimmed()
        .parse()
        .unwrap_or(0)
}

fn dig(sb: &Sandbox, net: &str, args: &str) -> String {
    sb.netctl(&format!("run --rm --net {net} -- dig +tries=1 +time=3 {args}")).ok().stdout
}

#[test]
fn tutorial_names_and_aliases() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create backend-network").ok();
    sb.netctl("run -d --name redis --net backend-network -- redis-server --protected-mode no").ok();
    let resolv = sb.netctl("run --rm --net backend-network -- cat /etc/resolv.conf").ok().stdout;
    assert!(resolv.contains("nameserver 127.0.0.11") && resolv.contains("options ndots:0"), "{resolv}");
    assert_eq!(resolv.matches("nameserver").count(), 1, "{resolv}");
    sb.netctl("run --rm --net backend-network -- ping -c1 -W2 redis").ok();
    let pong = sb.sh("for i in $(seq 50); do out=$(netctl run --rm --net backend-network -- redis-cli -h redis ping) && [ \"$out\" = PONG ] && break; sleep 0.1; done; echo $out").ok();
    assert_eq!(pong.trimmed(), "PONG");
    sb.netctl("network create frontend-network2").ok();
    sb.netctl("network connect --alias db frontend-network2 redis").ok();
    sb.netctl("run --rm --net frontend-network2 -- ping -c1 -W2 db").ok();
    let fail = sb.netctl("run --rm --net backend-network -- ping -c1 -W2 db").fail();
    assert!(fail.stderr.contains("db") || fail.stdout.contains("db"), "{fail:?}");
    // The default network has no embedded resolver, as in Docker.
    let plain = sb.netctl("run --rm -- cat /etc/resolv.conf").ok().stdout;
    assert!(!plain.contains("127.0.0.11"), "{plain}");
}

#[test]
fn what_it_answers() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create net-a").ok();
    sb.netctl("network create net-b").ok();
    let id = sb
        .netctl("run -d --name web --hostname webhost --net net-a --network-alias www -- sleep 600")
        .ok()
        .trimmed()
        .to_string();
    sb.netctl("run -d --name bonly --net net-b -- sleep 600").ok();
    let short = &id[..12];
    for name in ["web", "WEB", "www", short, "webhost", "web.net-a", "web.net-a."] {
        assert_eq!(dig(&sb, "net-a", &format!("+short {name}")).trim(), "172.18.0.2", "{name}");
    }
    assert!(dig(&sb, "net-a", "bonly").contains("status: NXDOMAIN"), "other networks' names are not seen");
    assert!(dig(&sb, "net-b", "www").contains("status: NXDOMAIN"));
    let aaaa = dig(&sb, "net-a", "web AAAA");
    assert!(aaaa.contains("status: NOERROR") && aaaa.contains("ANSWER: 0"), "NODATA: {aaaa}");
    assert!(dig(&sb, "net-a", "web").contains("\t600\tIN\tA\t172.18.0.2"), "TTL 600");
    assert_eq!(dig(&sb, "net-a", "+short -x 172.18.0.2").trim(), "web.net-a.");
    assert_eq!(dig(&sb, "net-a", "+short +tcp web").trim(), "172.18.0.2");
    assert!(dig(&sb, "net-a", "+edns=0 web").contains("EDNS: version: 0"), "EDNS echoed");
    // A process in the container can still have port 53 for itself.
    let own53 = sb.netctl("run --rm --net net-a -- python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 53)); print('ok')\"").ok();
    assert_eq!(own53.trimmed(), "ok");
}

#[test]
fn round_robin_and_truncation() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    for i in 0..3 {
        sb.netctl(&format!("run -d --name rr{i} --net n --network-alias svc -- sleep 600")).ok();
    }
    sb.netctl("run -d --name asker --net n -- sleep 600").ok();
    let firsts =
        sb.netctl("exec asker -- sh -c 'for i in $(seq 30); do dig +short svc | head -1; done'").ok();
    let mut distinct: Vec<&str> = firsts.stdout.lines().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "every holder comes first sometimes: {}", firsts.stdout);
    assert_eq!(sb.netctl("exec asker -- dig +short svc").ok().stdout.lines().count(), 3);
    // 40 holders do not fit in 512 bytes: TC over UDP, everything over TCP.
    sb.sh("for i in $(seq 40); do netctl run -d --net n --network-alias big -- sleep 600 >/dev/null || exit 1; done").ok();
    let udp = sb.netctl("exec asker -- dig +noedns +ignore big").ok().stdout;
    assert!(udp.contains(" tc ") || udp.contains(" tc;"), "TC set: {udp}");
    let tcp = sb.netctl("exec asker -- dig +tcp +short big").ok().stdout;
    assert_eq!(tcp.lines().count(), 40);
}

#[test]
fn forwarding_caching_dead_upstream_and_internal_networks() {
    let sb = Sandbox::new();
    start_upstream(&sb);
    // The first upstream does not exist: it must be skipped, then remembered as dead.
    sb.sh("printf '[dns]\\nupstream = [\"10.250.0.99\", \"10.250.0.2\"]\\n' > /etc/netctl/netctl.toml").ok();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.netctl("network create --internal priv").ok();
    sb.netctl("run -d --name c --net n -- sleep 600").ok();
    let resolv = sb.netctl("exec c -- cat /etc/resolv.conf").ok().stdout;
    assert!(resolv.contains("10.250.0.2"), "upstreams named in a comment: {resolv}");
    assert_eq!(sb.netctl("exec c -- dig +short +time=5 one.example.test").ok().trimmed(), "10.9.9.9");
    let t = Instant::now();
    assert_eq!(sb.netctl("exec c -- dig +short +time=5 two.example.test").ok().trimmed(), "10.9.9.9");
    assert!(t.elapsed().as_millis() < 1000, "the dead server is not waited on again: {:?}", t.elapsed());
    assert_eq!(sb.netctl("exec c -- dig +short one.example.test").ok().trimmed(), "10.9.9.9");
    assert_eq!(upstream_queries(&sb, "one.example.test"), 1, "the second answer came from the cache");
    let nx = sb.netctl("exec c -- dig nothing.other.test").ok().stdout;
    assert!(
        nx.contains("status: REFUSED") || nx.contains("status: NXDOMAIN"),
        "the upstream's rcode passes through: {nx}"
    );
    // Internal only: names of the network resolve, nothing is forwarded.
    sb.netctl("run -d --name hidden --net priv -- sleep 600").ok();
    assert!(sb.netctl("exec hidden -- dig one.example.test").ok().stdout.contains("status: REFUSED"));
    assert_eq!(sb.netctl("exec hidden -- dig +short hidden").ok().trimmed(), "172.19.0.2");
}

#[test]
fn live_changes_and_restart() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.netctl("network create m").ok();
    sb.netctl("run -d --name asker --net n -- sleep 600").ok();
    sb.netctl("run -d --name mover --net m -- sleep 600").ok();
    // Resolvable the moment connect returns, gone the moment disconnect returns.
    let now =
        sb.sh("netctl network connect --alias fresh n mover && netctl exec asker -- dig +short fresh").ok();
    assert_eq!(now.trimmed(), "172.18.0.3");
    let gone = sb.sh("netctl network disconnect n mover && netctl exec asker -- dig fresh").ok();
    assert!(gone.stdout.contains("status: NXDOMAIN"), "{}", gone.stdout);
    let removed = sb.sh("netctl network connect n mover && netctl rm -f mover >/dev/null && netctl exec asker -- dig mover").ok();
    assert!(removed.stdout.contains("status: NXDOMAIN"));
    // A stopped container's names are gone, as in Docker, and back when it starts.
    sb.netctl("run -d --name stopper --net n -- sleep 600").ok();
    let ip = sb.netctl("exec asker -- dig +short stopper").ok().trimmed().to_string();
    assert!(ip.starts_with("172.18.0."), "{ip}");
    let stopped = sb.sh("netctl stop -t 1 stopper >/dev/null && netctl exec asker -- dig stopper").ok();
    assert!(stopped.stdout.contains("status: NXDOMAIN"), "{}", stopped.stdout);
    sb.netctl("start stopper").ok();
    assert_eq!(sb.netctl("exec asker -- dig +short stopper").ok().trimmed(), ip);
    // After a restart the listener is back before the daemon answers.
    sb.restart_daemon();
    assert_eq!(sb.netctl("exec asker -- dig +short asker").ok().trimmed(), "172.18.0.2");
    assert_eq!(sb.netctl("exec asker -- dig +short +tcp asker").ok().trimmed(), "172.18.0.2");
}

#[test]
fn dns_flags_of_run_override_as_in_docker() {
    let sb = Sandbox::new();
    start_upstream(&sb);
    // No [dns] upstream: the daemon's default servers are unreachable from the sandbox,
    // so an answer can only come through the container's own --dns server.
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.netctl(
        "run -d --name c --net n --dns 10.250.0.2 --dns-search corp.test --dns-option ndots:2 -- sleep 600",
    )
    .ok();
    let resolv = sb.netctl("exec c -- cat /etc/resolv.conf").ok().stdout;
    assert!(resolv.contains("nameserver 127.0.0.11\n"), "{resolv}");
    assert!(resolv.contains("search corp.test\n") && resolv.contains("options ndots:2\n"), "{resolv}");
    assert!(!resolv.contains("ndots:0") && resolv.contains("ExtServers: [10.250.0.2]"), "{resolv}");
    assert_eq!(sb.netctl("exec c -- dig +short +time=5 x.example.test").ok().trimmed(), "10.9.9.9");
    // On the default network, --dns is written as the nameserver itself.
    let plain = sb.netctl("run --rm --dns 10.250.0.2 -- cat /etc/resolv.conf").ok().stdout;
    assert!(plain.contains("nameserver 10.250.0.2\n") && !plain.contains("127.0.0.11"), "{plain}");
    assert!(sb.netctl("run --rm --dns banana -- true").fail().stderr.contains("banana"));
}
