//! podman (Debian 12's 4.3.1) on netctl networks (issue 14), as the README tells
//! a user to set it up: the CNI backend with netctl-cni in a conflist per
//! network, and the OCI hook with `--network none` plus the annotation. All of
//! podman's state (storage, runroot, tmpdir, networks, hooks, libcni's cache in
//! /var/lib/cni) is the test's own,
//! with runc, cgroupfs under a cgroup parent of the test's own, vfs storage,
//! and an image imported from a busybox-static tree (no registry).

#[path = "../fixtures/runtimes.rs"]
mod runtimes;

use netctl_tests::{Out, Sandbox};
use runtimes::{fixtures, require, CgroupParent};

const DIR: &str = "/run/podman-test";

struct Podman<'a> {
    sb: &'a Sandbox,
    cgroup: String,
}

impl Podman<'_> {
    fn cmd(&self, args: &str) -> Out {
        self.sb.sh(&format!(
            "CONTAINERS_CONF={DIR}/containers.conf podman --root {DIR}/root --runroot {DIR}/runroot --tmpdir {DIR}/tmp \
             --storage-driver vfs --runtime runc --cgroup-manager cgroupfs {args}"
        ))
    }

    /// `podman run` with the test's cgroup parent.
    fn run(&self, args: &str) -> Out {
        self.cmd(&format!("run --cgroup-parent /{} {args}", self.cgroup))
    }
}

fn setup<'a>(sb: &'a Sandbox, cg: &CgroupParent) -> Podman<'a> {
    let fx = fixtures().display().to_string();
    sb.sh(&format!(
        "set -e; for d in /var/lib/cni /var/lib/containers; do mkdir -p $d; mount -t tmpfs tmpfs $d; done; \
         mkdir -p {DIR}/net.d {DIR}/hooks.d {DIR}/tmp; bin=$(dirname $(command -v netctl-cni)); \
         sed -e \"s#@BIN@#$bin#\" -e 's#@DIR@#{DIR}#' {fx}/podman-containers.conf > {DIR}/containers.conf; \
         for n in backend-network frontend-network; do sed \"s#@NETWORK@#$n#g\" {fx}/netctl.conflist > {DIR}/net.d/$n.conflist; done; \
         sed \"s#/usr/local/bin/netctl#$(command -v netctl)#\" {fx}/../../config/oci-hooks.d/netctl.json > {DIR}/hooks.d/netctl.json; \
         {fx}/busybox-rootfs.sh {DIR}/rootfs"
    ))
    .ok();
    let p = Podman { sb, cgroup: cg.0.clone() };
    p.cmd(&format!("import -q - localhost/busybox < <(tar -C {DIR}/rootfs -c .)")).ok();
    p
}

fn ip_of(sb: &Sandbox, name: &str) -> String {
    let c = sb.netctl(&format!("inspect {name}")).ok().json();
    c[0]["NetworkSettings"]["Networks"]["backend-network"]["IPAddress"].as_str().unwrap().to_string()
}

const IMG: &str = "localhost/busybox";

