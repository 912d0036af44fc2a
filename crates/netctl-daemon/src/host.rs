//! What the daemon reads of the host itself to stay out of its way.

use std::net::IpAddr;
use std::path::Path;

use ipnetwork::IpNetwork;

/// Nameserver addresses of a resolv.conf, as /32 or /128 networks IPAM must avoid.
pub fn nameservers(resolv_conf: &Path) -> Vec<IpNetwork> {
    let text = std::fs::read_to_string(resolv_conf).unwrap_or_default();
    parse_nameservers(&text).into_iter().map(IpNetwork::from).collect()
}

fn parse_nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next()? != "nameserver" {
                return None;
            }
            // A scoped IPv6 address ("fe80::1%eth0") is still in the way.
            words.next()?.split('%').next()?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nameserver_lines() {
        let text = "# comment\nsearch example.org\nnameserver 172.18.0.53\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\n";
        let got = parse_nameservers(text);
        assert_eq!(got, vec!["172.18.0.53".parse::<IpAddr>().unwrap(), "fe80::1".parse().unwrap()]);
    }
}
