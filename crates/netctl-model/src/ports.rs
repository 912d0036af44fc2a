//! Ports: `--expose PORT[/PROTO]` and `-p [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`,
//! parsed as Docker parses them (equal-length ranges expand to one mapping per port).

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    fn parse(text: &str, whole: &str) -> Result<Self, ModelError> {
        match text.to_ascii_lowercase().as_str() {
            "" | "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            other => Err(ModelError::invalid(format!(
                "invalid proto {other:?} in {whole:?}: netctl publishes tcp and udp"
            ))),
        }
    }
}

/// A container port: what `--expose` declares, and the key of a published mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerPort {
    pub port: u16,
    pub proto: Protocol,
}

impl fmt::Display for ContainerPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto.as_str())
    }
}

/// Docker's order for link variables: tcp before udp, then by number.
pub fn sort_ports(ports: &mut [ContainerPort]) {
    ports.sort_by_key(|p| (p.proto, p.port));
}

/// A published port. `host_port` 0 means "any free port" until the daemon binds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container: ContainerPort,
}

impl PortBinding {
    pub fn host_ip_or_any(&self) -> Ipv4Addr {
        self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED)
    }
}

impl fmt::Display for PortBinding {
    /// `0.0.0.0:3000->3000/tcp`, as `docker ps` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}->{}", self.host_ip_or_any(), self.host_port, self.container)
    }
}

/// `--expose 6379`, `--expose 53/udp`, `--expose 7000-7002`.
pub fn parse_expose(text: &str) -> Result<Vec<ContainerPort>, ModelError> {
    let (ports, proto) = text.split_once('/').unwrap_or((text, ""));
    let proto = Protocol::parse(proto, text)?;
    let (lo, hi) = parse_range(ports, text)?;
    Ok((lo..=hi).map(|port| ContainerPort { port, proto }).collect())
}

/// `-p 3000:3000`, `-p 127.0.0.1:8080:80/tcp`, `-p 80` (any host port),
/// `-p 127.0.0.1::80`, `-p 8000-8001:80-81`.
pub fn parse_publish(text: &str) -> Result<Vec<PortBinding>, ModelError> {
    let (spec, proto) = text.split_once('/').unwrap_or((text, ""));
    let proto = Protocol::parse(proto, text)?;
    let parts: Vec<&str> = spec.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => {
            return Err(ModelError::invalid(format!(
                "invalid port mapping {text:?}: use [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp] \
                 (IPv6 host addresses are not supported yet)"
            )))
        }
    };
    let host_ip = match ip {
        "" => None,
        ip => Some(ip.parse::<Ipv4Addr>().map_err(|_| {
            ModelError::invalid(format!(
                "invalid host IP {ip:?} in port mapping {text:?}: not an IPv4 address"
            ))
        })?),
    };
    let (c_lo, c_hi) = parse_range(container, text)?;
    let host_ports: Vec<u16> = if host.is_empty() {
        vec![0; usize::from(c_hi - c_lo) + 1]
    } else {
        let (h_lo, h_hi) = parse_range(host, text)?;
        if h_hi - h_lo != c_hi - c_lo {
            return Err(ModelError::invalid(format!(
                "invalid port mapping {text:?}: the host range and the container range must be the same length"
            )));
        }
        (h_lo..=h_hi).collect()
    };
    Ok((c_lo..=c_hi)
        .zip(host_ports)
        .map(|(port, host_port)| PortBinding { host_ip, host_port, container: ContainerPort { port, proto } })
        .collect())
}

fn parse_range(text: &str, whole: &str) -> Result<(u16, u16), ModelError> {
    let port = |p: &str| {
        p.parse::<u16>().ok().filter(|&n| n > 0).ok_or_else(|| {
            ModelError::invalid(format!("invalid port {p:?} in {whole:?}: expected a number from 1 to 65535"))
        })
    };
    match text.split_once('-') {
        None => port(text).map(|p| (p, p)),
        Some((lo, hi)) => {
            let (lo, hi) = (port(lo)?, port(hi)?);
            if hi < lo {
                return Err(ModelError::invalid(format!("invalid port range {text:?} in {whole:?}")));
            }
            Ok((lo, hi))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: u16) -> ContainerPort {
        ContainerPort { port, proto: Protocol::Tcp }
    }

    #[test]
    fn expose() {
        assert_eq!(parse_expose("6379").unwrap(), vec![tcp(6379)]);
        assert_eq!(parse_expose("53/udp").unwrap(), vec![ContainerPort { port: 53, proto: Protocol::Udp }]);
        assert_eq!(parse_expose("7000-7001").unwrap(), vec![tcp(7000), tcp(7001)]);
        for bad in ["", "0", "70000", "80/sctp", "9-8", "x"] {
            assert!(parse_expose(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn publish() {
        let one = |t| parse_publish(t).unwrap().remove(0);
        assert_eq!(one("3000:3000"), PortBinding { host_ip: None, host_port: 3000, container: tcp(3000) });
        assert_eq!(one("80"), PortBinding { host_ip: None, host_port: 0, container: tcp(80) });
        let b = one("127.0.0.1:8080:80/udp");
        assert_eq!(b.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!((b.host_port, b.container.proto), (8080, Protocol::Udp));
        assert_eq!(one("127.0.0.1::80").host_port, 0);
        assert_eq!(parse_publish("8000-8001:80-81").unwrap().len(), 2);
        assert_eq!(one("8000:80").to_string(), "0.0.0.0:8000->80/tcp");
        for bad in ["", "a:80", "1.2.3:80:80", "8000-8002:80-81", "1:2:3:4", "80/icmp", "::1:80:80"] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn link_order() {
        let mut p = vec![ContainerPort { port: 53, proto: Protocol::Udp }, tcp(8080), tcp(80)];
        sort_ports(&mut p);
        assert_eq!(p, vec![tcp(80), tcp(8080), ContainerPort { port: 53, proto: Protocol::Udp }]);
    }
}
