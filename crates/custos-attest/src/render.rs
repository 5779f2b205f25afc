//! Reports made from a signed bundle: the HTML report's [`ReportData`] and the OSCAL
//! assessment-results of the bundle's control coverage.
//!
//! Both read only the bundle, never the store, so a report shows exactly what the signed
//! evidence says and can be made again from the bundle file alone. Event payloads are read
//! leniently (a missing field shows as `unknown`): a report is a view, and judging a bundle is
//! the verifier's job, not this module's.

use std::collections::BTreeMap;

use custos_core::{Entry, Event, EventKind, Timestamp};
use custos_ledger::Checkpoint;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{
    bundle::Bundle,
    controls::{ControlCatalogue, CoverageStatus as Status, coverage_of},
    oscal::{OscalMeta, assessment_results},
    report::{
        Behavior, ControlCoverage, CoverageStatus, DayCalls, DecisionTotals, Denial, Finding, FirstUse, ProbeOutcome,
        ProbeResult, Recertification, ReportAgent, ReportData, Severity, TimelineEntry, ToolUse, VerificationFacts,
    },
    statement::{EventRef, Predicate},
};

/// Why a bundle cannot be turned into a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the bundle's checkpoint note cannot be read: {0}")]
    Checkpoint(String),
}

/// The evidence events the predicate carries, parsed, in index order. The only reader of
/// `evidence.events` here, so a change to how the evidence is stored touches one function.
fn evidence_events(p: &Predicate) -> Vec<(u64, Event)> {
    p.evidence.events.iter().filter_map(|e| Entry::parse(e.entry.as_bytes()).ok().map(|ev| (e.index, ev))).collect()
}

/// The checkpoint a signed note carries, without checking its signature (the verifier does).
fn checkpoint_of(note: &str) -> Result<Checkpoint, RenderError> {
    // A note is its text, a blank line, then signature lines; the text is the checkpoint.
    let text = note
        .split_once("\n\n")
        .map(|(t, _)| t)
        .ok_or_else(|| RenderError::Checkpoint("no blank line before the signatures".to_string()))?;
    Checkpoint::parse(&format!("{text}\n")).map_err(|e| RenderError::Checkpoint(e.to_string()))
}

/// When the export was made: the anchor's time (it is appended by the export itself).
fn exported_at(bundle: &Bundle) -> Timestamp {
    let p = &bundle.statement.predicate;
    Entry::parse(p.evidence.anchor.entry.as_bytes()).map_or(p.agent.record.updated_at, |e| e.ts)
}

/// The window as times: the requested bounds, else the first event in it (or the agent's
/// registration) and the export.
fn window_times(bundle: &Bundle, events: &[(u64, Event)]) -> (Timestamp, Timestamp) {
    let p = &bundle.statement.predicate;
    let from = p.window.from_time.or_else(|| events.first().map(|(_, e)| e.ts)).unwrap_or(p.agent.record.registered_at);
    let to = p.window.to_time.unwrap_or_else(|| exported_at(bundle));
    (from, to)
}

