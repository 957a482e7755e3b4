//! The applicant capture page, served by `idv serve` at `/capture/{token}`: a one-time link made by a
//! submitter (`POST /v1/capture-links`) opens a page that shows the privacy notice for the link's
//! purpose, records the consent when the applicant agrees (nothing when they decline), photographs the
//! document, records a challenge video and a still selfie from the camera, and submits them as an
//! asynchronous video verification, which uses the link up. The page (plain HTML, CSS and JS, all
//! served from here) talks only to the token's own endpoints below; the token stands in for an API
//! key and allows exactly what the page needs, for the one subject and purpose of its link.

pub mod notice;

use std::pin::Pin;

use axum::body::HttpBody;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use self::notice::notice;
use crate::http::extract::{idempotency_key, JsonBody};
use crate::http::multipart::read_submission;
use crate::http::page::{esc, page_headers};
use crate::service::capture_links::{self, LinkSubmission};
use crate::service::challenges::ChallengeView;
use crate::service::error::{ApiError, ErrorCode};
use crate::service::state::AppState;

const PAGE: &str = include_str!("page.html");
const ERROR_PAGE: &str = include_str!("error.html");
const SCRIPT: &str = include_str!("capture.js");
const STYLE: &str = include_str!("capture.css");

/// The capture page's routes, to merge into the service's router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/capture/static/capture.js", get(script))
        .route("/capture/static/capture.css", get(style))
        .route("/capture/{token}", get(page))
        .route("/capture/{token}/consent", post(consent))
        .route("/capture/{token}/challenge", post(challenge))
        .route("/capture/{token}/submission", post(submission))
        .layer(middleware::map_response(security_headers))
}

/// On every capture response: nothing cached, framed or loaded from elsewhere; the camera for this
/// page only; no Referer (the address holds the token).
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    page_headers(
        h,
        "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; \
         style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
         form-action 'self'; base-uri 'none'",
    );
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(self), microphone=(), geolocation=()"),
    );
    response
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// Fills `{{name}}` placeholders; values are inserted as given (escape them first) (pure).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_string(), |page, (name, value)| {
            page.replace(&format!("{{{{{name}}}}}"), value)
        })
}

/// A time as the page says it: "2 December 2026, 09:30 UTC" (pure).
fn human_time(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::format_description::parse_borrowed::<2>(
        "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC",
    )
    .expect("a valid format");
    t.format(&format).unwrap_or_default()
}

/// What the person reads when a link cannot be used.
fn refusal_page(e: &ApiError) -> Response {
    let (title, message) = match e.code {
        ErrorCode::CaptureLinkUsed => (
            "This link has already been used",
            "Your photos and video were sent with this link, so it cannot be used again. If you need to \
             send them again, ask the scheme for a new link.",
        ),
        ErrorCode::CaptureLinkExpired => (
            "This link has expired",
            "Links to this page work for a limited time. Ask the scheme for a new link.",
        ),
        ErrorCode::CaptureLinkNotFound => (
            "This link is not valid",
            "Check that you opened the whole address from your message, or ask the scheme for a new link.",
        ),
        _ => (
            "This page cannot be shown just now",
            "Please try again in a few minutes.",
        ),
    };
    let body = fill(
        ERROR_PAGE,
        &[
            ("title", &esc(title)),
            ("message", &esc(message)),
            ("code", e.code.code()),
        ],
    );
    (e.code.status(), Html(body)).into_response()
}

/// The page itself, or what went wrong with the link.
async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let (link, purpose) = match capture_links::usable_by_token(&state, &token).await {
        Ok(found) => found,
        Err(e) => return refusal_page(&e),
    };
    let n = notice(purpose, &state.settings);
    let max_video = state.settings.video.max_bytes.to_string();
    let body = fill(
        PAGE,
        &[
            ("purpose_title", &esc(n.title)),
            ("notice_html", &n.html),
            ("decline_html", &n.decline_html),
            ("notice_version", &esc(&n.version)),
            ("expires_human", &esc(&human_time(link.expires_at))),
            (
                "consented",
                if link.consent_ref.is_some() {
                    "true"
                } else {
                    "false"
                },
            ),
            ("max_video_bytes", &max_video),
        ],
    );
    Html(body).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentBody {
    notice_version: String,
}

