//! `netctl version` and `netctl info`, in the layout of `docker version` and
//! `docker info`, from Docker's `GET /version` and `GET /info` on the daemon's
//! socket (what it serves the docker CLI). `--format` templates see Docker's
//! shapes: `{{.Server.Version}}`, `{{.ServerVersion}}`.

use anyhow::Result;
use netctl_model::docker::{version_text, MAX_API_VERSION};
use serde_json::{json, Value};

use crate::cli::FormatArgs;
use crate::client::Client;
use crate::output::template;

/// Go's names for the machine, as Docker prints OS/Arch.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn client_version() -> Value {
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": version_text(MAX_API_VERSION),
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
    })
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `--format json` is `{{json .}}`, as in Docker.
fn templated(format: &str, value: &Value) -> Result<String> {
    let t = if format == "json" { "{{json .}}" } else { format };
    template::Template::parse(t, template::Missing::Error)
        .and_then(|t| t.render(value))
        .map_err(|e| anyhow::anyhow!("template parsing error: {e}"))
}

pub async fn version(client: &Client, args: FormatArgs) -> Result<i32> {
    let local = client_version();
    let server = client.get_value("/version").await;
    if let Some(f) = &args.format {
        let server = server?;
        outln!("{}", templated(f, &json!({"Client": local, "Server": server}))?);
        return Ok(0);
    }
    // The client's part is printed even when the daemon does not answer, as docker does.
    out!("{}", version_text_client(&local));
    let server = server?;
    out!("\n{}", version_text_server(&server));
    Ok(0)
}

fn version_text_client(c: &Value) -> String {
    format!(
        "Client:\n Version:           {}\n API version:       {}\n OS/Arch:           {}/{}\n",
        s(&c["Version"]),
        s(&c["ApiVersion"]),
        s(&c["Os"]),
        s(&c["Arch"])
    )
}

fn version_text_server(v: &Value) -> String {
    let mut out = format!("Server: {}\n", s(&v["Platform"]["Name"]));
    for c in v["Components"].as_array().into_iter().flatten() {
        let d = &c["Details"];
        out.push_str(&format!(" {}:\n  Version:          {}\n", s(&c["Name"]), s(&c["Version"])));
        if c["Name"] == "Engine" {
            out.push_str(&format!(
                "  API version:      {} (minimum version {})\n  OS/Arch:          {}/{}\n  Experimental:     {}\n",
                s(&d["ApiVersion"]),
                s(&d["MinAPIVersion"]),
                s(&d["Os"]),
                s(&d["Arch"]),
                s(&d["Experimental"]),
            ));
        }
    }
    out
}

pub async fn info(client: &Client, args: FormatArgs) -> Result<i32> {
    let mut info = client.get_value("/info").await?;
    let networks = client.get_value("/networks").await?.as_array().map_or(0, Vec::len);
    info["Networks"] = json!(networks);
    if let Some(f) = &args.format {
        info["ClientInfo"] = client_version();
        outln!("{}", templated(f, &info)?);
        return Ok(0);
    }
    out!("Client:\n Version:    {}\n\n{}", env!("CARGO_PKG_VERSION"), info_text(&info));
    for w in info["Warnings"].as_array().into_iter().flatten() {
        eprintln!("WARNING: {}", s(w));
    }
    Ok(0)
}

fn join(v: &Value) -> String {
    v.as_array().into_iter().flatten().map(s).collect::<Vec<_>>().join(" ")
}

/// `docker info`'s Server part, with what applies to netctl (no images, storage
/// drivers or registries; the number of networks added).
fn info_text(i: &Value) -> String {
    let mut out = String::from("Server:\n");
    let mut line = |label: &str, value: String| out.push_str(&format!(" {label}: {value}\n"));
    line("Containers", s(&i["Containers"]));
    line(" Running", s(&i["ContainersRunning"]));
    line(" Paused", s(&i["ContainersPaused"]));
    line(" Stopped", s(&i["ContainersStopped"]));
    line("Networks", s(&i["Networks"]));
    line("Server Version", s(&i["ServerVersion"]));
    line("Logging Driver", s(&i["LoggingDriver"]));
    line("Cgroup Driver", s(&i["CgroupDriver"]));
    if !s(&i["CgroupVersion"]).is_empty() {
        line("Cgroup Version", s(&i["CgroupVersion"]));
    }
    out.push_str(" Plugins:\n");
    out.push_str(&format!(
        "  Network: {}\n  Log: {}\n",
        join(&i["Plugins"]["Network"]),
        join(&i["Plugins"]["Log"])
    ));
    let mut line = |label: &str, value: String| out.push_str(&format!(" {label}: {value}\n"));
    line("Swarm", s(&i["Swarm"]["LocalNodeState"]));
    line("Cluster", i["NetctlCluster"].as_str().unwrap_or("none (no [cluster] in netctl.toml)").to_string());
    line("Resolver", i["NetctlDns"].as_str().unwrap_or("userspace").to_string());
    line("Kernel Version", s(&i["KernelVersion"]));
    line("Operating System", s(&i["OperatingSystem"]));
    line("OSType", s(&i["OSType"]));
    line("Architecture", s(&i["Architecture"]));
    line("CPUs", s(&i["NCPU"]));
    line("Total Memory", bytes_size(i["MemTotal"].as_f64().unwrap_or(0.0)));
    line("Name", s(&i["Name"]));
    line("Data Root Dir", s(&i["DockerRootDir"]));
    line("Experimental", s(&i["ExperimentalBuild"]));
    let pools = i["DefaultAddressPools"].as_array().cloned().unwrap_or_default();
    if !pools.is_empty() {
        out.push_str(" Default Address Pools:\n");
        for p in pools {
            out.push_str(&format!("   Base: {}, Size: {}\n", s(&p["Base"]), s(&p["Size"])));
        }
    }
    out
}

/// Go's `units.BytesSize`: `%.4g` of binary units, `3.822GiB`.
fn bytes_size(mut size: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut i = 0;
    while size >= 1024.0 && i + 1 < units.len() {
        size /= 1024.0;
        i += 1;
    }
    // %.4g: four significant digits, trailing zeros dropped.
    let digits = if size >= 1000.0 {
        0
    } else if size >= 100.0 {
        1
    } else if size >= 10.0 {
        2
    } else {
        3
    };
    let text = format!("{size:.digits$}");
    let text =
        if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text };
    format!("{text}{}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_go_units_prints_them() {
        assert_eq!(bytes_size(4_103_000_000.0), "3.821GiB");
        assert_eq!(bytes_size(1024.0 * 1024.0 * 512.0), "512MiB");
        assert_eq!(bytes_size(100.0), "100B");
    }

    #[test]
    fn version_in_dockers_layout() {
        let text = version_text_client(&client_version());
        assert!(text.starts_with("Client:\n Version:           "), "{text}");
        let server = json!({"Platform": {"Name": "netctl"}, "Components": [{"Name": "Engine", "Version": "1.2",
            "Details": {"ApiVersion": "1.50", "MinAPIVersion": "1.44", "Os": "linux", "Arch": "amd64",
                        "KernelVersion": "6.1", "Experimental": "false"}}]});
        let text = version_text_server(&server);
        assert!(text.contains("Server: netctl\n Engine:\n  Version:          1.2\n"), "{text}");
        assert!(text.contains("  API version:      1.50 (minimum version 1.44)\n"), "{text}");
    }
}
