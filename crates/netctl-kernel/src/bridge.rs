//! Linux bridges that carry netctl networks.

use ipnetwork::IpNetwork;
use rtnetlink::LinkBridge;

use crate::error::{KernelError, Result};
use crate::Netlink;

/// Written into each bridge's alias (IFLA_IFALIAS) followed by the network id, so
/// the daemon can tell its own bridges from everyone else's, whatever their names.
pub const OWNER_MARKER_PREFIX: &str = "netctl:";

#[derive(Debug, Clone)]
pub struct BridgeSpec<'a> {
    pub name: &'a str,
    pub mtu: u32,
    pub addresses: &'a [IpNetwork],
    pub network_id: &'a str,
}

impl BridgeSpec<'_> {
    pub fn marker(&self) -> String {
        format!("{OWNER_MARKER_PREFIX}{}", self.network_id)
    }
}

/// What `ensure_bridge` had to mend.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BridgeRepair {
    pub created: bool,
    pub addresses_added: Vec<IpNetwork>,
    pub brought_up: bool,
}

impl BridgeRepair {
    pub fn is_noop(&self) -> bool {
        !self.created && self.addresses_added.is_empty() && !self.brought_up
    }
}

impl Netlink {
    /// Creates the bridge with its addresses, up. On any failure after the link
    /// exists, the link is deleted again so nothing is left half made.
    pub async fn create_bridge(&self, spec: &BridgeSpec<'_>) -> Result<u32> {
        let msg = LinkBridge::new(spec.name).mtu(spec.mtu).build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| KernelError::netlink(format!("create bridge {}", spec.name), e))?;
        match self.finish_bridge(spec).await {
            Ok(index) => Ok(index),
            Err(err) => {
                if let Err(cleanup) = self.delete_link(spec.name).await {
                    tracing::warn!(bridge = spec.name, error = %cleanup, "rollback of half-made bridge failed");
                }
                Err(err)
            }
        }
    }

    async fn finish_bridge(&self, spec: &BridgeSpec<'_>) -> Result<u32> {
        let link = self.link_by_name(spec.name).await?.ok_or_else(|| KernelError::Other {
            op: format!("create bridge {}", spec.name),
            message: "the bridge vanished right after it was made".into(),
        })?;
        self.set_alias(link.index, &spec.marker()).await?;
        for addr in spec.addresses {
            self.add_address(link.index, *addr).await?;
        }
        Ok(link.index)
    }

    /// Makes the bridge exist as specified: created if missing, its addresses and
    /// MTU set and up. Addresses someone else added are left alone.
    pub async fn ensure_bridge(&self, spec: &BridgeSpec<'_>) -> Result<BridgeRepair> {
        let Some(link) = self.link_by_name(spec.name).await? else {
            self.create_bridge(spec).await?;
            return Ok(BridgeRepair { created: true, ..Default::default() });
        };
        let mut repair = BridgeRepair::default();
        let present = self.addresses(link.index).await?;
        for addr in spec.addresses {
            if !present.contains(addr) {
                self.add_address(link.index, *addr).await?;
                repair.addresses_added.push(*addr);
            }
        }
        if !link.up || link.mtu != spec.mtu {
            self.set_link_up(link.index, Some(spec.mtu)).await?;
            repair.brought_up = !link.up;
        }
        Ok(repair)
    }

    /// Bridges carrying netctl's marker, as (device name, network id).
    pub async fn owned_bridges(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .links()
            .await?
            .into_iter()
            .filter(|l| l.kind.as_deref() == Some("bridge"))
            .filter_map(|l| {
                let id = l.alias.as_deref()?.strip_prefix(OWNER_MARKER_PREFIX)?.to_string();
                Some((l.name, id))
            })
            .collect())
    }
}
