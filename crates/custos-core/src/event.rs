//! The event envelope (DESIGN.md §3.3) and the ledger entry it becomes.
//!
//! An [`Event`] is built from typed parts and turned into an [`Entry`] (its RFC 8785 bytes)
//! exactly once, by [`Entry::from_event`]. Reading goes the other way through [`Entry::parse`],
//! which refuses anything that is not byte-for-byte what custos itself would have written, so
//! two parties that hold the same event always hold the same leaf.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::{ActorId, AgentId, CoreError, EventKind, canonical, registry as reg};

/// Largest ledger entry, in bytes of canonical JSON. Larger payloads are stored by digest; the
/// limit also matches the 16-bit length prefix of C2SP tlog-tiles entry bundles.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;

/// The envelope version this build writes and reads.
pub const ENVELOPE_VERSION: u32 = 1;

/// One event: what happened, when, who did it, to which agent, and kind-specific data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub v: u32,
    pub kind: EventKind,
    pub ts: Timestamp,
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentId>,
    pub data: Map<String, Value>,
}

/// A typed payload for one event kind.
pub trait Payload: Serialize + DeserializeOwned {
    const KIND: EventKind;
}

impl Event {
    /// An event of `P::KIND` carrying `payload`, stamped now.
    pub fn new<P: Payload>(actor: Actor, agent: Option<AgentId>, payload: &P) -> Result<Self, CoreError> {
        let data = match serde_json::to_value(payload)? {
            Value::Object(map) => map,
            _ => {
                return Err(CoreError::InvalidData {
                    kind: P::KIND,
                    why: "payload must serialize to a JSON object".into(),
                });
            }
        };
        Ok(Self { v: ENVELOPE_VERSION, kind: P::KIND, ts: Timestamp::now(), actor, agent, data })
    }

    /// An event from an operator-supplied kind and JSON data, stamped now. Kinds that have a
    /// payload type are checked against it; the others accept any JSON object.
    pub fn from_parts(kind: EventKind, actor: Actor, agent: Option<AgentId>, data: Value) -> Result<Self, CoreError> {
        validate_data(kind, &data)?;
        let Value::Object(data) = data else {
            return Err(CoreError::InvalidData { kind, why: "data must be a JSON object".into() });
        };
        Ok(Self { v: ENVELOPE_VERSION, kind, ts: Timestamp::now(), actor, agent, data })
    }

    /// The typed payload, if this event is of `P::KIND`.
    pub fn payload<P: Payload>(&self) -> Result<P, CoreError> {
        if self.kind != P::KIND {
            return Err(CoreError::InvalidData { kind: self.kind, why: format!("expected a `{}` event", P::KIND) });
        }
        Ok(serde_json::from_value(Value::Object(self.data.clone()))?)
    }
}

/// Checks `data` against the payload type of `kind`, where one is declared.
pub fn validate_data(kind: EventKind, data: &Value) -> Result<(), CoreError> {
    let Value::Object(map) = data else {
        return Err(CoreError::InvalidData { kind, why: "data must be a JSON object".into() });
    };
    validate_map(kind, map)
}

