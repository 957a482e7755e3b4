//! Rows as stored. Plain data; the API turns them into its own types. Each decodes from a SQLite or a
//! PostgreSQL row alike (`#[derive(sqlx::FromRow)]`): times and counters are `i64` (INTEGER, BIGINT),
//! bytes `Vec<u8>` (BLOB, BYTEA), and states and kinds the enums of `domain::status` (TEXT).

use sqlx::Row;

use crate::audit::AuditEntry;
use crate::domain::{
    ConsentStatus, MediaClass, MediaKind, ReviewKind, ReviewStatus, SessionStatus,
    VerificationStatus,
};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub org: String,
    pub role: String,
    pub label: Option<String>,
    pub key_hash: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ConsentRow {
    pub consent_ref: String,
    pub org: String,
    /// Keyed digest of the subject reference (see `vault::SubjectIndex`).
    pub subject_id: String,
    pub purpose: String,
    pub lawful_basis: String,
    pub notice_version: String,
    pub status: ConsentStatus,
    pub created_at: i64,
    pub withdrawn_at: Option<i64>,
}

pub const CONSENT_COLUMNS: &str = "consent_ref, org, subject_id, purpose, lawful_basis, notice_version, status, created_at, withdrawn_at";

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VerificationRow {
    pub id: String,
    pub org: String,
    pub subject_id: String,
    pub consent_ref: String,
    pub purpose: String,
    pub external_ref: Option<String>,
    pub status: VerificationStatus,
    pub idempotency_key: Option<String>,
    pub request_digest: String,
    pub decision: Option<String>,
    pub record: Option<String>,
    pub error_code: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub retention_until: Option<i64>,
    /// Who submitted it (`key:<id>`; for a capture link, the key that made the link); `None` only for
    /// rows older than the column whose audit entry was gone. Never its reviewer (separation of duties).
    pub submitted_by: Option<String>,
}

pub const VERIFICATION_COLUMNS: &str =
    "id, org, subject_id, consent_ref, purpose, external_ref, status, idempotency_key, \
     request_digest, decision, record, error_code, created_at, decided_at, retention_until, submitted_by";

/// A biometric item at rest, sealed under its subject's data key `key_id`.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct MediaRow {
    pub id: String,
    pub org: String,
    pub subject_id: String,
    pub key_id: String,
    pub verification_id: Option<String>,
    pub consent_ref: String,
    pub purpose: String,
    pub kind: MediaKind,
    /// Which retention period applies.
    pub class: MediaClass,
    pub sha256: Option<String>,
    pub sealed: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for MediaRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MediaRow({} {}, <{} sealed bytes>)",
            self.id,
            self.kind,
            self.sealed.len()
        )
    }
}

pub const MEDIA_COLUMNS: &str = "id, org, subject_id, key_id, verification_id, consent_ref, purpose, kind, class, sha256, sealed, created_at";

/// A data subject: their wrapped data key and sealed reference.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct SubjectRow {
    pub subject_id: String,
    pub org: String,
    pub key_id: String,
    pub wrapped_key: Vec<u8>,
    pub master_key_id: String,
    pub ref_sealed: Vec<u8>,
    pub created_at: i64,
    pub restricted_at: Option<i64>,
}

impl std::fmt::Debug for SubjectRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubjectRow({}, key {})", self.subject_id, self.key_id)
    }
}

pub const SUBJECT_COLUMNS: &str =
    "subject_id, org, key_id, wrapped_key, master_key_id, ref_sealed, created_at, restricted_at";

/// The tombstone of an erased subject.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ErasureRow {
    pub id: String,
    pub org: String,
    pub subject_digest: String,
    pub erased_at: i64,
    pub actor: String,
    pub reason: String,
    pub counts: String,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReviewCaseRow {
    pub id: String,
    pub org: String,
    pub verification_id: String,
    pub purpose: String,
    pub status: ReviewStatus,
    pub kind: ReviewKind,
    /// For `invigilation` cases: the session whose frames are the evidence.
    pub invigilation_session_id: Option<String>,
    pub reasons: String,
    pub created_at: i64,
    pub outcome: Option<String>,
    pub outcome_reason: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChallengeRow {
    pub id: String,
    pub org: String,
    pub nonce: String,
    pub actions: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Issued to this capture link's page, which alone may answer it.
    pub capture_link_id: Option<String>,
}

/// A one-time link to the applicant capture page. The token itself is never stored, only its sha256.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CaptureLinkRow {
    pub id: String,
    pub org: String,
    pub token_hash: String,
    pub subject_id: String,
    pub purpose: String,
    pub external_ref: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// The consent given on the page, once given.
    pub consent_ref: Option<String>,
    /// The verification the page submitted, once submitted (which uses the link up).
    pub verification_id: Option<String>,
    pub used_at: Option<i64>,
    /// The applicant's declared identity (JSON), sealed under the subject's data key `declared_key_id`.
    pub declared_sealed: Option<Vec<u8>>,
    pub declared_key_id: Option<String>,
}

