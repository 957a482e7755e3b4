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
                media: sweep.items(&mut tx, MediaClass::Media).await?,
                embeddings: sweep.items(&mut tx, MediaClass::Embedding).await?,
                capture_links: sweep.capture_links(&mut tx).await?,
                decision_records: 0,
            };
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

#[cfg(test)]
mod tests {
    use super::super::testing::{audit, decided, media, record, review, TempStore};
    use super::super::{CaptureLinkRow, VerificationRow};
    use super::*;
    use crate::domain::{MediaKind, VerificationStatus};
    use crate::settings::RecordsOnErasure;

    const NOW: i64 = 100 * DAY_MS;

    /// Media kept 1 day, embeddings 2, decision records 10.
    fn policy() -> RetentionPolicy {
        RetentionPolicy {
            media_days: 1,
            embedding_days: 2,
            decision_record_days: 10,
            on_erasure: RecordsOnErasure::Reduce,
        }
    }

    fn items_of(id: &str) -> [crate::store::MediaRow; 2] {
        [
            media(&format!("{id}_doc"), id, MediaKind::Document),
            media(&format!("{id}_emb"), id, MediaKind::DocumentEmbedding),
        ]
    }

    fn link(id: &str, expires_at: i64, verification_id: Option<&str>) -> CaptureLinkRow {
        CaptureLinkRow {
            id: id.into(),
            org: "org1".into(),
            token_hash: format!("hash_{id}"),
            subject_id: "sub1".into(),
            purpose: "ecs_application".into(),
            external_ref: None,
            created_by: "key_1".into(),
            created_at: 0,
            expires_at,
            consent_ref: None,
            verification_id: verification_id.map(Into::into),
            used_at: verification_id.map(|_| 0),
            declared_sealed: None,
            declared_key_id: None,
        }
    }

    /// Decisions of several ages (days before `NOW`): `ver_old` past every period, `ver_a` past the
    /// media and embedding periods, `ver_b` past the media period only, `ver_c` within all; a pending
    /// one; a remote-invigilation decision as old as `ver_old`; and capture links.
    async fn aged(db: &Store) {
        for (id, days_ago) in [
            ("ver_old", 20.0),
            ("ver_a", 5.0),
            ("ver_b", 1.5),
            ("ver_c", 0.5),
        ] {
            let v = decided(id, NOW - (days_ago * DAY_MS as f64) as i64);
            let case = (id == "ver_old").then(|| review("rev_old", id));
            record(db, &v, &items_of(id), case.as_ref()).await;
        }
        let pending = VerificationRow {
            status: VerificationStatus::Pending,
            decided_at: None,
            ..decided("ver_p", 0)
        };
        record(db, &pending, &items_of("ver_p"), None).await;
        let other_purpose = VerificationRow {
            purpose: "remote_invigilation".into(),
            consent_ref: "cns_r".into(),
            ..decided("ver_r", NOW - 20 * DAY_MS)
        };
        let items = items_of("ver_r").map(|m| crate::store::MediaRow {
            purpose: "remote_invigilation".into(),
            consent_ref: "cns_r".into(),
            ..m
        });
        record(db, &other_purpose, &items, None).await;
        for l in [
            link("cl_old", NOW, Some("ver_old")),
            link("cl_a", NOW, Some("ver_a")),
            link("cl_stale", NOW - 2 * DAY_MS, None),
            link("cl_fresh", NOW - DAY_MS / 2, None),
        ] {
            db.create_capture_link(&l, &audit("capture_link.created"))
                .await
                .unwrap();
        }
    }

    async fn media_ids(db: &Store) -> Vec<String> {
        let mut ids = Vec::new();
        for v in ["ver_old", "ver_a", "ver_b", "ver_c", "ver_p", "ver_r"] {
            ids.extend(
                db.verification_media(v)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|m| m.id),
            );
        }
        ids.sort();
        ids
    }

    #[tokio::test]
    async fn the_sweep_deletes_what_is_past_retention_and_nothing_else() {
        let db = TempStore::new().await;
        aged(&db).await;
        let policies = [("ecs_application", policy())];
        let expected = PurgeCounts {
            purpose: "ecs_application".into(),
            media: 3,
            embeddings: 2,
            decision_records: 1,
            capture_links: 2,
        };

        let audit_before = db.audit_chain().await.unwrap().0.len();
        let dry = db.sweep(NOW, &policies, true).await.unwrap();
        assert_eq!(dry, std::slice::from_ref(&expected));
        assert_eq!(media_ids(&db).await.len(), 12, "a dry run deletes nothing");
        assert_eq!(db.audit_chain().await.unwrap().0.len(), audit_before);

        let done = db.sweep(NOW, &policies, false).await.unwrap();
        assert_eq!(done, [expected]);
        assert_eq!(
            media_ids(&db).await,
            [
                "ver_b_emb",
                "ver_c_doc",
                "ver_c_emb",
                "ver_p_doc",
                "ver_p_emb",
                "ver_r_doc",
                "ver_r_emb"
            ]
        );
        assert_eq!(db.get_verification("org1", "ver_old").await.unwrap(), None);
        assert_eq!(db.get_review("org1", "rev_old").await.unwrap(), None);
        for kept in ["ver_a", "ver_b", "ver_c", "ver_p", "ver_r"] {
            assert!(
                db.get_verification("org1", kept).await.unwrap().is_some(),
                "{kept}"
            );
        }
        for (link, kept) in [
            ("cl_old", false),
            ("cl_a", true),
            ("cl_stale", false),
            ("cl_fresh", true),
        ] {
            assert_eq!(
                db.get_capture_link("org1", link).await.unwrap().is_some(),
                kept,
                "{link}"
            );
        }
        let (entries, _) = db.audit_chain().await.unwrap();
        let purged = entries.last().unwrap();
        assert_eq!(
            (purged.event.as_str(), purged.entity.as_str()),
            ("retention.purged", "ecs_application")
        );

        // Nothing more is due: no counts, no audit entry.
        let again = db.sweep(NOW, &policies, false).await.unwrap();
        assert_eq!(
            again[0].media
                + again[0].embeddings
                + again[0].decision_records
                + again[0].capture_links,
            0
        );
        assert_eq!(db.audit_chain().await.unwrap().0.len(), entries.len());
    }
}
