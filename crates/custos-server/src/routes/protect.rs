//! `/api/v1/approvals`, `/api/v1/tools` and `/api/v1/gateway/kill`: the human side of the
//! gateway's protections (calls held for approval, quarantined tools, the kill switch).
//!
//! The gateway owns the state and records every decision; these handlers only parse, check that
//! a gateway runs, and map its errors onto the API's one error shape.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use custos_core::{
    AgentId,
    protect::{ApprovalRecord, ToolPin},
    registry::{AgentState, LifecycleOp, MAX_TEXT},
};
use custos_gateway::{Gateway, GatewayError};
use custos_registry::{Reason, RegistryError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::{ApiActor, ApiJson, ApiPath, ApiQuery},
};

type St = State<Arc<AppState>>;
type ApiResult<T> = Result<Json<T>, ApiError>;

/// The reason recorded when a kill names none.
pub const DEFAULT_KILL_REASON: &str = "kill switch";

fn gateway(st: &AppState) -> Result<&Arc<Gateway>, ApiError> {
    st.gateway
        .as_ref()
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "conflict", "no gateway runs: configure [[servers]]"))
}

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::NotFound(m) => ApiError::not_found(m),
            GatewayError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            GatewayError::Policy(e) => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_policy",
                format!("{e}; the policies in force stay in force"),
            ),
            GatewayError::Config(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            GatewayError::Upstream(e) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            // The cause is the store's (a path, a SQLite message): it goes to the server's log,
            // not to the client.
            GatewayError::Evidence(m) => {
                eprintln!("custos: gateway: the ledger failed: {m}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the ledger could not record or read it; try again (the server log has the cause)",
                )
            }
        }
    }
}

/// The same rules as the registry's free-text fields, so a note cannot smuggle terminal control
/// sequences into the ledger or into `custos` output.
fn check_text(field: &str, s: Option<&str>) -> Result<(), ApiError> {
    let Some(s) = s else { return Ok(()) };
    if s.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid(format!("{field}: longer than {MAX_TEXT} characters")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ApiError::invalid(format!("{field}: contains a control character")));
    }
    Ok(())
}

/// Filter of `GET /api/v1/approvals`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApprovalParams {
    /// Include decided, timed-out and cancelled calls too (default: pending only).
    pub all: Option<bool>,
}

/// Calls held for a human, newest first.
#[utoipa::path(get, path = "/api/v1/approvals", tag = "protect", params(ApprovalParams),
    responses((status = 200, description = "Held calls (pending only unless `all=true`)", body = Vec<ApprovalRecord>),
              (status = 409, description = "No gateway runs", body = ErrorBody),
              (status = 503, description = "The ledger could not be read", body = ErrorBody)))]
pub async fn approvals(State(st): St, ApiQuery(p): ApiQuery<ApprovalParams>) -> ApiResult<Vec<ApprovalRecord>> {
    let g = gateway(&st)?;
    Ok(Json(g.approvals(!p.all.unwrap_or(false)).await?))
}

/// A human's word on a held call or a quarantined tool.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Why (recorded in the event).
    #[serde(default)]
    #[schema(max_length = 2048, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub note: Option<String>,
}

async fn decide(
    st: Arc<AppState>,
    actor: custos_core::Actor,
    id: String,
    approve: bool,
    d: Decision,
) -> ApiResult<ApprovalRecord> {
    check_text("note", d.note.as_deref())?;
    let g = gateway(&st)?;
    Ok(Json(g.decide_approval(&id, approve, actor, d.note).await?))
}

/// Let a held call proceed.
#[utoipa::path(post, path = "/api/v1/approvals/{approval}/approve", tag = "protect", request_body = Decision,
    params(("approval" = String, Path, description = "Approval id (`apr_…`)")),
    responses((status = 200, description = "Approved; the call proceeds", body = ApprovalRecord),
              (status = 404, description = "No such held call", body = ErrorBody),
              (status = 409, description = "Already decided, timed out or cancelled; or no gateway runs", body = ErrorBody),
              (status = 503, description = "The ledger could not record it; the call stays held", body = ErrorBody)))]
pub async fn approve(
    State(st): St,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<String>,
    ApiJson(d): ApiJson<Decision>,
) -> ApiResult<ApprovalRecord> {
    decide(st, actor, id, true, d).await
}

/// Refuse a held call: the agent gets a denial.
#[utoipa::path(post, path = "/api/v1/approvals/{approval}/deny", tag = "protect", request_body = Decision,
    params(("approval" = String, Path, description = "Approval id (`apr_…`)")),
    responses((status = 200, description = "Denied", body = ApprovalRecord),
              (status = 404, description = "No such held call", body = ErrorBody),
              (status = 409, description = "Already decided, timed out or cancelled; or no gateway runs", body = ErrorBody),
              (status = 503, description = "The ledger could not record it; the call stays held", body = ErrorBody)))]
pub async fn deny(
    State(st): St,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<String>,
    ApiJson(d): ApiJson<Decision>,
) -> ApiResult<ApprovalRecord> {
    decide(st, actor, id, false, d).await
}

/// Every tool the gateway has seen, with its pin state.
#[utoipa::path(get, path = "/api/v1/tools", tag = "protect",
    responses((status = 200, description = "Tools by server and name", body = Vec<ToolPin>),
              (status = 409, description = "No gateway runs", body = ErrorBody)))]
pub async fn tools(State(st): St) -> ApiResult<Vec<ToolPin>> {
    Ok(Json(gateway(&st)?.tool_pins()))
}

