//! From a signed bundle to the report views: [`report_data`] (what the HTML report shows) and
//! [`oscal_of_bundle`], on a real ledger with every kind of event the report summarises.

use custos_attest::{
    AttestOptions, Bundle, ControlCatalogue, WindowRequest, attest,
    dsse::keyid,
    oscal_of_bundle, render_html,
    report::{CoverageStatus, ProbeOutcome, Severity},
    report_data,
};
use custos_core::{
    Actor, AgentId, Event, EventKind, Timestamp,
    discovery::DiscoveryFinding,
    protect::{Direction, DlpHit, ToolFinding},
    registry::AgentRegistered,
};
use custos_ledger::NoteSigner;
use custos_store::{
    Store,
    sqlite::{SqliteOptions, SqliteStore},
};
use serde_json::{Value, json};

const ORIGIN: &str = "test.custos/render";
const BOT: &str = "payments/refund-bot";

fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[7u8; 32]).unwrap()
}

fn bot() -> AgentId {
    BOT.parse().unwrap()
}

fn alice() -> Actor {
    Actor::user("alice".parse().unwrap())
}

fn at(e: Event, ts: &str) -> Event {
    Event { ts: ts.parse().unwrap(), ..e }
}

fn raw(kind: EventKind, data: Value, ts: &str) -> Event {
    at(Event::from_parts(kind, alice(), Some(bot()), data).unwrap(), ts)
}

fn decision(tool: &str, outcome: &str, ts: &str) -> Event {
    raw(
        EventKind::GatewayDecision,
        json!({"server": "payments", "tool": tool, "decision": outcome, "enforced": true,
               "policies": ["refund-limits"], "note": if outcome == "deny" { "over the refund limit" } else { "" }}),
        ts,
    )
}

/// A ledger holding the bot's life over three days, and its bundle.
fn bundle(cat: &ControlCatalogue) -> (tempfile::TempDir, Bundle, Bundle) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::create(&dir.path().join("ledger.db"), signer(), SqliteOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let registered = AgentRegistered {
        name: "Refund bot".into(),
        owner: Some("alice".parse().unwrap()),
        sponsor: None,
        purpose: "refunds".into(),
        environment: "prod".parse().unwrap(),
        risk_tier: "high".parse().unwrap(),
        labels: Default::default(),
        recert_interval_days: 90,
        provenance: vec![],
        reason: "onboarding".into(),
    };
    let events = vec![
        at(Event::new(alice(), Some(bot()), &registered).unwrap(), "2026-03-01T09:00:00Z"),
        raw(
            EventKind::AgentStateChanged,
            json!({"op": "approve", "from": "registered", "to": "active", "reason": "reviewed"}),
            "2026-03-01T10:00:00Z",
        ),
        raw(
            EventKind::PolicyApplied,
            json!({"policy": "refund-limits", "sha256": "ab".repeat(32)}),
            "2026-03-01T10:30:00Z",
        ),
        raw(
            EventKind::GatewayFirstUse,
            json!({"server": "payments", "tool": "refund", "decision": "allow"}),
            "2026-03-01T11:00:00Z",
        ),
        decision("refund", "allow", "2026-03-01T11:00:00Z"),
        decision("refund", "allow", "2026-03-01T12:00:00Z"),
        decision("refund", "deny", "2026-03-03T08:00:00Z"),
        decision("lookup", "approval", "2026-03-03T09:00:00Z"),
        at(
            Event::new(
                alice(),
                Some(bot()),
                &ToolFinding {
                    server: "payments".into(),
                    tool: "lookup".into(),
                    rule: "hidden-instruction".into(),
                    severity: "critical".into(),
                    path: "description".into(),
                    start: 0,
                    end: 4,
                    excerpt: "ignore".into(),
                    digest: "sha256:00".into(),
                    quarantined: true,
                },
            )
            .unwrap(),
            "2026-03-03T09:30:00Z",
        ),
        at(
            Event::new(
                alice(),
                Some(bot()),
                &DlpHit {
                    server: "payments".into(),
                    tool: "refund".into(),
                    direction: Direction::Result,
                    rule: "aws-key".into(),
                    path: "/text".into(),
                    action: "recorded".into(),
                },
            )
            .unwrap(),
            "2026-03-03T09:40:00Z",
        ),
        at(
            Event::new(
                alice(),
                Some(bot()),
                &DiscoveryFinding {
                    run: "run1".into(),
                    finding: "ag_1".into(),
                    finding_type: "agent".into(),
                    source: "code".into(),
                    locations: vec!["bot.py:1".into()],
                    summary: "the bot runs a second copy".into(),
                    label: Some("drifted".into()),
                    agent: Some(BOT.into()),
                    fingerprint: None,
                    evidence: vec![],
                },
            )
            .unwrap(),
            "2026-03-03T09:50:00Z",
        ),
        raw(
            EventKind::ProbeResult,
            json!({"probe": "prompt-injection/email", "result": "failed", "summary": "followed a hidden instruction"}),
            "2026-03-03T10:00:00Z",
        ),
        raw(
            EventKind::RecertDecided,
            json!({"reviewer": "carol", "decision": "recertified", "note": "still needed", "next_due": "2026-06-01T00:00:00Z"}),
            "2026-03-03T11:00:00Z",
        ),
    ];
    let (first, second) = rt.block_on(async {
        for e in events {
            store.append(e).await.unwrap();
        }
        let opts = AttestOptions { controls: Some(cat) };
        let first = attest(&store, &signer(), &bot(), WindowRequest::default(), None, opts).await.unwrap();
        let second = attest(&store, &signer(), &bot(), WindowRequest::default(), Some(&first.as_previous()), opts)
            .await
            .unwrap();
        store.close().await.unwrap();
        (first, second)
    });
    (dir, first, second)
}

