//! What only tests use: compiled for the unit tests and, with the `test-support` feature, for the
//! integration tests in `tests/` (which get it through the crate's dev-dependency on itself); never
//! in a release build.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// A connection without migrations, for tests that administer a server (e.g. create databases).
    #[doc(hidden)]
    pub async fn connect_unmigrated_for_tests(url: &str) -> Result<Store, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        Ok(Store::Postgres(
            PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?,
        ))
    }

    /// Rows in a table: for tests that check nothing was stored.
    #[doc(hidden)]
    pub async fn count_rows(&self, table: &str) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        Ok(on_pool!(self, |p| sqlx::query(&sql)
            .fetch_one(p)
            .await?
            .try_get("n")?))
    }

    /// Runs raw SQL: for tests that tamper with the database, and nothing else.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(on_pool!(self, |p| sqlx::query(sql)
            .execute(p)
            .await?
            .rows_affected()))
    }
}

/// The unit tests' database and rows: one migrated SQLite file per test, and rows of organisation
/// `org1` with fixed, obviously fake content.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::PathBuf;

    use crate::domain::{ConsentStatus, MediaKind, ReviewKind, ReviewStatus, VerificationStatus};
    use crate::store::{
        ConsentRow, MediaRow, NewAudit, ReviewCaseRow, Store, SubjectRow, VerificationRow,
    };

    /// A migrated SQLite store in a file of its own (the pool's connections share it, as in
    /// production; an in-memory database would be one per connection), deleted when dropped.
    pub struct TempStore {
        store: Store,
        path: PathBuf,
    }

    impl TempStore {
        pub async fn new() -> TempStore {
            let path = std::env::temp_dir().join(format!("idv-store-{}.db", uuid::Uuid::new_v4()));
            let store = Store::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("a temporary SQLite store");
            TempStore { store, path }
        }
    }

    impl std::ops::Deref for TempStore {
        type Target = Store;
        fn deref(&self) -> &Store {
            &self.store
        }
    }

    impl Drop for TempStore {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = self.path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }

    pub fn audit(event: &'static str) -> NewAudit {
        NewAudit {
            at: 1,
            org: "org1".into(),
            actor: "test".into(),
            event,
            entity: "e".into(),
            subject_digest: None,
            details: serde_json::json!({}),
        }
    }

    pub fn subject(org: &str, subject_id: &str) -> SubjectRow {
        SubjectRow {
            subject_id: subject_id.into(),
            org: org.into(),
            key_id: format!("key_{subject_id}"),
            wrapped_key: b"wrapped".to_vec(),
            master_key_id: "mk1".into(),
            ref_sealed: b"sealed ref".to_vec(),
            created_at: 1,
            restricted_at: None,
        }
    }

    pub fn consent(consent_ref: &str, subject_id: &str) -> ConsentRow {
        ConsentRow {
            consent_ref: consent_ref.into(),
            org: "org1".into(),
            subject_id: subject_id.into(),
            purpose: "ecs_application".into(),
            lawful_basis: "explicit_consent".into(),
            notice_version: "v1".into(),
            status: ConsentStatus::Active,
            created_at: 1,
            withdrawn_at: None,
        }
    }

    pub fn verification(
        id: &str,
        subject_id: &str,
        consent_ref: &str,
        status: VerificationStatus,
    ) -> VerificationRow {
        VerificationRow {
            id: id.into(),
            org: "org1".into(),
            subject_id: subject_id.into(),
            consent_ref: consent_ref.into(),
            purpose: "ecs_application".into(),
            external_ref: Some("app-1".into()),
            status,
            idempotency_key: None,
            request_digest: "digest".into(),
            decision: None,
            record: None,
            error_code: None,
            created_at: 1,
            decided_at: None,
            retention_until: None,
            submitted_by: Some("key:test".into()),
        }
    }

    /// A sealed item of verification `verification_id` (of subject `sub1`, consent `cns_1`).
    pub fn media(id: &str, verification_id: &str, kind: MediaKind) -> MediaRow {
        MediaRow {
            id: id.into(),
            org: "org1".into(),
            subject_id: "sub1".into(),
            key_id: "key_sub1".into(),
            verification_id: Some(verification_id.into()),
            consent_ref: "cns_1".into(),
            purpose: "ecs_application".into(),
            kind,
            class: kind.class(),
            sha256: None,
            sealed: b"ciphertext".to_vec(),
            created_at: 1,
        }
    }

    pub fn review(id: &str, verification_id: &str) -> ReviewCaseRow {
        ReviewCaseRow {
            id: id.into(),
            org: "org1".into(),
            verification_id: verification_id.into(),
            purpose: "ecs_application".into(),
            status: ReviewStatus::Open,
            kind: ReviewKind::Referred,
            invigilation_session_id: None,
            reasons: r#"["low_similarity"]"#.into(),
            created_at: 1,
            outcome: None,
            outcome_reason: None,
            resolved_by: None,
            resolved_at: None,
        }
    }
    /// A verification of `sub1` under `cns_1`, decided at `decided_at`.
    pub fn decided(id: &str, decided_at: i64) -> VerificationRow {
        VerificationRow {
            decision: Some("verified".into()),
            record: Some(r#"{"decision":"verified"}"#.into()),
            decided_at: Some(decided_at),
            ..verification(id, "sub1", "cns_1", VerificationStatus::Decided)
        }
    }

    /// Records `v` synchronously with its items and case, first recording its consent (as `consent`
    /// makes it) when the store does not have it yet.
    pub async fn record(
        db: &Store,
        v: &VerificationRow,
        media: &[MediaRow],
        review: Option<&ReviewCaseRow>,
    ) {
        if db
            .get_consent(&v.org, &v.consent_ref)
            .await
            .unwrap()
            .is_none()
        {
            let c = ConsentRow {
                org: v.org.clone(),
                purpose: v.purpose.clone(),
                ..consent(&v.consent_ref, &v.subject_id)
            };
            db.create_consent(&c, &audit("consent.recorded"))
                .await
                .unwrap();
        }
        db.record_verification(v, review, media, &[audit("verification.decided")])
            .await
            .unwrap();
    }
}
