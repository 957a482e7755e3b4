//! `Authorization: Bearer KEY` → the calling key's organisation and role, with the per-key rate limit.

use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

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
