//! Workers that take accepted asynchronous verifications from the jobs table. Several `idv serve`
//! processes on one PostgreSQL share the table; a job whose worker died is taken over when its lease
//! expires, and `Store::complete_job` records each decision exactly once.

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use super::error::ErrorCode;
use super::process::{decide, evaluate, Inputs};
use super::state::AppState;
use crate::audit::subject_digest;
use crate::domain::Purpose;
use crate::store::{now_ms, ClaimedJob, JobOutcome, NewAudit, StoreError};

const IDLE_POLL: Duration = Duration::from_millis(250);

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
                if let Err(e) = process_job(&state, job).await {
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

async fn process_job(state: &AppState, job: ClaimedJob) -> Result<(), StoreError> {
    let owner = state.instance_id.as_str();
    let Some(row) = state
        .store
        .get_verification_unscoped(&job.verification_id)
        .await?
    else {
        return Err(StoreError::Conflict("job without verification"));
    };
    let fail = |code: &str| failure(&row.org, &row.id, &row.subject_ref, code);
    if job.attempts > state.settings.service.job_max_attempts {
        let (outcome, audit) = fail("processing_failed");
        return state
            .store
            .complete_job(&row.id, owner, &outcome, None, &audit)
            .await;
    }
    // The consent is checked again: it may have been withdrawn while the job waited.
    let consent = state.store.get_consent(&row.org, &row.consent_ref).await?;
    let consent = match consent {
        Some(c) if c.status == "active" && Purpose::parse(&row.purpose).is_some() => c,
        _ => {
            let (outcome, audit) = fail(ErrorCode::ConsentWithdrawn.code());
            return state
                .store
                .complete_job(&row.id, owner, &outcome, None, &audit)
                .await;
        }
    };
    let media = state.store.job_media(&row.id).await?;
    let find = |role: &str| media.iter().find(|m| m.role == role);
    let (Some(document), Some(selfie)) = (find("document"), find("selfie")) else {
        return Err(StoreError::Conflict("job inputs missing"));
    };
    let digests = [document.sha256.clone(), selfie.sha256.clone()];
    let inputs = Inputs {
        document: document.content.clone().into(),
        selfie: selfie.content.clone().into(),
    };
    let permit = state.admission.enter_background().await;
    match evaluate(state, inputs, permit).await {
        Ok(v) => {
            let d = decide(state, &row, &consent, &v, &digests);
            state
                .store
                .complete_job(&row.id, owner, &d.outcome, d.review.as_ref(), &d.audit)
                .await
        }
        Err(e) if e.code.status().is_client_error() => {
            let (outcome, audit) = fail(e.code.code());
            state
                .store
                .complete_job(&row.id, owner, &outcome, None, &audit)
                .await
        }
        Err(e) => Err(StoreError::Conflict(if e.code == ErrorCode::Timeout {
            "timed out"
        } else {
            "internal error"
        })),
    }
}

/// A job that cannot be evaluated: recorded as failed with its code (no decision was made).
fn failure(org: &str, id: &str, subject_ref: &str, code: &str) -> (JobOutcome, NewAudit) {
    let now = now_ms();
    (
        JobOutcome {
            status: "failed".into(),
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
            subject_digest: Some(subject_digest(org, subject_ref)),
            details: json!({ "code": code }),
        },
    )
}
