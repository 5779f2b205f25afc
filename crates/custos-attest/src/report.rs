//! What the printable report shows ([`ReportData`]): a view of one agent-evidence predicate.
//!
//! The fields mirror the bundle predicate (identity and owner, lifecycle, behavior, findings,
//! probe results, recertifications, control coverage, and the facts a verifier checked), so a
//! report is rendered from a bundle without going back to the store. Free text stays `String`
//! because it is only displayed (and always escaped); values that drive colours and charts are
//! typed, so a misspelt status is an error at the edge rather than a grey bar.

use serde::{Deserialize, Serialize};

use custos_core::{Timestamp, registry::Agent};

/// Everything the HTML report shows about one agent over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportData {
    /// When the report (or its bundle) was produced.
    pub generated_at: Timestamp,
    pub agent: ReportAgent,
    /// Lifecycle events, oldest first.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    #[serde(default)]
    pub behavior: Behavior,
    #[serde(default)]
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub probes: Vec<ProbeResult>,
    #[serde(default)]
    pub recertifications: Vec<Recertification>,
    #[serde(default)]
    pub coverage: Vec<ControlCoverage>,
    pub verification: VerificationFacts,
}

/// The agent's identity record, as it stood at the end of the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportAgent {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub sponsor: Option<String>,
    #[serde(default)]
    pub purpose: String,
    pub environment: String,
    pub risk_tier: String,
    pub state: String,
    #[serde(default)]
    pub orphaned: bool,
    #[serde(default)]
    pub labels: Vec<String>,
    /// Granted policy name and the SHA-256 of its text.
    #[serde(default)]
    pub granted_policy: Option<GrantedPolicy>,
    #[serde(default)]
    pub registered_at: Option<Timestamp>,
    #[serde(default)]
    pub recert_due: Option<Timestamp>,
    /// SHA-256 (hex) of the identity record: the Statement subject's digest.
    #[serde(default)]
    pub identity_digest: Option<String>,
}

/// A policy granted to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantedPolicy {
    pub name: String,
    pub sha256: String,
}

impl From<&Agent> for ReportAgent {
    fn from(a: &Agent) -> Self {
        ReportAgent {
            id: a.id.to_string(),
            name: a.name.clone(),
            owner: a.owner.as_ref().map(ToString::to_string),
            sponsor: a.sponsor.as_ref().map(ToString::to_string),
            purpose: a.purpose.clone(),
            environment: a.environment.to_string(),
            risk_tier: a.risk_tier.to_string(),
            state: a.state.to_string(),
            orphaned: a.orphaned,
            labels: a.labels.iter().map(ToString::to_string).collect(),
            granted_policy: a
                .granted_policy
                .as_ref()
                .map(|p| GrantedPolicy { name: p.name.clone(), sha256: p.sha256.clone() }),
            registered_at: Some(a.registered_at),
            recert_due: Some(a.recert_due),
            identity_digest: None,
        }
    }
}

/// One lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    /// Ledger index of the event.
    pub index: u64,
    pub time: Timestamp,
    /// Event kind, e.g. `agent.state_changed`.
    pub kind: String,
    /// Who did it, e.g. `user:alice@example.com`.
    pub actor: String,
    /// One line for a human: `approved: ready for production`.
    pub summary: String,
}

/// What the agent did through the gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behavior {
    /// Decisions by outcome over the whole window.
    #[serde(default)]
    pub decisions: DecisionTotals,
    /// Tools used, with their call counts.
    #[serde(default)]
    pub tools: Vec<ToolUse>,
    /// Calls per UTC day, oldest first. Missing days between two listed ones are shown as zero.
    #[serde(default)]
    pub calls_per_day: Vec<DayCalls>,
    /// Denied calls, one line each.
    #[serde(default)]
    pub denials: Vec<Denial>,
    /// The first call of each tool by this agent.
    #[serde(default)]
    pub first_uses: Vec<FirstUse>,
}

/// Calls by outcome: allowed, held for a human's approval, denied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionTotals {
    pub allow: u64,
    pub approval: u64,
    pub deny: u64,
}

impl DecisionTotals {
    pub fn total(&self) -> u64 {
        self.allow.saturating_add(self.approval).saturating_add(self.deny)
    }
}

/// One tool (`server.tool`) and how often the agent called it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolUse {
    pub tool: String,
    pub calls: u64,
    #[serde(default)]
    pub denied: u64,
}

/// Calls on one UTC day (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayCalls {
    pub day: String,
    #[serde(default)]
    pub allow: u64,
    #[serde(default)]
    pub approval: u64,
    #[serde(default)]
    pub deny: u64,
}

/// A denied call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denial {
    pub index: u64,
    pub time: Timestamp,
    pub tool: String,
    /// The rule or reason that denied it.
    pub reason: String,
}

/// A tool's first use by the agent (`gateway.first_use`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstUse {
    pub index: u64,
    pub time: Timestamp,
    pub tool: String,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// A finding about the agent: a DLP hit, a tool change, a policy violation, a drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    #[serde(rename = "type")]
    pub finding_type: String,
    pub severity: Severity,
    pub summary: String,
    /// The ledger entry that records it.
    pub index: u64,
    #[serde(default)]
    pub time: Option<Timestamp>,
}

/// The outcome of a probe (the in-toto test-result words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeOutcome {
    Passed,
    Warned,
    Failed,
}

impl ProbeOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Warned => "warned",
            Self::Failed => "failed",
        }
    }
}

/// One probe (offensive test) result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeResult {
    pub probe: String,
    pub result: ProbeOutcome,
    #[serde(default)]
    pub summary: String,
    pub index: u64,
    pub time: Timestamp,
}

/// One recertification decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recertification {
    pub index: u64,
    pub time: Timestamp,
    pub reviewer: String,
    /// e.g. `recertified`, `revoked`, `changes_requested`.
    pub decision: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub next_due: Option<Timestamp>,
}

/// How well one control is evidenced: the same status the coverage rule computes.
pub use crate::controls::CoverageStatus;

/// One control of one framework and the evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlCoverage {
    /// Framework name, e.g. `NIST AI RMF 1.0`.
    pub framework: String,
    /// Token id, e.g. `govern-1.6`.
    pub id: String,
    /// Official label, e.g. `GOVERN 1.6`.
    pub official_id: String,
    pub title: String,
    pub status: CoverageStatus,
    pub event_count: u64,
}

/// What the bundle's verifier checks, restated for a reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationFacts {
    /// The checkpoint's origin line (the log's name).
    pub checkpoint_origin: String,
    pub tree_size: u64,
    /// The checkpoint's root hash, base64 as in the checkpoint.
    pub root_hash: String,
    /// The signing key's id (hex SHA-256 of the raw public key, as in the DSSE `keyid`).
    pub key_id: String,
    pub window_from: Timestamp,
    pub window_to: Timestamp,
    /// Number of ledger events the predicate references (with inclusion proofs).
    #[serde(default)]
    pub events_referenced: u64,
    /// Ledger index range the window covers, when it holds events.
    #[serde(default)]
    pub first_index: Option<u64>,
    #[serde(default)]
    pub last_index: Option<u64>,
    /// The previous export's tree size, when a consistency proof from it is included.
    #[serde(default)]
    pub previous_tree_size: Option<u64>,
}
