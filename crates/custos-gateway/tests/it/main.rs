//! Unit-level integration tests of the gateway's parts that need no upstream: JWT
//! verification, session sealing, JSON-RPC parsing. (End-to-end tests with real MCP clients and
//! servers are in custos-cli's test binary, which runs `custos up`.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod jwt;
mod protocol;
