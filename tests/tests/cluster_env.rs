//! The multi-host environment itself (tests/harness/cluster.rs): hosts that reach
//! each other and etcd over the underlay, each with its own netctld and state, an
//! etcd cluster that behaves as one, and nothing left on the real host afterwards.

use std::time::{Duration, Instant};

use netctl_tests::cluster::{cluster_toml, Host, Machine};
use netctl_tests::host_link_names;

#[test]
fn hosts_reach_each_other_and_etcd_over_the_underlay() {
    let m = Machine::with_hosts(3, 1);
    for h in &m.hosts {
        assert_eq!(h.sh("hostname").ok().trimmed(), format!("host-{}", h.name));
        let addrs = h.sh("ip -j -4 addr show dev eth0").ok().json();
        assert_eq!(addrs[0]["addr_info"][0]["local"], h.underlay_ip().as_str());
        let mut targets: Vec<String> = m.hosts.iter().map(|o| o.underlay_ip()).collect();
        targets.push(m.etcd.member_ip(0));
        for ip in targets {
            h.sh(&format!("ping -c 1 -W 2 {ip}")).ok();
        }
        // etcd answers from every host.
        let ep = m.etcd.endpoints().join(",");
        h.sh(&format!("etcdctl --endpoints={ep} put from-{} {}", h.name, h.underlay_ip())).ok();
    }
    let got = m.etcd.ctl("get --prefix from- --print-value-only").ok();
    assert_eq!(got.stdout.lines().collect::<Vec<_>>(), ["192.168.77.1", "192.168.77.2", "192.168.77.3"]);
}

#[test]
fn each_host_has_its_own_netctld_state_and_containers() {
    let m = Machine::with_hosts(2, 0);
    let (a, b) = (m.host("a"), m.host("b"));
    m.start_daemons();
    let id_a = a.netctl("network create n1").ok().trimmed().to_string();
    let id_b = b.netctl("network create n1").ok().trimmed().to_string();
    assert_ne!(id_a, id_b, "one network store for two hosts");
    assert_eq!(a.netctl("network inspect -f '{{.Id}}' n1").ok().trimmed(), id_a);
    assert_eq!(b.netctl("network inspect -f '{{.Id}}' n1").ok().trimmed(), id_b);

    a.netctl("run -d --name x1 --net n1 -- sleep 100").ok();
    assert_eq!(a.netctl("ps --format '{{.Names}}'").ok().trimmed(), "x1");
    assert_eq!(b.netctl("ps -a -q").ok().trimmed(), "", "host b sees host a's container");
    b.netctl("run -d --name x1 --net n1 -- sleep 100").ok();
    // Each host's container is in a network namespace of its own, pinned under
    // that host's /run/netns, and its processes are in that host's cgroup parent.
    let mut netns = Vec::new();
    for h in [a, b] {
        let pid = h.netctl("inspect -f '{{.State.Pid}}' x1").ok().trimmed().to_string();
        let cgroup = h.sh(&format!("cat /proc/{pid}/cgroup")).ok();
        assert!(cgroup.stdout.contains(&format!("/netctl-{}/", h.name)), "{}", cgroup.stdout);
        let ns = h.sh(&format!("stat -L -c %i /proc/{pid}/ns/net")).ok().trimmed().to_string();
        assert_eq!(h.sh("stat -L -c %i /run/netns/x1").ok().trimmed(), ns, "host {}'s pin", h.name);
        netns.push(ns);
    }
    assert_ne!(netns[0], netns[1], "both hosts' x1 in one namespace");

    // Separate /run and /var/lib/netctl, and PID namespaces: a's files and
    // processes are not b's.
    a.sh("touch /run/only-a /var/lib/netctl/only-a /etc/netctl/only-a").ok();
    b.sh("! ls /run/only-a /var/lib/netctl/only-a /etc/netctl/only-a").ok();
    let cgroups = a.sh("for p in /proc/[0-9]*; do sed -n 's/^0:://p' $p/cgroup; done | sort -u").ok();
    assert!(
        cgroups.stdout.lines().all(|c| c == "/host-a" || c.starts_with("/netctl-a/")),
        "host a sees processes not its own: {}",
        cgroups.stdout
    );
    assert!(!m.sandbox.sh("ls /run/netctl/netctl.sock").stdout.contains("sock"), "a socket on the machine");

    // One host's daemon going does not touch the other's.
    a.kill_daemon();
    assert_eq!(b.netctl("ps --format '{{.Names}}'").ok().trimmed(), "x1");
    b.stop_daemon();
}

