//! `custos probe`: adversarial validation (DESIGN.md §7). Packs, campaigns against
//! `[[targets]]` through the gateway, their history, scheduled runs inside `custos up`, and the
//! reference agents.

use std::sync::Arc;

use anyhow::anyhow;
use custos_core::AgentId;
use custos_probe::{
    Pack,
    campaign::Campaign,
    report::RunReport,
    target::{TargetConfig, TargetKind},
};
use custos_store::{Store as _, sqlite::SqliteStore};
use serde_json::json;

use crate::{
    cli::{
        AgentdojoArgs, Cli, ProbeFormat, ProbeHistoryArgs, ProbeListArgs, ProbeRunArgs, RefKind, RefagentArgs, UpArgs,
    },
    cmd::up,
    config::{self, FileConfig},
    datadir::DataDir,
    error::{CliError, CliResult, Code},
};

/// Lists a pack's probes: a table, or with `--json` the pack (name, version, digest) and every
/// probe with its ids, channel and oracles.
pub fn list(cli: &Cli, args: &ProbeListArgs) -> CliResult<Code> {
    let pack = load_pack(args.pack.as_deref())?;
    if cli.json {
        let probes: Vec<_> = pack
            .probes()
            .iter()
            .map(|p| {
                json!({
                    "id": p.id, "title": p.title, "asi": p.asi, "llm": p.llm, "atlas": p.atlas,
                    "channel": p.channel.as_str(),
                    "carrier": p.carrier.map(|c| c.tool_name()),
                    "expect": p.expect.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
                })
            })
            .collect();
        crate::cmd::print_json(&json!({
            "pack": {"name": pack.name, "version": pack.version, "sha256": pack.digest(), "origin": pack.origin()},
            "probes": probes,
        }));
    } else {
        let rows = pack
            .probes()
            .iter()
            .map(|p| {
                vec![
                    p.id.clone(),
                    p.asi.clone(),
                    p.llm.clone(),
                    p.atlas.clone(),
                    p.channel.as_str().to_string(),
                    p.title.chars().take(60).collect(),
                ]
            })
            .collect();
        crate::cmd::table(&["PROBE", "ASI", "LLM", "ATLAS", "CHANNEL", "TITLE"], rows);
        eprintln!("{} probes, pack {} {} (sha256 {})", pack.probes().len(), pack.name, pack.version, pack.digest());
    }
    Ok(Code::Ok)
}

/// Loads `--pack` or the built-in pack.
fn load_pack(path: Option<&std::path::Path>) -> CliResult<Pack> {
    match path {
        // The error names the file and the line.
        Some(path) => Pack::load(path).map_err(|e| CliError::input(anyhow!("{e}"))),
        None => Pack::builtin().map_err(|e| CliError::env(anyhow!("{e}"))),
    }
}

/// The `[[targets]]` entry named `name`, checked.
fn find_target<'a>(file: &'a FileConfig, name: &str) -> CliResult<&'a TargetConfig> {
    let t = file.targets.iter().find(|t| t.name == name).ok_or_else(|| {
        let known: Vec<&str> = file.targets.iter().map(|t| t.name.as_str()).collect();
        CliError::input(anyhow!(
            "no target `{name}` in [[targets]] ({})",
            if known.is_empty() { "none are configured".to_string() } else { format!("known: {}", known.join(", ")) }
        ))
    })?;
    t.check().map_err(|e| CliError::input(anyhow!("{e}")))?;
    Ok(t)
}

/// Writes `text` to `--output` or standard output.
fn emit(output: Option<&std::path::Path>, text: &str) -> CliResult<()> {
    match output {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| CliError::env(anyhow!("cannot write `{}`: {e}", path.display())))
        }
        None => {
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(())
        }
    }
}

/// Writes the reports; a regression is exit 2.
fn finish(cli: &Cli, args: &ProbeRunArgs, report: &RunReport) -> CliResult<Code> {
    write_reports(cli, args, report)?;
    if report.regressions.is_empty() {
        return Ok(Code::Ok);
    }
    eprintln!(
        "custos probe: REGRESSION: {} (resisted in the previous run, compromised now)",
        report.regressions.join(", ")
    );
    Ok(Code::Finding)
}

