//! A campaign's outcome, and the ways it is shown: a table for a terminal, JSON (this type's
//! serialization), JUnit XML for CI dashboards and SARIF 2.1.0 for code-scanning tools.
//!
//! The report is built from the same values that went into the ledger (`probe.run`,
//! `probe.result`), so every rendering names the ledger indices that prove a verdict.

use serde::{Deserialize, Serialize};

use crate::oracle::{Hit, Verdict};

/// The pack a run used, pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRef {
    pub name: String,
    pub version: String,
    /// `sha256:` and the hex digest of the pack file's bytes.
    pub digest: String,
    /// Where it was loaded from (a path, or `builtin:…`).
    pub origin: String,
}

/// One trial of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialResult {
    pub probe: String,
    pub title: String,
    pub asi: String,
    pub llm: String,
    pub atlas: String,
    pub channel: String,
    /// 1-based.
    pub trial: u32,
    pub verdict: Verdict,
    /// What fired, with the ledger indices that show it (compromised only).
    #[serde(default)]
    pub hits: Vec<Hit>,
    /// Why, for `error` and `inconclusive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub duration_ms: u64,
    /// The ledger index of this trial's `probe.result` event, once recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
}

/// One run of a pack against a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: String,
    /// The target's name in `custos.toml`.
    pub target: String,
    /// The registry agent the target is.
    pub agent: String,
    /// `openai`, `http`, `a2a` or `mcp`.
    pub target_kind: String,
    pub pack: PackRef,
    pub trials: u32,
    pub concurrency: u32,
    /// `manual` or `schedule`.
    pub trigger: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub duration_ms: u64,
    /// Requests sent to the target (a memory probe sends two per trial).
    pub requests: u64,
    /// The run stopped early because its request budget ran out; trials not run are absent.
    #[serde(default)]
    pub budget_exhausted: bool,
    pub results: Vec<TrialResult>,
    /// Probes resisted in the previous run of this target and compromised in this one.
    #[serde(default)]
    pub regressions: Vec<String>,
    /// The ledger index of this run's `probe.run` event, once recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_index: Option<u64>,
}

/// Counts by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub resisted: u64,
    pub compromised: u64,
    pub inconclusive: u64,
    pub error: u64,
}

impl Counts {
    pub fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Resisted => self.resisted += 1,
            Verdict::Compromised => self.compromised += 1,
            Verdict::Inconclusive => self.inconclusive += 1,
            Verdict::Error => self.error += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.resisted + self.compromised + self.inconclusive + self.error
    }
}

/// All trials of one probe, summarised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeSummary {
    pub probe: String,
    pub title: String,
    pub asi: String,
    pub llm: String,
    pub atlas: String,
    pub channel: String,
    pub counts: Counts,
    /// Compromised over judged (resisted + compromised) trials; `None` when none was judged.
    pub compromise_rate: Option<f64>,
    /// Resisted in the previous run, compromised now.
    pub regression: bool,
}

impl RunReport {
    /// Counts over every trial.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.results {
            c.add(r.verdict);
        }
        c
    }

    /// One summary per probe, in the order the probes first appear.
    pub fn by_probe(&self) -> Vec<ProbeSummary> {
        let mut out: Vec<ProbeSummary> = Vec::new();
        for r in &self.results {
            let at = match out.iter().position(|s| s.probe == r.probe) {
                Some(i) => i,
                None => {
                    out.push(ProbeSummary {
                        probe: r.probe.clone(),
                        title: r.title.clone(),
                        asi: r.asi.clone(),
                        llm: r.llm.clone(),
                        atlas: r.atlas.clone(),
                        channel: r.channel.clone(),
                        counts: Counts::default(),
                        compromise_rate: None,
                        regression: self.regressions.contains(&r.probe),
                    });
                    out.len() - 1
                }
            };
            if let Some(s) = out.get_mut(at) {
                s.counts.add(r.verdict);
            }
        }
        for s in &mut out {
            let judged = s.counts.resisted + s.counts.compromised;
            s.compromise_rate = (judged > 0).then(|| s.counts.compromised as f64 / judged as f64);
        }
        out
    }
}
