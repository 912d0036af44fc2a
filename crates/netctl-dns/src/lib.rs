//! The embedded resolver at 127.0.0.11: what a container may see (its view over
//! the records of its networks), how a DNS message is answered from that, and
//! forwarding of other names to upstream servers with a cache. Listeners (sockets
//! bound inside containers' namespaces) are made by the daemon and served here.

pub mod fastpath;
pub mod forward;
pub mod respond;
pub mod serve;
#[cfg(test)]
mod test_support;
mod udp_loop;
pub mod zone;

pub use forward::Forwarder;
pub use serve::Resolver;
pub use zone::{Answer, Zone, ZoneBuilder};
