//! `netctl completion bash|zsh|fish|…` (clap_complete) and the hidden
//! `netctl man DIR` (clap_mangen: netctl.1 and netctl-<command>….1 for every
//! subcommand), both from the one command definition in cli.rs, so they never
//! fall behind it. install.sh puts them where the shells and man look.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{command, CompletionArgs};

pub fn completion(args: CompletionArgs) -> Result<i32> {
    let mut cmd = command();
    // Into memory first: clap_complete panics on a closed pipe, out! does not.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "netctl", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(0)
}

pub fn man(dir: &Path) -> Result<i32> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    clap_mangen::generate_to(command(), dir)
        .with_context(|| format!("write man pages into {}", dir.display()))?;
    Ok(0)
}
