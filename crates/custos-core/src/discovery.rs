//! Discovery events (DESIGN.md §6): a run, what it found, and the agents it found that the
//! registry does not know. Findings carry no secret: a credential is a provider, a masked form
//! and a keyed fingerprint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{EventKind, Payload};

/// `discovery.run`: one `custos discover --record`, with what it covered and counted. The
/// full report is not in the ledger; its digest is, so a kept report can be shown to be the one
/// this run produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryRun {
    /// `dr_` + 16 hex digits, shared by the run's findings.
    pub run: String,
    /// The sources that ran: `config`, `code`, `iac`, `k8s`, `log`, `otel`, `gateway`, `file`.
    pub sources: Vec<String>,
    /// The scanned paths as given.
    pub roots: Vec<String>,
    pub files_scanned: u64,
    pub files_skipped: u64,
    /// Findings by type (`agent`, `credential`, `mcp_server`, `traffic`) and agents by label.
    pub counts: BTreeMap<String, u64>,
    /// How many `discovery.finding` events follow, and how many findings there were: a run
    /// records at most a bounded number, highest severity first.
    pub findings_recorded: u64,
    pub findings_total: u64,
    /// SHA-256 of the canonical JSON of the whole report.
    pub report_sha256: String,
}

/// `discovery.finding`: one thing a run found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryFinding {
    pub run: String,
    /// Stable across runs: the agent finding's id, or `cr_` + the fingerprint's first 16 hex
    /// digits for a credential (one per credential, however many places hold it).
    pub finding: String,
    /// `agent`, `credential`, `mcp_server` or `traffic`.
    #[serde(rename = "type")]
    pub finding_type: String,
    /// Which source found it.
    pub source: String,
    /// Where: `path[:line][#pointer]`, or `workload -> host` for traffic.
    pub locations: Vec<String>,
    /// One readable line; masked, never a secret.
    pub summary: String,
    /// Reconciliation label for agents: sanctioned, shadow, orphaned, stale, drifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The registry agent it was matched to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Credentials: the keyed fingerprint (HMAC-SHA256 under the instance's discovery key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Why, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// `agent.discovered`: an agent no registry agent matches (a shadow agent). Its subject is
/// `discovered/<finding id>`; the registry lists it in state `discovered` until an agent is
/// registered with the finding id in its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDiscovered {
    pub run: String,
    pub finding: String,
    pub name: String,
    /// `agent`, `managed_agent`, `agent_proxy`, …
    pub kind: String,
    pub framework: String,
    pub source: String,
    pub location: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_servers: Vec<String>,
    pub evidence: Vec<String>,
}

impl Payload for DiscoveryRun {
    const KIND: EventKind = EventKind::DiscoveryRun;
}
impl Payload for DiscoveryFinding {
    const KIND: EventKind = EventKind::DiscoveryFinding;
}
impl Payload for AgentDiscovered {
    const KIND: EventKind = EventKind::AgentDiscovered;
}
