//! Containers' files and the resolver as Docker's (issue 13): `--net host` gets the
//! host's own /etc/hosts and resolv.conf; a user's edit of a container's
//! /etc/hosts or /etc/resolv.conf survives connect, disconnect, link changes and a
//! daemon restart; several holders of one alias come in a random order (not a
//! rotation); single-label names that are no container's go upstream unless the
//! config says otherwise.

use std::collections::{HashMap, HashSet};

use netctl_tests::Sandbox;

/// The host side of the test: its own /etc/hosts and /etc/resolv.conf, bound over
/// the machine's in the sandbox's mount namespace (where netctld runs).
fn bind_host_files(sb: &Sandbox) {
    sb.sh("printf '127.0.0.1\\tlocalhost\\n10.7.7.7\\tlan-printer printer\\n' > /run/host-hosts \
         && mount --bind /run/host-hosts /etc/hosts \
         && printf 'nameserver 127.0.0.53\\nsearch lan.test\\noptions edns0 trust-ad\\n' > /run/host-resolv \
         && mount --bind /run/host-resolv /etc/resolv.conf")
        .ok();
}

#[test]
fn host_network_containers_get_the_hosts_own_files() {
    let sb = Sandbox::new();
    bind_host_files(&sb);
    sb.start_daemon();
    let hosts = sb.sh("cat /etc/hosts").ok().stdout;
    let resolv = sb.sh("cat /etc/resolv.conf").ok().stdout;
    assert!(hosts.contains("lan-printer"), "{hosts}");
    assert_eq!(sb.netctl("run --rm --net host cat /etc/hosts").ok().stdout, hosts);
    // The host's namespace: its loopback nameserver means the same there, and stays.
    assert_eq!(sb.netctl("run --rm --net host cat /etc/resolv.conf").ok().stdout, resolv);
    sb.netctl("run -d --name hostnet --net host sleep 600").ok();
    assert_eq!(sb.netctl("exec hostnet -- cat /etc/hosts").ok().stdout, hosts);
    assert_eq!(sb.netctl("exec hostnet -- cat /etc/resolv.conf").ok().stdout, resolv);
    let printer = sb.netctl("exec hostnet -- getent hosts printer").ok();
    assert_eq!(printer.stdout.split_whitespace().collect::<Vec<_>>(), ["10.7.7.7", "lan-printer", "printer"]);
    // Flags apply over the host's file, as in Docker; its servers are kept.
    let searched = sb.netctl("run --rm --net host --dns-search corp.test cat /etc/resolv.conf").ok().stdout;
    assert!(
        searched.contains("nameserver 127.0.0.53\n") && searched.contains("search corp.test\n"),
        "{searched}"
    );
    // Other containers keep their own files.
    let own = sb.netctl("run --rm cat /etc/hosts").ok().stdout;
    assert!(!own.contains("lan-printer") && own.contains("ip6-allrouters"), "{own}");
}

/// The lines of the container's /etc/hosts and its resolv.conf.
fn files_of(sb: &Sandbox, c: &str) -> (String, String) {
    (
        sb.netctl(&format!("exec {c} -- cat /etc/hosts")).ok().stdout,
        sb.netctl(&format!("exec {c} -- cat /etc/resolv.conf")).ok().stdout,
    )
}

fn ip_on(sb: &Sandbox, c: &str, net: &str) -> String {
    let f = format!("inspect --format '{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}' {c}");
    sb.netctl(&f).ok().trimmed().to_string()
}

