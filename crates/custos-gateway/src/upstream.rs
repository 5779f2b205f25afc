//! Upstream MCP servers: Streamable HTTP (custos is the client, in the 2025-11-25 session era,
//! whatever era the agent speaks) and stdio (custos spawns, supervises and restarts the
//! process). The gateway never forwards an agent's JSON-RPC id or token: every upstream request
//! carries custos's own id, and an HTTP upstream sees only the credential from the config.
#![allow(clippy::result_large_err, reason = "an upstream error carries the upstream's JSON-RPC error for relaying")]

use std::{
    collections::HashMap,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
    sync::{Mutex, mpsc, oneshot},
};

use crate::config::ServerConfig;

/// A request from an upstream server to the agent's client (sampling, elicitation, roots),
/// made while one of the agent's calls is in flight. `reply` takes the client's answer: the
/// `result` or `error` member of its JSON-RPC response, as an object `{"result": …}` or
/// `{"error": …}`.
#[derive(Debug)]
pub struct RelayRequest {
    pub method: String,
    pub params: Value,
    pub reply: oneshot::Sender<Value>,
}

/// Where an in-flight call's server→client requests go.
pub type Relay = mpsc::UnboundedSender<RelayRequest>;

/// Asks the client through `relay` and builds the JSON-RPC response for the upstream.
async fn relay_to_client(relay: Option<&Relay>, id: Value, method: &str, params: Value) -> Value {
    let refuse = |why: &str| json!({"jsonrpc": "2.0", "id": id, "error": {"code": crate::jsonrpc::METHOD_NOT_FOUND, "message": why}});
    let Some(relay) = relay else {
        return refuse("custos cannot relay this request: no client call it belongs to is waiting");
    };
    let (reply, rx) = oneshot::channel();
    if relay.send(RelayRequest { method: method.to_string(), params, reply }).is_err() {
        return refuse("the client is gone");
    }
    match rx.await {
        Ok(answer) => {
            let mut out = json!({"jsonrpc": "2.0", "id": id});
            if let (Some(o), Value::Object(a)) = (out.as_object_mut(), answer) {
                for (k, v) in a {
                    if k == "result" || k == "error" {
                        o.insert(k, v);
                    }
                }
            }
            if out.get("result").is_none() && out.get("error").is_none() {
                return refuse("the client's answer had neither result nor error");
            }
            out
        }
        Err(_) => refuse("the client did not answer"),
    }
}

/// The protocol version custos speaks to upstreams.
pub const UPSTREAM_VERSION: &str = "2025-11-25";

/// Why an upstream request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream `{server}` is unavailable: {why}")]
    Unavailable { server: String, why: String },
    #[error("upstream `{server}` did not answer within {ms} ms")]
    Timeout { server: String, ms: u64 },
    /// The upstream answered with a JSON-RPC error: relayed as is.
    #[error("upstream `{server}` answered error {code}: {message}")]
    Rpc { server: String, code: i64, message: String, data: Option<Value> },
    #[error("upstream `{server}` answered something that is not MCP: {why}")]
    Protocol { server: String, why: String },
}

impl UpstreamError {
    /// A short status word for evidence.
    pub fn status(&self) -> &'static str {
        match self {
            UpstreamError::Unavailable { .. } => "unavailable",
            UpstreamError::Timeout { .. } => "timeout",
            UpstreamError::Rpc { .. } => "rpc_error",
            UpstreamError::Protocol { .. } => "protocol_error",
        }
    }
}

/// One upstream server.
#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    /// `session_meta` in its configuration.
    pub session_meta: bool,
    kind: Kind,
    healthy: AtomicBool,
    next_id: AtomicU64,
    /// Notified when the server says its tool list changed.
    pub tools_changed: Arc<tokio::sync::Notify>,
}

#[derive(Debug)]
enum Kind {
    Http(Http),
    Stdio(Stdio_),
}

impl Upstream {
    pub fn new(cfg: &ServerConfig) -> Result<Arc<Self>, String> {
        cfg.check()?;
        let kind = match (&cfg.url, &cfg.command) {
            (Some(url), _) => Kind::Http(Http {
                // Parsed once: reqwest would otherwise parse (and IDNA-map) the string per call.
                url: reqwest::Url::parse(url).map_err(|e| format!("servers.{}: url `{url}`: {e}", cfg.name))?,
                credential: cfg.resolve_credential()?.map(custos_core::Secret::new),
                client: crate::http_client()
                    .pool_max_idle_per_host(64)
                    .build()
                    .map_err(|e| format!("servers.{}: HTTP client: {e}", cfg.name))?,
                session: Mutex::new(None),
            }),
            (None, Some(cmd)) => Kind::Stdio(Stdio_ {
                command: cmd.clone(),
                args: cfg.args.clone(),
                env: cfg.env.clone().into_iter().collect(),
                running: Mutex::new(None),
            }),
            (None, None) => return Err(format!("servers.{}: no url or command", cfg.name)),
        };
        Ok(Arc::new(Self {
            name: cfg.name.clone(),
            session_meta: cfg.session_meta,
            kind,
            healthy: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
            tools_changed: Arc::new(tokio::sync::Notify::new()),
        }))
    }

