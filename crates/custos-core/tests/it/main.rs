//! Integration tests of custos-core: RFC 8785 canonical JSON against the RFC's published
//! vectors, canonical round trips of arbitrary JSON, and ledger entries that refuse anything
//! custos would not have written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod entry;
mod manifest;
mod registry;
mod rfc8785;
mod round_trip;
mod scan;
mod secret;
