//! custos-core: the domain types every other crate shares.
//!
//! Nothing here does I/O. The crate defines the event envelope and its kinds, the identifiers
//! that are parsed once at the edge, the one canonical serialization (RFC 8785 JSON) that turns
//! an event into the bytes the ledger hashes, and a wrapper for secrets that never prints them.

pub mod canonical;
pub mod discovery;
mod error;
pub mod event;
pub mod id;
pub mod kind;
pub mod manifest;
pub mod protect;
pub mod registry;
pub mod scan;
pub mod secret;

pub use error::CoreError;
pub use event::{Actor, ActorType, AttestationExported, Entry, Event, KeyRotated, MAX_ENTRY_BYTES, Payload, Timestamp};
pub use id::{ActorId, AgentId};
pub use kind::EventKind;
pub use secret::Secret;
