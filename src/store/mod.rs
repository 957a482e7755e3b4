//! All SQL lives here. One `Store` over two engines: SQLite (embedded default, WAL) and PostgreSQL
//! (shared by several `idv serve` processes). Each has its own migrations (`migrations/sqlite`,
//! `migrations/postgres`); the queries are written once in the dialect both accept and expanded for
//! each driver by `on_pool!`, so the two cannot drift apart.
//!
//! Every write that matters is one transaction with its audit entry: the chain head is updated first,
//! which serialises writers (a row lock on PostgreSQL, the write lock on SQLite).

mod rows;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Row, SqlitePool};

pub use rows::*;

use crate::audit::{self, AuditEntry};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL (use sqlite://FILE or postgres://…)")]
    BadUrl,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Conflict(&'static str),
}

/// The database, SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code against whichever pool this is; `$pool` is bound to the concrete pool.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

/// Fetches at most one row and decodes it as `$ty`, on either pool.
macro_rules! fetch_optional_as {
    ($store:expr, $ty:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        on_pool!($store, |p| {
            let row = sqlx::query($sql)$(.bind($bind))*.fetch_optional(p).await?;
            row.map(|r| <$ty>::from_row(&r)).transpose()?
        })
    };
}

/// Appends one audit entry inside an open transaction: bumps the chain head (taking the write lock),
/// hashes the entry onto it and inserts it.
macro_rules! append_audit {
    ($tx:expr, $new:expr) => {{
        let new: &NewAudit = $new;
        let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *$tx)
            .await?;
        let seq: i64 = head.try_get("seq")?;
        let prev_hash: String = head.try_get("hash")?;
        let mut entry = AuditEntry {
            seq,
            at: new.at,
            org: new.org.clone(),
            actor: new.actor.clone(),
            event: new.event.to_string(),
            entity: new.entity.clone(),
            subject_digest: new.subject_digest.clone(),
            details: new.details.to_string(),
            prev_hash: prev_hash.clone(),
            entry_hash: String::new(),
        };
        entry.entry_hash = audit::entry_hash(&entry, &prev_hash);
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1").bind(&entry.entry_hash).execute(&mut *$tx).await?;
        sqlx::query(
            "INSERT INTO audit_log (seq, at, org, actor, event, entity, subject_digest, details, prev_hash, entry_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(entry.seq)
        .bind(entry.at)
        .bind(&entry.org)
        .bind(&entry.actor)
        .bind(&entry.event)
        .bind(&entry.entity)
        .bind(&entry.subject_digest)
        .bind(&entry.details)
        .bind(&entry.prev_hash)
        .bind(&entry.entry_hash)
        .execute(&mut *$tx)
        .await?;
    }};
}

macro_rules! insert_verification {
    ($tx:expr, $v:expr) => {{
        let v: &VerificationRow = $v;
        let inserted = sqlx::query(
            "INSERT INTO verifications (id, org, subject_ref, consent_ref, purpose, external_ref, status, idempotency_key,
             request_digest, decision, record, error_code, created_at, decided_at, retention_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&v.id)
        .bind(&v.org)
        .bind(&v.subject_ref)
        .bind(&v.consent_ref)
        .bind(&v.purpose)
        .bind(&v.external_ref)
        .bind(&v.status)
        .bind(&v.idempotency_key)
        .bind(&v.request_digest)
        .bind(&v.decision)
        .bind(&v.record)
        .bind(&v.error_code)
        .bind(v.created_at)
        .bind(v.decided_at)
        .bind(v.retention_until)
        .execute(&mut *$tx)
        .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict("a verification with this Idempotency-Key already exists"));
            }
            other => other?,
        };
    }};
}

macro_rules! insert_review {
    ($tx:expr, $r:expr) => {{
        let r: &ReviewCaseRow = $r;
        sqlx::query(
            "INSERT INTO review_cases (id, org, verification_id, purpose, status, reasons, created_at)
             VALUES ($1, $2, $3, $4, 'open', $5, $6)",
        )
        .bind(&r.id)
        .bind(&r.org)
        .bind(&r.verification_id)
        .bind(&r.purpose)
        .bind(&r.reasons)
        .bind(r.created_at)
        .execute(&mut *$tx)
        .await?;
    }};
}

pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