fn validate_map(kind: EventKind, data: &Map<String, Value>) -> Result<(), CoreError> {
    let check = |r: Result<(), serde_json::Error>| r.map_err(|e| CoreError::InvalidData { kind, why: e.to_string() });
    // Only kinds with a payload type pay for the check (and its copy).
    match kind {
        EventKind::KeyRotated => typed::<KeyRotated>(data, check),
        EventKind::AttestationExported => typed::<AttestationExported>(data, check),
        EventKind::AgentRegistered => typed::<reg::AgentRegistered>(data, check),
        EventKind::AgentUpdated => typed::<reg::AgentUpdated>(data, check),
        EventKind::AgentOwnerChanged => typed::<reg::AgentOwnerChanged>(data, check),
        EventKind::AgentStateChanged => typed::<reg::AgentStateChanged>(data, check),
        EventKind::CredentialIssued => typed::<reg::CredentialIssued>(data, check),
        EventKind::CredentialRevoked => typed::<reg::CredentialRevoked>(data, check),
        EventKind::OwnerOffboarded => typed::<reg::OwnerOffboarded>(data, check),
        EventKind::ToolPinned => typed::<crate::protect::ToolPinned>(data, check),
        EventKind::ToolChanged => typed::<crate::protect::ToolChanged>(data, check),
        EventKind::ToolQuarantined => typed::<crate::protect::ToolQuarantined>(data, check),
        EventKind::ToolApproved => typed::<crate::protect::ToolApproved>(data, check),
        EventKind::ToolFinding => typed::<crate::protect::ToolFinding>(data, check),
        EventKind::ToolLabeled => typed::<crate::protect::ToolLabeled>(data, check),
        EventKind::DlpHit => typed::<crate::protect::DlpHit>(data, check),
        EventKind::GatewayFirstUse => typed::<crate::protect::GatewayFirstUse>(data, check),
        EventKind::ApprovalRequested => typed::<crate::protect::ApprovalRequested>(data, check),
        EventKind::ApprovalDecided => typed::<crate::protect::ApprovalDecided>(data, check),
        EventKind::DiscoveryRun => typed::<crate::discovery::DiscoveryRun>(data, check),
        EventKind::DiscoveryFinding => typed::<crate::discovery::DiscoveryFinding>(data, check),
        EventKind::AgentDiscovered => typed::<crate::discovery::AgentDiscovered>(data, check),
        _ => Ok(()),
    }
}

fn typed<P: Payload>(
    data: &Map<String, Value>,
    check: impl Fn(Result<(), serde_json::Error>) -> Result<(), CoreError>,
) -> Result<(), CoreError> {
    check(P::deserialize(Value::Object(data.clone())).map(drop))
}

/// The canonical bytes of one event: what the ledger stores and hashes.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry(Vec<u8>);

impl Entry {
    /// Serializes `event` canonically and checks the size limit.
    pub fn from_event(event: &Event) -> Result<Self, CoreError> {
        if event.v != ENVELOPE_VERSION {
            return Err(CoreError::UnsupportedVersion(event.v));
        }
        validate_map(event.kind, &event.data)?;
        let bytes = write_event(event)?;
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(CoreError::EntryTooLarge { size: bytes.len(), max: MAX_ENTRY_BYTES });
        }
        Ok(Self(bytes))
    }

    /// Parses stored or received bytes, refusing anything custos would not have written.
    pub fn parse(bytes: &[u8]) -> Result<Event, CoreError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(CoreError::EntryTooLarge { size: bytes.len(), max: MAX_ENTRY_BYTES });
        }
        let event: Event = serde_json::from_slice(bytes)?;
        if event.v != ENVELOPE_VERSION {
            return Err(CoreError::UnsupportedVersion(event.v));
        }
        if write_event(&event)? != bytes {
            return Err(CoreError::NotCanonical);
        }
        validate_map(event.kind, &event.data)?;
        Ok(event)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The JCS form of an event, written directly: the envelope's member names are fixed ASCII, so
/// their canonical order is fixed too (`actor`, `agent`, `data`, `kind`, `ts`, `v`; inside
/// `actor`: `id`, `type`). Tested byte-identical to the generic canonicalizer.
fn write_event(event: &Event) -> Result<Vec<u8>, CoreError> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"actor\":{\"id\":");
    canonical::write_str(event.actor.id.as_str(), &mut out);
    out.extend_from_slice(b",\"type\":");
    canonical::write_str(event.actor.kind.as_str(), &mut out);
    out.push(b'}');
    if let Some(agent) = &event.agent {
        out.extend_from_slice(b",\"agent\":");
        canonical::write_str(agent.as_str(), &mut out);
    }
    out.extend_from_slice(b",\"data\":");
    canonical::write_object_exact(&event.data, &mut out)?;
    out.extend_from_slice(b",\"kind\":");
    canonical::write_str(event.kind.as_str(), &mut out);
    out.extend_from_slice(b",\"ts\":");
    canonical::write_str(&event.ts.to_string(), &mut out);
    out.extend_from_slice(b",\"v\":");
    out.extend_from_slice(event.v.to_string().as_bytes());
    out.push(b'}');
    Ok(out)
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Entry({})", String::from_utf8_lossy(&self.0))
    }
}

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorType,
    pub id: ActorId,
}

impl Actor {
    pub fn user(id: ActorId) -> Self {
        Self { kind: ActorType::User, id }
    }

