//! The gateway's protection events (DESIGN.md §5): tool pinning and quarantine, poisoning
//! findings, DLP hits, first use, and human approval. Each is a typed payload with one
//! canonical serialization; the store folds them into the `tool_pins`, `tool_use` and
//! `approvals` projections, which is all the gateway reads back after a restart.
//!
//! No payload carries a secret or a tool argument in clear: arguments appear as a salted digest
//! and a shape-only preview, DLP hits as the rule and the JSON path.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{EventKind, Payload, Timestamp};

/// `tool.pinned`: a tool seen for the first time (or re-pinned on approval) and the digest of
/// its canonical manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolPinned {
    pub server: String,
    pub tool: String,
    /// `sha256:` of the RFC 8785 manifest (name, title, description, schemas, annotations).
    pub digest: String,
    /// The canonical manifest itself, so a later change can be shown as a diff.
    pub manifest: Value,
}

/// What happened to a tool between two `tools/list` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolChange {
    Changed,
    Added,
    Removed,
}

/// `tool.changed`: a pinned tool's manifest changed, a tool appeared on a server whose tools
/// were already pinned, or one disappeared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolChanged {
    pub server: String,
    pub tool: String,
    pub change: ToolChange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_digest: Option<String>,
    /// A readable diff (`- old` / `+ new` per field).
    pub diff: String,
    /// The new manifest (what approving it would pin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Value>,
}

/// `tool.quarantined`: the tool is hidden from `tools/list` and its calls are denied until a
/// human approves its current manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolQuarantined {
    pub server: String,
    pub tool: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// `tool.approved`: a human accepted the tool's current manifest; it is pinned again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolApproved {
    pub server: String,
    pub tool: String,
    pub digest: String,
    pub manifest: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `tool.finding`: the poisoning scan matched a rule in a tool's description or schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolFinding {
    pub server: String,
    pub tool: String,
    pub rule: String,
    pub severity: String,
    /// Where: `description`, or a JSON pointer into the schema.
    pub path: String,
    /// Byte span in that string.
    pub start: u64,
    pub end: u64,
    /// A short excerpt, invisible characters escaped.
    pub excerpt: String,
    pub digest: String,
    /// Whether the finding quarantined the tool.
    pub quarantined: bool,
}

/// `tool.labeled`: an operator set the labels of a tool (`custos tools label`); they join
/// those from config and annotations in every decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolLabeled {
    pub server: String,
    pub tool: String,
    /// The whole set now (empty: none set by an operator).
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where a DLP hit was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Arguments,
    Result,
}

/// `dlp.hit`: a credential (or canary) in a tool call's arguments or result. The value never
/// enters the event: only the rule and where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlpHit {
    pub server: String,
    pub tool: String,
    pub direction: Direction,
    pub rule: String,
    /// JSON pointer of the string that carried it.
    pub path: String,
    /// `redacted`, `denied` or `recorded`.
    pub action: String,
}

/// `gateway.first_use`: the first call of an agent to a tool it never called before (drift from
/// its observed behaviour).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayFirstUse {
    pub server: String,
    pub tool: String,
    /// What the policy decided for that first call.
    pub decision: String,
}

/// `approval.requested`: a call held for a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequested {
    pub id: String,
    pub server: String,
    pub tool: String,
    pub policies: Vec<String>,
    /// The `@approval` annotation's text (who should decide, or why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub args_digest: String,
    pub args_preview: Value,
    /// When it will be denied if nobody decides.
    pub expires: Timestamp,
    /// The digest of the MCP session the call belongs to (as `gateway.decision` names it), so
    /// an approved call counts in that session's history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// How a held call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalOutcome {
    Approved,
    Denied,
    TimedOut,
    /// The gateway restarted (or the agent was killed) while the call was held.
    Cancelled,
}

impl ApprovalOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
        }
    }
}

/// `approval.decided`: who decided a held call, how and why (the actor is the decider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecided {
    pub id: String,
    pub server: String,
    pub tool: String,
    pub outcome: ApprovalOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Payload for ToolPinned {
    const KIND: EventKind = EventKind::ToolPinned;
}
impl Payload for ToolChanged {
    const KIND: EventKind = EventKind::ToolChanged;
}
impl Payload for ToolQuarantined {
    const KIND: EventKind = EventKind::ToolQuarantined;
}
impl Payload for ToolApproved {
    const KIND: EventKind = EventKind::ToolApproved;
}
impl Payload for ToolFinding {
    const KIND: EventKind = EventKind::ToolFinding;
}
impl Payload for ToolLabeled {
    const KIND: EventKind = EventKind::ToolLabeled;
}
impl Payload for DlpHit {
    const KIND: EventKind = EventKind::DlpHit;
}
impl Payload for GatewayFirstUse {
    const KIND: EventKind = EventKind::GatewayFirstUse;
}
impl Payload for ApprovalRequested {
    const KIND: EventKind = EventKind::ApprovalRequested;
}
impl Payload for ApprovalDecided {
    const KIND: EventKind = EventKind::ApprovalDecided;
}

/// Pin state of a tool, as the `tool_pins` projection holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PinState {
    /// Pinned and unchanged since: callable (policy permitting).
    Pinned,
    /// Changed, added after pinning, or flagged by the poisoning scan: hidden and denied.
    Quarantined,
    /// Gone from its server's list.
    Removed,
}

impl PinState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pinned => "pinned",
            Self::Quarantined => "quarantined",
            Self::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pinned" => Some(Self::Pinned),
            "quarantined" => Some(Self::Quarantined),
            "removed" => Some(Self::Removed),
            _ => None,
        }
    }
}

/// One row of `tool_pins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolPin {
    pub server: String,
    pub tool: String,
    pub state: PinState,
    /// The approved digest (what calls are checked against).
    pub digest: String,
    /// The digest last seen from the server when it differs from the approved one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Ledger index of the entry that last changed the row.
    pub idx: u64,
    #[schema(value_type = String, format = DateTime)]
    pub updated: Timestamp,
    /// The approved manifest (`{}` for a tool never approved).
    pub manifest: Value,
    /// Labels an operator set (`custos tools label`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

/// Whether `s` may be a tool label: 1–32 of `[a-z0-9-]`, starting with a letter or digit.
pub fn valid_label(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

/// One row of `approvals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalRecord {
    pub id: String,
    pub agent: String,
    pub server: String,
    pub tool: String,
    /// `pending`, or the outcome.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub requested: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub expires: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub decided: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Ledger index of `approval.requested`.
    pub idx: u64,
}
