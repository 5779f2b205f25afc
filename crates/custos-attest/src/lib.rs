//! Attestation (DESIGN.md §9): evidence that a CISO, an auditor, a customer or a regulator can
//! check without trusting custos. Bundles are DSSE envelopes over in-toto Statements whose
//! predicate carries ledger events with inclusion proofs against a signed checkpoint; controls
//! are data, mapped from event kinds and finding types; reports are OSCAL and offline HTML.

pub mod bundle;
pub mod dsse;
pub mod statement;
pub mod verify;

pub use bundle::{AttestError, AttestOptions, Bundle, PreviousExport, WindowRequest, attest, attest_many, to_jsonl};
pub use dsse::Envelope;
pub use statement::{PREDICATE_TYPE, Predicate, Statement};
pub use verify::{Outcome, VerifyError, VerifyReport, parse_key, previous_of, verify, verify_jsonl};
pub mod controls;
pub mod oscal;

pub use controls::{
    CatalogueError, Control, ControlCatalogue, ControlCoverage, CoverageStatus, EvidenceIndex, Framework,
    PredicateCoverage, Scope, coverage, predicate_coverage,
};
pub use oscal::{OscalMeta, assessment_results};
pub mod html;
pub mod inventory;
pub mod report;

pub use html::render_html;
pub use inventory::{InventoryExtra, ToolActivity, inventory_cyclonedx, inventory_json};
pub use report::ReportData;
pub mod render;

pub use controls::coverage_of;
pub use render::{RenderError, oscal_of_bundle, report_data};
