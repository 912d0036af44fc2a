//! Gratuitous ARP, or an unsolicited neighbour advertisement, for a new endpoint's
//! address. Addresses come back: `--ip`/`--ip6`, or the address book handing out one
//! just freed. Containers and the host that talked to the old holder keep its MAC
//! cached as reachable, and their frames to it are dropped, for up to a minute, until
//! the entry ages out. An announcement from the new holder updates every cached
//! entry at once (RFC 5227 §2.3, RFC 4861 §7.2.6).
//!
//! The kernel's own announcement (arp_notify) goes out the instant the container
//! end comes up, before the bridge has noticed the carrier on the host end and
//! forwards anything from it, so it is lost; this one waits for the port.
//!
//! Both go out as whole frames from a packet socket, to the link-layer broadcast or
//! all-nodes multicast address, not through the container's IP stack: when the host
//! end is up, the container end's own "link ready" (where IPv6 adds its `ff00::/8`
//! and local routes) may not have been handled yet, and an advertisement to ff02::1
//! sent through IPv6 then follows the default route, to the gateway's MAC alone
//! (measured: 1 to 3 first advertisements of 20 lost so; docs/decisions.md).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::error::{KernelError, Result};
use crate::netns::run_in_netns;
use crate::Netlink;

/// When the announcement is repeated after the first, in case that one was lost.
const REPEAT_GAPS: [Duration; 2] = [Duration::from_millis(500), Duration::from_millis(1500)];
/// How long to wait for the bridge to forward from the new port. The kernel acts on
/// a veth's carrier within a millisecond or so; past this, announce anyway.
const PORT_FORWARDING_WAIT: Duration = Duration::from_millis(200);
const ETH_P_IPV6: u16 = 0x86dd;
/// Where IPv6 all-nodes multicast (ff02::1) goes on Ethernet (RFC 2464 §7).
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// What announces an address: the Ethernet payload (an ARP or an IPv6 packet), its
/// type, and where it goes.
struct Frame {
    payload: Vec<u8>,
    ethertype: u16,
    to_mac: [u8; 6],
    ip: std::net::IpAddr,
}

/// A frame, and the socket and interface to send it on.
struct Announcement {
    socket: OwnedFd,
    ifindex: i32,
    frame: Frame,
}

impl Netlink {
    /// Announces `ip` at `mac` on `ifname` inside the namespace `ns`, whose veth's
    /// host end is `host_ifname`: once the bridge forwards from that port, before
    /// returning, so that the address is reachable when `run` or `connect` answers;
    /// then twice more in the background over two seconds.
    pub async fn announce_ipv4(
        &self,
        ns: OwnedFd,
        host_ifname: &str,
        ifname: String,
        mac: [u8; 6],
        ip: Ipv4Addr,
    ) -> Result<()> {
        let payload = gratuitous_arp(mac, ip).to_vec();
        let frame = Frame { payload, ethertype: libc::ETH_P_ARP as u16, to_mac: [0xff; 6], ip: ip.into() };
        self.announce(ns, host_ifname, ifname, frame).await
    }

    /// The IPv6 counterpart: an unsolicited neighbour advertisement (RFC 4861
    /// §7.2.6, Override set) for `ip` to all nodes, from `ip` itself, hop limit 255,
    /// at the same moments as the IPv4 announcement.
    pub async fn announce_ipv6(
        &self,
        ns: OwnedFd,
        host_ifname: &str,
        ifname: String,
        mac: [u8; 6],
        ip: Ipv6Addr,
    ) -> Result<()> {
        let payload = ipv6_packet(ip, ALL_NODES, &neighbour_advertisement(mac, ip));
        let frame = Frame { payload, ethertype: ETH_P_IPV6, to_mac: ALL_NODES_MAC, ip: ip.into() };
        self.announce(ns, host_ifname, ifname, frame).await
    }

