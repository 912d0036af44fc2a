//! The fast path's lookup: one family's addresses of a name written into the
//! caller's buffer without allocating, or None when the general path must answer.

use std::net::IpAddr;

use super::{Answer, PlacedView, Zone};

/// A local answer of the fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// This many addresses were written (0: NODATA).
    Found(usize),
    NxDomain,
    Refused,
}

impl Zone {
    /// `lookup` for an already lowercased name without the trailing dot, writing
    /// the addresses of one family into `out` (in a random order when there are
    /// several, as Docker shuffles them) without allocating. None when the general path must answer (the
    /// name is to be forwarded, or there are more holders than `out` holds).
    pub fn lookup_fast(
        &self,
        view: Option<&PlacedView>,
        name: &[u8],
        v6: bool,
        out: &mut [IpAddr],
    ) -> Option<Local> {
        let Some(view) = view else { return Some(Local::Refused) };
        let mut n = 0;
        let mut overflow = false;
        let found = self.for_each_holder(view, name, |addrs| {
            for ip in addrs.iter().filter(|ip| ip.is_ipv6() == v6) {
                if n == out.len() {
                    overflow = true;
                } else if !out[..n].contains(ip) {
                    out[n] = *ip;
                    n += 1;
                }
            }
        });
        if overflow {
            return None;
        }
        if found {
            if n > 1 {
                super::shuffle(&mut out[..n]);
            }
            return Some(Local::Found(n));
        }
        match self.not_found(&view.view, name) {
            Answer::NxDomain => Some(Local::NxDomain),
            Answer::Refused => Some(Local::Refused),
            _ => None,
        }
    }
}
