//! Legacy links (`--link NAME[:ALIAS]`): the environment variables and /etc/hosts
//! line Docker gives the linking container (moby daemon/links/links.go).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::ports::{sort_ports, ContainerPort};
use crate::ModelError;

/// A link as stored with the linking container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The linked container: its id, so a rename or a new container of the same
    /// name never changes what the link points at.
    pub container_id: String,
    /// Its name when the link was made.
    pub name: String,
    pub alias: String,
}

/// `redis-server:redis` → (`redis-server`, `redis`); `redis` → (`redis`, `redis`).
pub fn parse_link(text: &str) -> Result<(String, String), ModelError> {
    let text = text.trim_start_matches('/');
    let (name, alias) = text.split_once(':').unwrap_or((text, text));
    if name.is_empty() || alias.is_empty() || alias.contains(['/', ':']) {
        return Err(ModelError::invalid(format!("invalid link {text:?}: use --link NAME[:ALIAS]")));
    }
    crate::name::validate_name("link alias", alias)?;
    Ok((name.to_string(), alias.to_string()))
}

/// What the linking container learns about the linked one.
pub struct LinkTarget<'a> {
    pub linker_name: &'a str,
    pub alias: &'a str,
    pub ip: IpAddr,
    /// Exposed and published ports of the linked container.
    pub ports: Vec<ContainerPort>,
    /// The linked container's `-e` variables.
    pub env: &'a [String],
}

/// Docker's variables: `ALIAS_PORT`, `ALIAS_PORT_<n>_<PROTO>[_ADDR|_PORT|_PROTO]`
/// for each port, `_START`/`_END` variables for each run of contiguous ports,
/// `ALIAS_NAME=/linker/alias`, and `ALIAS_ENV_<K>` for the linked container's
/// variables but HOME and PATH.
pub fn link_env(t: &LinkTarget<'_>) -> Vec<String> {
    let prefix = t.alias.to_ascii_uppercase().replace('-', "_");
    let mut ports = t.ports.clone();
    sort_ports(&mut ports);
    ports.dedup();
    let mut env = Vec::new();
    if let Some(first) = ports.first() {
        env.push(format!("{prefix}_PORT={}://{}:{}", first.proto.as_str(), t.ip, first.port));
    }
    for p in &ports {
        let (proto, up) = (p.proto.as_str(), p.proto.as_str().to_ascii_uppercase());
        let key = format!("{prefix}_PORT_{}_{up}", p.port);
        env.push(format!("{key}={proto}://{}:{}", t.ip, p.port));
        env.push(format!("{key}_ADDR={}", t.ip));
        env.push(format!("{key}_PORT={}", p.port));
        env.push(format!("{key}_PROTO={proto}"));
    }
    for run in contiguous_runs(&ports).into_iter().filter(|r| r.len() > 1) {
        let (start, end) = (run[0], run[run.len() - 1]);
        let (proto, up) = (start.proto.as_str(), start.proto.as_str().to_ascii_uppercase());
        let key = format!("{prefix}_PORT_{}_{up}", start.port);
        env.push(format!("{key}_START={proto}://{}:{}", t.ip, start.port));
        env.push(format!("{key}_ADDR={}", t.ip));
        env.push(format!("{key}_PROTO={proto}"));
        env.push(format!("{key}_PORT_START={}", start.port));
        env.push(format!("{key}_END={proto}://{}:{}", t.ip, end.port));
        env.push(format!("{key}_PORT_END={}", end.port));
    }
    env.push(format!("{prefix}_NAME=/{}/{}", t.linker_name, t.alias));
    for kv in t.env {
        let Some((k, v)) = kv.split_once('=') else { continue };
        if k != "HOME" && k != "PATH" {
            env.push(format!("{prefix}_ENV_{k}={v}"));
        }
    }
    env
}

fn contiguous_runs(sorted: &[ContainerPort]) -> Vec<&[ContainerPort]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=sorted.len() {
        let breaks = i == sorted.len()
            || sorted[i].proto != sorted[i - 1].proto
            || u32::from(sorted[i].port) != u32::from(sorted[i - 1].port) + 1;
        if breaks {
            runs.push(&sorted[start..i]);
            start = i;
        }
    }
    runs
}

/// The /etc/hosts line of a link: the alias, the linked hostname, and the linked
/// name when it differs from the alias.
pub fn hosts_line(ip: IpAddr, alias: &str, hostname: &str, name: &str) -> String {
    if alias == name {
        format!("{ip}\t{alias} {hostname}\n")
    } else {
        format!("{ip}\t{alias} {hostname} {name}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Protocol;

    #[test]
    fn parse() {
        assert_eq!(parse_link("redis-server:redis").unwrap(), ("redis-server".into(), "redis".into()));
        assert_eq!(parse_link("/db").unwrap(), ("db".into(), "db".into()));
        for bad in ["", ":x", "x:", "a:b:c", "a:b/c"] {
            assert!(parse_link(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn docker_variables() {
        let tcp = |port| ContainerPort { port, proto: Protocol::Tcp };
        let env = link_env(&LinkTarget {
            linker_name: "web",
            alias: "my-redis",
            ip: "172.17.0.2".parse().unwrap(),
            ports: vec![ContainerPort { port: 53, proto: Protocol::Udp }, tcp(6380), tcp(6379)],
            env: &["PATH=/bin".into(), "HOME=/root".into(), "GREETING=hi=there".into()],
        });
        let want = [
            "MY_REDIS_PORT=tcp://172.17.0.2:6379",
            "MY_REDIS_PORT_6379_TCP=tcp://172.17.0.2:6379",
            "MY_REDIS_PORT_6379_TCP_ADDR=172.17.0.2",
            "MY_REDIS_PORT_6379_TCP_PORT=6379",
            "MY_REDIS_PORT_6379_TCP_PROTO=tcp",
            "MY_REDIS_PORT_6380_TCP=tcp://172.17.0.2:6380",
            "MY_REDIS_PORT_6380_TCP_ADDR=172.17.0.2",
            "MY_REDIS_PORT_6380_TCP_PORT=6380",
            "MY_REDIS_PORT_6380_TCP_PROTO=tcp",
            "MY_REDIS_PORT_53_UDP=udp://172.17.0.2:53",
            "MY_REDIS_PORT_53_UDP_ADDR=172.17.0.2",
            "MY_REDIS_PORT_53_UDP_PORT=53",
            "MY_REDIS_PORT_53_UDP_PROTO=udp",
            "MY_REDIS_PORT_6379_TCP_START=tcp://172.17.0.2:6379",
            "MY_REDIS_PORT_6379_TCP_ADDR=172.17.0.2",
            "MY_REDIS_PORT_6379_TCP_PROTO=tcp",
            "MY_REDIS_PORT_6379_TCP_PORT_START=6379",
            "MY_REDIS_PORT_6379_TCP_END=tcp://172.17.0.2:6380",
            "MY_REDIS_PORT_6379_TCP_PORT_END=6380",
            "MY_REDIS_NAME=/web/my-redis",
            "MY_REDIS_ENV_GREETING=hi=there",
        ];
        assert_eq!(env, want);
    }

    #[test]
    fn hosts() {
        let ip = "172.17.0.2".parse().unwrap();
        assert_eq!(hosts_line(ip, "redis", "abc", "redis-server"), "172.17.0.2\tredis abc redis-server\n");
        assert_eq!(hosts_line(ip, "redis", "abc", "redis"), "172.17.0.2\tredis abc\n");
    }
}