#[test]
fn a_users_edits_survive_connect_disconnect_links_and_restarts() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.netctl("run -d --name db1 sleep 600").ok();
    for c in ["edited", "plain"] {
        sb.netctl(&format!("run -d --name {c} --link db1:db sleep 600")).ok();
    }
    // Appended to, and replaced, from inside (a bind mount: no rename, as a user's
    // `>>` and `>` do).
    sb.netctl(
        "exec edited -- sh -c 'echo \"10.1.2.3 nas\" >> /etc/hosts && echo \"nameserver 10.9.9.9\" > /etc/resolv.conf'",
    )
    .ok();
    let mine_only = "nameserver 10.9.9.9\n";

    sb.netctl("network connect n edited").ok();
    sb.netctl("network connect n plain").ok();
    let (hosts, resolv) = files_of(&sb, "edited");
    assert_eq!(resolv, mine_only, "the edit is kept");
    assert!(hosts.contains("10.1.2.3 nas\n"), "{hosts}");
    assert!(
        hosts.contains(&format!("{}\t", ip_on(&sb, "edited", "n"))),
        "netctl's own lines still follow: {hosts}"
    );
    let (hosts, resolv) = files_of(&sb, "plain");
    assert!(resolv.contains("nameserver 127.0.0.11\n"), "the unedited file is updated: {resolv}");
    assert!(hosts.contains(&format!("{}\t", ip_on(&sb, "plain", "n"))), "{hosts}");

    // A link's line changes: it follows in both, the edit stays.
    let db_ip = ip_on(&sb, "db1", "bridge");
    sb.netctl("network disconnect bridge db1").ok();
    for c in ["edited", "plain"] {
        let (hosts, _) = files_of(&sb, c);
        assert!(!hosts.contains(&format!("{db_ip}\tdb ")), "{c}: {hosts}");
    }
    sb.netctl("network connect bridge db1").ok();
    let db_ip = ip_on(&sb, "db1", "bridge");
    for c in ["edited", "plain"] {
        let (hosts, _) = files_of(&sb, c);
        assert!(hosts.contains(&format!("{db_ip}\tdb ")), "{c}: {hosts}");
    }
    assert!(files_of(&sb, "edited").0.contains("10.1.2.3 nas\n"));

    sb.netctl("network disconnect n edited").ok();
    sb.netctl("network disconnect n plain").ok();
    let (hosts, resolv) = files_of(&sb, "edited");
    assert_eq!(resolv, mine_only);
    assert!(hosts.contains("10.1.2.3 nas\n") && !hosts.contains("172.18.0."), "{hosts}");
    let (_, resolv) = files_of(&sb, "plain");
    assert!(!resolv.contains("127.0.0.11"), "{resolv}");

    // The daemon restarts (and rewrites every container's files at start): what it
    // wrote is remembered on disk, so the edit is still recognised as the user's.
    sb.restart_daemon();
    assert_eq!(files_of(&sb, "edited").1, mine_only);
    sb.netctl("network connect n edited").ok();
    sb.netctl("network connect n plain").ok();
    let (hosts, resolv) = files_of(&sb, "edited");
    assert_eq!(resolv, mine_only);
    assert!(
        hosts.contains("10.1.2.3 nas\n") && hosts.contains(&format!("{}\t", ip_on(&sb, "edited", "n"))),
        "{hosts}"
    );
    assert!(files_of(&sb, "plain").1.contains("nameserver 127.0.0.11\n"));
}

#[test]
fn several_holders_of_an_alias_are_shuffled_not_rotated() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    for i in 0..3 {
        sb.netctl(&format!("run -d --name rr{i} --net n --network-alias svc sleep 600")).ok();
    }
    sb.netctl("run -d --name asker --net n sleep 600").ok();
    let out = sb
        .netctl("exec asker -- sh -c 'for i in $(seq 60); do echo $(dig +short +tries=1 +time=3 svc); done'")
        .ok()
        .stdout;
    let orders: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(orders.len(), 60, "{out}");
    let mut firsts: HashMap<&str, usize> = HashMap::new();
    for o in &orders {
        assert_eq!(o.len(), 3, "every holder in every answer: {out}");
        *firsts.entry(o[0]).or_default() += 1;
    }
    // 20 each expected; fewer than 5 is a one-in-10^5 chance.
    assert_eq!(firsts.len(), 3, "{firsts:?}");
    assert!(firsts.values().all(|n| *n >= 5), "each comes first a few times: {firsts:?}");
    // Rotations of one order are 3 of the 6 orders; a shuffle shows the others too.
    let distinct: HashSet<&Vec<&str>> = orders.iter().collect();
    let first = &orders[0];
    let rotation_of_first = |o: &Vec<&str>| (0..3).any(|k| (0..3).all(|i| o[i] == first[(i + k) % 3]));
    assert!(distinct.iter().any(|o| !rotation_of_first(o)), "only rotations of one order: {distinct:?}");
}

