//! The common question, answered from the raw bytes: one A or AAAA query for a
//! container's name, with or without an EDNS OPT record. No allocation: the name is
//! lowercased into a stack buffer, the answer written into the caller's buffer.
//! Anything else (PTR, forwarding, unusual messages) returns None and takes the
//! general path through hickory-proto.

use std::net::IpAddr;

use crate::respond::OUR_UDP_SIZE;
use crate::zone::{Local, PlacedView, Zone};

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
const EDNS_CLIENT_SUBNET: u16 = 8;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_REFUSED: u8 = 5;
/// At most this many addresses per answer on the fast path.
const MAX_ADDRS: usize = 16;

struct Question {
    /// Lowercase name without the trailing dot, in `name_buf[..name_len]`.
    name_buf: [u8; 255],
    name_len: usize,
    qtype: u16,
    /// Where the question section ends in the query.
    question_end: usize,
    /// The client's EDNS UDP size, if it sent an OPT record.
    edns_size: Option<u16>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn parse(query: &[u8]) -> Option<Question> {
    if query.len() < 12 {
        return None;
    }
    let flags = be16(query, 2)?;
    // A standard query (QR=0, opcode 0) with one question, no answers, no authority.
    if flags & 0xf800 != 0 || be16(query, 4)? != 1 || be16(query, 6)? != 0 || be16(query, 8)? != 0 {
        return None;
    }
    let arcount = be16(query, 10)?;
    let mut q = Question { name_buf: [0; 255], name_len: 0, qtype: 0, question_end: 0, edns_size: None };
    let mut at = 12;
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 || q.name_len + len + 1 > q.name_buf.len() {
            return None; // compression pointers or oversize: not for the fast path
        }
        if q.name_len > 0 {
            q.name_buf[q.name_len] = b'.';
            q.name_len += 1;
        }
        let label = query.get(at..at + len)?;
        for (dst, src) in q.name_buf[q.name_len..q.name_len + len].iter_mut().zip(label) {
            // Only what container names are made of: a '.' inside a label, or a byte
            // hickory-proto would escape, is for the general path to read.
            if !(src.is_ascii_alphanumeric() || *src == b'-' || *src == b'_') {
                return None;
            }
            *dst = src.to_ascii_lowercase();
        }
        q.name_len += len;
        at += len;
    }
    // At most 255 bytes on the wire (RFC 1035 §2.3.4): the text and two bytes more.
    if q.name_len + 2 > 255 {
        return None;
    }
    q.qtype = be16(query, at)?;
    if be16(query, at + 2)? != CLASS_IN || !(q.qtype == TYPE_A || q.qtype == TYPE_AAAA) {
        return None;
    }
    q.question_end = at + 4;
    // The message must end where its records do: what the fast path answers,
    // hickory-proto must be able to read as well (a differential fuzz target holds
    // the two together).
    let end = match arcount {
        0 => q.question_end,
        1 => {
            // The OPT record: root name, type 41, class = UDP size, extended RCODE 0,
            // version 0, flags, then options (each code, length, data), which the
            // answer does not need but must be well-formed.
            let opt = q.question_end;
            if *query.get(opt)? != 0 || be16(query, opt + 1)? != TYPE_OPT || be16(query, opt + 5)? != 0 {
                return None;
            }
            q.edns_size = Some(be16(query, opt + 3)?);
            let rdlen = be16(query, opt + 9)? as usize;
            let (mut at, end) = (opt + 11, opt + 11 + rdlen);
            while at < end {
                let code = be16(query, at)?;
                // Options hickory-proto parses rather than keeps as bytes: theirs to judge.
                if code == EDNS_CLIENT_SUBNET {
                    return None;
                }
                at += 4 + be16(query, at + 2)? as usize;
            }
            if at != end {
                return None;
            }
            end
        }
        _ => return None,
    };
    (query.len() == end).then_some(q)
}

/// Writes the answer to `query` into `out` and returns true, or returns false when
/// the general path must answer it. `view` is the asker's, from `Zone::placed_view`.
///
/// Kept small on purpose: the thread runs this right after waking, with its
/// caches cold, and every cache line of code it touches costs more than the work.
pub fn answer(zone: &Zone, view: Option<&PlacedView>, ttl: u32, query: &[u8], out: &mut Vec<u8>) -> bool {
    let Some(q) = parse(query) else { return false };
    let mut addrs = [IpAddr::from([0u8; 4]); MAX_ADDRS];
    let (rcode, count) =
        match zone.lookup_fast(view, &q.name_buf[..q.name_len], q.qtype == TYPE_AAAA, &mut addrs) {
            Some(Local::Found(n)) => (0, n),
            Some(Local::NxDomain) => (RCODE_NXDOMAIN, 0),
            Some(Local::Refused) => (RCODE_REFUSED, 0),
            None => return false,
        };
    write_answer(query, &q, rcode, &addrs[..count], ttl, out);
    true
}

