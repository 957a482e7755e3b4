//! Evaluating a verification and recording its decision: shared by the synchronous handler and the
//! job workers.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;

use super::admission::run_blocking_with;
use super::error::ApiError;
use super::record::{
    build_record, document_record, liveness_record, DecisionRecord, InputDigests, LivenessRecord,
};
use super::state::AppState;
use crate::document::identity::DeclaredIdentity;
use crate::domain::clock::rfc3339;
use crate::domain::token::new_id;
use crate::domain::{Decision, MediaKind, Purpose, ReviewKind, ReviewStatus, VerificationStatus};
use crate::liveness::{Schedule, ScheduleConfig};
use crate::media::image::decode_image;
use crate::media::video::decode_video;
use crate::pipeline::document_check::{examine_document, DocumentExamination};
use crate::pipeline::liveness::{check_video, FrameAnalyzer, LivenessError};
use crate::pipeline::verify::{verify, verify_capture, Verification};
use crate::pipeline::FaceAnalyzer;
use crate::store::{
    now_ms, ConsentRow, JobOutcome, MediaRow, NewAudit, ReviewCaseRow, StoreError, VerificationRow,
};
use crate::vault::SubjectKey;

/// What a sealed item is bound to: its own row, so it cannot be moved to another.
pub fn media_context(media_id: &str) -> String {
    format!("media\n{media_id}")
}

/// Seals one biometric item of a verification under its subject's data key.
pub fn seal_media(
    key: &SubjectKey,
    row: &VerificationRow,
    kind: MediaKind,
    sha256: Option<String>,
    plaintext: &[u8],
) -> MediaRow {
    let id = new_id("med");
    MediaRow {
        sealed: key.seal(&media_context(&id), plaintext),
        id,
        org: row.org.clone(),
        subject_id: row.subject_id.clone(),
        key_id: key.key_id.clone(),
        verification_id: Some(row.id.clone()),
        consent_ref: row.consent_ref.clone(),
        purpose: row.purpose.clone(),
        kind,
        class: kind.class(),
        sha256,
        created_at: now_ms(),
    }
}

/// What a decision derived from the inputs, sealed for keeping: the faces' embeddings (review,
/// invigilation) and what was read from the document's MRZ (review, the subject's export).
pub fn seal_derived(
    key: &SubjectKey,
    row: &VerificationRow,
    evaluated: &Evaluated,
) -> Vec<MediaRow> {
    let e = &evaluated.verification.embeddings;
    let embeddings = [
        (MediaKind::DocumentEmbedding, &e.document),
        (MediaKind::SelfieEmbedding, &e.selfie),
    ]
    .into_iter()
    .filter_map(|(kind, emb)| {
        emb.as_ref()
            .map(|emb| seal_media(key, row, kind, None, &emb.to_le_bytes()))
    });
    let document = evaluated
        .document
        .as_ref()
        .and_then(DocumentExamination::sealed_data)
        .map(|data| {
            let json = serde_json::to_vec(&data).expect("serialisable");
            seal_media(key, row, MediaKind::DocumentData, None, &json)
        });
    embeddings.chain(document).collect()
}

/// The inputs of one verification. Biometric and personal: never printed.
pub struct Inputs {
    pub document: Bytes,
    pub capture: Capture,
    /// What the applicant declared, to compare with the document's machine-readable zone.
    pub declared: Option<DeclaredIdentity>,
}

/// What shows the person beside their document.
pub enum Capture {
    /// A still selfie.
    Selfie(Bytes),
    /// A liveness video answering a challenge, and the still selfie taken with it when one was sent.
    Video {
        video: Bytes,
        still: Option<Bytes>,
        challenge: TakenChallenge,
    },
}

/// A challenge used up by the verification that answers it.
#[derive(Debug, Clone)]
pub struct TakenChallenge {
    pub id: String,
    pub schedule: Schedule,
}

impl TakenChallenge {
    /// From its stored row: the schedule as issued, or the plain action list of a challenge stored
    /// before schedules (untimed actions, so no window applies).
    pub fn from_row(row: &crate::store::ChallengeRow) -> Result<Self, ApiError> {
        let schedule = Schedule::from_stored(&row.actions, ScheduleConfig::default().window_s)
            .map_err(ApiError::internal)?;
        Ok(TakenChallenge {
            id: row.id.clone(),
            schedule,
        })
    }
}

/// An evaluated verification: the comparison, for a video its liveness check, and the document's
/// examination (its machine-readable zone read and checked) when `document.read_mrz` is on.
pub struct Evaluated {
    pub verification: Verification,
    pub liveness: Option<LivenessRecord>,
    pub document: Option<DocumentExamination>,
}

/// An input problem names its part: "document: …".
fn with_part(part: &str, mut err: ApiError) -> ApiError {
    err.detail = err.detail.map(|d| format!("{part}: {d}"));
    err
}

