//! One discovery run: every source the plan names, into one [`Report`] with stable ids.

use std::path::{Path, PathBuf};

use crate::catalogue::{Catalogue, Os};
use crate::code::Frameworks;
use crate::creds::CredentialEngine;
use crate::fingerprint::FingerprintKey;
use crate::hosts::HostCatalogue;
use crate::iac::{IacCatalogue, scan_terraform_module};
use crate::k8s::K8sCatalogue;
use crate::logs::scan_log;
use crate::model::{AgentFinding, AgentKind, Location, Report, Skipped, Source};
use crate::otel::scan_otlp;
use crate::scan::scan_clients;
use crate::sources::{Code, ConfigFiles, Iac, K8s, Telemetry};
use crate::tree::{Analyzers, TreeOptions, scan_tree};

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
    /// Scanning threads for the trees; 0 means the default (see [`TreeOptions::threads`]).
    pub threads: usize,
}

/// Every catalogue a run reads.
#[derive(Debug, Clone)]
pub struct Catalogues {
    pub clients: Catalogue,
    pub frameworks: Frameworks,
    pub iac: IacCatalogue,
    pub k8s: K8sCatalogue,
    pub hosts: HostCatalogue,
    pub credentials: CredentialEngine,
}

impl Catalogues {
    pub fn builtin() -> Self {
        Self {
            clients: Catalogue::builtin(),
            frameworks: Frameworks::builtin(),
            iac: IacCatalogue::builtin(),
            k8s: K8sCatalogue::builtin(),
            hosts: HostCatalogue::builtin(),
            credentials: CredentialEngine::builtin(),
        }
    }

