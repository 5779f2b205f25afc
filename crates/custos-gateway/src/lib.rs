//! custos-gateway: the MCP runtime control point (DESIGN.md §5).
//!
//! Agents point their MCP client at `custos up` (`/mcp` for every server they may use, tools
//! named `server.tool`; `/mcp/{server}` for one). For every request the gateway checks the
//! `Host`/`Origin` (DNS rebinding), authenticates the agent (custos token, from memory), and
//! for every `tools/call`:
//!
//! 1. decides it with Cedar ([`custos_policy::Engine`]): default deny, forbid wins; an
//!    evaluation error is a deny;
//! 2. appends one `gateway.decision` event and waits until it is durable. If the ledger cannot
//!    be written the call is denied and **nothing reaches the upstream** (fail closed);
//! 3. forwards allowed calls (and, for agents in shadow mode, denied ones) under custos's own
//!    JSON-RPC id, with the upstream's own credential, never the agent's token.
//!
//! Both MCP eras are served: 2025-11-25 (`initialize`, `Mcp-Session-Id` sealed with an AEAD key
//! so sessions survive restarts) and 2026-07-28 (stateless: `MCP-Protocol-Version`,
//! `Mcp-Method` and `Mcp-Name` must agree with the body, else `-32020`).

pub mod config;
mod evidence;
pub mod jsonrpc;
pub mod jwt;
pub mod protect;
pub mod session;
pub mod upstream;

use std::{
    collections::BTreeSet,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use custos_core::{
    Actor, AgentId, Event,
    protect::{
        ApprovalDecided, ApprovalOutcome, ApprovalRecord, ApprovalRequested, DlpHit, GatewayFirstUse, ToolApproved,
        ToolPin,
    },
};
use custos_policy::{CallFacts, Engine, Outcome, Principal, Source, ToolManifest};
use custos_registry::{AuthError, Authenticated, TokenVerifier};
use custos_store::ProtectStore;
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::{
    config::{GatewayConfig, PolicyConfig, ProtectConfig, ServerConfig},
    jsonrpc::Incoming,
    session::{Sealer, SessionState},
    upstream::{Upstream, UpstreamError},
};

/// The protocol versions the gateway serves to agents, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"];
/// The stateless era.
pub const STATELESS: &str = "2026-07-28";

/// Why the gateway could not be built or reloaded.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Policy(#[from] custos_policy::PolicyError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The ledger could not take an event the change depends on; nothing changed.
    #[error("the ledger could not record it: {0}")]
    Evidence(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

/// The gateway: upstreams, the policies in force, and what it needs to decide and record.
pub struct Gateway {
    upstreams: Vec<Arc<Upstream>>,
    engine: RwLock<Arc<Engine>>,
    policy_files: Vec<std::path::PathBuf>,
    shadow: BTreeSet<String>,
    verifier: TokenVerifier,
    jwt: Option<jwt::JwtVerifier>,
    store: Arc<dyn ProtectStore>,
    sealer: Sealer,
    protect: protect::Protect,
    /// One reload at a time (a client's `tools/list`, a file watcher and an upstream's
    /// `list_changed` may all ask at once).
    reloading: tokio::sync::Mutex<()>,
    /// The last manifests each tool was listed with (what approving it pins).
    listed: std::sync::Mutex<std::collections::HashMap<String, Value>>,
    /// Digest of what the engine in force was built from.
    fingerprint: std::sync::Mutex<Option<[u8; 32]>>,
    /// Requests relayed to clients and awaiting their answers, by the id custos gave them.
    relays: std::sync::Mutex<
        std::collections::HashMap<String, (custos_core::AgentId, tokio::sync::oneshot::Sender<Value>)>,
    >,
    relay_seq: std::sync::atomic::AtomicU64,
    /// 2026-07-28 calls waiting for the client's `inputResponses`, by continuation key.
    continuations: std::sync::Mutex<std::collections::HashMap<String, Continuation>>,
    /// Fires after every reload that put a new tool set or policy set in force.
    changes: tokio::sync::broadcast::Sender<()>,
    auth_limit: RateLimit,
    salt: [u8; 32],
    timeout: Duration,
    max_body: usize,
    allowed_origins: Vec<String>,
    allowed_hosts: Vec<String>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("upstreams", &self.upstreams.len()).finish_non_exhaustive()
    }
}

/// What the gateway needs from the rest of custos.
#[allow(missing_debug_implementations, reason = "holds keys; never printed")]
pub struct Parts {
    pub servers: Vec<ServerConfig>,
    pub policy: PolicyConfig,
    pub gateway: GatewayConfig,
    pub verifier: TokenVerifier,
    pub store: Arc<dyn ProtectStore>,
    pub protect: ProtectConfig,
    /// 32 secret bytes from the data dir: the session-sealing key.
    pub session_key: [u8; 32],
    /// 32 secret bytes from the data dir: the salt of argument digests.
    pub salt: [u8; 32],
}

impl Gateway {
    /// Starts every upstream, reads its tools, and loads the policies against them.
    pub async fn start(parts: Parts) -> Result<Arc<Self>, GatewayError> {
        let mut names = BTreeSet::new();
        let mut upstreams = Vec::new();
        for s in &parts.servers {
            if !names.insert(s.name.clone()) {
                return Err(GatewayError::Config(format!("servers: the name `{}` is used twice", s.name)));
            }
            upstreams.push(Upstream::new(s).map_err(GatewayError::Config)?);
        }
        let timeout = Duration::from_millis(parts.gateway.timeout_ms.unwrap_or(config::DEFAULT_TIMEOUT_MS));
        let jwt = match parts.gateway.jwt.clone() {
            Some(cfg) => Some(jwt::JwtVerifier::new(cfg).await.map_err(GatewayError::Config)?),
            None => None,
        };
        let gw = Self {
            upstreams,
            engine: RwLock::new(Arc::new(Engine::build(Vec::new(), &[])?)),
            policy_files: parts.policy.files.clone(),
            shadow: parts.policy.shadow.iter().cloned().collect(),
            verifier: parts.verifier,
            jwt,
            store: parts.store,
            sealer: Sealer::new(&parts.session_key),
            protect: protect::Protect::new(parts.protect).map_err(GatewayError::Config)?,
            reloading: tokio::sync::Mutex::new(()),
            listed: std::sync::Mutex::new(std::collections::HashMap::new()),
            fingerprint: std::sync::Mutex::new(None),
            relays: std::sync::Mutex::new(std::collections::HashMap::new()),
            relay_seq: std::sync::atomic::AtomicU64::new(1),
            continuations: std::sync::Mutex::new(std::collections::HashMap::new()),
            changes: tokio::sync::broadcast::channel(16).0,
            auth_limit: RateLimit::default(),
            salt: parts.salt,
            timeout,
            max_body: parts.gateway.max_body_bytes.unwrap_or(config::DEFAULT_MAX_BODY),
            allowed_origins: parts.gateway.allowed_origins.clone(),
            allowed_hosts: parts.gateway.allowed_hosts.clone(),
        };
        let read = |e: custos_store::StoreError| GatewayError::Evidence(e.to_string());
        gw.reload_pins().await?;
        gw.protect.load_uses(gw.store.tool_uses().await.map_err(read)?);
        // Calls held when the gateway stopped were answered by nobody: their clients are gone.
        for a in gw.store.approvals(true).await.map_err(read)? {
            let note = "the gateway restarted while the call was held; the call was not made".to_string();
            gw.record_verdict(
                &a.agent,
                decided(&a.id, &a.server, &a.tool, ApprovalOutcome::Cancelled, Some(note)),
                Actor::system(),
            )
            .await
            .map_err(GatewayError::Evidence)?;
        }
        gw.reload().await?;
        let gw = Arc::new(gw);
        // An upstream that announces a new tool list gets its manifests read again (and the
        // policies validated against them); agents listening are told.
        for up in &gw.upstreams {
            let weak = Arc::downgrade(&gw);
            let notify = up.tools_changed.clone();
            let name = up.name.clone();
            tokio::spawn(async move {
                loop {
                    notify.notified().await;
                    let Some(g) = weak.upgrade() else { return };
                    if let Err(e) = g.reload().await {
                        eprintln!("custos: gateway: `{name}` changed its tools but the reload was refused: {e}");
                    }
                }
            });
        }
        Ok(gw)
    }

    /// Reads every upstream's tools and the policy files again and, if all of it loads and
    /// validates, puts it in force. On any error the policies in force stay in force.
    pub async fn reload(&self) -> Result<usize, GatewayError> {
        let _one = self.reloading.lock().await;
        let tools = self.list_and_pin().await?;
        let sources: Vec<Source> = custos_policy::read_sources(&self.policy_files)?;
        // Nothing changed (the common case of a client's `tools/list`): keep the engine, and
        // tell no one, or clients that list on every `list_changed` would never stop.
        let mut h = sha2::Sha256::new();
        for t in &tools {
            sha2::Digest::update(&mut h, serde_json::to_vec(t).unwrap_or_default());
        }
        for src in &sources {
            sha2::Digest::update(&mut h, src.file.as_bytes());
            sha2::Digest::update(&mut h, src.text.as_bytes());
        }
        for p in self.protect.pins() {
            sha2::Digest::update(&mut h, format!("{}.{}={}", p.server, p.tool, p.state.as_str()).as_bytes());
        }
        let fingerprint: [u8; 32] = h.finalize().into();
        {
            let mut last = self.fingerprint.lock().unwrap_or_else(|e| e.into_inner());
            if *last == Some(fingerprint) {
                return Ok(self.engine().len());
            }
            *last = Some(fingerprint);
        }
        let engine = match Engine::build(tools, &sources) {
            Ok(e) => e,
            Err(e) => {
                // Not in force: the next attempt must build again.
                *self.fingerprint.lock().unwrap_or_else(|e| e.into_inner()) = None;
                return Err(e.into());
            }
        };
        let n = engine.len();
        *self.engine.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(engine);
        let _ = self.changes.send(());
        Ok(n)
    }

    /// Watches the policy files and reloads when one changes (checked every `every`). A file
    /// that fails to load is reported and the policies in force stay in force; connections are
    /// untouched either way.
    pub fn watch_policies(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let gw = Arc::downgrade(self);
        tokio::spawn(async move {
            let stamp = |files: &[std::path::PathBuf]| -> Vec<Option<std::time::SystemTime>> {
                files.iter().map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()).collect()
            };
            let mut seen = gw.upgrade().map(|g| stamp(&g.policy_files)).unwrap_or_default();
            loop {
                tokio::time::sleep(every).await;
                let Some(g) = gw.upgrade() else { return };
                let now = stamp(&g.policy_files);
                if now == seen {
                    continue;
                }
                seen = now;
                match g.reload().await {
                    Ok(n) => eprintln!("custos: gateway: policy files changed; {n} policies in force"),
                    Err(e) => eprintln!(
                        "custos: gateway: policy files changed but were refused: {e}; the policies in force stay"
                    ),
                }
            }
        })
    }

    /// Lists every upstream's tools, brings the pins in line (recording every change and
    /// finding) and returns the manifests the policies are built on. A tool whose pin events
    /// cannot be recorded stays unpinned, hence not callable (fail closed).
    async fn list_and_pin(&self) -> Result<Vec<ToolManifest>, GatewayError> {
        let mut lists = Vec::new();
        for up in &self.upstreams {
            match up.list_tools(self.timeout).await {
                Ok(list) => lists.push((up.name.clone(), list)),
                // An upstream that is down has no tools now; its calls fail until it is back.
                Err(e) => eprintln!("custos: gateway: {e}"),
            }
        }
        let mut events = Vec::new();
        for (server, list) in &lists {
            let others: Vec<String> = lists
                .iter()
                .filter(|(s, _)| s != server)
                .flat_map(|(_, l)| l.iter().filter_map(|t| t.get("name")?.as_str().map(str::to_string)))
                .collect();
            let (evs, warnings) = self.protect.reconcile(server, list, &others);
            for w in warnings {
                eprintln!("custos: gateway: {w}");
            }
            events.extend(evs);
        }
        if !events.is_empty() {
            let pending: Vec<_> = events.into_iter().map(|e| self.store.submit(e)).collect();
            for p in pending {
                p.await.map_err(|e| GatewayError::Evidence(e.to_string()))?;
            }
            self.reload_pins().await?;
        }
        let mut tools = Vec::new();
        let mut listed = std::collections::HashMap::new();
        for (server, list) in &lists {
            for t in list {
                if let Some(m) = manifest(server, t, &self.protect) {
                    listed.insert(m.qualified(), t.clone());
                    tools.push(m);
                }
            }
        }
        *self.listed.lock().unwrap_or_else(|e| e.into_inner()) = listed;
        Ok(tools)
    }

    fn engine(&self) -> Arc<Engine> {
        self.engine.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Upstreams, their health and tool counts.
    pub fn status(&self) -> Value {
        let engine = self.engine();
        let servers: Vec<Value> = self
            .upstreams
            .iter()
            .map(|u| {
                let tools = engine.tools().filter(|t| t.server == u.name).count();
                json!({"name": u.name, "transport": u.transport(), "healthy": u.healthy(), "tools": tools})
            })
            .collect();
        json!({"servers": servers, "policies": engine.len(), "shadow_agents": self.shadow})
    }

    /// `/mcp`, `/mcp/{server}` and `/healthz`. Not behind the admin token: agents authenticate
    /// with their own credentials here.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/mcp", post(post_all).get(get_all).delete(end_session))
            .route("/mcp/{server}", post(post_one).get(get_one).delete(end_session))
            .layer(DefaultBodyLimit::max(self.max_body))
            .route("/healthz", get(|| async { axum::Json(json!({"status": "ok"})) }))
            .with_state(self.clone())
    }
}

