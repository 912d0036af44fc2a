//! Docker's own CLI (the `docker` client on this machine, v28, API 1.50) against
//! netctld's socket, as a Docker user would type it: what it prints, and what
//! the kernel then has (`ip -j`). No engine runs here; netctld is the server.

use netctl_tests::{assert_key_order, Out, Sandbox, DOCKER_ENDPOINT_KEYS};
use serde_json::Value;

const DOCKER: &str = "/usr/local/bin/docker";

/// `docker ARGS` inside the sandbox, pointed at netctld.
fn docker(sb: &Sandbox, args: &str) -> Out {
    sb.sh(&format!("DOCKER_HOST=unix:///run/netctl/netctl.sock {DOCKER} {args}"))
}

fn sandbox() -> Sandbox {
    assert!(
        std::path::Path::new(DOCKER).exists(),
        "{DOCKER} is missing: these tests drive netctld with the real docker CLI (a client only, \
         docker-ce-cli 28); install it there, do not install Debian's docker.io (it brings a daemon)"
    );
    let sb = Sandbox::new();
    sb.start_daemon();
    sb
}

/// Until `n` clients follow `GET /events` (`docker info`'s NEventsListener).
fn wait_for_listeners(sb: &Sandbox, n: usize) {
    sb.sh(&format!(
        "for i in $(seq 200); do curl -s --unix-socket /run/netctl/netctl.sock http://localhost/info \
         | grep -q '\"NEventsListener\":{n}' && exit 0; sleep 0.05; done; exit 1"
    ))
    .ok();
}

fn lines(out: &Out) -> Vec<String> {
    out.stdout.lines().map(String::from).collect()
}

