//! Processes of containers. A detached container's process is started by a shim
//! (`netctld shim SPEC`, in its own session) that waits for it and writes its exit
//! code to a file: the process and its exit code outlive a daemon restart. A
//! process is named by pid *and* start time, so a reused pid is never mistaken for it.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use netctl_model::container::{Container, RunState, Status};
use netctl_sandbox::{Bind, Entry, ProcessSpec};
use serde::{Deserialize, Serialize};

use crate::cgroups::{CONTAINER_LEAF, SUPERVISOR_LEAF};
use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::sandbox_files::SandboxFiles;

/// What the shim needs to start a container's process.
#[derive(Debug, Serialize, Deserialize)]
pub struct ShimSpec {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<PathBuf>,
    pub netns: Option<PathBuf>,
    pub hostname: String,
    pub binds: Vec<(PathBuf, PathBuf)>,
    pub log_path: PathBuf,
    pub exit_path: PathBuf,
    /// The container's cgroup leaf its process joins; the shim kills what is left
    /// in it when the main process ends.
    #[serde(default)]
    pub cgroup: Option<PathBuf>,
}

impl ShimSpec {
    pub fn for_container(
        c: &Container,
        files: &SandboxFiles,
        log_path: PathBuf,
        cgroup: Option<PathBuf>,
    ) -> Self {
        Self {
            cmd: c.process.cmd.clone(),
            env: c.process.env.clone(),
            workdir: c.process.workdir.as_ref().map(PathBuf::from),
            netns: c.netns_path.clone(),
            hostname: c.hostname.clone(),
            binds: sandbox_binds(files),
            log_path,
            exit_path: files.dir.join("exit"),
            cgroup,
        }
    }
}

/// The container's files over the host's, in the container's own mount namespace.
pub fn sandbox_binds(files: &SandboxFiles) -> Vec<(PathBuf, PathBuf)> {
    vec![
        (files.hosts(), "/etc/hosts".into()),
        (files.resolv_conf(), "/etc/resolv.conf".into()),
        (files.hostname(), "/etc/hostname".into()),
    ]
}