/// Accept the manifest a quarantined tool is listed with now: it is pinned and callable again
/// (policy permitting).
#[utoipa::path(post, path = "/api/v1/tools/{qualified}/approve", tag = "protect", request_body = Decision,
    params(("qualified" = String, Path, description = "`server.tool`, percent-encoded")),
    responses((status = 200, description = "Pinned again", body = ToolPin),
              (status = 404, description = "No such tool has been seen", body = ErrorBody),
              (status = 409, description = "Nothing to approve (pinned and unchanged, or not listed now); or no gateway runs", body = ErrorBody),
              (status = 503, description = "The ledger could not record it; the tool stays quarantined", body = ErrorBody)))]
pub async fn approve_tool(
    State(st): St,
    ApiActor(actor): ApiActor,
    ApiPath(qualified): ApiPath<String>,
    ApiJson(d): ApiJson<Decision>,
) -> ApiResult<ToolPin> {
    check_text("note", d.note.as_deref())?;
    let g = gateway(&st)?;
    Ok(Json(g.approve_tool(&qualified, actor, d.note).await?))
}

/// The body of `POST /api/v1/tools/{qualified}/labels`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    /// The whole set (replaces what an operator set before; empty clears it), e.g.
    /// `["sensitive"]`. Each 1-32 of `a-z`, `0-9`, `-`.
    pub labels: Vec<String>,
    /// Why (recorded in the event).
    #[serde(default)]
    #[schema(max_length = 2048, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub note: Option<String>,
}

/// Set the labels an operator gives a tool (`untrusted-input`, `sensitive`, `egress`,
/// `destructive`, or your own); flow policies see them as `resource.labels` and
/// `context.session.labels`.
#[utoipa::path(post, path = "/api/v1/tools/{qualified}/labels", tag = "protect", request_body = LabelRequest,
    params(("qualified" = String, Path, description = "`server.tool`, percent-encoded")),
    responses((status = 200, description = "Labelled", body = ToolPin),
              (status = 404, description = "No such tool has been seen", body = ErrorBody),
              (status = 409, description = "A label is not valid; or no gateway runs", body = ErrorBody),
              (status = 503, description = "The ledger could not record it", body = ErrorBody)))]
pub async fn label_tool(
    State(st): St,
    ApiActor(actor): ApiActor,
    ApiPath(qualified): ApiPath<String>,
    ApiJson(r): ApiJson<LabelRequest>,
) -> ApiResult<ToolPin> {
    check_text("note", r.note.as_deref())?;
    let g = gateway(&st)?;
    Ok(Json(g.label_tool(&qualified, r.labels, actor, r.note).await?))
}

/// The body of `POST /api/v1/gateway/kill`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillRequest {
    /// The agent id, e.g. `payments/refund-bot`.
    // A literal: utoipa takes none other here. It is `crate::AGENT_ID_PATTERN`, which a test
    // checks.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")]
    pub agent: String,
    /// Why (recorded in the suspension and on every cancelled call; default `kill switch`).
    #[serde(default)]
    #[schema(max_length = 2048, pattern = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$")]
    pub reason: Option<String>,
}

/// What the kill switch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Killed {
    pub agent: String,
    /// Whether this request suspended the agent (false when it was not active already).
    pub suspended: bool,
    /// Calls held for approval that were cancelled.
    pub cancelled_held: usize,
}

/// The kill switch: suspend the agent (if active), so no new call gets in, then cut off its
/// calls in flight and cancel its held ones.
#[utoipa::path(post, path = "/api/v1/gateway/kill", tag = "protect", request_body = KillRequest,
    responses((status = 200, description = "Suspended (if it was active) and its calls stopped", body = Killed),
              (status = 404, description = "Unknown agent", body = ErrorBody),
              (status = 409, description = "No gateway runs", body = ErrorBody),
              (status = 503, description = "The ledger could not record it", body = ErrorBody)))]
pub async fn kill(State(st): St, ApiActor(actor): ApiActor, ApiJson(req): ApiJson<KillRequest>) -> ApiResult<Killed> {
    let id: AgentId = req.agent.parse().map_err(|e| ApiError::invalid(format!("agent: {e}")))?;
    check_text("reason", req.reason.as_deref())?;
    // Before the suspension: without a gateway the request would suspend the agent and then
    // fail, a kill switch half pulled.
    let g = gateway(&st)?;
    let reason = req.reason.unwrap_or_else(|| DEFAULT_KILL_REASON.to_string());
    let agent = st.registry.get(&id).await?;
    let suspended = if agent.state == AgentState::Active {
        let why = Reason { reason: Some(reason.clone()) };
        match st.registry.lifecycle(&actor, &id, LifecycleOp::Suspend, why).await {
            Ok(_) => true,
            // Someone else suspended or retired it since we looked: it is stopped all the same.
            Err(RegistryError::Refused { .. }) => false,
            Err(e) => {
                // Cutting off calls needs no ledger, and a kill switch that failed must not
                // leave them running; the agent is not suspended, so the caller has to retry.
                let cut = g.kill(&id, actor, &reason).await;
                let mut err = ApiError::from(e);
                err.message = format!(
                    "{}; its calls in flight were cut off{}, but it is NOT suspended: try again",
                    err.message,
                    if cut.is_ok() { "" } else { " (held calls could not be cancelled)" }
                );
                return Err(err);
            }
        }
    } else {
        false
    };
    let cancelled_held = g.kill(&id, actor, &reason).await.map_err(|e| {
        // The calls in flight are cut off before anything is recorded, so only the held ones
        // can be left; say what did happen, or the operator would think nothing did.
        let mut err = ApiError::from(e);
        let stopped = if suspended {
            "it is suspended and its calls in flight were cut off"
        } else {
            "its calls in flight were cut off"
        };
        err.message = format!("`{id}`: {stopped}, but its held calls could not all be cancelled: {}", err.message);
        err
    })?;
    Ok(Json(Killed { agent: id.to_string(), suspended, cancelled_held }))
}
