//! Data-subject rights (UK GDPR Arts. 15, 17, 18, 20), exercised by an auditor on a person's behalf:
//! export everything held about them, erase it, restrict and unrestrict its processing.
//!
//! The subject reference arrives in the path and is turned into its keyed digest at once; it is never
//! logged (spans carry the route template, not the path).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::bounded_text;
use super::caller::Caller;
use super::capture_links::CaptureLinkView;
use super::consents::ConsentView;
use super::declared::declared_of_link;
use super::error::{ApiError, ErrorCode};
use super::invigilation::{self, SessionView};
use super::process::media_context;
use super::record::{reduce_record, DecisionRecord};
use super::reviews::ReviewView;
use super::state::AppState;
use super::verifications::VerificationView;
use crate::audit::AuditEntry;
use crate::domain::clock::rfc3339;
use crate::domain::token::new_id;
use crate::domain::{ConsentStatus, MediaClass, Purpose, Role, VerificationStatus};
use crate::settings::RecordsOnErasure;
use crate::store::{ErasureCounts, ErasureRow, MediaRow, NewAudit};
use crate::vault::SubjectKey;
use crate::vision::embed::Embedding;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Why (e.g. the reference of the request from the person). Recorded in the audit log: do not
    /// put the subject reference or other personal data here.
    /// 1-500 printable characters, not only spaces (surrounding spaces are dropped).
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
}

#[derive(Deserialize, IntoParams)]
pub struct ExportQuery {
    /// Include the stored images (base64) and embeddings (floats).
    #[serde(default)]
    pub include_media: bool,
}

#[derive(Serialize, ToSchema)]
pub struct MediaItem {
    pub id: String,
    /// `document`, `selfie`, `video`, `document_embedding`, `selfie_embedding`, `invigilation_frame`,
    /// `declared_identity` (what the applicant declared) or `document_data` (what was read from the
    /// document's machine-readable zone).
    pub kind: String,
    pub verification_id: Option<String>,
    pub consent_ref: String,
    pub purpose: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub created_at: String,
    /// The file, base64 (with `include_media=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
    /// The embedding (with `include_media=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    /// Identity data (`declared_identity`, `document_data`): always included, as it is what the
    /// subject most needs to see and is small.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub data: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditItem {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub event: String,
    pub entity: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Serialize, ToSchema)]
pub struct ErasureItem {
    pub id: String,
    pub erased_at: String,
    pub actor: String,
    pub reason: String,
    #[schema(value_type = Object)]
    pub counts: Value,
}

/// Everything idv holds about one subject in the caller's organisation, machine-readable.
#[derive(Serialize, ToSchema)]
pub struct SubjectExport {
    pub subject_ref: String,
    pub organisation: String,
    pub exported_at: String,
    /// Processing is restricted (UK GDPR Art. 18) since this time.
    pub restricted_since: Option<String>,
    pub consents: Vec<ConsentView>,
    pub verifications: Vec<VerificationView>,
    pub review_cases: Vec<ReviewView>,
    /// Remote-invigilation sessions with every frame's result.
    pub invigilation_sessions: Vec<SessionView>,
    /// Links to the capture page made for the subject, with the consent and verification each produced.
    pub capture_links: Vec<CaptureLinkView>,
    pub media: Vec<MediaItem>,
    pub audit_events: Vec<AuditItem>,
    /// Earlier erasures of this subject's data (tombstones).
    pub erasures: Vec<ErasureItem>,
}

#[derive(Serialize, ToSchema)]
pub struct ErasureView {
    pub erasure_id: String,
    pub erased_at: String,
    #[schema(value_type = Object)]
    pub counts: ErasureCounts,
}

#[derive(Serialize, ToSchema)]
pub struct RestrictionView {
    pub restricted: bool,
    pub restricted_since: Option<String>,
}

fn audit(
    state: &AppState,
    caller: &Caller,
    event: &'static str,
    subject_id: &str,
    details: Value,
) -> NewAudit {
    NewAudit {
        subject_digest: Some(subject_id.into()),
        details,
        ..caller.audit(state.clock.now_ms(), event, subject_id)
    }
}

