//! `custos tools …`: the tools the gateway of a running `custos up` has pinned or quarantined.

use anyhow::anyhow;
use custos_core::protect::{PinState, ToolPin};
use custos_server::Decision;

use crate::{
    backend::{Remote, enc},
    cli::{Cli, ToolsCommand},
    cmd::{cell, ledger::actor, print_json, table},
    config,
    error::{CliError, CliResult, Code},
};

pub async fn run(cli: &Cli, cmd: &ToolsCommand) -> CliResult<Code> {
    let file = config::load(cli)?;
    match cmd {
        ToolsCommand::List => {
            let remote = Remote::connect(cli, &file, "custos tools list")?;
            let pins: Vec<ToolPin> = remote.get("/api/v1/tools", &[]).await?;
            if cli.json {
                print_json(&pins);
            } else if pins.is_empty() {
                println!("no tool has been seen yet (an agent's `tools/list` pins them)");
            } else {
                list(&pins);
            }
        }
        ToolsCommand::Label(args) => {
            qualified(&args.tool)?;
            let actor = actor(cli)?;
            let remote = Remote::connect(cli, &file, "custos tools label")?;
            let path = format!("/api/v1/tools/{}/labels", enc(&args.tool));
            let body = custos_server::LabelRequest { labels: args.labels.clone(), note: args.note.clone() };
            let pin: ToolPin = remote.send(reqwest::Method::POST, &path, &actor, Some(&body)).await?;
            if cli.json {
                print_json(&pin);
            } else if pin.labels.is_empty() {
                println!("`{}.{}` has no operator labels now", pin.server, pin.tool);
            } else {
                println!("`{}.{}` is labelled {}", pin.server, pin.tool, pin.labels.join(", "));
            }
        }
        ToolsCommand::Approve(args) => {
            qualified(&args.tool)?;
            let actor = actor(cli)?;
            let remote = Remote::connect(cli, &file, "custos tools approve")?;
            let path = format!("/api/v1/tools/{}/approve", enc(&args.tool));
            let body = Decision { note: args.note.clone() };
            let pin: ToolPin = remote.send(reqwest::Method::POST, &path, &actor, Some(&body)).await?;
            if cli.json {
                print_json(&pin);
            } else {
                println!(
                    "approved `{}.{}`: {} at {} (ledger entry {})",
                    pin.server,
                    pin.tool,
                    pin.state.as_str(),
                    short(&pin.digest),
                    pin.idx
                );
            }
        }
    }
    Ok(Code::Ok)
}

/// Checked here so a typo is exit 3 with the expected shape, not a 404 from the server.
fn qualified(tool: &str) -> CliResult<()> {
    match tool.split_once('.') {
        Some((server, name)) if !server.is_empty() && !name.is_empty() => Ok(()),
        _ => Err(CliError::input(anyhow!(
            "`{tool}` is not SERVER.TOOL (e.g. `github.create_issue`; see `custos tools list`)"
        ))),
    }
}

fn list(pins: &[ToolPin]) {
    let rows = pins
        .iter()
        .map(|p| {
            let digest = match &p.pending_digest {
                Some(now) if p.state != PinState::Pinned => format!("{} (listed: {})", short(&p.digest), short(now)),
                _ => short(&p.digest),
            };
            vec![
                format!("{}.{}", p.server, p.tool),
                p.state.as_str().to_string(),
                digest,
                if p.labels.is_empty() { "-".into() } else { p.labels.join(",") },
                p.reason.as_deref().map_or_else(|| "-".into(), cell),
            ]
        })
        .collect();
    table(&["SERVER.TOOL", "STATE", "DIGEST", "LABELS", "REASON"], rows);
}

/// The first 12 hex digits of a `sha256:` digest: enough to tell two manifests apart by eye.
fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    match hex.get(..12) {
        Some(h) => h.to_string(),
        None if hex.is_empty() => "-".into(),
        None => hex.to_string(),
    }
}
