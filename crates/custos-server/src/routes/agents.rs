//! `/api/v1/agents` and `/api/v1/owners`: the registry.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use custos_core::{
    AgentId, Timestamp,
    registry::{Agent, AgentQuery, AgentState, Credential, Environment, Label, LifecycleOp, OwnerId, OwnerSummary},
};
use custos_registry::{
    AgentPage, ChangeOwner, HistoryPage, IssueToken, IssuedToken, Offboarded, Outcome, Reason, RegisterAgent,
    UpdateAgent,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::{ApiActor, ApiJson, ApiPath, ApiQuery},
};

type St = State<Arc<AppState>>;
type ApiResult<T> = Result<Json<T>, ApiError>;

fn agent_id(s: &str) -> Result<AgentId, ApiError> {
    s.parse().map_err(|e| ApiError::invalid(format!("id: {e}")))
}

/// Filters and page of `GET /api/v1/agents`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub state: Option<AgentState>,
    pub owner: Option<OwnerId>,
    pub environment: Option<Environment>,
    /// Only agents whose owner left and that are still registered or active (`true`), or only
    /// the others (`false`).
    pub orphaned: Option<bool>,
    /// Only agents past their recertification date (`true`).
    pub overdue: Option<bool>,
    pub label: Option<Label>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// List agents.
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", params(ListParams),
    responses((status = 200, description = "A page of agents", body = AgentPage)))]
pub async fn list(State(st): St, ApiQuery(p): ApiQuery<ListParams>) -> ApiResult<AgentPage> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=custos_registry::MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(format!("limit: must be between 1 and {}", custos_registry::MAX_PAGE)));
    }
    let after =
        p.after.as_deref().map(|a| a.parse()).transpose().map_err(|e| ApiError::invalid(format!("after: {e}")))?;
    let q = AgentQuery {
        state: p.state,
        owner: p.owner,
        environment: p.environment,
        orphaned: p.orphaned,
        overdue: p.overdue.map(|o| (o, Timestamp::now())),
        label: p.label,
        after,
        limit,
    };
    Ok(Json(st.registry.list(&q).await?))
}

/// Register an agent.
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = RegisterAgent,
    responses((status = 201, description = "Registered", body = Outcome<Agent>),
              (status = 409, description = "Duplicate id or offboarded owner", body = ErrorBody)))]
pub async fn register(
    State(st): St,
    ApiActor(actor): ApiActor,
    ApiJson(req): ApiJson<RegisterAgent>,
) -> Result<(StatusCode, Json<Outcome<Agent>>), ApiError> {
    Ok((StatusCode::CREATED, Json(st.registry.register(&actor, req).await?)))
}

/// One agent.
#[utoipa::path(get, path = "/api/v1/agents/{id}", tag = "agents",
    params(("id" = String, Path, description = "Agent id, percent-encoded (`payments%2Frefund-bot`)")),
    responses((status = 200, description = "The agent", body = Agent),
              (status = 404, description = "Unknown agent", body = ErrorBody)))]
pub async fn get(State(st): St, ApiPath(id): ApiPath<String>) -> ApiResult<Agent> {
    Ok(Json(st.registry.get(&agent_id(&id)?).await?))
}

/// Update descriptive fields.
#[utoipa::path(patch, path = "/api/v1/agents/{id}", tag = "agents", request_body = UpdateAgent,
    params(("id" = String, Path, description = "Agent id, percent-encoded")),
    responses((status = 200, description = "Updated", body = Outcome<Agent>),
              (status = 404, description = "Unknown agent", body = ErrorBody),
              (status = 409, description = "Retired agent or offboarded sponsor", body = ErrorBody)))]
pub async fn update(
    State(st): St,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<UpdateAgent>,
) -> ApiResult<Outcome<Agent>> {
    Ok(Json(st.registry.update(&actor, &agent_id(&id)?, req).await?))
}

/// Name a new owner (ends an orphaning).
#[utoipa::path(post, path = "/api/v1/agents/{id}/owner", tag = "agents", request_body = ChangeOwner,
    params(("id" = String, Path, description = "Agent id, percent-encoded")),
    responses((status = 200, description = "Owner changed", body = Outcome<Agent>),
              (status = 404, description = "Unknown agent", body = ErrorBody),
              (status = 409, description = "Same owner, offboarded owner or retired agent", body = ErrorBody)))]
pub async fn change_owner(
    State(st): St,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ChangeOwner>,
) -> ApiResult<Outcome<Agent>> {
    Ok(Json(st.registry.change_owner(&actor, &agent_id(&id)?, req).await?))
}

async fn lifecycle(
    st: Arc<AppState>,
    actor: custos_core::Actor,
    id: String,
    op: LifecycleOp,
    req: Reason,
) -> ApiResult<Outcome<Agent>> {
    Ok(Json(st.registry.lifecycle(&actor, &agent_id(&id)?, op, req).await?))
}

macro_rules! lifecycle_route {
    ($name:ident, $op:expr, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "agents", request_body = Reason,
                    params(("id" = String, Path, description = "Agent id, percent-encoded")),
                    responses((status = 200, description = "State changed", body = Outcome<Agent>),
                              (status = 404, description = "Unknown agent", body = ErrorBody),
                              (status = 409, description = "The lifecycle refuses this transition", body = ErrorBody)))]
        pub async fn $name(
            State(st): St,
            ApiActor(actor): ApiActor,
            ApiPath(id): ApiPath<String>,
            ApiJson(req): ApiJson<Reason>,
        ) -> ApiResult<Outcome<Agent>> {
            lifecycle(st, actor, id, $op, req).await
        }
    };
}

