//! `custos discover`: the MCP servers configured in agent clients, and the credentials in their
//! configs. Static: files are read, nothing is run.

use std::path::PathBuf;

use anyhow::anyhow;
use custos_discover::{Catalogue, FingerprintKey, Os, Report, Transport, scan_clients};

use crate::{
    cli::{Cli, DiscoverArgs},
    cmd::table_string,
    datadir::DataDir,
    error::{CliError, CliResult, Code},
};

pub fn run(cli: &Cli, args: &DiscoverArgs) -> CliResult<Code> {
    let json = match args.format.as_str() {
        "json" => true,
        "table" => cli.json,
        other => return Err(CliError::input(anyhow!("--format: `{other}` is not one of table, json"))),
    };
    let catalogue = match &args.catalog {
        Some(dir) => Catalogue::from_dir(dir).map_err(|e| CliError::input(anyhow!("--catalog: {e}")))?,
        None => Catalogue::builtin(),
    };
    let home = match (&args.home, args.paths.is_empty()) {
        (Some(h), _) => h.clone(),
        (None, true) => std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| CliError::input(anyhow!("no PATH given and $HOME is not set: pass --home DIR")))?,
        // Only the given projects: user-scoped paths are looked up under a directory that does
        // not exist, so they find nothing (an empty path would mean the current directory).
        (None, false) => std::env::temp_dir().join(format!("custos-discover-no-home-{}", std::process::id())),
    };
    for p in args.paths.iter().chain(args.home.iter()) {
        if !p.is_dir() {
            return Err(CliError::input(anyhow!("`{}` is not a directory", p.display())));
        }
    }
    // Fingerprints are keyed by the instance when there is one, so findings compare across
    // scans; without a data dir they are only comparable within this run.
    let (key, stable) = match DataDir::open(&cli.data_dir) {
        Ok(dir) => (dir.discover_key()?.to_vec(), true),
        Err(_) => {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).map_err(|e| CliError::env(anyhow!("no randomness: {e}")))?;
            (b.to_vec(), false)
        }
    };
    let report = scan_clients(&catalogue, &home, &args.paths, Os::current(), &FingerprintKey::new(key));
    let text = if json {
        let mut v = serde_json::to_value(&report).map_err(|e| CliError::env(anyhow!("{e}")))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("fingerprints_stable".into(), serde_json::Value::Bool(stable));
        }
        format!("{}\n", serde_json::to_string_pretty(&v).map_err(|e| CliError::env(anyhow!("{e}")))?)
    } else {
        render(&report, stable)
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, text).map_err(|e| CliError::env(anyhow!("cannot write `{}`: {e}", path.display())))?
        }
        None => print!("{text}"),
    }
    if !report.skipped.is_empty() && !json {
        eprintln!("custos discover: {} file(s) skipped (listed above)", report.skipped.len());
    }
    Ok(if report.credentials.is_empty() { Code::Ok } else { Code::Finding })
}

/// The human report: servers, then exposed credentials, login files and what was skipped.
fn render(r: &Report, stable: bool) -> String {
    let mut out = String::new();
    let mut push_table = |title: &str, headers: &[&str], rows: Vec<Vec<String>>| {
        out.push_str(&format!("{title}\n"));
        out.push_str(&table_string(headers, rows));
        out.push('\n');
    };
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
                vec![
                    c.provider.clone(),
                    c.masked.clone(),
                    c.fingerprint.chars().take(16).collect(),
                    format!("{} ({})", c.location.path.display(), c.location.pointer.as_deref().unwrap_or_default()),
                ]
            })
            .collect();
        let note = if stable { "" } else { " (fingerprints comparable within this run only: no data dir)" };
        push_table(
            &format!("Credentials exposed in configs: {}{note}", r.credentials.len()),
            &["PROVIDER", "MASKED", "FINGERPRINT", "WHERE"],
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
