//! The record of intent that makes every change of a container crash-safe.
//!
//! Before a change touches the kernel, its intent is written durably to
//! `<data-root>/intents/<container id>.json`: the container as it was (`before`)
//! and as the change will leave it (`after`), with every name the change will
//! make (the namespace pin, each endpoint's veth, the cgroup that will hold its
//! processes) already in `after`. The change then does its kernel work and commits
//! by saving the container with the intent's generation, then dropping the intent.
//!
//! At start, each intent left behind is settled before anything else: a change
//! that adds (create, connect, start) and did not commit is rolled back to
//! `before`; one that removes (rm, disconnect) is finished to `after`. Both are
//! the same work, the one teardown of `teardown.rs`: remove what the kept
//! version does not have. Reconcile's sweeps (marked veths, cgroups, bridges)
//! then catch whatever no record names. docs/decisions.md has the reasoning.

use netctl_model::container::Container;
use serde::{Deserialize, Serialize};

use crate::store::{Collection, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Undone unless committed: create, attach, connect, start.
    Adds,
    /// Finished once begun: rm, disconnect, the monitor's removals.
    Removes,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Intent {
    /// What the change is, for the log.
    pub op: String,
    pub direction: Direction,
    /// The container's generation once the change commits.
    pub generation: u64,
    pub before: Option<Container>,
    pub after: Option<Container>,
}

impl Intent {
    pub fn id(&self) -> &str {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .map(|c| c.id.as_str())
            .expect("an intent names a container")
    }

    /// The version to keep, given the container's stored version now.
    pub fn settle(&self, stored: Option<&Container>) -> Option<Container> {
        if stored.is_some_and(|s| s.generation == self.generation) {
            return stored.cloned();
        }
        match self.direction {
            Direction::Adds => self.before.clone(),
            Direction::Removes => self.after.clone(),
        }
    }
}

pub struct Journal {
    intents: Collection,
}

impl Journal {
    pub fn open(data_root: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Self { intents: Collection::open(data_root, "intents")? })
    }

    /// Writes the intent durably; the change may touch the kernel once this returns.
    pub fn begin(
        &self,
        op: &str,
        direction: Direction,
        before: Option<&Container>,
        after: Option<&mut Container>,
    ) -> Result<Intent, StoreError> {
        let generation = before.map_or(0, |c| c.generation) + 1;
        let after = after.map(|c| {
            c.generation = generation;
            c.clone()
        });
        let intent = Intent { op: op.into(), direction, generation, before: before.cloned(), after };
        self.intents.save(intent.id(), &intent)?;
        Ok(intent)
    }

    /// The change is committed (or undone): forget it.
    pub fn end(&self, intent: &Intent) -> Result<(), StoreError> {
        self.intents.remove(intent.id())
    }

    pub fn pending(&self) -> Result<Vec<Intent>, StoreError> {
        self.intents.load_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(generation: u64) -> Container {
        let mut c: Container = serde_json::from_value(serde_json::json!({
            "id": "c1", "name": "k1", "created": "2026-01-01T00:00:00Z", "hostname": "h",
            "origin": {"kind": "netctl"}, "network_mode": {"mode": "networks"},
            "process": {"cmd": ["sleep"], "env": [], "user_env": [], "workdir": null, "tty": false,
                        "interactive": false, "detach": true, "auto_remove": false},
            "state": {"status": "created", "pid": 0, "exit_code": 0, "started_at": null, "finished_at": null},
            "netns_path": null, "endpoints": []
        }))
        .expect("a container");
        c.generation = generation;
        c
    }

    #[test]
    fn an_uncommitted_addition_is_undone_and_a_removal_finished() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let before = container(3);
        let mut after = before.clone();
        let add = j.begin("connect", Direction::Adds, Some(&before), Some(&mut after)).unwrap();
        assert_eq!(after.generation, 4);
        // Not committed: the store still has generation 3.
        assert_eq!(add.settle(Some(&before)).unwrap().generation, 3);
        // Committed: the store has the intent's generation.
        assert_eq!(add.settle(Some(&after)).unwrap().generation, 4);
        let rm = j.begin("rm", Direction::Removes, Some(&before), None).unwrap();
        assert!(rm.settle(Some(&before)).is_none());
        assert_eq!(j.pending().unwrap().len(), 1, "one intent per container");
        j.end(&rm).unwrap();
        assert!(j.pending().unwrap().is_empty());
    }

    #[test]
    fn a_creation_cut_short_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let mut c = container(0);
        let i = j.begin("create", Direction::Adds, None, Some(&mut c)).unwrap();
        assert!(i.settle(None).is_none());
        let mut stored = c.clone();
        stored.generation = 0;
        assert!(i.settle(Some(&stored)).is_none());
    }
}
