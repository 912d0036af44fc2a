//! The data plane of overlay networks: one VXLAN device per network on each host,
//! a port of the network's bridge, and, for every container on another host, the
//! entries that make its frames reach that host with nothing learnt and nothing
//! flooded (as flannel programs them): the device's forwarding entry (MAC → the
//! remote host's underlay address), a static entry on the bridge (MAC → the VXLAN
//! port, so unicast to it is never flooded to local ports) and permanent neighbour
//! entries (IP → MAC) from which the device's `proxy` answers ARP and neighbour
//! solicitations locally. Broadcasts go nowhere beyond the host: the device has no
//! group, no remote and no all-zeros entry. The control plane (etcd) decides what
//! to program; this module only programs it, idempotently.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, In6AddrGenMode, InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoVxlan,
    LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::AddressFamily;
use rtnetlink::{LinkBridgePort, LinkUnspec, LinkVxlan};

use crate::bridge::OWNER_MARKER_PREFIX;
use crate::error::{KernelError, Result};
use crate::Netlink;

/// Bytes VXLAN adds in front of each frame: outer IPv4 (20) + UDP (8) + VXLAN (8)
/// + the inner Ethernet header (14).
pub const VXLAN_OVERHEAD_IPV4: u32 = 50;
/// The same over an IPv6 underlay (outer header 40).
pub const VXLAN_OVERHEAD_IPV6: u32 = 70;

#[derive(Debug, Clone)]
pub struct VxlanSpec<'a> {
    pub name: &'a str,
    /// The network's VXLAN network identifier, < 2^24.
    pub vni: u32,
    /// This host's underlay address: the outer source address, and where the
    /// device listens.
    pub local: IpAddr,
    /// UDP destination port (4789, IANA's).
    pub port: u16,
    pub mtu: u32,
    /// The network's bridge, which must exist.
    pub bridge: &'a str,
    pub network_id: &'a str,
}

impl VxlanSpec<'_> {
    /// The same marker as the network's bridge (bridge::OWNER_MARKER_PREFIX).
    pub fn marker(&self) -> String {
        format!("{OWNER_MARKER_PREFIX}{}", self.network_id)
    }
}

/// What `ensure_vxlan` had to do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VxlanRepair {
    /// There was no device of that name.
    pub created: bool,
    /// There was one with another VNI, local address, port, or learning/proxy
    /// setting (the kernel refuses some such changes in place, proxy among them):
    /// deleted and made anew,
    /// so its forwarding and neighbour entries are gone and must be programmed again.
    pub recreated: bool,
    /// Put (back) on its bridge.
    pub enslaved: bool,
    /// Learning turned off on its bridge port.
    pub port_learning_off: bool,
    pub brought_up: bool,
    pub mtu_set: bool,
    pub marker_set: bool,
}

impl VxlanRepair {
    pub fn is_noop(&self) -> bool {
        *self == Self::default()
    }
}

/// What is read back of an existing link to compare it with a spec.
#[derive(Debug, Default)]
struct VxlanState {
    index: u32,
    kind: Option<InfoKind>,
    vni: Option<u32>,
    local: Option<IpAddr>,
    port: Option<u16>,
    learning: Option<bool>,
    proxy: Option<bool>,
    /// A group or remote: the device would flood to it.
    has_group: bool,
    controller: Option<u32>,
    port_learning: Option<bool>,
    mtu: u32,
    up: bool,
    alias: Option<String>,
}