    pub fn system() -> Self {
        Self { kind: ActorType::System, id: ActorId::system() }
    }
}

/// The kind of actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorType {
    /// A person: an operator, an owner, an approver.
    User,
    /// An agent acting on its own credential.
    Agent,
    /// custos itself.
    System,
}

impl ActorType {
    /// The wire name (the same as serde's).
    pub fn as_str(self) -> &'static str {
        match self {
            ActorType::User => "user",
            ActorType::Agent => "agent",
            ActorType::System => "system",
        }
    }
}

/// A UTC instant, written with microsecond precision: `2026-11-21T10:00:00.123456Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(jiff::Timestamp);

impl Timestamp {
    pub fn now() -> Self {
        let now = jiff::Timestamp::now();
        // Truncate to the precision we write, so the value equals what parsing gives back.
        let micros = now.as_microsecond();
        Self(jiff::Timestamp::from_microsecond(micros).unwrap_or(now))
    }

    pub fn as_jiff(&self) -> jiff::Timestamp {
        self.0
    }

    /// From a jiff timestamp, truncated to microseconds (what we write).
    pub fn from_jiff(ts: jiff::Timestamp) -> Self {
        Self(jiff::Timestamp::from_microsecond(ts.as_microsecond()).unwrap_or(ts))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dt = self.0.to_zoned(jiff::tz::TimeZone::UTC).datetime();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.subsec_nanosecond() / 1000
        )
    }
}

impl FromStr for Timestamp {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let bad = || CoreError::InvalidTimestamp(s.chars().take(64).collect());
        let ts: jiff::Timestamp = s.parse().map_err(|_| bad())?;
        let year = ts.to_zoned(jiff::tz::TimeZone::UTC).year();
        if !(0..=9999).contains(&year) {
            return Err(bad());
        }
        let micros = jiff::Timestamp::from_microsecond(ts.as_microsecond()).map_err(|_| bad())?;
        Ok(Self(micros))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `key.rotated`: the instance's signing key changed. The first entry of every ledger is one,
/// with no previous key, so the ledger itself states which key signs its checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotated {
    /// The new C2SP verifier key (`name+hex8+base64`).
    pub verifier_key: String,
    /// The verifier key it replaces, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    pub reason: String,
}

impl Payload for KeyRotated {
    const KIND: EventKind = EventKind::KeyRotated;
}

/// `attestation.exported`: an evidence bundle for one agent was exported. Appended *before*
/// the bundle's checkpoint is signed, so the ledger itself commits to how many of the agent's
/// events the bundle carries and to their leaf hashes: a verifier compares the bundle's event
/// list with this entry (proven in the bundle) and notices any event left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestationExported {
    /// The predicate type of the statement (its version included).
    pub predicate_type: String,
    /// The ledger indices the export covers, both inclusive.
    pub from_index: u64,
    pub to_index: u64,
    /// Optional time bounds (inclusive) within those indices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_time: Option<Timestamp>,
    /// How many of the agent's events the bundle carries.
    pub count: u64,
    /// Lowercase hex SHA-256 over the concatenated leaf hashes of those events, in index order.
    pub events_sha256: String,
    /// The tree size of the previous export's checkpoint for the same scope, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_size: Option<u64>,
}

