//! Integration tests of custos-probe: one binary, one module per area.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod agentdojo;
mod campaign;
mod decoy;
mod mcpcheck;
mod oracle;
mod pack;
mod refagent;
mod report;
