//! The kernel path against the userspace path: one generated zone, every name
//! of it (and misses), in several cases, of several types, with and without
//! EDNS, asked from views of one, two, nine networks and with link aliases,
//! through the program (BPF_PROG_TEST_RUN) and through netctl_dns's fast path.
//! Where the kernel answers, both answers are the same message by hickory's
//! parser (records compared as sets: both shuffle); where it does not, the
//! packet leaves untouched.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use common::*;
use hickory_proto::op::Message;
use netctl_dns::zone::{EndpointNames, View, Zone, ZoneBuilder};

struct Generated {
    zone: Zone,
    names: Vec<String>,
}

fn generate() -> Generated {
    let mut b = ZoneBuilder::default();
    let nets: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
    for (i, n) in nets.iter().enumerate() {
        b.add_network(n, &format!("net{i}"), &[]);
    }
    let mut names = Vec::new();
    let endpoint = |b: &mut ZoneBuilder, net: usize, name: &str, aliases: &[String], addrs: &[IpAddr]| {
        b.add_endpoint(&EndpointNames {
            network_id: &nets[net],
            network_name: &format!("net{net}"),
            container_name: name,
            short_id: &format!("{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff),
            hostname: name,
            aliases,
            addresses: addrs,
        });
    };
    // Plain containers, v4 and dual-stack, on three networks.
    for net in 0..3 {
        for i in 0..4 {
            let name = format!("web-{net}-{i}");
            let mut addrs = vec![ip(&format!("172.{}.0.{}", 18 + net, 2 + i))];
            if i % 2 == 1 {
                addrs.push(ip(&format!("fd00:{net}::{}", 2 + i)));
            }
            endpoint(&mut b, net, &name, &[], &addrs);
            names.push(name);
        }
    }
    // Aliases held by 1..=10 containers on n0 (the kernel takes up to 8).
    for k in 1..=10u32 {
        let alias = format!("svc{k}");
        for h in 0..k {
            let addrs = [ip(&format!("10.{k}.0.{}", h + 2)), ip(&format!("fd10:{k}::{}", h + 2))];
            endpoint(&mut b, 0, &format!("svc{k}-holder{h}"), std::slice::from_ref(&alias), &addrs);
        }
        names.push(alias);
    }
    // One name on two networks (a union the kernel leaves to userspace), an
    // upper-case name, an alias with a dot, a 63-byte name.
    endpoint(&mut b, 0, "both", &[], &[ip("172.18.9.9")]);
    endpoint(&mut b, 1, "both", &[], &[ip("172.19.9.9")]);
    endpoint(&mut b, 0, "Redis", &["db.local".into()], &[ip("172.18.7.7")]);
    let long = "l".repeat(63);
    endpoint(&mut b, 0, &long, &[], &[ip("172.18.6.6")]);
    names.extend(["both", "redis", "db.local", &long, "nope", "redis.net0"].map(String::from));
    let view =
        |nets: &[&str]| View { networks: nets.iter().map(|s| s.to_string()).collect(), ..Default::default() };
    b.add_view("a0", view(&["n0"]));
    b.add_view("a1", view(&["n1"]));
    b.add_view("a01", view(&["n0", "n1"]));
    b.add_view("a9", view(&["n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"]));
    let links = [("cache".to_string(), vec![ip("172.18.7.7")])].into_iter().collect();
    b.add_view("alink", View { links, ..view(&["n0"]) });
    names.push("cache".into());
    Generated { zone: b.build(), names }
}

fn cases(name: &str) -> Vec<String> {
    let upper = name.to_ascii_uppercase();
    let mixed: String =
        name.chars().enumerate().map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c }).collect();
    vec![name.to_string(), format!("{upper}."), mixed]
}

/// The records of an answer, order aside (both paths shuffle).
fn records(m: &Message) -> BTreeSet<String> {
    m.answers.iter().map(|r| format!("{} {} {:?}", r.name, r.ttl, r.data)).collect()
}

