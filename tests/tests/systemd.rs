//! netctld as a systemd unit under a real systemd (issue 12, section 4): a minimal
//! Debian 12 root made with mmdebstrap (tests/nspawn/build-root.sh, cached under
//! /var/cache/netctl-test-root by a hash of its package list) is booted with
//! `systemd-nspawn -b --volatile=overlay --private-network` inside the test's
//! throwaway namespaces; netctld is installed in it with config/netctld.service.
//! Asserted: `systemctl restart` returns (READY=1) only once every container's
//! resolver answers; the sockets are in systemd's fd store; containers resolving
//! in a loop (one try, 3 s) see no failed, wrong or retried question across
//! `systemctl restart` and kill -9; a hung daemon (SIGSTOP) is restarted by the
//! watchdog and its queued questions are answered by the next one.

use std::time::{Duration, Instant};

use netctl_tests::{Out, Sandbox};
use serde_json::Value;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

struct Machine<'a> {
    sb: &'a Sandbox,
}

impl Machine<'_> {
    /// Boots the root and waits until its systemd is up.
    fn boot(sb: &Sandbox) -> Machine<'_> {
        for tool in ["mmdebstrap", "systemd-nspawn"] {
            assert!(
                sb.sh(&format!("command -v {tool}")).code == 0,
                "{tool} is missing: apt-get install mmdebstrap systemd-container (.ci/run does)"
            );
        }
        let started = Instant::now();
        let root = sb.sh(&format!("{REPO}/tests/nspawn/build-root.sh")).ok().trimmed().to_string();
        eprintln!("root {root} ready in {:.1} s", started.elapsed().as_secs_f64());
        let bin = sb.sh("dirname $(command -v netctld)").ok().trimmed().to_string();
        sb.sh(&format!(
            "setsid systemd-nspawn -q -D {root} --volatile=overlay --private-network --register=no --keep-unit \
             -M netctl-test --bind-ro={bin}:/opt/netctl/bin --bind-ro={REPO}/config:/opt/netctl/config \
             -b > /run/nspawn.log 2>&1 < /dev/null & echo $! > /run/nspawn.pid"
        ))
        .ok();
        let m = Machine { sb };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let init = sb.sh("pgrep -P $(cat /run/nspawn.pid) > /run/init.pid && cat /run/init.pid");
            if init.code == 0 {
                let state = m.run("systemctl is-system-running 2>/dev/null || true");
                if state.trimmed() == "running" || state.trimmed() == "degraded" {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the machine did not boot in 60 s:\n{}",
                sb.sh("tail -50 /run/nspawn.log").stdout
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("booted in {:.1} s", started.elapsed().as_secs_f64());
        m
    }

    /// Runs a script inside the machine (all of its namespaces).
    fn run(&self, script: &str) -> Out {
        self.sb.sh(&format!(
            "nsenter -t $(cat /run/init.pid) -a -- env PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin bash -c {}",
            quote(script)
        ))
    }

    fn main_pid(&self) -> String {
        self.run("systemctl show -p MainPID --value netctld").ok().trimmed().to_string()
    }

    /// Starts resolving loops in the machine's containers `askers` (the host's
    /// python3 in the container's network namespace: the root has none).
    fn start_loops(&self, askers: &[usize], n: usize) {
        let names: Vec<String> = (1..=n).map(|i| format!("c{i}")).collect();
        for a in askers {
            self.sb
                .sh(&format!(
                    "rm -f /run/stop-loops; setsid nsenter --net=/proc/$(cat /run/init.pid)/root/run/netns/c{a} \
                     python3 {REPO}/tests/restarts/resolve_loop.py /run/stop-loops 3 1 {} > /run/loop-c{a}.json 2>&1 < /dev/null &",
                    names.join(" ")
                ))
                .ok();
        }
        std::thread::sleep(Duration::from_millis(300));
    }

    fn stop_loops(&self, askers: &[usize]) -> Vec<(usize, Value)> {
        self.sb.sh("touch /run/stop-loops").ok();
        askers
            .iter()
            .map(|a| {
                let out = self
                    .sb
                    .sh(&format!(
                        "for i in $(seq 200); do [ -s /run/loop-c{a}.json ] && break; sleep 0.05; done; cat /run/loop-c{a}.json"
                    ))
                    .ok();
                let v: Value = serde_json::from_str(out.trimmed())
                    .unwrap_or_else(|e| panic!("loop in c{a}: no JSON ({e}): {}", out.stdout));
                (*a, v)
            })
            .collect()
    }

    fn journal(&self) -> String {
        self.run("journalctl -q -u netctld --no-pager | tail -60").stdout
    }

    /// Each container asks for its own name once (1 s, one try): the addresses.
    fn each_answers(&self, n: usize) -> Vec<String> {
        let out = self.run(&format!(
            "for i in $(seq {n}); do echo c$i=$(ip netns exec c$i dig +short +tries=1 +timeout=1 c$i @127.0.0.11); done"
        ));
        out.stdout.lines().filter(|l| !l.ends_with('=')).map(String::from).collect()
    }
}

