//! Remote-invigilation sessions through the API: open one against the enrolled template, post webcam
//! frames, read the timeline, close it.

use crate::http::extract::Path;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;

use crate::http::extract::{JsonBody, WholeBody};
use crate::service::caller::Caller;
use crate::service::error::ApiError;
use crate::service::invigilation::{self, FrameResponse, NewSession, SessionView};
use crate::service::state::AppState;

/// Start a session against a verified enrolment.
#[utoipa::path(post, path = "/v1/invigilation/sessions", tag = "invigilation", request_body = NewSession,
    responses((status = 201, body = SessionView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewSession>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let view = invigilation::create(&state, &caller, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Check one webcam frame (the image as the request body: JPEG, PNG or WebP).
#[utoipa::path(post, path = "/v1/invigilation/sessions/{id}/frames", tag = "invigilation",
    params(("id" = String, Path)),
    request_body(content_type = "image/jpeg", content = String, description = "one webcam frame"),
    responses((status = 200, body = FrameResponse), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn frame(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    WholeBody(body): WholeBody,
) -> Result<Json<FrameResponse>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let checked = invigilation::frame(&state, &caller, &id, content_type, body).await?;
    Ok(Json(checked))
}

/// The session's timeline: every frame's result, in order, and its review case.
#[utoipa::path(get, path = "/v1/invigilation/sessions/{id}", tag = "invigilation",
    params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(invigilation::get(&state, &caller, &id).await?))
}

/// Close the session: its summary is recorded and the template dropped.
#[utoipa::path(post, path = "/v1/invigilation/sessions/{id}/close", tag = "invigilation",
    params(("id" = String, Path)),
    responses((status = 200, body = SessionView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    Ok(Json(invigilation::close(&state, &caller, &id).await?))
}
