//! The commands a Docker user reaches for (issue 13): `restart`, `rename`, `kill`,
//! `top`, `version`, `info`, the `container …` management command, grouped
//! `--help`, shell completions and man pages installed by install.sh; and
//! `docker rename|restart|kill|top` against netctld. Each as the user sees it:
//! what is printed, what the resolver answers (dig inside another container), what
//! a container's /etc/hosts says, which processes run.

use std::time::{Duration, Instant};

use netctl_tests::{Out, Sandbox};

const DOCKER: &str = "/usr/local/bin/docker";

/// Names a container no longer holds are NXDOMAIN here: the sandbox has no
/// upstream to forward single labels to (which the default config would do).
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    sb.sh("printf '[dns]\\nforward_single_label = false\\n' > /etc/netctl/netctl.toml").ok();
    sb.start_daemon();
    sb
}

fn inspect(sb: &Sandbox, format: &str, container: &str) -> String {
    sb.netctl(&format!("inspect -f '{format}' {container}")).ok().trimmed().to_string()
}

/// `dig` from inside container `from`, asking the embedded resolver.
fn dig(sb: &Sandbox, from: &str, args: &str) -> String {
    sb.netctl(&format!("exec {from} -- dig +tries=1 +time=2 @127.0.0.11 {args}")).ok().stdout
}

fn status_of(dig: &str) -> &str {
    dig.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or_else(|| panic!("{dig}"))
}

#[track_caller]
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn restart_starts_a_new_process_and_keeps_the_addresses() {
    let sb = sandbox();
    sb.netctl("network create n1").ok();
    sb.netctl("run -d --name web --net n1 sleep 600").ok();
    let pid = inspect(&sb, "{{.State.Pid}}", "web");
    let ip = inspect(&sb, "{{.NetworkSettings.Networks.n1.IPAddress}}", "web");
    let mac = inspect(&sb, "{{.NetworkSettings.Networks.n1.MacAddress}}", "web");
    assert_eq!(sb.netctl("restart -t 1 web").ok().stdout, "web\n", "Docker prints each name");
    let new_pid = inspect(&sb, "{{.State.Pid}}", "web");
    assert_ne!(new_pid, pid, "a new process");
    assert_eq!(inspect(&sb, "{{.State.Status}}", "web"), "running");
    assert_eq!(inspect(&sb, "{{.NetworkSettings.Networks.n1.IPAddress}}", "web"), ip);
    assert_eq!(inspect(&sb, "{{.NetworkSettings.Networks.n1.MacAddress}}", "web"), mac);
    sb.sh(&format!("kill -0 {new_pid} && ! kill -0 {pid} 2>/dev/null")).ok();
    // A stopped container is started by restart, as in Docker.
    sb.netctl("stop -t 1 web").ok();
    sb.netctl("restart web").ok();
    assert_eq!(inspect(&sb, "{{.State.Status}}", "web"), "running");
    let missing = sb.netctl("restart nothing").fail();
    assert!(missing.stderr.contains("No such container: nothing"), "{missing:?}");
}

#[test]
fn rename_is_answered_by_the_resolver_at_once_and_the_old_name_is_gone() {
    let sb = sandbox();
    sb.netctl("network create n1").ok();
    sb.netctl("run -d --name web --net n1 --network-alias site sleep 600").ok();
    sb.netctl("run -d --name client --net n1 sleep 600").ok();
    let ip = inspect(&sb, "{{.NetworkSettings.Networks.n1.IPAddress}}", "web");
    assert_eq!(dig(&sb, "client", "+short web").trim(), ip);
    let out = sb.netctl("rename web web2").ok();
    assert_eq!(out.stdout, "", "docker rename prints nothing");
    // No wait: the next question already gets the new name, and not the old.
    assert_eq!(dig(&sb, "client", "+short web2").trim(), ip);
    let old = dig(&sb, "client", "web");
    assert_eq!(status_of(&old), "NXDOMAIN", "{old}");
    assert_eq!(dig(&sb, "client", "+short site").trim(), ip, "aliases stay");
    assert_eq!(dig(&sb, "client", &format!("+short -x {ip}")).trim(), "web2.n1.", "the reverse name too");
    assert_eq!(inspect(&sb, "{{.Name}}", "web2"), "/web2");
    sb.netctl("inspect web").fail();
    // The pin follows the name, so `ip netns exec` knows it and the old name is free.
    sb.sh("ip netns exec web2 ip -br addr show eth0").ok();
    assert!(!sb.sh("ls /run/netns").ok().stdout.lines().any(|l| l == "web"));
    sb.netctl("run -d --name web --net n1 sleep 600").ok();
    let new_ip = inspect(&sb, "{{.NetworkSettings.Networks.n1.IPAddress}}", "web");
    assert_ne!(new_ip, ip);
    assert_eq!(dig(&sb, "client", "+short web").trim(), new_ip);
    assert_eq!(dig(&sb, "client", "+short web2").trim(), ip);
    // The renamed container still restarts in its namespace, with its address.
    sb.netctl("restart -t 1 web2").ok();
    assert_eq!(inspect(&sb, "{{.NetworkSettings.Networks.n1.IPAddress}}", "web2"), ip);
    assert_eq!(inspect(&sb, "{{.NetworkSettings.SandboxKey}}", "web2"), "/run/netns/web2");
    // And goes whole.
    sb.netctl("rm -f web2").ok();
    assert!(!sb.sh("ls /run/netns").ok().stdout.lines().any(|l| l == "web2"));
}

