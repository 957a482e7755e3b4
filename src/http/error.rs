//! The `application/problem+json` form (RFC 9457) of the error table in `service::error`, and the
//! layer that gives every other error the server answers (axum's rejections and 405s, a time limit's
//! 408) the same form.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::error::{ApiError, ErrorCode};

pub const PROBLEM_JSON: &str = "application/problem+json";
/// The `Retry-After` of a 429 whose cause knows no time of its own (`capture_attempts_exceeded`).
const DEFAULT_RETRY_AFTER_SECS: u64 = 60;

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
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        // Every 429 says when to come back; those that know no better time pace retries a minute.
        let retry_after = self
            .retry_after
            .or((status == StatusCode::TOO_MANY_REQUESTS).then_some(DEFAULT_RETRY_AFTER_SECS));
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Whether a response is an error that no layer put in a form: not problem+json, not a page.
fn is_bare_error(response: &Response) -> bool {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|t| t.as_bytes())
        .unwrap_or_default();
    (response.status().is_client_error() || response.status().is_server_error())
        && !content_type.starts_with(PROBLEM_JSON.as_bytes())
        && !content_type.starts_with(b"text/html")
}

/// Rewrites a bare error (axum's text rejections, the router's empty 405, a time limit's empty 408)
/// as problem+json with the error table's code for its status. The original text is dropped: an
/// extractor's message may quote the request (a path segment can be a subject reference). `Allow`
/// and `Retry-After` are kept.
pub async fn problem_for_bare_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if !is_bare_error(&response) {
        return response;
    }
    let code = ErrorCode::for_status(response.status());
    let allow = response.headers().get(header::ALLOW).cloned();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut problem = match &allow {
        Some(methods) => ApiError::detail(
            code,
            format!("allowed: {}", methods.to_str().unwrap_or_default()),
        ),
        None => ApiError::new(code),
    };
    problem.retry_after = retry_after;
    let mut rewritten = problem.into_response();
    *rewritten.status_mut() = response.status();
    if let Some(allow) = allow {
        rewritten.headers_mut().insert(header::ALLOW, allow);
    }
    rewritten
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let paced = ApiError::new(ErrorCode::CaptureAttemptsExceeded).into_response();
        assert_eq!(paced.headers()[header::RETRY_AFTER], "60");
        let not_429 = ApiError::new(ErrorCode::NotFound).into_response();
        assert!(not_429.headers().get(header::RETRY_AFTER).is_none());
    }

    #[tokio::test]
    async fn bare_errors_become_problems_keeping_allow_and_the_rest_pass() {
        use axum::routing::get;
        use axum::Router;
        use tower::ServiceExt as _;
        let app = Router::new()
            .route("/thing", get(|| async { "ok" }))
            .route(
                "/page",
                get(|| async {
                    (
                        axum::http::StatusCode::NOT_FOUND,
                        axum::response::Html("<p>no</p>"),
                    )
                }),
            )
            .route(
                "/text",
                get(|| async { (axum::http::StatusCode::BAD_REQUEST, "Failed: secret-ref") }),
            )
            .layer(axum::middleware::from_fn(problem_for_bare_errors));
        let call = |method: &str, uri: &str| {
            let req = Request::builder()
                .method(method)
                .uri(uri)
                .body(axum::body::Body::empty())
                .unwrap();
            app.clone().oneshot(req)
        };
        let r = call("DELETE", "/thing").await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert!(r.headers()[header::ALLOW].to_str().unwrap().contains("GET"));
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "method_not_allowed");

        let r = call("GET", "/text").await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "invalid_request");
        assert!(!String::from_utf8_lossy(&body).contains("secret-ref"));

        let page = call("GET", "/page").await.unwrap();
        assert_eq!(
            page.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let ok = call("GET", "/thing").await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
}
