//! All SQL lives here. One `Store` over two engines: SQLite (embedded default, WAL) and PostgreSQL
//! (shared by several `idv serve` processes). Each has its own migrations (`migrations/sqlite`,
//! `migrations/postgres`); the queries are written once in the dialect both accept and expanded for
//! each driver by `on_pool!`, so the two cannot drift apart.
//!
//! Every write that matters is one transaction with its audit entry: the chain head is updated first,
//! which serialises writers (a row lock on PostgreSQL, the write lock on SQLite).
//!
//! This file holds the pool, connecting and migrating, the macros the queries share, the errors and
//! the audit chain; each aggregate has its own file with its part of `impl Store`.

mod rows;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Row, SqlitePool};

pub use auth_failures::FailureWindow;
pub use reviewers::ReviewerChange;
pub use rows::*;
pub use webhooks::{events_column, AttemptEnd, DeliveryRow, WebhookRow};

use crate::audit::AuditEntry;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Why a store call failed. Each refusal has its own variant, so callers choose their answer by
/// variant; the messages name rows and states, never biometric data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL (use sqlite://FILE or postgres://…)")]
    BadUrl,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A concurrent request with the same Idempotency-Key was stored first.
    #[error("a verification with this Idempotency-Key already exists")]
    DuplicateIdempotencyKey,
    /// A submission through a capture link that was used (or expired) meanwhile.
    #[error("the capture link is used or expired")]
    CaptureLinkTaken,
    /// A consent given on a capture page whose link changed meanwhile (another consent, used, expired).
    #[error("the capture link already has a consent, or is used or expired")]
    CaptureLinkChanged,
    /// A job's decision arrived after its lease went to another worker.
    #[error("the job's lease was lost to another worker")]
    LeaseLost,
    /// A frame for an invigilation session that is no longer open.
    #[error("the session is closed")]
    SessionClosed,
    /// Two frames of one session raced for the same sequence number.
    #[error("another frame of this session is being recorded")]
    FrameInProgress,
    #[error("a reviewer with this username already exists")]
    UsernameTaken,
    /// A queued job whose stored inputs cannot be processed (missing or unreadable); the reason is a
    /// fixed phrase.
    #[error("{0}")]
    JobInputs(&'static str),
    /// A job's evaluation ran out of time; the job is retried when its lease expires.
    #[error("timed out")]
    JobTimedOut,
    /// A job's evaluation failed on our side; the job is retried when its lease expires.
    #[error("internal error")]
    JobFailed,
    #[error("key management: {0}")]
    Keys(String),
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
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}

/// How every write transaction begins. On SQLite, `BEGIN IMMEDIATE` takes the write lock at once, so
/// a writer waits its turn under the busy timeout; a deferred transaction that reads first and writes
/// later fails at once with "database is locked" when another writer committed in between (the WAL
/// snapshot it read is stale), whatever the timeout. PostgreSQL's `BEGIN` has no such failure.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for sqlx::SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for sqlx::PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// An open transaction on either engine, for writes long enough to be split into named steps
/// (erasure, the retention sweep): each step is a function over `&mut StoreTx` and runs its
/// statements through `on_tx!`.
pub(crate) enum StoreTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs the same code against whichever transaction this is; `$conn` is bound to its connection.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::store::StoreTx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::StoreTx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

/// Fetches at most one row and decodes it as `$ty`, on either pool.
macro_rules! fetch_optional_as {
    ($store:expr, $ty:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        on_pool!($store, |p| {
            sqlx::query_as::<_, $ty>($sql)$(.bind($bind))*.fetch_optional(p).await?
        })
    };
}

/// Fetches every row and decodes each as `$ty`, on either pool.
macro_rules! fetch_all_as {
    ($store:expr, $ty:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        on_pool!($store, |p| {
            sqlx::query_as::<_, $ty>($sql)$(.bind($bind))*.fetch_all(p).await?
        })
    };
}

