//! Go templates and `ps --filter/--format` as a Docker user writes them (issue 13):
//! `inspect -f`, `network inspect -f`, `network ls --format`, `ps --format` and
//! `events --format` evaluate Go's text/template with the docker CLI's functions
//! and `table` headers; `ps -f` filters as `docker ps -f` does. Each answer is
//! checked against what the kernel or the plain JSON says.

use netctl_tests::{Out, Sandbox};

fn lines(out: &Out) -> Vec<String> {
    out.stdout.lines().map(String::from).collect()
}

/// The container's own address on its eth0/eth1, as `ip` inside it shows it.
fn kernel_ip(sb: &Sandbox, container: &str, dev: &str) -> String {
    let v = sb.netctl(&format!("exec {container} -- ip -j -4 addr show dev {dev}")).ok().json();
    v[0]["addr_info"][0]["local"].as_str().expect("an IPv4 address").to_string()
}

#[test]
fn inspect_evaluates_go_templates_with_dockers_functions() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create --label team=red n1").ok();
    sb.netctl("network create app-net").ok();
    sb.netctl("run -d --name web --net n1 sleep 600").ok();
    sb.netctl("network connect app-net web").ok();
    let n1_ip = kernel_ip(&sb, "web", "eth0");
    let app_ip = kernel_ip(&sb, "web", "eth1");

    // range over a map: its keys sorted (app-net before n1), as Go's templates do.
    let ranged = sb.netctl("inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' web").ok();
    assert_eq!(ranged.stdout, format!("{app_ip} {n1_ip} \n"));
    let with_keys = sb
        .netctl("inspect -f '{{range $net, $ep := .NetworkSettings.Networks}}{{$net}}={{$ep.IPAddress}};{{end}}' web")
        .ok();
    assert_eq!(with_keys.trimmed(), format!("app-net={app_ip};n1={n1_ip};"));
    // The one-network form the issue found failing.
    sb.netctl("run -d --name solo --net n1 sleep 600").ok();
    let solo = sb.netctl("inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' solo").ok();
    assert_eq!(solo.trimmed(), kernel_ip(&sb, "solo", "eth0"));

    // json prints JSON; index reaches a network whose name has a dash.
    let settings = sb.netctl("inspect -f '{{json .NetworkSettings}}' web").ok().json();
    assert_eq!(settings["Networks"]["n1"]["IPAddress"], n1_ip.as_str());
    let indexed = sb.netctl(r#"inspect -f '{{index .NetworkSettings.Networks "n1"}}' web"#).ok();
    assert!(
        indexed.stdout.starts_with("map[") && indexed.stdout.contains(&format!("IPAddress:{n1_ip} ")),
        "{}",
        indexed.stdout
    );
    let dashed =
        sb.netctl(r#"inspect -f '{{(index .NetworkSettings.Networks "app-net").IPAddress}}' web"#).ok();
    assert_eq!(dashed.trimmed(), app_ip);

    // if/else, len, variables, pipelines and the docker CLI's string functions.
    let t = r#"{{if .State.Running}}up{{else}}down{{end}} {{len .NetworkSettings.Networks}} {{$n := .Name}}{{upper $n}} {{lower "AB"}} {{join .Config.Cmd "+"}} {{title "big web"}} {{index (split .Name "/") 1}} {{.Name | printf "%s!"}}"#;
    assert_eq!(
        sb.netctl(&format!("inspect -f '{t}' web")).ok().trimmed(),
        "up 2 /WEB ab sleep+600 Big Web web /web!"
    );
    assert_eq!(sb.netctl("inspect -f '{{println .State.Running}}' web").ok().stdout, "true\n\n");
    // Go's struct field ID and the JSON's Id are one.
    let ids = sb.netctl("inspect -f '{{.ID}} {{.Id}}' web").ok();
    let id = sb.netctl("inspect web").ok().json()[0]["Id"].as_str().unwrap().to_string();
    assert_eq!(ids.trimmed(), format!("{id} {id}"));
    // One line per container, in the order named.
    assert_eq!(lines(&sb.netctl("inspect -f '{{.Name}}' solo web").ok()), ["/solo", "/web"]);

    // network inspect takes the same templates.
    let net = sb.netctl("network inspect n1").ok().json();
    let subnet = net[0]["IPAM"]["Config"][0]["Subnet"].as_str().unwrap().to_string();
    let t = "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{json .Labels}} {{len .Containers}} {{index .Labels \"team\"}}";
    assert_eq!(
        sb.netctl(&format!("network inspect -f '{t}' n1")).ok().trimmed(),
        format!(r#"{subnet} {{"team":"red"}} 2 red"#)
    );
    assert_eq!(
        sb.netctl("network inspect -f '{{.Name}} {{.ID}}' n1").ok().trimmed(),
        format!("n1 {}", net[0]["Id"].as_str().unwrap())
    );
}

#[test]
fn a_bad_template_is_refused_with_dockers_words() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("run -d --name web sleep 600").ok();
    // Parse errors: Docker's usage error (64) before anything is printed.
    for (template, said) in [
        ("{{.Id", "template parsing error: template: :1: unclosed action"),
        ("{{range .NetworkSettings.Networks}}", "template parsing error: template: :1: unexpected EOF"),
        ("{{.Id}}{{end}}", "template parsing error: template: :1: unexpected {{end}}"),
        ("{{nosuch .Id}}", r#"template parsing error: template: :1: function "nosuch" not defined"#),
        (
            "{{.NetworkSettings.Networks.app-net}}",
            "template parsing error: template: :1: bad character U+002D '-'",
        ),
    ] {
        for cmd in ["inspect", "network inspect"] {
            let target = if cmd == "inspect" { "web" } else { "bridge" };
            let out = sb.netctl(&format!("{cmd} -f '{template}' {target}"));
            assert_eq!(out.code, 64, "{cmd} -f '{template}': {out:?}");
            assert_eq!(out.stderr.trim(), said, "{cmd} -f '{template}'");
            assert_eq!(out.stdout, "");
        }
    }
    // What the data lacks: an error, exit 1, as Docker's inspect.
    let out = sb.netctl("inspect -f '{{.NetworkSettings.Nope}}' web");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains(r#"template parsing error: template: executing "": map has no entry for key "Nope""#),
        "{}",
        out.stderr
    );
    let out = sb.netctl("network ls --format '{{.Name'").fail();
    assert!(out.stderr.contains("template parsing error: template: :1: unclosed action"), "{}", out.stderr);
    let out = sb.netctl("network ls --format '{{.Nope}}'").fail();
    assert!(out.stderr.contains(r#"map has no entry for key "Nope""#), "{}", out.stderr);
    assert_eq!(out.stdout, "", "nothing printed when a row fails");
    let out = sb.netctl("ps --format '{{.Names'").fail();
    assert!(out.stderr.contains("failed to parse template: template: :1: unclosed action"), "{}", out.stderr);
    let out = sb.netctl("ps --format '{{.Image}} {{.Nope}}'").fail();
    assert!(out.stderr.contains("failed to execute template"), "{}", out.stderr);
    let out = sb.netctl("events --format '{{.Type'");
    assert_eq!(out.code, 64, "{out:?}");
    assert_eq!(out.stderr.trim(), "Error parsing format: template: :1: unclosed action");
}

#[test]
fn ps_filters_as_docker_ps_does() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n1").ok();
    sb.netctl("network create n2").ok();
    sb.netctl("run -d --name web --net n1 sleep 600").ok();
    sb.netctl("run -d --name db --net n2 -l team=red -l tier sleep 600").ok();
    sb.netctl("run --name job --net n1 -l team=blue true").ok();
    let names = |filters: &str| lines(&sb.netctl(&format!("ps -a {filters} --format '{{{{.Names}}}}'")).ok());
    // Newest first, as docker ps lists.
    assert_eq!(names(""), ["job", "db", "web"]);
    assert_eq!(lines(&sb.netctl("ps --format '{{.Names}}'").ok()), ["db", "web"], "only running without -a");
    assert_eq!(names("-f status=exited"), ["job"]);
    assert_eq!(
        lines(&sb.netctl("ps -f status=exited --format '{{.Names}} {{.State}}'").ok()),
        ["job exited"],
        "status= lists stopped ones without -a"
    );
    // One key's values are alternatives; different keys must all match.
    assert_eq!(names("-f status=exited -f status=running"), ["job", "db", "web"]);
    assert_eq!(names("-f network=n1"), ["job", "web"]);
    assert_eq!(names("--filter network=n1 --filter status=running"), ["web"]);
    assert_eq!(names("-f name=web -f name=job"), ["job", "web"]);
    assert_eq!(names("-f name=^w"), ["web"]);
    assert_eq!(names("-f name=eb$"), ["web"]);
    assert_eq!(names("-f name=^eb"), Vec::<String>::new());
    let web_id = sb.netctl("inspect -f '{{.Id}}' web").ok().trimmed().to_string();
    assert_eq!(names(&format!("-f id={}", &web_id[..5])), ["web"]);
    let n2_id = sb.netctl("network inspect -f '{{.Id}}' n2").ok().trimmed().to_string();
    assert_eq!(names(&format!("-f network={}", &n2_id[..8])), ["db"], "a network by id prefix");
    assert_eq!(names("-f exited=0"), ["job"]);
    // Labels given with `run -l`: by key, by key and value, all of several.
    assert_eq!(names("-f label=team"), ["job", "db"]);
    assert_eq!(names("-f label=team=red"), ["db"]);
    assert_eq!(names("-f label=tier -f label=team=blue"), Vec::<String>::new());
    assert_eq!(names("-f label=tier -f label=team=red"), ["db"]);
    assert_eq!(names("-f label=nope"), Vec::<String>::new());
    // -q gives ids, filtered, truncated unless --no-trunc.
    assert_eq!(sb.netctl("ps -q -f name=web").ok().trimmed(), &web_id[..12]);
    assert_eq!(sb.netctl("ps -q --no-trunc -f name=web").ok().trimmed(), web_id);
    let q = sb.netctl("ps -q --format '{{.Names}}' -f name=web").ok();
    assert_eq!(q.trimmed(), &web_id[..12]);
    assert!(
        q.stderr.contains("WARNING: Ignoring custom format, because both --format and --quiet are set."),
        "{}",
        q.stderr
    );

    // What cannot apply, and what is not a filter, say so.
    let out = sb.netctl("ps -f ancestor=busybox").fail();
    assert!(
        out.stderr.contains("the 'ancestor' filter does not apply: netctl runs no images"),
        "{}",
        out.stderr
    );
    let out = sb.netctl("ps -f status=sleeping").fail();
    assert!(out.stderr.contains("invalid filter 'status=sleeping'"), "{}", out.stderr);
    let out = sb.netctl("ps -f color=red").fail();
    assert!(out.stderr.contains("invalid filter 'color'"), "{}", out.stderr);
    let out = sb.netctl("ps -f name").fail();
    assert!(out.stderr.contains("bad format of filter (expected name=value)"), "{}", out.stderr);
}

#[test]
fn ps_and_network_ls_format_as_dockers_formatter() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n1").ok();
    sb.netctl("run -d --name web --net n1 -p 8080:80 sleep 600").ok();
    sb.netctl("run -d --name long sh -c 'sleep 600; echo a-long-argument'").ok();
    let id = sb.netctl("inspect -f '{{.Id}}' web").ok().trimmed().to_string();

    // table: Docker's headers, columns as its tabwriter sets them (3 spaces, at least 10).
    let t =
        sb.netctl("ps -f name=web --format 'table {{.ID}}\\t{{.Names}}\\t{{.Networks}}\\t{{.State}}'").ok();
    assert_eq!(
        t.stdout,
        format!("CONTAINER ID   NAMES     NETWORKS   STATE\n{}   web       n1         running\n", &id[..12])
    );
    let t = sb.netctl("ps --format 'table {{.Names}}\\t{{lower .Status}}'").ok();
    assert_eq!(lines(&t)[0], "NAMES     STATUS", "functions leave the header alone");
    // The default table: Docker's columns (no IMAGE: netctl runs none) and NETWORKS.
    let default = sb.netctl("ps").ok();
    assert!(
        lines(&default)[0].starts_with("CONTAINER ID   COMMAND ") && lines(&default)[0].contains("   NAMES "),
        "{}",
        default.stdout
    );
    assert!(lines(&default)[0].split_whitespace().collect::<Vec<_>>().ends_with(&["NAMES", "NETWORKS"]));

    // Docker's fields; the published port as docker ps shows it, and as curl finds it.
    let row = sb.netctl("ps -f name=web --format '{{json .}}'").ok().json();
    for key in [
        "ID",
        "Names",
        "Command",
        "Status",
        "State",
        "Networks",
        "Ports",
        "Labels",
        "CreatedAt",
        "RunningFor",
        "Image",
    ] {
        assert!(row.get(key).is_some(), "{key} missing from {row}");
    }
    assert_eq!(row["Names"], "web");
    assert_eq!(row["Command"], "\"sleep 600\"");
    assert_eq!(row["State"], "running");
    assert!(row["Status"].as_str().unwrap().starts_with("Up "), "{row}");
    assert!(row["RunningFor"].as_str().unwrap().ends_with(" ago"), "{row}");
    assert!(row["CreatedAt"].as_str().unwrap().ends_with(" +0000 UTC"), "{row}");
    assert!(row["Ports"].as_str().unwrap().contains("0.0.0.0:8080->80/tcp"), "{row}");
    assert_eq!(sb.netctl("ps -f name=web --format json").ok().json(), row, "--format json is {{json .}}");
    // A long command is cut to 20 characters unless --no-trunc.
    let cut = sb.netctl("ps -f name=long --format '{{.Command}}'").ok();
    assert_eq!(cut.trimmed(), "\"sh -c sleep 600; ec…\"");
    let whole = sb.netctl("ps --no-trunc -f name=long --format '{{.ID}} {{.Command}}'").ok();
    let long_id = sb.netctl("inspect -f '{{.Id}}' long").ok().trimmed().to_string();
    assert_eq!(whole.trimmed(), format!("{long_id} \"sh -c sleep 600; echo a-long-argument\""));

    // network ls: --format '{{json .}}', table formats with Docker's headers, -q.
    let names = lines(&sb.netctl("network ls --format '{{.Name}}'").ok());
    assert_eq!(names, ["bridge", "n1"]);
    for (line, name) in sb.netctl("network ls --format '{{json .}}'").ok().stdout.lines().zip(&names) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["Name"], name.as_str());
        assert_eq!(v["Driver"], "bridge");
        assert_eq!(v["ID"].as_str().unwrap().len(), 12);
    }
    let table = sb.netctl("network ls --format 'table {{.Name}}\\t{{upper .Driver}}\\t{{.Internal}}'").ok();
    assert_eq!(
        table.stdout,
        "NAME      DRIVER    INTERNAL\nbridge    BRIDGE    false\nn1        BRIDGE    false\n"
    );
    let default = sb.netctl("network ls").ok();
    assert_eq!(lines(&default)[0], "NETWORK ID     NAME      DRIVER    SCOPE");
    assert!(lines(&default)[2].ends_with("   n1        bridge    local"), "{}", default.stdout);
    assert_eq!(
        lines(&sb.netctl("network ls -q --format '{{.Name}}'").ok()),
        names,
        "a template wins over -q"
    );
    // A range in a list template: over a row's fields, its keys sorted.
    let keys = sb.netctl("network ls -f name=n1 --format '{{range $k, $v := .}}{{$k}} {{end}}'").ok();
    assert_eq!(keys.trimmed(), "CreatedAt Driver ID IPv4 IPv6 Internal Labels Name Scope");
}

