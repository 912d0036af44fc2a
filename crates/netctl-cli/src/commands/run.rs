//! `netctl run` and `netctl exec`: the daemon makes the sandbox, we start the
//! process in it ourselves so stdio, the terminal and the exit code are the caller's.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use netctl_model::api_containers::{
    ContainerCreateRequest, ContainerCreateResponse, ContainerInspect, ProcessExited, ProcessStarted,
};
use netctl_sandbox::{Bind, Entry, ProcessSpec};

use crate::cli::{ExecArgs, RunArgs};
use crate::client::{seg, Client};
use crate::foreground::{Foreground, Stdin};

pub async fn run(client: &Client, args: RunArgs) -> Result<i32> {
    if args.tty && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY");
    }
    let env = collect_env(&args.env, &args.env_file)?;
    let req = ContainerCreateRequest {
        name: args.name.clone(),
        hostname: args.hostname.clone(),
        cmd: args.cmd.clone(),
        env,
        working_dir: args.workdir.clone(),
        tty: args.tty,
        open_stdin: args.interactive,
        detach: args.detach,
        auto_remove: args.rm,
        network_mode: args.network.clone(),
        aliases: args.network_alias.clone(),
        ip_address: args.ip.clone(),
        ip6_address: args.ip6.clone(),
        mac_address: args.mac_address.clone(),
        dns: args.dns.clone(),
        dns_search: args.dns_search.clone(),
        dns_options: args.dns_option.clone(),
        exposed_ports: args.expose.clone(),
        port_bindings: args.publish.clone(),
        publish_all_ports: args.publish_all,
        links: args.link.clone(),
        labels: netctl_model::options::parse_key_values("label", args.label.iter().map(String::as_str))?,
    };
    let created: ContainerCreateResponse = client.post("/v1/containers", &req).await?;
    if args.detach {
        outln!("{}", created.id);
        return Ok(0);
    }
    let path = format!("/v1/containers/{}", seg(&created.id));
    let c: ContainerInspect = client.get(&path).await?;
    let spec = ProcessSpec {
        cmd: c.config.cmd.clone(),
        env: c.config.env.clone(),
        workdir: workdir(&c.config.working_dir),
        entry: Entry::New {
            netns: (!c.network_settings.sandbox_key.is_empty())
                .then(|| PathBuf::from(&c.network_settings.sandbox_key)),
            hostname: c.config.hostname.clone(),
            binds: vec![
                Bind { source: c.hosts_path.clone().into(), target: "/etc/hosts".into() },
                Bind { source: c.resolv_conf_path.clone().into(), target: "/etc/resolv.conf".into() },
                Bind { source: c.hostname_path.clone().into(), target: "/etc/hostname".into() },
            ],
        },
        cgroup: (!c.cgroup_path.is_empty()).then(|| PathBuf::from(&c.cgroup_path)),
    };
    let stdin = if args.interactive || args.tty { Stdin::Inherit } else { Stdin::Null };
    let code = match Foreground::spawn(&spec, stdin) {
        Ok(proc) => {
            client.post_unit(&format!("{path}/started"), &ProcessStarted { pid: proc.pid() }).await?;
            proc.wait().await?
        }
        Err(e) => {
            eprintln!("Error: cannot start {:?}: {e}", spec.cmd[0]);
            netctl_sandbox::spawn_error_code(&e)
        }
    };
    client.post_unit(&format!("{path}/exited"), &ProcessExited { exit_code: code }).await?;
    if args.rm {
        client.delete(&format!("{path}?force=1")).await?;
    }
    Ok(code)
}

pub async fn exec(client: &Client, args: ExecArgs) -> Result<i32> {
    if args.tty && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY");
    }
    let c: ContainerInspect = client.get(&format!("/v1/containers/{}", seg(&args.container))).await?;
    if !c.state.running {
        bail!("container {} is not running", c.name.trim_start_matches('/'));
    }
    let entry = if c.origin == "attached" {
        Entry::JoinNetns { netns: PathBuf::from(&c.network_settings.sandbox_key) }
    } else {
        Entry::Join { pid: c.state.pid }
    };
    let mut env = c.config.env.clone();
    for kv in collect_env(&args.env, &[])? {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    let spec = ProcessSpec {
        cmd: args.cmd.clone(),
        env,
        workdir: workdir(args.workdir.as_deref().unwrap_or(&c.config.working_dir)),
        entry,
        // An exec'd process is the container's too: stop and rm end it.
        cgroup: (!c.cgroup_path.is_empty()).then(|| PathBuf::from(&c.cgroup_path)),
    };
    let stdin = if args.interactive || args.tty { Stdin::Inherit } else { Stdin::Null };
    match Foreground::spawn(&spec, stdin) {
        Ok(proc) => proc.wait().await,
        Err(e) => {
            eprintln!("Error: cannot start {:?}: {e}", spec.cmd[0]);
            Ok(netctl_sandbox::spawn_error_code(&e))
        }
    }
}

fn workdir(dir: &str) -> Option<PathBuf> {
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// `-e K=V`, `-e K` (the caller's value, skipped if unset) and `--env-file` lines, as docker reads them.
pub fn collect_env(env: &[String], files: &[PathBuf]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read env file {}", file.display()))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            push_env(&mut out, line)?;
        }
    }
    for e in env {
        push_env(&mut out, e)?;
    }
    Ok(out)
}

fn push_env(out: &mut Vec<String>, item: &str) -> Result<()> {
    match item.split_once('=') {
        Some(("", _)) => bail!("invalid environment variable {item:?}: empty name"),
        Some(_) => out.push(item.to_string()),
        None => {
            if let Ok(v) = std::env::var(item) {
                out.push(format!("{item}={v}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_from_args_and_files() {
        let dir = std::env::temp_dir().join(format!("netctl-env-{}", std::process::id()));
        std::fs::write(&dir, "# comment\nA=1\n\nB=two words\n").unwrap();
        std::env::set_var("NETCTL_TEST_PASSED", "yes");
        let env = collect_env(
            &["C=3".into(), "NETCTL_TEST_PASSED".into(), "NETCTL_TEST_UNSET_X".into()],
            std::slice::from_ref(&dir),
        )
        .unwrap();
        assert_eq!(env, vec!["A=1", "B=two words", "C=3", "NETCTL_TEST_PASSED=yes"]);
        assert!(collect_env(&["=x".into()], &[]).is_err());
        std::fs::remove_file(dir).unwrap();
    }
}