impl Daemon {
    /// Starts the container's command through the shim; sets the state to running.
    /// The fork and the wait for the shim's answer run on the blocking pool: the
    /// caller holds the registry lock, and the runtime's workers serve others.
    pub(crate) async fn spawn_detached(&self, c: &mut Container) -> Result<()> {
        let files = SandboxFiles::new(&self.config.exec_root, &c.id);
        let log_path = self.log_path(&c.id);
        let io_err = |what: &str| {
            let what = what.to_string();
            move |e| DaemonError::Io(what, e)
        };
        crate::store::create_private_dir(log_path.parent().expect("in logs/"))
            .map_err(io_err("create logs directory"))?;
        let spec = ShimSpec::for_container(c, &files, log_path, self.cgroups.leaf(&c.id, CONTAINER_LEAF));
        let _ = fs::remove_file(&spec.exit_path);
        let spec_path = files.dir.join("process.json");
        crate::store::write_private(&spec_path, &serde_json::to_vec(&spec).expect("serializable"))
            .map_err(io_err("write process spec"))?;
        let exe = std::env::current_exe().map_err(io_err("find netctld's own binary"))?;
        let mut shim = Command::new(exe);
        shim.arg("shim").arg(&spec_path).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        // The service manager's variables are the daemon's alone.
        for var in
            ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"]
        {
            shim.env_remove(var);
        }
        // The shim joins the container's supervisor cgroup before it is even the
        // shim: whatever is left of a start cut short by a crash is found there.
        let supervisor = match self.cgroups.leaf(&c.id, SUPERVISOR_LEAF) {
            Some(leaf) => Some(
                fs::OpenOptions::new()
                    .write(true)
                    .open(leaf.join("cgroup.procs"))
                    .map_err(io_err("open the container's supervisor cgroup"))?,
            ),
            None => None,
        };
        // SAFETY: runs between fork and exec; write(2) on a descriptor opened above
        // and setsid(2), no allocation.
        unsafe {
            shim.pre_exec(move || {
                if let Some(procs) = &supervisor {
                    if libc::write(std::os::fd::AsRawFd::as_raw_fd(procs), b"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                nix::unistd::setsid().map(|_| ()).map_err(std::io::Error::from)
            });
        }
        let wakeup = self.monitor_wakeup.clone();
        let answer = tokio::task::spawn_blocking(move || -> Result<String> {
            let mut child = shim.spawn().map_err(io_err("start shim"))?;
            let mut line = String::new();
            let read = BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line);
            // The shim lives on as the process's parent; a thread reaps it when it ends.
            std::thread::spawn(move || {
                let _ = child.wait();
                wakeup.notify_one();
            });
            read.map_err(io_err("read shim's answer"))?;
            Ok(line)
        });
        let line =
            answer.await.map_err(|e| DaemonError::Io("start shim".into(), std::io::Error::other(e)))??;
        let line = line.trim();
        if let Some(pid) = line.strip_prefix("pid ").and_then(|p| p.parse::<u32>().ok()) {
            c.state = RunState {
                status: Status::Running,
                pid,
                pid_start: start_time(pid).unwrap_or(0),
                exit_code: 0,
                started_at: Some(Utc::now()),
                finished_at: None,
            };
            return Ok(());
        }
        let message = line.strip_prefix("error ").unwrap_or(line);
        Err(DaemonError::Model(netctl_model::ModelError::invalid(format!(
            "cannot start {:?}: {message}",
            c.process.cmd.first().map(String::as_str).unwrap_or("")
        ))))
    }
}

/// `netctld shim SPEC`: start the process, tell the daemon its pid on stdout,
/// wait for it, write its exit code.
pub fn shim_main(spec_path: &Path) -> ExitCode {
    let spec: ShimSpec = match fs::read(spec_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            println!("error cannot read {}: {e}", spec_path.display());
            return ExitCode::FAILURE;
        }
    };
    let log = match crate::store::create_private(&spec.log_path, false) {
        Ok(f) => f,
        Err(e) => {
            println!("error cannot open log {}: {e}", spec.log_path.display());
            return ExitCode::FAILURE;
        }
    };
    let process = ProcessSpec {
        cmd: spec.cmd.clone(),
        env: spec.env.clone(),
        workdir: spec.workdir.clone(),
        entry: Entry::New {
            netns: spec.netns.clone(),
            hostname: spec.hostname.clone(),
            binds: spec.binds.iter().map(|(s, t)| Bind { source: s.clone(), target: t.clone() }).collect(),
        },
        cgroup: spec.cgroup.clone(),
    };
    let spawned = netctl_sandbox::command(&process).and_then(|mut cmd| {
        cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log.try_clone()?);
        cmd.spawn()
    });
    let code = match spawned {
        Ok(mut child) => {
            println!("pid {}", child.id());
            let _ = std::io::stdout().flush();
            // Nobody reads our stdout any more; a write to it must not kill us.
            if let Ok(null) = File::open("/dev/null") {
                let _ = nix::unistd::dup2_stdout(&null);
            }
            match child.wait() {
                Ok(status) => netctl_sandbox::exit_code(status),
                Err(_) => -1,
            }
        }
        Err(e) => {
            println!("error {e}");
            let _ = writeln!(
                &log,
                "netctl: cannot start {:?}: {e}",
                spec.cmd.first().map(String::as_str).unwrap_or("")
            );
            netctl_sandbox::spawn_error_code(&e)
        }
    };
    // The exit code first: the daemon records the exit as soon as it sees it.
    let tmp = spec.exit_path.with_extension("tmp");
    let written = fs::write(&tmp, format!("{code}\n")).and_then(|_| fs::rename(&tmp, &spec.exit_path));
    // The main process is gone: so is everything it left running.
    if let Some(leaf) = &spec.cgroup {
        kill_leaf(leaf);
    }
    if written.is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Kills every process in a cgroup leaf and waits (up to 5 s) until it is empty.
fn kill_leaf(leaf: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let pids: Vec<i32> = fs::read_to_string(leaf.join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default();
        if pids.is_empty() {
            return;
        }
        if fs::write(leaf.join("cgroup.kill"), "1").is_err() {
            for pid in pids {
                // SAFETY: kill(2) on pids read from the container's own cgroup.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Start time of a process in clock ticks since boot (/proc/PID/stat field 22).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// True while `pid` is the process that started at `start` and is not a zombie.
pub fn is_alive(pid: u32, start: u64) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let Some(close) = stat.rfind(')') else { return false };
    let mut fields = stat[close + 2..].split_whitespace();
    let state = fields.next().unwrap_or("X");
    if state == "Z" || state == "X" {
        return false;
    }
    start == 0 || fields.nth(18).and_then(|s| s.parse::<u64>().ok()) == Some(start)
}

/// Sends `signal` and waits up to `timeout` for the process to go; true if it went.
pub async fn kill_and_wait(pid: u32, start: u64, signal: i32, timeout: Duration) -> bool {
    if pid == 0 || !is_alive(pid, start) {
        return true;
    }
    unsafe {
        libc::kill(pid as i32, signal);
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !is_alive(pid, start) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !is_alive(pid, start)
}

/// The exit code the shim wrote, if it has.
pub fn read_exit_code(files: &SandboxFiles) -> Option<i32> {
    fs::read_to_string(files.dir.join("exit")).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_named_by_start_time() {
        let me = std::process::id();
        let start = start_time(me).unwrap();
        assert!(is_alive(me, start));
        assert!(is_alive(me, 0));
        assert!(!is_alive(me, start + 1));
        assert!(!is_alive(u32::MAX - 1, 0));
    }
}
