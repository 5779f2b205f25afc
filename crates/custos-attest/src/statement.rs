//! in-toto Statement v1 (in-toto/attestation v1.2.0) and the custos agent-evidence predicate.

use std::collections::BTreeMap;

use custos_core::{
    Event, EventKind, Timestamp,
    registry::{Agent, OwnerId, PolicyRef},
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `_type` of every Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type this build writes and verifies.
pub const PREDICATE_TYPE: &str = "https://custos.dev/attestation/agent-evidence/v1";
/// The prefix of every version of the custos agent-evidence predicate.
pub const PREDICATE_TYPE_PREFIX: &str = "https://custos.dev/attestation/agent-evidence/";

/// An in-toto Statement v1 with a typed predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement<P> {
    #[serde(rename = "_type")]
    pub type_: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: P,
}

/// A ResourceDescriptor naming the agent and the digest of its identity record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub digest: BTreeMap<String, String>,
}

/// The agent-evidence predicate (schema: `schema/agent-evidence-v1.schema.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    pub agent: AgentSection,
    pub window: Window,
    #[serde(flatten)]
    pub derived: Derived,
    pub granted_scope: GrantedScope,
    /// Control coverage, filled by the controls module (an empty array when not computed).
    pub controls: Vec<Value>,
    pub evidence: Evidence,
}

/// The identity record as the registry holds it at export time, and its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    pub record: Agent,
    pub owner: Option<Owner>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub id: OwnerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offboarded_at: Option<Timestamp>,
}

/// The ledger range an export covers: indices inclusive at both ends, optionally narrowed to
/// event times (inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub from_index: u64,
    pub to_index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_time: Option<Timestamp>,
}

impl Window {
    /// Whether the event at `index` with time `ts` falls inside.
    pub fn contains(&self, index: u64, ts: Timestamp) -> bool {
        (self.from_index..=self.to_index).contains(&index)
            && self.from_time.is_none_or(|t| ts >= t)
            && self.to_time.is_none_or(|t| ts <= t)
    }
}

/// The parts of the predicate that are a pure function of the evidence events: a verifier
/// derives them again and compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Derived {
    /// `agent.*`, `credential.*`, `owner.offboarded` and `attestation.exported` events.
    pub lifecycle: Vec<EventRef>,
    pub behavior: Behavior,
    /// `discovery.finding`, `tool.finding` and `dlp.hit` events about the agent.
    pub findings: Vec<EventRef>,
    /// `probe.result` events.
    pub probes: Vec<EventRef>,
    /// `recert.reviewed` and `recert.decided` events.
    pub recertifications: Vec<EventRef>,
}

/// The granted scope: the policy on the record now, and `policy.applied` events in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantedScope {
    pub current: Option<PolicyRef>,
    pub applied: Vec<EventRef>,
}

/// One event, summarised: where it is in the ledger, when, what, who, and its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRef {
    pub index: u64,
    pub ts: Timestamp,
    pub kind: EventKind,
    /// `<type>:<id>`, e.g. `user:alice`.
    pub actor: String,
    pub data: Map<String, Value>,
}

impl EventRef {
    fn of(index: u64, e: &Event) -> Self {
        Self {
            index,
            ts: e.ts,
            kind: e.kind,
            actor: format!("{}:{}", e.actor.kind.as_str(), e.actor.id),
            data: e.data.clone(),
        }
    }
}

/// Observed behavior from `gateway.decision` and `gateway.first_use` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Behavior {
    pub calls: u64,
    pub allowed: u64,
    pub denied: u64,
    /// Held for a human approval.
    pub approval: u64,
    /// Per tool, ordered by server then tool.
    pub tools: Vec<ToolUse>,
    pub first_uses: Vec<FirstUse>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolUse {
    pub server: String,
    pub tool: String,
    pub calls: u64,
    pub allowed: u64,
    pub denied: u64,
    pub approval: u64,
    pub first_index: u64,
    pub last_index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstUse {
    pub index: u64,
    pub ts: Timestamp,
    pub server: String,
    pub tool: String,
    pub decision: String,
}

/// The events the predicate relies on, proven against one signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The signed C2SP checkpoint note, verbatim.
    pub checkpoint: String,
    /// Every event of the agent in the window, in index order.
    pub events: Vec<ProvenEntry>,
    /// What the events list claims to be, to compare with the anchor.
    pub range: Range,
    /// The `attestation.exported` entry appended for this export before the checkpoint.
    pub anchor: ProvenEntry,
    /// One multi-leaf inclusion proof of every event and the anchor against the checkpoint
    /// (base64 hashes): the hashes of the maximal subtrees holding none of them, in the order
    /// a left-to-right walk of the RFC 6962 tree meets them. Each entry's own audit path is
    /// recovered from it (`custos_ledger::tree::multiproof_paths`); one path per event would
    /// repeat the upper nodes for every event.
    pub proof: Vec<String>,
    /// The previous export's checkpoint for the same scope and the consistency proof from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
}

