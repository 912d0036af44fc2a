//! The event bus behind `GET /events`: every change that commits publishes one
//! Docker event message. A broadcast channel feeds live listeners; a bounded ring
//! of the most recent events answers `--since`. Publishing never blocks a change:
//! a listener that falls behind loses events (and is told so in the daemon's log),
//! the change does not wait for it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use netctl_model::container::Container;
use netctl_model::docker::events::Message;
use netctl_model::Network;
use tokio::sync::{broadcast, watch};

use crate::registry::Registry;

/// Events kept for `--since` (Docker keeps 256 in memory; a few hundred bytes each).
pub const RING_SIZE: usize = 1024;
/// How far a live listener may fall behind before it loses events.
const CHANNEL_SIZE: usize = 1024;

pub struct Events {
    tx: broadcast::Sender<Arc<Message>>,
    ring: Mutex<VecDeque<Arc<Message>>>,
    /// True once the daemon is stopping: open streams end, so that the server's
    /// graceful shutdown does not wait for `docker events` to hang up.
    closed: watch::Sender<bool>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CHANNEL_SIZE).0,
            ring: Mutex::new(VecDeque::with_capacity(RING_SIZE)),
            closed: watch::channel(false).0,
        }
    }
}

impl Events {
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    pub fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    pub fn publish(&self, msg: Message) {
        let msg = Arc::new(msg);
        let mut ring = self.ring.lock().expect("not poisoned");
        if ring.len() == RING_SIZE {
            ring.pop_front();
        }
        ring.push_back(msg.clone());
        // Sent under the ring's lock, so a subscriber sees each event exactly once:
        // either in its snapshot of the ring or on its channel.
        let _ = self.tx.send(msg);
    }

    /// The recent events, oldest first, and a receiver of every later one.
    pub fn subscribe(&self) -> (Vec<Arc<Message>>, broadcast::Receiver<Arc<Message>>) {
        let ring = self.ring.lock().expect("not poisoned");
        let rx = self.tx.subscribe();
        (ring.iter().cloned().collect(), rx)
    }

    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }

    /// `network create|destroy`, and `connect|disconnect` with the container.
    pub fn network(&self, action: &str, net: &Network, container: Option<&Container>) {
        let mut attrs = BTreeMap::from([
            ("name".to_string(), net.name.clone()),
            ("type".to_string(), net.driver.clone()),
        ]);
        if let Some(c) = container {
            attrs.insert("container".into(), c.id.clone());
        }
        self.publish(Message::new("network", action, &net.id, attrs));
    }

    /// `container create|start|die|stop|destroy|rename`, with extra attributes
    /// (`exitCode` for die, `oldName` for rename).
    pub fn container(&self, action: &str, c: &Container, extra: &[(&str, String)]) {
        let mut attrs = BTreeMap::from([("name".to_string(), c.name.clone())]);
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.publish(Message::new("container", action, &c.id, attrs));
    }

    /// A new container: `create`, `connect` to its first network, `start` if the
    /// daemon started it (Docker's order for `docker run -d`).
    pub fn container_created(&self, c: &Container, network: Option<&Network>) {
        self.container("create", c, &[]);
        if let Some(net) = network.filter(|n| c.endpoint_on(&n.id).is_some()) {
            self.network("connect", net, Some(c));
        }
        if c.is_running() {
            self.container("start", c, &[]);
        }
    }

    /// A container left all its networks and went (rm, auto-remove, namespace gone).
    pub fn container_removed(&self, c: &Container, registry: &Registry) {
        for ep in &c.endpoints {
            if let Some(net) = registry.network(&ep.network_id) {
                self.network("disconnect", net, Some(c));
            }
        }
        self.container("destroy", c, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(action: &str) -> Message {
        Message::new("network", action, "id", BTreeMap::new())
    }

    #[tokio::test]
    async fn ring_then_live_without_gap_or_duplicate() {
        let ev = Events::default();
        for i in 0..RING_SIZE + 5 {
            ev.publish(msg(&format!("a{i}")));
        }
        let (past, mut rx) = ev.subscribe();
        assert_eq!(past.len(), RING_SIZE, "the ring is bounded");
        assert_eq!(past[0].action, "a5", "the oldest went first");
        ev.publish(msg("live"));
        assert_eq!(rx.recv().await.unwrap().action, "live");
    }
}
