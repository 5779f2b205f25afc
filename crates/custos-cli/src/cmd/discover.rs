//! `custos discover`: agents, MCP servers, LLM credentials and LLM traffic, found statically
//! from every source named or auto-detected; reconciled against the registry; printed as a
//! table, JSON, SARIF or CycloneDX; optionally recorded in the ledger.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::anyhow;
use custos_core::{
    AgentId, Event,
    discovery::{AgentDiscovered, DiscoveryFinding, DiscoveryRun},
};
use custos_discover::{
    AgentFinding, Catalogues, FingerprintKey, Label, Plan, ReconcileOptions, Reconciled, RegistryAgent, Report, Source,
    Transport, is_agent, reconcile,
};
use custos_store::{ProtectStore, RegistryStore, Store, sqlite::SqliteStore};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    cli::{Cli, DiscoverArgs},
    cmd::table_string,
    config,
    datadir::DataDir,
    error::{CliError, CliResult, Code},
};

/// At most this many `discovery.finding` events per run, most severe first; the run event
/// counts the rest, so a huge tree cannot flood the ledger.
const MAX_RECORDED_FINDINGS: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Sarif,
    CycloneDx,
}

pub async fn run(cli: &Cli, args: &DiscoverArgs) -> CliResult<Code> {
    // Everything the user typed is checked before anything is read or written.
    let format = match (args.format.as_str(), cli.json) {
        ("table", true) | ("json", _) => Format::Json,
        ("table", false) => Format::Table,
        ("sarif", _) => Format::Sarif,
        ("cyclonedx", _) => Format::CycloneDx,
        (other, _) => {
            return Err(CliError::input(anyhow!("--format: `{other}` is not one of table, json, sarif, cyclonedx")));
        }
    };
    if cli.server.is_some() {
        return Err(CliError::input(anyhow!(
            "`custos discover` scans this machine's files and reads the data dir; it does not run through --server \
             (read-only use works beside a running `custos up`)"
        )));
    }
    let cats = match &args.catalog {
        Some(dir) => Catalogues::from_dir(dir).map_err(|e| CliError::input(anyhow!("--catalog: {e}")))?,
        None => Catalogues::builtin(),
    };
    let plan = plan(args)?;
    let dir = DataDir::open(&cli.data_dir).ok();
    if (args.record || args.from_gateway) && dir.is_none() {
        return Err(CliError::input(anyhow!(
            "--record and --from-gateway need a data dir: `{}` is not one (run `custos init` or `custos up` first, or pass --data-dir)",
            cli.data_dir.display()
        )));
    }
    // Fingerprints are keyed by the instance when there is one, so findings compare across
    // scans; without a data dir they are only comparable within this run.
    let (key, stable) = match &dir {
        Some(d) => (d.discover_key()?.to_vec(), true),
        None => {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).map_err(|e| CliError::env(anyhow!("no randomness: {e}")))?;
            (b.to_vec(), false)
        }
    };
    let plan = Plan {
        cache_dir: match (&dir, args.no_cache) {
            (Some(d), false) => Some(d.path.join("discover-cache")),
            _ => None,
        },
        ..plan
    };

    let bar = progress_bar();
    let b = bar.clone();
    let on_progress = move |p: custos_discover::Progress| {
        if let Some(b) = &b {
            b.set_length(p.bytes_total);
            b.set_position(p.bytes_done);
            b.set_message(format!("{}/{} files", p.files_done, p.files_total));
        }
    };
    let fkey = FingerprintKey::new(key);
    let (mut report, stats) = tokio::task::block_in_place(|| custos_discover::run(&plan, &cats, &fkey, &on_progress));
    if let Some(b) = bar {
        b.finish_and_clear();
    }

    // The registry, and what the gateway saw, from the data dir (read-only: works beside `up`).
    let store = match &dir {
        Some(d) if d.db().exists() => Some(Arc::new(SqliteStore::open_read_only(&d.db(), d.verifier(None)?)?)),
        _ => None,
    };
    let mut registry = Vec::new();
    if let Some(store) = &store {
        let activity = store.gateway_activity().await?;
        registry = registry_view(store.as_ref(), &activity).await?;
        if args.from_gateway {
            report.agents.extend(gateway_agents(&activity));
            report.agents.sort_by(|a, b| (&a.location, &a.name).cmp(&(&b.location, &b.name)));
        }
    }
    for a in &mut report.agents {
        if a.id.is_empty() {
            a.id = a.stable_id();
        }
    }
    let now = jiff::Timestamp::now();
    report.reconciliation = reconcile(&report, &registry, &ReconcileOptions { now, stale_days: args.stale_days });
    if store.is_none() {
        for r in &mut report.reconciliation {
            r.evidence.push("no registry to match against: no ledger in the data dir".into());
        }
    }

    let roots: Vec<PathBuf> =
        plan.paths.iter().chain(&plan.k8s).chain(&plan.iac).chain(plan.home.iter()).cloned().collect();
    let text = match format {
        Format::Json => {
            let mut v = serde_json::to_value(&report).map_err(|e| CliError::env(anyhow!("{e}")))?;
            if let Some(o) = v.as_object_mut() {
                o.insert("fingerprints_stable".into(), serde_json::Value::Bool(stable));
                o.insert("stats".into(), serde_json::to_value(&stats).unwrap_or_default());
            }
            pretty(&v)?
        }
        Format::Sarif => pretty(&custos_discover::to_sarif(&report, &roots, env!("CARGO_PKG_VERSION")))?,
        Format::CycloneDx => {
            let mut b = [0u8; 16];
            getrandom::fill(&mut b).map_err(|e| CliError::env(anyhow!("no randomness: {e}")))?;
            let serial = custos_discover::uuid_v4(b);
            let ts = now.round(jiff::Unit::Second).unwrap_or(now).to_string();
            pretty(&custos_discover::to_cyclonedx(&report, env!("CARGO_PKG_VERSION"), &serial, &ts))?
        }
        Format::Table => render(&report, stable),
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| CliError::env(anyhow!("cannot write `{}`: {e}", path.display())))?
        }
        None => print!("{text}"),
    }
    if !report.skipped.is_empty() && format == Format::Table {
        eprintln!("custos discover: {} file(s) skipped (listed above)", report.skipped.len());
    }

    if args.record {
        let Some(dir) = &dir else { return Err(CliError::env(anyhow!("no data dir"))) };
        drop(store);
        let run = record(cli, dir, &report, &stats, &plan).await?;
        eprintln!("custos discover: recorded as {run}");
    }

    let shadow = report.reconciliation.iter().any(|r| r.label == Label::Shadow);
    Ok(if shadow || !report.credentials.is_empty() { Code::Finding } else { Code::Ok })
}

