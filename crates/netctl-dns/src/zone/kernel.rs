//! What of the zone the kernel's fast path (crate netctl-ebpf) may answer, in
//! the shape of its maps: per (network slot, family, single-label name) the
//! addresses held there, and per container the slots of its networks. The
//! kernel answers a name only when exactly one of the asker's networks holds it
//! (no union to make) and the view has no link aliases; everything else is left
//! to this crate's resolver, so both paths answer alike.

use std::collections::HashMap;
use std::net::IpAddr;

use super::Zone;

/// Longest name the kernel takes: one label.
pub const KERNEL_MAX_NAME: usize = 63;
/// Most networks of one view the kernel looks through; more: userspace answers.
pub const KERNEL_MAX_SLOTS: usize = 8;

/// One entry of the kernel's names map.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KernelKey {
    pub slot: u32,
    pub v6: bool,
    /// Lowercase, one label of `[a-z0-9_-]`.
    pub name: Vec<u8>,
}

/// One container's entry in the kernel's views map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelView {
    pub slots: Vec<u32>,
    /// The kernel cannot say what this view sees (link aliases, too many
    /// networks): every question goes to userspace.
    pub pass: bool,
}

fn kernel_name(name: &[u8]) -> bool {
    (1..=KERNEL_MAX_NAME).contains(&name.len())
        && name.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_')
}

impl Zone {
    /// Every single-label name's addresses per network and family.
    pub fn kernel_names(&self) -> HashMap<KernelKey, Vec<IpAddr>> {
        let mut out = HashMap::new();
        for (name, holders) in self.names.iter().filter(|(n, _)| kernel_name(n)) {
            for h in holders {
                for v6 in [false, true] {
                    let addrs: Vec<IpAddr> =
                        h.addrs.iter().filter(|ip| ip.is_ipv6() == v6).copied().collect();
                    if !addrs.is_empty() {
                        out.insert(KernelKey { slot: h.slot, v6, name: name.to_vec() }, addrs);
                    }
                }
            }
        }
        out
    }

    /// The container's view as the kernel holds it; None: not a container served.
    pub fn kernel_view(&self, container_id: &str) -> Option<KernelView> {
        let v = self.views.get(container_id)?;
        let pass = !v.view.links.is_empty() || v.slots.len() > KERNEL_MAX_SLOTS;
        Some(KernelView { slots: v.slots.clone(), pass })
    }
}

/// Names and containers changed since the mirror last looked.
#[derive(Debug, Clone, Default)]
pub struct Touched {
    pub names: Vec<Vec<u8>>,
    pub containers: Vec<String>,
}

impl Zone {
    /// What changed since the last call; None: everything (a zone built whole, or
    /// never asked before). Recording starts with the first call, so a zone whose
    /// changes nobody takes keeps no list.
    pub fn take_kernel_touched(&mut self) -> Option<Touched> {
        self.kernel_touched.replace(Touched::default())
    }

    pub(super) fn touch_name(&mut self, name: &[u8]) {
        if let Some(t) = &mut self.kernel_touched {
            if kernel_name(name) {
                t.names.push(name.to_vec());
            }
        }
    }

    pub(super) fn touch_container(&mut self, id: &str) {
        if let Some(t) = &mut self.kernel_touched {
            t.containers.push(id.to_string());
        }
    }

    /// `kernel_names` of one name only.
    pub fn kernel_entries_of(&self, name: &[u8]) -> Vec<(KernelKey, Vec<IpAddr>)> {
        let mut out = Vec::new();
        for h in self.names.get(name).into_iter().flatten() {
            for v6 in [false, true] {
                let addrs: Vec<IpAddr> = h.addrs.iter().filter(|ip| ip.is_ipv6() == v6).copied().collect();
                if !addrs.is_empty() {
                    out.push((KernelKey { slot: h.slot, v6, name: name.to_vec() }, addrs));
                }
            }
        }
        out
    }
}
