//! Verifications and their sealed items: looked up (by id, by Idempotency-Key) and recorded with
//! their decision when decided synchronously. The asynchronous path is in `jobs`.

use super::{
    MediaRow, NewAudit, ReviewCaseRow, Store, StoreError, VerificationRow, MEDIA_COLUMNS,
    VERIFICATION_COLUMNS,
};

impl Store {
    /// The verification an Idempotency-Key already names: a retry gets it back instead of a second one.
    pub async fn find_by_idempotency_key(
        &self,
        org: &str,
        key: &str,
    ) -> Result<Option<VerificationRow>, StoreError> {
        let sql = format!("SELECT {VERIFICATION_COLUMNS} FROM verifications WHERE org = $1 AND idempotency_key = $2");
        Ok(fetch_optional_as!(self, VerificationRow, &sql, org, key))
    }

    pub async fn get_verification(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Option<VerificationRow>, StoreError> {
        let sql =
            format!("SELECT {VERIFICATION_COLUMNS} FROM verifications WHERE org = $1 AND id = $2");
        Ok(fetch_optional_as!(self, VerificationRow, &sql, org, id))
    }

    /// A verification by id alone: for the job workers, which act for every organisation.
    pub async fn get_verification_unscoped(
        &self,
        id: &str,
    ) -> Result<Option<VerificationRow>, StoreError> {
        let sql = format!("SELECT {VERIFICATION_COLUMNS} FROM verifications WHERE id = $1");
        Ok(fetch_optional_as!(self, VerificationRow, &sql, id))
    }

    /// Records a synchronous verification, its decision (with its review case when referred) and its
    /// sealed media together. A concurrent duplicate of the Idempotency-Key is
    /// `DuplicateIdempotencyKey`.
    pub async fn record_verification(
        &self,
        v: &VerificationRow,
        review: Option<&ReviewCaseRow>,
        media: &[MediaRow],
        audits: &[NewAudit],
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            for a in audits {
                append_audit!(tx, a);
            }
            insert_verification!(tx, v);
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

    /// The sealed items of one verification.
    pub async fn verification_media(
        &self,
        verification_id: &str,
    ) -> Result<Vec<MediaRow>, StoreError> {
        let sql = format!("SELECT {MEDIA_COLUMNS} FROM media WHERE verification_id = $1");
        Ok(fetch_all_as!(self, MediaRow, &sql, verification_id))
    }

    /// One sealed item of an organisation (e.g. a frame kept as invigilation evidence).
    pub async fn media_item(&self, org: &str, id: &str) -> Result<Option<MediaRow>, StoreError> {
        let sql = format!("SELECT {MEDIA_COLUMNS} FROM media WHERE org = $1 AND id = $2");
        Ok(fetch_optional_as!(self, MediaRow, &sql, org, id))
    }
}

