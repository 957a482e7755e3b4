//! Rows as stored. Plain data; the API turns them into its own types.

use sqlx::Row;

use crate::audit::AuditEntry;

#[derive(Debug, Clone, PartialEq)]
pub struct KeyRow {
    pub id: String,
    pub org: String,
    pub role: String,
    pub label: Option<String>,
    pub key_hash: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConsentRow {
    pub consent_ref: String,
    pub org: String,
    pub subject_ref: String,
    pub purpose: String,
    pub lawful_basis: String,
    pub notice_version: String,
    pub status: String,
    pub created_at: i64,
    pub withdrawn_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VerificationRow {
    pub id: String,
    pub org: String,
    pub subject_ref: String,
    pub consent_ref: String,
    pub purpose: String,
    pub external_ref: Option<String>,
    pub status: String,
    pub idempotency_key: Option<String>,
    pub request_digest: String,
    pub decision: Option<String>,
    pub record: Option<String>,
    pub error_code: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub retention_until: Option<i64>,
}

pub const VERIFICATION_COLUMNS: &str =
    "id, org, subject_ref, consent_ref, purpose, external_ref, status, idempotency_key, \
     request_digest, decision, record, error_code, created_at, decided_at, retention_until";

/// An input of an asynchronous verification, held until its decision. Biometric: never printed.
#[derive(Clone, PartialEq)]
pub struct MediaRow {
    pub role: String,
    pub sha256: String,
    pub content: Vec<u8>,
}

impl std::fmt::Debug for MediaRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MediaRow({}, sha256 {}, <{} bytes redacted>)",
            self.role,
            self.sha256,
            self.content.len()
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReviewCaseRow {
    pub id: String,
    pub org: String,
    pub verification_id: String,
    pub purpose: String,
    pub reasons: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChallengeRow {
    pub id: String,
    pub org: String,
    pub nonce: String,
    pub actions: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The result of a job, written when its lease is still held.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    pub status: String,
    pub decision: Option<String>,
    pub record: Option<String>,
    pub error_code: Option<String>,
    pub decided_at: i64,
    pub retention_until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub verification_id: String,
    pub attempts: i64,
}

/// An audit event to append; the store gives it its place and hash in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub at: i64,
    pub org: String,
    pub actor: String,
    pub event: &'static str,
    pub entity: String,
    pub subject_digest: Option<String>,
    pub details: serde_json::Value,
}

/// Row decoding written once for both drivers.
macro_rules! decodable {
    ($ty:ident { $($field:ident),+ $(,)? }) => {
        impl $ty {
            pub(crate) fn from_row<R: Row>(r: &R) -> Result<Self, sqlx::Error>
            where
                for<'a> &'a str: sqlx::ColumnIndex<R>,
                for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
                for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
                for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
                for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
            {
                Ok($ty { $($field: r.try_get(stringify!($field))?),+ })
            }
        }
    };
}

decodable!(KeyRow {
    id,
    org,
    role,
    label,
    key_hash,
    created_at
});
decodable!(ConsentRow {
    consent_ref,
    org,
    subject_ref,
    purpose,
    lawful_basis,
    notice_version,
    status,
    created_at,
    withdrawn_at
});
decodable!(VerificationRow {
    id,
    org,
    subject_ref,
    consent_ref,
    purpose,
    external_ref,
    status,
    idempotency_key,
    request_digest,
    decision,
    record,
    error_code,
    created_at,
    decided_at,
    retention_until
});
decodable!(ChallengeRow {
    id,
    org,
    nonce,
    actions,
    created_at,
    expires_at
});

pub(crate) fn audit_from_row<R: Row>(r: &R) -> Result<AuditEntry, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AuditEntry {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        org: r.try_get("org")?,
        actor: r.try_get("actor")?,
        event: r.try_get("event")?,
        entity: r.try_get("entity")?,
        subject_digest: r.try_get("subject_digest")?,
        details: r.try_get("details")?,
        prev_hash: r.try_get("prev_hash")?,
        entry_hash: r.try_get("entry_hash")?,
    })
}
