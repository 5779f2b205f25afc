//! Identifiers, parsed once at the edge ("parse, don't validate").
//!
//! An [`AgentId`] is a stable slug such as `payments/refund-bot`: lowercase ASCII segments of
//! letters, digits, `.`, `_` and `-`, separated by single `/`. An [`ActorId`] names whoever
//! caused an event (a person, an agent, the system) and is freer, but still has no control
//! characters or spaces, so it prints safely in a table or a log line.

use std::str::FromStr;

use serde::Serialize;

use crate::CoreError;

const MAX_ID_LEN: usize = 128;

/// A registered or discovered agent's stable identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct AgentId(String);

impl AgentId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AgentId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let bad = |why| CoreError::InvalidId { what: "agent id", value: s.chars().take(MAX_ID_LEN).collect(), why };
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.len() > MAX_ID_LEN {
            return Err(bad("it is longer than 128 bytes"));
        }
        for segment in s.split('/') {
            let mut chars = segment.chars();
            match chars.next() {
                None => return Err(bad("it has an empty segment (`//`, or `/` at an end)")),
                Some(c) if !(c.is_ascii_lowercase() || c.is_ascii_digit()) => {
                    return Err(bad("each segment must start with a lowercase letter or digit"));
                }
                Some(_) => {}
            }
            if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)) {
                return Err(bad("only lowercase letters, digits, `.`, `_`, `-` and `/` are allowed"));
            }
        }
        Ok(Self(s.to_string()))
    }
}

/// Whoever caused an event: a user name, an agent id, `system`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ActorId(String);

impl ActorId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The actor for what custos does on its own (checkpoints, timeouts, schedules).
    pub fn system() -> Self {
        Self("custos".to_string())
    }

    /// The actor for a request made with the admin token that names no one.
    pub fn admin() -> Self {
        Self("admin".to_string())
    }
}

impl FromStr for ActorId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let bad = |why| CoreError::InvalidId { what: "actor id", value: s.chars().take(MAX_ID_LEN).collect(), why };
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.len() > MAX_ID_LEN {
            return Err(bad("it is longer than 128 bytes"));
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("it contains a space or a control character"));
        }
        Ok(Self(s.to_string()))
    }
}

/// `Display` as the inner string, and `Deserialize` through `FromStr`, so a value from outside
/// is parsed exactly as on the command line.
macro_rules! display_and_deserialize {
    ($t:ty) => {
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use display_and_deserialize;

display_and_deserialize!(AgentId);
display_and_deserialize!(ActorId);

#[cfg(test)]
mod tests {
    use super::{ActorId, AgentId};

    #[test]
    fn agent_ids_are_slugs() {
        for ok in ["payments/refund-bot", "a", "team.x/bot_1/v2"] {
            assert!(ok.parse::<AgentId>().is_ok(), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", "Payments/bot", "a b", "-a", "a/ü"] {
            assert!(bad.parse::<AgentId>().is_err(), "{bad:?}");
        }
        assert!("x".repeat(129).parse::<AgentId>().is_err());
    }

    #[test]
    fn actor_ids_reject_spaces_and_controls() {
        assert!("alice@example.com".parse::<ActorId>().is_ok());
        assert!("alice smith".parse::<ActorId>().is_err());
        assert!("a\nb".parse::<ActorId>().is_err());
        assert!("".parse::<ActorId>().is_err());
    }
}
