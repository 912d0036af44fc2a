//! Netlink connections inside containers' namespaces, kept for the most recently
//! used containers only. Opening one costs a thread that enters the namespace
//! (about 2 ms of a connect), but each kept one holds a socket and ~12 KiB, which
//! for every container of a busy host would be most of the daemon's memory.

use std::collections::{HashMap, VecDeque};

use netctl_kernel::Netlink;

/// Enough for bursts of `run` + `connect` on recent containers.
pub const KEEP: usize = 64;

#[derive(Default)]
pub struct NetnsLinks {
    links: HashMap<String, Netlink>,
    /// Least recently inserted first; ids of forgotten ones are skipped lazily.
    order: VecDeque<String>,
}

impl NetnsLinks {
    pub fn get(&self, container_id: &str) -> Option<Netlink> {
        self.links.get(container_id).cloned()
    }

    pub fn insert(&mut self, container_id: String, link: Netlink) {
        if self.links.insert(container_id.clone(), link).is_none() {
            self.order.push_back(container_id);
        }
        while self.links.len() > KEEP {
            match self.order.pop_front() {
                Some(old) => {
                    self.links.remove(&old);
                }
                None => break,
            }
        }
        // Forgotten ids pile up in `order` only until it is twice the cap.
        if self.order.len() > 2 * KEEP {
            let links = &self.links;
            self.order.retain(|id| links.contains_key(id));
        }
    }

    pub fn remove(&mut self, container_id: &str) {
        self.links.remove(container_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_only_the_most_recent() {
        let mut links = NetnsLinks::default();
        let nl = Netlink::connect().expect("a netlink socket");
        for i in 0..KEEP + 10 {
            links.insert(format!("c{i}"), nl.clone());
        }
        assert!(links.get("c0").is_none() && links.get("c9").is_none());
        assert!(links.get("c10").is_some() && links.get(&format!("c{}", KEEP + 9)).is_some());
        links.remove("c10");
        assert!(links.get("c10").is_none());
        // Re-inserting a kept id does not make it count twice.
        links.insert("c11".into(), nl.clone());
        assert_eq!(links.links.len(), KEEP - 1);
        for i in 0..3 * KEEP {
            links.insert(format!("d{i}"), nl.clone());
            links.remove(&format!("d{i}"));
        }
        assert!(links.order.len() <= 2 * KEEP + 1, "forgotten ids are pruned");
    }
}
