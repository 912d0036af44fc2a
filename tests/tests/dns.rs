//! The embedded resolver at 127.0.0.11, asked with dig from inside containers (issue 4).

use std::time::Instant;

use netctl_tests::Sandbox;

/// An upstream of our own: dnsmasq in a namespace of the sandbox at 10.250.0.2,
/// answering *.example.test with 10.9.9.9 (TTL 300), big.example.test TXT with
/// eight 200-byte strings (1.7 kB: more than a UDP answer holds), and logging
/// every query.
fn start_upstream(sb: &Sandbox) {
    let txt: Vec<String> = (0..8).map(|i| format!("\\\"{i:03}{}\\\"", "x".repeat(197))).collect();
    sb.sh(&format!(
        "ip netns add up && ip link add upv type veth peer name upp netns up \
         && ip addr add 10.250.0.1/24 dev upv && ip link set upv up \
         && ip -n up addr add 10.250.0.2/24 dev upp && ip -n up link set upp up && ip -n up link set lo up \
         && ip netns exec up dnsmasq --no-resolv --no-hosts --listen-address=10.250.0.2 --bind-interfaces \
            --address=/example.test/10.9.9.9 --local-ttl=300 --txt-record=big.example.test,{} \
            --log-queries --log-facility=/run/dnsmasq.log --pid-file=/run/dnsmasq.pid",
        txt.join(",")
    ))
    .ok();
}

/// Another upstream in the namespace of `start_upstream`, at `ip`, with dnsmasq's
/// `args` (none: it refuses every question).
fn start_other_upstream(sb: &Sandbox, ip: &str, args: &str) {
    sb.sh(&format!(
        "ip -n up addr add {ip}/24 dev upp && ip netns exec up dnsmasq --no-resolv --no-hosts \
         --listen-address={ip} --bind-interfaces --local-ttl=300 {args} --log-queries \
         --log-facility=/run/dnsmasq-{ip}.log --pid-file=/run/dnsmasq-{ip}.pid"
    ))
    .ok();
}

fn upstream_queries(sb: &Sandbox, name: &str) -> usize {
    sb.sh(&format!("grep -c 'query\\[A\\] {name} ' /run/dnsmasq.log || true"))
        .ok()
        .trimmed()
        .parse()
        .unwrap_or(0)
}

/// Every question the upstream at 10.250.0.2 was asked, as dnsmasq logs them.
fn upstream_log(sb: &Sandbox) -> String {
    sb.sh("grep -o 'query\\[.*' /run/dnsmasq.log || true").ok().stdout
}

