//! `POST /v1/capture-links` and `GET /v1/capture-links/{id}`: one-time links to the applicant capture
//! page.

use crate::http::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::http::extract::JsonBody;
use crate::service::caller::Caller;
use crate::service::capture_links::{self, CaptureLinkView, CreatedCaptureLink, NewCaptureLink};
use crate::service::error::ApiError;
use crate::service::state::AppState;

/// Make a one-time link to the capture page for one applicant and purpose.
#[utoipa::path(post, path = "/v1/capture-links", request_body = NewCaptureLink, tag = "capture",
    responses((status = 201, body = CreatedCaptureLink), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewCaptureLink>,
) -> Result<(StatusCode, Json<CreatedCaptureLink>), ApiError> {
    let view = capture_links::create(&state, &caller, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A capture link of your organisation: whether it was agreed to and used, and what it produced.
#[utoipa::path(get, path = "/v1/capture-links/{id}", tag = "capture",
    params(("id" = String, Path)),
    responses((status = 200, body = CaptureLinkView), (status = 404, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CaptureLinkView>, ApiError> {
    Ok(Json(capture_links::get(&state, &caller, &id).await?))
}
