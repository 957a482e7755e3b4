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

-- Key material, each key sealed ("wrapped") by the master key named beside it; see src/vault.rs.
-- `subject_index` keys the digests that stand for subject references everywhere.
CREATE TABLE keyring (
    name           TEXT PRIMARY KEY,
    wrapped_key    BYTEA NOT NULL,
    master_key_id  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- One row per data subject: their data key (wrapped) and their reference (sealed under it). Erasure
-- deletes the row, which makes every item sealed under the key unreadable, backups included.
CREATE TABLE subjects (
    subject_id     TEXT PRIMARY KEY,    -- keyed digest of (org, subject_ref), never the reference
    org            TEXT NOT NULL,
    key_id         TEXT NOT NULL,       -- names this data key in the items sealed under it
    wrapped_key    BYTEA NOT NULL,
    master_key_id  TEXT NOT NULL,
    ref_sealed     BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    restricted_at  BIGINT                  -- set while processing is restricted (UK GDPR Art. 18)
);

CREATE TABLE consents (
    consent_ref     TEXT PRIMARY KEY,
    org             TEXT NOT NULL,
    subject_id      TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    lawful_basis    TEXT NOT NULL,
    notice_version  TEXT NOT NULL,
    status          TEXT NOT NULL,      -- active | withdrawn | erased
    created_at      BIGINT NOT NULL,
    withdrawn_at    BIGINT
);
CREATE INDEX consents_subject ON consents (org, subject_id);

CREATE TABLE verifications (
    id               TEXT PRIMARY KEY,
    org              TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    consent_ref      TEXT NOT NULL REFERENCES consents (consent_ref),
    purpose          TEXT NOT NULL,
    external_ref     TEXT,
    status           TEXT NOT NULL,     -- pending | decided | failed | erased
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
CREATE INDEX verifications_subject ON verifications (org, subject_id);

-- Biometric items, each sealed under its subject's data key: the inputs of a verification (kept for
-- review until the retention period of its purpose ends) and the faces' embeddings.
CREATE TABLE media (
    id               TEXT PRIMARY KEY,
    org              TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    key_id           TEXT NOT NULL,
    verification_id  TEXT REFERENCES verifications (id),
    consent_ref      TEXT NOT NULL,
    purpose          TEXT NOT NULL,
    kind             TEXT NOT NULL,     -- document | selfie | video | document_embedding | selfie_embedding
    class            TEXT NOT NULL,     -- media | embedding: which retention period applies
    sha256           TEXT,              -- of an upload, as in the decision record
    sealed           BYTEA NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX media_subject ON media (org, subject_id);
CREATE INDEX media_verification ON media (verification_id);

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
    kind             TEXT NOT NULL,     -- referred | sample (quality control) | invigilation (sustained anomaly)
    invigilation_session_id  TEXT,      -- for kind invigilation; verification_id is then the session's reference
    reasons          TEXT NOT NULL,     -- JSON array of reason codes
    created_at       BIGINT NOT NULL,
    -- A reviewer's resolution, beside the automated decision, which stays as it was.
    outcome          TEXT,              -- confirmed_match | confirmed_mismatch | new_evidence_needed
    outcome_reason   TEXT,
    resolved_by      TEXT,
    resolved_at      BIGINT
);
CREATE INDEX review_cases_open ON review_cases (org, status, created_at);

-- Remote invigilation: a session compares webcam frames with the template enrolled by a verified
-- decision. The template is held sealed for the session and dropped when it closes.
CREATE TABLE invigilation_sessions (
    id                         TEXT PRIMARY KEY,
    org                        TEXT NOT NULL,
    subject_id                 TEXT NOT NULL,
    consent_ref                TEXT NOT NULL REFERENCES consents (consent_ref),
    reference_verification_id  TEXT NOT NULL REFERENCES verifications (id),
    status                     TEXT NOT NULL,  -- open | closed
    key_id                     TEXT NOT NULL,
    template_sealed            BYTEA,            -- NULL once closed
    review_case_id             TEXT,
    created_at                 BIGINT NOT NULL,
    closed_at                  BIGINT,
    summary                    TEXT            -- JSON, on close
);
CREATE INDEX invigilation_sessions_subject ON invigilation_sessions (org, subject_id);

-- Each frame's result (no image); the frame itself is kept, sealed, only as evidence of an anomaly.
CREATE TABLE invigilation_frames (
    session_id  TEXT NOT NULL REFERENCES invigilation_sessions (id),
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    result      TEXT NOT NULL,
    media_id    TEXT,
    PRIMARY KEY (session_id, seq)
);

CREATE TABLE challenges (
    id          TEXT PRIMARY KEY,
    org         TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    actions     TEXT NOT NULL,          -- JSON array
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- Tombstones of erased subjects: that an erasure happened, when, by whom and why.
CREATE TABLE erasures (
    id              TEXT PRIMARY KEY,
    org             TEXT NOT NULL,
    subject_digest  TEXT NOT NULL,
    erased_at       BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    reason          TEXT NOT NULL,
    counts          TEXT NOT NULL       -- JSON: what was deleted or reduced
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
