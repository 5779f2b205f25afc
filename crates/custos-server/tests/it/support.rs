//! The harness: a real `custos_server::serve` on a loopback port over a SQLite ledger in a
//! temporary directory (built as `custos up` builds it), a small JSON client that always sends
//! the admin token, and helpers that read the ledger back to prove what an operation appended.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Once},
    time::Duration,
};

use custos_core::{Actor, Event, KeyRotated};
use custos_ledger::{NoteSigner, NoteVerifier};
use custos_registry::{Registry, TokenVerifier};
use custos_server::AppState;
use custos_store::{
    RegistryStore, Store,
    sqlite::{SqliteOptions, SqliteStore},
};
use reqwest::{
    Method, StatusCode,
    header::{self, HeaderMap},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

/// The admin token every test server accepts.
pub const ADMIN_TOKEN: &str = "custos_admin_5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e";
/// The origin (checkpoint key name) of every test ledger.
pub const ORIGIN: &str = "test.example/custos";

/// The checkpoint signer of every test ledger.
pub fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[7u8; 32]).unwrap()
}

/// The verifier of the test ledgers' checkpoints.
pub fn note_verifier() -> NoteVerifier {
    signer().verifier()
}

fn install_crypto() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client for loopback only: no proxy from the environment, a timeout so a hang fails.
pub fn client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(20)).build().unwrap()
}

/// A running server.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
    /// The store under the registry (the same object the server writes through).
    pub store: Arc<dyn RegistryStore>,
    /// The registry's in-memory token verifier (every clone sees every change at once).
    pub tokens: TokenVerifier,
    /// The ledger database file.
    pub db: PathBuf,
    dir: TempDir,
    shutdown: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// What is left after a server stopped.
pub struct Stopped {
    pub db: PathBuf,
    /// Keeps the directory alive.
    pub _dir: TempDir,
    /// The store handle the server used (closed now).
    pub store: Arc<dyn RegistryStore>,
}

impl Server {
    /// A server over a ledger that starts, like one made by `custos init`, with its genesis
    /// `key.rotated` entry.
    pub async fn start() -> Self {
        Self::start_with(true).await
    }

    /// A server over a new ledger, with or without the genesis entry.
    pub async fn start_with(genesis: bool) -> Self {
        install_crypto();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ledger.db");
        let store = SqliteStore::create(&db, signer(), SqliteOptions::default()).unwrap();
        if genesis {
            let key = KeyRotated {
                verifier_key: note_verifier().encode(),
                previous: None,
                reason: "initial key, created by the test harness".into(),
            };
            store.append(Event::new(Actor::system(), None, &key).unwrap()).await.unwrap();
        }
        let store: Arc<dyn RegistryStore> = Arc::new(store);
        let registry = Registry::open(store.clone()).await.unwrap();
        let tokens = registry.verifier();
        let admin: [u8; 32] = Sha256::digest(ADMIN_TOKEN.as_bytes()).into();
        let state = AppState::new(Arc::new(registry), admin, note_verifier());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(custos_server::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            http: client(),
            state,
            store,
            tokens,
            db,
            dir,
            shutdown: std::sync::Mutex::new(Some(tx)),
            task: Some(task),
        }
    }

    /// Resolves the shutdown future `serve` was given (and returns at once).
    pub fn signal_shutdown(&self) {
        if let Some(tx) = self.shutdown.lock().unwrap().take() {
            let _ = tx.send(());
        }
    }

    /// Triggers the graceful shutdown and waits until `serve` returned (it closes the store).
    pub async fn stop(mut self) -> Stopped {
        self.signal_shutdown();
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("serve did not return within 20 s of the shutdown signal")
            .unwrap()
            .unwrap();
        let Server { db, dir, store, .. } = self;
        Stopped { db, _dir: dir, store }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the admin token.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(ADMIN_TOKEN)
    }

