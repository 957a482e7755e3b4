//! Remote invigilation sessions: during an online assessment the invigilation system posts a webcam
//! frame every few seconds; each is checked against the template the candidate enrolled with (held,
//! sealed, once per session). A sustained anomaly (no face, several faces, another person) opens one
//! review case with the frames as evidence. Nothing here ends or fails an assessment: flags go to a
//! person. No emotion or behaviour is inferred.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::bounded_text;
use super::caller::Caller;
use super::consents::check_consent;
use super::error::{ApiError, ErrorCode};
use super::process::media_context;
use super::reviews::submitted_by;
use super::state::AppState;
use crate::domain::clock::rfc3339;
use crate::domain::token::new_id;
use crate::domain::{
    ConsentStatus, Decision, MediaKind, Purpose, ReviewKind, ReviewOutcome, ReviewStatus, Role,
    SessionStatus, VerificationStatus,
};
use crate::media::image::decode_image;
use crate::pipeline::invigilation::{check_frame, sustained, Anomaly, FrameCheck};
use crate::pipeline::FaceAnalyzer;
use crate::store::{ConsentRow, MediaRow, NewAudit, ReviewCaseRow, SessionRow, StoreError};
use crate::vault::SubjectKey;
use crate::vision::embed::Embedding;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// 1-128 printable characters, not only spaces (surrounding spaces are dropped).
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub subject_ref: String,
    /// A consent (or other recorded basis) of the subject for `remote_invigilation`.
    pub consent_ref: String,
    /// The subject's enrolment: a `verified` decision, or one a reviewer resolved as `confirmed_match`.
    pub reference_verification_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct FrameView {
    pub seq: i64,
    pub at: String,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub check: FrameCheck,
    /// The frame is kept (sealed) as evidence of an anomaly.
    pub evidence: bool,
}

#[derive(Serialize, ToSchema)]
pub struct FrameResponse {
    pub seq: i64,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub check: FrameCheck,
    /// The session's review case, once a sustained anomaly opened it.
    pub review_case_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub subject_ref: Option<String>,
    pub consent_ref: String,
    pub reference_verification_id: String,
    /// `open` or `closed`.
    pub status: String,
    pub created_at: String,
    pub closed_at: Option<String>,
    pub review_case_id: Option<String>,
    /// Every frame checked, in order.
    pub frames: Vec<FrameView>,
    #[schema(value_type = Option<Object>)]
    pub summary: Option<Value>,
}

fn session_context(id: &str) -> String {
    format!("invigilation_template\n{id}")
}

/// Start a session against a verified enrolment.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    body: NewSession,
) -> Result<SessionView, ApiError> {
    caller.require(&[Role::Submitter])?;
    let subject_ref = bounded_text("subject_ref", &body.subject_ref, 128)?;
    let consent = check_consent(
        state,
        &caller.org,
        Some(&body.consent_ref),
        &subject_ref,
        Purpose::RemoteInvigilation,
    )
    .await?;
    let key = subject_key(state, &consent.subject_id).await?;
    let reference = state
        .store
        .get_verification(&caller.org, &body.reference_verification_id)
        .await?
        .filter(|v| v.subject_id == consent.subject_id)
        .ok_or_else(|| {
            ApiError::detail(
                ErrorCode::ReferenceNotVerified,
                "no verification of this subject with that id",
            )
        })?;
    let verified = reference.decision.as_deref() == Some(Decision::Verified.as_str());
    let confirmed = match reference
        .record
        .as_deref()
        .map(serde_json::from_str::<Value>)
    {
        Some(Ok(r)) => match r["review_case_id"].as_str() {
            Some(case) => state
                .store
                .get_review(&caller.org, case)
                .await?
                .is_some_and(|c| {
                    c.outcome.as_deref() == Some(ReviewOutcome::ConfirmedMatch.as_str())
                        && !c
                            .resolved_by
                            .as_deref()
                            .is_some_and(|by| submitted_by(&reference, by))
                }),
            None => false,
        },
        _ => false,
    };
    if reference.status != VerificationStatus::Decided || !(verified || confirmed) {
        return Err(ApiError::detail(
            ErrorCode::ReferenceNotVerified,
            "the reference must be a verified decision or a confirmed match by a reviewer other than its submitter",
        ));
    }
    // The enrolled template: the live face of the reference (its selfie), else its document face.
    let media = state.store.verification_media(&reference.id).await?;
    let template = [MediaKind::SelfieEmbedding, MediaKind::DocumentEmbedding]
        .iter()
        .find_map(|kind| media.iter().find(|m| m.kind == *kind))
        .ok_or_else(|| {
            ApiError::detail(
                ErrorCode::ReferenceExpired,
                "the reference's face template is no longer held (retention); verify again",
            )
        })?;
    let plain = key.open(&media_context(&template.id), &template.sealed)?;
    let now = state.clock.now_ms();
    let id = new_id("inv");
    let row = SessionRow {
        template_sealed: Some(key.seal(&session_context(&id), &plain)),
        id,
        org: caller.org.clone(),
        subject_id: consent.subject_id.clone(),
        consent_ref: consent.consent_ref.clone(),
        reference_verification_id: reference.id.clone(),
        status: SessionStatus::Open,
        key_id: key.key_id.clone(),
        review_case_id: None,
        created_at: now,
        closed_at: None,
        summary: None,
    };
    let audit = NewAudit {
        subject_digest: Some(row.subject_id.clone()),
        details: json!({"consent_ref": row.consent_ref, "reference_verification_id": row.reference_verification_id}),
        ..caller.audit(now, "invigilation.started", row.id.clone())
    };
    state.store.create_session(&row, &audit).await?;
    view(&row, Some(subject_ref), Vec::new())
}