#[test]
fn a_bundle_becomes_the_report_it_summarises() {
    let cat = ControlCatalogue::builtin().unwrap();
    let (_dir, b, second) = bundle(&cat);
    let r = report_data(&b, Some(&cat)).unwrap();

    assert_eq!(r.agent.id, BOT);
    assert_eq!(r.agent.name, "Refund bot");
    assert_eq!(r.agent.owner.as_deref(), Some("alice"));
    assert_eq!(r.agent.state, "active");
    assert_eq!(r.agent.identity_digest.as_ref(), b.statement.subject[0].digest.get("sha256"));

    // Lifecycle and the policy applied, in ledger order, each with one line.
    let lines: Vec<(&str, &str)> = r.timeline.iter().map(|t| (t.kind.as_str(), t.summary.as_str())).collect();
    assert_eq!(
        lines,
        [
            ("agent.registered", "registered for owner alice in prod, risk tier high: onboarding"),
            ("agent.state_changed", "approve: registered → active: reviewed"),
            ("policy.applied", "policy refund-limits applied"),
        ]
    );
    assert_eq!(r.timeline[0].actor, "user:alice");

    let beh = &r.behavior;
    assert_eq!((beh.decisions.allow, beh.decisions.approval, beh.decisions.deny), (2, 1, 1));
    let tools: Vec<(&str, u64, u64)> = beh.tools.iter().map(|t| (t.tool.as_str(), t.calls, t.denied)).collect();
    assert_eq!(tools, [("payments.lookup", 1, 0), ("payments.refund", 3, 1)]);
    let days: Vec<(&str, u64, u64, u64)> =
        beh.calls_per_day.iter().map(|d| (d.day.as_str(), d.allow, d.approval, d.deny)).collect();
    assert_eq!(days, [("2026-03-01", 2, 0, 0), ("2026-03-03", 0, 1, 1)], "UTC days, the empty one left to the chart");
    assert_eq!(beh.denials.len(), 1);
    assert_eq!(beh.denials[0].tool, "payments.refund");
    assert_eq!(beh.denials[0].reason, "over the refund limit");
    assert_eq!(beh.first_uses.len(), 1);
    assert_eq!(beh.first_uses[0].tool, "payments.refund");

    let findings: Vec<(&str, Severity)> = r.findings.iter().map(|f| (f.finding_type.as_str(), f.severity)).collect();
    assert_eq!(
        findings,
        [
            ("tool:poisoning", Severity::Critical),
            ("dlp:aws-key", Severity::High),
            ("discovery:drifted", Severity::Medium)
        ]
    );
    assert!(r.findings[0].summary.contains("quarantined"), "{:?}", r.findings[0]);

    assert_eq!(r.probes.len(), 1);
    assert_eq!(r.probes[0].result, ProbeOutcome::Failed);
    assert_eq!(r.probes[0].probe, "prompt-injection/email");
    assert_eq!(r.recertifications.len(), 1);
    let rc = &r.recertifications[0];
    assert_eq!(
        (rc.reviewer.as_str(), rc.decision.as_str(), rc.note.as_str()),
        ("carol", "recertified", "still needed")
    );
    assert_eq!(rc.next_due, Some("2026-06-01T00:00:00Z".parse::<Timestamp>().unwrap()));

    // Coverage is the predicate's, with frameworks named as people know them.
    assert_eq!(r.coverage.len(), cat.controls.len());
    assert!(r.coverage.iter().any(|c| c.status != CoverageStatus::NoEvidence));
    let nist = cat.framework("nist-ai-rmf").unwrap();
    assert!(r.coverage.iter().any(|c| c.framework == format!("{} {}", nist.name, nist.edition)));

    // Verification facts from the checkpoint note and the envelope.
    let v = &r.verification;
    assert_eq!(v.checkpoint_origin, ORIGIN);
    assert!(v.tree_size > b.statement.predicate.evidence.anchor.index);
    assert_eq!(v.key_id, keyid(signer().verifier().public_key()));
    assert_eq!(v.events_referenced, b.statement.predicate.evidence.range.count);
    assert_eq!(v.events_referenced, 13);
    assert_eq!(v.window_from, "2026-03-01T09:00:00Z".parse::<Timestamp>().unwrap(), "the first event in the window");
    assert_eq!(v.previous_tree_size, None);
    assert_eq!(report_data(&second, None).unwrap().verification.previous_tree_size, Some(v.tree_size));

    let html = render_html(&r);
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains(BOT));
}

#[test]
fn a_bundle_gives_one_oscal_document_and_each_export_its_own() {
    let cat = ControlCatalogue::builtin().unwrap();
    let (_dir, b, second) = bundle(&cat);
    let doc = oscal_of_bundle(&b, &cat);
    assert_eq!(doc, oscal_of_bundle(&b, &cat), "the same bundle, the same document, byte for byte");
    let uuid = |d: &Value| d["assessment-results"]["uuid"].as_str().unwrap().to_string();
    assert_ne!(uuid(&doc), uuid(&oscal_of_bundle(&second, &cat)));
    let result = &doc["assessment-results"]["results"][0];
    assert!(result["observations"].as_array().is_some_and(|o| !o.is_empty()), "{doc:#}");
    assert_eq!(result["start"], "2026-03-01T09:00:00Z");
}
