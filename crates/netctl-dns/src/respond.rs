//! Turning a question and its answer into a DNS message (hickory-proto's wire format).

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record};

use crate::zone::{Answer, Zone};

/// What we announce as our EDNS UDP size.
pub const OUR_UDP_SIZE: u16 = 1232;

/// A response skeleton for `req`: same id, question and RD; RA set; EDNS echoed
/// when the client sent it.
pub fn response_to(req: &Message, code: ResponseCode) -> Message {
    let mut resp = Message::new(req.metadata.id, MessageType::Response, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.metadata.response_code = code;
    resp.queries = req.queries.clone();
    if req.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_UDP_SIZE);
        resp.edns = Some(edns);
    }
    resp
}

/// The response for a locally answered question; None for `Answer::Forward`.
pub fn local_response(req: &Message, answer: &Answer, ttl: u32) -> Option<Message> {
    let query = req.queries.first()?;
    let name: Name = query.name().clone();
    let resp = match answer {
        Answer::Forward => return None,
        Answer::NxDomain => {
            // We own the names of containers: saying one does not exist is authoritative.
            let mut resp = response_to(req, ResponseCode::NXDomain);
            resp.metadata.authoritative = true;
            resp
        }
        Answer::Refused => response_to(req, ResponseCode::Refused),
        Answer::Addrs(addrs) => {
            let mut resp = response_to(req, ResponseCode::NoError);
            resp.metadata.authoritative = true;
            for ip in addrs {
                let rdata = match ip {
                    IpAddr::V4(v4) => RData::A(A(*v4)),
                    IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
                };
                resp.answers.push(Record::from_rdata(name.clone(), ttl, rdata));
            }
            resp
        }
        Answer::Ptr(target) => {
            let mut resp = response_to(req, ResponseCode::NoError);
            resp.metadata.authoritative = true;
            if let Ok(target) = Name::from_ascii(target) {
                resp.answers.push(Record::from_rdata(name, ttl, RData::PTR(PTR(target))));
            }
            resp
        }
    };
    Some(resp)
}

/// Encodes for UDP within what the client can take (512 without EDNS): if the
/// whole answer does not fit, the authority and additional records go, then as
/// many whole answer records are kept as fit, with TC set. A client that asks
/// again over TCP gets everything; one that never does still gets addresses.
pub fn encode_for_udp(req: &Message, mut resp: Message) -> Vec<u8> {
    let limit = (req.max_payload() as usize).max(512);
    if let Ok(bytes) = resp.to_vec() {
        if bytes.len() <= limit {
            return bytes;
        }
    }
    resp.metadata.truncation = true;
    resp.authorities.clear();
    resp.additionals.clear();
    let answers = std::mem::take(&mut resp.answers);
    // The largest count that fits (encoded sizes grow with the count), by halving.
    let fits = |resp: &mut Message, n: usize| {
        resp.answers.clear();
        resp.answers.extend_from_slice(&answers[..n]);
        resp.to_vec().ok().filter(|b| b.len() <= limit)
    };
    let (mut lo, mut hi) = (0, answers.len());
    let mut best = fits(&mut resp, 0);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        match fits(&mut resp, mid) {
            Some(bytes) => {
                lo = mid;
                best = Some(bytes);
            }
            None => hi = mid - 1,
        }
    }
    if let Some(bytes) = best {
        return bytes;
    }
    // Not even the question fits (a limit below the question's size cannot
    // happen with 512 at least, but an unencodable message can): header only.
    resp.answers.clear();
    resp.queries.clear();
    resp.edns = None;
    resp.to_vec().unwrap_or_default()
}

/// What the general path does with a raw message.
#[derive(Debug)]
pub enum General {
    /// Nothing at all (see `Precheck::Drop`).
    Drop,
    /// This answer, made from the raw bytes.
    Raw(Vec<u8>),
    /// A local answer to `req`, to be encoded for the transport it came by.
    Local { req: Box<Message>, resp: Box<Message> },
    /// Not ours: to be forwarded.
    Forward(Box<Message>),
}

