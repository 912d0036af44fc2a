//! netctld: the netctl daemon. Owns all state and every change to the kernel's
//! network configuration; serves the API on a unix socket.

mod api;
mod attach;
mod cgroups;
mod cluster;
mod config;
mod containers;
mod daemon;
mod dns;
mod endpoints;
mod error;
mod events;
mod firewall;
mod host;
mod journal;
mod kernel_dns;
mod links;
mod lock;
mod logging;
mod logs;
mod monitor;
mod netns_links;
mod networks;
mod overlay;
mod port_proxy;
mod process;
mod published;
mod reconcile;
mod registry;
mod rename;
mod sandbox_files;
mod server;
mod store;
mod systemd;
mod teardown;
mod views;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// netctld — container networking daemon (bridges, addresses, and later DNS and
/// firewall) serving the netctl API on a unix socket. Run it as root, usually from
/// systemd (config/netctld.service).
#[derive(Debug, Parser)]
#[command(name = "netctld", version)]
struct Args {
    /// Configuration file [default: /etc/netctl/netctl.toml, if it exists]
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Unix socket of the API [default: /run/netctl/netctl.sock]
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Directory of persistent state: networks [default: /var/lib/netctl]
    #[arg(long, value_name = "DIR")]
    data_root: Option<PathBuf>,
    /// Directory of runtime state, gone at reboot [default: /run/netctl]
    #[arg(long, value_name = "DIR")]
    exec_root: Option<PathBuf>,
    /// Log filter, e.g. "debug" or "netctl_daemon=debug" [default: info, or RUST_LOG]
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Internal>,
}

#[derive(Debug, Subcommand)]
enum Internal {
    /// Started by the daemon for each detached container: starts its process and
    /// records its exit code. Not for direct use.
    #[command(hide = true)]
    Shim { spec: PathBuf },
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(Internal::Shim { spec }) = &args.command {
        return process::shim_main(spec);
    }
    let mut config = match config::Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("netctld: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(v) = args.socket {
        config.socket = v;
    }
    if let Some(v) = args.data_root {
        config.data_root = v;
    }
    if let Some(v) = args.exec_root {
        config.exec_root = v;
    }
    if let Some(v) = args.log_level {
        config.log_level = v;
    }
    logging::init(&config.log_level);
    // Before any thread: the sockets systemd kept for us, and their variables cleared.
    systemd::take_listen_fds();
    // FAILPOINTS=<step>=return|return(crash): the crash tests' failure injection.
    let _failpoints = fail::FailScenario::setup();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(server::run(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
