//! Integration tests of the registry service on a real SQLite store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod lifecycle;
mod replay;
mod support;
mod tokens;
