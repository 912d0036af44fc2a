//! What a runtime hands the plugin: the CNI_* environment, the network config on
//! stdin (with `runtimeConfig` for the capabilities the config declares, and
//! `args.cni`), and CNI's error JSON for the answer when something fails.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::SUPPORTED_VERSIONS;

/// CNI's error answer: `{"cniVersion", "code", "msg", "details"}`.
#[derive(Debug)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>, details: impl Into<String>) -> Self {
        Self { code, msg: msg.into(), details: details.into() }
    }

    /// Code 4: invalid necessary environment variables.
    pub fn env(msg: impl Into<String>) -> Self {
        Self::new(4, msg, "")
    }

    pub fn to_json(&self, version: &str) -> Value {
        let version = if SUPPORTED_VERSIONS.contains(&version) { version } else { "1.1.0" };
        json!({"cniVersion": version, "code": self.code, "msg": self.msg, "details": self.details})
    }
}

#[derive(Debug, Default)]
pub struct Env {
    pub command: Option<String>,
    pub container_id: Option<String>,
    pub netns: Option<String>,
    pub ifname: Option<String>,
    /// CNI_ARGS, `K=V;K=V`.
    pub args: Vec<(String, String)>,
}

impl Env {
    pub fn from_process() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Self {
            command: get("CNI_COMMAND"),
            container_id: get("CNI_CONTAINERID"),
            netns: get("CNI_NETNS"),
            ifname: get("CNI_IFNAME"),
            args: parse_cni_args(get("CNI_ARGS").as_deref().unwrap_or("")),
        }
    }

    pub fn require<'a>(&self, name: &str, value: &'a Option<String>) -> Result<&'a str, CniError> {
        value.as_deref().ok_or_else(|| CniError::env(format!("{name} is not set")))
    }

    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The runtime's name for the container when it passes one (podman and
    /// Kubernetes: K8S_POD_NAME), else its container id.
    pub fn container_name(&self) -> String {
        let name = self.arg("K8S_POD_NAME").filter(|n| !n.is_empty());
        let raw = name.or(self.container_id.as_deref()).unwrap_or_default();
        sanitize_name(raw)
    }
}

fn parse_cni_args(text: &str) -> Vec<(String, String)> {
    text.split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// A netctl container name ([a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128) from a
/// runtime's: other characters become '-'.
fn sanitize_name(raw: &str) -> String {
    let mut out: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '-' })
        .take(128)
        .collect();
    if !out.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        out.insert(0, 'c');
        out.truncate(128);
    }
    out
}

#[derive(Debug, Deserialize)]
pub struct ValidAttachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

#[derive(Debug, Deserialize)]
pub struct Config {
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    #[serde(default)]
    pub name: String,
    /// The netctl network; default `name`.
    #[serde(default)]
    network: Option<String>,
    /// netctld's socket; default netctl's.
    #[serde(default)]
    socket: Option<String>,
    #[serde(rename = "runtimeConfig", default)]
    runtime_config: Value,
    #[serde(default)]
    args: Value,
    #[serde(rename = "prevResult", default)]
    pub prev_result: Option<Value>,
    #[serde(rename = "cni.dev/valid-attachments", default)]
    pub valid_attachments: Vec<ValidAttachment>,
}

/// What the runtime asks for this container, from the capabilities.
#[derive(Debug, Default, PartialEq)]
pub struct Requested {
    pub aliases: Vec<String>,
    pub ports: Vec<String>,
    pub ip: Option<String>,
    pub mac: Option<String>,
}

impl Config {
    pub fn parse(stdin: &[u8]) -> Result<Self, CniError> {
        let config: Config = serde_json::from_slice(stdin)
            .map_err(|e| CniError::new(6, "cannot decode the network config", e.to_string()))?;
        if !SUPPORTED_VERSIONS.contains(&config.cni_version.as_str()) {
            return Err(CniError::new(
                1,
                format!("incompatible CNI version {}", config.cni_version),
                format!("netctl-cni supports {}", SUPPORTED_VERSIONS.join(", ")),
            ));
        }
        if config.network().is_empty() {
            return Err(CniError::new(
                7,
                "the network config names no network",
                "set \"network\" or \"name\"",
            ));
        }
        Ok(config)
    }

    pub fn network(&self) -> &str {
        self.network.as_deref().unwrap_or(&self.name)
    }

    pub fn host(&self) -> String {
        match &self.socket {
            Some(s) if s.starts_with("unix://") => s.clone(),
            Some(s) => format!("unix://{s}"),
            None => std::env::var("NETCTL_HOST").unwrap_or_else(|_| netctl_client::DEFAULT_HOST.into()),
        }
    }

