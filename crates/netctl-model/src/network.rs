//! A network as netctl stores it, and the checks that turn a create request into one.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};

use crate::api::{EndpointInspect, IpamConfigInspect, IpamInspect, NetworkCreateRequest, NetworkInspect};
use crate::docker::network::ConfigReference;
use crate::ipam::{self, ValidSubnet};
use crate::name::validate_network_name;
use crate::options::{
    BridgeOptions, OPT_BRIDGE_NAME, OPT_DEFAULT_BRIDGE, OPT_ENABLE_ICC, OPT_ENABLE_IP_MASQUERADE,
    OPT_HOST_BINDING_IPV4, OPT_MTU,
};
use crate::{id, ModelError};

pub const BRIDGE_DRIVER: &str = "bridge";
/// A network of the cluster (`[cluster]` in netctl.toml): the same network on every
/// host, carried between hosts by VXLAN.
pub const OVERLAY_DRIVER: &str = "overlay";
/// Name of the built-in network every host has, as Docker's `bridge` (docker0).
pub const DEFAULT_NETWORK: &str = "bridge";
/// Names `netctl run --net` gives a meaning of their own; no network may take them.
pub const RESERVED_NAMES: [&str; 3] = ["bridge", "host", "none"];
pub const DEFAULT_MTU: u32 = 1500;
/// The most subnets one network may have: each is an address on the bridge and a
/// rule in the firewall, so one request must not ask for thousands.
pub const MAX_SUBNETS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetConfig {
    pub subnet: IpNetwork,
    pub gateway: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<IpNetwork>,
    /// Docker's auxiliary addresses: kept out of IPAM, shown by inspect.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, IpAddr>,
    /// Chosen by IPAM from the address pools, not given by the user: as in Docker,
    /// `--ip`/`--ip6` are refused on such a subnet (it may be another one after a
    /// re-create). Networks stored before this field count as user-configured.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic: bool,
}

impl From<ValidSubnet> for SubnetConfig {
    fn from(v: ValidSubnet) -> Self {
        Self {
            subnet: v.subnet,
            gateway: v.gateway,
            ip_range: v.ip_range,
            aux_addresses: BTreeMap::new(),
            automatic: false,
        }
    }
}

impl SubnetConfig {
    /// The gateway with the subnet's prefix: what the bridge carries.
    pub fn gateway_cidr(&self) -> IpNetwork {
        IpNetwork::new(self.gateway, self.subnet.prefix()).expect("gateway inside subnet")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub created: DateTime<Utc>,
    pub driver: String,
    /// The Linux bridge device that carries this network.
    pub bridge: String,
    pub mtu: u32,
    pub subnets: Vec<SubnetConfig>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub enable_icc: bool,
    pub enable_ip_masquerade: bool,
    /// The driver options as the user gave them (shown by inspect).
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// True for the default `bridge` network, which cannot be removed.
    #[serde(default)]
    pub builtin: bool,
    /// The VXLAN network identifier of an overlay network (same on every host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
}

impl Network {
    pub fn short_id(&self) -> &str {
        id::short_id(&self.id)
    }

    /// An overlay network: it exists on every host of the cluster.
    pub fn is_overlay(&self) -> bool {
        self.driver == OVERLAY_DRIVER
    }

    /// The VXLAN device of an overlay network on each host: `vx-` and 12 hex of the id.
    pub fn vxlan_device(&self) -> String {
        format!("vx-{}", self.short_id())
    }

    /// Docker's default bridge device name for a user network: `br-` and 12 hex of the id.
    pub fn default_bridge_name(id: &str) -> String {
        format!("br-{}", id::short_id(id))
    }

    /// The driver options as inspect shows them: the user's, and for the default
    /// bridge the ones Docker lists for docker0, with this bridge's values.
    pub fn shown_options(&self) -> BTreeMap<String, String> {
        let mut options = self.options.clone();
        if self.builtin {
            for (k, v) in [
                (OPT_DEFAULT_BRIDGE, "true".to_string()),
                (OPT_ENABLE_ICC, self.enable_icc.to_string()),
                (OPT_ENABLE_IP_MASQUERADE, self.enable_ip_masquerade.to_string()),
                (OPT_HOST_BINDING_IPV4, "0.0.0.0".to_string()),
                (OPT_BRIDGE_NAME, self.bridge.clone()),
                (OPT_MTU, self.mtu.to_string()),
            ] {
                options.entry(k.to_string()).or_insert(v);
            }
        }
        options
    }

