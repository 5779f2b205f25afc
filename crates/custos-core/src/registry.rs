//! The agent registry's domain (DESIGN.md §3.1): agents, owners, the lifecycle state machine,
//! credentials, and the event payloads that change them.
//!
//! Everything the registry knows is a fold over its events: [`Agent::registered`] starts a
//! record from an `agent.registered` event and [`Agent::apply`] folds each later event in. The
//! same fold runs live (in the append's transaction) and in `custos ledger replay`, which is why
//! replay gives byte-identical projections. The *rules* (which operation is legal in which
//! state) live here too, in [`transition`], so the service that appends and any future replica
//! agree on them.

use std::{collections::BTreeSet, fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{AgentId, CoreError, EventKind, Payload, Timestamp, id::display_and_deserialize};

/// Longest free-text field (purpose, reason), in characters.
pub const MAX_TEXT: usize = 2048;
/// Longest display name, in characters.
pub const MAX_NAME: usize = 128;
/// Most labels on one agent.
pub const MAX_LABELS: usize = 64;
/// Default recertification interval.
pub const DEFAULT_RECERT_DAYS: u32 = 90;
/// Longest recertification interval (ten years).
pub const MAX_RECERT_DAYS: u32 = 3650;

/// A person or team accountable for agents: `alice@example.com`, `team:payments`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = r"^\S{1,128}$", example = "alice@example.com")]
pub struct OwnerId(String);

impl OwnerId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OwnerId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let bad = |why| CoreError::InvalidId { what: "owner", value: s.chars().take(128).collect(), why };
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.len() > 128 {
            return Err(bad("it is longer than 128 bytes"));
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("it contains a space or a control character"));
        }
        Ok(Self(s.to_string()))
    }
}

/// A label on an agent: lowercase, e.g. `pci`, `team=payments`, `data:customer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9._:/=-]{0,62}$", example = "pci")]
pub struct Label(String);

impl Label {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Label {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let bad = |why| CoreError::InvalidId { what: "label", value: s.chars().take(64).collect(), why };
        let mut chars = s.chars();
        match chars.next() {
            None => return Err(bad("it is empty")),
            Some(c) if !(c.is_ascii_lowercase() || c.is_ascii_digit()) => {
                return Err(bad("it must start with a lowercase letter or digit"));
            }
            Some(_) => {}
        }
        if s.len() > 63 {
            return Err(bad("it is longer than 63 bytes"));
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._:/=-".contains(c)) {
            return Err(bad("only lowercase letters, digits and `._:/=-` are allowed"));
        }
        Ok(Self(s.to_string()))
    }
}

display_and_deserialize!(OwnerId);
display_and_deserialize!(Label);

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire name (the same as serde's).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, CoreError> {
                match s {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(CoreError::InvalidValue {
                        what: stringify!($name),
                        value: s.chars().take(32).collect(),
                        expected: [$($wire),+].join(", "),
                    }),
                }
            }
        }
    };
}

wire_enum!(
    /// Where an agent runs.
    Environment { Prod => "prod", Staging => "staging", Dev => "dev" }
);

wire_enum!(
    /// How much harm the agent could do; drives review depth.
    RiskTier { Low => "low", Medium => "medium", High => "high", Critical => "critical" }
);

wire_enum!(
    /// Where an agent is in its lifecycle (DESIGN.md §3.1).
    AgentState {
        /// Seen by discovery, not (yet) in the registry: a shadow agent.
        Discovered => "discovered",
        /// In the registry, not yet approved to act.
        Registered => "registered",
        /// Approved; its credentials authenticate.
        Active => "active",
        /// Stopped; its credentials do not authenticate until resumed.
        Suspended => "suspended",
        /// Final: every credential is revoked for good.
        Retired => "retired",
    }
);

wire_enum!(
    /// A lifecycle operation.
    LifecycleOp { Approve => "approve", Suspend => "suspend", Resume => "resume", Retire => "retire" }
);