    /// Sends `frame` on `ifname` (in `ns`) once `host_ifname` is up, then twice more.
    async fn announce(&self, ns: OwnedFd, host_ifname: &str, ifname: String, frame: Frame) -> Result<()> {
        let socket = tokio::task::spawn_blocking(move || run_in_netns(&ns, move || packet_socket(&ifname)));
        self.wait_oper_up(host_ifname).await?;
        let (socket, ifindex) = socket
            .await
            .map_err(|e| KernelError::Other { op: "announce address".into(), message: e.to_string() })??;
        let announcement = Announcement { socket, ifindex, frame };
        if announcement.send() {
            tokio::spawn(async move {
                for gap in REPEAT_GAPS {
                    tokio::time::sleep(gap).await;
                    if !announcement.send() {
                        break;
                    }
                }
            });
        }
        Ok(())
    }

    /// Announces another host's container (`ip` at `mac`) to this host's containers:
    /// the frame leaves this host's bridge `bridge` (its ports, the VXLAN one
    /// included, which has nowhere to send a broadcast), at the same moments as a
    /// local endpoint's. Overlay networks: an address a container of another host
    /// held a moment ago, now another's.
    pub async fn announce_on_bridge(&self, bridge: &str, mac: [u8; 6], ip: std::net::IpAddr) -> Result<()> {
        let frame = match ip {
            std::net::IpAddr::V4(v4) => Frame {
                payload: gratuitous_arp(mac, v4).to_vec(),
                ethertype: libc::ETH_P_ARP as u16,
                to_mac: [0xff; 6],
                ip,
            },
            std::net::IpAddr::V6(v6) => Frame {
                payload: ipv6_packet(v6, ALL_NODES, &neighbour_advertisement(mac, v6)),
                ethertype: ETH_P_IPV6,
                to_mac: ALL_NODES_MAC,
                ip,
            },
        };
        let bridge = bridge.to_string();
        let (socket, ifindex) = tokio::task::spawn_blocking(move || packet_socket(&bridge))
            .await
            .map_err(|e| KernelError::Other { op: "announce address".into(), message: e.to_string() })??;
        let announcement = Announcement { socket, ifindex, frame };
        if announcement.send() {
            tokio::spawn(async move {
                for gap in REPEAT_GAPS {
                    tokio::time::sleep(gap).await;
                    if !announcement.send() {
                        break;
                    }
                }
            });
        }
        Ok(())
    }

    async fn wait_oper_up(&self, ifname: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + PORT_FORWARDING_WAIT;
        while tokio::time::Instant::now() < deadline {
            if self.link_by_name(ifname).await?.is_some_and(|l| l.oper_up) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tracing::debug!(veth = ifname, "bridge port not up in time; announcing anyway");
        Ok(())
    }
}

impl Announcement {
    /// False once the endpoint is gone.
    fn send(&self) -> bool {
        let f = &self.frame;
        match send_frame(&self.socket, self.ifindex, f.ethertype, f.to_mac, &f.payload) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(ip = %f.ip, error = %e, "announcement not sent; the endpoint is gone");
                false
            }
        }
    }
}

/// A packet socket (the kernel adds the Ethernet header) that receives nothing
/// (protocol 0), and the index of `ifname`, both in the calling thread's namespace.
fn packet_socket(ifname: &str) -> Result<(OwnedFd, i32)> {
    let name =
        std::ffi::CString::new(ifname).map_err(|e| KernelError::io("interface name", io::Error::other(e)))?;
    // SAFETY: plain libc calls; the fd is owned from here on.
    unsafe {
        let ifindex = libc::if_nametoindex(name.as_ptr());
        if ifindex == 0 {
            return Err(KernelError::io(format!("find {ifname}"), io::Error::last_os_error()));
        }
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(KernelError::io("open packet socket", io::Error::last_os_error()));
        }
        Ok((OwnedFd::from_raw_fd(fd), ifindex as i32))
    }
}

