//! netctl's vocabulary: networks, names and ids, IP address management and the
//! API's request/response types. Pure logic: nothing here touches the kernel.

pub mod addresses;
pub mod api;
pub mod api_containers;
pub mod container;
pub mod docker;
pub mod error;
pub mod filter;
pub mod generated_name;
pub mod id;
pub mod ipam;
pub mod links;
pub mod name;
pub mod network;
pub mod options;
pub mod ports;

pub use error::ModelError;
pub use network::{Network, SubnetConfig};
