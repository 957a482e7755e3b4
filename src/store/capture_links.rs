//! One-time links to the applicant capture page: created, opened by token, consented, used up by the
//! submission (in `enqueue_verification`).

use super::{CaptureLinkRow, ConsentRow, NewAudit, Store, StoreError, CAPTURE_LINK_COLUMNS};

impl Store {
    pub async fn create_capture_link(
        &self,
        link: &CaptureLinkRow,
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            sqlx::query(&format!(
                "INSERT INTO capture_links ({CAPTURE_LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ))
            .bind(&link.id)
            .bind(&link.org)
            .bind(&link.token_hash)
            .bind(&link.subject_id)
            .bind(&link.purpose)
            .bind(&link.external_ref)
            .bind(&link.created_by)
            .bind(link.created_at)
            .bind(link.expires_at)
            .bind(&link.consent_ref)
            .bind(&link.verification_id)
            .bind(link.used_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The link a capture page's token opens (the token's sha256 is the key), whatever its state.
    pub async fn capture_link_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<CaptureLinkRow>, StoreError> {
        let sql = format!("SELECT {CAPTURE_LINK_COLUMNS} FROM capture_links WHERE token_hash = $1");
        Ok(fetch_optional_as!(self, CaptureLinkRow, &sql, token_hash))
    }

    pub async fn get_capture_link(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Option<CaptureLinkRow>, StoreError> {
        let sql =
            format!("SELECT {CAPTURE_LINK_COLUMNS} FROM capture_links WHERE org = $1 AND id = $2");
        Ok(fetch_optional_as!(self, CaptureLinkRow, &sql, org, id))
    }

    /// Counts one more challenge against a link; false when it already had `max` (or is used or gone).
    pub async fn count_link_challenge(&self, link_id: &str, max: u32) -> Result<bool, StoreError> {
        let sql = "UPDATE capture_links SET challenges_issued = challenges_issued + 1
                   WHERE id = $1 AND used_at IS NULL AND challenges_issued < $2";
        Ok(on_pool!(self, |p| sqlx::query(sql)
            .bind(link_id)
            .bind(i64::from(max))
            .execute(p)
            .await?
            .rows_affected()
            == 1))
    }

    /// Records the consent given on a capture page and names it on the link, in one transaction; a link
    /// that already has one, or is used or expired at `consent.created_at`, is `CaptureLinkChanged` and
    /// nothing is written.
    pub async fn record_link_consent(
        &self,
        link_id: &str,
        consent: &ConsentRow,
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            insert_consent!(tx, consent);
            let named = sqlx::query(
                "UPDATE capture_links SET consent_ref = $1 WHERE id = $2 AND consent_ref IS NULL
                 AND used_at IS NULL AND expires_at > $3",
            )
            .bind(&consent.consent_ref)
            .bind(link_id)
            .bind(consent.created_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if named != 1 {
                return Err(StoreError::CaptureLinkChanged);
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

