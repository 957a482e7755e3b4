//! The reviewer console, served by `idv serve` under `/review`: server-rendered pages (no script) for
//! people who resolve review cases. Sign-in with a password (argon2id) and a TOTP code; a session
//! cookie (HttpOnly, SameSite=Strict, Path=/review) whose token the server keeps only hashed; a CSRF
//! token on every form; the queue of open cases; a case page with both images (each view audited as
//! `review.media_viewed` by `reviewer:<username>`), the similarity against its thresholds and the
//! resolution form, recorded exactly as the API records it. A reviewer sees their organisation's cases
//! only. API keys mean nothing here: the console knows reviewers, not keys.

pub mod accounts;
pub mod html;
pub mod session;
pub mod totp;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::json;

use self::html::{CaseView, QueueRow, ResolutionView, Reviewer};
use self::session::{
    cookie_value, csrf_ok, random_token, set_cookie, token_hash, SESSION_COOKIE, SIGNIN_COOKIE,
};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::record::{DecisionRecord, LivenessRecord};
use crate::api::reviews::{case_of, image_response, record_resolution, view_media};
use crate::api::rfc3339;
use crate::api::state::AppState;
use crate::domain::{MediaClass, Purpose, ReviewOutcome, ReviewStatus};
use crate::store::{now_ms, ConsoleSessionRow, NewAudit, ReviewerRow};

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
        .route("/review/cases/{id}/resolution", post(resolve))
        .route("/review/static/console.css", get(css))
        .layer(DefaultBodyLimit::max(64 << 10))
        .layer(middleware::map_response(security_headers))
}