/// An HTTP client builder with TLS on ring. reqwest panics when built without a TLS provider,
/// so the gateway installs ring itself (a no-op if the process already chose one).
pub(crate) fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

fn manifest(server: &str, tool: &Value, protect: &protect::Protect) -> Option<ToolManifest> {
    let name = tool.get("name")?.as_str()?.to_string();
    let annotations = tool.get("annotations").cloned().unwrap_or(Value::Null);
    Some(ToolManifest {
        server: server.to_string(),
        labels: protect.labels(&format!("{server}.{name}"), &annotations),
        name,
        description: tool.get("description").and_then(Value::as_str).unwrap_or("").to_string(),
        input_schema: tool.get("inputSchema").cloned().unwrap_or(json!({"type": "object"})),
        annotations,
    })
}

// ---- HTTP ------------------------------------------------------------------------------------

/// A JSON-RPC answer with its HTTP status.
fn rpc(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response()
}

fn rpc_error(status: StatusCode, id: &Value, code: i64, message: impl Into<String>) -> Response {
    rpc(status, jsonrpc::error(id, code, message))
}

async fn get_all(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    gw.get_stream(None, &headers).await
}

async fn get_one(State(gw): State<Arc<Gateway>>, Path(server): Path<String>, headers: HeaderMap) -> Response {
    if !gw.upstreams.iter().any(|u| u.name == server) {
        return rpc_error(
            StatusCode::NOT_FOUND,
            &Value::Null,
            jsonrpc::INVALID_REQUEST,
            format!("no server `{server}` here"),
        );
    }
    gw.get_stream(Some(server), &headers).await
}

async fn end_session() -> Response {
    // Sessions are sealed state, nothing to free; the client may simply stop using the id.
    StatusCode::NO_CONTENT.into_response()
}

async fn post_all(State(gw): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    gw.handle(None, &headers, &body).await
}

async fn post_one(
    State(gw): State<Arc<Gateway>>,
    Path(server): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !gw.upstreams.iter().any(|u| u.name == server) {
        return rpc_error(
            StatusCode::NOT_FOUND,
            &Value::Null,
            jsonrpc::INVALID_REQUEST,
            format!("no server `{server}` here"),
        );
    }
    gw.handle(Some(server), &headers, &body).await
}

/// One server-sent event carrying a JSON-RPC message.
fn sse_event(v: &Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {v}\n\n"))
}

/// An event-stream response whose events come from `rx`; it ends when every sender is gone.
fn sse_response(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, std::convert::Infallible>(b), rx))
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The host part of a `Host` value or an origin's authority.
fn host_name(s: &str) -> &str {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    s.split(':').next().unwrap_or("")
}

