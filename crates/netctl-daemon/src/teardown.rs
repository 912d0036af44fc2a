//! The one teardown: removes the parts of a container that the version to keep
//! does not have. `rm`, the monitor's removals, the rollback of a failed change and
//! reconcile's settling of an interrupted one all come here, so they remove the
//! same things in the same order, and each of its errors is collected and reported
//! instead of logged and dropped.
//!
//! Every step is idempotent (a veth, pin or cgroup that is already gone is fine),
//! because an interrupted change may have made only some of what its intent names.

use std::time::Duration;

use netctl_kernel::netns;
use netctl_model::container::{Container, Origin};

use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::registry::Registry;
use crate::sandbox_files::SandboxFiles;

/// What a teardown could not remove, each with its reason.
#[derive(Debug, Default)]
pub struct TeardownErrors(pub Vec<String>);

impl TeardownErrors {
    fn push(&mut self, what: impl std::fmt::Display, e: impl std::fmt::Display) {
        self.0.push(format!("{what}: {e}"));
    }

    pub fn into_result(self, container: &str) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DaemonError::Teardown(format!("container {container}: {}", self.0.join("; "))))
        }
    }
}

impl Daemon {
    /// Removes from the kernel and the disk what `c` has and `keep` (the version of
    /// the same container that stays, if any) does not. The registry's record is
    /// the caller's: see `settle`.
    pub(crate) async fn teardown(
        &self,
        registry: &mut Registry,
        c: &Container,
        keep: Option<&Container>,
    ) -> TeardownErrors {
        let mut errors = TeardownErrors::default();
        let ours = c.origin == Origin::Netctl;
        // Processes first, so none of them sees its network vanish.
        // Processes go unless the version kept is running: an intent's `after`
        // is written before its process starts, so it cannot say whether one did.
        if ours && !keep.is_some_and(|k| k.is_running()) {
            if self.cgroups.available() {
                if !self.cgroups.kill(&c.id, None, Duration::from_secs(5)).await {
                    errors.push("processes", "still alive 5 s after SIGKILL");
                } else if let Err(e) = self.cgroups.remove(&c.id) {
                    errors.push("cgroup", e);
                }
            } else if c.state.pid != 0 {
                crate::process::kill_and_wait(
                    c.state.pid,
                    c.state.pid_start,
                    libc::SIGKILL,
                    Duration::from_secs(5),
                )
                .await;
            }
        }
        if keep.is_none() {
            // netctl's own namespaces go with the container, rules and all.
            self.stop_listener(c, !ours);
            self.relays.lock().expect("not poisoned").remove(&c.id);
            self.forget_netlink_in(&c.id);
        }
        for ep in
            c.endpoints.iter().filter(|ep| !keep.is_some_and(|k| k.endpoints.iter().any(|e| e.id == ep.id)))
        {
            if let Err(e) = self.leave_network(registry, ep).await {
                errors.push(format!("veth {}", ep.host_ifname), e);
            }
        }
        if let Some(k) = keep {
            // A rename moves netctl's pin (rename.rs): the one the kept version lacks goes.
            if let (true, Some(pin), Some(kept)) = (ours, &c.netns_path, &k.netns_path) {
                if pin != kept {
                    if let Err(e) = netns::remove_pinned_netns(pin) {
                        errors.push(format!("namespace pin {}", pin.display()), e);
                    }
                }
            }
            return errors;
        }
        if let (true, Some(pin)) = (ours, &c.netns_path) {
            if let Err(e) = netns::remove_pinned_netns(pin) {
                errors.push(format!("namespace pin {}", pin.display()), e);
            }
        }
        if ours {
            SandboxFiles::new(&self.config.exec_root, &c.id).remove(&c.name);
        }
        match std::fs::remove_file(self.log_path(&c.id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => errors.push("log", e),
            _ => {}
        }
        if !c.ports.is_empty() && registry.container(&c.id).is_none() {
            if let Err(e) = self.sync_firewall(registry).await {
                errors.push("published ports' rules", e);
            }
        }
        if let Err(e) = self.containers_store.remove(&c.id) {
            errors.push("state file", e);
        }
        errors
    }

    /// Makes `keep` the container's one version (None: the container goes): tears
    /// down what `c` has beyond it, stores it, and brings the registry, the
    /// resolver, linkers' files and published ports in line. Errors are collected.
    pub(crate) async fn settle(
        &self,
        registry: &mut Registry,
        c: &Container,
        keep: Option<Container>,
    ) -> TeardownErrors {
        self.settle_versions(registry, &[c], keep).await
    }

    /// `settle` for several versions of one container that may each exist in part
    /// (reconcile: the intent's before and after, and the stored record): each gives
    /// up what `keep` lacks, then `keep` is stored and the rest brought in line once.
    pub(crate) async fn settle_versions(
        &self,
        registry: &mut Registry,
        versions: &[&Container],
        keep: Option<Container>,
    ) -> TeardownErrors {
        let Some(c) = versions.first() else { return TeardownErrors::default() };
        match &keep {
            None => {
                registry.remove_container(&c.id);
            }
            Some(k) => {
                if registry.container(&k.id).is_some() {
                    registry.update_container(k.clone());
                } else {
                    registry.insert_container(k.clone());
                }
            }
        }
        let mut errors = TeardownErrors::default();
        for v in versions {
            errors.0.extend(self.teardown(registry, v, keep.as_ref()).await.0);
        }
        if let Some(k) = &keep {
            if k.netns_path.as_ref().is_some_and(|p| p.exists()) {
                if let Err(e) = self.sync_listener(registry, k) {
                    errors.push("resolver listener", e);
                }
            }
            if let Err(e) = self.persist_container(registry, k) {
                errors.push("state", e);
            }
            self.retarget_ports(registry, k).await;
        }
        self.refresh_dns_for(registry, &c.id);
        self.refresh_linkers(registry, &c.id);
        errors
    }
}