/// A ledger entry and where it is; [`Evidence::proof`] proves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenEntry {
    pub index: u64,
    /// The entry: its canonical JSON text, byte for byte as the ledger holds it (its RFC 6962
    /// leaf hash is computed from these bytes).
    pub entry: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub from_index: u64,
    pub to_index: u64,
    pub count: u64,
    /// Lowercase hex SHA-256 over the concatenated 32-byte leaf hashes of the events, in order.
    pub events_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Previous {
    pub checkpoint: String,
    /// Base64 hashes of the consistency proof from the previous tree to this checkpoint's tree.
    pub consistency: Vec<String>,
}

fn str_field<'a>(data: &'a Map<String, Value>, key: &str) -> &'a str {
    data.get(key).and_then(Value::as_str).unwrap_or("unknown")
}

/// Derives the summary sections and the `policy.applied` list from the agent's events.
pub fn derive(events: &[(u64, Event)]) -> (Derived, Vec<EventRef>) {
    let mut d = Deriver::default();
    for (index, e) in events {
        d.add(*index, e);
    }
    d.finish()
}

/// [`derive`], one event at a time: an export of a million events summarises them as it reads
/// them and keeps only the entry bytes.
#[derive(Debug, Default)]
pub struct Deriver {
    d: Derived,
    applied: Vec<EventRef>,
    /// Server, then tool: looked up by `&str`, so a million calls of a few tools allocate
    /// each key once.
    tools: BTreeMap<String, BTreeMap<String, ToolUse>>,
}

impl Deriver {
    pub fn add(&mut self, index: u64, e: &Event) {
        use EventKind as K;
        let d = &mut self.d;
        match e.kind {
            K::AgentDiscovered
            | K::AgentRegistered
            | K::AgentUpdated
            | K::AgentOwnerChanged
            | K::AgentStateChanged
            | K::CredentialIssued
            | K::CredentialRevoked
            | K::OwnerOffboarded
            | K::AttestationExported => d.lifecycle.push(EventRef::of(index, e)),
            K::PolicyApplied => self.applied.push(EventRef::of(index, e)),
            K::DiscoveryFinding | K::ToolFinding | K::DlpHit => d.findings.push(EventRef::of(index, e)),
            K::ProbeResult => d.probes.push(EventRef::of(index, e)),
            K::RecertReviewed | K::RecertDecided => d.recertifications.push(EventRef::of(index, e)),
            K::GatewayDecision => {
                let server = str_field(&e.data, "server");
                let tool = str_field(&e.data, "tool");
                let decision = str_field(&e.data, "decision");
                if !self.tools.get(server).is_some_and(|m| m.contains_key(tool)) {
                    self.tools.entry(server.to_string()).or_default().insert(
                        tool.to_string(),
                        ToolUse {
                            server: server.to_string(),
                            tool: tool.to_string(),
                            calls: 0,
                            allowed: 0,
                            denied: 0,
                            approval: 0,
                            first_index: index,
                            last_index: index,
                        },
                    );
                }
                let Some(t) = self.tools.get_mut(server).and_then(|m| m.get_mut(tool)) else { return };
                t.calls += 1;
                t.last_index = index;
                d.behavior.calls += 1;
                match decision {
                    "allow" => {
                        t.allowed += 1;
                        d.behavior.allowed += 1;
                    }
                    "deny" => {
                        t.denied += 1;
                        d.behavior.denied += 1;
                    }
                    "approval" => {
                        t.approval += 1;
                        d.behavior.approval += 1;
                    }
                    _ => {}
                }
            }
            K::GatewayFirstUse => d.behavior.first_uses.push(FirstUse {
                index,
                ts: e.ts,
                server: str_field(&e.data, "server").to_string(),
                tool: str_field(&e.data, "tool").to_string(),
                decision: str_field(&e.data, "decision").to_string(),
            }),
            _ => {}
        }
    }

    pub fn finish(mut self) -> (Derived, Vec<EventRef>) {
        self.d.behavior.tools = self.tools.into_values().flat_map(BTreeMap::into_values).collect();
        (self.d, self.applied)
    }
}