    pub fn transport(&self) -> &'static str {
        match self.kind {
            Kind::Http(_) => "streamable-http",
            Kind::Stdio(_) => "stdio",
        }
    }

    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Sends one request and returns its `result`.
    pub async fn request(&self, method: &str, params: Value, timeout: Duration) -> Result<Value, UpstreamError> {
        self.request_relayed(method, params, timeout, None).await
    }

    /// Sends one request; requests the server makes while answering it go to `relay`.
    pub async fn request_relayed(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
        relay: Option<Relay>,
    ) -> Result<Value, UpstreamError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let fut = async {
            match &self.kind {
                Kind::Http(h) => h.request(&self.name, &msg, id, relay.as_ref()).await,
                Kind::Stdio(s) => s.request(self, &msg, id, relay).await,
            }
        };
        let out = match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Timeout { server: self.name.clone(), ms: timeout.as_millis() as u64 }),
        };
        let reached = !matches!(out, Err(UpstreamError::Unavailable { .. }) | Err(UpstreamError::Timeout { .. }));
        self.healthy.store(reached, Ordering::Relaxed);
        let body = out?;
        response_result(&self.name, body)
    }

    /// Every tool, following `nextCursor`.
    pub async fn list_tools(&self, timeout: Duration) -> Result<Vec<Value>, UpstreamError> {
        let mut tools = Vec::new();
        let mut cursor: Option<Value> = None;
        for _ in 0..100 {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let r = self.request("tools/list", params, timeout).await?;
            if let Some(t) = r.get("tools").and_then(Value::as_array) {
                tools.extend(t.iter().cloned());
            }
            match r.get("nextCursor") {
                Some(c) if !c.is_null() => cursor = Some(c.clone()),
                _ => break,
            }
        }
        Ok(tools)
    }
}

fn response_result(server: &str, body: Value) -> Result<Value, UpstreamError> {
    if let Some(e) = body.get("error") {
        return Err(UpstreamError::Rpc {
            server: server.to_string(),
            code: e.get("code").and_then(Value::as_i64).unwrap_or(-32603),
            message: e.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
            data: e.get("data").cloned(),
        });
    }
    body.get("result").cloned().ok_or_else(|| UpstreamError::Protocol {
        server: server.to_string(),
        why: "a response without `result` or `error`".into(),
    })
}

/// custos declares what it can relay to agents' clients: a server may then ask for sampling,
/// elicitation or roots while answering a call, and the request goes to that call's client
/// (or is refused when none can be named).
fn initialize_params() -> Value {
    json!({
        "protocolVersion": UPSTREAM_VERSION,
        "capabilities": {"sampling": {}, "elicitation": {}, "roots": {"listChanged": false}},
        "clientInfo": {"name": "custos-gateway", "version": env!("CARGO_PKG_VERSION")},
    })
}

// ---- Streamable HTTP -------------------------------------------------------------------------

#[derive(Debug)]
struct Http {
    url: reqwest::Url,
    credential: Option<custos_core::Secret<String>>,
    client: reqwest::Client,
    /// The upstream session (one per upstream, shared by every agent's calls).
    session: Mutex<Option<String>>,
}

impl Http {
    async fn post(&self, server: &str, msg: &Value, session: Option<&str>) -> Result<reqwest::Response, UpstreamError> {
        let mut req = self
            .client
            .post(self.url.clone())
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", UPSTREAM_VERSION)
            .json(msg);
        if let Some(s) = session {
            req = req.header("Mcp-Session-Id", s);
        }
        if let Some(c) = &self.credential {
            req = req.bearer_auth(c.expose());
        }
        req.send().await.map_err(|e| UpstreamError::Unavailable { server: server.to_string(), why: e.to_string() })
    }