/// dig's "Query time" in milliseconds.
fn query_ms(dig: &str) -> u64 {
    let line = dig.lines().find(|l| l.contains("Query time:")).unwrap_or_else(|| panic!("{dig}"));
    line.split_whitespace().nth(3).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{line}"))
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
    // 40 holders do not fit in 512 bytes: TC over UDP with as many whole records
    // as fit (12 bytes of header, 9 of question, 16 per record: 30), everything
    // over TCP.
    sb.sh("for i in $(seq 40); do netctl run -d --net n --network-alias big -- sleep 600 >/dev/null || exit 1; done").ok();
    let udp = sb.netctl("exec asker -- dig +noedns +ignore big").ok().stdout;
    assert!(udp.contains(" tc ") || udp.contains(" tc;"), "TC set: {udp}");
    assert!(udp.contains("ANSWER: 30,"), "the records that fit: {udp}");
    assert!(udp.contains("MSG SIZE  rcvd: 501"), "{udp}");
    // A client that never retries over TCP (getent, as glibc does by default) still
    // gets addresses.
    let short = sb.netctl("exec asker -- dig +noedns +ignore +short big").ok().stdout;
    assert_eq!(short.lines().filter(|l| l.starts_with("172.18.0.")).count(), 30, "{short}");
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
    sb.netctl("run -d --name c1 --net n -- sleep 600").ok();
    let resolv = sb.netctl("exec c1 -- cat /etc/resolv.conf").ok().stdout;
    assert!(resolv.contains("10.250.0.2"), "upstreams named in a comment: {resolv}");
    assert_eq!(sb.netctl("exec c1 -- dig +short +time=5 one.example.test").ok().trimmed(), "10.9.9.9");
    let t = Instant::now();
    assert_eq!(sb.netctl("exec c1 -- dig +short +time=5 two.example.test").ok().trimmed(), "10.9.9.9");
    assert!(t.elapsed().as_millis() < 1000, "the dead server is not waited on again: {:?}", t.elapsed());
    assert_eq!(sb.netctl("exec c1 -- dig +short one.example.test").ok().trimmed(), "10.9.9.9");
    assert_eq!(upstream_queries(&sb, "one.example.test"), 1, "the second answer came from the cache");
    let nx = sb.netctl("exec c1 -- dig nothing.other.test").ok().stdout;
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
    // A name that is gone is a single label no container holds: forwarded by
    // default (tests/tests/files.rs), to servers a sandbox cannot reach. Kept here,
    // it is NXDOMAIN the moment it goes.
    sb.sh("printf '[dns]\\nforward_single_label = false\\n' > /etc/netctl/netctl.toml").ok();
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
        "run -d --name c1 --net n --dns 10.250.0.2 --dns-search corp.test --dns-option ndots:2 -- sleep 600",
    )
    .ok();
    let resolv = sb.netctl("exec c1 -- cat /etc/resolv.conf").ok().stdout;
    assert!(resolv.contains("nameserver 127.0.0.11\n"), "{resolv}");
    assert!(resolv.contains("search corp.test\n") && resolv.contains("options ndots:2\n"), "{resolv}");
    assert!(!resolv.contains("ndots:0") && resolv.contains("ExtServers: [10.250.0.2]"), "{resolv}");
    assert_eq!(sb.netctl("exec c1 -- dig +short +time=5 x.example.test").ok().trimmed(), "10.9.9.9");
    // On the default network, --dns is written as the nameserver itself.
    let plain = sb.netctl("run --rm --dns 10.250.0.2 -- cat /etc/resolv.conf").ok().stdout;
    assert!(plain.contains("nameserver 10.250.0.2\n") && !plain.contains("127.0.0.11"), "{plain}");
    assert!(sb.netctl("run --rm --dns banana -- true").fail().stderr.contains("banana"));
}

/// Issue 12: a process holding 1000 idle TCP connections to 127.0.0.11 does not
/// stop its container's next TCP query: past the bound the connection idle the
/// longest is closed, not the newcomer.
#[test]
fn idle_tcp_connections_never_shut_out_the_next_query() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.netctl("run -d --name c1 --net n -- sleep 600").ok();
    sb.sh(r#"cat > /run/hold.py <<'PY'
import resource, socket, subprocess, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
held = [socket.create_connection(("127.0.0.11", 53), timeout=10) for _ in range(1000)]
time.sleep(0.5)
t = time.time()
out = subprocess.run(["dig", "+tcp", "+tries=1", "+time=3", "+short", "c1"], capture_output=True, text=True)
print(out.stdout.strip() or out.stderr.strip() or "no answer")
print(round(time.time() - t, 3), file=sys.stderr)
# The oldest ones were closed by the resolver (a read sees EOF or a reset).
closed = 0
for s in held[:10]:
    s.settimeout(2)
    try:
        closed += s.recv(1) == b""
    except OSError:
        closed += 1
print("closed", closed)
PY"#)
        .ok();
    let out = sb.netctl("exec c1 -- python3 /run/hold.py").ok();
    eprintln!("a TCP query with 1000 idle connections held took {} s", out.stderr.trim());
    assert_eq!(out.stdout.lines().next(), Some("172.18.0.2"), "{out:?}");
    assert!(out.stdout.contains("closed 10"), "{out:?}");
    // And the listener is still fine for everyone afterwards.
    assert_eq!(sb.netctl("exec c1 -- dig +tcp +short c1").ok().trimmed(), "172.18.0.2");
}

/// Issue 12: `upstream = [A, B]` with A answering REFUSED: B is asked, as Docker
/// does (REFUSED and SERVFAIL mean "try the next server").
#[test]
fn a_refusing_upstream_is_passed_over() {
    let sb = Sandbox::new();
    start_upstream(&sb);
    start_other_upstream(&sb, "10.250.0.3", "");
    sb.sh("printf '[dns]\\nupstream = [\"10.250.0.3\", \"10.250.0.2\"]\\n' > /etc/netctl/netctl.toml").ok();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.netctl("run -d --name c1 --net n -- sleep 600").ok();
    let out = sb.netctl("exec c1 -- dig +tries=1 +time=5 x.example.test").ok().stdout;
    assert!(out.contains("status: NOERROR") && out.contains("10.9.9.9"), "{out}");
    let refusing = sb.sh("grep -c 'query\\[A\\] x.example.test' /run/dnsmasq-10.250.0.3.log").ok();
    assert_eq!(refusing.trimmed(), "1", "A was asked first");
}