#[test]
fn events_format_names_fields_as_docker_does() {
    let sb = Sandbox::new();
    sb.start_daemon();
    sb.netctl("network create n1").ok();
    sb.netctl("run --name job --net n1 true").ok();
    let events = |format: &str| sb.netctl(&format!("events --since 1m --until 0s --format '{format}'")).ok();
    let plain = events(
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Scope}} {{if gt .TimeNano .Time}}t{{end}}",
    );
    let got = lines(&plain);
    assert!(got.contains(&"network create n1 local t".to_string()), "{got:?}");
    assert!(got.contains(&"container start job local t".to_string()), "{got:?}");
    // An attribute an event lacks is Go's <no value>.
    let missing = events("{{.Type}} {{.Actor.Attributes.nosuch}}");
    assert!(lines(&missing).contains(&"network <no value>".to_string()), "{}", missing.stdout);
    // json: Docker's own JSON, its lower-case keys and no others.
    for format in ["{{json .}}", "json"] {
        let first: serde_json::Value =
            serde_json::from_str(events(format).stdout.lines().next().unwrap()).unwrap();
        assert_eq!(first["Type"], "network");
        assert_eq!(first["scope"], "local");
        assert!(first["timeNano"].as_i64().unwrap() > 0);
        assert!(first.get("Scope").is_none() && first.get("TimeNano").is_none(), "{first}");
    }
    let only = sb.netctl("events --since 1m --until 0s -f type=network --format '{{upper .Action}}'").ok();
    assert!(lines(&only).iter().all(|l| l.chars().all(|c| c.is_ascii_uppercase())), "{}", only.stdout);
    // Checked on an empty message first, as docker's: a type error fails before any event.
    let out = sb.netctl("events --since 1m --until 0s --format '{{upper .Actor}}'");
    assert_eq!(out.code, 64, "{out:?}");
    assert!(
        out.stderr.starts_with("Error parsing format: ") && out.stderr.contains("expected string"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
}
