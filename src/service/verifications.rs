//! Verifications: a submission checked (fields, consent, restriction) and accepted (idempotency, the
//! challenge used up, uploads sealed), then decided at once or queued as a job; and reading one back.
//! The API and the capture page both submit through here.

use bytes::Bytes;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::bounded_text;
use super::caller::Caller;
use super::consents::check_consent;
use super::declared::checked_declared;
use super::error::{ApiError, ErrorCode};
use super::process::{
    decide_and_record, evaluate, precheck, seal_derived, seal_media, Capture, Inputs,
    TakenChallenge,
};
use super::record::{DecisionRecord, InputDigests};
use super::state::AppState;
use crate::document::identity::DeclaredIdentity;
use crate::domain::clock::rfc3339;
use crate::domain::token::new_id;
use crate::domain::{MediaKind, Purpose, Role, VerificationStatus};
use crate::store::{ConsentRow, MediaRow, NewAudit, StoreError, VerificationRow};
use crate::vault::SubjectKey;

/// An uploaded file, buffered within its limit. Biometric: never printed.
pub struct Upload {
    pub bytes: Bytes,
    pub sha256: String,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Upload(sha256 {}, <{} bytes redacted>)",
            self.sha256,
            self.bytes.len()
        )
    }
}

/// The parts of a request. No `Debug`: it holds a subject reference and biometric uploads.
#[derive(Default)]
pub struct Submission {
    pub subject_ref: Option<String>,
    pub consent_ref: Option<String>,
    pub purpose: Option<String>,
    pub external_ref: Option<String>,
    pub challenge_id: Option<String>,
    pub document: Option<Upload>,
    pub selfie: Option<Upload>,
    pub video: Option<Upload>,
    /// What the applicant typed into the card application (the `declared` part, JSON).
    pub declared: Option<DeclaredIdentity>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorInfo {
    pub code: String,
}

/// A verification and, once decided, its decision record.
#[derive(Serialize, ToSchema)]
pub struct VerificationView {
    pub id: String,
    pub organisation: String,
    /// `pending` (accepted, being processed), `decided`, `failed` (could not be evaluated), or `erased`
    /// (the subject's data was erased; the record is reduced to the bare decision).
    pub status: String,
    /// Absent once the subject's data has been erased.
    pub subject_ref: Option<String>,
    pub consent_ref: String,
    pub purpose: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    pub created_at: String,
    #[serde(flatten)]
    pub record: Option<DecisionRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorInfo>,
}

impl VerificationView {
    pub fn new(v: &VerificationRow, subject_ref: Option<String>) -> Result<Self, ApiError> {
        let record = v
            .record
            .as_deref()
            .map(serde_json::from_str::<DecisionRecord>)
            .transpose()
            .map_err(ApiError::internal)?;
        Ok(VerificationView {
            id: v.id.clone(),
            organisation: v.org.clone(),
            status: v.status.to_string(),
            subject_ref,
            consent_ref: v.consent_ref.clone(),
            purpose: v.purpose.clone(),
            external_ref: v.external_ref.clone(),
            created_at: rfc3339(v.created_at),
            record,
            error: v.error_code.clone().map(|code| ErrorInfo { code }),
        })
    }
}

/// sha256 over what makes two requests the same request (for Idempotency-Key reuse detection).
fn request_digest(fields: &[&str], digests: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in fields.iter().chain(digests) {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// A verification sent through the API: the fields checked, the consent checked before any biometric
/// processing, the subject not restricted; then [`accept`]ed. Returns the verification as stored and
/// the subject reference it was asked for.
pub async fn submit(
    state: &AppState,
    caller: &Caller,
    mut sub: Submission,
    idempotency_key: Option<String>,
    asynchronous: bool,
) -> Result<(VerificationRow, String), ApiError> {
    caller.require(&[Role::Submitter])?;
    let subject_ref = bounded_text("subject_ref", sub.subject_ref.as_deref().unwrap_or(""), 128)?;
    let purpose_text = sub.purpose.as_deref().unwrap_or("");
    let purpose = Purpose::parse(purpose_text).ok_or_else(|| {
        ApiError::detail(
            ErrorCode::InvalidField,
            "purpose must be ecs_application or remote_invigilation",
        )
    })?;
    let external_ref = sub
        .external_ref
        .as_deref()
        .map(|e| bounded_text("external_ref", e, 128))
        .transpose()?;
    // No biometric processing of any kind before the consent is known to cover it.
    let consent = check_consent(
        state,
        &caller.org,
        sub.consent_ref.as_deref(),
        &subject_ref,
        purpose,
    )
    .await?;
    // Restriction (UK GDPR Art. 18) stops processing before anything is stored.
    let subject = state
        .vault
        .subject_key_or_create(&state.store, &caller.org, &subject_ref)
        .await?;
    if subject.restricted_at.is_some() {
        return Err(ApiError::new(ErrorCode::ProcessingRestricted));
    }
    let declared = checked_declared(sub.declared.take())?;
    let (document, capture) = sub.uploads()?;
    let request = NewVerification {
        declared,
        org: caller.org.clone(),
        actor: caller.actor(),
        submitted_by: caller.actor(),
        subject,
        consent,
        purpose,
        external_ref,
        document,
        capture,
        idempotency_key,
        asynchronous,
        capture_link: None,
    };
    let row = accept(state, request).await?;
    Ok((row, subject_ref))
}

/// What shows the person, as uploaded.
pub enum CaptureUploads {
    Selfie(Upload),
    Video {
        video: Upload,
        still: Option<Upload>,
        challenge_id: String,
    },
}

impl Submission {
    /// Whether the request names a subject, consent, purpose or reference (a capture link's do not:
    /// the link says them).
    pub fn names_references(&self) -> bool {
        self.subject_ref.is_some()
            || self.consent_ref.is_some()
            || self.purpose.is_some()
            || self.external_ref.is_some()
    }

    /// The document and what shows the person: a selfie, or a video answering a challenge (with the
    /// still selfie taken with it, when sent).
    pub fn uploads(self) -> Result<(Upload, CaptureUploads), ApiError> {
        let document = self.document.ok_or_else(|| {
            ApiError::detail(ErrorCode::InvalidField, "the `document` file is required")
        })?;
        let capture = match (self.video, self.selfie, self.challenge_id) {
            (Some(video), still, Some(challenge_id)) => CaptureUploads::Video {
                video,
                still,
                challenge_id: bounded_text("challenge_id", &challenge_id, 64)?,
            },
            (Some(_), _, None) => return Err(ApiError::new(ErrorCode::ChallengeRequired)),
            (None, Some(_), Some(_)) => {
                return Err(ApiError::detail(
                    ErrorCode::InvalidField,
                    "`challenge_id` answers a liveness video: send the `video` part with it",
                ))
            }
            (None, Some(selfie), None) => CaptureUploads::Selfie(selfie),
            (None, None, _) => {
                return Err(ApiError::detail(
                    ErrorCode::InvalidField,
                    "a `selfie` file or a `video` file is required",
                ))
            }
        };
        Ok((document, capture))
    }
}

/// A verification request whose caller, consent and subject are checked: ready to be accepted.
pub struct NewVerification {
    pub org: String,
    /// Who asked, as the audit log names them (`key:…`, `capture:…`).
    pub actor: String,
    /// The principal answerable for the submission: the API key (`key:…`), or the key that made the
    /// capture link. Its verifications' cases are never its to resolve; its Idempotency-Keys are its own.
    pub submitted_by: String,
    pub subject: SubjectKey,
    pub consent: ConsentRow,
    pub purpose: Purpose,
    pub external_ref: Option<String>,
    pub document: Upload,
    pub capture: CaptureUploads,
    /// What the applicant declared, checked against the document's machine-readable zone.
    pub declared: Option<DeclaredIdentity>,
    pub idempotency_key: Option<String>,
    pub asynchronous: bool,
    /// Submitted through this capture link, which accepting it uses up.
    pub capture_link: Option<String>,
}

/// Accepts a checked request: answers a retry with the earlier result, uses up the challenge a video
/// answers, seals the uploads under the subject's key, then queues the job (asynchronous) or evaluates
/// and records the decision. Returns the verification as stored.
pub async fn accept(state: &AppState, req: NewVerification) -> Result<VerificationRow, ApiError> {
    let digests = req.input_digests();
    let digest = req.request_digest(&digests);
    if let Some(key) = &req.idempotency_key {
        let found = state
            .store
            .find_by_idempotency_key(&req.org, &req.submitted_by, key)
            .await?;
        if let Some(existing) = found {
            return replay(existing, &digest);
        }
    }
    if req.asynchronous {
        let (selfie, video) = req.capture.files();
        precheck(
            state,
            req.document.bytes.clone(),
            selfie.map(|s| s.bytes.clone()),
            video.map(|v| v.bytes.clone()),
        )
        .await?;
    }
    let now = state.clock.now_ms();
    // Used up now, before any processing: a challenge is answered once, whatever the outcome.
    let challenge = match req.capture.challenge_id() {
        Some(id) => {
            let row = state
                .store
                .take_challenge(&req.org, id, now, req.capture_link.as_deref())
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::ChallengeInvalid))?;
            Some(TakenChallenge::from_row(&row)?)
        }
        None => None,
    };
    let row = req.pending_row(digest, now);
    let requested = req.requested_audit(&row, &digests);
    // The uploads are kept sealed under the subject's key: for the job, then for review until the
    // retention period of the purpose ends.
    let sealed = req.seal_uploads(&row);
    if req.asynchronous {
        enqueue(state, req, row, sealed, requested).await
    } else {
        decide_now(state, req, row, sealed, requested, challenge, digests).await
    }
}

impl CaptureUploads {
    /// The still selfie (alone, or beside a video) and the video, as sent.
    fn files(&self) -> (Option<&Upload>, Option<&Upload>) {
        match self {
            CaptureUploads::Selfie(selfie) => (Some(selfie), None),
            CaptureUploads::Video { video, still, .. } => (still.as_ref(), Some(video)),
        }
    }

