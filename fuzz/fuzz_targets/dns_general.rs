//! The general answer path (hickory-proto parsing, the zone's lookup, encoding for
//! UDP and TCP) on any packet, from any kind of asker: no panic, every answer
//! parses and fits, and nothing of ours is ever to be forwarded. The same bytes
//! are also taken as an upstream's answer and truncated for a 512-byte client.
#![no_main]

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use netctl_dns::respond::{encode_for_udp, general, General};
use netctl_fuzz::{check_forwardable, udp_limit, zone, ASKERS};

fuzz_target!(|data: &[u8]| {
    let zone = zone();
    // The asker by the message's id, which is arbitrary anyway: each input is
    // answered once, not once per asker.
    let asker = ASKERS[usize::from(data.first().copied().unwrap_or(0)) % ASKERS.len()];
    {
        match general(zone, asker, 600, data) {
            General::Drop => assert!(data.len() < 12 || data[2] & 0x80 != 0, "a query got no answer"),
            General::Raw(out) => {
                assert_eq!(out.len(), 12);
                assert_eq!(out[..2], data[..2], "the id is kept");
                assert!(out[2] & 0x80 != 0, "QR set");
            }
            General::Local { req, resp } => {
                let tcp = resp.to_vec().expect("a local answer encodes");
                Message::from_vec(&tcp).expect("the TCP answer parses");
                let udp = encode_for_udp(&req, *resp);
                assert!(udp.len() <= udp_limit(&req), "{} bytes over UDP", udp.len());
                let back = Message::from_vec(&udp).expect("the UDP answer parses");
                assert_eq!(back.metadata.id, req.metadata.id);
            }
            General::Forward(req) => check_forwardable(asker, &req),
        }
    }
    // An upstream's answer (whatever it holds) for a client without EDNS.
    if let Ok(upstream) = Message::from_vec(data) {
        let mut req = Message::query();
        req.queries = upstream.queries.clone();
        let udp = encode_for_udp(&req, upstream);
        assert!(udp.len() <= 512, "{} bytes for a 512-byte client", udp.len());
        if !udp.is_empty() {
            Message::from_vec(&udp).expect("the truncated answer parses");
        }
    }
});
