//! Verifications and their sealed items: looked up (by id, by Idempotency-Key) and recorded with
//! their decision when decided synchronously. The asynchronous path is in `jobs`.

use super::{
    BeginWrite, MediaRow, NewAudit, ReviewCaseRow, Store, StoreError, VerificationRow,
    MEDIA_COLUMNS, VERIFICATION_COLUMNS,
};

impl Store {
    /// The verification an Idempotency-Key already names: a retry gets it back instead of a second one.
    /// The verification `submitted_by` sent with Idempotency-Key `key` (keys are scoped to the sender).
    pub async fn find_by_idempotency_key(
        &self,
        org: &str,
        submitted_by: &str,
        key: &str,
    ) -> Result<Option<VerificationRow>, StoreError> {
        let sql = format!(
            "SELECT {VERIFICATION_COLUMNS} FROM verifications
             WHERE org = $1 AND submitted_by = $2 AND idempotency_key = $3"
        );
        Ok(fetch_optional_as!(
            self,
            VerificationRow,
            &sql,
            org,
            submitted_by,
            key
        ))
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
            let mut tx = p.begin_write().await?;
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

#[cfg(test)]
mod tests {
    use super::super::testing::{audit, decided, media, record, review, TempStore};
    use super::*;
    use crate::domain::{MediaClass, MediaKind, ReviewKind};

    #[tokio::test]
    async fn a_decision_is_recorded_with_its_items_and_case() {
        let db = TempStore::new().await;
        let v = decided("ver_1", 10);
        let items = [
            media("med_1", "ver_1", MediaKind::Document),
            media("med_2", "ver_1", MediaKind::DocumentEmbedding),
        ];
        record(&db, &v, &items, Some(&review("rev_1", "ver_1"))).await;

        assert_eq!(
            db.get_verification("org1", "ver_1").await.unwrap(),
            Some(v.clone())
        );
        assert_eq!(db.get_verification("org2", "ver_1").await.unwrap(), None);
        assert_eq!(
            db.get_verification_unscoped("ver_1").await.unwrap(),
            Some(v)
        );
        let stored = db.verification_media("ver_1").await.unwrap();
        assert_eq!(stored.len(), 2);
        let embedding = stored.iter().find(|m| m.id == "med_2").unwrap();
        assert_eq!(embedding.class, MediaClass::Embedding);
        assert_eq!(embedding.sealed, b"ciphertext".to_vec());
        assert_eq!(
            db.media_item("org1", "med_1").await.unwrap().unwrap().kind,
            MediaKind::Document
        );
        assert_eq!(db.media_item("org2", "med_1").await.unwrap(), None);
        let case = db.get_review("org1", "rev_1").await.unwrap().unwrap();
        assert_eq!(case.kind, ReviewKind::Referred);
    }

    #[tokio::test]
    async fn an_idempotency_key_names_one_verification_of_its_sender() {
        let db = TempStore::new().await;
        let first = VerificationRow {
            idempotency_key: Some("idem-1".into()),
            ..decided("ver_1", 10)
        };
        record(&db, &first, &[], None).await;
        let retry = VerificationRow {
            id: "ver_2".into(),
            ..first.clone()
        };
        let items = [media("med_1", "ver_2", MediaKind::Selfie)];
        let again = db
            .record_verification(&retry, None, &items, &[audit("verification.decided")])
            .await;
        assert!(
            matches!(again, Err(StoreError::DuplicateIdempotencyKey)),
            "{again:?}"
        );
        assert_eq!(
            db.find_by_idempotency_key("org1", "key:test", "idem-1")
                .await
                .unwrap(),
            Some(first.clone())
        );
        for (org, sender) in [("org2", "key:test"), ("org1", "key:other")] {
            assert_eq!(
                db.find_by_idempotency_key(org, sender, "idem-1")
                    .await
                    .unwrap(),
                None
            );
        }
        // Nothing of the refused request stays.
        assert_eq!(db.get_verification("org1", "ver_2").await.unwrap(), None);
        assert_eq!(db.count_rows("media").await.unwrap(), 0);
        // Another key of the same organisation may use the same Idempotency-Key for its own request.
        let other = VerificationRow {
            id: "ver_3".into(),
            submitted_by: Some("key:other".into()),
            ..first
        };
        record(&db, &other, &[], None).await;
        assert_eq!(
            db.find_by_idempotency_key("org1", "key:other", "idem-1")
                .await
                .unwrap()
                .map(|v| v.id),
            Some("ver_3".into())
        );
    }
}
