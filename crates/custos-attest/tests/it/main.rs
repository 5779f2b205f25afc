//! custos-attest: bundles, verification, control coverage, exports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod bundle;
mod controls;
mod html;
mod inventory;
mod render;
