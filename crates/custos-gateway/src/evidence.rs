//! The gateway's events. Arguments never enter the ledger in clear: an entry carries their
//! salted SHA-256 and a preview that shows only their shape (names, types, sizes).

use std::time::Duration;

use custos_core::{Actor, ActorId, AgentId, CoreError, Event, EventKind, canonical};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// One `gateway.decision`.
pub(crate) struct Decision<'a> {
    pub agent: &'a AgentId,
    pub credential: &'a str,
    pub session: Option<&'a str>,
    pub server: &'a str,
    pub tool: &'a str,
    /// `allow`, `approval` or `deny`.
    pub outcome: &'a str,
    /// False in shadow mode: decided and recorded, not blocked.
    pub enforced: bool,
    pub policies: &'a [String],
    pub note: Option<&'a str>,
    pub arguments: &'a Value,
    pub salt: &'a [u8; 32],
    pub decide_us: u64,
}

impl Decision<'_> {
    pub fn event(&self) -> Result<Event, CoreError> {
        let mut data = json!({
            "server": self.server,
            "tool": self.tool,
            "decision": self.outcome,
            "enforced": self.enforced,
            "policies": self.policies,
            "credential": self.credential,
            "args_digest": args_digest(self.salt, self.arguments),
            "args_preview": preview(self.arguments),
            "decide_us": self.decide_us,
        });
        if let Some(o) = data.as_object_mut() {
            if let Some(s) = self.session {
                // The session id is sealed state; its digest identifies it without revealing it.
                o.insert("session".into(), json!(session_digest(s)));
            }
            if let Some(n) = self.note {
                o.insert("note".into(), json!(n));
            }
        }
        Event::from_parts(EventKind::GatewayDecision, agent_actor(self.agent), Some(self.agent.clone()), data)
    }
}

pub(crate) fn agent_actor(agent: &AgentId) -> Actor {
    match agent.as_str().parse::<ActorId>() {
        Ok(id) => Actor { kind: custos_core::ActorType::Agent, id },
        Err(_) => Actor::system(),
    }
}

/// `sha256:` of the salt and the canonical JSON of the arguments: equal arguments give equal
/// digests within one installation, and a digest cannot be brute-forced without the salt.
pub(crate) fn args_digest(salt: &[u8; 32], args: &Value) -> String {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(canonical::to_vec(args).unwrap_or_default());
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The shape of the arguments: each key with its type and size, never a value.
pub(crate) fn preview(args: &Value) -> Value {
    fn shape(v: &Value) -> String {
        match v {
            Value::Null => "null".into(),
            Value::Bool(_) => "boolean".into(),
            Value::Number(_) => "number".into(),
            Value::String(s) => format!("string({})", s.chars().count()),
            Value::Array(a) => format!("array({})", a.len()),
            Value::Object(o) => format!("object({})", o.len()),
        }
    }
    match args {
        Value::Object(o) => Value::Object(
            o.iter().take(32).map(|(k, v)| (k.chars().take(64).collect(), json!(shape(v)))).collect::<Map<_, _>>(),
        ),
        other => json!(shape(other)),
    }
}

pub(crate) fn auth_failed(
    reason: &str,
    agent: Option<AgentId>,
    credential: Option<String>,
    skipped: u64,
) -> Result<Event, CoreError> {
    let mut data = json!({"reason": reason});
    if let Some(o) = data.as_object_mut() {
        if let Some(c) = credential {
            o.insert("credential".into(), json!(c));
        }
        if skipped > 0 {
            // Failures not recorded one by one (over the per-second budget) since the last one.
            o.insert("unrecorded_before".into(), json!(skipped));
        }
    }
    Event::from_parts(EventKind::GatewayAuthFailed, Actor::system(), agent, data)
}

pub(crate) fn upstream_error(
    agent: &AgentId,
    server: &str,
    tool: &str,
    status: &str,
    message: &str,
    took: Duration,
) -> Result<Event, CoreError> {
    let data = json!({
        "server": server, "tool": tool, "status": status,
        "message": message.chars().take(500).collect::<String>(),
        "latency_us": took.as_micros() as u64,
    });
    Event::from_parts(EventKind::GatewayUpstreamError, Actor::system(), Some(agent.clone()), data)
}

/// How evidence names an MCP session: `sha256:` and the first 12 bytes of the digest of its id.
pub(crate) fn session_digest(session: &str) -> String {
    let digest = Sha256::digest(session.as_bytes());
    format!("sha256:{}", hex::encode(digest.get(..12).unwrap_or_default()))
}
