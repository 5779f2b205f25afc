//! One discovery run: every source the plan names, into one [`Report`] with stable ids.

use std::path::{Path, PathBuf};

use crate::catalogue::{Catalogue, Os};
use crate::fingerprint::FingerprintKey;
use crate::model::{AgentFinding, AgentKind, Location, Report, Source};
use crate::scan::scan_clients;

/// What to scan.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Trees in which every source is auto-detected.
    pub paths: Vec<PathBuf>,
    /// A home whose agent-client configs are scanned.
    pub home: Option<PathBuf>,
    pub k8s: Vec<PathBuf>,
    pub iac: Vec<PathBuf>,
    pub logs: Vec<PathBuf>,
    pub otel: Vec<PathBuf>,
    pub max_file_size: u64,
    /// Where the content-hash cache lives; `None` scans everything afresh.
    pub cache_dir: Option<PathBuf>,
}

/// Every catalogue a run reads.
#[derive(Debug, Clone)]
pub struct Catalogues {
    pub clients: Catalogue,
}

impl Catalogues {
    pub fn builtin() -> Self {
        Self { clients: Catalogue::builtin() }
    }

    /// The built-in catalogues, each replaced by the file of the same name in `dir` when there
    /// is one. An error names the file and what is wrong in it.
    pub fn from_dir(dir: &Path) -> Result<Self, String> {
        if !dir.is_dir() {
            return Err(format!("`{}` is not a directory", dir.display()));
        }
        let mut cats = Self::builtin();
        let clients = dir.join("clients.toml");
        if clients.exists() {
            cats.clients = Catalogue::from_dir(dir).map_err(|e| format!("{}: {e}", clients.display()))?;
        }
        Ok(cats)
    }
}

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunStats {
    pub files_seen: u64,
    pub files_read: u64,
    pub bytes_read: u64,
    pub cache_hits: u64,
    pub sources: Vec<Source>,
}

/// Progress of a run, for a progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub files_done: u64,
    pub files_total: u64,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Runs every source of `plan` and assembles the report: findings sorted, each agent finding
/// given its stable id, and every agent client with servers configured reported as an agent
/// (a client with MCP servers is an agent whoever installed it).
pub fn run(plan: &Plan, cats: &Catalogues, key: &FingerprintKey, _progress: &dyn Fn(Progress)) -> (Report, RunStats) {
    let mut stats = RunStats::default();
    let mut report = Report::default();
    if let Some(home) = &plan.home {
        let r = scan_clients(&cats.clients, home, &plan.paths, Os::current(), key);
        merge(&mut report, r);
        stats.sources.push(Source::Config);
    } else if !plan.paths.is_empty() {
        let nowhere = std::env::temp_dir().join(format!("custos-discover-no-home-{}", std::process::id()));
        let r = scan_clients(&cats.clients, &nowhere, &plan.paths, Os::current(), key);
        merge(&mut report, r);
        stats.sources.push(Source::Config);
    }
    client_agents(&mut report, &cats.clients);
    finish(&mut report);
    (report, stats)
}

fn merge(into: &mut Report, from: Report) {
    into.servers.extend(from.servers);
    into.credentials.extend(from.credentials);
    into.logins.extend(from.logins);
    into.agents.extend(from.agents);
    into.traffic.extend(from.traffic);
    into.skipped.extend(from.skipped);
}

/// One agent per agent-client config file that configures MCP servers.
fn client_agents(report: &mut Report, clients: &Catalogue) {
    let mut by_file: std::collections::BTreeMap<(String, PathBuf), Vec<&crate::scan::Server>> = Default::default();
    for s in &report.servers {
        by_file.entry((s.client.clone(), s.path.clone())).or_default().push(s);
    }
    for ((client, path), servers) in by_file {
        let name = clients.client(&client).map(|c| c.name.clone()).unwrap_or_else(|| client.clone());
        let mut mcp: Vec<String> = servers.iter().map(|s| s.name.clone()).collect();
        mcp.sort();
        mcp.dedup();
        let mut refs: Vec<String> = servers.iter().flat_map(|s| s.env.iter().cloned()).collect();
        refs.sort();
        refs.dedup();
        report.agents.push(AgentFinding {
            id: String::new(),
            kind: AgentKind::Agent,
            name,
            framework: client.clone(),
            language: None,
            source: Source::Config,
            location: Location::file(path),
            models: Vec::new(),
            tools: Vec::new(),
            evidence: format!("agent client `{client}` configured with {} MCP server(s)", mcp.len()),
            mcp_servers: mcp,
            credential_refs: refs,
        });
    }
}

/// Stable ids, stable order, no duplicate agent (two sources describing one thing at one place
/// keep the first).
fn finish(report: &mut Report) {
    for a in &mut report.agents {
        if a.id.is_empty() {
            a.id = a.stable_id();
        }
    }
    report.agents.sort_by(|a, b| (&a.location, &a.name, &a.id).cmp(&(&b.location, &b.name, &b.id)));
    let mut seen = std::collections::BTreeSet::new();
    report.agents.retain(|a| seen.insert(a.id.clone()));
    report.credentials.sort_by(|a, b| (&a.location, &a.rule).cmp(&(&b.location, &b.rule)));
    report.credentials.dedup();
    report.traffic.sort_by(|a, b| (&a.location, &a.workload, &a.host).cmp(&(&b.location, &b.workload, &b.host)));
    report.skipped.sort();
    report.skipped.dedup();
}
