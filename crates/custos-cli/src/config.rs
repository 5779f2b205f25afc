//! `custos.toml`: typed, `deny_unknown_fields`, and resolved with the precedence
//! flags > environment (`CUSTOS_*`) > file > defaults.

use std::{path::Path, time::Duration};

use anyhow::Context;
use custos_store::sqlite::SqliteOptions;
use serde::Deserialize;

use crate::{cli::Cli, error::CliError};

/// Every environment variable custos reads.
pub mod env {
    /// The data directory (`--data-dir`).
    pub const DATA_DIR: &str = "CUSTOS_DATA_DIR";
    /// The configuration file (`--config`).
    pub const CONFIG: &str = "CUSTOS_CONFIG";
    /// `[ledger] checkpoint_interval_ms`.
    pub const CHECKPOINT_INTERVAL_MS: &str = "CUSTOS_CHECKPOINT_INTERVAL_MS";
    /// `[ledger] max_batch`.
    pub const MAX_BATCH: &str = "CUSTOS_MAX_BATCH";
    /// `custos up --listen`, `[server] listen`.
    pub const LISTEN: &str = "CUSTOS_LISTEN";
    /// `--server`, `[client] server`.
    pub const SERVER: &str = "CUSTOS_SERVER";
    /// The admin token for `--server` (takes precedence over `[client] admin_token_file`).
    pub const ADMIN_TOKEN: &str = "CUSTOS_ADMIN_TOKEN";
    /// `--actor`.
    pub const ACTOR: &str = "CUSTOS_ACTOR";
}

/// The file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub ledger: LedgerConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub client: ClientConfig,
    /// Upstream MCP servers the gateway fronts.
    #[serde(default)]
    pub servers: Vec<custos_gateway::config::ServerConfig>,
    #[serde(default)]
    pub policy: custos_gateway::config::PolicyConfig,
    /// The gateway protections: approval timeout, quarantine, DLP, tool labels.
    #[serde(default)]
    pub protect: custos_gateway::config::ProtectConfig,
    #[serde(default)]
    pub gateway: custos_gateway::config::GatewayConfig,
    /// Agents (and MCP servers) that `custos probe run` can target.
    #[serde(default)]
    pub targets: Vec<custos_probe::target::TargetConfig>,
    /// Where the built-in decoy MCP server runs during campaigns.
    #[serde(default)]
    pub probe: ProbeConfig,
    /// Campaigns `custos up` runs on its own.
    #[serde(default)]
    pub schedules: Vec<ScheduleConfig>,
}

/// `[probe]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The decoy's name as a gateway upstream (default `decoy`): agents under test see its
    /// tools at `/mcp/<name>` (or as `<name>.<tool>` at `/mcp`).
    pub decoy_server: Option<String>,
    /// Where the decoy listens (default: a free loopback port).
    pub decoy_listen: Option<String>,
}

/// The decoy's default name at the gateway.
pub const DEFAULT_DECOY_SERVER: &str = "decoy";

impl ProbeConfig {
    pub fn decoy_server(&self) -> String {
        self.decoy_server.clone().unwrap_or_else(|| DEFAULT_DECOY_SERVER.into())
    }
}

/// `[[schedules]]`: a campaign `custos up` runs every `every`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub target: String,
    /// `30s`, `15m`, `6h`, `1d`.
    pub every: String,
    /// A pack file, relative to the config file (default: the built-in pack).
    pub pack: Option<std::path::PathBuf>,
    #[serde(default = "one")]
    pub trials: u32,
    /// The budget: most requests one run may send to the target.
    pub max_requests: u64,
}

fn one() -> u32 {
    1
}

/// Parses `30s`, `15m`, `6h`, `1d` (at least one second).
pub fn parse_every(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("`{s}` is not a duration such as 30s, 15m, 6h or 1d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("`{s}`: the unit must be s, m, h or d")),
    };
    if secs == 0 {
        return Err(format!("`{s}` must be at least 1s"));
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub server: Option<String>,
    /// A file that holds the admin token (never the token itself in this file).
    pub admin_token_file: Option<std::path::PathBuf>,
}

/// Where `custos up` listens by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    pub checkpoint_interval_ms: Option<u64>,
    pub max_batch: Option<usize>,
}

/// The commented sample `custos init` writes.
pub const SAMPLE: &str = r#"# custos configuration.
#
# Every command reads this file. Flags override environment variables (CUSTOS_*), which
# override this file, which overrides the defaults shown here.

[ledger]
# Sign a checkpoint at most this often (milliseconds) while new entries arrive.
# Env: CUSTOS_CHECKPOINT_INTERVAL_MS
checkpoint_interval_ms = 1000

