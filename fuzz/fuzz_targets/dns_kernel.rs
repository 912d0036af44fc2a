//! The kernel's fast path (netctl-ebpf's tc program, run with BPF_PROG_TEST_RUN
//! in a network namespace of the fuzzer's own): whatever the packet, the program
//! either lets it through byte for byte or turns it into a well-formed answer
//! (127.0.0.11:53 back to the asker, lengths and checksum right) that hickory
//! parses and that says what the userspace fast path says. The first byte picks
//! the asker and whether the rest is a DNS payload (put in a UDP frame to
//! 127.0.0.11) or a whole frame as lo would carry it. Needs root.
#![no_main]

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use netctl_dns::fastpath;
use netctl_ebpf::{netns_cookie, KernelResolver, Mirror};
use netctl_fuzz::{zone, ASKERS};

const PORT: u16 = 40001;

fn mirror() -> &'static Mutex<(Mirror, u64, usize)> {
    static M: OnceLock<Mutex<(Mirror, u64, usize)>> = OnceLock::new();
    M.get_or_init(|| {
        // SAFETY: unshare(2) on this (the fuzzing) thread only.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare: run as root");
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("socket");
        let cookie = netns_cookie(&socket).expect("netns cookie");
        let mut m = Mirror::adopt(KernelResolver::load(None, 600).expect("load the program")).unwrap();
        m.sync(zone());
        m.register(ASKERS[0], cookie, PORT, zone());
        Mutex::new((m, cookie, 0))
    })
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b.chunks(2).map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32).sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn frame(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 11];
    ip[2..4].copy_from_slice(&((28 + payload.len()) as u16).to_be_bytes());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x9c, 0x40]);
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn records(m: &Message) -> BTreeSet<String> {
    m.answers.iter().map(|r| r.to_string()).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut guard = mirror().lock().unwrap();
    let (m, cookie, current) = &mut *guard;
    let asker = (mode as usize >> 2) % ASKERS.len();
    if asker != *current {
        m.unregister(ASKERS[*current]);
        m.register(ASKERS[asker], *cookie, PORT, zone());
        *current = asker;
    }
    let sent = match mode & 3 {
        0 => frame(PORT, rest),
        1 => frame(53, rest),
        _ => rest.to_vec(),
    };
    let Ok((verdict, out)) = m.kernel().test_run(&sent) else { return }; // shorter than a frame
    assert_eq!(verdict, 0, "TC_ACT_OK, always");
    if out == sent {
        return;
    }
    // An answer: only to a well-formed question to 127.0.0.11.
    assert!(out.len() >= 42 && sent.len() >= 42);
    assert_eq!(checksum(&out[14..34]), 0, "IPv4 checksum");
    assert_eq!(u16::from_be_bytes([out[16], out[17]]) as usize, out.len() - 14);
    assert_eq!(&out[26..30], &[127, 0, 0, 11]);
    assert_eq!(&out[30..34], &sent[26..30]);
    assert_eq!(&out[34..36], &53u16.to_be_bytes());
    assert_eq!(&out[36..38], &sent[34..36]);
    assert_eq!(u16::from_be_bytes([out[38], out[39]]) as usize, out.len() - 34);
    let query = &sent[42..];
    let kernel = Message::from_vec(&out[42..]).expect("the kernel's answer parses");
    let mut user = Vec::new();
    let z = zone();
    assert!(
        fastpath::answer(z, z.placed_view(ASKERS[asker]), 600, query, &mut user),
        "the kernel answered what the userspace fast path does not"
    );
    let user = Message::from_vec(&user).expect("userspace's answer parses");
    assert_eq!(kernel.metadata, user.metadata);
    assert_eq!(kernel.queries, user.queries);
    assert_eq!(records(&kernel), records(&user));
    assert_eq!(kernel.edns.is_some(), user.edns.is_some());
    assert!(!kernel.answers.is_empty());
});