/// Issue 12: opcodes other than QUERY get NOTIMP; a response (QR=1) gets nothing.
#[test]
fn other_opcodes_notimp_and_responses_dropped() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.netctl("run -d --name c1 --net n -- sleep 600").ok();
    for opcode in ["status", "update", "15"] {
        for tcp in ["", "+tcp"] {
            let out =
                sb.netctl(&format!("exec c1 -- dig +tries=1 +time=2 {tcp} +opcode={opcode} c1")).ok().stdout;
            assert!(out.contains("status: NOTIMP") && out.contains("ANSWER: 0"), "{opcode} {tcp}: {out}");
        }
    }
    sb.sh(r#"cat > /run/qr.py <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
# id 0x1234, QR=1 RD=1, one question: c A IN
q = bytes.fromhex("123481000001000000000000") + b"\x01c\x00\x00\x01\x00\x01"
for _ in range(3):
    s.sendto(q, ("127.0.0.11", 53))
try:
    print("reply", s.recv(1500).hex())
except socket.timeout:
    print("no reply")
s.sendto(q[:2] + b"\x01\x00" + q[4:], ("127.0.0.11", 53))
print("query answered", len(s.recv(1500)) > 12)
PY"#)
        .ok();
    let out = sb.netctl("exec c1 -- python3 /run/qr.py").ok();
    assert_eq!(out.trimmed(), "no reply\nquery answered True", "{out:?}");
}

/// Issue 12: `name.network` of a network the asker is not on, and reverse names of
/// other networks' addresses, are answered NXDOMAIN here and never forwarded.
#[test]
fn other_networks_names_never_leak_upstream() {
    let sb = Sandbox::new();
    start_upstream(&sb);
    sb.sh("printf '[dns]\\nupstream = [\"10.250.0.2\"]\\n' > /etc/netctl/netctl.toml").ok();
    sb.start_daemon();
    sb.netctl("network create net-a").ok();
    sb.netctl("network create net-b").ok();
    sb.netctl("run -d --name a1 --net net-a -- sleep 600").ok();
    sb.netctl("run -d --name b1 --net net-b -- sleep 600").ok();
    let b_ip = sb.netctl("exec b1 -- dig +short b1").ok().trimmed().to_string();
    assert!(b_ip.starts_with("172.19.0."), "{b_ip}");
    for (name, args) in [
        ("b1.net-b", "b1.net-b".to_string()),
        ("PTR of b1", format!("-x {b_ip}")),
        ("PTR of a free address of net-b", "-x 172.19.0.200".to_string()),
        ("PTR of a free address of net-a", "-x 172.18.0.200".to_string()),
    ] {
        let out = sb.netctl(&format!("exec a1 -- dig +tries=1 +time=3 {args}")).ok().stdout;
        assert!(out.contains("status: NXDOMAIN"), "{name}: {out}");
    }
    // Still answered where they are to be seen.
    assert_eq!(sb.netctl("exec b1 -- dig +short b1.net-b").ok().trimmed(), b_ip);
    assert_eq!(sb.netctl(&format!("exec b1 -- dig +short -x {b_ip}")).ok().trimmed(), "b1.net-b.");
    // Names that are not ours still go upstream.
    assert_eq!(sb.netctl("exec a1 -- dig +short x.example.test").ok().trimmed(), "10.9.9.9");
    let log = upstream_log(&sb);
    assert!(!log.contains("net-b") && !log.contains("in-addr.arpa"), "leaked upstream: {log}");
    assert!(log.contains("x.example.test"), "{log}");
}

/// Issue 12: the cache is per upstream set: a container with `--dns` never gets
/// what the daemon's servers said, nor the reverse.
#[test]
fn the_forwarding_cache_is_per_upstream_set() {
    let sb = Sandbox::new();
    start_upstream(&sb);
    start_other_upstream(&sb, "10.250.0.4", "--address=/example.test/10.8.8.8");
    sb.sh("printf '[dns]\\nupstream = [\"10.250.0.2\"]\\n' > /etc/netctl/netctl.toml").ok();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.netctl("run -d --name daemons --net n -- sleep 600").ok();
    sb.netctl("run -d --name own --net n --dns 10.250.0.4 -- sleep 600").ok();
    assert_eq!(sb.netctl("exec daemons -- dig +short same.example.test").ok().trimmed(), "10.9.9.9");
    assert_eq!(sb.netctl("exec own -- dig +short same.example.test").ok().trimmed(), "10.8.8.8");
    assert_eq!(sb.netctl("exec own -- dig +short other.example.test").ok().trimmed(), "10.8.8.8");
    assert_eq!(sb.netctl("exec daemons -- dig +short other.example.test").ok().trimmed(), "10.9.9.9");
    // Each set's answers are cached for it.
    assert_eq!(sb.netctl("exec daemons -- dig +short same.example.test").ok().trimmed(), "10.9.9.9");
    assert_eq!(upstream_queries(&sb, "same.example.test"), 1);
}