/// Why a lifecycle operation is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("cannot {op} an agent that is {state}{hint}", hint = hint(*op, *state))]
    WrongState { op: LifecycleOp, state: AgentState },
    #[error("cannot {op} an agent without an owner; set one first (`custos agent update --owner`)")]
    NoOwner { op: LifecycleOp },
    #[error("cannot {op} an orphaned agent (its owner `{owner}` was offboarded); reassign it to a new owner first")]
    Orphaned { op: LifecycleOp, owner: OwnerId },
}

fn hint(op: LifecycleOp, state: AgentState) -> &'static str {
    match (op, state) {
        (_, AgentState::Retired) => " (retirement is final)",
        (LifecycleOp::Approve, AgentState::Active) => " (it is already approved)",
        (LifecycleOp::Approve, AgentState::Suspended) => " (resume it instead)",
        (LifecycleOp::Resume, AgentState::Registered) => " (approve it instead)",
        (LifecycleOp::Resume, AgentState::Active) => " (it is not suspended)",
        (LifecycleOp::Suspend, AgentState::Suspended) => " (it is already suspended)",
        (LifecycleOp::Suspend, AgentState::Registered) => " (it is not active; retire it instead)",
        _ => "",
    }
}

/// The lifecycle state machine: the state `op` leads to from `agent`'s state, or why it may not.
///
/// ```text
/// registered ──approve──► active ◄──resume── suspended
///      │                    └──suspend──────►  │
///      └──────retire────────┴──────retire──────┴──► retired (final)
/// ```
pub fn transition(agent: &Agent, op: LifecycleOp) -> Result<AgentState, TransitionError> {
    use AgentState::*;
    let to = match (op, agent.state) {
        (LifecycleOp::Approve, Registered) => Active,
        (LifecycleOp::Suspend, Active) => Suspended,
        (LifecycleOp::Resume, Suspended) => Active,
        (LifecycleOp::Retire, Registered | Active | Suspended) => Retired,
        (op, state) => return Err(TransitionError::WrongState { op, state }),
    };
    // Activation needs someone accountable who is still here.
    if to == Active {
        let Some(owner) = &agent.owner else { return Err(TransitionError::NoOwner { op }) };
        if agent.orphaned {
            return Err(TransitionError::Orphaned { op, owner: owner.clone() });
        }
    }
    Ok(to)
}

/// A reference to the policy granted to an agent, with the digest of its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyRef {
    pub name: String,
    pub sha256: String,
}

/// An agent as the registry knows it: the projection of its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    #[schema(value_type = String, example = "payments/refund-bot")]
    pub id: AgentId,
    pub name: String,
    pub owner: Option<OwnerId>,
    pub sponsor: Option<OwnerId>,
    pub purpose: String,
    pub environment: Environment,
    pub risk_tier: RiskTier,
    pub labels: BTreeSet<Label>,
    pub state: AgentState,
    /// The owner was offboarded and no one has taken the agent over.
    pub orphaned: bool,
    pub granted_policy: Option<PolicyRef>,
    pub recert_interval_days: u32,
    /// When the agent was last certified (registration, approval or a recertification).
    #[schema(value_type = String, format = DateTime)]
    pub certified_at: Timestamp,
    /// `certified_at` + the interval: after this, the agent is overdue for recertification.
    #[schema(value_type = String, format = DateTime)]
    pub recert_due: Timestamp,
    /// The discovery findings it was matched to.
    pub provenance: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub registered_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// The ledger index of the last event that changed this record.
    pub last_index: u64,
}

impl Agent {
    /// The record an `agent.registered` event creates.
    pub fn registered(id: AgentId, index: u64, ts: Timestamp, p: &AgentRegistered) -> Self {
        Agent {
            id,
            name: p.name.clone(),
            owner: p.owner.clone(),
            sponsor: p.sponsor.clone(),
            purpose: p.purpose.clone(),
            environment: p.environment,
            risk_tier: p.risk_tier,
            labels: p.labels.clone(),
            state: AgentState::Registered,
            orphaned: false,
            granted_policy: None,
            recert_interval_days: p.recert_interval_days,
            certified_at: ts,
            recert_due: add_days(ts, p.recert_interval_days),
            provenance: p.provenance.clone(),
            registered_at: ts,
            updated_at: ts,
            last_index: index,
        }
    }

