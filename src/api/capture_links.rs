//! `POST /v1/capture-links` and `GET /v1/capture-links/{id}`: one-time links to the applicant capture
//! page (`/capture/{token}`, src/capture). The token is shown once, in the answer that makes it; the
//! database holds only its sha256.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorCode};
use super::keys::new_id;
use super::state::AppState;
use super::{bounded_text, rfc3339, JsonBody};
use crate::console::session::{random_token, token_hash};
use crate::domain::{Purpose, Role};
use crate::store::{now_ms, CaptureLinkRow, NewAudit};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCaptureLink {
    /// The scheme's own reference for the person (not their name).
    pub subject_ref: String,
    pub purpose: Purpose,
    /// The scheme's reference for the application, carried onto the verification.
    pub external_ref: Option<String>,
    /// How long the link stays usable; at most `capture.max_link_ttl_secs` (default: `capture.link_ttl_secs`).
    pub expires_in_secs: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedCaptureLink {
    pub id: String,
    /// The page to send the applicant to. Shown only here: it cannot be read back.
    pub url: String,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct CaptureLinkView {
    pub id: String,
    /// Absent once the subject's data has been erased.
    pub subject_ref: Option<String>,
    pub purpose: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    /// `open` (nothing agreed yet), `consented` (the notice was agreed to), `submitted` (used up) or
    /// `expired`.
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
    /// The consent given on the page (its notice version is on the consent).
    pub consent_ref: Option<String>,
    /// The verification the page submitted.
    pub verification_id: Option<String>,
    pub used_at: Option<String>,
}

impl CaptureLinkView {
    pub fn new(link: &CaptureLinkRow, subject_ref: Option<String>, now: i64) -> Self {
        CaptureLinkView {
            id: link.id.clone(),
            subject_ref,
            purpose: link.purpose.clone(),
            external_ref: link.external_ref.clone(),
            status: LinkState::of(link, now).as_str().into(),
            created_at: rfc3339(link.created_at),
            expires_at: rfc3339(link.expires_at),
            consent_ref: link.consent_ref.clone(),
            verification_id: link.verification_id.clone(),
            used_at: link.used_at.map(rfc3339),
        }
    }
}

/// Where a link is in its life: the API's `status`, and whether the page may still use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Open,
    Consented,
    Submitted,
    Expired,
}

impl LinkState {
    /// The state at `now`; a used link stays `Submitted` after it expires (pure).
    pub fn of(link: &CaptureLinkRow, now: i64) -> Self {
        if link.used_at.is_some() {
            LinkState::Submitted
        } else if link.expires_at <= now {
            LinkState::Expired
        } else if link.consent_ref.is_some() {
            LinkState::Consented
        } else {
            LinkState::Open
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Open => "open",
            LinkState::Consented => "consented",
            LinkState::Submitted => "submitted",
            LinkState::Expired => "expired",
        }
    }

    /// Why the page can no longer use the link, if it cannot.
    pub fn refusal(self) -> Option<ErrorCode> {
        match self {
            LinkState::Submitted => Some(ErrorCode::CaptureLinkUsed),
            LinkState::Expired => Some(ErrorCode::CaptureLinkExpired),
            LinkState::Open | LinkState::Consented => None,
        }
    }
}

/// How long a new link lasts: what was asked for, within the configured maximum (pure).
pub fn link_ttl(asked: Option<u64>, default: u64, max: u64) -> Result<u64, String> {
    match asked {
        None => Ok(default),
        Some(s) if (1..=max).contains(&s) => Ok(s),
        Some(_) => Err(format!("expires_in_secs must be between 1 and {max}")),
    }
}

/// Make a one-time link to the capture page for one applicant and purpose.
#[utoipa::path(post, path = "/v1/capture-links", request_body = NewCaptureLink, tag = "capture",
    responses((status = 201, body = CreatedCaptureLink), (status = "4XX", body = super::error::Problem)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewCaptureLink>,
) -> Result<(StatusCode, Json<CreatedCaptureLink>), ApiError> {
    caller.require(&[Role::Submitter])?;
    let subject_ref = bounded_text("subject_ref", &body.subject_ref, 128)?;
    let external_ref = body
        .external_ref
        .as_deref()
        .map(|e| bounded_text("external_ref", e, 128))
        .transpose()?;
    let capture = &state.settings.capture;
    let ttl = link_ttl(
        body.expires_in_secs,
        capture.link_ttl_secs,
        capture.max_link_ttl_secs,
    )
    .map_err(|m| ApiError::detail(ErrorCode::InvalidField, m))?;
    let subject = state
        .vault
        .subject_key_or_create(&state.store, &caller.org, &subject_ref)
        .await?;
    if subject.restricted_at.is_some() {
        return Err(ApiError::new(ErrorCode::ProcessingRestricted));
    }
    let token = random_token();
    let now = now_ms();
    let link = CaptureLinkRow {
        id: new_id("cap"),
        org: caller.org.clone(),
        token_hash: token_hash(&token),
        subject_id: subject.subject_id.clone(),
        purpose: body.purpose.as_str().into(),
        external_ref,
        created_by: caller.actor(),
        created_at: now,
        expires_at: now + ttl as i64 * 1000,
        consent_ref: None,
        verification_id: None,
        used_at: None,
    };
    let audit = NewAudit {
        at: now,
        org: caller.org.clone(),
        actor: caller.actor(),
        event: "capture_link.created",
        entity: link.id.clone(),
        subject_digest: Some(subject.subject_id.clone()),
        details: json!({"purpose": link.purpose, "expires_at": rfc3339(link.expires_at)}),
    };
    state.store.create_capture_link(&link, &audit).await?;
    let base = capture.public_url.as_deref().unwrap_or("");
    Ok((
        StatusCode::CREATED,
        Json(CreatedCaptureLink {
            url: format!("{base}/capture/{token}"),
            id: link.id,
            expires_at: rfc3339(link.expires_at),
        }),
    ))
}

/// A capture link of your organisation: whether it was agreed to and used, and what it produced.
#[utoipa::path(get, path = "/v1/capture-links/{id}", tag = "capture",
    params(("id" = String, Path)),
    responses((status = 200, body = CaptureLinkView), (status = 404, body = super::error::Problem)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CaptureLinkView>, ApiError> {
    caller.require(&[Role::Submitter, Role::Reviewer, Role::Auditor])?;
    let link = state
        .store
        .get_capture_link(&caller.org, &id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let subject_ref = state
        .vault
        .subject_ref(&state.store, &link.subject_id)
        .await?;
    Ok(Json(CaptureLinkView::new(&link, subject_ref, now_ms())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> CaptureLinkRow {
        CaptureLinkRow {
            id: "cap_1".into(),
            org: "o".into(),
            token_hash: "h".into(),
            subject_id: "s".into(),
            purpose: "ecs_application".into(),
            external_ref: None,
            created_by: "key:k".into(),
            created_at: 0,
            expires_at: 1000,
            consent_ref: None,
            verification_id: None,
            used_at: None,
        }
    }

    #[test]
    fn a_link_is_open_then_consented_then_submitted_and_expires() {
        let status = |l: &CaptureLinkRow, now| LinkState::of(l, now).as_str();
        let mut l = link();
        assert_eq!(status(&l, 10), "open");
        assert_eq!(status(&l, 1000), "expired");
        l.consent_ref = Some("cns_1".into());
        assert_eq!(status(&l, 10), "consented");
        l.used_at = Some(20);
        assert_eq!(status(&l, 10), "submitted");
        assert_eq!(status(&l, 5000), "submitted");
    }

    #[test]
    fn a_used_link_is_used_even_after_it_expired() {
        let refusal = |l: &CaptureLinkRow, now| LinkState::of(l, now).refusal();
        let mut l = link();
        assert_eq!(refusal(&l, 999), None);
        assert_eq!(refusal(&l, 1000), Some(ErrorCode::CaptureLinkExpired));
        l.used_at = Some(500);
        assert_eq!(refusal(&l, 999), Some(ErrorCode::CaptureLinkUsed));
        assert_eq!(refusal(&l, 5000), Some(ErrorCode::CaptureLinkUsed));
    }

    #[test]
    fn the_lifetime_asked_for_must_be_within_the_maximum() {
        assert_eq!(link_ttl(None, 86_400, 604_800), Ok(86_400));
        assert_eq!(link_ttl(Some(60), 86_400, 604_800), Ok(60));
        assert!(link_ttl(Some(0), 86_400, 604_800).is_err());
        assert!(link_ttl(Some(604_801), 86_400, 604_800).is_err());
    }
}
