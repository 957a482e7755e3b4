-- Applicant capture links and video jobs (sqlite flavour, kept in step with ../postgres/0003_capture_links.sql).
-- Times are Unix milliseconds.

-- The liveness challenge a queued video verification answers (taken, i.e. used, when it was accepted).
ALTER TABLE jobs ADD COLUMN challenge_id TEXT;

-- A challenge issued to a capture page answers only that link's submission (and an API challenge only an
-- API request).
ALTER TABLE challenges ADD COLUMN capture_link_id TEXT;

-- A one-time link to the capture page (/capture/{token}), made by a submitter for one subject and
-- purpose. Only the sha256 of the token is stored. The consent given on the page and the verification
-- it submitted are filled in as they happen; used_at ends the link.
CREATE TABLE capture_links (
    id               TEXT PRIMARY KEY,
    org              TEXT NOT NULL,
    token_hash       TEXT NOT NULL UNIQUE,
    subject_id       TEXT NOT NULL,          -- keyed digest of the subject reference (the vault's index)
    purpose          TEXT NOT NULL,
    external_ref     TEXT,
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    consent_ref      TEXT REFERENCES consents (consent_ref),
    verification_id  TEXT,
    used_at          INTEGER,
    challenges_issued INTEGER NOT NULL DEFAULT 0  -- bounded by capture.max_challenges_per_link
);
CREATE INDEX capture_links_subject ON capture_links (org, subject_id);
