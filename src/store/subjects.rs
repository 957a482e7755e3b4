//! Data subjects and their rights: the subject row (data key, restriction), access (everything held),
//! and erasure by crypto-shredding.

use super::{
    rows, BeginWrite, CaptureLinkRow, ErasureCounts, ErasureRow, MediaRow, NewAudit, ReviewCaseRow,
    SessionRow, Store, StoreError, StoreTx, SubjectRecords, SubjectRow, VerificationRow,
    CAPTURE_LINK_COLUMNS, MEDIA_COLUMNS, REVIEW_COLUMNS, SESSION_COLUMNS, SUBJECT_COLUMNS,
    VERIFICATION_COLUMNS,
};
use crate::domain::MediaClass;

/// The ids of the subject's verifications; binds `$1` org, `$2` subject.
const OF_SUBJECT: &str = "SELECT id FROM verifications WHERE org = $1 AND subject_id = $2";

impl Store {
    pub async fn subject(&self, subject_id: &str) -> Result<Option<SubjectRow>, StoreError> {
        let sql = format!("SELECT {SUBJECT_COLUMNS} FROM subjects WHERE subject_id = $1");
        Ok(fetch_optional_as!(self, SubjectRow, &sql, subject_id))
    }

    /// Stores a new subject unless one exists (two first requests for a subject race; the first wins).
    pub async fn insert_subject(&self, s: &SubjectRow) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            sqlx::query(&format!(
                "INSERT INTO subjects ({SUBJECT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (subject_id) DO NOTHING"
            ))
            .bind(&s.subject_id)
            .bind(&s.org)
            .bind(&s.key_id)
            .bind(&s.wrapped_key)
            .bind(&s.master_key_id)
            .bind(&s.ref_sealed)
            .bind(s.created_at)
            .bind(s.restricted_at)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Restricts (`Some(time)`) or lifts the restriction on (`None`) a subject's processing; `false`
    /// when it was already so.
    pub async fn set_restriction(
        &self,
        subject_id: &str,
        restricted_at: Option<i64>,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        let change = if restricted_at.is_some() {
            "restricted_at IS NULL"
        } else {
            "restricted_at IS NOT NULL"
        };
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(&format!(
                "UPDATE subjects SET restricted_at = $1 WHERE subject_id = $2 AND {change}"
            ))
            .bind(restricted_at)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                append_audit!(tx, audit);
                tx.commit().await?;
            }
            n == 1
        }))
    }

    /// Everything held about one subject in one organisation, for an access request.
    pub async fn subject_records(
        &self,
        org: &str,
        subject_id: &str,
    ) -> Result<SubjectRecords, StoreError> {
        let verifications = format!(
            "SELECT {VERIFICATION_COLUMNS} FROM verifications WHERE org = $1 AND subject_id = $2 ORDER BY created_at, id"
        );
        let reviews = format!(
            "SELECT {REVIEW_COLUMNS} FROM review_cases WHERE org = $1 AND verification_id IN
             ({OF_SUBJECT}) ORDER BY created_at, id"
        );
        let media = format!(
            "SELECT {MEDIA_COLUMNS} FROM media WHERE org = $1 AND subject_id = $2 ORDER BY created_at, id"
        );
        let sessions = format!(
            "SELECT {SESSION_COLUMNS} FROM invigilation_sessions WHERE org = $1 AND subject_id = $2 ORDER BY created_at, id"
        );
        let links = format!(
            "SELECT {CAPTURE_LINK_COLUMNS} FROM capture_links WHERE org = $1 AND subject_id = $2 ORDER BY created_at, id"
        );
        let erasures =
            "SELECT id, org, subject_digest, erased_at, actor, reason, counts FROM erasures
                        WHERE org = $1 AND subject_digest = $2 ORDER BY erased_at, id";
        let audit = "SELECT seq, at, org, actor, event, entity, subject_digest, details, prev_hash, entry_hash
                     FROM audit_log WHERE org = $1 AND subject_digest = $2 ORDER BY seq";
        Ok(SubjectRecords {
            consents: self.subject_consents(org, subject_id).await?,
            verifications: fetch_all_as!(self, VerificationRow, &verifications, org, subject_id),
            review_cases: fetch_all_as!(self, ReviewCaseRow, &reviews, org, subject_id),
            media: fetch_all_as!(self, MediaRow, &media, org, subject_id),
            sessions: fetch_all_as!(self, SessionRow, &sessions, org, subject_id),
            capture_links: fetch_all_as!(self, CaptureLinkRow, &links, org, subject_id),
            erasures: fetch_all_as!(self, ErasureRow, erasures, org, subject_id),
            audit: on_pool!(self, |p| {
                let rows = sqlx::query(audit)
                    .bind(org)
                    .bind(subject_id)
                    .fetch_all(p)
                    .await?;
                rows.iter()
                    .map(rows::audit_from_row)
                    .collect::<Result<Vec<_>, _>>()?
            }),
        })
    }

    /// Erases a subject in one transaction: deletes their sealed items and pending jobs, deletes the
    /// decision records of the purposes in `delete_purposes` and reduces the rest to `reduced` (id →
    /// record without scores or digests), marks their consents erased, destroys their data key, and
    /// writes the tombstone and its audit entry (both carrying the counts).
    pub async fn erase_subject(
        &self,
        org: &str,
        subject_id: &str,
        delete_purposes: &[&str],
        reduced: &[(String, Option<String>)],
        tombstone: &ErasureRow,
        audit: &NewAudit,
    ) -> Result<ErasureCounts, StoreError> {
        let who = Subject { org, subject_id };
        let mut tx = self.begin().await?;
        // In this order (fields are evaluated as written): what refers to a consent or a record
        // goes before it; a capture link names the consent given on its page.
        let mut c = ErasureCounts {
            media: who.delete_items(&mut tx, MediaClass::Media).await?,
            embeddings: who.delete_items(&mut tx, MediaClass::Embedding).await?,
            invigilation_sessions: who.delete_invigilation_sessions(&mut tx).await?,
            capture_links: who.delete_capture_links(&mut tx).await?,
            pending_jobs: who.delete_jobs(&mut tx).await?,
            ..Default::default()
        };
        for purpose in delete_purposes {
            let deleted = who.delete_records_of_purpose(&mut tx, purpose).await?;
            c.review_cases_deleted += deleted.review_cases;
            c.verifications_deleted += deleted.verifications;
            c.consents_deleted += deleted.consents;
        }
        for (id, record) in reduced {
            c.verifications_reduced += who.reduce_record(&mut tx, id, record.as_deref()).await?;
        }
        who.redact_review_reasons(&mut tx).await?;
        c.consents_reduced = who.mark_consents_erased(&mut tx).await?;
        c.data_key_destroyed = who.destroy_data_key(&mut tx).await?;
        write_tombstone(&mut tx, tombstone, audit, &c).await?;
        tx.commit().await?;
        self.flush_deleted_pages().await?;
        Ok(c)
    }

    /// SQLite: moves the zeroed pages from the write-ahead log into the file and empties the log, which
    /// still holds the pages as they were written. (PostgreSQL's VACUUM reclaims dead rows.)
    async fn flush_deleted_pages(&self) -> Result<(), StoreError> {
        if let Store::Sqlite(p) = self {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(p)
                .await?;
        }
        Ok(())
    }
}

