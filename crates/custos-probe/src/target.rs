//! Targets: the running agents a campaign sends its probes to, as `[[targets]]` in
//! `custos.toml`. Each names the registry agent it is, so what the gateway records for that
//! agent is what the oracles read.
//!
//! - `openai`: an OpenAI-compatible `POST …/chat/completions`; the reply is
//!   `choices[0].message.content`.
//! - `http`: any JSON-over-HTTP agent: `body` is a JSON template whose string values may hold
//!   `{{prompt}}` and `{{conversation}}`, `reply` is a JSON pointer (RFC 6901) to the answer.
//!   `{{conversation}}` becomes a fresh id per conversation, for agents that keep state by it.
//! - `a2a`: an A2A agent's JSON-RPC endpoint, `message/send`; each conversation is a new
//!   context, and the reply is the text parts of the returned message or task.
//! - `mcp`: an MCP server itself, checked for tool poisoning and rug pulls (no agent talks).
//!
//! A target that is down, slow or answers with something that is not the expected JSON gives a
//! [`TargetError`]; the campaign records the trial as `error` with that reason and goes on.

use std::{collections::BTreeMap, time::Duration};

use serde::Deserialize;
use serde_json::{Value, json};

/// Default time one conversation turn may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Most bytes of an answer read; a larger one is an error, not a reason to run out of memory.
const MAX_REPLY: usize = 4 * 1024 * 1024;

/// `[[targets]]`, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// What `custos probe run --target` names.
    pub name: String,
    /// The registry agent this target is (its id).
    pub agent: String,
    pub kind: TargetKind,
    /// The endpoint (every kind; `mcp` may use `command` instead).
    pub url: Option<String>,
    /// `openai`: the model name sent (default `custos-probe`).
    pub model: Option<String>,
    /// Extra request headers. A value `env:VAR` or `file:/path` is read from there, so a
    /// credential need not be written in the file.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `http`: the request body template (JSON).
    pub body: Option<String>,
    /// `http`: JSON pointer to the reply text.
    pub reply: Option<String>,
    /// Per-turn timeout in milliseconds (default 60000).
    pub timeout_ms: Option<u64>,
    /// `mcp`: a stdio server's command, arguments and environment.
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `mcp`: the bearer credential sent to an HTTP server, as `env:VAR` or `file:/path`.
    pub credential: Option<String>,
    /// `mcp`: the server's name at the gateway, whose pins its tools are compared with
    /// (default: the target's name).
    pub server: Option<String>,
    /// `mcp`: how long to wait between the two tool listings (default 1000 ms).
    pub relist_ms: Option<u64>,
}

/// The four kinds of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Openai,
    Http,
    A2a,
    Mcp,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::Http => "http",
            Self::A2a => "a2a",
            Self::Mcp => "mcp",
        }
    }
}

/// Why one conversation turn failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("target unreachable at {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("no answer from {url} within {ms} ms")]
    Timeout { url: String, ms: u64 },
    #[error("{url} answered HTTP {status}: {snippet}")]
    Status { url: String, status: u16, snippet: String },
    #[error("{url} answered with something that is not JSON: {why}")]
    NotJson { url: String, why: String },
    #[error("{url} answered JSON without a reply where one was expected: {why}")]
    NoReply { url: String, why: String },
}

/// Why a `[[targets]]` entry cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("targets.{name}: {why}")]
pub struct ConfigError {
    pub name: String,
    pub why: String,
}

/// A target ready to talk to (every kind but `mcp`).
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub agent: String,
    pub kind: TargetKind,
    url: String,
    model: String,
    /// Resolved values; may hold credentials, so `Debug` on the target never prints them.
    headers: Vec<(String, custos_core::Secret<String>)>,
    body: Option<Value>,
    reply: String,
    pub timeout: Duration,
    http: reqwest::Client,
}

/// A header or credential value: read from `env:`/`file:`, else the literal.
fn resolve(name: &str, header: &str, value: &str) -> Result<String, ConfigError> {
    match custos_core::secret::read_reference(value) {
        Some(read) => {
            read.map_err(|why| ConfigError { name: name.to_string(), why: format!("header `{header}`: {why}") })
        }
        None => Ok(value.to_string()),
    }
}

