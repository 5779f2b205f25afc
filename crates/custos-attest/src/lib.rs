//! Attestation (DESIGN.md §9): evidence that a CISO, an auditor, a customer or a regulator can
//! check without trusting custos. Bundles are DSSE envelopes over in-toto Statements whose
//! predicate carries ledger events with inclusion proofs against a signed checkpoint; controls
//! are data, mapped from event kinds and finding types; reports are OSCAL and offline HTML.

pub mod html;
pub mod inventory;
pub mod report;

pub use html::render_html;
pub use inventory::{InventoryExtra, ToolActivity, inventory_cyclonedx, inventory_json};
pub use report::ReportData;