fn pretty(v: &serde_json::Value) -> CliResult<String> {
    Ok(format!("{}\n", serde_json::to_string_pretty(v).map_err(|e| CliError::env(anyhow!("{e}")))?))
}

/// The plan from the arguments: every named path must exist; with nothing named, the home.
fn plan(args: &DiscoverArgs) -> CliResult<Plan> {
    let exists = |flag: &str, p: &Path, dir: bool| -> CliResult<()> {
        let ok = if dir { p.is_dir() } else { p.exists() };
        if ok {
            Ok(())
        } else {
            Err(CliError::input(anyhow!(
                "{flag}`{}` {}",
                p.display(),
                if dir { "is not a directory" } else { "does not exist" }
            )))
        }
    };
    for p in &args.paths {
        exists("", p, true)?;
    }
    for (flag, list) in [("--k8s ", &args.k8s), ("--iac ", &args.iac), ("--logs ", &args.logs), ("--otel ", &args.otel)]
    {
        for p in list {
            exists(flag, p, false)?;
        }
    }
    let nothing_named = args.paths.is_empty()
        && args.k8s.is_empty()
        && args.iac.is_empty()
        && args.logs.is_empty()
        && args.otel.is_empty()
        && !args.from_gateway;
    let home = match &args.home {
        Some(h) if !h.as_os_str().is_empty() => Some(h.clone()),
        Some(_) => Some(home_dir()?),
        None if nothing_named => Some(home_dir()?),
        None => None,
    };
    if let Some(h) = &home {
        exists("--home ", h, true)?;
    }
    if args.max_file_size == 0 {
        return Err(CliError::input(anyhow!("--max-file-size: must be at least 1 byte")));
    }
    Ok(Plan {
        paths: args.paths.clone(),
        home,
        k8s: args.k8s.clone(),
        iac: args.iac.clone(),
        logs: args.logs.clone(),
        otel: args.otel.clone(),
        max_file_size: args.max_file_size,
        cache_dir: None,
        threads: 0,
    })
}

