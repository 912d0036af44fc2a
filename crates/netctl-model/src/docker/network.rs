//! Networks in Docker's words (moby `api/types/network`): inspect, create,
//! connect, disconnect, prune.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::api::{IpamConfigRequest, IpamRequest, NetworkCreateRequest};
use crate::container::{Container, Endpoint};
use crate::{ModelError, Network};

/// Go's nil maps and slices arrive as `null`.
pub fn null_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inspect {
    pub name: String,
    #[serde(rename = "Id")]
    pub id: String,
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub config_from: ConfigReference,
    pub config_only: bool,
    pub containers: BTreeMap<String, EndpointResource>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    #[serde(default, deserialize_with = "null_default")]
    pub driver: String,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    #[serde(
        rename = "IPRange",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_range: String,
    #[serde(default, deserialize_with = "null_default", skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(
        rename = "AuxiliaryAddresses",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub aux_addresses: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigReference {
    #[serde(default, deserialize_with = "null_default")]
    pub network: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointResource {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

impl Inspect {
    /// `containers` is empty for `GET /networks`, as Docker lists them.
    pub fn of(net: &Network, containers: BTreeMap<String, EndpointResource>) -> Self {
        Inspect {
            name: net.name.clone(),
            id: net.id.clone(),
            created: super::go_time(net.created),
            scope: "local".into(),
            driver: net.driver.clone(),
            enable_ipv4: net.subnets.iter().any(|s| s.subnet.is_ipv4()),
            enable_ipv6: net.enable_ipv6,
            ipam: Ipam {
                driver: "default".into(),
                options: None,
                config: net
                    .subnets
                    .iter()
                    .map(|s| IpamConfig {
                        subnet: s.subnet.to_string(),
                        ip_range: s.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                        gateway: s.gateway.to_string(),
                        aux_addresses: s
                            .aux_addresses
                            .iter()
                            .map(|(k, v)| (k.clone(), v.to_string()))
                            .collect(),
                    })
                    .collect(),
            },
            internal: net.internal,
            attachable: net.attachable,
            ingress: false,
            config_from: ConfigReference::default(),
            config_only: false,
            containers,
            options: net.shown_options(),
            labels: net.labels.clone(),
        }
    }
}

/// `POST /networks/create` (moby `network.CreateRequest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateRequest {
    pub name: String,
    /// Deprecated since API 1.44 (names are always checked); accepted.
    #[serde(default)]
    pub check_duplicate: Option<bool>,
    #[serde(default, deserialize_with = "null_default")]
    pub driver: String,
    #[serde(default, deserialize_with = "null_default")]
    pub scope: String,
    #[serde(rename = "EnableIPv4", default)]
    pub enable_ipv4: Option<bool>,
    #[serde(rename = "EnableIPv6", default)]
    pub enable_ipv6: Option<bool>,
    #[serde(rename = "IPAM", default)]
    pub ipam: Option<Ipam>,
    #[serde(default, deserialize_with = "null_default")]
    pub internal: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub attachable: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub ingress: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub config_only: bool,
    #[serde(default)]
    pub config_from: Option<ConfigReference>,
    #[serde(default, deserialize_with = "null_default")]
    pub options: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_default")]
    pub labels: BTreeMap<String, String>,
}

impl CreateRequest {
    /// netctl's own request, or why netctl cannot make this network.
    pub fn to_netctl(&self) -> Result<NetworkCreateRequest, ModelError> {
        if !matches!(self.scope.as_str(), "" | "local") {
            return Err(ModelError::invalid(format!(
                "scope {:?} is not supported: netctl networks are local",
                self.scope
            )));
        }
        if self.ingress {
            return Err(ModelError::invalid("ingress networks are swarm's: netctl has none"));
        }
        if self.config_only || self.config_from.as_ref().is_some_and(|c| !c.network.is_empty()) {
            return Err(ModelError::invalid(
                "config-only networks (--config-only, --config-from) are not supported",
            ));
        }
        let ipam = self.ipam.as_ref().map(|i| IpamRequest {
            driver: Some(i.driver.clone()).filter(|d| !d.is_empty()),
            config: i
                .config
                .iter()
                .map(|c| IpamConfigRequest {
                    subnet: Some(c.subnet.clone()).filter(|s| !s.is_empty()),
                    ip_range: Some(c.ip_range.clone()).filter(|s| !s.is_empty()),
                    gateway: Some(c.gateway.clone()).filter(|s| !s.is_empty()),
                    aux_addresses: c.aux_addresses.clone(),
                })
                .collect(),
            options: i.options.clone().unwrap_or_default(),
        });
        Ok(NetworkCreateRequest {
            name: self.name.clone(),
            driver: Some(self.driver.clone()).filter(|d| !d.is_empty()),
            ipam,
            internal: self.internal,
            attachable: self.attachable,
            enable_ipv4: self.enable_ipv4,
            enable_ipv6: self.enable_ipv6,
            options: self.options.clone(),
            labels: self.labels.clone(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateResponse {
    #[serde(rename = "Id")]
    pub id: String,
    pub warning: String,
}

/// `POST /networks/{id}/connect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectRequest {
    pub container: String,
    #[serde(default)]
    pub endpoint_config: Option<EndpointSettings>,
}

/// `POST /networks/{id}/disconnect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DisconnectRequest {
    pub container: String,
    #[serde(default, deserialize_with = "null_default")]
    pub force: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PruneResponse {
    pub networks_deleted: Vec<String>,
}

/// A container's endpoint on a network: in a connect request, and in a
/// container's `NetworkSettings.Networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig", default)]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(default)]
    pub links: Option<Vec<String>>,
    #[serde(default)]
    pub aliases: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub mac_address: String,
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "null_default")]
    pub gw_priority: i64,
    #[serde(rename = "NetworkID", default, deserialize_with = "null_default")]
    pub network_id: String,
    #[serde(rename = "EndpointID", default, deserialize_with = "null_default")]
    pub endpoint_id: String,
    #[serde(default, deserialize_with = "null_default")]
    pub gateway: String,
    #[serde(rename = "IPAddress", default, deserialize_with = "null_default")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen", default, deserialize_with = "null_default")]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway", default, deserialize_with = "null_default")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address", default, deserialize_with = "null_default")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen", default, deserialize_with = "null_default")]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "DNSNames", default)]
    pub dns_names: Option<Vec<String>>,
}

impl EndpointSettings {
    /// `c`'s endpoint `ep` on `net` (None: a network gone from the registry) as
    /// Docker shows it, for `netctl inspect` and the Engine API alike.
    /// `links` is true for the endpoint that carries the container's `--link`s:
    /// Docker keeps them with the network `run --network` named, when it is
    /// user-defined (on the default bridge they are legacy links, shown in
    /// `HostConfig.Links` instead).
    pub fn of(c: &Container, ep: &Endpoint, net: Option<&Network>, links: bool) -> Self {
        let user_defined = net.is_some_and(|n| !n.builtin);
        // Docker's buildEndpointDNSNames: every name the resolver answers for this
        // endpoint, the first one the PTR's; none on the default bridge.
        let dns_names = user_defined.then(|| {
            let mut names = vec![c.name.clone()];
            names.extend(ep.aliases.iter().cloned());
            names.push(c.short_id().to_string());
            names.push(c.hostname.clone());
            let mut seen = std::collections::HashSet::new();
            names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
            names
        });
        let requested = EndpointIpamConfig {
            ipv4_address: ep.requested_ipv4.map(|a| a.to_string()).unwrap_or_default(),
            ipv6_address: ep.requested_ipv6.map(|a| a.to_string()).unwrap_or_default(),
            link_local_ips: None,
        };
        let links = (links && user_defined && !c.links.is_empty()).then(|| {
            c.links
                .iter()
                .map(|l| if l.alias == l.name { l.name.clone() } else { format!("{}:{}", l.name, l.alias) })
                .collect()
        });
        EndpointSettings {
            ipam_config: (requested != EndpointIpamConfig::default()).then_some(requested),
            links,
            aliases: (!ep.aliases.is_empty()).then(|| ep.aliases.clone()),
            mac_address: ep.mac.clone(),
            driver_opts: None,
            gw_priority: 0,
            network_id: ep.network_id.clone(),
            endpoint_id: ep.id.clone(),
            gateway: ep.gateway.map(|g| g.to_string()).unwrap_or_default(),
            ip_address: ep.ipv4.map(|a| a.ip().to_string()).unwrap_or_default(),
            ip_prefix_len: ep.ipv4.map(|a| a.prefix()).unwrap_or(0),
            ipv6_gateway: ep.gateway6.map(|g| g.to_string()).unwrap_or_default(),
            global_ipv6_address: ep.ipv6.map(|a| a.ip().to_string()).unwrap_or_default(),
            global_ipv6_prefix_len: ep.ipv6.map(|a| a.prefix()).unwrap_or(0),
            dns_names,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointIpamConfig {
    #[serde(
        rename = "IPv4Address",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv4_address: String,
    #[serde(
        rename = "IPv6Address",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", default, skip_serializing_if = "Option::is_none")]
    pub link_local_ips: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_body_converts() {
        // What `docker network create --subnet ... --aux-address ... -o ... --label ...` sends.
        let body = r#"{"Name":"fe","Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":null,
            "Config":[{"Subnet":"10.9.0.0/16","IPRange":"10.9.5.0/24","Gateway":"10.9.0.254",
            "AuxiliaryAddresses":{"router":"10.9.0.2"}}]},"Internal":true,"Attachable":true,"Ingress":false,
            "ConfigOnly":false,"ConfigFrom":null,"Options":{"com.docker.network.driver.mtu":"1400"},
            "Labels":{"env":"prod"}}"#;
        let req: CreateRequest = serde_json::from_str(body).unwrap();
        let n = req.to_netctl().unwrap();
        assert_eq!(n.driver.as_deref(), Some("bridge"));
        let cfg = &n.ipam.as_ref().unwrap().config[0];
        assert_eq!(cfg.ip_range.as_deref(), Some("10.9.5.0/24"));
        assert_eq!(cfg.aux_addresses["router"], "10.9.0.2");
        assert!(n.internal && n.attachable);
        let swarm = CreateRequest { scope: "swarm".into(), ..req };
        assert!(swarm.to_netctl().is_err());
    }

    #[test]
    fn endpoint_settings_key_order() {
        let text = serde_json::to_string(&EndpointSettings::default()).unwrap();
        assert!(text.starts_with(r#"{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"#), "{text}");
    }
}
