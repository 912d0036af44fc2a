//! Turning a question and its answer into a DNS message (hickory-proto's wire format).

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{Name, RData, Record};

use crate::zone::Answer;

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

/// Encodes for UDP: if it exceeds what the client can take (512 without EDNS),
/// the records are dropped and TC set, so the client asks again over TCP.
pub fn encode_for_udp(req: &Message, mut resp: Message) -> Vec<u8> {
    let limit = req.max_payload() as usize;
    match resp.to_vec() {
        Ok(bytes) if bytes.len() <= limit => bytes,
        _ => {
            resp.answers.clear();
            resp.authorities.clear();
            resp.additionals.clear();
            resp.metadata.truncation = true;
            resp.to_vec().unwrap_or_default()
        }
    }
}

/// A minimal error answer for a message we could not even decode: its id and
/// FORMERR, from the raw bytes.
pub fn formerr(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() < 12 {
        return None;
    }
    let mut out = raw[..12].to_vec();
    out[2] = 0x80 | (raw[2] & 0x79); // QR, keep opcode and RD
    out[3] = 0x80 | 1; // RA, FORMERR
    out[4..12].fill(0);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::query;
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
        assert!(back.metadata.truncation && back.answers.is_empty() && bytes.len() <= 512);
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
}
