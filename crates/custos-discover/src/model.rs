//! The findings every discovery source produces, in one vocabulary.
//!
//! Each source (agent-client configs, code, IaC, Kubernetes, logs, OTLP, the gateway) turns
//! what it reads into these types; reconciliation and every output format (table, JSON, SARIF,
//! CycloneDX, ledger events) read only these. A finding never holds a secret: credentials are
//! a masked form and a keyed fingerprint.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which kind of source a finding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// An agent client's MCP configuration file.
    Config,
    /// Source code (Python, TypeScript, JavaScript) or an agent definition file.
    Code,
    /// Infrastructure as code (Terraform).
    Iac,
    /// Kubernetes manifests.
    K8s,
    /// Proxy, DNS or egress logs.
    Log,
    /// OpenTelemetry traces (OTLP JSON).
    Otel,
    /// Agents and tools seen at the custos gateway.
    Gateway,
    /// Any other file in a scanned tree (credential findings).
    File,
}

/// Where in a file a finding is. `line` is 1-based; `pointer` is an RFC 6901 JSON pointer into
/// a structured file (TOML and YAML files: into their JSON form).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

impl Location {
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), line: None, pointer: None }
    }

    pub fn line(path: impl Into<PathBuf>, line: u32) -> Self {
        Self { path: path.into(), line: Some(line), pointer: None }
    }
}

/// What a discovered thing is. The classes follow Cisco aibom's: a model call without tools is
/// `llm_client`, not an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    /// Tools plus a model loop, in code or as a workload.
    Agent,
    /// A managed agent defined in a cloud (Bedrock Agents, AgentCore, Foundry, Vertex AI Agent
    /// Engine) or a Kubernetes agent CRD.
    ManagedAgent,
    /// Code that calls a remote agent runtime.
    AgentProxy,
    /// An MCP server implementation or deployment.
    McpServer,
    /// Code that connects to MCP servers without being an agent itself.
    McpClient,
    /// Code or a workload that calls a model API without tools.
    LlmClient,
}

impl AgentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::ManagedAgent => "managed_agent",
            Self::AgentProxy => "agent_proxy",
            Self::McpServer => "mcp_server",
            Self::McpClient => "mcp_client",
            Self::LlmClient => "llm_client",
        }
    }
}

/// An agent, MCP server or model client found in code, IaC, Kubernetes, telemetry or at the
/// gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFinding {
    /// Stable across scans of the same tree: a digest of source, kind, framework, location
    /// path and name (see [`AgentFinding::stable_id`]). Set by the caller that assembles the
    /// report; sources may leave it empty.
    #[serde(default)]
    pub id: String,
    pub kind: AgentKind,
    /// The agent's name as the code, manifest or span states it; otherwise the variable,
    /// resource or workload name it is bound to.
    pub name: String,
    /// Catalogue id of the framework or platform, e.g. `langgraph`, `crewai`,
    /// `aws_bedrock_agents`, `kagent`, `otel`.
    pub framework: String,
    /// `python`, `typescript`, `javascript`, `yaml`, `json`, `hcl`, … when from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    pub source: Source,
    pub location: Location,
    /// Models named where the agent is defined (e.g. `gpt-4o`, `anthropic:claude-sonnet-4`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Tools it is given or was seen calling.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// MCP servers it connects to: a name, command or URL as stated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_servers: Vec<String>,
    /// Names of credentials it is given (environment variable names, never values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credential_refs: Vec<String>,
    /// Why this was recognised, e.g. `from crewai import Agent; Agent(...)`.
    pub evidence: String,
}

impl AgentFinding {
    /// A digest that names this finding across scans: `ag_` + 16 hex of SHA-256 over the
    /// fields that identify it (not over what it uses, so a new tool does not make it new).
    pub fn stable_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            format!("{:?}", self.source),
            self.kind.as_str().to_string(),
            self.framework.clone(),
            self.location.path.to_string_lossy().into_owned(),
            self.name.clone(),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        let digest = h.finalize();
        format!("ag_{}", hex::encode(digest.get(..8).unwrap_or_default()))
    }
}

/// Traffic from a workload to a model provider, coding-agent service, agent infrastructure or
/// tool, aggregated over a log or trace file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficFinding {
    /// Who: a client IP, host, service name or workload as the log states it.
    pub workload: String,
    /// The destination host (or `host:port` for local model servers).
    pub host: String,
    /// Catalogue provider, e.g. `OpenAI`.
    pub provider: String,
    /// Catalogue category: `model_api`, `coding_agent`, `agent_infra`, `mcp`, `local_model`.
    pub category: String,
    pub source: Source,
    /// The file and the first line that showed this flow.
    pub location: Location,
    pub requests: u64,
    /// RFC 3339 times of the first and last request, when the log has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Models and tools named in the flow (OTLP spans).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

/// A credential found in clear. It holds no more of the secret than its first four characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialFinding {
    pub source: Source,
    pub location: Location,
    /// The agent client whose config holds it (config findings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The MCP server entry that holds it (config findings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub rule: String,
    pub provider: String,
    /// The first four characters and the length, e.g. `sk-a…(108 chars)`.
    pub masked: String,
    /// Lowercase hex HMAC-SHA256 of the secret under the scan's fingerprint key: the same
    /// secret found in two places has one fingerprint.
    pub fingerprint: String,
}

/// A file that was found but not scanned, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub servers: Vec<crate::scan::Server>,
    pub credentials: Vec<CredentialFinding>,
    pub logins: Vec<crate::scan::LoginFile>,
    #[serde(default)]
    pub agents: Vec<AgentFinding>,
    #[serde(default)]
    pub traffic: Vec<TrafficFinding>,
    /// Each discovered agent matched against the registry (empty until reconciled).
    #[serde(default)]
    pub reconciliation: Vec<Reconciled>,
    pub skipped: Vec<Skipped>,
}

/// How a discovered or registered agent stands against the registry (DESIGN.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// Registered, active, with an owner, seen, within its scope.
    Sanctioned,
    /// Found, but no registry agent matches it.
    Shadow,
    /// Registered, but its owner is offboarded or unknown.
    Orphaned,
    /// Registered, but not seen for longer than the stale threshold.
    Stale,
    /// Registered, but uses tools or servers beyond its granted scope.
    Drifted,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sanctioned => "sanctioned",
            Self::Shadow => "shadow",
            Self::Orphaned => "orphaned",
            Self::Stale => "stale",
            Self::Drifted => "drifted",
        }
    }
}

/// One reconciliation verdict: a discovered agent (by [`AgentFinding::id`]) and/or a registry
/// agent, its label, and the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciled {
    /// The discovered agent's id; `None` for a registered agent that discovery did not find
    /// (stale or orphaned from the registry alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    /// The matched registry agent's id and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    pub name: String,
    pub label: Label,
    /// Why: which match rule fired and what was observed, one line each.
    pub evidence: Vec<String>,
}
