//! JSON-RPC 2.0 as MCP uses it (no batches), and the error codes the gateway answers with.

use serde_json::{Map, Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// 2026-07-28: an `Mcp-*` header disagrees with the body.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28: the protocol version is not supported.
pub const UNSUPPORTED_VERSION: i64 = -32022;
// Implementation-defined (-32000…-32019):
/// The policy denied the call.
pub const DENIED: i64 = -32001;
/// The upstream server failed (down, reset, timed out, or answered garbage).
pub const UPSTREAM_ERROR: i64 = -32002;
/// No valid credential.
pub const UNAUTHENTICATED: i64 = -32003;
/// The agent is known but may not act (suspended, retired, not approved).
pub const FORBIDDEN: i64 = -32004;
/// The decision could not be recorded, so the call was not forwarded.
pub const EVIDENCE_FAILED: i64 = -32005;
/// The session id is missing, malformed or not this agent's.
pub const BAD_SESSION: i64 = -32006;

/// A message from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
        params: Value,
    },
    /// A response to a request the gateway sent (server→client relay).
    Response {
        id: Value,
        body: Map<String, Value>,
    },
}

impl Incoming {
    pub fn method(&self) -> Option<&str> {
        match self {
            Incoming::Request { method, .. } | Incoming::Notification { method, .. } => Some(method),
            Incoming::Response { .. } => None,
        }
    }
}

/// Parses one message, with the error a client gets when it is not one.
pub fn parse(body: &[u8]) -> Result<Incoming, (i64, String)> {
    let v: Value = serde_json::from_slice(body).map_err(|e| (PARSE_ERROR, format!("the body is not JSON: {e}")))?;
    let Value::Object(mut m) = v else {
        return Err((
            INVALID_REQUEST,
            if v.is_array() {
                "JSON-RPC batches are not supported by MCP".into()
            } else {
                "the body must be a JSON-RPC object".into()
            },
        ));
    };
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((INVALID_REQUEST, "`jsonrpc` must be \"2.0\"".into()));
    }
    let id = m.remove("id");
    if let Some(id) = &id
        && !(id.is_string() || id.is_i64() || id.is_u64())
    {
        return Err((INVALID_REQUEST, "`id` must be a string or an integer".into()));
    }
    match (m.remove("method"), id) {
        (Some(Value::String(method)), id) => {
            let params = m.remove("params").unwrap_or(Value::Null);
            if !(params.is_null() || params.is_object()) {
                return Err((INVALID_REQUEST, "`params` must be an object".into()));
            }
            Ok(match id {
                Some(id) => Incoming::Request { id, method, params },
                None => Incoming::Notification { method, params },
            })
        }
        (Some(_), _) => Err((INVALID_REQUEST, "`method` must be a string".into())),
        (None, Some(id)) if m.contains_key("result") || m.contains_key("error") => {
            Ok(Incoming::Response { id, body: m })
        }
        (None, _) => Err((
            INVALID_REQUEST,
            "a request needs `method` (and `id`); a response needs `id` and `result` or `error`".into(),
        )),
    }
}

pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

pub fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message.into()}})
}
