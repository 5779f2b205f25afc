//! Event kinds: every kind of DESIGN.md §3.3. Kinds are extended, never renamed, because old
//! entries name them forever.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::CoreError;

macro_rules! kinds {
    ($($variant:ident => $name:literal,)*) => {
        /// The kind of an event, written as `noun.verb` in the envelope's `kind` field.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind { $($variant,)* }

        impl EventKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            /// The wire name, e.g. `gateway.decision`.
            pub fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name,)* }
            }
        }

        impl FromStr for EventKind {
            type Err = CoreError;
            fn from_str(s: &str) -> Result<Self, CoreError> {
                match s {
                    $($name => Ok(EventKind::$variant),)*
                    other => Err(CoreError::UnknownKind(other.to_string())),
                }
            }
        }
    };
}

kinds! {
    AgentDiscovered => "agent.discovered",
    AgentRegistered => "agent.registered",
    AgentUpdated => "agent.updated",
    AgentOwnerChanged => "agent.owner_changed",
    AgentStateChanged => "agent.state_changed",
    CredentialIssued => "credential.issued",
    CredentialRevoked => "credential.revoked",
    OwnerOffboarded => "owner.offboarded",
    GatewayDecision => "gateway.decision",
    GatewayAuthFailed => "gateway.auth_failed",
    GatewayFirstUse => "gateway.first_use",
    ToolPinned => "tool.pinned",
    ToolChanged => "tool.changed",
    ToolQuarantined => "tool.quarantined",
    ToolApproved => "tool.approved",
    DlpHit => "dlp.hit",
    LlmCall => "llm.call",
    DiscoveryRun => "discovery.run",
    DiscoveryFinding => "discovery.finding",
    ProbeRun => "probe.run",
    ProbeResult => "probe.result",
    PolicyProposed => "policy.proposed",
    PolicyApplied => "policy.applied",
    RecertReviewed => "recert.reviewed",
    RecertDecided => "recert.decided",
    ApprovalRequested => "approval.requested",
    ApprovalDecided => "approval.decided",
    AttestationExported => "attestation.exported",
    KeyRotated => "key.rotated",
    // Added after DESIGN.md §3.3 (extended, never renamed):
    GatewayUpstreamError => "gateway.upstream_error",
    ToolFinding => "tool.finding",
    ToolLabeled => "tool.labeled",
}

/// Every kind's wire name, comma-separated (for messages and help).
pub fn names() -> String {
    EventKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn every_kind_round_trips_through_its_name() {
        assert_eq!(EventKind::ALL.len(), 32);
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>().ok(), Some(*k));
        }
        assert!("agent.exploded".parse::<EventKind>().is_err());
    }
}
