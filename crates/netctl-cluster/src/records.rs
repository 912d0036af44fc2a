//! The values stored under the keys: small JSON documents, so that `etcdctl get`
//! shows an operator what the cluster holds.

use std::net::IpAddr;

use netctl_model::Network;
use serde::{Deserialize, Serialize};

/// A live host: present while its lease is kept alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    pub name: String,
    /// Its underlay address: where VXLAN packets for its containers go.
    pub advertise: IpAddr,
    pub vxlan_port: u16,
}

/// An overlay network, the same on every host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    #[serde(flatten)]
    pub network: Network,
    /// Set while `network rm` checks that no host has an endpoint on it: connects
    /// that race the removal fail instead of landing on a network about to go.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removing: bool,
}

/// A container's endpoint on an overlay network, published by its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub container_id: String,
    pub container_name: String,
    pub short_id: String,
    pub hostname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<IpAddr>,
    pub mac: String,
    /// The underlay address of the host that runs the container.
    pub underlay: IpAddr,
}

impl EndpointRecord {
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.ipv4.iter().chain(self.ipv6.iter()).copied()
    }
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(key: &[u8], value: &[u8]) -> crate::Result<T> {
    serde_json::from_slice(value).map_err(|e| crate::ClusterError::Record {
        key: String::from_utf8_lossy(key).into_owned(),
        message: e.to_string(),
    })
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialize")
}