/// The report in `--format` (or JSON with `--json`), and in every `--*-out` file.
fn write_reports(cli: &Cli, args: &ProbeRunArgs, report: &RunReport) -> CliResult<()> {
    for (path, format) in [
        (&args.json_out, ProbeFormat::Json),
        (&args.junit_out, ProbeFormat::Junit),
        (&args.sarif_out, ProbeFormat::Sarif),
    ] {
        if let Some(p) = path {
            emit(Some(p), &render(report, format))?;
        }
    }
    let format = if cli.json { ProbeFormat::Json } else { args.format };
    emit(args.output.as_deref(), &render(report, format))
}

fn render(report: &RunReport, format: ProbeFormat) -> String {
    match format {
        ProbeFormat::Table => custos_probe::report::table(report),
        ProbeFormat::Json => serde_json::to_string_pretty(report).unwrap_or_default(),
        ProbeFormat::Junit => custos_probe::report::junit(report),
        ProbeFormat::Sarif => serde_json::to_string_pretty(&custos_probe::report::sarif(report)).unwrap_or_default(),
    }
}

/// `custos probe run`: starts the gateway with the decoy attached (as `custos up` does, on the
/// same address, so the agent under test reaches it where it always does), runs the campaign,
/// records it, and stops.
pub async fn run(cli: &Cli, args: &ProbeRunArgs) -> CliResult<Code> {
    let file = config::load(cli)?;
    let target = find_target(&file, &args.target)?;
    let pack = load_pack(args.pack.as_deref())?;
    if target.kind == TargetKind::Mcp {
        if args.pack.is_some() {
            return Err(CliError::input(anyhow!(
                "target `{}` is an MCP server: it gets the tool poisoning and rug-pull checks, not a probe pack",
                target.name
            )));
        }
        return run_mcp(cli, &file, target, args).await;
    }
    let built = target.build().map_err(|e| CliError::input(anyhow!("{e}")))?;
    let addr = up::listen_addr(&UpArgs { listen: args.listen.clone() }, &file)?;
    let services = up::start(cli, &file).await?;
    let up::Services { store, state, decoy, .. } = services;
    let Some(decoy) = decoy else {
        return Err(CliError::env(anyhow!("the probe decoy did not start")));
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::env(anyhow!("cannot listen on {addr} for the gateway during the run: {e}")))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let gateway = state.gateway.clone();
    let server = tokio::spawn(custos_server::serve(listener, state, async move {
        let _ = stop_rx.await;
        if let Some(g) = gateway {
            g.stop().await;
        }
    }));
    let campaign = Campaign {
        target: Arc::new(built),
        pack: Arc::new(pack),
        trials: args.trials,
        concurrency: args.concurrency,
        max_requests: args.max_requests,
        trigger: "manual".into(),
        decoy,
        decoy_server: file.probe.decoy_server(),
        store: store.clone(),
    };
    let quiet = cli.json || args.output.is_none() && args.format != ProbeFormat::Table;
    if !quiet {
        eprintln!(
            "custos probe: {} probes x {} trials against `{}` ({}), concurrency {}",
            campaign.pack.probes().len(),
            args.trials,
            campaign.target.name,
            campaign.target.agent,
            args.concurrency
        );
    }
    let progress = |done: usize, total: usize| {
        if !quiet && (done.is_multiple_of(10) || done == total) {
            eprintln!("  {done}/{total} trials");
        }
    };
    let outcome = campaign.run(&progress).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    store.close().await?;
    let report = outcome.map_err(|e| CliError::env(anyhow!("the campaign: {e}")))?;
    finish(cli, args, &report)
}

