//! A minimal MCP client, over Streamable HTTP or stdio: initialize, send requests one at a time,
//! list tools. The probe uses it to look at an MCP server the way an agent would before trusting
//! it ([`crate::mcpcheck`]); it is not a general client (no server-initiated requests are
//! served, no concurrent calls), which keeps every failure a plain, typed error.
//!
//! Nothing the server sends can make it panic: every answer is read as untrusted JSON, and every
//! request is bounded by the client's timeout.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use custos_core::Secret;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The protocol version asked for in `initialize`; the server's answer decides the one used.
pub const PROTOCOL_VERSION: &str = "2025-06-18";

/// Pages of `tools/list` followed at most: a server that hands out cursors forever must not keep
/// the client busy forever.
const MAX_PAGES: usize = 100;

/// Bytes of a stdio server's stderr kept to explain why it stopped.
const STDERR_TAIL: usize = 2048;

/// Why talking to an MCP server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot build an HTTP client: {0}")]
    HttpClient(String),
    #[error("cannot start `{command}`: {why}")]
    Spawn { command: String, why: String },
    #[error("`{method}` got no answer within {} ms", timeout.as_millis())]
    Timeout { method: String, timeout: Duration },
    #[error("`{method}` failed: {why}")]
    Transport { method: String, why: String },
    #[error("`{method}`: the answer is not JSON-RPC: {why}")]
    NotJson { method: String, why: String },
    #[error("`{method}`: JSON-RPC error {code}: {message}")]
    Rpc { method: String, code: i64, message: String },
    #[error("the server exited before answering `{method}`{stderr}")]
    Closed { method: String, stderr: String },
}

/// Where the server is, and how to reach it.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// Streamable HTTP at `url`, with an optional bearer token.
    Http { url: String, bearer: Option<Secret<String>> },
    /// A process speaking newline-delimited JSON-RPC on its stdin and stdout.
    Stdio { command: String, args: Vec<String>, env: BTreeMap<String, String> },
}

struct HttpConn {
    http: reqwest::Client,
    url: String,
    bearer: Option<Secret<String>>,
    session: Option<String>,
    protocol: String,
}

struct StdioConn {
    // Held so that dropping the client kills the process (`kill_on_drop`).
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
}

enum Conn {
    Http(Box<HttpConn>),
    Stdio(Box<StdioConn>),
}

/// One connection to one MCP server.
pub struct Client {
    conn: Conn,
    next_id: u64,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.conn {
            Conn::Http(h) => format!("http {}", h.url),
            Conn::Stdio(_) => "stdio".to_string(),
        };
        f.debug_struct("Client").field("conn", &kind).field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Client {
    /// Opens a connection (for stdio, starts the process). Nothing is sent yet.
    pub fn open(endpoint: &Endpoint, timeout: Duration) -> Result<Self, ClientError> {
        let conn = match endpoint {
            Endpoint::Http { url, bearer } => {
                // No reqwest timeout: every request is bounded as a whole by `timeout` below, so
                // a slow server is always reported the same way.
                let http = reqwest::Client::builder().build().map_err(|e| ClientError::HttpClient(e.to_string()))?;
                Conn::Http(Box::new(HttpConn {
                    http,
                    url: url.clone(),
                    bearer: bearer.clone(),
                    session: None,
                    protocol: PROTOCOL_VERSION.to_string(),
                }))
            }
            Endpoint::Stdio { command, args, env } => Conn::Stdio(Box::new(spawn(command, args, env)?)),
        };
        Ok(Self { conn, next_id: 0, timeout })
    }

    /// A Streamable HTTP connection on an existing HTTP client, so that its connection pool is
    /// shared (a reference agent opens one MCP session per chat). Nothing is sent yet.
    pub fn over_http(http: reqwest::Client, url: &str, bearer: Option<Secret<String>>, timeout: Duration) -> Self {
        let conn =
            HttpConn { http, url: url.to_string(), bearer, session: None, protocol: PROTOCOL_VERSION.to_string() };
        Self { conn: Conn::Http(Box::new(conn)), next_id: 0, timeout }
    }

    /// `initialize` then `notifications/initialized`; returns the server's `initialize` result.
    pub async fn initialize(&mut self, client_name: &str) -> Result<Value, ClientError> {
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": env!("CARGO_PKG_VERSION")},
        });
        let result = self.request("initialize", params).await?;
        if let (Conn::Http(h), Some(v)) = (&mut self.conn, result.get("protocolVersion").and_then(Value::as_str)) {
            h.protocol = v.to_string();
        }
        self.notify("notifications/initialized", json!({})).await?;
        Ok(result)
    }

    /// Every element of the server's tool list, following `nextCursor`.
    pub async fn list_tools(&mut self) -> Result<Vec<Value>, ClientError> {
        let mut tools = Vec::new();
        let mut cursor: Option<Value> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = self.request("tools/list", params).await?;
            match page.get("tools") {
                Some(Value::Array(t)) => tools.extend(t.iter().cloned()),
                _ => {
                    return Err(ClientError::NotJson {
                        method: "tools/list".into(),
                        why: "the result has no `tools` array".into(),
                    });
                }
            }
            match page.get("nextCursor") {
                Some(c) if !c.is_null() => cursor = Some(c.clone()),
                _ => break,
            }
        }
        Ok(tools)
    }

    /// Sends one request and waits (at most the timeout) for its result.
    pub async fn request(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.next_id += 1;
        let id = self.next_id;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let timeout = self.timeout;
        let answer = match &mut self.conn {
            Conn::Http(h) => tokio::time::timeout(timeout, h.send(method, &body, Some(id))).await,
            Conn::Stdio(s) => tokio::time::timeout(timeout, s.send(method, &body, Some(id))).await,
        }
        .map_err(|_| ClientError::Timeout { method: method.to_string(), timeout })??;
        let answer = answer.unwrap_or(Value::Null);
        if let Some(e) = answer.get("error") {
            return Err(ClientError::Rpc {
                method: method.to_string(),
                code: e.get("code").and_then(Value::as_i64).unwrap_or(-32603),
                message: e.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
            });
        }
        answer.get("result").cloned().ok_or_else(|| ClientError::NotJson {
            method: method.to_string(),
            why: "the answer has neither `result` nor `error`".into(),
        })
    }

    /// Sends one notification (no answer is awaited).
    pub async fn notify(&mut self, method: &str, params: Value) -> Result<(), ClientError> {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params});
        let timeout = self.timeout;
        match &mut self.conn {
            Conn::Http(h) => tokio::time::timeout(timeout, h.send(method, &body, None)).await,
            Conn::Stdio(s) => tokio::time::timeout(timeout, s.send(method, &body, None)).await,
        }
        .map_err(|_| ClientError::Timeout { method: method.to_string(), timeout })??;
        Ok(())
    }
}

