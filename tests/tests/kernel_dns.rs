//! The resolver's kernel fast path end to end (issue 17): names answered inside
//! the kernel (its counter in `netctl info` moves) the moment `run`/`connect`
//! returns, gone the moment `rm`/`disconnect` returns, still answered with
//! netctld killed, the maps equal to the registry after a restart, and
//! everything working with the fast path off.

use netctl_tests::Sandbox;

/// Questions answered in the kernel so far, from `netctl info`.
fn kernel_hits(sb: &Sandbox) -> u64 {
    let info = sb.netctl("info").ok();
    let line = info
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Resolver:"))
        .unwrap_or_else(|| panic!("no Resolver line:\n{}", info.stdout))
        .to_string();
    assert!(line.contains("kernel fast path on"), "{line}\nlog:\n{}", sb.daemon_log());
    line.split('(').nth(1).and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap()
}

/// `dig +short` for `name` from the namespace of container `from`, without the
/// daemon's help (nsenter), one try.
fn dig_in(sb: &Sandbox, ns: &str, name: &str) -> String {
    sb.sh(&format!("nsenter --net={ns} dig +short +tries=1 +time=2 {name} @127.0.0.11"))
        .ok()
        .stdout
        .trim()
        .to_string()
}

fn sandbox_key(sb: &Sandbox, name: &str) -> String {
    sb.netctl(&format!("inspect -f '{{{{.NetworkSettings.SandboxKey}}}}' {name}")).ok().trimmed().to_string()
}

fn setup(sb: &Sandbox) {
    sb.start_daemon();
    sb.netctl("network create backend-network").ok();
    sb.netctl("run -d --name redis --net backend-network -- sleep 1000").ok();
    sb.netctl("run -d --name client --net backend-network -- sleep 1000").ok();
}

/// The README's question answered in the kernel, and names that follow
/// connect, disconnect and rm at once.
#[test]
fn names_answer_from_the_kernel_as_the_zone_changes() {
    let sb = Sandbox::new();
    // Names no container holds are NXDOMAIN here, not asked of an upstream.
    sb.sh("printf '[dns]\\nforward_single_label = false\\n' > /etc/netctl/netctl.toml").ok();
    setup(&sb);
    let before = kernel_hits(&sb);
    let out = sb.netctl("run --rm --net backend-network -- getent hosts redis").ok();
    assert!(out.stdout.contains("redis"), "{}", out.stdout);
    assert!(kernel_hits(&sb) > before, "getent's A question was not answered in the kernel");

    let client = sandbox_key(&sb, "client");
    let redis_ip =
        sb.netctl("inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' redis").ok();
    let before = kernel_hits(&sb);
    assert_eq!(dig_in(&sb, &client, "REDIS"), redis_ip.trimmed());
    assert_eq!(kernel_hits(&sb), before + 1, "exactly this question, answered in the kernel");

    // A network joined: its names answer at once, from the kernel.
    sb.netctl("network create frontend-network").ok();
    sb.netctl("run -d --name web --net frontend-network -- sleep 1000").ok();
    assert_eq!(dig_in(&sb, &client, "web"), "", "another network's name");
    sb.netctl("network connect --alias db frontend-network client").ok();
    let before = kernel_hits(&sb);
    assert!(!dig_in(&sb, &client, "web").is_empty(), "connect returned: web answers");
    let web = sandbox_key(&sb, "web");
    assert!(!dig_in(&sb, &web, "db").is_empty(), "the new alias answers");
    assert_eq!(kernel_hits(&sb), before + 2);
    sb.netctl("network disconnect frontend-network client").ok();
    assert_eq!(dig_in(&sb, &client, "web"), "", "disconnect returned: web is gone");
    assert_eq!(dig_in(&sb, &web, "db"), "", "and so is the alias");

    // rm: NXDOMAIN the moment it returns.
    sb.netctl("rm -f redis").ok();
    let out = sb.sh(&format!("nsenter --net={client} dig +tries=1 +time=2 redis @127.0.0.11")).ok();
    assert!(out.stdout.contains("NXDOMAIN"), "{}", out.stdout);
}

/// netctld killed: the kernel keeps answering (dig and getent in the
/// container); a restarted daemon rewrites the maps from the registry (one view
/// per listener, no second filter on lo) and follows the zone again.
#[test]
fn names_answer_with_netctld_killed_and_after_a_restart() {
    let sb = Sandbox::new();
    setup(&sb);
    sb.netctl("run -d --name gone --net backend-network -- sleep 1000").ok();
    let client = sandbox_key(&sb, "client");
    let pid = sb.netctl("inspect -f '{{.State.Pid}}' client").ok().trimmed().to_string();
    let redis = dig_in(&sb, &client, "redis");
    assert!(!redis.is_empty());
    sb.kill_daemon();
    assert_eq!(dig_in(&sb, &client, "redis"), redis, "no daemon: answered by the kernel");
    let out = sb.sh(&format!("nsenter -t {pid} -n -m getent hosts redis")).ok();
    assert!(out.stdout.contains("redis"), "{}", out.stdout);
    sb.start_daemon();
    sb.netctl("rm -f gone").ok();
    assert_eq!(dig_in(&sb, &client, "gone"), "");
    let before = kernel_hits(&sb);
    assert_eq!(dig_in(&sb, &client, "redis"), redis);
    assert_eq!(kernel_hits(&sb), before + 1, "the restarted daemon's maps answer");
    let filters = sb.sh(&format!("nsenter --net={client} tc filter show dev lo egress")).ok();
    assert_eq!(filters.stdout.matches("direct-action").count(), 1, "one filter on lo:\n{}", filters.stdout);
    // The views map holds one entry per container with a listener (client, redis).
    let views = sb.sh("bpftool -j map dump pinned /sys/fs/bpf/netctl/v1/netctl_views").ok();
    assert_eq!(views.json().as_array().map(|a| a.len()), Some(2), "{}", views.stdout);
}

/// `[dns] kernel_fast_path = false`: userspace answers everything, no filter on lo.
#[test]
fn fast_path_off_everything_still_answers() {
    let sb = Sandbox::new();
    sb.sh("mkdir -p /etc/netctl && printf '[dns]\\nkernel_fast_path = false\\n' > /etc/netctl/netctl.toml")
        .ok();
    setup(&sb);
    let info = sb.netctl("info").ok();
    assert!(info.stdout.contains("Resolver: userspace (off in netctl.toml"), "{}", info.stdout);
    let out = sb.netctl("run --rm --net backend-network -- getent hosts redis").ok();
    assert!(out.stdout.contains("redis"), "{}", out.stdout);
    let client = sandbox_key(&sb, "client");
    assert!(!dig_in(&sb, &client, "redis").is_empty());
    let filters = sb.sh(&format!("nsenter --net={client} tc filter show dev lo egress")).ok();
    assert!(!filters.stdout.contains("netctl_dns"), "{}", filters.stdout);
}