    async fn session(&self, server: &str) -> Result<Option<String>, UpstreamError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(Some(s.clone()));
        }
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize_params()});
        let resp = self.post(server, &init, None).await?;
        let sid = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = read_body(server, resp, &json!(0), None, self, sid.as_deref()).await?;
        response_result(server, body)?;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.post(server, &note, sid.as_deref()).await?;
        *guard = sid.clone();
        // A server without sessions still gets `initialize` once; remember that with "".
        if guard.is_none() {
            *guard = Some(String::new());
        }
        Ok(sid)
    }

    async fn request(&self, server: &str, msg: &Value, id: u64, relay: Option<&Relay>) -> Result<Value, UpstreamError> {
        for attempt in 0..2 {
            let sid = self.session(server).await?.filter(|s| !s.is_empty());
            let resp = self.post(server, msg, sid.as_deref()).await?;
            if resp.status() == reqwest::StatusCode::NOT_FOUND && sid.is_some() && attempt == 0 {
                // The upstream forgot the session (restart): initialize again, once.
                *self.session.lock().await = None;
                continue;
            }
            return read_body(server, resp, &json!(id), relay, self, sid.as_deref()).await;
        }
        Err(UpstreamError::Unavailable {
            server: server.to_string(),
            why: "the session could not be re-established".into(),
        })
    }
}

/// The JSON-RPC response with `id` from an HTTP answer: one JSON object, or an SSE stream read
/// as it arrives, whose events may include requests to the client (relayed, and answered with a
/// POST in the same session) before the response.
async fn read_body(
    server: &str,
    mut resp: reqwest::Response,
    id: &Value,
    relay: Option<&Relay>,
    http: &Http,
    session: Option<&str>,
) -> Result<Value, UpstreamError> {
    let status = resp.status();
    let sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"));
    let unavailable = |e: reqwest::Error| UpstreamError::Unavailable { server: server.to_string(), why: e.to_string() };
    let protocol = |why: String| UpstreamError::Protocol { server: server.to_string(), why };
    if !sse {
        let bytes = resp.bytes().await.map_err(unavailable)?;
        if !status.is_success() {
            // Some servers answer errors as JSON-RPC with a 4xx; relay those.
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes)
                && v.get("error").is_some()
            {
                return Ok(v);
            }
            return Err(UpstreamError::Unavailable {
                server: server.to_string(),
                why: format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>()
                ),
            });
        }
        return serde_json::from_slice(&bytes).map_err(|e| protocol(format!("invalid JSON: {e}")));
    }
    let mut buf = String::new();
    loop {
        // Handle every complete event in the buffer.
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect::<Vec<_>>()
                .join("\n");
            let Ok(v) = serde_json::from_str::<Value>(&data) else { continue };
            if v.get("id") == Some(id) && (v.get("result").is_some() || v.get("error").is_some()) {
                return Ok(v);
            }
            if let (Some(method), Some(req_id)) = (v.get("method").and_then(Value::as_str), v.get("id")) {
                let answer =
                    relay_to_client(relay, req_id.clone(), method, v.get("params").cloned().unwrap_or(Value::Null))
                        .await;
                http.post(server, &answer, session).await?;
            }
        }
        match resp.chunk().await.map_err(unavailable)? {
            Some(bytes) => buf.push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
            None => return Err(protocol("the event stream ended without the response".into())),
        }
    }
}

// ---- stdio -----------------------------------------------------------------------------------

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

#[derive(Debug)]
struct Stdio_ {
    command: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    running: Mutex<Option<Running>>,
}

/// The relays of the calls in flight on one stdio process, by custos's request id.
type Relays = Arc<std::sync::Mutex<HashMap<u64, Relay>>>;

#[derive(Debug)]
struct Running {
    tx: mpsc::Sender<String>,
    pending: Pending,
    relays: Relays,
    alive: Arc<AtomicBool>,
}

/// Restart backoff: 100 ms, doubling, at most 30 s.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