#[test]
fn rename_refuses_a_taken_name_as_docker_does_and_emits_its_event() {
    let sb = sandbox();
    sb.netctl("run -d --name a1 sleep 600").ok();
    sb.netctl("run -d --name b1 sleep 600").ok();
    let b1 = inspect(&sb, "{{.Id}}", "b1");
    let taken = sb.netctl("rename a1 b1").fail();
    assert!(
        taken.stderr.contains(&format!(
            "Error when allocating new name: Conflict. The container name \"/b1\" is already in use by container \"{b1}\". You have to remove (or rename) that container to be able to reuse that name."
        )),
        "{taken:?}"
    );
    let code = sb.sh("curl -s -o /dev/null -w '%{http_code}' -X POST --unix-socket /run/netctl/netctl.sock \
         'http://localhost/v1.50/containers/a1/rename?name=b1'");
    assert_eq!(code.ok().trimmed(), "409");
    let same = sb.netctl("rename a1 a1").fail();
    assert!(same.stderr.contains("Renaming a container with the same name as its current name"), "{same:?}");
    let bad = sb.netctl("rename a1 'a b'").fail();
    assert!(
        bad.stderr.contains("Error when allocating new name: Invalid container name (a b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
        "{bad:?}"
    );
    sb.netctl("rename a1 a2").ok();
    let a1 = inspect(&sb, "{{.Id}}", "a2");
    let events = sb
        .netctl(
            "events --since 0 --until $(($(date +%s) + 1)) --filter event=rename \
             --format '{{.Actor.ID}} {{.Actor.Attributes.name}} {{.Actor.Attributes.oldName}}'",
        )
        .ok();
    assert_eq!(events.stdout, format!("{a1} a2 /a1\n"));
}

#[test]
fn renaming_a_linked_container_updates_its_linkers_hosts_and_links() {
    let sb = sandbox();
    sb.netctl("run -d --name db sleep 600").ok();
    sb.netctl("run -d --name app --link db sleep 600").ok();
    let ip = inspect(&sb, "{{.NetworkSettings.Networks.bridge.IPAddress}}", "db");
    let host = inspect(&sb, "{{.Config.Hostname}}", "db");
    let hosts = sb.netctl("exec app -- cat /etc/hosts").ok().stdout;
    assert!(hosts.contains(&format!("{ip}\tdb {host}\n")), "{hosts}");
    sb.netctl("rename db db2").ok();
    // The alias stays "db"; the linked container's name now is db2, as Docker
    // writes a link whose alias differs from the name.
    let hosts = sb.netctl("exec app -- cat /etc/hosts").ok().stdout;
    assert!(hosts.contains(&format!("{ip}\tdb {host} db2\n")), "{hosts}");
    sb.netctl("exec app -- ping -c 1 -W 2 db2").ok();
    assert_eq!(inspect(&sb, "{{json .HostConfig.Links}}", "app"), r#"["/db2:/app/db"]"#);
    // The container's own /etc/hosts names its hostname, which a rename leaves.
    let own = sb.netctl("exec db2 -- cat /etc/hosts").ok().stdout;
    assert!(own.contains(&format!("{ip}\t{host}\n")), "{own}");
    // Renaming the linker renames its links.
    sb.netctl("rename app app2").ok();
    assert_eq!(inspect(&sb, "{{json .HostConfig.Links}}", "app2"), r#"["/db2:/app2/db"]"#);
}

#[test]
fn a_rename_cut_short_keeps_one_name_whole() {
    let sb = sandbox();
    sb.netctl("network create n1").ok();
    sb.netctl("run -d --name web --net n1 sleep 600").ok();
    sb.netctl("run -d --name client --net n1 sleep 600").ok();
    let ip = inspect(&sb, "{{.NetworkSettings.Networks.n1.IPAddress}}", "web");
    let pins = || sb.sh("ls /run/netns | sort | tr '\\n' ' '").ok().stdout;
    // A failure after the new pin was made: undone at once.
    sb.stop_daemon();
    sb.start_daemon_env("FAILPOINTS='rename.commit=return'", "");
    let failed = sb.netctl("rename web web2").fail();
    assert!(failed.stderr.contains("injected failure"), "{failed:?}");
    assert_eq!(pins(), "client web ");
    assert_eq!(dig(&sb, "client", "+short web").trim(), ip);
    // A crash at the same point: the next start keeps the old name, without the new pin.
    sb.stop_daemon();
    sb.start_daemon_env("FAILPOINTS='rename.commit=return(crash)'", "");
    sb.netctl("rename web web2").fail();
    sb.sh("sleep 0.2; ! kill -0 $(cat /run/netctld.pid) 2>/dev/null").ok();
    sb.start_daemon();
    assert_eq!(pins(), "client web ");
    assert_eq!(inspect(&sb, "{{.Name}}", "web"), "/web");
    assert_eq!(dig(&sb, "client", "+short web").trim(), ip);
    // A crash once the record is committed, before the old pin went: the next
    // start finishes the rename.
    sb.stop_daemon();
    sb.start_daemon_env("FAILPOINTS='rename.unpin=return'", "");
    sb.netctl("rename web web2").fail();
    sb.sh("sleep 0.2; ! kill -0 $(cat /run/netctld.pid) 2>/dev/null").ok();
    sb.start_daemon();
    assert_eq!(pins(), "client web2 ");
    assert_eq!(inspect(&sb, "{{.Name}}", "web2"), "/web2");
    assert_eq!(dig(&sb, "client", "+short web2").trim(), ip);
    // And a rename that goes through survives a restart of the daemon.
    sb.netctl("rename web2 web3").ok();
    sb.restart_daemon();
    assert_eq!(pins(), "client web3 ");
    assert_eq!(dig(&sb, "client", "+short web3").trim(), ip);
    assert_eq!(status_of(&dig(&sb, "client", "web2")), "NXDOMAIN");
    assert_eq!(sb.sh("ls /var/lib/netctl/intents").ok().stdout, "", "no change left pending");
}

#[test]
fn kill_sends_the_signal_named_or_numbered_and_kill_by_default() {
    let sb = sandbox();
    sb.netctl("run -d --name k1 sh -c 'trap \"echo got-usr1; exit 7\" USR1; while :; do sleep 0.1; done'")
        .ok();
    assert_eq!(sb.netctl("kill -s USR1 k1").ok().stdout, "k1\n");
    wait_until("k1 exits", || inspect(&sb, "{{.State.Status}}", "k1") == "exited");
    assert_eq!(inspect(&sb, "{{.State.ExitCode}}", "k1"), "7");
    assert!(sb.netctl("logs k1").ok().stdout.contains("got-usr1"));
    // By number (SIGUSR1 is 10), after a start.
    sb.netctl("start k1").ok();
    std::thread::sleep(Duration::from_millis(300));
    sb.netctl("kill --signal 10 k1").ok();
    wait_until("k1 exits again", || inspect(&sb, "{{.State.Status}}", "k1") == "exited");
    assert_eq!(inspect(&sb, "{{.State.ExitCode}}", "k1"), "7");
    // KILL by default.
    sb.netctl("run -d --name k2 sleep 600").ok();
    sb.netctl("kill k2").ok();
    wait_until("k2 exits", || inspect(&sb, "{{.State.Status}}", "k2") == "exited");
    assert_eq!(inspect(&sb, "{{.State.ExitCode}}", "k2"), "137");
    let stopped = sb.netctl("kill k2").fail();
    assert!(stopped.stderr.contains("is not running"), "{stopped:?}");
    sb.netctl("run -d --name k3 sleep 600").ok();
    let bad = sb.netctl("kill -s NOPE k3").fail();
    assert!(bad.stderr.contains("Invalid signal: NOPE"), "{bad:?}");
    assert_eq!(inspect(&sb, "{{.State.Status}}", "k3"), "running");
}

#[test]
fn top_lists_the_containers_processes_only() {
    let sb = sandbox();
    sb.netctl("run -d --name t1 sh -c 'sleep 4242 & sleep 4343; wait'").ok();
    let top = sb.netctl("top t1").ok().stdout;
    let mut lines = top.lines();
    let titles: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(titles, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], "{top}");
    assert!(top.starts_with("UID                 PID                 "), "Docker's columns: {top}");
    let cmds: Vec<String> =
        lines.map(|l| l.split_whitespace().skip(7).collect::<Vec<_>>().join(" ")).collect();
    assert!(cmds.contains(&"sleep 4242".into()) && cmds.contains(&"sleep 4343".into()), "{top}");
    assert!(!top.contains("netctld"), "only the container's processes: {top}");
    let custom = sb.netctl("top t1 -o pid,comm").ok().stdout;
    assert!(custom.starts_with("PID"), "{custom}");
    assert_eq!(custom.lines().filter(|l| l.ends_with("sleep")).count(), 2, "{custom}");
    sb.netctl("stop -t 1 t1").ok();
    assert!(sb.netctl("top t1").fail().stderr.contains("is not running"));
}

#[test]
fn version_and_info_in_dockers_layout() {
    let sb = sandbox();
    let own = sb.netctl("--version").ok().stdout.trim().trim_start_matches("netctl ").to_string();
    let v = sb.netctl("version").ok().stdout;
    assert!(v.starts_with(&format!("Client:\n Version:           {own}\n API version:       1.50\n")), "{v}");
    assert!(v.contains(&format!("\nServer: netctl\n Engine:\n  Version:          {own}\n")), "{v}");
    assert!(v.contains("  API version:      1.50 (minimum version 1.44)\n"), "{v}");
    assert_eq!(sb.netctl("version -f '{{.Server.Version}}'").ok().trimmed(), own);
    assert_eq!(sb.netctl("version --format json").ok().json()["Client"]["Version"], own.as_str());

    sb.netctl("network create n1").ok();
    sb.netctl("run -d --name up sleep 600").ok();
    sb.netctl("run --name down true").ok();
    let info = sb.netctl("info").ok().stdout;
    assert!(
        info.contains("\nServer:\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Networks: 2\n"),
        "{info}"
    );
    for line in [
        &format!(" Server Version: {own}\n"),
        " Data Root Dir: /var/lib/netctl\n",
        " Cgroup Driver: ",
        " Swarm: inactive\n",
        " Default Address Pools:\n",
    ] {
        assert!(info.contains(line), "{line:?} missing from:\n{info}");
    }
    assert_eq!(sb.netctl("info -f '{{.ContainersRunning}} {{.Networks}}'").ok().trimmed(), "1 2");
    // Without a daemon, the client's part and the reason.
    sb.stop_daemon();
    let alone = sb.netctl("version").fail();
    assert!(alone.stdout.starts_with("Client:\n"), "{alone:?}");
    assert!(alone.stderr.contains("Is the daemon running?"), "{alone:?}");
}

#[test]
fn the_container_management_command_has_dockers_subcommands() {
    let sb = sandbox();
    sb.netctl("network create n1").ok();
    sb.netctl("container run -d --name c1 --net n1 -p 8080:80 sleep 600").ok();
    sb.netctl("container run --name c2 true").ok();
    assert_eq!(sb.netctl("container ls --format '{{.Names}}'").ok().stdout, "c1\n");
    assert_eq!(sb.netctl("container ps -a --format '{{.Names}}'").ok().stdout, "c2\nc1\n");
    assert_eq!(sb.netctl("container list -aq").ok().stdout.lines().count(), 2);
    assert_eq!(sb.netctl("ps -q").ok().stdout, sb.netctl("container ls -q").ok().stdout);
    assert_eq!(sb.netctl("container inspect -f '{{.Name}}' c1").ok().trimmed(), "/c1");
    assert_eq!(
        sb.netctl("container exec c1 -- hostname").ok().trimmed(),
        inspect(&sb, "{{.Config.Hostname}}", "c1")
    );
    assert!(sb.netctl("container port c1").ok().stdout.contains("80/tcp -> 0.0.0.0:8080"));
    assert!(sb.netctl("container top c1").ok().stdout.contains("sleep 600"));
    sb.netctl("container restart -t 1 c1").ok();
    sb.netctl("container kill c1").ok();
    wait_until("c1 exits", || inspect(&sb, "{{.State.Status}}", "c1") == "exited");
    sb.netctl("container start c1").ok();
    sb.netctl("container stop -t 1 c1").ok();
    sb.netctl("container rename c1 c3").ok();
    sb.netctl("container logs c3").ok();
    sb.netctl("container rm c3 c2").ok();
    assert_eq!(sb.netctl("ps -aq").ok().stdout, "");
    // Another runtime's namespace still attaches and detaches.
    sb.sh("ip netns add foreign").ok();
    sb.netctl("container attach --netns /run/netns/foreign --network n1 f1").ok();
    sb.sh("ip -n foreign -br addr show eth0 | grep -q 172.").ok();
    // Renamed, it keeps the runtime's own namespace path.
    sb.netctl("container rename f1 f2").ok();
    assert_eq!(inspect(&sb, "{{.NetworkSettings.SandboxKey}}", "f2"), "/run/netns/foreign");
    sb.netctl("container detach f2").ok();
    sb.sh("test -e /run/netns/foreign").ok();
    sb.sh("! ip -n foreign link show eth0 2>/dev/null").ok();
}

#[test]
fn help_is_grouped_as_dockers_within_80_columns() {
    let sb = Sandbox::new();
    let help = sb.netctl("--help").ok().stdout;
    let at = |s: &str| help.find(s).unwrap_or_else(|| panic!("{s:?} missing from:\n{help}"));
    assert!(help.starts_with("Usage:  netctl [OPTIONS] COMMAND\n"), "{help}");
    let (common, management, commands, global) = (
        at("\nCommon Commands:\n"),
        at("\nManagement Commands:\n"),
        at("\nCommands:\n"),
        at("\nGlobal Options:\n"),
    );
    assert!(common < management && management < commands && commands < global, "{help}");
    let section = |from: usize, to: usize| -> Vec<&str> {
        help[from..to].lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect()
    };
    assert_eq!(section(common, management), ["run", "exec", "ps", "version", "info"]);
    assert_eq!(section(management, commands), ["container", "network", "firewall"]);
    let rest = section(commands, global);
    for c in
        ["events", "inspect", "kill", "logs", "rename", "restart", "rm", "start", "stop", "top", "completion"]
    {
        assert!(rest.contains(&c), "{c} not under Commands: {rest:?}");
    }
    assert!(!rest.contains(&"man"), "the man page writer is hidden");
    for line in help.lines() {
        assert!(line.chars().count() <= 80, "longer than 80 columns: {line:?}");
    }
    // `network connect --help` says what its arguments are, as Docker's does.
    let connect = sb.netctl("network connect --help").ok().stdout;
    for s in [
        "Usage: netctl network connect [OPTIONS] <NETWORK> <CONTAINER>",
        "<NETWORK>\n          The network to connect to",
        "<CONTAINER>\n          The container to connect",
        "--alias <ALIAS>\n          Add a network-scoped alias",
        "--ip <IP>\n          IPv4 address",
        "--ip6 <IP>\n          IPv6 address",
    ] {
        assert!(connect.contains(s), "{s:?} missing from:\n{connect}");
    }
    let disconnect = sb.netctl("network disconnect -h").ok().stdout;
    assert!(disconnect.contains("<NETWORK>    The network to disconnect from"), "{disconnect}");
    assert!(disconnect.contains("-f, --force"), "{disconnect}");
}

#[test]
fn install_sh_installs_completions_and_man_pages_that_work() {
    let sb = Sandbox::new();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().display().to_string();
    let bin = sb.sh("dirname $(command -v netctl)").ok().trimmed().to_string();
    sb.sh(&format!("DESTDIR=/run/root NETCTL_BIN_DIR={bin} bash {repo}/install.sh")).ok();
    let bash = "/run/root/usr/share/bash-completion/completions/netctl";
    let complete = sb.sh(&format!("bash -c 'source {bash}; complete -p netctl'")).ok();
    assert!(complete.stdout.contains("-F _netctl netctl"), "{complete:?}");
    // The completion itself: subcommands, and the container command's own.
    let words = |line: &str| {
        sb.sh(&format!(
            "bash -c 'source {bash}; COMP_WORDS=({line}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); \
             COMP_LINE=\"${{COMP_WORDS[*]}}\"; _netctl netctl; printf \"%s\\n\" \"${{COMPREPLY[@]}}\"'"
        ))
        .ok()
        .stdout
    };
    let top: Vec<String> = words("netctl re").lines().map(String::from).collect();
    assert!(top.contains(&"rename".into()) && top.contains(&"restart".into()), "{top:?}");
    assert!(words("netctl container l").lines().any(|w| w == "ls"));
    let zsh = sb.sh("head -1 /run/root/usr/local/share/zsh/site-functions/_netctl").ok();
    assert_eq!(zsh.trimmed(), "#compdef netctl");
    let fish = "/run/root/usr/share/fish/vendor_completions.d/netctl.fish";
    sb.sh(&format!("grep -q '^complete -c netctl' {fish}")).ok();
    // Where the shells themselves are installed, they load the scripts too.
    let zsh_ok = sb.sh(
        "! command -v zsh >/dev/null || zsh -c 'fpath=(/run/root/usr/local/share/zsh/site-functions $fpath);          autoload -U compinit; compinit -u; autoload -U _netctl; whence -w _netctl'",
    );
    let zsh_ok = zsh_ok.ok().stdout;
    assert!(zsh_ok.trim().is_empty() || zsh_ok.contains("_netctl: function"), "{zsh_ok}");
    let fish_words = sb
        .sh(&format!("! command -v fish >/dev/null || fish -c 'source {fish}; complete -C\"netctl rena\"'"))
        .ok();
    assert!(fish_words.stdout.is_empty() || fish_words.stdout.starts_with("rename\t"), "{fish_words:?}");
    // A page per command, rendered by man (or groff).
    let man1 = "/run/root/usr/local/share/man/man1";
    for page in ["netctl", "netctl-rename", "netctl-network-connect", "netctl-container-ls"] {
        sb.sh(&format!("test -s {man1}/{page}.1")).ok();
    }
    let render = |page: &str| -> Out {
        sb.sh(&format!(
            "f={man1}/{page}.1; if command -v man >/dev/null; then MANWIDTH=80 man -P cat -l $f; \
             else groff -man -Tutf8 $f; fi 2>&1"
        ))
        .ok()
    };
    let rename = render("netctl-rename").stdout;
    assert!(rename.contains("netctl-rename - Rename a container"), "{rename}");
    assert!(rename.contains("<NEW_NAME>"), "{rename}");
    let main = render("netctl").stdout;
    assert!(main.contains("netctl-network(1)") && main.contains("netctl-completion(1)"), "{main}");
    assert!(!main.contains("netctl-man(1)"), "{main}");
}

fn docker(sb: &Sandbox, args: &str) -> Out {
    sb.sh(&format!("DOCKER_HOST=unix:///run/netctl/netctl.sock {DOCKER} {args}"))
}

#[test]
fn docker_rename_restart_kill_and_top_against_netctld() {
    assert!(std::path::Path::new(DOCKER).exists(), "{DOCKER} (the docker CLI, a client only) is missing");
    let sb = sandbox();
    sb.netctl("network create n1").ok();
    sb.netctl("run -d --name web --net n1 sleep 600").ok();
    sb.netctl("run -d --name client --net n1 sleep 600").ok();
    let ip = inspect(&sb, "{{.NetworkSettings.Networks.n1.IPAddress}}", "web");
    let out = docker(&sb, "rename web web2").ok();
    assert_eq!(out.stdout, "");
    assert_eq!(docker(&sb, "ps --filter name=web --format '{{.Names}}'").ok().trimmed(), "web2");
    assert_eq!(dig(&sb, "client", "+short web2").trim(), ip);
    assert_eq!(status_of(&dig(&sb, "client", "web")), "NXDOMAIN");
    let taken = docker(&sb, "rename web2 client").fail();
    assert!(
        taken.stderr.contains("Error response from daemon: Error when allocating new name: Conflict. The container name \"/client\" is already in use"),
        "{taken:?}"
    );
    let pid = inspect(&sb, "{{.State.Pid}}", "web2");
    assert_eq!(docker(&sb, "restart -t 1 web2").ok().trimmed(), "web2");
    assert_ne!(inspect(&sb, "{{.State.Pid}}", "web2"), pid);
    assert_eq!(inspect(&sb, "{{.NetworkSettings.Networks.n1.IPAddress}}", "web2"), ip);
    assert!(docker(&sb, "top web2").ok().stdout.contains("sleep 600"));
    let events = docker(
        &sb,
        "events --since 0 --until $(($(date +%s) + 1)) --filter event=rename \
         --format '{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.oldName}}'",
    )
    .ok();
    assert_eq!(events.stdout, "rename web2 /web\n");
    assert_eq!(docker(&sb, "kill -s TERM web2").ok().trimmed(), "web2");
    wait_until("web2 exits", || inspect(&sb, "{{.State.Status}}", "web2") == "exited");
}