/// One sealed item as exported: what it is, and with `include_media` its content (images and videos
/// as base64, embeddings as numbers).
fn media_item(
    m: &MediaRow,
    key: Option<&SubjectKey>,
    include_media: bool,
) -> Result<MediaItem, ApiError> {
    let (mut content_base64, mut embedding, mut data) = (None, None, None);
    if include_media || m.kind.is_json() {
        // Items sealed under an earlier (erased) key of this subject cannot be opened; none should
        // remain, as erasure deletes them.
        let plain = key
            .filter(|k| k.key_id == m.key_id)
            .map(|k| k.open(&media_context(&m.id), &m.sealed))
            .transpose()?;
        if let Some(plain) = plain {
            if m.kind.is_json() {
                data = Some(serde_json::from_slice(&plain).map_err(ApiError::internal)?);
            } else if m.class == MediaClass::Embedding {
                embedding = Embedding::from_le_bytes(&plain).map(|e| e.as_slice().to_vec());
            } else {
                content_base64 = Some(base64::engine::general_purpose::STANDARD.encode(plain));
            }
        }
    }
    Ok(MediaItem {
        id: m.id.clone(),
        kind: m.kind.to_string(),
        verification_id: m.verification_id.clone(),
        consent_ref: m.consent_ref.clone(),
        purpose: m.purpose.clone(),
        sha256: m.sha256.clone(),
        created_at: rfc3339(m.created_at),
        content_base64,
        embedding,
        data,
    })
}

impl From<&AuditEntry> for AuditItem {
    fn from(e: &AuditEntry) -> Self {
        AuditItem {
            seq: e.seq,
            at: rfc3339(e.at),
            actor: e.actor.clone(),
            event: e.event.clone(),
            entity: e.entity.clone(),
            details: serde_json::from_str(&e.details).unwrap_or(Value::Null),
        }
    }
}

impl From<&ErasureRow> for ErasureItem {
    fn from(e: &ErasureRow) -> Self {
        ErasureItem {
            id: e.id.clone(),
            erased_at: rfc3339(e.erased_at),
            actor: e.actor.clone(),
            reason: e.reason.clone(),
            counts: serde_json::from_str(&e.counts).unwrap_or(Value::Null),
        }
    }
}

/// Export everything held about a subject (right of access and portability).
pub async fn export(
    state: &AppState,
    caller: &Caller,
    subject_ref: &str,
    query: ExportQuery,
) -> Result<SubjectExport, ApiError> {
    caller.require(&[Role::Auditor])?;
    let subject_ref = bounded_text("subject_ref", subject_ref, 128)?;
    let subject_id = state.vault.subject_id(&caller.org, &subject_ref);
    let records = state
        .store
        .subject_records(&caller.org, &subject_id)
        .await?;
    let key = state.vault.subject_key(&state.store, &subject_id).await?;

    let media = records
        .media
        .iter()
        .map(|m| media_item(m, key.as_ref(), query.include_media))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sessions = Vec::with_capacity(records.sessions.len());
    for session in &records.sessions {
        let frames = invigilation::timeline(state, &session.id).await?;
        sessions.push(invigilation::view(
            session,
            Some(subject_ref.clone()),
            frames,
        )?);
    }
    let known = |erased: bool| (!erased).then(|| subject_ref.clone());
    let export = SubjectExport {
        subject_ref: subject_ref.clone(),
        organisation: caller.org.clone(),
        exported_at: rfc3339(state.clock.now_ms()),
        restricted_since: key.as_ref().and_then(|k| k.restricted_at).map(rfc3339),
        consents: records
            .consents
            .iter()
            .map(|c| ConsentView::new(c.clone(), known(c.status == ConsentStatus::Erased)))
            .collect(),
        verifications: records
            .verifications
            .iter()
            .map(|v| VerificationView::new(v, known(v.status == VerificationStatus::Erased)))
            .collect::<Result<_, _>>()?,
        review_cases: records.review_cases.iter().map(ReviewView::from).collect(),
        invigilation_sessions: sessions,
        capture_links: records
            .capture_links
            .iter()
            .map(|l| {
                let mut view =
                    CaptureLinkView::new(l, Some(subject_ref.clone()), state.clock.now_ms());
                if let Some(key) = &key {
                    view.declared = declared_of_link(l, key)?;
                }
                Ok(view)
            })
            .collect::<Result<_, ApiError>>()?,
        media,
        audit_events: records.audit.iter().map(AuditItem::from).collect(),
        erasures: records.erasures.iter().map(ErasureItem::from).collect(),
    };
    let details = json!({
        "include_media": query.include_media,
        "consents": export.consents.len(), "verifications": export.verifications.len(),
        "media": export.media.len(), "audit_events": export.audit_events.len(),
    });
    state
        .store
        .audit(&audit(
            state,
            caller,
            "subject.exported",
            &subject_id,
            details,
        ))
        .await?;
    Ok(export)
}

