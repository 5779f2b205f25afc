//! The admin token guards everything: every operation in the OpenAPI document, the document
//! itself, unknown paths and unknown methods answer 401 without it, and change nothing.

use reqwest::{Method, header};
use serde_json::{Value, json};

use crate::support::{ADMIN_TOKEN, Resp, Server};

/// Every `(method, path template)` in the document the server builds its router from.
fn operations(s: &Server) -> Vec<(Method, String)> {
    let (_, api) = custos_server::router(s.state.clone());
    let doc: Value = serde_json::to_value(&api).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (key, _) in item.as_object().unwrap() {
            let method = match key.as_str() {
                "get" => Method::GET,
                "put" => Method::PUT,
                "post" => Method::POST,
                "delete" => Method::DELETE,
                "options" => Method::OPTIONS,
                "head" => Method::HEAD,
                "patch" => Method::PATCH,
                "trace" => Method::TRACE,
                _ => continue,
            };
            out.push((method, path.clone()));
        }
    }
    out
}

/// A concrete request for an operation: path parameters filled with things that exist, the
/// query an operation needs, and a body that would succeed.
fn concrete(method: &Method, template: &str, credential: &str) -> (String, Option<Value>) {
    let mut path = template
        .replace("{id}", "a%2Fb")
        .replace("{credential}", credential)
        .replace("{owner}", "alice")
        .replace("{approval}", "apr_000000000000000000000000")
        .replace("{qualified}", "srv.tool");
    assert!(!path.contains('{'), "unfilled parameter in {template}");
    match template {
        "/api/v1/ledger/proof" => path.push_str("?index=0"),
        "/api/v1/ledger/consistency" => path.push_str("?from=1&to=2"),
        _ => {}
    }
    let body = match (method.as_str(), template) {
        ("GET", _) => None,
        ("POST", "/api/v1/agents") => Some(json!({"id": "c/d", "environment": "dev"})),
        ("POST", "/api/v1/gateway/kill") => Some(json!({"agent": "a/b"})),
        ("PATCH", _) => Some(json!({"purpose": "changed"})),
        ("POST", t) if t.ends_with("/owner") => Some(json!({"owner": "bob"})),
        _ => Some(json!({})),
    };
    (path, body)
}

#[track_caller]
fn assert_unauthorized(r: &Resp, what: &str) {
    assert_eq!(r.status.as_u16(), 401, "{what}: {}", r.text);
    let challenge = r.headers.get(header::WWW_AUTHENTICATE).unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
    assert!(challenge.to_str().unwrap().starts_with("Bearer"), "{what}: {challenge:?}");
    let m = r.error(401, "unauthorized");
    assert!(m.contains("admin token"), "{what}: {m}");
}

async fn send_with(s: &Server, method: &Method, path: &str, body: Option<&Value>, auth: Option<&str>) -> Resp {
    let mut req = s.http.request(method.clone(), s.url(path)).header("X-Custos-Actor", "mallory");
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    Resp::of(req.send().await.unwrap()).await
}

