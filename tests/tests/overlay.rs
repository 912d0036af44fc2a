//! Overlay networks across hosts (issue 16), as a user meets them: three hosts on
//! one machine (tests/harness/cluster.rs: each its own network, mount and PID
//! namespace with its own netctld), an etcd (one member, or three for the failure
//! cases) on the same underlay, and netctl run/connect/rm on the hosts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use netctl_tests::cluster::{Host, Machine};

/// A machine with `hosts` hosts whose netctld are in the cluster (TTL `ttl` s).
fn cluster(hosts: usize, etcd_members: usize, ttl: u32) -> Machine {
    let m = Machine::with_hosts(hosts, etcd_members);
    for h in &m.hosts {
        // No upstream in the tests: single labels no container holds are NXDOMAIN here.
        h.write_config(&format!(
            "[dns]\nforward_single_label = false\n{}",
            h.cluster_section(&m.etcd, Some(ttl))
        ));
        h.start_daemon();
    }
    m
}

/// `dig +short NAME` at 127.0.0.11 inside an existing container of `host`.
fn dig_in(host: &Host, container: &str, name: &str) -> String {
    host.sh(&format!(
        "nsenter --net=$(netctl inspect -f '{{{{.NetworkSettings.SandboxKey}}}}' {container}) \
         dig +short +tries=1 +time=1 {name} @127.0.0.11 | sort"
    ))
    .ok()
    .trimmed()
    .to_string()
}

fn ip_on(host: &Host, container: &str, net: &str) -> String {
    host.netctl(&format!(
        "inspect -f '{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}' {container}"
    ))
    .ok()
    .trimmed()
    .to_string()
}

#[track_caller]
fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if f() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {secs} s");
}

#[test]
fn containers_on_three_hosts_find_each_other_by_name_as_the_readme_says() {
    let m = cluster(3, 1, 10);
    let (a, b, c) = (m.host("a"), m.host("b"), m.host("c"));
    a.netctl("network create -d overlay mesh").ok();
    let subnet = c.netctl("network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' mesh").ok();
    assert_eq!(subnet.trimmed(), "10.200.0.0/24", "the first /24 of the overlay pool, on every host");
    for h in [a, b, c] {
        let ls =
            h.netctl("network ls --filter driver=overlay --format '{{.Name}} {{.Driver}} {{.Scope}}'").ok();
        assert_eq!(ls.trimmed(), "mesh overlay global", "host {}", h.name);
        assert!(h.netctl("info").ok().stdout.contains("(connected)"), "host {}", h.name);
    }
    // The README's example: redis on a, redis-cli on c.
    a.netctl("run -d --name redis --net mesh -- redis-server --protected-mode no --save '' --appendonly no")
        .ok();
    let pong = c.sh(
        "for i in $(seq 50); do out=$(netctl run --rm --net mesh -- redis-cli -h redis ping 2>&1) && [ \"$out\" = PONG ] && { echo $out; exit 0; }; sleep 0.1; done; echo \"$out\"; exit 1",
    );
    assert_eq!(pong.ok().trimmed(), "PONG");
    // Names, aliases and name.network from every host; one alias on two hosts answers both.
    b.netctl("run -d --name web-b --network-alias web --net mesh -- sleep 1000").ok();
    c.netctl("run -d --name web-c --network-alias web --net mesh -- sleep 1000").ok();
    a.netctl("run -d --name probe-a --net mesh -- sleep 1000").ok();
    let redis_ip = ip_on(a, "redis", "mesh");
    let webs: Vec<String> = {
        let mut v = vec![ip_on(b, "web-b", "mesh"), ip_on(c, "web-c", "mesh")];
        v.sort();
        v
    };
    assert_eq!(dig_in(a, "probe-a", "web"), webs.join("\n"), "the alias of two hosts' containers");
    assert_eq!(dig_in(b, "web-b", "redis.mesh"), redis_ip);
    assert_eq!(dig_in(c, "web-c", "REDIS"), redis_ip, "case-insensitive");
    // Across hosts by name and alias (the VXLAN path, both ways).
    c.netctl("run --rm --net mesh -- ping -c 1 -W 2 redis").ok();
    a.netctl("run --rm --net mesh -- sh -c 'ping -c 1 -W 2 web-b && ping -c 1 -W 2 web-c'").ok();
    // The MTU (1450) leaves room for VXLAN's header: a full-size packet crosses unfragmented.
    c.netctl("run --rm --net mesh -- ping -c 1 -W 2 -M do -s 1422 redis").ok();

    // A second overlay network is isolated from the first: its names are invisible
    // and its containers cannot reach the first's.
    b.netctl("network create -d overlay --subnet 10.201.0.0/24 other").ok();
    wait_for("other on c", 5, || c.netctl("network ls -q --filter name=other").ok().trimmed().len() == 12);
    let isolated = c.netctl(&format!(
        "run --rm --net other -- sh -c 'getent hosts redis; ping -c 1 -W 1 {redis_ip} >/dev/null && echo reached'"
    ));
    assert_eq!(isolated.trimmed(), "", "{isolated:?}");

    // --ip on an overlay: the address is the cluster's, taken on one host, refused on another.
    a.netctl("run -d --name fixed --ip 10.201.0.200 --net other -- sleep 1000").ok();
    let taken = b.netctl("run -d --name fixed2 --ip 10.201.0.200 --net other -- sleep 1000").fail();
    assert!(taken.stderr.contains("10.201.0.200") && taken.stderr.contains("in use"), "{}", taken.stderr);
    a.netctl("rm -f fixed").ok();

    // Removed on a: NXDOMAIN on c as soon as the watch brings it.
    a.netctl("rm -f redis").ok();
    let after = wait_for("redis gone on c", 3, || dig_in(c, "web-c", "redis").is_empty());
    assert!(after < Duration::from_secs(1), "{after:?}");

    // network rm works from any host and everywhere; refused while any host has a
    // container on it.
    c.netctl("network rm other").ok();
    wait_for("other gone on a", 5, || {
        a.netctl("network ls -q --filter name=other").ok().trimmed().is_empty()
    });
    let busy = c.netctl("network rm mesh").fail();
    assert!(busy.stderr.contains("active endpoints"), "{}", busy.stderr);
}