/// `localhost`, or an IP address in 127.0.0.0/8 or `::1`. A name that merely starts with
/// `127.` (`127.0.0.1.evil.example`) is a name, resolved by someone else's DNS: not loopback.
fn loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Gateway {
    /// DNS rebinding defence: a browser page on another origin must not reach the gateway.
    fn check_origin(&self, headers: &HeaderMap) -> Result<(), String> {
        if let Some(host) = header_str(headers, "host") {
            let name = host_name(host);
            if !loopback(name) && !self.allowed_hosts.iter().any(|h| h == name) {
                return Err(format!("Host `{host}` is not allowed (configure [gateway] allowed_hosts)"));
            }
        }
        if let Some(origin) = header_str(headers, "origin") {
            let authority = origin.split("://").nth(1).unwrap_or("");
            if !loopback(host_name(authority)) && !self.allowed_origins.iter().any(|o| o == origin) {
                return Err(format!("Origin `{origin}` is not allowed (configure [gateway] allowed_origins)"));
            }
        }
        Ok(())
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Authenticated, Response> {
        let token = header_str(headers, "authorization")
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        let Some(token) = token else {
            self.auth_failed("missing", None, None).await;
            let mut r = rpc_error(
                StatusCode::UNAUTHORIZED,
                &Value::Null,
                jsonrpc::UNAUTHENTICATED,
                "no credential: send `Authorization: Bearer <custos agent token>`",
            );
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"custos\""));
            return Err(r);
        };
        let result = match &self.jwt {
            Some(j)
                if !token.starts_with(custos_registry::token::TOKEN_PREFIX) && jwt::JwtVerifier::looks_like(token) =>
            {
                self.verify_jwt(j, token).await
            }
            _ => self.verifier.verify(token).map_err(|e| (e.is_forbidden(), e.to_string(), e)),
        };
        match result {
            Ok(a) => Ok(a),
            Err((forbidden, message, e)) => {
                let (agent, cred) = match &e {
                    AuthError::Expired { agent, credential, .. }
                    | AuthError::AgentNotActive { agent, credential, .. } => {
                        (Some(agent.clone()), Some(credential.clone()))
                    }
                    _ => (None, None),
                };
                self.auth_failed(&message, agent, cred).await;
                let (status, code) = if forbidden {
                    (StatusCode::FORBIDDEN, jsonrpc::FORBIDDEN)
                } else {
                    (StatusCode::UNAUTHORIZED, jsonrpc::UNAUTHENTICATED)
                };
                let mut r = rpc_error(status, &Value::Null, code, message);
                if status == StatusCode::UNAUTHORIZED {
                    r.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"custos\""));
                }
                Err(r)
            }
        }
    }

    /// A JWT: signature, issuer, audience, time, then the agent it names must be registered
    /// and active. Errors are `(forbidden, message, kind)`.
    async fn verify_jwt(&self, j: &jwt::JwtVerifier, token: &str) -> Result<Authenticated, (bool, String, AuthError)> {
        let now = custos_core::Timestamp::now().as_jiff().as_second();
        let claims =
            j.verify(token, now).await.map_err(|m| (false, format!("invalid JWT: {m}"), AuthError::Unknown))?;
        let agent: custos_core::AgentId = claims.agent.parse().map_err(|e| {
            (true, format!("the JWT names `{}`, which is not an agent id: {e}", claims.agent), AuthError::Unknown)
        })?;
        let Some(record) = self.verifier.agent(&agent) else {
            return Err((true, format!("agent `{agent}` (from the JWT) is not registered"), AuthError::Unknown));
        };
        if record.state != custos_core::registry::AgentState::Active {
            let e = AuthError::AgentNotActive {
                agent: agent.clone(),
                credential: claims.credential.clone(),
                state: record.state,
            };
            return Err((true, e.to_string(), e));
        }
        Ok(Authenticated { agent, credential: claims.credential, record })
    }

    async fn auth_failed(&self, reason: &str, agent: Option<custos_core::AgentId>, credential: Option<String>) {
        // Anyone who can reach the port can fail to authenticate: at most AUTH_EVENTS_PER_SEC
        // such events are recorded each second, the next one recorded counts those skipped.
        let Some(skipped) = self.auth_limit.admit() else { return };
        let event = evidence::auth_failed(reason, agent, credential, skipped);
        if let Err(e) = self.append(event).await {
            eprintln!("custos: gateway: recording a failed authentication failed: {e}");
        }
    }

    async fn append(&self, event: Result<Event, custos_core::CoreError>) -> Result<u64, String> {
        let event = event.map_err(|e| e.to_string())?;
        self.store.append(event).await.map(|r| r.index).map_err(|e| e.to_string())
    }

    async fn handle(self: &Arc<Self>, scope: Option<String>, headers: &HeaderMap, body: &[u8]) -> Response {
        if let Err(why) = self.check_origin(headers) {
            return rpc_error(StatusCode::FORBIDDEN, &Value::Null, jsonrpc::INVALID_REQUEST, why);
        }
        let auth = match self.authenticate(headers).await {
            Ok(a) => a,
            Err(r) => return r,
        };
        let msg = match jsonrpc::parse(body) {
            Ok(m) => m,
            Err((code, why)) => return rpc_error(StatusCode::BAD_REQUEST, &Value::Null, code, why),
        };
        let version = header_str(headers, "mcp-protocol-version");
        let stateless = version == Some(STATELESS) || msg.method() == Some("server/discover");
        if stateless {
            if let Err(r) = check_headers(headers, &msg) {
                return r;
            }
        } else if let Some(v) = version
            && !SUPPORTED_VERSIONS.contains(&v)
        {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                &Value::Null,
                jsonrpc::UNSUPPORTED_VERSION,
                format!("MCP-Protocol-Version `{v}` is not supported; supported: {}", SUPPORTED_VERSIONS.join(", ")),
            );
        }
        let (id, method, params) = match msg {
            Incoming::Notification { .. } => return StatusCode::ACCEPTED.into_response(),
            Incoming::Response { id, body } => {
                // A client answering a request custos relayed to it: only the agent it was
                // sent to may answer it.
                let key = id.as_str().unwrap_or_default().to_string();
                let waiting = {
                    let mut r = self.relays.lock().unwrap_or_else(|e| e.into_inner());
                    match r.get(&key) {
                        Some((agent, _)) if *agent == auth.agent => r.remove(&key),
                        _ => None,
                    }
                };
                return match waiting {
                    Some((_, reply)) => {
                        let _ = reply.send(Value::Object(body));
                        StatusCode::ACCEPTED.into_response()
                    }
                    None => rpc_error(
                        StatusCode::NOT_FOUND,
                        &id,
                        jsonrpc::INVALID_REQUEST,
                        "no request of custos with this id awaits an answer from you",
                    ),
                };
            }
            Incoming::Request { id, method, params } => (id, method, params),
        };
        // Session era: everything but `initialize` needs this agent's session.
        let mut session_id = None;
        if !stateless && method != "initialize" {
            match header_str(headers, "mcp-session-id") {
                None => {
                    return rpc_error(
                        StatusCode::BAD_REQUEST,
                        &id,
                        jsonrpc::BAD_SESSION,
                        "missing Mcp-Session-Id: call `initialize` first (or use MCP-Protocol-Version: 2026-07-28)",
                    );
                }
                Some(sid) => match self.sealer.open(sid) {
                    // Bound to the credential that opened it, not only to the agent.
                    Some(s) if s.a == auth.agent.as_str() && s.c == auth.credential && s.s == scope => {
                        session_id = Some(sid.to_string())
                    }
                    Some(_) => {
                        return rpc_error(
                            StatusCode::NOT_FOUND,
                            &id,
                            jsonrpc::BAD_SESSION,
                            "this session belongs to another credential or endpoint",
                        );
                    }
                    None => {
                        return rpc_error(
                            StatusCode::NOT_FOUND,
                            &id,
                            jsonrpc::BAD_SESSION,
                            "unknown session: initialize again",
                        );
                    }
                },
            }
        }
        if stateless && method == "subscriptions/listen" {
            return self.listen(id, &params);
        }
        // Session era, a tool call, and a client that takes event streams: answer on a stream,
        // so requests the upstream makes while answering (sampling, elicitation, roots) can
        // reach this client first.
        let sse = header_str(headers, "accept").is_some_and(|a| a.contains("text/event-stream"));
        if !stateless && method == "tools/call" && sse {
            return self.clone().tools_call_streamed(auth, scope, session_id, id, params);
        }
        let mut extra_headers = Vec::new();
        let outcome = match method.as_str() {
            "initialize" if !stateless => {
                let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or("");
                let v = if SUPPORTED_VERSIONS.contains(&asked) && asked != STATELESS { asked } else { "2025-11-25" };
                let state = SessionState {
                    a: auth.agent.to_string(),
                    c: auth.credential.clone(),
                    v: v.to_string(),
                    s: scope.clone(),
                    t: custos_core::Timestamp::now().as_jiff().as_second(),
                    r: session::random_tag(),
                };
                match self.sealer.seal(&state) {
                    Ok(sid) => extra_headers.push(("mcp-session-id", sid)),
                    Err(e) => return rpc_error(StatusCode::INTERNAL_SERVER_ERROR, &id, jsonrpc::INTERNAL_ERROR, e),
                }
                Ok(json!({
                    "protocolVersion": v,
                    "capabilities": {"tools": {"listChanged": true}},
                    "serverInfo": {"name": "custos", "version": env!("CARGO_PKG_VERSION")},
                    "instructions": "custos gateway: every tool call is authorized by policy and recorded as evidence.",
                }))
            }
            "server/discover" => Ok(json!({
                "supportedVersions": SUPPORTED_VERSIONS,
                "capabilities": {"tools": {"listChanged": true}},
                "instructions": "custos gateway: every tool call is authorized by policy and recorded as evidence.",
                // The answer depends on the credential (what it may see): private, not cached.
                "ttlMs": 0,
                "cacheScope": "private",
                "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "custos", "version": env!("CARGO_PKG_VERSION")}},
            })),
            "ping" => Ok(json!({})),
            "tools/list" => {
                // A client asking for the list is when a changed tool (a rug pull) must be
                // caught: the upstreams are asked again, and changes are pinned or quarantined.
                if let Err(e) = self.reload().await {
                    eprintln!("custos: gateway: refreshing the tool list: {e}");
                }
                Ok(self.tools_list(&auth, scope.as_deref()))
            }
            // Stateless: requests the upstream makes while answering (sampling, elicitation,
            // roots) go back to the client as multi-round-trip `input_required` results.
            "tools/call" if stateless => self.clone().tools_call_mrtr(auth, scope, params).await,
            "tools/call" => self.tools_call(&auth, scope.as_deref(), session_id.as_deref(), &params, None).await,
            other => Err((
                StatusCode::OK,
                jsonrpc::METHOD_NOT_FOUND,
                format!("method `{other}` is not served by the custos gateway"),
            )),
        };
        let mut resp = match outcome {
            Ok(mut result) => {
                if stateless && let Some(o) = result.as_object_mut() {
                    o.entry("resultType").or_insert(json!("complete"));
                    if method == "tools/list" {
                        // Filtered by this agent's authorization: never cacheable for others,
                        // and policies can change at any reload.
                        o.insert("ttlMs".into(), json!(0));
                        o.insert("cacheScope".into(), json!("private"));
                    }
                }
                rpc(StatusCode::OK, jsonrpc::result(&id, result))
            }
            Err((status, code, message)) => rpc_error(status, &id, code, message),
        };
        for (k, v) in extra_headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }

    /// The tools this agent could be allowed to call, named for the endpoint.
    fn tools_list(&self, auth: &Authenticated, scope: Option<&str>) -> Value {
        let engine = self.engine();
        let principal = principal(auth);
        let tools: Vec<Value> = engine
            .tools()
            .filter(|t| scope.is_none_or(|s| s == t.server))
            .filter(|t| self.protect.callable(&t.qualified()).is_ok())
            .filter(|t| engine.could_allow(&principal, &t.qualified()))
            .map(|t| {
                let mut v = json!({
                    "name": if scope.is_some() { t.name.clone() } else { t.qualified() },
                    "description": t.description,
                    "inputSchema": t.input_schema,
                });
                if let (false, Some(o)) = (t.annotations.is_null(), v.as_object_mut()) {
                    o.insert("annotations".into(), t.annotations.clone());
                }
                v
            })
            .collect();
        json!({"tools": tools})
    }

    /// 2026-07-28 `subscriptions/listen`: an event stream that stays open, acknowledges the
    /// subscription, then says `notifications/tools/list_changed` whenever a reload changed what
    /// is in force (only for `toolsListChanged`; other filters are acknowledged, never fire).
    fn listen(self: &Arc<Self>, id: Value, params: &Value) -> Response {
        let tools = params.pointer("/filter/toolsListChanged").and_then(Value::as_bool).unwrap_or(false)
            || params.get("toolsListChanged").and_then(Value::as_bool).unwrap_or(false);
        let meta = json!({"io.modelcontextprotocol/subscriptionId": id});
        let ack =
            json!({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged", "params": {"_meta": meta}});
        let changed =
            json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed", "params": {"_meta": meta}});
        self.notification_stream(Some(ack), tools.then_some(changed))
    }

    /// An event stream that stays open: `first` (if any), then `changed` after every reload
    /// (if given), with keep-alive comments; it ends when the client goes away.
    fn notification_stream(self: &Arc<Self>, first: Option<Value>, changed: Option<Value>) -> Response {
        let mut changes = self.changes.subscribe();
        let mut stopping = self.protect.stopping.subscribe();
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        tokio::spawn(async move {
            if let Some(f) = first
                && tx.send(sse_event(&f)).await.is_err()
            {
                return;
            }
            let mut keepalive = tokio::time::interval(Duration::from_secs(15));
            keepalive.tick().await;
            loop {
                let out = tokio::select! {
                    r = changes.recv() => match (r, &changed) {
                        (Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)), Some(c)) => sse_event(c),
                        (Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)), None) => continue,
                        (Err(_), _) => return,
                    },
                    _ = keepalive.tick() => Bytes::from_static(b": keep-alive\n\n"),
                    // custos is stopping: the stream ends, the client reconnects later.
                    _ = stopping.wait_for(|s| *s) => return,
                };
                // The client closed the stream: that ends it.
                if tx.send(out).await.is_err() {
                    return;
                }
            }
        });
        sse_response(rx)
    }

    /// 2025-11-25 GET: the session's stream of server-initiated messages. custos sends
    /// `notifications/tools/list_changed` on it after every reload.
    async fn get_stream(self: &Arc<Self>, scope: Option<String>, headers: &HeaderMap) -> Response {
        if let Err(why) = self.check_origin(headers) {
            return rpc_error(StatusCode::FORBIDDEN, &Value::Null, jsonrpc::INVALID_REQUEST, why);
        }
        if !header_str(headers, "accept").is_some_and(|a| a.contains("text/event-stream")) {
            return rpc_error(
                StatusCode::METHOD_NOT_ALLOWED,
                &Value::Null,
                jsonrpc::INVALID_REQUEST,
                "GET opens an event stream: send `Accept: text/event-stream`",
            );
        }
        let auth = match self.authenticate(headers).await {
            Ok(a) => a,
            Err(r) => return r,
        };
        if header_str(headers, "mcp-protocol-version") == Some(STATELESS) {
            return rpc_error(
                StatusCode::METHOD_NOT_ALLOWED,
                &Value::Null,
                jsonrpc::INVALID_REQUEST,
                "2026-07-28 has no GET stream: use subscriptions/listen",
            );
        }
        let Some(sid) = header_str(headers, "mcp-session-id") else {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                &Value::Null,
                jsonrpc::BAD_SESSION,
                "missing Mcp-Session-Id: call `initialize` first",
            );
        };
        match self.sealer.open(sid) {
            Some(s) if s.a == auth.agent.as_str() && s.c == auth.credential && s.s == scope => self
                .notification_stream(
                    None,
                    Some(json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})),
                ),
            _ => rpc_error(
                StatusCode::NOT_FOUND,
                &Value::Null,
                jsonrpc::BAD_SESSION,
                "unknown session: initialize again",
            ),
        }
    }

    /// A tool call answered as an event stream: relayed requests first, the response last.
    fn tools_call_streamed(
        self: Arc<Self>,
        auth: Authenticated,
        scope: Option<String>,
        session: Option<String>,
        id: Value,
        params: Value,
    ) -> Response {
        let (body_tx, body_rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let (relay_tx, mut relay_rx) = tokio::sync::mpsc::unbounded_channel::<upstream::RelayRequest>();
        tokio::spawn(async move {
            let call = self.tools_call(&auth, scope.as_deref(), session.as_deref(), &params, Some(relay_tx));
            tokio::pin!(call);
            let mut minted = Vec::new();
            let answer = loop {
                tokio::select! {
                    out = &mut call => break out,
                    Some(req) = relay_rx.recv() => {
                        let n = self.relay_seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let rid = format!("custos-relay-{n}");
                        self.relays
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(rid.clone(), (auth.agent.clone(), req.reply));
                        let msg = json!({"jsonrpc": "2.0", "id": rid, "method": req.method, "params": req.params});
                        minted.push(rid);
                        // A client that went away simply never answers; the upstream is told so.
                        let _ = body_tx.send(sse_event(&msg)).await;
                    }
                }
            };
            // Requests the client never answered die with the call (the upstream has its answer
            // or its timeout by now).
            if !minted.is_empty() {
                let mut r = self.relays.lock().unwrap_or_else(|e| e.into_inner());
                for id in &minted {
                    r.remove(id);
                }
            }
            let msg = match answer {
                Ok(result) => jsonrpc::result(&id, result),
                Err((_, code, message)) => jsonrpc::error(&id, code, message),
            };
            let _ = body_tx.send(sse_event(&msg)).await;
        });
        sse_response(body_rx)
    }

    async fn tools_call(
        &self,
        auth: &Authenticated,
        scope: Option<&str>,
        session: Option<&str>,
        params: &Value,
        relay: Option<upstream::Relay>,
    ) -> Result<Value, (StatusCode, i64, String)> {
        // The kill switch reaches calls already past authentication: from here on, every wait
        // also listens for it.
        let mut kills = self.protect.kills.subscribe();
        let agent = auth.agent.clone();
        let killed = async move {
            loop {
                match kills.recv().await {
                    Ok(a) if a == agent => return,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        };
        let mut stopping = self.protect.stopping.subscribe();
        tokio::select! {
            out = self.tools_call_inner(auth, scope, session, params, relay) => out,
            () = killed => Err((
                StatusCode::OK,
                jsonrpc::DENIED,
                format!("cancelled: the kill switch was pulled for agent `{}`", auth.agent),
            )),
            _ = stopping.wait_for(|s| *s) => Err((
                StatusCode::SERVICE_UNAVAILABLE,
                jsonrpc::UPSTREAM_ERROR,
                "cancelled: custos is stopping; call again once it is back".into(),
            )),
        }
    }

    async fn tools_call_inner(
        &self,
        auth: &Authenticated,
        scope: Option<&str>,
        session: Option<&str>,
        params: &Value,
        relay: Option<upstream::Relay>,
    ) -> Result<Value, (StatusCode, i64, String)> {
        let started = Instant::now();
        let invalid = |m: String| (StatusCode::OK, jsonrpc::INVALID_PARAMS, m);
        let name = params
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("`params.name` must be a string".into()))?;
        let arguments = params.get("arguments").cloned().unwrap_or(json!({}));
        let qualified = match scope {
            Some(s) => format!("{s}.{name}"),
            None => name.to_string(),
        };
        let engine = self.engine();
        let Some(tool) = engine.tool(&qualified) else {
            return Err(invalid(format!("unknown tool `{name}`")));
        };
        let Some(up) = self.upstreams.iter().find(|u| u.name == tool.server).cloned() else {
            return Err(invalid(format!("unknown tool `{name}`")));
        };
        let principal = principal(auth);
        let shadow = self.shadow.contains(auth.agent.as_str());
        // Rug-pull defence: a tool whose manifest changed since it was approved is not called,
        // whatever the policy says (and shadow mode does not lift it: it is not a policy).
        let quarantined = self.protect.callable(&qualified).err();
        let secrets = self.protect.scan(&arguments);
        // Stateless requests have no session: the agent's calls form one running session, so a
        // flow rule cannot be dodged by leaving the session era.
        let session_key = match session {
            Some(s) => format!("s:{}", evidence::session_digest(s)),
            None => format!("a:{}", auth.agent),
        };
        let facts = CallFacts { session: self.session_facts(&session_key).await, secrets: !secrets.is_empty() };
        let (decision, client_error) = match &quarantined {
            Some(why) => (custos_policy::Decision { note: Some(why.clone()), ..Default::default() }, Some(why.clone())),
            None => match engine.decide_in(&principal, &qualified, &arguments, &facts) {
                Ok(d) => (d, None),
                // Fail closed: what cannot be evaluated is denied (and said why).
                Err(e) => {
                    (custos_policy::Decision { note: Some(e.to_string()), ..Default::default() }, Some(e.to_string()))
                }
            },
        };
        let outcome = decision.outcome();
        let hold = outcome == Outcome::Approval && !shadow;
        let forward = decision.allowed || hold || (shadow && quarantined.is_none());
        let record = evidence::Decision {
            agent: &auth.agent,
            credential: &auth.credential,
            session,
            server: &tool.server,
            tool: &tool.name,
            outcome: outcome.as_str(),
            enforced: !shadow,
            policies: &decision.policies,
            note: decision.note.as_deref(),
            arguments: &arguments,
            salt: &self.salt,
            decide_us: started.elapsed().as_micros() as u64,
        };
        let unrecorded = |e: String| {
            eprintln!("custos: gateway: a decision could not be recorded ({e}); the call was denied (fail closed)");
            (
                StatusCode::OK,
                jsonrpc::EVIDENCE_FAILED,
                format!("denied: the decision could not be recorded ({e}); custos fails closed"),
            )
        };
        // Evidence that goes with the decision: DLP hits in the arguments, and drift.
        let mut side = Vec::new();
        for h in &secrets {
            side.push(Event::new(
                evidence::agent_actor(&auth.agent),
                Some(auth.agent.clone()),
                &DlpHit {
                    server: tool.server.clone(),
                    tool: tool.name.clone(),
                    direction: custos_core::protect::Direction::Arguments,
                    rule: h.hit.rule.clone(),
                    path: h.pointer.clone(),
                    action: if forward { "recorded" } else { "denied" }.into(),
                },
            ));
        }
        let first = quarantined.is_none() && self.protect.first_use(&auth.agent, &qualified);
        if first {
            side.push(Event::new(
                evidence::agent_actor(&auth.agent),
                Some(auth.agent.clone()),
                &GatewayFirstUse {
                    server: tool.server.clone(),
                    tool: tool.name.clone(),
                    decision: outcome.as_str().into(),
                },
            ));
        }
        let event = record.event().map_err(|e| unrecorded(e.to_string()))?;
        let mut side_pending = Vec::new();
        for e in side {
            side_pending.push(self.store.submit(e.map_err(|e| unrecorded(e.to_string()))?));
        }
        // The decision is forwarded only once its entry is written (so a ledger that cannot take
        // it means nothing reaches the upstream), and the answer is released only once the entry
        // is durable: the sync runs while the upstream works.
        let staged = self.store.submit_staged(event);
        let side_done = async {
            for p in side_pending {
                p.await?;
            }
            Ok::<(), custos_store::StoreError>(())
        };
        let written = async { staged.written.await.map(drop) };
        let (w, s) = tokio::join!(written, side_done);
        if let Err(e) = w.and(s) {
            if first {
                self.protect.unrecord_use(&auth.agent, &qualified);
            }
            return Err(unrecorded(e.to_string()));
        }
        if !forward {
            staged.durable.await.map_err(|e| unrecorded(e.to_string()))?;
            let why = match (&client_error, decision.policies.is_empty()) {
                (Some(e), _) => format!("denied: {e}"),
                (None, false) => format!("denied by policy {}", decision.policies.join(", ")),
                (None, true) => {
                    format!("denied: {}", decision.note.as_deref().unwrap_or("no policy permits this call"))
                }
            };
            return Err((StatusCode::OK, jsonrpc::DENIED, why));
        }
        let durable = if hold {
            staged.durable.await.map_err(|e| unrecorded(e.to_string()))?;
            let reasons = decision.approval.as_ref().map(|a| a.reasons.join("; ")).filter(|r| !r.is_empty());
            // Boxed: held calls are rare, and inline this state would make every call's future
            // (moved and boxed on the 2026-07-28 path) several times larger.
            Box::pin(self.hold(auth, tool, &decision.policies, reasons, &arguments, session)).await?;
            // Time passed while the call was held: the agent may have been suspended, the tool
            // quarantined, or the session may have done what a forbid now holds against this
            // call. It is decided again, and only a call still allowed goes out.
            Box::pin(self.recheck_after_approval(auth, &qualified, &arguments, &session_key, session)).await?;
            None
        } else {
            Some(staged.durable)
        };
        let mut upstream_params = json!({"name": tool.name, "arguments": arguments});
        if up.session_meta
            && let (Some(s), Some(p)) = (session, upstream_params.as_object_mut())
        {
            p.insert("_meta".into(), json!({"dev.custos/session": evidence::session_digest(s)}));
        }
        let t = Instant::now();
        let call = up.request_relayed("tools/call", upstream_params, self.timeout, relay);
        let (answer, durable) = match durable {
            Some(d) => tokio::join!(call, d),
            None => (call.await, Ok(0)),
        };
        if let Err(e) = durable {
            eprintln!(
                "custos: gateway: a decision could not be made durable ({e}); the upstream's answer was withheld"
            );
            return Err((
                StatusCode::OK,
                jsonrpc::EVIDENCE_FAILED,
                format!("the decision could not be made durable ({e}); the answer is withheld (custos fails closed)"),
            ));
        }
        self.protect.record_call(&session_key, tool);
        match answer {
            Ok(mut result) => {
                let hits: Vec<(String, String)> =
                    self.protect.scan_result(&mut result).into_iter().map(|h| (h.hit.rule, h.pointer)).collect();
                // A result whose secrets cannot be recorded is not released either.
                self.record_dlp(auth, tool, &hits).await.map_err(unrecorded)?;
                Ok(result)
            }
            Err(UpstreamError::Rpc { code, message, .. }) => {
                // An upstream's error text can quote what it was given (a key it refused, say):
                // it is scanned like a result.
                let (clean, hits) = self.protect.scan_message(&message);
                let hits: Vec<(String, String)> = hits.into_iter().map(|h| (h.rule, "/error/message".into())).collect();
                self.record_dlp(auth, tool, &hits).await.map_err(unrecorded)?;
                Err((StatusCode::OK, code, clean))
            }
            Err(e) => {
                let event = evidence::upstream_error(
                    &auth.agent,
                    &tool.server,
                    &tool.name,
                    e.status(),
                    &e.to_string(),
                    t.elapsed(),
                );
                if let Err(err) = self.append(event).await {
                    eprintln!("custos: gateway: recording an upstream failure failed: {err}");
                }
                Err((StatusCode::OK, jsonrpc::UPSTREAM_ERROR, e.to_string()))
            }
        }
    }

    /// One `dlp.hit` per `(rule, path)` found in what an upstream answered.
    async fn record_dlp(
        &self,
        auth: &Authenticated,
        tool: &ToolManifest,
        hits: &[(String, String)],
    ) -> Result<(), String> {
        let action = if self.protect.cfg.redact_results { "redacted" } else { "recorded" };
        for (rule, path) in hits {
            let hit = DlpHit {
                server: tool.server.clone(),
                tool: tool.name.clone(),
                direction: custos_core::protect::Direction::Result,
                rule: rule.clone(),
                path: path.clone(),
                action: action.into(),
            };
            self.append(Event::new(evidence::agent_actor(&auth.agent), Some(auth.agent.clone()), &hit)).await?;
        }
        Ok(())
    }

    /// What the session did so far. A session-era session unknown here (custos restarted, its
    /// sealed id did not) is read back from the ledger's `session_tools` projection once.
    async fn session_facts(&self, key: &str) -> custos_policy::SessionFacts {
        if let Some(f) = self.protect.known_session(key) {
            return f;
        }
        let mut facts = custos_policy::SessionFacts::default();
        if let Some(digest) = key.strip_prefix("s:") {
            match self.store.session_tools(digest).await {
                Ok(tools) => {
                    let engine = self.engine();
                    for (server, tool) in tools {
                        match engine.tool(&format!("{server}.{tool}")) {
                            Some(m) => facts.record(m),
                            // A tool no longer served still counts as called.
                            None => {
                                facts.tools.insert(format!("{server}.{tool}"));
                                facts.calls = facts.calls.saturating_add(1);
                            }
                        }
                    }
                }
                Err(e) => eprintln!("custos: gateway: reading a session's history failed: {e}"),
            }
        }
        self.protect.load_session(key, facts.clone());
        facts
    }

    /// The checks a held call must pass again once approved: the agent still active, the tool
    /// still callable, and the policies (with the session as it is now) not denying it. A
    /// failure is recorded as a `gateway.decision` deny naming why.
    async fn recheck_after_approval(
        &self,
        auth: &Authenticated,
        qualified: &str,
        arguments: &Value,
        session_key: &str,
        session: Option<&str>,
    ) -> Result<(), (StatusCode, i64, String)> {
        let engine = self.engine();
        let Some(tool) = engine.tool(qualified) else {
            return Err((StatusCode::OK, jsonrpc::DENIED, format!("denied: tool `{qualified}` is gone")));
        };
        let why = match self.verifier.agent(&auth.agent) {
            Some(a) if a.state == custos_core::registry::AgentState::Active => None,
            Some(a) => Some((jsonrpc::FORBIDDEN, format!("agent `{}` is {} now", auth.agent, a.state))),
            None => Some((jsonrpc::FORBIDDEN, format!("agent `{}` is no longer registered", auth.agent))),
        };
        let why = match why {
            Some(w) => Some(w),
            None => match self.protect.callable(qualified) {
                Err(q) => Some((jsonrpc::DENIED, q)),
                Ok(()) => {
                    let secrets = !self.protect.scan(arguments).is_empty();
                    let facts = CallFacts { session: self.session_facts(session_key).await, secrets };
                    match engine.decide_in(&principal(auth), qualified, arguments, &facts) {
                        Ok(d) if d.outcome() != Outcome::Deny => None,
                        Ok(d) if d.policies.is_empty() => Some((
                            jsonrpc::DENIED,
                            d.note.unwrap_or_else(|| "no policy permits this call any more".into()),
                        )),
                        Ok(d) => Some((jsonrpc::DENIED, format!("denied by policy {}", d.policies.join(", ")))),
                        Err(e) => Some((jsonrpc::DENIED, e.to_string())),
                    }
                }
            },
        };
        let Some((code, why)) = why else { return Ok(()) };
        let note = format!("approved, then re-checked before forwarding: {why}");
        let record = evidence::Decision {
            agent: &auth.agent,
            credential: &auth.credential,
            session,
            server: &tool.server,
            tool: &tool.name,
            outcome: Outcome::Deny.as_str(),
            enforced: true,
            policies: &[],
            note: Some(&note),
            arguments,
            salt: &self.salt,
            decide_us: 0,
        };
        if let Err(e) = self.append(record.event()).await {
            eprintln!("custos: gateway: recording a re-checked denial failed: {e}");
        }
        Err((StatusCode::OK, code, format!("denied: the call was approved, but {why}; it was not made")))
    }

    /// Holds a call until a human decides, the timeout passes, or the kill switch cancels it
    /// (the caller's select drops this future; the entry is then cancelled by [`Self::kill`]).
    /// `Ok` means approved.
    async fn hold(
        &self,
        auth: &Authenticated,
        manifest: &ToolManifest,
        policies: &[String],
        reason: Option<String>,
        arguments: &Value,
        session: Option<&str>,
    ) -> Result<(), (StatusCode, i64, String)> {
        let (server, tool) = (manifest.server.as_str(), manifest.name.as_str());
        let failed = |e: String| {
            (
                StatusCode::OK,
                jsonrpc::EVIDENCE_FAILED,
                format!("denied: the approval request could not be recorded ({e}); custos fails closed"),
            )
        };
        let id = format!("apr_{}", session::random_tag());
        let timeout = self.protect.approval_timeout();
        let expires = custos_core::Timestamp::from_jiff(
            custos_core::Timestamp::now()
                .as_jiff()
                .checked_add(timeout)
                .unwrap_or_else(|_| custos_core::Timestamp::now().as_jiff()),
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.protect.held.lock().unwrap_or_else(|e| e.into_inner()).insert(
            id.clone(),
            protect::Held { agent: auth.agent.clone(), server: server.into(), tool: tool.into(), reply: tx },
        );
        let requested = Event::new(
            evidence::agent_actor(&auth.agent),
            Some(auth.agent.clone()),
            &ApprovalRequested {
                id: id.clone(),
                server: server.into(),
                tool: tool.into(),
                policies: policies.to_vec(),
                reason,
                args_digest: evidence::args_digest(&self.salt, arguments),
                args_preview: evidence::preview(arguments),
                expires,
                session: session.map(evidence::session_digest),
            },
        );
        if let Err(e) = self.append(requested).await {
            self.protect.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return Err(failed(e));
        }
        let verdict = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(v)) => v,
            // Timed out (or the sender vanished): deny, unless a human's decision won the race.
            _ => {
                let mine = self.protect.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                let note = format!("nobody decided within {} s", timeout.as_secs());
                if mine.is_some()
                    && let Err(e) = self
                        .record_verdict(
                            auth.agent.as_str(),
                            decided(&id, server, tool, ApprovalOutcome::TimedOut, Some(note.clone())),
                            Actor::system(),
                        )
                        .await
                {
                    eprintln!("custos: gateway: recording an approval timeout failed: {e}");
                }
                protect::Verdict { outcome: ApprovalOutcome::TimedOut, note: Some(note) }
            }
        };
        match verdict.outcome {
            ApprovalOutcome::Approved => Ok(()),
            other => Err((
                StatusCode::OK,
                jsonrpc::DENIED,
                format!(
                    "denied: approval {id} {}{}",
                    match other {
                        ApprovalOutcome::TimedOut => "timed out",
                        ApprovalOutcome::Cancelled => "was cancelled",
                        _ => "was denied",
                    },
                    verdict.note.map(|n| format!(": {n}")).unwrap_or_default()
                ),
            )),
        }
    }

    async fn record_verdict(&self, agent: &str, decided: ApprovalDecided, actor: Actor) -> Result<u64, String> {
        let agent: Option<AgentId> = agent.parse().ok();
        self.append(Event::new(actor, agent, &decided)).await
    }

    /// Calls held for approval (pending only, or all), newest first.
    pub async fn approvals(&self, pending_only: bool) -> Result<Vec<ApprovalRecord>, GatewayError> {
        self.store.approvals(pending_only).await.map_err(|e| GatewayError::Evidence(e.to_string()))
    }

    /// A human's decision on a held call: recorded, then the waiting call proceeds or is denied.
    pub async fn decide_approval(
        &self,
        id: &str,
        approve: bool,
        actor: Actor,
        note: Option<String>,
    ) -> Result<ApprovalRecord, GatewayError> {
        let held = self.protect.held.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        let Some(held) = held else {
            return match self.store.approval(id).await.map_err(|e| GatewayError::Evidence(e.to_string()))? {
                Some(a) => Err(GatewayError::Conflict(format!("approval `{id}` is already {}", a.state))),
                None => Err(GatewayError::NotFound(format!("no held call `{id}`"))),
            };
        };
        let outcome = if approve { ApprovalOutcome::Approved } else { ApprovalOutcome::Denied };
        if let Err(e) = self
            .record_verdict(held.agent.as_str(), decided(id, &held.server, &held.tool, outcome, note.clone()), actor)
            .await
        {
            // Not recorded, so not decided: the call stays held for another try (or its timeout).
            self.protect.held.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), held);
            return Err(GatewayError::Evidence(e));
        }
        let _ = held.reply.send(protect::Verdict { outcome, note });
        self.store
            .approval(id)
            .await
            .map_err(|e| GatewayError::Evidence(e.to_string()))?
            .ok_or_else(|| GatewayError::NotFound(format!("no held call `{id}`")))
    }

    /// The kill switch for one agent's in-flight work: its held calls are cancelled (and
    /// recorded) and every call of it in flight is cut off. Suspending the agent, so that no new
    /// call gets in, is the caller's part. Returns how many held calls were cancelled.
    pub async fn kill(&self, agent: &AgentId, actor: Actor, reason: &str) -> Result<usize, GatewayError> {
        let _ = self.protect.kills.send(agent.clone());
        let mine: Vec<(String, protect::Held)> = {
            let mut held = self.protect.held.lock().unwrap_or_else(|e| e.into_inner());
            let ids: Vec<String> = held.iter().filter(|(_, h)| h.agent == *agent).map(|(k, _)| k.clone()).collect();
            ids.into_iter().filter_map(|id| held.remove(&id).map(|h| (id, h))).collect()
        };
        let n = mine.len();
        let mut rest = mine.into_iter();
        while let Some((id, h)) = rest.next() {
            let note = Some(format!("kill switch: {reason}"));
            let outcome = ApprovalOutcome::Cancelled;
            let recorded = self
                .record_verdict(
                    h.agent.as_str(),
                    decided(&id, &h.server, &h.tool, outcome, note.clone()),
                    actor.clone(),
                )
                .await;
            if let Err(e) = recorded {
                // Not recorded, so not cancelled: this call and those after it stay held (their
                // clients are cut off anyway); a retry of the kill finds them.
                let mut held = self.protect.held.lock().unwrap_or_else(|e| e.into_inner());
                held.insert(id, h);
                held.extend(rest);
                return Err(GatewayError::Evidence(e));
            }
            let _ = h.reply.send(protect::Verdict { outcome, note });
        }
        Ok(n)
    }

    /// Stops the gateway's own waiting so the server can shut down promptly: held calls are
    /// cancelled and recorded (`approval.decided`, cancelled), calls in flight end with an
    /// error saying custos is stopping, and event streams close.
    pub async fn stop(&self) {
        let _ = self.protect.stopping.send(true);
        let held: Vec<(String, protect::Held)> =
            self.protect.held.lock().unwrap_or_else(|e| e.into_inner()).drain().collect();
        for (id, h) in held {
            let note = Some("custos stopped while the call was held; the call was not made".to_string());
            let outcome = ApprovalOutcome::Cancelled;
            let d = decided(&id, &h.server, &h.tool, outcome, note.clone());
            // Not recorded now: the next start finds it pending and records it then.
            if let Err(e) = self.record_verdict(h.agent.as_str(), d, Actor::system()).await {
                eprintln!("custos: gateway: recording a cancelled approval at stop failed: {e}");
            }
            let _ = h.reply.send(protect::Verdict { outcome, note });
        }
    }

    /// Sets the labels an operator gives a tool (replacing the set): `tool.labeled`, then the
    /// policies are rebuilt with them.
    pub async fn label_tool(
        &self,
        qualified: &str,
        labels: Vec<String>,
        actor: Actor,
        note: Option<String>,
    ) -> Result<ToolPin, GatewayError> {
        let Some(pin) = self.protect.pin(qualified) else {
            return Err(GatewayError::NotFound(format!("no tool `{qualified}` has been seen")));
        };
        if let Some(bad) = labels.iter().find(|l| !custos_core::protect::valid_label(l)) {
            return Err(GatewayError::Config(format!(
                "`{bad}` is not a label: 1-32 of a-z, 0-9 and `-` (e.g. {})",
                config::LABELS.join(", ")
            )));
        }
        let mut labels = labels;
        labels.sort();
        labels.dedup();
        let event = Event::new(
            actor,
            None,
            &custos_core::protect::ToolLabeled { server: pin.server.clone(), tool: pin.tool.clone(), labels, note },
        );
        self.apply_tool_event(event, qualified, "labelled").await
    }

    /// Records an operator's change to a tool, puts it in force (pins re-read from the
    /// projection, the policies rebuilt when the tool set changed, listening clients told) and
    /// returns the tool's pin. The change is recorded whatever the reload says: a refused
    /// reload keeps the policies in force, and the pin alone decides whether the tool is callable.
    async fn apply_tool_event(
        &self,
        event: Result<Event, custos_core::CoreError>,
        qualified: &str,
        what: &str,
    ) -> Result<ToolPin, GatewayError> {
        self.append(event).await.map_err(GatewayError::Evidence)?;
        self.reload_pins().await?;
        if let Err(e) = self.reload().await {
            eprintln!("custos: gateway: `{qualified}` {what}, but the reload after it was refused: {e}");
        }
        self.protect.pin(qualified).ok_or_else(|| GatewayError::NotFound(format!("no tool `{qualified}`")))
    }

    /// Reads the pins back from the ledger's projection (after pin events were appended).
    async fn reload_pins(&self) -> Result<(), GatewayError> {
        let pins = self.store.tool_pins().await.map_err(|e| GatewayError::Evidence(e.to_string()))?;
        self.protect.load_pins(pins);
        Ok(())
    }

    /// Every tool's pin state.
    pub fn tool_pins(&self) -> Vec<ToolPin> {
        self.protect.pins()
    }

    /// Accepts the manifest a tool is listed with now: `tool.approved`, and it is callable
    /// again (policy permitting).
    pub async fn approve_tool(
        &self,
        qualified: &str,
        actor: Actor,
        note: Option<String>,
    ) -> Result<ToolPin, GatewayError> {
        let Some(pin) = self.protect.pin(qualified) else {
            return Err(GatewayError::NotFound(format!("no tool `{qualified}` has been seen")));
        };
        if pin.state == custos_core::protect::PinState::Pinned {
            return Err(GatewayError::Conflict(format!(
                "tool `{qualified}` is pinned and unchanged: nothing to approve"
            )));
        }
        let listed = self.listed.lock().unwrap_or_else(|e| e.into_inner()).get(qualified).cloned();
        let Some(listed) = listed else {
            return Err(GatewayError::Conflict(format!(
                "tool `{qualified}` is not listed by its server now: there is no manifest to approve"
            )));
        };
        let m =
            custos_core::manifest::ToolManifest::from_mcp(&listed).map_err(|e| GatewayError::Config(e.to_string()))?;
        let digest = m.digest().map_err(|e| GatewayError::Config(e.to_string()))?;
        let canonical = m.canonical().map_err(|e| GatewayError::Config(e.to_string()))?;
        let manifest: Value = serde_json::from_str(&canonical).map_err(|e| GatewayError::Config(e.to_string()))?;
        let event = Event::new(
            actor,
            None,
            &ToolApproved { server: pin.server.clone(), tool: pin.tool.clone(), digest, manifest, note },
        );
        // The pin's state is part of what the engine in force was built from, so the reload
        // sees the change and tells listening clients the tool is visible again.
        self.apply_tool_event(event, qualified, "approved").await
    }
}

