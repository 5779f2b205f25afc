//! Integration tests of the `custos` binary: every test runs the real program in a temporary
//! directory and asserts what a user would see (exit code, stdout, stderr) and what is left on
//! disk afterwards.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod attest;
mod bad_input;
mod config;
mod controls;
mod discover;
mod gateway;
mod init;
mod ledger;
mod probe;
mod protect;
mod registry;
mod server;
mod stdin;
mod support;
mod tamper;
