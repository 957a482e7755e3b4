//! `Authorization: Bearer KEY` → the calling key's organisation and role, with the per-key rate limit.

use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::{ApiError, ErrorCode};
use super::keys::hash_secret;
use super::state::AppState;
use crate::domain::Role;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub org: String,
    pub role: Role,
}

impl Caller {
    /// The actor recorded in the audit log.
    pub fn actor(&self) -> String {
        format!("key:{}", self.key_id)
    }

    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.role.allows(roles) {
            Ok(())
        } else {
            let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::detail(
                ErrorCode::Forbidden,
                format!(
                    "this key's role is {}; this needs {}",
                    self.role,
                    allowed.join(" or ")
                ),
            ))
        }
    }
}

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
            .find_key(&hash_secret(secret))
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated))?;
        let role = Role::parse(&key.role)
            .ok_or_else(|| ApiError::internal(format!("key {} has unknown role", key.id)))?;
        state
            .rate_limiter
            .check(&key.id, Instant::now())
            .map_err(|secs| ApiError::new(ErrorCode::RateLimited).retry_after(secs))?;
        Ok(Caller {
            key_id: key.id,
            org: key.org,
            role,
        })
    }
}
