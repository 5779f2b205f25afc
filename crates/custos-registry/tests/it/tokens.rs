//! The in-memory verifier follows every lifecycle change at once.

use custos_core::{
    Timestamp,
    registry::{AgentState, LifecycleOp},
};
use custos_registry::{AuthError, IssueToken, Reason, Registry};

use crate::support::*;

fn later(secs: i64) -> Timestamp {
    Timestamp::from_jiff(Timestamp::now().as_jiff().checked_add(jiff::SignedDuration::from_secs(secs)).unwrap())
}

#[test]
fn verification_follows_the_lifecycle() {
    runtime().block_on(async {
        let f = fixture().await;
        let r = &f.registry;
        let v = r.verifier();
        let id = "ops/bot".parse().unwrap();
        r.register(&alice(), register("ops/bot", Some("bob"))).await.unwrap();
        let t = r.issue_token(&alice(), &id, IssueToken::default()).await.unwrap().value;
        let token = t.token.clone();
        assert!(token.starts_with("cst_") && token.len() == 68);
        // Registered, not approved: known but refused.
        let e = v.verify(&token).unwrap_err();
        assert!(matches!(e, AuthError::AgentNotActive { state: AgentState::Registered, .. }) && e.is_forbidden());
        r.lifecycle(&alice(), &id, LifecycleOp::Approve, Reason::default()).await.unwrap();
        let ok = v.verify(&token).unwrap();
        assert_eq!((ok.agent.as_str(), ok.credential.as_str()), ("ops/bot", t.credential.id.as_str()));
        r.lifecycle(&alice(), &id, LifecycleOp::Suspend, Reason::default()).await.unwrap();
        assert!(matches!(v.verify(&token), Err(AuthError::AgentNotActive { state: AgentState::Suspended, .. })));
        r.lifecycle(&alice(), &id, LifecycleOp::Resume, Reason::default()).await.unwrap();
        assert!(v.verify(&token).is_ok());
        // Expiry is checked against the time given.
        assert!(matches!(v.verify_at(&token, later(91 * 86_400)), Err(AuthError::Expired { .. })));
        r.revoke_token(&alice(), &id, &t.credential.id, Reason::default()).await.unwrap();
        assert_eq!(v.verify(&token), Err(AuthError::Unknown));

        let t2 = r.issue_token(&alice(), &id, IssueToken { ttl_seconds: Some(60), reason: None }).await.unwrap();
        assert!(v.verify(&t2.value.token).is_ok());
        assert!(matches!(v.verify_at(&t2.value.token, later(61)), Err(AuthError::Expired { .. })));
        r.lifecycle(&alice(), &id, LifecycleOp::Retire, Reason::default()).await.unwrap();
        assert_eq!(v.verify(&t2.value.token), Err(AuthError::Unknown));
        // Shape checks come first and cost nothing.
        for bad in ["", "cst_", "Bearer x", &token.to_uppercase(), &format!("{token}0"), &token.replace("cst_", "cst-")]
        {
            assert_eq!(v.verify(bad), Err(AuthError::Malformed), "{bad}");
        }
        // A well-formed token nobody issued.
        assert_eq!(v.verify(&format!("cst_{}", "0".repeat(64))), Err(AuthError::Unknown));
    });
}

#[test]
fn a_reopened_registry_knows_the_same_credentials_and_last_use() {
    runtime().block_on(async {
        let f = fixture().await;
        let r = &f.registry;
        let id = "ops/bot".parse().unwrap();
        r.register(&alice(), register("ops/bot", Some("bob"))).await.unwrap();
        r.lifecycle(&alice(), &id, LifecycleOp::Approve, Reason::default()).await.unwrap();
        let live = r.issue_token(&alice(), &id, IssueToken::default()).await.unwrap().value;
        let revoked = r.issue_token(&alice(), &id, IssueToken::default()).await.unwrap().value;
        r.revoke_token(&alice(), &id, &revoked.credential.id, Reason::default()).await.unwrap();
        assert!(r.verifier().verify(&live.token).is_ok());
        assert_eq!(r.flush_usage().await.unwrap(), 1);
        assert_eq!(r.flush_usage().await.unwrap(), 0, "a use is written once");
        let listed = r.tokens(&id).await.unwrap();
        assert!(listed.iter().find(|c| c.id == live.credential.id).unwrap().last_used_at.is_some());
        assert!(listed.iter().find(|c| c.id == revoked.credential.id).unwrap().last_used_at.is_none());

        let again = Registry::open(f.store.clone()).await.unwrap();
        let v = again.verifier();
        assert_eq!(v.len(), 1);
        assert!(v.verify(&live.token).is_ok());
        assert_eq!(v.verify(&revoked.token), Err(AuthError::Unknown));
    });
}