/// Erase a subject's data (right to erasure): their data key is destroyed (crypto-shredding), their
/// media and embeddings deleted, their decision records reduced or deleted as each purpose's retention
/// policy says, and a tombstone recorded. The audit chain is untouched and still verifies.
pub async fn erase(
    state: &AppState,
    caller: &Caller,
    subject_ref: &str,
    body: Reason,
) -> Result<ErasureView, ApiError> {
    caller.require(&[Role::Auditor])?;
    let subject_ref = bounded_text("subject_ref", subject_ref, 128)?;
    let reason = bounded_text("reason", &body.reason, 500)?;
    let subject_id = state.vault.subject_id(&caller.org, &subject_ref);
    let records = state
        .store
        .subject_records(&caller.org, &subject_id)
        .await?;
    if state.store.subject(&subject_id).await?.is_none() {
        return Err(if records.erasures.is_empty() {
            ApiError::new(ErrorCode::NotFound)
        } else {
            ApiError::new(ErrorCode::SubjectErased)
        });
    }
    let deletes = |purpose: &str| {
        Purpose::parse(purpose).is_some_and(|p| {
            state.settings.retention.policy(p).on_erasure == RecordsOnErasure::Delete
        })
    };
    let delete_purposes: Vec<&str> = Purpose::ALL
        .iter()
        .map(|p| p.as_str())
        .filter(|p| deletes(p))
        .collect();
    let mut reduced = Vec::new();
    for v in records
        .verifications
        .iter()
        .filter(|v| !deletes(&v.purpose))
    {
        let record = v
            .record
            .as_deref()
            .map(|r| {
                serde_json::from_str::<DecisionRecord>(r)
                    .map(reduce_record)
                    .and_then(|r| serde_json::to_string(&r))
            })
            .transpose()
            .map_err(ApiError::internal)?;
        reduced.push((v.id.clone(), record));
    }
    let now = state.clock.now_ms();
    let tombstone = ErasureRow {
        id: new_id("era"),
        org: caller.org.clone(),
        subject_digest: subject_id.clone(),
        erased_at: now,
        actor: caller.actor(),
        reason: reason.clone(),
        counts: String::new(),
    };
    let entry = audit(
        state,
        caller,
        "subject.erased",
        &subject_id,
        json!({"erasure_id": tombstone.id, "reason": reason}),
    );
    let counts = state
        .store
        .erase_subject(
            &caller.org,
            &subject_id,
            &delete_purposes,
            &reduced,
            &tombstone,
            &entry,
        )
        .await?;
    Ok(ErasureView {
        erasure_id: tombstone.id,
        erased_at: rfc3339(now),
        counts,
    })
}

/// Restrict processing of a subject's data (e.g. while they contest its accuracy): every verification
/// for them is refused with `processing_restricted` and nothing is stored, until lifted. An unknown (or
/// erased) subject is `not_found`.
pub async fn restrict(
    state: &AppState,
    caller: &Caller,
    subject_ref: &str,
    body: Reason,
) -> Result<RestrictionView, ApiError> {
    set_restriction(state, caller, subject_ref, body, true).await
}

/// Lift a restriction of processing.
pub async fn unrestrict(
    state: &AppState,
    caller: &Caller,
    subject_ref: &str,
    body: Reason,
) -> Result<RestrictionView, ApiError> {
    set_restriction(state, caller, subject_ref, body, false).await
}

async fn set_restriction(
    state: &AppState,
    caller: &Caller,
    subject_ref: &str,
    body: Reason,
    restrict: bool,
) -> Result<RestrictionView, ApiError> {
    caller.require(&[Role::Auditor])?;
    let subject_ref = bounded_text("subject_ref", subject_ref, 128)?;
    let reason = bounded_text("reason", &body.reason, 500)?;
    // Only a subject idv holds data about: a reference it has never seen is 404, as on every other
    // subject route (restricting it would create a record of a person idv knows nothing of).
    let subject_id = state.vault.subject_id(&caller.org, &subject_ref);
    let subject = state
        .vault
        .subject_key(&state.store, &subject_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let now = state.clock.now_ms();
    let (event, at) = if restrict {
        ("subject.restricted", Some(now))
    } else {
        ("subject.unrestricted", None)
    };
    let entry = audit(
        state,
        caller,
        event,
        &subject.subject_id,
        json!({ "reason": reason }),
    );
    if !state
        .store
        .set_restriction(&subject.subject_id, at, &entry)
        .await?
    {
        return Err(ApiError::new(ErrorCode::RestrictionUnchanged));
    }
    Ok(RestrictionView {
        restricted: restrict,
        restricted_since: at.map(rfc3339),
    })
}