fn home_dir() -> CliResult<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| CliError::input(anyhow!("$HOME is not set: pass --home DIR")))
}

fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) =
        ProgressStyle::with_template("discover {bar:40} {binary_bytes}/{binary_total_bytes} {msg}, eta {eta}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

/// Each registry agent as reconciliation sees it: lifecycle, owner, provenance, when it was
/// last seen (credential use or gateway call) and what the gateway denied it.
async fn registry_view(
    store: &SqliteStore,
    activity: &[custos_store::protect::GatewayActivity],
) -> CliResult<Vec<RegistryAgent>> {
    let agents = crate::cmd::all_agents(store).await?;
    let mut last_use: BTreeMap<String, jiff::Timestamp> = BTreeMap::new();
    for (cred, _) in store.credentials(None).await? {
        if let Some(t) = cred.last_used_at {
            let e = last_use.entry(cred.agent.as_str().to_string()).or_insert(t.as_jiff());
            *e = (*e).max(t.as_jiff());
        }
    }
    let mut denied: BTreeMap<String, BTreeMap<String, (u64, u64)>> = BTreeMap::new();
    for a in activity {
        if let Ok(t) = a.last_ts.parse::<jiff::Timestamp>() {
            let e = last_use.entry(a.agent.clone()).or_insert(t);
            *e = (*e).max(t);
        }
        if a.decision == "deny" || a.decision == "shadow" {
            let d = denied.entry(a.agent.clone()).or_default().entry(format!("{}/{}", a.server, a.tool)).or_default();
            d.0 += a.calls;
            d.1 = d.1.max(a.last_index);
        }
    }
    Ok(agents
        .into_iter()
        .map(|a| RegistryAgent {
            id: a.id.as_str().to_string(),
            name: a.name.clone(),
            state: a.state.as_str().to_string(),
            owner: a.owner.as_ref().map(|o| o.as_str().to_string()),
            orphaned: a.orphaned,
            provenance: a.provenance.clone(),
            registered_at: a.registered_at.as_jiff(),
            last_seen: last_use.get(a.id.as_str()).copied(),
            denied: denied.remove(a.id.as_str()).unwrap_or_default(),
        })
        .collect())
}

/// One finding per agent the gateway has decided calls for: the tools it used (and tried).
fn gateway_agents(activity: &[custos_store::protect::GatewayActivity]) -> Vec<AgentFinding> {
    let mut by_agent: BTreeMap<&str, Vec<&custos_store::protect::GatewayActivity>> = BTreeMap::new();
    for a in activity {
        by_agent.entry(a.agent.as_str()).or_default().push(a);
    }
    by_agent
        .into_iter()
        .map(|(agent, rows)| {
            let mut tools: Vec<String> = rows.iter().map(|r| format!("{}/{}", r.server, r.tool)).collect();
            tools.sort();
            tools.dedup();
            let mut servers: Vec<String> = rows.iter().map(|r| r.server.clone()).collect();
            servers.sort();
            servers.dedup();
            let calls: u64 = rows.iter().map(|r| r.calls).sum();
            let last = rows.iter().map(|r| r.last_index).max().unwrap_or_default();
            AgentFinding {
                id: String::new(),
                kind: custos_discover::AgentKind::Agent,
                name: agent.to_string(),
                framework: "custos-gateway".into(),
                language: None,
                source: Source::Gateway,
                location: custos_discover::Location::file("custos-gateway"),
                models: Vec::new(),
                tools,
                mcp_servers: servers,
                credential_refs: Vec::new(),
                evidence: format!("{calls} call(s) decided at the gateway, last at ledger index {last}"),
            }
        })
        .collect()
}

/// Appends the run, its findings (bounded) and one `agent.discovered` per shadow agent.
async fn record(
    cli: &Cli,
    dir: &DataDir,
    report: &Report,
    stats: &custos_discover::RunStats,
    plan: &Plan,
) -> CliResult<String> {
    let file = config::load(cli)?;
    let store =
        SqliteStore::open(&dir.db(), dir.signer()?, config::store_options(cli, &file)).map_err(|e| match e {
            custos_store::StoreError::Locked { .. } => CliError::env(anyhow!(
                "{e}\nhint: `custos up` holds the ledger; stop it to record, or run without --record"
            )),
            e => e.into(),
        })?;
    let actor = crate::cmd::ledger::actor(cli)?;
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| CliError::env(anyhow!("no randomness: {e}")))?;
    let run = format!("dr_{}", hex::encode(b));
    let labels: BTreeMap<&str, &Reconciled> =
        report.reconciliation.iter().filter_map(|r| Some((r.finding.as_deref()?, r))).collect();

    let mut findings = findings(report, &labels, &run);
    let total = findings.len();
    findings.truncate(MAX_RECORDED_FINDINGS);
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for f in &findings_all_types(report) {
        *counts.entry(f.to_string()).or_default() += 1;
    }
    for r in &report.reconciliation {
        *counts.entry(format!("label.{}", r.label.as_str())).or_default() += 1;
    }
    let digest =
        custos_core::canonical::to_vec(&serde_json::to_value(report).map_err(|e| CliError::env(anyhow!("{e}")))?)
            .map_err(|e| CliError::env(anyhow!("{e}")))?;
    let run_event = DiscoveryRun {
        run: run.clone(),
        sources: stats.sources.iter().map(|s| source_str(*s).to_string()).collect(),
        roots: plan
            .paths
            .iter()
            .chain(plan.home.iter())
            .chain(&plan.k8s)
            .chain(&plan.iac)
            .chain(&plan.logs)
            .chain(&plan.otel)
            .map(|p| p.display().to_string())
            .collect(),
        files_scanned: stats.files,
        files_skipped: report.skipped.len() as u64,
        counts,
        findings_recorded: findings.len() as u64,
        findings_total: total as u64,
        report_sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&digest)),
    };
    let mut events = vec![Event::new(actor.clone(), None, &run_event).map_err(CliError::env)?];
    for f in findings {
        events.push(Event::new(actor.clone(), None, &f).map_err(CliError::env)?);
    }
    for a in report.agents.iter().filter(|a| is_agent(a)) {
        if labels.get(a.id.as_str()).map(|r| r.label) != Some(Label::Shadow) {
            continue;
        }
        let subject: AgentId = format!("discovered/{}", a.id)
            .parse()
            .map_err(|e| CliError::env(anyhow!("finding id `{}` is not an agent id: {e}", a.id)))?;
        let evidence = labels.get(a.id.as_str()).map(|r| r.evidence.clone()).unwrap_or_default();
        let p = AgentDiscovered {
            run: run.clone(),
            finding: a.id.clone(),
            name: a.name.clone(),
            kind: a.kind.as_str().into(),
            framework: a.framework.clone(),
            source: source_str(a.source).into(),
            location: loc(&a.location),
            models: a.models.clone(),
            tools: a.tools.clone(),
            mcp_servers: a.mcp_servers.clone(),
            evidence: std::iter::once(a.evidence.clone()).chain(evidence).collect(),
        };
        events.push(Event::new(actor.clone(), Some(subject), &p).map_err(CliError::env)?);
    }
    let pending: Vec<_> = events.into_iter().map(|e| store.submit(e)).collect();
    for p in pending {
        p.await?;
    }
    store.close().await?;
    Ok(run)
}

