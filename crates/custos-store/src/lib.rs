//! custos-store: where the ledger lives.
//!
//! The [`Store`] trait is what every caller sees: append an event and get back its index and
//! inclusion proof once it is durable; ask for checkpoints and proofs; verify; rebuild the
//! projections. [`sqlite::SqliteStore`] is the embedded backend (bundled SQLite in WAL mode,
//! group commit on a dedicated writer thread). A PostgreSQL backend implements the same trait.
//!
//! Projections ([`projection`]) are the tables the rest of custos reads. They are updated in
//! the same transaction as the append that feeds them and can be rebuilt from the entries
//! alone, so the ledger stays the only source of truth.

mod error;
pub mod projection;
pub mod protect;
pub mod registry;
pub mod sqlite;
mod verify;

use std::{future::Future, pin::Pin, sync::Arc};

use async_trait::async_trait;
use custos_core::{
    AgentId, Event, Timestamp,
    registry::{Agent, AgentQuery, Credential, OwnerId, OwnerSummary},
};
use custos_ledger::{Hash, NoteVerifier, ProofFile, SignedCheckpoint};

pub use error::StoreError;
pub use verify::{Location, VerifyFailure, VerifyReport};

/// What an append returns once its entry is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's index (0-based).
    pub index: u64,
    /// The entry's RFC 6962 leaf hash.
    pub leaf_hash: Hash,
    /// The tree head the entry was committed under: the size and root after its batch. This is
    /// the checkpoint body that covers the entry; a *signed* checkpoint covering it follows
    /// within the checkpoint interval ([`Store::wait_checkpoint`]).
    pub tree_size: u64,
    pub root: Hash,
    /// The inclusion proof of the entry in the tree of `tree_size` entries.
    pub inclusion: Vec<Hash>,
}

/// An append that is queued and will resolve to its receipt once durable.
pub type PendingAppend = Pin<Box<dyn Future<Output = Result<Receipt, StoreError>> + Send>>;

/// Resolves to an entry's index once it is written (not yet synced).
pub type WrittenAppend = Pin<Box<dyn Future<Output = Result<u64, StoreError>> + Send>>;

/// Resolves to an entry's index once it is durable.
pub type DurableIndex = Pin<Box<dyn Future<Output = Result<u64, StoreError>> + Send>>;

/// An append awaited in its two steps (see [`Store::submit_staged`]).
pub struct Staged {
    /// Resolves once the entry is written to the log, in order, before the sync. An error here
    /// means the ledger could not take the entry (disk full, read-only, closed).
    pub written: WrittenAppend,
    /// Resolves once the entry is durable. Await it before acknowledging anything that
    /// depends on the entry.
    pub durable: DurableIndex,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Staged { .. }")
    }
}

/// Progress of long work: `(done, total)`.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Progress that reports nothing.
pub fn no_progress() -> Progress {
    Arc::new(|_, _| {})
}

/// What a projection rebuild did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub entries: u64,
    /// [`Store::projections_digest`] before and after the rebuild.
    pub digest_before: String,
    pub digest_after: String,
}

/// The ledger store. Every method is safe to call concurrently.
#[async_trait]
pub trait Store: Send + Sync {
    /// Queues one event now, in call order, and returns a future that resolves once the entry
    /// is durable (its batch committed and synced), with the proof that it is in the tree.
    /// Entries are indexed in the order `submit` was called; concurrent submissions share one
    /// transaction.
    fn submit(&self, event: Event) -> PendingAppend;

    /// Like [`Store::submit`], in two steps: the caller learns that the entry is written (its
    /// index fixed, the disk having accepted it) before the slow sync finishes, so it can
    /// overlap the sync with other work and still hold its answer until the entry is durable.
    /// The gateway forwards an allowed call once its decision is written and replies once it
    /// is durable. No proof is built.
    fn submit_staged(&self, event: Event) -> Staged;

    /// Appends one event and waits until it is durable: `submit(event).await`.
    async fn append(&self, event: Event) -> Result<Receipt, StoreError> {
        self.submit(event).await
    }

    /// Signs a checkpoint of the current tree now (or returns the latest one if nothing was
    /// appended since).
    async fn checkpoint(&self) -> Result<SignedCheckpoint, StoreError>;

    /// Waits for a signed checkpoint that covers entry `index`.
    async fn wait_checkpoint(&self, index: u64) -> Result<SignedCheckpoint, StoreError>;

    /// The latest signed checkpoint, if any.
    async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError>;

    /// The signed checkpoint of exactly `size` entries, if one was signed.
    async fn checkpoint_at(&self, size: u64) -> Result<Option<SignedCheckpoint>, StoreError>;

    /// All signed checkpoints, oldest first.
    async fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, StoreError>;

    /// How many entries the ledger holds.
    async fn size(&self) -> Result<u64, StoreError>;

    /// The entries `from..to` (at most `to - from`, fewer at the end), as stored.
    async fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, StoreError>;

    /// The root of the tree of the first `size` entries.
    async fn tree_hash(&self, size: u64) -> Result<Hash, StoreError>;

