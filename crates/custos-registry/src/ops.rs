//! The registry's requests and results: the same types are the CLI's arguments (direct mode),
//! the admin API's JSON bodies and its OpenAPI schemas, so the three cannot drift apart.

use std::collections::BTreeSet;

use custos_core::{
    AgentId, Event, EventKind,
    registry::{Agent, Credential, Environment, Label, OwnerId, RiskTier},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Register a new agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    /// Stable slug: lowercase segments of letters, digits, `.`, `_`, `-`, separated by `/`.
    #[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$", max_length = 128, example = "payments/refund-bot")]
    pub id: AgentId,
    /// Display name (default: the id).
    #[serde(default)]
    #[schema(max_length = 128, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub name: Option<String>,
    /// Who is accountable; required before the agent can be approved.
    #[serde(default)]
    pub owner: Option<OwnerId>,
    #[serde(default)]
    pub sponsor: Option<OwnerId>,
    #[serde(default)]
    #[schema(max_length = 2048, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub purpose: String,
    pub environment: Environment,
    #[serde(default = "default_tier")]
    pub risk_tier: RiskTier,
    #[serde(default)]
    #[schema(max_items = 64)]
    pub labels: BTreeSet<Label>,
    /// Days between recertifications (default 90).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub recert_interval_days: Option<u32>,
    /// Discovery findings this agent was matched to.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub provenance: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 2048, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub reason: Option<String>,
}

fn default_tier() -> RiskTier {
    RiskTier::Medium
}

/// Change descriptive fields; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    #[serde(default)]
    #[schema(max_length = 128, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 2048, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub purpose: Option<String>,
    #[serde(default)]
    pub environment: Option<Environment>,
    #[serde(default)]
    pub risk_tier: Option<RiskTier>,
    /// Replace the whole label set.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub labels: Option<BTreeSet<Label>>,
    #[serde(default)]
    #[schema(max_items = 64)]
    pub add_labels: BTreeSet<Label>,
    #[serde(default)]
    #[schema(max_items = 64)]
    pub remove_labels: BTreeSet<Label>,
    #[serde(default)]
    pub sponsor: Option<OwnerId>,
    #[serde(default)]
    pub clear_sponsor: bool,
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub recert_interval_days: Option<u32>,
    #[serde(default)]
    #[schema(max_length = 2048, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub reason: Option<String>,
}

/// Name a new owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOwner {
    pub owner: OwnerId,
    #[serde(default)]
    #[schema(max_length = 2048, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub reason: Option<String>,
}

/// Why: the body of every lifecycle operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    #[serde(default)]
    #[schema(max_length = 2048, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub reason: Option<String>,
}

/// Issue a token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueToken {
    /// Lifetime in seconds (default 90 days, at most ten years).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 315360000)]
    pub ttl_seconds: Option<u64>,
    #[serde(default)]
    #[schema(max_length = 2048, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub reason: Option<String>,
}

/// A new token: shown once, never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuedToken {
    /// `cst_` + 64 hex digits. Store it now: custos keeps only its SHA-256.
    pub token: String,
    pub credential: Credential,
}

/// The ledger entry an operation appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRef {
    pub index: u64,
    #[schema(value_type = String, example = "agent.registered")]
    pub kind: EventKind,
}

impl EventRef {
    pub fn new(index: u64, kind: EventKind) -> Self {
        Self { index, kind }
    }
}

/// The result of an operation and the event that records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Outcome<T> {
    pub value: T,
    pub event: EventRef,
}

/// A page of agents; `next` is the cursor for the following page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentPage {
    pub agents: Vec<Agent>,
    pub next: Option<String>,
}

/// One event of an agent's history, as stored in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryItem {
    pub index: u64,
    /// The event envelope (DESIGN.md §3.3).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
}

impl HistoryItem {
    pub fn new(index: u64, event: Event) -> Self {
        Self { index, event: serde_json::to_value(event).unwrap_or(serde_json::Value::Null) }
    }
}

/// A page of an agent's history; `next` is the index to continue after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryPage {
    pub events: Vec<HistoryItem>,
    pub next: Option<u64>,
}

/// The result of an offboarding: every agent it orphaned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Offboarded {
    pub owner: OwnerId,
    /// The agents it orphaned, in id order.
    pub agents: Vec<String>,
    pub reason: String,
}
