//! Capture links: one-time links to the applicant capture page (`/capture/{token}`, src/capture), made
//! and read through the API; and what the page does with one (read it by its token, record the
//! applicant's consent, issue its challenge, submit its verification). The token is shown once, in the
//! answer that makes it; the database holds only its sha256.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::bounded_text;
use super::caller::Caller;
use super::challenges::{issue, ChallengeView};
use super::consents::check_consent_of;
use super::declared::{checked_declared, declared_of_link, seal_declared_on_link};
use super::error::{ApiError, ErrorCode};
use super::state::AppState;
use super::verifications::{accept, CaptureUploads, NewVerification, Submission};
use crate::document::identity::DeclaredIdentity;
use crate::domain::clock::rfc3339;
use crate::domain::token::{new_id, random_token, token_hash};
use crate::domain::{ConsentStatus, LawfulBasis, Purpose, Role};
use crate::store::{CaptureLinkRow, ConsentRow, NewAudit, StoreError};
use crate::vault::SubjectKey;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCaptureLink {
    /// The scheme's own reference for the person (not their name).
    /// 1-128 printable characters, not only spaces (surrounding spaces are dropped).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub subject_ref: String,
    pub purpose: Purpose,
    /// The scheme's reference for the application, carried onto the verification.
    /// 1-128 printable characters, not only spaces (surrounding spaces are dropped).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub external_ref: Option<String>,
    /// How long the link stays usable; at most `capture.max_link_ttl_secs` (default: `capture.link_ttl_secs`).
    pub expires_in_secs: Option<u64>,
    /// What the applicant typed into the card application, compared with the document's
    /// machine-readable zone (`declared_name_mismatch`, `declared_date_of_birth_mismatch`).
    pub declared: Option<DeclaredIdentity>,
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
    /// The identity declared with the link (shown in the subject's export).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared: Option<DeclaredIdentity>,
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
            declared: None,
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

    /// Why the page can no longer use the link, if it cannot.
    pub fn refusal(self) -> Option<ErrorCode> {
        match self {
            LinkState::Submitted => Some(ErrorCode::CaptureLinkUsed),
            LinkState::Expired => Some(ErrorCode::CaptureLinkExpired),
            LinkState::Open | LinkState::Consented => None,
        }
    }
}

crate::domain::enum_names!(LinkState {
    Open => "open",
    Consented => "consented",
    Submitted => "submitted",
    Expired => "expired",
});

/// How long a new link lasts: what was asked for, within the configured maximum (pure).
pub fn link_ttl(asked: Option<u64>, default: u64, max: u64) -> Result<u64, String> {
    match asked {
        None => Ok(default),
        Some(s) if (1..=max).contains(&s) => Ok(s),
        Some(_) => Err(format!("expires_in_secs must be between 1 and {max}")),
    }
}

/// Make a one-time link to the capture page for one applicant and purpose.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    body: NewCaptureLink,
) -> Result<CreatedCaptureLink, ApiError> {
    caller.require(&[Role::Submitter])?;
    let subject_ref = bounded_text("subject_ref", &body.subject_ref, 128)?;
    let external_ref = body
        .external_ref
        .as_deref()
        .map(|e| bounded_text("external_ref", e, 128))
        .transpose()?;
    let declared = checked_declared(body.declared)?;
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
    let now = state.clock.now_ms();
    let id = new_id("cap");
    let declared_sealed = declared
        .as_ref()
        .map(|d| seal_declared_on_link(&subject, &id, d));
    let link = CaptureLinkRow {
        declared_key_id: declared_sealed.as_ref().map(|_| subject.key_id.clone()),
        declared_sealed,
        id,
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
        subject_digest: Some(subject.subject_id.clone()),
        details: json!({"purpose": link.purpose, "expires_at": rfc3339(link.expires_at),
                        "declared_identity": link.declared_sealed.is_some()}),
        ..caller.audit(now, "capture_link.created", link.id.clone())
    };
    state.store.create_capture_link(&link, &audit).await?;
    let base = capture.public_url.as_deref().unwrap_or("");
    Ok(CreatedCaptureLink {
        url: format!("{base}/capture/{token}"),
        id: link.id,
        expires_at: rfc3339(link.expires_at),
    })
}

/// A capture link of your organisation: whether it was agreed to and used, and what it produced.
pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<CaptureLinkView, ApiError> {
    caller.require(&[Role::Submitter, Role::Reviewer, Role::Auditor])?;
    let link = state
        .store
        .get_capture_link(&caller.org, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let subject_ref = state
        .vault
        .subject_ref(&state.store, &link.subject_id)
        .await?;
    Ok(CaptureLinkView::new(
        &link,
        subject_ref,
        state.clock.now_ms(),
    ))
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
pub async fn find_by_token(state: &AppState, token: &str) -> Result<CaptureLinkRow, ApiError> {
    if !token_shaped(token) {
        return Err(ApiError::new(ErrorCode::CaptureLinkNotFound));
    }
    state
        .store
        .capture_link_by_token(&token_hash(token))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::CaptureLinkNotFound))
}

/// The link a token opens, if it can still be used, with its purpose.
pub async fn usable_by_token(
    state: &AppState,
    token: &str,
) -> Result<(CaptureLinkRow, Purpose), ApiError> {
    let link = find_by_token(state, token).await?;
    if let Some(code) = LinkState::of(&link, state.clock.now_ms()).refusal() {
        return Err(ApiError::new(code));
    }
    let purpose = purpose_of(&link)?;
    Ok((link, purpose))
}

