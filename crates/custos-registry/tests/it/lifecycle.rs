//! The lifecycle rules through the service: each operation appends exactly one event; each
//! refusal appends nothing and says why.

use custos_core::{
    EventKind,
    registry::{AgentState, LifecycleOp, TransitionError},
};
use custos_registry::{ChangeOwner, IssueToken, Reason, RegistryError, UpdateAgent};

use crate::support::*;

fn reason(r: &str) -> Reason {
    Reason { reason: Some(r.into()) }
}

#[test]
fn a_full_lifecycle_is_one_event_per_operation() {
    runtime().block_on(async {
        let f = fixture().await;
        let id = "payments/refund-bot".parse().unwrap();
        let r = &f.registry;
        let o = r.register(&alice(), register("payments/refund-bot", None)).await.unwrap();
        assert_eq!((o.event.index, o.value.state), (0, AgentState::Registered));

        // No owner: approval is refused, nothing appended.
        let e = r.lifecycle(&alice(), &id, LifecycleOp::Approve, reason("go")).await.unwrap_err();
        assert!(matches!(e, RegistryError::Refused { why: TransitionError::NoOwner { .. }, .. }), "{e}");
        assert_eq!(f.store.size().await.unwrap(), 1);

        r.change_owner(&alice(), &id, ChangeOwner { owner: "bob@example.com".parse().unwrap(), reason: None })
            .await
            .unwrap();
        let a = r.lifecycle(&alice(), &id, LifecycleOp::Approve, reason("reviewed")).await.unwrap();
        assert_eq!(a.value.state, AgentState::Active);
        let s = r.lifecycle(&alice(), &id, LifecycleOp::Suspend, reason("incident")).await.unwrap();
        assert_eq!(s.value.state, AgentState::Suspended);
        let e = r.lifecycle(&alice(), &id, LifecycleOp::Suspend, reason("again")).await.unwrap_err();
        assert!(e.to_string().contains("already suspended"), "{e}");
        r.lifecycle(&alice(), &id, LifecycleOp::Resume, reason("fixed")).await.unwrap();
        let upd = UpdateAgent { purpose: Some("refunds under 100 EUR".into()), ..Default::default() };
        r.update(&alice(), &id, upd).await.unwrap();
        let t = r.issue_token(&alice(), &id, IssueToken::default()).await.unwrap();
        let ret = r.lifecycle(&alice(), &id, LifecycleOp::Retire, reason("replaced")).await.unwrap();
        assert_eq!(ret.value.state, AgentState::Retired);
        for op in [LifecycleOp::Resume, LifecycleOp::Approve, LifecycleOp::Retire, LifecycleOp::Suspend] {
            let e = r.lifecycle(&alice(), &id, op, reason("no")).await.unwrap_err();
            assert!(e.to_string().contains("retirement is final"), "{op}: {e}");
        }

        let events = events(&*f.store).await;
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        use EventKind::*;
        assert_eq!(
            kinds,
            [
                AgentRegistered,
                AgentOwnerChanged,
                AgentStateChanged,
                AgentStateChanged,
                AgentStateChanged,
                AgentUpdated,
                CredentialIssued,
                AgentStateChanged
            ]
        );
        assert!(events.iter().all(|e| e.actor.id.as_str() == "alice" && e.agent.as_ref() == Some(&id)));
        // Retirement names the credentials it revoked, and the projection agrees.
        assert_eq!(events[7].data["revoked_credentials"], serde_json::json!([t.value.credential.id]));
        assert_eq!(events[7].data["reason"], "replaced");
        let tokens = r.tokens(&id).await.unwrap();
        assert!(tokens[0].revoked_at.is_some());
        assert!(tokens[0].revoked_reason.as_deref().unwrap().contains("retired"));
        // The token never reaches the ledger: only its digest does.
        let all: String = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        assert!(!all.contains(&t.value.token));
    });
}