fn wrong_credentials() -> Vec<(&'static str, Option<String>)> {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{ADMIN_TOKEN}"));
    vec![
        ("no Authorization header", None),
        (
            "a wrong bearer token",
            Some("Bearer custos_admin_0000000000000000000000000000000000000000000000000000000000000000".into()),
        ),
        (
            "the admin token with one character changed",
            Some(format!("Bearer {}x", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1])),
        ),
        ("the admin token as a Basic password", Some(format!("Basic {basic}"))),
        ("the admin token without a scheme", Some(ADMIN_TOKEN.to_string())),
        ("the admin token under another scheme", Some(format!("Token {ADMIN_TOKEN}"))),
        ("an empty bearer token", Some("Bearer ".into())),
        ("the admin token's SHA-256", Some(format!("Bearer {}", crate::support::sha256_hex(ADMIN_TOKEN)))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_requires_the_admin_token() {
    let s = Server::start().await;
    // Things the requests name exist, so a request that got through would succeed.
    s.register("a/b", json!({"owner": "alice"})).await;
    let (_, credential) = s.issue("a/b", json!({})).await;
    s.checkpoint_all().await;
    let before_agent = s.agent("a/b").await;
    let before_size = s.ledger_size().await;

    let ops = operations(&s);
    assert!(ops.len() >= 20, "only {} operations in the document: {ops:?}", ops.len());
    for m in ["GET", "POST", "PATCH"] {
        assert!(ops.iter().any(|(x, _)| x.as_str() == m), "no {m} operation: {ops:?}");
    }
    let mut checked = 0;
    for (method, template) in &ops {
        let (path, body) = concrete(method, template, &credential);
        for (what, auth) in wrong_credentials() {
            let r = send_with(&s, method, &path, body.as_ref(), auth.as_deref()).await;
            assert_unauthorized(&r, &format!("{method} {path} with {what}"));
            checked += 1;
        }
    }
    assert_eq!(checked, ops.len() * wrong_credentials().len());
    assert_eq!(s.ledger_size().await, before_size, "an unauthorized request appended an entry");
    assert_eq!(s.agent("a/b").await, before_agent);
    assert_eq!(s.get("/api/v1/agents").await.ok()["agents"].as_array().unwrap().len(), 1);
    s.tokens.verify("cst_0000000000000000000000000000000000000000000000000000000000000000").unwrap_err();
    assert_eq!(s.get("/api/v1/agents/a%2Fb/tokens").await.ok()[0]["revoked_at"], Value::Null);

    // The control: with the token, each of those requests reaches its route (no 401, no 404
    // "no such route", no 405), so the paths above were real.
    for (method, template) in &ops {
        let (path, body) = concrete(method, template, &credential);
        let r = s.send(method.clone(), &path, body.as_ref(), None).await;
        assert_ne!(r.status.as_u16(), 401, "{method} {path}: {}", r.text);
        assert_ne!(r.status.as_u16(), 405, "{method} {path}: {}", r.text);
        assert!(!r.text.contains("no such route"), "{method} {path}: {}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undocumented_paths_and_methods_require_the_admin_token_too() {
    let s = Server::start().await;
    let size = s.ledger_size().await;
    let cases = [
        (Method::GET, "/"),
        (Method::GET, "/api/v1/nope"),
        (Method::POST, "/api/v1/nope"),
        (Method::GET, "/api/v2/agents"),
        (Method::GET, "/api/v1/agents/"),
        (Method::GET, "/api/v1/agents/a%2Fb/unknown"),
        (Method::DELETE, "/api/v1/agents"),
        (Method::PUT, "/api/v1/agents/a%2Fb"),
        (Method::DELETE, "/api/v1/agents/a%2Fb"),
        (Method::OPTIONS, "/api/v1/agents"),
        (Method::GET, "/api/v1/agents/a%2Fb/approve"),
    ];
    for (method, path) in &cases {
        for (what, auth) in wrong_credentials() {
            let r = send_with(&s, method, path, None, auth.as_deref()).await;
            assert_unauthorized(&r, &format!("{method} {path} with {what}"));
        }
    }
    // With the token: the one JSON error shape for unknown routes and methods too.
    s.get("/api/v1/nope").await.error(404, "not_found");
    s.get("/").await.error(404, "not_found");
    assert_eq!(s.ledger_size().await, size);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_one_the_router_is_built_from() {
    let s = Server::start().await;
    let (_, api) = custos_server::router(s.state.clone());
    let served = s.get("/api/v1/openapi.json").await.ok();
    assert_eq!(served, serde_json::to_value(&api).unwrap());
    assert_eq!(served["components"]["securitySchemes"]["admin_token"]["scheme"], "bearer");
    assert_eq!(served["security"], json!([{"admin_token": []}]));
    // Every operation documents 401.
    for (path, item) in served["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["responses"]["401"].is_object(), "{method} {path} does not document 401");
        }
    }
}
