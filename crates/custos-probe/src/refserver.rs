//! The reference agents as programs: an OpenAI-compatible chat endpoint
//! (`POST /v1/chat/completions`) in front of [`crate::refagent`]'s policy, calling its tools
//! over MCP (Streamable HTTP, JSON-RPC 2.0) at a URL — the custos gateway in a campaign, so
//! every call it makes is decided and recorded there.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use custos_core::Secret;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::mcp_client::Client;
use crate::refagent::{Action, Kind, Source, decide};

/// Tool calls one chat may make: a naive agent following a loop of instructions stops here.
const MAX_STEPS: usize = 12;

/// Texts the naive agent keeps across conversations.
const MAX_MEMORY: usize = 8;

/// Why a chat failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("MCP request to {url} failed: {why}")]
    Mcp { url: String, why: String },
    #[error("cannot serve on {addr}: {why}")]
    Bind { addr: SocketAddr, why: String },
}

/// How long one MCP request of a chat may take (a call the gateway holds for a human's approval
/// waits inside it).
const MCP_TIMEOUT: Duration = Duration::from_secs(600);

/// The agent's MCP session: [`crate::mcp_client`], with errors naming the URL.
struct Mcp {
    client: Client,
    url: String,
}

impl Mcp {
    async fn rpc(&mut self, method: &str, params: Value) -> Result<Value, AgentError> {
        self.client
            .request(method, params)
            .await
            .map_err(|e| AgentError::Mcp { url: self.url.clone(), why: e.to_string() })
    }
}

/// One reference agent: its kind, where its tools are, and (naive only) its memory.
pub struct RefAgent {
    kind: Kind,
    mcp_url: String,
    token: Option<String>,
    memory: Mutex<Vec<String>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for RefAgent {
    // The token is a credential: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefAgent").field("kind", &self.kind).field("mcp_url", &self.mcp_url).finish_non_exhaustive()
    }
}

impl RefAgent {
    pub fn new(kind: Kind, mcp_url: &str, token: Option<String>) -> Self {
        Self { kind, mcp_url: mcp_url.to_string(), token, memory: Mutex::new(Vec::new()), http: reqwest::Client::new() }
    }

    /// Answers one user message: reads and calls tools as the policy says, then replies.
    pub async fn chat(&self, user: &str) -> Result<String, AgentError> {
        let bearer = self.token.clone().map(Secret::new);
        let client = Client::over_http(self.http.clone(), &self.mcp_url, bearer, MCP_TIMEOUT);
        let mut mcp = Mcp { client, url: self.mcp_url.clone() };
        mcp.client
            .initialize("custos-refagent")
            .await
            .map_err(|e| AgentError::Mcp { url: self.mcp_url.clone(), why: e.to_string() })?;
        let listed = mcp.rpc("tools/list", json!({})).await?;
        let tools: Vec<String> = listed
            .get("tools")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_string)).collect())
            .unwrap_or_default();

        let mut queue: Vec<Action> = decide(self.kind, Source::User, user, &tools);
        // The naive agent obeys what it was told to remember in earlier conversations.
        // Most recent first: what it was told last weighs most.
        for m in self.memory.lock().await.iter().rev() {
            queue.extend(decide(self.kind, Source::Memory, m, &tools));
        }
        let mut replies = Vec::new();
        let mut steps = 0;
        let mut at = 0;
        while let Some(action) = queue.get(at).cloned() {
            at += 1;
            match action {
                Action::Remember(text) => {
                    let mut memory = self.memory.lock().await;
                    // Bounded, oldest forgotten first, so a long-lived naive agent's replays
                    // cannot crowd out a conversation's own tool calls.
                    if memory.len() >= MAX_MEMORY {
                        memory.remove(0);
                    }
                    if !memory.contains(&text) {
                        memory.push(text);
                    }
                }
                Action::Reply(text) => replies.push(text),
                Action::Call { tool, arguments } => {
                    // Past the limit it calls nothing more, but still says what it was going
                    // to say.
                    if steps >= MAX_STEPS {
                        if steps == MAX_STEPS {
                            replies.push("I stopped calling tools: too many calls.".to_string());
                            steps += 1;
                        }
                        continue;
                    }
                    steps += 1;
                    match mcp.rpc("tools/call", json!({"name": tool, "arguments": arguments})).await {
                        Ok(result) => {
                            let text = result_text(&result);
                            // What a result leads to happens next, before anything queued
                            // after it (memory replays included): a chain of reads and calls
                            // finishes within the step limit however much the agent remembers.
                            let next = decide(self.kind, Source::ToolResult, &text, &tools);
                            let at_now = at.min(queue.len());
                            queue.splice(at_now..at_now, next);
                        }
                        // A denied call is part of the conversation, not the end of it.
                        Err(e) => replies.push(format!("{tool} failed: {e}")),
                    }
                }
            }
        }
        Ok(if replies.is_empty() { "Done.".to_string() } else { replies.join("\n") })
    }
}

