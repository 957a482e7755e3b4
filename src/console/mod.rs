//! The reviewer console, served by `idv serve` under `/review`: server-rendered pages (no script) for
//! people who resolve review cases. Sign-in with a password (argon2id) and a TOTP code, throttled per
//! client address; a session cookie (HttpOnly, SameSite=Strict, Path=/review) whose token the server
//! keeps only hashed; a CSRF token on every form; the queue of open cases, each saying why it waits; a
//! case page with the faces as aligned crops, the video and its key frames, invigilation evidence frames
//! (each crop, frame, image and the video an audited `review.media_viewed` by `reviewer:<username>`),
//! every score beside its threshold in words, and the resolution form, recorded exactly as the API
//! records it, then the next case or the queue. A reviewer sees their organisation's cases only. API
//! keys mean nothing here: the console knows reviewers, not keys.

mod case_view;
pub mod html;
pub mod session;
pub mod words;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use self::html::{QueueFilters, QueueRow, Reviewer};
use self::session::{cookie_value, set_cookie, SESSION_COOKIE, SIGNIN_COOKIE};
use crate::domain::clock::rfc3339;
use crate::domain::text::percent_encode;
use crate::domain::token::{random_token, token_matches};
use crate::domain::{Purpose, ReviewOutcome};
use crate::http::extract::ClientAddr;
use crate::http::page::{media_response, page_headers};
use crate::service::error::{ApiError, ErrorCode};
use crate::service::review_queue::{self, QueueFilter};
use crate::service::review_views;
use crate::service::reviewers::{self, SignedIn};
use crate::service::reviews;
use crate::service::state::AppState;

const CSS: &str = include_str!("console.css");
/// The one message for every failed sign-in: it does not tell which part was wrong.
const SIGNIN_FAILED: &str = "Sign-in failed. Check your username, password and authenticator code \
     (each code works once). After repeated failures the account is locked for a while.";
/// How long a sign-in form stays usable.
const SIGNIN_FORM_SECS: i64 = 3600;

/// The console's routes, to merge into the service's router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/review", get(home))
        .route("/review/", get(home))
        .route("/review/signin", get(signin_form).post(signin))
        .route("/review/signout", post(signout))
        .route("/review/queue", get(queue))
        .route("/review/cases/{id}", get(case))
        .route("/review/cases/{id}/media/{kind}", get(media))
        .route("/review/cases/{id}/faces/{kind}", get(face))
        .route("/review/cases/{id}/frames/{at_ms}", get(frame))
        .route("/review/cases/{id}/resolution", post(resolve))
        .route("/review/static/console.css", get(css))
        .layer(DefaultBodyLimit::max(64 << 10))
        .layer(middleware::map_response(bare_errors_as_pages))
        .layer(middleware::map_response(security_headers))
}

/// A refusal that reached the console without a page (axum's rejection of a path, query or form; the
/// router's 405): the console's error page, with the error table's code for its status.
async fn bare_errors_as_pages(response: Response) -> Response {
    let status = response.status();
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if is_page || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let code = ErrorCode::for_status(status);
    let mut page = html_page(status, html::error_page(None, code.code(), code.title()));
    if let Some(allow) = response.headers().get(header::ALLOW) {
        page.headers_mut().insert(header::ALLOW, allow.clone());
    }
    page
}

/// On every console response: nothing loaded from elsewhere.
async fn security_headers(mut response: Response) -> Response {
    page_headers(
        response.headers_mut(),
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    response
}

fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(location).expect("a path"),
        )],
    )
        .into_response()
}

fn html_page(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// An error as a page: the status and stable code of the API's error table (and `Retry-After` when
/// the error says when to try again).
fn error_response(reviewer: Option<&Reviewer>, e: ApiError) -> Response {
    let mut page = html_page(
        e.code.status(),
        html::error_page(reviewer, e.code.code(), e.code.title()),
    );
    if let Some(secs) = e.retry_after {
        page.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    page
}

fn csrf_refused(reviewer: Option<&Reviewer>) -> Response {
    html_page(
        StatusCode::FORBIDDEN,
        html::error_page(
            reviewer,
            "csrf_failed",
            "This form has expired or did not come from the console; reload the page and try again",
        ),
    )
}

/// A signed-in reviewer: from the session cookie, or a redirect to the sign-in page (GET and POST
/// alike; no data either way).
pub struct Signed(SignedIn);

impl Signed {
    fn view(&self) -> Reviewer<'_> {
        Reviewer {
            username: &self.0.reviewer.username,
            org: &self.0.reviewer.org,
            csrf: &self.0.session.csrf_token,
        }
    }

    fn csrf_ok(&self, submitted: &str) -> bool {
        token_matches(&self.0.session.csrf_token, Some(submitted))
    }
}

fn cookie<'a>(parts: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    parts
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| cookie_value(v, name))
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(see_other("/review/signin"));
        };
        match reviewers::session(state, token).await {
            Ok(Some(signed)) => Ok(Signed(signed)),
            Ok(None) => Err(see_other("/review/signin")),
            Err(e) => Err(error_response(None, e)),
        }
    }
}