/// The subject an erasure is about; each step binds `$1` org and `$2` subject.
struct Subject<'a> {
    org: &'a str,
    subject_id: &'a str,
}

/// What deleting the decision records of one purpose removed.
struct DeletedOfPurpose {
    review_cases: u64,
    verifications: u64,
    consents: u64,
}

impl Subject<'_> {
    /// Runs one statement over the subject's rows; returns how many it touched.
    async fn execute(&self, tx: &mut StoreTx, sql: &str) -> Result<u64, StoreError> {
        Ok(on_tx!(tx, |c| sqlx::query(sql)
            .bind(self.org)
            .bind(self.subject_id)
            .execute(c)
            .await?
            .rows_affected()))
    }

    /// Runs one statement over the subject's rows with one more value bound as `$3`.
    async fn execute_with(
        &self,
        tx: &mut StoreTx,
        sql: &str,
        third: &str,
    ) -> Result<u64, StoreError> {
        Ok(on_tx!(tx, |c| sqlx::query(sql)
            .bind(self.org)
            .bind(self.subject_id)
            .bind(third)
            .execute(c)
            .await?
            .rows_affected()))
    }

    /// The sealed items of one class (images and videos, or embeddings).
    async fn delete_items(&self, tx: &mut StoreTx, class: MediaClass) -> Result<u64, StoreError> {
        let sql = "DELETE FROM media WHERE org = $1 AND subject_id = $2 AND class = $3";
        self.execute_with(tx, sql, class.as_str()).await
    }

    /// Invigilation sessions with their frames' results; returns the sessions deleted.
    async fn delete_invigilation_sessions(&self, tx: &mut StoreTx) -> Result<u64, StoreError> {
        let sessions = "SELECT id FROM invigilation_sessions WHERE org = $1 AND subject_id = $2";
        self.execute(
            tx,
            &format!("DELETE FROM invigilation_frames WHERE session_id IN ({sessions})"),
        )
        .await?;
        self.execute(
            tx,
            "DELETE FROM invigilation_sessions WHERE org = $1 AND subject_id = $2",
        )
        .await
    }

    async fn delete_capture_links(&self, tx: &mut StoreTx) -> Result<u64, StoreError> {
        let sql = "DELETE FROM capture_links WHERE org = $1 AND subject_id = $2";
        self.execute(tx, sql).await
    }

    /// Queued jobs of the subject's verifications: nothing more is processed.
    async fn delete_jobs(&self, tx: &mut StoreTx) -> Result<u64, StoreError> {
        let sql = format!("DELETE FROM jobs WHERE verification_id IN ({OF_SUBJECT})");
        self.execute(tx, &sql).await
    }

    /// The decision records of a purpose whose policy deletes them on erasure, with their review
    /// cases and the consents no remaining record names.
    async fn delete_records_of_purpose(
        &self,
        tx: &mut StoreTx,
        purpose: &str,
    ) -> Result<DeletedOfPurpose, StoreError> {
        let of_purpose = format!("{OF_SUBJECT} AND purpose = $3");
        let review_cases =
            format!("DELETE FROM review_cases WHERE verification_id IN ({of_purpose})");
        let verifications =
            "DELETE FROM verifications WHERE org = $1 AND subject_id = $2 AND purpose = $3";
        let consents = "DELETE FROM consents WHERE org = $1 AND subject_id = $2 AND purpose = $3
                     AND consent_ref NOT IN (SELECT consent_ref FROM verifications WHERE org = $1 AND subject_id = $2)";
        Ok(DeletedOfPurpose {
            review_cases: self.execute_with(tx, &review_cases, purpose).await?,
            verifications: self.execute_with(tx, verifications, purpose).await?,
            consents: self.execute_with(tx, consents, purpose).await?,
        })
    }

    /// Reduces one kept decision record: its record replaced by `record` (no scores or digests), its
    /// links to the request (external reference, idempotency key, digest) cut.
    async fn reduce_record(
        &self,
        tx: &mut StoreTx,
        id: &str,
        record: Option<&str>,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE verifications SET status = 'erased', record = $1, external_ref = NULL, idempotency_key = NULL,
                   request_digest = 'erased' WHERE org = $2 AND subject_id = $3 AND id = $4";
        Ok(on_tx!(tx, |c| sqlx::query(sql)
            .bind(record)
            .bind(self.org)
            .bind(self.subject_id)
            .bind(id)
            .execute(c)
            .await?
            .rows_affected()))
    }

    /// A reviewer's free-text reason may describe the person; the outcome stays.
    async fn redact_review_reasons(&self, tx: &mut StoreTx) -> Result<u64, StoreError> {
        let sql = format!(
            "UPDATE review_cases SET outcome_reason = 'erased' WHERE outcome_reason IS NOT NULL
             AND verification_id IN ({OF_SUBJECT})"
        );
        self.execute(tx, &sql).await
    }

    async fn mark_consents_erased(&self, tx: &mut StoreTx) -> Result<u64, StoreError> {
        let sql = "UPDATE consents SET status = 'erased' WHERE org = $1 AND subject_id = $2";
        self.execute(tx, sql).await
    }

    /// Deletes the subject row with its wrapped data key: every item still sealed under it, backups
    /// included, becomes unreadable. Whether there was a key to destroy.
    async fn destroy_data_key(&self, tx: &mut StoreTx) -> Result<bool, StoreError> {
        let sql = "DELETE FROM subjects WHERE org = $1 AND subject_id = $2";
        Ok(self.execute(tx, sql).await? == 1)
    }
}

