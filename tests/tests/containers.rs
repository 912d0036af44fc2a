//! Containers and endpoints as a user sees them (issue 3).

use std::time::{Duration, Instant};

use netctl_tests::Sandbox;
use serde_json::Value;

fn inspect(sb: &Sandbox, name: &str) -> Value {
    sb.netctl(&format!("inspect {name}")).ok().json()[0].clone()
}

fn ip_on(sb: &Sandbox, container: &str, network: &str) -> String {
    inspect(sb, container)["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits until `pred` holds, up to `limit`.
fn eventually(limit: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if pred() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    pred()
}

#[test]
fn web_server_reachable_connect_disconnect_exit_and_restart() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create backend-network").ok();
    sb.netctl("network create frontend-network").ok();
    let id = sb
        .netctl("run -d --name web --net backend-network -- python3 -m http.server 8080")
        .ok()
        .trimmed()
        .to_string();
    assert_eq!(id.len(), 64);
    let ip = ip_on(&sb, "web", "backend-network");
    assert_eq!(ip, "172.18.0.2");
    let page = sb.sh(&format!(
        "for i in $(seq 50); do out=$(netctl run --rm --net backend-network -- curl -s -m 2 http://{ip}:8080/) && [ -n \"$out\" ] && break; sleep 0.1; done; echo \"$out\""
    ));
    assert!(page.stdout.contains("Directory listing"), "curl from another container: {page:?}");

    sb.netctl("network connect frontend-network web").ok();
    let addrs = sb.netctl("exec web -- ip -br addr").ok();
    assert!(
        addrs.stdout.lines().any(|l| l.starts_with("eth1") && l.contains("172.19.0.2/16")),
        "{}",
        addrs.stdout
    );
    assert_eq!(
        sb.netctl("network connect frontend-network web").fail().code,
        1,
        "connecting twice is refused"
    );
    let net = sb.netctl("network inspect frontend-network").ok().json();
    assert_eq!(net[0]["Containers"][&id]["Name"], "web");
    assert_eq!(net[0]["Containers"][&id]["IPv4Address"], "172.19.0.2/16");
    assert!(sb.netctl("network rm frontend-network").fail().stderr.contains("has active endpoints"));

    sb.netctl("network disconnect frontend-network web").ok();
    let addrs = sb.netctl("exec web -- ip -br addr").ok();
    assert!(!addrs.stdout.contains("eth1"), "{}", addrs.stdout);

    let route = sb.sh("ip netns exec web ip route").ok();
    assert!(route.stdout.contains("default via 172.18.0.1 dev eth0"), "{}", route.stdout);
    let hosts = sb.netctl("exec web -- cat /etc/hosts").ok();
    assert!(hosts.stdout.starts_with("127.0.0.1\tlocalhost\n"), "{}", hosts.stdout);
    assert!(hosts.stdout.contains(&format!("{ip}\t{}", &id[..12])), "{}", hosts.stdout);
    assert_eq!(sb.netctl("exec web -- hostname").ok().trimmed(), &id[..12]);

    // A daemon restart changes nothing a user can see.
    let ps_before = sb.netctl("ps -a --format json").ok().stdout;
    let inspect_before = inspect(&sb, "web");
    sb.restart_daemon();
    assert_eq!(inspect(&sb, "web"), inspect_before);
    assert_eq!(
        sb.netctl("ps -a --format '{{.ID}} {{.Names}} {{.State}}'").ok().stdout,
        sb.sh(&format!("echo '{} web running'", &id[..12])).stdout
    );
    assert!(!ps_before.is_empty());
    assert!(sb.netctl("exec web -- ip -br addr").ok().stdout.contains("172.18.0.2"));
    assert!(sb.netctl("logs web").ok().stdout.contains("GET / HTTP"), "the server's log is kept");

    // Killing its process shows it Exited within a second.
    let pid = inspect(&sb, "web")["State"]["Pid"].as_u64().unwrap();
    sb.sh(&format!("kill {pid}")).ok();
    let start = Instant::now();
    assert!(
        eventually(Duration::from_secs(1), || sb.netctl("ps -a").ok().stdout.contains("Exited (143)")),
        "{}",
        sb.netctl("ps -a").stdout
    );
    assert!(start.elapsed() <= Duration::from_millis(1100));
    assert_eq!(ip_on(&sb, "web", "backend-network"), "172.18.0.2", "a stopped container keeps its address");

    sb.netctl("start web").ok();
    assert!(eventually(Duration::from_secs(2), || inspect(&sb, "web")["State"]["Running"] == true));
    assert!(sb.netctl("rm web").fail().stderr.contains("cannot remove a running container"));
    sb.netctl("rm -f web").ok();
    assert!(sb.sh("ls /run/netns").ok().stdout.trim().is_empty(), "netns pin removed");
    assert!(!sb.link_names().iter().any(|l| l.starts_with("veth")), "veth removed");
}

#[test]
fn foreground_run_behaves_like_docker_run() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    let out =
        sb.netctl("run --net n --hostname box -e FOO=bar -- sh -c 'echo $FOO $HOSTNAME; hostname; exit 7'");
    assert_eq!(out.code, 7, "exit code is the command's");
    assert_eq!(out.stdout, "bar box\nbox\n");
    let env = sb.sh("FROMHOST=x netctl run --rm -e FROMHOST -- env").ok();
    assert!(
        env.stdout.contains("FROMHOST=x") && env.stdout.contains("PATH=/usr/local/sbin"),
        "{}",
        env.stdout
    );
    assert!(!env.stdout.contains("NETCTL_"), "the caller's environment does not leak in");
    assert_eq!(sb.netctl("run --rm -- nosuchcommand").code, 127);
    assert_eq!(sb.netctl("run --rm -- sh -c 'kill -TERM $$'").code, 143);
    let stdin = sb.sh("echo hello | netctl run --rm -i -- cat").ok();
    assert_eq!(stdin.stdout, "hello\n");
    let none = sb.netctl("run --rm --net none -- ip -br link").ok();
    assert_eq!(none.stdout.lines().count(), 1, "only lo with --net none: {}", none.stdout);
    let host = sb.netctl("run --rm --net host -- ip -br link").ok();
    assert!(host.stdout.contains("netctl0"), "host mode sees the host's links");
    let ps = sb.netctl("ps -a --format '{{.Names}} {{.Status}}'").ok();
    assert!(
        ps.stdout
            .lines()
            .any(|l| l.ends_with("Exited (7) Less than a second ago") || l.contains("Exited (7)")),
        "{}",
        ps.stdout
    );
    assert_eq!(ps.stdout.lines().count(), 1, "--rm containers are gone: {}", ps.stdout);
    // The files of ip netns exec match the container's.
    sb.netctl("run -d --name sleeper --net n -- sleep 300").ok();
    let via_ipnetns = sb.sh("ip netns exec sleeper cat /etc/hosts").ok().stdout;
    let via_exec = sb.netctl("exec sleeper -- cat /etc/hosts").ok().stdout;
    assert_eq!(via_ipnetns, via_exec);
}

