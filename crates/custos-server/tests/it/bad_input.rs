//! Bad input: a 4xx in the one JSON error shape, a message that names the field, and nothing
//! appended to the ledger.

use reqwest::{Method, header};
use serde_json::{Value, json};

use crate::support::{Resp, Server};

/// `method path` with `body` must be refused with `status`/`code`, name `field`, and append
/// nothing.
async fn bad(s: &Server, method: Method, path: &str, body: Option<Value>, status: u16, code: &str, field: &str) {
    let m = s.refused(method.clone(), path, body.as_ref(), status, code).await;
    assert!(m.contains(field), "{method} {path} {body:?}: the message does not name `{field}`: {m}");
}

fn register(extra: Value) -> Value {
    let mut body = json!({"id": "b/bot", "environment": "dev"});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_agents_and_bad_ids() {
    let s = Server::start().await;
    s.register("b/exists", json!({"owner": "alice"})).await;
    for (method, path, body) in [
        (Method::GET, "/api/v1/agents/no%2Fsuch", None),
        (Method::PATCH, "/api/v1/agents/no%2Fsuch", Some(json!({"purpose": "x"}))),
        (Method::POST, "/api/v1/agents/no%2Fsuch/owner", Some(json!({"owner": "alice"}))),
        (Method::POST, "/api/v1/agents/no%2Fsuch/approve", Some(json!({}))),
        (Method::POST, "/api/v1/agents/no%2Fsuch/suspend", Some(json!({}))),
        (Method::POST, "/api/v1/agents/no%2Fsuch/resume", Some(json!({}))),
        (Method::POST, "/api/v1/agents/no%2Fsuch/retire", Some(json!({}))),
        (Method::GET, "/api/v1/agents/no%2Fsuch/history", None),
        (Method::GET, "/api/v1/agents/no%2Fsuch/tokens", None),
        (Method::POST, "/api/v1/agents/no%2Fsuch/tokens", Some(json!({}))),
        (Method::POST, "/api/v1/agents/no%2Fsuch/tokens/cred_0000000000000000/revoke", Some(json!({}))),
    ] {
        bad(&s, method, path, body, 404, "unknown_agent", "no/such").await;
    }
    // An id that is not an agent id, in the path: 400, naming `id`, whatever the operation.
    for (method, path, body) in [
        (Method::GET, "/api/v1/agents/Bad%2FID", None),
        (Method::PATCH, "/api/v1/agents/Bad%2FID", Some(json!({"purpose": "x"}))),
        (Method::POST, "/api/v1/agents/Bad%2FID/approve", Some(json!({}))),
        (Method::POST, "/api/v1/agents/a%2F%2Fb/retire", Some(json!({}))),
        (Method::GET, "/api/v1/agents/has%20space/history", None),
        (Method::POST, "/api/v1/agents/Bad%2FID/tokens", Some(json!({}))),
    ] {
        let m = s.refused(method.clone(), path, body.as_ref(), 400, "invalid").await;
        assert!(m.starts_with("id:"), "{method} {path}: {m}");
    }
    // In the body.
    let long_id = "x".repeat(129);
    for id in ["Bad/ID", "", "a//b", "/a", "a/", "a b", long_id.as_str()] {
        bad(&s, Method::POST, "/api/v1/agents", Some(register(json!({"id": id}))), 400, "invalid", "id").await;
    }
    // Owners, labels, the list cursor.
    bad(&s, Method::POST, "/api/v1/agents", Some(register(json!({"owner": "has space"}))), 400, "invalid", "owner")
        .await;
    bad(&s, Method::POST, "/api/v1/agents", Some(register(json!({"owner": ""}))), 400, "invalid", "owner").await;
    bad(&s, Method::POST, "/api/v1/agents", Some(register(json!({"sponsor": "a\tb"}))), 400, "invalid", "sponsor")
        .await;
    bad(&s, Method::POST, "/api/v1/agents", Some(register(json!({"labels": ["UPPER"]}))), 400, "invalid", "labels")
        .await;
    bad(&s, Method::POST, "/api/v1/agents/b%2Fexists/owner", Some(json!({"owner": "a b"})), 400, "invalid", "owner")
        .await;
    bad(&s, Method::POST, "/api/v1/owners/has%20space/offboard", Some(json!({})), 400, "invalid", "owner").await;
    bad(&s, Method::GET, "/api/v1/agents?after=Bad%2FID", None, 400, "invalid", "after").await;
    bad(&s, Method::GET, "/api/v1/agents?owner=a%20b", None, 400, "invalid", "owner").await;
    bad(&s, Method::GET, "/api/v1/agents?label=NOPE", None, 400, "invalid", "label").await;
    assert_eq!(s.get("/api/v1/agents").await.ok()["agents"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_what_the_operation_takes() {
    let s = Server::start().await;
    s.register("b/exists", json!({"owner": "alice"})).await;
    let agents = "/api/v1/agents";
    // Unknown fields, named.
    bad(&s, Method::POST, agents, Some(register(json!({"colour": "red"}))), 400, "invalid", "colour").await;
    bad(&s, Method::PATCH, "/api/v1/agents/b%2Fexists", Some(json!({"state": "active"})), 400, "invalid", "state")
        .await;
    bad(&s, Method::POST, "/api/v1/agents/b%2Fexists/approve", Some(json!({"force": true})), 400, "invalid", "force")
        .await;
    bad(&s, Method::POST, "/api/v1/agents/b%2Fexists/tokens", Some(json!({"token": "cst_x"})), 400, "invalid", "token")
        .await;
    // Wrong enum values and types, named.
    bad(&s, Method::POST, agents, Some(register(json!({"environment": "moon"}))), 400, "invalid", "environment").await;
    bad(&s, Method::POST, agents, Some(register(json!({"risk_tier": "extreme"}))), 400, "invalid", "risk_tier").await;
    bad(
        &s,
        Method::PATCH,
        "/api/v1/agents/b%2Fexists",
        Some(json!({"environment": "PROD"})),
        400,
        "invalid",
        "environment",
    )
    .await;
    bad(
        &s,
        Method::POST,
        agents,
        Some(register(json!({"recert_interval_days": "ten"}))),
        400,
        "invalid",
        "recert_interval_days",
    )
    .await;
    bad(&s, Method::POST, agents, Some(register(json!({"labels": "pci"}))), 400, "invalid", "labels").await;
    bad(&s, Method::POST, agents, Some(json!({"id": "b/bot"})), 400, "invalid", "environment").await;
    bad(&s, Method::POST, "/api/v1/agents/b%2Fexists/owner", Some(json!({})), 400, "invalid", "owner").await;
    bad(
        &s,
        Method::POST,
        "/api/v1/agents/b%2Fexists/tokens",
        Some(json!({"ttl_seconds": -1})),
        400,
        "invalid",
        "ttl_seconds",
    )
    .await;
    // Not an object at all.
    for body in [json!([]), json!("x"), json!(null), json!(1)] {
        s.refused(Method::POST, agents, Some(&body), 400, "invalid").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_wrong_media_type_and_oversized_bodies() {
    let s = Server::start().await;
    s.register("b/exists", json!({"owner": "alice"})).await;
    let size = s.ledger_size().await;
    let raw = |method: Method, path: &str, ct: Option<&str>, body: Vec<u8>| {
        let mut req = s.request(method, path).body(body);
        if let Some(ct) = ct {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        async move { Resp::of(req.send().await.unwrap()).await }
    };
    let json_ct = Some("application/json");
    for body in [&b"{\"id\":"[..], b"{", b"not json", b"{\"id\": \"b/bot\", \"environment\": \"dev\",}", b""] {
        let r = raw(Method::POST, "/api/v1/agents", json_ct, body.to_vec()).await;
        let m = r.error(400, "invalid");
        assert!(m.starts_with("body:"), "{m}");
    }
    let r = raw(Method::POST, "/api/v1/agents/b%2Fexists/approve", json_ct, b"{".to_vec()).await;
    r.error(400, "invalid");
    // A field given twice is refused, naming it (not last-one-wins).
    let twice = br#"{"id": "b/bot", "environment": "dev", "id": "b/other"}"#.to_vec();
    let m = raw(Method::POST, "/api/v1/agents", json_ct, twice).await.error(400, "invalid");
    assert!(m.contains("duplicate field `id`"), "{m}");

    // No Content-Type, or another one: 415, for every operation that takes a body.
    let good = br#"{"id": "b/bot", "environment": "dev"}"#.to_vec();
    for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let r = raw(Method::POST, "/api/v1/agents", ct, good.clone()).await;
        let m = r.error(415, "unsupported_media_type");
        assert!(m.contains("application/json"), "{m}");
    }
    for (method, path) in [
        (Method::PATCH, "/api/v1/agents/b%2Fexists"),
        (Method::POST, "/api/v1/agents/b%2Fexists/owner"),
        (Method::POST, "/api/v1/agents/b%2Fexists/retire"),
        (Method::POST, "/api/v1/agents/b%2Fexists/tokens"),
        (Method::POST, "/api/v1/owners/alice/offboard"),
    ] {
        let r = raw(method.clone(), path, None, b"{}".to_vec()).await;
        r.error(415, "unsupported_media_type");
    }

    // Over 64 KiB: 413, however the bytes are spent.
    let big = json!({"id": "b/bot", "environment": "dev", "purpose": "x".repeat(64 * 1024)});
    let r = s.post("/api/v1/agents", &big).await;
    let m = r.error(413, "too_large");
    assert!(m.contains("64 KiB"), "{m}");
    let padded = format!("{{\"id\": \"b/bot\", \"environment\": \"dev\"{}}}", " ".repeat(64 * 1024));
    raw(Method::POST, "/api/v1/agents", json_ct, padded.into_bytes()).await.error(413, "too_large");
    let r = s.patch("/api/v1/agents/b%2Fexists", &json!({"purpose": "y".repeat(70_000)})).await;
    r.error(413, "too_large");
    // Just under the limit is parsed (and then refused for its content).
    let almost = json!({"id": "b/bot", "environment": "dev", "purpose": "x".repeat(60 * 1024)});
    let m = s.post("/api/v1/agents", &almost).await.error(400, "invalid");
    assert!(m.starts_with("purpose:"), "{m}");

    assert_eq!(s.ledger_size().await, size);
    s.get("/api/v1/agents/b%2Fbot").await.error(404, "unknown_agent");

    // The control: JSON with parameters on its media type is accepted.
    let r = raw(Method::POST, "/api/v1/agents", Some("application/json; charset=utf-8"), good).await;
    r.expect(201);
    assert_eq!(s.ledger_size().await, size + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_out_of_range() {
    let s = Server::start().await;
    s.register("b/exists", json!({"owner": "alice"})).await;
    let agents = "/api/v1/agents";
    let patch = "/api/v1/agents/b%2Fexists";
    let labels = |n: usize| json!((0..n).map(|i| format!("l{i}")).collect::<Vec<_>>());

    // At the limits: accepted (each checked on its own agent, then removed from the picture).
    s.register("b/limits", json!({"name": "n".repeat(128), "purpose": "p".repeat(2048), "labels": labels(64), "recert_interval_days": 3650, "reason": "r".repeat(2048)})).await;
    // One past: refused, naming the field.
    for (extra, field) in [
        (json!({"name": "n".repeat(129)}), "name"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "a\u{7}b"}), "name"),
        (json!({"purpose": "p".repeat(2049)}), "purpose"),
        (json!({"reason": "r".repeat(2049)}), "reason"),
        (json!({"labels": labels(65)}), "labels"),
        (json!({"recert_interval_days": 0}), "recert_interval_days"),
        (json!({"recert_interval_days": 3651}), "recert_interval_days"),
        (json!({"recert_interval_days": 4000}), "recert_interval_days"),
        (json!({"provenance": vec!["f"; 65]}), "provenance"),
    ] {
        bad(&s, Method::POST, agents, Some(register(extra)), 400, "invalid", field).await;
    }
    for (body, field) in [
        (json!({"name": "n".repeat(129)}), "name"),
        (json!({"purpose": "p".repeat(2049)}), "purpose"),
        (json!({"labels": labels(65)}), "labels"),
        (json!({"add_labels": labels(65)}), "add_labels"),
        (json!({"recert_interval_days": 0}), "recert_interval_days"),
        (json!({"recert_interval_days": 4000}), "recert_interval_days"),
        (json!({"sponsor": "bob", "clear_sponsor": true}), "sponsor"),
    ] {
        bad(&s, Method::PATCH, patch, Some(body), 400, "invalid", field).await;
    }
    // The label set an update would leave must fit too.
    s.patch(patch, &json!({"labels": labels(64)})).await.ok();
    bad(&s, Method::PATCH, patch, Some(json!({"add_labels": ["one-more"]})), 400, "invalid", "labels").await;

    let tokens = "/api/v1/agents/b%2Fexists/tokens";
    for ttl in [json!(0), json!(315_360_001u64)] {
        bad(&s, Method::POST, tokens, Some(json!({"ttl_seconds": ttl})), 400, "invalid", "ttl_seconds").await;
    }
    s.post(tokens, &json!({"ttl_seconds": 315_360_000u64})).await.expect(201);
    for path in
        ["/api/v1/agents/b%2Fexists/approve", "/api/v1/agents/b%2Fexists/retire", "/api/v1/owners/alice/offboard"]
    {
        bad(&s, Method::POST, path, Some(json!({"reason": "r".repeat(2049)})), 400, "invalid", "reason").await;
    }
    bad(
        &s,
        Method::POST,
        "/api/v1/agents/b%2Fexists/owner",
        Some(json!({"owner": "bob", "reason": "\u{0}"})),
        400,
        "invalid",
        "reason",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters() {
    let s = Server::start().await;
    s.register("b/exists", json!({})).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=5000", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("state=bogus", "state"),
        ("environment=moon", "environment"),
        ("orphaned=maybe", "orphaned"),
        ("overdue=yes", "overdue"),
        ("colour=red", "colour"),
    ] {
        let m = s.refused(Method::GET, &format!("/api/v1/agents?{query}"), None, 400, "invalid").await;
        assert!(m.contains(field), "{query}: {m}");
    }
    assert_eq!(s.get("/api/v1/agents?limit=1000").await.ok()["agents"].as_array().unwrap().len(), 1);
    for (query, field) in [("limit=0", "limit"), ("limit=1001", "limit"), ("after=x", "after"), ("since=1", "since")] {
        let m =
            s.refused(Method::GET, &format!("/api/v1/agents/b%2Fexists/history?{query}"), None, 400, "invalid").await;
        assert!(m.contains(field), "{query}: {m}");
    }
    for (path, field) in [
        ("/api/v1/ledger/proof", "index"),
        ("/api/v1/ledger/proof?index=x", "index"),
        ("/api/v1/ledger/proof?index=0&size=-3", "size"),
        ("/api/v1/ledger/proof?index=0&extra=1", "extra"),
        ("/api/v1/ledger/consistency?from=1", "`to`"),
        ("/api/v1/ledger/consistency?to=1", "`from`"),
        ("/api/v1/ledger/consistency?from=2&to=1", "from:"),
    ] {
        let m = s.refused(Method::GET, path, None, 400, "invalid").await;
        assert!(m.contains(field), "{path}: {m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_actor_header_is_refused() {
    let s = Server::start().await;
    s.register("b/exists", json!({"owner": "alice"})).await;
    let size = s.ledger_size().await;
    let long = "a".repeat(129);
    for actor in ["al ice", "", " ", "tab\there", long.as_str()] {
        for (method, path, body) in [
            (Method::POST, "/api/v1/agents", json!({"id": "b/new", "environment": "dev"})),
            (Method::PATCH, "/api/v1/agents/b%2Fexists", json!({"purpose": "x"})),
            (Method::POST, "/api/v1/agents/b%2Fexists/approve", json!({})),
            (Method::POST, "/api/v1/agents/b%2Fexists/tokens", json!({})),
            (Method::POST, "/api/v1/owners/alice/offboard", json!({})),
        ] {
            let r = s.send(method.clone(), path, Some(&body), Some(actor)).await;
            let m = r.error(400, "invalid");
            assert!(m.starts_with("X-Custos-Actor:"), "{method} {path} with actor {actor:?}: {m}");
        }
    }
    // Not visible ASCII.
    let r = s
        .request(Method::POST, "/api/v1/agents/b%2Fexists/approve")
        .header("X-Custos-Actor", reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let m = Resp::of(r).await.error(400, "invalid");
    assert!(m.starts_with("X-Custos-Actor:"), "{m}");
    assert_eq!(s.ledger_size().await, size);
    assert_eq!(s.agent("b/exists").await["state"], "registered");
}
