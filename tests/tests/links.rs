//! Legacy links (`--link NAME[:ALIAS]`), issue 5: Docker's variables and hosts
//! line on the default network, a linker-only name on user-defined networks,
//! hosts lines that follow the linked container's address, and Docker's errors.

use netctl_tests::Sandbox;

#[test]
fn variables_and_hosts_on_the_default_network() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl(
        "run -d --name db --expose 5432 --expose 53/udp -e POSTGRES_USER=app -e HOME=/srv -- sleep 1000",
    )
    .ok();
    let ip = sb.netctl("inspect --format '{{.NetworkSettings.Networks.bridge.IPAddress}}' db").ok();
    let ip = ip.trimmed();
    let env = sb.netctl("run --rm --name web --link db:my-db -- env").ok().stdout;
    let mut got: Vec<&str> = env.lines().filter(|l| l.starts_with("MY_DB_")).collect();
    got.sort();
    let mut want = vec![
        "MY_DB_ENV_POSTGRES_USER=app".to_string(),
        "MY_DB_NAME=/web/my-db".to_string(),
        format!("MY_DB_PORT=tcp://{ip}:5432"),
        format!("MY_DB_PORT_5432_TCP=tcp://{ip}:5432"),
        format!("MY_DB_PORT_5432_TCP_ADDR={ip}"),
        "MY_DB_PORT_5432_TCP_PORT=5432".to_string(),
        "MY_DB_PORT_5432_TCP_PROTO=tcp".to_string(),
        format!("MY_DB_PORT_53_UDP=udp://{ip}:53"),
        format!("MY_DB_PORT_53_UDP_ADDR={ip}"),
        "MY_DB_PORT_53_UDP_PORT=53".to_string(),
        "MY_DB_PORT_53_UDP_PROTO=udp".to_string(),
    ];
    want.sort();
    assert_eq!(got, want);
    // The user's own -e wins over a link variable of the same name.
    let own = sb.netctl("run --rm --link db:my-db -e MY_DB_NAME=mine -- printenv MY_DB_NAME").ok();
    assert_eq!(own.trimmed(), "mine");

    // The hosts line, updated in place when the linked container's address changes.
    sb.netctl("run -d --name linker --link db:my-db -- sleep 1000").ok();
    let hostname = sb.netctl("inspect --format '{{.Config.Hostname}}' db").ok().trimmed().to_string();
    let hosts = sb.netctl("exec linker -- cat /etc/hosts").ok().stdout;
    assert!(hosts.contains(&format!("{ip}\tmy-db {hostname} db\n")), "{hosts}");
    sb.netctl("network disconnect bridge db").ok();
    let gone = sb.netctl("exec linker -- cat /etc/hosts").ok().stdout;
    assert!(!gone.contains("my-db"), "{gone}");
    sb.netctl("run -d --name filler -- sleep 1000").ok();
    sb.netctl("network connect bridge db").ok();
    let new_ip = sb.netctl("inspect --format '{{.NetworkSettings.Networks.bridge.IPAddress}}' db").ok();
    let back = sb.netctl("exec linker -- cat /etc/hosts").ok().stdout;
    assert!(back.contains(&format!("{}\tmy-db {hostname} db\n", new_ip.trimmed())), "{back}");
    sb.netctl("exec linker -- ping -c 1 -W 2 my-db").ok();
}

#[test]
fn errors_leave_nothing_behind() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("run --name stopped -- true").ok();
    let before = sb.link_names();
    let missing = sb.netctl("run --rm --name x1 --link nothing:db -- true").fail();
    assert!(missing.stderr.contains("could not get container for nothing"), "{missing:?}");
    let stopped = sb.netctl("run --rm --name x1 --link stopped:db -- true").fail();
    assert!(
        stopped.stderr.contains("Cannot link to a non running container: /stopped AS /x1/db"),
        "{stopped:?}"
    );
    let bad = sb.netctl("run --rm --link a:b:c -- true").fail();
    assert!(bad.stderr.contains("--link NAME[:ALIAS]"), "{bad:?}");
    assert!(sb.netctl("inspect x1").code != 0);
    assert_eq!(sb.link_names(), before);
}

#[test]
fn a_link_alias_on_a_user_defined_network_is_the_linkers_only() {
    let sb = Sandbox::new();
    // Single labels not held stay here (NXDOMAIN) rather than going to servers the
    // sandbox cannot reach (the default: tests/tests/files.rs).
    sb.sh("printf '[dns]\\nforward_single_label = false\\n' > /etc/netctl/netctl.toml").ok();
    sb.start_daemon();
    sb.netctl("network create app-net").ok();
    sb.netctl("run -d --name cache --net app-net -- sleep 1000").ok();
    let ip = sb
        .netctl(r#"inspect --format '{{(index .NetworkSettings.Networks "app-net").IPAddress}}' cache"#)
        .ok();
    sb.netctl("run -d --name linker --net app-net --link cache:kv -- sleep 1000").ok();
    let answer = sb.netctl("exec linker -- dig +short +tries=1 +time=2 kv").ok();
    assert_eq!(answer.trimmed(), ip.trimmed());
    let other = sb.netctl("run --rm --net app-net -- dig +tries=1 +time=2 kv").ok().stdout;
    assert!(other.contains("status: NXDOMAIN"), "{other}");
    // Stopped, the linked container is not answered under its alias either; started, it is.
    let stopped =
        sb.sh("netctl stop -t 1 cache >/dev/null && netctl exec linker -- dig +tries=1 +time=2 kv").ok();
    assert!(stopped.stdout.contains("status: NXDOMAIN"), "{}", stopped.stdout);
    sb.netctl("start cache").ok();
    assert_eq!(sb.netctl("exec linker -- dig +short +tries=1 +time=2 kv").ok().trimmed(), ip.trimmed());
    // No variables there: Docker gives them on the default network only.
    let env = sb.netctl("run --rm --net app-net --link cache:kv -- env").ok().stdout;
    assert!(!env.contains("KV_"), "{env}");
}
