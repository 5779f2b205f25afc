//! Reconciliation: each discovered agent against the registry (DESIGN.md §6).
//!
//! A discovered agent is matched to a registry agent by, in order of strength: a provenance
//! entry naming its finding id; a provenance entry `path:<p>` naming its source location; a
//! provenance entry `fp:<hex>` naming the fingerprint of a credential found in the same file;
//! the gateway token it authenticated with (gateway findings carry the registry id); its name.
//! The label then follows from the matched agent: *orphaned* (owner offboarded or none),
//! *drifted* (the gateway denied it calls beyond its granted policy), *stale* (not seen for the
//! threshold), else *sanctioned*. No match is *shadow*. Registered agents that no finding
//! matched are still reported when they are orphaned or stale: the registry alone shows that.
//!
//! This module knows nothing of the store: the caller hands it [`RegistryAgent`] views.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use crate::model::{AgentFinding, AgentKind, Label, Reconciled, Report, Source};

/// What reconciliation needs to know about one registry agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryAgent {
    pub id: String,
    pub name: String,
    /// `discovered`, `registered`, `active`, `suspended` or `retired`.
    pub state: String,
    pub owner: Option<String>,
    /// The owner was offboarded and nobody took the agent over.
    pub orphaned: bool,
    /// Finding ids, `path:<location>` and `fp:<fingerprint prefix>` entries.
    pub provenance: Vec<String>,
    pub registered_at: Timestamp,
    /// The last time its credential authenticated or the gateway decided one of its calls.
    pub last_seen: Option<Timestamp>,
    /// Calls the gateway denied it, by `server/tool`: (calls, last ledger index).
    pub denied: BTreeMap<String, (u64, u64)>,
}

/// Reconciliation settings.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileOptions {
    pub now: Timestamp,
    /// A registered agent not seen for this many days is stale.
    pub stale_days: u32,
}

/// Whether a finding is something the registry should hold: an agent, not a model client or a
/// tool server.
pub fn is_agent(finding: &AgentFinding) -> bool {
    matches!(finding.kind, AgentKind::Agent | AgentKind::ManagedAgent | AgentKind::AgentProxy)
}

/// Labels every agent finding of `report`, and every registered agent that is orphaned or
/// stale although nothing found it. Sorted: findings in report order, then registry-only rows.
pub fn reconcile(report: &Report, registry: &[RegistryAgent], opts: &ReconcileOptions) -> Vec<Reconciled> {
    let mut out = Vec::new();
    let mut matched: Vec<bool> = vec![false; registry.len()];
    for finding in report.agents.iter().filter(|f| is_agent(f)) {
        match best_match(finding, report, registry) {
            None => out.push(Reconciled {
                finding: Some(finding.id.clone()),
                agent_id: None,
                agent_name: None,
                name: finding.name.clone(),
                label: Label::Shadow,
                evidence: vec![format!(
                    "no registry agent matches: no provenance names finding `{}` or `path:{}`, no credential in its file is declared, and no agent is named `{}`",
                    finding.id,
                    finding.location.path.display(),
                    finding.name
                )],
            }),
            Some((i, why)) => {
                if let Some(m) = matched.get_mut(i) {
                    *m = true;
                }
                let Some(agent) = registry.get(i) else { continue };
                let (label, mut evidence) = judge(agent, opts);
                evidence.insert(0, format!("matches registry agent `{}` by {why}", agent.id));
                out.push(Reconciled {
                    finding: Some(finding.id.clone()),
                    agent_id: Some(agent.id.clone()),
                    agent_name: Some(agent.name.clone()),
                    name: finding.name.clone(),
                    label,
                    evidence,
                });
            }
        }
    }
    for (agent, _) in registry.iter().zip(&matched).filter(|(a, m)| !**m && live(a)) {
        let (label, evidence) = judge(agent, opts);
        if matches!(label, Label::Orphaned | Label::Stale) {
            out.push(Reconciled {
                finding: None,
                agent_id: Some(agent.id.clone()),
                agent_name: Some(agent.name.clone()),
                name: agent.name.clone(),
                label,
                evidence,
            });
        }
    }
    out
}

/// A registry agent that can run: registered, active or suspended.
fn live(agent: &RegistryAgent) -> bool {
    matches!(agent.state.as_str(), "registered" | "active" | "suspended")
}

/// One way a finding can match a registry agent: how, when it does.
type MatchRule<'a> = dyn Fn(&RegistryAgent) -> Option<String> + 'a;