#[test]
fn kernel_and_userspace_answer_alike() {
    let g = generate();
    in_new_netns(|| {
        let cookie = my_cookie();
        let mut mirror = load(&g.zone, &[]);
        let mut answered_by: HashMap<&str, usize> = HashMap::new();
        let (mut asked, mut kernel_answers) = (0, 0);
        let mut previous = None;
        for asker in ["a0", "a1", "a01", "a9", "alink"] {
            // The namespace is this asker's now.
            if let Some(p) = previous.replace(asker) {
                mirror.unregister(p);
            }
            mirror.register(asker, cookie, LISTENER_PORT, &g.zone);
            for name in &g.names {
                for written in cases(name) {
                    for qtype in [1u16, 28, 15, 12] {
                        for (edns, cookie_opt) in
                            [(None, false), (Some(1232), false), (Some(4096), true), (Some(100), false)]
                        {
                            for dport in [LISTENER_PORT, 53] {
                                asked += 1;
                                let id = fastrand::u16(..);
                                let q = query(id, &written, qtype, edns, cookie_opt);
                                let sent = frame(fastrand::u16(1024..), dport, &q);
                                let (verdict, out) = mirror.kernel().test_run(&sent).expect("test run");
                                assert_eq!(verdict, TC_ACT_OK);
                                let mut user = Vec::new();
                                let fast = netctl_dns::fastpath::answer(
                                    &g.zone,
                                    g.zone.placed_view(asker),
                                    TTL,
                                    &q,
                                    &mut user,
                                );
                                if !answered(&sent, &out) {
                                    continue;
                                }
                                kernel_answers += 1;
                                *answered_by.entry(asker).or_default() += 1;
                                let what = format!("{asker} asks {written} type {qtype} edns {edns:?}");
                                assert!(fast, "{what}: the kernel answered, userspace's fast path would not");
                                let kernel = answer_payload(&sent, &out);
                                assert_eq!(kernel.len(), user.len(), "{what}: lengths");
                                let k = Message::from_vec(&kernel).unwrap_or_else(|e| panic!("{what}: {e}"));
                                let u = Message::from_vec(&user).unwrap();
                                assert_eq!(k.metadata, u.metadata, "{what}");
                                assert_eq!(k.queries, u.queries, "{what}");
                                assert_eq!(records(&k), records(&u), "{what}");
                                assert_eq!(
                                    k.edns.as_ref().map(|e| (e.max_payload(), e.flags().dnssec_ok)),
                                    u.edns.as_ref().map(|e| (e.max_payload(), e.flags().dnssec_ok)),
                                    "{what}"
                                );
                                assert!(!k.answers.is_empty() && k.answers.len() <= 8, "{what}");
                            }
                        }
                    }
                }
            }
        }
        eprintln!("{asked} questions, {kernel_answers} answered in the kernel: {answered_by:?}");
        // What the kernel must answer: single-label names held on one of the
        // asker's networks, 8 holders or fewer, in views without link aliases.
        for asker in ["a0", "a1", "a01"] {
            assert!(
                answered_by.get(asker).copied().unwrap_or(0) > 0,
                "{asker}: nothing answered in the kernel"
            );
        }
        assert!(!answered_by.contains_key("a9"), "nine networks: all to userspace");
        assert!(!answered_by.contains_key("alink"), "link aliases: all to userspace");
    });
}

