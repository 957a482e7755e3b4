//! `POST /v1/verifications` (synchronous, or asynchronous with `Prefer: respond-async`) and
//! `GET /v1/verifications/{id}`.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::{Bytes, BytesMut};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::auth::Caller;
use super::consents::check_consent;
use super::error::{ApiError, ErrorCode};
use super::keys::new_id;
use super::process::{
    decide_and_record, evaluate, precheck, seal_embeddings, seal_media, Capture, Inputs,
    TakenChallenge,
};
use super::record::{DecisionRecord, InputDigests};
use super::state::AppState;
use super::{bounded_text, rfc3339};
use crate::domain::{MediaKind, Purpose, Role, VerificationStatus};
use crate::store::{now_ms, ConsentRow, MediaRow, NewAudit, StoreError, VerificationRow};
use crate::vault::SubjectKey;

/// Text fields are short; anything longer is not a reference.
const MAX_FIELD_BYTES: usize = 1024;

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
    subject_ref: Option<String>,
    consent_ref: Option<String>,
    purpose: Option<String>,
    external_ref: Option<String>,
    challenge_id: Option<String>,
    document: Option<Upload>,
    selfie: Option<Upload>,
    video: Option<Upload>,
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

/// The response for a stored verification: 202 with `Location` while pending, 200 otherwise.
fn respond(v: &VerificationRow, subject_ref: &str) -> Result<Response, ApiError> {
    let view = VerificationView::new(v, Some(subject_ref.to_string()))?;
    if v.status == VerificationStatus::Pending {
        let location = HeaderValue::from_str(&format!("/v1/verifications/{}", v.id))
            .map_err(ApiError::internal)?;
        let headers = [
            (header::LOCATION, location),
            (
                header::HeaderName::from_static("preference-applied"),
                HeaderValue::from_static("respond-async"),
            ),
        ];
        Ok((StatusCode::ACCEPTED, headers, Json(view)).into_response())
    } else {
        Ok((StatusCode::OK, Json(view)).into_response())
    }
}

/// Reads the multipart body part by part, enforcing each part's limit while it streams in.
pub async fn read_submission(
    multipart: &mut Multipart,
    state: &AppState,
) -> Result<Submission, ApiError> {
    let max_file = state.settings.limits.max_bytes as usize;
    let max_video = state.settings.video.max_bytes as usize;
    let mut sub = Submission::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e)),
        };
        let name = field.name().unwrap_or_default().to_string();
        let limit = match name.as_str() {
            "document" | "selfie" => max_file,
            "video" => max_video,
            _ => MAX_FIELD_BYTES,
        };
        let mut field = field;
        let mut buf = BytesMut::new();
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    if buf.len() + chunk.len() > limit {
                        return Err(ApiError::detail(
                            ErrorCode::PartTooLarge,
                            format!("part `{name}` exceeds its limit of {limit} bytes"),
                        ));
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(multipart_error(e)),
            }
        }
        let bytes = buf.freeze();
        let text = || {
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                ApiError::detail(
                    ErrorCode::InvalidField,
                    format!("`{name}` must be UTF-8 text"),
                )
            })
        };
        let upload = || Upload {
            sha256: hex::encode(Sha256::digest(&bytes)),
            bytes: bytes.clone(),
        };
        match name.as_str() {
            "subject_ref" => sub.subject_ref = Some(text()?),
            "consent_ref" => sub.consent_ref = Some(text()?),
            "purpose" => sub.purpose = Some(text()?),
            "external_ref" => sub.external_ref = Some(text()?),
            "challenge_id" => sub.challenge_id = Some(text()?),
            "document" => sub.document = Some(upload()),
            "selfie" => sub.selfie = Some(upload()),
            "video" => sub.video = Some(upload()),
            other => {
                return Err(ApiError::detail(
                    ErrorCode::InvalidField,
                    format!("unknown part `{other}`"),
                ));
            }
        }
    }
    Ok(sub)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::BodyTooLarge)
    } else {
        ApiError::detail(ErrorCode::MalformedMultipart, e.body_text())
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

/// Verify that the face on an ID document is the face in a selfie, or in a liveness video.
///
/// Multipart parts: `document` (JPEG, PNG or WebP) and either `selfie` (a still photo) or `video` (MP4
/// with H.264, or WebM with VP8/VP9) with `challenge_id` (from `POST /v1/challenges`, used once) and,
/// optionally, the still `selfie` taken with it; fields `subject_ref`, `consent_ref`, `purpose`, optional
/// `external_ref`. The consent is checked before any biometric processing. `Prefer: respond-async`
/// answers 202 at once; `Idempotency-Key` makes retries safe.
#[utoipa::path(post, path = "/v1/verifications", tag = "verifications",
    request_body(content_type = "multipart/form-data", content = String, description = "document, selfie and/or video with challenge_id, subject_ref, consent_ref, purpose, external_ref"),
    params(("Idempotency-Key" = Option<String>, Header), ("Prefer" = Option<String>, Header, description = "respond-async")),
    responses((status = 200, body = VerificationView), (status = 202, body = VerificationView), (status = "4XX", body = super::error::Problem)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Submitter])?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::detail(
            ErrorCode::UnsupportedMediaType,
            format!("expected multipart/form-data: {e}"),
        )
    })?;
    let sub = read_submission(&mut multipart, &state).await?;

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
        &state,
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
    let (document, capture) = sub.uploads()?;
    let request = NewVerification {
        org: caller.org.clone(),
        actor: caller.actor(),
        subject,
        consent,
        purpose,
        external_ref,
        document,
        capture,
        idempotency_key: idempotency_key(&headers)?,
        asynchronous: prefers_async(&headers),
        capture_link: None,
    };
    let row = accept(&state, request).await?;
    respond(&row, &subject_ref)
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
    pub subject: SubjectKey,
    pub consent: ConsentRow,
    pub purpose: Purpose,
    pub external_ref: Option<String>,
    pub document: Upload,
    pub capture: CaptureUploads,
    pub idempotency_key: Option<String>,
    pub asynchronous: bool,
    /// Submitted through this capture link, which accepting it uses up.
    pub capture_link: Option<String>,
}

