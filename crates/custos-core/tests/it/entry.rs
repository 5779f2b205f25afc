//! Ledger entries: `Entry::from_event` then `Entry::parse` gives the event back for every kind,
//! and `Entry::parse` refuses bytes custos would not have written: other whitespace, other
//! escapes, other member order, unknown kinds and fields, and entries over 64 KiB.

use custos_core::{Actor, CoreError, Entry, Event, EventKind, KeyRotated, MAX_ENTRY_BYTES, Timestamp, canonical};
use proptest::prelude::*;
use serde_json::json;

fn ts() -> Timestamp {
    "2026-11-21T10:00:00.123456Z".parse().unwrap()
}

fn data_for(kind: EventKind) -> serde_json::Value {
    match kind {
        EventKind::KeyRotated => json!({
            "verifier_key": "custos.example/ledger+d5ff2501+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs",
            "previous": "custos.example/ledger+00000000+AAAA",
            "reason": "scheduled rotation",
        }),
        // The registry's kinds have typed payloads: a valid one each.
        EventKind::AgentRegistered => json!({
            "name": "Refund bot", "owner": "alice@example.com", "purpose": "refunds ≤ 100 €",
            "environment": "prod", "risk_tier": "high", "labels": ["pci"], "recert_interval_days": 90,
            "reason": "ticket SEC-1",
        }),
        EventKind::AgentUpdated => json!({
            "changes": {"purpose": {"from": "a", "to": "b"}, "sponsor": {"from": null, "to": "bob"}},
            "reason": "scope change",
        }),
        EventKind::AgentOwnerChanged => json!({"from": null, "to": "bob@example.com", "reason": "handover"}),
        EventKind::AgentStateChanged => json!({
            "op": "retire", "from": "active", "to": "retired", "reason": "replaced",
            "revoked_count": 1, "revoked_credentials": ["cred_0123456789abcdef"],
        }),
        EventKind::CredentialIssued => json!({
            "id": "cred_0123456789abcdef", "sha256": "ab".repeat(32),
            "expires_at": "2027-01-01T00:00:00.000000Z", "reason": "rotation",
        }),
        EventKind::CredentialRevoked => json!({"id": "cred_0123456789abcdef", "reason": "leaked"}),
        EventKind::OwnerOffboarded => json!({
            "owner": "alice@example.com", "orphaned_count": 1, "agents": ["payments/refund-bot"], "reason": "left",
        }),
        // The gateway protections' kinds are typed too.
        EventKind::ToolPinned => {
            json!({"server": "fs", "tool": "read", "digest": "sha256:00", "manifest": {"name": "read"}})
        }
        EventKind::ToolChanged => json!({
            "server": "fs", "tool": "read", "change": "changed", "old_digest": "sha256:00", "new_digest": "sha256:01",
            "diff": "@@ description\n- a\n+ b", "manifest": {"name": "read"},
        }),
        EventKind::ToolQuarantined => json!({"server": "fs", "tool": "read", "reason": "changed"}),
        EventKind::ToolApproved => {
            json!({"server": "fs", "tool": "read", "digest": "sha256:01", "manifest": {"name": "read"}})
        }
        EventKind::ToolFinding => json!({
            "server": "fs", "tool": "read", "rule": "hidden-instructions", "severity": "high", "path": "description",
            "start": 0, "end": 11, "excerpt": "<IMPORTANT>", "digest": "sha256:01", "quarantined": true,
        }),
        EventKind::DlpHit => json!({
            "server": "fs", "tool": "read", "direction": "result", "rule": "canary", "path": "/content/0/text",
            "action": "redacted",
        }),
        EventKind::ToolLabeled => json!({"server": "fs", "tool": "read", "labels": ["sensitive"]}),
        EventKind::GatewayFirstUse => json!({"server": "fs", "tool": "read", "decision": "allow"}),
        EventKind::ApprovalRequested => json!({
            "id": "apr_1", "server": "fs", "tool": "read", "policies": ["p1"], "args_digest": "sha256:02",
            "args_preview": {"path": "string(3)"}, "expires": "2027-01-01T00:00:00.000000Z",
        }),
        EventKind::ApprovalDecided => json!({"id": "apr_1", "server": "fs", "tool": "read", "outcome": "approved"}),
        EventKind::DiscoveryRun => json!({
            "run": "dr_0123456789abcdef", "sources": ["code", "file"], "roots": ["/src"], "files_scanned": 10,
            "files_skipped": 1, "counts": {"mcp_server": 2, "label.shadow": 1}, "findings_recorded": 2,
            "findings_total": 2, "report_sha256": "00",
        }),
        EventKind::DiscoveryFinding => json!({
            "run": "dr_0123456789abcdef", "finding": "ag_0123456789abcdef", "type": "agent", "source": "code",
            "locations": ["/src/agent.py:3"], "summary": "agent `x` (crewai)", "label": "shadow",
        }),
        EventKind::AgentDiscovered => json!({
            "run": "dr_0123456789abcdef", "finding": "ag_0123456789abcdef", "name": "x", "kind": "agent",
            "framework": "crewai", "source": "code", "location": "/src/agent.py:3", "evidence": ["no match"],
        }),
        EventKind::AttestationExported => json!({
            "predicate_type": "https://custos.dev/attestation/agent-evidence/v1", "from_index": 0, "to_index": 9,
            "count": 3, "events_sha256": "00", "previous_size": 4,
        }),
        _ => json!({
            "kind": kind.as_str(),
            "text": "line\nbreak \"quoted\" \\ é € 😀 \u{1f}",
            "n": [0, -1, 1.5, 1e300, 9007199254740991i64],
            "nested": { "z": null, "a": true, "\u{1f600}": { "\u{fb33}": [] } },
            // UTF-16 order, which differs from UTF-8 order here: U+1F600 sorts before U+FB33.
            "order": { "\u{fb33}": 1, "\u{1f600}": 2, "\u{20ac}": 3, "\r": 4, "\u{ffff}": 5 },
        }),
    }
}

