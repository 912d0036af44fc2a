//! The daemon's in-memory view of what exists, and Docker's rules for finding an
//! object by full name, full id or unique id prefix.

use std::collections::BTreeMap;

use netctl_model::id::is_id_prefix;
use netctl_model::{ModelError, Network};

#[derive(Debug, Default)]
pub struct Registry {
    networks: BTreeMap<String, Network>,
}

impl Registry {
    pub fn insert_network(&mut self, net: Network) {
        self.networks.insert(net.id.clone(), net);
    }

    pub fn remove_network(&mut self, id: &str) -> Option<Network> {
        self.networks.remove(id)
    }

    pub fn networks(&self) -> impl Iterator<Item = &Network> {
        self.networks.values()
    }

    pub fn network_by_name(&self, name: &str) -> Option<&Network> {
        self.networks.values().find(|n| n.name == name)
    }

    /// Full id, then exact name, then unique id prefix: Docker's order.
    pub fn find_network(&self, key: &str) -> Result<&Network, ModelError> {
        if let Some(n) = self.networks.get(key) {
            return Ok(n);
        }
        if let Some(n) = self.network_by_name(key) {
            return Ok(n);
        }
        if is_id_prefix(key) {
            let mut matches =
                self.networks.range(key.to_string()..).take_while(|(id, _)| id.starts_with(key));
            if let Some((_, first)) = matches.next() {
                let rest = matches.count();
                if rest == 0 {
                    return Ok(first);
                }
                return Err(ModelError::not_found(format!(
                    "network {key} is ambiguous ({} matches)",
                    rest + 1
                )));
            }
        }
        Err(ModelError::not_found(format!("No such network: {key}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use netctl_model::api::NetworkCreateRequest;
    use netctl_model::network::NetworkSpec;

    fn net(name: &str, id: &str) -> Network {
        let req = NetworkCreateRequest { name: name.into(), ..Default::default() };
        NetworkSpec::from_request(&req).unwrap().into_network(id.into(), Utc::now(), 1500)
    }

    #[test]
    fn finds_by_id_name_and_unique_prefix() {
        let mut r = Registry::default();
        r.insert_network(net("alpha", &format!("abc1{}", "0".repeat(60))));
        r.insert_network(net("beta", &format!("abc2{}", "0".repeat(60))));
        r.insert_network(net("abc1", &format!("fff{}", "0".repeat(61))));
        assert_eq!(r.find_network("alpha").unwrap().name, "alpha");
        assert_eq!(r.find_network("abc2").unwrap().name, "beta");
        // an exact name wins over an id prefix
        assert_eq!(r.find_network("abc1").unwrap().name, "abc1");
        let err = r.find_network("abc").unwrap_err().to_string();
        assert!(err.contains("ambiguous"), "{err}");
        assert_eq!(r.find_network("nope").unwrap_err().to_string(), "No such network: nope");
        assert!(r.find_network("0").is_err());
    }
}
