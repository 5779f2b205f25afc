//! Integration tests of custos-ledger: the Merkle tree checked against a reference written from
//! the RFC 6962 text, proof verification under every single-bit corruption, and the C2SP note,
//! checkpoint and proof-file formats under corruption and arbitrary input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod notes;
mod proofs;
mod support;
mod tree_hash;