    fn challenge_id(&self) -> Option<&str> {
        match self {
            CaptureUploads::Selfie(_) => None,
            CaptureUploads::Video { challenge_id, .. } => Some(challenge_id),
        }
    }
}

impl NewVerification {
    fn input_digests(&self) -> InputDigests {
        let (selfie, video) = self.capture.files();
        InputDigests {
            document: self.document.sha256.clone(),
            selfie: selfie.map(|u| u.sha256.clone()),
            video: video.map(|u| u.sha256.clone()),
        }
    }

    /// What makes two requests the same request: subject, consent, purpose, reference, challenge, the
    /// declared identity and the files' digests.
    fn request_digest(&self, digests: &InputDigests) -> String {
        let mut fields = vec![
            self.subject.subject_id.clone(),
            self.consent.consent_ref.clone(),
            self.purpose.as_str().to_string(),
            self.external_ref.clone().unwrap_or_default(),
            self.capture.challenge_id().unwrap_or("").to_string(),
        ];
        // Only when present, so the digest of a request without one is what it always was.
        if let Some(d) = &self.declared {
            fields.push(serde_json::to_string(d).expect("serialisable"));
        }
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        request_digest(
            &fields,
            &[
                &digests.document,
                digests.selfie.as_deref().unwrap_or(""),
                digests.video.as_deref().unwrap_or(""),
            ],
        )
    }