/// The `Idempotency-Key` header, when sent: 1–255 visible characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .map(str::to_string)
                .ok_or_else(|| {
                    ApiError::detail(
                        ErrorCode::InvalidRequest,
                        "Idempotency-Key must be 1-255 visible characters",
                    )
                })
        })
        .transpose()
}

/// Accepts a checked request: answers a retry with the earlier result, uses up the challenge a video
/// answers, seals the uploads under the subject's key, then queues the job (asynchronous) or evaluates
/// and records the decision. Returns the verification as stored.
pub async fn accept(state: &AppState, req: NewVerification) -> Result<VerificationRow, ApiError> {
    let NewVerification {
        org,
        actor,
        subject,
        consent,
        purpose,
        external_ref,
        document,
        capture,
        idempotency_key,
        asynchronous,
        capture_link,
    } = req;
    let (selfie, video, challenge_id) = match &capture {
        CaptureUploads::Selfie(selfie) => (Some(selfie), None, None),
        CaptureUploads::Video {
            video,
            still,
            challenge_id,
        } => (still.as_ref(), Some(video), Some(challenge_id.as_str())),
    };
    let digests = InputDigests {
        document: document.sha256.clone(),
        selfie: selfie.map(|u| u.sha256.clone()),
        video: video.map(|u| u.sha256.clone()),
    };
    let digest = request_digest(
        &[
            &subject.subject_id,
            &consent.consent_ref,
            purpose.as_str(),
            external_ref.as_deref().unwrap_or(""),
            challenge_id.unwrap_or(""),
        ],
        &[
            &digests.document,
            digests.selfie.as_deref().unwrap_or(""),
            digests.video.as_deref().unwrap_or(""),
        ],
    );
    if let Some(key) = &idempotency_key {
        if let Some(existing) = state.store.find_by_idempotency_key(&org, key).await? {
            return replay(existing, &digest);
        }
    }
    if asynchronous {
        precheck(
            state,
            document.bytes.clone(),
            selfie.map(|s| s.bytes.clone()),
            video.map(|v| v.bytes.clone()),
        )
        .await?;
    }
    let now = now_ms();
    // Used up now, before any processing: a challenge is answered once, whatever the outcome.
    let challenge = match challenge_id {
        Some(id) => {
            let row = state
                .store
                .take_challenge(&org, id, now, capture_link.as_deref())
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::ChallengeInvalid))?;
            Some(TakenChallenge::from_row(&row)?)
        }
        None => None,
    };

    let row = VerificationRow {
        id: new_id("ver"),
        org: org.clone(),
        subject_id: subject.subject_id.clone(),
        consent_ref: consent.consent_ref.clone(),
        purpose: purpose.as_str().into(),
        external_ref,
        status: VerificationStatus::Pending,
        idempotency_key: idempotency_key.clone(),
        request_digest: digest.clone(),
        decision: None,
        record: None,
        error_code: None,
        created_at: now,
        decided_at: None,
        retention_until: None,
    };
    let requested = NewAudit {
        at: now,
        org: org.clone(),
        actor,
        event: "verification.requested",
        entity: row.id.clone(),
        subject_digest: Some(subject.subject_id.clone()),
        details: json!({
            "consent_ref": consent.consent_ref, "purpose": purpose,
            "mode": if asynchronous { "async" } else { "sync" },
            "capture": if video.is_some() { "video" } else { "selfie" },
            "challenge_id": challenge_id, "capture_link": capture_link,
            "input_digests": digests,
        }),
    };

    // The uploads are kept sealed under the subject's key: for the job, then for review until the
    // retention period of the purpose ends.
    let uploads = [
        (MediaKind::Document, Some(&document)),
        (MediaKind::Selfie, selfie),
        (MediaKind::Video, video),
    ];
    let inputs_sealed: Vec<MediaRow> = uploads
        .iter()
        .filter_map(|(kind, upload)| {
            upload.map(|u| seal_media(&subject, &row, *kind, Some(u.sha256.clone()), &u.bytes))
        })
        .collect();
    if asynchronous {
        let enqueued = state
            .store
            .enqueue_verification(
                &row,
                &inputs_sealed,
                &requested,
                challenge_id,
                capture_link.as_deref(),
            )
            .await;
        return match enqueued {
            Ok(()) => {
                state.jobs_ready.notify_one();
                Ok(row)
            }
            Err(StoreError::CaptureLinkTaken) => Err(ApiError::new(ErrorCode::CaptureLinkUsed)),
            Err(StoreError::DuplicateIdempotencyKey) => {
                concurrent_duplicate(state, &org, idempotency_key.as_deref(), &digest).await
            }
            Err(e) => Err(e.into()),
        };
    }

    let permit = state.admission.enter().await?;
    let inputs = Inputs {
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
    let mut media = inputs_sealed;
    media.extend(seal_embeddings(
        &subject,
        &row,
        &evaluated.verification.embeddings,
    ));
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
            concurrent_duplicate(state, &org, idempotency_key.as_deref(), &digest).await
        }
        Err(e) => Err(e.into()),
    }
}

fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

/// A retry with a known Idempotency-Key: the stored verification if it is the same request (the
/// digest covers the subject).
fn replay(existing: VerificationRow, digest: &str) -> Result<VerificationRow, ApiError> {
    if existing.request_digest != digest {
        return Err(ApiError::new(ErrorCode::IdempotencyKeyReused));
    }
    Ok(existing)
}

/// Two requests with one Idempotency-Key raced and the other one was stored first.
async fn concurrent_duplicate(
    state: &AppState,
    org: &str,
    key: Option<&str>,
    digest: &str,
) -> Result<VerificationRow, ApiError> {
    let existing = match key {
        Some(k) => state.store.find_by_idempotency_key(org, k).await?,
        None => None,
    };
    match existing {
        Some(v) => replay(v, digest),
        None => Err(ApiError::new(ErrorCode::IdempotencyConflict).retry_after(1)),
    }
}

/// A verification of your organisation, with its decision record once decided.
#[utoipa::path(get, path = "/v1/verifications/{id}", tag = "verifications",
    params(("id" = String, Path)),
    responses((status = 200, body = VerificationView), (status = 404, body = super::error::Problem)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<VerificationView>, ApiError> {
    caller.require(&[Role::Submitter, Role::Reviewer, Role::Auditor])?;
    let row = state
        .store
        .get_verification(&caller.org, &id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let subject_ref = state
        .vault
        .subject_ref(&state.store, &row.subject_id)
        .await?;
    Ok(Json(VerificationView::new(&row, subject_ref)?))
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

    #[test]
    fn prefer_header_parsing() {
        let mut h = HeaderMap::new();
        assert!(!prefers_async(&h));
        h.insert("prefer", HeaderValue::from_static("wait=10, respond-async"));
        assert!(prefers_async(&h));
    }
}
