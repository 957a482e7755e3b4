//! The jobs of accepted asynchronous verifications: enqueued with their inputs, leased by one worker
//! at a time, completed exactly once while the lease is held.

use std::time::Duration;

use sqlx::Row;

use super::{
    BeginWrite, ClaimedJob, JobOutcome, MediaRow, NewAudit, ReviewCaseRow, Store, StoreError,
    VerificationRow,
};

impl Store {
    /// Records an accepted asynchronous verification: the request, its inputs and its job (with the
    /// challenge a video answers), in one transaction, so nothing accepted is lost. Submitted through a
    /// capture link, the same transaction uses the link up, so a link submits once. A concurrent
    /// duplicate of the idempotency key is `DuplicateIdempotencyKey`, a link already used or expired
    /// `CaptureLinkTaken`.
    pub async fn enqueue_verification(
        &self,
        v: &VerificationRow,
        media: &[MediaRow],
        audit: &NewAudit,
        challenge_id: Option<&str>,
        capture_link: Option<&str>,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            insert_verification!(tx, v);
            for m in media {
                insert_media!(tx, m);
            }
            sqlx::query(
                "INSERT INTO jobs (verification_id, created_at, challenge_id) VALUES ($1, $2, $3)",
            )
            .bind(&v.id)
            .bind(v.created_at)
            .bind(challenge_id)
            .execute(&mut *tx)
            .await?;
            if let Some(link) = capture_link {
                let used = sqlx::query(
                    "UPDATE capture_links SET used_at = $1, verification_id = $2
                     WHERE id = $3 AND used_at IS NULL AND expires_at > $1",
                )
                .bind(v.created_at)
                .bind(&v.id)
                .bind(link)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if used != 1 {
                    return Err(StoreError::CaptureLinkTaken);
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records the decision of a leased job exactly once: only while `owner` still holds the lease; the
    /// job goes and the decision's sealed embeddings come in the same transaction. `LeaseLost` when the
    /// lease was lost.
    pub async fn complete_job(
        &self,
        id: &str,
        owner: &str,
        outcome: &JobOutcome,
        review: Option<&ReviewCaseRow>,
        media: &[MediaRow],
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            let held =
                sqlx::query("DELETE FROM jobs WHERE verification_id = $1 AND lease_owner = $2")
                    .bind(id)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if held != 1 {
                return Err(StoreError::LeaseLost);
            }
            sqlx::query(
                "UPDATE verifications SET status = $1, decision = $2, record = $3, error_code = $4, decided_at = $5,
                 retention_until = $6 WHERE id = $7 AND status = 'pending'",
            )
            .bind(outcome.status)
            .bind(&outcome.decision)
            .bind(&outcome.record)
            .bind(&outcome.error_code)
            .bind(outcome.decided_at)
            .bind(outcome.retention_until)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            for m in media {
                insert_media!(tx, m);
            }
            if let Some(r) = review {
                insert_review!(tx, r);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Extends `owner`'s lease on a job it is still working on to `until`; false when it no longer holds
    /// it (another server took the job over).
    pub async fn renew_job_lease(
        &self,
        id: &str,
        owner: &str,
        until: i64,
    ) -> Result<bool, StoreError> {
        let sql =
            "UPDATE jobs SET lease_until = $1 WHERE verification_id = $2 AND lease_owner = $3";
        Ok(on_pool!(self, |p| sqlx::query(sql)
            .bind(until)
            .bind(id)
            .bind(owner)
            .execute(p)
            .await?
            .rows_affected()
            == 1))
    }

    /// Leases the oldest job that is free or whose lease has expired (its worker died). PostgreSQL skips
    /// rows other servers are claiming; SQLite has a single writer, so the update is atomic anyway.
    pub async fn claim_job(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let until = now + lease.as_millis() as i64;
        // Only PostgreSQL has several writers to keep apart.
        let skip_locked = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
             WHERE verification_id = (SELECT verification_id FROM jobs WHERE lease_until <= $3
                                      ORDER BY created_at LIMIT 1{skip_locked})
             RETURNING verification_id, attempts, challenge_id"
        );
        Ok(fetch_optional_as!(
            self, ClaimedJob, &sql, owner, until, now
        ))
    }

    /// Jobs accepted but not yet decided (for the queue-depth metric).
    pub async fn pending_jobs(&self) -> Result<i64, StoreError> {
        Ok(on_pool!(self, |p| sqlx::query(
            "SELECT COUNT(*) AS n FROM jobs"
        )
        .fetch_one(p)
        .await?
        .try_get("n")?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{audit, consent, media, verification, TempStore};
    use super::*;
    use crate::domain::{MediaKind, VerificationStatus};

    const LEASE: Duration = Duration::from_secs(30);

    async fn enqueue(db: &Store, id: &str, created_at: i64) {
        let v = VerificationRow {
            created_at,
            ..verification(id, "sub1", "cns_1", VerificationStatus::Pending)
        };
        let items = [media(&format!("med_{id}"), id, MediaKind::Document)];
        db.enqueue_verification(
            &v,
            &items,
            &audit("verification.requested"),
            Some("chl_1"),
            None,
        )
        .await
        .unwrap();
    }

    fn decided_outcome() -> JobOutcome {
        JobOutcome {
            status: VerificationStatus::Decided,
            decision: Some("verified".into()),
            record: Some("{}".into()),
            error_code: None,
            decided_at: 50,
            retention_until: Some(90),
        }
    }

    #[tokio::test]
    async fn a_lease_is_held_by_one_worker_until_it_expires() {
        let db = TempStore::new().await;
        db.create_consent(&consent("cns_1", "sub1"), &audit("consent.recorded"))
            .await
            .unwrap();
        enqueue(&db, "ver_1", 1).await;
        assert_eq!(db.pending_jobs().await.unwrap(), 1);

        let taken = db.claim_job("a", 1_000, LEASE).await.unwrap().unwrap();
        assert_eq!(taken.verification_id, "ver_1");
        assert_eq!(
            (taken.attempts, taken.challenge_id.as_deref()),
            (1, Some("chl_1"))
        );
        assert_eq!(
            db.claim_job("b", 1_000 + 29_999, LEASE).await.unwrap(),
            None
        );
        // Worker a died: once the lease is over, b takes the job over.
        let again = db
            .claim_job("b", 1_000 + 30_000, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.attempts, 2);

        let late = db
            .complete_job(
                "ver_1",
                "a",
                &decided_outcome(),
                None,
                &[],
                &audit("verification.decided"),
            )
            .await;
        assert!(matches!(late, Err(StoreError::LeaseLost)), "{late:?}");
        assert_eq!(
            db.get_verification("org1", "ver_1")
                .await
                .unwrap()
                .unwrap()
                .status,
            VerificationStatus::Pending
        );
        let embedding = [media("med_e", "ver_1", MediaKind::SelfieEmbedding)];
        db.complete_job(
            "ver_1",
            "b",
            &decided_outcome(),
            None,
            &embedding,
            &audit("verification.decided"),
        )
        .await
        .unwrap();
        let done = db.get_verification("org1", "ver_1").await.unwrap().unwrap();
        assert_eq!(done.status, VerificationStatus::Decided);
        assert_eq!(
            (done.decided_at, done.retention_until),
            (Some(50), Some(90))
        );
        assert_eq!(db.verification_media("ver_1").await.unwrap().len(), 2);
        assert_eq!(db.pending_jobs().await.unwrap(), 0);
        assert_eq!(db.claim_job("c", i64::MAX / 2, LEASE).await.unwrap(), None);
    }

    #[tokio::test]
    async fn concurrent_claimers_each_get_a_different_job_oldest_first() {
        let db = TempStore::new().await;
        db.create_consent(&consent("cns_1", "sub1"), &audit("consent.recorded"))
            .await
            .unwrap();
        for (id, created_at) in [("ver_2", 2), ("ver_1", 1)] {
            enqueue(&db, id, created_at).await;
        }
        let claims = (0..6).map(|i| {
            let store = Store::clone(&db);
            tokio::spawn(async move { store.claim_job(&format!("w{i}"), 1_000, LEASE).await })
        });
        let mut taken: Vec<String> = Vec::new();
        for claim in claims {
            if let Some(job) = claim.await.unwrap().unwrap() {
                taken.push(job.verification_id);
            }
        }
        taken.sort();
        assert_eq!(taken, ["ver_1", "ver_2"]);
        // The oldest is leased first.
        let db2 = TempStore::new().await;
        db2.create_consent(&consent("cns_1", "sub1"), &audit("consent.recorded"))
            .await
            .unwrap();
        enqueue(&db2, "ver_b", 2).await;
        enqueue(&db2, "ver_a", 1).await;
        let first = db2.claim_job("w", 1_000, LEASE).await.unwrap().unwrap();
        assert_eq!(first.verification_id, "ver_a");
    }
}
