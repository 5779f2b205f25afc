//! Every refused operation: 409 (`illegal_transition` for the lifecycle rules, `conflict` for
//! the registry's own), the record unchanged, and nothing appended to the ledger.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::Server;

/// `POST path body` must be refused with 409 and `code`; the agent `id` (if given) must be
/// unchanged. Returns the message.
async fn refused_409(s: &Server, id: Option<&str>, path: &str, body: Value, code: &str) -> String {
    let before = match id {
        Some(id) => Some(s.agent(id).await),
        None => None,
    };
    let msg = s.refused(Method::POST, path, Some(&body), 409, code).await;
    if let (Some(id), Some(before)) = (id, before) {
        assert_eq!(s.agent(id).await, before, "{path}: a refused operation changed `{id}`");
    }
    msg
}

async fn op(s: &Server, id: &str, op: &str, code: &str) -> String {
    let path = format!("/api/v1/agents/{}/{op}", crate::support::enc(id));
    refused_409(s, Some(id), &path, json!({"reason": "should not be recorded"}), code).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_rules_refuse_illegal_transitions() {
    let s = Server::start().await;
    // registered, no owner
    s.register("x/no-owner", json!({})).await;
    let m = op(&s, "x/no-owner", "approve", "illegal_transition").await;
    assert!(m.contains("without an owner"), "{m}");
    // registered, with owner
    s.register("x/registered", json!({"owner": "alice"})).await;
    let m = op(&s, "x/registered", "suspend", "illegal_transition").await;
    assert!(m.contains("cannot suspend an agent that is registered"), "{m}");
    let m = op(&s, "x/registered", "resume", "illegal_transition").await;
    assert!(m.contains("cannot resume an agent that is registered"), "{m}");
    // active
    s.register("x/active", json!({"owner": "alice"})).await;
    s.lifecycle("x/active", "approve").await;
    let m = op(&s, "x/active", "approve", "illegal_transition").await;
    assert!(m.contains("already approved"), "{m}");
    let m = op(&s, "x/active", "resume", "illegal_transition").await;
    assert!(m.contains("not suspended"), "{m}");
    // suspended
    s.register("x/suspended", json!({"owner": "alice"})).await;
    s.lifecycle("x/suspended", "approve").await;
    s.lifecycle("x/suspended", "suspend").await;
    let m = op(&s, "x/suspended", "suspend", "illegal_transition").await;
    assert!(m.contains("already suspended"), "{m}");
    let m = op(&s, "x/suspended", "approve", "illegal_transition").await;
    assert!(m.contains("resume it instead"), "{m}");
    // retired
    s.register("x/retired", json!({"owner": "alice"})).await;
    s.lifecycle("x/retired", "retire").await;
    for o in ["approve", "suspend", "resume", "retire"] {
        let m = op(&s, "x/retired", o, "illegal_transition").await;
        assert!(m.contains("retirement is final"), "{o}: {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaned_agents_cannot_be_activated() {
    let s = Server::start().await;
    s.register("o/registered", json!({"owner": "alice"})).await;
    s.register("o/suspended", json!({"owner": "alice"})).await;
    s.lifecycle("o/suspended", "approve").await;
    s.lifecycle("o/suspended", "suspend").await;
    s.post("/api/v1/owners/alice/offboard", &json!({})).await.ok();
    let m = op(&s, "o/registered", "approve", "illegal_transition").await;
    assert!(m.contains("orphaned"), "{m}");
    let m = op(&s, "o/suspended", "resume", "illegal_transition").await;
    assert!(m.contains("orphaned"), "{m}");
    // Retiring an orphan is fine.
    s.lifecycle("o/registered", "retire").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_agent_cannot_be_updated_reowned_or_given_tokens() {
    let s = Server::start().await;
    s.register("r/bot", json!({"owner": "alice"})).await;
    s.lifecycle("r/bot", "retire").await;
    let before = s.agent("r/bot").await;
    let m = s.refused(Method::PATCH, "/api/v1/agents/r%2Fbot", Some(&json!({"purpose": "x"})), 409, "conflict").await;
    assert!(m.contains("retired"), "{m}");
    let m = refused_409(&s, Some("r/bot"), "/api/v1/agents/r%2Fbot/owner", json!({"owner": "bob"}), "conflict").await;
    assert!(m.contains("retired"), "{m}");
    let m = refused_409(&s, Some("r/bot"), "/api/v1/agents/r%2Fbot/tokens", json!({}), "conflict").await;
    assert!(m.contains("retired"), "{m}");
    assert_eq!(s.agent("r/bot").await, before);
    assert_eq!(s.get("/api/v1/agents/r%2Fbot/tokens").await.ok(), json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_conflicts_are_refused() {
    let s = Server::start().await;
    s.register("c/bot", json!({"owner": "alice"})).await;

    // Duplicate registration, even with other fields.
    let m = s
        .refused(Method::POST, "/api/v1/agents", Some(&json!({"id": "c/bot", "environment": "prod"})), 409, "conflict")
        .await;
    assert!(m.contains("already registered"), "{m}");

    // Revoking a revoked token; an unknown credential.
    let (_, cred) = s.issue("c/bot", json!({})).await;
    let path = format!("/api/v1/agents/c%2Fbot/tokens/{cred}/revoke");
    s.post(&path, &json!({})).await.ok();
    let m = refused_409(&s, Some("c/bot"), &path, json!({"reason": "again"}), "conflict").await;
    assert!(m.contains("already revoked"), "{m}");
    let tokens = s.get("/api/v1/agents/c%2Fbot/tokens").await.ok();
    assert_eq!(tokens[0]["revoked_reason"], "no reason given", "the first revocation stands");
    s.refused(
        Method::POST,
        "/api/v1/agents/c%2Fbot/tokens/cred_0000000000000000/revoke",
        Some(&json!({})),
        404,
        "unknown_credential",
    )
    .await;
    // A credential of another agent is not this agent's.
    s.register("c/other", json!({})).await;
    s.refused(
        Method::POST,
        &format!("/api/v1/agents/c%2Fother/tokens/{cred}/revoke"),
        Some(&json!({})),
        404,
        "unknown_credential",
    )
    .await;

    // Changing the owner to the current owner.
    let m = refused_409(&s, Some("c/bot"), "/api/v1/agents/c%2Fbot/owner", json!({"owner": "alice"}), "conflict").await;
    assert!(m.contains("already owned by"), "{m}");

    // Offboarding twice; naming an offboarded owner or sponsor.
    s.post("/api/v1/owners/bob/offboard", &json!({})).await.ok();
    let m = refused_409(&s, None, "/api/v1/owners/bob/offboard", json!({}), "conflict").await;
    assert!(m.contains("already offboarded"), "{m}");
    let m = s
        .refused(
            Method::POST,
            "/api/v1/agents",
            Some(&json!({"id": "c/new", "environment": "dev", "owner": "bob"})),
            409,
            "conflict",
        )
        .await;
    assert!(m.starts_with("owner:") && m.contains("offboarded"), "{m}");
    let m = s
        .refused(
            Method::POST,
            "/api/v1/agents",
            Some(&json!({"id": "c/new", "environment": "dev", "sponsor": "bob"})),
            409,
            "conflict",
        )
        .await;
    assert!(m.starts_with("sponsor:"), "{m}");
    s.get("/api/v1/agents/c%2Fnew").await.error(404, "unknown_agent");
    let m = refused_409(&s, Some("c/bot"), "/api/v1/agents/c%2Fbot/owner", json!({"owner": "bob"}), "conflict").await;
    assert!(m.starts_with("owner:"), "{m}");
    let m = s.refused(Method::PATCH, "/api/v1/agents/c%2Fbot", Some(&json!({"sponsor": "bob"})), 409, "conflict").await;
    assert!(m.starts_with("sponsor:"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_changes_nothing_is_refused() {
    let s = Server::start().await;
    s.register("n/bot", json!({"name": "N", "labels": ["a"], "environment": "prod"})).await;
    let before = s.agent("n/bot").await;
    for body in [
        json!({}),
        json!({"reason": "only a reason"}),
        json!({"name": "N", "environment": "prod", "risk_tier": "medium", "recert_interval_days": 90}),
        json!({"labels": ["a"]}),
        json!({"add_labels": ["a"]}),
        json!({"remove_labels": ["not-there"]}),
        json!({"clear_sponsor": true}),
    ] {
        let m = s.refused(Method::PATCH, "/api/v1/agents/n%2Fbot", Some(&body), 400, "invalid").await;
        assert!(m.contains("nothing to change"), "{body}: {m}");
    }
    assert_eq!(s.agent("n/bot").await, before);
}