/// A tool call's answer, or the HTTP status, JSON-RPC code and message of its error.
type CallOutcome = Result<Value, (StatusCode, i64, String)>;

/// What an in-flight 2026-07-28 call reports to the request that waits on it.
enum Step {
    /// The upstream asks the client something: it goes out as an `inputRequest`.
    Ask(upstream::RelayRequest),
    /// The call is over.
    Done(CallOutcome),
}

/// A call parked between two rounds: the answers it waits for, and where its next step comes.
struct Continuation {
    agent: AgentId,
    credential: String,
    waiting: Vec<(String, tokio::sync::oneshot::Sender<Value>)>,
    steps: tokio::sync::mpsc::Receiver<Step>,
}

/// What an MRTR `requestState` carries (sealed: the client cannot read or forge it).
#[derive(serde::Serialize, serde::Deserialize)]
struct RequestState {
    /// Continuation key.
    k: String,
    /// Agent and credential it belongs to.
    a: String,
    c: String,
    /// Expires, Unix seconds.
    e: i64,
}

const STATE_PREFIX: &str = "cr1.";
const STATE_AAD: &[u8] = b"custos mrtr request state v1";

impl Gateway {
    /// A 2026-07-28 `tools/call`. A fresh call is decided and forwarded as usual, in a task of
    /// its own; when the upstream asks the client something on the way, the answer is an
    /// `input_required` result carrying the requests and a sealed `requestState`, and the call
    /// waits. The client's retry (a new request with `inputResponses` and the `requestState`)
    /// delivers the answers and waits for the next step. The retry is authenticated like any
    /// request and must come from the credential that made the call; it is not decided again.
    async fn tools_call_mrtr(
        self: Arc<Self>,
        auth: Authenticated,
        scope: Option<String>,
        params: Value,
    ) -> Result<Value, (StatusCode, i64, String)> {
        let invalid = |m: &str| (StatusCode::OK, jsonrpc::INVALID_PARAMS, m.to_string());
        let (agent, credential) = (auth.agent.clone(), auth.credential.clone());
        let steps = match params.get("requestState").and_then(Value::as_str) {
            Some(sealed) => {
                let state: RequestState = self
                    .sealer
                    .open_as(STATE_PREFIX, STATE_AAD, sealed)
                    .ok_or_else(|| invalid("`requestState` is not one custos issued"))?;
                if state.a != auth.agent.as_str() || state.c != auth.credential {
                    return Err(invalid("`requestState` belongs to another credential"));
                }
                if custos_core::Timestamp::now().as_jiff().as_second() > state.e {
                    return Err(invalid("`requestState` has expired: call the tool again"));
                }
                let cont = self.continuations.lock().unwrap_or_else(|e| e.into_inner()).remove(&state.k);
                let Some(cont) = cont else {
                    return Err(invalid(
                        "the call this `requestState` continues is over or expired: call the tool again",
                    ));
                };
                if cont.agent != auth.agent || cont.credential != auth.credential {
                    return Err(invalid("`requestState` belongs to another credential"));
                }
                let responses = params.get("inputResponses").cloned().unwrap_or(Value::Null);
                for (key, reply) in cont.waiting {
                    let answer = match responses.get(&key) {
                        Some(v) if v.get("error").is_some() => json!({"error": v["error"]}),
                        Some(v) => json!({"result": v}),
                        None => {
                            json!({"error": {"code": jsonrpc::INVALID_PARAMS, "message": "the client gave no answer"}})
                        }
                    };
                    let _ = reply.send(answer);
                }
                cont.steps
            }
            None => {
                let (relay_tx, mut relay_rx) = tokio::sync::mpsc::unbounded_channel::<upstream::RelayRequest>();
                let gw = self.clone();
                // Driven inline (the common case: no request to the client, no task, no
                // channel hop); moved to a task of its own only when it has to wait for the
                // client's next round.
                let mut call: std::pin::Pin<Box<dyn std::future::Future<Output = CallOutcome> + Send>> = Box::pin(
                    async move { gw.tools_call(&auth, scope.as_deref(), None, &params, Some(relay_tx)).await },
                );
                let first = tokio::select! {
                    out = &mut call => return out,
                    Some(req) = relay_rx.recv() => req,
                };
                let (tx, rx) = tokio::sync::mpsc::channel::<Step>(16);
                let _ = tx.try_send(Step::Ask(first));
                tokio::spawn(async move {
                    let out = loop {
                        tokio::select! {
                            out = &mut call => break out,
                            Some(req) = relay_rx.recv() => {
                                // A client that never comes back drops the answer: the upstream
                                // hears "no answer" and the call ends.
                                let _ = tx.send(Step::Ask(req)).await;
                            }
                        }
                    };
                    let _ = tx.send(Step::Done(out)).await;
                });
                rx
            }
        };
        self.next_round(agent, credential, steps).await
    }

