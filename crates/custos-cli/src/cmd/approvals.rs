//! `custos approvals …`: the calls the gateway of a running `custos up` holds for a human.

use custos_core::protect::ApprovalRecord;
use custos_server::Decision;

use crate::{
    backend::{Remote, enc},
    cli::{ApprovalsCommand, Cli},
    cmd::{cell, ledger::actor, print_json, seconds, table},
    config,
    error::{CliResult, Code},
};

pub async fn run(cli: &Cli, cmd: &ApprovalsCommand) -> CliResult<Code> {
    let file = config::load(cli)?;
    match cmd {
        ApprovalsCommand::List(args) => {
            let remote = Remote::connect(cli, &file, "custos approvals list")?;
            let query: Vec<(&str, String)> = if args.all { vec![("all", "true".into())] } else { Vec::new() };
            let rows: Vec<ApprovalRecord> = remote.get("/api/v1/approvals", &query).await?;
            if cli.json {
                print_json(&rows);
            } else if rows.is_empty() {
                println!(
                    "{}",
                    if args.all { "no call was ever held for approval" } else { "no call waits for approval" }
                );
            } else {
                list(&rows, args.all);
            }
        }
        ApprovalsCommand::Approve(args) | ApprovalsCommand::Deny(args) => {
            let approve = matches!(cmd, ApprovalsCommand::Approve(_));
            let verb = if approve { "approve" } else { "deny" };
            // Before connecting, so a bad `--actor` is exit 3 even when the server is unreachable.
            let actor = actor(cli)?;
            let remote = Remote::connect(cli, &file, &format!("custos approvals {verb}"))?;
            let path = format!("/api/v1/approvals/{}/{verb}", enc(&args.id));
            let body = Decision { note: args.note.clone() };
            let r: ApprovalRecord = remote.send(reqwest::Method::POST, &path, &actor, Some(&body)).await?;
            if cli.json {
                print_json(&r);
            } else if approve {
                println!("approved `{}`: `{}` may call `{}.{}` (now {})", r.id, r.agent, r.server, r.tool, r.state);
            } else {
                println!("denied `{}`: `{}` may not call `{}.{}` (now {})", r.id, r.agent, r.server, r.tool, r.state);
            }
        }
    }
    Ok(Code::Ok)
}

/// Pending calls show when they expire; with `--all`, who decided and their note too.
fn list(rows: &[ApprovalRecord], all: bool) {
    let text = |s: Option<&str>| s.map_or_else(|| "-".into(), cell);
    let rows = rows
        .iter()
        .map(|a| {
            let mut row = vec![
                a.id.clone(),
                a.state.clone(),
                a.agent.clone(),
                format!("{}.{}", a.server, a.tool),
                seconds(&a.requested),
                if a.state == "pending" { seconds(&a.expires) } else { "-".into() },
                text(a.reason.as_deref()),
            ];
            if all {
                row.extend([text(a.decided_by.as_deref()), text(a.note.as_deref())]);
            }
            row
        })
        .collect();
    let mut headers = vec!["ID", "STATE", "AGENT", "SERVER.TOOL", "REQUESTED", "EXPIRES", "REASON"];
    if all {
        headers.extend(["DECIDED BY", "NOTE"]);
    }
    table(&headers, rows);
}
