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
    #[error("key management: {0}")]
    Keys(String),
}

/// The `Conflict` of a submission through a capture link that was used (or expired) meanwhile.
pub const CAPTURE_LINK_TAKEN: &str = "the capture link is used or expired";

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

/// Fetches every row and decodes each as `$ty`, on either pool.
macro_rules! fetch_all_as {
    ($store:expr, $ty:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        on_pool!($store, |p| {
            let rows = sqlx::query($sql)$(.bind($bind))*.fetch_all(p).await?;
            rows.iter().map(|r| <$ty>::from_row(r)).collect::<Result<Vec<_>, sqlx::Error>>()?
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
            "INSERT INTO verifications (id, org, subject_id, consent_ref, purpose, external_ref, status, idempotency_key,
             request_digest, decision, record, error_code, created_at, decided_at, retention_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&v.id)
        .bind(&v.org)
        .bind(&v.subject_id)
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

macro_rules! insert_consent {
    ($tx:expr, $c:expr) => {{
        let c: &ConsentRow = $c;
        sqlx::query(
            "INSERT INTO consents (consent_ref, org, subject_id, purpose, lawful_basis, notice_version, status, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.consent_ref)
        .bind(&c.org)
        .bind(&c.subject_id)
        .bind(&c.purpose)
        .bind(&c.lawful_basis)
        .bind(&c.notice_version)
        .bind(&c.status)
        .bind(c.created_at)
        .execute(&mut *$tx)
        .await?;
    }};
}

macro_rules! insert_review {
    ($tx:expr, $r:expr) => {{
        let r: &ReviewCaseRow = $r;
        sqlx::query(
            "INSERT INTO review_cases (id, org, verification_id, purpose, status, kind, invigilation_session_id, reasons, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&r.id)
        .bind(&r.org)
        .bind(&r.verification_id)
        .bind(&r.purpose)
        .bind(&r.status)
        .bind(&r.kind)
        .bind(&r.invigilation_session_id)
        .bind(&r.reasons)
        .bind(r.created_at)
        .execute(&mut *$tx)
        .await?;
    }};
}

macro_rules! insert_media {
    ($tx:expr, $m:expr) => {{
        let m: &MediaRow = $m;
        sqlx::query(&format!(
            "INSERT INTO media ({MEDIA_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&m.id)
        .bind(&m.org)
        .bind(&m.subject_id)
        .bind(&m.key_id)
        .bind(&m.verification_id)
        .bind(&m.consent_ref)
        .bind(&m.purpose)
        .bind(&m.kind)
        .bind(&m.class)
        .bind(&m.sha256)
        .bind(&m.sealed)
        .bind(m.created_at)
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
                // Deleted rows are overwritten with zeros, so an erased subject's key and sealed
                // items do not linger in free pages of the file.
                .pragma("secure_delete", "on")
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
                    ("media", &mut counts.media),
                    ("embedding", &mut counts.embeddings),
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

    // ---------------------------------------------------------------------------------- subjects and keys

    /// A key of the keyring (wrapped, with the id of the master key that wrapped it).
    pub async fn keyring_key(&self, name: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        Ok(on_pool!(self, |p| {
            let row = sqlx::query("SELECT wrapped_key, master_key_id FROM keyring WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?;
            row.map(|r| -> Result<_, sqlx::Error> {
                Ok((r.try_get("wrapped_key")?, r.try_get("master_key_id")?))
            })
            .transpose()?
        }))
    }

    /// Stores a keyring key unless one of that name exists (a concurrent first start keeps the first).
    pub async fn insert_keyring_key(
        &self,
        name: &str,
        wrapped: &[u8],
        master_key_id: &str,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            sqlx::query(
                "INSERT INTO keyring (name, wrapped_key, master_key_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(wrapped)
            .bind(master_key_id)
            .bind(now_ms())
            .execute(p)
            .await?;
        });
        Ok(())
    }

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
            let mut tx = p.begin().await?;
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

    /// Re-wraps every stored key (subjects' data keys and the keyring) in one transaction:
    /// `rewrap(context, wrapped, master_key_id)` returns the key wrapped by the new master key.
    /// Returns how many keys were re-wrapped.
    pub async fn rewrap_keys<F>(
        &self,
        new_master_key_id: &str,
        rewrap: F,
        audit: &NewAudit,
    ) -> Result<u64, StoreError>
    where
        F: Fn(&str, &[u8], &str) -> Result<Vec<u8>, String>,
    {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            let mut n = 0;
            for (table, id_column, context) in [
                ("subjects", "subject_id", "subject"),
                ("keyring", "name", "keyring"),
            ] {
                let rows = sqlx::query(&format!(
                    "SELECT {id_column} AS id, wrapped_key, master_key_id FROM {table}"
                ))
                .fetch_all(&mut *tx)
                .await?;
                for r in rows {
                    let id: String = r.try_get("id")?;
                    let wrapped: Vec<u8> = r.try_get("wrapped_key")?;
                    let old: String = r.try_get("master_key_id")?;
                    let new = rewrap(&format!("{context}\n{id}"), &wrapped, &old)
                        .map_err(StoreError::Keys)?;
                    sqlx::query(&format!(
                        "UPDATE {table} SET wrapped_key = $1, master_key_id = $2 WHERE {id_column} = $3"
                    ))
                    .bind(&new)
                    .bind(new_master_key_id)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                    n += 1;
                }
            }
            tx.commit().await?;
            n
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
             (SELECT id FROM verifications WHERE org = $1 AND subject_id = $2) ORDER BY created_at, id"
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
        let counts = on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            let mut c = ErasureCounts::default();
            let of_subject = "SELECT id FROM verifications WHERE org = $1 AND subject_id = $2";
            for (class, count) in [("media", &mut c.media), ("embedding", &mut c.embeddings)] {
                *count = sqlx::query(
                    "DELETE FROM media WHERE org = $1 AND subject_id = $2 AND class = $3",
                )
                .bind(org)
                .bind(subject_id)
                .bind(class)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            let sessions =
                "SELECT id FROM invigilation_sessions WHERE org = $1 AND subject_id = $2";
            sqlx::query(&format!(
                "DELETE FROM invigilation_frames WHERE session_id IN ({sessions})"
            ))
            .bind(org)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?;
            c.invigilation_sessions =
                sqlx::query("DELETE FROM invigilation_sessions WHERE org = $1 AND subject_id = $2")
                    .bind(org)
                    .bind(subject_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            // Before the consents: a link names the consent given on its page.
            c.capture_links =
                sqlx::query("DELETE FROM capture_links WHERE org = $1 AND subject_id = $2")
                    .bind(org)
                    .bind(subject_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            c.pending_jobs = sqlx::query(&format!(
                "DELETE FROM jobs WHERE verification_id IN ({of_subject})"
            ))
            .bind(org)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            for purpose in delete_purposes {
                let of_purpose = format!("{of_subject} AND purpose = $3");
                c.review_cases_deleted += sqlx::query(&format!(
                    "DELETE FROM review_cases WHERE verification_id IN ({of_purpose})"
                ))
                .bind(org)
                .bind(subject_id)
                .bind(purpose)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                c.verifications_deleted += sqlx::query(
                    "DELETE FROM verifications WHERE org = $1 AND subject_id = $2 AND purpose = $3",
                )
                .bind(org)
                .bind(subject_id)
                .bind(purpose)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                c.consents_deleted += sqlx::query(
                    "DELETE FROM consents WHERE org = $1 AND subject_id = $2 AND purpose = $3
                     AND consent_ref NOT IN (SELECT consent_ref FROM verifications WHERE org = $1 AND subject_id = $2)",
                )
                .bind(org)
                .bind(subject_id)
                .bind(purpose)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            for (id, record) in reduced {
                c.verifications_reduced += sqlx::query(
                    "UPDATE verifications SET status = 'erased', record = $1, external_ref = NULL, idempotency_key = NULL,
                     request_digest = 'erased' WHERE org = $2 AND subject_id = $3 AND id = $4",
                )
                .bind(record)
                .bind(org)
                .bind(subject_id)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            // A reviewer's free-text reason may describe the person; the outcome stays.
            sqlx::query(&format!(
                "UPDATE review_cases SET outcome_reason = 'erased' WHERE outcome_reason IS NOT NULL
                 AND verification_id IN ({of_subject})"
            ))
            .bind(org)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?;
            c.consents_reduced = sqlx::query(
                "UPDATE consents SET status = 'erased' WHERE org = $1 AND subject_id = $2",
            )
            .bind(org)
            .bind(subject_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            c.data_key_destroyed =
                sqlx::query("DELETE FROM subjects WHERE org = $1 AND subject_id = $2")
                    .bind(org)
                    .bind(subject_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
            let counts = serde_json::to_value(&c).expect("serialisable");
            let mut audit = audit.clone();
            audit.details["counts"] = counts.clone();
            append_audit!(tx, &audit);
            sqlx::query(
                "INSERT INTO erasures (id, org, subject_digest, erased_at, actor, reason, counts) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&tombstone.id)
            .bind(&tombstone.org)
            .bind(&tombstone.subject_digest)
            .bind(tombstone.erased_at)
            .bind(&tombstone.actor)
            .bind(&tombstone.reason)
            .bind(counts.to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            c
        });
        // SQLite: move the zeroed pages from the write-ahead log into the file and empty the log, which
        // still holds the pages as they were written. (PostgreSQL's VACUUM reclaims dead rows.)
        if let Store::Sqlite(p) = self {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(p)
                .await?;
        }
        Ok(counts)
    }

    /// Deletes what the retention policy says is due at `now`, per purpose: sealed media and embeddings
    /// of decisions older than their periods, and decision records (with their review cases and any
    /// remaining items) older than theirs. Each purpose with anything deleted gets one audit entry with
    /// the counts. A dry run counts the same rows and deletes nothing.
    pub async fn sweep(
        &self,
        now: i64,
        policies: &[(&str, crate::settings::RetentionPolicy)],
        dry_run: bool,
    ) -> Result<Vec<PurgeCounts>, StoreError> {
        const DAY_MS: i64 = 86_400_000;
        let decided_by = "SELECT id FROM verifications WHERE purpose = $1 AND decided_at IS NOT NULL AND decided_at <= $2";
        let items = format!(
            "media WHERE purpose = $1 AND class = $3 AND
             (verification_id IN ({decided_by}) OR (verification_id IS NULL AND created_at <= $2))"
        );
        let verb = if dry_run {
            "SELECT COUNT(*) AS n FROM"
        } else {
            "DELETE FROM"
        };
        let mut all = Vec::new();
        for (purpose, policy) in policies {
            let mut counts = PurgeCounts {
                purpose: purpose.to_string(),
                ..Default::default()
            };
            let media_cutoff = now - policy.media_days * DAY_MS;
            let embedding_cutoff = now - policy.embedding_days * DAY_MS;
            let record_cutoff = now - policy.decision_record_days * DAY_MS;
            on_pool!(self, |p| {
                let mut tx = p.begin().await?;
                for (class, cutoff, count) in [
                    ("media", media_cutoff, &mut counts.media),
                    ("embedding", embedding_cutoff, &mut counts.embeddings),
                ] {
                    let sql = format!("{verb} {items}");
                    let q = sqlx::query(&sql).bind(*purpose).bind(cutoff).bind(class);
                    *count = if dry_run {
                        q.fetch_one(&mut *tx).await?.try_get::<i64, _>("n")? as u64
                    } else {
                        q.execute(&mut *tx).await?.rows_affected()
                    };
                }
                // A link goes with the record it produced; one never used, once it has been expired for
                // as long as media are kept (it holds no biometric data, only what it was for).
                let links = format!(
                    "capture_links WHERE purpose = $1 AND (verification_id IN ({decided_by})
                     OR (used_at IS NULL AND expires_at <= $3))"
                );
                let links = format!("{verb} {links}");
                let q = sqlx::query(&links)
                    .bind(*purpose)
                    .bind(record_cutoff)
                    .bind(media_cutoff);
                counts.capture_links = if dry_run {
                    q.fetch_one(&mut *tx).await?.try_get::<i64, _>("n")? as u64
                } else {
                    q.execute(&mut *tx).await?.rows_affected()
                };
                if dry_run {
                    counts.decision_records =
                        sqlx::query(&format!("SELECT COUNT(*) AS n FROM ({decided_by}) AS due"))
                            .bind(*purpose)
                            .bind(record_cutoff)
                            .fetch_one(&mut *tx)
                            .await?
                            .try_get::<i64, _>("n")? as u64;
                } else {
                    // Sessions that used a record as their reference go with it (their frames first).
                    let sessions = format!(
                        "SELECT id FROM invigilation_sessions WHERE reference_verification_id IN ({decided_by})"
                    );
                    for sql in [
                        format!("DELETE FROM invigilation_frames WHERE session_id IN ({sessions})"),
                        format!("DELETE FROM invigilation_sessions WHERE id IN ({sessions})"),
                        format!("DELETE FROM media WHERE verification_id IN ({decided_by})"),
                        format!("DELETE FROM review_cases WHERE verification_id IN ({decided_by})"),
                    ] {
                        sqlx::query(&sql)
                            .bind(*purpose)
                            .bind(record_cutoff)
                            .execute(&mut *tx)
                            .await?;
                    }
                    if *purpose == "remote_invigilation" {
                        // Templates of sessions left open past the embedding period are dropped.
                        sqlx::query("UPDATE invigilation_sessions SET template_sealed = NULL WHERE created_at <= $1")
                            .bind(embedding_cutoff)
                            .execute(&mut *tx)
                            .await?;
                    }
                    counts.decision_records = sqlx::query(
                        "DELETE FROM verifications WHERE purpose = $1 AND decided_at IS NOT NULL AND decided_at <= $2",
                    )
                    .bind(*purpose)
                    .bind(record_cutoff)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if counts.media
                        + counts.embeddings
                        + counts.decision_records
                        + counts.capture_links
                        > 0
                    {
                        let audit = NewAudit {
                            at: now,
                            org: "*".into(),
                            actor: "system".into(),
                            event: "retention.purged",
                            entity: purpose.to_string(),
                            subject_digest: None,
                            details: serde_json::json!({
                                "media": counts.media, "embeddings": counts.embeddings,
                                "decision_records": counts.decision_records, "capture_links": counts.capture_links,
                                "cutoffs": {"media": media_cutoff, "embeddings": embedding_cutoff, "decision_records": record_cutoff},
                            }),
                        };
                        append_audit!(tx, &audit);
                    }
                }
                tx.commit().await?;
            });
            all.push(counts);
        }
        Ok(all)
    }

    // ---------------------------------------------------------------------------------- challenges

    pub async fn create_challenge(&self, c: &ChallengeRow) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            sqlx::query("INSERT INTO challenges (id, org, nonce, actions, created_at, expires_at, capture_link_id) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(&c.id)
                .bind(&c.org)
                .bind(&c.nonce)
                .bind(&c.actions)
                .bind(c.created_at)
                .bind(c.expires_at)
                .bind(&c.capture_link_id)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Uses a challenge once: returns it and marks it used, or `None` when unknown, used, expired, or
    /// issued to another capture link (`capture_link`: the link submitting, `None` for an API request).
    pub async fn take_challenge(
        &self,
        org: &str,
        id: &str,
        now: i64,
        capture_link: Option<&str>,
    ) -> Result<Option<ChallengeRow>, StoreError> {
        let sql = "UPDATE challenges SET used_at = $1 WHERE org = $2 AND id = $3 AND used_at IS NULL AND expires_at > $1
                   AND COALESCE(capture_link_id, '') = $4
                   RETURNING id, org, nonce, actions, created_at, expires_at, capture_link_id";
        Ok(fetch_optional_as!(
            self,
            ChallengeRow,
            sql,
            now,
            org,
            id,
            capture_link.unwrap_or("")
        ))
    }

    /// A challenge as issued (used or not): what a queued video verification answers.
    pub async fn get_challenge(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Option<ChallengeRow>, StoreError> {
        let sql = "SELECT id, org, nonce, actions, created_at, expires_at, capture_link_id FROM challenges WHERE org = $1 AND id = $2";
        Ok(fetch_optional_as!(self, ChallengeRow, sql, org, id))
    }

    // ---------------------------------------------------------------------------------- capture links

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
    /// that already has one, or is used or expired at `consent.created_at`, is a `Conflict` and nothing
    /// is written.
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
                return Err(StoreError::Conflict(
                    "the capture link already has a consent, or is used or expired",
                ));
            }
            tx.commit().await?;
        });
        Ok(())
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

    /// Records an accepted asynchronous verification: the request, its inputs and its job (with the
    /// challenge a video answers), in one transaction, so nothing accepted is lost. Submitted through a
    /// capture link, the same transaction uses the link up, so a link submits once. A concurrent
    /// duplicate of the idempotency key, or a link already used or expired, is a `Conflict`.
    pub async fn enqueue_verification(
        &self,
        v: &VerificationRow,
        media: &[MediaRow],
        audit: &NewAudit,
        challenge_id: Option<&str>,
        capture_link: Option<&str>,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            insert_verification!(tx, v);
            for m in media {
                insert_media!(tx, m);
            }
            sqlx::query(
                "INSERT INTO jobs (verification_id, created_at, challenge_id) VALUES ($1, $2, $3)",
            )
            .bind(&v.id)
            .bind(v.created_at)
            .bind(challenge_id)
            .execute(&mut *tx)
            .await?;
            if let Some(link) = capture_link {
                let used = sqlx::query(
                    "UPDATE capture_links SET used_at = $1, verification_id = $2
                     WHERE id = $3 AND used_at IS NULL AND expires_at > $1",
                )
                .bind(v.created_at)
                .bind(&v.id)
                .bind(link)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if used != 1 {
                    return Err(StoreError::Conflict(CAPTURE_LINK_TAKEN));
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records a synchronous verification, its decision (with its review case when referred) and its
    /// sealed media together.
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

    /// Records the decision of a leased job exactly once: only while `owner` still holds the lease; the
    /// job goes and the decision's sealed embeddings come in the same transaction. `Conflict` when the
    /// lease was lost.
    pub async fn complete_job(
        &self,
        id: &str,
        owner: &str,
        outcome: &JobOutcome,
        review: Option<&ReviewCaseRow>,
        media: &[MediaRow],
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
             RETURNING verification_id, attempts, challenge_id"
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
                    challenge_id: r.try_get("challenge_id")?,
                })
            })
            .transpose()?
        }))
    }

    /// The sealed items of one verification.
    pub async fn verification_media(
        &self,
        verification_id: &str,
    ) -> Result<Vec<MediaRow>, StoreError> {
        let sql = format!("SELECT {MEDIA_COLUMNS} FROM media WHERE verification_id = $1");
        Ok(fetch_all_as!(self, MediaRow, &sql, verification_id))
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

    // ---------------------------------------------------------------------------------- review cases

    /// Cases of one organisation with this status, oldest first, optionally of one purpose.
    pub async fn list_reviews(
        &self,
        org: &str,
        status: &str,
        purpose: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ReviewCaseRow>, StoreError> {
        let sql = format!(
            "SELECT {REVIEW_COLUMNS} FROM review_cases WHERE org = $1 AND status = $2
             AND ($3 = '' OR purpose = $3) ORDER BY created_at, id LIMIT $4"
        );
        Ok(fetch_all_as!(
            self,
            ReviewCaseRow,
            &sql,
            org,
            status,
            purpose.unwrap_or(""),
            limit
        ))
    }

    pub async fn get_review(
        &self,
        org: &str,
        id: &str,
    ) -> Result<Option<ReviewCaseRow>, StoreError> {
        let sql = format!("SELECT {REVIEW_COLUMNS} FROM review_cases WHERE org = $1 AND id = $2");
        Ok(fetch_optional_as!(self, ReviewCaseRow, &sql, org, id))
    }

    /// Records a reviewer's resolution of an open case with its audit entry; `false` when the case
    /// was not open (resolved meanwhile by someone else).
    pub async fn resolve_review(
        &self,
        org: &str,
        id: &str,
        outcome: &str,
        reason: &str,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE review_cases SET status = 'resolved', outcome = $1, outcome_reason = $2, resolved_by = $3,
                 resolved_at = $4 WHERE org = $5 AND id = $6 AND status = 'open'",
            )
            .bind(outcome)
            .bind(reason)
            .bind(&audit.actor)
            .bind(audit.at)
            .bind(org)
            .bind(id)
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

    // ---------------------------------------------------------------------------------- invigilation

    pub async fn create_session(&self, s: &SessionRow, audit: &NewAudit) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            sqlx::query(&format!(
                "INSERT INTO invigilation_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ))
            .bind(&s.id)
            .bind(&s.org)
            .bind(&s.subject_id)
            .bind(&s.consent_ref)
            .bind(&s.reference_verification_id)
            .bind(&s.status)
            .bind(&s.key_id)
            .bind(&s.template_sealed)
            .bind(&s.review_case_id)
            .bind(s.created_at)
            .bind(s.closed_at)
            .bind(&s.summary)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn get_session(&self, org: &str, id: &str) -> Result<Option<SessionRow>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM invigilation_sessions WHERE org = $1 AND id = $2"
        );
        Ok(fetch_optional_as!(self, SessionRow, &sql, org, id))
    }

    pub async fn session_frames(&self, session_id: &str) -> Result<Vec<FrameRow>, StoreError> {
        let sql = "SELECT session_id, seq, at, result, media_id FROM invigilation_frames WHERE session_id = $1 ORDER BY seq";
        Ok(fetch_all_as!(self, FrameRow, sql, session_id))
    }

    pub async fn media_item(&self, org: &str, id: &str) -> Result<Option<MediaRow>, StoreError> {
        let sql = format!("SELECT {MEDIA_COLUMNS} FROM media WHERE org = $1 AND id = $2");
        Ok(fetch_optional_as!(self, MediaRow, &sql, org, id))
    }

    /// Records one frame of an open session (with its sealed image when it is evidence) in one
    /// transaction, taking the next sequence number. With `case`, the session's review case is opened
    /// (with its audit entry) unless it already has one; with `reasons_of_open_case`, the existing
    /// case's reasons are replaced. Returns the frame's sequence number and the session's case id;
    /// `Conflict` when the session is not open or another frame took the number at the same time.
    pub async fn add_frame(
        &self,
        session_id: &str,
        at: i64,
        result: &str,
        evidence: Option<&MediaRow>,
        case: Option<(&ReviewCaseRow, &NewAudit)>,
        reasons_of_open_case: Option<&str>,
    ) -> Result<(i64, Option<String>), StoreError> {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            let open = sqlx::query("SELECT review_case_id FROM invigilation_sessions WHERE id = $1 AND status = 'open'")
                .bind(session_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::Conflict("the session is closed"))?;
            let mut case_id: Option<String> = open.try_get("review_case_id")?;
            let seq: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM invigilation_frames WHERE session_id = $1")
                .bind(session_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
            if let Some(m) = evidence {
                insert_media!(tx, m);
            }
            let inserted = sqlx::query("INSERT INTO invigilation_frames (session_id, seq, at, result, media_id) VALUES ($1, $2, $3, $4, $5)")
                .bind(session_id)
                .bind(seq)
                .bind(at)
                .bind(result)
                .bind(evidence.map(|m| &m.id))
                .execute(&mut *tx)
                .await;
            match inserted {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::Conflict(
                        "another frame of this session is being recorded",
                    ));
                }
                other => other?,
            };
            match (case, case_id.clone()) {
                (Some((r, audit)), None) => {
                    append_audit!(tx, audit);
                    insert_review!(tx, r);
                    sqlx::query(
                        "UPDATE invigilation_sessions SET review_case_id = $1 WHERE id = $2",
                    )
                    .bind(&r.id)
                    .bind(session_id)
                    .execute(&mut *tx)
                    .await?;
                    case_id = Some(r.id.clone());
                }
                (_, Some(open_case)) => {
                    if let Some(reasons) = reasons_of_open_case {
                        sqlx::query("UPDATE review_cases SET reasons = $1 WHERE id = $2 AND status = 'open'")
                            .bind(reasons)
                            .bind(&open_case)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                (None, None) => {}
            }
            tx.commit().await?;
            (seq, case_id)
        }))
    }

    /// Closes an open session: stores its summary and drops the template. `false` when not open.
    pub async fn close_session(
        &self,
        org: &str,
        id: &str,
        summary: &str,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE invigilation_sessions SET status = 'closed', closed_at = $1, summary = $2, template_sealed = NULL
                 WHERE org = $3 AND id = $4 AND status = 'open'",
            )
            .bind(audit.at)
            .bind(summary)
            .bind(org)
            .bind(id)
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

    // ---------------------------------------------------------------------------------- reviewers

    /// Creates a console reviewer with its audit entry; `Conflict` when the username is taken.
    pub async fn create_reviewer(
        &self,
        r: &ReviewerRow,
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            append_audit!(tx, audit);
            let inserted = sqlx::query(&format!(
                "INSERT INTO reviewers ({REVIEWER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ))
            .bind(&r.id)
            .bind(&r.org)
            .bind(&r.username)
            .bind(&r.password_hash)
            .bind(&r.totp_sealed)
            .bind(r.failed_signins)
            .bind(r.locked_until)
            .bind(r.last_totp_step)
            .bind(r.created_at)
            .bind(r.disabled_at)
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::Conflict(
                        "a reviewer with this username already exists",
                    ));
                }
                other => other?,
            };
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn reviewer_by_username(
        &self,
        username: &str,
    ) -> Result<Option<ReviewerRow>, StoreError> {
        let sql = format!("SELECT {REVIEWER_COLUMNS} FROM reviewers WHERE username = $1");
        Ok(fetch_optional_as!(self, ReviewerRow, &sql, username))
    }

    /// Counts a failed sign-in; the `max`-th consecutive one locks the account until `lock_until` (and
    /// starts the count again). Returns whether this failure locked it.
    pub async fn reviewer_signin_failed(
        &self,
        id: &str,
        max: i64,
        lock_until: i64,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            let row = sqlx::query(
                "UPDATE reviewers SET
                   failed_signins = CASE WHEN failed_signins + 1 >= $1 THEN 0 ELSE failed_signins + 1 END,
                   locked_until = CASE WHEN failed_signins + 1 >= $1 THEN $2 ELSE locked_until END
                 WHERE id = $3 RETURNING failed_signins",
            )
            .bind(max)
            .bind(lock_until)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let locked = match row {
                Some(r) => r.try_get::<i64, _>("failed_signins")? == 0,
                None => false,
            };
            let mut audit = audit.clone();
            if locked {
                audit.details["locked_until"] = serde_json::json!(lock_until);
            }
            append_audit!(tx, &audit);
            tx.commit().await?;
            locked
        }))
    }

    /// A successful sign-in: takes the TOTP step (a code is accepted once: `false`, and nothing
    /// written, when this step or a later one was already used), clears the failure count, starts the
    /// session and drops the expired ones, with its audit entry.
    pub async fn reviewer_signed_in(
        &self,
        reviewer_id: &str,
        totp_step: i64,
        session: &ConsoleSessionRow,
        audit: &NewAudit,
    ) -> Result<bool, StoreError> {
        Ok(on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE reviewers SET last_totp_step = $1, failed_signins = 0, locked_until = NULL
                 WHERE id = $2 AND (last_totp_step IS NULL OR last_totp_step < $1)",
            )
            .bind(totp_step)
            .bind(reviewer_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                .bind(session.created_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO console_sessions (token_hash, reviewer_id, csrf_token, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&session.token_hash)
            .bind(&session.reviewer_id)
            .bind(&session.csrf_token)
            .bind(session.created_at)
            .bind(session.expires_at)
            .execute(&mut *tx)
            .await?;
            append_audit!(tx, audit);
            tx.commit().await?;
            true
        }))
    }

    /// The live session with this token hash and its (enabled) reviewer.
    pub async fn console_session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(ConsoleSessionRow, ReviewerRow)>, StoreError> {
        let columns = REVIEWER_COLUMNS
            .split(',')
            .map(|c| format!("r.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT s.token_hash, s.reviewer_id, s.csrf_token, s.created_at AS session_created_at, s.expires_at, {columns}
             FROM console_sessions s JOIN reviewers r ON r.id = s.reviewer_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND r.disabled_at IS NULL"
        );
        Ok(on_pool!(self, |p| {
            let row = sqlx::query(&sql)
                .bind(token_hash)
                .bind(now)
                .fetch_optional(p)
                .await?;
            row.map(|r| -> Result<_, sqlx::Error> {
                let session = ConsoleSessionRow {
                    token_hash: r.try_get("token_hash")?,
                    reviewer_id: r.try_get("reviewer_id")?,
                    csrf_token: r.try_get("csrf_token")?,
                    created_at: r.try_get("session_created_at")?,
                    expires_at: r.try_get("expires_at")?,
                };
                Ok((session, ReviewerRow::from_row(&r)?))
            })
            .transpose()?
        }))
    }

    /// Ends a session (sign-out), with its audit entry.
    pub async fn end_console_session(
        &self,
        token_hash: &str,
        audit: &NewAudit,
    ) -> Result<(), StoreError> {
        on_pool!(self, |p| {
            let mut tx = p.begin().await?;
            let n = sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                append_audit!(tx, audit);
            }
            tx.commit().await?;
        });
        Ok(())
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
