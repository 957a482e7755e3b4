//! The size limits of a request, answered as problem+json: its head (431 `header_too_large`) and its
//! body, per route exactly what the route accepts (413 `body_too_large`, or `image_too_large` where
//! the body is one image), refused from `Content-Length` before a byte of the body is read.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer as _, ServiceExt as _};

use crate::service::error::{ApiError, ErrorCode};
use crate::settings::Settings;

/// The request line and headers together; well under what the connection buffers
/// (`connection::MAX_HEAD_BUFFER`), so a larger head is answered here rather than cut off by hyper.
pub const MAX_HEAD_BYTES: usize = 16 << 10;
/// Headers one request may carry.
pub const MAX_HEADERS: usize = 100;
/// The body of every route that takes JSON, a form or nothing: far more than any of them needs.
pub const SMALL_BODY_BYTES: usize = 64 << 10;
/// A multipart verification's text fields, part headers and boundaries.
const MULTIPART_FIELDS_BYTES: usize = 64 << 10;

/// How much body a route accepts, and the code of a larger one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    pub bytes: usize,
    pub too_large: ErrorCode,
}

/// The body limit of a route (by its matched pattern; `None`: no route matched) (pure).
pub fn body_limit_for(method: &Method, route: Option<&str>, settings: &Settings) -> BodyLimit {
    let image = settings.limits.max_bytes as usize;
    let video = settings.video.max_bytes as usize;
    let body = |bytes| BodyLimit {
        bytes,
        too_large: ErrorCode::BodyTooLarge,
    };
    if method != Method::POST {
        return body(SMALL_BODY_BYTES);
    }
    match route {
        // A document, a selfie and a video at their limits, and the fields.
        Some("/v1/verifications" | "/capture/{token}/submission") => {
            body(2 * image + video + MULTIPART_FIELDS_BYTES)
        }
        // The body is the one image.
        Some("/v1/invigilation/sessions/{id}/frames") => BodyLimit {
            bytes: image,
            too_large: ErrorCode::ImageTooLarge,
        },
        _ => body(SMALL_BODY_BYTES),
    }
}

/// The memory the upload routes' bodies may hold at once (`service.upload_buffer_mib`), in KiB permits.
pub struct UploadBudget {
    kib: Arc<Semaphore>,
    total_kib: u32,
    wait: Duration,
}

impl UploadBudget {
    pub fn new(mib: u64, wait: Duration) -> Self {
        let total_kib = (mib.max(1) * 1024).min(u32::MAX as u64 >> 1) as u32;
        UploadBudget {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            wait,
        }
    }

    /// Room for `bytes` (at most the whole budget), waiting up to `wait`, or 429 `overloaded`.
    async fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let kib = bytes.div_ceil(1024).clamp(1, self.total_kib as usize) as u32;
        match tokio::time::timeout(self.wait, self.kib.clone().acquire_many_owned(kib)).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::detail(
                ErrorCode::Overloaded,
                "too many uploads are being received; retry",
            )
            .retry_after(1)),
        }
    }
}

/// What `limit_body` needs: the settings (the routes' limits) and the upload budget.
pub struct BodyLimits {
    pub settings: Arc<Settings>,
    pub uploads: UploadBudget,
}

/// The bytes of a request head as hyper received it, near enough: line, names, values, separators.
fn head_bytes(req: &Request) -> usize {
    let line = req.method().as_str().len() + req.uri().to_string().len() + 12;
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + line
}

/// Refuses a head over `MAX_HEAD_BYTES` or with more than `MAX_HEADERS` headers: 431.
pub async fn check_head(req: Request, next: Next) -> Response {
    if req.headers().len() > MAX_HEADERS || head_bytes(&req) > MAX_HEAD_BYTES {
        return ApiError::detail(
            ErrorCode::HeaderTooLarge,
            format!(
                "the request head must be at most {MAX_HEAD_BYTES} bytes in at most {MAX_HEADERS} headers"
            ),
        )
        .into_response();
    }
    next.run(req).await
}

/// Holds the route's body to its limit: a declared `Content-Length` over it is refused at once; a
/// body that grows past it while read is refused by the extractor reading it (413, given the route's
/// code here). An upload route's body first reserves its room in the upload budget, held until the
/// response.
pub async fn limit_body(
    State(limits): State<Arc<BodyLimits>>,
    mut req: Request,
    next: Next,
) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str());
    let limit = body_limit_for(req.method(), route, &limits.settings);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::detail(
            limit.too_large,
            format!("this route accepts at most {} bytes of body", limit.bytes),
        )
        .into_response()
    };
    if declared.is_some_and(|n| n > limit.bytes as u64) {
        return too_large();
    }
    let _reserved = if limit.bytes > SMALL_BODY_BYTES {
        let expected = declared.map_or(limit.bytes, |n| n as usize);
        match limits.uploads.reserve(expected).await {
            Ok(permit) => Some(permit),
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    // For extractors that read the body themselves (`extract::WholeBody`).
    req.extensions_mut().insert(limit);
    let response = DefaultBodyLimit::max(limit.bytes)
        .layer(next)
        .oneshot(req)
        .await
        .unwrap_or_else(|never| match never {});
    let plain = !response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/problem+json"));
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE && plain {
        return too_large();
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_takes_what_it_accepts_and_no_more() {
        let s = Settings::default();
        let image = s.limits.max_bytes as usize;
        let frame = body_limit_for(
            &Method::POST,
            Some("/v1/invigilation/sessions/{id}/frames"),
            &s,
        );
        assert_eq!(frame.bytes, image);
        assert_eq!(frame.too_large, ErrorCode::ImageTooLarge);
        let submission = body_limit_for(&Method::POST, Some("/v1/verifications"), &s);
        assert!(submission.bytes > 2 * image + s.video.max_bytes as usize);
        assert_eq!(
            body_limit_for(&Method::POST, Some("/capture/{token}/submission"), &s),
            submission
        );
        for small in [
            body_limit_for(&Method::POST, Some("/v1/consents"), &s),
            body_limit_for(&Method::GET, Some("/v1/verifications"), &s),
            body_limit_for(&Method::POST, None, &s),
        ] {
            assert_eq!(small.bytes, SMALL_BODY_BYTES);
            assert_eq!(small.too_large, ErrorCode::BodyTooLarge);
        }
    }

    #[tokio::test]
    async fn uploads_wait_for_room_in_the_budget_then_are_turned_away() {
        let budget = UploadBudget::new(1, Duration::from_millis(100));
        let first = budget.reserve(700 << 10).await.unwrap();
        // A larger upload than the whole budget takes all of it, once the others are done.
        let refused = budget.reserve(5 << 20).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::Overloaded);
        assert!(refused.retry_after.is_some());
        let small = budget.reserve(300 << 10).await.unwrap();
        drop((first, small));
        let whole = budget.reserve(5 << 20).await.unwrap();
        assert_eq!(whole.num_permits(), 1024);
    }

    #[test]
    fn the_head_counts_the_line_and_every_header() {
        let req = Request::builder()
            .uri("/v1/x?limit=1")
            .header("x-a", "b".repeat(100))
            .body(axum::body::Body::empty())
            .unwrap();
        let n = head_bytes(&req);
        assert!((100 + 3 + 4 + 13..200).contains(&n), "{n}");
    }
}
