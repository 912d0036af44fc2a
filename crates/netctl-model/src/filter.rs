//! `network ls --filter` as Docker defines it. Values of one key are alternatives
//! (any may match); different keys must all match.

use std::collections::BTreeMap;

use crate::api::NetworkInspect;
use crate::ModelError;

pub const FILTER_KEYS: [&str; 6] = ["name", "id", "driver", "label", "type", "dangling"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkFilters {
    by_key: BTreeMap<String, Vec<String>>,
}

impl NetworkFilters {
    /// From `key=value` strings as typed after `-f`.
    pub fn parse_args<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Self, ModelError> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for arg in args {
            let (k, v) = arg.split_once('=').ok_or_else(|| {
                ModelError::invalid(format!("bad format of filter {arg:?} (expected name=value)"))
            })?;
            by_key.entry(k.to_string()).or_default().push(v.to_string());
        }
        Self::from_map(by_key)
    }

    /// From the API's `filters` query parameter: `{"name":["a","b"],"driver":["bridge"]}`.
    pub fn from_map(by_key: BTreeMap<String, Vec<String>>) -> Result<Self, ModelError> {
        for (key, values) in &by_key {
            if !FILTER_KEYS.contains(&key.as_str()) {
                return Err(ModelError::invalid(format!(
                    "invalid filter {key:?}; valid filters: {}",
                    FILTER_KEYS.join(", ")
                )));
            }
            for v in values {
                match key.as_str() {
                    "type" if v != "custom" && v != "builtin" => {
                        return Err(ModelError::invalid(format!(
                            "invalid filter 'type={v}': use custom or builtin"
                        )))
                    }
                    "dangling" if parse_bool(v).is_none() => {
                        return Err(ModelError::invalid(format!(
                            "invalid filter 'dangling={v}': use true or false"
                        )))
                    }
                    _ => {}
                }
            }
        }
        Ok(Self { by_key })
    }

    pub fn as_map(&self) -> &BTreeMap<String, Vec<String>> {
        &self.by_key
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// `builtin` says whether the network is one the daemon made itself.
    pub fn matches(&self, net: &NetworkInspect, builtin: bool) -> bool {
        self.by_key.iter().all(|(key, values)| {
            values.iter().any(|v| match key.as_str() {
                // Docker matches names by substring and ids by prefix.
                "name" => net.name.contains(v.as_str()),
                "id" => net.id.starts_with(v.as_str()),
                "driver" => &net.driver == v,
                "label" => match v.split_once('=') {
                    Some((k, val)) => net.labels.get(k).is_some_and(|x| x == val),
                    None => net.labels.contains_key(v.as_str()),
                },
                "type" => (v == "builtin") == builtin,
                "dangling" => {
                    let want = parse_bool(v).unwrap_or(true);
                    let dangling = !builtin && net.containers.is_empty();
                    dangling == want
                }
                _ => false,
            })
        })
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::NetworkCreateRequest;
    use crate::network::NetworkSpec;

    fn inspect(name: &str, labels: &[(&str, &str)]) -> NetworkInspect {
        let req = NetworkCreateRequest {
            name: name.into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        };
        let id = format!("{:0<64}", name.len());
        NetworkSpec::from_request(&req)
            .unwrap()
            .into_network(id, chrono::Utc::now(), 1500)
            .inspect(BTreeMap::new())
    }

    #[test]
    fn name_label_type_dangling() {
        let a = inspect("backend-network", &[("env", "prod"), ("team", "x")]);
        let f = NetworkFilters::parse_args(["name=backend"]).unwrap();
        assert!(f.matches(&a, false));
        let f = NetworkFilters::parse_args(["name=front", "name=back"]).unwrap();
        assert!(f.matches(&a, false));
        let f = NetworkFilters::parse_args(["name=back", "driver=macvlan"]).unwrap();
        assert!(!f.matches(&a, false));
        assert!(NetworkFilters::parse_args(["label=env=prod"]).unwrap().matches(&a, false));
        assert!(!NetworkFilters::parse_args(["label=env=dev"]).unwrap().matches(&a, false));
        assert!(NetworkFilters::parse_args(["label=team"]).unwrap().matches(&a, false));
        assert!(NetworkFilters::parse_args(["type=custom"]).unwrap().matches(&a, false));
        assert!(!NetworkFilters::parse_args(["type=custom"]).unwrap().matches(&a, true));
        assert!(NetworkFilters::parse_args(["dangling=true"]).unwrap().matches(&a, false));
        assert!(!NetworkFilters::parse_args(["dangling=true"]).unwrap().matches(&a, true));
        let id_prefix = format!("id={}", &a.id[..3]);
        assert!(NetworkFilters::parse_args([id_prefix.as_str()]).unwrap().matches(&a, false));
    }

    #[test]
    fn bad_filters() {
        assert!(NetworkFilters::parse_args(["nokey"]).is_err());
        assert!(NetworkFilters::parse_args(["color=red"]).unwrap_err().to_string().contains("color"));
        assert!(NetworkFilters::parse_args(["type=weird"]).is_err());
        assert!(NetworkFilters::parse_args(["dangling=maybe"]).is_err());
    }
}