#[test]
fn signals_reach_the_process_and_tty_is_the_callers() {
    let sb = Sandbox::new();
    sb.start_daemon();
    // A signal sent to `netctl run` is passed on; the exit code is the command's.
    let out = sb.sh(
        "netctl run --rm -- sh -c 'trap \"exit 42\" TERM; while :; do sleep 0.05; done' & p=$!; sleep 1; kill -TERM $p; wait $p; echo code=$?",
    );
    assert!(out.stdout.contains("code=42"), "{out:?}");
    // With -t the command gets the caller's terminal (script(1) gives us one).
    let tty = sb.sh("script -qec 'netctl run --rm -t -- sh -c \"test -t 0 && test -t 1 && echo TTY=$TERM\"' /dev/null").ok();
    assert!(tty.stdout.contains("TTY=xterm"), "{tty:?}");
    let not_tty = sb.netctl("run --rm -t -- true").fail();
    assert!(not_tty.stderr.contains("not a TTY"), "{not_tty:?}");
}

#[test]
fn addresses_static_ip_mac_and_docker_refusals() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create --subnet 10.7.0.0/24 n").ok();
    sb.netctl("run -d --name a1 --net n --ip 10.7.0.50 --mac-address 02:42:0a:07:00:32 --network-alias alpha -- sleep 300").ok();
    let a = inspect(&sb, "a1");
    let ep = &a["NetworkSettings"]["Networks"]["n"];
    assert_eq!(ep["IPAddress"], "10.7.0.50");
    assert_eq!(ep["MacAddress"], "02:42:0a:07:00:32");
    assert_eq!(ep["Aliases"][0], "alpha");
    let link = sb.sh("ip -n a1 -j link show eth0").ok().json();
    assert_eq!(link[0]["address"], "02:42:0a:07:00:32");
    // IPv4-only network: no IPv6 on the container's interface (lo keeps ::1), so a
    // join does not flood DAD/MLD to every port of the bridge.
    assert!(!sb.sh("ip -n a1 -6 addr show dev eth0").ok().stdout.contains("inet6"));
    assert!(sb.sh("ip -n a1 -6 addr show dev lo").ok().stdout.contains("::1"));
    assert!(sb.netctl("run -d --net n --ip 10.7.0.50 -- sleep 1").fail().stderr.contains("already in use"));
    assert!(sb.netctl("run -d --net n --ip 10.9.0.5 -- sleep 1").fail().stderr.contains("not in subnet"));
    assert!(sb
        .netctl("run -d --ip 172.17.0.9 -- sleep 1")
        .fail()
        .stderr
        .contains("user defined networks only"));
    assert!(sb.netctl("run -d --network-alias x -- sleep 1").fail().stderr.contains("user defined networks"));
    assert!(sb.netctl("run -d --name a1 -- sleep 1").fail().stderr.contains("already in use"));
    assert!(sb.netctl("run -d --net nope -- sleep 1").fail().stderr.contains("network nope not found"));
    // Sequential addresses, no immediate reuse of a released one.
    sb.netctl("run -d --name b1 --net n -- sleep 300").ok();
    assert_eq!(ip_on(&sb, "b1", "n"), "10.7.0.2");
    sb.netctl("network disconnect n b1").ok();
    sb.netctl("network connect n b1").ok();
    assert_eq!(ip_on(&sb, "b1", "n"), "10.7.0.3");
    // Nothing from the refused runs is left.
    assert_eq!(sb.netctl("ps -a -q").ok().stdout.lines().count(), 2);
    assert_eq!(sb.sh("ls /run/netns | wc -l").ok().trimmed(), "2");
}

