//! Integration tests of custos-store against real SQLite files: group commit, proofs,
//! checkpoints, replay, tamper detection, crash safety and refused opens.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod append;
mod crash;
mod protect;
mod support;
mod tamper;
