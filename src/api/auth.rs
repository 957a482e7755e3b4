//! `Authorization: Bearer KEY` → the calling key's organisation and role, with the per-key rate limit.

use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use crate::domain::token::token_hash;
use crate::domain::Role;
use crate::service::caller::Caller;
use crate::service::error::{ApiError, ErrorCode};
use crate::service::state::AppState;

/// The caller of an API route: a valid key, within its rate limit.
impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Already authenticated by the route's `admit` layer: the same caller, counted once.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let secret = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated))?;
        let key = state
            .store
            .find_key(&token_hash(secret))
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated))?;
        let role = Role::parse(&key.role)
            .ok_or_else(|| ApiError::internal(format!("key {} has unknown role", key.id)))?;
        state
            .rate_limiter
            .check(&key.id, Instant::now())
            .map_err(|secs| ApiError::new(ErrorCode::RateLimited).retry_after(secs))?;
        Ok(Caller::api_key(&key.id, key.org, role))
    }
}

/// Admits only `roles` to the routes it layers (`api::router`): the caller is authenticated and their
/// role checked before anything else of the request is read, so a body is never parsed, nor its errors
/// told, for a caller who may not send it. The handler's [`Caller`] is this one.
pub async fn admit(
    State((state, roles)): State<(AppState, &'static [Role])>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = req.into_parts();
    let caller = Caller::from_request_parts(&mut parts, &state).await?;
    caller.require(roles)?;
    parts.extensions.insert(caller);
    Ok(next.run(Request::from_parts(parts, body)).await)
}
