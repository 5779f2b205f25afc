//! Integration tests of the admin API: each test starts the real server (`custos_server::serve`)
//! on a loopback port over a new SQLite ledger, talks to it over HTTP, and reads the ledger
//! back to prove what each operation appended (or that a refused one appended nothing).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod api;
mod auth;
mod bad_input;
mod bugs;
mod protect;
mod shutdown;
mod support;
mod tokens;
mod transitions;
