//! netctl's control plane across hosts, kept in etcd: which hosts are alive (a
//! lease each), the overlay networks (the same record on every host), the
//! endpoints of containers on them and the addresses they hold. No consensus or
//! gossip of our own: etcd's transactions decide who gets a name or an address,
//! its leases remove what a dead host published, its watches tell every host.
//!
//! This crate knows etcd and the records; it knows nothing of the kernel. The
//! daemon (`netctl-daemon/src/cluster.rs`) turns what it reads into VXLAN
//! forwarding entries and resolver names. The key layout is in `docs/cluster.md`.

pub mod keys;
pub mod records;
mod session;
mod store;

pub use records::{EndpointRecord, HostRecord, NetworkRecord};
pub use session::{ClusterOptions, Session, Status, TlsFiles};
pub use store::{ClaimOutcome, PublishedEndpoint, Snapshot, Watch, WatchEvent, FIRST_VNI};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// etcd did not answer (down, partitioned, wrong address): overlay changes
    /// must wait; what is already known keeps working.
    #[error("the cluster's etcd ({endpoints}) is unreachable: {message}")]
    Unreachable { endpoints: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("invalid record at {key}: {message}")]
    Record { key: String, message: String },
    #[error("cluster configuration: {0}")]
    Config(String),
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