impl Store {
    /// Connects (creating a SQLite file on first use) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            Store::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(options)
                    .await?,
            )
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)?;
            Store::Postgres(
                PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?,
            )
        } else {
            return Err(StoreError::BadUrl);
        };
        match &store {
            Store::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
            Store::Postgres(p) => POSTGRES_MIGRATIONS.run(p).await?,
        }
        Ok(store)
    }

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

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            sqlx::query("SELECT 1").execute(p).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, |p| p.close().await)
    }

    // ---------------------------------------------------------------------------------- API keys

    pub async fn create_key(&self, key: &KeyRow, audit: &NewAudit) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            sqlx::query("INSERT INTO api_keys (id, org, role, label, key_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&key.id)
                .bind(&key.org)
                .bind(&key.role)
                .bind(&key.label)
                .bind(&key.key_hash)
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The active key with this secret hash.
    pub async fn find_key(&self, key_hash: &str) -> Result<Option<KeyRow>, StoreError> {
        let sql = "SELECT id, org, role, label, key_hash, created_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL";
        Ok(fetch_optional_as!(self, KeyRow, sql, key_hash))
    }

    pub async fn list_keys(&self) -> Result<Vec<(KeyRow, Option<i64>)>, StoreError> {
        let sql = "SELECT id, org, role, label, key_hash, created_at, revoked_at FROM api_keys ORDER BY created_at";
        Ok(on_pool!(self, |p| {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            rows.iter()
                .map(|r| Ok((KeyRow::from_row(r)?, r.try_get("revoked_at")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        }))
    }

    pub async fn revoke_key(&self, id: &str, audit: &NewAudit) -> Result<bool, StoreError> {
        let done = on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            let n = sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                tx.commit().await?;
            }
            n == 1
        });
        Ok(done)
    }

    // ---------------------------------------------------------------------------------- consents

    pub async fn create_consent(&self, c: &ConsentRow, audit: &NewAudit) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            sqlx::query(
                "INSERT INTO consents (consent_ref, org, subject_ref, purpose, lawful_basis, notice_version, status, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&c.consent_ref)
            .bind(&c.org)
            .bind(&c.subject_ref)
            .bind(&c.purpose)
            .bind(&c.lawful_basis)
            .bind(&c.notice_version)
            .bind(&c.status)
            .bind(c.created_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn get_consent(
        &self,
        org: &str,
        consent_ref: &str,
    ) -> Result<Option<ConsentRow>, StoreError> {
        let sql = "SELECT consent_ref, org, subject_ref, purpose, lawful_basis, notice_version, status, created_at, withdrawn_at
                   FROM consents WHERE org = $1 AND consent_ref = $2";
        Ok(fetch_optional_as!(self, ConsentRow, sql, org, consent_ref))
    }

    /// Marks an active consent withdrawn; `false` when it was not active.
    pub async fn withdraw_consent(
        &self,
        org: &str,
        consent_ref: &str,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        let done = on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            let n = sqlx::query(
                "UPDATE consents SET status = 'withdrawn', withdrawn_at = $1 WHERE org = $2 AND consent_ref = $3 AND status = 'active'",
            )
            .bind(audit.at)
            .bind(org)
            .bind(consent_ref)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                tx.commit().await?;
            }
            n == 1
        });
        Ok(done)
    }

    // ---------------------------------------------------------------------------------- challenges

    pub async fn create_challenge(&self, c: &ChallengeRow) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            sqlx::query("INSERT INTO challenges (id, org, nonce, actions, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&c.id)
                .bind(&c.org)
                .bind(&c.nonce)
                .bind(&c.actions)
                .bind(c.created_at)
                .bind(c.expires_at)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Uses a challenge once: returns it and marks it used, or `None` when unknown, used or expired.
    pub async fn take_challenge(
        &self,
        org: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<ChallengeRow>, StoreError> {
        let sql = "UPDATE challenges SET used_at = $1 WHERE org = $2 AND id = $3 AND used_at IS NULL AND expires_at > $1
                   RETURNING id, org, nonce, actions, created_at, expires_at";
        Ok(fetch_optional_as!(self, ChallengeRow, sql, now, org, id))
    }

    // ---------------------------------------------------------------------------------- verifications

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

    /// Records an accepted asynchronous verification: the request, its inputs and its job, in one
    /// transaction, so nothing accepted is lost. A concurrent duplicate of the idempotency key is a
    /// `Conflict`.
    pub async fn enqueue_verification(
        &self,
        v: &VerificationRow,
        media: &[MediaRow],
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            insert_verification!(tx, v);
            for m in media {
                sqlx::query("INSERT INTO job_media (verification_id, role, sha256, content) VALUES ($1, $2, $3, $4)")
                    .bind(&v.id)
                    .bind(&m.role)
                    .bind(&m.sha256)
                    .bind(&m.content)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("INSERT INTO jobs (verification_id, created_at) VALUES ($1, $2)")
                .bind(&v.id)
                .bind(v.created_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records a synchronous verification and its decision together (with its review case when referred).
    pub async fn record_verification(
        &self,
        v: &VerificationRow,
        review: Option<&ReviewCaseRow>,
        audits: &[NewAudit],
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            for a in audits {
                append_audit!(tx, a);
            }
            insert_verification!(tx, v);
            if let Some(r) = review {
                insert_review!(tx, r);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records the decision of a leased job exactly once: only while `owner` still holds the lease, and
    /// the job and its inputs go in the same transaction. `Conflict` when the lease was lost.
    pub async fn complete_job(
        &self,
        id: &str,
        owner: &str,
        outcome: &JobOutcome,
        review: Option<&ReviewCaseRow>,
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            let held =
                sqlx::query("DELETE FROM jobs WHERE verification_id = $1 AND lease_owner = $2")
                    .bind(id)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if held != 1 {
                return Err(StoreError::Conflict(
                    "the job's lease was lost to another worker",
                ));
            }
            sqlx::query("DELETE FROM job_media WHERE verification_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE verifications SET status = $1, decision = $2, record = $3, error_code = $4, decided_at = $5,
                 retention_until = $6 WHERE id = $7 AND status = 'pending'",
            )
            .bind(&outcome.status)
            .bind(&outcome.decision)
            .bind(&outcome.record)
            .bind(&outcome.error_code)
            .bind(outcome.decided_at)
            .bind(outcome.retention_until)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if let Some(r) = review {
                insert_review!(tx, r);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Leases the oldest job that is free or whose lease has expired (its worker died). PostgreSQL skips
    /// rows other servers are claiming; SQLite has a single writer, so the update is atomic anyway.
    pub async fn claim_job(
        &self,
        owner: &str,
        now: i64,
        lease: Duration,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        let until = now + lease.as_millis() as i64;
        // Only PostgreSQL has several writers to keep apart.
        let skip_locked = match self {
            Store::Sqlite(_) => "",
            Store::Postgres(_) => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
             WHERE verification_id = (SELECT verification_id FROM jobs WHERE lease_until <= $3
                                      ORDER BY created_at LIMIT 1{skip_locked})
             RETURNING verification_id, attempts"
        );
        Ok(on_pool!(self, |p| {
            let row = sqlx::query(&sql)
                .bind(owner)
                .bind(until)
                .bind(now)
                .fetch_optional(p)
                .await?;
            row.map(|r| -> Result<ClaimedJob, sqlx::Error> {
                Ok(ClaimedJob {
                    verification_id: r.try_get("verification_id")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .transpose()?
        }))
    }

    pub async fn job_media(&self, verification_id: &str) -> Result<Vec<MediaRow>, StoreError> {
        let sql = "SELECT role, sha256, content FROM job_media WHERE verification_id = $1";
        Ok(on_pool!(self, |p| {
            let rows = sqlx::query(sql).bind(verification_id).fetch_all(p).await?;
            rows.iter()
                .map(|r| {
                    Ok(MediaRow {
                        role: r.try_get("role")?,
                        sha256: r.try_get("sha256")?,
                        content: r.try_get("content")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        }))
    }

    /// Jobs accepted but not yet decided (for the queue-depth metric).
    pub async fn pending_jobs(&self) -> Result<i64, StoreError> {
        Ok(on_pool!(self, |p| sqlx::query(
            "SELECT COUNT(*) AS n FROM jobs"
        )
        .fetch_one(p)
        .await?
        .try_get("n")?))
    }

    // ---------------------------------------------------------------------------------- audit

    /// Every audit entry in sequence order, and the chain head.
    pub async fn audit_chain(&self) -> Result<(Vec<AuditEntry>, (i64, String)), StoreError> {
        let sql = "SELECT seq, at, org, actor, event, entity, subject_digest, details, prev_hash, entry_hash
                   FROM audit_log ORDER BY seq";
        Ok(on_pool!(self, |p| {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            let entries = rows
                .iter()
                .map(rows::audit_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(p)
                .await?;
            (entries, (head.try_get("seq")?, head.try_get("hash")?))
        }))
    }

    /// Appends one audit entry on its own (events with no other write, e.g. a record being read).
    pub async fn audit(&self, audit: &NewAudit) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            tx.commit().await?;
        });
        Ok(())
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