    /// The record an `agent.discovered` event creates for a shadow agent: no owner, in state
    /// `discovered`, rated high risk and production until someone says otherwise (an agent
    /// nobody approved is assumed to matter), its finding as provenance.
    pub fn discovered(id: AgentId, index: u64, ts: Timestamp, p: &crate::discovery::AgentDiscovered) -> Self {
        Agent {
            id,
            name: p.name.chars().take(128).collect(),
            owner: None,
            sponsor: None,
            purpose: format!("discovered: {} ({}) at {}", p.kind, p.framework, p.location).chars().take(512).collect(),
            environment: Environment::Prod,
            risk_tier: RiskTier::High,
            labels: BTreeSet::new(),
            state: AgentState::Discovered,
            orphaned: false,
            granted_policy: None,
            recert_interval_days: 0,
            certified_at: ts,
            recert_due: ts,
            provenance: vec![p.finding.clone()],
            registered_at: ts,
            updated_at: ts,
            last_index: index,
        }
    }

    /// Whether the agent is past its recertification date at `now` (retired and discovered agents
    /// never are: they were never certified).
    pub fn overdue(&self, now: Timestamp) -> bool {
        !matches!(self.state, AgentState::Retired | AgentState::Discovered) && self.recert_due < now
    }

    /// Folds one later event about this agent in. Events of other kinds leave it unchanged.
    pub fn apply(&mut self, index: u64, ts: Timestamp, change: &AgentChange) {
        match change {
            AgentChange::Updated(u) => {
                let c = &u.changes;
                if let Some(v) = &c.name {
                    self.name = v.to.clone();
                }
                if let Some(v) = &c.purpose {
                    self.purpose = v.to.clone();
                }
                if let Some(v) = &c.environment {
                    self.environment = v.to;
                }
                if let Some(v) = &c.risk_tier {
                    self.risk_tier = v.to;
                }
                if let Some(v) = &c.labels {
                    self.labels = v.to.clone();
                }
                if let Some(v) = &c.sponsor {
                    self.sponsor = v.to.clone();
                }
                if let Some(v) = &c.recert_interval_days {
                    self.recert_interval_days = v.to;
                    self.recert_due = add_days(self.certified_at, v.to);
                }
            }
            AgentChange::OwnerChanged(o) => {
                self.owner = Some(o.to.clone());
                self.orphaned = false;
            }
            AgentChange::StateChanged(s) => {
                self.state = s.to;
                // Approval is the first certification.
                if s.op == LifecycleOp::Approve {
                    self.certified_at = ts;
                    self.recert_due = add_days(ts, self.recert_interval_days);
                }
            }
            AgentChange::Orphaned => self.orphaned = true,
        }
        self.updated_at = ts;
        self.last_index = index;
    }
}

/// A change to an existing agent record, from one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentChange {
    Updated(AgentUpdated),
    OwnerChanged(AgentOwnerChanged),
    StateChanged(AgentStateChanged),
    /// Its owner was offboarded (`owner.offboarded` lists it).
    Orphaned,
}

/// `ts` plus whole days (saturating at the largest timestamp).
pub fn add_days(ts: Timestamp, days: u32) -> Timestamp {
    let span = jiff::SignedDuration::from_hours(i64::from(days) * 24);
    ts.as_jiff().checked_add(span).map(Timestamp::from_jiff).unwrap_or(ts)
}

/// A field's value before and after an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Change<T> {
    pub from: T,
    pub to: T,
}

/// The fields an `agent.updated` event changed; absent fields are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Change<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Change<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Change<Environment>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_tier: Option<Change<RiskTier>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Change<BTreeSet<Label>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsor: Option<Change<Option<OwnerId>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recert_interval_days: Option<Change<u32>>,
}

impl AgentChanges {
    pub fn is_empty(&self) -> bool {
        *self == AgentChanges::default()
    }
}