fn text<'a>(data: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn field<'a>(data: &'a Map<String, Value>, key: &str) -> &'a str {
    text(data, key).unwrap_or("unknown")
}

/// `: reason` when the event gives one.
fn because(data: &Map<String, Value>) -> String {
    text(data, "reason").map(|r| format!(": {r}")).unwrap_or_default()
}

/// One line for a human about a lifecycle (or policy) event.
pub fn summary(e: &EventRef) -> String {
    let d = &e.data;
    match e.kind {
        EventKind::AgentRegistered => format!(
            "registered{owner} in {env}, risk tier {risk}{why}",
            owner = text(d, "owner").map(|o| format!(" for owner {o}")).unwrap_or_default(),
            env = field(d, "environment"),
            risk = field(d, "risk_tier"),
            why = because(d),
        ),
        EventKind::AgentDiscovered => {
            format!(
                "discovered by a scan: {} ({}) at {}",
                field(d, "kind"),
                field(d, "framework"),
                field(d, "location")
            )
        }
        EventKind::AgentUpdated => {
            let fields: Vec<&str> = d
                .get("changes")
                .and_then(Value::as_object)
                .map(|c| c.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let what = if fields.is_empty() { "nothing".to_string() } else { fields.join(", ") };
            format!("updated {what}{}", because(d))
        }
        EventKind::AgentOwnerChanged => {
            format!("owner {} → {}{}", text(d, "from").unwrap_or("none"), field(d, "to"), because(d))
        }
        EventKind::AgentStateChanged => {
            let revoked = d.get("revoked_count").and_then(Value::as_u64).filter(|n| *n > 0);
            format!(
                "{op}: {from} → {to}{why}{rev}",
                op = field(d, "op"),
                from = field(d, "from"),
                to = field(d, "to"),
                why = because(d),
                rev = revoked.map(|n| format!(" ({n} credentials revoked)")).unwrap_or_default(),
            )
        }
        EventKind::CredentialIssued => format!(
            "credential {} issued{}{}",
            field(d, "id"),
            text(d, "expires_at").map(|t| format!(", expires {t}")).unwrap_or_default(),
            because(d)
        ),
        EventKind::CredentialRevoked => format!("credential {} revoked{}", field(d, "id"), because(d)),
        EventKind::OwnerOffboarded => format!(
            "owner {} offboarded, {} agents orphaned{}",
            field(d, "owner"),
            d.get("orphaned_count").and_then(Value::as_u64).unwrap_or(0),
            because(d)
        ),
        EventKind::AttestationExported => format!(
            "evidence exported: {} events of entries {}..={}",
            d.get("count").and_then(Value::as_u64).unwrap_or(0),
            d.get("from_index").and_then(Value::as_u64).unwrap_or(0),
            d.get("to_index").and_then(Value::as_u64).unwrap_or(0),
        ),
        EventKind::PolicyApplied => {
            format!("policy {} applied", text(d, "policy").or(text(d, "name")).unwrap_or("unknown"))
        }
        _ => String::new(),
    }
}

fn timeline_entry(e: &EventRef) -> TimelineEntry {
    TimelineEntry {
        index: e.index,
        time: e.ts,
        kind: e.kind.as_str().to_string(),
        actor: e.actor.clone(),
        summary: summary(e),
    }
}

/// A finding's type, severity and line. Discovery labels that mean nobody answers for an agent
/// or a secret is exposed rank high; a DLP hit that went through (only recorded) ranks high,
/// one the gateway blocked or redacted medium; a tool finding carries its rule's severity.
fn finding(e: &EventRef) -> Finding {
    let d = &e.data;
    let (finding_type, severity, summary) = match e.kind {
        EventKind::DiscoveryFinding => {
            let label = text(d, "label").or(text(d, "type")).unwrap_or("unknown");
            let severity = match label {
                "credential" | "shadow" | "orphaned" => Severity::High,
                "drifted" | "stale" => Severity::Medium,
                "sanctioned" => Severity::Info,
                _ => Severity::Low,
            };
            (format!("discovery:{label}"), severity, field(d, "summary").to_string())
        }
        EventKind::ToolFinding => {
            let severity = match text(d, "severity") {
                Some("critical") => Severity::Critical,
                Some("high") => Severity::High,
                Some("low") => Severity::Low,
                Some("info") => Severity::Info,
                _ => Severity::Medium,
            };
            let quarantined = d.get("quarantined").and_then(Value::as_bool).unwrap_or(false);
            (
                "tool:poisoning".to_string(),
                severity,
                format!(
                    "rule {} matched in {}.{} ({}){}",
                    field(d, "rule"),
                    field(d, "server"),
                    field(d, "tool"),
                    field(d, "path"),
                    if quarantined { "; the tool was quarantined" } else { "" }
                ),
            )
        }
        EventKind::DlpHit => {
            let action = field(d, "action");
            let severity = if action == "recorded" { Severity::High } else { Severity::Medium };
            (
                format!("dlp:{}", field(d, "rule")),
                severity,
                format!(
                    "{} in the {} of {}.{}: {action}",
                    field(d, "rule"),
                    field(d, "direction"),
                    field(d, "server"),
                    field(d, "tool")
                ),
            )
        }
        _ => (e.kind.as_str().to_string(), Severity::Info, String::new()),
    };
    Finding { finding_type, severity, summary, index: e.index, time: Some(e.ts) }
}

fn probe(e: &EventRef) -> ProbeResult {
    let d = &e.data;
    // Unknown words are shown as a warning: a result nobody can read is not a pass.
    // `verdict` is what custos-probe writes: resisted, compromised, inconclusive, error.
    let result = match text(d, "result").or(text(d, "outcome")).or(text(d, "verdict")) {
        Some("passed" | "pass" | "resisted") => ProbeOutcome::Passed,
        Some("failed" | "fail" | "compromised") => ProbeOutcome::Failed,
        _ => ProbeOutcome::Warned,
    };
    ProbeResult {
        probe: text(d, "probe").or(text(d, "name")).unwrap_or("unknown").to_string(),
        result,
        summary: text(d, "summary").unwrap_or_default().to_string(),
        index: e.index,
        time: e.ts,
    }
}

fn recertification(e: &EventRef) -> Recertification {
    let d = &e.data;
    let default_decision = if e.kind == EventKind::RecertReviewed { "reviewed" } else { "decided" };
    Recertification {
        index: e.index,
        time: e.ts,
        reviewer: text(d, "reviewer").unwrap_or(&e.actor).to_string(),
        decision: text(d, "decision").unwrap_or(default_decision).to_string(),
        note: text(d, "note").or(text(d, "reason")).unwrap_or_default().to_string(),
        next_due: text(d, "next_due").and_then(|t| t.parse().ok()),
    }
}

fn behavior(p: &Predicate, events: &[(u64, Event)]) -> Behavior {
    let b = &p.derived.behavior;
    let mut days: BTreeMap<String, DayCalls> = BTreeMap::new();
    let mut denials = Vec::new();
    for (index, e) in events.iter().filter(|(_, e)| e.kind == EventKind::GatewayDecision) {
        let day = e.ts.as_jiff().strftime("%Y-%m-%d").to_string();
        let row = days.entry(day.clone()).or_insert(DayCalls { day, allow: 0, approval: 0, deny: 0 });
        let tool = format!("{}.{}", field(&e.data, "server"), field(&e.data, "tool"));
        match text(&e.data, "decision") {
            Some("allow") => row.allow += 1,
            Some("approval") => row.approval += 1,
            Some("deny") => {
                row.deny += 1;
                let policies: Vec<&str> = e
                    .data
                    .get("policies")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut reason = match (text(&e.data, "note"), policies.is_empty()) {
                    (Some(n), _) => n.to_string(),
                    (None, false) => format!("policy {}", policies.join(", ")),
                    (None, true) => "denied".to_string(),
                };
                if e.data.get("enforced").and_then(Value::as_bool) == Some(false) {
                    reason.push_str(" (shadow mode: recorded, not blocked)");
                }
                denials.push(Denial { index: *index, time: e.ts, tool, reason });
            }
            _ => {}
        }
    }
    Behavior {
        decisions: DecisionTotals { allow: b.allowed, approval: b.approval, deny: b.denied },
        tools: b
            .tools
            .iter()
            .map(|t| ToolUse { tool: format!("{}.{}", t.server, t.tool), calls: t.calls, denied: t.denied })
            .collect(),
        calls_per_day: days.into_values().collect(),
        denials,
        first_uses: b
            .first_uses
            .iter()
            .map(|f| FirstUse { index: f.index, time: f.ts, tool: format!("{}.{}", f.server, f.tool) })
            .collect(),
    }
}

fn coverage(p: &Predicate, cat: Option<&ControlCatalogue>) -> Vec<ControlCoverage> {
    coverage_of(&p.controls)
        .into_iter()
        .map(|c| {
            // The report names frameworks as people know them; the predicate keeps the token.
            let framework = cat
                .and_then(|k| k.framework(&c.framework))
                .map_or_else(|| c.framework.clone(), |f| format!("{} {}", f.name, f.edition));
            ControlCoverage {
                framework,
                official_id: c.official,
                id: c.id,
                title: c.title,
                status: match c.status {
                    Status::Evidenced => CoverageStatus::Evidenced,
                    Status::Partial => CoverageStatus::Partial,
                    Status::NoEvidence => CoverageStatus::NoEvidence,
                },
                event_count: c.events.iter().map(|e| e.count).sum(),
            }
        })
        .collect()
}

/// What the HTML report of one bundle shows. `cat`, when given, names the frameworks of the
/// control coverage; without it they show as their tokens.
pub fn report_data(bundle: &Bundle, cat: Option<&ControlCatalogue>) -> Result<ReportData, RenderError> {
    let p = &bundle.statement.predicate;
    let events = evidence_events(p);
    let cp = checkpoint_of(&p.evidence.checkpoint)?;
    let previous_tree_size =
        p.evidence.previous.as_ref().map(|prev| checkpoint_of(&prev.checkpoint)).transpose()?.map(|c| c.size);
    let (window_from, window_to) = window_times(bundle, &events);

    let mut agent = ReportAgent::from(&p.agent.record);
    agent.identity_digest = bundle.statement.subject.first().and_then(|s| s.digest.get("sha256")).cloned();

    let mut timeline: Vec<TimelineEntry> =
        p.derived.lifecycle.iter().chain(&p.granted_scope.applied).map(timeline_entry).collect();
    timeline.sort_by_key(|t| t.index);

    let range = &p.evidence.range;
    let held = range.count > 0;
    Ok(ReportData {
        generated_at: exported_at(bundle),
        agent,
        timeline,
        behavior: behavior(p, &events),
        findings: p.derived.findings.iter().map(finding).collect(),
        probes: p.derived.probes.iter().map(probe).collect(),
        recertifications: p.derived.recertifications.iter().map(recertification).collect(),
        coverage: coverage(p, cat),
        verification: VerificationFacts {
            checkpoint_origin: cp.origin,
            tree_size: cp.size,
            root_hash: cp.root.to_base64(),
            key_id: bundle.envelope.signatures.first().map(|s| s.keyid.clone()).unwrap_or_default(),
            window_from,
            window_to,
            events_referenced: range.count,
            first_index: held.then_some(range.from_index),
            last_index: held.then_some(range.to_index),
            previous_tree_size,
        },
    })
}

/// The 16 bytes every UUID of a bundle's OSCAL document derives from: a digest of the subject,
/// the evidence and the anchor, so one bundle always gives the same document and two exports
/// (even of the same events) never share UUIDs.
pub fn oscal_seed(bundle: &Bundle) -> [u8; 16] {
    let p = &bundle.statement.predicate;
    let mut h = Sha256::new();
    h.update(b"custos oscal seed\0");
    for s in &bundle.statement.subject {
        h.update(s.name.as_bytes());
        h.update([0]);
        for d in s.digest.values() {
            h.update(d.as_bytes());
            h.update([0]);
        }
    }
    h.update(p.evidence.range.events_sha256.as_bytes());
    h.update([0]);
    h.update(custos_ledger::hash::leaf_hash(p.evidence.anchor.entry.as_bytes()).to_base64().as_bytes());
    let d = h.finalize();
    let mut seed = [0u8; 16];
    for (dst, src) in seed.iter_mut().zip(d.iter()) {
        *dst = *src;
    }
    seed
}

/// The OSCAL assessment-results of a bundle's control coverage (see [`assessment_results`]),
/// assessed over the bundle's window and dated at its export.
pub fn oscal_of_bundle(bundle: &Bundle, cat: &ControlCatalogue) -> serde_json::Value {
    let p = &bundle.statement.predicate;
    let events = evidence_events(p);
    let (from, to) = window_times(bundle, &events);
    let mut meta = OscalMeta::new(
        oscal_seed(bundle),
        &format!("agent {}", p.agent.record.id),
        from.as_jiff(),
        exported_at(bundle).as_jiff(),
    );
    meta.end = Some(to.as_jiff());
    assessment_results(cat, &coverage_of(&p.controls), meta)
}
