//! Consents: recorded before any biometric processing, read back, withdrawn.

use crate::http::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::http::extract::{JsonBody, OptionalJsonBody};
use crate::service::caller::Caller;
use crate::service::consents::{self, ConsentView, NewConsent, Withdrawal};
use crate::service::error::ApiError;
use crate::service::state::AppState;

/// Record a consent (or other lawful basis) for one subject and one purpose.
#[utoipa::path(post, path = "/v1/consents", request_body = NewConsent, tag = "consents",
    responses((status = 201, body = ConsentView), (status = "4XX", body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewConsent>,
) -> Result<(StatusCode, Json<ConsentView>), ApiError> {
    let view = consents::create(&state, &caller, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Read a consent of your organisation.
#[utoipa::path(get, path = "/v1/consents/{consent_ref}", tag = "consents",
    params(("consent_ref" = String, Path)),
    responses((status = 200, body = ConsentView), (status = 404, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(consent_ref): Path<String>,
) -> Result<Json<ConsentView>, ApiError> {
    Ok(Json(consents::get(&state, &caller, &consent_ref).await?))
}

/// Withdraw a consent: no further processing happens under it, and the biometric data collected under
/// it (uploads, embeddings, pending jobs) is purged at once, unless another active consent or lawful
/// basis recorded for the same subject and purpose covers it; the audit entry says which.
#[utoipa::path(post, path = "/v1/consents/{consent_ref}/withdraw", tag = "consents",
    params(("consent_ref" = String, Path)), request_body(content = Option<Withdrawal>, description = "optional: why (recorded in the audit log)"),
    responses((status = 200, body = ConsentView), (status = 404, body = crate::http::error::Problem), (status = 409, body = crate::http::error::Problem)),
    security(("api_key" = [])))]
pub async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Path(consent_ref): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<Withdrawal>,
) -> Result<Json<ConsentView>, ApiError> {
    let reason = body.and_then(|b| b.reason);
    Ok(Json(
        consents::withdraw(&state, &caller, &consent_ref, reason.as_deref()).await?,
    ))
}