#[test]
fn docker_version_negotiates_and_netctls_own_api_stays() {
    let sb = sandbox();
    let v = docker(&sb, "version --format '{{json .}}'").ok().json();
    assert_eq!(v["Client"]["ApiVersion"], "1.50");
    assert_eq!(v["Server"]["ApiVersion"], "1.50");
    assert_eq!(v["Server"]["MinAPIVersion"], "1.44");
    assert_eq!(v["Server"]["Os"], "linux");
    // An older client settles on its own version, within the range.
    let old =
        sb.sh("DOCKER_HOST=unix:///run/netctl/netctl.sock DOCKER_API_VERSION=1.44 docker network ls -q").ok();
    assert!(!old.trimmed().is_empty());
    let curl = |path: &str| {
        sb.sh(&format!("curl -sS -i --unix-socket /run/netctl/netctl.sock http://localhost{path}"))
            .ok()
            .stdout
    };
    let ping = curl("/_ping");
    for header in ["Api-Version: 1.50", "Docker-Experimental: false", "Ostype: linux", "Builder-Version: 1"] {
        assert!(ping.to_lowercase().contains(&header.to_lowercase()), "{header} in {ping}");
    }
    assert!(ping.ends_with("OK"));
    let head = sb.sh("curl -sS -I --unix-socket /run/netctl/netctl.sock http://localhost/v1.44/_ping").ok();
    assert!(head.stdout.starts_with("HTTP/1.1 200"), "{}", head.stdout);
    let too_old = curl("/v1.43/networks");
    assert!(too_old.starts_with("HTTP/1.1 400"), "{too_old}");
    assert!(too_old
        .contains(r#"{"message":"client version 1.43 is too old. Minimum supported API version is 1.44"#));
    assert!(curl("/v1.51/networks")
        .contains("client version 1.51 is too new. Maximum supported API version is 1.50"));
    // netctl's own /v1/ is untouched by the versioned paths.
    assert!(curl("/v1/version").contains(r#""ApiVersion":"v1""#));
    let info = docker(&sb, "info --format '{{.OSType}} {{.Swarm.LocalNodeState}} {{.Containers}}'").ok();
    assert_eq!(info.trimmed(), "linux inactive 0");
}

#[test]
fn docker_network_create_ls_inspect_connect_disconnect_rm_prune() {
    let sb = sandbox();
    let id = docker(
        &sb,
        "network create --driver bridge --subnet 10.30.0.0/16 --gateway 10.30.0.254 --ip-range 10.30.5.0/24 \
         --aux-address router=10.30.5.1 --attachable --label env=prod --label team=x \
         -o com.docker.network.bridge.name=dk0 -o com.docker.network.driver.mtu=1400 front",
    )
    .ok()
    .trimmed()
    .to_string();
    assert_eq!(id.len(), 64, "create prints the id: {id}");
    let link = sb.link("dk0").expect("the bridge exists");
    assert_eq!(link["linkinfo"]["info_kind"], "bridge");
    assert_eq!(link["mtu"], 1400);
    assert_eq!(sb.ipv4_of("dk0"), vec!["10.30.0.254/16"]);
    docker(&sb, "network create --internal back").ok();
    let dup = docker(&sb, "network create back").fail();
    assert!(
        dup.stderr.contains("Error response from daemon: network with name back already exists"),
        "{}",
        dup.stderr
    );

    // ls: the table, -q, --no-trunc, --filter, --format '{{json .}}'.
    let ls = lines(&docker(&sb, "network ls").ok());
    assert_eq!(ls[0].split_whitespace().collect::<Vec<_>>(), ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]);
    let names: Vec<&str> = ls[1..].iter().map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(names, ["back", "bridge", "front"]);
    assert!(ls.iter().any(|l| l.starts_with(&id[..12]) && l.contains("front") && l.ends_with("local")));
    assert_eq!(lines(&docker(&sb, "network ls -q --filter name=fro").ok()), [id[..12].to_string()]);
    assert_eq!(docker(&sb, "network ls -q --no-trunc --filter label=env=prod").ok().trimmed(), id);
    assert_eq!(
        lines(&docker(&sb, "network ls -q --filter type=builtin --format '{{.Name}}'").ok()),
        ["bridge"]
    );
    assert_eq!(
        lines(&docker(&sb, &format!("network ls -q --filter id={}", &id[..6])).ok()),
        [id[..12].to_string()]
    );
    let row = docker(&sb, "network ls --no-trunc --filter name=front --format '{{json .}}'").ok().json();
    assert_eq!(row["ID"], id.as_str());
    assert_eq!(row["Name"], "front");
    assert_eq!(row["Driver"], "bridge");
    assert_eq!(row["Scope"], "local");
    assert_eq!(row["Internal"], "false");
    assert_eq!(row["IPv4"], "true");
    let labels = row["Labels"].as_str().unwrap();
    assert!(labels.contains("env=prod") && labels.contains("team=x"), "{labels}");
    assert_eq!(
        docker(&sb, "network ls --filter driver=bridge --filter name=back -q").ok().stdout.lines().count(),
        1
    );
    assert!(docker(&sb, "network ls --filter color=red").fail().stderr.contains("invalid filter 'color'"));
    assert_eq!(
        lines(&docker(&sb, "network ls --filter dangling=true --format '{{.Name}}'").ok()),
        ["back", "front"]
    );
    assert!(docker(&sb, "network ls --filter dangling=maybe")
        .fail()
        .stderr
        .contains("invalid filter 'dangling=maybe'"));

    // inspect: Docker's document, and -f templates that the CLI evaluates itself.
    let text = docker(&sb, "network inspect front").ok();
    let v = text.json();
    // Docker's keys in Docker's order: the CLI prints the daemon's bytes re-indented.
    assert_key_order(
        &text.stdout,
        "[",
        &[
            "Name",
            "Id",
            "Created",
            "Scope",
            "Driver",
            "EnableIPv4",
            "EnableIPv6",
            "IPAM",
            "Internal",
            "Attachable",
            "Ingress",
            "ConfigFrom",
            "ConfigOnly",
            "Containers",
            "Options",
            "Labels",
        ],
    );
    let cfg = &v[0]["IPAM"]["Config"][0];
    assert_eq!(cfg["Subnet"], "10.30.0.0/16");
    assert_eq!(cfg["IPRange"], "10.30.5.0/24");
    assert_eq!(cfg["Gateway"], "10.30.0.254");
    assert_eq!(cfg["AuxiliaryAddresses"]["router"], "10.30.5.1");
    let f = docker(&sb, "network inspect -f '{{.Name}} {{.Driver}} {{.Attachable}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{index .Labels \"env\"}} {{len .Labels}}' front").ok();
    assert_eq!(f.trimmed(), "front bridge true 10.30.0.0/16 prod 2");
    assert_eq!(docker(&sb, "network inspect -f '{{.Internal}}' back").ok().trimmed(), "true");
    let missing = docker(&sb, "network inspect nope").fail();
    assert!(missing.stderr.contains("network nope not found"), "{}", missing.stderr);
    assert_eq!(
        docker(&sb, &format!("network inspect -f '{{{{.Name}}}}' {}", &id[..5])).ok().trimmed(),
        "front",
        "an id prefix"
    );

    // connect --alias --ip, to a container netctl runs.
    sb.netctl("run -d --name web -- sleep 1000").ok();
    sb.netctl("run -d --name peer --net front -- sleep 1000").ok();
    docker(&sb, "network connect --alias db --alias cache --ip 10.30.5.77 front web").ok();
    let addrs = sb.sh("ip -n web -j -4 addr show dev eth1").ok().json();
    assert_eq!(addrs[0]["addr_info"][0]["local"], "10.30.5.77");
    assert_eq!(addrs[0]["addr_info"][0]["prefixlen"], 16);
    assert_eq!(addrs[0]["mtu"], 1400);
    let peer_ip =
        sb.sh("ip -n peer -j -4 addr show dev eth0").ok().json()[0]["addr_info"][0]["local"].clone();
    assert_ne!(peer_ip, "10.30.5.1", "the auxiliary address is never handed out");
    let aux = docker(&sb, "network connect --ip 10.30.5.1 front $(netctl run -d -- sleep 100)").fail();
    assert!(aux.stderr.contains("10.30.5.1 is already in use"), "{}", aux.stderr);
    let dns = sb.sh("ip netns exec peer dig +short +tries=1 +time=3 @127.0.0.11 db").ok();
    assert_eq!(dns.trimmed(), "10.30.5.77", "the alias resolves for the network's other containers");
    let members =
        docker(&sb, "network inspect -f '{{range .Containers}}{{.Name}}={{.IPv4Address}} {{end}}' front")
            .ok();
    assert!(members.stdout.contains("web=10.30.5.77/16"), "{}", members.stdout);
    let eps = docker(&sb, "inspect -f '{{json .NetworkSettings.Networks.front.Aliases}} {{.NetworkSettings.Networks.front.IPAddress}}' web").ok();
    assert_eq!(eps.trimmed(), r#"["db","cache"] 10.30.5.77"#);
    let busy = docker(&sb, "network rm front").fail();
    assert!(busy.stderr.contains("has active endpoints"), "{}", busy.stderr);

    // disconnect -f, rm, prune -f.
    docker(&sb, "network disconnect -f front web").ok();
    assert!(sb.sh("ip -n web link show eth1").code != 0, "eth1 is gone from the container");
    let not = docker(&sb, "network disconnect front web").fail();
    assert!(not.stderr.contains("is not connected to network front"), "{}", not.stderr);
    docker(&sb, "network rm back").ok();
    assert!(docker(&sb, "network rm bridge").fail().stderr.contains("pre-defined network"));
    docker(&sb, "network create spare").ok();
    docker(&sb, "network create --label keep=yes kept").ok();
    let young = docker(&sb, "network prune -f --filter until=1h").ok();
    assert_eq!(young.trimmed(), "", "networks younger than an hour stay: {}", young.stdout);
    let pruned = docker(&sb, "network prune -f --filter label!=keep").ok();
    assert!(pruned.stdout.starts_with("Deleted Networks:\nspare\n"), "{}", pruned.stdout);
    assert_eq!(
        lines(&docker(&sb, "network ls --format '{{.Name}}'").ok()),
        ["bridge", "front", "kept"],
        "front has peer, kept its label"
    );
    let label = docker(&sb, "network prune -f --filter label=keep=yes").ok();
    assert!(label.stdout.starts_with("Deleted Networks:\nkept\n"), "{}", label.stdout);
    assert!(docker(&sb, "network rm nope").fail().stderr.contains("network nope not found"));
}

#[test]
fn docker_ps_inspect_stop_start_rm_and_events() {
    let sb = sandbox();
    let since = sb.sh("date +%s").ok().trimmed().to_string();
    sb.netctl("network create app").ok();
    sb.netctl("run -d --name web --net app -p 8080:80 -- sleep 1000").ok();
    sb.netctl("run -d --name done -- true").ok();
    sb.sh("for i in $(seq 100); do [ \"$(netctl inspect -f '{{.State.Status}}' done)\" = exited ] && exit 0; sleep 0.05; done; exit 1").ok();

    let ps = lines(&docker(&sb, "ps").ok());
    assert_eq!(
        ps[0].split_whitespace().collect::<Vec<_>>(),
        ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    );
    assert_eq!(ps.len(), 2, "only the running one without -a: {ps:?}");
    assert!(ps[1].contains("\"sleep 1000\"") && ps[1].contains("Up ") && ps[1].ends_with("web"), "{}", ps[1]);
    assert!(ps[1].contains("0.0.0.0:8080->80/tcp"), "{}", ps[1]);
    let all = docker(&sb, "ps -a --format '{{.Names}} {{.Status}}'").ok();
    let rows = lines(&all);
    assert!(rows.iter().any(|r| r.starts_with("done Exited (0) ")), "{rows:?}");
    assert_eq!(lines(&docker(&sb, "ps -aq --filter status=exited --no-trunc").ok()).len(), 1);
    assert_eq!(docker(&sb, "ps -q --filter name=we").ok().trimmed().len(), 12);
    assert!(docker(&sb, "ps -a --filter network=app --format '{{.Names}}'").ok().trimmed() == "web");

    let text = docker(&sb, "inspect web").ok();
    let v = text.json();
    let c = &v[0];
    assert_eq!(c["Name"], "/web");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["HostConfig"]["NetworkMode"], "app");
    let ep = &c["NetworkSettings"]["Networks"]["app"];
    assert_key_order(&text.stdout, "\"app\": {", &DOCKER_ENDPOINT_KEYS);
    assert_key_order(
        &text.stdout,
        "[",
        &[
            "Id",
            "Created",
            "Path",
            "Args",
            "State",
            "Image",
            "ResolvConfPath",
            "Name",
            "HostConfig",
            "Config",
            "NetworkSettings",
        ],
    );
    let ip = ep["IPAddress"].as_str().unwrap().to_string();
    let kernel = sb.sh("ip -n web -j -4 addr show dev eth0").ok().json();
    assert_eq!(kernel[0]["addr_info"][0]["local"], ip.as_str(), "inspect says what the kernel has");
    let link = sb.sh("ip -n web -j link show dev eth0").ok().json();
    assert_eq!(ep["MacAddress"], link[0]["address"]);
    assert_eq!(c["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"], "8080");
    let f = docker(
        &sb,
        "inspect -f '{{.State.Running}} {{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' web",
    )
    .ok();
    assert_eq!(f.trimmed(), "true app");
    assert!(docker(&sb, "inspect nothing-here").fail().stderr.contains("No such object: nothing-here"));

    docker(&sb, "stop -t 1 web").ok();
    assert_eq!(docker(&sb, "inspect -f '{{.State.Status}}' web").ok().trimmed(), "exited");
    assert!(sb.sh("pgrep -x sleep").code != 0, "the process is gone");
    docker(&sb, "start web").ok();
    assert_eq!(docker(&sb, "inspect -f '{{.State.Status}}' web").ok().trimmed(), "running");
    assert!(docker(&sb, "rm web").fail().stderr.contains("You cannot remove a running container"));
    docker(&sb, "rm -f web").ok();
    docker(&sb, "rm done").ok();
    assert!(sb.sh("ip netns list").ok().stdout.trim().is_empty(), "the namespaces went with them");
    assert_eq!(docker(&sb, "ps -aq").ok().trimmed(), "");
    let run = docker(&sb, "run --rm alpine true").fail();
    assert!(
        run.stderr.contains("netctl runs no images") && run.stderr.contains("netctl run"),
        "{}",
        run.stderr
    );

    // Events: what happened, as `docker events` prints them, then bounded by --until.
    sb.sh("sleep 1").ok();
    let until = sb.sh("date +%s").ok().trimmed().to_string();
    let ev = docker(&sb, &format!("events --since {since} --until {until} --format '{{{{.Type}}}} {{{{.Action}}}} {{{{.Actor.Attributes.name}}}}'")).ok();
    let got = lines(&ev);
    let want = [
        "network create app",
        "container create web",
        "network connect app",
        "container start web",
        "container create done",
        "network connect bridge",
        "container start done",
        "container die done",
        "container die web",
        "container stop web",
        "container start web",
        "network disconnect app",
        "container destroy web",
        "network disconnect bridge",
        "container destroy done",
    ];
    assert_eq!(got, want, "{}", ev.stdout);
    let plain = docker(
        &sb,
        &format!("events --since {since} --until {until} --filter type=network --filter event=create"),
    )
    .ok();
    let line = plain.trimmed();
    assert!(line.ends_with("(name=app, type=bridge)") && line.contains(" network create "), "{line}");
    let json = docker(
        &sb,
        &format!("events --since {since} --until {until} --filter container=done --format '{{{{json .}}}}'"),
    )
    .ok();
    let first: Value = serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["Type"], "container");
    assert_eq!(first["Action"], "create");
    assert_eq!(first["scope"], "local");
    assert!(first["timeNano"].as_i64().unwrap() / 1_000_000_000 == first["time"].as_i64().unwrap());
    assert_eq!(json.stdout.lines().count(), 4, "create, start, die, destroy of done only");
    // netctl events says the same.
    let ours = sb
        .netctl(&format!(
            "events --since {since} --until {until} --filter type=network --format '{{{{.Action}}}}'"
        ))
        .ok();
    assert_eq!(lines(&ours), ["create", "connect", "connect", "disconnect", "disconnect"]);
    let plain =
        sb.netctl(&format!("events --since {since} --until {until} -f type=network -f event=create")).ok();
    let line = plain.trimmed();
    assert!(
        line.ends_with("(name=app, type=bridge)") && line.contains("Z network create "),
        "as docker prints it: {line}"
    );
}

/// A live `docker events` sees a change as it happens, and ends at its --until.
#[test]
fn docker_events_follows_live_until_its_end() {
    let sb = sandbox();
    sb.sh("(DOCKER_HOST=unix:///run/netctl/netctl.sock docker events --until $(( $(date +%s) + 4 )) --format '{{.Action}} {{.Actor.Attributes.name}}' > /run/ev.txt; echo done >> /run/ev.txt) >/dev/null 2>&1 &").ok();
    wait_for_listeners(&sb, 1);
    docker(&sb, "network create live").ok();
    docker(&sb, "network rm live").ok();
    // The stream ends by itself at --until.
    let out = sb.sh("for i in $(seq 100); do grep -q done /run/ev.txt && cat /run/ev.txt && exit 0; sleep 0.1; done; cat /run/ev.txt; exit 1").ok();
    assert_eq!(lines(&out), ["create live", "destroy live", "done"]);
}

/// A network made by the docker CLI is a netctl network like any other, and the
/// reverse: names resolve at 127.0.0.11, and networks stay apart.
#[test]
fn docker_networks_and_netctl_networks_are_the_same_thing() {
    let sb = sandbox();
    docker(&sb, "network create dk-a").ok();
    docker(&sb, "network create --internal dk-b").ok();
    sb.netctl("run -d --name a1 --net dk-a -- sleep 1000").ok();
    sb.netctl("run -d --name a2 --net dk-a -- sleep 1000").ok();
    sb.netctl("run -d --name b1 --net dk-b -- sleep 1000").ok();
    let a2 = docker(&sb, "inspect -f '{{(index .NetworkSettings.Networks \"dk-a\").IPAddress}}' a2")
        .ok()
        .trimmed()
        .to_string();
    let dig = sb.sh("ip netns exec a1 dig +short +tries=1 +time=3 @127.0.0.11 a2").ok();
    assert_eq!(dig.trimmed(), a2, "names resolve on a docker-made network");
    sb.sh(&format!("ip netns exec a1 ping -c1 -W2 {a2}")).ok();
    assert!(sb.sh(&format!("ip netns exec b1 ping -c1 -W1 {a2}")).code != 0, "isolation holds");
    let none = sb.sh("ip netns exec b1 dig +short +tries=1 +time=2 @127.0.0.11 a2").ok();
    assert_eq!(none.trimmed(), "", "other networks' names are not seen");

    // The reverse: netctl's network, driven by docker.
    sb.netctl("network create --subnet 10.44.0.0/24 nc").ok();
    docker(&sb, "network connect --alias svc nc b1").ok();
    docker(&sb, "network connect nc a1").ok();
    let dig = sb.sh("ip netns exec a1 dig +short +tries=1 +time=3 @127.0.0.11 svc").ok();
    assert_eq!(dig.trimmed(), "10.44.0.2");
    let members = docker(&sb, "network inspect -f '{{len .Containers}}' nc").ok();
    assert_eq!(members.trimmed(), "2");
    let ours = sb.netctl("network inspect nc").ok().json();
    assert_eq!(ours[0]["Containers"].as_object().unwrap().len(), 2, "netctl sees what docker did");
    docker(&sb, "network disconnect nc b1").ok();
    let ours = sb.netctl("network inspect nc").ok().json();
    assert_eq!(ours[0]["Containers"].as_object().unwrap().len(), 1);
}

/// restart, kill -s, top, logs; refusals in Docker's error JSON; and a daemon that
/// stops while `docker events` follows it ends the stream and exits cleanly.
#[test]
fn docker_restart_kill_top_refusals_and_shutdown_with_a_listener() {
    let sb = sandbox();
    sb.netctl("run -d --name web -- sleep 1000").ok();
    let pid = docker(&sb, "inspect -f '{{.State.Pid}}' web").ok().trimmed().to_string();
    docker(&sb, "restart -t 1 web").ok();
    let pid2 = docker(&sb, "inspect -f '{{.State.Pid}}' web").ok().trimmed().to_string();
    assert_ne!(pid, pid2, "a new process");
    let top = docker(&sb, "top web").ok();
    assert!(
        top.stdout.lines().next().unwrap().contains("PID") && top.stdout.contains("sleep 1000"),
        "{}",
        top.stdout
    );
    docker(&sb, "kill -s TERM web").ok();
    sb.sh("for i in $(seq 100); do [ \"$(netctl inspect -f '{{.State.Status}}' web)\" = exited ] && exit 0; sleep 0.05; done; exit 1").ok();
    assert_eq!(docker(&sb, "inspect -f '{{.State.ExitCode}}' web").ok().trimmed(), "143");
    sb.netctl("run -d --name talk -- sh -c 'echo one; echo two; echo three >&2'").ok();
    sb.sh("for i in $(seq 100); do [ \"$(netctl inspect -f '{{.State.Status}}' talk)\" = exited ] && exit 0; sleep 0.05; done; exit 1").ok();
    let logs = docker(&sb, "logs talk").ok();
    assert_eq!(logs.stdout, "one\ntwo\nthree\n", "stderr: {}", logs.stderr);
    assert_eq!(docker(&sb, "logs -n 2 talk").ok().stdout, "two\nthree\n");
    assert_eq!(
        sb.sh("DOCKER_HOST=unix:///run/netctl/netctl.sock timeout 10 docker logs -f talk").ok().stdout,
        "one\ntwo\nthree\n"
    );
    assert!(docker(&sb, "logs -t talk").fail().stderr.contains("--timestamps is not supported"));
    let again = docker(&sb, "kill web").fail();
    assert!(again.stderr.contains("is not running"), "{}", again.stderr);
    let bad = docker(&sb, "network create --scope swarm sw").fail();
    assert!(bad.stderr.contains("netctl networks are local"), "{}", bad.stderr);
    let ll = docker(&sb, "network connect --link-local-ip 169.254.9.9 bridge web").fail();
    assert!(ll.stderr.contains("--link-local-ip"), "{}", ll.stderr);
    // Dual stack through docker: --ipv6 with a subnet, --ip6 on connect.
    docker(&sb, "network create --ipv6 --subnet fd00:77::/64 --subnet 10.61.0.0/24 v6").ok();
    docker(&sb, "start web").ok();
    docker(&sb, "network connect --ip6 fd00:77::99 v6 web").ok();
    let a6 = sb.sh("ip -n web -j -6 addr show dev eth1 scope global").ok().json();
    assert_eq!(a6[0]["addr_info"][0]["local"], "fd00:77::99");
    let v6 = docker(&sb, "inspect -f '{{.NetworkSettings.Networks.v6.GlobalIPv6Address}}' web").ok();
    assert_eq!(v6.trimmed(), "fd00:77::99");
    assert_eq!(
        docker(&sb, "network inspect -f '{{.EnableIPv6}} {{len .IPAM.Config}}' v6").ok().trimmed(),
        "true 2"
    );
    docker(&sb, "stop -t 1 web").ok();
    let status = sb
        .sh("curl -s -o /dev/null -w '%{http_code}' --unix-socket /run/netctl/netctl.sock -X POST -d '{}' http://localhost/v1.50/containers/create")
        .ok();
    assert_eq!(status.trimmed(), "501");

    sb.sh("(DOCKER_HOST=unix:///run/netctl/netctl.sock docker events > /run/ev.txt 2>&1; echo \"exit $?\" >> /run/ev.txt) >/dev/null 2>&1 &").ok();
    wait_for_listeners(&sb, 1);
    sb.stop_daemon();
    let out = sb.sh("for i in $(seq 100); do grep -q exit /run/ev.txt && cat /run/ev.txt && exit 0; sleep 0.05; done; cat /run/ev.txt; exit 1").ok();
    assert!(out.stdout.contains("exit "), "docker events ended with the daemon: {}", out.stdout);
}
