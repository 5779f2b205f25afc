//! `custos ledger …`: append, verify, checkpoint, proof, consistency, replay, export, key.

use std::{
    collections::VecDeque,
    io::{BufWriter, Write},
};

use anyhow::{Context, anyhow};
use custos_core::{Actor, ActorId, AgentId, Event, EventKind};
use custos_store::{Location, PendingAppend, Receipt, Store, VerifyReport, sqlite::SqliteStore};
use serde::Deserialize;
use tokio::io::AsyncBufReadExt;

use crate::{
    cli::{AppendArgs, Cli, ConsistencyArgs, ExportArgs, LedgerCommand, ProofArgs, VerifyArgs},
    config,
    datadir::DataDir,
    error::{CliError, CliResult, Code},
    output,
};

pub async fn run(cli: &Cli, cmd: &LedgerCommand) -> CliResult<Code> {
    if let Some(url) = &cli.server {
        // Never act on the local data dir when the user asked for a server.
        return Err(CliError::input(anyhow!(
            "`custos ledger` works on the data dir only; for the ledger of the server at {url} use its API \
             (GET /api/v1/ledger, /ledger/checkpoint, /ledger/proof, /ledger/consistency, /ledger/verify), \
             or drop --server (read-only ledger commands work beside a running server)"
        )));
    }
    let dir = DataDir::open(&cli.data_dir)?;
    let file = config::load(cli)?;
    match cmd {
        LedgerCommand::Append(args) => append(cli, &dir, &file, args).await,
        LedgerCommand::Verify(args) => verify(cli, &dir, args).await,
        LedgerCommand::Checkpoint => checkpoint(cli, &dir, &file).await,
        LedgerCommand::Proof(args) => proof(cli, &dir, args).await,
        LedgerCommand::Consistency(args) => consistency(cli, &dir, args).await,
        LedgerCommand::Replay => replay(cli, &dir, &file).await,
        LedgerCommand::Export(args) => export(&dir, args).await,
        LedgerCommand::Key => key(cli, &dir),
    }
}

fn writer(cli: &Cli, dir: &DataDir, file: &config::FileConfig) -> CliResult<SqliteStore> {
    let signer = dir.signer()?;
    Ok(SqliteStore::open(&dir.db(), signer, config::store_options(cli, file))?)
}

fn reader(dir: &DataDir, key: Option<&str>) -> CliResult<SqliteStore> {
    let verifier = dir.verifier(key)?;
    Ok(SqliteStore::open_read_only(&dir.db(), verifier)?)
}

/// Who the events of this command name as actor: `--actor`, else $USER, else `operator`.
pub fn actor(cli: &Cli) -> CliResult<Actor> {
    let id = match &cli.actor {
        Some(a) => a.clone(),
        None => std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "operator".into()),
    };
    let id: ActorId = id.parse().map_err(|e| CliError::input(anyhow!("invalid --actor: {e}")))?;
    Ok(Actor::user(id))
}

/// Kinds only the registry may append: an operator-made `agent.state_changed` would bypass
/// the lifecycle rules.
const REGISTRY_KINDS: &[EventKind] = &[
    EventKind::AgentRegistered,
    EventKind::AgentUpdated,
    EventKind::AgentOwnerChanged,
    EventKind::AgentStateChanged,
    EventKind::CredentialIssued,
    EventKind::CredentialRevoked,
    EventKind::OwnerOffboarded,
    EventKind::AgentDiscovered,
];

/// One event as given on the command line or on a line of standard input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventInput {
    kind: String,
    data: serde_json::Value,
    #[serde(default)]
    agent: Option<String>,
}

