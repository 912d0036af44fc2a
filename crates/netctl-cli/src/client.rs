//! The daemon's API client, shared with netctl-cni (crates/netctl-client).

pub use netctl_client::*;
