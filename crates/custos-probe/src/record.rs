//! The ledger records of a campaign: one `probe.run` per run of a target and one
//! `probe.result` per probe and trial, each with its verdict and the indices that prove it.
//! Typed here so every writer produces the same fields; the report and the attestation read
//! `probe`, `verdict` and `summary`.

use custos_core::{EventKind, Payload};
use serde::{Deserialize, Serialize};

use crate::oracle::{Hit, Verdict};

/// One run of a pack against a target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeRun {
    /// Unique per run; every `probe.result` of the run names it.
    pub run_id: String,
    /// The target's name in `custos.toml`.
    pub target: String,
    /// The pack: name, version and SHA-256 of its file, so a result says exactly which attack
    /// text was used.
    pub pack: String,
    pub pack_version: String,
    pub pack_digest: String,
    pub trials: u32,
    pub probes: u32,
    /// Counts by verdict over all trials.
    pub resisted: u64,
    pub compromised: u64,
    pub inconclusive: u64,
    pub error: u64,
    /// Probes resisted in the previous run of this target and compromised now.
    #[serde(default)]
    pub regressions: Vec<String>,
    /// `manual` or `schedule`.
    pub trigger: String,
    /// Requests sent to the target.
    #[serde(default)]
    pub requests: u64,
    /// The request budget ran out before every planned trial ran.
    #[serde(default)]
    pub budget_exhausted: bool,
}

impl Payload for ProbeRun {
    const KIND: EventKind = EventKind::ProbeRun;
}

/// One trial of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeResult {
    pub run_id: String,
    pub target: String,
    pub probe: String,
    /// OWASP Top 10 for Agentic Applications 2026, OWASP LLM Top 10 2025, MITRE ATLAS.
    pub asi: String,
    pub llm: String,
    pub atlas: String,
    pub channel: String,
    /// 1-based trial number.
    pub trial: u32,
    pub verdict: Verdict,
    /// What fired, with the ledger indices that show it.
    #[serde(default)]
    pub hits: Vec<Hit>,
    /// One line for a reader.
    pub summary: String,
    /// SHA-256 (hex) of the trial's canary: identifies it without putting a live secret-shaped
    /// string in the ledger.
    pub canary_sha256: String,
    /// Why, for `error` and `inconclusive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Payload for ProbeResult {
    const KIND: EventKind = EventKind::ProbeResult;
}
