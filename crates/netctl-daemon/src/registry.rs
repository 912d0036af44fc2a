//! The daemon's in-memory view of what exists, and Docker's rules for finding an
//! object by full name, full id or unique id prefix.

use std::collections::BTreeMap;

use netctl_model::addresses::AddressBook;
use netctl_model::container::Container;
use netctl_model::id::is_id_prefix;
use netctl_model::{ModelError, Network};

#[derive(Debug, Default)]
pub struct Registry {
    networks: BTreeMap<String, Network>,
    containers: BTreeMap<String, Container>,
    /// Addresses in use per network id, rebuilt from the endpoints at load.
    address_books: BTreeMap<String, AddressBook>,
}

impl Registry {
    pub fn insert_network(&mut self, net: Network) {
        // Auxiliary addresses are never handed out (nor taken by --ip).
        let book = self.address_books.entry(net.id.clone()).or_default();
        for ip in net.subnets.iter().flat_map(|s| s.aux_addresses.values()) {
            book.mark_used(*ip);
        }
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

    pub fn network(&self, id: &str) -> Option<&Network> {
        self.networks.get(id)
    }

    pub fn insert_container(&mut self, c: Container) {
        for ep in &c.endpoints {
            let book = self.address_books.entry(ep.network_id.clone()).or_default();
            for ip in ep.ipv4.iter().chain(ep.ipv6.iter()) {
                book.mark_used(ip.ip());
            }
        }
        self.containers.insert(c.id.clone(), c);
    }

    /// Replaces a stored container without touching the address books.
    pub fn update_container(&mut self, c: Container) {
        self.containers.insert(c.id.clone(), c);
    }

    pub fn remove_container(&mut self, id: &str) -> Option<Container> {
        self.containers.remove(id)
    }

    pub fn containers(&self) -> impl Iterator<Item = &Container> {
        self.containers.values()
    }

    pub fn container(&self, id: &str) -> Option<&Container> {
        self.containers.get(id)
    }

    pub fn container_by_name(&self, name: &str) -> Option<&Container> {
        self.containers.values().find(|c| c.name == name)
    }

    pub fn address_book(&mut self, network_id: &str) -> &mut AddressBook {
        self.address_books.entry(network_id.to_string()).or_default()
    }

    /// Containers with an endpoint on the network.
    pub fn containers_on(&self, network_id: &str) -> impl Iterator<Item = &Container> + '_ {
        let id = network_id.to_string();
        self.containers.values().filter(move |c| c.endpoint_on(&id).is_some())
    }

    pub fn find_container(&self, key: &str) -> Result<&Container, ModelError> {
        find(&self.containers, key, |c| c.name == key.trim_start_matches('/'), "container")
    }

    pub fn find_network(&self, key: &str) -> Result<&Network, ModelError> {
        find(&self.networks, key, |n| n.name == key, "network")
    }
}

/// Full id, then exact name, then unique id prefix: Docker's order.
fn find<'a, T>(
    by_id: &'a BTreeMap<String, T>,
    key: &str,
    has_name: impl Fn(&T) -> bool,
    kind: &str,
) -> Result<&'a T, ModelError> {
    if let Some(v) = by_id.get(key) {
        return Ok(v);
    }
    if let Some(v) = by_id.values().find(|v| has_name(v)) {
        return Ok(v);
    }
    if is_id_prefix(key) {
        let mut matches = by_id.range(key.to_string()..).take_while(|(id, _)| id.starts_with(key));
        if let Some((_, first)) = matches.next() {
            let rest = matches.count();
            if rest == 0 {
                return Ok(first);
            }
            return Err(ModelError::not_found(format!("{kind} {key} is ambiguous ({} matches)", rest + 1)));
        }
    }
    // Docker's daemon words: "No such container: x", "network x not found".
    Err(ModelError::not_found(if kind == "network" {
        format!("network {key} not found")
    } else {
        format!("No such {kind}: {key}")
    }))
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
        assert_eq!(r.find_network("nope").unwrap_err().to_string(), "network nope not found");
        assert!(r.find_network("0").is_err());
    }
}
