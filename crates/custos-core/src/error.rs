//! The one error type of custos-core: every way a value from outside can fail to become a
//! domain type.

use crate::EventKind;

/// Why a value could not become a domain type. Messages are lowercase and name the input.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("unknown event kind `{0}`; the kinds are: {kinds}", kinds = crate::kind::names())]
    UnknownKind(String),
    #[error("invalid {what} `{value}`: {why}")]
    InvalidId { what: &'static str, value: String, why: &'static str },
    #[error("invalid {what} `{value}`: expected one of {expected}")]
    InvalidValue { what: &'static str, value: String, expected: String },
    #[error("invalid timestamp `{0}`: expected RFC 3339 in UTC, e.g. `2026-11-21T10:00:00.123456Z`")]
    InvalidTimestamp(String),
    #[error("malformed JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("data for `{kind}` is not valid: {why}")]
    InvalidData { kind: EventKind, why: String },
    #[error("entry is {size} bytes, over the {max}-byte limit for one ledger entry")]
    EntryTooLarge { size: usize, max: usize },
    #[error("entry is not in canonical form (RFC 8785)")]
    NotCanonical,
    #[error("unsupported event envelope version {0} (this build reads version 1)")]
    UnsupportedVersion(u32),
    #[error("cannot serialize canonically: {0}")]
    Canonical(String),
}
