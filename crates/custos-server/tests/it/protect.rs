//! The gateway's human controls: `/api/v1/approvals`, `/api/v1/tools`, `/api/v1/gateway/kill`.
//!
//! Without a gateway each answers 409 and changes nothing (real HTTP, like the other modules).
//! With one, the gateway has no upstream: what it holds is seeded as ledger events before it
//! starts (as a restart would find them), and the router is driven with `oneshot`, so nothing
//! here needs a live MCP server. Calls really held by a live gateway are the end-to-end tests'.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Request, header},
};
use custos_core::{
    Actor, ActorId, AgentId, Event, KeyRotated, Timestamp,
    protect::{ApprovalRequested, ToolPinned, ToolQuarantined},
};
use custos_registry::{Reason, RegisterAgent, Registry};
use custos_server::AppState;
use custos_store::{
    RegistryStore, Store,
    sqlite::{SqliteOptions, SqliteStore},
};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tower::ServiceExt;

use crate::support::{ADMIN_TOKEN, Server, note_verifier, signer};

const HELD: &str = "apr_0123456789abcdef01234567";

/// Every protect operation, with a body that would succeed if a gateway ran.
fn operations() -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/approvals".into(), None),
        (Method::GET, "/api/v1/approvals?all=true".into(), None),
        (Method::POST, format!("/api/v1/approvals/{HELD}/approve"), Some(json!({"note": "fine"}))),
        (Method::POST, format!("/api/v1/approvals/{HELD}/deny"), Some(json!({}))),
        (Method::GET, "/api/v1/tools".into(), None),
        (Method::POST, "/api/v1/tools/srv.echo/approve".into(), Some(json!({}))),
        (Method::POST, "/api/v1/gateway/kill".into(), Some(json!({"agent": "a/b", "reason": "incident"}))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_gateway_every_route_is_409_and_the_kill_switch_suspends_nobody() {
    let s = Server::start().await;
    s.register("a/b", json!({"owner": "alice"})).await;
    s.lifecycle("a/b", "approve").await;
    for (method, path, body) in operations() {
        let m = s.refused(method.clone(), &path, body.as_ref(), 409, "conflict").await;
        assert!(m.contains("no gateway runs"), "{method} {path}: {m}");
    }
    // A kill switch that cannot cut anything off must not half-pull: the agent stays active.
    assert_eq!(s.agent("a/b").await["state"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_400_naming_the_field_before_the_gateway_is_looked_at() {
    let s = Server::start().await;
    let long = "x".repeat(2049);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/api/v1/gateway/kill", json!({"agent": "Not An Id"}), "agent:"),
        ("/api/v1/gateway/kill", json!({}), "agent"),
        ("/api/v1/gateway/kill", json!({"agent": "a/b", "why": "x"}), "why"),
        ("/api/v1/gateway/kill", json!({"agent": "a/b", "reason": "a\u{1b}[2Jb"}), "reason: contains a control"),
        ("/api/v1/gateway/kill", json!({"agent": "a/b", "reason": long}), "reason: longer than 2048"),
        ("/api/v1/approvals/apr_1/approve", json!({"note": "\u{7}"}), "note: contains a control"),
        ("/api/v1/approvals/apr_1/deny", json!({"note": long}), "note: longer than 2048"),
        ("/api/v1/approvals/apr_1/deny", json!({"notes": "x"}), "notes"),
        ("/api/v1/tools/srv.echo/approve", json!({"note": "\u{0}"}), "note: contains a control"),
    ];
    for (path, body, needle) in cases {
        let m = s.refused(Method::POST, path, Some(&body), 400, "invalid").await;
        assert!(m.contains(needle), "POST {path} {body}: `{m}` does not mention `{needle}`");
    }
    let m = s.refused(Method::GET, "/api/v1/approvals?all=maybe", None, 400, "invalid").await;
    assert!(m.starts_with("query:"), "{m}");
    let m = s.refused(Method::GET, "/api/v1/approvals?pending=true", None, 400, "invalid").await;
    assert!(m.contains("pending"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_the_protect_routes_and_each_needs_the_admin_token() {
    let s = Server::start().await;
    let (_, api) = custos_server::router(s.state.clone());
    let doc = serde_json::to_value(&api).unwrap();
    let expect = [
        ("/api/v1/approvals", "get"),
        ("/api/v1/approvals/{approval}/approve", "post"),
        ("/api/v1/approvals/{approval}/deny", "post"),
        ("/api/v1/tools", "get"),
        ("/api/v1/tools/{qualified}/approve", "post"),
        ("/api/v1/gateway/kill", "post"),
    ];
    for (path, method) in expect {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not in the document");
        assert_eq!(op["tags"], json!(["protect"]), "{method} {path}");
        assert!(op["responses"]["409"].is_object(), "{method} {path} does not document 409");
        assert!(op["responses"]["200"]["content"]["application/json"].is_object(), "{method} {path}");
    }
    assert!(doc["tags"].as_array().unwrap().iter().any(|t| t["name"] == "protect"), "no protect tag");
    // Path parameters carry the syntax of what they name, not an agent id's.
    let param = |path: &str| doc["paths"][path]["post"]["parameters"][0]["schema"]["pattern"].clone();
    assert_eq!(param("/api/v1/approvals/{approval}/approve"), json!("^apr_[0-9a-f]{24}$"));
    assert_eq!(param("/api/v1/tools/{qualified}/approve"), json!(r"^[a-z0-9_-]{1,64}\..+$"));
    let kill = &doc["components"]["schemas"]["KillRequest"]["properties"]["agent"]["pattern"];
    assert_eq!(kill, custos_server::AGENT_ID_PATTERN);
    for name in ["ApprovalRecord", "ToolPin", "PinState", "Decision", "KillRequest", "Killed"] {
        assert!(doc["components"]["schemas"][name].is_object(), "schema {name} is missing");
    }

    for (method, path, body) in operations() {
        let mut req = s.http.request(method.clone(), s.url(&path));
        if let Some(b) = &body {
            req = req.json(b);
        }
        let r = crate::support::Resp::of(req.send().await.unwrap()).await;
        r.error(401, "unauthorized");
    }
}

// ---- with a gateway (no upstream) --------------------------------------------------------------

/// An admin API with a gateway that has no upstream, over a ledger seeded by `seed` (with the
/// registry open, before the gateway starts).
struct App {
    router: Router,
    registry: Arc<Registry<dyn RegistryStore>>,
    store: Arc<SqliteStore>,
    _dir: TempDir,
}

async fn app(seed: impl AsyncFnOnce(&Registry<dyn RegistryStore>, &SqliteStore)) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::create(&dir.path().join("ledger.db"), signer(), SqliteOptions::default()).unwrap();
    let key = KeyRotated { verifier_key: note_verifier().encode(), previous: None, reason: "test".into() };
    store.append(Event::new(Actor::system(), None, &key).unwrap()).await.unwrap();
    let store = Arc::new(store);
    let registry = Arc::new(Registry::open(store.clone() as Arc<dyn RegistryStore>).await.unwrap());
    seed(&registry, &store).await;
    let parts = custos_gateway::Parts {
        servers: Vec::new(),
        policy: Default::default(),
        gateway: Default::default(),
        verifier: registry.verifier(),
        store: store.clone(),
        protect: Default::default(),
        session_key: [1; 32],
        salt: [2; 32],
    };
    let gateway = custos_gateway::Gateway::start(parts).await.unwrap();
    let admin: [u8; 32] = Sha256::digest(ADMIN_TOKEN.as_bytes()).into();
    let state = AppState::with_gateway(registry.clone(), admin, note_verifier(), gateway);
    let (router, _) = custos_server::router(state);
    App { router, registry, store, _dir: dir }
}

impl App {
    /// `(status, JSON body)` of one request with the admin token, acting as `carol`.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = Request::builder()
            .method(method.as_str())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
            .header("x-custos-actor", "carol");
        let body = match body {
            Some(b) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let resp = self.router.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn size(&self) -> u64 {
        self.store.size().await.unwrap()
    }

    async fn last_entry(&self) -> Value {
        let size = self.size().await;
        let mut e = self.store.entries(size - 1, size).await.unwrap();
        serde_json::from_slice(&e.pop().unwrap()).unwrap()
    }

    async fn state(&self, id: &str) -> String {
        self.registry.get(&id.parse().unwrap()).await.unwrap().state.to_string()
    }
}

fn admin() -> Actor {
    Actor::user(ActorId::admin())
}

async fn register(r: &Registry<dyn RegistryStore>, id: &str, approve: bool) {
    let req: RegisterAgent = serde_json::from_value(json!({"id": id, "environment": "dev", "owner": "alice"})).unwrap();
    r.register(&admin(), req).await.unwrap();
    if approve {
        let id: AgentId = id.parse().unwrap();
        r.lifecycle(&admin(), &id, custos_core::registry::LifecycleOp::Approve, Reason::default()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_held_or_seen_the_lists_are_empty_and_decisions_are_404() {
    let a = app(async |_, _| {}).await;
    let before = a.size().await;
    assert_eq!(a.call(Method::GET, "/api/v1/approvals", None).await, (200, json!([])));
    assert_eq!(a.call(Method::GET, "/api/v1/approvals?all=true", None).await, (200, json!([])));
    assert_eq!(a.call(Method::GET, "/api/v1/tools", None).await, (200, json!([])));
    for verb in ["approve", "deny"] {
        let (status, body) = a.call(Method::POST, &format!("/api/v1/approvals/{HELD}/{verb}"), Some(json!({}))).await;
        assert_eq!(status, 404, "{verb}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
        assert_eq!(body["error"]["message"], format!("no held call `{HELD}`"));
    }
    let (status, body) = a.call(Method::POST, "/api/v1/tools/srv.echo/approve", Some(json!({}))).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["message"], "no tool `srv.echo` has been seen");
    assert_eq!(a.size().await, before, "a refused decision appended an entry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_held_across_a_restart_is_listed_as_cancelled_and_cannot_be_approved() {
    let a = app(async |r, store| {
        register(r, "a/b", true).await;
        let held = ApprovalRequested {
            id: HELD.into(),
            server: "srv".into(),
            tool: "wire".into(),
            policies: vec!["needs-a-human".into()],
            reason: Some("finance decides".into()),
            args_digest: "sha256:00".into(),
            args_preview: json!({"amount": "number"}),
            expires: Timestamp::now(),
            session: None,
        };
        let agent = Some("a/b".parse().unwrap());
        store.append(Event::new(Actor::system(), agent, &held).unwrap()).await.unwrap();
    })
    .await;
    assert_eq!(a.call(Method::GET, "/api/v1/approvals", None).await, (200, json!([])));
    let (status, all) = a.call(Method::GET, "/api/v1/approvals?all=true", None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0]["id"], HELD);
    assert_eq!(all[0]["agent"], "a/b");
    assert_eq!(all[0]["state"], "cancelled");
    assert_eq!(all[0]["reason"], "finance decides");

    let before = a.size().await;
    let (status, body) =
        a.call(Method::POST, &format!("/api/v1/approvals/{HELD}/approve"), Some(json!({"note": "ok"}))).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    assert_eq!(body["error"]["message"], format!("approval `{HELD}` is already cancelled"));
    assert_eq!(a.size().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_are_listed_with_their_pins_and_only_a_listed_quarantined_one_can_be_approved() {
    let a = app(async |_, store| {
        let manifest = json!({"name": "echo"});
        let pinned = ToolPinned { server: "srv".into(), tool: "echo".into(), digest: "sha256:ab".into(), manifest };
        let quarantined = ToolQuarantined {
            server: "srv".into(),
            tool: "evil".into(),
            reason: "poisoning: hidden instructions".into(),
            digest: Some("sha256:cd".into()),
        };
        store.append(Event::new(Actor::system(), None, &pinned).unwrap()).await.unwrap();
        store.append(Event::new(Actor::system(), None, &quarantined).unwrap()).await.unwrap();
    })
    .await;
    let (status, tools) = a.call(Method::GET, "/api/v1/tools", None).await;
    assert_eq!(status, 200, "{tools}");
    let brief: Vec<(Value, Value, Value)> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["tool"].clone(), t["state"].clone(), t.get("reason").cloned().unwrap_or(Value::Null)))
        .collect();
    assert_eq!(
        brief,
        [
            (json!("echo"), json!("pinned"), Value::Null),
            (json!("evil"), json!("quarantined"), json!("poisoning: hidden instructions")),
        ]
    );

    let before = a.size().await;
    let (status, body) = a.call(Method::POST, "/api/v1/tools/srv.echo/approve", Some(json!({}))).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("pinned and unchanged"), "{body}");
    // Quarantined, but its server does not list it now: there is no manifest to accept.
    let (status, body) = a.call(Method::POST, "/api/v1/tools/srv.evil/approve", Some(json!({"note": "x"}))).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("not listed by its server now"), "{body}");
    assert_eq!(a.size().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kill_switch_suspends_an_active_agent_once_and_records_who_and_why() {
    let a = app(async |r, _| {
        register(r, "a/b", true).await;
        register(r, "c/d", false).await;
    })
    .await;
    let kill = |agent: &str| json!({"agent": agent, "reason": "exfiltration suspected"});

    let before = a.size().await;
    let (status, body) = a.call(Method::POST, "/api/v1/gateway/kill", Some(kill("a/b"))).await;
    assert_eq!((status, body), (200, json!({"agent": "a/b", "suspended": true, "cancelled_held": 0})));
    assert_eq!(a.state("a/b").await, "suspended");
    assert_eq!(a.size().await, before + 1, "exactly the suspension is appended (nothing was held)");
    let e = a.last_entry().await;
    assert_eq!(e["kind"], "agent.state_changed", "{e}");
    assert_eq!(e["agent"], "a/b", "{e}");
    assert_eq!(e["actor"], json!({"id": "carol", "type": "user"}), "{e}");
    assert_eq!(e["data"]["reason"], "exfiltration suspected", "{e}");

    // Pulled again: already stopped, nothing more to suspend, still answers.
    let (status, body) = a.call(Method::POST, "/api/v1/gateway/kill", Some(kill("a/b"))).await;
    assert_eq!((status, body), (200, json!({"agent": "a/b", "suspended": false, "cancelled_held": 0})));
    // Never approved: it cannot call anything, so it is left as it is.
    let (status, body) = a.call(Method::POST, "/api/v1/gateway/kill", Some(json!({"agent": "c/d"}))).await;
    assert_eq!((status, body), (200, json!({"agent": "c/d", "suspended": false, "cancelled_held": 0})));
    assert_eq!(a.state("c/d").await, "registered");
    assert_eq!(a.size().await, before + 1);

    let (status, body) = a.call(Method::POST, "/api/v1/gateway/kill", Some(json!({"agent": "x/y"}))).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "unknown_agent");
    assert_eq!(a.size().await, before + 1);
}
