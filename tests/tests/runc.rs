//! runc (Debian 12's 1.1.5) with netctl's OCI hooks (issue 14): bundles whose
//! root is a busybox-static tree and whose config.json lists `netctl oci-hook`
//! for createRuntime and poststop, run inside the test's own namespaces.

#[path = "../fixtures/runtimes.rs"]
mod runtimes;

use netctl_tests::Sandbox;
use runtimes::{fixtures, require, CgroupParent};

fn runc_bundle(sb: &Sandbox, cg: &CgroupParent, name: &str, annotations: &str, cmd: &str) {
    sb.sh(&format!(
        "python3 {fx}/make-bundle.py /run/bundles/{name} /run/rootfs \"$(command -v netctl)\" /{cg}/{name} '{annotations}' {cmd}",
        fx = fixtures().display(),
        cg = cg.0,
    ))
    .ok();
}

fn runc_run(sb: &Sandbox, name: &str) {
    sb.sh(&format!("cd /run/bundles/{name} && runc run -d {name} </dev/null >/run/bundles/{name}.log 2>&1"))
        .ok();
}

fn runc_exec(sb: &Sandbox, name: &str, cmd: &str) -> netctl_tests::Out {
    sb.sh(&format!("runc exec {name} {cmd}"))
}

#[test]
fn runc_containers_join_resolve_publish_and_leave() {
    require("runc", "runc busybox-static");
    // Dropped after the sandbox, whose end takes the processes out of it.
    let cg = CgroupParent::new("runc");
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create backend-network").ok();
    sb.netctl("network create frontend-network").ok();
    sb.netctl("run -d --name web --net backend-network -- sleep 600").ok();
    sb.sh(&format!("{}/busybox-rootfs.sh /run/rootfs", fixtures().display())).ok();
    runc_bundle(
        &sb,
        &cg,
        "r1",
        r#"{"io.netctl.networks": "backend-network", "io.netctl.aliases": "db", "io.netctl.ports": "8080:80"}"#,
        "httpd -f -p 80 -h /www",
    );
    runc_bundle(&sb, &cg, "r2", r#"{"io.netctl.networks": "backend-network"}"#, "sleep 600");
    runc_bundle(&sb, &cg, "r3", r#"{"io.netctl.networks": "frontend-network"}"#, "sleep 600");
    for r in ["r1", "r2", "r3"] {
        runc_run(&sb, r);
    }

    // Attached containers of netctl, named after the state's id.
    let r1 = sb.netctl("inspect r1").ok().json()[0].clone();
    assert_eq!(r1["Origin"], "attached");
    let ip1 = r1["NetworkSettings"]["Networks"]["backend-network"]["IPAddress"].as_str().unwrap().to_string();
    // The hook wrote the files the container sees.
    let resolv = runc_exec(&sb, "r2", "cat /etc/resolv.conf").ok();
    assert!(resolv.stdout.contains("nameserver 127.0.0.11"), "{}", resolv.stdout);
    let hosts = runc_exec(&sb, "r1", "cat /etc/hosts").ok();
    assert!(hosts.stdout.contains(&ip1), "{}", hosts.stdout);

    // Names: each other, the alias, netctl's own container; and the reverse.
    let ns = runc_exec(&sb, "r2", "nslookup r1 127.0.0.11").ok();
    assert!(ns.stdout.contains(&format!("Address: {ip1}")), "{}", ns.stdout);
    for name in ["r1", "db", "web"] {
        let ping = runc_exec(&sb, "r2", &format!("ping -c1 -W2 {name}"));
        assert!(ping.stdout.contains("1 packets received"), "ping {name}: {ping:?}");
    }
    let back = sb.netctl("run --rm --net backend-network -- ping -c1 -W2 r2").ok();
    assert!(back.stdout.contains("1 received"), "{}", back.stdout);
    let page = sb.netctl("run --rm --net backend-network -- curl -s -m 2 http://db/").ok();
    assert_eq!(page.trimmed(), "hello from busybox");

    // Published through netctl, reachable from the host.
    assert_eq!(sb.curl("", "http://127.0.0.1:8080/").ok().trimmed(), "hello from busybox");

    // Isolation: frontend-network sees neither the names nor the addresses.
    assert!(!runc_exec(&sb, "r3", "nslookup r1 127.0.0.11").stdout.contains(&ip1));
    assert!(runc_exec(&sb, "r3", &format!("ping -c1 -W1 {ip1}")).code != 0);

    // runc delete: poststop removes names and veths at once.
    let veth =
        r1["NetworkSettings"]["Networks"]["backend-network"]["EndpointID"].as_str().unwrap()[..7].to_string();
    assert!(sb.link_names().contains(&format!("veth{veth}")));
    sb.sh("runc kill r1 KILL; for i in $(seq 50); do runc state r1 | grep -q stopped && break; sleep 0.1; done; runc delete r1").ok();
    assert!(sb.netctl("inspect r1").code != 0, "r1 is gone from netctl");
    assert!(!runc_exec(&sb, "r2", "nslookup db 127.0.0.11").stdout.contains(&ip1), "db is gone from DNS");
    assert!(!sb.link_names().contains(&format!("veth{veth}")), "its veth is gone");
    assert!(sb.sh("curl -sS -m 2 http://127.0.0.1:8080/").code != 0, "its port is closed");

    // poststop again (a runtime may repeat it) and with the daemon down: never fails.
    let state = r#"{"ociVersion":"1.0.2","id":"r1","status":"stopped","bundle":"/run/bundles/r1","annotations":{"io.netctl.networks":"backend-network"}}"#;
    sb.sh(&format!("echo '{state}' | env -i $(command -v netctl) oci-hook poststop")).ok();
    sb.sh(&format!("echo '{state}' | env -i $(command -v netctl) oci-hook")).ok();

    // A hook that cannot attach fails the container's start, and leaves nothing.
    runc_bundle(&sb, &cg, "bad", r#"{"io.netctl.networks": "no-such-network"}"#, "sleep 600");
    let bad = sb.sh("cd /run/bundles/bad && runc run -d bad </dev/null 2>&1");
    assert!(bad.code != 0 && bad.stdout.contains("no-such-network"), "{bad:?}");
    assert!(sb.netctl("inspect bad").code != 0);
    sb.sh("runc delete -f bad 2>/dev/null; true");

    // A container without the annotation is left alone by the hook.
    runc_bundle(&sb, &cg, "plain", "{}", "sleep 600");
    runc_run(&sb, "plain");
    assert!(sb.netctl("inspect plain").code != 0);
    assert!(runc_exec(&sb, "plain", "ip -o link").ok().stdout.lines().count() == 1, "only lo");

    for r in ["r2", "r3", "plain"] {
        sb.sh(&format!("runc delete -f {r}")).ok();
    }
    assert_eq!(sb.netctl("ps -q").ok().stdout.lines().count(), 1, "only netctl's own web is left");
    sb.stop_daemon();
    sb.sh(&format!("echo '{state}' | env -i $(command -v netctl) oci-hook poststop")).ok();
}
