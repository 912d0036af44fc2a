//! The harness itself: what a sandbox makes stays in it and goes with it.

use netctl_tests::{host_link_names, Sandbox};

#[test]
fn links_made_inside_stay_inside_and_vanish_with_the_sandbox() {
    let name = format!("hx{}", std::process::id() % 100000);
    let a = Sandbox::new();
    let b = Sandbox::new();
    a.sh(&format!("ip link add {name} type bridge")).ok();
    assert!(a.link(&name).is_some());
    assert!(b.link(&name).is_none(), "another sandbox sees the link");
    assert!(!host_link_names().contains(&name), "the host sees the link");
    a.sh("sleep 300 >/dev/null 2>&1 & echo $! > /run/sleeper").ok();
    let inner = a.sh("cat /run/sleeper").ok().trimmed().to_string();
    assert!(!inner.is_empty());
    drop(a);
    assert!(!host_link_names().contains(&name));
}

#[test]
fn sandboxes_have_empty_state_dirs() {
    let sb = Sandbox::new();
    let out = sb
        .sh("ls -A /run/netns /var/lib/netctl /etc/netctl /etc/netns | grep -v ':$' | grep -c . || true")
        .ok();
    assert_eq!(out.trimmed(), "0", "{}", out.stdout);
}
