//! Extractors whose rejections are problem+json with the error table's codes.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::Json;
use serde::de::DeserializeOwned;

use crate::service::error::{ApiError, ErrorCode};

/// `Json<T>` whose rejections are problem+json with our codes.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::detail(
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/json",
            )),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::detail(ErrorCode::InvalidField, e.body_text()))
            }
            Err(e) => Err(ApiError::detail(ErrorCode::InvalidRequest, e.body_text())),
        }
    }
}

/// A JSON body that may be left out: no body is `None`, a body is read as [`JsonBody`] (and refused
/// as it would be). Small bodies only (64 KiB): a reason, an option.
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024)
            .await
            .map_err(|_| ApiError::new(ErrorCode::BodyTooLarge))?;
        if bytes.is_empty() {
            return Ok(OptionalJsonBody(None));
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        let JsonBody(v) = JsonBody::from_request(req, state).await?;
        Ok(OptionalJsonBody(Some(v)))
    }
}

/// The `Idempotency-Key` header, when sent: 1–255 visible characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .map(str::to_string)
                .ok_or_else(|| {
                    ApiError::detail(
                        ErrorCode::InvalidRequest,
                        "Idempotency-Key must be 1-255 visible characters",
                    )
                })
        })
        .transpose()
}
