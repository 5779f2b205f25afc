//! Extractors whose rejections are [`ApiError`]s (JSON, with the field named).

use axum::{
    extract::{FromRequest, FromRequestParts, Path, Query},
    http::request::Parts,
};
use custos_core::{Actor, ActorId};

use crate::error::ApiError;

/// A JSON body.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Path parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query parameters.
#[derive(Debug, FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// The header that names the person acting with the admin token.
pub const ACTOR_HEADER: &str = "x-custos-actor";

/// Who the event names as actor: the `X-Custos-Actor` header (the CLI sends the operator's
/// name), else `admin`. The admin token authenticates; the header attributes.
#[derive(Debug)]
pub struct ApiActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get(ACTOR_HEADER) else {
            return Ok(ApiActor(Actor::user(ActorId::admin())));
        };
        let s = v.to_str().map_err(|_| ApiError::invalid("X-Custos-Actor: not visible ASCII"))?;
        let id: ActorId = s.parse().map_err(|e| ApiError::invalid(format!("X-Custos-Actor: {e}")))?;
        Ok(ApiActor(Actor::user(id)))
    }
}