fn purpose_of(link: &CaptureLinkRow) -> Result<Purpose, ApiError> {
    Purpose::parse(&link.purpose)
        .ok_or_else(|| ApiError::internal("a capture link with an unknown purpose"))
}

/// The actor the audit log names for what a link's page does.
fn page_actor(link: &CaptureLinkRow) -> String {
    format!("capture:{}", link.id)
}

/// The consent a link's page recorded: whether it was recorded by this request (`created`) or
/// earlier.
pub struct LinkConsent {
    pub consent: ConsentRow,
    pub created: bool,
}

/// "I agree" on a link's page: records the explicit consent with the version of the notice shown
/// (which must be `current_notice`, the version of the notice for the link's purpose), once per link
/// (a repeated agreement answers the consent already recorded).
pub async fn agree(
    state: &AppState,
    token: &str,
    shown_notice: &str,
    current_notice: impl FnOnce(Purpose) -> String,
) -> Result<LinkConsent, ApiError> {
    let (link, purpose) = usable_by_token(state, token).await?;
    if let Some(existing) = &link.consent_ref {
        let consent = state
            .store
            .get_consent(&link.org, existing)
            .await?
            .ok_or_else(|| ApiError::internal("a capture link names a missing consent"))?;
        return Ok(LinkConsent {
            consent,
            created: false,
        });
    }
    let shown = bounded_text("notice_version", shown_notice, 64)?;
    let current = current_notice(purpose);
    if shown != current {
        return Err(ApiError::detail(
            ErrorCode::NoticeChanged,
            format!("the current notice is {current}; reload the page to read it"),
        ));
    }
    let now = state.clock.now_ms();
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
        actor: page_actor(&link),
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
        Ok(()) => Ok(LinkConsent {
            consent: row,
            created: true,
        }),
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

/// The actions a link's page asks for while it records: only after the consent, and at most
/// `capture.max_challenges_per_link` per link. Only this link's submission may answer it.
pub async fn issue_challenge(state: &AppState, token: &str) -> Result<ChallengeView, ApiError> {
    let (link, purpose) = usable_by_token(state, token).await?;
    link_consent(state, &link, purpose).await?;
    let max = state.settings.capture.max_challenges_per_link;
    if !state.store.count_link_challenge(&link.id, max).await? {
        return Err(ApiError::new(ErrorCode::CaptureAttemptsExceeded));
    }
    issue(state, &link.org, Some(&link.id)).await
}

/// A submission through a link, before its body is read: either the link may take it, or it already
/// took this very submission (a retry whose first answer was lost).
pub enum LinkSubmission {
    Ready(Box<ReadyLink>),
    AlreadyReceived,
}

/// A link that may take a submission, with everything checked about it.
pub struct ReadyLink {
    link: CaptureLinkRow,
    purpose: Purpose,
    consent: ConsentRow,
    subject: SubjectKey,
    idempotency_key: Option<String>,
}

/// Checks a submission through a link before its body is read: the link usable (or this submission
/// already received), its consent active, its subject neither restricted nor erased.
pub async fn prepare_submission(
    state: &AppState,
    token: &str,
    idempotency_key: Option<String>,
) -> Result<LinkSubmission, ApiError> {
    let link = find_by_token(state, token).await?;
    // Namespaced by the link: the page's keys never meet a submitter's.
    let key = idempotency_key.map(|k| format!("capture:{}:{k}", link.id));
    if let Some(code) = LinkState::of(&link, state.clock.now_ms()).refusal() {
        if let (Some(key), Some(submitted)) = (&key, &link.verification_id) {
            let earlier = state
                .store
                .find_by_idempotency_key(&link.org, &link.created_by, key)
                .await?;
            if earlier.is_some_and(|v| &v.id == submitted) {
                return Ok(LinkSubmission::AlreadyReceived);
            }
        }
        return Err(ApiError::new(code));
    }
    let purpose = purpose_of(&link)?;
    let consent = link_consent(state, &link, purpose).await?;
    let subject = match state
        .vault
        .subject_key(&state.store, &link.subject_id)
        .await?
    {
        Some(s) if s.restricted_at.is_none() => s,
        Some(_) => return Err(ApiError::new(ErrorCode::ProcessingRestricted)),
        None => return Err(ApiError::new(ErrorCode::SubjectErased)),
    };
    Ok(LinkSubmission::Ready(Box::new(ReadyLink {
        link,
        purpose,
        consent,
        subject,
        idempotency_key: key,
    })))
}

/// The page's submission: the document, the video answering the link's challenge and the still
/// selfie, queued as an asynchronous video verification that uses the link up.
pub async fn submit(
    state: &AppState,
    ready: Box<ReadyLink>,
    sub: Submission,
) -> Result<(), ApiError> {
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
    let ReadyLink {
        link,
        purpose,
        consent,
        subject,
        idempotency_key,
    } = *ready;
    let declared = declared_of_link(&link, &subject)?;
    let request = NewVerification {
        declared,
        org: link.org.clone(),
        actor: page_actor(&link),
        submitted_by: link.created_by.clone(),
        subject,
        consent,
        purpose,
        external_ref: link.external_ref.clone(),
        document,
        capture,
        idempotency_key,
        asynchronous: true,
        capture_link: Some(link.id.clone()),
    };
    accept(state, request).await?;
    Ok(())
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
            declared_sealed: None,
            declared_key_id: None,
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

    #[test]
    fn only_token_shaped_paths_reach_the_database() {
        let token = random_token();
        assert!(token_shaped(&token));
        assert!(!token_shaped("static"));
        assert!(!token_shaped(&format!("{}'", &token[..42])));
    }
}