async fn home() -> Response {
    see_other("/review/queue")
}

async fn css() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        CSS,
    )
        .into_response()
}

/// The sign-in form, with a fresh double-submit token in a cookie.
async fn signin_form(State(state): State<AppState>) -> Response {
    let token = random_token();
    let cookie = set_cookie(
        SIGNIN_COOKIE,
        &token,
        SIGNIN_FORM_SECS,
        state.settings.review.console_secure_cookie,
    );
    (
        [(header::SET_COOKIE, cookie)],
        Html(html::signin_page(&token, None)),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(default)]
#[derive(Default)]
struct SigninForm {
    csrf: String,
    username: String,
    password: String,
    code: String,
}

/// Signs a reviewer in; every failure answers the same page.
async fn signin(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: axum::http::HeaderMap,
    Form(form): Form<SigninForm>,
) -> Response {
    if !token_matches(
        cookie(&headers, SIGNIN_COOKIE).unwrap_or(""),
        Some(&form.csrf),
    ) {
        return csrf_refused(None);
    }
    let token = match reviewers::sign_in(&state, client, &form.username, &form.password, &form.code)
        .await
    {
        Ok(Some(token)) => token,
        Ok(None) => {
            return html_page(
                StatusCode::UNAUTHORIZED,
                html::signin_page(&form.csrf, Some(SIGNIN_FAILED)),
            )
        }
        Err(e) => return error_response(None, e),
    };
    let settings = &state.settings.review;
    let secure = settings.console_secure_cookie;
    let mut response = see_other("/review/queue");
    let h = response.headers_mut();
    for c in [
        set_cookie(
            SESSION_COOKIE,
            &token,
            settings.console_session_minutes * 60,
            secure,
        ),
        set_cookie(SIGNIN_COOKIE, "", 0, secure),
    ] {
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_str(&c).expect("cookie text"),
        );
    }
    response
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

async fn signout(
    State(state): State<AppState>,
    signed: Signed,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !signed.csrf_ok(&form.csrf) {
        return csrf_refused(Some(&signed.view()));
    }
    if let Err(e) = reviewers::sign_out(&state, &signed.0).await {
        return error_response(Some(&signed.view()), e);
    }
    let mut response = see_other("/review/signin");
    let cookie = set_cookie(
        SESSION_COOKIE,
        "",
        0,
        state.settings.review.console_secure_cookie,
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie text"),
    );
    response
}

#[derive(Deserialize)]
struct QueueQuery {
    purpose: Option<String>,
    reason: Option<String>,
}

/// A reason code as a filter: lower-case letters and underscores, at most 64 (pure).
fn reason_code(text: &str) -> Option<&str> {
    (!text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    .then_some(text)
}

/// Open cases of the reviewer's organisation, oldest first, each with why it is there; optionally of
/// one purpose and one reason.
async fn queue(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<QueueQuery>,
) -> Response {
    let invalid = || error_response(Some(&signed.view()), ApiError::new(ErrorCode::InvalidField));
    let purpose = match q.purpose.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => match Purpose::parse(p) {
            Some(p) => Some(p),
            None => return invalid(),
        },
        None => None,
    };
    let reason = match q.reason.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => match reason_code(r) {
            Some(r) => Some(r.to_string()),
            None => return invalid(),
        },
        None => None,
    };
    let filter = QueueFilter { purpose, reason };
    let list = match review_queue::queue(&state, &signed.0.caller(), &filter).await {
        Ok(list) => list,
        Err(e) => return error_response(Some(&signed.view()), e),
    };
    let now = state.clock.now_ms();
    let rows: Vec<QueueRow> = list
        .items
        .into_iter()
        .map(|r| QueueRow {
            reasons: r
                .reasons
                .into_iter()
                .map(|c| {
                    let s = words::reason_sentence(&c);
                    (c, s)
                })
                .collect(),
            similarity: r
                .similarity
                .map(|s| format!("{s:.2}"))
                .unwrap_or_else(|| "—".into()),
            external_ref: r.external_ref,
            waited: words::waited(now - r.created_at_ms),
            created_at: rfc3339(r.created_at_ms),
            id: r.id,
            purpose: r.purpose,
            kind: r.kind,
        })
        .collect();
    let purposes: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
    let filters = QueueFilters {
        purposes: &purposes,
        purpose: purpose.map(|p| p.as_str()),
        reasons: &list.reasons,
        reason: filter.reason.as_deref(),
    };
    html_page(
        StatusCode::OK,
        html::queue_page(&signed.view(), &rows, &filters),
    )
}

