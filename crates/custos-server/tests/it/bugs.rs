//! Tests that demonstrate bugs in the non-test code. Each asserts the behaviour the code
//! documents (or the standard requires) and FAILS until the bug is fixed; the doc comment says
//! where the bug is.

use custos_core::{
    Actor, ActorId, Event,
    registry::{AgentRegistered, CredentialIssued, Environment, RiskTier},
};
use custos_registry::AuthError;
use reqwest::{Method, header};
use serde_json::json;

use crate::support::{ADMIN_TOKEN, Resp, Server};

/// BUG (crates/custos-server/src/lib.rs:145, `router`): only unmatched *paths* get the JSON
/// error (`.fallback`); a known path with an unknown method gets axum's default 405 with an
/// empty body and no Content-Type, although src/error.rs promises "one JSON shape ... for
/// every failure ... so a client never has to parse plain text". Fix: also set
/// `.method_not_allowed_fallback(...)` returning an `ApiError`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_method_not_allowed_is_not_a_json_error() {
    let s = Server::start().await;
    for (method, path) in [
        (Method::PUT, "/api/v1/agents/a%2Fb"),
        (Method::DELETE, "/api/v1/agents"),
        (Method::GET, "/api/v1/agents/a%2Fb/approve"),
    ] {
        let r = s.send(method.clone(), path, None, None).await;
        assert_eq!(r.status.as_u16(), 405, "{method} {path}");
        assert!(r.headers.contains_key(header::ALLOW), "{method} {path}: no Allow header");
        let ct = r.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("<none>");
        assert!(
            ct.starts_with("application/json"),
            "{method} {path}: 405 with Content-Type {ct} and body {:?}, not the JSON error shape",
            r.text
        );
        let body = r.json();
        assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string(), "{body}");
    }
}

/// BUG (crates/custos-registry/src/lib.rs:202-213, `Registry::lifecycle`): retiring lists every
/// unrevoked credential id in ONE `agent.state_changed` event (`revoked_credentials`). Each id
/// costs ~24 bytes of the 64 KiB entry limit (custos-core/src/event.rs:17), and expired tokens
/// are never revoked so they count too: an agent with more than ~2,700 unrevoked tokens can
/// never be retired. The append fails with `entry is N bytes, over the 65536-byte limit`,
/// reported as 400 `invalid` (as if the request were wrong), and the agent's tokens keep
/// working. Retirement is the documented kill switch ("Retire an agent for good, revoking
/// every token"), so it must not depend on how many tokens were issued.
///
/// Setup: 2,800 `credential.issued` events are appended straight to the store (the same events
/// `POST .../tokens` appends; over HTTP this takes ~8 s, and gives the same result).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_an_agent_with_many_tokens_cannot_be_retired() {
    let s = Server::start().await;
    s.register("many/tokens", json!({"owner": "alice"})).await;
    s.lifecycle("many/tokens", "approve").await;
    let (live, _) = s.issue("many/tokens", json!({})).await;
    let mut pending = Vec::new();
    for i in 0..2800u64 {
        let p = CredentialIssued {
            id: format!("cred_{i:016x}"),
            sha256: format!("{i:064x}"),
            expires_at: None,
            reason: "issued by CI".into(),
        };
        let ev = Event::new(Actor::user(ActorId::admin()), Some("many/tokens".parse().unwrap()), &p).unwrap();
        pending.push(s.store.submit(ev));
    }
    for p in pending {
        p.await.unwrap();
    }
    let r = s.post("/api/v1/agents/many%2Ftokens/retire", &json!({"reason": "compromised"})).await;
    let still_works = s.tokens.verify(&live).is_ok();
    assert_eq!(
        r.status.as_u16(),
        200,
        "retire was refused: {}; the agent's token still authenticates: {still_works}",
        r.text
    );
    assert_eq!(s.agent("many/tokens").await["state"], "retired");
    assert!(matches!(s.tokens.verify(&live), Err(AuthError::Unknown | AuthError::AgentNotActive { .. })));
}

/// BUG (crates/custos-registry/src/lib.rs:220-245, `Registry::offboard`): the `owner.offboarded`
/// event lists every orphaned agent id in ONE entry; with ids of up to 128 bytes, an owner of
/// ~500 agents (or ~6,000 short ids) exceeds the 64 KiB entry limit, so the owner can never be
/// offboarded: 400 `invalid` "entry is N bytes, over the 65536-byte limit", nothing orphaned.
///
/// Setup: 520 registrations appended straight to the store (the events `POST /agents` appends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_an_owner_of_many_agents_cannot_be_offboarded() {
    let s = Server::start().await;
    let mut pending = Vec::new();
    for i in 0..520 {
        let id = format!("team/{i:04}-{}", "x".repeat(118));
        assert_eq!(id.len(), 128);
        let p = AgentRegistered {
            name: id.clone(),
            owner: Some("big-team".parse().unwrap()),
            sponsor: None,
            purpose: String::new(),
            environment: Environment::Dev,
            risk_tier: RiskTier::Low,
            labels: Default::default(),
            recert_interval_days: 90,
            provenance: vec![],
            reason: "bulk import".into(),
        };
        pending.push(s.store.submit(Event::new(Actor::user(ActorId::admin()), Some(id.parse().unwrap()), &p).unwrap()));
    }
    for p in pending {
        p.await.unwrap();
    }
    let r = s.post("/api/v1/owners/big-team/offboard", &json!({"reason": "team disbanded"})).await;
    assert_eq!(r.status.as_u16(), 200, "offboarding was refused: {}", r.text);
    assert_eq!(s.get("/api/v1/owners").await.ok()[0]["orphaned"], 520);
}

/// BUG (minor; crates/custos-server/src/lib.rs:218, `require_admin`): the authentication scheme
/// is matched case-sensitively (`strip_prefix("Bearer ")`), but RFC 9110 §11.1 (and RFC 6750,
/// which builds on it) make the scheme a case-insensitive token: `Authorization: bearer
/// <admin token>` with the right token is answered 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bug_the_bearer_scheme_is_matched_case_sensitively() {
    let s = Server::start().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = s
            .http
            .get(s.url("/api/v1/ledger"))
            .header(header::AUTHORIZATION, format!("{scheme} {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        let r = Resp::of(r).await;
        assert_eq!(r.status.as_u16(), 200, "scheme `{scheme}` with the right token: {}", r.text);
    }
}
