//! netctl: the command-line client of netctld.

#[macro_use]
mod output;
mod cli;
mod client;
mod commands;
mod foreground;

use clap::Parser;

use cli::{Cli, Command, FirewallCommand};
use commands::{containers, events, network, oci_hook, ports, run};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async {
        let client = client::Client::new(&cli.host)?;
        match cli.command {
            Command::Network(cmd) => network::run(&client, cmd).await,
            Command::Container(cmd) => containers::container(&client, cmd).await,
            Command::Run(args) => run::run(&client, args).await,
            Command::Exec(args) => run::exec(&client, args).await,
            Command::Ps(args) => containers::ps(&client, args).await,
            Command::Inspect(args) => containers::inspect(&client, args).await,
            Command::Logs(args) => containers::logs(&client, args).await,
            Command::Stop(args) => containers::stop(&client, args).await,
            Command::Start(args) => containers::start(&client, args).await,
            Command::Rm(args) => containers::rm(&client, args).await,
            Command::Port(args) => ports::port(&client, args).await,
            Command::Events(args) => events::events(&client, args).await,
            Command::Firewall(FirewallCommand::Reload) => ports::firewall_reload(&client).await,
            Command::OciHook(args) => oci_hook::oci_hook(&client, args).await,
        }
    });
    match result {
        Ok(code) => std::process::ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) if output::is_broken_pipe(&e) => output::broken_pipe(),
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
