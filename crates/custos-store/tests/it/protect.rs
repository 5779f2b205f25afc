//! The `protect` projection: pins, quarantine and approval of tools, first uses, held calls;
//! what it refuses; and that replay rebuilds it exactly.

use std::sync::Arc;

use custos_core::{
    Actor, Event,
    protect::{
        ApprovalDecided, ApprovalOutcome, ApprovalRequested, GatewayFirstUse, PinState, ToolApproved, ToolChange,
        ToolChanged, ToolPinned,
    },
};
use custos_store::{ProtectStore, Store, no_progress, sqlite::SqliteOptions};
use serde_json::json;

use crate::support::{create, runtime};

fn ev<P: custos_core::Payload>(agent: Option<&str>, p: &P) -> Event {
    Event::new(Actor::user("alice".parse().unwrap()), agent.map(|a| a.parse().unwrap()), p).unwrap()
}

#[test]
fn pins_uses_and_approvals_fold_and_replay_identically() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(create(&dir.path().join("l.db"), SqliteOptions::default()));
    runtime().block_on(async {
        let m1 = json!({"name": "read", "description": "v1"});
        let m2 = json!({"name": "read", "description": "v2"});
        let pinned =
            ToolPinned { server: "fs".into(), tool: "read".into(), digest: "sha256:01".into(), manifest: m1.clone() };
        store.append(ev(None, &pinned)).await.unwrap();
        let pins = store.tool_pins().await.unwrap();
        assert_eq!(pins.len(), 1);
        assert_eq!((pins[0].state, pins[0].digest.as_str(), &pins[0].manifest), (PinState::Pinned, "sha256:01", &m1));

        let changed = ToolChanged {
            server: "fs".into(),
            tool: "read".into(),
            change: ToolChange::Changed,
            old_digest: Some("sha256:01".into()),
            new_digest: Some("sha256:02".into()),
            diff: "@@ description\n- v1\n+ v2".into(),
            manifest: Some(m2.clone()),
        };
        store.append(ev(None, &changed)).await.unwrap();
        let p = &store.tool_pins().await.unwrap()[0];
        assert_eq!(p.state, PinState::Quarantined);
        assert_eq!(p.digest, "sha256:01", "the approved digest stays until a human approves");
        assert_eq!(p.pending_digest.as_deref(), Some("sha256:02"));
        assert_eq!(p.manifest, m1, "the approved manifest stays: it is what the next diff compares with");

        let approved = ToolApproved {
            server: "fs".into(),
            tool: "read".into(),
            digest: "sha256:02".into(),
            manifest: m2.clone(),
            note: Some("reviewed".into()),
        };
        store.append(ev(None, &approved)).await.unwrap();
        let p = &store.tool_pins().await.unwrap()[0];
        assert_eq!(
            (p.state, p.digest.as_str(), p.pending_digest.as_deref(), &p.manifest),
            (PinState::Pinned, "sha256:02", None, &m2)
        );

        // First use: once per (agent, tool), whatever is appended after.
        let fu = GatewayFirstUse { server: "fs".into(), tool: "read".into(), decision: "allow".into() };
        store.append(ev(Some("ops/bot"), &fu)).await.unwrap();
        store.append(ev(Some("ops/bot"), &fu)).await.unwrap();
        store.append(ev(Some("ops/other"), &fu)).await.unwrap();
        let uses = store.tool_uses().await.unwrap();
        assert_eq!(
            uses,
            vec![
                ("ops/bot".to_string(), "fs".to_string(), "read".to_string()),
                ("ops/other".to_string(), "fs".to_string(), "read".to_string())
            ]
        );

        // A held call, then its decision; a second decision is refused (and not appended).
        let req = ApprovalRequested {
            id: "apr_1".into(),
            server: "fs".into(),
            tool: "read".into(),
            policies: vec!["p0".into()],
            reason: Some("finance lead".into()),
            args_digest: "sha256:03".into(),
            args_preview: json!({"path": "string(4)"}),
            expires: "2030-01-01T00:00:00.000000Z".parse().unwrap(),
            session: Some("sha256:5e55".into()),
        };
        store.append(ev(Some("ops/bot"), &req)).await.unwrap();
        assert_eq!(store.approvals(true).await.unwrap().len(), 1);
        let decided = ApprovalDecided {
            id: "apr_1".into(),
            server: "fs".into(),
            tool: "read".into(),
            outcome: ApprovalOutcome::Approved,
            note: Some("ok".into()),
        };
        store.append(ev(Some("ops/bot"), &decided)).await.unwrap();
        let size = store.size().await.unwrap();
        let again = store.append(ev(Some("ops/bot"), &decided)).await;
        assert!(again.is_err(), "a decided approval cannot be decided again");
        assert_eq!(store.size().await.unwrap(), size, "the refused decision is not in the ledger");
        assert!(store.approvals(true).await.unwrap().is_empty());
        let a = store.approval("apr_1").await.unwrap().unwrap();
        assert_eq!(
            (a.state.as_str(), a.decided_by.as_deref(), a.note.as_deref()),
            ("approved", Some("alice"), Some("ok"))
        );
        assert_eq!(a.reason.as_deref(), Some("finance lead"));
        assert!(store.approval("apr_nope").await.unwrap().is_none());
        // The approved call counts in its session's history.
        assert_eq!(store.session_tools("sha256:5e55").await.unwrap(), vec![("fs".to_string(), "read".to_string())]);

        let live = store.projections_digest().await.unwrap();
        let report = store.replay(no_progress()).await.unwrap();
        assert_eq!(report.digest_after, live, "replay rebuilds exactly the live projections");
        assert_eq!(store.tool_pins().await.unwrap()[0].digest, "sha256:02");
        store.close().await.unwrap();
    });
}

#[test]
fn malformed_protection_events_are_refused_at_the_edge() {
    // Typed kinds: data that does not fit the payload is refused before it reaches the ledger.
    let bad = Event::from_parts(
        custos_core::EventKind::ToolPinned,
        Actor::system(),
        None,
        json!({"server": "fs", "tool": "read"}),
    );
    assert!(bad.is_err(), "a pin without digest and manifest is refused");
    let bad = Event::from_parts(
        custos_core::EventKind::ApprovalDecided,
        Actor::system(),
        None,
        json!({"id": "a", "server": "s", "tool": "t", "outcome": "maybe"}),
    );
    assert!(bad.is_err(), "an unknown outcome is refused");
}