/// The names the kernel must answer, and those it must leave, one by one.
#[test]
fn what_the_kernel_answers_and_what_it_leaves() {
    let g = generate();
    in_new_netns(|| {
        let cookie = my_cookie();
        let mut mirror = load(&g.zone, &[("a0", cookie)]);
        let ask = |m: &mut netctl_ebpf::Mirror, name: &str, qtype: u16, edns: Option<u16>| {
            let sent = frame(5353, LISTENER_PORT, &query(7, name, qtype, edns, false));
            let (_, out) = m.kernel().test_run(&sent).unwrap();
            answered(&sent, &out).then(|| Message::from_vec(&answer_payload(&sent, &out)).unwrap())
        };
        let long = "L".repeat(63);
        for name in ["web-0-0", "WEB-0-1.", "svc1", "svc8", "Redis", long.as_str()] {
            let m = ask(&mut mirror, name, 1, None)
                .unwrap_or_else(|| panic!("{name}: not answered in the kernel"));
            assert!(!m.answers.is_empty());
        }
        assert_eq!(ask(&mut mirror, "svc8", 28, Some(1232)).unwrap().answers.len(), 8);
        for (name, qtype) in [
            ("web-0-0", 28), // NODATA: userspace's
            ("svc9", 1),     // nine holders
            ("nope", 1),     // NXDOMAIN: userspace's
            ("web-1-0", 1),  // another network's
            ("db.local", 1), // a dot
            ("redis.net0", 1),
            ("web-0-0", 15),
            ("web-0-0", 12),
        ] {
            assert!(
                ask(&mut mirror, name, qtype, None).is_none(),
                "{name} type {qtype}: answered in the kernel"
            );
        }
        // Not this namespace's listener port, TCP-less junk, another address.
        let q = query(7, "web-0-0", 1, None, false);
        for sent in [frame(5353, 40002, &q), frame(5353, LISTENER_PORT, &q[..q.len() - 1])] {
            assert_eq!(mirror.kernel().test_run(&sent).unwrap().1, sent);
        }
        // A name removed from the zone stops answering at once; its view too.
        let mut zone = g.zone.clone();
        zone.set_container("gone", &[], None);
        let b_addrs = [ip("172.18.50.50")];
        let ep = EndpointNames {
            network_id: "n0",
            network_name: "net0",
            container_name: "late",
            short_id: "abcabcabcabc",
            hostname: "late",
            aliases: &[],
            addresses: &b_addrs,
        };
        mirror.observe(&mut zone); // whole, the first time; only what changed after
        zone.set_container("late", &[ep], Some(View { networks: vec!["n0".into()], ..Default::default() }));
        mirror.observe(&mut zone);
        assert!(ask(&mut mirror, "late", 1, None).is_some());
        zone.set_container("late", &[], None);
        mirror.observe(&mut zone);
        assert!(ask(&mut mirror, "late", 1, None).is_none());
        mirror.unregister("a0");
        assert!(ask(&mut mirror, "web-0-0", 1, None).is_none(), "no view: nothing answered");
    });
}

/// Several holders come back in every order, as userspace shuffles them.
#[test]
fn holders_are_shuffled_in_the_kernel() {
    let g = generate();
    in_new_netns(|| {
        let mut mirror = load(&g.zone, &[("a0", my_cookie())]);
        let mut orders = HashMap::new();
        for _ in 0..300 {
            let sent = frame(5353, 53, &query(1, "svc3", 1, None, false));
            let (_, out) = mirror.kernel().test_run(&sent).unwrap();
            let m = Message::from_vec(&answer_payload(&sent, &out)).unwrap();
            let order: Vec<String> = m.answers.iter().map(|r| format!("{:?}", r.data)).collect();
            *orders.entry(order).or_insert(0) += 1;
        }
        assert_eq!(orders.len(), 6, "{orders:?}");
        assert!(orders.values().all(|n| *n >= 20), "{orders:?}");
    });
}

/// The program's size and its cost on a packet it does not answer, for
/// docs/decisions.md and BENCHMARKS.md: `cargo test -p netctl-ebpf --test
/// differential program_size -- --nocapture`.
#[test]
fn program_size() {
    let g = generate();
    in_new_netns(|| {
        let mut mirror = load(&g.zone, &[("a0", my_cookie())]);
        let size = mirror.kernel().size().unwrap();
        eprintln!("program: {size:?}");
        assert!(size.instructions > 0 && size.instructions < 4096);
        // A TCP segment on lo, and a DNS question answered.
        let mut other = frame(40000, 8080, b"GET / HTTP/1.1\r\n\r\n");
        other[23] = 6;
        let other_ns = mirror.kernel().time_run(&other, 100_000).unwrap();
        eprintln!("per packet: {other_ns} ns on a packet that is not a question to 127.0.0.11");
    });
}