/// The strongest match for a finding, and how it matched. Shadow records (state
/// `discovered`) and retired agents never sanction a finding.
fn best_match(finding: &AgentFinding, report: &Report, registry: &[RegistryAgent]) -> Option<(usize, String)> {
    let path = finding.location.path.to_string_lossy();
    let fingerprints: Vec<&str> = report
        .credentials
        .iter()
        .filter(|c| c.location.path == finding.location.path)
        .map(|c| c.fingerprint.as_str())
        .collect();
    let name = normalize(&finding.name);
    let rules: [&MatchRule<'_>; 5] = [
        &|a| a.provenance.contains(&finding.id).then(|| format!("provenance (finding `{}`)", finding.id)),
        &|a| {
            a.provenance
                .iter()
                .filter_map(|p| p.strip_prefix("path:"))
                .find(|p| path_matches(&path, p))
                .map(|p| format!("declared source location `{p}`"))
        },
        &|a| {
            a.provenance
                .iter()
                .filter_map(|p| p.strip_prefix("fp:"))
                .filter(|p| p.len() >= 8)
                .find(|p| fingerprints.iter().any(|f| f.starts_with(&p.to_ascii_lowercase())))
                .map(|p| format!("credential fingerprint `{p}` found in the same file"))
        },
        &|a| {
            (finding.source == Source::Gateway && finding.name == a.id)
                .then(|| "gateway token (the gateway authenticated it as this agent)".to_string())
        },
        &|a| {
            let id_tail = a.id.rsplit('/').next().unwrap_or(&a.id);
            (!name.is_empty() && (normalize(&a.name) == name || normalize(id_tail) == name))
                .then(|| format!("name `{}`", finding.name))
        },
    ];
    for rule in rules {
        if let Some(found) = registry.iter().enumerate().filter(|(_, a)| live(a)).find_map(|(i, a)| Some((i, rule(a)?)))
        {
            return Some(found);
        }
    }
    None
}

/// `declared` names the finding's file: equal, or a suffix at a path boundary
/// (`services/refund/agent.py` matches `/src/services/refund/agent.py`), or a directory that
/// contains it (`services/refund/`).
fn path_matches(path: &str, declared: &str) -> bool {
    let declared = declared.trim_start_matches("./");
    if declared.is_empty() {
        return false;
    }
    let dir = declared.trim_end_matches('/');
    path == declared
        || path.ends_with(&format!("/{declared}"))
        || path.starts_with(&format!("{dir}/"))
        || path.contains(&format!("/{dir}/"))
}

/// Lowercase, with `-`, `_`, `.` and spaces dropped: `Refund Bot` = `refund-bot` = `refund_bot`.
fn normalize(name: &str) -> String {
    name.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The label a registry agent earns on its own, with the evidence: orphaned, drifted, stale
/// or sanctioned, in that order of precedence.
fn judge(agent: &RegistryAgent, opts: &ReconcileOptions) -> (Label, Vec<String>) {
    let mut evidence = vec![format!("registry state `{}`", agent.state)];
    if agent.orphaned || agent.owner.is_none() {
        evidence.push(match &agent.owner {
            Some(owner) => format!("owner `{owner}` was offboarded and no one has taken the agent over"),
            None => "the agent has no owner".into(),
        });
        return (Label::Orphaned, evidence);
    }
    if !agent.denied.is_empty() {
        for (tool, (calls, last)) in &agent.denied {
            evidence.push(format!(
                "{calls} call(s) to `{tool}` denied by policy: beyond its granted scope (last at ledger index {last})"
            ));
        }
        return (Label::Drifted, evidence);
    }
    let threshold = SignedDuration::from_hours(i64::from(opts.stale_days) * 24);
    let since = |t: Timestamp| opts.now.duration_since(t);
    match agent.last_seen {
        Some(seen) if since(seen) > threshold => {
            evidence.push(format!(
                "last seen {seen} ({} days ago; threshold {} days)",
                since(seen).as_hours() / 24,
                opts.stale_days
            ));
            return (Label::Stale, evidence);
        }
        None if since(agent.registered_at) > threshold => {
            evidence.push(format!(
                "never seen at the gateway since registration on {} ({} days; threshold {} days)",
                agent.registered_at,
                since(agent.registered_at).as_hours() / 24,
                opts.stale_days
            ));
            return (Label::Stale, evidence);
        }
        Some(seen) => evidence.push(format!("last seen {seen}")),
        None => evidence.push("not seen at the gateway yet (registered recently)".into()),
    }
    evidence.push(format!("owner `{}`", agent.owner.as_deref().unwrap_or_default()));
    (Label::Sanctioned, evidence)
}