/// The general path short of forwarding: any raw message from `container`,
/// checked, parsed by hickory-proto and answered from the zone. Pure, so that it
/// can be fuzzed and tested without sockets.
pub fn general(zone: &Zone, container: &str, ttl: u32, raw: &[u8]) -> General {
    match precheck(raw) {
        Precheck::Drop => return General::Drop,
        Precheck::Reply(out) => return General::Raw(out),
        Precheck::Query => {}
    }
    let Ok(req) = Message::from_vec(raw) else {
        return formerr(raw).map_or(General::Drop, General::Raw);
    };
    if req.queries.len() != 1 {
        let resp = Box::new(response_to(&req, ResponseCode::FormErr));
        return General::Local { req: Box::new(req), resp };
    }
    let q = &req.queries[0];
    let answer = zone.lookup(container, &q.name().to_ascii(), q.query_type());
    match local_response(&req, &answer, ttl) {
        Some(resp) => General::Local { req: Box::new(req), resp: Box::new(resp) },
        None => General::Forward(Box::new(req)),
    }
}

/// What to do with a raw message before it is parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Precheck {
    /// Not a question (too short to be one, or a response: QR=1): no answer at all,
    /// so that two resolvers can never bounce a packet between them.
    Drop,
    /// Answered from the header alone (an opcode other than QUERY: NOTIMP).
    Reply(Vec<u8>),
    /// A query: parse and answer it.
    Query,
}

pub fn precheck(raw: &[u8]) -> Precheck {
    if raw.len() < 12 || raw[2] & 0x80 != 0 {
        return Precheck::Drop;
    }
    let opcode = (raw[2] >> 3) & 0x0f;
    if opcode != 0 {
        return Precheck::Reply(header_only(raw, 4));
    }
    Precheck::Query
}

/// A header-only answer to `raw` (at least 12 bytes, QR=0): its id, opcode and RD,
/// with RA and `rcode`.
fn header_only(raw: &[u8], rcode: u8) -> Vec<u8> {
    let mut out = raw[..12].to_vec();
    out[2] = 0x80 | (raw[2] & 0x79); // QR, keep opcode and RD
    out[3] = 0x80 | rcode; // RA
    out[4..12].fill(0);
    out
}

