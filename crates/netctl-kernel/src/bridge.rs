//! Linux bridges that carry netctl networks.

use ipnetwork::IpNetwork;
use rtnetlink::{LinkBridge, LinkMessageBuilder};

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

    /// The bridge's hardware address, given at creation so that it never changes.
    /// Left to the kernel, a bridge takes the lowest address among its ports, which
    /// moves as containers come and go; a container that cached the old one for its
    /// gateway then sends frames the host drops as not its own, and loses the
    /// gateway until its ARP entry expires (up to about a minute). Docker pins its
    /// bridges' addresses for the same reason. Derived from the network id, so a
    /// bridge made again after a reboot has the same one.
    pub fn mac(&self) -> [u8; 6] {
        // FNV-1a: any id string gives a stable, well-spread value.
        let hash = self
            .network_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
        let h = hash.to_be_bytes();
        // Locally administered, unicast.
        [0x02, h[0], h[1], h[2], h[3], h[4]]
    }
}

/// What `ensure_bridge` had to mend.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BridgeRepair {
    pub created: bool,
    pub addresses_added: Vec<IpNetwork>,
    pub brought_up: bool,
    /// A bridge made before addresses were given at creation had its current
    /// address pinned, so that the containers' cached gateway address stays right.
    pub address_pinned: bool,
    /// Ours, with the marker of an earlier id of this network: marked anew.
    pub marker_renewed: bool,
}

impl BridgeRepair {
    pub fn is_noop(&self) -> bool {
        !self.created
            && self.addresses_added.is_empty()
            && !self.brought_up
            && !self.address_pinned
            && !self.marker_renewed
    }
}

impl Netlink {
    /// Creates the bridge with its addresses, up. On any failure after the link
    /// exists, the link is deleted again so nothing is left half made.
    pub async fn create_bridge(&self, spec: &BridgeSpec<'_>) -> Result<u32> {
        // Multicast snooping off: netctl's bridges have no querier, so snooping
        // never narrowed anything (without one the bridge floods all multicast),
        // and the MLD reports it would learn from are dropped at the bridge
        // (firewall::rules, `table bridge netctl`); a querier appearing later
        // (one in a container) must not make it forward by entries it never got.
        let msg = LinkBridge::new(spec.name)
            .mtu(spec.mtu)
            .address(spec.mac().to_vec())
            .mcast_snooping(false)
            .build();
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
    /// MTU set and up, its hardware address fixed. Addresses someone else added are
    /// left alone.
    pub async fn ensure_bridge(&self, spec: &BridgeSpec<'_>) -> Result<BridgeRepair> {
        let Some(link) = self.link_by_name(spec.name).await? else {
            self.create_bridge(spec).await?;
            return Ok(BridgeRepair { created: true, ..Default::default() });
        };
        let mut repair = BridgeRepair::default();
        // Snooping off on bridges made before netctl turned it off at creation
        // (create_bridge says why); setting it again is harmless.
        let snooping = LinkMessageBuilder::<LinkBridge>::new(spec.name).mcast_snooping(false).build();
        self.handle
            .link()
            .change(snooping)
            .execute()
            .await
            .map_err(|e| KernelError::netlink(format!("turn multicast snooping off on {}", spec.name), e))?;
        // One of ours made for an earlier record of this network (its state
        // made anew): it carries this network's marker from now on.
        if link.alias.as_deref().is_some_and(|a| a.starts_with("netctl:") && a != spec.marker()) {
            self.set_alias(link.index, &spec.marker()).await?;
            repair.marker_renewed = true;
        }
        if link.address != spec.mac() {
            // Not ours to change now: containers on it have cached the current one.
            self.set_address(link.index, &link.address).await?;
            repair.address_pinned = true;
        }
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
