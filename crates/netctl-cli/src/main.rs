//! netctl: the command-line client of netctld.

#[macro_use]
mod output;
mod cli;
mod client;
mod commands;
mod foreground;

use clap::FromArgMatches;

use cli::{Cli, Command, ContainerCmd, ContainerCommand, FirewallCommand};
use commands::{completion, containers, events, lifecycle, network, oci_hook, ports, run, system};

fn main() -> std::process::ExitCode {
    let cli = Cli::from_arg_matches(&cli::command().get_matches()).unwrap_or_else(|e| e.exit());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async {
        let client = client::Client::new(&cli.host)?;
        match cli.command {
            Command::Network(cmd) => network::run(&client, cmd).await,
            Command::Container(cmd) => container(&client, cmd).await,
            Command::Run(args) => run::run(&client, args).await,
            Command::Exec(args) => run::exec(&client, args).await,
            Command::Ps(args) => containers::ps(&client, args).await,
            Command::Inspect(args) => containers::inspect(&client, args).await,
            Command::Logs(args) => containers::logs(&client, args).await,
            Command::Stop(args) => containers::stop(&client, args).await,
            Command::Start(args) => containers::start(&client, args).await,
            Command::Restart(args) => lifecycle::restart(&client, args).await,
            Command::Kill(args) => lifecycle::kill(&client, args).await,
            Command::Rename(args) => lifecycle::rename(&client, args).await,
            Command::Top(args) => lifecycle::top(&client, args).await,
            Command::Rm(args) => containers::rm(&client, args).await,
            Command::Port(args) => ports::port(&client, args).await,
            Command::Events(args) => events::events(&client, args).await,
            Command::Version(args) => system::version(&client, args).await,
            Command::Info(args) => system::info(&client, args).await,
            Command::Firewall(FirewallCommand::Reload) => ports::firewall_reload(&client).await,
            Command::Completion(args) => completion::completion(args),
            Command::Man(args) => completion::man(&args.dir),
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

/// `netctl container …`: the top-level commands under Docker's management command.
async fn container(client: &client::Client, cmd: ContainerCmd) -> anyhow::Result<i32> {
    match cmd {
        ContainerCmd::Attach(args) => containers::container(client, ContainerCommand::Attach(args)).await,
        ContainerCmd::Detach(args) => containers::container(client, ContainerCommand::Detach(args)).await,
        ContainerCmd::Exec(args) => run::exec(client, args).await,
        ContainerCmd::Inspect(args) => containers::inspect(client, args).await,
        ContainerCmd::Kill(args) => lifecycle::kill(client, args).await,
        ContainerCmd::Logs(args) => containers::logs(client, args).await,
        ContainerCmd::Ls(args) => containers::ps(client, args).await,
        ContainerCmd::Port(args) => ports::port(client, args).await,
        ContainerCmd::Rename(args) => lifecycle::rename(client, args).await,
        ContainerCmd::Restart(args) => lifecycle::restart(client, args).await,
        ContainerCmd::Rm(args) => containers::rm(client, args).await,
        ContainerCmd::Run(args) => run::run(client, args).await,
        ContainerCmd::Start(args) => containers::start(client, args).await,
        ContainerCmd::Stop(args) => containers::stop(client, args).await,
        ContainerCmd::Top(args) => lifecycle::top(client, args).await,
    }
}
