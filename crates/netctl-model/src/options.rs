//! The driver options (`-o K=V`) netctl understands, parsed once into typed fields.
//! The raw map is kept only to show it back in `network inspect`.

use std::collections::BTreeMap;

use crate::{name::validate_ifname, ModelError};

pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";
pub const OPT_ENABLE_ICC: &str = "com.docker.network.bridge.enable_icc";
pub const OPT_ENABLE_IP_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
/// Shown by inspect for the default bridge only, as Docker shows them for docker0.
pub const OPT_DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";
pub const OPT_HOST_BINDING_IPV4: &str = "com.docker.network.bridge.host_binding_ipv4";

pub const SUPPORTED_OPTIONS: [&str; 4] = [OPT_BRIDGE_NAME, OPT_MTU, OPT_ENABLE_ICC, OPT_ENABLE_IP_MASQUERADE];

pub const MIN_MTU: u32 = 68;
pub const MAX_MTU: u32 = 65535;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeOptions {
    pub bridge_name: Option<String>,
    pub mtu: Option<u32>,
    pub enable_icc: bool,
    pub enable_ip_masquerade: bool,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        Self { bridge_name: None, mtu: None, enable_icc: true, enable_ip_masquerade: true }
    }
}

impl BridgeOptions {
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self, ModelError> {
        let mut opts = Self::default();
        for (key, value) in raw {
            match key.as_str() {
                OPT_BRIDGE_NAME => {
                    validate_ifname(value)?;
                    opts.bridge_name = Some(value.clone());
                }
                OPT_MTU => opts.mtu = Some(parse_mtu(value)?),
                OPT_ENABLE_ICC => opts.enable_icc = parse_bool(key, value)?,
                OPT_ENABLE_IP_MASQUERADE => opts.enable_ip_masquerade = parse_bool(key, value)?,
                _ => {
                    return Err(ModelError::invalid(format!(
                        "unsupported network option {key:?}; supported: {}",
                        SUPPORTED_OPTIONS.join(", ")
                    )))
                }
            }
        }
        Ok(opts)
    }
}

pub fn parse_mtu(value: &str) -> Result<u32, ModelError> {
    let mtu: u32 = value
        .trim()
        .parse()
        .map_err(|_| ModelError::invalid(format!("invalid MTU {value:?}: not a number")))?;
    if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
        return Err(ModelError::invalid(format!(
            "invalid MTU {mtu}: it must be between {MIN_MTU} and {MAX_MTU}"
        )));
    }
    Ok(mtu)
}

/// Go's strconv.ParseBool, which is what Docker accepts for these options.
fn parse_bool(key: &str, value: &str) -> Result<bool, ModelError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(ModelError::invalid(format!("invalid value {value:?} for {key}: expected true or false"))),
    }
}

/// Parses `K=V` pairs (labels, options) as the docker CLI does: `K` alone is `K`
/// with an empty value (`--label team`); an empty key, or one with whitespace,
/// is refused with Docker's words.
pub fn parse_key_values<'a>(
    what: &str,
    pairs: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeMap<String, String>, ModelError> {
    let mut map = BTreeMap::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = k.trim_start();
        if k.is_empty() {
            return Err(ModelError::invalid(format!("invalid {what} '{pair}': empty name")));
        }
        if k.chars().any(char::is_whitespace) {
            return Err(ModelError::invalid(format!("{what} '{k}' contains whitespaces")));
        }
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn parses_known_options() {
        let o = BridgeOptions::parse(&map(&[
            (OPT_BRIDGE_NAME, "mybr0"),
            (OPT_MTU, "1400"),
            (OPT_ENABLE_ICC, "false"),
        ]))
        .unwrap();
        assert_eq!(o.bridge_name.as_deref(), Some("mybr0"));
        assert_eq!(o.mtu, Some(1400));
        assert!(!o.enable_icc);
        assert!(o.enable_ip_masquerade);
    }

    #[test]
    fn rejects_bad_options() {
        assert!(BridgeOptions::parse(&map(&[(OPT_MTU, "10")])).is_err());
        assert!(BridgeOptions::parse(&map(&[(OPT_MTU, "70000")])).is_err());
        assert!(BridgeOptions::parse(&map(&[(OPT_MTU, "abc")])).is_err());
        assert!(BridgeOptions::parse(&map(&[(OPT_ENABLE_ICC, "maybe")])).is_err());
        assert!(BridgeOptions::parse(&map(&[(OPT_BRIDGE_NAME, "much-too-long-name")])).is_err());
        let err = BridgeOptions::parse(&map(&[("foo", "bar")])).unwrap_err();
        assert!(err.to_string().contains("foo"));
    }

    #[test]
    fn key_values() {
        let m = parse_key_values("label", ["a=b", "c=", "d=e=f", "team"]).unwrap();
        assert_eq!(m["a"], "b");
        assert_eq!(m["c"], "");
        assert_eq!(m["d"], "e=f");
        assert_eq!(m["team"], "", "a key alone has an empty value, as in Docker");
        let err = parse_key_values("label", ["=x"]).unwrap_err();
        assert_eq!(err.to_string(), "invalid label '=x': empty name");
        assert!(parse_key_values("label", ["a b=c"]).unwrap_err().to_string().contains("whitespace"));
    }
}
