//! The retention sweep: what each purpose's policy says is due is deleted (or, in a dry run, counted).

use sqlx::Row;

use super::{NewAudit, PurgeCounts, Store, StoreError, StoreTx};
use crate::domain::{MediaClass, Purpose};
use crate::settings::RetentionPolicy;

const DAY_MS: i64 = 86_400_000;

/// Decided verifications of a purpose at or before a cutoff; binds `$1` purpose, `$2` cutoff.
const DECIDED_BY: &str =
    "SELECT id FROM verifications WHERE purpose = $1 AND decided_at IS NOT NULL AND decided_at <= $2";

/// The times before which each kind of data of one purpose is due.
struct Cutoffs {
    media: i64,
    embeddings: i64,
    decision_records: i64,
}

impl Cutoffs {
    fn at(now: i64, policy: &RetentionPolicy) -> Cutoffs {
        Cutoffs {
            media: now - policy.media_days * DAY_MS,
            embeddings: now - policy.embedding_days * DAY_MS,
            decision_records: now - policy.decision_record_days * DAY_MS,
        }
    }
}

impl Store {
    /// Deletes what the retention policy says is due at `now`, per purpose: sealed media and embeddings
    /// of decisions older than their periods, and decision records (with their review cases and any
    /// remaining items) older than theirs. Each purpose with anything deleted gets one audit entry with
    /// the counts. A dry run counts the same rows and deletes nothing.
    pub async fn sweep(
        &self,
        now: i64,
        policies: &[(&str, RetentionPolicy)],
        dry_run: bool,
    ) -> Result<Vec<PurgeCounts>, StoreError> {
        let mut all = Vec::new();
        for (purpose, policy) in policies {
            let sweep = Sweep {
                purpose,
                cutoffs: Cutoffs::at(now, policy),
                dry_run,
            };
            let mut tx = self.begin().await?;
            let mut counts = PurgeCounts {
                purpose: purpose.to_string(),
                ..Default::default()
            };
            counts.media = sweep.items(&mut tx, MediaClass::Media).await?;
            counts.embeddings = sweep.items(&mut tx, MediaClass::Embedding).await?;
            counts.capture_links = sweep.capture_links(&mut tx).await?;
            if dry_run {
                counts.decision_records = sweep.count_records_due(&mut tx).await?;
            } else {
                sweep.delete_dependents_of_records_due(&mut tx).await?;
                if *purpose == Purpose::RemoteInvigilation.as_str() {
                    sweep.drop_stale_templates(&mut tx).await?;
                }
                counts.decision_records = sweep.delete_records_due(&mut tx).await?;
                if counts.media + counts.embeddings + counts.decision_records + counts.capture_links
                    > 0
                {
                    tx.append_audit(&sweep.audit(now, &counts)).await?;
                }
            }
            tx.commit().await?;
            all.push(counts);
        }
        Ok(all)
    }
}

/// The sweep of one purpose.
struct Sweep<'a> {
    purpose: &'a str,
    cutoffs: Cutoffs,
    dry_run: bool,
}

