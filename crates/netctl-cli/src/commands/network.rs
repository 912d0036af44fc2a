//! `netctl network ...`

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::IpAddr;

use anyhow::{anyhow, bail, Result};
use ipnet_lite::Cidr;
use netctl_model::api::{
    IpamConfigRequest, IpamRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkInspect,
    NetworkPruneResponse,
};
use netctl_model::api_containers::{
    EndpointConfig, EndpointIpamConfig, NetworkConnectRequest, NetworkDisconnectRequest,
};
use netctl_model::filter::NetworkFilters;
use netctl_model::options::parse_key_values;
use serde_json::{json, Value};

use crate::cli::{
    ConnectArgs, DisconnectArgs, NetworkCommand, NetworkCreateArgs, NetworkInspectArgs, NetworkLsArgs,
};
use crate::client::{seg, Client};
use crate::output::format::Listing;
use crate::output::template::{Missing, Template};

pub async fn run(client: &Client, cmd: NetworkCommand) -> Result<i32> {
    match cmd {
        NetworkCommand::Create(args) => create(client, args).await,
        NetworkCommand::Ls(args) => ls(client, args).await,
        NetworkCommand::Inspect(args) => inspect(client, args).await,
        NetworkCommand::Rm(args) => {
            each(&args.networks, |n| async move { client.delete(&format!("/v1/networks/{}", seg(&n))).await })
                .await
        }
        NetworkCommand::Prune(args) => prune(client, args.force, &args.filter).await,
        NetworkCommand::Connect(args) => connect(client, args).await,
        NetworkCommand::Disconnect(args) => disconnect(client, args).await,
    }
}

