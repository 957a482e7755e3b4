//! Data-subject rights through the API (an auditor on the person's behalf): export, erasure,
//! restriction.

use crate::http::extract::{Path, Query};
use axum::extract::State;
use axum::Json;

use crate::http::extract::JsonBody;
use crate::service::caller::Caller;
use crate::service::error::ApiError;
use crate::service::state::AppState;
use crate::service::subjects::{
    self, ErasureView, ExportQuery, Reason, RestrictionView, SubjectExport,
};

/// Export everything held about a subject (right of access and portability).
#[utoipa::path(get, path = "/v1/subjects/{subject_ref}/export", tag = "subjects",
    params(("subject_ref" = String, Path), ExportQuery),
    responses((status = 200, body = SubjectExport), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(subject_ref): Path<String>,
    Query(query): Query<ExportQuery>,
) -> Result<Json<SubjectExport>, ApiError> {
    Ok(Json(
        subjects::export(&state, &caller, &subject_ref, query).await?,
    ))
}

/// Erase a subject's data (right to erasure): their data key is destroyed (crypto-shredding), their
/// media and embeddings deleted, their decision records reduced or deleted as each purpose's retention
/// policy says, and a tombstone recorded. The audit chain is untouched and still verifies.
#[utoipa::path(delete, path = "/v1/subjects/{subject_ref}", tag = "subjects",
    params(("subject_ref" = String, Path)), request_body = Reason,
    responses((status = 200, body = ErasureView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    Path(subject_ref): Path<String>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Json<ErasureView>, ApiError> {
    Ok(Json(
        subjects::erase(&state, &caller, &subject_ref, body).await?,
    ))
}

/// Restrict processing of a subject's data (e.g. while they contest its accuracy): every verification
/// for them is refused with `processing_restricted` and nothing is stored, until lifted.
#[utoipa::path(post, path = "/v1/subjects/{subject_ref}/restrict", tag = "subjects",
    params(("subject_ref" = String, Path)), request_body = Reason,
    responses((status = 200, body = RestrictionView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn restrict(
    State(state): State<AppState>,
    caller: Caller,
    Path(subject_ref): Path<String>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Json<RestrictionView>, ApiError> {
    Ok(Json(
        subjects::restrict(&state, &caller, &subject_ref, body).await?,
    ))
}

/// Lift a restriction of processing.
#[utoipa::path(post, path = "/v1/subjects/{subject_ref}/unrestrict", tag = "subjects",
    params(("subject_ref" = String, Path)), request_body = Reason,
    responses((status = 200, body = RestrictionView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn unrestrict(
    State(state): State<AppState>,
    caller: Caller,
    Path(subject_ref): Path<String>,
    JsonBody(body): JsonBody<Reason>,
) -> Result<Json<RestrictionView>, ApiError> {
    Ok(Json(
        subjects::unrestrict(&state, &caller, &subject_ref, body).await?,
    ))
}
