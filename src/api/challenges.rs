//! `POST /v1/challenges`: a random sequence of liveness actions, stored server-side, usable once and
//! only until it expires. The video verification that answers it names it by `challenge_id`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::ApiError;
use super::rfc3339;
use super::state::AppState;
use crate::domain::Role;
use crate::liveness::challenge::Challenge;
use crate::store::{now_ms, ChallengeRow};

#[derive(Serialize, ToSchema)]
pub struct ChallengeView {
    pub challenge_id: String,
    /// Actions to perform in this order: `blink`, `turn_left`, `turn_right` (the person's own left/right).
    pub actions: Vec<String>,
    /// Binds the recording to this challenge.
    pub nonce: String,
    pub expires_at: String,
}

/// Issue a liveness challenge for the next video capture.
#[utoipa::path(post, path = "/v1/challenges", tag = "verifications",
    responses((status = 201, body = ChallengeView), (status = "4XX", body = super::error::Problem)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<ChallengeView>), ApiError> {
    caller.require(&[Role::Submitter])?;
    Ok((
        StatusCode::CREATED,
        Json(issue(&state, &caller.org, None).await?),
    ))
}

/// Issues and stores a challenge for `org`: the API's, or a capture page's (`capture_link`), which
/// only that link's submission may answer.
pub async fn issue(
    state: &AppState,
    org: &str,
    capture_link: Option<&str>,
) -> Result<ChallengeView, ApiError> {
    let now = now_ms();
    let ttl = state.settings.service.challenge_ttl_secs;
    let challenge = Challenge::generate(&mut rand::rng(), (now / 1000) as u64, ttl);
    let actions: Vec<String> = challenge
        .actions
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    let row = ChallengeRow {
        id: format!("chl_{}", challenge.id),
        org: org.to_string(),
        nonce: challenge.nonce.clone(),
        actions: serde_json::to_string(&actions).expect("serialisable"),
        created_at: now,
        expires_at: now + ttl as i64 * 1000,
        capture_link_id: capture_link.map(str::to_string),
    };
    state.store.create_challenge(&row).await?;
    Ok(ChallengeView {
        challenge_id: row.id,
        actions,
        nonce: row.nonce,
        expires_at: rfc3339(row.expires_at),
    })
}
