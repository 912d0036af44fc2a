//! The embedded resolver at 127.0.0.11 (per-container views over per-network
//! records, forwarding with a cache). Arrives with the resolver issue; the crate
//! exists now so the workspace has its final shape.