#[test]
fn internal_and_dual_stack_overlays_across_hosts() {
    let m = cluster(2, 1, 10);
    let (a, b) = (m.host("a"), m.host("b"));
    a.netctl("network create -d overlay --subnet 10.200.1.0/24 open").ok();
    a.netctl("network create -d overlay --internal --subnet 10.200.2.0/24 priv").ok();
    wait_for("priv on b", 5, || b.netctl("network ls -q --filter name=priv").ok().trimmed().len() == 12);
    b.netctl("run -d --name peer --net priv -- sleep 1000").ok();
    // 192.168.77.254 is the underlay's own address, outside every overlay.
    a.netctl("run --rm --net open -- ping -c 1 -W 2 192.168.77.254").ok();
    a.netctl("run --rm --net priv -- ping -c 1 -W 2 peer").ok();
    a.netctl("run --rm --net priv -- ping -c 1 -W 1 192.168.77.254").fail();
    // Dual stack across hosts: the AAAA answer and IPv6 over the VXLAN.
    a.netctl("network create -d overlay --ipv6 --subnet 10.200.3.0/24 --subnet fd00:200::/64 dual").ok();
    wait_for("dual on b", 5, || b.netctl("network ls -q --filter name=dual").ok().trimmed().len() == 12);
    b.netctl("run -d --name six --net dual -- sleep 1000").ok();
    let v6 =
        b.netctl("inspect -f '{{(index .NetworkSettings.Networks \"dual\").GlobalIPv6Address}}' six").ok();
    assert!(v6.trimmed().starts_with("fd00:200::"), "{v6:?}");
    let aaaa = a.netctl("run --rm --net dual -- dig +short AAAA six @127.0.0.11").ok();
    assert_eq!(aaaa.trimmed(), v6.trimmed());
    a.netctl("run --rm --net dual -- ping -6 -c 1 -W 2 six").ok();
}

#[test]
fn a_hundred_concurrent_connects_over_three_hosts_get_a_hundred_addresses() {
    let m = cluster(3, 1, 10);
    m.host("a").netctl("network create -d overlay --subnet 10.200.0.0/24 mesh").ok();
    for h in &m.hosts {
        wait_for("mesh everywhere", 5, || {
            h.netctl("network ls -q --filter name=mesh").ok().trimmed().len() == 12
        });
    }
    let counts = [34, 33, 33];
    std::thread::scope(|s| {
        for (h, n) in m.hosts.iter().zip(counts) {
            s.spawn(move || {
                h.sh(&format!(
                    "for i in $(seq {n}); do netctl run -d --name {}$i --net mesh -- sleep 1000 >/dev/null & done; wait",
                    h.name
                ))
                .ok();
            });
        }
    });
    let mut all = Vec::new();
    for (h, n) in m.hosts.iter().zip(counts) {
        let ips = h.netctl("network inspect -f '{{range .Containers}}{{.IPv4Address}} {{end}}' mesh").ok();
        let ips: Vec<String> = ips.trimmed().split_whitespace().map(String::from).collect();
        assert_eq!(ips.len(), n, "host {}: {ips:?}", h.name);
        all.extend(ips);
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), 100, "{all:?}");
    let keys = m.etcd.ctl("get --prefix --keys-only /netctl/v1/addresses/").ok();
    assert_eq!(keys.stdout.lines().filter(|l| !l.is_empty()).count(), 100);
}