/// Issue 12: a question that came over TCP goes upstream over TCP, and a
/// truncated upstream answer is asked again over TCP: the client gets it whole.
#[test]
fn forwarded_answers_too_big_for_udp_come_whole() {
    let sb = Sandbox::new();
    start_upstream(&sb);
    sb.sh("printf '[dns]\\nupstream = [\"10.250.0.2\"]\\n' > /etc/netctl/netctl.toml").ok();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.netctl("run -d --name c1 --net n -- sleep 600").ok();
    let whole =
        |out: &str| out.contains("ANSWER: 1,") && (0..8).all(|i| out.contains(&format!("\"{i:03}xxx")));
    let tcp = sb.netctl("exec c1 -- dig +tries=1 +time=5 +tcp +noedns TXT big.example.test").ok().stdout;
    assert!(whole(&tcp) && !tcp.contains(" tc "), "over TCP: {tcp}");
    // Over UDP with room for it (the upstream truncates at 1232 bytes).
    let udp = sb.netctl("exec c1 -- dig +tries=1 +time=5 +bufsize=4096 TXT big.example.test").ok().stdout;
    assert!(whole(&udp) && !udp.contains(" tc "), "over UDP: {udp}");
}

/// Issue 12: a container whose upstream is silent, flooding the resolver with
/// questions for it, uses up its own budget only: another container's forwarded
/// answers come as fast as ever.
#[test]
fn a_silent_upstream_does_not_slow_another_container() {
    let sb = Sandbox::new();
    start_upstream(&sb);
    // A server that takes every question and never answers.
    sb.sh(r#"ip -n up addr add 10.250.0.5/24 dev upp && cat > /run/sink.py <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.250.0.5", 53))
while True:
    s.recv(4096)
PY
ip netns exec up setsid python3 /run/sink.py </dev/null >/dev/null 2>&1 &"#)
        .ok();
    sb.sh("printf '[dns]\\nupstream = [\"10.250.0.2\"]\\n' > /etc/netctl/netctl.toml").ok();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.netctl("run -d --name stuck --net n --dns 10.250.0.5 -- sleep 600").ok();
    sb.netctl("run -d --name fine --net n -- sleep 600").ok();
    let before = sb.netctl("exec fine -- dig +tries=1 +time=2 warm.example.test").ok().stdout;
    assert!(before.contains("10.9.9.9"), "{before}");
    eprintln!("a forwarded answer before: {} ms", query_ms(&before));
    // 200 new names every 50 ms for 4 s, none of which will ever be answered.
    sb.sh(
        r#"cat > /run/flood.py <<'PY'
import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
n = 0
end = time.time() + 4
while time.time() < end:
    for _ in range(200):
        n += 1
        name = b"".join(bytes([len(l)]) + l for l in [b"q%d" % n, b"example", b"test"]) + b"\0"
        try:
            s.sendto(struct.pack(">HHHHHH", n & 0xffff, 0x0100, 1, 0, 0, 0) + name + b"\0\x01\0\x01", ("127.0.0.11", 53))
        except BlockingIOError:
            pass
    time.sleep(0.05)
PY
setsid netctl exec stuck -- python3 /run/flood.py </dev/null >/dev/null 2>&1 &"#,
    )
    .ok();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let mut times = Vec::new();
    for i in 0..5 {
        let out = sb.netctl(&format!("exec fine -- dig +tries=1 +time=2 f{i}.example.test")).ok().stdout;
        assert!(out.contains("status: NOERROR") && out.contains("10.9.9.9"), "{out}");
        times.push(query_ms(&out));
    }
    eprintln!("forwarded answers while another container's upstream is silent: {times:?} ms");
    assert!(times.iter().all(|ms| *ms < 200), "forwarded answers took {times:?} ms");
}
