//! The gateway's part of `custos.toml`: `[[servers]]`, `[policy]`, `[gateway]`.

use std::{collections::BTreeMap, path::PathBuf};

use serde::Deserialize;

/// One upstream MCP server: either `url` (Streamable HTTP) or `command` (stdio, spawned and
/// supervised by custos). Everything about how it runs comes from here, never from a request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Lowercase letters, digits, `_` and `-`: the prefix of its tools (`name.tool`).
    pub name: String,
    pub url: Option<String>,
    /// The credential custos sends upstream (`Authorization: Bearer …`), as `env:VAR` or
    /// `file:/path`, so the secret itself is never in the config file.
    pub credential: Option<String>,
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Send the digest of the calling agent's MCP session (as the ledger records it) with each
    /// tool call, in `params._meta["dev.custos/session"]`. Off by default: only a server that
    /// needs to tell an agent's conversations apart gets it, such as the built-in decoy a probe
    /// campaign attaches.
    #[serde(default)]
    pub session_meta: bool,
}

/// `[policy]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Cedar files, relative to the config file's directory.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Agents in shadow mode: their calls are decided and recorded, not blocked.
    #[serde(default)]
    pub shadow: Vec<String>,
}

/// `[gateway]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Upstream call timeout (default 30 s).
    pub timeout_ms: Option<u64>,
    /// Largest request body an agent may send (default 4 MiB).
    pub max_body_bytes: Option<usize>,
    /// Origins allowed besides loopback ones (`http://localhost:*`, `http://127.0.0.1:*`).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Host names allowed besides loopback ones (DNS-rebinding defence).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Agents may also authenticate with the identity provider's JWTs.
    pub jwt: Option<crate::jwt::JwtConfig>,
}

/// `[protect]`: the gateway protections (approval, pinning, poisoning scan, DLP, labels).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtectConfig {
    /// How long a call held for approval waits before it is denied (default 120 s).
    pub approval_timeout_secs: u64,
    /// A tool whose first manifest the poisoning scan flags (severity high or critical) is
    /// quarantined until approved (default true). Findings are recorded either way.
    pub quarantine_on_poisoning: bool,
    /// Secrets found in a tool's result are replaced by `[REDACTED:<rule>]` before the agent
    /// sees them (default true); a `dlp.hit` is recorded either way.
    pub redact_results: bool,
    /// Literal canary tokens: planted values whose appearance in a call is always a hit.
    pub canaries: Vec<String>,
    /// Labels per qualified tool (`"server.tool" = ["sensitive"]`), added to those derived from
    /// annotations (`destructiveHint` → `destructive`, `openWorldHint` → `untrusted-input`).
    pub labels: BTreeMap<String, Vec<String>>,
}

impl Default for ProtectConfig {
    fn default() -> Self {
        Self {
            approval_timeout_secs: DEFAULT_APPROVAL_TIMEOUT_SECS,
            quarantine_on_poisoning: true,
            redact_results: true,
            canaries: Vec::new(),
            labels: BTreeMap::new(),
        }
    }
}

pub const DEFAULT_APPROVAL_TIMEOUT_SECS: u64 = 120;

/// The labels flow policies reason about (DESIGN.md §3.2).
pub const LABELS: &[&str] = &["untrusted-input", "sensitive", "egress", "destructive"];

pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

impl ServerConfig {
    /// Checks the shape: a valid name and exactly one of `url` and `command`.
    pub fn check(&self) -> Result<(), String> {
        let ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return Err(format!(
                "servers: name `{}` must be 1 to 64 lowercase letters, digits, `_` or `-` (it prefixes tool names)",
                self.name
            ));
        }
        match (&self.url, &self.command) {
            (Some(_), Some(_)) => Err(format!("servers.{}: give either `url` or `command`, not both", self.name)),
            (None, None) => Err(format!("servers.{}: give `url` (Streamable HTTP) or `command` (stdio)", self.name)),
            (Some(u), None) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                Err(format!("servers.{}: url `{u}` is not http:// or https://", self.name))
            }
            (None, Some(_)) if self.credential.is_some() => Err(format!(
                "servers.{}: `credential` is for `url` servers; pass secrets to a command in `env`",
                self.name
            )),
            _ => Ok(()),
        }
    }

    /// Resolves `credential` (`env:VAR` or `file:/path`) to the secret.
    pub fn resolve_credential(&self) -> Result<Option<String>, String> {
        let Some(c) = &self.credential else { return Ok(None) };
        match custos_core::secret::read_reference(c) {
            Some(read) => read.map(Some).map_err(|why| format!("servers.{}: credential: {why}", self.name)),
            None => Err(format!(
                "servers.{}: credential must be `env:VAR` or `file:/path` (never the secret itself)",
                self.name
            )),
        }
    }
}