impl Stdio_ {
    async fn request(&self, up: &Upstream, msg: &Value, id: u64, relay: Option<Relay>) -> Result<Value, UpstreamError> {
        let (tx, pending, relays) = self.ensure(up).await?;
        let (reply, rx) = oneshot::channel();
        pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, reply);
        if let Some(r) = relay {
            relays.lock().unwrap_or_else(|e| e.into_inner()).insert(id, r);
        }
        let line = msg.to_string();
        let out = if tx.send(line).await.is_err() {
            pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            Err(UpstreamError::Unavailable { server: up.name.clone(), why: "the process exited".into() })
        } else {
            rx.await.map_err(|_| UpstreamError::Unavailable {
                server: up.name.clone(),
                why: "the process exited before answering".into(),
            })
        };
        relays.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        out
    }

    /// A running, initialized process (starting one, with backoff after failures).
    async fn ensure(&self, up: &Upstream) -> Result<(mpsc::Sender<String>, Pending, Relays), UpstreamError> {
        let mut guard = self.running.lock().await;
        if let Some(r) = guard.as_ref()
            && r.alive.load(Ordering::Relaxed)
        {
            return Ok((r.tx.clone(), r.pending.clone(), r.relays.clone()));
        }
        let mut delay = Duration::from_millis(100);
        let mut last = String::new();
        for _ in 0..4 {
            match self.spawn(up).await {
                Ok(r) => {
                    let out = (r.tx.clone(), r.pending.clone(), r.relays.clone());
                    *guard = Some(r);
                    return Ok(out);
                }
                Err(e) => {
                    eprintln!(
                        "custos: upstream `{}`: start failed: {e}; retrying in {} ms",
                        up.name,
                        delay.as_millis()
                    );
                    last = e;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(BACKOFF_MAX);
                }
            }
        }
        Err(UpstreamError::Unavailable { server: up.name.clone(), why: last })
    }

    async fn spawn(&self, up: &Upstream) -> Result<Running, String> {
        let mut child = Command::new(&self.command)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run `{}`: {e}", self.command))?;
        let (Some(mut stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err("no pipes to the process".into());
        };
        let name = up.name.clone();
        let pending: Pending = Arc::default();
        let relays: Relays = Arc::default();
        let alive = Arc::new(AtomicBool::new(true));
        let (tx, mut rx) = mpsc::channel::<String>(1024);
        // stderr → our log, line by line, named.
        tokio::spawn({
            let name = name.clone();
            async move {
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    eprintln!("custos: upstream `{name}` stderr: {l}");
                }
            }
        });
        // Writer: one JSON message per line.
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if stdin.write_all(line.as_bytes()).await.is_err() || stdin.write_all(b"\n").await.is_err() {
                    break;
                }
                let _ = stdin.flush().await;
            }
        });
        // Reader: responses to their waiters; requests from the server go to the client of the
        // call they belong to. stdio carries no correlation, so a request is relayed only when
        // exactly one call is in flight; otherwise no agent can be named and it is refused.
        let reply_tx = tx.clone();
        tokio::spawn({
            let pending = pending.clone();
            let relays = relays.clone();
            let changed = up.tools_changed.clone();
            let alive = alive.clone();
            let name = name.clone();
            async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let Ok(v) = serde_json::from_str::<Value>(&l) else {
                        eprintln!("custos: upstream `{name}` wrote a line that is not JSON-RPC; ignored");
                        continue;
                    };
                    match (v.get("id").and_then(Value::as_u64), v.get("method")) {
                        (Some(id), None) => {
                            if let Some(w) = pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) {
                                let _ = w.send(v);
                            }
                        }
                        (_, Some(method)) if v.get("id").is_some() => {
                            let relay = {
                                let r = relays.lock().unwrap_or_else(|e| e.into_inner());
                                if r.len() == 1 { r.values().next().cloned() } else { None }
                            };
                            let (id, method) = (
                                v.get("id").cloned().unwrap_or(Value::Null),
                                method.as_str().unwrap_or("").to_string(),
                            );
                            let params = v.get("params").cloned().unwrap_or(Value::Null);
                            let reply_tx = reply_tx.clone();
                            // Answered in its own task: the reader must keep reading meanwhile.
                            tokio::spawn(async move {
                                let answer = relay_to_client(relay.as_ref(), id, &method, params).await;
                                let _ = reply_tx.send(answer.to_string()).await;
                            });
                        }
                        (None, Some(m)) if m == "notifications/tools/list_changed" => changed.notify_one(),
                        _ => {}
                    }
                }
                alive.store(false, Ordering::Relaxed);
                // Everyone waiting learns that the process is gone.
                pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
                let status = child.wait().await;
                eprintln!("custos: upstream `{name}` exited ({status:?}); it restarts on the next call");
            }
        });
        let running = Running { tx, pending, relays, alive };
        // Handshake.
        let id = up.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = oneshot::channel();
        running.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, reply);
        let init = json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": initialize_params()});
        running.tx.send(init.to_string()).await.map_err(|_| "the process exited".to_string())?;
        let answer = tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .map_err(|_| "no answer to `initialize` within 60 s".to_string())?
            .map_err(|_| "the process exited during `initialize`".to_string())?;
        response_result(&name, answer).map_err(|e| e.to_string())?;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        running.tx.send(note.to_string()).await.map_err(|_| "the process exited".to_string())?;
        Ok(running)
    }
}
