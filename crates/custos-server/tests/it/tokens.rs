//! Tokens issued over HTTP, checked by the registry's in-memory verifier (what the gateway asks
//! on every request): lifecycle changes and revocations made over HTTP take effect at once.

use std::time::{Duration, Instant};

use custos_core::{AgentId, Timestamp, registry::AgentState};
use custos_registry::{AuthError, Authenticated};
use serde_json::json;

use crate::support::Server;

fn agent(id: &str) -> AgentId {
    id.parse().unwrap()
}

#[track_caller]
fn not_active(r: Result<Authenticated, AuthError>, state: AgentState) {
    let e = r.unwrap_err();
    assert!(e.is_forbidden(), "{e:?}");
    match e {
        AuthError::AgentNotActive { state: s, .. } => assert_eq!(s, state),
        other => panic!("expected AgentNotActive, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_changes_made_over_http_reach_the_verifier_at_once() {
    let s = Server::start().await;
    let v = s.state.registry.verifier();
    s.register("k/bot", json!({"owner": "alice"})).await;

    // A registered (unapproved) agent's token is known but refused.
    let (early, early_cred) = s.issue("k/bot", json!({})).await;
    not_active(v.verify(&early), AgentState::Registered);

    s.lifecycle("k/bot", "approve").await;
    let (token, cred) = s.issue("k/bot", json!({})).await;
    let ok = v.verify(&token).unwrap();
    assert_eq!((&ok.agent, &ok.credential), (&agent("k/bot"), &cred));
    // The verifier hands over the agent's current record: the policy principal.
    assert_eq!((ok.record.state, ok.record.owner.as_ref().map(|o| o.as_str())), (AgentState::Active, Some("alice")));
    assert_eq!(v.verify(&early).unwrap().credential, early_cred, "approval activates earlier tokens");
    // The handle kept from before the registry went into the state sees the same thing.
    assert_eq!(s.tokens.verify(&token).unwrap(), ok);

    s.lifecycle("k/bot", "suspend").await;
    not_active(v.verify(&token), AgentState::Suspended);
    not_active(s.tokens.verify(&token), AgentState::Suspended);
    // A token issued while suspended does not work either.
    let (while_suspended, _) = s.issue("k/bot", json!({})).await;
    not_active(v.verify(&while_suspended), AgentState::Suspended);

    s.lifecycle("k/bot", "resume").await;
    let again = v.verify(&token).unwrap();
    assert_eq!((&again.agent, &again.credential), (&ok.agent, &ok.credential));
    // The record it hands over is the current one (resumed after the suspension).
    assert!(again.record.last_index > ok.record.last_index);
    v.verify(&while_suspended).unwrap();

    // Revocation: checked right after the response, with no wait at all.
    let r = s.post(&format!("/api/v1/agents/k%2Fbot/tokens/{cred}/revoke"), &json!({})).await;
    let answered = Instant::now();
    assert_eq!(v.verify(&token), Err(AuthError::Unknown));
    assert!(answered.elapsed() < Duration::from_secs(1));
    r.ok();
    // The others still work.
    v.verify(&early).unwrap();

    // Retirement: every token stops, for good.
    s.lifecycle("k/bot", "retire").await;
    for t in [&early, &while_suspended, &token] {
        match v.verify(t) {
            Err(AuthError::Unknown) | Err(AuthError::AgentNotActive { state: AgentState::Retired, .. }) => {}
            other => panic!("a retired agent's token: {other:?}"),
        }
    }
    assert!(v.is_empty(), "no live credential is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_expire_and_are_bound_to_their_agent() {
    let s = Server::start().await;
    let v = s.state.registry.verifier();
    for id in ["e/one", "e/two"] {
        s.register(id, json!({"owner": "alice"})).await;
        s.lifecycle(id, "approve").await;
    }
    let (short, short_cred) = s.issue("e/one", json!({"ttl_seconds": 1})).await;
    let (long, _) = s.issue("e/two", json!({"ttl_seconds": 3600})).await;
    assert_eq!(v.verify(&short).unwrap().agent, agent("e/one"));
    assert_eq!(v.verify(&long).unwrap().agent, agent("e/two"));

    let later = Timestamp::from_jiff(jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(2)).unwrap());
    match v.verify_at(&short, later) {
        Err(AuthError::Expired { agent: a, credential, .. }) => {
            assert_eq!(a, agent("e/one"));
            assert_eq!(credential, short_cred);
        }
        other => panic!("expected Expired, got {other:?}"),
    }
    assert_eq!(v.verify_at(&long, later).unwrap().agent, agent("e/two"));
    let much_later =
        Timestamp::from_jiff(jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(2)).unwrap());
    assert!(matches!(v.verify_at(&long, much_later), Err(AuthError::Expired { .. })));

    // Not tokens at all, and well-formed strangers.
    assert_eq!(v.verify(""), Err(AuthError::Malformed));
    assert_eq!(v.verify(&short[..20]), Err(AuthError::Malformed));
    assert_eq!(v.verify(&short.to_uppercase()), Err(AuthError::Malformed));
    assert_eq!(v.verify(&format!("cst_{}", "0".repeat(64))), Err(AuthError::Unknown));
    let mut flipped = long.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    assert_eq!(v.verify(&String::from_utf8(flipped).unwrap()), Err(AuthError::Unknown));
}
