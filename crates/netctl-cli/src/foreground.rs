//! Running a container's process in the foreground, as `docker run` does: stdio is
//! the caller's; on a terminal the process gets its own process group in the
//! foreground, so Ctrl-C and job control reach it and not us; signals sent to us are
//! passed on; we return its exit code (128+N if killed by signal N).

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};

use anyhow::{Context, Result};
use netctl_sandbox::ProcessSpec;
use nix::sys::signal::{self, SigHandler, Signal};
use nix::unistd::{getpgrp, tcsetpgrp, Pid};

/// Signals passed on to the process when they are sent to netctl itself.
const FORWARDED: [Signal; 6] =
    [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2];

pub struct Foreground {
    child: Child,
    /// The terminal we handed to the child, to take back when it ends.
    terminal: bool,
}

/// How the process's stdin is wired: Docker gives it stdin only with `-i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdin {
    Inherit,
    Null,
}

impl Foreground {
    /// Starts the process; an error here means it never ran (e.g. not found).
    pub fn spawn(spec: &ProcessSpec, stdin: Stdin) -> std::io::Result<Self> {
        let mut cmd = netctl_sandbox::command(spec)?;
        let terminal = stdin == Stdin::Inherit && std::io::stdin().is_terminal();
        cmd.stdin(match stdin {
            Stdin::Inherit => Stdio::inherit(),
            Stdin::Null => Stdio::null(),
        });
        if terminal {
            unsafe {
                cmd.pre_exec(|| {
                    nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                    Ok(())
                });
            }
        }
        let child = cmd.spawn()?;
        if terminal {
            // Taking the terminal back later would stop us with SIGTTOU otherwise.
            unsafe {
                let _ = signal::signal(Signal::SIGTTOU, SigHandler::SigIgn);
            }
            let pid = Pid::from_raw(child.id() as i32);
            // The child may not have called setpgid yet; do it from here too.
            let _ = nix::unistd::setpgid(pid, pid);
            let _ = tcsetpgrp(std::io::stdin().as_fd(), pid);
        }
        Ok(Self { child, terminal })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process, passing on signals sent to us; returns Docker's exit code.
    pub async fn wait(self) -> Result<i32> {
        let Self { mut child, terminal } = self;
        let pid = Pid::from_raw(child.id() as i32);
        let mut streams = Vec::new();
        for sig in FORWARDED {
            let kind = tokio::signal::unix::SignalKind::from_raw(sig as i32);
            streams.push((sig, tokio::signal::unix::signal(kind).context("install signal handler")?));
        }
        let waiter = tokio::task::spawn_blocking(move || child.wait());
        tokio::pin!(waiter);
        let status = loop {
            let forwarded = futures_select(&mut streams);
            tokio::select! {
                status = &mut waiter => break status.context("wait task")?.context("wait for process")?,
                sig = forwarded => { let _ = signal::kill(pid, sig); }
            }
        };
        if terminal {
            let _ = tcsetpgrp(std::io::stdin().as_fd(), getpgrp());
        }
        Ok(netctl_sandbox::exit_code(status))
    }
}

/// The next of several signal streams to fire.
async fn futures_select(streams: &mut [(Signal, tokio::signal::unix::Signal)]) -> Signal {
    let futures = streams.iter_mut().map(|(sig, s)| {
        let sig = *sig;
        Box::pin(async move {
            s.recv().await;
            sig
        })
    });
    futures::future::select_all(futures).await.0
}