/// The text of an MCP tool result (`content[].text`).
fn result_text(result: &Value) -> String {
    result
        .get("content")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

/// A2A JSON-RPC (`message/send`): the user's text parts in, one agent message out. The same
/// agent behind a third protocol, so every target kind can be tried against it.
async fn a2a(State(agent): State<Arc<RefAgent>>, Json(body): Json<Value>) -> Json<Value> {
    let id = body.get("id").cloned().unwrap_or(Value::Null);
    let err = |code: i64, message: &str| {
        Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}))
    };
    if body.get("method").and_then(Value::as_str) != Some("message/send") {
        return err(-32601, "only message/send is served");
    }
    let text: Vec<&str> = body
        .pointer("/params/message/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    if text.is_empty() {
        return err(-32602, "params.message has no text part");
    }
    match agent.chat(&text.join("\n")).await {
        Ok(reply) => Json(json!({"jsonrpc": "2.0", "id": id, "result": {
            "kind": "message",
            "role": "agent",
            "messageId": format!("ref-{}", body.pointer("/params/message/messageId").and_then(Value::as_str).unwrap_or("reply")),
            "parts": [{"kind": "text", "text": reply}],
        }})),
        Err(e) => err(-32603, &e.to_string()),
    }
}

/// A plain JSON chat (`{"message": …}` in, `{"reply": …}` out), for trying `http` targets.
async fn plain_chat(State(agent): State<Arc<RefAgent>>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let Some(message) = body.get("message").and_then(Value::as_str).filter(|m| !m.is_empty()) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "no message"})));
    };
    match agent.chat(message).await {
        Ok(reply) => (StatusCode::OK, Json(json!({"reply": reply, "conversation": body.get("conversation")}))),
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({"error": e.to_string()}))),
    }
}

async fn completions(State(agent): State<Arc<RefAgent>>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let user = body
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user")))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if user.is_empty() {
        let e = json!({"error": {"message": "no user message", "type": "invalid_request_error"}});
        return (StatusCode::BAD_REQUEST, Json(e));
    }
    match agent.chat(&user).await {
        Ok(content) => (
            StatusCode::OK,
            Json(json!({
                "id": "chatcmpl-custos-ref",
                "object": "chat.completion",
                "model": body.get("model").cloned().unwrap_or(json!("custos-ref")),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            })),
        ),
        Err(e) => {
            (StatusCode::BAD_GATEWAY, Json(json!({"error": {"message": e.to_string(), "type": "upstream_error"}})))
        }
    }
}

/// A running reference agent server.
#[derive(Debug)]
pub struct RefServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RefServer {
    /// Serves `agent` on `addr` (port 0 picks one).
    pub async fn start(addr: SocketAddr, agent: RefAgent) -> Result<Self, AgentError> {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|e| AgentError::Bind { addr, why: e.to_string() })?;
        let addr = listener.local_addr().map_err(|e| AgentError::Bind { addr, why: e.to_string() })?;
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .route("/a2a", post(a2a))
            .route("/chat", post(plain_chat))
            .with_state(Arc::new(agent));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self { addr, stop: Some(stop) })
    }

    /// The chat completions URL.
    pub fn url(&self) -> String {
        format!("http://{}/v1/chat/completions", self.addr)
    }

    pub fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for RefServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
