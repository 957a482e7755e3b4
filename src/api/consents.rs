//! Consents: recorded before any biometric processing, read back, withdrawn.

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
use crate::audit::subject_digest;
use crate::domain::{LawfulBasis, Purpose, Role};
use crate::store::{now_ms, ConsentRow, NewAudit};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    /// The scheme's own reference for the person (not their name).
    pub subject_ref: String,
    pub purpose: Purpose,
    pub lawful_basis: LawfulBasis,
    /// Version of the privacy notice the person was shown.
    pub notice_version: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConsentView {
    pub consent_ref: String,
    pub subject_ref: String,
    pub purpose: String,
    pub lawful_basis: String,
    pub notice_version: String,
    /// `active` or `withdrawn`.
    pub status: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn_at: Option<String>,
}

impl From<ConsentRow> for ConsentView {
    fn from(c: ConsentRow) -> Self {
        ConsentView {
            consent_ref: c.consent_ref,
            subject_ref: c.subject_ref,
            purpose: c.purpose,
            lawful_basis: c.lawful_basis,
            notice_version: c.notice_version,
            status: c.status,
            created_at: rfc3339(c.created_at),
            withdrawn_at: c.withdrawn_at.map(rfc3339),
        }
    }
}

/// Record a consent (or other lawful basis) for one subject and one purpose.
#[utoipa::path(post, path = "/v1/consents", request_body = NewConsent, tag = "consents",
    responses((status = 201, body = ConsentView), (status = "4XX", body = super::error::Problem)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<NewConsent>,
) -> Result<(StatusCode, Json<ConsentView>), ApiError> {
    caller.require(&[Role::Submitter])?;
    let subject_ref = bounded_text("subject_ref", &body.subject_ref, 128)?;
    let notice_version = bounded_text("notice_version", &body.notice_version, 64)?;
    let now = now_ms();
    let row = ConsentRow {
        consent_ref: new_id("cns"),
        org: caller.org.clone(),
        subject_ref: subject_ref.clone(),
        purpose: body.purpose.as_str().into(),
        lawful_basis: body.lawful_basis.as_str().into(),
        notice_version: notice_version.clone(),
        status: "active".into(),
        created_at: now,
        withdrawn_at: None,
    };
    let audit = NewAudit {
        at: now,
        org: caller.org.clone(),
        actor: caller.actor(),
        event: "consent.recorded",
        entity: row.consent_ref.clone(),
        subject_digest: Some(subject_digest(&caller.org, &subject_ref)),
        details: json!({"purpose": row.purpose, "lawful_basis": row.lawful_basis, "notice_version": notice_version}),
    };
    state.store.create_consent(&row, &audit).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Read a consent of your organisation.
#[utoipa::path(get, path = "/v1/consents/{consent_ref}", tag = "consents",
    params(("consent_ref" = String, Path)),
    responses((status = 200, body = ConsentView), (status = 404, body = super::error::Problem)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(consent_ref): Path<String>,
) -> Result<Json<ConsentView>, ApiError> {
    caller.require(&[Role::Submitter, Role::Reviewer, Role::Auditor])?;
    let row = state
        .store
        .get_consent(&caller.org, &consent_ref)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok(Json(row.into()))
}

/// Withdraw a consent: no further processing happens under it.
#[utoipa::path(post, path = "/v1/consents/{consent_ref}/withdraw", tag = "consents",
    params(("consent_ref" = String, Path)),
    responses((status = 200, body = ConsentView), (status = 404, body = super::error::Problem), (status = 409, body = super::error::Problem)),
    security(("api_key" = [])))]
pub async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Path(consent_ref): Path<String>,
) -> Result<Json<ConsentView>, ApiError> {
    caller.require(&[Role::Submitter])?;
    let existing = state
        .store
        .get_consent(&caller.org, &consent_ref)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let audit = NewAudit {
        at: now_ms(),
        org: caller.org.clone(),
        actor: caller.actor(),
        event: "consent.withdrawn",
        entity: consent_ref.clone(),
        subject_digest: Some(subject_digest(&caller.org, &existing.subject_ref)),
        details: json!({"purpose": existing.purpose}),
    };
    if !state
        .store
        .withdraw_consent(&caller.org, &consent_ref, &audit)
        .await?
    {
        return Err(ApiError::new(ErrorCode::ConsentAlreadyWithdrawn));
    }
    let row = state
        .store
        .get_consent(&caller.org, &consent_ref)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok(Json(row.into()))
}

/// The consent a verification relies on, checked before any biometric processing: it must exist in the
/// caller's organisation, be active, cover this purpose and belong to this subject.
pub async fn check_consent(
    state: &AppState,
    org: &str,
    consent_ref: Option<&str>,
    subject_ref: &str,
    purpose: Purpose,
) -> Result<ConsentRow, ApiError> {
    let consent_ref = consent_ref
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::new(ErrorCode::ConsentRequired))?;
    let consent = state
        .store
        .get_consent(org, consent_ref)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::ConsentNotFound))?;
    if consent.status != "active" {
        return Err(ApiError::new(ErrorCode::ConsentWithdrawn));
    }
    if consent.purpose != purpose.as_str() {
        return Err(ApiError::detail(
            ErrorCode::ConsentPurposeMismatch,
            format!(
                "the consent covers {}, the request is for {}",
                consent.purpose, purpose
            ),
        ));
    }
    if consent.subject_ref != subject_ref {
        return Err(ApiError::new(ErrorCode::ConsentSubjectMismatch));
    }
    Ok(consent)
}
