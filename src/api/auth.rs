//! `Authorization: Bearer KEY` → the calling key's organisation and role, with the per-key rate limit
//! and, per client address, the throttle on failed authentications (`service::auth_failures`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use crate::domain::token::token_hash;
use crate::domain::Role;
use crate::http::extract::client_address;
use crate::service::auth_failures;
use crate::service::caller::Caller;
use crate::service::error::{ApiError, ErrorCode};
use crate::service::rate_limit;
use crate::service::state::AppState;

/// The caller of an API route: a valid key, within its rate limit, from an address not throttled.
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
        // Every connection the server accepts has a peer; a router called directly (unit tests) has none.
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|peer| {
                client_address(
                    peer.0.ip(),
                    &parts.headers,
                    state.settings.service.client_address_header.as_deref(),
                )
            });
        if let Some(client) = client {
            auth_failures::check(state, client).await?;
        }
        let Some(presented) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::new(ErrorCode::Unauthenticated));
        };
        let secret = presented
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let key = match secret {
            Some(secret) => state.store.find_key(&token_hash(secret)).await?,
            None => None,
        };
        // A wrong, revoked or malformed key counts against the address; no key at all does not.
        let Some(key) = key else {
            if let Some(client) = client {
                auth_failures::record_failure(state, client).await?;
            }
            return Err(ApiError::new(ErrorCode::Unauthenticated));
        };
        let role = Role::parse(&key.role)
            .ok_or_else(|| ApiError::internal(format!("key {} has unknown role", key.id)))?;
        rate_limit::take_token(state, &key.id).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;
    use std::net::IpAddr;

    #[test]
    fn the_client_is_the_peer_or_the_address_the_proxy_appended() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(client_address(peer, &h, Some("x-forwarded-for")), peer);
        h.append("x-forwarded-for", "1.1.1.1, 203.0.113.7".parse().unwrap());
        assert_eq!(
            client_address(peer, &h, None),
            peer,
            "not configured: ignored"
        );
        assert_eq!(
            client_address(peer, &h, Some("x-forwarded-for")),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        h.append("x-forwarded-for", "198.51.100.2".parse().unwrap());
        assert_eq!(
            client_address(peer, &h, Some("x-forwarded-for")),
            "198.51.100.2".parse::<IpAddr>().unwrap()
        );
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_address(peer, &h, Some("x-forwarded-for")), peer);
    }
}