fn event(kind: EventKind, agent: bool) -> Event {
    let agent = agent.then(|| "payments/refund-bot".parse().unwrap());
    let mut ev =
        Event::from_parts(kind, Actor::user("alice@example.com".parse().unwrap()), agent, data_for(kind)).unwrap();
    ev.ts = ts();
    ev
}

/// A canonical entry, as text, for the rejection tests.
fn good() -> String {
    String::from_utf8(Entry::from_event(&event(EventKind::PolicyProposed, true)).unwrap().into_bytes()).unwrap()
}

#[test]
fn every_kind_round_trips() {
    assert_eq!(EventKind::ALL.len(), 32);
    for &kind in EventKind::ALL {
        for agent in [false, true] {
            let ev = event(kind, agent);
            let entry = Entry::from_event(&ev).unwrap();
            assert_eq!(entry.as_bytes(), canonical::to_vec(&ev).unwrap());
            assert_eq!(Entry::parse(entry.as_bytes()).unwrap(), ev, "{kind}");
            let text = String::from_utf8(entry.as_bytes().to_vec()).unwrap();
            assert!(text.contains(&format!("\"kind\":\"{kind}\"")), "{text}");
            assert_eq!(text.contains("\"agent\":"), agent);
        }
    }
    let payload = KeyRotated { verifier_key: "k+00000000+AA==".into(), previous: None, reason: "first key".into() };
    let mut ev = Event::new(Actor::system(), None, &payload).unwrap();
    ev.ts = ts();
    let back = Entry::parse(Entry::from_event(&ev).unwrap().as_bytes()).unwrap();
    assert_eq!(back.payload::<KeyRotated>().unwrap(), payload);
    assert_eq!(back, ev);
}

#[test]
fn the_entry_of_a_fixed_event_is_stable() {
    // A change here changes every leaf hash of every ledger: it must be deliberate.
    let mut ev = Event::from_parts(
        EventKind::GatewayDecision,
        Actor::system(),
        Some("a/b".parse().unwrap()),
        json!({"z": 1, "a": [true, null, 0.5], "é": "x"}),
    )
    .unwrap();
    ev.ts = ts();
    assert_eq!(
        String::from_utf8(Entry::from_event(&ev).unwrap().into_bytes()).unwrap(),
        r#"{"actor":{"id":"custos","type":"system"},"agent":"a/b","data":{"a":[true,null,0.5],"z":1,"é":"x"},"kind":"gateway.decision","ts":"2026-11-21T10:00:00.123456Z","v":1}"#
    );
}

/// Whitespace inserted at any position outside a string, of any of the four JSON kinds.
#[test]
fn whitespace_anywhere_is_refused() {
    let good = good();
    assert!(Entry::parse(good.as_bytes()).is_ok());
    let bytes = good.as_bytes();
    let mut in_string = false;
    let mut escaped = false;
    let mut tried = 0;
    for at in 0..=bytes.len() {
        if !in_string {
            for ws in [" ", "\n", "\t", "\r"] {
                let changed = format!("{}{ws}{}", &good[..at], &good[at..]);
                assert!(Entry::parse(changed.as_bytes()).is_err(), "accepted {ws:?} at {at}: {changed}");
                tried += 1;
            }
        }
        if let Some(&b) = bytes.get(at) {
            match (in_string, escaped, b) {
                (true, true, _) => escaped = false,
                (true, false, b'\\') => escaped = true,
                (_, false, b'"') => in_string = !in_string,
                _ => {}
            }
        }
    }
    assert!(tried > 100, "{tried}");
}