fn write_answer(query: &[u8], q: &Question, rcode: u8, addrs: &[IpAddr], ttl: u32, out: &mut Vec<u8>) {
    let edns = q.edns_size.is_some();
    let limit = q.edns_size.map_or(512, |s| s.max(512)) as usize;
    let opt_len = if edns { 11 } else { 0 };
    // As many whole records as fit (all of one family, so of one size); the rest
    // are left for TCP, with TC set.
    let record_len = if addrs.first().is_some_and(IpAddr::is_ipv6) { 28 } else { 16 };
    let room = limit.saturating_sub(q.question_end + opt_len) / record_len;
    let fits = addrs.len() <= room;
    let addrs = &addrs[..addrs.len().min(room)];
    let rd = query[2] & 0x01;
    let aa = if rcode == RCODE_REFUSED { 0 } else { 0x04 };
    let tc = if fits { 0 } else { 0x02 }; // more than fits: the rest over TCP
    out.clear();
    out.extend_from_slice(&[
        query[0],
        query[1],
        0x80 | aa | tc | rd, // QR, AA (not for REFUSED), TC, RD as asked
        0x80 | rcode,        // RA
        0,
        1,
        0,
        addrs.len() as u8,
        0,
        0,
        0,
        edns as u8,
    ]);
    out.extend_from_slice(&query[12..q.question_end]);
    let ttl = ttl.to_be_bytes();
    for ip in addrs {
        // The name is a pointer to the question's; then type, class, TTL, length.
        let mut rr = [0xc0, 0x0c, 0, 0, 0, 1, ttl[0], ttl[1], ttl[2], ttl[3], 0, 0];
        match ip {
            IpAddr::V4(v4) => {
                (rr[3], rr[11]) = (TYPE_A as u8, 4);
                out.extend_from_slice(&rr);
                out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                (rr[3], rr[11]) = (TYPE_AAAA as u8, 16);
                out.extend_from_slice(&rr);
                out.extend_from_slice(&v6.octets());
            }
        }
    }
    if edns {
        let [hi, lo] = OUR_UDP_SIZE.to_be_bytes();
        out.extend_from_slice(&[0, 0, TYPE_OPT as u8, hi, lo, 0, 0, 0, 0, 0, 0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::respond::{encode_for_udp, local_response};
    use crate::test_support::{one_network_zone, query};
    use hickory_proto::op::Message;
    use hickory_proto::rr::RecordType;

    fn zone() -> Zone {
        one_network_zone(&[("Redis", &[], "172.18.0.2".parse().unwrap())])
    }

    /// The fast path says exactly what the general path says.
    #[test]
    fn same_answers_as_the_general_path() {
        let z = zone();
        for (name, t, edns) in [
            ("redis.", RecordType::A, false),
            ("REDIS.net.", RecordType::A, true),
            ("redis.", RecordType::AAAA, true),
            ("nope.", RecordType::A, false),
            ("nope.", RecordType::A, true),
        ] {
            let req = query(name, t, edns);
            let bytes = req.to_vec().unwrap();
            let mut fast = Vec::new();
            assert!(answer(&z, z.placed_view("c"), 600, &bytes, &mut fast), "{name}");
            let general = local_response(&req, &z.lookup("c", name, t), 600).unwrap();
            let fast = Message::from_vec(&fast).unwrap();
            let general = Message::from_vec(&encode_for_udp(&req, general)).unwrap();
            assert_eq!(fast.metadata, general.metadata, "{name}");
            assert_eq!(fast.queries, general.queries);
            assert_eq!(fast.answers, general.answers);
            assert_eq!(fast.edns.is_some(), general.edns.is_some());
        }
    }

    /// 16 AAAA records for a long name do not fit in 512 bytes: as many as fit
    /// with TC without EDNS (the same ones as the general path keeps), all of them
    /// with it.
    #[test]
    fn truncates_as_the_general_path() {
        let long = format!("web-{}", "x".repeat(56));
        let web = [long.clone()];
        let names: Vec<String> = (0..16).map(|i| format!("w{i}")).collect();
        let holders: Vec<(&str, &[String], IpAddr)> = (0..16)
            .map(|i| (names[i].as_str(), &web[..], format!("fd00::{}", i + 2).parse().unwrap()))
            .collect();
        let z = one_network_zone(&holders);
        for edns in [false, true] {
            let req = query(&format!("{long}."), RecordType::AAAA, edns);
            let mut fast = Vec::new();
            assert!(answer(&z, z.placed_view("c"), 600, &req.to_vec().unwrap(), &mut fast));
            let general = local_response(&req, &z.lookup("c", &long, RecordType::AAAA), 600).unwrap();
            let fast = Message::from_vec(&fast).unwrap();
            let general = Message::from_vec(&encode_for_udp(&req, general)).unwrap();
            assert_eq!(fast.metadata, general.metadata, "edns {edns}");
            assert_eq!(fast.metadata.truncation, !edns);
            // The header and question take 78 bytes, then 28 per record: 15 fit in 512.
            assert_eq!(fast.answers.len(), if edns { 16 } else { 15 });
            assert_eq!(fast.answers.len(), general.answers.len());
            let sorted = |m: &Message| {
                let mut a: Vec<_> =
                    m.answers.iter().map(|r| (r.name.clone(), r.ttl, r.data.clone())).collect();
                a.sort_by_key(|r| r.2.ip_addr());
                a
            };
            if edns {
                assert_eq!(sorted(&fast), sorted(&general));
            } else {
                assert!(sorted(&fast).iter().all(|r| r.0.to_ascii() == format!("{long}.") && r.1 == 600));
            }
        }
    }

    /// Found by the dns_fastpath fuzz target: an OPT record whose version is 255
    /// and whose options run past the end. hickory-proto cannot read it (FORMERR
    /// on the general path), so the fast path must not answer it either; nor a
    /// label holding a '.', which the general path reads as one escaped label.
    #[test]
    fn what_hickory_cannot_read_is_not_answered_fast() {
        let z = one_network_zone(&[("big", &[], "172.18.0.2".parse().unwrap())]);
        let crash: &[u8] = &[
            18, 52, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 98, 105, 103, 0, 0, 1, 0, 1, 0, 0, 41, 16, 0, 255, 255,
            255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 29, 0, 0,
            0, 0, 0,
        ];
        let mut out = Vec::new();
        assert!(!answer(&z, z.placed_view("c"), 600, crash, &mut out));
        assert!(matches!(crate::respond::general(&z, "c", 600, crash), crate::respond::General::Raw(_)));
        let mut dotted = query("big.", RecordType::A, false).to_vec().unwrap();
        dotted.splice(12..17, *b"\x07big.net\x00");
        assert!(!answer(&z, z.placed_view("c"), 600, &dotted, &mut out));
        let mut trailing = query("big.", RecordType::A, false).to_vec().unwrap();
        trailing.push(0);
        assert!(!answer(&z, z.placed_view("c"), 600, &trailing, &mut out));
        // Found by the fuzz target too: a name of 256 bytes on the wire (hickory-proto
        // cannot read the answer back: DomainNameTooLong).
        let long = format!("{}.{}.{}.{}.", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(62));
        let mut too_long = query("big.", RecordType::A, false).to_vec().unwrap();
        let mut wire = Vec::new();
        for label in long.trim_end_matches('.').split('.') {
            wire.push(label.len() as u8);
            wire.extend_from_slice(label.as_bytes());
        }
        wire.push(0);
        assert_eq!(wire.len(), 256);
        too_long.splice(12..17, wire);
        assert!(!answer(&z, z.placed_view("c"), 600, &too_long, &mut out));
        // dig's usual question: EDNS with a COOKIE option is still answered here.
        let mut cookie = query("big.", RecordType::A, true).to_vec().unwrap();
        let n = cookie.len();
        cookie[n - 2..].copy_from_slice(&12u16.to_be_bytes());
        cookie.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(answer(&z, z.placed_view("c"), 600, &cookie, &mut out));
        assert_eq!(Message::from_vec(&out).unwrap().answers.len(), 1);
    }

    #[test]
    fn leaves_the_rest_to_the_general_path() {
        let z = zone();
        let mut out = Vec::new();
        for (name, t) in [
            ("2.0.18.172.in-addr.arpa.", RecordType::PTR),
            ("example.com.", RecordType::A),
            ("redis.", RecordType::MX),
        ] {
            let bytes = query(name, t, false).to_vec().unwrap();
            assert!(!answer(&z, z.placed_view("c"), 600, &bytes, &mut out), "{name}");
        }
        assert!(!answer(&z, z.placed_view("c"), 600, &[1, 2, 3], &mut out));
    }
}

/// Not a test: the fast path's time per answer, one holder and three (shuffled).
/// `cargo test --release -p netctl-dns bench_answer -- --ignored --nocapture`
#[cfg(test)]
mod bench {
    use super::*;
    use crate::test_support::{one_network_zone, query};
    use hickory_proto::rr::RecordType;

    #[test]
    #[ignore]
    fn bench_answer() {
        let svc = ["svc".to_string()];
        let z = one_network_zone(&[
            ("solo", &[], "10.0.0.9".parse().unwrap()),
            ("w0", &svc, "10.0.0.2".parse().unwrap()),
            ("w1", &svc, "10.0.0.3".parse().unwrap()),
            ("w2", &svc, "10.0.0.4".parse().unwrap()),
        ]);
        for name in ["solo.", "svc."] {
            let q = query(name, RecordType::A, true).to_vec().unwrap();
            let (mut out, view) = (Vec::with_capacity(512), z.placed_view("c"));
            let mut best = f64::MAX;
            for _ in 0..5 {
                let t = std::time::Instant::now();
                for _ in 0..2_000_000 {
                    assert!(answer(&z, view, 600, std::hint::black_box(&q), &mut out));
                }
                best = best.min(t.elapsed().as_nanos() as f64 / 2e6);
            }
            eprintln!("{name} {best:.1} ns per answer (best of 5 × 2M)");
        }
    }
}
