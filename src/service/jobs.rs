//! Workers that take accepted asynchronous verifications from the jobs table. Several `idv serve`
//! processes on one PostgreSQL share the table; a job whose worker died is taken over when its lease
//! expires, and `Store::complete_job` records each decision exactly once.

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use super::error::ErrorCode;
use super::process::{
    decision_to_record, evaluate, media_context, seal_derived, Capture, Inputs, TakenChallenge,
};
use super::record::InputDigests;
use super::state::AppState;
use crate::domain::{ConsentStatus, MediaKind, Purpose, VerificationStatus};
use crate::store::{now_ms, ClaimedJob, JobOutcome, NewAudit, StoreError, VerificationRow};
use crate::vault::SubjectKey;

const IDLE_POLL: Duration = Duration::from_millis(250);
const INPUTS_MISSING: &str = "job inputs missing";

/// Takes and processes jobs until `shutdown` turns true.
pub async fn run_worker(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let lease = Duration::from_secs(state.settings.service.job_lease_secs.max(1));
    loop {
        if *shutdown.borrow() {
            return;
        }
        match state
            .store
            .claim_job(&state.instance_id, now_ms(), lease)
            .await
        {
            Ok(Some(job)) => {
                let id = job.verification_id.clone();
                let work = process_job(&state, job);
                if let Err(e) = renewing_lease(&state, &id, lease, work).await {
                    // The lease runs out and the job is taken again (by us or another server).
                    tracing::warn!(verification = %id, error = %e, "job not completed; it will be retried");
                }
            }
            Ok(None) => {
                tokio::select! {
                    _ = state.jobs_ready.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = shutdown.changed() => {}
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot claim jobs");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        if let Ok(n) = state.store.pending_jobs().await {
            metrics::gauge!("idv_queue_depth").set(n as f64);
        }
    }
}

/// Runs `work` on job `id` while renewing its lease every third of the lease, so a job that takes
/// longer than its lease (a long video on a busy machine) is not taken over by another server while
/// this one is still working on it; a worker that dies stops renewing, and its job is taken over.
async fn renewing_lease<F: std::future::Future>(
    state: &AppState,
    id: &str,
    lease: Duration,
    work: F,
) -> F::Output {
    let renew = async {
        let mut every = tokio::time::interval(lease / 3);
        every.tick().await; // the first tick is immediate: the lease was just taken
        loop {
            every.tick().await;
            let until = now_ms() + lease.as_millis() as i64;
            match state
                .store
                .renew_job_lease(id, &state.instance_id, until)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    // Taken over: the work goes on, and its completion is refused (`LeaseLost`).
                    tracing::warn!(verification = %id, "job lease lost while working on it");
                    return std::future::pending().await;
                }
                Err(e) => {
                    tracing::warn!(verification = %id, error = %e, "cannot renew a job lease")
                }
            }
        }
    };
    tokio::select! {
        out = work => out,
        never = renew => never,
    }
}

async fn process_job(state: &AppState, job: ClaimedJob) -> Result<(), StoreError> {
    let owner = state.instance_id.as_str();
    let Some(row) = state
        .store
        .get_verification_unscoped(&job.verification_id)
        .await?
    else {
        return Err(StoreError::JobInputs("job without verification"));
    };
    if job.attempts > state.settings.service.job_max_attempts {
        return end_failed(state, &row, "processing_failed").await;
    }
    // The consent is checked again: it may have been withdrawn while the job waited.
    let consent = match state.store.get_consent(&row.org, &row.consent_ref).await? {
        Some(c) if c.status == ConsentStatus::Active && Purpose::parse(&row.purpose).is_some() => c,
        _ => return end_failed(state, &row, ErrorCode::ConsentWithdrawn.code()).await,
    };
    // No key: the subject was erased while the job waited (erasure also deletes the job, so this is a
    // race); restricted: processing must stop. Either way the job ends without evaluation.
    let subject = match state.vault.subject_key(&state.store, &row.subject_id).await {
        Ok(Some(k)) if k.restricted_at.is_none() => k,
        Ok(Some(_)) => {
            return end_failed(state, &row, ErrorCode::ProcessingRestricted.code()).await
        }
        Ok(None) => return end_failed(state, &row, ErrorCode::SubjectErased.code()).await,
        Err(e) => return Err(StoreError::Keys(e.to_string())),
    };
    let (inputs, digests) = job_inputs(state, &row, &subject, job.challenge_id.as_deref()).await?;
    let permit = state.admission.enter_background().await;
    match evaluate(state, inputs, permit).await {
        Ok(evaluated) => {
            let d = decision_to_record(state, &row, &consent, &evaluated, digests);
            let derived = seal_derived(&subject, &row, &evaluated);
            state
                .store
                .complete_job(
                    &row.id,
                    owner,
                    &d.outcome,
                    d.review.as_ref(),
                    &derived,
                    &d.audit,
                )
                .await
        }
        Err(e) if e.code.status().is_client_error() => end_failed(state, &row, e.code.code()).await,
        Err(e) if e.code == ErrorCode::Timeout => Err(StoreError::JobTimedOut),
        Err(_) => Err(StoreError::JobFailed),
    }
}