/// Runs `op` for every name, printing the name on success and `Error: …` on
/// failure; exit code 1 if any failed.
pub async fn each<F, Fut>(names: &[String], op: F) -> Result<i32>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut code = 0;
    for name in names {
        match op(name.clone()).await {
            Ok(()) => outln!("{name}"),
            Err(e) => {
                eprintln!("Error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

async fn create(client: &Client, args: NetworkCreateArgs) -> Result<i32> {
    let req = create_request(&args)?;
    let resp: NetworkCreateResponse = client.post("/v1/networks", &req).await?;
    outln!("{}", resp.id);
    Ok(0)
}

/// Pairs each --gateway and --ip-range with the --subnet that contains it, as docker does.
pub fn create_request(args: &NetworkCreateArgs) -> Result<NetworkCreateRequest> {
    if args.subnet.is_empty() && (!args.gateway.is_empty() || !args.ip_range.is_empty()) {
        bail!("--gateway and --ip-range need a --subnet");
    }
    if args.gateway.len() > args.subnet.len() {
        bail!("more --gateway than --subnet: give one gateway per subnet");
    }
    let subnets: Vec<(String, Cidr)> = args
        .subnet
        .iter()
        .map(|s| Ok((s.clone(), Cidr::parse(s).ok_or_else(|| anyhow!("invalid subnet {s:?}: not a CIDR"))?)))
        .collect::<Result<_>>()?;
    let mut config: Vec<IpamConfigRequest> = subnets
        .iter()
        .map(|(s, _)| IpamConfigRequest { subnet: Some(s.clone()), ..Default::default() })
        .collect();
    for gw in &args.gateway {
        let ip: IpAddr = gw.parse().map_err(|_| anyhow!("invalid gateway {gw:?}: not an IP address"))?;
        let i = subnets
            .iter()
            .position(|(_, c)| c.contains(ip))
            .ok_or_else(|| anyhow!("no matching subnet for gateway {gw}"))?;
        if config[i].gateway.is_some() {
            bail!("two gateways for subnet {}", subnets[i].0);
        }
        config[i].gateway = Some(gw.clone());
    }
    for range in &args.ip_range {
        let r = Cidr::parse(range).ok_or_else(|| anyhow!("invalid ip-range {range:?}: not a CIDR"))?;
        let i = subnets
            .iter()
            .position(|(_, c)| c.contains(r.addr))
            .ok_or_else(|| anyhow!("no matching subnet for range {range}"))?;
        if config[i].ip_range.is_some() {
            bail!("two ranges for subnet {}", subnets[i].0);
        }
        config[i].ip_range = Some(range.clone());
    }
    Ok(NetworkCreateRequest {
        name: args.name.clone(),
        driver: Some(args.driver.clone()),
        ipam: (!config.is_empty()).then(|| IpamRequest { driver: None, config, options: BTreeMap::new() }),
        internal: args.internal,
        attachable: args.attachable,
        enable_ipv6: args.ipv6.then_some(true),
        enable_ipv4: args.ipv4,
        options: parse_key_values("option", args.opt.iter().map(String::as_str))?,
        labels: parse_key_values("label", args.label.iter().map(String::as_str))?,
    })
}

/// `filters` query parameter from `-f key=value` arguments.
pub fn filters_query(filters: &[String]) -> Result<String> {
    let parsed = NetworkFilters::parse_args(filters.iter().map(String::as_str))?;
    if parsed.is_empty() {
        return Ok(String::new());
    }
    let json = serde_json::to_string(parsed.as_map())?;
    Ok(format!("?filters={}", form_urlencoded::byte_serialize(json.as_bytes()).collect::<String>()))
}

/// One network as `docker network ls --format json` prints it.
pub fn ls_row(n: &NetworkInspect, no_trunc: bool) -> Value {
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "CreatedAt": n.created.format("%Y-%m-%d %H:%M:%S%.f %z UTC").to_string(),
        "Driver": n.driver,
        "ID": if no_trunc { n.id.clone() } else { n.id.chars().take(12).collect() },
        "IPv4": n.enable_ipv4.to_string(),
        "IPv6": n.enable_ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "Labels": labels.join(","),
        "Name": n.name,
        "Scope": n.scope,
    })
}

/// `docker network ls`'s columns and their headers.
const LS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
const LS_HEADERS: [(&str, &str); 9] = [
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

/// `-q` prints ids unless a template of one's own is given, as docker's does.
pub fn quiet_format(quiet: bool, format: Option<&str>) -> Option<&str> {
    match format {
        None | Some("") | Some("table") if quiet => Some("{{.ID}}"),
        other => other,
    }
}

async fn ls(client: &Client, args: NetworkLsArgs) -> Result<i32> {
    let listing = Listing::new(quiet_format(args.quiet, args.format.as_deref()), LS_TABLE)?;
    let list: Vec<NetworkInspect> =
        client.get(&format!("/v1/networks{}", filters_query(&args.filter)?)).await?;
    let rows: Vec<Value> = list.iter().map(|n| ls_row(n, args.no_trunc)).collect();
    out!("{}", listing.render(&rows, &LS_HEADERS.into())?);
    Ok(0)
}

async fn inspect(client: &Client, args: NetworkInspectArgs) -> Result<i32> {
    print_inspected(client, "network", "/v1/networks/", &args.networks, args.format.as_deref()).await
}

/// Inspect for networks and containers alike: a JSON array (4-space indent, as
/// docker prints it), `json` lines, or a template per object; missing ones are
/// reported after the found ones.
pub async fn print_inspected(
    client: &Client,
    kind: &str,
    base: &str,
    keys: &[String],
    format: Option<&str>,
) -> Result<i32> {
    // The daemon's own bytes: its keys come in Docker's order, which a Value's
    // sorted map would lose.
    let mut raw: Vec<Box<serde_json::value::RawValue>> = Vec::new();
    let mut errors = Vec::new();
    for key in keys {
        match client.get(&format!("{base}{}", seg(key))).await {
            Ok(v) => raw.push(v),
            Err(e) if crate::client::is_not_found(&e) => errors.push(format!("No such {kind}: {key}")),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let found: Vec<Value> = raw.iter().map(|r| serde_json::from_str(r.get())).collect::<Result<_, _>>()?;
    match format {
        None => {
            if !found.is_empty() || errors.is_empty() {
                let list = format!("[{}]", raw.iter().map(|r| r.get()).collect::<Vec<_>>().join(","));
                let mut buf = Vec::new();
                let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
                let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
                serde_transcode::transcode(&mut serde_json::Deserializer::from_str(&list), &mut ser)?;
                outln!("{}", String::from_utf8(buf)?);
            }
        }
        Some("json") => raw.iter().for_each(|r| outln!("{}", r.get())),
        Some(t) => {
            let tmpl = match Template::parse(t, Missing::Error) {
                Ok(tmpl) => tmpl,
                Err(e) => {
                    // Docker's usage error: nothing is fetched or printed.
                    eprintln!("template parsing error: {e}");
                    return Ok(64);
                }
            };
            let mut printed = String::new();
            for v in &found {
                match tmpl.render_with_json(&go_names(v), &v.to_string()) {
                    Ok(text) => {
                        printed.push_str(&text);
                        printed.push('\n');
                    }
                    Err(e) => errors.push(format!("template parsing error: {e}")),
                }
            }
            out!("{printed}");
        }
    }
    for e in &errors {
        if e.starts_with("template parsing error") {
            eprintln!("{e}");
        } else {
            eprintln!("Error: {e}");
        }
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

/// Docker evaluates inspect templates against its Go structs first, whose id field
/// is `ID` (JSON `Id`): both spellings work there, so both work here.
fn go_names(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        if let Some(id) = o.get("Id").cloned() {
            o.entry("ID").or_insert(id);
        }
    }
    v
}

async fn prune(client: &Client, force: bool, filters: &[String]) -> Result<i32> {
    if !force {
        out!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y") {
            return Ok(0);
        }
    }
    let resp: NetworkPruneResponse =
        client.post(&format!("/v1/networks/prune{}", filters_query(filters)?), &json!({})).await?;
    if !resp.networks_deleted.is_empty() {
        outln!("Deleted Networks:");
        for n in resp.networks_deleted {
            outln!("{n}");
        }
    }
    Ok(0)
}

async fn connect(client: &Client, args: ConnectArgs) -> Result<i32> {
    let req = NetworkConnectRequest {
        container: args.container,
        endpoint_config: Some(EndpointConfig {
            aliases: args.alias,
            ipam_config: (args.ip.is_some() || args.ip6.is_some()).then(|| EndpointIpamConfig {
                ipv4_address: args.ip.clone(),
                ipv6_address: args.ip6.clone(),
            }),
            mac_address: None,
        }),
    };
    client.post_unit(&format!("/v1/networks/{}/connect", seg(&args.network)), &req).await?;
    Ok(0)
}

async fn disconnect(client: &Client, args: DisconnectArgs) -> Result<i32> {
    let req = NetworkDisconnectRequest { container: args.container, force: args.force };
    client.post_unit(&format!("/v1/networks/{}/disconnect", seg(&args.network)), &req).await?;
    Ok(0)
}

/// Just enough CIDR to match gateways and ranges to subnets before asking the daemon,
/// which validates everything properly.
mod ipnet_lite {
    use std::net::IpAddr;

    pub struct Cidr {
        pub addr: IpAddr,
        prefix: u8,
    }

    impl Cidr {
        pub fn parse(s: &str) -> Option<Self> {
            let (a, p) = s.split_once('/')?;
            let addr: IpAddr = a.parse().ok()?;
            let prefix: u8 = p.parse().ok()?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            (prefix <= max).then_some(Self { addr, prefix })
        }

        pub fn contains(&self, ip: IpAddr) -> bool {
            let bits = |ip: IpAddr| -> (u128, u32) {
                match ip {
                    IpAddr::V4(v) => (u32::from(v) as u128, 32),
                    IpAddr::V6(v) => (u128::from(v), 128),
                }
            };
            let (a, width) = bits(self.addr);
            let (b, width_b) = bits(ip);
            if width != width_b {
                return false;
            }
            let shift = width - self.prefix as u32;
            shift >= 128 || (a >> shift) == (b >> shift)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(subnets: &[&str], gws: &[&str], ranges: &[&str]) -> NetworkCreateArgs {
        NetworkCreateArgs {
            driver: "bridge".into(),
            subnet: subnets.iter().map(|s| s.to_string()).collect(),
            gateway: gws.iter().map(|s| s.to_string()).collect(),
            ip_range: ranges.iter().map(|s| s.to_string()).collect(),
            internal: false,
            attachable: false,
            ipv6: false,
            ipv4: None,
            label: vec!["a=b".into()],
            opt: vec![],
            name: "n".into(),
        }
    }

    #[test]
    fn gateways_and_ranges_go_to_their_subnet() {
        let r = create_request(&args(&["10.1.0.0/16", "10.2.0.0/16"], &["10.2.0.254"], &["10.1.5.0/24"]))
            .unwrap();
        let cfg = r.ipam.unwrap().config;
        assert_eq!(cfg[0].ip_range.as_deref(), Some("10.1.5.0/24"));
        assert_eq!(cfg[0].gateway, None);
        assert_eq!(cfg[1].gateway.as_deref(), Some("10.2.0.254"));
        assert_eq!(r.labels["a"], "b");
    }

    #[test]
    fn unmatched_gateway_or_range_is_an_error() {
        let e = create_request(&args(&["10.1.0.0/16"], &["10.9.0.1"], &[])).unwrap_err().to_string();
        assert!(e.contains("no matching subnet for gateway 10.9.0.1"), "{e}");
        assert!(create_request(&args(&["10.1.0.0/16"], &[], &["10.9.0.0/24"])).is_err());
        assert!(create_request(&args(&[], &["10.9.0.1"], &[])).is_err());
        // A label without a value is Docker's empty value; an empty key is an error.
        let mut team = args(&[], &[], &[]);
        team.label = vec!["team".into()];
        assert_eq!(create_request(&team).unwrap().labels["team"], "");
        team.label = vec!["=x".into()];
        assert!(create_request(&team).unwrap_err().to_string().contains("empty name"));
    }

    #[test]
    fn filters_become_query() {
        assert_eq!(filters_query(&[]).unwrap(), "");
        let q = filters_query(&["name=back".into()]).unwrap();
        assert_eq!(q, "?filters=%7B%22name%22%3A%5B%22back%22%5D%7D");
        assert!(filters_query(&["bogus=1".into()]).is_err());
    }
}