#[test]
fn three_member_etcd_survives_one_member_and_a_full_restart() {
    let m = Machine::with_hosts(1, 3);
    let etcd = &m.etcd;
    etcd.ctl("put k1 v1").ok();
    etcd.stop_member(0);
    etcd.ctl_at(0, "get k1").fail();
    etcd.ctl_at(1, "put k2 v2").ok();
    assert_eq!(etcd.ctl_at(2, "get k2 --print-value-only").ok().trimmed(), "v2");
    assert_eq!(etcd.ctl_at(2, "get k1 --print-value-only").ok().trimmed(), "v1");
    // The stopped member catches up when it is back.
    etcd.start_member(0);
    assert_eq!(etcd.ctl_at(0, "get k2 --print-value-only --consistency=s").ok().trimmed(), "v2");

    etcd.stop_all();
    etcd.ctl("get k1").fail();
    etcd.start_all();
    assert_eq!(etcd.ctl("get --prefix k --print-value-only").ok().stdout, "v1\nv2\n");
    // A host on the underlay reaches the restarted cluster too.
    let ep = etcd.endpoints().join(",");
    assert_eq!(
        m.hosts[0].sh(&format!("etcdctl --endpoints={ep} get k1 --print-value-only")).ok().trimmed(),
        "v1"
    );
}

#[test]
fn a_removed_host_is_gone_from_the_underlay() {
    let m = Machine::with_hosts(3, 1);
    let (a, b, c) = (m.host("a"), m.host("b"), m.host("c"));
    b.start_daemon();
    b.netctl("network create n1").ok();
    b.netctl("run -d --name x1 --net n1 -- sleep 100").ok();
    a.sh(&format!("ping -c 1 -W 1 {}", b.underlay_ip())).ok();
    b.remove();
    for h in [a, c] {
        h.sh(&format!("ping -c 1 -W 1 {}", b.underlay_ip())).fail();
        h.sh(&format!("ping -c 1 -W 1 {}", m.etcd.member_ip(0))).ok();
    }
    a.sh(&format!("ping -c 1 -W 1 {}", c.underlay_ip())).ok();
    let machine = &m.sandbox;
    machine.sh("! ip netns list | grep -w host-b").ok();
    machine.sh("! ip -n underlay link show ul-b").ok();
    assert_eq!(machine.sh("pgrep -c -x netctld || true").ok().trimmed(), "0", "b's netctld survived");
    assert_eq!(machine.sh("pgrep -c -x sleep || true").ok().trimmed(), "0", "b's container survived");
    b.sh("true").fail();

    // A new host b (a machine rebooted) starts from nothing at the same address.
    let b = Host::add(&m.sandbox, 1);
    b.start_daemon();
    assert_eq!(b.netctl("ps -a -q").ok().trimmed(), "");
    assert_eq!(b.netctl("network ls --format '{{.Name}}'").ok().stdout, "bridge\n");
    a.sh(&format!("ping -c 1 -W 2 {}", b.underlay_ip())).ok();
}

#[test]
fn cluster_section_has_the_keys_the_daemon_reads() {
    let eps = vec!["http://192.168.77.100:2379".to_string(), "http://192.168.77.101:2379".to_string()];
    assert_eq!(
        cluster_toml(&eps, "192.168.77.1", None),
        "[cluster]\netcd = [\"http://192.168.77.100:2379\", \"http://192.168.77.101:2379\"]\nadvertise = \"192.168.77.1\"\n"
    );
    assert!(cluster_toml(&eps, "192.168.77.1", Some(4)).ends_with("\nttl = 4\n"));
}

/// A test that fails half-way leaves no namespace, link, process or cgroup behind.
#[test]
fn a_failed_test_leaves_nothing_on_the_host() {
    let (tx, rx) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let m = Machine::with_hosts(2, 3);
        m.hosts[0].start_daemon();
        m.hosts[0].netctl("network create n1").ok();
        m.hosts[0].netctl("run -d --name x1 --net n1 -- sleep 100").ok();
        tx.send((m.etcd.token.clone(), m.sandbox.cgroup().map(|p| p.to_path_buf()))).unwrap();
        panic!("the test fails here");
    })
    .join();
    assert!(failed.is_err());
    let (token, cgroup) = rx.recv().unwrap();

    let ns = std::process::Command::new("ip").args(["netns", "list"]).output().unwrap();
    let ns = String::from_utf8_lossy(&ns.stdout);
    for name in ["underlay", "host-a", "host-b", "etcd-0"] {
        assert!(!ns.split_whitespace().any(|n| n == name), "{name} left on the host: {ns}");
    }
    let links = host_link_names();
    for name in ["ul0", "ul-a", "ul-b", "ul-e0"] {
        assert!(!links.contains(&name.to_string()), "{name} left on the host");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let etcd_left = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
            std::fs::read(p.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&token))
                .unwrap_or(false)
        })
    };
    while etcd_left() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!etcd_left(), "an etcd of {token} outlived its machine");
    if let Some(dir) = cgroup {
        assert!(!dir.exists(), "{} left", dir.display());
    }
}
