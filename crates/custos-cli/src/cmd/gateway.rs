//! `custos gateway status|kill` and `custos policy reload`: through a running `custos up`.

use anyhow::anyhow;
use custos_core::AgentId;
use custos_server::{KillRequest, Killed};
use serde_json::Value;

use crate::{
    backend::Remote,
    cli::{Cli, GatewayCommand, KillArgs, PolicyCommand},
    cmd::{ledger::actor, print_json},
    config,
    error::{CliError, CliResult, Code},
    output,
};

pub async fn run(cli: &Cli, cmd: &GatewayCommand) -> CliResult<Code> {
    let file = config::load(cli)?;
    match cmd {
        GatewayCommand::Status => {
            let remote = Remote::connect(cli, &file, "custos gateway status")?;
            let s: Value = remote.get("/api/v1/gateway", &[]).await?;
            if cli.json {
                output::json(&s);
                return Ok(Code::Ok);
            }
            if s.get("enabled") != Some(&Value::Bool(true)) {
                println!("no gateway runs (configure [[servers]] in custos.toml)");
                return Ok(Code::Ok);
            }
            let field = |v: &Value, p: &str| v.pointer(p).cloned().unwrap_or(Value::Null);
            println!("{:<24} {:<16} {:<8} TOOLS", "SERVER", "TRANSPORT", "HEALTHY");
            for u in s.pointer("/detail/servers").and_then(Value::as_array).into_iter().flatten() {
                println!(
                    "{:<24} {:<16} {:<8} {}",
                    field(u, "/name").as_str().unwrap_or("?"),
                    field(u, "/transport").as_str().unwrap_or("?"),
                    if field(u, "/healthy") == Value::Bool(true) { "yes" } else { "no" },
                    field(u, "/tools")
                );
            }
            println!("policies in force: {}", field(&s, "/detail/policies"));
        }
        GatewayCommand::Kill(args) => return kill(cli, &file, args).await,
    }
    Ok(Code::Ok)
}

async fn kill(cli: &Cli, file: &config::FileConfig, args: &KillArgs) -> CliResult<Code> {
    // Parsed here so a malformed id is exit 3 before anything is sent.
    let agent: AgentId = args.agent.parse().map_err(|e| CliError::input(anyhow!("--agent: {e}")))?;
    let actor = actor(cli)?;
    let remote = Remote::connect(cli, file, "custos gateway kill")?;
    let body = KillRequest { agent: agent.to_string(), reason: Some(args.reason.clone()) };
    let k: Killed = remote.send(reqwest::Method::POST, "/api/v1/gateway/kill", &actor, Some(&body)).await?;
    if cli.json {
        print_json(&k);
        return Ok(Code::Ok);
    }
    let state = if k.suspended { "suspended" } else { "was not active, so not suspended now" };
    println!(
        "killed `{}`: {state}; calls in flight cut off; {} cancelled",
        k.agent,
        output::count(k.cancelled_held as u64, "held call", "held calls")
    );
    Ok(Code::Ok)
}

pub async fn run_policy(cli: &Cli, cmd: &PolicyCommand) -> CliResult<Code> {
    let file = config::load(cli)?;
    let remote = Remote::connect(cli, &file, "custos policy reload")?;
    match cmd {
        PolicyCommand::Reload => {
            let r: Value =
                remote.send(reqwest::Method::POST, "/api/v1/policy/reload", &actor(cli)?, None::<&()>).await?;
            if cli.json {
                output::json(&r);
            } else {
                println!("reloaded: {} policies in force", r.get("policies").cloned().unwrap_or(Value::Null));
            }
        }
    }
    Ok(Code::Ok)
}