lifecycle_route!(
    approve,
    LifecycleOp::Approve,
    "/api/v1/agents/{id}/approve",
    "Approve a registered agent (needs an owner)."
);
lifecycle_route!(
    suspend,
    LifecycleOp::Suspend,
    "/api/v1/agents/{id}/suspend",
    "Suspend an active agent: its tokens stop working until resumed."
);
lifecycle_route!(resume, LifecycleOp::Resume, "/api/v1/agents/{id}/resume", "Resume a suspended agent.");
lifecycle_route!(
    retire,
    LifecycleOp::Retire,
    "/api/v1/agents/{id}/retire",
    "Retire an agent for good, revoking every token."
);

/// Paging of an agent's history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Only events after this ledger index.
    pub after: Option<u64>,
    /// Page size, 1 to 1000 (default 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// An agent's events, with ledger indices.
#[utoipa::path(get, path = "/api/v1/agents/{id}/history", tag = "agents",
    params(("id" = String, Path, description = "Agent id, percent-encoded"), HistoryParams),
    responses((status = 200, description = "Events, oldest first", body = HistoryPage),
              (status = 404, description = "Unknown agent", body = ErrorBody)))]
pub async fn history(
    State(st): St,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<HistoryParams>,
) -> ApiResult<HistoryPage> {
    let limit = p.limit.unwrap_or(custos_registry::MAX_PAGE);
    if !(1..=custos_registry::MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(format!("limit: must be between 1 and {}", custos_registry::MAX_PAGE)));
    }
    Ok(Json(st.registry.history(&agent_id(&id)?, p.after, limit).await?))
}

/// An agent's tokens (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/agents/{id}/tokens", tag = "tokens",
    params(("id" = String, Path, description = "Agent id, percent-encoded")),
    responses((status = 200, description = "Credentials", body = Vec<Credential>),
              (status = 404, description = "Unknown agent", body = ErrorBody)))]
pub async fn tokens(State(st): St, ApiPath(id): ApiPath<String>) -> ApiResult<Vec<Credential>> {
    Ok(Json(st.registry.tokens(&agent_id(&id)?).await?))
}

/// Issue a token; the response is the only place it ever appears.
#[utoipa::path(post, path = "/api/v1/agents/{id}/tokens", tag = "tokens", request_body = IssueToken,
    params(("id" = String, Path, description = "Agent id, percent-encoded")),
    responses((status = 201, description = "Issued", body = Outcome<IssuedToken>),
              (status = 404, description = "Unknown agent", body = ErrorBody),
              (status = 409, description = "Retired agent", body = ErrorBody)))]
pub async fn issue_token(
    State(st): St,
    ApiActor(actor): ApiActor,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<IssueToken>,
) -> Result<(StatusCode, Json<Outcome<IssuedToken>>), ApiError> {
    Ok((StatusCode::CREATED, Json(st.registry.issue_token(&actor, &agent_id(&id)?, req).await?)))
}

/// Revoke a token for good.
#[utoipa::path(post, path = "/api/v1/agents/{id}/tokens/{credential}/revoke", tag = "tokens", request_body = Reason,
    params(("id" = String, Path, description = "Agent id, percent-encoded"),
           ("credential" = String, Path, description = "Credential id (`cred_…`)")),
    responses((status = 200, description = "Revoked", body = Outcome<Credential>),
              (status = 404, description = "Unknown agent or credential", body = ErrorBody),
              (status = 409, description = "Already revoked", body = ErrorBody)))]
pub async fn revoke_token(
    State(st): St,
    ApiActor(actor): ApiActor,
    ApiPath((id, credential)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<Reason>,
) -> ApiResult<Outcome<Credential>> {
    Ok(Json(st.registry.revoke_token(&actor, &agent_id(&id)?, &credential, req).await?))
}

/// Every owner named on an agent or offboarded.
#[utoipa::path(get, path = "/api/v1/owners", tag = "owners",
    responses((status = 200, description = "Owners", body = Vec<OwnerSummary>)))]
pub async fn owners(State(st): St) -> ApiResult<Vec<OwnerSummary>> {
    Ok(Json(st.registry.owners().await?))
}

/// Record that an owner left: their agents become orphaned.
#[utoipa::path(post, path = "/api/v1/owners/{owner}/offboard", tag = "owners", request_body = Reason,
    params(("owner" = String, Path, description = "Owner, percent-encoded")),
    responses((status = 200, description = "Offboarded; lists the agents it orphaned", body = Outcome<Offboarded>),
              (status = 409, description = "Already offboarded", body = ErrorBody)))]
pub async fn offboard(
    State(st): St,
    ApiActor(actor): ApiActor,
    ApiPath(owner): ApiPath<String>,
    ApiJson(req): ApiJson<Reason>,
) -> ApiResult<Outcome<Offboarded>> {
    let owner: OwnerId = owner.parse().map_err(|e| ApiError::invalid(format!("owner: {e}")))?;
    Ok(Json(st.registry.offboard(&actor, &owner, req).await?))
}