impl Payload for AttestationExported {
    const KIND: EventKind = EventKind::AttestationExported;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor::user("alice".parse().unwrap_or_else(|_| ActorId::system()))
    }

    #[test]
    fn system_actor_is_valid() {
        assert_eq!(ActorId::system().as_str(), "custos");
        // Built without parsing, so check the literal obeys the rules parsing enforces.
        assert_eq!("custos".parse::<ActorId>().ok(), Some(ActorId::system()));
    }

    #[test]
    fn entry_round_trips_and_is_canonical() -> Result<(), CoreError> {
        let ev = Event::from_parts(
            EventKind::GatewayDecision,
            actor(),
            Some("payments/refund-bot".parse()?),
            serde_json::json!({"z": 1, "a": [true, null, 1.5e300], "é": "\u{2028}"}),
        )?;
        let entry = Entry::from_event(&ev)?;
        let text = String::from_utf8_lossy(entry.as_bytes()).to_string();
        assert!(text.starts_with(r#"{"actor":{"id":"alice","type":"user"},"agent":"payments/refund-bot","data":{"a":[true,null,1.5e+300]"#), "{text}");
        assert_eq!(Entry::parse(entry.as_bytes())?, ev);
        Ok(())
    }

    #[test]
    fn the_direct_event_writer_matches_the_generic_canonicalizer() -> Result<(), CoreError> {
        for (i, kind) in EventKind::ALL.iter().enumerate() {
            let data = serde_json::json!({
                "z": i, "a\u{10000}": "x", "\u{e000}": [1.5, -0.0, null], "q\"\\\n": {"b": 1, "a": 2},
                "ctl": "\u{1}\u{1f}\u{7f}\u{2028}", "big": 1e300, "neg": -17
            });
            let agent = if i % 2 == 0 { Some("payments/refund-bot".parse()?) } else { None };
            let actor = if i % 3 == 0 { Actor::system() } else { actor() };
            let serde_json::Value::Object(data) = data else { unreachable!() };
            // Built directly: this test is about bytes, not about payload validation.
            let ev = Event { v: ENVELOPE_VERSION, kind: *kind, ts: Timestamp::now(), actor, agent, data };
            assert_eq!(write_event(&ev)?, canonical::to_vec(&ev)?, "{kind}");
        }
        Ok(())
    }

    #[test]
    fn parse_refuses_non_canonical_and_unknown() {
        let good = r#"{"actor":{"id":"alice","type":"user"},"data":{},"kind":"policy.proposed","ts":"2026-11-21T10:00:00.123456Z","v":1}"#;
        assert!(Entry::parse(good.as_bytes()).is_ok());
        let spaced = good.replace(",\"data\"", ", \"data\"");
        assert!(matches!(Entry::parse(spaced.as_bytes()), Err(CoreError::NotCanonical)));
        let short_ts = good.replace(".123456Z", "Z");
        assert!(matches!(Entry::parse(short_ts.as_bytes()), Err(CoreError::NotCanonical)));
        let unknown = good.replace("policy.proposed", "tool.exploded");
        assert!(Entry::parse(unknown.as_bytes()).is_err());
        let extra = good.replace("\"v\":1", "\"v\":1,\"x\":2");
        assert!(Entry::parse(extra.as_bytes()).is_err());
        let v2 = good.replace("\"v\":1", "\"v\":2");
        assert!(matches!(Entry::parse(v2.as_bytes()), Err(CoreError::UnsupportedVersion(2))));
    }

    #[test]
    fn oversized_entries_are_refused() -> Result<(), CoreError> {
        let big = "x".repeat(MAX_ENTRY_BYTES);
        let ev = Event::from_parts(EventKind::LlmCall, actor(), None, serde_json::json!({ "p": big }))?;
        assert!(matches!(Entry::from_event(&ev), Err(CoreError::EntryTooLarge { .. })));
        Ok(())
    }

    #[test]
    fn typed_payloads_are_checked() -> Result<(), CoreError> {
        let bad = serde_json::json!({"verifier_key": 3, "reason": "x"});
        assert!(Event::from_parts(EventKind::KeyRotated, actor(), None, bad).is_err());
        let extra = serde_json::json!({"verifier_key": "k", "reason": "x", "oops": 1});
        assert!(Event::from_parts(EventKind::KeyRotated, actor(), None, extra).is_err());
        assert!(Event::from_parts(EventKind::LlmCall, actor(), None, serde_json::json!([1])).is_err());
        let p = KeyRotated { verifier_key: "k".into(), previous: None, reason: "initial key".into() };
        let ev = Event::new(Actor::system(), None, &p)?;
        assert_eq!(ev.payload::<KeyRotated>()?, p);
        Ok(())
    }

    #[test]
    fn timestamps_print_microseconds_in_utc() -> Result<(), CoreError> {
        let ts: Timestamp = "2026-11-21T11:00:00.1234567+01:00".parse()?;
        assert_eq!(ts.to_string(), "2026-11-21T10:00:00.123456Z");
        assert!("yesterday".parse::<Timestamp>().is_err());
        let now = Timestamp::now();
        assert_eq!(now.to_string().parse::<Timestamp>()?, now);
        Ok(())
    }
}