/// dnsmasq in a namespace of the sandbox at 10.250.0.2 as the LAN's server: it
/// knows `nas` (10.20.30.40), `bonly` and *.example.test, and logs every query.
fn start_lan_server(sb: &Sandbox) {
    sb.sh("ip netns add up && ip link add upv type veth peer name upp netns up \
         && ip addr add 10.250.0.1/24 dev upv && ip link set upv up \
         && ip -n up addr add 10.250.0.2/24 dev upp && ip -n up link set upp up && ip -n up link set lo up \
         && ip netns exec up dnsmasq --no-resolv --no-hosts --listen-address=10.250.0.2 --bind-interfaces \
            --host-record=nas,10.20.30.40 --local=/nas/ --host-record=bonly,10.20.30.41 --address=/example.test/10.9.9.9 \
            --log-queries --log-facility=/run/dnsmasq.log --pid-file=/run/dnsmasq.pid")
        .ok();
}

fn asked_upstream(sb: &Sandbox, name: &str) -> usize {
    sb.sh(&format!("grep -c 'query\\[A\\] {name} ' /run/dnsmasq.log || true"))
        .ok()
        .trimmed()
        .parse()
        .unwrap_or(0)
}

#[test]
fn single_label_names_go_upstream_unless_the_config_says_not() {
    let sb = Sandbox::new();
    start_lan_server(&sb);
    sb.sh("printf '[dns]\\nupstream = [\"10.250.0.2\"]\\n' > /etc/netctl/netctl.toml").ok();
    sb.start_daemon();
    sb.netctl("network create n").ok();
    sb.netctl("network create other").ok();
    sb.netctl("run -d --name c1 --net n sleep 600").ok();
    sb.netctl("run -d --name bonly --net other sleep 600").ok();
    assert_eq!(sb.netctl("exec c1 -- dig +short +tries=1 +time=3 nas").ok().trimmed(), "10.20.30.40");
    let ns = sb.netctl("exec c1 -- nslookup nas").ok().stdout;
    assert!(ns.contains("10.20.30.40"), "{ns}");
    let getent = sb.netctl("exec c1 -- getent hosts nas").ok();
    assert_eq!(getent.stdout.split_whitespace().collect::<Vec<_>>(), ["10.20.30.40", "nas"]);
    // Containers' names stay ours: the asker's own network answers, and a name on a
    // network it is not on is NXDOMAIN here, never asked upstream (Docker would).
    assert_eq!(sb.netctl("exec c1 -- dig +short c1").ok().trimmed(), "172.18.0.2");
    let hidden = sb.netctl("exec c1 -- dig +tries=1 +time=3 bonly").ok().stdout;
    assert!(hidden.contains("status: NXDOMAIN"), "{hidden}");
    assert_eq!(asked_upstream(&sb, "bonly"), 0);
    // A container that set ndots itself tries its search domains: the bare name
    // is not sent, as in Docker.
    sb.netctl("run -d --name dots --net n --dns-option ndots:1 sleep 600").ok();
    let before = asked_upstream(&sb, "nas");
    let dots = sb.netctl("exec dots -- dig +tries=1 +time=3 nas").ok().stdout;
    assert!(dots.contains("status: NXDOMAIN"), "{dots}");
    assert_eq!(asked_upstream(&sb, "nas"), before);

    sb.stop_daemon();
    sb.sh("printf '[dns]\\nupstream = [\"10.250.0.2\"]\\nforward_single_label = false\\n' > /etc/netctl/netctl.toml")
        .ok();
    sb.start_daemon();
    let off = sb.netctl("exec c1 -- dig +tries=1 +time=3 nas").ok().stdout;
    assert!(off.contains("status: NXDOMAIN"), "{off}");
    assert_eq!(asked_upstream(&sb, "nas"), before, "nothing left for the upstream");
    // Names with a dot still go.
    assert_eq!(sb.netctl("exec c1 -- dig +short +tries=1 +time=3 x.example.test").ok().trimmed(), "10.9.9.9");
}
