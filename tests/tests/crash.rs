//! Crash safety, tested by crashing: a failure and a crash (abort, as kill -9) injected
//! at every step of every change through netctld's failpoints, and kill -9 at random
//! instants of `run -d` and of four clients at once. After each, a restart must leave
//! the registry (the API), the store, the journal, the kernel (namespace pins, veths),
//! the cgroups and the processes in agreement: no untracked process, no leaked
//! object, no container lost after its `run -d` answered, never two copies.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use netctl_tests::Sandbox;
use serde_json::Value;

const API: &str = "curl -sf --unix-socket /run/netctl/netctl.sock";

/// What a comparison found wrong, by kind.
#[derive(Debug, Default)]
struct Findings {
    leaked: Vec<String>,
    untracked: Vec<String>,
    duplicates: Vec<String>,
    mismatched: Vec<String>,
}

impl Findings {
    fn is_clean(&self) -> bool {
        self.leaked.is_empty()
            && self.untracked.is_empty()
            && self.duplicates.is_empty()
            && self.mismatched.is_empty()
    }
}

fn containers(sb: &Sandbox) -> Vec<Value> {
    sb.sh(&format!("{API} 'http://x/v1/containers?all=1'"))
        .ok()
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn lines(sb: &Sandbox, script: &str) -> BTreeSet<String> {
    sb.sh(script).stdout.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

/// Compares the API with the store, the journal, the kernel, the cgroups and the
/// processes. `settled`: no change may be under way (after a restart).
fn compare(sb: &Sandbox, settled: bool) -> Findings {
    let mut f = Findings::default();
    let list = containers(sb);
    let ids: BTreeSet<String> = list.iter().map(|c| c["Id"].as_str().unwrap().to_string()).collect();
    let names: BTreeSet<String> =
        list.iter().map(|c| c["Name"].as_str().unwrap().trim_start_matches('/').to_string()).collect();
    let stored = lines(sb, "ls /var/lib/netctl/containers | sed -n 's/\\.json$//p'");
    if stored != ids {
        f.mismatched.push(format!("store {stored:?} != API {ids:?}"));
    }
    if settled {
        let intents = lines(sb, "ls /var/lib/netctl/intents");
        if !intents.is_empty() {
            f.mismatched.push(format!("intents left after a restart: {intents:?}"));
        }
    }
    // Namespace pins: exactly the containers'.
    // `foreign` is the test's stand-in for another runtime's namespace.
    let pins: BTreeSet<String> = lines(sb, "ls /run/netns").into_iter().filter(|p| p != "foreign").collect();
    for p in pins.difference(&names) {
        f.leaked.push(format!("namespace pin /run/netns/{p}"));
    }
    // Veths: exactly the endpoints'.
    let endpoints: BTreeSet<String> = list
        .iter()
        .flat_map(|c| {
            c["NetworkSettings"]["Networks"]
                .as_object()
                .map(|m| {
                    m.values().map(|n| n["EndpointID"].as_str().unwrap_or("").to_string()).collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect();
    let veths: BTreeSet<String> = sb
        .links()
        .iter()
        .filter_map(|l| l["ifalias"].as_str().and_then(|a| a.strip_prefix("netctl-ep:")).map(String::from))
        .collect();
    for v in veths.difference(&endpoints) {
        f.leaked.push(format!("veth of endpoint {v}"));
    }
    for e in endpoints.difference(&veths) {
        f.mismatched.push(format!("endpoint {e} has no veth"));
    }
    // Bridges: exactly the networks'.
    let networks = sb.sh(&format!("{API} http://x/v1/networks")).ok().json();
    let net_ids: BTreeSet<String> =
        networks.as_array().into_iter().flatten().map(|n| n["Id"].as_str().unwrap().to_string()).collect();
    let bridges: BTreeSet<String> = sb
        .links()
        .iter()
        .filter_map(|l| l["ifalias"].as_str().and_then(|a| a.strip_prefix("netctl:")).map(String::from))
        .collect();
    for b in bridges.difference(&net_ids) {
        f.leaked.push(format!("bridge of network {b}"));
    }
    for n in net_ids.difference(&bridges) {
        f.mismatched.push(format!("network {n} has no bridge"));
    }
    let net_files = lines(sb, "ls /var/lib/netctl/networks | sed -n 's/\\.json$//p'");
    if net_files != net_ids {
        f.mismatched.push(format!("network store {net_files:?} != API {net_ids:?}"));
    }
    // Cgroups: only the containers'; processes: only in running containers', one
    // main process and one shim each.
    let cg = sb.sh("findmnt -n -t cgroup2 -o TARGET | head -1").stdout.trim().to_string();
    let cgroups = lines(sb, &format!("ls -d {cg}/netctl/*/ 2>/dev/null | xargs -rn1 basename"));
    for g in cgroups.difference(&ids) {
        f.leaked.push(format!("cgroup {g}"));
    }
    let running: BTreeMap<String, &Value> = list
        .iter()
        .filter(|c| c["State"]["Running"] == true && c["Origin"] == "netctl")
        .map(|c| (c["Id"].as_str().unwrap().to_string(), c))
        .collect();
    let sleepers = lines(sb, "pgrep -f '^sleep 600[0-9]' || true");
    let mut accounted = BTreeSet::new();
    for (id, c) in &running {
        let payload = lines(sb, &format!("cat {cg}/netctl/{id}/container/cgroup.procs 2>/dev/null"));
        let shims = lines(sb, &format!("cat {cg}/netctl/{id}/supervisor/cgroup.procs 2>/dev/null"));
        if c["Config"]["Cmd"][0] == "sleep" && (payload.len() != 1 || shims.len() != 1) {
            f.duplicates.push(format!("{id}: processes {payload:?}, shims {shims:?}"));
        }
        if !payload.contains(&c["State"]["Pid"].to_string()) {
            f.mismatched
                .push(format!("{id}: main process {} not in its cgroup {payload:?}", c["State"]["Pid"]));
        }
        accounted.extend(payload);
    }
    for p in sleepers.difference(&accounted) {
        let what = sb.sh(&format!("cat /proc/{p}/cgroup; tr '\\0' ' ' < /proc/{p}/cmdline")).stdout;
        f.untracked.push(format!("process {p}: {}", what.replace('\n', " ")));
    }
    let shims = lines(sb, "pgrep -f '^[^ ]*netctld shim' || true");
    let expected_shims: usize = running.len();
    if shims.len() > expected_shims {
        f.untracked.push(format!("{} shims for {} running containers", shims.len(), expected_shims));
    }
    f
}

#[track_caller]
fn assert_clean(sb: &Sandbox, settled: bool, context: &str) {
    let f = compare(sb, settled);
    assert!(f.is_clean(), "{context}: {f:#?}\ndaemon log:\n{}", sb.daemon_log());
}

/// Every container removed; then nothing of them may be left anywhere.
fn remove_all(sb: &Sandbox) {
    sb.sh("netctl ps -aq | xargs -r netctl rm -f").ok();
    assert_clean(sb, true, "after rm -f of everything");
    assert!(containers(sb).is_empty());
    assert_eq!(sb.sh("ls /run/netns | grep -vx foreign | wc -l").trimmed(), "0", "pins left");
}

struct Case {
    step: &'static str,
    /// Made before the failing daemon starts.
    setup: &'static str,
    /// The change that passes the step.
    op: &'static str,
    /// A removal past its point of no return: an injected failure there leaves
    /// what the next start removes, so only the crash is tried.
    crash_only: bool,
}

const CASES: &[Case] = &[
    Case {
        step: "create.netns",
        setup: "",
        op: "netctl run -d --name c1 --net netA -- sleep 6001",
        crash_only: false,
    },
    Case {
        step: "create.loopback",
        setup: "",
        op: "netctl run -d --name c1 --net netA -- sleep 6001",
        crash_only: false,
    },
    Case {
        step: "create.endpoint",
        setup: "",
        op: "netctl run -d --name c1 --net netA -- sleep 6001",
        crash_only: false,
    },
    Case {
        step: "create.files",
        setup: "",
        op: "netctl run -d --name c1 --net netA -- sleep 6001",
        crash_only: false,
    },
    Case {
        step: "create.listener",
        setup: "",
        op: "netctl run -d --name c1 --net netA -- sleep 6001",
        crash_only: false,
    },
    Case {
        step: "create.publish",
        setup: "",
        op: "netctl run -d --name c1 --net netA -p 8080 -- sleep 6001",
        crash_only: false,
    },
    Case {
        step: "create.spawn",
        setup: "",
        op: "netctl run -d --name c1 --net netA -- sleep 6001",
        crash_only: false,
    },
    Case {
        step: "create.commit",
        setup: "",
        op: "netctl run -d --name c1 --net netA -- sleep 6001",
        crash_only: false,
    },
    Case {
        step: "create.commit",
        setup: "",
        op: "netctl run --name c1 --net netA -- true",
        crash_only: false,
    },
    Case {
        step: "connect.endpoint",
        setup: "netctl run -d --name c1 --net netA -- sleep 6001",
        op: "netctl network connect netB c1",
        crash_only: false,
    },
    Case {
        step: "connect.files",
        setup: "netctl run -d --name c1 --net netA -- sleep 6001",
        op: "netctl network connect netB c1",
        crash_only: false,
    },
    Case {
        step: "connect.commit",
        setup: "netctl run -d --name c1 --net netA -- sleep 6001",
        op: "netctl network connect netB c1",
        crash_only: false,
    },
    Case {
        step: "disconnect.teardown",
        setup: "netctl run -d --name c1 --net netA -- sleep 6001 && netctl network connect netB c1",
        op: "netctl network disconnect netB c1",
        crash_only: false,
    },
    Case {
        step: "start.spawn",
        setup: "netctl run -d --name c1 --net netA -- sleep 6001 && netctl stop -t 0 c1",
        op: "netctl start c1",
        crash_only: false,
    },
    Case {
        step: "start.commit",
        setup: "netctl run -d --name c1 --net netA -- sleep 6001 && netctl stop -t 0 c1",
        op: "netctl start c1",
        crash_only: false,
    },
    Case {
        step: "rm.teardown",
        setup: "netctl run -d --name c1 --net netA -- sleep 6001",
        op: "netctl rm -f c1",
        crash_only: false,
    },
    Case { step: "network.bridge", setup: "", op: "netctl network create netC", crash_only: false },
    Case { step: "network.firewall", setup: "", op: "netctl network create netC", crash_only: false },
    Case {
        step: "network.rm",
        setup: "netctl network create netC",
        op: "netctl network rm netC",
        crash_only: false,
    },
    Case {
        step: "network.rm.bridge",
        setup: "netctl network create netC",
        op: "netctl network rm netC",
        crash_only: true,
    },
    Case {
        step: "attach.endpoint",
        setup: "ip netns add foreign",
        op: "netctl container attach --netns /run/netns/foreign --network netA f1",
        crash_only: false,
    },
    Case {
        step: "attach.commit",
        setup: "ip netns add foreign",
        op: "netctl container attach --netns /run/netns/foreign --network netA f1",
        crash_only: false,
    },
    Case {
        step: "attach.publish",
        setup: "ip netns add foreign",
        op: "netctl container attach --netns /run/netns/foreign --network netA -p 8080:80 f1",
        crash_only: false,
    },
];

#[test]
fn a_failure_or_a_crash_at_any_step_leaves_the_whole_change_or_none_of_it() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create netA").ok();
    sb.netctl("network create netB").ok();
    for case in CASES {
        for action in ["return", "return(crash)"] {
            if case.crash_only && action == "return" {
                continue;
            }
            let context = format!("{} at {} ({})", action, case.step, case.op);
            if !case.setup.is_empty() {
                sb.sh(case.setup).ok();
            }
            sb.stop_daemon();
            sb.start_daemon_env(&format!("FAILPOINTS='{}={action}'", case.step), "");
            let out = sb.sh(case.op);
            assert_ne!(out.code, 0, "{context}: the change should have failed: {out:?}");
            if action == "return" {
                assert!(out.stderr.contains("injected failure"), "{context}: {out:?}");
                assert_clean(&sb, false, &format!("{context}, before a restart"));
                sb.stop_daemon();
            } else {
                // The daemon aborted at the step, as under kill -9.
                let gone = sb.sh("sleep 0.2; kill -0 $(cat /run/netctld.pid) 2>/dev/null");
                assert_ne!(gone.code, 0, "{context}: the daemon should have crashed");
            }
            sb.start_daemon();
            assert_clean(&sb, true, &format!("{context}, after a restart"));
            // A change cut short is whole or absent: the same change works now.
            sb.sh(&format!("{} || true", case.op));
            assert_clean(&sb, true, &format!("{context}, the change done again"));
            remove_all(&sb);
            sb.sh("ip netns del foreign 2>/dev/null; netctl network rm netC 2>/dev/null; true");
        }
    }
}

#[test]
fn kill_9_at_random_instants_of_run_d_loses_and_leaks_nothing() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create netA").ok();
    let cycles = 40;
    let (mut lost, mut present) = (0, 0);
    let mut findings = Findings::default();
    for i in 0..cycles {
        let delay_ms = 1 + (i * 7919 + 3) % 9;
        // The client's answer is kept: a container whose run -d answered must exist.
        sb.sh(&format!(
            "(netctl run -d --name k{i} --net netA -- sleep 6001 > /run/answer-{i} 2>&1; echo $? >> /run/answer-{i}) & \
             sleep 0.00{delay_ms}; kill -9 $(cat /run/netctld.pid); wait"
        ));
        sb.sh("pid=$(cat /run/netctld.pid); while kill -0 $pid 2>/dev/null; do sleep 0.01; done");
        sb.start_daemon();
        let answer = sb.sh(&format!("cat /run/answer-{i}")).stdout;
        let answered = answer.trim().ends_with("\n0") || answer.trim() == "0";
        let exists = sb.netctl(&format!("inspect k{i}")).code == 0;
        if answered && !exists {
            lost += 1;
        }
        if exists {
            present += 1;
            // Never a live process behind a record that says otherwise, never two copies.
            let running =
                sb.netctl(&format!("inspect -f '{{{{.State.Running}}}}' k{i}")).trimmed().to_string();
            assert_eq!(running, "true", "k{i} exists but is not running; log:\n{}", sb.daemon_log());
            sb.netctl(&format!("start k{i}")).ok();
        } else {
            // Nothing is in the way of the same name.
            sb.netctl(&format!("run -d --name k{i} --net netA -- sleep 6001")).ok();
            present += 1;
        }
        let f = compare(&sb, true);
        findings.leaked.extend(f.leaked);
        findings.untracked.extend(f.untracked);
        findings.duplicates.extend(f.duplicates);
        findings.mismatched.extend(f.mismatched);
    }
    eprintln!(
        "kill -9 during run -d: cycles {cycles}, lost {lost}, leaked {}, untracked {}, duplicates {}, mismatched {} ({present} containers)",
        findings.leaked.len(),
        findings.untracked.len(),
        findings.duplicates.len(),
        findings.mismatched.len()
    );
    assert_eq!(lost, 0, "containers lost after run -d answered");
    assert!(findings.is_clean(), "{findings:#?}\nlog:\n{}", sb.daemon_log());
    remove_all(&sb);
}

#[test]
fn kill_9_under_four_parallel_clients_of_every_change_loses_and_leaks_nothing() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create netA").ok();
    sb.netctl("network create netB").ok();
    for round in 0..3 {
        let kill_after = [0.6, 1.1, 1.7][round];
        sb.sh(&format!(
            "for c in 1 2 3 4; do (for i in $(seq 100); do \
               n=r{round}c${{c}}n$i; \
               netctl run -d --name $n --net netA -- sleep 6001 >/dev/null 2>&1 && \
               netctl network connect netB $n >/dev/null 2>&1 || exit 0; \
               if [ $((i % 3)) = 0 ]; then netctl network disconnect netA $n >/dev/null 2>&1 || exit 0; fi; \
               if [ $((i % 4)) = 0 ]; then netctl stop -t 0 $n >/dev/null 2>&1 || exit 0; fi; \
               if [ $((i % 8)) = 0 ]; then netctl start $n >/dev/null 2>&1 || exit 0; fi; \
               if [ $((i % 5)) = 0 ]; then netctl rm -f $n >/dev/null 2>&1 || exit 0; fi; \
               done) & done; \
             sleep {kill_after}; kill -9 $(cat /run/netctld.pid); wait"
        ));
        sb.sh("pid=$(cat /run/netctld.pid); while kill -0 $pid 2>/dev/null; do sleep 0.01; done");
        sb.start_daemon();
        let f = compare(&sb, true);
        let n = containers(&sb).len();
        eprintln!(
            "round {round}: {n} containers after kill -9 at {kill_after} s: leaked {}, untracked {}, duplicates {}, mismatched {}",
            f.leaked.len(),
            f.untracked.len(),
            f.duplicates.len(),
            f.mismatched.len()
        );
        assert!(n > 0, "the clients made nothing before the kill");
        assert!(f.is_clean(), "round {round}: {f:#?}\nlog:\n{}", sb.daemon_log());
    }
    remove_all(&sb);
}

#[test]
fn stop_and_rm_reach_every_process_a_container_started() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("run -d --name f1 -- sh -c 'sleep 6002 & sleep 6003'").ok();
    let count = |sb: &Sandbox| sb.sh("pgrep -fc '^sleep 600[23]' || true").trimmed().to_string();
    let wait_for = |sb: &Sandbox, n: &str| {
        for _ in 0..100 {
            if count(sb) == n {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("expected {n} sleeps, have {}", count(sb));
    };
    wait_for(&sb, "2");
    sb.netctl("stop -t 1 f1").ok();
    assert_eq!(count(&sb), "0", "stop left processes of f1 running");
    sb.netctl("start f1").ok();
    wait_for(&sb, "2");
    // A process started by exec is the container's too.
    sb.sh("setsid netctl exec f1 -- sleep 6002 </dev/null >/dev/null 2>&1 &");
    wait_for(&sb, "3");
    sb.netctl("rm -f f1").ok();
    assert_eq!(count(&sb), "0", "rm -f left processes of f1 running");
    // The main process ending takes the rest with it, as a container's init does.
    sb.netctl("run -d --name f2 -- sh -c 'sleep 6002 & sleep 0.3'").ok();
    wait_for(&sb, "0");
    assert_clean(&sb, true, "after f2 exited");
    // A foreground run's leftovers go when it ends too.
    sb.netctl("run --name f3 -- sh -c 'sleep 6003 & true'").ok();
    wait_for(&sb, "0");
    remove_all(&sb);
}

#[test]
fn state_made_anew_keeps_the_default_bridge() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.stop_daemon();
    sb.sh("rm -rf /var/lib/netctl/*").ok();
    sb.start_daemon();
    assert!(sb.link("netctl0").is_some(), "the default bridge was deleted; log:\n{}", sb.daemon_log());
    assert!(!sb.daemon_log().contains("removed a bridge"), "{}", sb.daemon_log());
    sb.netctl("run --rm -- true").ok();
    sb.restart_daemon();
    sb.netctl("run --rm -- true").ok();
}

#[test]
fn relayed_connections_of_published_ports_end_with_the_container() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create netA").ok();
    sb.netctl(
        "run -d --name srv --net netA -p 8080:80 -- python3 -c \"import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',80))\ns.listen()\nc,_=s.accept()\ntime.sleep(600)\"",
    )
    .ok();
    // Through the daemon's relay (127.0.0.1 is not DNATed), held open.
    // The container's own server, not only the daemon's relay, must be listening.
    sb.sh("for i in $(seq 50); do ip netns exec srv ss -Htln 'sport = :80' | grep -q . && exit 0; sleep 0.1; done; exit 1").ok();
    sb.sh("setsid python3 -c \"import socket,time\nfor i in range(50):\n  try:\n    s=socket.create_connection(('127.0.0.1',8080)); break\n  except OSError: time.sleep(0.1)\ntime.sleep(600)\" </dev/null >/dev/null 2>&1 &");
    let relayed = "ss -Htn state established '( sport = :8080 )' | wc -l";
    sb.sh(&format!("for i in $(seq 50); do [ $({relayed}) -gt 0 ] && exit 0; sleep 0.1; done; exit 1")).ok();
    // The container's end never says goodbye (its FIN is dropped): only the
    // daemon can end the relayed connection.
    sb.sh("ip netns exec srv nft 'add table inet t; add chain inet t o { type filter hook output priority 0; }; add rule inet t o tcp sport 80 drop'").ok();
    sb.netctl("rm -f srv").ok();
    let left = sb.sh(&format!(
        "for i in $(seq 20); do [ $({relayed}) -eq 0 ] && exit 0; sleep 0.1; done; {relayed}; exit 1"
    ));
    assert_eq!(left.code, 0, "the relayed connection outlived the container: {}", left.stdout);
}
