//! `POST /v1/verifications` (synchronous, or asynchronous with `Prefer: respond-async`) and
//! `GET /v1/verifications/{id}`.

use crate::http::extract::Path;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::domain::VerificationStatus;
use crate::http::extract::idempotency_key;
use crate::http::multipart::read_submission;
use crate::service::caller::Caller;
use crate::service::error::{ApiError, ErrorCode};
use crate::service::state::AppState;
use crate::service::verifications::{self, VerificationView};
use crate::store::VerificationRow;

/// Verify that the face on an ID document is the face in a selfie, or in a liveness video.
///
/// Multipart parts: `document` (JPEG, PNG or WebP) and either `selfie` (a still photo) or `video` (MP4
/// with H.264, or WebM with VP8/VP9) with `challenge_id` (from `POST /v1/challenges`, used once) and,
/// optionally, the still `selfie` taken with it; fields `subject_ref`, `consent_ref`, `purpose`, optional
/// `external_ref`, and optional `declared`: JSON `{"surname", "given_names", "date_of_birth": "YYYY-MM-DD"}`,
/// what the applicant typed into the application, compared with the document's machine-readable zone
/// (`declared_name_mismatch`, `declared_date_of_birth_mismatch`; the record's `document` section says
/// what was checked). The consent is checked before any biometric processing. `Prefer: respond-async`
/// answers 202 at once; `Idempotency-Key` makes retries safe.
#[utoipa::path(post, path = "/v1/verifications", tag = "verifications",
    request_body(content_type = "multipart/form-data", content = String, description = "document, selfie and/or video with challenge_id, subject_ref, consent_ref, purpose, external_ref, declared (JSON)"),
    params(("Idempotency-Key" = Option<String>, Header), ("Prefer" = Option<String>, Header, description = "respond-async")),
    responses((status = 200, body = VerificationView), (status = 202, body = VerificationView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut multipart = multipart.map_err(|e| {
        ApiError::detail(
            ErrorCode::UnsupportedMediaType,
            format!("expected multipart/form-data: {e}"),
        )
    })?;
    let sub = read_submission(&mut multipart, &state.settings).await?;
    let (row, subject_ref) = verifications::submit(
        &state,
        &caller,
        sub,
        idempotency_key(&headers)?,
        prefers_async(&headers),
    )
    .await?;
    respond(&row, &subject_ref)
}

/// A verification of your organisation, with its decision record once decided.
#[utoipa::path(get, path = "/v1/verifications/{id}", tag = "verifications",
    params(("id" = String, Path)),
    responses((status = 200, body = VerificationView), (status = 404, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<VerificationView>, ApiError> {
    Ok(Json(verifications::get(&state, &caller, &id).await?))
}

/// The response for a stored verification: 202 with `Location` while pending, 200 otherwise.
fn respond(v: &VerificationRow, subject_ref: &str) -> Result<Response, ApiError> {
    let view = VerificationView::new(v, Some(subject_ref.to_string()))?;
    if v.status == VerificationStatus::Pending {
        let location = HeaderValue::from_str(&format!("/v1/verifications/{}", v.id))
            .map_err(ApiError::internal)?;
        let headers = [
            (header::LOCATION, location),
            (
                header::HeaderName::from_static("preference-applied"),
                HeaderValue::from_static("respond-async"),
            ),
        ];
        Ok((StatusCode::ACCEPTED, headers, Json(view)).into_response())
    } else {
        Ok((StatusCode::OK, Json(view)).into_response())
    }
}

fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_header_parsing() {
        let mut h = HeaderMap::new();
        assert!(!prefers_async(&h));
        h.insert("prefer", HeaderValue::from_static("wait=10, respond-async"));
        assert!(prefers_async(&h));
    }
}
