use std::net::{Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use ipnetwork::IpNetwork;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteType};
use rtnetlink::RouteMessageBuilder;

use crate::error::{KernelError, Result};
use crate::Netlink;

const RT_TABLE_MAIN: u32 = 254;

impl Netlink {
    /// Destinations of the host's IPv4 unicast routes in the main table, default
    /// route excluded: the subnets IPAM must not hand out, as Docker avoids them.
    pub async fn ipv4_route_destinations(&self) -> Result<Vec<IpNetwork>> {
        self.route_destinations(RouteMessageBuilder::<Ipv4Addr>::new().build()).await
    }

    /// The same for IPv6 (link-local and multicast routes are never candidates).
    pub async fn ipv6_route_destinations(&self) -> Result<Vec<IpNetwork>> {
        self.route_destinations(RouteMessageBuilder::<Ipv6Addr>::new().build()).await
    }

    async fn route_destinations(
        &self,
        request: netlink_packet_route::route::RouteMessage,
    ) -> Result<Vec<IpNetwork>> {
        let mut stream = self.handle.route().get(request).execute();
        let mut out = Vec::new();
        while let Some(msg) = stream.try_next().await.map_err(|e| KernelError::netlink("list routes", e))? {
            if msg.header.kind != RouteType::Unicast || msg.header.destination_prefix_length == 0 {
                continue;
            }
            let mut table = msg.header.table as u32;
            let mut dest = None;
            for attr in &msg.attributes {
                match attr {
                    RouteAttribute::Table(t) => table = *t,
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                        dest = Some(std::net::IpAddr::V4(*ip))
                    }
                    RouteAttribute::Destination(RouteAddress::Inet6(ip)) => {
                        dest = Some(std::net::IpAddr::V6(*ip))
                    }
                    _ => {}
                }
            }
            if table != RT_TABLE_MAIN {
                continue;
            }
            if let Some(ip) = dest {
                if let Ok(net) = IpNetwork::new(ip, msg.header.destination_prefix_length) {
                    out.push(net);
                }
            }
        }
        Ok(out)
    }
}