fn build_event(
    actor: &Actor,
    kind: &str,
    data: serde_json::Value,
    agent: Option<&str>,
) -> Result<Event, anyhow::Error> {
    let kind: EventKind = kind.parse()?;
    if REGISTRY_KINDS.contains(&kind) {
        return Err(anyhow!(
            "`{kind}` events are appended by the registry or discovery, which check their rules; use `custos agent …`, `custos owner …` or `custos discover --record`"
        ));
    }
    let agent: Option<AgentId> = agent.map(str::parse).transpose()?;
    let event = Event::from_parts(kind, actor.clone(), agent, data)?;
    // Check the size limit here, before anything is queued.
    custos_core::Entry::from_event(&event)?;
    Ok(event)
}

fn receipt_json(r: &Receipt) -> serde_json::Value {
    serde_json::json!({
        "index": r.index,
        "leaf_hash": r.leaf_hash.to_base64(),
        "tree_size": r.tree_size,
        "root": r.root.to_base64(),
        "inclusion": r.inclusion.iter().map(|h| h.to_base64()).collect::<Vec<_>>(),
    })
}

async fn append(cli: &Cli, dir: &DataDir, file: &config::FileConfig, args: &AppendArgs) -> CliResult<Code> {
    let actor = actor(cli)?;
    if args.stdin {
        return append_stdin(cli, dir, file, &actor).await;
    }
    let (Some(kind), Some(data)) = (&args.kind, &args.data) else {
        return Err(CliError::input(anyhow!("give --kind and --data, or --stdin")));
    };
    let data: serde_json::Value =
        serde_json::from_str(data).map_err(|e| CliError::input(anyhow!("--data is not valid JSON: {e}")))?;
    let event = build_event(&actor, kind, data, args.agent.as_deref()).map_err(CliError::input)?;
    let store = writer(cli, dir, file)?;
    let receipt = store.append(event).await?;
    // A one-shot command signs the checkpoint that covers its entry before it exits.
    let cp = store.checkpoint().await?;
    store.close().await?;
    if cli.json {
        let mut v = receipt_json(&receipt);
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "checkpoint".into(),
                serde_json::json!({"size": cp.checkpoint.size, "root": cp.checkpoint.root.to_base64(), "note": cp.note}),
            );
        }
        output::json(&v);
    } else {
        println!(
            "appended entry {} (leaf {}); covered by checkpoint of size {}",
            receipt.index, receipt.leaf_hash, cp.checkpoint.size
        );
    }
    Ok(Code::Ok)
}

