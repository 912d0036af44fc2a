//! A container's endpoint on a network: a veth pair whose host end is a port of the
//! network's bridge and whose other end is created directly inside the container's
//! namespace under its final name (`eth0`, …), then addressed and brought up there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};

use ipnetwork::IpNetwork;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{KernelError, Result};
use crate::Netlink;

#[derive(Debug, Clone)]
pub struct EndpointSpec<'a> {
    pub host_ifname: &'a str,
    /// Alias of the host end, so leftovers can be recognised as ours.
    pub host_alias: String,
    pub container_ifname: &'a str,
    pub mac: [u8; 6],
    pub mtu: u32,
    pub bridge: &'a str,
    pub addresses: &'a [IpNetwork],
    /// Default routes through these gateways (the container's first network only):
    /// IPv4, IPv6 or both.
    pub gateways: &'a [IpAddr],
}

impl Netlink {
    /// `self` is the host's connection, `inside` one opened in the container's
    /// namespace `netns`. On failure the veth pair is deleted again.
    pub async fn create_endpoint(
        &self,
        inside: &Netlink,
        netns: &impl AsFd,
        spec: &EndpointSpec<'_>,
    ) -> Result<()> {
        let bridge = self.link_by_name(spec.bridge).await?.ok_or_else(|| KernelError::Other {
            op: format!("attach to bridge {}", spec.bridge),
            message: "the bridge does not exist".into(),
        })?;
        let peer = LinkUnspec::new_with_name(spec.container_ifname)
            .address(spec.mac.to_vec())
            .mtu(spec.mtu)
            .setns_by_fd(netns.as_fd().as_raw_fd())
            .build();
        let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(spec.host_ifname.to_string())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .mtu(spec.mtu)
            .controller(bridge.index)
            .link_group(crate::PORT_GROUP)
            .build();
        let add = self.handle.link().add(msg).execute();
        // The interface is born with IPv6 (and the namespace's quiet defaults) when
        // netctl holds the namespace's switch; else its settings are written after.
        let (added, born_with_ipv6) = if spec.addresses.iter().any(IpNetwork::is_ipv6) {
            crate::netns::with_ipv6_born(netns, add).await
        } else {
            (add.await, false)
        };
        added.map_err(|e| KernelError::netlink(format!("create veth {}", spec.host_ifname), e))?;
        let configured = match self.link_by_name(spec.host_ifname).await {
            Ok(Some(host_end)) => {
                // The container's side only once the host's is done.
                match self.finish_host_end(host_end.index, spec).await {
                    Ok(()) => configure_inside(inside, netns, spec, born_with_ipv6).await,
                    Err(e) => Err(e),
                }
            }
            Ok(None) => Err(KernelError::Other {
                op: format!("create veth {}", spec.host_ifname),
                message: "the host end vanished".into(),
            }),
            Err(e) => Err(e),
        };
        if let Err(e) = configured {
            if let Err(undo) = self.delete_link(spec.host_ifname).await {
                tracing::warn!(veth = spec.host_ifname, error = %undo, "rollback of half-made endpoint failed");
            }
            return Err(e);
        }
        Ok(())
    }
}

impl Netlink {
    /// Marks the host end as ours, turns IPv6 off on it (a bridge port needs no
    /// addresses of its own; see netns::create_pinned_netns), then brings it up.
    async fn finish_host_end(&self, index: u32, spec: &EndpointSpec<'_>) -> Result<()> {
        self.set_alias(index, &spec.host_alias).await?;
        // Best effort: the file is absent on kernels without IPv6.
        if let Some(conf) = crate::sysctl::host_conf() {
            let key = format!("{}/disable_ipv6", spec.host_ifname);
            let _ = crate::sysctl::write_all_at(conf, "/proc/sys/net/ipv6/conf", &[(&key, "1")]);
        }
        self.set_link_up(index, None).await
    }
}

async fn configure_inside(
    inside: &Netlink,
    netns: &impl AsFd,
    spec: &EndpointSpec<'_>,
    born_with_ipv6: bool,
) -> Result<()> {
    if spec.addresses.iter().any(IpNetwork::is_ipv6) && !born_with_ipv6 {
        enable_ipv6_inside(netns, spec.container_ifname).await?;
    }
    let link = inside.link_by_name(spec.container_ifname).await?.ok_or_else(|| KernelError::Other {
        op: format!("configure {}", spec.container_ifname),
        message: "the veth end did not arrive in the container's namespace".into(),
    })?;
    for addr in spec.addresses {
        inside.add_address(link.index, *addr).await?;
    }
    inside.set_link_up(link.index, None).await?;
    for gw in spec.gateways {
        inside.add_default_route(*gw, link.index).await?;
    }
    Ok(())
}

/// IPv6 on the container's interface only (the namespace's default is off, see
/// netns::create_pinned_netns), quiet (sysctl::QUIET_IPV6; its addresses are added
/// with NODAD too), for an interface not born with it: written in the container's
/// namespace, where its /proc/sys/net is.
async fn enable_ipv6_inside(netns: &impl AsFd, ifname: &str) -> Result<()> {
    let dir = format!("/proc/sys/net/ipv6/conf/{ifname}");
    crate::netns::run_in_netns_async(netns, move || {
        let dirfd = crate::sysctl::open_dir(&dir)?;
        crate::sysctl::write_all_at(&dirfd, &dir, &crate::sysctl::QUIET_IPV6)?;
        crate::sysctl::write_all_at(&dirfd, &dir, &[("disable_ipv6", "0")])
    })
    .await
}

impl Netlink {
    pub async fn add_default_route(&self, gateway: IpAddr, oif: u32) -> Result<()> {
        let msg = match gateway {
            IpAddr::V4(gw) => {
                RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw).output_interface(oif).build()
            }
            IpAddr::V6(gw) => {
                RouteMessageBuilder::<Ipv6Addr>::new().gateway(gw).output_interface(oif).build()
            }
        };
        self.handle
            .route()
            .add(msg)
            .execute()
            .await
            .map_err(|e| KernelError::netlink(format!("add default route via {gateway}"), e))
    }

    /// Brings `lo` up: a new namespace has it down.
    pub async fn loopback_up(&self) -> Result<()> {
        let lo = self.link_by_name("lo").await?.ok_or_else(|| KernelError::Other {
            op: "bring lo up".into(),
            message: "no loopback device".into(),
        })?;
        self.set_link_up(lo.index, None).await
    }
}
