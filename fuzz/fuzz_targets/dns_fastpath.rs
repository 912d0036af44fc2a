//! The UDP fast path against the general path: any packet the fast path answers
//! must parse, fit the client's UDP size, and say what the general path says.
#![no_main]

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use netctl_dns::fastpath;
use netctl_dns::respond::{encode_for_udp, general, General};
use netctl_fuzz::{udp_limit, zone, ASKERS};

fuzz_target!(|data: &[u8]| {
    let zone = zone();
    let mut out = Vec::new();
    for asker in ASKERS {
        if !fastpath::answer(zone, zone.placed_view(asker), 600, data, &mut out) {
            continue;
        }
        let fast = Message::from_vec(&out).expect("the fast path's answer parses");
        let General::Local { req, resp } = general(zone, asker, 600, data) else {
            panic!("the fast path answered what the general path does not answer locally");
        };
        assert!(out.len() <= udp_limit(&req), "{} bytes over UDP", out.len());
        let general = Message::from_vec(&encode_for_udp(&req, *resp)).expect("the general answer parses");
        assert_eq!(fast.metadata, general.metadata);
        assert_eq!(fast.queries, general.queries);
        assert_eq!(fast.edns.is_some(), general.edns.is_some());
        assert_eq!(fast.answers.len(), general.answers.len());
        // Holders come in a random order: the same records, whatever the order
        // (unless truncated, when each keeps the first that fit of its own order).
        if !fast.metadata.truncation {
            let mut a: Vec<String> = fast.answers.iter().map(|r| r.to_string()).collect();
            let mut b: Vec<String> = general.answers.iter().map(|r| r.to_string()).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b);
        }
    }
});