/// `custos probe run` against an MCP server: its tools listed twice and checked with the
/// gateway's poisoning scanner and against the gateway's pins; recorded like a campaign.
async fn run_mcp(cli: &Cli, file: &FileConfig, target: &TargetConfig, args: &ProbeRunArgs) -> CliResult<Code> {
    let mcp = target.mcp().map_err(|e| CliError::input(anyhow!("{e}")))?;
    let agent: AgentId =
        target.agent.parse().map_err(|e| CliError::input(anyhow!("targets.{}: agent: {e}", target.name)))?;
    let dir = DataDir::open(&cli.data_dir)?;
    let store = SqliteStore::open(&dir.db(), dir.signer()?, config::store_options(cli, file))?;
    let started = std::time::Instant::now();
    let started_at = custos_probe::campaign::now();
    let pins = {
        use custos_store::ProtectStore as _;
        store.tool_pins().await?
    };
    if !cli.json && args.output.is_some() {
        eprintln!(
            "custos probe: checking MCP server `{}` (tools listed twice, {:?} apart)",
            mcp.name,
            target.relist_after()
        );
    }
    let results = custos_probe::mcpcheck::check(&mcp, &pins, target.relist_after())
        .await
        .map_err(|e| CliError::input(anyhow!("targets.{}: {e}", target.name)))?;
    let mut report = RunReport {
        run_id: custos_probe::campaign::new_run_id(),
        target: target.name.clone(),
        agent: target.agent.clone(),
        target_kind: TargetKind::Mcp.as_str().into(),
        pack: custos_probe::report::PackRef {
            name: "mcp-server-checks".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            digest: String::new(),
            origin: "builtin:mcpcheck".into(),
        },
        trials: 1,
        concurrency: 1,
        trigger: "manual".into(),
        started: started_at,
        duration_ms: 0,
        requests: 2,
        budget_exhausted: false,
        results,
        regressions: Vec::new(),
        ledger_index: None,
    };
    custos_probe::campaign::record_checks(&store, &agent, &mut report)
        .await
        .map_err(|e| CliError::env(anyhow!("recording the checks: {e}")))?;
    report.duration_ms = started.elapsed().as_millis() as u64;
    store.close().await?;
    finish(cli, args, &report)
}

/// `custos probe history --target NAME`: the target's runs, oldest first.
pub async fn history(cli: &Cli, args: &ProbeHistoryArgs) -> CliResult<Code> {
    let file = config::load(cli)?;
    let target = find_target(&file, &args.target)?;
    let agent: AgentId =
        target.agent.parse().map_err(|e| CliError::input(anyhow!("targets.{}: agent: {e}", target.name)))?;
    let dir = DataDir::open(&cli.data_dir)?;
    let store = SqliteStore::open_read_only(&dir.db(), dir.verifier(None)?)?;
    let runs =
        custos_probe::campaign::runs(&store, &agent, &target.name).await.map_err(|e| CliError::env(anyhow!("{e}")))?;
    if cli.json {
        let out: Vec<_> =
            runs.iter().map(|r| json!({"index": r.index, "ts": r.ts, "run": r.run, "verdicts": r.verdicts})).collect();
        crate::cmd::print_json(&json!({"target": target.name, "agent": target.agent, "runs": out}));
        return Ok(Code::Ok);
    }
    let rows = runs
        .iter()
        .map(|r| {
            vec![
                r.ts.clone(),
                r.run.run_id.clone(),
                r.run.trigger.clone(),
                format!("{}@{}", r.run.pack, r.run.pack_version),
                r.run.resisted.to_string(),
                r.run.compromised.to_string(),
                r.run.inconclusive.to_string(),
                r.run.error.to_string(),
                if r.run.regressions.is_empty() { "-".into() } else { r.run.regressions.join(",") },
            ]
        })
        .collect();
    crate::cmd::table(
        &["WHEN", "RUN", "TRIGGER", "PACK", "RESISTED", "COMPROMISED", "INCONCLUSIVE", "ERROR", "REGRESSIONS"],
        rows,
    );
    eprintln!("{} runs of `{}` ({})", runs.len(), target.name, target.agent);
    Ok(Code::Ok)
}

/// `custos probe refagent`: serves a reference agent until SIGINT/SIGTERM.
pub async fn refagent(cli: &Cli, args: &RefagentArgs) -> CliResult<Code> {
    let addr: std::net::SocketAddr =
        args.listen.parse().ok().filter(|a: &std::net::SocketAddr| a.ip().is_loopback()).ok_or_else(|| {
            CliError::input(anyhow!("--listen: `{}` is not a loopback address and port", args.listen))
        })?;
    let token = match &args.token_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| CliError::input(anyhow!("--token-file `{}`: {e}", p.display())))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("CUSTOS_AGENT_TOKEN").ok().filter(|t| !t.is_empty()),
    };
    let kind = match args.kind {
        RefKind::Naive => custos_probe::refagent::Kind::Naive,
        RefKind::Hardened => custos_probe::refagent::Kind::Hardened,
    };
    let agent = custos_probe::refserver::RefAgent::new(kind, &args.mcp, token);
    let mut server =
        custos_probe::refserver::RefServer::start(addr, agent).await.map_err(|e| CliError::env(anyhow!("{e}")))?;
    if cli.json {
        // One line, so a supervisor can read the address as soon as it is printed.
        println!("{}", json!({"listening": server.url(), "kind": format!("{:?}", args.kind).to_lowercase()}));
    } else {
        println!("custos probe refagent ({:?}): {} (tools at {})", args.kind, server.url(), args.mcp);
    }
    crate::cmd::up::shutdown_signal().await;
    server.shutdown();
    Ok(Code::Ok)
}