fn findings_all_types(report: &Report) -> Vec<&'static str> {
    let mut t = Vec::new();
    t.extend(report.agents.iter().map(|a| if is_agent(a) { "agent" } else { a.kind.as_str() }));
    t.extend(std::iter::repeat_n("credential", report.credentials.len()));
    t.extend(std::iter::repeat_n("mcp_server", report.servers.len()));
    t.extend(std::iter::repeat_n("traffic", report.traffic.len()));
    t
}

/// Every finding as an event, most severe first: credentials (one per fingerprint), shadow,
/// orphaned and drifted agents, the other agents, servers, traffic.
fn findings(report: &Report, labels: &BTreeMap<&str, &Reconciled>, run: &str) -> Vec<DiscoveryFinding> {
    let mut out: Vec<(u8, DiscoveryFinding)> = Vec::new();
    let mut creds: BTreeMap<&str, Vec<&custos_discover::CredentialFinding>> = BTreeMap::new();
    for c in &report.credentials {
        creds.entry(c.fingerprint.as_str()).or_default().push(c);
    }
    for (fp, places) in creds {
        let Some(first) = places.first() else { continue };
        out.push((
            0,
            DiscoveryFinding {
                run: run.into(),
                finding: format!("cr_{}", fp.get(..16).unwrap_or(fp)),
                finding_type: "credential".into(),
                source: source_str(first.source).into(),
                locations: places.iter().map(|c| loc(&c.location)).collect(),
                summary: format!("{} credential {} ({} place(s))", first.provider, first.masked, places.len()),
                label: None,
                agent: None,
                fingerprint: Some(fp.to_string()),
                evidence: vec![format!("rule `{}`", first.rule)],
            },
        ));
    }
    for a in &report.agents {
        let r = labels.get(a.id.as_str());
        let rank = match r.map(|r| r.label) {
            Some(Label::Shadow | Label::Orphaned | Label::Drifted) => 1,
            Some(_) => 2,
            None => 3,
        };
        out.push((
            rank,
            DiscoveryFinding {
                run: run.into(),
                finding: a.id.clone(),
                finding_type: if is_agent(a) { "agent".into() } else { a.kind.as_str().into() },
                source: source_str(a.source).into(),
                locations: vec![loc(&a.location)],
                summary: format!("{} `{}` ({})", a.kind.as_str(), a.name, a.framework),
                label: r.map(|r| r.label.as_str().to_string()),
                agent: r.and_then(|r| r.agent_id.clone()),
                fingerprint: None,
                evidence: std::iter::once(a.evidence.clone())
                    .chain(r.map(|r| r.evidence.clone()).unwrap_or_default())
                    .collect(),
            },
        ));
    }
    for s in &report.servers {
        out.push((
            4,
            DiscoveryFinding {
                run: run.into(),
                finding: format!("mcp:{}:{}", s.client, s.name),
                finding_type: "mcp_server".into(),
                source: "config".into(),
                locations: vec![format!("{}#{}", s.path.display(), s.pointer)],
                summary: format!("MCP server `{}` configured in {}", s.name, s.client),
                label: None,
                agent: None,
                fingerprint: None,
                evidence: Vec::new(),
            },
        ));
    }
    for t in &report.traffic {
        out.push((
            5,
            DiscoveryFinding {
                run: run.into(),
                finding: format!("tr:{}:{}", t.workload, t.host),
                finding_type: "traffic".into(),
                source: source_str(t.source).into(),
                locations: vec![format!("{} -> {}", t.workload, t.host), loc(&t.location)],
                summary: format!("{} request(s) from {} to {} ({})", t.requests, t.workload, t.provider, t.category),
                label: None,
                agent: None,
                fingerprint: None,
                evidence: Vec::new(),
            },
        ));
    }
    out.sort_by_key(|(rank, _)| *rank);
    out.into_iter().map(|(_, f)| f).collect()
}