/// A minimal error answer for a query we could not even decode: its id and
/// FORMERR, from the raw bytes; None for what `precheck` drops.
pub fn formerr(raw: &[u8]) -> Option<Vec<u8>> {
    match precheck(raw) {
        Precheck::Drop => None,
        Precheck::Reply(out) => Some(out),
        Precheck::Query => Some(header_only(raw, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::query;
    use hickory_proto::op::MessageType;
    use hickory_proto::rr::RecordType;

    #[test]
    fn addresses_nodata_nxdomain() {
        let req = query("redis.", RecordType::A, false);
        let resp = local_response(&req, &Answer::Addrs(vec!["172.18.0.2".parse().unwrap()]), 600).unwrap();
        let back = Message::from_vec(&encode_for_udp(&req, resp)).unwrap();
        assert_eq!(back.metadata.id, req.metadata.id);
        assert_eq!(back.metadata.response_code, ResponseCode::NoError);
        assert_eq!(back.answers.len(), 1);
        assert_eq!(back.answers[0].ttl, 600);
        let nodata = local_response(&req, &Answer::Addrs(vec![]), 600).unwrap();
        assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
        assert!(nodata.answers.is_empty());
        let nx = local_response(&req, &Answer::NxDomain, 600).unwrap();
        assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
        assert!(local_response(&req, &Answer::Forward, 600).is_none());
    }

    #[test]
    fn large_answers_truncate_over_udp_unless_edns_allows() {
        let addrs: Vec<IpAddr> = (1..=60).map(|i| format!("10.0.0.{i}").parse().unwrap()).collect();
        let plain = query("many.", RecordType::A, false);
        let bytes =
            encode_for_udp(&plain, local_response(&plain, &Answer::Addrs(addrs.clone()), 600).unwrap());
        let back = Message::from_vec(&bytes).unwrap();
        assert!(back.metadata.truncation && bytes.len() <= 512);
        // 12 header + 10 question + 16 per record: 30 whole records fit in 512.
        assert_eq!(back.answers.len(), 30, "as many whole records as fit");
        assert!(back.answers.iter().zip(&addrs).all(|(r, ip)| r.data.ip_addr() == Some(*ip)));
        let big = query("many.", RecordType::A, true);
        let bytes = encode_for_udp(&big, local_response(&big, &Answer::Addrs(addrs), 600).unwrap());
        let back = Message::from_vec(&bytes).unwrap();
        assert!(!back.metadata.truncation);
        assert_eq!(back.answers.len(), 60);
        assert!(back.edns.is_some(), "EDNS echoed");
    }

    #[test]
    fn formerr_keeps_id() {
        let out = formerr(&[0xab, 0xcd, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xff]).unwrap();
        assert_eq!(&out[..2], &[0xab, 0xcd]);
        assert_eq!(out[3] & 0x0f, 1);
        assert!(formerr(&[1, 2]).is_none());
    }

    /// STATUS (2), UPDATE (5) and the unassigned 15 are answered NOTIMP, with the
    /// opcode echoed; responses (QR=1) get nothing, whatever their opcode.
    #[test]
    fn other_opcodes_and_responses() {
        for opcode in [1u8, 2, 4, 5, 15] {
            let mut req = query("redis.", RecordType::A, false).to_vec().unwrap();
            req[2] |= opcode << 3;
            let Precheck::Reply(out) = precheck(&req) else { panic!("opcode {opcode}") };
            let back = Message::from_vec(&out).unwrap();
            assert_eq!(back.metadata.response_code, ResponseCode::NotImp, "opcode {opcode}");
            assert_eq!(u8::from(back.metadata.op_code), opcode);
            assert_eq!(back.metadata.message_type, MessageType::Response);
            assert_eq!(back.metadata.id, u16::from_be_bytes([req[0], req[1]]));
            assert_eq!(formerr(&req), Some(out));
            req[2] |= 0x80;
            assert_eq!(precheck(&req), Precheck::Drop);
            assert_eq!(formerr(&req), None);
        }
        let req = query("redis.", RecordType::A, false).to_vec().unwrap();
        assert_eq!(precheck(&req), Precheck::Query);
        assert_eq!(precheck(&req[..11]), Precheck::Drop);
    }

    /// Whatever the records, a truncated answer is within the client's size, parses,
    /// and keeps every record that fits whole.
    #[test]
    fn truncation_keeps_what_fits_for_any_size() {
        for edns_size in [0u16, 512, 600, 1000, 1232] {
            for n in [1usize, 5, 31, 32, 33, 100] {
                let addrs: Vec<IpAddr> = (0..n).map(|i| format!("fd00::{i:x}").parse().unwrap()).collect();
                let mut req =
                    query("a-long-name-for-many-addresses.example.", RecordType::AAAA, edns_size > 0);
                if let Some(e) = req.edns.as_mut() {
                    e.set_max_payload(edns_size);
                }
                let resp = local_response(&req, &Answer::Addrs(addrs.clone()), 600).unwrap();
                let whole = resp.to_vec().unwrap().len();
                let bytes = encode_for_udp(&req, resp);
                let limit = (edns_size as usize).max(512);
                assert!(bytes.len() <= limit, "{edns_size} {n}");
                let back = Message::from_vec(&bytes).unwrap();
                assert_eq!(back.metadata.truncation, whole > limit, "{edns_size} {n}");
                let per_record = 28;
                assert!(back.answers.len() == n || bytes.len() + per_record > limit, "{edns_size} {n}");
                assert!(whole <= limit || back.answers.len() < n);
            }
        }
    }
}