    /// The built-in catalogues, each replaced by the file of the same name in `dir` when there
    /// is one (`clients.toml`, `frameworks.toml`, `iac.toml`, `k8s.toml`, `hosts.toml`,
    /// `credentials.toml`, `file-credentials.toml`). An error names the file and what is wrong.
    pub fn from_dir(dir: &Path) -> Result<Self, String> {
        if !dir.is_dir() {
            return Err(format!("`{}` is not a directory", dir.display()));
        }
        let read = |name: &str| -> Result<Option<String>, String> {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(t) => Ok(Some(t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
            }
        };
        let at = |name: &str| dir.join(name).display().to_string();
        let mut cats = Self::builtin();
        if dir.join("clients.toml").exists() {
            cats.clients = Catalogue::from_dir(dir).map_err(|e| format!("{}: {e}", at("clients.toml")))?;
        }
        cats.frameworks =
            Frameworks::from_dir_or_builtin(dir).map_err(|e| format!("{}: {e}", at("frameworks.toml")))?;
        cats.iac = IacCatalogue::load(Some(dir)).map_err(|e| format!("{}: {e}", at("iac.toml")))?;
        cats.k8s = K8sCatalogue::load(Some(dir)).map_err(|e| format!("{}: {e}", at("k8s.toml")))?;
        if let Some(text) = read("hosts.toml")? {
            cats.hosts = HostCatalogue::from_toml(&text).map_err(|e| format!("{}: {e}", at("hosts.toml")))?;
        }
        let shared = read("credentials.toml")?;
        let file = read("file-credentials.toml")?;
        if shared.is_some() || file.is_some() {
            cats.credentials = CredentialEngine::from_catalogues(
                shared.as_deref().unwrap_or(custos_core::scan::secrets::BUILTIN_CATALOGUE),
                file.as_deref().unwrap_or(crate::creds::FILE_CATALOGUE),
            )
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        Ok(cats)
    }
}

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunStats {
    /// Regular files in the scanned trees (within the size limit), and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// Files actually read, and their bytes (the rest came from the cache by metadata).
    pub files_read: u64,
    pub bytes_read: u64,
    pub files_cached: u64,
    pub sources: Vec<Source>,
    pub warnings: Vec<String>,
}

pub use crate::tree::Progress;

/// Runs every source of `plan` and assembles the report: findings sorted, each agent finding
/// given its stable id, and every agent client with servers configured reported as an agent
/// (a client with MCP servers is an agent whoever installed it).
pub fn run(
    plan: &Plan,
    cats: &Catalogues,
    key: &FingerprintKey,
    progress: &(dyn Fn(Progress) + Sync),
) -> (Report, RunStats) {
    let mut stats = RunStats::default();
    let mut report = Report::default();
    let os = Os::current();
    let roots: Vec<PathBuf> = plan.paths.iter().chain(&plan.k8s).chain(&plan.iac).cloned().collect();
    if !roots.is_empty() {
        let mut opts = TreeOptions::new(roots, key.clone());
        opts.max_file_size = plan.max_file_size;
        opts.cache_dir = plan.cache_dir.clone();
        opts.threads = plan.threads;
        opts.engine = cats.credentials.clone();
        let config = ConfigFiles::new(&cats.clients, os, key);
        let code = Code(&cats.frameworks);
        let iac = Iac(&cats.iac);
        let k8s = K8s(&cats.k8s);
        let telemetry = Telemetry(&cats.hosts);
        let analyzers = Analyzers(vec![&config, &code, &iac, &k8s, &telemetry]);
        let tree = scan_tree(&opts, &analyzers, progress);
        stats.files = tree.files;
        stats.bytes = tree.bytes;
        stats.files_read = tree.files_read;
        stats.bytes_read = tree.bytes_read;
        stats.files_cached = tree.files_cached;
        stats.warnings.extend(tree.warnings);
        report.credentials.extend(tree.credentials);
        report.servers.extend(tree.servers);
        report.agents.extend(tree.agents);
        report.traffic.extend(tree.traffic);
        report.skipped.extend(tree.skipped);
        stats.sources.extend([Source::File, Source::Config, Source::Code, Source::Iac, Source::K8s]);
        modules(plan, cats, &mut report);
    }
    if let Some(home) = &plan.home {
        merge(&mut report, scan_clients(&cats.clients, home, &[], os, key));
        stats.sources.push(Source::Config);
    }
    for path in &plan.logs {
        match std::fs::File::open(path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|f| scan_log(&cats.hosts, path, std::io::BufReader::new(f)))
        {
            Ok(l) => report.traffic.extend(l.traffic),
            Err(reason) => report.skipped.push(Skipped { path: path.clone(), reason }),
        }
        stats.sources.push(Source::Log);
    }
    for path in &plan.otel {
        match std::fs::File::open(path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|f| scan_otlp(&cats.hosts, path, std::io::BufReader::new(f)))
        {
            Ok(o) => {
                report.agents.extend(o.agents);
                report.traffic.extend(o.traffic);
            }
            Err(reason) => report.skipped.push(Skipped { path: path.clone(), reason }),
        }
        stats.sources.push(Source::Otel);
    }
    stats.sources.sort();
    stats.sources.dedup();
    client_agents(&mut report, &cats.clients);
    finish(&mut report);
    (report, stats)
}

/// Terraform under `--iac` is read a module (directory) at a time, so that an action group in
/// one file attaches to the agent in another; its per-file findings are replaced.
fn modules(plan: &Plan, cats: &Catalogues, report: &mut Report) {
    let mut dirs: std::collections::BTreeMap<PathBuf, Vec<(PathBuf, String)>> = Default::default();
    for a in report.agents.iter().filter(|a| a.source == Source::Iac) {
        let p = &a.location.path;
        if p.extension().and_then(|e| e.to_str()) != Some("tf") || !plan.iac.iter().any(|r| p.starts_with(r)) {
            continue;
        }
        if let Some(dir) = p.parent() {
            dirs.entry(dir.to_path_buf()).or_default();
        }
    }
    for (dir, files) in &mut dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for e in entries.filter_map(Result::ok) {
            let path = e.path();
            let regular = e.file_type().is_ok_and(|t| t.is_file());
            if regular && path.extension().and_then(|x| x.to_str()) == Some("tf") {
                let small = e.metadata().is_ok_and(|m| m.len() <= plan.max_file_size);
                if let (true, Ok(text)) = (small, std::fs::read_to_string(&path)) {
                    files.push((path, text));
                }
            }
        }
        files.sort();
    }
    for (dir, files) in dirs {
        let (agents, _) = scan_terraform_module(&cats.iac, &files);
        report.agents.retain(|a| !(a.source == Source::Iac && a.location.path.parent() == Some(dir.as_path())));
        report.agents.extend(agents);
    }
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
    // A secret in an agent-client config is found twice: by the config reader (with the
    // server and JSON pointer) and by the file engine (with the line). One finding keeps both.
    let lines: std::collections::BTreeMap<(PathBuf, String), u32> = report
        .credentials
        .iter()
        .filter(|c| c.source == Source::File)
        .filter_map(|c| Some(((c.location.path.clone(), c.fingerprint.clone()), c.location.line?)))
        .collect();
    let configured: std::collections::BTreeSet<(PathBuf, String)> = report
        .credentials
        .iter()
        .filter(|c| c.source == Source::Config)
        .map(|c| (c.location.path.clone(), c.fingerprint.clone()))
        .collect();
    report.credentials.retain(|c| {
        c.source != Source::File || !configured.contains(&(c.location.path.clone(), c.fingerprint.clone()))
    });
    for c in report.credentials.iter_mut().filter(|c| c.source == Source::Config && c.location.line.is_none()) {
        c.location.line = lines.get(&(c.location.path.clone(), c.fingerprint.clone())).copied();
    }
    report.credentials.sort_by(|a, b| (&a.location, &a.rule).cmp(&(&b.location, &b.rule)));
    report.credentials.dedup();
    report.traffic.sort_by(|a, b| (&a.location, &a.workload, &a.host).cmp(&(&b.location, &b.workload, &b.host)));
    report.skipped.sort();
    report.skipped.dedup();
}
