//! The seed tutorial replayed with netctl, step by step, asserting what a user sees
//! at each step (issue 5; README "The tutorial with netctl").

use netctl_tests::Sandbox;

fn app() -> String {
    format!("{}/../examples/visit-counter/app.py", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_tutorial_end_to_end() {
    let sb = Sandbox::new();
    sb.start_daemon();

    // 1. A Redis server that exposes its port.
    sb.netctl("run -d --name redis-server --expose 6379 -- redis-server --protected-mode no --save ''").ok();
    let ip = sb.netctl("inspect --format '{{.NetworkSettings.Networks.bridge.IPAddress}}' redis-server").ok();
    let ip = ip.trimmed().to_string();
    assert!(ip.starts_with("172.17."), "{ip}");

    // 2. A linked container sees it in its environment and /etc/hosts, and by name.
    let env = sb.netctl("run --rm --link redis-server:redis -- env").ok().stdout;
    for want in [
        "REDIS_NAME=/".to_string(),
        format!("REDIS_PORT=tcp://{ip}:6379"),
        format!("REDIS_PORT_6379_TCP=tcp://{ip}:6379"),
        format!("REDIS_PORT_6379_TCP_ADDR={ip}"),
        "REDIS_PORT_6379_TCP_PORT=6379".to_string(),
        "REDIS_PORT_6379_TCP_PROTO=tcp".to_string(),
    ] {
        assert!(env.lines().any(|l| l.starts_with(&want)), "{want} missing in:\n{env}");
    }
    assert!(env.lines().any(|l| l.starts_with("REDIS_NAME=/") && l.ends_with("/redis")), "{env}");
    let hosts = sb.netctl("run --rm --link redis-server:redis -- cat /etc/hosts").ok().stdout;
    let line = hosts.lines().find(|l| l.starts_with(&format!("{ip}\t"))).unwrap_or_default();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert!(words.len() == 4 && words[1] == "redis" && words[3] == "redis-server", "{hosts}");
    sb.netctl("run --rm --link redis-server:redis -- ping -c 1 -W 2 redis").ok();

    // 3. The web app, published on port 3000, counting visits in Redis.
    sb.netctl(&format!("run -d --name web -p 3000:3000 --link redis-server:redis -- python3 {}", app())).ok();
    let first = sb.curl("", "http://127.0.0.1:3000/").ok();
    assert!(first.stdout.contains("visited 1 times"), "{first:?}");
    let second = sb.curl("", "http://127.0.0.1:3000/").ok();
    assert!(second.stdout.contains("visited 2 times"), "{second:?}");
    assert_eq!(sb.netctl("port web").ok().trimmed(), "3000/tcp -> 0.0.0.0:3000");

    // 4. What the app stored, seen through the link.
    let keys = sb.netctl("run --rm --link redis-server:redis -- redis-cli -h redis KEYS '*'").ok().stdout;
    assert!(keys.contains("hits") && keys.contains("visits"), "{keys}");
    sb.netctl("rm -f web").ok();

    // 5. The same with user-defined networks and the embedded resolver.
    sb.netctl("network create backend-network").ok();
    sb.netctl("run -d --name=redis --net=backend-network -- redis-server --protected-mode no --save ''").ok();
    let resolv = sb.netctl("run --rm --net=backend-network -- cat /etc/resolv.conf").ok().stdout;
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    sb.netctl("run --rm --net=backend-network -- ping -c 1 -W 2 redis").ok();
    sb.netctl("network create frontend-network").ok();
    sb.netctl("network connect frontend-network redis").ok();
    sb.netctl(&format!("run -d --name app --net=frontend-network -p 3000:3000 -- python3 {}", app())).ok();
    let count = sb.curl("", "http://127.0.0.1:3000/").ok();
    assert!(count.stdout.contains("visited 1 times"), "{count:?}");
    sb.netctl("network create frontend-network2").ok();
    sb.netctl("network connect --alias db frontend-network2 redis").ok();
    sb.netctl("run --rm --net=frontend-network2 -- ping -c 1 -W 2 db").ok();
    let ls = sb.netctl("network ls").ok().stdout;
    for net in ["bridge", "backend-network", "frontend-network", "frontend-network2"] {
        assert!(ls.lines().any(|l| l.split_whitespace().nth(1) == Some(net)), "{net} not in:\n{ls}");
    }
    let inspect = sb.netctl("network inspect frontend-network").ok().json();
    let names: Vec<&str> = inspect[0]["Containers"]
        .as_object()
        .expect("Containers")
        .values()
        .map(|c| c["Name"].as_str().unwrap_or_default())
        .collect();
    assert!(names.contains(&"redis") && names.contains(&"app"), "{names:?}");
    sb.netctl("network disconnect frontend-network redis").ok();
    let after = sb.sh("curl -sS --max-time 10 http://127.0.0.1:3000/").ok();
    assert!(after.stdout.contains("cannot reach redis"), "{after:?}");
}
