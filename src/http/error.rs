//! The `application/problem+json` form (RFC 9457) of the error table in `service::error`.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::error::ApiError;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the error type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    /// The stable error code.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        metrics::counter!("idv_rejected_requests_total", "code" => self.code.code()).increment(1);
        let body = Problem {
            kind: format!("https://idv.invalid/errors/{}", self.code.code()),
            title: self.code.title(),
            status: status.as_u16(),
            code: self.code.code(),
            detail: self.detail,
        };
        let mut response =
            (status, serde_json::to_vec(&body).expect("serialisable")).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::error::ErrorCode;
    use axum::http::StatusCode;

    #[tokio::test]
    async fn problem_json_with_retry_after() {
        let r = ApiError::new(ErrorCode::Overloaded)
            .retry_after(2)
            .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "overloaded");
        assert_eq!(v["status"], 429);
    }
}