/// Not a test: what keeping the maps costs one change (one container joins) in a
/// zone of 1000 containers with an alias each (4000 names with short ids and
/// hostnames): `cargo test --release -p netctl-ebpf --test differential
/// bench_sync -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_sync() {
    let mut b = ZoneBuilder::default();
    b.add_network("n0", "net0", &[]);
    let aliases: Vec<[String; 1]> = (0..1000).map(|i| [format!("alias-{i}")]).collect();
    let addrs: Vec<[IpAddr; 1]> =
        (0..1000).map(|i| [ip(&format!("10.0.{}.{}", i / 250, i % 250 + 2))]).collect();
    let ids: Vec<String> = (0..1000).map(|i| format!("{i:012x}")).collect();
    let names: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
    for i in 0..1000 {
        b.add_endpoint(&EndpointNames {
            network_id: "n0",
            network_name: "net0",
            container_name: &names[i],
            short_id: &ids[i],
            hostname: &ids[i],
            aliases: &aliases[i],
            addresses: &addrs[i],
        });
    }
    let mut zone = b.build();
    in_new_netns(|| {
        let mut mirror = load(&zone, &[]);
        mirror.observe(&mut zone);
        let t = std::time::Instant::now();
        for round in 0..100 {
            let a = [ip(&format!("10.9.0.{}", round + 2))];
            let ep = EndpointNames {
                network_id: "n0",
                network_name: "net0",
                container_name: "late",
                short_id: "fedcbafedcba",
                hostname: "late",
                aliases: &[],
                addresses: &a,
            };
            zone.set_container(
                "late",
                &[ep],
                Some(View { networks: vec!["n0".into()], ..Default::default() }),
            );
            mirror.observe(&mut zone);
        }
        eprintln!("sync after one change, 4000 names: {:.0} µs", t.elapsed().as_micros() as f64 / 100.0);
    });
}

/// Changes followed one at a time (`Mirror::observe`, only what each touched)
/// leave the maps as a whole rewrite would: equal to `Zone::kernel_names`.
#[test]
fn changes_followed_one_by_one_leave_the_maps_whole() {
    let g = generate();
    in_new_netns(|| {
        let cookie = my_cookie();
        let mut zone = g.zone.clone();
        let mut mirror = load(&zone, &[("a0", cookie)]);
        mirror.observe(&mut zone);
        let names: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
        let shared = ["shared".to_string()];
        for round in 0..200usize {
            let i = fastrand::usize(..names.len());
            let net = ["n0", "n1", "n2"][fastrand::usize(..3)];
            let addrs = [ip(&format!("172.30.{}.{}", round % 200, i + 2)), ip(&format!("fd30::{round}:{i}"))];
            let aliases: &[String] = if fastrand::bool() { &shared } else { &[] };
            let ep = EndpointNames {
                network_id: net,
                network_name: net,
                container_name: &names[i],
                short_id: &names[i],
                hostname: &names[i],
                aliases,
                addresses: &addrs[..1 + fastrand::usize(..2)],
            };
            if fastrand::u8(..4) == 0 {
                zone.set_container(&names[i], &[], None);
            } else {
                let view = View { networks: vec![net.to_string()], ..Default::default() };
                zone.set_container(&names[i], &[ep], Some(view));
            }
            mirror.observe(&mut zone);
        }
        // Past 8 addresses the kernel keeps the first 8 and the count (and leaves
        // the name to userspace): compare what it keeps.
        let kernel = mirror.kernel().names().unwrap();
        let wanted = zone.kernel_names();
        let mut wrong: Vec<String> = Vec::new();
        for (k, addrs) in &wanted {
            let keep = &addrs[..addrs.len().min(8)];
            if kernel.get(k).map(Vec::as_slice) != Some(keep) {
                wrong.push(format!("{k:?}: kernel {:?}, zone {addrs:?}", kernel.get(k)));
            }
        }
        for k in kernel.keys().filter(|k| !wanted.contains_key(*k)) {
            wrong.push(format!("{k:?}: in the kernel only"));
        }
        assert!(wrong.is_empty(), "{} entries differ: {:?}", wrong.len(), &wrong[..wrong.len().min(5)]);
    });
}
