-- Each API key's rate-limit bucket (sqlite flavour, kept in step with the other one): the tokens it held at
-- updated_at (Unix ms). On PostgreSQL every replica takes its tokens here, so N servers allow a key what
-- one does; with SQLite (one server) the bucket is kept in the process and this table stays empty.
CREATE TABLE rate_buckets (
    bucket      TEXT PRIMARY KEY,
    tokens      REAL NOT NULL,
    updated_at  INTEGER NOT NULL,
    taken       BOOLEAN NOT NULL
);