#[test]
fn podman_with_cni_and_with_the_oci_hook() {
    require("podman", "podman runc busybox-static");
    let cg = CgroupParent::new("podman");
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create backend-network").ok();
    sb.netctl("network create frontend-network").ok();
    let p = setup(&sb, &cg);

    // CNI: podman's containers are netctl's attached containers, by their names.
    p.run(&format!("-d --name redis --network backend-network {IMG} httpd -f -p 80 -h /www")).ok();
    let redis = sb.netctl("inspect redis").ok().json()[0].clone();
    assert_eq!(redis["Origin"], "attached");
    let ip = ip_of(&sb, "redis");
    let ping = p.run(&format!("--rm --network backend-network {IMG} ping -c1 -W2 redis")).ok();
    assert!(ping.stdout.contains("1 packets received"), "{}", ping.stdout);
    let ns = p.run(&format!("--rm --network backend-network {IMG} nslookup redis 127.0.0.11")).ok();
    assert!(ns.stdout.contains(&format!("Address: {ip}")), "{}", ns.stdout);
    let resolv = p.run(&format!("--rm --network backend-network {IMG} cat /etc/resolv.conf")).ok();
    assert!(resolv.stdout.starts_with("nameserver 127.0.0.11"), "the result's dns first: {}", resolv.stdout);

    // --network-alias: through runtimeConfig.aliases.
    p.run(&format!("-d --name db1 --network backend-network --network-alias db {IMG} sleep 600")).ok();
    let db = p.run(&format!("--rm --network backend-network {IMG} nslookup db 127.0.0.11")).ok();
    assert!(db.stdout.contains(&format!("Address: {}", ip_of(&sb, "db1"))), "{}", db.stdout);

    // -p: through runtimeConfig.portMappings, published by netctl.
    p.run(&format!("-d --name web -p 8080:80 --network backend-network {IMG} httpd -f -p 80 -h /www")).ok();
    assert_eq!(sb.curl("", "http://127.0.0.1:8080/").ok().trimmed(), "hello from busybox");
    let port = sb.netctl("port web").ok();
    assert!(port.stdout.contains("80/tcp -> 0.0.0.0:8080"), "{}", port.stdout);

    // stop and start: DEL, then ADD in a new namespace, under the same name and port.
    p.cmd("stop -t 0 web").ok();
    assert!(sb.netctl("inspect web").code != 0, "stopped: off the network");
    p.cmd("start web").ok();
    assert_eq!(sb.curl("", "http://127.0.0.1:8080/").ok().trimmed(), "hello from busybox");

    // netctl's own containers and podman's reach each other by name.
    sb.netctl("run -d --name nc --net backend-network -- sleep 600").ok();
    let to_podman = sb.netctl("run --rm --net backend-network -- ping -c1 -W2 redis").ok();
    assert!(to_podman.stdout.contains("1 received"), "{}", to_podman.stdout);
    let to_netctl = p.cmd("exec db1 ping -c1 -W2 nc").ok();
    assert!(to_netctl.stdout.contains("1 packets received"), "{}", to_netctl.stdout);

    // Isolation: frontend-network neither resolves nor reaches backend's.
    let other = p.run(&format!("--rm --network frontend-network {IMG} nslookup redis 127.0.0.11"));
    assert!(!other.stdout.contains(&ip), "{}", other.stdout);
    assert!(p.run(&format!("--rm --network frontend-network {IMG} ping -c1 -W1 {ip}")).code != 0);

    // Two networks: one ADD each (eth0, eth1) of one netctl container.
    p.run(&format!("-d --name both --network backend-network --network frontend-network --network-alias bb {IMG} sleep 600")).ok();
    let nets = sb.netctl("inspect both").ok().json()[0]["NetworkSettings"]["Networks"].clone();
    // Podman names the interfaces (CNI_IFNAME) in the order of a Go map: either way.
    let mut ifnames =
        [nets["backend-network"]["Interface"].clone(), nets["frontend-network"]["Interface"].clone()];
    ifnames.sort_by_key(|v| v.to_string());
    assert_eq!(ifnames, ["eth0", "eth1"], "{nets}");
    let fe_ip = nets["frontend-network"]["IPAddress"].as_str().unwrap().to_string();
    let fe = p.run(&format!("--rm --network frontend-network {IMG} nslookup bb 127.0.0.11")).ok();
    assert!(fe.stdout.contains(&format!("Address: {fe_ip}")), "{}", fe.stdout);
    p.cmd("rm -f -t 0 both").ok();
    assert!(sb.netctl("inspect both").code != 0);

    // rm -f: its names go at once.
    p.cmd("rm -f -t 0 redis").ok();
    assert!(sb.netctl("inspect redis").code != 0);
    assert!(!p.cmd("exec db1 nslookup redis 127.0.0.11").stdout.contains(&ip), "redis is gone from DNS");

    // The OCI hook instead of CNI: --network none plus the annotations.
    p.run(&format!(
        "-d --name hooked --network none --annotation io.netctl.networks=backend-network \
         --annotation io.netctl.name=hooked --annotation io.netctl.aliases=hk {IMG} sleep 600"
    ))
    .ok();
    let hk = ip_of(&sb, "hooked");
    let by_alias = p.cmd("exec db1 ping -c1 -W2 hk").ok();
    assert!(by_alias.stdout.contains(&format!("({hk})")), "{}", by_alias.stdout);
    let files = p.cmd("exec hooked cat /etc/resolv.conf /etc/hosts").ok();
    assert!(files.stdout.contains("nameserver 127.0.0.11"), "{}", files.stdout);
    assert!(files.stdout.contains(&hk), "{}", files.stdout);
    let from_hooked = p.cmd("exec hooked ping -c1 -W2 nc").ok();
    assert!(from_hooked.stdout.contains("1 packets received"), "{}", from_hooked.stdout);
    p.cmd("rm -f -t 0 hooked").ok();
    assert!(sb.netctl("inspect hooked").code != 0, "poststop removed it");

    // A runc container next to podman's, through the hooks in its config.json:
    // they resolve and reach each other.
    sb.sh(&format!(
        "python3 {}/make-bundle.py /run/bundles/rc {DIR}/rootfs \"$(command -v netctl)\" /{}/rc \
         '{{\"io.netctl.networks\": \"backend-network\"}}' sleep 600 \
         && cd /run/bundles/rc && runc run -d rc </dev/null >/dev/null 2>&1",
        fixtures().display(),
        cg.0
    ))
    .ok();
    let podman_to_runc = p.cmd("exec db1 ping -c1 -W2 rc").ok();
    assert!(podman_to_runc.stdout.contains("1 packets received"), "{}", podman_to_runc.stdout);
    let runc_to_podman = sb.sh("runc exec rc ping -c1 -W2 db1").ok();
    assert!(runc_to_podman.stdout.contains("1 packets received"), "{}", runc_to_podman.stdout);
    sb.sh("runc delete -f rc").ok();
    assert!(sb.netctl("inspect rc").code != 0);

    // Nothing is left behind: no podman container in netctl, no veth but nc's,
    // no namespace but nc's.
    p.cmd("rm -a -f -t 0").ok();
    assert_eq!(sb.netctl("ps -aq").ok().stdout.lines().count(), 1);
    let veths = sb.link_names().into_iter().filter(|l| l.starts_with("veth")).count();
    assert_eq!(veths, 1, "{:?}", sb.link_names());
    assert_eq!(sb.sh("ls /run/netns").ok().trimmed(), "nc");
}