impl HttpConn {
    /// POSTs `body`; with an `id`, returns the JSON-RPC message answering it (from a JSON body
    /// or from an event stream).
    async fn send(&mut self, method: &str, body: &Value, id: Option<u64>) -> Result<Option<Value>, ClientError> {
        let transport = |why: String| ClientError::Transport { method: method.to_string(), why };
        let mut req = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", &self.protocol)
            .json(body);
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t.expose());
        }
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        let resp = req.send().await.map_err(|e| transport(error_chain(&e)))?;
        if let Some(s) = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()) {
            self.session = Some(s.to_string());
        }
        let status = resp.status();
        let Some(id) = id else {
            return if status.is_success() { Ok(None) } else { Err(transport(format!("HTTP {status}"))) };
        };
        let text = resp.text().await.map_err(|e| transport(error_chain(&e)))?;
        let not_json =
            |why: String| ClientError::NotJson { method: method.to_string(), why: format!("HTTP {status}, {why}") };
        // A server may answer with one JSON body or with an event stream of messages.
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            return Ok(Some(v));
        }
        let mut saw_data = false;
        for data in text.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim) {
            saw_data = true;
            if let Ok(v) = serde_json::from_str::<Value>(data)
                && v.get("id").and_then(Value::as_u64) == Some(id)
            {
                return Ok(Some(v));
            }
        }
        if saw_data {
            return Err(not_json(format!("the event stream carries no answer to request {id}")));
        }
        Err(not_json(format!("body starts `{}`", excerpt(&text))))
    }
}

impl StdioConn {
    /// Writes `body` as one line; with an `id`, reads lines until the answer to it.
    /// Notifications and requests from the server are skipped (this client serves none), as are
    /// lines that are not JSON, as the gateway does.
    async fn send(&mut self, method: &str, body: &Value, id: Option<u64>) -> Result<Option<Value>, ClientError> {
        let closed = |stderr: &Arc<Mutex<String>>| {
            let tail = stderr.lock().map(|s| s.trim().to_string()).unwrap_or_default();
            ClientError::Closed {
                method: method.to_string(),
                stderr: if tail.is_empty() { String::new() } else { format!("; its stderr ends: {tail}") },
            }
        };
        let mut line = body.to_string();
        line.push('\n');
        if self.stdin.write_all(line.as_bytes()).await.is_err() || self.stdin.flush().await.is_err() {
            return Err(closed(&self.stderr));
        }
        let Some(id) = id else { return Ok(None) };
        loop {
            let next = self.stdout.next_line().await.map_err(|e| ClientError::Transport {
                method: method.to_string(),
                why: format!("cannot read the server's stdout: {e}"),
            })?;
            let Some(l) = next else {
                // Give the stderr reader a moment to catch the last words.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(closed(&self.stderr));
            };
            let Ok(v) = serde_json::from_str::<Value>(&l) else { continue };
            if v.get("method").is_none() && v.get("id").and_then(Value::as_u64) == Some(id) {
                return Ok(Some(v));
            }
        }
    }
}

fn spawn(command: &str, args: &[String], env: &BTreeMap<String, String>) -> Result<StdioConn, ClientError> {
    let mut child = Command::new(command)
        .args(args)
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ClientError::Spawn { command: command.to_string(), why: e.to_string() })?;
    let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(ClientError::Spawn { command: command.to_string(), why: "no pipes to the process".into() });
    };
    // The tail of stderr is kept (and the pipe drained, so a chatty server never blocks on it).
    let tail = Arc::new(Mutex::new(String::new()));
    tokio::spawn({
        let tail = tail.clone();
        async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if let Ok(mut t) = tail.lock() {
                    t.push_str(&l);
                    t.push('\n');
                    if t.len() > STDERR_TAIL {
                        let cut = t.len() - STDERR_TAIL;
                        let cut = (cut..t.len()).find(|i| t.is_char_boundary(*i)).unwrap_or(t.len());
                        t.replace_range(..cut, "");
                    }
                }
            }
        }
    });
    Ok(StdioConn { _child: child, stdin, stdout: BufReader::new(stdout).lines(), stderr: tail })
}

/// An error with its causes (reqwest's own message alone often says only "error sending
/// request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The first characters of a text, on one line.
fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(MAX).collect();
    if text.chars().count() > MAX { format!("{one_line}…") } else { one_line }
}