impl Sweep<'_> {
    /// `DELETE FROM`, or in a dry run `SELECT COUNT(*) … FROM`, the rows of `from` (`table WHERE …`),
    /// binding the purpose, then `second` and `third`; returns how many rows were (or would be)
    /// deleted.
    async fn delete_or_count<T>(
        &self,
        tx: &mut StoreTx,
        from: &str,
        second: i64,
        third: T,
    ) -> Result<u64, StoreError>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Sqlite>
            + sqlx::Type<sqlx::Postgres>
            + Copy
            + Send
            + 'static,
    {
        let verb = if self.dry_run {
            "SELECT COUNT(*) AS n FROM"
        } else {
            "DELETE FROM"
        };
        let sql = format!("{verb} {from}");
        Ok(on_tx!(tx, |c| {
            let q = sqlx::query(&sql)
                .bind(self.purpose)
                .bind(second)
                .bind(third);
            if self.dry_run {
                q.fetch_one(c).await?.try_get::<i64, _>("n")? as u64
            } else {
                q.execute(c).await?.rows_affected()
            }
        }))
    }

    /// Sealed items of one class whose decision is older than the class's period (items of no
    /// verification, such as invigilation evidence, by their own age).
    async fn items(&self, tx: &mut StoreTx, class: MediaClass) -> Result<u64, StoreError> {
        let cutoff = match class {
            MediaClass::Media => self.cutoffs.media,
            MediaClass::Embedding => self.cutoffs.embeddings,
        };
        let items = format!(
            "media WHERE purpose = $1 AND class = $3 AND
             (verification_id IN ({DECIDED_BY}) OR (verification_id IS NULL AND created_at <= $2))"
        );
        self.delete_or_count(tx, &items, cutoff, class).await
    }

    /// A link goes with the record it produced; one never used, once it has been expired for as long
    /// as media are kept (it holds no biometric data, only what it was for).
    async fn capture_links(&self, tx: &mut StoreTx) -> Result<u64, StoreError> {
        let links = format!(
            "capture_links WHERE purpose = $1 AND (verification_id IN ({DECIDED_BY})
                     OR (used_at IS NULL AND expires_at <= $3))"
        );
        let (records, media) = (self.cutoffs.decision_records, self.cutoffs.media);
        self.delete_or_count(tx, &links, records, media).await
    }

    /// The decision records that are due (dry run).
    async fn count_records_due(&self, tx: &mut StoreTx) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) AS n FROM ({DECIDED_BY}) AS due");
        Ok(on_tx!(tx, |c| sqlx::query(&sql)
            .bind(self.purpose)
            .bind(self.cutoffs.decision_records)
            .fetch_one(c)
            .await?
            .try_get::<i64, _>("n")? as u64))
    }

    /// What hangs on the records that are due, so they can go: the invigilation sessions that used one
    /// as their reference (their frames first), remaining items, review cases.
    async fn delete_dependents_of_records_due(&self, tx: &mut StoreTx) -> Result<(), StoreError> {
        let sessions = format!(
            "SELECT id FROM invigilation_sessions WHERE reference_verification_id IN ({DECIDED_BY})"
        );
        for sql in [
            format!("DELETE FROM invigilation_frames WHERE session_id IN ({sessions})"),
            format!("DELETE FROM invigilation_sessions WHERE id IN ({sessions})"),
            format!("DELETE FROM media WHERE verification_id IN ({DECIDED_BY})"),
            format!("DELETE FROM review_cases WHERE verification_id IN ({DECIDED_BY})"),
        ] {
            on_tx!(tx, |c| {
                sqlx::query(&sql)
                    .bind(self.purpose)
                    .bind(self.cutoffs.decision_records)
                    .execute(c)
                    .await?;
            });
        }
        Ok(())
    }

    /// Templates of sessions left open past the embedding period are dropped.
    async fn drop_stale_templates(&self, tx: &mut StoreTx) -> Result<(), StoreError> {
        let sql = "UPDATE invigilation_sessions SET template_sealed = NULL WHERE created_at <= $1";
        on_tx!(tx, |c| {
            sqlx::query(sql)
                .bind(self.cutoffs.embeddings)
                .execute(c)
                .await?;
        });
        Ok(())
    }

    async fn delete_records_due(&self, tx: &mut StoreTx) -> Result<u64, StoreError> {
        let sql = "DELETE FROM verifications WHERE purpose = $1 AND decided_at IS NOT NULL AND decided_at <= $2";
        Ok(on_tx!(tx, |c| sqlx::query(sql)
            .bind(self.purpose)
            .bind(self.cutoffs.decision_records)
            .execute(c)
            .await?
            .rows_affected()))
    }

    /// The purpose's `retention.purged` entry: the counts and the cutoffs they were taken at.
    fn audit(&self, now: i64, counts: &PurgeCounts) -> NewAudit {
        let c = &self.cutoffs;
        NewAudit {
            at: now,
            org: "*".into(),
            actor: "system".into(),
            event: "retention.purged",
            entity: self.purpose.to_string(),
            subject_digest: None,
            details: serde_json::json!({
                "media": counts.media, "embeddings": counts.embeddings,
                "decision_records": counts.decision_records, "capture_links": counts.capture_links,
                "cutoffs": {"media": c.media, "embeddings": c.embeddings, "decision_records": c.decision_records},
            }),
        }
    }
}