impl TargetConfig {
    /// Checks the entry and resolves its headers. `mcp` targets are checked by
    /// [`TargetConfig::check`] only; they are not built into a [`Target`].
    pub fn build(&self) -> Result<Target, ConfigError> {
        self.check()?;
        let err = |why: String| ConfigError { name: self.name.clone(), why };
        let url = self.url.clone().ok_or_else(|| err("`url` is required".into()))?;
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| resolve(&self.name, k, v).map(|v| (k.clone(), custos_core::Secret::new(v))))
            .collect::<Result<Vec<_>, _>>()?;
        let body = match (&self.kind, &self.body) {
            (TargetKind::Http, Some(b)) => {
                Some(serde_json::from_str::<Value>(b).map_err(|e| err(format!("`body` is not a JSON template: {e}")))?)
            }
            _ => None,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| err(format!("HTTP client: {e}")))?;
        Ok(Target {
            name: self.name.clone(),
            agent: self.agent.clone(),
            kind: self.kind,
            url,
            model: self.model.clone().unwrap_or_else(|| "custos-probe".into()),
            headers,
            body,
            reply: self.reply.clone().unwrap_or_default(),
            timeout: self.timeout_ms.map_or(DEFAULT_TIMEOUT, Duration::from_millis),
            http,
        })
    }

    /// What every kind requires, checked before anything runs.
    pub fn check(&self) -> Result<(), ConfigError> {
        let err = |why: &str| Err(ConfigError { name: self.name.clone(), why: why.to_string() });
        let token = |s: &str| {
            !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        };
        if !token(&self.name) {
            return err("the name must be lowercase letters, digits, `-`, `_` or `.`");
        }
        if self.agent.is_empty() {
            return err("`agent` must name the registry agent this target is");
        }
        if self.timeout_ms == Some(0) {
            return err("`timeout_ms` must be more than 0");
        }
        match self.kind {
            TargetKind::Mcp => {
                if self.url.is_none() == self.command.is_none() {
                    return err("an `mcp` target needs exactly one of `url` or `command`");
                }
                if let Some(c) = &self.credential
                    && !(c.starts_with("env:") || c.starts_with("file:"))
                {
                    return err("`credential` must be `env:VAR` or `file:/path` (never the secret itself)");
                }
            }
            kind => {
                let Some(url) = &self.url else { return err("`url` is required") };
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return err("`url` must be an http:// or https:// URL");
                }
                if self.command.is_some()
                    || self.credential.is_some()
                    || self.server.is_some()
                    || self.relist_ms.is_some()
                {
                    return err("`command`, `credential`, `server` and `relist_ms` are only for `mcp` targets");
                }
                if kind == TargetKind::Http {
                    let Some(body) = &self.body else { return err("an `http` target needs `body`") };
                    if !body.contains("{{prompt}}") {
                        return err("`body` must contain `{{prompt}}`");
                    }
                    match &self.reply {
                        Some(p) if p.is_empty() || p.starts_with('/') => {}
                        _ => return err("an `http` target needs `reply`, a JSON pointer such as \"/reply\""),
                    }
                } else if self.body.is_some() || self.reply.is_some() {
                    return err("`body` and `reply` are only for `http` targets");
                }
            }
        }
        Ok(())
    }
}

impl TargetConfig {
    /// The MCP server checks' target (`mcp` kind only).
    pub fn mcp(&self) -> Result<crate::mcpcheck::McpTarget, ConfigError> {
        self.check()?;
        let err = |why: String| ConfigError { name: self.name.clone(), why };
        let bearer = match &self.credential {
            Some(c) => Some(custos_core::Secret::new(resolve(&self.name, "credential", c)?)),
            None => None,
        };
        Ok(crate::mcpcheck::McpTarget {
            name: self.server.clone().unwrap_or_else(|| self.name.clone()),
            url: self.url.clone(),
            command: self.command.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            bearer,
            timeout: self.timeout_ms.map_or(crate::mcpcheck::DEFAULT_TIMEOUT, Duration::from_millis),
        })
        .and_then(|t| if self.kind == TargetKind::Mcp { Ok(t) } else { Err(err("not an `mcp` target".into())) })
    }

    /// `relist_ms`, or its default.
    pub fn relist_after(&self) -> Duration {
        Duration::from_millis(self.relist_ms.unwrap_or(1000))
    }
}

