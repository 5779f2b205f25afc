//! One module per subcommand; `run` dispatches.

mod agent;
mod gateway;
mod init;
pub(crate) mod ledger;
mod up;

use crate::{
    cli::{Cli, Command},
    error::{CliResult, Code},
};

pub fn run(cli: Cli) -> CliResult<Code> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::error::CliError::env(anyhow::anyhow!("cannot start the runtime: {e}")))?;
    rt.block_on(async {
        match &cli.command {
            Command::Init(args) => init::run(&cli, args).await,
            Command::Ledger(cmd) => ledger::run(&cli, cmd).await,
            Command::Agent(cmd) => agent::run(&cli, cmd).await,
            Command::Owner(cmd) => agent::run_owner(&cli, cmd).await,
            Command::Up(args) => up::run(&cli, args).await,
            Command::Gateway(cmd) => gateway::run(&cli, cmd).await,
            Command::Policy(cmd) => gateway::run_policy(&cli, cmd).await,
        }
    })
}
