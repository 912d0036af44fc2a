//! Everything netctl changes in the kernel: links, addresses and routes over
//! rtnetlink (never by running `ip`); namespaces, veths, and the nftables firewall.

mod addresses;
mod announce;
mod bridge;
pub mod dns_redirect;
mod endpoint;
mod error;
pub mod firewall;
mod links;
mod netlink;
pub mod netns;
mod nft_netlink;
mod routes;
mod sysctl;
mod vxlan;

pub use bridge::{BridgeRepair, BridgeSpec, OWNER_MARKER_PREFIX};
pub use endpoint::EndpointSpec;
pub use error::KernelError;
pub use links::LinkInfo;
pub use netlink::Netlink;
pub use vxlan::{VxlanRepair, VxlanSpec, VXLAN_OVERHEAD_IPV4, VXLAN_OVERHEAD_IPV6};

/// The link group of the host ends of netctl's veths (`ip link show group 28259`):
/// the firewall's `table bridge netctl` matches ports by it.
pub const PORT_GROUP: u32 = 28259;
