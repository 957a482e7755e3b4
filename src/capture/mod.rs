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
use crate::api::capture_links::LinkState;
use crate::api::challenges::{issue, ChallengeView};
use crate::api::consents::check_consent_of;
use crate::api::error::{ApiError, ErrorCode};
use crate::api::keys::new_id;
use crate::api::state::AppState;
use crate::api::verifications::{
    accept, idempotency_key, read_submission, CaptureUploads, NewVerification,
};
use crate::api::{bounded_text, JsonBody};
use crate::console::html::esc;
use crate::console::page_headers;
use crate::console::session::token_hash;
use crate::domain::{ConsentStatus, LawfulBasis, Purpose};
use crate::store::{now_ms, CaptureLinkRow, ConsentRow, NewAudit, StoreError};

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

/// Whether a path segment can be a token at all (`random_token`: 43 URL-safe base64 characters), so
/// anything else is refused without a database query (pure).
fn token_shaped(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The link a token opens, whatever its state.
async fn find_link(state: &AppState, token: &str) -> Result<CaptureLinkRow, ApiError> {
    if !token_shaped(token) {
        return Err(ApiError::new(ErrorCode::CaptureLinkNotFound));
    }
    state
        .store
        .capture_link_by_token(&token_hash(token))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::CaptureLinkNotFound))
}

/// The link a token opens, if it can still be used.
async fn usable_link(state: &AppState, token: &str) -> Result<(CaptureLinkRow, Purpose), ApiError> {
    let link = find_link(state, token).await?;
    if let Some(code) = LinkState::of(&link, now_ms()).refusal() {
        return Err(ApiError::new(code));
    }
    let purpose = Purpose::parse(&link.purpose)
        .ok_or_else(|| ApiError::internal("a capture link with an unknown purpose"))?;
    Ok((link, purpose))
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
    let (link, purpose) = match usable_link(&state, &token).await {
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
    let (link, purpose) = usable_link(&state, &token).await?;
    if let Some(existing) = &link.consent_ref {
        let c = state
            .store
            .get_consent(&link.org, existing)
            .await?
            .ok_or_else(|| ApiError::internal("a capture link names a missing consent"))?;
        return Ok((
            StatusCode::OK,
            Json(ConsentGiven {
                consent_ref: c.consent_ref,
                notice_version: c.notice_version,
            }),
        ));
    }
    let shown = bounded_text("notice_version", &body.notice_version, 64)?;
    let current = notice(purpose, &state.settings).version;
    if shown != current {
        return Err(ApiError::detail(
            ErrorCode::NoticeChanged,
            format!("the current notice is {current}; reload the page to read it"),
        ));
    }
    let now = now_ms();
    let row = ConsentRow {
        consent_ref: new_id("cns"),
        org: link.org.clone(),
        subject_id: link.subject_id.clone(),
        purpose: link.purpose.clone(),
        lawful_basis: LawfulBasis::ExplicitConsent.as_str().into(),
        notice_version: current,
        status: ConsentStatus::Active,
        created_at: now,
        withdrawn_at: None,
    };
    let audit = NewAudit {
        at: now,
        org: link.org.clone(),
        actor: format!("capture:{}", link.id),
        event: "consent.recorded",
        entity: row.consent_ref.clone(),
        subject_digest: Some(link.subject_id.clone()),
        details: json!({"purpose": row.purpose, "lawful_basis": row.lawful_basis,
                        "notice_version": row.notice_version, "capture_link": link.id}),
    };
    match state
        .store
        .record_link_consent(&link.id, &row, &audit)
        .await
    {
        Ok(()) => Ok((
            StatusCode::CREATED,
            Json(ConsentGiven {
                consent_ref: row.consent_ref,
                notice_version: row.notice_version,
            }),
        )),
        // Two agreements raced, or the link was used or expired meanwhile: nothing was written.
        Err(StoreError::CaptureLinkChanged) => Err(ApiError::detail(
            ErrorCode::IdempotencyConflict,
            "the link changed meanwhile; reload the page",
        )),
        Err(e) => Err(e.into()),
    }
}

/// The consent a link's page gave, still active.
async fn link_consent(
    state: &AppState,
    link: &CaptureLinkRow,
    purpose: Purpose,
) -> Result<ConsentRow, ApiError> {
    check_consent_of(
        state,
        &link.org,
        link.consent_ref.as_deref(),
        &link.subject_id,
        purpose,
    )
    .await
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
    let (link, purpose) = usable_link(&state, &token).await?;
    link_consent(&state, &link, purpose).await?;
    let max = state.settings.capture.max_challenges_per_link;
    if !state.store.count_link_challenge(&link.id, max).await? {
        return Err(ApiError::new(ErrorCode::CaptureAttemptsExceeded));
    }
    Ok((
        StatusCode::CREATED,
        Json(CaptureChallenge {
            challenge: issue(&state, &link.org, Some(&link.id)).await?,
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
    // An unknown token is refused at once; a known link's refusals read the upload first.
    let link = find_link(&state, &token).await?;
    // Namespaced by the link: the page's keys never meet a submitter's.
    let key = idempotency_key(&headers)?.map(|k| format!("capture:{}:{k}", link.id));
    if let Some(code) = LinkState::of(&link, now_ms()).refusal() {
        if let (Some(key), Some(submitted)) = (&key, &link.verification_id) {
            let earlier = state.store.find_by_idempotency_key(&link.org, key).await?;
            if earlier.is_some_and(|v| &v.id == submitted) {
                drain(request).await;
                return Ok(received());
            }
        }
        return refused(request, ApiError::new(code)).await;
    }
    let Some(purpose) = Purpose::parse(&link.purpose) else {
        return refused(
            request,
            ApiError::internal("a capture link with an unknown purpose"),
        )
        .await;
    };
    let consent = match link_consent(&state, &link, purpose).await {
        Ok(c) => c,
        Err(e) => return refused(request, e).await,
    };
    let subject = match state
        .vault
        .subject_key(&state.store, &link.subject_id)
        .await?
    {
        Some(s) if s.restricted_at.is_none() => s,
        Some(_) => return refused(request, ApiError::new(ErrorCode::ProcessingRestricted)).await,
        None => return refused(request, ApiError::new(ErrorCode::SubjectErased)).await,
    };
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|e| {
            ApiError::detail(
                ErrorCode::UnsupportedMediaType,
                format!("expected multipart/form-data: {e}"),
            )
        })?;
    let sub = read_submission(&mut multipart, &state).await?;
    if sub.names_references() {
        return Err(ApiError::detail(
            ErrorCode::InvalidField,
            "the link names the subject, consent and purpose: send only the files and challenge_id",
        ));
    }
    let (document, capture) = sub.uploads()?;
    if matches!(capture, CaptureUploads::Selfie(_)) {
        return Err(ApiError::detail(
            ErrorCode::InvalidField,
            "the capture page sends a `video` with its `challenge_id`",
        ));
    }
    let request = NewVerification {
        org: link.org.clone(),
        actor: format!("capture:{}", link.id),
        subject,
        consent,
        purpose,
        external_ref: link.external_ref.clone(),
        document,
        capture,
        idempotency_key: key,
        asynchronous: true,
        capture_link: Some(link.id.clone()),
    };
    accept(&state, request).await?;
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
    fn only_token_shaped_paths_reach_the_database() {
        let token = crate::console::session::random_token();
        assert!(token_shaped(&token));
        assert!(!token_shaped("static"));
        assert!(!token_shaped(&format!("{}'", &token[..42])));
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