pub const CAPTURE_LINK_COLUMNS: &str =
    "id, org, token_hash, subject_id, purpose, external_ref, created_by, \
     created_at, expires_at, consent_ref, verification_id, used_at, declared_sealed, declared_key_id";

pub const REVIEW_COLUMNS: &str = "id, org, verification_id, purpose, status, kind, invigilation_session_id, reasons, created_at, outcome, outcome_reason, resolved_by, resolved_at";

/// A remote-invigilation session.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct SessionRow {
    pub id: String,
    pub org: String,
    pub subject_id: String,
    pub consent_ref: String,
    pub reference_verification_id: String,
    pub status: SessionStatus,
    pub key_id: String,
    pub template_sealed: Option<Vec<u8>>,
    pub review_case_id: Option<String>,
    pub created_at: i64,
    pub closed_at: Option<i64>,
    pub summary: Option<String>,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionRow({}, {})", self.id, self.status)
    }
}

pub const SESSION_COLUMNS: &str = "id, org, subject_id, consent_ref, reference_verification_id, status, key_id, template_sealed, review_case_id, created_at, closed_at, summary";

/// One checked webcam frame: its result (JSON) and, when it was evidence of an anomaly, its sealed image.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FrameRow {
    pub session_id: String,
    pub seq: i64,
    pub at: i64,
    pub result: String,
    pub media_id: Option<String>,
}

/// What an erasure deleted or reduced, recorded in its tombstone and audit entry.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErasureCounts {
    pub media: u64,
    pub embeddings: u64,
    pub pending_jobs: u64,
    pub verifications_reduced: u64,
    pub verifications_deleted: u64,
    pub review_cases_deleted: u64,
    pub consents_reduced: u64,
    pub consents_deleted: u64,
    pub invigilation_sessions: u64,
    pub capture_links: u64,
    pub data_key_destroyed: bool,
}

/// What a retention sweep deletes for one purpose (or would, in a dry run).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PurgeCounts {
    pub purpose: String,
    pub media: u64,
    pub embeddings: u64,
    pub decision_records: u64,
    /// Links whose verification's record went, and links never used, expired for the media period.
    pub capture_links: u64,
}

/// Everything stored about one subject in one organisation.
#[derive(Debug, Clone)]
pub struct SubjectRecords {
    pub consents: Vec<ConsentRow>,
    pub verifications: Vec<VerificationRow>,
    pub review_cases: Vec<ReviewCaseRow>,
    pub media: Vec<MediaRow>,
    pub sessions: Vec<SessionRow>,
    pub capture_links: Vec<CaptureLinkRow>,
    pub erasures: Vec<ErasureRow>,
    pub audit: Vec<AuditEntry>,
}

/// The result of a job, written when its lease is still held.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    pub status: VerificationStatus,
    pub decision: Option<String>,
    pub record: Option<String>,
    pub error_code: Option<String>,
    pub decided_at: i64,
    pub retention_until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClaimedJob {
    pub verification_id: String,
    pub attempts: i64,
    /// The liveness challenge a video verification answers.
    pub challenge_id: Option<String>,
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

/// A reviewer of the console. The password hash and the sealed TOTP secret are never printed.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct ReviewerRow {
    pub id: String,
    pub org: String,
    pub username: String,
    /// argon2id, PHC string form.
    pub password_hash: String,
    /// The TOTP secret, sealed under the keyring's reviewer key (see `Vault::seal_reviewer_secret`).
    pub totp_sealed: Vec<u8>,
    pub failed_signins: i64,
    pub locked_until: Option<i64>,
    pub last_totp_step: Option<i64>,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

impl std::fmt::Debug for ReviewerRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ReviewerRow({} {} of {})",
            self.id, self.username, self.org
        )
    }
}

pub const REVIEWER_COLUMNS: &str =
    "id, org, username, password_hash, totp_sealed, failed_signins, locked_until, \
     last_totp_step, created_at, disabled_at";

/// A console session: the hash of its cookie token, its CSRF token and its expiry.
#[derive(Clone, PartialEq)]
pub struct ConsoleSessionRow {
    pub token_hash: String,
    pub reviewer_id: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl std::fmt::Debug for ConsoleSessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConsoleSessionRow(of {}, <redacted>)", self.reviewer_id)
    }
}

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
