//! The applicant capture page, served by `idv serve` at `/capture/{token}`: a one-time link made by a
//! submitter (`POST /v1/capture-links`) opens a page that shows the privacy notice for the link's
//! purpose, records the consent when the applicant agrees (nothing when they decline), photographs the
//! document, records a challenge video and a still selfie from the camera, and submits them as an
//! asynchronous video verification, which uses the link up. The page (plain HTML, CSS and JS, all
//! served from here) talks only to the token's own endpoints below; the token stands in for an API
//! key and allows exactly what the page needs, for the one subject and purpose of its link.

pub mod notice;

use std::pin::Pin;

use crate::http::extract::Path;
use askama::Template;
use axum::body::HttpBody;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use self::notice::{notice, Notice};
use crate::http::extract::{idempotency_key, JsonBody};
use crate::http::multipart::read_submission;
use crate::http::page::{page_headers, render};
use crate::service::capture_links::{self, LinkSubmission};
use crate::service::challenges::ChallengeView;
use crate::service::error::{ApiError, ErrorCode};
use crate::service::state::AppState;

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

/// The page of a link that cannot be used: why, what to do, and the code to quote.
#[derive(Template)]
#[template(path = "capture/error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    code: &'a str,
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
    let body = ErrorPage {
        title,
        message,
        code: e.code.code(),
    };
    (e.code.status(), Html(render(&body))).into_response()
}

/// The page that opens a usable link (templates/capture/page.html); its script does the rest.
#[derive(Template)]
#[template(path = "capture/page.html")]
struct CapturePage<'a> {
    purpose_title: &'a str,
    notice_version: &'a str,
    /// The notice and what declining means: HTML built by the notice's own template, shown as it is.
    notice_html: &'a str,
    decline_html: &'a str,
    /// When the link expires, in words.
    expires_human: String,
    /// Whether the applicant has already agreed (the page then starts at the document).
    consented: bool,
    max_video_bytes: u64,
}

/// The capture page for a usable link (pure).
fn capture_page(n: &Notice, expires_at: i64, consented: bool, max_video_bytes: u64) -> String {
    render(&CapturePage {
        purpose_title: n.title,
        notice_version: &n.version,
        notice_html: &n.html,
        decline_html: &n.decline_html,
        expires_human: human_time(expires_at),
        consented,
        max_video_bytes,
    })
}

/// The page itself, or what went wrong with the link.
async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let (link, purpose) = match capture_links::usable_by_token(&state, &token).await {
        Ok(found) => found,
        Err(e) => return refusal_page(&e),
    };
    let n = notice(purpose, &state.settings);
    Html(capture_page(
        &n,
        link.expires_at,
        link.consent_ref.is_some(),
        state.settings.video.max_bytes,
    ))
    .into_response()
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

/// The actions to perform while the page records, and when to prompt each (only after the consent).
async fn challenge(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<(StatusCode, Json<ChallengeView>), ApiError> {
    let challenge = capture_links::issue_challenge(&state, &token).await?;
    Ok((StatusCode::CREATED, Json(challenge)))
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
    use crate::domain::Purpose;
    use crate::settings::Settings;

    /// Markup and both quotes.
    const HOSTILE: &str = "<script>alert('x')</script>\"><b x='y'>";
    const ESCAPED: &str =
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&gt;&lt;b x=&#39;y&#39;&gt;";

    fn pages() -> Vec<String> {
        let settings = Settings::default();
        let mut pages = vec![];
        for purpose in [Purpose::EcsApplication, Purpose::RemoteInvigilation] {
            for consented in [false, true] {
                let n = notice(purpose, &settings);
                pages.push(capture_page(&n, 1_796_203_800_000, consented, 1 << 20));
            }
        }
        for code in [
            ErrorCode::CaptureLinkUsed,
            ErrorCode::CaptureLinkExpired,
            ErrorCode::CaptureLinkNotFound,
            ErrorCode::Internal,
        ] {
            let page = refusal_page(&ApiError::new(code));
            let body = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(axum::body::to_bytes(page.into_body(), usize::MAX))
                .unwrap();
            pages.push(String::from_utf8(body.to_vec()).unwrap());
        }
        pages
    }

    #[test]
    fn placeholders_are_filled_everywhere_they_appear() {
        #[derive(Template)]
        #[template(source = "{{a}} and {{a}}, {{b}}", ext = "html")]
        struct Filled<'a> {
            a: &'a str,
            b: &'a str,
        }
        assert_eq!(Filled { a: "x", b: "<" }.render().unwrap(), "x and x, &lt;");
        let n = notice(Purpose::EcsApplication, &Settings::default());
        let html = capture_page(&n, 1_796_203_800_000, false, 1 << 20);
        assert!(html.contains(&format!("<title>Identity check – {}</title>", n.title)));
        assert!(html.contains(&format!("<span class=\"purpose\">{}</span>", n.title)));
        assert_eq!(html.matches(&n.version).count(), 2);
        assert!(html.contains("data-consented=\"false\" data-max-video-bytes=\"1048576\""));
        assert!(html.contains("until 2 December 2026, 09:30 UTC."));
        assert!(html.contains(&n.html) && html.contains(&n.decline_html));
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(human_time(1_796_203_800_000), "2 December 2026, 09:30 UTC");
    }

    #[test]
    fn every_placeholder_of_the_pages_is_one_the_server_fills() {
        for page in pages() {
            for mark in ["{{", "}}", "{%", "%}", "{#", "#}"] {
                assert!(!page.contains(mark), "unfilled placeholder {mark}: {page}");
            }
        }
    }

    #[test]
    fn every_field_of_the_pages_is_escaped_and_the_notice_shown_as_built() {
        static TITLE: &str = HOSTILE;
        let mut settings = Settings::default();
        settings.capture.controller = HOSTILE.into();
        settings.capture.privacy_contact = HOSTILE.into();
        let n = Notice {
            title: TITLE,
            version: HOSTILE.into(),
            ..notice(Purpose::EcsApplication, &settings)
        };
        // The contact and the controller, escaped where the notice was built.
        assert!(n.html.matches(ESCAPED).count() >= 2, "{}", n.html);
        let html = capture_page(&n, 0, true, 1);
        assert!(
            !html.contains("<script>") && !html.contains("<b x"),
            "{html}"
        );
        assert!(!html.contains("'x'"), "{html}");
        // The title twice, the version twice; the notice as built.
        let in_notice = n.html.matches(ESCAPED).count() + n.decline_html.matches(ESCAPED).count();
        assert_eq!(html.matches(ESCAPED).count(), 4 + in_notice, "{html}");
        assert!(html.contains(&format!("data-notice-version=\"{ESCAPED}\"")));
        assert!(html.contains(&n.html) && html.contains(&n.decline_html));

        let html = render(&ErrorPage {
            title: HOSTILE,
            message: HOSTILE,
            code: HOSTILE,
        });
        assert!(
            !html.contains("<script>") && !html.contains("<b x"),
            "{html}"
        );
        assert_eq!(html.matches(ESCAPED).count(), 4, "{html}");
    }
}
