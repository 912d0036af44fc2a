//! Zones and questions shared by the crate's unit tests.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RecordType};

use crate::respond::OUR_UDP_SIZE;
use crate::zone::{EndpointNames, View, Zone, ZoneBuilder};

/// A recursive query for `name`, with an EDNS record offering our UDP size if `edns`.
pub fn query(name: &str, t: RecordType, edns: bool) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(OUR_UDP_SIZE);
        m.edns = Some(e);
    }
    m
}

/// Network `net` (id `n`) with one endpoint per `(name, aliases, address)` (the
/// name is its short id and hostname too), asked from container `c` on it.
pub fn one_network_zone(holders: &[(&str, &[String], IpAddr)]) -> Zone {
    let mut b = ZoneBuilder::default();
    b.add_network("n", "net", &[]);
    for (name, aliases, ip) in holders {
        b.add_endpoint(&EndpointNames {
            network_id: "n",
            network_name: "net",
            container_name: name,
            short_id: name,
            hostname: name,
            aliases,
            addresses: &[*ip],
        });
    }
    b.add_view("c", View { networks: vec!["n".into()], ..Default::default() });
    b.build()
}
