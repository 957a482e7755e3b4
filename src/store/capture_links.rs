//! One-time links to the applicant capture page: created, opened by token, consented, used up by the
//! submission (in `enqueue_verification`).

use super::{
    BeginWrite, CaptureLinkRow, ConsentRow, NewAudit, Store, StoreError, CAPTURE_LINK_COLUMNS,
};

impl Store {
    pub async fn create_capture_link(
        &self,
        link: &CaptureLinkRow,
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin_write().await?;
            append_audit!(tx, audit);
            sqlx::query(&format!(
                "INSERT INTO capture_links ({CAPTURE_LINK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
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
            .bind(&link.declared_sealed)
            .bind(&link.declared_key_id)
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
            let mut tx = p.begin_write().await?;
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

#[cfg(test)]
mod tests {
    use super::super::testing::{audit, consent, verification, TempStore};
    use super::super::VerificationRow;
    use super::*;
    use crate::domain::VerificationStatus;

    fn link(id: &str, expires_at: i64) -> CaptureLinkRow {
        CaptureLinkRow {
            id: id.into(),
            org: "org1".into(),
            token_hash: format!("hash_{id}"),
            subject_id: "sub1".into(),
            purpose: "ecs_application".into(),
            external_ref: None,
            created_by: "key_1".into(),
            created_at: 1,
            expires_at,
            consent_ref: None,
            verification_id: None,
            used_at: None,
            declared_sealed: None,
            declared_key_id: None,
        }
    }

    fn given_at(consent_ref: &str, at: i64) -> ConsentRow {
        ConsentRow {
            created_at: at,
            ..consent(consent_ref, "sub1")
        }
    }

    #[tokio::test]
    async fn a_link_takes_one_consent_and_submits_once() {
        let db = TempStore::new().await;
        let l = link("cl_1", 1_000);
        db.create_capture_link(&l, &audit("capture_link.created"))
            .await
            .unwrap();
        assert_eq!(
            db.capture_link_by_token("hash_cl_1").await.unwrap(),
            Some(l.clone())
        );
        assert_eq!(db.get_capture_link("org2", "cl_1").await.unwrap(), None);

        db.record_link_consent("cl_1", &given_at("cns_1", 10), &audit("consent.recorded"))
            .await
            .unwrap();
        let second = db
            .record_link_consent("cl_1", &given_at("cns_2", 11), &audit("consent.recorded"))
            .await;
        assert!(
            matches!(second, Err(StoreError::CaptureLinkChanged)),
            "{second:?}"
        );
        assert_eq!(db.get_consent("org1", "cns_2").await.unwrap(), None);

        let submit = |id: &str| VerificationRow {
            created_at: 20,
            ..verification(id, "sub1", "cns_1", VerificationStatus::Pending)
        };
        db.enqueue_verification(
            &submit("ver_1"),
            &[],
            &audit("verification.requested"),
            None,
            Some("cl_1"),
        )
        .await
        .unwrap();
        let again = db
            .enqueue_verification(
                &submit("ver_2"),
                &[],
                &audit("verification.requested"),
                None,
                Some("cl_1"),
            )
            .await;
        assert!(
            matches!(again, Err(StoreError::CaptureLinkTaken)),
            "{again:?}"
        );
        // The refused submission left nothing behind.
        assert_eq!(db.get_verification("org1", "ver_2").await.unwrap(), None);
        assert_eq!(db.pending_jobs().await.unwrap(), 1);

        let used = db.get_capture_link("org1", "cl_1").await.unwrap().unwrap();
        assert_eq!(used.consent_ref.as_deref(), Some("cns_1"));
        assert_eq!(used.verification_id.as_deref(), Some("ver_1"));
        assert_eq!(used.used_at, Some(20));
    }

    #[tokio::test]
    async fn an_expired_link_takes_no_consent_and_no_submission() {
        let db = TempStore::new().await;
        db.create_capture_link(&link("cl_1", 100), &audit("capture_link.created"))
            .await
            .unwrap();
        let late = db
            .record_link_consent("cl_1", &given_at("cns_1", 100), &audit("consent.recorded"))
            .await;
        assert!(
            matches!(late, Err(StoreError::CaptureLinkChanged)),
            "{late:?}"
        );
        assert_eq!(db.count_rows("consents").await.unwrap(), 0);

        db.create_consent(&consent("cns_1", "sub1"), &audit("consent.recorded"))
            .await
            .unwrap();
        let v = VerificationRow {
            created_at: 100,
            ..verification("ver_1", "sub1", "cns_1", VerificationStatus::Pending)
        };
        let late = db
            .enqueue_verification(
                &v,
                &[],
                &audit("verification.requested"),
                None,
                Some("cl_1"),
            )
            .await;
        assert!(
            matches!(late, Err(StoreError::CaptureLinkTaken)),
            "{late:?}"
        );
        assert_eq!(db.count_rows("verifications").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn challenges_per_link_are_bounded_and_end_with_its_use() {
        let db = TempStore::new().await;
        db.create_capture_link(&link("cl_1", 1_000), &audit("capture_link.created"))
            .await
            .unwrap();
        assert!(db.count_link_challenge("cl_1", 2).await.unwrap());
        assert!(db.count_link_challenge("cl_1", 2).await.unwrap());
        assert!(!db.count_link_challenge("cl_1", 2).await.unwrap());
        assert!(!db.count_link_challenge("cl_unknown", 2).await.unwrap());

        db.create_capture_link(&link("cl_2", 1_000), &audit("capture_link.created"))
            .await
            .unwrap();
        db.create_consent(&consent("cns_1", "sub1"), &audit("consent.recorded"))
            .await
            .unwrap();
        let v = VerificationRow {
            created_at: 5,
            ..verification("ver_1", "sub1", "cns_1", VerificationStatus::Pending)
        };
        db.enqueue_verification(
            &v,
            &[],
            &audit("verification.requested"),
            None,
            Some("cl_2"),
        )
        .await
        .unwrap();
        assert!(!db.count_link_challenge("cl_2", 5).await.unwrap());
    }
}