#[derive(Serialize)]
struct ConsentGiven {
    consent_ref: String,
    notice_version: String,
}

/// "I agree": records the explicit consent with the version of the notice shown, once per link (a
/// repeated agreement answers the consent already recorded).
async fn consent(
    State(state): State<AppState>,
    Path(token): Path<String>,
    JsonBody(body): JsonBody<ConsentBody>,
) -> Result<(StatusCode, Json<ConsentGiven>), ApiError> {
    let given = capture_links::agree(&state, &token, &body.notice_version, |purpose| {
        notice(purpose, &state.settings).version
    })
    .await?;
    let status = if given.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ConsentGiven {
            consent_ref: given.consent.consent_ref,
            notice_version: given.consent.notice_version,
        }),
    ))
}

#[derive(Serialize)]
struct CaptureChallenge {
    #[serde(flatten)]
    challenge: ChallengeView,
    /// How long the page gives each action while it records.
    seconds_per_action: f64,
}

/// The actions to perform while the page records (only after the consent).
async fn challenge(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<(StatusCode, Json<CaptureChallenge>), ApiError> {
    let challenge = capture_links::issue_challenge(&state, &token).await?;
    Ok((
        StatusCode::CREATED,
        Json(CaptureChallenge {
            challenge,
            seconds_per_action: state.settings.capture.seconds_per_action,
        }),
    ))
}

/// Reads and drops a request body the answer does not need, so the browser, which is still sending it,
/// gets the answer instead of a broken connection. Bounded by the service's body limit.
async fn drain(request: Request) {
    let mut body = request.into_body();
    while let Some(Ok(_)) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {}
}

async fn refused(request: Request, e: ApiError) -> Result<Response, ApiError> {
    drain(request).await;
    Err(e)
}

/// The submission: the document, the video answering the challenge and the still selfie, queued as an
/// asynchronous video verification that uses the link up. A retry with the same `Idempotency-Key`
/// (the page's answer was lost) is answered as the first was.
async fn submission(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let received = || (StatusCode::ACCEPTED, Json(json!({"status": "received"}))).into_response();
    let key = idempotency_key(&headers)?;
    // An unknown token is refused at once; a known link's refusals read the upload first, so the
    // browser, still sending it, gets the answer.
    let ready = match capture_links::prepare_submission(&state, &token, key).await {
        Ok(LinkSubmission::Ready(ready)) => ready,
        Ok(LinkSubmission::AlreadyReceived) => {
            drain(request).await;
            return Ok(received());
        }
        Err(e) if e.code == ErrorCode::CaptureLinkNotFound => return Err(e),
        Err(e) => return refused(request, e).await,
    };
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|e| {
            ApiError::detail(
                ErrorCode::UnsupportedMediaType,
                format!("expected multipart/form-data: {e}"),
            )
        })?;
    let sub = read_submission(&mut multipart, &state.settings).await?;
    capture_links::submit(&state, ready, sub).await?;
    Ok(received())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_everywhere_they_appear() {
        assert_eq!(
            fill("{{a}} and {{a}}, {{b}}", &[("a", "x"), ("b", "&lt;")]),
            "x and x, &lt;"
        );
    }

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(human_time(1_796_203_800_000), "2 December 2026, 09:30 UTC");
    }

    #[test]
    fn every_placeholder_of_the_pages_is_one_the_server_fills() {
        let filled = [
            "purpose_title",
            "notice_html",
            "decline_html",
            "notice_version",
            "expires_human",
            "consented",
            "max_video_bytes",
        ];
        for (template, names) in [
            (PAGE, &filled[..]),
            (ERROR_PAGE, &["title", "message", "code"]),
        ] {
            let mut rest = template;
            while let Some(start) = rest.find("{{") {
                let end = rest[start..].find("}}").expect("closed placeholder") + start;
                let name = &rest[start + 2..end];
                assert!(names.contains(&name), "unfilled placeholder {{{{{name}}}}}");
                rest = &rest[end + 2..];
            }
        }
    }
}
