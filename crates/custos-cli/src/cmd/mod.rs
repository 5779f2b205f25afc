//! One module per subcommand; `run` dispatches.

mod agent;
mod approvals;
mod attest;
mod discover;
mod gateway;
mod init;
pub(crate) mod ledger;
mod probe;
mod tools;
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
            Command::Discover(args) => discover::run(&cli, args).await,
            Command::Attest(args) => attest::attest(&cli, args).await,
            Command::Verify(args) => attest::verify(&cli, args),
            Command::Controls(crate::cli::ControlsCommand::Coverage(args)) => attest::coverage(&cli, args).await,
            Command::Inventory(args) => attest::inventory(&cli, args).await,
            Command::Probe(crate::cli::ProbeCommand::List(args)) => probe::list(&cli, args),
            Command::Probe(crate::cli::ProbeCommand::Run(args)) => probe::run(&cli, args).await,
            Command::Probe(crate::cli::ProbeCommand::History(args)) => probe::history(&cli, args).await,
            Command::Probe(crate::cli::ProbeCommand::Refagent(args)) => probe::refagent(&cli, args).await,
            Command::Probe(crate::cli::ProbeCommand::Import(crate::cli::ProbeImportCommand::Agentdojo(args))) => {
                probe::import_agentdojo(&cli, args)
            }
            Command::Approvals(cmd) => approvals::run(&cli, cmd).await,
            Command::Tools(cmd) => tools::run(&cli, cmd).await,
        }
    })
}

/// Every agent in the registry, in id order, read page by page.
pub(crate) async fn all_agents(
    store: &custos_store::sqlite::SqliteStore,
) -> Result<Vec<custos_core::registry::Agent>, custos_store::StoreError> {
    use custos_store::RegistryStore;
    const PAGE: u32 = 500;
    let mut out: Vec<custos_core::registry::Agent> = Vec::new();
    loop {
        let after = out.last().map(|a| a.id.clone());
        let page =
            store.agents(&custos_core::registry::AgentQuery { after, limit: PAGE, ..Default::default() }).await?;
        let n = page.len();
        out.extend(page);
        if n < PAGE as usize {
            return Ok(out);
        }
    }
}

/// Prints `v` as pretty JSON (what `--json` shows).
pub(crate) fn print_json<T: serde::Serialize>(v: &T) {
    crate::output::json(&serde_json::to_value(v).unwrap_or(serde_json::Value::Null));
}

/// Prints rows under headers, columns padded to their widest cell.
pub(crate) fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    print!("{}", table_string(headers, rows));
}

/// Rows under headers, columns padded to their widest cell, one line each.
pub(crate) fn table_string(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let s: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(s.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// One line of text for a table cell: reasons and notes may hold newlines and tabs, which
/// would break the columns.
pub(crate) fn cell(s: &str) -> String {
    let one: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one.is_empty() { "-".into() } else { one }
}

/// A timestamp to the second (`2026-01-02T03:04:05Z`): the microseconds only widen a table.
pub(crate) fn seconds(ts: &custos_core::Timestamp) -> String {
    let s = ts.to_string();
    match s.get(..19) {
        Some(head) => format!("{head}Z"),
        None => s,
    }
}