    pub fn inspect(&self, containers: BTreeMap<String, EndpointInspect>) -> NetworkInspect {
        NetworkInspect {
            name: self.name.clone(),
            id: self.id.clone(),
            created: self.created,
            scope: if self.is_overlay() { "global" } else { "local" }.into(),
            driver: self.driver.clone(),
            enable_ipv4: self.subnets.iter().any(|s| s.subnet.is_ipv4()),
            enable_ipv6: self.enable_ipv6,
            ipam: IpamInspect {
                driver: "default".into(),
                options: BTreeMap::new(),
                config: self
                    .subnets
                    .iter()
                    .map(|s| IpamConfigInspect {
                        subnet: s.subnet.to_string(),
                        ip_range: s.ip_range.map(|r| r.to_string()),
                        gateway: s.gateway.to_string(),
                    })
                    .collect(),
            },
            internal: self.internal,
            attachable: self.attachable,
            ingress: false,
            config_from: ConfigReference::default(),
            config_only: false,
            containers,
            options: self.shown_options(),
            labels: self.labels.clone(),
        }
    }
}

/// `--aux-address` values of one subnet: addresses inside it, not its gateway.
fn aux_addresses(
    cfg: &SubnetConfig,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, IpAddr>, ModelError> {
    given
        .iter()
        .map(|(name, text)| {
            let ip: IpAddr = text.trim().parse().map_err(|_| {
                ModelError::invalid(format!("invalid aux-address {name}={text}: not an IP address"))
            })?;
            if !cfg.subnet.contains(ip) {
                return Err(ModelError::invalid(format!("no matching subnet for aux-address {ip}")));
            }
            if ip == cfg.gateway {
                return Err(ModelError::invalid(format!(
                    "aux-address {ip} is the gateway of {}",
                    cfg.subnet
                )));
            }
            Ok((name.clone(), ip))
        })
        .collect()
}

/// A create request after every check that needs no knowledge of other networks
/// or of the host. Subnets the user gave are validated; the rest come from IPAM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    /// `bridge` or `overlay`.
    pub driver: String,
    pub subnets: Vec<SubnetConfig>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv4: bool,
    pub enable_ipv6: bool,
    pub bridge_options: BridgeOptions,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

impl NetworkSpec {
    pub fn from_request(req: &NetworkCreateRequest) -> Result<Self, ModelError> {
        validate_network_name(&req.name)?;
        if RESERVED_NAMES.contains(&req.name.as_str()) {
            return Err(ModelError::Conflict(format!(
                "network name {:?} is reserved for the built-in networks",
                req.name
            )));
        }
        let driver = req.driver.as_deref().unwrap_or(BRIDGE_DRIVER);
        if driver != BRIDGE_DRIVER && driver != OVERLAY_DRIVER {
            return Err(ModelError::invalid(format!(
                "driver {driver:?} is not supported: netctl has the \"bridge\" and \"overlay\" drivers"
            )));
        }
        let bridge_options = BridgeOptions::parse(&req.options)?;
        if driver == OVERLAY_DRIVER && bridge_options.bridge_name.is_some() {
            return Err(ModelError::invalid(format!(
                "option {OPT_BRIDGE_NAME} is not for overlay networks: their bridge is br-<id> on every host"
            )));
        }
        for key in req.labels.keys() {
            if key.is_empty() {
                return Err(ModelError::invalid("label with an empty key"));
            }
        }
        let mut subnets = Vec::new();
        if let Some(ipam) = &req.ipam {
            if ipam.config.len() > MAX_SUBNETS {
                return Err(ModelError::invalid(format!(
                    "{} subnets given: a network has at most {MAX_SUBNETS}",
                    ipam.config.len()
                )));
            }
            if let Some(driver) = ipam.driver.as_deref() {
                if driver != "default" {
                    return Err(ModelError::invalid(format!(
                        "IPAM driver {driver:?} is not supported: only \"default\""
                    )));
                }
            }
            for cfg in &ipam.config {
                let Some(subnet_text) = cfg.subnet.as_deref() else {
                    if cfg.gateway.is_some() || cfg.ip_range.is_some() || !cfg.aux_addresses.is_empty() {
                        return Err(ModelError::invalid("--gateway and --ip-range need a --subnet"));
                    }
                    continue;
                };
                let subnet = ipam::parse_cidr("subnet", subnet_text)?;
                let valid = ipam::validate_subnet(subnet, cfg.gateway.as_deref(), cfg.ip_range.as_deref())?;
                let mut config = SubnetConfig::from(valid);
                config.aux_addresses = aux_addresses(&config, &cfg.aux_addresses)?;
                subnets.push(config);
            }
        }
        for (i, a) in subnets.iter().enumerate() {
            for b in &subnets[i + 1..] {
                if ipam::overlaps(&a.subnet, &b.subnet) {
                    return Err(ModelError::invalid(format!(
                        "subnets {} and {} overlap",
                        a.subnet, b.subnet
                    )));
                }
            }
        }
        let has_v4 = subnets.iter().any(|s| s.subnet.is_ipv4());
        let has_v6 = subnets.iter().any(|s| !s.subnet.is_ipv4());
        let enable_ipv6 = req.enable_ipv6.unwrap_or(has_v6);
        let enable_ipv4 = req.enable_ipv4.unwrap_or(true);
        if has_v6 && !enable_ipv6 {
            return Err(ModelError::invalid("an IPv6 subnet was given but IPv6 is disabled"));
        }
        if has_v4 && !enable_ipv4 {
            return Err(ModelError::invalid("an IPv4 subnet was given but IPv4 is disabled (--ipv4=false)"));
        }
        if !enable_ipv4 && !enable_ipv6 {
            return Err(ModelError::invalid("a network needs IPv4 or IPv6: --ipv4=false needs --ipv6"));
        }
        Ok(Self {
            name: req.name.clone(),
            driver: driver.to_string(),
            subnets,
            internal: req.internal,
            attachable: req.attachable,
            enable_ipv4,
            enable_ipv6,
            bridge_options,
            options: req.options.clone(),
            labels: req.labels.clone(),
        })
    }

    /// True when the user gave no IPv4 subnet and IPAM must pick one.
    pub fn needs_ipv4_subnet(&self) -> bool {
        self.enable_ipv4 && !self.subnets.iter().any(|s| s.subnet.is_ipv4())
    }

    /// True when IPv6 is on, the user gave no IPv6 subnet and IPAM must pick one.
    pub fn needs_ipv6_subnet(&self) -> bool {
        self.enable_ipv6 && !self.subnets.iter().any(|s| !s.subnet.is_ipv4())
    }

    pub fn into_network(self, id: String, created: DateTime<Utc>, default_mtu: u32) -> Network {
        let bridge =
            self.bridge_options.bridge_name.clone().unwrap_or_else(|| Network::default_bridge_name(&id));
        let mut subnets = self.subnets;
        // IPv4 first, as Docker lists them.
        subnets.sort_by_key(|s| !s.subnet.is_ipv4());
        Network {
            id,
            name: self.name,
            created,
            driver: self.driver,
            bridge,
            mtu: self.bridge_options.mtu.unwrap_or(default_mtu),
            subnets,
            internal: self.internal,
            attachable: self.attachable,
            enable_ipv6: self.enable_ipv6,
            enable_icc: self.bridge_options.enable_icc,
            enable_ip_masquerade: self.bridge_options.enable_ip_masquerade,
            options: self.options,
            labels: self.labels,
            builtin: false,
            vni: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{IpamConfigRequest, IpamRequest};

    fn req(name: &str) -> NetworkCreateRequest {
        NetworkCreateRequest { name: name.into(), ..Default::default() }
    }

    fn with_subnet(name: &str, subnet: &str, gw: Option<&str>, range: Option<&str>) -> NetworkCreateRequest {
        NetworkCreateRequest {
            ipam: Some(IpamRequest {
                driver: None,
                config: vec![IpamConfigRequest {
                    subnet: Some(subnet.into()),
                    gateway: gw.map(Into::into),
                    ip_range: range.map(Into::into),
                    aux_addresses: BTreeMap::new(),
                }],
                options: BTreeMap::new(),
            }),
            ..req(name)
        }
    }

    #[test]
    fn plain_request_needs_a_subnet() {
        let spec = NetworkSpec::from_request(&req("backend-network")).unwrap();
        assert!(spec.needs_ipv4_subnet());
        let id = "0123456789abcdef".repeat(4);
        let net = spec.into_network(id, Utc::now(), DEFAULT_MTU);
        assert_eq!(net.bridge, "br-0123456789ab");
        assert_eq!(net.mtu, 1500);
        assert!(net.enable_icc && net.enable_ip_masquerade);
    }

    #[test]
    fn given_subnet_is_validated_and_kept() {
        let spec = NetworkSpec::from_request(&with_subnet(
            "n",
            "10.5.0.0/24",
            Some("10.5.0.254"),
            Some("10.5.0.128/25"),
        ))
        .unwrap();
        assert!(!spec.needs_ipv4_subnet());
        assert_eq!(spec.subnets[0].gateway.to_string(), "10.5.0.254");
        assert_eq!(spec.subnets[0].gateway_cidr().to_string(), "10.5.0.254/24");
        assert!(NetworkSpec::from_request(&with_subnet("n", "10.5.0.0/24", Some("10.6.0.1"), None)).is_err());
    }

    #[test]
    fn rejects_bad_requests() {
        // Docker takes names with spaces; not an empty one, nor one with a "/".
        NetworkSpec::from_request(&req("my net")).unwrap();
        assert!(NetworkSpec::from_request(&req("")).is_err());
        assert!(NetworkSpec::from_request(&req("a/b")).is_err());
        assert!(matches!(NetworkSpec::from_request(&req("host")), Err(ModelError::Conflict(_))));
        let mut r = req("n");
        r.driver = Some("macvlan".into());
        assert!(NetworkSpec::from_request(&r).unwrap_err().to_string().contains("\"overlay\""));
        r.driver = Some("overlay".into());
        assert_eq!(NetworkSpec::from_request(&r).unwrap().driver, "overlay");
        let mut r = with_subnet("n", "10.5.0.0/24", None, None);
        r.ipam
            .as_mut()
            .unwrap()
            .config
            .push(IpamConfigRequest { subnet: Some("10.5.0.0/16".into()), ..Default::default() });
        assert!(NetworkSpec::from_request(&r).unwrap_err().to_string().contains("overlap"));
        // --ipv6 alone takes a subnet from the IPv6 pool; --ipv4=false needs --ipv6.
        let mut r = req("n");
        r.enable_ipv6 = Some(true);
        let spec = NetworkSpec::from_request(&r).unwrap();
        assert!(spec.needs_ipv6_subnet() && spec.needs_ipv4_subnet());
        r.enable_ipv4 = Some(false);
        let spec = NetworkSpec::from_request(&r).unwrap();
        assert!(spec.needs_ipv6_subnet() && !spec.needs_ipv4_subnet());
        r.enable_ipv6 = None;
        assert!(NetworkSpec::from_request(&r).unwrap_err().to_string().contains("--ipv4=false needs --ipv6"));
        for bad in ["127.0.0.0/8", "0.0.0.0/8", "224.0.0.0/24", "169.254.0.0/16"] {
            let err = NetworkSpec::from_request(&with_subnet("n", bad, None, None)).unwrap_err();
            assert!(
                matches!(err, ModelError::Invalid(_)) && err.to_string().contains("cannot be used"),
                "{bad}: {err}"
            );
        }
        let mut r = with_subnet("n", "10.5.0.0/24", None, None);
        let cfg = r.ipam.as_ref().unwrap().config[0].clone();
        r.ipam.as_mut().unwrap().config = (0..17)
            .map(|i| IpamConfigRequest { subnet: Some(format!("10.5.{i}.0/24")), ..cfg.clone() })
            .collect();
        assert!(NetworkSpec::from_request(&r).unwrap_err().to_string().contains("at most 16"));
    }

    #[test]
    fn ipv6_subnet_enables_ipv6() {
        let spec = NetworkSpec::from_request(&with_subnet("n", "fd00:1::/64", None, None)).unwrap();
        assert!(spec.enable_ipv6);
        assert!(spec.needs_ipv4_subnet());
    }

    #[test]
    fn inspect_has_docker_shape() {
        let spec = NetworkSpec::from_request(&with_subnet("n", "10.5.0.0/24", None, None)).unwrap();
        let net = spec.into_network("ab".repeat(32), Utc::now(), 1500);
        let json = serde_json::to_value(net.inspect(BTreeMap::new())).unwrap();
        for key in [
            "Name",
            "Id",
            "Created",
            "Scope",
            "Driver",
            "EnableIPv4",
            "EnableIPv6",
            "IPAM",
            "Internal",
            "Attachable",
            "ConfigFrom",
            "ConfigOnly",
            "Containers",
            "Options",
            "Labels",
        ] {
            assert!(json.get(key).is_some(), "missing {key} in {json}");
        }
        assert_eq!(json["IPAM"]["Config"][0]["Subnet"], "10.5.0.0/24");
        assert_eq!(json["IPAM"]["Config"][0]["Gateway"], "10.5.0.1");
        assert!(json["IPAM"]["Config"][0].get("IPRange").is_none());
        let round: NetworkInspect = serde_json::from_value(json).unwrap();
        assert_eq!(round.name, "n");
    }

    #[test]
    fn stored_form_round_trips() {
        let spec =
            NetworkSpec::from_request(&with_subnet("n", "10.5.0.0/24", None, Some("10.5.0.0/25"))).unwrap();
        let net = spec.into_network("cd".repeat(32), Utc::now(), 1400);
        let text = serde_json::to_string(&net).unwrap();
        let back: Network = serde_json::from_str(&text).unwrap();
        assert_eq!(back, net);
    }
}