fn source_str(s: Source) -> &'static str {
    match s {
        Source::Config => "config",
        Source::Code => "code",
        Source::Iac => "iac",
        Source::K8s => "k8s",
        Source::Log => "log",
        Source::Otel => "otel",
        Source::Gateway => "gateway",
        Source::File => "file",
    }
}

fn loc(l: &custos_discover::Location) -> String {
    let mut s = l.path.display().to_string();
    if let Some(line) = l.line {
        s.push_str(&format!(":{line}"));
    }
    if let Some(p) = l.pointer.as_deref().filter(|p| !p.is_empty()) {
        s.push_str(&format!("#{p}"));
    }
    s
}

/// The human report: agents with their labels, then credentials, servers, traffic, logins
/// and what was skipped.
fn render(r: &Report, stable: bool) -> String {
    let mut out = String::new();
    let mut push_table = |title: &str, headers: &[&str], rows: Vec<Vec<String>>| {
        out.push_str(&format!("{title}\n"));
        out.push_str(&table_string(headers, rows));
        out.push('\n');
    };
    let labels: BTreeMap<&str, &Reconciled> =
        r.reconciliation.iter().filter_map(|x| Some((x.finding.as_deref()?, x))).collect();
    let agents: Vec<&AgentFinding> = r.agents.iter().filter(|a| is_agent(a)).collect();
    let rows = agents
        .iter()
        .map(|a| {
            let rec = labels.get(a.id.as_str());
            vec![
                rec.map(|x| x.label.as_str().to_uppercase()).unwrap_or_else(|| "-".into()),
                a.name.chars().take(40).collect(),
                a.framework.clone(),
                source_str(a.source).into(),
                rec.and_then(|x| x.agent_id.clone()).unwrap_or_else(|| "-".into()),
                loc(&a.location),
            ]
        })
        .collect();
    push_table(
        &format!("Agents: {}", agents.len()),
        &["LABEL", "NAME", "FRAMEWORK", "SOURCE", "REGISTRY", "WHERE"],
        rows,
    );
    let registry_only: Vec<&Reconciled> = r.reconciliation.iter().filter(|x| x.finding.is_none()).collect();
    if !registry_only.is_empty() {
        let rows = registry_only
            .iter()
            .map(|x| {
                vec![
                    x.label.as_str().to_uppercase(),
                    x.agent_id.clone().unwrap_or_default(),
                    x.evidence.last().cloned().unwrap_or_default(),
                ]
            })
            .collect();
        push_table("Registered agents needing attention (not found by this scan):", &["LABEL", "AGENT", "WHY"], rows);
    }
    let others: Vec<&AgentFinding> = r.agents.iter().filter(|a| !is_agent(a)).collect();
    if !others.is_empty() {
        let rows = others
            .iter()
            .map(|a| {
                vec![a.kind.as_str().into(), a.name.chars().take(40).collect(), a.framework.clone(), loc(&a.location)]
            })
            .collect();
        push_table(
            &format!("MCP servers, MCP clients and model clients in code and infrastructure: {}", others.len()),
            &["KIND", "NAME", "FRAMEWORK", "WHERE"],
            rows,
        );
    }
    let servers = r
        .servers
        .iter()
        .map(|s| {
            let (kind, target) = match &s.transport {
                Transport::Stdio { command, args } => ("stdio", format!("{command} {}", args.join(" "))),
                Transport::Http { url } => ("http", url.clone()),
                Transport::Sse { url } => ("sse", url.clone()),
                Transport::Unknown => ("?", String::new()),
            };
            vec![
                s.client.clone(),
                format!("{:?}", s.scope).to_lowercase(),
                s.name.clone(),
                kind.into(),
                target.trim().chars().take(60).collect(),
                if s.has_credential { "CREDENTIAL".into() } else { "-".into() },
                s.path.display().to_string(),
            ]
        })
        .collect();
    push_table(
        &format!("MCP servers configured in agent clients: {}", r.servers.len()),
        &["CLIENT", "SCOPE", "SERVER", "TRANSPORT", "TARGET", "SECRET", "FILE"],
        servers,
    );
    if !r.credentials.is_empty() {
        let rows = r
            .credentials
            .iter()
            .map(|c| {
                vec![c.provider.clone(), c.masked.clone(), c.fingerprint.chars().take(16).collect(), loc(&c.location)]
            })
            .collect();
        let note = if stable { "" } else { " (fingerprints comparable within this run only: no data dir)" };
        push_table(
            &format!("Credentials exposed: {}{note}", r.credentials.len()),
            &["PROVIDER", "MASKED", "FINGERPRINT", "WHERE"],
            rows,
        );
    }
    if !r.traffic.is_empty() {
        let rows = r
            .traffic
            .iter()
            .map(|t| {
                vec![
                    t.workload.clone(),
                    t.host.clone(),
                    t.provider.clone(),
                    t.category.clone(),
                    t.requests.to_string(),
                    t.last_seen.clone().unwrap_or_default(),
                ]
            })
            .collect();
        push_table(
            &format!("LLM and agent traffic: {}", r.traffic.len()),
            &["WORKLOAD", "HOST", "PROVIDER", "CATEGORY", "REQUESTS", "LAST SEEN"],
            rows,
        );
    }
    if !r.logins.is_empty() {
        let rows = r.logins.iter().map(|l| vec![l.client.clone(), l.path.display().to_string()]).collect();
        push_table("Agent-client login files present (not read):", &["CLIENT", "FILE"], rows);
    }
    if !r.skipped.is_empty() {
        let rows = r.skipped.iter().map(|s| vec![s.path.display().to_string(), s.reason.clone()]).collect();
        push_table("Skipped:", &["FILE", "REASON"], rows);
    }
    out
}
