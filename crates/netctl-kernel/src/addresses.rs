use futures::TryStreamExt;
use ipnetwork::IpNetwork;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags};

use crate::error::{KernelError, Result};
use crate::Netlink;

impl Netlink {
    /// The addresses on one link, with their prefix lengths.
    pub async fn addresses(&self, index: u32) -> Result<Vec<IpNetwork>> {
        let mut stream = self.handle.address().get().set_link_index_filter(index).execute();
        let mut out = Vec::new();
        while let Some(msg) =
            stream.try_next().await.map_err(|e| KernelError::netlink("list addresses", e))?
        {
            let prefix = msg.header.prefix_len;
            for attr in msg.attributes {
                // IFA_LOCAL is the interface's own address on point-to-point links;
                // IFA_ADDRESS is it on everything else. A bridge has only the latter.
                if let AddressAttribute::Address(ip) = attr {
                    if let Ok(net) = IpNetwork::new(ip, prefix) {
                        out.push(net);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Adds an address. An IPv6 one skips duplicate address detection (IFA_F_NODAD):
    /// netctl assigned it and knows it is unique, and a tentative address would
    /// leave the gateway or the container unreachable for a second or more.
    pub async fn add_address(&self, index: u32, addr: IpNetwork) -> Result<()> {
        let mut req = self.handle.address().add(index, addr.ip(), addr.prefix());
        if addr.is_ipv6() {
            let msg = req.message_mut();
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        req.execute().await.map_err(|e| KernelError::netlink(format!("add address {addr}"), e))
    }
}