/// Appends one audit entry inside an open transaction (`$tx` derefs to the connection): bumps the
/// chain head (taking the write lock), hashes the entry onto it and inserts it.
macro_rules! append_audit {
    ($tx:expr, $new:expr) => {{
        let new: &$crate::store::NewAudit = $new;
        let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *$tx)
            .await?;
        let seq: i64 = sqlx::Row::try_get(&head, "seq")?;
        let prev_hash: String = sqlx::Row::try_get(&head, "hash")?;
        let mut entry = $crate::audit::AuditEntry {
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
        entry.entry_hash = $crate::audit::entry_hash(&entry, &prev_hash);
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
        outbox!($tx, new);
    }};
}

/// The transactional outbox: when an audit entry announces a webhook event, one delivery per endpoint
/// of the organisation subscribed to it, in the same transaction (so a rolled-back change announces
/// nothing, and a committed one is delivered even if the process dies at once). Due at once.
macro_rules! outbox {
    ($tx:expr, $new:expr) => {{
        let new: &$crate::store::NewAudit = $new;
        if let Some((event, data)) =
            $crate::domain::webhook::announced(new.event, &new.entity, &new.details)
        {
            let endpoints: Vec<String> =
                sqlx::query_scalar("SELECT id FROM webhooks WHERE org = $1 AND events LIKE $2")
                    .bind(&new.org)
                    .bind(format!("%,{},%", event.as_str()))
                    .fetch_all(&mut *$tx)
                    .await?;
            let body = $crate::domain::webhook::body(event, &$crate::domain::clock::rfc3339(new.at), &data);
            for endpoint in endpoints {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, webhook_id, org, event_type, payload, status, attempts,
                     next_attempt_at, window_start, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, 0, $6, $6)",
                )
                .bind($crate::domain::token::new_id("msg"))
                .bind(&endpoint)
                .bind(&new.org)
                .bind(event.as_str())
                .bind(&body)
                .bind(new.at)
                .execute(&mut *$tx)
                .await?;
            }
        }
    }};
}

/// Inserts a verification in an open transaction; a taken Idempotency-Key returns
/// `DuplicateIdempotencyKey` from the enclosing function.
macro_rules! insert_verification {
    ($tx:expr, $v:expr) => {{
        let v: &$crate::store::VerificationRow = $v;
        let inserted = sqlx::query(
            "INSERT INTO verifications (id, org, subject_id, consent_ref, purpose, external_ref, status, idempotency_key,
             request_digest, decision, record, error_code, created_at, decided_at, retention_until, submitted_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(&v.id)
        .bind(&v.org)
        .bind(&v.subject_id)
        .bind(&v.consent_ref)
        .bind(&v.purpose)
        .bind(&v.external_ref)
        .bind(v.status)
        .bind(&v.idempotency_key)
        .bind(&v.request_digest)
        .bind(&v.decision)
        .bind(&v.record)
        .bind(&v.error_code)
        .bind(v.created_at)
        .bind(v.decided_at)
        .bind(v.retention_until)
        .bind(&v.submitted_by)
        .execute(&mut *$tx)
        .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err($crate::store::StoreError::DuplicateIdempotencyKey);
            }
            other => other?,
        };
    }};
}

macro_rules! insert_consent {
    ($tx:expr, $c:expr) => {{
        let c: &$crate::store::ConsentRow = $c;
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
        .bind(c.status)
        .bind(c.created_at)
        .execute(&mut *$tx)
        .await?;
    }};
}

