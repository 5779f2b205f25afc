//! Store errors. Each says what is wrong and where; none carries a secret.

use std::path::PathBuf;

use custos_core::CoreError;
use custos_ledger::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("another process is writing to `{path}`{holder}; wait for it to finish or stop it")]
    Locked { path: PathBuf, holder: String },
    #[error("`{path}` is not a custos ledger database: {why}")]
    NotALedger { path: PathBuf, why: String },
    #[error("`{path}` was written by a newer custos (schema version {found}, this build knows {known})")]
    NewerSchema { path: PathBuf, found: i64, known: i64 },
    #[error("migration {version} (`{name}`) differs from the one applied to this database; migrations are append-only")]
    MigrationChanged { version: i64, name: String },
    #[error("this ledger belongs to origin `{found}`, but the signing key is for `{expected}`")]
    OriginMismatch { found: String, expected: String },
    #[error("the store is open read-only; appends and checkpoints need the writer")]
    ReadOnly,
    #[error("the store is closed")]
    Closed,
    #[error("no checkpoint has been signed yet; run `custos ledger checkpoint`")]
    NoCheckpoint,
    #[error("no checkpoint of size {0} was signed")]
    NoCheckpointAt(u64),
    #[error("entry {index} is not covered by the checkpoint of size {size}")]
    NotCovered { index: u64, size: u64 },
    #[error("the ledger has {size} entries; {what} {requested} is out of range")]
    OutOfRange { what: &'static str, requested: u64, size: u64 },
    #[error("stored entry {index} cannot be read: {why}; run `custos ledger verify`")]
    Corrupt { index: u64, why: String },
    #[error("the stored tree is inconsistent: {0}; run `custos ledger verify`")]
    Inconsistent(String),
    #[error(transparent)]
    Event(#[from] CoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("internal error: {0}")]
    Internal(String),
    /// One failure told to every caller of a batch (errors are not `Clone`).
    #[error("{0}")]
    Shared(String),
}

impl StoreError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }

    /// The same failure again, for another caller of the same batch.
    pub(crate) fn repeat(&self) -> Self {
        match self {
            Self::Io { context, source } => {
                Self::Io { context: context.clone(), source: std::io::Error::new(source.kind(), source.to_string()) }
            }
            Self::Closed => Self::Closed,
            Self::ReadOnly => Self::ReadOnly,
            other => Self::Shared(other.to_string()),
        }
    }
}
