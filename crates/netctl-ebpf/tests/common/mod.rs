//! Shared by the crate's tests: packets as `lo` carries them, a throwaway
//! network namespace per test thread, and a zone with the program loaded.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use netctl_ebpf::{netns_cookie, KernelResolver, Mirror};

pub const TTL: u32 = 600;
pub const LISTENER_PORT: u16 = 40001;
pub const TC_ACT_OK: u32 = 0;

/// Runs `f` on a thread of its own in a new, empty network namespace: the
/// program's test runs see that namespace's cookie, and nothing touches the
/// host's.
pub fn in_new_netns<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    assert!(unsafe { libc::geteuid() } == 0, "these tests load BPF programs: run them as root");
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            f()
        })
        .join()
        .expect("test thread")
    })
}

/// This thread's namespace's cookie.
pub fn my_cookie() -> u64 {
    let s = UdpSocket::bind("0.0.0.0:0").or_else(|_| UdpSocket::bind("[::]:0"));
    match s {
        Ok(s) => netns_cookie(&s).expect("SO_NETNS_COOKIE"),
        // lo is down in a fresh namespace, binding still works on 0.0.0.0.
        Err(e) => panic!("socket: {e}"),
    }
}

/// A DNS query: `name` as written (its case kept), type `qtype`, RD set; with
/// an OPT record of UDP size `edns` (and a COOKIE option if `cookie`).
pub fn query(id: u16, name: &str, qtype: u16, edns: Option<u16>, cookie: bool) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns.is_some() as u8]);
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if let Some(size) = edns {
        let opts: &[u8] = if cookie { &[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8] } else { &[] };
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&size.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0x80, 0]); // the DO bit set
        q.extend_from_slice(&(opts.len() as u16).to_be_bytes());
        q.extend_from_slice(opts);
    }
    q
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet frame on `lo`: 127.0.0.1:`sport` → 127.0.0.11:`dport`, UDP.
pub fn frame(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = 20 + 8 + payload.len();
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 11];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// An answer the program wrote, its headers checked: 127.0.0.11:53 → the
/// asker, lengths and the IPv4 checksum right. Its DNS payload.
#[track_caller]
pub fn answer_payload(sent: &[u8], out: &[u8]) -> Vec<u8> {
    assert!(out.len() >= 42, "short frame");
    assert_eq!(&out[12..14], &[0x08, 0x00]);
    let ip = &out[14..34];
    assert_eq!(ip[0], 0x45);
    assert_eq!(checksum(ip), 0, "IPv4 header checksum");
    assert_eq!(u16::from_be_bytes([ip[2], ip[3]]) as usize, out.len() - 14, "IP total length");
    assert_eq!(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]), Ipv4Addr::new(127, 0, 0, 11));
    assert_eq!(&ip[16..20], &sent[26..30], "back to the asker");
    let udp = &out[34..42];
    assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), 53, "from port 53");
    assert_eq!(&udp[2..4], &sent[34..36], "to the asker's port");
    assert_eq!(u16::from_be_bytes([udp[4], udp[5]]) as usize, out.len() - 34, "UDP length");
    out[42..].to_vec()
}

/// Whether the program answered (rather than let the frame through as it was).
pub fn answered(sent: &[u8], out: &[u8]) -> bool {
    out != sent
}

pub fn load(zone: &netctl_dns::Zone, views: &[(&str, u64)]) -> Mirror {
    let kernel = KernelResolver::load(None, TTL).expect("load the program");
    let mut m = Mirror::adopt(kernel).expect("fresh maps");
    m.sync(zone);
    for (id, cookie) in views {
        m.register(id, *cookie, LISTENER_PORT, zone);
    }
    m
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