#[test]
fn a_host_that_dies_vanishes_from_the_others_within_the_ttl() {
    let ttl = 3;
    let m = cluster(3, 1, ttl);
    let (a, b, c) = (m.host("a"), m.host("b"), m.host("c"));
    a.netctl("network create -d overlay --subnet 10.200.0.0/24 mesh").ok();
    a.netctl("run -d --name probe --net mesh -- sleep 1000").ok();
    b.netctl("run -d --name db --net mesh -- sleep 1000").ok();
    let db_ip = ip_on(b, "db", "mesh");
    assert_eq!(dig_in(a, "probe", "db"), db_ip);
    let vx = format!("vx-{}", &a.netctl("network inspect -f '{{.Id}}' mesh").ok().trimmed()[..12]);
    assert!(a.sh(&format!("bridge fdb show dev {vx}")).ok().stdout.contains("dst 192.168.77.2"));
    b.kill_daemon();
    b.remove();
    let gone = wait_for("db gone on a", u64::from(ttl) + 5, || dig_in(a, "probe", "db").is_empty());
    assert!(gone <= Duration::from_secs(u64::from(ttl) + 2), "{gone:?}");
    wait_for("db gone on c's forwarding table too", 2, || {
        !c.sh(&format!("bridge fdb show dev {vx}")).ok().stdout.contains("dst 192.168.77.2")
    });
    // Its address is free for the others again.
    c.netctl(&format!("run -d --name db2 --ip {db_ip} --net mesh -- sleep 1000")).ok();
}

#[test]
fn with_etcd_away_names_keep_answering_overlay_changes_fail_clearly_and_all_converge_after() {
    let m = cluster(2, 3, 10);
    let (a, b) = (m.host("a"), m.host("b"));
    a.netctl("network create -d overlay --subnet 10.200.0.0/24 mesh").ok();
    a.netctl("run -d --name probe --net mesh -- sleep 1000").ok();
    b.netctl("run -d --name db --net mesh -- sleep 1000").ok();
    b.netctl("run -d --name cache --net mesh -- sleep 1000").ok();
    // One member of three away: nothing changes for the hosts.
    m.etcd.stop_member(0);
    a.netctl("run -d --name one-down --net mesh -- sleep 1000").ok();
    wait_for("one-down on b", 3, || !dig_in(b, "db", "one-down").is_empty());
    // All away.
    m.etcd.stop_all();
    assert_eq!(dig_in(a, "probe", "db"), ip_on(b, "db", "mesh"), "a known name keeps answering");
    assert_eq!(dig_in(b, "db", "probe"), ip_on(a, "probe", "mesh"));
    let started = Instant::now();
    let refused = a.netctl("run -d --name late --net mesh -- sleep 1000").fail();
    assert!(refused.stderr.contains("etcd") && refused.stderr.contains("unreachable"), "{}", refused.stderr);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    // Bridge networks are not the cluster's business.
    a.netctl("network create local").ok();
    a.netctl("run --rm --net local -- true").ok();
    // Changed while etcd is away: cache removed on b.
    b.netctl("rm -f cache").ok();
    m.etcd.start_all();
    m.etcd.wait_healthy(&[0, 1, 2]);
    wait_for("overlay connects work again", 20, || {
        a.netctl("run -d --name late --net mesh -- sleep 1000").code == 0
    });
    wait_for("late on b", 5, || !dig_in(b, "db", "late").is_empty());
    wait_for("cache gone on a", 10, || dig_in(a, "probe", "cache").is_empty());
    let published = m.etcd.ctl("get --prefix --keys-only /netctl/v1/endpoints/").ok();
    assert_eq!(published.stdout.lines().filter(|l| !l.is_empty()).count(), 4, "{}", published.stdout);
}