    /// Waits for the call's next step: its answer, or the upstream's next request to the client
    /// (returned as `input_required`, the call parked until the client's retry or the timeout).
    async fn next_round(
        self: &Arc<Self>,
        agent: AgentId,
        credential: String,
        mut steps: tokio::sync::mpsc::Receiver<Step>,
    ) -> Result<Value, (StatusCode, i64, String)> {
        let ask = match tokio::time::timeout(self.timeout, steps.recv()).await {
            Ok(Some(Step::Done(out))) => return out,
            Ok(Some(Step::Ask(r))) => r,
            Ok(None) => {
                return Err((StatusCode::OK, jsonrpc::UPSTREAM_ERROR, "the call ended without an answer".into()));
            }
            Err(_) => {
                return Err((
                    StatusCode::OK,
                    jsonrpc::UPSTREAM_ERROR,
                    format!("no answer within {} ms", self.timeout.as_millis()),
                ));
            }
        };
        let key = session::random_tag();
        let expires = custos_core::Timestamp::now().as_jiff().as_second() + self.timeout.as_secs().max(1) as i64;
        let state = RequestState { k: key.clone(), a: agent.to_string(), c: credential.clone(), e: expires };
        let sealed = self
            .sealer
            .seal_as(STATE_PREFIX, STATE_AAD, &state)
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, jsonrpc::INTERNAL_ERROR, e))?;
        let requests = json!({"r0": {"method": ask.method, "params": ask.params}});
        self.continuations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), Continuation { agent, credential, waiting: vec![("r0".into(), ask.reply)], steps });
        // A client that never retries: the parked call is dropped at the timeout, which tells
        // the upstream that no answer is coming.
        let weak = Arc::downgrade(self);
        let after = self.timeout;
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if let Some(gw) = weak.upgrade() {
                gw.continuations.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
            }
        });
        Ok(json!({"resultType": "input_required", "inputRequests": requests, "requestState": sealed}))
    }
}

