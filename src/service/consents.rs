//! Consents: recorded before any biometric processing, read back, withdrawn.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::bounded_text;
use super::caller::Caller;
use super::error::{ApiError, ErrorCode};
use super::state::AppState;
use crate::domain::clock::rfc3339;
use crate::domain::token::new_id;
use crate::domain::{ConsentStatus, LawfulBasis, Purpose, Role};
use crate::store::{ConsentRow, NewAudit};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    /// The scheme's own reference for the person (not their name).
    /// 1-128 printable characters, not only spaces (surrounding spaces are dropped).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub subject_ref: String,
    pub purpose: Purpose,
    pub lawful_basis: LawfulBasis,
    /// Version of the privacy notice the person was shown.
    /// 1-64 printable characters, not only spaces (surrounding spaces are dropped).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub notice_version: String,
}

#[derive(Serialize, ToSchema)]
pub struct ConsentView {
    pub consent_ref: String,
    /// Absent once the subject's data has been erased.
    pub subject_ref: Option<String>,
    pub purpose: String,
    pub lawful_basis: String,
    pub notice_version: String,
    /// `active`, `withdrawn` or `erased`.
    pub status: String,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn_at: Option<String>,
}

impl ConsentView {
    pub fn new(c: ConsentRow, subject_ref: Option<String>) -> Self {
        ConsentView {
            consent_ref: c.consent_ref,
            subject_ref,
            purpose: c.purpose,
            lawful_basis: c.lawful_basis,
            notice_version: c.notice_version,
            status: c.status.to_string(),
            created_at: rfc3339(c.created_at),
            withdrawn_at: c.withdrawn_at.map(rfc3339),
        }
    }
}

/// Record a consent (or other lawful basis) for one subject and one purpose.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    body: NewConsent,
) -> Result<ConsentView, ApiError> {
    caller.require(&[Role::Submitter])?;
    let subject_ref = bounded_text("subject_ref", &body.subject_ref, 128)?;
    let notice_version = bounded_text("notice_version", &body.notice_version, 64)?;
    let now = state.clock.now_ms();
    // The subject's data key is made with their first consent; it seals their reference and media.
    let subject = state
        .vault
        .subject_key_or_create(&state.store, &caller.org, &subject_ref)
        .await?;
    let row = ConsentRow {
        consent_ref: new_id("cns"),
        org: caller.org.clone(),
        subject_id: subject.subject_id.clone(),
        purpose: body.purpose.as_str().into(),
        lawful_basis: body.lawful_basis.as_str().into(),
        notice_version: notice_version.clone(),
        status: ConsentStatus::Active,
        created_at: now,
        withdrawn_at: None,
    };
    let audit = NewAudit {
        subject_digest: Some(subject.subject_id.clone()),
        details: json!({"purpose": row.purpose, "lawful_basis": row.lawful_basis, "notice_version": notice_version}),
        ..caller.audit(now, "consent.recorded", row.consent_ref.clone())
    };
    state.store.create_consent(&row, &audit).await?;
    Ok(ConsentView::new(row, Some(subject_ref)))
}

/// Read a consent of your organisation.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    consent_ref: &str,
) -> Result<ConsentView, ApiError> {
    caller.require(&[Role::Submitter, Role::Reviewer, Role::Auditor])?;
    let row = state
        .store
        .get_consent(&caller.org, consent_ref)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    view(state, row).await
}

/// A consent as answered, with its subject reference unsealed (absent once erased).
async fn view(state: &AppState, row: ConsentRow) -> Result<ConsentView, ApiError> {
    let subject_ref = state
        .vault
        .subject_ref(&state.store, &row.subject_id)
        .await?;
    Ok(ConsentView::new(row, subject_ref))
}

/// Why a consent is withdrawn, when the caller says (the person's words as relayed, or "applicant
/// asked by phone"): recorded in the audit entry.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Withdrawal {
    /// 1-500 printable characters, not only spaces (surrounding spaces are dropped).
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: Option<String>,
}

/// Withdraw a consent: no further processing happens under it, and the biometric data collected under
/// it (uploads, embeddings, pending jobs) is purged at once, unless another active consent or lawful
/// basis recorded for the same subject and purpose covers it; the audit entry says which.
pub async fn withdraw(
    state: &AppState,
    caller: &Caller,
    consent_ref: &str,
    reason: Option<&str>,
) -> Result<ConsentView, ApiError> {
    caller.require(&[Role::Submitter])?;
    let reason = reason.map(|r| bounded_text("reason", r, 500)).transpose()?;
    let existing = state
        .store
        .get_consent(&caller.org, consent_ref)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let covering: Vec<_> = state
        .store
        .subject_consents(&caller.org, &existing.subject_id)
        .await?
        .into_iter()
        .filter(|c| {
            c.consent_ref != consent_ref
                && c.status == ConsentStatus::Active
                && c.purpose == existing.purpose
        })
        .map(|c| json!({"consent_ref": c.consent_ref, "lawful_basis": c.lawful_basis}))
        .collect();
    let purge = covering.is_empty();
    let mut details = if purge {
        json!({"purpose": existing.purpose})
    } else {
        json!({"purpose": existing.purpose, "purged": false, "retained_under": covering})
    };
    if let Some(reason) = reason {
        details["reason"] = json!(reason);
    }
    let audit = NewAudit {
        subject_digest: Some(existing.subject_id.clone()),
        details,
        ..caller.audit(state.clock.now_ms(), "consent.withdrawn", consent_ref)
    };
    if state
        .store
        .withdraw_consent(&caller.org, consent_ref, purge, &audit)
        .await?
        .is_none()
    {
        return Err(ApiError::new(ErrorCode::ConsentAlreadyWithdrawn));
    }
    let row = state
        .store
        .get_consent(&caller.org, consent_ref)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    view(state, row).await
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
    let subject_id = state.vault.subject_id(org, subject_ref);
    check_consent_of(state, org, consent_ref, &subject_id, purpose).await
}

/// [`check_consent`] for a subject known by their keyed digest (a capture link holds only that).
pub async fn check_consent_of(
    state: &AppState,
    org: &str,
    consent_ref: Option<&str>,
    subject_id: &str,
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
    if consent.status != ConsentStatus::Active {
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
    if consent.subject_id != subject_id {
        return Err(ApiError::new(ErrorCode::ConsentSubjectMismatch));
    }
    Ok(consent)
}