    fn pending_row(&self, request_digest: String, now: i64) -> VerificationRow {
        VerificationRow {
            id: new_id("ver"),
            org: self.org.clone(),
            subject_id: self.subject.subject_id.clone(),
            consent_ref: self.consent.consent_ref.clone(),
            purpose: self.purpose.as_str().into(),
            external_ref: self.external_ref.clone(),
            status: VerificationStatus::Pending,
            idempotency_key: self.idempotency_key.clone(),
            request_digest,
            decision: None,
            record: None,
            error_code: None,
            created_at: now,
            decided_at: None,
            retention_until: None,
            submitted_by: Some(self.submitted_by.clone()),
        }
    }

    /// `verification.requested`, written with the row (or the job).
    fn requested_audit(&self, row: &VerificationRow, digests: &InputDigests) -> NewAudit {
        let video = self.capture.files().1;
        NewAudit {
            at: row.created_at,
            org: self.org.clone(),
            actor: self.actor.clone(),
            event: "verification.requested",
            entity: row.id.clone(),
            subject_digest: Some(self.subject.subject_id.clone()),
            details: json!({
                "consent_ref": self.consent.consent_ref, "purpose": self.purpose,
                "mode": if self.asynchronous { "async" } else { "sync" },
                "capture": if video.is_some() { "video" } else { "selfie" },
                "challenge_id": self.capture.challenge_id(), "capture_link": self.capture_link,
                "input_digests": digests, "declared_identity": self.declared.is_some(),
            }),
        }
    }