#[test]
fn a_restarted_netctld_keeps_its_containers_known_and_catches_up() {
    let m = cluster(2, 1, 10);
    let (a, b) = (m.host("a"), m.host("b"));
    a.netctl("network create -d overlay --subnet 10.200.0.0/24 mesh").ok();
    a.netctl("run -d --name web --net mesh -- sleep 1000").ok();
    b.netctl("run -d --name probe --net mesh -- sleep 1000").ok();
    b.netctl("run -d --name old --net mesh -- sleep 1000").ok();
    let web_ip = ip_on(a, "web", "mesh");
    a.kill_daemon();
    // While a's daemon is away: b's containers change, a's stay known on b.
    b.netctl("rm -f old").ok();
    b.netctl("run -d --name new --net mesh -- sleep 1000").ok();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(dig_in(b, "probe", "web"), web_ip, "a's lease outlives a short restart");
    a.start_daemon();
    assert!(a.daemon_log().contains("fresh=false"), "the lease was resumed:\n{}", a.daemon_log());
    // Before ready, a has read the cluster again.
    a.netctl("run --rm --net mesh -- getent hosts new").ok();
    assert_eq!(a.netctl("run --rm --net mesh -- getent hosts old").code, 2, "a forgot old");
    b.netctl("run --rm --net mesh -- ping -c 1 -W 2 web").ok();
    let mine = m.etcd.ctl("get --prefix --keys-only /netctl/v1/endpoints/").ok();
    assert_eq!(mine.stdout.lines().filter(|l| !l.is_empty()).count(), 3, "{}", mine.stdout);
}

#[test]
fn overlay_networks_need_a_cluster() {
    let m = Machine::with_hosts(1, 1);
    let a = m.host("a");
    a.start_daemon();
    let out = a.netctl("network create -d overlay mesh").fail();
    assert!(out.stderr.contains("[cluster]"), "{}", out.stderr);
    assert!(a.netctl("info").ok().stdout.contains("Cluster: none"));
}

/// kill -9 of netctld at random instants of `run -d` on an overlay network: after
/// each restart, what etcd publishes for the host is exactly what the host has (no
/// endpoint lost, none left behind, no address held by nobody).
#[test]
fn kill_9_during_overlay_runs_leaves_etcd_as_the_host_is() {
    let m = cluster(2, 1, 10);
    let (a, b) = (m.host("a"), m.host("b"));
    a.netctl("network create -d overlay --subnet 10.200.0.0/24 mesh").ok();
    b.netctl("run -d --name probe --net mesh -- sleep 1000").ok();
    for cycle in 0..12 {
        let delay_ms = 1 + fastrand_ms(cycle);
        a.sh(&format!(
            "netctl run -d --name c{cycle} --net mesh -- sleep 1000 >/dev/null 2>&1 & sleep 0.{delay_ms:03}; \
             kill -9 $(cat /run/netctld.pid); wait"
        ));
        a.start_daemon();
        let local: HashSet<String> = a
            .netctl("network inspect -f '{{range .Containers}}{{.Name}} {{end}}' mesh")
            .ok()
            .trimmed()
            .split_whitespace()
            .map(String::from)
            .collect();
        let published = m.etcd.ctl("get --prefix /netctl/v1/endpoints/ --print-value-only").ok();
        let in_etcd: HashSet<String> = published
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["underlay"] == "192.168.77.1")
            .filter_map(|v| v["container_name"].as_str().map(String::from))
            .collect();
        assert_eq!(in_etcd, local, "cycle {cycle} (kill after {delay_ms} ms)\n{}", a.daemon_log());
        let addresses = m.etcd.ctl("get --prefix --keys-only /netctl/v1/addresses/").ok();
        assert_eq!(
            addresses.stdout.lines().filter(|l| !l.is_empty()).count(),
            local.len() + 1,
            "cycle {cycle}"
        );
        // And b sees exactly those.
        for name in &local {
            wait_for(&format!("{name} on b"), 3, || !dig_in(b, "probe", name).is_empty());
        }
    }
}

/// Spreads the kill instants over the run's steps (1–40 ms), reproducibly.
fn fastrand_ms(cycle: u64) -> u64 {
    (cycle * 37 + 11) % 40
}

#[test]
fn a_host_starts_while_etcd_is_away_and_joins_when_it_is_back() {
    let m = Machine::with_hosts(2, 1);
    let (a, b) = (m.host("a"), m.host("b"));
    m.etcd.stop_all();
    for h in [a, b] {
        h.write_config(&format!(
            "[dns]\nforward_single_label = false\n{}",
            h.cluster_section(&m.etcd, Some(5))
        ));
        h.start_daemon();
        assert!(h.netctl("info").ok().stdout.contains("(unreachable)"), "host {}", h.name);
    }
    a.netctl("network create local").ok();
    a.netctl("run --rm --net local -- true").ok();
    let refused = a.netctl("network create -d overlay mesh").fail();
    assert!(refused.stderr.contains("unreachable"), "{}", refused.stderr);
    m.etcd.start_all();
    m.etcd.wait_healthy(&[0]);
    wait_for("overlay create works", 20, || {
        a.netctl("network create -d overlay --subnet 10.200.0.0/24 mesh").code == 0
    });
    wait_for("mesh on b", 5, || b.netctl("network ls -q --filter name=mesh").ok().trimmed().len() == 12);
    a.netctl("run -d --name web --net mesh -- sleep 1000").ok();
    b.netctl("run --rm --net mesh -- ping -c 1 -W 2 web").ok();
}