/// Checks the files of a request that will be evaluated later, before it is accepted: each image decodes
/// within its limits, and the video's container, codec and limits are readable up to its first frame. A
/// bad file is then refused at once with its code (and its challenge is not used up) instead of failing
/// in a job the client has already been told was accepted. On the blocking pool, under admission.
pub async fn precheck(
    state: &AppState,
    document: Bytes,
    selfie: Option<Bytes>,
    video: Option<Bytes>,
) -> Result<(), ApiError> {
    let settings = state.settings.clone();
    let limit = Duration::from_secs(settings.service.request_timeout_secs);
    state
        .admission
        .run_blocking(limit, move || {
            let image = |part: &str, bytes: &[u8]| {
                decode_image(bytes, &settings.limits)
                    .map(drop)
                    .map_err(|e| with_part(part, e.into()))
            };
            image("document", &document)?;
            selfie.map(|s| image("selfie", &s)).transpose()?;
            if let Some(video) = video {
                decode_video(
                    Vec::from(video),
                    &settings.video,
                    |_| ControlFlow::Break(()),
                )
                .map_err(|e| with_part("video", e.into()))?;
            }
            Ok(())
        })
        .await
}

/// Decodes and compares on the blocking pool (CPU work and model calls must not stall the runtime).
/// The admission `permit` travels with the work and is released when it ends, even when the caller
/// stopped waiting for it, so the bound on concurrent work holds. Input problems come back as their
/// error codes; anything else is internal.
pub async fn evaluate(
    state: &AppState,
    inputs: Inputs,
    permit: OwnedSemaphorePermit,
) -> Result<Evaluated, ApiError> {
    let engine = state.engine.clone();
    let settings = state.settings.clone();
    let limit = Duration::from_secs(settings.service.request_timeout_secs);
    let today = state.clock.today();
    run_blocking_with(permit, limit, move || {
        let started = Instant::now();
        let image = |part: &str, bytes: &[u8]| {
            decode_image(bytes, &settings.limits).map_err(|e| with_part(part, e.into()))
        };
        let document = image("document", &inputs.document)?;
        let analyzer = FaceAnalyzer::new(&engine, settings.detector);
        let (mut v, liveness) = match inputs.capture {
            Capture::Selfie(selfie) => {
                let selfie = image("selfie", &selfie)?;
                metrics::histogram!("idv_stage_seconds", "stage" => "decode")
                    .record(started.elapsed().as_secs_f64());
                let v = verify(
                    &analyzer,
                    &document,
                    &selfie,
                    &settings.matching,
                    &settings.quality,
                )
                .map_err(ApiError::internal)?;
                (v, None)
            }
            Capture::Video {
                video,
                still,
                challenge,
            } => {
                let still = still.map(|b| image("selfie", &b)).transpose()?;
                let report = check_video(
                    &FrameAnalyzer::new(&analyzer),
                    Vec::from(video),
                    &challenge.schedule,
                    &settings.video,
                    &settings.liveness,
                    &settings.quality,
                )
                .map_err(|e| match e {
                    LivenessError::Video(e) => with_part("video", e.into()),
                    LivenessError::Inference(e) => ApiError::internal(e),
                })?;
                for (stage, d) in [
                    ("video_decode", report.timings.decode),
                    ("video_analysis", report.timings.analysis),
                ] {
                    metrics::histogram!("idv_stage_seconds", "stage" => stage)
                        .record(d.as_secs_f64());
                }
                let c = verify_capture(
                    &analyzer,
                    &document,
                    report,
                    still.as_ref(),
                    &settings.matching,
                    &settings.quality,
                    settings.liveness.same_person_min,
                )
                .map_err(ApiError::internal)?;
                let record = liveness_record(
                    &c.liveness,
                    &challenge.id,
                    &challenge.schedule,
                    c.selfie_to_video,
                    &settings.liveness,
                );
                (c.verification, Some(record))
            }
        };
        for report in [&v.document, &v.selfie] {
            let t = &report.timings_ms;
            for (stage, d) in [
                ("detect", t.detect),
                ("landmarks", t.landmarks),
                ("align", t.align),
                ("embed", t.embed),
            ] {
                metrics::histogram!("idv_stage_seconds", "stage" => stage).record(d.as_secs_f64());
            }
        }
        let document = settings
            .document
            .read_mrz
            .then(|| {
                examine_document(
                    &engine,
                    &document,
                    &v.document,
                    inputs.declared.as_ref(),
                    today,
                    &settings.document.accept,
                )
            })
            .transpose()
            .map_err(ApiError::internal)?;
        if let Some(exam) = &document {
            metrics::histogram!("idv_stage_seconds", "stage" => "document")
                .record(exam.reading.timings.total_ms / 1000.0);
            v.reasons.extend(exam.reasons.iter().map(|r| r.to_string()));
        }
        metrics::histogram!("idv_verification_seconds").record(started.elapsed().as_secs_f64());
        Ok(Evaluated {
            verification: v,
            liveness,
            document,
        })
    })
    .await
}