#[test]
fn offboarding_orphans_until_reassigned() {
    runtime().block_on(async {
        let f = fixture().await;
        let r = &f.registry;
        for id in ["a/one", "a/two", "a/three"] {
            r.register(&alice(), register(id, Some("carol"))).await.unwrap();
        }
        r.register(&alice(), register("b/other", Some("dave"))).await.unwrap();
        let three = "a/three".parse().unwrap();
        r.lifecycle(&alice(), &three, LifecycleOp::Retire, reason("gone")).await.unwrap();
        let before = f.store.size().await.unwrap();
        let o = r.offboard(&alice(), &"carol".parse().unwrap(), reason("left the company")).await.unwrap();
        assert_eq!(f.store.size().await.unwrap(), before + 1);
        // Retired agents are not orphaned; live ones are.
        let ids: Vec<_> = o.value.agents.iter().map(|a| a.to_string()).collect();
        assert_eq!(ids, ["a/one", "a/two"]);
        let one = "a/one".parse().unwrap();
        assert!(r.get(&one).await.unwrap().orphaned);
        let e = r.lifecycle(&alice(), &one, LifecycleOp::Approve, reason("x")).await.unwrap_err();
        assert!(matches!(e, RegistryError::Refused { why: TransitionError::Orphaned { .. }, .. }), "{e}");
        // An offboarded owner can be neither named again nor offboarded twice.
        assert!(r.offboard(&alice(), &"carol".parse().unwrap(), reason("again")).await.is_err());
        assert!(r.register(&alice(), register("a/four", Some("carol"))).await.is_err());
        assert!(
            r.change_owner(&alice(), &one, ChangeOwner { owner: "carol".parse().unwrap(), reason: None })
                .await
                .is_err()
        );
        assert_eq!(f.store.size().await.unwrap(), before + 1);
        // Reassigning ends the orphaning.
        r.change_owner(&alice(), &one, ChangeOwner { owner: "erin".parse().unwrap(), reason: None }).await.unwrap();
        assert!(!r.get(&one).await.unwrap().orphaned);
        r.lifecycle(&alice(), &one, LifecycleOp::Approve, reason("new owner reviewed")).await.unwrap();
        // The offboarding is in each orphaned agent's history.
        let h = r.history(&"a/two".parse().unwrap(), None, 100).await.unwrap();
        assert_eq!(h.events.last().unwrap().event["kind"], "owner.offboarded");
        let owners = r.owners().await.unwrap();
        let carol = owners.iter().find(|o| o.owner.as_str() == "carol").unwrap();
        assert!(carol.offboarded_at.is_some());
        assert_eq!(carol.orphaned, 1);
    });
}

#[test]
fn refusals_append_nothing() {
    runtime().block_on(async {
        let f = fixture().await;
        let r = &f.registry;
        let id = "x/y".parse().unwrap();
        r.register(&alice(), register("x/y", Some("bob"))).await.unwrap();
        let n = f.store.size().await.unwrap();
        let dup = r.register(&alice(), register("x/y", Some("bob"))).await.unwrap_err();
        assert!(dup.to_string().contains("already registered"), "{dup}");
        let same = ChangeOwner { owner: "bob".parse().unwrap(), reason: None };
        assert!(r.change_owner(&alice(), &id, same).await.unwrap_err().to_string().contains("already owned"));
        let nothing = UpdateAgent { purpose: Some("test agent".into()), ..Default::default() };
        assert!(r.update(&alice(), &id, nothing).await.unwrap_err().to_string().contains("nothing to change"));
        let unknown = r.get(&"no/such".parse().unwrap()).await.unwrap_err();
        assert!(matches!(unknown, RegistryError::UnknownAgent(_)));
        let bad_ttl = IssueToken { ttl_seconds: Some(0), reason: None };
        assert!(r.issue_token(&alice(), &id, bad_ttl).await.unwrap_err().to_string().contains("ttl_seconds"));
        let bad_days = UpdateAgent { recert_interval_days: Some(0), ..Default::default() };
        assert!(r.update(&alice(), &id, bad_days).await.unwrap_err().to_string().contains("recert_interval_days"));
        let long = UpdateAgent { name: Some("n".repeat(129)), ..Default::default() };
        assert!(r.update(&alice(), &id, long).await.unwrap_err().to_string().starts_with("name:"));
        let actor = alice();
        let revoke = r.revoke_token(&actor, &id, "cred_0000000000000000", Reason::default()).await;
        assert!(matches!(revoke.unwrap_err(), RegistryError::UnknownCredential { .. }));
        assert_eq!(f.store.size().await.unwrap(), n);
    });
}
