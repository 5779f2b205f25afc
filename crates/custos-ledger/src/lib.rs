//! custos-ledger: the ledger's mathematics, with no I/O.
//!
//! - [`hash`]: RFC 6962 / RFC 9162 leaf and node hashes.
//! - [`tree`]: tree hashes, inclusion and consistency proofs over stored subtree hashes, and
//!   the [`tree::Frontier`] that appends leaves one at a time.
//! - [`note`]: C2SP `signed-note` with Ed25519 keys (key IDs and verifier keys as the spec
//!   defines them).
//! - [`checkpoint`]: C2SP `tlog-checkpoint` bodies.
//! - [`proof_file`]: C2SP `tlog-proof` files.
//!
//! Everything here is checked against Go's `golang.org/x/mod/sumdb/{note,tlog}` in CI
//! (`interop/go-verify`).

pub mod checkpoint;
mod error;
pub mod hash;
pub mod note;
pub mod proof_file;
pub mod tree;

pub use checkpoint::{Checkpoint, SignedCheckpoint};
pub use error::LedgerError;
pub use hash::Hash;
pub use note::{NoteSigner, NoteVerifier};
pub use proof_file::ProofFile;
