//! Consents (and the other lawful bases), and withdrawing them with the purge of what they covered.

use super::{ConsentRow, NewAudit, PurgeCounts, Store, StoreError, CONSENT_COLUMNS};
use crate::domain::MediaClass;

impl Store {
    pub async fn create_consent(&self, c: &ConsentRow, audit: &NewAudit) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
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
            let mut tx = p.begin().await?;
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