/// The headers of every page idv serves to a browser (console and capture page): `csp`, nothing
/// cached, framed or sniffed, no Referer.
pub fn page_headers(h: &mut axum::http::HeaderMap, csp: &'static str) {
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
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

/// An error as a page: the status and stable code of the API's error table.
fn error_response(reviewer: Option<&Reviewer>, e: ApiError) -> Response {
    html_page(
        e.code.status(),
        html::error_page(reviewer, e.code.code(), e.code.title()),
    )
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
pub struct Signed {
    pub reviewer: ReviewerRow,
    pub session: ConsoleSessionRow,
}

impl Signed {
    fn view(&self) -> Reviewer<'_> {
        Reviewer {
            username: &self.reviewer.username,
            org: &self.reviewer.org,
            csrf: &self.session.csrf_token,
        }
    }

    /// The actor the audit log records.
    pub fn actor(&self) -> String {
        format!("reviewer:{}", self.reviewer.username)
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
        match state
            .store
            .console_session(&token_hash(token), now_ms())
            .await
        {
            Ok(Some((session, reviewer))) => Ok(Signed { reviewer, session }),
            Ok(None) => Err(see_other("/review/signin")),
            Err(e) => Err(error_response(None, ApiError::from(e))),
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

/// Checks username, password and code; every failure looks the same, counts towards the lock, and
/// takes about as long (an unknown username is checked against a decoy hash).
async fn signin(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<SigninForm>,
) -> Response {
    let Some(expected) = cookie(&headers, SIGNIN_COOKIE) else {
        return csrf_refused(None);
    };
    if !csrf_ok(expected, Some(&form.csrf)) {
        return csrf_refused(None);
    }
    let failed = || {
        html_page(
            StatusCode::UNAUTHORIZED,
            html::signin_page(&form.csrf, Some(SIGNIN_FAILED)),
        )
    };
    let settings = &state.settings.review;
    let now = now_ms();
    let reviewer = match state.store.reviewer_by_username(form.username.trim()).await {
        Ok(r) => r.filter(|r| r.disabled_at.is_none()),
        Err(e) => return error_response(None, e.into()),
    };
    let hash = reviewer
        .as_ref()
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| accounts::decoy_hash().to_string());
    let password = form.password.clone();
    let password_ok =
        tokio::task::spawn_blocking(move || accounts::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
    let Some(reviewer) = reviewer else {
        return failed();
    };
    if reviewer.locked_until.is_some_and(|t| t > now) {
        return failed();
    }
    let step = match state
        .vault
        .open_reviewer_secret(&reviewer.id, &reviewer.totp_sealed)
    {
        Ok(secret) => totp::verify(&secret, &form.code, now / 1000),
        Err(e) => return error_response(None, e.into()),
    };
    let actor = format!("reviewer:{}", reviewer.username);
    let audit = |event: &'static str| NewAudit {
        at: now,
        org: reviewer.org.clone(),
        actor: actor.clone(),
        event,
        entity: reviewer.id.clone(),
        subject_digest: None,
        details: json!({}),
    };
    let mut accepted = false;
    let token = random_token();
    if let (true, Some(step)) = (password_ok, step) {
        let session = ConsoleSessionRow {
            token_hash: token_hash(&token),
            reviewer_id: reviewer.id.clone(),
            csrf_token: random_token(),
            created_at: now,
            expires_at: now + settings.console_session_minutes * 60_000,
        };
        accepted = match state
            .store
            .reviewer_signed_in(&reviewer.id, step, &session, &audit("console.signed_in"))
            .await
        {
            Ok(ok) => ok, // false: this code was already used
            Err(e) => return error_response(None, e.into()),
        };
    }
    if !accepted {
        let lock_until = now + settings.console_lockout_minutes * 60_000;
        match state
            .store
            .reviewer_signin_failed(
                &reviewer.id,
                settings.console_max_failed_signins,
                lock_until,
                &audit("console.signin_failed"),
            )
            .await
        {
            Ok(true) => {
                tracing::warn!(reviewer = %reviewer.id, "console account locked after repeated failed sign-ins")
            }
            Ok(false) => {}
            Err(e) => return error_response(None, e.into()),
        }
        return failed();
    }
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
    if !csrf_ok(&signed.session.csrf_token, Some(&form.csrf)) {
        return csrf_refused(Some(&signed.view()));
    }
    let audit = NewAudit {
        at: now_ms(),
        org: signed.reviewer.org.clone(),
        actor: signed.actor(),
        event: "console.signed_out",
        entity: signed.reviewer.id.clone(),
        subject_digest: None,
        details: json!({}),
    };
    if let Err(e) = state
        .store
        .end_console_session(&signed.session.token_hash, &audit)
        .await
    {
        return error_response(Some(&signed.view()), e.into());
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
}

/// Open cases of the reviewer's organisation, oldest first, optionally of one purpose.
async fn queue(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<QueueQuery>,
) -> Response {
    let purpose = q
        .purpose
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(|p| Purpose::parse(p).ok_or(()));
    let purpose = match purpose {
        Some(Err(())) => {
            return error_response(Some(&signed.view()), ApiError::new(ErrorCode::InvalidField))
        }
        Some(Ok(p)) => Some(p.as_str()),
        None => None,
    };
    let rows = match state
        .store
        .list_reviews(&signed.reviewer.org, ReviewStatus::Open, purpose, 200)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return error_response(Some(&signed.view()), e.into()),
    };
    let rows: Vec<QueueRow> = rows
        .into_iter()
        .map(|r| QueueRow {
            reasons: serde_json::from_str(&r.reasons).unwrap_or_default(),
            created_at: rfc3339(r.created_at),
            id: r.id,
            purpose: r.purpose,
            kind: r.kind.to_string(),
        })
        .collect();
    let purposes: Vec<&str> = Purpose::ALL.iter().map(|p| p.as_str()).collect();
    html_page(
        StatusCode::OK,
        html::queue_page(&signed.view(), &rows, &purposes, purpose),
    )
}

/// A video's liveness check as the case page says it: "refer: turn_left found, blink not found" (pure).
fn liveness_check(l: &LivenessRecord) -> String {
    let actions: Vec<String> = l
        .actions
        .iter()
        .map(|a| {
            let found = if a.done { "found" } else { "not found" };
            format!("{} {found}", a.action.as_str())
        })
        .collect();
    format!("{}: {}", l.verdict.as_str(), actions.join(", "))
}

/// What the case page shows, from the case, its decision record and the media still held.
async fn case_view(state: &AppState, org: &str, id: &str) -> Result<CaseView, ApiError> {
    let (case, verification) = case_of(state, org, id).await?;
    let record: Option<DecisionRecord> = verification
        .record
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(ApiError::internal)?;
    let held: Vec<String> = state
        .store
        .verification_media(&verification.id)
        .await?
        .into_iter()
        .filter(|m| m.class == MediaClass::Media)
        .map(|m| m.kind.to_string())
        .collect();
    let (media, other_media): (Vec<String>, Vec<String>) = held
        .into_iter()
        .partition(|k| ["document", "selfie", "video"].contains(&k.as_str()));
    let resolution = match (
        &case.outcome,
        &case.outcome_reason,
        &case.resolved_by,
        case.resolved_at,
    ) {
        (Some(outcome), Some(reason), Some(by), Some(at)) => Some(ResolutionView {
            outcome: outcome.clone(),
            reason: reason.clone(),
            resolved_by: by.clone(),
            resolved_at: rfc3339(at),
        }),
        _ => None,
    };
    let r = record.as_ref();
    Ok(CaseView {
        id: case.id.clone(),
        purpose: case.purpose.clone(),
        kind: case.kind.to_string(),
        status: case.status.to_string(),
        created_at: rfc3339(case.created_at),
        reasons: serde_json::from_str(&case.reasons).unwrap_or_default(),
        decision: r.map(|r| r.decision.to_string()),
        comparison: r.and_then(|r| {
            serde_json::to_value(r.comparison)
                .ok()?
                .as_str()
                .map(String::from)
        }),
        similarity: r.and_then(|r| r.scores.similarity),
        match_at: r.map(|r| r.thresholds.match_at),
        no_match_below: r.map(|r| r.thresholds.no_match_below),
        liveness: r.and_then(|r| r.scores.liveness),
        liveness_check: r.and_then(|r| r.liveness.as_ref()).map(liveness_check),
        document_face_score: r.and_then(|r| r.scores.document_face_score),
        selfie_face_score: r.and_then(|r| r.scores.selfie_face_score),
        policy_version: r.map(|r| r.policy_version.clone()),
        media,
        other_media,
        resolution,
        notice: None,
    })
}

async fn case(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> Response {
    match case_view(&state, &signed.reviewer.org, &id).await {
        Ok(view) => html_page(StatusCode::OK, html::case_page(&signed.view(), &view)),
        Err(e) => error_response(Some(&signed.view()), e),
    }
}

/// One image of a case, audited with the reviewer's name; never cached.
async fn media(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, kind)): Path<(String, String)>,
) -> Response {
    if kind != "document" && kind != "selfie" {
        return error_response(Some(&signed.view()), ApiError::new(ErrorCode::NotFound));
    }
    match view_media(&state, &signed.reviewer.org, &signed.actor(), &id, &kind).await {
        Ok(bytes) => image_response(bytes),
        Err(e) => error_response(Some(&signed.view()), e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResolutionForm {
    csrf: String,
    outcome: String,
    reason: String,
}

/// Records the resolution as the API does (`review.resolved`, by `reviewer:<username>`), then shows
/// the case with it. A form error shows the case again with a note; nothing is recorded.
async fn resolve(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(form): Form<ResolutionForm>,
) -> Response {
    if !csrf_ok(&signed.session.csrf_token, Some(&form.csrf)) {
        return csrf_refused(Some(&signed.view()));
    }
    let Some(outcome) = ReviewOutcome::parse(&form.outcome) else {
        return case_with_notice(&state, &signed, &id, "Choose an outcome.").await;
    };
    // A textarea may hold line breaks; the API's reasons are one line of printable text.
    let reason = form.reason.split_whitespace().collect::<Vec<_>>().join(" ");
    match record_resolution(
        &state,
        &signed.reviewer.org,
        &signed.actor(),
        &id,
        outcome,
        &reason,
    )
    .await
    {
        Ok(case) => see_other(&format!("/review/cases/{}", html::query_value(&case.id))),
        Err(e) if e.code == ErrorCode::InvalidField => {
            let notice = "A reason is required (at most 2000 characters).";
            case_with_notice(&state, &signed, &id, notice).await
        }
        Err(e) => error_response(Some(&signed.view()), e),
    }
}

/// The case page again with a note about the form (422); nothing was recorded.
async fn case_with_notice(state: &AppState, signed: &Signed, id: &str, notice: &str) -> Response {
    match case_view(state, &signed.reviewer.org, id).await {
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