    fn seal_uploads(&self, row: &VerificationRow) -> Vec<MediaRow> {
        let (selfie, video) = self.capture.files();
        let mut sealed: Vec<MediaRow> = [
            (MediaKind::Document, Some(&self.document)),
            (MediaKind::Selfie, selfie),
            (MediaKind::Video, video),
        ]
        .iter()
        .filter_map(|(kind, upload)| {
            upload.map(|u| seal_media(&self.subject, row, *kind, Some(u.sha256.clone()), &u.bytes))
        })
        .collect();
        if let Some(declared) = &self.declared {
            let json = serde_json::to_vec(declared).expect("serialisable");
            sealed.push(seal_media(
                &self.subject,
                row,
                MediaKind::DeclaredIdentity,
                None,
                &json,
            ));
        }
        sealed
    }
}

/// Queues an accepted asynchronous request for the job workers.
async fn enqueue(
    state: &AppState,
    req: NewVerification,
    row: VerificationRow,
    sealed: Vec<MediaRow>,
    requested: NewAudit,
) -> Result<VerificationRow, ApiError> {
    let enqueued = state
        .store
        .enqueue_verification(
            &row,
            &sealed,
            &requested,
            req.capture.challenge_id(),
            req.capture_link.as_deref(),
        )
        .await;
    match enqueued {
        Ok(()) => {
            state.jobs_ready.notify_one();
            Ok(row)
        }
        Err(StoreError::CaptureLinkTaken) => Err(ApiError::new(ErrorCode::CaptureLinkUsed)),
        Err(StoreError::DuplicateIdempotencyKey) => {
            let key = req.idempotency_key.as_deref();
            concurrent_duplicate(state, &row, key).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Evaluates an accepted synchronous request under admission and records its decision.
async fn decide_now(
    state: &AppState,
    req: NewVerification,
    row: VerificationRow,
    sealed: Vec<MediaRow>,
    requested: NewAudit,
    challenge: Option<TakenChallenge>,
    digests: InputDigests,
) -> Result<VerificationRow, ApiError> {
    let NewVerification {
        subject,
        consent,
        document,
        capture,
        declared,
        idempotency_key,
        ..
    } = req;
    let permit = state.admission.enter().await?;
    let inputs = Inputs {
        declared,
        document: document.bytes,
        capture: match capture {
            CaptureUploads::Selfie(selfie) => Capture::Selfie(selfie.bytes),
            CaptureUploads::Video { video, still, .. } => Capture::Video {
                video: video.bytes,
                still: still.map(|s| s.bytes),
                challenge: challenge.ok_or_else(|| {
                    ApiError::internal("a video verification without its challenge")
                })?,
            },
        },
    };
    let evaluated = evaluate(state, inputs, permit).await?;
    let pending = row.clone();
    let mut media = sealed;
    media.extend(seal_derived(&subject, &row, &evaluated));
    match decide_and_record(
        state,
        row,
        &consent,
        &evaluated,
        digests,
        media,
        Some(requested),
    )
    .await
    {
        Ok(recorded) => Ok(recorded),
        Err(StoreError::DuplicateIdempotencyKey) => {
            concurrent_duplicate(state, &pending, idempotency_key.as_deref()).await
        }
        Err(e) => Err(e.into()),
    }
}

/// A retry with a known Idempotency-Key: the stored verification if it is the same request (the
/// digest covers the subject).
fn replay(existing: VerificationRow, digest: &str) -> Result<VerificationRow, ApiError> {
    if existing.request_digest != digest {
        return Err(ApiError::new(ErrorCode::IdempotencyKeyReused));
    }
    Ok(existing)
}

/// Two requests with one Idempotency-Key raced and the other one (`ours` lost) was stored first.
async fn concurrent_duplicate(
    state: &AppState,
    ours: &VerificationRow,
    key: Option<&str>,
) -> Result<VerificationRow, ApiError> {
    let submitted_by = ours.submitted_by.as_deref().unwrap_or_default();
    let existing = match key {
        Some(k) => {
            state
                .store
                .find_by_idempotency_key(&ours.org, submitted_by, k)
                .await?
        }
        None => None,
    };
    match existing {
        Some(v) => replay(v, &ours.request_digest),
        None => Err(ApiError::new(ErrorCode::IdempotencyConflict).retry_after(1)),
    }
}

/// A verification of your organisation, with its decision record once decided.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<VerificationView, ApiError> {
    caller.require(&[Role::Submitter, Role::Reviewer, Role::Auditor])?;
    let row = state
        .store
        .get_verification(&caller.org, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let subject_ref = state
        .vault
        .subject_ref(&state.store, &row.subject_id)
        .await?;
    VerificationView::new(&row, subject_ref)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_digest_separates_fields() {
        assert_ne!(
            request_digest(&["ab", "c"], &[]),
            request_digest(&["a", "bc"], &[])
        );
        assert_eq!(
            request_digest(&["a"], &["d"]),
            request_digest(&["a"], &["d"])
        );
    }
}
