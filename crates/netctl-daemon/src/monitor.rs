//! Notices, within a second, containers whose process ended or whose namespace
//! went away (another runtime's container stopped, its pin removed).

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;

use netctl_model::container::{Container, Origin};

use crate::cgroups::{CONTAINER_LEAF, SUPERVISOR_LEAF};
use crate::containers::mark_exited;
use crate::daemon::Daemon;
use crate::process;
use crate::sandbox_files::SandboxFiles;

const POLL: Duration = Duration::from_millis(250);

pub async fn run(daemon: Arc<Daemon>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = daemon.monitor_wakeup.notified() => {}
        }
        daemon.check_containers().await;
    }
}

enum Change {
    Exited(Container),
    Gone(Container),
}

impl Daemon {
    pub async fn check_containers(&self) {
        let mut registry = self.registry.lock().await;
        let changes: Vec<Change> = registry.containers().filter_map(|c| self.observe(c)).collect();
        if changes.is_empty() {
            return;
        }
        for change in changes {
            match change {
                Change::Exited(c) => {
                    tracing::info!(container = %c.name, exit_code = c.state.exit_code, "container exited");
                    if c.process.detach {
                        // A foreground run's client reports the exit (and its code) itself.
                        self.events.container("die", &c, &[("exitCode", c.state.exit_code.to_string())]);
                    }
                    // What the main process left behind goes with it, as in Docker.
                    self.cgroups.kill(&c.id, Some(CONTAINER_LEAF), Duration::from_secs(5)).await;
                    if c.process.auto_remove && c.process.detach {
                        if let Err(e) = self.remove_journaled(&mut registry, &c, "auto-remove").await {
                            tracing::error!(container = %c.name, error = %e, "cannot remove container");
                        }
                        continue;
                    }
                    if let Err(e) = self.containers_store.save(&c.id, &c) {
                        tracing::error!(container = %c.name, error = %e, "cannot save state");
                    }
                    let id = c.id.clone();
                    registry.update_container(c);
                    self.refresh_dns_for(&registry, &id);
                }
                Change::Gone(c) => {
                    tracing::info!(container = %c.name, "network namespace gone: container removed");
                    if let Err(e) = self.remove_journaled(&mut registry, &c, "namespace gone").await {
                        tracing::error!(container = %c.name, error = %e, "cannot remove container");
                    }
                }
            }
        }
    }

    fn observe(&self, c: &Container) -> Option<Change> {
        match &c.origin {
            Origin::Netctl if c.is_running() && c.state.pid != 0 => {
                if process::is_alive(c.state.pid, c.state.pid_start) {
                    return None;
                }
                let files = SandboxFiles::new(&self.config.exec_root, &c.id);
                // A foreground run's client reports the code itself; -1 until it does.
                // A detached one's shim writes it a moment after the process ends:
                // while the shim is still there, its code is awaited, not guessed.
                let code = match (c.process.detach, process::read_exit_code(&files)) {
                    (true, Some(code)) => code,
                    (true, None) if !self.cgroups.pids(&c.id, Some(SUPERVISOR_LEAF)).is_empty() => {
                        return None
                    }
                    _ => -1,
                };
                let mut c = c.clone();
                mark_exited(&mut c, code);
                Some(Change::Exited(c))
            }
            Origin::Attached { netns_path, dev, ino, .. } => match std::fs::metadata(netns_path) {
                Ok(m) if m.dev() == *dev && m.ino() == *ino => None,
                _ => Some(Change::Gone(c.clone())),
            },
            _ => None,
        }
    }
}