/// An address given up on one host and taken on another: containers elsewhere that
/// had the old holder's MAC cached reach the new one at once (it is announced on
/// their hosts' bridges), not after their neighbour entry ages out.
#[test]
fn an_address_reused_on_another_host_is_reachable_at_once() {
    let m = cluster(3, 1, 10);
    let (a, b, c) = (m.host("a"), m.host("b"), m.host("c"));
    a.netctl("network create -d overlay --subnet 10.200.0.0/24 mesh").ok();
    a.netctl("run -d --name probe --net mesh -- sleep 1000").ok();
    b.netctl("run -d --name old --ip 10.200.0.50 --net mesh -- sleep 1000").ok();
    let in_probe = |cmd: &str| {
        a.sh(&format!("nsenter --net=$(netctl inspect -f '{{{{.NetworkSettings.SandboxKey}}}}' probe) {cmd}"))
    };
    in_probe("ping -c 1 -W 2 10.200.0.50").ok();
    let cached = in_probe("ip -j neigh show 10.200.0.50").ok().json();
    assert_eq!(cached[0]["state"][0], "REACHABLE", "{cached}");
    b.netctl("rm -f old").ok();
    c.netctl("run -d --name new --ip 10.200.0.50 --net mesh -- sleep 1000").ok();
    let new_mac = c.netctl("inspect -f '{{(index .NetworkSettings.Networks \"mesh\").MacAddress}}' new").ok();
    wait_for("probe's cache names the new holder", 2, || {
        in_probe("ip -j neigh show 10.200.0.50").ok().json()[0]["lladdr"] == new_mac.trimmed()
    });
    in_probe("ping -c 1 -W 1 10.200.0.50").ok();
}

/// Questions answered in the kernel so far on `host` (`netctl info`), None when
/// the kernel fast path is off there.
fn kernel_hits(host: &Host) -> Option<u64> {
    let info = host.netctl("info").ok();
    let line = info.stdout.lines().find(|l| l.trim_start().starts_with("Resolver:"))?.to_string();
    if !line.contains("kernel fast path on") {
        return None;
    }
    line.split('(').nth(1).and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok())
}

/// Each host's kernel fast path (issue 17) is its own and answers the other hosts'
/// names too: three netctld on one machine never share or wipe each other's maps.
#[test]
fn each_host_answers_other_hosts_names_from_its_own_kernel_maps() {
    let m = cluster(3, 1, 10);
    let (a, b, c) = (m.host("a"), m.host("b"), m.host("c"));
    // A network of a's own first: a numbers its networks differently from b and c.
    a.netctl("network create --subnet 10.99.0.0/24 local-a").ok();
    a.netctl("run -d --name secret --net local-a -- sleep 1000").ok();
    a.netctl("network create -d overlay --subnet 10.200.0.0/24 mesh").ok();
    let mut names = Vec::new();
    for h in [a, b, c] {
        h.netctl(&format!("run -d --name box-{} --net mesh -- sleep 1000", h.name)).ok();
        names.push(format!("box-{}", h.name));
    }
    for h in [a, b, c] {
        let Some(before) = kernel_hits(h) else {
            eprintln!("host {}: kernel fast path off here; skipped", h.name);
            return;
        };
        for n in &names {
            let owner = m.host(&n[4..]);
            assert_eq!(
                dig_in(h, &format!("box-{}", h.name), n),
                ip_on(owner, n, "mesh"),
                "{n} from {}",
                h.name
            );
        }
        let after = kernel_hits(h).unwrap();
        assert!(after >= before + 3, "host {}: {before} → {after} kernel answers", h.name);
        // a's own network's names stay a's.
        assert_eq!(dig_in(h, &format!("box-{}", h.name), "secret"), "", "secret answered on {}", h.name);
    }
    // A restart of b's netctld takes over b's maps only: a still answers from its kernel.
    b.restart_daemon();
    let before = kernel_hits(a).unwrap();
    assert_eq!(dig_in(a, "box-a", "box-c"), ip_on(c, "box-c", "mesh"));
    assert!(kernel_hits(a).unwrap() > before, "a's views survived b's restart");
}