#[test]
fn internal_networks_get_no_default_route() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create --internal priv").ok();
    sb.netctl("network create pub").ok();
    sb.netctl("run -d --name c1 --net priv -- sleep 300").ok();
    assert!(!sb.sh("ip netns exec c1 ip route").ok().stdout.contains("default"));
    sb.netctl("network connect pub c1").ok();
    let route = sb.sh("ip netns exec c1 ip route").ok().stdout;
    assert!(route.contains("default via 172.19.0.1 dev eth1"), "{route}");
}

#[test]
fn other_runtimes_namespaces_attach_and_go_away() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.sh("ip netns add foreign").ok();
    let id = sb
        .netctl("container attach --netns /run/netns/foreign --network n --alias db foreign-c")
        .ok()
        .trimmed()
        .to_string();
    assert_eq!(id.len(), 64);
    let addrs = sb.sh("ip netns exec foreign ip -br addr show eth0").ok();
    assert!(addrs.stdout.contains("172.18.0.2/16"), "{}", addrs.stdout);
    assert!(sb.netctl("stop foreign-c").fail().stderr.contains("never stops processes it did not start"));
    sb.netctl("container detach foreign-c").ok();
    assert!(sb.sh("ip netns exec foreign ip link show eth0").code != 0, "detach undid the endpoint");
    assert!(sb.sh("ip netns list").ok().stdout.contains("foreign"), "the namespace itself stays");

    // By PID; when the process dies the container goes within a second.
    sb.sh("unshare --net sleep 300 >/dev/null 2>&1 & echo $! > /run/fpid").ok();
    let pid = sb.sh("sleep 0.2; cat /run/fpid").ok().trimmed().to_string();
    sb.netctl(&format!("container attach --pid {pid} --network n pidc")).ok();
    assert!(sb.netctl("ps").ok().stdout.contains("pidc"));
    sb.sh(&format!("kill {pid}")).ok();
    assert!(
        eventually(Duration::from_millis(1500), || sb.netctl("inspect pidc").code != 0),
        "the container went with its namespace"
    );
    assert!(sb.netctl("network inspect n").ok().json()[0]["Containers"].as_object().unwrap().is_empty());
}

