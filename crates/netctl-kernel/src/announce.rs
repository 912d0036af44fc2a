//! Gratuitous ARP for a new endpoint's address. Addresses come back: `--ip`, or the
//! address book handing out one just freed. Containers and the host that talked to
//! the old holder keep its MAC cached as reachable, and their frames to it are
//! dropped, for up to a minute, until the entry ages out. An announcement from the
//! new holder updates every cached entry at once (RFC 5227 §2.3).
//!
//! The kernel's own announcement (arp_notify) goes out the instant the container
//! end comes up, before the bridge has noticed the carrier on the host end and
//! forwards anything from it, so it is lost; this one waits for the port.

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
/// How many milliseconds the first IPv6 announcement waits for IPv6 to be up.
const IPV6_READY_TRIES: u32 = 100;

/// An address to announce, with the socket to announce it on.
struct Announcement {
    socket: OwnedFd,
    ifindex: i32,
    frame: [u8; 28],
    ip: Ipv4Addr,
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
        let socket = tokio::task::spawn_blocking(move || run_in_netns(&ns, move || arp_socket(&ifname)));
        self.wait_oper_up(host_ifname).await?;
        let (socket, ifindex) = socket
            .await
            .map_err(|e| KernelError::Other { op: "announce address".into(), message: e.to_string() })??;
        let announcement = Announcement { socket, ifindex, frame: gratuitous_arp(mac, ip), ip };
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

    /// The IPv6 counterpart: an unsolicited neighbour advertisement (RFC 4861
    /// §7.2.6, Override set) for `ip` to all nodes, from `ip` itself, at the same
    /// moments as the IPv4 announcement.
    pub async fn announce_ipv6(
        &self,
        ns: OwnedFd,
        host_ifname: &str,
        ifname: String,
        mac: [u8; 6],
        ip: Ipv6Addr,
    ) -> Result<()> {
        let socket =
            tokio::task::spawn_blocking(move || run_in_netns(&ns, move || icmpv6_socket(&ifname, ip)));
        self.wait_oper_up(host_ifname).await?;
        let socket = socket
            .await
            .map_err(|e| KernelError::Other { op: "announce address".into(), message: e.to_string() })??;
        let advert = neighbour_advertisement(mac, ip);
        let send = move || match send_all_nodes(&socket, &advert) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(%ip, error = %e, "announcement not sent");
                false
            }
        };
        // IPv6 on the interface is usable a moment after its carrier (until then
        // there is no route to ff02::1 and the send fails): try for a while.
        let mut sent = send();
        for _ in 0..IPV6_READY_TRIES {
            if sent {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            sent = send();
        }
        if sent {
            tokio::spawn(async move {
                for gap in REPEAT_GAPS {
                    tokio::time::sleep(gap).await;
                    if !send() {
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
        match send_broadcast(&self.socket, self.ifindex, &self.frame) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(ip = %self.ip, error = %e, "announcement not sent; the endpoint is gone");
                false
            }
        }
    }
}

/// An ARP packet socket (the kernel adds the Ethernet header) and the index of
/// `ifname`, both in the calling thread's namespace.
fn arp_socket(ifname: &str) -> Result<(OwnedFd, i32)> {
    let name =
        std::ffi::CString::new(ifname).map_err(|e| KernelError::io("interface name", io::Error::other(e)))?;
    // SAFETY: plain libc calls; the fd is owned from here on.
    unsafe {
        let ifindex = libc::if_nametoindex(name.as_ptr());
        if ifindex == 0 {
            return Err(KernelError::io(format!("find {ifname}"), io::Error::last_os_error()));
        }
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            i32::from((libc::ETH_P_ARP as u16).to_be()),
        );
        if fd < 0 {
            return Err(KernelError::io("open ARP socket", io::Error::last_os_error()));
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

/// A raw ICMPv6 socket on `ifname`, bound to `ip`, hop limit 255 (neighbour
/// discovery drops anything else); the kernel fills in the checksum.
fn icmpv6_socket(ifname: &str, ip: Ipv6Addr) -> Result<OwnedFd> {
    let name =
        std::ffi::CString::new(ifname).map_err(|e| KernelError::io("interface name", io::Error::other(e)))?;
    let fail = |what: &str| KernelError::io(what.to_string(), io::Error::last_os_error());
    // SAFETY: plain libc calls on a socket owned from its creation; every pointer
    // passed is to a live local of the size given.
    unsafe {
        let fd = libc::socket(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMPV6);
        if fd < 0 {
            return Err(fail("open ICMPv6 socket"));
        }
        let socket = OwnedFd::from_raw_fd(fd);
        let bytes = name.as_bytes_with_nul();
        if libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            bytes.as_ptr().cast(),
            bytes.len() as u32,
        ) < 0
        {
            return Err(fail(&format!("bind ICMPv6 socket to {ifname}")));
        }
        let hops: libc::c_int = 255;
        let len = std::mem::size_of::<libc::c_int>() as u32;
        if libc::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_HOPS,
            (&hops as *const libc::c_int).cast(),
            len,
        ) < 0
        {
            return Err(fail("set ICMPv6 hop limit"));
        }
        let mut local: libc::sockaddr_in6 = std::mem::zeroed();
        local.sin6_family = libc::AF_INET6 as u16;
        local.sin6_addr.s6_addr = ip.octets();
        if libc::bind(
            fd,
            (&local as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as u32,
        ) < 0
        {
            return Err(fail(&format!("bind ICMPv6 socket to {ip}")));
        }
        Ok(socket)
    }
}

/// Type 136, Override flag, the target, and the target link-layer address option.
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

fn send_all_nodes(socket: &OwnedFd, packet: &[u8]) -> io::Result<()> {
    // SAFETY: zeroed sockaddr_in6 is valid; family and address are set.
    let mut to: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    to.sin6_family = libc::AF_INET6 as u16;
    to.sin6_addr.s6_addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets();
    send_to(socket, packet, &to)
}

fn send_broadcast(socket: &OwnedFd, ifindex: i32, frame: &[u8]) -> io::Result<()> {
    // SAFETY: zeroed sockaddr_ll is valid; the fields set are its documented ones.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    send_to(socket, frame, &to)
}

/// sendto(2) of `bytes` to the socket address `to` (a libc sockaddr_* struct).
fn send_to<A>(socket: &OwnedFd, bytes: &[u8], to: &A) -> io::Result<()> {
    // SAFETY: `bytes` and `to` are valid for the lengths given; `A` is one of
    // libc's sockaddr structs, whose size is the address length.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            (to as *const A).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
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