/// Bulk append: every line is validated before it is queued, and queued in input order (so
/// line order is ledger order); up to `WINDOW` appends are in flight, and each line's
/// acknowledgement is printed, in input order, as soon as it is durable. A bad line stops the
/// run: the lines before it stay appended, nothing of it or after it is.
async fn append_stdin(cli: &Cli, dir: &DataDir, file: &config::FileConfig, actor: &Actor) -> CliResult<Code> {
    const WINDOW: usize = 512;
    let store = writer(cli, dir, file)?;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut inflight: VecDeque<(u64, PendingAppend)> = VecDeque::new();
    let mut line_no = 0u64;
    let mut eof = false;
    let mut failure: Option<CliError> = None;
    let ack = |line: u64, r: &Receipt| {
        let mut out = std::io::stdout().lock();
        let _ = if cli.json {
            writeln!(out, "{{\"line\":{line},\"index\":{}}}", r.index)
        } else {
            writeln!(out, "line {line}: entry {}", r.index)
        };
        let _ = out.flush();
    };
    while !(eof && inflight.is_empty()) {
        let room = inflight.len() < WINDOW;
        let front = async {
            match inflight.front_mut() {
                Some((_, pending)) => pending.as_mut().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Acknowledge first: a durable entry is reported before more input is read.
            biased;
            done = front => {
                let receipt = done?;
                if let Some((n, _)) = inflight.pop_front() {
                    ack(n, &receipt);
                }
            }
            line = lines.next_line(), if !eof && room => {
                let line = match line {
                    Ok(Some(l)) => l,
                    Ok(None) => {
                        eof = true;
                        continue;
                    }
                    Err(e) => {
                        failure = Some(CliError::input(anyhow!("cannot read standard input after line {line_no}: {e}")));
                        eof = true;
                        continue;
                    }
                };
                line_no += 1;
                if line.trim().is_empty() {
                    continue;
                }
                match parse_line(actor, &line) {
                    Ok(event) => inflight.push_back((line_no, store.submit(event))),
                    Err(e) => {
                        failure = Some(CliError::input(anyhow!("line {line_no}{e:#}")));
                        eof = true;
                    }
                }
            }
        }
    }
    store.close().await?;
    match failure {
        Some(f) => Err(f),
        None => Ok(Code::Ok),
    }
}

/// One line of `--stdin`; errors start with the position within the line, if any.
fn parse_line(actor: &Actor, line: &str) -> Result<Event, anyhow::Error> {
    let input: EventInput = serde_json::from_str(line).map_err(|e| {
        // serde's "at line 1 column N" would compete with the real line number.
        let msg = e.to_string();
        let msg = msg.rsplit_once(" at line ").map_or(msg.as_str(), |(m, _)| m).to_string();
        anyhow!(", column {}: {msg}", e.column())
    })?;
    build_event(actor, &input.kind, input.data, input.agent.as_deref()).map_err(|e| anyhow!(": {e:#}"))
}

fn report_json(r: &VerifyReport) -> serde_json::Value {
    serde_json::json!({
        "verified": r.verified(),
        "entries": r.stored,
        "entries_verified": r.entries,
        "checkpoints": r.checkpoints,
        "latest_checkpoint": r.latest_checkpoint,
        "unsigned_tail": r.unsigned_tail(),
        "root": r.root.to_base64(),
        "first_bad_index": r.first_bad_entry(),
        "first_failure": r.failures.first().map(|f| f.to_string()),
        "failures": r.failures.iter().map(|f| serde_json::json!({
            "location": f.location.to_string(),
            "entry": match f.location {
                Location::Entry(i) | Location::TreeHash { entry: i, .. } => Some(i),
                Location::Checkpoint { .. } => None,
            },
            "checkpoint_size": match f.location {
                Location::Checkpoint { size } => Some(size),
                _ => None,
            },
            "what": f.what,
        })).collect::<Vec<_>>(),
    })
}

async fn verify(cli: &Cli, dir: &DataDir, args: &VerifyArgs) -> CliResult<Code> {
    let store = reader(dir, args.key.as_deref())?;
    let verifier = dir.verifier(args.key.as_deref())?;
    let (progress, bar) = output::progress("verifying");
    let report = store.verify(&verifier, progress).await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if cli.json {
        output::json(&report_json(&report));
    } else if let Some(first) = report.failures.first() {
        println!("ledger NOT verified: first problem at {first}");
        for f in report.failures.iter().skip(1) {
            println!("  also: {f}");
        }
    } else {
        println!(
            "ledger verified: {}, {} (latest of size {}), root {}",
            output::count(report.entries, "entry", "entries"),
            output::count(report.checkpoints, "checkpoint", "checkpoints"),
            report.latest_checkpoint.unwrap_or(0),
            report.root
        );
        if report.unsigned_tail() > 0 {
            println!(
                "  note: the last {} entries are not yet under a signed checkpoint (run `custos ledger checkpoint`)",
                report.unsigned_tail()
            );
        }
    }
    Ok(if report.verified() { Code::Ok } else { Code::Finding })
}

async fn checkpoint(cli: &Cli, dir: &DataDir, file: &config::FileConfig) -> CliResult<Code> {
    let store = writer(cli, dir, file)?;
    let cp = store.checkpoint().await?;
    store.close().await?;
    if cli.json {
        output::json(
            &serde_json::json!({"size": cp.checkpoint.size, "root": cp.checkpoint.root.to_base64(), "note": cp.note}),
        );
    } else {
        print!("{}", cp.note);
    }
    Ok(Code::Ok)
}

async fn proof(cli: &Cli, dir: &DataDir, args: &ProofArgs) -> CliResult<Code> {
    let store = reader(dir, None)?;
    let file = store.proof_file(args.index, args.size).await?;
    let entry = store.entries(args.index, args.index + 1).await?;
    if cli.json {
        let leaf = entry.first().map(|e| custos_ledger::hash::leaf_hash(e).to_base64());
        output::json(&serde_json::json!({
            "index": file.index,
            "leaf_hash": leaf,
            "proof": file.proof.iter().map(|h| h.to_base64()).collect::<Vec<_>>(),
            "checkpoint": file.checkpoint_note,
            "tlog_proof": file.to_text(),
        }));
    } else {
        print!("{}", file.to_text());
    }
    Ok(Code::Ok)
}

async fn consistency(cli: &Cli, dir: &DataDir, args: &ConsistencyArgs) -> CliResult<Code> {
    if args.from > args.to {
        return Err(CliError::input(anyhow!("--from {} is larger than --to {}", args.from, args.to)));
    }
    let store = reader(dir, None)?;
    let proof = store.consistency_proof(args.from, args.to).await?;
    let from_root = store.tree_hash(args.from).await?;
    let to_root = store.tree_hash(args.to).await?;
    let hashes: Vec<String> = proof.iter().map(|h| h.to_base64()).collect();
    if cli.json {
        output::json(&serde_json::json!({
            "from": args.from, "to": args.to,
            "from_root": from_root.to_base64(), "to_root": to_root.to_base64(),
            "proof": hashes,
        }));
    } else {
        println!("from {} {}", args.from, from_root);
        println!("to {} {}", args.to, to_root);
        for h in hashes {
            println!("{h}");
        }
    }
    Ok(Code::Ok)
}

async fn replay(cli: &Cli, dir: &DataDir, file: &config::FileConfig) -> CliResult<Code> {
    let store = writer(cli, dir, file)?;
    let (progress, bar) = output::progress("replaying");
    let report = store.replay(progress).await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    store.close().await?;
    let identical = report.digest_before == report.digest_after;
    if cli.json {
        output::json(&serde_json::json!({
            "entries": report.entries,
            "digest_before": report.digest_before,
            "digest_after": report.digest_after,
            "identical": identical,
        }));
    } else {
        println!("rebuilt the projections from {} entries", report.entries);
        println!("  digest before: {}", report.digest_before);
        println!("  digest after:  {}", report.digest_after);
        println!(
            "  {}",
            if identical {
                "identical: the live projections matched the ledger"
            } else {
                "DIFFERENT: the live projections had drifted from the ledger and were rebuilt"
            }
        );
    }
    Ok(if identical { Code::Ok } else { Code::Finding })
}

async fn export(dir: &DataDir, args: &ExportArgs) -> CliResult<Code> {
    const PAGE: u64 = 10_000;
    let store = reader(dir, None)?;
    let size = store.size().await?;
    let to = args.to.unwrap_or(size).min(size);
    if args.from > to {
        return Err(CliError::input(anyhow!("--from {} is past the end ({to})", args.from)));
    }
    let sink: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::fs::File::create(p).with_context(|| format!("cannot create `{}`", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    let mut at = args.from;
    while at < to {
        let page = store.entries(at, (at + PAGE).min(to)).await?;
        if page.is_empty() {
            break;
        }
        for e in &page {
            out.write_all(e).context("cannot write the export")?;
            out.write_all(b"\n").context("cannot write the export")?;
        }
        at += page.len() as u64;
    }
    out.flush().context("cannot write the export")?;
    Ok(Code::Ok)
}

fn key(cli: &Cli, dir: &DataDir) -> CliResult<Code> {
    let v = dir.signer()?.verifier();
    if cli.json {
        output::json(
            &serde_json::json!({"verifier_key": v.encode(), "origin": v.name(), "key_id": format!("{:08x}", v.key_id())}),
        );
    } else {
        println!("{}", v.encode());
    }
    Ok(Code::Ok)
}