async fn case(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    match case_view::case_view(&state, &signed.0.caller(), &id).await {
        Ok(view) => html_page(StatusCode::OK, html::case_page(&signed.view(), &view)),
        Err(e) => error_response(Some(&signed.view()), e),
    }
}

/// One image (or the liveness video, or an invigilation frame) of a case, exactly as the API serves
/// it: audited with the reviewer's name, never cached.
async fn media(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, kind)): Path<(String, String)>,
) -> Response {
    match reviews::view_media(&state, &signed.0.caller(), &id, &kind).await {
        Ok(bytes) => media_response(bytes),
        Err(e) => error_response(Some(&signed.view()), e),
    }
}

/// One face of a case as an aligned crop (`document`, `selfie` or `video`), audited like an image.
async fn face(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, kind)): Path<(String, String)>,
) -> Response {
    match review_views::view_face_crop(&state, &signed.0.caller(), &id, &kind).await {
        Ok(bytes) => media_response(bytes),
        Err(e) => error_response(Some(&signed.view()), e),
    }
}

/// One frame of a case's liveness video, `at_ms` milliseconds in, audited like an image.
async fn frame(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, at_ms)): Path<(String, u32)>,
) -> Response {
    match review_views::view_video_frame(&state, &signed.0.caller(), &id, at_ms).await {
        Ok(bytes) => media_response(bytes),
        Err(e) => error_response(Some(&signed.view()), e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResolutionForm {
    csrf: String,
    outcome: String,
    reason: String,
    /// `next`: open the oldest open case after this one; anything else: back to the queue.
    then: String,
}

/// Records the resolution as the API does (`review.resolved`, by `reviewer:<username>`), then goes
/// to the next open case or back to the queue, never to this case again: a page that loads its
/// images again would log views nobody made. A form error shows the case again with a note; nothing
/// is recorded.
async fn resolve(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<ResolutionForm>,
) -> Response {
    if !signed.csrf_ok(&form.csrf) {
        return csrf_refused(Some(&signed.view()));
    }
    let Some(outcome) = ReviewOutcome::parse(&form.outcome) else {
        return case_with_notice(&state, &signed, &id, "Choose an outcome.").await;
    };
    // A textarea may hold line breaks; the API's reasons are one line of printable text.
    let reason = form.reason.split_whitespace().collect::<Vec<_>>().join(" ");
    let caller = signed.0.caller();
    let case = match reviews::resolve(&state, &caller, &id, outcome, &reason).await {
        Ok(case) => case,
        Err(e) if e.code == ErrorCode::InvalidField => {
            let notice = "A reason is required (at most 2000 characters).";
            return case_with_notice(&state, &signed, &id, notice).await;
        }
        Err(e) => return error_response(Some(&signed.view()), e),
    };
    let resolved = format!("resolved={}", percent_encode(&case.id));
    if form.then == "next" {
        match review_queue::next_open(&state, &caller, &case.id).await {
            Ok(Some(next)) => {
                return see_other(&format!(
                    "/review/cases/{}?{resolved}",
                    percent_encode(&next)
                ))
            }
            Ok(None) => {}
            Err(e) => return error_response(Some(&signed.view()), e),
        }
    }
    see_other(&format!("/review/queue?{resolved}"))
}

/// The case page again with a note about the form (422); nothing was recorded.
async fn case_with_notice(state: &AppState, signed: &Signed, id: &str, notice: &str) -> Response {
    match case_view::case_view(state, &signed.0.caller(), id).await {
        Ok(mut view) => {
            view.notice = Some(notice.to_string());
            html_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                html::case_page(&signed.view(), &view),
            )
        }
        Err(e) => error_response(Some(&signed.view()), e),
    }
}