#[test]
fn other_spellings_of_the_same_event_are_refused() {
    let good = good();
    let cases = [
        ("an escaped letter", good.replacen("\"kind\"", "\"\\u006bind\"", 1)),
        ("an escaped solidus", good.replacen("payments/refund-bot", "payments\\/refund-bot", 1)),
        ("an escaped non-ASCII letter", good.replacen('é', "\\u00e9", 1)),
        ("an uppercase hex escape", good.replacen("\\u001f", "\\u001F", 1)),
        ("a control character written raw", good.replacen("\\u001f", "\u{1f}", 1)),
        ("a number with a fraction", good.replacen("\"v\":1", "\"v\":1.0", 1)),
        ("a number with an exponent", good.replacen("1e+300", "1E+300", 1)),
        ("a trailing newline", format!("{good}\n")),
        ("a byte order mark", format!("\u{feff}{good}")),
        (
            "members out of order",
            good.replacen(
                "{\"actor\":{\"id\":\"alice@example.com\",\"type\":\"user\"}",
                "{\"actor\":{\"type\":\"user\",\"id\":\"alice@example.com\"}",
                1,
            ),
        ),
        ("a duplicated member", good.replacen("\"v\":1}", "\"v\":1,\"v\":1}", 1)),
        ("seconds without microseconds", good.replacen(".123456Z", "Z", 1)),
        ("a timestamp with an offset", good.replacen("10:00:00.123456Z", "11:00:00.123456+01:00", 1)),
    ];
    for (what, changed) in cases {
        assert_ne!(changed, good, "{what}: the case did not change the entry");
        assert!(Entry::parse(changed.as_bytes()).is_err(), "{what} accepted: {changed}");
    }
}

#[test]
fn unknown_kinds_and_fields_are_refused() {
    let good = good();
    let cases = [
        (
            "an unknown kind",
            good.replacen("\"kind\":\"policy.proposed\",\"ts\"", "\"kind\":\"tool.exploded\",\"ts\"", 1),
        ),
        (
            "a kind in another case",
            good.replacen("\"kind\":\"policy.proposed\",\"ts\"", "\"kind\":\"Policy.Proposed\",\"ts\"", 1),
        ),
        ("an unknown top-level field", good.replacen("\"v\":1}", "\"v\":1,\"w\":2}", 1)),
        ("an unknown actor field", good.replacen("\"type\":\"user\"}", "\"type\":\"user\",\"x\":1}", 1)),
        ("an unknown actor type", good.replacen("\"type\":\"user\"", "\"type\":\"robot\"", 1)),
        ("a missing field", good.replacen(",\"v\":1}", "}", 1)),
        ("another version", good.replacen("\"v\":1}", "\"v\":2}", 1)),
        ("an invalid agent id", good.replacen("payments/refund-bot", "Payments/Refund Bot", 1)),
        (
            "data that is not an object",
            good.replacen("\"data\":{", "\"data\":[{", 1).replacen(",\"kind\"", "],\"kind\"", 1),
        ),
        ("not an object", "[]".to_string()),
        ("null", "null".to_string()),
    ];
    for (what, changed) in cases {
        assert_ne!(changed, good, "{what}: the case did not change the entry");
        assert!(Entry::parse(changed.as_bytes()).is_err(), "{what} accepted: {changed}");
    }
    assert!(matches!(
        Entry::parse(good.replacen("\"v\":1}", "\"v\":2}", 1).as_bytes()),
        Err(CoreError::UnsupportedVersion(2))
    ));
}

/// The limit is on the canonical bytes: exactly 64 KiB is an entry, one byte more is not, on
/// the way in and on the way back.
#[test]
fn the_size_limit_is_exact() {
    let with_padding = |len: usize| {
        let mut ev =
            Event::from_parts(EventKind::LlmCall, Actor::system(), None, json!({ "p": "x".repeat(len) })).unwrap();
        ev.ts = ts();
        ev
    };
    let base = canonical::to_vec(&with_padding(0)).unwrap().len();
    let fits = with_padding(MAX_ENTRY_BYTES - base);
    let entry = Entry::from_event(&fits).unwrap();
    assert_eq!(entry.len(), MAX_ENTRY_BYTES);
    assert_eq!(Entry::parse(entry.as_bytes()).unwrap(), fits);

    let over = with_padding(MAX_ENTRY_BYTES - base + 1);
    assert!(matches!(
        Entry::from_event(&over),
        Err(CoreError::EntryTooLarge { size, max: MAX_ENTRY_BYTES }) if size == MAX_ENTRY_BYTES + 1
    ));
    let bytes = canonical::to_vec(&over).unwrap();
    assert!(matches!(Entry::parse(&bytes), Err(CoreError::EntryTooLarge { .. })));
    // Oversize input is refused before it is parsed, whatever it holds.
    assert!(matches!(Entry::parse(&vec![b' '; MAX_ENTRY_BYTES + 1]), Err(CoreError::EntryTooLarge { .. })));
}

proptest! {
    #[test]
    fn entry_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Entry::parse(&bytes);
    }

    /// Any single-byte change to a canonical entry is refused or gives a different event that
    /// is itself canonical: never the same event from other bytes.
    #[test]
    fn single_byte_changes_never_alias(at in 0usize..1000, byte in any::<u8>()) {
        let good = good();
        let at = at % good.len();
        let mut bytes = good.clone().into_bytes();
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        if let Ok(ev) = Entry::parse(&bytes) {
            prop_assert_ne!(&ev, &event(EventKind::PolicyProposed, true));
            prop_assert_eq!(Entry::from_event(&ev).unwrap().into_bytes(), bytes);
        }
    }
}