    /// The inclusion proof of entry `index` in the tree of `size` entries.
    async fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, StoreError>;

    /// One multi-leaf inclusion proof ([`custos_ledger::tree::multiproof`]) for the entries at
    /// `indices` (strictly ascending) in the tree of `size` entries: what an export of many
    /// events carries instead of one audit path each.
    async fn multiproof(&self, indices: Vec<u64>, size: u64) -> Result<Vec<Hash>, StoreError>;

    /// The consistency proof from the tree of `old` entries to the tree of `new` entries.
    async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError>;

    /// Recomputes every leaf and node from the entries, checks every checkpoint with
    /// `verifier` and the consistency of consecutive checkpoints.
    async fn verify(&self, verifier: &NoteVerifier, progress: Progress) -> Result<VerifyReport, StoreError>;

    /// Rebuilds every projection from the entries, in one transaction.
    async fn replay(&self, progress: Progress) -> Result<ReplayReport, StoreError>;

    /// A SHA-256 over the contents of every projection table, to compare live and rebuilt
    /// projections.
    async fn projections_digest(&self) -> Result<String, StoreError>;

    /// Flushes pending appends, signs a final checkpoint if anything is uncovered, and stops
    /// the writer. Appends after this fail.
    async fn close(&self) -> Result<(), StoreError>;

    /// A C2SP proof file for entry `index` against the signed checkpoint of `size` entries
    /// (the latest checkpoint when `size` is `None`).
    async fn proof_file(&self, index: u64, size: Option<u64>) -> Result<ProofFile, StoreError> {
        let cp = match size {
            Some(s) => self.checkpoint_at(s).await?.ok_or(StoreError::NoCheckpointAt(s))?,
            None => self.latest_checkpoint().await?.ok_or(StoreError::NoCheckpoint)?,
        };
        let stored = self.size().await?;
        if index >= stored {
            return Err(StoreError::OutOfRange { what: "index", requested: index, size: stored });
        }
        let size = cp.checkpoint.size;
        if index >= size {
            return Err(StoreError::NotCovered { index, size });
        }
        let proof = self.inclusion_proof(index, size).await?;
        Ok(ProofFile { extra: None, index, proof, checkpoint_note: cp.note })
    }
}

/// The registry's reads (and the one operational write, credential use) over its projections.
/// Registry *changes* are events appended through [`Store::submit`].
#[async_trait]
pub trait RegistryStore: Store {
    /// One agent's record.
    async fn agent(&self, id: &AgentId) -> Result<Option<Agent>, StoreError>;

    /// Agents matching `query`, in id order, at most `query.limit`.
    async fn agents(&self, query: &AgentQuery) -> Result<Vec<Agent>, StoreError>;

    /// The events about one agent with their ledger indices, oldest first, after index `after`.
    async fn agent_history(
        &self,
        id: &AgentId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(u64, Event)>, StoreError>;

    /// The same events as [`RegistryStore::agent_history`], as the stored entry bytes, not
    /// parsed: for exports that carry the entries verbatim and parse them once themselves.
    async fn agent_entries(
        &self,
        id: &AgentId,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// Credentials of one agent (or of every agent), each with its SHA-256 in hex.
    async fn credentials(&self, agent: Option<&AgentId>) -> Result<Vec<(Credential, String)>, StoreError>;

    /// Every owner named on an agent or offboarded.
    async fn owners(&self) -> Result<Vec<OwnerSummary>, StoreError>;

    /// When `owner` was offboarded, if they were.
    async fn offboarded_at(&self, owner: &OwnerId) -> Result<Option<Timestamp>, StoreError>;

    /// Records when credentials last authenticated (not evidence; never replayed).
    async fn record_credential_use(&self, uses: Vec<(String, Timestamp)>) -> Result<(), StoreError>;
}

/// The gateway protections' reads over the `protect` projection. Changes are events
/// (`tool.*`, `gateway.first_use`, `approval.*`) appended through [`Store::submit`].
#[async_trait]
pub trait ProtectStore: Store {
    /// Every tool custos has pinned, with its state.
    async fn tool_pins(&self) -> Result<Vec<custos_core::protect::ToolPin>, StoreError>;

    /// Every (agent, server, tool) an agent has called at least once.
    async fn tool_uses(&self) -> Result<Vec<(String, String, String)>, StoreError>;

    /// Gateway calls by agent, tool and decision, with counts and first/last times.
    async fn gateway_activity(&self) -> Result<Vec<crate::protect::GatewayActivity>, StoreError>;

    /// Held calls, newest first; only the pending ones if asked.
    async fn approvals(&self, pending_only: bool) -> Result<Vec<custos_core::protect::ApprovalRecord>, StoreError>;

    /// One held call.
    async fn approval(&self, id: &str) -> Result<Option<custos_core::protect::ApprovalRecord>, StoreError>;

    /// The (server, tool) pairs the MCP session with this digest was allowed to call, in order.
    async fn session_tools(&self, session: &str) -> Result<Vec<(String, String)>, StoreError>;
}
