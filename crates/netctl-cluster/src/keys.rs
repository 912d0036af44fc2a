//! The keys, all under one prefix (`docs/cluster.md` lists them with their values).

pub const PREFIX: &str = "/netctl/v1/";
/// Bumped by every network create and remove: an optimistic lock over the set of
/// networks, so that two hosts creating networks at once cannot both take a name,
/// a VNI or overlapping subnets.
pub const CATALOG: &str = "/netctl/v1/catalog";
pub const HOSTS: &str = "/netctl/v1/hosts/";
pub const NETWORKS: &str = "/netctl/v1/networks/";
pub const ENDPOINTS: &str = "/netctl/v1/endpoints/";
pub const ADDRESSES: &str = "/netctl/v1/addresses/";

pub fn host(host_id: &str) -> String {
    format!("{HOSTS}{host_id}")
}

pub fn network(network_id: &str) -> String {
    format!("{NETWORKS}{network_id}")
}

pub fn endpoints_of_network(network_id: &str) -> String {
    format!("{ENDPOINTS}{network_id}/")
}

pub fn endpoints_of_host(network_id: &str, host_id: &str) -> String {
    format!("{ENDPOINTS}{network_id}/{host_id}/")
}

pub fn endpoint(network_id: &str, host_id: &str, endpoint_id: &str) -> String {
    format!("{ENDPOINTS}{network_id}/{host_id}/{endpoint_id}")
}

pub fn addresses_of_network(network_id: &str) -> String {
    format!("{ADDRESSES}{network_id}/")
}

pub fn address(network_id: &str, ip: std::net::IpAddr) -> String {
    format!("{ADDRESSES}{network_id}/{ip}")
}

/// What an endpoint key names: (network id, host id, endpoint id).
pub fn parse_endpoint(key: &str) -> Option<(&str, &str, &str)> {
    let mut parts = key.strip_prefix(ENDPOINTS)?.split('/');
    let (net, host, ep) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && !net.is_empty() && !host.is_empty() && !ep.is_empty())
        .then_some((net, host, ep))
}

pub fn parse_network(key: &str) -> Option<&str> {
    key.strip_prefix(NETWORKS).filter(|id| !id.is_empty() && !id.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keys_round_trip() {
        let k = endpoint("n1", "h1", "e1");
        assert_eq!(k, "/netctl/v1/endpoints/n1/h1/e1");
        assert_eq!(parse_endpoint(&k), Some(("n1", "h1", "e1")));
        assert!(k.starts_with(&endpoints_of_host("n1", "h1")));
        assert_eq!(parse_endpoint("/netctl/v1/endpoints/n1/h1"), None);
        assert_eq!(parse_endpoint("/netctl/v1/endpoints/n1/h1/e1/x"), None);
        assert_eq!(parse_network(&network("abc")), Some("abc"));
        assert_eq!(address("n", "10.0.0.2".parse().unwrap()), "/netctl/v1/addresses/n/10.0.0.2");
    }
}
