//! Extractors whose rejections are problem+json with the error table's codes. The API's handlers
//! take `Path` and `Query` from here (same shape as axum's, so `Path(id): Path<String>` reads the
//! same); anything else axum rejects is rewritten by `error::problem_for_bare_errors`.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::Json;
use serde::de::DeserializeOwned;
use std::net::IpAddr;

use super::limits::{BodyLimit, SMALL_BODY_BYTES};
use crate::service::error::{ApiError, ErrorCode};

/// Whom failed authentications count against: the last address in the proxy's header when one is
/// configured and present (the one the proxy appended: whatever a client wrote comes before it), else
/// the connection's peer (pure).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, proxy_header: Option<&str>) -> IpAddr {
    proxy_header
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
        .unwrap_or(peer)
}

/// The client's address as `client_address` finds it, for throttling (the console's sign-in); `None`
/// only for a router called without a connection (unit tests).
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl FromRequestParts<crate::service::state::AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::service::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|peer| {
                    client_address(
                        peer.0.ip(),
                        &parts.headers,
                        state.settings.service.client_address_header.as_deref(),
                    )
                }),
        ))
    }
}

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
            // Past the route's body limit (http::limits) while read.
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(ErrorCode::BodyTooLarge))
            }
            Err(e) => Err(ApiError::detail(ErrorCode::InvalidRequest, e.body_text())),
        }
    }
}

/// A whole body as one buffer, allocated once at its declared length, so a large upload is never held
/// twice (axum's `Bytes` gathers the chunks, then copies them into one buffer). Held to the route's
/// `BodyLimit` (set by `http::limits`; without it, the small-body limit) as it arrives, with or without
/// a declared length.
#[derive(Debug)]
pub struct WholeBody(pub bytes::Bytes);

impl<S: Send + Sync> FromRequest<S> for WholeBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        use hyper::body::Body as _;
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .copied()
            .unwrap_or(BodyLimit {
                bytes: SMALL_BODY_BYTES,
                too_large: ErrorCode::BodyTooLarge,
            });
        let too_large = || {
            ApiError::detail(
                limit.too_large,
                format!("this route accepts at most {} bytes of body", limit.bytes),
            )
        };
        let declared = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit.bytes) {
            return Err(too_large());
        }
        let mut body = req.into_body();
        let mut buf = bytes::BytesMut::with_capacity(declared.unwrap_or(0));
        while let Some(frame) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(|_| {
                ApiError::detail(ErrorCode::InvalidRequest, "the body could not be read")
            })?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit.bytes {
                    return Err(too_large());
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(WholeBody(buf.freeze()))
    }
}

/// `axum::extract::Path` with problem+json rejections that never quote the path (a segment can be a
/// subject reference).
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(match e.kind() {
                ErrorKind::InvalidUtf8InPathParam { .. } => ApiError::detail(
                    ErrorCode::InvalidRequest,
                    "a path segment is not valid UTF-8 once percent-decoded",
                ),
                // A route whose parameters do not fit its handler: ours, and its text names no value.
                _ if e.status().is_server_error() => ApiError::internal(e.body_text()),
                _ => ApiError::detail(
                    ErrorCode::InvalidRequest,
                    "a path segment has an invalid value",
                ),
            }),
            Err(e) => Err(ApiError::internal(e.body_text())),
        }
    }
}

/// `axum::extract::Query` with problem+json rejections: 422 `invalid_field` naming the parameter.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            // serde_urlencoded's message names the parameter and what it expected; our query
            // parameters are options (limits, statuses, purposes), never personal data.
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::detail(
                ErrorCode::InvalidField,
                format!("query string: {}", bounded(&e.body_text(), 200)),
            )),
            Err(e) => Err(ApiError::detail(ErrorCode::InvalidRequest, e.body_text())),
        }
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn bounded(text: &str, max: usize) -> &str {
    let text = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(text);
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Q {
        limit: Option<i64>,
    }

    #[tokio::test]
    async fn a_bad_query_is_invalid_field_naming_the_parameter() {
        let req = Request::builder()
            .uri("/x?limit=abc")
            .body(Body::empty())
            .unwrap();
        let (mut parts, _) = req.into_parts();
        let e = Query::<Q>::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidField);
        assert!(e.detail.unwrap().starts_with("query string: limit"));
    }

    #[tokio::test]
    async fn a_json_body_past_the_routes_limit_is_body_too_large() {
        use axum::extract::DefaultBodyLimit;
        use axum::response::IntoResponse;
        use axum::routing::post;
        use tower::ServiceExt as _;
        let app = axum::Router::new()
            .route(
                "/",
                post(|JsonBody(v): JsonBody<serde_json::Value>| async move {
                    axum::Json(v).into_response()
                }),
            )
            .layer(DefaultBodyLimit::max(16));
        let req = Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", "application/json")
            .body(Body::from(format!("{{\"a\": \"{}\"}}", "x".repeat(64))))
            .unwrap();
        let r = app.oneshot(req).await.unwrap();
        assert_eq!(r.status(), axum::http::StatusCode::PAYLOAD_TOO_LARGE);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "body_too_large");
    }

    #[tokio::test]
    async fn a_whole_body_is_held_to_the_routes_limit_with_or_without_a_length() {
        let limit = BodyLimit {
            bytes: 10,
            too_large: ErrorCode::ImageTooLarge,
        };
        let req = |body: &'static str, length: Option<usize>| {
            let mut b = Request::builder().method("POST").uri("/");
            if let Some(n) = length {
                b = b.header("content-length", n);
            }
            let mut r = b.body(Body::from(body)).unwrap();
            r.extensions_mut().insert(limit);
            r
        };
        let WholeBody(ok) = WholeBody::from_request(req("0123456789", None), &())
            .await
            .unwrap();
        assert_eq!(&ok[..], b"0123456789");
        let streamed = WholeBody::from_request(req("0123456789A", None), &())
            .await
            .unwrap_err();
        assert_eq!(streamed.code, ErrorCode::ImageTooLarge);
        let declared = WholeBody::from_request(req("", Some(11)), &())
            .await
            .unwrap_err();
        assert_eq!(declared.code, ErrorCode::ImageTooLarge);
    }

    #[test]
    fn bounded_cuts_at_a_character_boundary() {
        assert_eq!(bounded("ééé", 3), "é");
        assert_eq!(bounded("Failed to deserialize query string: x", 100), "x");
    }
}