/// `agent.registered`: a new agent enters the registry (state `registered`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRegistered {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsor: Option<OwnerId>,
    pub purpose: String,
    pub environment: Environment,
    pub risk_tier: RiskTier,
    pub labels: BTreeSet<Label>,
    pub recert_interval_days: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provenance: Vec<String>,
    pub reason: String,
}

/// `agent.updated`: descriptive fields changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentUpdated {
    pub changes: AgentChanges,
    pub reason: String,
}

/// `agent.owner_changed`: someone else is now accountable (this also ends an orphaning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentOwnerChanged {
    pub from: Option<OwnerId>,
    pub to: OwnerId,
    pub reason: String,
}

/// How many ids an event lists at most. An event must stay under the 64 KiB entry limit
/// whatever the registry holds; the full set is always derivable from earlier events (the
/// credentials issued and not yet revoked, the live agents of an owner), so a list is a
/// convenience for readers and the count is the record.
pub const MAX_LISTED: usize = 256;

/// `agent.state_changed`: a lifecycle transition. Retiring revokes every live credential of the
/// agent; the event counts them and lists them when there are at most [`MAX_LISTED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStateChanged {
    pub op: LifecycleOp,
    pub from: AgentState,
    pub to: AgentState,
    pub reason: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revoked_count: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_credentials: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `credential.issued`: a custos token for an agent. Only its SHA-256 is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialIssued {
    pub id: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    pub reason: String,
}

/// `credential.revoked`: one token no longer authenticates, for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRevoked {
    pub id: String,
    pub reason: String,
}

/// `owner.offboarded`: a person left; every agent they owned that is not retired is now
/// orphaned. The projection derives that set from its own state at this entry (so it holds
/// however many agents there are); the event counts them and lists the first [`MAX_LISTED`]
/// in id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerOffboarded {
    pub owner: OwnerId,
    pub orphaned_count: u64,
    /// The first orphaned agents, in id order (all of them when there are few).
    pub agents: Vec<AgentId>,
    pub reason: String,
}

impl Payload for AgentRegistered {
    const KIND: EventKind = EventKind::AgentRegistered;
}
impl Payload for AgentUpdated {
    const KIND: EventKind = EventKind::AgentUpdated;
}
impl Payload for AgentOwnerChanged {
    const KIND: EventKind = EventKind::AgentOwnerChanged;
}
impl Payload for AgentStateChanged {
    const KIND: EventKind = EventKind::AgentStateChanged;
}
impl Payload for CredentialIssued {
    const KIND: EventKind = EventKind::CredentialIssued;
}
impl Payload for CredentialRevoked {
    const KIND: EventKind = EventKind::CredentialRevoked;
}
impl Payload for OwnerOffboarded {
    const KIND: EventKind = EventKind::OwnerOffboarded;
}

/// A custos token as the registry records it (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// `cred_` + 16 hex digits.
    pub id: String,
    #[schema(value_type = String)]
    pub agent: AgentId,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
    /// Operational data, not evidence: the last successful verification, flushed every few
    /// seconds by the service.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    /// The ledger index of its `credential.issued` event.
    pub issued_index: u64,
}

/// An owner and what they are accountable for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerSummary {
    pub owner: OwnerId,
    /// Agents (not retired) this owner is named on.
    pub agents: u64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub offboarded_at: Option<Timestamp>,
    /// Agents still orphaned by their offboarding.
    pub orphaned: u64,
}

/// Which agents a list returns, and which page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentQuery {
    pub state: Option<AgentState>,
    pub owner: Option<OwnerId>,
    pub environment: Option<Environment>,
    /// Only agents whose owner left and that are still registered or active (the ones that
    /// need someone to act), or only the others.
    pub orphaned: Option<bool>,
    /// `(true, now)`: only agents past their recertification date at `now`; `(false, now)`:
    /// only the others.
    pub overdue: Option<(bool, Timestamp)>,
    pub label: Option<Label>,
    /// Ids strictly after this one (keyset pagination).
    pub after: Option<AgentId>,
    pub limit: u32,
}
