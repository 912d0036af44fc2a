//! Published ports of containers: the relays the daemon serves and the DNAT rules,
//! kept pointing at each container's current address.

use std::sync::{Arc, RwLock};

use netctl_model::container::Container;

use crate::daemon::Daemon;
use crate::error::{DaemonError, Result};
use crate::firewall::publish_target;
use crate::port_proxy::{self, BoundSocket};
use crate::registry::Registry;

impl Daemon {
    /// Serves the container's bound sockets and installs its DNAT rules.
    pub(crate) async fn publish_ports(
        &self,
        registry: &Registry,
        c: &Container,
        sockets: Vec<(BoundSocket, u16)>,
    ) -> Result<()> {
        if sockets.is_empty() {
            return Ok(());
        }
        let target = Arc::new(RwLock::new(publish_target(registry, c)));
        let relays = port_proxy::serve(sockets, target)
            .map_err(|e| DaemonError::Io("serve published ports".into(), e))?;
        self.relays.lock().expect("not poisoned").insert(c.id.clone(), relays);
        self.sync_firewall(registry).await
    }

    /// The container's address changed (connect, disconnect): its relays and rules follow.
    pub(crate) async fn retarget_ports(&self, registry: &Registry, c: &Container) {
        if c.ports.is_empty() {
            return;
        }
        if let Some(r) = self.relays.lock().expect("not poisoned").get(&c.id) {
            *r.target.write().expect("not poisoned") = publish_target(registry, c);
        }
        if let Err(e) = self.sync_firewall(registry).await {
            tracing::warn!(container = %c.name, error = %e, "cannot update the published ports' rules");
        }
    }

    /// After a restart: bind every container's published ports again, at the host
    /// ports they had. A port someone else took meanwhile is reported, not fatal.
    pub(crate) fn restore_published(&self, registry: &Registry) {
        for c in registry.containers().filter(|c| !c.ports.is_empty()) {
            let mut sockets = Vec::new();
            for b in &c.ports {
                let mut b = *b;
                match port_proxy::bind(&mut b) {
                    Ok(s) => sockets.extend(s.into_iter().map(|s| (s, b.container.port))),
                    Err(e) => tracing::error!(container = %c.name, error = %e, "cannot publish port again"),
                }
            }
            let target = Arc::new(RwLock::new(publish_target(registry, c)));
            match port_proxy::serve(sockets, target) {
                Ok(relays) => {
                    self.relays.lock().expect("not poisoned").insert(c.id.clone(), relays);
                }
                Err(e) => tracing::error!(container = %c.name, error = %e, "cannot serve published ports"),
            }
        }
    }
}
