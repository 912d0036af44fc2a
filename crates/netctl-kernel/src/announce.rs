//! Gratuitous ARP for a new endpoint's address. Addresses come back: `--ip`, or the
//! address book handing out one just freed. Containers and the host that talked to
//! the old holder keep its MAC cached as reachable, and their frames to it are
//! dropped, for up to a minute, until the entry ages out. An announcement from the
//! new holder updates every cached entry at once (RFC 5227 §2.3).
//!
//! The kernel's own announcement (arp_notify) goes out the instant the container
//! end comes up, before the bridge has noticed the carrier on the host end and
//! forwards anything from it, so it is lost; these are sent after.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::error::{KernelError, Result};
use crate::netns::run_in_netns;

/// The waits before each announcement: the first once the bridge port forwards
/// (within milliseconds of creation), then at 0.5 s and 2 s in case one was lost.
const ANNOUNCE_GAPS: [Duration; 3] =
    [Duration::from_millis(50), Duration::from_millis(450), Duration::from_millis(1500)];

/// Announces `ip` at `mac` on `ifname` inside the namespace `ns`, a few times over
/// two seconds. Fails only if the socket cannot be made; an endpoint that went away
/// meanwhile ends the announcements quietly.
pub async fn announce_ipv4(ns: OwnedFd, ifname: String, mac: [u8; 6], ip: Ipv4Addr) -> Result<()> {
    let (socket, ifindex) =
        tokio::task::spawn_blocking(move || run_in_netns(&ns, move || arp_socket(&ifname)))
            .await
            .map_err(|e| KernelError::Other { op: "announce address".into(), message: e.to_string() })??;
    let frame = gratuitous_arp(mac, ip);
    for gap in ANNOUNCE_GAPS {
        tokio::time::sleep(gap).await;
        if let Err(e) = send_broadcast(&socket, ifindex, &frame) {
            tracing::debug!(%ip, error = %e, "announcement not sent; the endpoint is gone");
            break;
        }
    }
    Ok(())
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

fn send_broadcast(socket: &OwnedFd, ifindex: i32, frame: &[u8]) -> io::Result<()> {
    // SAFETY: zeroed sockaddr_ll is valid; the fields set are its documented ones.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    // SAFETY: frame and `to` are valid for the lengths given.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
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
    fn the_announcement_names_the_address_as_sender_and_target() {
        let p = gratuitous_arp([2, 0, 0, 0, 0, 7], Ipv4Addr::new(172, 18, 0, 3));
        assert_eq!(&p[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&p[8..14], &[2, 0, 0, 0, 0, 7]);
        assert_eq!(&p[14..18], &[172, 18, 0, 3]);
        assert_eq!(&p[18..24], &[0; 6]);
        assert_eq!(&p[24..28], &[172, 18, 0, 3]);
    }
}