macro_rules! insert_review {
    ($tx:expr, $r:expr) => {{
        let r: &$crate::store::ReviewCaseRow = $r;
        sqlx::query(
            "INSERT INTO review_cases (id, org, verification_id, purpose, status, kind, invigilation_session_id, reasons, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&r.id)
        .bind(&r.org)
        .bind(&r.verification_id)
        .bind(&r.purpose)
        .bind(r.status)
        .bind(r.kind)
        .bind(&r.invigilation_session_id)
        .bind(&r.reasons)
        .bind(r.created_at)
        .execute(&mut *$tx)
        .await?;
    }};
}

macro_rules! insert_media {
    ($tx:expr, $m:expr) => {{
        let m: &$crate::store::MediaRow = $m;
        sqlx::query(&format!(
            "INSERT INTO media ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            $crate::store::MEDIA_COLUMNS
        ))
        .bind(&m.id)
        .bind(&m.org)
        .bind(&m.subject_id)
        .bind(&m.key_id)
        .bind(&m.verification_id)
        .bind(&m.consent_ref)
        .bind(&m.purpose)
        .bind(m.kind)
        .bind(m.class)
        .bind(&m.sha256)
        .bind(&m.sealed)
        .bind(m.created_at)
        .execute(&mut *$tx)
        .await?;
    }};
}

// The aggregates, after the macros they use.
mod auth_failures;
mod capture_links;
mod challenges;
mod consents;
mod invigilation;
mod jobs;
mod keyring;
mod keys;
mod rate_buckets;
mod retention;
mod reviewers;
mod reviews;
mod subjects;
#[cfg(any(test, feature = "test-support"))]
mod test_support;
mod verifications;
mod webhooks;

#[cfg(test)]
pub(crate) use test_support::testing;

pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// A SQLite database file, its WAL and its shared-memory index readable by their owner only: the file
/// is created with mode 0600 before SQLite opens it (SQLite gives the -wal and -shm files the database
/// file's mode), and files an earlier version left readable by others are narrowed to 0600.
fn owner_only(db: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let name = db.as_os_str();
    if name.is_empty() || db.to_string_lossy().starts_with(':') {
        return Ok(()); // in memory
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(db)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        // Let SQLite report a missing folder or a read-only place in its own words.
        Err(_) => return Ok(()),
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut path = name.to_os_string();
        path.push(suffix);
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.permissions().mode() & 0o077 != 0 {
                if let Err(e) =
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                {
                    tracing::warn!(file = %std::path::Path::new(&path).display(), error = %e,
                        "the database file is readable by others and its mode cannot be narrowed to 0600");
                }
            }
        }
    }
    Ok(())
}

impl Store {
    /// Connects (creating a SQLite file on first use) and applies the migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            owner_only(options.get_filename()).map_err(sqlx::Error::Io)?;
            let options = options
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

    /// Opens a transaction for a write made of named steps.
    pub(crate) async fn begin(&self) -> Result<StoreTx, StoreError> {
        Ok(match self {
            Store::Sqlite(p) => StoreTx::Sqlite(p.begin_write().await?),
            Store::Postgres(p) => StoreTx::Postgres(p.begin_write().await?),
        })
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

    /// The chain head: how many entries there are and the last one's hash (read as one row, so a
    /// checkpoint of it is a state the chain was in).
    pub async fn audit_head(&self) -> Result<(i64, String), StoreError> {
        Ok(on_pool!(self, |p| {
            let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(p)
                .await?;
            (head.try_get("seq")?, head.try_get("hash")?)
        }))
    }

    /// The hash of entry `seq` (`None` when there is no such entry).
    pub async fn audit_entry_hash(&self, seq: i64) -> Result<Option<String>, StoreError> {
        Ok(on_pool!(self, |p| {
            sqlx::query_scalar::<_, String>("SELECT entry_hash FROM audit_log WHERE seq = $1")
                .bind(seq)
                .fetch_optional(p)
                .await?
        }))
    }

    /// Appends one audit entry on its own (events with no other write, e.g. a record being read).
    pub async fn audit(&self, audit: &NewAudit) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.append_audit(audit).await?;
        tx.commit().await
    }
}

impl StoreTx {
    /// Appends one audit entry in this transaction (see `append_audit!`).
    pub(crate) async fn append_audit(&mut self, audit: &NewAudit) -> Result<(), StoreError> {
        on_tx!(self, |c| append_audit!(c, audit));
        Ok(())
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            StoreTx::Sqlite(t) => t.commit().await?,
            StoreTx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}
