//! Registry errors. Each names the field or the record it is about; none carries a token.

use custos_core::{AgentId, CoreError, registry::TransitionError};
use custos_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Input that cannot be right whatever the state: `field: why`.
    #[error("{0}")]
    Invalid(String),
    #[error("agent `{0}` is not registered")]
    UnknownAgent(AgentId),
    #[error("agent `{agent}` has no credential `{credential}`")]
    UnknownCredential { agent: AgentId, credential: String },
    /// The request is well-formed but the current state refuses it (duplicate id, offboarded
    /// owner, already revoked).
    #[error("{0}")]
    Conflict(String),
    /// A lifecycle rule refuses the transition.
    #[error("`{agent}`: {why}")]
    Refused { agent: AgentId, why: TransitionError },
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Store(StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// How a caller should treat an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request is wrong (HTTP 400, CLI exit 3).
    Invalid,
    /// The thing named does not exist (404, exit 3).
    NotFound,
    /// The state refuses it (409, exit 3).
    Conflict,
    /// custos failed (500, exit 1).
    Internal,
}

impl RegistryError {
    pub fn class(&self) -> ErrorClass {
        match self {
            RegistryError::Invalid(_) => ErrorClass::Invalid,
            RegistryError::UnknownAgent(_) | RegistryError::UnknownCredential { .. } => ErrorClass::NotFound,
            RegistryError::Conflict(_) | RegistryError::Refused { .. } => ErrorClass::Conflict,
            // Event data the core refuses came from the request.
            RegistryError::Core(_) => ErrorClass::Invalid,
            RegistryError::Store(StoreError::Event(_)) => ErrorClass::Invalid,
            RegistryError::Store(_) | RegistryError::Internal(_) => ErrorClass::Internal,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::Invalid(_) | RegistryError::Core(_) => "invalid",
            RegistryError::UnknownAgent(_) => "unknown_agent",
            RegistryError::UnknownCredential { .. } => "unknown_credential",
            RegistryError::Conflict(_) => "conflict",
            RegistryError::Refused { .. } => "illegal_transition",
            RegistryError::Store(StoreError::Event(_)) => "invalid",
            RegistryError::Store(_) | RegistryError::Internal(_) => "internal",
        }
    }
}
