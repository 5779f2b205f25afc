//! Attestation (DESIGN.md §9): evidence that a CISO, an auditor, a customer or a regulator can
//! check without trusting custos. Bundles are DSSE envelopes over in-toto Statements whose
//! predicate carries ledger events with inclusion proofs against a signed checkpoint; controls
//! are data, mapped from event kinds and finding types; reports are OSCAL and offline HTML.

pub mod controls;
pub mod oscal;

pub use controls::{
    CatalogueError, Control, ControlCatalogue, ControlCoverage, CoverageStatus, EvidenceIndex, Framework,
    PredicateCoverage, Scope, coverage, predicate_coverage,
};
pub use oscal::{OscalMeta, assessment_results};
