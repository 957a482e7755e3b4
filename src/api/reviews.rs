//! Review cases through the API: the queue, a case with its decision record, its audited images, and
//! the resolution recorded beside the unchanged decision.

use crate::http::extract::{Path, Query};
use axum::extract::State;
use axum::response::Response;
use axum::Json;

use crate::http::extract::JsonBody;
use crate::http::page::{media_response, private_json};
use crate::service::caller::Caller;
use crate::service::error::ApiError;
use crate::service::reviews::{
    self, IdentityView, ListQuery, NewResolution, ReviewDetail, ReviewList, ReviewView,
};
use crate::service::state::AppState;

/// Open (or resolved) review cases of your organisation, oldest first.
#[utoipa::path(get, path = "/v1/reviews", tag = "reviews", params(ListQuery),
    responses((status = 200, body = ReviewList), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<ReviewList>, ApiError> {
    Ok(Json(reviews::list(&state, &caller, q).await?))
}

/// One case: the decision record (scores against thresholds, reason codes) and links to its images.
#[utoipa::path(get, path = "/v1/reviews/{id}", tag = "reviews", params(("id" = String, Path)),
    responses((status = 200, body = ReviewDetail), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReviewDetail>, ApiError> {
    Ok(Json(reviews::get(&state, &caller, &id).await?))
}

/// One image of a case (`document`, `selfie`, or the liveness `video`), for a reviewer: never cached, and every view is an
/// audit event naming the reviewer.
#[utoipa::path(get, path = "/v1/reviews/{id}/media/{kind}", tag = "reviews",
    params(("id" = String, Path), ("kind" = String, Path, description = "document, selfie, video, or frame-<seq> (invigilation evidence)")),
    responses((status = 200, description = "the image", content_type = "image/jpeg"), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn media(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let bytes = reviews::view_media(&state, &caller, &id, &kind).await?;
    Ok(media_response(bytes))
}

/// The identity behind a case, for a reviewer: what was read from the document's machine-readable
/// zone, what the applicant declared, and the two compared field by field. Never cached; every view
/// is an audit event naming the reviewer.
#[utoipa::path(get, path = "/v1/reviews/{id}/identity", tag = "reviews", params(("id" = String, Path)),
    responses((status = 200, body = IdentityView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = reviews::view_identity(&state, &caller, &id).await?;
    Ok(private_json(&view))
}

/// Resolve an open case. The automated decision stays as it was; the resolution is recorded beside it.
#[utoipa::path(post, path = "/v1/reviews/{id}/resolution", tag = "reviews",
    params(("id" = String, Path)), request_body = NewResolution,
    responses((status = 200, body = ReviewView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn resolve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewResolution>,
) -> Result<Json<ReviewView>, ApiError> {
    let case = reviews::resolve(&state, &caller, &id, body.outcome, &body.reason).await?;
    Ok(Json(ReviewView::from(&case)))
}