    /// Sends `method path` with the admin token, an optional JSON body and an optional actor.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>, actor: Option<&str>) -> Resp {
        let mut req = self.request(method, path);
        if let Some(b) = body {
            req = req.json(b);
        }
        if let Some(a) = actor {
            req = req.header("X-Custos-Actor", a);
        }
        Resp::of(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::POST, path, Some(body), None).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(Method::PATCH, path, Some(body), None).await
    }

    /// The ledger's size as the API reports it.
    pub async fn ledger_size(&self) -> u64 {
        let r = self.get("/api/v1/ledger").await.ok();
        r["size"].as_u64().unwrap()
    }

    /// Entry `index`, read straight from the store and parsed.
    pub async fn entry(&self, index: u64) -> Value {
        let raw = self.raw_entry(index).await;
        serde_json::from_slice(&raw).unwrap()
    }

    /// Entry `index` as stored (its canonical bytes).
    pub async fn raw_entry(&self, index: u64) -> Vec<u8> {
        let mut entries = self.store.entries(index, index + 1).await.unwrap();
        assert_eq!(entries.len(), 1, "entry {index} is not stored");
        entries.pop().unwrap()
    }

    /// Every entry, as text.
    pub async fn all_entries_text(&self) -> String {
        let size = self.store.size().await.unwrap();
        let entries = self.store.entries(0, size).await.unwrap();
        entries.iter().map(|e| String::from_utf8(e.clone()).unwrap()).collect::<Vec<_>>().join("\n")
    }

    /// An agent's history through the API: `(index, event)`, oldest first (every page).
    pub async fn history(&self, id: &str) -> Vec<(u64, Value)> {
        let mut out = Vec::new();
        let mut after: Option<u64> = None;
        loop {
            let path = match after {
                Some(a) => format!("/api/v1/agents/{}/history?after={a}", enc(id)),
                None => format!("/api/v1/agents/{}/history", enc(id)),
            };
            let page = self.get(&path).await.ok();
            for item in page["events"].as_array().unwrap() {
                out.push((item["index"].as_u64().unwrap(), item["event"].clone()));
            }
            match page["next"].as_u64() {
                Some(n) => after = Some(n),
                None => return out,
            }
        }
    }

    /// Performs a mutating request that must succeed with `status` and append exactly one
    /// entry, and checks that entry: its index is the one the response names, it is the last
    /// entry, its kind is `kind`, its actor is the user `actor` (`admin` without the header),
    /// it is about `agent` and states `reason`. Returns the response body and the event.
    pub async fn mutate(&self, op: Op<'_>, expect: Expect<'_>) -> (Value, Value) {
        let before = self.ledger_size().await;
        let r = self.send(op.method.clone(), op.path, Some(op.body), op.actor).await;
        let body = r.expect(expect.status);
        let after = self.ledger_size().await;
        assert_eq!(after, before + 1, "{} {}: exactly one entry must be appended", op.method, op.path);
        assert_eq!(body["event"]["index"], json!(before), "the response names the appended entry: {body}");
        assert_eq!(body["event"]["kind"], json!(expect.kind), "the response names the event kind: {body}");
        let event = self.entry(before).await;
        assert_eq!(event["kind"], json!(expect.kind), "{event}");
        assert_eq!(event["actor"]["id"], json!(op.actor.unwrap_or("admin")), "{event}");
        assert_eq!(event["actor"]["type"], json!("user"), "{event}");
        match expect.agent {
            Some(a) => assert_eq!(event["agent"], json!(a), "{event}"),
            None => assert!(event.get("agent").is_none(), "{event}"),
        }
        assert_eq!(event["data"]["reason"], json!(expect.reason), "{event}");
        assert_eq!(event["v"], json!(1));
        // The history shows the very same event under the same index.
        if let Some(a) = expect.agent {
            let history = self.history(a).await;
            let (index, ev) = history.last().unwrap();
            assert_eq!(*index, before);
            assert_eq!(ev, &event);
        }
        (body, event)
    }

    /// Performs a request that must be refused with `status` and error `code`, appending
    /// nothing. Returns the error message.
    pub async fn refused(&self, method: Method, path: &str, body: Option<&Value>, status: u16, code: &str) -> String {
        let before = self.ledger_size().await;
        let r = self.send(method.clone(), path, body, None).await;
        let message = r.error(status, code);
        // Let anything the request might have queued reach the ledger before counting.
        let after = self.ledger_size().await;
        assert_eq!(after, before, "{method} {path} was refused but appended an entry");
        message
    }

    /// Registers `id` (with `extra` fields merged into the body) and returns the agent.
    pub async fn register(&self, id: &str, extra: Value) -> Value {
        let mut body = json!({"id": id, "environment": "dev"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = self.post("/api/v1/agents", &body).await;
        r.expect(201)["value"].clone()
    }

    /// `POST /api/v1/agents/{id}/{op}` with an empty reason; must succeed.
    pub async fn lifecycle(&self, id: &str, op: &str) -> Value {
        self.post(&format!("/api/v1/agents/{}/{op}", enc(id)), &json!({})).await.expect(200)["value"].clone()
    }

    /// Issues a token to `id`; returns `(token, credential id)`.
    pub async fn issue(&self, id: &str, body: Value) -> (String, String) {
        let r = self.post(&format!("/api/v1/agents/{}/tokens", enc(id)), &body).await.expect(201);
        let token = r["value"]["token"].as_str().unwrap().to_string();
        let cred = r["value"]["credential"]["id"].as_str().unwrap().to_string();
        (token, cred)
    }

    /// An agent through the API.
    pub async fn agent(&self, id: &str) -> Value {
        self.get(&format!("/api/v1/agents/{}", enc(id))).await.ok()
    }

    /// Waits until a signed checkpoint covers every entry (signs one now through the store).
    pub async fn checkpoint_all(&self) -> Value {
        self.store.checkpoint().await.unwrap();
        let size = self.ledger_size().await;
        let cp = self.get("/api/v1/ledger/checkpoint").await.ok();
        assert_eq!(cp["size"], json!(size));
        cp
    }

    #[allow(dead_code, reason = "kept for debugging")]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A request for [`Server::mutate`].
pub struct Op<'a> {
    pub method: Method,
    pub path: &'a str,
    pub body: &'a Value,
    pub actor: Option<&'a str>,
}

impl<'a> Op<'a> {
    pub fn post(path: &'a str, body: &'a Value) -> Self {
        Self { method: Method::POST, path, body, actor: None }
    }

    pub fn patch(path: &'a str, body: &'a Value) -> Self {
        Self { method: Method::PATCH, path, body, actor: None }
    }

    pub fn by(mut self, actor: &'a str) -> Self {
        self.actor = Some(actor);
        self
    }
}

/// What [`Server::mutate`] expects.
pub struct Expect<'a> {
    pub status: u16,
    pub kind: &'a str,
    pub agent: Option<&'a str>,
    pub reason: &'a str,
}

