-- idv schema, PostgreSQL flavour (kept in step with ../sqlite/0001_init.sql). Times are Unix milliseconds.

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    org         TEXT NOT NULL,
    role        TEXT NOT NULL,
    label       TEXT,
    key_hash    TEXT NOT NULL UNIQUE,   -- sha256 of the secret; the secret itself is never stored
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE consents (
    consent_ref     TEXT PRIMARY KEY,
    org             TEXT NOT NULL,
    subject_ref     TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    lawful_basis    TEXT NOT NULL,
    notice_version  TEXT NOT NULL,
    status          TEXT NOT NULL,      -- active | withdrawn
    created_at      BIGINT NOT NULL,
    withdrawn_at    BIGINT
);
CREATE INDEX consents_subject ON consents (org, subject_ref);

CREATE TABLE verifications (
    id               TEXT PRIMARY KEY,
    org              TEXT NOT NULL,
    subject_ref      TEXT NOT NULL,
    consent_ref      TEXT NOT NULL REFERENCES consents (consent_ref),
    purpose          TEXT NOT NULL,
    external_ref     TEXT,
    status           TEXT NOT NULL,     -- pending | decided | failed
    idempotency_key  TEXT,
    request_digest   TEXT NOT NULL,     -- sha256 over the fields and the inputs' digests
    decision         TEXT,              -- verified | referred
    record           TEXT,              -- the decision record (JSON); no biometric data, digests only
    error_code       TEXT,
    created_at       BIGINT NOT NULL,
    decided_at       BIGINT,
    retention_until  BIGINT
);
CREATE UNIQUE INDEX verifications_idempotency ON verifications (org, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX verifications_subject ON verifications (org, subject_ref);

-- Inputs of accepted asynchronous verifications, kept only until the decision is recorded.
CREATE TABLE job_media (
    verification_id  TEXT NOT NULL REFERENCES verifications (id),
    role             TEXT NOT NULL,     -- document | selfie | video
    sha256           TEXT NOT NULL,
    content          BYTEA NOT NULL,
    PRIMARY KEY (verification_id, role)
);

CREATE TABLE jobs (
    verification_id  TEXT PRIMARY KEY REFERENCES verifications (id),
    lease_owner      TEXT,
    lease_until      BIGINT NOT NULL DEFAULT 0,
    attempts         BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL
);
CREATE INDEX jobs_lease ON jobs (lease_until, created_at);

CREATE TABLE review_cases (
    id               TEXT PRIMARY KEY,
    org              TEXT NOT NULL,
    verification_id  TEXT NOT NULL REFERENCES verifications (id),
    purpose          TEXT NOT NULL,
    status           TEXT NOT NULL,     -- open | resolved
    reasons          TEXT NOT NULL,     -- JSON array of reason codes
    created_at       BIGINT NOT NULL
);
CREATE INDEX review_cases_open ON review_cases (org, status, created_at);

CREATE TABLE challenges (
    id          TEXT PRIMARY KEY,
    org         TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    actions     TEXT NOT NULL,          -- JSON array
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- Append-only, hash-chained. Each entry_hash = sha256(prev_hash || canonical content); see src/audit.rs.
CREATE TABLE audit_log (
    seq             BIGINT PRIMARY KEY,
    at              BIGINT NOT NULL,
    org             TEXT NOT NULL,
    actor           TEXT NOT NULL,
    event           TEXT NOT NULL,
    entity          TEXT NOT NULL,
    subject_digest  TEXT,
    details         TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    entry_hash      TEXT NOT NULL
);
-- The chain's head: updating it first serialises writers and lets truncation of the tail be detected.
CREATE TABLE audit_head (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
