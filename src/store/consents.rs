//! Consents (and the other lawful bases), and withdrawing them with the purge of what they covered.

use super::{BeginWrite, ConsentRow, NewAudit, PurgeCounts, Store, StoreError, CONSENT_COLUMNS};
use crate::domain::MediaClass;

impl Store {
    pub async fn create_consent(&self, c: &ConsentRow, audit: &NewAudit) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            insert_consent!(tx, c);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn get_consent(
        &self,
        org: &str,
        consent_ref: &str,
    ) -> Result<Option<ConsentRow>, StoreError> {
        let sql =
            format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE org = $1 AND consent_ref = $2");
        Ok(fetch_optional_as!(self, ConsentRow, &sql, org, consent_ref))
    }

    /// Marks an active consent withdrawn; `None` when it was not active. With `purge`, the biometric
    /// items collected under it are deleted and its pending jobs end as failed, in the same transaction;
    /// the counts go into the audit entry's `purged` detail and are returned.
    pub async fn withdraw_consent(
        &self,
        org: &str,
        consent_ref: &str,
        purge: bool,
        audit: &NewAudit,
    ) -> Result<Option<PurgeCounts>, StoreError> {
        let counts = on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(
                "UPDATE consents SET status = 'withdrawn', withdrawn_at = $1 WHERE org = $2 AND consent_ref = $3 AND status = 'active'",
            )
            .bind(audit.at)
            .bind(org)
            .bind(consent_ref)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok(None);
            }
            let mut counts = PurgeCounts::default();
            let mut audit = audit.clone();
            if purge {
                for (class, count) in [
                    (MediaClass::Media, &mut counts.media),
                    (MediaClass::Embedding, &mut counts.embeddings),
                ] {
                    *count = sqlx::query(
                        "DELETE FROM media WHERE org = $1 AND consent_ref = $2 AND class = $3",
                    )
                    .bind(org)
                    .bind(consent_ref)
                    .bind(class)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                let pending = "SELECT id FROM verifications WHERE org = $1 AND consent_ref = $2 AND status = 'pending'";
                sqlx::query(&format!(
                    "DELETE FROM jobs WHERE verification_id IN ({pending})"
                ))
                .bind(org)
                .bind(consent_ref)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE verifications SET status = 'failed', error_code = 'consent_withdrawn', decided_at = $3
                     WHERE org = $1 AND consent_ref = $2 AND status = 'pending'",
                )
                .bind(org)
                .bind(consent_ref)
                .bind(audit.at)
                .execute(&mut *tx)
                .await?;
                // Sessions under the consent end, and their templates go.
                sqlx::query(
                    "UPDATE invigilation_sessions SET status = 'closed', closed_at = $3, template_sealed = NULL
                     WHERE org = $1 AND consent_ref = $2",
                )
                .bind(org)
                .bind(consent_ref)
                .bind(audit.at)
                .execute(&mut *tx)
                .await?;
                audit.details["purged"] =
                    serde_json::json!({"media": counts.media, "embeddings": counts.embeddings});
            }
            append_audit!(tx, &audit);
            tx.commit().await?;
            Some(counts)
        });
        Ok(counts)
    }

    /// The subject's consents of one organisation, oldest first.
    pub async fn subject_consents(
        &self,
        org: &str,
        subject_id: &str,
    ) -> Result<Vec<ConsentRow>, StoreError> {
        let sql = format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE org = $1 AND subject_id = $2 ORDER BY created_at, consent_ref");
        Ok(fetch_all_as!(self, ConsentRow, &sql, org, subject_id))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{audit, consent, media, verification, TempStore};
    use super::*;
    use crate::domain::{ConsentStatus, MediaKind, VerificationStatus};

    #[tokio::test]
    async fn a_consent_is_withdrawn_once() {
        let db = TempStore::new().await;
        let c = consent("cns_1", "sub1");
        db.create_consent(&c, &audit("consent.recorded"))
            .await
            .unwrap();
        assert_eq!(db.get_consent("org1", "cns_1").await.unwrap(), Some(c));
        assert_eq!(db.get_consent("org2", "cns_1").await.unwrap(), None);

        let first = db
            .withdraw_consent("org1", "cns_1", false, &audit("consent.withdrawn"))
            .await
            .unwrap();
        assert_eq!(first, Some(PurgeCounts::default()));
        let again = db
            .withdraw_consent("org1", "cns_1", false, &audit("consent.withdrawn"))
            .await
            .unwrap();
        assert_eq!(again, None);
        let stored = db.get_consent("org1", "cns_1").await.unwrap().unwrap();
        assert_eq!(stored.status, ConsentStatus::Withdrawn);
        assert!(stored.withdrawn_at.is_some());
    }

    #[tokio::test]
    async fn withdrawal_with_purge_deletes_items_and_fails_pending_work() {
        let db = TempStore::new().await;
        db.create_consent(&consent("cns_1", "sub1"), &audit("consent.recorded"))
            .await
            .unwrap();
        let v = verification("ver_1", "sub1", "cns_1", VerificationStatus::Pending);
        let items = [
            media("med_1", "ver_1", MediaKind::Document),
            media("med_2", "ver_1", MediaKind::Selfie),
            media("med_3", "ver_1", MediaKind::SelfieEmbedding),
        ];
        db.enqueue_verification(&v, &items, &audit("verification.requested"), None, None)
            .await
            .unwrap();

        let counts = db
            .withdraw_consent("org1", "cns_1", true, &audit("consent.withdrawn"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((counts.media, counts.embeddings), (2, 1));
        assert!(db.verification_media("ver_1").await.unwrap().is_empty());
        assert_eq!(db.pending_jobs().await.unwrap(), 0);
        let failed = db.get_verification("org1", "ver_1").await.unwrap().unwrap();
        assert_eq!(failed.status, VerificationStatus::Failed);
        assert_eq!(failed.error_code.as_deref(), Some("consent_withdrawn"));
        let (entries, _) = db.audit_chain().await.unwrap();
        let last = entries.last().unwrap();
        assert_eq!(last.event, "consent.withdrawn");
        let details: serde_json::Value = serde_json::from_str(&last.details).unwrap();
        assert_eq!(
            details["purged"],
            serde_json::json!({"media": 2, "embeddings": 1})
        );
    }
}
