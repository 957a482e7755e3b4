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
use super::process::{decide_and_record, evaluate, seal_embeddings, seal_media, Inputs};
use super::record::DecisionRecord;
use super::state::AppState;
use super::{bounded_text, rfc3339};
use crate::domain::{Purpose, Role};
use crate::store::{now_ms, NewAudit, StoreError, VerificationRow};

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
struct Submission {
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
            status: v.status.clone(),
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
    if v.status == "pending" {
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
async fn read_submission(
    multipart: &mut Multipart,
    max_file: usize,
    max_video: usize,
) -> Result<Submission, ApiError> {
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

/// Verify that the face on an ID document is the face in a selfie.
///
/// Multipart parts: `document` and `selfie` files (JPEG, PNG or WebP); fields `subject_ref`,
/// `consent_ref`, `purpose`, optional `external_ref`. The consent is checked before any biometric
/// processing. `Prefer: respond-async` answers 202 at once; `Idempotency-Key` makes retries safe.
#[utoipa::path(post, path = "/v1/verifications", tag = "verifications",
    request_body(content_type = "multipart/form-data", content = String, description = "document, selfie, subject_ref, consent_ref, purpose, external_ref"),
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
    let limits = &state.settings.limits;
    let sub = read_submission(&mut multipart, limits.max_bytes as usize, 50 << 20).await?;

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
    if sub.video.is_some() || sub.challenge_id.is_some() {
        return Err(ApiError::new(ErrorCode::VideoNotSupported));
    }
    let (Some(document), Some(selfie)) = (sub.document, sub.selfie) else {
        return Err(ApiError::detail(
            ErrorCode::InvalidField,
            "both `document` and `selfie` files are required",
        ));
    };

    let idempotency_key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 255)
        })
        .map(|k| {
            k.ok_or_else(|| {
                ApiError::detail(
                    ErrorCode::InvalidRequest,
                    "Idempotency-Key must be 1-255 visible characters",
                )
            })
        })
        .transpose()?
        .map(str::to_string);
    let digest = request_digest(
        &[
            &subject_ref,
            &consent.consent_ref,
            purpose.as_str(),
            external_ref.as_deref().unwrap_or(""),
        ],
        &[&document.sha256, &selfie.sha256],
    );
    if let Some(key) = &idempotency_key {
        if let Some(existing) = state
            .store
            .find_by_idempotency_key(&caller.org, key)
            .await?
        {
            return replay(&existing, &digest, &subject_ref);
        }
    }

    let now = now_ms();
    let row = VerificationRow {
        id: new_id("ver"),
        org: caller.org.clone(),
        subject_id: subject.subject_id.clone(),
        consent_ref: consent.consent_ref.clone(),
        purpose: purpose.as_str().into(),
        external_ref,
        status: "pending".into(),
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
        org: caller.org.clone(),
        actor: caller.actor(),
        event: "verification.requested",
        entity: row.id.clone(),
        subject_digest: Some(subject.subject_id.clone()),
        details: json!({
            "consent_ref": consent.consent_ref, "purpose": purpose, "mode": if prefers_async(&headers) { "async" } else { "sync" },
            "input_digests": {"document": document.sha256, "selfie": selfie.sha256},
        }),
    };

    // The uploads are kept sealed under the subject's key: for the job, then for review until the
    // retention period of the purpose ends.
    let inputs_sealed = vec![
        seal_media(
            &subject,
            &row,
            "document",
            Some(document.sha256.clone()),
            &document.bytes,
        ),
        seal_media(
            &subject,
            &row,
            "selfie",
            Some(selfie.sha256.clone()),
            &selfie.bytes,
        ),
    ];
    if prefers_async(&headers) {
        return match state
            .store
            .enqueue_verification(&row, &inputs_sealed, &requested)
            .await
        {
            Ok(()) => {
                state.jobs_ready.notify_one();
                respond(&row, &subject_ref)
            }
            Err(StoreError::Conflict(_)) => {
                concurrent_duplicate(
                    &state,
                    &caller.org,
                    idempotency_key.as_deref(),
                    &digest,
                    &subject_ref,
                )
                .await
            }
            Err(e) => Err(e.into()),
        };
    }

    let permit = state.admission.enter().await?;
    let inputs = Inputs {
        document: document.bytes,
        selfie: selfie.bytes,
    };
    let verification = evaluate(&state, inputs, permit).await?;
    let mut media = inputs_sealed;
    media.extend(seal_embeddings(&subject, &row, &verification.embeddings));
    match decide_and_record(
        &state,
        row,
        &consent,
        &verification,
        &[document.sha256, selfie.sha256],
        media,
        Some(requested),
    )
    .await
    {
        Ok(recorded) => respond(&recorded, &subject_ref),
        Err(StoreError::Conflict(_)) => {
            concurrent_duplicate(
                &state,
                &caller.org,
                idempotency_key.as_deref(),
                &digest,
                &subject_ref,
            )
            .await
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

/// A retry with a known Idempotency-Key: the stored result if it is the same request (which names the
/// same subject, as the digest covers the reference).
fn replay(
    existing: &VerificationRow,
    digest: &str,
    subject_ref: &str,
) -> Result<Response, ApiError> {
    if existing.request_digest != digest {
        return Err(ApiError::new(ErrorCode::IdempotencyKeyReused));
    }
    respond(existing, subject_ref)
}

/// Two requests with one Idempotency-Key raced and the other one was stored first.
async fn concurrent_duplicate(
    state: &AppState,
    org: &str,
    key: Option<&str>,
    digest: &str,
    subject_ref: &str,
) -> Result<Response, ApiError> {
    let existing = match key {
        Some(k) => state.store.find_by_idempotency_key(org, k).await?,
        None => None,
    };
    match existing {
        Some(v) => replay(&v, digest, subject_ref),
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