# The most entries committed in one transaction (group commit). Concurrent appends share a
# transaction and one sync of the write-ahead log.
# Env: CUSTOS_MAX_BATCH
max_batch = 4096

[server]
# Where `custos up` serves the admin API. Loopback only (no TLS yet).
# Flag: --listen. Env: CUSTOS_LISTEN
listen = "127.0.0.1:7070"

[client]
# Commands given --server (env CUSTOS_SERVER) act through a running `custos up`.
# server = "http://127.0.0.1:7070"
# The admin token for that, read from a file readable only by you (env CUSTOS_ADMIN_TOKEN
# takes precedence). Never put the token itself in this file.
# admin_token_file = "/home/you/.config/custos/admin-token"

# The MCP gateway (served by `custos up` at /mcp and /mcp/<server>): one [[servers]] table per
# upstream, with either `url` (Streamable HTTP; optional `credential = "env:VAR"` or
# "file:/path", sent upstream instead of the agent's token) or `command`, `args`, `env` (stdio;
# custos spawns and supervises it).
#
# [[servers]]
# name = "files"
# command = "npx"
# args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv/shared"]
#
# [policy]
# files = ["policies/base.cedar"]   # Cedar, validated against the schema of the tools at load
# shadow = []                       # agents whose calls are decided and recorded, not blocked
#
# [gateway]
# timeout_ms = 30000
# max_body_bytes = 4194304

# Validation: agents (and MCP servers) `custos probe run --target NAME` attacks. Each names the
# registry agent it is; its tools are the built-in decoy's, at /mcp/decoy through the gateway.
# Kinds: openai (url, model, headers), http (url, body with {{prompt}} and {{conversation}},
# reply = a JSON pointer), a2a (url: JSON-RPC message/send), mcp (url or command/args: tool
# poisoning and rug-pull checks). Header values may be "env:VAR" or "file:/path".
#
# [[targets]]
# name = "support-bot"
# agent = "support/bot"
# kind = "openai"
# url = "http://127.0.0.1:8000/v1/chat/completions"
# timeout_ms = 60000
#
# [probe]
# decoy_server = "decoy"            # the decoy's name at the gateway
#
# Campaigns `custos up` runs on its own, each held to a budget of requests per run.
# [[schedules]]
# target = "support-bot"
# every = "6h"
# trials = 1
# max_requests = 200
"#;

/// Where the configuration file is: `--config`, else `custos.toml` in the data dir.
pub fn path(cli: &Cli) -> std::path::PathBuf {
    cli.config.clone().unwrap_or_else(|| cli.data_dir.join("custos.toml"))
}

/// Reads the configuration file. A missing file at the default place means defaults; a file
/// named explicitly must exist.
pub fn load(cli: &Cli) -> Result<FileConfig, CliError> {
    let (path, explicit) = (path(cli), cli.config.is_some());
    if !explicit && !path.exists() {
        return Ok(FileConfig::default());
    }
    parse_file(&path)
}

fn parse_file(path: &Path) -> Result<FileConfig, CliError> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file `{}`", path.display()))
        .map_err(CliError::env)?;
    toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text.get(..s.start).map_or(0, |t| t.matches('\n').count()) + 1;
                format!(":{line}")
            })
            .unwrap_or_default();
        CliError::input(anyhow::anyhow!("invalid config `{}{at}`: {}", path.display(), e.message()))
    })
}

/// The store options after precedence is applied.
pub fn store_options(cli: &Cli, file: &FileConfig) -> SqliteOptions {
    let defaults = SqliteOptions::default();
    SqliteOptions {
        checkpoint_interval: cli
            .checkpoint_interval_ms
            .or(file.ledger.checkpoint_interval_ms)
            .map(Duration::from_millis)
            .unwrap_or(defaults.checkpoint_interval),
        max_batch: cli.max_batch.or(file.ledger.max_batch).unwrap_or(defaults.max_batch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parses_units_and_refuses_nonsense() {
        assert_eq!(parse_every("6h"), Ok(std::time::Duration::from_secs(21_600)));
        assert_eq!(parse_every("30s"), Ok(std::time::Duration::from_secs(30)));
        assert_eq!(parse_every("1d"), Ok(std::time::Duration::from_secs(86_400)));
        for bad in ["", "6", "h", "0s", "6x", "-1h", "1.5h"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_sample_parses() {
        let c: FileConfig = toml::from_str(SAMPLE).unwrap();
        assert_eq!(c.ledger.checkpoint_interval_ms, Some(1000));
        assert_eq!(c.ledger.max_batch, Some(4096));
    }
}
