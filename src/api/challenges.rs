//! `POST /v1/challenges`: a random sequence of liveness actions, stored server-side, usable once and
//! only until it expires. The video verification that answers it names it by `challenge_id`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::service::caller::Caller;
use crate::service::challenges::{self, ChallengeView};
use crate::service::error::ApiError;
use crate::service::state::AppState;

/// Issue a liveness challenge for the next video capture.
#[utoipa::path(post, path = "/v1/challenges", tag = "verifications",
    responses((status = 201, body = ChallengeView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Json<ChallengeView>), ApiError> {
    let view = challenges::create(&state, &caller).await?;
    Ok((StatusCode::CREATED, Json(view)))
}
