//! `rename OLD NEW`: the name changes everywhere at once, and crash-safely.
//!
//! The name is more than a label here: netctl's own containers are pinned at
//! `/run/netns/<name>` (and `ip netns exec NAME` reads `/etc/netns/<name>`), so a
//! rename moves the pin too, else the old name could not be reused. It is a
//! journaled change like the others (journal.rs): the intent holds the container
//! as it was and as it will be; the new pin is made (a second bind mount of the
//! same namespace), the record committed, and only then the old pin goes. A crash
//! before the commit keeps the old name (the teardown removes the new pin, which
//! the kept version lacks), one after it keeps the new name (the old pin goes).
//!
//! Then, in the same registry lock: the resolver answers the new name and no
//! longer the old one, the linkers' /etc/hosts follow, and a `rename` event goes
//! out with Docker's `name` and `oldName`. The container's own /etc/hosts names
//! its hostname, not its name, so it stays, as in Docker.

use std::path::{Path, PathBuf};

use netctl_kernel::netns;
use netctl_model::container::{Container, Origin};
use netctl_model::ModelError;
use nix::mount::{mount, MsFlags};

use crate::daemon::Daemon;
use crate::error::{conflict, DaemonError, Result};
use crate::journal::Direction;
use crate::sandbox_files::ETC_NETNS;

impl Daemon {
    pub async fn rename_container(&self, key: &str, new_name: &str) -> Result<Container> {
        let new_name = new_name.trim_start_matches('/');
        if key.is_empty() || new_name.is_empty() {
            return Err(ModelError::invalid("Neither old nor new names may be empty").into());
        }
        let mut registry = self.registry.lock().await;
        let before = registry.find_container(key)?.clone();
        if before.name == new_name {
            return Err(
                ModelError::invalid("Renaming a container with the same name as its current name").into()
            );
        }
        let new_name = self.pick_container_name(&registry, Some(new_name)).map_err(|e| match e {
            DaemonError::Model(ModelError::Conflict(m)) => {
                conflict(format!("Error when allocating new name: {m}"))
            }
            DaemonError::Model(ModelError::Invalid(m)) => {
                ModelError::invalid(format!("Error when allocating new name: {m}")).into()
            }
            other => other,
        })?;
        let mut after = before.clone();
        after.name = new_name.clone();
        // netctl's own pin follows the name; another runtime's path is its own.
        let old_pin = before.netns_path.clone().filter(|p| {
            before.origin == Origin::Netctl && *p == Path::new(netns::NETNS_RUN_DIR).join(&before.name)
        });
        if old_pin.is_some() {
            let pin = Path::new(netns::NETNS_RUN_DIR).join(&new_name);
            if pin.exists() {
                return Err(conflict(format!(
                    "Error when allocating new name: a network namespace named {new_name} exists already ({})",
                    pin.display()
                )));
            }
            after.netns_path = Some(pin);
        }
        let intent = self.journal.begin("rename", Direction::Adds, Some(&before), Some(&mut after))?;
        let moved = async {
            crate::step!("rename.pin");
            if let (Some(old), Some(new)) = (&old_pin, &after.netns_path) {
                pin_again(old, new)?;
            }
            move_etc_netns(&before.name, &after.name);
            crate::step!("rename.commit");
            self.containers_store.save(&after.id, &after)?;
            Ok::<(), DaemonError>(())
        }
        .await;
        if let Err(e) = moved {
            move_etc_netns(&after.name, &before.name);
            self.undo(&mut registry, &intent, &after).await;
            return Err(e);
        }
        // Committed: the old pin goes. Should that fail, the intent stays and the
        // next start removes it (teardown: a pin the kept version does not have).
        // The crash tests abort here (a failure cannot be injected: it is committed).
        fail::fail_point!("rename.unpin", |_| std::process::abort());
        match old_pin.as_deref().map(netns::remove_pinned_netns).transpose() {
            Ok(_) => {
                if let Err(e) = self.journal.end(&intent) {
                    tracing::warn!(container = %after.name, error = %e, "cannot remove a committed rename's intent");
                }
            }
            Err(e) => {
                tracing::warn!(container = %after.name, error = %e, "cannot remove the old pin; the next start does")
            }
        }
        registry.update_container(after.clone());
        self.refresh_dns_for(&registry, &after.id);
        self.refresh_linkers(&registry, &after.id);
        tracing::info!(container = %after.name, old = %before.name, id = %after.short_id(), "container renamed");
        self.events.container("rename", &after, &[("oldName", format!("/{}", before.name))]);
        Ok(after)
    }
}

/// Pins the namespace pinned at `old` at `new` too (a bind mount of the same nsfs
/// file, as `ip netns attach` makes).
fn pin_again(old: &Path, new: &Path) -> Result<()> {
    let io = |what: &str, e: std::io::Error| DaemonError::Io(format!("{what} {}", new.display()), e);
    std::fs::OpenOptions::new().write(true).create_new(true).open(new).map_err(|e| io("create", e))?;
    if let Err(e) = mount(Some(old), new, Some("none"), MsFlags::MS_BIND, None::<&str>) {
        let _ = std::fs::remove_file(new);
        return Err(io("pin the network namespace at", std::io::Error::from(e)));
    }
    Ok(())
}

/// `/etc/netns/<old>` → `/etc/netns/<new>`, where `ip netns exec` looks (plain
/// copies of the files: best effort, nothing in the container reads them).
fn move_etc_netns(old: &str, new: &str) {
    let (from, to): (PathBuf, PathBuf) = (Path::new(ETC_NETNS).join(old), Path::new(ETC_NETNS).join(new));
    if from.is_dir() && !to.exists() {
        if let Err(e) = std::fs::rename(&from, &to) {
            tracing::warn!(from = %from.display(), error = %e, "cannot move the ip-netns files");
        }
    }
}