#[test]
fn many_concurrent_runs_get_distinct_addresses_and_state_matches_kernel() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    let out = sb.sh(
        "for i in $(seq 1 200); do netctl run -d --name c$i --net n -- sleep 600 >/dev/null & P=\"$P $!\"; done; fail=0; for p in $P; do wait $p || fail=$((fail+1)); done; echo $fail",
    );
    assert_eq!(out.trimmed(), "0", "all 200 runs succeed: {}", out.stderr);
    let list = sb.netctl("inspect $(netctl ps -q)").ok().json();
    let mut ips: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["NetworkSettings"]["Networks"]["n"]["IPAddress"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ips.len(), 200);
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 200, "200 distinct addresses");
    let kernel = sb.sh("for i in $(seq 1 200); do ip -n c$i -j -4 addr show eth0 | jq -r '.[0].addr_info[0].local'; done | sort -u").ok();
    let mut kernel_ips: Vec<String> = kernel.stdout.lines().map(String::from).collect();
    kernel_ips.sort();
    assert_eq!(kernel_ips, ips, "state equals the kernel");
}

#[test]
fn logs_follow_until_exit_and_leftover_veths_are_removed() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("run -d --name talker -- sh -c 'echo first; sleep 1; echo second >&2'").ok();
    let follow = sb.sh("timeout 10 netctl logs -f talker").ok();
    assert_eq!(follow.stdout, "first\nsecond\n", "logs -f returns once the container stops");
    assert!(sb.netctl("ps -a").ok().stdout.contains("Exited (0)"));

    sb.netctl("network create n").ok();
    sb.netctl("run -d --name keep --net n -- sleep 300").ok();
    sb.stop_daemon();
    sb.sh("ip link add vethdead type veth peer name vethdeadp && ip link set vethdead alias netctl-ep:0123456789abcdef").ok();
    sb.sh("ip link add myveth type veth peer name myvethp").ok();
    sb.start_daemon();
    let names = sb.link_names();
    assert!(!names.contains(&"vethdead".to_string()), "a veth of an unknown endpoint goes: {names:?}");
    assert!(names.contains(&"myveth".to_string()), "a veth netctl did not make stays");
    // talker (exited, on `bridge`) and keep both keep their endpoints.
    assert_eq!(
        names.iter().filter(|n| n.starts_with("veth")).count(),
        2,
        "the known endpoints stay: {names:?}"
    );
    assert!(sb.netctl("exec keep -- true").code == 0);
}

/// An address given again (here with --ip, as after `rm` and `run` of the same
/// service) is reachable when `run` answers, by a peer that still caches the old
/// holder's MAC: the new endpoint has announced itself. Without that the peer's
/// frames went to the old MAC until its ARP entry expired, 30 to 50 s here.
#[test]
fn a_reused_address_reaches_peers_that_cached_the_old_mac() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create --subnet 172.18.0.0/16 reuse").ok();
    sb.netctl("run -d --name peer --net reuse -- sleep 1000").ok();
    sb.netctl("run -d --name svc --net reuse -- sleep 1000").ok();
    let ip = ip_on(&sb, "svc", "reuse");
    sb.netctl(&format!("exec peer -- ping -c 1 -W 1 {ip}")).ok();
    let old_mac = inspect(&sb, "svc")["NetworkSettings"]["Networks"]["reuse"]["MacAddress"].clone();
    sb.netctl("rm -f svc").ok();
    sb.netctl(&format!("run -d --name svc2 --net reuse --ip {ip} -- sleep 1000")).ok();
    let new_mac = inspect(&sb, "svc2")["NetworkSettings"]["Networks"]["reuse"]["MacAddress"].clone();
    assert_ne!(old_mac, new_mac);
    // One echo request, sent the moment `run` answered: the announcement went first.
    sb.netctl(&format!("exec peer -- ping -c 1 -W 2 {ip}")).ok();
    let cached = sb.netctl(&format!("exec peer -- ip -j neigh show {ip}")).ok().json();
    assert_eq!(cached[0]["lladdr"], new_mac);
}