/// The erasure's audit entry and its tombstone, both carrying the counts.
async fn write_tombstone(
    tx: &mut StoreTx,
    tombstone: &ErasureRow,
    audit: &NewAudit,
    counts: &ErasureCounts,
) -> Result<(), StoreError> {
    let counts = serde_json::to_value(counts).expect("serialisable");
    let mut audit = audit.clone();
    audit.details["counts"] = counts.clone();
    tx.append_audit(&audit).await?;
    let sql = "INSERT INTO erasures (id, org, subject_digest, erased_at, actor, reason, counts) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on_tx!(tx, |c| {
        sqlx::query(sql)
            .bind(&tombstone.id)
            .bind(&tombstone.org)
            .bind(&tombstone.subject_digest)
            .bind(tombstone.erased_at)
            .bind(&tombstone.actor)
            .bind(&tombstone.reason)
            .bind(counts.to_string())
            .execute(c)
            .await?;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{audit, decided, media, record, review, subject, TempStore};
    use super::super::{CaptureLinkRow, SessionRow};
    use super::*;
    use crate::domain::{
        ConsentStatus, MediaKind, ReviewStatus, SessionStatus, VerificationStatus,
    };

    #[tokio::test]
    async fn restriction_is_set_and_lifted_once() {
        let db = TempStore::new().await;
        db.insert_subject(&subject("org1", "sub1")).await.unwrap();
        // A second first request for the subject keeps the first row.
        let other = SubjectRow {
            key_id: "another".into(),
            ..subject("org1", "sub1")
        };
        db.insert_subject(&other).await.unwrap();
        assert_eq!(
            db.subject("sub1").await.unwrap().unwrap().key_id,
            "key_sub1"
        );

        let a = audit("subject.restricted");
        assert!(db.set_restriction("sub1", Some(7), &a).await.unwrap());
        assert!(!db.set_restriction("sub1", Some(8), &a).await.unwrap());
        assert_eq!(
            db.subject("sub1").await.unwrap().unwrap().restricted_at,
            Some(7)
        );
        assert!(db.set_restriction("sub1", None, &a).await.unwrap());
        assert!(!db.set_restriction("sub1", None, &a).await.unwrap());
        assert_eq!(
            db.subject("sub1").await.unwrap().unwrap().restricted_at,
            None
        );
        assert_eq!(db.audit_chain().await.unwrap().0.len(), 2);
    }

    /// Subject `sub1` with a decided verification (two images, an embedding, a resolved case), a
    /// pending one with its job, a capture link and an invigilation session with a frame; subject
    /// `sub2` with a decided verification and an image.
    async fn two_subjects(db: &Store) {
        db.insert_subject(&subject("org1", "sub1")).await.unwrap();
        db.insert_subject(&subject("org1", "sub2")).await.unwrap();
        let items = [
            media("med_1", "ver_1", MediaKind::Document),
            media("med_2", "ver_1", MediaKind::Selfie),
            media("med_3", "ver_1", MediaKind::SelfieEmbedding),
        ];
        let v1 = VerificationRow {
            idempotency_key: Some("idem-1".into()),
            ..decided("ver_1", 10)
        };
        record(db, &v1, &items, Some(&review("rev_1", "ver_1"))).await;
        let resolved_by = NewAudit {
            actor: "reviewer:ann".into(),
            ..audit("review.resolved")
        };
        db.resolve_review(
            "org1",
            "rev_1",
            "confirmed_match",
            "looks like the photo",
            &resolved_by,
        )
        .await
        .unwrap();
        let pending = VerificationRow {
            status: VerificationStatus::Pending,
            decided_at: None,
            ..decided("ver_p", 0)
        };
        db.enqueue_verification(&pending, &[], &audit("verification.requested"), None, None)
            .await
            .unwrap();
        let link = CaptureLinkRow {
            id: "cl_1".into(),
            org: "org1".into(),
            token_hash: "hash".into(),
            subject_id: "sub1".into(),
            purpose: "ecs_application".into(),
            external_ref: None,
            created_by: "key_1".into(),
            created_at: 1,
            expires_at: 100,
            consent_ref: Some("cns_1".into()),
            verification_id: None,
            used_at: None,
            declared_sealed: None,
            declared_key_id: None,
        };
        db.create_capture_link(&link, &audit("capture_link.created"))
            .await
            .unwrap();
        let session = SessionRow {
            id: "inv_1".into(),
            org: "org1".into(),
            subject_id: "sub1".into(),
            consent_ref: "cns_1".into(),
            reference_verification_id: "ver_1".into(),
            status: SessionStatus::Open,
            key_id: "key_sub1".into(),
            template_sealed: Some(b"template".to_vec()),
            review_case_id: None,
            created_at: 1,
            closed_at: None,
            summary: None,
        };
        db.create_session(&session, &audit("invigilation.started"))
            .await
            .unwrap();
        db.add_frame("inv_1", 2, "{}", None, None, None)
            .await
            .unwrap();

        let v2 = VerificationRow {
            subject_id: "sub2".into(),
            consent_ref: "cns_2".into(),
            ..decided("ver_2", 10)
        };
        let image = MediaRow {
            subject_id: "sub2".into(),
            consent_ref: "cns_2".into(),
            ..media("med_9", "ver_2", MediaKind::Document)
        };
        record(db, &v2, &[image], None).await;
    }

    fn tombstone() -> ErasureRow {
        ErasureRow {
            id: "era_1".into(),
            org: "org1".into(),
            subject_digest: "sub1".into(),
            erased_at: 50,
            actor: "auditor:bo".into(),
            reason: "request".into(),
            counts: String::new(),
        }
    }

    #[tokio::test]
    async fn access_returns_everything_of_the_subject_and_nothing_else() {
        let db = TempStore::new().await;
        two_subjects(&db).await;
        let r = db.subject_records("org1", "sub1").await.unwrap();
        assert_eq!(r.consents.len(), 1);
        assert_eq!(r.verifications.len(), 2);
        assert_eq!(r.review_cases.len(), 1);
        assert_eq!(r.media.len(), 3);
        assert_eq!(
            (r.sessions.len(), r.capture_links.len(), r.erasures.len()),
            (1, 1, 0)
        );
        assert!(db
            .subject_records("org2", "sub1")
            .await
            .unwrap()
            .verifications
            .is_empty());
    }

    #[tokio::test]
    async fn erasure_reduces_records_removes_media_and_leaves_a_tombstone() {
        let db = TempStore::new().await;
        two_subjects(&db).await;
        let reduced = [(
            "ver_1".to_string(),
            Some(r#"{"decision":"verified"}"#.to_string()),
        )];
        let counts = db
            .erase_subject(
                "org1",
                "sub1",
                &[],
                &reduced,
                &tombstone(),
                &audit("subject.erased"),
            )
            .await
            .unwrap();
        assert_eq!(
            counts,
            ErasureCounts {
                media: 2,
                embeddings: 1,
                pending_jobs: 1,
                verifications_reduced: 1,
                consents_reduced: 1,
                invigilation_sessions: 1,
                capture_links: 1,
                data_key_destroyed: true,
                ..Default::default()
            }
        );

        assert_eq!(db.subject("sub1").await.unwrap(), None);
        let r = db.subject_records("org1", "sub1").await.unwrap();
        assert!(r.media.is_empty() && r.sessions.is_empty() && r.capture_links.is_empty());
        assert_eq!(db.count_rows("invigilation_frames").await.unwrap(), 0);
        let kept = r.verifications.iter().find(|v| v.id == "ver_1").unwrap();
        assert_eq!(kept.status, VerificationStatus::Erased);
        assert_eq!(kept.record.as_deref(), Some(r#"{"decision":"verified"}"#));
        assert_eq!(
            (
                kept.external_ref.as_deref(),
                kept.idempotency_key.as_deref()
            ),
            (None, None)
        );
        assert_eq!(kept.request_digest, "erased");
        let case = &r.review_cases[0];
        assert_eq!(case.status, ReviewStatus::Resolved);
        assert_eq!(case.outcome.as_deref(), Some("confirmed_match"));
        assert_eq!(case.outcome_reason.as_deref(), Some("erased"));
        assert_eq!(r.consents[0].status, ConsentStatus::Erased);

        let stone = &r.erasures[0];
        assert_eq!(
            (stone.id.as_str(), stone.actor.as_str()),
            ("era_1", "auditor:bo")
        );
        let recorded: ErasureCounts = serde_json::from_str(&stone.counts).unwrap();
        assert_eq!(recorded, counts);
        let (entries, _) = db.audit_chain().await.unwrap();
        let last = entries.last().unwrap();
        assert_eq!(last.event, "subject.erased");
        let details: serde_json::Value = serde_json::from_str(&last.details).unwrap();
        assert_eq!(details["counts"], serde_json::to_value(&counts).unwrap());

        // The other subject keeps everything.
        assert!(db.subject("sub2").await.unwrap().is_some());
        assert_eq!(db.verification_media("ver_2").await.unwrap().len(), 1);
        assert_eq!(
            db.get_consent("org1", "cns_2")
                .await
                .unwrap()
                .unwrap()
                .status,
            ConsentStatus::Active
        );
    }

    #[tokio::test]
    async fn erasure_deletes_the_records_of_purposes_that_say_so() {
        let db = TempStore::new().await;
        two_subjects(&db).await;
        let counts = db
            .erase_subject(
                "org1",
                "sub1",
                &["ecs_application"],
                &[],
                &tombstone(),
                &audit("subject.erased"),
            )
            .await
            .unwrap();
        assert_eq!(
            (
                counts.verifications_deleted,
                counts.review_cases_deleted,
                counts.consents_deleted
            ),
            (2, 1, 1)
        );
        assert_eq!(counts.consents_reduced, 0);
        let r = db.subject_records("org1", "sub1").await.unwrap();
        assert!(r.verifications.is_empty() && r.review_cases.is_empty() && r.consents.is_empty());
        assert_eq!(r.erasures.len(), 1);
        assert!(db
            .get_verification("org1", "ver_2")
            .await
            .unwrap()
            .is_some());
    }
}
