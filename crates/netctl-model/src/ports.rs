//! Ports: `--expose PORT[/PROTO]` and `-p [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]`,
//! parsed as Docker parses them (equal-length ranges expand to one mapping per port).
//! Every published port costs the daemon a listening socket, a relay and a DNAT
//! rule, so one container publishes at most [`MAX_PUBLISHED_PORTS`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// The most ports one container may publish (and one `--expose` range may
/// declare): enough for any real service's range, far below the daemon's open-files
/// limit. `-p 1-65535:1-65535` would otherwise hold 65535 sockets for one request.
pub const MAX_PUBLISHED_PORTS: usize = 1024;

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
    /// None: every address of the host, IPv4 and IPv6 (0.0.0.0 and [::]), as Docker.
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container: ContainerPort,
}

impl PortBinding {
    pub fn host_ip_or_any(&self) -> IpAddr {
        self.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// True if the binding listens on `family` (IPv6: true) addresses of the host.
    pub fn on_family(&self, v6: bool) -> bool {
        self.host_ip.is_none_or(|ip| ip.is_ipv6() == v6)
    }
}

impl fmt::Display for PortBinding {
    /// `0.0.0.0:3000->3000/tcp`, as `docker ps` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip_or_any() {
            IpAddr::V6(ip) => write!(f, "[{ip}]:{}->{}", self.host_port, self.container),
            ip => write!(f, "{ip}:{}->{}", self.host_port, self.container),
        }
    }
}

/// `--expose 6379`, `--expose 53/udp`, `--expose 7000-7002`.
pub fn parse_expose(text: &str) -> Result<Vec<ContainerPort>, ModelError> {
    let (ports, proto) = text.split_once('/').unwrap_or((text, ""));
    let proto = Protocol::parse(proto, text)?;
    let (lo, hi) = parse_range(ports, text)?;
    check_count(usize::from(hi - lo) + 1, &format!("{text:?}"))?;
    Ok((lo..=hi).map(|port| ContainerPort { port, proto }).collect())
}

/// Refuses more published ports than one container may have. Each `-p` is checked
/// as it is parsed; the daemon checks the sum of a request's `-p`s and `-P` with this.
pub fn check_published_count(bindings: &[PortBinding]) -> Result<(), ModelError> {
    check_count(bindings.len(), "-p and -P together")
}

fn check_count(n: usize, what: &str) -> Result<(), ModelError> {
    if n > MAX_PUBLISHED_PORTS {
        return Err(ModelError::invalid(format!(
            "too many ports in {what}: {n}; a container publishes at most {MAX_PUBLISHED_PORTS} \
             (each costs the daemon a socket and a firewall rule)"
        )));
    }
    Ok(())
}

/// A host address ports can be published on: any (0.0.0.0) or one unicast address.
fn check_host_ip(ip: IpAddr, whole: &str) -> Result<(), ModelError> {
    let ip = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) if v6.is_multicast() => {
            return Err(ModelError::invalid(format!(
                "invalid host IP {v6} in port mapping {whole:?}: a multicast address; give one of the host's addresses or ::"
            )))
        }
        IpAddr::V6(_) => return Ok(()),
    };
    let why = if ip.is_multicast() {
        "a multicast address"
    } else if ip.is_broadcast() {
        "the broadcast address"
    } else if ip.octets()[0] == 0 && !ip.is_unspecified() {
        "in 0.0.0.0/8, not an address a host can have"
    } else if ip.octets()[0] >= 240 {
        "in the reserved range 240.0.0.0/4"
    } else {
        return Ok(());
    };
    Err(ModelError::invalid(format!(
        "invalid host IP {ip} in port mapping {whole:?}: {why}; give one of the host's addresses or 0.0.0.0"
    )))
}

/// `-p 3000:3000`, `-p 127.0.0.1:8080:80/tcp`, `-p 80` (any host port),
/// `-p 127.0.0.1::80`, `-p 8000-8001:80-81`, `-p [::1]:8080:80`, `-p [::]:8080:80`.
pub fn parse_publish(text: &str) -> Result<Vec<PortBinding>, ModelError> {
    let (spec, proto) = text.split_once('/').unwrap_or((text, ""));
    let proto = Protocol::parse(proto, text)?;
    // An IPv6 host address is bracketed: [::1]:8080:80.
    let (bracketed, spec) = match spec.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
        Some((ip, rest)) => (Some(ip), rest.strip_prefix(':').unwrap_or(rest)),
        None => (None, spec),
    };
    let mut parts: Vec<&str> = spec.split(':').collect();
    if let Some(ip) = bracketed {
        parts.insert(0, ip);
    }
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => {
            return Err(ModelError::invalid(format!(
                "invalid port mapping {text:?}: use [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp] \
                 (an IPv6 HOST_IP in brackets: [::1]:8080:80)"
            )))
        }
    };
    let host_ip = match ip {
        "" => None,
        ip => Some(ip.parse::<IpAddr>().map_err(|_| {
            ModelError::invalid(format!("invalid host IP {ip:?} in port mapping {text:?}: not an IP address"))
        })?),
    };
    if let Some(ip) = host_ip {
        check_host_ip(ip, text)?;
    }
    let (c_lo, c_hi) = parse_range(container, text)?;
    check_count(usize::from(c_hi - c_lo) + 1, &format!("{text:?}"))?;
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
        assert_eq!(b.host_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(one("[::1]:8080:80").host_ip, Some("::1".parse().unwrap()));
        assert_eq!(one("[::]:8080:80").host_port, 8080);
        assert_eq!(one("[fd00::1]::80").host_port, 0);
        assert_eq!((b.host_port, b.container.proto), (8080, Protocol::Udp));
        assert_eq!(one("127.0.0.1::80").host_port, 0);
        assert_eq!(parse_publish("8000-8001:80-81").unwrap().len(), 2);
        assert_eq!(one("8000:80").to_string(), "0.0.0.0:8000->80/tcp");
        for bad in ["", "a:80", "1.2.3:80:80", "8000-8002:80-81", "1:2:3:4", "80/icmp", "::1:80:80"] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounded_and_unicast() {
        assert_eq!(parse_publish("10000-11023:10000-11023").unwrap().len(), MAX_PUBLISHED_PORTS);
        for bad in ["1-65535:1-65535", "1-65535", "10000-11024:10000-11024", "127.0.0.1::1-2000"] {
            let err = parse_publish(bad).unwrap_err().to_string();
            assert!(err.contains("at most 1024"), "{bad}: {err}");
        }
        assert!(parse_expose("1-65535").unwrap_err().to_string().contains("at most 1024"));
        for bad in ["224.0.0.1:80:80", "255.255.255.255:80:80", "0.1.2.3:80:80", "240.0.0.1:80:80"] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
        assert!(parse_publish("0.0.0.0:80:80").is_ok());
        let many: Vec<PortBinding> =
            (1..=2000).flat_map(|p| parse_publish(&p.to_string()).unwrap()).collect();
        assert!(check_published_count(&many[..1024]).is_ok());
        assert!(check_published_count(&many).unwrap_err().to_string().contains("2000"));
    }

    #[test]
    fn link_order() {
        let mut p = vec![ContainerPort { port: 53, proto: Protocol::Udp }, tcp(8080), tcp(80)];
        sort_ports(&mut p);
        assert_eq!(p, vec![tcp(80), tcp(8080), ContainerPort { port: 53, proto: Protocol::Udp }]);
    }
}