/// Whether a decision opens a review case, and of which kind: every referral, and a share of verified
/// decisions drawn for quality control (`draw` is uniform in [0, 1)). Pure.
pub fn review_kind(decision: Decision, sample_share: f64, draw: f64) -> Option<ReviewKind> {
    match decision {
        Decision::Referred => Some(ReviewKind::Referred),
        Decision::Verified if draw < sample_share => Some(ReviewKind::Sample),
        Decision::Verified => None,
    }
}

/// What recording a decision writes: the row's final state, its review case, its audit entry.
pub struct Decided {
    pub outcome: JobOutcome,
    pub review: Option<ReviewCaseRow>,
    pub audit: NewAudit,
}

/// Builds the decision record of an evaluated verification (with its review case when referred).
pub fn decision_to_record(
    state: &AppState,
    row: &VerificationRow,
    consent: &ConsentRow,
    evaluated: &Evaluated,
    digests: InputDigests,
) -> Decided {
    let v = &evaluated.verification;
    let now = now_ms();
    let record_days = Purpose::parse(&row.purpose)
        .map(|p| state.settings.retention.policy(p).decision_record_days)
        .unwrap_or(0);
    let retention_until = now + record_days * 86_400_000;
    let models: Vec<(String, String)> = state
        .engine
        .model_ids()
        .iter()
        .map(|(kind, sha)| (kind.key().to_string(), sha.clone()))
        .collect();
    let mut review = None;
    let record: DecisionRecord = build_record(
        v,
        evaluated.liveness.clone(),
        evaluated.document.as_ref().map(document_record),
        &state.settings.quality,
        &models,
        &consent.lawful_basis,
        digests,
        rfc3339(now),
        rfc3339(retention_until),
        |decision| {
            let share = state.settings.review.sample_verified_share;
            review_kind(decision, share, rand::random::<f64>()).map(|kind| {
                let reasons = if kind == ReviewKind::Sample {
                    vec!["quality_control_sample".to_string()]
                } else {
                    v.reasons.clone()
                };
                let case = ReviewCaseRow {
                    id: new_id("rev"),
                    org: row.org.clone(),
                    verification_id: row.id.clone(),
                    purpose: row.purpose.clone(),
                    status: ReviewStatus::Open,
                    kind,
                    invigilation_session_id: None,
                    reasons: serde_json::to_string(&reasons).expect("serialisable"),
                    created_at: now,
                    outcome: None,
                    outcome_reason: None,
                    resolved_by: None,
                    resolved_at: None,
                };
                let id = case.id.clone();
                review = Some(case);
                id
            })
        },
    );
    metrics::counter!("idv_decisions_total", "decision" => record.decision.as_str(), "comparison" => v.outcome.as_str())
        .increment(1);
    let audit = NewAudit {
        at: now,
        org: row.org.clone(),
        actor: "system".into(),
        event: "verification.decided",
        entity: row.id.clone(),
        subject_digest: Some(row.subject_id.clone()),
        details: json!({
            "decision": record.decision, "comparison": record.comparison, "reasons": record.reasons,
            "similarity": record.scores.similarity, "policy_version": record.policy_version,
            "consent_ref": consent.consent_ref, "review_case_id": record.review_case_id,
            "liveness": record.liveness.as_ref().map(|l| json!({"verdict": l.verdict, "challenge_id": l.challenge_id})),
        }),
    };
    Decided {
        outcome: JobOutcome {
            status: VerificationStatus::Decided,
            decision: Some(record.decision.as_str().into()),
            record: Some(serde_json::to_string(&record).expect("serialisable")),
            error_code: None,
            decided_at: now,
            retention_until: Some(retention_until),
        },
        review,
        audit,
    }
}

/// Synchronous path: records the request, its decision, any review case and the sealed inputs and
/// embeddings in one transaction.
pub async fn decide_and_record(
    state: &AppState,
    mut row: VerificationRow,
    consent: &ConsentRow,
    evaluated: &Evaluated,
    digests: InputDigests,
    media: Vec<MediaRow>,
    requested: Option<NewAudit>,
) -> Result<VerificationRow, StoreError> {
    let d = decision_to_record(state, &row, consent, evaluated, digests);
    row.status = d.outcome.status;
    row.decision = d.outcome.decision.clone();
    row.record = d.outcome.record.clone();
    row.decided_at = Some(d.outcome.decided_at);
    row.retention_until = d.outcome.retention_until;
    let audits: Vec<NewAudit> = requested
        .into_iter()
        .chain(std::iter::once(d.audit))
        .collect();
    state
        .store
        .record_verification(&row, d.review.as_ref(), &media, &audits)
        .await?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_referral_and_a_share_of_verified_decisions_go_to_review() {
        assert_eq!(
            review_kind(Decision::Referred, 0.0, 0.99),
            Some(ReviewKind::Referred)
        );
        assert_eq!(review_kind(Decision::Verified, 0.0, 0.0), None);
        assert_eq!(
            review_kind(Decision::Verified, 0.05, 0.049),
            Some(ReviewKind::Sample)
        );
        assert_eq!(review_kind(Decision::Verified, 0.05, 0.05), None);
        assert_eq!(
            review_kind(Decision::Verified, 1.0, 0.999),
            Some(ReviewKind::Sample)
        );
    }
}