/// An ARP request for our own address (sender and target both `ip`): the form of
/// announcement every stack accepts as an update.
fn gratuitous_arp(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 28] {
    let mut p = [0u8; 28];
    p[0..2].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    p[4] = 6;
    p[5] = 4;
    p[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
    p[8..14].copy_from_slice(&mac);
    p[14..18].copy_from_slice(&ip.octets());
    // Target hardware address stays zero.
    p[24..28].copy_from_slice(&ip.octets());
    p
}

/// Type 136, Override flag, the target, and the target link-layer address option;
/// the checksum is filled in by `ipv6_packet`.
fn neighbour_advertisement(mac: [u8; 6], ip: Ipv6Addr) -> [u8; 32] {
    let mut p = [0u8; 32];
    p[0] = 136;
    p[4] = 0x20; // Override: replace whatever the receiver has cached
    p[8..24].copy_from_slice(&ip.octets());
    p[24] = 2; // option: target link-layer address
    p[25] = 1; // length in units of 8 bytes
    p[26..32].copy_from_slice(&mac);
    p
}

/// An IPv6 packet carrying the ICMPv6 message `icmp` from `src` to `dst`, hop limit
/// 255 (neighbour discovery drops anything else, RFC 4861 §7.1.2), with the ICMPv6
/// checksum over the pseudo-header (RFC 8200 §8.1).
fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, icmp: &[u8]) -> Vec<u8> {
    let len = u16::try_from(icmp.len()).expect("a neighbour discovery message");
    let mut p = Vec::with_capacity(40 + icmp.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, traffic class 0, flow label 0
    p.extend_from_slice(&len.to_be_bytes());
    p.push(libc::IPPROTO_ICMPV6 as u8);
    p.push(255);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(icmp);
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&u32::from(len).to_be_bytes());
    add(&[0, 0, 0, libc::IPPROTO_ICMPV6 as u8]);
    add(icmp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[42..44].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p
}

/// One frame of `ethertype` carrying `payload` to `to_mac` out of interface `ifindex`.
fn send_frame(
    socket: &OwnedFd,
    ifindex: i32,
    ethertype: u16,
    to_mac: [u8; 6],
    payload: &[u8],
) -> io::Result<()> {
    // SAFETY: zeroed sockaddr_ll is valid; the fields set are its documented ones.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_protocol = ethertype.to_be();
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&to_mac);
    // SAFETY: `payload` and `to` are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            payload.as_ptr().cast(),
            payload.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advertisement_overrides_with_our_mac() {
        let ip: Ipv6Addr = "fd00:2::3".parse().unwrap();
        let p = neighbour_advertisement([2, 0, 0, 0, 0, 7], ip);
        assert_eq!(&p[..8], &[136, 0, 0, 0, 0x20, 0, 0, 0]);
        assert_eq!(&p[8..24], &ip.octets());
        assert_eq!(&p[24..32], &[2, 1, 2, 0, 0, 0, 0, 7]);
    }

    /// The header a receiver's neighbour discovery insists on, and a checksum that
    /// verifies as a receiver checks it (the whole sum, pseudo-header included, is
    /// 0xffff). That Linux accepts it is shown end to end in tests/tests/ipv6.rs.
    #[test]
    fn the_ipv6_packet_carries_a_valid_checksum_and_hop_limit_255() {
        let src: Ipv6Addr = "fd00:2::3".parse().unwrap();
        let p = ipv6_packet(src, ALL_NODES, &neighbour_advertisement([2, 0, 0, 0, 0, 7], src));
        assert_eq!(p.len(), 72);
        assert_eq!(&p[..8], &[0x60, 0, 0, 0, 0, 32, 58, 255]);
        assert_eq!(&p[24..40], &ALL_NODES.octets());
        let mut sum: u32 = 0;
        for w in p[8..40].chunks(2).chain(p[40..].chunks(2)) {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        sum += 32 + 58;
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff, "one's complement sum over pseudo-header and message");
    }

    #[test]
    fn the_announcement_names_the_address_as_sender_and_target() {
        let p = gratuitous_arp([2, 0, 0, 0, 0, 7], Ipv4Addr::new(172, 18, 0, 3));
        assert_eq!(&p[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&p[8..14], &[2, 0, 0, 0, 0, 7]);
        assert_eq!(&p[14..18], &[172, 18, 0, 3]);
        assert_eq!(&p[18..24], &[0; 6]);
        assert_eq!(&p[24..28], &[172, 18, 0, 3]);
    }
}