/// Ends a job that cannot be evaluated as `failed`, with the code saying why.
async fn end_failed(state: &AppState, row: &VerificationRow, code: &str) -> Result<(), StoreError> {
    let (outcome, audit) = failure(&row.org, &row.id, &row.subject_id, code);
    state
        .store
        .complete_job(&row.id, &state.instance_id, &outcome, None, &[], &audit)
        .await
}

/// A job's inputs, unsealed: the document, and the selfie or the video with its challenge (and the
/// still selfie sent with it), with their digests.
async fn job_inputs(
    state: &AppState,
    row: &VerificationRow,
    subject: &SubjectKey,
    challenge_id: Option<&str>,
) -> Result<(Inputs, InputDigests), StoreError> {
    let media = state.store.verification_media(&row.id).await?;
    let open = |kind: MediaKind| -> Result<Option<(String, bytes::Bytes)>, StoreError> {
        let Some(m) = media.iter().find(|m| m.kind == kind) else {
            return Ok(None);
        };
        let plain = subject
            .open(&media_context(&m.id), &m.sealed)
            .map_err(|e| StoreError::Keys(e.to_string()))?;
        Ok(Some((m.sha256.clone().unwrap_or_default(), plain.into())))
    };
    let (document_sha, document) =
        open(MediaKind::Document)?.ok_or(StoreError::JobInputs(INPUTS_MISSING))?;
    let selfie = open(MediaKind::Selfie)?;
    let video = open(MediaKind::Video)?;
    let declared = open(MediaKind::DeclaredIdentity)?
        .map(|(_, json)| serde_json::from_slice(&json))
        .transpose()
        .map_err(|_| StoreError::JobInputs("the job's declared identity is unreadable"))?;
    let digests = InputDigests {
        document: document_sha,
        selfie: selfie.as_ref().map(|(sha, _)| sha.clone()),
        video: video.as_ref().map(|(sha, _)| sha.clone()),
    };
    let capture = match (video, challenge_id) {
        (Some((_, video)), Some(challenge_id)) => {
            let challenge = state
                .store
                .get_challenge(&row.org, challenge_id)
                .await?
                .ok_or(StoreError::JobInputs("the job's challenge is missing"))?;
            Capture::Video {
                video,
                still: selfie.map(|(_, bytes)| bytes),
                challenge: TakenChallenge::from_row(&challenge)
                    .map_err(|_| StoreError::JobInputs("the job's challenge is unreadable"))?,
            }
        }
        (None, None) => Capture::Selfie(
            selfie
                .map(|(_, bytes)| bytes)
                .ok_or(StoreError::JobInputs(INPUTS_MISSING))?,
        ),
        _ => return Err(StoreError::JobInputs("a video job without its challenge")),
    };
    let inputs = Inputs {
        document,
        capture,
        declared,
    };
    Ok((inputs, digests))
}

/// A job that cannot be evaluated: recorded as failed with its code (no decision was made).
fn failure(org: &str, id: &str, subject_id: &str, code: &str) -> (JobOutcome, NewAudit) {
    let now = now_ms();
    (
        JobOutcome {
            status: VerificationStatus::Failed,
            decision: None,
            record: None,
            error_code: Some(code.into()),
            decided_at: now,
            retention_until: None,
        },
        NewAudit {
            at: now,
            org: org.into(),
            actor: "system".into(),
            event: "verification.failed",
            entity: id.into(),
            subject_digest: Some(subject_id.into()),
            details: json!({ "code": code }),
        },
    )
}
