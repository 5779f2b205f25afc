//! Upstream MCP servers: Streamable HTTP (custos is the client, in the 2025-11-25 session era,
//! whatever era the agent speaks) and stdio (custos spawns, supervises and restarts the
//! process). The gateway never forwards an agent's JSON-RPC id or token: every upstream request
//! carries custos's own id, and an HTTP upstream sees only the credential from the config.

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
    kind: Kind,
    healthy: AtomicBool,
    next_id: AtomicU64,
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
                url: url.clone(),
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
        Ok(Arc::new(Self { name: cfg.name.clone(), kind, healthy: AtomicBool::new(false), next_id: AtomicU64::new(1) }))
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
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let fut = async {
            match &self.kind {
                Kind::Http(h) => h.request(&self.name, &msg, id).await,
                Kind::Stdio(s) => s.request(self, &msg, id).await,
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

fn initialize_params() -> Value {
    json!({
        "protocolVersion": UPSTREAM_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "custos-gateway", "version": env!("CARGO_PKG_VERSION")},
    })
}

// ---- Streamable HTTP -------------------------------------------------------------------------

#[derive(Debug)]
struct Http {
    url: String,
    credential: Option<custos_core::Secret<String>>,
    client: reqwest::Client,
    /// The upstream session (one per upstream, shared by every agent's calls).
    session: Mutex<Option<String>>,
}

impl Http {
    async fn post(&self, server: &str, msg: &Value, session: Option<&str>) -> Result<reqwest::Response, UpstreamError> {
        let mut req = self
            .client
            .post(&self.url)
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
        let body = read_body(server, resp, &json!(0)).await?;
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

    async fn request(&self, server: &str, msg: &Value, id: u64) -> Result<Value, UpstreamError> {
        for attempt in 0..2 {
            let sid = self.session(server).await?.filter(|s| !s.is_empty());
            let resp = self.post(server, msg, sid.as_deref()).await?;
            if resp.status() == reqwest::StatusCode::NOT_FOUND && sid.is_some() && attempt == 0 {
                // The upstream forgot the session (restart): initialize again, once.
                *self.session.lock().await = None;
                continue;
            }
            return read_body(server, resp, &json!(id)).await;
        }
        Err(UpstreamError::Unavailable {
            server: server.to_string(),
            why: "the session could not be re-established".into(),
        })
    }
}

/// The JSON-RPC response with `id` from an HTTP answer: one JSON object, or an SSE stream whose
/// events include it.
async fn read_body(server: &str, resp: reqwest::Response, id: &Value) -> Result<Value, UpstreamError> {
    let status = resp.status();
    let sse = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/event-stream"));
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| UpstreamError::Unavailable { server: server.to_string(), why: e.to_string() })?;
    let protocol = |why: String| UpstreamError::Protocol { server: server.to_string(), why };
    if !status.is_success() && !sse {
        // Some servers answer errors as JSON-RPC with a 4xx; relay those.
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            && v.get("error").is_some()
        {
            return Ok(v);
        }
        return Err(UpstreamError::Unavailable {
            server: server.to_string(),
            why: format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>()),
        });
    }
    if !sse {
        return serde_json::from_slice(&bytes).map_err(|e| protocol(format!("invalid JSON: {e}")));
    }
    let text = String::from_utf8_lossy(&bytes);
    for event in text.split("\n\n") {
        let data: String = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect::<Vec<_>>()
            .join("\n");
        if data.is_empty() {
            continue;
        }
        if let Ok(v) = serde_json::from_str::<Value>(&data)
            && v.get("id") == Some(id)
            && (v.get("result").is_some() || v.get("error").is_some())
        {
            return Ok(v);
        }
    }
    Err(protocol("the event stream ended without the response".into()))
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

#[derive(Debug)]
struct Running {
    tx: mpsc::Sender<String>,
    pending: Pending,
    alive: Arc<AtomicBool>,
}

/// Restart backoff: 100 ms, doubling, at most 30 s.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

impl Stdio_ {
    async fn request(&self, up: &Upstream, msg: &Value, id: u64) -> Result<Value, UpstreamError> {
        let (tx, pending) = self.ensure(up).await?;
        let (reply, rx) = oneshot::channel();
        pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, reply);
        let line = msg.to_string();
        if tx.send(line).await.is_err() {
            pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return Err(UpstreamError::Unavailable { server: up.name.clone(), why: "the process exited".into() });
        }
        rx.await.map_err(|_| UpstreamError::Unavailable {
            server: up.name.clone(),
            why: "the process exited before answering".into(),
        })
    }

    /// A running, initialized process (starting one, with backoff after failures).
    async fn ensure(&self, up: &Upstream) -> Result<(mpsc::Sender<String>, Pending), UpstreamError> {
        let mut guard = self.running.lock().await;
        if let Some(r) = guard.as_ref()
            && r.alive.load(Ordering::Relaxed)
        {
            return Ok((r.tx.clone(), r.pending.clone()));
        }
        let mut delay = Duration::from_millis(100);
        let mut last = String::new();
        for _ in 0..4 {
            match self.spawn(up).await {
                Ok(r) => {
                    let out = (r.tx.clone(), r.pending.clone());
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
        // Reader: responses to their waiters; requests from the server are refused (this
        // gateway does not relay server→client requests to stdio servers yet).
        let reply_tx = tx.clone();
        tokio::spawn({
            let pending = pending.clone();
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
                        (_, Some(_)) if v.get("id").is_some() => {
                            let refusal = json!({"jsonrpc": "2.0", "id": v["id"], "error": {
                                "code": crate::jsonrpc::METHOD_NOT_FOUND,
                                "message": "custos does not relay this request to the agent"}});
                            let _ = reply_tx.send(refusal.to_string()).await;
                        }
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
        let running = Running { tx, pending, alive };
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
