//! The registry's domain: the lifecycle table, the fold, and typed payload checks.

use custos_core::{
    Actor, Event, EventKind, Timestamp,
    registry::{
        Agent, AgentChange, AgentOwnerChanged, AgentRegistered, AgentState, AgentStateChanged, Label, LifecycleOp,
        OwnerId, TransitionError, add_days, transition,
    },
};
use serde_json::json;

fn agent(state: AgentState, owner: Option<&str>, orphaned: bool) -> Agent {
    let ts: Timestamp = "2026-01-01T00:00:00.000000Z".parse().unwrap();
    let p = AgentRegistered {
        name: "x".into(),
        owner: owner.map(|o| o.parse().unwrap()),
        sponsor: None,
        purpose: String::new(),
        environment: "dev".parse().unwrap(),
        risk_tier: "low".parse().unwrap(),
        labels: Default::default(),
        recert_interval_days: 30,
        provenance: vec![],
        reason: "r".into(),
    };
    let mut a = Agent::registered("a/b".parse().unwrap(), 1, ts, &p);
    a.state = state;
    a.orphaned = orphaned;
    a
}

#[test]
fn the_lifecycle_table() {
    use AgentState::*;
    use LifecycleOp::*;
    let cases = [
        (Registered, Approve, Ok(Active)),
        (Registered, Suspend, Err(())),
        (Registered, Resume, Err(())),
        (Registered, Retire, Ok(Retired)),
        (Active, Approve, Err(())),
        (Active, Suspend, Ok(Suspended)),
        (Active, Resume, Err(())),
        (Active, Retire, Ok(Retired)),
        (Suspended, Approve, Err(())),
        (Suspended, Suspend, Err(())),
        (Suspended, Resume, Ok(Active)),
        (Suspended, Retire, Ok(Retired)),
        (Retired, Approve, Err(())),
        (Retired, Suspend, Err(())),
        (Retired, Resume, Err(())),
        (Retired, Retire, Err(())),
        (Discovered, Approve, Err(())),
    ];
    for (state, op, want) in cases {
        let got = transition(&agent(state, Some("alice"), false), op).map_err(drop);
        assert_eq!(got, want, "{state} --{op}-->");
    }
    // Activation needs an owner who is still here; retiring does not.
    let e = transition(&agent(Registered, None, false), Approve).unwrap_err();
    assert_eq!(e, TransitionError::NoOwner { op: Approve });
    assert!(e.to_string().contains("without an owner"));
    let e = transition(&agent(Suspended, Some("alice"), true), Resume).unwrap_err();
    assert!(matches!(e, TransitionError::Orphaned { .. }) && e.to_string().contains("`alice` was offboarded"));
    assert_eq!(transition(&agent(Active, None, true), Retire), Ok(Retired));
    assert!(transition(&agent(Retired, Some("a"), false), Resume).unwrap_err().to_string().contains("final"));
}

#[test]
fn the_fold_updates_owner_state_and_recertification() {
    let mut a = agent(AgentState::Registered, None, true);
    let t1: Timestamp = "2026-02-01T00:00:00.000000Z".parse().unwrap();
    a.apply(
        5,
        t1,
        &AgentChange::OwnerChanged(AgentOwnerChanged { from: None, to: "bob".parse().unwrap(), reason: "r".into() }),
    );
    assert_eq!((a.owner.as_ref().map(OwnerId::as_str), a.orphaned, a.last_index), (Some("bob"), false, 5));
    let t2: Timestamp = "2026-03-01T00:00:00.000000Z".parse().unwrap();
    let approve = AgentStateChanged {
        op: LifecycleOp::Approve,
        from: AgentState::Registered,
        to: AgentState::Active,
        reason: "ok".into(),
        revoked_count: 0,
        revoked_credentials: vec![],
    };
    a.apply(6, t2, &AgentChange::StateChanged(approve));
    // Approval certifies: the next recertification is due one interval later.
    assert_eq!((a.state, a.certified_at, a.recert_due), (AgentState::Active, t2, add_days(t2, 30)));
    assert!(!a.overdue(t2));
    assert!(a.overdue(add_days(t2, 31)));
    a.apply(7, t2, &AgentChange::Orphaned);
    assert!(a.orphaned);
}

#[test]
fn registry_payloads_are_typed() {
    let actor = Actor::system;
    let bad = [
        (EventKind::AgentStateChanged, json!({"op": "explode", "from": "active", "to": "retired", "reason": "r"})),
        (EventKind::AgentStateChanged, json!({"op": "retire", "from": "active", "to": "retired"})),
        (
            EventKind::AgentRegistered,
            json!({"name": "x", "environment": "moon", "risk_tier": "low", "purpose": "",
            "labels": [], "recert_interval_days": 1, "reason": "r"}),
        ),
        (
            EventKind::AgentRegistered,
            json!({"name": "x", "environment": "dev", "risk_tier": "low", "purpose": "",
            "labels": ["Not A Label"], "recert_interval_days": 1, "reason": "r"}),
        ),
        (EventKind::OwnerOffboarded, json!({"owner": "has space", "orphaned_count": 0, "agents": [], "reason": "r"})),
        (EventKind::CredentialIssued, json!({"id": "c", "sha256": "x", "reason": "r", "token": "cst_leak"})),
    ];
    for (kind, data) in bad {
        let e = Event::from_parts(kind, actor(), None, data.clone()).unwrap_err();
        assert!(e.to_string().contains(kind.as_str()), "{kind}: {e}");
    }
    assert!("pci".parse::<Label>().is_ok());
    for l in ["", "PCI", "-x", "a b", &"x".repeat(64)] {
        assert!(l.parse::<Label>().is_err(), "{l:?}");
    }
}