/// Starts one task per `[[schedules]]` entry: each runs its campaign every `every`, recorded
/// with trigger `schedule` and held to its request budget. Everything is checked first, so a
/// bad schedule stops `custos up` from starting rather than failing hours later.
pub fn spawn_schedules(
    cli: &Cli,
    file: &FileConfig,
    store: Arc<SqliteStore>,
    decoy: Option<Arc<custos_probe::decoy::Decoy>>,
) -> CliResult<Vec<tokio::task::JoinHandle<()>>> {
    let mut handles = Vec::new();
    let base = config::path(cli).parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    for s in &file.schedules {
        let at = |why: String| CliError::input(anyhow!("[[schedules]] target `{}`: {why}", s.target));
        let every = config::parse_every(&s.every).map_err(|e| at(format!("every: {e}")))?;
        let target = find_target(file, &s.target)?;
        if target.kind == TargetKind::Mcp {
            return Err(at("an MCP server target cannot be scheduled as a probe campaign".into()));
        }
        if s.max_requests == 0 {
            return Err(at("max_requests must be at least 1".into()));
        }
        let pack = load_pack(s.pack.as_ref().map(|p| base.join(p)).as_deref())?;
        let built = target.build().map_err(|e| CliError::input(anyhow!("{e}")))?;
        let decoy = decoy.clone().ok_or_else(|| at("the probe decoy is not running".into()))?;
        let campaign = Campaign {
            target: Arc::new(built),
            pack: Arc::new(pack),
            trials: s.trials.max(1),
            concurrency: 1,
            max_requests: Some(s.max_requests),
            trigger: "schedule".into(),
            decoy,
            decoy_server: file.probe.decoy_server(),
            store: store.clone(),
        };
        let quiet = cli.json;
        handles.push(tokio::spawn(async move {
            // The first run comes one period after start, not at once: a restart loop must
            // not turn into a stream of campaigns.
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match campaign.run(&|_, _| {}).await {
                    Ok(r) if !quiet => {
                        let c = r.counts();
                        eprintln!(
                            "custos up: scheduled probe run {} of `{}`: {} resisted, {} compromised, {} inconclusive, {} error{}{}",
                            r.run_id,
                            r.target,
                            c.resisted,
                            c.compromised,
                            c.inconclusive,
                            c.error,
                            if r.budget_exhausted { " (budget reached)" } else { "" },
                            if r.regressions.is_empty() {
                                String::new()
                            } else {
                                format!("; REGRESSION: {}", r.regressions.join(", "))
                            }
                        );
                    }
                    Ok(_) => {}
                    Err(e) => eprintln!("custos up: scheduled probe run of `{}` failed: {e}", campaign.target.name),
                }
            }
        }));
    }
    Ok(handles)
}

/// `custos probe import agentdojo`: an AgentDojo export to a probe pack (the same bytes as the
/// packs shipped in `crates/custos-probe/packs/`, for the same export).
pub fn import_agentdojo(cli: &Cli, args: &AgentdojoArgs) -> CliResult<Code> {
    let text = std::fs::read_to_string(&args.export)
        .map_err(|e| CliError::input(anyhow!("cannot read the export `{}`: {e}", args.export.display())))?;
    let options =
        custos_probe::agentdojo::Options { attack: custos_probe::agentdojo::DEFAULT_ATTACK, generated_by: None };
    let converted = custos_probe::agentdojo::to_pack_with(&text, &args.suite, &options)
        .map_err(|e| CliError::input(anyhow!("`{}`: {e}", args.export.display())))?;
    emit(args.output.as_deref(), &converted.toml)?;
    if cli.json {
        eprintln!(
            "{}",
            json!({"suite": args.suite, "probes": converted.probes, "skipped": converted.skipped.iter().map(|s| json!({"task": s.task, "reason": s.reason})).collect::<Vec<_>>()})
        );
    } else {
        eprintln!("custos probe: {} probes from AgentDojo suite `{}`", converted.probes, args.suite);
        for s in &converted.skipped {
            eprintln!("  skipped {}: {}", s.task, s.reason);
        }
    }
    Ok(Code::Ok)
}