/// The subject's key, refusing a restricted or erased subject.
async fn subject_key(state: &AppState, subject_id: &str) -> Result<SubjectKey, ApiError> {
    let key = state
        .vault
        .subject_key(&state.store, subject_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::SubjectErased))?;
    if key.restricted_at.is_some() {
        return Err(ApiError::new(ErrorCode::ProcessingRestricted));
    }
    Ok(key)
}

pub(crate) fn view(
    s: &SessionRow,
    subject_ref: Option<String>,
    frames: Vec<FrameView>,
) -> Result<SessionView, ApiError> {
    Ok(SessionView {
        id: s.id.clone(),
        subject_ref,
        consent_ref: s.consent_ref.clone(),
        reference_verification_id: s.reference_verification_id.clone(),
        status: s.status.to_string(),
        created_at: rfc3339(s.created_at),
        closed_at: s.closed_at.map(rfc3339),
        review_case_id: s.review_case_id.clone(),
        frames,
        summary: s
            .summary
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(ApiError::internal)?,
    })
}

async fn open_session(state: &AppState, caller: &Caller, id: &str) -> Result<SessionRow, ApiError> {
    let session = state
        .store
        .get_session(&caller.org, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    if session.status != SessionStatus::Open {
        return Err(ApiError::new(ErrorCode::SessionClosed));
    }
    Ok(session)
}

/// Decodes a webcam frame and checks it against the enrolled template, on the blocking pool under
/// admission.
async fn check_against(
    state: &AppState,
    image: Bytes,
    template: Embedding,
) -> Result<FrameCheck, ApiError> {
    let settings = state.settings.clone();
    let engine = state.engine.clone();
    let limit = std::time::Duration::from_secs(settings.service.request_timeout_secs);
    state
        .admission
        .run_blocking(limit, move || {
            let frame = decode_image(&image, &settings.limits).map_err(ApiError::from)?;
            let analyzer = FaceAnalyzer::new(&engine, settings.detector);
            check_frame(
                &analyzer,
                &frame,
                &template,
                &settings.matching,
                &settings.quality,
                &settings.invigilation,
            )
            .map_err(ApiError::internal)
        })
        .await
}

/// An anomalous frame, sealed under the subject's key as evidence for the reviewer.
fn evidence_row(
    session: &SessionRow,
    consent: &ConsentRow,
    key: &SubjectKey,
    image: &[u8],
    now: i64,
) -> MediaRow {
    let media_id = new_id("med");
    MediaRow {
        sealed: key.seal(&media_context(&media_id), image),
        id: media_id,
        org: session.org.clone(),
        subject_id: session.subject_id.clone(),
        key_id: key.key_id.clone(),
        verification_id: None,
        consent_ref: consent.consent_ref.clone(),
        purpose: consent.purpose.clone(),
        kind: MediaKind::InvigilationFrame,
        class: MediaKind::InvigilationFrame.class(),
        sha256: None,
        created_at: now,
    }
}

/// A sustained anomaly: the session's one review case, and the audit entry that says why.
fn flag(
    state: &AppState,
    session: &SessionRow,
    anomaly: Anomaly,
    reasons: &[String],
    now: i64,
) -> (ReviewCaseRow, NewAudit) {
    let case = ReviewCaseRow {
        id: new_id("rev"),
        org: session.org.clone(),
        verification_id: session.reference_verification_id.clone(),
        purpose: Purpose::RemoteInvigilation.as_str().into(),
        status: ReviewStatus::Open,
        kind: ReviewKind::Invigilation,
        invigilation_session_id: Some(session.id.clone()),
        reasons: serde_json::to_string(reasons).expect("serialisable"),
        created_at: now,
        outcome: None,
        outcome_reason: None,
        resolved_by: None,
        resolved_at: None,
    };
    let audit = NewAudit {
        at: now,
        org: session.org.clone(),
        actor: "system".into(),
        event: "invigilation.flagged",
        entity: session.id.clone(),
        subject_digest: Some(session.subject_id.clone()),
        details: json!({"anomaly": anomaly.as_str(), "review_case_id": case.id,
                        "frames": state.settings.invigilation.sustained_frames}),
    };
    (case, audit)
}

/// Check one webcam frame (the image as the request body: JPEG, PNG or WebP).
pub async fn frame(
    state: &AppState,
    caller: &Caller,
    id: &str,
    content_type: &str,
    body: Bytes,
) -> Result<FrameResponse, ApiError> {
    caller.require(&[Role::Submitter])?;
    if !(content_type.starts_with("image/") || content_type == "application/octet-stream") {
        return Err(ApiError::detail(
            ErrorCode::UnsupportedMediaType,
            "send the frame as the body, Content-Type image/jpeg, image/png or image/webp",
        ));
    }
    let session = open_session(state, caller, id).await?;
    // The consent may have been withdrawn, or processing restricted, since the session started.
    let consent = state
        .store
        .get_consent(&caller.org, &session.consent_ref)
        .await?
        .filter(|c| c.status == ConsentStatus::Active)
        .ok_or_else(|| ApiError::new(ErrorCode::ConsentWithdrawn))?;
    let key = subject_key(state, &session.subject_id).await?;
    let template = session
        .template_sealed
        .as_deref()
        .ok_or_else(|| ApiError::new(ErrorCode::SessionClosed))?;
    let template = Embedding::from_le_bytes(&key.open(&session_context(&session.id), template)?)
        .ok_or_else(|| ApiError::internal("a session template of the wrong length"))?;
    let check = check_against(state, body.clone(), template).await?;

    let now = state.clock.now_ms();
    let mut history: Vec<Option<Anomaly>> = state
        .store
        .session_frames(&session.id)
        .await?
        .iter()
        .map(|f| {
            serde_json::from_str::<FrameCheck>(&f.result)
                .ok()
                .and_then(|c| c.anomaly)
        })
        .collect();
    history.push(check.anomaly);
    let run = sustained(&history, state.settings.invigilation.sustained_frames);
    // An anomalous frame is kept, sealed, as evidence for the reviewer; a normal one is not kept.
    let evidence = check
        .anomaly
        .map(|_| evidence_row(&session, &consent, &key, &body, now));
    let reasons_so_far = case_reasons(&history);
    let case = run.map(|anomaly| flag(state, &session, anomaly, &reasons_so_far, now));
    let reasons_json = serde_json::to_string(&reasons_so_far).expect("serialisable");
    let result = serde_json::to_string(&check).expect("serialisable");
    let (seq, review_case_id) = match state
        .store
        .add_frame(
            &session.id,
            now,
            &result,
            evidence.as_ref(),
            case.as_ref().map(|(c, a)| (c, a)),
            check.anomaly.map(|_| reasons_json.as_str()),
        )
        .await
    {
        Ok(done) => done,
        Err(e @ (StoreError::SessionClosed | StoreError::FrameInProgress)) => {
            return Err(ApiError::detail(ErrorCode::SessionBusy, e.to_string()).retry_after(1))
        }
        Err(e) => return Err(e.into()),
    };
    metrics::counter!("idv_invigilation_frames_total", "anomaly" => check.anomaly.map_or("none", |a| a.as_str()))
        .increment(1);
    Ok(FrameResponse {
        seq,
        check,
        review_case_id,
    })
}

/// The reason codes of a session's case: each kind of anomaly seen so far, in order of first sight (pure).
pub fn case_reasons(history: &[Option<Anomaly>]) -> Vec<String> {
    let mut reasons: Vec<String> = Vec::new();
    for a in history.iter().flatten() {
        let code = format!("invigilation_{}", a.as_str());
        if !reasons.contains(&code) {
            reasons.push(code);
        }
    }
    reasons
}

/// The session's timeline: every frame's result, in order, and its review case.
pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<SessionView, ApiError> {
    caller.require(&[Role::Submitter, Role::Reviewer, Role::Auditor])?;
    let session = state
        .store
        .get_session(&caller.org, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let frames = timeline(state, &session.id).await?;
    answer(state, &session, frames).await
}

/// A session as answered, with its subject reference unsealed (absent once erased).
async fn answer(
    state: &AppState,
    session: &SessionRow,
    frames: Vec<FrameView>,
) -> Result<SessionView, ApiError> {
    let subject_ref = state
        .vault
        .subject_ref(&state.store, &session.subject_id)
        .await?;
    view(session, subject_ref, frames)
}

pub(crate) async fn timeline(
    state: &AppState,
    session_id: &str,
) -> Result<Vec<FrameView>, ApiError> {
    state
        .store
        .session_frames(session_id)
        .await?
        .into_iter()
        .map(|f| {
            Ok(FrameView {
                seq: f.seq,
                at: rfc3339(f.at),
                check: serde_json::from_str(&f.result).map_err(ApiError::internal)?,
                evidence: f.media_id.is_some(),
            })
        })
        .collect()
}

/// A summary of a timeline (pure): frames checked, anomalous frames by kind, frames looking away.
pub fn summarise(frames: &[FrameView], review_case_id: Option<&str>) -> Value {
    let count = |a: Anomaly| frames.iter().filter(|f| f.check.anomaly == Some(a)).count();
    json!({
        "frames": frames.len(),
        "same_person": frames.iter().filter(|f| f.check.same_person == Some(true)).count(),
        "anomalies": {
            "no_face": count(Anomaly::NoFace),
            "multiple_faces": count(Anomaly::MultipleFaces),
            "different_person": count(Anomaly::DifferentPerson),
        },
        "looking_away": frames.iter().filter(|f| f.check.looking_away == Some(true)).count(),
        "review_case_id": review_case_id,
    })
}

/// Close the session: its summary is recorded and the template dropped.
pub async fn close(state: &AppState, caller: &Caller, id: &str) -> Result<SessionView, ApiError> {
    caller.require(&[Role::Submitter])?;
    let session = open_session(state, caller, id).await?;
    let frames = timeline(state, &session.id).await?;
    let summary = summarise(&frames, session.review_case_id.as_deref());
    let audit = NewAudit {
        subject_digest: Some(session.subject_id.clone()),
        details: summary.clone(),
        ..caller.audit(
            state.clock.now_ms(),
            "invigilation.closed",
            session.id.clone(),
        )
    };
    if !state
        .store
        .close_session(&caller.org, id, &summary.to_string(), &audit)
        .await?
    {
        return Err(ApiError::new(ErrorCode::SessionClosed));
    }
    let closed = state
        .store
        .get_session(&caller.org, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    answer(state, &closed, frames).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_reasons_name_each_kind_once_in_order() {
        use Anomaly::*;
        let h = [
            None,
            Some(DifferentPerson),
            Some(DifferentPerson),
            None,
            Some(NoFace),
            Some(DifferentPerson),
        ];
        assert_eq!(
            case_reasons(&h),
            ["invigilation_different_person", "invigilation_no_face"]
        );
        assert!(case_reasons(&[None, None]).is_empty());
    }
}
