-- Reviewer console accounts and their sessions (postgres flavour, kept in step with ../sqlite/0002_reviewers.sql).
-- Times are Unix milliseconds.

-- A person who resolves review cases in the console (/review). Created by `idv reviewers create`.
CREATE TABLE reviewers (
    id               TEXT PRIMARY KEY,
    org              TEXT NOT NULL,
    username         TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,         -- argon2id PHC string; the password itself is never stored
    totp_sealed      BYTEA NOT NULL,          -- the TOTP secret, sealed under the keyring's reviewer_secrets key
    failed_signins   BIGINT NOT NULL DEFAULT 0,  -- consecutive failures since the last success or lock
    locked_until     BIGINT,                 -- sign-in refused until then (after repeated failures)
    last_totp_step   BIGINT,                 -- the 30 s step of the last code accepted: a code is used once
    created_at       BIGINT NOT NULL,
    disabled_at      BIGINT
);

-- A signed-in browser. Only the sha256 of the cookie's token is stored.
CREATE TABLE console_sessions (
    token_hash   TEXT PRIMARY KEY,
    reviewer_id  TEXT NOT NULL REFERENCES reviewers (id),
    csrf_token   TEXT NOT NULL,             -- checked on every form post of this session
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX console_sessions_reviewer ON console_sessions (reviewer_id);