/// `gateway.auth_failed` events recorded per second at most.
pub const AUTH_EVENTS_PER_SEC: u64 = 100;

/// A per-second budget of events, counting what it turned away.
#[derive(Debug, Default)]
struct RateLimit {
    state: std::sync::Mutex<(u64, u64, u64)>, // (second, admitted in it, skipped since last admitted)
}

impl RateLimit {
    /// `Some(skipped before this one)` when admitted.
    fn admit(&self) -> Option<u64> {
        let now = custos_core::Timestamp::now().as_jiff().as_second() as u64;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.0 != now {
            *s = (now, 0, s.2);
        }
        if s.1 >= AUTH_EVENTS_PER_SEC {
            s.2 += 1;
            return None;
        }
        s.1 += 1;
        let skipped = s.2;
        s.2 = 0;
        Some(skipped)
    }
}

fn principal(auth: &Authenticated) -> Principal {
    let a = &auth.record;
    Principal {
        id: a.id.to_string(),
        owner: a.owner.as_ref().map(|o| o.to_string()).unwrap_or_default(),
        environment: a.environment.to_string(),
        tier: a.risk_tier.to_string(),
        state: a.state.to_string(),
        labels: a.labels.iter().map(|l| l.to_string()).collect(),
    }
}

/// 2026-07-28: the routing headers must be present and agree with the body.
#[allow(clippy::result_large_err, reason = "the error is the finished response; built once per bad request")]
fn check_headers(headers: &HeaderMap, msg: &Incoming) -> Result<(), Response> {
    let mismatch = |m: String| rpc_error(StatusCode::BAD_REQUEST, &Value::Null, jsonrpc::HEADER_MISMATCH, m);
    let (method, params) = match msg {
        Incoming::Request { method, params, .. } | Incoming::Notification { method, params } => (method, params),
        Incoming::Response { .. } => return Ok(()),
    };
    match header_str(headers, "mcp-method") {
        Some(h) if h == method => {}
        Some(h) => return Err(mismatch(format!("Mcp-Method `{h}` does not match the body's method `{method}`"))),
        None => return Err(mismatch("Mcp-Method is required with MCP-Protocol-Version 2026-07-28".into())),
    }
    if matches!(method.as_str(), "tools/call" | "resources/read" | "prompts/get") {
        let key = if method == "resources/read" { "uri" } else { "name" };
        let body_name = params.get(key).and_then(Value::as_str).unwrap_or("");
        match header_str(headers, "mcp-name") {
            Some(h) if h == body_name => {}
            Some(h) => return Err(mismatch(format!("Mcp-Name `{h}` does not match the body's {key} `{body_name}`"))),
            None => return Err(mismatch(format!("Mcp-Name is required for `{method}`"))),
        }
    }
    Ok(())
}

fn decided(id: &str, server: &str, tool: &str, outcome: ApprovalOutcome, note: Option<String>) -> ApprovalDecided {
    ApprovalDecided { id: id.into(), server: server.into(), tool: tool.into(), outcome, note }
}