/// Replaces the placeholders in every string of a JSON template (after parsing, so a prompt
/// can hold quotes or backslashes without breaking the JSON).
fn fill(template: &Value, prompt: &str, conversation: &str) -> Value {
    match template {
        Value::String(s) => Value::String(s.replace("{{prompt}}", prompt).replace("{{conversation}}", conversation)),
        Value::Array(a) => Value::Array(a.iter().map(|v| fill(v, prompt, conversation)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), fill(v, prompt, conversation))).collect()),
        v => v.clone(),
    }
}

/// The text parts of an A2A message (`parts[].text` where `kind` is `text`).
fn a2a_text(message: &Value) -> Vec<String> {
    message
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("kind").and_then(Value::as_str).is_none_or(|k| k == "text"))
        .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_string))
        .collect()
}

impl Target {
    /// Sends one user turn in `conversation` (a fresh id per conversation) and returns the
    /// agent's reply text.
    pub async fn send(&self, conversation: &str, prompt: &str) -> Result<String, TargetError> {
        let body = match self.kind {
            TargetKind::Openai => json!({
                "model": self.model,
                "messages": [{"role": "user", "content": prompt}],
                "user": conversation,
            }),
            TargetKind::Http => fill(self.body.as_ref().unwrap_or(&Value::Null), prompt, conversation),
            TargetKind::A2a => json!({
                "jsonrpc": "2.0",
                "id": conversation,
                "method": "message/send",
                "params": {"message": {
                    "kind": "message",
                    "role": "user",
                    "messageId": conversation,
                    "parts": [{"kind": "text", "text": prompt}],
                }},
            }),
            TargetKind::Mcp => {
                return Err(TargetError::NoReply {
                    url: self.url.clone(),
                    why: "an MCP server is not an agent".into(),
                });
            }
        };
        let mut req = self.http.post(&self.url).json(&body);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.expose().as_str());
        }
        let url = self.url.clone();
        let ms = self.timeout.as_millis() as u64;
        let exchange = async {
            let resp =
                req.send().await.map_err(|e| TargetError::Unreachable { url: url.clone(), why: e.to_string() })?;
            let status = resp.status();
            let bytes =
                resp.bytes().await.map_err(|e| TargetError::Unreachable { url: url.clone(), why: e.to_string() })?;
            Ok::<_, TargetError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| TargetError::Timeout { url: url.clone(), ms })??;
        if bytes.len() > MAX_REPLY {
            return Err(TargetError::NoReply { url, why: format!("the answer is over {MAX_REPLY} bytes") });
        }
        let snippet = || String::from_utf8_lossy(bytes.get(..200).unwrap_or(&bytes)).into_owned();
        if !status.is_success() {
            return Err(TargetError::Status { url, status: status.as_u16(), snippet: snippet() });
        }
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| TargetError::NotJson { url: url.clone(), why: format!("{e} (starts {:?})", snippet()) })?;
        let no_reply = |why: &str| TargetError::NoReply { url: url.clone(), why: why.to_string() };
        match self.kind {
            TargetKind::Openai => v
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| no_reply("no `choices[0].message.content`")),
            TargetKind::Http => match v.pointer(&self.reply) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Ok(other.to_string()),
                None => Err(no_reply(&format!("nothing at `{}`", self.reply))),
            },
            TargetKind::A2a => {
                if let Some(e) = v.get("error") {
                    return Err(no_reply(&format!("JSON-RPC error {e}")));
                }
                let result = v.get("result").ok_or_else(|| no_reply("no `result`"))?;
                // A Message, or a Task whose status message and artifacts carry the answer.
                let mut texts = a2a_text(result);
                if let Some(m) = result.pointer("/status/message") {
                    texts.extend(a2a_text(m));
                }
                for a in result.get("artifacts").and_then(Value::as_array).into_iter().flatten() {
                    texts.extend(a2a_text(a));
                }
                if texts.is_empty() && result.get("kind").is_none() {
                    return Err(no_reply("`result` is neither a message nor a task"));
                }
                Ok(texts.join("\n"))
            }
            TargetKind::Mcp => Err(no_reply("an MCP server is not an agent")),
        }
    }
}