#[test]
fn under_systemd_restarts_lose_no_question() {
    let sb = Sandbox::new();
    let m = Machine::boot(&sb);
    // Installed as install.sh does, with a shorter watchdog for the test.
    m.run(
        "ln -sf /opt/netctl/bin/netctld /opt/netctl/bin/netctl /usr/local/bin/ \
         && cp /opt/netctl/config/netctld.service /etc/systemd/system/ \
         && mkdir -p /etc/systemd/system/netctld.service.d \
         && printf '[Service]\\nWatchdogSec=3s\\nTimeoutAbortSec=2s\\n' > /etc/systemd/system/netctld.service.d/test.conf \
         && systemctl daemon-reload && systemctl start netctld",
    )
    .ok();
    let n = 20;
    m.run(&format!(
        "netctl network create n1 >/dev/null && for i in $(seq {n}); do ip netns add c$i \
         && netctl container attach --netns /run/netns/c$i --network n1 c$i >/dev/null || exit 1; done"
    ))
    .ok();
    assert_eq!(m.each_answers(n).len(), n);
    let stored = m.run("systemctl show -p NFileDescriptorStore --value netctld").ok();
    assert_eq!(stored.trimmed(), (2 * n).to_string(), "two sockets per container in the fd store");

    // READY ordering: `systemctl restart` of a Type=notify unit returns at READY=1;
    // at that moment every container's resolver answers its first question.
    let pid = m.main_pid();
    m.run("systemctl restart netctld").ok();
    assert_ne!(m.main_pid(), pid);
    let answers = m.each_answers(n);
    assert_eq!(answers.len(), n, "at READY some resolver did not answer: {answers:?}\n{}", m.journal());

    // Questions across restarts: none failed, none wrong, none had to be asked again.
    let askers = [1, 7, 14, 20];
    m.start_loops(&askers, n);
    for _ in 0..2 {
        m.run("systemctl restart netctld").ok();
        std::thread::sleep(Duration::from_millis(400));
        let pid = m.main_pid();
        m.run(&format!("kill -9 {pid}")).ok();
        let deadline = Instant::now() + Duration::from_secs(15);
        while !(m.main_pid() != pid && m.run("systemctl is-active netctld").trimmed() == "active") {
            assert!(Instant::now() < deadline, "not restarted after kill -9:\n{}", m.journal());
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    for (a, v) in m.stop_loops(&askers) {
        eprintln!("c{a}: {v}");
        assert_eq!(v["wrong"], serde_json::json!({}), "c{a}: wrong answers: {v}");
        assert_eq!(v["unanswered"], 0, "c{a}: lost: {v}\n{}", m.journal());
        assert_eq!(v["retries"], 0, "c{a}: asked again: {v}");
        assert!(v["right"].as_u64().unwrap() > 20, "{v}");
    }

    // A hung daemon: no WATCHDOG=1, systemd kills and restarts it; questions
    // asked meanwhile are answered by the next daemon from the stored sockets.
    let pid = m.main_pid();
    m.run(&format!("kill -STOP {pid}")).ok();
    let asked = Instant::now();
    let late = m.run("ip netns exec c3 dig +short +tries=1 +timeout=15 c5 @127.0.0.11").ok();
    eprintln!("asked a hung daemon: answered in {:.1} s: {}", asked.elapsed().as_secs_f64(), late.trimmed());
    assert!(late.trimmed().starts_with("172.18.0."), "{late:?}\n{}", m.journal());
    assert_ne!(m.main_pid(), pid);
    let journal = m.run("journalctl -q --no-pager | grep -i 'watchdog timeout' || true").stdout;
    assert!(
        journal.to_lowercase().contains("watchdog timeout"),
        "restarted by the watchdog:\n{}",
        m.journal()
    );
    assert_eq!(m.each_answers(n).len(), n);
}