impl<'a> Expect<'a> {
    pub fn new(status: u16, kind: &'a str, agent: Option<&'a str>, reason: &'a str) -> Self {
        Self { status, kind, agent, reason }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub async fn of(r: reqwest::Response) -> Self {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Self { status, headers, text }
    }

    /// The body as JSON (panics if it is not JSON).
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Asserts `status` and a JSON body; returns the body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "status; body: {}", self.text);
        let ct = self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(ct.starts_with("application/json"), "content type `{ct}`; body: {}", self.text);
        self.json()
    }

    /// Asserts 200 and a JSON body.
    #[track_caller]
    pub fn ok(&self) -> Value {
        self.expect(200)
    }

    /// Asserts an error response in the one error shape with `status` and `code`; returns its
    /// message.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str) -> String {
        let body = self.expect(status);
        let obj = body.as_object().unwrap_or_else(|| panic!("error body is not an object: {body}"));
        assert_eq!(obj.len(), 1, "error body has exactly one member `error`: {body}");
        let err = body["error"].as_object().unwrap_or_else(|| panic!("no `error` object: {body}"));
        assert_eq!(err.len(), 2, "`error` has exactly `code` and `message`: {body}");
        assert_eq!(body["error"]["code"], json!(code), "{body}");
        let message = body["error"]["message"].as_str().unwrap().to_string();
        assert!(!message.is_empty());
        message
    }
}

/// Percent-encodes a path segment (agent ids contain `/`).
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SHA-256 of `s`, lowercase hex.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}