    /// `runtimeConfig.aliases` (a list, or podman's map network → list),
    /// `portMappings`, `ips` (the first IPv4), `mac`; `args.cni.ips`/`mac` and
    /// CNI_ARGS `IP=`/`MAC=` as fallbacks.
    pub fn runtime(&self, env: &Env) -> Result<Requested, CniError> {
        let rc = &self.runtime_config;
        let bad =
            |what: &str, v: &Value| CniError::new(7, format!("invalid runtimeConfig.{what}"), v.to_string());
        let mut req = Requested::default();
        match &rc["aliases"] {
            Value::Null => {}
            Value::Array(list) => {
                req.aliases = strings(list).ok_or_else(|| bad("aliases", &rc["aliases"]))?
            }
            Value::Object(map) => {
                let list = map.get(&self.name).or_else(|| map.get(self.network()));
                if let Some(Value::Array(list)) = list {
                    req.aliases = strings(list).ok_or_else(|| bad("aliases", &rc["aliases"]))?;
                }
            }
            other => return Err(bad("aliases", other)),
        }
        match &rc["portMappings"] {
            Value::Null => {}
            Value::Array(list) => {
                for m in list {
                    req.ports.push(port_mapping(m).ok_or_else(|| bad("portMappings", m))?);
                }
            }
            other => return Err(bad("portMappings", other)),
        }
        let ips = match (&rc["ips"], &self.args["cni"]["ips"]) {
            (Value::Array(l), _) | (_, Value::Array(l)) => {
                strings(l).ok_or_else(|| bad("ips", &rc["ips"]))?
            }
            _ => env.arg("IP").map(|ip| vec![ip.to_string()]).unwrap_or_default(),
        };
        req.ip = ips
            .iter()
            .map(|ip| ip.split('/').next().unwrap_or(ip))
            .find(|ip| ip.contains('.'))
            .map(String::from);
        if let Some(v6) = ips.iter().find(|ip| ip.contains(':')) {
            return Err(CniError::new(2, "netctl networks are IPv4 only", format!("cannot assign {v6}")));
        }
        req.mac = rc["mac"]
            .as_str()
            .or(self.args["cni"]["mac"].as_str())
            .or(env.arg("MAC"))
            .filter(|m| !m.is_empty())
            .map(String::from);
        // Podman lists the container's short id among its aliases: netctl answers
        // that already for its own id, and it is a valid alias too.
        req.aliases.dedup();
        Ok(req)
    }
}

fn strings(list: &[Value]) -> Option<Vec<String>> {
    list.iter().map(|v| v.as_str().map(String::from)).collect()
}

/// `{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""}` as
/// netctl's `-p` text.
fn port_mapping(m: &Value) -> Option<String> {
    let host = m["hostPort"].as_u64().filter(|p| *p <= 65535)?;
    let container = m["containerPort"].as_u64().filter(|p| (1..=65535).contains(p))?;
    let proto = m["protocol"].as_str().unwrap_or("tcp").to_ascii_lowercase();
    let ip = m["hostIP"].as_str().unwrap_or("");
    Some(if ip.is_empty() {
        format!("{host}:{container}/{proto}")
    } else {
        format!("{ip}:{host}:{container}/{proto}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn podman_runtime_config() {
        let c = config(
            r#"{"cniVersion":"1.0.0","name":"backend-network","type":"netctl-cni",
            "runtimeConfig":{"aliases":{"backend-network":["db","0123456789ab"]},
            "portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":""}]}}"#,
        );
        let env = Env { args: parse_cni_args("IgnoreUnknown=1;K8S_POD_NAME=redis"), ..Env::default() };
        assert_eq!(env.container_name(), "redis");
        let r = c.runtime(&env).unwrap();
        assert_eq!(r.aliases, ["db", "0123456789ab"]);
        assert_eq!(r.ports, ["8080:80/tcp"]);
        assert_eq!(c.network(), "backend-network");
    }

    #[test]
    fn list_aliases_ips_mac_and_names() {
        let c = config(
            r#"{"cniVersion":"1.1.0","name":"x","network":"n","runtimeConfig":{"aliases":["a"],
            "ips":["10.1.0.7/24"],"mac":"02:00:00:00:00:07"}}"#,
        );
        let r = c.runtime(&Env::default()).unwrap();
        assert_eq!(r.aliases, ["a"]);
        assert_eq!(r.ip.as_deref(), Some("10.1.0.7"));
        assert_eq!(r.mac.as_deref(), Some("02:00:00:00:00:07"));
        assert_eq!(c.network(), "n");
        let env = Env { container_id: Some("ctr/ns:1".into()), ..Env::default() };
        assert_eq!(env.container_name(), "ctr-ns-1");
        assert_eq!(sanitize_name("_x"), "c_x");
    }

    #[test]
    fn refuses_unknown_versions_with_code_1() {
        let e = Config::parse(br#"{"cniVersion":"0.3.1","name":"n"}"#).unwrap_err();
        assert_eq!(e.code, 1);
        assert_eq!(Config::parse(b"{").unwrap_err().code, 6);
    }
}
