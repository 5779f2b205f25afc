//! `/api/v1/gateway` and `/api/v1/policy/reload`.

use std::sync::Arc;

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{AppState, error::ApiError};

type St = State<Arc<AppState>>;

/// The gateway's upstreams, their health and tool counts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct GatewayStatus {
    /// Whether a gateway runs (`[[servers]]` configured).
    pub enabled: bool,
    /// `{servers: [{name, transport, healthy, tools}], policies, shadow_agents}`.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Upstreams, health, tool and policy counts.
#[utoipa::path(get, path = "/api/v1/gateway", tag = "gateway",
    responses((status = 200, description = "Gateway status", body = GatewayStatus)))]
pub async fn status(State(st): St) -> Json<GatewayStatus> {
    Json(match &st.gateway {
        Some(g) => GatewayStatus { enabled: true, detail: g.status() },
        None => GatewayStatus { enabled: false, detail: serde_json::json!({}) },
    })
}

/// The outcome of a reload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Reloaded {
    /// Policies now in force.
    pub policies: usize,
}

/// Re-read tool manifests and policy files; on any error the policies in force stay.
#[utoipa::path(post, path = "/api/v1/policy/reload", tag = "gateway",
    responses((status = 200, description = "Reloaded", body = Reloaded),
              (status = 409, description = "No gateway, or a policy is invalid (file:line in the message)", body = crate::ErrorBody)))]
pub async fn reload(State(st): St) -> Result<Json<Reloaded>, ApiError> {
    let Some(g) = &st.gateway else {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "conflict",
            "no gateway runs: configure [[servers]]",
        ));
    };
    let policies = g.reload().await.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "invalid_policy",
            format!("{e}; the policies in force stay in force"),
        )
    })?;
    Ok(Json(Reloaded { policies }))
}
