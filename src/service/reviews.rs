//! Review cases: every decision the machine referred, and a sample of verified ones, wait for a person.
//! A reviewer lists them, reads one (the decision record with its scores against the thresholds and its
//! reason codes), looks at the two images (each view an audit event naming the reviewer) and records a
//! resolution with a mandatory reason. The automated decision is never changed: the resolution is
//! stored beside it and linked to it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::bounded_text;
use super::caller::Caller;
use super::error::{ApiError, ErrorCode};
use super::process::media_context;
use super::state::AppState;
use super::verifications::VerificationView;
use crate::document::identity::{
    date_of_birth_agrees, declared_reasons, name_agrees, DeclaredIdentity,
};
use crate::domain::clock::rfc3339;
use crate::domain::{MediaClass, MediaKind, Purpose, ReviewOutcome, ReviewStatus, Role};
use crate::pipeline::document_check::DocumentData;
use crate::store::{NewAudit, ReviewCaseRow, VerificationRow};

#[derive(Serialize, ToSchema)]
pub struct Resolution {
    pub outcome: String,
    pub reason: String,
    /// The reviewer: their API key (`key:<id>`) or their console account (`reviewer:<username>`).
    pub resolved_by: String,
    pub resolved_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReviewView {
    pub id: String,
    pub verification_id: String,
    pub purpose: String,
    /// `open` or `resolved`.
    pub status: String,
    /// `referred` (the machine could not settle it) or `sample` (a verified decision drawn for quality
    /// control).
    pub kind: String,
    pub reasons: Vec<String>,
    pub created_at: String,
    pub resolution: Option<Resolution>,
}

impl From<&ReviewCaseRow> for ReviewView {
    fn from(r: &ReviewCaseRow) -> Self {
        let resolution = match (&r.outcome, &r.outcome_reason, &r.resolved_by, r.resolved_at) {
            (Some(outcome), Some(reason), Some(by), Some(at)) => Some(Resolution {
                outcome: outcome.clone(),
                reason: reason.clone(),
                resolved_by: by.clone(),
                resolved_at: rfc3339(at),
            }),
            _ => None,
        };
        ReviewView {
            id: r.id.clone(),
            verification_id: r.verification_id.clone(),
            purpose: r.purpose.clone(),
            status: r.status.to_string(),
            kind: r.kind.to_string(),
            reasons: serde_json::from_str(&r.reasons).unwrap_or_default(),
            created_at: rfc3339(r.created_at),
            resolution,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReviewList {
    pub reviews: Vec<ReviewView>,
}

#[derive(Serialize, ToSchema)]
pub struct MediaLink {
    /// `document`, `selfie`, or `frame-<seq>` (an invigilation frame kept as evidence).
    pub kind: String,
    /// GET it with a reviewer key; each view is audited.
    pub href: String,
}

/// A case with everything a reviewer needs to decide it.
#[derive(Serialize, ToSchema)]
pub struct ReviewDetail {
    #[serde(flatten)]
    pub case: ReviewView,
    /// The automated decision, unchanged: scores, thresholds, reason codes, models, policy.
    pub verification: VerificationView,
    /// The images still held (none once the retention period of the purpose has passed).
    pub media: Vec<MediaLink>,
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// `open` (default) or `resolved`.
    pub status: Option<String>,
    /// Only cases of this purpose.
    pub purpose: Option<Purpose>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewResolution {
    pub outcome: ReviewOutcome,
    /// Why: what the reviewer saw. Required.
    /// 1-2000 printable characters, not only spaces (surrounding spaces are dropped).
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
}

/// Open (or resolved) review cases of your organisation, oldest first.
pub async fn list(state: &AppState, caller: &Caller, q: ListQuery) -> Result<ReviewList, ApiError> {
    caller.require(&[Role::Reviewer, Role::Auditor])?;
    let Some(status) = ReviewStatus::parse(q.status.as_deref().unwrap_or("open")) else {
        return Err(ApiError::detail(
            ErrorCode::InvalidField,
            "status must be open or resolved",
        ));
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let rows = state
        .store
        .list_reviews(&caller.org, status, q.purpose.map(|p| p.as_str()), limit)
        .await?;
    Ok(ReviewList {
        reviews: rows.iter().map(ReviewView::from).collect(),
    })
}

/// The case and its verification, both of the organisation `org`.
pub async fn case_of(
    state: &AppState,
    org: &str,
    id: &str,
) -> Result<(ReviewCaseRow, VerificationRow), ApiError> {
    let case = state
        .store
        .get_review(org, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let verification = state
        .store
        .get_verification(org, &case.verification_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok((case, verification))
}

/// One case: the decision record (scores against thresholds, reason codes) and links to its images.
pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<ReviewDetail, ApiError> {
    caller.require(&[Role::Reviewer, Role::Auditor])?;
    let (case, verification) = case_of(state, &caller.org, id).await?;
    let subject_ref = state
        .vault
        .subject_ref(&state.store, &verification.subject_id)
        .await?;
    let mut kinds: Vec<String> = state
        .store
        .verification_media(&verification.id)
        .await?
        .into_iter()
        .filter(|m| m.class == MediaClass::Media && !m.kind.is_json())
        .map(|m| m.kind.to_string())
        .collect();
    // An invigilation case: the enrolled images, then the frames kept as evidence.
    if let Some(session) = &case.invigilation_session_id {
        for f in state.store.session_frames(session).await? {
            if f.media_id.is_some() {
                kinds.push(format!("frame-{}", f.seq));
            }
        }
    }
    let media = kinds
        .into_iter()
        .map(|kind| MediaLink {
            href: format!("/v1/reviews/{}/media/{kind}", case.id),
            kind,
        })
        .collect();
    Ok(ReviewDetail {
        case: ReviewView::from(&case),
        verification: VerificationView::new(&verification, subject_ref)?,
        media,
    })
}

/// One item of a case, opened but not yet shown: what its audit entry names.
pub struct OpenedMedia {
    pub bytes: Vec<u8>,
    case_id: String,
    media_id: String,
    verification_id: String,
    subject_id: String,
}

/// Opens one image (or video, or frame) of a case for a reviewer, without recording a view: the
/// caller records the view (`record_view`) before anything of it is shown. `kind` is `document`,
/// `selfie`, the liveness `video`, or `frame-<seq>` for an invigilation frame kept as evidence.
pub async fn open_media(
    state: &AppState,
    caller: &Caller,
    id: &str,
    kind: &str,
) -> Result<OpenedMedia, ApiError> {
    caller.require(&[Role::Reviewer])?;
    let org = caller.org.as_str();
    let (case, verification) = case_of(state, org, id).await?;
    let item = match (kind.strip_prefix("frame-"), &case.invigilation_session_id) {
        (Some(seq), Some(session)) => {
            let media_id = state
                .store
                .session_frames(session)
                .await?
                .into_iter()
                .find(|f| f.seq.to_string() == seq)
                .and_then(|f| f.media_id);
            match media_id {
                Some(id) => state.store.media_item(org, &id).await?,
                None => None,
            }
        }
        _ => state
            .store
            .verification_media(&verification.id)
            .await?
            .into_iter()
            .find(|m| m.class == MediaClass::Media && !m.kind.is_json() && m.kind.as_str() == kind),
    };
    let item = item.ok_or_else(|| {
        ApiError::detail(
            ErrorCode::NotFound,
            "no such image for this case (or no longer held: retention)",
        )
    })?;
    let key = state
        .vault
        .subject_key(&state.store, &verification.subject_id)
        .await?
        .filter(|k| k.key_id == item.key_id)
        .ok_or_else(|| ApiError::new(ErrorCode::SubjectErased))?;
    if key.restricted_at.is_some() {
        return Err(ApiError::new(ErrorCode::ProcessingRestricted));
    }
    Ok(OpenedMedia {
        bytes: key.open(&media_context(&item.id), &item.sealed)?,
        case_id: case.id,
        media_id: item.id,
        verification_id: verification.id,
        subject_id: verification.subject_id,
    })
}

/// Records that a reviewer was shown `opened` as `view` (`kind` in the entry: the item's kind;
/// `view`: `whole`, `face_crop`, …) as `review.media_viewed`, naming them.
pub async fn record_view(
    state: &AppState,
    caller: &Caller,
    opened: &OpenedMedia,
    kind: &str,
    view: &str,
) -> Result<(), ApiError> {
    let mut details = json!({
        "kind": kind, "media_id": opened.media_id, "verification_id": opened.verification_id,
    });
    if view != "whole" {
        details["view"] = json!(view);
    }
    state
        .store
        .audit(&NewAudit {
            subject_digest: Some(opened.subject_id.clone()),
            details,
            ..caller.audit(state.clock.now_ms(), "review.media_viewed", &opened.case_id)
        })
        .await?;
    Ok(())
}

/// Opens one image of a case for a reviewer: the view is recorded as `review.media_viewed`, naming
/// them, before the bytes are handed out (see `open_media` for the kinds).
pub async fn view_media(
    state: &AppState,
    caller: &Caller,
    id: &str,
    kind: &str,
) -> Result<Vec<u8>, ApiError> {
    let opened = open_media(state, caller, id, kind).await?;
    record_view(state, caller, &opened, kind, "whole").await?;
    Ok(opened.bytes)
}

/// The identity behind a case: what was read from the document's machine-readable zone, what the
/// applicant declared, and the two compared field by field.
#[derive(Serialize, ToSchema)]
pub struct IdentityView {
    /// Read from the document (absent when no zone was read, or no longer held: retention).
    #[schema(value_type = Option<Object>)]
    pub read: Option<DocumentData>,
    /// What the applicant typed into the application (absent when none was sent).
    pub declared: Option<DeclaredIdentity>,
    /// Surname, given names and date of birth, declared against read, when both are there.
    pub comparison: Vec<FieldComparison>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldComparison {
    /// `surname`, `given_names` or `date_of_birth`.
    pub field: &'static str,
    pub declared: String,
    pub read: String,
    /// As ICAO 9303 writes names (transliterated, fillers, truncation at the zone's end).
    pub agrees: bool,
}

/// Declared against read, field by field, agreeing exactly where the reason codes do (pure).
pub fn compare_identity(declared: &DeclaredIdentity, read: &DocumentData) -> Vec<FieldComparison> {
    let f = &read.fields;
    // A name cut at the zone's end may be cut inside the surname: then only the whole name compares.
    let names_agree = !declared_reasons(declared, f, read.mrz.name_field_truncated())
        .contains(&"declared_name_mismatch");
    let date = |d: Option<time::Date>| d.map(|d| d.to_string()).unwrap_or_default();
    vec![
        FieldComparison {
            field: "surname",
            declared: declared.surname.clone(),
            read: f.surname.clone(),
            agrees: names_agree || name_agrees(&declared.surname, &f.surname, false),
        },
        FieldComparison {
            field: "given_names",
            declared: declared.given_names.clone(),
            read: f.given_names.clone(),
            agrees: names_agree || name_agrees(&declared.given_names, &f.given_names, false),
        },
        FieldComparison {
            field: "date_of_birth",
            declared: declared.date_of_birth.to_string(),
            read: date(f.date_of_birth),
            agrees: date_of_birth_agrees(declared.date_of_birth, f.date_of_birth),
        },
    ]
}

/// Opens the identity data of a case for a reviewer, recorded as `review.identity_viewed` naming them.
pub async fn view_identity(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<IdentityView, ApiError> {
    caller.require(&[Role::Reviewer])?;
    let org = caller.org.as_str();
    let (case, verification) = case_of(state, org, id).await?;
    let items: Vec<_> = state
        .store
        .verification_media(&verification.id)
        .await?
        .into_iter()
        .filter(|m| m.kind.is_json())
        .collect();
    let mut view = IdentityView {
        read: None,
        declared: None,
        comparison: vec![],
    };
    if items.is_empty() {
        return Ok(view);
    }
    let key = state
        .vault
        .subject_key(&state.store, &verification.subject_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::SubjectErased))?;
    if key.restricted_at.is_some() {
        return Err(ApiError::new(ErrorCode::ProcessingRestricted));
    }
    for item in items.iter().filter(|m| m.key_id == key.key_id) {
        let json = key.open(&media_context(&item.id), &item.sealed)?;
        match item.kind {
            MediaKind::DocumentData => {
                view.read = Some(serde_json::from_slice(&json).map_err(ApiError::internal)?)
            }
            MediaKind::DeclaredIdentity => {
                view.declared = Some(serde_json::from_slice(&json).map_err(ApiError::internal)?)
            }
            _ => {}
        }
    }
    if let (Some(declared), Some(read)) = (&view.declared, &view.read) {
        view.comparison = compare_identity(declared, read);
    }
    state
        .store
        .audit(&NewAudit {
            subject_digest: Some(verification.subject_id.clone()),
            details: json!({"verification_id": verification.id,
                            "read": view.read.is_some(), "declared": view.declared.is_some()}),
            ..caller.audit(state.clock.now_ms(), "review.identity_viewed", &case.id)
        })
        .await?;
    Ok(view)
}

/// Separation of duties: whether `actor` is the principal that submitted `verification`, so may not
/// settle it. A row older than the column with no recorded submitter is nobody's.
pub fn submitted_by(verification: &VerificationRow, actor: &str) -> bool {
    verification.submitted_by.as_deref() == Some(actor)
}

/// Records a reviewer's resolution of an open case, with the audit event `review.resolved` naming them;
/// the automated decision is left as it was.
pub async fn resolve(
    state: &AppState,
    caller: &Caller,
    id: &str,
    outcome: ReviewOutcome,
    reason: &str,
) -> Result<ReviewCaseRow, ApiError> {
    caller.require(&[Role::Reviewer])?;
    let org = caller.org.as_str();
    let reason = bounded_text("reason", reason, 2000)?;
    let (case, verification) = case_of(state, org, id).await?;
    if submitted_by(&verification, &caller.actor()) {
        return Err(ApiError::new(ErrorCode::OwnSubmission));
    }
    let restricted = state
        .store
        .subject(&verification.subject_id)
        .await?
        .is_some_and(|s| s.restricted_at.is_some());
    if restricted {
        return Err(ApiError::new(ErrorCode::ProcessingRestricted));
    }
    let audit = NewAudit {
        subject_digest: Some(verification.subject_id.clone()),
        details: json!({
            "outcome": outcome, "verification_id": verification.id,
            "automated_decision": verification.decision, "kind": case.kind,
        }),
        ..caller.audit(state.clock.now_ms(), "review.resolved", &case.id)
    };
    if !state
        .store
        .resolve_review(org, id, outcome.as_str(), &reason, &audit)
        .await?
    {
        return Err(ApiError::new(ErrorCode::ReviewAlreadyResolved));
    }
    state
        .store
        .get_review(org, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))
}