impl VxlanState {
    fn from_message(msg: LinkMessage) -> Self {
        let mut st = VxlanState {
            index: msg.header.index,
            up: msg.header.flags.contains(LinkFlags::Up),
            ..Default::default()
        };
        for attr in msg.attributes {
            match attr {
                LinkAttribute::Mtu(mtu) => st.mtu = mtu,
                LinkAttribute::IfAlias(alias) => st.alias = Some(alias),
                LinkAttribute::Controller(index) => st.controller = Some(index),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            NlLinkInfo::Kind(kind) => st.kind = Some(kind),
                            NlLinkInfo::Data(InfoData::Vxlan(data)) => {
                                for d in data {
                                    match d {
                                        InfoVxlan::Id(id) => st.vni = Some(id),
                                        InfoVxlan::Local(ip) => st.local = Some(IpAddr::V4(ip)),
                                        InfoVxlan::Local6(ip) => st.local = Some(IpAddr::V6(ip)),
                                        InfoVxlan::Port(port) => st.port = Some(port),
                                        InfoVxlan::Learning(on) => st.learning = Some(on),
                                        InfoVxlan::Proxy(on) => st.proxy = Some(on),
                                        InfoVxlan::Group(ip) => st.has_group |= !ip.is_unspecified(),
                                        InfoVxlan::Group6(ip) => st.has_group |= !ip.is_unspecified(),
                                        _ => {}
                                    }
                                }
                            }
                            NlLinkInfo::PortData(InfoPortData::BridgePort(port)) => {
                                for p in port {
                                    if let InfoBridgePort::Learning(on) = p {
                                        st.port_learning = Some(on);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        st
    }

    /// The settings that only a new device can change.
    fn matches(&self, spec: &VxlanSpec<'_>) -> bool {
        self.vni == Some(spec.vni)
            && self.local == Some(spec.local)
            && self.port == Some(spec.port)
            && self.learning == Some(false)
            && self.proxy == Some(true)
            && !self.has_group
    }
}

/// A neighbour or forwarding entry's destination (address) and MAC.
fn destination_and_mac(attrs: Vec<NeighbourAttribute>) -> (Option<IpAddr>, Option<[u8; 6]>) {
    let (mut dst, mut mac) = (None, None);
    for attr in attrs {
        match attr {
            NeighbourAttribute::Destination(addr) => dst = address_of(&addr),
            NeighbourAttribute::LinkLayerAddress(lla) => mac = <[u8; 6]>::try_from(lla).ok(),
            _ => {}
        }
    }
    (dst, mac)
}

fn not_there(op: String, what: &str) -> KernelError {
    KernelError::Other { op, message: what.to_string() }
}

impl Netlink {
    async fn vxlan_state(&self, name: &str) -> Result<Option<VxlanState>> {
        Ok(self.link_message(name).await?.map(VxlanState::from_message))
    }

    /// Creates the VXLAN device: `nolearning proxy`, no group or remote, on the
    /// bridge with learning off on its port, IPv6 address generation off (a bridge
    /// port needs no address; IPv6 itself stays on, or the kernel refuses the
    /// device's IPv6 neighbour entries), marked as ours, up. Returns its ifindex.
    /// On any failure after the link exists, it is deleted again.
    pub async fn create_vxlan(&self, spec: &VxlanSpec<'_>) -> Result<u32> {
        let op = || format!("create VXLAN device {}", spec.name);
        let bridge = self
            .link_by_name(spec.bridge)
            .await?
            .ok_or_else(|| not_there(op(), &format!("the bridge {} does not exist", spec.bridge)))?;
        let builder = LinkVxlan::new(spec.name, spec.vni).port(spec.port).learning(false).proxy(true);
        let builder = match spec.local {
            IpAddr::V4(ip) => builder.local(ip),
            IpAddr::V6(ip) => builder.local6(ip),
        };
        let msg = builder.mtu(spec.mtu).controller(bridge.index).build();
        self.handle.link().add(msg).execute().await.map_err(|e| KernelError::netlink(op(), e))?;
        match self.finish_vxlan(spec).await {
            Ok(index) => Ok(index),
            Err(err) => {
                if let Err(cleanup) = self.delete_link(spec.name).await {
                    tracing::warn!(vxlan = spec.name, error = %cleanup, "rollback of half-made VXLAN device failed");
                }
                Err(err)
            }
        }
    }

    async fn finish_vxlan(&self, spec: &VxlanSpec<'_>) -> Result<u32> {
        let link = self.link_by_name(spec.name).await?.ok_or_else(|| {
            not_there(
                format!("create VXLAN device {}", spec.name),
                "the device vanished right after it was made",
            )
        })?;
        self.set_alias(link.index, &spec.marker()).await?;
        self.quiet_ipv6(link.index).await;
        self.bridge_port_learning_off(link.index).await?;
        self.set_link_up(link.index, None).await?;
        Ok(link.index)
    }

    /// No IPv6 address of its own (IN6_ADDR_GEN_MODE_NONE), so the device sends
    /// no MLD report or router solicitation into a tunnel that could not carry
    /// them anyway. Best effort: the call fails on a kernel without IPv6.
    async fn quiet_ipv6(&self, index: u32) {
        let msg = LinkUnspec::new_with_index(index)
            .append_extra_attribute(LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![
                AfSpecInet6::AddrGenMode(In6AddrGenMode::None),
            ])]))
            .build();
        if let Err(e) = self.handle.link().set(msg).execute().await {
            tracing::debug!(index, error = %e, "cannot turn IPv6 address generation off");
        }
    }

    /// The bridge learns nothing on the VXLAN port: every remote MAC it forwards
    /// to that port has a static entry (add_remote_endpoint), and a frame from a
    /// container not yet programmed must not leave a dynamic one behind.
    async fn bridge_port_learning_off(&self, index: u32) -> Result<()> {
        let msg = LinkBridgePort::new(index).learning(false).build();
        self.handle
            .link()
            .set_port(msg)
            .execute()
            .await
            .map_err(|e| KernelError::netlink(format!("turn learning off on bridge port {index}"), e))
    }

    /// Makes the VXLAN device exist as specified, for a restarted daemon:
    /// created if missing; made anew if its VNI, local address, port or
    /// learning/proxy settings differ (see [`VxlanRepair::recreated`]);
    /// else put back on its bridge, marked, its MTU set and up. A device of that
    /// name that is not a VXLAN device is an error (it is not ours to delete).
    pub async fn ensure_vxlan(&self, spec: &VxlanSpec<'_>) -> Result<VxlanRepair> {
        let op = || format!("ensure VXLAN device {}", spec.name);
        let Some(st) = self.vxlan_state(spec.name).await? else {
            self.create_vxlan(spec).await?;
            return Ok(VxlanRepair { created: true, ..Default::default() });
        };
        if st.kind != Some(InfoKind::Vxlan) {
            let kind = st.kind.map_or_else(|| "no kind".to_string(), |k| k.to_string());
            return Err(not_there(op(), &format!("a device of another kind ({kind}) has that name")));
        }
        if !st.matches(spec) {
            tracing::info!(vxlan = spec.name, vni = ?st.vni, local = ?st.local, port = ?st.port,
                learning = ?st.learning, proxy = ?st.proxy, "VXLAN device differs from its network; made anew");
            self.delete_link(spec.name).await?;
            self.create_vxlan(spec).await?;
            return Ok(VxlanRepair { recreated: true, ..Default::default() });
        }
        let mut repair = VxlanRepair::default();
        let bridge = self
            .link_by_name(spec.bridge)
            .await?
            .ok_or_else(|| not_there(op(), &format!("the bridge {} does not exist", spec.bridge)))?;
        if st.controller != Some(bridge.index) {
            let msg = LinkUnspec::new_with_index(st.index).controller(bridge.index).build();
            self.handle.link().set(msg).execute().await.map_err(|e| {
                KernelError::netlink(format!("put {} on bridge {}", spec.name, spec.bridge), e)
            })?;
            repair.enslaved = true;
        }
        // A port that has just joined the bridge learns by default.
        if repair.enslaved || st.port_learning != Some(false) {
            self.bridge_port_learning_off(st.index).await?;
            repair.port_learning_off = true;
        }
        if st.alias.as_deref() != Some(spec.marker().as_str()) {
            self.set_alias(st.index, &spec.marker()).await?;
            repair.marker_set = true;
        }
        if !st.up || st.mtu != spec.mtu {
            self.set_link_up(st.index, Some(spec.mtu)).await?;
            repair.brought_up = !st.up;
            repair.mtu_set = st.mtu != spec.mtu;
        }
        Ok(repair)
    }

    /// VXLAN devices carrying netctl's marker, as (device name, network id).
    /// (owned_bridges lists only bridges, so it never names one of these.)
    pub async fn owned_vxlans(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .links()
            .await?
            .into_iter()
            .filter(|l| l.kind.as_deref() == Some("vxlan"))
            .filter_map(|l| {
                let id = l.alias.as_deref()?.strip_prefix(OWNER_MARKER_PREFIX)?.to_string();
                Some((l.name, id))
            })
            .collect())
    }

    /// The link named `vxlan` if it is a VXLAN device, None if there is no such
    /// link, an error if it is a device of another kind.
    async fn vxlan_link(&self, vxlan: &str, op: impl FnOnce() -> String) -> Result<Option<VxlanState>> {
        match self.vxlan_state(vxlan).await? {
            Some(st) if st.kind == Some(InfoKind::Vxlan) => Ok(Some(st)),
            Some(_) => Err(not_there(op(), &format!("{vxlan} is not a VXLAN device"))),
            None => Ok(None),
        }
    }

    /// Programs a container on another host (replace semantics, so idempotent):
    /// (a) `bridge fdb replace MAC dev VX dst UNDERLAY self permanent`,
    /// (b) `bridge fdb replace MAC dev VX master static`,
    /// (c) `ip neigh replace IP lladdr MAC dev VX nud permanent` for each of `ips`.
    pub async fn add_remote_endpoint(
        &self,
        vxlan: &str,
        mac: [u8; 6],
        ips: &[IpAddr],
        underlay: IpAddr,
    ) -> Result<()> {
        let mac_s = mac_string(&mac);
        let op = || format!("add remote endpoint {mac_s} via {underlay} to {vxlan}");
        let st = self.vxlan_link(vxlan, op).await?.ok_or_else(|| not_there(op(), "no such VXLAN device"))?;
        let neigh = self.handle.neighbours();
        neigh
            .add_bridge(st.index, &mac)
            .flags(NeighbourFlags::Own)
            .state(NeighbourState::Permanent)
            .destination(underlay)
            .replace()
            .execute()
            .await
            .map_err(|e| KernelError::netlink(format!("{}: forwarding entry", op()), e))?;
        // `static` as iproute2 sends it: NUD_NOARP (never aged; NUD_PERMANENT
        // would make the MAC the bridge's own) | NUD_REACHABLE.
        neigh
            .add_bridge(st.index, &mac)
            .flags(NeighbourFlags::Controller)
            .state(NeighbourState::Other(NUD_NOARP | NUD_REACHABLE))
            .replace()
            .execute()
            .await
            .map_err(|e| KernelError::netlink(format!("{}: bridge entry", op()), e))?;
        for ip in ips {
            neigh
                .add(st.index, *ip)
                .link_layer_address(&mac)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(|e| KernelError::netlink(format!("{}: neighbour entry for {ip}", op()), e))?;
        }
        Ok(())
    }

    /// Undoes add_remote_endpoint; entries already gone (or the device) are fine.
    /// A neighbour entry of one of `ips` is removed only while it still names
    /// `mac`, and the forwarding entry only while it points at `underlay`, so
    /// the entries of a container that has taken over the address (or the MAC
    /// moved to another host) stay when events arrive out of order.
    pub async fn remove_remote_endpoint(
        &self,
        vxlan: &str,
        mac: [u8; 6],
        ips: &[IpAddr],
        underlay: IpAddr,
    ) -> Result<()> {
        let mac_s = mac_string(&mac);
        let op = || format!("remove remote endpoint {mac_s} via {underlay} from {vxlan}");
        let Some(st) = self.vxlan_link(vxlan, op).await? else {
            return Ok(());
        };
        if !ips.is_empty() {
            let present = self.neighbours_of(st.index).await?;
            for ip in ips {
                if !present.iter().any(|(i, m)| i == ip && *m == mac) {
                    continue;
                }
                let mut msg = NeighbourMessage::default();
                msg.header.family = family_of(ip);
                msg.header.ifindex = st.index;
                msg.attributes.push(NeighbourAttribute::Destination(NeighbourAddress::from(*ip)));
                self.delete_neighbour(msg, || format!("{}: neighbour entry for {ip}", op())).await?;
            }
        }
        if st.controller.is_some() {
            let mut msg = bridge_neighbour(st.index, &mac);
            msg.header.flags = NeighbourFlags::Controller;
            self.delete_neighbour(msg, || format!("{}: bridge entry", op())).await?;
        }
        let mut msg = bridge_neighbour(st.index, &mac);
        msg.header.flags = NeighbourFlags::Own;
        msg.attributes.push(NeighbourAttribute::Destination(NeighbourAddress::from(underlay)));
        self.delete_neighbour(msg, || format!("{}: forwarding entry", op())).await
    }

    async fn delete_neighbour(&self, msg: NeighbourMessage, op: impl FnOnce() -> String) -> Result<()> {
        match self.handle.neighbours().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let err = KernelError::netlink(op(), e);
                if err.is_not_found() {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    /// The ARP and ND entries on one device, as (IP, MAC).
    async fn neighbours_of(&self, index: u32) -> Result<Vec<(IpAddr, [u8; 6])>> {
        let mut req = self.handle.neighbours().get();
        // The kernel filters a dump by NDA_IFINDEX.
        req.message_mut().attributes.push(NeighbourAttribute::IfIndex(index));
        let mut stream = req.execute();
        let mut out = Vec::new();
        while let Some(msg) =
            stream.try_next().await.map_err(|e| KernelError::netlink("list neighbour entries", e))?
        {
            if msg.header.ifindex != index {
                continue;
            }
            if let (Some(ip), Some(mac)) = destination_and_mac(msg.attributes) {
                out.push((ip, mac));
            }
        }
        Ok(out)
    }

    /// The device's permanent forwarding entries with a destination, as
    /// (MAC, underlay address): what add_remote_endpoint programmed, for the
    /// daemon to compare with etcd at start. Empty if there is no such device.
    pub async fn remote_endpoints(&self, vxlan: &str) -> Result<Vec<([u8; 6], IpAddr)>> {
        let Some(st) = self.vxlan_link(vxlan, || format!("list remote endpoints of {vxlan}")).await? else {
            return Ok(Vec::new());
        };
        let mut stream = self.handle.neighbours().get().set_address_family(AddressFamily::Bridge).execute();
        let mut out = Vec::new();
        while let Some(msg) =
            stream.try_next().await.map_err(|e| KernelError::netlink("list forwarding entries", e))?
        {
            if msg.header.ifindex != st.index
                || !msg.header.flags.contains(NeighbourFlags::Own)
                || msg.header.state != NeighbourState::Permanent
            {
                continue;
            }
            if let (Some(dst), Some(mac)) = destination_and_mac(msg.attributes) {
                out.push((mac, dst));
            }
        }
        Ok(out)
    }

    /// The MTU an overlay over `local` can carry: that of the device holding the
    /// address, less the VXLAN overhead (50 bytes over IPv4, 70 over IPv6).
    pub async fn mtu_for_underlay(&self, local: IpAddr) -> Result<u32> {
        let op = || format!("find the underlay device of {local}");
        let mut stream = self.handle.address().get().execute();
        let mut index = None;
        while let Some(msg) = stream.try_next().await.map_err(|e| KernelError::netlink(op(), e))? {
            let holds = msg.attributes.iter().any(
                |a| matches!(a, AddressAttribute::Address(ip) | AddressAttribute::Local(ip) if *ip == local),
            );
            if holds {
                index = Some(msg.header.index);
                break;
            }
        }
        let index = index.ok_or_else(|| not_there(op(), &format!("no device has the address {local}")))?;
        let link = self.link_by_index(index).await?.ok_or_else(|| not_there(op(), "the device vanished"))?;
        let overhead = if local.is_ipv4() { VXLAN_OVERHEAD_IPV4 } else { VXLAN_OVERHEAD_IPV6 };
        link.mtu.checked_sub(overhead).ok_or_else(|| {
            not_there(op(), &format!("{} has an MTU of {}, too small for VXLAN", link.name, link.mtu))
        })
    }
}

const NUD_REACHABLE: u16 = 0x02;
const NUD_NOARP: u16 = 0x40;

fn bridge_neighbour(index: u32, mac: &[u8; 6]) -> NeighbourMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Bridge;
    msg.header.ifindex = index;
    msg.attributes.push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    msg
}

fn family_of(ip: &IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// An address as the kernel gives it; in an AF_BRIDGE message it comes raw,
/// told apart by its length.
fn address_of(addr: &NeighbourAddress) -> Option<IpAddr> {
    match addr {
        NeighbourAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        NeighbourAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        NeighbourAddress::Other(raw) => match raw.len() {
            4 => Some(IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(raw.as_slice()).ok()?))),
            16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(raw.as_slice()).ok()?))),
            _ => None,
        },
        _ => None,
    }
}

fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}
